//! Boundary drives: the sawtooth in the nudge β(t), input switches between examples, and holds.
//! A protocol is cut into [`Segment`]s at every corner, so that no integration step crosses a
//! kink of the drive (docs/physics.md §6).

use serde::Serialize;

/// Which ramp of the sawtooth is fast (docs/physics.md §1.4 sign table).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// free → clamped fast (τ_f), back slowly (τ_s): the paper's protocol.
    FastRise,
    /// free → clamped slowly (τ_s), back fast (τ_f).
    FastFall,
}

/// Kernel times held at β = 0 after the fast leg of a `fast_fall` cycle (the settle).
pub const TAIL_KERNEL_TIMES: f64 = 10.0;

impl Direction {
    /// The settle that ends every cycle (docs/physics.md §6, "Kernel tail"): a `fast_fall`
    /// cycle ends on its fast leg, so β = 0 is held for [`TAIL_KERNEL_TIMES`] kernel times and
    /// the kernel's response to the fast leg is counted in the cycle that caused it (in a bare
    /// periodic drive it would fall into the next cycle); 0 for `fast_rise`, whose cycle ends on
    /// the slow leg.
    pub fn tail(self, kernel_time: f64) -> f64 {
        match self {
            Direction::FastFall => TAIL_KERNEL_TIMES * kernel_time,
            Direction::FastRise => 0.0,
        }
    }

    /// The sawtooth's nudge as a fraction of its peak, `β(t)/β_max ∈ [0, 1]`, at time `t` of a
    /// periodic cycle (first leg rising, second falling; linear in time on each leg).
    pub fn fraction(self, tau_fast: f64, tau_slow: f64, t: f64) -> f64 {
        let [(_, d0), (_, d1)] = self.legs(tau_fast, tau_slow);
        let t = t.rem_euclid(d0 + d1);
        if t <= d0 {
            t / d0
        } else {
            1.0 - (t - d0) / d1
        }
    }

    /// The two legs of one sawtooth cycle, free → clamped then clamped → free, as
    /// (kind, duration): the one definition of the sawtooth's shape, used by every family.
    pub fn legs(self, tau_fast: f64, tau_slow: f64) -> [(SegmentKind, f64); 2] {
        match self {
            Direction::FastRise => [(SegmentKind::Fast, tau_fast), (SegmentKind::Slow, tau_slow)],
            Direction::FastFall => [(SegmentKind::Slow, tau_slow), (SegmentKind::Fast, tau_fast)],
        }
    }

    /// `+1` when the fast segment goes free → clamped.
    pub fn sign(self) -> f64 {
        match self {
            Direction::FastRise => 1.0,
            Direction::FastFall => -1.0,
        }
    }
}

/// Shape of the β ramps.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RampShape {
    /// β linear in time.
    LinearBeta,
    /// `η = β/(β + G_ref)` linear in time.
    LinearEta,
}

/// How the inputs move from one example to the next.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SwitchMode {
    /// Physical: inputs and targets ramp linearly over `τ_switch` at β = 0.
    SlowRamp,
    /// NON-PHYSICAL: inputs jump and every filter state is reset to the new free DC state.
    ResetIdealized,
}

/// β schedule over cycles.
#[derive(Copy, Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum BetaSchedule {
    Constant,
    /// `β_max,n = min(β0 (C0/C_n)^{1/2}, cap)` (docs/physics.md §6).
    ErrorAnnealed {
        cap: f64,
    },
}

impl BetaSchedule {
    /// Peak nudge of a cycle: the one annealing law of every family and learner
    /// (docs/physics.md §6): `β_n = min(β0 √(C0/C_n), cap)` with `C0` the learner's initial
    /// cost and `C_n` its cost at the start of cycle n; `cap` when `C_n ≤ 0`; `β0` when
    /// `C0 ≤ 0` or a cost is not finite.
    pub fn beta(self, beta0: f64, cost0: f64, cost: f64) -> f64 {
        match self {
            BetaSchedule::Constant => beta0,
            BetaSchedule::ErrorAnnealed { cap } => {
                if !(cost0.is_finite() && cost.is_finite()) || cost0 <= 0.0 {
                    beta0
                } else if cost <= 0.0 {
                    cap
                } else {
                    (beta0 * (cost0 / cost).sqrt()).min(cap)
                }
            }
        }
    }
}

