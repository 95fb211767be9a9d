//! Ankle: a second count of the set, from the gyro alone.
//!
//! The rep detector counts rotation from a neutral: a rep leaves it and
//! comes back. When that neutral is wrong (the leg came to rest somewhere
//! else, the recording began mid-set and no rest gave one yet), reps run
//! together or go unseen, and the reps it does count can look perfectly
//! regular. The gyro does not need a neutral: turning about the set's axis
//! integrates to an angle whose ups and downs are the reps whatever it is
//! measured from. [`SwingLog`] keeps the recent angular rate;
//! [`disagreement`] counts the swings up and down about the set's axis
//! over the set and just before it, and says where they do not match the
//! reps counted. That is a cue independent of the detector's neutral,
//! thresholds and rules: where the two counts differ, the set is not sure.

use super::certainty::{Doubt, DoubtKind, EDGE_INTERVALS, MIN_REPS_FOR_NORM};
use super::Rep;
use nalgebra::Vector3;
use std::collections::VecDeque;

/// How far back the log reaches (s): a long set and the time around it.
const KEEP_S: f64 = 240.0;
/// A swing rises and falls back by at least this share of the set's
/// median rep. A rep that fails to reach it (a partial rep under half of
/// the others) is the small-rep cue's to doubt, not this one's.
pub const SWING_FRACTION: f64 = 0.5;
/// A swing whose top lies this close (s) to a counted rep belongs to it.
const SWING_SLACK_S: f64 = 0.25;
/// A step longer than this (s) is a gap in the data: no rotation is
/// integrated across it.
pub(crate) const MAX_STEP_S: f64 = 0.1;
/// A swing no rep holds is doubted only when it is rep-like: it rose
/// between these shares of the set's median rep…
pub const LOOSE_SIZE: (f64, f64) = (0.6, 1.6);
/// … in between these shares of the set's median rise time (plus
/// [`LOOSE_RISE_SLACK_S`] either way). Lowering the leg off the machine,
/// getting up or walking off after the set turn it as far, but slower or
/// much farther.
pub const LOOSE_RISE: (f64, f64) = (0.3, 2.5);
/// See [`LOOSE_RISE`] (s).
const LOOSE_RISE_SLACK_S: f64 = 0.2;
/// A swing no rep holds before the set is doubted when its top lies
/// within this many of the set's intervals of the first rep's start.
pub const LEAD_INTERVALS: f64 = 1.0;
/// A run of at least this many swings leading up to the first rep at the
/// set's pace ([`lead_run`]) means reps before it went unseen…
pub const LEAD_RUN_MIN: usize = 3;
/// … each within this many of the set's intervals of the next …
pub const LEAD_RUN_SPACING: f64 = 1.6;
/// … looked for over this many intervals before the first rep.
pub const LEAD_RUN_INTERVALS: f64 = 4.0;
/// Confidence left when the swings and the count disagree.
const SWINGS_CAP: f64 = 0.5;

/// The recent bias-corrected angular rate (sensor frame, °/s), by time,
/// with the acceleration and the way up that [`super::lever`] reads.
#[derive(Debug, Default)]
pub struct SwingLog {
    log: VecDeque<Logged>,
}

/// One step of the log.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Logged {
    /// Time (s).
    pub t: f64,
    /// Angular rate, bias removed (sensor frame, °/s).
    pub rate: [f32; 3],
    /// Acceleration, gravity removed (sensor frame, m/s²).
    pub acc: [f32; 3],
    /// World up in the sensor frame (unit).
    pub up: [f32; 3],
}

fn f32s(v: &Vector3<f64>) -> [f32; 3] {
    [v.x as f32, v.y as f32, v.z as f32]
}

/// One swing up and back down about an axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Swing {
    /// Where the rise began (s).
    pub start_s: f64,
    /// Its top (s).
    pub top_s: f64,
    /// How far it rose (°).
    pub rise_deg: f64,
}

impl SwingLog {
    /// Notes the angular rate at `t` (°/s, sensor frame, bias removed),
    /// the acceleration less gravity (m/s²) and world up, in the sensor frame.
    pub fn push(&mut self, t: f64, rate: &Vector3<f64>, acc: &Vector3<f64>, up: &Vector3<f64>) {
        self.log.push_back(Logged {
            t,
            rate: f32s(rate),
            acc: f32s(acc),
            up: f32s(up),
        });
        while self.log.front().is_some_and(|l| l.t < t - KEEP_S) {
            self.log.pop_front();
        }
    }

