//! Quasi-static network equilibrium `A x_f = b` (docs/physics.md §1.2).
//!
//! ```text
//! A = Σ_e k_e q_fe q_feᵀ + β Σ_k q_fk q_fkᵀ
//! b = Σ_e q_fe [k_e r_e − k_e (q_de·x_d)] − β Σ_k q_fk (q_dk·x_d − T_k)
//! ```
//! with, in *dynamic* mode, `k_e = a_e + c_e` and `k_e r_e = a_e l_e + c_e z_e` (learnable path
//! plus the loading arm holding its state `z_e`), and in *static* (DC) mode
//! `k_e = a_e + c_e g_L/(c_e + g_L)`, `k_e r_e = a_e l_e` (arms at their DC state). The pattern
//! (union of all element and output blocks) is analysed once; values are refactored per call.

use super::linsolve::{
    default_options, FactorInfo, LinSolveError, SpdAnalysis, SpdOptions, SpdSolver,
};
use super::model::{Network, Stencil};
use super::PhysicsError;
use std::sync::Arc;

/// Whether arms carry their dynamic state or sit at DC.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum ArmMode<'a> {
    /// Arms loaded with their states `z` (one entry per element).
    Dynamic(&'a [f64]),
    /// Long-time limit: capacitors/dashpots carry no current except through leaks.
    Dc,
}

#[derive(Clone, Debug)]
struct Terms {
    /// (free index, coefficient)
    free: Vec<(usize, f64)>,
    /// (Dirichlet index, coefficient)
    dir: Vec<(usize, f64)>,
    /// (value slot, coefficient product) for the lower-triangle free×free entries.
    slots: Vec<(usize, f64)>,
}

#[derive(Clone, Debug, Default)]
struct FlatTerms {
    slot_ptr: Vec<u32>,
    slots: Vec<(u32, f64)>,
    free_ptr: Vec<u32>,
    /// (free index, coefficient): same size as `(u32, f64)`, and sliceable as the public
    /// [`Equilibrium::element_free_terms`].
    free: Vec<(usize, f64)>,
    dir_ptr: Vec<u32>,
    dir: Vec<(u32, f64)>,
}

impl FlatTerms {
    fn new(terms: &[Terms]) -> Self {
        let mut f = FlatTerms::default();
        f.slot_ptr.push(0);
        f.free_ptr.push(0);
        f.dir_ptr.push(0);
        for t in terms {
            f.slots.extend(t.slots.iter().map(|&(a, c)| (a as u32, c)));
            f.free.extend_from_slice(&t.free);
            f.dir.extend(t.dir.iter().map(|&(a, c)| (a as u32, c)));
            f.slot_ptr.push(f.slots.len() as u32);
            f.free_ptr.push(f.free.len() as u32);
            f.dir_ptr.push(f.dir.len() as u32);
        }
        f
    }
}

/// Assembly maps, the sparse factor and scratch for one network topology.
#[derive(Clone, Debug)]
pub struct Equilibrium {
    solver: SpdSolver,
    /// The element terms flattened (CSR-like) for the assembly loop.
    flat: FlatTerms,
    out: Vec<Terms>,
    /// Scratch: right-hand side / solution of the free DOFs.
    rhs: Vec<f64>,
    /// Full DOF vector of the last solve.
    pub x: Vec<f64>,
    /// Wall time spent in assembly + factorisation + solve (benchmarks).
    pub solve_seconds: f64,
    /// Factor-reuse state (see [`Equilibrium::solve`]).
    reuse: Reuse,
}

/// Factor reuse: the factor of `A_f = B_f + β_f O` (B the element part, O the nudge part) is kept
/// while only β moves (handled exactly by the Woodbury identity with `U = A_f⁻¹ Q_O`) or the
/// weights drift slowly (handled by preconditioned CG with that operator, to a relative residual
/// of [`CG_TOL`]; failure to converge in [`CG_MAX_ITER`] iterations triggers a refactorisation, so
/// accuracy never drops silently).
#[derive(Clone, Debug, Default)]
struct Reuse {
    enabled: bool,
    have: bool,
    /// Element part of the matrix values (current assembly).
    base: Vec<f64>,
    /// Full current matrix values.
    cur: Vec<f64>,
    /// Element part at the last factorisation.
    base_f: Vec<f64>,
    beta_f: f64,
    beta_cur: f64,
    /// `U = A_f⁻¹ q_k` (free DOFs) per output.
    u: Vec<Vec<f64>>,
    /// `Qᵀ U` (k×k, row-major), fixed for a factor.
    qtu: Vec<f64>,
    refactor_next: bool,
    /// Scratch vectors for PCG.
    r: Vec<f64>,
    z: Vec<f64>,
    p: Vec<f64>,
    ap: Vec<f64>,
    x: Vec<f64>,
    /// Statistics.
    pub cg_iterations: u64,
    pub refactorizations: u64,
}

/// Relative residual required of a reused-factor solve.
pub const CG_TOL: f64 = 1e-13;
/// Iterations allowed before refactorising.
pub const CG_MAX_ITER: usize = 12;

/// `(index, coefficient)` pairs of a stencil's nonzero terms.
type Coeffs = Vec<(usize, f64)>;

/// A stencil's nonzero terms split into free (by free index) and Dirichlet (by Dirichlet index).
fn split(net: &Network, st: &Stencil) -> (Coeffs, Coeffs) {
    let mut free = Vec::new();
    let mut dir = Vec::new();
    for (d, c) in st.terms() {
        if c == 0.0 {
            continue;
        }
        match net.dof_map[d] {
            Ok(f) => free.push((f, c)),
            Err(k) => dir.push((k, c)),
        }
    }
    (free, dir)
}

