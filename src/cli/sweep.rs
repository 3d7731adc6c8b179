//! `physlearn sweep` (a grid of netlist values through `compare`/`train`, parallel, sharded,
//! resumable) and the network half of `physlearn sweep-merge`.
//!
//! A sweep directory holds `sweep.json` (the grid: equal grids are the same sweep), one
//! `points/<id>.json` per finished point (written atomically as soon as the point ends, so a
//! killed sweep resumes where it stopped), and, when the shard's points are all done,
//! `results.csv`, `results.json`, `manifest.json` and the plots.

use super::train::RunLock;
use super::{progress_bar, Failure};
use anyhow::anyhow;
use clap::{Args, ValueEnum};
use physlearn::io::output::{write_atomic, Manifest, StagedDir};
use physlearn::io::plot::{heatmap, xy_plot, Figure, Mark, Series};
use physlearn::sweep::{results_csv, Mode, PointResult, Status, Sweep, SweepSpec};
use physlearn::synapse::Shard;
use rayon::prelude::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// One cycle of example 0 at θ0 against the ideal rule and the gradient.
    Compare,
    /// `compare`, then a training run (reference learners included).
    Train,
}

#[derive(Args, Debug)]
pub struct SweepArgs {
    /// Netlist JSON file (any family; chemical: the template form sweeps `template.params.*`).
    pub file: PathBuf,
    /// A swept field: KEY=V1,V2,… or KEY=LO:HI:N (N values, ends included) or KEY=LO:HI:Nlog.
    /// KEY: protocol.beta_max, theta_auto.c, elements[*].update.rho, elements[e3].update.rho,
    /// meta.seeds.NAME (generated netlists), … Repeat for a product grid.
    #[arg(long = "set", value_name = "KEY=VALUES")]
    pub set: Vec<String>,
    /// Generator seeds A..B (both ends included) of `--seed-key` (netlists written by
    /// `physlearn generate`): the innermost axis of the grid.
    #[arg(long, value_name = "A..B")]
    pub seeds: Option<String>,
    /// Which generator seed `--seeds` sets (a name in the netlist's meta.seeds).
    #[arg(long, default_value = "student")]
    pub seed_key: String,
    /// Training cycles per point (train mode; default: the netlist's protocol.cycles).
    #[arg(long)]
    pub cycles: Option<usize>,
    /// What each point runs.
    #[arg(long, value_enum, default_value_t = ModeArg::Compare)]
    pub mode: ModeArg,
    /// Sweep directory (created; rerunning into it resumes the same sweep).
    #[arg(long)]
    pub out: PathBuf,
    /// Points run in parallel on this machine.
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Run shard I of N (points p with p mod N = I); default from SLURM_ARRAY_TASK_ID and
    /// SLURM_ARRAY_TASK_COUNT. Merge shard directories with `physlearn sweep-merge`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Run points whose load-time checks report errors (it never replaces files).
    #[arg(long)]
    pub force: bool,
}

fn bad(e: impl std::fmt::Display) -> Failure {
    Failure::bad_input(anyhow!("{e}"))
}

