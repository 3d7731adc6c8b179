//! Seeded generators of the canonical netlists (docs/physics.md §7) and the small per-family
//! examples shipped in `netlists/`. `physlearn generate <name>` writes them; the shipped files
//! are exactly these outputs, so they can be rebuilt.
//!
//! Random draws use ChaCha8 seeded with the seeds of docs/physics.md §7 (the *values* therefore
//! differ from the Python prototype's NumPy draws; edge counts are reported in `meta`).

use crate::netlist::{self, NetlistError};
use crate::physics::equilibrium::Equilibrium;
use crate::physics::statics::solve_static;
use crate::physics::PhysicsError;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

/// Errors of the generators.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("generated netlist is invalid: {0}")]
    Netlist(#[from] NetlistError),
    #[error("teacher solve failed: {0}")]
    Physics(#[from] PhysicsError),
    #[error("{0}")]
    Invalid(String),
}

/// Learning rate of the multi-example flow tasks and of the annealed / chemical T1 variants:
/// α = 2 β ρ τ_k = 2 at β = 0.5 (loop gain G_max ≈ 0.16 on T1).
const T1_RHO: f64 = 2.0;
/// T1 (shunted): nudge β = 2 and ρ = 0.85 (α = 3.4, G_max ≈ 0.067). The one-cycle slope against
/// CL is set by the self-interaction (I + ρτ·2YRY)⁻¹ (docs/physics.md §1.5): at β = 0.5 a slope ≥ 0.85
/// needs ρ ≤ 1, which trains only ×7.5 in 100 cycles; the larger nudge doubles the contrasts at
/// the same loop gain (README, "T1: slope vs training speed").
const T1_BETA: f64 = 2.0;
const T1_SHUNTED_RHO: f64 = 0.85;

/// Names accepted by [`by_name`].
pub const NAMES: &[&str] = &[
    "t1_flow_allostery",
    "t1_flow_allostery_annealed",
    "t2_flow_regression",
    "t3_elastic_allostery",
    "t3_elastic_allostery_rest_length",
    "t4_flow_classifier",
    "mechanochemical_t1",
    "series_edge",
    "maxwell_edge",
];

/// Build a named netlist.
pub fn by_name(name: &str) -> Result<Value, GenerateError> {
    by_name_seeded(name, &Value::Null)
}

/// The seeds a generator draws with: `meta.seeds` of its output, any of which may be overridden.
struct Seeds<'a>(&'a Value);

impl Seeds<'_> {
    /// The seed `name` (default: the documented one).
    fn get(&self, name: &str, default: u64) -> u64 {
        self.0.get(name).and_then(Value::as_u64).unwrap_or(default)
    }
}

