//! Compact netlists: model cards (`models`) and element groups (`element_groups`).
//!
//! A model card is a named set of element fields (`type`, `topology`, `arm`, `update`, bounds,
//! `signal`, ...). An element that names a card (`"model": "cm1"`) is the card with the
//! element's own fields laid over it (nested objects field by field), validated exactly like a
//! verbose element. An element group is an edge list of one card with per-edge initial weights
//! (and rest lengths): each edge expands to the element the verbose form would give, without a
//! JSON object per edge. Faults name where the value was written: `models.cm1.arm.C`,
//! `elements[12].model`, `element_groups[0].w[1234]`.

use super::{
    check_limit, describe, edge_stencil, element, initial_weight_check, params, same_nodes_fault,
    type_name, Cx, Limit, NodeRef, Obj, Placement,
};
use crate::physics::model::{Domain, Element, NodeId};
use serde_json::{Map, Value};
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;

/// One validated model card.
pub(super) struct Card<'v> {
    map: &'v Map<String, Value>,
    ty: Option<String>,
    /// The card as an element (placeholder nodes and id); `None` when the card has faults.
    template: Option<Element>,
}

/// The `models` table: every card is validated once, at `models.NAME`.
pub(super) fn model_cards<'v>(
    cx: &mut Cx,
    v: Option<&'v Value>,
    domain: Domain,
) -> BTreeMap<String, Card<'v>> {
    let mut out = BTreeMap::new();
    let map = match v {
        None | Some(Value::Null) => return out,
        Some(Value::Object(m)) => m,
        Some(other) => {
            cx.fault(
                "models",
                format!(
                    "expected an object of named model cards, got {}",
                    type_name(other)
                ),
            );
            return out;
        }
    };
    for (name, cv) in map {
        let path = format!("models.{name}");
        let Value::Object(cm) = cv else {
            cx.fault(
                path,
                format!(
                    "expected a model card (an object of element fields), got {}",
                    type_name(cv)
                ),
            );
            continue;
        };
        let before = cx.faults.len();
        if cm.get("type").is_none() {
            cx.fault(
                format!("{path}.type"),
                "missing (a model card names its element type)",
            );
        }
        for key in ["id", "nodes", "model"] {
            if cm.contains_key(key) {
                cx.fault(
                    format!("{path}.{key}"),
                    format!("a model card cannot set \"{key}\" (it belongs to each element)"),
                );
            }
        }
        let stripped: Value;
        let card_v = if ["id", "nodes", "model"].iter().any(|k| cm.contains_key(*k)) {
            let mut m = cm.clone();
            for key in ["id", "nodes", "model"] {
                m.remove(key);
            }
            stripped = Value::Object(m);
            &stripped
        } else {
            cv
        };
        let template = element(cx, card_v, &path, domain, Placement::Template);
        let ok = cx.faults.len() == before;
        out.insert(
            name.clone(),
            Card {
                map: cm,
                ty: cm.get("type").and_then(Value::as_str).map(str::to_string),
                template: if ok { template } else { None },
            },
        );
    }
    out
}

