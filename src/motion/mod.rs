//! The motion pipeline: samples in, reps and sets out.
//!
//! Pure and streaming: no I/O, no clock (time comes with each sample), memory
//! bounded by the longest rep, not by the length of the stream. Live runs,
//! `analyze` and the accuracy corpus all drive the same [`Pipeline`].
//!
//! Per sample: [`attitude::Stillness`] decides whether the sensor rests and
//! learns the gyro bias there; [`attitude::Attitude`] tracks orientation; the
//! neutral is the orientation at the last rest before a rep (ankle: re-taken
//! at every rest, which also cancels heading drift; pelvis: frozen for the
//! set, DOMAIN.md's "set's own neutral"); the counted signal (ankle: rotation
//! from neutral; pelvis: obliquity less a slow resting level) goes through
//! [`reps::RepDetector`]; finished reps are grouped into sets and flagged.

pub mod attitude;
pub mod certainty;
pub mod flags;
pub mod fuse;
pub mod lever;
pub mod profile;
pub mod reps;
pub mod resample;
pub mod sets;
pub mod shake;
pub mod signal;
pub mod swings;

use crate::sample::STANDARD_GRAVITY;
use crate::{Exercise, Placement, Sample, Side};
use attitude::{Attitude, Stillness};
pub use certainty::{Doubt, DoubtKind};
pub use flags::{Flag, FlagKind};
use nalgebra::{UnitQuaternion, Vector3};
pub use profile::Profile;
use profile::{RepDirection, RepSignal};
use reps::{Rejection, RepDetector, RepOutcome, RepTrace, TracePoint};
use resample::{Resampler, Step};
pub use resample::{MAX_ACC_MPS2, MAX_GAP_S, MAX_RATE_DPS};
use serde::Serialize;
use sets::{OpenSet, Segmenter};
use signal::{Counted, Neutral, Reading, TooFar};
use std::collections::VecDeque;

/// Time constant of the resting-noise estimate behind each set's confidence (s).
const NOISE_TAU_S: f64 = 5.0;
/// Time constant of the mean |acc| a foot strike stands out from (s).
const IMPACT_TAU_S: f64 = 0.2;
/// Time constant of the sensor's own reading of gravity (s). Cheap
/// accelerometers read 1 g as anything from 0.93 to 1.07 g (a real thigh
/// sensor read 10.5 m/s² at rest): rest and the attitude's gravity checks are
/// judged against what this sensor reads at rest, not against 9.81.
const GRAVITY_TAU_S: f64 = 2.0;
/// A rep lowered in under this share of the set's usual lowering time was
/// let go: only such a rep bounces off the bottom (`reps.rebound_fraction`).
const REBOUND_LET_GO: f64 = 0.6;
/// The widest accelerometer scale error accepted (a share of 1 g).
const GRAVITY_SCALE_MAX: f64 = 0.15;
/// One counted rep.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rep {
    /// 1-based number within its set.
    pub number: usize,
    /// When the movement left neutral (s).
    pub start_s: f64,
    /// When it came back (s).
    pub end_s: f64,
    /// Ankle: largest rotation from the rest orientation before the set.
    /// Pelvis: largest obliquity change from the set's neutral (°).
    pub peak_deg: f64,
    /// Time to reach 90% of the peak (s).
    pub concentric_s: f64,
    /// Time spent above 90% of the peak (s).
    pub pause_s: f64,
    /// Time from leaving 90% of the peak to the return (s).
    pub eccentric_s: f64,
    /// Compensation flags.
    pub flags: Vec<Flag>,
}

/// One set: reps with short gaps between them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Set {
    /// Start of the first rep (s).
    pub start_s: f64,
    /// End of the last rep (s).
    pub end_s: f64,
    /// The reps.
    pub reps: Vec<Rep>,
    /// How sure the count is, 0..1: the lowest of the caps set by the
    /// set's rhythm, the agreement of its reps, and their size against the
    /// resting noise and the smallest rep the profile accepts
    /// ([`certainty`]).
    pub confidence: f64,
    /// Why the count may be wrong (empty when every cue agrees).
    pub doubts: Vec<Doubt>,
}

impl Set {
    /// Number of reps.
    pub fn rep_count(&self) -> usize {
        self.reps.len()
    }
}

/// What the pipeline tells its sinks.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A rep ended. `set_number` is the 1-based number its set will have if
    /// it turns out to be a set (a lone movement is discarded later).
    Rep {
        /// Number of the set in progress.
        set_number: usize,
        /// The rep.
        rep: Rep,
    },
    /// A rep has come back to neutral but its rep stays open a little longer
    /// to settle (pelvis profiles), so its flags are not known yet: announce
    /// the count now; the full [`Event::Rep`] with the same number follows
    /// (or, rarely, none if the movement turns out not to be a rep).
    RepReturned {
        /// Number of the set in progress.
        set_number: usize,
        /// Number the rep will have.
        number: usize,
        /// When it left neutral (s).
        start_s: f64,
        /// When it came back (s).
        end_s: f64,
        /// Size on the counting signal (°).
        peak_deg: f64,
    },
    /// A set ended.
    SetEnded(Set),
    /// Movements ended that were too few to be a set (a single swing).
    NotASet {
        /// Start (s).
        start_s: f64,
        /// End (s).
        end_s: f64,
        /// How many rep-like movements it had.
        reps: usize,
    },
}

/// Counters of what the pipeline saw and set aside.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// Samples fed in.
    pub samples: u64,
    /// Samples with NaN, infinite or impossible values (beyond
    /// [`MAX_ACC_MPS2`] or [`MAX_RATE_DPS`]: a corrupt packet), skipped.
    pub non_finite: u64,
    /// Samples whose time did not advance, skipped.
    pub out_of_order: u64,
    /// Gaps longer than [`MAX_GAP_S`].
    pub long_gaps: u64,
    /// Movements that were not reps: too short, too small, no return, too large, foot strike, interrupted.
    pub not_reps: [u64; 6],
}

/// The motion pipeline for one sensor, exercise, placement and side.
pub struct Pipeline {
    profile: Profile,
    placement: Placement,
    still: Stillness,
    attitude: Attitude,
    detector: RepDetector,
    neutral: Neutral,
    /// A short gap was bridged: the next step takes the tilt from gravity.
    relevel_after_gap: bool,
    counted: Counted,
    noise_ms: f64,
    resampler: Resampler,
    sets: Segmenter,
    stats: Stats,
    impact_mps2: f64,
    acc_norm_mean: f64,
    /// What this accelerometer reads for 1 g at rest (m/s²), once seen.
    gravity_mps2: Option<f64>,
    /// `STANDARD_GRAVITY / gravity_mps2`, divided out again only when the
    /// 1 g estimate moves.
    gravity_k: f64,
    /// Start of the rep last announced by [`Event::RepReturned`].
    announced_return: Option<f64>,
    /// A closed pelvis rep whose flags wait for `flags.tail_s` more samples.
    pending: Option<PendingRep>,
    /// The last counted signal and orientation angle, for diagnostics:
    /// filled only once [`Pipeline::probe`] has been asked for.
    probe: Option<Probe>,
    /// Time of the last sample pushed (s): where a gap in the data began.
    last_t: Option<f64>,
    /// How long an open movement has rested without coming back (s).
    rest_in_rep_s: f64,
    /// When the last foot strike was felt (s).
    last_impact_t: f64,
    /// Ankle: when the sensor last turned faster than
    /// `reps.impact_max_rate_dps` (s).
    last_fast_t: f64,
    /// Ankle: start of the movement whose jolt was taken for a stop at the
    /// top ([`TOP_STOP_S`]); it must prove a quick rep when it ends.
    top_stop_of: Option<f64>,
    /// Pelvis: how hard the sensor was shaken, step by step
    /// (`sets.shake_max_mps2`; empty when that is off).
    shake: shake::ShakeLog,
    /// The last rest, as of its last still step.
    last_rest: Option<Rest>,
    /// When the current rest began (s); `None` while moving.
    rest_since: Option<f64>,
    /// The last rest held at least [`HELD_REST_S`], as of its last still
    /// step: a posture, not a pause at the top of a rep.
    held_rest: Option<Rest>,
    /// Since when there has been no neutral to measure from (s): after
    /// `still.lenient_after_s` of it, rest is judged leniently (tracked only
    /// by profiles that set it).
    no_neutral_since: Option<f64>,
    /// The steps of the last `reps.max_duration_s` plus [`REPLAY_KEEP_S`],
    /// to count again from a neutral (ankle, [`Pipeline::replay`]) or a
    /// level (pelvis, hip hitch: [`Pipeline::relevel`]) found after they
    /// went by.
    recent: VecDeque<Recent>,
    /// A replay is running: no other starts within it.
    replaying: bool,
    /// The neutral was taken at a shaky rest ([`Stillness::shaky`]).
    shaky_neutral: bool,
    /// Hip hitch: since when the signal has sat the other way from every
    /// rep ([`WRONG_WAY_S`]).
    wrong_way_since: Option<f64>,
}

/// A quick movement whose rotation lies within about 25° of the axis of
/// the open set's reps (this cosine) is a rep done fast, never a step.
const STEP_ON_AXIS: f64 = 0.9;

/// Whether `rotation` (°, from the neutral) of a movement `size` (°) turns
/// about the axis of the reps `reference` was taken from, within
/// [`STEP_ON_AXIS`]: a stride or a shuffle turns the shank about another.
fn along_reps(reference: &flags::SetReference, rotation: &Vector3<f64>, size: f64) -> bool {
    reference
        .along_axis(rotation)
        .is_some_and(|along| along >= STEP_ON_AXIS * size)
}

/// A movement smaller than `sets.unlike_edge_fraction` of the open set's
/// reps is no rep unless this share of its rotation (the cosine of ~45°)
/// lies along the set's axis.
const SMALL_ON_AXIS: f64 = 0.7;

/// A set's last movement, come after a pause of more than [`LATE_GAP`]
/// times the set's usual pause between reps (once it has 3), is no rep
/// unless this share of its rotation (the cosine of ~32°) lies along the
/// set's axis: the set's reps keep within a few degrees of it, changing the
/// pin or shifting in the seat after the set does not
/// ([`sets::OpenSet::late_odd_start_s`]).
const LATE_ON_AXIS: f64 = 0.85;

/// See [`LATE_ON_AXIS`].
const LATE_GAP: f64 = 2.0;

/// A gap in the data (past [`MAX_GAP_S`]) up to this long (s) keeps the
/// orientation track and the neutral: a radio drop of a second or two in a
/// set with no rest in it would otherwise lose every rep after it until the
/// next rest gave a neutral again. The open movement is closed at the gap
/// (it may be cut: [`sets::Segmenter::note_gap`]) and the tilt re-taken from
/// gravity after it. Longer gaps start afresh (the strap may have moved).
const KEEP_TRACK_GAP_S: f64 = 3.0;
/// The first sample after a bridged gap re-takes the tilt only when its
/// acceleration is within this share of one g.
const RELEVEL_ACC_TOLERANCE: f64 = 0.2;

/// Ankle, a level-axis exercise (`reps.level_axis`): a movement begun
/// with no set open that comes to rest turned about the vertical (this
/// share of its rotation, the cosine of ~25°) is the lifter turning in
/// place, not a rep: the rest there is the new neutral.
const TURN_IN_PLACE_AXIS: f64 = 0.9;

/// Ankle: a movement given up for not coming back within
/// `reps.max_duration_s` takes the neutral from its last rest, if the
/// sensor rested within this long (s) before it was given up.
const NO_RETURN_REST_S: f64 = 2.5;

/// Ankle: when a movement given up for not coming back began more than
/// this long (s) before the rest its new neutral is taken from (whatever
/// happened in between, shorter rests included), it did more than bring
/// the leg into place: a first rep may be hidden in it. Within this, it was
/// the arrival alone (all corpora, session 32: doubting every set begun
/// within 3 s of such a rest doubted 8 more right sets, and caught no
/// wrong set more). A quick step and a rep ending in a rest within 3 s of
/// the step's start go undoubted: the price of the line.
const ARRIVAL_MAX_S: f64 = 3.0;

/// Hip hitch: the signal held this long (s) past `reps.enter_deg` the other
/// way from every rep, no rep open, is a new neutral: a re-clipped sensor
/// or a shifted belt that never came to rest to show it.
const WRONG_WAY_S: f64 = 6.0;

/// A rest this long (s) is a posture held, not a pause at the top of a rep:
/// a movement given up for not coming back takes the neutral from the last
/// such rest if it ended within [`NO_RETURN_HELD_S`], before any shorter one.
const HELD_REST_S: f64 = 0.5;

/// Ankle: how much longer (s) than `reps.max_duration_s` the steps are
/// kept to count again ([`Pipeline::replay`]); at least
/// [`NO_RETURN_HELD_S`].
const REPLAY_KEEP_S: f64 = 5.0;

/// A rest of the sensor, as of one of its still steps.
#[derive(Debug, Clone, Copy)]
struct Rest {
    /// When the rest began (s).
    since: f64,
    /// The still step (s).
    t: f64,
    /// The sensor's orientation then.
    q: UnitQuaternion<f64>,
}

impl Rest {
    /// How long the sensor had rested by then (s).
    fn held_s(&self) -> f64 {
        self.t - self.since
    }
}

/// A step as the ankle pipeline took it, kept to count again.
#[derive(Debug, Clone, Copy)]
struct Recent {
    /// The sensor's orientation.
    q: UnitQuaternion<f64>,
    /// Pelvis: the counted signal the detector was given (°).
    signal: f64,
    /// The step was a jolt.
    impact: bool,
    /// What the detector was given (its reading from the old neutral).
    point: TracePoint,
}

/// How recent (s) the held rest of [`HELD_REST_S`] must be.
const NO_RETURN_HELD_S: f64 = 4.0;

/// See [`LATE_ON_AXIS`]: the usual pause is taken as at least this (s), so
/// reps done back to back do not make any pause "long".
const LATE_MIN_PAUSE_S: f64 = 0.5;

/// Ankle: a jolt within this long (s) of turning faster than
/// `reps.impact_max_rate_dps`, with the leg raised past [`TOP_STOP_FRACTION`]
/// of the open set's reps (once it has one) and turned about their axis
/// (within ~25°, [`STEP_ON_AXIS`]), is a thrown rep stopped at the top of
/// its range, not a foot strike, if the movement then ends within
/// [`TOP_STOP_LENGTH`] of the set's reps (a shuffle's steps go on).
const TOP_STOP_S: f64 = 0.15;

/// See [`TOP_STOP_S`].
const TOP_STOP_FRACTION: f64 = 0.5;
/// Ankle: a jolt ends no movement that has gone this share of the open
/// set's reps (median) about their axis, once the set has
/// [`LANDED_MIN_REPS`] ([`Pipeline::landed_rep`]).
const LANDED_FRACTION: f64 = 0.8;
/// See [`LANDED_FRACTION`].
const LANDED_MIN_REPS: usize = 2;
/// Ankle: a movement under this share of the open set's reps (median) is
/// no rep of it.
const TINY_FRACTION: f64 = 0.2;

/// See [`TOP_STOP_S`]: a movement let through for a stop at the top that
/// lasts longer than this many of the set's median reps was steps.
const TOP_STOP_LENGTH: f64 = 1.5;

/// Ankle: a movement that rises, falls back by more than this share of its
/// peak and rises again, [`SHUFFLE_HUMPS`] times or more without coming
/// back to rest, is steps (a lateral shuffle), not a rep.
const HUMP_DEPTH: f64 = 0.3;

