//! The real binary on chemical netlists: check / compare / train / run through the shared
//! commands, exit codes and JSON paths of faults.

mod common;

use common::{bin, netlist_path, write_json};
use serde_json::{json, Value};
use std::path::Path;

#[test]
fn check_and_compare_json_on_m1() {
    let out = bin()
        .args(["check", "--json"])
        .arg(netlist_path("m1_molecular.json"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["species"], 216);
    assert_eq!(v["reactions"], 481);
    assert_eq!(
        v["report"]["conservation_laws"].as_array().unwrap().len(),
        30
    );
    let out = bin()
        .args(["compare", "--json"])
        .arg(netlist_path("m1_molecular.json"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    for k in [
        "cos_cl",
        "cos_grad",
        "slope",
        "offset",
        "wrong_sign_fraction",
        "cost",
    ] {
        assert!(v[k].is_number(), "{k} missing: {v}");
    }
    assert!(v["cos_cl"].as_f64().unwrap() >= 0.98, "{v}");
    assert!(v["reduced_rel_diff"].as_f64().unwrap() < 0.03, "{v}");
}

#[test]
fn train_and_run_write_their_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("train");
    let st = bin()
        .args(["train"])
        .arg(netlist_path("m1_molecular_two_examples.json"))
        .args(["--cycles", "2", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    for f in [
        "train.csv",
        "weights_final.csv",
        "summary.json",
        "manifest.json",
        "cost.png",
    ] {
        assert!(out.join(f).exists(), "{f}");
    }
    let csv = std::fs::read_to_string(out.join("train.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 3);
    // The second cycle is example 1, after a gated switch.
    assert!(rows[2].starts_with("1,1,"), "{}", rows[2]);
    let run = tmp.path().join("run");
    let st = bin()
        .args(["run"])
        .arg(netlist_path("m1_molecular.json"))
        .args(["--cycles", "1", "--out"])
        .arg(&run)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    for f in [
        "timeseries.csv",
        "weights.csv",
        "summary.json",
        "manifest.json",
        "drive_outputs.png",
    ] {
        assert!(run.join(f).exists(), "{f}");
    }
}

#[test]
fn broken_and_refused_netlists_exit_2_with_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let mut v: Value =
        serde_json::from_str(&std::fs::read_to_string(netlist_path("m1_molecular.json")).unwrap())
            .unwrap();
    v["reactions"][12]["k"] = json!(-1);
    v["species"][0]["init"] = json!(-0.5);
    let p = write_json(tmp.path(), "bad.json", &v);
    let out = bin().arg("check").arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("reactions[12].k: must be > 0, got -1"),
        "{err}"
    );
    assert!(err.contains("species[0].init: must be ≥ 0"), "{err}");
    // Hebbian writer with fast_rise: refused by the sign oracle.
    let mut t: Value = serde_json::from_str(physlearn::netlist::chem::M1_TEMPLATE).unwrap();
    t["protocol"]["direction"] = json!("fast_rise");
    let p = write_json(tmp.path(), "hebb_rise.json", &t);
    let out = bin().arg("compare").arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[sign]"));
    // A bad design index is a fault with its path (exit 2), not a panic (exit 101).
    let mut v: Value =
        serde_json::from_str(&std::fs::read_to_string(netlist_path("m1_molecular.json")).unwrap())
            .unwrap();
    v["design"]["inputs"][0] = json!(99);
    let p = write_json(tmp.path(), "bad_input.json", &v);
    let out = bin().arg("check").arg(&p).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("design.inputs[0]: monomer index 99 out of range"),
        "{err}"
    );
}

#[test]
fn export_spice_refuses_chemical_networks_and_read_errors_print_once() {
    let tmp = tempfile::tempdir().unwrap();
    let out_file = tmp.path().join("deck.cir");
    let out = bin()
        .args(["export", "spice"])
        .arg(netlist_path("m1_molecular.json"))
        .arg("--out")
        .arg(&out_file)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("chemical networks cannot be exported to SPICE"),
        "{err}"
    );
    assert!(!err.contains("fault"), "{err}");
    // A missing file: the OS reason appears once.
    let missing = tmp.path().join("nope.json");
    let out = bin().arg("check").arg(&missing).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.matches("No such file").count(), 1, "{err}");
}

/// `--stop-after` + `--resume` continue a chemical run bit for bit (wall times aside).
#[test]
fn resume_continues_bit_for_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let nl = netlist_path("m1_molecular_two_examples.json");
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    let st = bin()
        .arg("train")
        .arg(&nl)
        .args(["--cycles", "3", "--out"])
        .arg(&a)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let st = bin()
        .arg("train")
        .arg(&nl)
        .args(["--cycles", "3", "--stop-after", "2", "--out"])
        .arg(&b)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    assert!(b.join("checkpoint.json").exists() && !b.join("train.csv").exists());
    let st = bin().arg("train").arg("--resume").arg(&b).output().unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    // Everything but the wall-clock column.
    let strip = |p: &Path| -> Vec<String> {
        let text = std::fs::read_to_string(p).unwrap();
        let wall = text
            .lines()
            .next()
            .unwrap()
            .split(',')
            .position(|c| c == "wall_seconds")
            .unwrap();
        text.lines()
            .map(|l| {
                let mut f: Vec<&str> = l.split(',').collect();
                f.remove(wall);
                f.join(",")
            })
            .collect()
    };
    assert_eq!(strip(&a.join("train.csv")), strip(&b.join("train.csv")));
    assert_eq!(
        std::fs::read_to_string(a.join("weights_final.csv")).unwrap(),
        std::fs::read_to_string(b.join("weights_final.csv")).unwrap()
    );
}
