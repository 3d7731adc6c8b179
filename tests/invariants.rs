//! Invariants and cross-checks: Kirchhoff's current law / force balance on random networks,
//! energy balance over a cycle, quasi-static solve = long-time limit of the dynamics, Dopri5 vs
//! RK4 on one cycle.

use physlearn::generate::delaunay_edges;
use physlearn::netlist;
use physlearn::physics::equilibrium::{drops, outputs, ArmMode, Equilibrium};
use physlearn::physics::model::Network;
use physlearn::physics::run::Sampling;
use physlearn::physics::statics::solve_static;
use physlearn::sim::{prepare, run, RunOptions};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

/// A random flow network: `n` random points, Delaunay edges, random element kinds and values.
fn random_flow(seed: u64, n: usize) -> Value {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let pts: Vec<[f64; 2]> = (0..n).map(|_| [rng.random(), rng.random()]).collect();
    let edges = delaunay_edges(&pts);
    let elements: Vec<Value> = edges
        .iter()
        .enumerate()
        .map(|(e, &(i, j))| {
            let w: f64 = rng.random_range(0.2..3.0);
            let nodes = json!([format!("n{i}"), format!("n{j}")]);
            match rng.random_range(0..4) {
                0 => json!({"id": format!("e{e}"), "type": "resistor", "nodes": nodes, "w": w}),
                1 => json!({"id": format!("e{e}"), "type": "nanofluidic_cm", "nodes": nodes, "w": w,
                            "arm": {"C": rng.random_range(0.05..0.2), "g_s": rng.random_range(0.05..0.3), "g_leak": rng.random_range(0.0..0.05)}}),
                2 => json!({"id": format!("e{e}"), "type": "nanofluidic_cm", "topology": "series_leaky", "nodes": nodes, "w": w,
                            "arm": {"C": rng.random_range(0.01..0.2), "g_leak": rng.random_range(0.05..0.5)}}),
                _ => json!({"id": format!("e{e}"), "type": "mechanochemical", "nodes": nodes, "w": w}),
            }
        })
        .collect();
    json!({
        "schema": "physlearn-netlist/1", "physics": "flow",
        "nodes": pts.iter().enumerate().map(|(i, p)| json!({"id": format!("n{i}"), "pos": p})).collect::<Vec<_>>(),
        "elements": elements,
        "boundary": {"sources": [{"node": "n0", "value": 1.0}, {"node": "n1", "value": 0.0}, {"node": "n2", "value": 0.3}],
                     "outputs": [{"id": "o0", "kind": "node", "node": "n3"}, {"id": "o1", "kind": "node", "node": "n4"}]},
        "task": {"examples": [{"targets": {"o0": 0.2, "o1": 0.9}}]},
        "protocol": {"kind": "sawtooth", "cycles": 1}
    })
}

/// A random jittered elastic lattice with SLS bonds and springs; two pinned nodes.
fn random_elastic(seed: u64) -> Value {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut pts = Vec::new();
    for r in 0..5 {
        for c in 0..5 {
            pts.push([
                c as f64 + 0.5 * (r % 2) as f64 + rng.random_range(-0.15..0.15),
                r as f64 * 0.866 + rng.random_range(-0.15..0.15),
            ]);
        }
    }
    let edges: Vec<(usize, usize)> = delaunay_edges(&pts)
        .into_iter()
        .filter(|&(i, j)| {
            ((pts[i][0] - pts[j][0]).powi(2) + (pts[i][1] - pts[j][1]).powi(2)).sqrt() < 1.6
        })
        .collect();
    let elements: Vec<Value> = edges
        .iter()
        .enumerate()
        .map(|(e, &(i, j))| {
            let nodes = json!([format!("n{i}"), format!("n{j}")]);
            if rng.random_bool(0.5) {
                json!({"id": format!("b{e}"), "type": "sls", "nodes": nodes, "k": rng.random_range(0.3..2.0),
                       "rest_length": rng.random_range(-0.05..0.05), "learn": "both",
                       "arm": {"k_m": rng.random_range(0.02..0.2), "eta": rng.random_range(0.02..0.2), "k_leak": rng.random_range(0.0..0.02)}})
            } else {
                json!({"id": format!("b{e}"), "type": "spring", "nodes": nodes, "k": rng.random_range(0.3..2.0), "rest_length": rng.random_range(-0.05..0.05)})
            }
        })
        .collect();
    json!({
        "schema": "physlearn-netlist/1", "physics": "elastic2d",
        "nodes": pts.iter().enumerate().map(|(i, p)| json!({"id": format!("n{i}"), "pos": p})).collect::<Vec<_>>(),
        "elements": elements,
        "boundary": {"sources": [{"node": "n0", "value": [0.0, -0.2]}, {"node": "n10", "value": [0.05, 0.2]}],
                     "outputs": [{"id": "o", "kind": "pair_extension", "nodes": ["n4", "n24"]}]},
        "task": {"examples": [{"targets": {"o": 0.05}}]},
        "protocol": {"kind": "sawtooth", "beta_max": 0.2, "cycles": 1}
    })
}

