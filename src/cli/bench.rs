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
        /// Output directory: bench.json and g_final.txt.
        #[arg(long)]
        out: PathBuf,
    },
    /// lattice-n for several n: scaling.csv and scaling.png (wall time and RHS vs edges).
    LatticeScaling {
        /// Grid sizes, comma separated.
        #[arg(long, value_delimiter = ',', default_values_t = vec![8usize, 16, 32, 64, 128])]
        ns: Vec<usize>,
        /// Potential of the left column.
        #[arg(long, default_value_t = 1.0)]
        v_left: f64,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn bench(a: BenchArgs) -> Result<(), Failure> {
    match a.what {
        BenchWhat::Netlists {
            files,
            cycles,
            repeat,
            json: out,
        } => netlists(files, cycles, repeat, out),
        BenchWhat::Lattice { n, v_left, g0, out } => lattice(n, v_left, g0, out),
        BenchWhat::LatticeScaling { ns, v_left, out } => lattice_scaling(ns, v_left, out),
    }
}

/// Peak resident memory of this process (VmHWM), in bytes.
fn peak_rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
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
    let setup = t_total.elapsed().as_secs_f64();
    let t0 = std::time::Instant::now();
    let cpu0 = thread_cpu_seconds();
    let mut runner = Runner::new(net, prep.solver, net.initial_params())
        .map_err(|e| Failure::numerical(anyhow!("{e}")))?;
    runner.states = physlearn::physics::model::States::zeros(net.n_elements());
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
        "vout": vout,
    });
    stage.write_json("bench.json", &res)?;
    stage.commit()?;
    say!(
        "lattice-{n} (E = {}, v_left = {v_left}): {wall:.3} s (on-CPU {:.3} s), {} RHS, {} accepted / {} rejected steps, {} factorisations, {} PCG iterations, {} triangular solve pairs, linear solve {:.3} s, peak RSS {:.1} MiB",
        net.n_elements(),
        cpu.unwrap_or(f64::NAN),
        st.rhs_evals,
        st.accepted_steps,
        st.rejected_steps,
        st.factorizations,
        cg_iterations,
        triangular_solves,
        runner.dynamics.linear_solve_seconds(),
        peak_rss_bytes().unwrap_or(0) as f64 / 1048576.0
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
    use physlearn::io::plot::{xy_plot, Figure, Mark, Series};
    if ns.is_empty() {
        return Err(Failure::bad_input(anyhow!("--ns needs at least one size")));
    }
    let stage = StagedDir::new(&out)?;
    let mut rows = Vec::new();
    for &n in &ns {
        let sub = stage.path(&format!("n{n}"));
        lattice(n, v_left, None, sub.clone())?;
        let text = std::fs::read_to_string(sub.join("bench.json"))
            .map_err(|e| Failure::other(anyhow!("{e}")))?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(Failure::other)?;
        rows.push((
            n as f64,
            v["E"].as_f64().unwrap_or(f64::NAN),
            v["wall_seconds"].as_f64().unwrap_or(f64::NAN),
            v["rhs_evals"].as_f64().unwrap_or(f64::NAN),
            v["linear_solve_seconds"].as_f64().unwrap_or(f64::NAN),
            v["peak_rss_bytes"].as_f64().unwrap_or(f64::NAN) / 1048576.0,
        ));
    }
    let mut csv =
        String::from("n,edges,wall_seconds,rhs_evals,linear_solve_seconds,peak_rss_mib_process\n");
    for r in &rows {
        csv.push_str(&format!(
            "{},{},{:.6},{},{:.6},{:.1}\n",
            r.0, r.1, r.2, r.3, r.4, r.5
        ));
    }
    stage.write_text("scaling.csv", &csv)?;
    let e: Vec<f64> = rows.iter().map(|r| r.1).collect();
    let wall = Figure::new("lattice-n, 20 periods: wall time", "edges", "seconds")
        .log_x()
        .log_y()
        .add(
            Series::line("total", e.clone(), rows.iter().map(|r| r.2).collect())
                .with_mark(Mark::LinePoints),
        )
        .add(
            Series::line(
                "linear solves",
                e.clone(),
                rows.iter().map(|r| r.4).collect(),
            )
            .with_mark(Mark::LinePoints),
        );
    let rhs = Figure::new("RHS evaluations", "edges", "RHS evaluations")
        .log_x()
        .add(
            Series::line("Dopri5, rtol 1e-6", e, rows.iter().map(|r| r.3).collect())
                .with_mark(Mark::LinePoints),
        );
    xy_plot(&stage.path("scaling.png"), &[wall, rhs])?;
    stage.commit()?;
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
