//! The 2×5 Markov ladder of App. F: a receptor that is active (top rail) or inactive (bottom
//! rail) at methylation level `m = 0..4`.
//!
//! * Generator (eq. 49): `dp/dt = Q p`, `Q_ij` = rate j→i, `Q_jj = −Σ_{i≠j} Q_ij`.
//! * Horizontal rates (eq. 50): top rail `m→m+1: eγ`, `m+1→m: 1`; bottom rail `m+1→m: eγ`,
//!   `m→m+1: 1`. `γ = 1` is detailed balance; every elementary square has cycle affinity
//!   `−2 ln γ` in the counter-clockwise direction.
//! * Rung energy (eq. 51): `ΔE_m(s) = 2(1 − m) + ln[(1 + s/K_I)/(1 + s/K_A)]`, `K_I = 18.2`,
//!   `K_A = 3000` (µM).
//! * Vertical rates (eq. 52): `w↓_m = F e^{max(ΔE_m,0)}` (top→bottom),
//!   `w↑_m = F e^{max(−ΔE_m,0)}` (bottom→top).
//! * Kernel (eqs. 53–58, §3.3): activity `a(t) = Σ_m p_top,m(t)` after a step `s: 0 → s_step`
//!   from the steady state; `K_raw` = cell-average derivative `(a_{k+1} − a_k)/Δt`; time is
//!   compressed by `λ` (default 5) and `K = −K_raw/|M_1|` (first moment −1 for adapting kernels).
//! * Dissipation (eq. 59), entropy production rate with `k_B T = 1`:
//!   `σ = Σ_{i<j} (Q_ij p_j − Q_ji p_i) ln[Q_ij p_j/(Q_ji p_i)]`, and the cycle form
//!   `σ = −2 ln γ Σ_{m=0}^{3} J_m`, `J_m = p_top,m+1 − eγ p_top,m` (eq. 13).

use super::kernel::SampledKernel;
use super::linalg::expm;
use super::{finite, positive, Result, SynapseError};
use nalgebra::{DMatrix, DVector};
use serde::Serialize;
use std::f64::consts::E;

/// Number of methylation levels per rail.
pub const LEVELS: usize = 5;
/// Number of ladder states (top rail 0..4, bottom rail 5..9).
pub const STATES: usize = 2 * LEVELS;
/// Inactive-state dissociation constant K_I (µM).
pub const K_I: f64 = 18.2;
/// Active-state dissociation constant K_A (µM).
pub const K_A: f64 = 3000.0;

/// Index of the top-rail (active) state at level `m`.
pub fn top(m: usize) -> usize {
    m
}
/// Index of the bottom-rail (inactive) state at level `m`.
pub fn bottom(m: usize) -> usize {
    LEVELS + m
}

/// Parameters of a ladder kernel computation (§3.3 defaults).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LadderParams {
    /// Non-equilibrium drive γ > 0 (γ = 1: detailed balance; smaller: more dissipation).
    pub gamma: f64,
    /// Vertical/horizontal rate ratio F > 0 (default 25); larger F = faster activity switching.
    pub f: f64,
    /// Ligand step height `s_step` (µM, default 200).
    pub s_step: f64,
    /// Markov-time step of the step response (default 5e−4).
    pub dt: f64,
    /// Markov-time duration of the step response (default 5).
    pub duration: f64,
    /// Time compression λ between Markov time and protocol time (default 5).
    pub compression: f64,
}

impl LadderParams {
    /// Defaults of §3.3 with the given γ.
    pub fn new(gamma: f64) -> Self {
        LadderParams {
            gamma,
            f: 25.0,
            s_step: 200.0,
            dt: 5e-4,
            duration: 5.0,
            compression: 5.0,
        }
    }

    fn validate(&self) -> Result<usize> {
        positive("gamma", self.gamma)?;
        positive("F", self.f)?;
        finite("step", self.s_step)?;
        if self.s_step <= 0.0 {
            return Err(SynapseError::InvalidParameter {
                name: "step",
                value: self.s_step,
                reason: "ligand step must be > 0 (a zero step has no response to normalise)",
            });
        }
        positive("ladder dt", self.dt)?;
        positive("ladder duration", self.duration)?;
        positive("compression", self.compression)?;
        let n = (self.duration / self.dt).round();
        if !(1.0..=1e7).contains(&n) {
            return Err(SynapseError::InvalidParameter {
                name: "ladder dt",
                value: self.dt,
                reason: "duration/dt must give between 1 and 1e7 steps",
            });
        }
        Ok(n as usize)
    }
}

/// Rung energy `ΔE_m(s)` of eq. 51 (units of k_B T), `s` in µM.
pub fn rung_energy(m: usize, s: f64) -> f64 {
    2.0 * (1.0 - m as f64) + ((1.0 + s / K_I) / (1.0 + s / K_A)).ln()
}