/// Residual of KCL / force balance at every free DOF for arbitrary states and nudge.
fn balance_residual(net: &Network, eq: &mut Equilibrium, seed: u64) -> (f64, f64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = net.n_elements();
    let p = net.initial_params();
    let z: Vec<f64> = (0..n).map(|_| rng.random_range(-0.5..0.5)).collect();
    let beta: f64 = rng.random_range(0.0..2.0);
    let ex = &net.examples[0];
    let x = eq
        .solve(
            net,
            &p.w,
            &p.l,
            ArmMode::Dynamic(&z),
            beta,
            &ex.xd,
            &ex.targets,
        )
        .unwrap()
        .to_vec();
    let mut y = vec![0.0; n];
    drops(net, &x, &mut y);
    let o = outputs(net, &x);
    let mut f = vec![0.0; net.n_dof()];
    let mut scale: f64 = 0.0;
    for (e, el) in net.elements.iter().enumerate() {
        let (a, c) = el.conductances(p.w[e]);
        let t = a * (y[e] - p.l[e]) + c * (y[e] - z[e]);
        scale = scale.max(t.abs());
        for (d, q) in el.stencil.terms() {
            f[d] += q * t;
        }
    }
    for (k, out) in net.outputs.iter().enumerate() {
        let t = beta * (o[k] - ex.targets[k]);
        for (d, q) in out.stencil.terms() {
            f[d] += q * t;
        }
    }
    let mut worst: f64 = 0.0;
    for (d, m) in net.dof_map.iter().enumerate() {
        if m.is_ok() {
            worst = worst.max(f[d].abs());
        }
    }
    (worst, scale)
}

#[test]
fn kirchhoff_current_law_on_random_flow_networks() {
    for seed in 0..20 {
        let nl = netlist::from_value(&random_flow(seed, 12 + (seed as usize % 30))).unwrap();
        let net = &nl.network;
        let mut eq = Equilibrium::new(net).unwrap();
        let (r, s) = balance_residual(net, &mut eq, seed + 100);
        assert!(
            r <= 1e-12 * s.max(1.0),
            "seed {seed}: KCL residual {r:e} (current scale {s:e})"
        );
    }
}

#[test]
fn force_balance_on_random_elastic_networks() {
    for seed in 0..12 {
        let nl = netlist::from_value(&random_elastic(seed)).unwrap();
        let net = &nl.network;
        let mut eq = Equilibrium::new(net).unwrap();
        let (r, s) = balance_residual(net, &mut eq, seed + 7);
        assert!(
            r <= 1e-11 * s.max(1.0),
            "seed {seed}: force residual {r:e} (tension scale {s:e})"
        );
    }
}

/// Energy balance over one cycle for a network of shunted elements (no leak): the power the
/// elements absorb, Σ_e y_e t_e, equals the Joule dissipation plus the rate of change of the
/// energy stored in the arm capacitors, so over the cycle
/// `∫ Σ_e c_e (y_e − z_e) z_e dt = Σ_e ½ C_e (z_e(T)² − z_e(0)²)`.
#[test]
fn energy_balance_over_a_cycle() {
    let mut v = random_flow(3, 16);
    for el in v["elements"].as_array_mut().unwrap() {
        *el = json!({"id": el["id"], "type": "nanofluidic_cm", "nodes": el["nodes"], "w": el["w"],
                     "arm": {"C": 0.05, "g_s": 0.05}, "update": {"rho": 2.0}});
    }
    v["protocol"] = json!({"kind": "sawtooth", "beta_max": 1.0, "tau_fast": 5.0, "tau_slow": 20.0, "cycles": 1});
    v["solver"] = json!({"method": "rk4", "rk4_h": 0.005});
    let nl = netlist::from_value(&v).unwrap();
    let prep = prepare(&nl).unwrap();
    let net = &prep.network;
    let out = run(
        &prep,
        RunOptions {
            cycles: None,
            sampling: Sampling {
                per_segment: 1_000_000,
            },
            sample_cycles: 10,
        },
        |_, _, _| {},
    )
    .unwrap();
    let s = &out.runner.samples;
    let layout = &out.runner.dynamics.layout;
    let power = |k: usize| -> f64 {
        net.elements
            .iter()
            .enumerate()
            .map(|(e, el)| {
                let z = s[k].state[layout.z[e].unwrap()];
                let c = el.arm.unwrap().g.unwrap();
                c * (s[k].y[e] - z) * z
            })
            .sum()
    };
    let mut absorbed = 0.0;
    for k in 1..s.len() {
        if s[k].t > s[k - 1].t {
            absorbed += 0.5 * (power(k) + power(k - 1)) * (s[k].t - s[k - 1].t);
        }
    }
    let stored: f64 = net
        .elements
        .iter()
        .enumerate()
        .map(|(e, el)| {
            let i = layout.z[e].unwrap();
            0.5 * el.arm.unwrap().cap * (s.last().unwrap().state[i].powi(2) - s[0].state[i].powi(2))
        })
        .sum();
    assert!(
        stored.abs() > 1e-6,
        "the test must store energy: {stored:e}"
    );
    assert!(
        (absorbed - stored).abs() < 1e-4 * stored.abs(),
        "∫P = {absorbed:e}, ΔU = {stored:e}"
    );
}

