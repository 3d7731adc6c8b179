//! Validated network model: nodes, oriented elements with their physics, outputs and the
//! Dirichlet boundary. Built by the netlist layer; consumed by the solvers. Nothing here reads
//! files.
//!
//! Notation (docs/physics.md §1): DOFs `x = (x_f, x_d)` (node potentials for `flow`, node
//! displacements for `elastic2d`), edge drops `y_e = q_e·x` (potential difference / bond
//! extension), outputs `o_k = q_k·x`. Every element carries a *direct* learnable path of
//! conductance/stiffness `a_e` with rest offset `l_e` and optionally a feedback *arm*
//! (conductance `c_e` in series with a capacitor/dashpot holding the state `z_e`), so the edge
//! current/tension is `t_e = a_e (y_e − l_e) + c_e (y_e − z_e)`.

use serde::Serialize;

/// Index of a node.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct NodeId(pub usize);
/// Index of an element (edge).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct EdgeId(pub usize);
/// Index of an output functional.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct OutputId(pub usize);

/// Physics domain.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Domain {
    /// Electrical/hydraulic potentials: one DOF per node, `y = p_i − p_j`.
    Flow,
    /// Linearised 2D springs: two DOFs per node, `y = n̂·(u_j − u_i)`.
    Elastic2d,
}

impl Domain {
    pub fn dofs_per_node(self) -> usize {
        match self {
            Domain::Flow => 1,
            Domain::Elastic2d => 2,
        }
    }
}

/// A linear functional of the DOFs with at most four terms (an edge drop or an output).
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Stencil {
    pub dof: [usize; 4],
    pub coef: [f64; 4],
    pub len: usize,
}

impl Stencil {
    /// `y = p_i − p_j` (flow) or `y = n̂·(u_j − u_i)` (elastic) between nodes i and j.
    pub fn edge(domain: Domain, i: usize, j: usize, pos: &[[f64; 2]]) -> Stencil {
        match domain {
            Domain::Flow => Stencil {
                dof: [i, j, 0, 0],
                coef: [1.0, -1.0, 0.0, 0.0],
                len: 2,
            },
            Domain::Elastic2d => {
                let dx = pos[j][0] - pos[i][0];
                let dy = pos[j][1] - pos[i][1];
                let len = (dx * dx + dy * dy).sqrt();
                let (nx, ny) = if len > 0.0 {
                    (dx / len, dy / len)
                } else {
                    (0.0, 0.0)
                };
                Stencil {
                    dof: [2 * i, 2 * i + 1, 2 * j, 2 * j + 1],
                    coef: [-nx, -ny, nx, ny],
                    len: 4,
                }
            }
        }
    }

    /// A single node potential (flow outputs).
    pub fn node(i: usize) -> Stencil {
        Stencil {
            dof: [i, 0, 0, 0],
            coef: [1.0, 0.0, 0.0, 0.0],
            len: 1,
        }
    }

    pub fn terms(&self) -> impl Iterator<Item = (usize, f64)> + '_ {
        self.dof[..self.len]
            .iter()
            .copied()
            .zip(self.coef[..self.len].iter().copied())
    }

    /// Evaluate on a full DOF vector.
    pub fn apply(&self, x: &[f64]) -> f64 {
        self.terms().map(|(d, c)| c * x[d]).sum()
    }
}

/// Series/shunt arrangement of the nanofluidic capacitor–memristor element (docs/physics.md §2).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Topology {
    /// Learnable channel `w` in parallel with a sensing arm `C + g_s` (recommended).
    Shunted,
    /// Paper-literal: memristor `g` in series with `C`; no DC path.
    Series,
    /// Memristor `g` in series with `(C ∥ g_L)`: DC conductance `g g_L/(g + g_L)`.
    SeriesLeaky,
}

/// The local signal sensed by an arm element's transducer (docs/physics.md §2.3, §3.2).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArmSignal {
    /// `σ = 2 z u ≈ τ_k d(y²)/dt` (even; correct for conductance/stiffness).
    Energy,
    /// `σ = sign(z) u ≈ τ_k d|y|/dt`.
    Abs,
    /// `σ = u ≈ τ_k dy/dt` (paper-literal; odd: wrong parity for conductance/stiffness).
    Polar,
    /// `σ = w u` (tension of the learnable spring's arm; odd: correct for rest lengths).
    Tension,
}

