//! Training: the physical TCL network runs the sawtooth protocol cycle after cycle; after every
//! cycle its update is compared with the ideal contrastive rule and the exact gradient computed
//! from the same code path at the same parameters, and two explicit learners (ideal CL and
//! gradient descent at the mapped learning rate) train side by side from the same initial
//! weights. The whole state can be checkpointed and resumed bit for bit.

use crate::learning::{
    accuracy, apply, compare, cosine, gd_step, lsq, references, stack, Comparison,
};
use crate::physics::equilibrium::Equilibrium;
use crate::physics::model::{LearnTarget, Params, SignalSource, States};
use crate::physics::run::{Runner, Sampling};
use crate::physics::statics::{mean_cost, solve_static, transfer_diagonal};
use crate::physics::PhysicsError;
use crate::protocol::Sawtooth;
use crate::sim::{beta_for_cycle, Prepared};
use serde::{Deserialize, Serialize};

/// One row of `train.csv`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrainRow {
    pub cycle: usize,
    pub example: usize,
    pub beta: f64,
    /// Mean free-state cost at the start of the cycle.
    pub cost_phys: f64,
    pub cost_cl: f64,
    pub cost_gd: f64,
    pub cos_cl: f64,
    pub cos_grad: f64,
    pub slope: f64,
    pub offset: f64,
    pub wrong_sign_fraction: f64,
    pub window_fraction: f64,
    pub max_contrast_over_lower_edge: f64,
    pub loop_gain: f64,
    pub rhs_evals: u64,
    pub accepted_steps: u64,
    pub rejected_steps: u64,
    pub wall_seconds: f64,
}

/// Epoch-level comparison (multi-example tasks): Δw over one pass through the examples against
/// the ideal CL update summed over the examples at the epoch's starting weights.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EpochRow {
    pub epoch: usize,
    pub cos_cl: f64,
    pub cos_grad: f64,
    pub slope: f64,
    pub cost: f64,
    /// Classification accuracy (NaN with fewer than two outputs) of the three learners on the
    /// training examples and the held-out test examples, at the end of the epoch.
    pub acc_train_phys: f64,
    pub acc_test_phys: f64,
    pub acc_train_cl: f64,
    pub acc_test_cl: f64,
    pub acc_train_gd: f64,
    pub acc_test_gd: f64,
}

/// Everything needed to continue a run exactly.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Checkpoint {
    pub format: String,
    pub netlist_sha256: String,
    pub netlist_path: String,
    pub total_cycles: usize,
    pub next_cycle: usize,
    pub t: f64,
    pub params: Params,
    pub states: States,
    pub cl: Params,
    pub gd: Params,
    pub cost0_phys: f64,
    pub cost0_cl: f64,
    pub last_cost_phys: f64,
    pub last_cost_cl: f64,
    pub last_cost_gd: f64,
    pub rows: Vec<TrainRow>,
    pub epochs: Vec<EpochRow>,
    pub epoch_start: Params,
    /// Stacked (Δp_phys, Δp_CL) of the first and the latest cycle (scatter plots).
    pub first_scatter: (Vec<f64>, Vec<f64>),
    pub last_scatter: (Vec<f64>, Vec<f64>),
    pub initial: Params,
}

pub const CHECKPOINT_FORMAT: &str = "physlearn-train-checkpoint/1";

/// A training session.
pub struct Trainer<'a> {
    pub prep: &'a Prepared,
    pub saw: Sawtooth,
    pub runner: Runner<'a>,
    eq: Equilibrium,
    pub ck: Checkpoint,
}

fn loop_gain(prep: &Prepared, eq: &mut Equilibrium, p: &Params, ex: usize) -> f64 {
    let net = &prep.network;
    if net.n_elements() > 3000 {
        return f64::NAN;
    }
    let Ok(r) = transfer_diagonal(net, eq, p, 0.0, &net.examples[ex]) else {
        return f64::NAN;
    };
    let Ok(free) = solve_static(net, eq, p, 0.0, &net.examples[ex]) else {
        return f64::NAN;
    };
    let mut g: f64 = 0.0;
    for (e, el) in net.elements.iter().enumerate() {
        for ch in &el.channels {
            if ch.target != LearnTarget::Weight {
                continue;
            }
            let (_, tau) = el.static_signal(ch, 0.0, p.w[e], p.l[e]);
            let scale = match (ch.source, &el.chem) {
                (SignalSource::Chem(_), Some(c)) => c.s_ref,
                _ => 1.0,
            };
            g = g.max(ch.rho * tau * 2.0 * free.y[e] * free.y[e] * r[e] / scale);
        }
    }
    g
}

