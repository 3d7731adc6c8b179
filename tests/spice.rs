//! SPICE export (`physlearn export spice`): the deck is run by ngspice and its final weights are
//! compared with physlearn's on the same problem. Without ngspice these tests print a notice and
//! pass, unless `PHYSLEARN_REQUIRE_NGSPICE=1` (set by `.ci/run` once it has installed ngspice).

mod common;

use common::bin;
use physlearn::io::spice::{self, SpiceOptions};
use physlearn::physics::run::Sampling;
use physlearn::sim::{self, Prepared, RunOptions};
use serde_json::Value;
use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// A line on the real stderr (not captured by the test harness), so skips are seen.
fn notice(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// Whether ngspice runs; otherwise a loud notice (or a failure when CI requires it).
fn have_ngspice(test: &str) -> bool {
    let ok = Command::new("ngspice")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var_os("PHYSLEARN_REQUIRE_NGSPICE").is_none(),
            "{test}: ngspice is required (PHYSLEARN_REQUIRE_NGSPICE is set) but not installed"
        );
        notice(&format!(
            "\n*** NOTICE: {test} SKIPPED: ngspice is not installed (apt-get install -y ngspice) ***\n"
        ));
    }
    ok
}

fn prepare(v: &Value) -> Prepared {
    sim::prepare(&physlearn::netlist::from_value(v).unwrap()).unwrap()
}

/// physlearn's final weights and wall time.
fn physlearn_final(prep: &Prepared) -> (Vec<f64>, f64) {
    let t0 = Instant::now();
    let out = sim::run(
        prep,
        RunOptions {
            cycles: None,
            sampling: Sampling { per_segment: 0 },
            sample_cycles: 0,
        },
        |_, _, _| {},
    )
    .unwrap();
    (out.final_params.w, t0.elapsed().as_secs_f64())
}

/// The same netlist integrated at rtol 1e-10 (the reference both tools are measured against).
fn tight(v: &Value) -> Value {
    let mut v = v.clone();
    v["solver"]["rtol"] = 1e-10.into();
    v["solver"]["atol"] = 1e-13.into();
    v
}

/// Generate lattice-n with the binary, export it with the binary, run ngspice; returns the
/// netlist, the library's deck (checked identical to the file) and ngspice's final weights.
fn ngspice_lattice(
    dir: &Path,
    n: usize,
    v_left: f64,
    max_step: f64,
) -> (Value, spice::Deck, Vec<f64>, f64) {
    let net = dir.join("lattice.json");
    let deck_path = dir.join("lattice.cir");
    let st = bin()
        .args(["generate", "lattice", "--n", &n.to_string(), "--v-left"])
        .arg(v_left.to_string())
        .arg("--out")
        .arg(&net)
        .status()
        .unwrap();
    assert!(st.success());
    let st = bin()
        .args(["export", "spice"])
        .arg(&net)
        .arg("--out")
        .arg(&deck_path)
        .args(["--max-step", &max_step.to_string()])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&net).unwrap()).unwrap();
    let opts = SpiceOptions {
        max_step: Some(max_step),
        ..SpiceOptions::default()
    };
    let deck = spice::deck(&prepare(&v), &opts).unwrap();
    assert_eq!(std::fs::read_to_string(&deck_path).unwrap(), deck.text);
    let (w, secs) = run_ngspice(&deck_path, &deck);
    (v, deck, w, secs)
}

