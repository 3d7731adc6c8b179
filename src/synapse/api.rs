//! The single-synapse weight-update curve Δw(A) (eq. 7) and the ladder kernel's moments as
//! library calls: `physlearn synapse`, `physlearn ladder` and the Python package
//! (`physlearn.synapse.delta_w`, `physlearn.synapse.ladder`) all go through these functions.

use super::kernel::{KernelSpec, SampledKernel};
use super::ladder::{LadderKernel, LadderParams};
use super::protocol::{Sawtooth, SawtoothResponse, Threshold};
use super::{Result, SynapseError};
use serde::Serialize;
use std::str::FromStr;

/// Kernel families of the synapse lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KernelFamily {
    /// E. coli polynomial kernel `a e^{−bt}(t − c t²)`, `b = 1/τ_k`, `M_1 = −1`.
    Ecoli,
    /// Monotone exponential `(I/τ_k) e^{−t/τ_k}` (default area 1).
    Exp,
    /// Integral feedback (eqs. 14–15), `τ_x = τ_k`, `M_1 = −1`; a leak sets the area.
    Ifb,
    /// Markov-ladder kernel (App. F); area and `M_1` follow from γ, F and the step.
    Ladder,
}

impl FromStr for KernelFamily {
    type Err = SynapseError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "ecoli" => Ok(KernelFamily::Ecoli),
            "exp" => Ok(KernelFamily::Exp),
            "ifb" => Ok(KernelFamily::Ifb),
            "ladder" => Ok(KernelFamily::Ladder),
            _ => Err(SynapseError::InvalidInput(format!(
                "unknown kernel {s:?} (expected ecoli, exp, ifb or ladder)"
            ))),
        }
    }
}

/// A kernel as the user names it: the family and its parameters, with the lab's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelChoice {
    pub family: KernelFamily,
    /// Kernel area I (default 0 for ecoli/ifb, 1 for exp; not allowed for ladder).
    pub area: Option<f64>,
    /// Kernel timescale τ_k (the paper's E. coli kernel has 1/20).
    pub tau_k: f64,
    /// Fast time τ_u of the integral-feedback kernel (default τ_k/10).
    pub tau_u: Option<f64>,
    /// Ladder: non-equilibrium drive γ.
    pub gamma: f64,
    /// Ladder: vertical/horizontal rate ratio F.
    pub f: f64,
    /// Ladder: ligand step height (µM).
    pub step: f64,
}

impl KernelChoice {
    /// The lab's defaults for a family (τ_k = 0.05, γ = 0.01, F = 25, step = 200).
    pub fn new(family: KernelFamily) -> Self {
        KernelChoice {
            family,
            area: None,
            tau_k: 0.05,
            tau_u: None,
            gamma: 0.01,
            f: 25.0,
            step: 200.0,
        }
    }

    /// The kernel specification; `dt` is the time step of kernel and protocol (the ladder's
    /// Markov-time step is `dt` times its compression).
    pub fn spec(&self, dt: f64) -> Result<KernelSpec> {
        Ok(match self.family {
            KernelFamily::Ecoli => KernelSpec::Ecoli {
                tau_k: self.tau_k,
                area: self.area.unwrap_or(0.0),
            },
            KernelFamily::Exp => KernelSpec::Exponential {
                tau_k: self.tau_k,
                area: self.area.unwrap_or(1.0),
            },
            KernelFamily::Ifb => KernelSpec::IntegralFeedback {
                tau_u: self.tau_u.unwrap_or(self.tau_k / 10.0),
                tau_x: self.tau_k,
                area: self.area.unwrap_or(0.0),
            },
            KernelFamily::Ladder => {
                if let Some(area) = self.area {
                    return Err(SynapseError::InvalidInput(format!(
                        "area {area} cannot be given for the ladder kernel: its area follows from gamma, F and step"
                    )));
                }
                let mut p = LadderParams::new(self.gamma);
                p.f = self.f;
                p.s_step = self.step;
                p.dt = dt * p.compression;
                KernelSpec::Ladder(p)
            }
        })
    }
}

/// One Δw(A) curve: the sawtooth, threshold and amplitudes.
#[derive(Debug, Clone, PartialEq)]
pub struct CurveSpec {
    pub kernel: KernelSpec,
    /// Rise time τ_f of the sawtooth (free → clamped).
    pub tau_fast: f64,
    /// Relaxation time τ_s (clamped → free).
    pub tau_slow: f64,
    /// Mean signal `s0 = (s_C + s_F)/2`.
    pub s0: f64,
    /// θ ≥ 0, or eq. 45 with `A_max = max |A|`.
    pub theta: Threshold,
    /// Amplitudes `A = s_C − s_F`.
    pub amplitudes: Vec<f64>,
    /// Time step of kernel and protocol (paper: 1e-4).
    pub dt: f64,
}