/// The sawtooth protocol (resolved: no "auto" left).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sawtooth {
    pub beta_max: f64,
    pub tau_fast: f64,
    pub tau_slow: f64,
    pub direction: Direction,
    pub ramp_shape: RampShape,
    /// Reference conductance for `linear_eta` (Thévenin conductance at the first output).
    pub g_ref: f64,
    pub switch_mode: SwitchMode,
    pub tau_switch: f64,
    pub beta_schedule: BetaSchedule,
    pub cycles: usize,
    /// Start from uncharged arms / zero chemistry instead of the free DC state.
    pub from_rest: bool,
    /// β = 0 hold after the two legs, before an input switch ([`Direction::tail`] of the
    /// longest kernel time at the initial parameters; 0 for `fast_rise`).
    pub settle: f64,
}

/// A protocol.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Protocol {
    Sawtooth(Sawtooth),
    /// Hold β constant for `duration` (relaxation, source waveforms).
    Hold {
        beta: f64,
        duration: f64,
        /// Start with every arm/chemical state at 0 (uncharged) instead of the free DC state.
        from_rest: bool,
    },
}

/// β(t) within one segment.
#[derive(Copy, Clone, Debug, PartialEq, Serialize)]
pub enum BetaRamp {
    Const(f64),
    /// β linear from `b0` to `b1`.
    Linear {
        b0: f64,
        b1: f64,
    },
    /// η = β/(β+g) linear from `e0` to `e1`.
    LinearEta {
        e0: f64,
        e1: f64,
        g: f64,
    },
}

/// What a segment does (for labels and bookkeeping).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SegmentKind {
    Fast,
    Slow,
    /// β = 0 after the fast leg of a `fast_fall` cycle ([`Sawtooth::settle`]).
    Settle,
    Switch,
    Hold,
}

/// A smooth piece of the protocol.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Segment {
    pub t0: f64,
    pub t1: f64,
    pub kind: SegmentKind,
    pub beta: BetaRamp,
    /// Example whose inputs/targets hold at `t0`.
    pub from: usize,
    /// Example whose inputs/targets hold at `t1` (equal to `from` except in switches).
    pub to: usize,
}

impl Segment {
    /// Normalised position in the segment.
    #[inline]
    pub fn frac(&self, t: f64) -> f64 {
        if self.t1 > self.t0 {
            ((t - self.t0) / (self.t1 - self.t0)).clamp(0.0, 1.0)
        } else {
            1.0
        }
    }

    /// `d frac/dt` (0 outside the segment and for an empty one).
    #[inline]
    pub fn frac_rate(&self, t: f64) -> f64 {
        if self.t1 > self.t0 && t >= self.t0 && t <= self.t1 {
            1.0 / (self.t1 - self.t0)
        } else {
            0.0
        }
    }

    /// `dβ/dt` of [`Segment::beta`] (the rate of the nudge ramp; energy accounting).
    #[inline]
    pub fn beta_rate(&self, t: f64) -> f64 {
        let ds = self.frac_rate(t);
        match self.beta {
            BetaRamp::Const(_) => 0.0,
            BetaRamp::Linear { b0, b1 } => (b1 - b0) * ds,
            BetaRamp::LinearEta { e0, e1, g } => {
                let e = e0 + (e1 - e0) * self.frac(t);
                // d/de [g e/(1 − e)] = g/(1 − e)².
                g / ((1.0 - e) * (1.0 - e)) * (e1 - e0) * ds
            }
        }
    }

    #[inline]
    pub fn beta(&self, t: f64) -> f64 {
        let s = self.frac(t);
        match self.beta {
            BetaRamp::Const(b) => b,
            BetaRamp::Linear { b0, b1 } => b0 + (b1 - b0) * s,
            BetaRamp::LinearEta { e0, e1, g } => {
                let e = e0 + (e1 - e0) * s;
                g * e / (1.0 - e)
            }
        }
    }
}

fn ramp(shape: RampShape, b0: f64, b1: f64, g: f64) -> BetaRamp {
    match shape {
        RampShape::LinearBeta => BetaRamp::Linear { b0, b1 },
        RampShape::LinearEta => BetaRamp::LinearEta {
            e0: b0 / (b0 + g),
            e1: b1 / (b1 + g),
            g,
        },
    }
}

