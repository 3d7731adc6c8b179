//! The family contract. A physics family (the flow/elastic network, the chemical reaction
//! network) is a [`LearningSystem`]: a validated model with learnable parameters θ and
//! load-time diagnostics, which starts an [`Engine`] that integrates the protocol and computes
//! the static references. Everything about TCL and its comparison — the β law, the metrics,
//! the reference learners, one-cycle compare, training, checkpoints, the `train.csv` rows and
//! the diagnostics policy — is written once, in [`super::session`], over these two traits.

use super::metrics::References;
use super::SimError;
use crate::physics::diagnostics::Diagnostic;
use crate::protocol::{BetaSchedule, Direction};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt::Debug;

/// Which physics family a model belongs to.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Node potentials and currents: nanofluidic capacitor–memristor networks, resistors,
    /// integral-feedback (mechano-chemical) edges.
    Flow,
    /// 2D displacements and forces: viscoelastic spring networks.
    Elastic2d,
    /// Mass-action chemical reaction networks (molecular TCL).
    Chemical,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Flow => "flow",
            Family::Elastic2d => "elastic2d",
            Family::Chemical => "chemical",
        }
    }
}

/// What the pipeline needs to know of a model (all "auto" settings resolved).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SystemMeta {
    pub family: Family,
    /// Ids of the learnable parameters θ, in the order of every θ vector (network: the
    /// learning weights by element id, then the learning rest lengths as `"<id>.l"`;
    /// chemical: the linker pairs).
    pub learnables: Vec<String>,
    /// Number of training examples (cycle n uses example n mod N).
    pub n_examples: usize,
    /// Peak nudge β_max of the sawtooth (before annealing).
    pub beta_max: f64,
    pub direction: Direction,
    pub beta_schedule: BetaSchedule,
    /// Cycles the netlist asks for.
    pub cycles: usize,
    /// Longest kernel time τ_k at the initial θ (time units of the model): the tail `compare`
    /// appends after a `fast_fall` cycle is 10 of these.
    pub kernel_time: f64,
    /// Explicitly non-physical choices of the model (recorded in every output).
    pub non_physical: Vec<String>,
    /// The protocol is a sawtooth (cycles, `compare` and `train` make sense); false for a
    /// `hold`.
    pub cycling: bool,
}

impl SystemMeta {
    /// The settle of every cycle (docs/physics.md §6, "Kernel tail"): β = 0 held for 10 kernel
    /// times after the legs of a `fast_fall` cycle and before its input switch, with the
    /// cycle's own inputs, so the kernel's response to the fast leg is counted in its own cycle;
    /// 0 for `fast_rise` (the cycle ends on the slow leg). The network family's
    /// `Sawtooth::settle` and the chemical engine both use this value's definition
    /// (`Direction::tail` of the longest kernel time at the initial parameters).
    pub fn settle(&self) -> f64 {
        self.direction.tail(self.kernel_time)
    }
}

/// Work counters of an integration interval (the common columns of every family).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SolveStats {
    pub rhs_evals: u64,
    pub accepted_steps: u64,
    pub rejected_steps: u64,
}

/// The result of integrating one cycle (or a tail).
#[derive(Clone, Debug)]
pub struct CycleOut<E> {
    pub stats: SolveStats,
    /// Energy of the interval (docs/physics.md §12).
    pub energy: super::energy::Energy,
    /// Family-specific per-cycle columns, as far as the integration alone determines them.
    pub extras: E,
}

/// A running simulation of one model: it owns the dynamical state (parameters that the
/// physics writes, filter states, time) and the solvers, and it computes static references at
/// any θ. Resume is "construct, then [`Engine::restore`]".
pub trait Engine {
    /// Everything the integrator changes: the checkpoint payload.
    type State: Clone + Debug + Serialize + DeserializeOwned;
    /// Family-specific `train.csv` columns (after the common prefix).
    type Extras: Clone + Debug + Default + Serialize + DeserializeOwned;
    /// Family-specific static results that the extras need (chemical: `C_I` and its gradient).
    type Aux;

    fn snapshot(&self) -> Self::State;
    /// Called at every cycle boundary before anything else, so that a cycle's results depend
    /// only on the state there (bit-for-bit resume): drop cached factorisations.
    fn begin_cycle(&mut self) {}
    /// Continue from a snapshot (checks that it fits this model).
    fn restore(&mut self, s: Self::State) -> Result<(), SimError>;
    /// The current physical θ.
    fn theta(&self) -> Vec<f64>;
    /// Integrate cycle `cycle` (example `cycle mod N`) at peak nudge `beta`: its two legs, the
    /// settle ([`SystemMeta::settle`]: β = 0 after a `fast_fall` cycle, so the kernel tail is
    /// counted in its own cycle) and the input switch the family's protocol defines.
    fn run_cycle(&mut self, cycle: usize, beta: f64) -> Result<CycleOut<Self::Extras>, SimError>;
    /// Static references at θ for example `ex` at nudge `beta`.
    fn references(
        &mut self,
        theta: &[f64],
        ex: usize,
        beta: f64,
    ) -> Result<(References, Self::Aux), SimError>;
    /// Mean free-state cost over the training examples at θ.
    fn mean_cost(&mut self, theta: &[f64]) -> Result<f64, SimError>;
    /// Loop gain G at θ for example `ex` (`None`: not computed for this size).
    fn loop_gain(&mut self, theta: &[f64], ex: usize) -> Result<Option<f64>, SimError>;
    /// Classification accuracy at θ on the training (`test = false`) or test examples
    /// (`None`: not a classification task).
    fn accuracy(&mut self, _theta: &[f64], _test: bool) -> Result<Option<f64>, SimError> {
        Ok(None)
    }
    /// Complete the per-cycle extras once the update and its references are known.
    fn finish_extras(
        &self,
        _extras: &mut Self::Extras,
        _theta_start: &[f64],
        _delta: &[f64],
        _aux: &Self::Aux,
    ) {
    }
}

/// A validated physics model of one family (every "auto" setting resolved).
pub trait LearningSystem {
    type Engine<'a>: Engine
    where
        Self: 'a;

    fn meta(&self) -> &SystemMeta;
    /// Load-time diagnostics (the policy in [`super::policy`] decides what refuses a run).
    fn diagnostics(&self) -> &[Diagnostic];
    /// θ at the start (the netlist's values).
    fn theta0(&self) -> Vec<f64>;
    /// Keep θ inside its bounds (the explicit reference learners).
    fn project(&self, theta: &mut [f64]);
    /// Start a simulation at the model's initial state.
    fn engine(&self) -> Result<Self::Engine<'_>, SimError>;
    /// The same model with learning switched off (every rate ρ = 0, nothing else changed): the
    /// energy baseline of the protocol. `None`: the family has no such switch.
    fn without_learning(&self) -> Option<Self>
    where
        Self: Sized,
    {
        None
    }
    /// Family-specific entries of `compare --json` beyond the common set (chemical: the
    /// reduced-model cross-check), given the one-cycle update.
    fn compare_extras(
        &self,
        _delta: &[f64],
    ) -> Result<serde_json::Map<String, serde_json::Value>, SimError> {
        Ok(serde_json::Map::new())
    }
}
