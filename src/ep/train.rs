//! The training loop (the paper's §3.7 loop, for either rule).
//!
//! Per minibatch: load the persistent free states ("particles") of its examples, relax them
//! freely for `n_free` steps and store them back, count the training errors (argmax of the output
//! layer), draw the sign of `β`, compute the rule's update and apply it with per-layer rates.
//! After each epoch the test set is relaxed freely (its own persistent particles) and scored.
//!
//! Every random draw comes from ChaCha8 streams of the master seed: stream 1 initialises the
//! weights, stream `1000 + e` shuffles epoch `e` and draws its signs of `β`.

use super::data::Dataset;
use super::model::{relax, Architecture, Params, State};
use super::rules::{ep_update, tcl_update, RelaxConfig, TclRule, ThresholdRule, Thresholds};
use super::tcl::{Sawtooth, TclFilter};
use super::{task_rng, EpError};
use nalgebra::DMatrix;
use rand::seq::SliceRandom;
use rand::Rng;
use rayon::prelude::*;
use std::time::Instant;

/// Which learning rule to train with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Rule {
    /// Standard EP: free vs one clamped state.
    Ep,
    /// TCL-EP: sawtooth nudge, kernel filter, thresholds.
    Tcl,
}

impl Rule {
    pub fn name(self) -> &'static str {
        match self {
            Rule::Ep => "ep",
            Rule::Tcl => "tcl",
        }
    }
}

/// Training options. [`TrainConfig::digits_default`] gives the defaults for the digits task.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TrainConfig {
    /// Hidden layer sizes (the input and output sizes come from the data).
    pub hidden: Vec<usize>,
    pub epochs: usize,
    pub batch_size: usize,
    /// Nudge strength `|β|`.
    pub beta: f64,
    /// Draw the sign of `β` at random for each minibatch (as in the paper).
    pub random_sign: bool,
    pub relax: RelaxConfig,
    /// Learning rate `α_l` per weight layer (also used for the biases that layer feeds).
    pub rates: Vec<f64>,
    pub rule: Rule,
    pub sawtooth: Sawtooth,
    /// Kernel timescale `τ_K` of eq. (31).
    pub tau_k: f64,
    /// Time grid step `Δt`.
    pub dt: f64,
    pub thresholds: ThresholdRule,
    /// TCL gain `c` (`Δ = c/β · Δt Σ g_θ(u)`).
    pub gain: f64,
    pub seed: u64,
    /// Shuffle the training set each epoch.
    pub shuffle: bool,
}

impl TrainConfig {
    /// Defaults for the 8×8 digits (64-`hidden`-10): the paper's relaxation (`ε = 0.5`, 20 free
    /// and 4 nudged steps, `β = 0.5` with random sign), sawtooth (9 levels, `τ_f = 0.1`,
    /// `τ_s = 0.9`), kernel (`τ_K = 0.1`, `Δt = 0.01`) and gain `0.5·10⁴`; rates and thresholds
    /// calibrated for this data set ([`Thresholds::digits`], docs/ep.md).
    pub fn digits_default(rule: Rule) -> Self {
        TrainConfig {
            hidden: vec![128],
            epochs: 30,
            batch_size: 20,
            beta: 0.5,
            random_sign: true,
            relax: RelaxConfig::default(),
            rates: vec![0.1, 0.05],
            rule,
            sawtooth: Sawtooth::default(),
            tau_k: 0.1,
            dt: 0.01,
            thresholds: ThresholdRule::Fixed(Thresholds::digits(2)),
            gain: 0.5e4,
            seed: 1,
            shuffle: true,
        }
    }

