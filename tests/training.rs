//! Training acceptance on the canonical tasks: physical TCL against the ideal contrastive rule
//! and the gradient, one cycle and whole runs, with the cost reductions README.md reports locked
//! within a stated tolerance. Long runs are `#[ignore]`d (run with `--ignored`).

mod common;

use common::{prep, shipped as load};
use physlearn::learning::{cosine, lsq, one_cycle, Comparison, Session, SessionOptions};
use physlearn::physics::diagnostics::Level;
use physlearn::physics::equilibrium::Equilibrium;
use physlearn::physics::statics::gradient;
use physlearn::physics::system::{loop_prediction, NetworkSystem};
use physlearn::sim::Prepared;
use serde_json::{json, Value};

/// A cost reduction C0/C within ±15 % of the figure README.md reports for the same run. The
/// runs are deterministic; the band leaves room for another CPU or compiler rounding
/// differently over hundreds of cycles, and is far tighter than the factor-of-10…40 floors it
/// replaces (×29.4 was checked as ≥ 20, ×1459 as ≥ 500, ×131 as ≥ 3).
fn reduction_near_readme(what: &str, measured: f64, readme: f64) {
    eprintln!("{what}: cost ×{measured:.1} (README ×{readme})");
    assert!(
        (measured / readme - 1.0).abs() <= 0.15,
        "{what}: cost reduction ×{measured:.2} vs README ×{readme} (tolerance ±15 %)"
    );
}

fn set_all(v: &mut Value, key: &str, val: Value) {
    for el in v["elements"].as_array_mut().unwrap() {
        el[key] = val.clone();
    }
}

fn set_update(v: &mut Value, key: &str, val: Value) {
    for el in v["elements"].as_array_mut().unwrap() {
        el["update"][key] = val.clone();
    }
}

/// What these tests read of a one-cycle comparison.
struct Cmp {
    comparison: Comparison,
    dw_phys: Vec<f64>,
}

/// One cycle through the common pipeline (forced: some tests run flagged designs on purpose).
fn compare_one_cycle(p: &Prepared) -> Result<Cmp, physlearn::learning::SimError> {
    let sys = NetworkSystem::new(p.clone());
    let o = one_cycle(&sys, true)?;
    Ok(Cmp {
        comparison: o.cmp,
        dw_phys: o.delta,
    })
}

/// What these tests read of a training run.
struct Ck {
    cost0_phys: f64,
    last_cost_phys: f64,
    last_cost_cl: f64,
    last_cost_gd: f64,
    params: physlearn::physics::model::Params,
    epochs: Vec<physlearn::learning::EpochRow>,
}

struct Trained {
    ck: Ck,
}

fn train(p: &Prepared, cycles: usize) -> Trained {
    let sys = NetworkSystem::new(p.clone());
    let opts = SessionOptions {
        cycles: Some(cycles),
        force: true,
        ..SessionOptions::default()
    };
    let mut t = Session::new(&sys, &opts, "test", "none").unwrap();
    t.run(|_, _, _| {}).unwrap();
    let c = t.checkpoint();
    let theta: Vec<f64> = t.final_thetas().iter().map(|r| r.theta_phys).collect();
    Trained {
        ck: Ck {
            cost0_phys: c.cost0,
            last_cost_phys: c.last_cost_phys,
            last_cost_cl: c.last_cost_cl,
            last_cost_gd: c.last_cost_gd,
            params: sys.params_of(&theta),
            epochs: c.epochs.clone(),
        },
    }
}

