//! `physlearn compare` and `physlearn train`, written once for every family.

use super::{failure_at, load_model, progress_bar, sim_failure, Failure};
use anyhow::{anyhow, Context};
use clap::Args;
use physlearn::io::output::{write_atomic, Manifest};
use physlearn::io::plot::{network_delta_plot, xy_plot, Figure, Mark, Series};
use physlearn::io::tables::csv_text;
use physlearn::learning::checkpoint_file::CheckpointFile;
use physlearn::learning::session::netlist_path_from;
use physlearn::learning::{LearningSystem, Session, SessionOptions};
use physlearn::{with_system, Model, System};
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Netlist JSON file (sawtooth protocol).
    pub file: PathBuf,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Run even when the load-time checks report errors.
    #[arg(long)]
    pub force: bool,
}

pub fn compare(a: CompareArgs) -> Result<(), Failure> {
    let model = load_model(&a.file)?;
    let r = model.compare(a.force).map_err(|e| failure_at(&a.file, e))?;
    if a.json {
        say!("{}", serde_json::to_string(&r).map_err(Failure::other)?);
        return Ok(());
    }
    let c = &r.cmp;
    say!(
        "one cycle of {} ({} family, example 0, initial θ: {} learnables)",
        a.file.display(),
        r.family.name(),
        r.learnables.len()
    );
    say!("  cos(Δθ, Δθ_CL)               {:>10.4}", c.cos_cl);
    say!("  cos(Δθ, −∇C)                 {:>10.4}", c.cos_grad);
    say!(
        "  LSQ slope / offset           {:>10.4} / {:.3e}",
        c.slope,
        c.offset
    );
    say!(
        "  wrong-sign fraction          {:>10.4}",
        c.wrong_sign_fraction
    );
    say!("  contrast mass in window      {:>10.4}", c.window_fraction);
    say!(
        "  max contrast / lower edge    {:>10.3}",
        c.max_contrast_over_lower_edge
    );
    match r.loop_gain {
        Some(g) => say!("  loop gain G                  {g:>10.4}"),
        None => say!("  loop gain G                  not computed (network too large)"),
    }
    say!("  cost                         {:>10.4e}", r.cost);
    say!(
        "  RHS evaluations / rejected   {:>10} / {}",
        r.stats.rhs_evals,
        r.stats.rejected_steps
    );
    say!(
        "  wall time                    {:>10.4} s (tail {:.1})",
        r.wall_seconds,
        r.tail
    );
    for (k, v) in &r.extras {
        say!("  {k:<28} {v:>10}");
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Netlist JSON file (sawtooth protocol). Not needed with --resume.
    pub file: Option<PathBuf>,
    /// Output directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Number of cycles (default: the netlist's protocol.cycles).
    #[arg(long)]
    pub cycles: Option<usize>,
    /// Cycles of the energy baseline, the same protocol with learning switched off (ρ = 0)
    /// from the same initial state (default: as many as the run; 0: no baseline).
    #[arg(long)]
    pub baseline_cycles: Option<usize>,
    /// Write a checkpoint (full state, atomically) every K cycles (kept in the checkpoint: a
    /// resume goes on with the same K unless given another).
    #[arg(long)]
    pub checkpoint_every: Option<usize>,
    /// Continue the run stored in DIR (its checkpoint.json); results go to DIR.
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Run even when the load-time checks report errors, and start a new run in an existing
    /// non-empty --out directory (a previous run's checkpoint there is removed).
    #[arg(long)]
    pub force: bool,
    /// Stop after this many cycles in this invocation (leaves a checkpoint; for testing resume).
    #[arg(long, hide = true)]
    pub stop_after: Option<usize>,
}

pub fn train(a: TrainArgs) -> Result<(), Failure> {
    if a.cycles == Some(0) || a.checkpoint_every == Some(0) {
        return Err(Failure::bad_input(anyhow!(
            "--cycles and --checkpoint-every must be ≥ 1"
        )));
    }
    let (dir, file, resume) = match (&a.resume, &a.file, &a.out) {
        (Some(dir), _, _) => {
            let path = dir.join("checkpoint.json");
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("{}: no checkpoint to resume", dir.display()))
                .map_err(Failure::bad_input)?;
            #[derive(serde::Deserialize)]
            struct Peek {
                netlist_path: String,
                #[serde(default)]
                netlist_path_bytes: Option<Vec<u8>>,
            }
            let peek: Peek = serde_json::from_str(&text)
                .with_context(|| format!("{}: invalid checkpoint", path.display()))
                .map_err(Failure::bad_input)?;
            let file = a.file.clone().unwrap_or_else(|| {
                netlist_path_from(&peek.netlist_path, peek.netlist_path_bytes.as_deref())
            });
            (dir.clone(), file, Some(text))
        }
        (None, Some(f), Some(o)) => (o.clone(), f.clone(), None),
        _ => {
            return Err(Failure::bad_input(anyhow!(
                "train needs FILE --out DIR, or --resume DIR"
            )))
        }
    };
    if resume.is_none() {
        physlearn::io::output::check_target(&dir, a.force)?;
    }
    let model = load_model(&file)?;
    let opts = SessionOptions {
        cycles: a.cycles,
        force: a.force,
        ..SessionOptions::default()
    };
    std::fs::create_dir_all(&dir).map_err(|e| Failure::other(anyhow!("{}: {e}", dir.display())))?;
    // The lock is held before the checkpoint is read: a resume cuts the row journal back.
    let _lock = RunLock::take(&dir)?;
    let ck_path = dir.join("checkpoint.json");
    with_system!(model.system(), |sys| {
        let (mut session, mut ck_file) = match &resume {
            Some(_) => {
                let (ck, f) = CheckpointFile::load(&ck_path, model.sha256(), sys)
                    .map_err(|e| Failure::bad_input(anyhow!("{e}")))?;
                (
                    Session::resume(sys, ck, &opts).map_err(sim_failure(&file))?,
                    f,
                )
            }
            None => {
                let mut s = Session::new(sys, &opts, &file.display().to_string(), model.sha256())
                    .map_err(sim_failure(&file))?;
                s.record_netlist_path(&file);
                // A previous run's checkpoint here must not be resumed by mistake.
                (s, CheckpointFile::create(&ck_path)?)
            }
        };
        // The checkpoint interval of the run: given now, or the one the run was started with.
        let every = a.checkpoint_every.or(session.checkpoint().checkpoint_every);
        session.set_checkpoint_every(every);
        drive(&mut session, &mut ck_file, &a, every, &file)?;
        if session.done() {
            let nb = a
                .baseline_cycles
                .unwrap_or(session.checkpoint().total_cycles);
            session.run_baseline(nb).map_err(sim_failure(&file))?;
            write_outputs(&dir, &session, &model, &file).map_err(Failure::other)?;
            let s = session.summary();
            eprintln!(
                "wrote {}: {} cycles, cost {:.3e} → {:.3e} (×{:.1} lower; CL {}, GD {})",
                dir.display(),
                s.cycles,
                s.cost_initial,
                s.cost_final.phys,
                s.cost_reduction.phys,
                s.cost_final.cl.map_or("—".into(), |c| format!("{c:.3e}")),
                s.cost_final.gd.map_or("—".into(), |c| format!("{c:.3e}")),
            );
        }
        Ok(())
    })
}

