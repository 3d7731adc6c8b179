//! `physlearn synapse`, `ladder`, `figure` and `sweep-merge`: the synapse and kernel lab.

use super::{progress_bar, Failure};
use clap::{Args, ValueEnum};
use physlearn::io::output::{Manifest, StagedDir};
use physlearn::io::plot::{xy_plot, Figure, Mark, Series};
use physlearn::synapse::api::{
    delta_w_curve, ladder_summary, CurveSpec, KernelChoice, KernelFamily,
};
use physlearn::synapse::figures::{self, FigureId, FigureOptions};
use physlearn::synapse::kernel::KernelSpec;
use physlearn::synapse::protocol::Threshold;
use physlearn::synapse::{Shard, SynapseError, Table};
use serde_json::json;
use std::path::PathBuf;
use std::str::FromStr;

impl From<SynapseError> for Failure {
    fn from(e: SynapseError) -> Self {
        match e {
            SynapseError::Numerical(_) => Failure::numerical(e),
            SynapseError::Io(_) => Failure::other(e),
            _ if e.is_bad_input() => Failure::bad_input(e),
            _ => Failure::other(e),
        }
    }
}

/// Write `text` to stdout; a closed pipe (e.g. `| head`) ends the output quietly.
fn emit(text: &str) -> Result<(), Failure> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::other(e)),
    }
}

fn command_line() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}

/// Kernel families of `physlearn synapse`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KernelKind {
    /// E. coli polynomial kernel a e^{-bt}(t - c t^2), b = 1/tau_k (App. C/D), M1 = -1.
    Ecoli,
    /// Monotone exponential (I/tau_k) e^{-t/tau_k} (default area 1).
    Exp,
    /// Integral feedback (eqs. 14-15), tau_x = tau_k, M1 = -1; a leak sets the area.
    Ifb,
    /// Markov-ladder kernel (App. F); area and M1 follow from gamma, F, step.
    Ladder,
}

fn parse_theta(s: &str) -> Result<Threshold, String> {
    if s.eq_ignore_ascii_case("auto") {
        return Ok(Threshold::Adaptive);
    }
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(Threshold::Fixed(v)),
        _ => Err(format!("expected a number >= 0 or 'auto', got {s:?}")),
    }
}

/// One weight-update curve Δw(A) (eq. 7) of a single synapse.
#[derive(Debug, Args)]
pub struct SynapseArgs {
    /// Kernel family.
    #[arg(long, value_enum, default_value = "ecoli")]
    pub kernel: KernelKind,
    /// Kernel area I (default 0 for ecoli/ifb, 1 for exp; not allowed for ladder).
    #[arg(long, allow_hyphen_values = true)]
    pub area: Option<f64>,
    /// Kernel timescale tau_K (time units; the paper's E. coli kernel has 1/20).
    #[arg(long = "tau-k", default_value_t = 0.05)]
    pub tau_k: f64,
    /// Fast time tau_u of the integral-feedback kernel (default tau_k/10).
    #[arg(long = "tau-u")]
    pub tau_u: Option<f64>,
    /// Ladder: non-equilibrium drive gamma (gamma = 1 is detailed balance).
    #[arg(long, default_value_t = 0.01)]
    pub gamma: f64,
    /// Ladder: vertical/horizontal rate ratio F.
    #[arg(long = "F", default_value_t = 25.0)]
    pub f: f64,
    /// Ladder: ligand step height (µM).
    #[arg(long, default_value_t = 200.0)]
    pub step: f64,
    /// Rise time tau_f of the sawtooth (free -> clamped).
    #[arg(long = "tau-fast", allow_hyphen_values = true)]
    pub tau_fast: f64,
    /// Relaxation time tau_s of the sawtooth (clamped -> free).
    #[arg(long = "tau-slow", allow_hyphen_values = true)]
    pub tau_slow: f64,
    /// Mean signal s0 = (s_C + s_F)/2.
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    pub s0: f64,
    /// Threshold theta (>= 0) or 'auto' for eq. 45 with A_max = max |A|.
    #[arg(long, default_value = "auto", value_parser = parse_theta, allow_hyphen_values = true)]
    pub theta: Threshold,
    /// Amplitudes A = s_C - s_F, comma separated.
    #[arg(
        long,
        value_delimiter = ',',
        required = true,
        allow_hyphen_values = true
    )]
    pub amplitudes: Vec<f64>,
    /// Time step of kernel and protocol (paper: 1e-4).
    #[arg(long, default_value_t = 1e-4)]
    pub dt: f64,
    /// Print JSON {"amplitudes", "delta_w", ...} on stdout.
    #[arg(long)]
    pub json: bool,
    /// Write delta_w.csv, kernel.csv, synapse.png/svg and manifest.json into DIR.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

