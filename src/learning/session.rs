//! One learning pipeline for every family: one-cycle comparison ([`one_cycle`]) and training
//! ([`Session`]) with the ideal-CL and gradient-descent reference learners, β annealing,
//! epoch rows, checkpoint and resume. Written once over [`LearningSystem`]/[`Engine`].

use super::energy::{relative_residual, Energy, EnergySummary};
use super::metrics::{cosine, lsq, Comparison, References};
use super::system::{CycleOut, Engine, Family, LearningSystem, SolveStats};
use super::{policy, SimError};
use serde::{Deserialize, Serialize};

/// The state of a model's engine, and its per-cycle extras.
pub type StateOf<'a, S> = <<S as LearningSystem>::Engine<'a> as Engine>::State;
pub type ExtrasOf<'a, S> = <<S as LearningSystem>::Engine<'a> as Engine>::Extras;

/// Options of [`Session::new`] and [`one_cycle`].
#[derive(Clone, Debug, PartialEq)]
pub struct SessionOptions {
    /// Number of cycles (default: the netlist's `protocol.cycles`); must be ≥ 1.
    pub cycles: Option<usize>,
    /// Run even when the load-time diagnostics report errors.
    pub force: bool,
    /// Step of the ideal-CL reference learner in units of the ideal rule (1 = the rule itself).
    pub cl_rate: f64,
    /// Train the ideal-CL and gradient-descent reference learners beside the physical one.
    pub reference_learners: bool,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            cycles: None,
            force: false,
            cl_rate: 1.0,
            reference_learners: true,
        }
    }
}

/// One row of `train.csv`: the common columns of every family, then the family's own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CycleRow<E> {
    pub cycle: usize,
    /// Example of this cycle (`cycle mod N`).
    pub example: usize,
    /// Peak nudge of this cycle (after annealing).
    #[serde(with = "crate::io::nan::f64_lossless")]
    pub beta: f64,
    /// Mean free-state cost of the physical learner at the start of the cycle.
    #[serde(with = "crate::io::nan::f64_lossless")]
    pub cost_phys: f64,
    /// The same for the ideal-CL and gradient-descent reference learners (empty when not run).
    #[serde(default, with = "crate::io::nan::opt_f64_lossless")]
    pub cost_cl: Option<f64>,
    #[serde(default, with = "crate::io::nan::opt_f64_lossless")]
    pub cost_gd: Option<f64>,
    #[serde(flatten)]
    pub cmp: Comparison,
    /// Loop gain G at the start of the cycle (empty: not computed for this size).
    #[serde(default, with = "crate::io::nan::opt_f64_lossless")]
    pub loop_gain: Option<f64>,
    #[serde(flatten)]
    pub stats: SolveStats,
    /// Energy of the cycle (docs/physics.md §12; NaN columns: not in this family).
    #[serde(flatten)]
    pub energy: Energy,
    #[serde(with = "crate::io::nan::f64_lossless")]
    pub wall_seconds: f64,
    #[serde(flatten)]
    pub extras: E,
}

/// One row of `epochs.csv` (tasks with several examples): Δθ over one pass through the
/// examples against the ideal rule and the gradient summed over the examples at the epoch's
/// starting θ, and the accuracies at its end (classification tasks).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRow {
    pub epoch: usize,
    #[serde(with = "crate::io::nan::f64_lossless")]
    pub cos_cl: f64,
    #[serde(with = "crate::io::nan::f64_lossless")]
    pub cos_grad: f64,
    #[serde(with = "crate::io::nan::f64_lossless")]
    pub slope: f64,
    #[serde(with = "crate::io::nan::f64_lossless")]
    pub cost: f64,
    #[serde(default, with = "crate::io::nan::opt_f64_lossless")]
    pub acc_train_phys: Option<f64>,
    #[serde(default, with = "crate::io::nan::opt_f64_lossless")]
    pub acc_test_phys: Option<f64>,
    #[serde(default, with = "crate::io::nan::opt_f64_lossless")]
    pub acc_train_cl: Option<f64>,
    #[serde(default, with = "crate::io::nan::opt_f64_lossless")]
    pub acc_test_cl: Option<f64>,
    #[serde(default, with = "crate::io::nan::opt_f64_lossless")]
    pub acc_train_gd: Option<f64>,
    #[serde(default, with = "crate::io::nan::opt_f64_lossless")]
    pub acc_test_gd: Option<f64>,
}

