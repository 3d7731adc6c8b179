//! One per-cycle accounting (docs/physics.md §6, "Kernel tail"): every cycle is the two legs,
//! the settle (β = 0 for 10 τ_k after a `fast_fall` cycle) and the input switch, in `run`,
//! `compare` and `train` alike, so cycle 0 of a training run is exactly `compare`'s cycle and a
//! `run` ends where `train` does.

use physlearn::learning::{Engine, Session, SessionOptions};
use physlearn::with_system;

fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn train_cycle_zero_is_compare() {
    // A flow network (fast_fall, settle 10 τ_k), a molecular network (chemical family), an
    // elastic one with fast_rise (no settle) and two multi-example tasks (the settle comes
    // before the input switch).
    for (file, settles) in [
        ("netlists/t1_flow_allostery.json", true),
        ("netlists/m1_molecular.json", true),
        ("netlists/t3_elastic_allostery_rest_length.json", false),
        ("netlists/t2_flow_regression.json", true),
        ("netlists/m1_molecular_two_examples.json", true),
    ] {
        let model = physlearn::load(root().join(file)).unwrap();
        let one = model.compare(false).unwrap();
        assert_eq!(one.tail > 0.0, settles, "{file}: tail {}", one.tail);
        let opts = SessionOptions {
            cycles: Some(1),
            ..SessionOptions::default()
        };
        let (delta, cmp) = with_system!(model.system(), |sys| {
            let mut s = Session::new(sys, &opts, "t", model.sha256()).unwrap();
            s.step().unwrap();
            let theta: Vec<f64> = s.engine().theta();
            let d: Vec<f64> = theta
                .iter()
                .zip(model.theta0())
                .map(|(a, b)| a - b)
                .collect();
            (d, s.rows()[0].cmp.clone())
        });
        let scale = one.delta.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
        for (i, (a, b)) in delta.iter().zip(&one.delta).enumerate() {
            assert!(
                (a - b).abs() <= 1e-12 * scale,
                "{file}: Δθ[{i}] train {a} vs compare {b}"
            );
        }
        for (what, a, b) in [
            ("cos_cl", cmp.cos_cl, one.cmp.cos_cl),
            ("cos_grad", cmp.cos_grad, one.cmp.cos_grad),
            ("slope", cmp.slope, one.cmp.slope),
        ] {
            assert!(
                (a - b).abs() < 1e-10,
                "{file}: {what} train {a} vs compare {b}"
            );
        }
        eprintln!(
            "{file}: cos {:.4} slope {:.4} (tail {})",
            cmp.cos_cl, cmp.slope, one.tail
        );
    }
}

/// `run` integrates the same cycles as `train` (settle included): after two cycles the
/// physical learner's θ is the same.
#[test]
fn run_ends_where_train_does() {
    use physlearn::physics::run::Sampling;
    use physlearn::sim::{prepare, run, RunOptions};
    let path = root().join("netlists/t1_flow_allostery.json");
    let (nl, _) = physlearn::netlist::load(&path).unwrap();
    let prep = prepare(&nl).unwrap();
    let saw = prep.sawtooth().unwrap().clone();
    assert!(
        saw.settle > 0.0
            && (saw.period(1) - saw.tau_fast - saw.tau_slow - saw.settle).abs() < 1e-12
    );
    let out = run(
        &prep,
        RunOptions {
            cycles: Some(2),
            sampling: Sampling { per_segment: 0 },
            sample_cycles: 0,
        },
        |_, _, _| {},
    )
    .unwrap();
    let w_run = &out.cycles[1].w_end;
    let model = physlearn::load(&path).unwrap();
    let opts = SessionOptions {
        cycles: Some(2),
        ..SessionOptions::default()
    };
    let theta = with_system!(model.system(), |sys| {
        let mut s = Session::new(sys, &opts, "t", model.sha256()).unwrap();
        s.step().unwrap();
        s.step().unwrap();
        s.engine().theta()
    });
    for (e, (a, b)) in w_run.iter().zip(&theta).enumerate() {
        assert!(
            (a - b).abs() <= 1e-12 * b.abs().max(1.0),
            "w[{e}]: run {a} vs train {b}"
        );
    }
}