fn card_names(cards: &BTreeMap<String, Card<'_>>) -> String {
    if cards.is_empty() {
        "the netlist has no \"models\" table".into()
    } else {
        format!(
            "known: {}",
            cards.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    }
}

/// The card an element or group names at `path` (`model`), with the fault when there is none.
fn lookup<'c, 'v>(
    cx: &mut Cx,
    cards: &'c BTreeMap<String, Card<'v>>,
    m: Option<&Value>,
    path: String,
) -> Option<(&'c str, &'c Card<'v>)> {
    match m {
        Some(Value::String(name)) => match cards.get_key_value(name) {
            Some((k, c)) => Some((k.as_str(), c)),
            None => {
                cx.fault(
                    path,
                    format!("unknown model \"{name}\" ({})", card_names(cards)),
                );
                None
            }
        },
        None | Some(Value::Null) => {
            cx.fault(path, "missing (the name of a model card)");
            None
        }
        Some(other) => {
            cx.fault(
                path,
                format!("expected the name of a model card, got {}", describe(other)),
            );
            None
        }
    }
}

/// The card with the element's fields laid over it (nested objects merged field by field).
fn overlay(base: &Map<String, Value>, top: &Map<String, Value>) -> Map<String, Value> {
    let mut m = base.clone();
    for (k, v) in top {
        if k == "model" {
            continue;
        }
        match (m.get_mut(k), v) {
            (Some(Value::Object(a)), Value::Object(b)) => {
                let merged = overlay(a, b);
                *a = merged;
            }
            _ => {
                m.insert(k.clone(), v.clone());
            }
        }
    }
    m
}

/// Whether the dotted field `key` is written in `m`.
fn has_field(m: &Map<String, Value>, key: &str) -> bool {
    let mut cur = m;
    let mut parts = key.split('.').peekable();
    while let Some(p) = parts.next() {
        match cur.get(p) {
            None => return false,
            Some(Value::Object(o)) if parts.peek().is_some() => cur = o,
            Some(_) => return parts.peek().is_none(),
        }
    }
    true
}

/// A verbose element that names a model card.
#[allow(clippy::too_many_arguments)]
pub(super) fn carded_element(
    cx: &mut Cx,
    ev: &Value,
    m: &Value,
    cards: &BTreeMap<String, Card<'_>>,
    path: &str,
    domain: Domain,
    node_ref: &NodeRef<'_>,
    positions: &[[f64; 2]],
) -> Option<Element> {
    let own = ev.as_object()?;
    let (name, card) = lookup(cx, cards, Some(m), format!("{path}.model"))?;
    if let (Some(t), Some(ct)) = (own.get("type"), &card.ty) {
        if t.as_str() != Some(ct.as_str()) {
            cx.fault(
                format!("{path}.type"),
                format!(
                    "{} differs from the type of model \"{name}\" ({ct}); an element cannot change its model's type",
                    describe(t)
                ),
            );
            return None;
        }
    }
    let merged = Value::Object(overlay(card.map, own));
    let before = cx.faults.len();
    let el = element(
        cx,
        &merged,
        path,
        domain,
        Placement::Json(node_ref, positions),
    );
    // Faults of fields the element takes from its card: already reported at the card when
    // the card itself is faulty; otherwise (a conflict with the element's own fields) they
    // stay at the element and say where the value came from.
    let prefix = format!("{path}.");
    let mut kept = Vec::new();
    for mut f in cx.faults.drain(before..) {
        let from_card = f
            .path
            .strip_prefix(&prefix)
            .is_some_and(|k| !has_field(own, k) && has_field(card.map, k));
        if from_card {
            if card.template.is_none() {
                continue;
            }
            f.message = format!("{} (from model \"{name}\")", f.message);
        }
        kept.push(f);
    }
    cx.faults.extend(kept);
    el
}

/// Where the elements of the groups sit in the element list (for fault paths).
pub(super) struct ElementGroups {
    /// Elements before the groups (the verbose `elements` array).
    pub first: usize,
    /// Per group: its elements' range in the element list.
    pub ranges: Vec<Range<usize>>,
    /// Edges written in all groups.
    pub n_edges: usize,
}

impl ElementGroups {
    /// The JSON path of element `i` of a netlist without faults.
    pub fn path(&self, i: usize) -> String {
        if i < self.first {
            return format!("elements[{i}]");
        }
        match self.ranges.iter().position(|r| r.contains(&i)) {
            Some(g) => format!("element_groups[{g}].edges[{}]", i - self.ranges[g].start),
            None => format!("elements[{i}]"),
        }
    }
}

/// Element ids seen so far: the verbose ones (also faulty elements) and the index of every
/// element.
pub(super) struct Ids<'a> {
    pub seen: &'a HashSet<String>,
    pub index: &'a mut HashMap<String, usize>,
}