/// The checkpoint format every family writes (`checkpoint.json`).
pub const CHECKPOINT_FORMAT: &str = "physlearn-checkpoint/3";
/// Formats of earlier versions, refused with a message.
const OLD_FORMATS: &[&str] = &[
    "physlearn-train-checkpoint/1",
    "physlearn-chem-checkpoint/1",
    "physlearn-checkpoint/2",
];

/// Everything needed to continue a training run bit for bit. The session keeps its whole
/// state here, so nothing is listed twice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint<St, E> {
    pub format: String,
    pub family: Family,
    pub netlist_path: String,
    /// The netlist path's bytes when it is not UTF-8 (`netlist_path` is then lossy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netlist_path_bytes: Option<Vec<u8>>,
    pub netlist_sha256: String,
    pub total_cycles: usize,
    pub next_cycle: usize,
    /// The engine's state after `next_cycle` cycles.
    pub state: St,
    pub theta0: Vec<f64>,
    /// θ of the ideal-CL and gradient-descent reference learners (`None`: not run).
    pub cl: Option<Vec<f64>>,
    pub gd: Option<Vec<f64>>,
    #[serde(with = "crate::io::nan::f64_lossless")]
    pub cost0: f64,
    #[serde(with = "crate::io::nan::f64_lossless")]
    pub last_cost_phys: f64,
    #[serde(with = "crate::io::nan::f64_lossless")]
    pub last_cost_cl: f64,
    #[serde(with = "crate::io::nan::f64_lossless")]
    pub last_cost_gd: f64,
    /// The rows so far; on disk they live in the row journal beside the checkpoint
    /// ([`super::checkpoint_file`]), so a checkpoint's size does not grow with the run.
    #[serde(skip)]
    pub rows: Vec<CycleRow<E>>,
    pub epochs: Vec<EpochRow>,
    pub epoch_start: Vec<f64>,
    /// (Δθ, Δθ_CL) of the first and the latest cycle (scatter plots).
    pub first_scatter: (Vec<f64>, Vec<f64>),
    pub last_scatter: (Vec<f64>, Vec<f64>),
    /// Energy baseline (the same protocol with learning off): dissipation per cycle and the
    /// number of cycles it was measured over (`None`: not run yet).
    #[serde(default)]
    pub baseline: Option<(f64, usize)>,
    /// How often the run writes its checkpoint (`train --checkpoint-every`), kept so that a
    /// resume goes on writing them without being told again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_every: Option<usize>,
}

impl<St, E> Checkpoint<St, E> {
    /// Refuse a checkpoint of another format or family with a message that says why.
    pub fn check_format(&self, family: Family) -> Result<(), SimError> {
        if OLD_FORMATS.contains(&self.format.as_str()) {
            return Err(SimError::Checkpoint(format!(
                "format {} was written by an earlier physlearn; this version reads {CHECKPOINT_FORMAT} (start the run again)",
                self.format
            )));
        }
        if self.format != CHECKPOINT_FORMAT {
            return Err(SimError::Checkpoint(format!(
                "unknown format {:?} (expected {CHECKPOINT_FORMAT})",
                self.format
            )));
        }
        if self.family != family {
            return Err(SimError::Checkpoint(format!(
                "written for a {} model, the netlist is {}",
                self.family.name(),
                family.name()
            )));
        }
        Ok(())
    }
}

/// Peek at a checkpoint's format (to refuse old or foreign files before parsing them fully).
pub fn peek_format(text: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Peek {
        format: Option<String>,
    }
    serde_json::from_str::<Peek>(text)
        .ok()
        .and_then(|p| p.format)
}

/// Read a checkpoint's text for `sys` (format, family, netlist hash checked): the one path by
/// which the CLI and the Python package resume a run.
pub fn read_checkpoint<'a, S: LearningSystem>(
    text: &str,
    netlist_sha256: &str,
    sys: &'a S,
) -> Result<Checkpoint<StateOf<'a, S>, ExtrasOf<'a, S>>, SimError> {
    let format = peek_format(text).unwrap_or_default();
    if format != CHECKPOINT_FORMAT {
        let why = if OLD_FORMATS.contains(&format.as_str()) {
            "was written by an earlier physlearn"
        } else {
            "is not a physlearn checkpoint format"
        };
        return Err(SimError::Checkpoint(format!(
            "format {format:?} {why}; this version reads {CHECKPOINT_FORMAT} (start the run again)"
        )));
    }
    let ck: Checkpoint<StateOf<'a, S>, ExtrasOf<'a, S>> = serde_json::from_str(text)
        .map_err(|e| SimError::Checkpoint(format!("invalid checkpoint: {e}")))?;
    ck.check_format(sys.meta().family)?;
    if ck.netlist_sha256 != netlist_sha256 {
        return Err(SimError::Checkpoint(
            "the netlist changed since the checkpoint was written (sha256 differs)".into(),
        ));
    }
    Ok(ck)
}

