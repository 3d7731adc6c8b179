//! Rule-level checks of the EP model and of the EP and TCL-EP rules on small seeded networks.

use nalgebra::DMatrix;
use physlearn::ep::model::{cost, energy, relax, Architecture, Params, State};
use physlearn::ep::rules::{
    ep_update, tcl_update, RelaxConfig, TclRule, ThresholdRule, Thresholds, Update,
};
use physlearn::ep::task_rng;
use physlearn::ep::tcl::{Sawtooth, TclFilter};
use rand::Rng;

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (na * nb)
}

/// A small seeded problem: a 12-10-4 network with Glorot weights scaled by `scale` (larger makes
/// the hidden layer more active and saturated), random biases, random inputs in [0, 1], random
/// one-hot targets, and the free state relaxed until it no longer moves.
fn problem_scaled(seed: u64, scale: f64) -> (Params, DMatrix<f64>, DMatrix<f64>, State) {
    let arch = Architecture::new(vec![12, 10, 4]).unwrap();
    let mut rng = task_rng(seed, 0);
    let mut p = Params::glorot(&arch, &mut rng);
    for w in p.weights.iter_mut() {
        *w *= scale;
    }
    for b in p.biases.iter_mut() {
        for v in b.iter_mut() {
            *v = rng.random_range(0.0..0.3);
        }
    }
    let batch = 8;
    let x = DMatrix::from_fn(12, batch, |_, _| rng.random_range(0.0..1.0));
    let mut d = DMatrix::zeros(4, batch);
    for j in 0..batch {
        d[(rng.random_range(0..4), j)] = 1.0;
    }
    let mut free = State::zeros(&arch, batch);
    relax(&p, &x, &mut free, 200, 0.5, None);
    let mut moved = f64::INFINITY;
    for _ in 0..50 {
        let before = free.clone();
        relax(&p, &x, &mut free, 100, 0.5, None);
        moved = max_diff(&free, &before);
        if moved < 1e-13 {
            break;
        }
    }
    assert!(
        moved < 1e-13,
        "free state of seed {seed} not converged: {moved}"
    );
    (p, x, d, free)
}

fn problem(seed: u64) -> (Params, DMatrix<f64>, DMatrix<f64>, State) {
    problem_scaled(seed, 3.0)
}

fn max_diff(a: &State, b: &State) -> f64 {
    a.layers
        .iter()
        .zip(&b.layers)
        .map(|(x, y)| (x - y).amax())
        .fold(0.0, f64::max)
}

#[allow(clippy::too_many_arguments)]
fn tcl(
    p: &Params,
    x: &DMatrix<f64>,
    d: &DMatrix<f64>,
    free: &State,
    beta: f64,
    cfg: &RelaxConfig,
    tau_slow: f64,
    thresholds: ThresholdRule,
) -> Update {
    let saw = Sawtooth {
        tau_slow,
        ..Sawtooth::default()
    };
    let rule = TclRule {
        filter: TclFilter::new(saw, 0.1, 0.01).unwrap(),
        thresholds,
        gain: 1.0,
    };
    tcl_update(p, x, d, free, beta, cfg, &rule).unwrap()
}

#[test]
fn energy_decreases_monotonically_during_free_relaxation() {
    for seed in 0..4 {
        let (p, x, _, _) = problem(seed);
        let arch = p.architecture();
        // From the zero state and from a random state in the box.
        let mut rng = task_rng(seed, 9);
        let mut random = State::zeros(&arch, x.ncols());
        for m in random.layers.iter_mut() {
            m.iter_mut().for_each(|v| *v = rng.random_range(0.0..1.0));
        }
        for mut s in [State::zeros(&arch, x.ncols()), random] {
            let mut e = energy(&p, &x, &s);
            let e0 = e.sum();
            for step in 0..60 {
                relax(&p, &x, &mut s, 1, 0.5, None);
                let e1 = energy(&p, &x, &s);
                for j in 0..x.ncols() {
                    assert!(
                        e1[j] <= e[j] + 1e-12 * e[j].abs().max(1.0),
                        "seed {seed} step {step} example {j}: {} -> {}",
                        e[j],
                        e1[j]
                    );
                }
                e = e1;
            }
            assert!(e.sum() < e0 - 1e-3, "relaxation must lower the energy");
        }
    }
}

