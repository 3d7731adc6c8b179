//! SPICE export: an ngspice deck of the same circuit as a prepared `flow` netlist, so that a
//! general-purpose circuit simulator can integrate the identical problem (issue 6, item 5).
//!
//! The translation keeps the network's equations (docs/physics.md §1–§2) and writes each state as a
//! node voltage:
//!
//! ```text
//! node potential p_i            node n<i>; sources are voltage sources to ground (DC, PWL, SIN)
//! learnable weight w_e          node w<e>: a 1 F capacitor to ground charged by a B-source
//!                               current I = dw/dt = π ρ N_θ(σ_e) F(w_e), so V(w<e>) = w_e
//! memristor / learnable path    B-source I = max(V(w<e>), w_min) · v_e   (the clamp of the assembly)
//! arm (loading)                 n<i> −[c]− m<e> −[C ∥ g_L]− n<j>,  z_e = V(m<e>, n<j>), u_e = V(n<i>, m<e>)
//! arm (probe, loading = false)  node z<e>: capacitor C to ground, I = c (y_e − z_e) − g_L z_e
//! chemistry                     nodes x<e>, r<e>: 1 F capacitors, I = ẋ and ṙ of docs/physics.md §4
//! nudge β(t)                    node beta: a PWL voltage source through the sawtooth corners of
//!                               every cycle (linear_eta: a PWL η and V(beta) = g η/(1 − η));
//!                               output k: B-source I = V(beta) · (o_k − T_k) to the reservoir t<k>
//! ```
//!
//! The nonlinearities and the bound window are written as `.func` definitions with the exact
//! conditions of the Rust code (`dead_zone` = `max(σ−θ,0) + min(σ+θ,0)`; the hard window is
//! `((w ≤ w_min ∧ r < 0) ∨ (w ≥ w_max ∧ r > 0)) ? 0 : r`): the clamp at `w_min` is modelled, not
//! smoothed away. Initial states are the ones physlearn starts from (free DC state, or zero with
//! `"initial": "rest"`), given as capacitor `IC=` values with `.tran … uic`.
//!
//! Anything without an exact counterpart (elastic networks, SLS/Maxwell/spring elements,
//! rest-length learning, error-annealed β, the non-physical filter reset) is rejected with one
//! fault per item, each naming its JSON path.

use crate::netlist::Fault;
use crate::physics::equilibrium::{ArmMode, Equilibrium};
use crate::physics::model::{
    ArmSignal, BoundMode, ChemSignal, Domain, Element, ElementKind, LearnTarget, Network,
    Nonlinearity, SignalSource, States, Waveform,
};
use crate::physics::run::Runner;
use crate::physics::PhysicsError;
use crate::protocol::{
    BetaRamp, BetaSchedule, Protocol, RampShape, Segment, SegmentKind, SwitchMode,
};
use crate::sim::Prepared;
use std::fmt::Write as _;

