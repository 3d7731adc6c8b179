//! Learning: comparison of the physical update with the ideal contrastive rule (coupled
//! learning / EP) and with exact gradient descent, and the explicit reference learners. These
//! update [`Params`] only; the physics (states) is never touched here.

use crate::physics::equilibrium::Equilibrium;
use crate::physics::model::{LearnTarget, Network, Params};
use crate::physics::statics::{gradient, ideal_update, IdealUpdate};
use crate::physics::PhysicsError;
use crate::protocol::Sawtooth;
use serde::Serialize;

/// Cosine similarity (0 when either vector vanishes).
pub fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 {
        0.0
    } else {
        ab / (aa.sqrt() * bb.sqrt())
    }
}

/// Least-squares fit `a ≈ slope·b + offset`.
pub fn lsq(a: &[f64], b: &[f64]) -> (f64, f64) {
    let n = a.len().min(b.len()) as f64;
    if n == 0.0 {
        return (0.0, 0.0);
    }
    let mb = b.iter().sum::<f64>() / n;
    let ma = a.iter().sum::<f64>() / n;
    let (mut sab, mut sbb) = (0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (y - mb) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    if sbb == 0.0 {
        return (0.0, ma);
    }
    let slope = sab / sbb;
    (slope, ma - slope * mb)
}

/// Per-cycle comparison metrics (physics.md §7 "Metrics the simulator should always report").
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    /// cos(Δp_phys, Δp_CL) over all learnable parameters (w and l stacked).
    pub cos_cl: f64,
    /// cos(Δp_phys, −∇C).
    pub cos_grad: f64,
    /// LSQ slope and offset of Δp_phys against Δp_CL.
    pub slope: f64,
    pub offset: f64,
    /// Fraction of learnable parameters whose physical update has the opposite sign of the ideal.
    pub wrong_sign_fraction: f64,
    /// Fraction of the contrast mass |Δs| inside the threshold window.
    pub window_fraction: f64,
    /// max_e |Δs_e| over the lower window edge θ τ_f/τ.
    pub max_contrast_over_lower_edge: f64,
    /// Cost at the start of the cycle (mean over examples).
    pub cost: f64,
}

/// Stack the learnable entries of (w, l) vectors.
pub fn stack(net: &Network, dw: &[f64], dl: &[f64]) -> Vec<f64> {
    let mut out = Vec::new();
    for (e, el) in net.elements.iter().enumerate() {
        if el.learns_weight() {
            out.push(dw[e]);
        }
    }
    for (e, el) in net.elements.iter().enumerate() {
        if el.learns_rest_length() {
            out.push(dl[e]);
        }
    }
    out
}

/// Ideal CL update and gradient summed over the given examples.
pub struct References {
    pub cl_w: Vec<f64>,
    pub cl_l: Vec<f64>,
    pub grad_w: Vec<f64>,
    pub grad_l: Vec<f64>,
    pub cost: f64,
    /// Ideal update of the first example (for contrasts).
    pub first: IdealUpdate,
}

