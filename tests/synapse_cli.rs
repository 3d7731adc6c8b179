//! The `synapse`, `ladder`, `figure` and `sweep-merge` commands, driven through the real binary.

mod common;

use common::bin;
use std::path::Path;
use std::process::Output;

fn physlearn(args: &[&str]) -> Output {
    bin().args(args).output().expect("run physlearn")
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

fn assert_bad_input(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn synapse_json_curve_follows_the_contrastive_rule() {
    let out = physlearn(&[
        "synapse",
        "--kernel",
        "ecoli",
        "--area",
        "0",
        "--tau-fast",
        "2",
        "--tau-slow",
        "20",
        "--s0",
        "0",
        "--theta",
        "auto",
        "--amplitudes",
        "0,5,30,60,99,120",
        "--dt",
        "1e-3",
        "--json",
    ]);
    let v = json(&out);
    let amps: Vec<f64> = serde_json::from_value(v["amplitudes"].clone()).unwrap();
    let dw: Vec<f64> = serde_json::from_value(v["delta_w"].clone()).unwrap();
    assert_eq!(amps.len(), dw.len());
    assert!((v["theta"].as_f64().unwrap() - 120.0 / 20.0).abs() < 1e-6);
    assert!((v["first_moment"].as_f64().unwrap() + 1.0).abs() < 1e-6);
    assert_eq!(dw[0], 0.0);
    assert_eq!(dw[1], 0.0, "below A_min = theta tau_f = 12");
    for i in 2..5 {
        assert!(
            (dw[i] / amps[i] - 1.0).abs() < 0.05,
            "A {}: {}",
            amps[i],
            dw[i]
        );
    }
}

#[test]
fn synapse_out_writes_csv_png_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let out = physlearn(&[
        "synapse",
        "--kernel",
        "ifb",
        "--area",
        "0.02",
        "--tau-fast",
        "1",
        "--tau-slow",
        "10",
        "--s0",
        "5",
        "--theta",
        "3",
        "--amplitudes",
        "10,20,40",
        "--dt",
        "1e-3",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in [
        "delta_w.csv",
        "kernel.csv",
        "synapse.png",
        "synapse.svg",
        "manifest.json",
    ] {
        assert!(dir.join(f).exists(), "{f} missing");
    }
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    assert!((m["statistics"]["area"].as_f64().unwrap() - 0.02).abs() < 1e-6);
}

#[test]
fn ladder_json_contract() {
    let v = json(&physlearn(&[
        "ladder", "--gamma", "1", "--F", "25", "--step", "200", "--dt", "5e-3", "--json",
    ]));
    assert!(v["dissipation"].as_f64().unwrap().abs() < 1e-12);
    assert!((v["first_moment"].as_f64().unwrap() - 1.0).abs() < 1e-12);
    let v = json(&physlearn(&[
        "ladder", "--gamma", "0.01", "--dt", "5e-3", "--json",
    ]));
    let (d, c) = (
        v["dissipation"].as_f64().unwrap(),
        v["dissipation_cycle"].as_f64().unwrap(),
    );
    assert!(d > 4.0 && (d - c).abs() < 1e-10 * d, "{d} {c}");
    assert!((v["first_moment"].as_f64().unwrap() + 1.0).abs() < 1e-12);
    assert!(v["area"].as_f64().unwrap() > 0.0);
    assert!(v["kernel"]["values"].as_array().unwrap().len() == 1000);
}

#[test]
fn bad_input_exits_with_code_2() {
    assert_bad_input(
        &physlearn(&[
            "synapse",
            "--tau-fast",
            "-1",
            "--tau-slow",
            "10",
            "--amplitudes",
            "1",
        ]),
        "tau_fast",
    );
    assert_bad_input(
        &physlearn(&[
            "synapse",
            "--kernel",
            "ladder",
            "--area",
            "0.1",
            "--tau-fast",
            "1",
            "--tau-slow",
            "10",
            "--amplitudes",
            "1",
        ]),
        "area 0.1 cannot be given for the ladder kernel",
    );
    assert_bad_input(
        &physlearn(&[
            "synapse",
            "--tau-fast",
            "1",
            "--tau-slow",
            "10",
            "--theta",
            "-3",
            "--amplitudes",
            "1",
        ]),
        "theta",
    );
    assert_bad_input(&physlearn(&["ladder", "--gamma", "0"]), "gamma");
    assert_bad_input(&physlearn(&["ladder", "--gamma", "0.5", "--F", "-1"]), "F");
    let tmp = tempfile::tempdir().unwrap();
    let o = tmp.path().join("x");
    assert_bad_input(
        &physlearn(&[
            "figure",
            "fig4c",
            "--shard",
            "3/2",
            "--out",
            o.to_str().unwrap(),
        ]),
        "3/2",
    );
    assert_bad_input(
        &physlearn(&["figure", "fig9z", "--out", o.to_str().unwrap()]),
        "fig9z",
    );
    assert_bad_input(
        &physlearn(&[
            "figure",
            "fig8",
            "--dt",
            "0.5",
            "--out",
            o.to_str().unwrap(),
        ]),
        "dt",
    );
    assert_bad_input(
        &physlearn(&[
            "figure",
            "fig8",
            "--tasks",
            "3",
            "--out",
            o.to_str().unwrap(),
        ]),
        "--tasks",
    );
    assert_bad_input(
        &physlearn(&[
            "synapse",
            "--tau-fast",
            "1",
            "--tau-slow",
            "1e6",
            "--amplitudes",
            "1",
        ]),
        "period",
    );
    assert!(!o.exists(), "no output on failure");
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn figure_and_sharded_sweep_merge() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |n: &str| tmp.path().join(n).to_str().unwrap().to_string();
    let (ps0, ps1, pw) = (p("s0"), p("s1"), p("w"));
    let out = physlearn(&["figure", "fig8", "--out", &p("f8")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        files(&tmp.path().join("f8")),
        ["fig8.csv", "fig8.png", "fig8.svg", "manifest.json"]
    );
    // Two shards of a small fig5c sweep, one of them chosen through Slurm's variables.
    let common = ["--tasks", "3", "--seed", "5", "--dt", "2e-3"];
    let s0 = [
        &["figure", "fig5c", "--shard", "0/2", "--out", &ps0][..],
        &common,
    ]
    .concat();
    assert!(physlearn(&s0).status.success());
    let s1 = [&["figure", "fig5c", "--out", &ps1][..], &common].concat();
    let out = bin()
        .args(&s1)
        .env("SLURM_ARRAY_TASK_ID", "1")
        .env("SLURM_ARRAY_TASK_COUNT", "2")
        .env("SLURM_ARRAY_TASK_MIN", "0")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        files(&tmp.path().join("s1")),
        ["fig5c.csv", "manifest.json"]
    );
    // Merging one shard only must fail with a clear message.
    assert_bad_input(
        &physlearn(&["sweep-merge", "--out", &p("m1"), &p("s0")]),
        "missing",
    );
    let out = physlearn(&["sweep-merge", "--out", &p("m"), &p("s0"), &p("s1")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        files(&tmp.path().join("m")),
        ["fig5c.csv", "fig5c.png", "fig5c.svg", "manifest.json"]
    );
    // The merged table equals the unsharded run.
    let whole = [&["figure", "fig5c", "--out", &pw][..], &common].concat();
    assert!(physlearn(&whole).status.success());
    let read = |d: &str| std::fs::read_to_string(tmp.path().join(d).join("fig5c.csv")).unwrap();
    assert_eq!(read("m"), read("w"));
}
