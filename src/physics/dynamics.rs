//! Element-local dynamics (an index-1 DAE written as an ODE for the element states only): at
//! every right-hand-side evaluation the quasi-static equilibrium is solved, then
//!
//! ```text
//! arm:        cap ż = c (y − z) − g_L z                 (capacitor voltage / dashpot extension)
//! chemistry:  τ_x ẋ = s/s_ref − x − r,  τ_r ṙ = x − ε r  (integral feedback)
//! learning:   dp/dt = π ρ N_θ(σ) F(p)                    (p = w or l; σ from the arm or x)
//! ```
//! Integration is segment by segment (no step crosses a drive corner) with the allocation-free
//! Dopri5 of [`super::dopri`] (ode_solvers' algorithm; ode_solvers itself remains available as the
//! reference, [`Dynamics::reference_integrator`]), ode_solvers' Dop853 or fixed-step RK4, or the
//! implicit BDF of `stiff.rs`.
//!
//! The hot path is allocation-free: the packed state is scattered by flat index maps, the
//! element conductances `k_e = a_e + c_e` and loads `k_e r_e = a_e l_e + c_e z_e` come from flat
//! per-element tables, and [`DynamicEquilibrium`] solves with a reused factor and returns the
//! drops directly.

use super::dopri::{Dopri5Options, Dopri5Work};
use super::equilibrium::DynamicEquilibrium;
use super::model::{ArmSignal, LearnTarget, Network, Params, SignalSource, States};
use super::PhysicsError;
use crate::protocol::Segment;
use nalgebra::DVector;
use ode_solvers::dop_shared::{IntegrationError, OutputType};
use ode_solvers::{Dop853, Dopri5, Rk4, System};
use serde::Serialize;
use std::cell::RefCell;

/// Integration method.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Dopri5,
    Dop853,
    Rk4,
    /// Implicit variable-order BDF/NDF with finite-difference Jacobians (`stiff.rs`).
    Bdf,
    /// Resolved at load time (`sim::prepare`): `Bdf` when the stiffness ratio exceeds 1e4,
    /// else `Dopri5`. Left unresolved it integrates as `Dopri5`.
    Auto,
}

/// Integrator settings (netlist `solver`).
#[derive(Copy, Clone, Debug, PartialEq, Serialize)]
pub struct SolverSettings {
    pub method: Method,
    pub rtol: f64,
    pub atol: f64,
    /// Initial step (≤ 0.1 τ_k recommended; docs/physics.md §10.1).
    pub h_init: f64,
    pub h_max: f64,
    /// Step of the fixed-step RK4.
    pub rk4_h: f64,
    /// Step limit per segment.
    pub max_steps: u32,
    /// Let Dopri5/Dop853 stop with `StiffnessDetected` (true) or grind on at the stability
    /// limit (false; e.g. long, slow input switches).
    pub stiffness_check: bool,
    /// Reuse the Cholesky factor across RHS evaluations (Woodbury for β, PCG guard for weight
    /// drift); `false` refactorises at every evaluation.
    pub factor_reuse: bool,
    /// Largest step of the implicit method (its steps are limited by accuracy, not stability).
    pub implicit_h_max: f64,
}

impl Default for SolverSettings {
    fn default() -> Self {
        SolverSettings {
            method: Method::Dopri5,
            rtol: 1e-6,
            atol: 1e-9,
            h_init: 0.1,
            h_max: 3.0,
            rk4_h: 0.5,
            max_steps: 200_000,
            stiffness_check: true,
            factor_reuse: true,
            implicit_h_max: 1000.0,
        }
    }
}

/// Accumulated solver statistics.
#[derive(Copy, Clone, Debug, Default, PartialEq, Serialize)]
pub struct SolverStats {
    pub rhs_evals: u64,
    pub accepted_steps: u64,
    pub rejected_steps: u64,
    pub factorizations: u64,
    pub segments: u64,
    /// Finite-difference Jacobians of the implicit method (their RHS calls are in `rhs_evals`).
    pub jacobian_evals: u64,
    pub jacobian_rhs_evals: u64,
    /// Dense LU factorisations of the implicit method's Newton matrix.
    pub lu_decompositions: u64,
}

impl std::ops::AddAssign for SolverStats {
    fn add_assign(&mut self, o: Self) {
        self.rhs_evals += o.rhs_evals;
        self.accepted_steps += o.accepted_steps;
        self.rejected_steps += o.rejected_steps;
        self.factorizations += o.factorizations;
        self.segments += o.segments;
        self.jacobian_evals += o.jacobian_evals;
        self.jacobian_rhs_evals += o.jacobian_rhs_evals;
        self.lu_decompositions += o.lu_decompositions;
    }
}

impl std::ops::Sub for SolverStats {
    type Output = SolverStats;
    fn sub(self, o: Self) -> Self {
        SolverStats {
            rhs_evals: self.rhs_evals - o.rhs_evals,
            accepted_steps: self.accepted_steps - o.accepted_steps,
            rejected_steps: self.rejected_steps - o.rejected_steps,
            factorizations: self.factorizations - o.factorizations,
            segments: self.segments - o.segments,
            jacobian_evals: self.jacobian_evals - o.jacobian_evals,
            jacobian_rhs_evals: self.jacobian_rhs_evals - o.jacobian_rhs_evals,
            lu_decompositions: self.lu_decompositions - o.lu_decompositions,
        }
    }
}

/// Where each element's quantities live in the packed ODE state.
#[derive(Clone, Debug)]
pub struct Layout {
    pub z: Vec<Option<usize>>,
    /// Index of `x`; `r` is at the next index.
    pub chem: Vec<Option<usize>>,
    pub w: Vec<Option<usize>>,
    pub l: Vec<Option<usize>>,
    pub len: usize,
}

