//! The implicit (BDF/NDF) integrator through the full engine: an analytic stiff RC problem,
//! cross-checks against Dopri5 on non-stiff and stiff netlists (Δw within 1 %), the evaluation
//! savings on the stiff cases of docs/physics.md §5, and the `"auto"` method choice.

mod common;

use common::{prep, shipped as load};
use physlearn::learning::one_cycle;
use physlearn::netlist;
use physlearn::physics::dynamics::{Method, SolverStats};
use physlearn::physics::run::Sampling;
use physlearn::physics::system::NetworkSystem;
use physlearn::sim::{prepare, run, RunOptions};

/// One cycle through the common pipeline.
fn compare_one_cycle(
    p: &physlearn::sim::Prepared,
) -> Result<
    physlearn::learning::OneCycle<physlearn::physics::system::NoExtras>,
    physlearn::learning::SimError,
> {
    one_cycle(&NetworkSystem::new(p.clone()), true)
}
use serde_json::{json, Value};

fn with_method(v: &Value, method: &str) -> Value {
    let mut v = v.clone();
    if !v["solver"].is_object() {
        v["solver"] = json!({});
    }
    v["solver"]["method"] = json!(method);
    // Dopri5 must grind through the stiff cases instead of stopping.
    v["solver"]["stiffness_check"] = json!(false);
    v["solver"]["max_steps"] = json!(1_000_000);
    v
}

fn rel_diff(a: &[f64], b: &[f64]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    (num / den).sqrt()
}

/// RHS evaluations of the step plus those of the finite-difference Jacobians (already included
/// in `rhs_evals`, so this is simply `rhs_evals`).
fn total_evals(s: &SolverStats) -> u64 {
    s.rhs_evals
}

/// One cycle (cycle 0) with `method`: Δw, statistics, wall seconds.
fn first_cycle(v: &Value, method: &str) -> (Vec<f64>, SolverStats, f64) {
    let p = prep(&with_method(v, method));
    let out = run(
        &p,
        RunOptions {
            cycles: Some(1),
            sampling: Sampling { per_segment: 0 },
            sample_cycles: 0,
        },
        |_, _, _| {},
    )
    .unwrap();
    let c = &out.cycles[0];
    (c.dw(), c.stats, c.wall_seconds)
}

fn report(case: &str, d: &SolverStats, dt: f64, b: &SolverStats, bt: f64, err: f64) {
    eprintln!(
        "{case}: dopri5 {} RHS ({} steps, {dt:.2} s) | bdf {} RHS of which {} in {} Jacobians, {} LU, {} steps ({} rejected), {bt:.2} s | ratio {:.1}x | Δw rel diff {err:.2e}",
        d.rhs_evals,
        d.accepted_steps,
        b.rhs_evals,
        b.jacobian_rhs_evals,
        b.jacobian_evals,
        b.lu_decompositions,
        b.accepted_steps,
        b.rejected_steps,
        total_evals(d) as f64 / total_evals(b) as f64
    );
}

/// RC charging of a sensing arm with a time constant 1/50 000 of the horizon: the implicit
/// method follows `z(t) = V (1 − e^{−t g_s/C})` tightly with few evaluations.
#[test]
fn stiff_rc_charging_matches_the_analytic_solution() {
    let (v, c, gs, dur) = (0.7, 1e-4, 0.05, 100.0);
    let nlv = json!({
        "schema": "physlearn-netlist/1", "physics": "flow",
        "nodes": [{"id": "a"}, {"id": "b"}],
        "elements": [{"id": "e", "type": "nanofluidic_cm", "nodes": ["a", "b"], "w": 1.0,
                      "arm": {"C": c, "g_s": gs}, "learn": false}],
        "boundary": {"sources": [{"node": "a", "value": v}, {"node": "b", "value": 0.0}]},
        "protocol": {"kind": "hold", "duration": dur, "initial": "rest"},
        "solver": {"method": "bdf", "rtol": 1e-9, "atol": 1e-12, "h_init": 1e-6}
    });
    let p = prep(&nlv);
    assert_eq!(p.solver.method, Method::Bdf);
    let out = run(
        &p,
        RunOptions {
            cycles: None,
            sampling: Sampling {
                per_segment: usize::MAX,
            },
            sample_cycles: usize::MAX,
        },
        |_, _, _| {},
    )
    .unwrap();
    let s = &out.runner.samples;
    assert!(s.len() > 20);
    assert_eq!(s.last().unwrap().t, dur);
    let tau = c / gs;
    let mut worst: f64 = 0.0;
    for x in s {
        let exact = v * (1.0 - (-x.t / tau).exp());
        worst = worst.max((x.state[0] - exact).abs());
    }
    assert!(worst < 1e-7, "max |z − z_exact| = {worst:e}");
    // Dopri5 would need ~2·dur/τ = 1e5 evaluations (stability-limited).
    assert!(out.stats.rhs_evals < 3000, "{:?}", out.stats);
}

