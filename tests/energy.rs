//! Energy accounting (docs/physics.md §12): analytic single-element cases, the balance
//! (Tellegen) over cycles of randomised networks of each network family, independence of the
//! integrator, and the learning-off baseline.

mod common;

use common::{shipped, tight_solver};
use physlearn::learning::energy::{relative_residual, Energy};
use physlearn::learning::session::{baseline_energy, Session, SessionOptions};
use physlearn::learning::LearningSystem;
use physlearn::netlist;
use physlearn::physics::run::Sampling;
use physlearn::physics::system::NetworkSystem;
use physlearn::sim::{prepare, run, RunOptions};
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

/// Energy of a `hold` protocol.
fn hold_energy(v: &Value) -> Energy {
    let nl = netlist::from_value(v).expect("valid netlist");
    let prep = prepare(&nl).expect("prepare");
    let out = run(
        &prep,
        RunOptions {
            cycles: None,
            sampling: Sampling { per_segment: 0 },
            sample_cycles: 0,
        },
        |_, _, _| {},
    )
    .expect("run");
    out.hold_energy.expect("hold energy")
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-300)
}

/// RC charging of a sensing arm from rest at a held drop V: the arm resistor dissipates
/// `½ C V² (1 − e^{−2T/τ})`, the capacitor stores `½ C V² (1 − e^{−T/τ})²`, the direct path
/// `w V² T`, and the source delivers their sum.
#[test]
fn rc_arm_charging_dissipates_half_cv2_in_its_resistor() {
    let (v, c, gs, w, dur): (f64, f64, f64, f64, f64) = (0.7, 0.3, 0.05, 1.3, 40.0);
    let nlv = json!({
        "schema": "physlearn-netlist/1", "physics": "flow",
        "nodes": [{"id": "a"}, {"id": "b"}],
        "elements": [{"id": "e", "type": "nanofluidic_cm", "nodes": ["a", "b"], "w": w,
                      "arm": {"C": c, "g_s": gs}, "learn": false}],
        "boundary": {"sources": [{"node": "a", "value": v}, {"node": "b", "value": 0.0}]},
        "protocol": {"kind": "hold", "duration": dur, "initial": "rest"},
        "solver": tight_solver()
    });
    let e = hold_energy(&nlv);
    let tau = c / gs;
    let arm = 0.5 * c * v * v * (1.0 - (-2.0 * dur / tau).exp());
    let stored = 0.5 * c * v * v * (1.0 - (-dur / tau).exp()).powi(2);
    let direct = w * v * v * dur;
    assert!(rel(e.diss_arm, arm) < 1e-8, "arm {} vs {arm}", e.diss_arm);
    assert!(
        rel(e.stored_change, stored) < 1e-8,
        "stored {} vs {stored}",
        e.stored_change
    );
    assert!(
        rel(e.diss_resistor, direct) < 1e-10,
        "direct {} vs {direct}",
        e.diss_resistor
    );
    assert!(rel(e.work_source, direct + arm + stored) < 1e-8);
    assert_eq!(e.diss_leak, 0.0);
    assert!(e.energy_residual.abs() < 1e-9 * e.work_source);
    // Long charging: the resistor has dissipated what the capacitor stores, ½ C V² each.
    assert!(rel(e.diss_arm, 0.5 * c * v * v) < 1e-3);
}

/// A leak across the capacitor: at steady state it dissipates `g_L z_∞²` per time unit with
/// `z_∞ = g_s V/(g_s + g_L)`; the balance closes.
#[test]
fn arm_leak_dissipation_and_balance() {
    let (v, c, gs, gl, dur): (f64, f64, f64, f64, f64) = (1.0, 0.2, 0.1, 0.05, 60.0);
    let nlv = json!({
        "schema": "physlearn-netlist/1", "physics": "flow",
        "nodes": [{"id": "a"}, {"id": "b"}],
        "elements": [{"id": "e", "type": "nanofluidic_cm", "nodes": ["a", "b"], "w": 1.0,
                      "arm": {"C": c, "g_s": gs, "g_leak": gl}, "learn": false}],
        "boundary": {"sources": [{"node": "a", "value": v}, {"node": "b", "value": 0.0}]},
        "protocol": {"kind": "hold", "duration": dur, "initial": "rest"},
        "solver": tight_solver()
    });
    let e = hold_energy(&nlv);
    // z(t) = z∞ (1 − e^{−t/τ}), τ = C/(g_s + g_L): ∫ g_L z² dt in closed form.
    let zi = gs * v / (gs + gl);
    let tau = c / (gs + gl);
    let x = (-dur / tau).exp();
    let leak = gl * zi * zi * (dur - 2.0 * tau * (1.0 - x) + 0.5 * tau * (1.0 - x * x));
    assert!(
        rel(e.diss_leak, leak) < 1e-8,
        "leak {} vs {leak}",
        e.diss_leak
    );
    assert!(e.energy_residual.abs() < 1e-9 * e.work_source);
}