fn kernel_spec(a: &SynapseArgs) -> Result<KernelSpec, Failure> {
    let family = match a.kernel {
        KernelKind::Ecoli => KernelFamily::Ecoli,
        KernelKind::Exp => KernelFamily::Exp,
        KernelKind::Ifb => KernelFamily::Ifb,
        KernelKind::Ladder => KernelFamily::Ladder,
    };
    let choice = KernelChoice {
        family,
        area: a.area,
        tau_k: a.tau_k,
        tau_u: a.tau_u,
        gamma: a.gamma,
        f: a.f,
        step: a.step,
    };
    Ok(choice.spec(a.dt)?)
}

/// Run `physlearn synapse`.
pub fn run_synapse(a: SynapseArgs) -> Result<(), Failure> {
    let spec = kernel_spec(&a)?;
    let curve = delta_w_curve(&CurveSpec {
        kernel: spec.clone(),
        tau_fast: a.tau_fast,
        tau_slow: a.tau_slow,
        s0: a.s0,
        theta: a.theta,
        amplitudes: a.amplitudes.clone(),
        dt: a.dt,
    })?;
    let (dw, prediction, kernel) = (&curve.delta_w, &curve.ideal_eq10, &curve.sampled);
    let (theta, area, m1) = (curve.theta, curve.area, curve.first_moment);
    let summary = serde_json::to_value(&curve).map_err(Failure::other)?;
    if let Some(out) = &a.out {
        let stage = StagedDir::new(out)?;
        physlearn::io::output::write_columns_csv(
            &stage.path("delta_w.csv"),
            &["amplitude", "delta_w", "ideal_eq10"],
            &[&a.amplitudes, dw, prediction],
        )?;
        physlearn::io::output::write_columns_csv(
            &stage.path("kernel.csv"),
            &["t", "K"],
            &[&kernel.times(), kernel.values()],
        )?;
        let mut order: Vec<usize> = (0..a.amplitudes.len()).collect();
        order.sort_by(|&i, &j| a.amplitudes[i].total_cmp(&a.amplitudes[j]));
        let xs: Vec<f64> = order.iter().map(|&i| a.amplitudes[i]).collect();
        let ys: Vec<f64> = order.iter().map(|&i| dw[i]).collect();
        let ps: Vec<f64> = order.iter().map(|&i| prediction[i]).collect();
        let fig = Figure::new(
            &format!(
                "{} kernel (I = {area:.3}), tau_f = {}, tau_s = {}, theta = {theta:.4}",
                spec.name(),
                a.tau_fast,
                a.tau_slow
            ),
            "amplitude A",
            "weight update dw",
        )
        .add(Series::line("dw(A)", xs.clone(), ys).with_mark(Mark::LinePoints))
        .add(Series::line("A + I s0 tau_f", xs, ps).with_mark(Mark::Reference));
        let kfig = Figure::new("kernel", "t", "K(t)").add(Series::line(
            "",
            kernel.times(),
            kernel.values().to_vec(),
        ));
        for ext in ["png", "svg"] {
            xy_plot(
                &stage.path(&format!("synapse.{ext}")),
                &[fig.clone(), kfig.clone()],
            )?;
        }
        let mut m = Manifest::new(&command_line());
        m.parameters = json!({"kernel": spec, "tau_fast": a.tau_fast, "tau_slow": a.tau_slow,
            "s0": a.s0, "theta": a.theta, "dt": a.dt, "amplitudes": a.amplitudes});
        m.statistics = json!({"theta": theta, "area": area, "first_moment": m1,
            "period_cells": curve.period_cells});
        stage.write_json("manifest.json", &m)?;
        let dir = stage.commit()?;
        eprintln!("wrote {}", dir.display());
    }
    if a.json {
        emit(&(serde_json::to_string(&summary).map_err(Failure::other)? + "\n"))?;
    } else if a.out.is_none() {
        let mut text = format!(
            "kernel {} area {area:.6e} first_moment {m1:.6e} theta {theta:.6e}\namplitude,delta_w\n",
            spec.name()
        );
        for (amp, d) in a.amplitudes.iter().zip(dw) {
            text.push_str(&format!("{amp},{d:.10e}\n"));
        }
        emit(&text)?;
    }
    Ok(())
}

