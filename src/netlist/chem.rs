//! Chemical (`"physics": "chemical"`) netlists: the `molecular_tcl` template form (expanded by
//! [`crate::chem::tcl::auto_design`] and [`crate::chem::tcl::expand`]) and the explicit form
//! (species, reactions, drive groups, the resolved `design` block) that golden files store.
//! Every fault is reported with its JSON path, all at once
//! (`reactions[12].k: must be > 0, got -1`).

use super::params::Limit;
use super::{arr, beta_schedule, check_limit, type_name, Cx, Fault, NetlistError, Obj};
use crate::chem::network::{Drive, DriveId, DriveKind, Network, Reaction, Species, SpeciesId};
use crate::chem::tcl::{self, Design, Example, TemplateSpec};
use crate::chem::{
    ChemModel, ChemProtocol, DriveRole, Learnable, ModelKind, SolverSettings, SwitchSpec,
};
use crate::protocol::Direction;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};

/// The bundled M1 template (docs/molecular.md §7, `molecular_M1_template.json`).
pub const M1_TEMPLATE: &str = include_str!("../../netlists/templates/m1_molecular_template.json");

/// Names accepted by [`generate`].
pub const GENERATED: &[&str] = &[
    "m1_molecular",
    "m1_molecular_tau100",
    "m1_molecular_annealed",
    "m1_molecular_two_examples",
];

/// Does this JSON tree declare `"physics": "chemical"`?
pub fn is_chemical(v: &Value) -> bool {
    v.get("physics").and_then(Value::as_str) == Some("chemical")
}

/// A loaded chemical netlist.
#[derive(Clone, Debug)]
pub struct ChemNetlist {
    pub model: ChemModel,
    /// The explicit form (for templates: their expansion).
    pub explicit: Value,
    pub from_template: bool,
    pub meta: Value,
}

/// Read and validate a chemical netlist file (template or explicit).
pub fn load(path: &std::path::Path) -> Result<(ChemNetlist, Vec<u8>), NetlistError> {
    let bytes = std::fs::read(path).map_err(|e| NetlistError::Read {
        path: path.display().to_string(),
        cause: e,
    })?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| NetlistError::Syntax {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    Ok((from_value(&v)?, bytes))
}

/// Validate a chemical netlist tree (template or explicit).
pub fn from_value(v: &Value) -> Result<ChemNetlist, NetlistError> {
    let from_template = v.get("template").is_some_and(|t| !t.is_null());
    let explicit = if from_template {
        expand_template(v)?
    } else {
        v.clone()
    };
    let mut cx = Cx { faults: Vec::new() };
    let model = build_explicit(&mut cx, &explicit);
    match model {
        Some(m) if cx.faults.is_empty() => Ok(ChemNetlist {
            model: m,
            meta: explicit.get("meta").cloned().unwrap_or(Value::Null),
            explicit,
            from_template,
        }),
        _ => {
            if cx.faults.is_empty() {
                cx.fault("$", "invalid chemical netlist");
            }
            Err(NetlistError::Invalid(cx.faults))
        }
    }
}

fn invalid(path: &str, msg: impl Into<String>) -> NetlistError {
    NetlistError::Invalid(vec![Fault {
        path: path.into(),
        message: msg.into(),
    }])
}

fn str_list(cx: &mut Cx, v: Option<&Value>, path: &str, required: bool) -> Vec<String> {
    arr(cx, v, path, required)
        .iter()
        .enumerate()
        .filter_map(|(i, x)| match x {
            Value::String(s) => Some(s.clone()),
            other => {
                cx.fault(
                    format!("{path}[{i}]"),
                    format!("expected a string, got {}", type_name(other)),
                );
                None
            }
        })
        .collect()
}

fn num_map(cx: &mut Cx, v: Option<&Value>, path: &str, min: Limit) -> Vec<(String, f64)> {
    match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(m)) => m
            .iter()
            .filter_map(|(k, x)| {
                let p = format!("{path}.{k}");
                match x.as_f64() {
                    Some(f) => {
                        check_limit(cx, &p, f, min);
                        Some((k.clone(), f))
                    }
                    None => {
                        cx.fault(p, format!("expected a number, got {}", type_name(x)));
                        None
                    }
                }
            })
            .collect(),
        Some(other) => {
            cx.fault(
                path,
                format!("expected an object, got {}", type_name(other)),
            );
            Vec::new()
        }
    }
}

/// Parsed protocol section.
fn protocol(cx: &mut Cx, v: Option<&Value>) -> ChemProtocol {
    let mut o = Obj::new(cx, v, "protocol");
    if !o.exists() {
        cx.fault("protocol", "missing required section");
    }
    let _ = o.choice(cx, "kind", &["sawtooth"], "sawtooth");
    let _ = o.choice(cx, "drive", &["beta"], "beta");
    let tau_fast = o.number(cx, "tau_fast", None, Limit::Gt(0.0));
    let tau_slow = o.number(cx, "tau_slow", None, Limit::Gt(0.0));
    let direction = match o
        .choice(cx, "direction", &["fast_fall", "fast_rise"], "fast_fall")
        .as_str()
    {
        "fast_rise" => Direction::FastRise,
        _ => Direction::FastFall,
    };
    let write_gate = o.number(cx, "write_gate", Some(1.0), Limit::Ge(0.0));
    let cycles = o.number(cx, "cycles", Some(1.0), Limit::Ge(1.0));
    let settle = o.number(cx, "settle", Some(40.0), Limit::Gt(0.0));
    let mut sw = Obj::new(cx, o.get("switch"), "protocol.switch");
    let gated = sw.choice(cx, "mode", &["gated_ramp", "ramp"], "gated_ramp") == "gated_ramp";
    let tau_switch = sw.number_or_auto(cx, "tau_switch", Limit::Gt(0.0));
    let c_sw = sw.number(cx, "c_sw", Some(2.0), Limit::Gt(0.0));
    let hold = sw.number(cx, "hold", Some(10.0), Limit::Ge(0.0));
    sw.finish(cx, &[]);
    let beta_schedule = beta_schedule(cx, o.get("beta_schedule"), 12.0);
    o.finish(cx, &[]);
    ChemProtocol {
        direction,
        tau_fast,
        tau_slow,
        write_gate,
        switch: SwitchSpec {
            gated,
            tau_switch,
            c_sw,
            hold,
        },
        beta_schedule,
        cycles: if cycles.is_finite() {
            cycles as usize
        } else {
            1
        },
        settle,
    }
}

