//! Compact netlists (model cards and element groups) expand to exactly the network of the
//! verbose form, and their faults name the JSON path where the value was written.

mod common;

use physlearn::netlist::{self, NetlistError};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

const WEIGHT_FIELDS: &[&str] = &["w", "k", "k_m"];

fn read(path: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every shipped network netlist (the chemical ones have no `elements`).
fn shipped() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("netlists").unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            let v = read(p.to_str().unwrap());
            if v.get("elements").is_some() {
                out.push((p.display().to_string(), v));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(out.len() >= 8, "shipped network netlists: {}", out.len());
    out
}

/// The network, protocol, solver and record of a netlist as text (stencils included).
fn loaded(v: &Value) -> String {
    let nl = netlist::from_value(v).unwrap_or_else(|e| panic!("{e}"));
    let from_text = netlist::parse(&serde_json::to_vec(v).unwrap()).unwrap();
    assert_eq!(
        format!("{:?}", nl.network),
        format!("{:?}", from_text.network),
        "text and tree paths differ"
    );
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{}",
        nl.network, nl.protocol, nl.solver, nl.record, nl.theta_c
    )
}

/// An element's card: all of its fields except id, nodes and the per-edge values.
fn card_of(el: &Map<String, Value>) -> Map<String, Value> {
    let mut c = el.clone();
    for k in ["id", "nodes", "rest_length"].iter().chain(WEIGHT_FIELDS) {
        c.remove(*k);
    }
    c
}

/// The netlist with one model card per distinct element parameter set; the elements keep
/// id, nodes, their weight and rest length, and name the card.
fn carded(v: &Value) -> Value {
    let mut v = v.clone();
    let mut cards: Vec<Map<String, Value>> = Vec::new();
    let els = v["elements"].as_array_mut().unwrap();
    for el in els.iter_mut() {
        let m = el.as_object_mut().unwrap();
        let c = card_of(m);
        let k = match cards.iter().position(|x| *x == c) {
            Some(k) => k,
            None => {
                cards.push(c.clone());
                cards.len() - 1
            }
        };
        m.retain(|key, _| !c.contains_key(key));
        m.insert("model".into(), json!(format!("m{k}")));
    }
    let models: Map<String, Value> = cards
        .into_iter()
        .enumerate()
        .map(|(k, c)| (format!("m{k}"), Value::Object(c)))
        .collect();
    v["models"] = Value::Object(models);
    v
}

/// `id` = prefix + a whole number written without leading zeros.
fn split_id(id: &str) -> Option<(String, usize)> {
    let digits = id.len() - id.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (p, d) = id.split_at(id.len() - digits);
    let n: usize = d.parse().ok()?;
    (n.to_string() == d).then(|| (p.to_string(), n))
}

/// The netlist with every element in groups (runs of equal cards and consecutive ids); node
/// references as indices in even groups and as ids in odd ones. `None` when an id is not
/// prefix + number.
fn grouped(v: &Value) -> Option<Value> {
    let mut v = v.clone();
    let node_pos: BTreeMap<String, usize> = v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, n)| (n["id"].as_str().unwrap().to_string(), i))
        .collect();
    let elastic = v["physics"] == "elastic2d";
    let els = v.as_object_mut().unwrap().remove("elements").unwrap();
    let mut cards: Vec<Map<String, Value>> = Vec::new();
    let mut groups: Vec<Value> = Vec::new();
    let mut last: Option<(usize, String, usize)> = None; // (card, prefix, next number)
    for el in els.as_array().unwrap() {
        let m = el.as_object().unwrap();
        let c = card_of(m);
        let k = match cards.iter().position(|x| *x == c) {
            Some(k) => k,
            None => {
                cards.push(c.clone());
                cards.len() - 1
            }
        };
        let (prefix, num) = split_id(m["id"].as_str().unwrap())?;
        let continues = last
            .as_ref()
            .is_some_and(|(lk, lp, ln)| *lk == k && *lp == prefix && *ln == num);
        if !continues {
            let ty = m["type"].as_str().unwrap();
            let wf = physlearn::netlist::params::weight_field(ty);
            let mut g = json!({"model": format!("m{k}"), "id_prefix": prefix, "id_start": num, "edges": [], wf: []});
            if elastic && physlearn::netlist::params::has_rest_length(ty) {
                g["rest_length"] = json!([]);
            }
            groups.push(g);
        }
        let g = groups.last_mut().unwrap();
        let by_index = groups_len_even(g);
        let ends: Vec<Value> = m["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                let id = n.as_str().unwrap();
                if by_index {
                    json!(node_pos[id])
                } else {
                    json!(id)
                }
            })
            .collect();
        g["edges"].as_array_mut().unwrap().push(Value::Array(ends));
        let ty = m["type"].as_str().unwrap();
        let wf = physlearn::netlist::params::weight_field(ty);
        let w = m.get(wf).cloned().unwrap_or(json!(1.0));
        g[wf].as_array_mut().unwrap().push(w);
        if g.get("rest_length").is_some() {
            let l = m.get("rest_length").cloned().unwrap_or(json!(0.0));
            g["rest_length"].as_array_mut().unwrap().push(l);
        }
        last = Some((k, prefix, num + 1));
    }
    let models: Map<String, Value> = cards
        .into_iter()
        .enumerate()
        .map(|(k, c)| (format!("m{k}"), Value::Object(c)))
        .collect();
    v["models"] = Value::Object(models);
    v["element_groups"] = Value::Array(groups);
    Some(v)
}