/// The pattern of `A_f` (union of all element and output blocks) with its symbolic analysis
/// (`shared`, when given and of this network's pattern, else a new one), and every element's and
/// output's terms (element terms first, then outputs).
fn analyse(
    net: &Network,
    shared: Option<&Arc<SpdAnalysis>>,
    opts: SpdOptions,
) -> Result<(SpdSolver, Vec<Terms>), PhysicsError> {
    let stencils = || {
        net.elements
            .iter()
            .map(|e| &e.stencil)
            .chain(net.outputs.iter().map(|o| &o.stencil))
    };
    let pairs = || {
        stencils().flat_map(|st| {
            let (free, _) = split(net, st);
            let mut v = Vec::with_capacity(free.len() * free.len());
            for &(a, _) in &free {
                for &(b, _) in &free {
                    v.push((a, b));
                }
            }
            v
        })
    };
    let lin = |e: LinSolveError| PhysicsError::Linear {
        what: format!("symbolic analysis: {e}"),
    };
    let solver = match shared {
        Some(an) if an.dim() == net.n_free => SpdSolver::with_analysis(an.clone()),
        _ => SpdSolver::with_options(net.n_free, pairs(), opts).map_err(lin)?,
    };
    let mut terms = Vec::with_capacity(net.elements.len() + net.outputs.len());
    for st in stencils() {
        let (free, dir) = split(net, st);
        let mut slots = Vec::new();
        for &(a, ca) in &free {
            for &(b, cb) in &free {
                if a >= b {
                    match solver.slot(a, b) {
                        Some(s) => slots.push((s, ca * cb)),
                        // A shared analysis of another pattern: analyse this one.
                        None if shared.is_some() => return analyse(net, None, opts),
                        None => {}
                    }
                }
            }
        }
        terms.push(Terms { free, dir, slots });
    }
    Ok((solver, terms))
}

impl Equilibrium {
    pub fn new(net: &Network) -> Result<Self, PhysicsError> {
        Self::build(net, None, default_options())
    }

    /// As [`Self::new`] with explicit ordering and factor options.
    pub fn with_options(net: &Network, opts: SpdOptions) -> Result<Self, PhysicsError> {
        Self::build(net, None, opts)
    }

    /// As [`Self::new`], sharing the symbolic analysis `an` of the same network (e.g.
    /// [`DynamicEquilibrium::analysis`]) instead of repeating it.
    pub fn with_analysis(net: &Network, an: &Arc<SpdAnalysis>) -> Result<Self, PhysicsError> {
        Self::build(net, Some(an), default_options())
    }

    fn build(
        net: &Network,
        shared: Option<&Arc<SpdAnalysis>>,
        opts: SpdOptions,
    ) -> Result<Self, PhysicsError> {
        let (solver, mut terms) = analyse(net, shared, opts)?;
        let out = terms.split_off(net.elements.len());
        let flat = FlatTerms::new(&terms);
        Ok(Equilibrium {
            flat,
            rhs: vec![0.0; net.n_free],
            x: vec![0.0; net.n_dof()],
            solve_seconds: 0.0,
            reuse: Reuse {
                enabled: true,
                ..Default::default()
            },
            solver,
            out,
        })
    }

    pub fn n_free(&self) -> usize {
        self.rhs.len()
    }

    /// The symbolic analysis (shareable with other equilibria of the same network).
    pub fn analysis(&self) -> &Arc<SpdAnalysis> {
        self.solver.analysis()
    }

    /// Ordering, storage and size of the factor.
    pub fn factor_info(&self) -> &FactorInfo {
        self.solver.info()
    }

    /// Free the numerical factor (the next solve refactorises): for an equilibrium used only at
    /// cycle boundaries next to the dynamics' own factor.
    pub fn release_factor(&mut self) {
        self.reuse.have = false;
        self.solver.release_factor();
    }

    /// Bytes of the numerical state (matrix values and factor held now).
    pub fn numeric_bytes(&self) -> usize {
        self.solver.numeric_bytes()
    }

    pub fn solver_stats(&self) -> (u64, u64) {
        (self.solver.n_factor, self.solver.n_solve)
    }

    /// Assemble A and b, factor, solve, and fill the full DOF vector `self.x`.
    ///
    /// `w`, `l`: learnable parameters; `beta`: nudge; `xd`: Dirichlet values; `targets`: output
    /// targets. On failure the error names the free DOF whose pivot failed.
    #[allow(clippy::too_many_arguments)]
    pub fn solve(
        &mut self,
        net: &Network,
        w: &[f64],
        l: &[f64],
        arms: ArmMode<'_>,
        beta: f64,
        xd: &[f64],
        targets: &[f64],
    ) -> Result<&[f64], PhysicsError> {
        let t0 = std::time::Instant::now();
        self.assemble(net, w, l, arms, beta, xd, targets);
        let mut rhs = std::mem::take(&mut self.rhs);
        let res = self.solve_current(net, &mut rhs);
        if res.is_ok() {
            self.scatter(net, &rhs, xd);
        }
        self.rhs = rhs;
        self.solve_seconds += t0.elapsed().as_secs_f64();
        res?;
        Ok(&self.x)
    }

    /// Enable or disable factor reuse (enabled by default).
    pub fn set_reuse(&mut self, on: bool) {
        self.reuse.enabled = on;
        self.reuse.have = false;
    }

    /// Forget the reusable factor: the next solve refactorises. Called at cycle boundaries so
    /// that results depend only on the state at the boundary (bit-for-bit resume).
    pub fn invalidate_factor(&mut self) {
        self.reuse.have = false;
    }

    /// (PCG iterations, refactorisations) of the reuse path so far.
    pub fn reuse_stats(&self) -> (u64, u64) {
        (self.reuse.cg_iterations, self.reuse.refactorizations)
    }

