//! Static (long-time) solves and the ideal references computed from them (docs/physics.md §1.3):
//! free/clamped states, the cost, the ideal contrastive (coupled-learning / EP) update, the exact
//! gradient by one adjoint solve, the loop gain, and the initial filter states.

use super::equilibrium::{drops, outputs, ArmMode, Equilibrium};
use super::model::{Example, LearnTarget, Network, Params, SignalSource, States};
use super::PhysicsError;

/// A static equilibrium.
#[derive(Clone, Debug, PartialEq)]
pub struct StaticState {
    /// Full DOF vector.
    pub x: Vec<f64>,
    /// Edge drops.
    pub y: Vec<f64>,
    /// Outputs.
    pub o: Vec<f64>,
}

/// Solve the DC equilibrium at nudge `beta` for one example.
pub fn solve_static(
    net: &Network,
    eq: &mut Equilibrium,
    p: &Params,
    beta: f64,
    ex: &Example,
) -> Result<StaticState, PhysicsError> {
    let x = eq
        .solve(net, &p.w, &p.l, ArmMode::Dc, beta, &ex.xd, &ex.targets)?
        .to_vec();
    let mut y = vec![0.0; net.n_elements()];
    drops(net, &x, &mut y);
    let o = outputs(net, &x);
    Ok(StaticState { x, y, o })
}

/// `C = ½ Σ_k (o_k − T_k)²`.
pub fn cost(o: &[f64], targets: &[f64]) -> f64 {
    0.5 * o
        .iter()
        .zip(targets)
        .map(|(a, b)| (a - b) * (a - b))
        .sum::<f64>()
}

/// Mean cost over all examples at the free state.
pub fn mean_cost(net: &Network, eq: &mut Equilibrium, p: &Params) -> Result<f64, PhysicsError> {
    let mut c = 0.0;
    for ex in &net.examples {
        let s = solve_static(net, eq, p, 0.0, ex)?;
        c += cost(&s.o, &ex.targets);
    }
    Ok(c / net.examples.len().max(1) as f64)
}

/// Filter states at the free DC equilibrium (docs/physics.md §10.8): arms `z = c y/(c + g_L)`,
/// chemistry `r = (s/s_ref)/(1 + ε)`, `x = ε r`.
pub fn initial_states(net: &Network, p: &Params, free: &StaticState) -> States {
    let n = net.n_elements();
    let mut st = States::zeros(n);
    for (e, el) in net.elements.iter().enumerate() {
        if el.arm.is_some() {
            st.z[e] = el.z_dc(p.w[e], free.y[e]);
        }
        if let Some(ch) = &el.chem {
            let s = el.chem_input(ch.signal, free.y[e], p.w[e], p.l[e]) / ch.s_ref;
            st.r[e] = s / (1.0 + ch.eps);
            st.x[e] = ch.eps * st.r[e];
        }
    }
    st
}

/// The rate scale `ρ τ_gain / s_scale` of an element's weight (or rest-length) channel: the
/// coefficient mapping a contrast of the static signal into a parameter change.
pub fn channel_rate(net: &Network, e: usize, target: LearnTarget, w: f64) -> Option<f64> {
    let el = &net.elements[e];
    let ch = el.channels.iter().find(|c| c.target == target)?;
    let (_, tau) = el.static_signal(ch, 0.0, w, 0.0);
    Some(ch.rho * tau)
}

/// Ideal contrastive update from two static solves at the current parameters:
/// `Δw_CL = −ρ τ [(y^C − l)² − (y^F − l)²] / s_scale` (energy: `−(α/2β)Δ(y²)`, `α = 2βρτ_e`) and
/// `Δl_CL = ρ τ (t^C − t^F)`, `t = w (y − l)`. Entries of non-learning parameters are 0.
#[derive(Clone, Debug, PartialEq)]
pub struct IdealUpdate {
    pub dw: Vec<f64>,
    pub dl: Vec<f64>,
    pub free: StaticState,
    pub clamped: StaticState,
}

