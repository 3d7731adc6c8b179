//! Atomic outputs: a run writes into a hidden temporary directory next to the requested one and
//! renames it into place only when everything succeeded, so an error never leaves a half-written
//! output directory behind. Single files are written to `name.tmp` and renamed.

use super::IoError;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};

/// A staging directory that becomes `final_dir` on [`StagedDir::commit`].
///
/// If it is dropped without commit, the staging directory is removed. An existing `final_dir`
/// is replaced only at commit time (it is first moved aside, then deleted).
#[derive(Debug)]
pub struct StagedDir {
    staging: PathBuf,
    final_dir: PathBuf,
    committed: bool,
}

impl StagedDir {
    pub fn new(final_dir: &Path) -> Result<Self, IoError> {
        Self::create(final_dir, true)
    }

    /// Stage a new output directory `final_dir` under the rules every command follows:
    /// a symlink, a device or another non-directory at `final_dir` is never replaced; an
    /// existing non-empty directory is replaced only with `force` (then at commit, never
    /// before); staging directories that killed runs left next to the target are removed.
    pub fn create(final_dir: &Path, force: bool) -> Result<Self, IoError> {
        check_target(final_dir, force)?;
        let parent = match final_dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent).map_err(|e| IoError::fs(&parent, e))?;
        let name = final_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "out".to_string());
        clean_stale(&parent, &format!(".{name}.partial-"));
        let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
        if staging.exists() {
            fs::remove_dir_all(&staging).map_err(|e| IoError::fs(&staging, e))?;
        }
        fs::create_dir_all(&staging).map_err(|e| IoError::fs(&staging, e))?;
        Ok(StagedDir {
            staging,
            final_dir: final_dir.to_path_buf(),
            committed: false,
        })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.staging.join(name)
    }

    /// The final directory this stage will become.
    pub fn final_dir(&self) -> &Path {
        &self.final_dir
    }

    pub fn write_json<T: Serialize>(&self, name: &str, value: &T) -> Result<(), IoError> {
        let text = serde_json::to_string_pretty(value)?;
        let p = self.path(name);
        fs::write(&p, text + "\n").map_err(|e| IoError::fs(&p, e))
    }

    pub fn write_text(&self, name: &str, text: &str) -> Result<(), IoError> {
        let p = self.path(name);
        fs::write(&p, text).map_err(|e| IoError::fs(&p, e))
    }

    /// Move the staging directory into place.
    pub fn commit(mut self) -> Result<PathBuf, IoError> {
        if self.final_dir.exists() {
            let old = self.final_dir.with_file_name(format!(
                ".{}.old-{}",
                file_name(&self.final_dir),
                std::process::id()
            ));
            fs::rename(&self.final_dir, &old).map_err(|e| IoError::fs(&self.final_dir, e))?;
            fs::rename(&self.staging, &self.final_dir)
                .map_err(|e| IoError::fs(&self.final_dir, e))?;
            fs::remove_dir_all(&old).map_err(|e| IoError::fs(&old, e))?;
        } else {
            fs::rename(&self.staging, &self.final_dir)
                .map_err(|e| IoError::fs(&self.final_dir, e))?;
        }
        self.committed = true;
        Ok(self.final_dir.clone())
    }
}

/// May `target` become a new output directory? Symlinks and non-directories are never
/// replaced; a non-empty directory only with `force`.
pub fn check_target(target: &Path, force: bool) -> Result<(), IoError> {
    let refuse = |reason: &str| {
        Err(IoError::Refused {
            path: target.to_path_buf(),
            reason: reason.into(),
        })
    };
    let Ok(meta) = fs::symlink_metadata(target) else {
        return Ok(()); // absent
    };
    if meta.file_type().is_symlink() {
        return refuse("is a symbolic link; physlearn never replaces links (name a new directory)");
    }
    if !meta.is_dir() {
        return refuse(
            "exists and is not a directory; physlearn never replaces it (name a new directory)",
        );
    }
    let empty = fs::read_dir(target)
        .map_err(|e| IoError::fs(target, e))?
        .next()
        .is_none();
    if !empty && !force {
        return refuse("exists and is not empty; use --force to replace it (its files are kept until the new output is complete)");
    }
    Ok(())
}