/// Run the session, writing checkpoints as asked.
fn drive<S: LearningSystem>(
    session: &mut Session<'_, S>,
    ck_file: &mut CheckpointFile,
    a: &TrainArgs,
    every: Option<usize>,
    file: &Path,
) -> Result<(), Failure> {
    super::graceful_interrupts();
    let pb = progress_bar(session.checkpoint().total_cycles as u64, "train");
    pb.set_position(session.checkpoint().next_cycle as u64);
    let mut this_run = 0usize;
    while !session.done() {
        let row = session.step().map_err(sim_failure(file))?;
        let msg = format!("cost {:.3e} cos {:.3}", row.cost_phys, row.cmp.cos_cl);
        let wall = row.wall_seconds;
        this_run += 1;
        let next = session.checkpoint().next_cycle;
        pb.set_position(next as u64);
        pb.set_message(msg);
        let due = every.is_some_and(|k| next.is_multiple_of(k));
        if this_run == 1 {
            warn_long_run(wall, session, every.is_some());
        }
        let interrupted = super::interrupted() && !session.done();
        if due || a.stop_after == Some(this_run) || interrupted {
            ck_file.save(session)?;
        }
        if interrupted {
            pb.finish_and_clear();
            let dir = ck_file.path().parent().unwrap_or(Path::new("."));
            return Err(Failure::interrupted(anyhow!(
                "interrupted after cycle {next} of {}; checkpoint written, continue with \
                 `physlearn train --resume {}`",
                session.checkpoint().total_cycles,
                dir.display()
            )));
        }
        if a.stop_after == Some(this_run) && !session.done() {
            pb.finish_and_clear();
            let dir = ck_file.path().parent().unwrap_or(Path::new("."));
            eprintln!(
                "stopped after {this_run} cycles; resume with --resume {}",
                dir.display()
            );
            return Ok(());
        }
    }
    pb.finish_and_clear();
    Ok(())
}

