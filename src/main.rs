//! The `physlearn` command-line program. See README.md for the commands.

mod cli;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "physlearn",
    version,
    about = "Simulator of physical learning networks (Temporal Contrastive Learning)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {}

fn main() {
    let cli = Cli::parse();
    let result: Result<(), cli::Failure> = match cli.command {};
    if let Err(f) = result {
        eprintln!("error: {:#}", f.error);
        std::process::exit(f.code);
    }
}
