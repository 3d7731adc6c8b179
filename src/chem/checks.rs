//! Loader checks of docs/molecular.md §11, every fault naming its species, reaction or pair.

use super::tcl::{expand, suffixes};
use super::{ChemError, ChemModel, ModelKind};
use crate::learning::cosine;
use crate::physics::diagnostics::{Diagnostic, Level};
use crate::protocol::Direction;
use serde::Serialize;

/// Numbers and findings of the load-time checks.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ChemReport {
    pub diagnostics: Vec<Diagnostic>,
    pub species: usize,
    pub reactions: usize,
    /// Conservation laws of the full stoichiometry (left null space).
    pub conservation_laws: Vec<String>,
    /// Number of laws of the closed (non-open) reactions alone.
    pub closed_conservation_laws: usize,
    /// Initial mean cost over examples (`C_sq`) and `C_I` of example 0.
    pub cost0: f64,
    pub cost_i0: f64,
    pub a_max: f64,
    pub kappa: f64,
    pub theta_v: f64,
    pub rho: f64,
    pub k_m: f64,
    /// `cos(Δℓ_pred, −∇C_sq)` of the sign oracle (example 0).
    pub sign_cos: f64,
    pub loop_gain: f64,
    pub window_fraction: f64,
    pub e_max: f64,
    /// Integrator loss found on E/Z species and its limit `θ_V μ/(V0 E_max)`.
    pub integrator_loss: f64,
    pub adaptation_limit: f64,
    pub tau_switch_required: Option<f64>,
    pub tau_switch: Option<f64>,
    /// Largest `k × partner level` and the reaction.
    pub stiffness_max_rate: f64,
    pub stiffest_reaction: String,
    pub suggested_method: String,
}

impl ChemReport {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.level == Level::Error)
    }
    fn push(&mut self, level: Level, code: &'static str, message: String) {
        self.diagnostics.push(Diagnostic {
            level,
            code,
            message,
        });
    }
}

/// Run every check. Static-solver failures are reported as errors (code `static`).
pub fn check(model: &ChemModel) -> ChemReport {
    let mut r = ChemReport {
        species: model.network.species.len(),
        reactions: model.network.reactions.len(),
        ..Default::default()
    };
    structural(model, &mut r);
    if let Err(e) = design_checks(model, &mut r) {
        r.push(Level::Error, "static", format!("{e}"));
    }
    let net = &model.network;
    let (_, irreversible) = net.reversible_pairs();
    if !irreversible.is_empty() {
        let names: Vec<&str> = irreversible
            .iter()
            .map(|&i| net.reactions[i].name.as_str())
            .collect();
        r.push(
            Level::Warning,
            "irreversible",
            format!(
                "{} reactions have no reverse partner; the entropy production counts only the reversible pairs (docs/physics.md §12): {}",
                names.len(),
                names.join(", ")
            ),
        );
    }
    r
}