/// Errors of the SPICE export.
#[derive(Debug, thiserror::Error)]
pub enum SpiceError {
    #[error("{} fault(s): the network cannot be exported to SPICE:\n{}", .0.len(), .0.iter().map(|f| format!("  {f}")).collect::<Vec<_>>().join("\n"))]
    Unsupported(Vec<Fault>),
    #[error("initial state of the export: {0}")]
    Physics(#[from] PhysicsError),
    #[error("invalid export option {option}: {message}")]
    Options {
        option: &'static str,
        message: String,
    },
    #[error("ngspice output: {0}")]
    Output(String),
}

/// Simulator settings written into the deck.
#[derive(Clone, Debug, PartialEq)]
pub struct SpiceOptions {
    /// Number of sawtooth cycles (default: the protocol's).
    pub cycles: Option<usize>,
    /// Largest time step of `.tran` (default: the smallest time scale of the problem / 100).
    pub max_step: Option<f64>,
    /// `.options reltol` (relative tolerance of Newton and the truncation-error control).
    pub reltol: f64,
    /// `.options abstol` (A): absolute tolerance of currents. Much below 1e-9 ngspice can fail
    /// to converge at the first step of large-drive networks ("timestep too small").
    pub abstol: f64,
    /// `.options chgtol` (C): absolute tolerance of capacitor charges (weights on 1 F).
    pub chgtol: f64,
    /// `.options vntol` (V): absolute tolerance of node voltages (weights, potentials).
    pub vntol: f64,
    /// Rise time given to jumps of step and PWL source waveforms, relative to the end time.
    pub jump_rise: f64,
}

impl Default for SpiceOptions {
    fn default() -> Self {
        SpiceOptions {
            cycles: None,
            max_step: None,
            reltol: 1e-6,
            abstol: 1e-9,
            chgtol: 1e-14,
            vntol: 1e-9,
            jump_rise: 1e-9,
        }
    }
}

/// A written deck and what is needed to read ngspice's answer back.
#[derive(Clone, Debug)]
pub struct Deck {
    /// The deck text (ends with `.end`).
    pub text: String,
    /// End time of the transient.
    pub t_stop: f64,
    /// `.tran` maximum step.
    pub max_step: f64,
    /// Per element: the node whose voltage is its weight (`None`: the weight does not learn).
    pub weight_nodes: Vec<Option<String>>,
    /// Initial weights (returned for elements that do not learn).
    pub w0: Vec<f64>,
}

/// Marker lines printed by the deck's `.control` block around the final weights.
pub const BEGIN_MARK: &str = "physlearn-final-weights-begin";
pub const END_MARK: &str = "physlearn-final-weights-end";

impl Deck {
    /// Final weights (element order) from the standard output of `ngspice -b deck.cir`.
    pub fn final_weights(&self, stdout: &str) -> Result<Vec<f64>, SpiceError> {
        let start = stdout.find(BEGIN_MARK).ok_or_else(|| {
            SpiceError::Output(format!(
                "no line \"{BEGIN_MARK}\": did the transient run finish?"
            ))
        })?;
        let block = &stdout[start..];
        let block = &block[..block.find(END_MARK).unwrap_or(block.len())];
        let mut by_node = std::collections::HashMap::new();
        for line in block.lines() {
            // `v(w3)[pl_last] = 1.234567890123456e+00`
            let Some((lhs, rhs)) = line.split_once('=') else {
                continue;
            };
            let lhs = lhs.trim().to_ascii_lowercase();
            let node = if lhs.starts_with("time[") {
                "time".to_string()
            } else {
                match lhs.strip_prefix("v(").and_then(|s| s.split_once(')')) {
                    Some((n, _)) => n.to_string(),
                    None => continue,
                }
            };
            let v: f64 = rhs.trim().parse().map_err(|_| {
                SpiceError::Output(format!("cannot read a number in \"{}\"", line.trim()))
            })?;
            by_node.insert(node, v);
        }
        // An aborted transient ("timestep too small") still reaches the print statements:
        // the last time point tells.
        let t_end = by_node.get("time").copied().ok_or_else(|| {
            SpiceError::Output("no final time: did the transient run?".to_string())
        })?;
        if (t_end - self.t_stop).abs() > 1e-9 * self.t_stop.abs().max(1.0) {
            return Err(SpiceError::Output(format!(
                "the transient stopped at t = {t_end}, before t_stop = {} (ngspice aborted: see its messages)",
                self.t_stop
            )));
        }
        self.weight_nodes
            .iter()
            .zip(&self.w0)
            .enumerate()
            .map(|(e, (node, w0))| match node {
                None => Ok(*w0),
                Some(n) => by_node.get(n).copied().ok_or_else(|| {
                    SpiceError::Output(format!("no final value of v({n}) (element {e})"))
                }),
            })
            .collect()
    }
}

/// A number as SPICE reads it (shortest round-trip form, e.g. `1e-3`, `2.5e0`).
fn num(x: f64) -> String {
    format!("{x:e}")
}

/// SPICE node of network node `i`.
fn node(i: usize) -> String {
    format!("n{i}")
}

/// The states physlearn starts the protocol from (same code path as `sim::run`).
pub fn start_states(prep: &Prepared) -> Result<States, PhysicsError> {
    let net = &prep.network;
    let runner = Runner::new(net, prep.solver, net.initial_params())?;
    let from_rest = match &prep.protocol {
        Protocol::Sawtooth(s) => s.from_rest,
        Protocol::Hold { from_rest, .. } => *from_rest,
    };
    Ok(if from_rest {
        States::zeros(net.n_elements())
    } else {
        runner.states
    })
}

/// Node potentials at t = 0 for the starting states (so that `.ic` is consistent and ngspice
/// does not start from a jump of every node).
fn initial_potentials(
    prep: &Prepared,
    st: &States,
    seg0: &Segment,
) -> Result<Vec<f64>, PhysicsError> {
    let net = &prep.network;
    let p = net.initial_params();
    let ex = &net.examples[seg0.from];
    let xd: Vec<f64> = (0..net.dirichlet_dofs.len())
        .map(|k| net.source_value(k, seg0.t0, ex.xd[k]))
        .collect();
    let mut eq = Equilibrium::new(net)?;
    Ok(eq
        .solve(
            net,
            &p.w,
            &p.l,
            ArmMode::Dynamic(&st.z),
            seg0.beta(seg0.t0),
            &xd,
            &ex.targets,
        )?
        .to_vec())
}

/// The protocol's segments over the whole run, exactly as the runner integrates them.
fn protocol_segments(
    prep: &Prepared,
    cycles: Option<usize>,
    faults: &mut Vec<Fault>,
) -> Vec<Segment> {
    let n_ex = prep.network.examples.len();
    match &prep.protocol {
        Protocol::Hold { beta, duration, .. } => vec![Segment {
            t0: 0.0,
            t1: *duration,
            kind: SegmentKind::Hold,
            beta: BetaRamp::Const(*beta),
            from: 0,
            to: 0,
        }],
        Protocol::Sawtooth(saw) => {
            if let BetaSchedule::ErrorAnnealed { .. } = saw.beta_schedule {
                faults.push(Fault {
                    path: "protocol.beta_schedule".into(),
                    message: "kind \"error_annealed\" sets β from the cost measured between cycles and cannot be exported to SPICE (use \"constant\")".into(),
                });
            }
            if n_ex > 1 && saw.switch_mode == SwitchMode::ResetIdealized {
                faults.push(Fault {
                    path: "protocol.switch.mode".into(),
                    message: "\"reset_idealized\" resets every filter state at each switch (non-physical) and cannot be exported to SPICE (use \"slow_ramp\")".into(),
                });
            }
            let mut t = 0.0;
            let mut segs = Vec::new();
            for n in 0..cycles.unwrap_or(saw.cycles) {
                let cyc = saw.cycle_segments(n, t, saw.beta_max, n_ex);
                if let Some(last) = cyc.last() {
                    t = last.t1;
                }
                segs.extend(cyc);
            }
            segs
        }
    }
}

/// Value of a quantity at a segment's start and end, as (time, value) corners.
fn corners(segs: &[Segment], f: impl Fn(&Segment, f64) -> f64) -> Vec<(f64, f64)> {
    let mut pts: Vec<(f64, f64)> = Vec::with_capacity(2 * segs.len());
    for s in segs {
        for t in [s.t0, s.t1] {
            let v = f(s, t);
            match pts.last() {
                Some(&(tl, _)) if t <= tl => {}
                _ => pts.push((t, v)),
            }
        }
    }
    pts
}

/// A voltage-source waveform: `DC v` when constant, else `PWL(...)` with continuation lines.
fn pwl_or_dc(pts: &[(f64, f64)]) -> String {
    let first = pts.first().map_or(0.0, |p| p.1);
    if pts.iter().all(|p| p.1 == first) {
        return format!("DC {}", num(first));
    }
    // Drop interior points on a straight line through their neighbours (constant stretches).
    let mut keep: Vec<(f64, f64)> = Vec::with_capacity(pts.len());
    for (k, &p) in pts.iter().enumerate() {
        let interior = k > 0 && k + 1 < pts.len();
        if interior && pts[k - 1].1 == p.1 && pts[k + 1].1 == p.1 {
            continue;
        }
        keep.push(p);
    }
    let mut s = String::from("PWL(");
    for (k, (t, v)) in keep.iter().enumerate() {
        if k > 0 && k % 4 == 0 {
            s.push_str("\n+ ");
        } else if k > 0 {
            s.push(' ');
        }
        let _ = write!(s, "{} {}", num(*t), num(*v));
    }
    s.push(')');
    s
}

/// Strictly increasing PWL times: a jump (equal times) gets the rise time `rise`.
fn monotone(points: &[(f64, f64)], rise: f64) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(points.len());
    for &(t, v) in points {
        let t = match out.last() {
            Some(&(tl, _)) if t <= tl => tl + rise,
            _ => t,
        };
        out.push((t, v));
    }
    out
}

