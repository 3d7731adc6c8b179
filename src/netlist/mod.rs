//! JSON netlists: parsing and validation into the physics model.
//!
//! The netlist is read as a JSON tree and walked section by section; every fault is collected
//! with its JSON path (`elements[3].arm.C: must be > 0, got -1`) and all are reported at once.
//! The element fields come from the parameter tables in [`params`].

mod cards;
pub mod chem;
pub mod dupkeys;
pub mod params;
pub mod schema;

use crate::physics::dynamics::{Method, SolverSettings};
use crate::physics::model::{
    Arm, ArmSignal, BoundMode, Bounds, Channel, Chem, ChemSignal, Domain, Element, ElementKind,
    Example, LearnTarget, Network, NodeId, Nonlinearity, Output, SignalSource, Stencil, ThetaSpec,
    Topology, Waveform,
};
use crate::protocol::{BetaSchedule, Direction, RampShape, SwitchMode};
use params::{Default_, FieldType, Limit, ParamSpec};
use serde::Deserializer as _;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;

/// Accepted values of the `schema` field.
pub const SCHEMA_IDS: &[&str] = &["physlearn-netlist/1", "tcl-netlist/0.1"];

/// One fault in a netlist.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fault {
    pub path: String,
    pub message: String,
}

impl fmt::Display for Fault {
    /// One line per fault: control characters of a key (a newline) are shown escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let one_line = |s: &str| -> String {
            s.chars()
                .flat_map(|c| {
                    let v: Vec<char> = if c.is_control() {
                        c.escape_default().collect()
                    } else {
                        vec![c]
                    };
                    v
                })
                .collect()
        };
        write!(f, "{}: {}", one_line(&self.path), one_line(&self.message))
    }
}

/// The faults as printed: faults with the same message whose paths differ only in one array
/// index are one line, `elements[0..105].arm.C (106 entries): must be > 0, got -1`; the list
/// of faults itself (`check --json`, Python's `NetlistError.faults`) keeps every one.
pub fn grouped_lines(faults: &[Fault]) -> Vec<String> {
    // (prefix, suffix, message) → indices, in order of first appearance.
    let mut groups: Vec<((String, String, String), Vec<usize>)> = Vec::new();
    let mut lines: Vec<Result<String, usize>> = Vec::new();
    for f in faults {
        match split_index(&f.path) {
            Some((pre, i, suf)) => {
                let key = (pre.to_string(), suf.to_string(), f.message.clone());
                match groups.iter_mut().position(|(k, _)| *k == key) {
                    Some(g) => groups[g].1.push(i),
                    None => {
                        lines.push(Err(groups.len()));
                        groups.push((key, vec![i]));
                    }
                }
            }
            None => lines.push(Ok(f.to_string())),
        }
    }
    lines
        .into_iter()
        .map(|l| match l {
            Ok(text) => text,
            Err(g) => {
                let ((pre, suf, message), idx) = &groups[g];
                let mut path = format!("{pre}[{}]{suf}", index_ranges(idx));
                if idx.len() > 1 {
                    path.push_str(&format!(" ({} entries)", idx.len()));
                }
                Fault {
                    path,
                    message: message.clone(),
                }
                .to_string()
            }
        })
        .collect()
}

/// `elements[12].arm.C` → (`elements`, 12, `.arm.C`): the first array index of a path.
fn split_index(path: &str) -> Option<(&str, usize, &str)> {
    let open = path.find('[')?;
    let close = open + path[open..].find(']')?;
    let i = path[open + 1..close].parse().ok()?;
    Some((&path[..open], i, &path[close + 1..]))
}

/// `[0, 1, 2, 5, 7, 8]` → `0..2,5,7..8`, at most six ranges then `…`.
fn index_ranges(idx: &[usize]) -> String {
    let mut sorted = idx.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for i in sorted {
        match ranges.last_mut() {
            Some((_, hi)) if *hi + 1 == i => *hi = i,
            _ => ranges.push((i, i)),
        }
    }
    let mut parts: Vec<String> = (ranges.iter().take(6))
        .map(|&(lo, hi)| {
            if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}..{hi}")
            }
        })
        .collect();
    if ranges.len() > 6 {
        parts.push("…".into());
    }
    parts.join(",")
}

/// Errors of the netlist layer.
#[derive(Debug, thiserror::Error)]
pub enum NetlistError {
    /// The cause is part of the message (not a `#[source]`), so a report that walks the
    /// error chain prints it once.
    #[error("{path}: {cause}")]
    Read { path: String, cause: std::io::Error },
    #[error("JSON syntax error at line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    /// Every fault, each with its JSON path; printed grouped ([`grouped_lines`]).
    #[error("{} fault(s) in the netlist:\n{}", .0.len(), grouped_lines(.0).iter().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Fault>),
}

/// Protocol as written (autos unresolved).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProtocolSpec {
    Sawtooth(SawtoothSpec),
    Hold {
        beta: f64,
        duration: f64,
        /// Start with every arm/chemical state at 0 instead of the free DC state.
        from_rest: bool,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SawtoothSpec {
    pub beta_max: f64,
    pub tau_fast: f64,
    pub tau_slow: f64,
    pub direction: Direction,
    pub ramp_shape: RampShape,
    /// None = auto (Thévenin conductance at the first output).
    pub g_ref: Option<f64>,
    pub switch_mode: SwitchMode,
    /// None = auto (`τ_sw = safety · τ_k max|Δs|/θ`).
    pub tau_switch: Option<f64>,
    pub switch_safety: f64,
    pub beta_schedule: BetaSchedule,
    pub cycles: usize,
    /// Start with every arm/chemical state at 0 instead of the free DC state.
    pub from_rest: bool,
}

/// Time-series recording options.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecordSpec {
    /// Elements whose states are written to timeseries.csv.
    pub elements: Vec<usize>,
    pub samples_per_segment: usize,
}

/// A loaded, validated netlist.
#[derive(Clone, Debug, Serialize)]
pub struct Netlist {
    pub network: Network,
    pub protocol: ProtocolSpec,
    pub solver: SolverSettings,
    /// `c` of `θ = c τ_k A_max/τ_slow`.
    pub theta_c: f64,
    /// Target loop gain of `rho: "auto"` (`rho_auto.loop_gain`, docs/physics.md §1.5).
    pub rho_loop_gain: f64,
    pub record: RecordSpec,
    /// Free-form metadata (e.g. generator and seed).
    pub meta: Value,
}

/// Load and validate a netlist from a file.
pub fn load(path: &std::path::Path) -> Result<(Netlist, Vec<u8>), NetlistError> {
    let bytes = std::fs::read(path).map_err(|e| NetlistError::Read {
        path: path.display().to_string(),
        cause: e,
    })?;
    let nl = parse(&bytes)?;
    Ok((nl, bytes))
}

/// Parse and validate netlist text (without a JSON tree of the element array, see [`Doc`]).
pub fn parse(bytes: &[u8]) -> Result<Netlist, NetlistError> {
    from_doc(&Doc::from_slice(bytes)?)
}

/// A netlist document read without a JSON tree for its `elements` array: the other top-level
/// fields as a tree, each element as its JSON text (a slice of the input), parsed and
/// validated one at a time. A 130 560-element netlist then never holds more than one element
/// tree.
pub struct Doc<'a> {
    /// The document (without `elements` when that is an array).
    pub top: Value,
    raw: RawArrays<'a>,
}

/// Top-level arrays kept as JSON text slices, one per item.
#[derive(Default)]
struct RawArrays<'a> {
    elements: Option<Vec<&'a RawValue>>,
    nodes: Option<Vec<&'a RawValue>>,
    /// `element_groups`: per group typed, or its tree when it does not fit the typed form.
    groups: Option<Vec<RawGroup>>,
}

/// One element group of a [`Doc`].
enum RawGroup {
    Typed(cards::TypedGroup),
    Tree(Value),
}

impl<'a> RawArrays<'a> {
    fn slot(&mut self, key: &str) -> Option<&mut Option<Vec<&'a RawValue>>> {
        match key {
            "elements" => Some(&mut self.elements),
            "nodes" => Some(&mut self.nodes),
            _ => None,
        }
    }
}

