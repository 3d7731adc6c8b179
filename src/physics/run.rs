//! Running a protocol: cycle after cycle of the sawtooth (and input switches), or a hold,
//! keeping parameters and states between cycles, with per-cycle records.

use super::dynamics::{Dynamics, Sample, SolverSettings, SolverStats};
use super::equilibrium::{ArmMode, Equilibrium};
use super::model::{Network, Params, States};
use super::statics::{initial_states, mean_cost, solve_static};
use super::PhysicsError;
use crate::learning::energy::Energy;
use crate::protocol::{split_at, BetaRamp, Sawtooth, Segment, SegmentKind, SwitchMode};
use serde::Serialize;

/// Per-cycle record.
#[derive(Clone, Debug, Serialize)]
pub struct CycleRecord {
    pub cycle: usize,
    pub example: usize,
    pub beta_max: f64,
    pub t_start: f64,
    pub t_end: f64,
    pub w_start: Vec<f64>,
    pub w_end: Vec<f64>,
    pub l_start: Vec<f64>,
    pub l_end: Vec<f64>,
    /// Mean free-state cost over the examples at the start of the cycle.
    pub cost_start: f64,
    pub stats: SolverStats,
    pub wall_seconds: f64,
    /// Energy of the cycle (docs/physics.md §12).
    pub energy: Energy,
}

/// Energy of one integrated protocol segment (`run`'s time series).
#[derive(Clone, Debug, Serialize)]
pub struct SegmentEnergy {
    pub cycle: usize,
    pub kind: SegmentKind,
    pub t0: f64,
    pub t1: f64,
    #[serde(flatten)]
    pub energy: Energy,
}

impl CycleRecord {
    pub fn dw(&self) -> Vec<f64> {
        super::model::diff(&self.w_end, &self.w_start)
    }
    pub fn dl(&self) -> Vec<f64> {
        super::model::diff(&self.l_end, &self.l_start)
    }
}

/// Time-series sampling options.
#[derive(Copy, Clone, Debug)]
pub struct Sampling {
    /// Keep at most this many points per segment (0: none).
    pub per_segment: usize,
}

/// State of a running simulation.
pub struct Runner<'a> {
    pub dynamics: Dynamics<'a>,
    pub params: Params,
    pub states: States,
    pub t: f64,
    pub cycle: usize,
    /// Extra integration breakpoints (source waveform corners).
    breaks: Vec<f64>,
    eq: Equilibrium,
    /// Whether the initial states came from a DC solve (false: uncharged arms because the
    /// network has no DC path).
    pub initialised_at_dc: bool,
    pub samples: Vec<Sample>,
    /// Energy per integrated segment, recorded when sampling (`run`).
    pub segment_energy: Vec<SegmentEnergy>,
}

impl<'a> Runner<'a> {
    /// Start at `params` with the filter states at the free DC equilibrium of example 0 (or
    /// uncharged when the DC problem is singular, e.g. paper-literal series networks).
    pub fn new(
        net: &'a Network,
        settings: SolverSettings,
        params: Params,
    ) -> Result<Self, PhysicsError> {
        Self::build(net, settings, params, true)
    }

    /// Start at `params` with every filter state at rest (uncharged arms, `z = 0`), without the
    /// DC solve of [`Self::new`] (benchmarks that start from rest).
    pub fn at_rest(
        net: &'a Network,
        settings: SolverSettings,
        params: Params,
    ) -> Result<Self, PhysicsError> {
        Self::build(net, settings, params, false)
    }

    fn build(
        net: &'a Network,
        settings: SolverSettings,
        params: Params,
        at_dc: bool,
    ) -> Result<Self, PhysicsError> {
        let dynamics = Dynamics::new(net, settings)?;
        // The static solves share the dynamics' symbolic analysis (one ordering per network).
        let mut eq = Equilibrium::with_analysis(net, &dynamics.analysis())?;
        let (states, at_dc) = match net.examples.first().filter(|_| at_dc) {
            Some(ex) => match solve_static(net, &mut eq, &params, 0.0, ex) {
                Ok(free) => (initial_states(net, &params, &free), true),
                Err(PhysicsError::Singular { .. }) if net.has_no_dc_elements() => {
                    (States::zeros(net.n_elements()), false)
                }
                Err(e) => return Err(e),
            },
            None => (States::zeros(net.n_elements()), false),
        };
        eq.release_factor();
        let mut breaks: Vec<f64> = net
            .waveforms
            .iter()
            .flatten()
            .flat_map(|w| w.breakpoints())
            .collect();
        breaks.sort_by(|a, b| a.total_cmp(b));
        Ok(Runner {
            dynamics,
            params,
            states,
            t: 0.0,
            cycle: 0,
            breaks,
            eq,
            initialised_at_dc: at_dc,
            samples: Vec::new(),
            segment_energy: Vec::new(),
        })
    }