    /// Factor the current matrix `cur` and prepare the Woodbury vectors.
    fn refactor(&mut self, net: &Network) -> Result<(), PhysicsError> {
        let r = &mut self.reuse;
        self.solver.values_mut().copy_from_slice(&r.cur);
        r.have = false;
        self.factor(net)?;
        let r = &mut self.reuse;
        r.base_f.clone_from(&r.base);
        r.beta_f = r.beta_cur;
        r.refactor_next = false;
        r.refactorizations += 1;
        let n = self.solver.dim();
        let mut us = Vec::with_capacity(self.out.len());
        for t in &self.out {
            let mut u = vec![0.0; n];
            for &(i, c) in &t.free {
                u[i] += c;
            }
            self.solver.solve_in_place(&mut u);
            us.push(u);
        }
        let k = self.out.len();
        let mut qtu = vec![0.0; k * k];
        for (a, ta) in self.out.iter().enumerate() {
            for (b, ub) in us.iter().enumerate() {
                qtu[a * k + b] = ta.free.iter().map(|&(i, c)| c * ub[i]).sum();
            }
        }
        self.reuse.qtu = qtu;
        self.reuse.u = us;
        self.reuse.have = true;
        Ok(())
    }

    /// Apply `M⁻¹ = (A_f + (β − β_f) Q Qᵀ)⁻¹` in place (Woodbury with the stored `U`).
    fn apply_precond(&mut self, v: &mut [f64]) {
        self.solver.solve_in_place(v);
        let r = &self.reuse;
        let d = r.beta_cur - r.beta_f;
        let k = self.out.len();
        if d == 0.0 || k == 0 {
            return;
        }
        // (I/δ + Qᵀ U) c = Qᵀ (A_f⁻¹ v);  v ← A_f⁻¹ v − U c   (QᵀU precomputed per factor)
        if k == 1 {
            // One output (the common case): scalar, allocation-free.
            let q: f64 = self.out[0].free.iter().map(|&(i, c)| c * v[i]).sum();
            let c = q / (1.0 / d + r.qtu[0]);
            for (vi, ui) in v.iter_mut().zip(&r.u[0]) {
                *vi -= c * ui;
            }
            return;
        }
        let m = nalgebra::DMatrix::<f64>::from_fn(k, k, |a, b| {
            r.qtu[a * k + b] + if a == b { 1.0 / d } else { 0.0 }
        });
        let rhs = nalgebra::DVector::<f64>::from_fn(k, |a, _| {
            self.out[a].free.iter().map(|&(i, c)| c * v[i]).sum()
        });
        if let Some(c) = m.lu().solve(&rhs) {
            for b in 0..k {
                let cb = c[b];
                for (vi, ui) in v.iter_mut().zip(&r.u[b]) {
                    *vi -= cb * ui;
                }
            }
        }
    }

