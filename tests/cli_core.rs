//! The real binary on shipped and broken netlists: exit codes, messages with JSON paths, all
//! faults at once, atomic output directories.

mod common;

use common::{bin, small_flow, write_json};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

#[test]
fn run_writes_all_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let nl = write_json(tmp.path(), "n.json", &small_flow());
    let out = tmp.path().join("out");
    let st = bin()
        .args(["run"])
        .arg(&nl)
        .arg("--out")
        .arg(&out)
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
        assert!(out.join(f).exists(), "missing {f}");
    }
    let m: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(m["input_sha256"].as_str().unwrap().len(), 64);
    let s: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["cycles"].as_array().unwrap().len(), 2);
    assert!(s["cycles"][0]["rhs_evals"].as_u64().unwrap() > 0);
    let w = std::fs::read_to_string(out.join("weights.csv")).unwrap();
    assert_eq!(w.lines().count(), 4); // header + initial + 2 cycles
                                      // No staging leftovers.
    let names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains("partial")), "{names:?}");
}

#[test]
fn check_reports_every_fault_with_its_path() {
    let tmp = tempfile::tempdir().unwrap();
    let mut v = small_flow();
    v["elements"][1]["arm"] = json!({"C": -1.0, "g_s": 0.05, "capacitance": 3});
    v["elements"][0]["nodes"] = json!(["in", "nowhere"]);
    v["elements"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "r", "type": "resistor", "nodes": ["in", "gnd"], "w": 1.0}));
    v["elements"][1]["update"] = json!({"polarity": 2});
    v["protocol"]["direction"] = json!("sideways");
    let nl = write_json(tmp.path(), "bad.json", &v);
    let st = bin().arg("check").arg(&nl).output().unwrap();
    assert_eq!(st.status.code(), Some(2));
    let err = String::from_utf8_lossy(&st.stderr);
    for needle in [
        "elements[1].arm.C: must be > 0, got -1",
        "elements[1].arm.capacitance: unknown field",
        "elements[0].nodes[1]: unknown node id \"nowhere\"",
        "elements[2].id: duplicate element id \"r\"",
        "elements[1].update.polarity: must be +1 or -1, got 2",
        "protocol.direction: unknown value \"sideways\"",
    ] {
        assert!(err.contains(needle), "missing `{needle}` in:\n{err}");
    }
    assert!(!err.contains("panicked"));
}

#[test]
fn floating_subnetwork_and_missing_source_are_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let mut v = small_flow();
    v["nodes"].as_array_mut().unwrap().extend([
        json!({"id": "x"}),
        json!({"id": "y"}),
        json!({"id": "lonely"}),
    ]);
    v["elements"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "f", "type": "resistor", "nodes": ["x", "y"], "w": 1.0}));
    let nl = write_json(tmp.path(), "float.json", &v);
    let st = bin().arg("check").arg(&nl).output().unwrap();
    assert_eq!(st.status.code(), Some(2));
    let err = String::from_utf8_lossy(&st.stderr);
    assert!(
        err.contains("floating sub-network without any source (nodes x, y)"),
        "{err}"
    );
    assert!(err.contains("node \"lonely\" is floating"), "{err}");
}

#[test]
fn series_element_in_static_task_is_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let mut v = small_flow();
    v["elements"][1]["topology"] = json!("series");
    let nl = write_json(tmp.path(), "series.json", &v);
    let st = bin().arg("check").arg(&nl).output().unwrap();
    assert_eq!(st.status.code(), Some(2));
    let err = String::from_utf8_lossy(&st.stderr);
    assert!(
        err.contains("elements[1]") && err.contains("no_dc_path"),
        "{err}"
    );
}

