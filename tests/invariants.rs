//! Invariants and cross-checks: Kirchhoff's current law / force balance on random networks
//! (recomputed from the element laws, independently of the assembler), energy balance over a
//! cycle, quasi-static solve = long-time limit of the dynamics, Dopri5 vs RK4 on one cycle,
//! factor reuse vs refactorisation, and the fused uniform right-hand-side loop vs the general
//! one.

mod common;

use common::{random_elastic, random_flow};
use physlearn::netlist;
use physlearn::physics::equilibrium::{ArmMode, Equilibrium};
use physlearn::physics::model::Network;
use physlearn::physics::run::Sampling;
use physlearn::physics::statics::solve_static;
use physlearn::sim::{prepare, run, RunOptions};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

/// Which element law a netlist element obeys, with its parameters as written in the netlist.
enum Law {
    /// `t = w y` (resistor, mechano-chemical edge: the chemistry does not load the network).
    Direct { w: f64 },
    /// Shunted capacitor–memristor: `t = w y + g_s (y − z)` (the leak sits across C).
    Shunted { w: f64, g_s: f64 },
    /// Series-leaky capacitor–memristor: `t = w (y − z)` (memristor in series with C ∥ g_L).
    SeriesLeaky { w: f64 },
    /// Spring: `t = k (y − l)`.
    Spring { k: f64, l: f64 },
    /// SLS bond: `t = k (y − l) + k_m (y − z)` (the leak sits across the dashpot).
    Sls { k: f64, l: f64, k_m: f64 },
}

fn law_of(el: &Value) -> Law {
    let num = |v: &Value| v.as_f64().expect("a number in the test netlist");
    match (el["type"].as_str(), el["topology"].as_str()) {
        (Some("resistor" | "mechanochemical"), _) => Law::Direct { w: num(&el["w"]) },
        (Some("nanofluidic_cm"), Some("series_leaky")) => Law::SeriesLeaky { w: num(&el["w"]) },
        (Some("nanofluidic_cm"), None) => Law::Shunted {
            w: num(&el["w"]),
            g_s: num(&el["arm"]["g_s"]),
        },
        (Some("spring"), _) => Law::Spring {
            k: num(&el["k"]),
            l: num(&el["rest_length"]),
        },
        (Some("sls"), _) => Law::Sls {
            k: num(&el["k"]),
            l: num(&el["rest_length"]),
            k_m: num(&el["arm"]["k_m"]),
        },
        other => panic!("no law for {other:?}"),
    }
}

impl Law {
    /// Current / tension at drop or extension `y` and arm state `z`.
    fn t(&self, y: f64, z: f64) -> f64 {
        match *self {
            Law::Direct { w } => w * y,
            Law::Shunted { w, g_s } => w * y + g_s * (y - z),
            Law::SeriesLeaky { w } => w * (y - z),
            Law::Spring { k, l } => k * (y - l),
            Law::Sls { k, l, k_m } => k * (y - l) + k_m * (y - z),
        }
    }
}

