//! `physlearn bench`: speed is measured here, not in tests.

use super::load_model;
use super::Failure;
use anyhow::anyhow;
use clap::{Args, Subcommand};
use physlearn::io::output::write_atomic;
use physlearn::physics::run::Sampling;
use physlearn::sim::{self, RunOptions};
use physlearn::System;
use serde_json::json;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchWhat,
}

#[derive(Subcommand, Debug)]
pub enum BenchWhat {
    /// Wall time and RHS evaluations per cycle of netlists (default: every netlist in netlists/).
    Netlists {
        /// Netlist files (default: netlists/*.json).
        files: Vec<PathBuf>,
        /// Cycles per run.
        #[arg(long, default_value_t = 3)]
        cycles: usize,
        /// Repetitions (the median is reported).
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// Write the results as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// The lattice-n workload of bench/reference (side-by-side with scipy_ref.py).
    Lattice {
        /// Grid size n.
        #[arg(long)]
        n: usize,
        /// Potential of the left column (canonical 1; 0.1·(n−1) keeps learning active).
        #[arg(long, default_value_t = 1.0)]
        v_left: f64,
        /// Initial conductances (one per line, edge order), e.g. lattice-data/g0_n64.txt.
        #[arg(long)]
        g0: Option<PathBuf>,
        /// Fill-reducing ordering of the sparse Cholesky.
        #[arg(long, value_enum, default_value_t = OrderingArg::Auto)]
        ordering: OrderingArg,
        /// Storage of the Cholesky factor.
        #[arg(long, value_enum, default_value_t = FactorArg::Auto)]
        factor: FactorArg,
        /// Output directory: bench.json and g_final.txt.
        #[arg(long)]
        out: PathBuf,
    },
    /// lattice-n for several n: scaling.csv and scaling.png (wall time, on-CPU time and linear
    /// solves on the left axis, peak RSS and factor size on the right, RHS evaluations).
    LatticeScaling {
        /// Grid sizes, comma separated.
        #[arg(long, value_delimiter = ',', default_values_t = vec![8usize, 16, 32, 64, 128, 256, 512])]
        ns: Vec<usize>,
        /// Potential of the left column.
        #[arg(long, default_value_t = 1.0)]
        v_left: f64,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// Load time and peak memory of one netlist file (one file per process, so that the peak
    /// RSS is this file's): reading, parsing and validating the netlist (what `check` reports
    /// faults from), then the whole `physlearn::load` (network preparation and load-time
    /// diagnostics included). Generate the file first, e.g. `physlearn generate lattice --n 256
    /// --form verbose --out lattice-256.json`.
    Load {
        /// The netlist file.
        file: PathBuf,
        /// Write the figures as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// The sparse Cholesky of lattice-n under each ordering (AMD, nested dissection) and factor
    /// storage (simplicial, supernodal): entries and bytes of L, analysis, factorisation and
    /// single-vector solve times.
    LatticeSolver {
        /// Grid sizes, comma separated.
        #[arg(long, value_delimiter = ',', default_values_t = vec![64usize, 128, 256, 512])]
        ns: Vec<usize>,
        /// Timed solve pairs per configuration (the fastest is reported: the least disturbed by
        /// other load on the machine).
        #[arg(long, default_value_t = 30)]
        solves: usize,
        /// Write the table as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

/// `--ordering` of the lattice benchmarks.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderingArg {
    /// AMD for small problems, else the ordering with the smaller factor.
    Auto,
    /// Approximate minimum degree.
    Amd,
    /// METIS nested dissection.
    Nd,
}

/// `--factor` of the lattice benchmarks.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FactorArg {
    Auto,
    Simplicial,
    Supernodal,
}

fn spd_options(o: OrderingArg, f: FactorArg) -> physlearn::physics::linsolve::SpdOptions {
    use physlearn::physics::linsolve::{FactorChoice, OrderingChoice, SpdOptions};
    SpdOptions {
        ordering: match o {
            OrderingArg::Auto => OrderingChoice::Auto,
            OrderingArg::Amd => OrderingChoice::Amd,
            OrderingArg::Nd => OrderingChoice::NestedDissection,
        },
        factor: match f {
            FactorArg::Auto => FactorChoice::Auto,
            FactorArg::Simplicial => FactorChoice::Simplicial,
            FactorArg::Supernodal => FactorChoice::Supernodal,
        },
    }
}

pub fn bench(a: BenchArgs) -> Result<(), Failure> {
    match a.what {
        BenchWhat::Netlists {
            files,
            cycles,
            repeat,
            json: out,
        } => netlists(files, cycles, repeat, out),
        BenchWhat::Lattice {
            n,
            v_left,
            g0,
            ordering,
            factor,
            out,
        } => {
            physlearn::physics::linsolve::set_default_options(spd_options(ordering, factor));
            lattice(n, v_left, g0, out)
        }
        BenchWhat::LatticeScaling { ns, v_left, out } => lattice_scaling(ns, v_left, out),
        BenchWhat::LatticeSolver { ns, solves, json } => lattice_solver(ns, solves, json),
        BenchWhat::Load { file, json } => load(file, json),
    }
}

/// `bench load`: the netlist stage (read, parse, duplicate keys, validation: the same calls as
/// `physlearn::load`), then a full `physlearn::load` of the same file.
fn load(file: PathBuf, json_out: Option<PathBuf>) -> Result<(), Failure> {
    use physlearn::netlist;
    let mib = |b: Option<u64>| b.unwrap_or(0) as f64 / 1048576.0;
    let rss_start = rss_bytes();
    let t0 = std::time::Instant::now();
    let bytes = std::fs::read(&file)
        .map_err(|e| Failure::bad_input(anyhow::anyhow!("{}: {e}", file.display())))?;
    let t_read = t0.elapsed().as_secs_f64();
    let mut phases = Vec::new();
    let (elements, chemical) = {
        let t = std::time::Instant::now();
        let doc = netlist::Doc::from_slice(&bytes).map_err(Failure::bad_input)?;
        phases.push(("parse_seconds", t.elapsed().as_secs_f64()));
        let t = std::time::Instant::now();
        let dups = netlist::dupkeys::duplicate_keys(&bytes);
        phases.push(("duplicate_keys_seconds", t.elapsed().as_secs_f64()));
        if !dups.is_empty() {
            return Err(Failure::bad_input(netlist::NetlistError::Invalid(dups)));
        }
        let t = std::time::Instant::now();
        let r = if doc.is_chemical() {
            (0, true)
        } else {
            let nl = netlist::from_doc(&doc).map_err(Failure::bad_input)?;
            (nl.network.elements.len(), false)
        };
        phases.push(("validate_seconds", t.elapsed().as_secs_f64()));
        r
    };
    let t_netlist = t0.elapsed().as_secs_f64();
    let peak_netlist = peak_rss_bytes();
    let t1 = std::time::Instant::now();
    drop(bytes);
    let model = physlearn::load(&file).map_err(|e| Failure::bad_input(anyhow::anyhow!("{e}")))?;
    let t_model = t1.elapsed().as_secs_f64();
    let peak_model = peak_rss_bytes();
    let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    let mut v = json!({
        "file": file.display().to_string(),
        "bytes": size,
        "elements": elements,
        "chemical": chemical,
        "read_seconds": t_read,
        "netlist_seconds": t_netlist,
        "peak_rss_netlist_bytes": peak_netlist,
        "load_seconds": t_model,
        "peak_rss_load_bytes": peak_model,
        "rss_start_bytes": rss_start,
        "learnables": model.learnables().len(),
    });
    for (k, x) in &phases {
        v[*k] = json!(x);
    }
    println!(
        "{}: {:.1} MB, {elements} elements: read+parse+validate {:.3} s (read {:.3} s, parse {:.3} s, duplicate keys {:.3} s, validate {:.3} s), peak RSS {:.1} MiB; physlearn::load {:.3} s, peak RSS {:.1} MiB",
        file.display(),
        size as f64 / 1e6,
        t_netlist,
        t_read,
        phases[0].1,
        phases[1].1,
        phases[2].1,
        mib(peak_netlist),
        t_model,
        mib(peak_model)
    );
    if let Some(p) = json_out {
        let text = serde_json::to_string_pretty(&v).map_err(Failure::other)? + "\n";
        write_atomic(&p, text.as_bytes())?;
    }
    Ok(())
}

/// A memory figure of this process from /proc/self/status (`VmHWM`, `VmRSS`), in bytes.
fn status_bytes(key: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Peak resident memory of this process (VmHWM), in bytes.
fn peak_rss_bytes() -> Option<u64> {
    status_bytes("VmHWM:")
}

/// Resident memory of this process now (VmRSS), in bytes.
fn rss_bytes() -> Option<u64> {
    status_bytes("VmRSS:")
}

/// On-CPU time of the calling thread in seconds (`/proc/thread-self/schedstat`, nanoseconds): on
/// a shared machine it excludes the time the thread waited for a core.
fn thread_cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns * 1e-9)
}

fn lattice(n: usize, v_left: f64, g0: Option<PathBuf>, out: PathBuf) -> Result<(), Failure> {
    use physlearn::io::output::StagedDir;
    use physlearn::physics::run::Runner;
    let t_total = std::time::Instant::now();
    let g0v = match &g0 {
        Some(p) => Some(physlearn::generate::read_g0(p).map_err(Failure::bad_input)?),
        None => None,
    };
    // Build the validated netlist without its JSON tree (several hundred MiB at n = 256) and
    // keep only the prepared model.
    let prep = {
        let nl =
            physlearn::generate::lattice_netlist(n, v_left, g0v).map_err(Failure::bad_input)?;
        sim::prepare(&nl).map_err(|e| Failure::numerical(anyhow!("{e}")))?
    };
    let saw = prep
        .sawtooth()
        .cloned()
        .ok_or_else(|| Failure::other(anyhow!("lattice protocol is a sawtooth")))?;
    let net = &prep.network;
    let stage = StagedDir::new(&out)?;
    let (rss_model, peak_model) = (rss_bytes(), peak_rss_bytes());
    let setup = t_total.elapsed().as_secs_f64();
    let t0 = std::time::Instant::now();
    let cpu0 = thread_cpu_seconds();
    // The workload starts from rest (as scipy_ref.py): no DC solve for the initial states.
    let mut runner = Runner::at_rest(net, prep.solver, net.initial_params())
        .map_err(|e| Failure::numerical(anyhow!("{e}")))?;
    // The workload is the bare dynamics (as the reference): no energy quadrature.
    runner.dynamics.set_energy(false);
    let rss_runner = rss_bytes();
    let mut vout = Vec::new();
    let n_ex = net.examples.len();
    for _ in 0..saw.cycles {
        // One cycle as `Runner::run_cycle` integrates it, without its per-cycle bookkeeping (a
        // static cost solve and copies of w), which is not part of the workload.
        runner.dynamics.invalidate_factor();
        let segs = saw.cycle_segments(runner.cycle, runner.t, saw.beta_max, n_ex);
        runner
            .run_segments(&segs, Sampling { per_segment: 0 })
            .map_err(|e| Failure::numerical(anyhow!("{e}")))?;
        runner.cycle += 1;
        let v = runner.dynamics.layout.pack(&runner.params, &runner.states);
        let o = runner
            .dynamics
            .outputs_at(runner.t, v.as_slice(), 0.0, 0)
            .map_err(|e| Failure::numerical(anyhow!("{e}")))?;
        vout.push(o[0]);
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = match (cpu0, thread_cpu_seconds()) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let st = runner.dynamics.stats;
    let (cg_iterations, refactorizations) = runner.dynamics.reuse_stats();
    let factor = runner.dynamics.factor_info();
    let triangular_solves = runner.dynamics.triangular_solves();
    let g: String = runner
        .params
        .w
        .iter()
        .map(|x| format!("{x:.17e}\n"))
        .collect();
    stage.write_text("g_final.txt", &g)?;
    let n_changed = runner
        .params
        .w
        .iter()
        .zip(&net.initial_params().w)
        .filter(|(a, b)| (*a - *b).abs() > 1e-12)
        .count();
    let res = json!({
        "tool": "physlearn", "version": env!("CARGO_PKG_VERSION"), "n": n, "E": net.n_elements(), "v_left": v_left,
        "g0": g0.as_ref().map(|p| p.display().to_string()),
        "method": prep.solver.method, "rtol": prep.solver.rtol, "atol": prep.solver.atol,
        "wall_seconds": wall, "cpu_seconds": cpu, "setup_seconds": setup, "rhs_evals": st.rhs_evals, "accepted_steps": st.accepted_steps,
        "rejected_steps": st.rejected_steps, "factorizations": st.factorizations,
        "cg_iterations": cg_iterations, "refactorizations": refactorizations, "triangular_solves": triangular_solves,
        "linear_solve_seconds": runner.dynamics.linear_solve_seconds(),
        "peak_rss_bytes": peak_rss_bytes(), "n_g_changed": n_changed,
        "factor": factor,
        "memory": {
            "peak_rss_bytes": peak_rss_bytes(),
            "peak_rss_after_model_bytes": peak_model,
            "rss_after_model_bytes": rss_model,
            "rss_after_runner_bytes": rss_runner,
            "rss_end_bytes": rss_bytes(),
            "solver_bytes": runner.solver_bytes(),
            "factor_symbolic_bytes": factor.symbolic_bytes,
            "factor_numeric_bytes": runner.dynamics.factor_numeric_bytes(),
        },
        "vout": vout,
    });
    stage.write_json("bench.json", &res)?;
    stage.commit()?;
    say!(
        "lattice-{n} (E = {}, v_left = {v_left}): {wall:.3} s (on-CPU {:.3} s), {} RHS, {} accepted / {} rejected steps, {} factorisations, {} PCG iterations, {} triangular solve pairs, linear solve {:.3} s, peak RSS {:.1} MiB; factor {:?}/{:?}, nnz(L) = {} ({:.1} MiB of values)",
        net.n_elements(),
        cpu.unwrap_or(f64::NAN),
        st.rhs_evals,
        st.accepted_steps,
        st.rejected_steps,
        st.factorizations,
        cg_iterations,
        triangular_solves,
        runner.dynamics.linear_solve_seconds(),
        peak_rss_bytes().unwrap_or(0) as f64 / 1048576.0,
        factor.ordering,
        factor.factor,
        factor.nnz_l,
        (8 * factor.l_values) as f64 / 1048576.0
    );
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

fn netlists(
    files: Vec<PathBuf>,
    cycles: usize,
    repeat: usize,
    out: Option<PathBuf>,
) -> Result<(), Failure> {
    if cycles == 0 || repeat == 0 {
        return Err(Failure::bad_input(anyhow!(
            "--cycles and --repeat must be ≥ 1"
        )));
    }
    let files = if files.is_empty() {
        let mut v: Vec<PathBuf> = std::fs::read_dir("netlists")
            .map_err(|e| Failure::bad_input(anyhow!("netlists/: {e}")))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        v.sort();
        v
    } else {
        files
    };
    say!(
        "{:<28} {:>6} {:>7} {:>12} {:>12} {:>10} {:>12}",
        "netlist",
        "nodes",
        "edges",
        "s/cycle",
        "RHS/cycle",
        "rejected",
        "factor/cycle"
    );
    let mut results = Vec::new();
    for f in files {
        let model = load_model(&f)?;
        let prep = match model.system() {
            System::Network(n) => n.prepared(),
            System::Chemical(c) => {
                let (line, v) = bench_chem(&f, c, cycles, repeat)?;
                say!("{line}");
                results.push(v);
                continue;
            }
        };
        let net = &prep.network;
        let n_cycles = if prep.sawtooth().is_some() { cycles } else { 1 };
        let mut times = Vec::new();
        let mut stats = None;
        for _ in 0..repeat {
            let t0 = std::time::Instant::now();
            let o = sim::run(
                prep,
                RunOptions {
                    cycles: Some(n_cycles),
                    sampling: Sampling { per_segment: 0 },
                    sample_cycles: 0,
                },
                |_, _, _| {},
            )
            .map_err(|e| Failure::numerical(anyhow!("{}: {e}", f.display())))?;
            times.push(t0.elapsed().as_secs_f64() / n_cycles as f64);
            stats = Some(o.stats);
        }
        let s = stats.unwrap_or_default();
        let per = |x: u64| x as f64 / n_cycles as f64;
        let name = f
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let t = median(times);
        say!(
            "{:<28} {:>6} {:>7} {:>12.4e} {:>12.0} {:>10.1} {:>12.0}",
            name,
            net.node_names.len(),
            net.n_elements(),
            t,
            per(s.rhs_evals),
            per(s.rejected_steps),
            per(s.factorizations)
        );
        results.push(json!({
            "netlist": f.display().to_string(), "nodes": net.node_names.len(), "elements": net.n_elements(),
            "cycles": n_cycles, "repeat": repeat, "seconds_per_cycle_median": t,
            "rhs_evals_per_cycle": per(s.rhs_evals), "rejected_per_cycle": per(s.rejected_steps),
            "factorizations_per_cycle": per(s.factorizations), "method": prep.solver.method,
        }));
    }
    if let Some(p) = out {
        let v = json!({"version": env!("CARGO_PKG_VERSION"), "results": results});
        write_atomic(
            &p,
            (serde_json::to_string_pretty(&v).map_err(Failure::other)? + "\n").as_bytes(),
        )?;
    }
    Ok(())
}

fn lattice_scaling(ns: Vec<usize>, v_left: f64, out: PathBuf) -> Result<(), Failure> {
    use physlearn::io::output::StagedDir;
    if ns.is_empty() {
        return Err(Failure::bad_input(anyhow!("--ns needs at least one size")));
    }
    let stage = StagedDir::new(&out)?;
    let mut rows = Vec::new();
    let mib = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN) / 1048576.0;
    for &n in &ns {
        let sub = stage.path(&format!("n{n}"));
        lattice(n, v_left, None, sub.clone())?;
        let text = std::fs::read_to_string(sub.join("bench.json"))
            .map_err(|e| Failure::other(anyhow!("{e}")))?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(Failure::other)?;
        let f = &v["factor"];
        rows.push(ScalingRow {
            n: n as f64,
            edges: v["E"].as_f64().unwrap_or(f64::NAN),
            wall: v["wall_seconds"].as_f64().unwrap_or(f64::NAN),
            cpu: v["cpu_seconds"].as_f64().unwrap_or(f64::NAN),
            rhs: v["rhs_evals"].as_f64().unwrap_or(f64::NAN),
            linear: v["linear_solve_seconds"].as_f64().unwrap_or(f64::NAN),
            // Peak of this process so far: with increasing n, that of the largest run.
            peak_rss_mib: mib(&v["peak_rss_bytes"]),
            rss_end_mib: mib(&v["memory"]["rss_end_bytes"]),
            factor_mib: (f["l_values"].as_f64().unwrap_or(f64::NAN) * 8.0
                + f["symbolic_bytes"].as_f64().unwrap_or(f64::NAN))
                / 1048576.0,
            nnz_l: f["nnz_l"].as_f64().unwrap_or(f64::NAN),
        });
    }
    let mut csv = String::from(
        "n,edges,wall_seconds,cpu_seconds,rhs_evals,linear_solve_seconds,peak_rss_mib_process,rss_end_mib,factor_mib,nnz_l\n",
    );
    for r in &rows {
        csv.push_str(&format!(
            "{},{},{:.6},{:.6},{},{:.6},{:.1},{:.1},{:.2},{}\n",
            r.n,
            r.edges,
            r.wall,
            r.cpu,
            r.rhs,
            r.linear,
            r.peak_rss_mib,
            r.rss_end_mib,
            r.factor_mib,
            r.nnz_l
        ));
    }
    stage.write_text("scaling.csv", &csv)?;
    scaling_plot(&stage.path("scaling.png"), &rows)
        .map_err(|e| Failure::other(anyhow!("scaling.png: {e}")))?;
    stage.commit()?;
    Ok(())
}

/// One size of `bench lattice-scaling`.
struct ScalingRow {
    n: f64,
    edges: f64,
    wall: f64,
    cpu: f64,
    rhs: f64,
    linear: f64,
    peak_rss_mib: f64,
    rss_end_mib: f64,
    factor_mib: f64,
    nnz_l: f64,
}

/// scaling.png: time (left axis, s) and memory (right axis, MiB) against edges, log–log; RHS
/// evaluations in a second panel.
fn scaling_plot(path: &std::path::Path, rows: &[ScalingRow]) -> Result<(), String> {
    use plotters::prelude::*;
    physlearn::io::plot::register_font();
    let e = |s: String| s;
    let root = BitMapBackend::new(path, (1440, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
    let (left, right) = root.split_horizontally(900);
    let span = |v: &mut dyn Iterator<Item = f64>| {
        let (lo, hi) = v
            .filter(|x| x.is_finite() && *x > 0.0)
            .fold((f64::INFINITY, 0.0f64), |(a, b), x| (a.min(x), b.max(x)));
        if lo.is_finite() {
            (lo / 1.5, hi * 1.5)
        } else {
            (0.1, 10.0)
        }
    };
    let (x0, x1) = span(&mut rows.iter().map(|r| r.edges));
    let (t0, t1) = span(&mut rows.iter().flat_map(|r| [r.wall, r.cpu, r.linear]));
    let (m0, m1) = span(&mut rows.iter().flat_map(|r| [r.peak_rss_mib, r.factor_mib]));
    let mut chart = ChartBuilder::on(&left)
        .caption(
            "lattice-n, 20 periods: time (left) and memory (right)",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(70)
        .right_y_label_area_size(70)
        .build_cartesian_2d((x0..x1).log_scale(), (t0..t1).log_scale())
        .map_err(|x| e(x.to_string()))?
        .set_secondary_coord((x0..x1).log_scale(), (m0..m1).log_scale());
    let tick = |v: &f64| physlearn::io::plot::tick_label(*v);
    chart
        .configure_mesh()
        .x_desc("edges")
        .y_desc("seconds")
        .label_style(("sans-serif", 13))
        .x_label_formatter(&tick)
        .y_label_formatter(&tick)
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(|x| e(x.to_string()))?;
    chart
        .configure_secondary_axes()
        .y_desc("MiB")
        .label_style(("sans-serif", 13))
        .y_label_formatter(&tick)
        .draw()
        .map_err(|x| e(x.to_string()))?;
    let pts = |f: &dyn Fn(&ScalingRow) -> f64| -> Vec<(f64, f64)> {
        rows.iter()
            .map(|r| (r.edges, f(r)))
            .filter(|p| p.1.is_finite() && p.1 > 0.0)
            .collect()
    };
    let time_series: [(&str, Vec<(f64, f64)>); 3] = [
        ("wall", pts(&|r| r.wall)),
        ("on-CPU", pts(&|r| r.cpu)),
        ("linear solves (wall)", pts(&|r| r.linear)),
    ];
    for (i, (label, p)) in time_series.into_iter().enumerate() {
        let c = physlearn::io::plot::color(i);
        chart
            .draw_series(LineSeries::new(p.clone(), c.stroke_width(2)))
            .map_err(|x| e(x.to_string()))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
        chart
            .draw_series(p.into_iter().map(|q| Circle::new(q, 3, c.filled())))
            .map_err(|x| e(x.to_string()))?;
    }
    let mem_series: [(&str, Vec<(f64, f64)>); 2] = [
        ("peak RSS (right)", pts(&|r| r.peak_rss_mib)),
        ("factor L + symbolic (right)", pts(&|r| r.factor_mib)),
    ];
    for (i, (label, p)) in mem_series.into_iter().enumerate() {
        let c = physlearn::io::plot::color(3 + i);
        let style = ShapeStyle {
            color: c.to_rgba(),
            filled: false,
            stroke_width: 2,
        };
        chart
            .draw_secondary_series(DashedLineSeries::new(p.clone(), 8, 5, style))
            .map_err(|x| e(x.to_string()))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
        chart
            .draw_secondary_series(p.into_iter().map(|q| TriangleMarker::new(q, 4, c.filled())))
            .map_err(|x| e(x.to_string()))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()
        .map_err(|x| e(x.to_string()))?;
    let (r0, r1) = span(&mut rows.iter().map(|r| r.rhs));
    let mut rc = ChartBuilder::on(&right)
        .caption("RHS evaluations", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(70)
        .build_cartesian_2d((x0..x1).log_scale(), r0.min(1000.0)..r1)
        .map_err(|x| e(x.to_string()))?;
    rc.configure_mesh()
        .x_desc("edges")
        .y_desc("RHS evaluations (Dopri5, rtol 1e-6)")
        .label_style(("sans-serif", 13))
        .x_label_formatter(&tick)
        .y_label_formatter(&tick)
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(|x| e(x.to_string()))?;
    let c = physlearn::io::plot::color(0);
    let p = pts(&|r| r.rhs);
    rc.draw_series(LineSeries::new(p.clone(), c.stroke_width(2)))
        .map_err(|x| e(x.to_string()))?;
    rc.draw_series(p.into_iter().map(|q| Circle::new(q, 3, c.filled())))
        .map_err(|x| e(x.to_string()))?;
    root.present().map_err(|x| e(x.to_string()))?;
    Ok(())
}

fn lattice_solver(ns: Vec<usize>, solves: usize, json_out: Option<PathBuf>) -> Result<(), Failure> {
    use physlearn::physics::equilibrium::DynamicEquilibrium;
    use physlearn::physics::linsolve::{FactorChoice, OrderingChoice, SpdOptions};
    let num = |e: physlearn::physics::PhysicsError| Failure::numerical(anyhow!("{e}"));
    say!(
        "{:>5} {:>9} {:>18} {:>11} {:>11} {:>9} {:>10} {:>9} {:>10} {:>10}",
        "n",
        "unknowns",
        "ordering/factor",
        "nnz(L)",
        "L values",
        "L MiB",
        "analysis s",
        "factor s",
        "solve ms",
        "supernodes"
    );
    let mut rows = Vec::new();
    for &n in &ns {
        let nl = physlearn::generate::lattice_netlist(n, 1.0, None).map_err(Failure::bad_input)?;
        let prep = sim::prepare(&nl).map_err(|e| Failure::numerical(anyhow!("{e}")))?;
        drop(nl);
        let net = &prep.network;
        let p = net.initial_params();
        let ne = net.n_elements();
        let (mut k, mut kr) = (vec![0.0; ne], vec![0.0; ne]);
        for (e, el) in net.elements.iter().enumerate() {
            let (a, c) = el.conductances(p.w[e]);
            k[e] = a + c;
            kr[e] = a * p.l[e];
        }
        let ex = &net.examples[0];
        let mut y = vec![0.0; ne];
        for ordering in [OrderingChoice::Amd, OrderingChoice::NestedDissection] {
            for factor in [FactorChoice::Simplicial, FactorChoice::Supernodal] {
                let mut eq = DynamicEquilibrium::with_options(net, SpdOptions { ordering, factor })
                    .map_err(num)?;
                eq.solve(net, &k, &kr, 0.0, &ex.xd, &ex.targets, &mut y)
                    .map_err(num)?;
                let s = eq.solver_mut();
                let mut ft = Vec::new();
                for _ in 0..3 {
                    let t0 = std::time::Instant::now();
                    s.factor().map_err(|e| Failure::numerical(anyhow!("{e}")))?;
                    ft.push(t0.elapsed().as_secs_f64());
                }
                let nf = s.dim();
                let rhs: Vec<f64> = (0..nf).map(|i| ((i * 7919) % 1000) as f64 * 1e-3).collect();
                let mut x = rhs.clone();
                let mut st = Vec::new();
                for _ in 0..solves.max(1) {
                    x.copy_from_slice(&rhs);
                    let t0 = std::time::Instant::now();
                    s.solve_in_place(&mut x);
                    st.push(t0.elapsed().as_secs_f64());
                }
                let mut ax = vec![0.0; nf];
                s.mul(&x, &mut ax);
                let res = ax
                    .iter()
                    .zip(&rhs)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f64::max);
                let info = s.info().clone();
                let fastest = |v: Vec<f64>| v.into_iter().fold(f64::INFINITY, f64::min);
                let (fs, ss) = (fastest(ft), fastest(st));
                let tag = format!(
                    "{}/{}",
                    match info.ordering {
                        OrderingChoice::NestedDissection => "nd",
                        _ => "amd",
                    },
                    match info.factor {
                        FactorChoice::Supernodal => "supernodal",
                        _ => "simplicial",
                    }
                );
                say!(
                    "{:>5} {:>9} {:>18} {:>11} {:>11} {:>9.1} {:>10.3} {:>9.4} {:>10.3} {:>10}",
                    n,
                    nf,
                    tag,
                    info.nnz_l,
                    info.l_values,
                    (info.l_values * 8) as f64 / 1048576.0,
                    info.analysis_seconds,
                    fs,
                    ss * 1e3,
                    info.supernodes.map_or("-".to_string(), |v| v.to_string())
                );
                rows.push(json!({
                    "n": n, "unknowns": nf, "edges": ne, "info": info,
                    "factor_seconds": fs, "solve_seconds": ss, "max_residual": res,
                }));
            }
        }
    }
    if let Some(p) = json_out {
        let v = json!({"version": env!("CARGO_PKG_VERSION"), "rows": rows});
        write_atomic(
            &p,
            (serde_json::to_string_pretty(&v).map_err(Failure::other)? + "\n").as_bytes(),
        )?;
    }
    Ok(())
}

/// One row for a chemical netlist: per-cycle wall time (median over repetitions), RHS,
/// Jacobian and LU counts of the full network (the training session without reference
/// learners).
fn bench_chem(
    file: &std::path::Path,
    c: &physlearn::chem::system::ChemSystem,
    cycles: usize,
    repeat: usize,
) -> Result<(String, serde_json::Value), Failure> {
    use physlearn::learning::{Session, SessionOptions};
    let m = c.model();
    let opts = SessionOptions {
        cycles: Some(cycles),
        reference_learners: false,
        ..SessionOptions::default()
    };
    let mut times = Vec::new();
    let mut last = (0, 0, 0, 0);
    for _ in 0..repeat {
        let mut t = Session::new(c, &opts, "bench", "").map_err(super::sim_failure(file))?;
        let st0 = t.engine().runner.stats;
        let t0 = std::time::Instant::now();
        while !t.done() {
            t.step().map_err(super::sim_failure(file))?;
        }
        times.push(t0.elapsed().as_secs_f64() / cycles as f64);
        let st = t.engine().runner.stats;
        last = (
            st.rhs_evals - st0.rhs_evals,
            st.jacobian_evals - st0.jacobian_evals,
            st.lu_decompositions - st0.lu_decompositions,
            st.rejected_steps - st0.rejected_steps,
        );
    }
    let med = median(times);
    let (rhs, jac, lu, rej) = last;
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
