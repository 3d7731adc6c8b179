//! Quickstart: load a flow and a chemical netlist, compare one cycle with the ideal rule, and
//! train the flow network for a few cycles through the same pipeline.
//!
//! `cargo run --release --example quickstart`

use physlearn::io::tables::csv_text;
use physlearn::learning::{Session, SessionOptions};
use physlearn::with_system;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for file in [
        "netlists/t1_flow_allostery.json",
        "netlists/m1_molecular.json",
    ] {
        let model = physlearn::load(file)?;
        let one = model.compare(false)?;
        println!(
            "{file} ({}): {} learnables, cos(Δθ, Δθ_CL) = {:.4}, cos(Δθ, −∇C) = {:.4}, slope {:.3}",
            model.family().name(),
            one.learnables.len(),
            one.cmp.cos_cl,
            one.cmp.cos_grad,
            one.cmp.slope
        );
        for (id, (d, i)) in one
            .learnables
            .iter()
            .zip(one.delta.iter().zip(&one.ideal))
            .take(3)
        {
            println!("  Δθ[{id}] = {d:+.4e}   ideal {i:+.4e}");
        }
    }
    // Ten training cycles of T1: physical TCL beside ideal CL and gradient descent.
    let model = physlearn::load("netlists/t1_flow_allostery.json")?;
    let opts = SessionOptions {
        cycles: Some(10),
        ..SessionOptions::default()
    };
    let csv = with_system!(model.system(), |sys| {
        let mut s = Session::new(sys, &opts, "t1", model.sha256())?;
        s.run(|row, k, n| {
            if k == n {
                println!(
                    "cycle {k}/{n}: cost {:.3e}, cos {:.3}",
                    row.cost_phys, row.cmp.cos_cl
                )
            }
        })?;
        csv_text(s.rows())?
    });
    println!("train.csv has {} lines", csv.lines().count());
    Ok(())
}