    /// Check the options against the data's input and output sizes; returns the architecture.
    pub fn validate(&self, n_inputs: usize, n_outputs: usize) -> Result<Architecture, EpError> {
        let mut sizes = vec![n_inputs];
        sizes.extend(&self.hidden);
        sizes.push(n_outputs);
        let arch = Architecture::new(sizes)?;
        let n_w = arch.n_weights();
        if self.epochs == 0 {
            return Err(EpError::option("epochs", 0, "must be at least 1"));
        }
        if self.batch_size == 0 {
            return Err(EpError::option("batch size", 0, "must be at least 1"));
        }
        if !(self.beta.is_finite() && self.beta > 0.0) {
            return Err(EpError::option("beta", self.beta, "must be positive"));
        }
        if !(self.relax.eps.is_finite() && self.relax.eps > 0.0 && self.relax.eps <= 1.0) {
            return Err(EpError::option("eps", self.relax.eps, "must lie in (0, 1]"));
        }
        if self.relax.n_free == 0 || self.relax.n_nudge == 0 {
            return Err(EpError::option(
                "relaxation steps",
                format!("{}/{}", self.relax.n_free, self.relax.n_nudge),
                "free and nudged steps must be at least 1",
            ));
        }
        if self.rates.len() != n_w || self.rates.iter().any(|r| !r.is_finite() || *r < 0.0) {
            return Err(EpError::option(
                "rates",
                format!("{:?}", self.rates),
                format!(
                    "need {n_w} non-negative values (one per weight layer of {})",
                    arch.label()
                ),
            ));
        }
        if let ThresholdRule::Fixed(t) = &self.thresholds {
            if t.weights.len() != n_w || t.biases.len() != n_w {
                return Err(EpError::option(
                    "thresholds",
                    format!("{:?} / {:?}", t.weights, t.biases),
                    format!(
                        "need {n_w} weight and {n_w} bias thresholds for {}",
                        arch.label()
                    ),
                ));
            }
            if t.weights
                .iter()
                .chain(&t.biases)
                .any(|v| !v.is_finite() || *v < 0.0)
            {
                return Err(EpError::option(
                    "thresholds",
                    format!("{:?} / {:?}", t.weights, t.biases),
                    "must be finite and non-negative",
                ));
            }
        }
        if let ThresholdRule::Paper { factor } = self.thresholds {
            if !(factor.is_finite() && factor >= 0.0) {
                return Err(EpError::option("threshold factor", factor, "must be ≥ 0"));
            }
        }
        if !(self.gain.is_finite() && self.gain > 0.0) {
            return Err(EpError::option("gain", self.gain, "must be positive"));
        }
        Ok(arch)
    }
}

/// One epoch's result.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Fraction of training examples misclassified in the free phase during the epoch.
    pub train_error: f64,
    /// Fraction of test examples misclassified after the epoch.
    pub test_error: f64,
    /// Wall-clock seconds of the epoch (training and evaluation).
    pub seconds: f64,
}

/// A network being trained on a fixed train/test pair.
#[derive(Debug, Clone)]
pub struct Trainer {
    config: TrainConfig,
    arch: Architecture,
    params: Params,
    tcl: Option<TclRule>,
    train: Dataset,
    test: Dataset,
    train_particles: State,
    test_particles: State,
    epoch: usize,
}

/// Columns `idx` of a batch state.
fn gather(state: &State, idx: &[usize]) -> State {
    State {
        layers: state.layers.iter().map(|m| m.select_columns(idx)).collect(),
    }
}

fn scatter(into: &mut State, from: &State, idx: &[usize]) {
    for (dst, src) in into.layers.iter_mut().zip(&from.layers) {
        for (j, &i) in idx.iter().enumerate() {
            dst.set_column(i, &src.column(j));
        }
    }
}

