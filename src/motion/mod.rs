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
pub mod profile;
pub mod reps;
pub mod resample;

use crate::sample::STANDARD_GRAVITY;
use crate::{Exercise, Placement, Sample, Side};
use attitude::{roll_z_deg, Attitude, Stillness};
pub use certainty::{Doubt, DoubtKind};
use flags::SetReference;
pub use flags::{Flag, FlagKind};
use nalgebra::{UnitQuaternion, Vector3};
pub use profile::Profile;
use profile::RepSignal;
use reps::{Rejection, RepDetector, RepOutcome, RepTrace, TracePoint};
use resample::{Resampler, Step};
pub use resample::{MAX_ACC_MPS2, MAX_GAP_S, MAX_RATE_DPS};
use serde::Serialize;
use std::collections::VecDeque;

/// The neutral is taken from the orientation this long before the rest was
/// confirmed, so the first instant of a rep never leaks into it (s).
const NEUTRAL_DELAY_S: f64 = 0.15;
/// Time constant of the resting-noise estimate behind each set's confidence (s).
const NOISE_TAU_S: f64 = 5.0;
/// Above this angular rate (°/s) a jump in |acc| is the swing itself, not a
/// foot strike (a 50° rep in 0.25 s loads the ankle with ~5 g).
const IMPACT_MAX_RATE_DPS: f64 = 150.0;
/// After a foot strike, no pelvis rep starts for this long (s): steps come
/// every 0.5-0.7 s while walking.
const IMPACT_HOLDOFF_S: f64 = 1.5;
/// An ankle movement whose rotation has less than this share along the set's
/// axis (more than ~60° off it) is not a rep of the set.
const OFF_AXIS_FRACTION: f64 = 0.5;
/// Resting this long away from the resting level re-takes the level (s).
const OFF_LEVEL_S: f64 = 1.0;
/// A pelvis movement resting this long without coming back is a new stance (s).
const STALE_REST_S: f64 = 3.0;
/// A pelvis turning faster than this (°/s) is being handled (re-strapped,
/// bumped) or turned round: no rep moves it half as fast.
const PELVIS_HANDLING_DPS: f64 = 120.0;
/// Time constant of the mean |acc| a foot strike stands out from (s).
const IMPACT_TAU_S: f64 = 0.2;
/// Time constant of the sensor's own reading of gravity (s). Cheap
/// accelerometers read 1 g as anything from 0.93 to 1.07 g (a real thigh
/// sensor read 10.5 m/s² at rest): rest and the attitude's gravity checks are
/// judged against what this sensor reads at rest, not against 9.81.
const GRAVITY_TAU_S: f64 = 2.0;
/// The widest accelerometer scale error accepted (a share of 1 g).
const GRAVITY_SCALE_MAX: f64 = 0.15;
/// A movement opening a set that is smaller than this share of the set's
/// median rep is a shuffle before the set (settling on the bench, finding
/// the stance), not its first rep. Partial reps of a set reach 40 % or more.
const UNLIKE_LEAD_FRACTION: f64 = 0.3;
/// A set of two movements both smaller than this share of the lifter's last
/// set is shifting about between sets, not a set.
const UNLIKE_PAIR_FRACTION: f64 = 0.3;
/// A movement ending a set after a break in its rhythm is not a rep if it is
/// smaller than this share of the set's median rep, or shorter than
/// `UNLIKE_TAIL_LENGTH` of its median length.
const UNLIKE_TAIL_SIZE: f64 = 0.5;
/// See [`UNLIKE_TAIL_SIZE`].
const UNLIKE_TAIL_LENGTH: f64 = 0.4;
/// Movements not counted are remembered this long (s) and at most this many.
const SET_ASIDE_KEEP_S: f64 = 60.0;
const SET_ASIDE_MAX: usize = 32;

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

struct OpenSet {
    start_s: f64,
    last_end: f64,
    reps: Vec<Rep>,
    reference: SetReference,
    noise_rms: f64,
    /// Sizes of the set's up-going reps on the counted signal (°).
    sizes: Vec<f64>,
    /// Median time from one rep's start to the next (s); 0 until two reps.
    median_interval_s: f64,
}

