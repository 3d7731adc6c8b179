//! The crate-level error: every layer's error joined in one type, and the one place that maps
//! errors to the documented exit codes (0 ok, 1 other/I-O, 2 bad input, 3 numerical failure).

use crate::io::IoError;
use crate::learning::SimError;
use crate::netlist::NetlistError;

/// Any error physlearn's library returns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The netlist file cannot be read, is not JSON, or has faults (each with its JSON path).
    #[error(transparent)]
    Netlist(#[from] NetlistError),
    /// A simulation failed or was refused.
    #[error(transparent)]
    Sim(#[from] SimError),
    /// Writing outputs failed.
    #[error(transparent)]
    Io(#[from] IoError),
}

/// What kind of failure an error is (the CLI's exit code).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ExitClass {
    /// 1: I/O or internal.
    Other = 1,
    /// 2: the user's input (netlist, options, checkpoint) or a refused run.
    BadInput = 2,
    /// 3: a numerical failure (non-finite values, step-size underflow, singular network).
    Numerical = 3,
}

impl Error {
    pub fn class(&self) -> ExitClass {
        match self {
            Error::Netlist(NetlistError::Read { .. }) => ExitClass::BadInput,
            Error::Netlist(_) => ExitClass::BadInput,
            Error::Sim(e) if e.is_bad_input() => ExitClass::BadInput,
            Error::Sim(_) => ExitClass::Numerical,
            Error::Io(IoError::Refused { .. }) => ExitClass::BadInput,
            Error::Io(_) => ExitClass::Other,
        }
    }
}