impl<'a> Trainer<'a> {
    /// Start a new session (requires a sawtooth protocol).
    pub fn new(
        prep: &'a Prepared,
        total_cycles: usize,
        netlist_path: &str,
        netlist_sha256: &str,
    ) -> Result<Self, PhysicsError> {
        let saw = prep
            .sawtooth()
            .cloned()
            .ok_or_else(|| PhysicsError::Invalid("training needs a sawtooth protocol".into()))?;
        let net = &prep.network;
        let mut runner = Runner::new(net, prep.solver, net.initial_params())?;
        if saw.from_rest {
            runner.states = States::zeros(net.n_elements());
        }
        let mut eq = Equilibrium::new(net)?;
        let p0 = net.initial_params();
        let c0 = mean_cost(net, &mut eq, &p0)?;
        let ck = Checkpoint {
            format: CHECKPOINT_FORMAT.into(),
            netlist_sha256: netlist_sha256.into(),
            netlist_path: netlist_path.into(),
            total_cycles,
            next_cycle: 0,
            t: 0.0,
            params: p0.clone(),
            states: runner.states.clone(),
            cl: p0.clone(),
            gd: p0.clone(),
            cost0_phys: c0,
            cost0_cl: c0,
            last_cost_phys: c0,
            last_cost_cl: c0,
            last_cost_gd: c0,
            rows: Vec::new(),
            epochs: Vec::new(),
            epoch_start: p0.clone(),
            first_scatter: (Vec::new(), Vec::new()),
            last_scatter: (Vec::new(), Vec::new()),
            initial: p0,
        };
        Ok(Trainer {
            prep,
            saw,
            runner,
            eq,
            ck,
        })
    }

    /// Continue from a checkpoint (the caller checks the netlist hash).
    pub fn resume(prep: &'a Prepared, ck: Checkpoint) -> Result<Self, PhysicsError> {
        let saw = prep
            .sawtooth()
            .cloned()
            .ok_or_else(|| PhysicsError::Invalid("training needs a sawtooth protocol".into()))?;
        let net = &prep.network;
        let mut runner = Runner::new(net, prep.solver, ck.params.clone())?;
        runner.states = ck.states.clone();
        runner.t = ck.t;
        runner.cycle = ck.next_cycle;
        let eq = Equilibrium::new(net)?;
        Ok(Trainer {
            prep,
            saw,
            runner,
            eq,
            ck,
        })
    }

    pub fn done(&self) -> bool {
        self.ck.next_cycle >= self.ck.total_cycles
    }

    /// Run one cycle of all three learners and record the metrics.
    pub fn step(&mut self) -> Result<TrainRow, PhysicsError> {
        let net = &self.prep.network;
        let n_ex = net.examples.len().max(1);
        let k = self.ck.next_cycle;
        let ex = k % n_ex;
        self.eq.invalidate_factor();
        let beta = beta_for_cycle(&self.saw, self.ck.cost0_phys, self.ck.last_cost_phys);
        let p_start = self.runner.params.clone();
        let refs = references(net, &mut self.eq, &p_start, beta, &[ex])?;
        let g = loop_gain(self.prep, &mut self.eq, &p_start, ex);
        let rec = self
            .runner
            .run_cycle(&self.saw, beta, Sampling { per_segment: 0 })?;
        let cmp: Comparison = compare(net, &p_start, &self.saw, &rec.dw(), &rec.dl(), &refs);
        let scatter = (
            stack(net, &rec.dw(), &rec.dl()),
            stack(net, &refs.cl_w, &refs.cl_l),
        );
        if k == 0 {
            self.ck.first_scatter = scatter.clone();
        }
        self.ck.last_scatter = scatter;
        // Ideal CL learner (its own β schedule) and GD at the mapped rate.
        let beta_cl = beta_for_cycle(&self.saw, self.ck.cost0_cl, self.ck.last_cost_cl);
        let r_cl = references(net, &mut self.eq, &self.ck.cl, beta_cl, &[ex])?;
        apply(net, &mut self.ck.cl, &r_cl.cl_w, &r_cl.cl_l);
        let r_gd = references(net, &mut self.eq, &self.ck.gd, self.saw.beta_max, &[ex])?;
        let (gw, gl) = gd_step(net, &self.ck.gd, self.saw.beta_max, &r_gd);
        apply(net, &mut self.ck.gd, &gw, &gl);
        let row = TrainRow {
            cycle: k,
            example: ex,
            beta,
            cost_phys: self.ck.last_cost_phys,
            cost_cl: self.ck.last_cost_cl,
            cost_gd: self.ck.last_cost_gd,
            cos_cl: cmp.cos_cl,
            cos_grad: cmp.cos_grad,
            slope: cmp.slope,
            offset: cmp.offset,
            wrong_sign_fraction: cmp.wrong_sign_fraction,
            window_fraction: cmp.window_fraction,
            max_contrast_over_lower_edge: cmp.max_contrast_over_lower_edge,
            loop_gain: g,
            rhs_evals: rec.stats.rhs_evals,
            accepted_steps: rec.stats.accepted_steps,
            rejected_steps: rec.stats.rejected_steps,
            wall_seconds: rec.wall_seconds,
        };
        self.ck.last_cost_phys = mean_cost(net, &mut self.eq, &self.runner.params)?;
        self.ck.last_cost_cl = mean_cost(net, &mut self.eq, &self.ck.cl)?;
        self.ck.last_cost_gd = mean_cost(net, &mut self.eq, &self.ck.gd)?;
        self.ck.next_cycle += 1;
        self.ck.t = self.runner.t;
        self.ck.params = self.runner.params.clone();
        self.ck.states = self.runner.states.clone();
        self.ck.rows.push(row.clone());
        // Epoch comparison (multi-example tasks).
        if n_ex > 1 && self.ck.next_cycle.is_multiple_of(n_ex) {
            let start = self.ck.epoch_start.clone();
            let all: Vec<usize> = (0..n_ex).collect();
            let r = references(net, &mut self.eq, &start, self.saw.beta_max, &all)?;
            let (dw, dl) = self.runner.params.change_since(&start);
            let phys = stack(net, &dw, &dl);
            let cl = stack(net, &r.cl_w, &r.cl_l);
            let ng: Vec<f64> = stack(net, &r.grad_w, &r.grad_l)
                .iter()
                .map(|g| -g)
                .collect();
            self.ck.epochs.push(EpochRow {
                epoch: self.ck.next_cycle / n_ex - 1,
                cos_cl: cosine(&phys, &cl),
                cos_grad: cosine(&phys, &ng),
                slope: lsq(&phys, &cl).0,
                cost: self.ck.last_cost_phys,
                acc_train_phys: accuracy(net, &mut self.eq, &self.runner.params, &net.examples)?,
                acc_test_phys: accuracy(
                    net,
                    &mut self.eq,
                    &self.runner.params,
                    &net.test_examples,
                )?,
                acc_train_cl: accuracy(net, &mut self.eq, &self.ck.cl, &net.examples)?,
                acc_test_cl: accuracy(net, &mut self.eq, &self.ck.cl, &net.test_examples)?,
                acc_train_gd: accuracy(net, &mut self.eq, &self.ck.gd, &net.examples)?,
                acc_test_gd: accuracy(net, &mut self.eq, &self.ck.gd, &net.test_examples)?,
            });
            self.ck.epoch_start = self.runner.params.clone();
        }
        Ok(row)
    }
}

