//! `physlearn bench`: speed is measured here, not in tests.

use super::core::load_prepared;
use super::Failure;
use anyhow::anyhow;
use clap::{Args, Subcommand};
use physlearn::io::output::write_atomic;
use physlearn::physics::run::Sampling;
use physlearn::sim::{self, RunOptions};
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
}

pub fn bench(a: BenchArgs) -> Result<(), Failure> {
    match a.what {
        BenchWhat::Netlists {
            files,
            cycles,
            repeat,
            json: out,
        } => netlists(files, cycles, repeat, out),
    }
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
        let (_, prep, _) = load_prepared(&f)?;
        let net = &prep.network;
        let n_cycles = if prep.sawtooth().is_some() { cycles } else { 1 };
        let mut times = Vec::new();
        let mut stats = None;
        for _ in 0..repeat {
            let t0 = std::time::Instant::now();
            let o = sim::run(
                &prep,
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