impl<'a> Doc<'a> {
    /// Parse JSON text (syntax errors as [`NetlistError::Syntax`]).
    pub fn from_slice(bytes: &'a [u8]) -> Result<Doc<'a>, NetlistError> {
        let syntax = |e: serde_json::Error| NetlistError::Syntax {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        };
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        if first != Some(&b'{') {
            let top: Value = serde_json::from_slice(bytes).map_err(syntax)?;
            return Ok(Doc {
                top,
                raw: RawArrays::default(),
            });
        }
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let (map, raw) = de.deserialize_map(TopVisitor).map_err(syntax)?;
        de.end().map_err(syntax)?;
        Ok(Doc {
            top: Value::Object(map),
            raw,
        })
    }

    /// Whether this is a chemical netlist (`physics: "chemical"`).
    pub fn is_chemical(&self) -> bool {
        chem::is_chemical(&self.top)
    }
}

/// The top-level object: `elements` kept as text slices when it is an array.
struct TopVisitor;

type Top<'de> = (Map<String, Value>, RawArrays<'de>);

impl<'de> serde::de::Visitor<'de> for TopVisitor {
    type Value = Top<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a netlist object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Top<'de>, A::Error> {
        let mut m = Map::new();
        let mut raw_arrays = RawArrays::default();
        while let Some(k) = map.next_key::<String>()? {
            if k == "element_groups" {
                let raw: &'de RawValue = map.next_value()?;
                let groups: Option<Vec<&'de RawValue>> = if raw.get().starts_with('[') {
                    Some(serde_json::from_str(raw.get()).map_err(serde::de::Error::custom)?)
                } else {
                    None
                };
                match groups {
                    Some(items) => {
                        let mut out = Vec::with_capacity(items.len());
                        for it in items {
                            out.push(match cards::TypedGroup::parse(it.get()) {
                                Some(t) => RawGroup::Typed(t),
                                None => RawGroup::Tree(
                                    serde_json::from_str(it.get())
                                        .map_err(serde::de::Error::custom)?,
                                ),
                            });
                        }
                        raw_arrays.groups = Some(out);
                        m.shift_remove(&k);
                    }
                    None => {
                        let v: Value =
                            serde_json::from_str(raw.get()).map_err(serde::de::Error::custom)?;
                        raw_arrays.groups = None;
                        m.insert(k, v);
                    }
                }
            } else if let Some(slot) = raw_arrays.slot(&k) {
                let raw: &'de RawValue = map.next_value()?;
                if raw.get().starts_with('[') {
                    let items: Vec<&'de RawValue> =
                        serde_json::from_str(raw.get()).map_err(serde::de::Error::custom)?;
                    *slot = Some(items);
                    m.shift_remove(&k);
                } else {
                    let v: Value =
                        serde_json::from_str(raw.get()).map_err(serde::de::Error::custom)?;
                    *slot = None;
                    m.insert(k, v);
                }
            } else {
                let v: Value = map.next_value()?;
                m.insert(k, v);
            }
        }
        Ok((m, raw_arrays))
    }
}

/// Validate a document read by [`Doc::from_slice`].
pub fn from_doc(doc: &Doc<'_>) -> Result<Netlist, NetlistError> {
    validated(&doc.top, &doc.raw)
}

/// Validate a JSON tree.
pub fn from_value(v: &Value) -> Result<Netlist, NetlistError> {
    validated(v, &RawArrays::default())
}

fn validated(v: &Value, raw: &RawArrays<'_>) -> Result<Netlist, NetlistError> {
    let mut cx = Cx { faults: Vec::new() };
    let out = build(&mut cx, v, raw);
    match out {
        Some(nl) if cx.faults.is_empty() => Ok(nl),
        _ => {
            if cx.faults.is_empty() {
                cx.fault(
                    "$",
                    format!("expected a netlist object, got {}", type_name(v)),
                );
            }
            Err(NetlistError::Invalid(cx.faults))
        }
    }
}

struct Cx {
    faults: Vec<Fault>,
}

impl Cx {
    /// Record a fault; the root of the document is `$`.
    fn fault(&mut self, path: impl Into<String>, msg: impl Into<String>) {
        let path = path.into();
        self.faults.push(Fault {
            path: if path.is_empty() { "$".into() } else { path },
            message: msg.into(),
        });
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Reader over one JSON object that records which keys were read and reports unknown ones.
struct Obj<'v> {
    map: Option<&'v Map<String, Value>>,
    path: String,
    used: BTreeSet<String>,
}

impl<'v> Obj<'v> {
    fn new(cx: &mut Cx, v: Option<&'v Value>, path: &str) -> Obj<'v> {
        let map = match v {
            Some(Value::Object(m)) => Some(m),
            None | Some(Value::Null) => None,
            Some(other) => {
                cx.fault(
                    path,
                    format!("expected an object, got {}", type_name(other)),
                );
                None
            }
        };
        Obj {
            map,
            path: path.to_string(),
            used: BTreeSet::new(),
        }
    }

    fn exists(&self) -> bool {
        self.map.is_some()
    }

    /// Look up a dotted key.
    fn get(&mut self, key: &str) -> Option<&'v Value> {
        let mut parts = key.split('.');
        let first = parts.next()?;
        self.used.insert(first.to_string());
        let mut cur = self.map?.get(first)?;
        for p in parts {
            cur = cur.as_object()?.get(p)?;
        }
        Some(cur)
    }

    fn number(&mut self, cx: &mut Cx, key: &str, default: Option<f64>, min: Limit) -> f64 {
        let path = join(&self.path, key);
        let val = match self.get(key) {
            None | Some(Value::Null) => match default {
                Some(d) => return d,
                None => {
                    cx.fault(path, "missing required field");
                    return f64::NAN;
                }
            },
            Some(Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
            Some(other) => {
                cx.fault(path, format!("expected a number, got {}", type_name(other)));
                return f64::NAN;
            }
        };
        check_limit(cx, &path, val, min);
        val
    }

    fn number_or_auto(&mut self, cx: &mut Cx, key: &str, min: Limit) -> Option<f64> {
        let path = join(&self.path, key);
        match self.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s == "auto" => None,
            Some(Value::Number(n)) => {
                let v = n.as_f64().unwrap_or(f64::NAN);
                check_limit(cx, &path, v, min);
                Some(v)
            }
            Some(other) => {
                cx.fault(
                    path,
                    format!("expected a number or \"auto\", got {}", describe(other)),
                );
                None
            }
        }
    }

    fn string(&mut self, cx: &mut Cx, key: &str) -> Option<String> {
        let path = join(&self.path, key);
        match self.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                cx.fault(path, format!("expected a string, got {}", type_name(other)));
                None
            }
        }
    }

    fn choice(&mut self, cx: &mut Cx, key: &str, options: &[&str], default: &str) -> String {
        let path = join(&self.path, key);
        match self.string(cx, key) {
            None => default.to_string(),
            Some(s) if options.contains(&s.as_str()) => s,
            Some(s) => {
                cx.fault(
                    path,
                    format!(
                        "unknown value \"{s}\" (expected one of: {})",
                        options.join(", ")
                    ),
                );
                default.to_string()
            }
        }
    }

    fn boolean(&mut self, cx: &mut Cx, key: &str, default: bool) -> bool {
        let path = join(&self.path, key);
        match self.get(key) {
            None | Some(Value::Null) => default,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                cx.fault(
                    path,
                    format!("expected true or false, got {}", type_name(other)),
                );
                default
            }
        }
    }

    fn sign(&mut self, cx: &mut Cx, key: &str) -> f64 {
        let path = join(&self.path, key);
        match self.get(key) {
            None | Some(Value::Null) => 1.0,
            Some(Value::Number(n)) if n.as_f64() == Some(1.0) => 1.0,
            Some(Value::Number(n)) if n.as_f64() == Some(-1.0) => -1.0,
            Some(other) => {
                cx.fault(path, format!("must be +1 or -1, got {}", describe(other)));
                1.0
            }
        }
    }

    /// Read a field described by a table entry.
    fn spec_number(&mut self, cx: &mut Cx, p: &ParamSpec) -> f64 {
        let d = match p.default {
            Default_::Num(x) => Some(x),
            Default_::Required => None,
            _ => Some(f64::NAN),
        };
        self.number(cx, p.name, d, p.min)
    }

    /// Report keys that were never read (unknown fields), also inside read sub-objects.
    fn finish(self, cx: &mut Cx, known_nested: &[&str]) {
        let Some(map) = self.map else { return };
        for k in map.keys() {
            if !self.used.contains(k) {
                let mut known: Vec<&str> = self.used.iter().map(String::as_str).collect();
                known.sort();
                cx.fault(
                    join(&self.path, k),
                    format!("unknown field (known here: {})", known.join(", ")),
                );
            }
        }
        // Nested objects: check their keys against the dotted names.
        let mut by_parent: HashMap<&str, Vec<&str>> = HashMap::new();
        for n in known_nested {
            if let Some((a, b)) = n.split_once('.') {
                by_parent
                    .entry(a)
                    .or_default()
                    .push(b.split('.').next().unwrap_or(b));
            }
        }
        for (parent, kids) in by_parent {
            if let Some(Value::Object(m)) = map.get(parent) {
                for k in m.keys() {
                    if !kids.contains(&k.as_str()) {
                        cx.fault(
                            format!("{}.{k}", join(&self.path, parent)),
                            format!("unknown field (known here: {})", kids.join(", ")),
                        );
                    }
                }
            } else if let Some(other) = map.get(parent) {
                if !other.is_null() {
                    cx.fault(
                        join(&self.path, parent),
                        format!("expected an object, got {}", type_name(other)),
                    );
                }
            }
        }
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("\"{s}\""),
        other => type_name(other).to_string(),
    }
}