    /// Solve `A_cur x = rhs` in place.
    fn solve_current(&mut self, net: &Network, rhs: &mut [f64]) -> Result<(), PhysicsError> {
        if !self.reuse.enabled {
            self.solver.values_mut().copy_from_slice(&self.reuse.cur);
            self.factor(net)?;
            self.solver.solve_in_place(rhs);
            return Ok(());
        }
        if !self.reuse.have || self.reuse.refactor_next {
            self.refactor(net)?;
        }
        let exact = self.reuse.base == self.reuse.base_f;
        let n = rhs.len();
        let bnorm = rhs.iter().map(|v| v * v).sum::<f64>().sqrt();
        let mut x = std::mem::take(&mut self.reuse.x);
        let mut r = std::mem::take(&mut self.reuse.r);
        let mut z = std::mem::take(&mut self.reuse.z);
        let mut p = std::mem::take(&mut self.reuse.p);
        let mut ap = std::mem::take(&mut self.reuse.ap);
        for v in [&mut x, &mut r, &mut z, &mut p, &mut ap] {
            v.resize(n, 0.0);
        }
        x.copy_from_slice(rhs);
        self.apply_precond(&mut x);
        let mut converged = exact || bnorm == 0.0;
        if !converged {
            // Preconditioned CG on A_cur with M⁻¹ (SPD both).
            self.solver.mul_with(&self.reuse.cur, &x, &mut ap);
            for i in 0..n {
                r[i] = rhs[i] - ap[i];
            }
            let tol = CG_TOL * bnorm;
            let mut rn = r.iter().map(|v| v * v).sum::<f64>().sqrt();
            let mut it = 0;
            if rn <= tol {
                converged = true;
            } else {
                z.copy_from_slice(&r);
                self.apply_precond(&mut z);
                p.copy_from_slice(&z);
                let mut rz: f64 = r.iter().zip(&z).map(|(a, b)| a * b).sum();
                while it < CG_MAX_ITER {
                    it += 1;
                    self.solver.mul_with(&self.reuse.cur, &p, &mut ap);
                    let pap: f64 = p.iter().zip(&ap).map(|(a, b)| a * b).sum();
                    if pap <= 0.0 || !pap.is_finite() {
                        break;
                    }
                    let alpha = rz / pap;
                    for i in 0..n {
                        x[i] += alpha * p[i];
                        r[i] -= alpha * ap[i];
                    }
                    rn = r.iter().map(|v| v * v).sum::<f64>().sqrt();
                    if rn <= tol {
                        converged = true;
                        break;
                    }
                    z.copy_from_slice(&r);
                    self.apply_precond(&mut z);
                    let rz_new: f64 = r.iter().zip(&z).map(|(a, b)| a * b).sum();
                    let bcoef = rz_new / rz;
                    rz = rz_new;
                    for i in 0..n {
                        p[i] = z[i] + bcoef * p[i];
                    }
                }
            }
            self.reuse.cg_iterations += it as u64;
            if it >= 4 {
                self.reuse.refactor_next = true;
            }
        }
        if converged {
            rhs.copy_from_slice(&x);
        }
        self.reuse.x = x;
        self.reuse.r = r;
        self.reuse.z = z;
        self.reuse.p = p;
        self.reuse.ap = ap;
        if !converged {
            // Guard: the stale factor is too far off: refactor and solve directly.
            self.refactor(net)?;
            self.solver.solve_in_place(rhs);
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        &mut self,
        net: &Network,
        w: &[f64],
        l: &[f64],
        arms: ArmMode<'_>,
        beta: f64,
        xd: &[f64],
        targets: &[f64],
    ) {
        let nnz = self.solver.nnz();
        let r = &mut self.reuse;
        r.base.resize(nnz, 0.0);
        r.base.iter_mut().for_each(|v| *v = 0.0);
        r.beta_cur = beta;
        let vals = &mut r.base;
        self.rhs.iter_mut().for_each(|v| *v = 0.0);
        let ft = &self.flat;
        for (e, el) in net.elements.iter().enumerate() {
            let (a, c) = el.conductances(w[e]);
            let (k, kr) = match arms {
                ArmMode::Dynamic(z) => (a + c, a * l[e] + c * z[e]),
                ArmMode::Dc => (el.dc_conductance(w[e]), a * l[e]),
            };
            for &(s, cc) in &ft.slots[ft.slot_ptr[e] as usize..ft.slot_ptr[e + 1] as usize] {
                vals[s as usize] += k * cc;
            }
            let yd: f64 = ft.dir[ft.dir_ptr[e] as usize..ft.dir_ptr[e + 1] as usize]
                .iter()
                .map(|&(d, c)| c * xd[d as usize])
                .sum();
            let f = kr - k * yd;
            for &(i, c) in &ft.free[ft.free_ptr[e] as usize..ft.free_ptr[e + 1] as usize] {
                self.rhs[i] += c * f;
            }
        }
        r.cur.clone_from(&r.base);
        let vals = &mut r.cur;
        if beta != 0.0 {
            for (k, t) in self.out.iter().enumerate() {
                for &(s, cc) in &t.slots {
                    vals[s] += beta * cc;
                }
                let od: f64 = t.dir.iter().map(|&(d, c)| c * xd[d]).sum();
                let f = -beta * (od - targets[k]);
                for &(i, c) in &t.free {
                    self.rhs[i] += c * f;
                }
            }
        }
    }

    fn factor(&mut self, net: &Network) -> Result<(), PhysicsError> {
        self.solver.factor().map_err(|e| match e {
            LinSolveError::NotPositiveDefinite { dof } => PhysicsError::Singular {
                dof: net.singular_dof_name(dof),
                time: None,
            },
            LinSolveError::Symbolic(s) => PhysicsError::Linear { what: s },
        })
    }

    fn scatter(&mut self, net: &Network, xf: &[f64], xd: &[f64]) {
        for (d, m) in net.dof_map.iter().enumerate() {
            self.x[d] = match *m {
                Ok(f) => xf[f],
                Err(k) => xd[k],
            };
        }
    }

    /// Solve `A λ = r` with the matrix of the last [`Self::solve`], `r` on the free DOFs,
    /// returning the full-length vector with zeros on Dirichlet DOFs. (The matrix was factorised
    /// successfully before, so a failure here can only come from a refactorisation of the same
    /// matrix; it then returns NaNs.)
    pub fn solve_with_last_factor(&mut self, net: &Network, r: &mut [f64]) -> Vec<f64> {
        if self.solve_current(net, r).is_err() {
            r.iter_mut().for_each(|v| *v = f64::NAN);
        }
        let mut full = vec![0.0; net.n_dof()];
        for (d, m) in net.dof_map.iter().enumerate() {
            if let Ok(f) = *m {
                full[d] = r[f];
            }
        }
        full
    }

    /// `q_e` restricted to the free DOFs, as (free index, coefficient).
    pub fn element_free_terms(&self, e: usize) -> &[(usize, f64)] {
        let f = &self.flat;
        &f.free[f.free_ptr[e] as usize..f.free_ptr[e + 1] as usize]
    }

    /// `q_k` of output k restricted to the free DOFs.
    pub fn output_free_terms(&self, k: usize) -> &[(usize, f64)] {
        &self.out[k].free
    }

    /// `y = A x` on the free DOFs with the current matrix values (for residual checks).
    pub fn matvec(&self, x: &[f64], y: &mut [f64]) {
        self.solver.mul_with(&self.reuse.cur, x, y)
    }
}

/// Edge drops `y_e = q_e·x` for a full DOF vector.
pub fn drops(net: &Network, x: &[f64], y: &mut [f64]) {
    for (e, el) in net.elements.iter().enumerate() {
        y[e] = el.stencil.apply(x);
    }
}

/// Outputs `o_k = q_k·x`.
pub fn outputs(net: &Network, x: &[f64]) -> Vec<f64> {
    net.outputs.iter().map(|o| o.stencil.apply(x)).collect()
}

/// Loosest relative residual of a reused-factor solve in the dynamic right-hand side
/// ([`DynamicEquilibrium`]; `Dynamics` uses `rtol·1e-4` clamped to [`CG_TOL`, this]). A solve
/// error of 1e-10 relative changes the RHS by 1e-10 relative, four orders below the default rtol
/// (1e-6), so the trajectory is unchanged to ~1e-10 (checked against refactorisation at every RHS
/// by `factor_reuse_matches_refactorisation`).
pub const DYN_CG_TOL: f64 = 1e-10;
/// PCG iterations allowed in the dynamic path before the guard refactorises and solves directly.
pub const DYN_CG_MAX_ITER: usize = 12;
/// A dynamic solve needing this many PCG iterations schedules a refactorisation for the next one.
pub const DYN_REFACTOR_AFTER: usize = 3;

/// The equilibrium of the dynamic right-hand side, `A(k, β) x_f = b(k r, β)`, for given per-element
/// conductances `k_e` and loads `k_e r_e` (computed by the caller from the packed state):
///
/// ```text
/// A = Σ_e k_e q_fe q_feᵀ + β Σ_k q_fk q_fkᵀ
/// b = Σ_e q_fe [k_e r_e − k_e (q_de·x_d)] − β Σ_k q_fk (q_dk·x_d − T_k)
/// ```
///
/// The Cholesky factor of `A(k_f, β_f)` is kept; while `k = k_f` the solve is exact (β enters by
/// the Woodbury identity with `U = A_f⁻¹ Q` and `QᵀU` precomputed). When `k` drifts, PCG with
/// that operator runs to a relative residual of [`DYN_CG_TOL`]; it refactorises when PCG fails to
/// converge in [`DYN_CG_MAX_ITER`] iterations (so accuracy never drops silently) and before the
/// next solve after a slow convergence. `A p` is applied element by element from `k`, so the
/// matrix values are assembled only when refactorising. No allocation after the first solve.
#[derive(Clone, Debug)]
pub struct DynamicEquilibrium {
    solver: SpdSolver,
    /// Element free terms, CSR: indices and coefficients.
    f_ptr: Vec<u32>,
    f_idx: Vec<u32>,
    f_coef: Vec<f64>,
    /// Element Dirichlet terms, CSR.
    d_ptr: Vec<u32>,
    d_idx: Vec<u32>,
    d_coef: Vec<f64>,
    /// Element lower-triangle slots, CSR.
    s_ptr: Vec<u32>,
    s_idx: Vec<u32>,
    s_coef: Vec<f64>,
    /// Two-terminal form `q_e·x = X[a] − X[b]` of every element on the extended vector
    /// `X = (x_f, x_d)` (flow edges), or empty when some element has another stencil. Same
    /// floating-point results as the CSR terms, fewer bytes per element.
    pairs: Vec<[u32; 2]>,
    n_free: usize,
    /// `(0, x_d)` on the extended layout (scratch).
    xdx: Vec<f64>,
    out: Vec<Terms>,
    enabled: bool,
    have: bool,
    refactor_next: bool,
    k_f: Vec<f64>,
    beta_f: f64,
    beta_cur: f64,
    u: Vec<Vec<f64>>,
    qtu: Vec<f64>,
    /// Dirichlet part `q_de·x_d` per element (scratch).
    yd: Vec<f64>,
    b: Vec<f64>,
    x: Vec<f64>,
    r: Vec<f64>,
    z: Vec<f64>,
    p: Vec<f64>,
    ap: Vec<f64>,
    pub cg_iterations: u64,
    pub refactorizations: u64,
    /// Wall time spent in assembly + factorisation + solves.
    pub solve_seconds: f64,
    /// PCG iterations since the last factorisation, and the budget after which refactorising is
    /// cheaper ([`SpdSolver::factor_cost_in_solves`]; the ski-rental rule: the total cost stays
    /// within twice that of the best refactorisation schedule in hindsight).
    iters_since_factor: u64,
    iter_budget: f64,
    /// Relative residual required of a reused-factor solve ([`DYN_CG_TOL`] by default; the
    /// implicit integrator's finite-difference Jacobians need the tighter [`CG_TOL`]).
    pub cg_tol: f64,
}

impl DynamicEquilibrium {
    pub fn new(net: &Network) -> Result<Self, PhysicsError> {
        Self::build(net, None, default_options())
    }

