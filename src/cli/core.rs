//! Core-engine commands: `check`, `run`, `schema`, `generate`.

use super::{load_model, progress_bar, sim_failure, Failure};
use anyhow::{anyhow, Context};
use clap::Args;
use physlearn::chem::system::ChemSystem;
use physlearn::io::output::{write_atomic, Manifest, StagedDir};
use physlearn::io::plot::{xy_plot, Figure, Series};
use physlearn::io::tables::csv_text;
use physlearn::learning::{Engine, LearningSystem, Session, SessionOptions};
use physlearn::netlist;
use physlearn::physics::model::Network;
use physlearn::physics::run::Sampling;
use physlearn::physics::system::NetworkSystem;
use physlearn::sim::{self, RunOptions};
use physlearn::{Model, System};
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Netlist JSON file.
    pub file: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn check(a: CheckArgs) -> Result<(), Failure> {
    let model = load_model(&a.file)?;
    match model.system() {
        System::Network(n) => describe_network(&a, n)?,
        System::Chemical(c) => describe_chem(&a, &model, c)?,
    }
    if !a.json {
        for d in model.diagnostics() {
            say!("  {} [{}]: {}", d.level.tag(), d.code, d.message);
        }
    }
    match physlearn::learning::policy::refusal(model.diagnostics()) {
        Some(msg) => Err(Failure::bad_input(anyhow!("{}: {msg}", a.file.display()))),
        None => {
            if !a.json {
                say!("ok");
            }
            Ok(())
        }
    }
}

fn describe_network(a: &CheckArgs, n: &NetworkSystem) -> Result<(), Failure> {
    let prep = n.prepared();
    let net = &prep.network;
    let rep = &prep.report;
    if a.json {
        let v = json!({
            "file": a.file.display().to_string(),
            "physics": n.meta().family,
            "nodes": net.node_names.len(),
            "elements": net.n_elements(),
            "free_dofs": net.n_free,
            "examples": net.examples.len(),
            "learnables": n.meta().learnables,
            "report": rep,
            "protocol": prep.protocol,
            "non_physical": prep.non_physical,
        });
        say!(
            "{}",
            serde_json::to_string_pretty(&v).map_err(Failure::other)?
        );
        return Ok(());
    }
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
                prep.theta_c
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
    Ok(())
}