fn solver(cx: &mut Cx, v: Option<&Value>) -> SolverSettings {
    let mut o = Obj::new(cx, v, "solver");
    let _ = o.choice(cx, "method", &["bdf"], "bdf");
    let sparse_lu = o.choice(
        cx,
        "jacobian",
        &["analytic_sparse", "analytic_dense"],
        "analytic_sparse",
    ) == "analytic_sparse";
    let model = match o.choice(cx, "model", &["full", "reduced"], "full").as_str() {
        "reduced" => {
            cx.fault(
                "solver.model",
                "\"reduced\" is not available for check/run/train yet: `compare` reports the QSS-reduced model (Dopri5) beside the full network",
            );
            ModelKind::Reduced
        }
        _ => ModelKind::Full,
    };
    let s = SolverSettings {
        rtol: o.number(cx, "rtol", Some(1e-6), Limit::Gt(0.0)),
        atol_rel: o.number(cx, "atol_rel", Some(1e-7), Limit::Gt(0.0)),
        h_init: o.number(cx, "h_init", Some(1e-4), Limit::Gt(0.0)),
        max_steps: o.number(cx, "max_steps", Some(1e6), Limit::Ge(1.0)) as u32,
        model,
        sparse_lu,
    };
    o.finish(cx, &[]);
    s
}

/// Task examples: inputs keyed by input monomer, targets keyed by output id.
fn examples(
    cx: &mut Cx,
    v: Option<&Value>,
    inputs: &[String],
    output_ids: &[String],
) -> Vec<Example> {
    let mut o = Obj::new(cx, v, "task");
    if !o.exists() {
        cx.fault("task", "missing required section");
    }
    let list = arr(cx, o.get("examples"), "task.examples", true);
    let mut out = Vec::new();
    for (k, ex) in list.iter().enumerate() {
        let path = format!("task.examples[{k}]");
        let mut eo = Obj::new(cx, Some(ex), &path);
        let ins = num_map(
            cx,
            eo.get("inputs"),
            &format!("{path}.inputs"),
            Limit::Gt(0.0),
        );
        let tg = num_map(
            cx,
            eo.get("targets"),
            &format!("{path}.targets"),
            Limit::Gt(0.0),
        );
        eo.finish(cx, &[]);
        for (name, _) in &ins {
            if !inputs.contains(name) {
                cx.fault(
                    format!("{path}.inputs.{name}"),
                    format!("not an input monomer (inputs: {})", inputs.join(", ")),
                );
            }
        }
        for (name, _) in &tg {
            if !output_ids.contains(name) {
                cx.fault(
                    format!("{path}.targets.{name}"),
                    format!("not an output id (outputs: {})", output_ids.join(", ")),
                );
            }
        }
        let mut iv = Vec::new();
        for name in inputs {
            match ins.iter().find(|x| &x.0 == name) {
                Some(x) => iv.push(x.1),
                None => {
                    cx.fault(format!("{path}.inputs"), format!("missing input {name}"));
                    iv.push(f64::NAN);
                }
            }
        }
        let mut tv = Vec::new();
        for name in output_ids {
            match tg.iter().find(|x| &x.0 == name) {
                Some(x) => tv.push(x.1),
                None => {
                    cx.fault(format!("{path}.targets"), format!("missing target {name}"));
                    tv.push(f64::NAN);
                }
            }
        }
        out.push(Example {
            inputs: iv,
            targets: tv,
        });
    }
    let _ = o.choice(cx, "cost", &["half_sse"], "half_sse");
    let _ = o.get("also_report");
    o.finish(cx, &[]);
    if out.is_empty() {
        cx.fault("task.examples", "at least one example is required");
    }
    out
}