impl Sawtooth {
    /// Segments of cycle `n` starting at `t`, with nudge amplitude `beta_max` and `n_examples`
    /// examples: the two legs, the settle (β = 0, `fast_fall`) and, last, the switch segment
    /// (slow-ramp mode, more than one example).
    pub fn cycle_segments(
        &self,
        n: usize,
        t: f64,
        beta_max: f64,
        n_examples: usize,
    ) -> Vec<Segment> {
        let ex = if n_examples == 0 { 0 } else { n % n_examples };
        let g = self.g_ref;
        let mut segs = Vec::with_capacity(4);
        let mut t0 = t;
        for (i, (kind, dur)) in self
            .direction
            .legs(self.tau_fast, self.tau_slow)
            .into_iter()
            .enumerate()
        {
            let (b0, b1) = if i == 0 {
                (0.0, beta_max)
            } else {
                (beta_max, 0.0)
            };
            segs.push(Segment {
                t0,
                t1: t0 + dur,
                kind,
                beta: ramp(self.ramp_shape, b0, b1, g),
                from: ex,
                to: ex,
            });
            t0 += dur;
        }
        if self.settle > 0.0 {
            segs.push(Segment {
                t0,
                t1: t0 + self.settle,
                kind: SegmentKind::Settle,
                beta: BetaRamp::Const(0.0),
                from: ex,
                to: ex,
            });
            t0 += self.settle;
        }
        if n_examples > 1 && self.switch_mode == SwitchMode::SlowRamp {
            segs.push(Segment {
                t0,
                t1: t0 + self.tau_switch,
                kind: SegmentKind::Switch,
                beta: BetaRamp::Const(0.0),
                from: ex,
                to: (ex + 1) % n_examples,
            });
        }
        segs
    }

    /// Duration of one cycle.
    pub fn period(&self, n_examples: usize) -> f64 {
        let sw = if n_examples > 1 && self.switch_mode == SwitchMode::SlowRamp {
            self.tau_switch
        } else {
            0.0
        };
        self.tau_fast + self.tau_slow + self.settle + sw
    }
}

/// Split segments at extra breakpoints (e.g. source waveform corners) strictly inside them.
pub fn split_at(segs: Vec<Segment>, breaks: &[f64]) -> Vec<Segment> {
    if breaks.is_empty() {
        return segs;
    }
    let mut out = Vec::with_capacity(segs.len());
    for s in segs {
        let mut inner: Vec<f64> = breaks
            .iter()
            .copied()
            .filter(|&b| b > s.t0 + 1e-12 && b < s.t1 - 1e-12)
            .collect();
        inner.sort_by(|a, b| a.total_cmp(b));
        if inner.is_empty() {
            out.push(s);
            continue;
        }
        // Sub-segments keep the parent's ramp by evaluating it in absolute time: express the
        // pieces as the same ramp over the parent interval (frac is taken on the parent).
        let mut t0 = s.t0;
        for b in inner.into_iter().chain(std::iter::once(s.t1)) {
            out.push(sub_segment(&s, t0, b));
            t0 = b;
        }
    }
    out
}

