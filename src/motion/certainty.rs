//! How sure a set's count is, from cues that do not depend on each other.
//!
//! The rep detector decides what is a rep; this stage looks at the finished
//! set the way a coach would look at the count and asks whether it hangs
//! together:
//!
//! - **Rhythm**: reps of a set come at a steady pace. A gap two or three
//!   times the set's usual interval means reps were probably missed there.
//! - **Agreement**: reps of a set are alike. One rep that lasted twice as
//!   long as the others may be two reps counted as one; one far smaller may
//!   be a fidget counted as a rep.
//! - **Edges**: a rep-sized movement that was not counted just before the
//!   first rep or just after the last one (it never came back, went too
//!   far, was too quick) may be a rep of the set that was lost.
//! - **Signal to noise**: reps that stand barely above the resting noise, or
//!   barely above the smallest movement the profile accepts, are easy to
//!   miss or to invent.
//!
//! Each cue that fires becomes a [`Doubt`] the lifter can read ("the rhythm
//! suggests 2 reps were missed between 14.6 s and 19.7 s"), and caps the
//! set's confidence. The confidence is the lowest cap: a set is `sure` only
//! when every cue agrees.

use super::sets::{median_interval, median_length, median_pause};
use super::{Rep, RepSignal};
use serde::{Deserialize, Serialize};

/// A gap between rep starts longer than this many times the set's median
/// interval is a rhythm break.
pub const RHYTHM_GAP_FACTOR: f64 = 1.6;
/// At the pelvis, two rep starts closer than this share of the set's median
/// interval: one rep (a hike with a dip in it) may have been counted twice.
/// (At the ankle a momentum rep is quick and the next comes soon: no cue
/// of its own; see [`SPLIT_BEAT_FRACTION`].)
pub const RHYTHM_RUSH_FRACTION: f64 = 0.5;
/// … or under this share when the second began as the first came back
/// (within [`RUSH_TOUCHING_GAP_S`]): a hike held at the top, read as two.
pub const RUSH_TOUCHING_FRACTION: f64 = 0.6;
/// See [`RUSH_TOUCHING_FRACTION`] (s).
pub const RUSH_TOUCHING_GAP_S: f64 = 0.3;
/// A rep lasting longer than this many times the set's median rep (and
/// longer than the median interval) may be two reps merged.
pub const LONG_REP_FACTOR: f64 = 1.8;
/// A rep smaller than this share of the set's median (ankle) may not be a rep.
pub const SMALL_REP_FRACTION: f64 = 0.4;
/// A rep larger than this many times the set's median (ankle) may be two
/// reps run together (the leg went up again before it came down).
pub const LARGE_REP_FACTOR: f64 = 1.35;
/// A first rep shorter than this share of the set's median length may be
/// settling into position, not a rep; a last one, a swing after the set.
pub const QUICK_START_FRACTION: f64 = 0.4;
/// … and, for the last rep, smaller than this share of the set's median
/// rep (a momentum rep to finish a set is quick but full-sized).
pub const QUICK_END_SIZE: f64 = 0.6;
/// … or, for a last rep far quicker still (under this share of the set's
/// median length: a single swing of the leg after the set, 0.6 s against
/// reps of 3-4 s, 0.7 s against 1.9 s), smaller than [`QUICK_END_SWING_SIZE`] of the median.
pub const QUICK_END_SWING_LENGTH: f64 = 0.4;
/// See [`QUICK_END_SWING_LENGTH`].
pub const QUICK_END_SWING_SIZE: f64 = 0.85;
/// A rep (ankle, not the first) shorter than this share of the set's
/// median length, smaller than [`SPLIT_SIZE`] of its median rep and begun
/// within [`SPLIT_GAP_S`] of the end of the rep before may be that rep's
/// lowering counted again.
pub const SPLIT_LENGTH: f64 = 0.5;
/// See [`SPLIT_LENGTH`].
pub const SPLIT_SIZE: f64 = 0.75;
/// See [`SPLIT_LENGTH`] (s).
pub const SPLIT_GAP_S: f64 = 0.5;
/// Ankle: a rep begun under this share of the set's median interval after
/// the rep before, and followed as soon by the next, the two intervals
/// together about one beat of the set (at least [`SPLIT_BEAT_MIN_SUM`] of
/// it; under 1.3 of it follows from this share), with the second or the
/// third rep begun as the one before it came back
/// ([`RUSH_TOUCHING_GAP_S`]): a rep counted where the set's rhythm has
/// room for none, one rep split in two; the intervals on either side of
/// the two are not short (a run of quicker reps is a change of pace). A
/// momentum rep is quick, but the set's beat goes on after it and the
/// intervals do not add up to one. Needs five reps or more: in a set of
/// four the median interval is one of the three, so two of them are
/// never both under this share of it.
pub const SPLIT_BEAT_FRACTION: f64 = 0.65;
/// See [`SPLIT_BEAT_FRACTION`]: the least the two intervals add up to, as
/// a share of the median interval (a quick rep and then the beat again
/// add up to less).
pub const SPLIT_BEAT_MIN_SUM: f64 = 0.75;
/// Fewest reps for the rhythm and agreement cues to have a norm to compare with.
pub const MIN_REPS_FOR_NORM: usize = 4;
/// Confidence left when the rhythm says reps were missed.
const MISSED_CAP: f64 = 0.3;
/// Confidence left when a rep may be two merged.
const MERGED_CAP: f64 = 0.5;
/// Confidence left when a rep is far smaller, or far larger, than the others.
const SMALL_CAP: f64 = 0.7;
/// A movement not counted within this many of the set's intervals of its
/// first or last rep borders the set.
pub const EDGE_INTERVALS: f64 = 1.5;
/// At the pelvis, a movement that did not come back, at least this many
/// times as long as the set's median rep ...
pub const HELD_AFTER_LENGTH: f64 = 3.0;
/// ... and starting within this many of the set's intervals after its last
/// rep ended (and past the edge's [`EDGE_INTERVALS`]: nearer, it is an
/// edge movement like any other), doubts the set: the reps may have gone on from a level the
/// pelvis was held at, and been thrown out with it (fatigue, session 33: a
/// lifter held the pelvis 6° above level for 3 s after a hitch, that level
/// became the neutral, and the six hitches after it, each coming back to
/// the old level, were one long movement that never came back).
pub const HELD_AFTER_INTERVALS: f64 = 2.5;
/// An uncounted movement at least this share of the set's median rep (ankle)
/// is rep-sized. At the pelvis, anything past the profile's smallest rep is.
pub const EDGE_SIZE_FRACTION: f64 = 0.4;
/// Ankle: a movement thrown out for a jolt counts as an uncounted rep just
/// after the set only between these shares of the reps' median size (a
/// foot set down after the set jolts too, but seldom turns the leg as far
/// as a rep).
pub const JOLTED_EDGE_SIZE: (f64, f64) = (0.6, 1.4);
/// Ankle: a last rep under this share of the reps' median size…
pub const ABANDONED_SIZE: f64 = 0.7;
/// … begun after a pause this many times the set's median pause, …
pub const ABANDONED_PAUSE: f64 = 1.4;
/// … or lasting this many times the set's median rep, is doubted as an
/// attempt given up on the way up.
pub const ABANDONED_LENGTH: f64 = 1.3;
/// Confidence left when a rep-sized movement borders the set uncounted.
const EDGE_CAP: f64 = 0.5;
/// Ankle: a movement not counted between two counted reps doubts the count
/// up to this many times the reps' median size (at the edges: 2×, beyond
/// which it is a posture change, lying down or getting up).
pub const INSIDE_SIZE_MAX: f64 = 3.0;
/// From this confidence on, a count is called sure.
pub const SURE: f64 = 0.9;
/// Confidence left when the set is too short to judge its rhythm.
const SHORT_SET_CAP: f64 = 0.85;

/// What kind of doubt a set raises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DoubtKind {
    /// A gap in the set's rhythm: reps were probably missed there.
    RhythmGap,
    /// A rep far longer than the others: perhaps two counted as one.
    LongRep,
    /// Two reps far closer together than the set's pace (pelvis), or a rep
    /// squeezed into one beat of it (ankle): perhaps one rep counted twice.
    RhythmRush,
    /// A rep far smaller than the others: perhaps not a rep.
    SmallRep,
    /// The first rep far quicker than the others, whatever its size:
    /// perhaps settling into position just before the set.
    QuickStart,
    /// The last rep far quicker and smaller than the others: perhaps a
    /// swing or settling the leg just after the set.
    QuickEnd,
    /// Ankle: the last rep well short of the others after a longer pause
    /// or held longer: perhaps an attempt given up on the way up.
    SmallLastRep,
    /// A rep far larger than the others: perhaps two run together.
    LargeRep,
    /// A rep far quicker and smaller than the others, begun as the one
    /// before it ended (ankle): perhaps that rep's lowering counted again.
    SplitRep,
    /// The reps stand barely above the resting noise.
    LowSignal,
    /// The smallest rep is close to the smallest movement counted at all.
    NearThreshold,
    /// Too few reps to judge the rhythm and agreement.
    ShortSet,
    /// A rep-sized movement just before or after the set, or between two
    /// of its reps, was not counted.
    UncountedNearby,
    /// Pelvis abduction: most reps counted hiked or dropped the pelvis, so
    /// the clean ones may have moved it too little to be seen.
    CompensatedOnly,
    /// The reps moved the sensor so little (under the profile's
    /// `sets.sure_min_peak_deg`) that a breath or a shift on the mat moves
    /// it as much: a rep may be missed or one counted that was none.
    FaintReps,
    /// Two sensors: some reps were counted from the pelvis alone (the
    /// ankle sensor was out).
    PelvisOnly,
    /// Two sensors: the pelvic flags of some reps were not judged (the
    /// pelvis sensor was out). Says nothing against the count.
    PelvisNotJudged,
    /// Two sensors: the pelvis moved like a rep where the ankle counted none.
    PelvisSawMore,
    /// Ankle: the reps came as quick and as often as the strides of a walk.
    StrideLike,
    /// Ankle: the reps turned the leg about the axis the last walk's
    /// strides turned it about: perhaps kickbacks or leg swings.
    WalkAxis,
    /// Ankle: the leg swung up and down about the reps' axis more often
    /// than reps were counted (the gyro's own count, which needs no
    /// neutral, disagrees with the detector's).
    SwingsDisagree,
    /// Ankle: the reps turned the leg about a pivot that is not where this
    /// exercise puts the hip (the lever fitted from the accelerometer):
    /// perhaps another exercise done with the sensor on.
    OffPivot,
    /// The data broke off (the radio dropped) inside the set or within one
    /// of its intervals: reps done then went unseen.
    DataGap,
    /// The sensor never came fully to rest before reps of the set (a
    /// tremor or a wobbling strap); where they were measured from was
    /// taken from a shaky rest, and reps may have gone unseen.
    ShakyRest,
    /// Every rep went farther than the one before, well beyond the first:
    /// the position they were measured from was probably drifting (the
    /// neutral slipping, the sensor turning), not the lifter growing.
    GrowingReps,
    /// The set began from a posture the leg had just moved into (lying
    /// down, sitting into the machine), its neutral taken from a rest in
    /// that posture: either the set began with no rest between, or the
    /// movement into the posture went on long enough to hold a rep. Either
    /// way a first rep may have gone unseen.
    NoRestBefore,
    /// Ankle: a rep began with the leg still well up from the rep before
    /// (it came back only part way): one rep lowered part way and raised
    /// again may have been counted as two.
    ShallowReturn,
    /// Ankle: a rep began within moments of the rep before coming down,
    /// the leg never back where that rep began: one rep lowered part way
    /// and raised again without a pause may have been counted as two.
    TurnedPartWay,
    /// Pelvis: a movement that never came back to the resting level came
    /// back to another one, and its reps were counted from that level: the resting level had been taken where the pelvis was held
    /// off it, or the lifter moved. Counted, but worth a look.
    Relevelled,
}

