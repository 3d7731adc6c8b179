//! Rule-level checks of EP and TCL-EP on small seeded networks.

use nalgebra::DMatrix;
use physlearn::ep::model::{energy, relax, Architecture, Params, State};
use physlearn::ep::rules::{ep_update, tcl_update, RelaxConfig, TclRule, ThresholdRule, Update};
use physlearn::ep::task_rng;
use physlearn::ep::tcl::{Sawtooth, TclFilter};
use rand::Rng;

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (na * nb)
}

/// A small seeded problem: a 12-10-4 network with weights scaled up so that the hidden layer is
/// active, random inputs in [0, 1], random one-hot targets, and its converged free state.
fn problem(seed: u64) -> (Params, DMatrix<f64>, DMatrix<f64>, State) {
    let arch = Architecture::new(vec![12, 10, 4]).unwrap();
    let mut rng = task_rng(seed, 0);
    let mut p = Params::glorot(&arch, &mut rng);
    for w in p.weights.iter_mut() {
        *w *= 3.0;
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
    (p, x, d, free)
}

fn tcl_with_paper_threshold(
    p: &Params,
    x: &DMatrix<f64>,
    d: &DMatrix<f64>,
    free: &State,
    beta: f64,
    cfg: &RelaxConfig,
    tau_slow: f64,
    factor: f64,
) -> Update {
    let saw = Sawtooth {
        tau_slow,
        ..Sawtooth::default()
    };
    let filter = TclFilter::new(saw, 0.1, 0.01).unwrap();
    let rule = TclRule {
        filter,
        thresholds: ThresholdRule::Paper { factor },
        gain: 1.0,
    };
    tcl_update(p, x, d, free, beta, cfg, &rule).unwrap()
}

#[test]
fn diag() {
    let cfg = RelaxConfig {
        eps: 0.5,
        n_free: 200,
        n_nudge: 30,
    };
    for seed in 0..3 {
        let (p, x, d, free) = problem(seed);
        for beta in [0.5, 0.1, 0.02] {
            let ep = ep_update(&p, &x, &d, &free, beta, &cfg).unwrap();
            for ts in [0.9, 4.9, 19.9] {
                for f in [1.0, 1.1] {
                    let t = tcl_with_paper_threshold(&p, &x, &d, &free, beta, &cfg, ts, f);
                    let c = cosine(&t.flatten(), &ep.flatten());
                    let cw: Vec<f64> = (0..2)
                        .map(|l| cosine(t.weights[l].as_slice(), ep.weights[l].as_slice()))
                        .collect();
                    println!("seed {seed} beta {beta} ts {ts} f {f}: cos {c:.4} per-layer {cw:?}");
                }
            }
        }
    }
    let _ = energy;
}

#[test]
fn diag2() {
    use physlearn::ep::rules::{hebbian, nudged_state};
    let cfg = RelaxConfig {
        eps: 0.5,
        n_free: 200,
        n_nudge: 30,
    };
    let (p, x, d, free) = problem(0);
    let beta = 0.02;
    let ep = ep_update(&p, &x, &d, &free, beta, &cfg).unwrap();
    let t = tcl_with_paper_threshold(&p, &x, &d, &free, beta, &cfg, 19.9, 1.1);
    let mut free2 = free.clone();
    relax(&p, &x, &mut free2, 30, 0.5, None);
    let diff: f64 = free2
        .layers
        .iter()
        .zip(&free.layers)
        .map(|(a, b)| (a - b).amax())
        .fold(0.0, f64::max);
    println!("free not converged by {diff:e}");
    let levels: Vec<_> = (0..9)
        .map(|k| {
            hebbian(
                &x,
                &nudged_state(&p, &x, &d, &free, beta * k as f64 / 8.0, &cfg),
            )
        })
        .collect();
    let scale = ep.weights[1].amax() / t.weights[1].amax();
    for l in 0..2 {
        for i in 0..ep.weights[l].len() {
            let e = ep.weights[l].as_slice()[i];
            let tt = t.weights[l].as_slice()[i] * scale;
            if (e - tt).abs() > 0.2 * ep.weights[l].amax() {
                let s: Vec<String> = levels
                    .iter()
                    .map(|(w, _)| {
                        format!("{:.3e}", w[l].as_slice()[i] - levels[0].0[l].as_slice()[i])
                    })
                    .collect();
                println!("l {l} i {i}: ep {e:.3e} tcl {tt:.3e} s {s:?}");
            }
        }
        println!("layer {l} amax ep {:e}", ep.weights[l].amax());
    }
}
