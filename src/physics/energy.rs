//! Energy accounting of the network dynamics (docs/physics.md §12).
//!
//! The powers below are integrated along the trajectory the solver computes anyway: they are
//! appended to the packed ODE state as pure quadrature components (`v' = P(t, x)`, no feedback),
//! integrated by the same Dopri5 / BDF step with the error control (and the BDF Newton test and
//! Jacobian) restricted to the physical components, so the trajectory is the one without them.
//! The stored energy is evaluated at the ends of every segment from the state there (one
//! equilibrium solve), so the balance residual measures the quadrature against the state
//! integration: it is at the integrator's tolerance.
//!
//! Notation (docs/physics.md §1.2): `t_e = a_e (y_e − l_e) + c_e (y_e − z_e)`, `a = da·w_eff`,
//! `c = dc·w_eff + c0` (the arm conductance that loads the network; 0 for an ideal probe, whose
//! arm is powered by the probe and left out), arm `cap ż = c (y − z) − g_L z`.

use super::model::{Domain, Network};

/// Number of quadrature components appended to the packed state.
pub const N_QUAD: usize = 9;
/// Index of each quadrature component.
pub const Q_SOURCE: usize = 0;
pub const Q_NUDGE: usize = 1;
pub const Q_LEARNING: usize = 2;
/// Dissipation classes in the order of [`crate::learning::energy::Energy::balance`].
pub const Q_DISS: usize = 3;

#[derive(Clone, Debug)]
struct ElemE {
    da: f64,
    dc: f64,
    c0: f64,
    w_min: f64,
    learns: bool,
    /// Capacitance / viscosity and leak of a loading arm (cap = 0: no loading arm).
    cap: f64,
    g_leak: f64,
    iz: Option<usize>,
    iw: Option<usize>,
    il: Option<usize>,
}

/// Per-network tables of the energy accounting.
#[derive(Clone, Debug)]
pub struct EnergyTable {
    domain: Domain,
    elems: Vec<ElemE>,
    /// (element, Dirichlet index, coefficient) of every element stencil term on a source DOF.
    el_dir: Vec<(usize, usize, f64)>,
    /// Output stencils: free terms and Dirichlet terms.
    out_free: Vec<Vec<(usize, f64)>>,
    out_dir: Vec<Vec<(usize, f64)>>,
}

/// The instantaneous quantities the powers need (one right-hand-side evaluation).
pub struct Instant<'s> {
    pub beta: f64,
    pub beta_rate: f64,
    pub xd: &'s [f64],
    pub xd_rate: &'s [f64],
    pub targets: &'s [f64],
    pub targets_rate: &'s [f64],
    /// Free DOFs of the equilibrium.
    pub xf: &'s [f64],
    pub y: &'s [f64],
    /// Packed state and its derivative.
    pub v: &'s [f64],
    pub dv: &'s [f64],
    pub w: &'s [f64],
    pub l: &'s [f64],
}

impl EnergyTable {
    pub fn new(net: &Network, layout: &super::dynamics::Layout) -> Self {
        let mut elems = Vec::with_capacity(net.n_elements());
        let mut el_dir = Vec::new();
        for (e, el) in net.elements.iter().enumerate() {
            let (da, dc, c0) = match (&el.arm, el.w_is_direct) {
                (None, _) => (1.0, 0.0, 0.0),
                (Some(arm), true) => match (arm.loading, arm.g) {
                    (false, _) => (1.0, 0.0, 0.0),
                    (true, Some(g)) => (1.0, 0.0, g),
                    (true, None) => (1.0, 1.0, 0.0),
                },
                (Some(arm), false) => (0.0, if arm.loading { 1.0 } else { 0.0 }, 0.0),
            };
            let (cap, g_leak) = match &el.arm {
                Some(arm) if arm.loading => (arm.cap, arm.g_leak),
                _ => (0.0, 0.0),
            };
            elems.push(ElemE {
                da,
                dc,
                c0,
                w_min: el.bounds.w_min,
                learns: el.learns(),
                cap,
                g_leak,
                iz: layout.z[e],
                iw: layout.w[e],
                il: layout.l[e],
            });
            for (d, c) in el.stencil.terms() {
                if let Some(Err(k)) = net.dof_map.get(d) {
                    el_dir.push((e, *k, c));
                }
            }
        }
        let mut out_free = Vec::new();
        let mut out_dir = Vec::new();
        for o in &net.outputs {
            let (mut f, mut dd) = (Vec::new(), Vec::new());
            for (d, c) in o.stencil.terms() {
                match net.dof_map.get(d) {
                    Some(Ok(i)) => f.push((*i, c)),
                    Some(Err(k)) => dd.push((*k, c)),
                    None => {}
                }
            }
            out_free.push(f);
            out_dir.push(dd);
        }
        EnergyTable {
            domain: net.domain,
            elems,
            el_dir,
            out_free,
            out_dir,
        }
    }

    fn ac(&self, e: usize, w: f64) -> (f64, f64, f64) {
        let k = &self.elems[e];
        let we = w.max(k.w_min).max(0.0);
        (k.da * we, k.dc * we + k.c0, we)
    }