/// Where a rep began on the counted signal and how it ended (°, above the
/// resting level).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RepLevel {
    /// When the rep began (s).
    pub start_s: f64,
    /// The level it left from (°).
    pub base: f64,
    /// Its peak above that level (°).
    pub size: f64,
    /// It ended by coming to rest above its return level (part way down),
    /// not by coming back under it.
    pub rested_high: bool,
}

/// A movement the pipeline did not count (°, s).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SetAside {
    /// When it started (s).
    pub start_s: f64,
    /// When it ended (s).
    pub end_s: f64,
    /// How far it went (°; 0 when not known).
    pub size_deg: f64,
    /// Thrown out for a jolt: a foot strike between sets, but inside a
    /// set perhaps a momentum rep landing hard. Only doubted inside one.
    pub jolted: bool,
}

/// One reason a count may be wrong, in the lifter's words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Doubt {
    /// What kind of doubt.
    pub kind: DoubtKind,
    /// Where in the recording it starts (s).
    pub from_s: f64,
    /// Where it ends (s).
    pub to_s: f64,
    /// How many reps it suggests were missed (+) or added (−); 0 when unknown.
    pub reps: i32,
    /// The doubt, said plainly.
    pub message: String,
}

/// Share of a pelvis-abduction set's reps with a hike or drop from which
/// the clean reps may have gone unseen.
pub const COMPENSATED_SHARE: f64 = 0.5;
/// Confidence left then.
const COMPENSATED_CAP: f64 = 0.5;

/// Abduction counted at the pelvis sees a clean rep only as the 0.5–3° the
/// pelvis rolls with it, and some lifters' pelvis hardly rolls at all; a
/// hike or a drop it sees plainly. When most of the reps counted are hikes
/// or drops, the clean ones may have been missed: the doubt that says so,
/// and the confidence it leaves.
pub fn compensated_only(reps: &[Rep]) -> Option<(f64, Doubt)> {
    use super::FlagKind;
    let n = reps.len();
    let k = reps
        .iter()
        .filter(|r| {
            r.flags
                .iter()
                .any(|f| matches!(f.kind, FlagKind::HipHike | FlagKind::PelvicDrop))
        })
        .count();
    if n < 2 || (k as f64) < COMPENSATED_SHARE * n as f64 {
        return None;
    }
    Some((
        COMPENSATED_CAP,
        Doubt {
            kind: DoubtKind::CompensatedOnly,
            from_s: reps[0].start_s,
            to_s: reps[n - 1].end_s,
            reps: 0,
            message: format!(
                "{k} of the {n} reps counted hiked or dropped the pelvis: clean reps may move \
                 it too little to be seen from there, so the count may be short \
                 (an ankle sensor counts every rep)"
            ),
        },
    ))
}

/// Confidence left when the reps' median is under the profile's
/// `sets.sure_min_peak_deg`: likely, not sure.
const FAINT_CAP: f64 = 0.85;

/// A set whose median rep is under `sure_min_peak_deg` (0: off) is never
/// sure: the doubt that says so, and the confidence it leaves. Side-lying,
/// a clean abduction rolls the pelvis 1–3°, and so do breathing and
/// settling on the mat; the counter finds most such reps, but not surely.
pub fn faint_reps(reps: &[Rep], sure_min_peak_deg: f64) -> Option<(f64, Doubt)> {
    let (first, last) = (reps.first()?, reps.last()?);
    let size = median(&reps.iter().map(|r| r.peak_deg).collect::<Vec<_>>());
    if size >= sure_min_peak_deg {
        return None;
    }
    Some((
        FAINT_CAP,
        Doubt {
            kind: DoubtKind::FaintReps,
            from_s: first.start_s,
            to_s: last.end_s,
            reps: 0,
            message: format!(
                "the reps moved the sensor only {size:.1}° (a sure count needs \
                 {sure_min_peak_deg:.1}°): a breath or a shift moves it as much, so a rep may \
                 be missed or one counted that was none (an ankle sensor counts every rep)"
            ),
        },
    ))
}

/// Ankle: reps shorter than this (s, their median) ...
pub const STRIDE_LIKE_LENGTH_S: f64 = 1.0;
/// ... coming this often or more (s from one start to the next, median) ...
pub const STRIDE_LIKE_INTERVAL_S: f64 = 1.4;
/// ... leave a set likely at best: a walk is the same rhythm.
const STRIDE_LIKE_CAP: f64 = 0.7;

/// The doubt for an ankle set of `reps` that came at a walk's pace, and the
/// confidence it leaves. A walk counted as a set, or a set done fast; the
/// step detector throws out runs of quicker movements only (a fast
/// side-lying lifter's reps take 0.8 s too).
pub fn stride_like(reps: &[Rep]) -> Option<(f64, Doubt)> {
    let (first, last) = (reps.first()?, reps.last()?);
    if reps.len() < 3 {
        return None;
    }
    let length = median(&reps.iter().map(|r| r.end_s - r.start_s).collect::<Vec<_>>());
    let interval = median_interval(reps);
    if length >= STRIDE_LIKE_LENGTH_S || interval >= STRIDE_LIKE_INTERVAL_S {
        return None;
    }
    Some((
        STRIDE_LIKE_CAP,
        Doubt {
            kind: DoubtKind::StrideLike,
            from_s: first.start_s,
            to_s: last.end_s,
            reps: 0,
            message: format!(
                "the reps took {length:.1} s every {interval:.1} s, as strides do: \
                 a walk counted as a set? (check this set)"
            ),
        },
    ))
}

/// A movement dropped after the set at least this share of the reps'
/// median size …
pub const PARTIAL_LIKE_SIZE: f64 = 0.4;
/// … and at least this share of their median length is perhaps a partial
/// last rep: doubted like a dropped movement as large as the reps.
pub const PARTIAL_LIKE_LENGTH: f64 = 0.6;
/// A smaller one, down to this share of the reps' median size, is doubted
/// too when it comes on the set's beat: it began [`ON_BEAT`] of the set's
/// intervals after the last rep began, when the next rep was due (studio
/// and class, session 33: a tired last rep of 6° after reps of 20°,
/// dropped as settling, the set marked sure).
pub const PARTIAL_ON_BEAT_SIZE: f64 = 0.2;
/// The window, in the set's intervals after its last rep began, where the
/// next rep was due.
pub const ON_BEAT: (f64, f64) = (0.5, 1.5);
/// A movement taken off a set's edge by the rules that know a shuffle, a
/// swing or a rep given up (quicker than the reps, or after a pause, or
/// let go) is still doubted when its size is within this factor of the
/// reps' median either way: a fast rep after a pause looks just like it.
pub const DROPPED_LIKE: f64 = 0.75;
/// Confidence left then: likely, not sure (the count may be one off).
const DROPPED_CAP: f64 = 0.85;

/// The movements `dropped` from the edges of the set of `reps` that are as
/// large as its reps ([`DROPPED_LIKE`]): a doubt for each, and the
/// confidence they leave. The rules that dropped them are right far more
/// often than not, so the set stays "likely".
pub fn dropped_like_reps(reps: &[Rep], dropped: &[Rep]) -> Option<(f64, Vec<Doubt>)> {
    let first = reps.first()?;
    let size = median(&reps.iter().map(|r| r.peak_deg).collect::<Vec<_>>());
    let length = median(&reps.iter().map(|r| r.end_s - r.start_s).collect::<Vec<_>>());
    // After the set, a slow movement of a rep's length but smaller: the
    // tired last rep that stopped short.
    let last_start = reps.last().map_or(first.start_s, |r| r.start_s);
    let pace = median_interval(reps);
    let on_beat = |d: &Rep| {
        reps.len() >= 2 && {
            let due = (d.start_s - last_start) / pace;
            (ON_BEAT.0..=ON_BEAT.1).contains(&due)
        }
    };
    let partial = |d: &Rep| {
        d.start_s > first.start_s
            && (d.peak_deg >= PARTIAL_LIKE_SIZE * size
                || (d.peak_deg >= PARTIAL_ON_BEAT_SIZE * size && on_beat(d)))
            && d.end_s - d.start_s >= PARTIAL_LIKE_LENGTH * length
    };
    let doubts: Vec<Doubt> = dropped
        .iter()
        .filter(|d| {
            let like = d.peak_deg >= DROPPED_LIKE * size && d.peak_deg * DROPPED_LIKE <= size;
            like || partial(d)
        })
        .map(|d| {
            let before = d.end_s <= first.start_s;
            if partial(d) && d.peak_deg < DROPPED_LIKE * size {
                return Doubt {
                    kind: DoubtKind::UncountedNearby,
                    from_s: d.start_s,
                    to_s: d.end_s,
                    reps: 1,
                    message: format!(
                        "a {:.1}° movement just after the set ({:.1}-{:.1} s into the \
                         recording), as slow as its reps but {:.0} % of their size, was not \
                         counted: if it was a partial rep, the count is one short",
                        d.peak_deg,
                        d.start_s,
                        d.end_s,
                        100.0 * d.peak_deg / size,
                    ),
                };
            }
            let why = if d.end_s - d.start_s < DROPPED_LIKE * length {
                "quicker than them"
            } else if before {
                "apart from them"
            } else {
                "after a pause"
            };
            Doubt {
                kind: DoubtKind::UncountedNearby,
                from_s: d.start_s,
                to_s: d.end_s,
                reps: 1,
                message: format!(
                    "a {:.1}° movement just {} the set ({:.1}-{:.1} s into the recording), as \
                     large as its reps but {why}, was not counted: if it was a rep, the count \
                     is one short",
                    d.peak_deg,
                    if before { "before" } else { "after" },
                    d.start_s,
                    d.end_s,
                ),
            }
        })
        .collect();
    (!doubts.is_empty()).then_some((DROPPED_CAP, doubts))
}

