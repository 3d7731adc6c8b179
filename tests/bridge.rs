//! Bridge between the synapse lab and the network engine: the effective
//! memory kernel of a network element is extracted from its *simulated* step response (cell
//! average derivative), and the kernel-convolution prediction of Δw over a sawtooth (eq. 7,
//! synapse lab) is compared with the element's simulated Δw over one period of the same drive.

use physlearn::netlist;
use physlearn::physics::run::Sampling;
use physlearn::sim::{prepare, run, RunOptions};
use physlearn::synapse::kernel::{KernelSpec, SampledKernel};
use physlearn::synapse::protocol::{Sawtooth, SawtoothResponse};
use serde_json::{json, Value};

const DT: f64 = 0.01;

/// Simulate a two-node network whose element drop follows `waveform` (hold, β = 0) with RK4 at
/// step DT and return (times, packed states) at every step.
fn simulate(
    element: &Value,
    waveform: Value,
    duration: f64,
    initial: &str,
) -> (Vec<f64>, Vec<Vec<f64>>) {
    let v = netlist_of(element, waveform, duration, initial);
    simulate_netlist(&v)
}

/// The element's own kernel, as the network engine states it (the synapse lab's type).
fn element_kernel(element: &Value) -> KernelSpec {
    let v = netlist_of(
        element,
        json!({"kind": "step", "t0": 1.0, "before": 0.0, "after": 1.0}),
        1.0,
        "rest",
    );
    let nl = netlist::from_value(&v).unwrap();
    let el = &nl.network.elements[0];
    el.kernel(nl.network.initial_params().w[0]).unwrap()
}

/// The one object: the kernel extracted from the simulated step response equals the element's
/// own `KernelSpec` sampled on the same grid (area, first moment, values), and both predict the
/// same Δw.
fn assert_same_kernel(extracted: &SampledKernel, element: &Value) -> SampledKernel {
    let own = element_kernel(element).sample(DT).unwrap();
    let (a, b) = (extracted.area(), own.area());
    assert!((a - b).abs() < 2e-3, "area: extracted {a}, element {b}");
    let (m, n) = (extracted.first_moment(), own.first_moment());
    assert!(
        (m - n).abs() < 2e-2 * n.abs().max(0.1),
        "M1: extracted {m}, element {n}"
    );
    own
}

fn netlist_of(element: &Value, waveform: Value, duration: f64, initial: &str) -> Value {
    if element["type"] == "sls" {
        // Elastic: the bond a–b lies on the x axis; b is pulled along x by the waveform (a
        // multiplier of the imposed displacement [1, 0]); a free node c hangs on two springs so
        // that the network has free DOFs.
        json!({
            "schema": "physlearn-netlist/1", "physics": "elastic2d",
            "nodes": [{"id": "a", "pos": [0.0, 0.0]}, {"id": "b", "pos": [1.0, 0.0]}, {"id": "c", "pos": [0.5, 0.8]}],
            "elements": [element, {"id": "s0", "type": "spring", "nodes": ["a", "c"]}, {"id": "s1", "type": "spring", "nodes": ["b", "c"]}],
            "boundary": {"sources": [{"node": "b", "value": [1.0, 0.0], "waveform": waveform}, {"node": "a", "value": [0.0, 0.0]}]},
            "protocol": {"kind": "hold", "duration": duration, "initial": initial},
            "solver": {"method": "rk4", "rk4_h": DT}
        })
    } else {
        json!({
            "schema": "physlearn-netlist/1", "physics": "flow",
            "nodes": [{"id": "a"}, {"id": "b"}],
            "elements": [element],
            "boundary": {"sources": [{"node": "a", "value": 0.0, "waveform": waveform}, {"node": "b", "value": 0.0}]},
            "protocol": {"kind": "hold", "duration": duration, "initial": initial},
            "solver": {"method": "rk4", "rk4_h": DT}
        })
    }
}

fn simulate_netlist(v: &Value) -> (Vec<f64>, Vec<Vec<f64>>) {
    let nl = netlist::from_value(v).unwrap();
    let prep = prepare(&nl).unwrap();
    let out = run(
        &prep,
        RunOptions {
            cycles: None,
            sampling: Sampling {
                per_segment: 10_000_000,
            },
            sample_cycles: 1,
        },
        |_, _, _| {},
    )
    .unwrap();
    let s = &out.runner.samples;
    // Segments share their end points: keep strictly increasing times.
    let mut t = Vec::new();
    let mut st = Vec::new();
    for x in s {
        if t.last().is_none_or(|&l: &f64| x.t > l + 1e-12) {
            t.push(x.t);
            st.push(x.state.clone());
        }
    }
    (t, st)
}

