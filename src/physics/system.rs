//! The flow / elastic2d network family as a [`LearningSystem`]: θ = the learning weights w (by
//! element) then the learning rest lengths l; the ideal rule
//! `Δw_CL = −(α/2β)[(y^C)² − (y^F)²]`, `α = 2βρτ_e` (rest length `Δl = (α/β)(t^C − t^F)`), the
//! adjoint gradient, and the loop gain `G = ρτ max 2y²R_ee/s_ref` (docs/physics.md §1.3–1.5).

use super::diagnostics::{loop_gain_of, Diagnostic, LOOP_GAIN_MAX_ELEMENTS};
use super::dynamics::SolverStats;
use super::equilibrium::Equilibrium;
use super::model::{Domain, LearnTarget, Network, Params, States};
use super::run::{Runner, Sampling};
use super::statics::{gradient, ideal_update, mean_cost, solve_static, transfer_diagonal};
use super::PhysicsError;
use crate::learning::rule::Window;
use crate::learning::system::{CycleOut, Engine, Family, LearningSystem, SolveStats, SystemMeta};
use crate::learning::{References, SimError};
use crate::protocol::{BetaSchedule, Direction, Protocol, Sawtooth};
use crate::sim::Prepared;
use serde::{Deserialize, Serialize};

/// One learnable of the network: an element's weight or its rest length.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Slot {
    Weight(usize),
    RestLength(usize),
}

/// A resolved network model (flow or elastic2d).
#[derive(Clone, Debug)]
pub struct NetworkSystem {
    prep: Prepared,
    meta: SystemMeta,
    slots: Vec<Slot>,
}

/// No family columns beyond the common ones.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NoExtras {}

impl NetworkSystem {
    pub fn new(prep: Prepared) -> Self {
        let net = &prep.network;
        let mut slots = Vec::new();
        let mut ids = Vec::new();
        for (e, el) in net.elements.iter().enumerate() {
            if el.learns_weight() {
                slots.push(Slot::Weight(e));
                ids.push(el.name.clone());
            }
        }
        for (e, el) in net.elements.iter().enumerate() {
            if el.learns_rest_length() {
                slots.push(Slot::RestLength(e));
                ids.push(format!("{}.l", el.name));
            }
        }
        let p0 = net.initial_params();
        let kernel_time = net.kernel_time(&p0);
        let (beta_max, direction, beta_schedule, cycles) = match &prep.protocol {
            Protocol::Sawtooth(s) => (s.beta_max, s.direction, s.beta_schedule, s.cycles),
            Protocol::Hold { beta, .. } => (*beta, Direction::FastFall, BetaSchedule::Constant, 0),
        };
        let meta = SystemMeta {
            family: match net.domain {
                Domain::Flow => Family::Flow,
                Domain::Elastic2d => Family::Elastic2d,
            },
            learnables: ids,
            n_examples: net.examples.len(),
            beta_max,
            direction,
            beta_schedule,
            cycles,
            kernel_time,
            non_physical: prep.non_physical.clone(),
            cycling: matches!(prep.protocol, Protocol::Sawtooth(_)),
        };
        NetworkSystem { prep, meta, slots }
    }

    /// The resolved network, protocol, solver settings and load report.
    pub fn prepared(&self) -> &Prepared {
        &self.prep
    }

    pub fn network(&self) -> &Network {
        &self.prep.network
    }

    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }

    /// θ of a parameter set.
    pub fn theta_of(&self, p: &Params) -> Vec<f64> {
        self.slots
            .iter()
            .map(|s| match *s {
                Slot::Weight(e) => p.w[e],
                Slot::RestLength(e) => p.l[e],
            })
            .collect()
    }

    /// The parameters at θ (non-learning elements keep their netlist values).
    pub fn params_of(&self, theta: &[f64]) -> Params {
        let mut p = self.prep.network.initial_params();
        for (s, t) in self.slots.iter().zip(theta) {
            match *s {
                Slot::Weight(e) => p.w[e] = *t,
                Slot::RestLength(e) => p.l[e] = *t,
            }
        }
        p
    }

    /// Per-element (w, l) vectors → θ order.
    pub fn stack(&self, w: &[f64], l: &[f64]) -> Vec<f64> {
        self.slots
            .iter()
            .map(|s| match *s {
                Slot::Weight(e) => w[e],
                Slot::RestLength(e) => l[e],
            })
            .collect()
    }
}

