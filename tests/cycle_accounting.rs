//! One per-cycle accounting (docs/physics.md §6, "Kernel tail"): a learning cycle is the
//! sawtooth cycle and, after a `fast_fall` cycle, its settle, in `compare` and `train` alike, so
//! cycle 0 of a training run is exactly `compare`'s cycle.

use physlearn::learning::{Engine, Session, SessionOptions};
use physlearn::with_system;

fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn train_cycle_zero_is_compare() {
    // A flow network (fast_fall, settle 10 τ_k), a molecular network (chemical family) and an
    // elastic one with fast_rise (no settle).
    for (file, settles) in [
        ("netlists/t1_flow_allostery.json", true),
        ("netlists/m1_molecular.json", true),
        ("netlists/t3_elastic_allostery_rest_length.json", false),
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
