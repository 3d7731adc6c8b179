//! The TCL side of TCL-EP: the sawtooth nudge schedule, the kernel of eq. (31) on a periodic time
//! grid, and the filter map that turns the recorded per-synapse signals into a weight change
//! (eqs. 6-7).
//!
//! The signal of one synapse is known at the `n` nudge levels `β_k = β k/(n−1)`. Along one period
//! `T = τ_f + τ_s` it is sampled at the rise times `τ_f k/(n−1)` (`k = 0..n−1`) and, reusing the
//! same states, at the fall times `τ_f + τ_s j/(n−1)` (`j = 1..n−1`, level `n−1−j`), and linearly
//! interpolated (periodically) onto the grid `t_m = m Δt`, `m = 0..N−1`, `N = T/Δt`. The causal
//! circular convolution `u_m = Δt Σ_k K_k s_{(m−k) mod N}` and the interpolation are linear, so
//! they are precomputed once as an `N × n` matrix `M` (the same for every synapse):
//!
//! ```text
//! u = M s,     Δw = Δt Σ_m g_θ(u_m),     g_θ(x) = x if |x| ≥ θ else 0          (6), (7)
//! ```
//!
//! Each synapse then costs `N·n` multiply-adds.

use super::EpError;
use crate::learning::rule::hard_threshold;

/// The kernel of eq. (31), `K(t) = ⅓ sin(2π t/τ_K)` on `0 ≤ t < τ_K`, sampled at `t_k = kΔt`.
/// With `τ_K/Δt` an integer the discrete area `Δt Σ K_k` is zero (to rounding) and the discrete
/// first moment is `M_1 = Δt² Σ k K_k` (`−5.129·10⁻⁴` for the defaults `τ_K = 0.1`, `Δt = 0.01`).
pub fn sine_kernel(tau_k: f64, dt: f64) -> Vec<f64> {
    let n = (tau_k / dt).round().max(1.0) as usize;
    (0..n)
        .map(|k| (2.0 * std::f64::consts::PI * k as f64 * dt / tau_k).sin() / 3.0)
        .collect()
}

/// Largest number of nudge levels accepted.
pub const MAX_LEVELS: usize = 1000;
/// Largest number of grid points (and kernel samples) accepted.
pub const MAX_GRID: usize = 1_000_000;

/// The sawtooth nudge protocol (eq. 5 sampled at `n_levels` nudge levels).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Sawtooth {
    /// Number of nudge levels `n` (`β_k = β k/(n−1)`); the paper's code uses 9.
    pub n_levels: usize,
    /// Rise time `τ_f` (free → clamped); 0.1 in the paper.
    pub tau_fast: f64,
    /// Fall time `τ_s` (clamped → free); 0.9 in the paper. Longer makes the rule closer to EP.
    pub tau_slow: f64,
}

impl Default for Sawtooth {
    fn default() -> Self {
        Sawtooth {
            n_levels: 9,
            tau_fast: 0.1,
            tau_slow: 0.9,
        }
    }
}

impl Sawtooth {
    /// Period `T = τ_f + τ_s`.
    pub fn period(&self) -> f64 {
        self.tau_fast + self.tau_slow
    }

    /// Nudge strength of level `k`, as a fraction of the full nudge `β`.
    pub fn level_fraction(&self, k: usize) -> f64 {
        k as f64 / (self.n_levels - 1) as f64
    }

    /// The recorded points of one period as `(time, level)`, from `(0, 0)` up to `(τ_f, n−1)` and
    /// down to `(T, 0)`.
    pub fn history(&self) -> Vec<(f64, usize)> {
        let n = self.n_levels;
        let d = (n - 1) as f64;
        let mut h: Vec<(f64, usize)> = (0..n).map(|k| (self.tau_fast * k as f64 / d, k)).collect();
        h.extend((1..n).map(|j| (self.tau_fast + self.tau_slow * j as f64 / d, n - 1 - j)));
        h
    }
}

/// The precomputed linear map from the `n` level signals of a synapse to its filtered signal on
/// the periodic grid, and the thresholded period integral.
#[derive(Debug, Clone)]
pub struct TclFilter {
    sawtooth: Sawtooth,
    dt: f64,
    n_grid: usize,
    kernel: Vec<f64>,
    /// Row-major `N × n` map `M`.
    map: Vec<f64>,
    /// The non-zero entries `(k, M_mk)` of each row `m` (a grid point's kernel window touches
    /// only the levels of the sawtooth segments it overlaps).
    sparse: Vec<Vec<(usize, f64)>>,
}

