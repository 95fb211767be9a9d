//! Compensation flags, judged over one rep's samples.
//!
//! Pelvis: `hip_hike` and `pelvic_drop` are one-sided obliquity excursions
//! held past a threshold ([`Persist`]: a Schmitt trigger with a minimum hold,
//! never a single sample over a line); `trunk_sway` is an excursion past the
//! threshold on both sides within one rep. Ankle: `momentum` (a phase too fast
//! for its range), `partial_range` (well short of the set's working range),
//! `hip_flexion_drift` (rotation out of the set's plane of motion).

use super::profile::{FlagsConfig, PelvicFlagConfig};
use super::reps::TracePoint;
use nalgebra::Vector3;
use serde::Serialize;

/// The kinds of compensation medius flags (DESIGN.md's contract names).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, PartialOrd, Ord,
)]
#[serde(rename_all = "snake_case")]
pub enum FlagKind {
    /// The leg is lifted with the side of the trunk: free side of the pelvis up.
    HipHike,
    /// The stance glute med lets go: free side of the pelvis down.
    PelvicDrop,
    /// The whole body rocks to both sides within the rep.
    TrunkSway,
    /// The foot flies: a phase far too fast for its range.
    Momentum,
    /// The rep stops well short of the set's working range.
    PartialRange,
    /// The leg swings forward out of the plane of abduction.
    HipFlexionDrift,
}

impl FlagKind {
    /// Every kind.
    pub const ALL: [FlagKind; 6] = [
        FlagKind::HipHike,
        FlagKind::PelvicDrop,
        FlagKind::TrunkSway,
        FlagKind::Momentum,
        FlagKind::PartialRange,
        FlagKind::HipFlexionDrift,
    ];

    /// The contract name (`hip_hike`, ...).
    pub fn id(self) -> &'static str {
        match self {
            FlagKind::HipHike => "hip_hike",
            FlagKind::PelvicDrop => "pelvic_drop",
            FlagKind::TrunkSway => "trunk_sway",
            FlagKind::Momentum => "momentum",
            FlagKind::PartialRange => "partial_range",
            FlagKind::HipFlexionDrift => "hip_flexion_drift",
        }
    }

    /// In the lifter's words.
    pub fn words(self) -> &'static str {
        match self {
            FlagKind::HipHike => "hip hike",
            FlagKind::PelvicDrop => "pelvic drop",
            FlagKind::TrunkSway => "trunk sway",
            FlagKind::Momentum => "momentum",
            FlagKind::PartialRange => "partial range",
            FlagKind::HipFlexionDrift => "hip-flexion drift",
        }
    }
}

/// One flag on one rep.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flag {
    /// What.
    pub kind: FlagKind,
    /// How much, in degrees: obliquity past neutral (pelvic flags), rotation
    /// out of plane (drift), shortfall from the working range (partial), the
    /// rep's range (momentum; its speed is in `rate_dps`).
    pub value_deg: f64,
    /// Momentum only: the peak angular rate of the rep (°/s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_dps: Option<f64>,
}

/// Persistence with hysteresis: over once the value reaches `threshold`, back
/// under once it falls below `threshold − hysteresis`; an excursion counts
/// only if it stays over for `hold_s`.
#[derive(Debug, Clone)]
pub struct Persist {
    threshold: f64,
    release: f64,
    hold_s: f64,
    over_since: Option<f64>,
    excursion_max: f64,
    qualified_max: Option<f64>,
}

impl Persist {
    /// A trigger from a pelvic flag's settings.
    pub fn new(cfg: &PelvicFlagConfig) -> Self {
        Persist {
            threshold: cfg.threshold_deg,
            release: cfg.threshold_deg - cfg.hysteresis_deg,
            hold_s: cfg.hold_s,
            over_since: None,
            excursion_max: f64::NEG_INFINITY,
            qualified_max: None,
        }
    }

    /// Feeds a value at time `t`.
    pub fn push(&mut self, t: f64, value: f64) {
        match self.over_since {
            None if value >= self.threshold => {
                self.over_since = Some(t);
                self.excursion_max = value;
            }
            Some(since) => {
                if value < self.release {
                    self.over_since = None;
                } else {
                    self.excursion_max = self.excursion_max.max(value);
                    if t - since >= self.hold_s {
                        self.qualified_max = Some(
                            self.qualified_max
                                .map_or(self.excursion_max, |m: f64| m.max(self.excursion_max)),
                        );
                    }
                }
            }
            None => {}
        }
    }

