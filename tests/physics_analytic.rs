//! Analytic checks of the element dynamics through the full engine (netlist → equilibrium →
//! element ODEs → integrator).

mod common;

use common::tight_solver;
use physlearn::netlist;
use physlearn::physics::run::Sampling;
use physlearn::sim::{prepare, run, RunOptions};
use serde_json::{json, Value};

fn samples_of(v: &Value, per_segment: usize) -> (Vec<f64>, Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let nl = netlist::from_value(v).expect("valid netlist");
    let prep = prepare(&nl).expect("prepare");
    let out = run(
        &prep,
        RunOptions {
            cycles: None,
            sampling: Sampling { per_segment },
            sample_cycles: usize::MAX,
        },
        |_, _, _| {},
    )
    .expect("run");
    let s = &out.runner.samples;
    (
        s.iter().map(|x| x.t).collect(),
        s.iter().map(|x| x.state.clone()).collect(),
        s.iter().map(|x| x.outputs.clone()).collect(),
    )
}

/// A source–resistor–element–ground divider: a resistor of conductance `r_w` from the source
/// (potential 1) to node `m`, the learning `element` (its `id`, `type`, parameters; the nodes
/// are filled in) from `m` to ground, and the output at `m` with target `target`.
fn divider(
    r_w: f64,
    mut element: Value,
    target: f64,
    protocol: Value,
    solver: Option<Value>,
) -> Value {
    element["nodes"] = json!(["m", "gnd"]);
    let mut v = json!({
        "schema": "physlearn-netlist/1", "physics": "flow",
        "nodes": [{"id": "in"}, {"id": "m"}, {"id": "gnd"}],
        "elements": [{"id": "r", "type": "resistor", "nodes": ["in", "m"], "w": r_w}, element],
        "boundary": {"sources": [{"node": "in", "value": 1.0}, {"node": "gnd", "value": 0.0}],
                     "outputs": [{"id": "o", "kind": "node", "node": "m"}]},
        "task": {"examples": [{"targets": {"o": target}}]},
        "protocol": protocol
    });
    if let Some(solver) = solver {
        v["solver"] = solver;
    }
    v
}

/// RC charging of the shunted element's sensing arm from rest: with the element's drop held at
/// V by two sources, `C ż = g_s (V − z)` gives `z(t) = V (1 − e^{−t g_s/C})`.
#[test]
fn rc_charging_of_sensing_arm() {
    let (v, c, gs) = (0.7, 0.3, 0.05);
    let nlv = json!({
        "schema": "physlearn-netlist/1", "physics": "flow",
        "nodes": [{"id": "a"}, {"id": "b"}],
        "elements": [{"id": "e", "type": "nanofluidic_cm", "nodes": ["a", "b"], "w": 1.0,
                      "arm": {"C": c, "g_s": gs}, "learn": false}],
        "boundary": {"sources": [{"node": "a", "value": v}, {"node": "b", "value": 0.0}]},
        "protocol": {"kind": "hold", "duration": 20.0, "initial": "rest"},
        "solver": tight_solver()
    });
    let (t, st, _) = samples_of(&nlv, 400);
    assert!(t.len() > 50);
    let tau = c / gs;
    let mut worst: f64 = 0.0;
    for (ti, s) in t.iter().zip(&st) {
        let exact = v * (1.0 - (-ti / tau).exp());
        worst = worst.max((s[0] - exact).abs());
    }
    assert!(worst < 1e-8, "max |z − z_exact| = {worst:e}");
}