/// Build a named netlist with some of its seeds replaced: `seeds` is an object like the
/// output's `meta.seeds` (missing names keep their defaults; `null` keeps them all). The output
/// records the seeds it used in `meta.seeds`.
pub fn by_name_seeded(name: &str, seeds: &Value) -> Result<Value, GenerateError> {
    if let Some(m) = seeds.as_object() {
        let known = match by_name_seeded(name, &Value::Null)?.pointer("/meta/seeds") {
            Some(Value::Object(k)) => k.keys().cloned().collect::<Vec<_>>(),
            _ => Vec::new(),
        };
        for (k, v) in m {
            if !known.contains(k) {
                return Err(GenerateError::Invalid(format!(
                    "{name} has no seed {k:?} (seeds: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )));
            }
            if v.as_u64().is_none() {
                return Err(GenerateError::Invalid(format!(
                    "{name}: seed {k} = {v} is not an integer ≥ 0"
                )));
            }
        }
    }
    let seeds = &Seeds(seeds);
    match name {
        "t1_flow_allostery" => t1_flow_allostery(FlowElement::Shunted, seeds),
        "t1_flow_allostery_annealed" => {
            // T1 with β annealing β_n = min(β0 (C0/C_n)^{1/2}, 8) over 200 cycles.
            // Annealing needs headroom in η = β/(β + G_th): it starts at β0 = 0.5 (ρ = 2).
            // From β0 = 2 the same schedule reaches only ×484 at cap 32 (η0 = 0.67 already).
            let mut v = t1_flow_allostery(FlowElement::Shunted, seeds)?;
            v["protocol"]["beta_max"] = json!(0.5);
            if let Some(els) = v["elements"].as_array_mut() {
                for el in els {
                    el["update"]["rho"] = json!(T1_RHO);
                }
            }
            v["meta"]["note"] =
                json!("T1 with error-annealed beta from beta0 = 0.5, rho = 2 (alpha = 2)");
            v["protocol"]["beta_schedule"] = json!({"kind": "error_annealed", "cap": 8.0});
            v["protocol"]["cycles"] = json!(200);
            v["meta"]["generator"] = json!("physlearn generate t1_flow_allostery_annealed");
            Ok(v)
        }
        "mechanochemical_t1" => t1_flow_allostery(FlowElement::Mechanochemical, seeds),
        "t2_flow_regression" => t2_flow_regression(seeds),
        "t3_elastic_allostery" => t3_elastic_allostery(seeds),
        "t3_elastic_allostery_rest_length" => {
            // The same task learned through the bonds' rest lengths (plastic flow of the SLS
            // dashpot): tension signal, π = +1 with fast_rise, ρ = 0.2.
            let mut v = t3_elastic_allostery(seeds)?;
            if let Some(els) = v["elements"].as_array_mut() {
                for el in els {
                    el["learn"] = json!("rest_length");
                    el["update"]["polarity"] = json!(1);
                    el["update"]["rho"] = json!(0.2);
                }
            }
            v["protocol"]["direction"] = json!("fast_rise");
            v["protocol"]["cycles"] = json!(100);
            v["meta"]["generator"] = json!("physlearn generate t3_elastic_allostery_rest_length");
            v["meta"]["note"] =
                json!("rest-length learning (tension signal, Hebbian + fast_rise, rho = 0.2)");
            Ok(v)
        }
        "t4_flow_classifier" => Ok(t4_flow_classifier(seeds)),
        "series_edge" => Ok(series_edge()),
        "maxwell_edge" => Ok(maxwell_edge()),
        other => Err(GenerateError::Invalid(format!(
            "unknown netlist \"{other}\" (expected one of: {})",
            NAMES.join(", ")
        ))),
    }
}

/// Delaunay edges (i < j, sorted) of a point set.
pub fn delaunay_edges(pts: &[[f64; 2]]) -> Vec<(usize, usize)> {
    let p: Vec<delaunator::Point> = pts
        .iter()
        .map(|q| delaunator::Point { x: q[0], y: q[1] })
        .collect();
    let tri = delaunator::triangulate(&p);
    let mut edges = Vec::new();
    for t in tri.triangles.chunks(3) {
        for (a, b) in [(t[0], t[1]), (t[1], t[2]), (t[2], t[0])] {
            edges.push((a.min(b), a.max(b)));
        }
    }
    edges.sort_unstable();
    edges.dedup();
    edges
}

fn nearest(pts: &[[f64; 2]], x: f64, y: f64, exclude: &[usize]) -> usize {
    let mut best = (0, f64::INFINITY);
    for (i, p) in pts.iter().enumerate() {
        if exclude.contains(&i) {
            continue;
        }
        let d = (p[0] - x).powi(2) + (p[1] - y).powi(2);
        if d < best.1 {
            best = (i, d);
        }
    }
    best.0
}

/// A netlist for static solves only (the teacher, probes): its targets are not known yet, so
/// it holds β instead of running the sawtooth (which needs a target for every output).
fn static_probe(v: &Value) -> Value {
    let mut p = v.clone();
    p["protocol"] = json!({"kind": "hold", "duration": 1.0});
    p
}

/// Free-state outputs of a netlist (teacher targets).
fn teacher_outputs(v: &Value) -> Result<Vec<Vec<f64>>, GenerateError> {
    let nl = netlist::from_value(&static_probe(v))?;
    let net = &nl.network;
    let mut eq = Equilibrium::new(net)?;
    let p = net.initial_params();
    let mut out = Vec::new();
    for ex in &net.examples {
        out.push(solve_static(net, &mut eq, &p, 0.0, ex)?.o);
    }
    Ok(out)
}

#[derive(Copy, Clone, PartialEq)]
enum FlowElement {
    Shunted,
    Mechanochemical,
}

/// Is `seed` one of the seeds generator `name` records in `meta.seeds`?
pub fn check_seed(name: &str, seed: &str) -> Result<(), GenerateError> {
    if !NAMES.contains(&name) {
        return Err(GenerateError::Invalid(format!(
            "`physlearn generate {name}` takes no seeds (seeded generators: t1_flow_allostery, t1_flow_allostery_annealed, mechanochemical_t1, t2_flow_regression, t3_elastic_allostery, t3_elastic_allostery_rest_length, t4_flow_classifier)"
        )));
    }
    by_name_seeded(name, &json!({ seed: 0 })).map(|_| ())
}

struct FlowGraph {
    pts: Vec<[f64; 2]>,
    edges: Vec<(usize, usize)>,
}

fn random_flow_graph(n: usize, seed: u64) -> FlowGraph {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let pts: Vec<[f64; 2]> = (0..n)
        .map(|_| [rng.random::<f64>(), rng.random::<f64>()])
        .collect();
    let edges = delaunay_edges(&pts);
    FlowGraph { pts, edges }
}

fn nodes_json(pts: &[[f64; 2]]) -> Value {
    Value::Array(
        pts.iter()
            .enumerate()
            .map(|(i, p)| json!({"id": format!("n{i}"), "pos": [round6(p[0]), round6(p[1])]}))
            .collect(),
    )
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

fn element_json(
    kind: FlowElement,
    e: usize,
    (i, j): (usize, usize),
    w: f64,
    extra: &Value,
) -> Value {
    let mut o = match kind {
        FlowElement::Shunted => json!({
            "id": format!("e{e}"), "type": "nanofluidic_cm", "topology": "shunted",
            "nodes": [format!("n{i}"), format!("n{j}")], "w": w,
        }),
        FlowElement::Mechanochemical => json!({
            "id": format!("e{e}"), "type": "mechanochemical",
            "nodes": [format!("n{i}"), format!("n{j}")], "w": w,
        }),
    };
    if let (Some(m), Some(x)) = (o.as_object_mut(), extra.as_object()) {
        for (k, v) in x {
            m.insert(k.clone(), v.clone());
        }
    }
    o
}

/// T1 flow allostery (docs/physics.md §7.1): 40 random points (seed 1), Delaunay edges, source near
/// (0, 0.5) at V = 1, ground near (1, 0.5), 3 outputs; teacher `w*` log-uniform in [0.2, 5]
/// (seed 101) gives the targets; student `w0 ~ U[0.5, 1.5]` (seed 102).
fn t1_flow_allostery(kind: FlowElement, seeds: &Seeds) -> Result<Value, GenerateError> {
    let sd = [
        ("points", seeds.get("points", 1)),
        ("outputs", seeds.get("outputs", 11)),
        ("teacher", seeds.get("teacher", 101)),
        ("student", seeds.get("student", 102)),
    ];
    let g = random_flow_graph(40, sd[0].1);
    let src = nearest(&g.pts, 0.0, 0.5, &[]);
    let gnd = nearest(&g.pts, 1.0, 0.5, &[src]);
    let mut orng = ChaCha8Rng::seed_from_u64(sd[1].1);
    let mut outs: Vec<usize> = Vec::new();
    while outs.len() < 3 {
        let k = orng.random_range(0..g.pts.len());
        if k != src && k != gnd && !outs.contains(&k) {
            outs.push(k);
        }
    }
    let mut trng = ChaCha8Rng::seed_from_u64(sd[2].1);
    let teacher: Vec<f64> = g
        .edges
        .iter()
        .map(|_| (0.2f64.ln() + trng.random::<f64>() * (5.0f64.ln() - 0.2f64.ln())).exp())
        .collect();
    let mut srng = ChaCha8Rng::seed_from_u64(sd[3].1);
    let student: Vec<f64> = g.edges.iter().map(|_| 0.5 + srng.random::<f64>()).collect();
    let boundary = json!({
        "sources": [{"node": format!("n{src}"), "value": 1.0}, {"node": format!("n{gnd}"), "value": 0.0}],
        "outputs": outs.iter().enumerate().map(|(k, o)| json!({"id": format!("o{k}"), "kind": "node", "node": format!("n{o}")})).collect::<Vec<_>>(),
    });
    let build = |w: &[f64], extra: &Value| -> Value {
        json!({
            "schema": "physlearn-netlist/1",
            "physics": "flow",
            "nodes": nodes_json(&g.pts),
            "elements": g.edges.iter().enumerate().map(|(e, &ij)| element_json(kind, e, ij, round6(w[e]), extra)).collect::<Vec<_>>(),
            "boundary": boundary,
        })
    };
    let teacher_v = build(&teacher, &json!({}));
    let targets = teacher_outputs(&teacher_v)?;
    let target_obj: serde_json::Map<String, Value> = targets[0]
        .iter()
        .enumerate()
        .map(|(k, t)| (format!("o{k}"), json!(round6(*t))))
        .collect();
    let (extra, name, note, beta) = match kind {
        FlowElement::Shunted => (
            json!({"arm": {"C": 0.05, "g_s": 0.05}, "signal": "energy", "update": {"rho": T1_SHUNTED_RHO, "theta": "auto", "polarity": 1}}),
            "t1_flow_allostery",
            "shunted capacitor-memristor, energy signal, Hebbian + fast_fall, beta = 2, rho = 0.85, alpha = 2 beta rho tau_k = 3.4 (loop gain G_max ~ 0.067; at beta = 0.5, rho = 10 (alpha = 10) G_max ~ 0.8 and the self-interaction halves the step, physics.md 1.5)",
            T1_BETA,
        ),
        FlowElement::Mechanochemical => {
            // s_ref = max free-state y^2 of the student; rho from alpha = 2 beta rho tau_r / s_ref = 10.
            let probe = build(&student, &json!({}));
            let nl = netlist::from_value(&static_probe(&probe))?;
            let net = &nl.network;
            let mut eq = Equilibrium::new(net)?;
            let free = solve_static(net, &mut eq, &net.initial_params(), 0.0, &net.examples[0])?;
            let s_ref = free.y.iter().map(|y| y * y).fold(0.0, f64::max);
            // Same α = 2 β ρ τ as the electrical element: ρ_chem = α s_ref / (2 β τ_r).
            let alpha = 2.0 * 0.5 * T1_RHO * 1.0;
            let rho = alpha * s_ref / (2.0 * 0.5 * 1.0);
            (
                json!({"signal": "drop2", "feedback": {"tau_x": 0.25, "tau_r": 1.0, "eps": 0.0, "s_ref": round6(s_ref), "c0": 1.0},
                       "update": {"rho": round6(rho), "theta": "auto", "polarity": 1}}),
                "mechanochemical_t1",
                "integral-feedback chemistry (tau_x 0.25, tau_r 1, eps 0) driven by drop^2, alpha = 2 beta rho tau_r / s_ref = 2",
                0.5,
            )
        }
    };
    let mut v = build(&student, &extra);
    if let Some(m) = v.as_object_mut() {
        m.insert(
            "task".into(),
            json!({"examples": [{"targets": target_obj}]}),
        );
        m.insert(
            "protocol".into(),
            json!({"kind": "sawtooth", "beta_max": beta, "tau_fast": 10.0, "tau_slow": 300.0,
                   "direction": "fast_fall", "ramp_shape": "linear_beta", "cycles": 1}),
        );
        m.insert("theta_auto".into(), json!({"c": 3.0}));
        m.insert(
            "solver".into(),
            json!({"method": "dopri5", "rtol": 1e-6, "atol": 1e-9, "h_init": 0.1, "h_max": 3.0}),
        );
        m.insert(
            "meta".into(),
            json!({"generator": format!("physlearn generate {name}"), "task": "T1 flow allostery (physics.md 7.1)",
                   "seeds": sd.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
                   "n_nodes": g.pts.len(), "n_edges": g.edges.len(), "note": note}),
        );
    }
    Ok(v)
}

/// T2 multi-example flow regression (docs/physics.md §7.2): the T1 graph with two input sources and a
/// ground, two outputs, four examples with inputs U[0.2, 1] (seed 202), teacher targets.
fn t2_flow_regression(seeds: &Seeds) -> Result<Value, GenerateError> {
    let sd = [
        ("points", seeds.get("points", 1)),
        ("teacher", seeds.get("teacher", 201)),
        ("student", seeds.get("student", 102)),
        ("inputs", seeds.get("inputs", 202)),
    ];
    let g = random_flow_graph(40, sd[0].1);
    let s1 = nearest(&g.pts, 0.0, 0.25, &[]);
    let s2 = nearest(&g.pts, 0.0, 0.75, &[s1]);
    let gnd = nearest(&g.pts, 1.0, 0.5, &[s1, s2]);
    let o1 = nearest(&g.pts, 0.7, 0.2, &[s1, s2, gnd]);
    let o2 = nearest(&g.pts, 0.7, 0.8, &[s1, s2, gnd, o1]);
    let mut trng = ChaCha8Rng::seed_from_u64(sd[1].1);
    let teacher: Vec<f64> = g
        .edges
        .iter()
        .map(|_| (0.2f64.ln() + trng.random::<f64>() * (5.0f64.ln() - 0.2f64.ln())).exp())
        .collect();
    let mut srng = ChaCha8Rng::seed_from_u64(sd[2].1);
    let student: Vec<f64> = g.edges.iter().map(|_| 0.5 + srng.random::<f64>()).collect();
    let mut xrng = ChaCha8Rng::seed_from_u64(sd[3].1);
    let inputs: Vec<(f64, f64)> = (0..4)
        .map(|_| {
            (
                round6(0.2 + 0.8 * xrng.random::<f64>()),
                round6(0.2 + 0.8 * xrng.random::<f64>()),
            )
        })
        .collect();
    let examples_in: Vec<Value> = inputs
        .iter()
        .map(|(a, b)| json!({"sources": {format!("n{s1}"): a, format!("n{s2}"): b}, "targets": {"o0": 0.0, "o1": 0.0}}))
        .collect();
    let build = |w: &[f64], examples: Vec<Value>| -> Value {
        json!({
            "schema": "physlearn-netlist/1",
            "physics": "flow",
            "nodes": nodes_json(&g.pts),
            "elements": g.edges.iter().enumerate().map(|(e, &ij)| element_json(FlowElement::Shunted, e, ij, round6(w[e]),
                &json!({"arm": {"C": 0.05, "g_s": 0.05}, "signal": "energy", "update": {"rho": T1_RHO, "theta": "auto", "polarity": 1}}))).collect::<Vec<_>>(),
            "boundary": {
                "sources": [{"node": format!("n{s1}"), "value": 1.0}, {"node": format!("n{s2}"), "value": 1.0}, {"node": format!("n{gnd}"), "value": 0.0}],
                "outputs": [{"id": "o0", "kind": "node", "node": format!("n{o1}")}, {"id": "o1", "kind": "node", "node": format!("n{o2}")}],
            },
            "task": {"examples": examples},
        })
    };
    let targets = teacher_outputs(&build(&teacher, examples_in))?;
    let examples: Vec<Value> = inputs
        .iter()
        .zip(&targets)
        .map(|((a, b), t)| json!({"sources": {format!("n{s1}"): a, format!("n{s2}"): b}, "targets": {"o0": round6(t[0]), "o1": round6(t[1])}}))
        .collect();
    let mut v = build(&student, examples);
    if let Some(m) = v.as_object_mut() {
        m.insert(
            "protocol".into(),
            json!({"kind": "sawtooth", "beta_max": 0.5, "tau_fast": 10.0, "tau_slow": 300.0, "direction": "fast_fall",
                   "switch": {"mode": "slow_ramp", "tau_switch": "auto", "safety": 1.5}, "cycles": 4}),
        );
        // The slow switch (τ_sw ~ 10⁴ τ_k) pins Dopri5 at its stability limit for ~10⁵ steps.
        m.insert(
            "solver".into(),
            json!({"method": "dopri5", "stiffness_check": false, "max_steps": 1000000}),
        );
        m.insert(
            "meta".into(),
            json!({"generator": "physlearn generate t2_flow_regression", "task": "T2 multi-example flow regression (physics.md 7.2)",
                   "seeds": sd.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(), "n_edges": g.edges.len()}),
        );
    }
    Ok(v)
}

/// T3 elastic allostery with SLS bonds (docs/physics.md §7.3): 6×6 jittered triangular lattice (seed
/// 3, jitter 0.3), Delaunay bonds shorter than 1.6; the input pair near (x_min, y_mid ± 1) is
/// pulled apart by 1 (pinned), the output pair near (x_max, y_mid ± 1) targets extension +0.05.
fn t3_elastic_allostery(seeds: &Seeds) -> Result<Value, GenerateError> {
    let lattice_seed = seeds.get("lattice", 3);
    let mut rng = ChaCha8Rng::seed_from_u64(lattice_seed);
    let mut pts = Vec::new();
    let h = 3f64.sqrt() / 2.0;
    for r in 0..6 {
        for c in 0..6 {
            let x = c as f64 + if r % 2 == 1 { 0.5 } else { 0.0 };
            let y = r as f64 * h;
            let jx = (rng.random::<f64>() - 0.5) * 0.3;
            let jy = (rng.random::<f64>() - 0.5) * 0.3;
            pts.push([x + jx, y + jy]);
        }
    }
    let edges: Vec<(usize, usize)> = delaunay_edges(&pts)
        .into_iter()
        .filter(|&(i, j)| {
            ((pts[i][0] - pts[j][0]).powi(2) + (pts[i][1] - pts[j][1]).powi(2)).sqrt() < 1.6
        })
        .collect();
    let xmin = pts.iter().map(|p| p[0]).fold(f64::INFINITY, f64::min);
    let xmax = pts.iter().map(|p| p[0]).fold(f64::NEG_INFINITY, f64::max);
    let ymid = 0.5
        * (pts.iter().map(|p| p[1]).fold(f64::INFINITY, f64::min)
            + pts.iter().map(|p| p[1]).fold(f64::NEG_INFINITY, f64::max));
    let a = nearest(&pts, xmin, ymid - 1.0, &[]);
    let b = nearest(&pts, xmin, ymid + 1.0, &[a]);
    let c = nearest(&pts, xmax, ymid - 1.0, &[a, b]);
    let d = nearest(&pts, xmax, ymid + 1.0, &[a, b, c]);
    // Pull the input pair apart by 1 along its axis.
    let (dx, dy) = (pts[b][0] - pts[a][0], pts[b][1] - pts[a][1]);
    let len = (dx * dx + dy * dy).sqrt();
    let (nx, ny) = (dx / len, dy / len);
    let elements: Vec<Value> = edges
        .iter()
        .enumerate()
        .map(|(e, &(i, j))| {
            json!({"id": format!("b{e}"), "type": "sls", "nodes": [format!("n{i}"), format!("n{j}")], "k": 1.0,
                   "learn": "stiffness", "arm": {"k_m": 0.05, "eta": 0.05}, "signal": "energy",
                   "update": {"rho": 5.0, "theta": "auto", "polarity": 1}})
        })
        .collect();
    let v = json!({
        "schema": "physlearn-netlist/1",
        "physics": "elastic2d",
        "nodes": nodes_json(&pts),
        "elements": elements,
        "boundary": {
            "sources": [{"node": format!("n{a}"), "value": [round6(-0.5 * nx), round6(-0.5 * ny)]},
                        {"node": format!("n{b}"), "value": [round6(0.5 * nx), round6(0.5 * ny)]}],
            "outputs": [{"id": "out", "kind": "pair_extension", "nodes": [format!("n{c}"), format!("n{d}")]}],
        },
        "task": {"examples": [{"targets": {"out": 0.05}}]},
        "protocol": {"kind": "sawtooth", "beta_max": 0.2, "tau_fast": 10.0, "tau_slow": 300.0, "direction": "fast_fall", "cycles": 1},
        "theta_auto": {"c": 3.0},
        "meta": {"generator": "physlearn generate t3_elastic_allostery", "task": "T3 elastic allostery, SLS bonds (physics.md 7.3)",
                 "seeds": {"lattice": lattice_seed}, "jitter": 0.3, "n_nodes": pts.len(), "n_bonds": edges.len(),
                 "note": "stiffness learning with the energy signal; alpha = 2 beta rho tau_k = 2 (loop gain G_max ~ 1)"},
    });
    // Record the initial output in meta.
    let o = teacher_outputs(&v)?;
    let mut v = v;
    if let Some(m) = v.get_mut("meta").and_then(Value::as_object_mut) {
        m.insert("initial_output".into(), json!(round6(o[0][0])));
    }
    Ok(v)
}

/// A resistor ladder with one paper-literal series capacitor–memristor edge, driven by a sine
/// source (transient study; the element has no DC path and is flagged).
fn series_edge() -> Value {
    json!({
        "schema": "physlearn-netlist/1",
        "physics": "flow",
        "nodes": [{"id": "in", "pos": [0.0, 0.0]}, {"id": "a", "pos": [1.0, 0.0]}, {"id": "b", "pos": [2.0, 0.0]}, {"id": "gnd", "pos": [3.0, 0.0]}],
        "elements": [
            {"id": "r0", "type": "resistor", "nodes": ["in", "a"], "w": 1.0},
            {"id": "m", "type": "nanofluidic_cm", "topology": "series", "nodes": ["a", "b"], "w": 1.0,
             "arm": {"C": 1.0}, "signal": "polar", "update": {"rho": 0.05, "theta": 0.05, "polarity": 1}},
            {"id": "r1", "type": "resistor", "nodes": ["a", "gnd"], "w": 1.0},
            {"id": "r2", "type": "resistor", "nodes": ["b", "gnd"], "w": 1.0}
        ],
        "boundary": {
            "sources": [{"node": "in", "value": 0.0, "waveform": {"kind": "sine", "offset": 0.0, "amplitude": 1.0, "period": 20.0}},
                        {"node": "gnd", "value": 0.0}],
            "outputs": [{"id": "vb", "kind": "node", "node": "b"}]
        },
        "protocol": {"kind": "hold", "beta": 0.0, "duration": 100.0},
        "record": {"elements": ["m"], "samples_per_segment": 400},
        "meta": {"generator": "physlearn generate series_edge",
                 "note": "paper-literal series C-memristor (no DC path, flagged no_dc_path); the memristor voltage is a high-pass of the drop (tau = C/g)"}
    })
}

/// A rigid triangle pair with one pure Maxwell bond (paper-literal, no static stiffness),
/// stretched by a fixed displacement of one node: the Maxwell stress relaxes with τ = η/k_m.
fn maxwell_edge() -> Value {
    json!({
        "schema": "physlearn-netlist/1",
        "physics": "elastic2d",
        "nodes": [{"id": "p0", "pos": [0.0, 0.0]}, {"id": "p1", "pos": [1.0, 0.0]}, {"id": "p2", "pos": [0.5, 0.866025]}, {"id": "p3", "pos": [1.5, 0.866025]}, {"id": "p4", "pos": [2.0, 0.0]}],
        "elements": [
            {"id": "s01", "type": "spring", "nodes": ["p0", "p1"], "k": 1.0},
            {"id": "s02", "type": "spring", "nodes": ["p0", "p2"], "k": 1.0},
            {"id": "s12", "type": "spring", "nodes": ["p1", "p2"], "k": 1.0},
            {"id": "s13", "type": "spring", "nodes": ["p1", "p3"], "k": 1.0},
            {"id": "s34", "type": "spring", "nodes": ["p3", "p4"], "k": 1.0},
            {"id": "mx", "type": "maxwell", "nodes": ["p2", "p3"], "k_m": 1.0, "eta": 2.0, "learn": false}
        ],
        "boundary": {
            "sources": [{"node": "p0", "value": [0.0, 0.0]}, {"node": "p1", "value": [0.0, 0.0]}, {"node": "p2", "value": [0.0, 0.0]}, {"node": "p4", "value": [0.0, 0.0]}],
            "outputs": [{"id": "ext", "kind": "pair_extension", "nodes": ["p2", "p3"]}]
        },
        "protocol": {"kind": "hold", "beta": 0.5, "duration": 20.0, "initial": "rest"},
        "task": {"examples": [{"targets": {"ext": 0.1}}]},
        "record": {"elements": ["mx"], "samples_per_segment": 200},
        "meta": {"generator": "physlearn generate maxwell_edge",
                 "note": "pure Maxwell bond (flagged no_static_stiffness); the output pair is pulled towards extension 0.1 by a spring beta = 0.5 to the target from rest: the Maxwell stress relaxes with tau = eta/k_m"}
    })
}

/// T4 two-class classification with a resistor-like network (docs/physics.md §7.4), on a seeded
/// synthetic stand-in for Iris: two 4D Gaussian blobs (σ = 1, means 2σ apart in every feature,
/// seed 401), 50 + 50 training and 25 + 25 test examples, features min–max scaled to [0, 1].
/// Inputs: 4 feature nodes + a bias node at 1 + ground; two outputs with targets (0.6, 0.4) for
/// class 0 and (0.4, 0.6) for class 1; the predicted class is the larger output. Shunted elements
/// on a 30-node Delaunay graph (seed 402); one example per cycle with idealised resets (a
/// physical slow switch between 100 examples would need ~10⁴ τ_k per switch).
fn t4_flow_classifier(seeds: &Seeds) -> Value {
    let sd = [
        ("data", seeds.get("data", 401)),
        ("graph", seeds.get("graph", 402)),
        ("student", seeds.get("student", 403)),
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(sd[0].1);
    // Box–Muller normal draws.
    let mut normal = move || {
        let u1: f64 = rng.random::<f64>().max(1e-300);
        let u2: f64 = rng.random();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    };
    let mut data: Vec<([f64; 4], usize)> = Vec::new();
    for (class, n) in [(0usize, 75usize), (1, 75)] {
        for _ in 0..n {
            let mut x = [0.0; 4];
            for v in x.iter_mut() {
                *v = normal() + 2.0 * class as f64;
            }
            data.push((x, class));
        }
    }
    let mut lo = [f64::INFINITY; 4];
    let mut hi = [f64::NEG_INFINITY; 4];
    for (x, _) in &data {
        for k in 0..4 {
            lo[k] = lo[k].min(x[k]);
            hi[k] = hi[k].max(x[k]);
        }
    }
    for (x, _) in data.iter_mut() {
        for k in 0..4 {
            x[k] = round6((x[k] - lo[k]) / (hi[k] - lo[k]));
        }
    }
    // Interleave classes: train = first 50 of each class, test = last 25 of each.
    let (c0, c1): (Vec<_>, Vec<_>) = data.iter().partition(|d| d.1 == 0);
    let mut train = Vec::new();
    for i in 0..50 {
        train.push(c0[i]);
        train.push(c1[i]);
    }
    let mut test = Vec::new();
    for i in 50..75 {
        test.push(c0[i]);
        test.push(c1[i]);
    }
    let g = random_flow_graph(30, sd[1].1);
    let mut inputs = Vec::new();
    for k in 0..5 {
        let y = (k as f64 + 0.5) / 5.0;
        inputs.push(nearest(&g.pts, 0.0, y, &inputs));
    }
    let mut used = inputs.clone();
    let gnd = nearest(&g.pts, 1.0, 0.5, &used);
    used.push(gnd);
    // One output close to the inputs, one in the middle: their difference can then weigh the
    // features against the bias (a far-apart pair near ground only learns the mean level).
    let o0 = nearest(&g.pts, 0.25, 0.5, &used);
    used.push(o0);
    let o1 = nearest(&g.pts, 0.6, 0.5, &used);
    let mut srng = ChaCha8Rng::seed_from_u64(sd[2].1);
    let ex = |x: &[f64; 4], class: usize| {
        let mut src = serde_json::Map::new();
        for k in 0..4 {
            src.insert(format!("n{}", inputs[k]), json!(x[k]));
        }
        let (t0, t1) = if class == 0 { (0.6, 0.4) } else { (0.4, 0.6) };
        json!({"sources": src, "targets": {"o0": t0, "o1": t1}})
    };
    json!({
        "schema": "physlearn-netlist/1",
        "physics": "flow",
        "nodes": nodes_json(&g.pts),
        "elements": g.edges.iter().enumerate().map(|(e, &ij)| element_json(FlowElement::Shunted, e, ij, round6(0.5 + srng.random::<f64>()),
            &json!({"arm": {"C": 0.05, "g_s": 0.05}, "signal": "energy", "update": {"rho": 1.0, "theta": "auto", "polarity": 1}}))).collect::<Vec<_>>(),
        "boundary": {
            "sources": inputs.iter().enumerate().map(|(k, n)| json!({"node": format!("n{n}"), "value": if k == 4 { 1.0 } else { 0.5 }}))
                .chain(std::iter::once(json!({"node": format!("n{gnd}"), "value": 0.0}))).collect::<Vec<_>>(),
            "outputs": [{"id": "o0", "kind": "node", "node": format!("n{o0}")}, {"id": "o1", "kind": "node", "node": format!("n{o1}")}],
        },
        "task": {
            "examples": train.iter().map(|(x, c)| ex(x, *c)).collect::<Vec<_>>(),
            "test_examples": test.iter().map(|(x, c)| ex(x, *c)).collect::<Vec<_>>(),
        },
        // τ_s/τ_f = 100 (θ̂ = 0.03): θ is set by the largest contrast of all 100 examples, and at
        // τ_s/τ_f = 30 most edges of the typical example sit below the lower window edge.
        "protocol": {"kind": "sawtooth", "beta_max": 0.5, "tau_fast": 10.0, "tau_slow": 1000.0, "direction": "fast_fall",
                     "switch": {"mode": "reset_idealized"}, "cycles": 2000},
        "meta": {"generator": "physlearn generate t4_flow_classifier", "task": "T4 two-class classification (physics.md 7.4), synthetic Gaussian blobs",
                 "seeds": sd.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(), "n_edges": g.edges.len(),
                 "inputs": inputs.iter().map(|n| format!("n{n}")).collect::<Vec<_>>(), "bias_node": format!("n{}", inputs[4]),
                 "classes": "targets (0.6, 0.4) = class 0, (0.4, 0.6) = class 1; predicted class = larger output"},
    })
}

/// The `lattice-n` benchmark workload of `bench/reference/README.md` as a netlist: an n×n grid
/// (nodes `k = r n + c`, edges in the reference's order: for each node the horizontal edge then
/// the vertical one), every edge a leaky series memristor (`series_leaky`, C = 1, G_L = 0.01)
/// with the paper-literal polar signal and the dead-zone rule `ρ sign(v) max(|v| − θ, 0)`
/// (ρ = 0.01, θ = 0.05), hard bound g ≥ g_min = 1e-3; column 0 at `v_left`, column n−1 at 0;
/// output node (n/2, n/2) nudged to 0.8 by a sawtooth β (0 → 1 in 1, back in 9; 20 periods);
/// capacitors start discharged. `g0` gives the initial conductances in edge order (the
/// reference's file format); without it they are drawn U[0.5, 1.5] from ChaCha8 (seed
/// 20240601 + n), which differs from the reference's NumPy draw.
pub fn lattice(n: usize, v_left: f64, g0: Option<Vec<f64>>) -> Result<Value, GenerateError> {
    lattice_form(n, v_left, g0, false)
}

/// Networks with at least this many elements are written in the compact form by `generate`
/// (model card + element group) unless asked otherwise.
pub const COMPACT_MIN_EDGES: usize = 10_000;

/// The `lattice-n` netlist of [`lattice`] in the compact form: one model card (`memristor`)
/// and one element group (edge list of node indices, per-edge initial conductances). It loads
/// to the same network as the verbose form (test `compact_lattice_equals_verbose`).
pub fn lattice_compact(
    n: usize,
    v_left: f64,
    g0: Option<Vec<f64>>,
) -> Result<Value, GenerateError> {
    lattice_form(n, v_left, g0, true)
}

fn lattice_form(
    n: usize,
    v_left: f64,
    g0: Option<Vec<f64>>,
    compact: bool,
) -> Result<Value, GenerateError> {
    if n < 3 {
        return Err(GenerateError::Invalid(format!(
            "lattice needs n ≥ 3, got {n}"
        )));
    }
    let n_edges = 2 * n * (n - 1);
    let g0 = match g0 {
        Some(g) if g.len() == n_edges => g,
        Some(g) => {
            return Err(GenerateError::Invalid(format!(
                "g0 has {} values, lattice-{n} has {n_edges} edges",
                g.len()
            )))
        }
        None => {
            let mut rng = ChaCha8Rng::seed_from_u64(20240601 + n as u64);
            (0..n_edges).map(|_| 0.5 + rng.random::<f64>()).collect()
        }
    };
    let mut edges = Vec::with_capacity(n_edges);
    for r in 0..n {
        for c in 0..n {
            let k = r * n + c;
            if c < n - 1 {
                edges.push((k, k + 1));
            }
            if r < n - 1 {
                edges.push((k, k + n));
            }
        }
    }
    let out = (n / 2) * n + n / 2;
    let nodes: Vec<Value> = (0..n * n)
        .map(|k| json!({"id": format!("n{k}"), "pos": [(k % n) as f64, (k / n) as f64]}))
        .collect();
    // The element parameters shared by every edge (the model card of the compact form).
    let card = json!({"type": "nanofluidic_cm", "topology": "series_leaky",
                      "w_min": 1e-3, "w_max": 1e12, "bound": "hard",
                      "arm": {"C": 1.0, "g_leak": 0.01}, "signal": "polar",
                      "update": {"rho": 0.01, "theta": 0.05, "polarity": 1, "nonlinearity": {"kind": "dead_zone"}}});
    let mut sources: Vec<Value> = (0..n)
        .map(|r| json!({"node": format!("n{}", r * n), "value": v_left}))
        .collect();
    sources.extend((0..n).map(|r| json!({"node": format!("n{}", r * n + n - 1), "value": 0.0})));
    let mut v = json!({
        "schema": "physlearn-netlist/1",
        "physics": "flow",
        "nodes": nodes,
        "boundary": {"sources": sources, "outputs": [{"id": "out", "kind": "node", "node": format!("n{out}")}]},
        "task": {"examples": [{"targets": {"out": 0.8}}]},
        "protocol": {"kind": "sawtooth", "beta_max": 1.0, "tau_fast": 1.0, "tau_slow": 9.0, "direction": "fast_rise",
                     "ramp_shape": "linear_beta", "cycles": 20, "initial": "rest"},
        "solver": {"method": "dopri5", "rtol": 1e-6, "atol": 1e-9, "h_init": 0.1, "h_max": 10.0},
        "record": {"elements": ["e0"], "samples_per_segment": 0},
        "meta": lattice_meta(n, v_left),
    });
    if compact {
        v["models"] = json!({"memristor": card});
        v["element_groups"] = json!([{
            "model": "memristor",
            "id_prefix": "e",
            "edges": edges.iter().map(|&(i, j)| json!([i, j])).collect::<Vec<_>>(),
            "w": g0,
        }]);
    } else {
        let elements: Vec<Value> = edges
            .iter()
            .enumerate()
            .map(|(e, &(i, j))| {
                let mut el = card.clone();
                el["id"] = json!(format!("e{e}"));
                el["nodes"] = json!([format!("n{i}"), format!("n{j}")]);
                el["w"] = json!(g0[e]);
                el
            })
            .collect();
        v["elements"] = Value::Array(elements);
    }
    Ok(v)
}

/// JSON text of a netlist for `generate`: indented like `serde_json::to_string_pretty`, except
/// that arrays of numbers, strings and short arrays (edge lists, per-edge values) and small
/// flat objects (nodes) stay on one line, so that a compact netlist stays compact on disk.
pub fn netlist_text(v: &Value) -> String {
    fn flat(v: &Value) -> bool {
        match v {
            Value::Array(a) => a.iter().all(|x| !x.is_array() && !x.is_object()),
            Value::Object(m) => m.values().all(|x| match x {
                Value::Array(_) => flat(x),
                Value::Object(_) => false,
                _ => true,
            }),
            _ => true,
        }
    }
    fn scalar_or_flat(v: &Value) -> bool {
        match v {
            Value::Array(a) => a.iter().all(flat),
            _ => flat(v),
        }
    }
    fn write(out: &mut String, v: &Value, indent: usize) {
        let pad = |out: &mut String, k: usize| out.extend(std::iter::repeat_n(' ', k));
        match v {
            Value::Object(m) if !(m.is_empty() || indent > 0 && flat(v)) => {
                out.push_str("{\n");
                for (i, (k, x)) in m.iter().enumerate() {
                    pad(out, indent + 2);
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push_str(": ");
                    write(out, x, indent + 2);
                    out.push_str(if i + 1 < m.len() { ",\n" } else { "\n" });
                }
                pad(out, indent);
                out.push('}');
            }
            Value::Array(a) if !a.is_empty() && !scalar_or_flat(v) => {
                out.push_str("[\n");
                for (i, x) in a.iter().enumerate() {
                    pad(out, indent + 2);
                    write(out, x, indent + 2);
                    out.push_str(if i + 1 < a.len() { ",\n" } else { "\n" });
                }
                pad(out, indent);
                out.push(']');
            }
            Value::Array(a) if a.iter().any(|x| x.is_object()) => {
                // Flat objects: one per line.
                out.push_str("[\n");
                for (i, x) in a.iter().enumerate() {
                    pad(out, indent + 2);
                    out.push_str(&x.to_string());
                    out.push_str(if i + 1 < a.len() { ",\n" } else { "\n" });
                }
                pad(out, indent);
                out.push(']');
            }
            _ => out.push_str(&v.to_string()),
        }
    }
    let mut out = String::new();
    write(&mut out, v, 0);
    out.push('\n');
    out
}

/// `meta` of the lattice-n netlist.
fn lattice_meta(n: usize, v_left: f64) -> Value {
    let out = (n / 2) * n + n / 2;
    json!({"generator": format!("physlearn generate lattice --n {n} --v-left {v_left}"), "workload": "lattice-n (bench/reference/README.md)",
           "n": n, "n_edges": 2 * n * (n - 1), "output_node": format!("n{out}"),
           "note": "paper-literal leaky series element with the polar signal: a performance workload, not a learning task"})
}

/// The `lattice-n` netlist of [`lattice`], built without its JSON tree (a lattice-256 tree is
/// several hundred MiB): a 3×3 lattice with the same parameters goes through the netlist
/// validation, and its validated element, protocol and solver settings are replicated over the
/// n×n grid. Equal to `netlist::from_value(&lattice(n, v_left, g0))` (test
/// `lattice_netlist_equals_the_json_path`).
pub fn lattice_netlist(
    n: usize,
    v_left: f64,
    g0: Option<Vec<f64>>,
) -> Result<netlist::Netlist, GenerateError> {
    use crate::physics::model::{Domain, Element, Example, NodeId, Output, Stencil};
    const T: usize = 3;
    if n < T {
        return Err(GenerateError::Invalid(format!(
            "lattice needs n ≥ 3, got {n}"
        )));
    }
    let n_edges = 2 * n * (n - 1);
    let g0 = match g0 {
        Some(g) if g.len() == n_edges => g,
        Some(g) => {
            return Err(GenerateError::Invalid(format!(
                "g0 has {} values, lattice-{n} has {n_edges} edges",
                g.len()
            )))
        }
        None => {
            let mut rng = ChaCha8Rng::seed_from_u64(20240601 + n as u64);
            (0..n_edges).map(|_| 0.5 + rng.random::<f64>()).collect()
        }
    };
    let mut nl = {
        let v = lattice(T, v_left, Some(vec![1.0; 2 * T * (T - 1)]))?;
        let mut nl = netlist::from_value(&v)?;
        // The metadata of the full-size netlist (small: no per-element entries).
        let full = lattice_meta(n, v_left);
        nl.meta = full;
        nl
    };
    let template: Element = nl.network.elements[0].clone();
    let net = &mut nl.network;
    if net.domain != Domain::Flow || net.outputs.len() != 1 || net.examples.len() != 1 {
        return Err(GenerateError::Invalid(
            "lattice template: unexpected structure".into(),
        ));
    }
    net.node_names = (0..n * n).map(|k| format!("n{k}")).collect();
    net.positions = (0..n * n)
        .map(|k| [(k % n) as f64, (k / n) as f64])
        .collect();
    let mut elements = Vec::with_capacity(n_edges);
    for r in 0..n {
        for c in 0..n {
            let k = r * n + c;
            let mut push = |i: usize, j: usize| {
                let e = elements.len();
                let mut el = template.clone();
                el.name = format!("e{e}");
                el.nodes = (NodeId(i), NodeId(j));
                el.stencil = Stencil::edge(Domain::Flow, i, j, &net.positions);
                el.w0 = g0[e];
                elements.push(el);
            };
            if c < n - 1 {
                push(k, k + 1);
            }
            if r < n - 1 {
                push(k, k + n);
            }
        }
    }
    net.elements = elements;
    let out = (n / 2) * n + n / 2;
    let name = net.outputs[0].name.clone();
    net.outputs = vec![Output {
        name,
        stencil: Stencil::node(out),
        nodes: vec![NodeId(out)],
    }];
    net.dirichlet_dofs = (0..n)
        .map(|r| r * n)
        .chain((0..n).map(|r| r * n + n - 1))
        .collect();
    net.waveforms = vec![None; 2 * n];
    let targets = net.examples[0].targets.clone();
    net.examples = vec![Example {
        xd: std::iter::repeat_n(v_left, n)
            .chain(std::iter::repeat_n(0.0, n))
            .collect(),
        targets,
    }];
    net.index_dofs();
    Ok(nl)
}

/// Read a g0 file (one value per line, the reference's format).
pub fn read_g0(path: &std::path::Path) -> Result<Vec<f64>, GenerateError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| GenerateError::Invalid(format!("{}: {e}", path.display())))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            l.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v > 0.0)
                .ok_or_else(|| {
                    GenerateError::Invalid(format!(
                        "{}:{}: expected a positive number, got \"{}\"",
                        path.display(),
                        i + 1,
                        l.trim()
                    ))
                })
        })
        .collect()
}