    /// As [`Self::new`] with explicit ordering and factor options.
    pub fn with_options(net: &Network, opts: SpdOptions) -> Result<Self, PhysicsError> {
        Self::build(net, None, opts)
    }

    /// As [`Self::new`], sharing the symbolic analysis `an` of the same network.
    pub fn with_analysis(net: &Network, an: &Arc<SpdAnalysis>) -> Result<Self, PhysicsError> {
        Self::build(net, Some(an), default_options())
    }

    /// The symbolic analysis (shareable with other equilibria of the same network).
    pub fn analysis(&self) -> &Arc<SpdAnalysis> {
        self.solver.analysis()
    }

    fn build(
        net: &Network,
        shared: Option<&Arc<SpdAnalysis>>,
        opts: SpdOptions,
    ) -> Result<Self, PhysicsError> {
        let (solver, mut terms) = analyse(net, shared, opts)?;
        let out = terms.split_off(net.elements.len());
        let ne = terms.len();
        let nf = net.n_free;
        let next = nf + net.dirichlet_dofs.len();
        let ext = |m: &Result<usize, usize>| match *m {
            Ok(f) => f as u32,
            Err(k) => (nf + k) as u32,
        };
        let pairs: Option<Vec<[u32; 2]>> = net
            .elements
            .iter()
            .map(|el| {
                let st = &el.stencil;
                (st.len == 2 && st.coef[0] == 1.0 && st.coef[1] == -1.0)
                    .then(|| [ext(&net.dof_map[st.dof[0]]), ext(&net.dof_map[st.dof[1]])])
            })
            .collect();
        let mut d = DynamicEquilibrium {
            pairs: pairs.unwrap_or_default(),
            n_free: nf,
            xdx: vec![0.0; next],
            solver,
            f_ptr: Vec::with_capacity(ne + 1),
            f_idx: Vec::new(),
            f_coef: Vec::new(),
            d_ptr: Vec::with_capacity(ne + 1),
            d_idx: Vec::new(),
            d_coef: Vec::new(),
            s_ptr: Vec::with_capacity(ne + 1),
            s_idx: Vec::new(),
            s_coef: Vec::new(),
            out,
            enabled: true,
            have: false,
            refactor_next: false,
            k_f: vec![0.0; ne],
            beta_f: 0.0,
            beta_cur: 0.0,
            u: Vec::new(),
            qtu: Vec::new(),
            yd: vec![0.0; ne],
            b: vec![0.0; next],
            x: vec![0.0; next],
            r: vec![0.0; next],
            z: vec![0.0; next],
            p: vec![0.0; next],
            ap: vec![0.0; next],
            cg_iterations: 0,
            refactorizations: 0,
            solve_seconds: 0.0,
            cg_tol: DYN_CG_TOL,
            iters_since_factor: 0,
            iter_budget: 0.0,
        };
        d.iter_budget = d.solver.factor_cost_in_solves().max(1.0);
        d.f_ptr.push(0);
        d.d_ptr.push(0);
        d.s_ptr.push(0);
        for t in &terms {
            for &(i, c) in &t.free {
                d.f_idx.push(i as u32);
                d.f_coef.push(c);
            }
            for &(i, c) in &t.dir {
                d.d_idx.push(i as u32);
                d.d_coef.push(c);
            }
            for &(i, c) in &t.slots {
                d.s_idx.push(i as u32);
                d.s_coef.push(c);
            }
            d.f_ptr.push(d.f_idx.len() as u32);
            d.d_ptr.push(d.d_idx.len() as u32);
            d.s_ptr.push(d.s_idx.len() as u32);
        }
        Ok(d)
    }

