//! Quasi-steady-state (QSS) reduced model (docs/molecular.md §10), integrated with explicit
//! Dopri5: the cross-test "quasi-static binding vs full dynamics".
//!
//! Slow states per pair: the active dimer `Ds_e`, the integrator difference `I_e = E_e − Z_e`,
//! the transcript copy level `V_e` (both copies obey `V̇ = k_v Ds − δ_v V`) and the linker
//! `ℓ_e`. Every right-hand side solves the binding equilibrium (the static solver with the
//! current `Ds`, valve and inputs), then
//! ```text
//! E = (I + √(I² + 4μ/η_EZ))/2                      (Z quasi-steady: η_EZ E Z = μ)
//! Ḋs = k_act D − a Ds − k_c E · Ds/(Ds + 10⁻³ x0)   (U quasi-steady: zero-order actuation)
//! İ = k_p Ds − μ − ε I
//! V̇ = k_v Ds − δ_v V
//! Vh_free = titr(V, Y_tot), P_free = titr(P_tot, V)   (K_M)
//! ℓ̇ = gate · k_w (Vh_free − P_free · η_M ℓ/(η_M ℓ + δ_M))   (polarity +1; −1 swaps the rails)
//! ```

use super::sim::DriveLevels;
use super::tcl::{Design, Example};
use super::{ChemError, ChemModel};
use nalgebra::DVector;
use ode_solvers::dop_shared::OutputType;
use ode_solvers::{Dopri5, System};
use serde::Serialize;
use std::cell::{Cell, RefCell};

/// One segment of the reduced model: drive levels at its ends (linear in between).
struct RSeg<'a> {
    d: &'a Design,
    duration: f64,
    a: &'a DriveLevels,
    b: &'a DriveLevels,
    guess: RefCell<Option<Vec<f64>>>,
    evals: Cell<u64>,
    /// First failure of the static solver `(segment time, message)`; owned by the caller,
    /// since `Dopri5` keeps the system and stops normally when `solout` returns `true`.
    error: &'a RefCell<Option<(f64, String)>>,
}

impl RSeg<'_> {
    fn eval(&self, t: f64, y: &[f64], dy: &mut [f64]) -> Result<(), ChemError> {
        let d = self.d;
        let s = (t / self.duration).clamp(0.0, 1.0);
        let lerp = |x: f64, z: f64| x + (z - x) * s;
        let beta = lerp(self.a.beta, self.b.beta);
        let gate = lerp(self.a.gate, self.b.gate);
        let inputs: Vec<f64> = self
            .a
            .inputs
            .iter()
            .zip(&self.b.inputs)
            .map(|(x, z)| lerp(*x, *z))
            .collect();
        let ex = Example {
            inputs,
            targets: self.a.targets.clone(),
        };
        let np = d.pairs.len();
        let ds: Vec<f64> = (0..np).map(|e| y[4 * e].max(0.0)).collect();
        let ell: Vec<f64> = (0..np).map(|e| y[4 * e + 3].max(0.0)).collect();
        let totals = d.example_totals(&ex);
        let guess = self.guess.borrow().clone();
        let st = d.solve_static(
            &ell,
            &totals,
            beta,
            &ex.targets,
            Some(&ds),
            guess.as_deref(),
        )?;
        *self.guess.borrow_mut() = Some(st.c.clone());
        let km = d.k_m();
        for e in 0..np {
            let (dsv, i, v, l) = (ds[e], y[4 * e + 1], y[4 * e + 2].max(0.0), ell[e]);
            let ee = 0.5 * (i + (i * i + 4.0 * d.mu / d.eta_ez).sqrt());
            dy[4 * e] = d.k_act * st.d[e] - d.a * y[4 * e] - d.k_c * ee * dsv / (dsv + 1e-3 * d.x0);
            dy[4 * e + 1] = d.k_p * dsv - d.mu - d.eps * i;
            dy[4 * e + 2] = d.k_v * dsv - d.dv * y[4 * e + 2];
            let vh = Design::titration_free(v, d.y_tot, km);
            let pf = Design::titration_free(d.p_tot, v, km);
            let (make, kill) = if d.polarity >= 0.0 {
                (vh, pf)
            } else {
                (pf, vh)
            };
            let frac = d.eta_m * l / (d.eta_m * l + d.d_m);
            dy[4 * e + 3] = gate * d.k_w * (make - kill * frac);
        }
        Ok(())
    }
}

impl System<f64, DVector<f64>> for RSeg<'_> {
    fn system(&self, t: f64, y: &DVector<f64>, dy: &mut DVector<f64>) {
        self.evals.set(self.evals.get() + 1);
        if let Err(e) = self.eval(t, y.as_slice(), dy.as_mut_slice()) {
            dy.iter_mut().for_each(|v| *v = 0.0);
            let mut er = self.error.borrow_mut();
            if er.is_none() {
                *er = Some((t, format!("{e}")));
            }
        }
    }
    fn solout(&mut self, _t: f64, _y: &DVector<f64>, _dy: &DVector<f64>) -> bool {
        self.error.borrow().is_some()
    }
}

/// Result of one reduced cycle.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReducedCycle {
    pub ell_start: Vec<f64>,
    pub dell: Vec<f64>,
    pub rhs_evals: u64,
    pub wall_seconds: f64,
}

/// Runs the reduced model segment by segment.
pub struct ReducedRunner<'a> {
    pub model: &'a ChemModel,
    pub y: Vec<f64>,
    pub rhs_evals: u64,
    pub rtol: f64,
    pub atol: f64,
    /// Time since the start of the run (the sum of the finished segments).
    pub t: f64,
}

