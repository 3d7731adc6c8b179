//! Acceptance of the molecular family (task M1 of docs/molecular.md §7): one-cycle agreement
//! with the ideal rule, the sign/adaptation/loop-gain checks, full vs reduced model, and
//! (ignored: long) the training runs and README's one-cycle figures, asserted against the values
//! README reports. Run the ignored ones with
//! `cargo test --release --test chem_acceptance -- --ignored --nocapture`.

mod common;

use common::{chem_model_of, m1_template, shipped_chem};
use physlearn::chem::checks::{check, ChemReport};
use physlearn::chem::sim::Runner;
use physlearn::chem::system::ChemSystem;
use physlearn::learning::{Session, SessionOptions};

/// The numbers these tests read from one cycle (through the common pipeline).
struct Rec {
    cos_cl: f64,
    cos_grad_i: f64,
    slope: f64,
    wrong_sign_fraction: f64,
    loop_gain: f64,
    rhs_evals: u64,
    jacobian_evals: u64,
    lu_decompositions: u64,
    wall_seconds: f64,
    conservation_drift: f64,
    ds_min_over_x0: f64,
    ds_max_over_x0: f64,
    dell: Vec<f64>,
    ell_start: Vec<f64>,
}

struct One {
    record: Rec,
}

/// One cycle of example 0 (forced: some tests run flagged designs on purpose).
fn one_cycle(m: &physlearn::chem::ChemModel) -> Result<One, physlearn::learning::SimError> {
    let sys = ChemSystem::new(m.clone())?;
    let o = physlearn::learning::one_cycle(&sys, true)?;
    Ok(One {
        record: Rec {
            cos_cl: o.cmp.cos_cl,
            cos_grad_i: o.extras.cos_grad_i,
            slope: o.cmp.slope,
            wrong_sign_fraction: o.cmp.wrong_sign_fraction,
            loop_gain: o.loop_gain.unwrap_or(f64::NAN),
            rhs_evals: o.stats.rhs_evals,
            jacobian_evals: o.extras.jacobian_evals,
            lu_decompositions: o.extras.lu_decompositions,
            wall_seconds: o.wall_seconds,
            conservation_drift: o.extras.conservation_drift,
            ds_min_over_x0: o.extras.ds_min_over_x0,
            ds_max_over_x0: o.extras.ds_max_over_x0,
            dell: o.delta,
            ell_start: m.ell0(),
        },
    })
}
use physlearn::chem::{reduced, ChemModel};
use physlearn::learning::cosine;
use serde_json::{json, Value};

fn errors(rep: &ChemReport, code: &str) -> Vec<String> {
    rep.diagnostics
        .iter()
        .filter(|d| d.code == code && d.level == physlearn::physics::diagnostics::Level::Error)
        .map(|d| d.message.clone())
        .collect()
}

#[test]
fn one_cycle_at_the_defaults_follows_the_ideal_rule() {
    let m = shipped_chem("m1_molecular");
    let rep = check(&m);
    assert!(!rep.has_errors(), "{:#?}", rep.diagnostics);
    let r = one_cycle(&m).unwrap();
    let c = &r.record;
    eprintln!(
        "defaults: cos_cl {:.4} cos_grad_i {:.4} slope {:.3} RHS {} Jac {} LU {} wall {:.3}s",
        c.cos_cl,
        c.cos_grad_i,
        c.slope,
        c.rhs_evals,
        c.jacobian_evals,
        c.lu_decompositions,
        c.wall_seconds
    );
    assert!(c.cos_cl >= 0.98, "cos vs CL {}", c.cos_cl);
    assert!(c.cos_grad_i >= 0.98, "cos vs −∇C_I {}", c.cos_grad_i);
    assert_eq!(c.wrong_sign_fraction, 0.0);
    // Soft-threshold shrinkage, loop gain and ramp shape: slope ≈ 0.65 (docs/molecular.md §8).
    assert!(c.slope > 0.4 && c.slope < 0.9, "slope {}", c.slope);
    // The runner already stops above DRIFT_LIMIT = 1e-8; the BDF keeps the laws to round-off
    // (measured 4.8e-15).
    assert!(
        c.conservation_drift < 1e-12,
        "drift {}",
        c.conservation_drift
    );
    // D* stays within [0.5, 1.5] x0 (u_fast = 0.5).
    assert!(c.ds_min_over_x0 > 0.4 && c.ds_max_over_x0 < 1.6);
}

