//! Allocation-free Dormand–Prince 5(4) on plain slices: the hot-path integrator of
//! [`super::dynamics::Dynamics`].
//!
//! It is ode_solvers' `Dopri5` (the same tableau, the same order of floating-point operations,
//! the same PI step-size controller `h_new = h / clamp(err^α · err_old^(−β) / safety, 1/fac_max,
//! 1/fac_min)` with `α = 0.2 − 0.75 β`, the same last-step rule, rejection counting and
//! stiffness detection), without its per-stage vector allocations, without dense output and
//! without storing every accepted step: the caller decides what to keep in `on_accept`. The test
//! `own_dopri5_reproduces_ode_solvers` checks the trajectory against ode_solvers' bit for bit.

use ode_solvers::dop_shared::IntegrationError;

/// Controller and limits (ode_solvers' `Dopri5::from_param` arguments).
#[derive(Copy, Clone, Debug)]
pub struct Dopri5Options {
    pub rtol: f64,
    pub atol: f64,
    /// Initial step (> 0).
    pub h_init: f64,
    pub h_max: f64,
    pub safety: f64,
    /// β of the PI controller.
    pub beta: f64,
    pub fac_min: f64,
    pub fac_max: f64,
    /// Step limit.
    pub max_steps: u32,
    /// Stiffness test every `n_stiff` accepted steps (`u32::MAX`: never).
    pub n_stiff: u32,
    /// Trailing components that are pure quadratures (`v' = P(t, x)`, never fed back): left out
    /// of the error norm and the stiffness test, so the other components follow the same steps
    /// as without them (energy accounting).
    pub n_quad: usize,
}

/// Counters of one integration.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Dopri5Stats {
    pub rhs_evals: u64,
    pub accepted_steps: u64,
    pub rejected_steps: u64,
}

/// The seven stage vectors and two state-sized scratch vectors, reused across calls.
#[derive(Clone, Debug, Default)]
pub struct Dopri5Work {
    k: [Vec<f64>; 7],
    y_next: Vec<f64>,
    y_stiff: Vec<f64>,
}

