//! Synapse and kernel lab: single-synapse Temporal Contrastive Learning (paper §§2–3, App. A–F).
//!
//! A synapse sees a periodic sawtooth signal `s(t)` (eq. 5), filters it with a causal memory
//! kernel `K` (eq. 3), `u = K * s`, and changes its weight by the thresholded integral over one
//! period (eq. 7):
//!
//! ```text
//! Δw = ∫_0^{τ_f+τ_s} g_θ( (K * s)(t) ) dt,      g_θ(x) = x if |x| ≥ θ, else 0.
//! ```
//!
//! For slowly varying signals `K * s ≈ I s − M_1 ds/dt` (eq. 24) with the kernel area
//! `I = ∫K dt` and first moment `M_1 = ∫ t K dt`; with `I = 0`, `M_1 = −1` the synapse performs
//! the contrastive update `Δw ≈ s_C − s_F = A` inside an amplitude window `A_min ≤ A ≤ A_max`
//! whose width is `A_max/A_min = τ_s/τ_f` (eq. 9).
//!
//! Units: time in the paper's units (the E. coli kernel has `τ_K = 1/20 = 0.05`), signals in
//! arbitrary signal units, `K` in 1/time (area dimensionless, `M_1` in time; after the standard
//! normalisation `M_1 = −1`), `Δw` in signal·time.
//!
//! Modules:
//! * [`kernel`]: sampled kernels (cell averages on a uniform grid) and the analytic families
//!   (E. coli polynomial, exponential, integral feedback);
//! * [`ladder`]: the 2×5 Markov ladder (App. F): generator, steady state, dissipation, kernel;
//! * [`protocol`]: sawtooth, threshold, periodic FFT convolution and Δw(A) curves;
//! * [`analysis`]: 3-segment piecewise-linear fit, dynamic range and offset metrics;
//! * [`sweep`]: seeded, sharded, parallel sweeps and their tables;
//! * [`figures`]: the data, plots and output directories of the paper's synapse figures.

pub mod analysis;
pub mod api;
pub mod figures;
pub mod kernel;
pub mod ladder;
mod linalg;
pub mod protocol;
pub mod sweep;

pub use analysis::{
    fit_three_segments, pwlf_metrics, threshold_metrics, PiecewiseFit, RangeMetrics,
};
pub use kernel::{KernelSpec, SampledKernel};
pub use ladder::{LadderKernel, LadderParams};
pub use protocol::{adaptive_threshold, Sawtooth, SawtoothResponse, Threshold};
pub use sweep::{Shard, Table};

/// Errors of the synapse lab. Every variant names the offending value.
#[derive(Debug, thiserror::Error)]
pub enum SynapseError {
    /// A scalar parameter outside its allowed range.
    #[error("invalid parameter {name} = {value}: {reason}")]
    InvalidParameter {
        name: &'static str,
        value: f64,
        reason: &'static str,
    },
    /// A malformed sampled kernel or data series.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A shard specification such as `3/2`.
    #[error("invalid shard {spec:?}: {reason}")]
    BadShard { spec: String, reason: String },
    /// A numerical failure (non-finite values, singular systems, degenerate kernels).
    #[error("numerical failure: {0}")]
    Numerical(String),
    /// Shards that cannot be merged (missing tasks, different parameters).
    #[error("cannot merge sweep shards: {0}")]
    Merge(String),
    #[error(transparent)]
    Io(#[from] crate::io::IoError),
}

impl SynapseError {
    /// True for errors caused by user input (exit code 2 in the CLI).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            SynapseError::InvalidParameter { .. }
                | SynapseError::InvalidInput(_)
                | SynapseError::BadShard { .. }
                | SynapseError::Merge(_)
        )
    }
}

pub type Result<T> = std::result::Result<T, SynapseError>;

/// `value` if it is finite and > 0, else [`SynapseError::InvalidParameter`].
pub(crate) fn positive(name: &'static str, value: f64) -> Result<f64> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(SynapseError::InvalidParameter {
            name,
            value,
            reason: "must be finite and > 0",
        })
    }
}

/// `value` if it is finite, else [`SynapseError::InvalidParameter`].
pub(crate) fn finite(name: &'static str, value: f64) -> Result<f64> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(SynapseError::InvalidParameter {
            name,
            value,
            reason: "must be finite",
        })
    }
}