impl LearningSystem for NetworkSystem {
    type Engine<'a> = NetworkEngine<'a>;

    fn meta(&self) -> &SystemMeta {
        &self.meta
    }
    fn diagnostics(&self) -> &[Diagnostic] {
        &self.prep.report.diagnostics
    }
    fn theta0(&self) -> Vec<f64> {
        self.theta_of(&self.prep.network.initial_params())
    }
    fn project(&self, theta: &mut [f64]) {
        let net = &self.prep.network;
        for (s, t) in self.slots.iter().zip(theta.iter_mut()) {
            if let Slot::Weight(e) = *s {
                let b = &net.elements[e].bounds;
                *t = t.clamp(b.w_min, b.w_max);
            }
        }
    }
    fn without_learning(&self) -> Option<Self> {
        let mut prep = self.prep.clone();
        for el in prep.network.elements.iter_mut() {
            for ch in el.channels.iter_mut() {
                ch.rho = 0.0;
            }
        }
        Some(NetworkSystem::new(prep))
    }

    fn engine(&self) -> Result<NetworkEngine<'_>, SimError> {
        let net = &self.prep.network;
        let mut runner = Runner::new(net, self.prep.solver, net.initial_params())?;
        let from_rest = match &self.prep.protocol {
            Protocol::Sawtooth(s) => s.from_rest,
            Protocol::Hold { from_rest, .. } => *from_rest,
        };
        if from_rest {
            runner.states = States::zeros(net.n_elements());
        }
        Ok(NetworkEngine {
            sys: self,
            runner,
            eq: Equilibrium::new(net)?,
            sampling: Sampling { per_segment: 0 },
        })
    }
}

/// The dynamical state of a network run (the checkpoint payload).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetworkState {
    /// Parameters: learning ones are dynamical variables of physical TCL.
    pub params: Params,
    pub states: States,
    pub t: f64,
    pub cycle: usize,
}

/// A running network simulation: the protocol runner and a static solver for the references.
pub struct NetworkEngine<'a> {
    sys: &'a NetworkSystem,
    /// The protocol runner (time series in `runner.samples` when `sampling` asks for them).
    pub runner: Runner<'a>,
    eq: Equilibrium,
    /// Time-series sampling of the integrated segments (`run`).
    pub sampling: Sampling,
}

fn stats(d: SolverStats) -> SolveStats {
    SolveStats {
        rhs_evals: d.rhs_evals,
        accepted_steps: d.accepted_steps,
        rejected_steps: d.rejected_steps,
    }
}

impl NetworkEngine<'_> {
    fn sawtooth(&self) -> Result<&Sawtooth, SimError> {
        self.sys
            .prep
            .sawtooth()
            .ok_or_else(|| SimError::BadInput("cycles need a sawtooth protocol".into()))
    }

    /// Integrate a `hold` protocol (β constant for its duration); returns its solver counters
    /// and energy.
    pub fn run_hold_protocol(
        &mut self,
    ) -> Result<(SolveStats, crate::learning::energy::Energy), SimError> {
        match self.sys.prep.protocol {
            Protocol::Hold { beta, duration, .. } => {
                let s0 = self.runner.dynamics.stats;
                let e = self.runner.run_hold(beta, duration, self.sampling)?;
                Ok((stats(self.runner.dynamics.stats - s0), e))
            }
            Protocol::Sawtooth(_) => Err(SimError::BadInput("not a hold protocol".into())),
        }
    }

    /// Solver statistics since the engine started.
    pub fn totals(&self) -> SolverStats {
        self.runner.dynamics.stats
    }
}

