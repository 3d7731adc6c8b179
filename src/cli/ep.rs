//! `physlearn ep`: train a layered energy-based network with standard EP and/or TCL-EP (Fig. 3).
//!
//! Outputs (written atomically into `--out`):
//! * one rule: `ep.csv` (`epoch,train_error,test_error`);
//! * `--rule both`: `ep/ep.csv` and `tcl/ep.csv`, same columns;
//! * `error_vs_epoch.png`: test (lines) and train (points) error vs epoch of every rule run, plus
//!   the curves of `--overlay` files;
//! * `manifest.json`: parameters, seed, data hash, seconds per epoch and final errors.

use super::{progress_bar, Failure};
use anyhow::{anyhow, Context};
use clap::{Args as ClapArgs, ValueEnum};
use physlearn::ep::data::{digits, load_csv, load_mnist_dir, Dataset, DIGITS_CSV};
use physlearn::ep::rules::{RelaxConfig, ThresholdRule, Thresholds};
use physlearn::ep::tcl::Sawtooth;
use physlearn::ep::train::{EpochRecord, Rule, TrainConfig, Trainer};
use physlearn::ep::EpError;
use physlearn::io::output::{Manifest, StagedDir};
use physlearn::io::plot::{xy_plot, Figure, Mark, Series};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RuleArg {
    /// Standard Equilibrium Propagation.
    Ep,
    /// Temporal Contrastive Learning EP (sawtooth nudge, kernel, thresholds).
    Tcl,
    /// Both rules on the same split and initialisation, plotted together.
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ThetaArg {
    /// Fixed per-group values (`--theta-w`, `--theta-b`).
    Fixed,
    /// The paper's rule θ = factor·|M_1|·A_max/τ_s per minibatch and group.
    Paper,
}

/// Train a layered Hopfield-like network by Equilibrium Propagation (standard or TCL).
#[derive(Debug, ClapArgs)]
#[command(allow_negative_numbers = true)]
pub struct Args {
    /// Data: `digits` (embedded 8×8 digits), `PATH.csv` (label then features per row) or
    /// `mnist:DIR` (uncompressed MNIST IDX files in DIR).
    #[arg(long, default_value = "digits")]
    pub data: String,
    /// Learning rule.
    #[arg(long, value_enum, default_value = "ep")]
    pub rule: RuleArg,
    /// Number of epochs.
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Hidden layer sizes, comma separated (e.g. `128` or `256,64`).
    #[arg(long, value_delimiter = ',', default_value = "128")]
    pub hidden: Vec<usize>,
    /// Minibatch size.
    #[arg(long, default_value_t = 20)]
    pub batch_size: usize,
    /// Nudge strength |β| (its sign is drawn at random per minibatch).
    #[arg(long, default_value_t = 0.5)]
    pub beta: f64,
    /// Relaxation step ε.
    #[arg(long, default_value_t = 0.5)]
    pub eps: f64,
    /// Free-phase relaxation steps.
    #[arg(long, default_value_t = 20)]
    pub n_free: usize,
    /// Nudged relaxation steps per nudge level.
    #[arg(long, default_value_t = 4)]
    pub n_nudge: usize,
    /// Learning rate per weight layer, input side first [default: 0.1 for every layer but the
    /// last, 0.05 for the last].
    #[arg(long, value_delimiter = ',')]
    pub rates: Option<Vec<f64>>,
    /// How TCL thresholds are set.
    #[arg(long, value_enum, default_value = "fixed")]
    pub theta: ThetaArg,
    /// TCL weight thresholds per weight layer [default: 7e-6 for every layer but the last, 3e-5
    /// for the last; with `--data mnist:` the paper's 1.2e-6 and 2e-5].
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub theta_w: Option<Vec<f64>>,
    /// TCL bias thresholds per non-input layer [default: 7e-6 for hidden layers, 3e-5 for the
    /// output; with `--data mnist:` the paper's 1e-5 and 2e-4].
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub theta_b: Option<Vec<f64>>,
    /// Margin factor of `--theta paper` (> 1 keeps the slow relaxation below threshold).
    #[arg(long, default_value_t = 1.1)]
    pub theta_factor: f64,
    /// Nudge levels of the sawtooth (rise and fall).
    #[arg(long, default_value_t = 9)]
    pub levels: usize,
    /// Sawtooth rise time τ_f.
    #[arg(long, default_value_t = 0.1)]
    pub tau_fast: f64,
    /// Sawtooth fall time τ_s.
    #[arg(long, default_value_t = 0.9)]
    pub tau_slow: f64,
    /// Kernel timescale τ_K of K(t) = sin(2πt/τ_K)/3.
    #[arg(long, default_value_t = 0.1)]
    pub tau_k: f64,
    /// Time grid step Δt.
    #[arg(long, default_value_t = 0.01)]
    pub dt: f64,
    /// TCL gain c in Δ = c/β·Δt Σ g_θ(u).
    #[arg(long, default_value_t = 5000.0)]
    pub gain: f64,
    /// Master seed (split, initialisation, shuffling, signs of β).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Test fraction of the seeded split (CSV data, or MNIST without t10k files).
    #[arg(long, default_value_t = 0.2)]
    pub test_fraction: f64,
    /// Use at most this many training examples.
    #[arg(long)]
    pub max_train: Option<usize>,
    /// Use at most this many test examples.
    #[arg(long)]
    pub max_test: Option<usize>,
    /// Existing `ep.csv` files whose curves are added to the plot (comma separated).
    #[arg(long, value_delimiter = ',')]
    pub overlay: Vec<PathBuf>,
    /// Worker threads (default: rayon's choice, all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

const CSV_HEADER: &str = "epoch,train_error,test_error";

fn bad(e: EpError) -> Failure {
    if e.is_bad_input() {
        Failure::bad_input(e)
    } else {
        Failure::numerical(e)
    }
}

/// The data sets and the bytes that identify them.
struct Loaded {
    train: Dataset,
    test: Dataset,
    description: String,
    sha_bytes: Vec<u8>,
}

fn load_data(args: &Args) -> Result<Loaded, Failure> {
    let (train, test, description, sha_bytes) = if args.data == "digits" {
        let d = digits().map_err(bad)?;
        let (tr, te) = d.split(args.test_fraction, args.seed).map_err(bad)?;
        (
            tr,
            te,
            "digits (embedded data/digits8x8.csv)".to_string(),
            DIGITS_CSV.as_bytes().to_vec(),
        )
    } else if let Some(dir) = args.data.strip_prefix("mnist:") {
        let dir = Path::new(dir);
        let (tr, te) = load_mnist_dir(dir).map_err(bad)?;
        let (tr, te) = match te {
            Some(te) => (tr, te),
            None => tr.split(args.test_fraction, args.seed).map_err(bad)?,
        };
        let mut bytes = Vec::new();
        for name in physlearn::ep::data::MNIST_FILES {
            if let Ok(b) = std::fs::read(dir.join(name)) {
                bytes.extend(b);
            }
        }
        (tr, te, format!("MNIST IDX in {}", dir.display()), bytes)
    } else {
        let path = Path::new(&args.data);
        let d = load_csv(path).map_err(bad)?;
        let (tr, te) = d.split(args.test_fraction, args.seed).map_err(bad)?;
        let bytes = std::fs::read(path)
            .map_err(|e| Failure::bad_input(anyhow!("{}: {e}", path.display())))?;
        (tr, te, path.display().to_string(), bytes)
    };
    let train = match args.max_train {
        Some(n) => train.truncated(n),
        None => train,
    };
    let test = match args.max_test {
        Some(n) => test.truncated(n),
        None => test,
    };
    if train.is_empty() || test.is_empty() {
        return Err(Failure::bad_input(anyhow!(
            "empty train or test set ({} / {})",
            train.len(),
            test.len()
        )));
    }
    Ok(Loaded {
        train,
        test,
        description,
        sha_bytes,
    })
}

fn per_layer(given: &Option<Vec<f64>>, n: usize, inner: f64, last: f64) -> Vec<f64> {
    match given {
        Some(v) => v.clone(),
        None => (0..n)
            .map(|l| if l + 1 == n { last } else { inner })
            .collect(),
    }
}

fn config(args: &Args, rule: Rule) -> TrainConfig {
    let n_w = args.hidden.len() + 1;
    let thresholds = match args.theta {
        ThetaArg::Fixed => {
            let default = if args.data.starts_with("mnist:") {
                Thresholds::paper_mnist(n_w)
            } else {
                Thresholds::digits(n_w)
            };
            ThresholdRule::Fixed(Thresholds {
                weights: args.theta_w.clone().unwrap_or(default.weights),
                biases: args.theta_b.clone().unwrap_or(default.biases),
            })
        }
        ThetaArg::Paper => ThresholdRule::Paper {
            factor: args.theta_factor,
        },
    };
    TrainConfig {
        hidden: args.hidden.clone(),
        epochs: args.epochs,
        batch_size: args.batch_size,
        beta: args.beta,
        random_sign: true,
        relax: RelaxConfig {
            eps: args.eps,
            n_free: args.n_free,
            n_nudge: args.n_nudge,
        },
        rates: per_layer(&args.rates, n_w, 0.1, 0.05),
        rule,
        sawtooth: Sawtooth {
            n_levels: args.levels,
            tau_fast: args.tau_fast,
            tau_slow: args.tau_slow,
        },
        tau_k: args.tau_k,
        dt: args.dt,
        thresholds,
        gain: args.gain,
        seed: args.seed,
        shuffle: true,
    }
}

/// Read an `ep.csv` written by this command (for `--overlay`).
fn read_ep_csv(path: &Path) -> Result<Vec<EpochRecord>, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::bad_input(anyhow!("overlay {}: {e}", path.display())))?;
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some(CSV_HEADER) {
        return Err(Failure::bad_input(anyhow!(
            "overlay {}:1: header must be `{CSV_HEADER}`",
            path.display()
        )));
    }
    let mut out = Vec::new();
    for (i, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let parsed = (f.len() == 3)
            .then(|| {
                Some(EpochRecord {
                    epoch: f[0].parse().ok()?,
                    train_error: f[1].parse().ok()?,
                    test_error: f[2].parse().ok()?,
                    seconds: f64::NAN,
                })
            })
            .flatten();
        match parsed {
            Some(r) => out.push(r),
            None => {
                return Err(Failure::bad_input(anyhow!(
                    "overlay {}:{}: expected `epoch,train_error,test_error`",
                    path.display(),
                    i + 2
                )))
            }
        }
    }
    Ok(out)
}