#[test]
fn one_cycle_at_tau_ratio_100_is_sharper() {
    let m = shipped_chem("m1_molecular_tau100");
    assert_eq!(m.protocol.tau_slow / m.protocol.tau_fast, 100.0);
    let c = one_cycle(&m).unwrap().record;
    eprintln!(
        "tau_s/tau_f = 100: cos_cl {:.4} slope {:.3}",
        c.cos_cl, c.slope
    );
    assert!(c.cos_cl >= 0.995, "cos vs CL {}", c.cos_cl);
}

#[test]
fn full_network_and_reduced_model_agree_within_3_percent() {
    let m = shipped_chem("m1_molecular");
    let full = one_cycle(&m).unwrap().record;
    let red = reduced::one_cycle(&m).unwrap();
    let diff: f64 = full
        .dell
        .iter()
        .zip(&red.dell)
        .map(|(a, b)| (a - b) * (a - b))
        .sum::<f64>()
        .sqrt();
    let norm: f64 = full.dell.iter().map(|a| a * a).sum::<f64>().sqrt();
    eprintln!(
        "full vs reduced: rel {:.3e}, cos {:.6}, reduced RHS {}",
        diff / norm,
        cosine(&full.dell, &red.dell),
        red.rhs_evals
    );
    assert!(diff / norm < 0.03, "relative difference {}", diff / norm);
}

#[test]
fn hebbian_writer_with_fast_rise_is_rejected_by_the_sign_oracle() {
    let mut v = m1_template();
    v["protocol"]["direction"] = json!("fast_rise");
    let m = chem_model_of(&v);
    let rep = check(&m);
    let e = errors(&rep, "sign");
    assert_eq!(e.len(), 1, "{:#?}", rep.diagnostics);
    assert!(rep.sign_cos < -0.9, "{}", rep.sign_cos);
    // The default (fast_fall) passes, and so does the anti-Hebbian writer with fast_rise.
    assert!(errors(&check(&chem_model_of(&m1_template())), "sign").is_empty());
    v["template"]["params"]["polarity"] = json!(-1);
    assert!(errors(&check(&chem_model_of(&v)), "sign").is_empty());
}

/// The oracle is right: forced to run, Hebbian + fast_rise ascends (docs/molecular.md §3.4:
/// measured cos −0.995).
#[test]
fn hebbian_fast_rise_ascends_when_forced() {
    let mut v = m1_template();
    v["protocol"]["direction"] = json!("fast_rise");
    v["expect"]["sign_check"] = json!("none");
    let m = chem_model_of(&v);
    assert!(!check(&m).has_errors());
    let c = one_cycle(&m).unwrap().record;
    eprintln!("Hebbian + fast_rise: cos_cl {:.4}", c.cos_cl);
    assert!(c.cos_cl < -0.9, "cos {}", c.cos_cl);
}

#[test]
fn integrator_loss_1e_3_is_flagged_by_the_adaptation_check() {
    let mut v = m1_template();
    v["template"]["params"]["eps"] = json!(1e-3);
    let rep = check(&chem_model_of(&v));
    let e = errors(&rep, "adaptation");
    assert_eq!(e.len(), 1, "{:#?}", rep.diagnostics);
    assert!(e[0].contains("lossE_") || e[0].contains("lossZ_"), "{e:?}");
    // 1e-4 is below the limit θ_V μ/(V0 E_max) ≈ 5.5e-4.
    v["template"]["params"]["eps"] = json!(1e-4);
    let rep = check(&chem_model_of(&v));
    assert!(
        errors(&rep, "adaptation").is_empty(),
        "{:#?}",
        rep.diagnostics
    );
    assert!(rep.adaptation_limit > 4e-4 && rep.adaptation_limit < 7e-4);
}