pub fn ideal_update(
    net: &Network,
    eq: &mut Equilibrium,
    p: &Params,
    beta: f64,
    ex: &Example,
) -> Result<IdealUpdate, PhysicsError> {
    let free = solve_static(net, eq, p, 0.0, ex)?;
    let clamped = solve_static(net, eq, p, beta, ex)?;
    let n = net.n_elements();
    let mut dw = vec![0.0; n];
    let mut dl = vec![0.0; n];
    for (e, el) in net.elements.iter().enumerate() {
        for ch in &el.channels {
            let (_, tau) = el.static_signal(ch, 0.0, p.w[e], p.l[e]);
            let s_scale = match (ch.source, &el.chem) {
                (SignalSource::Chem(_), Some(c)) => c.s_ref,
                _ => 1.0,
            };
            let rate = ch.rho * tau / s_scale;
            let (yc, yf, l) = (clamped.y[e], free.y[e], p.l[e]);
            match ch.target {
                LearnTarget::Weight => {
                    dw[e] = -rate * ((yc - l) * (yc - l) - (yf - l) * (yf - l));
                }
                LearnTarget::RestLength => {
                    let w = el.w_eff(p.w[e]);
                    dl[e] = rate * (w * (yc - l) - w * (yf - l));
                }
            }
        }
    }
    Ok(IdealUpdate {
        dw,
        dl,
        free,
        clamped,
    })
}

/// Exact gradient of the free-state cost of one example with respect to `w` and `l`, by one
/// adjoint solve `A_0 λ = Q_Ofᵀ (o^F − T)` (A at β = 0, arms at DC):
/// `dC/dw_e = −(dk_e/dw_e)(y_e − l_e)(q_e·λ)`, `dC/dl_e = a_e (q_e·λ)`.
pub fn gradient(
    net: &Network,
    eq: &mut Equilibrium,
    p: &Params,
    ex: &Example,
) -> Result<(Vec<f64>, Vec<f64>, f64), PhysicsError> {
    let free = solve_static(net, eq, p, 0.0, ex)?;
    let mut r = vec![0.0; eq.n_free()];
    for (k, t) in ex.targets.iter().enumerate() {
        let err = free.o[k] - t;
        for &(i, c) in eq.output_free_terms(k) {
            r[i] += c * err;
        }
    }
    let lam = eq.solve_with_last_factor(net, &mut r);
    let n = net.n_elements();
    let mut gw = vec![0.0; n];
    let mut gl = vec![0.0; n];
    for (e, el) in net.elements.iter().enumerate() {
        let ql: f64 = el.stencil.terms().map(|(d, c)| c * lam[d]).sum();
        let dk = dk_dw(el, p.w[e]);
        let (a, _) = el.conductances(p.w[e]);
        gw[e] = -dk * (free.y[e] - p.l[e]) * ql;
        gl[e] = a * ql;
    }
    Ok((gw, gl, cost(&free.o, &ex.targets)))
}

/// `dk_dc/dw` of an element's DC conductance (1 for a direct learnable path inside its bounds).
fn dk_dw(el: &super::model::Element, w: f64) -> f64 {
    if w < el.bounds.w_min {
        return 0.0;
    }
    if el.w_is_direct {
        return 1.0;
    }
    let h = 1e-6 * w.abs().max(1e-12);
    (el.dc_conductance(w + h) - el.dc_conductance(w - h)) / (2.0 * h)
}

/// Diagonal of the edge–edge transfer resistance `R_ee = q_eᵀ A⁻¹ q_e` (A of the last solve is
/// rebuilt at the given state). One solve per element.
pub fn transfer_diagonal(
    net: &Network,
    eq: &mut Equilibrium,
    p: &Params,
    beta: f64,
    ex: &Example,
) -> Result<Vec<f64>, PhysicsError> {
    solve_static(net, eq, p, beta, ex)?;
    let mut out = vec![0.0; net.n_elements()];
    let mut r = vec![0.0; eq.n_free()];
    for (e, o) in out.iter_mut().enumerate() {
        r.iter_mut().for_each(|v| *v = 0.0);
        let terms = eq.element_free_terms(e).to_vec();
        if terms.is_empty() {
            continue;
        }
        for &(i, c) in &terms {
            r[i] += c;
        }
        let sol = eq.solve_with_last_factor(net, &mut r);
        *o = net.elements[e]
            .stencil
            .terms()
            .map(|(d, c)| c * sol[d])
            .sum();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {}