#[test]
fn elastic_rigid_body_mode_is_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    // A triangle pinned at a single node can still rotate: a mechanism.
    let v = json!({
        "schema": "physlearn-netlist/1", "physics": "elastic2d",
        "nodes": [{"id": "a", "pos": [0, 0]}, {"id": "b", "pos": [1, 0]}, {"id": "c", "pos": [0.5, 0.8]}],
        "elements": [{"id": "ab", "type": "spring", "nodes": ["a", "b"]}, {"id": "bc", "type": "spring", "nodes": ["b", "c"]},
                     {"id": "ca", "type": "spring", "nodes": ["c", "a"]}],
        "boundary": {"sources": [{"node": "a", "value": [0, 0]}], "outputs": [{"id": "o", "kind": "pair_extension", "nodes": ["b", "c"]}]},
        "protocol": {"kind": "hold", "duration": 1.0}
    });
    let nl = write_json(tmp.path(), "rigid.json", &v);
    let st = bin().arg("check").arg(&nl).output().unwrap();
    assert_eq!(st.status.code(), Some(2));
    let err = String::from_utf8_lossy(&st.stderr);
    assert!(
        err.contains("not positive definite") && err.contains("rigid-body"),
        "{err}"
    );
}

#[test]
fn numerical_failure_exits_3_and_leaves_no_output() {
    let tmp = tempfile::tempdir().unwrap();
    let mut v = small_flow();
    v["solver"] = json!({"max_steps": 3, "h_init": 0.001, "h_max": 0.001});
    let nl = write_json(tmp.path(), "n.json", &v);
    let out = tmp.path().join("out");
    let st = bin()
        .arg("run")
        .arg(&nl)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(3));
    let err = String::from_utf8_lossy(&st.stderr);
    assert!(err.contains("step limit") && err.contains("t = "), "{err}");
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        1,
        "only the netlist remains"
    );
}

#[test]
fn syntax_error_and_missing_file() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("broken.json");
    std::fs::write(
        &p,
        "{\"schema\": \"physlearn-netlist/1\",\n  \"physics\": flow}",
    )
    .unwrap();
    let st = bin().arg("check").arg(&p).output().unwrap();
    assert_eq!(st.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&st.stderr).contains("line 2"));
    let st = bin()
        .arg("check")
        .arg(tmp.path().join("nope.json"))
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(2));
}

#[test]
fn shipped_netlists_check_clean() {
    for f in std::fs::read_dir("netlists").unwrap() {
        let p = f.unwrap().path();
        if p.extension().is_some_and(|e| e == "json") {
            let st = bin().arg("check").arg(&p).output().unwrap();
            assert!(
                st.status.success(),
                "{}: {}",
                p.display(),
                String::from_utf8_lossy(&st.stderr)
            );
        }
    }
}

#[test]
fn shipped_netlists_are_reproduced_by_the_generator() {
    for name in physlearn::generate::NAMES {
        let st = bin().args(["generate", name]).output().unwrap();
        assert!(st.status.success());
        let generated: Value = serde_json::from_slice(&st.stdout).unwrap();
        let shipped: Value = serde_json::from_str(
            &std::fs::read_to_string(format!("netlists/{name}.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            generated, shipped,
            "netlists/{name}.json differs from `physlearn generate {name}`"
        );
    }
}

#[test]
fn schema_is_json_and_docs_tables_are_current() {
    let st = bin().arg("schema").output().unwrap();
    assert!(st.status.success());
    let v: Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(v["title"], "physlearn netlist");
    let tables = physlearn::netlist::params::markdown_tables();
    let doc = std::fs::read_to_string("docs/netlist.md").unwrap();
    assert!(
        doc.contains(&tables),
        "docs/netlist.md is out of date: regenerate the tables with `physlearn schema --markdown`"
    );
}

/// `train --resume` continues bit for bit: an interrupted run (stopped after 3 of 6 cycles,
/// checkpoint every 2) resumed to the end gives exactly the uninterrupted results.
#[test]
fn train_resume_is_bit_for_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let nl = Path::new("netlists/t1_flow_allostery.json");
    let full = tmp.path().join("full");
    let part = tmp.path().join("part");
    let st = bin()
        .arg("train")
        .arg(nl)
        .arg("--out")
        .arg(&full)
        .args(["--cycles", "6"])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let st = bin()
        .arg("train")
        .arg(nl)
        .arg("--out")
        .arg(&part)
        .args([
            "--cycles",
            "6",
            "--checkpoint-every",
            "2",
            "--stop-after",
            "3",
        ])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    assert!(part.join("checkpoint.json").exists());
    assert!(!part.join("train.csv").exists());
    let st = bin()
        .arg("train")
        .arg("--resume")
        .arg(&part)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let strip_wall = |p: &Path| -> Vec<String> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| {
                let mut f: Vec<&str> = l.split(',').collect();
                f.pop(); // wall_seconds
                f.join(",")
            })
            .collect()
    };
    assert_eq!(
        strip_wall(&full.join("train.csv")),
        strip_wall(&part.join("train.csv"))
    );
    assert_eq!(
        std::fs::read_to_string(full.join("weights_final.csv")).unwrap(),
        std::fs::read_to_string(part.join("weights_final.csv")).unwrap()
    );
    for f in [
        "cost.png",
        "cosine.png",
        "scatter.png",
        "network.png",
        "summary.json",
        "manifest.json",
    ] {
        assert!(part.join(f).exists(), "missing {f}");
    }
    // A changed netlist is refused.
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(nl).unwrap()).unwrap();
    v["protocol"]["tau_slow"] = json!(301.0);
    let other = write_json(tmp.path(), "other.json", &v);
    let st = bin()
        .arg("train")
        .arg(&other)
        .arg("--resume")
        .arg(&part)
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(2));
}

