//! Fig. 9A: Markov-ladder kernels for several gamma; dissipation (eq. 59 and the cycle form)
//! and kernel area vs gamma.
//!
//! Run: `cargo run --release --example fig9a [OUT_DIR]` (default `target/figures/fig9a`);
//! writes the CSV data, `fig9a.png`, `fig9a.svg` and `manifest.json`, like
//! `physlearn figure fig9a --out OUT_DIR`.

use physlearn::synapse::figures::{compute, write_output, FigureId, FigureOptions};
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/figures/fig9a"));
    let fig = compute(FigureId::Fig9a, &FigureOptions::default(), &|| {})?;
    let dir = write_output(&out, &fig, "examples/fig9a.rs")?;
    println!("wrote {}", dir.display());
    println!("{}", serde_json::to_string_pretty(&fig.statistics)?);
    Ok(())
}
