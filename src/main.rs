//! The `physlearn` command-line program. See README.md for the commands.
//!
//! Exit codes: 0 ok, 1 other failure, 2 bad input, 3 numerical failure, 70 internal error
//! (a bug: any panic), 130 interrupted (Ctrl-C). `sweep`/`sweep-merge`: 0 when every point is
//! ok, else the largest class among the failed points (2 a point's netlist refused, 3
//! numerical), results written.

/// `println!` for results on stdout: a closed pipe (`physlearn check big.json | head`) ends the
/// program quietly (exit 0); any other write error (a full disk) is exit 1 with a message —
/// never a panic, never a lost output with exit 0.
macro_rules! say {
    ($($t:tt)*) => {{
        $crate::cli::emit(&format!("{}\n", format_args!($($t)*)));
    }};
}

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
enum Command {
    /// Validate a netlist and print the load-time diagnostics.
    Check(cli::core::CheckArgs),
    /// Simulate a netlist's protocol and write time series, weights, summary and plots.
    Run(cli::core::RunArgs),
    /// Print the netlist JSON Schema (or the parameter tables with --markdown).
    Schema(cli::core::SchemaArgs),
    /// Write one of the seeded canonical netlists.
    Generate(cli::core::GenerateArgs),
    /// Train for many cycles; compare physical TCL with ideal CL and gradient descent.
    Train(cli::train::TrainArgs),
    /// One cycle compared with the ideal contrastive rule and the gradient (no training).
    Compare(cli::train::CompareArgs),
    /// Benchmarks (wall time, RHS evaluations).
    Bench(cli::bench::BenchArgs),
    /// One weight-update curve dw(A) of a single synapse (eqs. 5-7).
    Synapse(cli::synapse::SynapseArgs),
    /// Markov-ladder kernel, moments and steady-state dissipation (App. F).
    Ladder(cli::synapse::LadderArgs),
    /// Data, PNG and SVG of a synapse figure (fig2 fig4b fig4c fig5b fig5c fig6b fig8 fig9a).
    Figure(cli::synapse::FigureArgs),
    /// Sweep netlist fields through compare/train (grid, parallel, shards, resume).
    Sweep(cli::sweep::SweepArgs),
    /// Merge shard directories of a `sweep` or of a sweep figure (fig4c, fig5c, fig6b).
    SweepMerge(cli::synapse::SweepMergeArgs),
    /// Train a layered network by Equilibrium Propagation, standard or TCL (Fig. 3).
    Ep(cli::ep::Args),
    /// Export a netlist to another simulator (`export spice FILE.json`: an ngspice deck).
    Export(cli::export::ExportArgs),
}

fn main() {
    // Any panic is a bug: one line naming it an internal error, exit 70 (EX_SOFTWARE).
    std::panic::set_hook(Box::new(|info| {
        use std::io::Write as _;
        let p = info.payload();
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let _ = writeln!(
            std::io::stderr(),
            "internal error (a bug in physlearn; please report it with the command line): {}{at}",
            msg.replace('\n', " ")
        );
        std::process::exit(70);
    }));
    if std::env::var_os("PHYSLEARN_TEST_PANIC").is_some() {
        panic!("PHYSLEARN_TEST_PANIC is set (tests the internal-error exit)");
    }
    cli::install_interrupt_handler();
    let cli = Cli::parse();
    let result: Result<(), cli::Failure> = match cli.command {
        Command::Check(a) => cli::core::check(a),
        Command::Run(a) => cli::core::run(a),
        Command::Schema(a) => cli::core::schema(a),
        Command::Generate(a) => cli::core::generate(a),
        Command::Train(a) => cli::train::train(a),
        Command::Compare(a) => cli::train::compare(a),
        Command::Bench(a) => cli::bench::bench(a),
        Command::Synapse(a) => cli::synapse::run_synapse(a),
        Command::Ladder(a) => cli::synapse::run_ladder(a),
        Command::Figure(a) => cli::synapse::run_figure(a),
        Command::Sweep(a) => cli::sweep::sweep(a),
        Command::SweepMerge(a) => cli::synapse::run_sweep_merge(a),
        Command::Ep(args) => cli::ep::run(args),
        Command::Export(a) => cli::export::export(a),
    };
    if let Err(f) = result {
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "error: {:#}", f.error);
        std::process::exit(f.code);
    }
}
