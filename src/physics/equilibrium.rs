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

/// Assembly maps, the sparse factor and scratch for one network topology.
#[derive(Clone, Debug)]
pub struct Equilibrium {
    solver: SpdSolver,
    elem: Vec<Terms>,
    out: Vec<Terms>,
    /// Scratch: right-hand side / solution of the free DOFs.
    rhs: Vec<f64>,
    /// Full DOF vector of the last solve.
    pub x: Vec<f64>,
    /// Wall time spent in assembly + factorisation + solve (benchmarks).
    pub solve_seconds: f64,
}

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
        Ok(Equilibrium {
            rhs: vec![0.0; net.n_free],
            x: vec![0.0; net.n_dof()],
            solve_seconds: 0.0,
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
        let res = self.factor(net);
        if res.is_ok() {
            let mut rhs = std::mem::take(&mut self.rhs);
            self.solver.solve_in_place(&mut rhs);
            self.scatter(net, &rhs, xd);
            self.rhs = rhs;
        }
        self.solve_seconds += t0.elapsed().as_secs_f64();
        res?;
        Ok(&self.x)
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
        let vals = self.solver.values_mut();
        vals.iter_mut().for_each(|v| *v = 0.0);
        self.rhs.iter_mut().for_each(|v| *v = 0.0);
        for (e, (el, t)) in net.elements.iter().zip(&self.elem).enumerate() {
            let (a, c) = el.conductances(w[e]);
            let (k, kr) = match arms {
                ArmMode::Dynamic(z) => (a + c, a * l[e] + c * z[e]),
                ArmMode::Dc => (el.dc_conductance(w[e]), a * l[e]),
            };
            for &(s, cc) in &t.slots {
                vals[s] += k * cc;
            }
            let yd: f64 = t.dir.iter().map(|&(d, c)| c * xd[d]).sum();
            let f = kr - k * yd;
            for &(i, c) in &t.free {
                self.rhs[i] += c * f;
            }
        }
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

    /// Solve `A λ = r` with the factor of the last [`Self::solve`] (same matrix), `r` on the free
    /// DOFs, returning the full-length vector with zeros on Dirichlet DOFs.
    pub fn solve_with_last_factor(&mut self, net: &Network, r: &mut [f64]) -> Vec<f64> {
        self.solver.solve_in_place(r);
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
        self.solver.mul(x, y)
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
