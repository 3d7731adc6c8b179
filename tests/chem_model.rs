//! Analytic checks of the chemical family (molecular.md): expansion, balance, conservation
//! laws, the monomer-total balance, the analytic Jacobian, static = long-time limit, perfect
//! adaptation of the integral feedback, golden-file reproducibility and loader faults.

mod common;

use common::{chem_model_of, m1_template};
use nalgebra::DMatrix;
use physlearn::chem::network::SpeciesId;
use physlearn::chem::sim::Runner;
use physlearn::chem::tcl::cost_sq;
use physlearn::chem::ChemModel;
use physlearn::netlist::chem as nlchem;
use physlearn::netlist::NetlistError;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

fn m1() -> ChemModel {
    chem_model_of(&m1_template())
}

#[test]
fn m1_expands_to_216_species_481_reactions_balanced_with_two_laws_per_pair() {
    let m = m1();
    assert_eq!(m.network.species.len(), 216);
    assert_eq!(m.network.reactions.len(), 481);
    assert!(m.network.imbalances().is_empty());
    let laws = m.network.conservation_laws(false);
    assert_eq!(laws.len(), 2 * m.design.pairs.len());
    let text: Vec<String> = laws.iter().map(|l| l.describe(&m.network)).collect();
    for s in ["12", "34", "56"] {
        assert!(text.contains(&format!("Y{s} + VhY{s}")), "{text:?}");
        assert!(text.contains(&format!("P{s} + VlP{s}")), "{text:?}");
    }
    // The law values are the titrator totals.
    let x = m.network.initial_state();
    for l in &laws {
        let v = l.value(&x);
        assert!(
            (v - m.design.y_tot).abs() < 1e-12 || (v - m.design.p_tot).abs() < 1e-12,
            "{v}"
        );
    }
}

#[test]
fn auto_design_matches_the_prototype_numbers() {
    let d = m1().design;
    // docs/molecular.md §1.2 / §5.2 (prototype): k_act 43.7, k_c 0.80, k_p 12.5, μ 0.025,
    // η_EZ 174, η_U 5e5, k_v 1e4, k_onR 8.8e6, k_w 0.049, η_M 325, ρ 107.4. The static
    // solver here differs slightly from the prototype's, so allow 3 %.
    let near = |x: f64, y: f64, what: &str| {
        assert!((x / y - 1.0).abs() < 0.03, "{what}: {x} vs {y}");
    };
    near(d.k_act, 43.7, "k_act");
    near(d.k_c, 0.80, "k_c");
    near(d.k_p, 12.5, "k_p");
    near(d.mu, 0.025, "mu");
    near(d.eta_ez, 174.0, "eta_EZ");
    near(d.eta_u, 5e5, "eta_U");
    near(d.k_v, 1e4, "k_v");
    near(d.k_on_r, 8.8e6, "k_onR");
    near(d.k_w, 0.049, "k_w");
    near(d.eta_m, 325.0, "eta_M");
    near(d.rho, 107.39, "rho");
    near(d.theta_v, 0.025, "theta_V");
    // Internal consistency: b = k_c k_p = b_fac a²/4, κ = k_act/(b x0), κ A_max = u_fast τ_f.
    assert!((d.b - 0.4 * d.a * d.a / 4.0).abs() < 1e-12 * d.b);
    assert!((d.kappa * d.a_max - 0.5 * 10.0).abs() < 1e-9);
}

#[test]
fn golden_netlists_are_reproducible() {
    for name in nlchem::GENERATED {
        let path = format!("{}/netlists/{name}.json", env!("CARGO_MANIFEST_DIR"));
        let golden: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let fresh = nlchem::generate(name).unwrap().unwrap();
        assert_eq!(
            golden, fresh,
            "{name}: regenerate with `physlearn generate {name}`"
        );
    }
    // The explicit golden file loads to the same model as the template.
    let a = m1();
    let path = format!("{}/netlists/m1_molecular.json", env!("CARGO_MANIFEST_DIR"));
    let b = nlchem::load(std::path::Path::new(&path)).unwrap().0.model;
    assert_eq!(a.design, b.design);
    assert_eq!(a.network.species, b.network.species);
    assert_eq!(a.network.reactions, b.network.reactions);
}