impl Engine for NetworkEngine<'_> {
    type State = NetworkState;
    type Extras = NoExtras;
    type Aux = ();

    fn snapshot(&self) -> NetworkState {
        NetworkState {
            params: self.runner.params.clone(),
            states: self.runner.states.clone(),
            t: self.runner.t,
            cycle: self.runner.cycle,
        }
    }

    fn begin_cycle(&mut self) {
        self.eq.invalidate_factor();
    }

    fn restore(&mut self, s: NetworkState) -> Result<(), SimError> {
        let n = self.sys.prep.network.n_elements();
        let lens = [
            s.params.w.len(),
            s.params.l.len(),
            s.states.z.len(),
            s.states.x.len(),
            s.states.r.len(),
        ];
        if lens.iter().any(|&l| l != n) {
            return Err(SimError::Checkpoint(format!(
                "state vectors have lengths {lens:?}, the network has {n} elements"
            )));
        }
        self.runner.params = s.params;
        self.runner.states = s.states;
        self.runner.t = s.t;
        self.runner.cycle = s.cycle;
        Ok(())
    }

    fn theta(&self) -> Vec<f64> {
        self.sys.theta_of(&self.runner.params)
    }

    fn run_cycle(&mut self, _cycle: usize, beta: f64) -> Result<CycleOut<NoExtras>, SimError> {
        let saw = self.sawtooth()?.clone();
        let rec = self.runner.run_cycle(&saw, beta, self.sampling)?;
        Ok(CycleOut {
            stats: stats(rec.stats),
            energy: rec.energy,
            extras: NoExtras {},
        })
    }

    fn references(
        &mut self,
        theta: &[f64],
        ex: usize,
        beta: f64,
    ) -> Result<(References, ()), SimError> {
        let sys = self.sys;
        let net = &sys.prep.network;
        let saw = self.sawtooth()?.clone();
        let p = sys.params_of(theta);
        let example = &net.examples[ex];
        let iu = ideal_update(net, &mut self.eq, &p, beta, example)?;
        let (g_w, g_l, cost) = gradient(net, &mut self.eq, &p, example)?;
        let (mut contrast, mut window) = (Vec::new(), Vec::new());
        for (e, el) in net.elements.iter().enumerate() {
            for ch in &el.channels {
                let (sf, tau) = el.static_signal(ch, iu.free.y[e], p.w[e], p.l[e]);
                let (sc, _) = el.static_signal(ch, iu.clamped.y[e], p.w[e], p.l[e]);
                contrast.push((sc - sf).abs());
                window.push(Window::new(ch.theta, saw.tau_fast, saw.tau_slow, tau));
            }
        }
        // Gradient descent at the mapped rate: Δw = −2βρτ/s_ref ∂C/∂w, Δl = −βρτ ∂C/∂l.
        let gd_rate = sys
            .slots
            .iter()
            .map(|s| {
                let (e, target) = match *s {
                    Slot::Weight(e) => (e, LearnTarget::Weight),
                    Slot::RestLength(e) => (e, LearnTarget::RestLength),
                };
                let el = &net.elements[e];
                el.channels
                    .iter()
                    .find(|c| c.target == target)
                    .map_or(0.0, |ch| {
                        let (_, tau) = el.static_signal(ch, 0.0, p.w[e], p.l[e]);
                        match target {
                            LearnTarget::Weight => 2.0 * beta * ch.rho * tau / el.signal_scale(ch),
                            LearnTarget::RestLength => beta * ch.rho * tau,
                        }
                    })
            })
            .collect();
        Ok((
            References {
                cost,
                ideal: sys.stack(&iu.dw, &iu.dl),
                grad: sys.stack(&g_w, &g_l),
                contrast,
                window,
                gd_rate: Some(gd_rate),
            },
            (),
        ))
    }

    fn mean_cost(&mut self, theta: &[f64]) -> Result<f64, SimError> {
        let p = self.sys.params_of(theta);
        Ok(mean_cost(&self.sys.prep.network, &mut self.eq, &p)?)
    }

    fn loop_gain(&mut self, theta: &[f64], ex: usize) -> Result<Option<f64>, SimError> {
        let net = &self.sys.prep.network;
        if net.n_elements() > LOOP_GAIN_MAX_ELEMENTS {
            return Ok(None);
        }
        let p = self.sys.params_of(theta);
        let example = &net.examples[ex];
        let r = transfer_diagonal(net, &mut self.eq, &p, 0.0, example)?;
        let free = solve_static(net, &mut self.eq, &p, 0.0, example)?;
        Ok(Some(loop_gain_of(net, &p, &free.y, &r)))
    }

    fn accuracy(&mut self, theta: &[f64], test: bool) -> Result<Option<f64>, SimError> {
        let sys = self.sys;
        let net = &sys.prep.network;
        let examples = if test {
            &net.test_examples
        } else {
            &net.examples
        };
        if net.outputs.len() < 2 || examples.is_empty() {
            return Ok(None);
        }
        let p = self.sys.params_of(theta);
        let argmax = |v: &[f64]| {
            v.iter()
                .enumerate()
                .fold(
                    (0, f64::NEG_INFINITY),
                    |b, (i, &x)| if x > b.1 { (i, x) } else { b },
                )
                .0
        };
        let mut ok = 0usize;
        for ex in examples {
            let s = solve_static(net, &mut self.eq, &p, 0.0, ex)?;
            if argmax(&s.o) == argmax(&ex.targets) {
                ok += 1;
            }
        }
        Ok(Some(ok as f64 / examples.len() as f64))
    }
}