/// Signal driving the integral-feedback chemistry (docs/physics.md §4).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChemSignal {
    /// `s = y²`
    Drop2,
    /// `s = w y²`
    Power,
    /// `s = |y|`
    Abs,
    /// `s = ½ w (y − l)²`
    StrainEnergy,
}

/// Threshold nonlinearity `N_θ(σ)`.
#[derive(Copy, Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Nonlinearity {
    /// `σ·1{|σ| ≥ θ}` (paper eq. 6; [`crate::learning::rule::hard_threshold`]).
    Hard,
    /// `σ rⁿ/(1 + rⁿ)`, `r = |σ|/θ`.
    Hill { n: f64 },
    /// `sign(σ)·max(|σ| − θ, 0)` (shrinkage / dead zone of the lattice benchmark).
    DeadZone,
    /// `σ` (no threshold).
    Linear,
}

impl Nonlinearity {
    #[inline]
    pub fn apply(self, sigma: f64, theta: f64) -> f64 {
        match self {
            Nonlinearity::Hard => crate::learning::rule::hard_threshold(sigma, theta),
            Nonlinearity::Hill { n } => {
                if theta <= 0.0 {
                    return sigma;
                }
                let r = (sigma.abs() / theta).powf(n);
                sigma * r / (1.0 + r)
            }
            Nonlinearity::DeadZone => sigma.signum() * (sigma.abs() - theta).max(0.0),
            Nonlinearity::Linear => sigma,
        }
    }
}

/// How the weight window `F(w)` limits the update near the bounds.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BoundMode {
    /// `F = 1` inside `[w_min, w_max]`; the rate is cut to zero when it would leave the window.
    Hard,
    /// Smooth: decreasing rates are multiplied by `1 − exp(−(w − w_min)/w_min)`, increasing rates
    /// by `1 − exp(−(w_max − w)/(0.01 w_max))`; both are zero outside the window.
    Soft,
}

/// Bounds of a learnable weight.
#[derive(Copy, Clone, Debug, PartialEq, Serialize)]
pub struct Bounds {
    pub w_min: f64,
    pub w_max: f64,
    pub mode: BoundMode,
}

impl Bounds {
    /// Window factor applied to a rate `r` at weight `w`.
    #[inline]
    pub fn window(&self, w: f64, r: f64) -> f64 {
        match self.mode {
            BoundMode::Hard => {
                if (w <= self.w_min && r < 0.0) || (w >= self.w_max && r > 0.0) {
                    0.0
                } else {
                    r
                }
            }
            BoundMode::Soft => {
                if r < 0.0 {
                    let d = (w - self.w_min) / self.w_min;
                    if d <= 0.0 {
                        0.0
                    } else {
                        r * (1.0 - (-d).exp())
                    }
                } else {
                    let d = (self.w_max - w) / (0.01 * self.w_max);
                    if d <= 0.0 {
                        0.0
                    } else {
                        r * (1.0 - (-d).exp())
                    }
                }
            }
        }
    }
}

/// Threshold as given in the netlist.
#[derive(Copy, Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ThetaSpec {
    Value(f64),
    /// `θ = c τ_k A_max / τ_slow` from one static free/clamped pair (docs/physics.md §1.6, §9).
    Auto,
}

/// Which parameter a learning channel changes.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LearnTarget {
    /// Conductance / stiffness `w`.
    Weight,
    /// Rest length offset `l` (elastic).
    RestLength,
}

/// Where the filtered signal σ of a channel comes from.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalSource {
    Arm(ArmSignal),
    /// The chemical deviation `x` of the integral-feedback chemistry.
    Chem(ChemSignal),
}

/// One learning rule `dp/dt = π ρ N_θ(σ) F(p)` acting on one parameter of one element.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Channel {
    pub target: LearnTarget,
    pub source: SignalSource,
    /// Rate ρ (resolved: `rho: "auto"` is replaced at load by the rate that gives the target
    /// loop gain, docs/physics.md §1.5).
    pub rho: f64,
    /// Whether ρ was `"auto"` in the netlist.
    pub rho_auto: bool,
    pub theta_spec: ThetaSpec,
    /// Resolved threshold (after `auto`).
    pub theta: f64,
    /// `π = ±1`.
    pub polarity: f64,
    pub nonlinearity: Nonlinearity,
}