pub fn sweep(a: SweepArgs) -> Result<(), Failure> {
    if a.jobs == 0 {
        return Err(bad("--jobs must be ≥ 1"));
    }
    let bytes = std::fs::read(&a.file).map_err(|e| bad(format!("{}: {e}", a.file.display())))?;
    let base: Value = serde_json::from_slice(&bytes)
        .map_err(|e| bad(format!("{}: not JSON: {e}", a.file.display())))?;
    let mode = match a.mode {
        ModeArg::Compare => Mode::Compare,
        ModeArg::Train => Mode::Train,
    };
    let spec = SweepSpec::from_options(
        &bytes,
        &a.set,
        a.seeds.as_deref(),
        &a.seed_key,
        mode,
        a.cycles,
        a.force,
    )
    .map_err(bad)?;
    let label = a.file.display().to_string();
    let sw = Sweep::new(base, spec, &label).map_err(|e| bad(format!("{label}: {e}")))?;
    let shard = match &a.shard {
        Some(s) => Shard::parse(s).map_err(bad)?,
        None => match Shard::from_slurm_env().map_err(bad)? {
            Some(s) => {
                eprintln!("shard {}/{} from SLURM_ARRAY_TASK_ID", s.index, s.count);
                s
            }
            None => Shard::ALL,
        },
    };
    open_dir(&a.out, &sw.spec_json())?;
    let _lock = RunLock::take(&a.out)?;
    let started = std::time::Instant::now();
    let mine: Vec<usize> = shard.tasks(sw.len());
    let mut done: Vec<Option<PointResult>> = mine
        .iter()
        .map(|&i| read_point(&a.out, &sw.point(i)))
        .collect();
    let todo: Vec<usize> = mine
        .iter()
        .zip(&done)
        .filter(|(_, d)| d.is_none())
        .map(|(&i, _)| i)
        .collect();
    let skipped = mine.len() - todo.len();
    if skipped > 0 {
        eprintln!(
            "{}: {skipped} of {} points already done (resuming)",
            a.out.display(),
            mine.len()
        );
    }
    let pb = progress_bar(todo.len() as u64, "sweep");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(a.jobs)
        .build()
        .map_err(Failure::other)?;
    let fresh: Vec<Result<PointResult, Failure>> = pool.install(|| {
        todo.par_iter()
            .map(|&i| {
                let p = sw.point(i);
                let r = sw.run_point(&p);
                let text = serde_json::to_string_pretty(&r).map_err(Failure::other)? + "\n";
                write_atomic(&point_path(&a.out, &p.id), text.as_bytes())?;
                pb.inc(1);
                Ok(r)
            })
            .collect()
    });
    pb.finish_and_clear();
    let mut fresh = fresh.into_iter();
    for d in done.iter_mut() {
        if d.is_none() {
            *d = Some(
                fresh
                    .next()
                    .ok_or_else(|| Failure::other(anyhow!("lost a point")))??,
            );
        }
    }
    let rows: Vec<PointResult> = done.into_iter().flatten().collect();
    let wall = started.elapsed().as_secs_f64();
    let mut m = Manifest::new("sweep").with_input(&a.file, &bytes);
    m.parameters = json!({
        "sweep": sw.spec_json(),
        "points": sw.len(),
        "shard": format!("{}/{}", shard.index, shard.count),
        "jobs": a.jobs,
        "fields_per_axis": sw.fields_per_axis(),
    });
    m.statistics = json!({
        "points_in_shard": rows.len(),
        "points_run": todo.len(),
        "points_resumed": skipped,
        "failed": rows.iter().filter(|r| r.status != Status::Ok).count(),
        "rhs_evals": rows.iter().map(|r| r.rhs_evals).sum::<u64>(),
        "wall_seconds": wall,
    });
    write_results(&a.out, sw.spec(), &rows, &m, |name, text| {
        write_atomic(&a.out.join(name), text).map_err(Failure::from)
    })?;
    eprintln!(
        "wrote {} ({} points, {} run now, {:.2} s)",
        a.out.display(),
        rows.len(),
        todo.len(),
        wall
    );
    exit_for(&rows, &a.out)
}

/// The exit of a sweep: 0 if every point is ok, otherwise the largest exit class among the
/// failed points (2: a point's netlist was refused, 3: a numerical failure, 1: other).
fn exit_for(rows: &[PointResult], dir: &Path) -> Result<(), Failure> {
    let failed: Vec<&PointResult> = rows.iter().filter(|r| r.status != Status::Ok).collect();
    let Some(code) = failed
        .iter()
        .filter_map(|r| r.status.class())
        .map(|c| c as i32)
        .max()
    else {
        return Ok(());
    };
    let first = failed[0];
    Err(Failure {
        code,
        error: anyhow!(
            "{} of {} points failed (status/message in {}/results.csv); first: point {} ({}): {}",
            failed.len(),
            rows.len(),
            dir.display(),
            first.point,
            first.id,
            first.message.lines().next().unwrap_or("")
        ),
    })
}

fn point_path(dir: &Path, id: &str) -> PathBuf {
    dir.join("points").join(format!("{id}.json"))
}

/// The stored result of point `p`, if it is there and belongs to this grid.
fn read_point(dir: &Path, p: &physlearn::sweep::Point) -> Option<PointResult> {
    let text = std::fs::read_to_string(point_path(dir, &p.id)).ok()?;
    let r: PointResult = serde_json::from_str(&text).ok()?;
    (r.point == p.index && r.id == p.id).then_some(r)
}

