//! Scaffolding shared by the integration tests: the binary, the shipped netlists, temporary
//! netlist files, preparation, and the seeded random networks. Each test crate uses a part of
//! it, hence the `dead_code` allowance.
#![allow(dead_code)]

use physlearn::chem::ChemModel;
use physlearn::generate::delaunay_edges;
use physlearn::netlist::{self, chem as nlchem};
use physlearn::sim::{prepare, Prepared};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `physlearn` binary, without progress bars and outside any Slurm array.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_physlearn"));
    c.env("PHYSLEARN_NO_PROGRESS", "1");
    c.env_remove("SLURM_ARRAY_TASK_ID");
    c
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Path of a file under `netlists/` (`"t1_flow_allostery.json"`, `"templates/…"`).
pub fn netlist_path(rel: &str) -> PathBuf {
    root().join("netlists").join(rel)
}

/// A shipped netlist as JSON, by name without extension.
pub fn shipped(name: &str) -> Value {
    let path = netlist_path(&format!("{name}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("shipped netlist {}: {e}", path.display()));
    serde_json::from_str(&text).expect("shipped netlist is JSON")
}

/// Write `v` as pretty JSON to `dir/name`; returns the path.
pub fn write_json(dir: &Path, name: &str, v: &Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_string_pretty(v).unwrap()).unwrap();
    p
}

/// Standard error of a finished command.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Validate and prepare a flow/elastic netlist (panics on any fault).
pub fn prep(v: &Value) -> Prepared {
    prepare(&netlist::from_value(v).expect("valid netlist")).expect("prepare")
}

/// Solver settings tight enough for analytic comparisons.
pub fn tight_solver() -> Value {
    json!({"method": "dopri5", "rtol": 1e-10, "atol": 1e-13, "h_init": 1e-3, "h_max": 0.05})
}

/// Three nodes, a resistor and a shunted element, one output at the middle node: the smallest
/// valid sawtooth task.
pub fn small_flow() -> Value {
    json!({
        "schema": "physlearn-netlist/1", "physics": "flow",
        "nodes": [{"id": "in"}, {"id": "m"}, {"id": "gnd"}],
        "elements": [
            {"id": "r", "type": "resistor", "nodes": ["in", "m"], "w": 1.0},
            {"id": "e", "type": "nanofluidic_cm", "nodes": ["m", "gnd"], "w": 1.0}],
        "boundary": {"sources": [{"node": "in", "value": 1.0}, {"node": "gnd", "value": 0.0}],
                     "outputs": [{"id": "o", "kind": "node", "node": "m"}]},
        "task": {"examples": [{"targets": {"o": 0.4}}]},
        "protocol": {"kind": "sawtooth", "tau_fast": 10, "tau_slow": 100, "cycles": 2}
    })
}

/// The M1 molecular template (docs/molecular.md §7).
pub fn m1_template() -> Value {
    serde_json::from_str(nlchem::M1_TEMPLATE).unwrap()
}

/// A chemical model from a netlist or template value (panics on any fault).
pub fn chem_model_of(v: &Value) -> ChemModel {
    nlchem::from_value(v).unwrap().model
}

/// A shipped chemical netlist's model, by name without extension.
pub fn shipped_chem(name: &str) -> ChemModel {
    nlchem::load(&netlist_path(&format!("{name}.json")))
        .unwrap()
        .0
        .model
}

/// A random flow network: `n` random points, Delaunay edges, random element kinds and values
/// (resistors, shunted and series-leaky capacitor–memristors, mechano-chemical edges); sources
/// at n0, n1, n2 and outputs at n3, n4.
pub fn random_flow(seed: u64, n: usize) -> Value {
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

/// A random jittered 5×5 elastic lattice with SLS bonds (learning stiffness and rest length)
/// and springs; nodes n0 and n10 displaced, output the extension of the pair (n4, n24).
pub fn random_elastic(seed: u64) -> Value {
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
