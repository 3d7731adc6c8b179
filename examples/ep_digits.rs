//! Fig. 3B on the 8×8 digits: train the same 64-128-10 network with standard EP and with TCL-EP
//! (sawtooth nudge, kernel of eq. 31, thresholds) and print the error per epoch.
//!
//! ```text
//! cargo run --release --example ep_digits -- [EPOCHS] [ep|tcl|both]
//! ```

use physlearn::ep::data::digits;
use physlearn::ep::train::{Rule, TrainConfig, Trainer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let epochs: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(30);
    let rules = match args.next().as_deref() {
        Some("ep") => vec![Rule::Ep],
        Some("tcl") => vec![Rule::Tcl],
        _ => vec![Rule::Ep, Rule::Tcl],
    };
    let data = digits()?;
    let (train, test) = data.split(0.2, 1)?;
    for rule in rules {
        let mut cfg = TrainConfig::digits_default(rule);
        cfg.epochs = epochs;
        let mut trainer = Trainer::new(cfg, train.clone(), test.clone())?;
        println!("rule {} ({}):", rule.name(), trainer.architecture().label());
        println!("epoch  train_error  test_error  seconds");
        for r in trainer.run(|| {})? {
            println!(
                "{:5}  {:11.4}  {:10.4}  {:7.3}",
                r.epoch, r.train_error, r.test_error, r.seconds
            );
        }
    }
    Ok(())
}