/// The motion pipeline for one sensor, exercise, placement and side.
pub struct Pipeline {
    profile: Profile,
    placement: Placement,
    free_sign: f64,
    still: Stillness,
    attitude: Attitude,
    detector: RepDetector,
    history: VecDeque<(f64, UnitQuaternion<f64>)>,
    neutral_inv: Option<UnitQuaternion<f64>>,
    baseline: f64,
    noise_ms: f64,
    resampler: Resampler,
    open: Option<OpenSet>,
    sets_done: usize,
    stats: Stats,
    impact_mps2: f64,
    acc_norm_mean: f64,
    /// What this accelerometer reads for 1 g at rest (m/s²), once seen.
    gravity_mps2: Option<f64>,
    /// Median rep size of the last set (°): the lifter's scale.
    last_set_median_deg: Option<f64>,
    /// Movements lately not counted (rejected, or thrown out as not a set).
    set_aside: VecDeque<certainty::SetAside>,
    /// Start of the rep last announced by [`Event::RepReturned`].
    announced_return: Option<f64>,
    /// A closed pelvis rep whose flags wait for `flags.tail_s` more samples.
    pending: Option<PendingRep>,
    /// The last counted signal and orientation angle, for diagnostics.
    probe: Probe,
    /// Set when a movement was rejected: the resting level restarts from the
    /// obliquity of the next idle sample (pelvis).
    rebase: bool,
    /// How long an open movement has rested without coming back (s).
    rest_in_rep_s: f64,
    /// Whether the sensor has rested since the stream began.
    rested: bool,
    /// How long the sensor has rested away from the resting level (s).
    off_level_s: f64,
    /// When the last foot strike was felt (s).
    last_impact_t: f64,
    /// The neutral's roll (°), kept with the neutral it belongs to.
    neutral_roll: Option<(nalgebra::Vector4<f64>, f64)>,
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
            history: VecDeque::with_capacity(128),
            neutral_inv: None,
            baseline: 0.0,
            noise_ms: 0.0,
            resampler: Resampler::default(),
            open: None,
            sets_done: 0,
            announced_return: None,
            pending: None,
            probe: Probe::default(),
            rebase: false,
            rest_in_rep_s: 0.0,
            rested: false,
            off_level_s: 0.0,
            last_impact_t: f64::NEG_INFINITY,
            neutral_roll: None,
            stats: Stats::default(),
            impact_mps2: profile.reps.impact_g * STANDARD_GRAVITY,
            acc_norm_mean: STANDARD_GRAVITY,
            gravity_mps2: None,
            last_set_median_deg: None,
            set_aside: VecDeque::with_capacity(SET_ASIDE_MAX),
            placement,
            free_sign,
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

    /// What the last sample produced (signal, angle, stillness).
    pub fn probe(&self) -> Probe {
        self.probe
    }

