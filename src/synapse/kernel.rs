//! Memory kernels `K(t)` (causal, `K = 0` for `t < 0`) sampled on a uniform grid.
//!
//! A [`SampledKernel`] stores the **cell averages** `K_k = (1/Δt) ∫_{kΔt}^{(k+1)Δt} K(t) dt`,
//! `k = 0..n−1`, i.e. a piecewise-constant kernel. With this convention the area is exact,
//! `I = Δt Σ_k K_k = ∫_0^{nΔt} K dt`, and the first moment of the piecewise-constant kernel is
//! `M_1 = Δt Σ_k (k + ½)Δt K_k`, which differs from `∫ t K dt` only by `O(Δt²)·K(0)`.
//! Any externally computed kernel (a `Vec` of values on a uniform grid with step `dt`) can be
//! wrapped with [`SampledKernel::new`] and fed to the Δw machinery in
//! [`crate::synapse::protocol`].

use super::ladder::{LadderKernel, LadderParams};
use super::linalg::expm;
use super::{finite, positive, Result, SynapseError};
use nalgebra::{DMatrix, DVector};
use serde::Serialize;

/// Largest number of samples a kernel may have (guards against absurd `tau/dt` ratios).
pub const MAX_KERNEL_SAMPLES: usize = 10_000_000;

/// A causal kernel given by its cell averages on a uniform grid (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SampledKernel {
    dt: f64,
    values: Vec<f64>,
}

/// 4-point Gauss–Legendre nodes and weights on [−1, 1].
const GL4: [(f64, f64); 4] = [
    (-0.861_136_311_594_052_6, 0.347_854_845_137_453_9),
    (-0.339_981_043_584_856_3, 0.652_145_154_862_546_1),
    (0.339_981_043_584_856_3, 0.652_145_154_862_546_1),
    (0.861_136_311_594_052_6, 0.347_854_845_137_453_9),
];

impl SampledKernel {
    /// Wrap cell averages `values` (1/time) on a grid of step `dt` (time).
    pub fn new(dt: f64, values: Vec<f64>) -> Result<Self> {
        positive("dt", dt)?;
        if values.is_empty() {
            return Err(SynapseError::InvalidInput("kernel has no samples".into()));
        }
        if let Some((k, v)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(SynapseError::InvalidInput(format!(
                "kernel sample {k} is not finite ({v})"
            )));
        }
        Ok(SampledKernel { dt, values })
    }

    /// Cell averages of an analytic kernel `f(t)` over `[0, n dt)`, each by 4-point
    /// Gauss–Legendre quadrature (exact to ~(Δt/τ)^8 for smooth kernels).
    pub fn from_fn_cell_average(f: impl Fn(f64) -> f64, dt: f64, n: usize) -> Result<Self> {
        positive("dt", dt)?;
        check_len(n, dt)?;
        let values = (0..n)
            .map(|k| {
                let mid = (k as f64 + 0.5) * dt;
                GL4.iter()
                    .map(|(x, w)| 0.5 * w * f(mid + 0.5 * dt * x))
                    .sum::<f64>()
            })
            .collect();
        SampledKernel::new(dt, values)
    }

    /// Grid step Δt (time).
    pub fn dt(&self) -> f64 {
        self.dt
    }

    /// Cell averages `K_k` (1/time).
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Always false (a kernel has at least one cell).
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Support length `n Δt` (time).
    pub fn support(&self) -> f64 {
        self.values.len() as f64 * self.dt
    }

    /// Cell-centre times `(k + ½)Δt`, for plotting.
    pub fn times(&self) -> Vec<f64> {
        (0..self.values.len())
            .map(|k| (k as f64 + 0.5) * self.dt)
            .collect()
    }

    /// Area `I = Δt Σ K_k` (dimensionless): exactly `∫_0^{nΔt} K dt`.
    pub fn area(&self) -> f64 {
        self.dt * neumaier_sum(self.values.iter().copied())
    }

    /// First moment `M_1 = Δt Σ (k+½)Δt K_k` (time) of the piecewise-constant kernel.
    pub fn first_moment(&self) -> f64 {
        let dt = self.dt;
        dt * dt
            * neumaier_sum(
                self.values
                    .iter()
                    .enumerate()
                    .map(|(k, v)| (k as f64 + 0.5) * v),
            )
    }

    /// The kernel multiplied by `factor`.
    pub fn scaled(mut self, factor: f64) -> Self {
        for v in &mut self.values {
            *v *= factor;
        }
        self
    }