#[test]
fn ep_update_matches_finite_difference_gradient_of_the_cost() {
    // EP theorem: for β → 0, (s^β − s^0)/β → −∂⟨C(u*)⟩/∂θ, u* the free equilibrium.
    let (p, x, d, free) = problem_scaled(5, 1.5);
    let cfg = RelaxConfig {
        eps: 0.5,
        n_free: 300,
        n_nudge: 300,
    };
    let beta = 1e-5;
    let ep = ep_update(&p, &x, &d, &free, beta, &cfg).unwrap();
    let loss = |q: &Params| -> f64 {
        let mut s = free.clone();
        relax(q, &x, &mut s, 300, 0.5, None);
        cost(&s, &d).mean()
    };
    let h = 1e-5;
    let mut checked = 0;
    for (l, i, j) in [
        (0, 0, 0),
        (0, 3, 5),
        (0, 11, 9),
        (1, 2, 1),
        (1, 7, 3),
        (1, 9, 0),
    ] {
        let mut qp = p.clone();
        qp.weights[l][(i, j)] += h;
        let mut qm = p.clone();
        qm.weights[l][(i, j)] -= h;
        let fd = -(loss(&qp) - loss(&qm)) / (2.0 * h);
        let e = ep.weights[l][(i, j)];
        let scale = ep.weights[l].amax();
        assert!(
            (fd - e).abs() < 2e-3 * scale,
            "W{l}[{i},{j}]: EP {e:e} vs finite difference {fd:e} (scale {scale:e})"
        );
        checked += 1;
    }
    for (l, i) in [(0, 4), (1, 2)] {
        let mut qp = p.clone();
        qp.biases[l][i] += h;
        let mut qm = p.clone();
        qm.biases[l][i] -= h;
        let fd = -(loss(&qp) - loss(&qm)) / (2.0 * h);
        let e = ep.biases[l][i];
        assert!(
            (fd - e).abs() < 2e-3 * ep.biases[l].amax(),
            "b{l}[{i}]: EP {e:e} vs finite difference {fd:e}"
        );
        checked += 1;
    }
    assert_eq!(checked, 8);
}

#[test]
fn tcl_update_approaches_ep_update_as_the_slow_ramp_lengthens() {
    let cfg = RelaxConfig {
        eps: 0.5,
        n_free: 200,
        n_nudge: 30,
    };
    let paper = ThresholdRule::Paper { factor: 1.1 };
    for seed in 0..3 {
        let (p, x, d, free) = problem(seed);
        for beta in [0.5, -0.5] {
            let ep = ep_update(&p, &x, &d, &free, beta, &cfg).unwrap().flatten();
            let cos: Vec<f64> = [0.9, 4.9, 19.9]
                .iter()
                .map(|&ts| {
                    let t = tcl(&p, &x, &d, &free, beta, &cfg, ts, paper.clone());
                    cosine(&t.flatten(), &ep)
                })
                .collect();
            println!("seed {seed} beta {beta}: cosines at τ_s = 0.9, 4.9, 19.9: {cos:?}");
            assert!(
                cos[0] > 0.8 && cos[1] >= cos[0] - 1e-3 && cos[2] >= cos[1] - 1e-4,
                "seed {seed} beta {beta}: cosines {cos:?} must grow with τ_s"
            );
            assert!(cos[2] >= 0.99, "seed {seed} beta {beta}: cosines {cos:?}");
        }
    }
}

#[test]
fn tcl_update_with_a_too_low_threshold_misses_ep() {
    // Control for the test above: with θ well below the paper's rule, the slow relaxation passes
    // the threshold and cancels part of the rise, so the rule is not the EP rule.
    let cfg = RelaxConfig {
        eps: 0.5,
        n_free: 200,
        n_nudge: 30,
    };
    let (p, x, d, free) = problem(0);
    let ep = ep_update(&p, &x, &d, &free, 0.5, &cfg).unwrap().flatten();
    let low = ThresholdRule::Paper { factor: 0.05 };
    let t = tcl(&p, &x, &d, &free, 0.5, &cfg, 19.9, low);
    let c = cosine(&t.flatten(), &ep);
    assert!(c < 0.95, "cosine {c}");
}

