//! Synapse lab against theory: kernel moments, the ramp identity (eq. 24), the contrastive
//! window (eqs. 8-9), the area offset (eq. 10), the ramp-length requirement (Fig. 8), the
//! piecewise-linear fit and sweep sharding.

use physlearn::synapse::analysis::{fit_three_segments, pwlf_metrics, threshold_metrics};
use physlearn::synapse::figures::{self, FigureId, FigureOptions};
use physlearn::synapse::kernel::{EcoliCoefficients, IntegralFeedback, KernelSpec, SampledKernel};
use physlearn::synapse::protocol::{
    adaptive_threshold, amplitude_grid, Sawtooth, SawtoothResponse, Threshold,
};
use physlearn::synapse::sweep::{run_sweep, task_rng, Shard, Table};
use physlearn::synapse::SynapseError;
use rand::Rng;

const TAU_K: f64 = 0.05;

fn ecoli(area: f64, dt: f64) -> SampledKernel {
    KernelSpec::Ecoli { tau_k: TAU_K, area }.sample(dt).unwrap()
}

#[test]
fn ecoli_kernel_area_and_first_moment() {
    for &tau_k in &[0.05, 0.2] {
        for &area in &[0.0, 0.05, 0.5, -0.2, 2.0] {
            let k = KernelSpec::Ecoli { tau_k, area }.sample(1e-4).unwrap();
            assert!(
                (k.area() - area).abs() < 1e-6,
                "tau_k {tau_k} I {area}: area {}",
                k.area()
            );
            assert!(
                (k.first_moment() + 1.0).abs() < 1e-6,
                "tau_k {tau_k} I {area}: M1 {}",
                k.first_moment()
            );
        }
    }
}

#[test]
fn ecoli_kernel_landmarks() {
    // App. C: with I = 0, K = d/dt[(b^3/2) t^2 e^{-bt}]: zero crossing at 2/b, peak at
    // (2 - sqrt 2)/b, minimum at (2 + sqrt 2)/b.
    let co = EcoliCoefficients::new(TAU_K, 0.0).unwrap();
    let b = 20.0;
    assert!(co.eval(2.0 / b).abs() < 1e-9);
    let d = |t: f64| (co.eval(t + 1e-7) - co.eval(t - 1e-7)) / 2e-7;
    assert!(d((2.0 - 2f64.sqrt()) / b).abs() < 1e-3);
    assert!(d((2.0 + 2f64.sqrt()) / b).abs() < 1e-3);
    assert!((co.eval((2.0 - 2f64.sqrt()) / b) - 92.23).abs() < 0.01);
    assert!(EcoliCoefficients::new(TAU_K, -10.0).is_err());
}