fn describe_chem(a: &CheckArgs, model: &Model, c: &ChemSystem) -> Result<(), Failure> {
    let m = c.model();
    let rep = c.report();
    let from_template = model
        .netlist()
        .get("template")
        .is_some_and(|t| !t.is_null());
    if a.json {
        let v = json!({
            "file": a.file.display().to_string(),
            "physics": "chemical",
            "from_template": from_template,
            "species": m.network.species.len(),
            "reactions": m.network.reactions.len(),
            "pairs": m.design.pairs.len(),
            "examples": m.examples.len(),
            "learnables": c.meta().learnables,
            "design": m.design,
            "report": rep,
            "protocol": m.protocol,
            "tau_switch": c.tau_switch,
        });
        say!(
            "{}",
            serde_json::to_string_pretty(&v).map_err(Failure::other)?
        );
        return Ok(());
    }
    let d = &m.design;
    say!(
        "{}: chemical network{}, {} species, {} reactions, {} monomers, {} linker pairs, {} example(s)",
        a.file.display(),
        if from_template { " (expanded from a molecular_tcl template)" } else { "" },
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
    let mut laws = rep.conservation_laws.clone();
    say!("  conservation laws ({}):", laws.len());
    if laws.len() > 4 {
        laws.truncate(4);
        laws.push("…".into());
    }
    say!("    {}", laws.join("; "));
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
    /// Run even when the load-time checks report errors, and replace an existing non-empty
    /// output directory (its files are kept until the new output is complete).
    #[arg(long)]
    pub force: bool,
}

pub fn run(a: RunArgs) -> Result<(), Failure> {
    let model = load_model(&a.file)?;
    if let (Some(msg), false) = (
        physlearn::learning::policy::refusal(model.diagnostics()),
        a.force,
    ) {
        return Err(Failure::bad_input(anyhow!(
            "{}: {msg}\n(use --force to run anyway)",
            a.file.display()
        )));
    }
    match model.system() {
        System::Network(n) => run_network(&a, &model, n),
        System::Chemical(c) => run_chem(&a, &model, c),
    }
}

fn run_network(a: &RunArgs, model: &Model, n: &NetworkSystem) -> Result<(), Failure> {
    let prep = n.prepared();
    let nl_record = model
        .record()
        .ok_or_else(|| Failure::other(anyhow!("no record section")))?;
    let bytes = std::fs::read(&a.file).unwrap_or_default();
    let net = &prep.network;
    let n_cycles = match prep.sawtooth() {
        Some(s) => a.cycles.unwrap_or(s.cycles),
        None => 0,
    };
    if a.cycles == Some(0) {
        return Err(Failure::bad_input(anyhow!("--cycles must be ≥ 1")));
    }
    let stage = StagedDir::create(&a.out, a.force)?;
    let started = std::time::Instant::now();
    let pb = progress_bar(n_cycles.max(1) as u64, "run");
    let opts = RunOptions {
        cycles: a.cycles,
        sampling: Sampling {
            per_segment: nl_record.samples_per_segment,
        },
        sample_cycles: a.sample_cycles,
    };
    let out = sim::run(prep, opts, |k, _n, rec| {
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
    for &e in &nl_record.elements {
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
                "energy": r.energy,
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
        "hold_energy": out.hold_energy,
    });
    stage.write_json("summary.json", &summary)?;
    // Energy per integrated segment of the sampled cycles (docs/physics.md §12).
    if !out.runner.segment_energy.is_empty() {
        let text = csv_text(&out.runner.segment_energy)
            .map_err(|e| Failure::other(anyhow!("segments.csv: {e}")))?;
        stage.write_text("segments.csv", &text)?;
    }

    // manifest.json
    let mut m = Manifest::new("run").with_input(&a.file, &bytes);
    m.parameters = json!({
        "protocol": prep.protocol,
        "solver": prep.solver,
        "theta_c": prep.theta_c,
        "cycles": n_cycles,
        "record": nl_record,
        "meta": model.meta(),
    });
    m.statistics = json!({"solver": out.stats, "wall_seconds": wall, "load_report": prep.report});
    m.non_physical = prep.non_physical.clone();
    m.seed = model
        .meta()
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
        super::emit(&netlist::params::markdown_tables());
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
    /// lattice: netlist form. `auto`: compact (one model card and one element group) from
    /// 10 000 edges on, verbose (one JSON object per element) below; both load to the same
    /// network.
    #[arg(long, value_enum, default_value_t = NetlistForm::Auto)]
    pub form: NetlistForm,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetlistForm {
    Auto,
    Verbose,
    Compact,
}

pub fn generate(a: GenerateArgs) -> Result<(), Failure> {
    if let Some(r) = generate_chem(&a.name, a.out.as_deref(), a.template.as_deref()) {
        return r;
    }
    let result = if a.name == "lattice" {
        let n =
            a.n.ok_or_else(|| Failure::bad_input(anyhow!("generate lattice needs --n N")))?;
        let g0 = match &a.g0 {
            Some(p) => Some(physlearn::generate::read_g0(p).map_err(Failure::bad_input)?),
            None => None,
        };
        let compact = match a.form {
            NetlistForm::Auto => {
                2 * n * n.saturating_sub(1) >= physlearn::generate::COMPACT_MIN_EDGES
            }
            NetlistForm::Verbose => false,
            NetlistForm::Compact => true,
        };
        if compact {
            physlearn::generate::lattice_compact(n, a.v_left, g0)
        } else {
            physlearn::generate::lattice(n, a.v_left, g0)
        }
    } else {
        physlearn::generate::by_name(&a.name)
    };
    let v = result.map_err(|e| match e {
        physlearn::generate::GenerateError::Invalid(_) => Failure::bad_input(e),
        other => Failure::other(other),
    })?;
    let text = if v.get("element_groups").is_some() {
        physlearn::generate::netlist_text(&v)
    } else {
        serde_json::to_string_pretty(&v).map_err(Failure::other)? + "\n"
    };
    match a.out {
        Some(p) => write_atomic(&p, text.as_bytes())?,
        None => super::emit(&text),
    }
    Ok(())
}

/// `generate` for the chemical names; `None` when the name is not chemical.
fn generate_chem(
    name: &str,
    out: Option<&Path>,
    template: Option<&Path>,
) -> Option<Result<(), Failure>> {
    use physlearn::netlist::chem as nlchem;
    let v = if name == "chem_expand" {
        let Some(path) = template else {
            return Some(Err(Failure::bad_input(anyhow!(
                "generate chem_expand needs --template FILE"
            ))));
        };
        std::fs::read(path)
            .map_err(|e| Failure::bad_input(anyhow!("{}: {e}", path.display())))
            .and_then(|b| {
                serde_json::from_slice::<serde_json::Value>(&b)
                    .map_err(|e| Failure::bad_input(anyhow!("{}: {e}", path.display())))
            })
            .and_then(|v| {
                nlchem::expand_template(&v)
                    .map_err(|e| Failure::bad_input(anyhow!("{}: {e}", path.display())))
            })
    } else {
        nlchem::generate(name)?.map_err(|e| Failure::bad_input(anyhow!("{name}: {e}")))
    };
    Some(v.and_then(|v| {
        let text = serde_json::to_string_pretty(&v).map_err(Failure::other)? + "\n";
        match out {
            Some(p) => write_atomic(p, text.as_bytes()).map_err(Failure::from),
            None => {
                super::emit(&text);
                Ok(())
            }
        }
    }))
}

/// `run` for a chemical network: the protocol through the training session (the ideal-CL
/// reference learner beside it), with time series of the first `sample_cycles` cycles.
fn run_chem(a: &RunArgs, model: &Model, c: &ChemSystem) -> Result<(), Failure> {
    let m = c.model();
    let opts = SessionOptions {
        cycles: a.cycles,
        force: a.force,
        ..SessionOptions::default()
    };
    let stage = StagedDir::create(&a.out, a.force)?;
    let started = std::time::Instant::now();
    let mut t = Session::new(c, &opts, &a.file.display().to_string(), model.sha256())
        .map_err(sim_failure(&a.file))?;
    let pb = progress_bar(t.checkpoint().total_cycles as u64, "run");
    let mut samples = Vec::new();
    let mut thetas = vec![t.engine().theta()];
    while !t.done() {
        let k = t.checkpoint().next_cycle;
        let record = k < a.sample_cycles || k + 1 == t.checkpoint().total_cycles;
        t.engine_mut().runner.record = record;
        let row = t.step().map_err(sim_failure(&a.file))?;
        let msg = format!("cost {:.3e} cos {:.3}", row.cost_phys, row.cmp.cos_cl);
        samples.append(&mut t.engine_mut().runner.samples);
        thetas.push(t.engine().theta());
        pb.set_position(k as u64 + 1);
        pb.set_message(msg);
    }
    pb.finish_and_clear();
    let wall = started.elapsed().as_secs_f64();
    let d = &m.design;
    let mut header = vec!["t".to_string(), "beta".to_string()];
    header.extend(m.output_names.iter().map(|o| format!("o_{o}")));
    let ids = &c.meta().learnables;
    header.extend(ids.iter().map(|l| format!("ell_{l}")));
    header.extend(ids.iter().map(|l| format!("D_{l}")));
    header.extend(ids.iter().map(|l| format!("Ds_over_x0_{l}")));
    let mut ts = header.join(",") + "\n";
    for (time, beta, x) in &samples {
        let mut row = vec![format!("{time:.9e}"), format!("{beta:.9e}")];
        row.extend(d.outputs.iter().map(|&i| format!("{:.9e}", x[i])));
        row.extend(m.ell_by_pair(x).iter().map(|v| format!("{v:.9e}")));
        row.extend(m.pairs.iter().map(|p| format!("{:.9e}", x[p.d.0])));
        row.extend(m.pairs.iter().map(|p| format!("{:.9e}", x[p.ds.0] / d.x0)));
        ts.push_str(&row.join(","));
        ts.push('\n');
    }
    stage.write_text("timeseries.csv", &ts)?;
    let mut wcsv = std::iter::once("cycle".to_string())
        .chain(ids.iter().cloned())
        .collect::<Vec<_>>()
        .join(",")
        + "\n";
    for (k, th) in thetas.iter().enumerate() {
        wcsv.push_str(&k.to_string());
        for v in th {
            wcsv.push_str(&format!(",{v:.12e}"));
        }
        wcsv.push('\n');
    }
    stage.write_text("weights.csv", &wcsv)?;
    stage.write_text("train.csv", &csv_text(t.rows()).map_err(Failure::other)?)?;
    stage.write_text(
        "weights_final.csv",
        &csv_text(&t.final_thetas()).map_err(Failure::other)?,
    )?;
    stage.write_json("summary.json", &t.summary())?;
    let bytes = std::fs::read(&a.file).unwrap_or_default();
    let mut mf = Manifest::new("run").with_input(&a.file, &bytes);
    mf.parameters = serde_json::json!({
        "physics": "chemical",
        "protocol": m.protocol,
        "solver": m.solver,
        "design": m.design,
        "tau_switch": c.tau_switch,
        "meta": model.meta(),
    });
    mf.statistics = serde_json::json!({"solver": t.engine().runner.stats, "wall_seconds": wall});
    stage.write_json("manifest.json", &mf)?;
    if !samples.is_empty() {
        let tt: Vec<f64> = samples.iter().map(|s| s.0).collect();
        let beta = Figure::new("valve β(t)", "time [τ_k]", "β").add(Series::line(
            "β",
            tt.clone(),
            samples.iter().map(|s| s.1).collect(),
        ));
        let mut outs = Figure::new("outputs (free monomers)", "time [τ_k]", "c [c_u]");
        for (k, &i) in d.outputs.iter().enumerate() {
            outs = outs.add(Series::line(
                m.output_names[k].clone(),
                tt.clone(),
                samples.iter().map(|s| s.2[i]).collect(),
            ));
        }
        xy_plot(&stage.path("drive_outputs.png"), &[beta, outs]).map_err(Failure::other)?;
    }
    let rhs = t.engine().runner.stats.rhs_evals;
    let n = t.rows().len();
    let dir = stage.commit()?;
    eprintln!(
        "wrote {} ({n} cycles, {rhs} RHS evaluations, {wall:.3} s)",
        dir.display()
    );
    Ok(())
}