/// Run `ngspice -b` on a written deck; final weights and wall time.
fn run_ngspice(path: &Path, deck: &spice::Deck) -> (Vec<f64>, f64) {
    let t0 = Instant::now();
    let out = Command::new("ngspice")
        .arg("-b")
        .arg(path)
        .output()
        .unwrap();
    let secs = t0.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let w = deck.final_weights(&stdout).unwrap_or_else(|e| {
        panic!(
            "{}: {e}\nngspice stderr:\n{}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (w, secs)
}

fn max_rel(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / y.abs())
        .fold(0.0, f64::max)
}

fn max_abs_change(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// lattice-4 with V_left = 30: every weight is learning (|Δg| up to ~0.2), none reaches g_min.
#[test]
fn ngspice_final_weights_match_physlearn_on_lattice_4() {
    if !have_ngspice("ngspice_final_weights_match_physlearn_on_lattice_4") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (v, deck, w_ng, ng_secs) = ngspice_lattice(tmp.path(), 4, 30.0, 0.02);
    let (w_pl, pl_secs) = physlearn_final(&prepare(&v));
    let (w_ref, _) = physlearn_final(&prepare(&tight(&v)));
    let w0 = &deck.w0;
    let dg = max_abs_change(&w_ref, w0);
    assert!(dg > 0.1, "the test network must learn (max |Δg| = {dg})");
    let g_min = 1e-3;
    assert!(
        w_ref.iter().all(|&g| g > 10.0 * g_min),
        "no clamp expected here"
    );
    let rel_pl = max_rel(&w_ng, &w_pl);
    let rel_ref = max_rel(&w_ng, &w_ref);
    notice(&format!(
        "lattice-4, V_left = 30: max |Δg| {dg:.3e}; ngspice vs physlearn (rtol 1e-6) max rel {rel_pl:.2e}, \
         vs physlearn (rtol 1e-10) {rel_ref:.2e}, physlearn rtol 1e-6 vs 1e-10 {:.2e}; \
         ngspice {ng_secs:.2} s, physlearn {pl_secs:.4} s",
        max_rel(&w_pl, &w_ref)
    ));
    assert!(rel_pl < 1e-4, "ngspice vs physlearn: {rel_pl:e}");
    assert!(rel_ref < 1e-4, "ngspice vs physlearn (tight): {rel_ref:e}");
}

/// lattice-4 with V_left = 300: some conductances are driven to g_min, where the hard window
/// stops them. Both integrators overshoot w_min by a step's worth (the window acts once
/// w ≤ w_min), so clamped edges are compared with g_min to 1e-3 relative and the others to 1e-4.
#[test]
fn ngspice_models_the_g_min_clamp() {
    if !have_ngspice("ngspice_models_the_g_min_clamp") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (v, _, w_ng, ng_secs) = ngspice_lattice(tmp.path(), 4, 300.0, 0.02);
    let (w_ref, _) = physlearn_final(&prepare(&tight(&v)));
    let g_min = 1e-3;
    let clamped: Vec<usize> = (0..w_ref.len())
        .filter(|&e| w_ref[e] < 1.001 * g_min)
        .collect();
    assert!(!clamped.is_empty(), "the clamp must engage in this test");
    let mut worst_free: f64 = 0.0;
    for e in 0..w_ref.len() {
        if clamped.contains(&e) {
            let r = (w_ng[e] - g_min).abs() / g_min;
            assert!(r < 1e-3, "edge {e}: ngspice {} vs g_min", w_ng[e]);
        } else {
            worst_free = worst_free.max((w_ng[e] - w_ref[e]).abs() / w_ref[e]);
        }
    }
    notice(&format!(
        "lattice-4, V_left = 300: {} edge(s) clamped at g_min (ngspice {:?}); others max rel {worst_free:.2e}; ngspice {ng_secs:.2} s",
        clamped.len(),
        clamped.iter().map(|&e| w_ng[e]).collect::<Vec<_>>()
    ));
    assert!(worst_free < 1e-4, "unclamped edges: {worst_free:e}");
}

#[test]
fn export_rejects_unsupported_networks_with_paths_and_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let net = tmp.path().join("t3.json");
    let st = bin()
        .args(["generate", "t3_elastic_allostery", "--out"])
        .arg(&net)
        .status()
        .unwrap();
    assert!(st.success());
    let out_path = tmp.path().join("t3.cir");
    let out = bin()
        .args(["export", "spice"])
        .arg(&net)
        .arg("--out")
        .arg(&out_path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("physics: \"elastic2d\" cannot be exported to SPICE"),
        "{err}"
    );
    assert!(
        err.contains("elements[0]: kind \"sls\" cannot be exported to SPICE"),
        "{err}"
    );
    assert!(
        err.contains("elements[5]: kind \"sls\""),
        "all faults at once: {err}"
    );
    assert!(!out_path.exists(), "no deck on failure");
}

#[test]
fn export_writes_the_deck_to_stdout_without_out() {
    let tmp = tempfile::tempdir().unwrap();
    let net = tmp.path().join("l.json");
    let st = bin()
        .args(["generate", "lattice", "--n", "3", "--out"])
        .arg(&net)
        .status()
        .unwrap();
    assert!(st.success());
    let out = bin()
        .args(["export", "spice", "--cycles", "2"])
        .arg(&net)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("physlearn "));
    assert!(text.contains(".tran "));
    assert!(text.contains(" 2e1 0 "), "2 cycles of 10 time units");
    assert!(text.trim_end().ends_with(".end"));
}

/// The other rules and arms on lattice-3 (V_left = 20, 3 periods): Hill threshold with the soft
/// window on the leaky series element, and a shunted element with a non-loading (probe) arm,
/// the abs signal and the hard threshold. The hard threshold's discontinuous rate needs ngspice's
/// reltol 1e-8 and a 0.005 step to reach 1e-4 (at the defaults: 1.4e-4).
#[test]
fn ngspice_matches_physlearn_on_other_rules_and_arms() {
    if !have_ngspice("ngspice_matches_physlearn_on_other_rules_and_arms") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut base = physlearn::generate::lattice(3, 20.0, None).unwrap();
    base["protocol"]["cycles"] = 3.into();
    let mut hill = base.clone();
    for el in hill["elements"].as_array_mut().unwrap() {
        el["update"]["nonlinearity"] = serde_json::json!({"kind": "hill", "n": 2});
        el["bound"] = "soft".into();
        el["w_max"] = 1.6.into();
    }
    let mut probe = base.clone();
    probe["protocol"].as_object_mut().unwrap().remove("initial");
    for el in probe["elements"].as_array_mut().unwrap() {
        el["topology"] = "shunted".into();
        el["arm"] = serde_json::json!({"C": 1.0, "g_s": 0.05, "loading": false});
        el["signal"] = "abs".into();
        el["update"]["nonlinearity"] = serde_json::json!({"kind": "hard"});
    }
    let tight_opts = SpiceOptions {
        max_step: Some(0.005),
        reltol: 1e-8,
        ..SpiceOptions::default()
    };
    let default_opts = SpiceOptions {
        max_step: Some(0.02),
        ..SpiceOptions::default()
    };
    for (name, v, opts, marker) in [
        ("hill_soft", hill, default_opts, "pl_wsoft("),
        ("shunted_probe_abs_hard", probe, tight_opts, "Bz0 0 z0 I = "),
    ] {
        let prep = prepare(&v);
        let deck = spice::deck(&prep, &opts).unwrap();
        assert!(deck.text.contains(marker), "{name}");
        let path = tmp.path().join(format!("{name}.cir"));
        std::fs::write(&path, &deck.text).unwrap();
        let (w_ng, secs) = run_ngspice(&path, &deck);
        let (w_ref, _) = physlearn_final(&prepare(&tight(&v)));
        let dg = max_abs_change(&w_ref, &deck.w0);
        assert!(dg > 0.05, "{name}: must learn (max |Δg| = {dg})");
        let rel = max_rel(&w_ng, &w_ref);
        notice(&format!(
            "{name}: max |Δg| {dg:.3e}; ngspice vs physlearn (rtol 1e-10) max rel {rel:.2e}; ngspice {secs:.2} s"
        ));
        assert!(rel < 1e-4, "{name}: {rel:e}");
    }
}
