//! Stage 5: the set segmenter. Reps join the open set while they keep its
//! rhythm; the set closes after a gap, drops the movements at its edges that
//! are unlike its reps, and is judged ([`certainty`]) or thrown out as not a
//! set. Movements not counted are kept a while for the certainty of the set
//! they turn out to border.

use super::certainty;
use super::flags::SetReference;
use super::lever;
use super::profile::{RepSignal, SetConfig};
use super::swings::{self, SwingLog};
use super::{Event, Rep, Set};
use nalgebra::Vector3;
use std::collections::VecDeque;

/// Movements not counted are remembered this long (s) before the open set
/// began (or before the latest one, with no set open), and at most this
/// many: a set longer than this keeps what came just before its first rep.
const SET_ASIDE_KEEP_S: f64 = 60.0;
const SET_ASIDE_MAX: usize = 128;

/// The set reps are joining.
pub struct OpenSet {
    /// Start of its first rep (s).
    pub start_s: f64,
    /// End of its last rep (s).
    pub last_end: f64,
    /// Its reps so far.
    pub reps: Vec<Rep>,
    /// What its reps look like, for the ankle flags.
    pub reference: SetReference,
    /// Resting noise of the counted signal when it opened (° RMS).
    pub noise_rms: f64,
    /// Sizes of the set's up-going reps on the counted signal (°).
    pub sizes: Vec<f64>,
    /// Median time from one rep's start to the next (s); 0 until two reps.
    pub median_interval_s: f64,
    /// Start (s) of the last rep when it came after a long pause and
    /// turned farther off the set's axis than its reps (the pipeline's
    /// `LATE_ON_AXIS`): dropped if the set ends with it.
    pub late_odd_start_s: Option<f64>,
    /// Pelvis: how hard each rep shook the sensor (its start, s; the root
    /// mean square departure of |acc| from 1 g, m/s²).
    pub shakes: Vec<(f64, f64)>,
    /// Where each rep began on the counted signal and how it ended; the
    /// level is above 0 when the rep before came back only part way
    /// ([`certainty::shallow_returns`], [`certainty::turned_part_way`]).
    pub levels: Vec<certainty::RepLevel>,
}

/// See [`Segmenter::drop_apart_lead`].
const APART_LEAD_GAP: f64 = 2.0;

/// A movement is like a set's reps when its peak lies within these
/// shares of their median…
const ALIKE_SIZE: (f64, f64) = (0.7, 1.4);
/// … and its length within these ([`Segmenter::alike`]).
const ALIKE_LENGTH: (f64, f64) = (0.6, 1.6);
/// Only a set whose reps are at least this share of the last set's
/// (median) waits out a long pause before its third rep.
const JOIN_MIN_SCALE: f64 = 0.5;

/// A walk whose strides turned the shank about one axis gives that axis
/// once it has this many strides ([`Stride`]).
const STRIDE_MIN_STEPS: usize = 4;
/// A stride more than this after the one before starts another walk (s).
const STRIDE_BOUT_GAP_S: f64 = 5.0;
/// A set whose reps turn within ~30° of the stride axis (this cosine) is
/// no abduction set ([`Stride`]).
const STRIDE_SET_COS: f64 = 0.87;
/// The stride axis is trusted only when it lies more than 60° (this
/// cosine) from the axis of the last set ([`Stride`]).
const STRIDE_APART_COS: f64 = 0.5;
/// Confidence left when the reps turned about the last walk's stride axis.
const WALK_AXIS_CAP: f64 = 0.5;
/// A set with at least this many reps gives the axis the stride is checked against.
const STRIDE_SET_MIN_REPS: usize = 6;

/// Ankle: the axis the shank turns about in a walk, in the sensor's own
/// frame. A stride swings the shank forward and back, about the body's
/// left-right axis; every exercise medius counts at the ankle turns it
/// about another (abduction about the front-back axis, the seated machine
/// about the vertical). A "set" whose reps turn about the stride axis is
/// another exercise or more walking: squats, lunges, marching, step-ups.
/// Gravity cannot tell these from abduction (both turn about a level
/// axis); the walk can, for as long as the strap stays put. Side steps and
/// leg swings pass for a walk too and turn about the abduction axis, so the
/// stride axis is trusted only when it lies far from the last set's.
#[derive(Debug, Clone, Default)]
struct Stride {
    /// Sign-aligned, size-weighted sum of the current walk's stride axes.
    bout: Vector3<f64>,
    /// Strides in the current walk.
    bout_steps: usize,
    /// End of the current walk's last stride (s).
    last_s: f64,
    /// The axis of the latest walk with enough strides.
    known: Option<Vector3<f64>>,
    /// The rep axis of the last set with enough reps.
    last_set: Option<Vector3<f64>>,
}

impl Stride {
    fn learn(&mut self, unit: Vector3<f64>, size_deg: f64, start_s: f64, end_s: f64) {
        if self.bout_steps > 0 && start_s - self.last_s > STRIDE_BOUT_GAP_S {
            self.bout = Vector3::zeros();
            self.bout_steps = 0;
        }
        // Forward and back swings turn opposite ways about the same axis.
        let signed = if self.bout.dot(&unit) < 0.0 {
            -unit
        } else {
            unit
        };
        self.bout += signed * size_deg;
        self.bout_steps += 1;
        self.last_s = end_s;
        if self.bout_steps >= STRIDE_MIN_STEPS {
            self.known = self.bout.try_normalize(1e-9);
        }
    }

    /// A set whose reps turn about the latest walk's stride axis, whether
    /// or not a set before it tells that axis from abduction's
    /// ([`Stride::along`] drops the set when one does): kickbacks or leg
    /// swings, perhaps. Not a reason to drop it (side steps turn about the
    /// abduction axis and teach it too: the set after a band walk is
    /// doubted for nothing), but one to keep it from sure.
    fn walk_axis_doubt(
        &self,
        axis_sum: &Vector3<f64>,
        start_s: f64,
        end_s: f64,
    ) -> Option<(f64, Vec<certainty::Doubt>)> {
        let (stride, axis) = (self.known?, axis_sum.try_normalize(1e-9)?);
        (stride.dot(&axis).abs() >= STRIDE_SET_COS).then(|| {
            (
                WALK_AXIS_CAP,
                vec![certainty::Doubt {
                    kind: certainty::DoubtKind::WalkAxis,
                    from_s: start_s,
                    to_s: end_s,
                    reps: 0,
                    message: "the reps turned the leg about the axis the last walk's strides \
                              turned it about: they may be kickbacks or leg swings, not this \
                              exercise"
                        .to_string(),
                }],
            )
        })
    }

    /// Whether reps turning about `axis_sum` turn about a trusted stride axis.
    fn along(&self, axis_sum: &Vector3<f64>) -> bool {
        match (self.known, self.last_set, axis_sum.try_normalize(1e-9)) {
            (Some(stride), Some(set), Some(axis)) => {
                stride.dot(&set).abs() < STRIDE_APART_COS
                    && stride.dot(&axis).abs() >= STRIDE_SET_COS
            }
            _ => false,
        }
    }
}

impl OpenSet {
    /// A set opened by a rep from `start_s` to `end_s`.
    pub fn new(start_s: f64, end_s: f64, noise_rms: f64) -> OpenSet {
        OpenSet {
            start_s,
            last_end: end_s,
            reps: Vec::new(),
            reference: SetReference::default(),
            noise_rms,
            sizes: Vec::new(),
            median_interval_s: 0.0,
            late_odd_start_s: None,
            shakes: Vec::new(),
            levels: Vec::new(),
        }
    }
}

/// How many of the latest reps measured from a shaky rest are kept.
const SHAKY_KEPT: usize = 64;

/// How many of the latest gaps in the data are kept.
const GAPS_KEPT: usize = 16;

