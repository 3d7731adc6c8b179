//! The chemical reaction-network family as a [`LearningSystem`]: θ = the total linker
//! `ℓ_e = L_e + C_e` of every pair; the ideal rule `Δℓ_CL = −ρ(D^C − D^F)`, the static
//! gradients of `C_sq` (the cost) and `C_I`, and the loop gain `G = ρ λ_max(−J)`
//! (docs/molecular.md).

use super::checks::{check, ChemReport};
use super::sim::{analyse, auto_tau_switch, mean_cost, Runner, Watch};
use super::{reduced, ChemModel};
use crate::learning::metrics::cosine;
use crate::learning::rule::Window;
use crate::learning::system::{CycleOut, Engine, Family, LearningSystem, SolveStats, SystemMeta};
use crate::learning::{References, SimError};
use crate::physics::diagnostics::Diagnostic;
use crate::physics::stiff::BdfStats;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// A resolved chemical model (the switch time resolved, the load-time checks done).
#[derive(Clone, Debug)]
pub struct ChemSystem {
    model: ChemModel,
    report: ChemReport,
    meta: SystemMeta,
    /// Input ramp time between examples (resolved from "auto").
    pub tau_switch: f64,
}

impl ChemSystem {
    pub fn new(model: ChemModel) -> Result<Self, SimError> {
        let report = check(&model);
        let ell0 = model.ell0();
        let tau_switch = match model.protocol.switch.tau_switch {
            Some(t) => t,
            None if report.has_errors() => 0.0,
            None => auto_tau_switch(&model, &ell0)?,
        };
        let mut names = vec![String::new(); model.design.pairs.len()];
        for l in &model.learnables {
            if let Some(n) = names.get_mut(l.pair) {
                n.clone_from(&l.name);
            }
        }
        let d = &model.design;
        let meta = SystemMeta {
            family: Family::Chemical,
            learnables: names,
            n_examples: model.examples.len(),
            beta_max: d.beta_max,
            direction: model.protocol.direction,
            beta_schedule: model.protocol.beta_schedule,
            cycles: model.protocol.cycles,
            kernel_time: d.a / d.b,
            non_physical: Vec::new(),
            cycling: true,
        };
        Ok(ChemSystem {
            model,
            report,
            meta,
            tau_switch,
        })
    }

    pub fn model(&self) -> &ChemModel {
        &self.model
    }

    pub fn report(&self) -> &ChemReport {
        &self.report
    }
}

impl LearningSystem for ChemSystem {
    type Engine<'a> = ChemEngine<'a>;

    fn meta(&self) -> &SystemMeta {
        &self.meta
    }
    fn diagnostics(&self) -> &[Diagnostic] {
        &self.report.diagnostics
    }
    fn theta0(&self) -> Vec<f64> {
        self.model.ell0()
    }
    fn project(&self, theta: &mut [f64]) {
        for l in &self.model.learnables {
            if let Some(t) = theta.get_mut(l.pair) {
                *t = t.max(l.min);
            }
        }
    }
    fn engine(&self) -> Result<ChemEngine<'_>, SimError> {
        let m = &self.model;
        let mut runner = Runner::new(m);
        runner.hold(0, 0.0, 0.0, m.protocol.settle, "settle")?;
        let ex = 0;
        Ok(ChemEngine {
            sys: self,
            runner,
            example: ex,
            base: BdfStats::default(),
        })
    }
    fn compare_extras(
        &self,
        delta: &[f64],
    ) -> Result<serde_json::Map<String, serde_json::Value>, SimError> {
        let red = reduced::one_cycle(&self.model)?;
        let diff: f64 = delta
            .iter()
            .zip(&red.dell)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f64>()
            .sqrt();
        let norm: f64 = delta.iter().map(|a| a * a).sum::<f64>().sqrt();
        let v = json!({
            "settle": self.model.protocol.settle,
            "reduced_rel_diff": diff / norm.max(1e-300),
            "reduced_cos": cosine(delta, &red.dell),
            "reduced_rhs_evals": red.rhs_evals,
            "reduced_wall_seconds": red.wall_seconds,
        });
        Ok(match v {
            serde_json::Value::Object(m) => m,
            _ => serde_json::Map::new(),
        })
    }
}