    /// The largest value of an excursion that was held long enough, if any.
    pub fn qualified(&self) -> Option<f64> {
        self.qualified_max
    }
}

/// Pelvic flags of one rep from its obliquity samples (free side up positive,
/// from the set's neutral).
pub fn pelvic_flags(cfg: &FlagsConfig, trace: &[TracePoint], out: &mut Vec<Flag>) {
    let mut hike = Persist::new(&cfg.hip_hike);
    let mut drop = Persist::new(&cfg.pelvic_drop);
    let mut sway_up = Persist::new(&cfg.trunk_sway);
    let mut sway_down = Persist::new(&cfg.trunk_sway);
    for p in trace {
        hike.push(p.t, p.angle);
        drop.push(p.t, -p.angle);
        sway_up.push(p.t, p.angle);
        sway_down.push(p.t, -p.angle);
    }
    if cfg.trunk_sway.enabled {
        if let (Some(a), Some(b)) = (sway_up.qualified(), sway_down.qualified()) {
            out.push(Flag {
                kind: FlagKind::TrunkSway,
                value_deg: a.max(b),
                rate_dps: None,
            });
            return;
        }
    }
    if cfg.hip_hike.enabled {
        if let Some(v) = hike.qualified() {
            out.push(Flag {
                kind: FlagKind::HipHike,
                value_deg: v,
                rate_dps: None,
            });
        }
    }
    if cfg.pelvic_drop.enabled {
        if let Some(v) = drop.qualified() {
            out.push(Flag {
                kind: FlagKind::PelvicDrop,
                value_deg: v,
                rate_dps: None,
            });
        }
    }
}

/// What the ankle flags know about the set so far.
#[derive(Debug, Clone, Default)]
pub struct SetReference {
    /// Peaks of the set's full-range reps so far (°).
    pub peaks: Vec<f64>,
    /// Sum of the unit rotation axes of the set's in-plane reps.
    pub axis_sum: Vector3<f64>,
    /// How many reps went into `axis_sum`.
    pub axis_reps: usize,
    /// Peak angular rates of the set's reps without momentum so far (°/s).
    pub rates: Vec<f64>,
    /// The set's second movement turned about another axis than its first
    /// (its unit axis, weight and start, s): the third says which of the
    /// two was a rep.
    pub contested: Option<(Vector3<f64>, f64, f64)>,
    /// Start (s) of the first movement in `axis_sum`.
    pub first_start_s: f64,
    /// Start (s) of one of the set's first two movements that turned about
    /// another axis than the reps after it (a step into place, settling the
    /// foot): not a rep ([`ODD_AXIS_COS`]).
    pub odd_start_s: Option<f64>,
}

/// Two movements whose rotation axes are farther apart than this cosine
/// (60°) turn about different axes: the share the off-axis rule
/// (`reps.off_axis_fraction`) asks of a rep along the set's axis.
pub const ODD_AXIS_COS: f64 = 0.5;

impl SetReference {
    /// How far `rotation` (°) goes along the set's rep axis (°), once its
    /// reps have given one.
    /// While the set's first two movements disagree, along whichever of
    /// the two it follows better.
    pub fn along_axis(&self, rotation: &Vector3<f64>) -> Option<f64> {
        let along = self
            .axis_sum
            .try_normalize(1e-9)
            .map(|axis| rotation.dot(&axis))?;
        Some(match self.contested {
            Some((second, _, _)) => along.max(rotation.dot(&second)),
            None => along,
        })
    }

    /// Whether the set's reps have shown their axis: two that agree, or
    /// two that do not (a rep then has to follow one of them).
    pub fn axis_known(&self) -> bool {
        self.axis_reps >= 2 || self.contested.is_some()
    }