/// Both families write the common `train.csv` prefix.
#[test]
fn train_csv_has_the_common_prefix_in_both_families() {
    let tmp = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let prefix = "cycle,example,beta,cost_phys,cost_cl,cost_gd,cos_cl,cos_grad,slope,offset,wrong_sign_fraction,window_fraction,max_contrast_over_lower_edge,loop_gain,rhs_evals,accepted_steps,rejected_steps,work_source,work_nudge,work_learning,diss_channel,diss_resistor,diss_arm,diss_leak,diss_dashpot,diss_nudge,diss_total,stored_change,energy_residual,entropy_production,wall_seconds";
    for name in ["t1_flow_allostery", "m1_molecular"] {
        let out = tmp.path().join(name);
        let st = bin()
            .arg("train")
            .arg(root.join(format!("netlists/{name}.json")))
            .args(["--cycles", "2", "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "{}",
            String::from_utf8_lossy(&st.stderr)
        );
        let csv = std::fs::read_to_string(out.join("train.csv")).unwrap();
        assert!(
            csv.starts_with(prefix),
            "{name}: {}",
            csv.lines().next().unwrap()
        );
        assert_eq!(csv.lines().count(), 3);
        let ck = out.join("checkpoint.json");
        assert!(
            !ck.exists()
                || std::fs::read_to_string(&ck)
                    .unwrap()
                    .contains("physlearn-checkpoint/3")
        );
    }
}

/// A panic anywhere is one line naming an internal error, exit 70.
#[test]
fn a_panic_is_an_internal_error_with_exit_70() {
    let o = bin()
        .env("PHYSLEARN_TEST_PANIC", "1")
        .arg("schema")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(70));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.starts_with("internal error"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

fn train_cmd(args: &[&std::ffi::OsStr]) -> std::process::Output {
    let st = bin().arg("train").args(args).output().unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    st
}

fn strip_last_column(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| {
            let mut f: Vec<&str> = l.split(',').collect();
            let wall = f.iter().position(|c| *c == "wall_seconds");
            f.remove(wall.unwrap_or(f.len() - 1).min(f.len() - 1));
            f.join(",")
        })
        .collect()
}

/// The checkpoint no longer rewrites every row: rows go to an append-only journal, the
/// checkpoint stays the same size, and a run killed between appending rows and writing the next
/// checkpoint (extra rows, a torn last line) resumes bit for bit.
#[test]
fn checkpoint_rows_journal_survives_a_kill_between_writes() {
    use std::ffi::OsStr;
    let tmp = tempfile::tempdir().unwrap();
    let nl = Path::new("netlists/t1_flow_allostery.json");
    let full = tmp.path().join("full");
    let part = tmp.path().join("part");
    let o = |s: &'static str| OsStr::new(s);
    train_cmd(&[
        nl.as_os_str(),
        o("--out"),
        full.as_os_str(),
        o("--cycles"),
        o("6"),
    ]);
    train_cmd(&[
        nl.as_os_str(),
        o("--out"),
        part.as_os_str(),
        o("--cycles"),
        o("6"),
        o("--checkpoint-every"),
        o("2"),
        o("--stop-after"),
        o("2"),
    ]);
    let ck = part.join("checkpoint.json");
    let journal = part.join("checkpoint.rows.jsonl");
    let ck2 = std::fs::read_to_string(&ck).unwrap();
    let v: Value = serde_json::from_str(&ck2).unwrap();
    assert!(v.get("rows").is_none(), "rows are not in the checkpoint");
    assert_eq!(v["next_cycle"], 2);
    assert_eq!(
        std::fs::read_to_string(&journal).unwrap().lines().count(),
        2
    );
    train_cmd(&[o("--resume"), part.as_os_str(), o("--stop-after"), o("2")]);
    let ck4 = std::fs::read_to_string(&ck).unwrap();
    assert_eq!(
        std::fs::read_to_string(&journal).unwrap().lines().count(),
        4
    );
    let (a, b) = (ck2.len() as f64, ck4.len() as f64);
    assert!((a - b).abs() < 0.05 * a, "checkpoint size {a} → {b}");
    // The kill: cycles 3–4 and half a row are on disk, the checkpoint is still at cycle 2.
    std::fs::write(&ck, &ck2).unwrap();
    let mut j = std::fs::read_to_string(&journal).unwrap();
    j.push_str("{\"cycle\": 4, \"exam");
    std::fs::write(&journal, j).unwrap();
    train_cmd(&[
        o("--resume"),
        part.as_os_str(),
        o("--checkpoint-every"),
        o("2"),
    ]);
    let read = |d: &Path| std::fs::read_to_string(d.join("train.csv")).unwrap();
    assert_eq!(
        strip_last_column(&read(&full)),
        strip_last_column(&read(&part))
    );
    assert_eq!(
        std::fs::read_to_string(&journal).unwrap().lines().count(),
        6
    );
    // A journal that lost rows the checkpoint needs is refused with a message.
    std::fs::write(&ck, &ck4).unwrap();
    let lines: Vec<String> = std::fs::read_to_string(&journal)
        .unwrap()
        .lines()
        .take(3)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&journal, lines.concat()).unwrap();
    let st = bin()
        .arg("train")
        .arg("--resume")
        .arg(&part)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&st.stderr);
    assert_eq!(st.status.code(), Some(2), "{err}");
    assert!(
        err.contains("checkpoint.rows.jsonl") && err.contains("needs 4"),
        "{err}"
    );
}