/// Groups reps into sets: see the module's documentation.
pub struct Segmenter {
    cfg: SetConfig,
    signal: RepSignal,
    min_peak_deg: f64,
    max_peak_deg: f64,
    /// The set reps are joining, if any.
    pub open: Option<OpenSet>,
    /// Sets given out so far.
    pub sets_done: usize,
    /// Median rep size of the last set (°): the lifter's scale.
    last_set_median_deg: Option<f64>,
    /// Movements lately not counted (rejected, or thrown out as not a set).
    aside: VecDeque<certainty::SetAside>,
    /// Abduction counted at the pelvis: clean reps may go unseen
    /// ([`certainty::compensated_only`]).
    pelvis_abduction: bool,
    /// The last lone rep thrown out as not a set: the first rep of the next
    /// set if that set turns out to be like it, after a long first pause.
    lone: Option<Rep>,
    /// Starts of the latest quick movements in quick succession (s).
    steps: Vec<f64>,
    /// A quick movement starting before this is a step of the walk (s).
    walking_until: f64,
    /// Ankle: the axis of the latest walk's strides.
    stride: Stride,
    /// Ankle: the recent angular rate, for a second count of each set
    /// from the gyro alone ([`swings::disagreement`]), with the
    /// acceleration and the way up for the lever ([`lever::off_pivot`]).
    pub swings: SwingLog,
    /// The latest gaps in the data that broke the track in the middle of a
    /// movement (s, from–to).
    gaps: VecDeque<(f64, f64)>,
    /// Starts of the latest reps measured from a shaky rest (s).
    shaky: VecDeque<f64>,
    /// When the neutral was last taken from a posture the leg had just
    /// moved into ([`Segmenter::note_moving_neutral`]) (s).
    moving_neutral_s: Option<f64>,
    /// Pelvis: the latest movements counted again from the level they kept
    /// coming back to (s from–to, and that level, °).
    relevels: VecDeque<(f64, f64, f64)>,
}

impl Segmenter {
    /// A segmenter for a profile's `[sets]`, counting `signal` with reps
    /// between `min_peak_deg` and `max_peak_deg`.
    pub fn new(cfg: SetConfig, signal: RepSignal, min_peak_deg: f64, max_peak_deg: f64) -> Self {
        Segmenter {
            cfg,
            signal,
            min_peak_deg,
            max_peak_deg,
            open: None,
            sets_done: 0,
            last_set_median_deg: None,
            aside: VecDeque::with_capacity(SET_ASIDE_MAX),
            pelvis_abduction: false,
            lone: None,
            steps: Vec::new(),
            walking_until: f64::NEG_INFINITY,
            stride: Stride::default(),
            swings: SwingLog::default(),
            gaps: VecDeque::new(),
            shaky: VecDeque::new(),
            moving_neutral_s: None,
            relevels: VecDeque::new(),
        }
    }

    /// Notes that the neutral was taken at `t` (s) from a posture the leg
    /// had just moved into: a rest held before the sensor turned out of
    /// reach of the old neutral, or a rest after a long movement given up
    /// for not coming back ([`certainty::no_rest_before`]).
    pub fn note_moving_neutral(&mut self, t: f64) {
        self.moving_neutral_s = Some(t);
    }

    /// Notes that the movement from `from_s` to `to_s` was counted again
    /// from a level `shift_deg` from the resting one
    /// ([`certainty::relevelled`]).
    pub fn note_relevel(&mut self, from_s: f64, to_s: f64, shift_deg: f64) {
        if self.relevels.len() == SHAKY_KEPT {
            self.relevels.pop_front();
        }
        self.relevels.push_back((from_s, to_s, shift_deg));
    }

    /// Notes a rep begun at `start_s` measured from a neutral taken at a
    /// shaky rest ([`certainty::shaky_rests`]).
    pub fn note_shaky(&mut self, start_s: f64) {
        if self.shaky.len() == SHAKY_KEPT {
            self.shaky.pop_front();
        }
        self.shaky.push_back(start_s);
    }

    /// Notes a gap in the data from `from_s` to `to_s` that broke the
    /// track in the middle of a movement: if that was a rep, it went
    /// unseen ([`certainty::data_gaps`]).
    pub fn note_gap(&mut self, from_s: f64, to_s: f64) {
        if self.gaps.len() == GAPS_KEPT {
            self.gaps.pop_front();
        }
        self.gaps.push_back((from_s, to_s));
    }

    /// Ankle: a movement taken for a stride of a walk turned about `unit`
    /// (the sensor's frame) by `size_deg`.
    pub fn learn_stride(&mut self, unit: Vector3<f64>, size_deg: f64, start_s: f64, end_s: f64) {
        self.stride.learn(unit, size_deg, start_s, end_s);
    }

    /// Says the reps are abduction counted at the pelvis (see
    /// [`certainty::compensated_only`]).
    pub fn pelvis_abduction(mut self, on: bool) -> Self {
        self.pelvis_abduction = on;
        self
    }

    /// Remembers a movement that was not counted, for the certainty of the
    /// set it turns out to border.
    pub fn set_aside(&mut self, start_s: f64, end_s: f64, size: f64, jolted: bool) {
        let since = self.open.as_ref().map_or(end_s, |o| o.start_s.min(end_s));
        while self
            .aside
            .front()
            .is_some_and(|m| m.end_s < since - SET_ASIDE_KEEP_S)
        {
            self.aside.pop_front();
        }
        if self.aside.len() == SET_ASIDE_MAX {
            self.aside.pop_front();
        }
        self.aside.push_back(certainty::SetAside {
            start_s,
            end_s,
            size_deg: size,
            jolted,
        });
    }

    /// Whether there is an open set and a rep starting (or the stream
    /// being) at `t` is too far from it to belong to it. `rep` is the
    /// movement that starts then (its peak, °, and length, s), if any.
    ///
    /// Ankle: while the set has fewer than 3 reps, a pause past
    /// `start_gap_s` (but within `gap_s`) ends it only if the movement
    /// after it is unlike its reps ([`Segmenter::alike`]): a slow lifter
    /// (Pilates, a long hold at the top) may rest 6–10 s between every two
    /// reps, and each rep used to be thrown out as a lone movement. (A
    /// first rep left alone by one long pause already rejoined the set at
    /// its close: [`Segmenter::takes_lone_lead`].)
    pub fn gap_exceeded(&self, t: f64, rep: Option<(f64, f64)>) -> bool {
        let Some(set) = self.open.as_ref() else {
            return false;
        };
        let c = &self.cfg;
        let since_end = t - set.last_end;
        if since_end > c.gap_s {
            return true;
        }
        let n = set.reps.len();
        if n < 3 {
            let past = c.start_gap_s > 0.0 && since_end > c.start_gap_s;
            if past && self.signal == RepSignal::Rotation && n > 0 {
                // Fidgets are alike too: only reps of the lifter's size
                // (the last set's), and two that are like each other,
                // wait out the long pause.
                let waits = self
                    .last_set_median_deg
                    .is_none_or(|scale| median_peak(&set.reps) >= JOIN_MIN_SCALE * scale)
                    && !Self::unlike_pair(&set.reps);
                return match rep {
                    None => !waits,
                    Some((peak, length)) => !waits || !Self::alike(&set.reps, peak, length),
                };
            }
            return past;
        }
        if c.cadence_factor > 0.0 {
            let since_start = t - set.reps[n - 1].start_s;
            return since_start > c.cadence_factor * set.median_interval_s && since_end > 1.0;
        }
        false
    }

