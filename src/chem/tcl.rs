//! The `molecular_tcl` design (docs/molecular.md): resolved parameters, the quasi-steady
//! static solver (Newton in ln c, §2.2), costs and their gradients, the ideal rule, the loop
//! gain, the automatic design of §5.2, and the expander that emits the explicit network.
//!
//! Static (quasi-steady) state of the computing layer, with the integrator at its set point
//! (`Ds_e = x0`) and no anti-linker:
//! ```text
//! k_on c_i c_j = K1 D_e + 2γ C_e,   C_e = q ℓ_e D_e/(1 + q D_e),   K1 = k_off + 2γ + k_act,
//! q = k_onL/(k_offL + 2γ),
//! γ [c_i + Σ_{e∋i} (D_e + C_e + Ds_e)] = γ a_i + β_i (T_i − c_i)
//! ```
//! solved by Newton on `u = ln c` (one unknown per monomer); `D_e` is the positive root of a
//! quadratic.

use super::network::{Drive, DriveKind, Network, Reaction, Species, SpeciesId};
use super::ChemError;
use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Fully resolved design of a `molecular_tcl` network (no "auto" left). Stored in the explicit
/// netlist as `design`; the static solver, the design checks and the ideal rule use it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Design {
    pub monomers: Vec<String>,
    /// Pairs carrying a linker, as monomer indices `[i, j]` with `i < j`.
    pub pairs: Vec<[usize; 2]>,
    /// Input monomers (their totals are set per example).
    pub inputs: Vec<usize>,
    /// Output monomers (read out as free concentrations, nudged by the exchange valve).
    pub outputs: Vec<usize>,
    /// Fixed totals `a_i` of the non-input monomers (0 for inputs) (units c_u).
    pub totals: Vec<f64>,
    /// Monomer turnover γ [1/τ_k]: the "ground" of the totals.
    pub gamma: f64,
    /// Dimerisation on/off rates.
    pub k_on: f64,
    pub k_off: f64,
    #[serde(rename = "k_onL")]
    pub k_on_l: f64,
    #[serde(rename = "k_offL")]
    pub k_off_l: f64,
    /// Set point of the active dimer D* (units c_u).
    pub x0: f64,
    /// Kernel: `H(p) = k_act p/(p² + a p + b)`, `a = 2γ`, `b = k_c k_p`.
    pub a: f64,
    pub b: f64,
    pub k_act: f64,
    pub k_c: f64,
    pub k_p: f64,
    pub mu: f64,
    #[serde(rename = "eta_EZ")]
    pub eta_ez: f64,
    #[serde(rename = "eta_U")]
    pub eta_u: f64,
    /// First-order loss of the integrator species E, Z (0: perfect adaptation).
    pub eps: f64,
    /// Transcript copy turnover δ_v, baseline level V0 and synthesis k_v = δ_v V0/x0.
    pub dv: f64,
    #[serde(rename = "V0")]
    pub v0: f64,
    pub k_v: f64,
    /// Threshold θ_V of the dead zone (in copy units) and the titrator totals.
    pub theta_v: f64,
    #[serde(rename = "Y_tot")]
    pub y_tot: f64,
    #[serde(rename = "P_tot")]
    pub p_tot: f64,
    #[serde(rename = "k_onR")]
    pub k_on_r: f64,
    #[serde(rename = "k_offR")]
    pub k_off_r: f64,
    /// Write rate and anti-linker annihilation/decay.
    pub k_w: f64,
    #[serde(rename = "eta_M")]
    pub eta_m: f64,
    #[serde(rename = "dM")]
    pub d_m: f64,
    /// +1 Hebbian (linker made when D rises), −1 anti-Hebbian.
    pub polarity: f64,
    /// `κ = k_act/(b x0)`: copy response `δV/V0 = κ Ḋ`.
    pub kappa: f64,
    /// Learning rate of the ideal rule `Δℓ = −ρ(D^C − D^F)`, `ρ = k_w κ V0`.
    pub rho: f64,
    /// Design contrast `A_max = max_e |D_e^C − D_e^F|` (example 0, initial linkers).
    pub a_max: f64,
    pub beta_max: f64,
    pub tau_fast: f64,
    pub tau_slow: f64,
}

/// One example: input totals (per `Design::inputs`) and targets (per `Design::outputs`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Example {
    pub inputs: Vec<f64>,
    pub targets: Vec<f64>,
}

/// Static state: free monomers `c`, dimers `d`, linker-bound dimers `cc` (per pair).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StaticState {
    pub c: Vec<f64>,
    pub d: Vec<f64>,
    pub cc: Vec<f64>,
    pub iterations: usize,
}

/// `½ Σ (c_k − T_k)²`.
pub fn cost_sq(out: &[f64], t: &[f64]) -> f64 {
    0.5 * out
        .iter()
        .zip(t)
        .map(|(c, t)| (c - t) * (c - t))
        .sum::<f64>()
}

