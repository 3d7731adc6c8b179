//! Dynamic range and offset of a weight-update curve `y = Δw/A_max` vs `x = A/A_max`.
//!
//! * [`fit_three_segments`]: continuous 3-segment piecewise-linear least squares with optimised
//!   interior breakpoints `b1 < b2` (App. E; the paper used pwlf). The model is
//!   `y = β0 + β1 x + β2 (x − b1)_+ + β3 (x − b2)_+`; for fixed breaks the normal equations are
//!   assembled in O(1) from prefix sums, the breaks are found by a coarse grid over data
//!   points, a full-resolution local search, and golden-section refinement between samples.
//! * [`pwlf_metrics`] (§3.4): offset = intercept of the third segment, `A_min/A_max = b2` if
//!   the third slope is within (0.75, 1.25) else 1, dynamic range `A_max/A_min`.
//! * [`threshold_metrics`] (§3.5, Markov kernels): `A_min` = first amplitude with `y > 0.05`,
//!   offset = intercept of an ordinary least-squares line over `[A_min, A_max)`.

use super::{Result, SynapseError};
use nalgebra::{Matrix4, Vector4};
use serde::Serialize;

/// A continuous 3-segment piecewise-linear fit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PiecewiseFit {
    /// Interior breakpoints `b1 < b2`.
    pub breaks: [f64; 2],
    /// Slope of each segment.
    pub slopes: [f64; 3],
    /// Intercept at `x = 0` of each segment's line.
    pub intercepts: [f64; 3],
    /// Sum of squared residuals.
    pub ssr: f64,
}

impl PiecewiseFit {
    /// The fitted function at `x`.
    pub fn eval(&self, x: f64) -> f64 {
        let k = if x < self.breaks[0] {
            0
        } else if x < self.breaks[1] {
            1
        } else {
            2
        };
        self.intercepts[k] + self.slopes[k] * x
    }
}

struct Prefix {
    x: Vec<f64>,
    // prefix sums of 1, x, x², y, xy (length n+1)
    sx: Vec<f64>,
    sxx: Vec<f64>,
    sy: Vec<f64>,
    sxy: Vec<f64>,
    syy: f64,
}

#[derive(Clone, Copy)]
struct Tail {
    n: f64,
    x: f64,
    xx: f64,
    y: f64,
    xy: f64,
}

impl Prefix {
    fn new(x: &[f64], y: &[f64]) -> Self {
        let n = x.len();
        let mut p = Prefix {
            x: x.to_vec(),
            sx: vec![0.0; n + 1],
            sxx: vec![0.0; n + 1],
            sy: vec![0.0; n + 1],
            sxy: vec![0.0; n + 1],
            syy: y.iter().map(|v| v * v).sum(),
        };
        for i in 0..n {
            p.sx[i + 1] = p.sx[i] + x[i];
            p.sxx[i + 1] = p.sxx[i] + x[i] * x[i];
            p.sy[i + 1] = p.sy[i] + y[i];
            p.sxy[i + 1] = p.sxy[i] + x[i] * y[i];
        }
        p
    }

    /// Sums over the points with `x > b`.
    fn tail(&self, b: f64) -> Tail {
        let n = self.x.len();
        let i = self.x.partition_point(|&v| v <= b);
        Tail {
            n: (n - i) as f64,
            x: self.sx[n] - self.sx[i],
            xx: self.sxx[n] - self.sxx[i],
            y: self.sy[n] - self.sy[i],
            xy: self.sxy[n] - self.sxy[i],
        }
    }

