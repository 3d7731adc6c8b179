//! Command-line front end. Each subcommand lives in its own file with an `Args` struct (clap
//! derive) and a `run(args) -> Result<(), Failure>` function. Only this layer uses `anyhow`.

pub mod bench;
pub mod core;
pub mod ep;
pub mod export;
pub mod sweep;
pub mod synapse;
pub mod train;

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by Ctrl-C (SIGINT) while a command that can stop cleanly is running.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// Whether the running command stops cleanly on Ctrl-C (otherwise Ctrl-C exits at once).
static GRACEFUL: AtomicBool = AtomicBool::new(false);

/// Ctrl-C: a command that registered [`graceful_interrupts`] finishes its current step, saves
/// what it must and exits 130; any other command (and a second Ctrl-C) exits 130 at once — its
/// staged output is never renamed into place, so nothing half-written is left under the
/// user's name.
pub fn install_interrupt_handler() {
    let _ = ctrlc::set_handler(|| {
        if GRACEFUL.load(Ordering::SeqCst) && !INTERRUPTED.swap(true, Ordering::SeqCst) {
            eprintln!("\ninterrupt: stopping after the current cycle (Ctrl-C again to quit now)");
        } else {
            std::process::exit(130);
        }
    });
}

/// From now on Ctrl-C only sets a flag that [`interrupted`] reads.
pub fn graceful_interrupts() {
    GRACEFUL.store(true, Ordering::SeqCst);
}

/// Whether Ctrl-C was pressed since [`graceful_interrupts`].
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// A failed command, carrying the documented exit code.
///
/// Exit codes: 0 ok, 1 other failure (I/O, internal), 2 bad input (netlist, options, data),
/// 3 numerical failure (NaN, step-size underflow, singular network, stiffness detected), 130
/// interrupted (Ctrl-C; `train` leaves a checkpoint to resume).
pub struct Failure {
    pub code: i32,
    pub error: anyhow::Error,
}

impl Failure {
    pub fn bad_input(e: impl Into<anyhow::Error>) -> Self {
        Failure {
            code: 2,
            error: e.into(),
        }
    }
    pub fn numerical(e: impl Into<anyhow::Error>) -> Self {
        Failure {
            code: 3,
            error: e.into(),
        }
    }
    /// Stopped by Ctrl-C (128 + SIGINT).
    pub fn interrupted(e: impl Into<anyhow::Error>) -> Self {
        Failure {
            code: 130,
            error: e.into(),
        }
    }
    pub fn other(e: impl Into<anyhow::Error>) -> Self {
        Failure {
            code: 1,
            error: e.into(),
        }
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exit {}: {:#}", self.code, self.error)
    }
}

impl From<physlearn::io::IoError> for Failure {
    fn from(e: physlearn::io::IoError) -> Self {
        physlearn::Error::from(e).into()
    }
}

impl From<physlearn::Error> for Failure {
    fn from(e: physlearn::Error) -> Self {
        Failure {
            code: e.class() as i32,
            error: anyhow::Error::new(e),
        }
    }
}

/// An error about the netlist `path`: the message names the file, the exit code is the
/// error's class.
pub fn failure_at(path: &std::path::Path, e: physlearn::Error) -> Failure {
    let code = e.class() as i32;
    let error = match e {
        physlearn::Error::Netlist(physlearn::netlist::NetlistError::Read { .. }) => {
            anyhow::Error::new(e)
        }
        e => anyhow::anyhow!("{}: {e}", path.display()),
    };
    Failure { code, error }
}

/// Load a netlist of any family.
pub fn load_model(path: &std::path::Path) -> Result<physlearn::Model, Failure> {
    physlearn::load(path).map_err(|e| failure_at(path, e))
}

/// A simulation error about `path`, with its exit code.
pub fn sim_failure(
    path: &std::path::Path,
) -> impl Fn(physlearn::learning::SimError) -> Failure + '_ {
    move |e| failure_at(path, e.into())
}

/// Write results to stdout (see `say!`): EPIPE is a quiet exit 0, other errors exit 1.
pub fn emit(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        let _ = writeln!(std::io::stderr(), "error: writing to standard output: {e}");
        std::process::exit(1);
    }
}

/// A progress bar on stderr (hidden when stderr is not a terminal or `CI` is set).
pub fn progress_bar(len: u64, what: &str) -> indicatif::ProgressBar {
    let hidden = std::env::var_os("PHYSLEARN_NO_PROGRESS").is_some();
    let pb = if hidden {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::with_draw_target(Some(len), indicatif::ProgressDrawTarget::stderr())
    };
    let style = indicatif::ProgressStyle::with_template(
        "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} (eta {eta}) {msg}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    pb.set_style(style);
    pb.set_prefix(what.to_string());
    pb
}
