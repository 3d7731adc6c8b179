//! Golden files of `physlearn compare FILE --json` for every shipped netlist: the same keys, and
//! the same numbers (4 significant digits; counts within 5 %). A definition that changes on
//! purpose shows up as a reviewed diff of `tests/golden/compare/*.json`: regenerate them with
//! `PHYSLEARN_BLESS=1 cargo test --release --test golden` and explain the diff in the commit.

mod common;

use common::{bin, root};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Keys that measure the machine, not the physics.
const TIMING: &[&str] = &["wall_seconds", "reduced_wall_seconds"];
/// Integer work counters: deterministic here, but a different CPU may take a step more or less.
const COUNTS: &[&str] = &[
    "rhs_evals",
    "accepted_steps",
    "rejected_steps",
    "jacobian_evals",
    "lu_decompositions",
    "reduced_rhs_evals",
];

fn compare_json(netlist: &Path) -> Option<Value> {
    let out = bin()
        .arg("compare")
        .arg(netlist)
        .arg("--json")
        .output()
        .unwrap();
    if !out.status.success() {
        return None;
    }
    let mut v: Value = serde_json::from_slice(&out.stdout).unwrap();
    for k in TIMING {
        v.as_object_mut().unwrap().remove(*k);
    }
    Some(v)
}

/// Equal to 4 significant digits (relative 5e-4, with an absolute floor for values that are
/// zero up to round-off relative to the vector they belong to).
fn close(a: f64, b: f64, floor: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    (a - b).abs() <= 5e-4 * a.abs().max(b.abs()) + floor
}

fn num(v: &Value) -> f64 {
    match v {
        Value::Null => f64::NAN,
        v => v.as_f64().unwrap_or(f64::NAN),
    }
}

fn diff(name: &str, gold: &Value, got: &Value) -> Vec<String> {
    let (g, o) = (gold.as_object().unwrap(), got.as_object().unwrap());
    let mut faults = Vec::new();
    let gk: Vec<_> = g.keys().collect();
    let ok: Vec<_> = o.keys().collect();
    if gk != ok {
        faults.push(format!("{name}: keys differ\n  gold {gk:?}\n  got  {ok:?}"));
        return faults;
    }
    for (k, gv) in g {
        let ov = &o[k];
        match (gv, ov) {
            (Value::Array(ga), Value::Array(oa)) => {
                if ga.len() != oa.len() {
                    faults.push(format!("{name}.{k}: length {} vs {}", ga.len(), oa.len()));
                    continue;
                }
                let scale = ga.iter().map(|x| num(x).abs()).fold(0.0, f64::max);
                for (i, (x, y)) in ga.iter().zip(oa).enumerate() {
                    let same = match (x, y) {
                        (Value::String(a), Value::String(b)) => a == b,
                        _ => close(num(x), num(y), 1e-6 * scale),
                    };
                    if !same {
                        faults.push(format!("{name}.{k}[{i}]: gold {x} got {y}"));
                    }
                }
            }
            (Value::String(a), Value::String(b)) => {
                if a != b {
                    faults.push(format!("{name}.{k}: gold {a} got {b}"));
                }
            }
            _ => {
                let (a, b) = (num(gv), num(ov));
                let same = if COUNTS.contains(&k.as_str()) {
                    (a - b).abs() <= 0.05 * a.abs().max(1.0)
                } else {
                    close(a, b, 1e-12)
                };
                if !same {
                    faults.push(format!("{name}.{k}: gold {gv} got {ov}"));
                }
            }
        }
    }
    faults
}

#[test]
fn compare_json_matches_the_golden_files() {
    let bless = std::env::var_os("PHYSLEARN_BLESS").is_some();
    let gold_dir = root().join("tests/golden/compare");
    let mut nets: Vec<PathBuf> = std::fs::read_dir(root().join("netlists"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    nets.sort();
    let mut faults = Vec::new();
    let mut compared = 0;
    for net in &nets {
        let name = net.file_stem().unwrap().to_string_lossy().into_owned();
        let gold_path = gold_dir.join(format!("{name}.json"));
        let got = compare_json(net);
        if bless {
            match &got {
                Some(v) => {
                    std::fs::write(&gold_path, serde_json::to_string_pretty(v).unwrap() + "\n")
                        .unwrap()
                }
                None => {
                    let _ = std::fs::remove_file(&gold_path);
                }
            }
            continue;
        }
        match (got, gold_path.exists()) {
            (Some(v), true) => {
                let gold: Value =
                    serde_json::from_str(&std::fs::read_to_string(&gold_path).unwrap()).unwrap();
                faults.extend(diff(&name, &gold, &v));
                compared += 1;
            }
            (Some(_), false) => faults.push(format!("{name}: no golden file")),
            (None, true) => faults.push(format!("{name}: compare failed but a golden file exists")),
            (None, false) => {} // hold-protocol netlists: compare refuses them (tested elsewhere)
        }
    }
    assert!(faults.is_empty(), "{}", faults.join("\n"));
    if !bless {
        assert!(compared >= 10, "only {compared} netlists compared");
    }
}