/// See [`HUMP_DEPTH`]. Two humps may be two reps run together; three and
/// more, evenly spaced ([`STEADY_HUMPS`]), are steps.
const SHUFFLE_HUMPS: usize = 3;

/// See [`steady_humps`].
const STEADY_HUMPS: f64 = 1.5;

/// See [`steady_humps`] (s).
const SHAKE_GAP_S: f64 = 0.4;

/// When `trace`'s angle reaches each top it then falls back from by more
/// than `depth` (°), the last top included whether or not it fell (s).
fn hump_tops(trace: &[TracePoint], depth: f64) -> Vec<f64> {
    swings::zigzag(trace.iter().map(|p| (p.t, p.angle)), depth, true)
        .iter()
        .map(|s| s.top_s)
        .collect()
}

/// Whether humps topping at `tops` (s) came like steps or a shake: at
/// least [`SHUFFLE_HUMPS`], and either the longest spacing between tops
/// within [`STEADY_HUMPS`] times the shortest (steps), or that many tops in
/// a row under [`SHAKE_GAP_S`] apart (shaking the leg out, however the
/// movement goes on). A rep with pulses at the top (a Pilates lift: up, a
/// hold, a few small pulses, a hold, down) tops out unevenly and slower.
fn steady_humps(tops: &[f64]) -> bool {
    if tops.len() < SHUFFLE_HUMPS {
        return false;
    }
    let gaps: Vec<f64> = tops.windows(2).map(|w| w[1] - w[0]).collect();
    let (lo, hi) = gaps.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), &g| {
        (lo.min(g), hi.max(g))
    });
    let shaken = gaps
        .windows(SHUFFLE_HUMPS - 1)
        .any(|run| run.iter().all(|&g| g < SHAKE_GAP_S));
    hi <= STEADY_HUMPS * lo || shaken
}

/// What the pipeline computed from the last sample, for diagnostics and plots.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Probe {
    /// Time (s).
    pub t: f64,
    /// The counted signal (°).
    pub signal: f64,
    /// Ankle: rotation from neutral; pelvis: obliquity from neutral (°).
    pub angle: f64,
    /// Whether the sensor rested.
    pub still: bool,
    /// Whether a movement was open.
    pub in_rep: bool,
    /// The gyro bias learned so far (°/s).
    pub bias: Vector3<f64>,
}

struct PendingRep {
    rep: RepTrace,
    until: f64,
    tail: Vec<TracePoint>,
}

impl Pipeline {
    /// A pipeline with the given profile (built in or from `--profile`).
    pub fn new(profile: Profile, side: Side) -> Self {
        let placement = profile.placement;
        let free_sign = profile.exercise.free_side(side).sign();
        Pipeline {
            still: Stillness::new(profile.still.clone()),
            attitude: Attitude::new(
                profile.still.bias_ki,
                profile.placement == Placement::Pelvis,
            ),
            detector: RepDetector::new(profile.reps),
            neutral: Neutral::default(),
            relevel_after_gap: false,
            counted: Counted::new(&profile.reps, free_sign),
            noise_ms: 0.0,
            resampler: Resampler::default(),
            sets: Segmenter::new(
                profile.sets.clone(),
                profile.reps.signal,
                profile.reps.min_peak_deg,
                profile.reps.max_peak_deg,
            )
            .pelvis_abduction(
                placement == Placement::Pelvis && profile.exercise != Exercise::HipHitch,
            ),
            announced_return: None,
            pending: None,
            probe: None,
            last_t: None,
            rest_in_rep_s: 0.0,
            last_impact_t: f64::NEG_INFINITY,
            last_fast_t: f64::NEG_INFINITY,
            top_stop_of: None,
            shake: shake::ShakeLog::default(),
            last_rest: None,
            rest_since: None,
            held_rest: None,
            no_neutral_since: None,
            recent: VecDeque::new(),
            replaying: false,
            wrong_way_since: None,
            shaky_neutral: false,
            stats: Stats::default(),
            impact_mps2: profile.reps.impact_g * STANDARD_GRAVITY,
            acc_norm_mean: STANDARD_GRAVITY,
            gravity_mps2: None,
            gravity_k: 1.0,
            placement,
            profile,
        }
    }

    /// The built-in profile for an exercise and placement.
    pub fn builtin(
        exercise: Exercise,
        placement: Placement,
        side: Side,
    ) -> Result<Self, profile::ProfileError> {
        Ok(Pipeline::new(Profile::builtin(exercise, placement)?, side))
    }

    /// The profile in use.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// What has been seen so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// What the last step produced (signal, angle, stillness), for
    /// diagnostics and plots. The first call turns the record on (from the
    /// next step); until then the pipeline does not keep it.
    pub fn probe(&mut self) -> Probe {
        *self.probe.get_or_insert_with(Probe::default)
    }

    /// True while a set is open (a rep has been counted and the gap has not passed).
    pub fn set_open(&self) -> bool {
        self.sets.open.is_some()
    }

    /// Feeds one sample; events go to `out`.
    ///
    /// Samples closer than 19 ms are averaged first ([`resample`]); a step
    /// is taken as soon as its last sample is in, so events come no later
    /// than the sample that completes them.
    pub fn push(&mut self, s: &Sample, out: &mut Vec<Event>) {
        let pushed = self.resampler.push(s, &mut self.stats);
        if let Some(step) = pushed.before {
            self.step(&step, out);
        }
        if pushed.gap {
            // A gap that cut a movement short may have taken a rep with it.
            let cut = self.detector.in_rep();
            let span = self.last_t.map_or(f64::INFINITY, |t| s.t - t);
            if span <= KEEP_TRACK_GAP_S {
                self.bridge_gap(out);
            } else {
                self.break_track(out);
            }
            if let (true, Some(from_s)) = (cut, self.last_t) {
                self.sets.note_gap(from_s, s.t);
            }
        }
        if s.t.is_finite() && self.last_t.is_none_or(|t| s.t > t) {
            self.last_t = Some(s.t);
        }
        if let Some(step) = pushed.after {
            self.step(&step, out);
        }
    }

    /// One step of the pipeline on an (averaged) sample.
    fn step(&mut self, step: &Step, out: &mut Vec<Event>) {
        let Step {
            sample: ref s,
            peak_acc,
            dt,
        } = *step;
        let raw_norm = s.acc.norm();
        let k = self.gravity_scale(s, raw_norm, dt);
        let s = &Sample {
            t: s.t,
            acc: s.acc * k,
            gyr: s.gyr,
        };
        let peak_acc = peak_acc * k;
        let acc_norm = raw_norm * k;
        if self.profile.sets.shake_max_mps2 > 0.0 {
            self.shake.push(s.t, acc_norm - STANDARD_GRAVITY);
        }
        let lenient_after = self.profile.still.lenient_after_s;
        if lenient_after > 0.0 {
            if self.neutral.inv().is_some() {
                self.no_neutral_since = None;
            } else if self.attitude.is_initialized() {
                self.no_neutral_since.get_or_insert(s.t);
            }
            self.still.set_lenient(
                self.no_neutral_since
                    .is_some_and(|t0| s.t - t0 >= lenient_after),
            );
        }
        let still = self.still.update_normed(s.t, &s.acc, acc_norm, &s.gyr, dt);
        let rate = s.gyr - self.still.bias();
        if self.profile.still.tilt_gain > 0.0 {
            // Until a rest has taught the gyro bias, gravity is the better
            // judge of a slowly moving pelvis' tilt; after, the gyro.
            self.attitude.set_kp_slow(if self.still.settled() {
                attitude::KP_SLOW
            } else {
                self.profile.still.tilt_gain
            });
        }
        self.attitude
            .update_normed(&rate, &s.acc, acc_norm, dt, still);
        if self.profile.reps.signal == RepSignal::Rotation {
            let up = attitude::up_in_body(&self.attitude.orientation());
            let acc = s.acc - up * STANDARD_GRAVITY;
            self.sets.swings.push(s.t, &rate, &acc, &up);
        }
        if !self.attitude.is_initialized() {
            return;
        }
        if self.relevel_after_gap {
            // Across a short gap the leg turned unseen: the tilt is taken
            // again from gravity (the turn about the vertical is not known
            // and kept), unless the sample is itself far from one g.
            self.relevel_after_gap = false;
            if (acc_norm - STANDARD_GRAVITY).abs() < RELEVEL_ACC_TOLERANCE * STANDARD_GRAVITY {
                self.attitude.snap_to_gravity(&s.acc);
            }
        }
        let in_rep = self.detector.in_rep();
        if still && !in_rep && self.neutral.inv().is_none() && self.attitude.snap_to_gravity(&s.acc)
        {
            // Before the first neutral, the tilt may still be far off (it
            // started from a sample in motion): what was recorded from it
            // would pass for a rep.
            self.neutral.clear();
        }
        let q = self.attitude.orientation();
        self.neutral.record(s.t, q);
        if still {
            let rest = Rest {
                since: *self.rest_since.get_or_insert(s.t),
                t: s.t,
                q,
            };
            self.last_rest = Some(rest);
            if rest.held_s() >= HELD_REST_S {
                self.held_rest = Some(rest);
            }
        } else {
            self.rest_since = None;
        }

        if still && !in_rep {
            // The pelvis count runs on obliquity less its resting level, so a
            // pelvis neutral is only worth re-taking from a rest the gyro can
            // vouch for: before its bias is known, a slow rep passes for rest.
            let frozen = self.placement == Placement::Pelvis
                && self.neutral.inv().is_some()
                && (self.sets.open.is_some() || !self.still.settled());
            if !frozen {
                if self.neutral.inv().is_none() {
                    self.detector.reset();
                    self.counted.reset_level();
                }
                self.neutral.take_delayed();
                self.shaky_neutral = self.still.shaky();
                // A new neutral moves the obliquity it is measured from.
                self.counted.rebase();
            }
        }
        if self.neutral.inv().is_none() && self.placement == Placement::Pelvis {
            // The pelvis count runs on obliquity less its own resting level, so
            // any upright reference will do until a rest gives a better one.
            self.detector.reset();
            self.counted.reset_level();
            self.neutral.take_now(q);
        }
        let Some(neutral_inv) = self.neutral.inv() else {
            self.close_set_if_due(s.t, out);
            return;
        };
        let reading = match &mut self.counted {
            Counted::Rotation(r) => r.read(&(neutral_inv * q)),
            Counted::Obliquity(o) => Ok(o.read(&neutral_inv, &q, still, in_rep, dt)),
        };
        let Reading {
            signal,
            angle,
            rotation,
        } = match reading {
            Ok(r) => r,
            Err(TooFar(angle)) => {
                // Turning round (the rotation is off the plane of the set):
                // drop any open movement and wait for a new rest.
                if let Some(outcome) = self.detector.push(angle, false, false, TracePoint::at(s.t))
                {
                    self.handle(outcome, out);
                }
                self.detector.reset();
                self.neutral.forget();
                if let Some(held) = self.held_rest_within(s.t).filter(|held| {
                    (held.q.inverse() * q).angle().to_degrees() < self.profile.reps.max_peak_deg
                }) {
                    // Lying down or sitting into the machine, the leg
                    // rested in the new posture and the set began without
                    // another rest: that posture is the neutral, or reps
                    // done back to back go unseen to the end of the set.
                    // What was done from it since (the first rep's rise)
                    // is counted from it. The set is doubted all the same:
                    // a first rep begun as the leg came into place may
                    // have gone unseen.
                    self.neutral.take_now(held.q);
                    self.sets.note_moving_neutral(s.t);
                    if !self.replaying {
                        self.replay(held.t, out);
                    }
                }
                self.close_set_if_due(s.t, out);
                return;
            }
        };
        if self.held_the_wrong_way(s.t, signal, in_rep) {
            // The pelvis has sat the other way from every rep for
            // WRONG_WAY_S: the clip was re-clipped or the belt shifted and
            // the sensor never rested to show it. Where it sits is the
            // new neutral, or every rep after is measured from the old
            // one and never reaches a rep's depth.
            self.detector.reset();
            self.counted.reset_level();
            self.neutral.take_now(q);
            self.counted.rebase();
            self.close_set_if_due(s.t, out);
            return;
        }
        if !in_rep {
            self.noise_ms +=
                (signal * signal - self.noise_ms) * (dt * (1.0 / NOISE_TAU_S)).min(1.0);
        }
        let rate_norm = rate.norm();
        let impact = self.jolt(s.t, dt, peak_acc, acc_norm, rate_norm, angle, &rotation);
        if let Some(probe) = self.probe.as_mut() {
            *probe = Probe {
                t: s.t,
                signal,
                angle,
                still,
                in_rep,
                bias: self.still.bias(),
            };
        }
        if still && self.rested_elsewhere(s.t, angle, &rotation, out) {
            return;
        }
        let point = TracePoint {
            t: s.t,
            x: 0.0,
            angle,
            rotation,
            rate: rate_norm,
            still,
        };
        self.recent.push_back(Recent {
            q,
            signal,
            impact,
            point,
        });
        let keep = self.profile.reps.max_duration_s + REPLAY_KEEP_S;
        while self.recent.front().is_some_and(|r| r.point.t < s.t - keep) {
            self.recent.pop_front();
        }
        if let Some(outcome) = self.detector.push(signal, impact, still, point) {
            self.handle(outcome, out);
        }
        self.after_push(s.t, dt, still, point, out);
        self.close_set_if_due(s.t, out);
    }

    /// Ankle: counts again, from the neutral just taken at the held rest of
    /// `from` (s), the steps since. A movement given up for not coming back
    /// ran from the old neutral through a posture held and on into reps
    /// done from that posture (sitting into the machine and starting at
    /// once); measured from the posture, those reps come back.
    fn replay(&mut self, from: f64, out: &mut Vec<Event>) {
        let Some(neutral_inv) = self.neutral.inv() else {
            return;
        };
        let Counted::Rotation(reader) = &self.counted else {
            return;
        };
        let steps = self
            .recent
            .iter()
            .filter(|r| r.point.t > from)
            .map_while(|r| {
                let reading = reader.read(&(neutral_inv * r.q)).ok()?;
                let point = TracePoint {
                    angle: reading.angle,
                    rotation: reading.rotation,
                    ..r.point
                };
                Some((reading.signal, r.impact, point))
            })
            .collect();
        self.push_again(steps, out);
    }

    /// Runs the detector afresh over `steps` (each the signal it is given,
    /// whether the step was a jolt, and its point), as if they came now:
    /// the loop [`Pipeline::replay`] and [`Pipeline::relevel`] share.
    fn push_again(&mut self, steps: Vec<(f64, bool, TracePoint)>, out: &mut Vec<Event>) {
        self.replaying = true;
        self.detector.reset();
        for (signal, impact, point) in steps {
            if let Some(outcome) = self.detector.push(signal, impact, point.still, point) {
                self.handle(outcome, out);
            }
            self.after_push(point.t, 0.0, point.still, point, out);
        }
        self.replaying = false;
    }