/// `ȧ_i = P_i − γ a_i + β_i (T_i − c_i)` holds exactly for every state, where `a_i` counts
/// every form of monomer i (free, D, C, D*).
#[test]
fn monomer_totals_obey_the_linear_balance_for_any_state() {
    let m = m1();
    let d = &m.design;
    let net = &m.network;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let n = net.species.len();
    for trial in 0..5 {
        let x: Vec<f64> = (0..n).map(|_| rng.random::<f64>()).collect();
        let beta = 3.0 * rng.random::<f64>();
        let gate = rng.random::<f64>();
        let inputs = vec![0.5 + rng.random::<f64>(), 0.5 + rng.random::<f64>()];
        let lv = physlearn::chem::sim::DriveLevels {
            beta,
            gate,
            inputs: inputs.clone(),
            targets: m.examples[0].targets.clone(),
        };
        let mult = physlearn::chem::sim::multipliers(&m, &lv);
        let mut f = vec![0.0; n];
        net.rhs(&x, &mult, &mut f);
        for (i, (&xi, &fi)) in x.iter().zip(&f).take(d.monomers.len()).enumerate() {
            let mut a = xi;
            let mut adot = fi;
            for (e, ps) in m.pairs.iter().enumerate() {
                if d.pairs[e].contains(&i) {
                    for s in [ps.d, ps.c, ps.ds] {
                        a += x[s.0];
                        adot += f[s.0];
                    }
                }
            }
            let p = match d.inputs.iter().position(|&k| k == i) {
                Some(k) => d.gamma * inputs[k],
                None => d.gamma * d.totals[i],
            };
            let ex = match d.outputs.iter().position(|&k| k == i) {
                Some(k) => beta * (m.examples[0].targets[k] - xi),
                None => 0.0,
            };
            let expect = p - d.gamma * a + ex;
            assert!(
                (adot - expect).abs() < 1e-9 * (1.0 + expect.abs()),
                "trial {trial}, monomer {i}: {adot} vs {expect}"
            );
        }
    }
}

#[test]
fn analytic_jacobian_of_m1_matches_finite_differences() {
    let m = m1();
    let net = &m.network;
    let n = net.species.len();
    // A random strictly positive state (every column, the debt species M included, away from
    // the max(x, 0) kink) and random drive multipliers.
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let x: Vec<f64> = net
        .species
        .iter()
        .map(|s| s.scale * rng.random_range(0.1..2.0))
        .collect();
    let mult: Vec<f64> = (0..net.drives.len())
        .map(|_| rng.random_range(0.2..1.0))
        .collect();
    let mut j = DMatrix::zeros(n, n);
    net.jacobian(&x, &mult, &mut j);
    let mut fd = DMatrix::zeros(n, n);
    for c in 0..n {
        let mut xp = x.clone();
        let mut xm = x.clone();
        let h = 1e-6 * x[c];
        xp[c] += h;
        xm[c] -= h;
        assert!(xm[c] > 0.0);
        let (mut fp, mut fm) = (vec![0.0; n], vec![0.0; n]);
        net.rhs(&xp, &mult, &mut fp);
        net.rhs(&xm, &mult, &mut fm);
        for r in 0..n {
            fd[(r, c)] = (fp[r] - fm[r]) / (2.0 * h);
        }
    }
    // Per-row scale: an entry is judged against itself, floored at 1e-8 of its row's largest.
    let mut worst: (f64, usize, usize) = (0.0, 0, 0);
    for r in 0..n {
        let row_max = (0..n).map(|c| j[(r, c)].abs()).fold(0.0, f64::max);
        for c in 0..n {
            let err = (fd[(r, c)] - j[(r, c)]).abs() / (j[(r, c)].abs() + 1e-8 * row_max + 1e-300);
            if err > worst.0 {
                worst = (err, r, c);
            }
        }
    }
    let (w, r, c) = worst;
    assert!(
        w < 1e-4,
        "worst relative Jacobian error {w:e} at ({}, {}): analytic {:e}, FD {:e}",
        net.species[r].name,
        net.species[c].name,
        j[(r, c)],
        fd[(r, c)]
    );
    // The structural pattern covers every nonzero.
    let pat: std::collections::HashSet<(usize, usize)> =
        net.jacobian_pattern().into_iter().collect();
    for r in 0..n {
        for c in 0..n {
            if j[(r, c)] != 0.0 {
                assert!(pat.contains(&(r, c)), "({r}, {c}) missing from the pattern");
            }
        }
    }
}

