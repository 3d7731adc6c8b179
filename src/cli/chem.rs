//! The chemical family (`"physics": "chemical"`) behind the shared `check`, `run`, `train`,
//! `compare` and `generate` commands. The dispatch peeks at the JSON's `physics` field.

use super::{progress_bar, Failure};
use anyhow::{anyhow, Context};
use physlearn::chem::checks::{check as run_checks, ChemReport};
use physlearn::chem::sim::{one_cycle, ChemCheckpoint, CycleRecord, Trainer};
use physlearn::chem::{reduced, ChemError, ChemModel};
use physlearn::io::output::{write_atomic, Manifest, StagedDir};
use physlearn::io::plot::{xy_plot, Figure, Series};
use physlearn::learning::cosine;
use physlearn::netlist::chem::{self as nlchem, ChemNetlist};
use physlearn::netlist::NetlistError;
use physlearn::physics::diagnostics::Level;
use serde_json::json;
use std::path::Path;

/// Does the file declare `"physics": "chemical"`? (Any read or parse problem: no, and the
/// regular loader reports it.)
pub fn is_chemical_file(path: &Path) -> bool {
    /// Only the `physics` field is kept; everything else is skipped without building a tree.
    #[derive(serde::Deserialize)]
    struct Peek {
        physics: Option<String>,
    }
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Peek>(&b).ok())
        .is_some_and(|p| p.physics.as_deref() == Some("chemical"))
}

fn load(path: &Path) -> Result<(ChemNetlist, Vec<u8>), Failure> {
    nlchem::load(path).map_err(|e| match e {
        NetlistError::Read { .. } => Failure::bad_input(anyhow!(e)),
        other => Failure::bad_input(anyhow!("{}: {other}", path.display())),
    })
}

fn numerical(path: &Path) -> impl Fn(ChemError) -> Failure + '_ {
    move |e| match e {
        ChemError::Refused(_) | ChemError::Invalid(_) => {
            Failure::bad_input(anyhow!("{}: {e}", path.display()))
        }
        other => Failure::numerical(anyhow!("{}: {other}", path.display())),
    }
}

fn refuse_on_errors(path: &Path, rep: &ChemReport) -> Result<(), Failure> {
    if rep.has_errors() {
        let errs: Vec<String> = rep
            .diagnostics
            .iter()
            .filter(|d| d.level == Level::Error)
            .map(|d| format!("  [{}] {}", d.code, d.message))
            .collect();
        return Err(Failure::bad_input(anyhow!(
            "{}: load-time checks report errors:\n{}",
            path.display(),
            errs.join("\n")
        )));
    }
    Ok(())
}