    /// Pelvis, profiles counting one way (`reps.direction` up or down: the
    /// hip hitch; abduction at the pelvis counts either way and is left
    /// alone): a movement given up for not coming back (`start_s` to
    /// `end_s`) that came back, once or more, to one level beyond the
    /// resting one was reps measured from a level taken where the pelvis
    /// was held (a hitch's hike above level held for a few seconds, taken
    /// for the new level): they are counted again from the level they came
    /// back to. That level stands until the first step after the replay
    /// with no rep in progress, where it is re-taken as after any movement
    /// given up (measured: the same counts as keeping it). True when so; the
    /// set they join is doubted ([`certainty::relevelled`]). Measured on
    /// every corpus in session 33: 17 hip-hitch sets made exact, 4 made
    /// wrong (all of them doubted), no set made sure by it.
    fn relevel(&mut self, start_s: f64, end_s: f64, out: &mut Vec<Event>) -> bool {
        if self.replaying || self.profile.reps.signal != RepSignal::Obliquity || end_s <= start_s {
            return false;
        }
        let dir = match self.profile.reps.direction {
            RepDirection::Up => 1.0,
            RepDirection::Down => -1.0,
            RepDirection::Either => return false,
        };
        let steps: Vec<Recent> = self
            .recent
            .iter()
            .filter(|r| r.point.t >= start_s)
            .copied()
            .collect();
        if steps.first().is_none_or(|r| r.point.t > start_s + 1.0) {
            return false;
        }
        let xs: Vec<f64> = steps.iter().map(|r| dir * r.signal).collect();
        let Some(shift) = reps::return_level(&xs, self.profile.reps.enter_deg) else {
            return false;
        };
        // Only if a dry run finds a rep from there, or ends in one that has
        // come back (a long hold at the depth of a rep comes back to a
        // level too, and is still no rep). The dry run does not rescale
        // the detector to the set's reps as the replay does: the two may
        // rarely disagree, and the set is doubted either way.
        let mut dry = self.detector.clone();
        dry.reset();
        let reps_found = steps
            .iter()
            .filter_map(|r| dry.push(r.signal - dir * shift, r.impact, r.point.still, r.point))
            .filter(|outcome| matches!(outcome, RepOutcome::Rep(_)))
            .count();
        if reps_found == 0 && !dry.has_returned() {
            return false;
        }
        self.sets.note_relevel(start_s, end_s, shift);
        let steps = steps
            .iter()
            .map(|r| (r.signal - dir * shift, r.impact, r.point))
            .collect();
        self.push_again(steps, out);
        self.counted.shift_level(dir * shift);
        self.counted.rebase();
        true
    }

    /// Learns what this accelerometer reads for 1 g while the gyro is quiet,
    /// and returns the factor that brings its readings to standard gravity.
    ///
    /// The factor is kept, and divided out again only on the steps that move
    /// the 1 g estimate (the sensor quiet, its reading in range): a
    /// division at every step sat ahead of everything the step does.
    /// Stage: what follows the detector's step: a pelvis movement that
    /// rests away from where it began is a new stance; a closed pelvis rep
    /// collects its flag tail; a rep that has come back is announced.
    fn after_push(
        &mut self,
        t: f64,
        dt: f64,
        still: bool,
        point: TracePoint,
        out: &mut Vec<Event>,
    ) {
        if self.profile.reps.signal == RepSignal::Obliquity {
            self.rest_in_rep_s = if still && self.detector.in_rep() && !self.detector.has_returned()
            {
                self.rest_in_rep_s + dt
            } else {
                0.0
            };
            if self.rest_in_rep_s > self.profile.reps.stale_rest_s {
                // The pelvis rests away from where the movement began: a new
                // stance after walking or turning, not a rep that will return.
                self.detector.reset();
                self.rest_in_rep_s = 0.0;
                self.handle(RepOutcome::Rejected(Rejection::NoReturn, t, t, 0.0), out);
            }
        }
        if let Some(p) = self.pending.as_mut() {
            if self.detector.in_rep() {
                // The next rep began: the tail ends here.
                self.flush_pending(out);
            } else {
                p.tail.push(point);
                if t >= p.until {
                    self.flush_pending(out);
                }
            }
        }
        if let Some((start_s, end_s, peak_deg)) = self.detector.returned() {
            if self.announced_return != Some(start_s) {
                self.announced_return = Some(start_s);
                out.push(Event::RepReturned {
                    set_number: self.sets.sets_done + 1,
                    number: self.sets.open.as_ref().map_or(0, |o| o.reps.len()) + 1,
                    start_s,
                    end_s,
                    peak_deg,
                });
            }
        }
    }

    /// Stage: the sensor rests, in a movement, somewhere no rep ends: past
    /// the top of any rep, or lowered past the neutral. Either is the new
    /// rest, not a rep; returns whether the step ends here.
    fn rested_elsewhere(
        &mut self,
        t: f64,
        angle: f64,
        rotation: &Vector3<f64>,
        out: &mut Vec<Event>,
    ) -> bool {
        if self.detector.in_rep() && self.rested_past_any_top(angle) {
            // At rest farther from the neutral than the top of any rep: a
            // new posture (lying down on the mat, getting up), not a rep.
            // Like turning round, it is no lost rep; and whatever set was
            // open has ended.
            let start_s = self.detector.start_t().unwrap_or(t);
            self.detector.reset();
            self.handle(
                RepOutcome::Rejected(Rejection::TooLarge, start_s, t, angle),
                out,
            );
            self.neutral.take_delayed();
            if self.sets.open.is_some() {
                self.close_set(out);
            }
            return true;
        }
        if self.detector.in_rep() && self.turned_in_place(angle, rotation) {
            // At rest turned about the vertical, no set open: the lifter
            // turned in place (to face the stack after drinking, after the
            // phone); no rep of a level-axis exercise rests there. The new
            // rest is the neutral, or the set that follows is one movement
            // that never comes back.
            self.detector.reset();
            self.neutral.take_delayed();
            self.close_set_if_due(t, out);
            return true;
        }
        if self.detector.in_rep() && self.lowered_past_neutral(rotation) {
            // At rest beyond the neutral, the other way from every rep of
            // the set: the neutral was taken with the leg still raised (a
            // rest with the cable kept taut) and it has now been lowered all
            // the way. That is the new rest, not a rep.
            if self.detector.has_returned() {
                // A rep already back (a profile that lets reps settle):
                // it stands; only what came after it goes.
                if let Some(outcome) = self.detector.finish() {
                    self.handle(outcome, out);
                }
            }
            self.detector.reset();
            self.neutral.take_delayed();
            self.close_set_if_due(t, out);
            return true;
        }
        false
    }

    /// Stage: whether this step is a jolt (a foot strike, hands on the
    /// sensor) that no rep may start or run through. `peak_acc` is the
    /// step's largest |acc|, `acc_norm` its mean (m/s²); `angle` and
    /// `rotation` the counted reading. Keeps the mean |acc| a strike
    /// stands out from.
    #[allow(clippy::too_many_arguments)]
    fn jolt(
        &mut self,
        t: f64,
        dt: f64,
        peak_acc: f64,
        acc_norm: f64,
        rate_norm: f64,
        angle: f64,
        rotation: &Vector3<f64>,
    ) -> bool {
        // A foot strike jolts a sensor that is hardly turning; a fast swing
        // of the leg (a momentum rep) loads the ankle as much, but while
        // turning fast.
        let mut impact = match self.profile.reps.signal {
            // The pelvis never swings fast: every jolt counts, and so does
            // a turn only hands (or turning round) can make.
            RepSignal::Obliquity => {
                peak_acc - self.acc_norm_mean > self.impact_mps2
                    || rate_norm > self.profile.reps.handling_dps
            }
            RepSignal::Rotation => {
                let max_rate = self.profile.reps.impact_max_rate_dps;
                let jolt = peak_acc - self.acc_norm_mean > self.impact_mps2;
                if rate_norm >= max_rate {
                    self.last_fast_t = t;
                }
                // A thrown rep stopped at the top of its range (the cable's
                // end, the machine's stop) turns fast until the jolt and is
                // raised as far as the set's reps; a foot strike lands the
                // foot.
                let impact = jolt && rate_norm < max_rate;
                let stopped_at_top = impact
                    && self.detector.in_rep()
                    && t - self.last_fast_t < TOP_STOP_S
                    && self.sets.open.as_ref().is_some_and(|set| {
                        !set.reps.is_empty()
                            && angle
                                > TOP_STOP_FRACTION
                                    * sets::median_peak(&set.reps)
                            // About the reps' axis: a stride turns the shank
                            // about another.
                            && along_reps(&set.reference, rotation, angle)
                    });
                if stopped_at_top {
                    // Judged when the movement ends (`accept`).
                    self.top_stop_of = self.detector.start_t();
                    false
                } else {
                    impact && !self.landed_rep()
                }
            }
        };
        if impact {
            self.last_impact_t = t;
        } else if self.profile.reps.signal == RepSignal::Obliquity
            && t - self.last_impact_t < self.profile.reps.impact_holdoff_s
        {
            // Walking: the pelvis rocks between foot strikes; no rep starts
            // until the steps have stopped.
            impact = !self.detector.in_rep();
        }
        self.acc_norm_mean +=
            (acc_norm - self.acc_norm_mean) * (dt * (1.0 / IMPACT_TAU_S)).min(1.0);
        impact
    }

    /// Ankle: whether the movement open when a jolt came is a rep of the
    /// open set brought down hard (a momentum rep swung back to the floor,
    /// the stack landing): it went as far as the set's reps, about their
    /// axis. A stride turns the shank about another axis, and a shuffle
    /// goes nowhere near as far.
    fn landed_rep(&self) -> bool {
        let (Some(set), Some(peak)) = (self.sets.open.as_ref(), self.detector.peak_point()) else {
            return false;
        };
        set.reps.len() >= LANDED_MIN_REPS
            && peak.angle >= LANDED_FRACTION * sets::median_peak(&set.reps)
            && along_reps(&set.reference, &peak.rotation, peak.angle)
    }

    fn gravity_scale(&mut self, s: &Sample, norm: f64, dt: f64) -> f64 {
        let lo = (1.0 - GRAVITY_SCALE_MAX) * STANDARD_GRAVITY;
        let hi = (1.0 + GRAVITY_SCALE_MAX) * STANDARD_GRAVITY;
        let quiet_dps = self.profile.still.gyro_abs_dps;
        let Some(g) = self.gravity_mps2 else {
            if (lo..hi).contains(&norm) {
                self.gravity_mps2 = Some(norm);
                self.gravity_k = STANDARD_GRAVITY / norm;
            }
            return self.gravity_k;
        };
        if (lo..hi).contains(&norm)
            && (s.gyr - self.still.bias()).norm_squared() < quiet_dps * quiet_dps
        {
            let g = g + (norm - g) * (dt * (1.0 / GRAVITY_TAU_S)).min(1.0);
            self.gravity_mps2 = Some(g);
            self.gravity_k = STANDARD_GRAVITY / g;
        }
        self.gravity_k
    }