    /// True while a set is open (a rep has been counted and the gap has not passed).
    pub fn set_open(&self) -> bool {
        self.open.is_some()
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
            self.break_track(out);
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
        let still = self.still.update(s.t, &s.acc, &s.gyr, dt);
        let rate = s.gyr - self.still.bias();
        self.attitude.update(&rate, &s.acc, dt, still);
        if !self.attitude.is_initialized() {
            return;
        }
        let q = self.attitude.orientation();
        self.history.push_back((s.t, q));
        while self.history.len() > 1 && self.history[1].0 <= s.t - NEUTRAL_DELAY_S {
            self.history.pop_front();
        }

        let in_rep = self.detector.in_rep();
        if still && !in_rep {
            // The pelvis count runs on obliquity less its resting level, so a
            // pelvis neutral is only worth re-taking from a rest the gyro can
            // vouch for: before its bias is known, a slow rep passes for rest.
            let frozen = self.placement == Placement::Pelvis
                && self.neutral_inv.is_some()
                && (self.open.is_some() || !self.still.settled());
            if !frozen {
                if self.neutral_inv.is_none() {
                    self.detector.reset();
                    self.baseline = 0.0;
                }
                self.neutral_inv = Some(self.history[0].1.inverse());
                // A new neutral moves the obliquity it is measured from.
                self.rebase = true;
            }
        }
        if self.neutral_inv.is_none() && self.placement == Placement::Pelvis {
            // The pelvis count runs on obliquity less its own resting level, so
            // any upright reference will do until a rest gives a better one.
            self.detector.reset();
            self.baseline = 0.0;
            self.neutral_inv = Some(q.inverse());
        }
        let Some(neutral_inv) = self.neutral_inv else {
            self.close_set_if_due(s.t, out);
            return;
        };
        let rel = neutral_inv * q;
        let (signal, angle, rotation) = match self.profile.reps.signal {
            RepSignal::Rotation => {
                // Rotation vector in degrees with one square root and one
                // atan2 (nalgebra's scaled_axis normalises and takes acos).
                let (w, v) = (rel.scalar(), rel.imag());
                let (w, v) = if w < 0.0 { (-w, -v) } else { (w, v) };
                let s_half = v.norm();
                let angle = 2.0 * attitude::atan2(s_half, w).to_degrees();
                let rv = if s_half > 1e-12 {
                    v * (angle / s_half)
                } else {
                    Vector3::zeros()
                };
                if angle > self.profile.reps.max_peak_deg {
                    // Turning round (the rotation is off the plane of the set):
                    // drop any open movement and wait for a new rest.
                    if let Some(outcome) =
                        self.detector.push(angle, false, false, TracePoint::at(s.t))
                    {
                        self.handle(outcome, out);
                    }
                    self.detector.reset();
                    self.neutral_inv = None;
                    self.close_set_if_due(s.t, out);
                    return;
                }
                (angle, angle, rv)
            }
            RepSignal::Obliquity => {
                // Obliquity: how far the pelvis has rolled about its
                // front-back axis (sensor Z) since the neutral, seen in the
                // direction of gravity. Heading plays no part, so turning
                // round and a drifting yaw cannot leak into it.
                let n = neutral_inv.coords;
                let neutral_roll = match self.neutral_roll {
                    Some((c, r)) if c == n => r,
                    _ => {
                        let r = roll_z_deg(&neutral_inv.inverse());
                        self.neutral_roll = Some((n, r));
                        r
                    }
                };
                let mut d = roll_z_deg(&q) - neutral_roll;
                if d > 180.0 {
                    d -= 360.0;
                } else if d <= -180.0 {
                    d += 360.0;
                }
                let o = d * self.free_sign;
                let gate = 1.5 * self.profile.reps.enter_deg;
                // At rest away from the resting level for a while (the level
                // was taken mid-movement): take the level from here.
                self.off_level_s = if still && !in_rep && (o - self.baseline).abs() >= gate {
                    self.off_level_s + dt
                } else {
                    0.0
                };
                if (self.rebase || self.off_level_s > OFF_LEVEL_S) && !in_rep {
                    self.baseline = o;
                    self.rebase = false;
                    self.off_level_s = 0.0;
                }
                // The resting level follows slow drift only: a quick rise
                // the detector has not (yet) taken for a rep must not drag it
                // along (a level that really moved is re-based on rejection).
                if !in_rep
                    && self.profile.reps.baseline_tau_s > 0.0
                    && (o - self.baseline).abs() < gate
                {
                    let toward_rep = match self.profile.reps.direction {
                        profile::RepDirection::Down => o < self.baseline,
                        _ => o > self.baseline,
                    };
                    let r = &self.profile.reps;
                    let tau = if toward_rep && r.baseline_rep_tau_s > 0.0 {
                        r.baseline_rep_tau_s
                    } else {
                        r.baseline_tau_s
                    };
                    self.baseline += (o - self.baseline) * (dt / tau).min(1.0);
                }
                (o - self.baseline, o, Vector3::zeros())
            }
        };
        if !in_rep {
            self.noise_ms +=
                (signal * signal - self.noise_ms) * (dt * (1.0 / NOISE_TAU_S)).min(1.0);
        }
        let acc_norm = raw_norm * k;
        // A foot strike jolts a sensor that is hardly turning; a fast swing
        // of the leg (a momentum rep) loads the ankle as much, but while
        // turning fast.
        let rate_norm = rate.norm();
        let mut impact = match self.profile.reps.signal {
            // The pelvis never swings fast: every jolt counts, and so does
            // a turn only hands (or turning round) can make.
            RepSignal::Obliquity => {
                peak_acc - self.acc_norm_mean > self.impact_mps2 || rate_norm > PELVIS_HANDLING_DPS
            }
            RepSignal::Rotation => {
                peak_acc - self.acc_norm_mean > self.impact_mps2 && rate_norm < IMPACT_MAX_RATE_DPS
            }
        };
        if impact {
            self.last_impact_t = s.t;
        } else if self.profile.reps.signal == RepSignal::Obliquity
            && s.t - self.last_impact_t < IMPACT_HOLDOFF_S
        {
            // Walking: the pelvis rocks between foot strikes; no rep starts
            // until the steps have stopped.
            impact = !self.detector.in_rep();
        }
        self.acc_norm_mean +=
            (acc_norm - self.acc_norm_mean) * (dt * (1.0 / IMPACT_TAU_S)).min(1.0);
        self.probe = Probe {
            t: s.t,
            signal,
            angle,
            still,
            in_rep,
            bias: self.still.bias(),
        };
        if still {
            self.rested = true;
        } else if !self.rested {
            // Nothing counts before the first rest: until then an unknown
            // gyro bias drifts the pelvis estimate by degrees.
            self.detector.reset();
            self.rebase = true;
        }
        let point = TracePoint {
            t: s.t,
            x: 0.0,
            angle,
            rotation,
            rate: rate_norm,
        };
        if let Some(outcome) = self.detector.push(signal, impact, still, point) {
            self.handle(outcome, out);
        }
        if self.profile.reps.signal == RepSignal::Obliquity {
            self.rest_in_rep_s = if still && self.detector.in_rep() && !self.detector.has_returned()
            {
                self.rest_in_rep_s + dt
            } else {
                0.0
            };
            if self.rest_in_rep_s > STALE_REST_S {
                // The pelvis rests away from where the movement began: a new
                // stance after walking or turning, not a rep that will return.
                self.detector.reset();
                self.rest_in_rep_s = 0.0;
                self.handle(
                    RepOutcome::Rejected(Rejection::NoReturn, s.t, s.t, 0.0),
                    out,
                );
            }
        }
        if let Some(p) = self.pending.as_mut() {
            if self.detector.in_rep() {
                // The next rep began: the tail ends here.
                self.flush_pending(out);
            } else {
                p.tail.push(point);
                if s.t >= p.until {
                    self.flush_pending(out);
                }
            }
        }
        if let Some((start_s, end_s, peak_deg)) = self.detector.returned() {
            if self.announced_return != Some(start_s) {
                self.announced_return = Some(start_s);
                out.push(Event::RepReturned {
                    set_number: self.sets_done + 1,
                    number: self.open.as_ref().map_or(0, |o| o.reps.len()) + 1,
                    start_s,
                    end_s,
                    peak_deg,
                });
            }
        }
        self.close_set_if_due(s.t, out);
    }

