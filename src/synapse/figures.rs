//! Data, plots and output directories of the paper's synapse figures (paper §4 claims 1–4).
//!
//! | id | content |
//! |---|---|
//! | `fig2` | kernels (E. coli, E. coli with area, integral feedback, exponential), one period of `s`, `u = K*s`, `g_θ(u)` |
//! | `fig4b` | Δw(A) for I = 0 at several `τ_s/τ_f`, with the ideal line Δw = A |
//! | `fig4c` | sweep: dynamic range `A_max/A_min` vs `τ_s/τ_f` (3-segment fit), random protocols |
//! | `fig5b` | Δw(A) for I = 0.05, s_0 = 25 at several `τ_f`, with `A + I s_0 τ_f` |
//! | `fig5c` | sweep: offset vs `τ_f` (3-segment fit) with the theory `I s_0 τ_f` |
//! | `fig6b` | sweep over random Markov-ladder kernels: offset and area vs dissipation |
//! | `fig8` | Δw/A vs `τ_f/τ_K` at fixed period 20: the ramp must outlast the kernel |
//! | `fig9a` | ladder kernels for several γ; dissipation (both formulas) and area vs γ |
//!
//! [`compute`] produces tables and plot panels; [`write_output`] writes them atomically with a
//! `manifest.json`; [`merge_shards`] joins shard directories of a sweep and draws the figure.

use super::analysis::{pwlf_metrics, threshold_metrics};
use super::kernel::{KernelSpec, SampledKernel};
use super::ladder::{self, LadderKernel, LadderParams};
use super::protocol::{adaptive_threshold, amplitude_grid, Sawtooth, SawtoothResponse};
use super::sweep::{run_sweep, Shard, Table};
use super::{positive, Result, SynapseError};
use crate::io::output::{Manifest, StagedDir};
use crate::io::plot::{xy_plot, Figure, Mark, Series};
use rand::Rng;
use serde::Serialize;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

/// E. coli kernel timescale τ_K = 1/20 (App. C).
pub const TAU_K: f64 = 0.05;

/// The figures that `physlearn figure` can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FigureId {
    Fig2,
    Fig4b,
    Fig4c,
    Fig5b,
    Fig5c,
    Fig6b,
    Fig8,
    Fig9a,
}

impl FigureId {
    /// Every figure, in paper order.
    pub const ALL: [FigureId; 8] = [
        FigureId::Fig2,
        FigureId::Fig4b,
        FigureId::Fig4c,
        FigureId::Fig5b,
        FigureId::Fig5c,
        FigureId::Fig6b,
        FigureId::Fig8,
        FigureId::Fig9a,
    ];

    /// Name used on the command line and for file names.
    pub fn name(&self) -> &'static str {
        match self {
            FigureId::Fig2 => "fig2",
            FigureId::Fig4b => "fig4b",
            FigureId::Fig4c => "fig4c",
            FigureId::Fig5b => "fig5b",
            FigureId::Fig5c => "fig5c",
            FigureId::Fig6b => "fig6b",
            FigureId::Fig8 => "fig8",
            FigureId::Fig9a => "fig9a",
        }
    }

    /// Random sweeps (these accept `--tasks`, `--seed` and `--shard`).
    pub fn is_sweep(&self) -> bool {
        matches!(self, FigureId::Fig4c | FigureId::Fig5c | FigureId::Fig6b)
    }

    /// Default number of sweep tasks and points (curves or kernels) per task.
    pub fn sweep_size(&self) -> (usize, usize) {
        match self {
            FigureId::Fig4c => (100, 10),
            FigureId::Fig5c => (100, 5),
            FigureId::Fig6b => (100, 50),
            _ => (1, 1),
        }
    }
}

impl FromStr for FigureId {
    type Err = SynapseError;
    fn from_str(s: &str) -> Result<Self> {
        FigureId::ALL
            .iter()
            .copied()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                SynapseError::InvalidInput(format!(
                    "unknown figure {s:?}; expected one of {}",
                    FigureId::ALL.map(|f| f.name()).join(", ")
                ))
            })
    }
}

impl std::fmt::Display for FigureId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Resolution and sweep options.
#[derive(Debug, Clone, Serialize)]
pub struct FigureOptions {
    /// Time step of kernels and protocols (protocol time). Default 1e−3 = τ_K/50 (the paper
    /// used 1e−4; see docs/synapse.md for the comparison).
    pub dt: f64,
    /// Number of sweep tasks (default: the paper's, see [`FigureId::sweep_size`]).
    pub tasks: Option<usize>,
    /// Master seed of the sweeps.
    pub seed: u64,
    /// Shard of the sweep to run.
    pub shard: Shard,
}

impl Default for FigureOptions {
    fn default() -> Self {
        FigureOptions {
            dt: 1e-3,
            tasks: None,
            seed: 1,
            shard: Shard::ALL,
        }
    }
}

/// What a figure command produced.
#[derive(Debug, Clone)]
pub struct FigureOutput {
    pub id: FigureId,
    /// Named data tables (written as `<name>.csv`).
    pub tables: Vec<(String, Table)>,
    /// Plot panels (empty for a partial shard).
    pub panels: Vec<Figure>,
    /// Parameters (recorded in the manifest; used to check shards before merging).
    pub parameters: serde_json::Value,
    /// Summary statistics (recorded in the manifest).
    pub statistics: serde_json::Value,
    pub seed: Option<u64>,
}

/// Number of progress ticks [`compute`] will report.
pub fn progress_len(id: FigureId, opts: &FigureOptions) -> usize {
    if id.is_sweep() {
        let n = opts.tasks.unwrap_or(id.sweep_size().0);
        opts.shard.tasks(n).len()
    } else {
        1
    }
}

