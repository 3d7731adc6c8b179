//! Seeded, sharded, parallel parameter sweeps.
//!
//! A sweep is `n_tasks` independent tasks. Task `t` draws its random parameters from
//! `ChaCha8Rng::seed_from_u64(master_seed)` switched to stream `t`, so results do not depend
//! on the number of threads or on sharding. Shard `i/n` runs the tasks `t ≡ i (mod n)`;
//! [`Table::merge`] joins shard tables and checks that every task is present exactly once.

use super::{Result, SynapseError};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;
use std::path::Path;

/// One shard `index/count` of a sweep (`0 ≤ index < count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// The whole sweep.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Validate `index < count`, `count ≥ 1`.
    pub fn new(index: usize, count: usize) -> Result<Self> {
        if count == 0 || index >= count {
            return Err(SynapseError::BadShard {
                spec: format!("{index}/{count}"),
                reason: "need 0 <= i < n".into(),
            });
        }
        Ok(Shard { index, count })
    }

    /// Parse `"i/n"`.
    pub fn parse(spec: &str) -> Result<Self> {
        let bad = |reason: &str| SynapseError::BadShard {
            spec: spec.to_string(),
            reason: reason.to_string(),
        };
        let (i, n) = spec
            .split_once('/')
            .ok_or_else(|| bad("expected i/n, e.g. 0/4"))?;
        let i: usize = i
            .trim()
            .parse()
            .map_err(|_| bad("i is not an integer >= 0"))?;
        let n: usize = n
            .trim()
            .parse()
            .map_err(|_| bad("n is not an integer >= 1"))?;
        Shard::new(i, n).map_err(|_| bad("need 0 <= i < n"))
    }

    /// From a Slurm job array: `SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN` of
    /// `SLURM_ARRAY_TASK_COUNT`. `Ok(None)` if `SLURM_ARRAY_TASK_ID` is unset.
    pub fn from_slurm_env() -> Result<Option<Self>> {
        let get = |k: &str| std::env::var(k).ok();
        let Some(id) = get("SLURM_ARRAY_TASK_ID") else {
            return Ok(None);
        };
        let bad = |reason: String| SynapseError::BadShard {
            spec: format!("SLURM_ARRAY_TASK_ID={id}"),
            reason,
        };
        let id: usize = id
            .trim()
            .parse()
            .map_err(|_| bad("not an integer".into()))?;
        let min: usize = match get("SLURM_ARRAY_TASK_MIN") {
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| bad(format!("SLURM_ARRAY_TASK_MIN={v} is not an integer")))?,
            None => 0,
        };
        let count: usize = get("SLURM_ARRAY_TASK_COUNT")
            .ok_or_else(|| bad("SLURM_ARRAY_TASK_COUNT is not set".into()))?
            .trim()
            .parse()
            .map_err(|_| bad("SLURM_ARRAY_TASK_COUNT is not an integer".into()))?;
        let index = id
            .checked_sub(min)
            .ok_or_else(|| bad(format!("task id below SLURM_ARRAY_TASK_MIN={min}")))?;
        Shard::new(index, count).map(Some)
    }

    /// Tasks of this shard among `n_tasks`.
    pub fn tasks(&self, n_tasks: usize) -> Vec<usize> {
        (self.index..n_tasks).step_by(self.count).collect()
    }

    /// Whether this is the whole sweep.
    pub fn is_all(&self) -> bool {
        self.count == 1
    }
}

/// The random generator of task `task` of a sweep with `master_seed`.
pub fn task_rng(master_seed: u64, task: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(master_seed);
    rng.set_stream(task as u64);
    rng
}

/// Run this shard's tasks in parallel (rayon). `tick` is called after each task (progress).
/// Results are returned in task order.
pub fn run_sweep<T, F>(
    n_tasks: usize,
    shard: Shard,
    master_seed: u64,
    tick: &(dyn Fn() + Sync),
    f: F,
) -> Result<Vec<(usize, T)>>
where
    T: Send,
    F: Fn(usize, &mut ChaCha8Rng) -> Result<T> + Sync,
{
    shard
        .tasks(n_tasks)
        .into_par_iter()
        .map(|t| {
            let mut rng = task_rng(master_seed, t);
            let r = f(t, &mut rng);
            tick();
            r.map(|v| (t, v))
        })
        .collect()
}

/// A numeric table whose first column is the task index.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<f64>>,
}