fn check_limit(cx: &mut Cx, path: &str, v: f64, min: Limit) {
    if !v.is_finite() {
        cx.fault(path, format!("must be a finite number, got {v}"));
        return;
    }
    match min {
        Limit::Gt(x) if v <= x => cx.fault(path, format!("must be > {x}, got {v}")),
        Limit::Ge(x) if v < x => cx.fault(path, format!("must be ≥ {x}, got {v}")),
        _ => {}
    }
}

/// `protocol.beta_schedule` (shared by the flow and chemical loaders; the default `cap`
/// differs by family).
fn beta_schedule(cx: &mut Cx, v: Option<&Value>, default_cap: f64) -> BetaSchedule {
    let mut bs = Obj::new(cx, v, "protocol.beta_schedule");
    let s = match bs
        .choice(cx, "kind", &["constant", "error_annealed"], "constant")
        .as_str()
    {
        "error_annealed" => BetaSchedule::ErrorAnnealed {
            cap: bs.number(cx, "cap", Some(default_cap), Limit::Gt(0.0)),
        },
        _ => BetaSchedule::Constant,
    };
    bs.finish(cx, &[]);
    s
}

fn arr<'v>(cx: &mut Cx, v: Option<&'v Value>, path: &str, required: bool) -> &'v [Value] {
    match v {
        Some(Value::Array(a)) => a,
        None | Some(Value::Null) => {
            if required {
                cx.fault(path, "missing required array");
            }
            &[]
        }
        Some(other) => {
            cx.fault(path, format!("expected an array, got {}", type_name(other)));
            &[]
        }
    }
}