/// One end of an edge: a node index (position in `nodes`) or a node id.
fn edge_end(
    cx: &mut Cx,
    v: &Value,
    node_index: &HashMap<String, usize>,
    n_nodes: usize,
    path: impl FnOnce() -> String,
) -> Option<usize> {
    match v {
        Value::Number(x) => match x.as_u64() {
            Some(k) if (k as usize) < n_nodes => Some(k as usize),
            _ => {
                cx.fault(
                    path(),
                    format!(
                        "node index {x} out of range (a position in \"nodes\", 0 to {})",
                        n_nodes.saturating_sub(1)
                    ),
                );
                None
            }
        },
        Value::String(s) => match node_index.get(s) {
            Some(&k) => Some(k),
            None => {
                cx.fault(path(), format!("unknown node id \"{s}\""));
                None
            }
        },
        other => {
            cx.fault(
                path(),
                format!("expected a node index or node id, got {}", type_name(other)),
            );
            None
        }
    }
}

/// A per-edge array of group `gpath`: one finite number per edge within the field's limits.
fn per_edge<'v>(
    cx: &mut Cx,
    v: Option<&'v Value>,
    gpath: &str,
    key: &str,
    n_edges: usize,
) -> Option<&'v [Value]> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) if a.len() == n_edges => Some(a),
        Some(Value::Array(a)) => {
            cx.fault(
                format!("{gpath}.{key}"),
                format!("has {} values for {n_edges} edges", a.len()),
            );
            None
        }
        Some(other) => {
            cx.fault(
                format!("{gpath}.{key}"),
                format!(
                    "expected an array with one value per edge, got {}",
                    type_name(other)
                ),
            );
            None
        }
    }
}

/// The per-edge fields a group of `ty` elements may carry in `domain`.
pub(super) fn per_edge_fields(ty: &str, domain: Domain) -> Vec<&'static str> {
    let mut f = vec![params::weight_field(ty)];
    if domain == Domain::Elastic2d && params::has_rest_length(ty) {
        f.push("rest_length");
    }
    f
}

/// Every per-edge field name of any kind.
const PER_EDGE_ANY: &[&str] = &["w", "k", "k_m", "rest_length"];

/// An element group read without a JSON tree of its edge list and per-edge arrays (when they
/// are plain node indices and numbers and the group has no other fields; anything else is read
/// as a tree and validated the same way).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TypedGroup {
    model: String,
    id_prefix: Option<String>,
    id_start: Option<u64>,
    edges: Vec<[u64; 2]>,
    w: Option<Vec<f64>>,
    k: Option<Vec<f64>>,
    k_m: Option<Vec<f64>>,
    rest_length: Option<Vec<f64>>,
    /// `model`, `id_prefix` and `id_start` as a tree (for the shared reader).
    #[serde(skip)]
    head: Value,
}

impl TypedGroup {
    pub(super) fn parse(text: &str) -> Option<TypedGroup> {
        let mut g: TypedGroup = serde_json::from_str(text).ok()?;
        let mut head = Map::new();
        head.insert("model".into(), Value::String(g.model.clone()));
        if let Some(p) = &g.id_prefix {
            head.insert("id_prefix".into(), Value::String(p.clone()));
        }
        if let Some(s) = g.id_start {
            head.insert("id_start".into(), Value::from(s));
        }
        g.head = Value::Object(head);
        Some(g)
    }

    fn array(&self, key: &str) -> Option<&[f64]> {
        match key {
            "w" => self.w.as_deref(),
            "k" => self.k.as_deref(),
            "k_m" => self.k_m.as_deref(),
            "rest_length" => self.rest_length.as_deref(),
            _ => None,
        }
    }
}