    /// Outputs `o_k` from the free solution and the source values.
    pub fn outputs(&self, xf: &[f64], xd: &[f64], out: &mut [f64]) {
        for (k, o) in out.iter_mut().enumerate() {
            *o = self.out_free[k]
                .iter()
                .map(|&(i, c)| c * xf[i])
                .sum::<f64>()
                + self.out_dir[k].iter().map(|&(d, c)| c * xd[d]).sum::<f64>();
        }
    }

    /// The powers `P` (the derivatives of the quadrature components) at one instant.
    /// `scratch_o` (outputs) and `scratch_r` (source reactions) are work space.
    pub fn powers(
        &self,
        s: &Instant<'_>,
        scratch_o: &mut [f64],
        scratch_r: &mut [f64],
        p: &mut [f64],
    ) {
        p.iter_mut().for_each(|x| *x = 0.0);
        let flow = self.domain == Domain::Flow;
        let z_of = |k: &ElemE| k.iz.map_or(0.0, |i| s.v[i]);
        let rate_of = |i: Option<usize>| i.map_or(0.0, |i| s.dv[i]);
        let (mut learn, mut d_ch, mut d_res, mut d_arm, mut d_leak, mut d_dash) =
            (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
        scratch_r.iter_mut().for_each(|x| *x = 0.0);
        let t_e = |e: usize| -> f64 {
            let k = &self.elems[e];
            let (a, c, _) = self.ac(e, s.w[e]);
            let z = z_of(k);
            a * (s.y[e] - s.l[e]) + c * (s.y[e] - z)
        };
        for &(e, d, c) in &self.el_dir {
            scratch_r[d] += c * t_e(e);
        }
        for (e, k) in self.elems.iter().enumerate() {
            let (a, c, we) = self.ac(e, s.w[e]);
            let y = s.y[e];
            let u = y - s.l[e];
            let z = z_of(k);
            if flow {
                let d = a * u * u;
                if k.learns {
                    d_ch += d;
                } else {
                    d_res += d;
                }
                if k.cap > 0.0 && c > 0.0 {
                    d_arm += c * (y - z) * (y - z);
                    d_leak += k.g_leak * z * z;
                }
            } else {
                if k.cap > 0.0 && c > 0.0 {
                    let zd = rate_of(k.iz);
                    d_dash += k.cap * zd * zd;
                }
                // ẇ_eff: the clamp max(w, w_min, 0) holds the effective weight still below it.
                let wd = if s.w[e] > k.w_min.max(0.0) {
                    rate_of(k.iw)
                } else {
                    0.0
                };
                let _ = we;
                let ld = rate_of(k.il);
                learn += 0.5 * k.da * wd * u * u - a * u * ld + 0.5 * k.dc * wd * (y - z) * (y - z);
            }
        }
        self.outputs(s.xf, s.xd, scratch_o);
        let (mut w_nudge, mut d_nudge) = (0.0, 0.0);
        for (k, &o) in scratch_o.iter().enumerate() {
            let r = o - s.targets[k];
            for &(d, c) in &self.out_dir[k] {
                scratch_r[d] += s.beta * r * c;
            }
            if flow {
                w_nudge += s.beta * (-r) * s.targets[k];
                d_nudge += s.beta * r * r;
            } else {
                w_nudge += 0.5 * s.beta_rate * r * r - s.beta * r * s.targets_rate[k];
            }
        }
        let src: f64 = if flow {
            scratch_r.iter().zip(s.xd).map(|(r, x)| r * x).sum()
        } else {
            scratch_r.iter().zip(s.xd_rate).map(|(r, x)| r * x).sum()
        };
        p[Q_SOURCE] = src;
        p[Q_NUDGE] = w_nudge;
        p[Q_LEARNING] = learn;
        p[Q_DISS] = d_ch;
        p[Q_DISS + 1] = d_res;
        p[Q_DISS + 2] = d_arm;
        p[Q_DISS + 3] = d_leak;
        p[Q_DISS + 4] = d_dash;
        p[Q_DISS + 5] = d_nudge;
    }

    /// Stored energy at one instant: capacitors `½ C z²` (flow); springs `½ a (y − l)²`, arm
    /// springs `½ c (y − z)² + ½ k_L z²` and nudge springs `½ β (o − T)²` (elastic).
    pub fn stored(&self, s: &Instant<'_>, scratch_o: &mut [f64]) -> f64 {
        let mut e_st = 0.0;
        for (e, k) in self.elems.iter().enumerate() {
            let (a, c, _) = self.ac(e, s.w[e]);
            let z = k.iz.map_or(0.0, |i| s.v[i]);
            match self.domain {
                Domain::Flow => {
                    if k.cap > 0.0 && c > 0.0 {
                        e_st += 0.5 * k.cap * z * z;
                    }
                }
                Domain::Elastic2d => {
                    let u = s.y[e] - s.l[e];
                    e_st += 0.5 * a * u * u;
                    if k.cap > 0.0 && c > 0.0 {
                        let v = s.y[e] - z;
                        e_st += 0.5 * c * v * v + 0.5 * k.g_leak * z * z;
                    }
                }
            }
        }
        if self.domain == Domain::Elastic2d {
            self.outputs(s.xf, s.xd, scratch_o);
            for (k, &o) in scratch_o.iter().enumerate() {
                let r = o - s.targets[k];
                e_st += 0.5 * s.beta * r * r;
            }
        }
        e_st
    }
}