/// A netlist path that is not UTF-8 is kept exactly, so `--resume DIR` finds the file.
#[cfg(unix)]
#[test]
fn resume_finds_a_non_utf8_netlist_path() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let nl = tmp.path().join(OsStr::from_bytes(b"t1_\xff.json"));
    std::fs::copy("netlists/t1_flow_allostery.json", &nl).unwrap();
    let part = tmp.path().join("part");
    let o = OsStr::new;
    train_cmd(&[
        nl.as_os_str(),
        o("--out"),
        part.as_os_str(),
        o("--cycles"),
        o("2"),
        o("--checkpoint-every"),
        o("1"),
        o("--stop-after"),
        o("1"),
    ]);
    train_cmd(&[o("--resume"), part.as_os_str()]);
    assert!(part.join("train.csv").exists());
}

/// Ctrl-C during `train` finishes the cycle, writes a checkpoint and exits 130 with the resume
/// command; the run then resumes from it.
#[cfg(unix)]
#[test]
fn sigint_during_train_leaves_a_checkpoint_to_resume() {
    use std::time::{Duration, Instant};
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let child = bin()
        .arg("train")
        .arg("netlists/t1_flow_allostery.json")
        .arg("--out")
        .arg(&out)
        .args(["--cycles", "100000", "--checkpoint-every", "1"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let ck = out.join("checkpoint.json");
    let t0 = Instant::now();
    while !ck.exists() {
        assert!(t0.elapsed() < Duration::from_secs(60), "no checkpoint");
        std::thread::sleep(Duration::from_millis(20));
    }
    let st = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let res = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(130), "{err}");
    assert!(err.contains("--resume"), "{err}");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&ck).unwrap()).unwrap();
    let next = v["next_cycle"].as_u64().unwrap();
    assert!(next >= 1);
    let rows = std::fs::read_to_string(out.join("checkpoint.rows.jsonl")).unwrap();
    assert_eq!(rows.lines().count() as u64, next);
    let st = bin()
        .arg("train")
        .arg("--resume")
        .arg(&out)
        .args(["--stop-after", "1"])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&ck).unwrap()).unwrap();
    assert_eq!(v["next_cycle"].as_u64().unwrap(), next + 1);
}

