//! JSON Schema (draft 2020-12) of the netlist, generated from the same parameter tables that
//! validate it. `physlearn schema` prints it.

use super::params::{self, Default_, FieldType, Limit, ParamSpec};
use serde_json::{json, Map, Value};

fn field_schema(p: &ParamSpec) -> Value {
    let mut m = Map::new();
    match p.ty {
        FieldType::Number => {
            m.insert("type".into(), json!("number"));
        }
        FieldType::NumberOrAuto => {
            m.insert(
                "oneOf".into(),
                json!([{"type": "number"}, {"const": "auto"}]),
            );
        }
        FieldType::Bool => {
            m.insert("type".into(), json!("boolean"));
        }
        FieldType::Sign => {
            m.insert("enum".into(), json!([1, -1]));
        }
        FieldType::Enum(opts) => {
            m.insert("enum".into(), json!(opts));
        }
    }
    match p.min {
        Limit::Gt(x) => {
            m.insert("exclusiveMinimum".into(), json!(x));
        }
        Limit::Ge(x) => {
            m.insert("minimum".into(), json!(x));
        }
        Limit::None => {}
    }
    match p.default {
        Default_::Num(x) => {
            m.insert("default".into(), json!(x));
        }
        Default_::Str(s) => {
            m.insert("default".into(), json!(s));
        }
        Default_::Bool(b) => {
            m.insert("default".into(), json!(b));
        }
        _ => {}
    }
    m.insert(
        "description".into(),
        json!(format!("{} [unit: {}]", p.description, p.unit)),
    );
    Value::Object(m)
}

/// Insert a dotted field into a nested object schema.
fn insert(props: &mut Map<String, Value>, name: &str, schema: Value) {
    match name.split_once('.') {
        None => {
            props.insert(name.into(), schema);
        }
        Some((head, rest)) => {
            let entry = props.entry(head.to_string()).or_insert_with(
                || json!({"type": "object", "additionalProperties": false, "properties": {}}),
            );
            if let Some(Value::Object(p)) = entry.get_mut("properties") {
                insert(p, rest, schema);
            }
        }
    }
}

fn update_schema() -> Value {
    let mut props = Map::new();
    for p in params::UPDATE.iter() {
        insert(&mut props, p.name, field_schema(p));
    }
    json!({"type": "object", "additionalProperties": false, "properties": props})
}

