//! `physlearn train` and `physlearn compare`.

use super::core::load_prepared;
use super::{progress_bar, Failure};
use anyhow::{anyhow, Context};
use clap::Args;
use physlearn::io::output::{sha256_hex, write_atomic, Manifest};
use physlearn::io::plot::{network_plot, xy_plot, Figure, Mark, Series};
use physlearn::train::{compare_one_cycle, Checkpoint, Trainer, CHECKPOINT_FORMAT};
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Netlist JSON file (sawtooth protocol).
    pub file: PathBuf,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub fn compare(a: CompareArgs) -> Result<(), Failure> {
    if super::chem::is_chemical_file(&a.file) {
        return super::chem::compare(&a.file, a.json);
    }
    let (_, prep, _) = load_prepared(&a.file)?;
    let r = compare_one_cycle(&prep)
        .map_err(|e| Failure::numerical(anyhow!("{}: {e}", a.file.display())))?;
    if a.json {
        let mut v = serde_json::to_value(&r).map_err(Failure::other)?;
        if let Some(m) = v.as_object_mut() {
            m.remove("dw_phys");
            m.remove("dw_cl");
        }
        say!("{}", serde_json::to_string(&v).map_err(Failure::other)?);
    } else {
        let c = &r.comparison;
        say!(
            "one cycle of {} (example 0, initial weights)",
            a.file.display()
        );
        say!("  cos(Δw_phys, Δw_CL)          {:>10.4}", c.cos_cl);
        say!("  cos(Δw_phys, −∇C)            {:>10.4}", c.cos_grad);
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
        say!("  loop gain G_max              {:>10.4}", r.loop_gain);
        say!("  cost                         {:>10.4e}", c.cost);
        say!(
            "  RHS evaluations / rejected   {:>10} / {}",
            r.rhs_evals,
            r.rejected_steps
        );
        say!(
            "  wall time                    {:>10.4} s (settle {:.1})",
            r.wall_seconds,
            r.settle
        );
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
    /// Write a checkpoint (full state, atomically) every K cycles.
    #[arg(long)]
    pub checkpoint_every: Option<usize>,
    /// Continue the run stored in DIR (its checkpoint.json); results go to DIR.
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Stop after this many cycles in this invocation (leaves a checkpoint; for testing resume).
    #[arg(long, hide = true)]
    pub stop_after: Option<usize>,
}

pub fn train(a: TrainArgs) -> Result<(), Failure> {
    if let (None, Some(f), Some(o)) = (&a.resume, &a.file, &a.out) {
        if super::chem::is_chemical_file(f) {
            let opts = super::chem::TrainOpts {
                cycles: a.cycles,
                checkpoint_every: a.checkpoint_every,
                stop_after: a.stop_after,
            };
            return super::chem::train(f, o, opts, None);
        }
    }
    if let Some(dir) = &a.resume {
        if let Some(ck) = super::chem::read_checkpoint(dir)? {
            let file = a
                .file
                .clone()
                .unwrap_or_else(|| PathBuf::from(&ck.netlist_path));
            let opts = super::chem::TrainOpts {
                cycles: None,
                checkpoint_every: a.checkpoint_every,
                stop_after: a.stop_after,
            };
            return super::chem::train(&file, dir, opts, Some(ck));
        }
    }
    let (dir, file, resume_ck) = match (&a.resume, &a.file, &a.out) {
        (Some(dir), _, _) => {
            let text = std::fs::read_to_string(dir.join("checkpoint.json"))
                .with_context(|| format!("{}: no checkpoint to resume", dir.display()))
                .map_err(Failure::bad_input)?;
            let ck: Checkpoint = serde_json::from_str(&text)
                .with_context(|| {
                    format!(
                        "{}: invalid checkpoint",
                        dir.join("checkpoint.json").display()
                    )
                })
                .map_err(Failure::bad_input)?;
            if ck.format != CHECKPOINT_FORMAT {
                return Err(Failure::bad_input(anyhow!(
                    "checkpoint format {} is not {CHECKPOINT_FORMAT}",
                    ck.format
                )));
            }
            let file = a
                .file
                .clone()
                .unwrap_or_else(|| PathBuf::from(&ck.netlist_path));
            (dir.clone(), file, Some(ck))
        }
        (None, Some(f), Some(o)) => (o.clone(), f.clone(), None),
        _ => {
            return Err(Failure::bad_input(anyhow!(
                "train needs FILE --out DIR, or --resume DIR"
            )))
        }
    };
    if a.cycles == Some(0) || a.checkpoint_every == Some(0) {
        return Err(Failure::bad_input(anyhow!(
            "--cycles and --checkpoint-every must be ≥ 1"
        )));
    }
    let (nl, prep, bytes) = load_prepared(&file)?;
    let hash = sha256_hex(&bytes);
    let num = |e: physlearn::physics::PhysicsError| {
        Failure::numerical(anyhow!("{}: {e}", file.display()))
    };
    let mut trainer = match resume_ck {
        Some(ck) => {
            if ck.netlist_sha256 != hash {
                return Err(Failure::bad_input(anyhow!(
                    "{} changed since the checkpoint was written (sha256 differs)",
                    file.display()
                )));
            }
            Trainer::resume(&prep, ck).map_err(num)?
        }
        None => {
            let total = a.cycles.or(prep.sawtooth().map(|s| s.cycles)).unwrap_or(1);
            Trainer::new(&prep, total, &file.display().to_string(), &hash).map_err(num)?
        }
    };
    std::fs::create_dir_all(&dir).map_err(|e| Failure::other(anyhow!("{}: {e}", dir.display())))?;
    let started = std::time::Instant::now();
    let pb = progress_bar(trainer.ck.total_cycles as u64, "train");
    pb.set_position(trainer.ck.next_cycle as u64);
    let mut this_run = 0usize;
    while !trainer.done() {
        let row = trainer.step().map_err(num)?;
        this_run += 1;
        pb.set_position(trainer.ck.next_cycle as u64);
        pb.set_message(format!(
            "cost {:.3e} cos {:.3}",
            trainer.ck.last_cost_phys, row.cos_cl
        ));
        let ckpt_due = a
            .checkpoint_every
            .is_some_and(|k| trainer.ck.next_cycle % k == 0);
        if ckpt_due || a.stop_after == Some(this_run) {
            let text = serde_json::to_string(&trainer.ck).map_err(Failure::other)?;
            write_atomic(&dir.join("checkpoint.json"), text.as_bytes())?;
        }
        if a.stop_after == Some(this_run) && !trainer.done() {
            pb.finish_and_clear();
            eprintln!(
                "stopped after {this_run} cycles; resume with --resume {}",
                dir.display()
            );
            return Ok(());
        }
    }
    pb.finish_and_clear();
    let wall = started.elapsed().as_secs_f64();
    write_outputs(&dir, &trainer, &nl.meta, &file, &bytes, wall).map_err(Failure::other)?;
    let ck = &trainer.ck;
    eprintln!(
        "wrote {}: {} cycles, cost {:.3e} → {:.3e} (×{:.1} lower; CL {:.3e}, GD {:.3e})",
        dir.display(),
        ck.total_cycles,
        ck.cost0_phys,
        ck.last_cost_phys,
        ck.cost0_phys / ck.last_cost_phys,
        ck.last_cost_cl,
        ck.last_cost_gd
    );
    Ok(())
}

fn write_outputs(
    dir: &Path,
    t: &Trainer<'_>,
    meta: &serde_json::Value,
    file: &Path,
    bytes: &[u8],
    wall: f64,
) -> anyhow::Result<()> {
    let ck = &t.ck;
    let net = &t.prep.network;
    // train.csv
    let mut csv = String::from("cycle,example,beta,cost_phys,cost_cl,cost_gd,cos_cl,cos_grad,slope,offset,wrong_sign_fraction,window_fraction,max_contrast_over_lower_edge,loop_gain,rhs_evals,accepted_steps,rejected_steps,wall_seconds\n");
    for r in &ck.rows {
        csv.push_str(&format!(
            "{},{},{:.9e},{:.9e},{:.9e},{:.9e},{:.9e},{:.9e},{:.9e},{:.9e},{:.9e},{:.9e},{:.9e},{:.9e},{},{},{},{:.6e}\n",
            r.cycle, r.example, r.beta, r.cost_phys, r.cost_cl, r.cost_gd, r.cos_cl, r.cos_grad, r.slope, r.offset,
            r.wrong_sign_fraction, r.window_fraction, r.max_contrast_over_lower_edge, r.loop_gain, r.rhs_evals,
            r.accepted_steps, r.rejected_steps, r.wall_seconds
        ));
    }
    write_atomic(&dir.join("train.csv"), csv.as_bytes())?;
    // weights_final.csv
    let mut w = String::from("element,w_initial,w_phys,w_cl,w_gd,l_initial,l_phys,l_cl,l_gd\n");
    for (e, el) in net.elements.iter().enumerate() {
        w.push_str(&format!(
            "{},{:.12e},{:.12e},{:.12e},{:.12e},{:.12e},{:.12e},{:.12e},{:.12e}\n",
            el.name,
            ck.initial.w[e],
            ck.params.w[e],
            ck.cl.w[e],
            ck.gd.w[e],
            ck.initial.l[e],
            ck.params.l[e],
            ck.cl.l[e],
            ck.gd.l[e]
        ));
    }
    write_atomic(&dir.join("weights_final.csv"), w.as_bytes())?;
    if !ck.epochs.is_empty() {
        let mut e = String::from("epoch,cos_cl,cos_grad,slope,cost,acc_train_phys,acc_test_phys,acc_train_cl,acc_test_cl,acc_train_gd,acc_test_gd\n");
        for r in &ck.epochs {
            e.push_str(&format!(
                "{},{:.9e},{:.9e},{:.9e},{:.9e},{},{},{},{},{},{}\n",
                r.epoch,
                r.cos_cl,
                r.cos_grad,
                r.slope,
                r.cost,
                r.acc_train_phys,
                r.acc_test_phys,
                r.acc_train_cl,
                r.acc_test_cl,
                r.acc_train_gd,
                r.acc_test_gd
            ));
        }
        write_atomic(&dir.join("epochs.csv"), e.as_bytes())?;
    }
    let rows = &ck.rows;
    let mean = |f: &dyn Fn(&physlearn::train::TrainRow) -> f64| {
        rows.iter().map(f).sum::<f64>() / rows.len().max(1) as f64
    };
    let summary = json!({
        "netlist": file.display().to_string(),
        "cycles": ck.total_cycles,
        "cost_initial": ck.cost0_phys,
        "cost_final": {"phys": ck.last_cost_phys, "cl": ck.last_cost_cl, "gd": ck.last_cost_gd},
        "cost_reduction": {"phys": ck.cost0_phys / ck.last_cost_phys, "cl": ck.cost0_cl / ck.last_cost_cl, "gd": ck.cost0_cl / ck.last_cost_gd},
        "first_cycle": rows.first(),
        "last_cycle": rows.last(),
        "mean_cos_cl": mean(&|r| r.cos_cl),
        "mean_rhs_evals_per_cycle": mean(&|r| r.rhs_evals as f64),
        "epochs": ck.epochs,
        "wall_seconds_this_invocation": wall,
        "non_physical": t.prep.non_physical,
    });
    write_atomic(
        &dir.join("summary.json"),
        serde_json::to_string_pretty(&summary)?.as_bytes(),
    )?;
    let mut m = Manifest::new("train").with_input(file, bytes);
    m.parameters = json!({"protocol": t.prep.protocol, "solver": t.prep.solver, "theta_c": t.prep.theta_c, "cycles": ck.total_cycles, "meta": meta});
    m.statistics = json!({
        "rhs_evals": rows.iter().map(|r| r.rhs_evals).sum::<u64>(),
        "rejected_steps": rows.iter().map(|r| r.rejected_steps).sum::<u64>(),
        "wall_seconds_this_invocation": wall,
        "load_report": t.prep.report,
    });
    m.seed = meta
        .get("seeds")
        .and_then(|s| s.get("student"))
        .and_then(|v| v.as_u64());
    m.non_physical = t.prep.non_physical.clone();
    write_atomic(
        &dir.join("manifest.json"),
        serde_json::to_string_pretty(&m)?.as_bytes(),
    )?;
    // Plots.
    let cyc: Vec<f64> = rows.iter().map(|r| r.cycle as f64).collect();
    let cost_fig = Figure::new("cost vs cycle", "cycle", "cost C")
        .log_y()
        .add(Series::line(
            "physical TCL",
            cyc.clone(),
            rows.iter().map(|r| r.cost_phys).collect(),
        ))
        .add(Series::line(
            "ideal CL",
            cyc.clone(),
            rows.iter().map(|r| r.cost_cl).collect(),
        ))
        .add(Series::line(
            "gradient descent",
            cyc.clone(),
            rows.iter().map(|r| r.cost_gd).collect(),
        ));
    xy_plot(&dir.join("cost.png"), &[cost_fig])?;
    let cos_fig = Figure::new("alignment per cycle", "cycle", "cosine")
        .add(Series::line(
            "cos(Δw_phys, Δw_CL)",
            cyc.clone(),
            rows.iter().map(|r| r.cos_cl).collect(),
        ))
        .add(Series::line(
            "cos(Δw_phys, −∇C)",
            cyc,
            rows.iter().map(|r| r.cos_grad).collect(),
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
        Figure::new(title, "Δw_CL", "Δw_phys")
            .add(Series::points("edges", c.clone(), p.clone()))
            .add(Series::line("y = x", vec![lo, hi], vec![lo, hi]).with_mark(Mark::Reference))
    };
    xy_plot(
        &dir.join("scatter.png"),
        &[
            scatter("first cycle", &ck.first_scatter),
            scatter("last cycle", &ck.last_scatter),
        ],
    )?;
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
        for n in &o.nodes {
            hl.push((n.0, o.name.clone()));
        }
    }
    let hl_ref: Vec<(usize, &str)> = hl.iter().map(|(n, s)| (*n, s.as_str())).collect();
    network_plot(
        &dir.join("network.png"),
        &net.positions,
        &edges,
        &[
            ("initial weights", &ck.initial.w),
            ("learned (physical TCL)", &ck.params.w),
        ],
        &hl_ref,
    )?;
    Ok(())
}
