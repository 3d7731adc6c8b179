//! The one energy record of every family (docs/physics.md §12): what a cycle, a protocol segment
//! or a whole run cost, by where the energy went. The network family fills the work, dissipation
//! and storage terms (`physics::energy`); the chemical family the entropy production
//! (`chem::energy`). Terms that do not exist in a family are NaN (empty CSV fields, JSON null).
//!
//! Units: the netlist's units of energy (e.g. V·S·V·s = J for a flow netlist in V, S, F and s;
//! N·m = J for an elastic one in m and N/m), entropy production in k_B T.

use serde::{Deserialize, Serialize};

/// Energy figures of one integration interval (all integrals over the interval).
///
/// Balance (network families): `work_source + work_nudge + work_learning = diss_total +
/// stored_change + energy_residual`, with `diss_total` the sum of the `diss_*` classes.
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Energy {
    /// Work delivered by the Dirichlet sources: `∫ Σ_d x_d R_d dt` (flow: potential × injected
    /// current) or `∫ Σ_d R_d ẋ_d dt` (elastic: reaction force × boundary velocity).
    #[serde(with = "crate::io::nan::f64_lossless")]
    pub work_source: f64,
    /// Work delivered by the nudge: flow, the target reservoirs through the nudge conductance
    /// (`∫ β Σ_k (T_k − o_k) T_k dt`); elastic, the modulation of the nudge springs
    /// (`∫ Σ_k [½ β̇ (o_k − T_k)² − β (o_k − T_k) Ṫ_k] dt`).
    #[serde(with = "crate::io::nan::f64_lossless")]
    pub work_nudge: f64,
    /// Work done on the network by learning (the parameter change itself):
    /// `∫ Σ_e [½ ȧ_e (y_e − l_e)² − a_e (y_e − l_e) l̇_e + ½ ċ_e (y_e − z_e)²] dt` (elastic; 0 in
    /// flow, where conductances store nothing).
    #[serde(with = "crate::io::nan::f64_lossless")]
    pub work_learning: f64,
    /// Dissipated in the direct paths of learning elements (flow: `∫ a y² dt`).
    #[serde(with = "crate::io::nan::f64_lossless")]
    pub diss_channel: f64,
    /// Dissipated in the direct paths of fixed elements (resistors).
    #[serde(with = "crate::io::nan::f64_lossless")]
    pub diss_resistor: f64,
    /// Dissipated in the sensing-arm conductances (flow: `∫ c (y − z)² dt`).
    #[serde(with = "crate::io::nan::f64_lossless")]
    pub diss_arm: f64,
    /// Dissipated in the arm leaks (flow: `∫ g_L z² dt`).
    #[serde(with = "crate::io::nan::f64_lossless")]
    pub diss_leak: f64,
    /// Dissipated in the dashpots (elastic: `∫ η ż² dt`).
    #[serde(with = "crate::io::nan::f64_lossless")]
    pub diss_dashpot: f64,
    /// Dissipated in the nudge conductance (flow: `∫ β Σ_k (o_k − T_k)² dt`).
    #[serde(with = "crate::io::nan::f64_lossless")]
    pub diss_nudge: f64,
    /// Sum of the `diss_*` classes.
    #[serde(with = "crate::io::nan::f64_lossless")]
    pub diss_total: f64,
    /// Change of the stored energy over the interval (capacitors `½ C z²`; springs
    /// `½ a (y − l)²`, Maxwell and leak springs, nudge springs `½ β (o − T)²`).
    #[serde(with = "crate::io::nan::f64_lossless")]
    pub stored_change: f64,
    /// `work_source + work_nudge + work_learning − diss_total − stored_change`: zero up to the
    /// integrator's tolerance.
    #[serde(with = "crate::io::nan::f64_lossless")]
    pub energy_residual: f64,
    /// Chemical family: entropy production of the reversible reaction pairs,
    /// `∫ Σ (J₊ − J₋) ln(J₊/J₋) dt` [k_B T].
    #[serde(with = "crate::io::nan::f64_lossless")]
    pub entropy_production: f64,
}

impl Default for Energy {
    fn default() -> Self {
        Energy::nan()
    }
}

/// `a + b` where a NaN term is "does not exist" (NaN + NaN = NaN, NaN + x = x).
fn add_terms(a: f64, b: f64) -> f64 {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => f64::NAN,
        (true, false) => b,
        (false, true) => a,
        (false, false) => a + b,
    }
}

impl Energy {
    /// Every term absent.
    pub fn nan() -> Self {
        Energy {
            work_source: f64::NAN,
            work_nudge: f64::NAN,
            work_learning: f64::NAN,
            diss_channel: f64::NAN,
            diss_resistor: f64::NAN,
            diss_arm: f64::NAN,
            diss_leak: f64::NAN,
            diss_dashpot: f64::NAN,
            diss_nudge: f64::NAN,
            diss_total: f64::NAN,
            stored_change: f64::NAN,
            energy_residual: f64::NAN,
            entropy_production: f64::NAN,
        }
    }