/// The dynamical state of a chemical run (the checkpoint payload).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChemState {
    /// Every species level.
    pub x: Vec<f64>,
    pub t: f64,
    pub stats: BdfStats,
    /// Current input totals.
    pub inputs: Vec<f64>,
    /// Example whose inputs are applied.
    pub example: usize,
}

/// Per-cycle columns of the chemical family (after the common `train.csv` prefix).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChemExtras {
    /// `C_I` of this cycle's example at the cycle start.
    #[serde(with = "crate::io::nan::f64_lossless")]
    pub cost_i: f64,
    /// `cos(Δℓ, −∇C_I)`.
    #[serde(with = "crate::io::nan::f64_lossless")]
    pub cos_grad_i: f64,
    /// `cos(Δℓ, Δℓ_CL)` without the pairs at their lower bound pushed further down.
    #[serde(with = "crate::io::nan::f64_lossless")]
    pub cos_cl_projected: f64,
    /// Extremes of the signal species `D*/x0` over the cycle.
    #[serde(with = "crate::io::nan::f64_lossless")]
    pub ds_min_over_x0: f64,
    #[serde(with = "crate::io::nan::f64_lossless")]
    pub ds_max_over_x0: f64,
    /// Largest relative drift of a conservation law.
    #[serde(with = "crate::io::nan::f64_lossless")]
    pub conservation_drift: f64,
    /// Largest debt (anti-linker) level at the end of the cycle.
    #[serde(with = "crate::io::nan::f64_lossless")]
    pub debt_max: f64,
    pub negative_warnings: u64,
    pub jacobian_evals: u64,
    pub lu_decompositions: u64,
}

/// Static results of the references that the chemical extras need.
pub struct ChemAux {
    cost_i: f64,
    grad_i: Vec<f64>,
    ideal: Vec<f64>,
}

/// A running chemical simulation.
pub struct ChemEngine<'a> {
    sys: &'a ChemSystem,
    /// The BDF runner (time series in `runner.samples` when `runner.record` is set).
    pub runner: Runner<'a>,
    example: usize,
    /// Solver counters at the start of the current cycle.
    base: BdfStats,
}

impl ChemEngine<'_> {
    /// Stats since `since`, extras since the start of the cycle.
    fn out(&mut self, watch: &Watch, since: BdfStats, entropy_since: f64) -> CycleOut<ChemExtras> {
        let s = self.runner.stats;
        let b = self.base;
        let d = since;
        let debt = self.sys.model.debt(&self.runner.x);
        CycleOut {
            energy: crate::learning::energy::Energy::entropy(self.runner.entropy - entropy_since),
            stats: SolveStats {
                rhs_evals: s.rhs_evals - d.rhs_evals,
                accepted_steps: s.accepted_steps - d.accepted_steps,
                rejected_steps: s.rejected_steps - d.rejected_steps,
            },
            extras: ChemExtras {
                ds_min_over_x0: watch.ds_min,
                ds_max_over_x0: watch.ds_max,
                conservation_drift: watch.drift,
                negative_warnings: watch.negative_warnings,
                debt_max: debt.into_iter().fold(0.0, f64::max),
                jacobian_evals: s.jacobian_evals - b.jacobian_evals,
                lu_decompositions: s.lu_decompositions - b.lu_decompositions,
                ..ChemExtras::default()
            },
        }
    }
}

