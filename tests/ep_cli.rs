//! `physlearn ep` driven through the real binary in temporary directories.

mod common;

use common::{bin, stderr};
use std::path::Path;
use std::process::Output;

fn physlearn(args: &[&str], dir: &Path) -> Output {
    bin().args(args).current_dir(dir).output().unwrap()
}

const TINY: &[&str] = &[
    "--hidden",
    "8",
    "--max-train",
    "120",
    "--max-test",
    "40",
    "--epochs",
    "2",
];

fn check_csv(path: &Path, rows: usize) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("epoch,train_error,test_error"));
    let body: Vec<&str> = lines.collect();
    assert_eq!(body.len(), rows, "{text}");
    for (i, line) in body.iter().enumerate() {
        let f: Vec<f64> = line.split(',').map(|v| v.parse().unwrap()).collect();
        assert_eq!(f[0], (i + 1) as f64);
        assert!((0.0..=1.0).contains(&f[1]) && (0.0..=1.0).contains(&f[2]));
    }
}

#[test]
fn tiny_runs_write_csv_plot_and_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let mut args = vec!["ep", "--data", "digits", "--rule", "both", "--out", "run"];
    args.extend(TINY);
    let o = physlearn(&args, tmp.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let run = tmp.path().join("run");
    check_csv(&run.join("ep/ep.csv"), 2);
    check_csv(&run.join("tcl/ep.csv"), 2);
    assert!(
        std::fs::metadata(run.join("error_vs_epoch.png"))
            .unwrap()
            .len()
            > 5000
    );
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["seed"], 1);
    assert_eq!(m["input_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(m["parameters"]["architecture"], "64-8-10");
    assert!(
        m["statistics"]["tcl"]["seconds_per_epoch"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    // One rule writes ep.csv at the top; an overlay of the other rule's csv is accepted.
    let mut args = vec![
        "ep",
        "--rule",
        "tcl",
        "--out",
        "one",
        "--overlay",
        "run/ep/ep.csv",
    ];
    args.extend(TINY);
    let o = physlearn(&args, tmp.path());
    assert!(o.status.success(), "{}", stderr(&o));
    check_csv(&tmp.path().join("one/ep.csv"), 2);
    // Same options, same seed: the same numbers.
    let a = std::fs::read_to_string(run.join("tcl/ep.csv")).unwrap();
    let b = std::fs::read_to_string(tmp.path().join("one/ep.csv")).unwrap();
    assert_eq!(a, b);
}

#[test]
fn mnist_idx_directory_is_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("mnist");
    std::fs::create_dir(&dir).unwrap();
    let idx = |dims: &[u32], data: Vec<u8>| -> Vec<u8> {
        let mut b = vec![0u8, 0, 8, dims.len() as u8];
        for d in dims {
            b.extend(d.to_be_bytes());
        }
        b.extend(data);
        b
    };
    // 30 4×4 images: class c lights pixel c (and its neighbour).
    let n = 30u32;
    let labels: Vec<u8> = (0..n).map(|i| (i % 3) as u8).collect();
    let pixels: Vec<u8> = labels
        .iter()
        .flat_map(|&c| (0..16u8).map(move |p| if p == 2 * c || p == 2 * c + 1 { 255 } else { 0 }))
        .collect();
    std::fs::write(dir.join("train-images-idx3-ubyte"), idx(&[n, 4, 4], pixels)).unwrap();
    std::fs::write(dir.join("train-labels-idx1-ubyte"), idx(&[n], labels)).unwrap();
    let o = physlearn(
        &[
            "ep",
            "--data",
            "mnist:mnist",
            "--hidden",
            "6",
            "--epochs",
            "2",
            "--out",
            "m",
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    check_csv(&tmp.path().join("m/ep.csv"), 2);
}

#[test]
fn bad_input_exits_with_code_2_and_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("bad.csv"), "label,a\n1,2\n3,x\n").unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--data", "missing.csv"], "missing.csv"),
        (vec!["--data", "bad.csv"], "bad.csv:3"),
        (vec!["--data", "mnist:nowhere"], "train-images-idx3-ubyte"),
        (vec!["--epochs", "0"], "--epochs"),
        (vec!["--rule", "hebb"], "hebb"),
        (vec!["--rates", "0.1"], "rates"),
        (vec!["--overlay", "none.csv"], "none.csv"),
        (vec!["--theta-w", "-1,2"], "thresholds"),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["ep", "--out", "never"];
        args.extend(&extra);
        let o = physlearn(&args, tmp.path());
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains(needle), "{extra:?}: {err}");
        assert!(!err.contains("panicked"), "{extra:?}: {err}");
        assert!(!tmp.path().join("never").exists(), "{extra:?} left output");
    }
}