fn build(cx: &mut Cx, root: &Value, raw: &RawArrays<'_>) -> Option<Netlist> {
    let raw_elements = raw.elements.as_deref();
    let mut top = Obj::new(cx, Some(root), "");
    if !top.exists() {
        return None;
    }
    match top.string(cx, "schema") {
        Some(s) if SCHEMA_IDS.contains(&s.as_str()) => {}
        Some(s) => cx.fault(
            "schema",
            format!(
                "unsupported schema \"{s}\" (expected {})",
                SCHEMA_IDS.join(" or ")
            ),
        ),
        None => cx.fault(
            "schema",
            format!("missing (expected \"{}\")", SCHEMA_IDS[0]),
        ),
    }
    let domain = match top
        .choice(cx, "physics", &["flow", "elastic2d"], "flow")
        .as_str()
    {
        "elastic2d" => Domain::Elastic2d,
        _ => Domain::Flow,
    };
    if top.get("physics").is_none() {
        cx.fault("physics", "missing (expected \"flow\" or \"elastic2d\")");
    }

    // ---- nodes
    let nodes_v = arr(cx, top.get("nodes"), "nodes", raw.nodes.is_none());
    let n_nodes = raw.nodes.as_ref().map_or(nodes_v.len(), Vec::len);
    let mut node_names = Vec::with_capacity(n_nodes);
    let mut positions = Vec::with_capacity(n_nodes);
    let mut node_index: HashMap<String, usize> = HashMap::with_capacity(n_nodes);
    for i in 0..n_nodes {
        let path = format!("nodes[{i}]");
        let parsed: Value;
        let nv = match &raw.nodes {
            None => &nodes_v[i],
            Some(r) => match serde_json::from_str::<Value>(r[i].get()) {
                Ok(v) => {
                    parsed = v;
                    &parsed
                }
                Err(e) => {
                    cx.fault(path, format!("unreadable node: {e}"));
                    continue;
                }
            },
        };
        let mut o = Obj::new(cx, Some(nv), &path);
        let id = o.string(cx, "id");
        let pos = match o.get("pos") {
            Some(Value::Array(a)) if a.len() == 2 && a.iter().all(|x| x.is_number()) => {
                let p = [
                    a[0].as_f64().unwrap_or(f64::NAN),
                    a[1].as_f64().unwrap_or(f64::NAN),
                ];
                if !p[0].is_finite() || !p[1].is_finite() {
                    cx.fault(format!("{path}.pos"), "coordinates must be finite");
                }
                Some(p)
            }
            None | Some(Value::Null) => None,
            Some(other) => {
                cx.fault(
                    format!("{path}.pos"),
                    format!("expected [x, y], got {}", describe(other)),
                );
                None
            }
        };
        if pos.is_none() && domain == Domain::Elastic2d {
            cx.fault(
                format!("{path}.pos"),
                "required for elastic2d (reference position)",
            );
        }
        o.finish(cx, &[]);
        let id = match id {
            Some(s) if !s.is_empty() => s,
            Some(_) => {
                cx.fault(format!("{path}.id"), "must not be empty");
                format!("#{i}")
            }
            None => {
                cx.fault(format!("{path}.id"), "missing required field");
                format!("#{i}")
            }
        };
        if node_index.contains_key(&id) {
            cx.fault(format!("{path}.id"), format!("duplicate node id \"{id}\""));
        } else {
            node_index.insert(id.clone(), node_names.len());
        }
        node_names.push(id);
        positions.push(pos.unwrap_or([i as f64, 0.0]));
    }
    let node_ref = |cx: &mut Cx, v: Option<&Value>, path: &str| -> Option<usize> {
        match v {
            Some(Value::String(s)) => match node_index.get(s) {
                Some(&k) => Some(k),
                None => {
                    cx.fault(path, format!("unknown node id \"{s}\""));
                    None
                }
            },
            None | Some(Value::Null) => {
                cx.fault(path, "missing node id");
                None
            }
            Some(other) => {
                cx.fault(
                    path,
                    format!("expected a node id string, got {}", type_name(other)),
                );
                None
            }
        }
    };

    // ---- model cards and elements
    let cards = cards::model_cards(cx, top.get("models"), domain);
    let has_groups =
        raw.groups.is_some() || !matches!(top.get("element_groups"), None | Some(Value::Null));
    let elems_v = arr(
        cx,
        top.get("elements"),
        "elements",
        !has_groups && raw_elements.is_none(),
    );
    let has_elements = raw_elements.is_some() || top.get("elements").is_some();
    let n_elems = raw_elements.map_or(elems_v.len(), <[_]>::len);
    let mut elements = Vec::with_capacity(n_elems);
    let mut elem_index: HashMap<String, usize> = HashMap::with_capacity(n_elems);
    let mut seen_ids: HashSet<String> = HashSet::with_capacity(n_elems);
    // Validated elements by their shape (every field but id, nodes and the per-edge values):
    // an element of a known shape is its template with its own id, nodes and values, checked
    // as `element` checks them (a large verbose network repeats a few shapes).
    let mut shapes: HashMap<String, Element> = HashMap::new();
    for i in 0..n_elems {
        let path = format!("elements[{i}]");
        let parsed: Value;
        let ev = match raw_elements {
            None => &elems_v[i],
            Some(raw) => match serde_json::from_str::<Value>(raw[i].get()) {
                Ok(v) => {
                    parsed = v;
                    &parsed
                }
                Err(e) => {
                    cx.fault(path, format!("unreadable element: {e}"));
                    continue;
                }
            },
        };
        if let Some(id) = ev.get("id").and_then(Value::as_str) {
            if !seen_ids.insert(id.to_string()) {
                cx.fault(
                    format!("{path}.id"),
                    format!("duplicate element id \"{id}\""),
                );
            }
        }
        let el = match ev.get("model") {
            None => match shape_key(ev, domain) {
                Some((key, ty)) => match shapes.get(&key) {
                    Some(t) => same_shape(cx, t, ev, ty, &path, domain, &node_ref, &positions),
                    None => {
                        let before = cx.faults.len();
                        let el = element(
                            cx,
                            ev,
                            &path,
                            domain,
                            Placement::Json(&node_ref, &positions),
                        );
                        if let (Some(e), true) = (&el, cx.faults.len() == before) {
                            shapes.insert(key, e.clone());
                        }
                        el
                    }
                },
                None => element(
                    cx,
                    ev,
                    &path,
                    domain,
                    Placement::Json(&node_ref, &positions),
                ),
            },
            Some(m) => {
                cards::carded_element(cx, ev, m, &cards, &path, domain, &node_ref, &positions)
            }
        };
        if let Some(el) = el {
            elem_index.entry(el.name.clone()).or_insert(elements.len());
            elements.push(el);
        }
    }
    let n_verbose = n_elems;
    let group_srcs: Vec<cards::GroupSrc<'_>> = match &raw.groups {
        Some(g) => {
            let _ = top.get("element_groups");
            g.iter()
                .map(|x| match x {
                    RawGroup::Typed(t) => cards::GroupSrc::Typed(t),
                    RawGroup::Tree(v) => cards::GroupSrc::Tree(v),
                })
                .collect()
        }
        None => arr(cx, top.get("element_groups"), "element_groups", false)
            .iter()
            .map(cards::GroupSrc::Tree)
            .collect(),
    };
    let groups = cards::element_groups(
        cx,
        &group_srcs,
        &cards,
        domain,
        &node_index,
        &positions,
        n_verbose,
        &mut cards::Ids {
            seen: &seen_ids,
            index: &mut elem_index,
        },
        &mut elements,
    );
    drop(seen_ids);
    if n_elems == 0 && groups.n_edges == 0 {
        if has_elements {
            cx.fault("elements", "the network has no elements");
        } else if has_groups {
            cx.fault("element_groups", "the network has no elements");
        }
    }

    // ---- boundary
    let mut bnd = Obj::new(cx, top.get("boundary"), "boundary");
    if !bnd.exists() {
        cx.fault("boundary", "missing (sources and outputs)");
    }
    let dpn = domain.dofs_per_node();
    let src_v = arr(cx, bnd.get("sources"), "boundary.sources", true);
    let mut dirichlet_dofs = Vec::new();
    let mut default_xd = Vec::new();
    let mut waveforms = Vec::new();
    let mut source_nodes: HashMap<usize, usize> = HashMap::new(); // node -> first dirichlet idx
    for (i, sv) in src_v.iter().enumerate() {
        let path = format!("boundary.sources[{i}]");
        let mut o = Obj::new(cx, Some(sv), &path);
        let node = node_ref(cx, o.get("node"), &format!("{path}.node"));
        let vals = source_value(cx, o.get("value"), &format!("{path}.value"), domain, true);
        let wf = match o.get("waveform") {
            None | Some(Value::Null) => None,
            Some(w) => waveform(cx, w, &format!("{path}.waveform")),
        };
        o.finish(cx, &[]);
        if let Some(n) = node {
            if source_nodes.contains_key(&n) {
                cx.fault(
                    format!("{path}.node"),
                    format!("node \"{}\" is already a source", node_names[n]),
                );
                continue;
            }
            source_nodes.insert(n, dirichlet_dofs.len());
            for k in 0..dpn {
                dirichlet_dofs.push(n * dpn + k);
                default_xd.push(vals.get(k).copied().unwrap_or(0.0));
                waveforms.push(wf.clone());
            }
        }
    }
    if src_v.is_empty() {
        cx.fault(
            "boundary.sources",
            "at least one source (ground) is required",
        );
    }
    let out_v = arr(cx, bnd.get("outputs"), "boundary.outputs", false);
    let mut outputs = Vec::new();
    let mut out_index: HashMap<String, usize> = HashMap::new();
    let mut out_default_target = Vec::new();
    for (i, ov) in out_v.iter().enumerate() {
        let path = format!("boundary.outputs[{i}]");
        let mut o = Obj::new(cx, Some(ov), &path);
        let id = o.string(cx, "id").unwrap_or_else(|| {
            cx.fault(format!("{path}.id"), "missing required field");
            format!("#{i}")
        });
        let kind = o.choice(
            cx,
            "kind",
            &["node", "pair_extension"],
            if domain == Domain::Flow {
                "node"
            } else {
                "pair_extension"
            },
        );
        let target = o.number(cx, "target", Some(f64::NAN), Limit::None);
        let (stencil, nodes) = match (kind.as_str(), domain) {
            ("node", Domain::Flow) => {
                let n = node_ref(cx, o.get("node"), &format!("{path}.node"));
                (n.map(Stencil::node), n.into_iter().map(NodeId).collect())
            }
            ("pair_extension", Domain::Elastic2d) => match o.get("nodes") {
                Some(Value::Array(a)) if a.len() == 2 => {
                    let a0 = node_ref(cx, a.first(), &format!("{path}.nodes[0]"));
                    let a1 = node_ref(cx, a.get(1), &format!("{path}.nodes[1]"));
                    match (a0, a1) {
                        (Some(x), Some(y)) if x != y => (
                            Some(Stencil::edge(domain, x, y, &positions)),
                            vec![NodeId(x), NodeId(y)],
                        ),
                        (Some(_), Some(_)) => {
                            cx.fault(format!("{path}.nodes"), "the two nodes must differ");
                            (None, vec![])
                        }
                        _ => (None, vec![]),
                    }
                }
                _ => {
                    cx.fault(format!("{path}.nodes"), "expected two node ids");
                    (None, vec![])
                }
            },
            (k, d) => {
                cx.fault(format!("{path}.kind"), format!("output kind \"{k}\" is not available in {d:?} physics (flow: node; elastic2d: pair_extension)"));
                (None, vec![])
            }
        };
        o.finish(cx, &[]);
        if out_index.contains_key(&id) {
            cx.fault(
                format!("{path}.id"),
                format!("duplicate output id \"{id}\""),
            );
        }
        if let Some(st) = stencil {
            out_index.insert(id.clone(), outputs.len());
            outputs.push(Output {
                name: id,
                stencil: st,
                nodes,
            });
            out_default_target.push(target);
        }
    }
    bnd.finish(cx, &[]);

    // ---- task
    let mut task = Obj::new(cx, top.get("task"), "task");
    let _ = task.choice(cx, "cost", &["half_sse"], "half_sse");
    let mut sections: Vec<Vec<Example>> = Vec::new();
    for section in ["examples", "test_examples"] {
        let ex_v = arr(cx, task.get(section), &format!("task.{section}"), false);
        let mut examples = Vec::new();
        for (i, xv) in ex_v.iter().enumerate() {
            let path = format!("task.{section}[{i}]");
            let mut o = Obj::new(cx, Some(xv), &path);
            let mut xd = default_xd.clone();
            if let Some(v) = o.get("sources") {
                match v {
                    Value::Object(m) => {
                        for (k, val) in m {
                            let p = format!("{path}.sources.{k}");
                            match node_index.get(k).and_then(|n| source_nodes.get(n)) {
                                Some(&d0) => {
                                    let vals = source_value(cx, Some(val), &p, domain, true);
                                    for (j, x) in vals.iter().enumerate().take(dpn) {
                                        xd[d0 + j] = *x;
                                    }
                                }
                                None => cx.fault(
                                    p,
                                    format!(
                                    "\"{k}\" is not a source node (declare it in boundary.sources)"
                                ),
                                ),
                            }
                        }
                    }
                    other => cx.fault(
                        format!("{path}.sources"),
                        format!(
                            "expected an object {{node: value}}, got {}",
                            type_name(other)
                        ),
                    ),
                }
            }
            let mut targets = out_default_target.clone();
            if let Some(v) = o.get("targets") {
                match v {
                    Value::Object(m) => {
                        for (k, val) in m {
                            let p = format!("{path}.targets.{k}");
                            match (out_index.get(k), val.as_f64()) {
                                (Some(&j), Some(x)) if x.is_finite() => targets[j] = x,
                                (Some(_), _) => cx.fault(
                                    p,
                                    format!("expected a finite number, got {}", describe(val)),
                                ),
                                (None, _) => cx.fault(p, format!("unknown output id \"{k}\"")),
                            }
                        }
                    }
                    other => cx.fault(
                        format!("{path}.targets"),
                        format!(
                            "expected an object {{output: target}}, got {}",
                            type_name(other)
                        ),
                    ),
                }
            }
            for (j, t) in targets.iter().enumerate() {
                if !t.is_finite() {
                    cx.fault(
                        format!("{path}.targets"),
                        format!("no target for output \"{}\"", outputs[j].name),
                    );
                }
            }
            o.finish(cx, &[]);
            examples.push(Example { xd, targets });
        }
        sections.push(examples);
    }
    let test_examples = sections.pop().unwrap_or_default();
    let mut examples = sections.pop().unwrap_or_default();
    task.finish(cx, &[]);
    let has_task = !examples.is_empty();
    let untargeted: Vec<String> = outputs
        .iter()
        .zip(&out_default_target)
        .filter(|(_, t)| !t.is_finite())
        .map(|(o, _)| o.name.clone())
        .collect();
    if examples.is_empty() {
        let targets = out_default_target
            .iter()
            .map(|t| if t.is_finite() { *t } else { 0.0 })
            .collect();
        examples.push(Example {
            xd: default_xd.clone(),
            targets,
        });
    }

    // ---- protocol
    let protocol = protocol(cx, top.get("protocol"));
    if !has_task && !untargeted.is_empty() && matches!(protocol, ProtocolSpec::Sawtooth(_)) {
        cx.fault(
            "task.examples",
            format!(
                "a sawtooth protocol needs at least one example with a target for every output (none for {}); without them every target would silently be 0",
                untargeted.join(", ")
            ),
        );
    }
    // ---- theta_auto
    let mut ta = Obj::new(cx, top.get("theta_auto"), "theta_auto");
    let theta_c = ta.number(cx, "c", Some(3.0), Limit::Gt(0.0));
    ta.finish(cx, &[]);
    // ---- rho_auto
    let mut ra = Obj::new(cx, top.get("rho_auto"), "rho_auto");
    let rho_loop_gain = ra.number(cx, "loop_gain", Some(0.1), Limit::Gt(0.0));
    ra.finish(cx, &[]);
    // ---- solver
    let solver = solver(cx, top.get("solver"));
    // ---- record
    let mut rec = Obj::new(cx, top.get("record"), "record");
    let mut rec_elems = Vec::new();
    let rec_v = arr(cx, rec.get("elements"), "record.elements", false);
    for (i, v) in rec_v.iter().enumerate() {
        match v.as_str().and_then(|s| elem_index.get(s)) {
            Some(&e) => rec_elems.push(e),
            None => cx.fault(
                format!("record.elements[{i}]"),
                format!("unknown element id {}", describe(v)),
            ),
        }
    }
    if rec_v.is_empty() {
        rec_elems = (0..elements.len())
            .filter(|&e| elements[e].learns())
            .take(4)
            .collect();
    }
    let samples = rec.number(cx, "samples_per_segment", Some(20.0), Limit::Ge(0.0));
    rec.finish(cx, &[]);
    let meta = top.get("meta").cloned().unwrap_or(Value::Null);
    let _ = top.get("compare");
    top.finish(cx, &[]);

    if !cx.faults.is_empty() {
        return None;
    }

    // ---- semantic checks on the assembled network
    let mut net = Network {
        domain,
        node_names,
        positions,
        elements,
        outputs,
        dirichlet_dofs,
        waveforms,
        examples,
        test_examples,
        dof_map: Vec::new(),
        n_free: 0,
    };
    net.index_dofs();
    connectivity(cx, &net, &source_nodes);
    if has_task && matches!(protocol, ProtocolSpec::Sawtooth(_)) {
        for (i, el) in net.elements.iter().enumerate() {
            if el.kind.no_dc_path() {
                cx.fault(
                    groups.path(i),
                    format!(
                        "'{}' is a {} element (paper-literal, no static function: no_dc_path); it cannot be used in a static task (task.examples with a sawtooth protocol). Use topology \"shunted\" / type \"sls\", or a \"hold\" protocol for a transient study",
                        el.name,
                        el.kind.label()
                    ),
                );
            }
        }
    }
    if has_task && net.outputs.is_empty() {
        cx.fault("boundary.outputs", "a task needs at least one output");
    }
    if let ProtocolSpec::Sawtooth(s) = &protocol {
        if net.outputs.is_empty() {
            cx.fault(
                "protocol",
                "a sawtooth nudge needs at least one output in boundary.outputs",
            );
        }
        if net.examples.len() > 1
            && s.switch_mode == SwitchMode::SlowRamp
            && s.tau_switch == Some(0.0)
        {
            cx.fault(
                "protocol.switch.tau_switch",
                "must be > 0 for slow_ramp switches",
            );
        }
    }
    if !cx.faults.is_empty() {
        return None;
    }
    let samples_per_segment = samples as usize;
    Some(Netlist {
        network: net,
        protocol,
        solver,
        theta_c,
        rho_loop_gain,
        record: RecordSpec {
            elements: rec_elems,
            samples_per_segment,
        },
        meta,
    })
}

