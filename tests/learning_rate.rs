//! `rho: "auto"` (docs/physics.md §1.5): one rate for the auto channels, set so that the loop
//! gain equals `rho_auto.loop_gain`, checked against the loop gain the load report computes
//! independently from the resolved rates, and against the one-cycle slope it predicts.

mod common;

use common::{prep, shipped};
use physlearn::netlist;
use serde_json::{json, Value};

fn with_auto_rho(mut v: Value, target: Option<f64>) -> Value {
    for el in v["elements"].as_array_mut().unwrap() {
        if el.get("update").is_some() {
            el["update"]["rho"] = json!("auto");
        }
    }
    if let Some(g) = target {
        v["rho_auto"] = json!({"loop_gain": g});
    }
    v
}

#[test]
fn rho_auto_sets_the_loop_gain() {
    for (name, target) in [
        ("t1_flow_allostery", None),
        ("t1_flow_allostery", Some(0.3)),
        ("t3_elastic_allostery", Some(0.1)),
    ] {
        let p = prep(&with_auto_rho(shipped(name), target));
        let g = p.report.loop_gain.expect("loop gain computed");
        let want = target.unwrap_or(0.1);
        assert!(
            (g / want - 1.0).abs() < 1e-9,
            "{name}: loop gain {g} vs target {want}"
        );
        // One rate for every auto channel, reported by name.
        let rates: Vec<f64> = p
            .network
            .elements
            .iter()
            .flat_map(|e| e.channels.iter().map(|c| c.rho))
            .collect();
        assert!(
            rates.iter().all(|r| *r == rates[0] && *r > 0.0),
            "{name}: {rates:?}"
        );
        let note = p
            .report
            .diagnostics
            .iter()
            .find(|d| d.code == "rho_auto")
            .expect("rho_auto info");
        assert!(
            note.message.contains(&format!("{:.4e}", rates[0])),
            "{}",
            note.message
        );
    }
    // The resolved rate is the shipped one scaled by target/G_shipped (G is linear in ρ).
    let shipped_t1 = prep(&shipped("t1_flow_allostery"));
    let g0 = shipped_t1.report.loop_gain.unwrap();
    let auto = prep(&with_auto_rho(shipped("t1_flow_allostery"), Some(0.2)));
    let rho = auto.network.elements[0].channels[0].rho;
    assert!(
        (rho / (0.85 * 0.2 / g0) - 1.0).abs() < 1e-9,
        "ρ = {rho}, shipped G = {g0}"
    );
}

#[test]
fn rho_auto_is_refused_where_it_has_no_meaning() {
    let err_of = |v: &Value| match physlearn::sim::prepare(&netlist::from_value(v).unwrap()) {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    };
    // A rest-length channel: the loop gain is defined for weights.
    let mut v = shipped("t3_elastic_allostery_rest_length");
    v["elements"][0]["update"]["rho"] = json!("auto");
    let msg = err_of(&v);
    assert!(
        msg.contains("element 'b0', rest-length channel: rho")
            && msg.contains("weight channels only"),
        "{msg}"
    );
    // A hold protocol: there is no sawtooth free state to set it by.
    let mut v = with_auto_rho(shipped("t1_flow_allostery"), None);
    v["protocol"] = json!({"kind": "hold", "duration": 1.0});
    let msg = err_of(&v);
    assert!(msg.contains("needs a sawtooth protocol"), "{msg}");
    // A bad target is a netlist fault with its path.
    let mut v = with_auto_rho(shipped("t1_flow_allostery"), None);
    v["rho_auto"] = json!({"loop_gain": -1});
    let faults = netlist::from_value(&v).unwrap_err().to_string();
    assert!(faults.contains("rho_auto.loop_gain"), "{faults}");
}

/// The load report's `cycles_per_decade` (gradient descent at the mapped rate, linear estimate)
/// against the gradient-descent reference learner's first 20 cycles, and the `slow_learning`
/// warning on stiffness learning at its loop-gain cap (T3, G ≈ 1).
#[test]
fn cycles_per_decade_predicts_gradient_descent() {
    use physlearn::learning::{Session, SessionOptions};
    use physlearn::with_system;
    for (name, auto) in [
        ("t3_elastic_allostery", Some(0.4)),
        ("t3_elastic_allostery", None),
        ("t2_flow_regression", None),
    ] {
        let v = match auto {
            Some(g) => with_auto_rho(shipped(name), Some(g)),
            None => shipped(name),
        };
        let predicted = prep(&v).report.cycles_per_decade.expect("estimate");
        let model = physlearn::Model::from_value(v).unwrap();
        let cycles = 20;
        let opts = SessionOptions {
            cycles: Some(cycles),
            ..SessionOptions::default()
        };
        let (c0, c1) = with_system!(model.system(), |sys| {
            let mut s = Session::new(sys, &opts, "t", model.sha256()).unwrap();
            while !s.done() {
                s.step().unwrap();
            }
            let ck = s.checkpoint();
            (ck.cost0, ck.last_cost_gd)
        });
        let measured = cycles as f64 / (c0 / c1).log10();
        eprintln!("{name} ({auto:?}): predicted {predicted:.1} cycles/decade, GD {measured:.1}");
        assert!(
            (measured / predicted - 1.0).abs() < 0.1,
            "{name}: predicted {predicted}, measured {measured}"
        );
    }
    let slow = prep(&shipped("t3_elastic_allostery"));
    let d = slow
        .report
        .diagnostics
        .iter()
        .find(|d| d.code == "slow_learning")
        .expect("slow_learning");
    assert!(d.message.contains("already caps ρ"), "{}", d.message);
    assert!(prep(&shipped("t1_flow_allostery"))
        .report
        .diagnostics
        .iter()
        .all(|d| d.code != "slow_learning"));
}
