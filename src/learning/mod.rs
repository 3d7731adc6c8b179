//! Family-agnostic TCL evaluation and training.
//!
//! * [`rule`]: the hard threshold `N_θ` and its window (shared with the synapse lab and EP);
//! * [`energy`]: the energy record of a cycle or segment ([`Energy`]), one type for every family;
//! * [`metrics`]: [`References`] and the one definition of every comparison number;
//! * [`system`]: the family contract ([`LearningSystem`], [`Engine`]);
//! * [`session`]: one-cycle compare, training with the ideal-CL and gradient-descent
//!   reference learners, β annealing, epochs, checkpoint and resume;
//! * [`checkpoint_file`]: a checkpoint on disk (state plus an append-only row journal);
//! * [`policy`]: which load-time findings refuse a run.
//!
//! Formulas: docs/physics.md §7.5.

pub mod checkpoint_file;
pub mod energy;
pub mod metrics;
pub mod policy;
pub mod rule;
pub mod session;
pub mod system;

pub use energy::{Energy, EnergySummary};
pub use metrics::{cosine, lsq, Comparison, References};
pub use session::{one_cycle, Checkpoint, CycleRow, EpochRow, OneCycle, Session, SessionOptions};
pub use system::{CycleOut, Engine, Family, LearningSystem, SolveStats, SystemMeta};

use crate::chem::ChemError;
use crate::physics::PhysicsError;

/// Errors of a simulation run, in any family.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Physics(#[from] PhysicsError),
    #[error(transparent)]
    Chem(#[from] ChemError),
    /// The load-time diagnostics report errors and the run was not forced.
    #[error("{0}")]
    Refused(String),
    /// A valid model that this operation cannot take (e.g. `train` on a `hold` protocol).
    #[error("{0}")]
    BadInput(String),
    #[error("checkpoint: {0}")]
    Checkpoint(String),
}

impl SimError {
    /// Is this the user's input (exit 2) rather than a numerical failure (exit 3)?
    pub fn is_bad_input(&self) -> bool {
        match self {
            SimError::Refused(_) | SimError::BadInput(_) | SimError::Checkpoint(_) => true,
            SimError::Chem(ChemError::Invalid(_) | ChemError::Refused(_)) => true,
            SimError::Physics(PhysicsError::Invalid(_)) => false,
            _ => false,
        }
    }
}
