//! Fig. 2: memory kernels (E. coli, with area, integral feedback, exponential) and one
//! period of the sawtooth s(t), the filtered signal u = K*s and the thresholded g_theta(u).
//!
//! Run: `cargo run --release --example fig2 [OUT_DIR]` (default `target/figures/fig2`);
//! writes the CSV data, `fig2.png`, `fig2.svg` and `manifest.json`, like
//! `physlearn figure fig2 --out OUT_DIR`.

use physlearn::synapse::figures::{compute, write_output, FigureId, FigureOptions};
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/figures/fig2"));
    let fig = compute(FigureId::Fig2, &FigureOptions::default(), &|| {})?;
    let dir = write_output(&out, &fig, "examples/fig2.rs")?;
    println!("wrote {}", dir.display());
    println!("{}", serde_json::to_string_pretty(&fig.statistics)?);
    Ok(())
}