/// Generator `Q(s; γ, F)` of eq. 49 (`Q_ij` = rate j→i; columns sum to 0).
pub fn generator(gamma: f64, f: f64, s: f64) -> Result<DMatrix<f64>> {
    positive("gamma", gamma)?;
    positive("F", f)?;
    finite("s", s)?;
    let mut q = DMatrix::<f64>::zeros(STATES, STATES);
    let mut rate = |from: usize, to: usize, k: f64| q[(to, from)] += k;
    let cw = E * gamma;
    for m in 0..LEVELS - 1 {
        rate(top(m), top(m + 1), cw);
        rate(top(m + 1), top(m), 1.0);
        rate(bottom(m + 1), bottom(m), cw);
        rate(bottom(m), bottom(m + 1), 1.0);
    }
    for m in 0..LEVELS {
        let de = rung_energy(m, s);
        rate(top(m), bottom(m), f * de.max(0.0).exp());
        rate(bottom(m), top(m), f * (-de).max(0.0).exp());
    }
    for j in 0..STATES {
        let out: f64 = (0..STATES).filter(|&i| i != j).map(|i| q[(i, j)]).sum();
        q[(j, j)] = -out;
    }
    if q.iter().all(|v| v.is_finite()) {
        Ok(q)
    } else {
        Err(SynapseError::Numerical(format!(
            "ladder generator has non-finite rates (gamma {gamma}, F {f}, s {s})"
        )))
    }
}

/// Steady state `Q p = 0`, `Σ p = 1`: the null vector of the generator computed by the
/// Grassmann–Taksar–Heyman elimination, which involves no subtractions and so keeps full
/// relative accuracy even for occupancies of 1e−100 (small γ).
pub fn steady_state(q: &DMatrix<f64>) -> Result<DVector<f64>> {
    let n = q.nrows();
    // r[i][j] = rate i→j.
    let mut r = q.transpose();
    let mut s = vec![0.0; n];
    for k in (1..n).rev() {
        let sk: f64 = (0..k).map(|j| r[(k, j)]).sum();
        if sk.is_nan() || sk <= 0.0 {
            return Err(SynapseError::Numerical(format!(
                "Markov chain is reducible (state {k} has no path down); no unique steady state"
            )));
        }
        s[k] = sk;
        for i in 0..k {
            let rik = r[(i, k)];
            if rik != 0.0 {
                for j in 0..k {
                    if i != j {
                        r[(i, j)] += rik * r[(k, j)] / sk;
                    }
                }
            }
        }
    }
    let mut p = vec![0.0; n];
    p[0] = 1.0;
    for k in 1..n {
        p[k] = (0..k).map(|i| p[i] * r[(i, k)]).sum::<f64>() / s[k];
    }
    let total: f64 = p.iter().sum();
    if !(total.is_finite() && total > 0.0) {
        return Err(SynapseError::Numerical(
            "steady state normalisation failed".into(),
        ));
    }
    Ok(DVector::from_iterator(n, p.into_iter().map(|v| v / total)))
}

/// Steady state from the SVD null space of `Q` (right singular vector of the smallest
/// singular value), normalised to `Σ p = 1`. Loses relative accuracy for occupancies below
/// ~1e−16; used as an independent cross-check of [`steady_state`].
pub fn steady_state_svd(q: &DMatrix<f64>) -> Result<DVector<f64>> {
    let svd = nalgebra::linalg::SVD::try_new(q.clone(), false, true, 1e-15, 10_000)
        .ok_or_else(|| SynapseError::Numerical("SVD of the ladder generator failed".into()))?;
    let v_t = svd
        .v_t
        .ok_or_else(|| SynapseError::Numerical("SVD returned no right vectors".into()))?;
    let (imin, _) =
        svd.singular_values
            .iter()
            .enumerate()
            .fold(
                (0, f64::INFINITY),
                |acc, (i, &v)| if v < acc.1 { (i, v) } else { acc },
            );
    let row = v_t.row(imin).transpose();
    let total: f64 = row.iter().sum();
    if total == 0.0 || !total.is_finite() {
        return Err(SynapseError::Numerical(
            "SVD null vector sums to zero".into(),
        ));
    }
    Ok(row / total)
}

/// Steady-state entropy production of eq. 59 (k_B T = 1, per unit Markov time).
pub fn dissipation(q: &DMatrix<f64>, p: &DVector<f64>) -> Result<f64> {
    let n = q.nrows();
    let mut sigma = 0.0;
    for i in 0..n {
        for j in (i + 1)..n {
            let fwd = q[(i, j)] * p[j];
            let bwd = q[(j, i)] * p[i];
            if q[(i, j)] > 0.0 || q[(j, i)] > 0.0 {
                if !(fwd > 0.0 && bwd > 0.0) {
                    return Err(SynapseError::Numerical(format!(
                        "edge {i}<->{j} is not reversible or has zero flux; entropy production diverges"
                    )));
                }
                sigma += (fwd - bwd) * (fwd / bwd).ln();
            }
        }
    }
    Ok(sigma)
}