pub fn check(file: &Path, as_json: bool) -> Result<(), Failure> {
    let (nl, _) = load(file)?;
    let m = &nl.model;
    let rep = run_checks(m);
    if as_json {
        let v = json!({
            "file": file.display().to_string(),
            "physics": "chemical",
            "from_template": nl.from_template,
            "species": m.network.species.len(),
            "reactions": m.network.reactions.len(),
            "pairs": m.design.pairs.len(),
            "examples": m.examples.len(),
            "design": m.design,
            "report": rep,
            "protocol": m.protocol,
        });
        say!(
            "{}",
            serde_json::to_string_pretty(&v).map_err(Failure::other)?
        );
    } else {
        let d = &m.design;
        say!(
            "{}: chemical network{}, {} species, {} reactions, {} monomers, {} linker pairs, {} example(s)",
            file.display(),
            if nl.from_template { " (expanded from a molecular_tcl template)" } else { "" },
            m.network.species.len(),
            m.network.reactions.len(),
            d.monomers.len(),
            d.pairs.len(),
            m.examples.len()
        );
        say!(
            "  initial cost C_sq = {:.6e} (C_I = {:.6e})",
            rep.cost0,
            rep.cost_i0
        );
        say!(
            "  A_max = {:.4e}, κ = {:.1}, θ_V = {:.4e}, K_M = {:.3e}, ρ = {:.3}, k_act = {:.3}, k_w = {:.4}",
            rep.a_max, rep.kappa, rep.theta_v, rep.k_m, rep.rho, d.k_act, d.k_w
        );
        say!(
            "  protocol: sawtooth on the valve, {:?}, beta_max {}, tau_fast {}, tau_slow {}, {} cycle(s), polarity {:+}",
            m.protocol.direction, d.beta_max, m.protocol.tau_fast, m.protocol.tau_slow, m.protocol.cycles, d.polarity
        );
        say!("  sign oracle: cos(Δℓ_pred, −∇C_sq) = {:.4}", rep.sign_cos);
        say!("  loop gain G = {:.4}", rep.loop_gain);
        say!(
            "  contrast mass inside the threshold window: {:.1}%",
            100.0 * rep.window_fraction
        );
        say!(
            "  integrator loss ε = {:.3e} (limit θ_V μ/(V0 E_max) = {:.3e})",
            rep.integrator_loss,
            rep.adaptation_limit
        );
        if let (Some(req), Some(t)) = (rep.tau_switch_required, rep.tau_switch) {
            say!("  tau_switch = {t:.3} (required {req:.3})");
        }
        say!(
            "  stiffness: max k·level = {:.3e} ({}), suggested {}",
            rep.stiffness_max_rate,
            rep.stiffest_reaction,
            rep.suggested_method
        );
        say!(
            "  conservation laws ({}): {}",
            rep.conservation_laws.len(),
            {
                let mut l = rep.conservation_laws.clone();
                if l.len() > 4 {
                    l.truncate(4);
                    l.push("…".into());
                }
                l.join("; ")
            }
        );
        for dg in &rep.diagnostics {
            say!("  {} [{}]: {}", dg.level.tag(), dg.code, dg.message);
        }
        if !rep.has_errors() {
            say!("ok");
        }
    }
    refuse_on_errors(file, &rep)
}

pub fn compare(file: &Path, as_json: bool) -> Result<(), Failure> {
    let (nl, _) = load(file)?;
    let m = &nl.model;
    let rep = run_checks(m);
    refuse_on_errors(file, &rep)?;
    let r = one_cycle(m).map_err(numerical(file))?;
    let red = reduced::one_cycle(m).map_err(numerical(file))?;
    let c = &r.record;
    let diff: f64 = c
        .dell
        .iter()
        .zip(&red.dell)
        .map(|(a, b)| (a - b) * (a - b))
        .sum::<f64>()
        .sqrt();
    let norm: f64 = c.dell.iter().map(|a| a * a).sum::<f64>().sqrt();
    let rel = diff / norm.max(1e-300);
    if as_json {
        let v = json!({
            "cos_cl": c.cos_cl,
            "cos_grad": c.cos_grad_sq,
            "cos_grad_i": c.cos_grad_i,
            "cos_cl_projected": c.cos_cl_projected,
            "slope": c.slope,
            "offset": c.offset,
            "wrong_sign_fraction": c.wrong_sign_fraction,
            "window_fraction": c.window_fraction,
            "loop_gain": c.loop_gain,
            "cost": c.cost,
            "cost_i": c.cost_i,
            "rhs_evals": c.rhs_evals,
            "jacobian_evals": c.jacobian_evals,
            "lu_decompositions": c.lu_decompositions,
            "accepted_steps": c.accepted_steps,
            "rejected_steps": c.rejected_steps,
            "ds_min_over_x0": c.ds_min_over_x0,
            "ds_max_over_x0": c.ds_max_over_x0,
            "conservation_drift": c.conservation_drift,
            "wall_seconds": c.wall_seconds,
            "settle": r.settle,
            "tail": r.tail,
            "reduced_rel_diff": rel,
            "reduced_cos": cosine(&c.dell, &red.dell),
            "reduced_rhs_evals": red.rhs_evals,
            "reduced_wall_seconds": red.wall_seconds,
        });
        say!("{}", serde_json::to_string(&v).map_err(Failure::other)?);
    } else {
        say!(
            "one cycle of {} (example 0, initial linkers)",
            file.display()
        );
        say!("  cos(Δℓ, −ρ(D^C − D^F))       {:>10.4}", c.cos_cl);
        say!(
            "  cos(Δℓ, −∇C_sq) / −∇C_I      {:>10.4} / {:.4}",
            c.cos_grad_sq,
            c.cos_grad_i
        );
        say!(
            "  projected cos (boundary)     {:>10.4}",
            c.cos_cl_projected
        );
        say!(
            "  LSQ slope (units of ρ) / off {:>10.4} / {:.3e}",
            c.slope,
            c.offset
        );
        say!(
            "  wrong-sign fraction          {:>10.4}",
            c.wrong_sign_fraction
        );
        say!("  contrast mass in window      {:>10.4}", c.window_fraction);
        say!("  loop gain G                  {:>10.4}", c.loop_gain);
        say!(
            "  cost C_sq / C_I              {:>10.4e} / {:.4e}",
            c.cost,
            c.cost_i
        );
        say!(
            "  D*/x0 range                  {:>10.3} … {:.3}",
            c.ds_min_over_x0,
            c.ds_max_over_x0
        );
        say!(
            "  conservation drift           {:>10.2e}",
            c.conservation_drift
        );
        say!(
            "  RHS / Jacobian / LU          {:>10} / {} / {} ({} steps, {} rejected)",
            c.rhs_evals,
            c.jacobian_evals,
            c.lu_decompositions,
            c.accepted_steps,
            c.rejected_steps
        );
        say!("  wall time (cycle + tail)     {:>10.4} s", c.wall_seconds);
        say!(
            "  reduced (QSS, Dopri5) model  rel. diff {:.3e}, cos {:.6}, {} RHS, {:.3} s",
            rel,
            cosine(&c.dell, &red.dell),
            red.rhs_evals,
            red.wall_seconds
        );
    }
    Ok(())
}