/// Maxwell stress relaxation from rest at a held extension e0: the dashpot dissipates the
/// spring energy `½ k_M e0² (1 − e^{−2T/τ})`, τ = η/k_M, and the stored energy falls by as much;
/// the resting boundary does no work.
#[test]
fn maxwell_relaxation_dissipates_the_spring_energy_in_the_dashpot() {
    let (km, eta, e0, dur): (f64, f64, f64, f64) = (2.0, 3.0, 0.1, 6.0);
    let nlv = json!({
        "schema": "physlearn-netlist/1", "physics": "elastic2d",
        "nodes": [{"id": "p0", "pos": [0.0, 0.0]}, {"id": "p1", "pos": [1.0, 0.0]}, {"id": "p2", "pos": [0.5, 0.8]}],
        "elements": [
            {"id": "mx", "type": "maxwell", "nodes": ["p0", "p1"], "k_m": km, "eta": eta, "learn": false},
            {"id": "s0", "type": "spring", "nodes": ["p0", "p2"], "k": 1.0},
            {"id": "s1", "type": "spring", "nodes": ["p1", "p2"], "k": 1.0}],
        "boundary": {"sources": [{"node": "p0", "value": [0.0, 0.0]}, {"node": "p1", "value": [e0, 0.0]}]},
        "protocol": {"kind": "hold", "duration": dur, "initial": "rest"},
        "solver": tight_solver()
    });
    let e = hold_energy(&nlv);
    let tau = eta / km;
    let want = 0.5 * km * e0 * e0 * (1.0 - (-2.0 * dur / tau).exp());
    assert!(
        rel(e.diss_dashpot, want) < 1e-8,
        "dashpot {} vs {want}",
        e.diss_dashpot
    );
    assert!(rel(-e.stored_change, want) < 1e-8, "ΔE {}", e.stored_change);
    assert_eq!(e.work_source, 0.0);
    assert!(e.energy_residual.abs() < 1e-10 * want);
}

/// SLS bond held at extension e0 from rest: the Maxwell arm relaxes (τ = η/k_M) and its energy
/// `½ k_M e0² (1 − e^{−2T/τ})` goes into the dashpot; the parallel spring keeps `½ k e0²`.
#[test]
fn sls_relaxation_dissipates_the_arm_energy() {
    let (k, km, eta, e0, dur): (f64, f64, f64, f64, f64) = (1.0, 0.5, 2.0, 0.2, 10.0);
    let nlv = json!({
        "schema": "physlearn-netlist/1", "physics": "elastic2d",
        "nodes": [{"id": "p0", "pos": [0.0, 0.0]}, {"id": "p1", "pos": [1.0, 0.0]}, {"id": "p2", "pos": [0.5, 0.8]}],
        "elements": [
            {"id": "b", "type": "sls", "nodes": ["p0", "p1"], "k": k, "learn": "none", "arm": {"k_m": km, "eta": eta}},
            {"id": "s0", "type": "spring", "nodes": ["p0", "p2"], "k": 1.0},
            {"id": "s1", "type": "spring", "nodes": ["p1", "p2"], "k": 1.0}],
        "boundary": {"sources": [{"node": "p0", "value": [0.0, 0.0]}, {"node": "p1", "value": [e0, 0.0]}]},
        "protocol": {"kind": "hold", "duration": dur, "initial": "rest"},
        "solver": tight_solver()
    });
    let e = hold_energy(&nlv);
    let tau = eta / km;
    let want = 0.5 * km * e0 * e0 * (1.0 - (-2.0 * dur / tau).exp());
    assert!(
        rel(e.diss_dashpot, want) < 1e-8,
        "dashpot {} vs {want}",
        e.diss_dashpot
    );
    assert!(rel(-e.stored_change, want) < 1e-8);
    assert!(e.energy_residual.abs() < 1e-10 * want);
}

/// Randomise a shipped netlist: weights ×[0.5, 2], and (flow) arm leaks on a third of the
/// elements, (elastic) leak springs.
fn randomised(name: &str, seed: u64, solver: Option<Value>) -> Value {
    let mut v = shipped(name);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let flow = v["physics"] == "flow";
    if let Some(els) = v["elements"].as_array_mut() {
        for el in els.iter_mut() {
            let f: f64 = rng.random_range(0.5..2.0);
            for key in ["w", "k"] {
                if let Some(x) = el[key].as_f64() {
                    el[key] = json!(x * f);
                }
            }
            if el["arm"].is_object() && rng.random_range(0.0..1.0) < 0.35 {
                if flow {
                    el["arm"]["g_leak"] = json!(0.002);
                } else {
                    el["arm"]["k_leak"] = json!(0.002);
                }
            }
        }
    }
    v["protocol"]["cycles"] = json!(3);
    if let Some(s) = solver {
        v["solver"] = s;
    }
    v
}

