//! The two learning rules on the same relaxation code: standard EP and TCL-EP.
//!
//! Both return an [`Update`] `Δ` to be *added* to the parameters with per-layer rates,
//! `W_l ← W_l + α_l ΔW_l`, `b_{l+1} ← b_{l+1} + α_l Δb_{l+1}`. Signals are minibatch means of the
//! Hebbian products `s_ij = ⟨ρ(u_i) ρ(u_j)⟩` (`= −∂E/∂w_ij`) and `s_i = ⟨ρ(u_i)⟩` (`= −∂E/∂b_i`).

use super::model::{input_drive, relax_driven, rho, Nudge, Params, State};
use super::tcl::TclFilter;
use super::EpError;
use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;

/// Relaxation settings shared by both rules.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct RelaxConfig {
    /// Step `ε` of the projected gradient flow (0.5 in the paper).
    pub eps: f64,
    /// Free-phase steps (20 in the paper).
    pub n_free: usize,
    /// Nudged-phase steps per nudge level, each restarted from the free state (4 in the paper).
    pub n_nudge: usize,
}

impl Default for RelaxConfig {
    fn default() -> Self {
        RelaxConfig {
            eps: 0.5,
            n_free: 20,
            n_nudge: 4,
        }
    }
}

/// A parameter change, laid out like [`Params`].
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    pub weights: Vec<DMatrix<f64>>,
    pub biases: Vec<DVector<f64>>,
}

impl Update {
    /// All parameters as one flat vector (weights then biases, layer by layer).
    pub fn flatten(&self) -> Vec<f64> {
        let mut v = Vec::new();
        for w in &self.weights {
            v.extend(w.iter().copied());
        }
        for b in &self.biases {
            v.extend(b.iter().copied());
        }
        v
    }

    /// Apply `p ← p + α_l Δ` with the rate `α_l` of each weight layer (and the biases it feeds).
    pub fn apply(&self, params: &mut Params, rates: &[f64]) {
        for (l, (w, dw)) in params.weights.iter_mut().zip(&self.weights).enumerate() {
            let a = rates.get(l).copied().unwrap_or(0.0);
            *w += dw * a;
        }
        for (l, (b, db)) in params.biases.iter_mut().zip(&self.biases).enumerate() {
            let a = rates.get(l).copied().unwrap_or(0.0);
            *b += db * a;
        }
    }
}

/// Per-group thresholds `θ` of TCL-EP: `weights[l]` for `W_l`, `biases[l]` for `b_{l+1}`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Thresholds {
    pub weights: Vec<f64>,
    pub biases: Vec<f64>,
}

impl Thresholds {
    /// Per-layer values for `n_layers` weight layers: `inner` for every layer but the last,
    /// `last` for the last (weights and biases given separately).
    pub fn layered(n_layers: usize, w: (f64, f64), b: (f64, f64)) -> Self {
        let pick =
            |l: usize, (inner, last): (f64, f64)| if l + 1 == n_layers { last } else { inner };
        Thresholds {
            weights: (0..n_layers).map(|l| pick(l, w)).collect(),
            biases: (0..n_layers).map(|l| pick(l, b)).collect(),
        }
    }

    /// Thresholds calibrated for the 8×8 digits by the paper's rule: the median over training of
    /// `1.1·|M_1| A_max/τ_s` is about 0.5–1.4·10⁻⁵ for the input-side weights and the hidden
    /// biases and 2–7·10⁻⁵ for the output weights and biases (docs/ep.md); we use `7·10⁻⁶` and
    /// `3·10⁻⁵`.
    pub fn digits(n_layers: usize) -> Self {
        Thresholds::layered(n_layers, (7e-6, 3e-5), (7e-6, 3e-5))
    }

    /// The paper's MNIST cutoffs (784-500-10): `W_1` 1.2·10⁻⁶, `W_2` 2·10⁻⁵, hidden biases
    /// 10⁻⁵, output biases 2·10⁻⁴.
    pub fn paper_mnist(n_layers: usize) -> Self {
        Thresholds::layered(n_layers, (1.2e-6, 2e-5), (1e-5, 2e-4))
    }

    /// No thresholding (`θ = 0` everywhere): with a zero-area kernel the update vanishes.
    pub fn zero(n_layers: usize) -> Self {
        Thresholds {
            weights: vec![0.0; n_layers],
            biases: vec![0.0; n_layers],
        }
    }
}