const A: [[f64; 6]; 6] = [
    [1.0 / 5.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [3.0 / 40.0, 9.0 / 40.0, 0.0, 0.0, 0.0, 0.0],
    [44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0, 0.0, 0.0, 0.0],
    [
        19372.0 / 6561.0,
        -25360.0 / 2187.0,
        64448.0 / 6561.0,
        -212.0 / 729.0,
        0.0,
        0.0,
    ],
    [
        9017.0 / 3168.0,
        -355.0 / 33.0,
        46732.0 / 5247.0,
        49.0 / 176.0,
        -5103.0 / 18656.0,
        0.0,
    ],
    [
        35.0 / 384.0,
        0.0,
        500.0 / 1113.0,
        125.0 / 192.0,
        -2187.0 / 6784.0,
        11.0 / 84.0,
    ],
];
const C: [f64; 7] = [0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0, 1.0];
const E: [f64; 7] = [
    71.0 / 57600.0,
    0.0,
    -71.0 / 16695.0,
    71.0 / 1920.0,
    -17253.0 / 339200.0,
    22.0 / 525.0,
    -1.0 / 40.0,
];
const STIFF_THRESHOLD: f64 = 3.25;
const MAX_STIFF_ITERATIONS: u32 = 15;
const NON_STIFF_RESET_COUNT: u32 = 6;

/// `y_next = y + Σ_{j<s} (k_j h) a_sj`, summed left to right (ode_solvers' order), with one
/// straight loop per stage count so that it vectorises.
fn stage(s: usize, h: f64, y: &[f64], k: &[Vec<f64>], y_next: &mut [f64]) {
    let a = &A[s - 1];
    let n = y.len();
    let y = &y[..n];
    let y_next = &mut y_next[..n];
    let kk = |j: usize| &k[j][..n];
    match s {
        1 => {
            let k0 = kk(0);
            for i in 0..n {
                y_next[i] = y[i] + k0[i] * h * a[0];
            }
        }
        2 => {
            let (k0, k1) = (kk(0), kk(1));
            for i in 0..n {
                y_next[i] = y[i] + k0[i] * h * a[0] + k1[i] * h * a[1];
            }
        }
        3 => {
            let (k0, k1, k2) = (kk(0), kk(1), kk(2));
            for i in 0..n {
                y_next[i] = y[i] + k0[i] * h * a[0] + k1[i] * h * a[1] + k2[i] * h * a[2];
            }
        }
        4 => {
            let (k0, k1, k2, k3) = (kk(0), kk(1), kk(2), kk(3));
            for i in 0..n {
                y_next[i] = y[i]
                    + k0[i] * h * a[0]
                    + k1[i] * h * a[1]
                    + k2[i] * h * a[2]
                    + k3[i] * h * a[3];
            }
        }
        5 => {
            let (k0, k1, k2, k3, k4) = (kk(0), kk(1), kk(2), kk(3), kk(4));
            for i in 0..n {
                y_next[i] = y[i]
                    + k0[i] * h * a[0]
                    + k1[i] * h * a[1]
                    + k2[i] * h * a[2]
                    + k3[i] * h * a[3]
                    + k4[i] * h * a[4];
            }
        }
        _ => {
            let (k0, k1, k2, k3, k4, k5) = (kk(0), kk(1), kk(2), kk(3), kk(4), kk(5));
            for i in 0..n {
                y_next[i] = y[i]
                    + k0[i] * h * a[0]
                    + k1[i] * h * a[1]
                    + k2[i] * h * a[2]
                    + k3[i] * h * a[3]
                    + k4[i] * h * a[4]
                    + k5[i] * h * a[5];
            }
        }
    }
}

/// Integrate `y' = f(x, y)` from `x0` to `x_end` (> x0) in place. `on_accept(x, y)` is called
/// after every accepted step and stops the integration (successfully, at that point) by
/// returning `true`. Returns the counters and the time reached.
pub fn integrate<F, O>(
    mut f: F,
    x0: f64,
    x_end: f64,
    y: &mut [f64],
    opt: &Dopri5Options,
    work: &mut Dopri5Work,
    mut on_accept: O,
) -> (Result<Dopri5Stats, IntegrationError>, f64)
where
    F: FnMut(f64, &[f64], &mut [f64]),
    O: FnMut(f64, &[f64]) -> bool,
{
    let dim = y.len();
    let n_err = dim - opt.n_quad.min(dim);
    for k in work.k.iter_mut() {
        k.resize(dim, 0.0);
    }
    work.y_next.resize(dim, 0.0);
    work.y_stiff.resize(dim, 0.0);
    let Dopri5Work { k, y_next, y_stiff } = work;
    let mut stats = Dopri5Stats::default();
    let posneg = if x_end - x0 >= 0.0 { 1.0 } else { -1.0 };
    let mut x = x0;
    let mut h = opt.h_init;
    // Controller state.
    let alpha = 0.2 - opt.beta * 0.75;
    let facc1 = 1.0 / opt.fac_min;
    let facc2 = 1.0 / opt.fac_max;
    let h_max = opt.h_max.abs();
    let mut fac_old: f64 = 1.0e-4;
    let mut reject = false;
    let mut accepted: u32 = 0;
    let mut n_step: u32 = 0;
    let mut last = false;
    let mut non_stiff = 0;
    let mut iasti = 0;

    f(x, y, &mut k[0]);
    stats.rhs_evals += 1;
    while !last {
        if n_step > opt.max_steps {
            return (Err(IntegrationError::MaxNumStepReached { x, n_step }), x);
        }
        if 0.1 * h.abs() <= f64::EPSILON * x.abs() {
            return (Err(IntegrationError::StepSizeUnderflow { x }), x);
        }
        if (x + 1.01 * h - x_end) * posneg > 0.0 {
            h = x_end - x;
            last = true;
        }
        n_step += 1;
        for (s, &c) in C.iter().enumerate().skip(1) {
            {
                let (done, rest) = k.split_at_mut(s);
                stage(s, h, y, done, y_next);
                f(x + h * c, y_next, &mut rest[0]);
            }
            if s == 5 {
                y_stiff.copy_from_slice(y_next);
            }
        }
        k.swap(1, 6);
        stats.rhs_evals += 6;
        // Error estimate (k[1] now holds the FSAL stage).
        let mut err = 0.0;
        for i in 0..n_err {
            let est = (k[0][i] * E[0]
                + k[2][i] * E[2]
                + k[3][i] * E[3]
                + k[4][i] * E[4]
                + k[5][i] * E[5]
                + k[1][i] * E[6])
                * h;
            let sc = opt.atol + y[i].abs().max(y_next[i].abs()) * opt.rtol;
            err += (est / sc) * (est / sc);
        }
        err = (err / n_err.max(1) as f64).sqrt();
        // PI controller.
        let fac11 = err.powf(alpha);
        let mut fac = fac11 * fac_old.powf(-opt.beta);
        fac = facc2.max(facc1.min(fac / opt.safety));
        let mut h_new = h / fac;
        if err <= 1.0 {
            fac_old = err.max(1.0e-4);
            if h_new.abs() > h_max {
                h_new = posneg * h_max;
            }
            if reject {
                h_new = posneg * h_new.abs().min(h.abs());
            }
            reject = false;
            accepted += 1;
            stats.accepted_steps += 1;
            if accepted.is_multiple_of(opt.n_stiff) || iasti > 0 {
                let mut num = 0.0;
                let mut den = 0.0;
                for i in 0..n_err {
                    let a = k[1][i] - k[5][i];
                    let b = y_next[i] - y_stiff[i];
                    num += a * a;
                    den += b * b;
                }
                let h_lamb = if den > 0.0 {
                    h * (num / den).sqrt()
                } else {
                    0.0
                };
                if h_lamb > STIFF_THRESHOLD {
                    iasti += 1;
                    non_stiff = 0;
                    if iasti == MAX_STIFF_ITERATIONS {
                        return (Err(IntegrationError::StiffnessDetected { x }), x);
                    }
                } else {
                    non_stiff += 1;
                    if non_stiff == NON_STIFF_RESET_COUNT {
                        iasti = 0;
                    }
                }
            }
            k.swap(0, 1);
            y.copy_from_slice(y_next);
            x += h;
            if on_accept(x, y) {
                last = true;
            }
            if last {
                return (Ok(stats), x);
            }
        } else {
            h_new = h / facc1.min(fac11 / opt.safety);
            reject = true;
            last = false;
            if stats.accepted_steps >= 1 {
                stats.rejected_steps += 1;
            }
        }
        h = h_new;
    }
    (Ok(stats), x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::DVector;
    use ode_solvers::dop_shared::OutputType;
    use ode_solvers::{Dopri5, System};

    /// A nonlinear test system: damped oscillator + logistic + a kinked (dead-zone) term.
    fn rhs(x: f64, y: &[f64], dy: &mut [f64]) {
        dy[0] = y[1];
        dy[1] = -y[0] - 0.1 * y[1] + (3.0 * x).sin();
        dy[2] = 2.0 * y[2] * (1.0 - y[2]);
        let v = y[0] - y[2];
        dy[3] = v.signum() * (v.abs() - 0.05).max(0.0);
    }

    struct Sys;
    impl System<f64, DVector<f64>> for Sys {
        fn system(&self, x: f64, y: &DVector<f64>, dy: &mut DVector<f64>) {
            rhs(x, y.as_slice(), dy.as_mut_slice());
        }
    }

    fn opt(rtol: f64) -> Dopri5Options {
        Dopri5Options {
            rtol,
            atol: 1e-9,
            h_init: 0.01,
            h_max: 3.0,
            safety: 0.9,
            beta: 0.04,
            fac_min: 0.2,
            fac_max: 10.0,
            max_steps: 100_000,
            n_stiff: 1000,
            n_quad: 0,
        }
    }

    /// Same steps, same counters and the same states as ode_solvers' Dopri5, bit for bit.
    #[test]
    fn own_dopri5_reproduces_ode_solvers() {
        for rtol in [1e-3, 1e-6, 1e-9] {
            let y0 = vec![1.0, 0.0, 0.01, 0.5];
            let o = opt(rtol);
            let mut st = Dopri5::from_param(
                Sys,
                0.0,
                20.0,
                20.0,
                DVector::from_vec(y0.clone()),
                o.rtol,
                o.atol,
                o.safety,
                o.beta,
                o.fac_min,
                o.fac_max,
                o.h_max,
                o.h_init,
                o.max_steps,
                o.n_stiff,
                OutputType::Sparse,
            );
            let ref_stats = st.integrate().unwrap();
            let (ref_x, ref_y) = (st.x_out().clone(), st.y_out().clone());
            let mut y = y0.clone();
            let mut work = Dopri5Work::default();
            let mut xs = vec![0.0];
            let mut ys = vec![y0.clone()];
            let (res, x_end) = integrate(rhs, 0.0, 20.0, &mut y, &o, &mut work, |x, y| {
                xs.push(x);
                ys.push(y.to_vec());
                false
            });
            let s = res.unwrap();
            assert_eq!(x_end, 20.0);
            assert_eq!(s.accepted_steps, ref_stats.accepted_steps as u64);
            assert_eq!(s.rejected_steps, ref_stats.rejected_steps as u64);
            assert_eq!(s.rhs_evals, ref_stats.num_eval as u64);
            assert_eq!(xs, ref_x, "rtol {rtol}: step times");
            for (a, b) in ys.iter().zip(&ref_y) {
                assert_eq!(a.as_slice(), b.as_slice(), "rtol {rtol}: states");
            }
            assert!(s.rejected_steps > 0 || rtol < 1e-3 || s.accepted_steps > 10);
        }
    }

    /// Exponential decay: the end value within the tolerance of the exact solution.
    #[test]
    fn decay_matches_the_exact_solution() {
        let mut y = vec![1.0];
        let mut work = Dopri5Work::default();
        let (res, _) = integrate(
            |_, y: &[f64], dy: &mut [f64]| dy[0] = -2.0 * y[0],
            0.0,
            3.0,
            &mut y,
            &opt(1e-8),
            &mut work,
            |_, _| false,
        );
        res.unwrap();
        assert!((y[0] - (-6.0f64).exp()).abs() < 1e-8, "{}", y[0]);
    }

    #[test]
    fn step_limit_is_reported() {
        let mut y = vec![1.0];
        let mut work = Dopri5Work::default();
        let mut o = opt(1e-10);
        o.max_steps = 3;
        let (res, _) = integrate(
            |x: f64, _: &[f64], dy: &mut [f64]| dy[0] = (50.0 * x).sin(),
            0.0,
            10.0,
            &mut y,
            &o,
            &mut work,
            |_, _| false,
        );
        assert!(matches!(
            res,
            Err(IntegrationError::MaxNumStepReached { .. })
        ));
    }
}