/// Confidence left when the data broke off in or next to the set.
const GAP_CAP: f64 = 0.5;

/// A gap in the data (`gaps`: from–to, s, each long enough to break the
/// track and begun in the middle of a movement) inside the set or within
/// one of its intervals of its first or last rep: the rep it cut short
/// went unseen, whatever the reps around it look like.
pub fn data_gaps(reps: &[Rep], gaps: &[(f64, f64)]) -> Option<(f64, Vec<Doubt>)> {
    let (first, last) = (reps.first()?, reps.last()?);
    let pace = if reps.len() >= 2 {
        median_interval(reps)
    } else {
        last.end_s - first.start_s
    };
    let doubts: Vec<Doubt> = gaps
        .iter()
        .filter(|&&(from, to)| to > first.start_s - pace && from < last.end_s + pace)
        .map(|&(from, to)| {
            let place = if to <= first.start_s {
                "just before"
            } else if from >= last.end_s {
                "just after"
            } else {
                "inside"
            };
            Doubt {
                kind: DoubtKind::DataGap,
                from_s: from,
                to_s: to,
                reps: 0,
                message: format!(
                    "the data broke off for {:.1} s ({from:.1}-{to:.1} s into the recording) \
                     in the middle of a movement {place} the set: if it was a rep, it went \
                     unseen",
                    to - from
                ),
            }
        })
        .collect();
    (!doubts.is_empty()).then_some((GAP_CAP, doubts))
}

/// Confidence left when the set began from a posture the leg had just moved
/// into ([`DoubtKind::NoRestBefore`]).
const NO_REST_CAP: f64 = 0.7;
/// A set whose first rep starts within this long (s) after its neutral was
/// taken on the way into a new posture began with no rest.
pub const NO_REST_WITHIN_S: f64 = 3.0;

/// The set's first rep started within [`NO_REST_WITHIN_S`] after
/// `moving_neutral_s`, when its neutral was taken from a posture the leg had
/// just moved into: the lifter lay down or sat into the machine and began
/// at once, or the movement into the posture went on long enough to hide a
/// rep (the pipeline notes only those). Where the reps are measured from is
/// right, but that movement may have hidden the first rep.
pub fn no_rest_before(reps: &[Rep], moving_neutral_s: Option<f64>) -> Option<(f64, Doubt)> {
    let (first, last, t) = (reps.first()?, reps.last()?, moving_neutral_s?);
    // A rep's start is dated back to where it left the neutral: a little
    // before the neutral was taken, at most.
    let since = first.start_s - t;
    (-0.5..=NO_REST_WITHIN_S).contains(&since).then(|| {
        (
            NO_REST_CAP,
            Doubt {
                kind: DoubtKind::NoRestBefore,
                from_s: first.start_s,
                to_s: last.end_s,
                reps: 0,
                message: "the set began from a position the leg had just moved into: a first rep \
                          may have gone unseen in that movement; check the count"
                    .to_string(),
            },
        )
    })
}

/// Confidence left when reps were counted again from a level found after
/// them ([`DoubtKind::Relevelled`]): likely, not sure.
const RELEVEL_CAP: f64 = 0.85;

/// Reps of the set counted again from the level a movement came back
/// to (`relevels`: its start, end, s, and how far that level lay from the
/// resting one, °; see `Pipeline::relevel`).
pub fn relevelled(reps: &[Rep], relevels: &[(f64, f64, f64)]) -> Option<(f64, Doubt)> {
    let (first, last) = (reps.first()?, reps.last()?);
    let &(from_s, to_s, shift) = relevels
        .iter()
        .find(|(from, to, _)| *from < last.end_s && *to > first.start_s)?;
    Some((
        RELEVEL_CAP,
        Doubt {
            kind: DoubtKind::Relevelled,
            from_s,
            to_s,
            reps: 0,
            message: format!(
                "from {from_s:.1} to {to_s:.1} s the pelvis never came back to where it had \
                 rested but came back to a level {shift:.1}° from it: the reps there were \
                 counted from that level; check the count"
            ),
        },
    ))
}

/// Confidence left when reps were measured from a shaky rest.
const SHAKY_CAP: f64 = 0.5;

/// Reps of the set (their starts among `shaky`, s) measured from a neutral
/// taken at a shaky rest ([`super::attitude::Stillness::shaky`]): until a
/// sensor that never rests has rested, reps before that went unseen, and
/// the neutral itself may sit partway up a rep.
pub fn shaky_rests(reps: &[Rep], shaky: &[f64]) -> Option<(f64, Doubt)> {
    let (first, last) = (reps.first()?, reps.last()?);
    let n = shaky
        .iter()
        .filter(|&&t| (first.start_s..=last.end_s).contains(&t))
        .count();
    (n > 0).then(|| {
        (
            SHAKY_CAP,
            Doubt {
                kind: DoubtKind::ShakyRest,
                from_s: first.start_s,
                to_s: last.end_s,
                reps: 0,
                message: format!(
                    "the sensor never came fully to rest before {n} of these reps (a tremor \
                     or a loose strap kept it moving), so where they were measured from is \
                     uncertain: reps may have gone unseen; check the count"
                ),
            },
        )
    })
}

/// Confidence left when the leg came back only part way between two reps.
const SHALLOW_CAP: f64 = 0.7;
/// Ankle: a rep begun from at least this share of the set's median rep
/// above the resting level, the leg having come back only part way after
/// the rep before, was split from it near the detector's own line (a rep
/// ends once the signal is back under `reps.return_fraction`, 0.3, of its
/// peak): one rep lowered part way and raised again may have been counted
/// as two. In every read corpus the ankle's sure sets that were counted
/// wrong all began their reps from under 0.1 of the reps or from 0.2 and
/// more; the standard model's reps always come back.
pub const SHALLOW_RETURN_FRACTION: f64 = 0.2;

/// " (3 reps began so: 2, 5, 9)" when more than one of `reps` (by index,
/// with a level) is named; nothing for one.
fn began_so(reps: &[Rep], which: &[(usize, f64)]) -> String {
    if which.len() < 2 {
        return String::new();
    }
    let numbers: Vec<String> = which
        .iter()
        .map(|&(j, _)| reps[j].number.to_string())
        .collect();
    format!(" ({} reps began so: {})", which.len(), numbers.join(", "))
}

/// The level `rep` began from, found by its start.
fn level_of<'a>(levels: &'a [RepLevel], rep: &Rep) -> Option<&'a RepLevel> {
    levels.iter().find(|l| l.start_s == rep.start_s)
}

/// Reps begun before the leg had come back near rest from the rep before
/// ([`SHALLOW_RETURN_FRACTION`]): where one ended and the next began is a
/// near call. `levels` holds where each rep began.
pub fn shallow_returns(reps: &[Rep], levels: &[RepLevel]) -> Option<(f64, Doubt)> {
    let peaks: Vec<f64> = reps.iter().map(|r| r.peak_deg).collect();
    let m = median(&peaks);
    let line = SHALLOW_RETURN_FRACTION * m;
    let shallow: Vec<(usize, f64)> = (1..reps.len())
        .filter_map(|i| {
            let base = level_of(levels, &reps[i])?.base;
            (base >= line).then_some((i, base))
        })
        .collect();
    let (i, base) = *shallow.iter().max_by(|a, b| a.1.total_cmp(&b.1))?;
    let (before, rep) = (&reps[i - 1], &reps[i]);
    let n = shallow.len();
    let more = began_so(reps, &shallow);
    Some((
        SHALLOW_CAP,
        Doubt {
            kind: DoubtKind::ShallowReturn,
            from_s: before.start_s,
            to_s: rep.end_s,
            reps: -(n as i32),
            message: format!(
                "rep {} began with the leg still {base:.0}° up ({:.0} % of the reps' {m:.0}°){more}: \
                 the leg came back only part way, so this may be one rep lowered part way and \
                 raised again, counted as two; check the count",
                rep.number,
                100.0 * base / m.max(1e-9)
            ),
        },
    ))
}

/// Ankle: a rep begun within this long (s) after the rep before ended…
pub const TURN_GAP_S: f64 = 0.5;
/// … from at least this share of that rep above where it began (or after
/// it came to rest part way down) turned back up without a pause at the
/// bottom: one rep lowered part way and raised again, or two reps? The
/// detector splits where the signal falls under `reps.return_fraction` of
/// the rise (or rests under `reps.rest_fraction`); a lifter lowering 70 or
/// 95 % of the way and pushing again falls on either side of it. Planner
/// (read from session 30) had seven sets counted one or two over, sure, all
/// so: its lifters sink part way and push again within 0.2–0.45 s, from
/// 0.06–0.21 of the rep up or after a stop half-way; in the read corpora
/// the reps that began so 0.5 s or less after one another were all
/// counted right only 17 times in sure sets.
pub const TURN_VALLEY_FRACTION: f64 = 0.05;

/// Reps that turned back up part way down with no pause between
/// ([`TURN_GAP_S`], [`TURN_VALLEY_FRACTION`]): whether they were one rep
/// or two is a near call. `levels` holds where each rep began and how it
/// ended.
pub fn turned_part_way(reps: &[Rep], levels: &[RepLevel]) -> Option<(f64, Doubt)> {
    let turned: Vec<(usize, f64)> = reps
        .windows(2)
        .enumerate()
        .filter_map(|(i, w)| {
            let (before, rep) = (level_of(levels, &w[0])?, level_of(levels, &w[1])?);
            let gap = w[1].start_s - w[0].end_s;
            let up = rep.base - before.base;
            let part_way = before.rested_high || up >= TURN_VALLEY_FRACTION * before.size.max(1e-9);
            (gap <= TURN_GAP_S && part_way).then_some((i + 1, up.max(0.0)))
        })
        .collect();
    let &(i, up) = turned.first()?;
    let (before, rep) = (&reps[i - 1], &reps[i]);
    let n = turned.len();
    let more = began_so(reps, &turned);
    let how = if up >= 0.5 {
        format!(
            "with the leg still {up:.0}° above where rep {} began",
            before.number
        )
    } else {
        format!("after rep {} came to rest part way down", before.number)
    };
    Some((
        SHALLOW_CAP,
        Doubt {
            kind: DoubtKind::TurnedPartWay,
            from_s: before.start_s,
            to_s: rep.end_s,
            reps: -(n as i32),
            message: format!(
                "rep {} began {:.1} s after rep {} came down, {how}{more}: the leg turned \
                 back up without a pause, so this may be one rep lowered part way and raised \
                 again, counted as two; check the count",
                rep.number,
                (rep.start_s - before.end_s).max(0.0),
                before.number,
            ),
        },
    ))
}