    /// Learns what this accelerometer reads for 1 g while the gyro is quiet,
    /// and returns the factor that brings its readings to standard gravity.
    fn gravity_scale(&mut self, s: &Sample, norm: f64, dt: f64) -> f64 {
        let lo = (1.0 - GRAVITY_SCALE_MAX) * STANDARD_GRAVITY;
        let hi = (1.0 + GRAVITY_SCALE_MAX) * STANDARD_GRAVITY;
        let quiet_dps = self.profile.still.gyro_abs_dps;
        match self.gravity_mps2 {
            None if (lo..hi).contains(&norm) => self.gravity_mps2 = Some(norm),
            Some(g)
                if (lo..hi).contains(&norm)
                    && (s.gyr - self.still.bias()).norm_squared() < quiet_dps * quiet_dps =>
            {
                self.gravity_mps2 = Some(g + (norm - g) * (dt * (1.0 / GRAVITY_TAU_S)).min(1.0));
            }
            _ => {}
        }
        self.gravity_mps2.map_or(1.0, |g| STANDARD_GRAVITY / g)
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

    fn break_track(&mut self, out: &mut Vec<Event>) {
        if let Some(outcome) = self.detector.finish() {
            self.handle(outcome, out);
        }
        self.flush_pending(out);
        self.attitude.reset();
        self.still.interrupt();
        self.history.clear();
        self.neutral_inv = None;
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
                // Turning round and walking are not lost reps.
                if !matches!(why, Rejection::TooLarge | Rejection::Impact) {
                    self.set_aside(start_s, end_s, size);
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
                if matches!(why, Rejection::NoReturn | Rejection::TooLarge) {
                    // Turning round, re-strapping: the old neutral is stale.
                    self.neutral_inv = None;
                }
                if matches!(
                    why,
                    Rejection::NoReturn | Rejection::TooLarge | Rejection::Impact
                ) {
                    // Whatever level the pelvis came to rest at is the new one.
                    self.rebase = true;
                }
            }
        }
    }

