//! Application layer: turns a validated [`Netlist`] into a ready-to-run simulation (the "auto"
//! settings resolved, diagnostics computed) and runs protocols. Used by the CLI, the examples and
//! the tests; knows no file formats.

use crate::netlist::{Netlist, ProtocolSpec};
use crate::physics::diagnostics::{
    diagnose, resolve_auto, thevenin_conductance, Level, LoadReport,
};
use crate::physics::dynamics::{Method, SolverSettings, SolverStats};
use crate::physics::model::{Network, Params};
use crate::physics::run::{CycleRecord, Runner, Sampling};
use crate::physics::PhysicsError;
use crate::protocol::{Protocol, Sawtooth, SwitchMode};
use serde::Serialize;

/// A resolved simulation.
#[derive(Clone, Debug, Serialize)]
pub struct Prepared {
    pub network: Network,
    pub protocol: Protocol,
    pub solver: SolverSettings,
    pub report: LoadReport,
    /// Explicitly non-physical choices (recorded in manifests).
    pub non_physical: Vec<String>,
    pub theta_c: f64,
}

impl Prepared {
    pub fn sawtooth(&self) -> Option<&Sawtooth> {
        match &self.protocol {
            Protocol::Sawtooth(s) => Some(s),
            Protocol::Hold { .. } => None,
        }
    }
}

/// Resolve a netlist: thresholds and s_ref ("auto"), G_ref, τ_switch, and diagnostics.
pub fn prepare(nl: &Netlist) -> Result<Prepared, PhysicsError> {
    let mut net = nl.network.clone();
    let mut non_physical = Vec::new();
    let protocol = match &nl.protocol {
        ProtocolSpec::Hold {
            beta,
            duration,
            from_rest,
        } => Protocol::Hold {
            beta: *beta,
            duration: *duration,
            from_rest: *from_rest,
        },
        ProtocolSpec::Sawtooth(s) => {
            let g_ref = match s.g_ref {
                Some(g) => g,
                None => thevenin_conductance(&net)?,
            };
            let saw = Sawtooth {
                beta_max: s.beta_max,
                tau_fast: s.tau_fast,
                tau_slow: s.tau_slow,
                direction: s.direction,
                ramp_shape: s.ramp_shape,
                g_ref,
                switch_mode: s.switch_mode,
                tau_switch: s.tau_switch.unwrap_or(0.0),
                beta_schedule: s.beta_schedule,
                cycles: s.cycles,
                from_rest: s.from_rest,
                settle: s.direction.tail(net.kernel_time(&net.initial_params())),
            };
            if s.switch_mode == SwitchMode::ResetIdealized && net.examples.len() > 1 {
                non_physical.push(
                    "switch.mode = reset_idealized: filter states are reset to the new free DC state at every example switch (non-physical global reset)".to_string(),
                );
            }
            Protocol::Sawtooth(saw)
        }
    };
    let saw = match &protocol {
        Protocol::Sawtooth(s) => Some(s.clone()),
        _ => None,
    };
    let rho_auto = resolve_auto(&mut net, saw.as_ref(), nl.theta_c, nl.rho_loop_gain)?;
    let mut protocol = protocol;
    let mut report = diagnose(&net, saw.as_ref());
    if let (Protocol::Sawtooth(s), ProtocolSpec::Sawtooth(spec)) = (&mut protocol, &nl.protocol) {
        if spec.tau_switch.is_none() && net.examples.len() > 1 {
            let req = report.tau_switch_required.unwrap_or(0.0);
            s.tau_switch = (spec.switch_safety * req).max(s.tau_slow);
            // Re-diagnose with the resolved switch time.
            report = diagnose(&net, Some(s));
        }
    }
    if let Some(note) = rho_auto {
        report.push(Level::Info, "rho_auto", note);
    }
    let mut solver = nl.solver;
    if solver.method == Method::Auto {
        solver.method = auto_method(report.stiffness_ratio);
        report.push(
            Level::Info,
            "solver_auto",
            format!(
                "solver method auto → {} (stiffness ratio S = {}, threshold {AUTO_STIFFNESS_RATIO:.0e})",
                format!("{:?}", solver.method).to_lowercase(),
                report
                    .stiffness_ratio
                    .map_or("unknown".to_string(), |s| format!("{s:.3e}"))
            ),
        );
    }
    Ok(Prepared {
        network: net,
        protocol,
        solver,
        report,
        non_physical,
        theta_c: nl.theta_c,
    })
}

/// Stiffness ratio `S = T_cycle/τ_min` above which `"method": "auto"` picks the implicit
/// method (docs/physics.md §5: Dopri5 costs ~2S RHS evaluations per cycle).
pub const AUTO_STIFFNESS_RATIO: f64 = 1e4;

/// The method `"auto"` resolves to for a load-time stiffness ratio.
pub fn auto_method(stiffness_ratio: Option<f64>) -> Method {
    match stiffness_ratio {
        Some(s) if s > AUTO_STIFFNESS_RATIO => Method::Bdf,
        _ => Method::Dopri5,
    }
}

/// Options of [`run`].
#[derive(Copy, Clone, Debug)]
pub struct RunOptions {
    /// Override the number of cycles.
    pub cycles: Option<usize>,
    pub sampling: Sampling,
    /// Record time series only for the first `sample_cycles` cycles (and the last one).
    pub sample_cycles: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            cycles: None,
            sampling: Sampling { per_segment: 20 },
            sample_cycles: 10,
        }
    }
}

/// Result of a run.
pub struct RunOutput<'a> {
    pub cycles: Vec<CycleRecord>,
    pub runner: Runner<'a>,
    pub final_params: Params,
    pub stats: SolverStats,
    pub final_cost: f64,
    /// Energy of a `hold` protocol (sawtooth runs: per cycle in `cycles`).
    pub hold_energy: Option<crate::learning::energy::Energy>,
}

/// Run the protocol. `progress(cycle, record)` is called after every cycle.
pub fn run<'a>(
    prep: &'a Prepared,
    opts: RunOptions,
    mut progress: impl FnMut(usize, usize, &CycleRecord),
) -> Result<RunOutput<'a>, PhysicsError> {
    let net = &prep.network;
    let mut runner = Runner::new(net, prep.solver, net.initial_params())?;
    let mut cycles = Vec::new();
    let mut hold_energy = None;
    match &prep.protocol {
        Protocol::Hold {
            beta,
            duration,
            from_rest,
        } => {
            if *from_rest {
                runner.states = crate::physics::model::States::zeros(net.n_elements());
            }
            hold_energy = Some(runner.run_hold(*beta, *duration, opts.sampling)?);
        }
        Protocol::Sawtooth(saw) => {
            if saw.from_rest {
                runner.states = crate::physics::model::States::zeros(net.n_elements());
            }
            let n = opts.cycles.unwrap_or(saw.cycles);
            let cost0 = runner.cost();
            let mut cost = cost0;
            for k in 0..n {
                let beta = saw.beta_schedule.beta(saw.beta_max, cost0, cost);
                let sample = k < opts.sample_cycles || k + 1 == n;
                let sampling = if sample {
                    opts.sampling
                } else {
                    Sampling { per_segment: 0 }
                };
                let rec = runner.run_cycle(saw, beta, sampling)?;
                cost = runner.cost();
                progress(k, n, &rec);
                cycles.push(rec);
            }
        }
    }
    let final_cost = runner.cost();
    Ok(RunOutput {
        final_params: runner.params.clone(),
        stats: runner.dynamics.stats,
        cycles,
        runner,
        final_cost,
        hold_energy,
    })
}