    /// Enable or disable factor reuse (disabled: refactorise at every solve).
    pub fn set_reuse(&mut self, on: bool) {
        self.enabled = on;
        self.have = false;
    }

    /// Forget the factor: the next solve refactorises (cycle boundaries, bit-for-bit resume),
    /// unless its matrix is bit for bit the factored one, whose factor a refactorisation would
    /// reproduce exactly.
    pub fn invalidate_factor(&mut self) {
        self.refactor_next = true;
    }

    /// Whether `A(k, β)` is bit for bit the factored matrix.
    fn is_factored_matrix(&self, k: &[f64], beta: f64) -> bool {
        beta.to_bits() == self.beta_f.to_bits()
            && k.len() == self.k_f.len()
            && k.iter()
                .zip(&self.k_f)
                .all(|(a, b)| a.to_bits() == b.to_bits())
    }

    /// (PCG iterations, refactorisations) so far.
    pub fn reuse_stats(&self) -> (u64, u64) {
        (self.cg_iterations, self.refactorizations)
    }

    /// (numerical factorisations, triangular solves) so far.
    pub fn solver_stats(&self) -> (u64, u64) {
        (self.solver.n_factor, self.solver.n_solve)
    }

    /// The sparse solver (ordering, factor sizes; benchmarks time its factorisation and solves).
    pub fn solver(&self) -> &SpdSolver {
        &self.solver
    }

    /// The sparse solver, mutably (benchmarks). Refactorising or solving through it leaves the
    /// reuse state of this equilibrium valid only if the matrix values are left unchanged.
    pub fn solver_mut(&mut self) -> &mut SpdSolver {
        &mut self.solver
    }

    #[inline]
    fn range(ptr: &[u32], e: usize) -> std::ops::Range<usize> {
        ptr[e] as usize..ptr[e + 1] as usize
    }

    /// Solve for the conductances `k`, loads `kr` (both per element), nudge `beta`, Dirichlet
    /// values `xd` and output targets; writes the free DOFs to `xf` and the edge drops
    /// `y_e = q_e·x` to `y`. Errors name the free DOF whose pivot failed.
    #[allow(clippy::too_many_arguments)]
    pub fn solve(
        &mut self,
        net: &Network,
        k: &[f64],
        kr: &[f64],
        beta: f64,
        xd: &[f64],
        targets: &[f64],
        y: &mut [f64],
    ) -> Result<(), PhysicsError> {
        let t0 = std::time::Instant::now();
        let res = self.solve_inner(net, k, kr, beta, xd, targets, y);
        self.solve_seconds += t0.elapsed().as_secs_f64();
        res
    }

    #[allow(clippy::too_many_arguments)]
    fn solve_inner(
        &mut self,
        net: &Network,
        k: &[f64],
        kr: &[f64],
        beta: f64,
        xd: &[f64],
        targets: &[f64],
        y: &mut [f64],
    ) -> Result<(), PhysicsError> {
        self.beta_cur = beta;
        let nf = self.n_free;
        // b (elements), and the Dirichlet part of every drop.
        self.b.iter_mut().for_each(|v| *v = 0.0);
        // Whether k equals the factored k_f (exact Woodbury solve), checked in the same pass.
        let mut same = true;
        if !self.pairs.is_empty() {
            self.xdx[nf..].copy_from_slice(xd);
            let (b, xdx, kf) = (&mut self.b, &self.xdx, &self.k_f);
            let (kr, kf) = (&kr[..k.len()], &kf[..k.len()]);
            for (e, &[i, j]) in self.pairs.iter().enumerate().take(k.len()) {
                let (i, j) = (i as usize, j as usize);
                let f = kr[e] - k[e] * (xdx[i] - xdx[j]);
                b[i] += f;
                b[j] -= f;
                same &= k[e] == kf[e];
            }
        } else {
            same = k == self.k_f.as_slice();
            for e in 0..k.len() {
                let mut yd = 0.0;
                for t in Self::range(&self.d_ptr, e) {
                    yd += self.d_coef[t] * xd[self.d_idx[t] as usize];
                }
                self.yd[e] = yd;
                let f = kr[e] - k[e] * yd;
                for t in Self::range(&self.f_ptr, e) {
                    self.b[self.f_idx[t] as usize] += self.f_coef[t] * f;
                }
            }
        }
        if beta != 0.0 {
            for (o, t) in self.out.iter().enumerate() {
                let od: f64 = t.dir.iter().map(|&(d, c)| c * xd[d]).sum();
                let f = -beta * (od - targets[o]);
                for &(i, c) in &t.free {
                    self.b[i] += c * f;
                }
            }
        }
        let exact = if !self.enabled || !self.have {
            self.refactor(net, k, beta)?;
            true
        } else if self.refactor_next {
            if same && self.is_factored_matrix(k, beta) {
                // The matrix is bit for bit the factored one: refactorising would reproduce
                // the same factor (e.g. at a cycle start when no weight moved).
                self.refactor_next = false;
                self.iters_since_factor = 0;
            } else {
                self.refactor(net, k, beta)?;
            }
            true
        } else {
            same
        };
        let mut x = std::mem::take(&mut self.x);
        x[..nf].copy_from_slice(&self.b[..nf]);
        x[nf..].iter_mut().for_each(|v| *v = 0.0);
        self.apply_precond(&mut x[..nf]);
        let converged = exact || self.pcg(k, &mut x);
        if !converged {
            // Guard: the stale factor is too far off: refactor and solve directly. The
            // solution buffer goes back before an error propagates (a later call reuses it).
            if let Err(e) = self.refactor(net, k, beta) {
                self.x = x;
                return Err(e);
            }
            x[..nf].copy_from_slice(&self.b[..nf]);
            self.apply_precond(&mut x[..nf]);
        }
        if !self.pairs.is_empty() {
            x[nf..].copy_from_slice(xd);
            for (ye, &[i, j]) in y.iter_mut().zip(&self.pairs) {
                *ye = x[i as usize] - x[j as usize];
            }
        } else {
            for (e, ye) in y.iter_mut().enumerate().take(k.len()) {
                let mut s = self.yd[e];
                for t in Self::range(&self.f_ptr, e) {
                    s += self.f_coef[t] * x[self.f_idx[t] as usize];
                }
                *ye = s;
            }
        }
        self.x = x;
        Ok(())
    }