    /// Remembers a movement that was not counted, for the certainty of the
    /// set it turns out to border.
    fn set_aside(&mut self, start_s: f64, end_s: f64, size: f64) {
        while self
            .set_aside
            .front()
            .is_some_and(|m| m.end_s < end_s - SET_ASIDE_KEEP_S)
        {
            self.set_aside.pop_front();
        }
        if self.set_aside.len() == SET_ASIDE_MAX {
            self.set_aside.pop_front();
        }
        self.set_aside.push_back(certainty::SetAside {
            start_s,
            end_s,
            size_deg: size,
        });
    }

    /// Whether a rep starting (or the stream being) at `t` is too far from
    /// the open set to belong to it.
    fn set_gap_exceeded(&self, set: &OpenSet, t: f64) -> bool {
        let c = &self.profile.sets;
        let since_end = t - set.last_end;
        if since_end > c.gap_s {
            return true;
        }
        let n = set.reps.len();
        if n < 3 {
            return c.start_gap_s > 0.0 && since_end > c.start_gap_s;
        }
        if c.cadence_factor > 0.0 {
            let since_start = t - set.reps[n - 1].start_s;
            return since_start > c.cadence_factor * set.median_interval_s && since_end > 1.0;
        }
        false
    }

    fn close_set_if_due(&mut self, t: f64, out: &mut Vec<Event>) {
        let due = self
            .open
            .as_ref()
            .is_some_and(|set| self.set_gap_exceeded(set, t) && !self.detector.in_rep())
            // A rep waiting for its flag tail is judged when it joins.
            && self.pending.is_none();
        if due {
            self.close_set(out);
        }
    }

    fn close_set(&mut self, out: &mut Vec<Event>) {
        self.flush_pending(out);
        let Some(mut set) = self.open.take() else {
            return;
        };
        // The detector keeps the set's scale: the lifter, and how much their
        // pelvis moves with each rep, is the same in the next set.
        // Judged not reps once the set is whole (a shuffle before it, a
        // swing after it). They are not "uncounted reps" at its edges
        // either: the rule that dropped them has already judged them.
        let dropped = if self.profile.reps.signal == RepSignal::Rotation {
            let mut d = Self::drop_unlike_lead(&mut set.reps);
            d.extend(Self::drop_unlike_tail(&mut set.reps));
            d
        } else {
            Vec::new()
        };
        self.stats.not_reps[1] += dropped.len() as u64;
        if let (Some(first), Some(last)) = (set.reps.first(), set.reps.last()) {
            set.start_s = first.start_s;
            set.last_end = last.end_s;
        }
        let end_s = set.last_end;
        if set.reps.len() < self.profile.sets.min_reps
            || Self::unlike_pair(&set.reps)
            || self.small_pair(&set.reps)
        {
            for r in &set.reps {
                self.set_aside(r.start_s, r.end_s, r.peak_deg);
            }
            out.push(Event::NotASet {
                start_s: set.start_s,
                end_s,
                reps: set.reps.len(),
            });
            return;
        }
        let aside: Vec<certainty::SetAside> = self.set_aside.iter().copied().collect();
        let (confidence, doubts) = certainty::judge(
            &set.reps,
            &aside,
            set.noise_rms,
            self.profile.reps.min_peak_deg,
            self.profile.reps.max_peak_deg,
            self.profile.reps.signal,
        );
        self.last_set_median_deg = Some(median(set.reps.iter().map(|r| r.peak_deg)));
        self.sets_done += 1;
        out.push(Event::SetEnded(Set {
            start_s: set.start_s,
            end_s,
            reps: set.reps,
            confidence,
            doubts,
        }));
    }

    /// Drops the movements opening a set that are far smaller than its reps
    /// (at most two), renumbering the rest; returns those that went.
    fn drop_unlike_lead(reps: &mut Vec<Rep>) -> Vec<Rep> {
        let mut dropped = Vec::new();
        while dropped.len() < 2 && reps.len() >= 4 {
            let rest = median(reps[1..].iter().map(|r| r.peak_deg));
            if reps[0].peak_deg >= UNLIKE_LEAD_FRACTION * rest {
                break;
            }
            dropped.push(reps.remove(0));
        }
        if !dropped.is_empty() {
            for (i, r) in reps.iter_mut().enumerate() {
                r.number = i + 1;
            }
        }
        dropped
    }