impl Layout {
    pub fn new(net: &Network) -> Self {
        let n = net.n_elements();
        let mut k = 0;
        let mut z = vec![None; n];
        let mut chem = vec![None; n];
        let mut w = vec![None; n];
        let mut l = vec![None; n];
        for (e, el) in net.elements.iter().enumerate() {
            if el.arm.is_some() {
                z[e] = Some(k);
                k += 1;
            }
        }
        for (e, el) in net.elements.iter().enumerate() {
            if el.chem.is_some() {
                chem[e] = Some(k);
                k += 2;
            }
        }
        for (e, el) in net.elements.iter().enumerate() {
            if el.learns_weight() {
                w[e] = Some(k);
                k += 1;
            }
        }
        for (e, el) in net.elements.iter().enumerate() {
            if el.learns_rest_length() {
                l[e] = Some(k);
                k += 1;
            }
        }
        Layout {
            z,
            chem,
            w,
            l,
            len: k,
        }
    }

    pub fn pack(&self, p: &Params, s: &States) -> DVector<f64> {
        let mut v = DVector::zeros(self.len);
        for e in 0..self.z.len() {
            if let Some(i) = self.z[e] {
                v[i] = s.z[e];
            }
            if let Some(i) = self.chem[e] {
                v[i] = s.x[e];
                v[i + 1] = s.r[e];
            }
            if let Some(i) = self.w[e] {
                v[i] = p.w[e];
            }
            if let Some(i) = self.l[e] {
                v[i] = p.l[e];
            }
        }
        v
    }

    /// Unpack into existing parameter/state values (non-learnable entries are left as they are).
    pub fn unpack(&self, v: &[f64], p: &mut Params, s: &mut States) {
        for e in 0..self.z.len() {
            if let Some(i) = self.z[e] {
                s.z[e] = v[i];
            }
            if let Some(i) = self.chem[e] {
                s.x[e] = v[i];
                s.r[e] = v[i + 1];
            }
            if let Some(i) = self.w[e] {
                p.w[e] = v[i];
            }
            if let Some(i) = self.l[e] {
                p.l[e] = v[i];
            }
        }
    }

    /// Which element owns packed index `i`, and what it is.
    pub fn owner(&self, i: usize) -> Option<(usize, &'static str)> {
        for e in 0..self.z.len() {
            if self.z[e] == Some(i) {
                return Some((e, "arm state z"));
            }
            if self.chem[e] == Some(i) {
                return Some((e, "chemical x"));
            }
            if self.chem[e].map(|c| c + 1) == Some(i) {
                return Some((e, "regulator r"));
            }
            if self.w[e] == Some(i) {
                return Some((e, "weight w"));
            }
            if self.l[e] == Some(i) {
                return Some((e, "rest length l"));
            }
        }
        None
    }
}

/// Flat per-element data for the right-hand-side loops.
#[derive(Clone, Debug, Default)]
struct Compact {
    arms: Vec<ArmK>,
    chems: Vec<usize>,
    channels: Vec<ChanK>,
    /// Per element: how `(a, c)` follow from `w` ([`Element::conductances`] as a table).
    cond: Vec<CondK>,
    /// (packed index, element) of every `z`, `w`, `l` and chemistry `x` (`r` follows `x`).
    map_z: Vec<(u32, u32)>,
    map_w: Vec<(u32, u32)>,
    map_l: Vec<(u32, u32)>,
    map_x: Vec<(u32, u32)>,
    uniform: Option<Uniform>,
}

/// Hot path for networks whose packed state is exactly the arm states `z` (element order, at
/// `z_off + e`) and the weights `w` (at `w_off + e`), every element with one weight channel
/// driven by its own arm (e.g. lattice-n): the state slices are read in place (no unpack), the
/// per-element parameters come from a small deduplicated table, and one fused loop writes `ż`
/// and `ẇ`. Same floating-point operations as the general loops.
#[derive(Clone, Debug)]
struct Uniform {
    z_off: usize,
    w_off: usize,
    /// Index into `kinds` per element.
    kind: Vec<u32>,
    kinds: Vec<UniK>,
}

#[derive(Clone, Debug)]
struct UniK {
    cond: CondK,
    arm: ArmK,
    chan: ChanK,
    signal: ArmSignal,
}

impl Uniform {
    fn new(net: &Network, layout: &Layout, c: &Compact) -> Option<Uniform> {
        let ne = net.n_elements();
        if ne == 0 || layout.len != 2 * ne || c.arms.len() != ne || c.channels.len() != ne {
            return None;
        }
        let (z_off, w_off) = (layout.z[0]?, layout.w[0]?);
        let mut kind = Vec::with_capacity(ne);
        let mut kinds: Vec<UniK> = Vec::new();
        let mut seen = std::collections::HashMap::<String, u32>::new();
        for e in 0..ne {
            let (a, ch) = (&c.arms[e], &c.channels[e]);
            let signal = match ch.source {
                SignalSource::Arm(s) => s,
                SignalSource::Chem(_) => return None,
            };
            if layout.z[e] != Some(z_off + e)
                || layout.w[e] != Some(w_off + e)
                || layout.chem[e].is_some()
                || layout.l[e].is_some()
                || a.e != e
                || ch.e != e
                || ch.i != w_off + e
                || !ch.bounded
            {
                return None;
            }
            let mut arm = a.clone();
            let mut chan = ch.clone();
            // Element-independent parameter record (the indices are implied by e).
            arm.e = 0;
            arm.i = 0;
            chan.e = 0;
            chan.i = 0;
            let k = UniK {
                cond: c.cond[e],
                arm,
                chan,
                signal,
            };
            let key = format!("{k:?}");
            let id = match seen.get(&key) {
                Some(&id) => id,
                None => {
                    let id = kinds.len() as u32;
                    seen.insert(key, id);
                    kinds.push(k);
                    id
                }
            };
            kind.push(id);
        }
        Some(Uniform {
            z_off,
            w_off,
            kind,
            kinds,
        })
    }
}

