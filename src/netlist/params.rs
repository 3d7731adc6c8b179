//! The parameter tables: one per element kind (and for the shared sub-objects), each entry with
//! name (JSON path inside the element), unit, default, limits and description. The same table
//! drives validation, error messages, the JSON Schema (`physlearn schema`) and docs/netlist.md.

use serde::Serialize;

/// A numeric limit.
#[derive(Copy, Clone, Debug, PartialEq, Serialize)]
pub enum Limit {
    None,
    /// value > x
    Gt(f64),
    /// value ≥ x
    Ge(f64),
}

/// Default of a field.
#[derive(Copy, Clone, Debug, PartialEq, Serialize)]
pub enum Default_ {
    Required,
    Num(f64),
    Str(&'static str),
    Bool(bool),
    /// Depends on other fields (explained in the description).
    Derived,
}

/// Type of a field.
#[derive(Copy, Clone, Debug, PartialEq, Serialize)]
pub enum FieldType {
    Number,
    /// A number or the string "auto".
    NumberOrAuto,
    Bool,
    /// One of the listed strings.
    Enum(&'static [&'static str]),
    /// Integer ±1.
    Sign,
}

#[derive(Copy, Clone, Debug, Serialize)]
pub struct ParamSpec {
    /// Path inside the element object, dot-separated (`arm.C`).
    pub name: &'static str,
    pub ty: FieldType,
    pub unit: &'static str,
    pub default: Default_,
    pub min: Limit,
    pub description: &'static str,
}

const fn num(
    name: &'static str,
    unit: &'static str,
    default: Default_,
    min: Limit,
    description: &'static str,
) -> ParamSpec {
    ParamSpec {
        name,
        ty: FieldType::Number,
        unit,
        default,
        min,
        description,
    }
}

const fn choice(
    name: &'static str,
    options: &'static [&'static str],
    default: &'static str,
    description: &'static str,
) -> ParamSpec {
    ParamSpec {
        name,
        ty: FieldType::Enum(options),
        unit: "-",
        default: Default_::Str(default),
        min: Limit::None,
        description,
    }
}

const fn flag(name: &'static str, default: bool, description: &'static str) -> ParamSpec {
    ParamSpec {
        name,
        ty: FieldType::Bool,
        unit: "-",
        default: Default_::Bool(default),
        min: Limit::None,
        description,
    }
}

/// Parameters of a learning update `dp/dt = π ρ N_θ(σ) F(p)`, with `prefix` = "update" or
/// "update_rest_length" and the kind's default ρ.
pub const fn update_table(prefix: &'static str) -> [ParamSpec; 5] {
    let _ = prefix;
    [
        ParamSpec {
            name: "rho",
            ty: FieldType::NumberOrAuto,
            unit: "[w]/([σ]·[t])",
            default: Default_::Derived,
            min: Limit::Ge(0.0),
            description: "learning rate ρ (default per kind: 10 nanofluidic, 25 sls, 1 maxwell/mechanochemical); larger = faster learning and larger loop gain; \"auto\" (weight channels): one ρ for all auto channels giving loop gain G = rho_auto.loop_gain (default 0.1)",
        },
        ParamSpec {
            name: "theta",
            ty: FieldType::NumberOrAuto,
            unit: "[σ]",
            default: Default_::Str("auto"),
            min: Limit::Ge(0.0),
            description: "threshold θ of N_θ; \"auto\": θ = c τ_e A_max/τ_slow from one static free/clamped pair (c = theta_auto.c)",
        },
        ParamSpec {
            name: "polarity",
            ty: FieldType::Sign,
            unit: "-",
            default: Default_::Num(1.0),
            min: Limit::None,
            description: "π = +1 (Hebbian) or −1 (anti-Hebbian); gradient descent needs π = +1 with fast_fall or π = −1 with fast_rise for w (the reverse for rest lengths)",
        },
        choice(
            "nonlinearity.kind",
            &["hard", "hill", "dead_zone", "linear"],
            "hard",
            "N_θ: hard σ·1{|σ|>θ}; hill σ rⁿ/(1+rⁿ), r=|σ|/θ; dead_zone sign(σ)max(|σ|−θ,0); linear σ",
        ),
        num(
            "nonlinearity.n",
            "-",
            Default_::Num(2.0),
            Limit::Gt(0.0),
            "Hill exponent n (hill only); larger = closer to the hard threshold",
        ),
    ]
}

pub const UPDATE: [ParamSpec; 5] = update_table("update");

pub const BOUNDS: [ParamSpec; 3] = [
    num("w_min", "[w]", Default_::Num(0.01), Limit::Gt(0.0), "lower bound of the learnable weight; assembly clamps w ≥ w_min so the network stays SPD"),
    num("w_max", "[w]", Default_::Num(100.0), Limit::Gt(0.0), "upper bound of the learnable weight (must exceed w_min)"),
    choice("bound", &["soft", "hard"], "soft", "window F(w): soft = smooth cut-off of width w_min (bottom) and 0.01 w_max (top); hard = projection"),
];