/// Residual of KCL / force balance at every free node for arbitrary arm states and nudge,
/// computed from the netlist (`v`) and the element laws alone: the assembler's solution `x` is
/// the only thing taken from the library (besides the node and element order, looked up by
/// name). Flow: one potential per node, `y = v_i − v_j`, the net current out of every free node
/// (elements plus the nudge `β (o − target)` at an output node) vanishes. Elastic (linearised):
/// two displacements per node, `y = n̂·(u_j − u_i)` with `n̂` the unit vector from the
/// reference position of i to that of j; the bond pulls i by `t n̂` and j by `−t n̂`, the nudge
/// on a pair extension acts the same way. Returns (worst residual, largest |t|).
fn balance_residual(v: &Value, net: &Network, eq: &mut Equilibrium, seed: u64) -> (f64, f64) {
    let elastic = v["physics"] == "elastic2d";
    let dim = if elastic { 2 } else { 1 };
    let node = |name: &str| {
        net.node_names
            .iter()
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("node {name}"))
    };
    let pos: Vec<[f64; 2]> = net
        .node_names
        .iter()
        .map(|name| {
            let n = v["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|n| n["id"] == name.as_str())
                .unwrap();
            [n["pos"][0].as_f64().unwrap(), n["pos"][1].as_f64().unwrap()]
        })
        .collect();
    // The geometric factor of a two-node drop on the DOFs of (i, j): flow (1, −1); elastic
    // (−n̂, +n̂).
    let dir = |i: usize, j: usize| -> [f64; 2] {
        let (dx, dy) = (pos[j][0] - pos[i][0], pos[j][1] - pos[i][1]);
        let len = (dx * dx + dy * dy).sqrt();
        [dx / len, dy / len]
    };
    let drop = |x: &[f64], i: usize, j: usize| -> f64 {
        if elastic {
            let n = dir(i, j);
            n[0] * (x[2 * j] - x[2 * i]) + n[1] * (x[2 * j + 1] - x[2 * i + 1])
        } else {
            x[i] - x[j]
        }
    };
    // Adds `t ∂y/∂x` of a drop y between (i, j) to the residual.
    let spread = |f: &mut [f64], i: usize, j: usize, t: f64| {
        if elastic {
            let n = dir(i, j);
            for k in 0..2 {
                f[2 * i + k] -= t * n[k];
                f[2 * j + k] += t * n[k];
            }
        } else {
            f[i] += t;
            f[j] -= t;
        }
    };

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
    assert_eq!(x.len(), dim * net.node_names.len());

    // Sources: their DOFs hold the netlist's values and are not balanced.
    let mut fixed = vec![false; x.len()];
    for s in v["boundary"]["sources"].as_array().unwrap() {
        let i = node(s["node"].as_str().unwrap());
        let vals: Vec<f64> = match &s["value"] {
            Value::Array(a) => a.iter().map(|c| c.as_f64().unwrap()).collect(),
            c => vec![c.as_f64().unwrap()],
        };
        assert_eq!(vals.len(), dim);
        for (k, val) in vals.iter().enumerate() {
            fixed[dim * i + k] = true;
            assert!((x[dim * i + k] - val).abs() < 1e-15, "source {}", s["node"]);
        }
    }

    let mut f = vec![0.0; x.len()];
    let mut scale: f64 = 0.0;
    for el in v["elements"].as_array().unwrap() {
        let name = el["id"].as_str().unwrap();
        let e = net
            .elements
            .iter()
            .position(|m| m.name == name)
            .unwrap_or_else(|| panic!("element {name}"));
        let (i, j) = (
            node(el["nodes"][0].as_str().unwrap()),
            node(el["nodes"][1].as_str().unwrap()),
        );
        let t = law_of(el).t(drop(&x, i, j), z[e]);
        scale = scale.max(t.abs());
        spread(&mut f, i, j, t);
    }
    let targets = &v["task"]["examples"][0]["targets"];
    for out in v["boundary"]["outputs"].as_array().unwrap() {
        let target = targets[out["id"].as_str().unwrap()].as_f64().unwrap();
        match out["kind"].as_str() {
            Some("node") => {
                let i = node(out["node"].as_str().unwrap());
                f[i] += beta * (x[i] - target);
            }
            Some("pair_extension") => {
                let (a, b) = (
                    node(out["nodes"][0].as_str().unwrap()),
                    node(out["nodes"][1].as_str().unwrap()),
                );
                spread(&mut f, a, b, beta * (drop(&x, a, b) - target));
            }
            k => panic!("output kind {k:?}"),
        }
    }
    let worst = (0..x.len())
        .filter(|&d| !fixed[d])
        .map(|d| f[d].abs())
        .fold(0.0, f64::max);
    (worst, scale)
}

#[test]
fn kirchhoff_current_law_on_random_flow_networks() {
    for seed in 0..20 {
        let v = random_flow(seed, 12 + (seed as usize % 30));
        let nl = netlist::from_value(&v).unwrap();
        let net = &nl.network;
        let mut eq = Equilibrium::new(net).unwrap();
        let (r, s) = balance_residual(&v, net, &mut eq, seed + 100);
        assert!(
            r <= 1e-12 * s.max(1.0),
            "seed {seed}: KCL residual {r:e} (current scale {s:e})"
        );
    }
}