impl TclFilter {
    /// Build the map for a sawtooth, the kernel of eq. (31) with timescale `tau_k`, and grid step
    /// `dt`. The period must be a whole number of grid steps.
    pub fn new(sawtooth: Sawtooth, tau_k: f64, dt: f64) -> Result<Self, EpError> {
        if !(2..=MAX_LEVELS).contains(&sawtooth.n_levels) {
            return Err(EpError::option(
                "nudge levels",
                sawtooth.n_levels,
                format!("need 2 to {MAX_LEVELS} levels"),
            ));
        }
        for (name, v) in [
            ("tau_fast", sawtooth.tau_fast),
            ("tau_slow", sawtooth.tau_slow),
            ("tau_k", tau_k),
            ("dt", dt),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(EpError::option(name, v, "must be positive and finite"));
            }
        }
        let period = sawtooth.period();
        let n_grid_f = period / dt;
        let n_grid = n_grid_f.round() as usize;
        if n_grid < 2 || (n_grid_f - n_grid as f64).abs() > 1e-6 * n_grid_f || n_grid > MAX_GRID {
            return Err(EpError::option(
                "dt",
                dt,
                format!("the period {period} must be a whole number (2..{MAX_GRID}) of grid steps"),
            ));
        }
        let n_kernel = (tau_k / dt).round();
        if n_kernel > MAX_GRID as f64 || n_grid as f64 * n_kernel.min(n_grid as f64) > 1e8 {
            return Err(EpError::option(
                "tau_k",
                tau_k,
                format!(
                    "the kernel needs {n_kernel} samples of dt = {dt} on a {n_grid}-point grid; \
                     keep tau_k/dt ≤ {MAX_GRID} and (T/dt)·min(tau_k, T)/dt ≤ 1e8"
                ),
            ));
        }
        let kernel = sine_kernel(tau_k, dt);
        let n = sawtooth.n_levels;
        // Interpolation weights P (N × n), periodic linear interpolation through the history.
        let hist = sawtooth.history();
        let mut interp = vec![0.0; n_grid * n];
        for m in 0..n_grid {
            let t = m as f64 * dt;
            // Find the segment [t_a, t_b] containing t (the last point is at t = T).
            let mut seg = hist.len() - 2;
            for s in 0..hist.len() - 1 {
                if t <= hist[s + 1].0 {
                    seg = s;
                    break;
                }
            }
            let (ta, ka) = hist[seg];
            let (tb, kb) = hist[seg + 1];
            let w = if tb > ta {
                ((t - ta) / (tb - ta)).clamp(0.0, 1.0)
            } else {
                1.0
            };
            interp[m * n + ka] += 1.0 - w;
            interp[m * n + kb] += w;
        }
        // Kernel aliased onto the period (for kernels longer than the period).
        let mut k_alias = vec![0.0; n_grid];
        for (k, &v) in kernel.iter().enumerate() {
            k_alias[k % n_grid] += v;
        }
        // M = Δt · circulant(K) · P.
        let mut map = vec![0.0; n_grid * n];
        for m in 0..n_grid {
            for (k, &kv) in k_alias.iter().enumerate() {
                if kv == 0.0 {
                    continue;
                }
                let src = (m + n_grid - k) % n_grid;
                for l in 0..n {
                    map[m * n + l] += dt * kv * interp[src * n + l];
                }
            }
        }
        let sparse = map
            .chunks_exact(n)
            .map(|row| {
                row.iter()
                    .enumerate()
                    .filter(|(_, v)| **v != 0.0)
                    .map(|(k, v)| (k, *v))
                    .collect()
            })
            .collect();
        Ok(TclFilter {
            sawtooth,
            dt,
            n_grid,
            kernel,
            map,
            sparse,
        })
    }

    pub fn sawtooth(&self) -> &Sawtooth {
        &self.sawtooth
    }

    pub fn dt(&self) -> f64 {
        self.dt
    }

    pub fn n_grid(&self) -> usize {
        self.n_grid
    }

    /// The sampled kernel `K_k`.
    pub fn kernel(&self) -> &[f64] {
        &self.kernel
    }

    /// Discrete kernel area `I = Δt Σ K_k` (zero for eq. 31 up to rounding).
    pub fn kernel_area(&self) -> f64 {
        self.dt * self.kernel.iter().sum::<f64>()
    }

    /// Discrete kernel first moment `M_1 = Δt² Σ k K_k` (negative: the kernel differentiates).
    pub fn kernel_first_moment(&self) -> f64 {
        self.dt
            * self.dt
            * self
                .kernel
                .iter()
                .enumerate()
                .map(|(k, v)| k as f64 * v)
                .sum::<f64>()
    }

    /// The threshold of the paper's rule (eq. 28 saturated, App. A.2): the filtered signal of the
    /// slow relaxation for the largest amplitude, `θ = |M_1| A_max / τ_s`. Amplitudes between
    /// `A_max τ_f/τ_s` and `A_max` then pass only on the fast rise.
    pub fn paper_threshold(&self, a_max: f64) -> f64 {
        self.kernel_first_moment().abs() * a_max.abs() / self.sawtooth.tau_slow
    }

    /// The filtered signal `u = M s` on the grid for the level signals `s` (length `n`).
    pub fn filtered(&self, s: &[f64]) -> Vec<f64> {
        let n = self.sawtooth.n_levels;
        (0..self.n_grid)
            .map(|m| {
                self.map[m * n..(m + 1) * n]
                    .iter()
                    .zip(s)
                    .map(|(a, b)| a * b)
                    .sum()
            })
            .collect()
    }

    /// The thresholded period integral `Δt Σ_m g_θ(u_m)` of eq. (7) for level signals `s`.
    ///
    /// The constant part `s_0` is removed first: the kernel has zero area, so it contributes
    /// nothing in exact arithmetic, and removing it keeps a synapse whose signal does not change
    /// at exactly zero update. Fails if `s` does not hold one value per nudge level.
    #[inline]
    pub fn integrate(&self, s: &[f64], theta: f64) -> Result<f64, EpError> {
        let n = self.sawtooth.n_levels;
        self.check_levels(s.len())?;
        let s0 = s[0];
        let mut ds = [0.0f64; 32];
        let mut any = false;
        if n <= ds.len() {
            for k in 0..n {
                ds[k] = s[k] - s0;
                any |= ds[k] != 0.0;
            }
            if !any {
                return Ok(0.0);
            }
            let ds = &ds[..n];
            let mut acc = 0.0;
            for row in self.map.chunks_exact(n) {
                let mut u = 0.0;
                for k in 0..n {
                    u += row[k] * ds[k];
                }
                acc += hard_threshold(u, theta);
            }
            Ok(acc * self.dt)
        } else {
            let ds: Vec<f64> = s.iter().map(|v| v - s0).collect();
            if ds.iter().all(|v| *v == 0.0) {
                return Ok(0.0);
            }
            let mut acc = 0.0;
            for row in self.map.chunks_exact(n) {
                let u: f64 = row.iter().zip(&ds).map(|(a, b)| a * b).sum();
                acc += hard_threshold(u, theta);
            }
            Ok(acc * self.dt)
        }
    }
}