/// Parse the template's own section into a [`TemplateSpec`].
fn template_spec(cx: &mut Cx, v: &Value) -> Option<TemplateSpec> {
    let mut t = Obj::new(cx, v.get("template"), "template");
    let _ = t.choice(cx, "kind", &["molecular_tcl"], "molecular_tcl");
    let monomers = str_list(cx, t.get("monomers"), "template.monomers", true);
    let idx = |cx: &mut Cx, name: &str, path: String| -> usize {
        match monomers.iter().position(|m| m == name) {
            Some(i) => i,
            None => {
                cx.fault(path, format!("unknown monomer {name}"));
                0
            }
        }
    };
    let pairs: Vec<[usize; 2]> = match t.get("pairs") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) if s == "all" => {
            let n = monomers.len();
            (0..n)
                .flat_map(|i| ((i + 1)..n).map(move |j| [i, j]))
                .collect()
        }
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(k, p)| {
                let names = str_list(cx, Some(p), &format!("template.pairs[{k}]"), true);
                if names.len() != 2 {
                    cx.fault(format!("template.pairs[{k}]"), "a pair names two monomers");
                    return [0, 0];
                }
                let i = idx(cx, &names[0], format!("template.pairs[{k}][0]"));
                let j = idx(cx, &names[1], format!("template.pairs[{k}][1]"));
                if i == j {
                    cx.fault(
                        format!("template.pairs[{k}]"),
                        "a pair needs two different monomers",
                    );
                }
                [i.min(j), i.max(j)]
            })
            .collect(),
        Some(other) => {
            cx.fault(
                "template.pairs",
                format!(
                    "expected \"all\" or a list of pairs, got {}",
                    type_name(other)
                ),
            );
            Vec::new()
        }
    };
    if pairs.is_empty() {
        cx.fault("template.pairs", "no pairs");
    }
    let input_names = str_list(cx, t.get("inputs"), "template.inputs", true);
    let inputs: Vec<usize> = input_names
        .iter()
        .enumerate()
        .map(|(k, n)| idx(cx, n, format!("template.inputs[{k}]")))
        .collect();
    let tot = num_map(cx, t.get("totals"), "template.totals", Limit::Gt(0.0));
    let mut totals = vec![0.0; monomers.len()];
    for (i, m) in monomers.iter().enumerate() {
        if inputs.contains(&i) {
            continue;
        }
        match tot.iter().find(|x| &x.0 == m) {
            Some(x) => totals[i] = x.1,
            None => cx.fault(
                "template.totals",
                format!("missing total of non-input monomer {m}"),
            ),
        }
    }
    let params = num_map(cx, t.get("params"), "template.params", Limit::None);
    for (k, v) in &params {
        let known =
            tcl::TEMPLATE_PARAMS.iter().any(|p| p.0 == k) || tcl::AUTO_PARAMS.contains(&k.as_str());
        if !known {
            cx.fault(format!("template.params.{k}"), "unknown parameter");
        } else if k != "polarity" && k != "eps" && *v <= 0.0 {
            cx.fault(
                format!("template.params.{k}"),
                format!("must be > 0, got {v}"),
            );
        }
        if k == "polarity" && *v != 1.0 && *v != -1.0 {
            cx.fault(
                format!("template.params.{k}"),
                format!("must be +1 or -1, got {v}"),
            );
        }
        if k == "eps" && *v < 0.0 {
            cx.fault(
                format!("template.params.{k}"),
                format!("must be ≥ 0, got {v}"),
            );
        }
    }
    let auto = str_list(cx, t.get("auto"), "template.auto", false);
    for (k, a) in auto.iter().enumerate() {
        if !tcl::AUTO_PARAMS.contains(&a.as_str()) {
            cx.fault(
                format!("template.auto[{k}]"),
                format!(
                    "\"{a}\" cannot be auto (auto: {})",
                    tcl::AUTO_PARAMS.join(", ")
                ),
            );
        }
    }
    for n in tcl::AUTO_PARAMS {
        if !auto.iter().any(|a| a == n) && !params.iter().any(|p| p.0 == *n) {
            cx.fault(
                "template.auto",
                format!("{n} is neither in auto nor given in params"),
            );
        }
    }
    // Linkers: keyed by L + pair suffix.
    let li = num_map(
        cx,
        t.get("linkers_init"),
        "template.linkers_init",
        Limit::Ge(0.0),
    );
    t.finish(cx, &[]);
    let dummy = Design {
        monomers: monomers.clone(),
        pairs: pairs.clone(),
        inputs: inputs.clone(),
        outputs: Vec::new(),
        totals: totals.clone(),
        gamma: 0.0,
        k_on: 0.0,
        k_off: 0.0,
        k_on_l: 0.0,
        k_off_l: 0.0,
        x0: 0.0,
        a: 0.0,
        b: 0.0,
        k_act: 0.0,
        k_c: 0.0,
        k_p: 0.0,
        mu: 0.0,
        eta_ez: 0.0,
        eta_u: 0.0,
        eps: 0.0,
        dv: 0.0,
        v0: 0.0,
        k_v: 0.0,
        theta_v: 0.0,
        y_tot: 0.0,
        p_tot: 0.0,
        k_on_r: 0.0,
        k_off_r: 0.0,
        k_w: 0.0,
        eta_m: 0.0,
        d_m: 0.0,
        polarity: 1.0,
        kappa: 0.0,
        rho: 0.0,
        a_max: 0.0,
        beta_max: 0.0,
        tau_fast: 0.0,
        tau_slow: 0.0,
    };
    let (_, sfx) = tcl::suffixes(&dummy);
    let mut ell0 = Vec::new();
    for s in &sfx {
        match li.iter().find(|x| x.0 == format!("L{s}")) {
            Some(x) => ell0.push(x.1),
            None => {
                cx.fault("template.linkers_init", format!("missing L{s}"));
                ell0.push(0.0);
            }
        }
    }
    for (k, _) in &li {
        if !sfx.iter().any(|s| &format!("L{s}") == k) {
            cx.fault(format!("template.linkers_init.{k}"), "no such pair linker");
        }
    }
    // Outputs and nudge.
    let outs = arr(cx, v.get("outputs"), "outputs", true);
    let mut outputs = Vec::new();
    let mut output_ids = Vec::new();
    for (k, o) in outs.iter().enumerate() {
        let p = format!("outputs[{k}]");
        let mut oo = Obj::new(cx, Some(o), &p);
        let id = oo.string(cx, "id").unwrap_or_default();
        let sp = oo.string(cx, "species").unwrap_or_default();
        let _ = oo.choice(cx, "kind", &["free_concentration"], "free_concentration");
        oo.finish(cx, &[]);
        outputs.push(idx(cx, &sp, format!("{p}.species")));
        output_ids.push(id);
    }
    if outs.is_empty() && v.get("outputs").is_some_and(Value::is_array) {
        cx.fault("outputs", "needs at least one output");
    }
    let mut nu = Obj::new(cx, v.get("nudge"), "nudge");
    let _ = nu.choice(cx, "kind", &["exchange"], "exchange");
    let nsp = str_list(cx, nu.get("species"), "nudge.species", true);
    let beta_max = nu.number(cx, "beta_max", None, Limit::Gt(0.0));
    let _ = nu.choice(cx, "reservoir", &["targets"], "targets");
    nu.finish(cx, &[]);
    let out_names: Vec<String> = outputs
        .iter()
        .map(|&i| monomers.get(i).cloned().unwrap_or_default())
        .collect();
    if nsp != out_names {
        cx.fault(
            "nudge.species",
            format!(
                "must list the output species in order ({})",
                out_names.join(", ")
            ),
        );
    }
    let examples = examples(cx, v.get("task"), &input_names, &output_ids);
    let pr = v.get("protocol");
    let tau_fast = pr
        .and_then(|p| p.get("tau_fast"))
        .and_then(Value::as_f64)
        .unwrap_or(f64::NAN);
    let tau_slow = pr
        .and_then(|p| p.get("tau_slow"))
        .and_then(Value::as_f64)
        .unwrap_or(f64::NAN);
    if !cx.faults.is_empty() {
        return None;
    }
    Some(TemplateSpec {
        monomers,
        pairs,
        inputs,
        outputs,
        totals,
        ell0,
        params: params.into_iter().collect(),
        auto,
        examples,
        beta_max,
        tau_fast,
        tau_slow,
    })
}

