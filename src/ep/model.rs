//! The layered Hopfield-like energy model (eqs. 29-30), its parameters and the relaxation of its
//! states by projected gradient flow.
//!
//! Batches are stored column-wise: a layer's states for `B` examples form an `n_l × B` matrix.

use super::EpError;
use nalgebra::{DMatrix, DVector};
use rand::Rng;

/// Layer sizes `n_0 (input), n_1, …, n_L (output)`, validated (at least two layers, none empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Architecture {
    sizes: Vec<usize>,
}

impl Architecture {
    pub fn new(sizes: Vec<usize>) -> Result<Self, EpError> {
        if sizes.len() < 2 {
            return Err(EpError::option(
                "architecture",
                format!("{sizes:?}"),
                "need at least an input and an output layer",
            ));
        }
        if sizes.contains(&0) {
            return Err(EpError::option(
                "architecture",
                format!("{sizes:?}"),
                "every layer needs at least one unit",
            ));
        }
        Ok(Architecture { sizes })
    }

    /// All layer sizes, input first.
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// Number of weight matrices `L` (layers minus one).
    pub fn n_weights(&self) -> usize {
        self.sizes.len() - 1
    }

    pub fn n_inputs(&self) -> usize {
        self.sizes[0]
    }

    pub fn n_outputs(&self) -> usize {
        self.sizes[self.sizes.len() - 1]
    }

    /// `"64-128-10"`.
    pub fn label(&self) -> String {
        let parts: Vec<String> = self.sizes.iter().map(|n| n.to_string()).collect();
        parts.join("-")
    }
}

/// Learnable parameters: `weights[l]` couples layer `l` to layer `l+1` (`n_l × n_{l+1}`, the
/// symmetric coupling `w_ij = w_ji` stored once); `biases[l]` belongs to layer `l+1` (the input
/// layer has no bias: it is clamped).
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub weights: Vec<DMatrix<f64>>,
    pub biases: Vec<DVector<f64>>,
}

impl Params {
    /// Glorot-uniform weights, halved as in the paper's code: `w ~ U(−a, a)/2`,
    /// `a = √(6/(n_l + n_{l+1}))`; biases zero.
    pub fn glorot<R: Rng>(arch: &Architecture, rng: &mut R) -> Self {
        let s = arch.sizes();
        let mut weights = Vec::with_capacity(arch.n_weights());
        let mut biases = Vec::with_capacity(arch.n_weights());
        for l in 0..arch.n_weights() {
            let a = (6.0 / (s[l] + s[l + 1]) as f64).sqrt();
            // Fill row by row in a fixed order so that the draw is reproducible.
            let mut w = DMatrix::zeros(s[l], s[l + 1]);
            for i in 0..s[l] {
                for j in 0..s[l + 1] {
                    w[(i, j)] = 0.5 * rng.random_range(-a..a);
                }
            }
            weights.push(w);
            biases.push(DVector::zeros(s[l + 1]));
        }
        Params { weights, biases }
    }

    pub fn architecture(&self) -> Architecture {
        let mut sizes = vec![self.weights.first().map(|w| w.nrows()).unwrap_or(0)];
        sizes.extend(self.weights.iter().map(|w| w.ncols()));
        Architecture { sizes }
    }

    /// Whether every parameter is finite.
    pub fn is_finite(&self) -> bool {
        self.weights.iter().all(|w| w.iter().all(|v| v.is_finite()))
            && self.biases.iter().all(|b| b.iter().all(|v| v.is_finite()))
    }
}

/// The activation `ρ(u) = clip(u, 0, 1)`.
#[inline]
pub fn rho(u: f64) -> f64 {
    u.clamp(0.0, 1.0)
}

/// States of the non-input layers `1..=L` for a batch (`layers[l-1]` is `n_l × B`).
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    pub layers: Vec<DMatrix<f64>>,
}

impl State {
    /// All-zero states (the paper's initial particles).
    pub fn zeros(arch: &Architecture, batch: usize) -> Self {
        State {
            layers: arch.sizes()[1..]
                .iter()
                .map(|&n| DMatrix::zeros(n, batch))
                .collect(),
        }
    }