fn source_value(
    cx: &mut Cx,
    v: Option<&Value>,
    path: &str,
    domain: Domain,
    required: bool,
) -> Vec<f64> {
    match (domain, v) {
        (_, None) | (_, Some(Value::Null)) => {
            if required {
                cx.fault(path, "missing source value");
            }
            vec![0.0; domain.dofs_per_node()]
        }
        (Domain::Flow, Some(Value::Number(n))) => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            if !x.is_finite() {
                cx.fault(path, "must be finite");
            }
            vec![x]
        }
        (Domain::Elastic2d, Some(Value::Array(a)))
            if a.len() == 2 && a.iter().all(Value::is_number) =>
        {
            a.iter().map(|x| x.as_f64().unwrap_or(f64::NAN)).collect()
        }
        (Domain::Flow, Some(other)) => {
            cx.fault(
                path,
                format!("expected a number (potential), got {}", describe(other)),
            );
            vec![0.0]
        }
        (Domain::Elastic2d, Some(other)) => {
            cx.fault(
                path,
                format!("expected a displacement [ux, uy], got {}", describe(other)),
            );
            vec![0.0, 0.0]
        }
    }
}

fn waveform(cx: &mut Cx, v: &Value, path: &str) -> Option<Waveform> {
    let mut o = Obj::new(cx, Some(v), path);
    let kind = o.choice(cx, "kind", &["constant", "step", "pwl", "sine"], "constant");
    let wf = match kind.as_str() {
        "constant" => Waveform::Constant {
            value: o.number(cx, "value", None, Limit::None),
        },
        "step" => Waveform::Step {
            t0: o.number(cx, "t0", None, Limit::Ge(0.0)),
            before: o.number(cx, "before", Some(0.0), Limit::None),
            after: o.number(cx, "after", None, Limit::None),
        },
        "sine" => Waveform::Sine {
            offset: o.number(cx, "offset", Some(0.0), Limit::None),
            amplitude: o.number(cx, "amplitude", None, Limit::None),
            period: o.number(cx, "period", None, Limit::Gt(0.0)),
            phase: o.number(cx, "phase", Some(0.0), Limit::None),
        },
        _ => {
            let pts = arr(cx, o.get("points"), &format!("{path}.points"), true);
            let mut points = Vec::new();
            for (i, p) in pts.iter().enumerate() {
                match p
                    .as_array()
                    .map(|a| a.iter().map(Value::as_f64).collect::<Vec<_>>())
                {
                    Some(a) if a.len() == 2 && a.iter().all(|x| x.is_some_and(f64::is_finite)) => {
                        let (t, x) = (a[0].unwrap_or(0.0), a[1].unwrap_or(0.0));
                        if let Some(&(tp, _)) = points.last() {
                            if t < tp {
                                cx.fault(
                                    format!("{path}.points[{i}]"),
                                    format!("times must not decrease ({t} < {tp})"),
                                );
                            }
                        }
                        points.push((t, x));
                    }
                    _ => cx.fault(format!("{path}.points[{i}]"), "expected [t, value]"),
                }
            }
            if points.is_empty() {
                cx.fault(format!("{path}.points"), "needs at least one point");
            }
            Waveform::Pwl { points }
        }
    };
    o.finish(cx, &[]);
    Some(wf)
}