/// Minibatch-mean Hebbian signals of a state: `⟨ρ(u_l) ρ(u_{l+1})ᵀ⟩` per weight layer and
/// `⟨ρ(u_{l+1})⟩` per bias.
pub fn hebbian(x: &DMatrix<f64>, state: &State) -> (Vec<DMatrix<f64>>, Vec<DVector<f64>>) {
    let b = x.ncols().max(1) as f64;
    let mut ws = Vec::with_capacity(state.layers.len());
    let mut bs = Vec::with_capacity(state.layers.len());
    for l in 0..state.layers.len() {
        let lo = if l == 0 {
            x.map(rho)
        } else {
            state.layers[l - 1].map(rho)
        };
        let hi = state.layers[l].map(rho);
        let mut w = lo * hi.transpose();
        w /= b;
        ws.push(w);
        bs.push(hi.column_sum() / b);
    }
    (ws, bs)
}

fn check_beta(beta: f64) -> Result<(), EpError> {
    if beta == 0.0 || !beta.is_finite() {
        return Err(EpError::option("beta", beta, "must be non-zero and finite"));
    }
    Ok(())
}

/// The nudged state at strength `beta`, relaxed for `cfg.n_nudge` steps from `free`.
pub fn nudged_state(
    params: &Params,
    x: &DMatrix<f64>,
    target: &DMatrix<f64>,
    free: &State,
    beta: f64,
    cfg: &RelaxConfig,
) -> State {
    nudged_state_driven(params, &input_drive(params, x), target, free, beta, cfg)
}

fn nudged_state_driven(
    params: &Params,
    drive0: &DMatrix<f64>,
    target: &DMatrix<f64>,
    free: &State,
    beta: f64,
    cfg: &RelaxConfig,
) -> State {
    let mut s = free.clone();
    let nudge = (beta != 0.0).then_some(Nudge { beta, target });
    relax_driven(params, drive0, &mut s, cfg.n_nudge, cfg.eps, nudge);
    s
}

/// Standard EP: `Δ = (s^β − s^0)/β`, with `s^0` the free state and `s^β` the clamped state.
pub fn ep_update(
    params: &Params,
    x: &DMatrix<f64>,
    target: &DMatrix<f64>,
    free: &State,
    beta: f64,
    cfg: &RelaxConfig,
) -> Result<Update, EpError> {
    check_beta(beta)?;
    let nudged = nudged_state(params, x, target, free, beta, cfg);
    let (w0, b0) = hebbian(x, free);
    let (w1, b1) = hebbian(x, &nudged);
    Ok(Update {
        weights: w1.iter().zip(&w0).map(|(a, b)| (a - b) / beta).collect(),
        biases: b1.iter().zip(&b0).map(|(a, b)| (a - b) / beta).collect(),
    })
}

/// How the TCL thresholds `θ` are set, per parameter group.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ThresholdRule {
    /// Fixed per-group values.
    Fixed(Thresholds),
    /// The paper's rule (eq. 28 saturated, with a margin): `θ = factor · |M_1| A_max/τ_s`,
    /// recomputed for each minibatch and group from the recorded signals. `A_max` is the largest
    /// amplitude of the group measured on its steepest sawtooth segment,
    /// `A_max = (n−1) max_{ij,k} |s_ij(β_k) − s_ij(β_{k−1})|`, which equals `max |s(β) − s(0)|`
    /// when the signals are linear in the nudge; `factor > 1` keeps every synapse's slow
    /// relaxation strictly below threshold (eq. 27).
    Paper { factor: f64 },
}

impl ThresholdRule {
    /// The threshold of a group; `levels[k]` holds the group's level-`k` signals.
    pub fn theta(
        &self,
        fixed: impl Fn(&Thresholds) -> f64,
        levels: &[&[f64]],
        filter: &TclFilter,
    ) -> f64 {
        match self {
            ThresholdRule::Fixed(t) => fixed(t),
            ThresholdRule::Paper { factor } => {
                let n = filter.sawtooth().n_levels;
                factor * filter.paper_threshold((n - 1) as f64 * steepest_segment(levels))
            }
        }
    }
}

/// TCL-EP settings: the filter (sawtooth, kernel, grid), the thresholds and the gain `c`.
#[derive(Debug, Clone)]
pub struct TclRule {
    pub filter: TclFilter,
    pub thresholds: ThresholdRule,
    /// Gain `c` in `Δ = c/β · Δt Σ g_θ(u)`; the paper's code uses `0.5·10⁴`.
    pub gain: f64,
}