fn csv_rows(records: &[CycleRecord], cost_cl: &[f64]) -> String {
    let mut csv = String::from("cycle,example,beta,cost_phys,cost_all,cost_i,cost_cl,cos_cl,cos_grad,cos_grad_i,cos_cl_projected,slope,offset,wrong_sign_fraction,window_fraction,loop_gain,ds_min_over_x0,ds_max_over_x0,conservation_drift,debt_max,rhs_evals,jacobian_evals,lu_decompositions,accepted_steps,rejected_steps,wall_seconds\n");
    for (k, r) in records.iter().enumerate() {
        csv.push_str(&format!(
            "{},{},{:.9e},{:.9e},{:.9e},{:.9e},{:.9e},{:.9e},{:.9e},{:.9e},{:.9e},{:.9e},{:.9e},{:.9e},{:.9e},{:.9e},{:.6e},{:.6e},{:.3e},{:.3e},{},{},{},{},{},{:.6e}\n",
            r.cycle, r.example, r.beta_max, r.cost, r.cost_all, r.cost_i, cost_cl.get(k).copied().unwrap_or(f64::NAN),
            r.cos_cl, r.cos_grad_sq, r.cos_grad_i, r.cos_cl_projected, r.slope, r.offset, r.wrong_sign_fraction,
            r.window_fraction, r.loop_gain, r.ds_min_over_x0, r.ds_max_over_x0, r.conservation_drift, r.debt_max,
            r.rhs_evals, r.jacobian_evals, r.lu_decompositions, r.accepted_steps, r.rejected_steps, r.wall_seconds
        ));
    }
    csv
}

/// Train (or, with `record`, run and sample) for `cycles` cycles; returns the trainer.
fn drive<'a>(
    file: &Path,
    m: &'a ChemModel,
    cycles: usize,
    what: &str,
    record_cycles: usize,
) -> Result<Trainer<'a>, Failure> {
    let rep = run_checks(m);
    refuse_on_errors(file, &rep)?;
    let mut t = Trainer::new(m, cycles, 0.6).map_err(numerical(file))?;
    let pb = progress_bar(cycles as u64, what);
    while !t.done() {
        t.runner.record = t.cycle < record_cycles;
        let r = t.step().map_err(numerical(file))?;
        pb.set_position(t.cycle as u64);
        pb.set_message(format!("cost {:.3e} cos {:.3}", r.cost_all, r.cos_cl));
    }
    pb.finish_and_clear();
    Ok(t)
}