fn train_rows(v: &Value, cycles: usize) -> Vec<Energy> {
    let model = physlearn::Model::from_json(&v.to_string()).expect("model");
    let sys = match model.system() {
        physlearn::model::System::Network(s) => s,
        _ => panic!("network family expected"),
    };
    let opts = SessionOptions {
        cycles: Some(cycles),
        force: true,
        reference_learners: false,
        ..SessionOptions::default()
    };
    let mut s = Session::new(sys, &opts, "test", "0").expect("session");
    s.run(|_, _, _| {}).expect("run");
    s.rows().iter().map(|r| r.energy).collect()
}

/// Tellegen: over every cycle of randomised flow and elastic networks the balance closes to
/// the integrator's tolerance (default rtol 1e-6), and to ~1e-9 at rtol 1e-10.
#[test]
fn balance_closes_over_cycles_of_random_networks() {
    for (name, seeds) in [
        ("t1_flow_allostery", [1u64, 2]),
        ("t3_elastic_allostery", [3, 4]),
        ("t3_elastic_allostery_rest_length", [5, 6]),
        ("t2_flow_regression", [7, 8]),
    ] {
        for seed in seeds {
            let rows = train_rows(&randomised(name, seed, None), 2);
            for (k, e) in rows.iter().enumerate() {
                let r = relative_residual(e);
                assert!(
                    r < 1e-5,
                    "{name} seed {seed} cycle {k}: residual {r:e} ({e:?})"
                );
                assert!(e.diss_total > 0.0, "{name}: nothing dissipated");
            }
        }
    }
    let tight =
        json!({"method": "dopri5", "rtol": 1e-10, "atol": 1e-13, "h_init": 1e-3, "h_max": 1.0});
    for name in ["t1_flow_allostery", "t3_elastic_allostery"] {
        let rows = train_rows(&randomised(name, 11, Some(tight.clone())), 1);
        let r = relative_residual(&rows[0]);
        assert!(r < 1e-9, "{name} at rtol 1e-10: residual {r:e}");
    }
}

/// Elastic learning does work on the springs (stiffness: `½ k̇ (y − l)²`; rest length:
/// `−k (y − l) l̇`); without the term the balance would not close.
#[test]
fn elastic_learning_work_is_accounted() {
    for name in ["t3_elastic_allostery", "t3_elastic_allostery_rest_length"] {
        let rows = train_rows(&shipped(name), 1);
        let e = rows[0];
        assert!(
            e.work_learning.abs() > 1e3 * e.energy_residual.abs(),
            "{name}: {e:?}"
        );
        assert!(relative_residual(&e) < 1e-5);
    }
}

/// The energy does not depend on the integrator: Dopri5 against Dop853 and BDF (and a tight
/// Dopri5) within 1 % on the total dissipation, every class within 1 % of the largest term.
#[test]
fn energy_is_independent_of_the_integrator() {
    for name in ["t1_flow_allostery", "t3_elastic_allostery"] {
        let mut base = shipped(name);
        base["protocol"]["cycles"] = json!(1);
        let e0 = train_rows(&base, 1)[0];
        for solver in [
            json!({"method": "dop853", "rtol": 1e-8, "atol": 1e-11, "stiffness_check": false}),
            json!({"method": "bdf", "rtol": 1e-6, "atol": 1e-9}),
            json!({"method": "dopri5", "rtol": 1e-10, "atol": 1e-13}),
        ] {
            let mut v = base.clone();
            v["solver"] = solver.clone();
            let e = train_rows(&v, 1)[0];
            assert!(
                rel(e.diss_total, e0.diss_total) < 0.01,
                "{name} {solver}: {} vs {}",
                e.diss_total,
                e0.diss_total
            );
            let scale = e0.diss_total.abs().max(e0.work_source.abs());
            for ((n, a), (_, b)) in e.classes().iter().zip(e0.classes()) {
                assert!(
                    (a - b).abs() < 0.01 * scale,
                    "{name} {solver} {n}: {a} vs {b}"
                );
            }
            // The hard threshold makes the right-hand side discontinuous: across a switch the
            // quadrature and the state carry the integrator's local error (Dop853 of
            // ode_solvers measured 6e-4 of the largest term on T3; Dopri5 and BDF < 1e-5).
            assert!(relative_residual(&e) < 2e-3, "{name} {solver}: {e:?}");
        }
    }
}

