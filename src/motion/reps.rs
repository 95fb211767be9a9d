//! The rep detector: a Schmitt trigger with shape checks on one scalar signal.
//!
//! A rep leaves the resting level, passes `enter_deg`, peaks, and comes back
//! below `max(exit_deg, return_fraction × peak)`; then, if `settle_s > 0`, it
//! stays open until the signal has settled (so a sway past neutral to the
//! other side still belongs to it). Too short, too small, too long, too large
//! or with a foot strike inside: not a rep. Every sample of an open rep is
//! kept (bounded by `max_duration_s`) so the flags can look at the whole rep.

use super::profile::{RepConfig, RepDirection, RepSignal};
use nalgebra::Vector3;

/// Time near rest after a return that makes a swing the other way a new rep (s).
const PAUSE_S: f64 = 0.15;

/// One sample of an open rep, as the flags need it.
#[derive(Debug, Clone, Copy)]
pub struct TracePoint {
    /// Time, s.
    pub t: f64,
    /// The counted signal, in the rep's direction, from the resting level (°).
    pub x: f64,
    /// Ankle: total rotation from neutral (°). Pelvis: obliquity from the set's neutral (°).
    pub angle: f64,
    /// Rotation vector from neutral in the neutral body frame (°).
    pub rotation: Vector3<f64>,
    /// Bias-corrected angular rate magnitude (°/s).
    pub rate: f64,
    /// The sensor was at rest.
    pub still: bool,
}

impl TracePoint {
    /// A point carrying only its time.
    pub fn at(t: f64) -> Self {
        TracePoint {
            t,
            x: 0.0,
            angle: 0.0,
            rotation: Vector3::zeros(),
            rate: 0.0,
            still: false,
        }
    }
}

/// A candidate that passed every shape check.
#[derive(Debug, Clone)]
pub struct RepTrace {
    /// When the signal left rest (s).
    pub start_t: f64,
    /// When it came back (s).
    pub end_t: f64,
    /// Largest counted signal from the resting level (°).
    pub peak_x: f64,
    /// When the peak was reached (s).
    pub peak_t: f64,
    /// +1 or −1: which way the signal went.
    pub sign: f64,
    /// Peak above the level it left from (°).
    pub size: f64,
    /// It ended by coming to rest above the level that counts as back
    /// (the detector's own `exit_deg` or `return_fraction` of its rise, as
    /// scaled to the set), not by coming back under it.
    pub rested_high: bool,
    /// Every sample from start to close.
    pub trace: Vec<TracePoint>,
}

/// Why a movement was not a rep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Quicker than `min_duration_s`.
    TooShort,
    /// Smaller than `min_peak_deg`.
    TooSmall,
    /// Did not return within `max_duration_s` (re-strapping, a new position).
    NoReturn,
    /// Beyond `max_peak_deg` (turning round).
    TooLarge,
    /// A foot strike inside (walking).
    Impact,
    /// The data stopped (a gap or the end of the stream) before the return.
    Interrupted,
}

/// What one sample did to the detector.
#[derive(Debug)]
pub enum RepOutcome {
    /// A rep closed.
    Rep(RepTrace),
    /// A movement closed that was not a rep: why, its start and end (s), and
    /// how far it went from the level it left (°; 0 when not known).
    Rejected(Rejection, f64, f64, f64),
}

#[derive(Debug, Clone)]
enum State {
    Idle {
        trough: f64,
        leave_t: f64,
        /// The level the last rep started from, until `floor_until`.
        floor: f64,
        floor_until: f64,
    },
    InRep {
        sign: f64,
        base: f64,
        /// The level the rep's size is measured from: its base, or the start
        /// of the rep before it when that one came to rest short of it.
        floor: f64,
        start_t: f64,
        peak: f64,
        peak_t: f64,
        returned_t: Option<f64>,
        settled_since: Option<f64>,
        /// Lowest signal since the return.
        low: f64,
        /// Lowest signal since the peak, and when (s).
        valley: f64,
        valley_t: f64,
        /// Whether the signal paused near rest after the return.
        paused: bool,
    },
}

impl State {
    /// At rest from `trough`, last left it at `leave_t`, no earlier level held.
    fn idle(trough: f64, leave_t: f64) -> Self {
        State::Idle {
            trough,
            leave_t,
            floor: f64::INFINITY,
            floor_until: f64::NEG_INFINITY,
        }
    }

    /// A movement just opened: `sign` way from level `base` at `start_t`, its
    /// highest point so far `peak` and its lowest since then `valley`, each
    /// as (signal, time).
    fn open(
        sign: f64,
        base: f64,
        floor: f64,
        start_t: f64,
        peak: (f64, f64),
        valley: (f64, f64),
    ) -> Self {
        State::InRep {
            sign,
            base,
            floor: floor.min(base),
            start_t,
            peak: peak.0,
            peak_t: peak.1,
            returned_t: None,
            settled_since: None,
            low: f64::INFINITY,
            valley: valley.0,
            valley_t: valley.1,
            paused: false,
        }
    }
}

/// See [`RepDetector::set_rep_length`].
pub const LONG_REP_ALLOWANCE: f64 = 2.5;