fn manifest(
    command: &str,
    file: &Path,
    bytes: &[u8],
    nl: &ChemNetlist,
    stats: serde_json::Value,
) -> Manifest {
    let mut mf = Manifest::new(command).with_input(file, bytes);
    mf.parameters = json!({
        "physics": "chemical",
        "protocol": nl.model.protocol,
        "solver": nl.model.solver,
        "design": nl.model.design,
        "meta": nl.meta,
    });
    mf.statistics = stats;
    mf
}

fn summary(file: &Path, t: &Trainer<'_>, wall: f64) -> Result<serde_json::Value, Failure> {
    let m = t.runner.model;
    let cost_final = t.final_cost().map_err(numerical(file))?;
    let recs = &t.records;
    let n = recs.len().max(1) as f64;
    let mean = |f: &dyn Fn(&CycleRecord) -> f64| recs.iter().map(f).sum::<f64>() / n;
    let ell = m.ell_by_pair(&t.runner.x);
    Ok(json!({
        "netlist": file.display().to_string(),
        "cycles": recs.len(),
        "cost_initial": t.cost0,
        "cost_final": cost_final,
        "cost_reduction": t.cost0 / cost_final,
        "cost_cl_final": t.cost_cl.last(),
        "cl_rate_over_rho": t.cl_rate,
        "tau_switch": t.tau_switch,
        "mean_cos_cl": mean(&|r| r.cos_cl),
        "mean_cos_cl_projected": mean(&|r| r.cos_cl_projected),
        "mean_rhs_evals_per_cycle": mean(&|r| r.rhs_evals as f64),
        "mean_jacobian_evals_per_cycle": mean(&|r| r.jacobian_evals as f64),
        "mean_wall_seconds_per_cycle": mean(&|r| r.wall_seconds),
        "max_conservation_drift": recs.iter().map(|r| r.conservation_drift).fold(0.0, f64::max),
        "ell_final": ell,
        "debt_final": m.debt(&t.runner.x),
        "totals": t.runner.stats,
        "wall_seconds": wall,
        "first_cycle": recs.first(),
    }))
}

fn plots(dir: &Path, t: &Trainer<'_>) -> anyhow::Result<()> {
    let x: Vec<f64> = t.records.iter().map(|r| r.cycle as f64).collect();
    let mut cost = Figure::new("cost (mean over examples)", "cycle", "C_sq")
        .log_y()
        .add(Series::line(
            "TCL (full network)",
            x.clone(),
            t.records.iter().map(|r| r.cost_all.max(1e-300)).collect(),
        ));
    if !t.cost_cl.is_empty() {
        let xc: Vec<f64> = (1..=t.cost_cl.len()).map(|k| k as f64).collect();
        cost = cost.add(Series::line(
            format!("ideal CL ({}ρ)", t.cl_rate),
            xc,
            t.cost_cl.iter().map(|c| c.max(1e-300)).collect(),
        ));
    }
    xy_plot(&dir.join("cost.png"), &[cost]).context("cost plot")?;
    let cos = Figure::new("per-cycle cosine", "cycle", "cos")
        .add(Series::line(
            "cos(Δℓ, CL)",
            x.clone(),
            t.records.iter().map(|r| r.cos_cl).collect(),
        ))
        .add(Series::line(
            "cos(Δℓ, −∇C_sq)",
            x.clone(),
            t.records.iter().map(|r| r.cos_grad_sq).collect(),
        ))
        .add(Series::line(
            "projected cos",
            x,
            t.records.iter().map(|r| r.cos_cl_projected).collect(),
        ));
    xy_plot(&dir.join("cosine.png"), &[cos]).context("cosine plot")?;
    Ok(())
}

/// Options of `train` for the chemical family.
pub struct TrainOpts {
    pub cycles: Option<usize>,
    pub checkpoint_every: Option<usize>,
    pub stop_after: Option<usize>,
}