/// Compute a figure (or one shard of a sweep figure).
pub fn compute(
    id: FigureId,
    opts: &FigureOptions,
    tick: &(dyn Fn() + Sync),
) -> Result<FigureOutput> {
    positive("dt", opts.dt)?;
    if opts.dt > TAU_K / 5.0 {
        return Err(SynapseError::InvalidParameter {
            name: "dt",
            value: opts.dt,
            reason: "figures need dt <= tau_K/5 = 0.01",
        });
    }
    if !id.is_sweep() && !opts.shard.is_all() {
        return Err(SynapseError::BadShard {
            spec: format!("{}/{}", opts.shard.index, opts.shard.count),
            reason: format!("{id} is not a sweep; only fig4c, fig5c, fig6b can be sharded"),
        });
    }
    if !id.is_sweep() && opts.tasks.is_some() {
        return Err(SynapseError::InvalidInput(format!(
            "--tasks applies only to the sweeps fig4c, fig5c, fig6b, not to {id}"
        )));
    }
    if let Some(0) = opts.tasks {
        return Err(SynapseError::InvalidParameter {
            name: "tasks",
            value: 0.0,
            reason: "a sweep needs at least one task",
        });
    }
    let start = Instant::now();
    let mut out = match id {
        FigureId::Fig2 => fig2(opts),
        FigureId::Fig4b => fig4b(opts),
        FigureId::Fig4c | FigureId::Fig5c | FigureId::Fig6b => sweep_figure(id, opts, tick),
        FigureId::Fig5b => fig5b(opts),
        FigureId::Fig8 => fig8(opts),
        FigureId::Fig9a => fig9a(opts),
    }?;
    if !id.is_sweep() {
        tick();
    }
    if let serde_json::Value::Object(m) = &mut out.statistics {
        m.insert("elapsed_s".into(), json!(start.elapsed().as_secs_f64()));
    }
    Ok(out)
}

fn ecoli(area: f64, dt: f64) -> Result<SampledKernel> {
    KernelSpec::Ecoli { tau_k: TAU_K, area }.sample(dt)
}

fn curve_series(label: String, x: &[f64], y: &[f64]) -> Series {
    Series::line(label, x.to_vec(), y.to_vec())
}

// ----------------------------------------------------------------------------------------
// Fig. 2: kernels and one protocol period.

fn fig2(opts: &FigureOptions) -> Result<FigureOutput> {
    let dt = opts.dt;
    let kernels = [
        (
            "ecoli_I0",
            KernelSpec::Ecoli {
                tau_k: TAU_K,
                area: 0.0,
            },
        ),
        (
            "ecoli_I0.05",
            KernelSpec::Ecoli {
                tau_k: TAU_K,
                area: 0.05,
            },
        ),
        (
            "ifb",
            KernelSpec::IntegralFeedback {
                tau_u: TAU_K / 10.0,
                tau_x: TAU_K,
                area: 0.0,
            },
        ),
        (
            "exp",
            KernelSpec::Exponential {
                tau_k: TAU_K,
                area: 1.0,
            },
        ),
    ];
    let t_show = 8.0 * TAU_K;
    let n_show = (t_show / dt).round() as usize;
    let mut ktab = Table::new(&["task", "t", "K_ecoli_I0", "K_ecoli_I0.05", "K_ifb", "K_exp"]);
    let sampled: Vec<SampledKernel> = kernels
        .iter()
        .map(|(_, k)| k.sample(dt))
        .collect::<Result<_>>()?;
    for i in 0..n_show {
        let mut row = vec![0.0, (i as f64 + 0.5) * dt];
        for k in &sampled {
            row.push(k.values().get(i).copied().unwrap_or(0.0));
        }
        ktab.rows.push(row);
    }
    let t = ktab.column("t")?;
    let mut kfig = Figure::new("memory kernels (area I, first moment M1)", "t", "K(t)");
    let mut ifig = Figure::new(
        "integral feedback (eqs. 14-15), tau_u = tau_x/10, M1 = -1",
        "t",
        "K(t)",
    );
    for (j, (name, _)) in kernels.iter().enumerate() {
        let k = ktab.column(&ktab.header[2 + j].clone())?;
        let label = format!(
            "{name}: I = {:.3}, M1 = {:.3}",
            sampled[j].area(),
            sampled[j].first_moment()
        );
        if *name == "ifb" {
            ifig = ifig.add(curve_series(label, &t, &k));
        } else {
            kfig = kfig.add(curve_series(label, &t, &k));
        }
    }
    // One period of the protocol through the E. coli kernel (I = 0).
    let saw = Sawtooth::new(1.0, 4.0)?;
    let (s0, amp, theta) = (0.0, 1.0, 0.5);
    let resp = SawtoothResponse::new(&sampled[0], saw)?;
    let t: Vec<f64> = resp.times();
    let s: Vec<f64> = t.iter().map(|&ti| saw.signal(ti, s0, amp)).collect();
    let u = resp.filtered(s0, amp);
    let g: Vec<f64> = u
        .iter()
        .map(|&x| crate::learning::rule::hard_threshold(x, theta))
        .collect();
    let tu: Vec<f64> = t.iter().map(|ti| ti + 0.5 * resp.dt()).collect();
    let mut stab = Table::new(&["task", "t", "s", "u", "g"]);
    for i in 0..t.len() {
        stab.rows.push(vec![0.0, t[i], s[i], u[i], g[i]]);
    }
    let dw = resp.delta_w(s0, amp, theta)?;
    let sfig = Figure::new(
        &format!("tau_f = 1, tau_s = 4, A = 1, theta = 0.5: dw = {dw:.4}"),
        "t",
        "signal",
    )
    .add(curve_series("s(t)".into(), &t, &s))
    .add(curve_series("u = K*s".into(), &tu, &u))
    .add(curve_series("g_theta(u)".into(), &tu, &g))
    .add(Series::line("+-theta", vec![0.0, 5.0], vec![theta, theta]).with_mark(Mark::Reference))
    .add(Series::line("", vec![0.0, 5.0], vec![-theta, -theta]).with_mark(Mark::Reference));
    Ok(FigureOutput {
        id: FigureId::Fig2,
        tables: vec![("fig2_kernels".into(), ktab), ("fig2_signal".into(), stab)],
        panels: vec![kfig, ifig, sfig],
        parameters: json!({"figure": "fig2", "dt": dt, "tau_k": TAU_K, "tau_f": 1.0, "tau_s": 4.0,
                           "s0": s0, "amplitude": amp, "theta": theta,
                           "kernels": kernels.iter().map(|(n, k)| json!({"name": n, "spec": k})).collect::<Vec<_>>()}),
        statistics: json!({"delta_w": dw,
            "areas": sampled.iter().map(|k| k.area()).collect::<Vec<_>>(),
            "first_moments": sampled.iter().map(|k| k.first_moment()).collect::<Vec<_>>()}),
        seed: None,
    })
}

