//! Implicit integrator for stiff segments: variable-order (1–5), variable-step BDF in the
//! numerical-differentiation-formula (NDF) form with quasi-constant steps (Shampine & Reichelt,
//! "The MATLAB ODE suite", SIAM J. Sci. Comput. 18, 1997; the same scheme as MATLAB's `ode15s`
//! and SciPy's `BDF`).
//!
//! The network is an index-1 DAE written as an ODE `v' = f(t, v)` for the packed element
//! states (the node potentials are solved inside `f`), and this module integrates that ODE form;
//! it knows no physics. With the backward differences `∇^j v_n` of the last accepted points at
//! the current step `h`, order `k`, `γ_k = Σ_{j≤k} 1/j`, `α_k = (1 − κ_k) γ_k` (κ: the NDF
//! coefficients −0.1850, −1/9, −0.0823, −0.0415, 0), each step solves
//!
//! ```text
//! predictor:  v⁽⁰⁾ = Σ_{j=0..k} ∇^j v_n
//! corrector:  v − v⁽⁰⁾ = c f(t_{n+1}, v) − ψ,   c = h/α_k,   ψ = (1/α_k) Σ_{j=1..k} γ_j ∇^j v_n
//! Newton:     (I − c J) Δ = c f(v_i) − ψ − (v_i − v⁽⁰⁾),     J ≈ ∂f/∂v (finite differences)
//! error:      e = (κ_k γ_k + 1/(k+1)) (v_{n+1} − v⁽⁰⁾),       ‖e / (atol_i + rtol |v_i|)‖_rms ≤ 1
//! ```
//!
//! The Jacobian is kept as long as the simplified Newton iteration converges (it is recomputed
//! only when Newton fails with a stale Jacobian); the LU factors of `I − cJ` are recomputed when
//! `h` or `k` change. After `k + 1` steps of equal size the order moves by at most one and the
//! step by a factor in [0.2, 10] (the order with the largest admissible step wins). Step changes
//! rescale the difference array with the interpolation matrices `R(k, ρ)`, `U(k)`.
//!
//! The Jacobian is the system's analytic one when it provides it ([`OdeSystem::has_jacobian`],
//! e.g. the mass-action networks of `crate::chem`); otherwise it is formed by forward
//! differences, one right-hand-side evaluation per *group* of structurally independent columns
//! (columns whose nonzero rows do not overlap), plus one for `f(t, v)`. Its right-hand-side
//! evaluations are counted honestly in the statistics. Absolute tolerances may be given per
//! component ([`OdeSystem::atol_weights`]) when the components span many decades.
//!
//! **Discontinuous f.** The hard learning threshold `N_θ(σ) = σ·1{|σ| > θ}` makes f jump; with
//! Hebbian self-interaction the state can slide along `σ = θ` (a Filippov sliding mode), where
//! no smooth Newton iteration converges. Three measures: (1) a Newton failure right after a
//! fresh Jacobian marks the Jacobian as "not the problem" and it is kept (up to
//! `JAC_MAX_AGE` steps) instead of being recomputed every step; (2) a stalled iteration whose
//! last iterate and increment straddle the switching surface is resolved by bisection onto the
//! surface (`slide_point`: the implicit Filippov solution), to within the error tolerance,
//! and the error test judges the step; (3) finite differences that cross the threshold are
//! detected and replaced by one-sided ones (`fd_jacobian`), since a `jump/δ` entry would freeze
//! Newton at the predictor. See docs/stiff.md for measurements.

use super::dynamics::Dynamics;
use crate::protocol::Segment;
use nalgebra::{DMatrix, DVector};
use ode_solvers::dop_shared::{IntegrationError, Stats};
use serde::Serialize;

const MAX_ORDER: usize = 5;
const NEWTON_MAXITER: usize = 4;
const MIN_FACTOR: f64 = 0.2;
const MAX_FACTOR: f64 = 10.0;
/// A Jacobian younger than this many accepted steps counts as current (not recomputed when
/// Newton fails; the step is reduced instead).
const JAC_MIN_AGE: u32 = 3;
/// Largest scaled Newton increment for which a non-contracting iteration with a current
/// Jacobian is accepted (see `integrate`).
const RELAXED_NEWTON: f64 = 0.5;
/// Once a fresh Jacobian failed to restore Newton convergence (a discontinuity of f), the
/// Jacobian is kept for up to this many steps before a Newton failure recomputes it.
const JAC_MAX_AGE: u32 = 50;
/// A forward difference that changes a component of f by more than this fraction of its
/// size is re-checked for a discontinuity (see `fd_jacobian`).
const JUMP_FRACTION: f64 = 0.1;
/// Most bisections of [`slide_point`]; it uses as many as bring the straddling increment
/// below `RELAXED_NEWTON` (scaled).
const MAX_BISECTIONS: usize = 40;
/// NDF coefficients κ_k (index = order; κ_5 = 0 gives BDF5).
const KAPPA: [f64; MAX_ORDER + 1] = [0.0, -0.1850, -1.0 / 9.0, -0.0823, -0.0415, 0.0];

/// A column group of the finite-difference Jacobian: the columns are perturbed together in one
/// right-hand-side evaluation, so their row sets must not overlap.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnGroup {
    /// The columns of this group and, for each, the rows it can change (`None`: every row).
    pub columns: Vec<(usize, Option<Vec<usize>>)>,
}