/// Cycle form of the dissipation (eq. 13): `σ = −2 ln γ Σ_{m=0}^{3} J_m`,
/// `J_m = p_top,m+1 · 1 − p_top,m · eγ` (counter-clockwise current through top edge m+1→m).
pub fn dissipation_cycle(gamma: f64, p: &DVector<f64>) -> f64 {
    let j: f64 = (0..LEVELS - 1)
        .map(|m| p[top(m + 1)] - p[top(m)] * E * gamma)
        .sum();
    -2.0 * gamma.ln() * j
}

/// Steady-state dissipation of the ladder at signal `s` by both formulas.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Dissipation {
    /// Eq. 59 (Schnakenberg sum over edges).
    pub schnakenberg: f64,
    /// Cycle form, eq. 13.
    pub cycle: f64,
}

/// Dissipation of `Q(s; γ, F)` at its steady state, by eq. 59 and by the cycle form.
pub fn steady_dissipation(gamma: f64, f: f64, s: f64) -> Result<Dissipation> {
    let q = generator(gamma, f, s)?;
    let p = steady_state(&q)?;
    Ok(Dissipation {
        schnakenberg: dissipation(&q, &p)?,
        cycle: dissipation_cycle(gamma, &p),
    })
}

/// A ladder kernel with its diagnostics.
#[derive(Debug, Clone, Serialize)]
pub struct LadderKernel {
    pub params: LadderParams,
    /// Normalised kernel on the compressed grid `Δt' = dt/λ` (first moment ∓1).
    pub kernel: SampledKernel,
    /// Activity `a(t_k)` in Markov time, `k = 0..n` (n+1 values).
    pub activity: Vec<f64>,
    /// First moment of the raw kernel on the compressed grid (before normalisation).
    pub raw_first_moment: f64,
    /// Area of the normalised kernel.
    pub area: f64,
    /// First moment of the normalised kernel (−1 for adapting kernels).
    pub first_moment: f64,
    /// Steady-state dissipation at `s = 0` with the same γ and F.
    pub dissipation: Dissipation,
    /// Steady state at `s = 0` (top rail 0..4, bottom 5..9).
    pub steady_state: Vec<f64>,
    /// Largest deviation of `Σ p(t)` from 1 along the step response.
    pub max_probability_error: f64,
}

impl LadderKernel {
    /// Build the kernel (§3.3): steady state at `s = 0`, exact propagation
    /// `p_{k+1} = exp(Q(s_step) Δt) p_k`, cell-average derivative, time compression, `−K/|M_1|`.
    pub fn compute(params: &LadderParams) -> Result<Self> {
        let n = params.validate()?;
        let q0 = generator(params.gamma, params.f, 0.0)?;
        let p0 = steady_state(&q0)?;
        let q1 = generator(params.gamma, params.f, params.s_step)?;
        let step_dyn = expm(&(q1 * params.dt))?;
        // Fixed-size copies: the propagation loop runs without allocation.
        let step = nalgebra::SMatrix::<f64, STATES, STATES>::from_fn(|i, j| step_dyn[(i, j)]);
        let activity_of =
            |p: &nalgebra::SVector<f64, STATES>| (0..LEVELS).map(|m| p[top(m)]).sum::<f64>();
        let mut p = nalgebra::SVector::<f64, STATES>::from_fn(|i, _| p0[i]);
        let mut activity = Vec::with_capacity(n + 1);
        activity.push(activity_of(&p));
        let mut max_err: f64 = 0.0;
        for _ in 0..n {
            p = step * p;
            max_err = max_err.max((p.sum() - 1.0).abs());
            activity.push(activity_of(&p));
        }
        let raw: Vec<f64> = activity
            .windows(2)
            .map(|w| (w[1] - w[0]) / params.dt)
            .collect();
        let raw = SampledKernel::new(params.dt / params.compression, raw)?;
        let raw_first_moment = raw.first_moment();
        let kernel = raw.normalised_negated().map_err(|_| {
            SynapseError::Numerical(format!(
                "ladder kernel has zero first moment (gamma {}, step {}): no response",
                params.gamma, params.s_step
            ))
        })?;
        Ok(LadderKernel {
            area: kernel.area(),
            first_moment: kernel.first_moment(),
            dissipation: Dissipation {
                schnakenberg: dissipation(&q0, &p0)?,
                cycle: dissipation_cycle(params.gamma, &p0),
            },
            steady_state: p0.iter().copied().collect(),
            params: params.clone(),
            kernel,
            activity,
            raw_first_moment,
            max_probability_error: max_err,
        })
    }
}
