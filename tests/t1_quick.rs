use physlearn::learning::{compare, references};
use physlearn::netlist;
use physlearn::physics::equilibrium::Equilibrium;
use physlearn::physics::run::Sampling;
use physlearn::sim::{prepare, run, RunOptions};

#[test]
fn t1_one_cycle_matches_cl() {
    let f = std::env::var("NL").unwrap_or("netlists/t1_flow_allostery.json".into());
    let nl = netlist::load(std::path::Path::new(&f)).unwrap().0;
    let prep = prepare(&nl).unwrap();
    let saw = prep.sawtooth().unwrap().clone();
    let net = &prep.network;
    let p0 = net.initial_params();
    let mut eq = Equilibrium::new(net).unwrap();
    let refs = references(net, &mut eq, &p0, saw.beta_max, &[0]).unwrap();
    let mut out = run(&prep, RunOptions { cycles: Some(1), sampling: Sampling { per_segment: 0 }, sample_cycles: 0 }, |_, _, _| {}).unwrap();
    let rec = out.cycles[0].clone();
    let settle: f64 = std::env::var("SETTLE").map(|s| s.parse().unwrap()).unwrap_or(0.0);
    if settle > 0.0 { out.runner.run_hold(0.0, settle, Sampling { per_segment: 0 }).unwrap(); }
    let dw: Vec<f64> = out.runner.params.w.iter().zip(&p0.w).map(|(a,b)| a-b).collect();
    let c = compare(net, &p0, &saw, &dw, &rec.dl(), &refs);
    println!("{c:?} rhs {}", rec.stats.rhs_evals);
    assert!(c.cos_cl > 0.97, "{c:?}");
}