/// Kernel of the filtered signal `sig(state)` from the response to a unit step of the element's
/// signal at t = 1 (from rest): `K_n = (X(t_{n+1}) − X(t_n))/Δt` with `X(t < 1) = 0`.
fn extract_kernel(element: &Value, sig: impl Fn(&[f64]) -> f64, support: f64) -> SampledKernel {
    let (t, st) = simulate(
        element,
        json!({"kind": "step", "t0": 1.0, "before": 0.0, "after": 1.0}),
        1.0 + support,
        "rest",
    );
    let i0 = t.iter().position(|&x| (x - 1.0).abs() < 1e-9).unwrap();
    let mut x: Vec<f64> = vec![0.0];
    // The sample at t = 1 belongs to the new segment's start (response already switched on for
    // elements with a direct path): use the states after the step.
    for s in &st[i0 + 1..t.len()] {
        x.push(sig(s));
    }
    let vals: Vec<f64> = x.windows(2).map(|w| (w[1] - w[0]) / DT).collect();
    SampledKernel::new(DT, vals).unwrap()
}

/// Simulated Δw over the last of `periods` periods of the sawtooth drive `s0 + A z(t)`.
fn simulated_dw(element: &Value, saw: Sawtooth, s0: f64, a: f64, periods: usize) -> f64 {
    let mut pts = Vec::new();
    for k in 0..=periods {
        let t0 = k as f64 * saw.period();
        pts.push(json!([t0, s0 - 0.5 * a]));
        if k < periods {
            pts.push(json!([t0 + saw.tau_f, s0 + 0.5 * a]));
        }
    }
    let (t, st) = simulate(
        element,
        json!({"kind": "pwl", "points": pts}),
        periods as f64 * saw.period(),
        "free_dc",
    );
    let w_at = |time: f64| {
        let i = t.iter().position(|&x| (x - time).abs() < 1e-6).unwrap();
        *st[i].last().unwrap()
    };
    let end = periods as f64 * saw.period();
    w_at(end) - w_at(end - saw.period())
}

/// Integral-feedback chemistry driven by `|y|` (so the signal is the prescribed drive itself).
#[test]
fn chemistry_kernel_predicts_simulated_update() {
    let (tau_x, tau_r, rho, theta) = (0.25, 1.0, 1.0, 0.03);
    let el = json!({"id": "c", "type": "mechanochemical", "nodes": ["a", "b"], "w": 1.0, "w_min": 1e-6, "w_max": 1e6, "bound": "hard",
                    "signal": "abs", "feedback": {"tau_x": tau_x, "tau_r": tau_r, "eps": 0.0, "s_ref": 1.0},
                    "update": {"rho": rho, "theta": theta, "polarity": 1}});
    // Packed state: [x, r, w].
    let k = extract_kernel(&el, |s| s[0], 30.0);
    assert!(k.area().abs() < 2e-3, "extracted area {}", k.area());
    assert!(
        (k.first_moment() + tau_r).abs() < 2e-2,
        "extracted M1 {}",
        k.first_moment()
    );
    let own = assert_same_kernel(&k, &el);
    let saw = Sawtooth::new(10.0, 100.0).unwrap();
    let resp = SawtoothResponse::new(&k, saw).unwrap();
    let own_resp = SawtoothResponse::new(&own, saw).unwrap();
    for (s0, a) in [(2.0, 1.0), (2.0, 2.5), (3.0, 0.5)] {
        let pred = rho * resp.delta_w(s0, a, theta).unwrap();
        let own_pred = rho * own_resp.delta_w(s0, a, theta).unwrap();
        assert!(
            (own_pred - pred).abs() < 0.02 * pred.abs(),
            "element kernel predicts {own_pred}, extracted kernel {pred}"
        );
        let sim = simulated_dw(&el, saw, s0, a, 3);
        assert!(
            pred.abs() > 0.1 * rho * tau_r * a,
            "prediction must be in the window: {pred}"
        );
        println!("s0 {s0} A {a}: simulated {sim:.6} predicted {pred:.6}");
        assert!(
            (sim - pred).abs() < 0.02 * pred.abs(),
            "A = {a}: simulated {sim} vs kernel prediction {pred}"
        );
    }
}