fn protocol(cx: &mut Cx, v: Option<&Value>) -> ProtocolSpec {
    let mut o = Obj::new(cx, v, "protocol");
    let kind = o.choice(cx, "kind", &["sawtooth", "hold"], "sawtooth");
    let spec = if kind == "hold" {
        ProtocolSpec::Hold {
            beta: o.number(cx, "beta", Some(0.0), Limit::Ge(0.0)),
            duration: o.number(cx, "duration", None, Limit::Gt(0.0)),
            from_rest: o.choice(cx, "initial", &["free_dc", "rest"], "free_dc") == "rest",
        }
    } else {
        let beta_max = o.number(cx, "beta_max", Some(0.5), Limit::Gt(0.0));
        let tau_fast = o.number(cx, "tau_fast", Some(10.0), Limit::Gt(0.0));
        let tau_slow = o.number(cx, "tau_slow", Some(300.0), Limit::Gt(0.0));
        let direction = match o
            .choice(cx, "direction", &["fast_fall", "fast_rise"], "fast_fall")
            .as_str()
        {
            "fast_rise" => Direction::FastRise,
            _ => Direction::FastFall,
        };
        let ramp_shape = match o
            .choice(
                cx,
                "ramp_shape",
                &["linear_beta", "linear_eta"],
                "linear_beta",
            )
            .as_str()
        {
            "linear_eta" => RampShape::LinearEta,
            _ => RampShape::LinearBeta,
        };
        let g_ref = o.number_or_auto(cx, "g_ref", Limit::Gt(0.0));
        let mut sw = Obj::new(cx, o.get("switch"), "protocol.switch");
        let switch_mode = match sw
            .choice(cx, "mode", &["slow_ramp", "reset_idealized"], "slow_ramp")
            .as_str()
        {
            "reset_idealized" => SwitchMode::ResetIdealized,
            _ => SwitchMode::SlowRamp,
        };
        let tau_switch = sw.number_or_auto(cx, "tau_switch", Limit::Gt(0.0));
        let switch_safety = sw.number(cx, "safety", Some(1.5), Limit::Gt(0.0));
        sw.finish(cx, &[]);
        let beta_schedule = beta_schedule(cx, o.get("beta_schedule"), 8.0);
        let cycles = o.number(cx, "cycles", Some(1.0), Limit::Ge(1.0));
        let from_rest = o.choice(cx, "initial", &["free_dc", "rest"], "free_dc") == "rest";
        if cycles.fract() != 0.0 {
            cx.fault(
                "protocol.cycles",
                format!("must be an integer, got {cycles}"),
            );
        }
        if tau_fast.is_finite() && tau_slow.is_finite() && tau_fast > tau_slow {
            cx.fault(
                "protocol.tau_fast",
                format!(
                    "the fast ramp ({tau_fast}) must not be slower than the slow one ({tau_slow})"
                ),
            );
        }
        ProtocolSpec::Sawtooth(SawtoothSpec {
            beta_max,
            tau_fast,
            tau_slow,
            direction,
            ramp_shape,
            g_ref,
            switch_mode,
            tau_switch,
            switch_safety,
            beta_schedule,
            cycles: cycles.max(1.0) as usize,
            from_rest,
        })
    };
    o.finish(cx, &[]);
    spec
}

fn solver(cx: &mut Cx, v: Option<&Value>) -> SolverSettings {
    let d = SolverSettings::default();
    let mut o = Obj::new(cx, v, "solver");
    let method = match o
        .choice(
            cx,
            "method",
            &["dopri5", "dop853", "rk4", "bdf", "auto"],
            "dopri5",
        )
        .as_str()
    {
        "dop853" => Method::Dop853,
        "rk4" => Method::Rk4,
        "bdf" => Method::Bdf,
        "auto" => Method::Auto,
        _ => Method::Dopri5,
    };
    let s = SolverSettings {
        method,
        rtol: o.number(cx, "rtol", Some(d.rtol), Limit::Gt(0.0)),
        atol: o.number(cx, "atol", Some(d.atol), Limit::Gt(0.0)),
        h_init: o.number(cx, "h_init", Some(d.h_init), Limit::Gt(0.0)),
        h_max: o.number(cx, "h_max", Some(d.h_max), Limit::Gt(0.0)),
        rk4_h: o.number(cx, "rk4_h", Some(d.rk4_h), Limit::Gt(0.0)),
        max_steps: o.number(cx, "max_steps", Some(d.max_steps as f64), Limit::Ge(1.0)) as u32,
        stiffness_check: o.boolean(cx, "stiffness_check", d.stiffness_check),
        factor_reuse: o.boolean(cx, "factor_reuse", d.factor_reuse),
        implicit_h_max: o.number(cx, "implicit_h_max", Some(d.implicit_h_max), Limit::Gt(0.0)),
    };
    o.finish(cx, &[]);
    s
}

/// Every connected component of the element graph must contain a source; nodes touched by no
/// element and not sources are floating.
fn connectivity(cx: &mut Cx, net: &Network, sources: &HashMap<usize, usize>) {
    use petgraph::unionfind::UnionFind;
    let n = net.node_names.len();
    let mut uf = UnionFind::<usize>::new(n);
    let mut degree = vec![0usize; n];
    for el in &net.elements {
        uf.union(el.nodes.0 .0, el.nodes.1 .0);
        degree[el.nodes.0 .0] += 1;
        degree[el.nodes.1 .0] += 1;
    }
    let mut has_source: HashMap<usize, bool> = HashMap::new();
    for i in 0..n {
        let r = uf.find(i);
        let e = has_source.entry(r).or_insert(false);
        if sources.contains_key(&i) {
            *e = true;
        }
    }
    let mut reported: BTreeSet<usize> = BTreeSet::new();
    for (i, &d) in degree.iter().enumerate().take(n) {
        if d == 0 && !sources.contains_key(&i) {
            cx.fault(
                format!("nodes[{i}]"),
                format!(
                    "node \"{}\" is floating (no element touches it and it is not a source)",
                    net.node_names[i]
                ),
            );
            continue;
        }
        let r = uf.find(i);
        if !has_source[&r] && reported.insert(r) {
            let members: Vec<&str> = (0..n)
                .filter(|&j| uf.find(j) == r)
                .take(6)
                .map(|j| net.node_names[j].as_str())
                .collect();
            cx.fault(
                format!("nodes[{i}]"),
                format!(
                    "floating sub-network without any source (nodes {}{}): add a source or ground",
                    members.join(", "),
                    if members.len() == 6 { ", ..." } else { "" }
                ),
            );
        }
    }
}

/// The element type names, for messages.
fn kind_names() -> String {
    params::KINDS
        .iter()
        .map(|k| k.0)
        .collect::<Vec<_>>()
        .join(", ")
}

type NodeRef<'a> = dyn Fn(&mut Cx, Option<&Value>, &str) -> Option<usize> + 'a;

/// The shape of a verbose element: its fields but `id`, `nodes` and the per-edge values of its
/// kind, as JSON text, with its type; `None` unless id is a non-empty string, nodes two strings
/// and the per-edge values numbers (every other case takes the full validation).
fn shape_key(ev: &Value, domain: Domain) -> Option<(String, &str)> {
    let m = ev.as_object()?;
    let ty = m.get("type")?.as_str()?;
    if !params::KINDS.iter().any(|k| k.0 == ty) {
        return None;
    }
    if m.get("id")?.as_str().is_none_or(|s| s.is_empty()) {
        return None;
    }
    match m.get("nodes")? {
        Value::Array(a) if a.len() == 2 && a.iter().all(Value::is_string) => {}
        _ => return None,
    }
    let per_edge = cards::per_edge_fields(ty, domain);
    let mut key = String::new();
    for (k, v) in m {
        if k == "id" || k == "nodes" {
            continue;
        }
        if per_edge.contains(&k.as_str()) {
            if !v.is_number() {
                return None;
            }
            continue;
        }
        key.push_str(&Value::String(k.clone()).to_string());
        key.push(':');
        key.push_str(&v.to_string());
        key.push(',');
    }
    Some((key, ty))
}

/// A verbose element of a validated shape `t`: its nodes and per-edge values, checked with the
/// same paths and messages as [`element`].
#[allow(clippy::too_many_arguments)]
fn same_shape(
    cx: &mut Cx,
    t: &Element,
    ev: &Value,
    ty: &str,
    path: &str,
    domain: Domain,
    node_ref: &NodeRef<'_>,
    positions: &[[f64; 2]],
) -> Option<Element> {
    let a = ev.get("nodes").and_then(Value::as_array)?;
    let a0 = node_ref(cx, a.first(), &format!("{path}.nodes[0]"));
    let a1 = node_ref(cx, a.get(1), &format!("{path}.nodes[1]"));
    let nodes = match (a0, a1) {
        (Some(x), Some(y)) if x == y => {
            same_nodes_fault(cx, format!("{path}.nodes"));
            None
        }
        (Some(x), Some(y)) => Some((x, y)),
        _ => None,
    };
    let table = params::KINDS
        .iter()
        .find(|k| k.0 == ty)
        .map(|k| k.2)
        .unwrap_or_default();
    let value = |cx: &mut Cx, key: &str| -> Option<f64> {
        let spec = table.iter().find(|p| p.name == key)?;
        match ev.get(key) {
            Some(Value::Number(n)) => {
                let v = n.as_f64().unwrap_or(f64::NAN);
                check_limit(cx, &join(path, key), v, spec.min);
                Some(v)
            }
            _ => match spec.default {
                Default_::Num(x) => Some(x),
                _ => None,
            },
        }
    };
    let per_edge = cards::per_edge_fields(ty, domain);
    let wf = params::weight_field(ty);
    let w0 = value(cx, wf).unwrap_or(f64::NAN);
    let l0 = if per_edge.contains(&"rest_length") {
        value(cx, "rest_length").unwrap_or(f64::NAN)
    } else {
        t.l0
    };
    let learns = params::kind_learns(ty) && !t.channels.is_empty();
    initial_weight_check(cx, || path.to_string(), learns, w0, &t.bounds);
    let (i, j) = nodes?;
    let mut el = t.clone();
    el.name = ev.get("id").and_then(Value::as_str)?.to_string();
    el.nodes = (NodeId(i), NodeId(j));
    el.stencil = edge_stencil(cx, || format!("{path}.nodes"), domain, (i, j), positions);
    el.w0 = w0;
    el.l0 = l0;
    Some(el)
}