    /// Drops the movements ending a set that came after a break in its
    /// rhythm and are unlike its reps (far smaller or far quicker): a
    /// swing, shaking the leg out, leaning over to change the pin. At most
    /// two; returns those that went.
    fn drop_unlike_tail(reps: &mut Vec<Rep>) -> Vec<Rep> {
        let mut dropped = Vec::new();
        while dropped.len() < 2 && reps.len() >= 5 {
            let n = reps.len();
            let body = &reps[..n - 1];
            let pace = median(body.windows(2).map(|w| w[1].start_s - w[0].start_s));
            let size = median(body.iter().map(|r| r.peak_deg));
            let length = median(body.iter().map(|r| r.end_s - r.start_s));
            let last = &reps[n - 1];
            let late = last.start_s - reps[n - 2].start_s > certainty::RHYTHM_GAP_FACTOR * pace;
            let unlike = last.peak_deg < UNLIKE_TAIL_SIZE * size
                || last.end_s - last.start_s < UNLIKE_TAIL_LENGTH * length;
            if !(late && unlike) {
                break;
            }
            dropped.push(reps.pop().expect("checked above"));
        }
        dropped
    }

    /// Two movements far smaller than the lifter's last set: shifting about.
    /// Ankle only: at the pelvis a set of clean reps is a tenth of a set of
    /// hikes.
    fn small_pair(&self, reps: &[Rep]) -> bool {
        if self.profile.reps.signal != RepSignal::Rotation {
            return false;
        }
        let (Some(scale), [a, b]) = (self.last_set_median_deg, reps) else {
            return false;
        };
        a.peak_deg.max(b.peak_deg) < UNLIKE_PAIR_FRACTION * scale
    }

    /// Two movements too unlike to be two reps of one set: a swing and a
    /// re-strap, say. (Reps of a set differ by far less than 2× in size and
    /// in duration; three or more are judged by the gaps alone.)
    fn unlike_pair(reps: &[Rep]) -> bool {
        let [a, b] = reps else { return false };
        let ratio = |x: f64, y: f64| x.max(y) / x.min(y).max(1e-9);
        ratio(a.peak_deg, b.peak_deg) > 2.0 || ratio(a.end_s - a.start_s, b.end_s - b.start_s) > 2.0
    }

    fn accept(&mut self, rep: RepTrace, tail: &[TracePoint], out: &mut Vec<Event>) {
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
            .open
            .as_ref()
            .is_some_and(|set| self.set_gap_exceeded(set, rep.start_t))
        {
            // This rep came too late to belong to the open set.
            self.close_set(out);
        }
        if self.profile.reps.signal == RepSignal::Rotation {
            if let Some(set) = self.open.as_ref() {
                let r = &set.reference;
                let axis = r.axis_sum.try_normalize(1e-9).filter(|_| r.axis_reps >= 2);
                if let Some(axis) = axis {
                    if peak_rotation.dot(&axis) < OFF_AXIS_FRACTION * peak_rotation.norm() {
                        // Turning about another axis than every rep of the set
                        // (a shank roll, settling the leg): not a rep.
                        self.stats.not_reps[1] += 1;
                        self.set_aside(rep.start_t, rep.end_t, peak_deg);
                        return;
                    }
                }
            }
        }
        let set = self.open.get_or_insert_with(|| OpenSet {
            start_s: rep.start_t,
            last_end: rep.end_t,
            reps: Vec::new(),
            reference: SetReference::default(),
            noise_rms,
            sizes: Vec::new(),
            median_interval_s: 0.0,
        });
        let mut flags = Vec::new();
        match self.profile.reps.signal {
            RepSignal::Rotation => flags::ankle_flags(
                &self.profile.flags,
                trace,
                peak_deg,
                peak_t,
                peak_rotation,
                &mut set.reference,
                &mut flags,
            ),
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
        set.last_end = rep.end_t;
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
        if rep.sign > 0.0 {
            set.sizes.push(rep.size);
        }
        if set.sizes.len() >= 3 {
            let mut v = set.sizes.clone();
            v.sort_by(f64::total_cmp);
            self.detector.set_scale(Some(v[v.len() / 2]));
        }
        out.push(Event::Rep {
            set_number: self.sets_done + 1,
            rep: r,
        });
    }
}

/// The median of some values (the upper one of an even count); 0 for none.
fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
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