/// I-divergence `Σ [c − T − T ln(c/T)]`.
pub fn cost_i(out: &[f64], t: &[f64]) -> f64 {
    out.iter()
        .zip(t)
        .map(|(c, t)| c - t - t * (c.max(1e-300) / t).ln())
        .sum()
}

/// Largest relative residual (max |R_i| / max(γ A_i + β_i T_i)) accepted from the static
/// solver at convergence.
pub const STATIC_RTOL: f64 = 1e-8;

impl Design {
    pub fn n_pairs(&self) -> usize {
        self.pairs.len()
    }
    pub fn q(&self) -> f64 {
        self.k_on_l / (self.k_off_l + 2.0 * self.gamma)
    }
    pub fn k1(&self) -> f64 {
        self.k_off + 2.0 * self.gamma + self.k_act
    }
    /// Michaelis constant of the titration `K_M = (k_offR + δ_v)/k_onR`.
    pub fn k_m(&self) -> f64 {
        (self.k_off_r + self.dv) / self.k_on_r
    }

    /// Monomer totals of an example.
    pub fn example_totals(&self, ex: &Example) -> Vec<f64> {
        let mut a = self.totals.clone();
        for (k, &i) in self.inputs.iter().enumerate() {
            a[i] = ex.inputs[k];
        }
        a
    }

    /// Free output concentrations of a static state.
    pub fn outputs_of(&self, s: &StaticState) -> Vec<f64> {
        self.outputs.iter().map(|&i| s.c[i]).collect()
    }

    /// `D_e` and `∂D_e/∂s` for `s = k_on c_i c_j` (positive root of
    /// `K1 q D² + (K1 + 2γqℓ − s q) D − s = 0`).
    fn dimer(&self, s: f64, ell: f64) -> (f64, f64) {
        let (k1, q, g2) = (self.k1(), self.q(), 2.0 * self.gamma);
        let bq = k1 + g2 * q * ell - s * q;
        let disc = (bq * bq + 4.0 * k1 * q * s).sqrt();
        let d = if bq >= 0.0 {
            2.0 * s / (bq + disc)
        } else {
            (disc - bq) / (2.0 * k1 * q)
        };
        let w = 1.0 + q * d;
        (d, 1.0 / (k1 + g2 * q * ell / (w * w)))
    }