    /// Closes the open set: a [`Event::SetEnded`], or [`Event::NotASet`]
    /// when what it holds is not a set. Returns how many of its movements
    /// were dropped as not reps.
    pub fn close(&mut self, out: &mut Vec<Event>) -> usize {
        let Some(mut set) = self.open.take() else {
            return 0;
        };
        // The detector keeps the set's scale: the lifter, and how much their
        // pelvis moves with each rep, is the same in the next set.
        // Judged not reps once the set is whole (a shuffle before it, a
        // swing after it). They are not "uncounted reps" at its edges
        // either: the rule that dropped them has already judged them; only
        // one as large as the reps keeps the set from being sure
        // (`certainty::dropped_like_reps`).
        let dropped = if self.signal == RepSignal::Rotation {
            let mut d = Self::drop_odd_axis(&mut set);
            d.extend(Self::drop_late_odd(&mut set));
            d.extend(Self::drop_unlike_lead(&mut set.reps, &self.cfg));
            d.extend(Self::drop_unlike_tail(&mut set.reps, &self.cfg));
            d.extend(Self::drop_tiny_inside(&mut set.reps, &self.cfg));
            d
        } else {
            let mut d = self.drop_shaken_ends(&mut set);
            if !self.pelvis_abduction {
                // The hip hitch: the pelvis is the working segment and its
                // reps are alike, so a small late movement after the last
                // one is stepping off the box, as at the ankle.
                d.extend(Self::drop_unlike_tail(&mut set.reps, &self.cfg));
            }
            if self.cfg.apart_lead_size > 0.0 {
                d.extend(Self::drop_apart_lead(
                    &mut set.reps,
                    self.cfg.apart_lead_size,
                ));
            }
            d
        };
        if let (Some(first), Some(last)) = (set.reps.first(), set.reps.last()) {
            set.start_s = first.start_s;
            set.last_end = last.end_s;
        }
        let end_s = set.last_end;
        // Another exercise, and no lost reps either: the pelvis moved
        // bodily with every rep (squats, lunges, bridges, walking), or the
        // reps turned the shank the way a stride does (squats, lunges,
        // marching).
        let stride_like = self.signal == RepSignal::Rotation
            && set.reps.len() >= self.cfg.min_reps
            && set.reference.axis_known()
            && self.stride.along(&set.reference.axis_sum);
        if self.shaken(&set) || stride_like {
            out.push(Event::NotASet {
                start_s: set.start_s,
                end_s,
                reps: set.reps.len(),
            });
            return dropped.len();
        }
        // Judged before this set becomes the one the next walk is told
        // apart from.
        let walk_axis = (self.signal == RepSignal::Rotation)
            .then(|| {
                self.stride
                    .walk_axis_doubt(&set.reference.axis_sum, set.start_s, end_s)
            })
            .flatten();
        if set.reps.len() >= STRIDE_SET_MIN_REPS && set.reference.axis_known() {
            self.stride.last_set = set.reference.axis_sum.try_normalize(1e-9);
        }
        if set.reps.len() < self.cfg.min_reps
            || Self::unlike_pair(&set.reps)
            || self.small_pair(&set.reps)
        {
            for r in &set.reps {
                self.set_aside(r.start_s, r.end_s, r.peak_deg, false);
            }
            self.lone = match set.reps.as_slice() {
                [one] => Some(one.clone()),
                _ => None,
            };
            out.push(Event::NotASet {
                start_s: set.start_s,
                end_s,
                reps: set.reps.len(),
            });
            return dropped.len();
        }
        if let Some(lone) = self.lone.take() {
            if Self::takes_lone_lead(&set.reps, &lone, self.cfg.gap_s) {
                self.aside.retain(|m| m.start_s != lone.start_s);
                set.start_s = lone.start_s;
                set.reps.insert(0, lone);
                renumber(&mut set.reps);
            }
        }
        let aside: Vec<certainty::SetAside> = self.aside.iter().copied().collect();
        let (mut confidence, mut doubts) = certainty::judge(
            &set.reps,
            &aside,
            set.noise_rms,
            self.min_peak_deg,
            self.max_peak_deg,
            self.signal,
        );
        // The set-level cues: each caps the confidence and adds its doubts.
        let mut cap = |found: Option<(f64, Vec<certainty::Doubt>)>| {
            if let Some((cap, more)) = found {
                if confidence >= certainty::SURE {
                    // A set judged sure carries no doubts of its own.
                    doubts.clear();
                }
                confidence = confidence.min(cap);
                doubts.extend(more);
            }
        };
        if self.pelvis_abduction {
            cap(certainty::compensated_only(&set.reps).map(|(c, d)| (c, vec![d])));
        }
        cap(certainty::faint_reps(&set.reps, self.cfg.sure_min_peak_deg).map(|(c, d)| (c, vec![d])));
        if self.signal == RepSignal::Rotation {
            cap(certainty::stride_like(&set.reps).map(|(c, d)| (c, vec![d])));
        }
        cap(certainty::dropped_like_reps(&set.reps, &dropped));
        cap(walk_axis);
        cap(certainty::data_gaps(&set.reps, self.gaps.make_contiguous()));
        cap(
            certainty::shaky_rests(&set.reps, self.shaky.make_contiguous())
                .map(|(c, d)| (c, vec![d])),
        );
        cap(certainty::growing_reps(&set.reps).map(|(c, d)| (c, vec![d])));
        if self.signal == RepSignal::Rotation {
            cap(certainty::shallow_returns(&set.reps, &set.levels).map(|(c, d)| (c, vec![d])));
            cap(certainty::turned_part_way(&set.reps, &set.levels).map(|(c, d)| (c, vec![d])));
        }
        cap(certainty::no_rest_before(&set.reps, self.moving_neutral_s).map(|(c, d)| (c, vec![d])));
        cap(
            certainty::relevelled(&set.reps, self.relevels.make_contiguous())
                .map(|(c, d)| (c, vec![d])),
        );
        if self.signal == RepSignal::Rotation && set.reference.axis_known() {
            if let Some(axis) = set.reference.axis_sum.try_normalize(1e-9) {
                cap(swings::disagreement(&self.swings, &set.reps, &axis));
                if let Some(expected) = self.cfg.pivot_elevation_deg {
                    let off = self.cfg.pivot_off_deg;
                    cap(lever::off_pivot(
                        &self.swings,
                        &set.reps,
                        &axis,
                        expected,
                        off,
                    ));
                }
            }
        }
        self.last_set_median_deg = Some(median(set.reps.iter().map(|r| r.peak_deg)));
        self.sets_done += 1;
        out.push(Event::SetEnded(Set {
            start_s: set.start_s,
            end_s,
            reps: set.reps,
            confidence,
            doubts,
        }));
        dropped.len()
    }

    /// Notes a movement from `start_s` to `end_s` (`counted`: one the
    /// detector took for a rep) and says whether it is a step of a walk to the stack or a turn: the
    /// `step_run`-th quick movement in quick succession, or any quick one
    /// soon after (see `SetConfig::step_run`). The steps that joined the
    /// open set before the walk showed are taken back out of it.
    pub fn is_step(&mut self, start_s: f64, end_s: f64, size_deg: f64, counted: bool) -> bool {
        let c = &self.cfg;
        if !counted {
            // A movement the detector threw out (too quick, a jolt) goes on
            // a walk but does not start one: a momentum rep's rebound.
            let step = start_s < self.walking_until && end_s - start_s < c.step_max_s;
            if step {
                self.walking_until = start_s + c.step_interval_s;
            }
            return step;
        }
        if c.step_run == 0 || size_deg < self.min_peak_deg {
            // Too small to be a step (or a rep): it neither makes a walk
            // nor breaks one.
            return false;
        }
        if end_s - start_s >= c.step_max_s {
            self.steps.clear();
            return false;
        }
        if self
            .steps
            .last()
            .is_some_and(|&t| start_s - t >= c.step_interval_s)
        {
            self.steps.clear();
        }
        self.steps.push(start_s);
        let walking = start_s < self.walking_until || self.steps.len() >= c.step_run;
        if !walking {
            return false;
        }
        self.walking_until = start_s + c.step_interval_s;
        let first = self.steps[0];
        if let Some(set) = self.open.as_mut() {
            set.reps.retain(|r| r.start_s < first);
            // Nothing but steps leaves it empty, for the caller to close as
            // not a set, so the reps already announced are withdrawn.
            if let (Some(a), Some(b)) = (set.reps.first(), set.reps.last()) {
                set.start_s = a.start_s;
                set.last_end = b.end_s;
            }
        }
        // The steps the set had set aside are no uncounted reps either.
        self.aside.retain(|m| m.start_s < first);
        true
    }