impl<'a> ReducedRunner<'a> {
    /// Start at the §10 quasi-steady state of example 0 with the model's initial linkers.
    pub fn new(model: &'a ChemModel) -> Result<Self, ChemError> {
        let d = &model.design;
        let ell0 = model.ell0();
        let lv = super::tcl::initial_levels(d, &ell0, &model.examples[0])?;
        let mut y = Vec::new();
        for (e, l) in lv.iter().enumerate() {
            y.extend([d.x0, l[4] - l[5], d.k_v * d.x0 / d.dv, ell0[e]]);
        }
        Ok(ReducedRunner {
            model,
            y,
            rhs_evals: 0,
            rtol: 1e-8,
            atol: 1e-11,
            t: 0.0,
        })
    }

    pub fn ell(&self) -> Vec<f64> {
        (0..self.model.design.pairs.len())
            .map(|e| self.y[4 * e + 3])
            .collect()
    }

    fn segment(
        &mut self,
        name: &str,
        duration: f64,
        a: &DriveLevels,
        b: &DriveLevels,
    ) -> Result<(), ChemError> {
        if duration <= 0.0 {
            return Ok(()); // an empty segment leaves the state alone
        }
        let error = RefCell::new(None);
        let sys = RSeg {
            d: &self.model.design,
            duration,
            a,
            b,
            guess: RefCell::new(None),
            evals: Cell::new(0),
            error: &error,
        };
        let mut st = Dopri5::from_param(
            sys,
            0.0,
            duration,
            duration,
            DVector::from_vec(self.y.clone()),
            self.rtol,
            self.atol,
            0.9,
            0.04,
            0.2,
            10.0,
            duration,
            1e-4,
            10_000_000,
            u32::MAX,
            OutputType::Sparse,
        );
        let res = st.integrate();
        let y_last = st.y_out().last().cloned();
        let t_last = st.x_out().last().copied().unwrap_or(0.0);
        if let Some((t, msg)) = error.borrow_mut().take() {
            return Err(ChemError::Integration {
                segment: name.into(),
                t: self.t + t,
                reason: format!("reduced model: {msg}"),
            });
        }
        // The system was moved into the stepper; read its counters through the stats.
        let stats = res.map_err(|e| ChemError::Integration {
            segment: name.into(),
            t: self.t + t_last,
            reason: format!("reduced model (Dopri5): {e:?}"),
        })?;
        self.rhs_evals += u64::from(stats.num_eval);
        if let Some(y) = y_last {
            if y.iter().any(|v| !v.is_finite()) {
                return Err(ChemError::Integration {
                    segment: name.into(),
                    t: self.t + duration,
                    reason: "reduced model: non-finite state".into(),
                });
            }
            self.y = y.as_slice().to_vec();
        }
        self.t += duration;
        Ok(())
    }

    fn levels(&self, ex: usize, beta: f64, gate: f64) -> DriveLevels {
        let e = &self.model.examples[ex];
        DriveLevels {
            beta,
            gate,
            inputs: e.inputs.clone(),
            targets: e.targets.clone(),
        }
    }

    /// Hold the drives constant.
    pub fn hold(
        &mut self,
        ex: usize,
        beta: f64,
        gate: f64,
        duration: f64,
    ) -> Result<(), ChemError> {
        let lv = self.levels(ex, beta, gate);
        self.segment("hold", duration, &lv, &lv)
    }

    /// One sawtooth cycle on the valve.
    pub fn cycle(&mut self, ex: usize, beta_peak: f64) -> Result<(), ChemError> {
        let p = &self.model.protocol;
        let g = p.write_gate;
        let free = self.levels(ex, 0.0, g);
        let clamped = self.levels(ex, beta_peak, g);
        let [(_, t1), (_, t2)] = p.direction.legs(p.tau_fast, p.tau_slow);
        self.segment("ramp_up", t1, &free, &clamped)?;
        self.segment("ramp_down", t2, &clamped, &free)
    }
}

/// The reduced counterpart of the full model's one-cycle comparison: settle, one cycle of example 0, the
/// fast-fall tail; returns Δℓ.
pub fn one_cycle(model: &ChemModel) -> Result<ReducedCycle, ChemError> {
    let start = std::time::Instant::now();
    let mut r = ReducedRunner::new(model)?;
    let d = &model.design;
    r.hold(0, 0.0, 0.0, model.protocol.settle)?;
    let ell_start = r.ell();
    let n0 = r.rhs_evals;
    r.cycle(0, d.beta_max)?;
    let tail = model.protocol.direction.tail(d.a / d.b);
    if tail > 0.0 {
        r.hold(0, 0.0, model.protocol.write_gate, tail)?;
    }
    let dell = r.ell().iter().zip(&ell_start).map(|(a, b)| a - b).collect();
    Ok(ReducedCycle {
        ell_start,
        dell,
        rhs_evals: r.rhs_evals - n0,
        wall_seconds: start.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A static-solver failure inside a segment is an error with its time, not a normal stop
    /// with a truncated state.
    #[test]
    fn static_failure_in_a_segment_is_reported() {
        let v: serde_json::Value = serde_json::from_str(crate::netlist::chem::M1_TEMPLATE).unwrap();
        let m = crate::netlist::chem::from_value(&v).unwrap().model;
        let mut r = ReducedRunner::new(&m).unwrap();
        r.hold(0, 0.0, 0.0, 5.0).unwrap();
        let a = r.levels(0, 0.0, 0.0);
        let mut b = a.clone();
        b.inputs = vec![f64::NAN; a.inputs.len()];
        let e = r.segment("bad", 10.0, &a, &b).unwrap_err();
        match e {
            ChemError::Integration { segment, t, reason } => {
                assert_eq!(segment, "bad");
                assert!((5.0..=15.0).contains(&t), "t = {t}");
                assert!(reason.contains("static solver"), "{reason}");
            }
            e => panic!("{e}"),
        }
    }
}