    /// Quasi-steady state for linkers `ell`, monomer totals `totals`, valve `beta` toward
    /// `targets` (per output) and active dimers `ds` (default: the set point x0).
    pub fn solve_static(
        &self,
        ell: &[f64],
        totals: &[f64],
        beta: f64,
        targets: &[f64],
        ds: Option<&[f64]>,
        guess: Option<&[f64]>,
    ) -> Result<StaticState, ChemError> {
        let n = self.monomers.len();
        let np = self.pairs.len();
        let fail = |detail: String| ChemError::StaticSolve {
            what: format!("beta = {beta}"),
            detail,
        };
        if n == 0 || np == 0 || self.outputs.is_empty() {
            return Err(fail(format!(
                "empty design ({n} monomers, {np} pairs, {} outputs)",
                self.outputs.len()
            )));
        }
        for (what, got, want) in [
            ("targets", targets.len(), self.outputs.len()),
            ("monomer totals", totals.len(), n),
            ("linkers", ell.len(), np),
            ("active dimers", ds.map_or(np, <[f64]>::len), np),
            ("guess", guess.map_or(n, <[f64]>::len), n),
        ] {
            if got != want {
                return Err(fail(format!("{want} {what} needed, got {got}")));
            }
        }
        if let Some((k, &i)) = self.outputs.iter().enumerate().find(|(_, &i)| i >= n) {
            return Err(fail(format!("output #{k}: monomer index {i} out of range")));
        }
        if let Some((k, p)) = self
            .pairs
            .iter()
            .enumerate()
            .find(|(_, p)| p[0] >= n || p[1] >= n)
        {
            return Err(fail(format!("pair #{k}: invalid monomer indices {p:?}")));
        }
        let g = self.gamma;
        let q = self.q();
        let mut beta_i = vec![0.0; n];
        let mut tgt = vec![0.0; n];
        for (&i, &t) in self.outputs.iter().zip(targets) {
            beta_i[i] = beta;
            tgt[i] = t;
        }
        let dsv = |e: usize| ds.map_or(self.x0, |v| v[e]);
        let mut u: Vec<f64> = match guess {
            Some(c) => c.iter().map(|c| c.max(1e-300).ln()).collect(),
            None => totals.iter().map(|a| (0.5 * a.max(1e-6)).ln()).collect(),
        };
        let mut d = vec![0.0; np];
        let mut cc = vec![0.0; np];
        let mut dsum = vec![0.0; np]; // ∂(D + C)/∂s
        let mut polish = 0;
        for it in 0..200 {
            let c: Vec<f64> = u.iter().map(|u| u.exp()).collect();
            let mut res: Vec<f64> = (0..n)
                .map(|i| g * c[i] + beta_i[i] * c[i] - g * totals[i] - beta_i[i] * tgt[i])
                .collect();
            for (e, &[i, j]) in self.pairs.iter().enumerate() {
                let s = self.k_on * c[i] * c[j];
                let (de, dds) = self.dimer(s, ell[e]);
                let w = 1.0 + q * de;
                d[e] = de;
                cc[e] = q * ell[e] * de / w;
                dsum[e] = dds * (1.0 + q * ell[e] / (w * w));
                let add = g * (d[e] + cc[e] + dsv(e));
                res[i] += add;
                res[j] += add;
            }
            let scale: f64 = (0..n)
                .map(|i| g * totals[i] + beta_i[i] * tgt[i])
                .fold(0.0, f64::max)
                .max(1e-300);
            let rnorm = res.iter().fold(0.0f64, |a, r| a.max(r.abs())) / scale;
            if !rnorm.is_finite() {
                break;
            }
            // Jacobian ∂R_i/∂u_k = c_k ∂R_i/∂c_k.
            let mut jm = DMatrix::zeros(n, n);
            for i in 0..n {
                jm[(i, i)] = (g + beta_i[i]) * c[i];
            }
            for (e, &[i, j]) in self.pairs.iter().enumerate() {
                // ∂s/∂u_i = s = ∂s/∂u_j
                let v = g * dsum[e] * self.k_on * c[i] * c[j];
                jm[(i, i)] += v;
                jm[(i, j)] += v;
                jm[(j, i)] += v;
                jm[(j, j)] += v;
            }
            let rhs = DVector::from_iterator(n, res.iter().map(|r| -r));
            let du = match jm.lu().solve(&rhs) {
                Some(x) => x,
                None => break,
            };
            let step = du.amax();
            let damp = if step > 2.0 { 2.0 / step } else { 1.0 };
            for i in 0..n {
                u[i] += damp * du[i];
            }
            if step < 1e-11 {
                polish += 1;
            }
            if step < 1e-15 || polish >= 2 {
                // The step vanished: the residual before it must be small too (a singular or
                // ill-scaled Jacobian can stall Newton away from a root).
                if rnorm > STATIC_RTOL {
                    return Err(fail(format!(
                        "Newton stalled with relative residual {rnorm:.3e} > {STATIC_RTOL:e}"
                    )));
                }
                let c: Vec<f64> = u.iter().map(|u| u.exp()).collect();
                for (e, &[i, j]) in self.pairs.iter().enumerate() {
                    let (de, _) = self.dimer(self.k_on * c[i] * c[j], ell[e]);
                    d[e] = de;
                    cc[e] = q * ell[e] * de / (1.0 + q * de);
                }
                return Ok(StaticState {
                    c,
                    d,
                    cc,
                    iterations: it + 1,
                });
            }
        }
        Err(fail(
            "Newton in ln c did not converge in 200 iterations".into(),
        ))
    }

    /// Free (β = 0) and clamped (β = β) static states of an example.
    pub fn free_clamped(
        &self,
        ell: &[f64],
        ex: &Example,
        beta: f64,
    ) -> Result<(StaticState, StaticState), ChemError> {
        let a = self.example_totals(ex);
        let f = self.solve_static(ell, &a, 0.0, &ex.targets, None, None)?;
        let c = self.solve_static(ell, &a, beta, &ex.targets, None, Some(&f.c))?;
        Ok((f, c))
    }

    /// Free-state costs `(C_sq, C_I)` of an example.
    pub fn costs(&self, ell: &[f64], ex: &Example) -> Result<(f64, f64), ChemError> {
        let a = self.example_totals(ex);
        let f = self.solve_static(ell, &a, 0.0, &ex.targets, None, None)?;
        let o = self.outputs_of(&f);
        Ok((cost_sq(&o, &ex.targets), cost_i(&o, &ex.targets)))
    }

    /// Central finite-difference gradients `(∇C_sq, ∇C_I)` with respect to ℓ.
    pub fn gradients(&self, ell: &[f64], ex: &Example) -> Result<(Vec<f64>, Vec<f64>), ChemError> {
        let np = ell.len();
        let mut gs = vec![0.0; np];
        let mut gi = vec![0.0; np];
        let mut e2 = ell.to_vec();
        for e in 0..np {
            let h = 1e-5 * ell[e].abs().max(1.0);
            e2[e] = ell[e] + h;
            let (sp, ip) = self.costs(&e2, ex)?;
            e2[e] = ell[e] - h;
            let (sm, im) = self.costs(&e2, ex)?;
            e2[e] = ell[e];
            gs[e] = (sp - sm) / (2.0 * h);
            gi[e] = (ip - im) / (2.0 * h);
        }
        Ok((gs, gi))
    }

