//! Segment-by-segment integration of the full network (implicit BDF with the analytic
//! Jacobian and per-species absolute tolerances), the valve sawtooth, gated input switches,
//! β annealing, per-cycle metrics (docs/molecular.md §7) and training.
//!
//! Every drive multiplier is linear in the segment-local time `τ ∈ [0, T]`:
//! `m_g(τ) = m_g⁰ + (m_g¹ − m_g⁰) τ/T`, so no step crosses a corner and clocks never leak
//! from one segment into the next.

use super::network::{ConservationLaw, Network};
use super::tcl::{cost_i, cost_sq, Design, Example};
use super::{ChemError, ChemModel, DriveRole};
use crate::physics::stiff::{self, BdfOptions, BdfStats, OdeSystem};
use crate::protocol::SegmentKind;
use nalgebra::{DMatrix, DVector};
use serde::Serialize;
use std::cell::RefCell;

/// Largest relative drift of a conservation law before a run stops (docs/molecular.md §11.3).
pub const DRIFT_LIMIT: f64 = 1e-8;

/// One protocol segment: duration and the multipliers at its start and end.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Segment {
    pub name: String,
    pub duration: f64,
    pub m0: Vec<f64>,
    pub m1: Vec<f64>,
}

impl Segment {
    pub fn multipliers(&self, tau: f64, out: &mut [f64]) {
        let s = if self.duration > 0.0 {
            (tau / self.duration).clamp(0.0, 1.0)
        } else {
            1.0
        };
        for ((o, a), b) in out.iter_mut().zip(&self.m0).zip(&self.m1) {
            *o = a + (b - a) * s;
        }
    }
}

/// Protocol state that sets the multipliers.
#[derive(Clone, Debug, PartialEq)]
pub struct DriveLevels {
    /// Valve β (absolute, not a fraction).
    pub beta: f64,
    pub gate: f64,
    pub inputs: Vec<f64>,
    pub targets: Vec<f64>,
}

/// Multipliers of every drive group for the given levels.
pub fn multipliers(model: &ChemModel, lv: &DriveLevels) -> Vec<f64> {
    let bmax = model.design.beta_max;
    model
        .drive_roles
        .iter()
        .map(|r| match *r {
            DriveRole::Beta => lv.beta / bmax,
            DriveRole::Gate => lv.gate,
            DriveRole::Input { k } => lv.inputs[k],
            DriveRole::Reservoir { k } => lv.beta / bmax * lv.targets[k],
        })
        .collect()
}

/// The network on one segment, as seen by the BDF integrator.
pub struct SegmentOde<'a> {
    pub net: &'a Network,
    pub seg: &'a Segment,
    pub weights: &'a [f64],
    /// Species and time of the first non-finite derivative.
    pub failure: RefCell<Option<(String, f64)>>,
    pub jac_evals: std::cell::Cell<u64>,
    /// Structural Jacobian pattern for the sparse LU of `I − cJ` (computed once per
    /// [`Runner`]; the symbolic analysis is redone once per segment); `None`: dense LU.
    pub pattern: Option<&'a [(usize, usize)]>,
    /// Scratch for the drive multipliers (no allocation per right-hand side).
    pub mult: RefCell<Vec<f64>>,
    /// Reversible pairs whose entropy production is integrated as one trailing quadrature
    /// component (`None`: no accounting; docs/physics.md §12).
    pub entropy_pairs: Option<&'a [(usize, usize)]>,
}

impl OdeSystem for SegmentOde<'_> {
    fn dim(&self) -> usize {
        self.net.n_species() + self.n_quadrature()
    }
    fn n_quadrature(&self) -> usize {
        usize::from(self.entropy_pairs.is_some())
    }
    fn rhs(&self, t: f64, v: &[f64], f: &mut [f64]) -> bool {
        let mut m = self.mult.borrow_mut();
        m.resize(self.seg.m0.len(), 0.0);
        self.seg.multipliers(t, &mut m);
        let ns = self.net.n_species();
        self.net.rhs(&v[..ns], &m, &mut f[..ns]);
        if let Some(pairs) = self.entropy_pairs {
            f[ns] = self.net.entropy_production_rate(&v[..ns], &m, pairs);
        }
        if let Some(i) = f[..ns].iter().position(|x| !x.is_finite()) {
            let mut fl = self.failure.borrow_mut();
            if fl.is_none() {
                *fl = Some((self.net.species[i].name.clone(), t));
            }
            return false;
        }
        true
    }
    fn has_jacobian(&self) -> bool {
        true
    }
    fn jacobian(&self, t: f64, v: &[f64], jac: &mut DMatrix<f64>) -> bool {
        let mut m = self.mult.borrow_mut();
        m.resize(self.seg.m0.len(), 0.0);
        self.seg.multipliers(t, &mut m);
        self.net.jacobian(&v[..self.net.n_species()], &m, jac);
        self.jac_evals.set(self.jac_evals.get() + 1);
        true
    }
    fn jacobian_pattern(&self) -> Option<Vec<(usize, usize)>> {
        self.pattern.map(<[(usize, usize)]>::to_vec)
    }
    fn atol_weights(&self) -> Option<Vec<f64>> {
        let mut w = self.weights.to_vec();
        w.resize(self.dim(), 1.0);
        Some(w)
    }
}