/// `k_e = a_e + c_e` and `k_e r_e = a_e l_e + c_e z_e` of the uniform hot path.
#[inline(always)]
fn conductances<'k>(
    z: &[f64],
    w: &[f64],
    l: &[f64],
    k: &mut [f64],
    kr: &mut [f64],
    cond: impl Fn(usize) -> &'k CondK,
) {
    let n = z.len();
    let (w, l, k, kr) = (&w[..n], &l[..n], &mut k[..n], &mut kr[..n]);
    for e in 0..n {
        let c = cond(e);
        let we = w[e].max(c.w_min).max(0.0);
        let a = c.da * we;
        let cc = c.dc * we + c.c0;
        k[e] = a + cc;
        kr[e] = a * l[e] + cc * z[e];
    }
}

/// `ż` and `ẇ` of the uniform hot path; returns NaN if any derivative is not finite.
#[inline(always)]
fn uniform_derivatives<'k>(
    z: &[f64],
    w: &[f64],
    y: &[f64],
    dz: &mut [f64],
    dw: &mut [f64],
    kind: impl Fn(usize) -> &'k UniK,
) -> f64 {
    let n = z.len();
    let (w, y, dz, dw) = (&w[..n], &y[..n], &mut dz[..n], &mut dw[..n]);
    let mut chk = 0.0;
    for e in 0..n {
        let kp = kind(e);
        let (a, c) = (&kp.arm, &kp.chan);
        let (ze, we, ye) = (z[e], w[e], y[e]);
        let g = if a.g.is_nan() {
            we.max(a.w_min).max(0.0)
        } else {
            a.g
        };
        let dze = (g * (ye - ze) - a.g_leak * ze) * a.inv_cap;
        let uu = ye - ze;
        let sigma = match kp.signal {
            ArmSignal::Energy => 2.0 * ze * uu,
            ArmSignal::Abs => ze.signum() * uu,
            ArmSignal::Polar => uu,
            ArmSignal::Tension => we.max(c.bounds.w_min).max(0.0) * uu,
        };
        let rate = c.gain * c.nonlinearity.apply(sigma, c.theta);
        let dwe = c.bounds.window(we, rate);
        dz[e] = dze;
        dw[e] = dwe;
        // x − x is 0 for finite x and NaN otherwise: a branch-free finiteness accumulator.
        #[allow(clippy::eq_op)]
        {
            chk += (dze - dze) + (dwe - dwe);
        }
    }
    chk
}

/// `w_eff = max(w, w_min, 0)`, `a = da w_eff`, `c = dc w_eff + c0` (da, dc ∈ {0, 1}): the
/// closed form of [`Element::conductances`] (same floating-point results).
///
/// [`Element::conductances`]: super::model::Element::conductances
#[derive(Copy, Clone, Debug)]
struct CondK {
    da: f64,
    dc: f64,
    c0: f64,
    w_min: f64,
}

#[derive(Clone, Debug)]
struct ArmK {
    e: usize,
    i: usize,
    inv_cap: f64,
    /// Fixed arm conductance, or NaN when it is the learnable weight.
    g: f64,
    g_leak: f64,
    w_min: f64,
}

#[derive(Clone, Debug)]
struct ChanK {
    e: usize,
    /// Index of the learnable parameter in the packed state.
    i: usize,
    source: SignalSource,
    /// π ρ
    gain: f64,
    theta: f64,
    nonlinearity: super::model::Nonlinearity,
    bounds: super::model::Bounds,
    /// Whether the window F(w) applies (weights) or not (rest lengths).
    bounded: bool,
}

impl ChanK {
    /// The channel's filtered signal σ at the state (docs/physics.md §1.4).
    #[inline]
    fn sigma(&self, p: &Params, s: &States, y: &[f64]) -> f64 {
        let e = self.e;
        match self.source {
            SignalSource::Arm(kind) => {
                let z = s.z[e];
                let u = y[e] - z;
                match kind {
                    ArmSignal::Energy => 2.0 * z * u,
                    ArmSignal::Abs => z.signum() * u,
                    ArmSignal::Polar => u,
                    ArmSignal::Tension => p.w[e].max(self.bounds.w_min).max(0.0) * u,
                }
            }
            SignalSource::Chem(_) => s.x[e],
        }
    }
}

impl Compact {
    fn new(net: &Network, layout: &Layout) -> Self {
        let mut c = Compact::default();
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
            c.cond.push(CondK {
                da,
                dc,
                c0,
                w_min: el.bounds.w_min,
            });
            let eu = e as u32;
            if let Some(i) = layout.z[e] {
                c.map_z.push((i as u32, eu));
            }
            if let Some(i) = layout.chem[e] {
                c.map_x.push((i as u32, eu));
            }
            if let Some(i) = layout.w[e] {
                c.map_w.push((i as u32, eu));
            }
            if let Some(i) = layout.l[e] {
                c.map_l.push((i as u32, eu));
            }
            if let (Some(i), Some(arm)) = (layout.z[e], &el.arm) {
                c.arms.push(ArmK {
                    e,
                    i,
                    inv_cap: 1.0 / arm.cap,
                    g: arm.g.unwrap_or(f64::NAN),
                    g_leak: arm.g_leak,
                    w_min: el.bounds.w_min,
                });
            }
            if el.chem.is_some() {
                c.chems.push(e);
            }
            for ch in &el.channels {
                let (i, bounded) = match ch.target {
                    LearnTarget::Weight => (layout.w[e], true),
                    LearnTarget::RestLength => (layout.l[e], false),
                };
                if let Some(i) = i {
                    c.channels.push(ChanK {
                        e,
                        i,
                        source: ch.source,
                        gain: ch.polarity * ch.rho,
                        theta: ch.theta,
                        nonlinearity: ch.nonlinearity,
                        bounds: el.bounds,
                        bounded,
                    });
                }
            }
        }
        c.uniform = Uniform::new(net, layout, &c);
        c
    }
}