    /// Free DOFs of the last solve.
    pub fn free_solution(&self) -> &[f64] {
        &self.x[..self.n_free]
    }

    /// `ap = A(k, β_cur) p`, element by element (extended layout: the Dirichlet tail of `p`
    /// must be zero; that of `ap` is scratch).
    fn apply_a(&self, k: &[f64], p: &[f64], ap: &mut [f64]) {
        ap.iter_mut().for_each(|v| *v = 0.0);
        if !self.pairs.is_empty() {
            for (&ke, &[i, j]) in k.iter().zip(&self.pairs) {
                let (i, j) = (i as usize, j as usize);
                let s = ke * (p[i] - p[j]);
                ap[i] += s;
                ap[j] -= s;
            }
        } else {
            self.apply_a_terms(k, p, ap);
        }
        if self.beta_cur != 0.0 {
            for t in &self.out {
                let s: f64 = t.free.iter().map(|&(i, c)| c * p[i]).sum::<f64>() * self.beta_cur;
                for &(i, c) in &t.free {
                    ap[i] += c * s;
                }
            }
        }
    }

    fn apply_a_terms(&self, k: &[f64], p: &[f64], ap: &mut [f64]) {
        for (e, &ke) in k.iter().enumerate() {
            let rg = Self::range(&self.f_ptr, e);
            let mut s = 0.0;
            for t in rg.clone() {
                s += self.f_coef[t] * p[self.f_idx[t] as usize];
            }
            let s = ke * s;
            for t in rg {
                ap[self.f_idx[t] as usize] += self.f_coef[t] * s;
            }
        }
    }

    /// PCG on `A(k, β)` from the initial guess in `x`; true when converged.
    fn pcg(&mut self, k: &[f64], x: &mut [f64]) -> bool {
        let nf = self.n_free;
        let bnorm = self.b[..nf].iter().map(|v| v * v).sum::<f64>().sqrt();
        if bnorm == 0.0 {
            return true;
        }
        let tol = self.cg_tol * bnorm;
        let mut r = std::mem::take(&mut self.r);
        let mut z = std::mem::take(&mut self.z);
        let mut p = std::mem::take(&mut self.p);
        let mut ap = std::mem::take(&mut self.ap);
        self.apply_a(k, x, &mut ap);
        let mut rn2 = 0.0;
        for i in 0..nf {
            let v = self.b[i] - ap[i];
            r[i] = v;
            rn2 += v * v;
        }
        let mut converged = rn2.sqrt() <= tol;
        let mut it = 0;
        if !converged {
            z[..nf].copy_from_slice(&r[..nf]);
            self.apply_precond(&mut z[..nf]);
            p[..nf].copy_from_slice(&z[..nf]);
            p[nf..].iter_mut().for_each(|v| *v = 0.0);
            let mut rz: f64 = r[..nf].iter().zip(&z[..nf]).map(|(a, b)| a * b).sum();
            while it < DYN_CG_MAX_ITER {
                it += 1;
                self.apply_a(k, &p, &mut ap);
                let pap: f64 = p[..nf].iter().zip(&ap[..nf]).map(|(a, b)| a * b).sum();
                if pap <= 0.0 || !pap.is_finite() {
                    break;
                }
                let alpha = rz / pap;
                let mut rn2 = 0.0;
                for i in 0..nf {
                    x[i] += alpha * p[i];
                    let v = r[i] - alpha * ap[i];
                    r[i] = v;
                    rn2 += v * v;
                }
                if rn2.sqrt() <= tol {
                    converged = true;
                    break;
                }
                z[..nf].copy_from_slice(&r[..nf]);
                self.apply_precond(&mut z[..nf]);
                let rz_new: f64 = r[..nf].iter().zip(&z[..nf]).map(|(a, b)| a * b).sum();
                let bcoef = rz_new / rz;
                rz = rz_new;
                for i in 0..nf {
                    p[i] = z[i] + bcoef * p[i];
                }
            }
        }
        self.cg_iterations += it as u64;
        self.iters_since_factor += it as u64;
        if it >= DYN_REFACTOR_AFTER || self.iters_since_factor as f64 >= self.iter_budget {
            self.refactor_next = true;
        }
        self.r = r;
        self.z = z;
        self.p = p;
        self.ap = ap;
        converged
    }

    /// Apply `M⁻¹ = (A_f + (β − β_f) Q Qᵀ)⁻¹` in place (Woodbury with the stored `U`).
    fn apply_precond(&mut self, v: &mut [f64]) {
        self.solver.solve_in_place(v);
        woodbury(
            &self.out,
            &self.u,
            &self.qtu,
            self.beta_cur - self.beta_f,
            v,
        );
    }