/// Running extremes and counters of an interval.
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Watch {
    pub ds_min: f64,
    pub ds_max: f64,
    /// Largest relative drift of the conservation laws.
    pub drift: f64,
    /// Accepted points where a species was below −atol (warning level).
    pub negative_warnings: u64,
}

/// State of a running full-network simulation.
pub struct Runner<'a> {
    pub model: &'a ChemModel,
    pub x: Vec<f64>,
    pub t: f64,
    pub stats: BdfStats,
    pub watch: Watch,
    pub laws: Vec<ConservationLaw>,
    law0: Vec<f64>,
    /// Drift scale of each law: max(|value at the start|, Σ|c_s|·scale_s), so that a
    /// mixed-sign law with value 0 is judged against its species' typical size.
    law_scale: Vec<f64>,
    weights: Vec<f64>,
    /// The network's Jacobian pattern when the solver uses the sparse LU (built once).
    pattern: Option<Vec<(usize, usize)>>,
    /// Current input totals (per `Design::inputs`).
    pub inputs: Vec<f64>,
    /// Recorded `(t, β, x)` samples when `record` is set.
    pub record: bool,
    pub samples: Vec<(f64, f64, Vec<f64>)>,
    beta_now: f64,
    /// Reversible reaction pairs and irreversible reactions (entropy production).
    pub entropy_pairs: Vec<(usize, usize)>,
    pub irreversible: Vec<usize>,
    /// Entropy production integrated since the runner started [k_B T].
    pub entropy: f64,
}

impl<'a> Runner<'a> {
    pub fn new(model: &'a ChemModel) -> Self {
        let x = model.network.initial_state();
        Self::from_state(model, x)
    }

    pub fn from_state(model: &'a ChemModel, x: Vec<f64>) -> Self {
        let laws = model.network.conservation_laws(false);
        let law0: Vec<f64> = laws.iter().map(|l| l.value(&x)).collect();
        let law_scale = laws
            .iter()
            .zip(&law0)
            .map(|(l, v0)| {
                let typical: f64 = l
                    .terms
                    .iter()
                    .map(|(s, c)| c.abs() * model.network.species[s.0].scale)
                    .sum();
                v0.abs().max(typical).max(1e-300)
            })
            .collect();
        Runner {
            law_scale,
            pattern: model
                .solver
                .sparse_lu
                .then(|| model.network.jacobian_pattern()),
            model,
            weights: model.network.species.iter().map(|s| s.scale).collect(),
            x,
            t: 0.0,
            stats: BdfStats::default(),
            watch: Watch::new(),
            laws,
            law0,
            inputs: model
                .examples
                .first()
                .map_or(Vec::new(), |e| e.inputs.clone()),
            record: false,
            samples: Vec::new(),
            beta_now: 0.0,
            entropy_pairs: model.network.reversible_pairs().0,
            irreversible: model.network.reversible_pairs().1,
            entropy: 0.0,
        }
    }

    /// Reset the interval watch (extremes, drift) and return the old one.
    pub fn take_watch(&mut self) -> Watch {
        std::mem::replace(&mut self.watch, Watch::new())
    }