// ----------------------------------------------------------------------------------------
// Fig. 4B and 5B: weight-update curves.

/// A family of weight-update curves on one E. coli kernel.
struct CurveSet<'a> {
    area: f64,
    s0: f64,
    a_max: f64,
    /// Amplitudes `linspace(0, a_end, n_amp, endpoint = false)`.
    a_end: f64,
    n_amp: usize,
    /// `(τ_f, τ_s)` of each curve.
    protocols: &'a [(f64, f64)],
}

fn update_curves(id: FigureId, opts: &FigureOptions, set: CurveSet) -> Result<FigureOutput> {
    let CurveSet {
        area,
        s0,
        a_max,
        a_end,
        n_amp,
        protocols,
    } = set;
    let kernel = ecoli(area, opts.dt)?;
    let amps = amplitude_grid(a_end, n_amp);
    let x: Vec<f64> = amps.iter().map(|a| a / a_max).collect();
    let mut tab = Table::new(&[
        "task",
        "tau_f",
        "tau_s",
        "theta",
        "A_over_Amax",
        "dw_over_Amax",
    ]);
    let title = if area == 0.0 {
        format!("E. coli kernel, I = 0, theta = A_max/tau_s, A_max = {a_max}")
    } else {
        format!("E. coli kernel, I = {area}, s0 = {s0}, theta = A_max/tau_s")
    };
    let mut fig = Figure::new(&title, "A / A_max", "dw / A_max");
    let mut stats = Vec::new();
    for (c, &(tau_f, tau_s)) in protocols.iter().enumerate() {
        let saw = Sawtooth::new(tau_f, tau_s)?;
        let resp = SawtoothResponse::new(&kernel, saw)?;
        let theta = a_max / tau_s;
        let dw = resp.curve(s0, &amps, theta)?;
        let y: Vec<f64> = dw.iter().map(|d| d / a_max).collect();
        for j in 0..amps.len() {
            tab.rows
                .push(vec![c as f64, tau_f, tau_s, theta, x[j], y[j]]);
        }
        let n_fit = amps.iter().filter(|&&a| a < 0.75 * a_max).count();
        let (m, _) = pwlf_metrics(&x[..n_fit], &y[..n_fit])?;
        stats.push(json!({"tau_f": tau_f, "tau_s": tau_s, "theta": theta,
            "a_min_over_a_max_fit": m.a_min_over_a_max, "dynamic_range_fit": m.dynamic_range,
            "dynamic_range_theory_eq9": if area == 0.0 { Some(tau_s / tau_f) } else { None }, "offset_fit": m.offset,
            "offset_theory": area * s0 * tau_f / a_max, "slope_fit": m.slope}));
        fig = fig.add(curve_series(
            format!("tau_f = {tau_f}, tau_s = {tau_s}"),
            &x,
            &y,
        ));
        if area != 0.0 {
            let off = area * s0 * tau_f / a_max;
            fig = fig.add(
                Series::line("", x.clone(), x.iter().map(|v| v + off).collect())
                    .with_mark(Mark::Reference),
            );
        }
    }
    let xmax = x.last().copied().unwrap_or(1.0);
    fig = fig
        .add(Series::line("dw = A", vec![0.0, xmax], vec![0.0, xmax]).with_mark(Mark::Reference));
    Ok(FigureOutput {
        id,
        tables: vec![(id.name().to_string(), tab)],
        panels: vec![fig],
        parameters: json!({"figure": id.name(), "dt": opts.dt, "kernel": "ecoli", "tau_k": TAU_K,
            "area": area, "s0": s0, "a_max": a_max, "amplitudes": {"start": 0.0, "end": a_end, "n": n_amp, "endpoint": false},
            "protocols": protocols, "theta": "A_max/tau_s"}),
        statistics: json!({"curves": stats}),
        seed: None,
    })
}

fn fig4b(opts: &FigureOptions) -> Result<FigureOutput> {
    update_curves(
        FigureId::Fig4b,
        opts,
        CurveSet {
            area: 0.0,
            s0: 0.0,
            a_max: 100.0,
            a_end: 125.0,
            n_amp: 500,
            protocols: &[(0.5, 2.5), (0.5, 5.0), (0.5, 10.0), (0.25, 10.0)],
        },
    )
}