/// Where an element's nodes come from: its own `id` and `nodes` fields (a verbose element), or
/// nowhere (a model card, validated once as the template of the elements that use it; its
/// `nodes` and stencil are placeholders the caller replaces).
enum Placement<'a, 'b> {
    Json(&'a NodeRef<'b>, &'a [[f64; 2]]),
    Template,
}

/// The fault of an element whose two nodes coincide.
fn same_nodes_fault(cx: &mut Cx, path: String) {
    cx.fault(path, "an element must connect two different nodes");
}

/// The stencil of an element between nodes `i` and `j`; elastic bonds need a reference length.
fn edge_stencil(
    cx: &mut Cx,
    nodes_path: impl FnOnce() -> String,
    domain: Domain,
    (i, j): (usize, usize),
    positions: &[[f64; 2]],
) -> Stencil {
    if domain == Domain::Elastic2d {
        let d = ((positions[j][0] - positions[i][0]).powi(2)
            + (positions[j][1] - positions[i][1]).powi(2))
        .sqrt();
        if d <= 1e-12 {
            cx.fault(
                nodes_path(),
                "bond of zero reference length (coincident node positions)",
            );
        }
    }
    Stencil::edge(domain, i, j, positions)
}

/// A learning element's initial weight must lie inside its bounds.
fn initial_weight_check(
    cx: &mut Cx,
    path: impl FnOnce() -> String,
    learns: bool,
    w0: f64,
    b: &Bounds,
) {
    if learns
        && w0.is_finite()
        && b.w_min.is_finite()
        && b.w_max.is_finite()
        && (w0 < b.w_min || w0 > b.w_max)
    {
        cx.fault(
            path(),
            format!(
                "initial weight {w0} lies outside [w_min, w_max] = [{}, {}]",
                b.w_min, b.w_max
            ),
        );
    }
}

fn element(
    cx: &mut Cx,
    v: &Value,
    path: &str,
    domain: Domain,
    placement: Placement<'_, '_>,
) -> Option<Element> {
    let mut o = Obj::new(cx, Some(v), path);
    if !o.exists() {
        return None;
    }
    let template = matches!(placement, Placement::Template);
    let id = if template {
        Some(String::new())
    } else {
        o.string(cx, "id")
    };
    let ty = o.string(cx, "type");
    let nodes = match placement {
        Placement::Template => Some((0, 0)),
        Placement::Json(node_ref, _) => match o.get("nodes") {
            Some(Value::Array(a)) if a.len() == 2 => {
                let a0 = node_ref(cx, a.first(), &format!("{path}.nodes[0]"));
                let a1 = node_ref(cx, a.get(1), &format!("{path}.nodes[1]"));
                match (a0, a1) {
                    (Some(x), Some(y)) if x == y => {
                        same_nodes_fault(cx, format!("{path}.nodes"));
                        None
                    }
                    (Some(x), Some(y)) => Some((x, y)),
                    _ => None,
                }
            }
            Some(other) => {
                cx.fault(
                    format!("{path}.nodes"),
                    format!("expected two node ids, got {}", describe(other)),
                );
                None
            }
            None => {
                cx.fault(format!("{path}.nodes"), "missing required field");
                None
            }
        },
    };
    let name = match id {
        Some(s) if template || !s.is_empty() => s,
        _ => {
            cx.fault(format!("{path}.id"), "missing or empty element id");
            format!("#{}", path)
        }
    };
    let Some(ty) = ty else {
        cx.fault(
            format!("{path}.type"),
            format!("missing (expected one of: {})", kind_names()),
        );
        return None;
    };
    let Some(&(_, domains, table)) = params::KINDS.iter().find(|k| k.0 == ty) else {
        cx.fault(
            format!("{path}.type"),
            format!(
                "unknown element type \"{ty}\" (expected one of: {})",
                kind_names()
            ),
        );
        return None;
    };
    let dom_name = match domain {
        Domain::Flow => "flow",
        Domain::Elastic2d => "elastic2d",
    };
    if !domains.contains(dom_name) {
        cx.fault(
            format!("{path}.type"),
            format!("\"{ty}\" elements belong to {domains} physics, not {dom_name}"),
        );
        return None;
    }
    // Read every number of the table (also validates limits).
    let mut vals: HashMap<&str, f64> = HashMap::new();
    let mut known: Vec<&'static str> = if template {
        vec!["type"]
    } else {
        vec!["id", "type", "nodes"]
    };
    for p in table {
        known.push(p.name);
        match p.ty {
            FieldType::Number => {
                vals.insert(p.name, o.spec_number(cx, p));
            }
            FieldType::NumberOrAuto => {
                vals.insert(
                    p.name,
                    o.number_or_auto(cx, p.name, p.min).unwrap_or(f64::NAN),
                );
            }
            _ => {}
        }
    }
    let learns_kind = params::kind_learns(&ty);
    let getn = |k: &str| vals.get(k).copied().unwrap_or(f64::NAN);
    let mut bounds = Bounds {
        w_min: 0.0,
        w_max: f64::INFINITY,
        mode: BoundMode::Hard,
    };
    if learns_kind {
        for p in params::BOUNDS.iter() {
            known.push(p.name);
        }
        let w_min = o.number(cx, "w_min", Some(0.01), Limit::Gt(0.0));
        let w_max = o.number(cx, "w_max", Some(100.0), Limit::Gt(0.0));
        if w_min.is_finite() && w_max.is_finite() && w_max <= w_min {
            cx.fault(
                format!("{path}.w_max"),
                format!("must exceed w_min ({w_min}), got {w_max}"),
            );
        }
        let mode = match o.choice(cx, "bound", &["soft", "hard"], "soft").as_str() {
            "hard" => BoundMode::Hard,
            _ => BoundMode::Soft,
        };
        bounds = Bounds { w_min, w_max, mode };
    }
    let update = |cx: &mut Cx,
                  o: &mut Obj<'_>,
                  key: &'static str,
                  known: &mut Vec<&'static str>|
     -> (Option<f64>, ThetaSpec, f64, Nonlinearity) {
        let mut u = Obj::new(cx, o.get(key), &join(path, key));
        // A missing rho takes the kind's default; "auto" is resolved at load from the target
        // loop gain (`rho_auto.loop_gain`).
        let rho = match u.get("rho") {
            None | Some(Value::Null) => Some(params::default_rho(&ty)),
            Some(_) => u.number_or_auto(cx, "rho", Limit::Ge(0.0)),
        };
        let theta = match u.number_or_auto(cx, "theta", Limit::Ge(0.0)) {
            Some(t) => ThetaSpec::Value(t),
            None => ThetaSpec::Auto,
        };
        let pol = u.sign(cx, "polarity");
        let mut nl = Obj::new(
            cx,
            u.get("nonlinearity"),
            &format!("{}.nonlinearity", join(path, key)),
        );
        let nk = nl.choice(cx, "kind", &["hard", "hill", "dead_zone", "linear"], "hard");
        let n = nl.number(cx, "n", Some(2.0), Limit::Gt(0.0));
        nl.finish(cx, &[]);
        u.finish(cx, &[]);
        known.push(key);
        let nonlin = match nk.as_str() {
            "hill" => Nonlinearity::Hill { n },
            "dead_zone" => Nonlinearity::DeadZone,
            "linear" => Nonlinearity::Linear,
            _ => Nonlinearity::Hard,
        };
        (rho, theta, pol, nonlin)
    };
    let mk_channel = |target, source, u: (Option<f64>, ThetaSpec, f64, Nonlinearity)| Channel {
        target,
        source,
        rho: u.0.unwrap_or(0.0),
        rho_auto: u.0.is_none(),
        theta_spec: u.1,
        theta: match u.1 {
            ThetaSpec::Value(t) => t,
            ThetaSpec::Auto => f64::NAN,
        },
        polarity: u.2,
        nonlinearity: u.3,
    };
    let arm_signal = |s: &str| match s {
        "abs" => ArmSignal::Abs,
        "polar" => ArmSignal::Polar,
        _ => ArmSignal::Energy,
    };
    let (kind, w0, l0, w_is_direct, arm, chem, channels) = match ty.as_str() {
        "resistor" => (
            ElementKind::Resistor,
            getn(params::weight_field(&ty)),
            0.0,
            true,
            None,
            None,
            vec![],
        ),
        "spring" => (
            ElementKind::Spring,
            getn(params::weight_field(&ty)),
            getn("rest_length"),
            true,
            None,
            None,
            vec![],
        ),
        "nanofluidic_cm" => {
            let topo = match o
                .choice(
                    cx,
                    "topology",
                    &["shunted", "series", "series_leaky"],
                    "shunted",
                )
                .as_str()
            {
                "series" => Topology::Series,
                "series_leaky" => Topology::SeriesLeaky,
                _ => Topology::Shunted,
            };
            let sig = arm_signal(&o.choice(cx, "signal", &["energy", "abs", "polar"], "energy"));
            let learn = o.boolean(cx, "learn", true);
            let g_leak = getn("arm.g_leak");
            let loading = o.boolean(cx, "arm.loading", true);
            match topo {
                Topology::SeriesLeaky if g_leak.is_finite() && g_leak <= 0.0 => {
                    cx.fault(format!("{path}.arm.g_leak"), "series_leaky needs g_leak > 0 (use topology \"series\" for the leak-free element)");
                }
                Topology::Series if g_leak > 0.0 => {
                    cx.fault(format!("{path}.arm.g_leak"), format!("the paper-literal series element has no leak; got {g_leak} (use topology \"series_leaky\")"));
                }
                _ => {}
            }
            if topo != Topology::Shunted && o.get("arm.g_s").is_some() {
                cx.fault(format!("{path}.arm.g_s"), "g_s applies to the shunted topology only (in series topologies the memristor w is the arm conductance)");
            }
            let arm = Arm {
                cap: getn("arm.C"),
                g: if topo == Topology::Shunted {
                    Some(getn("arm.g_s"))
                } else {
                    None
                },
                g_leak,
                loading,
            };
            let channels = if learn {
                let u = update(cx, &mut o, "update", &mut known);
                vec![mk_channel(LearnTarget::Weight, SignalSource::Arm(sig), u)]
            } else {
                known.push("update");
                vec![]
            };
            (
                ElementKind::NanofluidicCm(topo),
                getn(params::weight_field(&ty)),
                0.0,
                topo == Topology::Shunted,
                Some(arm),
                None,
                channels,
            )
        }
        "sls" => {
            let learn = o.choice(
                cx,
                "learn",
                &["stiffness", "rest_length", "both", "none"],
                "stiffness",
            );
            let sig = arm_signal(&o.choice(cx, "signal", &["energy", "abs", "polar"], "energy"));
            let loading = o.boolean(cx, "arm.loading", true);
            let arm = Arm {
                cap: getn("arm.eta"),
                g: Some(getn("arm.k_m")),
                g_leak: getn("arm.k_leak"),
                loading,
            };
            let mut ch = Vec::new();
            if learn == "stiffness" || learn == "both" {
                let u = update(cx, &mut o, "update", &mut known);
                ch.push(mk_channel(LearnTarget::Weight, SignalSource::Arm(sig), u));
            } else {
                known.push("update");
            }
            if learn == "rest_length" || learn == "both" {
                let key = if learn == "both" {
                    "update_rest_length"
                } else {
                    "update"
                };
                let u = update(cx, &mut o, key, &mut known);
                ch.push(mk_channel(
                    LearnTarget::RestLength,
                    SignalSource::Arm(ArmSignal::Tension),
                    u,
                ));
            }
            known.push("update_rest_length");
            (
                ElementKind::Sls,
                getn(params::weight_field(&ty)),
                getn("rest_length"),
                true,
                Some(arm),
                None,
                ch,
            )
        }
        "maxwell" => {
            let sig = arm_signal(&o.choice(cx, "signal", &["polar", "energy", "abs"], "polar"));
            let learn = o.boolean(cx, "learn", true);
            let arm = Arm {
                cap: getn("eta"),
                g: None,
                g_leak: 0.0,
                loading: true,
            };
            let channels = if learn {
                let u = update(cx, &mut o, "update", &mut known);
                vec![mk_channel(LearnTarget::Weight, SignalSource::Arm(sig), u)]
            } else {
                known.push("update");
                vec![]
            };
            (
                ElementKind::Maxwell,
                getn(params::weight_field(&ty)),
                0.0,
                false,
                Some(arm),
                None,
                channels,
            )
        }
        _ => {
            // mechanochemical
            let sig = match o
                .choice(
                    cx,
                    "signal",
                    &["drop2", "power", "abs", "strain_energy"],
                    "drop2",
                )
                .as_str()
            {
                "power" => ChemSignal::Power,
                "abs" => ChemSignal::Abs,
                "strain_energy" => ChemSignal::StrainEnergy,
                _ => ChemSignal::Drop2,
            };
            let learn = o.boolean(cx, "learn", true);
            let s_ref = getn("feedback.s_ref");
            let chem = Chem {
                signal: sig,
                tau_x: getn("feedback.tau_x"),
                tau_r: getn("feedback.tau_r"),
                eps: getn("feedback.eps"),
                s_ref_spec: if s_ref.is_finite() { Some(s_ref) } else { None },
                s_ref: if s_ref.is_finite() { s_ref } else { f64::NAN },
                c0: getn("feedback.c0"),
            };
            let channels = if learn {
                let u = update(cx, &mut o, "update", &mut known);
                vec![mk_channel(LearnTarget::Weight, SignalSource::Chem(sig), u)]
            } else {
                known.push("update");
                vec![]
            };
            (
                ElementKind::Mechanochemical,
                getn(params::weight_field(&ty)),
                if domain == Domain::Elastic2d {
                    getn("rest_length")
                } else {
                    0.0
                },
                true,
                None,
                Some(chem),
                channels,
            )
        }
    };
    let learns = learns_kind && !channels.is_empty();
    initial_weight_check(cx, || path.to_string(), learns && !template, w0, &bounds);
    if !learns_kind {
        // Fixed elements: no window needed; keep w_min only as an SPD guard.
        bounds = Bounds {
            w_min: 0.0,
            w_max: f64::INFINITY,
            mode: BoundMode::Hard,
        };
    }
    o.finish(cx, &known);
    let (i, j) = nodes?;
    let mut el = Element {
        name,
        kind,
        nodes: (NodeId(i), NodeId(j)),
        stencil: Stencil::node(0),
        w0,
        l0,
        bounds,
        w_is_direct,
        arm,
        chem,
        channels,
    };
    if let Placement::Json(_, positions) = placement {
        el.stencil = edge_stencil(cx, || format!("{path}.nodes"), domain, (i, j), positions);
    }
    Some(el)
}

