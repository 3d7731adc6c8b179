//! Fig. 4C: the speed-accuracy trade-off, dynamic range A_max/A_min vs tau_s/tau_f over
//! 1000 random protocols (3-segment piecewise-linear fit), against eq. 9.
//!
//! Run: `cargo run --release --example fig4c [OUT_DIR]` (default `target/figures/fig4c`);
//! writes the CSV data, `fig4c.png`, `fig4c.svg` and `manifest.json`, like
//! `physlearn figure fig4c --out OUT_DIR`.

use physlearn::synapse::figures::{compute, write_output, FigureId, FigureOptions};
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/figures/fig4c"));
    let fig = compute(FigureId::Fig4c, &FigureOptions::default(), &|| {})?;
    let dir = write_output(&out, &fig, "examples/fig4c.rs")?;
    println!("wrote {}", dir.display());
    println!("{}", serde_json::to_string_pretty(&fig.statistics)?);
    Ok(())
}