/// Alternate node reference styles by the parity of the group's first id.
fn groups_len_even(g: &Value) -> bool {
    g["id_start"].as_u64().unwrap_or(0).is_multiple_of(2)
}

#[test]
fn model_cards_expand_to_the_verbose_network_for_every_shipped_netlist() {
    for (name, v) in shipped() {
        let c = carded(&v);
        assert!(
            c["models"].as_object().is_some_and(|m| !m.is_empty()),
            "{name}"
        );
        assert_eq!(loaded(&v), loaded(&c), "{name}: carded form differs");
    }
}

#[test]
fn element_groups_expand_to_the_verbose_network_for_every_shipped_netlist() {
    let mut n = 0;
    for (name, v) in shipped() {
        let Some(g) = grouped(&v) else { continue };
        assert!(g.get("elements").is_none());
        assert_eq!(loaded(&v), loaded(&g), "{name}: grouped form differs");
        n += 1;
    }
    assert!(n >= 7, "only {n} shipped netlists could be grouped");
}

#[test]
fn an_element_overrides_single_fields_of_its_card_also_nested_ones() {
    let v = read("netlists/t1_flow_allostery.json");
    let mut c = carded(&v);
    // Element 5 gets its own learning rate, threshold kind and arm capacitance; the rest of
    // its update and arm blocks still come from the card.
    let mut verbose = v.clone();
    verbose["elements"][5]["update"]["rho"] = json!(7.5);
    verbose["elements"][5]["update"]["nonlinearity"] = json!({"kind": "hill", "n": 3});
    verbose["elements"][5]["arm"]["C"] = json!(0.2);
    c["elements"][5]["update"] = json!({"rho": 7.5, "nonlinearity": {"kind": "hill", "n": 3}});
    c["elements"][5]["arm"] = json!({"C": 0.2});
    assert_ne!(loaded(&v), loaded(&verbose));
    assert_eq!(loaded(&verbose), loaded(&c));
}

#[test]
fn compact_lattice_equals_verbose() {
    for n in [3, 7, 12] {
        let v = physlearn::generate::lattice(n, 2.5, None).unwrap();
        let c = physlearn::generate::lattice_compact(n, 2.5, None).unwrap();
        assert!(c.get("elements").is_none() && c.get("element_groups").is_some());
        assert_eq!(loaded(&v), loaded(&c), "lattice-{n}");
        // And the text that `generate` writes reads back to the same tree.
        let text = physlearn::generate::netlist_text(&c);
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), c);
    }
}

/// `compare --json` of the binary on both forms of lattice-6 (everything but the wall time).
#[test]
fn compare_json_is_the_same_for_both_forms() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut outs = Vec::new();
    for form in ["verbose", "compact"] {
        let p = dir.join(format!("{form}.json"));
        let st = common::bin()
            .args([
                "generate", "lattice", "--n", "6", "--v-left", "3", "--form", form,
            ])
            .arg("--out")
            .arg(&p)
            .status()
            .unwrap();
        assert!(st.success());
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.contains("element_groups"), form == "compact");
        let o = common::bin()
            .args(["compare", "--force", "--json"])
            .arg(&p)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let mut j: Value = serde_json::from_slice(&o.stdout).unwrap();
        j.as_object_mut().unwrap().remove("wall_seconds");
        outs.push(j);
    }
    assert!(outs[0]["delta"].as_array().is_some_and(|d| d.len() == 60));
    assert_eq!(outs[0], outs[1]);
}

