//! `physlearn export spice FILE.json`: an ngspice deck of the same circuit (docs/spice.md).

use super::Failure;
use anyhow::anyhow;
use clap::{Args, Subcommand};
use physlearn::io::output::write_atomic;
use physlearn::io::spice::{self, SpiceError, SpiceOptions};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(subcommand)]
    pub what: ExportWhat,
}

#[derive(Subcommand, Debug)]
pub enum ExportWhat {
    /// ngspice deck: behavioural memristors with their state on 1 F capacitors, PWL β source.
    Spice {
        /// Netlist JSON file (physics "flow").
        file: PathBuf,
        /// Output deck (default: stdout). Written atomically.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Number of sawtooth cycles (default: the netlist's).
        #[arg(long)]
        cycles: Option<usize>,
        /// Largest time step of `.tran` (default: smallest time scale / 100).
        #[arg(long)]
        max_step: Option<f64>,
        /// ngspice reltol.
        #[arg(long, default_value_t = 1e-6)]
        reltol: f64,
        /// ngspice abstol (A).
        #[arg(long, default_value_t = 1e-9)]
        abstol: f64,
        /// ngspice chgtol (C).
        #[arg(long, default_value_t = 1e-14)]
        chgtol: f64,
        /// ngspice vntol (V).
        #[arg(long, default_value_t = 1e-9)]
        vntol: f64,
    },
}

pub fn export(a: ExportArgs) -> Result<(), Failure> {
    match a.what {
        ExportWhat::Spice {
            file,
            out,
            cycles,
            max_step,
            reltol,
            abstol,
            chgtol,
            vntol,
        } => {
            let model = super::load_model(&file)?;
            let physlearn::System::Network(n) = model.system() else {
                return Err(Failure::bad_input(anyhow!(
                    "{}: chemical networks cannot be exported to SPICE (export spice takes \
                     physics \"flow\" netlists)",
                    file.display()
                )));
            };
            let prep = n.prepared();
            let opts = SpiceOptions {
                cycles,
                max_step,
                reltol,
                abstol,
                chgtol,
                vntol,
                ..SpiceOptions::default()
            };
            let deck = spice::deck(prep, &opts).map_err(|e| match e {
                SpiceError::Unsupported(_) | SpiceError::Options { .. } => {
                    Failure::bad_input(anyhow!("{}: {e}", file.display()))
                }
                SpiceError::Physics(_) => Failure::numerical(anyhow!("{}: {e}", file.display())),
                SpiceError::Output(_) => Failure::other(e),
            })?;
            match out {
                Some(p) => {
                    write_atomic(&p, deck.text.as_bytes())?;
                    eprintln!(
                        "wrote {} (t = 0 .. {}, max step {}, {} learning elements); run: ngspice -b {}",
                        p.display(),
                        deck.t_stop,
                        deck.max_step,
                        deck.weight_nodes.iter().flatten().count(),
                        p.display()
                    );
                }
                None => super::emit(&deck.text),
            }
            Ok(())
        }
    }
}