/// Expand a template netlist into the explicit form (the auto design of §5.2 included).
pub fn expand_template(v: &Value) -> Result<Value, NetlistError> {
    let mut cx = Cx { faults: Vec::new() };
    match v.as_object() {
        None => cx.fault("$", "a chemical template must be a JSON object"),
        Some(root) => {
            const OBJECTS: &[&str] = &[
                "units", "template", "drives", "nudge", "task", "protocol", "solver", "expect",
                "meta",
            ];
            const ARRAYS: &[&str] = &["outputs", "learnables"];
            for (k, x) in root {
                let k = k.as_str();
                let want = if OBJECTS.contains(&k) {
                    x.is_object() || x.is_null()
                } else if ARRAYS.contains(&k) {
                    x.is_array()
                } else if k == "schema" || k == "physics" {
                    x.is_string()
                } else {
                    cx.fault(
                        k,
                        format!(
                            "unknown key (expected one of: schema, physics, {}, {})",
                            OBJECTS.join(", "),
                            ARRAYS.join(", ")
                        ),
                    );
                    continue;
                };
                if !want {
                    let kind = if ARRAYS.contains(&k) {
                        "an array"
                    } else if OBJECTS.contains(&k) {
                        "an object"
                    } else {
                        "a string"
                    };
                    cx.fault(k, format!("expected {kind}, got {}", super::type_name(x)));
                }
            }
        }
    }
    if !cx.faults.is_empty() {
        return Err(NetlistError::Invalid(cx.faults));
    }
    let spec = template_spec(&mut cx, v);
    // Validate the protocol and solver sections too, so that all faults come at once.
    let _ = protocol(&mut cx, v.get("protocol"));
    let _ = solver(&mut cx, v.get("solver"));
    let spec = match spec {
        Some(s) if cx.faults.is_empty() => s,
        _ => return Err(NetlistError::Invalid(cx.faults)),
    };
    let design =
        tcl::auto_design(&spec).map_err(|e| invalid("template", format!("auto design: {e}")))?;
    explicit_json(v, &design, &spec.ell0, &spec.examples)
}

/// Every number of a design is finite; times, rates, levels and gains are > 0 (polarity ±1,
/// eps and gamma ≥ 0).
fn design_numbers(cx: &mut Cx, d: &Design) {
    let Ok(Value::Object(m)) = serde_json::to_value(d) else {
        return;
    };
    const NONNEG: &[&str] = &["eps", "gamma", "a_max", "k_off_l", "k_off_r", "d_m", "dv"];
    for (k, v) in &m {
        let Some(x) = v.as_f64() else {
            continue;
        };
        let path = format!("design.{k}");
        if !x.is_finite() {
            cx.fault(path, format!("must be finite, got {x}"));
        } else if k == "polarity" {
            if x != 1.0 && x != -1.0 {
                cx.fault(path, format!("must be +1 or -1, got {x}"));
            }
        } else if NONNEG.contains(&k.as_str()) {
            if x < 0.0 {
                cx.fault(path, format!("must be ≥ 0, got {x}"));
            }
        } else if x <= 0.0 {
            cx.fault(path, format!("must be > 0, got {x}"));
        }
    }
}

