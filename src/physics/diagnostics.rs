//! Load-time resolution of the "auto" settings and the diagnostics of docs/physics.md §9: sign of
//! polarity × direction, loop gain, leak gating, τ_fast ≥ 5 τ_k, threshold window, required
//! switch time, chemistry damping and positivity, stiffness estimate, flagged elements.

use super::equilibrium::Equilibrium;
use super::model::{ArmSignal, ElementKind, LearnTarget, Network, Params, SignalSource, ThetaSpec};
use super::statics::{gradient, solve_static, transfer_diagonal, StaticState};
use super::PhysicsError;
use crate::learning::rule::Window;
use crate::protocol::{Direction, Sawtooth, SwitchMode};
use serde::Serialize;

/// Largest network for which the exact loop gain (one solve per element) is computed at load.
pub const LOOP_GAIN_MAX_ELEMENTS: usize = 5000;

/// Loop gain `G = max_e ρ τ 2 y_e² R_ee / s_scale` over the weight channels (docs/physics.md
/// §1.5), from the free DC drops `y` and the transfer diagonal `R_ee`: the one definition used
/// by `check`, `compare` and `train`.
pub fn loop_gain_of(net: &Network, p: &Params, y: &[f64], r_diag: &[f64]) -> f64 {
    let mut g: f64 = 0.0;
    for (e, el) in net.elements.iter().enumerate() {
        for ch in &el.channels {
            if ch.target != LearnTarget::Weight {
                continue;
            }
            let (_, tau) = el.static_signal(ch, 0.0, p.w[e], p.l[e]);
            g = g.max(ch.rho * tau * (2.0 * y[e] * y[e] * r_diag[e] / el.signal_scale(ch)));
        }
    }
    g
}

/// Severity of a diagnostic.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Info,
    Warning,
    Error,
}

impl Level {
    /// Lower-case tag used in reports (`info`, `warning`, `error`).
    pub fn tag(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

/// One load-time finding.
#[derive(Clone, Debug, Serialize)]
pub struct Diagnostic {
    pub level: Level,
    /// Stable code (`sign`, `loop_gain`, `leak_gating`, ...).
    pub code: &'static str,
    pub message: String,
}

/// Numbers computed at load time (reported by `check` and stored in manifests).
#[derive(Clone, Debug, Default, Serialize)]
pub struct LoadReport {
    pub diagnostics: Vec<Diagnostic>,
    /// Largest contrast `A_max = max_e |s_e^C − s_e^F|` (first example; θ "auto" uses all examples) per channel group.
    pub a_max: Vec<(String, f64)>,
    /// `G_max = ρ τ_e max_e |J_ee|`, J = −2 Y R Y (even signals).
    pub loop_gain: Option<f64>,
    /// Fraction of contrast mass inside the threshold window.
    pub window_fraction: Option<f64>,
    /// Required `τ_switch = τ max_e max_t |ds_e/dt| τ_sw / θ` (multi-example tasks).
    pub tau_switch_required: Option<f64>,
    /// Smallest physical timescale and the stiffness ratio `S = T_cycle/τ_min`.
    pub tau_min: Option<f64>,
    pub stiffness_ratio: Option<f64>,
    /// Suggested integrator.
    pub suggested_method: Option<String>,
    /// Linear estimate of the cycles gradient descent at the mapped rate needs to cut the mean
    /// cost by a decade at the initial parameters, `ln 10 · C / Σ_i a_i (∂C/∂θ_i)²`
    /// (docs/physics.md §1.5): TCL, which follows the contrastive rule at best, is no faster.
    pub cycles_per_decade: Option<f64>,
    /// Initial free-state cost (mean over examples).
    pub cost0: Option<f64>,
}

impl LoadReport {
    pub fn push(&mut self, level: Level, code: &'static str, message: String) {
        self.diagnostics.push(Diagnostic {
            level,
            code,
            message,
        });
    }

    /// One diagnostic for a finding shared by many elements: the count and the first names.
    fn push_elements(&mut self, level: Level, code: &'static str, names: &[String], what: &str) {
        if names.is_empty() {
            return;
        }
        let shown: Vec<String> = names.iter().take(5).map(|n| format!("'{n}'")).collect();
        let more = if names.len() > 5 {
            format!(" and {} more", names.len() - 5)
        } else {
            String::new()
        };
        let subject = if names.len() == 1 {
            "element".to_string()
        } else {
            format!("{} elements", names.len())
        };
        self.push(
            level,
            code,
            format!("{subject} ({}{more}): {what}", shown.join(", ")),
        );
    }

    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.level == Level::Error)
    }
}