    /// Least-squares coefficients and SSR for breaks `b1 < b2` (None if rank deficient).
    fn solve(&self, b1: f64, b2: f64) -> Option<(Vector4<f64>, f64)> {
        let n = self.x.len();
        let all = Tail {
            n: n as f64,
            x: self.sx[n],
            xx: self.sxx[n],
            y: self.sy[n],
            xy: self.sxy[n],
        };
        let t1 = self.tail(b1);
        let t2 = self.tail(b2);
        let h = |t: &Tail, b: f64| t.x - b * t.n; // Σ (x−b)+
        let xh = |t: &Tail, b: f64| t.xx - b * t.x; // Σ x (x−b)+
        let hh = |t: &Tail, b: f64| t.xx - 2.0 * b * t.x + b * b * t.n; // Σ (x−b)+²
        let yh = |t: &Tail, b: f64| t.xy - b * t.y; // Σ y (x−b)+
        let h12 = t2.xx - (b1 + b2) * t2.x + b1 * b2 * t2.n; // Σ (x−b1)+(x−b2)+, b2 > b1
        let g = Matrix4::new(
            all.n,
            all.x,
            h(&t1, b1),
            h(&t2, b2),
            all.x,
            all.xx,
            xh(&t1, b1),
            xh(&t2, b2),
            h(&t1, b1),
            xh(&t1, b1),
            hh(&t1, b1),
            h12,
            h(&t2, b2),
            xh(&t2, b2),
            h12,
            hh(&t2, b2),
        );
        let rhs = Vector4::new(all.y, all.xy, yh(&t1, b1), yh(&t2, b2));
        let beta = g.cholesky()?.solve(&rhs);
        let ssr = self.syy - beta.dot(&rhs);
        if beta.iter().all(|v| v.is_finite()) && ssr.is_finite() {
            Some((beta, ssr.max(0.0)))
        } else {
            None
        }
    }
}

/// Least-squares continuous 3-segment piecewise-linear fit of `y(x)` (x strictly increasing,
/// at least 6 points).
pub fn fit_three_segments(x: &[f64], y: &[f64]) -> Result<PiecewiseFit> {
    let n = x.len();
    if n != y.len() {
        return Err(SynapseError::InvalidInput(format!(
            "piecewise fit: {} x values but {} y values",
            n,
            y.len()
        )));
    }
    if n < 6 {
        return Err(SynapseError::InvalidInput(format!(
            "piecewise fit needs at least 6 points, got {n}"
        )));
    }
    if x.iter().chain(y).any(|v| !v.is_finite()) {
        return Err(SynapseError::InvalidInput(
            "piecewise fit: non-finite data".into(),
        ));
    }
    if x.windows(2).any(|w| w[1] <= w[0]) {
        return Err(SynapseError::InvalidInput(
            "piecewise fit: x must be strictly increasing".into(),
        ));
    }
    let p = Prefix::new(x, y);
    // Breaks are placed at data points 1..=n−2 (the model is unchanged for a break in
    // (x_i, x_{i+1}] except through the hinge position, refined below).
    let interior: Vec<usize> = (1..n - 1).collect();
    let stride = (interior.len() / 60).max(1);
    let coarse: Vec<usize> = interior.iter().copied().step_by(stride).collect();
    let mut best: Option<(usize, usize, f64)> = None;
    let consider = |i: usize, j: usize, best: &mut Option<(usize, usize, f64)>| {
        if i >= j {
            return;
        }
        if let Some((_, ssr)) = p.solve(x[i], x[j]) {
            if best.map(|b| ssr < b.2).unwrap_or(true) {
                *best = Some((i, j, ssr));
            }
        }
    };
    for (a, &i) in coarse.iter().enumerate() {
        for &j in &coarse[a + 1..] {
            consider(i, j, &mut best);
        }
    }
    let (ci, cj, _) = best.ok_or_else(|| {
        SynapseError::Numerical("piecewise fit: every breakpoint pair is rank deficient".into())
    })?;
    let lo = |c: usize| c.saturating_sub(stride).max(1);
    let hi = |c: usize| (c + stride).min(n - 2);
    for i in lo(ci)..=hi(ci) {
        for j in lo(cj)..=hi(cj) {
            consider(i, j, &mut best);
        }
    }
    let (bi, bj, _) =
        best.ok_or_else(|| SynapseError::Numerical("piecewise fit: no valid breakpoints".into()))?;
    // Continuous refinement: golden-section search on each break between neighbouring samples.
    let mut b = [x[bi], x[bj]];
    let ssr_of = |b1: f64, b2: f64| {
        if b1 < b2 {
            p.solve(b1, b2).map(|s| s.1).unwrap_or(f64::INFINITY)
        } else {
            f64::INFINITY
        }
    };
    let mut cur = ssr_of(b[0], b[1]);
    for _round in 0..6 {
        for k in 0..2 {
            let idx = x.partition_point(|&v| v < b[k]);
            let left = x[idx.saturating_sub(1)];
            let right = x[(idx + 1).min(n - 1)];
            let f = |t: f64| {
                if k == 0 {
                    ssr_of(t, b[1])
                } else {
                    ssr_of(b[0], t)
                }
            };
            let (t, v) = golden_min(f, left, right, 40);
            if v < cur {
                cur = v;
                b[k] = t;
            }
        }
    }
    let (beta, ssr) = p
        .solve(b[0], b[1])
        .ok_or_else(|| SynapseError::Numerical("piecewise fit: final solve failed".into()))?;
    let slopes = [beta[1], beta[1] + beta[2], beta[1] + beta[2] + beta[3]];
    let intercepts = [
        beta[0],
        beta[0] - beta[2] * b[0],
        beta[0] - beta[2] * b[0] - beta[3] * b[1],
    ];
    Ok(PiecewiseFit {
        breaks: b,
        slopes,
        intercepts,
        ssr,
    })
}