/// The faults of a netlist tree; the text path (typed element groups, elements and nodes as
/// text slices) must report the same.
fn faults(v: &Value) -> Vec<(String, String)> {
    let get = |r: Result<netlist::Netlist, NetlistError>| match r {
        Err(NetlistError::Invalid(f)) => f
            .into_iter()
            .map(|f| (f.path, f.message))
            .collect::<Vec<_>>(),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("expected faults"),
    };
    let tree = get(netlist::from_value(v));
    let text = get(netlist::parse(&serde_json::to_vec(v).unwrap()));
    assert_eq!(tree, text);
    tree
}

fn has(f: &[(String, String)], path: &str, msg: &str) -> bool {
    f.iter().any(|(p, m)| p == path && m.contains(msg))
}

#[test]
fn card_faults_name_the_card_once_and_element_faults_the_element() {
    let base = carded(&read("netlists/t1_flow_allostery.json"));
    // Unknown card.
    let mut v = base.clone();
    v["elements"][3]["model"] = json!("cm2");
    let f = faults(&v);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        has(&f, "elements[3].model", "unknown model \"cm2\" (known: m0)"),
        "{f:?}"
    );
    // A bad value in the card: one fault at the card, none repeated for its 106 elements.
    let mut v = base.clone();
    v["models"]["m0"]["arm"]["C"] = json!(-1);
    v["models"]["m0"]["bogus"] = json!(1);
    let f = faults(&v);
    assert!(has(&f, "models.m0.arm.C", "must be > 0, got -1"), "{f:?}");
    assert!(has(&f, "models.m0.bogus", "unknown field"), "{f:?}");
    assert_eq!(f.len(), 2, "{f:?}");
    // Cards carry no id, nodes or model and name their type.
    let mut v = base.clone();
    v["models"]["m0"]["id"] = json!("x");
    v["models"]["m1"] = json!({"w": 2});
    v["models"]["m2"] = json!(3);
    let f = faults(&v);
    assert!(has(&f, "models.m0.id", "cannot set \"id\""), "{f:?}");
    assert!(has(&f, "models.m1.type", "missing"), "{f:?}");
    assert!(has(&f, "models.m2", "expected a model card"), "{f:?}");
    // An element's own field conflicting with its card stays at the element.
    let mut v = base.clone();
    v["models"]["m0"]["w_max"] = json!(3.0);
    v["elements"][7]["w_min"] = json!(4.0);
    let f = faults(&v);
    assert!(
        has(
            &f,
            "elements[7].w_max",
            "must exceed w_min (4), got 3 (from model \"m0\")"
        ),
        "{f:?}"
    );
    // An element's own bad value and a type that differs from its card.
    let mut v = base.clone();
    v["elements"][9]["update"] = json!({"rho": -2});
    v["elements"][10]["type"] = json!("resistor");
    let f = faults(&v);
    assert!(
        has(&f, "elements[9].update.rho", "must be ≥ 0, got -2"),
        "{f:?}"
    );
    assert!(
        has(
            &f,
            "elements[10].type",
            "differs from the type of model \"m0\""
        ),
        "{f:?}"
    );
    assert_eq!(f.len(), 2, "{f:?}");
    // A card element whose model is not a string.
    let mut v = base;
    v["elements"][0]["model"] = json!(4);
    let f = faults(&v);
    assert!(
        has(
            &f,
            "elements[0].model",
            "expected the name of a model card, got 4"
        ),
        "{f:?}"
    );
}