/// The ODE `v' = f(t, v)` seen by the implicit integrator.
pub trait OdeSystem {
    /// Dimension of `v`.
    fn dim(&self) -> usize;
    /// Evaluate `f(t, v)` into `f`. Returns `false` when the evaluation failed (the system keeps
    /// the reason); the integration then stops at once.
    fn rhs(&self, t: f64, v: &[f64], f: &mut [f64]) -> bool;
    /// Column groups of `∂f/∂v` (default: every column alone, i.e. a dense Jacobian).
    fn column_groups(&self) -> Vec<ColumnGroup> {
        (0..self.dim())
            .map(|j| ColumnGroup {
                columns: vec![(j, None)],
            })
            .collect()
    }
    /// Whether [`OdeSystem::jacobian`] is implemented (default: no; the integrator then forms
    /// finite differences over [`OdeSystem::column_groups`]).
    fn has_jacobian(&self) -> bool {
        false
    }
    /// Analytic Jacobian `∂f/∂v` at `(t, v)`, written into `jac` (`dim × dim`, zeroed by the
    /// caller). Returns `false` when the evaluation failed. Called only if `has_jacobian()`.
    fn jacobian(&self, _t: f64, _v: &[f64], _jac: &mut DMatrix<f64>) -> bool {
        false
    }
    /// Structural nonzeros `(row, column)` of the analytic Jacobian. With `Some`, the Newton
    /// matrix `I − cJ` is factored by a sparse LU (faer) whose symbolic analysis is done once
    /// for this pattern; `None` (the default): dense LU.
    fn jacobian_pattern(&self) -> Option<Vec<(usize, usize)>> {
        None
    }
    /// Per-component absolute-tolerance weights `w`: component `i` is judged with
    /// `atol · w_i + rtol · |v_i|`. `None` (the default): the scalar `atol` for every component.
    fn atol_weights(&self) -> Option<Vec<f64>> {
        None
    }
    /// Number of trailing components that are pure quadratures `v_q' = P(t, v_x)` (never fed
    /// back): left out of the error and Newton norms, their Jacobian rows and columns zero, so
    /// the other components follow the same steps as without them (energy accounting).
    fn n_quadrature(&self) -> usize {
        0
    }
}

/// `∂f/∂v` at `(t, v)`: the system's analytic Jacobian when it has one, else finite differences.
#[allow(clippy::too_many_arguments)]
fn jacobian_at<S: OdeSystem>(
    sys: &S,
    groups: &[ColumnGroup],
    t: f64,
    v: &[f64],
    f0: &[f64],
    floor: f64,
    stats: &mut BdfStats,
) -> Option<DMatrix<f64>> {
    let n = v.len();
    let np = n - sys.n_quadrature().min(n);
    let mut jac = if !sys.has_jacobian() {
        fd_jacobian(sys, groups, t, v, f0, floor, stats)?
    } else {
        let mut jac = DMatrix::zeros(n, n);
        stats.jacobian_evals += 1;
        if !(sys.jacobian(t, v, &mut jac) && jac.iter().all(|x| x.is_finite())) {
            return None;
        }
        jac
    };
    // Quadrature rows (and columns) are zero: the Newton matrix is block diagonal and the
    // physical block is factored exactly as without them.
    for i in np..n {
        for j in 0..n {
            jac[(i, j)] = 0.0;
            jac[(j, i)] = 0.0;
        }
    }
    Some(jac)
}

/// Settings of [`integrate`].
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct BdfOptions {
    pub rtol: f64,
    pub atol: f64,
    pub h_init: f64,
    pub h_max: f64,
    pub max_steps: u32,
}

/// Statistics of one integration.
#[derive(Copy, Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct BdfStats {
    /// Right-hand-side evaluations, including those of the finite-difference Jacobians.
    pub rhs_evals: u64,
    /// Finite-difference Jacobians formed.
    pub jacobian_evals: u64,
    /// Right-hand-side evaluations spent on Jacobians (included in `rhs_evals`).
    pub jacobian_rhs_evals: u64,
    /// LU factorisations of `I − cJ`.
    pub lu_decompositions: u64,
    pub accepted_steps: u64,
    /// Steps rejected by the error test or by a Newton failure.
    pub rejected_steps: u64,
    pub newton_iterations: u64,
    pub newton_failures: u64,
    /// Steps whose Newton iteration stalled within tolerance with a current Jacobian (across
    /// a discontinuity of f) and were passed to the error test.
    pub relaxed_newton: u64,
    /// Of `lu_decompositions`, those done by the sparse LU (a system with a
    /// [`OdeSystem::jacobian_pattern`] whose symbolic analysis succeeded); 0 on the dense path.
    #[serde(default)]
    pub sparse_factorizations: u64,
}

/// Why an integration stopped early.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum BdfError {
    #[error("right-hand side failed at t = {t}")]
    RhsFailed { t: f64 },
    #[error("step size underflow at t = {t} (h = {h:.3e})")]
    StepUnderflow { t: f64, h: f64 },
    #[error("step limit reached at t = {t} ({steps} steps)")]
    MaxSteps { t: f64, steps: u32 },
    #[error("invalid interval or state: {0}")]
    Invalid(String),
}

/// Result of [`integrate`]: the accepted points (the first is `(t0, v0)`; on success the last is
/// exactly `t1`), the statistics, and how it ended.
#[derive(Clone, Debug)]
pub struct BdfOutput {
    pub ts: Vec<f64>,
    pub ys: Vec<DVector<f64>>,
    pub stats: BdfStats,
    pub result: Result<(), BdfError>,
}

impl BdfOutput {
    /// The outcome in `ode_solvers` terms, so that the engine reports failures of every method
    /// the same way. A failed right-hand side ends the trajectory early with `Ok`: the system
    /// has recorded the reason (time, element), which the engine reports first.
    pub fn ode_solvers_result(&self) -> Result<Stats, IntegrationError> {
        let c = |x: u64| u32::try_from(x).unwrap_or(u32::MAX);
        let st = Stats {
            num_eval: c(self.stats.rhs_evals),
            accepted_steps: c(self.stats.accepted_steps),
            rejected_steps: c(self.stats.rejected_steps),
        };
        match &self.result {
            Ok(()) | Err(BdfError::RhsFailed { .. }) => Ok(st),
            Err(BdfError::StepUnderflow { t, .. }) => {
                Err(IntegrationError::StepSizeUnderflow { x: *t })
            }
            Err(BdfError::MaxSteps { t, steps }) => Err(IntegrationError::MaxNumStepReached {
                x: *t,
                n_step: *steps,
            }),
            Err(BdfError::Invalid(_)) => Err(IntegrationError::StepSizeUnderflow {
                x: self.ts.first().copied().unwrap_or(0.0),
            }),
        }
    }
}

/// RMS of `x/scale` over the first `scale.len()` components (the scales cover only the
/// components under error control; trailing quadratures have none).
fn rms(x: &[f64], scale: &[f64]) -> f64 {
    let n = x.len().min(scale.len());
    if n == 0 {
        return 0.0;
    }
    (x.iter()
        .zip(scale)
        .map(|(a, s)| (a / s) * (a / s))
        .sum::<f64>()
        / n as f64)
        .sqrt()
}