fn structural(model: &ChemModel, r: &mut ChemReport) {
    let net = &model.network;
    for (rid, bad) in net.imbalances() {
        let what: Vec<String> = bad.iter().map(|(el, v)| format!("{el} {v:+}")).collect();
        r.push(
            Level::Error,
            "mass_balance",
            format!(
                "reaction {} is not flagged open but does not conserve composition (products − reactants: {})",
                net.reactions[rid.0].name,
                what.join(", ")
            ),
        );
    }
    // Open reactions: inflow/catalytic synthesis (reactants ⊆ products) and outflow/turnover
    // (products ⊆ reactants, by composition) are expected; anything else is listed for review.
    let comp_of = |list: &[super::network::SpeciesId]| {
        let mut m: std::collections::BTreeMap<&str, f64> = std::collections::BTreeMap::new();
        for sp in list {
            for (el, c) in &net.species[sp.0].composition {
                *m.entry(el.as_str()).or_default() += c;
            }
        }
        m
    };
    let within = |a: &std::collections::BTreeMap<&str, f64>,
                  b: &std::collections::BTreeMap<&str, f64>| {
        a.iter()
            .all(|(el, c)| *c <= b.get(el).copied().unwrap_or(0.0) + 1e-12)
    };
    let review: Vec<&str> = net
        .reactions
        .iter()
        .filter(|rx| rx.open)
        .filter(|rx| {
            let (re, pr) = (comp_of(&rx.reactants), comp_of(&rx.products));
            !within(&re, &pr) && !within(&pr, &re)
        })
        .map(|rx| rx.name.as_str())
        .collect();
    if !review.is_empty() {
        r.push(
            Level::Info,
            "open_review",
            format!(
                "open reactions that are neither inflow/synthesis nor outflow/turnover (review): {}",
                review.join(", ")
            ),
        );
    }
    let laws = net.conservation_laws(false);
    r.conservation_laws = laws.iter().map(|l| l.describe(net)).collect();
    r.closed_conservation_laws = net.conservation_laws(true).len();
    r.push(
        Level::Info,
        "conservation",
        format!(
            "{} conservation laws of the full network ({} per pair), {} of the closed reactions",
            laws.len(),
            laws.len() as f64 / model.design.pairs.len().max(1) as f64,
            r.closed_conservation_laws
        ),
    );
    // Learnable mapping.
    for l in &model.learnables {
        let [i, j] = model.design.pairs[l.pair];
        let (mi, mj) = (&model.design.monomers[i], &model.design.monomers[j]);
        let sig = &net.species[l.signal.0];
        if !(sig.composition.contains_key(mi) && sig.composition.contains_key(mj)) {
            r.push(
                Level::Error,
                "learnable",
                format!(
                    "learnable {}: signal species {} does not contain both monomers {mi}, {mj}",
                    l.name, sig.name
                ),
            );
        }
        if let Some(first) = l.sum.first() {
            let linker_els: Vec<&String> = net.species[first.0].composition.keys().collect();
            for s in &l.sum {
                let c = &net.species[s.0].composition;
                if !linker_els.iter().any(|el| c.contains_key(*el)) {
                    r.push(
                        Level::Error,
                        "learnable",
                        format!(
                            "learnable {}: sum species {} does not contain the linker element of {}",
                            l.name, net.species[s.0].name, net.species[first.0].name
                        ),
                    );
                }
            }
        }
        if l.min < 0.0 {
            r.push(
                Level::Error,
                "learnable",
                format!("learnable {}: min = {} must be ≥ 0", l.name, l.min),
            );
        }
    }
    // Stiffness estimate: k × partner level.
    let x = net.initial_state();
    let mut best = (0.0, String::new());
    for rx in &net.reactions {
        let rate = match rx.reactants.as_slice() {
            [a, b] => rx.k * x[a.0].max(x[b.0]).max(0.0),
            [_] => rx.k,
            _ => 0.0,
        };
        if rate > best.0 {
            best = (rate, rx.name.clone());
        }
    }
    r.stiffness_max_rate = best.0;
    r.stiffest_reaction = best.1;
    let horizon = model.protocol.tau_fast + model.protocol.tau_slow;
    r.suggested_method = if r.stiffness_max_rate * horizon > 1e4 {
        "bdf".into()
    } else {
        "dopri5".into()
    };
}