    /// `J_ef = ∂D_e/∂ℓ_f` at the free state (central differences).
    pub fn dimer_jacobian(&self, ell: &[f64], ex: &Example) -> Result<DMatrix<f64>, ChemError> {
        let np = ell.len();
        let a = self.example_totals(ex);
        let mut j = DMatrix::zeros(np, np);
        let mut e2 = ell.to_vec();
        for f in 0..np {
            let h = 1e-5 * ell[f].abs().max(1.0);
            e2[f] = ell[f] + h;
            let p = self.solve_static(&e2, &a, 0.0, &ex.targets, None, None)?;
            e2[f] = ell[f] - h;
            let m = self.solve_static(&e2, &a, 0.0, &ex.targets, None, None)?;
            e2[f] = ell[f];
            for e in 0..np {
                j[(e, f)] = (p.d[e] - m.d[e]) / (2.0 * h);
            }
        }
        Ok(j)
    }

    /// Loop gain `G = ρ λ_max(−J)` (λ of the symmetric part; J is symmetric to ~1 %).
    pub fn loop_gain(&self, ell: &[f64], ex: &Example) -> Result<f64, ChemError> {
        let j = self.dimer_jacobian(ell, ex)?;
        let s = -(&j + j.transpose()) * 0.5;
        let ev = s.symmetric_eigenvalues();
        Ok(self.rho * ev.iter().copied().fold(f64::NEG_INFINITY, f64::max))
    }

    /// Ideal rule `Δℓ_e = −ρ (D_e^C − D_e^F)` at valve `beta`.
    pub fn ideal_update(
        &self,
        ell: &[f64],
        ex: &Example,
        beta: f64,
    ) -> Result<Vec<f64>, ChemError> {
        let (f, c) = self.free_clamped(ell, ex, beta)?;
        Ok(f.d
            .iter()
            .zip(&c.d)
            .map(|(df, dc)| -self.rho * (dc - df))
            .collect())
    }

    /// Titration: free `X` given totals `X_tot`, `Y_tot` and `K` (`X·Y = K·XY`).
    pub fn titration_free(x_tot: f64, y_tot: f64, k: f64) -> f64 {
        let b = x_tot - y_tot - k;
        let disc = (b * b + 4.0 * k * x_tot).sqrt();
        if b >= 0.0 {
            0.5 * (b + disc)
        } else {
            2.0 * k * x_tot / (disc - b)
        }
    }

    /// Baseline write leak `k_w (Vh_free − P_free)` at the set point (copies at V0).
    pub fn baseline_leak(&self) -> (f64, f64) {
        let km = self.k_m();
        let vh = Self::titration_free(self.v0, self.y_tot, km);
        let p = Self::titration_free(self.p_tot, self.v0, km);
        (self.k_w * vh, self.k_w * p)
    }

    /// Integrator level `E_0 = (k_act D − a x0)/k_c` for a dimer level (perfect adaptation;
    /// with a loss ε the antithetic pair needs slightly more).
    pub fn e0(&self, d: f64) -> f64 {
        (self.k_act * d - self.a * self.x0) / self.k_c
    }
}

/// User parameters of the template (`template.params`), with the M1 defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct TemplateParams {
    pub values: BTreeMap<String, f64>,
}

/// Names, defaults and meaning of the template parameters.
pub const TEMPLATE_PARAMS: &[(&str, f64, &str)] = &[
    ("gamma", 5.0, "monomer turnover γ [1/τ_k]"),
    ("k_on", 200.0, "dimerisation [1/(c_u τ_k)]"),
    ("k_off", 2000.0, "dimer dissociation [1/τ_k]"),
    ("k_onL", 200.0, "linker binding [1/(c_u τ_k)]"),
    ("k_offL", 100.0, "linker unbinding [1/τ_k]"),
    ("x0", 0.002, "set point of D* (units c_u)"),
    ("b_fac", 0.4, "b = b_fac a²/4 (overdamped if ≤ 1)"),
    (
        "u_fast",
        0.5,
        "κ A_max/τ_f: copy excursion on the fast segment",
    ),
    ("c_theta", 1.5, "θ_V = c_θ κ A_max V0/τ_s"),
    ("kd_frac", 0.004, "K_M = kd_frac θ_V²"),
    ("dv", 20.0, "copy turnover δ_v [1/τ_k]"),
    ("V0", 1.0, "baseline copy level (units c_u)"),
    ("eps_w", 0.08, "ρ = eps_w ℓ̄/A_max (relative step)"),
    ("polarity", 1.0, "+1 Hebbian writer, −1 anti-Hebbian"),
    ("dM", 1.0, "anti-linker decay δ_M [1/τ_k]"),
    (
        "eps",
        0.0,
        "first-order loss of the integrator species E, Z [1/τ_k]",
    ),
];

