//! The sawtooth protocol (eq. 5), the threshold nonlinearity (eq. 6), the weight update over
//! one period (eq. 7) and the adaptive threshold (eq. 45).
//!
//! Discretisation (§3.2): one period `T = τ_f + τ_s` is split into `N = T/Δt` cells
//! (`Δt` = the kernel's step). The signal is sampled at `t_n = nΔt`, the kernel is wrapped
//! onto the period (`K̃_m = Σ_{k ≡ m mod N} K_k`) and
//! `u_n = Δt Σ_k K̃_k s_{(n−k) mod N}` is a circular convolution computed by FFT. For the
//! piecewise-constant kernel and a locally linear signal this is exactly the continuous
//! `u(t_n + Δt/2) = I s(t_n + Δt/2) − M_1 ds/dt` (eq. 24). Then `Δw = Δt Σ_n g_θ(u_n)`.
//!
//! Because `s = s_0 + A z` with the zero-mean, unit-amplitude sawtooth `z`,
//! `u = s_0 I + A (K * z)`: one FFT serves every `(s_0, A)`. [`SawtoothResponse`] sorts
//! `v = K * z` once and keeps prefix sums, so each `Δw(A)` costs `O(log N)` and is exactly the
//! sum `Δt Σ_n g_θ(u_n)` (the set where `|u_n| ≥ θ` is a pair of tails of the sorted `v`).

use super::kernel::{neumaier_sum, SampledKernel};
use super::{finite, positive, Result, SynapseError};
use crate::learning::rule::hard_threshold;
use rustfft::num_complex::Complex;
use rustfft::FftPlanner;
use serde::Serialize;

/// Largest number of cells per period.
pub const MAX_PERIOD_SAMPLES: usize = 10_000_000;

/// Sawtooth timing (eq. 5): a linear rise over `τ_f` (free → clamped), a linear relaxation
/// over `τ_s` (clamped → free), period `T = τ_f + τ_s`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sawtooth {
    /// Rise time τ_f (time).
    pub tau_f: f64,
    /// Relaxation time τ_s (time).
    pub tau_s: f64,
}

impl Sawtooth {
    /// Both times must be finite and > 0.
    pub fn new(tau_f: f64, tau_s: f64) -> Result<Self> {
        Ok(Sawtooth {
            tau_f: positive("tau_fast", tau_f)?,
            tau_s: positive("tau_slow", tau_s)?,
        })
    }

    /// Period `T = τ_f + τ_s`.
    pub fn period(&self) -> f64 {
        self.tau_f + self.tau_s
    }

    /// Unit sawtooth `z(t) ∈ [−½, ½]`: `−½ + t/τ_f` on the rise, `½ − (t−τ_f)/τ_s` on the
    /// relaxation (periodic, zero mean).
    pub fn shape(&self, t: f64) -> f64 {
        -0.5 + crate::protocol::Direction::FastRise.fraction(self.tau_f, self.tau_s, t)
    }

    /// The signal of eq. 5: `s(t) = s_0 + A z(t)`, i.e. `s_F = s_0 − A/2`, `s_C = s_0 + A/2`.
    pub fn signal(&self, t: f64, s0: f64, amplitude: f64) -> f64 {
        s0 + amplitude * self.shape(t)
    }
}

/// Adaptive threshold of eq. 45: `θ = |−A_max/τ_s + I (s_0 + A_max/2)|`, the filtered signal
/// at the start of the relaxation for `A = A_max`.
pub fn adaptive_threshold(a_max: f64, tau_s: f64, area: f64, s0: f64) -> f64 {
    (-a_max / tau_s + area * (s0 + a_max / 2.0)).abs()
}

/// How the threshold θ is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Threshold {
    /// A fixed θ ≥ 0 (signal/time units, like `u`).
    Fixed(f64),
    /// Eq. 45 with `A_max` = the largest amplitude of the curve.
    Adaptive,
}