    /// Assemble `A(k, β)`, factor it and prepare the Woodbury vectors.
    fn refactor(&mut self, net: &Network, k: &[f64], beta: f64) -> Result<(), PhysicsError> {
        self.have = false;
        let vals = self.solver.values_mut();
        vals.iter_mut().for_each(|v| *v = 0.0);
        for (e, &ke) in k.iter().enumerate() {
            for t in self.s_ptr[e] as usize..self.s_ptr[e + 1] as usize {
                vals[self.s_idx[t] as usize] += ke * self.s_coef[t];
            }
        }
        if beta != 0.0 {
            for t in &self.out {
                for &(s, cc) in &t.slots {
                    vals[s] += beta * cc;
                }
            }
        }
        self.solver.factor().map_err(|e| match e {
            LinSolveError::NotPositiveDefinite { dof } => PhysicsError::Singular {
                dof: net.singular_dof_name(dof),
                time: None,
            },
            LinSolveError::Symbolic(s) => PhysicsError::Linear { what: s },
        })?;
        self.k_f.copy_from_slice(k);
        self.beta_f = beta;
        self.refactor_next = false;
        self.refactorizations += 1;
        self.iters_since_factor = 0;
        let n = self.solver.dim();
        let no = self.out.len();
        self.u.resize_with(no, Vec::new);
        for (o, t) in self.out.iter().enumerate() {
            let u = &mut self.u[o];
            u.clear();
            u.resize(n, 0.0);
            for &(i, c) in &t.free {
                u[i] += c;
            }
            self.solver.solve_in_place(u);
        }
        self.qtu.clear();
        for ta in &self.out {
            for ub in &self.u {
                self.qtu.push(ta.free.iter().map(|&(i, c)| c * ub[i]).sum());
            }
        }
        self.have = true;
        Ok(())
    }
}

/// Woodbury correction `v ← v − U (I/δ + QᵀU)⁻¹ Qᵀ v` for `v = A_f⁻¹ r` (δ = β − β_f).
fn woodbury(out: &[Terms], u: &[Vec<f64>], qtu: &[f64], d: f64, v: &mut [f64]) {
    let k = out.len();
    if d == 0.0 || k == 0 {
        return;
    }
    if k == 1 {
        let q: f64 = out[0].free.iter().map(|&(i, c)| c * v[i]).sum();
        let c = q / (1.0 / d + qtu[0]);
        for (vi, ui) in v.iter_mut().zip(&u[0]) {
            *vi -= c * ui;
        }
        return;
    }
    let m = nalgebra::DMatrix::<f64>::from_fn(k, k, |a, b| {
        qtu[a * k + b] + if a == b { 1.0 / d } else { 0.0 }
    });
    let rhs = nalgebra::DVector::<f64>::from_fn(k, |a, _| {
        out[a].free.iter().map(|&(i, c)| c * v[i]).sum()
    });
    if let Some(c) = m.lu().solve(&rhs) {
        for b in 0..k {
            let cb = c[b];
            for (vi, ui) in v.iter_mut().zip(&u[b]) {
                *vi -= cb * ui;
            }
        }
    }
}

impl DynamicEquilibrium {
    /// Outputs `o_k = q_k·x` of the last solve (Dirichlet values `xd`).
    pub fn outputs(&self, xd: &[f64]) -> Vec<f64> {
        self.out
            .iter()
            .map(|t| {
                t.free.iter().map(|&(i, c)| c * self.x[i]).sum::<f64>()
                    + t.dir.iter().map(|&(d, c)| c * xd[d]).sum::<f64>()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::physics::model::Params;

    /// The dynamic solve (two-terminal fast path and generic CSR path) gives the drops of the
    /// reference [`Equilibrium::solve`] in dynamic mode, on a lattice with random states, with
    /// and without a nudge, after the weights drifted from the factored ones (PCG path).
    #[test]
    fn dynamic_solve_matches_the_reference_equilibrium() {
        use rand::{Rng, SeedableRng};
        let nl = crate::generate::lattice_netlist(6, 2.0, None).unwrap();
        let net = &nl.network;
        let ne = net.n_elements();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let mut reference = Equilibrium::new(net).unwrap();
        let mut fast = DynamicEquilibrium::new(net).unwrap();
        assert_eq!(fast.pairs.len(), ne, "lattice edges are two-terminal");
        let mut generic = DynamicEquilibrium::new(net).unwrap();
        generic.pairs.clear();
        let mut p: Params = net.initial_params();
        let xd = &net.examples[0].xd;
        let targets = &net.examples[0].targets;
        for round in 0..6 {
            // Drift the weights by ~1e-3 relative (PCG) or by 30 % (guard refactorisation).
            let amp = if round == 4 { 0.3 } else { 1e-3 };
            for w in p.w.iter_mut() {
                *w *= 1.0 + amp * rng.random_range(-1.0..1.0);
            }
            let z: Vec<f64> = (0..ne).map(|_| rng.random_range(-0.1..0.1)).collect();
            let beta = if round % 2 == 0 { 0.0 } else { 0.7 };
            let x = reference
                .solve(net, &p.w, &p.l, ArmMode::Dynamic(&z), beta, xd, targets)
                .unwrap()
                .to_vec();
            let mut y_ref = vec![0.0; ne];
            drops(net, &x, &mut y_ref);
            let (mut k, mut kr) = (vec![0.0; ne], vec![0.0; ne]);
            for (e, el) in net.elements.iter().enumerate() {
                let (a, c) = el.conductances(p.w[e]);
                k[e] = a + c;
                kr[e] = a * p.l[e] + c * z[e];
            }
            for d in [&mut fast, &mut generic] {
                let mut y = vec![0.0; ne];
                d.solve(net, &k, &kr, beta, xd, targets, &mut y).unwrap();
                let scale = y_ref.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                let err = y
                    .iter()
                    .zip(&y_ref)
                    .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
                assert!(err < 1e-9 * scale, "round {round}: drop error {err:e}");
                let o = d.outputs(xd);
                assert!((o[0] - outputs(net, &x)[0]).abs() < 1e-9);
            }
        }
        assert!(fast.cg_iterations > 0, "PCG must be exercised");
        assert!(fast.refactorizations >= 2, "the guard must refactorise");
        assert_eq!(fast.cg_iterations, generic.cg_iterations);
    }
}