#[test]
fn integral_feedback_kernel_moments() {
    // Perfect adaptation: area 0, M1 = -tau_x exactly (eqs. 14-15), overdamped and underdamped.
    for &(tau_u, tau_x) in &[(0.005, 0.05), (0.02, 0.05), (0.05, 0.1)] {
        let ifb = IntegralFeedback::new(tau_u, tau_x, 0.0).unwrap();
        let n = (30.0 / ifb.slowest_rate() / 1e-4).ceil() as usize;
        let dt = 1e-4;
        let raw = ifb.sample_raw(dt, n).unwrap();
        assert!(raw.area().abs() < 1e-9, "area {}", raw.area());
        // The piecewise-constant (cell-average) kernel's first moment exceeds the continuous
        // one by dt^2 K(0)/12 (Euler-Maclaurin), K(0) = 1/tau_u for the raw response.
        let shift = dt * dt / (12.0 * tau_u);
        let err = raw.first_moment() + tau_x - shift;
        assert!(
            err.abs() < 1e-3 * shift,
            "M1 {} (tau_x {tau_x}, shift {shift})",
            raw.first_moment()
        );
    }
    // Leaky integrator: normalised kernel with the requested area and M1 = -1.
    for &area in &[0.0, 0.05, 0.3] {
        let k = KernelSpec::IntegralFeedback {
            tau_u: 0.005,
            tau_x: 0.05,
            area,
        }
        .sample(1e-4)
        .unwrap();
        assert!(
            (k.area() - area).abs() < 1e-6,
            "area {} vs {area}",
            k.area()
        );
        assert!(
            (k.first_moment() + 1.0).abs() < 1e-6,
            "M1 {}",
            k.first_moment()
        );
    }
    // Overdamped closed form (section 5): K = (p+ e^{p+ t} - p- e^{p- t}) / (tau_u (p+ - p-)).
    let (tu, tx): (f64, f64) = (0.005, 0.05);
    let disc = (tx * tx - 4.0 * tu * tx).sqrt();
    let pp = (-tx + disc) / (2.0 * tu * tx);
    let pm = (-tx - disc) / (2.0 * tu * tx);
    let exact = |t: f64| (pp * (pp * t).exp() - pm * (pm * t).exp()) / (tu * (pp - pm));
    let dt = 1e-5;
    let raw = IntegralFeedback::new(tu, tx, 0.0)
        .unwrap()
        .sample_raw(dt, 3000)
        .unwrap();
    for &k in &[0usize, 10, 500, 2999] {
        let t = (k as f64 + 0.5) * dt;
        let v = raw.values()[k];
        assert!(
            (v - exact(t)).abs() < 1e-4 * exact(0.0),
            "t {t}: {v} vs {}",
            exact(t)
        );
    }
}

#[test]
fn exponential_kernel_moments() {
    let k = KernelSpec::Exponential {
        tau_k: 0.1,
        area: 2.0,
    }
    .sample(1e-4)
    .unwrap();
    assert!((k.area() - 2.0).abs() < 1e-6);
    assert!((k.first_moment() - 2.0 * 0.1).abs() < 1e-6);
}

#[test]
fn resampling_keeps_the_area() {
    let k = ecoli(0.05, 1e-4);
    for &dt in &[3.3e-4, 1e-3, 2.5e-3] {
        let r = k.resample(dt).unwrap();
        assert!((r.area() - k.area()).abs() < 1e-12);
        assert!((r.first_moment() - k.first_moment()).abs() < 1e-3);
    }
}

#[test]
fn sampled_kernel_rejects_bad_input() {
    assert!(matches!(
        SampledKernel::new(0.0, vec![1.0]),
        Err(SynapseError::InvalidParameter { name: "dt", .. })
    ));
    assert!(SampledKernel::new(1e-3, vec![]).is_err());
    assert!(SampledKernel::new(1e-3, vec![1.0, f64::NAN]).is_err());
    assert!(Sawtooth::new(-1.0, 2.0).is_err());
    assert!(Sawtooth::new(1.0, f64::INFINITY).is_err());
}

#[test]
fn convolution_of_a_ramp_is_i_s_minus_m1_ds_dt() {
    // Eq. 24: away from the corners (by more than the kernel support) the filtered sawtooth is
    // exactly I s(t) - M1 ds/dt for the piecewise-constant kernel.
    let dt = 1e-3;
    for &area in &[0.0, 0.05, -0.1] {
        let k = ecoli(area, dt);
        let (i, m1, support) = (k.area(), k.first_moment(), k.support());
        let saw = Sawtooth::new(3.0, 10.0).unwrap();
        let resp = SawtoothResponse::new(&k, saw).unwrap();
        let (s0, amp) = (4.0, 6.0);
        let u = resp.filtered(s0, amp);
        let mut checked = 0;
        for (n, t) in resp.times().into_iter().enumerate() {
            let tm = t + 0.5 * dt;
            let slope = if tm > support && tm < 3.0 - dt {
                amp / 3.0
            } else if tm > 3.0 + support && tm < 13.0 - dt {
                -amp / 10.0
            } else {
                continue;
            };
            let expected = i * saw.signal(tm, s0, amp) - m1 * slope;
            assert!(
                (u[n] - expected).abs() < 1e-9,
                "t {tm}: {} vs {expected}",
                u[n]
            );
            checked += 1;
        }
        assert!(checked > 9000);
    }
}