    /// Ends the stream: closes a rep that has returned and the open set.
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        if let Some(step) = self.resampler.flush() {
            self.step(&step, out);
        }
        if let Some(outcome) = self.detector.finish() {
            self.handle(outcome, out);
        }
        self.close_set(out);
    }

    /// A short gap ([`KEEP_TRACK_GAP_S`]): the open movement ends there; the
    /// track and the neutral are kept, the tilt re-taken after it.
    fn bridge_gap(&mut self, out: &mut Vec<Event>) {
        self.close_movement(out);
        self.still.interrupt();
        self.relevel_after_gap = true;
    }

    /// A long gap: the movement ends there and everything starts afresh.
    fn break_track(&mut self, out: &mut Vec<Event>) {
        self.close_movement(out);
        self.attitude.reset();
        self.still.interrupt();
        self.neutral.clear();
        self.last_rest = None;
        self.rest_since = None;
        self.held_rest = None;
        self.recent.clear();
    }

    /// Ends the open movement (a rep if it was one) and accepts the rep
    /// waiting for its flag tail.
    fn close_movement(&mut self, out: &mut Vec<Event>) {
        if let Some(outcome) = self.detector.finish() {
            self.handle(outcome, out);
        }
        self.flush_pending(out);
    }

    /// Accepts the rep waiting for its flag tail.
    fn flush_pending(&mut self, out: &mut Vec<Event>) {
        if let Some(p) = self.pending.take() {
            self.accept(p.rep, &p.tail, out);
        }
    }

    fn handle(&mut self, outcome: RepOutcome, out: &mut Vec<Event>) {
        match outcome {
            RepOutcome::Rep(trace) => {
                self.flush_pending(out);
                let tail_s = self.profile.flags.tail_s;
                if self.profile.reps.signal == RepSignal::Obliquity && tail_s > 0.0 {
                    self.pending = Some(PendingRep {
                        until: trace.end_t + tail_s,
                        rep: trace,
                        tail: Vec::new(),
                    });
                } else {
                    self.accept(trace, &[], out);
                }
            }
            RepOutcome::Rejected(why, start_s, end_s, size) => {
                if why == Rejection::NoReturn && self.relevel(start_s, end_s, out) {
                    return;
                }
                let step = self.sets.is_step(start_s, end_s, size, false);
                // Turning round and walking are not lost reps; a jolt is
                // doubted only inside a set (see `SetAside::jolted`).
                if !step && why != Rejection::TooLarge {
                    self.sets
                        .set_aside(start_s, end_s, size, why == Rejection::Impact);
                }
                let i = match why {
                    Rejection::TooShort => 0,
                    Rejection::TooSmall => 1,
                    Rejection::NoReturn => 2,
                    Rejection::TooLarge => 3,
                    Rejection::Impact => 4,
                    Rejection::Interrupted => 5,
                };
                self.stats.not_reps[i] += 1;
                let mut replay_from = None;
                if matches!(why, Rejection::NoReturn | Rejection::TooLarge) {
                    // Turning round, re-strapping: the old neutral is stale.
                    self.neutral.forget();
                    if let (Rejection::NoReturn, RepSignal::Rotation) =
                        (why, self.profile.reps.signal)
                    {
                        // A posture held too long to be a rep (sitting on
                        // the bench, a foot up): where it rested is the new
                        // neutral. Waiting for a rest instead loses a set
                        // begun at once, by a lifter whose tremor or sway
                        // never rests between reps. A rest held is that
                        // posture; the last still instant may be the pause
                        // at the top of the set's first rep.
                        // Or a posture held during the movement itself: a
                        // lifter settled on the bed 27° from the last rest
                        // and repped from there without coming back to it.
                        let held = self
                            .held_rest_within(end_s)
                            .or_else(|| self.held_rest.filter(|held| held.t >= start_s));
                        let last = self
                            .last_rest
                            .filter(|rest| end_s - rest.t <= NO_RETURN_REST_S);
                        if let Some(rest) = held.or(last) {
                            self.neutral.take_now(rest.q);
                            if rest.since - start_s > ARRIVAL_MAX_S {
                                // As when the leg came into a new posture
                                // with no rest (above): the movement held
                                // too long went on past the leg's arrival
                                // before this rest, and a set begun there
                                // may have its first rep inside it, unseen
                                // (effort, session 31: a step into place, a
                                // rep from there, a rest, then the timeout).
                                // If only the arrival came before the rest,
                                // no rep can hide there, however short the
                                // rest.
                                self.sets.note_moving_neutral(rest.t);
                            }
                        }
                        // Counted again from the posture held (below).
                        replay_from = held.map(|rest| rest.t);
                    }
                }
                if why == Rejection::TooLarge
                    && self.profile.reps.signal == RepSignal::Rotation
                    && self.sets.open.is_some()
                {
                    // Lying down, rolling over, getting up, re-strapping:
                    // whatever set was open is over, and the next rep is
                    // judged on its own, not against that set's axis.
                    self.close_set(out);
                }
                if matches!(
                    why,
                    Rejection::NoReturn | Rejection::TooLarge | Rejection::Impact
                ) {
                    // Whatever level the pelvis came to rest at is the new one.
                    self.counted.rebase();
                }
                if let Some(from) = replay_from.filter(|_| !self.replaying) {
                    self.replay(from, out);
                }
            }
        }
    }

    /// The last rest held [`HELD_REST_S`], if it ended within
    /// [`NO_RETURN_HELD_S`] before `t` (s): the posture the sensor came to
    /// on its way to wherever it is now.
    fn held_rest_within(&self, t: f64) -> Option<Rest> {
        self.held_rest.filter(|held| t - held.t <= NO_RETURN_HELD_S)
    }

    fn close_set(&mut self, out: &mut Vec<Event>) {
        self.flush_pending(out);
        let dropped = self.sets.close(out);
        self.stats.not_reps[1] += dropped as u64;
        self.detector.set_set_size(None);
    }

    fn close_set_if_due(&mut self, t: f64, out: &mut Vec<Event>) {
        let due = self.sets.gap_exceeded(t, None)
            && !self.detector.in_rep()
            // A rep waiting for its flag tail is judged when it joins.
            && self.pending.is_none();
        if due {
            self.close_set(out);
        }
    }

    /// Ankle: how far `rotation` (°) goes along the open set's rep axis,
    /// once two reps have given the axis.
    fn along_set_axis(&self, rotation: &Vector3<f64>) -> Option<f64> {
        if self.profile.reps.signal != RepSignal::Rotation {
            return None;
        }
        let r = &self.sets.open.as_ref()?.reference;
        r.along_axis(rotation).filter(|_| r.axis_known())
    }

    /// Ankle: whether `rotation` (from the neutral, in the neutral's frame)
    /// turns less about the vertical than `reps.vertical_axis_min` of it.
    fn off_vertical(&self, rotation: &Vector3<f64>) -> bool {
        let min = self.profile.reps.vertical_axis_min;
        let Some(neutral_inv) = self.neutral.inv() else {
            return false;
        };
        if min <= 0.0 || self.profile.reps.signal != RepSignal::Rotation {
            return false;
        }
        // World up, seen from the neutral the rotation is measured from.
        let up = attitude::up_in_body(&neutral_inv.inverse());
        rotation.dot(&up).abs() < min * rotation.norm()
    }

    /// A movement about the wrong axis is not a rep: counted as such and
    /// set aside (a doubt if a set forms around it).
    fn set_aside_off_axis(&mut self, rep: &RepTrace, peak_deg: f64) {
        self.stats.not_reps[1] += 1;
        self.sets.set_aside(rep.start_t, rep.end_t, peak_deg, false);
    }

    /// Ankle: whether a rest `angle` (°) from the neutral lies past
    /// `reps.rest_max_deg`.
    fn rested_past_any_top(&self, angle: f64) -> bool {
        let max = self.profile.reps.rest_max_deg;
        self.profile.reps.signal == RepSignal::Rotation && max > 0.0 && angle > max
    }

    /// Ankle, a level-axis exercise with no set open: whether `rotation`
    /// (from the neutral, °; `angle` its size) lies about the vertical
    /// ([`TURN_IN_PLACE_AXIS`]): the lifter turned in place.
    fn turned_in_place(&self, angle: f64, rotation: &Vector3<f64>) -> bool {
        self.profile.reps.level_axis
            && self.sets.open.is_none()
            && angle > self.profile.reps.enter_deg
            && self.neutral.inv().is_some_and(|n| {
                let up = n.transform_vector(&Vector3::z());
                rotation.dot(&up).abs() > TURN_IN_PLACE_AXIS * angle
            })
    }

    /// Ankle: whether `rotation` (from the neutral, °) goes back along the
    /// open set's rep axis by more than `enter_deg`.
    /// Pelvis, a rep that drops the free side (hip hitch): whether the
    /// signal has stayed past `reps.enter_deg` the other way, no rep open,
    /// for [`WRONG_WAY_S`]; keeps the time it went there.
    fn held_the_wrong_way(&mut self, t: f64, signal: f64, in_rep: bool) -> bool {
        if self.profile.reps.direction != profile::RepDirection::Down
            || in_rep
            || signal <= self.profile.reps.enter_deg
        {
            self.wrong_way_since = None;
            return false;
        }
        let since = *self.wrong_way_since.get_or_insert(t);
        if t - since <= WRONG_WAY_S {
            return false;
        }
        self.wrong_way_since = None;
        true
    }

    fn lowered_past_neutral(&self, rotation: &Vector3<f64>) -> bool {
        self.along_set_axis(rotation)
            .is_some_and(|along| along < -self.profile.reps.enter_deg)
    }

    fn accept(&mut self, rep: RepTrace, tail: &[TracePoint], out: &mut Vec<Event>) {
        // Whatever movement the let-through was for, it ends here.
        let top_stop = self.top_stop_of.take();
        if self.shaky_neutral {
            self.sets.note_shaky(rep.start_t);
        }
        let trace = &rep.trace;
        let (peak_deg, peak_rotation, peak_t) = match self.profile.reps.signal {
            RepSignal::Rotation => trace
                .iter()
                .max_by(|a, b| a.angle.total_cmp(&b.angle))
                .map(|p| (p.angle, p.rotation, p.t))
                .unwrap_or((rep.peak_x, Vector3::zeros(), rep.peak_t)),
            RepSignal::Obliquity => (
                trace.iter().map(|p| p.angle.abs()).fold(0.0, f64::max),
                Vector3::zeros(),
                rep.peak_t,
            ),
        };
        if peak_deg > self.profile.reps.max_peak_deg {
            // The signal stayed within range of its resting level, but the
            // sensor went far from the set's neutral: rolling over, a
            // re-strap. Not a rep, and (like any movement too large) no lost
            // rep either; the neutral is stale.
            self.handle(
                RepOutcome::Rejected(Rejection::TooLarge, rep.start_t, rep.end_t, peak_deg),
                out,
            );
            return;
        }
        if top_stop == Some(rep.start_t)
            && self.sets.open.as_ref().is_some_and(|set| {
                rep.end_t - rep.start_t > TOP_STOP_LENGTH * sets::median_length(&set.reps)
            })
        {
            // Let through a jolt as a rep stopped at the top, the movement
            // went on longer than the set's reps: a shuffle or a stride,
            // the foot struck. The whole movement is thrown out for the
            // jolt (without the let-through it would have ended there).
            self.handle(
                RepOutcome::Rejected(Rejection::Impact, rep.start_t, rep.end_t, peak_deg),
                out,
            );
            return;
        }
        if self.profile.reps.signal == RepSignal::Rotation
            && steady_humps(&hump_tops(trace, HUMP_DEPTH * peak_deg))
        {
            // Up and down again and again without coming back to rest: a
            // shuffle or a run of steps sideways, not a rep.
            self.set_aside_off_axis(&rep, peak_deg);
            return;
        }
        if self.off_vertical(&peak_rotation) {
            // The shank turned about a level axis in an exercise whose reps
            // turn it about the vertical: a step, standing up, a swing.
            self.set_aside_off_axis(&rep, peak_deg);
            return;
        }
        // A quick movement about the axis of a set of slower reps is a rep
        // done fast (momentum reps may come in a run at the end of a set),
        // not a step of a walk.
        let step_max_s = self.profile.sets.step_max_s;
        let on_axis = self.sets.open.as_ref().is_some_and(|set| {
            let slow = set
                .reps
                .iter()
                .filter(|r| r.end_s - r.start_s >= step_max_s)
                .count();
            slow >= 2 && along_reps(&set.reference, &peak_rotation, peak_rotation.norm())
        });
        if on_axis {
            self.sets.not_a_step();
        } else if self.sets.is_step(rep.start_t, rep.end_t, peak_deg, true) {
            if let Some(unit) = peak_rotation.try_normalize(1e-9) {
                self.sets
                    .learn_stride(unit, peak_deg, rep.start_t, rep.end_t);
            }
            // A step of a walk (and the steps before it, taken out of the
            // open set): the walk ends whatever set was open.
            self.stats.not_reps[4] += 1;
            if self.sets.open.is_some() {
                self.close_set(out);
            }
            return;
        }
        let near_peak = 0.9 * rep.peak_x;
        let first = trace
            .iter()
            .find(|p| p.x >= near_peak)
            .map_or(rep.peak_t, |p| p.t);
        let last = trace
            .iter()
            .rev()
            .find(|p| p.x >= near_peak && p.t <= rep.end_t)
            .map_or(rep.peak_t, |p| p.t);

        let noise_rms = self.noise_ms.sqrt();
        if self
            .sets
            .gap_exceeded(rep.start_t, Some((peak_deg, rep.end_t - rep.start_t)))
        {
            // This rep came too late to belong to the open set.
            self.close_set(out);
        }
        if let Some(along) = self.along_set_axis(&peak_rotation) {
            // A movement far smaller than the set's reps must keep closer to
            // their axis (within ~45°): a partial rep does, settling the
            // leg after the set turns it every which way.
            let small = self.sets.open.as_ref().is_some_and(|set| {
                peak_deg < self.profile.sets.unlike_edge_fraction * sets::median_peak(&set.reps)
            });
            let share = if small {
                SMALL_ON_AXIS.max(self.profile.reps.off_axis_fraction)
            } else {
                self.profile.reps.off_axis_fraction
            };
            if along < share * peak_rotation.norm() {
                // Turning about another axis than every rep of the set
                // (a shank roll, settling the leg): not a rep.
                self.set_aside_off_axis(&rep, peak_deg);
                return;
            }
        }
        if let Some(set) = self.sets.open.as_ref() {
            let fraction = self.profile.reps.rebound_fraction;
            let within = self.profile.reps.rebound_s;
            // Only a rep let go on the way down bounces.
            let let_go = set.reps.last().is_some_and(|last| {
                last.eccentric_s
                    < REBOUND_LET_GO * sets::median(set.reps.iter().map(|r| r.eccentric_s))
            });
            if fraction > 0.0
                && set.reps.len() >= 2
                && let_go
                && rep.start_t - set.last_end < within
                && rep.end_t - rep.start_t < within
                && peak_deg < fraction * sets::median_peak(&set.reps)
            {
                // The leg bouncing back off the bottom of the rep before:
                // part of that rep.
                self.stats.not_reps[1] += 1;
                return;
            }
            if self.profile.reps.signal == RepSignal::Rotation
                && !set.reps.is_empty()
                && peak_deg < TINY_FRACTION * sets::median_peak(&set.reps)
            {
                // Far smaller than every rep of the set: the leg settling,
                // the other leg's rep felt through the body, not a rep.
                self.stats.not_reps[1] += 1;
                self.sets.set_aside(rep.start_t, rep.end_t, peak_deg, false);
                return;
            }
            let aborted = self.profile.reps.aborted_fraction;
            let length = self.profile.reps.aborted_length;
            if aborted > 0.0
                && self.profile.reps.signal == RepSignal::Rotation
                && set.reps.len() >= 3
                && peak_deg < aborted * sets::median_peak(&set.reps)
                && rep.end_t - rep.start_t < length * sets::median_length(&set.reps)
            {
                // A rep begun and given up: part-way up and straight back,
                // quicker than the set's reps. Kept aside, so the set's
                // certainty still hears of it.
                self.stats.not_reps[1] += 1;
                self.sets.set_aside(rep.start_t, rep.end_t, peak_deg, false);
                return;
            }
        }
        // After a pause of more than LATE_GAP times the set's usual one, a
        // movement farther off the set's axis than its reps keep: changing
        // the pin or shifting in the seat once the set is done, unless an
        // on-axis rep follows it (then a rep after a rest).
        let late_odd = self.sets.open.as_ref().is_some_and(|set| {
            set.reps.len() >= 3
                && rep.start_t - set.last_end
                    > LATE_GAP * sets::median_pause(&set.reps).max(LATE_MIN_PAUSE_S)
        }) && self
            .along_set_axis(&peak_rotation)
            .is_some_and(|along| along < LATE_ON_AXIS * peak_rotation.norm());
        let set = self
            .sets
            .open
            .get_or_insert_with(|| OpenSet::new(rep.start_t, rep.end_t, noise_rms));
        let mut flags = Vec::new();
        match self.profile.reps.signal {
            RepSignal::Rotation => {
                let in_plane = flags::ankle_flags(
                    &self.profile.flags,
                    trace,
                    peak_deg,
                    peak_t,
                    &mut set.reference,
                    &mut flags,
                );
                if let Some(unit) = peak_rotation.try_normalize(1e-9).filter(|_| in_plane) {
                    // Weighted by size: a small stray movement barely turns the axis.
                    set.reference.learn_axis(unit, peak_deg, rep.start_t);
                }
            }
            RepSignal::Obliquity => {
                if tail.is_empty() {
                    flags::pelvic_flags(&self.profile.flags, trace, &mut flags)
                } else {
                    let whole: Vec<TracePoint> = trace.iter().chain(tail).copied().collect();
                    flags::pelvic_flags(&self.profile.flags, &whole, &mut flags)
                }
            }
        }
        let r = Rep {
            number: set.reps.len() + 1,
            start_s: rep.start_t,
            end_s: rep.end_t,
            peak_deg,
            concentric_s: (first - rep.start_t).max(0.0),
            pause_s: (last - first).max(0.0),
            eccentric_s: (rep.end_t - last).max(0.0),
            flags,
        };
        if let Some(rms) = self.shake.rms(rep.start_t, rep.end_t) {
            set.shakes.push((rep.start_t, rms));
        }
        set.levels.push(certainty::RepLevel {
            start_s: rep.start_t,
            base: rep.peak_x - rep.size,
            size: rep.size,
            rested_high: rep.rested_high,
        });
        set.last_end = rep.end_t;
        set.late_odd_start_s = late_odd.then_some(rep.start_t);
        set.reps.push(r.clone());
        if set.reps.len() >= 2 {
            // Kept here, not worked out per sample: the set's end is checked
            // on every sample.
            let mut d: Vec<f64> = set
                .reps
                .windows(2)
                .map(|w| w[1].start_s - w[0].start_s)
                .collect();
            d.sort_by(f64::total_cmp);
            set.median_interval_s = d[d.len() / 2];
        }
        let main_way = if self.profile.reps.direction == RepDirection::Down {
            -1.0
        } else {
            1.0
        };
        if rep.sign == main_way {
            set.sizes.push(rep.size);
        }
        if set.sizes.len() >= 3 {
            let mut v = set.sizes.clone();
            v.sort_by(f64::total_cmp);
            self.detector.set_scale(Some(v[v.len() / 2]));
        }
        if set.reps.len() >= 3 {
            self.detector
                .set_set_size(Some(sets::median_peak(&set.reps)));
        }
        if self.profile.reps.signal == RepSignal::Rotation && set.reps.len() >= 3 {
            // Like the scale, the lifter's tempo carries over to the next set.
            self.detector
                .set_rep_length(Some(sets::median_length(&set.reps)));
        }
        out.push(Event::Rep {
            set_number: self.sets.sets_done + 1,
            rep: r,
        });
    }
}