/// The explicit JSON of a design, copying the template's outputs, task, protocol, solver,
/// expect and meta sections.
pub fn explicit_json(
    template: &Value,
    design: &Design,
    ell0: &[f64],
    examples: &[Example],
) -> Result<Value, NetlistError> {
    let net = tcl::expand(design, ell0, &examples[0])
        .map_err(|e| invalid("template", format!("expansion: {e}")))?;
    let (_, sfx) = tcl::suffixes(design);
    let species: Vec<Value> = net
        .species
        .iter()
        .map(|s| json!({"id": s.name, "composition": s.composition, "init": s.init, "scale": s.scale}))
        .collect();
    let reactions: Vec<Value> = net
        .reactions
        .iter()
        .map(|r| {
            let names = |l: &[SpeciesId]| -> Vec<String> { l.iter().map(|s| net.species[s.0].name.clone()).collect() };
            let mut o = json!({"id": r.name, "reactants": names(&r.reactants), "products": names(&r.products), "k": r.k});
            if r.open {
                o["open"] = json!(true);
            }
            if let Some(d) = r.drive {
                o["drive"] = json!(net.drives[d.0].name);
            }
            o
        })
        .collect();
    let mut drives = Map::new();
    for d in &net.drives {
        let v = match &d.kind {
            DriveKind::ProtocolSawtooth => json!({"kind": "protocol_sawtooth"}),
            DriveKind::WriteGate => json!({"kind": "write_gate"}),
            DriveKind::ExampleInput { species } => {
                json!({"kind": "example_input", "species": net.species[species.0].name})
            }
            DriveKind::Reservoir { species } => {
                json!({"kind": "reservoir", "species": net.species[species.0].name})
            }
        };
        drives.insert(d.name.clone(), v);
    }
    let learnables: Vec<Value> = design
        .pairs
        .iter()
        .enumerate()
        .map(|(e, &[i, j])| {
            let s = &sfx[e];
            json!({"id": format!("ell{s}"), "pair": [design.monomers[i], design.monomers[j]],
                   "sum": [format!("L{s}"), format!("C{s}")], "debt": [format!("M{s}")],
                   "min": 0.0, "signal": format!("D{s}")})
        })
        .collect();
    let mut task = template.get("task").cloned().unwrap_or(Value::Null);
    // Examples re-emitted from the parsed values (the two-example generator replaces them).
    let in_names: Vec<&String> = design.inputs.iter().map(|&i| &design.monomers[i]).collect();
    let out_ids: Vec<String> = template
        .get("outputs")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|o| o.get("id").and_then(Value::as_str).map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let exs: Vec<Value> = examples
        .iter()
        .map(|ex| {
            let ins: Map<String, Value> = in_names
                .iter()
                .zip(&ex.inputs)
                .map(|(n, v)| ((*n).clone(), json!(v)))
                .collect();
            let tg: Map<String, Value> = out_ids
                .iter()
                .zip(&ex.targets)
                .map(|(n, v)| (n.clone(), json!(v)))
                .collect();
            json!({"inputs": ins, "targets": tg})
        })
        .collect();
    task["examples"] = json!(exs);
    let mut expect = template.get("expect").cloned().unwrap_or_else(|| json!({}));
    expect["rho"] = json!(design.rho);
    let mut meta = template.get("meta").cloned().unwrap_or_else(|| json!({}));
    meta["expanded_from"] = json!("molecular_tcl template");
    meta["template_params"] = template
        .get("template")
        .and_then(|t| t.get("params"))
        .cloned()
        .unwrap_or(Value::Null);
    Ok(json!({
        "schema": template.get("schema").cloned().unwrap_or(json!("tcl-netlist/0.1")),
        "physics": "chemical",
        "units": {"concentration": "c_u", "time": "tau_k"},
        "design": design,
        "species": species,
        "reactions": reactions,
        "drives": drives,
        "learnables": learnables,
        "outputs": template.get("outputs").cloned().unwrap_or(Value::Null),
        "nudge": template.get("nudge").cloned().unwrap_or(Value::Null),
        "task": task,
        "protocol": template.get("protocol").cloned().unwrap_or(Value::Null),
        "expect": expect,
        "solver": template.get("solver").cloned().unwrap_or(Value::Null),
        "meta": meta,
    }))
}