    /// Adds a rep turning about `unit` by `weight` (°), starting at
    /// `start_s`, to the set's axis. Of the set's first two movements, one
    /// about another axis than the next rep is `odd_start_s`, and its axis
    /// is left out: a step into place before the set would otherwise set
    /// an axis the reps are then judged off.
    pub fn learn_axis(&mut self, unit: Vector3<f64>, weight: f64, start_s: f64) {
        let axis = self.axis_sum.try_normalize(1e-9);
        match (self.axis_reps, self.contested.take(), axis) {
            (1, None, Some(a)) if a.dot(&unit) < ODD_AXIS_COS => {
                // Which of the two is the rep, the next one will say.
                self.contested = Some((unit, weight, start_s));
                return;
            }
            (1, Some((second, w2, s2)), Some(a)) => {
                let with_first = a.dot(&unit) >= ODD_AXIS_COS;
                let with_second = second.dot(&unit) >= ODD_AXIS_COS;
                if with_second && !with_first {
                    self.odd_start_s = Some(self.first_start_s);
                    self.axis_sum = second * w2;
                } else if with_first && !with_second {
                    self.odd_start_s = Some(s2);
                } else {
                    self.axis_sum += second * w2;
                    self.axis_reps += 1;
                }
            }
            (0, _, _) | (_, _, None) => self.first_start_s = start_s,
            _ => {}
        }
        self.axis_sum += unit * weight;
        self.axis_reps += 1;
    }

    /// The working range: median peak of the full-range reps so far.
    pub fn working_range(&self) -> Option<f64> {
        median(&self.peaks)
    }
}

/// The median of `v`, if any.
fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    })
}