#[test]
fn fast_delta_w_equals_direct_sum() {
    let k = ecoli(0.05, 1e-3);
    let resp = SawtoothResponse::new(&k, Sawtooth::new(0.7, 5.3).unwrap()).unwrap();
    let mut rng = task_rng(7, 0);
    for _ in 0..200 {
        let s0 = rng.random_range(-30.0..30.0);
        let a = rng.random_range(-120.0..120.0);
        let theta = if rng.random::<f64>() < 0.1 {
            0.0
        } else {
            rng.random_range(0.0..40.0)
        };
        let fast = resp.delta_w(s0, a, theta).unwrap();
        let direct = resp.delta_w_direct(s0, a, theta);
        assert!(
            (fast - direct).abs() < 1e-9 * (1.0 + direct.abs()),
            "s0 {s0} A {a} theta {theta}: {fast} vs {direct}"
        );
    }
    assert_eq!(physlearn::learning::rule::hard_threshold(0.5, 0.5), 0.5);
    assert_eq!(physlearn::learning::rule::hard_threshold(-0.49, 0.5), 0.0);
}

#[test]
fn zero_area_gives_slope_one_inside_the_window() {
    // Eqs. 8-9 with tau_f = 40 tau_K: dw = A between A_min = theta tau_f and A_max = theta tau_s.
    let k = ecoli(0.0, 1e-3);
    let (tau_f, tau_s, a_max) = (2.0, 20.0, 100.0);
    let saw = Sawtooth::new(tau_f, tau_s).unwrap();
    let resp = SawtoothResponse::new(&k, saw).unwrap();
    let theta = Threshold::Adaptive.resolve(a_max, &saw, 0.0, 0.0).unwrap();
    assert!((theta - a_max / tau_s).abs() < 1e-12);
    assert!(resp.delta_w(0.0, 13.0, theta).unwrap() > 0.9 * 13.0);
    for &a in &[20.0, 50.0, 90.0, 99.0] {
        let dw = resp.delta_w(0.0, a, theta).unwrap();
        // Losses come from the threshold crossings at the ends of the rise (~tau_K/tau_f).
        let tol = if a < 50.0 { 0.05 } else { 0.03 };
        assert!((dw / a - 1.0).abs() < tol, "A {a}: dw {dw}");
    }
    for &a in &[0.0, 5.0, 9.0] {
        assert_eq!(
            resp.delta_w(0.0, a, theta).unwrap(),
            0.0,
            "A {a} below A_min"
        );
    }
    // Above A_max the relaxation also passes the threshold and cancels the rise.
    assert!(resp.delta_w(0.0, 110.0, theta).unwrap().abs() < 0.05 * 110.0);
}

#[test]
fn dynamic_range_approaches_tau_s_over_tau_f() {
    // Fig. 4C: A_max/A_min -> tau_s/tau_f as tau_f/tau_K grows (3-segment fit, section 3.4).
    let k = ecoli(0.0, 1e-3);
    let a_max = 100.0;
    let amps = amplitude_grid(0.75 * a_max, 400);
    let x: Vec<f64> = amps.iter().map(|a| a / a_max).collect();
    let mut errors = Vec::new();
    for &tau_f in &[0.15, 0.5, 2.0] {
        let tau_s = 8.0 * tau_f;
        let resp = SawtoothResponse::new(&k, Sawtooth::new(tau_f, tau_s).unwrap()).unwrap();
        let y: Vec<f64> = resp
            .curve(0.0, &amps, a_max / tau_s)
            .unwrap()
            .iter()
            .map(|d| d / a_max)
            .collect();
        let (m, _) = pwlf_metrics(&x, &y).unwrap();
        assert!(m.responsive);
        errors.push((m.dynamic_range / 8.0 - 1.0).abs());
        if tau_f == 2.0 {
            assert!(
                (m.slope - 1.0).abs() < 0.05,
                "tau_f {tau_f}: slope {}",
                m.slope
            );
        }
    }
    assert!(errors[0] > errors[1] && errors[1] > errors[2], "{errors:?}");
    assert!(errors[2] < 0.05, "{errors:?}");
}