/// Group key of a channel (contrasts are compared within a group).
fn group(net: &Network, e: usize, ci: usize) -> String {
    let ch = &net.elements[e].channels[ci];
    format!("{:?}/{:?}", ch.target, ch.source)
}

/// Resolve `rho: "auto"`, `theta: "auto"` and `s_ref: "auto"` in place for a sawtooth protocol,
/// using free and clamped static solves of every example at the initial parameters (ρ from the
/// target loop gain, θ from the largest contrast of the task; `s_ref` from the first example's
/// free state). Returns what `rho: "auto"` resolved to (for the load report).
pub fn resolve_auto(
    net: &mut Network,
    saw: Option<&Sawtooth>,
    theta_c: f64,
    rho_loop_gain: f64,
) -> Result<Option<String>, PhysicsError> {
    let p = net.initial_params();
    let mut eq = Equilibrium::new(net)?;
    let ex = net.examples[0].clone();
    let rho_note = resolve_rho(net, &mut eq, &p, saw, rho_loop_gain)?;
    // s_ref: max free-state chemical input over the chemistry elements.
    let needs_sref = net
        .elements
        .iter()
        .any(|e| e.chem.is_some_and(|c| c.s_ref_spec.is_none()));
    let free = if needs_sref {
        Some(solve_static(net, &mut eq, &p, 0.0, &ex)?)
    } else {
        None
    };
    if needs_sref {
        if let Some(free) = &free {
            let mut smax: f64 = 0.0;
            for (e, el) in net.elements.iter().enumerate() {
                if let Some(ch) = &el.chem {
                    smax = smax.max(el.chem_input(ch.signal, free.y[e], p.w[e], p.l[e]));
                }
            }
            if smax <= 0.0 {
                smax = 1.0;
            }
            for el in net.elements.iter_mut() {
                if let Some(ch) = el.chem.as_mut() {
                    if ch.s_ref_spec.is_none() {
                        ch.s_ref = smax;
                    }
                }
            }
        }
    }
    let any_auto = net
        .elements
        .iter()
        .any(|e| e.channels.iter().any(|c| c.theta_spec == ThetaSpec::Auto));
    if !any_auto {
        return Ok(rho_note);
    }
    let Some(saw) = saw else {
        // No sawtooth: no contrast to scale the threshold with; θ = 0 (no dead zone).
        for el in net.elements.iter_mut() {
            for ch in el.channels.iter_mut() {
                if ch.theta_spec == ThetaSpec::Auto {
                    ch.theta = 0.0;
                }
            }
        }
        return Ok(rho_note);
    };
    // A_max over every example of the task (the window must hold all of them).
    let mut groups = Vec::new();
    for ex in net.examples.clone() {
        let free = solve_static(net, &mut eq, &p, 0.0, &ex)?;
        let clamped = solve_static(net, &mut eq, &p, saw.beta_max, &ex)?;
        groups.extend(contrasts(net, &p, &free, &clamped));
    }
    for (e, el) in net.elements.iter_mut().enumerate() {
        for ci in 0..el.channels.len() {
            if el.channels[ci].theta_spec != ThetaSpec::Auto {
                continue;
            }
            let key = {
                let ch = &el.channels[ci];
                format!("{:?}/{:?}", ch.target, ch.source)
            };
            let a_max = groups
                .iter()
                .filter(|g| g.0 == key)
                .map(|g| g.3.abs())
                .fold(0.0, f64::max);
            let (_, tau) = el.static_signal(&el.channels[ci], 0.0, p.w[e], p.l[e]);
            el.channels[ci].theta = theta_c * tau * a_max / saw.tau_slow;
        }
    }
    Ok(rho_note)
}