fn waveform_source(wf: &Waveform, rise: f64) -> String {
    match wf {
        Waveform::Constant { value } => format!("DC {}", num(*value)),
        Waveform::Step { t0, before, after } => {
            if *t0 <= 0.0 {
                format!("DC {}", num(*after))
            } else {
                pwl_or_dc(&[(0.0, *before), (*t0, *before), (*t0 + rise, *after)])
            }
        }
        Waveform::Pwl { points } => pwl_or_dc(&monotone(points, rise)),
        Waveform::Sine {
            offset,
            amplitude,
            period,
            phase,
        } => format!(
            "SIN({} {} {} 0 0 {})",
            num(*offset),
            num(*amplitude),
            num(1.0 / period),
            num(phase.to_degrees())
        ),
    }
}

/// Shared `.func` definitions (the exact nonlinearities and windows of `physics::model`).
const FUNCS: &str = "\
* N_θ(σ) and the bound window F, with the conditions of physics::model
.func pl_hard(s, th) {abs(s) > th ? s : 0}
.func pl_dz(s, th) {max(s - th, 0) + min(s + th, 0)}
.func pl_hill(s, th, n) {s * pwr(abs(s) / th, n) / (1 + pwr(abs(s) / th, n))}
.func pl_whard(w, r, lo, hi) {((w <= lo && r < 0) || (w >= hi && r > 0)) ? 0 : r}
.func pl_wsoft(w, r, lo, hi) {r < 0 ? (w <= lo ? 0 : r * (1 - exp(-(w - lo) / lo))) : (w >= hi ? 0 : r * (1 - exp(-(hi - w) / (0.01 * hi))))}
";

/// Everything an element contributes, or its faults.
struct ElementOut {
    lines: String,
    weight_node: Option<String>,
    /// Smallest time scale of the element (arm τ_k, chemistry τ_x).
    tau_min: f64,
    /// Initial voltages of the element's internal nodes (`.ic`).
    ics: Vec<(String, f64)>,
}