pub fn train(
    file: &Path,
    out: &Path,
    o: TrainOpts,
    resume: Option<ChemCheckpoint>,
) -> Result<(), Failure> {
    let (nl, bytes) = load(file)?;
    let m = &nl.model;
    let hash = physlearn::io::output::sha256_hex(&bytes);
    refuse_on_errors(file, &run_checks(m))?;
    let mut t = match resume {
        Some(ck) => {
            if ck.netlist_sha256 != hash {
                return Err(Failure::bad_input(anyhow!(
                    "{}: the netlist changed since the checkpoint was written",
                    file.display()
                )));
            }
            Trainer::resume(m, ck).map_err(numerical(file))?
        }
        None => {
            let n = o.cycles.unwrap_or(m.protocol.cycles);
            if n == 0 {
                return Err(Failure::bad_input(anyhow!("--cycles must be ≥ 1")));
            }
            Trainer::new(m, n, 0.6).map_err(numerical(file))?
        }
    };
    std::fs::create_dir_all(out).map_err(|e| Failure::other(anyhow!("{}: {e}", out.display())))?;
    let started = std::time::Instant::now();
    let pb = progress_bar(t.total_cycles as u64, "train");
    pb.set_position(t.cycle as u64);
    let mut this_run = 0usize;
    let path_text = file.display().to_string();
    while !t.done() {
        let r = t.step().map_err(numerical(file))?;
        this_run += 1;
        pb.set_position(t.cycle as u64);
        pb.set_message(format!("cost {:.3e} cos {:.3}", r.cost_all, r.cos_cl));
        let due = o
            .checkpoint_every
            .is_some_and(|k| k > 0 && t.cycle % k == 0);
        if due || o.stop_after == Some(this_run) {
            let ck = t.checkpoint(&path_text, &hash);
            let text = serde_json::to_string(&ck).map_err(Failure::other)?;
            write_atomic(&out.join("checkpoint.json"), text.as_bytes())?;
        }
        if o.stop_after == Some(this_run) && !t.done() {
            pb.finish_and_clear();
            eprintln!(
                "stopped after {this_run} cycles; resume with --resume {}",
                out.display()
            );
            return Ok(());
        }
    }
    pb.finish_and_clear();
    let wall = started.elapsed().as_secs_f64();
    write_atomic(
        &out.join("train.csv"),
        csv_rows(&t.records, &t.cost_cl).as_bytes(),
    )?;
    let ell0 = m.ell0();
    let ell = m.ell_by_pair(&t.runner.x);
    let debt = m.debt(&t.runner.x);
    let mut w = String::from("learnable,ell_initial,ell_phys,ell_cl,debt\n");
    for (e, l) in m.learnables.iter().enumerate() {
        w.push_str(&format!(
            "{},{:.12e},{:.12e},{:.12e},{:.12e}\n",
            l.name, ell0[e], ell[e], t.ell_cl[e], debt[e]
        ));
    }
    write_atomic(&out.join("weights_final.csv"), w.as_bytes())?;
    let s = summary(file, &t, wall)?;
    write_atomic(
        &out.join("summary.json"),
        serde_json::to_string_pretty(&s)
            .map_err(Failure::other)?
            .as_bytes(),
    )?;
    let mf = manifest(
        "train",
        file,
        &bytes,
        &nl,
        json!({"solver": t.runner.stats, "wall_seconds": wall, "load_report": run_checks(m)}),
    );
    write_atomic(
        &out.join("manifest.json"),
        serde_json::to_string_pretty(&mf)
            .map_err(Failure::other)?
            .as_bytes(),
    )?;
    plots(out, &t).map_err(Failure::other)?;
    eprintln!(
        "wrote {}: {} cycles, cost {:.3e} → {:.3e} (×{:.1} lower; ideal CL at {}ρ: {:.3e})",
        out.display(),
        t.records.len(),
        t.cost0,
        s["cost_final"].as_f64().unwrap_or(f64::NAN),
        s["cost_reduction"].as_f64().unwrap_or(f64::NAN),
        t.cl_rate,
        t.cost_cl.last().copied().unwrap_or(f64::NAN)
    );
    Ok(())
}