/// The static solver equals the long-time limit of the full network (gate closed, valve held
/// at β_max: the clamped state) within 1e-10.
#[test]
fn static_solver_is_the_long_time_limit_of_the_network() {
    let mut v = m1_template();
    v["solver"]["rtol"] = json!(1e-11);
    v["solver"]["atol_rel"] = json!(1e-12);
    let m = chem_model_of(&v);
    let d = &m.design;
    let ex = &m.examples[0];
    let ell = m.ell0();
    let mut r = Runner::new(&m);
    // Start at the free state and hold the valve open: the network moves to the clamped state.
    r.hold(0, d.beta_max, 0.0, 400.0, "hold").unwrap();
    let a = d.example_totals(ex);
    let st = d
        .solve_static(&ell, &a, d.beta_max, &ex.targets, None, None)
        .unwrap();
    let x = &r.x;
    let rel = |a: f64, b: f64| (a - b).abs() / b.abs();
    let mut worst: f64 = 0.0;
    for (xi, ci) in x.iter().zip(&st.c) {
        worst = worst.max(rel(*xi, *ci));
    }
    for (e, ps) in m.pairs.iter().enumerate() {
        worst = worst.max(rel(x[ps.d.0], st.d[e]));
        worst = worst.max(rel(x[ps.c.0], st.cc[e]));
        worst = worst.max(rel(x[ps.ds.0], d.x0));
    }
    assert!(worst < 1e-10, "static vs long-time network: {worst:e}");
    // And the free state differs (the test can fail): the valve moved the outputs.
    let f = d
        .solve_static(&ell, &a, 0.0, &ex.targets, None, None)
        .unwrap();
    assert!(cost_sq(&d.outputs_of(&f), &ex.targets) > cost_sq(&d.outputs_of(&st), &ex.targets));
}

/// Perfect adaptation (kernel area 0): after a step in the dimer level (valve step, gate
/// closed) D* returns exactly to x0, and its excursion has the first moment
/// `∫ δDs dt = (k_act/b) ΔD` of the kernel `H(p) = k_act p/(p² + a p + b)`.
#[test]
fn integral_feedback_adapts_perfectly_with_the_kernel_first_moment() {
    let m = m1();
    let d = &m.design;
    let ex = &m.examples[0];
    let ell = m.ell0();
    let (f, c) = d.free_clamped(&ell, ex, d.beta_max).unwrap();
    let mut r = Runner::new(&m);
    r.record = true;
    r.hold(0, d.beta_max, 0.0, 60.0, "step").unwrap();
    let x0 = d.x0;
    for (e, ps) in m.pairs.iter().enumerate() {
        let ds_end = r.x[ps.ds.0];
        assert!(((ds_end - x0) / x0).abs() < 1e-7, "pair {e}: D* = {ds_end}");
        let mut area = 0.0;
        let mut prev = (0.0, r.samples[0].2[ps.ds.0] - x0);
        // The first sample is after the first step; the response starts at 0.
        prev.1 = 0.0;
        for (t, _, y) in &r.samples {
            let v = y[ps.ds.0] - x0;
            area += 0.5 * (v + prev.1) * (t - prev.0);
            prev = (*t, v);
        }
        let expect = d.k_act / d.b * (c.d[e] - f.d[e]);
        assert!(
            (area / expect - 1.0).abs() < 0.05,
            "pair {e}: area {area:e} vs (k_act/b) ΔD = {expect:e}"
        );
    }
}