/// Maxwell stress relaxation: a Maxwell bond held at extension e from rest relaxes its tension
/// `t = k_m (e − d)` as `k_m e exp(−t k_m/η)`.
#[test]
fn maxwell_stress_relaxation() {
    let (km, eta, e0) = (2.0, 3.0, 0.1);
    let nlv = json!({
        "schema": "physlearn-netlist/1", "physics": "elastic2d",
        "nodes": [{"id": "p0", "pos": [0.0, 0.0]}, {"id": "p1", "pos": [1.0, 0.0]}, {"id": "p2", "pos": [0.5, 0.8]}],
        "elements": [
            {"id": "mx", "type": "maxwell", "nodes": ["p0", "p1"], "k_m": km, "eta": eta, "learn": false},
            {"id": "s0", "type": "spring", "nodes": ["p0", "p2"], "k": 1.0},
            {"id": "s1", "type": "spring", "nodes": ["p1", "p2"], "k": 1.0}],
        "boundary": {"sources": [{"node": "p0", "value": [0.0, 0.0]}, {"node": "p1", "value": [e0, 0.0]}]},
        "protocol": {"kind": "hold", "duration": 6.0, "initial": "rest"},
        "solver": tight_solver()
    });
    let (t, st, _) = samples_of(&nlv, 300);
    let tau = eta / km;
    let mut worst: f64 = 0.0;
    for (ti, s) in t.iter().zip(&st) {
        let tension = km * (e0 - s[0]);
        let exact = km * e0 * (-ti / tau).exp();
        worst = worst.max((tension - exact).abs());
    }
    assert!(worst < 1e-9, "max tension error {worst:e}");
}

/// SLS creep under a soft load: an SLS bond (k ∥ [k_M + η]) pulled by a nudge spring β towards
/// extension T responds instantly with `e0 = βT/K`, `K = k + k_M + β`, and creeps to
/// `e∞ = βT/(k + β)` with time constant `τ_c = η K /(k_M (k + β))`.
#[test]
fn sls_creep() {
    let (k, km, eta, beta, target) = (1.0, 0.5, 2.0, 0.3, 0.2);
    let nlv = json!({
        "schema": "physlearn-netlist/1", "physics": "elastic2d",
        "nodes": [{"id": "p0", "pos": [0.0, 0.0]}, {"id": "p1", "pos": [1.0, 0.0]}, {"id": "p2", "pos": [1.0, 1.0]}],
        "elements": [
            {"id": "b", "type": "sls", "nodes": ["p0", "p1"], "k": k, "learn": "none", "arm": {"k_m": km, "eta": eta}},
            {"id": "guide", "type": "spring", "nodes": ["p1", "p2"], "k": 1.0}],
        "boundary": {"sources": [{"node": "p0", "value": [0.0, 0.0]}, {"node": "p2", "value": [0.0, 0.0]}],
                     "outputs": [{"id": "ext", "kind": "pair_extension", "nodes": ["p0", "p1"]}]},
        "task": {"examples": [{"targets": {"ext": target}}]},
        "protocol": {"kind": "hold", "beta": beta, "duration": 70.0, "initial": "rest"},
        "solver": tight_solver()
    });
    let (t, _, o) = samples_of(&nlv, 400);
    let kk = k + km + beta;
    let (e0, einf) = (beta * target / kk, beta * target / (k + beta));
    let tau_c = eta * kk / (km * (k + beta));
    let mut worst: f64 = 0.0;
    for (ti, oi) in t.iter().zip(&o) {
        // e(t) = (βT + k_M d(t))/K with d(t) = e∞ (1 − e^{−t/τ_c}).
        let d = einf * (1.0 - (-ti / tau_c).exp());
        let exact = (beta * target + km * d) / kk;
        worst = worst.max((oi[0] - exact).abs());
    }
    assert!(
        (o[0][0] - e0).abs() < 1e-10,
        "instant response {} vs {e0}",
        o[0][0]
    );
    assert!((o.last().unwrap()[0] - einf).abs() < 1e-4 * einf);
    assert!(worst < 1e-9, "max creep error {worst:e}");
}