#[test]
fn t1_one_cycle_follows_cl_and_the_loop_gain_theory() {
    let p = prep(&load("t1_flow_allostery"));
    let r = compare_one_cycle(&p).unwrap();
    let c = &r.comparison;
    assert!(c.cos_cl >= 0.97, "cos_cl {}", c.cos_cl);
    assert!(c.cos_grad >= 0.97, "cos_grad {}", c.cos_grad);
    assert!((0.85..=1.05).contains(&c.slope), "slope {}", c.slope);
    assert_eq!(c.wrong_sign_fraction, 0.0);
    // The slope against CL is set by the self-interaction preconditioner (I + ρτ·2YRY)⁻¹; against
    // that prediction the physical update has slope ≈ 1.
    let net = &p.network;
    let mut eq = Equilibrium::new(net).unwrap();
    let beta = p.sawtooth().unwrap().beta_max;
    let pred = loop_prediction(net, &mut eq, &net.initial_params(), beta, 0).unwrap();
    let pred = NetworkSystem::new(p.clone()).stack(&pred, &vec![0.0; net.n_elements()]);
    let (slope, _) = lsq(&r.dw_phys, &pred);
    assert!(
        cosine(&r.dw_phys, &pred) > 0.98,
        "cos vs prediction {}",
        cosine(&r.dw_phys, &pred)
    );
    assert!(
        (0.88..=1.05).contains(&slope),
        "slope vs loop prediction {slope}"
    );
}

#[test]
fn t1_long_slow_ramp_is_accurate() {
    let mut v = load("t1_flow_allostery");
    v["protocol"]["tau_slow"] = json!(1000.0); // τ_s/τ_f = 100, θ̂ = 3/100 = 0.03
    let r = compare_one_cycle(&prep(&v)).unwrap();
    assert!(
        r.comparison.cos_cl >= 0.995,
        "cos_cl {}",
        r.comparison.cos_cl
    );
}

#[test]
fn t1_paper_literal_polar_signal_fails() {
    let mut v = load("t1_flow_allostery");
    set_all(&mut v, "signal", json!("polar"));
    let p = prep(&v);
    assert!(p.report.diagnostics.iter().any(|d| d.code == "parity"));
    let r = compare_one_cycle(&p).unwrap();
    assert!(r.comparison.cos_cl < 0.5, "cos_cl {}", r.comparison.cos_cl);
}

#[test]
fn t1_anti_hebbian_fast_rise_alpha_10_is_flagged_and_does_not_learn() {
    // α = 2βρτ_k = 10 at the physics.md nudge β = 0.5 (ρ = 10, G_max ≈ 0.8).
    let mut v = load("t1_flow_allostery");
    v["protocol"]["beta_max"] = json!(0.5);
    set_update(&mut v, "rho", json!(10.0));
    set_update(&mut v, "polarity", json!(-1));
    v["protocol"]["direction"] = json!("fast_rise");
    let p = prep(&v);
    let flagged = p
        .report
        .diagnostics
        .iter()
        .any(|d| d.code == "loop_gain" && d.level == Level::Error);
    assert!(flagged, "{:?}", p.report.diagnostics);
    assert!(p.report.loop_gain.unwrap() > 0.3);
    let t = train(&p, 30);
    let (c0, c) = (t.ck.cost0_phys, t.ck.last_cost_phys);
    assert!(c > 0.5 * c0, "runaway run must not learn: {c0:e} -> {c:e}");
    // Same rate, Hebbian + fast_fall (the default pairing): learns.
    let mut v = load("t1_flow_allostery");
    v["protocol"]["beta_max"] = json!(0.5);
    set_update(&mut v, "rho", json!(10.0));
    let p = prep(&v);
    let t = train(&p, 30);
    assert!(t.ck.last_cost_phys < 0.1 * t.ck.cost0_phys);
}

#[test]
fn t1_training_matches_the_readme_cost_reductions_in_100_cycles() {
    let p = prep(&load("t1_flow_allostery"));
    let t = train(&p, 100);
    // README "Training": cost 1.146e-2 → 3.810e-4 (×30.1); ideal CL ×73, GD ×457.
    assert!(
        (t.ck.cost0_phys / 1.146e-2 - 1.0).abs() < 1e-3,
        "C0 {}",
        t.ck.cost0_phys
    );
    let c0 = t.ck.cost0_phys;
    reduction_near_readme("T1 physical TCL", c0 / t.ck.last_cost_phys, 30.1);
    reduction_near_readme("T1 ideal CL", c0 / t.ck.last_cost_cl, 73.4);
    reduction_near_readme("T1 GD", c0 / t.ck.last_cost_gd, 457.0);
}