/// Feedback arm: conductance/Maxwell spring `c` in series with a capacitor/dashpot `cap`, with an
/// optional leak `g_leak` across the capacitor/dashpot: `cap ż = c (y − z) − g_leak z`.
#[derive(Copy, Clone, Debug, PartialEq, Serialize)]
pub struct Arm {
    /// Capacitance C (flow) or dashpot viscosity η (elastic).
    pub cap: f64,
    /// Arm conductance g_s / Maxwell stiffness k_M. `None`: the arm conductance is the learnable
    /// weight itself (paper-literal `series` memristor, `maxwell` spring).
    pub g: Option<f64>,
    pub g_leak: f64,
    /// Whether the arm loads the network (`false`: ideal probe, `g → 0` at fixed `τ`).
    pub loading: bool,
}

/// Integral-feedback chemistry `τ_x ẋ = s/s_ref − x − r`, `τ_r ṙ = x − ε r` (netlist names).
/// In the one kernel notation of the synapse lab ([`crate::synapse::kernel::IntegralFeedback`]:
/// fast time τ_u, integrator time τ_x, leak λ) this is τ_u = `tau_x`, τ_x = `tau_r`, λ = `eps`;
/// [`Element::kernel`] returns it in that notation.
#[derive(Copy, Clone, Debug, PartialEq, Serialize)]
pub struct Chem {
    pub signal: ChemSignal,
    pub tau_x: f64,
    pub tau_r: f64,
    pub eps: f64,
    /// `None` = auto (max free-state signal over the chemistry elements).
    pub s_ref_spec: Option<f64>,
    /// Resolved reference signal.
    pub s_ref: f64,
    /// Basal concentration (positivity check `c0 + x ≥ 0`).
    pub c0: f64,
}

/// Element family, for messages, flags and diagnostics.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ElementKind {
    Resistor,
    Spring,
    NanofluidicCm(Topology),
    Sls,
    Maxwell,
    Mechanochemical,
}

impl ElementKind {
    pub fn label(self) -> &'static str {
        match self {
            ElementKind::Resistor => "resistor",
            ElementKind::Spring => "spring",
            ElementKind::NanofluidicCm(Topology::Shunted) => "nanofluidic_cm/shunted",
            ElementKind::NanofluidicCm(Topology::Series) => "nanofluidic_cm/series",
            ElementKind::NanofluidicCm(Topology::SeriesLeaky) => "nanofluidic_cm/series_leaky",
            ElementKind::Sls => "sls",
            ElementKind::Maxwell => "maxwell",
            ElementKind::Mechanochemical => "mechanochemical",
        }
    }

    /// Elements with no static (DC) function: `series` and `maxwell` (docs/physics.md §2.1, §3.1).
    pub fn no_dc_path(self) -> bool {
        matches!(
            self,
            ElementKind::NanofluidicCm(Topology::Series) | ElementKind::Maxwell
        )
    }
}

/// One element (edge) of the network.
#[derive(Clone, Debug, Serialize)]
pub struct Element {
    pub name: String,
    pub kind: ElementKind,
    pub nodes: (NodeId, NodeId),
    #[serde(skip)]
    pub stencil: Stencil,
    /// Initial weight (conductance/stiffness, or the memristor / Maxwell spring for arm-only
    /// elements).
    pub w0: f64,
    /// Initial rest offset (elastic; 0 = the reference length).
    pub l0: f64,
    pub bounds: Bounds,
    /// `true`: `w` is the direct path `a = w`; `false`: `w` is the arm conductance (`series`,
    /// `maxwell`) and the direct path is absent.
    pub w_is_direct: bool,
    pub arm: Option<Arm>,
    pub chem: Option<Chem>,
    pub channels: Vec<Channel>,
}

impl Element {
    /// Clamp used inside assembly so that the matrix stays SPD whatever an RK stage proposes.
    #[inline]
    pub fn w_eff(&self, w: f64) -> f64 {
        w.max(self.bounds.w_min).max(0.0)
    }

    /// Direct-path conductance `a` and arm conductance `c` (the one that loads the network).
    #[inline]
    pub fn conductances(&self, w: f64) -> (f64, f64) {
        let we = self.w_eff(w);
        match (&self.arm, self.w_is_direct) {
            (None, _) => (we, 0.0),
            (Some(arm), true) => (
                we,
                if arm.loading {
                    arm.g.unwrap_or(we)
                } else {
                    0.0
                },
            ),
            (Some(arm), false) => (0.0, if arm.loading { we } else { 0.0 }),
        }
    }