    /// Whether a lone rep thrown out as not a set, within `gap_s` before
    /// `reps`, was their first: a lifter who paused after rep 1 longer than
    /// `start_gap_s`. It must be like them in size and in length (a swing,
    /// a shuffle or settling in is not), and the set long enough to say so.
    fn takes_lone_lead(reps: &[Rep], lone: &Rep, gap_s: f64) -> bool {
        let Some(first) = reps.first() else {
            return false;
        };
        if reps.len() < 4 || lone.end_s > first.start_s || first.start_s - lone.end_s > gap_s {
            return false;
        }
        Self::alike(reps, lone.peak_deg, lone.end_s - lone.start_s)
    }

    /// Whether a movement of `peak` (°) lasting `length` (s) is like
    /// `reps` in size and in length (their medians).
    fn alike(reps: &[Rep], peak: f64, length: f64) -> bool {
        let size = peak / median(reps.iter().map(|r| r.peak_deg)).max(1e-9);
        let length = length / median(reps.iter().map(|r| r.end_s - r.start_s)).max(1e-9);
        (ALIKE_SIZE.0..=ALIKE_SIZE.1).contains(&size)
            && (ALIKE_LENGTH.0..=ALIKE_LENGTH.1).contains(&length)
    }

    /// How hard rep `r` of `set` shook the sensor (m/s², if known).
    fn shake_of(set: &OpenSet, r: &Rep) -> Option<f64> {
        set.shakes
            .iter()
            .find(|(start_s, _)| *start_s == r.start_s)
            .map(|&(_, rms)| rms)
    }

    /// Pelvis: drops the movements opening or closing a set that shook the
    /// sensor harder than `sets.shake_max_mps2` while its reps did not: the
    /// strides of a walk away after the last hitch (each rolls the pelvis
    /// 4-6° in a second, with a heel strike) or up to the box before the
    /// first, each quicker than the set's reps. A hitch or an abduction
    /// tilts the pelvis without shaking it. Returns those that went.
    fn drop_shaken_ends(&self, set: &mut OpenSet) -> Vec<Rep> {
        let max = self.cfg.shake_max_mps2;
        if max <= 0.0 || self.shaken(set) {
            return Vec::new();
        }
        let shaken = |r: &Rep| Self::shake_of(set, r).is_some_and(|rms| rms > max);
        let calm = || set.reps.iter().filter(|r| !shaken(r));
        if calm().next().is_none() {
            return Vec::new();
        }
        // A stride is quicker than a rep; a long movement that shook is a
        // rep begun while the lifter was still settling from a jog.
        let length = median(calm().map(|r| r.end_s - r.start_s));
        let keep: Vec<bool> = set
            .reps
            .iter()
            .map(|r| !shaken(r) || r.end_s - r.start_s >= length)
            .collect();
        let (Some(first), Some(last)) =
            (keep.iter().position(|&k| k), keep.iter().rposition(|&k| k))
        else {
            return Vec::new();
        };
        if first == 0 && last + 1 == set.reps.len() {
            return Vec::new();
        }
        let mut dropped: Vec<Rep> = set.reps.drain(last + 1..).collect();
        dropped.extend(set.reps.drain(..first));
        renumber(&mut set.reps);
        dropped
    }

    /// Pelvis: whether the set's reps shook the sensor harder than
    /// `sets.shake_max_mps2` (their median).
    fn shaken(&self, set: &OpenSet) -> bool {
        let max = self.cfg.shake_max_mps2;
        if max <= 0.0 || set.reps.is_empty() {
            return false;
        }
        let shakes: Vec<f64> = set
            .reps
            .iter()
            .filter_map(|r| Self::shake_of(set, r))
            .collect();
        !shakes.is_empty() && median(shakes.iter().copied()) > max
    }

    /// Notes a movement that is no step (a rep about the set's own axis):
    /// it breaks any run of quick movements.
    pub fn not_a_step(&mut self) {
        self.steps.clear();
    }

    /// Drops the one of a set's first two movements that turned about
    /// another axis than its reps (`SetReference::odd_start_s`: a step into
    /// place, settling the foot), once the set has 4 reps with it.
    fn drop_odd_axis(set: &mut OpenSet) -> Vec<Rep> {
        let Some(start_s) = set.reference.odd_start_s else {
            return Vec::new();
        };
        let Some(i) = set.reps.iter().position(|r| r.start_s == start_s) else {
            return Vec::new();
        };
        if set.reps.len() < 4 {
            return Vec::new();
        }
        let odd = set.reps.remove(i);
        renumber(&mut set.reps);
        vec![odd]
    }

    /// Drops the set's last movement when it came after a long pause about
    /// another axis than its reps (`OpenSet::late_odd_start_s`) and the set
    /// keeps 3 reps without it.
    fn drop_late_odd(set: &mut OpenSet) -> Vec<Rep> {
        match (set.late_odd_start_s, set.reps.last()) {
            (Some(start_s), Some(last)) if last.start_s == start_s && set.reps.len() >= 4 => {
                set.reps.pop().into_iter().collect()
            }
            _ => Vec::new(),
        }
    }

    /// Pelvis: drops the set's first movement when it is unlike its reps
    /// in size (under `size` of them: `sets.apart_lead_size`) and stands
    /// apart from them: a pause before the second more than
    /// [`APART_LEAD_GAP`] times the set's usual one (shifting the weight,
    /// stepping onto the box before the first hitch).
    fn drop_apart_lead(reps: &mut Vec<Rep>, size_fraction: f64) -> Vec<Rep> {
        if reps.len() < 4 {
            return Vec::new();
        }
        let size = median_peak(&reps[1..]);
        let pause = median_pause(&reps[1..]);
        let first = &reps[0];
        if first.peak_deg < size_fraction * size
            && reps[1].start_s - first.end_s > APART_LEAD_GAP * pause.max(0.25)
        {
            let first = reps.remove(0);
            renumber(reps);
            vec![first]
        } else {
            Vec::new()
        }
    }

    /// Drops the movements opening a set that are far smaller than its reps,
    /// or quick and unlike them in size (settling into position), at most
    /// two, renumbering the rest; returns those that went.
    fn drop_unlike_lead(reps: &mut Vec<Rep>, cfg: &SetConfig) -> Vec<Rep> {
        let mut dropped = Vec::new();
        while dropped.len() < 2 && reps.len() >= 4 {
            let rest = median_peak(&reps[1..]);
            let length = median_length(&reps[1..]);
            let first = &reps[0];
            let ratio = first.peak_deg / rest.max(1e-9);
            // Settling into position: quick, and unlike the reps in size.
            let settling = first.end_s - first.start_s < cfg.unlike_tail_length * length
                && !(0.6..=1.4).contains(&ratio);
            if ratio >= cfg.unlike_edge_fraction && !settling {
                break;
            }
            dropped.push(reps.remove(0));
        }
        if !dropped.is_empty() {
            renumber(reps);
        }
        dropped
    }