/// Result of [`one_cycle`]: `compare --json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OneCycle<E> {
    pub family: Family,
    /// Ids of the learnables (the order of every vector below).
    pub learnables: Vec<String>,
    /// Physical Δθ of one cycle of example 0 at θ0 (plus the kernel tail).
    pub delta: Vec<f64>,
    /// Δθ of the ideal contrastive rule.
    pub ideal: Vec<f64>,
    /// ∇C at θ0.
    pub grad: Vec<f64>,
    #[serde(flatten)]
    pub cmp: Comparison,
    /// Free-state cost of example 0 at θ0.
    pub cost: f64,
    #[serde(default, with = "crate::io::nan::opt_f64_lossless")]
    pub loop_gain: Option<f64>,
    #[serde(flatten)]
    pub stats: SolveStats,
    /// The settle that ends the cycle (β = 0 for 10 kernel times after a `fast_fall` cycle, 0
    /// for `fast_rise`; part of every cycle of `run`, `train` and `compare`), so the filter's
    /// response tail is counted.
    pub tail: f64,
    /// Energy of the cycle and its tail (docs/physics.md §12).
    pub energy: Energy,
    pub wall_seconds: f64,
    #[serde(flatten)]
    pub extras: E,
}

fn minus(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x - y).collect()
}

/// Refuse a run when the load-time diagnostics report errors (unless forced).
pub fn apply_policy<S: LearningSystem>(sys: &S, force: bool) -> Result<(), SimError> {
    if !sys.meta().cycling {
        return Err(SimError::BadInput(
            "compare and train need a sawtooth protocol (this netlist holds β constant: use `run`)"
                .into(),
        ));
    }
    match policy::refusal(sys.diagnostics()) {
        Some(msg) if !force => Err(SimError::Refused(format!(
            "{msg}\n(use --force, or `force` in the API, to run anyway)"
        ))),
        _ => Ok(()),
    }
}

/// One cycle of example 0 at the initial θ compared with the references at θ0 (`compare`): the
/// engine's cycle, its settle included (docs/physics.md §6).
pub fn one_cycle<S: LearningSystem>(
    sys: &S,
    force: bool,
) -> Result<OneCycle<ExtrasOf<'_, S>>, SimError> {
    apply_policy(sys, force)?;
    let meta = sys.meta();
    let mut eng = sys.engine()?;
    let theta0 = eng.theta();
    let (refs, aux) = eng.references(&theta0, 0, meta.beta_max)?;
    let loop_gain = eng.loop_gain(&theta0, 0)?;
    let start = std::time::Instant::now();
    let tail = meta.settle();
    let CycleOut {
        stats,
        mut extras,
        energy,
    } = eng.run_cycle(0, meta.beta_max)?;
    let wall_seconds = start.elapsed().as_secs_f64();
    let delta = minus(&eng.theta(), &theta0);
    eng.finish_extras(&mut extras, &theta0, &delta, &aux);
    Ok(OneCycle {
        family: meta.family,
        learnables: meta.learnables.clone(),
        cmp: Comparison::new(&delta, &refs),
        delta,
        ideal: refs.ideal,
        grad: refs.grad,
        cost: refs.cost,
        loop_gain,
        stats,
        tail,
        energy,
        wall_seconds,
        extras,
    })
}

/// A training run: the physical learner (the model's own dynamics) cycle after cycle, compared
/// after every cycle with the references at its θ, beside the explicit reference learners.
pub struct Session<'a, S: LearningSystem + 'a> {
    sys: &'a S,
    eng: S::Engine<'a>,
    ck: Checkpoint<StateOf<'a, S>, ExtrasOf<'a, S>>,
    cl_rate: f64,
}