    /// Arm conductance entering the arm ODE (independent of `loading`).
    #[inline]
    pub fn arm_g(&self, w: f64) -> f64 {
        match &self.arm {
            Some(arm) => arm.g.unwrap_or_else(|| self.w_eff(w)),
            None => 0.0,
        }
    }

    /// DC (long-time) conductance of the whole element: `a + c g_L/(c + g_L)`.
    pub fn dc_conductance(&self, w: f64) -> f64 {
        let (a, c) = self.conductances(w);
        match &self.arm {
            Some(arm) if arm.g_leak > 0.0 && c > 0.0 => a + c * arm.g_leak / (c + arm.g_leak),
            _ => a,
        }
    }

    /// Arm state at DC for a given drop: `z = c y/(c + g_L)`.
    pub fn z_dc(&self, w: f64, y: f64) -> f64 {
        match &self.arm {
            Some(arm) => {
                let c = self.arm_g(w);
                if c + arm.g_leak > 0.0 {
                    c * y / (c + arm.g_leak)
                } else {
                    0.0
                }
            }
            None => 0.0,
        }
    }

    /// Kernel timescale of the arm `τ_k = cap/(c + g_L)` or of the chemistry `τ_r`.
    pub fn tau_k(&self, w: f64) -> Option<f64> {
        self.kernel(w).and_then(|k| k.timescale())
    }

    /// Kernel area of the arm (`g_L/(c + g_L)`) or chemistry (`ε/(1+ε)`).
    pub fn kernel_area(&self, w: f64) -> f64 {
        self.kernel(w).and_then(|k| k.area()).unwrap_or(0.0)
    }

    /// The element's memory kernel at weight `w`, as the synapse lab's kernel type (one object
    /// for the engine and the lab): a feedback arm `C ż = c (y − z) − g_L z` seen through
    /// `u = y − z` is `HighPass { τ_k = C/(c + g_L), I = g_L/(c + g_L) }`; the
    /// mechano-chemical integral feedback is `IntegralFeedbackRaw { τ_u = tau_x, τ_x = tau_r,
    /// λ = eps }`. `None` for elements without a filter.
    pub fn kernel(&self, w: f64) -> Option<crate::synapse::KernelSpec> {
        use crate::synapse::KernelSpec;
        if let Some(arm) = &self.arm {
            let c = self.arm_g(w);
            return Some(KernelSpec::HighPass {
                tau_k: arm.cap / (c + arm.g_leak),
                area: arm.g_leak / (c + arm.g_leak),
            });
        }
        self.chem.map(|ch| KernelSpec::IntegralFeedbackRaw {
            tau_u: ch.tau_x,
            tau_x: ch.tau_r,
            leak: ch.eps,
        })
    }

    pub fn learns(&self) -> bool {
        !self.channels.is_empty()
    }

    /// Scale `s_ref` that divides a channel's signal (the mechano-chemical input; 1 otherwise):
    /// rates mapped from ρτ are divided by it.
    pub fn signal_scale(&self, ch: &Channel) -> f64 {
        match (ch.source, &self.chem) {
            (SignalSource::Chem(_), Some(c)) => c.s_ref,
            _ => 1.0,
        }
    }

    pub fn learns_weight(&self) -> bool {
        self.channels
            .iter()
            .any(|c| c.target == LearnTarget::Weight)
    }

    pub fn learns_rest_length(&self) -> bool {
        self.channels
            .iter()
            .any(|c| c.target == LearnTarget::RestLength)
    }

    /// The chemical input signal `s` for a drop `y`.
    #[inline]
    pub fn chem_input(&self, signal: ChemSignal, y: f64, w: f64, l: f64) -> f64 {
        match signal {
            ChemSignal::Drop2 => y * y,
            ChemSignal::Power => self.w_eff(w) * y * y,
            ChemSignal::Abs => y.abs(),
            ChemSignal::StrainEnergy => 0.5 * self.w_eff(w) * (y - l) * (y - l),
        }
    }