/// Make `dir` a sweep directory for `spec`, or check that it is one already: a directory that
/// holds anything but a sweep of the same grid is refused (nothing is ever deleted).
fn open_dir(dir: &Path, spec: &Value) -> Result<(), Failure> {
    let refuse = |why: String| {
        Err(Failure::from(physlearn::io::IoError::Refused {
            path: dir.to_path_buf(),
            reason: why,
        }))
    };
    if let Ok(meta) = std::fs::symlink_metadata(dir) {
        if meta.file_type().is_symlink() || !meta.is_dir() {
            return refuse(
                "exists and is not a directory; physlearn never replaces it (name a new directory)"
                    .into(),
            );
        }
        let grid = dir.join("sweep.json");
        if grid.exists() {
            let text = std::fs::read_to_string(&grid)
                .map_err(|e| bad(format!("{}: {e}", grid.display())))?;
            let old: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if &old != spec {
                return refuse(format!(
                    "holds a different sweep (its sweep.json differs: netlist, keys, values, mode, cycles or --force); name a new directory{}",
                    spec_difference(&old, spec)
                ));
            }
            return Ok(());
        }
        let empty = std::fs::read_dir(dir)
            .map_err(|e| Failure::other(anyhow!("{}: {e}", dir.display())))?
            .next()
            .is_none();
        if !empty {
            return refuse(
                "exists, is not empty and is not a sweep directory (no sweep.json); physlearn never deletes your files: name a new directory"
                    .into(),
            );
        }
    }
    std::fs::create_dir_all(dir.join("points"))
        .map_err(|e| Failure::other(anyhow!("{}: {e}", dir.display())))?;
    let text = serde_json::to_string_pretty(spec).map_err(Failure::other)? + "\n";
    write_atomic(&dir.join("sweep.json"), text.as_bytes())?;
    Ok(())
}

fn spec_difference(old: &Value, new: &Value) -> String {
    let Some(o) = old.as_object() else {
        return " (the old sweep.json is not a sweep grid)".into();
    };
    let diffs: Vec<&str> = new
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, v)| o.get(*k) != Some(*v))
        .map(|(k, _)| k.as_str())
        .collect();
    if diffs.is_empty() {
        String::new()
    } else {
        format!(" (differs in: {})", diffs.join(", "))
    }
}

/// Write results.csv, results.json, manifest.json and the plots through `put`.
fn write_results(
    dir: &Path,
    spec: &SweepSpec,
    rows: &[PointResult],
    m: &Manifest,
    put: impl Fn(&str, &[u8]) -> Result<(), Failure>,
) -> Result<(), Failure> {
    put(
        "results.csv",
        results_csv(rows).map_err(Failure::other)?.as_bytes(),
    )?;
    let rj = json!({"sweep": spec, "points": spec.len(), "rows": rows});
    put(
        "results.json",
        (serde_json::to_string_pretty(&rj).map_err(Failure::other)? + "\n").as_bytes(),
    )?;
    put(
        "manifest.json",
        (serde_json::to_string_pretty(m).map_err(Failure::other)? + "\n").as_bytes(),
    )?;
    plots(dir, spec, rows).map_err(Failure::other)
}

/// A row's metric by its flat column name (NaN when missing).
fn metric(r: &PointResult, col: &str) -> f64 {
    r.flat()
        .get(col)
        .and_then(Value::as_f64)
        .unwrap_or(f64::NAN)
}

/// A key as a file name: runs of other characters become one `_` (`elements[*].update.rho`
/// → `elements_update_rho`).
fn file_stem(key: &str) -> String {
    key.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("_")
}

fn mean(v: &[f64]) -> f64 {
    let f: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if f.is_empty() {
        f64::NAN
    } else {
        f.iter().sum::<f64>() / f.len() as f64
    }
}