impl<'a, S: LearningSystem + 'a> Session<'a, S> {
    /// Start a run (refused when the diagnostics report errors, unless `opts.force`).
    /// `netlist_path` and `netlist_sha256` identify the input in the checkpoint.
    pub fn new(
        sys: &'a S,
        opts: &SessionOptions,
        netlist_path: &str,
        netlist_sha256: &str,
    ) -> Result<Self, SimError> {
        apply_policy(sys, opts.force)?;
        let meta = sys.meta();
        let total = opts.cycles.unwrap_or(meta.cycles);
        if total == 0 {
            return Err(SimError::BadInput(
                "the number of cycles must be ≥ 1".into(),
            ));
        }
        let mut eng = sys.engine()?;
        let theta0 = eng.theta();
        let c0 = eng.mean_cost(&theta0)?;
        let learners = opts.reference_learners.then(|| theta0.clone());
        let ck = Checkpoint {
            format: CHECKPOINT_FORMAT.into(),
            family: meta.family,
            netlist_path: netlist_path.into(),
            netlist_path_bytes: None,
            netlist_sha256: netlist_sha256.into(),
            total_cycles: total,
            next_cycle: 0,
            state: eng.snapshot(),
            cl: learners.clone(),
            gd: learners,
            epoch_start: theta0.clone(),
            theta0,
            cost0: c0,
            last_cost_phys: c0,
            last_cost_cl: c0,
            last_cost_gd: c0,
            rows: Vec::new(),
            epochs: Vec::new(),
            first_scatter: (Vec::new(), Vec::new()),
            last_scatter: (Vec::new(), Vec::new()),
            baseline: None,
            checkpoint_every: None,
        };
        Ok(Session {
            sys,
            eng,
            ck,
            cl_rate: opts.cl_rate,
        })
    }

    /// Continue from a checkpoint (the caller compares the netlist hash). `more_cycles`
    /// extends the run's total.
    pub fn resume(
        sys: &'a S,
        ck: Checkpoint<StateOf<'a, S>, ExtrasOf<'a, S>>,
        opts: &SessionOptions,
    ) -> Result<Self, SimError> {
        apply_policy(sys, opts.force)?;
        ck.check_format(sys.meta().family)?;
        let n = sys.meta().learnables.len();
        let bad = |what: &str, len: usize| {
            SimError::Checkpoint(format!(
                "{what} has {len} entries, the model has {n} learnables"
            ))
        };
        for (what, v) in [
            ("theta0", Some(&ck.theta0)),
            ("epoch_start", Some(&ck.epoch_start)),
            ("cl", ck.cl.as_ref()),
            ("gd", ck.gd.as_ref()),
        ] {
            if let Some(v) = v {
                if v.len() != n {
                    return Err(bad(what, v.len()));
                }
            }
        }
        if ck.next_cycle > ck.total_cycles || ck.rows.len() != ck.next_cycle {
            return Err(SimError::Checkpoint(format!(
                "next_cycle {} with {} rows and total_cycles {} do not fit together",
                ck.next_cycle,
                ck.rows.len(),
                ck.total_cycles
            )));
        }
        let mut eng = sys.engine()?;
        eng.restore(ck.state.clone())?;
        Ok(Session {
            sys,
            eng,
            ck,
            cl_rate: opts.cl_rate,
        })
    }

    /// Record the netlist's path exactly (a non-UTF-8 path keeps its bytes, so a resume finds
    /// the file).
    /// Record how often the run writes its checkpoint (kept in the checkpoint for a resume).
    pub fn set_checkpoint_every(&mut self, every: Option<usize>) {
        self.ck.checkpoint_every = every;
    }

    pub fn record_netlist_path(&mut self, path: &std::path::Path) {
        self.ck.netlist_path = path.to_string_lossy().into_owned();
        self.ck.netlist_path_bytes = None;
        #[cfg(unix)]
        if path.to_str().is_none() {
            use std::os::unix::ffi::OsStrExt;
            self.ck.netlist_path_bytes = Some(path.as_os_str().as_bytes().to_vec());
        }
    }

    pub fn done(&self) -> bool {
        self.ck.next_cycle >= self.ck.total_cycles
    }

    /// The run's whole state (write it as `checkpoint.json` to resume later).
    pub fn checkpoint(&self) -> &Checkpoint<StateOf<'a, S>, ExtrasOf<'a, S>> {
        &self.ck
    }

    pub fn rows(&self) -> &[CycleRow<ExtrasOf<'a, S>>] {
        &self.ck.rows
    }

    pub fn epochs(&self) -> &[EpochRow] {
        &self.ck.epochs
    }

    pub fn system(&self) -> &'a S {
        self.sys
    }

    /// The engine (its state is the physical learner's).
    pub fn engine(&self) -> &S::Engine<'a> {
        &self.eng
    }

    /// The engine, to change its sampling between cycles.
    pub fn engine_mut(&mut self) -> &mut S::Engine<'a> {
        &mut self.eng
    }

    /// Run one cycle of every learner and record the row.
    pub fn step(&mut self) -> Result<&CycleRow<ExtrasOf<'a, S>>, SimError> {
        let meta = self.sys.meta();
        let n_ex = meta.n_examples.max(1);
        let k = self.ck.next_cycle;
        let ex = k % n_ex;
        let law = |c0: f64, c: f64| meta.beta_schedule.beta(meta.beta_max, c0, c);
        self.eng.begin_cycle();
        let beta = law(self.ck.cost0, self.ck.last_cost_phys);
        let theta_start = self.eng.theta();
        let (refs, aux) = self.eng.references(&theta_start, ex, beta)?;
        let loop_gain = self.eng.loop_gain(&theta_start, ex)?;
        let start = std::time::Instant::now();
        let CycleOut {
            stats,
            mut extras,
            energy,
        } = self.eng.run_cycle(k, beta)?;
        let wall_seconds = start.elapsed().as_secs_f64();
        let theta = self.eng.theta();
        let delta = minus(&theta, &theta_start);
        self.eng
            .finish_extras(&mut extras, &theta_start, &delta, &aux);
        let cmp = Comparison::new(&delta, &refs);
        let scatter = (delta, refs.ideal.clone());
        if k == 0 {
            self.ck.first_scatter = scatter.clone();
        }
        self.ck.last_scatter = scatter;
        // Reference learners: ideal CL (its own annealing) and GD at the mapped rate.
        if let Some(mut cl) = self.ck.cl.take() {
            let b = law(self.ck.cost0, self.ck.last_cost_cl);
            let (r, _) = self.eng.references(&cl, ex, b)?;
            for (t, d) in cl.iter_mut().zip(&r.ideal) {
                *t += self.cl_rate * d;
            }
            self.sys.project(&mut cl);
            self.ck.cl = Some(cl);
        }
        if let Some(mut gd) = self.ck.gd.take() {
            let (r, _) = self.eng.references(&gd, ex, meta.beta_max)?;
            match &r.gd_rate {
                Some(rate) => {
                    for ((t, g), a) in gd.iter_mut().zip(&r.grad).zip(rate) {
                        *t -= a * g;
                    }
                    self.sys.project(&mut gd);
                    self.ck.gd = Some(gd);
                }
                None => self.ck.last_cost_gd = f64::NAN,
            }
        }
        let row = CycleRow {
            cycle: k,
            example: ex,
            beta,
            cost_phys: self.ck.last_cost_phys,
            cost_cl: self.ck.cl.as_ref().map(|_| self.ck.last_cost_cl),
            cost_gd: self.ck.gd.as_ref().map(|_| self.ck.last_cost_gd),
            cmp,
            loop_gain,
            stats,
            energy,
            wall_seconds,
            extras,
        };
        self.ck.last_cost_phys = self.eng.mean_cost(&theta)?;
        if let Some(cl) = &self.ck.cl {
            self.ck.last_cost_cl = self.eng.mean_cost(cl)?;
        }
        if let Some(gd) = &self.ck.gd {
            self.ck.last_cost_gd = self.eng.mean_cost(gd)?;
        }
        self.ck.next_cycle += 1;
        self.ck.state = self.eng.snapshot();
        self.ck.rows.push(row);
        if n_ex > 1 && self.ck.next_cycle.is_multiple_of(n_ex) {
            self.epoch(n_ex)?;
        }
        self.ck
            .rows
            .last()
            .ok_or_else(|| SimError::BadInput("no cycle recorded".into()))
    }

    fn epoch(&mut self, n_ex: usize) -> Result<(), SimError> {
        let beta = self.sys.meta().beta_max;
        let start = self.ck.epoch_start.clone();
        let (mut ideal, mut grad) = (vec![0.0; start.len()], vec![0.0; start.len()]);
        for ex in 0..n_ex {
            let (r, _): (References, _) = self.eng.references(&start, ex, beta)?;
            for (a, b) in ideal.iter_mut().zip(&r.ideal) {
                *a += b;
            }
            for (a, b) in grad.iter_mut().zip(&r.grad) {
                *a += b;
            }
        }
        let theta = self.eng.theta();
        let phys = minus(&theta, &start);
        let ng: Vec<f64> = grad.iter().map(|g| -g).collect();
        let mut acc = |th: Option<&Vec<f64>>, test| -> Result<Option<f64>, SimError> {
            match th {
                Some(t) => self.eng.accuracy(t, test),
                None => Ok(None),
            }
        };
        let (cl, gd) = (self.ck.cl.clone(), self.ck.gd.clone());
        let row = EpochRow {
            epoch: self.ck.next_cycle / n_ex - 1,
            cos_cl: cosine(&phys, &ideal),
            cos_grad: cosine(&phys, &ng),
            slope: lsq(&phys, &ideal).0,
            cost: self.ck.last_cost_phys,
            acc_train_phys: acc(Some(&theta), false)?,
            acc_test_phys: acc(Some(&theta), true)?,
            acc_train_cl: acc(cl.as_ref(), false)?,
            acc_test_cl: acc(cl.as_ref(), true)?,
            acc_train_gd: acc(gd.as_ref(), false)?,
            acc_test_gd: acc(gd.as_ref(), true)?,
        };
        self.ck.epochs.push(row);
        self.ck.epoch_start = theta;
        Ok(())
    }

    /// Run to the end, calling `progress` after every cycle.
    pub fn run(
        &mut self,
        mut progress: impl FnMut(&CycleRow<ExtrasOf<'a, S>>, usize, usize),
    ) -> Result<(), SimError> {
        while !self.done() {
            let total = self.ck.total_cycles;
            let row = self.step()?;
            progress(row, row.cycle + 1, total);
        }
        Ok(())
    }

    /// Run the energy baseline: the same protocol with learning switched off
    /// ([`LearningSystem::without_learning`]), `cycles` cycles from the same initial state with
    /// the same β law; its mean dissipation per cycle goes into the summary. Families without
    /// the switch leave it `None`.
    pub fn run_baseline(&mut self, cycles: usize) -> Result<Option<f64>, SimError> {
        let r = baseline_energy(self.sys, cycles)?;
        self.ck.baseline = r.map(|d| (d, cycles));
        Ok(r)
    }

    /// The run's summary (`summary.json`).
    pub fn summary(&self) -> TrainSummary {
        let ck = &self.ck;
        let rows = &ck.rows;
        let n = rows.len().max(1) as f64;
        let mean =
            |f: &dyn Fn(&CycleRow<ExtrasOf<'a, S>>) -> f64| rows.iter().map(f).sum::<f64>() / n;
        let red = |c: f64| ck.cost0 / c;
        let meta = self.sys.meta();
        TrainSummary {
            netlist: ck.netlist_path.clone(),
            family: ck.family,
            cycles: ck.next_cycle,
            total_cycles: ck.total_cycles,
            learnables: meta.learnables.clone(),
            cost_initial: ck.cost0,
            cost_final: Learners {
                phys: ck.last_cost_phys,
                cl: ck.cl.as_ref().map(|_| ck.last_cost_cl),
                gd: ck.gd.as_ref().map(|_| ck.last_cost_gd),
            },
            cost_reduction: Learners {
                phys: red(ck.last_cost_phys),
                cl: ck.cl.as_ref().map(|_| red(ck.last_cost_cl)),
                gd: ck.gd.as_ref().map(|_| red(ck.last_cost_gd)),
            },
            mean_cos_cl: mean(&|r| r.cmp.cos_cl),
            mean_rhs_evals_per_cycle: mean(&|r| r.stats.rhs_evals as f64),
            epochs: ck.epochs.len(),
            non_physical: meta.non_physical.clone(),
            energy: self.energy_summary(),
        }
    }

    /// The energy figures of the run so far (`summary.json`, key `energy`).
    pub fn energy_summary(&self) -> EnergySummary {
        let ck = &self.ck;
        let rows = &ck.rows;
        let total = rows
            .iter()
            .skip(1)
            .fold(rows.first().map_or(Energy::nan(), |r| r.energy), |a, r| {
                a.plus(&r.energy)
            });
        let n = rows.len().max(1) as f64;
        let per_cycle = total.dissipated() / n;
        let max_rel = rows
            .iter()
            .map(|r| relative_residual(&r.energy))
            .filter(|v| !v.is_nan())
            .fold(f64::NAN, f64::max);
        let decades = (ck.cost0 / ck.last_cost_phys).log10();
        let per_decade = if decades.is_finite() && decades > 0.0 {
            total.dissipated() / decades
        } else {
            f64::NAN
        };
        let baseline = ck.baseline.map(|b| b.0);
        EnergySummary {
            dissipated_per_cycle: per_cycle,
            total,
            max_relative_residual: max_rel,
            decades,
            dissipated_per_decade: per_decade,
            baseline_dissipated_per_cycle: baseline,
            baseline_cycles: ck.baseline.map_or(0, |b| b.1),
            learning_extra_per_cycle: baseline.map(|b| per_cycle - b),
        }
    }

    /// Final θ of every learner, one row per learnable (`weights_final.csv`).
    pub fn final_thetas(&self) -> Vec<ThetaRow> {
        let ck = &self.ck;
        let phys = self.eng.theta();
        self.sys
            .meta()
            .learnables
            .iter()
            .enumerate()
            .map(|(i, id)| ThetaRow {
                learnable: id.clone(),
                theta_initial: ck.theta0[i],
                theta_phys: phys[i],
                theta_cl: ck.cl.as_ref().map(|v| v[i]),
                theta_gd: ck.gd.as_ref().map(|v| v[i]),
            })
            .collect()
    }
}

/// Cost figures of the three learners.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Learners {
    pub phys: f64,
    #[serde(default, with = "crate::io::nan::opt_f64_lossless")]
    pub cl: Option<f64>,
    #[serde(default, with = "crate::io::nan::opt_f64_lossless")]
    pub gd: Option<f64>,
}