    /// Quasi-static signal `s` of a channel and its gain `τ_e`: over a leg that moves the drop
    /// between two DC states the part of `∫σ dt` that changes sign with the direction of the leg
    /// is `τ_e Δs` (the rest, even in the direction, is the kernel-area offset). This (s, τ_e)
    /// pair is the one used by the ideal rule, the gradient rate, the loop gain, the contrast
    /// window and θ "auto" (docs/physics.md §1.4).
    ///
    /// Arms: `s` is written in the element's drop `y` (`y²`, `|y|`, `y`, `w y`) and `τ_e` is
    /// built from the kernel time `τ_k = C/(c + g_L)` and area `I = g_L/(c + g_L)` alone: on a
    /// ramp the arm follows `z = (1 − I)(y − τ_k ẏ)`, `u = I y + (1 − I) τ_k ẏ`, so `τ_e = τ_k (1 − I)`
    /// for the linear signals (`u`, `sign(z) u`, `w u`) and `τ_e = τ_k (1 − I)(1 − 2I)` for the
    /// energy signal `2 z u`; without a leak both are `τ_k = C/c`. Chemistry: `s/s_ref` with
    /// `τ_e = τ_r`.
    pub fn static_signal(&self, ch: &Channel, y: f64, w: f64, l: f64) -> (f64, f64) {
        match ch.source {
            SignalSource::Arm(sig) => {
                let (tau_k, area) = match &self.arm {
                    Some(arm) => {
                        let c = self.arm_g(w);
                        (arm.cap / (c + arm.g_leak), arm.g_leak / (c + arm.g_leak))
                    }
                    None => (0.0, 0.0),
                };
                match sig {
                    ArmSignal::Energy => (y * y, tau_k * (1.0 - area) * (1.0 - 2.0 * area)),
                    ArmSignal::Abs => (y.abs(), tau_k * (1.0 - area)),
                    ArmSignal::Polar => (y, tau_k * (1.0 - area)),
                    ArmSignal::Tension => (self.w_eff(w) * y, tau_k * (1.0 - area)),
                }
            }
            SignalSource::Chem(sig) => match &self.chem {
                Some(chem) => (self.chem_input(sig, y, w, l) / chem.s_ref, chem.tau_r),
                None => (0.0, 0.0),
            },
        }
    }
}

/// An output functional `o_k = q_k·x` with its nudge to a target reservoir.
#[derive(Clone, Debug, Serialize)]
pub struct Output {
    pub name: String,
    #[serde(skip)]
    pub stencil: Stencil,
    pub nodes: Vec<NodeId>,
}

/// One example of the task: Dirichlet values of every constrained DOF and output targets.
#[derive(Clone, Debug, Serialize)]
pub struct Example {
    /// Values of the Dirichlet DOFs, in the order of [`Network::dirichlet_dofs`].
    pub xd: Vec<f64>,
    /// Targets `T_k`, one per output.
    pub targets: Vec<f64>,
}

/// Time-dependent source value `v(t)` on absolute time (overrides the example value).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Waveform {
    Constant {
        value: f64,
    },
    Step {
        t0: f64,
        before: f64,
        after: f64,
    },
    Pwl {
        points: Vec<(f64, f64)>,
    },
    Sine {
        offset: f64,
        amplitude: f64,
        period: f64,
        phase: f64,
    },
}

impl Waveform {
    pub fn eval(&self, t: f64) -> f64 {
        match self {
            Waveform::Constant { value } => *value,
            Waveform::Step { t0, before, after } => {
                if t < *t0 {
                    *before
                } else {
                    *after
                }
            }
            Waveform::Pwl { points } => {
                if points.is_empty() {
                    return 0.0;
                }
                if t <= points[0].0 {
                    return points[0].1;
                }
                for w in points.windows(2) {
                    let ((t0, v0), (t1, v1)) = (w[0], w[1]);
                    if t <= t1 {
                        if t1 <= t0 {
                            return v1;
                        }
                        return v0 + (v1 - v0) * (t - t0) / (t1 - t0);
                    }
                }
                points[points.len() - 1].1
            }
            Waveform::Sine {
                offset,
                amplitude,
                period,
                phase,
            } => offset + amplitude * (2.0 * std::f64::consts::PI * t / period + phase).sin(),
        }
    }

    /// `dv/dt` (one-sided from the right at a kink; 0 at a step, whose jump happens between
    /// integration segments).
    pub fn rate(&self, t: f64) -> f64 {
        match self {
            Waveform::Constant { .. } | Waveform::Step { .. } => 0.0,
            Waveform::Pwl { points } => {
                if points.is_empty() || t < points[0].0 {
                    return 0.0;
                }
                for w in points.windows(2) {
                    let ((t0, v0), (t1, v1)) = (w[0], w[1]);
                    if t < t1 {
                        return if t1 > t0 { (v1 - v0) / (t1 - t0) } else { 0.0 };
                    }
                }
                0.0
            }
            Waveform::Sine {
                amplitude,
                period,
                phase,
                ..
            } => {
                let om = 2.0 * std::f64::consts::PI / period;
                amplitude * om * (om * t + phase).cos()
            }
        }
    }