impl Table {
    /// Empty table with the given columns (the first must be `task`).
    pub fn new(header: &[&str]) -> Self {
        Table {
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Column `name` as a vector.
    pub fn column(&self, name: &str) -> Result<Vec<f64>> {
        let j =
            self.header.iter().position(|h| h == name).ok_or_else(|| {
                SynapseError::InvalidInput(format!("table has no column {name:?}"))
            })?;
        Ok(self.rows.iter().map(|r| r[j]).collect())
    }

    /// Write as CSV (atomically).
    pub fn write_csv(&self, path: &Path) -> Result<()> {
        let mut out = self.header.join(",");
        out.push('\n');
        for r in &self.rows {
            let line: Vec<String> = r.iter().map(|v| format!("{v:.12e}")).collect();
            out.push_str(&line.join(","));
            out.push('\n');
        }
        crate::io::output::write_atomic(path, out.as_bytes())?;
        Ok(())
    }

    /// Read a CSV written by [`Table::write_csv`].
    pub fn read_csv(path: &Path) -> Result<Self> {
        let mut rdr = csv::Reader::from_path(path).map_err(|e| {
            SynapseError::Io(crate::io::IoError::Csv {
                path: path.to_path_buf(),
                cause: e,
            })
        })?;
        let header: Vec<String> = rdr
            .headers()
            .map_err(|e| {
                SynapseError::Io(crate::io::IoError::Csv {
                    path: path.to_path_buf(),
                    cause: e,
                })
            })?
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut rows = Vec::new();
        for (line, rec) in rdr.records().enumerate() {
            let rec = rec.map_err(|e| {
                SynapseError::Io(crate::io::IoError::Csv {
                    path: path.to_path_buf(),
                    cause: e,
                })
            })?;
            let row: std::result::Result<Vec<f64>, _> =
                rec.iter().map(|s| s.trim().parse::<f64>()).collect();
            let row = row.map_err(|_| {
                SynapseError::InvalidInput(format!(
                    "{}: row {} is not numeric",
                    path.display(),
                    line + 2
                ))
            })?;
            if row.len() != header.len() {
                return Err(SynapseError::InvalidInput(format!(
                    "{}: row {} has {} fields, header has {}",
                    path.display(),
                    line + 2,
                    row.len(),
                    header.len()
                )));
            }
            rows.push(row);
        }
        Ok(Table { header, rows })
    }

    /// Merge shard tables of a sweep of `n_tasks` tasks: same header, each task present in
    /// exactly one shard; rows are sorted by task (stable within a task).
    pub fn merge(parts: Vec<Table>, n_tasks: usize) -> Result<Table> {
        let mut it = parts.into_iter();
        let mut merged = it
            .next()
            .ok_or_else(|| SynapseError::Merge("no shard tables given".into()))?;
        if merged.header.first().map(String::as_str) != Some("task") {
            return Err(SynapseError::Merge(format!(
                "first column must be \"task\", found {:?}",
                merged.header.first()
            )));
        }
        let mut owner: Vec<Option<usize>> = vec![None; n_tasks];
        let mark = |t: &Table, part: usize, owner: &mut Vec<Option<usize>>| -> Result<()> {
            let mut seen = std::collections::BTreeSet::new();
            for r in &t.rows {
                let task = r[0];
                if !(task >= 0.0 && task.fract() == 0.0 && (task as usize) < n_tasks) {
                    return Err(SynapseError::Merge(format!(
                        "task index {task} outside 0..{n_tasks}"
                    )));
                }
                seen.insert(task as usize);
            }
            for task in seen {
                if let Some(prev) = owner[task] {
                    return Err(SynapseError::Merge(format!(
                        "task {task} appears in shard tables {prev} and {part}"
                    )));
                }
                owner[task] = Some(part);
            }
            Ok(())
        };
        mark(&merged, 0, &mut owner)?;
        for (k, t) in it.enumerate() {
            if t.header != merged.header {
                return Err(SynapseError::Merge(format!(
                    "shard table {} has columns {:?}, expected {:?}",
                    k + 1,
                    t.header,
                    merged.header
                )));
            }
            mark(&t, k + 1, &mut owner)?;
            merged.rows.extend(t.rows);
        }
        let missing: Vec<usize> = (0..n_tasks).filter(|&t| owner[t].is_none()).collect();
        if !missing.is_empty() {
            return Err(SynapseError::Merge(format!(
                "{} of {n_tasks} tasks missing (first: {:?})",
                missing.len(),
                &missing[..missing.len().min(5)]
            )));
        }
        merged.rows.sort_by(|a, b| a[0].total_cmp(&b[0]));
        Ok(merged)
    }
}
