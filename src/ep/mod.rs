//! Layered energy-based network trained by Equilibrium Propagation (EP), with the standard EP rule
//! and the Temporal Contrastive Learning variant (TCL-EP) of Falk, Strupp, Scellier & Murugan
//! (arXiv 2312.17723, Fig. 3).
//!
//! # Model (eqs. 29-30)
//!
//! Layers `l = 0..L` with states `u_l ∈ [0,1]^{n_l}`; layer 0 is the input `x` (clamped), layer `L`
//! the output. With `ρ(u) = clip(u, 0, 1)`, symmetric weights `W_l` (`n_l × n_{l+1}`) between
//! consecutive layers and biases `b_l` (`l ≥ 1`):
//!
//! ```text
//! E(u) = ½ Σ_{l≥1} |u_l|² − Σ_{l≥1} b_l·ρ(u_l) − Σ_{l=0}^{L−1} ρ(u_l)ᵀ W_l ρ(u_{l+1})      (29)
//! F(u) = E(u) + β C(u),        C(u) = Σ_k (u_{L,k} − d_k)²       (d one-hot target)      (30)
//! ```
//!
//! States relax by projected gradient flow `u ← clip(u − ε ∂F/∂u, 0, 1)` (all layers updated
//! synchronously); since states stay in `[0,1]`, `ρ(u) = u` and `ρ′ = 1` there.
//!
//! # Learning rules
//!
//! * **EP** (standard): free state `u⁰` (β = 0), nudged state `u^β` relaxed from `u⁰`; with the
//!   Hebbian signals `s_ij = ⟨ρ(u_i) ρ(u_j)⟩` (minibatch mean; `s_i = ⟨ρ(u_i)⟩` for biases),
//!   `Δw_ij = α (s_ij^β − s_ij^0) / β`, β with a random sign per minibatch.
//! * **TCL-EP**: the nudge follows a sawtooth `β_k = β k/(n−1)`, `k = 0..n−1` (fast rise over `τ_f`,
//!   slow fall over `τ_s`, the same `n = 9` states reused on the way down); the signals are
//!   interpolated onto a periodic grid of step `Δt`, filtered by the kernel of eq. (31)
//!   `K(t) = ⅓ sin(2π t/τ_K)` on `[0, τ_K)`, passed through per-group thresholds `g_θ` (eq. 6),
//!   integrated over one period (eq. 7) and applied with per-layer rates:
//!   `Δw_ij = α · c/β · Δt Σ_n g_θ((K ∗ s_ij)(t_n))`, with the paper's gain `c = 0.5·10⁴`.
//!
//! Module map: [`model`] (architecture, parameters, energy, relaxation), [`tcl`] (kernel, sawtooth
//! schedule, filter map, thresholds), [`rules`] (the two update rules on the same code), [`data`]
//! (digits CSV, MNIST IDX, seeded split) and [`train`] (the training loop).

pub mod data;
pub mod model;
pub mod rules;
pub mod tcl;
pub mod train;

use std::path::PathBuf;

/// Errors of the EP module.
#[derive(Debug, thiserror::Error)]
pub enum EpError {
    /// A data file could not be read. (The I/O error is part of the message, not a separate
    /// `source`, so that error chains do not print it twice.)
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// A CSV data file is malformed at a given line (1-based, counting the header).
    #[error("{path}:{line}: {message}")]
    Csv {
        path: PathBuf,
        line: u64,
        message: String,
    },
    /// An IDX data file is malformed at a given byte offset.
    #[error("{path}: byte offset {offset}: {message}")]
    Idx {
        path: PathBuf,
        offset: u64,
        message: String,
    },
    /// Inconsistent or empty data sets (e.g. a label outside the output layer).
    #[error("data: {0}")]
    Data(String),
    /// An option is out of its allowed range.
    #[error("invalid option {name} = {value}: {reason}")]
    Option {
        name: &'static str,
        value: String,
        reason: String,
    },
    /// A state or parameter became non-finite during training.
    #[error("non-finite value in {what} at epoch {epoch}, minibatch {batch}")]
    NonFinite {
        what: &'static str,
        epoch: usize,
        batch: usize,
    },
}

impl EpError {
    pub(crate) fn option(
        name: &'static str,
        value: impl ToString,
        reason: impl Into<String>,
    ) -> Self {
        EpError::Option {
            name,
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// Whether the error is caused by user input (options or data), as opposed to a numerical
    /// failure.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, EpError::NonFinite { .. })
    }
}

/// A seeded random generator for task `index` of a run with master seed `seed`: ChaCha8 seeded
/// with `seed`, on stream `index` (independent streams, reproducible on every platform).
pub fn task_rng(seed: u64, index: u64) -> rand_chacha::ChaCha8Rng {
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    rng
}
