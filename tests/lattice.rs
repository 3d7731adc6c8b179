//! The lattice-n workload: the JSON-free construction equals the netlist path, runs are
//! bit-for-bit reproducible (under every ordering of the sparse Cholesky), the allocation-free
//! Dopri5 of the hot path reproduces ode_solvers' Dopri5 (the reference) on it, the orderings
//! and factor storages agree to round-off, and the runner analyses its matrix once.

use physlearn::generate::{lattice, lattice_netlist};
use physlearn::netlist;
use physlearn::physics::dynamics::Dynamics;
use physlearn::physics::equilibrium::{ArmMode, DynamicEquilibrium, Equilibrium};
use physlearn::physics::linsolve::{FactorChoice, OrderingChoice, SpdOptions, ND_MIN_DOFS};
use physlearn::physics::model::States;
use physlearn::physics::run::Runner;
use physlearn::protocol::Segment;
use physlearn::sim::prepare;

#[test]
fn lattice_netlist_equals_the_json_path() {
    for n in [3usize, 4, 5, 8] {
        for g0 in [
            None,
            Some(
                (0..2 * n * (n - 1))
                    .map(|e| 0.5 + 0.01 * e as f64)
                    .collect(),
            ),
        ] {
            let a = netlist::from_value(&lattice(n, 2.5, g0.clone()).unwrap()).unwrap();
            let b = lattice_netlist(n, 2.5, g0).unwrap();
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "n = {n}");
        }
    }
    assert!(lattice_netlist(2, 1.0, None).is_err());
    assert!(lattice_netlist(4, 1.0, Some(vec![1.0; 3])).is_err());
}

/// Integrate `cycles` sawtooth periods of lattice-n as the benchmark does; returns the final
/// packed state and the output at the end of every period.
fn run_lattice(n: usize, v_left: f64, cycles: usize, reference: bool) -> (Vec<f64>, Vec<f64>) {
    run_lattice_with(n, v_left, cycles, reference, SpdOptions::default())
}

thread_local! {
    /// Energy accounting in [`run_lattice_with`] (off: the bare dynamics).
    static ENERGY: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
}

/// [`run_lattice`] with explicit options of the sparse Cholesky (ordering, factor storage).
fn run_lattice_with(
    n: usize,
    v_left: f64,
    cycles: usize,
    reference: bool,
    opts: SpdOptions,
) -> (Vec<f64>, Vec<f64>) {
    let mut nl = lattice_netlist(n, v_left, None).unwrap();
    if let netlist::ProtocolSpec::Sawtooth(s) = &mut nl.protocol {
        s.cycles = cycles;
    }
    let prep = prepare(&nl).unwrap();
    let saw = prep.sawtooth().cloned().unwrap();
    let net = &prep.network;
    let mut dynamics = Dynamics::with_spd_options(net, prep.solver, opts).unwrap();
    dynamics.reference_integrator = reference;
    // ode_solvers keeps every component under its error control: the energy quadratures (left
    // out of the own Dopri5's error norm) would change its steps. The reference runs bare.
    dynamics.set_energy(ENERGY.with(|e| e.get()) && !reference);
    dynamics.record_steps = false;
    let mut v = dynamics
        .layout
        .pack(&net.initial_params(), &States::zeros(net.n_elements()));
    let mut t = 0.0;
    let mut outs = Vec::new();
    for c in 0..saw.cycles {
        dynamics.invalidate_factor();
        let segs: Vec<Segment> = saw.cycle_segments(c, t, saw.beta_max, 1);
        for seg in &segs {
            let (_, ys) = dynamics.integrate_segment(seg, v).unwrap();
            v = ys.last().unwrap().clone();
            t = seg.t1;
        }
        outs.push(dynamics.outputs_at(t, v.as_slice(), 0.0, 0).unwrap()[0]);
    }
    (v.as_slice().to_vec(), outs)
}

/// Two runs give identical states (no hidden nondeterminism: parallelism, hashing, timing).
#[test]
fn lattice_runs_are_bit_for_bit_reproducible() {
    let (a, oa) = run_lattice(10, 2.0, 2, false);
    let (b, ob) = run_lattice(10, 2.0, 2, false);
    assert_eq!(a, b);
    assert_eq!(oa, ob);
}

/// The energy quadratures ride along without changing the trajectory: the own Dopri5 takes the
/// same steps with and without them (bit for bit).
#[test]
fn energy_accounting_leaves_the_trajectory_unchanged() {
    let (a, oa) = run_lattice(10, 2.0, 2, false);
    ENERGY.with(|e| e.set(false));
    let (b, ob) = run_lattice(10, 2.0, 2, false);
    ENERGY.with(|e| e.set(true));
    assert_eq!(a, b);
    assert_eq!(oa, ob);
}