fn element_lines(
    net: &Network,
    e: usize,
    el: &Element,
    st: &States,
    x0: &[f64],
    faults: &mut Vec<Fault>,
) -> Option<ElementOut> {
    let path = format!("elements[{e}]");
    let n0 = faults.len();
    match el.kind {
        ElementKind::Resistor | ElementKind::NanofluidicCm(_) | ElementKind::Mechanochemical => {}
        other => {
            faults.push(Fault {
                path,
                message: format!("kind \"{}\" cannot be exported to SPICE", other.label()),
            });
            return None;
        }
    }
    if el.l0 != 0.0 {
        faults.push(Fault {
            path: format!("{path}.rest_length"),
            message: format!("a rest offset ({}) cannot be exported to SPICE", num(el.l0)),
        });
    }
    let weight_channels: Vec<_> = el
        .channels
        .iter()
        .filter(|c| c.target == LearnTarget::Weight)
        .collect();
    if el
        .channels
        .iter()
        .any(|c| c.target == LearnTarget::RestLength)
    {
        faults.push(Fault {
            path: format!("{path}.update_rest_length"),
            message: "rest-length learning cannot be exported to SPICE".into(),
        });
    }
    if weight_channels.len() > 1 {
        faults.push(Fault {
            path: format!("{path}.update"),
            message: format!(
                "{} learning channels on one weight cannot be exported to SPICE",
                weight_channels.len()
            ),
        });
    }
    if el.arm.is_some() && el.chem.is_some() {
        faults.push(Fault {
            path: path.clone(),
            message: "an element with both an arm and a chemistry cannot be exported to SPICE"
                .into(),
        });
    }
    if faults.len() > n0 {
        return None;
    }
    let (i, j) = (node(el.nodes.0 .0), node(el.nodes.1 .0));
    let y = format!("V({i},{j})");
    let wlo = el.bounds.w_min.max(0.0);
    let learns = !weight_channels.is_empty();
    let w_node = format!("w{e}");
    let weff = if learns {
        format!("max(V({w_node}),{})", num(wlo))
    } else {
        num(el.w_eff(el.w0))
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "* elements[{e}] \"{}\" ({}) from {} to {}",
        el.name,
        el.kind.label(),
        net.node_names[el.nodes.0 .0],
        net.node_names[el.nodes.1 .0]
    );
    // Direct learnable path a = w.
    if el.w_is_direct {
        if learns {
            let _ = writeln!(s, "Bw{e} {i} {j} I = {weff}*{y}");
        } else if el.w_eff(el.w0) > 0.0 {
            let _ = writeln!(s, "Rw{e} {i} {j} {}", num(1.0 / el.w_eff(el.w0)));
        }
    }
    let mut tau_min = f64::INFINITY;
    let mut ics = Vec::new();
    // Arm: conductance c in series with C ∥ g_L.
    let (mut z_expr, mut u_expr) = (String::from("0"), y.clone());
    if let Some(arm) = &el.arm {
        let (c_const, c_expr) = match arm.g {
            Some(g) => (Some(g), num(g)),
            None if learns => (None, weff.clone()),
            None => {
                let g = el.w_eff(el.w0);
                (Some(g), num(g))
            }
        };
        tau_min = tau_min.min(el.tau_k(el.w0).unwrap_or(f64::INFINITY));
        if arm.loading {
            let m = format!("m{e}");
            match c_const {
                Some(g) if g > 0.0 => {
                    let _ = writeln!(s, "Ra{e} {i} {m} {}", num(1.0 / g));
                }
                Some(_) => {}
                None => {
                    let _ = writeln!(s, "Ba{e} {i} {m} I = {c_expr}*V({i},{m})");
                }
            }
            let _ = writeln!(s, "Ca{e} {m} {j} {} IC={}", num(arm.cap), num(st.z[e]));
            if arm.g_leak > 0.0 {
                let _ = writeln!(s, "Rl{e} {m} {j} {}", num(1.0 / arm.g_leak));
            }
            ics.push((
                m.clone(),
                x0.get(el.nodes.1 .0).copied().unwrap_or(0.0) + st.z[e],
            ));
            z_expr = format!("V({m},{j})");
            u_expr = format!("V({i},{m})");
        } else {
            // Ideal probe: the arm senses y without loading the network.
            let z = format!("z{e}");
            let _ = writeln!(s, "Ca{e} {z} 0 {} IC={}", num(arm.cap), num(st.z[e]));
            let _ = writeln!(
                s,
                "Bz{e} 0 {z} I = {c_expr}*({y}-V({z}))-{}*V({z})",
                num(arm.g_leak)
            );
            ics.push((z.clone(), st.z[e]));
            z_expr = format!("V({z})");
            u_expr = format!("({y}-V({z}))");
        }
    }
    // Integral-feedback chemistry on 1 F capacitors.
    if let Some(ch) = &el.chem {
        let (x, r) = (format!("x{e}"), format!("r{e}"));
        let sig = match ch.signal {
            ChemSignal::Drop2 => format!("{y}*{y}"),
            ChemSignal::Power => format!("{weff}*{y}*{y}"),
            ChemSignal::Abs => format!("abs({y})"),
            ChemSignal::StrainEnergy => format!("0.5*{weff}*{y}*{y}"),
        };
        let _ = writeln!(s, "Cx{e} {x} 0 1 IC={}", num(st.x[e]));
        let _ = writeln!(s, "Cr{e} {r} 0 1 IC={}", num(st.r[e]));
        let _ = writeln!(
            s,
            "Bx{e} 0 {x} I = ({sig}/{}-V({x})-V({r}))/{}",
            num(ch.s_ref),
            num(ch.tau_x)
        );
        let _ = writeln!(
            s,
            "Br{e} 0 {r} I = (V({x})-{}*V({r}))/{}",
            num(ch.eps),
            num(ch.tau_r)
        );
        tau_min = tau_min.min(ch.tau_x).min(ch.tau_r);
        ics.push((x, st.x[e]));
        ics.push((r, st.r[e]));
    }
    // Learning: the weight on a 1 F capacitor, charged by dw/dt.
    let mut weight_node = None;
    if let Some(ch) = weight_channels.first() {
        let sigma = match ch.source {
            SignalSource::Arm(kind) => {
                if el.arm.is_none() {
                    faults.push(Fault {
                        path: format!("{path}.signal"),
                        message: "an arm signal without an arm cannot be exported to SPICE".into(),
                    });
                    return None;
                }
                match kind {
                    ArmSignal::Energy => format!("2*{z_expr}*{u_expr}"),
                    ArmSignal::Abs => format!("({z_expr} >= 0 ? 1 : -1)*{u_expr}"),
                    ArmSignal::Polar => u_expr.clone(),
                    ArmSignal::Tension => format!("{weff}*{u_expr}"),
                }
            }
            SignalSource::Chem(_) => format!("V(x{e})"),
        };
        let th = num(ch.theta);
        let nl = match ch.nonlinearity {
            Nonlinearity::Hard => format!("pl_hard({sigma},{th})"),
            Nonlinearity::DeadZone => format!("pl_dz({sigma},{th})"),
            Nonlinearity::Hill { n } if ch.theta > 0.0 => {
                format!("pl_hill({sigma},{th},{})", num(n))
            }
            Nonlinearity::Hill { .. } | Nonlinearity::Linear => sigma,
        };
        let rate = format!("{}*{nl}", num(ch.polarity * ch.rho));
        let window = match el.bounds.mode {
            BoundMode::Hard => "pl_whard",
            BoundMode::Soft => "pl_wsoft",
        };
        let _ = writeln!(s, "Cw{e} {w_node} 0 1 IC={}", num(el.w0));
        let _ = writeln!(
            s,
            "Bdw{e} 0 {w_node} I = {window}(V({w_node}),{rate},{},{})",
            num(el.bounds.w_min),
            num(el.bounds.w_max)
        );
        ics.push((w_node.clone(), el.w0));
        weight_node = Some(w_node);
    }
    Some(ElementOut {
        lines: s,
        weight_node,
        tau_min,
        ics,
    })
}

