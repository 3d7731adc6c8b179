//! Random and mutated JSON never panics the loader or the preparation step: every input either
//! loads or produces typed faults.

mod common;

use proptest::prelude::*;
use serde_json::Value;

fn base() -> Value {
    common::shipped("t1_flow_allostery")
}

/// A compact netlist: lattice-4 as a model card and an element group, plus one verbose element
/// that names the card and overrides a nested field.
fn base_compact() -> Value {
    let mut v = physlearn::generate::lattice_compact(4, 2.0, None).unwrap();
    v["element_groups"][0]["id_prefix"] = serde_json::json!("g");
    v["elements"] = serde_json::json!([{"id": "x", "model": "memristor", "nodes": ["n0", "n5"], "w": 0.7,
                                        "update": {"rho": 0.02}}]);
    v
}

fn base_elastic() -> Value {
    common::shipped("t3_elastic_allostery")
}

/// Collect JSON pointers of every node of a tree.
fn pointers(v: &Value, prefix: String, out: &mut Vec<String>) {
    out.push(prefix.clone());
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                pointers(
                    c,
                    format!("{prefix}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                pointers(c, format!("{prefix}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn replacement(k: u8, x: f64) -> Value {
    match k % 9 {
        0 => Value::Null,
        1 => serde_json::json!(x),
        2 => serde_json::json!(-x),
        3 => serde_json::json!("auto"),
        4 => serde_json::json!([x, x]),
        5 => serde_json::json!({}),
        6 => serde_json::json!(0),
        7 => serde_json::json!(true),
        _ => serde_json::json!(f64::MAX),
    }
}

fn exercise(v: &Value) {
    if let Ok(nl) = physlearn::netlist::from_value(v) {
        // Valid after mutation: preparation may fail but must not panic.
        let _ = physlearn::sim::prepare(&nl);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    #[test]
    fn mutated_netlists_never_panic(picks in proptest::collection::vec((any::<u32>(), any::<u8>(), -10.0f64..10.0, any::<bool>()), 1..4), which in 0u8..3) {
        let mut v = match which { 0 => base(), 1 => base_elastic(), _ => base_compact() };
        for (pick, kind, x, delete) in picks {
            let mut ptrs = Vec::new();
            pointers(&v, String::new(), &mut ptrs);
            let ptr = ptrs[(pick as usize) % ptrs.len()].clone();
            if ptr.is_empty() { continue; }
            if delete {
                let (parent, key) = ptr.rsplit_once('/').unwrap();
                match v.pointer_mut(parent) {
                    Some(Value::Object(m)) => { m.remove(key); }
                    Some(Value::Array(a)) => { if let Ok(i) = key.parse::<usize>() { if i < a.len() { a.remove(i); } } }
                    _ => {}
                }
            } else if let Some(slot) = v.pointer_mut(&ptr) {
                *slot = replacement(kind, x);
            }
        }
        exercise(&v);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = physlearn::netlist::parse(&bytes);
    }
}