/// `R(k, ρ)`: the matrix that maps the differences of step `h` to those of step `ρh`
/// (`R_ij = Π_{m=1..i} (m − 1 − ρ j)/m`, `R_0j = 1`).
fn compute_r(order: usize, factor: f64) -> Vec<Vec<f64>> {
    let n = order + 1;
    let mut m = vec![vec![0.0; n]; n];
    m[0].iter_mut().for_each(|x| *x = 1.0);
    for (i, row) in m.iter_mut().enumerate().skip(1) {
        for (j, x) in row.iter_mut().enumerate().skip(1) {
            *x = (i as f64 - 1.0 - factor * j as f64) / i as f64;
        }
    }
    for i in 1..n {
        let (prev, rest) = m.split_at_mut(i);
        for (x, p) in rest[0].iter_mut().zip(&prev[i - 1]) {
            *x *= *p;
        }
    }
    m
}

/// Rescale the difference array `d[0..=order]` for a step change by `factor`.
fn change_d(d: &mut [Vec<f64>], order: usize, factor: f64) {
    let r = compute_r(order, factor);
    let u = compute_r(order, 1.0);
    let n = order + 1;
    // RU = R U; new D_i = Σ_j RU_ji D_j.
    let mut ru = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..n {
            ru[i][j] = (0..n).map(|m| r[i][m] * u[m][j]).sum();
        }
    }
    let dim = d[0].len();
    let old: Vec<Vec<f64>> = d[..n].to_vec();
    for i in 0..n {
        for c in 0..dim {
            d[i][c] = (0..n).map(|j| ru[j][i] * old[j][c]).sum();
        }
    }
}

/// Finite-difference Jacobian at `(t, v)` with `f0 = f(t, v)`; `None` if an evaluation failed.
///
/// Forward differences, one evaluation per column group. A difference across a discontinuity of
/// `f` (the hard learning threshold) would produce a spurious entry of size `jump/δ` (~10⁸ ×
/// the jump), which freezes Newton at the predictor and lets the solution drift. A row whose
/// forward change is a large fraction of `f` itself is therefore re-checked with a backward
/// difference: where the two quotients disagree the smaller one (the one-sided derivative) is
/// kept, elsewhere their mean (a central difference).
fn fd_jacobian<S: OdeSystem>(
    sys: &S,
    groups: &[ColumnGroup],
    t: f64,
    v: &[f64],
    f0: &[f64],
    floor: f64,
    stats: &mut BdfStats,
) -> Option<DMatrix<f64>> {
    let n = v.len();
    let mut jac = DMatrix::zeros(n, n);
    let mut vp = v.to_vec();
    let mut fp = vec![0.0; n];
    let mut fm = vec![0.0; n];
    let sq = f64::EPSILON.sqrt();
    let f_floor = 1e-6 * f0.iter().fold(0.0f64, |a, x| a.max(x.abs()));
    let jumpy = |a: f64, b: f64| {
        let d = (a - b).abs();
        d > f_floor && d > JUMP_FRACTION * a.abs().max(b.abs())
    };
    stats.jacobian_evals += 1;
    for g in groups {
        let mut deltas = Vec::with_capacity(g.columns.len());
        for (j, _) in &g.columns {
            let h = sq * v[*j].abs().max(floor);
            // Make the perturbation exactly representable.
            let vj = v[*j] + h;
            deltas.push(vj - v[*j]);
        }
        for ((j, _), h) in g.columns.iter().zip(&deltas) {
            vp[*j] = v[*j] + h;
        }
        stats.rhs_evals += 1;
        stats.jacobian_rhs_evals += 1;
        if !sys.rhs(t, &vp, &mut fp) {
            return None;
        }
        let rows_of = |rows: &Option<Vec<usize>>| -> Vec<usize> {
            match rows {
                None => (0..n).collect(),
                Some(r) => r.clone(),
            }
        };
        let suspicious = g
            .columns
            .iter()
            .any(|(_, rows)| rows_of(rows).iter().any(|&i| jumpy(fp[i], f0[i])));
        if suspicious {
            for ((j, _), h) in g.columns.iter().zip(&deltas) {
                vp[*j] = v[*j] - h;
            }
            stats.rhs_evals += 1;
            stats.jacobian_rhs_evals += 1;
            if !sys.rhs(t, &vp, &mut fm) {
                return None;
            }
        }
        for ((j, rows), h) in g.columns.iter().zip(&deltas) {
            for i in rows_of(rows) {
                let jf = (fp[i] - f0[i]) / h;
                jac[(i, *j)] = if suspicious {
                    let jb = (f0[i] - fm[i]) / h;
                    if (jf - jb).abs() > 0.5 * jf.abs().max(jb.abs()) {
                        if jf.abs() < jb.abs() {
                            jf
                        } else {
                            jb
                        }
                    } else {
                        0.5 * (jf + jb)
                    }
                } else {
                    jf
                };
            }
            vp[*j] = v[*j];
        }
    }
    Some(jac)
}

/// Result of one simplified Newton solve of the corrector.
struct Newton {
    converged: bool,
    /// Scaled norm of the last increment computed (applied or not).
    last_dy_norm: f64,
    /// The increment computed but not applied when the iteration stopped contracting.
    last_dy: Option<Vec<f64>>,
    iterations: usize,
    y: Vec<f64>,
    d: Vec<f64>,
    failed_rhs: bool,
}

#[allow(clippy::too_many_arguments)]
fn solve_bdf_system<S: OdeSystem>(
    sys: &S,
    t_new: f64,
    y_predict: &[f64],
    c: f64,
    psi: &[f64],
    lu: &NewtonLu,
    scale: &[f64],
    tol: f64,
    stats: &mut BdfStats,
) -> Newton {
    let n = y_predict.len();
    let mut y = y_predict.to_vec();
    let mut d = vec![0.0; n];
    let mut f = vec![0.0; n];
    let mut dy_norm_old: Option<f64> = None;
    let mut converged = false;
    let mut last_dy_norm = f64::INFINITY;
    let mut last_dy = None;
    let mut k = 0;
    while k < NEWTON_MAXITER {
        stats.rhs_evals += 1;
        stats.newton_iterations += 1;
        if !sys.rhs(t_new, &y, &mut f) || f.iter().any(|x| !x.is_finite()) {
            return Newton {
                converged: false,
                last_dy_norm: f64::INFINITY,
                last_dy: None,
                iterations: k + 1,
                y,
                d,
                failed_rhs: true,
            };
        }
        let mut b = DVector::from_iterator(n, (0..n).map(|i| c * f[i] - psi[i] - d[i]));
        if !lu.solve_mut(&mut b) || b.iter().any(|x| !x.is_finite()) {
            break;
        }
        let dy_norm = rms(b.as_slice(), scale);
        last_dy_norm = dy_norm;
        let rate = dy_norm_old.map(|o| dy_norm / o);
        if let Some(r) = rate {
            if r >= 1.0 || r.powi((NEWTON_MAXITER - k) as i32) / (1.0 - r) * dy_norm > tol {
                last_dy = Some(b.as_slice().to_vec());
                break;
            }
        }
        for i in 0..n {
            y[i] += b[i];
            d[i] += b[i];
        }
        let done = match rate {
            None => dy_norm == 0.0,
            Some(r) => r / (1.0 - r) * dy_norm < tol,
        };
        if done {
            converged = true;
            break;
        }
        dy_norm_old = Some(dy_norm);
        k += 1;
    }
    Newton {
        converged,
        last_dy_norm,
        last_dy,
        iterations: (k + 1).min(NEWTON_MAXITER),
        y,
        d,
        failed_rhs: false,
    }
}