fn fig5b(opts: &FigureOptions) -> Result<FigureOutput> {
    update_curves(
        FigureId::Fig5b,
        opts,
        CurveSet {
            area: 0.05,
            s0: 25.0,
            a_max: 100.0,
            a_end: 75.0,
            n_amp: 400,
            protocols: &[(0.5, 40.0), (1.0, 40.0), (2.0, 40.0), (4.0, 40.0)],
        },
    )
}

// ----------------------------------------------------------------------------------------
// Fig. 8: the ramp must outlast the kernel.

fn fig8(opts: &FigureOptions) -> Result<FigureOutput> {
    let period = 20.0;
    let (s_f, s_c) = (-10.0, 10.0);
    let amp = s_c - s_f;
    let s0 = 0.5 * (s_c + s_f);
    let n = 79;
    let taus: Vec<f64> = (0..n)
        .map(|i| 0.01 + (8.0 - 0.01) * i as f64 / (n - 1) as f64)
        .collect();
    let kernels = [
        ("E. coli", ecoli(0.0, opts.dt)?),
        (
            "integral feedback",
            KernelSpec::IntegralFeedback {
                tau_u: TAU_K / 10.0,
                tau_x: TAU_K,
                area: 0.0,
            }
            .sample(opts.dt)?,
        ),
    ];
    let mut tab = Table::new(&[
        "task",
        "tau_f",
        "tau_f_over_tau_k",
        "theta",
        "dw_over_A_ecoli",
        "dw_over_A_ifb",
    ]);
    let mut cols = [Vec::new(), Vec::new()];
    for &tau_f in &taus {
        let saw = Sawtooth::new(tau_f, period - tau_f)?;
        let theta = 0.5 * (amp / period + amp / tau_f);
        let mut row = vec![0.0, tau_f, tau_f / TAU_K, theta];
        for (k, (_, kern)) in kernels.iter().enumerate() {
            let resp = SawtoothResponse::new(kern, saw)?;
            let r = resp.delta_w(s0, amp, theta)? / amp;
            cols[k].push(r);
            row.push(r);
        }
        tab.rows.push(row);
    }
    let x: Vec<f64> = taus.iter().map(|t| t / TAU_K).collect();
    let mut fig = Figure::new(
        "period 20, A = 20, theta = (A/20 + A/tau_f)/2",
        "tau_f / tau_K",
        "dw / A",
    );
    for (k, (name, _)) in kernels.iter().enumerate() {
        fig = fig.add(Series::line(*name, x.clone(), cols[k].clone()).with_mark(Mark::LinePoints));
    }
    fig = fig.add(
        Series::line("ideal dw = A", vec![0.0, 160.0], vec![1.0, 1.0]).with_mark(Mark::Reference),
    );
    let first_half = x
        .iter()
        .zip(&cols[0])
        .find(|(_, r)| **r >= 0.5)
        .map(|(x, _)| *x);
    Ok(FigureOutput {
        id: FigureId::Fig8,
        tables: vec![("fig8".into(), tab)],
        panels: vec![fig],
        parameters: json!({"figure": "fig8", "dt": opts.dt, "period": period, "s_F": s_f, "s_C": s_c,
            "tau_f": {"start": 0.01, "end": 8.0, "n": n}, "theta": "(A/20 + A/tau_f)/2",
            "kernels": ["ecoli tau_k 0.05 I 0", "ifb tau_u 0.005 tau_x 0.05 I 0"]}),
        statistics: json!({"first_tau_f_over_tau_k_with_dw_over_A_ge_0.5": first_half,
            "dw_over_A_at_tau_f_8": cols[0].last()}),
        seed: None,
    })
}

// ----------------------------------------------------------------------------------------
// Fig. 9A: ladder kernels and dissipation.