/// Line plots per numeric swept key (`sweep_<key>.png`: one line per combination of the other
/// keys, up to 8, else their mean; seeds averaged) and, for two keys, `heatmap.png`.
fn plots(dir: &Path, spec: &SweepSpec, rows: &[PointResult]) -> anyhow::Result<()> {
    let numeric: Vec<usize> = spec
        .axes
        .iter()
        .enumerate()
        .filter(|(_, a)| {
            Some(&a.key) != spec.seed_key.as_ref()
                && a.values.len() >= 2
                && a.values.iter().all(Value::is_number)
        })
        .map(|(i, _)| i)
        .collect();
    let train = spec.mode == Mode::Train;
    let panels: Vec<(&str, &str, bool)> = if train {
        vec![
            (
                "train.cost_reduction.phys",
                "cost reduction C0/C (TCL)",
                true,
            ),
            ("one_cycle.cos_cl", "one-cycle cos(Δθ, Δθ_CL)", false),
        ]
    } else {
        vec![
            ("one_cycle.cos_cl", "one-cycle cos(Δθ, Δθ_CL)", false),
            ("one_cycle.slope", "one-cycle slope vs Δθ_CL", false),
        ]
    };
    let value_of =
        |r: &PointResult, k: &str| r.params.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
    let others_label = |r: &PointResult, i: usize| -> String {
        spec.axes
            .iter()
            .enumerate()
            .filter(|(j, a)| *j != i && Some(&a.key) != spec.seed_key.as_ref())
            .map(|(_, a)| {
                let short = a.key.rsplit('.').next().unwrap_or(&a.key);
                format!(
                    "{short}={}",
                    r.params.get(&a.key).cloned().unwrap_or(Value::Null)
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    for &i in &numeric {
        let key = &spec.axes[i].key;
        let xs: Vec<f64> = spec.axes[i]
            .values
            .iter()
            .filter_map(Value::as_f64)
            .collect();
        let log_x = xs.iter().all(|x| *x > 0.0) && {
            let (lo, hi) = (
                xs.iter().copied().fold(f64::INFINITY, f64::min),
                xs.iter().copied().fold(0.0, f64::max),
            );
            hi / lo >= 20.0
        };
        let mut groups: Vec<String> = Vec::new();
        for r in rows {
            let g = others_label(r, i);
            if !groups.contains(&g) {
                groups.push(g);
            }
        }
        let many = groups.len() > 8;
        let mut figs = Vec::new();
        for (col, title, log_y) in &panels {
            let mut fig = Figure::new(title, key, title);
            if *log_y {
                fig = fig.log_y();
            }
            if log_x {
                fig = fig.log_x();
            }
            let series_groups: Vec<Option<&String>> = if many {
                vec![None]
            } else {
                groups.iter().map(Some).collect()
            };
            for g in series_groups {
                let ys: Vec<f64> = xs
                    .iter()
                    .map(|x| {
                        let v: Vec<f64> = rows
                            .iter()
                            .filter(|r| {
                                value_of(r, key) == *x && g.is_none_or(|g| &others_label(r, i) == g)
                            })
                            .map(|r| metric(r, col))
                            .collect();
                        mean(&v)
                    })
                    .collect();
                let label = match g {
                    None if many => format!("mean over {} combinations", groups.len()),
                    None => String::new(),
                    Some(g) => g.clone(),
                };
                fig = fig.add(Series::line(label, xs.clone(), ys).with_mark(Mark::LinePoints));
            }
            figs.push(fig);
        }
        xy_plot(&dir.join(format!("sweep_{}.png", file_stem(key))), &figs)?;
    }
    if numeric.len() == 2 {
        let (ix, iy) = (numeric[1], numeric[0]);
        let (kx, ky) = (&spec.axes[ix].key, &spec.axes[iy].key);
        let xs: Vec<f64> = spec.axes[ix]
            .values
            .iter()
            .filter_map(Value::as_f64)
            .collect();
        let ys: Vec<f64> = spec.axes[iy]
            .values
            .iter()
            .filter_map(Value::as_f64)
            .collect();
        let (col, title, log) = panels[0];
        let z_label = if train {
            "C0/C (TCL)"
        } else {
            "cos(Δθ, Δθ_CL)"
        };
        let z: Vec<Vec<f64>> = ys
            .iter()
            .map(|y| {
                xs.iter()
                    .map(|x| {
                        let v: Vec<f64> = rows
                            .iter()
                            .filter(|r| value_of(r, kx) == *x && value_of(r, ky) == *y)
                            .map(|r| metric(r, col))
                            .collect();
                        mean(&v)
                    })
                    .collect()
            })
            .collect();
        heatmap(
            &dir.join("heatmap.png"),
            title,
            kx,
            ky,
            &xs,
            &ys,
            &z,
            z_label,
            log,
        )?;
    }
    Ok(())
}

/// Is `dir` a network sweep directory (for `sweep-merge`)?
pub fn is_sweep_dir(dir: &Path) -> bool {
    dir.join("sweep.json").is_file()
}

/// Merge shard directories of one sweep into `out` (a new directory, written atomically):
/// every grid point must be present in some shard (a point in several shards must agree
/// apart from its timing).
pub fn merge(out: &Path, shards: &[PathBuf]) -> Result<(), Failure> {
    let first = shards
        .first()
        .ok_or_else(|| bad("no shard directories given"))?;
    let read_spec = |d: &Path| -> Result<Value, Failure> {
        let p = d.join("sweep.json");
        let text = std::fs::read_to_string(&p)
            .map_err(|e| bad(format!("{}: not a sweep directory ({e})", d.display())))?;
        serde_json::from_str(&text).map_err(|e| bad(format!("{}: {e}", p.display())))
    };
    let spec_v = read_spec(first)?;
    let spec: SweepSpec = serde_json::from_value(spec_v.clone())
        .map_err(|e| bad(format!("{}/sweep.json: {e}", first.display())))?;
    for d in &shards[1..] {
        let v = read_spec(d)?;
        if v != spec_v {
            return Err(bad(format!(
                "{} holds a different sweep than {}{}",
                d.display(),
                first.display(),
                spec_difference(&spec_v, &v)
            )));
        }
    }
    let n = spec.len();
    let mut rows: Vec<Option<(PointResult, PathBuf)>> = vec![None; n];
    for d in shards {
        for (i, slot) in rows.iter_mut().enumerate() {
            let p = spec.point(i);
            let Some(r) = read_point(d, &p) else { continue };
            match slot {
                Some((prev, from)) => {
                    let strip = |r: &PointResult| {
                        let mut f = r.flat();
                        f.retain(|k, _| !k.ends_with("wall_seconds"));
                        f
                    };
                    if strip(prev) != strip(&r) {
                        return Err(bad(format!(
                            "point {i} ({}) differs between {} and {}",
                            p.id,
                            from.display(),
                            d.display()
                        )));
                    }
                }
                None => *slot = Some((r, d.clone())),
            }
        }
    }
    let missing: Vec<usize> = (0..n).filter(|i| rows[*i].is_none()).collect();
    if let Some(&m0) = missing.first() {
        return Err(bad(format!(
            "{} of {n} points are in none of the {} shard directories (first: point {m0}, {}); run the missing shards (or resume them) first",
            missing.len(),
            shards.len(),
            spec.point(m0).id
        )));
    }
    let rows: Vec<PointResult> = rows.into_iter().flatten().map(|(r, _)| r).collect();
    let stage = StagedDir::create(out, false)?;
    stage.write_text(
        "sweep.json",
        &(serde_json::to_string_pretty(&spec_v).map_err(Failure::other)? + "\n"),
    )?;
    std::fs::create_dir_all(stage.path("points")).map_err(Failure::other)?;
    for r in &rows {
        stage.write_text(
            &format!("points/{}.json", r.id),
            &(serde_json::to_string_pretty(r).map_err(Failure::other)? + "\n"),
        )?;
    }
    let mut m = Manifest::new("sweep-merge");
    m.parameters = json!({
        "sweep": spec_v,
        "points": n,
        "shards": shards.iter().map(|d| d.display().to_string()).collect::<Vec<_>>(),
    });
    m.statistics = json!({
        "failed": rows.iter().filter(|r| r.status != Status::Ok).count(),
        "rhs_evals": rows.iter().map(|r| r.rhs_evals).sum::<u64>(),
        "wall_seconds_of_points": rows.iter().map(|r| r.wall_seconds).sum::<f64>(),
    });
    let staged = stage.path("");
    write_results(&staged, &spec, &rows, &m, |name, text| {
        std::fs::write(stage.path(name), text).map_err(|e| Failure::other(anyhow!("{name}: {e}")))
    })?;
    let dir = stage.commit()?;
    eprintln!(
        "merged {} shards ({n} points) into {}",
        shards.len(),
        dir.display()
    );
    exit_for(&rows, &dir)
}