/// Resolve a Newton 2-cycle across a discontinuity of f. The last iterate `y_b` and the
/// increment `δ` it asks for straddle the switching surface: along `y(μ) = y_b + μ δ` the Newton
/// increment `M⁻¹ r(y(μ))` points along `+δ` on `y_b`'s side and against it on the other side.
/// Bisection on the sign of `⟨M⁻¹ r(y(μ)), δ⟩` locates the crossing, i.e. the implicit (Filippov)
/// solution on the switching surface, where f is the convex combination of its one-sided
/// values that keeps the state on the surface (sliding). Returns `(y, y − y_predict)`.
#[allow(clippy::too_many_arguments)]
fn slide_point<S: OdeSystem>(
    sys: &S,
    t_new: f64,
    y_predict: &[f64],
    c: f64,
    psi: &[f64],
    lu: &NewtonLu,
    nw: &Newton,
    bisections: usize,
    stats: &mut BdfStats,
) -> Option<(Vec<f64>, Vec<f64>)> {
    let dir = nw.last_dy.as_ref()?;
    let n = y_predict.len();
    // The projection is over the physical components (quadratures never feed back).
    let np = n - sys.n_quadrature().min(n);
    let mut f = vec![0.0; n];
    let point = |mu: f64| -> Vec<f64> { (0..n).map(|i| nw.y[i] + mu * dir[i]).collect() };
    let mut proj = |mu: f64, stats: &mut BdfStats| -> Option<f64> {
        let y = point(mu);
        stats.rhs_evals += 1;
        stats.newton_iterations += 1;
        if !sys.rhs(t_new, &y, &mut f) || f.iter().any(|x| !x.is_finite()) {
            return None;
        }
        let mut b =
            DVector::from_iterator(n, (0..n).map(|i| c * f[i] - psi[i] - (y[i] - y_predict[i])));
        if !lu.solve_mut(&mut b) {
            return None;
        }
        Some(b.iter().zip(dir).take(np).map(|(a, b)| a * b).sum())
    };
    if proj(1.0, stats)? >= 0.0 {
        return None;
    }
    let (mut lo, mut hi) = (0.0, 1.0);
    for _ in 0..bisections {
        let mid = 0.5 * (lo + hi);
        if proj(mid, stats)? > 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let y = point(0.5 * (lo + hi));
    let d = (0..n).map(|i| y[i] - y_predict[i]).collect();
    Some((y, d))
}

/// Factors of the Newton matrix `I − cJ` of the leading (physical) block; the trailing
/// quadrature components have the identity block (their Jacobian rows and columns are zero).
enum NewtonLu {
    Dense(nalgebra::LU<f64, nalgebra::Dyn, nalgebra::Dyn>),
    Sparse(Box<faer::sparse::linalg::solvers::Lu<usize, f64>>, usize),
    /// The sparse factorisation failed (singular): every solve fails, Newton reduces the step.
    Failed,
}

impl NewtonLu {
    fn solve_mut(&self, b: &mut DVector<f64>) -> bool {
        match self {
            NewtonLu::Dense(lu) => {
                let np = lu.l().nrows();
                if np == b.len() {
                    return lu.solve_mut(b);
                }
                let mut head = DVector::from_column_slice(&b.as_slice()[..np]);
                let ok = lu.solve_mut(&mut head);
                b.as_mut_slice()[..np].copy_from_slice(head.as_slice());
                ok
            }
            NewtonLu::Sparse(lu, np) => {
                use faer::linalg::solvers::SolveCore;
                let m =
                    faer::MatMut::from_column_major_slice_mut(&mut b.as_mut_slice()[..*np], *np, 1);
                lu.solve_in_place_with_conj(faer::Conj::No, m);
                b.iter().all(|x| x.is_finite())
            }
            NewtonLu::Failed => false,
        }
    }
}

/// The fixed sparse structure of `I − cJ` (Jacobian pattern ∪ diagonal, compressed columns)
/// with its symbolic LU, analysed once per integration.
struct SparseNewton {
    col_ptr: Vec<usize>,
    row_idx: Vec<usize>,
    symbolic: faer::sparse::linalg::solvers::SymbolicLu<usize>,
}

impl SparseNewton {
    fn new(n: usize, pattern: &[(usize, usize)]) -> Option<Self> {
        let mut cols: Vec<Vec<usize>> = vec![Vec::new(); n];
        for &(r, c) in pattern {
            if r < n && c < n {
                cols[c].push(r);
            }
        }
        let mut col_ptr = vec![0usize];
        let mut row_idx = Vec::new();
        for (c, rows) in cols.iter_mut().enumerate() {
            rows.push(c);
            rows.sort_unstable();
            rows.dedup();
            row_idx.extend_from_slice(rows);
            col_ptr.push(row_idx.len());
        }
        let sym =
            faer::sparse::SymbolicSparseColMatRef::new_checked(n, n, &col_ptr, None, &row_idx);
        let symbolic = faer::sparse::linalg::solvers::SymbolicLu::try_new(sym).ok()?;
        Some(SparseNewton {
            col_ptr,
            row_idx,
            symbolic,
        })
    }

    fn factor(&self, jac: &DMatrix<f64>, c: f64) -> NewtonLu {
        let n = self.col_ptr.len() - 1;
        let mut vals = Vec::with_capacity(self.row_idx.len());
        for col in 0..n {
            for &r in &self.row_idx[self.col_ptr[col]..self.col_ptr[col + 1]] {
                let v = -c * jac[(r, col)] + if r == col { 1.0 } else { 0.0 };
                vals.push(v);
            }
        }
        let sym = faer::sparse::SymbolicSparseColMatRef::new_checked(
            n,
            n,
            &self.col_ptr,
            None,
            &self.row_idx,
        );
        let m = faer::sparse::SparseColMatRef::new(sym, &vals);
        match faer::sparse::linalg::solvers::Lu::try_new_with_symbolic(self.symbolic.clone(), m) {
            Ok(lu) => NewtonLu::Sparse(Box::new(lu), n),
            Err(_) => NewtonLu::Failed,
        }
    }
}

fn lu_of(jac: &DMatrix<f64>, c: f64, sparse: Option<&SparseNewton>, np: usize) -> NewtonLu {
    if let Some(sp) = sparse {
        return sp.factor(jac, c);
    }
    let n = jac.nrows();
    let mut m = if np == n {
        -c * jac
    } else {
        -c * jac.view((0, 0), (np, np)).into_owned()
    };
    for i in 0..np {
        m[(i, i)] += 1.0;
    }
    NewtonLu::Dense(m.lu())
}

/// Integrate `v' = f(t, v)` from `(t0, v0)` to `t1 > t0` with the variable-order NDF/BDF
/// method described in the module docs.
pub fn integrate<S: OdeSystem>(
    sys: &S,
    t0: f64,
    t1: f64,
    v0: DVector<f64>,
    opt: &BdfOptions,
) -> BdfOutput {
    let mut out = BdfOutput {
        ts: vec![t0],
        ys: vec![v0.clone()],
        stats: BdfStats::default(),
        result: Ok(()),
    };
    let n = v0.len();
    // NaN bounds are rejected along with an empty or reversed interval.
    if t0.is_nan() || t1.is_nan() || t1 <= t0 || n != sys.dim() {
        out.result = Err(BdfError::Invalid(format!(
            "t0 = {t0}, t1 = {t1}, state length {n} for a system of dimension {}",
            sys.dim()
        )));
        return out;
    }
    if n == 0 {
        out.ts.push(t1);
        out.ys.push(v0);
        return out;
    }
    let stats = &mut out.stats;
    let np = n - sys.n_quadrature().min(n);
    let (rtol, atol) = (opt.rtol, opt.atol);
    let floor = (atol / rtol).max(1e-8);
    let groups = if sys.has_jacobian() {
        Vec::new()
    } else {
        sys.column_groups()
    };
    let atol_v: Vec<f64> = match sys.atol_weights() {
        Some(w) if w.len() == n => w.iter().map(|w| atol * w).collect(),
        Some(w) => {
            out.result = Err(BdfError::Invalid(format!(
                "{} absolute-tolerance weights for a system of dimension {n}",
                w.len()
            )));
            return out;
        }
        None => vec![atol; n],
    };
    let newton_tol = (10.0 * f64::EPSILON / rtol).max(0.03f64.min(rtol.sqrt()));
    let max_step = opt.h_max.min(t1 - t0);
    let mut h_abs = opt.h_init.min(max_step);

    let gamma: Vec<f64> = (0..=MAX_ORDER)
        .map(|k| (1..=k).map(|j| 1.0 / j as f64).sum())
        .collect();
    let alpha: Vec<f64> = (0..=MAX_ORDER)
        .map(|k| (1.0 - KAPPA[k]) * gamma[k])
        .collect();
    let error_const: Vec<f64> = (0..=MAX_ORDER)
        .map(|k| KAPPA[k] * gamma[k] + 1.0 / (k + 1) as f64)
        .collect();

    let mut t = t0;
    let mut y: Vec<f64> = v0.as_slice().to_vec();
    let mut f0 = vec![0.0; n];
    stats.rhs_evals += 1;
    if !sys.rhs(t, &y, &mut f0) || f0.iter().any(|x| !x.is_finite()) {
        out.result = Err(BdfError::RhsFailed { t });
        return out;
    }
    let mut jac = match jacobian_at(sys, &groups, t, &y, &f0, floor, stats) {
        Some(j) => j,
        None => {
            out.result = Err(BdfError::RhsFailed { t });
            return out;
        }
    };
    let mut dd: Vec<Vec<f64>> = vec![vec![0.0; n]; MAX_ORDER + 3];
    dd[0].copy_from_slice(&y);
    for i in 0..n {
        dd[1][i] = f0[i] * h_abs;
    }
    let mut order = 1usize;
    let mut n_equal_steps = 0usize;
    let mut lu: Option<NewtonLu> = None;
    let sparse = if sys.has_jacobian() {
        sys.jacobian_pattern()
            .and_then(|p| SparseNewton::new(np, &p))
    } else {
        None
    };
    let mut steps: u32 = 0;
    let mut jac_age: u32 = 0;
    let mut jac_useless = false;

    while t < t1 {
        if steps >= opt.max_steps {
            out.result = Err(BdfError::MaxSteps { t, steps });
            return out;
        }
        let min_step = 10.0 * (t.abs() * f64::EPSILON).max(f64::MIN_POSITIVE);
        if h_abs > max_step {
            change_d(&mut dd, order, max_step / h_abs);
            h_abs = max_step;
            n_equal_steps = 0;
            lu = None;
        } else if h_abs < min_step {
            change_d(&mut dd, order, min_step / h_abs);
            h_abs = min_step;
            n_equal_steps = 0;
            lu = None;
        }
        let mut current_jac = jac_age < JAC_MIN_AGE || (jac_useless && jac_age < JAC_MAX_AGE);
        let mut fresh_this_step = false;
        let (t_new, y_new, d, n_iter, scale_new) = loop {
            if h_abs < min_step {
                out.result = Err(BdfError::StepUnderflow { t, h: h_abs });
                return out;
            }
            let mut t_new = t + h_abs;
            if t_new >= t1 || t1 - t_new < min_step {
                t_new = t1;
                change_d(&mut dd, order, (t_new - t) / h_abs);
                n_equal_steps = 0;
                lu = None;
            }
            let h = t_new - t;
            h_abs = h;
            let y_predict: Vec<f64> = (0..n)
                .map(|i| (0..=order).map(|j| dd[j][i]).sum())
                .collect();
            let scale: Vec<f64> = y_predict[..np]
                .iter()
                .zip(&atol_v)
                .map(|(v, a)| a + rtol * v.abs())
                .collect();
            let psi: Vec<f64> = (0..n)
                .map(|i| (1..=order).map(|j| dd[j][i] * gamma[j]).sum::<f64>() / alpha[order])
                .collect();
            let c = h / alpha[order];
            let mut result: Option<Newton> = None;
            loop {
                let lu_ref = match &lu {
                    Some(l) => l,
                    None => {
                        stats.lu_decompositions += 1;
                        if sparse.is_some() {
                            stats.sparse_factorizations += 1;
                        }
                        lu.insert(lu_of(&jac, c, sparse.as_ref(), np))
                    }
                };
                let mut nw = solve_bdf_system(
                    sys, t_new, &y_predict, c, &psi, lu_ref, &scale, newton_tol, stats,
                );
                if nw.failed_rhs {
                    out.result = Err(BdfError::RhsFailed { t: t_new });
                    return out;
                }
                if nw.converged {
                    result = Some(nw);
                    break;
                }
                stats.newton_failures += 1;
                if fresh_this_step {
                    // A Jacobian at this very point did not help: Newton stalls on a
                    // discontinuity of f, not on a stale Jacobian.
                    jac_useless = true;
                }
                if current_jac {
                    // A fresh Jacobian and still no contraction: typically the iterates straddle
                    // a discontinuity of f (the hard learning threshold, where the dynamics
                    // slide along σ = θ). Locate the implicit solution on the switching surface
                    // by bisection to within the error tolerance (or, without a straddle, take
                    // the iterate if its increment is within the tolerance) and let the error
                    // test judge the step.
                    let bisections = (nw.last_dy_norm / RELAXED_NEWTON).log2().ceil().max(1.0);
                    if bisections <= MAX_BISECTIONS as f64 {
                        if let Some((y, d)) = slide_point(
                            sys,
                            t_new,
                            &y_predict,
                            c,
                            &psi,
                            lu_ref,
                            &nw,
                            bisections as usize,
                            stats,
                        ) {
                            stats.relaxed_newton += 1;
                            nw.y = y;
                            nw.d = d;
                            result = Some(nw);
                        } else if nw.last_dy_norm <= RELAXED_NEWTON {
                            stats.relaxed_newton += 1;
                            result = Some(nw);
                        }
                    }
                    break;
                }
                let mut fp = vec![0.0; n];
                if !sys.has_jacobian() {
                    // f at the new point, for the finite differences.
                    stats.rhs_evals += 1;
                    stats.jacobian_rhs_evals += 1;
                    if !sys.rhs(t_new, &y_predict, &mut fp) || fp.iter().any(|x| !x.is_finite()) {
                        out.result = Err(BdfError::RhsFailed { t: t_new });
                        return out;
                    }
                }
                jac = match jacobian_at(sys, &groups, t_new, &y_predict, &fp, floor, stats) {
                    Some(j) => j,
                    None => {
                        out.result = Err(BdfError::RhsFailed { t: t_new });
                        return out;
                    }
                };
                lu = None;
                current_jac = true;
                fresh_this_step = true;
                jac_useless = false;
                jac_age = 0;
            }
            let nw = match result {
                Some(nw) => nw,
                None => {
                    stats.rejected_steps += 1;
                    h_abs *= 0.5;
                    change_d(&mut dd, order, 0.5);
                    n_equal_steps = 0;
                    lu = None;
                    continue;
                }
            };
            let safety =
                0.9 * (2 * NEWTON_MAXITER + 1) as f64 / (2 * NEWTON_MAXITER + nw.iterations) as f64;
            let scale_new: Vec<f64> = nw.y[..np]
                .iter()
                .zip(&atol_v)
                .map(|(v, a)| a + rtol * v.abs())
                .collect();
            let err: Vec<f64> = nw.d.iter().map(|x| error_const[order] * x).collect();
            let error_norm = rms(&err, &scale_new);
            if error_norm > 1.0 {
                stats.rejected_steps += 1;
                let factor = MIN_FACTOR.max(safety * error_norm.powf(-1.0 / (order as f64 + 1.0)));
                h_abs *= factor;
                change_d(&mut dd, order, factor);
                n_equal_steps = 0;
                // The Newton matrix with the old c stays a usable approximation.
                continue;
            }
            break (t_new, nw.y, nw.d, nw.iterations, scale_new);
        };
        let error_norm_cur = {
            let err: Vec<f64> = d.iter().map(|x| error_const[order] * x).collect();
            rms(&err, &scale_new)
        };
        steps += 1;
        jac_age = jac_age.saturating_add(1);
        stats.accepted_steps += 1;
        n_equal_steps += 1;
        t = t_new;
        y.copy_from_slice(&y_new);
        out.ts.push(t);
        out.ys.push(DVector::from_column_slice(&y));
        // Update the differences: ∇^{k+1} v_{n+1} = d, ∇^{k+2} = d − old ∇^{k+1}, then
        // ∇^j v_{n+1} = ∇^j v_n + ∇^{j+1} v_{n+1} for j = k..0.
        for i in 0..n {
            dd[order + 2][i] = d[i] - dd[order + 1][i];
            dd[order + 1][i] = d[i];
        }
        for j in (0..=order).rev() {
            let (lo, hi) = dd.split_at_mut(j + 1);
            for (x, dx) in lo[j][..n].iter_mut().zip(&hi[0][..n]) {
                *x += *dx;
            }
        }
        if t >= t1 {
            break;
        }
        if n_equal_steps < order + 1 {
            continue;
        }
        let error_m_norm = if order > 1 {
            let e: Vec<f64> = dd[order]
                .iter()
                .map(|x| error_const[order - 1] * x)
                .collect();
            rms(&e, &scale_new)
        } else {
            f64::INFINITY
        };
        let error_p_norm = if order < MAX_ORDER {
            let e: Vec<f64> = dd[order + 2]
                .iter()
                .map(|x| error_const[order + 1] * x)
                .collect();
            rms(&e, &scale_new)
        } else {
            f64::INFINITY
        };
        let norms = [error_m_norm, error_norm_cur, error_p_norm];
        let mut best = (1usize, 0.0f64);
        for (i, en) in norms.iter().enumerate() {
            let p = (order + i) as f64;
            let fac = if *en == 0.0 {
                f64::INFINITY
            } else {
                en.powf(-1.0 / p)
            };
            if fac > best.1 {
                best = (i, fac);
            }
        }
        order = order + best.0 - 1;
        let safety = 0.9 * (2 * NEWTON_MAXITER + 1) as f64 / (2 * NEWTON_MAXITER + n_iter) as f64;
        let factor = MAX_FACTOR.min(safety * best.1);
        h_abs *= factor;
        change_d(&mut dd, order, factor);
        n_equal_steps = 0;
        lu = None;
    }
    out
}

/// One protocol segment of the network dynamics as an [`OdeSystem`].
pub struct SegmentOde<'s, 'a> {
    pub dynamics: &'s Dynamics<'a>,
    pub seg: &'s Segment,
}

impl OdeSystem for SegmentOde<'_, '_> {
    fn dim(&self) -> usize {
        self.dynamics.layout.len + self.dynamics.n_quad()
    }

    fn n_quadrature(&self) -> usize {
        self.dynamics.n_quad()
    }

    fn rhs(&self, t: f64, v: &[f64], f: &mut [f64]) -> bool {
        self.dynamics.rhs(self.seg, t, v, f);
        f.iter().all(|x| x.is_finite())
    }

    /// Arm states `z`, weights `w` and rest lengths `l` act through the network equilibrium and
    /// reach every row (dense columns). A chemical level `x_e` only drives its own element's
    /// chemistry and learning, and a regulator `r_e` only its own chemistry: all `x` columns form
    /// one group and all `r` columns another.
    fn column_groups(&self) -> Vec<ColumnGroup> {
        let lay = &self.dynamics.layout;
        let mut groups = Vec::new();
        let mut xs = Vec::new();
        let mut rs = Vec::new();
        for e in 0..lay.z.len() {
            if let Some(i) = lay.z[e] {
                groups.push(ColumnGroup {
                    columns: vec![(i, None)],
                });
            }
        }
        for e in 0..lay.chem.len() {
            if let Some(i) = lay.chem[e] {
                let mut rows = vec![i, i + 1];
                rows.extend(lay.w[e]);
                rows.extend(lay.l[e]);
                xs.push((i, Some(rows)));
                rs.push((i + 1, Some(vec![i, i + 1])));
            }
        }
        for p in [&lay.w, &lay.l] {
            for i in p.iter().flatten() {
                groups.push(ColumnGroup {
                    columns: vec![(*i, None)],
                });
            }
        }
        if !xs.is_empty() {
            groups.push(ColumnGroup { columns: xs });
            groups.push(ColumnGroup { columns: rs });
        }
        groups
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// `y' = −λ (y − cos t) − sin t`, exact solution `cos t + (y0 − 1) e^{−λt}`.
    struct Prothero {
        lambda: f64,
        evals: Cell<u64>,
    }
    impl OdeSystem for Prothero {
        fn dim(&self) -> usize {
            1
        }
        fn rhs(&self, t: f64, v: &[f64], f: &mut [f64]) -> bool {
            self.evals.set(self.evals.get() + 1);
            f[0] = -self.lambda * (v[0] - t.cos()) - t.sin();
            true
        }
    }

    /// Robertson's chemical kinetics (the classic stiff test).
    struct Robertson;
    impl OdeSystem for Robertson {
        fn dim(&self) -> usize {
            3
        }
        fn rhs(&self, _t: f64, v: &[f64], f: &mut [f64]) -> bool {
            f[0] = -0.04 * v[0] + 1e4 * v[1] * v[2];
            f[1] = 0.04 * v[0] - 1e4 * v[1] * v[2] - 3e7 * v[1] * v[1];
            f[2] = 3e7 * v[1] * v[1];
            true
        }
    }

    /// Robertson with the analytic Jacobian, optionally its sparse pattern, and
    /// per-component absolute tolerances.
    struct RobertsonJ {
        sparse: bool,
    }
    impl OdeSystem for RobertsonJ {
        fn dim(&self) -> usize {
            3
        }
        fn rhs(&self, t: f64, v: &[f64], f: &mut [f64]) -> bool {
            Robertson.rhs(t, v, f)
        }
        fn has_jacobian(&self) -> bool {
            true
        }
        fn jacobian(&self, _t: f64, v: &[f64], j: &mut DMatrix<f64>) -> bool {
            j[(0, 0)] = -0.04;
            j[(0, 1)] = 1e4 * v[2];
            j[(0, 2)] = 1e4 * v[1];
            j[(1, 0)] = 0.04;
            j[(1, 1)] = -1e4 * v[2] - 6e7 * v[1];
            j[(1, 2)] = -1e4 * v[1];
            j[(2, 1)] = 6e7 * v[1];
            true
        }
        fn jacobian_pattern(&self) -> Option<Vec<(usize, usize)>> {
            self.sparse
                .then(|| vec![(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (2, 1)])
        }
        fn atol_weights(&self) -> Option<Vec<f64>> {
            Some(vec![1.0, 1e-4, 1.0])
        }
    }

    #[test]
    fn analytic_dense_and_sparse_jacobians_reproduce_robertson() {
        let r = [0.7158270687193692, 9.185534764557e-6, 0.28416374230231];
        for sparse in [false, true] {
            let v0 = DVector::from_column_slice(&[1.0, 0.0, 0.0]);
            let out = integrate(&RobertsonJ { sparse }, 0.0, 40.0, v0, &opts(1e-8, 1e-8));
            assert!(out.result.is_ok(), "{:?}", out.result);
            let y = out.ys.last().unwrap();
            for i in 0..3 {
                assert!(
                    (y[i] - r[i]).abs() < 1e-6 * r[i].abs().max(1e-5),
                    "sparse {sparse}, component {i}: {} vs {}",
                    y[i],
                    r[i]
                );
            }
            // No right-hand side is spent on Jacobians.
            assert_eq!(out.stats.jacobian_rhs_evals, 0);
            assert!(out.stats.jacobian_evals > 0);
        }
    }

    fn opts(rtol: f64, atol: f64) -> BdfOptions {
        BdfOptions {
            rtol,
            atol,
            h_init: 1e-4,
            h_max: f64::INFINITY,
            max_steps: 100_000,
        }
    }

    #[test]
    fn stiff_scalar_matches_the_exact_solution() {
        let sys = Prothero {
            lambda: 1e6,
            evals: Cell::new(0),
        };
        let out = integrate(
            &sys,
            0.0,
            10.0,
            DVector::from_element(1, 2.0),
            &opts(1e-8, 1e-10),
        );
        assert!(out.result.is_ok(), "{:?}", out.result);
        assert_eq!(*out.ts.last().unwrap(), 10.0);
        for (t, y) in out.ts.iter().zip(&out.ys).skip(1) {
            let exact = t.cos() + (2.0 - 1.0) * (-1e6 * t).exp();
            assert!((y[0] - exact).abs() < 1e-6, "t {t}: {} vs {exact}", y[0]);
        }
        // An explicit method would need ~λ·T = 1e7 evaluations.
        assert!(out.stats.rhs_evals < 5000, "{:?}", out.stats);
        assert_eq!(out.stats.rhs_evals, sys.evals.get());
    }

    #[test]
    fn robertson_reference_values() {
        let v0 = DVector::from_column_slice(&[1.0, 0.0, 0.0]);
        let out = integrate(&Robertson, 0.0, 40.0, v0, &opts(1e-8, 1e-12));
        assert!(out.result.is_ok(), "{:?}", out.result);
        let y = out.ys.last().unwrap();
        // Reference (Hairer & Wanner) at t = 40.
        let r = [0.7158270687193692, 9.185534764557e-6, 0.28416374230231];
        for i in 0..3 {
            assert!(
                (y[i] - r[i]).abs() < 1e-6 * r[i].abs().max(1e-5),
                "component {i}: {} vs {}",
                y[i],
                r[i]
            );
        }
        assert!(out.stats.accepted_steps < 1000, "{:?}", out.stats);
    }

    /// Two decoupled oscillators + a dense coupling: grouped and dense Jacobians agree.
    struct Blocks;
    impl OdeSystem for Blocks {
        fn dim(&self) -> usize {
            4
        }
        fn rhs(&self, _t: f64, v: &[f64], f: &mut [f64]) -> bool {
            let s = v[2] + v[3];
            f[0] = -v[0] + 0.5 * v[2];
            f[1] = -2.0 * v[1] * v[1];
            f[2] = -s * s;
            f[3] = -3.0 * v[3] + v[2];
            true
        }
        fn column_groups(&self) -> Vec<ColumnGroup> {
            vec![
                ColumnGroup {
                    columns: vec![(0, Some(vec![0])), (1, Some(vec![1]))],
                },
                ColumnGroup {
                    columns: vec![(2, None)],
                },
                ColumnGroup {
                    columns: vec![(3, None)],
                },
            ]
        }
    }

    #[test]
    fn grouped_jacobian_equals_dense() {
        let v = [0.3, -0.7, 1.1, 0.4];
        let mut f0 = [0.0; 4];
        Blocks.rhs(0.0, &v, &mut f0);
        let mut st = BdfStats::default();
        let jg = fd_jacobian(
            &Blocks,
            &Blocks.column_groups(),
            0.0,
            &v,
            &f0,
            1e-3,
            &mut st,
        )
        .unwrap();
        let dense: Vec<ColumnGroup> = (0..4)
            .map(|j| ColumnGroup {
                columns: vec![(j, None)],
            })
            .collect();
        let jd = fd_jacobian(&Blocks, &dense, 0.0, &v, &f0, 1e-3, &mut st).unwrap();
        assert!((&jg - &jd).amax() < 1e-12);
        assert!((jg[(1, 1)] - (-4.0 * -0.7)).abs() < 1e-6);
        assert!((jg[(2, 3)] - (-2.0 * 1.5)).abs() < 1e-6);
        assert_eq!(st.jacobian_rhs_evals, 3 + 4);
    }

    /// `y' = a − k N_θ(y)` with the hard threshold `N_θ(y) = y·1{y > θ}` and `a < kθ`: `y` rises
    /// linearly to θ and then slides along the switching surface `y = θ` (Filippov), which
    /// no smooth Newton iteration can converge to.
    struct Threshold;
    impl OdeSystem for Threshold {
        fn dim(&self) -> usize {
            2
        }
        fn rhs(&self, _t: f64, v: &[f64], f: &mut [f64]) -> bool {
            let (a, k, theta) = (1.0, 100.0, 0.5);
            let n = if v[0] > theta { v[0] } else { 0.0 };
            f[0] = a - k * n;
            // A stiff, smooth companion.
            f[1] = -1e4 * (v[1] - v[0]);
            true
        }
    }

    #[test]
    fn slides_along_a_hard_threshold() {
        let v0 = DVector::from_column_slice(&[0.0, 0.0]);
        let out = integrate(&Threshold, 0.0, 50.0, v0, &opts(1e-6, 1e-9));
        assert!(out.result.is_ok(), "{:?}", out.result);
        let mut worst: f64 = 0.0;
        for (t, y) in out.ts.iter().zip(&out.ys) {
            worst = worst.max((y[0] - t.min(0.5)).abs());
        }
        assert!(worst < 1e-5, "worst error {worst:e}");
        assert!((out.ys.last().unwrap()[0] - 0.5).abs() < 1e-5);
        assert!(out.stats.relaxed_newton > 0);
        assert!(out.stats.rhs_evals < 5000, "{:?}", out.stats);
    }

    #[test]
    fn interpolation_matrices_are_consistent() {
        // R(k, 1) U(k) = I  (U = R(k, 1) is an involution).
        for k in 1..=MAX_ORDER {
            let u = compute_r(k, 1.0);
            for i in 0..=k {
                for j in 0..=k {
                    let p: f64 = (0..=k).map(|m| u[i][m] * u[m][j]).sum();
                    assert!((p - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12);
                }
            }
        }
    }

    #[test]
    fn reaches_the_end_exactly_and_reports_invalid_input() {
        let sys = Prothero {
            lambda: 10.0,
            evals: Cell::new(0),
        };
        let out = integrate(
            &sys,
            1.0,
            1.0 + 1e-3,
            DVector::from_element(1, 1.0),
            &opts(1e-6, 1e-9),
        );
        assert!(out.result.is_ok());
        assert_eq!(*out.ts.last().unwrap(), 1.0 + 1e-3);
        let bad = integrate(
            &sys,
            1.0,
            0.5,
            DVector::from_element(1, 1.0),
            &opts(1e-6, 1e-9),
        );
        assert!(matches!(bad.result, Err(BdfError::Invalid(_))));
    }
}