/// Integral-feedback chemistry: the response x(t) to a unit step of s/s_ref is the step response
/// of the kernel; zero area (x → 0) and first moment `M_1 = −∫x dt = −τ_r` (the integrator time,
/// τ_x in the paper's eqs. 14–15).
#[test]
fn integral_feedback_kernel_moments() {
    let (tau_x, tau_r, v) = (0.25, 1.5, 0.8);
    let nlv = json!({
        "schema": "physlearn-netlist/1", "physics": "flow",
        "nodes": [{"id": "a"}, {"id": "b"}],
        "elements": [{"id": "c", "type": "mechanochemical", "nodes": ["a", "b"], "w": 1.0, "signal": "drop2", "learn": false,
                      "feedback": {"tau_x": tau_x, "tau_r": tau_r, "eps": 0.0, "s_ref": v * v}}],
        "boundary": {"sources": [{"node": "a", "value": v}, {"node": "b", "value": 0.0}]},
        "protocol": {"kind": "hold", "duration": 40.0, "initial": "rest"},
        "solver": {"method": "rk4", "rk4_h": 0.002}
    });
    let (t, st, _) = samples_of(&nlv, 20000);
    // Trapezoid integral of x.
    let mut integral = 0.0;
    for i in 1..t.len() {
        integral += 0.5 * (st[i][0] + st[i - 1][0]) * (t[i] - t[i - 1]);
    }
    let x_end = st.last().unwrap()[0];
    assert!(x_end.abs() < 1e-6, "area: x(∞) = {x_end:e}");
    assert!(
        (integral - tau_r).abs() < 1e-5,
        "M_1 = {} vs −τ_r = {}",
        -integral,
        -tau_r
    );
}

/// Single shunted element under a sawtooth: with I = 0, |Δw| = ρ τ_k A inside the window
/// [θ τ_f/τ_k, θ τ_s/τ_k] (slope 1), 0 below it (dead zone) and ≈ 0 above it (both ramps pass
/// the threshold and cancel). A source–resistor–element–ground divider; the output node is
/// nudged with a linear-η ramp (`g_ref` = Thévenin conductance) so the drop is linear in time.
#[test]
fn single_element_window_slope_one() {
    let (theta, tau_f, tau_s, rho) = (1e-3, 10.0, 300.0, 0.01);
    let lower = theta * tau_f; // τ_k = C/g_s = 1
    let upper = theta * tau_s;
    let eta_max = 0.5 / (0.5 + 2.0);
    let dw_for = |a: f64| -> f64 {
        // Target so that A = η_max |T − y_F| with y_F = 0.5.
        let target = 0.5 + a / eta_max;
        let v = divider(
            1.0,
            json!({"id": "e", "type": "nanofluidic_cm", "w": 1.0,
                   "arm": {"C": 0.05, "g_s": 0.05, "loading": false}, "signal": "abs",
                   "update": {"rho": rho, "theta": theta, "polarity": -1}}),
            target,
            json!({"kind": "sawtooth", "beta_max": 0.5, "tau_fast": tau_f, "tau_slow": tau_s,
                   "direction": "fast_rise", "ramp_shape": "linear_eta", "g_ref": 2.0, "cycles": 1}),
            Some(
                json!({"method": "dopri5", "rtol": 1e-10, "atol": 1e-14, "h_init": 0.01, "h_max": 0.5}),
            ),
        );
        let nl = netlist::from_value(&v).unwrap();
        let prep = prepare(&nl).unwrap();
        let out = run(
            &prep,
            RunOptions {
                cycles: Some(1),
                sampling: Sampling { per_segment: 0 },
                sample_cycles: 0,
            },
            |_, _, _| {},
        )
        .unwrap();
        let dw = out.cycles[0].dw()[1];
        dw / (rho * 1.0 * a)
    };
    // Inside the window: slope 1 (the only loss is the part of the kernel response below θ).
    for a in [5.0 * lower, 10.0 * lower, 0.3 * upper, 0.5 * upper] {
        let r = dw_for(a);
        assert!((r.abs() - 1.0).abs() < 0.06, "A = {a:e}: Δw/(ρτA) = {r}");
    }
    // Below the window: exactly zero (σ never exceeds θ).
    assert_eq!(dw_for(0.5 * lower), 0.0);
    // Above the window: the slow ramp passes the threshold too and cancels the fast one.
    let r = dw_for(4.0 * upper);
    assert!(r.abs() < 0.03, "above the window: {r}");
}