/// Parameters that `auto` computes (§5.2); a value in `params` overrides one not listed in
/// `auto`.
pub const AUTO_PARAMS: &[&str] = &[
    "k_act", "k_c", "k_p", "mu", "eta_EZ", "eta_U", "k_v", "theta", "Y_tot", "P_tot", "k_onR",
    "k_offR", "k_w", "eta_M",
];

/// Everything the automatic design needs besides the parameters.
#[derive(Clone, Debug)]
pub struct TemplateSpec {
    pub monomers: Vec<String>,
    pub pairs: Vec<[usize; 2]>,
    pub inputs: Vec<usize>,
    pub outputs: Vec<usize>,
    pub totals: Vec<f64>,
    pub ell0: Vec<f64>,
    pub params: BTreeMap<String, f64>,
    pub auto: Vec<String>,
    pub examples: Vec<Example>,
    pub beta_max: f64,
    pub tau_fast: f64,
    pub tau_slow: f64,
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        s[n / 2]
    } else {
        0.5 * (s[n / 2 - 1] + s[n / 2])
    }
}

/// The automatic design of §5.2 from one static free/clamped pair (example 0, initial
/// linkers). `k_act` enters the static state through `K1`, so the design is iterated to a fixed
/// point.
pub fn auto_design(spec: &TemplateSpec) -> Result<Design, ChemError> {
    let p = |name: &str| -> f64 {
        spec.params.get(name).copied().unwrap_or_else(|| {
            TEMPLATE_PARAMS
                .iter()
                .find(|t| t.0 == name)
                .map_or(f64::NAN, |t| t.1)
        })
    };
    let manual = |name: &str| -> Option<f64> {
        if spec.auto.iter().any(|a| a == name) {
            None
        } else {
            spec.params.get(name).copied()
        }
    };
    let ex0 = spec
        .examples
        .first()
        .ok_or_else(|| ChemError::Invalid("the design needs at least one example".into()))?;
    let gamma = p("gamma");
    let a = 2.0 * gamma;
    let b = p("b_fac") * a * a / 4.0;
    let x0 = p("x0");
    let v0 = p("V0");
    let dv = p("dv");
    let mut d = Design {
        monomers: spec.monomers.clone(),
        pairs: spec.pairs.clone(),
        inputs: spec.inputs.clone(),
        outputs: spec.outputs.clone(),
        totals: spec.totals.clone(),
        gamma,
        k_on: p("k_on"),
        k_off: p("k_off"),
        k_on_l: p("k_onL"),
        k_off_l: p("k_offL"),
        x0,
        a,
        b,
        k_act: manual("k_act").unwrap_or(0.0),
        k_c: 1.0,
        k_p: 1.0,
        mu: 1.0,
        eta_ez: 1.0,
        eta_u: 1.0,
        eps: p("eps"),
        dv,
        v0,
        k_v: 1.0,
        theta_v: 0.0,
        y_tot: v0,
        p_tot: v0,
        k_on_r: 1.0,
        k_off_r: 1.0,
        k_w: 0.0,
        eta_m: 1.0,
        d_m: p("dM"),
        polarity: p("polarity"),
        kappa: 0.0,
        rho: 0.0,
        a_max: 0.0,
        beta_max: spec.beta_max,
        tau_fast: spec.tau_fast,
        tau_slow: spec.tau_slow,
    };
    let mut states = None;
    for _ in 0..50 {
        let (f, c) = d.free_clamped(&spec.ell0, ex0, spec.beta_max)?;
        let a_max =
            f.d.iter()
                .zip(&c.d)
                .map(|(x, y)| (y - x).abs())
                .fold(0.0, f64::max);
        if a_max.is_nan() || a_max <= 0.0 {
            return Err(ChemError::Invalid(
                "auto design: the nudge changes no dimer (A_max = 0); are the targets equal to the free outputs?".into(),
            ));
        }
        d.a_max = a_max;
        let kappa = p("u_fast") * spec.tau_fast / a_max;
        let k_act = manual("k_act").unwrap_or(kappa * b * x0);
        let change = (k_act - d.k_act).abs();
        d.k_act = k_act;
        states = Some((f, c));
        if change <= 1e-14 * k_act {
            break;
        }
    }
    let (f, c) = states.ok_or_else(|| ChemError::Invalid("auto design failed".into()))?;
    d.k_c = manual("k_c").unwrap_or(d.k_act * median(&f.d));
    d.k_p = manual("k_p").unwrap_or(b / d.k_c);
    d.b = d.k_c * d.k_p;
    d.kappa = d.k_act / (d.b * x0);
    d.mu = manual("mu").unwrap_or(d.k_p * x0);
    let e_min =
        f.d.iter()
            .chain(&c.d)
            .map(|&x| d.e0(x))
            .fold(f64::INFINITY, f64::min);
    d.eta_ez = manual("eta_EZ").unwrap_or(100.0 / e_min.max(1e-12));
    d.eta_u = manual("eta_U").unwrap_or(1000.0 / x0);
    d.k_v = manual("k_v").unwrap_or(dv * v0 / x0);
    d.theta_v = manual("theta").unwrap_or(p("c_theta") * d.kappa * d.a_max * v0 / spec.tau_slow);
    d.y_tot = manual("Y_tot").unwrap_or(v0 + d.theta_v);
    d.p_tot = manual("P_tot").unwrap_or(v0 - d.theta_v);
    d.k_off_r = manual("k_offR").unwrap_or(0.1 * dv);
    d.k_on_r = manual("k_onR")
        .unwrap_or((d.k_off_r + dv) / (p("kd_frac") * d.theta_v * d.theta_v).max(1e-300));
    let ell_bar = spec.ell0.iter().sum::<f64>() / spec.ell0.len().max(1) as f64;
    let rho = p("eps_w") * ell_bar / d.a_max;
    d.k_w = manual("k_w").unwrap_or(rho / (d.kappa * v0));
    d.rho = d.k_w * d.kappa * v0;
    d.eta_m = manual("eta_M").unwrap_or(1000.0 / ell_bar.max(1e-12));
    Ok(d)
}

