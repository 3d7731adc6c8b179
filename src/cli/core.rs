//! Core-engine commands: `check`, `run`, `schema`, `generate`.

use super::{progress_bar, Failure};
use anyhow::{anyhow, Context};
use clap::Args;
use physlearn::io::output::{write_atomic, Manifest, StagedDir};
use physlearn::io::plot::{xy_plot, Figure, Series};
use physlearn::netlist::{self, Netlist, NetlistError};
use physlearn::physics::diagnostics::Level;
use physlearn::physics::model::Network;
use physlearn::physics::run::Sampling;
use physlearn::physics::PhysicsError;
use physlearn::sim::{self, Prepared, RunOptions};
use serde_json::json;
use std::path::{Path, PathBuf};

/// Load a netlist file, mapping errors to exit code 2.
pub fn load(path: &Path) -> Result<(Netlist, Vec<u8>), Failure> {
    netlist::load(path).map_err(|e| match e {
        NetlistError::Read { .. } => Failure::bad_input(anyhow!(e)),
        other => Failure::bad_input(anyhow!("{}: {other}", path.display())),
    })
}

/// Load and prepare; load-time singular networks are bad input.
pub fn load_prepared(path: &Path) -> Result<(Netlist, Prepared, Vec<u8>), Failure> {
    let (nl, bytes) = load(path)?;
    let prep = sim::prepare(&nl).map_err(|e| match e {
        PhysicsError::Singular { .. } => Failure::bad_input(anyhow!("{}: {e}", path.display())),
        other => Failure::numerical(anyhow!("{}: {other}", path.display())),
    })?;
    Ok((nl, prep, bytes))
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Netlist JSON file.
    pub file: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn check(a: CheckArgs) -> Result<(), Failure> {
    if super::chem::is_chemical_file(&a.file) {
        return super::chem::check(&a.file, a.json);
    }
    let (nl, prep, _) = load_prepared(&a.file)?;
    let net = &prep.network;
    let rep = &prep.report;
    if a.json {
        let v = json!({
            "file": a.file.display().to_string(),
            "nodes": net.node_names.len(),
            "elements": net.n_elements(),
            "free_dofs": net.n_free,
            "examples": net.examples.len(),
            "report": rep,
            "protocol": prep.protocol,
            "non_physical": prep.non_physical,
        });
        say!(
            "{}",
            serde_json::to_string_pretty(&v).map_err(Failure::other)?
        );
    } else {
        say!(
            "{}: {:?} network, {} nodes, {} elements ({} learning), {} free DOFs, {} outputs, {} example(s)",
            a.file.display(),
            net.domain,
            net.node_names.len(),
            net.n_elements(),
            net.elements.iter().filter(|e| e.learns()).count(),
            net.n_free,
            net.outputs.len(),
            net.examples.len()
        );
        if let Some(c) = rep.cost0 {
            say!("  initial cost C0 = {c:.6e}");
        }
        for (g, a) in &rep.a_max {
            say!("  A_max [{g}] = {a:.4e}");
        }
        if let Some(s) = prep.sawtooth() {
            let th: Vec<f64> = net
                .elements
                .iter()
                .flat_map(|e| e.channels.iter().map(|c| c.theta))
                .collect();
            if let (Some(lo), Some(hi)) = (
                th.iter().copied().reduce(f64::min),
                th.iter().copied().reduce(f64::max),
            ) {
                say!(
                    "  theta (resolved) in [{lo:.4e}, {hi:.4e}] (c = {})",
                    nl.theta_c
                );
            }
            say!(
                "  protocol: sawtooth {:?}, beta_max {}, tau_fast {}, tau_slow {}, {} cycle(s), switch {:?} (tau_switch {:.4e})",
                s.direction, s.beta_max, s.tau_fast, s.tau_slow, s.cycles, s.switch_mode, s.tau_switch
            );
        }
        if let Some(g) = rep.loop_gain {
            say!("  loop gain G_max = {g:.4}");
        }
        if let Some(f) = rep.window_fraction {
            say!(
                "  contrast mass inside the threshold window: {:.1}%",
                100.0 * f
            );
        }
        if let Some(t) = rep.tau_switch_required {
            say!("  required tau_switch = {t:.4e}");
        }
        if let (Some(tm), Some(s)) = (rep.tau_min, rep.stiffness_ratio) {
            say!(
                "  stiffness: tau_min = {tm:.4e}, S = {s:.3e} (suggested: {})",
                rep.suggested_method.as_deref().unwrap_or("dopri5")
            );
        }
        for np in &prep.non_physical {
            say!("  NON-PHYSICAL: {np}");
        }
        for d in &rep.diagnostics {
            say!("  {} [{}]: {}", d.level.tag(), d.code, d.message);
        }
        if !rep.has_errors() {
            say!("ok");
        }
    }
    if rep.has_errors() {
        let errs: Vec<String> = rep
            .diagnostics
            .iter()
            .filter(|d| d.level == Level::Error)
            .map(|d| format!("  [{}] {}", d.code, d.message))
            .collect();
        return Err(Failure::bad_input(anyhow!(
            "{}: load-time diagnostics report errors:\n{}",
            a.file.display(),
            errs.join("\n")
        )));
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Netlist JSON file.
    pub file: PathBuf,
    /// Output directory (written atomically).
    #[arg(long)]
    pub out: PathBuf,
    /// Override the number of sawtooth cycles.
    #[arg(long)]
    pub cycles: Option<usize>,
    /// Record time series for the first K cycles (and the last).
    #[arg(long, default_value_t = 10)]
    pub sample_cycles: usize,
}

pub fn run(a: RunArgs) -> Result<(), Failure> {
    if super::chem::is_chemical_file(&a.file) {
        return super::chem::run(&a.file, &a.out, a.cycles, a.sample_cycles);
    }
    let (nl, prep, bytes) = load_prepared(&a.file)?;
    let net = &prep.network;
    let n_cycles = match prep.sawtooth() {
        Some(s) => a.cycles.unwrap_or(s.cycles),
        None => 0,
    };
    if a.cycles == Some(0) {
        return Err(Failure::bad_input(anyhow!("--cycles must be ≥ 1")));
    }
    let stage = StagedDir::new(&a.out)?;
    let started = std::time::Instant::now();
    let pb = progress_bar(n_cycles.max(1) as u64, "run");
    let opts = RunOptions {
        cycles: a.cycles,
        sampling: Sampling {
            per_segment: nl.record.samples_per_segment,
        },
        sample_cycles: a.sample_cycles,
    };
    let out = sim::run(&prep, opts, |k, _n, rec| {
        pb.set_position(k as u64 + 1);
        pb.set_message(format!("cost {:.3e}", rec.cost_start));
    })
    .map_err(|e| Failure::numerical(anyhow!("{}: {e}", a.file.display())))?;
    pb.finish_and_clear();
    let wall = started.elapsed().as_secs_f64();

    // timeseries.csv
    let samples = &out.runner.samples;
    let layout = &out.runner.dynamics.layout;
    let mut header = vec!["t".to_string(), "beta".to_string()];
    header.extend(net.outputs.iter().map(|o| format!("o_{}", o.name)));
    let mut cols: Vec<(String, usize, Option<usize>)> = Vec::new(); // (name, element, state index; None = drop y)
    for &e in &nl.record.elements {
        let name = &net.elements[e].name;
        cols.push((format!("y_{name}"), e, None));
        if let Some(i) = layout.z[e] {
            cols.push((format!("z_{name}"), e, Some(i)));
        }
        if let Some(i) = layout.chem[e] {
            cols.push((format!("x_{name}"), e, Some(i)));
            cols.push((format!("r_{name}"), e, Some(i + 1)));
        }
        if let Some(i) = layout.w[e] {
            cols.push((format!("w_{name}"), e, Some(i)));
        }
        if let Some(i) = layout.l[e] {
            cols.push((format!("l_{name}"), e, Some(i)));
        }
    }
    header.extend(cols.iter().map(|c| c.0.clone()));
    let mut ts = header.join(",") + "\n";
    for s in samples {
        let mut row = vec![format!("{:.9e}", s.t), format!("{:.9e}", s.beta)];
        row.extend(s.outputs.iter().map(|v| format!("{v:.9e}")));
        for (_, e, idx) in &cols {
            let v = match idx {
                Some(i) => s.state[*i],
                None => s.y[*e],
            };
            row.push(format!("{v:.9e}"));
        }
        ts.push_str(&row.join(","));
        ts.push('\n');
    }
    stage.write_text("timeseries.csv", &ts)?;

    // weights.csv: row 0 = initial, row k = end of cycle k.
    let learn_l = net.elements.iter().any(|e| e.learns_rest_length());
    let mut wh = vec!["cycle".to_string()];
    wh.extend(net.elements.iter().map(|e| format!("w_{}", e.name)));
    if learn_l {
        wh.extend(net.elements.iter().map(|e| format!("l_{}", e.name)));
    }
    let mut wcsv = wh.join(",") + "\n";
    let p0 = net.initial_params();
    let mut rows: Vec<(usize, Vec<f64>, Vec<f64>)> = vec![(0, p0.w.clone(), p0.l.clone())];
    for r in &out.cycles {
        rows.push((r.cycle + 1, r.w_end.clone(), r.l_end.clone()));
    }
    if out.cycles.is_empty() {
        rows.push((1, out.final_params.w.clone(), out.final_params.l.clone()));
    }
    for (k, w, l) in &rows {
        let mut row = vec![k.to_string()];
        row.extend(w.iter().map(|v| format!("{v:.12e}")));
        if learn_l {
            row.extend(l.iter().map(|v| format!("{v:.12e}")));
        }
        wcsv.push_str(&row.join(","));
        wcsv.push('\n');
    }
    stage.write_text("weights.csv", &wcsv)?;

    // summary.json
    let cycles: Vec<serde_json::Value> = out
        .cycles
        .iter()
        .map(|r| {
            let dw = r.dw();
            json!({
                "cycle": r.cycle,
                "example": r.example,
                "beta_max": r.beta_max,
                "t_start": r.t_start,
                "t_end": r.t_end,
                "cost": r.cost_start,
                "dw": dw,
                "dw_norm": dw.iter().map(|v| v * v).sum::<f64>().sqrt(),
                "dl": if learn_l { json!(r.dl()) } else { json!(null) },
                "rhs_evals": r.stats.rhs_evals,
                "accepted_steps": r.stats.accepted_steps,
                "rejected_steps": r.stats.rejected_steps,
                "factorizations": r.stats.factorizations,
                "wall_seconds": r.wall_seconds,
            })
        })
        .collect();
    let summary = json!({
        "netlist": a.file.display().to_string(),
        "cycles": cycles,
        "cost_initial": prep.report.cost0,
        "cost_final": out.final_cost,
        "t_final": out.runner.t,
        "totals": out.stats,
        "wall_seconds": wall,
        "initial_state": if out.runner.initialised_at_dc { "free_dc" } else { "rest (DC problem singular: no_dc_path elements)" },
        "non_physical": prep.non_physical,
    });
    stage.write_json("summary.json", &summary)?;

    // manifest.json
    let mut m = Manifest::new("run").with_input(&a.file, &bytes);
    m.parameters = json!({
        "protocol": prep.protocol,
        "solver": prep.solver,
        "theta_c": prep.theta_c,
        "cycles": n_cycles,
        "record": nl.record,
        "meta": nl.meta,
    });
    m.statistics = json!({"solver": out.stats, "wall_seconds": wall, "load_report": prep.report});
    m.non_physical = prep.non_physical.clone();
    m.seed = nl
        .meta
        .get("seeds")
        .and_then(|s| s.get("student"))
        .and_then(|v| v.as_u64());
    stage.write_json("manifest.json", &m)?;

    // plots
    plot_run(&stage, net, samples).map_err(Failure::other)?;
    let dir = stage.commit()?;
    eprintln!(
        "wrote {} ({} cycles, {} RHS evaluations, {:.3} s)",
        dir.display(),
        out.cycles.len(),
        out.stats.rhs_evals,
        wall
    );
    Ok(())
}

fn plot_run(
    stage: &StagedDir,
    net: &Network,
    samples: &[physlearn::physics::dynamics::Sample],
) -> anyhow::Result<()> {
    if samples.is_empty() {
        return Ok(());
    }
    let t: Vec<f64> = samples.iter().map(|s| s.t).collect();
    let beta = Figure::new("nudge β(t)", "time [τ_k]", "β").add(Series::line(
        "β",
        t.clone(),
        samples.iter().map(|s| s.beta).collect(),
    ));
    let mut outs = Figure::new("outputs", "time [τ_k]", "o_k");
    for (k, o) in net.outputs.iter().enumerate() {
        outs = outs.add(Series::line(
            o.name.clone(),
            t.clone(),
            samples.iter().map(|s| s.outputs[k]).collect(),
        ));
    }
    xy_plot(&stage.path("drive_outputs.png"), &[beta, outs]).context("drive/outputs plot")?;
    Ok(())
}

#[derive(Args, Debug)]
pub struct SchemaArgs {
    /// Print the element parameter tables as Markdown instead of the JSON Schema.
    #[arg(long)]
    pub markdown: bool,
}

pub fn schema(a: SchemaArgs) -> Result<(), Failure> {
    if a.markdown {
        print!("{}", netlist::params::markdown_tables());
    } else {
        let s = serde_json::to_string_pretty(&netlist::schema::json_schema())
            .map_err(Failure::other)?;
        say!("{s}");
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// Which netlist (t1_flow_allostery, t1_flow_allostery_annealed, t2_flow_regression,
    /// t3_elastic_allostery, t3_elastic_allostery_rest_length, t4_flow_classifier,
    /// mechanochemical_t1, series_edge, maxwell_edge) or `lattice`; chemical: m1_molecular,
    /// m1_molecular_tau100, m1_molecular_annealed, m1_molecular_two_examples, or chem_expand.
    pub name: String,
    /// Output file (default: stdout).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// lattice: grid size n (n×n nodes, 2n(n−1) edges).
    #[arg(long)]
    pub n: Option<usize>,
    /// lattice: potential of the left column.
    #[arg(long, default_value_t = 1.0)]
    pub v_left: f64,
    /// lattice: initial conductances, one per line in edge order.
    #[arg(long)]
    pub g0: Option<PathBuf>,
    /// chem_expand: the molecular_tcl template to expand into the explicit network.
    #[arg(long)]
    pub template: Option<PathBuf>,
}

pub fn generate(a: GenerateArgs) -> Result<(), Failure> {
    if let Some(r) = super::chem::generate(&a.name, a.out.as_deref(), a.template.as_deref()) {
        return r;
    }
    let result = if a.name == "lattice" {
        let n =
            a.n.ok_or_else(|| Failure::bad_input(anyhow!("generate lattice needs --n N")))?;
        let g0 = match &a.g0 {
            Some(p) => Some(physlearn::generate::read_g0(p).map_err(Failure::bad_input)?),
            None => None,
        };
        physlearn::generate::lattice(n, a.v_left, g0)
    } else {
        physlearn::generate::by_name(&a.name)
    };
    let v = result.map_err(|e| match e {
        physlearn::generate::GenerateError::Invalid(_) => Failure::bad_input(e),
        other => Failure::other(other),
    })?;
    let text = serde_json::to_string_pretty(&v).map_err(Failure::other)? + "\n";
    match a.out {
        Some(p) => write_atomic(&p, text.as_bytes())?,
        None => print!("{text}"),
    }
    Ok(())
}
