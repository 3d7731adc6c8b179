//! `physlearn sweep` and `sweep-merge` on T1 (compare mode, a few training cycles): results do
//! not depend on --jobs, on sharding or on the order shards are merged; a point with a bad
//! value is reported and the others complete; resume runs only the missing points; keys that
//! address nothing are refused before any point runs.

mod common;

use common::{bin, stderr};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

const T1: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/netlists/t1_flow_allostery.json"
);

fn sweep(args: &[&str], out: &Path) -> Output {
    bin()
        .arg("sweep")
        .arg(T1)
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

/// results.csv without its timing columns (names ending in `wall_seconds`).
fn table(dir: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    let keep: Vec<usize> = (0..header.len())
        .filter(|&i| !header[i].ends_with("wall_seconds"))
        .collect();
    let mut rows = vec![keep.iter().map(|&i| header[i].clone()).collect()];
    for rec in r.records() {
        let rec = rec.unwrap();
        rows.push(keep.iter().map(|&i| rec[i].to_string()).collect());
    }
    rows
}

fn col<'a>(t: &'a [Vec<String>], name: &str) -> Vec<&'a str> {
    let i = t[0]
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name}"));
    t[1..].iter().map(|r| r[i].as_str()).collect()
}

fn json(p: PathBuf) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

const GRID: [&str; 4] = [
    "--set",
    "protocol.beta_max=1,2",
    "--set",
    "elements[*].update.rho=0.5:2:3log",
];

#[test]
fn jobs_do_not_change_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("j1"), tmp.path().join("j2"));
    let o = sweep(&[&GRID[..], &["--jobs", "1"]].concat(), &a);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = sweep(&[&GRID[..], &["--jobs", "2"]].concat(), &b);
    assert!(o.status.success(), "{}", stderr(&o));
    let (ta, tb) = (table(&a), table(&b));
    assert_eq!(ta.len(), 7, "header + 6 points");
    assert_eq!(ta, tb);
    // The values of the grid, in grid order (first axis slowest), and real results.
    assert_eq!(
        col(&ta, "protocol.beta_max"),
        ["1", "1", "1", "2", "2", "2"]
    );
    assert_eq!(
        col(&ta, "elements[*].update.rho"),
        ["5.000000000e-1", "1.000000000e0", "2.000000000e0"].repeat(2)
    );
    assert!(col(&ta, "status").iter().all(|s| *s == "ok"));
    let cos: Vec<f64> = col(&ta, "one_cycle.cos_cl")
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert!(cos.iter().all(|c| *c > 0.9 && *c <= 1.0), "{cos:?}");
    // The loop gain grows with ρ at fixed β (G ∝ β ρ).
    let g: Vec<f64> = col(&ta, "one_cycle.loop_gain")
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert!(g[0] < g[1] && g[1] < g[2], "{g:?}");
    // Every point equals `physlearn compare` on the edited netlist (the common pipeline).
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(T1).unwrap()).unwrap();
    v["protocol"]["beta_max"] = Value::from(2);
    for e in v["elements"].as_array_mut().unwrap() {
        e["update"]["rho"] = Value::from(1.0);
    }
    let nl = tmp.path().join("edited.json");
    std::fs::write(&nl, serde_json::to_string(&v).unwrap()).unwrap();
    let o = bin()
        .arg("compare")
        .arg(&nl)
        .arg("--json")
        .output()
        .unwrap();
    let c: Value = serde_json::from_slice(&o.stdout).unwrap();
    let r = json(a.join("results.json"));
    let row = &r["rows"][4]["one_cycle"];
    for k in ["cos_cl", "slope", "loop_gain", "cost", "rhs_evals"] {
        assert_eq!(row[k], c[k], "{k}");
    }
    for f in [
        "heatmap.png",
        "sweep_protocol_beta_max.png",
        "sweep_elements_update_rho.png",
        "manifest.json",
        "sweep.json",
    ] {
        assert!(a.join(f).is_file(), "{f}");
    }
    let m = json(a.join("manifest.json"));
    assert_eq!(m["command"], "sweep");
    assert_eq!(
        m["parameters"]["fields_per_axis"],
        serde_json::json!([1, 106])
    );
}

