//! The one definition of every number that compares a physical update with its references
//! (docs/physics.md §7.5). Both families, `compare`, `train`, the Rust API and the Python
//! package use [`Comparison::new`]; nothing else computes these numbers.

use super::rule::Window;
use serde::{Deserialize, Serialize};

/// Cosine similarity (0 when either vector vanishes).
pub fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 {
        0.0
    } else {
        ab / (aa.sqrt() * bb.sqrt())
    }
}

/// Least-squares fit `a ≈ slope·b + offset` (slope 0 and the mean of `a` when `b` is constant).
pub fn lsq(a: &[f64], b: &[f64]) -> (f64, f64) {
    let n = a.len().min(b.len()) as f64;
    if n == 0.0 {
        return (0.0, 0.0);
    }
    let mb = b.iter().sum::<f64>() / n;
    let ma = a.iter().sum::<f64>() / n;
    let (mut sab, mut sbb) = (0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (y - mb) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    if sbb == 0.0 {
        return (0.0, ma);
    }
    let slope = sab / sbb;
    (slope, ma - slope * mb)
}

/// The static references at one point θ of the learnables, for one example and nudge β: what
/// the ideal rules and the exact gradient say one cycle should do there. Each family states
/// its own rule once, in its `Engine::references`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct References {
    /// Cost of the free state (mean over the examples asked for).
    pub cost: f64,
    /// `Δθ_CL`, the ideal contrastive update, per learnable.
    pub ideal: Vec<f64>,
    /// `∇_θ C`, the exact gradient of the cost, per learnable.
    pub grad: Vec<f64>,
    /// Contrast magnitudes `|s^C − s^F|` of the thresholded signals (per signal channel; a
    /// channel need not be a learnable of its own).
    pub contrast: Vec<f64>,
    /// The threshold window of each contrast (`None`: no threshold on that channel).
    pub window: Vec<Option<Window>>,
    /// Gradient descent at the rate mapped from the physical element: `Δθ_GD = −gd_rate ⊙ ∇C`
    /// (`None`: the family has no such mapping).
    pub gd_rate: Option<Vec<f64>>,
}

/// How a physical update compares with its references: the numbers of `compare` and of every
/// `train.csv` row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// `cos(Δθ, Δθ_CL)`.
    #[serde(with = "crate::io::nan::f64_lossless")]
    pub cos_cl: f64,
    /// `cos(Δθ, −∇C)`.
    #[serde(with = "crate::io::nan::f64_lossless")]
    pub cos_grad: f64,
    /// Least-squares `Δθ ≈ slope·Δθ_CL + offset`.
    #[serde(with = "crate::io::nan::f64_lossless")]
    pub slope: f64,
    #[serde(with = "crate::io::nan::f64_lossless")]
    pub offset: f64,
    /// Among the learnables with `|Δθ_CL,e| > 10⁻³ max|Δθ_CL|`, the fraction whose physical
    /// update has the opposite sign.
    #[serde(with = "crate::io::nan::f64_lossless")]
    pub wrong_sign_fraction: f64,
    /// Fraction of the contrast mass `Σ|s^C − s^F|` inside the threshold windows.
    #[serde(with = "crate::io::nan::f64_lossless")]
    pub window_fraction: f64,
    /// `max |s^C − s^F| / (θ τ_f/τ)` (0 without thresholds).
    #[serde(with = "crate::io::nan::f64_lossless")]
    pub max_contrast_over_lower_edge: f64,
}

/// Contrast mass inside the windows, as a fraction of the total (0 when there is none), and
/// `max |A|/lo` over the thresholded channels (0 without thresholds).
pub fn window_stats(contrast: &[f64], window: &[Option<Window>]) -> (f64, f64) {
    let (mut mass, mut mass_in, mut ratio) = (0.0, 0.0, 0.0f64);
    for (a, w) in contrast.iter().zip(window) {
        if let Some(w) = w {
            let a = a.abs();
            mass += a;
            if w.contains(a) {
                mass_in += a;
            }
            ratio = ratio.max(a / w.lo);
        }
    }
    (if mass > 0.0 { mass_in / mass } else { 0.0 }, ratio)
}

/// Relative size below which an ideal-rule entry is too small for a sign to mean anything.
pub const SIGN_FLOOR: f64 = 1e-3;

impl Comparison {
    /// Compare the physical update `delta` (per learnable) with the references.
    pub fn new(delta: &[f64], r: &References) -> Self {
        let neg_grad: Vec<f64> = r.grad.iter().map(|g| -g).collect();
        let (slope, offset) = lsq(delta, &r.ideal);
        let floor = SIGN_FLOOR * r.ideal.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let (mut wrong, mut counted) = (0usize, 0usize);
        for (a, b) in delta.iter().zip(&r.ideal) {
            if b.abs() > floor {
                counted += 1;
                if a * b < 0.0 {
                    wrong += 1;
                }
            }
        }
        let (window_fraction, ratio) = window_stats(&r.contrast, &r.window);
        Comparison {
            cos_cl: cosine(delta, &r.ideal),
            cos_grad: cosine(delta, &neg_grad),
            slope,
            offset,
            wrong_sign_fraction: if counted > 0 {
                wrong as f64 / counted as f64
            } else {
                0.0
            },
            window_fraction,
            max_contrast_over_lower_edge: ratio,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_and_lsq() {
        assert!((cosine(&[1.0, 2.0], &[2.0, 4.0]) - 1.0).abs() < 1e-15);
        assert!((cosine(&[1.0, 0.0], &[0.0, 3.0])).abs() < 1e-15);
        let (s, o) = lsq(&[3.0, 5.0, 7.0], &[1.0, 2.0, 3.0]);
        assert!((s - 2.0).abs() < 1e-12 && (o - 1.0).abs() < 1e-12);
    }

    #[test]
    fn comparison_definitions() {
        let w = Window::new(0.1, 10.0, 100.0, 1.0);
        let r = References {
            cost: 1.0,
            ideal: vec![1.0, -1.0, 1e-6],
            grad: vec![-1.0, 1.0, 0.0],
            contrast: vec![1.0, 10.0, 5.0],
            window: vec![w, w, None],
            gd_rate: None,
        };
        // The third entry is below the sign floor: its wrong sign is not counted.
        let c = Comparison::new(&[2.0, 1.0, -1.0], &r);
        assert_eq!(c.wrong_sign_fraction, 0.5);
        // 1.0 is on the (inclusive) lower edge, 10.0 on the (exclusive) upper edge.
        assert!((c.window_fraction - 1.0 / 11.0).abs() < 1e-15);
        assert!((c.max_contrast_over_lower_edge - 10.0).abs() < 1e-12);
    }
}