    pub fn net(&self) -> &'a Network {
        self.dynamics.net
    }

    /// Mean free-state cost at the current parameters (NaN when the DC problem is singular).
    pub fn cost(&mut self) -> f64 {
        let net = self.dynamics.net;
        let c = mean_cost(net, &mut self.eq, &self.params).unwrap_or(f64::NAN);
        // The static factor is needed again only at the next cycle boundary (refactorised
        // there anyway): do not hold a second factor through the cycle.
        self.eq.release_factor();
        c
    }

    /// A static equilibrium of this runner's network sharing its symbolic analysis (no second
    /// ordering or symbolic factorisation).
    pub fn new_equilibrium(&self) -> Result<Equilibrium, PhysicsError> {
        Equilibrium::with_analysis(self.dynamics.net, &self.dynamics.analysis())
    }

    /// Bytes held by the runner's solvers: the shared symbolic analysis once, plus the
    /// numerical state of the RHS solver and of the static one.
    pub fn solver_bytes(&self) -> usize {
        self.dynamics.factor_info().symbolic_bytes
            + self.dynamics.factor_numeric_bytes()
            + self.eq.numeric_bytes()
    }

    /// Reset every filter state to the free DC state of example `ex` (NON-PHYSICAL).
    pub fn reset_filters(&mut self, ex: usize) -> Result<(), PhysicsError> {
        let net = self.dynamics.net;
        let free = solve_static(net, &mut self.eq, &self.params, 0.0, &net.examples[ex]);
        self.eq.release_factor();
        self.states = initial_states(net, &self.params, &free?);
        Ok(())
    }

    /// Stored energy (docs/physics.md §12) at packed state `v` at time `t` of `seg`: one static
    /// solve with the arms at their states, on the runner's own equilibrium (the solver of the
    /// right-hand side is not touched, so the trajectory is the one without accounting).
    fn stored_energy(&mut self, seg: &Segment, t: f64, v: &[f64]) -> Result<f64, PhysicsError> {
        let net = self.dynamics.net;
        let Some(tab) = self.dynamics.energy_table() else {
            return Ok(0.0);
        };
        let (mut p, mut s) = (self.params.clone(), self.states.clone());
        self.dynamics.layout.unpack(v, &mut p, &mut s);
        let (xd, targets) = self.dynamics.boundary_values(seg, t);
        let beta = seg.beta(t);
        let res = self
            .eq
            .solve(net, &p.w, &p.l, ArmMode::Dynamic(&s.z), beta, &xd, &targets)
            .map(|x| x.to_vec());
        self.eq.release_factor();
        let x = res.map_err(|e| e.at_time(t))?;
        let y: Vec<f64> = net.elements.iter().map(|el| el.stencil.apply(&x)).collect();
        let mut xf = vec![0.0; net.n_free];
        for (d, m) in net.dof_map.iter().enumerate() {
            if let Ok(f) = m {
                xf[*f] = x[d];
            }
        }
        let inst = super::energy::Instant {
            beta,
            beta_rate: 0.0,
            xd: &xd,
            xd_rate: &xd,
            targets: &targets,
            targets_rate: &targets,
            xf: &xf,
            y: &y,
            v,
            dv: v,
            w: &p.w,
            l: &p.l,
        };
        let mut o = vec![0.0; net.outputs.len()];
        Ok(tab.stored(&inst, &mut o))
    }

    /// Integrate a list of segments; returns their energy (docs/physics.md §12).
    pub fn run_segments(
        &mut self,
        segs: &[Segment],
        sampling: Sampling,
    ) -> Result<Energy, PhysicsError> {
        let segs = split_at(segs.to_vec(), &self.breaks);
        let mut v = self.dynamics.layout.pack(&self.params, &self.states);
        // Keep every accepted step only when sampling needs them.
        self.dynamics.record_steps = sampling.per_segment > 0;
        let on = self.dynamics.energy_on();
        let mut total = if on {
            Energy::balance(0.0, 0.0, 0.0, [0.0; 6], 0.0)
        } else {
            Energy::nan()
        };
        let mut prev_end: Option<f64> = None;
        for seg in &segs {
            let e0 = if on {
                self.stored_energy(seg, seg.t0, v.as_slice())?
            } else {
                0.0
            };
            // A jump of a source between segments (a step waveform) does the work ΔE at frozen
            // element states: counted as source work.
            let jump = prev_end.map_or(0.0, |e1| e0 - e1);
            let (ts, ys) = self.dynamics.integrate_segment(seg, v)?;
            let last = match ys.last() {
                Some(last) => last.clone(),
                None => return Err(PhysicsError::Invalid("integrator returned no state".into())),
            };
            if on {
                let e1 = self.stored_energy(seg, seg.t1, last.as_slice())?;
                let q = self.dynamics.last_quad;
                use super::energy::{Q_DISS, Q_LEARNING, Q_NUDGE, Q_SOURCE};
                let mut diss = [0.0; 6];
                diss.copy_from_slice(&q[Q_DISS..Q_DISS + 6]);
                let seg_e = Energy::balance(q[Q_SOURCE], q[Q_NUDGE], q[Q_LEARNING], diss, e1 - e0);
                let with_jump = Energy::balance(jump, 0.0, 0.0, [0.0; 6], jump);
                total = total.plus(&seg_e).plus(&with_jump);
                if sampling.per_segment > 0 {
                    self.segment_energy.push(SegmentEnergy {
                        cycle: self.cycle,
                        kind: seg.kind,
                        t0: seg.t0,
                        t1: seg.t1,
                        energy: seg_e.plus(&with_jump),
                    });
                }
                prev_end = Some(e1);
            }
            if sampling.per_segment > 0 {
                let stride = ts.len().div_ceil(sampling.per_segment).max(1);
                for (i, (t, y)) in ts.iter().zip(&ys).enumerate() {
                    if i % stride == 0 || i + 1 == ts.len() {
                        self.samples
                            .push(self.dynamics.observe(seg, *t, y.as_slice())?);
                    }
                }
            }
            v = last;
            self.t = seg.t1;
        }
        self.dynamics
            .layout
            .unpack(v.as_slice(), &mut self.params, &mut self.states);
        Ok(total)
    }

    /// Run one sawtooth cycle at nudge amplitude `beta_max`.
    pub fn run_cycle(
        &mut self,
        saw: &Sawtooth,
        beta_max: f64,
        sampling: Sampling,
    ) -> Result<CycleRecord, PhysicsError> {
        let start = std::time::Instant::now();
        let net = self.dynamics.net;
        let n_ex = net.examples.len();
        // Results must depend only on the state at the cycle boundary (bit-for-bit resume).
        self.dynamics.invalidate_factor();
        self.eq.invalidate_factor();
        let ex = if n_ex == 0 { 0 } else { self.cycle % n_ex };
        if n_ex > 1 && saw.switch_mode == SwitchMode::ResetIdealized {
            self.reset_filters(ex)?;
        }
        let cost_start = self.cost();
        let stats0 = self.dynamics.stats;
        let (w_start, l_start, t_start) = (self.params.w.clone(), self.params.l.clone(), self.t);
        let segs = saw.cycle_segments(self.cycle, self.t, beta_max, n_ex);
        let energy = self.run_segments(&segs, sampling)?;
        let rec = CycleRecord {
            energy,
            cycle: self.cycle,
            example: ex,
            beta_max,
            t_start,
            t_end: self.t,
            w_start,
            w_end: self.params.w.clone(),
            l_start,
            l_end: self.params.l.clone(),
            cost_start,
            stats: self.dynamics.stats - stats0,
            wall_seconds: start.elapsed().as_secs_f64(),
        };
        self.cycle += 1;
        Ok(rec)
    }

    /// Hold β constant for `duration` with example 0's inputs (the `hold` protocol; a sawtooth
    /// cycle's own β = 0 hold is its settle segment).
    pub fn run_hold(
        &mut self,
        beta: f64,
        duration: f64,
        sampling: Sampling,
    ) -> Result<Energy, PhysicsError> {
        let seg = Segment {
            t0: self.t,
            t1: self.t + duration,
            kind: SegmentKind::Hold,
            beta: BetaRamp::Const(beta),
            from: 0,
            to: 0,
        };
        self.run_segments(&[seg], sampling)
    }
}
