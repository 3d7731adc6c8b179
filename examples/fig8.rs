//! Fig. 8: dw/A vs tau_f/tau_K at fixed period: the rise must outlast the kernel.
//!
//! Run: `cargo run --release --example fig8 [OUT_DIR]` (default `target/figures/fig8`);
//! writes the CSV data, `fig8.png`, `fig8.svg` and `manifest.json`, like
//! `physlearn figure fig8 --out OUT_DIR`.

use physlearn::synapse::figures::{compute, write_output, FigureId, FigureOptions};
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/figures/fig8"));
    let fig = compute(FigureId::Fig8, &FigureOptions::default(), &|| {})?;
    let dir = write_output(&out, &fig, "examples/fig8.rs")?;
    println!("wrote {}", dir.display());
    println!("{}", serde_json::to_string_pretty(&fig.statistics)?);
    Ok(())
}