#[test]
fn area_offset_is_i_s0_tau_f() {
    // Eq. 10: dw = A + I s0 tau_f for small I and tau_f >> tau_K. Compare with the I = 0 kernel
    // at the same A; the relative correction (from the asymmetric threshold crossings at the
    // ends of the rise, ~ I s_C tau_K) must fall like 1/tau_f.
    let s0 = 25.0;
    for &area in &[0.005, 0.02] {
        for &a in &[30.0, 60.0] {
            let mut rel = Vec::new();
            for &tau_f in &[1.0, 2.0, 4.0, 8.0] {
                let tau_s = 10.0 * tau_f;
                let theta = 100.0 / tau_s;
                let saw = Sawtooth::new(tau_f, tau_s).unwrap();
                let r0 = SawtoothResponse::new(&ecoli(0.0, 1e-3), saw).unwrap();
                let r1 = SawtoothResponse::new(&ecoli(area, 1e-3), saw).unwrap();
                let off = r1.delta_w(s0, a, theta).unwrap() - r0.delta_w(s0, a, theta).unwrap();
                rel.push(off / (area * s0 * tau_f) - 1.0);
            }
            assert!(rel.iter().all(|r| *r > 0.0), "I {area} A {a}: {rel:?}");
            assert!(
                rel.windows(2).all(|w| w[1] < 0.75 * w[0]),
                "I {area} A {a}: {rel:?}"
            );
            assert!(rel[3] < 0.1, "I {area} A {a}: {rel:?}");
        }
    }
}

#[test]
fn ramp_must_outlast_the_kernel() {
    // Fig. 8: period 20, A = 20, theta = (A/20 + A/tau_f)/2.
    let k = ecoli(0.0, 1e-3);
    let ratio = |tau_f: f64| {
        let resp = SawtoothResponse::new(&k, Sawtooth::new(tau_f, 20.0 - tau_f).unwrap()).unwrap();
        let theta = 0.5 * (20.0 / 20.0 + 20.0 / tau_f);
        resp.delta_w(0.0, 20.0, theta).unwrap() / 20.0
    };
    assert_eq!(ratio(0.05), 0.0);
    assert_eq!(ratio(0.1), 0.0, "two kernel timescales");
    let taus = [0.2, 0.5, 1.0, 2.0, 4.0, 8.0];
    let r: Vec<f64> = taus.iter().map(|&t| ratio(t)).collect();
    assert!(r.windows(2).all(|w| w[1] > w[0]), "{r:?}");
    assert!(r[5] > 0.97 && r[5] <= 1.0, "{r:?}");
}

#[test]
fn adaptive_threshold_matches_relaxation_start() {
    // Eq. 45 is the filtered signal at the start of the relaxation for A = A_max.
    let (area, s0, a_max, tau_f, tau_s) = (0.05, 10.0, 50.0, 3.0, 15.0);
    let theta = adaptive_threshold(a_max, tau_s, area, s0);
    assert!((theta - (-a_max / tau_s + area * (s0 + a_max / 2.0)).abs()).abs() < 1e-15);
    let k = ecoli(area, 1e-3);
    let resp = SawtoothResponse::new(&k, Sawtooth::new(tau_f, tau_s).unwrap()).unwrap();
    let u = resp.filtered(s0, a_max);
    // Just after the corner plus the kernel support (1.5): I s - A/tau_s, s = s_C - A t/tau_s.
    let n = ((tau_f + 1.6) / resp.dt()) as usize;
    let expected_at =
        |t: f64| area * (s0 + a_max / 2.0 - a_max * (t - tau_f) / tau_s) - a_max / tau_s;
    let tm = n as f64 * resp.dt() + 0.5 * resp.dt();
    assert!((u[n] - expected_at(tm)).abs() < 1e-6);
    assert!((expected_at(tau_f).abs() - theta).abs() < 1e-12);
}