/// `rho: "auto"`: one rate ρ for every auto channel, chosen so that the loop gain over them is
/// the target, `ρ = G / max_e τ_e 2 y_e² R_ee / s_scale` (max over the auto weight channels and
/// the examples; docs/physics.md §1.5). One rate, not one per element: equal rates keep the
/// physical update along the contrastive rule (per-element rates would precondition it).
fn resolve_rho(
    net: &mut Network,
    eq: &mut Equilibrium,
    p: &Params,
    saw: Option<&Sawtooth>,
    target: f64,
) -> Result<Option<String>, PhysicsError> {
    let auto: Vec<(usize, usize)> = net
        .elements
        .iter()
        .enumerate()
        .flat_map(|(e, el)| {
            el.channels
                .iter()
                .enumerate()
                .filter(|(_, c)| c.rho_auto)
                .map(move |(ci, _)| (e, ci))
        })
        .collect();
    if auto.is_empty() {
        return Ok(None);
    }
    let name = |e: usize, ci: usize| {
        let el = &net.elements[e];
        let what = match el.channels[ci].target {
            LearnTarget::Weight => "weight",
            LearnTarget::RestLength => "rest-length",
        };
        format!("element '{}', {what} channel: rho", el.name)
    };
    if saw.is_none() {
        return Err(PhysicsError::Invalid(format!(
            "{}: \"auto\" needs a sawtooth protocol (the loop gain is defined on its free state); give a number",
            name(auto[0].0, auto[0].1)
        )));
    }
    if let Some(&(e, ci)) = auto
        .iter()
        .find(|&&(e, ci)| net.elements[e].channels[ci].target != LearnTarget::Weight)
    {
        return Err(PhysicsError::Invalid(format!(
            "{}: \"auto\" is defined for weight channels only (the loop gain, docs/physics.md §1.5); give a number",
            name(e, ci)
        )));
    }
    if net.n_elements() > LOOP_GAIN_MAX_ELEMENTS {
        return Err(PhysicsError::Invalid(format!(
            "rho \"auto\" needs the transfer diagonal R_ee (one solve per element) and is limited to {LOOP_GAIN_MAX_ELEMENTS} elements; this network has {}: give rho as a number",
            net.n_elements()
        )));
    }
    // Per-unit-rate gain k_e = τ_e 2 y_e² R_ee / s_scale, max over the examples.
    let mut k = vec![0.0_f64; net.n_elements()];
    for ex in net.examples.clone() {
        let free = solve_static(net, eq, p, 0.0, &ex)?;
        let r = transfer_diagonal(net, eq, p, 0.0, &ex)?;
        for &(e, ci) in &auto {
            let el = &net.elements[e];
            let ch = &el.channels[ci];
            let (_, tau) = el.static_signal(ch, 0.0, p.w[e], p.l[e]);
            let g = tau * 2.0 * free.y[e] * free.y[e] * r[e] / el.signal_scale(ch);
            k[e] = k[e].max(g);
        }
    }
    let k_max = auto.iter().map(|&(e, _)| k[e]).fold(0.0_f64, f64::max);
    if !(k_max.is_finite() && k_max > 0.0) {
        return Err(PhysicsError::Invalid(format!(
            "rho \"auto\": no auto channel has a self-interaction at the free state (max τ_e 2y²R_ee = {k_max:e}: zero drops or zero kernel gain), so the loop gain cannot set the rate; give rho as a number"
        )));
    }
    let rho = target / k_max;
    for &(e, ci) in &auto {
        net.elements[e].channels[ci].rho = rho;
    }
    Ok(Some(format!(
        "rho \"auto\" → ρ = {rho:.4e} on {} channel(s): loop gain G = {target} (max τ_e 2y²R_ee = {k_max:.4e})",
        auto.len()
    )))
}

/// More cycles than this per decade of cost reduction is reported as `slow_learning`.
pub const SLOW_CYCLES_PER_DECADE: f64 = 1e3;

