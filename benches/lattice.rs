//! `cargo bench --bench lattice`: the pieces of the lattice-n workload (one right-hand-side
//! evaluation, one equilibrium refactorisation, one sawtooth period, one triangular solve pair
//! and one numerical factorisation under each ordering) at several sizes. The side-by-side
//! comparison with SciPy is `bench/lattice_compare.sh`, the ordering/storage table
//! `physlearn bench lattice-solver`; this bench tracks the per-evaluation cost between commits.

use physlearn::generate::lattice_netlist;
use physlearn::physics::dynamics::Dynamics;
use physlearn::physics::equilibrium::DynamicEquilibrium;
use physlearn::physics::linsolve::{FactorChoice, OrderingChoice, SpdOptions};
use physlearn::physics::model::States;
use physlearn::protocol::Segment;
use physlearn::sim::{prepare, Prepared};

fn main() {
    divan::main();
}

fn prepared(n: usize, v_left: f64) -> Prepared {
    let nl = match lattice_netlist(n, v_left, None) {
        Ok(nl) => nl,
        Err(e) => panic!("lattice-{n}: {e}"),
    };
    match prepare(&nl) {
        Ok(p) => p,
        Err(e) => panic!("lattice-{n}: {e}"),
    }
}

/// The first segment of the first period (β ramps up).
fn first_segment(prep: &Prepared) -> Segment {
    let saw = prep.sawtooth().cloned().expect("sawtooth protocol");
    saw.cycle_segments(0, 0.0, saw.beta_max, 1)[0].clone()
}

/// One RHS evaluation with the factor already in place (the steady-state cost per evaluation:
/// assembly of b, one triangular solve pair, drops, element derivatives).
#[divan::bench(args = [16, 32, 64, 128])]
fn rhs_evaluation(bencher: divan::Bencher, n: usize) {
    let prep = prepared(n, 0.1 * (n - 1) as f64);
    let net = &prep.network;
    let dynamics = Dynamics::new(net, prep.solver).expect("dynamics");
    let seg = first_segment(&prep);
    let v = dynamics
        .layout
        .pack(&net.initial_params(), &States::zeros(net.n_elements()));
    let mut dv = vec![0.0; v.len()];
    dynamics.rhs(&seg, 0.5, v.as_slice(), &mut dv);
    bencher.bench_local(|| {
        dynamics.rhs(&seg, 0.5, divan::black_box(v.as_slice()), &mut dv);
    });
}

/// One RHS evaluation right after a factor invalidation (assembly + numeric Cholesky + solve).
#[divan::bench(args = [16, 32, 64, 128])]
fn rhs_with_refactorisation(bencher: divan::Bencher, n: usize) {
    let prep = prepared(n, 1.0);
    let net = &prep.network;
    let dynamics = Dynamics::new(net, prep.solver).expect("dynamics");
    let seg = first_segment(&prep);
    let v = dynamics
        .layout
        .pack(&net.initial_params(), &States::zeros(net.n_elements()));
    let mut dv = vec![0.0; v.len()];
    bencher.bench_local(|| {
        dynamics.invalidate_factor();
        dynamics.rhs(&seg, 0.5, divan::black_box(v.as_slice()), &mut dv);
    });
}

/// One full sawtooth period (two segments, Dopri5 rtol 1e-6) with learning active.
#[divan::bench(args = [16, 32, 64], sample_count = 5)]
fn one_period(bencher: divan::Bencher, n: usize) {
    let prep = prepared(n, 0.1 * (n - 1) as f64);
    let net = &prep.network;
    let saw = prep.sawtooth().cloned().expect("sawtooth protocol");
    let segs = saw.cycle_segments(0, 0.0, saw.beta_max, 1);
    bencher.bench_local(|| {
        let mut dynamics = Dynamics::new(net, prep.solver).expect("dynamics");
        dynamics.record_steps = false;
        let mut v = dynamics
            .layout
            .pack(&net.initial_params(), &States::zeros(net.n_elements()));
        for seg in &segs {
            let (_, ys) = dynamics.integrate_segment(seg, v).expect("integration");
            v = ys.last().cloned().expect("end state");
        }
        v
    });
}

/// The lattice's dynamic equilibrium factored at the initial conductances under `ordering`
/// (simplicial factor).
fn factored(n: usize, ordering: OrderingChoice) -> (DynamicEquilibrium, Vec<f64>) {
    let prep = prepared(n, 1.0);
    let net = &prep.network;
    let p = net.initial_params();
    let ne = net.n_elements();
    let (mut k, mut kr) = (vec![0.0; ne], vec![0.0; ne]);
    for (e, el) in net.elements.iter().enumerate() {
        let (a, c) = el.conductances(p.w[e]);
        k[e] = a + c;
        kr[e] = a * p.l[e];
    }
    let opts = SpdOptions {
        ordering,
        factor: FactorChoice::Simplicial,
    };
    let mut eq = DynamicEquilibrium::with_options(net, opts).expect("analysis");
    let ex = &net.examples[0];
    let mut y = vec![0.0; ne];
    eq.solve(net, &k, &kr, 0.0, &ex.xd, &ex.targets, &mut y)
        .expect("solve");
    let rhs = (0..eq.solver().dim())
        .map(|i| ((i * 7919) % 1000) as f64 * 1e-3)
        .collect();
    (eq, rhs)
}

const ORDERINGS: [OrderingChoice; 2] = [OrderingChoice::Amd, OrderingChoice::NestedDissection];

/// One triangular solve pair (`L Lᵀ`, the floor of every RHS evaluation) under AMD and under
/// nested dissection.
#[divan::bench(consts = [64, 128, 256], args = ORDERINGS)]
fn solve_pair<const N: usize>(bencher: divan::Bencher, ordering: OrderingChoice) {
    let (mut eq, rhs) = factored(N, ordering);
    let mut x = rhs.clone();
    bencher.bench_local(|| {
        x.copy_from_slice(&rhs);
        eq.solver_mut().solve_in_place(divan::black_box(&mut x));
    });
}

/// One numerical factorisation under AMD and under nested dissection.
#[divan::bench(consts = [64, 128, 256], args = ORDERINGS, sample_count = 10)]
fn factorisation<const N: usize>(bencher: divan::Bencher, ordering: OrderingChoice) {
    let (mut eq, _) = factored(N, ordering);
    bencher.bench_local(|| eq.solver_mut().factor().expect("factor"));
}
