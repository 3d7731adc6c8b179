//! Markov ladder (App. F) against theory: generator structure, steady state, detailed balance
//! at gamma = 1, both dissipation formulas, probability conservation, kernel normalisation.

use physlearn::synapse::ladder::{
    self, generator, steady_state, steady_state_svd, LadderKernel, LadderParams, STATES,
};
use physlearn::synapse::SynapseError;

#[test]
fn generator_conserves_probability() {
    for &(g, f, s) in &[(1.0, 25.0, 0.0), (0.01, 3.0, 200.0), (1e-9, 99.0, 17.0)] {
        let q = generator(g, f, s).unwrap();
        for j in 0..STATES {
            let col: f64 = q.column(j).sum();
            let scale: f64 = q[(j, j)].abs();
            assert!(col.abs() < 1e-12 * scale, "column {j} sums to {col}");
            for i in 0..STATES {
                if i != j {
                    assert!(q[(i, j)] >= 0.0);
                }
            }
        }
    }
}

#[test]
fn steady_state_is_the_null_vector() {
    for &g in &[1.0, 0.5, 0.1, 0.01] {
        let q = generator(g, 25.0, 0.0).unwrap();
        let p = steady_state(&q).unwrap();
        let p_svd = steady_state_svd(&q).unwrap();
        assert!((p.sum() - 1.0).abs() < 1e-14);
        assert!(p.iter().all(|v| *v > 0.0));
        let res = (&q * &p).amax();
        assert!(res < 1e-13 * q.amax(), "gamma {g}: residual {res}");
        for i in 0..STATES {
            assert!(
                (p[i] - p_svd[i]).abs() < 1e-10,
                "gamma {g} state {i}: {} vs {}",
                p[i],
                p_svd[i]
            );
        }
    }
}

#[test]
fn detailed_balance_and_zero_dissipation_at_gamma_one() {
    let q = generator(1.0, 25.0, 0.0).unwrap();
    let p = steady_state(&q).unwrap();
    for i in 0..STATES {
        for j in 0..STATES {
            let net = q[(i, j)] * p[j] - q[(j, i)] * p[i];
            assert!(net.abs() < 1e-14, "edge {i}<->{j}: net flux {net}");
        }
    }
    let d = ladder::steady_dissipation(1.0, 25.0, 0.0).unwrap();
    assert!(
        d.schnakenberg.abs() < 1e-12 && d.cycle.abs() < 1e-12,
        "{d:?}"
    );
}

#[test]
fn dissipation_grows_as_gamma_falls_and_formulas_agree() {
    let gammas: Vec<f64> = (0..=32).map(|i| 10f64.powf(-0.25 * i as f64)).collect();
    let mut prev = -1.0;
    for &g in &gammas {
        let d = ladder::steady_dissipation(g, 25.0, 0.0).unwrap();
        assert!(
            (d.schnakenberg - d.cycle).abs() <= 1e-10 * d.schnakenberg.abs().max(1e-300) + 1e-14,
            "gamma {g}: {d:?}"
        );
        assert!(
            d.schnakenberg > prev,
            "gamma {g}: {} not above {prev}",
            d.schnakenberg
        );
        prev = d.schnakenberg;
    }
    // Asymptote: sigma ~ 2 (sum of cycle currents -> 0.4841) ln(1/gamma).
    let s = |g: f64| {
        ladder::steady_dissipation(g, 25.0, 0.0)
            .unwrap()
            .schnakenberg
    };
    let slope = (s(1e-8) - s(1e-6)) / (2.0 * 10f64.ln());
    assert!((slope - 0.968).abs() < 2e-3, "slope {slope}");
    // Also away from s = 0 and F = 25.
    let d = ladder::steady_dissipation(0.03, 7.0, 150.0).unwrap();
    assert!((d.schnakenberg - d.cycle).abs() < 1e-10 * d.schnakenberg);
}

#[test]
fn ladder_kernel_normalisation_and_conservation() {
    let mut p = LadderParams::new(0.01);
    p.dt = 5e-3; // coarse grid for the test budget; area and moments are exact on any grid
    let lk = LadderKernel::compute(&p).unwrap();
    assert!(
        lk.max_probability_error < 1e-10,
        "{}",
        lk.max_probability_error
    );
    assert!(
        (lk.first_moment + 1.0).abs() < 1e-12,
        "adapting kernel: M1 {}",
        lk.first_moment
    );
    // Area identity of section 3.3: I = -lambda (a_end - a_0) / |M1_raw(Markov time)|.
    let a = &lk.activity;
    let m1_markov = lk.raw_first_moment * p.compression * p.compression;
    let expected = -p.compression * (a[a.len() - 1] - a[0]) / m1_markov.abs();
    assert!(
        (lk.area - expected).abs() < 1e-10 * expected.abs(),
        "{} vs {expected}",
        lk.area
    );
    // Equilibrium kernels do not adapt: normalised first moment is +1.
    let mut p1 = LadderParams::new(1.0);
    p1.dt = 5e-3;
    let l1 = LadderKernel::compute(&p1).unwrap();
    assert!((l1.first_moment - 1.0).abs() < 1e-12);
    assert!(l1.dissipation.schnakenberg.abs() < 1e-12);
}

#[test]
fn kernel_area_falls_as_dissipation_grows() {
    let area = |g: f64| {
        let mut p = LadderParams::new(g);
        p.dt = 5e-3;
        LadderKernel::compute(&p).unwrap().area
    };
    let a: Vec<f64> = [0.1, 0.01, 1e-3, 1e-5].iter().map(|&g| area(g)).collect();
    assert!(a.windows(2).all(|w| w[1] < w[0]), "{a:?}");
}

#[test]
fn invalid_ladder_parameters_are_typed_errors() {
    for (g, f, step) in [
        (0.0, 25.0, 200.0),
        (-1.0, 25.0, 200.0),
        (0.5, -2.0, 200.0),
        (0.5, 25.0, -1.0),
    ] {
        let mut p = LadderParams::new(g);
        p.f = f;
        p.s_step = step;
        assert!(
            matches!(
                LadderKernel::compute(&p),
                Err(SynapseError::InvalidParameter { .. })
            ),
            "gamma {g} F {f} step {step}"
        );
    }
    let mut p = LadderParams::new(0.5);
    p.s_step = 0.0;
    assert!(matches!(
        LadderKernel::compute(&p),
        Err(SynapseError::InvalidParameter { name: "step", .. })
    ));
}
