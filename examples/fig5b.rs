//! Fig. 5B: weight-update curves with kernel area I = 0.05 (s0 = 25): the offset
//! A + I s0 tau_f of eq. 10.
//!
//! Run: `cargo run --release --example fig5b [OUT_DIR]` (default `target/figures/fig5b`);
//! writes the CSV data, `fig5b.png`, `fig5b.svg` and `manifest.json`, like
//! `physlearn figure fig5b --out OUT_DIR`.

use physlearn::synapse::figures::{compute, write_output, FigureId, FigureOptions};
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/figures/fig5b"));
    let fig = compute(FigureId::Fig5b, &FigureOptions::default(), &|| {})?;
    let dir = write_output(&out, &fig, "examples/fig5b.rs")?;
    println!("wrote {}", dir.display());
    println!("{}", serde_json::to_string_pretty(&fig.statistics)?);
    Ok(())
}