    /// `−K/|M_1|` style normalisation used for Markov kernels (App. F, §3.3): divide by
    /// `|M_1|` and flip the sign, so that an adapting kernel (`M_1 > 0` raw) ends with
    /// `M_1 = −1`. Errors if `M_1` vanishes.
    pub fn normalised_negated(self) -> Result<Self> {
        let m1 = self.first_moment();
        if m1 == 0.0 || !m1.is_finite() {
            return Err(SynapseError::Numerical(format!(
                "kernel first moment is {m1}; cannot normalise"
            )));
        }
        Ok(self.scaled(-1.0 / m1.abs()))
    }

    /// Resample onto a grid of step `dt_new` by differencing the exact cumulative integral of
    /// the piecewise-constant kernel. The area is preserved exactly (the support is extended
    /// with zeros to a whole number of new cells).
    pub fn resample(&self, dt_new: f64) -> Result<Self> {
        positive("dt", dt_new)?;
        let n_new = (self.support() / dt_new - 1e-9).ceil().max(1.0) as usize;
        check_len(n_new, dt_new)?;
        // Cumulative integral C(t) at the old grid points.
        let mut cum = Vec::with_capacity(self.values.len() + 1);
        cum.push(0.0);
        let mut acc = 0.0;
        for v in &self.values {
            acc += v * self.dt;
            cum.push(acc);
        }
        let total = acc;
        let c_at = |t: f64| -> f64 {
            let x = t / self.dt;
            if x <= 0.0 {
                return 0.0;
            }
            let k = x.floor() as usize;
            if k >= self.values.len() {
                return total;
            }
            cum[k] + (x - k as f64) * self.dt * self.values[k]
        };
        let values = (0..n_new)
            .map(|j| (c_at((j + 1) as f64 * dt_new) - c_at(j as f64 * dt_new)) / dt_new)
            .collect();
        SampledKernel::new(dt_new, values)
    }
}

fn check_len(n: usize, dt: f64) -> Result<()> {
    if n == 0 || n > MAX_KERNEL_SAMPLES {
        return Err(SynapseError::InvalidParameter {
            name: "dt",
            value: dt,
            reason: "kernel support / dt gives zero or more than 1e7 samples",
        });
    }
    Ok(())
}

/// Compensated (Neumaier) summation.
pub(crate) fn neumaier_sum(it: impl Iterator<Item = f64>) -> f64 {
    let mut sum = 0.0_f64;
    let mut c = 0.0_f64;
    for x in it {
        let t = sum + x;
        if sum.abs() >= x.abs() {
            c += (sum - t) + x;
        } else {
            c += (x - t) + sum;
        }
        sum = t;
    }
    sum + c
}

/// Parameters of the E. coli (Celani–Vergassola) kernel, eqs. 32 and 46–48:
/// `K(t) = a e^{−bt}(t − c t²)`, `b = 1/τ_K`, `a = 3 I b² + b³`, `c = (b² + 2bI)/(6I + 2b)`,
/// which has area `I` and first moment `M_1 = −1` on `[0, ∞)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EcoliCoefficients {
    pub a: f64,
    pub b: f64,
    pub c: f64,
}

impl EcoliCoefficients {
    /// Coefficients for kernel timescale `tau_k` (time) and area `area` (dimensionless).
    /// Requires `area > −b/3` (otherwise no kernel of this form has `M_1 = −1`).
    pub fn new(tau_k: f64, area: f64) -> Result<Self> {
        let b = 1.0 / positive("tau_k", tau_k)?;
        let i = finite("area", area)?;
        if 6.0 * i + 2.0 * b <= 0.0 {
            return Err(SynapseError::InvalidParameter {
                name: "area",
                value: area,
                reason: "E. coli kernel needs area > -1/(3 tau_k)",
            });
        }
        Ok(EcoliCoefficients {
            a: 3.0 * i * b * b + b * b * b,
            b,
            c: (b * b + 2.0 * b * i) / (6.0 * i + 2.0 * b),
        })
    }

    /// `K(t)` in 1/time (0 for t < 0).
    pub fn eval(&self, t: f64) -> f64 {
        if t < 0.0 {
            0.0
        } else {
            self.a * (-self.b * t).exp() * (t - self.c * t * t)
        }
    }
}