/// Confidence left when every rep went farther than the one before.
const GROWING_CAP: f64 = 0.5;
/// A set of at least this many reps, each larger than the one before …
pub const GROWING_MIN_REPS: usize = 4;
/// … and the last at least this share larger than the first, grew too
/// steadily to be reps of one range: in every corpus (each body model and
/// the real files) no set counted right grows so, and the false sets that
/// did were marked sure.
pub const GROWING_RATIO: f64 = 1.3;

/// Reps that grow one after another from the first to the last by
/// [`GROWING_RATIO`] or more: the neutral they were measured from was
/// drifting (a leg swung while the lifter turned or walked, a neutral
/// slipping about the vertical), not a lifter finding their range.
pub fn growing_reps(reps: &[Rep]) -> Option<(f64, Doubt)> {
    let (first, last) = (reps.first()?, reps.last()?);
    let grows = reps.len() >= GROWING_MIN_REPS
        && reps.windows(2).all(|w| w[1].peak_deg > w[0].peak_deg)
        && last.peak_deg >= GROWING_RATIO * first.peak_deg;
    grows.then(|| {
        (
            GROWING_CAP,
            Doubt {
                kind: DoubtKind::GrowingReps,
                from_s: first.start_s,
                to_s: last.end_s,
                reps: 0,
                message: format!(
                    "each of these {} reps went farther than the one before (from {:.0}° to \
                     {:.0}°): where they were measured from was probably drifting, so they \
                     may not be reps at all; check the count",
                    reps.len(),
                    first.peak_deg,
                    last.peak_deg
                ),
            },
        )
    })
}

/// Judges a finished set: its confidence (0..1) and the doubts behind it.
///
/// `set_aside` are the movements lately not counted, `noise_rms` is the
/// resting noise on the counted signal (°) and `min_peak_deg` the smallest
/// rep the profile accepts, `max_peak_deg` the largest.
pub fn judge(
    reps: &[Rep],
    set_aside: &[SetAside],
    noise_rms: f64,
    min_peak_deg: f64,
    max_peak_deg: f64,
    signal: RepSignal,
) -> (f64, Vec<Doubt>) {
    let mut doubts = Vec::new();
    let mut confidence: f64 = 1.0;
    if reps.is_empty() {
        return (0.0, doubts);
    }
    let (first, last) = (reps[0].start_s, reps[reps.len() - 1].end_s);

    // Signal to noise and margin over the smallest counted movement.
    let peaks: Vec<f64> = reps.iter().map(|r| r.peak_deg).collect();
    let median_peak = median(&peaks);
    let smallest = peaks.iter().copied().fold(f64::INFINITY, f64::min);
    let snr = median_peak / noise_rms.max(0.05);
    let snr_term = 1.0 - (-(snr / 3.0).powi(2)).exp();
    if snr_term < 0.9 {
        doubts.push(Doubt {
            kind: DoubtKind::LowSignal,
            from_s: first,
            to_s: last,
            reps: 0,
            message: format!(
                "the reps ({median_peak:.1}°) stand only {snr:.1}× above the resting noise: \
                 reps may be missed or invented"
            ),
        });
    }
    confidence = confidence.min(snr_term);
    let margin = smallest / min_peak_deg;
    let margin_term = 1.0 - (-2.0 * (margin - 1.0).max(0.0)).exp();
    if margin_term < 0.9 {
        doubts.push(Doubt {
            kind: DoubtKind::NearThreshold,
            from_s: first,
            to_s: last,
            reps: 0,
            message: format!(
                "the smallest rep ({smallest:.1}°) is hardly bigger than the smallest movement \
                 counted at all ({min_peak_deg:.1}°): reps like it may have been missed"
            ),
        });
    }
    confidence = confidence.min(margin_term);

    // Edges: an uncounted rep-sized movement right before or after the set.
    let pace = median_interval(reps);
    let rep_sized = |size: f64| match signal {
        RepSignal::Rotation => {
            size >= EDGE_SIZE_FRACTION * median_peak && size <= 2.0 * median_peak
        }
        RepSignal::Obliquity => size >= min_peak_deg && size <= max_peak_deg,
    };
    let reach = EDGE_INTERVALS * pace;
    let last_start = reps.last().map_or(last, |r| r.start_s);
    let median_length = median_length(reps);
    for m in set_aside {
        if signal == RepSignal::Obliquity
            && !m.jolted
            && m.start_s >= last + reach
            && m.start_s < last + HELD_AFTER_INTERVALS * pace
            && m.end_s - m.start_s >= HELD_AFTER_LENGTH * median_length
            && rep_sized(m.size_deg)
        {
            doubts.push(Doubt {
                kind: DoubtKind::UncountedNearby,
                from_s: m.start_s,
                to_s: m.end_s,
                reps: 0,
                message: format!(
                    "a {:.1}° movement soon after the set ({:.1}-{:.1} s into the recording) \
                     never came back to where the pelvis had rested and was not counted: the \
                     set may have gone on from another level; check the count",
                    m.size_deg, m.start_s, m.end_s,
                ),
            });
            confidence = confidence.min(EDGE_CAP);
            continue;
        }
        let before = !m.jolted && m.end_s <= first && m.end_s > first - reach;
        // After the set, a jolt counts only as large as a rep: perhaps its
        // last rep (a tired leg let down hard), thrown out for the landing.
        let after = m.start_s >= last
            && m.start_s < last + reach
            && (!m.jolted
                || (signal == RepSignal::Rotation
                    && m.size_deg >= JOLTED_EDGE_SIZE.0 * median_peak
                    && m.size_deg <= JOLTED_EDGE_SIZE.1 * median_peak));
        // Between two counted reps (a rep lost to a rule inside the set).
        let inside = m.start_s > first && m.start_s < last_start;
        // Inside the set, a movement up to INSIDE_SIZE_MAX times the reps
        // (not just 2×) doubts the count: a lifter seldom changes posture
        // between two reps of a set, so a movement that large there is more
        // likely a rep done another way (effort, session 31: a 57° swing
        // forward, the hip flexing instead of abducting, between 27° reps).
        // A jolted one (a rep thrown out for its landing) counts too, up to
        // the same size: inside a set it was most likely a rep let down
        // hard. Where a posture was re-taken there (the no-return timeout
        // takes a new neutral without closing the set), the doubt is what
        // the lifter should get: a count to check, not a wrong one marked
        // sure.
        let big_inside = inside
            && signal == RepSignal::Rotation
            && m.size_deg >= EDGE_SIZE_FRACTION * median_peak
            && m.size_deg <= INSIDE_SIZE_MAX * median_peak;
        if (before || after || inside) && (rep_sized(m.size_deg) || big_inside) {
            doubts.push(Doubt {
                kind: DoubtKind::UncountedNearby,
                from_s: m.start_s,
                to_s: m.end_s,
                reps: 1,
                message: format!(
                    "a {:.1}° movement {} the set ({:.1}-{:.1} s into the recording) was not \
                     counted: the count may be one short",
                    m.size_deg,
                    if before {
                        "just before"
                    } else if after {
                        "just after"
                    } else {
                        "inside"
                    },
                    m.start_s,
                    m.end_s,
                ),
            });
            confidence = confidence.min(EDGE_CAP);
        }
    }

    if reps.len() < MIN_REPS_FOR_NORM {
        doubts.push(Doubt {
            kind: DoubtKind::ShortSet,
            from_s: first,
            to_s: last,
            reps: 0,
            message: format!(
                "only {} rep{}: too few to check the count against the set's rhythm",
                reps.len(),
                if reps.len() == 1 { "" } else { "s" }
            ),
        });
        confidence = confidence.min(SHORT_SET_CAP);
        return settle(confidence, doubts);
    }

    // Rhythm: start-to-start intervals against their median.
    let intervals: Vec<f64> = reps
        .windows(2)
        .map(|w| w[1].start_s - w[0].start_s)
        .collect();
    let median_interval = median(&intervals);
    for (i, (w, d)) in reps.windows(2).zip(&intervals).enumerate() {
        if *d > RHYTHM_GAP_FACTOR * median_interval {
            let missed = ((d / median_interval).round() as i32 - 1).max(1);
            doubts.push(Doubt {
                kind: DoubtKind::RhythmGap,
                from_s: w[0].end_s,
                to_s: w[1].start_s,
                reps: missed,
                message: format!(
                    "the rhythm suggests {missed} rep{} missed between {:.1} s and {:.1} s \
                     (reps {} and {} are {:.1} s apart; the set's pace is {:.1} s)",
                    if missed == 1 { " was" } else { "s were" },
                    w[0].end_s,
                    w[1].start_s,
                    i + 1,
                    i + 2,
                    d,
                    median_interval
                ),
            });
            confidence = confidence.min(MISSED_CAP);
        } else if signal == RepSignal::Obliquity
            && (*d < RHYTHM_RUSH_FRACTION * median_interval
                || (*d < RUSH_TOUCHING_FRACTION * median_interval
                    && w[1].start_s - w[0].end_s < RUSH_TOUCHING_GAP_S))
        {
            doubts.push(Doubt {
                kind: DoubtKind::RhythmRush,
                from_s: w[0].start_s,
                to_s: w[1].end_s,
                reps: -1,
                message: format!(
                    "reps {} and {} started only {:.1} s apart against the set's pace of {:.1} s: \
                     they may be one rep counted twice",
                    i + 1,
                    i + 2,
                    d,
                    median_interval
                ),
            });
            confidence = confidence.min(SMALL_CAP);
        }
    }

    if signal == RepSignal::Rotation {
        let short = |d: &f64| *d < SPLIT_BEAT_FRACTION * median_interval;
        for (i, pair) in intervals.windows(2).enumerate() {
            let (a, b, c) = (&reps[i], &reps[i + 1], &reps[i + 2]);
            let sum = pair[0] + pair[1];
            let touching = b.start_s - a.end_s < RUSH_TOUCHING_GAP_S
                || c.start_s - b.end_s < RUSH_TOUCHING_GAP_S;
            // The beat goes on around them: not a run of quicker reps.
            let quick_around = [i.checked_sub(1), Some(i + 2)]
                .into_iter()
                .flatten()
                .filter_map(|j| intervals.get(j))
                .any(short);
            if pair.iter().all(short)
                && !quick_around
                && sum > SPLIT_BEAT_MIN_SUM * median_interval
                && touching
            {
                doubts.push(Doubt {
                    kind: DoubtKind::RhythmRush,
                    from_s: a.start_s,
                    to_s: c.end_s,
                    reps: -1,
                    message: format!(
                        "reps {}, {} and {} began within {:.1} s ({:.1} s and {:.1} s apart), \
                         about one beat of the set's {:.1} s pace, which fits two reps, not \
                         three: one rep may have been counted twice",
                        a.number, b.number, c.number, sum, pair[0], pair[1], median_interval
                    ),
                });
                confidence = confidence.min(SMALL_CAP);
            }
        }
    }

    // Agreement: durations (both placements) and sizes (ankle: pelvis reps
    // differ by design, a hike is ten times a clean rep).
    let durations: Vec<f64> = reps.iter().map(|r| r.end_s - r.start_s).collect();
    let median_duration = median(&durations);
    for (r, d) in reps.iter().zip(&durations) {
        if *d > LONG_REP_FACTOR * median_duration && *d > median_interval {
            doubts.push(Doubt {
                kind: DoubtKind::LongRep,
                from_s: r.start_s,
                to_s: r.end_s,
                reps: 1,
                message: format!(
                    "rep {} lasted {:.1} s against the set's usual {:.1} s: it may be two reps \
                     counted as one",
                    r.number, d, median_duration
                ),
            });
            confidence = confidence.min(MERGED_CAP);
        }
    }
    // At either placement (a shuffle before a side-lying set rolls the
    // pelvis in a second where its reps take four).
    if let Some(r) = reps.first() {
        let d = r.end_s - r.start_s;
        if d < QUICK_START_FRACTION * median_duration {
            doubts.push(Doubt {
                kind: DoubtKind::QuickStart,
                from_s: r.start_s,
                to_s: r.end_s,
                reps: -1,
                message: format!(
                    "rep 1 took {d:.1} s against the set's usual {median_duration:.1} s: \
                     if it was settling into position, the count is one over"
                ),
            });
            confidence = confidence.min(SMALL_CAP);
        }
    }
    if let Some(r) = reps.last().filter(|_| reps.len() > 1) {
        let d = r.end_s - r.start_s;
        if d < QUICK_START_FRACTION * median_duration && r.peak_deg < QUICK_END_SIZE * median_peak
            || d < QUICK_END_SWING_LENGTH * median_duration
                && r.peak_deg < QUICK_END_SWING_SIZE * median_peak
        {
            doubts.push(Doubt {
                kind: DoubtKind::QuickEnd,
                from_s: r.start_s,
                to_s: r.end_s,
                reps: -1,
                message: format!(
                    "the last rep took {d:.1} s against the set's usual {median_duration:.1} s: \
                     if it was a swing or settling the leg after the set, the count is one over"
                ),
            });
            confidence = confidence.min(SMALL_CAP);
        }
    }
    if signal == RepSignal::Rotation {
        for w in reps.windows(2) {
            let (before, r) = (&w[0], &w[1]);
            if r.end_s - r.start_s < SPLIT_LENGTH * median_duration
                && r.peak_deg < SPLIT_SIZE * median_peak
                && r.peak_deg >= SMALL_REP_FRACTION * median_peak
                && r.start_s - before.end_s < SPLIT_GAP_S
            {
                doubts.push(Doubt {
                    kind: DoubtKind::SplitRep,
                    from_s: before.start_s,
                    to_s: r.end_s,
                    reps: -1,
                    message: format!(
                        "rep {} ({:.1}°, {:.1} s) began as rep {} ended: it may be the lowering of \
                         rep {} counted again, and the count one over",
                        r.number,
                        r.peak_deg,
                        r.end_s - r.start_s,
                        before.number,
                        before.number
                    ),
                });
                confidence = confidence.min(SMALL_CAP);
            }
        }
        // The last rep well short of the others, after a longer pause or
        // held longer: perhaps an attempt given up on the way up (a lifter
        // at failure), which is not a rep. A tired partial rep looks alike
        // and is one: either way the count is not sure.
        if let [.., before, r] = reps {
            let pause = r.start_s - before.end_s;
            let length = r.end_s - r.start_s;
            if r.peak_deg >= SMALL_REP_FRACTION * median_peak
                && r.peak_deg < ABANDONED_SIZE * median_peak
                && (pause >= ABANDONED_PAUSE * median_pause(reps)
                    || length >= ABANDONED_LENGTH * median_duration)
            {
                doubts.push(Doubt {
                    kind: DoubtKind::SmallLastRep,
                    from_s: r.start_s,
                    to_s: r.end_s,
                    reps: -1,
                    message: format!(
                        "the last rep reached {:.1}° against the set's usual {:.1}°, after a \
                         {pause:.1} s pause and in {length:.1} s: if it was an attempt given up \
                         on the way up, the count is one over",
                        r.peak_deg, median_peak
                    ),
                });
                confidence = confidence.min(SMALL_CAP);
            }
        }
        for r in reps {
            if r.peak_deg < SMALL_REP_FRACTION * median_peak {
                doubts.push(Doubt {
                    kind: DoubtKind::SmallRep,
                    from_s: r.start_s,
                    to_s: r.end_s,
                    reps: -1,
                    message: format!(
                        "rep {} reached {:.1}° against the set's usual {:.1}°: it may not be a rep",
                        r.number, r.peak_deg, median_peak
                    ),
                });
                confidence = confidence.min(SMALL_CAP);
            } else if r.peak_deg > LARGE_REP_FACTOR * median_peak {
                doubts.push(Doubt {
                    kind: DoubtKind::LargeRep,
                    from_s: r.start_s,
                    to_s: r.end_s,
                    reps: 1,
                    message: format!(
                        "rep {} reached {:.1}° against the set's usual {:.1}°: it may be two reps \
                         run together",
                        r.number, r.peak_deg, median_peak
                    ),
                });
                confidence = confidence.min(SMALL_CAP);
            }
        }
    }
    settle(confidence, doubts)
}