pub const RESISTOR: &[ParamSpec] = &[num(
    "w",
    "S (conductance)",
    Default_::Num(1.0),
    Limit::Gt(0.0),
    "conductance (fixed)",
)];

pub const SPRING: &[ParamSpec] = &[
    num(
        "k",
        "N/m (stiffness)",
        Default_::Num(1.0),
        Limit::Gt(0.0),
        "stiffness (fixed)",
    ),
    num(
        "rest_length",
        "m (extension offset)",
        Default_::Num(0.0),
        Limit::None,
        "rest-length offset l relative to the reference length",
    ),
];

pub const NANOFLUIDIC: &[ParamSpec] = &[
    choice("topology", &["shunted", "series", "series_leaky"], "shunted", "shunted: learnable channel w ∥ sensing arm (C + g_s); series: paper-literal memristor w in series with C (no DC path, flagged); series_leaky: memristor w in series with (C ∥ g_leak)"),
    num("w", "S (conductance)", Default_::Num(1.0), Limit::Gt(0.0), "initial conductance of the learnable channel (the memristor for series topologies)"),
    num("arm.C", "F (capacitance)", Default_::Num(0.05), Limit::Gt(0.0), "arm capacitance C; τ_s = C/g_s"),
    num("arm.g_s", "S", Default_::Num(0.05), Limit::Gt(0.0), "sensing-arm conductance g_s (shunted only); arm loading ∝ g_s/w"),
    num("arm.g_leak", "S", Default_::Num(0.0), Limit::Ge(0.0), "leak across the capacitor; kernel area I = g_leak/(g + g_leak); series_leaky needs > 0, series must be 0"),
    flag("arm.loading", true, "false: ideal probe (the arm does not load the network; g → 0 at fixed τ_s)"),
    choice("signal", &["energy", "abs", "polar"], "energy", "transducer: energy σ = 2 v_C u (even, correct), abs σ = sign(v_C) u, polar σ = u (paper-literal, wrong parity)"),
    flag("learn", true, "whether w is learnable"),
];

pub const SLS: &[ParamSpec] = &[
    num("k", "N/m", Default_::Num(1.0), Limit::Gt(0.0), "initial stiffness of the learnable spring"),
    num("rest_length", "m", Default_::Num(0.0), Limit::None, "initial rest-length offset l relative to the reference length"),
    choice("learn", &["stiffness", "rest_length", "both", "none"], "stiffness", "which parameter(s) learn"),
    num("arm.k_m", "N/m", Default_::Num(0.05), Limit::Gt(0.0), "Maxwell-arm spring k_M"),
    num("arm.eta", "N·s/m", Default_::Num(0.05), Limit::Gt(0.0), "Maxwell-arm dashpot η; τ_k = η/k_M"),
    num("arm.k_leak", "N/m", Default_::Num(0.0), Limit::Ge(0.0), "spring across the dashpot (kernel area k_leak/(k_M + k_leak))"),
    flag("arm.loading", true, "false: ideal probe (arm does not load the network)"),
    choice("signal", &["energy", "abs", "polar"], "energy", "stiffness transducer: energy σ = 2 d u ≈ τ_k d(e²)/dt (correct); abs; polar = Maxwell stress (paper-literal, wrong parity)"),
];

pub const MAXWELL: &[ParamSpec] = &[
    num(
        "k_m",
        "N/m",
        Default_::Num(1.0),
        Limit::Gt(0.0),
        "spring of the Maxwell unit (learnable when learn = true)",
    ),
    num(
        "eta",
        "N·s/m",
        Default_::Num(1.0),
        Limit::Gt(0.0),
        "dashpot viscosity η; τ = η/k_m",
    ),
    choice(
        "signal",
        &["polar", "energy", "abs"],
        "polar",
        "polar = Maxwell stress (paper-literal)",
    ),
    flag("learn", true, "whether k_m is learnable"),
];

