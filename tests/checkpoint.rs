//! Checkpoints on disk (`learning::checkpoint_file`): every value round-trips, NaN and ±∞
//! included, in every family, and on a network above the loop-gain element cap (whose rows
//! carry no loop gain).

use physlearn::learning::checkpoint_file::CheckpointFile;
use physlearn::learning::{Session, SessionOptions};
use physlearn::{with_system, Model};

/// Parse `text` as the type of `like`.
fn reparse<T: serde::de::DeserializeOwned>(_like: &T, text: &str) -> T {
    serde_json::from_str(text).unwrap()
}

/// Two serialisations are equal text: every float came back bit for bit (NaN as `null`).
fn round_trip(model: &Model, cycles: usize, poison: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("checkpoint.json");
    let opts = SessionOptions {
        cycles: Some(cycles + 1),
        force: true,
        ..SessionOptions::default()
    };
    with_system!(model.system(), |sys| {
        let mut s = Session::new(sys, &opts, "net", model.sha256()).unwrap();
        for _ in 0..cycles {
            s.step().unwrap();
        }
        let mut file = CheckpointFile::create(&path).unwrap();
        file.save(&s).unwrap();
        let (ck, _) = CheckpointFile::load(&path, model.sha256(), sys).unwrap();
        let want = s.checkpoint();
        assert_eq!(ck.rows.len(), cycles);
        let text = |c: &physlearn::learning::Checkpoint<_, _>| {
            let rows: Vec<String> = (c.rows.iter())
                .map(|r| serde_json::to_string(r).unwrap())
                .collect();
            (serde_json::to_string(c).unwrap(), rows)
        };
        assert_eq!(text(&ck), text(want));
        // A resumed session continues from it.
        let mut r = Session::resume(sys, ck, &opts).unwrap();
        r.step().unwrap();
        assert!(r.done());
        if poison {
            // Every float a row can hold, set to ±∞ and NaN, reads back as written.
            let mut row = want.rows[0].clone();
            row.cost_phys = f64::INFINITY;
            row.beta = f64::NEG_INFINITY;
            row.cmp.slope = f64::NEG_INFINITY;
            row.cmp.cos_cl = f64::NAN;
            row.cmp.offset = f64::INFINITY;
            row.cost_cl = Some(f64::INFINITY);
            row.cost_gd = Some(f64::NEG_INFINITY);
            row.loop_gain = Some(f64::INFINITY);
            let line = serde_json::to_string(&row).unwrap();
            let back = reparse(&row, &line);
            assert_eq!(serde_json::to_string(&back).unwrap(), line);
            assert_eq!(back.cost_phys, f64::INFINITY);
            assert_eq!(back.cmp.slope, f64::NEG_INFINITY);
            assert!(back.cmp.cos_cl.is_nan());
            assert_eq!(back.cost_gd, Some(f64::NEG_INFINITY));
        }
    });
}

#[test]
fn t2_checkpoint_round_trips_nan_and_infinities() {
    // T2 has no test set: acc_test is undefined (NaN) in every epoch row.
    let m = physlearn::load("netlists/t2_flow_regression.json").unwrap();
    round_trip(&m, 2, true);
}

#[test]
fn chemical_checkpoint_round_trips() {
    let m = physlearn::load("netlists/m1_molecular.json").unwrap();
    round_trip(&m, 1, true);
}

#[test]
fn checkpoint_above_the_loop_gain_cap_round_trips() {
    // A 51×51 lattice: 5 100 elements, above the 5 000-element loop-gain cap.
    let mut v = physlearn::generate::lattice(51, 1.0, None).unwrap();
    v["protocol"]["cycles"] = serde_json::json!(2);
    let m = Model::from_value(v).unwrap();
    round_trip(&m, 1, false);
}