#[cfg(test)]
mod grouping_tests {
    use super::*;

    fn f(path: &str, message: &str) -> Fault {
        Fault {
            path: path.into(),
            message: message.into(),
        }
    }

    #[test]
    fn repeated_faults_are_one_line_with_ranges_and_a_count() {
        let mut faults: Vec<Fault> = (0..106)
            .map(|i| f(&format!("elements[{i}].arm.C"), "must be > 0, got -1"))
            .collect();
        faults.push(f("protocol.tau_fast", "must be > 0, got 0"));
        faults.push(f("elements[7].w", "must be finite"));
        faults.push(f("elements[9].w", "must be finite"));
        faults.push(f("elements[12].w", "must be finite"));
        assert_eq!(
            grouped_lines(&faults),
            vec![
                "elements[0..105].arm.C (106 entries): must be > 0, got -1".to_string(),
                "protocol.tau_fast: must be > 0, got 0".into(),
                "elements[7,9,12].w (3 entries): must be finite".into(),
            ]
        );
        assert_eq!(
            grouped_lines(&[f("nodes[3].id", "duplicate id \"a\"")]),
            vec!["nodes[3].id: duplicate id \"a\"".to_string()]
        );
        let many: Vec<Fault> = (0..20)
            .map(|i| f(&format!("x[{}]", 2 * i), "bad"))
            .collect();
        assert_eq!(
            grouped_lines(&many),
            vec!["x[0,2,4,6,8,10,…] (20 entries): bad".to_string()]
        );
    }
}