/// `Δ = c/β · Δt Σ_m g_θ((K ∗ s)(t_m))` for every synapse of a group; `levels[k]` holds the
/// group's level-`k` signals.
fn group_update(
    levels: &[&[f64]],
    filter: &TclFilter,
    theta: f64,
    scale: f64,
) -> Result<Vec<f64>, EpError> {
    let len = levels.first().map(|l| l.len()).unwrap_or(0);
    let mut out = vec![0.0; len];
    filter.integrate_group(levels, theta, &mut out)?;
    for v in out.iter_mut() {
        *v *= scale;
    }
    Ok(out)
}

/// The steepest sawtooth segment of a group, `max_{i,k} |s_i(β_k) − s_i(β_{k−1})|`.
fn steepest_segment(levels: &[&[f64]]) -> f64 {
    levels
        .windows(2)
        .flat_map(|w| w[0].iter().zip(w[1].iter()).map(|(a, b)| (b - a).abs()))
        .fold(0.0f64, f64::max)
}

/// Work per level above which the nudge levels relax in parallel.
const PAR_LEVEL_WORK: usize = 40_000;

/// The states at the `n` nudge levels `β_k = β k/(n−1)` of the sawtooth, each relaxed for
/// `cfg.n_nudge` steps from the free state (in parallel over levels).
pub fn sawtooth_states(
    params: &Params,
    x: &DMatrix<f64>,
    target: &DMatrix<f64>,
    free: &State,
    beta: f64,
    cfg: &RelaxConfig,
    rule: &TclRule,
) -> Vec<State> {
    let saw = *rule.filter.sawtooth();
    let drive0 = input_drive(params, x);
    let level = |k: usize| {
        let b = beta * saw.level_fraction(k);
        nudged_state_driven(params, &drive0, target, free, b, cfg)
    };
    // Each level costs about (units × batch × steps) multiply-adds per coupling; below
    // PAR_LEVEL_WORK the rayon scheduling costs more than it saves (measured on the digits).
    let work: usize = free.layers.iter().map(|m| m.len()).sum::<usize>() * cfg.n_nudge;
    if work >= PAR_LEVEL_WORK {
        (0..saw.n_levels).into_par_iter().map(level).collect()
    } else {
        (0..saw.n_levels).map(level).collect()
    }
}

/// TCL-EP: record the Hebbian signals at the sawtooth's nudge levels, filter them with the
/// kernel over one period, threshold per group and integrate (see [`super::tcl`]).
pub fn tcl_update(
    params: &Params,
    x: &DMatrix<f64>,
    target: &DMatrix<f64>,
    free: &State,
    beta: f64,
    cfg: &RelaxConfig,
    rule: &TclRule,
) -> Result<Update, EpError> {
    check_beta(beta)?;
    let n_w = params.weights.len();
    if let ThresholdRule::Fixed(t) = &rule.thresholds {
        if t.weights.len() != n_w || t.biases.len() != n_w {
            return Err(EpError::option(
                "thresholds",
                format!(
                    "{} weight / {} bias values",
                    t.weights.len(),
                    t.biases.len()
                ),
                format!("need one per weight layer ({n_w})"),
            ));
        }
    }
    let states = sawtooth_states(params, x, target, free, beta, cfg, rule);
    let signals: Vec<_> = states.iter().map(|s| hebbian(x, s)).collect();
    let scale = rule.gain / beta;
    let mut weights = Vec::with_capacity(n_w);
    let mut biases = Vec::with_capacity(n_w);
    for l in 0..n_w {
        let w_levels: Vec<&[f64]> = signals.iter().map(|(w, _)| w[l].as_slice()).collect();
        let b_levels: Vec<&[f64]> = signals.iter().map(|(_, b)| b[l].as_slice()).collect();
        let (r, c) = (params.weights[l].nrows(), params.weights[l].ncols());
        let theta_w = rule
            .thresholds
            .theta(|t| t.weights[l], &w_levels, &rule.filter);
        let theta_b = rule
            .thresholds
            .theta(|t| t.biases[l], &b_levels, &rule.filter);
        let dw = group_update(&w_levels, &rule.filter, theta_w, scale)?;
        let db = group_update(&b_levels, &rule.filter, theta_b, scale)?;
        weights.push(DMatrix::from_vec(r, c, dw));
        biases.push(DVector::from_vec(db));
    }
    Ok(Update { weights, biases })
}