/// Leaky integral feedback, eqs. 14–15 with leak `λ` (§5):
/// `τ_u dv/dt = −v + s − x`, `τ_x dx/dt = v − λ x`, kernel = impulse response of `v`,
/// transfer function `H(p) = (τ_x p + λ)/((τ_u p + 1)(τ_x p + λ) + 1)`,
/// area `H(0) = λ/(1+λ)`, first moment `−H'(0) = −(τ_x − τ_u λ²)/(1+λ)²`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct IntegralFeedback {
    /// Fast response time τ_u (time).
    pub tau_u: f64,
    /// Integration time τ_x (time); for λ = 0 the first moment is exactly `−τ_x`.
    pub tau_x: f64,
    /// Leak λ ≥ 0 of the integrator (λ = 0: perfect adaptation, zero area).
    pub leak: f64,
}

impl IntegralFeedback {
    /// Validate: τ's > 0, λ > −1, `τ_x + λ τ_u > 0` (stability) and `τ_x > τ_u λ²` (M_1 < 0).
    pub fn new(tau_u: f64, tau_x: f64, leak: f64) -> Result<Self> {
        positive("tau_u", tau_u)?;
        positive("tau_x", tau_x)?;
        finite("leak", leak)?;
        if leak <= -1.0 || tau_x + leak * tau_u <= 0.0 {
            return Err(SynapseError::InvalidParameter {
                name: "leak",
                value: leak,
                reason: "integral feedback unstable (needs leak > -1 and tau_x + leak tau_u > 0)",
            });
        }
        if tau_x - tau_u * leak * leak <= 0.0 {
            return Err(SynapseError::InvalidParameter {
                name: "leak",
                value: leak,
                reason: "integral feedback kernel would not adapt (first moment >= 0)",
            });
        }
        Ok(IntegralFeedback { tau_u, tau_x, leak })
    }

    /// The leak λ that gives area `area` after normalisation to `M_1 = −1`:
    /// solves `λ(1+λ)/(τ_x − τ_u λ²) = I`, i.e. `(1 + I τ_u)λ² + λ − I τ_x = 0`.
    pub fn with_normalised_area(tau_u: f64, tau_x: f64, area: f64) -> Result<Self> {
        positive("tau_u", tau_u)?;
        positive("tau_x", tau_x)?;
        let i = finite("area", area)?;
        let a = 1.0 + i * tau_u;
        let disc = 1.0 + 4.0 * a * i * tau_x;
        if a <= 0.0 || disc < 0.0 {
            return Err(SynapseError::InvalidParameter {
                name: "area",
                value: area,
                reason: "no integral-feedback kernel has this area with M_1 = -1",
            });
        }
        let leak = 2.0 * i * tau_x / (1.0 + disc.sqrt());
        IntegralFeedback::new(tau_u, tau_x, leak)
    }

    /// Analytic area `λ/(1+λ)` of the raw impulse response.
    pub fn area(&self) -> f64 {
        self.leak / (1.0 + self.leak)
    }

    /// Analytic first moment `−(τ_x − τ_u λ²)/(1+λ)²` (time) of the raw impulse response.
    pub fn first_moment(&self) -> f64 {
        -(self.tau_x - self.tau_u * self.leak * self.leak) / (1.0 + self.leak).powi(2)
    }

    /// Slowest decay rate `min |Re p|` of the poles (1/time).
    pub fn slowest_rate(&self) -> f64 {
        let (tu, tx, l) = (self.tau_u, self.tau_x, self.leak);
        let bsum = tx + l * tu;
        let disc = bsum * bsum - 4.0 * tu * tx * (1.0 + l);
        if disc >= 0.0 {
            2.0 * (1.0 + l) / (bsum + disc.sqrt())
        } else {
            bsum / (2.0 * tu * tx)
        }
    }

    /// Cell averages of the raw impulse response on `n` cells of step `dt`, computed exactly:
    /// the state `(v, x, ∫v)` is propagated with the matrix exponential of the augmented
    /// linear system, and `K_k = (∫v|_{k+1} − ∫v|_k)/Δt`.
    pub fn sample_raw(&self, dt: f64, n: usize) -> Result<SampledKernel> {
        positive("dt", dt)?;
        check_len(n, dt)?;
        let (tu, tx, l) = (self.tau_u, self.tau_x, self.leak);
        let a = DMatrix::from_row_slice(
            3,
            3,
            &[
                -1.0 / tu,
                -1.0 / tu,
                0.0,
                1.0 / tx,
                -l / tx,
                0.0,
                1.0,
                0.0,
                0.0,
            ],
        );
        let e = expm(&(a * dt))?;
        let mut z = DVector::from_vec(vec![1.0 / tu, 0.0, 0.0]);
        let mut values = Vec::with_capacity(n);
        for _ in 0..n {
            let next = &e * &z;
            values.push((next[2] - z[2]) / dt);
            z = next;
        }
        SampledKernel::new(dt, values)
    }
}