#[test]
fn integrator_loss_breaks_adaptation() {
    let mut v = m1_template();
    v["template"]["params"]["eps"] = json!(1e-3);
    let m = chem_model_of(&v);
    let mut r = Runner::new(&m);
    r.hold(0, 0.0, 0.0, 200.0, "settle").unwrap();
    // With a loss ε the set point shifts: δDs/x0 ≈ ε E_0/μ (docs/molecular.md §4.4).
    let d = &m.design;
    let shift: f64 = m
        .pairs
        .iter()
        .map(|p| (r.x[p.ds.0] - d.x0).abs() / d.x0)
        .fold(0.0, f64::max);
    assert!(shift > 1e-3, "no set-point shift: {shift:e}");
}

fn faults_of(v: &Value) -> Vec<String> {
    match nlchem::from_value(v) {
        Err(NetlistError::Invalid(f)) => f.iter().map(|f| f.to_string()).collect(),
        Err(e) => vec![e.to_string()],
        Ok(_) => Vec::new(),
    }
}

#[test]
fn explicit_netlist_faults_are_all_reported_with_paths() {
    let path = format!("{}/netlists/m1_molecular.json", env!("CARGO_MANIFEST_DIR"));
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["reactions"][12]["k"] = json!(-1.0);
    v["reactions"][13]["reactants"] = json!(["A1", "NOPE"]);
    v["reactions"][14]["reactants"] = json!(["A1", "A2", "A3"]);
    v["reactions"][15]["id"] = v["reactions"][16]["id"].clone();
    v["species"][3]["scale"] = json!(0.0);
    v["reactions"][20]["drive"] = json!("nosuchdrive");
    let f = faults_of(&v);
    let has = |s: &str| f.iter().any(|x| x.contains(s));
    assert!(has("reactions[12].k: must be > 0, got -1"), "{f:#?}");
    assert!(
        has("reactions[13].reactants[1]: unknown species NOPE"),
        "{f:#?}"
    );
    assert!(has("reactions[14].reactants"), "{f:#?}");
    assert!(has("order 3 > 2"), "{f:#?}");
    assert!(has("].id: duplicate reaction id bind_12"), "{f:#?}");
    assert!(has("species[3].scale: must be > 0"), "{f:#?}");
    assert!(has("reactions[20].drive"), "{f:#?}");
    assert!(f.len() >= 6, "{f:#?}");
}

#[test]
fn template_faults_are_reported_with_paths() {
    let mut v = m1_template();
    v["template"]["params"]["k_on"] = json!(-5.0);
    v["template"]["params"]["bogus"] = json!(1.0);
    v["template"]["inputs"] = json!(["A1", "A9"]);
    v["task"]["examples"][0]["targets"]["o5"] = json!(0.0);
    let f = faults_of(&v);
    let has = |s: &str| f.iter().any(|x| x.contains(s));
    assert!(has("template.params.k_on: must be > 0"), "{f:#?}");
    assert!(has("template.params.bogus: unknown parameter"), "{f:#?}");
    assert!(has("template.inputs[1]: unknown monomer A9"), "{f:#?}");
    assert!(has("task.examples[0].targets.o5: must be > 0"), "{f:#?}");
}

#[test]
fn an_unbalanced_closed_reaction_is_named() {
    let path = format!("{}/netlists/m1_molecular.json", env!("CARGO_MANIFEST_DIR"));
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let k = v["reactions"]
        .as_array()
        .unwrap()
        .iter()
        .position(|r| r["id"] == "turnD_i_12")
        .unwrap();
    v["reactions"][k].as_object_mut().unwrap().remove("open");
    let m = chem_model_of(&v);
    let rep = physlearn::chem::checks::check(&m);
    let msg: Vec<&String> = rep
        .diagnostics
        .iter()
        .filter(|d| d.code == "mass_balance")
        .map(|d| &d.message)
        .collect();
    assert_eq!(msg.len(), 1, "{msg:?}");
    assert!(
        msg[0].contains("turnD_i_12") && msg[0].contains("A1 -1"),
        "{msg:?}"
    );
    assert!(rep.has_errors());
    let _ = SpeciesId(0);
}

mod random_networks {
    use nalgebra::DMatrix;
    use physlearn::chem::network::{Network, Reaction, Species, SpeciesId};
    use proptest::prelude::*;