fn sub_segment(s: &Segment, t0: f64, t1: f64) -> Segment {
    // Re-parametrise the ramp so that the sub-segment reproduces the parent's values.
    let beta = match s.beta {
        BetaRamp::Const(b) => BetaRamp::Const(b),
        BetaRamp::Linear { .. } => BetaRamp::Linear {
            b0: s.beta(t0),
            b1: s.beta(t1),
        },
        BetaRamp::LinearEta { e0, e1, g } => {
            let f0 = s.frac(t0);
            let f1 = s.frac(t1);
            BetaRamp::LinearEta {
                e0: e0 + (e1 - e0) * f0,
                e1: e0 + (e1 - e0) * f1,
                g,
            }
        }
    };
    // Inputs interpolate between examples: sub-segments of a switch are not supported exactly by
    // (from, to) alone, so switches are never split (waveforms override inputs anyway).
    Segment {
        t0,
        t1,
        kind: s.kind,
        beta,
        from: s.from,
        to: s.to,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saw(direction: Direction, shape: RampShape) -> Sawtooth {
        Sawtooth {
            beta_max: 0.5,
            tau_fast: 10.0,
            tau_slow: 300.0,
            direction,
            ramp_shape: shape,
            g_ref: 2.0,
            switch_mode: SwitchMode::SlowRamp,
            tau_switch: 100.0,
            beta_schedule: BetaSchedule::Constant,
            cycles: 1,
            from_rest: false,
            settle: 0.0,
        }
    }

    #[test]
    fn sawtooth_corners_and_continuity() {
        for dir in [Direction::FastRise, Direction::FastFall] {
            for shape in [RampShape::LinearBeta, RampShape::LinearEta] {
                let s = saw(dir, shape);
                let segs = s.cycle_segments(0, 5.0, 0.5, 2);
                assert_eq!(segs.len(), 3);
                assert!((segs[0].t0 - 5.0).abs() < 1e-12);
                assert!((segs[2].t1 - (5.0 + s.period(2))).abs() < 1e-9);
                for w in segs.windows(2) {
                    assert_eq!(w[0].t1, w[1].t0);
                    assert!((w[0].beta(w[0].t1) - w[1].beta(w[1].t0)).abs() < 1e-12);
                }
                assert!(segs[0].beta(segs[0].t0).abs() < 1e-12);
                assert!((segs[0].beta(segs[0].t1) - 0.5).abs() < 1e-12);
                let fast = segs.iter().find(|g| g.kind == SegmentKind::Fast).unwrap();
                assert!((fast.t1 - fast.t0 - 10.0).abs() < 1e-12);
                if dir == Direction::FastRise {
                    assert_eq!(segs[0].kind, SegmentKind::Fast);
                } else {
                    assert_eq!(segs[1].kind, SegmentKind::Fast);
                }
                assert_eq!(segs[2].kind, SegmentKind::Switch);
                assert_eq!((segs[2].from, segs[2].to), (0, 1));
            }
        }
    }

    #[test]
    fn settle_comes_after_the_legs_and_before_the_switch() {
        let mut s = saw(Direction::FastFall, RampShape::LinearBeta);
        s.settle = Direction::FastFall.tail(1.0);
        let segs = s.cycle_segments(0, 0.0, 0.5, 2);
        let kinds: Vec<SegmentKind> = segs.iter().map(|g| g.kind).collect();
        let want = [
            SegmentKind::Slow,
            SegmentKind::Fast,
            SegmentKind::Settle,
            SegmentKind::Switch,
        ];
        assert_eq!(kinds, want);
        let settle = &segs[2];
        assert_eq!((settle.from, settle.to), (0, 0));
        assert!((settle.t1 - settle.t0 - 10.0).abs() < 1e-12);
        assert_eq!(settle.beta(settle.t0), 0.0);
        assert!((segs[3].t1 - s.period(2)).abs() < 1e-9);
        assert_eq!(Direction::FastRise.tail(1.0), 0.0);
    }

    #[test]
    fn annealing_law() {
        let s = BetaSchedule::ErrorAnnealed { cap: 8.0 };
        assert_eq!(s.beta(0.5, 1.0, 0.25), 1.0);
        assert_eq!(s.beta(0.5, 1.0, 1e-6), 8.0);
        assert_eq!(s.beta(0.5, 1.0, 0.0), 8.0);
        assert_eq!(s.beta(0.5, 1.0, 4.0), 0.25);
        assert_eq!(s.beta(0.5, 0.0, 1.0), 0.5);
        assert_eq!(s.beta(0.5, 1.0, f64::NAN), 0.5);
        assert_eq!(BetaSchedule::Constant.beta(0.5, 1.0, 0.1), 0.5);
    }

    #[test]
    fn linear_eta_is_linear_in_eta() {
        let s = saw(Direction::FastRise, RampShape::LinearEta);
        let seg = &s.cycle_segments(0, 0.0, 0.5, 1)[0];
        let eta = |t: f64| {
            let b = seg.beta(t);
            b / (b + 2.0)
        };
        let mid = eta(5.0);
        assert!((mid - 0.5 * (eta(0.0) + eta(10.0))).abs() < 1e-12);
    }

    #[test]
    fn split_preserves_values() {
        let s = saw(Direction::FastFall, RampShape::LinearBeta);
        let segs = s.cycle_segments(0, 0.0, 0.5, 1);
        let split = split_at(segs.clone(), &[100.0, 305.0]);
        assert_eq!(split.len(), 4);
        for t in [50.0, 150.0, 303.0, 307.0] {
            let a = segs
                .iter()
                .find(|g| t >= g.t0 && t <= g.t1)
                .unwrap()
                .beta(t);
            let b = split
                .iter()
                .find(|g| t >= g.t0 && t <= g.t1)
                .unwrap()
                .beta(t);
            assert!((a - b).abs() < 1e-12);
        }
    }
}