/// A kernel family with its parameters; [`KernelSpec::sample`] turns it into a
/// [`SampledKernel`]. All analytic families are normalised to first moment `M_1 = −1`
/// except the monotone exponential, whose first moment is `I τ_K > 0`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum KernelSpec {
    /// E. coli kernel (eqs. 32, 46–48): timescale `tau_k`, area `area`, `M_1 = −1`.
    Ecoli { tau_k: f64, area: f64 },
    /// Monotone kernel `K = (I/τ_K) e^{−t/τ_K}`: area `I`, first moment `I τ_K`.
    Exponential { tau_k: f64, area: f64 },
    /// Integral feedback (eqs. 14–15, §5) normalised to `M_1 = −1`; the leak is chosen to
    /// give area `area` (λ = 0 for `area = 0`) with the analytic moments, so the sampled area
    /// is `area` to relative `O(Δt² K(0)/τ_x)`.
    IntegralFeedback { tau_u: f64, tau_x: f64, area: f64 },
    /// Markov-ladder kernel (App. F), normalised `−K/|M_1|`.
    Ladder(LadderParams),
    /// A relaxing arm seen through its drop (the network's capacitor–memristor arm, the SLS
    /// dashpot): `K = δ(t) − ((1 − I)/τ_k) e^{−t/τ_k}`, area `I`, `M_1 = −(1 − I) τ_k`.
    /// Not normalised: the network element's own kernel.
    HighPass { tau_k: f64, area: f64 },
    /// The raw impulse response of integral feedback, [`IntegralFeedback`] with its own scale
    /// (area `λ/(1+λ)`, `M_1 = −(τ_x − τ_u λ²)/(1+λ)²`): the network's mechano-chemical
    /// element, whose netlist fields map as `τ_u = tau_x`, `τ_x = tau_r`, `λ = eps`.
    IntegralFeedbackRaw { tau_u: f64, tau_x: f64, leak: f64 },
}

/// Default support of analytic kernels in units of their slowest timescale (e^{−30} ≈ 1e−13).
pub const SUPPORT_TIMESCALES: f64 = 30.0;

impl KernelSpec {
    /// Sample the kernel on a grid of step `dt` (time). Analytic kernels are cell-averaged
    /// over a support of [`SUPPORT_TIMESCALES`] slowest timescales. Ladder kernels are built
    /// on their own grid (`LadderParams::dt / compression`) and resampled to `dt` if needed.
    pub fn sample(&self, dt: f64) -> Result<SampledKernel> {
        positive("dt", dt)?;
        match self {
            KernelSpec::Ecoli { tau_k, area } => {
                let co = EcoliCoefficients::new(*tau_k, *area)?;
                let n = samples_for(SUPPORT_TIMESCALES * tau_k, dt)?;
                SampledKernel::from_fn_cell_average(|t| co.eval(t), dt, n)
            }
            KernelSpec::Exponential { tau_k, area } => {
                let tau = positive("tau_k", *tau_k)?;
                let i = finite("area", *area)?;
                let n = samples_for(40.0 * tau, dt)?;
                SampledKernel::from_fn_cell_average(|t| i / tau * (-t / tau).exp(), dt, n)
            }
            KernelSpec::IntegralFeedback { tau_u, tau_x, area } => {
                sample_ifb(*tau_u, *tau_x, *area, dt)
            }
            KernelSpec::HighPass { tau_k, area } => {
                let tau = positive("tau_k", *tau_k)?;
                let i = finite("area", *area)?;
                let n = samples_for(40.0 * tau, dt)?;
                // Cell averages of −((1−I)/τ) e^{−t/τ}, and the δ in the first cell.
                let mut v: Vec<f64> = (0..n)
                    .map(|k| {
                        let (a, b) = (k as f64 * dt / tau, (k + 1) as f64 * dt / tau);
                        -(1.0 - i) * ((-a).exp() - (-b).exp()) / dt
                    })
                    .collect();
                v[0] += 1.0 / dt;
                SampledKernel::new(dt, v)
            }
            KernelSpec::IntegralFeedbackRaw { tau_u, tau_x, leak } => {
                let ifb = IntegralFeedback::new(*tau_u, *tau_x, *leak)?;
                let n = samples_for(SUPPORT_TIMESCALES / ifb.slowest_rate(), dt)?;
                ifb.sample_raw(dt, n)
            }
            KernelSpec::Ladder(p) => {
                let lk = LadderKernel::compute(p)?;
                let k = lk.kernel;
                if (k.dt() / dt - 1.0).abs() < 1e-12 {
                    Ok(k)
                } else {
                    k.resample(dt)
                }
            }
        }
    }

