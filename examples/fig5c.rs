//! Fig. 5C: offset vs tau_f over 500 random protocols (I = 0.05, s0 = 25), against eq. 10.
//!
//! Run: `cargo run --release --example fig5c [OUT_DIR]` (default `target/figures/fig5c`);
//! writes the CSV data, `fig5c.png`, `fig5c.svg` and `manifest.json`, like
//! `physlearn figure fig5c --out OUT_DIR`.

use physlearn::synapse::figures::{compute, write_output, FigureId, FigureOptions};
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/figures/fig5c"));
    let fig = compute(FigureId::Fig5c, &FigureOptions::default(), &|| {})?;
    let dir = write_output(&out, &fig, "examples/fig5c.rs")?;
    println!("wrote {}", dir.display());
    println!("{}", serde_json::to_string_pretty(&fig.statistics)?);
    Ok(())
}