#[test]
fn three_shards_merged_in_any_order_equal_the_whole_sweep() {
    let tmp = tempfile::tempdir().unwrap();
    let grid = [&GRID[..], &["--mode", "train", "--cycles", "3"]].concat();
    let whole = tmp.path().join("whole");
    let o = sweep(&grid, &whole);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut shards = Vec::new();
    for i in 0..3 {
        let d = tmp.path().join(format!("s{i}"));
        let o = if i == 1 {
            // Shard 1 from the Slurm array variables (IDs 5..7: MIN 5).
            bin()
                .arg("sweep")
                .arg(T1)
                .args(&grid)
                .arg("--out")
                .arg(&d)
                .env("SLURM_ARRAY_TASK_ID", "6")
                .env("SLURM_ARRAY_TASK_MIN", "5")
                .env("SLURM_ARRAY_TASK_COUNT", "3")
                .output()
                .unwrap()
        } else {
            sweep(&[&grid[..], &["--shard", &format!("{i}/3")]].concat(), &d)
        };
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(table(&d).len(), 3, "2 points per shard");
        shards.push(d);
    }
    // A partial set of shards is refused.
    let o = bin()
        .args(["sweep-merge", "--out"])
        .arg(tmp.path().join("partial"))
        .args([&shards[0], &shards[2]])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("2 of 6 points"), "{}", stderr(&o));
    assert!(!tmp.path().join("partial").exists());
    let merged = tmp.path().join("merged");
    let o = bin()
        .args(["sweep-merge", "--out"])
        .arg(&merged)
        .args([&shards[2], &shards[0], &shards[1]])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let t = table(&whole);
    assert_eq!(table(&merged), t);
    let red: Vec<f64> = col(&t, "train.cost_reduction.phys")
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert!(
        red.iter().all(|r| *r > 1.0),
        "training lowers the cost: {red:?}"
    );
    // A shard of a different sweep is refused.
    let other = tmp.path().join("other");
    let o = sweep(&["--set", "protocol.beta_max=3"], &other);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = bin()
        .args(["sweep-merge", "--out"])
        .arg(tmp.path().join("m2"))
        .args([&shards[0], &other])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("different sweep"), "{}", stderr(&o));
}

#[test]
fn a_bad_point_is_reported_and_the_others_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("s");
    let o = sweep(
        &["--set", "elements[*].update.rho=0.85,-1,2", "--jobs", "2"],
        &out,
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("1 of 3 points failed"),
        "{}",
        stderr(&o)
    );
    let t = table(&out);
    assert_eq!(col(&t, "status"), ["ok", "bad_input", "ok"]);
    let msg = col(&t, "message");
    assert!(
        msg[1].contains("elements[0..105].update.rho (106 entries)") && msg[1].contains("≥ 0"),
        "{}",
        msg[1]
    );
    assert!(msg[0].is_empty() && msg[2].is_empty());
    assert!(col(&t, "one_cycle.cos_cl")[1].is_empty());
    assert!(!col(&t, "one_cycle.cos_cl")[2].is_empty());
    // The point at the netlist's own ρ is `compare` of the file itself.
    let o = bin().args(["compare", T1, "--json"]).output().unwrap();
    let c: Value = serde_json::from_slice(&o.stdout).unwrap();
    let r = json(out.join("results.json"));
    assert_eq!(r["rows"][0]["one_cycle"]["cos_cl"], c["cos_cl"]);
    // A numerical failure is exit 3 when it is the worst: not provoked here; the classes are
    // the library's (Status::class).
}

#[test]
fn resume_runs_only_missing_points() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("s");
    let o = sweep(&GRID, &out);
    assert!(o.status.success(), "{}", stderr(&o));
    let before = table(&out);
    let r = json(out.join("results.json"));
    let ids: Vec<String> = r["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_string())
        .collect();
    // A killed sweep: one point's result and the tables are missing.
    std::fs::remove_file(out.join("points").join(format!("{}.json", ids[3]))).unwrap();
    std::fs::remove_file(out.join("results.csv")).unwrap();
    let kept = out.join("points").join(format!("{}.json", ids[0]));
    let mtime = std::fs::metadata(&kept).unwrap().modified().unwrap();
    let o = sweep(&GRID, &out);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("5 of 6 points already done"),
        "{}",
        stderr(&o)
    );
    let m = json(out.join("manifest.json"));
    assert_eq!(m["statistics"]["points_run"], 1);
    assert_eq!(m["statistics"]["points_resumed"], 5);
    assert_eq!(std::fs::metadata(&kept).unwrap().modified().unwrap(), mtime);
    assert_eq!(table(&out), before);
    // Nothing left to do: no point runs.
    let o = sweep(&GRID, &out);
    assert!(o.status.success());
    assert_eq!(
        json(out.join("manifest.json"))["statistics"]["points_run"],
        0
    );
    // Another grid into the same directory is refused, and nothing is touched.
    let o = sweep(&["--set", "protocol.beta_max=1,3"], &out);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("different sweep"), "{}", stderr(&o));
    assert_eq!(table(&out), before);
    // A directory that is not a sweep is refused and kept.
    let user = tmp.path().join("user");
    std::fs::create_dir(&user).unwrap();
    std::fs::write(user.join("notes.txt"), "mine").unwrap();
    let o = sweep(&GRID, &user);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("not a sweep directory"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read_dir(&user).unwrap().count(), 1);
}