/// Remove staging directories `prefix<pid>` whose process no longer runs (killed runs).
fn clean_stale(parent: &Path, prefix: &str) {
    let Ok(rd) = fs::read_dir(parent) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(prefix)
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let alive =
            Path::new(&format!("/proc/{pid}")).exists() || !Path::new("/proc/self").exists();
        if !alive {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
}

/// Write a file atomically: write `path.tmp`, then rename over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), IoError> {
    if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() {
            fs::create_dir_all(parent).map_err(|e| IoError::fs(parent, e))?;
        }
    }
    let tmp = path.with_file_name(format!(".{}.tmp-{}", file_name(path), std::process::id()));
    fs::write(&tmp, bytes).map_err(|e| IoError::fs(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| IoError::fs(path, e))
}

/// Hex SHA-256 of some bytes (netlist hashes in manifests).
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The common part of every run's `manifest.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    pub program: &'static str,
    pub version: &'static str,
    pub command: String,
    /// SHA-256 of the input file (netlist or data), if any.
    pub input_sha256: Option<String>,
    pub input_path: Option<String>,
    pub seed: Option<u64>,
    /// Command-specific parameters (protocol, solver settings, options).
    pub parameters: serde_json::Value,
    /// Solver statistics and timings.
    pub statistics: serde_json::Value,
    /// Choices that are explicitly non-physical (e.g. `reset_idealized` switches).
    pub non_physical: Vec<String>,
    pub unix_time: u64,
}

impl Manifest {
    pub fn new(command: &str) -> Self {
        Manifest {
            program: env!("CARGO_PKG_NAME"),
            version: env!("CARGO_PKG_VERSION"),
            command: command.to_string(),
            input_sha256: None,
            input_path: None,
            seed: None,
            parameters: serde_json::Value::Null,
            statistics: serde_json::Value::Null,
            non_physical: Vec::new(),
            unix_time: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        }
    }

    pub fn with_input(mut self, path: &Path, bytes: &[u8]) -> Self {
        self.input_path = Some(path.display().to_string());
        self.input_sha256 = Some(sha256_hex(bytes));
        self
    }
}

/// Write rows of equal-length columns as CSV with a header.
pub fn write_columns_csv(path: &Path, header: &[&str], columns: &[&[f64]]) -> Result<(), IoError> {
    let n = columns.first().map(|c| c.len()).unwrap_or(0);
    let mut w = csv::Writer::from_path(path).map_err(|e| IoError::Csv {
        path: path.to_path_buf(),
        cause: e,
    })?;
    let csv_err = |e| IoError::Csv {
        path: path.to_path_buf(),
        cause: e,
    };
    w.write_record(header).map_err(csv_err)?;
    for i in 0..n {
        let row: Vec<String> = columns
            .iter()
            .map(|c| c.get(i).map(|v| format!("{v:.10e}")).unwrap_or_default())
            .collect();
        w.write_record(&row).map_err(csv_err)?;
    }
    w.flush().map_err(|e| IoError::fs(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_dir_is_removed_without_commit() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("run");
        {
            let s = StagedDir::new(&target).unwrap();
            s.write_text("a.txt", "x").unwrap();
        }
        assert!(!target.exists());
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
    }

    #[test]
    fn staged_dir_commit_replaces_existing() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("run");
        fs::create_dir_all(&target).unwrap();
        fs::write(target.join("old.txt"), "old").unwrap();
        let s = StagedDir::new(&target).unwrap();
        s.write_text("new.txt", "new").unwrap();
        s.commit().unwrap();
        assert!(target.join("new.txt").exists());
        assert!(!target.join("old.txt").exists());
    }
}