/// Build the model from an explicit netlist.
fn build_explicit(cx: &mut Cx, v: &Value) -> Option<ChemModel> {
    let mut root = Obj::new(cx, Some(v), "");
    if let Some(s) = root.string(cx, "schema") {
        if !super::SCHEMA_IDS.contains(&s.as_str()) {
            cx.fault(
                "schema",
                format!(
                    "unknown schema \"{s}\" (expected one of: {})",
                    super::SCHEMA_IDS.join(", ")
                ),
            );
        }
    }
    let _ = root.choice(cx, "physics", &["chemical"], "chemical");
    let _ = root.get("units");
    let _ = root.get("meta");
    // Design block.
    let design: Option<Design> = match root.get("design") {
        None | Some(Value::Null) => {
            cx.fault(
                "design",
                "missing required section (the resolved molecular_tcl design)",
            );
            None
        }
        Some(dv) => {
            let r: Result<Design, _> = serde_path_to_error::deserialize(dv);
            match r {
                Ok(d) => Some(d),
                Err(e) => {
                    cx.fault(format!("design.{}", e.path()), e.inner().to_string());
                    None
                }
            }
        }
    };
    if let Some(d) = &design {
        design_numbers(cx, d);
        let nm = d.monomers.len();
        for (k, p) in d.pairs.iter().enumerate() {
            if p[0] >= nm || p[1] >= nm || p[0] == p[1] {
                cx.fault(
                    format!("design.pairs[{k}]"),
                    format!("invalid pair {p:?} for {nm} monomers"),
                );
            }
        }
        for (name, list) in [("inputs", &d.inputs), ("outputs", &d.outputs)] {
            for (k, &i) in list.iter().enumerate() {
                if i >= nm {
                    cx.fault(
                        format!("design.{name}[{k}]"),
                        format!("monomer index {i} out of range"),
                    );
                }
            }
        }
        for (name, n) in [
            ("monomers", nm),
            ("pairs", d.pairs.len()),
            ("outputs", d.outputs.len()),
        ] {
            if n == 0 {
                cx.fault(format!("design.{name}"), "needs at least one entry");
            }
        }
        if d.totals.len() != nm {
            cx.fault(
                "design.totals",
                format!("needs {nm} entries, got {}", d.totals.len()),
            );
        }
        let pos = [
            ("gamma", d.gamma),
            ("k_on", d.k_on),
            ("k_off", d.k_off),
            ("k_onL", d.k_on_l),
            ("k_offL", d.k_off_l),
            ("x0", d.x0),
            ("a", d.a),
            ("b", d.b),
            ("k_act", d.k_act),
            ("k_c", d.k_c),
            ("k_p", d.k_p),
            ("mu", d.mu),
            ("eta_EZ", d.eta_ez),
            ("eta_U", d.eta_u),
            ("dv", d.dv),
            ("V0", d.v0),
            ("k_v", d.k_v),
            ("theta_v", d.theta_v),
            ("Y_tot", d.y_tot),
            ("P_tot", d.p_tot),
            ("k_onR", d.k_on_r),
            ("k_offR", d.k_off_r),
            ("k_w", d.k_w),
            ("eta_M", d.eta_m),
            ("dM", d.d_m),
            ("kappa", d.kappa),
            ("rho", d.rho),
            ("beta_max", d.beta_max),
        ];
        for (n, x) in pos {
            check_limit(cx, &format!("design.{n}"), x, Limit::Gt(0.0));
        }
        check_limit(cx, "design.eps", d.eps, Limit::Ge(0.0));
        if d.polarity != 1.0 && d.polarity != -1.0 {
            cx.fault(
                "design.polarity",
                format!("must be +1 or -1, got {}", d.polarity),
            );
        }
    }
    // Species.
    let sp_list = arr(cx, root.get("species"), "species", true);
    if sp_list.is_empty() && root.get("species").is_some_and(Value::is_array) {
        cx.fault("species", "needs at least one species");
    }
    let mut species = Vec::new();
    let mut sp_index: HashMap<String, usize> = HashMap::new();
    for (k, s) in sp_list.iter().enumerate() {
        let p = format!("species[{k}]");
        let mut o = Obj::new(cx, Some(s), &p);
        let id = o.string(cx, "id").unwrap_or_default();
        if id.is_empty() {
            cx.fault(format!("{p}.id"), "missing or empty id");
        } else if sp_index.insert(id.clone(), k).is_some() {
            cx.fault(format!("{p}.id"), format!("duplicate species id {id}"));
        }
        let composition: BTreeMap<String, f64> = num_map(
            cx,
            o.get("composition"),
            &format!("{p}.composition"),
            Limit::Gt(0.0),
        )
        .into_iter()
        .collect();
        if composition.is_empty() {
            cx.fault(
                format!("{p}.composition"),
                format!("species {id}: composition is required (for the balance check)"),
            );
        }
        let init = o.number(cx, "init", None, Limit::Ge(0.0));
        let scale = o.number(cx, "scale", None, Limit::Gt(0.0));
        o.finish(cx, &[]);
        species.push(Species {
            name: id,
            composition,
            init,
            scale,
        });
    }
    let sid = |cx: &mut Cx, name: &str, path: String| -> Option<SpeciesId> {
        match sp_index.get(name) {
            Some(&i) => Some(SpeciesId(i)),
            None => {
                cx.fault(path, format!("unknown species {name}"));
                None
            }
        }
    };
    // Drives.
    let mut drives = Vec::new();
    let mut drive_roles = Vec::new();
    match root.get("drives") {
        Some(Value::Object(m)) => {
            for (name, dv) in m {
                let p = format!("drives.{name}");
                let mut o = Obj::new(cx, Some(dv), &p);
                let kind = o.choice(
                    cx,
                    "kind",
                    &[
                        "protocol_sawtooth",
                        "write_gate",
                        "example_input",
                        "reservoir",
                    ],
                    "write_gate",
                );
                let spn = o.string(cx, "species");
                o.finish(cx, &[]);
                let mono_idx =
                    |cx: &mut Cx, list: &[usize], what: &str| -> Option<(SpeciesId, usize)> {
                        let spn = spn.clone().unwrap_or_default();
                        let s = sid(cx, &spn, format!("{p}.species"))?;
                        let d = design.as_ref()?;
                        match list.iter().position(|&i| d.monomers.get(i) == Some(&spn)) {
                            Some(k) => Some((s, k)),
                            None => {
                                cx.fault(format!("{p}.species"), format!("{spn} is not {what}"));
                                None
                            }
                        }
                    };
                let (dk, role) = match kind.as_str() {
                    "protocol_sawtooth" => (DriveKind::ProtocolSawtooth, DriveRole::Beta),
                    "example_input" => {
                        let ins = design
                            .as_ref()
                            .map(|d| d.inputs.clone())
                            .unwrap_or_default();
                        match mono_idx(cx, &ins, "an input monomer") {
                            Some((s, k)) => (
                                DriveKind::ExampleInput { species: s },
                                DriveRole::Input { k },
                            ),
                            None => continue,
                        }
                    }
                    "reservoir" => {
                        let outs = design
                            .as_ref()
                            .map(|d| d.outputs.clone())
                            .unwrap_or_default();
                        match mono_idx(cx, &outs, "an output monomer") {
                            Some((s, k)) => (
                                DriveKind::Reservoir { species: s },
                                DriveRole::Reservoir { k },
                            ),
                            None => continue,
                        }
                    }
                    _ => (DriveKind::WriteGate, DriveRole::Gate),
                };
                drives.push(Drive {
                    name: name.clone(),
                    kind: dk,
                });
                drive_roles.push(role);
            }
        }
        None | Some(Value::Null) => {}
        Some(other) => cx.fault(
            "drives",
            format!("expected an object, got {}", type_name(other)),
        ),
    }
    // Reactions.
    let rx_list = arr(cx, root.get("reactions"), "reactions", true);
    let mut reactions = Vec::new();
    let mut rx_names: HashMap<String, usize> = HashMap::new();
    for (k, r) in rx_list.iter().enumerate() {
        let p = format!("reactions[{k}]");
        let mut o = Obj::new(cx, Some(r), &p);
        let id = o.string(cx, "id").unwrap_or_default();
        if id.is_empty() {
            cx.fault(format!("{p}.id"), "missing or empty id");
        } else if rx_names.insert(id.clone(), k).is_some() {
            cx.fault(format!("{p}.id"), format!("duplicate reaction id {id}"));
        }
        let re_n = str_list(cx, o.get("reactants"), &format!("{p}.reactants"), true);
        let pr_n = str_list(cx, o.get("products"), &format!("{p}.products"), true);
        let reactants: Vec<SpeciesId> = re_n
            .iter()
            .enumerate()
            .filter_map(|(i, n)| sid(cx, n, format!("{p}.reactants[{i}]")))
            .collect();
        let products: Vec<SpeciesId> = pr_n
            .iter()
            .enumerate()
            .filter_map(|(i, n)| sid(cx, n, format!("{p}.products[{i}]")))
            .collect();
        if re_n.len() > 2 {
            cx.fault(
                format!("{p}.reactants"),
                format!("reaction {id}: order {} > 2 is not supported", re_n.len()),
            );
        }
        let kk = o.number(cx, "k", None, Limit::Gt(0.0));
        let open = o.boolean(cx, "open", false);
        let drive = match o.string(cx, "drive") {
            None => None,
            Some(dn) => match drives.iter().position(|d| d.name == dn) {
                Some(i) => Some(DriveId(i)),
                None => {
                    cx.fault(
                        format!("{p}.drive"),
                        format!("reaction {id}: unknown drive group {dn}"),
                    );
                    None
                }
            },
        };
        o.finish(cx, &[]);
        reactions.push(Reaction {
            name: id,
            reactants,
            products,
            k: kk,
            open,
            drive,
        });
    }
    // Outputs.
    let outs = arr(cx, root.get("outputs"), "outputs", true);
    let mut output_ids = Vec::new();
    for (k, o) in outs.iter().enumerate() {
        let p = format!("outputs[{k}]");
        let mut oo = Obj::new(cx, Some(o), &p);
        let id = oo.string(cx, "id").unwrap_or_default();
        let spn = oo.string(cx, "species").unwrap_or_default();
        let _ = oo.choice(cx, "kind", &["free_concentration"], "free_concentration");
        oo.finish(cx, &[]);
        if let Some(d) = &design {
            if d.outputs.get(k).and_then(|&i| d.monomers.get(i)) != Some(&spn) {
                cx.fault(
                    format!("{p}.species"),
                    format!("output {id}: {spn} is not design output #{k}"),
                );
            }
        }
        output_ids.push(id);
    }
    if let Some(d) = &design {
        if outs.len() != d.outputs.len() {
            cx.fault(
                "outputs",
                format!(
                    "needs one output per design output ({}), got {}",
                    d.outputs.len(),
                    outs.len()
                ),
            );
        }
    }
    if let Some(d) = &design {
        if outs.len() != d.outputs.len() {
            cx.fault(
                "outputs",
                format!(
                    "needs one output per design output ({}), got {}",
                    d.outputs.len(),
                    outs.len()
                ),
            );
        }
    }
    let mut nu = Obj::new(cx, root.get("nudge"), "nudge");
    let _ = nu.choice(cx, "kind", &["exchange"], "exchange");
    let _ = str_list(cx, nu.get("species"), "nudge.species", true);
    let bmax = nu.number(cx, "beta_max", None, Limit::Gt(0.0));
    let _ = nu.choice(cx, "reservoir", &["targets"], "targets");
    nu.finish(cx, &[]);
    if let Some(d) = &design {
        if (bmax - d.beta_max).abs() > 1e-12 * d.beta_max {
            cx.fault(
                "nudge.beta_max",
                format!(
                    "{bmax} differs from design.beta_max = {} (re-expand the template)",
                    d.beta_max
                ),
            );
        }
    }
    let input_names: Vec<String> = design
        .as_ref()
        // Out-of-range indices were recorded as faults above: skip them here.
        .map(|d| {
            d.inputs
                .iter()
                .filter_map(|&i| d.monomers.get(i).cloned())
                .collect()
        })
        .unwrap_or_default();
    let examples = examples(cx, root.get("task"), &input_names, &output_ids);
    let protocol = protocol(cx, root.get("protocol"));
    let solver = solver(cx, root.get("solver"));
    let mut ex = Obj::new(cx, root.get("expect"), "expect");
    let _ = ex.string(cx, "ideal_rule");
    if let Some(r) = ex.get("rho") {
        if !r.as_f64().is_some_and(|x| x.is_finite() && x > 0.0) {
            cx.fault(
                "expect.rho",
                format!("expected a finite number > 0, got {r}"),
            );
        }
    }
    let sign_check =
        ex.choice(cx, "sign_check", &["static_fd", "none"], "static_fd") == "static_fd";
    ex.finish(cx, &[]);
    // Learnables.
    let l_list = arr(cx, root.get("learnables"), "learnables", true);
    let mut learnables = Vec::new();
    let mut ids_seen = std::collections::HashMap::new();
    for (k, l) in l_list.iter().enumerate() {
        let p = format!("learnables[{k}]");
        let mut o = Obj::new(cx, Some(l), &p);
        let id = o.string(cx, "id").unwrap_or_default();
        if id.is_empty() {
            cx.fault(
                format!("{p}.id"),
                "missing: every learnable needs a non-empty id",
            );
        } else if let Some(first) = ids_seen.insert(id.clone(), k) {
            cx.fault(
                format!("{p}.id"),
                format!("duplicate id \"{id}\" (also learnables[{first}].id)"),
            );
        }
        let pair = str_list(cx, o.get("pair"), &format!("{p}.pair"), true);
        let sum: Vec<SpeciesId> = str_list(cx, o.get("sum"), &format!("{p}.sum"), true)
            .iter()
            .enumerate()
            .filter_map(|(i, n)| sid(cx, n, format!("{p}.sum[{i}]")))
            .collect();
        let debt: Vec<SpeciesId> = str_list(cx, o.get("debt"), &format!("{p}.debt"), false)
            .iter()
            .enumerate()
            .filter_map(|(i, n)| sid(cx, n, format!("{p}.debt[{i}]")))
            .collect();
        let min = o.number(cx, "min", Some(0.0), Limit::Ge(0.0));
        let signal = o
            .string(cx, "signal")
            .and_then(|n| sid(cx, &n, format!("{p}.signal")));
        o.finish(cx, &[]);
        let pidx = design.as_ref().and_then(|d| {
            let i = d.monomers.iter().position(|m| Some(m) == pair.first())?;
            let j = d.monomers.iter().position(|m| Some(m) == pair.get(1))?;
            d.pairs.iter().position(|q| *q == [i.min(j), i.max(j)])
        });
        match (pidx, signal) {
            (Some(pi), Some(signal)) => {
                if pi != k {
                    cx.fault(format!("{p}.pair"), format!("learnable {id}: learnables must follow design.pairs order (this is pair #{pi})"));
                }
                learnables.push(Learnable {
                    name: id,
                    pair: pi,
                    sum,
                    debt,
                    signal,
                    min,
                });
            }
            (None, _) => cx.fault(
                format!("{p}.pair"),
                format!("learnable {id}: {pair:?} is not a design pair"),
            ),
            _ => {}
        }
    }
    root.finish(cx, &[]);
    let mut design = design?;
    if learnables.len() != design.pairs.len() {
        cx.fault(
            "learnables",
            format!(
                "need one learnable per design pair ({}), got {}",
                design.pairs.len(),
                learnables.len()
            ),
        );
    }
    if !cx.faults.is_empty() {
        return None;
    }
    for (k, dv, pv) in [
        ("tau_fast", design.tau_fast, protocol.tau_fast),
        ("tau_slow", design.tau_slow, protocol.tau_slow),
    ] {
        if dv != pv {
            cx.fault(
                format!("design.{k}"),
                format!("{dv} differs from protocol.{k} = {pv} (the protocol sets it; write the same value or leave it out)"),
            );
        }
    }
    if !cx.faults.is_empty() {
        return None;
    }
    design.tau_fast = protocol.tau_fast;
    design.tau_slow = protocol.tau_slow;
    let network = Network::new(species, reactions, drives);
    let pairs = match tcl::pair_species(&design, &network) {
        Ok(p) => p,
        Err(e) => {
            cx.fault("species", format!("{e}"));
            return None;
        }
    };
    Some(ChemModel {
        network,
        output_names: output_ids,
        design,
        pairs,
        learnables,
        examples,
        protocol,
        solver,
        drive_roles,
        sign_check,
    })
}

