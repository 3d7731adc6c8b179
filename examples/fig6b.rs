//! Fig. 6B (9B in v1): offset and kernel area vs steady-state dissipation over 5000 random
//! Markov-ladder kernels (threshold-0.05 metric).
//!
//! Run: `cargo run --release --example fig6b [OUT_DIR]` (default `target/figures/fig6b`);
//! writes the CSV data, `fig6b.png`, `fig6b.svg` and `manifest.json`, like
//! `physlearn figure fig6b --out OUT_DIR`.

use physlearn::synapse::figures::{compute, write_output, FigureId, FigureOptions};
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/figures/fig6b"));
    let fig = compute(FigureId::Fig6b, &FigureOptions::default(), &|| {})?;
    let dir = write_output(&out, &fig, "examples/fig6b.rs")?;
    println!("wrote {}", dir.display());
    println!("{}", serde_json::to_string_pretty(&fig.statistics)?);
    Ok(())
}