/// Budget: after the first cycle, estimate the rest of the run; a run of more than an hour
/// without checkpoints is one interruption away from being lost, so say so.
fn warn_long_run<S: LearningSystem>(first_wall: f64, s: &Session<'_, S>, checkpoints: bool) {
    let ck = s.checkpoint();
    let left = ck.total_cycles.saturating_sub(ck.next_cycle) as f64;
    let est = first_wall * left;
    if est > 3600.0 && !checkpoints {
        let every = ((600.0 / first_wall.max(1e-9)).ceil() as usize).max(1);
        eprintln!(
            "warning: the remaining {left} cycles will take about {:.1} h at {:.3} s per cycle \
             and no --checkpoint-every was given; an interruption would lose the run (e.g. \
             --checkpoint-every {every} writes one every ~10 minutes)",
            est / 3600.0,
            first_wall
        );
    }
}

fn write_outputs<S: LearningSystem>(
    dir: &Path,
    t: &Session<'_, S>,
    model: &Model,
    file: &Path,
) -> anyhow::Result<()> {
    let ck = t.checkpoint();
    write_atomic(&dir.join("train.csv"), csv_text(t.rows())?.as_bytes())?;
    write_atomic(
        &dir.join("weights_final.csv"),
        csv_text(&t.final_thetas())?.as_bytes(),
    )?;
    if !t.epochs().is_empty() {
        write_atomic(&dir.join("epochs.csv"), csv_text(t.epochs())?.as_bytes())?;
    }
    let summary = t.summary();
    let mut sj = serde_json::to_value(&summary)?;
    if let Some(m) = sj.as_object_mut() {
        m.insert(
            "first_cycle".into(),
            serde_json::to_value(t.rows().first())?,
        );
        m.insert("last_cycle".into(), serde_json::to_value(t.rows().last())?);
        m.insert("epoch_rows".into(), serde_json::to_value(t.epochs())?);
    }
    // summary.json is written last: its presence marks a complete output directory.
    let summary_text = serde_json::to_string_pretty(&sj)?;
    let bytes = std::fs::read(file).unwrap_or_default();
    let mut m = Manifest::new("train").with_input(file, &bytes);
    m.parameters = json!({
        "family": summary.family,
        "cycles": ck.total_cycles,
        "meta": model.meta(),
        "system": with_system!(model.system(), |s| serde_json::to_value(s.meta())?),
    });
    m.statistics = json!({
        "rhs_evals": t.rows().iter().map(|r| r.stats.rhs_evals).sum::<u64>(),
        "rejected_steps": t.rows().iter().map(|r| r.stats.rejected_steps).sum::<u64>(),
        "diagnostics": model.diagnostics(),
    });
    m.seed = model
        .meta()
        .get("seeds")
        .and_then(|s| s.get("student"))
        .and_then(|v| v.as_u64());
    m.non_physical = summary.non_physical.clone();
    write_atomic(
        &dir.join("manifest.json"),
        serde_json::to_string_pretty(&m)?.as_bytes(),
    )?;
    // Plots.
    let rows = t.rows();
    let cyc: Vec<f64> = rows.iter().map(|r| r.cycle as f64).collect();
    let positive = |v: f64| v.max(1e-300);
    let mut cost_fig = Figure::new("cost vs cycle", "cycle", "cost C")
        .log_y()
        .add(Series::line(
            "physical TCL",
            cyc.clone(),
            rows.iter().map(|r| positive(r.cost_phys)).collect(),
        ));
    if ck.cl.is_some() {
        cost_fig = cost_fig.add(Series::line(
            "ideal CL",
            cyc.clone(),
            rows.iter()
                .map(|r| positive(r.cost_cl.unwrap_or(f64::NAN)))
                .collect(),
        ));
    }
    if ck.gd.is_some() {
        cost_fig = cost_fig.add(Series::line(
            "gradient descent",
            cyc.clone(),
            rows.iter()
                .map(|r| positive(r.cost_gd.unwrap_or(f64::NAN)))
                .collect(),
        ));
    }
    // Energy per cycle by element class (stacked), next to the cost curves.
    let classes: Vec<(String, Vec<f64>)> = rows
        .first()
        .map(|r| r.energy.classes())
        .unwrap_or_default()
        .iter()
        .map(|(name, _)| {
            let v: Vec<f64> = rows
                .iter()
                .map(|r| {
                    r.energy
                        .classes()
                        .iter()
                        .find(|(n, _)| n == name)
                        .map_or(0.0, |c| c.1)
                })
                .collect();
            (name.trim_start_matches("diss_").replace('_', " "), v)
        })
        .filter(|(_, v)| v.iter().any(|x| x.abs() > 0.0))
        .collect();
    if classes.is_empty() {
        xy_plot(&dir.join("cost.png"), &[cost_fig])?;
    } else {
        let mut e_fig = Figure::new(
            "energy dissipated per cycle, by element class",
            "cycle",
            "energy per cycle (netlist units)",
        );
        let cyc_x: Vec<f64> = rows.iter().map(|r| r.cycle as f64).collect();
        for s in Series::stacked(&cyc_x, &classes) {
            e_fig = e_fig.add(s);
        }
        xy_plot(&dir.join("cost.png"), &[cost_fig, e_fig])?;
    }
    let cos_fig = Figure::new("alignment per cycle", "cycle", "cosine")
        .add(Series::line(
            "cos(Δθ, Δθ_CL)",
            cyc.clone(),
            rows.iter().map(|r| r.cmp.cos_cl).collect(),
        ))
        .add(Series::line(
            "cos(Δθ, −∇C)",
            cyc,
            rows.iter().map(|r| r.cmp.cos_grad).collect(),
        ));
    xy_plot(&dir.join("cosine.png"), &[cos_fig])?;
    let scatter = |title: &str, (p, c): &(Vec<f64>, Vec<f64>)| {
        let lo = c
            .iter()
            .chain(p.iter())
            .copied()
            .fold(f64::INFINITY, f64::min);
        let hi = c
            .iter()
            .chain(p.iter())
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        Figure::new(title, "Δθ_CL", "Δθ_phys")
            .add(Series::points("learnables", c.clone(), p.clone()))
            .add(Series::line("y = x", vec![lo, hi], vec![lo, hi]).with_mark(Mark::Reference))
    };
    xy_plot(
        &dir.join("scatter.png"),
        &[
            scatter("first cycle", &ck.first_scatter),
            scatter("last cycle", &ck.last_scatter),
        ],
    )?;
    if let System::Network(n) = model.system() {
        let net = n.network();
        let edges: Vec<(usize, usize)> = net
            .elements
            .iter()
            .map(|e| (e.nodes.0 .0, e.nodes.1 .0))
            .collect();
        let mut hl: Vec<(usize, String)> = Vec::new();
        let dpn = net.domain.dofs_per_node();
        for &d in &net.dirichlet_dofs {
            if d % dpn == 0 {
                hl.push((d / dpn, format!("src {}", net.node_names[d / dpn])));
            }
        }
        for o in &net.outputs {
            for nd in &o.nodes {
                hl.push((nd.0, o.name.clone()));
            }
        }
        let hl_ref: Vec<(usize, &str)> = hl.iter().map(|(n, s)| (*n, s.as_str())).collect();
        let w_final = n
            .params_of(
                &t.final_thetas()
                    .iter()
                    .map(|r| r.theta_phys)
                    .collect::<Vec<_>>(),
            )
            .w;
        // Colour: the learned change of each element's learnable (its weight, or its rest
        // length where only that learns); width: the learned weight.
        let p_final = n.params_of(
            &t.final_thetas()
                .iter()
                .map(|r| r.theta_phys)
                .collect::<Vec<_>>(),
        );
        let p0 = net.initial_params();
        let rest_only = net
            .elements
            .iter()
            .all(|e| !e.learns_weight() || !e.learns());
        let delta: Vec<f64> = (0..net.n_elements())
            .map(|e| {
                if rest_only {
                    p_final.l[e] - p0.l[e]
                } else {
                    p_final.w[e] - p0.w[e]
                }
            })
            .collect();
        network_delta_plot(
            &dir.join("network.png"),
            "learned change of every element (physical TCL)",
            &net.positions,
            &edges,
            &w_final,
            &delta,
            if rest_only { "Δl" } else { "Δw" },
            &hl_ref,
        )?;
    }
    write_atomic(&dir.join("summary.json"), summary_text.as_bytes())?;
    Ok(())
}

/// One run at a time writes a directory: `DIR/.lock` holds the writer's PID (a lock left by a
/// killed run is taken over).
pub struct RunLock(PathBuf);

impl RunLock {
    pub fn take(dir: &Path) -> Result<RunLock, Failure> {
        let path = dir.join(".lock");
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    use std::io::Write as _;
                    let _ = write!(f, "{}", std::process::id());
                    return Ok(RunLock(path));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let pid = std::fs::read_to_string(&path).unwrap_or_default();
                    let alive = !pid.trim().is_empty()
                        && Path::new(&format!("/proc/{}", pid.trim())).exists();
                    if alive {
                        return Err(Failure::bad_input(anyhow!(
                            "{}: another physlearn run (pid {}) is writing this directory",
                            dir.display(),
                            pid.trim()
                        )));
                    }
                    let _ = std::fs::remove_file(&path);
                }
                Err(e) => return Err(Failure::other(anyhow!("{}: {e}", path.display()))),
            }
        }
        Err(Failure::other(anyhow!(
            "{}: cannot take the lock",
            path.display()
        )))
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