/// One τ per element with a leaky arm (docs/physics.md §1.3): the part of a leg's Δw that flips
/// with the direction of the leg is `ρ τ_e Δs` with `τ_e = τ_k (1 − I)(1 − 2I)` for the energy
/// signal and `τ_k (1 − I)` for the linear ones, `τ_k = C/(g_s + g_L)`, `I = g_L/(g_s + g_L)` —
/// the gain the ideal rule (and with it the gradient rate, the loop gain and the window) uses.
/// A divider drives one non-loading element along the same linear path slowly (free → clamped,
/// τ_s) and fast (clamped → free, τ_f) with the linear nonlinearity; the direction-even area
/// term grows with the leg's duration, so the two legs separate it from the odd part:
/// `Δw_f = ρ(a + e τ_f)`, `Δw_s = ρ(−a + e τ_s)`.
#[test]
fn leaky_arm_gain_matches_the_ideal_rule() {
    use physlearn::physics::dynamics::Layout;
    use physlearn::physics::equilibrium::Equilibrium;
    use physlearn::physics::statics::ideal_update;
    // The element (w = 0.05) sits below a 1000× stiffer resistor, so its own learning moves
    // its drop by ~1e-9 and the path of both legs is the same; η_max = β/(β + g_ref) = 0.1.
    let (tau_f, tau_s, rho, g_ref) = (1000.0, 10000.0, 1e-7, 1000.05);
    let beta = 0.1 * g_ref / 0.9;
    for (signal, g_leak) in [
        ("energy", 0.0),
        ("energy", 0.01),
        ("abs", 0.0),
        ("abs", 0.01),
    ] {
        let v = divider(
            1000.0,
            json!({"id": "e", "type": "nanofluidic_cm", "w": 0.05,
                   "arm": {"C": 0.05, "g_s": 0.05, "g_leak": g_leak, "loading": false},
                   "signal": signal, "w_min": 1e-3,
                   "update": {"rho": rho, "theta": 0.0, "polarity": 1, "nonlinearity": {"kind": "linear"}}}),
            2.0,
            json!({"kind": "sawtooth", "beta_max": beta, "tau_fast": tau_f, "tau_slow": tau_s,
                   "direction": "fast_fall", "ramp_shape": "linear_eta", "g_ref": g_ref, "cycles": 1}),
            Some(
                json!({"method": "dopri5", "rtol": 1e-10, "atol": 1e-14, "h_init": 0.01, "h_max": 2.0}),
            ),
        );
        let nl = netlist::from_value(&v).unwrap();
        let prep = prepare(&nl).unwrap();
        let net = &prep.network;
        let iw = Layout::new(net).w[1].expect("w of e is a state");
        let out = run(
            &prep,
            RunOptions {
                cycles: Some(1),
                sampling: Sampling { per_segment: 4 },
                sample_cycles: usize::MAX,
            },
            |_, _, _| {},
        )
        .unwrap();
        let w_at = |t: f64| {
            let s = out
                .runner
                .samples
                .iter()
                .find(|s| (s.t - t).abs() < 1e-9)
                .unwrap();
            s.state[iw]
        };
        let (w0, w1, w2) = (w_at(0.0), w_at(tau_s), w_at(tau_s + tau_f));
        let (dw_s, dw_f) = (w1 - w0, w2 - w1);
        let odd = (tau_s * dw_f - tau_f * dw_s) / (tau_s + tau_f);
        // The (s, τ_e) pair every formula uses, at the free and clamped DC drops.
        let mut eq = Equilibrium::new(net).unwrap();
        let p = net.initial_params();
        let iu = ideal_update(net, &mut eq, &p, beta, &net.examples[0]).unwrap();
        let el = &net.elements[1];
        let (sf, tau_e) = el.static_signal(&el.channels[0], iu.free.y[1], p.w[1], p.l[1]);
        let (sc, _) = el.static_signal(&el.channels[0], iu.clamped.y[1], p.w[1], p.l[1]);
        // The analytic gain, independent of the code's formula.
        let (tau_k, area) = (0.05 / (0.05 + g_leak), g_leak / (0.05 + g_leak));
        let expect = if signal == "energy" {
            tau_k * (1.0 - area) * (1.0 - 2.0 * area)
        } else {
            tau_k * (1.0 - area)
        };
        assert!(
            (tau_e / expect - 1.0).abs() < 1e-12,
            "{signal}: τ_e {tau_e} vs {expect}"
        );
        let ratio = odd / (rho * tau_e * (sf - sc));
        eprintln!(
            "{signal} g_L = {g_leak}: odd part {odd:.6e}, ρ τ_e Δs {:.6e}, ratio {ratio:.5}",
            rho * tau_e * (sf - sc)
        );
        assert!(
            (ratio - 1.0).abs() < 0.005,
            "{signal} g_L = {g_leak}: ratio {ratio}"
        );
        if signal == "energy" {
            // The ideal rule is the same number (s = y²).
            assert!(
                (iu.dw[1] / odd - 1.0).abs() < 0.005,
                "ideal rule {} vs {odd}",
                iu.dw[1]
            );
        }
    }
}