/// A movement quicker than `min_duration_s` is still a rep when it lasts at
/// least this share of it and is at least `quick_size_fraction` of the
/// set's median rep.
pub const QUICK_REP_LENGTH: f64 = 0.7;

/// Streaming rep detector on one scalar signal.
#[derive(Debug, Clone)]
pub struct RepDetector {
    cfg: RepConfig,
    /// The profile's thresholds, before [`RepDetector::set_scale`].
    base: RepConfig,
    state: State,
    trace: Vec<TracePoint>,
    /// The median size (°) of the reps of the set in progress, once it has
    /// three (see [`RepDetector::set_scale`]).
    set_size: Option<f64>,
}

impl RepDetector {
    /// A detector at rest.
    pub fn new(cfg: RepConfig) -> Self {
        RepDetector {
            cfg,
            base: cfg,
            state: State::idle(0.0, f64::NEG_INFINITY),
            trace: Vec::new(),
            set_size: None,
        }
    }

    /// True while a movement is open.
    pub fn in_rep(&self) -> bool {
        matches!(self.state, State::InRep { .. })
    }

    /// Scales the up-going thresholds to the reps of the set in progress:
    /// `Some(size)` (their median size, °) lowers `enter_deg`, `exit_deg`
    /// and `min_peak_deg` to `adaptive_fraction` of it (never raising them);
    /// `None` restores the profile's.
    pub fn set_scale(&mut self, size: Option<f64>) {
        let b = &self.base;
        let max_duration_s = self.cfg.max_duration_s;
        self.cfg = *b;
        self.cfg.max_duration_s = max_duration_s;
        if let Some(size) = size.filter(|_| b.adaptive_fraction > 0.0) {
            let min_peak = (b.adaptive_fraction * size).clamp(0.5 * b.min_peak_deg, b.min_peak_deg);
            let k = min_peak / b.min_peak_deg;
            self.cfg.min_peak_deg = min_peak;
            self.cfg.enter_deg = b.enter_deg * k;
            self.cfg.exit_deg = b.exit_deg * k;
        }
    }

    /// The median peak (°) of the reps of the set in progress, once it has
    /// three, or `None` between sets: a movement as large as them may be
    /// quicker than `min_duration_s` (see [`QUICK_REP_LENGTH`]).
    pub fn set_set_size(&mut self, size: Option<f64>) {
        self.set_size = size;
    }

    /// Lets a movement last as long as `length` (s, the median length of
    /// the lifter's reps) times [`LONG_REP_ALLOWANCE`] before it is
    /// thrown out as no return, when that is longer than the profile's
    /// `max_duration_s`; `None` restores the profile's. A Pilates lift held
    /// at the top for 10 s comes from a lifter whose every rep lasts 6 s.
    pub fn set_rep_length(&mut self, length: Option<f64>) {
        self.cfg.max_duration_s = length.map_or(self.base.max_duration_s, |l| {
            self.base.max_duration_s.max(LONG_REP_ALLOWANCE * l)
        });
    }

    /// Whether a movement of `length` (s) and `size` (°) lasted long enough
    /// to be a rep: `min_duration_s`, or down to [`QUICK_REP_LENGTH`] of it
    /// for one as large as `quick_size_fraction` of the set's reps.
    fn long_enough(&self, length: f64, size: f64) -> bool {
        let min = self.cfg.min_duration_s;
        length >= min
            || (length >= QUICK_REP_LENGTH * min
                && self.cfg.quick_size_fraction > 0.0
                && self
                    .set_size
                    .is_some_and(|s| size >= self.cfg.quick_size_fraction * s))
    }

    /// The threshold a movement `sign` way must pass to open.
    fn enter_for(c: &RepConfig, sign: f64) -> f64 {
        if c.direction == RepDirection::Either && sign < 0.0 {
            c.enter_deg.max(0.5 * c.down_min_peak_deg)
        } else {
            c.enter_deg
        }
    }

    /// True while a movement is open and has come back (it waits to settle).
    pub fn has_returned(&self) -> bool {
        matches!(
            self.state,
            State::InRep {
                returned_t: Some(_),
                ..
            }
        )
    }

    /// The open movement's point farthest from neutral so far, if one is
    /// open.
    pub fn peak_point(&self) -> Option<&TracePoint> {
        if !self.in_rep() {
            return None;
        }
        self.trace.iter().max_by(|a, b| a.angle.total_cmp(&b.angle))
    }

    /// When the open movement left rest (s), if one is open.
    pub fn start_t(&self) -> Option<f64> {
        match self.state {
            State::InRep { start_t, .. } => Some(start_t),
            State::Idle { .. } => None,
        }
    }

    /// Back to rest at the current level, dropping any open movement.
    pub fn reset(&mut self) {
        self.state = State::idle(0.0, f64::NEG_INFINITY);
        self.trace.clear();
    }