/// Scratch of one right-hand side.
#[derive(Clone, Debug)]
struct Scratch {
    eq: DynamicEquilibrium,
    params: Params,
    states: States,
    /// Element conductances `k_e` and loads `k_e r_e` of the current evaluation.
    k: Vec<f64>,
    kr: Vec<f64>,
    y: Vec<f64>,
    xd: Vec<f64>,
    targets: Vec<f64>,
    /// Energy accounting scratch: boundary rates, outputs, source reactions.
    xd_rate: Vec<f64>,
    targets_rate: Vec<f64>,
    e_out: Vec<f64>,
    e_react: Vec<f64>,
    error: Option<PhysicsError>,
    rhs_evals: u64,
}

/// The coupled network + element ODE system.
pub struct Dynamics<'a> {
    pub net: &'a Network,
    pub layout: Layout,
    compact: Compact,
    scratch: RefCell<Scratch>,
    pub settings: SolverSettings,
    pub stats: SolverStats,
    /// Integrate Dopri5 with ode_solvers instead of the own allocation-free implementation
    /// (reference; same algorithm and results).
    pub reference_integrator: bool,
    /// Return every accepted step from [`Dynamics::integrate_segment`] (`false`: only the end
    /// point; the runner turns it off when it samples nothing).
    pub record_steps: bool,
    dopri_work: Dopri5Work,
    /// Energy accounting tables (`None`: switched off, see [`Dynamics::set_energy`]).
    energy: Option<super::energy::EnergyTable>,
    /// Quadrature totals of the last integrated segment ([`super::energy::N_QUAD`] entries:
    /// source, nudge and learning work, then the dissipation classes).
    pub last_quad: [f64; super::energy::N_QUAD],
}

/// Snapshot of the network at one time (for time series).
#[derive(Clone, Debug, Serialize)]
pub struct Sample {
    pub t: f64,
    pub beta: f64,
    pub outputs: Vec<f64>,
    pub y: Vec<f64>,
    pub state: Vec<f64>,
}

impl<'a> Dynamics<'a> {
    pub fn new(net: &'a Network, settings: SolverSettings) -> Result<Self, PhysicsError> {
        Self::with_spd_options(net, settings, super::linsolve::default_options())
    }

    /// As [`Self::new`] with explicit ordering and factor options of the sparse Cholesky.
    pub fn with_spd_options(
        net: &'a Network,
        settings: SolverSettings,
        opts: super::linsolve::SpdOptions,
    ) -> Result<Self, PhysicsError> {
        let mut eq = DynamicEquilibrium::with_options(net, opts)?;
        eq.set_reuse(settings.factor_reuse);
        // The reused-factor solves stay four orders below the integrator's rtol (1e-10 at the
        // default 1e-6, never looser, never tighter than 1e-13); the implicit method's
        // finite-difference Jacobians difference RHS values ~1e-8 apart: 1e-13 there.
        use super::equilibrium::{CG_TOL, DYN_CG_TOL};
        eq.cg_tol = if settings.method == Method::Bdf {
            CG_TOL
        } else {
            (settings.rtol * 1e-4).clamp(CG_TOL, DYN_CG_TOL)
        };
        let n = net.n_elements();
        let layout = Layout::new(net);
        let layout_energy = layout.clone();
        Ok(Dynamics {
            net,
            compact: Compact::new(net, &layout),
            layout,
            scratch: RefCell::new(Scratch {
                eq,
                params: net.initial_params(),
                states: States::zeros(n),
                k: vec![0.0; n],
                kr: vec![0.0; n],
                y: vec![0.0; n],
                xd: vec![0.0; net.dirichlet_dofs.len()],
                targets: vec![0.0; net.outputs.len()],
                xd_rate: vec![0.0; net.dirichlet_dofs.len()],
                targets_rate: vec![0.0; net.outputs.len()],
                e_out: vec![0.0; net.outputs.len()],
                e_react: vec![0.0; net.dirichlet_dofs.len()],
                error: None,
                rhs_evals: 0,
            }),
            settings,
            stats: SolverStats::default(),
            reference_integrator: false,
            record_steps: true,
            dopri_work: Dopri5Work::default(),
            energy: Some(super::energy::EnergyTable::new(net, &layout_energy)),
            last_quad: [0.0; super::energy::N_QUAD],
        })
    }

    /// Switch the energy accounting on (default) or off (benchmarks of the bare dynamics).
    pub fn set_energy(&mut self, on: bool) {
        self.energy = on.then(|| super::energy::EnergyTable::new(self.net, &self.layout));
    }

    /// Whether the right-hand side takes the fused loop of uniform networks ([`Uniform`]).
    #[doc(hidden)]
    pub fn uses_uniform_path(&self) -> bool {
        self.compact.uniform.is_some()
    }

    /// Test hook: route the right-hand side through the general loops even when the network
    /// qualifies for the fused uniform loop (tests compare the two paths on one network).
    #[doc(hidden)]
    pub fn disable_uniform_path(&mut self) {
        self.compact.uniform = None;
    }

    /// Whether the energy accounting is on.
    pub fn energy_on(&self) -> bool {
        self.energy.is_some()
    }

    /// Number of quadrature components appended to the packed state during integration.
    pub fn n_quad(&self) -> usize {
        if self.energy.is_some() {
            super::energy::N_QUAD
        } else {
            0
        }
    }

    /// The energy accounting tables (`None`: switched off).
    pub fn energy_table(&self) -> Option<&super::energy::EnergyTable> {
        self.energy.as_ref()
    }

    /// Source values and targets at time `t` of `seg` (the boundary the right-hand side uses).
    pub fn boundary_values(&self, seg: &Segment, t: f64) -> (Vec<f64>, Vec<f64>) {
        let mut xd = vec![0.0; self.net.dirichlet_dofs.len()];
        let mut targets = vec![0.0; self.net.outputs.len()];
        self.boundary(seg, t, &mut xd, &mut targets);
        (xd, targets)
    }