#[test]
fn keys_that_address_nothing_are_refused_before_any_point_runs() {
    let tmp = tempfile::tempdir().unwrap();
    for (key, says) in [
        ("protocol.beta_mx=1", "no field \"beta_mx\""),
        ("elements[*].update.rh=1", "no field \"rh\""),
        ("elements[e999].w=1", "no entry with id \"e999\""),
        ("beta_max=1", "protocol.beta_max"),
        ("meta.note=x", "free-form"),
        ("meta.seeds.nope=1", "no seed \"nope\""),
        ("protocol.beta_max=0:1:1", "N must be"),
        ("protocol.beta_max=-1:1:3log", "LO > 0"),
    ] {
        let out = tmp.path().join("s");
        let o = sweep(&["--set", key], &out);
        assert_eq!(o.status.code(), Some(2), "{key}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{key}: {}", stderr(&o));
        assert!(!out.exists(), "{key}: nothing may be written");
    }
    let o = sweep(
        &[
            "--set",
            "protocol.beta_max=1",
            "--set",
            "protocol.beta_max=2",
        ],
        &tmp.path().join("s"),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("swept twice"));
    let o = sweep(
        &["--set", "protocol.beta_max=1", "--cycles", "3"],
        &tmp.path().join("s"),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--mode train"), "{}", stderr(&o));
    assert!(!tmp.path().join("s").exists());
}

#[test]
fn generator_seeds_regenerate_the_netlist() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("s");
    let o = sweep(&["--seeds", "102..103"], &out);
    assert!(o.status.success(), "{}", stderr(&o));
    let t = table(&out);
    assert_eq!(col(&t, "seed"), ["102", "103"]);
    let cos = col(&t, "one_cycle.cos_cl");
    // Seed 102 is the shipped file; seed 103 draws other initial weights.
    let o = bin().args(["compare", T1, "--json"]).output().unwrap();
    let c: Value = serde_json::from_slice(&o.stdout).unwrap();
    let r = json(out.join("results.json"));
    assert_eq!(r["rows"][0]["one_cycle"]["cos_cl"], c["cos_cl"]);
    assert_ne!(cos[0], cos[1]);
    // An edited generated file cannot be regenerated.
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(T1).unwrap()).unwrap();
    v["protocol"]["tau_slow"] = Value::from(200.0);
    let nl = tmp.path().join("edited.json");
    std::fs::write(&nl, serde_json::to_string(&v).unwrap()).unwrap();
    let o = bin()
        .arg("sweep")
        .arg(&nl)
        .args(["--seeds", "1..2", "--out"])
        .arg(tmp.path().join("e"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("differs from that output"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn chemical_templates_are_sweepable() {
    let tmp = tempfile::tempdir().unwrap();
    let template = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/netlists/templates/m1_molecular_template.json"
    );
    let out = tmp.path().join("chem");
    let o = bin()
        .arg("sweep")
        .arg(template)
        .args(["--set", "template.params.c_theta=1.5,2", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let t = table(&out);
    assert_eq!(col(&t, "status"), ["ok", "ok"]);
    let cos = col(&t, "one_cycle.cos_cl");
    assert_ne!(cos[0], cos[1]);
    // c_theta = 1.5 is the template's own value: the point is `compare` of the template.
    let o = bin()
        .args(["compare", template, "--json"])
        .output()
        .unwrap();
    let c: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        json(out.join("results.json"))["rows"][0]["one_cycle"]["cos_cl"],
        c["cos_cl"]
    );
    // The chemical generators take no seeds.
    let m1 = concat!(env!("CARGO_MANIFEST_DIR"), "/netlists/m1_molecular.json");
    let o = bin()
        .arg("sweep")
        .arg(m1)
        .args(["--seeds", "1..2", "--out"])
        .arg(tmp.path().join("s"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("takes no seeds"), "{}", stderr(&o));
}

#[test]
fn a_numerical_failure_is_status_numerical_and_exit_3() {
    let tmp = tempfile::tempdir().unwrap();
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(T1).unwrap()).unwrap();
    v["solver"]["max_steps"] = Value::from(1_000_000);
    let nl = tmp.path().join("t1.json");
    std::fs::write(&nl, serde_json::to_string(&v).unwrap()).unwrap();
    let out = tmp.path().join("s");
    let o = bin()
        .arg("sweep")
        .arg(&nl)
        .args(["--set", "solver.max_steps=3,1000000"])
        .args(["--set", "elements[*].update.rho=-1,0.85", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    // Both failure classes present: the exit is the larger (3, numerical).
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let t = table(&out);
    assert_eq!(
        col(&t, "status"),
        ["bad_input", "numerical", "bad_input", "ok"]
    );
    assert!(
        col(&t, "message")[1].contains("step limit"),
        "{:?}",
        col(&t, "message")
    );
}
