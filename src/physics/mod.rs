//! Physics: the network model, the quasi-static equilibrium, element dynamics, drives and the
//! static references. Independent of files, the CLI and plots.
//!
//! The network is quasi-static and linear in its DOFs `x` (node potentials or displacements):
//! at every instant `A(w, β) x_f = b` (docs/physics.md §1.2), and the element-local states (arm
//! capacitor voltages / dashpot extensions `z`, chemical levels `x, r`) and the learnable
//! parameters (`w`, `l`) obey ODEs driven by the edge drops `y = Q x`.

pub mod diagnostics;
pub mod dopri;
pub mod dynamics;
pub mod energy;
pub mod equilibrium;
pub mod linsolve;
pub mod model;
pub mod run;
pub mod statics;
pub mod stiff;
pub mod system;

/// Failures of the physics layer. Every variant names what failed and, when known, the time.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PhysicsError {
    #[error("singular network: the equilibrium matrix is not positive definite at {dof}{}; is every part of the network connected to a source (and, for elastic2d, are rigid-body modes pinned)?", fmt_time(*.time))]
    Singular { dof: String, time: Option<f64> },
    #[error("non-finite value in {what} of element '{element}' at t = {time:.6}")]
    NonFinite {
        element: String,
        what: String,
        time: f64,
    },
    #[error("integration failed at t = {time:.6}: {reason}{}", if worst.is_empty() { String::new() } else { format!("; worst element: {worst}") })]
    Integration {
        reason: String,
        time: f64,
        worst: String,
    },
    #[error("linear solver: {what}")]
    Linear { what: String },
    #[error("{0}")]
    Invalid(String),
}

fn fmt_time(t: Option<f64>) -> String {
    match t {
        Some(t) => format!(" at t = {t:.6}"),
        None => String::new(),
    }
}

impl PhysicsError {
    /// Attach a time to errors that do not carry one yet.
    pub fn at_time(self, t: f64) -> Self {
        match self {
            PhysicsError::Singular { dof, time: None } => {
                PhysicsError::Singular { dof, time: Some(t) }
            }
            e => e,
        }
    }
}