    /// Random binding networks: monomers of `n_el` elements, dimers of random monomer pairs,
    /// reversible binding reactions (balanced by construction).
    fn build(n_el: usize, dimers: &[(usize, usize)]) -> Network {
        let mut species: Vec<Species> = (0..n_el)
            .map(|e| Species {
                name: format!("X{e}"),
                composition: [(format!("X{e}"), 1.0)].into_iter().collect(),
                init: 1.0,
                scale: 1.0,
            })
            .collect();
        let mut reactions = Vec::new();
        for (k, &(a, b)) in dimers.iter().enumerate() {
            let mut comp = std::collections::BTreeMap::new();
            *comp.entry(format!("X{a}")).or_insert(0.0) += 1.0;
            *comp.entry(format!("X{b}")).or_insert(0.0) += 1.0;
            species.push(Species {
                name: format!("D{k}"),
                composition: comp,
                init: 0.1,
                scale: 1.0,
            });
            let d = SpeciesId(n_el + k);
            let re = vec![SpeciesId(a), SpeciesId(b)];
            reactions.push(Reaction {
                name: format!("on{k}"),
                reactants: re.clone(),
                products: vec![d],
                k: 1.0,
                open: false,
                drive: None,
            });
            reactions.push(Reaction {
                name: format!("off{k}"),
                reactants: vec![d],
                products: re,
                k: 2.0,
                open: false,
                drive: None,
            });
        }
        Network::new(species, reactions, vec![])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn laws_span_the_element_totals(
            n_el in 1usize..5,
            raw in proptest::collection::vec((0usize..5, 0usize..5), 1..7),
            drop in 0usize..100,
        ) {
            let dimers: Vec<(usize, usize)> = raw.iter().map(|&(a, b)| (a % n_el, b % n_el)).collect();
            let net = build(n_el, &dimers);
            prop_assert!(net.imbalances().is_empty());
            let n = net.species.len();
            let laws = net.conservation_laws(false);
            // dim(left null space) = species − rank(N).
            let stoich = net.stoichiometry(false);
            let rank = stoich.clone().svd(false, false).rank(1e-9);
            prop_assert_eq!(laws.len(), n - rank);
            // Every element total is a combination of the laws.
            let mut b = DMatrix::zeros(n, laws.len());
            for (j, l) in laws.iter().enumerate() {
                for (s, c) in &l.terms {
                    b[(s.0, j)] = *c;
                }
            }
            for e in 0..n_el {
                let w = nalgebra::DVector::from_iterator(n, net.species.iter().map(|s| {
                    s.composition.get(&format!("X{e}")).copied().unwrap_or(0.0)
                }));
                let c = b.clone().svd(true, true).solve(&w, 1e-12).unwrap();
                prop_assert!((&b * c - &w).amax() < 1e-9, "element X{} not in the law span", e);
            }
            // Breaking one reaction's balance is reported for that reaction only.
            let mut broken = net.reactions.clone();
            let r = drop % broken.len();
            broken[r].products.pop();
            let net2 = Network::new(net.species.clone(), broken, vec![]);
            let bad: Vec<usize> = net2.imbalances().iter().map(|(id, _)| id.0).collect();
            prop_assert_eq!(bad, vec![r]);
        }
    }
}

#[test]
fn odd_open_reactions_are_listed_for_review() {
    let path = format!("{}/netlists/m1_molecular.json", env!("CARGO_MANIFEST_DIR"));
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let rep = physlearn::chem::checks::check(&chem_model_of(&v));
    assert!(!rep.diagnostics.iter().any(|d| d.code == "open_review"));
    let k = v["reactions"]
        .as_array()
        .unwrap()
        .iter()
        .position(|r| r["id"] == "deg_hi_12")
        .unwrap();
    v["reactions"][k]["products"] = json!(["Y12"]); // Vh12 → Y12: a transmutation
    let rep = physlearn::chem::checks::check(&chem_model_of(&v));
    let d: Vec<&String> = rep
        .diagnostics
        .iter()
        .filter(|d| d.code == "open_review")
        .map(|d| &d.message)
        .collect();
    assert_eq!(d.len(), 1);
    assert!(d[0].contains("deg_hi_12"), "{d:?}");
}