/// Write the ngspice deck of a prepared netlist. Reports every unsupported item at once.
pub fn deck(prep: &Prepared, opts: &SpiceOptions) -> Result<Deck, SpiceError> {
    for (option, v) in [
        ("reltol", opts.reltol),
        ("abstol", opts.abstol),
        ("chgtol", opts.chgtol),
        ("vntol", opts.vntol),
        ("jump_rise", opts.jump_rise),
    ] {
        if !(v.is_finite() && v > 0.0) {
            return Err(SpiceError::Options {
                option,
                message: format!("must be > 0, got {v}"),
            });
        }
    }
    if let Some(h) = opts.max_step {
        if !(h.is_finite() && h > 0.0) {
            return Err(SpiceError::Options {
                option: "max_step",
                message: format!("must be > 0, got {h}"),
            });
        }
    }
    let net = &prep.network;
    let mut faults = Vec::new();
    if net.domain != Domain::Flow {
        faults.push(Fault {
            path: "physics".into(),
            message: "\"elastic2d\" cannot be exported to SPICE (flow networks only)".into(),
        });
    }
    let segs = protocol_segments(prep, opts.cycles, &mut faults);
    let t_stop = segs.last().map_or(0.0, |s| s.t1);
    if t_stop <= 0.0 {
        faults.push(Fault {
            path: "protocol".into(),
            message: "the protocol has no duration (0 cycles?): nothing to simulate".into(),
        });
    }
    for (k, o) in net.outputs.iter().enumerate() {
        if !(o.stencil.len == 1 && o.stencil.coef[0] == 1.0) {
            faults.push(Fault {
                path: format!("boundary.outputs[{k}]"),
                message: format!(
                    "output \"{}\" is not a single node potential and cannot be exported to SPICE",
                    o.name
                ),
            });
        }
    }
    // Validate every element before solving anything, so that all faults come at once.
    let zeros = States::zeros(net.n_elements());
    for (e, el) in net.elements.iter().enumerate() {
        element_lines(net, e, el, &zeros, &[], &mut faults);
    }
    if !faults.is_empty() {
        return Err(SpiceError::Unsupported(faults));
    }
    let st = start_states(prep)?;
    let x0 = match segs.first() {
        Some(seg0) => initial_potentials(prep, &st, seg0)?,
        None => vec![0.0; net.n_dof()],
    };
    // `.ic` of every node, so that the start is consistent (with `uic`, ngspice takes them as
    // the solution at t = 0).
    let mut ics: Vec<(String, f64)> = (0..net.node_names.len())
        .map(|i| (node(i), x0[i]))
        .collect();
    let rise = opts.jump_rise * t_stop.max(1.0);

    let mut s = String::new();
    let _ = writeln!(
        s,
        "physlearn {} export: {} nodes, {} elements, t = 0 .. {}",
        env!("CARGO_PKG_VERSION"),
        net.node_names.len(),
        net.n_elements(),
        num(t_stop)
    );
    s.push_str(
        "* Written by `physlearn export spice` (docs/spice.md). Node n<i> is network node i;\n\
         * V(w<e>) is the weight of element e (1 F capacitor charged by dw/dt); m<e> is the arm\n\
         * node of element e (z_e = V(m<e>, n<j>)); V(beta) is the nudge conductance β(t).\n",
    );
    for (i, name) in net.node_names.iter().enumerate() {
        let _ = writeln!(s, "* {} = node \"{name}\"", node(i));
    }
    s.push_str(FUNCS);

    // Sources: example values along the protocol (switch ramps included), or the waveform.
    s.push_str("* Sources (Dirichlet nodes)\n");
    for (k, &dof) in net.dirichlet_dofs.iter().enumerate() {
        let src = match &net.waveforms[k] {
            Some(wf) => waveform_source(wf, rise),
            None => pwl_or_dc(&corners(&segs, |seg, t| {
                let ex = if t == seg.t0 { seg.from } else { seg.to };
                net.examples.get(ex).map_or(0.0, |x| x.xd[k])
            })),
        };
        let _ = writeln!(s, "Vs{k} {} 0 {src}", node(dof));
    }

    // Nudge: β(t) through every sawtooth corner, one conductance per output.
    s.push_str("* Nudge conductance beta(t) and the target reservoirs\n");
    let linear_eta = match &prep.protocol {
        Protocol::Sawtooth(saw) if saw.ramp_shape == RampShape::LinearEta => Some(saw.g_ref),
        _ => None,
    };
    match linear_eta {
        None => {
            ics.push(("beta".into(), segs.first().map_or(0.0, |g| g.beta(g.t0))));
            let _ = writeln!(
                s,
                "Vbeta beta 0 {}",
                pwl_or_dc(&corners(&segs, |seg, t| seg.beta(t)))
            );
        }
        Some(g) => {
            let eta = corners(&segs, |seg, t| {
                let b = seg.beta(t);
                b / (b + g)
            });
            let b0 = segs.first().map_or(0.0, |g| g.beta(g.t0));
            ics.push(("eta".into(), b0 / (b0 + g)));
            ics.push(("beta".into(), b0));
            let _ = writeln!(s, "Veta eta 0 {}", pwl_or_dc(&eta));
            let _ = writeln!(s, "Bbeta beta 0 V = {g}*V(eta)/(1-V(eta))", g = num(g));
        }
    }
    for (k, o) in net.outputs.iter().enumerate() {
        let tk = format!("t{k}");
        let target_pts = corners(&segs, |seg, t| {
            let ex = if t == seg.t0 { seg.from } else { seg.to };
            net.examples.get(ex).map_or(0.0, |x| x.targets[k])
        });
        let target = pwl_or_dc(&target_pts);
        let n = node(o.stencil.dof[0]);
        let _ = writeln!(s, "* output {k} \"{}\" at {n}", o.name);
        ics.push((tk.clone(), target_pts.first().map_or(0.0, |p| p.1)));
        let _ = writeln!(s, "Vt{k} {tk} 0 {target}");
        let _ = writeln!(s, "Bn{k} {n} {tk} I = V(beta)*V({n},{tk})");
    }

    // Elements.
    s.push_str("* Elements\n");
    let mut weight_nodes = Vec::with_capacity(net.n_elements());
    let mut tau_min = f64::INFINITY;
    for (e, el) in net.elements.iter().enumerate() {
        match element_lines(net, e, el, &st, &x0, &mut faults) {
            Some(out) => {
                s.push_str(&out.lines);
                ics.extend(out.ics);
                weight_nodes.push(out.weight_node);
                tau_min = tau_min.min(out.tau_min);
            }
            None => weight_nodes.push(None),
        }
    }
    if !faults.is_empty() {
        return Err(SpiceError::Unsupported(faults));
    }
    for seg in &segs {
        if seg.t1 > seg.t0 {
            tau_min = tau_min.min(seg.t1 - seg.t0);
        }
    }
    if !tau_min.is_finite() {
        tau_min = t_stop;
    }
    let max_step = opts.max_step.unwrap_or(tau_min / 100.0).min(t_stop);

    // Consistent initial node voltages.
    s.push_str(".ic");
    for (k, (n, v)) in ics.iter().enumerate() {
        if k > 0 && k % 4 == 0 {
            s.push_str("\n+");
        }
        let _ = write!(s, " V({n})={}", num(*v));
    }
    s.push('\n');
    // Analysis.
    s.push_str("* Analysis: tight tolerances, small maximum step, initial conditions from IC=\n");
    let _ = writeln!(
        s,
        ".options reltol={} abstol={} vntol={} chgtol={}",
        num(opts.reltol),
        num(opts.abstol),
        num(opts.vntol),
        num(opts.chgtol)
    );
    let _ = writeln!(
        s,
        ".tran {} {} 0 {} uic",
        num(max_step),
        num(t_stop),
        num(max_step)
    );
    s.push_str(".control\nset noaskquit\nset numdgt=16\nrun\nlet pl_last = length(time) - 1\n");
    let _ = writeln!(s, "echo {BEGIN_MARK}");
    s.push_str("print time[pl_last]\n");
    for n in weight_nodes.iter().flatten() {
        let _ = writeln!(s, "print v({n})[pl_last]");
    }
    let _ = writeln!(s, "echo {END_MARK}");
    s.push_str("quit\n.endc\n.end\n");
    Ok(Deck {
        text: s,
        t_stop,
        max_step,
        weight_nodes,
        w0: net.elements.iter().map(|el| el.w0).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Direction;
    use serde_json::{json, Value};

    fn prepared(v: &Value) -> Prepared {
        let nl = crate::netlist::from_value(v).unwrap();
        crate::sim::prepare(&nl).unwrap()
    }

    fn lattice(n: usize, v_left: f64) -> Value {
        crate::generate::lattice(n, v_left, None).unwrap()
    }

    /// The (t, value) pairs of the PWL source named `name` (e.g. `Vbeta`).
    fn pwl_points(text: &str, name: &str) -> Vec<(f64, f64)> {
        let start = text
            .lines()
            .position(|l| l.starts_with(&format!("{name} ")))
            .unwrap();
        let mut body = String::new();
        for (k, l) in text.lines().skip(start).enumerate() {
            if k > 0 && !l.starts_with('+') {
                break;
            }
            body.push_str(l.trim_start_matches('+'));
            body.push(' ');
        }
        let inner = &body[body.find("PWL(").unwrap() + 4..body.rfind(')').unwrap()];
        let nums: Vec<f64> = inner
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect();
        nums.chunks(2).map(|c| (c[0], c[1])).collect()
    }

    #[test]
    fn lattice_nodes_and_elements_are_numbered_by_the_network() {
        let v = lattice(3, 1.0);
        let prep = prepared(&v);
        let d = deck(&prep, &SpiceOptions::default()).unwrap();
        let t = &d.text;
        // Title line first (SPICE ignores it), `.end` last.
        assert!(t.starts_with("physlearn "));
        assert!(t.trim_end().ends_with(".end"));
        // Edge order of the workload: (0,1) (0,3) (1,2) (1,4) (2,5) (3,4) ...
        let edges = [(0, 1), (0, 3), (1, 2), (1, 4), (2, 5), (3, 4)];
        for (e, (i, j)) in edges.iter().enumerate() {
            let w0 = prep.network.elements[e].w0;
            assert!(
                t.contains(&format!(
                    "Ba{e} n{i} m{e} I = max(V(w{e}),1e-3)*V(n{i},m{e})\n"
                )),
                "memristor of e{e}"
            );
            assert!(t.contains(&format!("Ca{e} m{e} n{j} 1e0 IC=0e0\n")));
            assert!(t.contains(&format!("Rl{e} m{e} n{j} 1e2\n")));
            assert!(t.contains(&format!("Cw{e} w{e} 0 1 IC={}\n", num(w0))));
            assert!(t.contains(&format!(
                "Bdw{e} 0 w{e} I = pl_whard(V(w{e}),1e-2*pl_dz(V(n{i},m{e}),5e-2),1e-3,1e12)\n"
            )));
        }
        assert_eq!(d.weight_nodes.len(), 12);
        assert_eq!(d.weight_nodes[7].as_deref(), Some("w7"));
        // Left column at V_left, right column grounded, output n4 nudged to 0.8.
        for (k, node) in [0, 3, 6].iter().enumerate() {
            assert!(t.contains(&format!("Vs{k} n{node} 0 DC 1e0\n")));
        }
        for (k, node) in [2, 5, 8].iter().enumerate() {
            assert!(t.contains(&format!("Vs{} n{node} 0 DC 0e0\n", k + 3)));
        }
        assert!(t.contains("Vt0 t0 0 DC 8e-1\n"));
        assert!(t.contains("Bn0 n4 t0 I = V(beta)*V(n4,t0)\n"));
        // From rest: arm nodes start at the potential of their second node.
        assert!(t.contains(".tran "));
        assert!(t.contains(" uic\n"));
        assert!(t.contains("print v(w11)[pl_last]\n"));
    }

    #[test]
    fn beta_pwl_goes_through_every_sawtooth_corner() {
        for (dir, cycles) in [("fast_rise", None), ("fast_fall", Some(3))] {
            let mut v = lattice(3, 1.0);
            v["protocol"]["direction"] = json!(dir);
            v["protocol"]["beta_max"] = json!(0.7);
            let prep = prepared(&v);
            let saw = prep.sawtooth().unwrap().clone();
            let opts = SpiceOptions {
                cycles,
                ..SpiceOptions::default()
            };
            let d = deck(&prep, &opts).unwrap();
            let pts = pwl_points(&d.text, "Vbeta");
            let n = cycles.unwrap_or(saw.cycles);
            // Expected: the runner's own segments.
            let mut t = 0.0;
            let mut want = vec![(0.0, 0.0)];
            for c in 0..n {
                for seg in saw.cycle_segments(c, t, saw.beta_max, 1) {
                    want.push((seg.t1, seg.beta(seg.t1)));
                    t = seg.t1;
                }
            }
            // Two legs per cycle, and the settle after a fast_fall cycle.
            let per_cycle = if saw.settle > 0.0 { 3 } else { 2 };
            assert_eq!(pts.len(), per_cycle * n + 1, "{dir}");
            assert_eq!(pts.len(), want.len(), "{dir}");
            for ((t0, b0), (t1, b1)) in pts.iter().zip(&want) {
                assert!((t0 - t1).abs() < 1e-12 && (b0 - b1).abs() < 1e-15, "{dir}");
            }
            // Corner values: 0 → β over the first segment, back to 0.
            let (first, peak) = match saw.direction {
                Direction::FastRise => (1.0, 0.7),
                Direction::FastFall => (9.0, 0.7),
            };
            assert_eq!(pts[1], (first, peak), "{dir}");
            assert_eq!(pts[2], (10.0, 0.0), "{dir}");
            assert!((d.t_stop - saw.period(1) * n as f64).abs() < 1e-9);
            assert!((saw.period(1) - 10.0 - saw.settle).abs() < 1e-12);
            assert!(d
                .text
                .contains(&format!(".tran {} {}", num(d.max_step), num(d.t_stop))));
        }
    }

    #[test]
    fn linear_eta_ramp_is_exact_through_a_behavioural_beta() {
        let mut v = lattice(3, 1.0);
        v["protocol"]["ramp_shape"] = json!("linear_eta");
        v["protocol"]["g_ref"] = json!(2.0);
        let d = deck(&prepared(&v), &SpiceOptions::default()).unwrap();
        assert!(d.text.contains("Bbeta beta 0 V = 2e0*V(eta)/(1-V(eta))\n"));
        let eta = pwl_points(&d.text, "Veta");
        assert_eq!(eta[1], (1.0, 1.0 / 3.0));
        assert!(!d.text.contains("Vbeta"));
    }

    #[test]
    fn unsupported_items_are_all_reported_with_their_paths() {
        let v = crate::generate::by_name("t3_elastic_allostery").unwrap();
        let err = deck(&prepared(&v), &SpiceOptions::default()).unwrap_err();
        let SpiceError::Unsupported(faults) = &err else {
            panic!("{err}")
        };
        let n_el = v["elements"].as_array().unwrap().len();
        assert!(faults.iter().any(|f| f.path == "physics"));
        for e in [0, 3, n_el - 1] {
            let want = format!("elements[{e}]: kind \"sls\" cannot be exported to SPICE");
            assert!(faults.iter().any(|f| f.to_string() == want), "{want}");
        }
        assert!(err.to_string().contains("cannot be exported to SPICE"));

        // A flow network whose protocol cannot be exported.
        let mut v = lattice(3, 1.0);
        v["protocol"]["beta_schedule"] = json!({"kind": "error_annealed", "cap": 4.0});
        let err = deck(&prepared(&v), &SpiceOptions::default()).unwrap_err();
        assert!(err.to_string().contains("protocol.beta_schedule"), "{err}");
    }

    #[test]
    fn other_flow_families_export() {
        for name in ["t1_flow_allostery", "mechanochemical_t1", "series_edge"] {
            let v = crate::generate::by_name(name).unwrap();
            let prep = prepared(&v);
            let d = deck(&prep, &SpiceOptions::default()).unwrap();
            let n_learn = prep
                .network
                .elements
                .iter()
                .filter(|e| e.learns_weight())
                .count();
            assert_eq!(d.weight_nodes.iter().flatten().count(), n_learn, "{name}");
        }
        // Shunted element: fixed sensing arm as a resistor, learnable channel as a B-source,
        // DC-initialised arm (IC ≠ 0 somewhere).
        let v = crate::generate::by_name("t1_flow_allostery").unwrap();
        let d = deck(&prepared(&v), &SpiceOptions::default()).unwrap();
        assert!(d.text.contains("Bw0 "));
        assert!(d.text.contains("Ra0 "));
        assert!(d
            .text
            .lines()
            .any(|l| l.starts_with("Ca") && !l.ends_with("IC=0e0")));
        // Chemistry: x and r on 1 F capacitors.
        let v = crate::generate::by_name("mechanochemical_t1").unwrap();
        let d = deck(&prepared(&v), &SpiceOptions::default()).unwrap();
        assert!(d.text.contains("Cx0 x0 0 1 IC="));
        assert!(d.text.contains("Cr0 r0 0 1 IC="));
    }

    #[test]
    fn options_are_validated() {
        let prep = prepared(&lattice(3, 1.0));
        for opts in [
            SpiceOptions {
                max_step: Some(0.0),
                ..SpiceOptions::default()
            },
            SpiceOptions {
                reltol: f64::NAN,
                ..SpiceOptions::default()
            },
        ] {
            assert!(matches!(
                deck(&prep, &opts),
                Err(SpiceError::Options { .. })
            ));
        }
    }

    #[test]
    fn final_weights_are_read_back_and_aborted_runs_rejected() {
        let prep = prepared(&lattice(3, 1.0));
        let d = deck(&prep, &SpiceOptions::default()).unwrap();
        let mut out = format!("junk\n{BEGIN_MARK}\ntime[pl_last] = 2.0000000000000000e+02\n");
        for e in 0..12 {
            out.push_str(&format!("v(w{e})[pl_last] = {}e-01\n", e + 1));
        }
        out.push_str(END_MARK);
        let w = d.final_weights(&out).unwrap();
        assert_eq!(w.len(), 12);
        assert!((w[4] - 0.5).abs() < 1e-15);
        let aborted = out.replace("2.0000000000000000e+02", "5.0e-05");
        let err = d.final_weights(&aborted).unwrap_err().to_string();
        assert!(err.contains("stopped at t = 0.00005"), "{err}");
        assert!(d.final_weights("no markers").is_err());
        let missing = out.replace("v(w3)[pl_last]", "v(q3)[pl_last]");
        assert!(d
            .final_weights(&missing)
            .unwrap_err()
            .to_string()
            .contains("v(w3)"));
    }
}