/// Result of [`compare_one_cycle`].
#[derive(Clone, Debug, Serialize)]
pub struct OneCycle {
    #[serde(flatten)]
    pub comparison: Comparison,
    pub loop_gain: f64,
    pub rhs_evals: u64,
    pub accepted_steps: u64,
    pub rejected_steps: u64,
    /// Relaxation time appended after a fast-fall cycle so the kernel's tail is counted.
    pub settle: f64,
    pub wall_seconds: f64,
    pub dw_phys: Vec<f64>,
    pub dw_cl: Vec<f64>,
}

/// One cycle of example 0 at the initial weights compared with the ideal references. For
/// `fast_fall` the cycle ends on the fast segment, so the filter's response tail (which in a
/// periodic run falls into the next cycle) is integrated by holding β = 0 for 10 kernel times.
pub fn compare_one_cycle(prep: &Prepared) -> Result<OneCycle, PhysicsError> {
    let saw = prep
        .sawtooth()
        .cloned()
        .ok_or_else(|| PhysicsError::Invalid("compare needs a sawtooth protocol".into()))?;
    let net = &prep.network;
    let p0 = net.initial_params();
    let mut eq = Equilibrium::new(net)?;
    let refs = references(net, &mut eq, &p0, saw.beta_max, &[0])?;
    let g = loop_gain(prep, &mut eq, &p0, 0);
    let start = std::time::Instant::now();
    let mut runner = Runner::new(net, prep.solver, p0.clone())?;
    runner.run_cycle(&saw, saw.beta_max, Sampling { per_segment: 0 })?;
    let tau_max = net
        .elements
        .iter()
        .enumerate()
        .filter_map(|(e, el)| el.tau_k(p0.w[e]))
        .fold(0.0, f64::max);
    let settle = if saw.direction == crate::protocol::Direction::FastFall {
        10.0 * tau_max
    } else {
        0.0
    };
    if settle > 0.0 {
        runner.run_hold(0.0, settle, Sampling { per_segment: 0 })?;
    }
    let stats = runner.dynamics.stats;
    let (dw, dl) = runner.params.change_since(&p0);
    let cmp = compare(net, &p0, &saw, &dw, &dl, &refs);
    Ok(OneCycle {
        comparison: cmp,
        loop_gain: g,
        rhs_evals: stats.rhs_evals,
        accepted_steps: stats.accepted_steps,
        rejected_steps: stats.rejected_steps,
        settle,
        wall_seconds: start.elapsed().as_secs_f64(),
        dw_phys: stack(net, &dw, &dl),
        dw_cl: stack(net, &refs.cl_w, &refs.cl_l),
    })
}