/// Out-of-range or empty design lists are faults with their JSON path, never panics.
#[test]
fn bad_design_sizes_and_indices_are_faults_not_panics() {
    let path = format!("{}/netlists/m1_molecular.json", env!("CARGO_MANIFEST_DIR"));
    let v0: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let case = |edit: &dyn Fn(&mut Value), want: &str| {
        let mut v = v0.clone();
        edit(&mut v);
        let f = faults_of(&v);
        assert!(f.iter().any(|x| x.contains(want)), "{want}: {f:#?}");
    };
    case(
        &|v| v["design"]["inputs"][0] = json!(99),
        "design.inputs[0]: monomer index 99 out of range",
    );
    case(&|v| v["design"]["monomers"] = json!([]), "design.monomers");
    case(&|v| v["design"]["pairs"] = json!([]), "design.pairs");
    case(&|v| v["design"]["outputs"] = json!([]), "design.outputs");
    case(
        &|v| v["species"] = json!([]),
        "species: needs at least one species",
    );
    case(
        &|v| {
            v["outputs"].as_array_mut().unwrap().pop();
        },
        "outputs: needs one output per design output (2), got 1",
    );
    case(
        &|v| v["protocol"]["settle"] = json!(0.0),
        "protocol.settle: must be > 0",
    );
    let mut t = m1_template();
    t["outputs"] = json!([]);
    assert!(faults_of(&t).iter().any(|x| x.contains("outputs")));
}

/// The static solver refuses mismatched or empty inputs instead of defaulting or panicking.
#[test]
fn static_solver_rejects_bad_sizes() {
    let m = m1();
    let d = &m.design;
    let ex = &m.examples[0];
    let ell = m.ell0();
    let a = d.example_totals(ex);
    assert!(d
        .solve_static(&ell, &a, d.beta_max, &ex.targets, None, None)
        .is_ok());
    let e = d
        .solve_static(&ell, &a, d.beta_max, &ex.targets[..1], None, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("targets"), "{e}");
    assert!(d
        .solve_static(&ell[..3], &a, 0.0, &ex.targets, None, None)
        .is_err());
    let mut empty = d.clone();
    empty.monomers.clear();
    empty.pairs.clear();
    empty.inputs.clear();
    empty.outputs.clear();
    let e = empty
        .solve_static(&[], &[], 0.0, &[], None, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("empty design"), "{e}");
}

/// A zero-length segment leaves the state alone (and `hold` does not fail on it).
#[test]
fn zero_length_hold_is_a_no_op() {
    let m = m1();
    let mut r = Runner::new(&m);
    let x0 = r.x.clone();
    r.hold(0, 0.0, 0.0, 0.0, "settle").unwrap();
    assert_eq!(r.x, x0);
    assert_eq!(r.t, 0.0);
}

/// A checkpoint that does not fit the netlist is refused with what is wrong named, not a panic.
#[test]
fn resume_refuses_checkpoints_that_do_not_fit() {
    use physlearn::chem::system::ChemSystem;
    use physlearn::learning::{Session, SessionOptions};
    let sys = ChemSystem::new(m1()).unwrap();
    let opts = SessionOptions {
        cycles: Some(2),
        force: true,
        ..SessionOptions::default()
    };
    let ck = Session::new(&sys, &opts, "m1", "sha")
        .unwrap()
        .checkpoint()
        .clone();
    assert!(Session::resume(&sys, ck.clone(), &opts).is_ok());
    let refused = |edit: &dyn Fn(&mut physlearn::learning::Checkpoint<_, _>), what: &str| {
        let mut c = ck.clone();
        edit(&mut c);
        match Session::resume(&sys, c, &opts) {
            Ok(_) => panic!("{what}: accepted"),
            Err(e) => assert!(e.to_string().contains(what), "{what}: {e}"),
        }
    };
    refused(&|c| c.state.inputs.push(1.0), "input totals");
    refused(&|c| c.state.inputs.clear(), "input totals");
    refused(&|c| c.state.example = 7, "example 7 out of range");
    refused(&|c| c.next_cycle = c.total_cycles + 1, "next_cycle");
    refused(
        &|c| c.format = "physlearn-chem-checkpoint/1".into(),
        "earlier physlearn",
    );
    refused(
        &|c| c.family = physlearn::Family::Flow,
        "written for a flow model",
    );
}