pub const MECHANOCHEMICAL: &[ParamSpec] = &[
    num(
        "w",
        "[w]",
        Default_::Num(1.0),
        Limit::Gt(0.0),
        "initial conductance (flow) or stiffness (elastic2d)",
    ),
    num(
        "rest_length",
        "m",
        Default_::Num(0.0),
        Limit::None,
        "rest-length offset (elastic2d)",
    ),
    choice(
        "signal",
        &["drop2", "power", "abs", "strain_energy"],
        "drop2",
        "chemical input s: drop2 y², power w y², abs |y|, strain_energy ½ w (y−l)²",
    ),
    num(
        "feedback.tau_x",
        "s",
        Default_::Num(0.25),
        Limit::Gt(0.0),
        "chemical relaxation time τ_x",
    ),
    num(
        "feedback.tau_r",
        "s",
        Default_::Num(1.0),
        Limit::Gt(0.0),
        "regulator (integrator) time τ_r = τ_k; overdamped when τ_r ≥ 4 τ_x",
    ),
    num(
        "feedback.eps",
        "-",
        Default_::Num(0.0),
        Limit::Ge(0.0),
        "adaptation error ε (kernel area ε/(1+ε)); ε s/s_ref > θ destroys learning",
    ),
    ParamSpec {
        name: "feedback.s_ref",
        ty: FieldType::NumberOrAuto,
        unit: "[s]",
        default: Default_::Str("auto"),
        min: Limit::Gt(0.0),
        description:
            "signal normalisation; auto = max free-state signal over the chemistry elements",
    },
    num(
        "feedback.c0",
        "[x]",
        Default_::Num(1.0),
        Limit::Ge(0.0),
        "basal concentration (positivity check c0 + x ≥ 0)",
    ),
    flag("learn", true, "whether w is learnable"),
];

/// All element kinds, their domains and tables (for docs and schema).
pub const KINDS: &[(&str, &str, &[ParamSpec])] = &[
    ("resistor", "flow", RESISTOR),
    ("spring", "elastic2d", SPRING),
    ("nanofluidic_cm", "flow", NANOFLUIDIC),
    ("sls", "elastic2d", SLS),
    ("maxwell", "elastic2d", MAXWELL),
    ("mechanochemical", "flow, elastic2d", MECHANOCHEMICAL),
];

/// Whether a kind learns and therefore has `update`/bounds.
pub fn kind_learns(kind: &str) -> bool {
    !matches!(kind, "resistor" | "spring")
}

/// The field holding a kind's initial weight `w0` (conductance, stiffness or Maxwell spring):
/// what the per-edge `w`/`k`/`k_m` array of an element group sets.
pub fn weight_field(kind: &str) -> &'static str {
    match kind {
        "spring" | "sls" => "k",
        "maxwell" => "k_m",
        _ => "w",
    }
}

/// Whether a kind has an initial rest-length offset `rest_length` in elastic2d physics.
pub fn has_rest_length(kind: &str) -> bool {
    matches!(kind, "spring" | "sls" | "mechanochemical")
}

/// Default learning rate per kind.
pub fn default_rho(kind: &str) -> f64 {
    match kind {
        "nanofluidic_cm" => 10.0,
        "sls" => 25.0,
        _ => 1.0,
    }
}

pub fn limit_text(l: Limit) -> String {
    match l {
        Limit::None => String::new(),
        Limit::Gt(x) => format!("> {x}"),
        Limit::Ge(x) => format!("≥ {x}"),
    }
}

pub fn default_text(d: Default_) -> String {
    match d {
        Default_::Required => "required".into(),
        Default_::Num(x) => format!("{x}"),
        Default_::Str(s) => format!("\"{s}\""),
        Default_::Bool(b) => format!("{b}"),
        Default_::Derived => "see description".into(),
    }
}

fn type_text(t: FieldType) -> String {
    match t {
        FieldType::Number => "number".into(),
        FieldType::NumberOrAuto => "number or \"auto\"".into(),
        FieldType::Bool => "bool".into(),
        FieldType::Sign => "+1 or −1".into(),
        FieldType::Enum(opts) => opts
            .iter()
            .map(|o| format!("\"{o}\""))
            .collect::<Vec<_>>()
            .join(" \\| "),
    }
}

/// Markdown tables of every element kind (embedded in docs/netlist.md; a test keeps them equal).
pub fn markdown_tables() -> String {
    let mut s = String::new();
    let row = |s: &mut String, p: &ParamSpec, prefix: &str| {
        s.push_str(&format!(
            "| `{}{}` | {} | {} | {} | {} | {} |\n",
            prefix,
            p.name,
            type_text(p.ty),
            p.unit,
            default_text(p.default),
            limit_text(p.min),
            p.description
        ));
    };
    for (kind, domain, table) in KINDS {
        s.push_str(&format!("### `{kind}` ({domain})\n\n"));
        s.push_str(
            "| field | type | unit | default | limits | description |\n|---|---|---|---|---|---|\n",
        );
        for p in table.iter() {
            row(&mut s, p, "");
        }
        if kind_learns(kind) {
            for p in BOUNDS.iter() {
                row(&mut s, p, "");
            }
            for p in UPDATE.iter() {
                row(&mut s, p, "update.");
            }
            if *kind == "sls" {
                for p in UPDATE.iter() {
                    row(&mut s, p, "update_rest_length.");
                }
            }
        }
        s.push('\n');
    }
    s
}