pub fn run(
    file: &Path,
    out: &Path,
    cycles: Option<usize>,
    sample_cycles: usize,
) -> Result<(), Failure> {
    let (nl, bytes) = load(file)?;
    let m = &nl.model;
    let n = cycles.unwrap_or(m.protocol.cycles);
    if n == 0 {
        return Err(Failure::bad_input(anyhow!("--cycles must be ≥ 1")));
    }
    let stage = StagedDir::new(out)?;
    let started = std::time::Instant::now();
    let t = drive(file, m, n, "run", sample_cycles)?;
    let wall = started.elapsed().as_secs_f64();
    // timeseries.csv: β, outputs, and per pair ℓ, D, D*.
    let d = &m.design;
    let mut header = vec!["t".to_string(), "beta".to_string()];
    header.extend(m.output_names.iter().map(|o| format!("o_{o}")));
    header.extend(m.learnables.iter().map(|l| format!("ell_{}", l.name)));
    header.extend(m.learnables.iter().map(|l| format!("D_{}", l.name)));
    header.extend(
        m.learnables
            .iter()
            .map(|l| format!("Ds_over_x0_{}", l.name)),
    );
    let mut ts = header.join(",") + "\n";
    for (time, beta, x) in &t.runner.samples {
        let mut row = vec![format!("{time:.9e}"), format!("{beta:.9e}")];
        row.extend(d.outputs.iter().map(|&i| format!("{:.9e}", x[i])));
        row.extend(m.ell_by_pair(x).iter().map(|v| format!("{v:.9e}")));
        row.extend(m.pairs.iter().map(|p| format!("{:.9e}", x[p.d.0])));
        row.extend(m.pairs.iter().map(|p| format!("{:.9e}", x[p.ds.0] / d.x0)));
        ts.push_str(&row.join(","));
        ts.push('\n');
    }
    stage.write_text("timeseries.csv", &ts)?;
    let mut wcsv = String::from("cycle");
    for l in &m.learnables {
        wcsv.push_str(&format!(",{}", l.name));
    }
    wcsv.push('\n');
    let mut push_row = |k: usize, v: &[f64]| {
        wcsv.push_str(&k.to_string());
        for x in v {
            wcsv.push_str(&format!(",{x:.12e}"));
        }
        wcsv.push('\n');
    };
    push_row(0, &m.ell0());
    for r in &t.records {
        let end: Vec<f64> = r
            .ell_start
            .iter()
            .zip(&r.dell)
            .map(|(a, b)| a + b)
            .collect();
        push_row(r.cycle + 1, &end);
    }
    stage.write_text("weights.csv", &wcsv)?;
    stage.write_text("train.csv", &csv_rows(&t.records, &t.cost_cl))?;
    let s = summary(file, &t, wall)?;
    stage.write_json("summary.json", &s)?;
    let mf = manifest(
        "run",
        file,
        &bytes,
        &nl,
        json!({"solver": t.runner.stats, "wall_seconds": wall}),
    );
    stage.write_json("manifest.json", &mf)?;
    if !t.runner.samples.is_empty() {
        let tt: Vec<f64> = t.runner.samples.iter().map(|s| s.0).collect();
        let beta = Figure::new("valve β(t)", "time [τ_k]", "β").add(Series::line(
            "β",
            tt.clone(),
            t.runner.samples.iter().map(|s| s.1).collect(),
        ));
        let mut outs = Figure::new("outputs (free monomers)", "time [τ_k]", "c [c_u]");
        for (k, &i) in d.outputs.iter().enumerate() {
            outs = outs.add(Series::line(
                m.output_names[k].clone(),
                tt.clone(),
                t.runner.samples.iter().map(|s| s.2[i]).collect(),
            ));
        }
        xy_plot(&stage.path("drive_outputs.png"), &[beta, outs]).map_err(Failure::other)?;
    }
    plots(&stage.path(""), &t).map_err(Failure::other)?;
    let dir = stage.commit()?;
    eprintln!(
        "wrote {} ({} cycles, {} RHS evaluations, {:.3} s)",
        dir.display(),
        t.records.len(),
        t.runner.stats.rhs_evals,
        wall
    );
    Ok(())
}