#[test]
fn without_threshold_the_tcl_update_vanishes() {
    let cfg = RelaxConfig {
        eps: 0.5,
        n_free: 200,
        n_nudge: 4,
    };
    for seed in 0..3 {
        let (p, x, d, free) = problem(seed);
        let zero = ThresholdRule::Fixed(Thresholds::zero(2));
        let t = tcl(&p, &x, &d, &free, 0.5, &cfg, 0.9, zero).flatten();
        let paper = ThresholdRule::Paper { factor: 1.1 };
        let reference = tcl(&p, &x, &d, &free, 0.5, &cfg, 0.9, paper).flatten();
        let big = reference.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        let small = t.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        assert!(big > 1e-6, "reference update is {big}");
        assert!(small <= 1e-12 * big, "seed {seed}: |Δ| = {small} vs {big}");
    }
}

#[test]
fn group_filter_agrees_bit_for_bit_with_the_per_synapse_filter() {
    let f = TclFilter::new(Sawtooth::default(), 0.1, 0.01).unwrap();
    let mut rng = task_rng(3, 0);
    let n_syn = 300;
    // Level signals: a random nonlinear ramp per synapse, some constant, some tiny.
    let mut levels = vec![vec![0.0; n_syn]; 9];
    for i in 0..n_syn {
        let base: f64 = rng.random_range(0.0..1.0);
        let amp: f64 = match i % 5 {
            0 => 0.0,
            1 => 1e-7,
            _ => rng.random_range(-0.05..0.05),
        };
        let curve: f64 = rng.random_range(0.5..2.0);
        for (k, l) in levels.iter_mut().enumerate() {
            l[i] = base + amp * (k as f64 / 8.0).powf(curve);
        }
    }
    let views: Vec<&[f64]> = levels.iter().map(|l| l.as_slice()).collect();
    for theta in [0.0, 1e-5, 1e-4, 3e-4] {
        let mut out = vec![f64::NAN; n_syn];
        f.integrate_group(&views, theta, &mut out).unwrap();
        for i in 0..n_syn {
            let s: Vec<f64> = levels.iter().map(|l| l[i]).collect();
            let reference = f.integrate(&s, theta).unwrap();
            assert_eq!(
                out[i].to_bits(),
                reference.to_bits(),
                "synapse {i} θ {theta}: {} vs {reference}",
                out[i]
            );
        }
    }
}

mod filter_properties {
    use super::*;
    use proptest::prelude::*;

    fn filter() -> TclFilter {
        TclFilter::new(Sawtooth::default(), 0.1, 0.01).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Powers of two scale exactly in floating point, so the thresholded integral is
        /// exactly homogeneous: Δ(2^k s, 2^k θ) = 2^k Δ(s, θ); and odd: Δ(−s, θ) = −Δ(s, θ).
        #[test]
        fn thresholded_integral_is_homogeneous_and_odd(
            s in prop::collection::vec(-1.0f64..1.0, 9),
            theta in 0.0f64..2e-3,
            k in -20i32..20,
        ) {
            let f = filter();
            let d = f.integrate(&s, theta).unwrap();
            let lam = 2f64.powi(k);
            let scaled: Vec<f64> = s.iter().map(|v| v * lam).collect();
            prop_assert_eq!(f.integrate(&scaled, theta * lam).unwrap().to_bits(), (d * lam).to_bits());
            let neg: Vec<f64> = s.iter().map(|v| -v).collect();
            prop_assert_eq!(f.integrate(&neg, theta).unwrap(), -d);
        }

        /// Zero-area kernel: without threshold the period integral vanishes for any signal.
        #[test]
        fn unthresholded_integral_vanishes(s in prop::collection::vec(-1.0f64..1.0, 9)) {
            let f = filter();
            let scale = s.iter().fold(0.0f64, |a, v| a.max(v.abs()));
            prop_assert!(f.integrate(&s, 0.0).unwrap().abs() <= 1e-15 * scale.max(1e-300));
        }

        /// A threshold above every filtered value gives zero; `θ = 0` lets everything through.
        #[test]
        fn threshold_above_the_signal_gives_zero(s in prop::collection::vec(-1.0f64..1.0, 9)) {
            let f = filter();
            let u = f.filtered(&s);
            let top = u.iter().fold(0.0f64, |a, v| a.max(v.abs()));
            prop_assert_eq!(f.integrate(&s, top * 1.0001 + 1e-300).unwrap(), 0.0);
        }
    }
}