/// The learning-off baseline runs the same protocol with every ρ = 0: θ stays put and the
/// dissipation per cycle is that of the fixed network; for T1 it is close to (but not equal
/// to) the learning run's first cycle.
#[test]
fn learning_off_baseline() {
    let model = physlearn::Model::from_json(&shipped("t1_flow_allostery").to_string()).unwrap();
    let sys: &NetworkSystem = match model.system() {
        physlearn::model::System::Network(s) => s,
        _ => unreachable!(),
    };
    let off = sys.without_learning().expect("switch");
    let mut eng = off.engine().unwrap();
    use physlearn::learning::Engine;
    let th0 = eng.theta();
    eng.run_cycle(0, off.meta().beta_max).unwrap();
    assert_eq!(eng.theta(), th0, "learning off must not change θ");
    let b = baseline_energy(sys, 2).unwrap().expect("baseline");
    let rows = train_rows(&shipped("t1_flow_allostery"), 1);
    let d = rows[0].diss_total;
    assert!(
        b > 0.0 && rel(b, d) < 0.2 && b != d,
        "baseline {b} vs TCL {d}"
    );
}

/// Chemical family: the entropy production of a reversible reaction `A ⇌ B` (mass action,
/// `J₊ = k₊ A`, `J₋ = k₋ B`) integrated along the BDF trajectory equals the decrease of the free
/// energy `F = Σ_s x_s ln(x_s/x_s^eq) − x_s + x_s^eq` [k_B T], and its rate is ≥ 0.
#[test]
fn chemical_entropy_production_of_a_reversible_reaction() {
    use physlearn::chem::network::{Network, Reaction, Species, SpeciesId};
    use physlearn::chem::sim::{Segment, SegmentOde};
    use physlearn::physics::stiff::{integrate, BdfOptions};
    let (kf, kb, a0, b0, dur) = (2.0f64, 0.5f64, 1.0f64, 0.05f64, 6.0f64);
    let sp = |n: &str, init: f64| Species {
        name: n.into(),
        composition: [("X".to_string(), 1.0)].into_iter().collect(),
        init,
        scale: 1.0,
    };
    let rx = |n: &str, r: usize, p: usize, k: f64| Reaction {
        name: n.into(),
        reactants: vec![SpeciesId(r)],
        products: vec![SpeciesId(p)],
        k,
        open: false,
        drive: None,
    };
    let net = Network::new(
        vec![sp("A", a0), sp("B", b0)],
        vec![rx("fwd", 0, 1, kf), rx("bwd", 1, 0, kb)],
        vec![],
    );
    let (pairs, irreversible) = net.reversible_pairs();
    assert_eq!(pairs, vec![(0, 1)]);
    assert!(irreversible.is_empty());
    let seg = Segment {
        name: "relax".into(),
        duration: dur,
        m0: vec![],
        m1: vec![],
    };
    let weights = [1.0, 1.0];
    let ode = SegmentOde {
        net: &net,
        seg: &seg,
        weights: &weights,
        failure: std::cell::RefCell::new(None),
        jac_evals: std::cell::Cell::new(0),
        pattern: None,
        mult: std::cell::RefCell::new(Vec::new()),
        entropy_pairs: Some(&pairs),
    };
    let opt = BdfOptions {
        rtol: 1e-9,
        atol: 1e-12,
        h_init: 1e-4,
        h_max: 0.5,
        max_steps: 100_000,
    };
    let out = integrate(
        &ode,
        0.0,
        dur,
        nalgebra::DVector::from_vec(vec![a0, b0, 0.0]),
        &opt,
    );
    assert!(out.result.is_ok());
    let last = out.ys.last().unwrap();
    let total = a0 + b0;
    let (ae, be) = (total * kb / (kf + kb), total * kf / (kf + kb));
    let f = |a: f64, b: f64| a * (a / ae).ln() - a + ae + b * (b / be).ln() - b + be;
    let want = f(a0, b0) - f(last[0], last[1]);
    let got = last[2];
    assert!(got > 0.0);
    assert!(rel(got, want) < 1e-5, "entropy {got} vs ΔF {want}");
    // Analytic state: A(t) = ae + (a0 − ae) e^{−(k₊+k₋)t}.
    let a_t = ae + (a0 - ae) * (-(kf + kb) * dur).exp();
    assert!((last[0] - a_t).abs() < 1e-7);
    // The rate is non-negative anywhere (here: on a grid of states).
    for i in 0..=20 {
        let a = 0.05 + 0.05 * i as f64;
        let r = net.entropy_production_rate(&[a, total - a], &[], &pairs);
        assert!(r >= 0.0, "rate {r} at A = {a}");
    }
}

/// The molecular netlist reports its entropy production per cycle (and no network terms).
#[test]
fn molecular_cycle_reports_entropy_production() {
    let model = physlearn::load(common::netlist_path("m1_molecular.json")).unwrap();
    let c = model.compare(true).unwrap();
    assert!(c.energy.entropy_production > 0.0, "{:?}", c.energy);
    assert!(c.energy.diss_total.is_nan() && c.energy.work_source.is_nan());
}