    /// Short name (`ecoli`, `exp`, `ifb`, `ladder`).
    pub fn name(&self) -> &'static str {
        match self {
            KernelSpec::Ecoli { .. } => "ecoli",
            KernelSpec::Exponential { .. } => "exp",
            KernelSpec::IntegralFeedback { .. } => "ifb",
            KernelSpec::Ladder(_) => "ladder",
            KernelSpec::HighPass { .. } => "highpass",
            KernelSpec::IntegralFeedbackRaw { .. } => "ifb_raw",
        }
    }

    /// Analytic area `∫K dt` (`None` for the ladder, which is computed numerically).
    pub fn area(&self) -> Option<f64> {
        match self {
            KernelSpec::Ecoli { area, .. }
            | KernelSpec::Exponential { area, .. }
            | KernelSpec::IntegralFeedback { area, .. }
            | KernelSpec::HighPass { area, .. } => Some(*area),
            KernelSpec::IntegralFeedbackRaw { leak, .. } => Some(leak / (1.0 + leak)),
            KernelSpec::Ladder(_) => None,
        }
    }

    /// The kernel's memory time (time): `τ_k` of the arm and the analytic families, the
    /// integrator time `τ_x` of integral feedback (`None` for the ladder).
    pub fn timescale(&self) -> Option<f64> {
        match self {
            KernelSpec::Ecoli { tau_k, .. }
            | KernelSpec::Exponential { tau_k, .. }
            | KernelSpec::HighPass { tau_k, .. } => Some(*tau_k),
            KernelSpec::IntegralFeedback { tau_x, .. }
            | KernelSpec::IntegralFeedbackRaw { tau_x, .. } => Some(*tau_x),
            KernelSpec::Ladder(_) => None,
        }
    }
}

/// Integral-feedback kernel normalised to `M_1 = −1` with area `area` on the sampled grid.
///
/// The analytic leak (from [`IntegralFeedback::with_normalised_area`]) is refined by a few
/// secant steps on the *sampled* area/|first moment|, because the cell-average kernel's first
/// moment exceeds the continuous one by `Δt² K(0)/12`.
fn sample_ifb(tau_u: f64, tau_x: f64, area: f64, dt: f64) -> Result<SampledKernel> {
    let first = IntegralFeedback::with_normalised_area(tau_u, tau_x, area)?;
    let build = |leak: f64| -> Result<(SampledKernel, f64)> {
        let ifb = IntegralFeedback::new(tau_u, tau_x, leak)?;
        let n = samples_for(SUPPORT_TIMESCALES / ifb.slowest_rate(), dt)?;
        let raw = ifb.sample_raw(dt, n)?;
        let m1 = raw.first_moment();
        if m1.is_nan() || m1 >= 0.0 {
            return Err(SynapseError::Numerical(format!(
                "sampled integral-feedback kernel has first moment {m1} >= 0 (dt {dt} too coarse?)"
            )));
        }
        let k = raw.scaled(1.0 / m1.abs());
        let err = k.area() - area;
        Ok((k, err))
    };
    let (mut k0, mut f0) = build(first.leak)?;
    if area == 0.0 || f0.abs() < 1e-13 {
        return Ok(k0);
    }
    let mut l0 = first.leak;
    // d(area)/d(leak) ≈ 1/τ_x near λ = 0.
    let mut l1 = l0 - f0 * tau_x;
    for _ in 0..6 {
        let (k1, f1) = build(l1)?;
        if f1.abs() < 1e-13 || f1 == f0 {
            return Ok(k1);
        }
        let l2 = l1 - f1 * (l1 - l0) / (f1 - f0);
        l0 = l1;
        f0 = f1;
        k0 = k1;
        l1 = l2;
    }
    Ok(k0)
}

fn samples_for(support: f64, dt: f64) -> Result<usize> {
    let n = (support / dt).ceil();
    if !(n.is_finite() && n >= 1.0 && n <= MAX_KERNEL_SAMPLES as f64) {
        return Err(SynapseError::InvalidParameter {
            name: "dt",
            value: dt,
            reason: "kernel support / dt gives zero or more than 1e7 samples",
        });
    }
    Ok(n as usize)
}