/// An energy-sensing arm whose leak is as large as its sense conductance has no contrast gain
/// (τ_e = τ_k (1 − I)(1 − 2I) ≤ 0 at I ≥ 1/2): the load report says so by name.
#[test]
fn leak_as_large_as_the_arm_is_flagged() {
    let report_for = |g_leak: f64| {
        let v = divider(
            1.0,
            json!({"id": "e", "type": "nanofluidic_cm", "w": 1.0,
                   "arm": {"C": 0.05, "g_s": 0.05, "g_leak": g_leak}, "update": {"rho": 1.0}}),
            0.6,
            json!({"kind": "sawtooth", "beta_max": 0.5, "cycles": 1}),
            None,
        );
        let prep = prepare(&netlist::from_value(&v).unwrap()).unwrap();
        prep.report
            .diagnostics
            .iter()
            .filter(|d| d.code == "leak_gain")
            .map(|d| d.message.clone())
            .collect::<Vec<_>>()
    };
    let flagged = report_for(0.06);
    assert_eq!(flagged.len(), 1, "{flagged:?}");
    assert!(flagged[0].contains("element 'e'"), "{}", flagged[0]);
    assert!(report_for(0.01).is_empty());
}

/// `leak_gating` (docs/physics.md §0.5) flags a leak exactly when it destroys learning: on T1
/// with a leak λ_L = g_L/g_s of 3e-4 no element is flagged and one cycle follows CL (cos > 0.98);
/// at 1e-3 the static filtered signal 2I(1 − I)y² passes θ/2 on some elements and the update
/// loses the contrastive direction (cos < 0.5).
#[test]
fn leak_gating_flags_the_collapse_of_learning() {
    let t1: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/netlists/t1_flow_allostery.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let at = |lambda: f64| {
        let mut v = t1.clone();
        for el in v["elements"].as_array_mut().unwrap() {
            if el.get("arm").is_some() {
                el["arm"]["g_leak"] = json!(lambda * 0.05);
            }
        }
        let model = physlearn::Model::from_value(v).unwrap();
        let flagged = model
            .diagnostics()
            .iter()
            .filter(|d| d.code == "leak_gating")
            .count();
        (flagged, model.compare(true).unwrap().cmp.cos_cl)
    };
    let (n, cos) = at(3e-4);
    assert!(n == 0 && cos > 0.98, "λ = 3e-4: {n} flagged, cos {cos}");
    let (n, cos) = at(1e-3);
    assert!(n > 0 && cos < 0.5, "λ = 1e-3: {n} flagged, cos {cos}");
}