#[test]
fn group_faults_name_the_edge_and_the_value() {
    let base = physlearn::generate::lattice_compact(4, 1.0, None).unwrap();
    // Out-of-range index, unknown id, self loop, a bad and an out-of-bounds weight.
    let mut v = base.clone();
    v["element_groups"][0]["edges"][3] = json!([0, 99]);
    v["element_groups"][0]["edges"][4] = json!(["n0", "zz"]);
    v["element_groups"][0]["edges"][5] = json!([2, 2]);
    v["element_groups"][0]["edges"][6] = json!(7);
    v["element_groups"][0]["w"][1] = json!(-0.5);
    v["element_groups"][0]["w"][2] = json!(1e13);
    v["element_groups"][0]["w"][8] = json!("x");
    let f = faults(&v);
    assert!(
        has(
            &f,
            "element_groups[0].edges[3][1]",
            "node index 99 out of range"
        ),
        "{f:?}"
    );
    assert!(
        has(
            &f,
            "element_groups[0].edges[4][1]",
            "unknown node id \"zz\""
        ),
        "{f:?}"
    );
    assert!(
        has(&f, "element_groups[0].edges[5]", "two different nodes"),
        "{f:?}"
    );
    assert!(
        has(&f, "element_groups[0].edges[6]", "expected [i, j]"),
        "{f:?}"
    );
    assert!(
        has(&f, "element_groups[0].w[1]", "must be > 0, got -0.5"),
        "{f:?}"
    );
    assert!(
        has(
            &f,
            "element_groups[0].w[2]",
            "initial weight 10000000000000 lies outside"
        ),
        "{f:?}"
    );
    assert!(
        has(
            &f,
            "element_groups[0].w[8]",
            "expected a number, got a string"
        ),
        "{f:?}"
    );
    assert_eq!(f.len(), 7, "{f:?}");
    // Array length, fields that are not per-edge, unknown keys, unknown card.
    let mut v = base.clone();
    let mut g0 = v["element_groups"][0].clone();
    g0["w"].as_array_mut().unwrap().pop();
    g0["k"] = json!([1.0]);
    g0["colour"] = json!("red");
    v["element_groups"][0] = g0;
    v["element_groups"]
        .as_array_mut()
        .unwrap()
        .push(json!({"model": "cm2", "edges": [[0, 1]]}));
    let f = faults(&v);
    assert!(
        has(&f, "element_groups[0].w", "has 23 values for 24 edges"),
        "{f:?}"
    );
    assert!(
        has(&f, "element_groups[0].k", "not a per-edge field"),
        "{f:?}"
    );
    assert!(
        has(&f, "element_groups[0].colour", "unknown field"),
        "{f:?}"
    );
    assert!(
        has(&f, "element_groups[1].model", "unknown model \"cm2\""),
        "{f:?}"
    );
    // Duplicate ids between a verbose element and a group (the group numbers from 0).
    let mut v = base.clone();
    v["elements"] = json!([{"id": "e3", "model": "memristor", "nodes": ["n0", "n5"]}]);
    let f = faults(&v);
    assert!(
        has(
            &f,
            "element_groups[0].edges[2]",
            "duplicate element id \"e3\""
        ),
        "{f:?}"
    );
    // A paper-literal series element in a static task: the fault names the group's edge.
    let mut v = base;
    v["models"]["memristor"]["topology"] = json!("series");
    v["models"]["memristor"]["arm"]["g_leak"] = json!(0);
    let f = faults(&v);
    assert!(
        has(&f, "element_groups[0].edges[0]", "no static function"),
        "{f:?}"
    );
}

/// The ids a group writes continue the element numbering by default, and `record` finds them.
#[test]
fn group_ids_default_to_the_element_index() {
    let mut v = physlearn::generate::lattice_compact(3, 1.0, None).unwrap();
    v["element_groups"][0]
        .as_object_mut()
        .unwrap()
        .remove("id_prefix");
    v["record"]["elements"] = json!(["e11"]);
    let nl = netlist::from_value(&v).unwrap();
    assert_eq!(nl.network.elements[11].name, "e11");
    assert_eq!(nl.record.elements, vec![11]);
}

/// Elements of a shape already validated take a shortcut (template + own id, nodes, values):
/// their faults equal those of the full validation, which the first element of a shape gets.
#[test]
fn repeated_element_shapes_fault_like_the_first_of_their_shape() {
    let base = physlearn::generate::lattice(4, 1.0, None).unwrap();
    for (field, value) in [
        ("w", json!(-1.0)),
        ("w", json!(1e13)),
        ("w", json!(0)),
        ("nodes", json!(["n0", "n0"])),
        ("nodes", json!(["n0", "zz"])),
        ("w", json!("x")),
        ("w", json!(null)),
    ] {
        let mut v = base.clone();
        v["elements"][0][field] = value.clone();
        v["elements"][17][field] = value.clone();
        let f = match netlist::from_value(&v) {
            Err(NetlistError::Invalid(f)) => f,
            Ok(_) => {
                // Both valid (a null weight is the default): the same network as written out.
                let mut w = v.clone();
                for k in [0, 17] {
                    w["elements"][k].as_object_mut().unwrap().remove(field);
                }
                assert_eq!(loaded(&v), loaded(&w), "{field} = {value}");
                continue;
            }
            Err(e) => panic!("{e}"),
        };
        let first: Vec<String> = f
            .iter()
            .filter_map(|x| {
                x.path
                    .strip_prefix("elements[0]")
                    .map(|p| format!("{p}: {}", x.message))
            })
            .collect();
        let later: Vec<String> = f
            .iter()
            .filter_map(|x| {
                x.path
                    .strip_prefix("elements[17]")
                    .map(|p| format!("{p}: {}", x.message))
            })
            .collect();
        assert!(!first.is_empty(), "{field} = {value}: {f:?}");
        assert_eq!(first, later, "{field} = {value}");
    }
}