/// Non-stiff T1, one cycle: BDF and Dopri5 give the same Δw within 1 %.
#[test]
fn t1_one_cycle_bdf_matches_dopri5() {
    let v = load("t1_flow_allostery");
    let d = compare_one_cycle(&prep(&with_method(&v, "dopri5"))).unwrap();
    let b = compare_one_cycle(&prep(&with_method(&v, "bdf"))).unwrap();
    let err = rel_diff(&b.delta, &d.delta);
    eprintln!(
        "t1: dopri5 {} RHS {:.2} s | bdf {} RHS {:.2} s | Δw rel diff {err:.2e}",
        d.stats.rhs_evals, d.wall_seconds, b.stats.rhs_evals, b.wall_seconds
    );
    assert!(err < 0.01, "Δw relative difference {err}");
    assert!(b.cmp.cos_cl >= 0.97, "cos_cl {}", b.cmp.cos_cl);
}

/// T2 with a slow input switch (τ_sw = 3·10⁴ τ_k): cycle 0 of the 4-example run, including the
/// switch segment. Same Δw within 1 %, ≥ 10× fewer evaluations (Jacobian RHS calls included).
/// Both methods run at rtol 1e-8: at the default 1e-6 the scalar tolerance on w ≈ 1 is loose
/// against the per-cycle Δw ≈ 4e-4 per element, and each method is ~1 % off a tight reference
/// (0.97 % Dopri5, 0.74 % BDF; see `accuracy_against_tight_reference`).
#[test]
fn t2_slow_switch_bdf_is_10x_cheaper_than_dopri5() {
    let mut v = load("t2_flow_regression");
    v["protocol"]["switch"]["tau_switch"] = json!(30000.0);
    v["solver"]["rtol"] = json!(1e-8);
    v["solver"]["atol"] = json!(1e-11);
    let (dw_b, sb, tb) = first_cycle(&v, "bdf");
    let (dw_d, sd, td) = first_cycle(&v, "dopri5");
    let err = rel_diff(&dw_b, &dw_d);
    report("t2 switch", &sd, td, &sb, tb, err);
    assert!(err < 0.01, "Δw relative difference {err}");
    assert!(
        total_evals(&sd) >= 10 * total_evals(&sb),
        "dopri5 {} vs bdf {} evaluations",
        total_evals(&sd),
        total_evals(&sb)
    );
}

/// Fast chemistry (τ_x = 0.01 τ_k, S ≈ 3·10⁴): one cycle, same Δw within 1 %, far fewer
/// evaluations.
#[test]
fn fast_chemistry_bdf_matches_dopri5_with_far_fewer_evaluations() {
    let mut v = load("mechanochemical_t1");
    for el in v["elements"].as_array_mut().unwrap() {
        el["feedback"]["tau_x"] = json!(0.01);
    }
    let (dw_d, sd, td) = first_cycle(&v, "dopri5");
    let (dw_b, sb, tb) = first_cycle(&v, "bdf");
    let err = rel_diff(&dw_b, &dw_d);
    report("fast chemistry", &sd, td, &sb, tb, err);
    assert!(err < 0.01, "Δw relative difference {err}");
    assert!(
        total_evals(&sd) >= 10 * total_evals(&sb),
        "dopri5 {} vs bdf {} evaluations",
        total_evals(&sd),
        total_evals(&sb)
    );
}