fn fig9a(opts: &FigureOptions) -> Result<FigureOutput> {
    let compression = 5.0;
    let gammas_k = [1.0, 0.3, 0.1, 1e-2, 1e-4];
    let mut cfig = Figure::new(
        "ladder kernels: integral of K from 0 to t (F = 25, step 200)",
        "t (compressed time)",
        "integral of K",
    );
    let mut kfig = Figure::new(
        "ladder kernels K(t), t > 0.02 (the fast rung relaxation is off scale)",
        "t (compressed time)",
        "K(t)",
    );
    let mut ktab_header = vec!["task".to_string(), "t".to_string()];
    let mut kcols = Vec::new();
    let mut kstats = Vec::new();
    for &g in &gammas_k {
        let mut p = LadderParams::new(g);
        p.dt = opts.dt * compression;
        let lk = LadderKernel::compute(&p)?;
        let t = lk.kernel.times();
        let mut acc = 0.0;
        let cum: Vec<f64> = lk
            .kernel
            .values()
            .iter()
            .map(|v| {
                acc += v * lk.kernel.dt();
                acc
            })
            .collect();
        let tc: Vec<f64> = t.iter().map(|x| x + 0.5 * lk.kernel.dt()).collect();
        cfig = cfig.add(Series::line(
            format!(
                "gamma = {g}: I = {:.3}, M1 = {:.0}",
                lk.area, lk.first_moment
            ),
            tc,
            cum,
        ));
        let (tt, kk): (Vec<f64>, Vec<f64>) = t
            .iter()
            .zip(lk.kernel.values())
            .filter(|(x, _)| **x > 0.02)
            .map(|(x, v)| (*x, *v))
            .unzip();
        kfig = kfig.add(Series::line(format!("gamma = {g}"), tt, kk));
        ktab_header.push(format!("K_gamma_{g}"));
        kstats.push(
            json!({"gamma": g, "area": lk.area, "first_moment": lk.first_moment,
            "dissipation": lk.dissipation.schnakenberg}),
        );
        kcols.push(lk.kernel);
    }
    let mut ktab = Table {
        header: ktab_header,
        rows: Vec::new(),
    };
    let times = kcols[0].times();
    for (i, t) in times.iter().enumerate() {
        let mut row = vec![0.0, *t];
        row.extend(
            kcols
                .iter()
                .map(|k| k.values().get(i).copied().unwrap_or(0.0)),
        );
        ktab.rows.push(row);
    }
    let n_g = 41;
    let gammas: Vec<f64> = (0..n_g)
        .map(|i| 10f64.powf(-8.0 + 8.0 * i as f64 / (n_g - 1) as f64))
        .collect();
    let mut dtab = Table::new(&[
        "task",
        "gamma",
        "dissipation_eq59",
        "dissipation_cycle",
        "area",
    ]);
    for &g in &gammas {
        let d = ladder::steady_dissipation(g, 25.0, 0.0)?;
        let mut p = LadderParams::new(g);
        p.dt = opts.dt * compression;
        let lk = LadderKernel::compute(&p)?;
        dtab.rows
            .push(vec![0.0, g, d.schnakenberg, d.cycle, lk.area]);
    }
    let sig = dtab.column("dissipation_eq59")?;
    let cyc = dtab.column("dissipation_cycle")?;
    let area = dtab.column("area")?;
    let lg: Vec<f64> = gammas.iter().map(|g| g.log10()).collect();
    let dfig = Figure::new(
        "steady-state dissipation (F = 25, s = 0)",
        "log10 gamma",
        "sigma (k_B T per unit Markov time)",
    )
    .add(Series::line("eq. 59", lg.clone(), sig.clone()))
    .add(Series::points("cycle form (eq. 13)", lg.clone(), cyc))
    .add(
        Series::line(
            "0.968 ln(1/gamma)",
            lg.clone(),
            gammas.iter().map(|g| 0.968 * (1.0 / g).ln()).collect(),
        )
        .with_mark(Mark::Reference),
    );
    let afig = Figure::new(
        "kernel area vs dissipation (gamma from 1e-8 to 1)",
        "sigma",
        "area I (|M1| = 1)",
    )
    .log_y()
    .add(Series::line("", sig, area).with_mark(Mark::LinePoints));
    Ok(FigureOutput {
        id: FigureId::Fig9a,
        tables: vec![
            ("fig9a_kernels".into(), ktab),
            ("fig9a_dissipation".into(), dtab),
        ],
        panels: vec![cfig, kfig, dfig, afig],
        parameters: json!({"figure": "fig9a", "dt": opts.dt, "ladder_dt": opts.dt * compression,
            "compression": compression, "F": 25.0, "step": 200.0, "gammas_kernels": gammas_k,
            "gammas_dissipation": {"logspace": [-8, 0], "n": n_g}}),
        statistics: json!({"kernels": kstats}),
        seed: None,
    })
}

// ----------------------------------------------------------------------------------------
// Sweeps: Fig. 4C, 5C, 6B.

/// Constants of the sweeps (paper §2 defaults).
const A_MAX_4C: f64 = 100.0;
const A_MAX_6B: f64 = 50.0;

fn sweep_header(id: FigureId) -> &'static [&'static str] {
    match id {
        FigureId::Fig4c => &[
            "task",
            "tau_f",
            "tau_s",
            "theta",
            "a_min_over_a_max",
            "dynamic_range",
            "slope",
            "offset",
            "responsive",
        ],
        FigureId::Fig5c => &[
            "task",
            "tau_f",
            "tau_s",
            "theta",
            "a_min_over_a_max",
            "slope",
            "offset",
            "offset_theory",
            "kept",
        ],
        _ => &[
            "task",
            "gamma",
            "F",
            "step",
            "area",
            "first_moment",
            "dissipation_F25",
            "dissipation_own_F",
            "theta",
            "a_min_over_a_max",
            "slope",
            "offset",
            "responsive",
        ],
    }
}

fn sweep_parameters(id: FigureId, opts: &FigureOptions, n_tasks: usize) -> serde_json::Value {
    let (_, per) = id.sweep_size();
    let common = json!({"figure": id.name(), "n_tasks": n_tasks, "points_per_task": per,
        "seed": opts.seed, "dt": opts.dt});
    let extra = match id {
        FigureId::Fig4c => json!({"kernel": "ecoli", "tau_k": TAU_K, "area": 0.0, "s0": 0.0,
            "a_max": A_MAX_4C, "theta": "A_max/tau_s", "tau_f": "randint(1,50)/10", "tau_s": "randint(1,250)/5",
            "amplitudes": "linspace(0, 0.75 A_max, 400, endpoint=False)", "metric": "3-segment fit"}),
        FigureId::Fig5c => json!({"kernel": "ecoli", "tau_k": TAU_K, "area": 0.05, "s0": 25.0,
            "a_max": A_MAX_4C, "theta": "A_max/tau_s", "tau_f": "randint(1,25)/5", "tau_s": "randint(1,250)/5",
            "amplitudes": "linspace(0, 0.75 A_max, 400, endpoint=False)", "metric": "3-segment fit",
            "kept": "0 < offset <= 0.5"}),
        _ => {
            json!({"kernel": "ladder", "ladder_dt": opts.dt * 5.0, "duration": 5.0, "compression": 5.0,
            "step": "randint(5,250)", "F": "randint(1,100)",
            "gamma": "10 x U(0,1), 40 x U(0,1) 10^-randint(0,25)", "a_max": A_MAX_6B, "tau_f": 3.0,
            "tau_s": 15.0, "s0": 10.0, "theta": "adaptive (eq. 45)",
            "amplitudes": "linspace(0, 1.25 A_max, 500, endpoint=False)", "metric": "threshold 0.05",
            "dissipation": "eq. 59 at s = 0, F = 25 (paper) and at the kernel's own F"})
        }
    };
    let mut v = common;
    if let (serde_json::Value::Object(a), serde_json::Value::Object(b)) = (&mut v, extra) {
        a.extend(b);
    }
    v
}