pub fn references(
    net: &Network,
    eq: &mut Equilibrium,
    p: &Params,
    beta: f64,
    examples: &[usize],
) -> Result<References, PhysicsError> {
    let n = net.n_elements();
    let (mut cl_w, mut cl_l, mut gw, mut gl) =
        (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let mut cost = 0.0;
    let mut first = None;
    for &k in examples {
        let ex = &net.examples[k];
        let iu = ideal_update(net, eq, p, beta, ex)?;
        let (g_w, g_l, c) = gradient(net, eq, p, ex)?;
        for e in 0..n {
            cl_w[e] += iu.dw[e];
            cl_l[e] += iu.dl[e];
            gw[e] += g_w[e];
            gl[e] += g_l[e];
        }
        cost += c;
        if first.is_none() {
            first = Some(iu);
        }
    }
    let first = match first {
        Some(f) => f,
        None => ideal_update(net, eq, p, beta, &net.examples[0])?,
    };
    Ok(References {
        cl_w,
        cl_l,
        grad_w: gw,
        grad_l: gl,
        cost: cost / examples.len().max(1) as f64,
        first,
    })
}

/// Compare a physical update with the references.
pub fn compare(
    net: &Network,
    p: &Params,
    saw: &Sawtooth,
    dw_phys: &[f64],
    dl_phys: &[f64],
    refs: &References,
) -> Comparison {
    let phys = stack(net, dw_phys, dl_phys);
    let cl = stack(net, &refs.cl_w, &refs.cl_l);
    let neg_grad: Vec<f64> = stack(net, &refs.grad_w, &refs.grad_l)
        .iter()
        .map(|g| -g)
        .collect();
    let (slope, offset) = lsq(&phys, &cl);
    let mut wrong = 0usize;
    let mut counted = 0usize;
    for (a, b) in phys.iter().zip(&cl) {
        if b.abs() > 1e-3 * cl.iter().fold(0.0f64, |m, v| m.max(v.abs())) {
            counted += 1;
            if a * b < 0.0 {
                wrong += 1;
            }
        }
    }
    // Contrast window statistics from the first example's static pair.
    let (mut mass, mut mass_in, mut ratio) = (0.0, 0.0, 0.0f64);
    let f = &refs.first;
    for (e, el) in net.elements.iter().enumerate() {
        for ch in &el.channels {
            let (sf, tau) = el.static_signal(ch, f.free.y[e], p.w[e], p.l[e]);
            let (sc, _) = el.static_signal(ch, f.clamped.y[e], p.w[e], p.l[e]);
            let a = (sc - sf).abs();
            if tau > 0.0 && ch.theta > 0.0 {
                let lo = ch.theta * saw.tau_fast / tau;
                let hi = ch.theta * saw.tau_slow / tau;
                mass += a;
                if a > lo && a < hi {
                    mass_in += a;
                }
                ratio = ratio.max(a / lo);
            }
        }
    }
    Comparison {
        cos_cl: cosine(&phys, &cl),
        cos_grad: cosine(&phys, &neg_grad),
        slope,
        offset,
        wrong_sign_fraction: if counted > 0 {
            wrong as f64 / counted as f64
        } else {
            0.0
        },
        window_fraction: if mass > 0.0 { mass_in / mass } else { 0.0 },
        max_contrast_over_lower_edge: ratio,
        cost: refs.cost,
    }
}

/// Gradient-descent step at the learning rate mapped from the physical element
/// (`Δw = −α dC/dw`, `α = 2 β ρ τ` for weights; `Δl = −β ρ τ dC/dl`·... see physics.md §10.6).
pub fn gd_step(net: &Network, p: &Params, beta: f64, refs: &References) -> (Vec<f64>, Vec<f64>) {
    let n = net.n_elements();
    let (mut dw, mut dl) = (vec![0.0; n], vec![0.0; n]);
    for (e, el) in net.elements.iter().enumerate() {
        for ch in &el.channels {
            let (_, tau) = el.static_signal(ch, 0.0, p.w[e], p.l[e]);
            let scale = match (ch.source, &el.chem) {
                (crate::physics::model::SignalSource::Chem(_), Some(c)) => c.s_ref,
                _ => 1.0,
            };
            match ch.target {
                LearnTarget::Weight => dw[e] = -2.0 * beta * ch.rho * tau / scale * refs.grad_w[e],
                LearnTarget::RestLength => dl[e] = -beta * ch.rho * tau * refs.grad_l[e],
            }
        }
    }
    (dw, dl)
}

/// Apply an update inside the bounds (explicit learners).
pub fn apply(net: &Network, p: &mut Params, dw: &[f64], dl: &[f64]) {
    for (e, el) in net.elements.iter().enumerate() {
        if el.learns_weight() {
            p.w[e] = (p.w[e] + dw[e]).clamp(el.bounds.w_min, el.bounds.w_max);
        }
        if el.learns_rest_length() {
            p.l[e] += dl[e];
        }
    }
}

/// Prediction of the physical weight update including the self-interaction (physics.md §1.5):
/// `Δw = (I + π ρ τ 2 Y R Y)⁻¹ Δw_CL` for even (`y²`) weight channels, with `R = Q_f A⁻¹ Q_fᵀ` the
/// edge–edge transfer resistance of the free DC state. Dense: for small networks (tests,
/// diagnostics). Non-learning elements keep 0.
pub fn loop_prediction(
    net: &Network,
    eq: &mut Equilibrium,
    p: &Params,
    beta: f64,
    ex: usize,
) -> Result<Vec<f64>, PhysicsError> {
    use crate::physics::statics::solve_static;
    let n = net.n_elements();
    let example = &net.examples[ex];
    let iu = ideal_update(net, eq, p, beta, example)?;
    let free = solve_static(net, eq, p, 0.0, example)?;
    let mut r = nalgebra::DMatrix::<f64>::zeros(n, n);
    for e in 0..n {
        let mut rhs = vec![0.0; eq.n_free()];
        for &(i, c) in eq.element_free_terms(e) {
            rhs[i] += c;
        }
        let sol = eq.solve_with_last_factor(net, &mut rhs);
        for f in 0..n {
            r[(f, e)] = net.elements[f].stencil.apply(&sol);
        }
    }
    let mut m = nalgebra::DMatrix::<f64>::identity(n, n);
    for (i, el) in net.elements.iter().enumerate() {
        let Some(ch) = el.channels.iter().find(|c| c.target == LearnTarget::Weight) else {
            continue;
        };
        let (_, tau) = el.static_signal(ch, 0.0, p.w[i], p.l[i]);
        let g = ch.polarity * ch.rho * tau;
        for j in 0..n {
            if net.elements[j].learns_weight() {
                m[(i, j)] += g * 2.0 * free.y[i] * r[(i, j)] * free.y[j];
            }
        }
    }
    let sol = m
        .lu()
        .solve(&nalgebra::DVector::from_vec(iu.dw.clone()))
        .ok_or_else(|| PhysicsError::Invalid("loop matrix I + πρτ·2YRY is singular".into()))?;
    Ok(sol.iter().copied().collect())
}

/// Classification accuracy on a set of examples: the predicted class is the largest free-state
/// output, the true class the largest target. NaN with fewer than two outputs or no examples.
pub fn accuracy(
    net: &Network,
    eq: &mut Equilibrium,
    p: &Params,
    examples: &[crate::physics::model::Example],
) -> Result<f64, PhysicsError> {
    if net.outputs.len() < 2 || examples.is_empty() {
        return Ok(f64::NAN);
    }
    let argmax = |v: &[f64]| {
        v.iter()
            .enumerate()
            .fold(
                (0, f64::NEG_INFINITY),
                |b, (i, &x)| if x > b.1 { (i, x) } else { b },
            )
            .0
    };
    let mut ok = 0usize;
    for ex in examples {
        let s = crate::physics::statics::solve_static(net, eq, p, 0.0, ex)?;
        if argmax(&s.o) == argmax(&ex.targets) {
            ok += 1;
        }
    }
    Ok(ok as f64 / examples.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_and_lsq() {
        assert!((cosine(&[1.0, 2.0], &[2.0, 4.0]) - 1.0).abs() < 1e-15);
        assert!((cosine(&[1.0, 0.0], &[0.0, 3.0])).abs() < 1e-15);
        let (s, o) = lsq(&[3.0, 5.0, 7.0], &[1.0, 2.0, 3.0]);
        assert!((s - 2.0).abs() < 1e-12 && (o - 1.0).abs() < 1e-12);
    }
}