/// Number of synapses processed together by [`TclFilter::integrate_group`].
pub const BLOCK: usize = 64;

/// Blocks per parallel task (about 0.1 ms of work; smaller tasks cost more in scheduling than
/// they gain on two cores, measured on the digits task).
const MIN_BLOCKS_PER_TASK: usize = 8;

impl TclFilter {
    /// `max_m Σ_k |M_mk|`: `|u_m| ≤ gain_bound · max_k |s_k − s_0|` for every grid point.
    pub fn gain_bound(&self) -> f64 {
        let n = self.sawtooth.n_levels;
        self.map
            .chunks_exact(n)
            .map(|row| row.iter().map(|v| v.abs()).sum::<f64>())
            .fold(0.0, f64::max)
    }

    /// [`TclFilter::integrate`] for a whole parameter group: `levels[k]` holds the level-`k`
    /// signals of every synapse of the group, `out` receives `Δt Σ_m g_θ(u_m)` per synapse.
    ///
    /// Synapses whose filtered signal provably stays below `θ` (by [`TclFilter::gain_bound`],
    /// with a margin far above rounding) or does not change are set to zero without filtering;
    /// the others are filtered in blocks of [`BLOCK`] synapses, vectorised across synapses and
    /// in parallel over blocks. The arithmetic per synapse is the same, in the same order, as in
    /// [`TclFilter::integrate`], so the results agree bit for bit.
    ///
    /// Fails unless there is one slice per nudge level, each as long as `out`.
    pub fn integrate_group(
        &self,
        levels: &[&[f64]],
        theta: f64,
        out: &mut [f64],
    ) -> Result<(), EpError> {
        use rayon::prelude::*;
        let n = self.sawtooth.n_levels;
        self.check_levels(levels.len())?;
        let len = out.len();
        if let Some(bad) = levels.iter().find(|l| l.len() != len) {
            return Err(EpError::Data(format!(
                "level signals of {} synapses for {len} outputs",
                bad.len()
            )));
        }
        let bound = self.gain_bound() * (1.0 + 1e-9);
        let mut amax = vec![0.0f64; len];
        for l in &levels[1..] {
            for ((a, v), v0) in amax.iter_mut().zip(l.iter()).zip(levels[0].iter()) {
                *a = a.max((v - v0).abs());
            }
        }
        let active: Vec<usize> = (0..len)
            .filter(|&i| amax[i] > 0.0 && amax[i] * bound >= theta)
            .collect();
        out.fill(0.0);
        let mut values = vec![0.0; active.len()];
        values
            .par_chunks_mut(BLOCK)
            .zip(active.par_chunks(BLOCK))
            .with_min_len(MIN_BLOCKS_PER_TASK)
            .for_each(|(vals, idx)| {
                let mut ds = vec![[0.0f64; BLOCK]; n];
                for (k, dk) in ds.iter_mut().enumerate() {
                    for (j, &i) in idx.iter().enumerate() {
                        dk[j] = levels[k][i] - levels[0][i];
                    }
                }
                self.integrate_block(&ds, theta, vals);
            });
        for (&i, v) in active.iter().zip(&values) {
            out[i] = *v;
        }
        Ok(())
    }

