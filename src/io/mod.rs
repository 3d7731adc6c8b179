//! Input/output that is independent of the physics: atomic output directories, run manifests,
//! CSV helpers and plots. Nothing here knows about solvers (`spice` writes a deck *for* one).

pub mod nan;
pub mod output;
pub mod plot;
pub mod spice;
pub mod tables;

use std::path::PathBuf;

/// Errors of the I/O layer. The message already contains the underlying error, so it is not
/// also exposed as `source()` (an `anyhow` chain would print it twice).
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    #[error("{path}: {cause}")]
    Fs {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path}: CSV error: {cause}")]
    Csv { path: PathBuf, cause: csv::Error },
    #[error("JSON serialisation failed: {0}")]
    Json(#[from] serde_json::Error),
    #[error("plot {path}: {message}")]
    Plot { path: PathBuf, message: String },
    /// The output target may not be written (the user's files are kept): exit 2.
    #[error("{path}: {reason}")]
    Refused { path: PathBuf, reason: String },
}

impl IoError {
    pub fn fs(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        IoError::Fs {
            path: path.into(),
            cause: source,
        }
    }
}