/// `summary.json` of `train`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrainSummary {
    pub netlist: String,
    pub family: Family,
    /// Cycles done, and the run's total.
    pub cycles: usize,
    pub total_cycles: usize,
    pub learnables: Vec<String>,
    pub cost_initial: f64,
    pub cost_final: Learners,
    /// `cost_initial / cost_final` per learner.
    pub cost_reduction: Learners,
    pub mean_cos_cl: f64,
    pub mean_rhs_evals_per_cycle: f64,
    /// Number of epoch rows (`epochs.csv`).
    pub epochs: usize,
    pub non_physical: Vec<String>,
    /// Energy per cycle, per decade of cost reduction, and the learning-off baseline.
    pub energy: EnergySummary,
}

/// Mean dissipation per cycle of `cycles` cycles of the protocol with learning switched off
/// (`None`: the family has no switch). The β law is the run's (with a constant cost it keeps
/// the first cycle's β).
pub fn baseline_energy<S: LearningSystem>(sys: &S, cycles: usize) -> Result<Option<f64>, SimError> {
    let Some(off) = sys.without_learning() else {
        return Ok(None);
    };
    if cycles == 0 {
        return Ok(None);
    }
    let meta = off.meta();
    let mut eng = off.engine()?;
    let theta = eng.theta();
    let c0 = eng.mean_cost(&theta)?;
    let beta = meta.beta_schedule.beta(meta.beta_max, c0, c0);
    let mut sum = 0.0;
    for k in 0..cycles {
        eng.begin_cycle();
        let out = eng.run_cycle(k, beta)?;
        sum += out.energy.dissipated();
    }
    Ok(Some(sum / cycles as f64))
}

/// One row of `weights_final.csv`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ThetaRow {
    pub learnable: String,
    pub theta_initial: f64,
    pub theta_phys: f64,
    #[serde(default, with = "crate::io::nan::opt_f64_lossless")]
    pub theta_cl: Option<f64>,
    #[serde(default, with = "crate::io::nan::opt_f64_lossless")]
    pub theta_gd: Option<f64>,
}

/// A checkpoint's netlist path from its text and, for non-UTF-8 paths, its bytes.
pub fn netlist_path_from(text: &str, bytes: Option<&[u8]>) -> std::path::PathBuf {
    #[cfg(unix)]
    if let Some(b) = bytes {
        use std::os::unix::ffi::OsStrExt;
        return std::path::PathBuf::from(std::ffi::OsStr::from_bytes(b));
    }
    let _ = bytes;
    std::path::PathBuf::from(text)
}