impl Engine for ChemEngine<'_> {
    type State = ChemState;
    type Extras = ChemExtras;
    type Aux = ChemAux;

    fn snapshot(&self) -> ChemState {
        ChemState {
            x: self.runner.x.clone(),
            t: self.runner.t,
            stats: self.runner.stats,
            inputs: self.runner.inputs.clone(),
            example: self.example,
        }
    }

    fn restore(&mut self, s: ChemState) -> Result<(), SimError> {
        let m = &self.sys.model;
        let refuse = |what: String| Err(SimError::Checkpoint(what));
        if s.x.len() != m.network.species.len() {
            return refuse(format!(
                "state has {} species, the netlist {}",
                s.x.len(),
                m.network.species.len()
            ));
        }
        if s.inputs.len() != m.design.inputs.len() {
            return refuse(format!(
                "state has {} input totals, the netlist has {} inputs",
                s.inputs.len(),
                m.design.inputs.len()
            ));
        }
        if s.example >= m.examples.len() {
            return refuse(format!(
                "example {} out of range (the netlist has {} examples)",
                s.example,
                m.examples.len()
            ));
        }
        self.runner.x = s.x;
        self.runner.t = s.t;
        self.runner.stats = s.stats;
        self.runner.inputs = s.inputs;
        self.example = s.example;
        Ok(())
    }

    fn theta(&self) -> Vec<f64> {
        self.sys.model.ell_by_pair(&self.runner.x)
    }

    fn run_cycle(&mut self, cycle: usize, beta: f64) -> Result<CycleOut<ChemExtras>, SimError> {
        let m = &self.sys.model;
        let n = m.examples.len().max(1);
        let ex = cycle % n;
        self.base = self.runner.stats;
        let e0 = self.runner.entropy;
        self.runner.take_watch();
        if ex != self.example {
            // The inputs ramp to this cycle's example first (gated: no writing meanwhile).
            let sw = &m.protocol.switch;
            self.runner
                .switch_to(ex, self.sys.tau_switch.max(1e-3), sw.hold, sw.gated)?;
            self.example = ex;
        }
        self.runner.cycle(ex, beta)?;
        // The settle (docs/physics.md §6): β = 0 after a fast_fall cycle, before the next
        // cycle's input switch.
        let settle = self.sys.meta().settle();
        if settle > 0.0 {
            let gate = m.protocol.write_gate;
            self.runner.hold(ex, 0.0, gate, settle, "settle")?;
        }
        let w = self.runner.watch.clone();
        Ok(self.out(&w, self.base, e0))
    }

    fn references(
        &mut self,
        theta: &[f64],
        ex: usize,
        beta: f64,
    ) -> Result<(References, ChemAux), SimError> {
        let m = &self.sys.model;
        let d = &m.design;
        let an = analyse(d, theta, &m.examples[ex], beta)?;
        let th = d.theta_v / d.v0;
        let w = Window::new(th, d.tau_fast, d.tau_slow, d.kappa);
        Ok((
            References {
                cost: an.cost_sq,
                ideal: an.dell_cl.clone(),
                grad: an.grad_sq,
                window: vec![w; an.contrast.len()],
                contrast: an.contrast.iter().map(|a| a.abs()).collect(),
                gd_rate: None,
            },
            ChemAux {
                cost_i: an.cost_i,
                grad_i: an.grad_i,
                ideal: an.dell_cl,
            },
        ))
    }

    fn mean_cost(&mut self, theta: &[f64]) -> Result<f64, SimError> {
        let m = &self.sys.model;
        Ok(mean_cost(&m.design, theta, &m.examples)?)
    }

    fn loop_gain(&mut self, theta: &[f64], ex: usize) -> Result<Option<f64>, SimError> {
        let m = &self.sys.model;
        Ok(Some(m.design.loop_gain(theta, &m.examples[ex])?))
    }

    fn finish_extras(&self, x: &mut ChemExtras, theta_start: &[f64], delta: &[f64], aux: &ChemAux) {
        let neg: Vec<f64> = aux.grad_i.iter().map(|g| -g).collect();
        x.cost_i = aux.cost_i;
        x.cos_grad_i = cosine(delta, &neg);
        // Pairs at their lower bound that the rule pushes further down cannot follow it.
        let mut lmin = vec![f64::NEG_INFINITY; theta_start.len()];
        for l in &self.sys.model.learnables {
            if let Some(v) = lmin.get_mut(l.pair) {
                *v = l.min;
            }
        }
        let keep: Vec<bool> = (0..delta.len())
            .map(|e| {
                !(theta_start[e] <= lmin[e] + 1e-3 * (1.0 + lmin[e].abs()) && aux.ideal[e] < 0.0)
            })
            .collect();
        let proj = |v: &[f64]| -> Vec<f64> {
            v.iter()
                .zip(&keep)
                .map(|(x, k)| if *k { *x } else { 0.0 })
                .collect()
        };
        x.cos_cl_projected = cosine(&proj(delta), &proj(&aux.ideal));
    }
}
