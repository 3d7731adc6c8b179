//! The pieces of the TCL update rule that every engine shares: the hard threshold `N_θ` and the
//! threshold window it implies (docs/physics.md §1.6 and §7.3). The network engine, the synapse
//! lab and the EP module all call [`hard_threshold`]; the metrics use [`Window`].

use serde::{Deserialize, Serialize};

/// The hard threshold of the paper's eq. 6: `N_θ(x) = x` if `|x| ≥ θ`, else 0 (`|x| = θ`
/// passes).
#[inline]
pub fn hard_threshold(x: f64, theta: f64) -> f64 {
    if x.abs() >= theta {
        x
    } else {
        0.0
    }
}

/// The threshold window of one learnable: a contrast `A = |s^C − s^F|` is written on the fast
/// leg when `A/τ_f ≥ θ/τ` and blocked on the slow leg when `A/τ_s < θ/τ` (τ the kernel time), so
/// the contrasts the rule keeps form the half-open interval `[θ τ_f/τ, θ τ_s/τ)`.
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// Lower edge `θ τ_f/τ` (signal units).
    pub lo: f64,
    /// Upper edge `θ τ_s/τ` (signal units).
    pub hi: f64,
}

impl Window {
    /// The window of a threshold `θ` with kernel time `τ` under a sawtooth with legs `τ_f`,
    /// `τ_s`; `None` without a threshold (`θ ≤ 0`) or without a kernel (`τ ≤ 0`).
    pub fn new(theta: f64, tau_fast: f64, tau_slow: f64, tau_kernel: f64) -> Option<Self> {
        (theta > 0.0 && tau_kernel > 0.0).then(|| Window {
            lo: theta * tau_fast / tau_kernel,
            hi: theta * tau_slow / tau_kernel,
        })
    }

    /// Is the contrast magnitude `a` written by one cycle?
    pub fn contains(&self, a: f64) -> bool {
        a >= self.lo && a < self.hi
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_edge_passes_and_window_is_half_open() {
        assert_eq!(hard_threshold(0.5, 0.5), 0.5);
        assert_eq!(hard_threshold(-0.5, 0.5), -0.5);
        assert_eq!(hard_threshold(0.49, 0.5), 0.0);
        let w = Window::new(0.1, 10.0, 100.0, 1.0).unwrap();
        assert!(w.contains(1.0) && !w.contains(10.0) && !w.contains(0.99));
        assert!(Window::new(0.0, 10.0, 100.0, 1.0).is_none());
    }
}