impl Trainer {
    pub fn new(config: TrainConfig, train: Dataset, test: Dataset) -> Result<Self, EpError> {
        if train.n_features() != test.n_features() {
            return Err(EpError::Data(format!(
                "train set has {} features, test set {}",
                train.n_features(),
                test.n_features()
            )));
        }
        let n_out = train.n_classes.max(test.n_classes);
        let arch = config.validate(train.n_features(), n_out)?;
        let tcl = match config.rule {
            Rule::Tcl => Some(TclRule {
                filter: TclFilter::new(config.sawtooth, config.tau_k, config.dt)?,
                thresholds: config.thresholds.clone(),
                gain: config.gain,
            }),
            Rule::Ep => None,
        };
        let params = Params::glorot(&arch, &mut task_rng(config.seed, 1));
        let train_particles = State::zeros(&arch, train.len());
        let test_particles = State::zeros(&arch, test.len());
        Ok(Trainer {
            config,
            arch,
            params,
            tcl,
            train,
            test,
            train_particles,
            test_particles,
            epoch: 0,
        })
    }

    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    pub fn architecture(&self) -> &Architecture {
        &self.arch
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Number of epochs run so far.
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// The TCL filter (only for [`Rule::Tcl`]).
    pub fn filter(&self) -> Option<&TclFilter> {
        self.tcl.as_ref().map(|r| &r.filter)
    }

    /// Number of minibatches per epoch.
    pub fn batches_per_epoch(&self) -> usize {
        self.train.len().div_ceil(self.config.batch_size)
    }

    /// Run one epoch; `on_batch` is called after each minibatch (for progress reporting).
    pub fn run_epoch(&mut self, mut on_batch: impl FnMut()) -> Result<EpochRecord, EpError> {
        let start = Instant::now();
        let cfg = self.config.clone();
        let epoch = self.epoch + 1;
        let mut rng = task_rng(cfg.seed, 1000 + epoch as u64);
        let mut order: Vec<usize> = (0..self.train.len()).collect();
        if cfg.shuffle {
            order.shuffle(&mut rng);
        }
        let n_out = self.arch.n_outputs();
        let mut wrong = 0usize;
        for (bi, idx) in order.chunks(cfg.batch_size).enumerate() {
            let x = self.train.inputs.select_columns(idx);
            let target = self.train.one_hot(idx, n_out);
            let mut free = gather(&self.train_particles, idx);
            relax(
                &self.params,
                &x,
                &mut free,
                cfg.relax.n_free,
                cfg.relax.eps,
                None,
            );
            if !free.is_finite() {
                return Err(EpError::NonFinite {
                    what: "free state",
                    epoch,
                    batch: bi,
                });
            }
            scatter(&mut self.train_particles, &free, idx);
            wrong += free
                .predictions()
                .iter()
                .zip(idx)
                .filter(|(p, &i)| **p != self.train.labels[i])
                .count();
            let beta = if cfg.random_sign && rng.random::<bool>() {
                -cfg.beta
            } else {
                cfg.beta
            };
            let update = match &self.tcl {
                Some(rule) => tcl_update(&self.params, &x, &target, &free, beta, &cfg.relax, rule)?,
                None => ep_update(&self.params, &x, &target, &free, beta, &cfg.relax)?,
            };
            update.apply(&mut self.params, &cfg.rates);
            if !self.params.is_finite() {
                return Err(EpError::NonFinite {
                    what: "parameters",
                    epoch,
                    batch: bi,
                });
            }
            on_batch();
        }
        let test_error = self.evaluate_test()?;
        self.epoch = epoch;
        Ok(EpochRecord {
            epoch,
            train_error: wrong as f64 / self.train.len() as f64,
            test_error,
            seconds: start.elapsed().as_secs_f64(),
        })
    }

    /// Relax the test set's persistent particles freely and return the error rate (in parallel
    /// over chunks of examples).
    pub fn evaluate_test(&mut self) -> Result<f64, EpError> {
        let n = self.test.len();
        let chunk = 64;
        let starts: Vec<usize> = (0..n).step_by(chunk).collect();
        let params = &self.params;
        let cfg = &self.config;
        let test = &self.test;
        let particles = &self.test_particles;
        let results: Vec<(Vec<usize>, State)> = starts
            .par_iter()
            .map(|&s| {
                let idx: Vec<usize> = (s..(s + chunk).min(n)).collect();
                let x: DMatrix<f64> = test.inputs.select_columns(&idx);
                let mut st = gather(particles, &idx);
                relax(params, &x, &mut st, cfg.relax.n_free, cfg.relax.eps, None);
                (idx, st)
            })
            .collect();
        let mut wrong = 0;
        for (idx, st) in &results {
            if !st.is_finite() {
                return Err(EpError::NonFinite {
                    what: "test state",
                    epoch: self.epoch + 1,
                    batch: idx[0] / chunk,
                });
            }
            wrong += st
                .predictions()
                .iter()
                .zip(idx)
                .filter(|(p, &i)| **p != test.labels[i])
                .count();
            scatter(&mut self.test_particles, st, idx);
        }
        Ok(wrong as f64 / n as f64)
    }

    /// Run all remaining epochs; `on_batch` is called after every minibatch.
    pub fn run(&mut self, mut on_batch: impl FnMut()) -> Result<Vec<EpochRecord>, EpError> {
        let mut out = Vec::new();
        while self.epoch < self.config.epochs {
            out.push(self.run_epoch(&mut on_batch)?);
        }
        Ok(out)
    }
}