/// `"method": "auto"` picks BDF on the stiff switch case and Dopri5 on T1, and says so in the
/// load report.
#[test]
fn auto_method_follows_the_stiffness_ratio() {
    let mut t2 = load("t2_flow_regression");
    t2["protocol"]["switch"]["tau_switch"] = json!(30000.0);
    t2["solver"]["method"] = json!("auto");
    let p = prep(&t2);
    assert!(p.report.stiffness_ratio.unwrap() > 1e4);
    assert_eq!(p.solver.method, Method::Bdf);
    assert!(p.report.diagnostics.iter().any(|d| d.code == "solver_auto"));
    let mut t1 = load("t1_flow_allostery");
    t1["solver"]["method"] = json!("auto");
    let p = prep(&t1);
    assert!(p.report.stiffness_ratio.unwrap() < 1e4);
    assert_eq!(p.solver.method, Method::Dopri5);
    let mut chem = load("mechanochemical_t1");
    for el in chem["elements"].as_array_mut().unwrap() {
        el["feedback"]["tau_x"] = json!(0.01);
    }
    chem["solver"]["method"] = json!("auto");
    assert_eq!(prep(&chem).solver.method, Method::Bdf);
}

/// One cycle (cycle 0) with `m` at (rtol, atol): Δw and the statistics.
fn cyc(v: &Value, m: &str, rtol: f64, atol: f64) -> (Vec<f64>, SolverStats) {
    let mut v = v.clone();
    if !v["solver"].is_object() {
        v["solver"] = json!({});
    }
    v["solver"]["method"] = json!(m);
    v["solver"]["rtol"] = json!(rtol);
    v["solver"]["atol"] = json!(atol);
    v["solver"]["stiffness_check"] = json!(false);
    v["solver"]["max_steps"] = json!(10_000_000);
    let p = prepare(&netlist::from_value(&v).unwrap()).unwrap();
    let out = run(
        &p,
        RunOptions {
            cycles: Some(1),
            sampling: Sampling { per_segment: 0 },
            sample_cycles: 0,
        },
        |_, _, _| {},
    )
    .unwrap();
    let c = &out.cycles[0];
    eprintln!(
        "  {m} rtol {rtol:e}: rhs {} jac {} lu {} steps {} rej {} wall {:.2}",
        c.stats.rhs_evals,
        c.stats.jacobian_evals,
        c.stats.lu_decompositions,
        c.stats.accepted_steps,
        c.stats.rejected_steps,
        c.wall_seconds
    );
    (c.dw(), c.stats)
}
fn rel_to(a: &[f64], b: &[f64]) -> f64 {
    (a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>()
        / b.iter().map(|y| y * y).sum::<f64>())
    .sqrt()
}

/// A Δw error (relative 2-norm against the tight reference) within 15 % of the figure of
/// docs/stiff.md's table.
fn error_near(what: &str, measured: f64, doc: f64) {
    eprintln!("  {what}: Δw error {measured:.2e} (docs/stiff.md {doc:.1e})");
    assert!(
        (measured / doc - 1.0).abs() <= 0.15,
        "{what}: Δw error {measured:e} vs docs/stiff.md {doc:e} (tolerance ±15 %)"
    );
}

/// An RHS count within 5 % of the figure of docs/stiff.md's table (the golden files' tolerance
/// for work counters: another CPU may take a step more or less).
fn evals_near(what: &str, measured: u64, doc: u64) {
    eprintln!("  {what}: {measured} RHS (docs/stiff.md {doc})");
    let r = measured as f64 / doc as f64;
    assert!(
        (r - 1.0).abs() <= 0.05,
        "{what}: {measured} RHS vs docs/stiff.md {doc} (tolerance ±5 %)"
    );
}