/// Every file of a training directory is either absent or complete (no truncated CSV, JSON or
/// image under its final name), and `summary.json` is present only when everything is.
fn assert_complete_or_absent(dir: &Path) {
    let finals = [
        "train.csv",
        "weights_final.csv",
        "manifest.json",
        "cost.png",
        "cosine.png",
        "scatter.png",
        "network.png",
    ];
    for f in finals
        .iter()
        .chain(["summary.json", "checkpoint.json"].iter())
    {
        let p = dir.join(f);
        if !p.exists() {
            continue;
        }
        let bytes = std::fs::read(&p).unwrap();
        if f.ends_with(".png") {
            assert!(
                bytes.starts_with(b"\x89PNG") && bytes.ends_with(b"IEND\xaeB`\x82"),
                "{f} truncated"
            );
        } else if f.ends_with(".json") {
            serde_json::from_slice::<Value>(&bytes).unwrap_or_else(|e| panic!("{f}: {e}"));
        } else {
            let text = String::from_utf8(bytes).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            let cols = lines[0].split(',').count();
            assert!(
                lines.iter().all(|l| l.split(',').count() == cols),
                "{f} torn"
            );
        }
    }
    if dir.join("summary.json").exists() {
        for f in finals {
            assert!(dir.join(f).exists(), "summary.json without {f}");
        }
    }
}

/// `kill -9` at 20 seeded random moments of a `train` run: the directory is never left with a
/// half-written file, and resuming from whatever checkpoint survived (or starting again when none
/// did) ends bit for bit equal to an uninterrupted run.
#[cfg(unix)]
#[test]
fn sigkill_at_random_moments_then_resume_is_bit_for_bit() {
    use rand::{Rng, SeedableRng};
    use std::time::{Duration, Instant};
    let tmp = tempfile::tempdir().unwrap();
    let nl = Path::new("netlists/t2_flow_regression.json");
    let full = tmp.path().join("full");
    let args = |out: &Path| -> Vec<std::ffi::OsString> {
        vec![
            nl.into(),
            "--out".into(),
            out.into(),
            "--cycles".into(),
            "8".into(),
            "--checkpoint-every".into(),
            "1".into(),
        ]
    };
    let t0 = Instant::now();
    let st = bin().arg("train").args(args(&full)).output().unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let span = t0.elapsed().as_secs_f64() * 1.2;
    let read = |d: &Path, f: &str| std::fs::read_to_string(d.join(f)).unwrap();
    let want = strip_last_column(&read(&full, "train.csv"));
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(12);
    let mut resumed = 0;
    for trial in 0..20 {
        let out = tmp.path().join(format!("k{trial}"));
        let mut child = bin()
            .arg("train")
            .args(args(&out))
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_secs_f64(rng.random_range(0.0..span)));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        if out.exists() {
            assert_complete_or_absent(&out);
        }
        let st = if out.join("checkpoint.json").exists() {
            resumed += 1;
            bin()
                .arg("train")
                .arg("--resume")
                .arg(&out)
                .output()
                .unwrap()
        } else {
            bin()
                .arg("train")
                .args(args(&out))
                .arg("--force")
                .output()
                .unwrap()
        };
        assert!(
            st.status.success(),
            "trial {trial}: {}",
            String::from_utf8_lossy(&st.stderr)
        );
        assert_complete_or_absent(&out);
        assert_eq!(
            strip_last_column(&read(&out, "train.csv")),
            want,
            "trial {trial}"
        );
        assert_eq!(
            read(&out, "weights_final.csv"),
            read(&full, "weights_final.csv")
        );
    }
    assert!(resumed >= 5, "only {resumed} of 20 kills left a checkpoint");
}