/// One element group as read: a tree, or typed.
pub(super) enum GroupSrc<'v> {
    Tree(&'v Value),
    Typed(&'v TypedGroup),
}

/// The items of an edge list or per-edge array.
#[derive(Clone, Copy)]
enum Items<'v, T> {
    Tree(&'v [Value]),
    Typed(&'v [T]),
}

impl<T> Items<'_, T> {
    fn len(&self) -> usize {
        match self {
            Items::Tree(a) => a.len(),
            Items::Typed(a) => a.len(),
        }
    }
}

/// The `element_groups` array: appends the groups' elements to `elements`.
#[allow(clippy::too_many_arguments)]
pub(super) fn element_groups(
    cx: &mut Cx,
    groups: &[GroupSrc<'_>],
    cards: &BTreeMap<String, Card<'_>>,
    domain: Domain,
    node_index: &HashMap<String, usize>,
    positions: &[[f64; 2]],
    first: usize,
    ids: &mut Ids<'_>,
    elements: &mut Vec<Element>,
) -> ElementGroups {
    let mut out = ElementGroups {
        first,
        ranges: Vec::new(),
        n_edges: 0,
    };
    let n_nodes = positions.len();
    for (g, src) in groups.iter().enumerate() {
        let (gv, typed) = match src {
            GroupSrc::Tree(v) => (*v, None),
            GroupSrc::Typed(t) => (&t.head, Some(*t)),
        };
        let gpath = format!("element_groups[{g}]");
        let start = elements.len();
        let default_start = first + out.n_edges;
        let mut o = Obj::new(cx, Some(gv), &gpath);
        if !o.exists() {
            if gv.is_null() {
                cx.fault(gpath, "expected an element group object, got null");
            }
            out.ranges.push(start..start);
            continue;
        }
        let card = lookup(cx, cards, o.get("model"), format!("{gpath}.model"));
        let prefix = o.string(cx, "id_prefix").unwrap_or_else(|| "e".into());
        let id_start = o.number(cx, "id_start", Some(default_start as f64), Limit::Ge(0.0));
        if id_start.is_finite() && id_start.fract() != 0.0 {
            cx.fault(
                format!("{gpath}.id_start"),
                format!("must be a whole number, got {id_start}"),
            );
        }
        let id_start = if id_start.is_finite() && id_start >= 0.0 {
            id_start as usize
        } else {
            default_start
        };
        let edges: Items<'_, [u64; 2]> = match typed {
            Some(t) => Items::Typed(&t.edges),
            None => Items::Tree(super::arr(
                cx,
                o.get("edges"),
                &format!("{gpath}.edges"),
                true,
            )),
        };
        out.n_edges += edges.len();
        let fields = card
            .and_then(|(_, c)| c.ty.as_deref())
            .map(|ty| per_edge_fields(ty, domain));
        let mut arrays: Vec<(&'static str, Items<'_, f64>)> = Vec::new();
        for key in PER_EDGE_ANY {
            let v = o.get(key);
            let t = typed.and_then(|t| t.array(key));
            if v.is_none_or(Value::is_null) && t.is_none() {
                continue;
            }
            match &fields {
                Some(f) if f.contains(key) => match t {
                    Some(a) if a.len() == edges.len() => arrays.push((key, Items::Typed(a))),
                    Some(a) => cx.fault(
                        format!("{gpath}.{key}"),
                        format!("has {} values for {} edges", a.len(), edges.len()),
                    ),
                    None => {
                        if let Some(a) = per_edge(cx, v, &gpath, key, edges.len()) {
                            arrays.push((key, Items::Tree(a)));
                        }
                    }
                },
                Some(f) => cx.fault(
                    format!("{gpath}.{key}"),
                    format!(
                        "not a per-edge field of these elements (per-edge fields here: {})",
                        f.join(", ")
                    ),
                ),
                None => {}
            }
        }
        o.finish(cx, &[]);
        let Some((_, card)) = card else {
            out.ranges.push(start..start);
            continue;
        };
        let Some(template) = &card.template else {
            out.ranges.push(start..start);
            continue;
        };
        let ty = card.ty.as_deref().unwrap_or_default();
        let table = params::KINDS
            .iter()
            .find(|k| k.0 == ty)
            .map(|k| k.2)
            .unwrap_or_default();
        let spec = |key: &str| table.iter().find(|p| p.name == key).map(|p| p.min);
        let learns = params::kind_learns(ty) && !template.channels.is_empty();
        let wf = params::weight_field(ty);
        let w_array = arrays.iter().find(|a| a.0 == wf).map(|a| a.1);
        if w_array.is_none() {
            // One initial weight for the whole group: checked once.
            initial_weight_check(
                cx,
                || format!("{gpath}.model"),
                learns,
                template.w0,
                &template.bounds,
            );
        }
        elements.reserve(edges.len());
        for k in 0..edges.len() {
            let owned: Value;
            let ev = match edges {
                Items::Tree(a) => &a[k],
                Items::Typed(a) => {
                    owned = Value::Array(vec![Value::from(a[k][0]), Value::from(a[k][1])]);
                    &owned
                }
            };
            let ends = match ev {
                Value::Array(a) if a.len() == 2 => {
                    let i = edge_end(cx, &a[0], node_index, n_nodes, || {
                        format!("{gpath}.edges[{k}][0]")
                    });
                    let j = edge_end(cx, &a[1], node_index, n_nodes, || {
                        format!("{gpath}.edges[{k}][1]")
                    });
                    match (i, j) {
                        (Some(i), Some(j)) if i == j => {
                            same_nodes_fault(cx, format!("{gpath}.edges[{k}]"));
                            None
                        }
                        (Some(i), Some(j)) => Some((i, j)),
                        _ => None,
                    }
                }
                other => {
                    cx.fault(
                        format!("{gpath}.edges[{k}]"),
                        format!(
                            "expected [i, j] (node indices or ids), got {}",
                            describe(other)
                        ),
                    );
                    None
                }
            };
            let name = format!("{prefix}{}", id_start + k);
            let dup = |cx: &mut Cx, name: &str| {
                cx.fault(
                    format!("{gpath}.edges[{k}]"),
                    format!("duplicate element id \"{name}\" (id_prefix + index)"),
                );
            };
            if ids.seen.contains(&name) {
                dup(cx, &name);
                continue;
            }
            // One hash per element: the slot is filled when the element is valid.
            let slot = match ids.index.entry(name) {
                Entry::Occupied(o) => {
                    dup(cx, o.key());
                    continue;
                }
                Entry::Vacant(v) => v,
            };
            let mut w0 = template.w0;
            let mut l0 = template.l0;
            let mut ok = true;
            for &(key, a) in &arrays {
                let p = || format!("{gpath}.{key}[{k}]");
                let owned: Value;
                let item = match a {
                    Items::Tree(t) => &t[k],
                    Items::Typed(t) => {
                        owned = Value::from(t[k]);
                        &owned
                    }
                };
                let x = match item.as_f64() {
                    Some(x) => x,
                    None => {
                        cx.fault(p(), format!("expected a number, got {}", type_name(item)));
                        ok = false;
                        continue;
                    }
                };
                let before = cx.faults.len();
                check_limit(cx, &p(), x, spec(key).unwrap_or(Limit::None));
                ok &= cx.faults.len() == before;
                if key == wf {
                    w0 = x;
                } else {
                    l0 = x;
                }
            }
            if w_array.is_some() && ok {
                initial_weight_check(
                    cx,
                    || format!("{gpath}.{wf}[{k}]"),
                    learns,
                    w0,
                    &template.bounds,
                );
            }
            let Some((i, j)) = ends else { continue };
            let stencil = edge_stencil(
                cx,
                || format!("{gpath}.edges[{k}]"),
                domain,
                (i, j),
                positions,
            );
            let mut el = template.clone();
            el.name = slot.key().clone();
            slot.insert(elements.len());
            el.nodes = (NodeId(i), NodeId(j));
            el.stencil = stencil;
            el.w0 = w0;
            el.l0 = l0;
            elements.push(el);
        }
        out.ranges.push(start..elements.len());
    }
    out
}