#[test]
fn anti_hebbian_writer_at_high_loop_gain_is_flagged() {
    let mut v = m1_template();
    v["template"]["params"]["polarity"] = json!(-1);
    v["protocol"]["direction"] = json!("fast_rise");
    // ρ ∝ eps_w: the default (0.08) gives G ≈ 0.39; 0.16 gives G ≈ 0.78.
    v["template"]["params"]["eps_w"] = json!(0.16);
    let rep = check(&chem_model_of(&v));
    assert!(rep.loop_gain >= 0.77, "G = {}", rep.loop_gain);
    assert_eq!(errors(&rep, "loop_gain").len(), 1, "{:#?}", rep.diagnostics);
    // At G < 0.3 the anti-Hebbian writer is accepted.
    v["template"]["params"]["eps_w"] = json!(0.05);
    let rep = check(&chem_model_of(&v));
    assert!(rep.loop_gain < 0.3, "G = {}", rep.loop_gain);
    assert!(!rep.has_errors(), "{:#?}", rep.diagnostics);
    // The Hebbian writer with fast_fall at G ≈ 0.78 is stable: no loop-gain error.
    let mut h = m1_template();
    h["template"]["params"]["eps_w"] = json!(0.16);
    assert!(errors(&check(&chem_model_of(&h)), "loop_gain").is_empty());
}

fn train(m: &ChemModel, cycles: usize) -> (f64, f64, f64) {
    assert!(!check(m).has_errors());
    let sys = ChemSystem::new(m.clone()).unwrap();
    let opts = SessionOptions {
        cycles: Some(cycles),
        cl_rate: 0.6,
        ..SessionOptions::default()
    };
    let mut t = Session::new(&sys, &opts, "test", "").unwrap();
    t.run(|_, _, _| {}).unwrap();
    let s = t.summary();
    let wall: f64 = t.rows().iter().map(|r| r.wall_seconds).sum::<f64>() / cycles as f64;
    (s.cost_initial, s.cost_final.phys, s.cost_final.cl.unwrap()).tap(|x| {
        eprintln!(
            "cost {:.3e} → {:.3e} (×{:.1}); ideal CL at 0.6ρ {:.3e}; {:.3} s/cycle",
            x.0,
            x.1,
            x.0 / x.1,
            x.2,
            wall
        )
    })
}

trait Tap: Sized {
    fn tap(self, f: impl FnOnce(&Self)) -> Self {
        f(&self);
        self
    }
}
impl<T> Tap for T {}

/// A cost reduction C0/C within ±15 % of the figure README.md reports for the same run (the runs
/// are deterministic; the band leaves room for another CPU rounding differently over 150
/// cycles, and is far tighter than the ×15…×500 floors it replaces).
fn reduction_near_readme(what: &str, measured: f64, readme: f64) {
    eprintln!("{what}: cost ×{measured:.1} (README ×{readme})");
    assert!(
        (measured / readme - 1.0).abs() <= 0.15,
        "{what}: cost reduction ×{measured:.2} vs README ×{readme} (tolerance ±15 %)"
    );
}

/// README: `train netlists/m1_molecular.json` (150 cycles), cost 1.764e-2 → 1.325e-4 (×133).
#[test]
#[ignore = "long: 150 cycles of the full network"]
fn training_one_example_matches_the_readme_cost_reduction() {
    let (c0, c1, _) = train(&shipped_chem("m1_molecular"), 150);
    assert!((c0 / 1.764e-2 - 1.0).abs() < 1e-3, "C0 {c0}");
    reduction_near_readme("M1", c0 / c1, 133.0);
}

/// README: `train netlists/m1_molecular_annealed.json` (150 cycles), cost → 1.231e-5 (×1433).
#[test]
#[ignore = "long: 150 cycles with beta annealing"]
fn training_with_beta_annealing_matches_the_readme_cost_reduction() {
    let (c0, c1, _) = train(&shipped_chem("m1_molecular_annealed"), 150);
    reduction_near_readme("M1 annealed", c0 / c1, 1433.0);
}