/// Cycles per decade of cost reduction for gradient descent at the mapped rate
/// (`a = 2 β_max ρ τ_e / s_scale` for weights, `β_max ρ τ_e` for rest lengths) from the mean
/// cost and its gradient over the examples at the initial parameters: a per-cycle step
/// `Δθ = −a ∂C/∂θ` lowers the cost by `Σ a (∂C/∂θ)²` to first order. A task that needs more
/// than [`SLOW_CYCLES_PER_DECADE`] at the chosen ρ is reported (`slow_learning`) with what the
/// loop gain allows.
fn learning_speed(
    net: &Network,
    eq: &mut Equilibrium,
    p: &Params,
    saw: &Sawtooth,
    rep: &mut LoadReport,
) {
    let n_ex = net.examples.len();
    if n_ex == 0 {
        return;
    }
    let (mut cost, mut gw, mut gl) = (
        0.0,
        vec![0.0; net.n_elements()],
        vec![0.0; net.n_elements()],
    );
    for ex in &net.examples {
        let Ok((w, l, c)) = gradient(net, eq, p, ex) else {
            return;
        };
        cost += c / n_ex as f64;
        for e in 0..w.len() {
            gw[e] += w[e] / n_ex as f64;
            gl[e] += l[e] / n_ex as f64;
        }
    }
    let mut drop = 0.0;
    for (e, el) in net.elements.iter().enumerate() {
        for ch in &el.channels {
            let (_, tau) = el.static_signal(ch, 0.0, p.w[e], p.l[e]);
            match ch.target {
                LearnTarget::Weight => {
                    drop += 2.0 * saw.beta_max * ch.rho * tau / el.signal_scale(ch) * gw[e] * gw[e]
                }
                LearnTarget::RestLength => drop += saw.beta_max * ch.rho * tau * gl[e] * gl[e],
            }
        }
    }
    if !(cost > 0.0 && drop > 0.0 && drop.is_finite()) {
        return;
    }
    let n = std::f64::consts::LN_10 * cost / drop;
    rep.cycles_per_decade = Some(n);
    if n > SLOW_CYCLES_PER_DECADE {
        let hint = match rep.loop_gain {
            Some(g) if g > 0.0 && g < 0.5 => format!(
                "; the loop gain is G = {g:.3}, so ρ can grow ×{:.2} before G = 0.5 (slope ≈ 2/3; `rho: \"auto\"` with rho_auto.loop_gain = 0.5), giving ~{:.1e} cycles",
                0.5 / g,
                n * g / 0.5
            ),
            Some(g) if g >= 0.5 => format!(
                "; the loop gain G = {g:.3} already caps ρ (the self-interaction shrinks the step), so a larger ρ does not help: the elements' self-sensitivity dwarfs the task's"
            ),
            _ => String::new(),
        };
        rep.push(
            Level::Warning,
            "slow_learning",
            format!(
                "gradient descent at the mapped rate needs ~{n:.1e} cycles per decade of cost reduction at the initial parameters (linear estimate; TCL is no faster){hint}; otherwise raise beta_max, or check that the learnables can reach the targets (docs/physics.md §1.5)"
            ),
        );
    }
}

/// (group, element, channel index, contrast s^C − s^F) of every channel.
fn contrasts(
    net: &Network,
    p: &Params,
    free: &StaticState,
    clamped: &StaticState,
) -> Vec<(String, usize, usize, f64)> {
    let mut out = Vec::new();
    for (e, el) in net.elements.iter().enumerate() {
        for (ci, ch) in el.channels.iter().enumerate() {
            let (sf, _) = el.static_signal(ch, free.y[e], p.w[e], p.l[e]);
            let (sc, _) = el.static_signal(ch, clamped.y[e], p.w[e], p.l[e]);
            out.push((group(net, e, ci), e, ci, sc - sf));
        }
    }
    out
}

/// The gradient-descent sign each channel needs: `π · direction = κ`, κ = −1 for weights and
/// +1 for rest lengths (docs/physics.md §1.4 sign table).
pub fn required_sign(target: LearnTarget) -> f64 {
    match target {
        LearnTarget::Weight => -1.0,
        LearnTarget::RestLength => 1.0,
    }
}