/// The confidence to two decimals, and the doubts only if it is not sure:
/// a cue that barely fired on a set still called sure is not a reason to
/// check it.
fn settle(confidence: f64, mut doubts: Vec<Doubt>) -> (f64, Vec<Doubt>) {
    let c = (confidence * 100.0).round() / 100.0;
    if c >= SURE {
        doubts.clear();
    }
    (c, doubts)
}

/// The median (the upper one of an even count); 0 for none.
fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reps(starts: &[f64], duration: f64, peak: f64) -> Vec<Rep> {
        starts
            .iter()
            .enumerate()
            .map(|(i, &s)| Rep {
                number: i + 1,
                start_s: s,
                end_s: s + duration,
                peak_deg: peak,
                concentric_s: 0.0,
                pause_s: 0.0,
                eccentric_s: 0.0,
                flags: Vec::new(),
            })
            .collect()
    }

    /// Every rep begun from `base`, its size its peak, ended by coming back.
    fn levels(reps: &[Rep], base: f64) -> Vec<RepLevel> {
        reps.iter()
            .map(|r| RepLevel {
                start_s: r.start_s,
                base,
                size: r.peak_deg,
                rested_high: false,
            })
            .collect()
    }

    #[test]
    fn a_rep_begun_with_the_leg_still_up_is_a_near_call() {
        // Eight 36° reps; the sixth began with the leg still 11° up (the
        // fifth came back only part way): mocap's side-lying lifter lowered
        // a rep to a third and raised it again, counted as two, sure.
        let r = reps(&[0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0], 1.8, 36.0);
        let mut bases = levels(&r, 1.0);
        bases[5].base = 11.0;
        let (cap, d) = shallow_returns(&r, &bases).expect("a near call");
        assert!(cap < SURE);
        assert_eq!(d.kind, DoubtKind::ShallowReturn);
        assert_eq!((d.from_s, d.to_s, d.reps), (8.0, 11.8, -1));
        assert!(
            d.message
                .contains("rep 6 began with the leg still 11° up (31 %"),
            "{}",
            d.message
        );
        // Back to within a fifth of the reps' size: a clear end.
        bases[5].base = 7.0;
        assert!(shallow_returns(&r, &bases).is_none());
        // The first rep's level is the set's start, not a return.
        bases[5].base = 1.0;
        bases[0].base = 15.0;
        assert!(shallow_returns(&r, &bases).is_none());
        // Two near calls are both told.
        bases[2].base = 9.0;
        bases[6].base = 10.0;
        let (_, d) = shallow_returns(&r, &bases).expect("two near calls");
        assert_eq!(d.reps, -2);
        assert!(
            d.message.contains("rep 7") && d.message.contains("(2 reps began so: 3, 7)"),
            "{}",
            d.message
        );
    }

    #[test]
    fn a_rep_turned_back_up_part_way_down_is_a_near_call() {
        // Eight 36° reps, 1.8 s long, 2.5 s apart (0.7 s at the bottom).
        // Planner's lifter sank the fourth rep to 3° above where it began
        // and pushed again 0.3 s later: counted as two, sure.
        let starts = [0.0, 2.5, 5.0, 7.5, 9.6, 12.5, 15.0, 17.5];
        let r = reps(&starts, 1.8, 36.0);
        let mut l = levels(&r, 1.0);
        l[4].base = 4.0;
        let (cap, d) = turned_part_way(&r, &l).expect("a near call");
        assert!(cap < SURE);
        assert_eq!(d.kind, DoubtKind::TurnedPartWay);
        assert_eq!((d.from_s, d.to_s, d.reps), (7.5, 11.4, -1));
        assert!(
            d.message.contains("rep 5 began 0.3 s after rep 4 came down, with the leg still 3° above where rep 4 began"),
            "{}",
            d.message
        );
        // Back where it began: a rep done straight after another.
        l[4].base = 1.0;
        assert!(turned_part_way(&r, &l).is_none());
        // Part way down, but a pause at the bottom: two reps.
        l[4].base = 4.0;
        let later = [0.0, 2.5, 5.0, 7.5, 10.0, 12.5, 15.0, 17.5];
        let r2 = reps(&later, 1.8, 36.0);
        let mut l2 = levels(&r2, 1.0);
        l2[4].base = 4.0;
        assert!(turned_part_way(&r2, &l2).is_none());
        // Came to rest half-way down and went on at once.
        l[4].base = 1.0;
        l[3].rested_high = true;
        let (_, d) = turned_part_way(&r, &l).expect("a rest half-way");
        assert!(
            d.message.contains("after rep 4 came to rest part way down"),
            "{}",
            d.message
        );
    }

    #[test]
    fn reps_at_a_walks_pace_keep_the_set_from_sure() {
        // A walk counted as a set: 0.75 s "reps" every 1.1 s.
        let starts: Vec<f64> = (0..6).map(|i| 180.0 + 1.1 * i as f64).collect();
        let (cap, doubt) = stride_like(&reps(&starts, 0.75, 53.0)).expect("a walk's pace");
        assert!(cap < SURE);
        assert_eq!(doubt.kind, DoubtKind::StrideLike);
        assert!(
            doubt.message.contains("0.8 s every 1.1 s"),
            "{}",
            doubt.message
        );
        // Quick reps with rests between them, or slow reps back to back,
        // are not a walk's pace; nor are two movements.
        let starts: Vec<f64> = (0..6).map(|i| 3.0 * i as f64).collect();
        assert!(stride_like(&reps(&starts, 0.75, 40.0)).is_none());
        let starts: Vec<f64> = (0..6).map(|i| 1.3 * i as f64).collect();
        assert!(stride_like(&reps(&starts, 1.2, 40.0)).is_none());
        assert!(stride_like(&reps(&[0.0, 1.1], 0.75, 40.0)).is_none());
        // Syllable model: a walk right after a swing, strides of 0.9-0.95 s
        // every 1.05 s, counted as a set of four.
        let starts: Vec<f64> = (0..4).map(|i| 74.5 + 1.05 * i as f64).collect();
        assert!(stride_like(&reps(&starts, 0.95, 44.0)).is_some());
    }

    #[test]
    fn a_dropped_edge_movement_as_large_as_the_reps_keeps_the_set_from_sure() {
        let set = reps(&[0.0, 3.0, 6.0, 9.0, 12.0], 2.2, 30.0);
        // A quick 28° movement after a pause: a swing, or a fast last rep.
        let quick = reps(&[19.0], 0.6, 28.0);
        let (cap, d) = dropped_like_reps(&set, &quick).expect("doubted");
        assert!((0.6..SURE).contains(&cap), "likely, not sure: {cap}");
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].kind, DoubtKind::UncountedNearby);
        assert!(d[0].message.contains("just after") && d[0].message.contains("quicker"));
        // A shuffle a third the reps' size before the set: the rule that
        // dropped it is trusted.
        assert!(dropped_like_reps(&set, &reps(&[-3.0], 1.0, 10.0)).is_none());
        // Nor one much larger (a re-strap), nor when nothing was dropped.
        assert!(dropped_like_reps(&set, &reps(&[16.0], 1.0, 60.0)).is_none());
        assert!(dropped_like_reps(&set, &[]).is_none());
        // A 14° movement after the set, as slow as the reps: a partial
        // last rep, dropped as unlike the reps, and perhaps one.
        let (cap, d) = dropped_like_reps(&set, &reps(&[19.0], 2.0, 14.0)).expect("doubted");
        assert!(cap < SURE);
        assert!(d[0].message.contains("partial rep"), "{}", d[0].message);
        // As quick as a swing, or a shuffle a third of their size: not.
        assert!(dropped_like_reps(&set, &reps(&[19.0], 0.6, 14.0)).is_none());
        assert!(dropped_like_reps(&set, &reps(&[19.0], 2.0, 10.0)).is_none());
        // A rep-sized one before the set, as long as the reps.
        let (_, d) = dropped_like_reps(&set, &reps(&[-9.0], 2.2, 25.0)).expect("doubted");
        assert!(d[0].message.contains("just before"), "{}", d[0].message);
    }

    #[test]
    fn reps_counted_again_from_another_level_are_likely_not_sure() {
        let r = reps(&[30.0, 33.0, 36.0, 39.0, 42.0], 2.0, 10.0);
        let (cap, d) = relevelled(&r, &[(32.1, 44.1, 5.7)]).expect("doubted");
        assert!((0.6..SURE).contains(&cap), "{cap}");
        assert_eq!(d.kind, DoubtKind::Relevelled);
        assert!(
            d.message.contains("from 32.1 to 44.1 s") && d.message.contains("5.7°"),
            "{}",
            d.message
        );
        // A movement re-levelled before or after the set: not this set's.
        assert!(relevelled(&r, &[(10.0, 22.0, 5.7)]).is_none());
        assert!(relevelled(&r, &[(50.0, 62.0, 5.7)]).is_none());
    }

    #[test]
    fn a_small_slow_movement_on_the_sets_beat_may_be_a_tired_last_rep() {
        // Reps of 30° every 3 s, the last begun at 12 s: the next was due
        // at 15 s. A 7° movement (23 %) as slow as the reps, begun then.
        let set = reps(&[0.0, 3.0, 6.0, 9.0, 12.0], 2.2, 30.0);
        let (cap, d) = dropped_like_reps(&set, &reps(&[15.0], 2.0, 7.0)).expect("doubted");
        assert!(cap < SURE);
        assert_eq!(d[0].kind, DoubtKind::UncountedNearby);
        assert!(d[0].message.contains("partial rep"), "{}", d[0].message);
        // Still due half an interval early or late.
        assert!(dropped_like_reps(&set, &reps(&[13.6], 2.0, 7.0)).is_some());
        assert!(dropped_like_reps(&set, &reps(&[16.4], 2.0, 7.0)).is_some());
        // Off the beat, a movement that small is settling the leg.
        assert!(dropped_like_reps(&set, &reps(&[19.0], 2.0, 7.0)).is_none());
        assert!(dropped_like_reps(&set, &reps(&[17.0], 2.0, 7.0)).is_none());
        // Under a fifth of the reps, or quick, even on the beat: not.
        assert!(dropped_like_reps(&set, &reps(&[15.0], 2.0, 5.0)).is_none());
        assert!(dropped_like_reps(&set, &reps(&[15.0], 0.6, 7.0)).is_none());
    }

    #[test]
    fn a_long_movement_that_never_came_back_soon_after_a_pelvis_set_doubts_it() {
        // Hitches of 10°, 2 s long, every 3 s; the last ended at 14 s.
        let r = reps(&[0.0, 3.0, 6.0, 9.0, 12.0], 2.0, 10.0);
        let held = |start_s: f64, length: f64| SetAside {
            start_s,
            end_s: start_s + length,
            size_deg: 16.0,
            jolted: false,
        };
        // 5 s after it (past the 4.5 s of an edge), 12 s that never came
        // back: the set may have gone on from a level held above.
        let (c, d) = judge(
            &r,
            &[held(19.0, 12.0)],
            0.1,
            1.0,
            40.0,
            RepSignal::Obliquity,
        );
        assert!(c < SURE, "{c}");
        let doubt = d
            .iter()
            .find(|d| d.kind == DoubtKind::UncountedNearby)
            .expect("doubted");
        assert!(
            doubt.message.contains("never came back") && doubt.message.contains("19.0-31.0 s"),
            "{}",
            doubt.message
        );
        // As short as a rep there, or long but later, or at the ankle: not.
        for (m, signal) in [
            (held(19.0, 2.0), RepSignal::Obliquity),
            (held(22.0, 12.0), RepSignal::Obliquity),
            (held(19.0, 12.0), RepSignal::Rotation),
        ] {
            let peak = if signal == RepSignal::Rotation {
                30.0
            } else {
                10.0
            };
            let r = reps(&[0.0, 3.0, 6.0, 9.0, 12.0], 2.0, peak);
            let (c, d) = judge(&r, &[m], 0.1, 1.0, 100.0, signal);
            assert!(c >= SURE, "{c} {d:?}");
        }
    }

    #[test]
    fn a_steady_set_of_clear_reps_is_sure() {
        let r = reps(&[0.0, 3.0, 6.1, 9.0, 12.0, 15.2, 18.0, 21.0], 2.2, 30.0);
        let (c, d) = judge(&r, &[], 0.2, 5.0, 100.0, RepSignal::Rotation);
        assert!(c >= 0.9, "{c} {d:?}");
        assert!(d.is_empty(), "{d:?}");
    }

    #[test]
    fn a_quick_small_rep_begun_as_the_last_ended_may_be_its_lowering() {
        // Reps of 1.3 s every 2 s; after the fourth (8.0-9.3 s), a 0.5 s
        // movement from 9.4 s: the lowering caught twice.
        let with = |peak: f64| {
            let mut r = reps(&[2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0], 1.3, 35.0);
            r.insert(4, reps(&[9.4], 0.5, peak).remove(0));
            for (i, rep) in r.iter_mut().enumerate() {
                rep.number = i + 1;
            }
            judge(&r, &[], 0.2, 5.0, 100.0, RepSignal::Rotation)
        };
        let (c, d) = with(20.0);
        assert!(c < SURE, "{c} {d:?}");
        let split = d
            .iter()
            .find(|d| d.kind == DoubtKind::SplitRep)
            .expect("split");
        assert_eq!(split.reps, -1);
        assert!(
            split
                .message
                .starts_with("rep 5 (20.0°, 0.5 s) began as rep 4 ended"),
            "{}",
            split.message
        );
        // A full-sized quick rep right after (a momentum rep) is no split.
        let (_, d) = with(36.0);
        assert!(d.iter().all(|d| d.kind != DoubtKind::SplitRep), "{d:?}");
        // Nor is the same set without it in doubt.
        let r = reps(&[2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0], 1.3, 35.0);
        let (c, _) = judge(&r, &[], 0.2, 5.0, 100.0, RepSignal::Rotation);
        assert!(c >= SURE, "{c}");
    }

    #[test]
    fn a_gap_in_the_rhythm_says_where_reps_were_missed() {
        // Every 3 s, but 9 s between the fourth and fifth: two missed.
        let r = reps(&[0.0, 3.0, 6.0, 9.0, 18.0, 21.0, 24.0], 2.2, 30.0);
        let (c, d) = judge(&r, &[], 0.2, 5.0, 100.0, RepSignal::Rotation);
        assert!(c < 0.6, "{c}");
        let gap = d.iter().find(|d| d.kind == DoubtKind::RhythmGap).unwrap();
        assert_eq!(gap.reps, 2);
        assert!((gap.from_s - 11.2).abs() < 1e-9 && (gap.to_s - 18.0).abs() < 1e-9);
        assert!(
            gap.message
                .contains("2 reps were missed between 11.2 s and 18.0 s"),
            "{}",
            gap.message
        );
    }

    #[test]
    fn a_rep_twice_as_long_as_the_others_may_be_two() {
        let mut r = reps(&[0.0, 3.0, 6.0, 9.0, 12.0, 15.0], 2.0, 30.0);
        r[3].end_s = r[3].start_s + 4.5;
        let (c, d) = judge(&r, &[], 0.2, 5.0, 100.0, RepSignal::Rotation);
        assert!(c < 0.9);
        assert_eq!(d[0].kind, DoubtKind::LongRep);
        assert!(
            d[0].message.starts_with("rep 4 lasted 4.5 s"),
            "{}",
            d[0].message
        );
    }

    #[test]
    fn a_much_smaller_rep_is_doubted_at_the_ankle_only() {
        let mut r = reps(&[0.0, 3.0, 6.0, 9.0, 12.0], 2.0, 30.0);
        r[0].peak_deg = 8.0;
        let (c, d) = judge(&r, &[], 0.2, 5.0, 100.0, RepSignal::Rotation);
        assert!(c < 0.9 && d.iter().any(|d| d.kind == DoubtKind::SmallRep));
        // At the pelvis a clean rep is a tenth of a hike: no doubt.
        let mut r = reps(&[0.0, 3.0, 6.0, 9.0, 12.0], 2.0, 10.0);
        r[0].peak_deg = 1.5;
        let (_, d) = judge(&r, &[], 0.1, 1.0, 40.0, RepSignal::Obliquity);
        assert!(d.iter().all(|d| d.kind != DoubtKind::SmallRep), "{d:?}");
    }

    #[test]
    fn reps_in_the_noise_are_not_sure() {
        let r = reps(&[0.0, 3.0, 6.0, 9.0, 12.0], 2.0, 1.2);
        let (c, d) = judge(&r, &[], 0.5, 1.0, 40.0, RepSignal::Obliquity);
        assert!(c < 0.6, "{c}");
        assert!(d.iter().any(|d| d.kind == DoubtKind::LowSignal));
    }

    #[test]
    fn a_rep_sized_movement_just_outside_the_set_makes_it_one_short_perhaps() {
        let r = reps(&[10.0, 13.0, 16.0, 19.0, 22.0], 2.0, 30.0);
        // A 28° movement that never came back, 2 s before the first rep.
        let before = SetAside {
            start_s: 6.0,
            end_s: 8.0,
            size_deg: 28.0,
            jolted: false,
        };
        let (c, d) = judge(&r, &[before], 0.2, 5.0, 100.0, RepSignal::Rotation);
        assert!(c <= 0.5, "{c}");
        assert_eq!(d[0].kind, DoubtKind::UncountedNearby);
        assert!(
            d[0].message.contains("may be one short"),
            "{}",
            d[0].message
        );
        // The same a minute earlier, or a fidget of 5°, says nothing.
        for far_or_small in [
            SetAside {
                start_s: -60.0,
                end_s: -58.0,
                size_deg: 28.0,
                jolted: false,
            },
            // A foot strike before the set: walking up to it.
            SetAside {
                jolted: true,
                ..before
            },
            SetAside {
                size_deg: 5.0,
                ..before
            },
        ] {
            let (c, d) = judge(&r, &[far_or_small], 0.2, 5.0, 100.0, RepSignal::Rotation);
            assert!(c >= SURE && d.is_empty(), "{c} {d:?}");
        }
        // At the pelvis, rolling over (past `max_peak_deg`) is no lost rep.
        let rolled = SetAside {
            start_s: 24.0,
            end_s: 26.0,
            size_deg: 146.0,
            jolted: false,
        };
        let r = reps(&[10.0, 13.0, 16.0, 19.0, 22.0], 2.0, 2.5);
        let (_, d) = judge(&r, &[rolled], 0.1, 0.8, 40.0, RepSignal::Obliquity);
        assert!(
            d.iter().all(|d| d.kind != DoubtKind::UncountedNearby),
            "{d:?}"
        );
    }

    #[test]
    fn a_rep_sized_movement_thrown_out_inside_the_set_makes_it_one_short_perhaps() {
        // Reps every 3 s with one missing at 16 s: a 30° fling that landed
        // with a jolt (a momentum rep), thrown out by the detector.
        let r = reps(&[10.0, 13.0, 19.0, 22.0, 25.0, 28.0], 2.0, 30.0);
        let jolted = SetAside {
            start_s: 16.0,
            end_s: 16.8,
            size_deg: 30.0,
            jolted: true,
        };
        assert_uncounted(&r, jolted, "inside");
        // Twice their size and more, between two reps: a rep done another
        // way (a 60° swing forward among 27° reps, effort), still doubted;
        // the same after the set is a posture change and says nothing.
        let swing = SetAside {
            start_s: 16.0,
            end_s: 18.4,
            size_deg: 2.2 * 30.0,
            jolted: false,
        };
        assert_uncounted(&r, swing, "inside");
        let later = SetAside {
            start_s: 32.0,
            end_s: 34.4,
            ..swing
        };
        let (_, d) = judge(&r, &[later], 0.2, 5.0, 100.0, RepSignal::Rotation);
        assert!(
            d.iter().all(|d| d.kind != DoubtKind::UncountedNearby),
            "{d:?}"
        );
        let huge = SetAside {
            size_deg: 3.5 * 30.0,
            ..swing
        };
        let (_, d) = judge(&r, &[huge], 0.2, 5.0, 100.0, RepSignal::Rotation);
        assert!(
            d.iter().all(|d| d.kind != DoubtKind::UncountedNearby),
            "{d:?}"
        );
    }

    /// `m` set aside beside `r` keeps the set from sure as an uncounted
    /// movement `place` it ("inside", "just after").
    fn assert_uncounted(r: &[Rep], m: SetAside, place: &str) {
        let (c, d) = judge(r, &[m], 0.2, 5.0, 100.0, RepSignal::Rotation);
        assert!(c < SURE, "{c}");
        assert!(
            d.iter()
                .any(|d| d.kind == DoubtKind::UncountedNearby && d.message.contains(place)),
            "{d:?}"
        );
    }

    #[test]
    fn a_rep_sized_jolt_just_after_the_set_makes_it_one_short_perhaps() {
        // A tired last rep let down hard, 1 s after the set: thrown out
        // for the landing.
        let r = reps(&[10.0, 13.0, 16.0, 19.0, 22.0], 2.0, 30.0);
        let landed = SetAside {
            start_s: 25.0,
            end_s: 27.0,
            size_deg: 24.0,
            jolted: true,
        };
        assert_uncounted(&r, landed, "just after");
        // A foot set down after the set (a small jolt), or one far larger
        // (stepping off), says nothing.
        for size_deg in [12.0, 50.0] {
            let m = SetAside { size_deg, ..landed };
            let (c, d) = judge(&r, &[m], 0.2, 5.0, 100.0, RepSignal::Rotation);
            assert!(c >= SURE && d.is_empty(), "{size_deg}: {c} {d:?}");
        }
    }

    #[test]
    fn reps_that_each_go_farther_than_the_last_are_doubted() {
        let mut r = reps(&[0.0, 3.0, 6.0, 9.0, 12.0], 2.0, 30.0);
        // Steady reps, or a ramp that levels off: nothing.
        assert!(growing_reps(&r).is_none());
        for (rep, peak) in r.iter_mut().zip([24.0, 28.0, 30.0, 30.0, 29.0]) {
            rep.peak_deg = peak;
        }
        assert!(growing_reps(&r).is_none());
        // Each farther than the last, 20° to 40°: doubted.
        for (rep, peak) in r.iter_mut().zip([20.0, 25.0, 30.0, 35.0, 40.0]) {
            rep.peak_deg = peak;
        }
        let (cap, d) = growing_reps(&r).expect("growing reps doubted");
        assert!(cap < SURE);
        assert_eq!(d.kind, DoubtKind::GrowingReps);
        assert!(d.message.contains("from 20° to 40°"), "{}", d.message);
        // Growing by under 30 %, or only three reps: nothing.
        for (rep, peak) in r.iter_mut().zip([30.0, 31.0, 32.0, 33.0, 34.0]) {
            rep.peak_deg = peak;
        }
        assert!(growing_reps(&r).is_none());
        assert!(growing_reps(&r[..3]).is_none());
    }

    #[test]
    fn a_set_begun_just_after_a_neutral_taken_on_the_way_into_place_is_doubted() {
        // Reps from 10 s on.
        let r = reps(&[10.0, 13.0, 16.0, 19.0], 2.0, 30.0);
        // No such neutral, or one taken long before the set: nothing.
        assert!(no_rest_before(&r, None).is_none());
        assert!(no_rest_before(&r, Some(2.0)).is_none());
        // Taken 1 s before the first rep: doubted.
        let (cap, d) = no_rest_before(&r, Some(9.0)).expect("doubted");
        assert!(cap < SURE);
        assert_eq!(d.kind, DoubtKind::NoRestBefore);
        // Taken after the set: nothing.
        assert!(no_rest_before(&r, Some(30.0)).is_none());
    }

    #[test]
    fn a_small_last_rep_after_a_longer_pause_or_held_long_may_be_an_attempt_given_up() {
        // Reps of 2 s, 1 s apart; the last one reaches 15° of 30°.
        let mut r = reps(&[0.0, 3.0, 6.0, 9.0, 12.0, 15.0], 2.0, 30.0);
        let last = r.len() - 1;
        r[last].peak_deg = 15.0;
        // In the set's rhythm and length: a partial rep, counted and sure.
        let (c, d) = judge(&r, &[], 0.2, 5.0, 100.0, RepSignal::Rotation);
        assert!(c >= SURE, "{c} {d:?}");
        // After a 2 s pause (twice the set's), or held 3 s: perhaps an
        // attempt given up, one over.
        for (start, end) in [(16.0, 18.0), (15.0, 18.0)] {
            r[last].start_s = start;
            r[last].end_s = end;
            let (c, d) = judge(&r, &[], 0.2, 5.0, 100.0, RepSignal::Rotation);
            assert!(c < SURE, "{c}");
            let doubt = d.iter().find(|d| d.kind == DoubtKind::SmallLastRep);
            assert!(
                doubt.is_some_and(|d| d.reps == -1 && d.message.contains("given up")),
                "{d:?}"
            );
        }
        // As large as the others, the same pause raises nothing.
        r[last].peak_deg = 29.0;
        let (c, _) = judge(&r, &[], 0.2, 5.0, 100.0, RepSignal::Rotation);
        assert!(c >= SURE, "{c}");
    }

    #[test]
    fn a_quick_first_movement_of_rep_size_may_be_settling_in() {
        // Balance model: a 1 s, 32° movement 1.5 s before reps of 4.2 s.
        let mut r = reps(&[164.6, 170.7, 176.7, 183.4, 189.3, 196.0], 4.2, 32.0);
        r.insert(0, reps(&[162.0], 1.06, 32.1).remove(0));
        let (c, d) = judge(&r, &[], 0.2, 5.0, 100.0, RepSignal::Rotation);
        assert!(c < SURE, "{c}");
        assert!(d.iter().any(|d| d.kind == DoubtKind::QuickStart), "{d:?}");
        // A first rep as long as the others raises nothing; nor does a
        // quick rep later in the set (a momentum rep).
        let r = reps(&[162.0, 167.0, 172.0, 177.0, 182.0], 4.2, 32.0);
        let (c, _) = judge(&r, &[], 0.2, 5.0, 100.0, RepSignal::Rotation);
        assert!(c >= SURE, "{c}");
        let mut r = reps(&[162.0, 167.0, 172.0, 177.0, 182.0], 4.2, 32.0);
        r[2].end_s = r[2].start_s + 0.6;
        let (c, d) = judge(&r, &[], 0.2, 5.0, 100.0, RepSignal::Rotation);
        assert!(c >= SURE, "{c} {d:?}");
        // At the pelvis too (balance model, side-lying: a 1.2 s, 5° roll
        // 3 s before reps of 4.4 s and 2°).
        let mut r = reps(&[82.8, 89.0, 94.8, 99.6, 106.7, 111.6], 4.4, 2.0);
        r.insert(0, reps(&[79.7], 1.2, 5.0).remove(0));
        let (c, d) = judge(&r, &[], 0.1, 1.0, 40.0, RepSignal::Obliquity);
        assert!(c < SURE, "{c}");
        assert!(d.iter().any(|d| d.kind == DoubtKind::QuickStart), "{d:?}");
    }

    #[test]
    fn a_quick_small_last_movement_may_be_a_swing_after_the_set() {
        // Class model: reps of 3 s and 29°, then a 0.9 s, 15° movement
        // 1.1 s after the last (a swing of the leg after the set).
        let mut r = reps(&[12.2, 16.3, 20.5, 24.6, 28.8, 32.9, 37.0, 41.2], 3.0, 29.0);
        r.push(reps(&[45.3], 0.9, 15.0).remove(0));
        let (c, d) = judge(&r, &[], 0.2, 5.0, 100.0, RepSignal::Rotation);
        assert!(c < SURE, "{c}");
        let end = d
            .iter()
            .find(|d| d.kind == DoubtKind::QuickEnd)
            .expect("doubted");
        assert_eq!(end.reps, -1);
        assert!(end.message.contains("last rep"), "{}", end.message);
        // A quick last rep as large as the others (a momentum rep to end
        // the set) raises nothing, nor does a small one of the set's length
        // (a tired partial rep).
        let mut r = reps(&[12.2, 16.3, 20.5, 24.6, 28.8, 32.9, 37.0, 41.2], 3.0, 29.0);
        r.push(reps(&[45.3], 0.9, 31.0).remove(0));
        let (c, d) = judge(&r, &[], 0.2, 5.0, 100.0, RepSignal::Rotation);
        assert!(c >= SURE, "{c} {d:?}");
        let mut r = reps(&[12.2, 16.3, 20.5, 24.6, 28.8, 32.9, 37.0, 41.2], 3.0, 29.0);
        r.push(reps(&[45.3], 2.8, 15.0).remove(0));
        let (_, d) = judge(&r, &[], 0.2, 5.0, 100.0, RepSignal::Rotation);
        assert!(d.iter().all(|d| d.kind != DoubtKind::QuickEnd), "{d:?}");
        // Lognormal model: a single swing of 0.6 s and 15° after seated reps
        // of 3.6 s and 19° (0.8 of their size) is doubted; the same 3.6 s
        // long is a rep like the others.
        let starts = [
            107.5, 114.1, 120.1, 128.2, 134.5, 142.1, 149.5, 154.2, 162.0, 170.8,
        ];
        let mut r = reps(&starts, 3.6, 19.0);
        r.push(reps(&[177.0], 0.6, 15.0).remove(0));
        let (c, d) = judge(&r, &[], 0.2, 5.0, 100.0, RepSignal::Rotation);
        assert!(c < SURE, "{c}");
        assert!(d.iter().any(|d| d.kind == DoubtKind::QuickEnd), "{d:?}");
        let mut r = reps(&starts, 3.6, 19.0);
        r.push(reps(&[177.0], 3.6, 15.0).remove(0));
        let (c, _) = judge(&r, &[], 0.2, 5.0, 100.0, RepSignal::Rotation);
        assert!(c >= SURE, "{c}");
        // Syllable model: a swing of 0.7 s and 25° right after side-lying
        // reps of 1.9 s and 30° (0.37 of their length) is doubted.
        let starts: Vec<f64> = (0..13).map(|i| 160.9 + 3.0 * i as f64).collect();
        let mut r = reps(&starts, 1.9, 30.0);
        r.push(reps(&[199.9], 0.7, 25.0).remove(0));
        let (c, d) = judge(&r, &[], 0.2, 5.0, 100.0, RepSignal::Rotation);
        assert!(c < SURE, "{c}");
        assert!(d.iter().any(|d| d.kind == DoubtKind::QuickEnd), "{d:?}");
    }

    #[test]
    fn an_ankle_rep_squeezed_into_one_beat_may_be_one_counted_twice() {
        let ankle = |r: &[Rep]| judge(r, &[], 0.2, 5.0, 100.0, RepSignal::Rotation);
        // Neuro model: side-lying reps every 4.6 s; one rep was read as two,
        // the second begun as the first came back, 2.2 s and 2.7 s apart.
        let starts = [94.9, 99.5, 103.6, 108.6, 113.2, 115.4, 118.1, 122.7, 127.1];
        let (c, d) = ankle(&reps(&starts, 2.1, 42.0));
        assert!(c < SURE, "{c}");
        let rush = d
            .iter()
            .find(|d| d.kind == DoubtKind::RhythmRush)
            .expect("doubted");
        assert_eq!((rush.reps, rush.from_s), (-1, 113.2));
        assert!(
            rush.message.contains("reps 5, 6 and 7 began within 4.9 s"),
            "{}",
            rush.message
        );
        // Apart (not one movement read as two), or a run of quicker reps to
        // end the set (a change of pace, the beat does not come back): sure.
        let (c, d) = ankle(&reps(&starts, 1.2, 42.0));
        assert!(c >= SURE, "{c} {d:?}");
        let run = [0.0, 4.0, 8.0, 12.0, 16.0, 20.0, 22.0, 24.0, 26.0];
        let (c, d) = ankle(&reps(&run, 1.9, 42.0));
        assert!(c >= SURE, "{c} {d:?}");
        // A quick rep and then the beat again: the two intervals add up to
        // well under one beat (3.0 s of 4.6 s), so the set stays sure.
        let quick = [0.0, 4.6, 9.2, 13.8, 15.3, 16.8, 21.4, 26.0];
        let (c, d) = ankle(&reps(&quick, 1.4, 42.0));
        assert!(c >= SURE, "{c} {d:?}");
    }

    #[test]
    fn two_pelvis_reps_in_a_hurry_may_be_one() {
        let r = reps(&[0.0, 3.5, 7.0, 8.2, 10.5, 14.0, 17.5], 1.1, 2.0);
        let (c, d) = judge(&r, &[], 0.1, 0.8, 40.0, RepSignal::Obliquity);
        assert!(c < SURE, "{c}");
        assert!(d.iter().any(|d| d.kind == DoubtKind::RhythmRush), "{d:?}");
        // At the ankle a momentum rep is quick and the next follows soon.
        let r = reps(&[0.0, 3.5, 7.0, 8.2, 10.5, 14.0, 17.5], 1.1, 30.0);
        let (_, d) = judge(&r, &[], 0.1, 5.0, 100.0, RepSignal::Rotation);
        assert!(d.iter().all(|d| d.kind != DoubtKind::RhythmRush), "{d:?}");
        // Wear model: a hike held at the top read as two reps of 2 s, the
        // second begun 0.2 s after the first came back, 2.2 s after it
        // began where the set's pace is 4 s. The same 2.2 s with a pause
        // of 1 s between them is two quick reps.
        let at = [0.0, 4.0, 8.0, 12.0, 14.2, 18.2, 22.2];
        for (length, doubted) in [(2.0, true), (1.2, false)] {
            let mut r = reps(&at, 2.5, 2.0);
            r[3].end_s = r[3].start_s + length;
            let (_, d) = judge(&r, &[], 0.1, 0.8, 40.0, RepSignal::Obliquity);
            let rush = d.iter().any(|d| d.kind == DoubtKind::RhythmRush);
            assert_eq!(rush, doubted, "{length}: {d:?}");
        }
    }

    #[test]
    fn a_set_called_sure_carries_no_doubts() {
        // Reps 3.5× the noise: the signal cue is just under 0.9 before
        // rounding, 0.9 after; a sure set must not say "check".
        let r = reps(&[0.0, 3.0, 6.0, 9.0, 12.0], 2.0, 1.0);
        for noise in [0.2, 0.21, 0.22, 0.23, 0.24, 0.25] {
            let (c, d) = judge(&r, &[], noise, 0.1, 40.0, RepSignal::Obliquity);
            assert!(c < SURE || d.is_empty(), "{noise}: {c} {d:?}");
        }
    }

    #[test]
    fn a_short_set_is_at_best_likely() {
        let r = reps(&[0.0, 3.0, 6.0], 2.0, 30.0);
        let (c, d) = judge(&r, &[], 0.2, 5.0, 100.0, RepSignal::Rotation);
        assert!((0.6..0.9).contains(&c), "{c}");
        assert_eq!(d[0].kind, DoubtKind::ShortSet);
    }

    #[test]
    fn a_pelvis_set_of_mostly_hikes_says_the_clean_reps_may_be_unseen() {
        use crate::motion::{Flag, FlagKind};
        let hiked = |r: &mut Rep| {
            r.flags.push(Flag {
                kind: FlagKind::HipHike,
                value_deg: 7.0,
                rate_dps: None,
            })
        };
        let starts = [0.0, 4.0, 8.0, 12.0, 16.0, 20.0];
        let mut r = reps(&starts, 2.0, 8.0);
        for rep in r.iter_mut().take(4) {
            hiked(rep);
        }
        let (cap, doubt) = compensated_only(&r).expect("4 of 6 hiked");
        assert!(cap < SURE);
        assert_eq!(doubt.kind, DoubtKind::CompensatedOnly);
        assert!(
            doubt.message.starts_with("4 of the 6 reps"),
            "{}",
            doubt.message
        );
        // Two of six: the clean reps were seen.
        let mut r = reps(&starts, 2.0, 8.0);
        hiked(&mut r[0]);
        hiked(&mut r[3]);
        assert!(compensated_only(&r).is_none());
    }
}
