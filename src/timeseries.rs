//! The time series of a protocol run for any family, as arrays: what `physlearn run` samples
//! (time, nudge β, the outputs and the learnables θ at every recorded point, and θ at the end
//! of every cycle). Used by the Python package's `Model.run`; the network path is
//! [`crate::sim::run`] with the netlist's `record` sampling, the chemical path the training
//! session with its runner recording, exactly as the CLI's `run` does.

use crate::error::Error;
use crate::learning::policy;
use crate::learning::{Engine, Session, SessionOptions, SimError};
use crate::model::{Model, System};
use crate::physics::run::Sampling;
use crate::physics::system::Slot;
use crate::sim::{self, RunOptions};
use serde::Serialize;

/// Options of [`run`].
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesOptions {
    /// Number of sawtooth cycles (default: the netlist's `protocol.cycles`); must be ≥ 1.
    pub cycles: Option<usize>,
    /// Record the first `sample_cycles` cycles (and the last one).
    pub sample_cycles: usize,
    /// Points kept per integrated segment (network; default: the netlist's
    /// `record.samples_per_segment`). The chemical runner keeps every accepted step.
    pub samples_per_segment: Option<usize>,
    /// Run even when the load-time diagnostics report errors.
    pub force: bool,
}

impl Default for SeriesOptions {
    fn default() -> Self {
        SeriesOptions {
            cycles: None,
            sample_cycles: 10,
            samples_per_segment: None,
            force: false,
        }
    }
}

/// Sampled trajectory of a run. Row `i` of `outputs` and `learnables` belongs to `t[i]`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimeSeries {
    pub t: Vec<f64>,
    pub beta: Vec<f64>,
    /// Output ids (the columns of `outputs`).
    pub output_names: Vec<String>,
    /// Output values, one row per sample.
    pub outputs: Vec<Vec<f64>>,
    /// Learnable ids (the columns of `learnables`), as [`Model::learnables`].
    pub learnable_ids: Vec<String>,
    /// θ at every sample.
    pub learnables: Vec<Vec<f64>>,
    /// θ at the start (row 0) and at the end of every cycle (`weights.csv`).
    pub theta_cycles: Vec<Vec<f64>>,
    /// Cycles run (0 for a `hold` protocol).
    pub cycles: usize,
}

/// Run the model's protocol and return its sampled time series.
pub fn run(model: &Model, opts: &SeriesOptions) -> Result<TimeSeries, Error> {
    if opts.cycles == Some(0) {
        return Err(SimError::BadInput("the number of cycles must be ≥ 1".into()).into());
    }
    if let (Some(msg), false) = (policy::refusal(model.diagnostics()), opts.force) {
        return Err(SimError::Refused(format!(
            "{msg}\n(use --force, or `force` in the API, to run anyway)"
        ))
        .into());
    }
    match model.system() {
        System::Network(n) => {
            let prep = n.prepared();
            let per_segment = match opts.samples_per_segment {
                Some(k) => k,
                None => model.record().map_or(20, |r| r.samples_per_segment),
            };
            let ro = RunOptions {
                cycles: opts.cycles,
                sampling: Sampling { per_segment },
                sample_cycles: opts.sample_cycles,
            };
            let out = sim::run(prep, ro, |_, _, _| {}).map_err(SimError::from)?;
            let layout = &out.runner.dynamics.layout;
            let index: Vec<usize> = n
                .slots()
                .iter()
                .filter_map(|s| match *s {
                    Slot::Weight(e) => layout.w[e],
                    Slot::RestLength(e) => layout.l[e],
                })
                .collect();
            let samples = &out.runner.samples;
            let p0 = n.network().initial_params();
            let mut theta_cycles = vec![n.stack(&p0.w, &p0.l)];
            theta_cycles.extend(out.cycles.iter().map(|r| n.stack(&r.w_end, &r.l_end)));
            Ok(TimeSeries {
                t: samples.iter().map(|s| s.t).collect(),
                beta: samples.iter().map(|s| s.beta).collect(),
                output_names: n.network().outputs.iter().map(|o| o.name.clone()).collect(),
                outputs: samples.iter().map(|s| s.outputs.clone()).collect(),
                learnable_ids: model.learnables().to_vec(),
                learnables: samples
                    .iter()
                    .map(|s| index.iter().map(|&i| s.state[i]).collect())
                    .collect(),
                theta_cycles,
                cycles: out.cycles.len(),
            })
        }
        System::Chemical(c) => {
            let m = c.model();
            let so = SessionOptions {
                cycles: opts.cycles,
                force: opts.force,
                ..SessionOptions::default()
            };
            let mut s = Session::new(c, &so, model.path().unwrap_or(""), model.sha256())?;
            let mut samples = Vec::new();
            let mut theta_cycles = vec![s.engine().theta()];
            while !s.done() {
                let k = s.checkpoint().next_cycle;
                let total = s.checkpoint().total_cycles;
                s.engine_mut().runner.record = k < opts.sample_cycles || k + 1 == total;
                s.step()?;
                samples.append(&mut s.engine_mut().runner.samples);
                theta_cycles.push(s.engine().theta());
            }
            let d = &m.design;
            Ok(TimeSeries {
                t: samples.iter().map(|x| x.0).collect(),
                beta: samples.iter().map(|x| x.1).collect(),
                output_names: m.output_names.clone(),
                outputs: samples
                    .iter()
                    .map(|x| d.outputs.iter().map(|&i| x.2[i]).collect())
                    .collect(),
                learnable_ids: model.learnables().to_vec(),
                learnables: samples.iter().map(|x| m.ell_by_pair(&x.2)).collect(),
                theta_cycles,
                cycles: s.rows().len(),
            })
        }
    }
}