    /// The steps from `from_s` to `to_s`.
    pub fn span(&self, from_s: f64, to_s: f64) -> impl Iterator<Item = &Logged> {
        let i = self.log.partition_point(|l| l.t < from_s);
        let j = self.log.partition_point(|l| l.t <= to_s);
        self.log.range(i..j.max(i))
    }

    /// The angle turned about `axis` (a unit vector in the sensor frame)
    /// from `from_s` to `to_s`, step by step (s, °), starting from 0.
    pub fn angle_about(&self, axis: &Vector3<f64>, from_s: f64, to_s: f64) -> Vec<(f64, f64)> {
        let mut out = Vec::new();
        let mut angle = 0.0;
        let mut prev: Option<f64> = None;
        for &Logged { t, rate: w, .. } in self.span(from_s, to_s) {
            let rate =
                f64::from(w[0]) * axis.x + f64::from(w[1]) * axis.y + f64::from(w[2]) * axis.z;
            if let Some(p) = prev {
                let dt = t - p;
                if dt <= MAX_STEP_S {
                    angle += rate * dt;
                }
            }
            prev = Some(t);
            out.push((t, angle));
        }
        out
    }
}

/// The swings up and back down by at least `depth` (°) in `angle` (s, °):
/// a rise counts once the angle has fallen `depth` from its top, and the
/// last rise counts if the trace ends on it.
pub fn swings(angle: &[(f64, f64)], depth: f64) -> Vec<Swing> {
    zigzag(angle.iter().copied(), depth, false)
}

/// The zig-zag behind [`swings`] and the pipeline's hump count: rises
/// that then fall back by more than `depth`, from `points` (s, °). With
/// `from_a_rise`, the trace is taken to start on its way up (a movement
/// from rest), so its first top counts however little it rose from the
/// first point.
pub(crate) fn zigzag(
    points: impl IntoIterator<Item = (f64, f64)>,
    depth: f64,
    from_a_rise: bool,
) -> Vec<Swing> {
    let mut out = Vec::new();
    let mut points = points.into_iter().peekable();
    let Some(&(t0, a0)) = points.peek() else {
        return out;
    };
    // Looking for a rise from (low_t, low); then, once risen, for the fall
    // from (top_t, top).
    let (mut low_t, mut low) = (t0, a0);
    let (mut top_t, mut top) = (t0, f64::NEG_INFINITY);
    let mut rising = from_a_rise;
    for (t, a) in points {
        if rising {
            if a > top {
                top = a;
                top_t = t;
            } else if a < top - depth {
                out.push(Swing {
                    start_s: low_t,
                    top_s: top_t,
                    rise_deg: top - low,
                });
                rising = false;
                low = a;
                low_t = t;
            }
        } else if a < low {
            low = a;
            low_t = t;
        } else if a > low + depth {
            rising = true;
            top = a;
            top_t = t;
        }
    }
    if rising {
        out.push(Swing {
            start_s: low_t,
            top_s: top_t,
            rise_deg: top - low,
        });
    }
    out
}

