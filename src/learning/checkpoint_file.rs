//! A training run's checkpoint on disk: `checkpoint.json` (the state, small, replaced atomically)
//! and beside it the row journal `checkpoint.rows.jsonl` (one `train.csv` row per line,
//! append-only). Writing a checkpoint appends only the rows since the last one, so its cost does
//! not grow with the run (it used to rewrite every row so far: ~2.4 TB over 10⁶ cycles at
//! `--checkpoint-every 100`).
//!
//! Crash safety: rows are appended and flushed before the checkpoint is renamed into place, so a
//! checkpoint never names rows that are not on disk. Rows past the checkpoint's `next_cycle`
//! (written by a run killed between the two steps) are dropped, and the journal cut back, when
//! the run resumes. The CLI (`train --resume`) and the Python package use this one type.

use super::session::{read_checkpoint, Checkpoint, CycleRow, ExtrasOf, Session, StateOf};
use super::system::LearningSystem;
use super::SimError;
use crate::io::output::write_atomic;
use crate::io::IoError;
use serde::Serialize;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// The checkpoint of a session over `S`.
pub type CheckpointOf<'a, S> = Checkpoint<StateOf<'a, S>, ExtrasOf<'a, S>>;

/// Where a run's checkpoint lives, and how many of its rows are already journaled.
#[derive(Debug)]
pub struct CheckpointFile {
    path: PathBuf,
    journal: PathBuf,
    journaled: usize,
}

/// The row journal beside a checkpoint file (`X.json` → `X.rows.jsonl`).
pub fn journal_path(checkpoint: &Path) -> PathBuf {
    let stem = checkpoint
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "checkpoint".into());
    checkpoint.with_file_name(format!("{stem}.rows.jsonl"))
}

impl CheckpointFile {
    /// A new run's checkpoint at `path`: a checkpoint and journal left there by an earlier run
    /// are removed (they must not be resumed by mistake, nor mixed with this run's rows).
    pub fn create(path: &Path) -> Result<Self, IoError> {
        let journal = journal_path(path);
        for p in [path, journal.as_path()] {
            match fs::remove_file(p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(IoError::fs(p, e)),
            }
        }
        Ok(CheckpointFile {
            path: path.to_path_buf(),
            journal,
            journaled: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Read the checkpoint at `path` for `sys` (format, family and netlist hash checked) with its
    /// rows from the journal; the journal is cut back to the checkpoint's rows.
    pub fn load<'a, S: LearningSystem>(
        path: &Path,
        netlist_sha256: &str,
        sys: &'a S,
    ) -> Result<(CheckpointOf<'a, S>, Self), SimError> {
        let fail = |p: &Path, e: &dyn std::fmt::Display| {
            SimError::Checkpoint(format!("{}: {e}", p.display()))
        };
        let text = fs::read_to_string(path).map_err(|e| fail(path, &e))?;
        let mut ck = read_checkpoint(&text, netlist_sha256, sys)?;
        let journal = journal_path(path);
        let want = ck.next_cycle;
        let mut rows: Vec<CycleRow<ExtrasOf<'a, S>>> = Vec::with_capacity(want);
        let mut keep_bytes = 0u64;
        if want > 0 {
            let f = File::open(&journal).map_err(|e| fail(&journal, &e))?;
            let mut reader = BufReader::new(f);
            let mut line = String::new();
            while rows.len() < want {
                line.clear();
                let n = reader
                    .read_line(&mut line)
                    .map_err(|e| fail(&journal, &e))?;
                if n == 0 || !line.ends_with('\n') {
                    break;
                }
                let row = serde_json::from_str(line.trim_end())
                    .map_err(|e| fail(&journal, &format!("row {}: {e}", rows.len() + 1)))?;
                rows.push(row);
                keep_bytes += n as u64;
            }
            if rows.len() < want {
                return Err(fail(
                    &journal,
                    &format!(
                        "holds {} complete rows, the checkpoint needs {want}",
                        rows.len()
                    ),
                ));
            }
        }
        // Rows of cycles after the checkpoint (a run killed before it could write the next
        // checkpoint) are recomputed on resume: cut them off.
        if journal.exists() {
            let f = OpenOptions::new()
                .write(true)
                .open(&journal)
                .map_err(|e| fail(&journal, &e))?;
            f.set_len(keep_bytes).map_err(|e| fail(&journal, &e))?;
        }
        ck.rows = rows;
        Ok((
            ck,
            CheckpointFile {
                path: path.to_path_buf(),
                journal,
                journaled: want,
            },
        ))
    }

    /// Write the session's checkpoint: append the rows since the last write to the journal,
    /// flush it, then replace `checkpoint.json` atomically.
    pub fn save<S: LearningSystem>(&mut self, s: &Session<'_, S>) -> Result<(), IoError> {
        let rows = s.rows();
        if rows.len() < self.journaled {
            // Cannot happen with one session per file; start the journal over rather than
            // leave rows that do not belong to this run.
            self.journaled = 0;
            let _ = fs::remove_file(&self.journal);
        }
        if rows.len() > self.journaled {
            append_rows(&self.journal, &rows[self.journaled..])?;
            self.journaled = rows.len();
        }
        let text = serde_json::to_string(s.checkpoint())?;
        write_atomic(&self.path, text.as_bytes())
    }
}

fn append_rows<R: Serialize>(journal: &Path, rows: &[R]) -> Result<(), IoError> {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(journal)
        .map_err(|e| IoError::fs(journal, e))?;
    let mut buf = Vec::new();
    for r in rows {
        serde_json::to_writer(&mut buf, r)?;
        buf.push(b'\n');
    }
    // The journal ends on a line boundary here: a new run starts it empty and `load` cuts a
    // resumed one back to its complete rows.
    f.write_all(&buf).map_err(|e| IoError::fs(journal, e))?;
    f.sync_data().map_err(|e| IoError::fs(journal, e))
}