    /// Times where the waveform has a kink or jump (integration breakpoints).
    pub fn breakpoints(&self) -> Vec<f64> {
        match self {
            Waveform::Step { t0, .. } => vec![*t0],
            Waveform::Pwl { points } => points.iter().map(|p| p.0).collect(),
            _ => Vec::new(),
        }
    }
}

/// The complete validated network.
#[derive(Clone, Debug, Serialize)]
pub struct Network {
    pub domain: Domain,
    pub node_names: Vec<String>,
    pub positions: Vec<[f64; 2]>,
    pub elements: Vec<Element>,
    pub outputs: Vec<Output>,
    /// Global DOF index of every Dirichlet (source) DOF.
    pub dirichlet_dofs: Vec<usize>,
    /// Waveform per Dirichlet DOF (None: value from the current example).
    pub waveforms: Vec<Option<Waveform>>,
    pub examples: Vec<Example>,
    /// Held-out examples (classification accuracy); never used for learning.
    pub test_examples: Vec<Example>,
    /// For every global DOF: `Ok(free index)` or `Err(dirichlet index)`.
    #[serde(skip)]
    pub dof_map: Vec<Result<usize, usize>>,
    pub n_free: usize,
}

impl Network {
    /// Build the DOF map from the Dirichlet list. `dirichlet_dofs` must be unique.
    pub fn index_dofs(&mut self) {
        let n_dof = self.node_names.len() * self.domain.dofs_per_node();
        let mut map: Vec<Result<usize, usize>> = vec![Ok(0); n_dof];
        for (k, &d) in self.dirichlet_dofs.iter().enumerate() {
            if d < n_dof {
                map[d] = Err(k);
            }
        }
        let mut n_free = 0;
        for m in map.iter_mut() {
            if m.is_ok() {
                *m = Ok(n_free);
                n_free += 1;
            }
        }
        self.dof_map = map;
        self.n_free = n_free;
    }

    pub fn n_dof(&self) -> usize {
        self.dof_map.len()
    }

    pub fn n_elements(&self) -> usize {
        self.elements.len()
    }

    /// Human-readable name of a global DOF (`node n3` or `node n3 (uy)`).
    pub fn dof_name(&self, dof: usize) -> String {
        match self.domain {
            Domain::Flow => format!(
                "node '{}'",
                self.node_names.get(dof).map(String::as_str).unwrap_or("?")
            ),
            Domain::Elastic2d => format!(
                "node '{}' ({})",
                self.node_names
                    .get(dof / 2)
                    .map(String::as_str)
                    .unwrap_or("?"),
                if dof.is_multiple_of(2) { "ux" } else { "uy" }
            ),
        }
    }

    /// Where a failed factorisation points: a node that no element holds in some direction (a
    /// dangling node carries the null vector, whatever DOF the factorisation stopped at), else the
    /// free DOF `f` itself.
    pub fn singular_dof_name(&self, f: usize) -> String {
        self.mechanism_node()
            .unwrap_or_else(|| self.free_dof_name(f))
    }

    /// An elastic node with a free DOF whose elements all pull along one line: it moves freely
    /// perpendicular to them (a zero mode of the stiffness matrix living on that node).
    fn mechanism_node(&self) -> Option<String> {
        if self.domain != Domain::Elastic2d {
            return None;
        }
        let n = self.node_names.len();
        let mut dirs: Vec<Vec<[f64; 2]>> = vec![Vec::new(); n];
        for e in &self.elements {
            let (i, j) = (e.nodes.0 .0, e.nodes.1 .0);
            let (pi, pj) = (self.positions[i], self.positions[j]);
            let (dx, dy) = (pj[0] - pi[0], pj[1] - pi[1]);
            let len = dx.hypot(dy);
            if len > 0.0 {
                dirs[i].push([dx / len, dy / len]);
                dirs[j].push([dx / len, dy / len]);
            }
        }
        (0..n).find_map(|node| {
            let free = |k: usize| matches!(self.dof_map.get(2 * node + k), Some(Ok(_)));
            let d = &dirs[node];
            let first = d.first()?;
            let one_line = d
                .iter()
                .all(|v| (first[0] * v[1] - first[1] * v[0]).abs() < 1e-9);
            // The zero mode moves along m = n̂⊥; it needs the free DOFs to span it.
            let m = [-first[1], first[0]];
            let movable = (free(0) && free(1))
                || (free(0) && m[1].abs() < 1e-9)
                || (free(1) && m[0].abs() < 1e-9);
            (one_line && movable).then(|| {
                format!(
                    "node '{}', which its {} element(s) hold along one line only (it moves \
                     freely along ({:.3}, {:.3}))",
                    self.node_names[node],
                    d.len(),
                    -first[1],
                    first[0]
                )
            })
        })
    }

