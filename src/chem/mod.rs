//! Molecular (chemical reaction network) family: linker learning through integral feedback
//! (docs/molecular.md; the TCL paper's Fig. 7C).
//!
//! * [`network`]: a generic elementary mass-action engine, `ẋ = N v(x, t)`,
//!   `v_r = k_r m_{g(r)}(t) Π x_s` (sign-safe at slightly negative stage states), with an
//!   analytic Jacobian and conservation laws.
//! * [`tcl`]: the `molecular_tcl` design: static (quasi-steady) solver, ideal rule
//!   `Δℓ = −ρ(D^C − D^F)`, cost gradients, loop gain, the automatic design and the expander.
//! * [`checks`]: the loader checks of §11 (balance, conservation laws, sign oracle, design).
//! * [`sim`]: segment-by-segment BDF integration of the full network, the valve sawtooth,
//!   gated input switches, β annealing, per-cycle metrics and training.
//! * [`reduced`]: the quasi-steady-state reduced model (Dopri5) for cross-tests.
//!
//! Units: time in kernel units τ_k (the integral-feedback delay a/b = 1), concentrations in
//! units c_u of the monomer totals. The learnable is the total linker `ℓ_e = L_e + C_e`.

pub mod checks;
pub mod network;
pub mod reduced;
pub mod sim;
pub mod system;
pub mod tcl;

use crate::protocol::{BetaSchedule, Direction};
use network::{Network, SpeciesId};
use serde::Serialize;
use tcl::{Design, Example, PairSpecies};

/// Errors of the chemical layer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChemError {
    #[error("static solver failed ({what}): {detail}")]
    StaticSolve { what: String, detail: String },
    #[error("integration of segment '{segment}' failed at t = {t:.6}: {reason}")]
    Integration {
        segment: String,
        t: f64,
        reason: String,
    },
    #[error(
        "species {species} went negative ({value:.3e} < −10·atol = {limit:.3e}) at t = {t:.6} in segment '{segment}'"
    )]
    Negative {
        species: String,
        value: f64,
        limit: f64,
        t: f64,
        segment: String,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("refused to run: {0}")]
    Refused(String),
}

/// A learnable weight: the pair's total linker (`sum` species), its debt species and the
/// co-occurrence signal.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Learnable {
    pub name: String,
    /// Pair index in `Design::pairs`.
    pub pair: usize,
    pub sum: Vec<SpeciesId>,
    pub debt: Vec<SpeciesId>,
    pub signal: SpeciesId,
    pub min: f64,
}

/// How the inputs move between examples.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SwitchSpec {
    /// Write gate closed during the ramp and the hold.
    pub gated: bool,
    /// Ramp duration; `None`: auto, `c_sw κ max|ΔD_sw|` (gated).
    pub tau_switch: Option<f64>,
    pub c_sw: f64,
    pub hold: f64,
}

/// The valve sawtooth and its schedule.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChemProtocol {
    pub direction: Direction,
    pub tau_fast: f64,
    pub tau_slow: f64,
    /// Gate level during cycles.
    pub write_gate: f64,
    pub switch: SwitchSpec,
    pub beta_schedule: BetaSchedule,
    pub cycles: usize,
    /// Gate-closed relaxation before the first cycle (§10: 40 units).
    pub settle: f64,
}

/// Which model is integrated.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    Full,
    Reduced,
}

/// Integrator settings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SolverSettings {
    pub rtol: f64,
    /// Absolute tolerance of species s: `atol_rel · scale_s`.
    pub atol_rel: f64,
    pub h_init: f64,
    pub max_steps: u32,
    pub model: ModelKind,
    /// Sparse LU of the Newton matrix (`jacobian: "analytic_sparse"`), else dense.
    pub sparse_lu: bool,
}

/// What a drive group's multiplier follows.
#[derive(Copy, Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum DriveRole {
    Beta,
    Gate,
    /// Input monomer `k` of `Design::inputs`.
    Input {
        k: usize,
    },
    /// Reservoir of output `k` of `Design::outputs`.
    Reservoir {
        k: usize,
    },
}

/// A validated chemical model: the explicit network plus the TCL view.
#[derive(Clone, Debug)]
pub struct ChemModel {
    pub network: Network,
    pub design: Design,
    pub pairs: Vec<PairSpecies>,
    pub learnables: Vec<Learnable>,
    pub output_names: Vec<String>,
    pub examples: Vec<Example>,
    pub protocol: ChemProtocol,
    pub solver: SolverSettings,
    pub drive_roles: Vec<DriveRole>,
    /// Sign check requested (`expect.sign_check = "static_fd"`).
    pub sign_check: bool,
}

impl ChemModel {
    /// Learnable values `ℓ_e = Σ sum species` of a state.
    pub fn ell(&self, x: &[f64]) -> Vec<f64> {
        self.learnables
            .iter()
            .map(|l| l.sum.iter().map(|s| x[s.0]).sum())
            .collect()
    }
    /// Debt (anti-linker) of a state.
    pub fn debt(&self, x: &[f64]) -> Vec<f64> {
        self.learnables
            .iter()
            .map(|l| l.debt.iter().map(|s| x[s.0]).sum())
            .collect()
    }
    /// ℓ in pair order (the design's order) from learnable order.
    pub fn ell_by_pair(&self, x: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; self.design.pairs.len()];
        for l in &self.learnables {
            out[l.pair] = l.sum.iter().map(|s| x[s.0]).sum();
        }
        out
    }
    /// Initial ℓ (pair order).
    pub fn ell0(&self) -> Vec<f64> {
        self.ell_by_pair(&self.network.initial_state())
    }
}