/// Compares the set's reps with the swings about its `axis` (unit, sensor
/// frame) in `log`: a rep holding two swings, or a rep-like swing between
/// reps or just before the first that no rep holds, is a doubt. None when they agree
/// or the set is too short to have a norm.
pub fn disagreement(
    log: &SwingLog,
    reps: &[Rep],
    axis: &Vector3<f64>,
) -> Option<(f64, Vec<Doubt>)> {
    if reps.len() < MIN_REPS_FOR_NORM {
        return None;
    }
    let pace = super::sets::median_interval(reps);
    let median_peak = super::sets::median_peak(reps);
    let (first, last) = (reps[0].start_s, reps[reps.len() - 1].end_s);
    // From a little before the set (the swing that went unseen must have
    // its top within one interval of the first rep) to its last rep's end.
    // After the set the leg is lowered off the machine, swung, walked on:
    // the detector's own edge cue hears of a rep lost there.
    let lead = LEAD_INTERVALS * pace;
    let angle = log.angle_about(axis, first - lead - EDGE_INTERVALS * pace, last);
    let found = swings(&angle, SWING_FRACTION * median_peak);
    let rise = super::sets::median(reps.iter().map(|r| r.concentric_s));
    let rep_like = |s: &Swing| {
        s.rise_deg >= LOOSE_SIZE.0 * median_peak
            && s.rise_deg <= LOOSE_SIZE.1 * median_peak
            && rises_in_rep_time(s, rise)
    };
    let mut per_rep = vec![0usize; reps.len()];
    let mut loose = Vec::new();
    for s in &found {
        match reps.iter().position(|r| {
            s.top_s >= r.start_s - SWING_SLACK_S && s.top_s <= r.end_s + SWING_SLACK_S
        }) {
            Some(i) => per_rep[i] += 1,
            None if s.top_s >= first - lead && rep_like(s) => loose.push(*s),
            None => {}
        }
    }
    let unseen_lead = lead_run(log, reps, axis, pace, median_peak, rise);
    let mut doubts = Vec::new();
    for (r, &n) in reps.iter().zip(&per_rep) {
        if n >= 2 {
            doubts.push(Doubt {
                kind: DoubtKind::SwingsDisagree,
                from_s: r.start_s,
                to_s: r.end_s,
                reps: n as i32 - 1,
                message: format!(
                    "rep {} ({:.1}-{:.1} s) swung up and down {n} times about the reps' axis: \
                     it may be {n} reps counted as one",
                    r.number, r.start_s, r.end_s
                ),
            });
        }
    }
    for s in loose {
        let place = if s.top_s < first {
            "just before the set"
        } else {
            "between two reps"
        };
        doubts.push(Doubt {
            kind: DoubtKind::SwingsDisagree,
            from_s: s.start_s,
            to_s: s.top_s,
            reps: 1,
            message: format!(
                "the leg swung {:.0}° about the reps' axis {place} ({:.1}-{:.1} s) and no rep \
                 was counted there: the count may be one short",
                s.rise_deg, s.start_s, s.top_s
            ),
        });
    }
    if unseen_lead.len() >= LEAD_RUN_MIN {
        let from_s = unseen_lead[unseen_lead.len() - 1].start_s;
        let n = unseen_lead.len();
        doubts.push(Doubt {
            kind: DoubtKind::SwingsDisagree,
            from_s,
            to_s: first,
            reps: n as i32,
            message: format!(
                "the leg swung up and down about the reps' axis {n} times at the set's pace \
                 before the first rep counted ({from_s:.1}-{first:.1} s): reps done before \
                 the set was seen may have gone uncounted"
            ),
        });
    }
    (!doubts.is_empty()).then_some((SWINGS_CAP, doubts))
}

/// Whether `s` rose in a rep's time: within [`LOOSE_RISE`] of the set's
/// median rise time `rise` (s), give or take [`LOOSE_RISE_SLACK_S`].
fn rises_in_rep_time(s: &Swing, rise: f64) -> bool {
    let took = s.top_s - s.start_s;
    took >= LOOSE_RISE.0 * rise - LOOSE_RISE_SLACK_S
        && took <= LOOSE_RISE.1 * rise + LOOSE_RISE_SLACK_S
}