/// README: `train netlists/m1_molecular_two_examples.json` (160 cycles), cost 9.971e-3 →
/// 3.926e-5 (×254); ideal CL at 0.6ρ ×466.
#[test]
#[ignore = "long: 160 cycles with gated input switches"]
fn training_two_examples_with_gated_switches_matches_the_readme_cost_reduction() {
    let (c0, c1, ccl) = train(&shipped_chem("m1_molecular_two_examples"), 160);
    assert!((c0 / 9.971e-3 - 1.0).abs() < 1e-3, "C0 {c0}");
    reduction_near_readme("M1 two examples", c0 / c1, 254.0);
    reduction_near_readme("M1 two examples, ideal CL at 0.6ρ", c0 / ccl, 466.0);
    // Within 2× of ideal CL at 0.6ρ (docs/molecular.md §7): final cost at most twice CL's.
    assert!(c1 <= 2.0 * ccl, "TCL {c1:e} vs ideal CL {ccl:e}");
}

/// The sparse LU path (symbolic analysis once) and the dense LU give the same cycle.
#[test]
fn sparse_and_dense_newton_solves_agree() {
    let mut v = m1_template();
    let ms = chem_model_of(&v);
    assert!(ms.solver.sparse_lu);
    // The sparse path really runs (no silent fallback to dense LU).
    let mut r = Runner::new(&ms);
    r.hold(0, 0.0, 0.0, 1.0, "probe").unwrap();
    assert!(r.stats.lu_decompositions > 0);
    assert_eq!(r.stats.sparse_factorizations, r.stats.lu_decompositions);
    let sparse = one_cycle(&ms).unwrap().record;
    v["solver"]["jacobian"] = json!("analytic_dense");
    let m = chem_model_of(&v);
    assert!(!m.solver.sparse_lu);
    let mut r = Runner::new(&m);
    r.hold(0, 0.0, 0.0, 1.0, "probe").unwrap();
    assert!(r.stats.lu_decompositions > 0);
    assert_eq!(r.stats.sparse_factorizations, 0);
    let dense = one_cycle(&m).unwrap().record;
    let diff: f64 = sparse
        .dell
        .iter()
        .zip(&dense.dell)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    let scale = sparse.dell.iter().map(|a| a.abs()).fold(0.0, f64::max);
    eprintln!(
        "sparse {:.3}s vs dense {:.3}s, max |ΔΔℓ| / max|Δℓ| = {:.2e}",
        sparse.wall_seconds,
        dense.wall_seconds,
        diff / scale
    );
    assert!(diff < 1e-6 * scale, "{diff:e} vs {scale:e}");
}

/// The flags correspond to real failures (docs/molecular.md §4.4, §6 and §8): forced to run, the
/// integrator loss ε = 1e-3 reverses the update while 1e-4 is harmless, and the anti-Hebbian
/// writer at G ≈ 0.78 overshoots (slope ≫ 1) where the Hebbian fast-fall writer stays stable.
#[test]
fn flagged_designs_really_fail_when_forced() {
    let run = |mods: &[(&str, &str, Value)]| {
        let mut v = m1_template();
        for (sec, k, val) in mods {
            if *sec == "params" {
                v["template"]["params"][*k] = val.clone();
            } else {
                v[*sec][*k] = val.clone();
            }
        }
        one_cycle(&chem_model_of(&v)).unwrap().record
    };
    let ok = run(&[("params", "eps", json!(1e-4))]);
    let bad = run(&[("params", "eps", json!(1e-3))]);
    eprintln!(
        "eps 1e-4: cos {:.4}; eps 1e-3: cos {:.4}",
        ok.cos_cl, bad.cos_cl
    );
    assert!(ok.cos_cl > 0.98 && bad.cos_cl < 0.0);
    let anti = run(&[
        ("params", "polarity", json!(-1)),
        ("params", "eps_w", json!(0.16)),
        ("protocol", "direction", json!("fast_rise")),
    ]);
    let hebb = run(&[("params", "eps_w", json!(0.16))]);
    eprintln!(
        "G {:.3}: anti-Hebbian fast_rise cos {:.4} slope {:.3}; Hebbian fast_fall cos {:.4} slope {:.3}",
        anti.loop_gain, anti.cos_cl, anti.slope, hebb.cos_cl, hebb.slope
    );
    assert!(anti.slope > 1.5 && anti.cos_cl < hebb.cos_cl);
    assert!(hebb.cos_cl > 0.98 && hebb.slope < 1.0);
}

