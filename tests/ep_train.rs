//! Training-loop checks: bit-for-bit reproducibility, learning on a tiny problem, option
//! validation. The full digits accuracy runs are `#[ignore]`d (run them with
//! `cargo test --release --test ep_train -- --ignored`).

use physlearn::ep::data::{digits, Dataset};
use physlearn::ep::train::{EpochRecord, Rule, TrainConfig, Trainer};
use physlearn::ep::EpError;

fn split(n_train: usize, n_test: usize) -> (Dataset, Dataset) {
    let d = digits().unwrap();
    let (train, test) = d.split(0.2, 11).unwrap();
    (train.truncated(n_train), test.truncated(n_test))
}

fn tiny_split() -> (Dataset, Dataset) {
    split(200, 100)
}

fn tiny_config(rule: Rule, seed: u64) -> TrainConfig {
    let mut c = TrainConfig::digits_default(rule);
    c.hidden = vec![16];
    c.epochs = 2;
    c.seed = seed;
    c
}

fn train(cfg: TrainConfig, threads: usize) -> (Vec<EpochRecord>, Trainer) {
    train_on(cfg, threads, tiny_split())
}

fn train_on(
    cfg: TrainConfig,
    threads: usize,
    (tr, te): (Dataset, Dataset),
) -> (Vec<EpochRecord>, Trainer) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let mut t = Trainer::new(cfg, tr, te).unwrap();
        let r = t.run(|| {}).unwrap();
        (r, t)
    })
}

fn strip_time(r: &[EpochRecord]) -> Vec<(usize, u64, u64)> {
    r.iter()
        .map(|e| (e.epoch, e.train_error.to_bits(), e.test_error.to_bits()))
        .collect()
}

#[test]
fn training_is_reproducible_bit_for_bit() {
    for rule in [Rule::Ep, Rule::Tcl] {
        let (r1, t1) = train(tiny_config(rule, 5), 1);
        let (r2, t2) = train(tiny_config(rule, 5), 2);
        assert_eq!(strip_time(&r1), strip_time(&r2), "{rule:?}");
        // Bit-for-bit equal parameters, whatever the number of threads.
        let bits = |t: &Trainer| -> Vec<u64> {
            let p = t.params();
            p.weights
                .iter()
                .flat_map(|w| w.iter().map(|v| v.to_bits()).collect::<Vec<_>>())
                .chain(p.biases.iter().flat_map(|b| b.iter().map(|v| v.to_bits())))
                .collect()
        };
        assert_eq!(bits(&t1), bits(&t2), "{rule:?}");
        // A different seed gives a different network.
        let (_, t3) = train(tiny_config(rule, 6), 1);
        assert_ne!(bits(&t1), bits(&t3), "{rule:?}");
    }
}

#[test]
fn both_rules_learn_a_tiny_digits_problem() {
    for rule in [Rule::Ep, Rule::Tcl] {
        let mut cfg = tiny_config(rule, 1);
        cfg.hidden = vec![32];
        cfg.epochs = 6;
        let (r, _) = train_on(cfg, 2, split(500, 200));
        println!(
            "{rule:?}: {:?}",
            r.iter().map(|e| e.test_error).collect::<Vec<_>>()
        );
        let first = r[0].test_error;
        let last = r[r.len() - 1].test_error;
        // Chance is 90 % error; 500 training images take the test error well below that.
        let bound = if rule == Rule::Ep { 0.3 } else { 0.6 };
        assert!(last < bound, "{rule:?}: final test error {last}");
        assert!(last < first - 0.2, "{rule:?}: {first} -> {last}");
    }
}

#[test]
fn invalid_options_are_rejected_with_typed_errors() {
    let (tr, te) = tiny_split();
    let mut c = tiny_config(Rule::Ep, 1);
    c.epochs = 0;
    let e = Trainer::new(c, tr.clone(), te.clone()).unwrap_err();
    assert!(matches!(e, EpError::Option { name: "epochs", .. }), "{e}");
    assert!(e.is_bad_input());
    let mut c = tiny_config(Rule::Ep, 1);
    c.rates = vec![0.1];
    let e = Trainer::new(c, tr.clone(), te.clone()).unwrap_err();
    assert!(e.to_string().contains("rates"), "{e}");
    let mut c = tiny_config(Rule::Tcl, 1);
    c.dt = 0.003;
    let e = Trainer::new(c, tr.clone(), te.clone()).unwrap_err();
    assert!(e.to_string().contains("dt"), "{e}");
    let mut c = tiny_config(Rule::Ep, 1);
    c.beta = f64::NAN;
    assert!(Trainer::new(c, tr, te).is_err());
}

#[test]
fn diverging_training_is_a_numerical_error() {
    let (tr, te) = tiny_split();
    // A finite but absurd TCL gain: c/β overflows, the update is not finite.
    let mut c = tiny_config(Rule::Tcl, 1);
    c.gain = f64::MAX;
    let mut t = Trainer::new(c, tr, te).unwrap();
    let e = t.run(|| {}).unwrap_err();
    assert!(matches!(e, EpError::NonFinite { .. }), "{e}");
    assert!(!e.is_bad_input());
}

/// The acceptance run (docs/ep.md): 64-128-10, 30 epochs, default options, seed 1.
#[test]
#[ignore]
fn full_digits_accuracy_of_both_rules() {
    let d = digits().unwrap();
    let (tr, te) = d.split(0.2, 1).unwrap();
    let mut finals = Vec::new();
    for rule in [Rule::Ep, Rule::Tcl] {
        let mut t =
            Trainer::new(TrainConfig::digits_default(rule), tr.clone(), te.clone()).unwrap();
        let r = t.run(|| {}).unwrap();
        let last = r[r.len() - 1];
        let secs = r.iter().map(|e| e.seconds).sum::<f64>() / r.len() as f64;
        println!(
            "{rule:?}: test accuracy {:.2}% train accuracy {:.2}% ({secs:.3} s/epoch)",
            100.0 * (1.0 - last.test_error),
            100.0 * (1.0 - last.train_error)
        );
        finals.push(1.0 - last.test_error);
    }
    assert!(finals[0] >= 0.93, "EP accuracy {}", finals[0]);
    assert!(finals[1] >= 0.90, "TCL accuracy {}", finals[1]);
    assert!(finals[0] - finals[1] <= 0.04, "gap {:?}", finals);
}