/// Prediction of the physical weight update with the self-interaction (docs/physics.md §1.5):
/// `Δw = (I + π ρ τ 2 Y R Y)⁻¹ Δw_CL` for even (`y²`) weight channels, `R = Q_f A⁻¹ Q_fᵀ` the
/// edge–edge transfer resistance of the free DC state. Dense (small networks: tests,
/// diagnostics); per element, non-learning elements 0.
pub fn loop_prediction(
    net: &Network,
    eq: &mut Equilibrium,
    p: &Params,
    beta: f64,
    ex: usize,
) -> Result<Vec<f64>, PhysicsError> {
    let n = net.n_elements();
    let example = &net.examples[ex];
    let iu = ideal_update(net, eq, p, beta, example)?;
    let free = solve_static(net, eq, p, 0.0, example)?;
    let mut r = nalgebra::DMatrix::<f64>::zeros(n, n);
    for e in 0..n {
        let mut rhs = vec![0.0; eq.n_free()];
        for &(i, c) in eq.element_free_terms(e) {
            rhs[i] += c;
        }
        let sol = eq.solve_with_last_factor(net, &mut rhs);
        for f in 0..n {
            r[(f, e)] = net.elements[f].stencil.apply(&sol);
        }
    }
    let mut m = nalgebra::DMatrix::<f64>::identity(n, n);
    for (i, el) in net.elements.iter().enumerate() {
        let Some(ch) = el.channels.iter().find(|c| c.target == LearnTarget::Weight) else {
            continue;
        };
        let (_, tau) = el.static_signal(ch, 0.0, p.w[i], p.l[i]);
        let g = ch.polarity * ch.rho * tau;
        for j in 0..n {
            if net.elements[j].learns_weight() {
                m[(i, j)] += g * 2.0 * free.y[i] * r[(i, j)] * free.y[j];
            }
        }
    }
    let sol = m
        .lu()
        .solve(&nalgebra::DVector::from_vec(iu.dw.clone()))
        .ok_or_else(|| PhysicsError::Invalid("loop matrix I + πρτ·2YRY is singular".into()))?;
    Ok(sol.iter().copied().collect())
}