    /// Integrate one segment.
    pub fn run_segment(&mut self, seg: &Segment, beta0: f64, beta1: f64) -> Result<(), ChemError> {
        if seg.duration.is_nan() {
            return Err(ChemError::Invalid(format!(
                "segment '{}' at t = {}: duration is NaN",
                seg.name, self.t
            )));
        }
        if seg.duration <= 0.0 {
            // An empty segment (e.g. `settle: 0`) leaves the state alone; the drives jump.
            self.beta_now = beta1;
            return Ok(());
        }
        let net = &self.model.network;
        let ode = SegmentOde {
            net,
            seg,
            weights: &self.weights,
            failure: RefCell::new(None),
            jac_evals: std::cell::Cell::new(0),
            pattern: self.pattern.as_deref(),
            mult: RefCell::new(Vec::new()),
            entropy_pairs: Some(&self.entropy_pairs),
        };
        let ns = net.n_species();
        let mut v0 = self.x.clone();
        v0.push(0.0);
        let s = &self.model.solver;
        let opt = BdfOptions {
            rtol: s.rtol,
            atol: s.atol_rel,
            h_init: s.h_init,
            h_max: f64::INFINITY,
            max_steps: s.max_steps,
        };
        let out = stiff::integrate(&ode, 0.0, seg.duration, DVector::from_vec(v0), &opt);
        let out = {
            let mut out = out;
            if let Some(last) = out.ys.last() {
                self.entropy += last[ns];
            }
            for y in out.ys.iter_mut() {
                *y = y.rows(0, ns).into_owned();
            }
            out
        };
        let st = out.stats;
        self.stats.rhs_evals += st.rhs_evals;
        self.stats.jacobian_evals += st.jacobian_evals;
        self.stats.lu_decompositions += st.lu_decompositions;
        self.stats.accepted_steps += st.accepted_steps;
        self.stats.rejected_steps += st.rejected_steps;
        self.stats.newton_iterations += st.newton_iterations;
        self.stats.newton_failures += st.newton_failures;
        self.stats.sparse_factorizations += st.sparse_factorizations;
        if let Some((sp, t)) = ode.failure.borrow().clone() {
            return Err(ChemError::Integration {
                segment: seg.name.clone(),
                t: self.t + t,
                reason: format!("non-finite rate of change of species {sp}"),
            });
        }
        if let Err(e @ stiff::BdfError::Invalid(_)) = &out.result {
            // Refused before any step: no species to blame.
            return Err(ChemError::Integration {
                segment: seg.name.clone(),
                t: self.t,
                reason: e.to_string(),
            });
        }
        if let Err(e) = &out.result {
            // Name the species changing fastest (scaled) at the last accepted point.
            let last = out
                .ys
                .last()
                .map(|v| v.as_slice().to_vec())
                .unwrap_or_default();
            let mut m = vec![0.0; seg.m0.len()];
            seg.multipliers(*out.ts.last().unwrap_or(&0.0), &mut m);
            let mut f = vec![0.0; last.len()];
            net.rhs(&last, &m, &mut f);
            let worst = (0..f.len())
                .max_by(|&a, &b| {
                    (f[a].abs() / self.weights[a]).total_cmp(&(f[b].abs() / self.weights[b]))
                })
                .map_or("?".to_string(), |i| net.species[i].name.clone());
            return Err(ChemError::Integration {
                segment: seg.name.clone(),
                t: self.t + out.ts.last().copied().unwrap_or(0.0),
                reason: format!("{e} (fastest-changing species: {worst})"),
            });
        }
        let ds_idx: Vec<usize> = self.model.pairs.iter().map(|p| p.ds.0).collect();
        let x0 = self.model.design.x0;
        for (t, y) in out.ts.iter().zip(&out.ys).skip(1) {
            let y = y.as_slice();
            for &i in &ds_idx {
                self.watch.ds_min = self.watch.ds_min.min(y[i] / x0);
                self.watch.ds_max = self.watch.ds_max.max(y[i] / x0);
            }
            for (i, v) in y.iter().enumerate() {
                let atol = s.atol_rel * self.weights[i];
                if *v < -10.0 * atol {
                    return Err(ChemError::Negative {
                        species: net.species[i].name.clone(),
                        value: *v,
                        limit: -10.0 * atol,
                        t: self.t + t,
                        segment: seg.name.clone(),
                    });
                }
                if *v < -atol {
                    self.watch.negative_warnings += 1;
                }
            }
            if self.record {
                let beta = beta0 + (beta1 - beta0) * (t / seg.duration);
                self.samples.push((self.t + t, beta, y.to_vec()));
            }
        }
        if let Some(y) = out.ys.last() {
            self.x = y.as_slice().to_vec();
        }
        for ((l, v0), sc) in self.laws.iter().zip(&self.law0).zip(&self.law_scale) {
            let d = (l.value(&self.x) - v0).abs() / sc;
            self.watch.drift = self.watch.drift.max(d);
            if d > DRIFT_LIMIT {
                return Err(ChemError::Integration {
                    segment: seg.name.clone(),
                    t: self.t + seg.duration,
                    reason: format!(
                        "conservation law {} drifted by {d:.3e} (relative; limit {DRIFT_LIMIT:e})",
                        l.describe(net)
                    ),
                });
            }
        }
        self.t += seg.duration;
        self.beta_now = beta1;
        Ok(())
    }

    fn segment(&self, name: &str, duration: f64, a: &DriveLevels, b: &DriveLevels) -> Segment {
        Segment {
            name: name.into(),
            duration,
            m0: multipliers(self.model, a),
            m1: multipliers(self.model, b),
        }
    }

    fn levels(&self, beta: f64, gate: f64, ex: usize) -> DriveLevels {
        DriveLevels {
            beta,
            gate,
            inputs: self.inputs.clone(),
            targets: self.model.examples[ex].targets.clone(),
        }
    }