fn design_checks(model: &ChemModel, r: &mut ChemReport) -> Result<(), ChemError> {
    let d = &model.design;
    let net = &model.network;
    let (_, sfx) = suffixes(d);
    let ell0 = model.ell0();
    let p = &model.protocol;
    r.kappa = d.kappa;
    r.theta_v = d.theta_v;
    r.rho = d.rho;
    r.k_m = d.k_m();
    // Consistency of the explicit reactions with the design.
    if let Some(ex0) = model.examples.first() {
        let re = expand(d, &ell0, ex0)?;
        let mut mismatches = Vec::new();
        for rx in &re.reactions {
            match net.reactions.iter().find(|x| x.name == rx.name) {
                Some(x) if (x.k - rx.k).abs() > 1e-9 * rx.k.abs() => {
                    mismatches.push(format!("{} (k = {} vs design {})", rx.name, x.k, rx.k))
                }
                Some(_) => {}
                None => mismatches.push(format!("{} (missing)", rx.name)),
            }
        }
        if !mismatches.is_empty() {
            let n = mismatches.len();
            mismatches.truncate(8);
            r.push(
                Level::Warning,
                "design_consistency",
                format!(
                    "{n} reaction(s) differ from the expansion of the design block; the static solver, ideal rule and design checks use the design: {}",
                    mismatches.join("; ")
                ),
            );
        }
    }
    let mut a_max: f64 = 0.0;
    let mut d_min = (f64::INFINITY, 0usize);
    let mut d_max: f64 = 0.0;
    let mut e_max: f64 = 0.0;
    let mut contrasts0 = Vec::new();
    let mut frees = Vec::new();
    let mut cost_sum = 0.0;
    for (k, ex) in model.examples.iter().enumerate() {
        let (f, c) = d.free_clamped(&ell0, ex, d.beta_max)?;
        for e in 0..d.pairs.len() {
            a_max = a_max.max((c.d[e] - f.d[e]).abs());
            for v in [f.d[e], c.d[e]] {
                if v < d_min.0 {
                    d_min = (v, e);
                }
                d_max = d_max.max(v);
                e_max = e_max.max(d.e0(v));
            }
        }
        let (cs, ci) = d.costs(&ell0, ex)?;
        cost_sum += cs;
        if k == 0 {
            contrasts0 =
                f.d.iter()
                    .zip(&c.d)
                    .map(|(a, b)| b - a)
                    .collect::<Vec<f64>>();
            r.cost_i0 = ci;
        }
        frees.push(f);
    }
    r.cost0 = cost_sum / model.examples.len().max(1) as f64;
    r.a_max = a_max;
    r.e_max = e_max;
    let ex0 = &model.examples[0];
    // Sign oracle.
    let (gs, _) = d.gradients(&ell0, ex0)?;
    let pi = d.polarity.signum();
    let dir = match p.direction {
        Direction::FastFall => -1.0,
        Direction::FastRise => 1.0,
    };
    let pred: Vec<f64> = contrasts0.iter().map(|a| pi * dir * d.rho * a).collect();
    let neg_g: Vec<f64> = gs.iter().map(|g| -g).collect();
    r.sign_cos = cosine(&pred, &neg_g);
    if model.sign_check && (r.sign_cos.is_nan() || r.sign_cos <= 0.0) {
        r.push(
            Level::Error,
            "sign",
            format!(
                "sign oracle: the predicted update π ρ [D(end of fast segment) − D(start)] (polarity {:+}, {:?}) has cos {:.3} with −∇C_sq: this protocol/writer pair ascends the cost",
                d.polarity, p.direction, r.sign_cos
            ),
        );
    }
    // Windup.
    let (dmin, emin) = d_min;
    if d.k_act * dmin <= d.a * d.x0 {
        r.push(
            Level::Error,
            "windup",
            format!(
                "pair {}: k_act D_min = {:.3e} ≤ a x0 = {:.3e}: the integrator winds up (E_0 < 0)",
                sfx[emin],
                d.k_act * dmin,
                d.a * d.x0
            ),
        );
    } else if d.k_act * dmin <= 2.0 * d.a * d.x0 {
        r.push(
            Level::Warning,
            "windup",
            format!(
                "pair {}: k_act D_min = {:.3e} ≤ 2 a x0 = {:.3e} (design margin ×2)",
                sfx[emin],
                d.k_act * dmin,
                2.0 * d.a * d.x0
            ),
        );
    }
    // Adaptation: first-order losses on integrator species.
    let mut loss: f64 = 0.0;
    let mut loss_rx = String::new();
    for ps in &model.pairs {
        for rx in &net.reactions {
            if rx.reactants.len() == 1
                && (rx.reactants[0] == ps.e || rx.reactants[0] == ps.z)
                && !rx.products.contains(&rx.reactants[0])
                && rx.k > loss
            {
                loss = rx.k;
                loss_rx = rx.name.clone();
            }
        }
    }
    r.integrator_loss = loss;
    r.adaptation_limit = d.theta_v * d.mu / (d.v0 * e_max.max(1e-300));
    if loss > 0.0 && loss >= r.adaptation_limit {
        r.push(Level::Error, "adaptation", format!(
            "reaction {loss_rx}: first-order loss ε = {loss:.3e} of an integrator species ≥ θ_V μ/(V0 E_max) = {:.3e}: the set point shifts past the threshold and the writers run all cycle", r.adaptation_limit));
    } else if loss > 0.0 {
        r.push(
            Level::Info,
            "adaptation",
            format!(
                "integrator loss ε = {loss:.3e} (reaction {loss_rx}) < limit {:.3e}",
                r.adaptation_limit
            ),
        );
    }
    if d.a * d.a < 4.0 * d.b {
        r.push(
            Level::Warning,
            "overdamped",
            format!(
                "a² = {:.3} < 4b = {:.3}: the kernel rings",
                d.a * d.a,
                4.0 * d.b
            ),
        );
    }
    if p.tau_fast < 5.0 * d.a / d.b {
        r.push(
            Level::Warning,
            "kernel_speed",
            format!("tau_fast = {} < 5 a/b = {:.3}", p.tau_fast, 5.0 * d.a / d.b),
        );
    }
    let sat = d.kappa * a_max / p.tau_fast;
    if sat > 0.5 * (1.0 + 1e-9) {
        r.push(
            Level::Warning,
            "saturation",
            format!("κ A_max/τ_f = {sat:.3} > 0.5: D* leaves [0.5, 1.5] x0 on the fast segment"),
        );
    }
    let w = crate::learning::rule::Window::new(d.theta_v / d.v0, d.tau_fast, d.tau_slow, d.kappa);
    r.window_fraction =
        crate::learning::metrics::window_stats(&contrasts0, &vec![w; contrasts0.len()]).0;
    r.push(
        Level::Info,
        "window",
        format!(
            "{:.1}% of the contrast mass lies inside the window [θτ_f/κ, θτ_s/κ]",
            100.0 * r.window_fraction
        ),
    );
    let km = d.k_m();
    if km > 0.01 * d.theta_v * d.theta_v {
        r.push(
            Level::Warning,
            "reader_sharpness",
            format!(
                "K_M = {km:.3e} > 0.01 θ_V² = {:.3e}: soft titration corner",
                0.01 * d.theta_v * d.theta_v
            ),
        );
    }
    let (lh, ll) = d.baseline_leak();
    let drift = (lh - ll).abs() * (p.tau_fast + p.tau_slow);
    if drift > 0.01 * d.rho * a_max {
        r.push(Level::Warning, "reader_leak", format!(
            "baseline write leak |leak_hi − leak_lo| T_cycle = {drift:.3e} > 1% of the largest step {:.3e}", d.rho * a_max));
    }
    if d.q() * d_max > 0.1 {
        r.push(Level::Warning, "linker_excess", format!(
            "q D_max = {:.3}: outside the linker-excess regime; per-pair preconditioner 1/(1+qD)", d.q() * d_max));
    }
    if d.k_off < 100.0 * d.gamma || d.k_act > 0.05 * d.k_off {
        r.push(
            Level::Warning,
            "quasi_static_binding",
            format!(
                "k_off = {} (need ≥ 100 γ = {}), k_act = {:.3} (need ≤ 0.05 k_off = {})",
                d.k_off,
                100.0 * d.gamma,
                d.k_act,
                0.05 * d.k_off
            ),
        );
    }
    r.loop_gain = d.loop_gain(&ell0, ex0)?;
    if pi < 0.0 && r.loop_gain > 0.3 {
        r.push(Level::Error, "loop_gain", format!(
            "anti-Hebbian writer with loop gain G = ρ λ_max(−J) = {:.3} > 0.3: the self-interaction runs away (G → 1)", r.loop_gain));
    } else if pi > 0.0 && r.loop_gain > 3.0 {
        r.push(
            Level::Warning,
            "loop_gain",
            format!("loop gain G = {:.3} > 3: slow, stiff learning", r.loop_gain),
        );
    }
    if model.examples.len() > 1 {
        let mut m: f64 = 0.0;
        for k in 0..frees.len() {
            let (a, b) = (&frees[k], &frees[(k + 1) % frees.len()]);
            for (x, y) in a.d.iter().zip(&b.d) {
                m = m.max((x - y).abs());
            }
        }
        let sw = &p.switch;
        let req = if sw.gated {
            sw.c_sw * d.kappa * m
        } else {
            d.kappa * m / (d.theta_v / d.v0)
        };
        r.tau_switch_required = Some(req);
        let tau = sw
            .tau_switch
            .unwrap_or(if sw.gated { req } else { f64::NAN });
        r.tau_switch = Some(tau);
        if tau.is_nan() || tau < req * (1.0 - 1e-9) {
            r.push(
                Level::Warning,
                "switch",
                format!(
                    "tau_switch = {tau:.3} < required {req:.3} ({}): the switch writes or winds up",
                    if sw.gated {
                        "gated: c_sw κ max|ΔD_sw|"
                    } else {
                        "ungated: κ max|ΔD_sw|/θ"
                    }
                ),
            );
        }
    }
    if model.solver.model == ModelKind::Full && r.suggested_method == "bdf" {
        r.push(
            Level::Info,
            "stiffness",
            format!(
                "max k·level = {:.3e} ({}): stiff, integrated with BDF (analytic Jacobian)",
                r.stiffness_max_rate, r.stiffest_reaction
            ),
        );
    }
    Ok(())
}