#[test]
fn three_segment_fit_recovers_breakpoints() {
    let x: Vec<f64> = (0..400).map(|i| i as f64 / 400.0 * 0.75).collect();
    let f = |x: f64| {
        if x < 0.12 {
            0.0
        } else if x < 0.2 {
            2.0 * (x - 0.12)
        } else {
            0.16 + 1.0 * (x - 0.2)
        }
    };
    let y: Vec<f64> = x.iter().map(|&v| f(v)).collect();
    let fit = fit_three_segments(&x, &y).unwrap();
    // 0.2 lies between samples: the continuous refinement must find it.
    assert!((fit.breaks[0] - 0.12).abs() < 1e-4, "{fit:?}");
    assert!((fit.breaks[1] - 0.2).abs() < 1e-4, "{fit:?}");
    assert!((fit.slopes[2] - 1.0).abs() < 1e-5 && (fit.intercepts[2] + 0.04).abs() < 1e-5);
    assert!(fit.ssr < 1e-9, "{fit:?}");
    // Seeded noise: breaks within a few samples.
    let mut rng = task_rng(3, 1);
    let yn: Vec<f64> = y
        .iter()
        .map(|v| v + 1e-3 * (rng.random::<f64>() - 0.5))
        .collect();
    let fit = fit_three_segments(&x, &yn).unwrap();
    assert!((fit.breaks[1] - 0.2).abs() < 0.01, "{fit:?}");
    assert!(fit_three_segments(&x[..4], &y[..4]).is_err());
    // Threshold method (section 3.5).
    let m = threshold_metrics(&x, &y, 400, 0.05).unwrap();
    let first = x
        .iter()
        .zip(&y)
        .find(|(_, v)| **v > 0.05)
        .map(|(a, _)| *a)
        .unwrap();
    assert_eq!(m.a_min_over_a_max, first);
}

#[test]
fn shards_partition_tasks_and_merge_back() {
    assert!(matches!(
        Shard::parse("3/2"),
        Err(SynapseError::BadShard { .. })
    ));
    assert!(
        Shard::parse("1/0").is_err() && Shard::parse("a/b").is_err() && Shard::parse("2").is_err()
    );
    let n = 11;
    let mut all: Vec<usize> = (0..3)
        .flat_map(|i| Shard::new(i, 3).unwrap().tasks(n))
        .collect();
    all.sort();
    assert_eq!(all, (0..n).collect::<Vec<_>>());
    // Same random numbers whatever the sharding.
    let draw = |shard: Shard| {
        run_sweep(n, shard, 42, &|| {}, |t, rng| {
            Ok(vec![t as f64, rng.random::<f64>()])
        })
        .unwrap()
    };
    let whole = draw(Shard::ALL);
    let mut parts: Vec<(usize, Vec<f64>)> = (0..3)
        .flat_map(|i| draw(Shard::new(i, 3).unwrap()))
        .collect();
    parts.sort_by_key(|p| p.0);
    assert_eq!(whole, parts);
    // Table merge: complete, duplicate, missing.
    let table = |tasks: &[usize]| Table {
        header: vec!["task".into(), "v".into()],
        rows: tasks.iter().map(|&t| vec![t as f64, 1.0]).collect(),
    };
    assert_eq!(
        Table::merge(vec![table(&[1, 3]), table(&[0, 2])], 4)
            .unwrap()
            .rows
            .len(),
        4
    );
    assert!(matches!(
        Table::merge(vec![table(&[1, 3]), table(&[0, 1, 2])], 4),
        Err(SynapseError::Merge(_))
    ));
    assert!(matches!(
        Table::merge(vec![table(&[1, 3])], 4),
        Err(SynapseError::Merge(_))
    ));
}