/// Teacher linkers of the two-example task: log-uniform in [0.3, 10], ChaCha8 seeded with 7.
pub fn teacher_linkers(n: usize, seed: u64) -> Vec<f64> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| (0.3f64.ln() + rng.random::<f64>() * (10.0f64.ln() - 0.3f64.ln())).exp())
        .collect()
}

/// One of the bundled chemical netlists (explicit form), by name (see [`GENERATED`]).
pub fn generate(name: &str) -> Option<Result<Value, NetlistError>> {
    if !GENERATED.contains(&name) {
        return None;
    }
    Some(generate_inner(name))
}

fn generate_inner(name: &str) -> Result<Value, NetlistError> {
    let mut t: Value =
        serde_json::from_str(M1_TEMPLATE).map_err(|e| invalid("template", e.to_string()))?;
    t["meta"] =
        json!({"generator": format!("physlearn generate {name}"), "task": "M1 (molecular.md §7)"});
    match name {
        "m1_molecular_tau100" => {
            t["protocol"]["tau_slow"] = json!(1000.0);
        }
        "m1_molecular_annealed" => {
            t["protocol"]["beta_schedule"] = json!({"kind": "error_annealed", "cap": 12.0});
        }
        "m1_molecular_two_examples" => return two_examples(t),
        _ => {}
    }
    expand_template(&t)
}