/// The own Dopri5 against ode_solvers' Dopri5 on a learning lattice: the same trajectory (the
/// algorithms are the same; tolerance only for safety: Δw within 1e-9 of its scale, outputs
/// within 1e-9).
#[test]
fn own_dopri5_matches_ode_solvers_on_the_lattice() {
    let n = 10;
    let (a, oa) = run_lattice(n, 2.0, 2, false);
    let (b, ob) = run_lattice(n, 2.0, 2, true);
    let e = 2 * n * (n - 1);
    // Packed layout: z (E values) then w (E values).
    let w0 = lattice_netlist(n, 2.0, None)
        .unwrap()
        .network
        .initial_params()
        .w;
    let dw_a: Vec<f64> = a[e..].iter().zip(&w0).map(|(x, y)| x - y).collect();
    let dw_b: Vec<f64> = b[e..].iter().zip(&w0).map(|(x, y)| x - y).collect();
    let scale = dw_b.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    assert!(
        scale > 1e-6,
        "learning must be active: max |Δw| = {scale:e}"
    );
    let worst = dw_a
        .iter()
        .zip(&dw_b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
    assert!(
        worst <= 1e-9 * scale,
        "Δw differs by {worst:e} (scale {scale:e})"
    );
    for (x, y) in oa.iter().zip(&ob) {
        assert!((x - y).abs() < 1e-9, "outputs {x} vs {y}");
    }
}

/// A factor is only reused across a cycle boundary when its matrix is bit for bit the current
/// one: integrating every period with a fresh `Dynamics` (a resumed run: new factor) gives the
/// same states bit for bit as one `Dynamics` for the whole run, with and without learning; with
/// no weight moving (a threshold no drop reaches) the whole run needs one factorisation.
#[test]
fn cycle_boundary_factor_reuse_is_exact() {
    for learning in [false, true] {
        let (n, v_left) = (12, 2.0);
        let mut nl = lattice_netlist(n, v_left, None).unwrap();
        if let netlist::ProtocolSpec::Sawtooth(s) = &mut nl.protocol {
            s.cycles = 3;
        }
        if !learning {
            // A threshold no drop reaches: the weights never move.
            for el in nl.network.elements.iter_mut() {
                for ch in el.channels.iter_mut() {
                    ch.theta = 1e3;
                }
            }
        }
        let prep = prepare(&nl).unwrap();
        let saw = prep.sawtooth().cloned().unwrap();
        let net = &prep.network;
        let v0 = Dynamics::new(net, prep.solver)
            .unwrap()
            .layout
            .pack(&net.initial_params(), &States::zeros(net.n_elements()));
        let run = |fresh: bool| {
            let mut d = Dynamics::new(net, prep.solver).unwrap();
            let mut v = v0.clone();
            let mut t = 0.0;
            let mut factorizations = 0;
            for c in 0..saw.cycles {
                if fresh {
                    factorizations += d.stats.factorizations;
                    d = Dynamics::new(net, prep.solver).unwrap();
                }
                d.invalidate_factor();
                for seg in &saw.cycle_segments(c, t, saw.beta_max, 1) {
                    let (_, ys) = d.integrate_segment(seg, v).unwrap();
                    v = ys.last().unwrap().clone();
                    t = seg.t1;
                }
            }
            (v, factorizations + d.stats.factorizations)
        };
        let (a, fa) = run(false);
        let (b, fb) = run(true);
        assert_eq!(a.as_slice(), b.as_slice(), "learning {learning}");
        let e = 2 * n * (n - 1);
        let moved = a.as_slice()[e..]
            .iter()
            .zip(&net.initial_params().w)
            .any(|(x, y)| x != y);
        assert_eq!(moved, learning);
        if !learning {
            assert_eq!(fa, 1, "one factorisation for the whole run");
            assert_eq!(fb, 3, "one per fresh start");
        }
    }
}

const OPTIONS: [SpdOptions; 4] = [
    SpdOptions {
        ordering: OrderingChoice::Amd,
        factor: FactorChoice::Simplicial,
    },
    SpdOptions {
        ordering: OrderingChoice::NestedDissection,
        factor: FactorChoice::Simplicial,
    },
    SpdOptions {
        ordering: OrderingChoice::Amd,
        factor: FactorChoice::Supernodal,
    },
    SpdOptions {
        ordering: OrderingChoice::NestedDissection,
        factor: FactorChoice::Supernodal,
    },
];

/// The ordering (AMD, nested dissection) and the factor storage (simplicial, supernodal) change
/// a static and a dynamic solve only by round-off: states and edge drops within 1e-12 of their
/// scale.
#[test]
fn orderings_agree_to_round_off() {
    let n = 70;
    let nl = lattice_netlist(n, 2.0, None).unwrap();
    let net = &nl.network;
    assert!(net.n_free >= ND_MIN_DOFS);
    let ne = net.n_elements();
    let p = net.initial_params();
    let ex = &net.examples[0];
    let z: Vec<f64> = (0..ne)
        .map(|e| 0.01 * ((e * 37 % 101) as f64 - 50.0) / 50.0)
        .collect();
    let (mut k, mut kr) = (vec![0.0; ne], vec![0.0; ne]);
    for (e, el) in net.elements.iter().enumerate() {
        let (a, c) = el.conductances(p.w[e]);
        k[e] = a + c;
        kr[e] = a * p.l[e] + c * z[e];
    }
    let mut reference: Option<(Vec<f64>, Vec<f64>)> = None;
    for opts in OPTIONS {
        let mut st = Equilibrium::with_options(net, opts).unwrap();
        assert_eq!(st.factor_info().ordering, opts.ordering);
        assert_eq!(st.factor_info().factor, opts.factor);
        let xs = st
            .solve(net, &p.w, &p.l, ArmMode::Dc, 0.5, &ex.xd, &ex.targets)
            .unwrap()
            .to_vec();
        let mut dy = DynamicEquilibrium::with_options(net, opts).unwrap();
        let mut y = vec![0.0; ne];
        dy.solve(net, &k, &kr, 0.5, &ex.xd, &ex.targets, &mut y)
            .unwrap();
        match &reference {
            None => reference = Some((xs, y)),
            Some((xr, yr)) => {
                for (a, b) in [(&xs, xr), (&y, yr)] {
                    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                    let err = a
                        .iter()
                        .zip(b.iter())
                        .fold(0.0f64, |m, (u, v)| m.max((u - v).abs()));
                    assert!(err <= 1e-12 * scale, "{opts:?}: {err:e} (scale {scale:e})");
                }
            }
        }
    }
}

/// `Auto` takes the ordering with the smaller factor once the problem is large enough for
/// nested dissection to be considered: AMD on lattice-70 (4 760 unknowns), nested dissection on
/// lattice-128; the factor is simplicial.
#[test]
fn auto_ordering_takes_the_smaller_factor() {
    for (n, want) in [
        (70, OrderingChoice::Amd),
        (128, OrderingChoice::NestedDissection),
    ] {
        let nl = lattice_netlist(n, 1.0, None).unwrap();
        let auto = DynamicEquilibrium::new(&nl.network).unwrap();
        let info = auto.solver().info();
        let (amd, nd) = (info.nnz_l_amd.unwrap(), info.nnz_l_nd.unwrap());
        assert_eq!(info.ordering, want, "{info:?}");
        assert_eq!(info.nnz_l, amd.min(nd));
        assert_eq!(info.factor, FactorChoice::Simplicial);
    }
    let small = lattice_netlist(10, 1.0, None).unwrap();
    let info = DynamicEquilibrium::new(&small.network)
        .unwrap()
        .solver()
        .info()
        .clone();
    assert_eq!((info.ordering, info.nnz_l_nd), (OrderingChoice::Amd, None));
}

/// Learning-active runs under every ordering and storage: each bit-for-bit reproducible, and
/// all within 1e-9 of the weight change's scale of each other (the trajectories differ only by
/// the round-off of the solves, amplified by the adaptive steps).
#[test]
fn lattice_runs_agree_across_orderings() {
    let n = 10;
    let w0 = lattice_netlist(n, 2.0, None)
        .unwrap()
        .network
        .initial_params()
        .w;
    let e = 2 * n * (n - 1);
    let (a, oa) = run_lattice_with(n, 2.0, 2, false, OPTIONS[0]);
    let dw_a: Vec<f64> = a[e..].iter().zip(&w0).map(|(x, y)| x - y).collect();
    let scale = dw_a.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    assert!(scale > 1e-6, "learning must be active");
    for opts in &OPTIONS[1..] {
        let (b, ob) = run_lattice_with(n, 2.0, 2, false, *opts);
        let (c, oc) = run_lattice_with(n, 2.0, 2, false, *opts);
        assert_eq!(b, c, "{opts:?}: not reproducible");
        assert_eq!(ob, oc);
        let worst = b[e..]
            .iter()
            .zip(&a[e..])
            .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
        assert!(worst <= 1e-9 * scale, "{opts:?}: Δw differs by {worst:e}");
        for (x, y) in ob.iter().zip(&oa) {
            assert!((x - y).abs() < 1e-9, "{opts:?}: outputs {x} vs {y}");
        }
    }
}

/// The runner's static equilibrium shares the dynamics' symbolic analysis (one ordering and
/// one symbolic factorisation per network), and so does every equilibrium it hands out.
#[test]
fn runner_analyses_its_matrix_once() {
    let nl = lattice_netlist(8, 2.0, None).unwrap();
    let prep = prepare(&nl).unwrap();
    let net = &prep.network;
    let runner = Runner::new(net, prep.solver, net.initial_params()).unwrap();
    let an = runner.dynamics.analysis();
    let eq = runner.new_equilibrium().unwrap();
    assert!(std::sync::Arc::ptr_eq(&an, eq.analysis()));
    assert!(runner.solver_bytes() > 0);
}