    fn rep(start_s: f64, end_s: f64, peak_deg: f64) -> Rep {
        Rep {
            number: 1,
            start_s,
            end_s,
            peak_deg,
            concentric_s: 0.0,
            pause_s: 0.0,
            eccentric_s: 0.0,
            flags: Vec::new(),
        }
    }

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
        let h = 1e-4;
        let n = (27.0 * rate_hz) as usize;
        (0..n)
            .map(|i| {
                let t = i as f64 / rate_hz;
                let q = pose(t);
                let gyr = (q.inverse() * pose(t + h)).scaled_axis() / h;
                let mut acc = q.inverse_transform_vector(&Vector3::new(0.0, 0.0, STANDARD_GRAVITY));
                if jolt_t.is_some_and(|j| (t - j).abs() < 0.5 / rate_hz) {
                    acc *= 1.6;
                }
                Sample {
                    t,
                    acc,
                    gyr: gyr.map(f64::to_degrees),
                }
            })
            .collect()
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
    fn a_shuffle_before_the_first_rep_is_dropped_from_the_set() {
        // Real thigh recording (UCI subject 2, fast set): an 8° shuffle on
        // the bench, then reps of 60-75°.
        let mut reps = vec![rep(101.5, 103.0, 7.9)];
        reps.extend((0..10).map(|i| rep(103.6 + 3.0 * i as f64, 105.4 + 3.0 * i as f64, 70.0)));
        assert_eq!(Pipeline::drop_unlike_lead(&mut reps).len(), 1);
        assert_eq!(reps.len(), 10);
        assert_eq!((reps[0].number, reps[9].number), (1, 10));
        // A partial first rep (half the range) stays.
        let mut reps = vec![rep(0.0, 2.0, 35.0)];
        reps.extend((1..10).map(|i| rep(3.0 * i as f64, 3.0 * i as f64 + 2.0, 70.0)));
        assert!(Pipeline::drop_unlike_lead(&mut reps).is_empty());
        assert_eq!(reps.len(), 10);
    }

    #[test]
    fn a_swing_after_a_break_in_the_rhythm_is_dropped_from_the_set() {
        // Eight 40° reps every 7 s, then a quick 30° swing 14 s later.
        let mut reps: Vec<Rep> = (0..8)
            .map(|i| rep(7.0 * i as f64, 7.0 * i as f64 + 5.0, 40.0))
            .collect();
        reps.push(rep(63.0, 63.8, 30.0));
        assert_eq!(Pipeline::drop_unlike_tail(&mut reps).len(), 1);
        assert_eq!(reps.len(), 8);
        // A full last rep after a pause stays: the rhythm cue doubts it.
        reps.push(rep(63.0, 68.0, 39.0));
        assert!(Pipeline::drop_unlike_tail(&mut reps).is_empty());
        // So does a quick last rep in the set's rhythm (a momentum rep).
        reps.pop();
        reps.push(rep(56.0, 56.8, 45.0));
        assert!(Pipeline::drop_unlike_tail(&mut reps).is_empty());
    }

    #[test]
    fn two_small_movements_after_a_set_are_not_a_set() {
        let mut p =
            Pipeline::builtin(Exercise::SideLyingAbduction, Placement::Ankle, Side::Right).unwrap();
        let pair = [rep(141.8, 143.6, 9.2), rep(143.6, 145.2, 8.7)];
        assert!(!p.small_pair(&pair), "no scale yet: judged as any pair");
        p.last_set_median_deg = Some(69.0);
        assert!(p.small_pair(&pair));
        assert!(!p.small_pair(&[rep(0.0, 2.0, 40.0), rep(3.0, 5.0, 42.0)]));
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

    #[test]
    fn two_unlike_movements_are_not_a_set_but_two_alike_reps_are() {
        // A 2° swing and a 9° re-strap 3 s later.
        assert!(Pipeline::unlike_pair(&[
            rep(0.0, 2.0, 2.0),
            rep(3.0, 6.0, 9.0)
        ]));
        // A 1 s fidget and a 3 s rep of the same size.
        assert!(Pipeline::unlike_pair(&[
            rep(0.0, 1.0, 2.0),
            rep(2.0, 5.0, 2.2)
        ]));
        // Two reps of a short set.
        assert!(!Pipeline::unlike_pair(&[
            rep(0.0, 2.5, 2.0),
            rep(3.0, 6.0, 2.6)
        ]));
        // Three or more are judged by their gaps, not here.
        let three = [rep(0.0, 1.0, 1.0), rep(2.0, 5.0, 9.0), rep(6.0, 8.0, 2.0)];
        assert!(!Pipeline::unlike_pair(&three));
    }
}