fn sweep_figure(
    id: FigureId,
    opts: &FigureOptions,
    tick: &(dyn Fn() + Sync),
) -> Result<FigureOutput> {
    let n_tasks = opts.tasks.unwrap_or(id.sweep_size().0);
    let per = id.sweep_size().1;
    let rows: Vec<(usize, Vec<Vec<f64>>)> = match id {
        FigureId::Fig4c | FigureId::Fig5c => {
            let (area, s0, tf_max) = if id == FigureId::Fig4c {
                (0.0, 0.0, 50)
            } else {
                (0.05, 25.0, 25)
            };
            let tf_div = if id == FigureId::Fig4c { 10.0 } else { 5.0 };
            let kernel = ecoli(area, opts.dt)?;
            let amps = amplitude_grid(0.75 * A_MAX_4C, 400);
            let x: Vec<f64> = amps.iter().map(|a| a / A_MAX_4C).collect();
            run_sweep(n_tasks, opts.shard, opts.seed, tick, |task, rng| {
                let mut rows = Vec::with_capacity(per);
                for _ in 0..per {
                    let tau_f = rng.random_range(1..tf_max) as f64 / tf_div;
                    let tau_s = rng.random_range(1..250) as f64 / 5.0;
                    let theta = A_MAX_4C / tau_s;
                    let resp = SawtoothResponse::new(&kernel, Sawtooth::new(tau_f, tau_s)?)?;
                    let y: Vec<f64> = resp
                        .curve(s0, &amps, theta)?
                        .iter()
                        .map(|d| d / A_MAX_4C)
                        .collect();
                    let (m, _) = pwlf_metrics(&x, &y)?;
                    let t = task as f64;
                    rows.push(if id == FigureId::Fig4c {
                        vec![
                            t,
                            tau_f,
                            tau_s,
                            theta,
                            m.a_min_over_a_max,
                            m.dynamic_range,
                            m.slope,
                            m.offset,
                            m.responsive as u8 as f64,
                        ]
                    } else {
                        let kept = m.offset > 0.0 && m.offset <= 0.5;
                        vec![
                            t,
                            tau_f,
                            tau_s,
                            theta,
                            m.a_min_over_a_max,
                            m.slope,
                            m.offset,
                            area * s0 * tau_f / A_MAX_4C,
                            kept as u8 as f64,
                        ]
                    });
                }
                Ok(rows)
            })?
        }
        _ => {
            let amps = amplitude_grid(1.25 * A_MAX_6B, 500);
            let x: Vec<f64> = amps.iter().map(|a| a / A_MAX_6B).collect();
            let (tau_f, tau_s, s0) = (3.0, 15.0, 10.0);
            let saw = Sawtooth::new(tau_f, tau_s)?;
            let sigma25 = |g: f64| ladder::steady_dissipation(g, 25.0, 0.0).map(|d| d.schnakenberg);
            run_sweep(n_tasks, opts.shard, opts.seed, tick, |task, rng| {
                let mut rows = Vec::with_capacity(per);
                for j in 0..per {
                    let s_step = rng.random_range(5..250) as f64;
                    let f = rng.random_range(1..100) as f64;
                    let u: f64 = rng.random();
                    let gamma = if j < 10 {
                        u
                    } else {
                        u * 10f64.powi(-rng.random_range(0..25))
                    };
                    // U(0,1) can return exactly 0; γ must be > 0.
                    let gamma = gamma.max(f64::MIN_POSITIVE);
                    let params = LadderParams {
                        gamma,
                        f,
                        s_step,
                        dt: opts.dt * 5.0,
                        duration: 5.0,
                        compression: 5.0,
                    };
                    let lk = LadderKernel::compute(&params)?;
                    let theta = adaptive_threshold(A_MAX_6B, tau_s, lk.area, s0);
                    let resp = SawtoothResponse::new(&lk.kernel, saw)?;
                    let y: Vec<f64> = resp
                        .curve(s0, &amps, theta)?
                        .iter()
                        .map(|d| d / A_MAX_6B)
                        .collect();
                    let m = threshold_metrics(&x, &y, 400, 0.05)?;
                    rows.push(vec![
                        task as f64,
                        gamma,
                        f,
                        s_step,
                        lk.area,
                        lk.first_moment,
                        sigma25(gamma)?,
                        lk.dissipation.schnakenberg,
                        theta,
                        m.a_min_over_a_max,
                        m.slope,
                        m.offset,
                        m.responsive as u8 as f64,
                    ]);
                }
                Ok(rows)
            })?
        }
    };
    let mut table = Table::new(sweep_header(id));
    for (_, r) in rows {
        table.rows.extend(r);
    }
    let mut parameters = sweep_parameters(id, opts, n_tasks);
    if let serde_json::Value::Object(m) = &mut parameters {
        m.insert(
            "shard".into(),
            json!(format!("{}/{}", opts.shard.index, opts.shard.count)),
        );
    }
    let (panels, statistics) = if opts.shard.is_all() {
        render_sweep(id, &table)?
    } else {
        (Vec::new(), json!({"rows": table.rows.len()}))
    };
    Ok(FigureOutput {
        id,
        tables: vec![(id.name().to_string(), table)],
        panels,
        parameters,
        statistics,
        seed: Some(opts.seed),
    })
}