    /// Hold constant drives (valve β, gate) for `duration`.
    pub fn hold(
        &mut self,
        ex: usize,
        beta: f64,
        gate: f64,
        duration: f64,
        name: &str,
    ) -> Result<(), ChemError> {
        let lv = self.levels(beta, gate, ex);
        let seg = self.segment(name, duration, &lv, &lv);
        self.run_segment(&seg, beta, beta)
    }

    /// Gated (or ungated) linear ramp of the inputs to example `ex` over `tau`, then `hold`.
    pub fn switch_to(
        &mut self,
        ex: usize,
        tau: f64,
        hold: f64,
        gated: bool,
    ) -> Result<(), ChemError> {
        let gate = if gated {
            0.0
        } else {
            self.model.protocol.write_gate
        };
        let a = self.levels(0.0, gate, ex);
        let mut b = a.clone();
        b.inputs = self.model.examples[ex].inputs.clone();
        let seg = self.segment("switch", tau, &a, &b);
        self.run_segment(&seg, 0.0, 0.0)?;
        self.inputs = b.inputs;
        if hold > 0.0 {
            self.hold(ex, 0.0, gate, hold, "switch_hold")?;
        }
        Ok(())
    }

    /// One sawtooth cycle on the valve with peak `beta_peak` for example `ex` (inputs must
    /// already be at the example's values).
    pub fn cycle(&mut self, ex: usize, beta_peak: f64) -> Result<(), ChemError> {
        let p = &self.model.protocol;
        let g = p.write_gate;
        let free = self.levels(0.0, g, ex);
        let clamped = self.levels(beta_peak, g, ex);
        let leg = |i: usize, (kind, dur): (SegmentKind, f64)| {
            let speed = if kind == SegmentKind::Fast {
                "fast"
            } else {
                "slow"
            };
            (
                format!("{speed}_{}", if i == 0 { "rise" } else { "fall" }),
                dur,
            )
        };
        let [l0, l1] = p.direction.legs(p.tau_fast, p.tau_slow);
        let (first, second) = (leg(0, l0), leg(1, l1));
        let s1 = self.segment(&first.0, first.1, &free, &clamped);
        self.run_segment(&s1, 0.0, beta_peak)?;
        let s2 = self.segment(&second.0, second.1, &clamped, &free);
        self.run_segment(&s2, beta_peak, 0.0)
    }
}

impl Watch {
    fn new() -> Self {
        Watch {
            ds_min: f64::INFINITY,
            ds_max: f64::NEG_INFINITY,
            drift: 0.0,
            negative_warnings: 0,
        }
    }
}

/// Static analysis at ℓ for one example: the ideal rule and the gradients.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StaticAnalysis {
    pub cost_sq: f64,
    pub cost_i: f64,
    /// `A_e = D_e^C − D_e^F`.
    pub contrast: Vec<f64>,
    /// `−ρ A_e`.
    pub dell_cl: Vec<f64>,
    pub grad_sq: Vec<f64>,
    pub grad_i: Vec<f64>,
}

pub fn analyse(
    d: &Design,
    ell: &[f64],
    ex: &Example,
    beta: f64,
) -> Result<StaticAnalysis, ChemError> {
    let (f, c) = d.free_clamped(ell, ex, beta)?;
    let o = d.outputs_of(&f);
    let contrast: Vec<f64> = f.d.iter().zip(&c.d).map(|(a, b)| b - a).collect();
    let (grad_sq, grad_i) = d.gradients(ell, ex)?;
    Ok(StaticAnalysis {
        cost_sq: cost_sq(&o, &ex.targets),
        cost_i: cost_i(&o, &ex.targets),
        dell_cl: contrast.iter().map(|a| -d.rho * a).collect(),
        contrast,
        grad_sq,
        grad_i,
    })
}

/// Mean `C_sq` over the examples at ℓ.
pub fn mean_cost(d: &Design, ell: &[f64], examples: &[Example]) -> Result<f64, ChemError> {
    let mut s = 0.0;
    for ex in examples {
        s += d.costs(ell, ex)?.0;
    }
    Ok(s / examples.len().max(1) as f64)
}

/// Auto switch time `c_sw κ max|ΔD_sw|` over consecutive examples (free states at ℓ).
pub fn auto_tau_switch(model: &ChemModel, ell: &[f64]) -> Result<f64, ChemError> {
    let d = &model.design;
    let n = model.examples.len();
    if n < 2 {
        return Ok(0.0);
    }
    let mut frees = Vec::new();
    for ex in &model.examples {
        let a = d.example_totals(ex);
        frees.push(d.solve_static(ell, &a, 0.0, &ex.targets, None, None)?);
    }
    let mut m: f64 = 0.0;
    for k in 0..n {
        let (a, b) = (&frees[k], &frees[(k + 1) % n]);
        for (x, y) in a.d.iter().zip(&b.d) {
            m = m.max((x - y).abs());
        }
    }
    Ok(model.protocol.switch.c_sw * d.kappa * m)
}