impl Threshold {
    /// The numerical θ for a curve with largest amplitude `a_max`.
    pub fn resolve(&self, a_max: f64, saw: &Sawtooth, area: f64, s0: f64) -> Result<f64> {
        let theta = match *self {
            Threshold::Fixed(t) => t,
            Threshold::Adaptive => adaptive_threshold(a_max, saw.tau_s, area, s0),
        };
        if theta.is_finite() && theta >= 0.0 {
            Ok(theta)
        } else {
            Err(SynapseError::InvalidParameter {
                name: "theta",
                value: theta,
                reason: "threshold must be finite and >= 0",
            })
        }
    }
}

/// The filtered unit sawtooth `v = K * z` over one period, prepared for fast Δw(A) curves.
#[derive(Debug, Clone)]
pub struct SawtoothResponse {
    saw: Sawtooth,
    dt: f64,
    /// Area of the (wrapped) kernel, `Δt Σ K`.
    area: f64,
    /// `v_n = (K * z)_n`, n = 0..N−1.
    v: Vec<f64>,
    /// `v` sorted ascending.
    sorted: Vec<f64>,
    /// `prefix[i] = Σ_{j<i} sorted[j]` (length N+1).
    prefix: Vec<f64>,
}

impl SawtoothResponse {
    /// Filter the unit sawtooth with `kernel`. If the period is not a whole number of kernel
    /// cells (to 1e−9), the kernel is first resampled onto `Δt = T/round(T/Δt)` (area kept).
    pub fn new(kernel: &SampledKernel, saw: Sawtooth) -> Result<Self> {
        let period = saw.period();
        let n_f = (period / kernel.dt()).round();
        if !(n_f >= 4.0 && n_f <= MAX_PERIOD_SAMPLES as f64) {
            return Err(SynapseError::InvalidParameter {
                name: "tau_fast + tau_slow",
                value: period,
                reason: "period / dt must give between 4 and 1e7 cells",
            });
        }
        let n = n_f as usize;
        let dt = period / n_f;
        let resampled;
        let k = if (dt / kernel.dt() - 1.0).abs() > 1e-9 {
            resampled = kernel.resample(dt)?;
            &resampled
        } else {
            kernel
        };
        let mut wrapped = vec![Complex::new(0.0, 0.0); n];
        for (i, &val) in k.values().iter().enumerate() {
            wrapped[i % n].re += val;
        }
        let mut z: Vec<Complex<f64>> = (0..n)
            .map(|i| Complex::new(saw.shape(i as f64 * dt), 0.0))
            .collect();
        let mut planner = FftPlanner::<f64>::new();
        let fwd = planner.plan_fft_forward(n);
        let inv = planner.plan_fft_inverse(n);
        fwd.process(&mut wrapped);
        fwd.process(&mut z);
        for (a, b) in z.iter_mut().zip(&wrapped) {
            *a *= *b;
        }
        inv.process(&mut z);
        let scale = dt / n as f64;
        let v: Vec<f64> = z.iter().map(|c| c.re * scale).collect();
        if v.iter().any(|x| !x.is_finite()) {
            return Err(SynapseError::Numerical(
                "filtered signal is not finite".into(),
            ));
        }
        let mut sorted = v.clone();
        sorted.sort_by(f64::total_cmp);
        let mut prefix = Vec::with_capacity(n + 1);
        let mut acc = 0.0;
        let mut comp = 0.0;
        prefix.push(0.0);
        for &x in &sorted {
            // Kahan-compensated running sum.
            let y = x - comp;
            let t = acc + y;
            comp = (t - acc) - y;
            acc = t;
            prefix.push(acc);
        }
        Ok(SawtoothResponse {
            saw,
            dt,
            area: k.area(),
            v,
            sorted,
            prefix,
        })
    }

    /// The protocol.
    pub fn sawtooth(&self) -> Sawtooth {
        self.saw
    }