/// The quasi-static (DC) solve equals the long-time limit of the dynamics (arms with leaks,
/// series_leaky elements, SLS bonds with rest lengths), at β > 0.
#[test]
fn static_solve_equals_long_time_limit() {
    for (v, beta) in [(random_flow(5, 14), 0.7), (random_elastic(2), 0.3)] {
        let mut v = v;
        for el in v["elements"].as_array_mut().unwrap() {
            if let Some(m) = el.as_object_mut() {
                if m.get("type") != Some(&json!("resistor"))
                    && m.get("type") != Some(&json!("spring"))
                {
                    m.insert(
                        "learn".into(),
                        if m.get("type") == Some(&json!("sls")) {
                            json!("none")
                        } else {
                            json!(false)
                        },
                    );
                }
            }
        }
        v["protocol"] = json!({"kind": "hold", "beta": beta, "duration": 150.0});
        v["solver"] = json!({"method": "rk4", "rk4_h": 0.02});
        let nl = netlist::from_value(&v).unwrap();
        let prep = prepare(&nl).unwrap();
        let net = &prep.network;
        let out = run(
            &prep,
            RunOptions {
                cycles: None,
                sampling: Sampling { per_segment: 2 },
                sample_cycles: 1,
            },
            |_, _, _| {},
        )
        .unwrap();
        let o_dyn = &out.runner.samples.last().unwrap().outputs;
        let mut eq = Equilibrium::new(net).unwrap();
        let st = solve_static(net, &mut eq, &net.initial_params(), beta, &net.examples[0]).unwrap();
        for (a, b) in o_dyn.iter().zip(&st.o) {
            assert!((a - b).abs() < 1e-8, "dynamic {a} vs static {b}");
        }
    }
}

/// Dopri5 and fixed-step RK4 at a small step agree on one cycle's Δw within 1 %.
#[test]
fn dopri5_vs_rk4_one_cycle() {
    let base: Value =
        serde_json::from_str(&std::fs::read_to_string("netlists/t1_flow_allostery.json").unwrap())
            .unwrap();
    let dw = |solver: Value| -> Vec<f64> {
        let mut v = base.clone();
        for (k, x) in solver.as_object().unwrap() {
            v["solver"][k] = x.clone();
        }
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
        out.cycles[0].dw()
    };
    let a = dw(json!({"method": "dopri5"}));
    let b = dw(json!({"method": "rk4", "rk4_h": 0.05}));
    // Dop853 sits at its stability limit in the slow segment (its stiffness test fires there).
    let c = dw(json!({"method": "dop853", "stiffness_check": false}));
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let diff =
        |x: &[f64], y: &[f64]| norm(&x.iter().zip(y).map(|(p, q)| p - q).collect::<Vec<_>>());
    assert!(norm(&a) > 0.0);
    assert!(
        diff(&a, &b) < 0.01 * norm(&b),
        "dopri5 vs rk4: {:e} of {:e}",
        diff(&a, &b),
        norm(&b)
    );
    assert!(
        diff(&c, &b) < 0.01 * norm(&b),
        "dop853 vs rk4: {:e} of {:e}",
        diff(&c, &b),
        norm(&b)
    );
}

/// Factor reuse (Woodbury + PCG guard) gives the same trajectory as refactorising at every RHS
/// evaluation, on a lattice whose conductances keep changing (v_left = 2.5).
#[test]
fn factor_reuse_matches_refactorisation() {
    let mut v = physlearn::generate::lattice(12, 2.5, None).unwrap();
    v["protocol"]["cycles"] = json!(3);
    let w_end = |reuse: bool| -> Vec<f64> {
        let mut v = v.clone();
        v["solver"]["factor_reuse"] = json!(reuse);
        let nl = netlist::from_value(&v).unwrap();
        let prep = prepare(&nl).unwrap();
        let out = run(
            &prep,
            RunOptions {
                cycles: None,
                sampling: Sampling { per_segment: 0 },
                sample_cycles: 0,
            },
            |_, _, _| {},
        )
        .unwrap();
        let (cg, refac) = out.runner.dynamics.reuse_stats();
        if reuse {
            assert!(cg > 0, "the weights must drift so that PCG is exercised");
            assert!(refac >= 3, "one factor per cycle at least");
        }
        out.final_params.w
    };
    let (a, b) = (w_end(true), w_end(false));
    let w0 = netlist::from_value(&v).unwrap().network.initial_params().w;
    let moved = a
        .iter()
        .zip(&w0)
        .filter(|(x, y)| (*x - *y).abs() > 1e-9)
        .count();
    assert!(moved > 10, "learning must be active: {moved} weights moved");
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    assert!(
        worst < 1e-9,
        "reuse vs refactor: max |Δw| difference {worst:e}"
    );
}
