//! Fig. 4B: weight-update curves dw(A) of the zero-area E. coli kernel for several
//! tau_s/tau_f, with the ideal contrastive line dw = A.
//!
//! Run: `cargo run --release --example fig4b [OUT_DIR]` (default `target/figures/fig4b`);
//! writes the CSV data, `fig4b.png`, `fig4b.svg` and `manifest.json`, like
//! `physlearn figure fig4b --out OUT_DIR`.

use physlearn::synapse::figures::{compute, write_output, FigureId, FigureOptions};
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/figures/fig4b"));
    let fig = compute(FigureId::Fig4b, &FigureOptions::default(), &|| {})?;
    let dir = write_output(&out, &fig, "examples/fig4b.rs")?;
    println!("wrote {}", dir.display());
    println!("{}", serde_json::to_string_pretty(&fig.statistics)?);
    Ok(())
}