    /// Drops the movements ending a set that came after a break in its
    /// rhythm and are unlike its reps (far smaller or far quicker): a
    /// swing, shaking the leg out, leaning over to change the pin. At most
    /// two; returns those that went.
    fn drop_unlike_tail(reps: &mut Vec<Rep>, cfg: &SetConfig) -> Vec<Rep> {
        let mut dropped = Vec::new();
        while dropped.len() < 2 && reps.len() >= 5 {
            let n = reps.len();
            let body = &reps[..n - 1];
            let pace = median_interval(body);
            let size = median_peak(body);
            let length = median_length(body);
            let last = &reps[n - 1];
            // After a break in the rhythm, or a rest longer than a whole
            // rep of the set takes from start to start.
            let late = last.start_s - reps[n - 2].start_s > certainty::RHYTHM_GAP_FACTOR * pace
                || last.start_s - reps[n - 2].end_s > pace;
            let unlike = last.peak_deg < cfg.unlike_tail_size * size
                || last.end_s - last.start_s < cfg.unlike_tail_length * length;
            // Far smaller than the full rep just before it: settling the
            // leg after the set, however soon it comes. (Tired reps shrink
            // rep by rep; a last partial rep after partial reps stays.)
            let tiny = last.peak_deg < cfg.unlike_edge_fraction * size
                && reps[n - 2].peak_deg >= cfg.unlike_tail_size * size;
            if !(tiny || late && unlike) {
                break;
            }
            dropped.push(reps.pop().expect("checked above"));
        }
        dropped
    }

    /// Drops the movements inside a set, between two full reps, that are
    /// far smaller than its reps (under `unlike_edge_fraction` of their
    /// median) and far quicker (under `unlike_inside_length` of their median
    /// length): the leg swinging back after a lowering, a twitch between
    /// reps. A partial rep inside a set is slow like the reps around it and
    /// stays. Returns those that went.
    fn drop_tiny_inside(reps: &mut Vec<Rep>, cfg: &SetConfig) -> Vec<Rep> {
        if cfg.unlike_inside_length <= 0.0 || reps.len() < 4 {
            return Vec::new();
        }
        let size = median_peak(reps);
        let length = median_length(reps);
        let full = |r: &Rep| r.peak_deg >= cfg.unlike_tail_size * size;
        let mut dropped = Vec::new();
        let mut i = 1;
        while i + 1 < reps.len() {
            let r = &reps[i];
            if r.peak_deg < cfg.unlike_edge_fraction * size
                && r.end_s - r.start_s < cfg.unlike_inside_length * length
                && full(&reps[i - 1])
                && full(&reps[i + 1])
            {
                dropped.push(reps.remove(i));
            } else {
                i += 1;
            }
        }
        if !dropped.is_empty() {
            renumber(reps);
        }
        dropped
    }

    /// Two movements far smaller than the lifter's last set: shifting about.
    /// Ankle only: at the pelvis a set of clean reps is a tenth of a set of
    /// hikes.
    fn small_pair(&self, reps: &[Rep]) -> bool {
        if self.signal != RepSignal::Rotation {
            return false;
        }
        let (Some(scale), [a, b]) = (self.last_set_median_deg, reps) else {
            return false;
        };
        a.peak_deg.max(b.peak_deg) < self.cfg.unlike_pair_fraction * scale
    }

    /// Two movements too unlike to be two reps of one set: a swing and a
    /// re-strap, say. (Reps of a set differ by far less than 2× in size and
    /// in duration; three or more are judged by the gaps alone.)
    fn unlike_pair(reps: &[Rep]) -> bool {
        let [a, b] = reps else { return false };
        let ratio = |x: f64, y: f64| x.max(y) / x.min(y).max(1e-9);
        ratio(a.peak_deg, b.peak_deg) > 2.0 || ratio(a.end_s - a.start_s, b.end_s - b.start_s) > 2.0
    }
}

/// Numbers a set's reps 1, 2, … again after some were taken out or put in.
fn renumber(reps: &mut [Rep]) {
    for (i, r) in reps.iter_mut().enumerate() {
        r.number = i + 1;
    }
}

/// The median of some values (the upper one of an even count); 0 for none.
pub(crate) fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The median peak of `reps` (°); 0 for none.
pub(crate) fn median_peak(reps: &[Rep]) -> f64 {
    median(reps.iter().map(|r| r.peak_deg))
}

/// The median length of `reps`, start to return (s); 0 for none.
pub(crate) fn median_length(reps: &[Rep]) -> f64 {
    median(reps.iter().map(|r| r.end_s - r.start_s))
}

/// The median interval between `reps`, one's start to the next's (s); 0
/// for fewer than two.
pub(crate) fn median_interval(reps: &[Rep]) -> f64 {
    median(reps.windows(2).map(|w| w[1].start_s - w[0].start_s))
}