/// Split scatter points into coloured series by bins of `c` (edges ascending).
fn binned(
    x: &[f64],
    y: &[f64],
    c: &[f64],
    edges: &[f64],
    label: &dyn Fn(f64, f64) -> String,
) -> Vec<Series> {
    let mut out = Vec::new();
    for w in edges.windows(2) {
        let (lo, hi) = (w[0], w[1]);
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        for i in 0..x.len() {
            if c[i] >= lo && c[i] < hi {
                xs.push(x[i]);
                ys.push(y[i]);
            }
        }
        if !xs.is_empty() {
            out.push(Series::points(label(lo, hi), xs, ys));
        }
    }
    out
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Draw a (merged) sweep table; returns panels and summary statistics.
fn render_sweep(id: FigureId, t: &Table) -> Result<(Vec<Figure>, serde_json::Value)> {
    match id {
        FigureId::Fig4c => {
            let tf = t.column("tau_f")?;
            let ts = t.column("tau_s")?;
            let dr = t.column("dynamic_range")?;
            let x: Vec<f64> = tf.iter().zip(&ts).map(|(f, s)| (s / f).ln()).collect();
            let y: Vec<f64> = dr.iter().map(|d| d.ln()).collect();
            let c: Vec<f64> = tf.iter().map(|f| (f / TAU_K).log10()).collect();
            let mut fig = Figure::new(
                "speed-accuracy trade-off (E. coli kernel, I = 0)",
                "ln(tau_s / tau_f)",
                "ln(A_max / A_min)",
            );
            for s in binned(&x, &y, &c, &[0.0, 1.0, 1.5, 3.0], &|lo, hi| {
                format!("log10(tau_f/tau_K) in [{lo}, {hi})")
            }) {
                fig = fig.add(s);
            }
            let lim = x.iter().cloned().fold(0.0, f64::max);
            fig = fig.add(
                Series::line(
                    "eq. 9: A_max/A_min = tau_s/tau_f",
                    vec![0.0, lim],
                    vec![0.0, lim],
                )
                .with_mark(Mark::Reference),
            );
            // Deviation from eq. 9 for slow ramps with a resolvable window.
            let good: Vec<f64> = (0..x.len())
                .filter(|&i| tf[i] >= 1.0 && ts[i] / tf[i] >= 2.0 && ts[i] / tf[i] <= 100.0)
                .map(|i| y[i] - x[i])
                .collect();
            Ok((
                vec![fig],
                json!({"points": x.len(),
                "mean_ln_ratio_deviation_tau_f_ge_1": mean(&good), "n_tau_f_ge_1": good.len()}),
            ))
        }
        FigureId::Fig5c => {
            let tf = t.column("tau_f")?;
            let ts = t.column("tau_s")?;
            let off = t.column("offset")?;
            let kept = t.column("kept")?;
            let idx: Vec<usize> = (0..tf.len()).filter(|&i| kept[i] > 0.5).collect();
            let x: Vec<f64> = idx.iter().map(|&i| tf[i] / TAU_K).collect();
            let y: Vec<f64> = idx.iter().map(|&i| off[i]).collect();
            let c: Vec<f64> = idx.iter().map(|&i| (tf[i] + ts[i]) / TAU_K).collect();
            let mut fig = Figure::new(
                "offset from kernel area (I = 0.05, s0 = 25)",
                "tau_f / tau_K",
                "offset / A_max",
            );
            for s in binned(&x, &y, &c, &[0.0, 200.0, 600.0, 1e9], &|lo, hi| {
                if hi > 1e8 {
                    format!("T/tau_K >= {lo}")
                } else {
                    format!("T/tau_K in [{lo}, {hi})")
                }
            }) {
                fig = fig.add(s);
            }
            fig = fig.add(
                Series::line(
                    "eq. 10: I s0 tau_f / A_max",
                    vec![0.0, 100.0],
                    vec![0.0, 0.05 * 25.0 * 5.0 / A_MAX_4C],
                )
                .with_mark(Mark::Reference),
            );
            let ratio: Vec<f64> = idx
                .iter()
                .filter(|&&i| tf[i] >= 1.0)
                .map(|&i| off[i] / (0.05 * 25.0 * tf[i] / A_MAX_4C))
                .collect();
            Ok((
                vec![fig],
                json!({"points": tf.len(), "kept": idx.len(),
                "mean_offset_over_theory_tau_f_ge_1": mean(&ratio)}),
            ))
        }
        _ => {
            let sig = t.column("dissipation_F25")?;
            let off = t.column("offset")?;
            let area = t.column("area")?;
            let resp = t.column("responsive")?;
            let idx: Vec<usize> = (0..sig.len())
                .filter(|&i| resp[i] > 0.5 && off[i].is_finite() && off[i] != 0.0)
                .collect();
            let xs: Vec<f64> = idx.iter().map(|&i| sig[i]).collect();
            let ys: Vec<f64> = idx.iter().map(|&i| (off[i] / 10.0).abs().ln()).collect();
            // Eq. 10 prediction of the offset (units of A_max): I s0 tau_f / A_max.
            let pred = |i: usize| (area[i] * 10.0 * 3.0 / A_MAX_6B / 10.0).abs().ln();
            let yp: Vec<f64> = idx.iter().map(|&i| pred(i)).collect();
            let f1 = Figure::new(
                "random ladder kernels: offset vs dissipation",
                "dissipation sigma (F = 25, s = 0)",
                "ln|offset/10|",
            )
            .add(Series::points("threshold-0.05 fit", xs.clone(), ys.clone()))
            .add(Series::points(
                "eq. 10: I s0 tau_f / A_max",
                xs.clone(),
                yp.clone(),
            ));
            let zoom: Vec<usize> = (0..xs.len())
                .filter(|&k| xs[k] >= 1.0 && xs[k] <= 10.0)
                .collect();
            let pick = |v: &[f64]| zoom.iter().map(|&k| v[k]).collect::<Vec<f64>>();
            let f2 = Figure::new(
                "paper's window: 1 <= sigma <= 10",
                "dissipation sigma (F = 25, s = 0)",
                "ln|offset/10|",
            )
            .add(Series::points("threshold-0.05 fit", pick(&xs), pick(&ys)))
            .add(Series::points("eq. 10", pick(&xs), pick(&yp)));
            let f3 = Figure::new("kernel area vs dissipation", "dissipation sigma", "area I")
                .log_y()
                .add(Series::points("", sig.clone(), area.clone()));
            // Spearman-like check: mean |offset| in low vs high dissipation halves.
            let mut order = idx.clone();
            order.sort_by(|&a, &b| sig[a].total_cmp(&sig[b]));
            let half = order.len() / 2;
            let lo: Vec<f64> = order[..half].iter().map(|&i| off[i].abs()).collect();
            let hi: Vec<f64> = order[half..].iter().map(|&i| off[i].abs()).collect();
            Ok((
                vec![f1, f2, f3],
                json!({"kernels": sig.len(), "responsive": idx.len(),
                "mean_abs_offset_low_sigma_half": mean(&lo), "mean_abs_offset_high_sigma_half": mean(&hi)}),
            ))
        }
    }
}

/// Write a figure's tables (`<name>.csv`), plots (`<id>.png`, `<id>.svg`) and
/// `manifest.json` into `out`, atomically. Returns the final directory.
pub fn write_output(out: &Path, fo: &FigureOutput, command: &str) -> Result<PathBuf> {
    let stage = StagedDir::new(out)?;
    for (name, table) in &fo.tables {
        table.write_csv(&stage.path(&format!("{name}.csv")))?;
    }
    if !fo.panels.is_empty() {
        for ext in ["png", "svg"] {
            xy_plot(&stage.path(&format!("{}.{ext}", fo.id.name())), &fo.panels)?;
        }
    }
    let mut m = Manifest::new(command);
    m.parameters = fo.parameters.clone();
    m.statistics = fo.statistics.clone();
    m.seed = fo.seed;
    stage.write_json("manifest.json", &m)?;
    Ok(stage.commit()?)
}

/// Read shard directories written by [`write_output`] for a sharded sweep, check that they
/// belong to the same sweep (equal parameters apart from the shard), merge the tables and
/// draw the figure.
pub fn merge_shards(dirs: &[PathBuf]) -> Result<FigureOutput> {
    let mut params: Option<serde_json::Value> = None;
    let mut id: Option<FigureId> = None;
    let mut tables = Vec::new();
    for d in dirs {
        let mpath = d.join("manifest.json");
        if !mpath.is_file() {
            return Err(SynapseError::Merge(format!(
                "{} is not a shard directory (no manifest.json)",
                d.display()
            )));
        }
        let text = std::fs::read_to_string(&mpath)
            .map_err(|e| SynapseError::Io(crate::io::IoError::fs(&mpath, e)))?;
        let m: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| SynapseError::InvalidInput(format!("{}: {e}", mpath.display())))?;
        let mut p = m
            .get("parameters")
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        if let serde_json::Value::Object(o) = &mut p {
            o.remove("shard");
        }
        let fig = p.get("figure").and_then(|v| v.as_str()).ok_or_else(|| {
            SynapseError::Merge(format!("{}: no parameters.figure", mpath.display()))
        })?;
        let fid = FigureId::from_str(fig)?;
        if !fid.is_sweep() {
            return Err(SynapseError::Merge(format!(
                "{}: {fid} is not a sweep",
                d.display()
            )));
        }
        match &params {
            None => {
                params = Some(p.clone());
                id = Some(fid);
            }
            Some(p0) if *p0 != p => {
                return Err(SynapseError::Merge(format!(
                    "{} has different sweep parameters than {}",
                    d.display(),
                    dirs[0].display()
                )))
            }
            _ => {}
        }
        tables.push(Table::read_csv(&d.join(format!("{fid}.csv")))?);
    }
    let (Some(params), Some(id)) = (params, id) else {
        return Err(SynapseError::Merge("no shard directories given".into()));
    };
    let n_tasks = params
        .get("n_tasks")
        .and_then(|v| v.as_u64())
        .ok_or_else(|| SynapseError::Merge("parameters.n_tasks missing".into()))?
        as usize;
    let table = Table::merge(tables, n_tasks)?;
    let (panels, statistics) = render_sweep(id, &table)?;
    let seed = params.get("seed").and_then(|v| v.as_u64());
    Ok(FigureOutput {
        id,
        tables: vec![(id.name().to_string(), table)],
        panels,
        parameters: params,
        statistics,
        seed,
    })
}