    /// Ends the stream: a rep that has returned is closed, one that has not is
    /// rejected as interrupted.
    pub fn finish(&mut self) -> Option<RepOutcome> {
        let out = match self.state {
            State::InRep {
                returned_t: Some(end),
                ..
            } => Some(self.close(end)),
            State::InRep {
                start_t,
                peak,
                base,
                ..
            } => {
                let end = self.trace.last().map_or(start_t, |p| p.t);
                Some(RepOutcome::Rejected(
                    Rejection::Interrupted,
                    start_t,
                    end,
                    peak - base,
                ))
            }
            State::Idle { .. } => None,
        };
        self.reset();
        out
    }

    /// Feeds one sample: `s` is the signed counted signal (°), `impact` whether
    /// the acceleration jumped past `impact_g`, `still` whether the sensor
    /// rests. `point.x` is filled in here.
    pub fn push(
        &mut self,
        s: f64,
        impact: bool,
        still: bool,
        mut point: TracePoint,
    ) -> Option<RepOutcome> {
        let t = point.t;
        let c = self.cfg;
        let c = &c;
        match self.state {
            State::Idle {
                trough,
                leave_t,
                floor,
                floor_until,
            } => {
                let x = match c.direction {
                    RepDirection::Up => s,
                    RepDirection::Down => -s,
                    RepDirection::Either => s.abs(),
                };
                let trough = trough.min(x).max(0.0);
                let leave_t = if x <= trough + 0.5 * c.exit_deg {
                    t
                } else {
                    leave_t
                };
                // Either way: a small dip below rest is sway, and opening a
                // movement on it would swallow the rep that follows; a real
                // downward rep (pelvic drop) is big, so going down takes
                // half of `down_min_peak_deg`.
                let enter = Self::enter_for(c, s.signum());
                // The ankle cannot start a rep without turning: a signal that
                // rises while the gyro says the sensor rests is the tilt
                // estimate settling after a walk or a turn, not the leg.
                let resting = still && c.signal == RepSignal::Rotation;
                if x > trough + enter && !impact && !resting {
                    let sign = match c.direction {
                        RepDirection::Up => 1.0,
                        RepDirection::Down => -1.0,
                        RepDirection::Either => s.signum(),
                    };
                    let start_t = if leave_t.is_finite() { leave_t } else { t };
                    self.trace.clear();
                    point.x = sign * s;
                    self.trace.push(point);
                    let floor = if t <= floor_until { floor } else { trough };
                    self.state =
                        State::open(sign, trough, floor, start_t, (point.x, t), (point.x, t));
                } else {
                    self.state = State::Idle {
                        trough,
                        leave_t,
                        floor,
                        floor_until,
                    };
                }
                None
            }
            State::InRep {
                sign,
                base,
                floor,
                start_t,
                ref mut peak,
                ref mut peak_t,
                ref mut returned_t,
                ref mut settled_since,
                ref mut low,
                ref mut valley,
                ref mut valley_t,
                ref mut paused,
                ..
            } => {
                let x = sign * s;
                point.x = x;
                let size = *peak - base;
                // Below the share of the rep's size so far: only ever on the
                // way back down (rising, the leg is always at its size so
                // far, and a hard start jolts the ankle as much as a stop).
                if impact
                    && (c.impact_top_fraction >= 1.0 || x - base < c.impact_top_fraction * size)
                {
                    self.reset();
                    return Some(RepOutcome::Rejected(Rejection::Impact, start_t, t, size));
                }
                if t - start_t > c.max_duration_s {
                    if let Some(end) = *returned_t {
                        return Some(self.close(end));
                    }
                    // Two slow reps with a half-way lowering between them
                    // (a low set with holds): the rep ends at that valley
                    // and the next begins there, rather than both lost.
                    let split = (c.split_fraction > 0.0)
                        .then(|| Self::deepest_valley(&self.trace, base, c))
                        .flatten();
                    if let Some((vi, v, vt)) = split {
                        let rest = self.trace.split_off(vi + 1);
                        // The first rep's own peak, before the valley.
                        if let Some(p) = self.trace.iter().max_by(|a, b| a.x.total_cmp(&b.x)) {
                            (*peak, *peak_t) = (p.x, p.t);
                        }
                        let out = self.close(vt);
                        let peak_in = rest.iter().map(|p| (p.x, p.t)).fold((v, vt), |a, b| {
                            if b.0 > a.0 {
                                b
                            } else {
                                a
                            }
                        });
                        self.trace = rest;
                        // Its size counts from where the first began: it
                        // rose from a half-way rest, as after `floor_hold_s`.
                        self.state = State::open(sign, v, floor, vt, peak_in, (x, t));
                        return Some(out);
                    }
                    self.reset();
                    return Some(RepOutcome::Rejected(Rejection::NoReturn, start_t, t, size));
                }
                if x > c.max_peak_deg {
                    self.reset();
                    return Some(RepOutcome::Rejected(
                        Rejection::TooLarge,
                        start_t,
                        t,
                        x - base,
                    ));
                }
                self.trace.push(point);
                match *returned_t {
                    None => {
                        if x > *peak {
                            *peak = x;
                            *peak_t = t;
                            *valley = x;
                            *valley_t = t;
                        } else if x < *valley {
                            *valley = x;
                            *valley_t = t;
                        }
                        let fall = *peak - *valley;
                        if c.valley_fraction > 0.0
                            && x - *valley > c.enter_deg
                            && fall >= c.valley_fraction * (*peak - base)
                            && fall >= c.enter_deg
                        {
                            // Down and up again without reaching the return
                            // level: the rest level drifted during the rep.
                            // The valley ends this rep and starts the next.
                            let (v, vt) = (*valley, *valley_t);
                            let split = self.trace.partition_point(|p| p.t <= vt);
                            let rest = self.trace.split_off(split);
                            let out = self.close(vt);
                            let peak_in = rest.iter().map(|p| (p.x, p.t)).fold((v, vt), |a, b| {
                                if b.0 > a.0 {
                                    b
                                } else {
                                    a
                                }
                            });
                            self.trace = rest;
                            // Measured from the valley: this rep did not come
                            // to rest, so no earlier level carries over.
                            self.state = State::open(sign, v, v, vt, peak_in, (x, t));
                            return Some(out);
                        }
                        let level = c.exit_deg.max(c.return_fraction * (*peak - base));
                        // Back down and at rest counts as returned even short of
                        // the old neutral: the leg came to rest somewhere new.
                        let rested = still && x - base < self.cfg.rest_fraction * (*peak - base);
                        if x - base < level || rested {
                            *returned_t = Some(t);
                            if c.settle_s <= 0.0 {
                                return Some(self.close(t));
                            }
                            *settled_since = Some(t);
                        }
                        None
                    }
                    Some(end) => {
                        let dev = x - base;
                        *low = low.min(x);
                        if dev > c.enter_deg && x - *low > c.enter_deg {
                            // The next rep began before this one settled.
                            let out = self.close(end);
                            self.state = State::idle((x - c.enter_deg).max(0.0), t);
                            return Some(out);
                        }
                        // Either way, the other way past its own threshold is
                        // the next rep, not a sway past neutral, if the signal
                        // paused at rest first or this rep went down (a drop
                        // is followed by ordinary reps; a trunk sway swings
                        // straight through).
                        if c.direction == RepDirection::Either
                            && -dev > Self::enter_for(c, -sign)
                            && (sign < 0.0 || *paused)
                        {
                            let out = self.close(end);
                            self.state = State::idle((-x - Self::enter_for(c, -sign)).max(0.0), t);
                            return Some(out);
                        }
                        if dev.abs() > c.settle_deg {
                            *settled_since = None;
                        } else if settled_since.is_none() {
                            *settled_since = Some(t);
                        }
                        if settled_since.is_some_and(|s0| t - s0 >= PAUSE_S) {
                            *paused = true;
                        }
                        // A sway past neutral keeps the rep open until it settles
                        // (max_duration_s bounds it, checked above).
                        if let Some(s0) = *settled_since {
                            if t - s0 >= c.settle_s {
                                // It ends where it came to rest: after a
                                // sway past neutral, that is the swing back.
                                return Some(self.close(s0.max(end)));
                            }
                        }
                        None
                    }
                }
            }
        }
    }