/// Accuracy against a tight Dopri5 reference (rtol 1e-10, atol 1e-13) and costs at two
/// tolerances: asserts the table of docs/stiff.md ("Evaluations" / "Δw error") — each error
/// within ±15 % of the documented value (two printed digits), each RHS count within ±5 %. Slow
/// (the references cost ~5e5 RHS together, a few seconds): `--ignored`.
#[test]
#[ignore = "long: tight references (~5e5 RHS)"]
fn accuracy_against_tight_reference() {
    let mut t2 = load("t2_flow_regression");
    t2["protocol"]["switch"]["tau_switch"] = json!(30000.0);
    let mut chem = load("mechanochemical_t1");
    for el in chem["elements"].as_array_mut().unwrap() {
        el["feedback"]["tau_x"] = json!(0.01);
    }
    /// One case of the table: (RHS, Δw error) per documented row.
    struct Case {
        name: &'static str,
        netlist: Value,
        reference_evals: u64,
        dopri: (u64, f64),
        bdf: (u64, f64),
        bdf_tight: Option<(u64, f64)>,
    }
    let cases = [
        Case {
            name: "t1",
            netlist: load("t1_flow_allostery"),
            reference_evals: 6_968,
            dopri: (884, 2.5e-3),
            bdf: (853, 1.8e-3),
            bdf_tight: None,
        },
        Case {
            name: "t2",
            netlist: t2,
            reference_evals: 336_969,
            dopri: (60_813, 9.7e-3),
            bdf: (1_652, 7.4e-3),
            bdf_tight: Some((2_911, 2.4e-4)),
        },
        Case {
            name: "chem",
            netlist: chem,
            reference_evals: 132_992,
            dopri: (56_432, 1.0e-4),
            bdf: (1_580, 2.6e-4),
            bdf_tight: None,
        },
    ];
    for Case {
        name,
        netlist: v,
        reference_evals: ref_evals,
        dopri,
        bdf,
        bdf_tight,
    } in cases
    {
        eprintln!("{name}");
        let (r, sr) = cyc(&v, "dopri5", 1e-10, 1e-13);
        evals_near(&format!("{name} reference"), sr.rhs_evals, ref_evals);
        let (d, sd) = cyc(&v, "dopri5", 1e-6, 1e-9);
        evals_near(&format!("{name} dopri5 1e-6"), sd.rhs_evals, dopri.0);
        error_near(&format!("{name} dopri5 1e-6"), rel_to(&d, &r), dopri.1);
        let (b, sb) = cyc(&v, "bdf", 1e-6, 1e-9);
        evals_near(&format!("{name} bdf 1e-6"), sb.rhs_evals, bdf.0);
        error_near(&format!("{name} bdf 1e-6"), rel_to(&b, &r), bdf.1);
        let (b2, sb2) = cyc(&v, "bdf", 1e-8, 1e-11);
        eprintln!(
            "  bdf 1e-8: error {:.2e}, {} RHS; |Δw| {:.3e}",
            rel_to(&b2, &r),
            sb2.rhs_evals,
            r.iter().map(|x| x * x).sum::<f64>().sqrt()
        );
        if let Some((evals, err)) = bdf_tight {
            evals_near(&format!("{name} bdf 1e-8"), sb2.rhs_evals, evals);
            error_near(&format!("{name} bdf 1e-8"), rel_to(&b2, &r), err);
        }
    }
}

/// Per-component tolerance weights of the wrong length are refused, not silently replaced by
/// the scalar `atol`.
#[test]
fn atol_weights_of_the_wrong_length_are_refused() {
    use physlearn::physics::stiff::{integrate, BdfError, BdfOptions, OdeSystem};
    struct Decay(usize);
    impl OdeSystem for Decay {
        fn dim(&self) -> usize {
            2
        }
        fn rhs(&self, _t: f64, v: &[f64], f: &mut [f64]) -> bool {
            f[0] = -v[0];
            f[1] = -2.0 * v[1];
            true
        }
        fn atol_weights(&self) -> Option<Vec<f64>> {
            Some(vec![1.0; self.0])
        }
    }
    let opt = BdfOptions {
        rtol: 1e-6,
        atol: 1e-9,
        h_init: 1e-3,
        h_max: f64::INFINITY,
        max_steps: 100_000,
    };
    let v0 = nalgebra::DVector::from_vec(vec![1.0, 1.0]);
    let ok = integrate(&Decay(2), 0.0, 1.0, v0.clone(), &opt);
    assert!(ok.result.is_ok());
    assert_eq!(ok.stats.sparse_factorizations, 0);
    let bad = integrate(&Decay(3), 0.0, 1.0, v0, &opt);
    match bad.result {
        Err(BdfError::Invalid(m)) => assert!(m.contains("3 absolute-tolerance weights"), "{m}"),
        r => panic!("{r:?}"),
    }
}
