//! Quasi-static network equilibrium `A x_f = b` (physics.md §1.2).
//!
//! ```text
//! A = Σ_e k_e q_fe q_feᵀ + β Σ_k q_fk q_fkᵀ
//! b = Σ_e q_fe [k_e r_e − k_e (q_de·x_d)] − β Σ_k q_fk (q_dk·x_d − T_k)
//! ```
//! with, in *dynamic* mode, `k_e = a_e + c_e` and `k_e r_e = a_e l_e + c_e z_e` (learnable path
//! plus the loading arm holding its state `z_e`), and in *static* (DC) mode
//! `k_e = a_e + c_e g_L/(c_e + g_L)`, `k_e r_e = a_e l_e` (arms at their DC state). The pattern
//! (union of all element and output blocks) is analysed once; values are refactored per call.

use super::linsolve::{LinSolveError, SpdSolver};
use super::model::{Network, Stencil};
use super::PhysicsError;

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
    free: Vec<(u32, f64)>,
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
            f.free.extend(t.free.iter().map(|&(a, c)| (a as u32, c)));
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
    elem: Vec<Terms>,
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

fn split(net: &Network, st: &Stencil) -> (Vec<(usize, f64)>, Vec<(usize, f64)>) {
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

impl Equilibrium {
    pub fn new(net: &Network) -> Result<Self, PhysicsError> {
        let mut pairs = Vec::new();
        let stencils: Vec<&Stencil> = net
            .elements
            .iter()
            .map(|e| &e.stencil)
            .chain(net.outputs.iter().map(|o| &o.stencil))
            .collect();
        let mut split_all = Vec::with_capacity(stencils.len());
        for st in &stencils {
            let (free, dir) = split(net, st);
            for &(a, _) in &free {
                for &(b, _) in &free {
                    pairs.push((a, b));
                }
            }
            split_all.push((free, dir));
        }
        let solver = SpdSolver::new(net.n_free, pairs).map_err(|e| PhysicsError::Linear {
            what: format!("symbolic analysis: {e}"),
        })?;
        let mut terms = Vec::with_capacity(split_all.len());
        for (free, dir) in split_all {
            let mut slots = Vec::new();
            for &(a, ca) in &free {
                for &(b, cb) in &free {
                    if a >= b {
                        if let Some(s) = solver.slot(a, b) {
                            slots.push((s, ca * cb));
                        }
                    }
                }
            }
            terms.push(Terms { free, dir, slots });
        }
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
            elem: terms,
            out,
        })
    }

    pub fn n_free(&self) -> usize {
        self.rhs.len()
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
                self.rhs[i as usize] += c * f;
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
                dof: net.free_dof_name(dof),
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
        &self.elem[e].free
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