/// Species indices of the TCL roles.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PairSpecies {
    pub d: SpeciesId,
    pub l: SpeciesId,
    pub c: SpeciesId,
    pub ds: SpeciesId,
    pub e: SpeciesId,
    pub z: SpeciesId,
    pub u: SpeciesId,
    pub vh: SpeciesId,
    pub vl: SpeciesId,
    pub y: SpeciesId,
    pub vhy: SpeciesId,
    pub p: SpeciesId,
    pub vlp: SpeciesId,
    pub m: SpeciesId,
}

/// Name suffix of each monomer (`A1 → 1`) and of each pair (`12`).
pub fn suffixes(d: &Design) -> (Vec<String>, Vec<String>) {
    let strip: Vec<String> = d
        .monomers
        .iter()
        .map(|m| {
            m.trim_start_matches(|c: char| c.is_alphabetic())
                .to_string()
        })
        .collect();
    let distinct = {
        let mut s = strip.clone();
        s.sort();
        s.dedup();
        s.len() == strip.len() && strip.iter().all(|s| !s.is_empty())
    };
    let mono = if distinct { strip } else { d.monomers.clone() };
    let single = mono.iter().all(|s| s.chars().count() == 1);
    let pairs = d
        .pairs
        .iter()
        .map(|&[i, j]| {
            if single {
                format!("{}{}", mono[i], mono[j])
            } else {
                format!("{}_{}", mono[i], mono[j])
            }
        })
        .collect();
    (mono, pairs)
}

/// The per-pair species names, in the order of [`PairSpecies`].
pub const PAIR_ROLES: [&str; 14] = [
    "D", "L", "C", "Ds", "E", "Z", "U", "Vh", "Vl", "Y", "VhY", "P", "VlP", "M",
];

/// Initial state of §10: the static free state of `ex`, `Ds = x0`, the integrator at its
/// quasi-steady level, the readers by the titration formula, no anti-linker.
pub fn initial_levels(d: &Design, ell: &[f64], ex: &Example) -> Result<Vec<[f64; 14]>, ChemError> {
    let a = d.example_totals(ex);
    let f = d.solve_static(ell, &a, 0.0, &ex.targets, None, None)?;
    let km = d.k_m();
    let mut out = Vec::new();
    for (e, (&de, &c)) in f.d.iter().zip(&f.cc).enumerate() {
        let l = ell[e] - c;
        let e0 = (d.k_act * de - d.a * d.x0) / d.k_c;
        // With a loss ε: k_p x0 = μ + ε E (E ≫ Z); keep the lossless level as the start.
        let e0 = e0.max(1e-12);
        let z = d.mu / (d.eta_ez * e0);
        let u = d.k_c * e0 / (d.eta_u * d.x0);
        let vtot = d.k_v * d.x0 / d.dv;
        let vh = Design::titration_free(vtot, d.y_tot, km);
        let vhy = vtot - vh;
        let y = d.y_tot - vhy;
        let p = Design::titration_free(d.p_tot, vtot, km);
        let vlp = d.p_tot - p;
        let vl = vtot - vlp;
        out.push([de, l, c, d.x0, e0, z, u, vh, vl, y, vhy, p, vlp, 0.0]);
    }
    Ok(out)
}