/// Runs a whole stream through a pipeline and returns the sets (for files and tests).
pub fn analyze_samples<I: IntoIterator<Item = Sample>>(
    mut pipeline: Pipeline,
    samples: I,
) -> (Vec<Set>, Stats) {
    let mut events = Vec::new();
    let mut sets = Vec::new();
    for s in samples {
        pipeline.push(&s, &mut events);
        for e in events.drain(..) {
            if let Event::SetEnded(set) = e {
                sets.push(set);
            }
        }
    }
    pipeline.finish(&mut events);
    for e in events.drain(..) {
        if let Event::SetEnded(set) = e {
            sets.push(set);
        }
    }
    (sets, pipeline.stats().clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::UnitQuaternion;

    /// A pelvis sensor at `rate_hz` for 27 s, rolled `roll(t)` degrees about
    /// its front-back axis. `jolt_t` adds one sample of +0.6 g there;
    /// `twist_t` a 0.1 s turn about the vertical at ~300 °/s.
    fn rolled(
        rate_hz: f64,
        roll: impl Fn(f64) -> f64,
        jolt_t: Option<f64>,
        twist_t: Option<f64>,
    ) -> Vec<Sample> {
        use std::f64::consts::PI;
        let mount = UnitQuaternion::from_axis_angle(&Vector3::x_axis(), PI / 2.0);
        let pose = |t: f64| {
            let yaw = match twist_t {
                Some(t0) if (t0..t0 + 0.1).contains(&t) => 15.0 * (PI * (t - t0) / 0.1).sin(),
                _ => 0.0,
            };
            UnitQuaternion::from_axis_angle(&Vector3::z_axis(), f64::to_radians(yaw))
                * mount
                * UnitQuaternion::from_axis_angle(&Vector3::z_axis(), f64::to_radians(roll(t)))
        };
        let n = (27.0 * rate_hz) as usize;
        (0..n)
            .map(|i| {
                let t = i as f64 / rate_hz;
                let mut s = sensed(&pose, t);
                if jolt_t.is_some_and(|j| (t - j).abs() < 0.5 / rate_hz) {
                    s.acc *= 1.6;
                }
                s
            })
            .collect()
    }

    /// What an ideal sensor posed `pose(t)` (sensor → world, world +Z up)
    /// reads at `t` when only gravity acts: the rate by finite difference.
    fn sensed(pose: &impl Fn(f64) -> UnitQuaternion<f64>, t: f64) -> Sample {
        let h = 1e-4;
        let q = pose(t);
        let gyr = (q.inverse() * pose(t + h)).scaled_axis() / h;
        Sample {
            t,
            acc: q.inverse_transform_vector(&Vector3::new(0.0, 0.0, STANDARD_GRAVITY)),
            gyr: gyr.map(f64::to_degrees),
        }
    }

    /// 6° hip-hitch drops, each `(start, duration)` in s.
    fn drops(drops: &[(f64, f64)]) -> impl Fn(f64) -> f64 + '_ {
        move |t| {
            drops
                .iter()
                .map(|&(t0, d)| {
                    let u = (t - t0) / d;
                    if (0.0..1.0).contains(&u) {
                        6.0 * (std::f64::consts::PI * u).sin().powi(2)
                    } else {
                        0.0
                    }
                })
                .sum()
        }
    }

    /// Three drops of 2 s, 1.5 s apart, after 4 s of rest.
    const THREE_DROPS: [(f64, f64); 3] = [(4.0, 2.0), (7.5, 2.0), (11.0, 2.0)];

    fn hitches(rate_hz: f64, jolt_t: Option<f64>, twist_t: Option<f64>) -> Vec<Sample> {
        rolled(rate_hz, drops(&THREE_DROPS), jolt_t, twist_t)
    }

    fn hitch_reps(samples: Vec<Sample>) -> usize {
        let p = Pipeline::builtin(Exercise::HipHitch, Placement::Pelvis, Side::Right).unwrap();
        let (sets, _) = analyze_samples(p, samples);
        sets.iter().map(Set::rep_count).sum()
    }

    /// Six hitches; the radio drops for 1.5 s in the middle of the last
    /// one. The five before are counted, and the set says a rep may have
    /// gone unseen there; the same drop after the set, at rest, says nothing.
    #[test]
    fn a_gap_in_the_data_that_cuts_a_rep_keeps_the_set_from_sure() {
        let six: Vec<(f64, f64)> = (0..6).map(|i| (2.0 + 3.5 * i as f64, 2.0)).collect();
        let cut = |from: f64, to: f64| {
            let samples = rolled(100.0, drops(&six), None, None);
            let kept = samples.into_iter().filter(|s| s.t < from || s.t > to);
            let p = Pipeline::builtin(Exercise::HipHitch, Placement::Pelvis, Side::Right).unwrap();
            analyze_samples(p, kept).0
        };
        let sets = cut(20.0, 21.5);
        assert_eq!(sets.len(), 1, "{sets:?}");
        assert_eq!(sets[0].rep_count(), 5);
        assert!(sets[0].confidence < certainty::SURE, "{sets:?}");
        assert!(sets[0].doubts.iter().any(|d| d.kind == DoubtKind::DataGap));
        let sets = cut(23.0, 24.5);
        assert_eq!(sets.iter().map(Set::rep_count).sum::<usize>(), 6);
        assert!(sets
            .iter()
            .all(|s| s.doubts.iter().all(|d| d.kind != DoubtKind::DataGap)));
    }

    /// A coached hip hitch: the pelvis dropped in 1 s, held there 4.5 s
    /// (still), raised in 1 s; three reps 2 s apart. A hold is no new
    /// stance: each is a rep (`reps.stale_rest_s` 6 s; at 3 s none was).
    #[test]
    fn a_hitch_held_at_the_bottom_for_seconds_is_a_rep() {
        let held = |t: f64| {
            [2.0, 10.5, 19.0]
                .iter()
                .map(|&t0| {
                    let u = t - t0;
                    let ease = |x: f64| 0.5 - 0.5 * (std::f64::consts::PI * x).cos();
                    if (0.0..1.0).contains(&u) {
                        6.0 * ease(u)
                    } else if (1.0..5.5).contains(&u) {
                        6.0
                    } else if (5.5..6.5).contains(&u) {
                        6.0 * ease(6.5 - u)
                    } else {
                        0.0
                    }
                })
                .sum()
        };
        assert_eq!(hitch_reps(rolled(100.0, held, None, None)), 3);
    }

    /// A shank sensor at 100 Hz with a gyro bias, turned `angle(t)` degrees
    /// about the world axis `axis` for `secs` s.
    fn shank(axis: Vector3<f64>, angle: impl Fn(f64) -> f64, secs: f64) -> Vec<Sample> {
        let mount = UnitQuaternion::from_euler_angles(0.3, -0.2, 1.0);
        let bias = Vector3::new(0.9, -0.7, 0.8);
        let axis = nalgebra::Unit::new_normalize(axis);
        let pose = |t: f64| UnitQuaternion::from_axis_angle(&axis, angle(t).to_radians()) * mount;
        let rate = 100.0;
        (0..(secs * rate) as usize)
            .map(|i| {
                let mut s = sensed(&pose, i as f64 / rate);
                s.gyr += bias;
                s
            })
            .collect()
    }

    /// The sets the built-in standing cable abduction ankle pipeline finds.
    fn standing_ankle(samples: Vec<Sample>) -> Vec<Set> {
        let p = Pipeline::builtin(
            Exercise::StandingCableAbduction,
            Placement::Ankle,
            Side::Right,
        )
        .unwrap();
        analyze_samples(p, samples).0
    }

    /// The reps of each set the standing ankle pipeline finds in a shank
    /// turned `angle(t)` degrees about X for `secs`.
    fn standing_ankle_counts(angle: impl Fn(f64) -> f64, secs: f64) -> Vec<usize> {
        standing_ankle(shank(Vector3::x(), angle, secs))
            .iter()
            .map(Set::rep_count)
            .collect()
    }

    /// 0 → 1 → 0 over `u` in 0..1 (a raised cosine); 0 outside.
    fn bump(u: f64) -> f64 {
        if (0.0..1.0).contains(&u) {
            0.5 - 0.5 * (2.0 * std::f64::consts::PI * u).cos()
        } else {
            0.0
        }
    }

    /// The set is counted but not sure, for a doubt of `kind`.
    fn assert_doubted(set: &Set, kind: DoubtKind) {
        assert!(set.confidence < certainty::SURE, "{}", set.confidence);
        assert!(
            set.doubts.iter().any(|d| d.kind == kind),
            "{kind:?} not in {:?}",
            set.doubts
        );
    }

    /// A leg moved `posture` degrees in `move_s` from `move_at` (a raised
    /// cosine) and left there, then `n` reps of `size` degrees from that
    /// posture, back to back from `first` s, each `period` s long.
    fn posture_then_reps(
        posture: f64,
        move_at: f64,
        move_s: f64,
        (n, size, first, period): (usize, f64, f64, f64),
    ) -> impl Fn(f64) -> f64 {
        move |t: f64| {
            let u = ((t - move_at) / move_s).clamp(0.0, 1.0);
            let reps: f64 = (0..n)
                .map(|i| size * bump((t - first - period * i as f64) / period))
                .sum();
            posture * (0.5 - 0.5 * (std::f64::consts::PI * u).cos()) + reps
        }
    }

    /// Seated machine abduction: 4 s of rest, then `reps` reps of 25° about
    /// the vertical, each 3 s up, 1 s held, 3 s down and 1 s at rest (7-12
    /// °/s: a slow lifter).
    fn slow_seated(reps: usize) -> Vec<Sample> {
        use std::f64::consts::PI;
        let ramp = |x: f64| 0.5 - 0.5 * (PI * x).cos();
        let angle = move |t: f64| {
            let u = (t - 4.0).rem_euclid(8.0);
            if t >= 4.0 + 8.0 * reps as f64 || t < 4.0 {
                0.0
            } else if u < 3.0 {
                25.0 * ramp(u / 3.0)
            } else if u < 4.0 {
                25.0
            } else if u < 7.0 {
                25.0 * ramp(1.0 - (u - 4.0) / 3.0)
            } else {
                0.0
            }
        };
        shank(Vector3::z(), angle, 4.0 + 8.0 * reps as f64 + 4.0)
    }

    #[test]
    fn lying_down_ends_the_open_set_so_the_next_set_keeps_its_first_rep() {
        // Six 30° reps about one axis (a warm-up done standing), lying down
        // (the shank turned 100° and left there), 3 s of rest, then six
        // side-lying reps: in the sensor's frame about an axis 90° from the
        // first six, 5.5 s after them, well within a set's gap.
        let reps_at = |t: f64, t0: f64| {
            (0..6)
                .map(|i| 30.0 * bump((t - t0 - 3.0 * i as f64) / 2.0))
                .sum::<f64>()
        };
        let lie = |t: f64| 100.0 * ((t - 23.0) / 1.5).clamp(0.0, 1.0);
        let mount = UnitQuaternion::from_euler_angles(0.3, -0.2, 1.0);
        let pose = |t: f64| {
            UnitQuaternion::from_axis_angle(&Vector3::y_axis(), reps_at(t, 27.5).to_radians())
                * UnitQuaternion::from_axis_angle(&Vector3::z_axis(), lie(t).to_radians())
                * UnitQuaternion::from_axis_angle(&Vector3::y_axis(), reps_at(t, 4.0).to_radians())
                * mount
        };
        let samples: Vec<Sample> = (0..5000).map(|i| sensed(&pose, i as f64 / 100.0)).collect();
        let p =
            Pipeline::builtin(Exercise::SideLyingAbduction, Placement::Ankle, Side::Right).unwrap();
        let (sets, _) = analyze_samples(p, samples);
        assert_eq!(sets.len(), 2, "{sets:?}");
        assert_eq!(sets[1].rep_count(), 6, "{:?}", sets[1].reps);
        assert!(
            sets[1].start_s > 27.0 && sets[1].start_s < 28.5,
            "{}",
            sets[1].start_s
        );
    }

    #[test]
    fn a_set_begun_as_soon_as_the_leg_came_into_place_is_counted_and_doubted() {
        // 3 s standing; lying down on a pillow turns the shank 60° in 2 s
        // (short of any rest past a rep's top); 1.5 s held there, then eight
        // 45° side-lying reps back to back (never at rest between them).
        // The first rep's top is out of reach of the standing neutral: the
        // posture held on the way is the neutral, not a rest that never
        // comes, and the set is doubted (a first rep may have been lost).
        let angle = posture_then_reps(60.0, 3.0, 2.0, (8, 45.0, 6.5, 1.4));
        let mount = UnitQuaternion::from_euler_angles(0.3, -0.2, 1.0);
        let pose = |t: f64| {
            UnitQuaternion::from_axis_angle(&Vector3::y_axis(), angle(t).to_radians()) * mount
        };
        let samples: Vec<Sample> = (0..2200).map(|i| sensed(&pose, i as f64 / 100.0)).collect();
        let p =
            Pipeline::builtin(Exercise::SideLyingAbduction, Placement::Ankle, Side::Right).unwrap();
        let (sets, _) = analyze_samples(p, samples);
        assert_eq!(
            sets.iter().map(Set::rep_count).collect::<Vec<_>>(),
            [8],
            "{sets:?}"
        );
        // The first rep from where it began (6.5 s), not from the top
        // where the sensor went out of reach.
        assert!(sets[0].reps[0].start_s < 6.8, "{:?}", sets[0].reps[0]);
        assert_doubted(&sets[0], DoubtKind::NoRestBefore);
    }

    #[test]
    fn reps_begun_from_a_posture_held_off_the_neutral_are_counted_from_it() {
        // Seated: 3 s at rest, the leg moved 10° onto the pad and held there
        // (a posture, not a rep: it never comes back), then 18° reps from
        // the pad, back to back. The movement begun at 3 s is given up for
        // not coming back; measured again from the posture held, the reps
        // before that are reps too.
        let seated = |samples: Vec<Sample>| {
            let p = Pipeline::builtin(
                Exercise::SeatedMachineAbduction,
                Placement::Ankle,
                Side::Right,
            )
            .unwrap();
            analyze_samples(p, samples).0
        };
        let counts = |sets: &[Set]| sets.iter().map(Set::rep_count).collect::<Vec<_>>();
        let no_rest_doubt =
            |set: &Set| set.doubts.iter().any(|d| d.kind == DoubtKind::NoRestBefore);
        // Eight reps from `first` s on, the recording `secs` long: a rest
        // before the set, however long, and the set is not doubted.
        for (first, secs) in [(5.0, 26.0), (12.5, 34.0), (24.0, 46.0)] {
            let angle = posture_then_reps(10.0, 3.0, 1.0, (8, 18.0, first, 2.0));
            let sets = seated(shank(Vector3::z(), angle, secs));
            assert_eq!(counts(&sets), [8], "first rep at {first} s: {sets:?}");
            assert!(
                !no_rest_doubt(&sets[0]),
                "first rep at {first} s: {:?}",
                sets[0].doubts
            );
        }
        // A 25° step into place about a level axis, 2 s there, a rep, 3 s
        // there, then seven more (a step into place, a rep from there, a
        // rest, then the timeout: effort, session 31). Measured from the old
        // neutral the first rep barely shows: it is inside the movement
        // given up, and goes unseen. The set is doubted.
        let step = posture_then_reps(25.0, 3.0, 1.0, (0, 0.0, 0.0, 1.0));
        let reps = posture_then_reps(0.0, 0.0, 1.0, (1, 18.0, 6.0, 2.0));
        let more = posture_then_reps(0.0, 0.0, 1.0, (7, 18.0, 11.0, 2.0));
        let mount = UnitQuaternion::from_euler_angles(0.3, -0.2, 1.0);
        let pose = |t: f64| {
            UnitQuaternion::from_axis_angle(&Vector3::y_axis(), step(t).to_radians())
                * UnitQuaternion::from_axis_angle(
                    &Vector3::z_axis(),
                    (reps(t) + more(t)).to_radians(),
                )
                * mount
        };
        let sets = seated((0..3200).map(|i| sensed(&pose, i as f64 / 100.0)).collect());
        assert_eq!(counts(&sets), [7], "{sets:?}");
        assert_doubted(&sets[0], DoubtKind::NoRestBefore);
    }

    #[test]
    fn a_step_into_place_before_the_set_is_no_rep_and_sets_no_axis() {
        // 4 s of rest; a 50° step into place in 1 s about the level left-right
        // axis; then eight 30° reps about the front-back axis (2 s each,
        // every 3 s) and two small moves settling the foot after the set,
        // 50° off the reps' axis (a partial rep would follow it).
        let step = |t: f64| 50.0 * bump((t - 4.0) / 1.0);
        let reps = |t: f64| {
            (0..8)
                .map(|i| 30.0 * bump((t - 7.0 - 3.0 * i as f64) / 2.0))
                .sum::<f64>()
        };
        let settle = |t: f64| 8.0 * bump((t - 32.0) / 2.0) + 7.0 * bump((t - 35.0) / 2.0);
        let off = 50f64.to_radians();
        let settle_axis = nalgebra::Unit::new_normalize(Vector3::new(off.cos(), 0.0, off.sin()));
        let mount = UnitQuaternion::from_euler_angles(0.3, -0.2, 1.0);
        let pose = |t: f64| {
            UnitQuaternion::from_axis_angle(&Vector3::y_axis(), step(t).to_radians())
                * UnitQuaternion::from_axis_angle(&Vector3::x_axis(), reps(t).to_radians())
                * UnitQuaternion::from_axis_angle(&settle_axis, settle(t).to_radians())
                * mount
        };
        let samples: Vec<Sample> = (0..4000).map(|i| sensed(&pose, i as f64 / 100.0)).collect();
        let sets = standing_ankle(samples);
        assert_eq!(sets.len(), 1, "{sets:?}");
        assert_eq!(sets[0].rep_count(), 8, "{:?}", sets[0].reps);
        assert!(
            sets[0].start_s > 6.5,
            "the step opened the set: {}",
            sets[0].start_s
        );
    }

    #[test]
    fn a_last_move_after_a_long_pause_off_the_reps_axis_is_no_rep() {
        // 4 s of rest; six 30° reps about the front-back axis (2 s each, a
        // pause of 1 s between); 6 s later one more 30° move, about an axis
        // `off` degrees from theirs (changing the pin, shifting in the seat);
        // then rest.
        let count = |off_deg: f64| {
            let reps = |t: f64| {
                (0..6)
                    .map(|i| 30.0 * bump((t - 4.0 - 3.0 * i as f64) / 2.0))
                    .sum::<f64>()
            };
            let late = |t: f64| 30.0 * bump((t - 27.0) / 2.0);
            let off = off_deg.to_radians();
            let late_axis = nalgebra::Unit::new_normalize(Vector3::new(off.cos(), 0.0, off.sin()));
            let mount = UnitQuaternion::from_euler_angles(0.3, -0.2, 1.0);
            let pose = |t: f64| {
                UnitQuaternion::from_axis_angle(&Vector3::x_axis(), reps(t).to_radians())
                    * UnitQuaternion::from_axis_angle(&late_axis, late(t).to_radians())
                    * mount
            };
            let samples: Vec<Sample> = (0..3600).map(|i| sensed(&pose, i as f64 / 100.0)).collect();
            let sets = standing_ankle(samples);
            sets.iter().map(Set::rep_count).sum::<usize>()
        };
        assert_eq!(
            count(45.0),
            6,
            "the move 45° off the reps' axis was counted"
        );
        assert_eq!(count(10.0), 7, "a rep after a rest, on the axis, is a rep");
    }

    #[test]
    fn a_thrown_rep_jolted_at_the_top_of_its_range_is_a_rep() {
        // Standing: five 35° reps of 2 s, 1 s apart, with a rep thrown to
        // 45° and back in 0.6 s after rep `thrown_after`, the cable's end
        // jolting the ankle (+6 g for one sample) at its top; then rest. The
        // same jolt with the foot down (a stamp, 3 s after the set) is no
        // rep. Held at the top for `hold_s`, the movement is no quick rep
        // stopped there: longer than 1.5 of the set's reps, it is thrown
        // out for the jolt.
        let count = |thrown_after: usize, hold_s: f64| {
            let t_thrown = 4.0 + 3.0 * thrown_after as f64;
            let reps = move |t: f64| {
                (0..5)
                    .map(|i| {
                        let late = if i >= thrown_after { 1.5 } else { 0.0 };
                        35.0 * bump((t - 4.0 - late - 3.0 * i as f64) / 2.0)
                    })
                    .sum::<f64>()
                    + 45.0 * {
                        let u = t - t_thrown;
                        if u < 0.3 {
                            bump(u / 0.6)
                        } else if u < 0.3 + hold_s {
                            1.0
                        } else {
                            bump((u - hold_s) / 0.6)
                        }
                    }
            };
            let mount = UnitQuaternion::from_euler_angles(0.3, -0.2, 1.0);
            let pose = |t: f64| {
                UnitQuaternion::from_axis_angle(&Vector3::x_axis(), reps(t).to_radians()) * mount
            };
            let top = (t_thrown * 100.0) as usize + 30;
            let samples: Vec<Sample> = (0..3000)
                .map(|i| {
                    let mut s = sensed(&pose, i as f64 / 100.0);
                    if i == top || i == 2500 {
                        s.acc += s.acc.normalize() * (6.0 * STANDARD_GRAVITY);
                    }
                    s
                })
                .collect();
            let sets = standing_ankle(samples);
            sets.iter().map(Set::rep_count).collect::<Vec<_>>()
        };
        // At the end of the set, and as its second rep.
        assert_eq!(count(5, 0.0), [6]);
        assert_eq!(count(1, 0.0), [6]);
        assert_eq!(count(5, 4.0), [5]);
    }

    #[test]
    fn a_rep_lowered_part_way_and_raised_again_is_not_sure() {
        // Standing: six 35° reps of 2 s, 1 s apart; between the third and
        // the fourth the leg comes down only to `floor` (°) and, with
        // `late` 1 s, goes up again at once (`late` 0: after a second at
        // the bottom). Counted as two reps either way, but from 9° up (a
        // quarter of the reps, just under `reps.return_fraction`) that is a
        // near call: perhaps one rep lowered part way. From 3° it is past
        // the detector's line, but turned straight back up 3° short of
        // where the rep began it is still one (planner's lifters sink part
        // way and push again so); after a second at the bottom it is two.
        let sets = |floor: f64, late: f64| {
            let angle = move |t: f64| {
                let mut a = (0..6)
                    .map(|i| {
                        let late = if i >= 3 { -late } else { 0.0 };
                        35.0 * bump((t - 4.0 - late - 3.0 * i as f64) / 2.0)
                    })
                    .sum::<f64>();
                // Lift the valley between the third and the fourth to
                // `floor`, from the third's top to the fourth's.
                if (11.0..14.0 - late).contains(&t) {
                    a = floor + (1.0 - floor / 35.0) * a;
                }
                a
            };
            standing_ankle(shank(Vector3::x(), angle, 30.0))
        };
        let kinds = |s: &Set| s.doubts.iter().map(|d| d.kind).collect::<Vec<_>>();
        let near = sets(9.0, 1.0);
        assert_eq!(near.iter().map(Set::rep_count).collect::<Vec<_>>(), [6]);
        assert_doubted(&near[0], DoubtKind::ShallowReturn);
        let turned = sets(3.0, 1.0);
        assert_eq!(turned.iter().map(Set::rep_count).collect::<Vec<_>>(), [6]);
        assert!(!kinds(&turned[0]).contains(&DoubtKind::ShallowReturn));
        assert_doubted(&turned[0], DoubtKind::TurnedPartWay);
        let paused = sets(3.0, 0.0);
        assert_eq!(paused.iter().map(Set::rep_count).collect::<Vec<_>>(), [6]);
        assert!(
            !kinds(&paused[0]).contains(&DoubtKind::TurnedPartWay)
                && !kinds(&paused[0]).contains(&DoubtKind::ShallowReturn),
            "{:?}",
            paused[0].doubts
        );
    }

    #[test]
    fn a_movement_far_smaller_than_the_sets_reps_is_none_of_them() {
        // Standing: six 35° reps of 2 s, 1 s apart, and between the second
        // and the third a movement of `size` (°) lasting `length` (s): at 6°
        // (under 0.2 of the reps) the leg settling, no rep; at 10° as slow
        // as the reps (0.8 of their length) a partial rep; at 10° in 0.8 s
        // (under `sets.unlike_inside_length` of their length, since session
        // 27) a twitch between two full reps, no rep.
        let count = |size: f64, length: f64| {
            standing_ankle_counts(
                move |t| {
                    (0..6)
                        .map(|i| {
                            let late = if i >= 2 { 2.0 } else { 0.0 };
                            35.0 * bump((t - 4.0 - late - 3.0 * i as f64) / 2.0)
                        })
                        .sum::<f64>()
                        + size * bump((t - 9.8) / length)
                },
                40.0,
            )
        };
        assert_eq!(count(6.0, 0.8), [6]);
        assert_eq!(count(10.0, 1.6), [7]);
        assert_eq!(count(10.0, 0.8), [6]);
    }

    #[test]
    fn a_rep_swung_back_down_to_a_jolt_is_a_rep() {
        // Standing: five 35° reps of 2 s, 1 s apart, and after the third a
        // movement of 1 s jolted (+5 g for one sample) on its way down,
        // 0.75 s in: a momentum rep swung to 45° about the reps' axis and
        // landed hard is a rep; a stride's swing of the same size about
        // another axis is not.
        let count = |axis: Vector3<f64>| {
            let reps = |t: f64| {
                (0..5)
                    .map(|i| {
                        let late = if i >= 3 { 2.0 } else { 0.0 };
                        35.0 * bump((t - 4.0 - late - 3.0 * i as f64) / 2.0)
                    })
                    .sum::<f64>()
            };
            let swing = |t: f64| 45.0 * bump(t - 13.0);
            let mount = UnitQuaternion::from_euler_angles(0.3, -0.2, 1.0);
            let pose = move |t: f64| {
                UnitQuaternion::from_axis_angle(&Vector3::x_axis(), reps(t).to_radians())
                    * UnitQuaternion::from_axis_angle(
                        &nalgebra::Unit::new_normalize(axis),
                        swing(t).to_radians(),
                    )
                    * mount
            };
            let samples: Vec<Sample> = (0..3000)
                .map(|i| {
                    let mut s = sensed(&pose, i as f64 / 100.0);
                    if i == 1375 {
                        s.acc += s.acc.normalize() * (5.0 * STANDARD_GRAVITY);
                    }
                    s
                })
                .collect();
            standing_ankle(samples)
                .iter()
                .map(Set::rep_count)
                .collect::<Vec<_>>()
        };
        assert_eq!(count(Vector3::x()), [6]);
        assert_eq!(count(Vector3::y()), [5]);
    }

    #[test]
    fn humps_count_the_tops_a_movement_falls_back_from() {
        let trace = |angles: &[f64]| -> Vec<TracePoint> {
            angles
                .iter()
                .enumerate()
                .map(|(i, &a)| TracePoint {
                    angle: a,
                    ..TracePoint::at(i as f64 * 0.02)
                })
                .collect()
        };
        // One rep; two run together (still a rep, perhaps two); a shuffle.
        assert_eq!(
            hump_tops(&trace(&[0.0, 20.0, 40.0, 20.0, 0.0]), 12.0).len(),
            1
        );
        assert_eq!(
            hump_tops(&trace(&[0.0, 40.0, 20.0, 40.0, 0.0]), 12.0).len(),
            2
        );
        let shuffle = [0.0, 40.0, 20.0, 40.0, 20.0, 40.0, 0.0];
        assert_eq!(hump_tops(&trace(&shuffle), 12.0).len(), SHUFFLE_HUMPS);
        // A wobble at the top smaller than the depth is one top; a rise
        // that never falls back is one too; nothing is none.
        assert_eq!(
            hump_tops(&trace(&[0.0, 40.0, 35.0, 40.0, 0.0]), 12.0).len(),
            1
        );
        assert_eq!(hump_tops(&trace(&[0.0, 20.0, 40.0]), 12.0).len(), 1);
        assert!(hump_tops(&[], 12.0).is_empty());
    }

    #[test]
    fn steps_and_shakes_hump_evenly_or_fast_and_pulses_at_the_top_do_not() {
        // A lateral shuffle: a top every 0.6 s.
        assert!(steady_humps(&[1.0, 1.6, 2.2, 2.8, 3.4]));
        // Shaking the leg out: tops 0.26 s apart, then the movement goes on.
        assert!(steady_humps(&[5.3, 5.56, 5.82, 6.08, 10.0]));
        // A Pilates lift: up, a hold, pulses, a hold, down.
        assert!(!steady_humps(&[1.3, 3.1, 3.8, 4.7]));
        // Two humps may be two reps run together: never steps.
        assert!(!steady_humps(&[1.0, 1.6]));
    }

    #[test]
    fn a_rep_with_pulses_at_the_top_is_one_rep() {
        // Standing: five 30° lifts of 6 s, 4 s apart; each rises in 1.5 s,
        // holds, pulses down 10° and back three times at uneven moments,
        // and lowers.
        let lift = |u: f64| -> f64 {
            if !(0.0..6.0).contains(&u) {
                return 0.0;
            }
            let up = (u / 1.5).min(1.0);
            let down = ((6.0 - u) / 1.5).min(1.0);
            let ramp = |x: f64| 0.5 - 0.5 * (std::f64::consts::PI * x).cos();
            let pulses: f64 = [2.0, 2.8, 4.0]
                .iter()
                .map(|&at| 10.0 * bump((u - at) / 0.5))
                .sum();
            30.0 * ramp(up.min(down)) - pulses
        };
        let angle = |t: f64| (0..5).map(|i| lift(t - 4.0 - 10.0 * i as f64)).sum();
        let sets = standing_ankle(shank(Vector3::x(), angle, 60.0));
        let counted: Vec<usize> = sets.iter().map(Set::rep_count).collect();
        assert_eq!(counted, [5], "{sets:?}");
    }

    /// Standing: ten 35° reps of 2.2 s with 0.4 s between them (no rest in
    /// the set), and the radio drops for 1.3 s from the end of the fifth
    /// rep into the sixth. Every rep is counted, the sixth too: the track
    /// and the neutral are kept across the drop, so the rep it cut into
    /// reads as raised when the data come back. Before, the neutral went
    /// with the track, the sixth rep went by before a rest gave one again,
    /// and the set came out 9 (a session with shorter pauses, none).
    #[test]
    fn a_short_radio_drop_inside_a_set_loses_no_rep_after_it() {
        let angle = |t: f64| -> f64 {
            (0..10)
                .map(|i| 35.0 * bump((t - 3.0 - 2.6 * i as f64) / 2.2))
                .sum()
        };
        let samples: Vec<Sample> = shank(Vector3::x(), angle, 34.0)
            .into_iter()
            .filter(|s| s.t < 15.55 || s.t > 16.85)
            .collect();
        let sets = standing_ankle(samples);
        let counted: Vec<usize> = sets.iter().map(Set::rep_count).collect();
        assert_eq!(counted, [10], "{sets:?}");
        // A long drop (the strap may have moved) still starts afresh.
        let samples: Vec<Sample> = shank(Vector3::x(), angle, 34.0)
            .into_iter()
            .filter(|s| s.t < 15.55 || s.t > 15.55 + KEEP_TRACK_GAP_S + 1.0)
            .collect();
        let counted: usize = standing_ankle(samples).iter().map(Set::rep_count).sum();
        assert!(counted < 9, "{counted}");
    }

    #[test]
    fn turning_in_place_to_face_the_stack_before_a_set_is_no_rep_and_loses_none() {
        // Standing: a 50° turn about the vertical (2 s), 1.5 s at rest
        // there, then six 35° reps with 0.4 s between them. Were the turn
        // a movement held open, every rep would rise from it and none come
        // back until the movement ran out of time.
        let yaw = |t: f64| 50.0 * ((t - 3.0) / 2.0).clamp(0.0, 1.0);
        let angle = |t: f64| -> f64 {
            (0..6)
                .map(|i| 35.0 * bump((t - 6.5 - 2.6 * i as f64) / 2.2))
                .sum()
        };
        let mount = UnitQuaternion::from_euler_angles(0.3, -0.2, 1.0);
        let pose = |t: f64| {
            UnitQuaternion::from_axis_angle(&Vector3::z_axis(), yaw(t).to_radians())
                * UnitQuaternion::from_axis_angle(&Vector3::x_axis(), angle(t).to_radians())
                * mount
        };
        let samples: Vec<Sample> = (0..2400).map(|i| sensed(&pose, i as f64 / 100.0)).collect();
        let counted: Vec<usize> = standing_ankle(samples).iter().map(Set::rep_count).collect();
        assert_eq!(counted, [6]);
    }

    #[test]
    fn a_posture_held_too_long_to_be_a_rep_is_the_neutral_of_a_set_begun_at_once() {
        // Standing: the foot up on the bench (the shank tilted 15°) from
        // 3 s, held; from 15.5 s six 35° reps from there, with a tremor that
        // never lets the sensor rest. The held posture is given up as no
        // rep after `reps.max_duration_s`; waiting for a rest to take a new
        // neutral would lose the whole set.
        let angle = |t: f64| -> f64 {
            let posture = 15.0 * (t - 3.0).clamp(0.0, 1.0);
            let reps: f64 = (0..6)
                .map(|i| 35.0 * bump((t - 15.5 - 2.6 * i as f64) / 2.2))
                .sum();
            let tremor = if t > 15.0 {
                0.3 * (2.0 * std::f64::consts::PI * 9.0 * t).sin()
            } else {
                0.0
            };
            posture + reps + tremor
        };
        assert_eq!(standing_ankle_counts(angle, 33.0), [6]);
    }

    #[test]
    fn a_posture_held_before_a_set_is_its_neutral_not_the_pause_atop_its_first_rep() {
        // Standing: the shank moved 30° off at 3 s and swaying (never at
        // rest) until 11 s, then held there for 2.5 s; from 13.5 s six 35°
        // reps from that posture, the first paused 0.4 s at the top. The
        // movement begun at 3 s is given up as no rep at 15 s, during that
        // pause: the neutral is the posture held, not the pause (which
        // would count every rep from its top).
        let angle = |t: f64| -> f64 {
            let posture = 30.0 * (t - 3.0).clamp(0.0, 1.0);
            let sway = if (4.0..11.0).contains(&t) {
                3.0 * (std::f64::consts::PI * (t - 4.0)).sin()
            } else {
                0.0
            };
            let first = match t - 13.5 {
                u if (0.0..1.1).contains(&u) => 35.0 * bump(u / 2.2),
                u if (1.1..1.5).contains(&u) => 35.0,
                u if (1.5..2.6).contains(&u) => 35.0 * bump((u - 0.4) / 2.2),
                _ => 0.0,
            };
            let reps: f64 = (1..6)
                .map(|i| 35.0 * bump((t - 16.5 - 2.6 * (i - 1) as f64) / 2.2))
                .sum();
            posture + sway + first + reps
        };
        assert_eq!(standing_ankle_counts(angle, 33.0), [6]);
    }

    #[test]
    fn reps_that_grow_one_after_another_are_counted_but_not_sure() {
        // Standing: five reps, each 5° farther than the one before (20° to
        // 40°), as a neutral drifting under the swings makes them.
        let angle = |t: f64| -> f64 {
            (0..5)
                .map(|i| (20.0 + 5.0 * i as f64) * bump((t - 4.0 - 3.0 * i as f64) / 2.4))
                .sum()
        };
        let sets = standing_ankle(shank(Vector3::x(), angle, 24.0));
        assert_eq!(sets.iter().map(Set::rep_count).collect::<Vec<_>>(), [5]);
        assert_doubted(&sets[0], DoubtKind::GrowingReps);
    }

    #[test]
    fn a_lifter_whose_leg_never_rests_is_counted_but_not_sure() {
        // Standing: a 10 Hz tremor from the first sample on (the leg never
        // rests sample by sample), 5 s of standing, then six 35° reps. The
        // rest is judged on the averaged reading; the count is told to be
        // checked, since a rep may have gone by before the first rest.
        let angle = |t: f64| -> f64 {
            let reps: f64 = (0..6)
                .map(|i| 35.0 * bump((t - 5.0 - 2.6 * i as f64) / 2.2))
                .sum();
            reps + 0.2 * (2.0 * std::f64::consts::PI * 10.0 * t).sin()
        };
        let sets = standing_ankle(shank(Vector3::x(), angle, 22.0));
        let counted: Vec<usize> = sets.iter().map(Set::rep_count).collect();
        assert_eq!(counted, [6], "{sets:?}");
        assert!(sets[0]
            .doubts
            .iter()
            .any(|d| d.kind == DoubtKind::ShakyRest));
        assert!(sets[0].confidence < 0.9);
    }

    #[test]
    fn a_lateral_shuffle_after_the_set_is_no_rep() {
        // Standing: five 35° reps of 2 s, 1 s apart; 1.5 s later a lateral
        // shuffle: the leg swings out to ~40° and back to ~20° six times in
        // 3.6 s without coming to rest. Counted as a sixth rep, it would
        // hold the set open into whatever follows.
        let angle = |t: f64| {
            let reps: f64 = (0..5)
                .map(|i| 35.0 * bump((t - 4.0 - 3.0 * i as f64) / 2.0))
                .sum();
            let u = t - 19.5;
            let shuffle = if (0.0..3.6).contains(&u) {
                let envelope = bump(u / 3.6).powf(0.3);
                envelope * (20.0 + 20.0 * (std::f64::consts::PI * u / 0.6).sin().powi(2))
            } else {
                0.0
            };
            reps + shuffle
        };
        let sets = standing_ankle(shank(Vector3::x(), angle, 30.0));
        let counted: Vec<usize> = sets.iter().map(Set::rep_count).collect();
        assert_eq!(counted, [5], "{sets:?}");
    }

    #[test]
    fn a_seated_rep_turns_the_shank_about_the_vertical_and_a_swing_about_a_level_axis_is_not_one() {
        // 4 s of rest, then 4 movements of 25° (1.5 s up, 1.5 s down, 1 s
        // apart) about a world axis `deg` from the vertical. Knees pushed
        // apart turn the shank about the vertical (with the feet on a fixed
        // footrest the shank also tilts out, so the axis leans up to ~65°
        // from the vertical: effort, session 31); a step, standing up or
        // swinging the lower leg turns it about a level axis.
        let run = |deg: f64, vertical_axis_min: f64| {
            let angle = |t: f64| {
                (0..4)
                    .map(|i| 25.0 * bump((t - 4.0 - 4.0 * i as f64) / 3.0))
                    .sum::<f64>()
            };
            let tilt = deg.to_radians();
            let axis = Vector3::new(tilt.sin(), 0.0, tilt.cos());
            let mut profile =
                Profile::builtin(Exercise::SeatedMachineAbduction, Placement::Ankle).unwrap();
            profile.reps.vertical_axis_min = vertical_axis_min;
            let p = Pipeline::new(profile, Side::Right);
            let (sets, _) = analyze_samples(p, shank(axis, angle, 24.0));
            sets.iter().map(Set::rep_count).sum::<usize>()
        };
        let builtin = Profile::builtin(Exercise::SeatedMachineAbduction, Placement::Ankle)
            .unwrap()
            .reps
            .vertical_axis_min;
        assert_eq!(builtin, 0.4);
        assert_eq!(run(0.0, builtin), 4, "about the vertical");
        assert_eq!(run(30.0, builtin), 4, "30° off the vertical");
        assert_eq!(run(62.0, builtin), 4, "62° off: feet on a fixed footrest");
        assert_eq!(
            run(65.0, builtin),
            4,
            "65° off: just inside acos 0.4 = 66.4°"
        );
        assert_eq!(run(62.0, 0.7), 0, "the line before session 31");
        assert_eq!(run(75.0, builtin), 0, "75° off: a swing, not a rep");
        assert_eq!(run(75.0, 0.0), 4, "the rule off");
    }

    #[test]
    fn the_leg_bouncing_off_the_bottom_of_a_rep_is_part_of_that_rep() {
        // Side-lying: 5 reps of 40° about a horizontal axis, 2.5 s each (1.25
        // s up, 1.25 s down), 1 s apart; rep 3 is let go (down in 0.4 s) and
        // the leg bounces `bounce` degrees for 0.55 s as it lands. Without
        // `rebound_fraction`, or when rep 3 was lowered like the others, the
        // bounce is a sixth rep. A thrown rep bounces up to half its height
        // off the stop (wear, session 15): the built-in fraction is 0.6.
        let run = |rebound_fraction: Option<f64>, let_go: bool, bounce: f64| {
            let angle = move |t: f64| {
                let reps: f64 = (0..5)
                    .map(|i| {
                        let u = t - 3.0 - 3.5 * i as f64;
                        let down = if i == 2 && let_go { 0.4 } else { 1.25 };
                        40.0 * if u < 1.25 {
                            bump(u / 2.5)
                        } else {
                            bump(0.5 + 0.5 * (u - 1.25) / down)
                        }
                    })
                    .sum();
                let landed = 3.0 + 3.5 * 2.0 + 1.25 + if let_go { 0.4 } else { 1.25 };
                reps + bounce * bump((t - landed) / 0.55)
            };
            let mut profile =
                Profile::builtin(Exercise::SideLyingAbduction, Placement::Ankle).unwrap();
            if let Some(f) = rebound_fraction {
                profile.reps.rebound_fraction = f;
            }
            // Quick and small, the bounce is also a rep given up, and a
            // twitch between two full reps: this test is about the rebound
            // rule alone.
            profile.reps.aborted_fraction = 0.0;
            profile.sets.unlike_inside_length = 0.0;
            let p = Pipeline::new(profile, Side::Right);
            let (sets, _) = analyze_samples(p, shank(Vector3::x(), angle, 25.0));
            sets.iter().map(Set::rep_count).collect::<Vec<_>>()
        };
        assert_eq!(run(Some(0.25), true, 9.0), vec![5]);
        assert_eq!(run(Some(0.0), true, 9.0), vec![6]);
        assert_eq!(run(Some(0.25), false, 9.0), vec![6]);
        assert_eq!(run(None, true, 20.0), vec![5]);
        assert_eq!(run(Some(0.25), true, 20.0), vec![6]);
        assert_eq!(run(None, false, 20.0), vec![6]);
    }

    #[test]
    fn a_leg_kept_raised_between_reps_then_lowered_all_the_way_loses_no_rep() {
        // Standing cable abduction: 4 reps of 35° that come back only to 10°
        // (the cable kept taut, 1.5 s there: the neutral is re-taken up
        // there), then the leg goes all the way down, rests, and does 3
        // partial reps of 12° from the bottom. Read from the raised neutral,
        // the lowering and the partial reps turn the other way from the set's
        // reps, and the lowering used to hold a rep open through the rest at
        // the bottom, so no neutral was taken there and the partials were lost.
        let phase = |u: f64, from: f64, to: f64| from + (to - from) * bump(0.5 * u.clamp(0.0, 1.0));
        let angle = |t: f64| {
            let mut a = 0.0;
            for i in 0..4 {
                let t0 = 4.0 + 4.0 * i as f64;
                let (from, to) = (
                    if i == 0 { 0.0 } else { 10.0 },
                    if i == 3 { 0.0 } else { 10.0 },
                );
                if t >= t0 && t < t0 + 4.0 {
                    let u = t - t0;
                    a = if u < 1.25 {
                        phase(u / 1.25, from, 35.0)
                    } else if u < 2.5 {
                        phase((u - 1.25) / 1.25, 35.0, to)
                    } else {
                        to
                    };
                }
            }
            for i in 0..3 {
                let u = t - 21.5 - 3.0 * i as f64;
                if (0.0..2.0).contains(&u) {
                    a = 12.0 * bump(u / 2.0);
                }
            }
            a
        };
        let sets = standing_ankle(shank(Vector3::x(), angle, 35.0));
        let peaks: Vec<Vec<f64>> = sets
            .iter()
            .map(|s| s.reps.iter().map(|r| r.peak_deg.round()).collect())
            .collect();
        assert_eq!(sets.len(), 1, "{peaks:?}");
        assert_eq!(sets[0].rep_count(), 7, "{peaks:?}");
        // The partials are measured from the bottom, where they started.
        assert!(
            sets[0].reps[4..]
                .iter()
                .all(|r| (r.peak_deg - 12.0).abs() < 2.0),
            "{peaks:?}"
        );
    }

    #[test]
    fn lying_down_on_the_mat_is_a_new_neutral_and_not_a_rep_held_open() {
        // Side-lying ankle: 3 s standing, then 4 marching steps of 18°
        // (0.6 s, 1 s apart), 2 s standing still, lying down (the shank
        // turns 90° in 2 s and rests there 2.5 s), then 8 reps of 30°
        // (1.8 s, 0.4 s apart) about a level axis, and 4 s of rest. The
        // rest at 90° used to pass for the top of a rep that never came
        // back, so the whole set was lost inside it.
        let run = |rest_max_deg: f64| {
            let lie = |t: f64| 90.0 * bump(0.25 * (t - 9.0).clamp(0.0, 2.0));
            let step = |t: f64| {
                (0..4)
                    .map(|i| 18.0 * bump((t - 3.0 - i as f64) / 0.6))
                    .sum::<f64>()
            };
            let rep = |t: f64| {
                (0..8)
                    .map(|i| 30.0 * bump((t - 13.5 - 2.2 * i as f64) / 1.8))
                    .sum::<f64>()
            };
            let mount = UnitQuaternion::from_euler_angles(0.3, -0.2, 1.0);
            let pose = |t: f64| {
                UnitQuaternion::from_axis_angle(&Vector3::x_axis(), rep(t).to_radians())
                    * UnitQuaternion::from_axis_angle(&Vector3::y_axis(), lie(t).to_radians())
                    * UnitQuaternion::from_axis_angle(&Vector3::y_axis(), step(t).to_radians())
                    * mount
            };
            let samples: Vec<Sample> = (0..3300).map(|i| sensed(&pose, i as f64 / 100.0)).collect();
            let mut profile =
                Profile::builtin(Exercise::SideLyingAbduction, Placement::Ankle).unwrap();
            profile.reps.rest_max_deg = rest_max_deg;
            let (sets, stats) = analyze_samples(Pipeline::new(profile, Side::Right), samples);
            let counts = sets
                .iter()
                .filter(|s| s.start_s > 11.0)
                .map(Set::rep_count)
                .collect::<Vec<_>>();
            (counts, stats.not_reps[2])
        };
        // With the rule the rest at 90° is the neutral at once: nothing is
        // given up for not coming back.
        assert_eq!(run(70.0), (vec![8], 0));
        // Without it the movement is held open until `max_duration_s` gives
        // it up; since session 25 the posture held within it is then the
        // neutral and the reps are counted again from it, but only then.
        assert_eq!(run(0.0), (vec![8], 1), "the rule is off at 0");
    }

    #[test]
    fn a_rep_begun_and_given_up_is_not_a_rep_but_a_partial_rep_is() {
        // Standing: 6 reps of 35°, 2.5 s each, 4 s apart; the 5th is a
        // partial rep of 10° at the same tempo. Between reps 4 and 5 the leg
        // goes up 8° and straight back in 0.6 s: a rep begun and given up.
        let run = |aborted_fraction: f64| {
            let angle = |t: f64| {
                let reps: f64 = (0..6)
                    .map(|i| {
                        let size = if i == 4 { 10.0 } else { 35.0 };
                        size * bump((t - 4.0 - 4.0 * i as f64) / 2.5)
                    })
                    .sum();
                reps + 8.0 * bump((t - 18.8) / 0.6)
            };
            let mut profile =
                Profile::builtin(Exercise::StandingCableAbduction, Placement::Ankle).unwrap();
            profile.reps.aborted_fraction = aborted_fraction;
            let p = Pipeline::new(profile, Side::Right);
            let (sets, _) = analyze_samples(p, shank(Vector3::x(), angle, 32.0));
            sets.iter()
                .map(|s| s.reps.iter().map(|r| r.peak_deg.round()).collect())
                .collect::<Vec<Vec<f64>>>()
        };
        let kept = run(0.35);
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert_eq!(kept[0].len(), 6, "{kept:?}");
        assert!(
            (kept[0][4] - 10.0).abs() <= 1.0,
            "the partial rep: {kept:?}"
        );
        let counted = run(0.0);
        assert_eq!(
            counted.iter().map(Vec::len).sum::<usize>(),
            7,
            "{counted:?}"
        );
    }

    #[test]
    fn slow_seated_reps_are_not_taken_for_rest_and_keep_their_size() {
        // The knees part about the vertical, which the accelerometer cannot
        // see; under `gyro_abs_dps` the rising leg used to pass for rest and
        // teach the bias its own rate, and each rep read smaller.
        let peaks = |gyro_settled_dps: Option<f64>| {
            let mut profile =
                Profile::builtin(Exercise::SeatedMachineAbduction, Placement::Ankle).unwrap();
            if let Some(dps) = gyro_settled_dps {
                profile.still.gyro_settled_dps = dps;
            }
            let p = Pipeline::new(profile, Side::Right);
            let (sets, _) = analyze_samples(p, slow_seated(8));
            sets.iter()
                .flat_map(|s| s.reps.iter().map(|r| r.peak_deg))
                .collect::<Vec<f64>>()
        };
        let kept = peaks(None);
        assert_eq!(kept.len(), 8, "{kept:?}");
        assert!(kept.iter().all(|p| (p - 25.0).abs() < 2.0), "{kept:?}");
        let lost = peaks(Some(0.0));
        assert!(lost.iter().any(|p| *p < 23.0), "{lost:?}");
    }

    #[test]
    fn fast_samples_are_averaged_but_a_one_sample_jolt_still_counts() {
        for rate in [25.0, 100.0, 400.0] {
            assert_eq!(hitch_reps(hitches(rate, None, None)), 3, "{rate} Hz");
            // A foot strike inside the second drop: not a rep. At 400 Hz it
            // is one sample of four averaged into a step.
            assert_eq!(hitch_reps(hitches(rate, Some(8.5), None)), 2, "{rate} Hz");
        }
    }

    #[test]
    fn a_burst_of_huge_values_does_not_poison_what_follows() {
        // Finite but absurd (a corrupt packet): averaged together they would
        // overflow to infinity.
        for rate in [50.0, 400.0] {
            let mut s = hitches(rate, None, None);
            let at = (1.0 * rate) as usize;
            for x in &mut s[at..at + 3] {
                x.acc = Vector3::repeat(1e300);
                x.gyr = Vector3::repeat(-1e300);
            }
            assert_eq!(hitch_reps(s), 3, "{rate} Hz");
        }
    }

    #[test]
    fn a_pelvis_turned_by_hand_mid_rep_is_not_a_rep() {
        // Turning about the vertical leaves obliquity alone; only its speed
        // says hands (or a turn) moved the sensor.
        assert_eq!(hitch_reps(hitches(200.0, None, Some(8.5))), 2);
    }

    #[test]
    fn a_rep_waiting_for_its_flag_tail_still_joins_its_set() {
        // A slow second drop comes back more than `start_gap_s` (6 s) after
        // the first; its flags wait 1 s for the tail, and the set must wait
        // with them: judged then as a pair of unlike movements, it would be
        // thrown away before the third rep came.
        let three = [(4.0, 2.0), (6.0, 7.0), (13.0, 2.0)];
        assert_eq!(hitch_reps(rolled(100.0, drops(&three), None, None)), 3);
    }

    #[test]
    fn a_trunk_sway_ends_when_it_has_swung_back() {
        // Standing abduction read at the pelvis: 10° one way, 10° the other,
        // back to rest at 6.5 s (DOMAIN.md's trunk sway), then two plain reps.
        use std::f64::consts::PI;
        let roll = |t: f64| {
            let sway = (t - 4.0) / 2.5;
            let rep = |t0: f64| {
                let u = (t - t0) / 2.0;
                if (0.0..1.0).contains(&u) {
                    2.0 * (PI * u).sin().powi(2)
                } else {
                    0.0
                }
            };
            let s = if (0.0..1.0).contains(&sway) {
                10.0 * (2.0 * PI * sway).sin() * (PI * sway).sin()
            } else {
                0.0
            };
            s + rep(8.0) + rep(11.5)
        };
        let p = Pipeline::builtin(
            Exercise::StandingCableAbduction,
            Placement::Pelvis,
            Side::Right,
        )
        .unwrap();
        let (sets, _) = analyze_samples(p, rolled(100.0, roll, None, None));
        let reps: Vec<&Rep> = sets.iter().flat_map(|s| &s.reps).collect();
        assert_eq!(reps.len(), 3, "{reps:?}");
        assert!(reps[0].end_s > 6.0, "ended at {} s", reps[0].end_s);
    }

    #[test]
    fn a_small_shift_set_apart_before_the_first_hitch_is_no_rep() {
        // A 4° shift of the weight at 2 s, then 4 s of rest, then five 6°
        // hitches of 2 s, 1.2 s apart. The shift is a rep only with
        // `sets.apart_lead_size` off, or when it is as large as the hitches.
        let count = |lead_deg: f64, apart_lead_size: Option<f64>| {
            let hitches: Vec<(f64, f64)> = (0..5).map(|i| (7.0 + 3.2 * i as f64, 2.0)).collect();
            let roll = move |t: f64| {
                let u = (t - 2.0) / 1.5;
                let lead = if (0.0..1.0).contains(&u) {
                    lead_deg * (std::f64::consts::PI * u).sin().powi(2)
                } else {
                    0.0
                };
                lead + drops(&hitches)(t)
            };
            let mut profile = Profile::builtin(Exercise::HipHitch, Placement::Pelvis).unwrap();
            if let Some(f) = apart_lead_size {
                profile.sets.apart_lead_size = f;
            }
            let p = Pipeline::new(profile, Side::Right);
            let (sets, _) = analyze_samples(p, rolled(100.0, roll, None, None));
            sets.iter().map(Set::rep_count).sum::<usize>()
        };
        assert_eq!(count(4.0, None), 5);
        assert_eq!(count(4.0, Some(0.0)), 6);
        assert_eq!(count(6.0, None), 6);
    }

    #[test]
    fn a_hip_hitch_after_the_clip_was_re_clipped_on_a_lifter_who_never_rests_is_counted() {
        // As below (a pelvis that sways and never rests), but at 2 s the
        // clip is re-clipped 10° the other way from a drop; from 12 s four
        // 6° drops. Measured from the neutral before the re-clip the drops
        // never went below level, and none was counted.
        use std::f64::consts::PI;
        let mount = UnitQuaternion::from_axis_angle(&Vector3::x_axis(), PI / 2.0);
        let drop = drops(&[(12.0, 2.0), (15.5, 2.0), (19.0, 2.0), (22.5, 2.0)]);
        let pose = |t: f64| {
            let yaw = 0.6 * (2.0 * PI * 0.7 * t).sin();
            let reclip = -10.0 * ((t - 2.0) / 0.5).clamp(0.0, 1.0);
            let roll = reclip + drop(t) + 0.3 * (2.0 * PI * 1.1 * t).sin();
            UnitQuaternion::from_axis_angle(&Vector3::z_axis(), yaw.to_radians())
                * mount
                * UnitQuaternion::from_axis_angle(&Vector3::z_axis(), roll.to_radians())
        };
        let samples: Vec<Sample> = (0..2800)
            .map(|i| {
                let mut s = sensed(&pose, i as f64 / 100.0);
                s.gyr += Vector3::new(0.6, -0.5, 0.6);
                s
            })
            .collect();
        let p = Pipeline::builtin(Exercise::HipHitch, Placement::Pelvis, Side::Right).unwrap();
        let counted: Vec<usize> = analyze_samples(p, samples)
            .0
            .iter()
            .map(Set::rep_count)
            .collect();
        assert_eq!(counted, [4]);
    }

    /// A pelvis sensor at 100 Hz for `secs` on a lifter standing on one leg
    /// who never rests: 6° hitch `drops` (see [`drops`]) on a pelvis that
    /// sways (a 0.6° turn and a 0.3° roll each way, 0.7 and 1.1 Hz), the
    /// gyro reading `bias` (°/s) on top.
    fn swaying_hitches(drops_at: &[(f64, f64)], secs: f64, bias: Vector3<f64>) -> Vec<Sample> {
        use std::f64::consts::PI;
        let mount = UnitQuaternion::from_axis_angle(&Vector3::x_axis(), PI / 2.0);
        let drop = drops(drops_at);
        let pose = |t: f64| {
            let yaw = 0.6 * (2.0 * PI * 0.7 * t).sin();
            let roll = drop(t) + 0.3 * (2.0 * PI * 1.1 * t).sin();
            UnitQuaternion::from_axis_angle(&Vector3::z_axis(), yaw.to_radians())
                * mount
                * UnitQuaternion::from_axis_angle(&Vector3::z_axis(), roll.to_radians())
        };
        (0..(secs * 100.0) as usize)
            .map(|i| {
                let mut s = sensed(&pose, i as f64 / 100.0);
                s.gyr += bias;
                s
            })
            .collect()
    }

    /// A tiring lifter's hitches shrink from 4° to 2.6°, under the profile's
    /// `min_peak_deg` (3°): once the set has three, its thresholds follow
    /// its own drops (`adaptive_fraction`), so the small ones still count.
    #[test]
    fn a_hip_hitch_set_s_thresholds_follow_its_own_drops() {
        let sizes = [4.0, 4.0, 4.0, 4.0, 2.6, 2.6];
        let roll = |t: f64| {
            sizes
                .iter()
                .enumerate()
                .map(|(i, &size)| {
                    let u = (t - 2.0 - 3.5 * i as f64) / 2.0;
                    if (0.0..1.0).contains(&u) {
                        size * (std::f64::consts::PI * u).sin().powi(2)
                    } else {
                        0.0
                    }
                })
                .sum()
        };
        let samples = rolled(100.0, roll, None, None);
        let count = |adaptive_fraction: f64| {
            let mut profile = Profile::builtin(Exercise::HipHitch, Placement::Pelvis).unwrap();
            profile.reps.adaptive_fraction = adaptive_fraction;
            let (sets, _) = analyze_samples(Pipeline::new(profile, Side::Right), samples.clone());
            sets.iter().map(Set::rep_count).collect::<Vec<_>>()
        };
        let builtin = Profile::builtin(Exercise::HipHitch, Placement::Pelvis).unwrap();
        assert_eq!(count(builtin.reps.adaptive_fraction), [6]);
        assert_eq!(count(0.0), [4]);
    }

    /// A recording that starts mid-set on a pelvis that sways and never
    /// rests, with a 2.5 °/s gyro bias about the roll axis no rest has
    /// taught: until the bias is learned gravity holds the tilt (the
    /// profile's `still.tilt_gain`), so the drops are measured from level.
    /// With the gain every sensor gets after (0.3/s), the obliquity drifts
    /// ~8° and the first drops are lost.
    #[test]
    fn a_hip_hitch_begun_at_once_on_an_unlearned_bias_is_counted() {
        let samples = swaying_hitches(
            &[(0.5, 2.0), (4.0, 2.0), (7.5, 2.0), (11.0, 2.0), (14.5, 2.0)],
            19.0,
            Vector3::new(0.6, -0.5, 2.5),
        );
        let count = |tilt_gain: f64| {
            let mut profile = Profile::builtin(Exercise::HipHitch, Placement::Pelvis).unwrap();
            profile.still.tilt_gain = tilt_gain;
            let (sets, _) = analyze_samples(Pipeline::new(profile, Side::Right), samples.clone());
            sets.iter().map(Set::rep_count).collect::<Vec<_>>()
        };
        let builtin = Profile::builtin(Exercise::HipHitch, Placement::Pelvis).unwrap();
        assert_eq!(count(builtin.still.tilt_gain), [5]);
        assert_ne!(
            count(attitude::KP_SLOW),
            [5],
            "the case no longer needs the gain"
        );
    }

    #[test]
    fn a_hip_hitch_on_a_lifter_who_never_rests_is_counted() {
        // On one leg the pelvis sways (a 0.6° turn and a 0.3° roll each
        // way, 0.7 and 1.1 Hz: 2-3 °/s that never settle) and the gyro has
        // a 1 °/s bias, so the sensor is never still. Counting used to wait
        // for a first rest; the three drops were never counted.
        let samples = swaying_hitches(&THREE_DROPS, 27.0, Vector3::new(0.6, -0.5, 0.6));
        let mut p = Pipeline::builtin(Exercise::HipHitch, Placement::Pelvis, Side::Right).unwrap();
        p.probe();
        let (mut events, mut sets) = (Vec::new(), Vec::new());
        let mut ended = |events: &mut Vec<Event>| {
            sets.extend(events.drain(..).filter_map(|e| match e {
                Event::SetEnded(set) => Some(set),
                _ => None,
            }))
        };
        for s in &samples {
            p.push(s, &mut events);
            assert!(!p.probe().still, "the sensor rested at {} s", s.t);
            ended(&mut events);
        }
        p.finish(&mut events);
        ended(&mut events);
        let sizes: Vec<f64> = sets
            .iter()
            .flat_map(|s| s.reps.iter().map(|r| r.peak_deg))
            .collect();
        assert_eq!(sizes.len(), 3, "{sizes:?}");
        assert!(sizes.iter().all(|p| (p - 6.0).abs() < 1.5), "{sizes:?}");
    }

    #[test]
    fn an_accelerometer_reading_seven_percent_high_still_rests() {
        // A real thigh sensor read 10.5 m/s² at rest: judged against 9.81
        // it never rested, and the set's first rep was lost.
        let scaled = |k: f64| {
            let mut s = hitches(50.0, None, None);
            for x in &mut s {
                x.acc *= k;
            }
            hitch_reps(s)
        };
        assert_eq!(scaled(1.07), 3);
        assert_eq!(scaled(0.94), 3);
    }
}