/// The full schema.
pub fn json_schema() -> Value {
    let mut variants = Vec::new();
    let mut cards = Vec::new();
    for (kind, domain, table) in params::KINDS {
        let mut props = Map::new();
        props.insert("id".into(), json!({"type": "string", "minLength": 1}));
        props.insert("type".into(), json!({"const": kind}));
        props.insert(
            "nodes".into(),
            json!({"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 2}),
        );
        for p in table.iter() {
            insert(&mut props, p.name, field_schema(p));
        }
        if params::kind_learns(kind) {
            for p in params::BOUNDS.iter() {
                insert(&mut props, p.name, field_schema(p));
            }
            props.insert("update".into(), update_schema());
            if *kind == "sls" {
                props.insert("update_rest_length".into(), update_schema());
            }
        }
        variants.push(json!({
            "title": kind,
            "description": format!("{kind} element ({domain})"),
            "type": "object",
            "required": ["id", "type", "nodes"],
            "additionalProperties": false,
            "properties": props,
        }));
        // The model card of this kind: the same fields without id and nodes.
        let mut card_props = props.clone();
        card_props.remove("id");
        card_props.remove("nodes");
        cards.push(json!({
            "title": format!("{kind} model card"),
            "type": "object",
            "required": ["type"],
            "additionalProperties": false,
            "properties": card_props,
        }));
    }
    let node_ref = json!({"oneOf": [{"type": "string"}, {"type": "integer", "minimum": 0}]});
    variants.push(json!({
        "title": "element of a model card",
        "description": "the card named by `model` with this element's fields laid over it (nested objects field by field); `type`, when given, must equal the card's",
        "type": "object",
        "required": ["id", "model", "nodes"],
        "properties": {
            "id": {"type": "string", "minLength": 1},
            "model": {"type": "string"},
            "nodes": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 2},
        },
    }));
    let per_edge = json!({"type": "array", "items": {"type": "number"},
        "description": "one value per edge (the initial weight w/k/k_m of the card's kind, or rest_length in elastic2d)"});
    let group = json!({
        "type": "object",
        "required": ["model", "edges"],
        "additionalProperties": false,
        "properties": {
            "model": {"type": "string", "description": "the model card of every element of the group"},
            "id_prefix": {"type": "string", "default": "e", "description": "element k is named id_prefix + (id_start + k)"},
            "id_start": {"type": "integer", "minimum": 0, "description": "default: the index of the group's first element in the element list"},
            "edges": {"type": "array", "items": {"type": "array", "items": node_ref, "minItems": 2, "maxItems": 2},
                      "description": "[i, j] per element: node indices (positions in nodes) or node ids"},
            "w": per_edge, "k": per_edge, "k_m": per_edge, "rest_length": per_edge,
        },
    });
    let num = json!({"type": "number"});
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "physlearn netlist",
        "description": "Physical learning network: nodes, elements, boundary, task, protocol and solver settings. See docs/netlist.md.",
        "type": "object",
        "required": ["schema", "physics", "nodes", "boundary"],
        "anyOf": [{"required": ["elements"]}, {"required": ["element_groups"]}],
        "additionalProperties": false,
        "properties": {
            "schema": {"enum": super::SCHEMA_IDS},
            "physics": {"enum": ["flow", "elastic2d"]},
            "nodes": {"type": "array", "items": {"type": "object", "required": ["id"], "additionalProperties": false,
                "properties": {"id": {"type": "string"}, "pos": {"type": "array", "items": num, "minItems": 2, "maxItems": 2}}}},
            "models": {"type": "object", "additionalProperties": {"oneOf": cards},
                       "description": "named model cards: element fields shared by the elements that name them"},
            "elements": {"type": "array", "items": {"oneOf": variants}},
            "element_groups": {"type": "array", "items": group,
                               "description": "compact form: per group one model card, an edge list and per-edge initial values; expanded after elements, in order"},
            "boundary": {"type": "object", "additionalProperties": false, "properties": {
                "sources": {"type": "array", "items": {"type": "object", "required": ["node", "value"], "additionalProperties": false, "properties": {
                    "node": {"type": "string"},
                    "value": {"oneOf": [num, {"type": "array", "items": num, "minItems": 2, "maxItems": 2}], "description": "potential (flow) or imposed displacement [ux, uy] (elastic2d)"},
                    "waveform": {"type": "object", "properties": {"kind": {"enum": ["constant", "step", "pwl", "sine"]}}, "description": "time-dependent value on absolute time (flow: the potential; elastic2d: a multiplier of the imposed displacement)"}}}},
                "outputs": {"type": "array", "items": {"type": "object", "required": ["id"], "additionalProperties": false, "properties": {
                    "id": {"type": "string"}, "kind": {"enum": ["node", "pair_extension"]}, "node": {"type": "string"},
                    "nodes": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 2},
                    "target": num}}}}},
            "task": {"type": "object", "additionalProperties": false, "properties": {
                "cost": {"const": "half_sse"},
                "test_examples": {"type": "array", "description": "held-out examples (accuracy only)"},
                "examples": {"type": "array", "items": {"type": "object", "additionalProperties": false, "properties": {
                    "sources": {"type": "object"}, "targets": {"type": "object"}}}}}},
            "protocol": {"type": "object", "properties": {
                "kind": {"enum": ["sawtooth", "hold"], "default": "sawtooth"},
                "beta_max": {"type": "number", "exclusiveMinimum": 0, "default": 0.5},
                "tau_fast": {"type": "number", "exclusiveMinimum": 0, "default": 10},
                "tau_slow": {"type": "number", "exclusiveMinimum": 0, "default": 300},
                "direction": {"enum": ["fast_fall", "fast_rise"], "default": "fast_fall"},
                "ramp_shape": {"enum": ["linear_beta", "linear_eta"], "default": "linear_beta"},
                "g_ref": {"oneOf": [num, {"const": "auto"}]},
                "switch": {"type": "object", "properties": {"mode": {"enum": ["slow_ramp", "reset_idealized"]}, "tau_switch": {"oneOf": [num, {"const": "auto"}]}, "safety": num}},
                "beta_schedule": {"type": "object", "properties": {"kind": {"enum": ["constant", "error_annealed"]}, "cap": num}},
                "cycles": {"type": "integer", "minimum": 1, "default": 1},
                "initial": {"enum": ["free_dc", "rest"], "default": "free_dc"},
                "beta": num, "duration": num}},
            "theta_auto": {"type": "object", "properties": {"c": {"type": "number", "exclusiveMinimum": 0, "default": 3.0}}},
            "solver": {"type": "object", "additionalProperties": false, "properties": {
                "method": {"enum": ["dopri5", "dop853", "rk4", "bdf", "auto"], "default": "dopri5"},
                "rtol": {"type": "number", "default": 1e-6}, "atol": {"type": "number", "default": 1e-9},
                "h_init": {"type": "number", "default": 0.1}, "h_max": {"type": "number", "default": 3.0},
                "rk4_h": {"type": "number", "default": 0.5}, "max_steps": {"type": "integer", "default": 200000},
                "stiffness_check": {"type": "boolean", "default": true},
                "factor_reuse": {"type": "boolean", "default": true},
                "implicit_h_max": {"type": "number", "default": 1000.0}}},
            "record": {"type": "object", "properties": {"elements": {"type": "array", "items": {"type": "string"}}, "samples_per_segment": {"type": "integer"}}},
            "compare": {"type": "array"},
            "meta": {"description": "free-form provenance (generator, seed)"}
        }
    })
}