/// A dangling elastic node (one spring) carries the zero mode: the message names it, not the
/// DOF where the factorisation happened to stop.
#[test]
fn singular_elastic_network_names_the_dangling_node() {
    let tmp = tempfile::tempdir().unwrap();
    let mut v = common::shipped("t3_elastic_allostery");
    let n0 = v["nodes"][0].clone();
    let (x, y) = (
        n0["pos"][0].as_f64().unwrap(),
        n0["pos"][1].as_f64().unwrap(),
    );
    v["nodes"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "dangle", "pos": [x - 1.0, y - 0.3]}));
    let mut e = v["elements"][0].clone();
    e["id"] = json!("edangle");
    e["nodes"] = json!([n0["id"], "dangle"]);
    v["elements"].as_array_mut().unwrap().push(e);
    let nl = write_json(tmp.path(), "dangle.json", &v);
    let st = bin().arg("check").arg(&nl).output().unwrap();
    let err = String::from_utf8_lossy(&st.stderr);
    assert_eq!(st.status.code(), Some(2), "{err}");
    assert!(
        err.contains("node 'dangle'") && err.contains("one line"),
        "{err}"
    );
}

/// `--checkpoint-every` is kept in the checkpoint: a resume without it goes on writing
/// checkpoints at the same interval (the last one at the final cycle), and a new value replaces it.
#[test]
fn resume_keeps_the_checkpoint_interval() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let ck = |d: &Path| -> Value {
        serde_json::from_str(&std::fs::read_to_string(d.join("checkpoint.json")).unwrap()).unwrap()
    };
    let ok = |st: std::process::Output| {
        assert!(
            st.status.success(),
            "{}",
            String::from_utf8_lossy(&st.stderr)
        );
    };
    ok(bin()
        .args(["train", "netlists/t1_flow_allostery.json", "--out"])
        .arg(&dir)
        .args([
            "--cycles",
            "6",
            "--checkpoint-every",
            "2",
            "--stop-after",
            "1",
        ])
        .output()
        .unwrap());
    let c = ck(&dir);
    assert_eq!(
        (c["next_cycle"].as_u64(), c["checkpoint_every"].as_u64()),
        (Some(1), Some(2))
    );
    // Resume without the flag, to the end: the interval is 2, so cycle 6 writes one.
    ok(bin()
        .args(["train", "--resume"])
        .arg(&dir)
        .output()
        .unwrap());
    let c = ck(&dir);
    assert_eq!(
        (c["next_cycle"].as_u64(), c["checkpoint_every"].as_u64()),
        (Some(6), Some(2))
    );
    // A run started without an interval has none: its checkpoint stays where it stopped.
    let dir2 = tmp.path().join("run2");
    ok(bin()
        .args(["train", "netlists/t1_flow_allostery.json", "--out"])
        .arg(&dir2)
        .args(["--cycles", "6", "--stop-after", "1"])
        .output()
        .unwrap());
    ok(bin()
        .args(["train", "--resume"])
        .arg(&dir2)
        .output()
        .unwrap());
    let c = ck(&dir2);
    assert_eq!(c["next_cycle"].as_u64(), Some(1));
    assert!(c.get("checkpoint_every").is_none());
}