#[test]
fn force_balance_on_random_elastic_networks() {
    for seed in 0..12 {
        let v = random_elastic(seed);
        let nl = netlist::from_value(&v).unwrap();
        let net = &nl.network;
        let mut eq = Equilibrium::new(net).unwrap();
        let (r, s) = balance_residual(&v, net, &mut eq, seed + 7);
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
    let base = common::shipped("t1_flow_allostery");
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

/// The fused right-hand-side loop of uniform networks (one arm state and one weight per element,
/// `Uniform` in src/physics/dynamics.rs) and the general loops give the same derivatives, energy
/// quadratures included, and the same cycle, on the same network: lattice-8 (one parameter
/// record for every element, the hoisted loop) and a random shunted network with per-element
/// arm parameters and rates (the table-indexed loop). Both paths perform the same floating-point
/// operations, so 1e-14 relative is a bound with room, not a fit.
#[test]
fn uniform_rhs_loop_matches_the_general_loops() {
    use physlearn::physics::run::Runner;
    use physlearn::protocol::{BetaRamp, Segment, SegmentKind};

    let mut lattice = physlearn::generate::lattice(8, 10.0, None).unwrap();
    lattice["protocol"]["cycles"] = json!(1);
    let mut shunted = random_flow(11, 24);
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for el in shunted["elements"].as_array_mut().unwrap() {
        *el = json!({"id": el["id"], "type": "nanofluidic_cm", "nodes": el["nodes"], "w": el["w"],
                     "arm": {"C": rng.random_range(0.05..0.2), "g_s": rng.random_range(0.05..0.3),
                             "g_leak": rng.random_range(0.0..0.05)},
                     "update": {"rho": rng.random_range(0.5..3.0)}});
    }
    for (name, v) in [("lattice-8", lattice), ("random shunted", shunted)] {
        let prep = prepare(&netlist::from_value(&v).unwrap()).unwrap();
        let net = &prep.network;
        let p0 = net.initial_params();
        let mut fast = Runner::new(net, prep.solver, p0.clone()).unwrap();
        let mut general = Runner::new(net, prep.solver, p0).unwrap();
        general.dynamics.disable_uniform_path();
        assert!(fast.dynamics.uses_uniform_path(), "{name}: not uniform");
        assert!(!general.dynamics.uses_uniform_path());
        assert!(fast.dynamics.energy_on() && general.dynamics.energy_on());

        // Derivatives at random states (arm states of either sign, weights moved by ±30 %) and
        // nudges, in the fast and the slow half of a cycle.
        let base = fast.dynamics.layout.pack(&fast.params, &fast.states);
        let len = fast.dynamics.layout.len + fast.dynamics.n_quad();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut active = 0;
        for trial in 0..6 {
            let mut st = base.clone();
            for e in 0..net.n_elements() {
                let (iz, iw) = (
                    fast.dynamics.layout.z[e].unwrap(),
                    fast.dynamics.layout.w[e].unwrap(),
                );
                st[iz] = rng.random_range(-1.0..1.0);
                st[iw] *= rng.random_range(0.7..1.3);
            }
            let mut v = st.as_slice().to_vec();
            v.resize(len, 0.0);
            let seg = Segment {
                t0: 0.0,
                t1: 10.0,
                kind: if trial % 2 == 0 {
                    SegmentKind::Fast
                } else {
                    SegmentKind::Slow
                },
                beta: BetaRamp::Linear {
                    b0: 0.0,
                    b1: rng.random_range(0.1..2.0),
                },
                from: 0,
                to: 0,
            };
            let t = rng.random_range(0.0..10.0);
            let (mut a, mut b) = (vec![0.0; len], vec![0.0; len]);
            fast.dynamics.rhs(&seg, t, &v, &mut a);
            general.dynamics.rhs(&seg, t, &v, &mut b);
            let scale = a.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
            assert!(scale > 0.0 && a.iter().all(|x| x.is_finite()), "{name}");
            for (i, (x, y)) in a.iter().zip(&b).enumerate() {
                assert!(
                    (x - y).abs() <= 1e-14 * scale,
                    "{name}, trial {trial}, component {i}: uniform {x:e} vs general {y:e}"
                );
            }
            let w_rates = (0..net.n_elements())
                .filter(|&e| a[fast.dynamics.layout.w[e].unwrap()] != 0.0)
                .count();
            active += w_rates;
        }
        assert!(active > 0, "{name}: no weight moved in any trial");

        // One whole cycle through the integrator.
        let saw = prep.sawtooth().unwrap();
        let none = Sampling { per_segment: 0 };
        let ca = fast.run_cycle(saw, saw.beta_max, none).unwrap();
        let cb = general.run_cycle(saw, saw.beta_max, none).unwrap();
        let (da, db) = (ca.dw(), cb.dw());
        let scale = da.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
        assert!(scale > 0.0, "{name}: learning must be active");
        for (e, (x, y)) in da.iter().zip(&db).enumerate() {
            assert!(
                (x - y).abs() <= 1e-14 * scale,
                "{name}, Δw of element {e}: uniform {x:e} vs general {y:e}"
            );
        }
        assert_eq!(ca.stats.rhs_evals, cb.stats.rhs_evals, "{name}");
    }
}