    /// Cell width Δt (= period / N).
    pub fn dt(&self) -> f64 {
        self.dt
    }

    /// Kernel area seen by the protocol (`Δt Σ K`, wrapped kernel).
    pub fn area(&self) -> f64 {
        self.area
    }

    /// `v = K * z` for the unit sawtooth; `u = s_0 I + A v`.
    pub fn unit_response(&self) -> &[f64] {
        &self.v
    }

    /// Sample times `t_n = nΔt` of the signal (the filtered value `u_n` belongs to `t_n + Δt/2`).
    pub fn times(&self) -> Vec<f64> {
        (0..self.v.len()).map(|i| i as f64 * self.dt).collect()
    }

    /// Filtered signal `u_n = s_0 I + A v_n` (eq. 3).
    pub fn filtered(&self, s0: f64, amplitude: f64) -> Vec<f64> {
        let c = s0 * self.area;
        self.v.iter().map(|v| c + amplitude * v).collect()
    }

    /// `Δw = Δt Σ_n g_θ(u_n)` by direct summation (O(N); reference for tests).
    pub fn delta_w_direct(&self, s0: f64, amplitude: f64, theta: f64) -> f64 {
        let c = s0 * self.area;
        self.dt
            * neumaier_sum(
                self.v
                    .iter()
                    .map(|v| hard_threshold(c + amplitude * v, theta)),
            )
    }

    /// Count and sum of sorted values `≥ x`.
    fn upper_tail(&self, x: f64) -> (usize, f64) {
        let i = self.sorted.partition_point(|&v| v < x);
        let n = self.sorted.len();
        (n - i, self.prefix[n] - self.prefix[i])
    }

    /// Count and sum of sorted values `≤ x`.
    fn lower_tail(&self, x: f64) -> (usize, f64) {
        let i = self.sorted.partition_point(|&v| v <= x);
        (i, self.prefix[i])
    }

    /// `Δw(s_0, A, θ) = Δt Σ_n g_θ(s_0 I + A v_n)` (eq. 7) in `O(log N)`.
    pub fn delta_w(&self, s0: f64, amplitude: f64, theta: f64) -> Result<f64> {
        finite("s0", s0)?;
        finite("amplitude", amplitude)?;
        if !(theta.is_finite() && theta >= 0.0) {
            return Err(SynapseError::InvalidParameter {
                name: "theta",
                value: theta,
                reason: "threshold must be finite and >= 0",
            });
        }
        let c = s0 * self.area;
        let n_total = self.v.len();
        if amplitude == 0.0 {
            return Ok(self.dt * n_total as f64 * hard_threshold(c, theta));
        }
        // Sets where c + A v ≥ θ and where c + A v ≤ −θ.
        let (hi, lo) = if amplitude > 0.0 {
            (
                self.upper_tail((theta - c) / amplitude),
                self.lower_tail((-theta - c) / amplitude),
            )
        } else {
            (
                self.lower_tail((theta - c) / amplitude),
                self.upper_tail((-theta - c) / amplitude),
            )
        };
        let mut total = c * hi.0 as f64 + amplitude * hi.1;
        if theta > 0.0 {
            total += c * lo.0 as f64 + amplitude * lo.1;
        } else {
            // θ = 0: g is the identity; the two tails overlap only where u = 0.
            total = c * n_total as f64 + amplitude * self.prefix[n_total];
        }
        Ok(self.dt * total)
    }

    /// `Δw` for every amplitude (one FFT for the whole curve).
    pub fn curve(&self, s0: f64, amplitudes: &[f64], theta: f64) -> Result<Vec<f64>> {
        amplitudes
            .iter()
            .map(|&a| self.delta_w(s0, a, theta))
            .collect()
    }
}

/// `n` amplitudes `linspace(0, a_end, n, endpoint = false)`.
pub fn amplitude_grid(a_end: f64, n: usize) -> Vec<f64> {
    (0..n).map(|j| a_end * j as f64 / n as f64).collect()
}