#[test]
fn t1_beta_annealing_matches_the_readme_cost_reduction_in_200_cycles() {
    let v = load("t1_flow_allostery_annealed");
    let p = prep(&v);
    let t = train(&p, 200);
    // README "Training": cost 1.146e-2 → 7.630e-6 (×1502).
    let ratio = t.ck.cost0_phys / t.ck.last_cost_phys;
    reduction_near_readme("T1 annealed physical TCL", ratio, 1502.0);
}

#[test]
fn mechanochemical_one_cycle_and_imperfect_adaptation() {
    let v = load("mechanochemical_t1");
    let r = compare_one_cycle(&prep(&v)).unwrap();
    assert!(
        r.comparison.cos_cl >= 0.97,
        "cos_cl {}",
        r.comparison.cos_cl
    );
    let mut v = v;
    for el in v["elements"].as_array_mut().unwrap() {
        el["feedback"]["eps"] = json!(0.01);
    }
    let r = compare_one_cycle(&prep(&v)).unwrap();
    assert!(
        r.comparison.cos_cl < 0.3,
        "eps = 0.01 must destroy learning: cos {}",
        r.comparison.cos_cl
    );
}

#[test]
fn t3_elastic_one_cycle_stiffness_rest_length_and_literal() {
    let v = load("t3_elastic_allostery");
    let r = compare_one_cycle(&prep(&v)).unwrap();
    assert!(
        r.comparison.cos_cl >= 0.97,
        "stiffness cos_cl {}",
        r.comparison.cos_cl
    );
    // Rest-length learning: tension signal, π = +1 with fast_rise.
    let mut rl = v.clone();
    set_all(&mut rl, "learn", json!("rest_length"));
    set_update(&mut rl, "polarity", json!(1));
    set_update(&mut rl, "rho", json!(0.2));
    rl["protocol"]["direction"] = json!("fast_rise");
    let r = compare_one_cycle(&prep(&rl)).unwrap();
    assert!(
        r.comparison.cos_cl >= 0.97,
        "rest-length cos_cl {}",
        r.comparison.cos_cl
    );
    // Paper-literal: Maxwell stress (odd) drives stiffness.
    let mut lit = v.clone();
    set_all(&mut lit, "signal", json!("polar"));
    let p = prep(&lit);
    assert!(p.report.diagnostics.iter().any(|d| d.code == "parity"));
    let r = compare_one_cycle(&p).unwrap();
    assert!(
        r.comparison.cos_grad < 0.2,
        "literal cos_grad {}",
        r.comparison.cos_grad
    );
}

/// T3 training through the rest lengths: the output extension changes sign (−0.027 → +0.043,
/// target +0.05) and the cost falls ×131 (README, within ±15 %) within 100 cycles. (Stiffness
/// learning of the same task is slow for every learner, GD included: README.) The name is the
/// one README cites.
#[test]
fn t3_rest_length_training_inverts_the_output_and_cuts_cost_3x() {
    let p = prep(&load("t3_elastic_allostery_rest_length"));
    let net = &p.network;
    let mut eq = Equilibrium::new(net).unwrap();
    let out = |pp: &physlearn::physics::model::Params, eq: &mut Equilibrium| {
        physlearn::physics::statics::solve_static(net, eq, pp, 0.0, &net.examples[0])
            .unwrap()
            .o[0]
    };
    let o0 = out(&net.initial_params(), &mut eq);
    assert!(o0 < 0.0, "initial output {o0}");
    let t = train(&p, 100);
    let o1 = out(&t.ck.params, &mut eq);
    let ratio = t.ck.cost0_phys / t.ck.last_cost_phys;
    eprintln!("T3 rest length: output {o0:.4} -> {o1:.4}");
    assert!(
        (o0 + 0.027).abs() < 5e-4,
        "initial output {o0} (README −0.027)"
    );
    assert!(
        (o1 - 0.043).abs() < 5e-3,
        "output not inverted to README's +0.043: {o0} -> {o1}"
    );
    reduction_near_readme("T3 rest-length physical TCL", ratio, 131.0);
}

#[test]
fn t2_epoch_matches_summed_cl_in_both_switch_modes() {
    for mode in ["reset_idealized", "slow_ramp"] {
        let mut v = load("t2_flow_regression");
        v["protocol"]["switch"]["mode"] = json!(mode);
        let p = prep(&v);
        if mode == "reset_idealized" {
            assert!(
                !p.non_physical.is_empty(),
                "reset mode must be labelled non-physical"
            );
        }
        let t = train(&p, 4);
        let e = &t.ck.epochs[0];
        assert!(e.cos_cl >= 0.95, "{mode}: epoch cos {}", e.cos_cl);
    }
}