/// Markov-ladder kernel, its moments and the steady-state dissipation (App. F).
#[derive(Debug, Args)]
pub struct LadderArgs {
    /// Non-equilibrium drive gamma > 0 (1 = detailed balance).
    #[arg(long, allow_hyphen_values = true)]
    pub gamma: f64,
    /// Vertical/horizontal rate ratio F.
    #[arg(long = "F", default_value_t = 25.0, allow_hyphen_values = true)]
    pub f: f64,
    /// Ligand step height (µM).
    #[arg(long, default_value_t = 200.0, allow_hyphen_values = true)]
    pub step: f64,
    /// Markov-time step of the step response (paper 5e-4).
    #[arg(long, default_value_t = 5e-4)]
    pub dt: f64,
    /// Print JSON (area, first_moment, dissipation, kernel, ...) on stdout.
    #[arg(long)]
    pub json: bool,
    /// Write kernel.csv, ladder.png/svg and manifest.json into DIR.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Run `physlearn ladder`.
pub fn run_ladder(a: LadderArgs) -> Result<(), Failure> {
    let lk = ladder_summary(a.gamma, a.f, a.step, a.dt)?;
    let p = lk.params.clone();
    let summary = serde_json::to_value(&lk).map_err(Failure::other)?;
    if let Some(out) = &a.out {
        let stage = StagedDir::new(out)?;
        physlearn::io::output::write_columns_csv(
            &stage.path("kernel.csv"),
            &["t", "K"],
            &[&lk.sampled.times(), lk.sampled.values()],
        )?;
        let fig = Figure::new(
            &format!(
                "ladder kernel gamma = {}, F = {}, step = {}: I = {:.4}, sigma = {:.4}",
                a.gamma, a.f, a.step, lk.area, lk.dissipation
            ),
            "t (compressed)",
            "K(t)",
        )
        .add(Series::line(
            "",
            lk.sampled.times(),
            lk.sampled.values().to_vec(),
        ));
        for ext in ["png", "svg"] {
            xy_plot(
                &stage.path(&format!("ladder.{ext}")),
                std::slice::from_ref(&fig),
            )?;
        }
        let mut m = Manifest::new(&command_line());
        m.parameters = json!(p);
        m.statistics = json!({"area": lk.area, "first_moment": lk.first_moment,
            "dissipation": lk.dissipation, "dissipation_cycle": lk.dissipation_cycle,
            "max_probability_error": lk.max_probability_error});
        stage.write_json("manifest.json", &m)?;
        let dir = stage.commit()?;
        eprintln!("wrote {}", dir.display());
    }
    if a.json {
        emit(&(serde_json::to_string(&summary).map_err(Failure::other)? + "\n"))?;
    } else if a.out.is_none() {
        emit(&format!(
            "gamma {} F {} step {}\narea {:.10e}\nfirst_moment {:.10e}\ndissipation {:.10e}\ndissipation_cycle {:.10e}\n",
            a.gamma,
            a.f,
            a.step,
            lk.area,
            lk.first_moment,
            lk.dissipation,
            lk.dissipation_cycle
        ))?;
    }
    Ok(())
}

/// Data (CSV), PNG and SVG of one of the paper's synapse figures.
#[derive(Debug, Args)]
pub struct FigureArgs {
    /// fig2, fig4b, fig4c, fig5b, fig5c, fig6b, fig8 or fig9a.
    pub figure: String,
    /// Output directory (written atomically).
    #[arg(long)]
    pub out: PathBuf,
    /// Time step of kernels and protocols (protocol time).
    #[arg(long, default_value_t = 1e-3)]
    pub dt: f64,
    /// Sweeps: number of tasks (default: paper's 100).
    #[arg(long)]
    pub tasks: Option<usize>,
    /// Sweeps: master seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Sweeps: run shard i of n (tasks t with t mod n = i); default from SLURM_ARRAY_TASK_ID.
    #[arg(long)]
    pub shard: Option<String>,
}

/// Run `physlearn figure`.
pub fn run_figure(a: FigureArgs) -> Result<(), Failure> {
    let id = FigureId::from_str(&a.figure)?;
    let shard = match &a.shard {
        Some(s) => Shard::parse(s)?,
        None if id.is_sweep() => match Shard::from_slurm_env()? {
            Some(s) => {
                eprintln!("shard {}/{} from SLURM_ARRAY_TASK_ID", s.index, s.count);
                s
            }
            None => Shard::ALL,
        },
        None => Shard::ALL,
    };
    let opts = FigureOptions {
        dt: a.dt,
        tasks: a.tasks,
        seed: a.seed,
        shard,
    };
    let pb = progress_bar(figures::progress_len(id, &opts) as u64, id.name());
    let tick = || pb.inc(1);
    let fo = figures::compute(id, &opts, &tick)?;
    pb.finish_and_clear();
    let dir = figures::write_output(&a.out, &fo, &command_line())?;
    eprintln!("wrote {}", dir.display());
    Ok(())
}

/// Merge shard directories of a network sweep, or of a sweep figure and draw it.
#[derive(Debug, Args)]
pub struct SweepMergeArgs {
    /// Output directory of the merged sweep or figure (a new directory).
    #[arg(long)]
    pub out: PathBuf,
    /// Shard directories written by `physlearn sweep … --shard i/n` or by
    /// `physlearn figure <sweep> --shard i/n` (in any order).
    #[arg(required = true)]
    pub shards: Vec<PathBuf>,
}

/// Run `physlearn sweep-merge`.
pub fn run_sweep_merge(a: SweepMergeArgs) -> Result<(), Failure> {
    if a.shards.iter().any(|d| super::sweep::is_sweep_dir(d)) {
        return super::sweep::merge(&a.out, &a.shards);
    }
    let fo = figures::merge_shards(&a.shards)?;
    let dir = figures::write_output(&a.out, &fo, &command_line())?;
    let rows: usize = fo
        .tables
        .iter()
        .map(|(_, t): &(String, Table)| t.rows.len())
        .sum();
    eprintln!(
        "merged {} shards ({rows} rows) into {}",
        a.shards.len(),
        dir.display()
    );
    Ok(())
}