#[test]
fn sharded_sweep_equals_whole_sweep() {
    let opts = |shard| FigureOptions {
        dt: 2e-3,
        tasks: Some(3),
        seed: 9,
        shard,
    };
    let whole = figures::compute(FigureId::Fig5c, &opts(Shard::ALL), &|| {}).unwrap();
    let parts: Vec<Table> = (0..2)
        .map(|i| {
            let fo = figures::compute(FigureId::Fig5c, &opts(Shard::new(i, 2).unwrap()), &|| {})
                .unwrap();
            assert!(fo.panels.is_empty());
            fo.tables[0].1.clone()
        })
        .collect();
    let merged = Table::merge(parts, 3).unwrap();
    assert_eq!(merged, whole.tables[0].1);
    assert_eq!(merged.rows.len(), 15);
    assert!(matches!(
        figures::compute(FigureId::Fig8, &opts(Shard::new(0, 2).unwrap()), &|| {}),
        Err(SynapseError::BadShard { .. })
    ));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The FFT circular convolution equals the direct sum `Δt Σ_k K_k z_{(n−k) mod N}`
        /// (kernel longer or shorter than the period), and the sorted-tail Δw equals the
        /// direct sum of g_θ(u_n), for arbitrary kernels.
        #[test]
        fn fft_convolution_and_fast_delta_w_match_direct_sums(
            values in proptest::collection::vec(-50.0f64..50.0, 1..60),
            cells_f in 4usize..40,
            cells_s in 4usize..80,
            s0 in -5.0f64..5.0,
            a in -20.0f64..20.0,
            theta in 0.0f64..30.0,
        ) {
            let dt = 0.01;
            let k = SampledKernel::new(dt, values.clone()).unwrap();
            let saw = Sawtooth::new(cells_f as f64 * dt, cells_s as f64 * dt).unwrap();
            let resp = SawtoothResponse::new(&k, saw).unwrap();
            let n = cells_f + cells_s;
            let z: Vec<f64> = (0..n).map(|i| saw.shape(i as f64 * dt)).collect();
            let v = resp.unit_response();
            prop_assert_eq!(v.len(), n);
            for (i, vi) in v.iter().enumerate() {
                let direct: f64 = values
                    .iter()
                    .enumerate()
                    .map(|(j, kj)| dt * kj * z[(i + n * 64 - j) % n])
                    .sum();
                prop_assert!((vi - direct).abs() < 1e-10, "n {} i {}: {} vs {}", n, i, vi, direct);
            }
            let fast = resp.delta_w(s0, a, theta).unwrap();
            let direct = resp.delta_w_direct(s0, a, theta);
            prop_assert!((fast - direct).abs() < 1e-9 * (1.0 + direct.abs()));
        }
    }
}

#[test]
fn merge_rejects_shards_of_different_sweeps() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |seed: u64, i: usize, name: &str| {
        let opts = FigureOptions {
            dt: 2e-3,
            tasks: Some(2),
            seed,
            shard: Shard::new(i, 2).unwrap(),
        };
        let fo = figures::compute(FigureId::Fig5c, &opts, &|| {}).unwrap();
        figures::write_output(&tmp.path().join(name), &fo, "test").unwrap()
    };
    let a = run(1, 0, "a");
    let b = run(2, 1, "b");
    let c = run(1, 1, "c");
    assert!(matches!(
        figures::merge_shards(&[a.clone(), b]),
        Err(SynapseError::Merge(_))
    ));
    let merged = figures::merge_shards(&[c, a]).unwrap();
    assert_eq!(merged.tables[0].1.rows.len(), 10);
    assert!(!merged.panels.is_empty());
}