/// `measured` within `tol` (absolute) of the figure README.md reports; prints both.
fn near_readme(what: &str, measured: f64, readme: f64, tol: f64) {
    eprintln!("{what}: {measured:.4} (README {readme})");
    assert!(
        (measured - readme).abs() <= tol,
        "{what}: measured {measured} vs README {readme} (tolerance ±{tol})"
    );
}

/// The one-cycle figures of the README's molecular table (rows marked †) that no other test
/// checks, each asserted against the printed value:
/// `cargo test --release --test chem_acceptance readme_one_cycle_figures -- --ignored --nocapture`.
/// Tolerances: cosines ±0.002 (README prints 3–4 digits; a one-cycle cosine moves by ~1e-4
/// between integrator settings), loop gains ±0.01, slopes ±0.02 (README prints 2–3 digits),
/// max step ±0.5 percentage points. The sparse vs dense Jacobian timing row is machine-dependent
/// and only printed; the two give the same cycle (`sparse_and_dense_newton_solves_agree`).
#[test]
#[ignore = "README figures (about 10 one-cycle runs)"]
fn readme_one_cycle_figures() {
    let run = |mods: &[(&str, &str, Value)]| {
        let mut v = m1_template();
        for (sec, k, val) in mods {
            if *sec == "params" {
                v["template"]["params"][*k] = val.clone();
            } else {
                v[*sec][*k] = val.clone();
            }
        }
        one_cycle(&chem_model_of(&v)).unwrap().record
    };
    let max_step = |c: &Rec| {
        c.dell
            .iter()
            .zip(&c.ell_start)
            .map(|(d, l)| (d / l).abs())
            .fold(0.0, f64::max)
    };
    // Anti-Hebbian + fast_rise at G = 0.39 / 0.78: cos 0.991 / 0.945, slope 1.09 / 1.83, max
    // step 9.9 % / 35.7 %.
    for (eps_w, g, cos, slope, step) in [
        (0.08, 0.39, 0.991, 1.09, 9.9),
        (0.16, 0.78, 0.945, 1.83, 35.7),
    ] {
        let c = run(&[
            ("params", "polarity", json!(-1)),
            ("params", "eps_w", json!(eps_w)),
            ("protocol", "direction", json!("fast_rise")),
        ]);
        let what = format!("anti-Hebbian fast_rise eps_w {eps_w}");
        near_readme(&format!("{what}: G"), c.loop_gain, g, 0.01);
        near_readme(&format!("{what}: cos"), c.cos_cl, cos, 0.002);
        near_readme(&format!("{what}: slope"), c.slope, slope, 0.02);
        near_readme(
            &format!("{what}: max step %"),
            100.0 * max_step(&c),
            step,
            0.5,
        );
    }
    // Hebbian fast_fall at G = 0.78: cos 0.9916 (slope 0.53).
    let c = run(&[("params", "eps_w", json!(0.16))]);
    near_readme("Hebbian fast_fall eps_w 0.16: G", c.loop_gain, 0.78, 0.01);
    near_readme("Hebbian fast_fall eps_w 0.16: cos", c.cos_cl, 0.9916, 0.002);
    near_readme("Hebbian fast_fall eps_w 0.16: slope", c.slope, 0.53, 0.02);
    // β_max = 1: cos 0.9896 (slope 0.46).
    let c = run(&[("nudge", "beta_max", json!(1.0))]);
    near_readme("Hebbian fast_fall beta_max 1: cos", c.cos_cl, 0.9896, 0.002);
    near_readme("Hebbian fast_fall beta_max 1: slope", c.slope, 0.46, 0.02);
    // c_θ = 3: cos 0.9741 (slope 0.54).
    let c = run(&[("params", "c_theta", json!(3.0))]);
    near_readme("Hebbian fast_fall c_theta 3: cos", c.cos_cl, 0.9741, 0.002);
    near_readme("Hebbian fast_fall c_theta 3: slope", c.slope, 0.54, 0.02);
    for jac in ["analytic_sparse", "analytic_dense"] {
        let c = run(&[("solver", "jacobian", json!(jac))]);
        eprintln!(
            "{jac}: {:.3} s/cycle, {} RHS, {} Jacobians, {} LU (timing not asserted)",
            c.wall_seconds, c.rhs_evals, c.jacobian_evals, c.lu_decompositions
        );
    }
}