    /// A rep that has come back and will close once it settles, if it
    /// passes the same size and duration checks closing applies: (start,
    /// return time, signal peak above its base). `None` otherwise, and always
    /// when `settle_s` is 0 (such reps close on their return).
    pub fn returned(&self) -> Option<(f64, f64, f64)> {
        let State::InRep {
            sign,
            floor,
            start_t,
            peak,
            returned_t: Some(end),
            ..
        } = self.state
        else {
            return None;
        };
        let c = &self.cfg;
        let min_peak = if sign < 0.0 && c.direction == RepDirection::Either {
            c.down_min_peak_deg
        } else {
            c.min_peak_deg
        };
        (c.settle_s > 0.0
            && peak - floor >= min_peak
            && self.long_enough(end - start_t, peak - floor))
        .then_some((start_t, end, peak - floor))
    }

    /// The valley that best splits an open movement into two reps: the
    /// point at rest whose lower neighbouring peak stands highest above it,
    /// if that is at least `split_fraction` of the peak's rise from `base`
    /// and `exit_deg`: the leg was lowered part-way and rested there.
    /// Returns (its index in `trace`, its value, its time).
    fn deepest_valley(trace: &[TracePoint], base: f64, c: &RepConfig) -> Option<(usize, f64, f64)> {
        let n = trace.len();
        if n < 3 {
            return None;
        }
        let mut right_max = vec![f64::NEG_INFINITY; n];
        let mut m = f64::NEG_INFINITY;
        for i in (0..n).rev() {
            m = m.max(trace[i].x);
            right_max[i] = m;
        }
        let mut left_max = f64::NEG_INFINITY;
        let mut best: Option<(usize, f64)> = None;
        for i in 1..n - 1 {
            left_max = left_max.max(trace[i - 1].x);
            let x = trace[i].x;
            let lower_peak = left_max.min(right_max[i + 1]);
            let depth = lower_peak - x;
            if depth >= c.exit_deg
                && depth >= c.split_fraction * (lower_peak - base)
                && best.is_none_or(|(_, d)| depth > d)
                && trace[i].still
            {
                best = Some((i, depth));
            }
        }
        best.map(|(i, _)| (i, trace[i].x, trace[i].t))
    }