/// The median pause between `reps`, one's return to the next's start (s);
/// 0 for fewer than two.
pub(crate) fn median_pause(reps: &[Rep]) -> f64 {
    median(reps.windows(2).map(|w| w[1].start_s - w[0].end_s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Exercise, Placement};

    fn cfg() -> SetConfig {
        crate::motion::Profile::builtin(Exercise::StandingCableAbduction, Placement::Ankle)
            .unwrap()
            .sets
    }

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

    /// An open set of `n` reps, 3 s apart, turning about `axis`.
    fn open_set(axis: Vector3<f64>, start_s: f64, n: usize) -> OpenSet {
        let mut set = OpenSet::new(start_s, start_s + 2.0, 0.2);
        for i in 0..n {
            let t = start_s + 3.0 * i as f64;
            set.reference.learn_axis(axis, 30.0, t);
            set.reps.push(rep(t, t + 2.0, 30.0));
        }
        renumber(&mut set.reps);
        set.last_end = start_s + 3.0 * (n - 1) as f64 + 2.0;
        set
    }

    #[test]
    fn a_quick_twitch_between_reps_is_dropped_but_a_slow_partial_rep_stays() {
        // Pendulum model: a leg swinging back 6° for 0.8 s after a lowering,
        // between reps of 30° lasting 2 s; torque model: a partial rep of 8°
        // as slow as the reps around it.
        let c = cfg();
        let mut reps: Vec<Rep> = (0..8)
            .map(|i| rep(3.0 * i as f64, 3.0 * i as f64 + 2.0, 30.0))
            .collect();
        reps.insert(3, rep(8.2, 9.0, 6.0));
        reps.insert(6, rep(12.9, 14.8, 8.0));
        renumber(&mut reps);
        let dropped = Segmenter::drop_tiny_inside(&mut reps, &c);
        assert_eq!(dropped.len(), 1, "{dropped:?}");
        assert_eq!(dropped[0].start_s, 8.2);
        assert_eq!(reps.len(), 9);
        assert!(reps.iter().any(|r| r.peak_deg == 8.0));
        assert_eq!(reps.last().map(|r| r.number), Some(9));
        // Between a partial rep and a full one it is not judged: tired reps
        // shrink and quicken together.
        let mut tired: Vec<Rep> = (0..6)
            .map(|i| rep(3.0 * i as f64, 3.0 * i as f64 + 2.0, 30.0))
            .collect();
        tired[3].peak_deg = 12.0;
        tired.insert(4, rep(11.2, 11.9, 7.0));
        assert!(Segmenter::drop_tiny_inside(&mut tired, &c).is_empty());
        // Off at 0.
        let off = SetConfig {
            unlike_inside_length: 0.0,
            ..c
        };
        let mut again: Vec<Rep> = (0..6)
            .map(|i| rep(3.0 * i as f64, 3.0 * i as f64 + 2.0, 30.0))
            .collect();
        again.insert(2, rep(5.2, 5.9, 5.0));
        assert!(Segmenter::drop_tiny_inside(&mut again, &off).is_empty());
    }

    #[test]
    fn a_slow_lifters_reps_wait_out_a_long_pause_but_fidgets_and_unlike_moves_do_not() {
        // Studio model: reps of 30-45° lasting ~6 s, 6-7 s of rest between
        // them (past `start_gap_s`, within `gap_s`).
        let c = cfg();
        assert!(c.start_gap_s > 0.0 && c.start_gap_s < 7.0 && c.gap_s > 7.0);
        let mut sets = Segmenter::new(c.clone(), RepSignal::Rotation, 5.0, 100.0);
        let mut set = OpenSet::new(10.0, 16.0, 0.2);
        set.reps.push(rep(10.0, 16.0, 40.0));
        set.last_end = 16.0;
        sets.open = Some(set);
        let t = 16.0 + 7.0;
        // The set stays open while nothing moves …
        assert!(!sets.gap_exceeded(t, None));
        // … a rep like the first joins it …
        assert!(!sets.gap_exceeded(t, Some((36.0, 6.5))));
        // … a quick swing or a movement half the size ends it.
        assert!(sets.gap_exceeded(t, Some((38.0, 1.5))));
        assert!(sets.gap_exceeded(t, Some((18.0, 6.0))));
        // Past `gap_s`, nothing joins.
        assert!(sets.gap_exceeded(16.0 + c.gap_s + 0.5, Some((40.0, 6.0))));
        // Two fidgets of 6° after a set of 40° reps do not wait: the set of
        // fidgets ends at `start_gap_s`, as does a pair unlike each other.
        sets.last_set_median_deg = Some(40.0);
        let mut fidgets = OpenSet::new(10.0, 11.0, 0.2);
        fidgets.reps = vec![rep(10.0, 11.0, 6.0), rep(13.0, 14.0, 6.5)];
        fidgets.last_end = 14.0;
        sets.open = Some(fidgets);
        assert!(sets.gap_exceeded(21.0, None));
        assert!(sets.gap_exceeded(21.0, Some((6.0, 1.0))));
        let mut unlike = OpenSet::new(10.0, 12.2, 0.2);
        unlike.reps = vec![rep(10.0, 12.2, 40.0), rep(13.0, 13.8, 32.0)];
        unlike.last_end = 13.8;
        sets.open = Some(unlike);
        assert!(sets.gap_exceeded(21.0, Some((40.0, 2.0))));
        // At the pelvis the pause ends the set whatever follows.
        let mut pelvis = Segmenter::new(c.clone(), RepSignal::Obliquity, 0.8, 40.0);
        let mut set = OpenSet::new(10.0, 16.0, 0.2);
        set.reps.push(rep(10.0, 16.0, 3.0));
        set.last_end = 16.0;
        pelvis.open = Some(set);
        assert!(pelvis.gap_exceeded(23.0, Some((3.0, 6.0))));
    }

    #[test]
    fn a_pelvis_set_that_shakes_the_sensor_is_another_exercise() {
        let cfg = crate::motion::Profile::builtin(Exercise::HipHitch, Placement::Pelvis)
            .unwrap()
            .sets;
        assert!(cfg.shake_max_mps2 > 0.0);
        let set = |shake: f64| {
            let mut set = OpenSet::new(0.0, 2.0, 0.2);
            for i in 0..8 {
                let t = 3.0 * i as f64;
                set.reps.push(rep(t, t + 2.0, 8.0));
                // One rep in eight jolted (stepping off the box) does not
                // make the set shake.
                set.shakes.push((t, if i == 3 { 3.0 } else { shake }));
            }
            renumber(&mut set.reps);
            set.last_end = 23.0;
            set
        };
        let mut p = Segmenter::new(cfg.clone(), RepSignal::Obliquity, 3.0, 60.0);
        let mut out = Vec::new();
        p.open = Some(set(0.05));
        p.close(&mut out);
        assert!(matches!(out[0], Event::SetEnded(_)), "{:?}", out[0]);
        // Squats between the sets: the pelvis moves bodily with every rep.
        p.open = Some(set(0.9));
        p.close(&mut out);
        assert!(
            matches!(out[1], Event::NotASet { reps: 8, .. }),
            "{:?}",
            out[1]
        );
        // Off in a profile without it.
        let off = SetConfig {
            shake_max_mps2: 0.0,
            ..cfg
        };
        let mut p = Segmenter::new(off, RepSignal::Obliquity, 3.0, 60.0);
        p.open = Some(set(0.9));
        p.close(&mut out);
        assert!(matches!(out[2], Event::SetEnded(_)));
    }

    #[test]
    fn strides_that_shake_the_pelvis_before_or_after_a_set_of_hitches_are_no_reps() {
        let cfg = crate::motion::Profile::builtin(Exercise::HipHitch, Placement::Pelvis)
            .unwrap()
            .sets;
        let mut set = OpenSet::new(0.0, 2.0, 0.2);
        // A stride up to the box (a 5° roll in 1 s with heel strikes),
        // eight 8° hitches that tilt the pelvis smoothly, then two strides
        // of the walk away.
        let mut moves = vec![(0.0, 1.0, 5.0, 0.9)];
        moves.extend((0..8).map(|i| (3.0 + 3.0 * i as f64, 5.0 + 3.0 * i as f64, 8.0, 0.05)));
        moves.extend([(31.0, 32.0, 5.0, 0.9), (32.3, 33.3, 4.0, 1.1)]);
        for (start, end, size, shake) in moves {
            set.reps.push(rep(start, end, size));
            set.shakes.push((start, shake));
        }
        renumber(&mut set.reps);
        set.last_end = 33.3;
        let mut p = Segmenter::new(cfg, RepSignal::Obliquity, 3.0, 60.0);
        let mut out = Vec::new();
        p.open = Some(set);
        assert_eq!(p.close(&mut out), 3);
        let Event::SetEnded(set) = &out[0] else {
            panic!("{:?}", out[0])
        };
        assert_eq!(set.reps.len(), 8);
        assert_eq!((set.reps[0].number, set.reps[0].start_s), (1, 3.0));
        assert_eq!(set.reps[7].end_s, 26.0);
    }

    #[test]
    fn a_set_turning_about_the_walks_stride_axis_is_no_set() {
        let (front_back, left_right) = (Vector3::x(), Vector3::y());
        let walk = |p: &mut Segmenter, t0: f64| {
            // Forward and back swings: opposite signs about one axis.
            for i in 0..6 {
                let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
                let t = t0 + 0.6 * i as f64;
                p.learn_stride(left_right * sign, 40.0, t, t + 0.4);
            }
        };
        let mut p = Segmenter::new(cfg(), RepSignal::Rotation, 10.0, 120.0);
        // A set of abduction, a walk, then four squats.
        p.open = Some(open_set(front_back, 0.0, 8));
        let mut out = Vec::new();
        p.close(&mut out);
        walk(&mut p, 40.0);
        p.open = Some(open_set(left_right, 60.0, 4));
        p.close(&mut out);
        assert!(matches!(out[0], Event::SetEnded(_)));
        assert!(
            matches!(out[1], Event::NotASet { reps: 4, .. }),
            "{:?}",
            out[1]
        );
        // The next abduction set after another walk counts.
        walk(&mut p, 80.0);
        p.open = Some(open_set(front_back, 100.0, 8));
        p.close(&mut out);
        assert!(matches!(out[2], Event::SetEnded(_)));
        // Side steps pass for a walk but turn about the abduction axis: the
        // stride axis is then not trusted, and the set counts (not sure).
        let mut p = Segmenter::new(cfg(), RepSignal::Rotation, 10.0, 120.0);
        let mut out = Vec::new();
        p.open = Some(open_set(front_back, 0.0, 8));
        p.close(&mut out);
        for i in 0..6 {
            let t = 40.0 + 0.6 * i as f64;
            p.learn_stride(front_back, 15.0, t, t + 0.4);
        }
        p.open = Some(open_set(front_back, 60.0, 8));
        p.close(&mut out);
        let Event::SetEnded(after_side_steps) = &out[1] else {
            panic!("{:?}", out[1])
        };
        assert!(after_side_steps.confidence < certainty::SURE);
        // Without a set before it, a walk cannot tell kickbacks from
        // abduction: a set about its axis counts, but is not sure; about
        // another axis, the walk says nothing.
        let set_after_walk = |axis: Vector3<f64>| {
            let mut p = Segmenter::new(cfg(), RepSignal::Rotation, 10.0, 120.0);
            let mut out = Vec::new();
            walk(&mut p, 0.0);
            p.open = Some(open_set(axis, 20.0, 8));
            p.close(&mut out);
            match out.remove(0) {
                Event::SetEnded(set) => set,
                other => panic!("{other:?}"),
            }
        };
        let walk_axis = |set: &Set| {
            set.doubts
                .iter()
                .any(|d| d.kind == certainty::DoubtKind::WalkAxis)
        };
        let set = set_after_walk(left_right);
        assert!(
            set.confidence < certainty::SURE && walk_axis(&set),
            "{set:?}"
        );
        assert!(!walk_axis(&set_after_walk(front_back)));
    }

    #[test]
    fn a_shuffle_before_the_first_rep_is_dropped_from_the_set() {
        // Real thigh recording (UCI subject 2, fast set): an 8° shuffle on
        // the bench, then reps of 60-75°.
        let mut reps = vec![rep(101.5, 103.0, 7.9)];
        reps.extend((0..10).map(|i| rep(103.6 + 3.0 * i as f64, 105.4 + 3.0 * i as f64, 70.0)));
        assert_eq!(Segmenter::drop_unlike_lead(&mut reps, &cfg()).len(), 1);
        assert_eq!(reps.len(), 10);
        assert_eq!((reps[0].number, reps[9].number), (1, 10));
        // A partial first rep (half the range) stays.
        let mut reps = vec![rep(0.0, 2.0, 35.0)];
        reps.extend((1..10).map(|i| rep(3.0 * i as f64, 3.0 * i as f64 + 2.0, 70.0)));
        assert!(Segmenter::drop_unlike_lead(&mut reps, &cfg()).is_empty());
        assert_eq!(reps.len(), 10);
        // Settling into position just before the set: a quick movement
        // (0.8 s against reps of 2-3 s) unlike the reps in size, bigger …
        let mut reps = vec![rep(144.7, 145.5, 41.2)];
        reps.extend((0..8).map(|i| rep(147.3 + 3.0 * i as f64, 149.8 + 3.0 * i as f64, 27.0)));
        assert_eq!(Segmenter::drop_unlike_lead(&mut reps, &cfg()).len(), 1);
        // … or smaller; but a quick first rep of the reps' size (a momentum
        // rep) stays.
        let mut reps = vec![rep(70.3, 71.2, 13.6)];
        reps.extend((0..8).map(|i| rep(72.9 + 3.8 * i as f64, 76.0 + 3.8 * i as f64, 40.0)));
        assert_eq!(Segmenter::drop_unlike_lead(&mut reps, &cfg()).len(), 1);
        let mut reps = vec![rep(147.3, 148.0, 29.9)];
        reps.extend((0..8).map(|i| rep(149.0 + 7.0 * i as f64, 155.8 + 7.0 * i as f64, 27.0)));
        assert!(Segmenter::drop_unlike_lead(&mut reps, &cfg()).is_empty());
        let mut reps = vec![rep(0.0, 2.0, 35.0)];
        reps.extend((1..10).map(|i| rep(3.0 * i as f64, 3.0 * i as f64 + 2.0, 70.0)));
        // The share is the profile's: at 0.6 the half-range rep goes too.
        let wide = SetConfig {
            unlike_edge_fraction: 0.6,
            ..cfg()
        };
        assert_eq!(Segmenter::drop_unlike_lead(&mut reps, &wide).len(), 1);
    }

    #[test]
    fn settling_the_leg_right_after_the_last_full_rep_is_not_a_rep() {
        // Real thigh recording (UCI subject 2, unit 3, fast set): ten reps of
        // 64-78° every 2.9 s, then a 20° readjustment 3.6 s after the last.
        let mut reps: Vec<Rep> = (0..10)
            .map(|i| rep(103.6 + 2.9 * i as f64, 105.4 + 2.9 * i as f64, 70.0))
            .collect();
        reps.push(rep(133.3, 135.0, 20.0));
        assert_eq!(Segmenter::drop_unlike_tail(&mut reps, &cfg()).len(), 1);
        assert_eq!(reps.len(), 10);
        // A tired lifter's reps shrink: a last small rep after a partial
        // one stays.
        reps.pop();
        reps.push(rep(129.7, 131.5, 30.0));
        reps.push(rep(132.8, 134.6, 18.0));
        assert!(Segmenter::drop_unlike_tail(&mut reps, &cfg()).is_empty());
    }

    #[test]
    fn a_swing_after_a_break_in_the_rhythm_is_dropped_from_the_set() {
        // Eight 40° reps every 7 s, then a quick 30° swing 14 s later.
        let mut reps: Vec<Rep> = (0..8)
            .map(|i| rep(7.0 * i as f64, 7.0 * i as f64 + 5.0, 40.0))
            .collect();
        reps.push(rep(63.0, 63.8, 30.0));
        assert_eq!(Segmenter::drop_unlike_tail(&mut reps, &cfg()).len(), 1);
        assert_eq!(reps.len(), 8);
        // A full last rep after a pause stays: the rhythm cue doubts it.
        reps.push(rep(63.0, 68.0, 39.0));
        assert!(Segmenter::drop_unlike_tail(&mut reps, &cfg()).is_empty());
        // So does a quick last rep in the set's rhythm (a momentum rep).
        reps.pop();
        reps.push(rep(56.0, 56.8, 45.0));
        assert!(Segmenter::drop_unlike_tail(&mut reps, &cfg()).is_empty());
    }

    #[test]
    fn a_set_of_faint_pelvis_reps_is_counted_but_never_sure() {
        let profile =
            super::super::Profile::builtin(Exercise::SideLyingAbduction, Placement::Pelvis)
                .unwrap();
        let sure_min = profile.sets.sure_min_peak_deg;
        assert!(
            sure_min > 0.0,
            "side-lying pelvis sets need a floor to be sure"
        );
        let judged = |peak: f64| {
            let mut p = Segmenter::new(profile.sets.clone(), profile.reps.signal, 0.45, 40.0);
            let mut set = OpenSet::new(0.0, 2.5, 0.05);
            set.reps = (0..10)
                .map(|i| rep(3.5 * i as f64, 3.5 * i as f64 + 2.5, peak))
                .collect();
            p.open = Some(set);
            let mut out = Vec::new();
            p.close(&mut out);
            match out.pop() {
                Some(Event::SetEnded(s)) => s,
                e => panic!("no set: {e:?}"),
            }
        };
        // Ten even 1.4° reps well above the noise: all counted, likely.
        let faint = judged(1.4);
        assert_eq!(faint.rep_count(), 10);
        assert!(faint.confidence < certainty::SURE, "{}", faint.confidence);
        assert!(faint.confidence >= 0.6, "{}", faint.confidence);
        assert!(faint
            .doubts
            .iter()
            .any(|d| d.kind == certainty::DoubtKind::FaintReps && d.message.contains("1.4°")));
        // The same set with reps past the floor is sure.
        let plain = judged(sure_min + 1.0);
        assert!(plain.confidence >= certainty::SURE, "{:?}", plain.doubts);
    }

    #[test]
    fn three_quick_movements_in_quick_succession_are_a_walk_not_reps() {
        let profile =
            super::super::Profile::builtin(Exercise::StandingCableAbduction, Placement::Ankle)
                .unwrap();
        let mut p = Segmenter::new(profile.sets, profile.reps.signal, 5.0, 100.0);
        let mut set = OpenSet::new(0.0, 2.5, 0.1);
        set.reps = vec![rep(0.0, 2.5, 40.0), rep(3.5, 6.0, 41.0)];
        p.open = Some(set);
        // Walking off 5 s later: 50° swings of 0.36 s, one a second.
        let steps = [11.0, 11.95, 12.9, 13.85];
        let said: Vec<bool> = steps
            .iter()
            .map(|&t| {
                let step = p.is_step(t, t + 0.36, 50.0, true);
                if !step {
                    let set = p.open.as_mut().unwrap();
                    set.reps.push(rep(t, t + 0.36, 50.0));
                    set.last_end = t + 0.36;
                }
                step
            })
            .collect();
        assert_eq!(said, [false, false, true, true]);
        let set = p.open.as_ref().unwrap();
        assert_eq!(set.reps.len(), 2, "the first two steps are taken back out");
        assert_eq!(set.last_end, 6.0);
        // A walk from rest leaves the set it opened empty, and closing it
        // says "not a set": the steps announced as reps are withdrawn.
        let mut q = Segmenter::new(cfg(), RepSignal::Rotation, 5.0, 100.0);
        let mut walk = OpenSet::new(30.0, 30.36, 0.1);
        walk.reps = vec![rep(30.0, 30.36, 50.0), rep(30.95, 31.31, 50.0)];
        q.open = Some(walk);
        q.set_aside(30.95, 31.31, 50.0, false);
        assert!(!q.is_step(30.0, 30.36, 50.0, true) && !q.is_step(30.95, 31.31, 50.0, true));
        assert!(q.is_step(31.9, 32.26, 50.0, true));
        assert!(q.open.as_ref().unwrap().reps.is_empty());
        assert!(q.aside.is_empty(), "the steps set aside are no lost reps");
        let mut out = Vec::new();
        q.close(&mut out);
        assert!(
            matches!(out[..], [Event::NotASet { reps: 0, .. }]),
            "{out:?}"
        );
        // A quick jolt thrown out by the detector goes on the walk …
        assert!(p.is_step(14.8, 15.0, 20.0, false));
        // … but never starts one: two momentum reps and a rebound are reps.
        let mut p = Segmenter::new(cfg(), RepSignal::Rotation, 5.0, 100.0);
        assert!(!p.is_step(192.06, 192.73, 49.0, true));
        assert!(!p.is_step(192.8, 193.0, 12.0, false));
        assert!(!p.is_step(193.38, 194.06, 49.0, true));
        assert!(!p.is_step(194.94, 198.18, 33.0, true));
        // A slow rep breaks a run; a small wiggle neither makes nor breaks one.
        assert!(!p.is_step(200.0, 200.4, 45.0, true));
        assert!(!p.is_step(200.9, 201.1, 2.0, true));
        assert!(!p.is_step(201.3, 201.7, 45.0, true));
        assert!(p.is_step(202.3, 202.7, 45.0, true));
    }

    #[test]
    fn a_set_longer_than_a_minute_still_hears_of_a_rep_lost_just_before_it() {
        // Athlete model: a 31° rep thrown out 1.6 s before a set of 13
        // reps every 5.6 s (73 s), with a small movement set aside late in
        // the set; the lost rep used to be forgotten 60 s after it.
        let mut p = Segmenter::new(cfg(), RepSignal::Rotation, 5.0, 100.0);
        p.set_aside(82.2, 87.5, 30.8, false);
        let mut set = OpenSet::new(89.2, 94.0, 0.1);
        set.reps = (0..13)
            .map(|i| {
                let t = 89.2 + 5.6 * i as f64;
                rep(t, t + 4.8, 30.0)
            })
            .collect();
        p.open = Some(set);
        p.set_aside(150.1, 150.4, 3.0, false);
        let mut out = Vec::new();
        p.close(&mut out);
        let Some(Event::SetEnded(set)) = out.last() else {
            panic!("{out:?}")
        };
        assert!(set.confidence < certainty::SURE, "{}", set.confidence);
        assert!(
            set.doubts
                .iter()
                .any(|d| d.kind == certainty::DoubtKind::UncountedNearby && d.from_s == 82.2),
            "{:?}",
            set.doubts
        );
        // With no set open, what is older than a minute goes.
        let mut q = Segmenter::new(cfg(), RepSignal::Rotation, 5.0, 100.0);
        q.set_aside(10.0, 11.0, 30.0, false);
        q.set_aside(80.0, 81.0, 30.0, false);
        assert_eq!(q.aside.len(), 1);
    }

    #[test]
    fn a_first_rep_left_alone_by_a_long_pause_joins_the_set_like_it() {
        // Balance model: rep 1 (39°, 4.9 s), a 7.9 s pause, then reps of
        // 36-43° every 6 s, each about 4.5 s long.
        let reps: Vec<Rep> = (0..10)
            .map(|i| rep(15.7 + 6.0 * i as f64, 20.0 + 6.0 * i as f64, 38.5))
            .collect();
        let first = rep(2.96, 7.86, 39.3);
        assert!(Segmenter::takes_lone_lead(&reps, &first, 10.0));
        // Not a quick swing, not a movement half the size, not one from
        // longer ago than a set's gap, not before a set too short to judge.
        assert!(!Segmenter::takes_lone_lead(
            &reps,
            &rep(6.9, 7.9, 39.0),
            10.0
        ));
        assert!(!Segmenter::takes_lone_lead(
            &reps,
            &rep(3.0, 7.9, 18.0),
            10.0
        ));
        assert!(!Segmenter::takes_lone_lead(
            &reps,
            &rep(0.0, 4.9, 39.0),
            10.0
        ));
        assert!(!Segmenter::takes_lone_lead(&reps[..3], &first, 10.0));
    }

    #[test]
    fn two_small_movements_after_a_set_are_not_a_set() {
        let profile =
            super::super::Profile::builtin(Exercise::SideLyingAbduction, Placement::Ankle).unwrap();
        let mut p = Segmenter::new(
            profile.sets,
            profile.reps.signal,
            profile.reps.min_peak_deg,
            profile.reps.max_peak_deg,
        );
        let pair = [rep(141.8, 143.6, 9.2), rep(143.6, 145.2, 8.7)];
        assert!(!p.small_pair(&pair), "no scale yet: judged as any pair");
        p.last_set_median_deg = Some(69.0);
        assert!(p.small_pair(&pair));
        assert!(!p.small_pair(&[rep(0.0, 2.0, 40.0), rep(3.0, 5.0, 42.0)]));
    }

    #[test]
    fn two_unlike_movements_are_not_a_set_but_two_alike_reps_are() {
        // A 2° swing and a 9° re-strap 3 s later.
        assert!(Segmenter::unlike_pair(&[
            rep(0.0, 2.0, 2.0),
            rep(3.0, 6.0, 9.0)
        ]));
        // A 1 s fidget and a 3 s rep of the same size.
        assert!(Segmenter::unlike_pair(&[
            rep(0.0, 1.0, 2.0),
            rep(2.0, 5.0, 2.2)
        ]));
        // Two reps of a short set.
        assert!(!Segmenter::unlike_pair(&[
            rep(0.0, 2.5, 2.0),
            rep(3.0, 6.0, 2.6)
        ]));
        // Three or more are judged by their gaps, not here.
        let three = [rep(0.0, 1.0, 1.0), rep(2.0, 5.0, 9.0), rep(6.0, 8.0, 2.0)];
        assert!(!Segmenter::unlike_pair(&three));
    }
}