/// The swings about `axis` that lead up to the set's first rep at its
/// pace: chained back from it, each top within [`LEAD_RUN_SPACING`] of the
/// set's intervals before the next, rising in a rep's time and no farther
/// than a rep, looked for over [`LEAD_RUN_INTERVALS`] intervals. Latest
/// first. The detector needs a rest to measure from; a set begun straight
/// from sitting down or from a jog has none, and its first reps go by
/// unseen while the gyro turns with every one.
fn lead_run(
    log: &SwingLog,
    reps: &[Rep],
    axis: &Vector3<f64>,
    pace: f64,
    median_peak: f64,
    rise: f64,
) -> Vec<Swing> {
    let first = reps[0].start_s;
    let from = first - (LEAD_RUN_INTERVALS + EDGE_INTERVALS) * pace;
    let angle = log.angle_about(axis, from, first);
    let rep_timed =
        |s: &Swing| rises_in_rep_time(s, rise) && s.rise_deg <= LOOSE_SIZE.1 * median_peak;
    // The first rep's top, roughly: its start and the set's rise time.
    let mut next = first + rise;
    let mut run = Vec::new();
    for s in swings(&angle, SWING_FRACTION * median_peak).iter().rev() {
        if s.top_s >= first - SWING_SLACK_S {
            continue;
        }
        if next - s.top_s > LEAD_RUN_SPACING * pace || !rep_timed(s) {
            break;
        }
        run.push(*s);
        next = s.top_s;
    }
    run
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rep(number: usize, start_s: f64, end_s: f64, peak_deg: f64) -> Rep {
        Rep {
            number,
            start_s,
            end_s,
            peak_deg,
            concentric_s: (end_s - start_s) / 2.0,
            pause_s: 0.0,
            eccentric_s: (end_s - start_s) / 2.0,
            flags: Vec::new(),
        }
    }

    /// 50 Hz log of a leg swinging `deg`-high humps about x, each
    /// `(start, length)`.
    fn log_of(humps: &[(f64, f64)], deg: f64, until: f64) -> SwingLog {
        let mut log = SwingLog::default();
        let mut t = 0.0;
        while t < until {
            let mut rate = 0.0;
            for &(s, len) in humps {
                if t >= s && t < s + len {
                    // d/dt of deg/2 (1 - cos(2π (t-s)/len)).
                    let w = std::f64::consts::TAU / len;
                    rate += deg / 2.0 * w * (w * (t - s)).sin();
                }
            }
            log.push(
                t,
                &Vector3::new(rate, 0.0, 0.0),
                &Vector3::zeros(),
                &Vector3::z(),
            );
            t += 0.02;
        }
        log
    }

    #[test]
    fn swings_are_counted_whatever_the_angle_drifted_to() {
        let humps: Vec<(f64, f64)> = (0..5).map(|i| (1.0 + 3.0 * i as f64, 2.0)).collect();
        let log = log_of(&humps, 30.0, 18.0);
        let angle = log.angle_about(&Vector3::x(), 0.0, 18.0);
        let found = swings(&angle, 15.0);
        assert_eq!(found.len(), 5);
        assert!(found.iter().all(|s| (s.rise_deg - 30.0).abs() < 1.0));
        // About an axis 90° away, nothing swings.
        let across = log.angle_about(&Vector3::y(), 0.0, 18.0);
        assert!(swings(&across, 15.0).is_empty());
    }

    #[test]
    fn reps_gone_by_before_the_set_was_seen_are_doubted_as_a_run() {
        // Eight 30° swings, 2 s each, 3 s apart; the detector saw the last
        // five only (no rest before the set to measure from).
        let humps: Vec<(f64, f64)> = (0..8).map(|i| (1.0 + 3.0 * i as f64, 2.0)).collect();
        let log = log_of(&humps, 30.0, 26.0);
        let seen: Vec<Rep> = humps[3..]
            .iter()
            .enumerate()
            .map(|(i, &(s, l))| rep(i + 1, s, s + l, 30.0))
            .collect();
        let (_, doubts) = disagreement(&log, &seen, &Vector3::x()).expect("doubted");
        let run = doubts
            .iter()
            .find(|d| d.message.contains("before the first rep counted"))
            .expect("a run before the set");
        assert_eq!(run.reps, 3, "{run:?}");
        assert!(run.from_s <= 1.1, "{run:?}");
        // One swing before the set is no run (the lead cue's to doubt).
        let log = log_of(&humps[2..], 30.0, 26.0);
        let doubts = disagreement(&log, &seen, &Vector3::x()).map_or(Vec::new(), |(_, d)| d);
        assert!(doubts
            .iter()
            .all(|d| !d.message.contains("before the first rep counted")));
    }

    #[test]
    fn reps_run_together_or_missed_before_the_set_are_doubted_and_a_match_is_not() {
        // Eight 30° swings, 2 s each, 3 s apart.
        let humps: Vec<(f64, f64)> = (0..8).map(|i| (1.0 + 3.0 * i as f64, 2.0)).collect();
        let log = log_of(&humps, 30.0, 26.0);
        let every: Vec<Rep> = humps
            .iter()
            .enumerate()
            .map(|(i, &(s, l))| rep(i + 1, s, s + l, 30.0))
            .collect();
        assert_eq!(disagreement(&log, &every, &Vector3::x()), None);
        // The detector saw the swings 3-4 and 5-6 as one rep each.
        let merged = vec![
            rep(1, 1.0, 3.0, 30.0),
            rep(2, 4.0, 6.0, 30.0),
            rep(3, 7.0, 12.0, 45.0),
            rep(4, 13.0, 18.0, 45.0),
            rep(5, 19.0, 21.0, 30.0),
            rep(6, 22.0, 24.0, 30.0),
        ];
        let (cap, doubts) = disagreement(&log, &merged, &Vector3::x()).expect("doubted");
        assert!(cap < crate::motion::certainty::SURE);
        assert_eq!(doubts.iter().map(|d| d.reps).sum::<i32>(), 2);
        // The first two swings went unseen (no neutral yet).
        let late = every[2..].to_vec();
        let (_, doubts) = disagreement(&log, &late, &Vector3::x()).expect("doubted");
        assert!(doubts.iter().any(|d| d.message.contains("just before")));
    }
}