/// The Δw(A) curve and the numbers that go with it (`physlearn synapse --json`, in this key
/// order).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Curve {
    pub amplitudes: Vec<f64>,
    /// Δw per amplitude (eq. 7).
    pub delta_w: Vec<f64>,
    /// The threshold used (resolved when "auto").
    pub theta: f64,
    /// Kernel family name (`ecoli`, `exp`, `ifb`, `ladder`).
    pub kernel: &'static str,
    pub kernel_spec: KernelSpec,
    /// Area of the kernel on the protocol grid.
    pub area: f64,
    /// First moment of the sampled kernel.
    pub first_moment: f64,
    pub tau_fast: f64,
    pub tau_slow: f64,
    pub s0: f64,
    /// Time step of the protocol grid (after fitting a whole number of cells per period).
    pub dt: f64,
    /// The small-signal prediction `A + I s0 τ_f` (eq. 10).
    pub ideal_eq10: Vec<f64>,
    /// The sampled kernel (`kernel.csv`).
    #[serde(skip)]
    pub sampled: SampledKernel,
    /// Number of cells of one period.
    #[serde(skip)]
    pub period_cells: usize,
}

/// Compute one Δw(A) curve (eq. 7): sample the kernel, filter the unit sawtooth, threshold and
/// integrate over one period for every amplitude.
pub fn delta_w_curve(spec: &CurveSpec) -> Result<Curve> {
    if let Some((i, v)) = spec
        .amplitudes
        .iter()
        .enumerate()
        .find(|(_, v)| !v.is_finite())
    {
        return Err(SynapseError::InvalidInput(format!(
            "amplitude #{i} is {v}; amplitudes must be finite"
        )));
    }
    let saw = Sawtooth::new(spec.tau_fast, spec.tau_slow)?;
    let kernel = spec.kernel.sample(spec.dt)?;
    let resp = SawtoothResponse::new(&kernel, saw)?;
    let a_max = spec.amplitudes.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    let area = resp.area();
    let theta = spec.theta.resolve(a_max, &saw, area, spec.s0)?;
    let delta_w = resp.curve(spec.s0, &spec.amplitudes, theta)?;
    let first_moment = kernel.first_moment();
    let ideal_eq10 = spec
        .amplitudes
        .iter()
        .map(|amp| amp + area * spec.s0 * spec.tau_fast)
        .collect();
    Ok(Curve {
        amplitudes: spec.amplitudes.clone(),
        delta_w,
        theta,
        kernel: spec.kernel.name(),
        kernel_spec: spec.kernel.clone(),
        area,
        first_moment,
        tau_fast: spec.tau_fast,
        tau_slow: spec.tau_slow,
        s0: spec.s0,
        dt: resp.dt(),
        ideal_eq10,
        period_cells: resp.unit_response().len(),
        sampled: kernel,
    })
}

/// The ladder kernel's summary (`physlearn ladder --json`, in this key order).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LadderSummary {
    pub gamma: f64,
    #[serde(rename = "F")]
    pub f: f64,
    pub step: f64,
    pub ladder_dt: f64,
    /// Kernel area I.
    pub area: f64,
    /// First moment M_1 after normalisation (−1).
    pub first_moment: f64,
    /// Steady-state entropy production (Schnakenberg).
    pub dissipation: f64,
    /// The same from the cycle decomposition.
    pub dissipation_cycle: f64,
    pub raw_first_moment: f64,
    pub steady_state: Vec<f64>,
    pub max_probability_error: f64,
    /// The kernel: `{"dt", "values"}`.
    pub kernel: LadderKernelSamples,
    #[serde(skip)]
    pub params: LadderParams,
    #[serde(skip)]
    pub sampled: SampledKernel,
}

/// The sampled ladder kernel of [`LadderSummary`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LadderKernelSamples {
    pub dt: f64,
    pub values: Vec<f64>,
}

/// The Markov-ladder kernel at drive `gamma`, rate ratio `f`, ligand step `step` and
/// Markov-time step `dt`: area, first moment and dissipation (App. F).
pub fn ladder_summary(gamma: f64, f: f64, step: f64, dt: f64) -> Result<LadderSummary> {
    let mut p = LadderParams::new(gamma);
    p.f = f;
    p.s_step = step;
    p.dt = dt;
    let lk = LadderKernel::compute(&p)?;
    Ok(LadderSummary {
        gamma,
        f,
        step,
        ladder_dt: dt,
        area: lk.area,
        first_moment: lk.first_moment,
        dissipation: lk.dissipation.schnakenberg,
        dissipation_cycle: lk.dissipation.cycle,
        raw_first_moment: lk.raw_first_moment,
        steady_state: lk.steady_state.clone(),
        max_probability_error: lk.max_probability_error,
        kernel: LadderKernelSamples {
            dt: lk.kernel.dt(),
            values: lk.kernel.values().to_vec(),
        },
        params: p,
        sampled: lk.kernel,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ladder_area_is_refused_and_curve_matches_eq10_in_the_window() {
        let mut k = KernelChoice::new(KernelFamily::Ladder);
        k.area = Some(0.5);
        assert!(k.spec(1e-3).is_err());
        let spec = CurveSpec {
            kernel: KernelChoice::new(KernelFamily::Ecoli).spec(1e-3).unwrap(),
            tau_fast: 1.0,
            tau_slow: 20.0,
            s0: 0.0,
            theta: Threshold::Fixed(1.0),
            amplitudes: vec![5.0, f64::NAN],
            dt: 1e-3,
        };
        assert!(delta_w_curve(&spec).is_err());
        let spec = CurveSpec {
            amplitudes: vec![5.0],
            ..spec
        };
        let c = delta_w_curve(&spec).unwrap();
        assert!((c.delta_w[0] - 5.0).abs() < 0.5, "{:?}", c.delta_w);
    }
}