/// Typical levels used as tolerance scales (per role), given the initial level.
fn role_scale(d: &Design, role: usize, level: f64) -> f64 {
    let floor = match role {
        0 | 2 => 1e-3,           // D, C
        1 => 0.1,                // L
        3 => d.x0,               // Ds
        4 => 0.1,                // E
        5 => 1e-5,               // Z
        6 => 1e-5,               // U
        7 | 8 | 11 => d.theta_v, // free copies and free reader
        9 | 10 | 12 => d.v0,     // titrator
        // M sits near 0 between writes; its tolerance follows the linker it annihilates.
        _ => 1e-2,
    };
    level.abs().max(floor)
}

/// The explicit network of a design: species (with §10 initial levels for example `ex`),
/// reactions and drive groups.
pub fn expand(d: &Design, ell0: &[f64], ex: &Example) -> Result<Network, ChemError> {
    let (mono, pair_sfx) = suffixes(d);
    let levels = initial_levels(d, ell0, ex)?;
    let a0 = d.example_totals(ex);
    let free = d.solve_static(ell0, &a0, 0.0, &ex.targets, None, None)?;
    let mut species: Vec<Species> = Vec::new();
    let comp = |els: &[&str]| -> BTreeMap<String, f64> {
        els.iter().map(|e| (e.to_string(), 1.0)).collect()
    };
    for (i, m) in d.monomers.iter().enumerate() {
        species.push(Species {
            name: m.clone(),
            composition: comp(&[m]),
            init: free.c[i],
            scale: free.c[i].max(0.1),
        });
    }
    for (e, &[i, j]) in d.pairs.iter().enumerate() {
        let s = &pair_sfx[e];
        let (ai, aj) = (d.monomers[i].as_str(), d.monomers[j].as_str());
        let own = |r: &str| format!("{r}{s}");
        for (role, name) in PAIR_ROLES.iter().enumerate() {
            let composition = match *name {
                "D" | "Ds" => comp(&[ai, aj]),
                "C" => comp(&[ai, aj, &own("L")]),
                "VhY" => comp(&[&own("Vh"), &own("Y")]),
                "VlP" => comp(&[&own("Vl"), &own("P")]),
                other => comp(&[&own(other)]),
            };
            let level = levels[e][role];
            species.push(Species {
                name: own(name),
                composition,
                init: level,
                scale: role_scale(d, role, level),
            });
        }
    }
    let n_mono = d.monomers.len();
    let pid = |e: usize, role: usize| SpeciesId(n_mono + 14 * e + role);
    let mut drives = vec![
        Drive {
            name: "beta".into(),
            kind: DriveKind::ProtocolSawtooth,
        },
        Drive {
            name: "gate".into(),
            kind: DriveKind::WriteGate,
        },
    ];
    let mut reactions = Vec::new();
    let mut rx = |name: String,
                  re: &[SpeciesId],
                  pr: &[SpeciesId],
                  k: f64,
                  open: bool,
                  drive: Option<usize>| {
        reactions.push(Reaction {
            name,
            reactants: re.to_vec(),
            products: pr.to_vec(),
            k,
            open,
            drive: drive.map(super::network::DriveId),
        });
    };
    for (i, m) in d.monomers.iter().enumerate() {
        let a = SpeciesId(i);
        if d.inputs.contains(&i) {
            drives.push(Drive {
                name: format!("input_{m}"),
                kind: DriveKind::ExampleInput { species: a },
            });
            rx(
                format!("in_{m}"),
                &[],
                &[a],
                d.gamma,
                true,
                Some(drives.len() - 1),
            );
        } else {
            rx(
                format!("in_{m}"),
                &[],
                &[a],
                d.gamma * d.totals[i],
                true,
                None,
            );
        }
        rx(format!("out_{m}"), &[a], &[], d.gamma, true, None);
    }
    for &k in &d.outputs {
        let m = &d.monomers[k];
        let a = SpeciesId(k);
        drives.push(Drive {
            name: format!("reservoir_{m}"),
            kind: DriveKind::Reservoir { species: a },
        });
        rx(
            format!("xin_{m}"),
            &[],
            &[a],
            d.beta_max,
            true,
            Some(drives.len() - 1),
        );
        rx(format!("xout_{m}"), &[a], &[], d.beta_max, true, Some(0));
    }
    let _ = mono;
    for (e, &[i, j]) in d.pairs.iter().enumerate() {
        let s = &pair_sfx[e];
        let (ai, aj) = (SpeciesId(i), SpeciesId(j));
        let r = |role: &str| pid(e, PAIR_ROLES.iter().position(|x| *x == role).unwrap_or(0));
        let (dd, l, c, ds, ee, z, u) = (r("D"), r("L"), r("C"), r("Ds"), r("E"), r("Z"), r("U"));
        let (vh, vl, y, vhy, p, vlp, m) =
            (r("Vh"), r("Vl"), r("Y"), r("VhY"), r("P"), r("VlP"), r("M"));
        let g = d.gamma;
        rx(format!("bind_{s}"), &[ai, aj], &[dd], d.k_on, false, None);
        rx(
            format!("unbind_{s}"),
            &[dd],
            &[ai, aj],
            d.k_off,
            false,
            None,
        );
        rx(format!("link_{s}"), &[dd, l], &[c], d.k_on_l, false, None);
        rx(
            format!("unlink_{s}"),
            &[c],
            &[dd, l],
            d.k_off_l,
            false,
            None,
        );
        rx(format!("act_{s}"), &[dd], &[ds], d.k_act, false, None);
        rx(format!("turnD_i_{s}"), &[dd], &[aj], g, true, None);
        rx(format!("turnD_j_{s}"), &[dd], &[ai], g, true, None);
        rx(format!("turnC_i_{s}"), &[c], &[aj, l], g, true, None);
        rx(format!("turnC_j_{s}"), &[c], &[ai, l], g, true, None);
        rx(format!("turnDs_i_{s}"), &[ds], &[aj], g, true, None);
        rx(format!("turnDs_j_{s}"), &[ds], &[ai], g, true, None);
        rx(format!("sense_{s}"), &[ds], &[ds, ee], d.k_p, true, None);
        rx(format!("ref_{s}"), &[], &[z], d.mu, true, None);
        rx(
            format!("annihilate_{s}"),
            &[ee, z],
            &[],
            d.eta_ez,
            true,
            None,
        );
        rx(
            format!("inactivator_{s}"),
            &[ee],
            &[ee, u],
            d.k_c,
            true,
            None,
        );
        rx(
            format!("inactivate_{s}"),
            &[ds, u],
            &[ai, aj],
            d.eta_u,
            true,
            None,
        );
        if d.eps > 0.0 {
            rx(format!("lossE_{s}"), &[ee], &[], d.eps, true, None);
            rx(format!("lossZ_{s}"), &[z], &[], d.eps, true, None);
        }
        rx(format!("copy_hi_{s}"), &[ds], &[ds, vh], d.k_v, true, None);
        rx(format!("deg_hi_{s}"), &[vh], &[], d.dv, true, None);
        rx(
            format!("sponge_on_{s}"),
            &[vh, y],
            &[vhy],
            d.k_on_r,
            false,
            None,
        );
        rx(
            format!("sponge_off_{s}"),
            &[vhy],
            &[vh, y],
            d.k_off_r,
            false,
            None,
        );
        rx(format!("sponge_deg_{s}"), &[vhy], &[y], d.dv, true, None);
        rx(format!("copy_lo_{s}"), &[ds], &[ds, vl], d.k_v, true, None);
        rx(format!("deg_lo_{s}"), &[vl], &[], d.dv, true, None);
        rx(
            format!("reader_on_{s}"),
            &[vl, p],
            &[vlp],
            d.k_on_r,
            false,
            None,
        );
        rx(
            format!("reader_off_{s}"),
            &[vlp],
            &[vl, p],
            d.k_off_r,
            false,
            None,
        );
        rx(format!("reader_deg_{s}"), &[vlp], &[p], d.dv, true, None);
        let (hi_out, lo_out) = if d.polarity >= 0.0 { (l, m) } else { (m, l) };
        rx(
            format!("write_hi_{s}"),
            &[vh],
            &[vh, hi_out],
            d.k_w,
            true,
            Some(1),
        );
        rx(
            format!("write_lo_{s}"),
            &[p],
            &[p, lo_out],
            d.k_w,
            true,
            Some(1),
        );
        rx(format!("antiL_{s}"), &[m, l], &[], d.eta_m, true, None);
        rx(format!("antiC_{s}"), &[m, c], &[dd], d.eta_m, true, None);
        rx(format!("debt_{s}"), &[m], &[], d.d_m, true, None);
    }
    Ok(Network::new(species, reactions, drives))
}

/// Role species of every pair, found by the expander's names (`D12`, `L12`, …).
pub fn pair_species(d: &Design, net: &Network) -> Result<Vec<PairSpecies>, ChemError> {
    let (_, sfx) = suffixes(d);
    sfx.iter()
        .map(|s| {
            let f = |role: &str| {
                net.species_id(&format!("{role}{s}")).ok_or_else(|| {
                    ChemError::Invalid(format!("species {role}{s} of pair {s} is missing"))
                })
            };
            Ok(PairSpecies {
                d: f("D")?,
                l: f("L")?,
                c: f("C")?,
                ds: f("Ds")?,
                e: f("E")?,
                z: f("Z")?,
                u: f("U")?,
                vh: f("Vh")?,
                vl: f("Vl")?,
                y: f("Y")?,
                vhy: f("VhY")?,
                p: f("P")?,
                vlp: f("VlP")?,
                m: f("M")?,
            })
        })
        .collect()
}