    fn close(&mut self, end_t: f64) -> RepOutcome {
        let State::InRep {
            sign,
            base,
            floor,
            start_t,
            peak,
            peak_t,
            ..
        } = self.state
        else {
            unreachable!("close is only called with a rep open")
        };
        // The trough restarts from wherever the signal is now; a movement
        // that starts soon is measured from where this one started.
        self.state = State::Idle {
            trough: f64::INFINITY,
            leave_t: end_t,
            floor,
            floor_until: end_t + self.cfg.floor_hold_s,
        };
        let c = &self.cfg;
        let trace = std::mem::take(&mut self.trace);
        let min_peak = if sign < 0.0 && c.direction == RepDirection::Either {
            c.down_min_peak_deg
        } else {
            c.min_peak_deg
        };
        if peak - floor < min_peak {
            return RepOutcome::Rejected(Rejection::TooSmall, start_t, end_t, peak - floor);
        }
        if !self.long_enough(end_t - start_t, peak - floor) {
            return RepOutcome::Rejected(Rejection::TooShort, start_t, end_t, peak - floor);
        }
        let end_x = trace
            .iter()
            .rev()
            .find(|p| p.t <= end_t)
            .map_or(base, |p| p.x);
        let back = c.exit_deg.max(c.return_fraction * (peak - base));
        RepOutcome::Rep(RepTrace {
            start_t,
            end_t,
            peak_x: peak,
            peak_t,
            sign,
            size: peak - base,
            rested_high: end_x - base >= back,
            trace,
        })
    }
}