fn golden_min(f: impl Fn(f64) -> f64, mut a: f64, mut b: f64, iters: usize) -> (f64, f64) {
    let r = 0.5 * (5f64.sqrt() - 1.0);
    let mut c = b - r * (b - a);
    let mut d = a + r * (b - a);
    let mut fc = f(c);
    let mut fd = f(d);
    for _ in 0..iters {
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - r * (b - a);
            fc = f(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + r * (b - a);
            fd = f(d);
        }
    }
    if fc < fd {
        (c, fc)
    } else {
        (d, fd)
    }
}

/// Dynamic range and offset of a response curve (`x = A/A_max`, `y = Δw/A_max`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RangeMetrics {
    /// `A_min/A_max` (1 when no contrastive window was found).
    pub a_min_over_a_max: f64,
    /// `A_max/A_min`.
    pub dynamic_range: f64,
    /// Offset in units of `A_max`: intercept at `A = 0` of the linear (contrastive) part.
    pub offset: f64,
    /// Slope of the linear part (1 for the ideal rule).
    pub slope: f64,
    /// Whether a contrastive window was detected.
    pub responsive: bool,
}

/// §3.4: metrics from the 3-segment fit.
pub fn pwlf_metrics(x: &[f64], y: &[f64]) -> Result<(RangeMetrics, PiecewiseFit)> {
    let fit = fit_three_segments(x, y)?;
    let slope = fit.slopes[2];
    let responsive = slope > 0.75 && slope < 1.25;
    let ratio = if responsive { fit.breaks[1] } else { 1.0 };
    Ok((
        RangeMetrics {
            a_min_over_a_max: ratio,
            dynamic_range: 1.0 / ratio,
            offset: fit.intercepts[2],
            slope,
            responsive,
        },
        fit,
    ))
}

/// §3.5: threshold method. `x, y` are the whole curve; only the first `l` points (those with
/// `A < A_max`) are used. `A_min` is the first `x_j` with `y_j > level` (0.05 in the paper);
/// the offset and slope come from an ordinary least-squares line over `j ∈ [k*, l)`.
pub fn threshold_metrics(x: &[f64], y: &[f64], l: usize, level: f64) -> Result<RangeMetrics> {
    if x.len() != y.len() || l > x.len() || l < 2 {
        return Err(SynapseError::InvalidInput(format!(
            "threshold metrics: {} x, {} y, l = {l}",
            x.len(),
            y.len()
        )));
    }
    let none = RangeMetrics {
        a_min_over_a_max: 1.0,
        dynamic_range: 1.0,
        offset: f64::NAN,
        slope: f64::NAN,
        responsive: false,
    };
    let Some(k) = (0..l).find(|&j| y[j] > level) else {
        return Ok(none);
    };
    let m = (l - k) as f64;
    if m < 2.0 {
        return Ok(none);
    }
    let (xs, ys) = (&x[k..l], &y[k..l]);
    let mx = xs.iter().sum::<f64>() / m;
    let my = ys.iter().sum::<f64>() / m;
    let sxx: f64 = xs.iter().map(|v| (v - mx).powi(2)).sum();
    let sxy: f64 = xs.iter().zip(ys).map(|(a, b)| (a - mx) * (b - my)).sum();
    let slope = sxy / sxx;
    let ratio = x[k];
    Ok(RangeMetrics {
        a_min_over_a_max: ratio,
        dynamic_range: if ratio > 0.0 {
            1.0 / ratio
        } else {
            f64::INFINITY
        },
        offset: my - slope * mx,
        slope,
        responsive: true,
    })
}