/// The two-example M1 task: inputs (1.2, 0.6) and (0.6, 1.2), targets = free outputs of a
/// seeded teacher on the same loaded system (iterated with the design, since k_act enters the
/// static state).
fn two_examples(mut t: Value) -> Result<Value, NetlistError> {
    t["protocol"]["cycles"] = json!(160);
    t["meta"]["teacher"] =
        json!("ell* log-uniform in [0.3, 10], ChaCha8 seed 7 (physlearn's own draw)");
    let mut cx = Cx { faults: Vec::new() };
    let spec0 =
        template_spec(&mut cx, &t).ok_or_else(|| NetlistError::Invalid(cx.faults.clone()))?;
    let teacher = teacher_linkers(spec0.pairs.len(), 7);
    let mut spec = spec0.clone();
    spec.examples = vec![
        Example {
            inputs: vec![1.2, 0.6],
            targets: spec0.examples[0].targets.clone(),
        },
        Example {
            inputs: vec![0.6, 1.2],
            targets: spec0.examples[0].targets.clone(),
        },
    ];
    let mut design = tcl::auto_design(&spec).map_err(|e| invalid("template", e.to_string()))?;
    for _ in 0..20 {
        let mut change: f64 = 0.0;
        for ex in &mut spec.examples {
            let a = design.example_totals(ex);
            let f = design
                .solve_static(&teacher, &a, 0.0, &ex.targets, None, None)
                .map_err(|e| invalid("template", e.to_string()))?;
            let o = design.outputs_of(&f);
            for (x, y) in ex.targets.iter().zip(&o) {
                change = change.max((x - y).abs());
            }
            ex.targets = o;
        }
        design = tcl::auto_design(&spec).map_err(|e| invalid("template", e.to_string()))?;
        if change < 1e-15 {
            break;
        }
    }
    t["meta"]["teacher_linkers"] = json!(teacher);
    explicit_json(&t, &design, &spec.ell0, &spec.examples)
}