/// The adjoint gradient equals central finite differences of the static cost (flow with
/// leaky arms; elastic with rest lengths).
#[test]
fn adjoint_gradient_matches_finite_differences() {
    let flow = load("t1_flow_allostery");
    let mut elastic = load("t3_elastic_allostery");
    for (i, el) in elastic["elements"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        el["learn"] = json!("both");
        el["rest_length"] = json!(0.01 * ((i % 7) as f64 - 3.0));
    }
    for v in [flow, elastic] {
        let p = prep(&v);
        let net = &p.network;
        let mut eq = Equilibrium::new(net).unwrap();
        let p0 = net.initial_params();
        let (gw, gl, _) = gradient(net, &mut eq, &p0, &net.examples[0]).unwrap();
        let cost = |pp: &physlearn::physics::model::Params, eq: &mut Equilibrium| {
            physlearn::physics::statics::mean_cost(net, eq, pp).unwrap()
        };
        let mut worst: f64 = 0.0;
        let scale = gw.iter().chain(&gl).fold(0.0f64, |m, g| m.max(g.abs()));
        for e in (0..net.n_elements()).step_by(7) {
            let h = 1e-6;
            let mut a = p0.clone();
            let mut b = p0.clone();
            a.w[e] += h;
            b.w[e] -= h;
            let fd = (cost(&a, &mut eq) - cost(&b, &mut eq)) / (2.0 * h);
            worst = worst.max((fd - gw[e]).abs());
            if net.elements[e].learns_rest_length() {
                let mut a = p0.clone();
                let mut b = p0.clone();
                a.l[e] += h;
                b.l[e] -= h;
                let fd = (cost(&a, &mut eq) - cost(&b, &mut eq)) / (2.0 * h);
                worst = worst.max((fd - gl[e]).abs());
            }
        }
        assert!(
            worst < 1e-6 * scale.max(1e-12) + 1e-11,
            "gradient error {worst:e} (scale {scale:e})"
        );
    }
}

#[test]
#[ignore = "long: T2 training to 10x in both switch modes, ~4 min (run with --ignored)"]
fn t2_training_reduces_cost_10x() {
    for mode in ["reset_idealized", "slow_ramp"] {
        let mut v = load("t2_flow_regression");
        v["protocol"]["switch"]["mode"] = json!(mode);
        let p = prep(&v);
        let t = train(&p, 800);
        let ratio = t.ck.cost0_phys / t.ck.last_cost_phys;
        println!(
            "T2 {mode}, 800 cycles: x{ratio:.1} (CL {:.3e}, GD {:.3e})",
            t.ck.last_cost_cl, t.ck.last_cost_gd
        );
        assert!(ratio >= 10.0, "{mode}: ×{ratio:.1}");
    }
}

/// T4 two-class classification (docs/physics.md §7.4; reset switches, τ_s/τ_f = 100): within 20
/// epochs ideal CL reaches ≥ 95 % and physical TCL ≥ 90 % test accuracy. About 40 s in release.
#[test]
fn t4_classifier_reaches_95_percent_cl_and_90_percent_physical() {
    let p = prep(&load("t4_flow_classifier"));
    let t = train(&p, 2000);
    let ep = &t.ck.epochs;
    assert_eq!(ep.len(), 20);
    let best = |f: fn(&physlearn::learning::EpochRow) -> Option<f64>| {
        ep.iter().filter_map(f).fold(0.0, f64::max)
    };
    let cl = best(|e| e.acc_test_cl);
    let phys = best(|e| e.acc_test_phys);
    assert!(cl >= 0.95, "ideal CL best test accuracy {cl}");
    assert!(phys >= 0.90, "physical TCL best test accuracy {phys}");
    // And physical TCL stays there: the last epoch is not a collapse.
    let last = ep[19].acc_test_phys.unwrap();
    assert!(last >= 0.90, "last epoch {last}");
}