    /// Name of the free DOF with free index `f`.
    pub fn free_dof_name(&self, f: usize) -> String {
        match self.dof_map.iter().position(|m| *m == Ok(f)) {
            Some(d) => self.dof_name(d),
            None => format!("free DOF {f}"),
        }
    }

    /// Initial learnable parameters.
    /// The longest kernel time τ_k over the elements at `p` (0 without filters): the time unit
    /// of the settle ([`crate::protocol::Direction::tail`]).
    pub fn kernel_time(&self, p: &Params) -> f64 {
        self.elements
            .iter()
            .enumerate()
            .filter_map(|(e, el)| el.tau_k(p.w[e]))
            .fold(0.0, f64::max)
    }

    pub fn initial_params(&self) -> Params {
        Params {
            w: self.elements.iter().map(|e| e.w0).collect(),
            l: self.elements.iter().map(|e| e.l0).collect(),
        }
    }

    /// Dirichlet values at time `t` for example values `xd` (applies waveforms).
    pub fn dirichlet_at(&self, t: f64, xd: &[f64], out: &mut [f64]) {
        for (k, o) in out.iter_mut().enumerate() {
            *o = self.source_value(k, t, xd[k]);
        }
    }

    /// Value of Dirichlet DOF `k` at time `t` given the example's value `base`: a flow waveform
    /// gives the potential itself; an elastic2d waveform multiplies the imposed displacement.
    #[inline]
    pub fn source_value(&self, k: usize, t: f64, base: f64) -> f64 {
        match (&self.waveforms[k], self.domain) {
            (Some(wf), Domain::Flow) => wf.eval(t),
            (Some(wf), Domain::Elastic2d) => wf.eval(t) * base,
            (None, _) => base,
        }
    }

    /// `d/dt` of [`Network::source_value`] when the example value moves at `base_rate`.
    #[inline]
    pub fn source_rate(&self, k: usize, t: f64, base: f64, base_rate: f64) -> f64 {
        match (&self.waveforms[k], self.domain) {
            (Some(wf), Domain::Flow) => wf.rate(t),
            (Some(wf), Domain::Elastic2d) => wf.rate(t) * base + wf.eval(t) * base_rate,
            (None, _) => base_rate,
        }
    }

    /// Whether any element has no DC path (flagged elements).
    pub fn has_no_dc_elements(&self) -> bool {
        self.elements.iter().any(|e| e.kind.no_dc_path())
    }
}

/// Learnable parameters: changed only by learning (the `w`/`l` channels of the element ODEs, or
/// an explicit learner). Physics never writes them.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct Params {
    /// Conductance / stiffness per element.
    pub w: Vec<f64>,
    /// Rest-length offset per element.
    pub l: Vec<f64>,
}

/// Element-local physical states: changed only by the integrator.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct States {
    /// Arm capacitor voltage / dashpot extension per element (0 where there is no arm).
    pub z: Vec<f64>,
    /// Chemical deviation x per element (0 where there is no chemistry).
    pub x: Vec<f64>,
    /// Regulator r per element.
    pub r: Vec<f64>,
}

/// Element-wise `a − b`.
pub fn diff(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x - y).collect()
}

impl Params {
    /// `(Δw, Δl) = self − earlier`.
    pub fn change_since(&self, earlier: &Params) -> (Vec<f64>, Vec<f64>) {
        (diff(&self.w, &earlier.w), diff(&self.l, &earlier.l))
    }
}

impl States {
    pub fn zeros(n: usize) -> Self {
        States {
            z: vec![0.0; n],
            x: vec![0.0; n],
            r: vec![0.0; n],
        }
    }
}