    /// The output layer's states (`n_L × B`).
    pub fn output(&self) -> &DMatrix<f64> {
        &self.layers[self.layers.len() - 1]
    }

    pub fn batch(&self) -> usize {
        self.layers.first().map(|m| m.ncols()).unwrap_or(0)
    }

    pub fn is_finite(&self) -> bool {
        self.layers.iter().all(|m| m.iter().all(|v| v.is_finite()))
    }

    /// Predicted class of each example: the argmax of the output layer (first index on ties).
    pub fn predictions(&self) -> Vec<usize> {
        let o = self.output();
        (0..o.ncols())
            .map(|j| {
                let col = o.column(j);
                let mut best = 0;
                for i in 1..col.len() {
                    if col[i] > col[best] {
                        best = i;
                    }
                }
                best
            })
            .collect()
    }
}

/// Energy `E(u)` of eq. (29) for each example of a batch (`x` is `n_0 × B`). The constant
/// input-layer terms are left out (the input is clamped).
pub fn energy(params: &Params, x: &DMatrix<f64>, state: &State) -> DVector<f64> {
    let b = x.ncols();
    let mut e = DVector::zeros(b);
    let layer = |l: usize| -> DMatrix<f64> {
        if l == 0 {
            x.map(rho)
        } else {
            state.layers[l - 1].map(rho)
        }
    };
    for l in 0..params.weights.len() {
        let lo = layer(l);
        let hi = layer(l + 1);
        let wh = &params.weights[l] * &hi; // n_l × B
        for j in 0..b {
            let mut s = 0.0;
            for i in 0..hi.nrows() {
                let u = state.layers[l][(i, j)];
                s += 0.5 * u * u - params.biases[l][i] * hi[(i, j)];
            }
            s -= lo.column(j).dot(&wh.column(j));
            e[j] += s;
        }
    }
    e
}

/// Cost `C(u) = Σ_k (u_{L,k} − d_k)²` of eq. (30) per example (`target` is `n_L × B`).
pub fn cost(state: &State, target: &DMatrix<f64>) -> DVector<f64> {
    let o = state.output();
    DVector::from_iterator(
        o.ncols(),
        (0..o.ncols()).map(|j| (o.column(j) - target.column(j)).norm_squared()),
    )
}

/// Optional nudge `β C(u)` added to the energy during relaxation.
#[derive(Debug, Clone, Copy)]
pub struct Nudge<'a> {
    pub beta: f64,
    /// One-hot targets, `n_L × B`.
    pub target: &'a DMatrix<f64>,
}

/// Relax `state` by `steps` synchronous projected gradient steps on `F = E + β C`:
///
/// ```text
/// ∂F/∂u_l = u_l − b_l − W_{l−1}ᵀ ρ(u_{l−1}) − W_l ρ(u_{l+1})  [+ 2β (u_L − d) on the output]
/// u_l ← clip(u_l − ε ∂F/∂u_l, 0, 1)
/// ```
///
/// For `β = 0` and `ε ≤ 2/λ_max(∇²E)` the energy decreases monotonically (projected gradient
/// descent on a quadratic; `∇²E = 1 − W_blk` on the box, so `ε = 0.5` is safe while the
/// block weight matrix has spectral norm below 3).
pub fn relax(
    params: &Params,
    x: &DMatrix<f64>,
    state: &mut State,
    steps: usize,
    eps: f64,
    nudge: Option<Nudge<'_>>,
) {
    if steps == 0 || state.layers.is_empty() {
        return;
    }
    relax_driven(params, &input_drive(params, x), state, steps, eps, nudge);
}

/// The constant bottom-up drive `W_0ᵀ ρ(x)` of the first non-input layer (`n_1 × B`).
pub fn input_drive(params: &Params, x: &DMatrix<f64>) -> DMatrix<f64> {
    match params.weights.first() {
        Some(w) => w.tr_mul(&x.map(rho)),
        None => DMatrix::zeros(0, x.ncols()),
    }
}