/// The level a movement came back to, in the rep's direction from
/// the resting level (°): the highest of its returns, each a low between
/// two rises of at least `enter_deg` above it, when there is at least one,
/// they lie within `enter_deg` of each other and above `enter_deg / 2`
/// (short of that the resting level was right, and the movement was not
/// reps from another).
pub fn return_level(xs: &[f64], enter_deg: f64) -> Option<f64> {
    let mut returns: Vec<f64> = Vec::new();
    let mut high = f64::NEG_INFINITY;
    let mut low = f64::INFINITY;
    let mut falling = false;
    for &x in xs {
        if falling {
            low = low.min(x);
            if x > low + enter_deg {
                returns.push(low);
                falling = false;
                high = x;
            }
        } else {
            high = high.max(x);
            if x < high - enter_deg && high >= enter_deg {
                falling = true;
                low = x;
            }
        }
    }
    let top = returns.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let bottom = returns.iter().copied().fold(f64::INFINITY, f64::min);
    (!returns.is_empty() && top - bottom <= enter_deg && bottom >= 0.5 * enter_deg).then_some(top)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_level_reps_kept_coming_back_to_is_found() {
        // Hitches 10° deep from a level 5° past the resting one: down,
        // back to 5-5.2, down again, and so on.
        let xs = [
            0.0, 4.0, 9.0, 15.0, 12.0, 8.0, 5.0, 8.0, 14.0, 15.5, 9.0, 5.8, 5.2, 10.0, 15.0, 11.0,
        ];
        assert_eq!(return_level(&xs, 3.0), Some(5.2));
        // Back to the resting level each time: nothing to re-level.
        let back = [0.0, 6.0, 12.0, 6.0, 1.0, 0.5, 7.0, 13.0, 4.0, 0.2, 8.0];
        assert_eq!(return_level(&back, 3.0), None);
        // One long movement that never turned back: no level to find.
        let held = [0.0, 5.0, 10.0, 12.0, 11.5, 12.5, 11.0];
        assert_eq!(return_level(&held, 3.0), None);
        // Returns far apart (4° and 9°) are not one level.
        let scattered = [0.0, 8.0, 14.0, 4.0, 12.0, 18.0, 9.0, 16.0];
        assert_eq!(return_level(&scattered, 3.0), None);
    }
    use crate::motion::Profile;
    use crate::{Exercise, Placement};
    use std::f64::consts::PI;

    /// The side-lying ankle profile's detector (up-going, closes on return).
    fn ankle() -> RepDetector {
        let p = Profile::builtin(Exercise::SideLyingAbduction, Placement::Ankle).unwrap();
        RepDetector::new(p.reps)
    }

    /// Runs `signal(t)` through `d` at 50 Hz for `secs`; `still(t)` says
    /// when the sensor rests. Returns the reps' (start, end, size).
    fn run(
        d: &mut RepDetector,
        secs: f64,
        signal: impl Fn(f64) -> f64,
        still: impl Fn(f64) -> bool,
    ) -> Vec<(f64, f64, f64)> {
        let mut reps = Vec::new();
        let mut take = |o: Option<RepOutcome>| {
            if let Some(RepOutcome::Rep(r)) = o {
                reps.push((r.start_t, r.end_t, r.size));
            }
        };
        for i in 0..(secs * 50.0) as usize {
            let t = i as f64 / 50.0;
            let point = TracePoint {
                still: still(t),
                ..TracePoint::at(t)
            };
            take(d.push(signal(t), false, still(t), point));
        }
        take(d.finish());
        reps
    }

    /// Up to `peak` over `rise` s, then back down over the same time.
    fn bump(t: f64, t0: f64, rise: f64, peak: f64) -> f64 {
        let u = (t - t0) / (2.0 * rise);
        if (0.0..1.0).contains(&u) {
            peak * (PI * u).sin().powi(2)
        } else {
            0.0
        }
    }

    #[test]
    fn a_plain_rep_is_one_rep_and_a_fidget_is_none() {
        let reps = run(&mut ankle(), 8.0, |t| bump(t, 1.0, 1.0, 30.0), |_| false);
        assert_eq!(reps.len(), 1, "{reps:?}");
        assert!((reps[0].2 - 30.0).abs() < 0.5);
        // 3° is under `min_peak_deg` (5°).
        let reps = run(&mut ankle(), 8.0, |t| bump(t, 1.0, 1.0, 3.0), |_| false);
        assert!(reps.is_empty(), "{reps:?}");
    }

    /// Real thigh recording (UCI subject 1, unit 3, low set): an 8° rep
    /// held 5 s, lowered only to 4.5° and rested there, then raised to 9°
    /// and held again, then lowered all the way. Two reps; the first never
    /// comes back under half its peak, so the movement runs past
    /// `max_duration_s` (12 s).
    #[test]
    fn two_slow_reps_with_a_half_way_rest_are_split_there_not_lost() {
        let signal = |t: f64| match t {
            t if t < 1.0 => 0.0,
            t if t < 1.5 => 16.0 * (t - 1.0),
            t if t < 7.0 => 8.0,
            t if t < 7.5 => 8.0 - 7.0 * (t - 7.0),
            t if t < 8.5 => 4.5,
            t if t < 9.0 => 4.5 + 9.0 * (t - 8.5),
            t if t < 14.0 => 9.0,
            t if t < 14.5 => 9.0 - 18.0 * (t - 14.0),
            _ => 0.0,
        };
        // At rest wherever the signal is flat.
        let still = |t: f64| {
            !((1.0..1.5).contains(&t)
                || (7.0..7.5).contains(&t)
                || (8.5..9.0).contains(&t)
                || (14.0..14.5).contains(&t))
        };
        let reps = run(&mut ankle(), 20.0, signal, still);
        assert_eq!(reps.len(), 2, "{reps:?}");
        assert!(
            (reps[0].0 - 1.0).abs() < 0.2 && (reps[0].1 - 8.0).abs() < 0.6,
            "{reps:?}"
        );
        assert!((reps[0].2 - 8.0).abs() < 0.5, "its own peak: {reps:?}");
        // The second rises from the rest (4.5° to 9°): under `min_peak_deg`
        // (5°) from there, but it is sized against where the first began.
        assert!(
            (reps[1].0 - 7.5).abs() < 0.2 && (reps[1].2 - 4.5).abs() < 0.5,
            "{reps:?}"
        );
        // Without the split (the profile's key at 0) the movement is thrown
        // out at 12 s, and only the last lowering is left to count.
        let mut p = Profile::builtin(Exercise::SideLyingAbduction, Placement::Ankle).unwrap();
        p.reps.split_fraction = 0.0;
        let reps = run(&mut RepDetector::new(p.reps), 20.0, signal, still);
        assert!(reps.len() < 2, "{reps:?}");
        // Never at rest part-way (a slow wobble): not split either.
        let reps = run(&mut ankle(), 20.0, signal, |t| !(1.0..=14.5).contains(&t));
        assert!(reps.len() < 2, "{reps:?}");
    }

    #[test]
    fn a_signal_rising_while_the_ankle_rests_is_no_rep() {
        // After a turn the tilt estimate settles by 35° over 2 s while the
        // gyro says the sensor rests: no movement opens (an open one would
        // hold the neutral where it was, and the next set's reps with it).
        let settling = |t: f64| 35.0 * (1.0 - (-(t - 1.0).max(0.0) / 0.7).exp());
        let mut d = ankle();
        for i in 0..300 {
            let t = i as f64 / 50.0;
            let point = TracePoint {
                still: true,
                ..TracePoint::at(t)
            };
            assert!(d.push(settling(t), false, true, point).is_none());
            assert!(!d.in_rep(), "opened at {t} s");
        }
        // … while the same rise with the sensor turning would open one.
        let reps = run(
            &mut ankle(),
            6.0,
            |t| bump(t, 1.0, 1.0, 35.0),
            |t| !(1.0..3.0).contains(&t),
        );
        assert_eq!(reps.len(), 1, "{reps:?}");
    }

    #[test]
    fn a_hold_at_the_top_is_one_rep() {
        // Up in 1 s, 5 s held with a 2° wobble, down in 1.5 s.
        let signal = |t: f64| match t {
            t if t < 1.0 => 0.0,
            t if t < 2.0 => 20.0 * (t - 1.0),
            t if t < 7.0 => 20.0 + 2.0 * (3.0 * t).sin(),
            t if t < 8.5 => 20.0 * (1.0 - (t - 7.0) / 1.5),
            _ => 0.0,
        };
        let reps = run(&mut ankle(), 10.0, signal, |_| false);
        assert_eq!(reps.len(), 1, "{reps:?}");
    }

    #[test]
    fn lowering_half_way_between_two_slow_reps_still_makes_two() {
        // Real thigh recording (UCI subject 1, low-amplitude set): up 8.4°,
        // down to about 4° and at rest there, up to 8.6° within a second, then
        // all the way down. The second rise is under `min_peak_deg` from
        // where it started, but it is a rep from where the first began.
        let signal = |t: f64| match t {
            t if t < 1.0 => 0.0,
            t if t < 1.5 => 8.4 * (t - 1.0) / 0.5,
            t if t < 6.0 => 8.4,
            t if t < 6.5 => 8.4 - 4.4 * (t - 6.0) / 0.5,
            t if t < 7.2 => 4.0,
            t if t < 7.7 => 4.0 + 4.6 * (t - 7.2) / 0.5,
            t if t < 11.0 => 8.6,
            t if t < 11.8 => 8.6 * (1.0 - (t - 11.0) / 0.8),
            _ => 0.0,
        };
        let still = |t: f64| (6.6..7.2).contains(&t);
        let reps = run(&mut ankle(), 14.0, signal, still);
        assert_eq!(reps.len(), 2, "{reps:?}");
        // Long after such a rest, the same small rise is a fidget again.
        let late = |t: f64| match t {
            t if t < 7.2 => signal(t),
            t if t < 10.2 => 4.0,
            t => signal(t - 3.0),
        };
        let late_still = |t: f64| (6.6..10.2).contains(&t);
        let reps = run(&mut ankle(), 17.0, late, late_still);
        assert_eq!(reps.len(), 1, "{reps:?}");
    }

    #[test]
    fn a_movement_that_never_returns_is_not_a_rep() {
        // Re-strapping: up 20° and stays there.
        let signal = |t: f64| if t < 1.0 { 0.0 } else { 20.0 };
        let reps = run(&mut ankle(), 20.0, signal, |_| false);
        assert!(reps.is_empty(), "{reps:?}");
    }

    /// The standing pelvis profile's detector (either way, settles).
    fn pelvis() -> RepDetector {
        let p = Profile::builtin(Exercise::StandingCableAbduction, Placement::Pelvis).unwrap();
        RepDetector::new(p.reps)
    }

    #[test]
    fn ten_reps_in_a_row_are_ten_reps() {
        let signal = |t: f64| {
            (0..10)
                .map(|k| bump(t, 1.0 + 3.0 * k as f64, 1.0, 25.0))
                .sum()
        };
        let reps = run(&mut ankle(), 34.0, signal, |_| false);
        assert_eq!(reps.len(), 10, "{reps:?}");
        for (k, r) in reps.iter().enumerate() {
            assert!(
                (r.0 - (1.0 + 3.0 * k as f64)).abs() < 0.5,
                "rep {k} starts at {}",
                r.0
            );
        }
    }

    #[test]
    fn a_quick_flick_is_too_short_to_be_a_rep() {
        // 10° there and back in 0.2 s: under `min_duration_s` (0.3 s).
        let reps = run(&mut ankle(), 4.0, |t| bump(t, 1.0, 0.1, 10.0), |_| false);
        assert!(reps.is_empty(), "{reps:?}");
    }

    #[test]
    fn a_quick_movement_as_large_as_the_set_s_reps_is_a_rep() {
        // 20° there and back in 0.36 s: it stays over `enter_deg` for about
        // 0.25 s, under `min_duration_s` (0.3 s) but over 0.7 of it.
        let quick = |t: f64| bump(t, 1.0, 0.18, 20.0);
        let reps = run(&mut ankle(), 4.0, quick, |_| false);
        assert!(reps.is_empty(), "{reps:?}");
        // In a set of 22° reps it is one of them (a momentum rep)...
        let mut d = ankle();
        d.set_set_size(Some(22.0));
        let reps = run(&mut d, 4.0, quick, |_| false);
        assert_eq!(reps.len(), 1, "{reps:?}");
        // ... but not in a set of 30° reps, nor once the set is over.
        d.set_set_size(Some(30.0));
        assert!(run(&mut d, 4.0, quick, |_| false).is_empty());
        d.set_set_size(None);
        assert!(run(&mut d, 4.0, quick, |_| false).is_empty());
        // Quicker than 0.7 of `min_duration_s` it is not, however large.
        let mut d = ankle();
        d.set_set_size(Some(20.0));
        assert!(run(&mut d, 4.0, |t| bump(t, 1.0, 0.12, 20.0), |_| false).is_empty());
    }

    #[test]
    fn a_jolt_drops_the_movement_so_far_and_never_makes_two_reps_of_one() {
        // A 30° movement with a jolt at `jolt_t`, through `d`.
        let jolted = |mut d: RepDetector, jolt_t: f64| {
            let mut outcomes = Vec::new();
            for i in 0..200 {
                let t = i as f64 / 50.0;
                let jolt = (jolt_t - 0.01..jolt_t + 0.03).contains(&t);
                outcomes.extend(d.push(bump(t, 1.0, 1.0, 30.0), jolt, false, TracePoint::at(t)));
            }
            outcomes.extend(d.finish());
            outcomes
        };
        let reps_of = |outcomes: &[RepOutcome]| -> Vec<(f64, f64, f64)> {
            outcomes
                .iter()
                .filter_map(|o| match o {
                    RepOutcome::Rep(r) => Some((r.start_t, r.end_t, r.size)),
                    _ => None,
                })
                .collect()
        };
        // Standing, a jolt at the top of the movement is a foot strike.
        let p = Profile::builtin(Exercise::StandingCableAbduction, Placement::Ankle).unwrap();
        let outcomes = jolted(RepDetector::new(p.reps), 2.0);
        let reps = reps_of(&outcomes);
        // What came before the jolt is dropped as an impact; the lowering
        // after it may still count, once: a rep with a clank at the top is
        // one rep, never two.
        assert!(outcomes
            .iter()
            .any(|o| matches!(o, RepOutcome::Rejected(Rejection::Impact, ..))));
        assert!(reps.len() <= 1, "{reps:?}");
        // Lying down the foot is off the ground: a jolt at the top is the
        // leg stopping hard (a fast lifter, 60° in 0.25 s loads the ankle
        // with 4-5 g), and the rep counts …
        let outcomes = jolted(ankle(), 2.0);
        assert_eq!(reps_of(&outcomes).len(), 1, "{outcomes:?}");
        // … but low in the movement (here a third of the way up, on the
        // way down) it still throws the movement out.
        let outcomes = jolted(ankle(), 2.6);
        assert!(outcomes
            .iter()
            .any(|o| matches!(o, RepOutcome::Rejected(Rejection::Impact, ..))));
        // A jolt before anything has moved opens nothing.
        let mut d = ankle();
        let mut n = 0;
        for i in 0..100 {
            let t = i as f64 / 50.0;
            n += usize::from(d.push(0.0, t == 1.0, false, TracePoint::at(t)).is_some());
        }
        assert_eq!(n, 0);
    }

    #[test]
    fn the_pelvis_counts_a_drop_as_a_rep_and_a_small_dip_as_sway() {
        // 4° down and back (a pelvic drop past `down_min_peak_deg`, 3°).
        let reps = run(&mut pelvis(), 8.0, |t| -bump(t, 1.0, 1.0, 4.0), |_| false);
        assert_eq!(reps.len(), 1, "{reps:?}");
        // 1° down: postural sway below neutral, not a rep.
        let reps = run(&mut pelvis(), 8.0, |t| -bump(t, 1.0, 1.0, 1.0), |_| false);
        assert!(reps.is_empty(), "{reps:?}");
        // 1° up is a rep: clean reps tilt the pelvis 0.5-3°.
        let reps = run(&mut pelvis(), 8.0, |t| bump(t, 1.0, 1.0, 1.0), |_| false);
        assert_eq!(reps.len(), 1, "{reps:?}");
    }

    #[test]
    fn the_set_scale_lowers_the_pelvis_thresholds_for_a_lifter_who_moves_little() {
        // 0.6° reps: under `min_peak_deg` (0.8°) until the set's scale says
        // this lifter's reps are that size.
        let small = |t: f64| bump(t, 1.0, 1.0, 0.6);
        assert!(run(&mut pelvis(), 8.0, small, |_| false).is_empty());
        let mut d = pelvis();
        d.set_scale(Some(0.6));
        assert_eq!(run(&mut d, 8.0, small, |_| false).len(), 1);
        // Never below half the profile's: 0.3° stays sway.
        let tiny = |t: f64| bump(t, 1.0, 1.0, 0.3);
        assert!(run(&mut d, 8.0, tiny, |_| false).is_empty());
    }

    #[test]
    fn a_lifter_whose_reps_last_long_may_hold_one_past_the_profiles_limit() {
        // A 30° lift held at the top for 12 s (16 s in all): past the
        // profile's 12 s it is no rep ...
        let held = |t: f64| {
            if (1.0..3.0).contains(&t) {
                bump(t, 1.0, 2.0, 30.0)
            } else if (3.0..15.0).contains(&t) {
                30.0
            } else {
                bump(t, 13.0, 2.0, 30.0)
            }
        };
        // Past the profile's 12 s the lift is thrown out as no return (what
        // follows is measured afresh from wherever the leg then is) ...
        let from_the_start =
            |reps: &[(f64, f64, f64)]| reps.iter().filter(|r| r.0 < 2.0 && r.1 > 15.0).count();
        let reps = run(&mut ankle(), 24.0, held, |_| false);
        assert_eq!(from_the_start(&reps), 0, "{reps:?}");
        // ... but for a lifter whose reps last 7 s it is one rep, whole.
        let mut d = ankle();
        d.set_rep_length(Some(7.0));
        d.set_scale(None);
        let reps = run(&mut d, 24.0, held, |_| false);
        assert_eq!((reps.len(), from_the_start(&reps)), (1, 1), "{reps:?}");
        // A lifter of 2 s reps keeps the profile's limit.
        let mut d = ankle();
        d.set_rep_length(Some(2.0));
        let reps = run(&mut d, 24.0, held, |_| false);
        assert_eq!(from_the_start(&reps), 0, "{reps:?}");
    }
}