    fn check_levels(&self, got: usize) -> Result<(), EpError> {
        if got != self.sawtooth.n_levels {
            return Err(EpError::Data(format!(
                "{got} level signals for a sawtooth of {} levels",
                self.sawtooth.n_levels
            )));
        }
        Ok(())
    }

    /// The filter kernel for one block: `ds[k][j] = s_k − s_0` of synapse `j`; results to
    /// `out[..len]` (`len ≤ BLOCK`; unused lanes hold zeros).
    ///
    /// Only the non-zero entries of each row of `M` are visited: skipping a term `0 · ds` leaves
    /// the floating-point sum unchanged, so this agrees bit for bit with the dense loop.
    fn integrate_block(&self, ds: &[[f64; BLOCK]], theta: f64, out: &mut [f64]) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2 (checked just above). The AVX2 build runs the
                // same scalar code (no fused multiply-add), so the results are bit-identical.
                unsafe { self.integrate_block_avx2(ds, theta, out) };
                return;
            }
        }
        self.integrate_block_portable(ds, theta, out);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn integrate_block_avx2(&self, ds: &[[f64; BLOCK]], theta: f64, out: &mut [f64]) {
        self.integrate_block_portable(ds, theta, out);
    }

    #[inline(always)]
    fn integrate_block_portable(&self, ds: &[[f64; BLOCK]], theta: f64, out: &mut [f64]) {
        let mut acc = [0.0f64; BLOCK];
        let mut u = [0.0f64; BLOCK];
        for row in &self.sparse {
            u.fill(0.0);
            for &(k, c) in row {
                let dk = &ds[k];
                for i in 0..BLOCK {
                    u[i] += c * dk[i];
                }
            }
            for i in 0..BLOCK {
                acc[i] += hard_threshold(u[i], theta);
            }
        }
        for (o, a) in out.iter_mut().zip(acc.iter()) {
            *o = a * self.dt;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_moments_match_the_paper() {
        let f = TclFilter::new(Sawtooth::default(), 0.1, 0.01).unwrap();
        assert_eq!(f.kernel().len(), 10);
        assert_eq!(f.n_grid(), 100);
        assert!(f.kernel_area().abs() < 1e-15);
        assert!((f.kernel_first_moment() + 5.129e-4).abs() < 1e-7);
    }

    #[test]
    fn history_is_a_closed_sawtooth() {
        let h = Sawtooth::default().history();
        assert_eq!(h.len(), 17);
        assert_eq!(h[0], (0.0, 0));
        assert!((h[8].0 - 0.1).abs() < 1e-15 && h[8].1 == 8);
        assert!((h[16].0 - 1.0).abs() < 1e-15 && h[16].1 == 0);
    }

    #[test]
    fn linear_ramp_gives_the_documented_gains() {
        // s_k linear in k with total change D: rise output ≈ 5.13e-3 D, fall ≈ −5.7e-4 D.
        let f = TclFilter::new(Sawtooth::default(), 0.1, 0.01).unwrap();
        let s: Vec<f64> = (0..9).map(|k| k as f64 / 8.0).collect();
        let u = f.filtered(&s);
        assert!((u[10] - 5.129e-3).abs() < 1e-4, "{}", u[10]);
        assert!((u[60] + 5.129e-4 / 0.9).abs() < 1e-5, "{}", u[60]);
        // Zero area: the unthresholded integral vanishes.
        assert!(f.integrate(&s, 0.0).unwrap().abs() < 1e-17);
        // A threshold between the two passes only the rise: ≈ 0.1 · 5.13e-3 minus edge effects.
        let dw = f.integrate(&s, 1e-3).unwrap();
        assert!(dw > 4.0e-4 && dw < 5.2e-4, "{dw}");
    }

    #[test]
    fn rejects_bad_grids() {
        assert!(TclFilter::new(Sawtooth::default(), 0.1, 0.003).is_err());
        assert!(TclFilter::new(Sawtooth::default(), 0.1, 0.0).is_err());
        let bad = Sawtooth {
            n_levels: 1,
            ..Sawtooth::default()
        };
        assert!(TclFilter::new(bad, 0.1, 0.01).is_err());
    }
}