/// [`relax`] with the input drive [`input_drive`] precomputed (it is shared by every relaxation
/// of a minibatch).
pub fn relax_driven(
    params: &Params,
    drive0: &DMatrix<f64>,
    state: &mut State,
    steps: usize,
    eps: f64,
    nudge: Option<Nudge<'_>>,
) {
    let n_layers = state.layers.len();
    if steps == 0 || n_layers == 0 {
        return;
    }
    let mut next: Vec<DMatrix<f64>> = state.layers.clone();
    for _ in 0..steps {
        for (l, buf) in next.iter_mut().enumerate() {
            // `l` indexes state.layers; it is network layer l+1.
            if l == 0 {
                buf.copy_from(drive0);
            } else {
                buf.gemm_tr(1.0, &params.weights[l], &state.layers[l - 1], 0.0);
            }
            if l + 1 < n_layers {
                buf.gemm(1.0, &params.weights[l + 1], &state.layers[l + 1], 1.0);
            }
            let cur = &state.layers[l];
            let bias = params.biases[l].as_slice();
            let rows = cur.nrows();
            let cur_cols = cur.as_slice().chunks_exact(rows);
            let buf_cols = buf.as_mut_slice().chunks_exact_mut(rows);
            match nudge.filter(|_| l + 1 == n_layers) {
                None => {
                    for (bc, cc) in buf_cols.zip(cur_cols) {
                        for ((b, &u), &bi) in bc.iter_mut().zip(cc).zip(bias) {
                            let g = u - bi - *b;
                            *b = rho(u - eps * g);
                        }
                    }
                }
                Some(n) => {
                    let two_beta = 2.0 * n.beta;
                    let tgt_cols = n.target.as_slice().chunks_exact(rows);
                    for ((bc, cc), tc) in buf_cols.zip(cur_cols).zip(tgt_cols) {
                        for (((b, &u), &bi), &d) in bc.iter_mut().zip(cc).zip(bias).zip(tc) {
                            let g = u - bi - *b + two_beta * (u - d);
                            *b = rho(u - eps * g);
                        }
                    }
                }
            }
        }
        std::mem::swap(&mut state.layers, &mut next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ep::task_rng;

    #[test]
    fn architecture_rejects_degenerate_sizes() {
        assert!(Architecture::new(vec![4]).is_err());
        assert!(Architecture::new(vec![4, 0, 2]).is_err());
        assert_eq!(Architecture::new(vec![4, 3, 2]).unwrap().label(), "4-3-2");
    }

    #[test]
    fn glorot_bounds_are_halved() {
        let arch = Architecture::new(vec![30, 20, 10]).unwrap();
        let p = Params::glorot(&arch, &mut task_rng(1, 0));
        let a0 = (6.0f64 / 50.0).sqrt() / 2.0;
        assert!(p.weights[0].iter().all(|w| w.abs() <= a0));
        assert!(p.weights[0].amax() > 0.8 * a0);
        assert_eq!(p.architecture(), arch);
    }

    #[test]
    fn relaxation_gradient_matches_finite_difference_of_energy() {
        // One unclipped step from an interior state moves by −ε ∂E/∂u: compare with a finite
        // difference of the energy.
        let arch = Architecture::new(vec![5, 4, 3]).unwrap();
        let p = Params::glorot(&arch, &mut task_rng(3, 0));
        let x = DMatrix::from_fn(5, 1, |i, _| 0.1 + 0.15 * i as f64);
        let mut s = State::zeros(&arch, 1);
        for m in s.layers.iter_mut() {
            for (k, v) in m.iter_mut().enumerate() {
                *v = 0.4 + 0.03 * k as f64;
            }
        }
        let eps = 1e-3;
        let mut s1 = s.clone();
        relax(&p, &x, &mut s1, 1, eps, None);
        for l in 0..2 {
            for i in 0..s.layers[l].nrows() {
                let h = 1e-6;
                let mut sp = s.clone();
                sp.layers[l][(i, 0)] += h;
                let mut sm = s.clone();
                sm.layers[l][(i, 0)] -= h;
                let g = (energy(&p, &x, &sp)[0] - energy(&p, &x, &sm)[0]) / (2.0 * h);
                let step = (s.layers[l][(i, 0)] - s1.layers[l][(i, 0)]) / eps;
                assert!((g - step).abs() < 1e-7, "layer {l} unit {i}: {g} vs {step}");
            }
        }
    }
}