/// Compute all diagnostics (the netlist must already be resolved with [`resolve_auto`]).
pub fn diagnose(net: &Network, saw: Option<&Sawtooth>) -> LoadReport {
    let mut rep = LoadReport::default();
    let p = net.initial_params();
    let no_dc: Vec<String> = net
        .elements
        .iter()
        .filter(|e| e.kind.no_dc_path())
        .map(|e| e.name.clone())
        .collect();
    rep.push_elements(Level::Warning, "no_dc_path", &no_dc, "paper-literal element without DC path / static stiffness (series C–memristor or pure Maxwell): simulable for transients only");
    let odd: Vec<String> = net
        .elements
        .iter()
        .filter(|e| {
            e.channels.iter().any(|c| {
                c.target == LearnTarget::Weight
                    && matches!(c.source, SignalSource::Arm(ArmSignal::Polar))
            })
        })
        .map(|e| e.name.clone())
        .collect();
    rep.push_elements(Level::Warning, "parity", &odd, "a polar (odd) signal drives a conductance/stiffness; the update has the wrong parity and is not a descent direction (docs/physics.md §0.3)");
    for el in &net.elements {
        if let Some(ch) = &el.chem {
            let (a, b) = (
                ch.tau_r + ch.eps * ch.tau_x,
                4.0 * ch.tau_x * ch.tau_r * (1.0 + ch.eps),
            );
            if a * a < b {
                rep.push(
                    Level::Warning,
                    "chem_damping",
                    format!(
                        "element '{}': chemistry is underdamped (τ_r = {}, τ_x = {}; need τ_r ≥ 4 τ_x): the kernel rings",
                        el.name, ch.tau_r, ch.tau_x
                    ),
                );
            }
        }
    }
    let mut eq = match Equilibrium::new(net) {
        Ok(eq) => eq,
        Err(e) => {
            rep.push(Level::Error, "solve", e.to_string());
            return rep;
        }
    };
    let ex = &net.examples[0];
    let free = match solve_static(net, &mut eq, &p, 0.0, ex) {
        Ok(f) => f,
        Err(e) => {
            let lvl = if net.has_no_dc_elements() {
                Level::Warning
            } else {
                Level::Error
            };
            rep.push(lvl, "dc_solve", format!("free DC state: {e}"));
            return rep;
        }
    };
    let mut c0 = 0.0;
    for ex in &net.examples {
        if let Ok(s) = solve_static(net, &mut eq, &p, 0.0, ex) {
            c0 += super::statics::cost(&s.o, &ex.targets);
        }
    }
    rep.cost0 = Some(c0 / net.examples.len() as f64);
    for o in &net.outputs {
        let fixed = o
            .stencil
            .terms()
            .all(|(d, c)| c == 0.0 || net.dof_map.get(d).is_some_and(|m| m.is_err()));
        if fixed {
            rep.push(
                Level::Error,
                "output_fixed",
                format!(
                    "output '{}' depends only on source (Dirichlet) values: its error cannot \
                     change, so nothing can learn it",
                    o.name
                ),
            );
        }
    }
    let Some(saw) = saw else {
        return rep;
    };
    let clamped = match solve_static(net, &mut eq, &p, saw.beta_max, ex) {
        Ok(c) => c,
        Err(e) => {
            rep.push(Level::Error, "dc_solve", format!("clamped DC state: {e}"));
            return rep;
        }
    };
    let cons = contrasts(net, &p, &free, &clamped);
    let mut groups: Vec<(String, f64)> = Vec::new();
    for (g, _, _, a) in &cons {
        match groups.iter_mut().find(|x| &x.0 == g) {
            Some(x) => x.1 = x.1.max(a.abs()),
            None => groups.push((g.clone(), a.abs())),
        }
    }
    rep.a_max = groups;
    // A contrast at round-off (targets equal to the free outputs): nothing to learn, and θ
    // "auto" would be resolved from round-off (then every ratio to it is noise).
    let a_all = cons.iter().map(|c| c.3.abs()).fold(0.0, f64::max);
    let s_scale = (net.elements.iter().enumerate())
        .flat_map(|(e, el)| {
            let (free, p) = (&free, &p);
            el.channels
                .iter()
                .map(move |ch| el.static_signal(ch, free.y[e], p.w[e], p.l[e]).0.abs())
        })
        .fold(0.0, f64::max);
    if a_all <= 1e-10 * s_scale {
        let (level, which) = if net.examples.len() == 1 {
            (Level::Error, "the task's")
        } else {
            (Level::Warning, "example 0's")
        };
        rep.push(
            level,
            "no_contrast",
            format!(
                "the clamped state equals the free state to round-off (largest contrast \
                 {a_all:.1e} against local signals of {s_scale:.1e}): {which} targets equal the \
                 free outputs, so there is nothing to learn and θ \"auto\" would be set by \
                 round-off"
            ),
        );
    }
    // Sign check, leak gating, tau_fast ≥ 5 τ_k, window.
    let mut mass_in = 0.0;
    let mut mass = 0.0;
    let dir = saw.direction.sign();
    let mut worst_tau: Option<(f64, String)> = None;
    for (_, e, ci, a) in &cons {
        let el = &net.elements[*e];
        let ch = &el.channels[*ci];
        let need = required_sign(ch.target);
        if ch.polarity * dir != need {
            rep.push(
                Level::Error,
                "sign",
                format!(
                    "element '{}': polarity {:+} with {} gives a gradient-ascent {} update (need polarity × direction = {:+}; fast_rise ↔ −1, fast_fall ↔ +1 for conductance/stiffness)",
                    el.name,
                    ch.polarity,
                    match saw.direction {
                        Direction::FastRise => "fast_rise",
                        Direction::FastFall => "fast_fall",
                    },
                    match ch.target {
                        LearnTarget::Weight => "weight",
                        LearnTarget::RestLength => "rest-length",
                    },
                    need * dir
                ),
            );
        }
        let (_, tau) = el.static_signal(ch, 0.0, p.w[*e], p.l[*e]);
        if tau <= 0.0 && el.arm.is_some() {
            rep.push(
                Level::Warning,
                "leak_gain",
                format!(
                    "element '{}': the leak makes the contrast gain τ_e = τ_k (1 − I)(1 − 2I) = {tau:.3e} ≤ 0 (kernel area I = {:.3} ≥ 1/2): the energy signal cannot learn; lower g_leak below the arm conductance (docs/physics.md §1.4)",
                    el.name,
                    el.kernel_area(p.w[*e])
                ),
            );
        }
        if let Some(tk) = el.tau_k(p.w[*e]) {
            if saw.tau_fast < 5.0 * tk && worst_tau.as_ref().is_none_or(|w| tk > w.0) {
                worst_tau = Some((tk, el.name.clone()));
            }
        }
        // The static part of σ at DC (docs/physics.md §1.4): I·s for the linear signals and the
        // chemistry, 2I(1 − I)·s for the energy signal 2zu (z = (1 − I)y, u = I y).
        let area = el.kernel_area(p.w[*e]);
        let smax = {
            let (sf, _) = el.static_signal(ch, free.y[*e], p.w[*e], p.l[*e]);
            let (sc, _) = el.static_signal(ch, clamped.y[*e], p.w[*e], p.l[*e]);
            sf.abs().max(sc.abs())
        };
        let sigma_dc = match ch.source {
            SignalSource::Arm(ArmSignal::Energy) => 2.0 * area * (1.0 - area) * smax,
            _ => area * smax,
        };
        if area > 0.0 && ch.theta > 0.0 && sigma_dc >= 0.5 * ch.theta {
            rep.push(
                Level::Warning,
                "leak_gating",
                format!(
                    "element '{}': kernel area I = {:.3e} gives a static filtered signal σ_DC = {:.3e} ≥ θ/2 = {:.3e}: the leak offset integrates over the whole cycle and destroys learning (docs/physics.md §0.5)",
                    el.name,
                    area,
                    sigma_dc,
                    0.5 * ch.theta
                ),
            );
        }
        if let Some(w) = Window::new(ch.theta, saw.tau_fast, saw.tau_slow, tau) {
            mass += a.abs();
            if w.contains(a.abs()) {
                mass_in += a.abs();
            }
        }
    }
    if let Some((tk, name)) = worst_tau {
        rep.push(
            Level::Warning,
            "tau_fast",
            format!(
                "tau_fast = {} < 5 τ_k = {} (element '{name}'): the kernel does not resolve the fast ramp (slope < 0.9)",
                saw.tau_fast,
                5.0 * tk
            ),
        );
    }
    if mass > 0.0 {
        let f = mass_in / mass;
        rep.window_fraction = Some(f);
        if f < 0.8 {
            rep.push(
                Level::Warning,
                "threshold_window",
                format!("only {:.0}% of the contrast mass lies inside the threshold window [θτ_f/τ_k, θτ_s/τ_k]", 100.0 * f),
            );
        }
    }
    // Loop gain: G = ρ τ max_e 2 y_e² R_ee / s_scale for even weight channels (one solve per
    // element: skipped above LOOP_GAIN_MAX_ELEMENTS).
    let r_diag = if net.n_elements() <= LOOP_GAIN_MAX_ELEMENTS {
        transfer_diagonal(net, &mut eq, &p, 0.0, ex).ok()
    } else {
        rep.push(
            Level::Info,
            "loop_gain",
            format!(
                "loop gain not computed ({} elements > {LOOP_GAIN_MAX_ELEMENTS})",
                net.n_elements()
            ),
        );
        None
    };
    if let Some(r) = r_diag {
        let g_max = loop_gain_of(net, &p, &free.y, &r);
        let anti = net
            .elements
            .iter()
            .flat_map(|el| &el.channels)
            .any(|ch| ch.target == LearnTarget::Weight && ch.polarity < 0.0);
        rep.loop_gain = Some(g_max);
        if anti && g_max > 0.3 {
            rep.push(
                Level::Error,
                "loop_gain",
                format!(
                    "anti-Hebbian elements with loop gain G_max = {g_max:.3} > 0.3: the self-interaction (I − ρτJ)⁻¹ becomes indefinite near G = 1 and learning runs away (docs/physics.md §1.5); lower rho or use polarity +1 with fast_fall"
                ),
            );
        }
    }
    learning_speed(net, &mut eq, &p, saw, &mut rep);
    // Required switch time for multi-example slow ramps.
    if net.examples.len() > 1 {
        let mut req: f64 = 0.0;
        let mut states = Vec::new();
        for ex in &net.examples {
            if let Ok(s) = solve_static(net, &mut eq, &p, 0.0, ex) {
                states.push(s);
            }
        }
        for k in 0..states.len() {
            let (a, b) = (&states[k], &states[(k + 1) % states.len()]);
            for (e, el) in net.elements.iter().enumerate() {
                for ch in &el.channels {
                    if ch.theta <= 0.0 {
                        continue;
                    }
                    // Along the switch the drop moves linearly from y_a to y_b; the filtered
                    // signal is ≈ τ ds/dt, so the requirement uses the steepest part of s(y(t))
                    // (for s = y² up to 2 max|y| |Δy|, not just |Δs|).
                    const K: usize = 64;
                    let (ya, yb) = (a.y[e], b.y[e]);
                    let mut prev = el.static_signal(ch, ya, p.w[e], p.l[e]);
                    for k in 1..=K {
                        let y = ya + (yb - ya) * k as f64 / K as f64;
                        let cur = el.static_signal(ch, y, p.w[e], p.l[e]);
                        req = req.max(prev.1 * (cur.0 - prev.0).abs() * K as f64 / ch.theta);
                        prev = cur;
                    }
                }
            }
        }
        rep.tau_switch_required = Some(req);
        if saw.switch_mode == SwitchMode::SlowRamp && saw.tau_switch < req {
            rep.push(
                Level::Warning,
                "tau_switch",
                format!(
                    "tau_switch = {:.3e} is shorter than the required τ_k max|Δs|/θ = {:.3e}: switches will write spurious updates",
                    saw.tau_switch, req
                ),
            );
        }
        if saw.switch_mode == SwitchMode::ResetIdealized {
            rep.push(
                Level::Info,
                "non_physical",
                "switch mode reset_idealized: filter states are reset to the new free DC state at every example (NON-PHYSICAL global reset, equivalent to the paper's periodic convolution)".into(),
            );
        }
    }
    // Stiffness estimate.
    let mut tau_min = f64::INFINITY;
    for (e, el) in net.elements.iter().enumerate() {
        if let Some(arm) = &el.arm {
            let c = el.arm_g(p.w[e]);
            let (a, _) = el.conductances(p.w[e]);
            let t = if el.w_is_direct && a > 0.0 {
                arm.cap / (c + arm.g_leak) / (1.0 + c / a)
            } else {
                arm.cap / (c + arm.g_leak)
            };
            tau_min = tau_min.min(t);
        }
        if let Some(ch) = &el.chem {
            tau_min = tau_min.min(ch.tau_x);
        }
    }
    if let Some(g) = rep.loop_gain {
        for (e, el) in net.elements.iter().enumerate() {
            if let Some(tk) = el.tau_k(p.w[e]) {
                if g > 1.0 {
                    tau_min = tau_min.min(tk / g);
                }
            }
        }
    }
    if tau_min.is_finite() {
        let period = saw.period(net.examples.len());
        let s = period / tau_min;
        rep.tau_min = Some(tau_min);
        rep.stiffness_ratio = Some(s);
        let m = if s > 1e4 { "bdf" } else { "dopri5" };
        rep.suggested_method = Some(m.to_string());
        if s > 1e4 {
            rep.push(
                Level::Warning,
                "stiffness",
                format!("stiffness ratio S = T_cycle/τ_min = {s:.2e} > 1e4: explicit Dopri5 will need ~{:.1e} RHS evaluations per cycle; use solver method \"bdf\" or \"auto\"", 2.0 * s),
            );
        }
    }
    for el in &net.elements {
        if let Some(ch) = &el.chem {
            // Positivity: c0 > τ_r A_max/(s_ref τ_f).
            let amax = rep
                .a_max
                .iter()
                .filter(|g| g.0.contains("Chem"))
                .map(|g| g.1)
                .fold(0.0, f64::max);
            let need = ch.tau_r * amax / saw.tau_fast;
            if ch.c0 < need {
                rep.push(
                    Level::Warning,
                    "positivity",
                    format!("element '{}': basal level c0 = {} < τ_r A_max/τ_f = {:.3e}: the absolute concentration c0 + x goes negative on the fast ramp", el.name, ch.c0, need),
                );
            }
            if ch.eps > 0.0 {
                rep.push(
                    Level::Info,
                    "adaptation",
                    format!(
                        "element '{}': imperfect adaptation ε = {} (kernel area ε/(1+ε))",
                        el.name, ch.eps
                    ),
                );
            }
        }
        if matches!(el.kind, ElementKind::Maxwell) && el.learns() {
            rep.push(
                Level::Warning,
                "no_static_stiffness",
                format!(
                    "element '{}': Maxwell stiffness learning has no static meaning",
                    el.name
                ),
            );
        }
    }
    rep
}

/// Thévenin conductance seen by output 0 at β = 0 (reference for `linear_eta`).
pub fn thevenin_conductance(net: &Network) -> Result<f64, PhysicsError> {
    let p = net.initial_params();
    let mut eq = Equilibrium::new(net)?;
    solve_static(net, &mut eq, &p, 0.0, &net.examples[0])?;
    let mut r = vec![0.0; eq.n_free()];
    if net.outputs.is_empty() {
        return Ok(1.0);
    }
    for &(i, c) in eq.output_free_terms(0) {
        r[i] += c;
    }
    let sol = eq.solve_with_last_factor(net, &mut r);
    let rth: f64 = net.outputs[0]
        .stencil
        .terms()
        .map(|(d, c)| c * sol[d])
        .sum();
    if rth > 0.0 {
        Ok(1.0 / rth)
    } else {
        Ok(1.0)
    }
}
