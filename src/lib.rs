//! # physlearn: simulator of physical learning networks
//!
//! Physical systems that learn without a processor, by **Temporal Contrastive Learning** (TCL).
//! Each element's learnable parameter θ_e (a conductance, a stiffness, a rest length, a total
//! linker concentration) changes by a Hebbian rule applied to a feedback-filtered local signal,
//!
//! ```text
//! dθ_e/dt = π ρ N_θ((K * s_e)(t)) F(θ_e)
//! ```
//!
//! where the memory kernel `K` of integral feedback has zero area, so `K * s ≈ τ_k ds/dt`. A
//! sawtooth in the nudge β(t) moves the network fast between the free and the clamped state and
//! slowly back; the threshold `N_θ` keeps the fast leg, so one cycle gives
//! `Δθ ≈ −ρ τ_k (s^C − s^F)`: the contrastive (coupled-learning) rule without explicit memory.
//!
//! ## The model and its units (docs/physics.md)
//!
//! * **Network families** (`flow`, `elastic2d`): at every instant the free DOFs solve the
//!   quasi-static equilibrium `A(w, β) x_f = b`, `A = Q_fᵀ (W + G_s) Q_f + β Q_Ofᵀ Q_Of`;
//!   edge drops `y = Q x`. Each element carries local ODEs (a capacitor arm
//!   `C ż = c (y − z) − g_L z`, a dashpot, an integral-feedback chemistry) and its learnables.
//!   Time is in units of the kernel time τ_k, potentials/displacements in the units of the
//!   netlist's sources.
//! * **Chemical family**: a mass-action reaction network `ẋ = N v(x, t)` whose learnables are
//!   total linker concentrations (docs/molecular.md).
//! * **References**, computed by the same code at the same θ: the ideal contrastive rule
//!   `Δθ_CL`, the exact gradient `∇C`, and the loop gain `G` (self-interaction of the update).
//!
//! ## Layout
//!
//! * [`load`] / [`Model`]: one entry point for every family; every `"auto"` is resolved.
//! * [`learning`]: the family contract ([`LearningSystem`]), the one definition of every
//!   metric, one-cycle compare, training with reference learners, checkpoints.
//! * [`protocol`]: the sawtooth, its legs and the β-annealing law, for every family.
//! * [`physics`] (flow/elastic2d) and [`chem`] (reaction networks): the families; their
//!   integrators (Dopri5, BDF) know no learning.
//! * [`netlist`], [`io`]: validated input with JSON-path faults; CSV/JSON/PNG output.
//! * [`sweep`]: parameter sweeps over netlist fields through the same pipeline.
//! * [`synapse`], [`ep`]: the single-synapse lab and layered EP/TCL-EP.
//!
//! ## Example: one cycle of a shipped netlist against the ideal rule
//!
//! ```
//! # fn main() -> Result<(), physlearn::Error> {
//! let model = physlearn::load(concat!(env!("CARGO_MANIFEST_DIR"), "/netlists/t1_flow_allostery.json"))?;
//! let one = model.compare(false)?;
//! println!("cos(Δθ, Δθ_CL) = {:.3}, loop gain {:?}", one.cmp.cos_cl, one.loop_gain);
//! assert!(one.cmp.cos_cl > 0.95);
//! for (id, d) in one.learnables.iter().zip(&one.delta).take(3) {
//!     println!("Δθ[{id}] = {d:+.3e}");
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Training: `Session::new(sys, &SessionOptions::default(), path, sha)` over the model's
//! system (see `examples/quickstart.rs`), then `session.run(|row, k, n| …)`; the rows are the
//! `train.csv` rows ([`io::tables::csv_text`] writes them).
pub mod chem;
pub mod ep;
pub mod error;
pub mod generate;
pub mod io;
pub mod learning;
pub mod model;
pub mod netlist;
pub mod physics;
pub mod protocol;
pub mod sim;
pub mod sweep;
pub mod synapse;
pub mod timeseries;

pub use error::{Error, ExitClass};
pub use learning::{Family, LearningSystem, Session, SessionOptions};
pub use model::{load, Compare, Model, System};