    /// Scatter the packed state into the scratch parameters/states (flat index maps; the
    /// entries that are not integrated keep their values).
    fn unpack_fast(&self, v: &[f64], p: &mut Params, s: &mut States) {
        let c = &self.compact;
        for &(i, e) in &c.map_z {
            s.z[e as usize] = v[i as usize];
        }
        for &(i, e) in &c.map_x {
            s.x[e as usize] = v[i as usize];
            s.r[e as usize] = v[i as usize + 1];
        }
        for &(i, e) in &c.map_w {
            p.w[e as usize] = v[i as usize];
        }
        for &(i, e) in &c.map_l {
            p.l[e as usize] = v[i as usize];
        }
    }

    /// Unpack `v`, set the boundary at `t` and solve the equilibrium into `sc.y`.
    fn solve_at(
        &self,
        sc: &mut Scratch,
        seg: &Segment,
        t: f64,
        v: &[f64],
    ) -> Result<f64, PhysicsError> {
        let beta = seg.beta(t);
        self.boundary(seg, t, &mut sc.xd, &mut sc.targets);
        if let Some(u) = &self.compact.uniform {
            let ne = u.kind.len();
            let (z, w) = (&v[u.z_off..u.z_off + ne], &v[u.w_off..u.w_off + ne]);
            let (l, k, kr) = (&sc.params.l, &mut sc.k, &mut sc.kr);
            if u.kinds.len() == 1 {
                let c = &u.kinds[0].cond;
                conductances(z, w, l, k, kr, |_| c);
            } else {
                conductances(z, w, l, k, kr, |e| &u.kinds[u.kind[e] as usize].cond);
            }
        } else {
            self.unpack_fast(v, &mut sc.params, &mut sc.states);
            let (w, l, z) = (&sc.params.w, &sc.params.l, &sc.states.z);
            for (e, c) in self.compact.cond.iter().enumerate() {
                let we = w[e].max(c.w_min).max(0.0);
                let a = c.da * we;
                let cc = c.dc * we + c.c0;
                sc.k[e] = a + cc;
                sc.kr[e] = a * l[e] + cc * z[e];
            }
        }
        sc.eq
            .solve(
                self.net,
                &sc.k,
                &sc.kr,
                beta,
                &sc.xd,
                &sc.targets,
                &mut sc.y,
            )
            .map_err(|e| self.explain_failed_solve(e, sc, v, t))?;
        Ok(beta)
    }