/// Shunted capacitor–memristor arm with the polar transducer (σ = u = y − z: kernel δ − e^{−t/τ}/τ,
/// whose delta the cell-average derivative captures in its first cell).
#[test]
fn shunted_arm_kernel_predicts_simulated_update() {
    let (c, gs, rho, theta) = (0.05, 0.05, 0.5, 0.02);
    let el = json!({"id": "m", "type": "nanofluidic_cm", "nodes": ["a", "b"], "w": 1.0, "w_min": 1e-6, "w_max": 1e6, "bound": "hard",
                    "arm": {"C": c, "g_s": gs}, "signal": "polar", "update": {"rho": rho, "theta": theta, "polarity": 1}});
    // Packed state: [z, w]; σ = y − z with y the drive (1 after the step).
    let k = extract_kernel(&el, |s| 1.0 - s[0], 15.0);
    assert!(k.area().abs() < 2e-3, "extracted area {}", k.area());
    let own = assert_same_kernel(&k, &el);
    let saw = Sawtooth::new(10.0, 100.0).unwrap();
    let resp = SawtoothResponse::new(&k, saw).unwrap();
    let own_resp = SawtoothResponse::new(&own, saw).unwrap();
    for (s0, a) in [(1.0, 1.0), (2.0, 0.6)] {
        let pred = rho * resp.delta_w(s0, a, theta).unwrap();
        let own_pred = rho * own_resp.delta_w(s0, a, theta).unwrap();
        assert!(
            (own_pred - pred).abs() < 0.02 * pred.abs(),
            "element kernel predicts {own_pred}, extracted kernel {pred}"
        );
        let sim = simulated_dw(&el, saw, s0, a, 3);
        assert!(pred.abs() > 0.1 * rho * a);
        println!("s0 {s0} A {a}: simulated {sim:.6} predicted {pred:.6}");
        assert!(
            (sim - pred).abs() < 0.02 * pred.abs(),
            "A = {a}: simulated {sim} vs kernel prediction {pred}"
        );
    }
}

/// Standard-linear-solid bond (learnable spring ∥ Maxwell arm) with the Maxwell-strain signal
/// (σ = u = e − d), its extension prescribed through an elastic2d source waveform.
#[test]
fn sls_arm_kernel_predicts_simulated_update() {
    let (km, eta, rho, theta) = (0.05, 0.05, 0.5, 0.02);
    let el = json!({"id": "bond", "type": "sls", "nodes": ["a", "b"], "k": 1.0, "w_min": 1e-6, "w_max": 1e6, "bound": "hard",
                    "learn": "stiffness", "arm": {"k_m": km, "eta": eta}, "signal": "polar",
                    "update": {"rho": rho, "theta": theta, "polarity": 1}});
    // Packed state: [d, k]; the extension e equals the drive (node a pinned at 0).
    let k = extract_kernel(&el, |s| 1.0 - s[0], 15.0);
    assert!(k.area().abs() < 2e-3, "extracted area {}", k.area());
    assert!(
        (k.first_moment() + eta / km).abs() < 2e-2,
        "extracted M1 {}",
        k.first_moment()
    );
    let own = assert_same_kernel(&k, &el);
    let saw = Sawtooth::new(10.0, 100.0).unwrap();
    let resp = SawtoothResponse::new(&k, saw).unwrap();
    let own_resp = SawtoothResponse::new(&own, saw).unwrap();
    for (s0, a) in [(1.0, 1.0), (0.5, 0.6)] {
        let pred = rho * resp.delta_w(s0, a, theta).unwrap();
        let own_pred = rho * own_resp.delta_w(s0, a, theta).unwrap();
        assert!(
            (own_pred - pred).abs() < 0.02 * pred.abs(),
            "element kernel predicts {own_pred}, extracted kernel {pred}"
        );
        let sim = simulated_dw(&el, saw, s0, a, 3);
        println!("SLS s0 {s0} A {a}: simulated {sim:.6} predicted {pred:.6}");
        assert!(pred.abs() > 0.1 * rho * a);
        assert!(
            (sim - pred).abs() < 0.02 * pred.abs(),
            "A = {a}: simulated {sim} vs kernel prediction {pred}"
        );
    }
}