/// `generate` for the chemical names; `None` when the name is not chemical.
pub fn generate(
    name: &str,
    out: Option<&Path>,
    template: Option<&Path>,
) -> Option<Result<(), Failure>> {
    let v = if name == "chem_expand" {
        let path = match template {
            Some(p) => p,
            None => {
                return Some(Err(Failure::bad_input(anyhow!(
                    "generate chem_expand needs --template FILE"
                ))))
            }
        };
        let r = std::fs::read(path)
            .map_err(|e| Failure::bad_input(anyhow!("{}: {e}", path.display())))
            .and_then(|b| {
                serde_json::from_slice::<serde_json::Value>(&b)
                    .map_err(|e| Failure::bad_input(anyhow!("{}: {e}", path.display())))
            })
            .and_then(|v| {
                nlchem::expand_template(&v)
                    .map_err(|e| Failure::bad_input(anyhow!("{}: {e}", path.display())))
            });
        r
    } else {
        nlchem::generate(name)?.map_err(|e| Failure::bad_input(anyhow!("{name}: {e}")))
    };
    Some(v.and_then(|v| {
        let text = serde_json::to_string_pretty(&v).map_err(Failure::other)? + "\n";
        match out {
            Some(p) => write_atomic(p, text.as_bytes()).map_err(Failure::from),
            None => {
                print!("{text}");
                Ok(())
            }
        }
    }))
}

/// One row of `physlearn bench netlists` for a chemical netlist: per-cycle wall time (median
/// over repetitions), RHS, Jacobian and LU counts of the full network.
pub fn bench(
    file: &Path,
    cycles: usize,
    repeat: usize,
) -> Result<(String, serde_json::Value), Failure> {
    let (nl, _) = load(file)?;
    let m = &nl.model;
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..repeat {
        let mut t = Trainer::new(m, cycles, 0.6).map_err(numerical(file))?;
        let t0 = std::time::Instant::now();
        let st0 = t.runner.stats;
        while !t.done() {
            t.step().map_err(numerical(file))?;
        }
        times.push(t0.elapsed().as_secs_f64() / cycles as f64);
        let st = t.runner.stats;
        last = Some((
            st.rhs_evals - st0.rhs_evals,
            st.jacobian_evals - st0.jacobian_evals,
            st.lu_decompositions - st0.lu_decompositions,
            st.rejected_steps - st0.rejected_steps,
        ));
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let med = times[times.len() / 2];
    let (rhs, jac, lu, rej) = last.unwrap_or_default();
    let per = |x: u64| x as f64 / cycles as f64;
    let name = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let line = format!(
        "{:<28} {:>6} {:>7} {:>12.4e} {:>12.0} {:>10.1} {:>12.0}  (chemical: {:.0} Jacobians/cycle, {})",
        name,
        m.network.species.len(),
        m.network.reactions.len(),
        med,
        per(rhs),
        per(rej),
        per(lu),
        per(jac),
        if m.solver.sparse_lu { "sparse LU" } else { "dense LU" }
    );
    let v = json!({
        "netlist": file.display().to_string(), "physics": "chemical",
        "species": m.network.species.len(), "reactions": m.network.reactions.len(),
        "cycles": cycles, "repeat": repeat, "seconds_per_cycle_median": med,
        "rhs_evals_per_cycle": per(rhs), "jacobian_evals_per_cycle": per(jac),
        "rejected_per_cycle": per(rej), "factorizations_per_cycle": per(lu),
        "method": "bdf", "sparse_lu": m.solver.sparse_lu,
    });
    Ok((line, v))
}

/// A chemical checkpoint in `dir/checkpoint.json`, if that is what the directory holds (`None`:
/// no such file or another family's checkpoint, left to the regular resume path).
pub fn read_checkpoint(dir: &Path) -> Result<Option<ChemCheckpoint>, Failure> {
    let Ok(text) = std::fs::read_to_string(dir.join("checkpoint.json")) else {
        return Ok(None);
    };
    #[derive(serde::Deserialize)]
    struct Peek {
        format: Option<String>,
    }
    let is_chem = serde_json::from_str::<Peek>(&text)
        .ok()
        .and_then(|p| p.format)
        .is_some_and(|f| f == physlearn::chem::sim::CHEM_CHECKPOINT_FORMAT);
    if !is_chem {
        return Ok(None);
    }
    serde_json::from_str(&text)
        .map(Some)
        .with_context(|| {
            format!(
                "{}: invalid checkpoint",
                dir.join("checkpoint.json").display()
            )
        })
        .map_err(Failure::bad_input)
}
