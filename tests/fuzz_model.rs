//! Mutation fuzz of `physlearn::Model::from_json` over every shipped netlist of every family
//! (and the chemical template): value and type changes, deletions, duplicate keys, deep
//! nesting, truncation and byte flips. Nothing may panic, and every netlist fault names a JSON
//! path. 10 000 seeded cases in the default suite (two threads); `PHYSLEARN_FUZZ_CASES=1000000 cargo test
//! --release --test fuzz_model -- --ignored` runs the long campaign.

use physlearn::netlist::NetlistError;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::path::Path;

fn corpus() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("netlists");
    let mut files: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.push(root.join("templates/m1_molecular_template.json"));
    files.sort();
    let mut out: Vec<(String, String)> = files
        .into_iter()
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    // The compact form (model card + element group) as `generate` writes it.
    let compact = physlearn::generate::lattice_compact(4, 2.0, None).unwrap();
    out.push((
        "generate lattice --n 4 --form compact".into(),
        physlearn::generate::netlist_text(&compact),
    ));
    out
}

fn nodes(v: &Value, prefix: String, out: &mut Vec<String>) {
    out.push(prefix.clone());
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                nodes(
                    c,
                    format!("{prefix}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                nodes(c, format!("{prefix}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn replacement(rng: &mut ChaCha8Rng) -> Value {
    let x: f64 = rng.random_range(-10.0..10.0);
    match rng.random_range(0..12) {
        0 => Value::Null,
        1 => json!(x),
        2 => json!(-x.abs()),
        3 => json!("auto"),
        4 => json!([x, x]),
        5 => json!({}),
        6 => json!(0),
        7 => json!(true),
        8 => json!(f64::MAX),
        9 => json!("NaN"),
        10 => json!(1e-300),
        _ => json!({"a": {"b": [[[[[[[[[[x]]]]]]]]]]}}),
    }
}

/// One mutated text of `base`.
fn mutate(base: &Value, text: &str, rng: &mut ChaCha8Rng) -> String {
    match rng.random_range(0..10) {
        // Byte-level: flip a byte, or truncate.
        0 => {
            let mut b = text.as_bytes().to_vec();
            let i = rng.random_range(0..b.len());
            b[i] ^= 1 << rng.random_range(0..7);
            String::from_utf8_lossy(&b).into_owned()
        }
        1 => text[..text.floor_char_boundary(rng.random_range(0..text.len()))].to_string(),
        // A duplicate key somewhere.
        2 => {
            let i = text.find("\":").map_or(0, |i| i + 2);
            let j = rng.random_range(i..text.len());
            match text[j..].find(",\"") {
                Some(k) => {
                    let at = j + k + 1;
                    let end = text[at + 1..].find('"').map_or(at, |e| at + e + 2);
                    format!("{}{}:0,{}", &text[..at], &text[at..end], &text[at..])
                }
                None => text.to_string(),
            }
        }
        // Tree-level: replace or delete 1..3 nodes.
        _ => {
            let mut v = base.clone();
            for _ in 0..rng.random_range(1..4) {
                let mut ptrs = Vec::new();
                nodes(&v, String::new(), &mut ptrs);
                let ptr = ptrs[rng.random_range(0..ptrs.len())].clone();
                if ptr.is_empty() {
                    continue;
                }
                if rng.random_bool(0.3) {
                    let (parent, key) = ptr.rsplit_once('/').unwrap();
                    match v.pointer_mut(parent) {
                        Some(Value::Object(m)) => {
                            m.remove(key);
                        }
                        Some(Value::Array(a)) => {
                            if let Ok(i) = key.parse::<usize>() {
                                if i < a.len() {
                                    a.remove(i);
                                }
                            }
                        }
                        _ => {}
                    }
                } else if let Some(slot) = v.pointer_mut(&ptr) {
                    *slot = replacement(rng);
                }
            }
            serde_json::to_string(&v).unwrap()
        }
    }
}

/// Cases `cases` of the campaign `seed`: case i draws from its own stream, so the set of cases
/// does not depend on how they are split over threads.
fn campaign(cases: std::ops::Range<usize>, seed: u64) {
    let corpus = corpus();
    let parsed: Vec<Value> = corpus
        .iter()
        .map(|(_, t)| serde_json::from_str(t).unwrap())
        .collect();
    let (mut loaded, mut refused) = (0usize, 0usize);
    let n = cases.len();
    for case in cases {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(case as u64);
        let k = rng.random_range(0..corpus.len());
        let text = mutate(&parsed[k], &corpus[k].1, &mut rng);
        match physlearn::Model::from_json(&text) {
            Ok(_) => loaded += 1,
            Err(physlearn::Error::Netlist(NetlistError::Invalid(faults))) => {
                refused += 1;
                for f in &faults {
                    assert!(
                        !f.path.is_empty(),
                        "case {case} ({}): a fault without a path: {}",
                        corpus[k].0,
                        f.message
                    );
                }
            }
            Err(_) => refused += 1,
        }
    }
    eprintln!("{n} cases: {loaded} loaded, {refused} refused");
}

/// `cases` split over the machine's cores, each thread with its own seed (deterministic).
fn parallel_campaign(cases: usize, seed: u64) {
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 8);
    let t0 = std::time::Instant::now();
    std::thread::scope(|s| {
        for k in 0..threads {
            let (lo, hi) = (cases * k / threads, cases * (k + 1) / threads);
            s.spawn(move || campaign(lo..hi, seed));
        }
    });
    eprintln!(
        "{cases} cases on {threads} threads in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
}

#[test]
fn mutated_netlists_of_every_family_never_panic() {
    parallel_campaign(10_000, 7);
}

#[test]
#[ignore = "long: set PHYSLEARN_FUZZ_CASES (default 1e6)"]
fn mutation_campaign() {
    let n = std::env::var("PHYSLEARN_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    parallel_campaign(n, 11);
}