    /// The record of an interval from its terms (network families): `diss_total` and the
    /// residual follow.
    #[allow(clippy::too_many_arguments)]
    pub fn balance(
        work_source: f64,
        work_nudge: f64,
        work_learning: f64,
        diss: [f64; 6],
        stored_change: f64,
    ) -> Self {
        let diss_total: f64 = diss.iter().sum();
        Energy {
            work_source,
            work_nudge,
            work_learning,
            diss_channel: diss[0],
            diss_resistor: diss[1],
            diss_arm: diss[2],
            diss_leak: diss[3],
            diss_dashpot: diss[4],
            diss_nudge: diss[5],
            diss_total,
            stored_change,
            energy_residual: work_source + work_nudge + work_learning - diss_total - stored_change,
            entropy_production: f64::NAN,
        }
    }

    /// The record of a chemical interval.
    pub fn entropy(sigma: f64) -> Self {
        Energy {
            entropy_production: sigma,
            ..Energy::nan()
        }
    }

    /// The terms of two consecutive intervals added (absent terms stay absent).
    pub fn plus(&self, o: &Energy) -> Energy {
        let f = add_terms;
        Energy {
            work_source: f(self.work_source, o.work_source),
            work_nudge: f(self.work_nudge, o.work_nudge),
            work_learning: f(self.work_learning, o.work_learning),
            diss_channel: f(self.diss_channel, o.diss_channel),
            diss_resistor: f(self.diss_resistor, o.diss_resistor),
            diss_arm: f(self.diss_arm, o.diss_arm),
            diss_leak: f(self.diss_leak, o.diss_leak),
            diss_dashpot: f(self.diss_dashpot, o.diss_dashpot),
            diss_nudge: f(self.diss_nudge, o.diss_nudge),
            diss_total: f(self.diss_total, o.diss_total),
            stored_change: f(self.stored_change, o.stored_change),
            energy_residual: f(self.energy_residual, o.energy_residual),
            entropy_production: f(self.entropy_production, o.entropy_production),
        }
    }

    /// The dissipation of the interval: `diss_total` (network) or the entropy production
    /// (chemical), whichever the family has.
    pub fn dissipated(&self) -> f64 {
        if self.diss_total.is_nan() {
            self.entropy_production
        } else {
            self.diss_total
        }
    }

    /// The dissipation classes as (name, value), absent ones left out (plots, summaries).
    pub fn classes(&self) -> Vec<(&'static str, f64)> {
        [
            ("diss_channel", self.diss_channel),
            ("diss_resistor", self.diss_resistor),
            ("diss_arm", self.diss_arm),
            ("diss_leak", self.diss_leak),
            ("diss_dashpot", self.diss_dashpot),
            ("diss_nudge", self.diss_nudge),
            ("entropy_production", self.entropy_production),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_nan())
        .collect()
    }
}

/// Energy figures of a training run (`summary.json`, key `energy`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnergySummary {
    /// Mean over the cycles of the dissipation per cycle (`diss_total`; chemical: entropy
    /// production), and the whole record summed over the run.
    pub dissipated_per_cycle: f64,
    pub total: Energy,
    /// Largest `|energy_residual|` of a cycle relative to that cycle's largest term.
    pub max_relative_residual: f64,
    /// Decades of cost reduction of the physical learner: `log10(cost_initial/cost_final)`.
    pub decades: f64,
    /// Dissipation per decade of cost reduction (NaN when the cost did not fall).
    pub dissipated_per_decade: f64,
    /// The same protocol with learning switched off (every ρ = 0): dissipation per cycle, over
    /// `baseline_cycles` cycles from the same initial state (None: not run or not available).
    pub baseline_dissipated_per_cycle: Option<f64>,
    pub baseline_cycles: usize,
    /// `dissipated_per_cycle − baseline_dissipated_per_cycle`: what learning adds.
    pub learning_extra_per_cycle: Option<f64>,
}

/// Largest `|energy_residual|` relative to the interval's largest term (NaN: no balance).
pub fn relative_residual(e: &Energy) -> f64 {
    let scale = [
        e.work_source,
        e.work_nudge,
        e.work_learning,
        e.diss_total,
        e.stored_change,
    ]
    .iter()
    .filter(|v| !v.is_nan())
    .fold(0.0f64, |a, v| a.max(v.abs()));
    if e.energy_residual.is_nan() {
        f64::NAN
    } else if scale > 0.0 {
        e.energy_residual.abs() / scale
    } else {
        0.0
    }
}