    /// A failed RHS solve is a blow-up of the state, not a singular network: the dynamic
    /// matrix has every element's static conductance plus its arm's, so it is positive definite
    /// whenever the static network is (checked before any dynamics). Name the element.
    fn explain_failed_solve(
        &self,
        e: PhysicsError,
        sc: &Scratch,
        v: &[f64],
        t: f64,
    ) -> PhysicsError {
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            let (el, what) = self.layout.owner(i).unwrap_or((0, "state"));
            return PhysicsError::NonFinite {
                element: self.net.elements[el].name.clone(),
                what: what.to_string(),
                time: t,
            };
        }
        if !matches!(e, PhysicsError::Singular { .. }) {
            return e.at_time(t);
        }
        // The unstable mode grows fastest in its own element: name the owner of the largest
        // state component.
        let worst = (v.iter().enumerate()).max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()));
        let kmax = sc.k.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
        match worst.and_then(|(i, &x)| self.layout.owner(i).map(|o| (o, x))) {
            Some(((el, what), x)) => PhysicsError::Integration {
                reason: format!(
                    "the state blew up ({what} = {x:.3e}, conductances/stiffnesses up to \
                     {kmax:.3e}) and the equilibrium matrix lost positive definiteness: the \
                     explicit step is unstable; `physlearn check` reports the stiffness ratio \
                     (use solver.method \"bdf\" or \"auto\" for stiff networks)"
                ),
                time: t,
                worst: self.net.elements[el].name.clone(),
            },
            None => e.at_time(t),
        }
    }

    /// Forget the reusable factor of the RHS solves (cycle boundaries).
    pub fn invalidate_factor(&self) {
        self.scratch.borrow_mut().eq.invalidate_factor();
    }

    /// (PCG iterations, refactorisations) of the RHS solves so far.
    pub fn reuse_stats(&self) -> (u64, u64) {
        self.scratch.borrow().eq.reuse_stats()
    }

    /// Triangular solve pairs (`L Lᵀ`) of the RHS solves so far.
    pub fn triangular_solves(&self) -> u64 {
        self.scratch.borrow().eq.solver_stats().1
    }

    /// The symbolic analysis of the network's equilibrium matrix (share it with
    /// [`super::equilibrium::Equilibrium::with_analysis`] instead of analysing again).
    pub fn analysis(&self) -> std::sync::Arc<super::linsolve::SpdAnalysis> {
        self.scratch.borrow().eq.analysis().clone()
    }

    /// Ordering, storage and size of the factor of the RHS solves.
    pub fn factor_info(&self) -> super::linsolve::FactorInfo {
        self.scratch.borrow().eq.solver().info().clone()
    }

    /// Bytes of the numerical state of the RHS solver (matrix values, factor, workspaces).
    pub fn factor_numeric_bytes(&self) -> usize {
        self.scratch.borrow().eq.solver().numeric_bytes()
    }

    /// Wall time spent in the network solves of the right-hand side so far.
    pub fn linear_solve_seconds(&self) -> f64 {
        self.scratch.borrow().eq.solve_seconds
    }

    /// Outputs at the current packed state `v`, nudge `beta`, with example `ex`'s inputs at time t.
    pub fn outputs_at(
        &self,
        t: f64,
        v: &[f64],
        beta: f64,
        ex: usize,
    ) -> Result<Vec<f64>, PhysicsError> {
        let seg = Segment {
            t0: t,
            t1: t,
            kind: crate::protocol::SegmentKind::Hold,
            beta: crate::protocol::BetaRamp::Const(beta),
            from: ex,
            to: ex,
        };
        Ok(self.observe(&seg, t, v)?.outputs)
    }

    /// Boundary values at time t in a segment.
    fn boundary(&self, seg: &Segment, t: f64, xd: &mut [f64], targets: &mut [f64]) {
        let s = seg.frac(t);
        let a = &self.net.examples[seg.from];
        let b = &self.net.examples[seg.to];
        for (k, o) in xd.iter_mut().enumerate() {
            *o = self
                .net
                .source_value(k, t, a.xd[k] + (b.xd[k] - a.xd[k]) * s);
        }
        for (k, o) in targets.iter_mut().enumerate() {
            *o = a.targets[k] + (b.targets[k] - a.targets[k]) * s;
        }
    }

    /// Evaluate the right-hand side. On a physics failure, fills `dy` with NaN and records the
    /// error (the integrator is then stopped by `solout`).
    pub fn rhs(&self, seg: &Segment, t: f64, v: &[f64], dv: &mut [f64]) {
        let np = self.layout.len;
        if dv.len() <= np || self.energy.is_none() {
            self.rhs_phys(seg, t, v, dv);
            return;
        }
        let (dphys, dq) = dv.split_at_mut(np);
        self.rhs_phys(seg, t, &v[..np], dphys);
        let mut guard = self.scratch.borrow_mut();
        let sc = &mut *guard;
        if sc.error.is_some() {
            dq.iter_mut().for_each(|d| *d = f64::NAN);
            return;
        }
        if let Some(tab) = &self.energy {
            self.boundary_rate(seg, t, &mut sc.xd_rate, &mut sc.targets_rate);
            let uniform_w;
            let w: &[f64] = match &self.compact.uniform {
                Some(u) => {
                    uniform_w = &v[u.w_off..u.w_off + u.kind.len()];
                    uniform_w
                }
                None => &sc.params.w,
            };
            let inst = super::energy::Instant {
                beta: seg.beta(t),
                beta_rate: seg.beta_rate(t),
                xd: &sc.xd,
                xd_rate: &sc.xd_rate,
                targets: &sc.targets,
                targets_rate: &sc.targets_rate,
                xf: sc.eq.free_solution(),
                y: &sc.y,
                v,
                dv: dphys,
                w,
                l: &sc.params.l,
            };
            tab.powers(&inst, &mut sc.e_out, &mut sc.e_react, dq);
        }
    }

    /// Rates of the boundary values at time t in a segment (`d/dt` of [`Self::boundary`]).
    fn boundary_rate(&self, seg: &Segment, t: f64, xd: &mut [f64], targets: &mut [f64]) {
        let s = seg.frac(t);
        let ds = seg.frac_rate(t);
        let a = &self.net.examples[seg.from];
        let b = &self.net.examples[seg.to];
        for (k, o) in xd.iter_mut().enumerate() {
            let d = b.xd[k] - a.xd[k];
            *o = self.net.source_rate(k, t, a.xd[k] + d * s, d * ds);
        }
        for (k, o) in targets.iter_mut().enumerate() {
            *o = (b.targets[k] - a.targets[k]) * ds;
        }
    }

    /// The physical part of the right-hand side.
    fn rhs_phys(&self, seg: &Segment, t: f64, v: &[f64], dv: &mut [f64]) {
        let mut guard = self.scratch.borrow_mut();
        let sc = &mut *guard;
        sc.rhs_evals += 1;
        let net = self.net;
        if let Err(e) = self.solve_at(sc, seg, t, v) {
            if sc.error.is_none() {
                sc.error = Some(e);
            }
            dv.iter_mut().for_each(|d| *d = f64::NAN);
            return;
        }
        if let Some(u) = &self.compact.uniform {
            // Fused arm + learning loop; `chk` turns NaN if any derivative is not finite.
            let ne = u.kind.len();
            let (z, w, y) = (&v[u.z_off..u.z_off + ne], &v[u.w_off..u.w_off + ne], &sc.y);
            let (dz, dw) = {
                let (head, tail) = dv.split_at_mut(u.w_off.max(u.z_off));
                if u.z_off < u.w_off {
                    (&mut head[u.z_off..u.z_off + ne], &mut tail[..ne])
                } else {
                    (&mut tail[..ne], &mut head[u.w_off..u.w_off + ne])
                }
            };
            let chk = if u.kinds.len() == 1 {
                // One parameter record (e.g. lattice-n): hoisted out of the loop.
                let kp = &u.kinds[0];
                uniform_derivatives(z, w, y, dz, dw, |_| kp)
            } else {
                uniform_derivatives(z, w, y, dz, dw, |e| &u.kinds[u.kind[e] as usize])
            };
            if chk.is_nan() {
                self.record_non_finite(sc, t, dv);
            }
            return;
        }
        let (p, s, y) = (&sc.params, &sc.states, &sc.y);
        // Arms: cap ż = c (y − z) − g_L z (flat arrays, cache friendly).
        for a in &self.compact.arms {
            let e = a.e;
            let c = if a.g.is_nan() {
                p.w[e].max(a.w_min).max(0.0)
            } else {
                a.g
            };
            dv[a.i] = (c * (y[e] - s.z[e]) - a.g_leak * s.z[e]) * a.inv_cap;
        }
        for &e in &self.compact.chems {
            let el = &net.elements[e];
            if let (Some(i), Some(ch)) = (self.layout.chem[e], &el.chem) {
                let sig = el.chem_input(ch.signal, y[e], p.w[e], p.l[e]) / ch.s_ref;
                dv[i] = (sig - s.x[e] - s.r[e]) / ch.tau_x;
                dv[i + 1] = (s.x[e] - ch.eps * s.r[e]) / ch.tau_r;
            }
        }
        // Learning: dp/dt = π ρ N_θ(σ) F(p).
        for c in &self.compact.channels {
            let e = c.e;
            let sigma = c.sigma(p, s, y);
            let rate = c.gain * c.nonlinearity.apply(sigma, c.theta);
            dv[c.i] = if c.bounded {
                c.bounds.window(p.w[e], rate)
            } else {
                rate
            };
        }
        self.record_non_finite(sc, t, dv);
    }

    /// Record the first non-finite derivative (if any) as the evaluation's error.
    fn record_non_finite(&self, sc: &mut Scratch, t: f64, dv: &[f64]) {
        if let Some(i) = dv.iter().position(|d| !d.is_finite()) {
            if sc.error.is_none() {
                let (e, what) = self.layout.owner(i).unwrap_or((0, "state"));
                sc.error = Some(PhysicsError::NonFinite {
                    element: self.net.elements[e].name.clone(),
                    what: what.to_string(),
                    time: t,
                });
            }
        }
    }

    /// Observe outputs and drops at a packed state (one extra solve).
    pub fn observe(&self, seg: &Segment, t: f64, v: &[f64]) -> Result<Sample, PhysicsError> {
        let mut guard = self.scratch.borrow_mut();
        let sc = &mut *guard;
        let beta = self.solve_at(sc, seg, t, v)?;
        Ok(Sample {
            t,
            beta,
            outputs: sc.eq.outputs(&sc.xd),
            y: sc.y.clone(),
            state: v[..self.layout.len.min(v.len())].to_vec(),
        })
    }

    /// The worst element at a state: the one with the largest |derivative| relative to its
    /// value scale (for failure messages).
    fn worst_element(&self, seg: &Segment, t: f64, v: &[f64]) -> String {
        let mut dv = vec![0.0; v.len()];
        self.rhs(seg, t, v, &mut dv);
        let mut best: Option<(usize, f64)> = None;
        // Physical components only (trailing energy quadratures have no owner).
        for i in 0..self.layout.len.min(v.len()) {
            let score = if dv[i].is_finite() && v[i].is_finite() {
                dv[i].abs() / (v[i].abs() + 1e-3)
            } else {
                f64::INFINITY
            };
            if best.is_none_or(|(_, b)| score > b) {
                best = Some((i, score));
            }
        }
        let worst = match best.and_then(|(i, _)| self.layout.owner(i)) {
            Some((e, what)) => format!("element '{}' ({what})", self.net.elements[e].name),
            None => "unknown element".to_string(),
        };
        // A hard threshold makes the learning rate jump where |σ| = θ; a channel that slides
        // along |σ| = θ (a Filippov sliding mode) pins an explicit method at tiny steps. Name the
        // channels within 1 % of their threshold, closest first.
        // The drops y of this state are in the scratch (the RHS above solved for them); the
        // parameters and filter states are unpacked from `v` (the fused uniform path works on
        // the packed vector and leaves the scratch copies stale).
        let (mut p, mut st) = (
            self.net.initial_params(),
            States::zeros(self.net.n_elements()),
        );
        self.layout
            .unpack(&v[..self.layout.len.min(v.len())], &mut p, &mut st);
        let sc = self.scratch.borrow();
        let mut sliding: Vec<(f64, &str)> = self
            .compact
            .channels
            .iter()
            .filter(|c| c.theta > 0.0 && matches!(c.nonlinearity, super::model::Nonlinearity::Hard))
            .map(|c| {
                let r = c.sigma(&p, &st, &sc.y).abs() / c.theta;
                (r, self.net.elements[c.e].name.as_str())
            })
            .filter(|(r, _)| (r - 1.0).abs() < 0.01)
            .collect();
        if sliding.is_empty() {
            return worst;
        }
        sliding.sort_by(|a, b| (a.0 - 1.0).abs().total_cmp(&(b.0 - 1.0).abs()));
        let named: Vec<String> = sliding
            .iter()
            .take(5)
            .map(|(r, n)| format!("'{n}' (|σ|/θ = {r:.4})"))
            .collect();
        format!(
            "{worst}; on the hard threshold |σ| = θ: {}{} (a sliding mode that pins an explicit method at tiny steps: use solver.method \"bdf\" or nonlinearity \"hill\")",
            named.join(", "),
            if sliding.len() > 5 {
                format!(" and {} more", sliding.len() - 5)
            } else {
                String::new()
            }
        )
    }

    /// Integrate one segment from packed state `v0`; returns the accepted (t, state) points.
    pub fn integrate_segment(
        &mut self,
        seg: &Segment,
        v0: DVector<f64>,
    ) -> Result<(Vec<f64>, Vec<DVector<f64>>), PhysicsError> {
        {
            let mut sc = self.scratch.borrow_mut();
            sc.error = None;
            sc.rhs_evals = 0;
        }
        let len = seg.t1 - seg.t0;
        self.last_quad = [0.0; super::energy::N_QUAD];
        if len <= 0.0 {
            return Ok((vec![seg.t0], vec![v0]));
        }
        let np = self.layout.len;
        let nq = self.n_quad();
        let v0 = if nq > 0 {
            let mut v = DVector::zeros(np + nq);
            v.rows_mut(0, np).copy_from(&v0.rows(0, np));
            v
        } else {
            v0
        };
        let fac0 = self.scratch.borrow().eq.solver_stats().0;
        let sys = SegSys { dyn_: self, seg };
        let s = &self.settings;
        let h_max = s.h_max.min(len);
        let h0 = s.h_init.min(len);
        let n_stiff = if s.stiffness_check { 1000 } else { u32::MAX };
        let mut implicit = super::stiff::BdfStats::default();
        let (result, ts, ys) = match s.method {
            Method::Dopri5 | Method::Auto if !self.reference_integrator => {
                let opt = Dopri5Options {
                    rtol: s.rtol,
                    atol: s.atol,
                    h_init: h0,
                    h_max,
                    safety: 0.9,
                    beta: 0.04,
                    fac_min: 0.2,
                    fac_max: 10.0,
                    max_steps: s.max_steps,
                    n_stiff,
                    n_quad: nq,
                };
                let mut work = std::mem::take(&mut self.dopri_work);
                let mut y = v0;
                let record = self.record_steps;
                let mut ts = vec![seg.t0];
                let mut ys = if record { vec![y.clone()] } else { Vec::new() };
                let this = &*self;
                let (res, x) = super::dopri::integrate(
                    |t, v: &[f64], dv: &mut [f64]| this.rhs(seg, t, v, dv),
                    seg.t0,
                    seg.t1,
                    y.as_mut_slice(),
                    &opt,
                    &mut work,
                    |t, v| {
                        if record {
                            ts.push(t);
                            ys.push(DVector::from_column_slice(v));
                        }
                        this.scratch.borrow().error.is_some()
                    },
                );
                self.dopri_work = work;
                if !record {
                    ts = vec![x];
                    ys = vec![y];
                }
                let c = |x: u64| u32::try_from(x).unwrap_or(u32::MAX);
                let res = res.map(|st| ode_solvers::dop_shared::Stats {
                    num_eval: c(st.rhs_evals),
                    accepted_steps: c(st.accepted_steps),
                    rejected_steps: c(st.rejected_steps),
                });
                (res, ts, ys)
            }
            Method::Dopri5 | Method::Auto => {
                let mut st = Dopri5::from_param(
                    sys,
                    seg.t0,
                    seg.t1,
                    len,
                    v0,
                    s.rtol,
                    s.atol,
                    0.9,
                    0.04,
                    0.2,
                    10.0,
                    h_max,
                    h0,
                    s.max_steps,
                    n_stiff,
                    OutputType::Sparse,
                );
                let r = st.integrate();
                (r, st.x_out().clone(), st.y_out().clone())
            }
            Method::Dop853 => {
                let mut st = Dop853::from_param(
                    sys,
                    seg.t0,
                    seg.t1,
                    len,
                    v0,
                    s.rtol,
                    s.atol,
                    0.9,
                    0.0,
                    0.333,
                    6.0,
                    h_max,
                    h0,
                    s.max_steps,
                    n_stiff,
                    OutputType::Sparse,
                );
                let r = st.integrate();
                (r, st.x_out().clone(), st.y_out().clone())
            }
            Method::Rk4 => {
                let n = (len / s.rk4_h).ceil().max(1.0);
                let mut st = Rk4::new(sys, seg.t0, v0, seg.t1, len / n);
                let r = st.integrate();
                (r, st.x_out().clone(), st.y_out().clone())
            }
            Method::Bdf => {
                let ode = super::stiff::SegmentOde {
                    dynamics: self,
                    seg,
                };
                let opt = super::stiff::BdfOptions {
                    rtol: s.rtol,
                    atol: s.atol,
                    h_init: h0,
                    h_max: s.implicit_h_max,
                    max_steps: s.max_steps,
                };
                let out = super::stiff::integrate(&ode, seg.t0, seg.t1, v0, &opt);
                implicit = out.stats;
                (out.ode_solvers_result(), out.ts, out.ys)
            }
        };
        let (rhs_evals, fac1, err) = {
            let sc = self.scratch.borrow();
            (sc.rhs_evals, sc.eq.solver_stats().0, sc.error.clone())
        };
        self.stats.rhs_evals += rhs_evals;
        self.stats.factorizations += fac1 - fac0;
        self.stats.segments += 1;
        self.stats.jacobian_evals += implicit.jacobian_evals;
        self.stats.jacobian_rhs_evals += implicit.jacobian_rhs_evals;
        self.stats.lu_decompositions += implicit.lu_decompositions;
        if let Some(e) = err {
            return Err(e);
        }
        match result {
            Ok(stats) => {
                self.stats.accepted_steps += stats.accepted_steps as u64;
                self.stats.rejected_steps += stats.rejected_steps as u64;
                if let Some(last) = ys.last() {
                    if let Some(i) = last.iter().position(|v| !v.is_finite()) {
                        let (e, what) = self.layout.owner(i).unwrap_or((0, "state"));
                        return Err(PhysicsError::NonFinite {
                            element: self.net.elements[e].name.clone(),
                            what: what.to_string(),
                            time: ts.last().copied().unwrap_or(seg.t1),
                        });
                    }
                }
                let reached = ts.last().copied().unwrap_or(seg.t0);
                if (reached - seg.t1).abs() > 1e-9 * seg.t1.abs().max(1.0) {
                    let worst = ys
                        .last()
                        .map(|v| self.worst_element(seg, reached, v.as_slice()))
                        .unwrap_or_default();
                    return Err(PhysicsError::Integration {
                        reason: "integration stopped before the end of the segment".into(),
                        time: reached,
                        worst,
                    });
                }
                let mut ys = ys;
                if nq > 0 {
                    if let Some(last) = ys.last() {
                        for (q, v) in self.last_quad.iter_mut().zip(last.iter().skip(np)) {
                            *q = *v;
                        }
                    }
                    for y in ys.iter_mut() {
                        *y = y.rows(0, np).into_owned();
                    }
                }
                Ok((ts, ys))
            }
            Err(ie) => {
                let (reason, time) = match ie {
                    IntegrationError::MaxNumStepReached { x, n_step } => {
                        (format!("step limit reached ({n_step} steps)"), x)
                    }
                    IntegrationError::StepSizeUnderflow { x } => ("step size underflow".into(), x),
                    IntegrationError::StiffnessDetected { x } => (
                        "stiffness detected (use an implicit method or relax the protocol)".into(),
                        x,
                    ),
                };
                let worst = ys
                    .last()
                    .map(|v| self.worst_element(seg, time, v.as_slice()))
                    .unwrap_or_default();
                Err(PhysicsError::Integration {
                    reason,
                    time,
                    worst,
                })
            }
        }
    }
}

struct SegSys<'s, 'a> {
    dyn_: &'s Dynamics<'a>,
    seg: &'s Segment,
}

impl System<f64, DVector<f64>> for SegSys<'_, '_> {
    fn system(&self, t: f64, y: &DVector<f64>, dy: &mut DVector<f64>) {
        self.dyn_.rhs(self.seg, t, y.as_slice(), dy.as_mut_slice());
    }

    fn solout(&mut self, _t: f64, _y: &DVector<f64>, _dy: &DVector<f64>) -> bool {
        self.dyn_.scratch.borrow().error.is_some()
    }
}
