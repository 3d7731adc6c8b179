//! The diagnostics policy, the same in every command and family: a load-time finding of level
//! `error` refuses `check`, `run`, `compare` and `train` (exit 2) unless the user forces the
//! run; warnings are printed and the run goes on.

use crate::physics::diagnostics::{Diagnostic, Level};

/// `Some(message)` listing every error-level finding when a run must be refused.
pub fn refusal(diags: &[Diagnostic]) -> Option<String> {
    let errs: Vec<String> = diags
        .iter()
        .filter(|d| d.level == Level::Error)
        .map(|d| format!("  [{}] {}", d.code, d.message))
        .collect();
    (!errs.is_empty()).then(|| format!("load-time checks report errors:\n{}", errs.join("\n")))
}