fn csv_text(records: &[EpochRecord]) -> String {
    let mut s = String::from(CSV_HEADER);
    s.push('\n');
    for r in records {
        s.push_str(&format!(
            "{},{:.6},{:.6}\n",
            r.epoch, r.train_error, r.test_error
        ));
    }
    s
}

fn rule_label(rule: Rule) -> &'static str {
    match rule {
        Rule::Ep => "EP",
        Rule::Tcl => "TCL-EP",
    }
}

pub fn run(args: Args) -> Result<(), Failure> {
    if args.epochs == 0 {
        return Err(Failure::bad_input(anyhow!("--epochs must be at least 1")));
    }
    let pool = {
        let mut b = rayon::ThreadPoolBuilder::new();
        if let Some(n) = args.threads {
            if n == 0 {
                return Err(Failure::bad_input(anyhow!("--threads must be at least 1")));
            }
            b = b.num_threads(n);
        }
        b.build()
            .map_err(|e| Failure::other(anyhow!("thread pool: {e}")))?
    };
    pool.install(|| run_inner(args))
}

fn run_inner(args: Args) -> Result<(), Failure> {
    let rules: Vec<Rule> = match args.rule {
        RuleArg::Ep => vec![Rule::Ep],
        RuleArg::Tcl => vec![Rule::Tcl],
        RuleArg::Both => vec![Rule::Ep, Rule::Tcl],
    };
    let overlays: Vec<(PathBuf, Vec<EpochRecord>)> = args
        .overlay
        .iter()
        .map(|p| read_ep_csv(p).map(|r| (p.clone(), r)))
        .collect::<Result<_, _>>()?;
    let data = load_data(&args)?;
    // Build every trainer first so that option errors surface before any work.
    let mut trainers = Vec::new();
    for &rule in &rules {
        let cfg = config(&args, rule);
        trainers.push(Trainer::new(cfg, data.train.clone(), data.test.clone()).map_err(bad)?);
    }
    let stage = StagedDir::new(&args.out)?;
    let total: usize = trainers
        .iter()
        .map(|t| t.batches_per_epoch() * args.epochs)
        .sum();
    let pb = progress_bar(total as u64, "ep");
    let mut results: Vec<(Rule, Vec<EpochRecord>)> = Vec::new();
    for (trainer, &rule) in trainers.iter_mut().zip(&rules) {
        let mut records = Vec::new();
        for _ in 0..args.epochs {
            let r = trainer.run_epoch(|| pb.inc(1)).map_err(bad)?;
            pb.set_message(format!(
                "{} epoch {}: test error {:.2}%",
                rule.name(),
                r.epoch,
                100.0 * r.test_error
            ));
            records.push(r);
        }
        results.push((rule, records));
    }
    pb.finish_and_clear();

    // CSV files.
    for (rule, records) in &results {
        let name = if results.len() == 1 {
            "ep.csv".to_string()
        } else {
            let dir = stage.path(rule.name());
            std::fs::create_dir_all(&dir)
                .map_err(|e| Failure::other(anyhow!("{}: {e}", dir.display())))?;
            format!("{}/ep.csv", rule.name())
        };
        stage.write_text(&name, &csv_text(records))?;
    }

    // Fig. 3B-style plot: test error (left) and training error (right) vs epoch; one colour per
    // rule, overlays after the rules.
    let arch = trainers
        .first()
        .map(|t| t.architecture().label())
        .unwrap_or_default();
    let mut panels = [
        Figure::new(
            &format!("test error, {arch}, {}", data.description),
            "epoch",
            "test error (%)",
        ),
        Figure::new("training error (free phase)", "epoch", "training error (%)"),
    ];
    let mut curves: Vec<(String, &[EpochRecord])> = results
        .iter()
        .map(|(rule, r)| (rule_label(*rule).to_string(), r.as_slice()))
        .collect();
    for (path, r) in &overlays {
        curves.push((path.display().to_string(), r.as_slice()));
    }
    for (label, records) in curves {
        let x: Vec<f64> = records.iter().map(|r| r.epoch as f64).collect();
        let test: Vec<f64> = records.iter().map(|r| 100.0 * r.test_error).collect();
        let train: Vec<f64> = records.iter().map(|r| 100.0 * r.train_error).collect();
        let [p_test, p_train] = &mut panels;
        p_test
            .series
            .push(Series::line(label.clone(), x.clone(), test).with_mark(Mark::LinePoints));
        p_train
            .series
            .push(Series::line(label, x, train).with_mark(Mark::LinePoints));
    }
    xy_plot(&stage.path("error_vs_epoch.png"), &panels)?;

    // Manifest.
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let mut manifest =
        Manifest::new(&command).with_input(Path::new(&data.description), &data.sha_bytes);
    manifest.input_path = Some(data.description.clone());
    manifest.seed = Some(args.seed);
    let configs: Vec<serde_json::Value> = trainers
        .iter()
        .map(|t| serde_json::to_value(t.config()))
        .collect::<Result<_, _>>()
        .context("serialising the configuration")
        .map_err(Failure::other)?;
    manifest.parameters = serde_json::json!({
        "data": args.data,
        "architecture": trainers.first().map(|t| t.architecture().label()),
        "n_train": data.train.len(),
        "n_test": data.test.len(),
        "test_fraction": args.test_fraction,
        "threads": rayon::current_num_threads(),
        "configs": configs,
        "overlay": args.overlay,
    });
    let stats: serde_json::Map<String, serde_json::Value> = results
        .iter()
        .map(|(rule, records)| {
            let secs: Vec<f64> = records.iter().map(|r| r.seconds).collect();
            let mean = secs.iter().sum::<f64>() / secs.len().max(1) as f64;
            let last = records.last();
            (
                rule.name().to_string(),
                serde_json::json!({
                    "seconds_per_epoch": mean,
                    "seconds_total": secs.iter().sum::<f64>(),
                    "final_train_error": last.map(|r| r.train_error),
                    "final_test_error": last.map(|r| r.test_error),
                    "best_test_error": records.iter().map(|r| r.test_error).fold(f64::INFINITY, f64::min),
                }),
            )
        })
        .collect();
    manifest.statistics = serde_json::Value::Object(stats);
    stage.write_json("manifest.json", &manifest)?;
    let out = stage.commit()?;
    // A closed stdout (e.g. `| head`) must not turn a finished run into a failure.
    let mut summary = String::new();
    for (rule, records) in &results {
        if let Some(r) = records.last() {
            let secs = records.iter().map(|r| r.seconds).sum::<f64>() / records.len() as f64;
            summary.push_str(&format!(
                "{}: epoch {} train error {:.2}% test error {:.2}% ({:.3} s/epoch)\n",
                rule_label(*rule),
                r.epoch,
                100.0 * r.train_error,
                100.0 * r.test_error,
                secs
            ));
        }
    }
    summary.push_str(&format!("wrote {}\n", out.display()));
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), summary.as_bytes());
    Ok(())
}