/// Ankle flags of one rep. `peak_deg` is the rep's peak rotation from
/// neutral, reached at `peak_t`. Updates `reference`'s
/// working range and rates, and returns whether the rep stayed in the set's
/// plane (then its axis may join the set's: [`SetReference::learn_axis`]).
#[must_use]
pub fn ankle_flags(
    cfg: &FlagsConfig,
    trace: &[TracePoint],
    peak_deg: f64,
    peak_t: f64,
    reference: &mut SetReference,
    out: &mut Vec<Flag>,
) -> bool {
    if cfg.momentum.enabled && peak_deg > 0.0 {
        let rise = trace
            .iter()
            .filter(|p| p.t <= peak_t)
            .map(|p| p.rate)
            .fold(0.0, f64::max);
        let fall = trace
            .iter()
            .filter(|p| p.t > peak_t)
            .map(|p| p.rate)
            .fold(0.0, f64::max);
        let rate = rise.max(fall);
        let m = &cfg.momentum;
        let fast_for_set = m.speed_factor <= 0.0
            || reference.rates.len() < m.min_reference_reps
            || median(&reference.rates).is_some_and(|r| rate > m.speed_factor * r);
        if rate / peak_deg > m.rate_per_range && fast_for_set {
            out.push(Flag {
                kind: FlagKind::Momentum,
                value_deg: peak_deg,
                rate_dps: Some(rate),
            });
        } else {
            reference.rates.push(rate);
        }
    }
    let mut partial = false;
    if cfg.partial_range.enabled && reference.peaks.len() >= cfg.partial_range.min_reference_reps {
        if let Some(working) = reference.working_range() {
            if peak_deg < cfg.partial_range.fraction * working {
                partial = true;
                out.push(Flag {
                    kind: FlagKind::PartialRange,
                    value_deg: working - peak_deg,
                    rate_dps: None,
                });
            }
        }
    }
    if !partial {
        reference.peaks.push(peak_deg);
    }
    let mut drifted = false;
    if cfg.hip_flexion_drift.enabled
        && reference.axis_reps >= cfg.hip_flexion_drift.min_reference_reps
    {
        if let Some(axis) = reference.axis_sum.try_normalize(1e-9) {
            let out_of_plane = trace
                .iter()
                .map(|p| (p.rotation - axis * p.rotation.dot(&axis)).norm())
                .fold(0.0, f64::max);
            if out_of_plane >= cfg.hip_flexion_drift.threshold_deg {
                drifted = true;
                out.push(Flag {
                    kind: FlagKind::HipFlexionDrift,
                    value_deg: out_of_plane,
                    rate_dps: None,
                });
            }
        }
    }
    !drifted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(threshold: f64) -> PelvicFlagConfig {
        PelvicFlagConfig {
            enabled: true,
            threshold_deg: threshold,
            hold_s: 0.15,
            hysteresis_deg: 1.0,
        }
    }

    #[test]
    fn of_the_first_two_movements_the_one_off_the_reps_axis_is_odd() {
        let (x, y) = (Vector3::x(), Vector3::y());
        // A step about y, then reps about x: the step was odd.
        let mut r = SetReference::default();
        r.learn_axis(y, 50.0, 1.0);
        r.learn_axis(x, 30.0, 4.0);
        assert!(r.axis_known() && r.axis_reps == 1, "contested");
        assert_eq!(
            r.along_axis(&(y * 20.0)),
            Some(20.0),
            "either axis, meanwhile"
        );
        r.learn_axis(x, 30.0, 7.0);
        assert_eq!(r.odd_start_s, Some(1.0));
        assert!(
            r.along_axis(&(y * 20.0)).unwrap().abs() < 1e-9,
            "the step's axis is gone"
        );
        // A rep about x, a step about y, reps about x: the step was odd.
        let mut r = SetReference::default();
        for (axis, start) in [(x, 1.0), (y, 4.0), (x, 7.0), (x, 10.0)] {
            r.learn_axis(axis, 30.0, start);
        }
        assert_eq!(r.odd_start_s, Some(4.0));
        assert_eq!(r.axis_reps, 3);
        // Reps that agree leave nothing odd.
        let mut r = SetReference::default();
        for start in [1.0, 4.0, 7.0] {
            r.learn_axis(x, 30.0, start);
        }
        assert_eq!((r.odd_start_s, r.axis_reps), (None, 3));
    }

    #[test]
    fn a_single_sample_over_the_line_is_not_a_flag() {
        let mut p = Persist::new(&cfg(5.0));
        p.push(0.0, 0.0);
        p.push(0.01, 9.0);
        p.push(0.02, 0.0);
        p.push(0.3, 0.0);
        assert_eq!(p.qualified(), None);
    }

    #[test]
    fn a_held_excursion_is_a_flag_even_when_it_wobbles_within_hysteresis() {
        let mut p = Persist::new(&cfg(5.0));
        for i in 0..30 {
            let t = i as f64 * 0.01;
            // Wobbles between 4.2 and 6 : never below the 4.0 release.
            let v = if i % 2 == 0 { 6.0 } else { 4.2 };
            p.push(t, v);
        }
        assert_eq!(p.qualified(), Some(6.0));
    }

    fn rep_trace(peak: f64, phase_s: f64) -> Vec<TracePoint> {
        // A sine-shaped rise and return, each `phase_s` long, sampled at 100 Hz.
        let n = (2.0 * phase_s * 100.0) as usize;
        (0..=n)
            .map(|i| {
                let t = i as f64 / 100.0;
                let u = t / (2.0 * phase_s);
                let mut p = TracePoint::at(t);
                p.angle = peak * (std::f64::consts::PI * u).sin();
                p.rate = peak * std::f64::consts::PI / (2.0 * phase_s)
                    * (std::f64::consts::PI * u).cos().abs();
                p
            })
            .collect()
    }

    fn momentum_of(
        cfg: &FlagsConfig,
        reference: &mut SetReference,
        peak: f64,
        phase_s: f64,
    ) -> bool {
        let trace = rep_trace(peak, phase_s);
        let mut out = Vec::new();
        let _ = ankle_flags(cfg, &trace, peak, phase_s, reference, &mut out);
        out.iter().any(|f| f.kind == FlagKind::Momentum)
    }

    #[test]
    fn a_partial_rep_at_the_sets_speed_is_not_momentum_but_a_fast_one_is() {
        let profile = crate::motion::Profile::builtin(
            crate::Exercise::StandingCableAbduction,
            crate::Placement::Ankle,
        )
        .expect("built in");
        let cfg = &profile.flags;
        assert!(cfg.momentum.speed_factor > 0.0);
        let mut reference = SetReference::default();
        for _ in 0..3 {
            assert!(!momentum_of(cfg, &mut reference, 40.0, 1.0));
        }
        // A third of the range at the same angular speed: quick for its
        // range (rate/range 4.7 /s) but no faster than the set.
        assert!(!momentum_of(cfg, &mut reference, 13.0, 0.33));
        // The full range in 0.3 s: three times the set's speed.
        assert!(momentum_of(cfg, &mut reference, 40.0, 0.3));
    }
}
