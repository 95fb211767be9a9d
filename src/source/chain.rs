//! A fourth body model, built as a segment chain: the hold-out the counter is
//! judged on.
//!
//! Written from the exercise and sensor notes and from real recordings of
//! side-lying abduction (for noise, tempo and amplitude), without reading the
//! counter or the other body models, and never run through the counter while
//! it was built. Nothing in the counter may be tuned on it.
//!
//! # The body
//!
//! A chain of rigid segments: a base point (the stance ankle standing, the
//! seat when seated, the under hip when lying), a whole-body frame that turns
//! (heading), lies down or sits (roll, pitch), twists and leans about the
//! base; the stance hip on top of it; the pelvis, which tilts (obliquity)
//! about the stance hip, pitches and turns; the free hip at the other end of
//! the pelvis; the working thigh (flexion, then abduction, then axial
//! rotation at the hip) and the shank (knee flexion). Every lifter gets their
//! own leg lengths, hip width, resting leg position, tempo, range and
//! balance strategy:
//!
//! - *ankle strategy*: the whole body inclines toward the stance side as the
//!   leg goes out, so the pelvis rolls with the leg;
//! - *hip strategy*: the trunk leans over the stance leg while the pelvis
//!   counter-rotates, so a clean rep's small obliquity is partly or wholly
//!   cancelled at the pelvis;
//!
//! and in both the hips shift sideways toward the stance foot and turn a
//! little with each rep. Postural sway is two Ornstein–Uhlenbeck processes
//! (slow and quick) per axis, scaled down when lying or seated.
//!
//! Every joint angle is a track of minimum-jerk moves, each with its own skew
//! (time warped by a power, so a lift can be fast up and slow down); reps,
//! walking, turning, sitting down, re-strapping and fidgets are all sequences
//! of such moves, so the kinematics are smooth where people are smooth.
//!
//! # Reps and sets
//!
//! Per lifter: up 0.6–1.4 s, holds at the top (some lifters several seconds,
//! as in the real side-lying recordings) and at the bottom, a slower or
//! faster way down, a range (side-lying from 7° to 55°, as real lifters show),
//! a drift in size over the set, fatigue that slows and shrinks the last
//! reps, mid-set pauses and rest-pause (under 10 s, so it stays one set),
//! lifters who lower only part-way between reps, ballistic lifters who
//! overshoot the top and settle back, reps lowered in two stages with a
//! pause on the way down, a tremor in long holds, each rep on a path of its
//! own (the hip flexes a little more or less). The stance knee softens and
//! the pelvis pitches a little with each rep. Sets start within half a second of the
//! recording's start, or after a long stillness.
//!
//! Compensations, at the configured rate, scattered or clustered at the end
//! of a set: hip hike, pelvic drop and trunk sway at the pelvis (a hip
//! hitch that overshoots level is a hike); momentum (a fling up and an
//! uncontrolled drop with a rebound), partial range (often two in a row) and
//! hip-flexion drift at the ankle.
//!
//! Between sets: standing or lying still, walking to the stack and turning,
//! bending to change the pin, lifting the foot to fasten the cuff, sitting
//! down on a bench, sitting up or rolling onto the back from side-lying,
//! standing up from the machine, stepping off the hitch step, shaking a leg
//! out, shifting on the mat or the seat, weight shifts, single swings and
//! re-strapping the sensor. None is a rep; each is listed in the truth's
//! `distractions`.
//!
//! # The sensor
//!
//! For `ankle` the sensor sits on the shank (or, for one lifter in five, the
//! thigh: a straight leg turns as one piece) at any orientation; for `pelvis`
//! it is clipped over the sacrum, a little off-centre, tilted within ±15°.
//! The strap may slip about the limb mid-set; the sensor wobbles on soft
//! tissue after sudden stops, foot strikes and the stack's plates clanking
//! down. Specific force and angular rate come from the chain by central
//! differences on a grid of the sensor's period (at least 100 Hz; the
//! differences stand in for the sensor's own low-pass filter), then get the
//! sensor's errors: accelerometer scale (±3 %), offset and cross-axis
//! misalignment, gyro scale, a bias that starts anywhere within the
//! configured bound and drifts, white noise (the real recordings show about
//! 0.015 m/s² and 0.4 °/s), quantisation and saturation at the range the
//! sensor is set to (some at ±500 °/s or ±4 g), a sensor clock that runs a
//! little fast or slow, timing jitter, dropped samples and BLE gaps.
//!
//! # The truth
//!
//! What a careful labeller with motion capture would say: a rep is a
//! deliberate abduction of the working leg (a hip hitch's drop and return),
//! from leaving rest to being back. `peak_deg` is the largest rotation of the
//! segment the sensor is on from its orientation at rest before the set
//! (ankle; the strap's slip is not the leg's motion), or the largest change
//! of pelvic obliquity (pelvis). Obliquity is the angle of the pelvis'
//! left-right axis, free side up positive, against the body's up direction
//! at rest before the set (the vertical, when standing), taken from its
//! mean over the 0.3 s of still stance before the set. Flags come from the
//! motion itself, not from the plan: `hip_hike` obliquity ≥ +5° held 150 ms,
//! `pelvic_drop` ≤ −5° held 150 ms, `trunk_sway` both (a rep that crosses
//! both lines is a sway, not a hike or a drop); `partial_range` a peak under
//! 60 % of the set's median peak; `momentum` a top angular speed of the
//! segment at least twice the set's median; `hip_flexion_drift` the hip flexed
//! ≥ 15° beyond its rest (the leg swung forward), held 150 ms. A hip hitch's
//! own drop is the rep, so only a hike is judged there. Flag values are
//! degrees: the peak obliquity change, the peak (momentum, partial range) or
//! the flexion (drift).

use crate::motion::FlagKind;
use crate::sample::STANDARD_GRAVITY;
use crate::source::sim::{SimConfig, Truth, TruthFlag, TruthRep, TruthSet};
use crate::{Exercise, Placement, Sample, Side};
use nalgebra::{Matrix3, Quaternion, Rotation3, Unit, UnitQuaternion, Vector3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::f64::consts::PI;

const DEG: f64 = PI / 180.0;

/// Slowest grid the kinematics are differentiated on, Hz (a sensor slower
/// than this is read at every few grid points).
const MIN_GRID_HZ: f64 = 100.0;

/// Step at which the truth is read off the kinematics, s.
const TRUTH_STEP_S: f64 = 0.01;

/// DOMAIN's obliquity line for hike, drop and sway, °.
const OBLIQUITY_LINE_DEG: f64 = 5.0;
/// Still stance averaged for a set's neutral obliquity, s.
const NEUTRAL_S: f64 = 0.3;
/// How long a line must be held to count, s.
const HELD_S: f64 = 0.15;
/// A rep under this share of the set's median peak is partial.
const PARTIAL_SHARE: f64 = 0.6;
/// A rep whose top speed is this many times the set's median flies.
const MOMENTUM_RATIO: f64 = 2.0;
/// Forward swing of the thigh out of the frontal plane that is drift, °.
const DRIFT_DEG: f64 = 15.0;

/// The tracks: one joint or body coordinate each.
mod ch {
    pub const BASE_X: usize = 0;
    pub const BASE_Y: usize = 1;
    pub const BASE_Z: usize = 2;
    pub const HEADING: usize = 3;
    pub const BODY_ROLL: usize = 4;
    pub const BODY_PITCH: usize = 5;
    pub const TWIST: usize = 6;
    pub const LEAN: usize = 7;
    pub const LEAN_FWD: usize = 8;
    pub const HIP_H: usize = 9;
    pub const SHIFT: usize = 10;
    pub const OBL: usize = 11;
    pub const TILT: usize = 12;
    pub const PELVIS_YAW: usize = 13;
    pub const ABD: usize = 14;
    pub const FLEX: usize = 15;
    pub const AXIAL: usize = 16;
    pub const KNEE: usize = 17;
    pub const SLIP: usize = 18;
    pub const FIDDLE: usize = 19;
    pub const SWAY_GAIN: usize = 20;
    pub const COUNT: usize = 21;
}

/// Minimum-jerk position profile on 0..1.
fn min_jerk(x: f64) -> f64 {
    x * x * x * (10.0 + x * (-15.0 + 6.0 * x))
}

/// One smooth move of a track.
#[derive(Debug, Clone, Copy)]
struct Move {
    t0: f64,
    t1: f64,
    v0: f64,
    v1: f64,
    /// Time warp exponent: above 1 the move starts slowly and ends fast.
    skew: f64,
}

/// A coordinate over time: a value held between minimum-jerk moves.
#[derive(Debug, Clone, Default)]
struct Track {
    init: f64,
    moves: Vec<Move>,
    cursor: usize,
}

impl Track {
    fn new(init: f64) -> Self {
        Track {
            init,
            moves: Vec::new(),
            cursor: 0,
        }
    }

    /// Time and value at the end of the last move.
    fn end(&self) -> (f64, f64) {
        self.moves
            .last()
            .map_or((f64::NEG_INFINITY, self.init), |m| (m.t1, m.v1))
    }

    /// Moves to `v` from `t0` (or from the end of the last move, if later)
    /// over `dur`; returns when it arrives.
    fn go(&mut self, t0: f64, dur: f64, v: f64, skew: f64) -> f64 {
        let (te, ve) = self.end();
        let t0 = t0.max(te);
        let dur = dur.max(0.02);
        self.moves.push(Move {
            t0,
            t1: t0 + dur,
            v0: ve,
            v1: v,
            skew,
        });
        t0 + dur
    }

    /// Moves by `dv` (see [`Track::go`]).
    fn by(&mut self, t0: f64, dur: f64, dv: f64, skew: f64) -> f64 {
        let v = self.end().1 + dv;
        self.go(t0, dur, v, skew)
    }

    /// Swings `amp` either side of where it is, `half_cycles` times, each
    /// `half` long, and comes back.
    fn swing(&mut self, t0: f64, half: f64, amp: f64, half_cycles: usize) -> f64 {
        let base = self.end().1;
        let mut t = self.go(t0, half / 2.0, base + amp, 1.0);
        for i in 1..half_cycles.max(1) {
            let sign = if i % 2 == 1 { -1.0 } else { 1.0 };
            t = self.go(t, half, base + sign * amp, 1.0);
        }
        self.go(t, half / 2.0, base, 1.0)
    }

    fn at(&mut self, t: f64) -> f64 {
        let n = self.moves.len();
        if n == 0 {
            return self.init;
        }
        while self.cursor + 1 < n && self.moves[self.cursor + 1].t0 <= t {
            self.cursor += 1;
        }
        while self.cursor > 0 && self.moves[self.cursor].t0 > t {
            self.cursor -= 1;
        }
        let m = &self.moves[self.cursor];
        if t < m.t0 {
            return self.init;
        }
        if t >= m.t1 {
            return m.v1;
        }
        let mut x = (t - m.t0) / (m.t1 - m.t0);
        if m.skew != 1.0 {
            x = x.powf(m.skew);
        }
        m.v0 + (m.v1 - m.v0) * min_jerk(x)
    }
}

/// Irregular postural sway: two Ornstein–Uhlenbeck processes, a slow one on
/// a 0.4 s grid and a small quicker one on a 0.15 s grid, each Catmull–Rom
/// between its knots (smooth, so the sway's accelerations stay physiological).
#[derive(Debug, Clone)]
struct Sway {
    slow: Knots,
    quick: Knots,
}

#[derive(Debug, Clone)]
struct Knots {
    dt: f64,
    v: Vec<f64>,
}

impl Knots {
    fn ou(rng: &mut ChaCha8Rng, duration: f64, dt: f64, tau: f64, sd: f64) -> Self {
        let n = (duration / dt) as usize + 6;
        let a = (-dt / tau).exp();
        let z0: f64 = StandardNormal.sample(rng);
        let mut x = sd * z0;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            let z: f64 = StandardNormal.sample(rng);
            x = a * x + sd * (1.0 - a * a).sqrt() * z;
            v.push(x);
        }
        Knots { dt, v }
    }

    fn at(&self, t: f64) -> f64 {
        // Two knots before 0, so the differences at the first sample are smooth.
        let u = (t / self.dt + 2.0).max(1.0);
        let i = (u as usize).min(self.v.len() - 3);
        let x = u - i as f64;
        let (p0, p1, p2, p3) = (self.v[i - 1], self.v[i], self.v[i + 1], self.v[i + 2]);
        let x2 = x * x;
        0.5 * (2.0 * p1
            + (p2 - p0) * x
            + (2.0 * p0 - 5.0 * p1 + 4.0 * p2 - p3) * x2
            + (3.0 * (p1 - p2) + p3 - p0) * x2 * x)
    }
}

impl Sway {
    fn new(rng: &mut ChaCha8Rng, duration: f64, sd: f64) -> Self {
        let tau_slow = rng.gen_range(3.0..8.0);
        let tau_quick = rng.gen_range(0.5..1.0);
        Sway {
            slow: Knots::ou(rng, duration, 0.4, tau_slow, sd),
            quick: Knots::ou(rng, duration, 0.15, tau_quick, sd * 0.12),
        }
    }

    fn still() -> Self {
        let zero = Knots {
            dt: 1.0,
            v: vec![0.0; 8],
        };
        Sway {
            slow: zero.clone(),
            quick: zero,
        }
    }

    fn at(&self, t: f64) -> f64 {
        self.slow.at(t) + self.quick.at(t)
    }
}

/// The sensor rocking on soft tissue after a sudden stop or a foot strike.
#[derive(Debug, Clone, Copy)]
struct Wobble {
    t0: f64,
    amp: f64,
    freq: f64,
    tau: f64,
    /// How long it lasts; it fades out smoothly before this, s.
    life: f64,
    axis: Vector3<f64>,
}

impl Wobble {
    /// Rotation of the sensor on its segment, rad, `dt` after it began.
    fn angle(&self, dt: f64) -> f64 {
        if dt <= 0.0 || dt >= self.life {
            return 0.0;
        }
        // A smooth onset (no step in rate), a damped ring, a smooth end.
        let onset = 1.0 - (-(4.0 * self.freq * dt).powi(2)).exp();
        let fade_len = (self.life * 0.3).min(0.3);
        let fade = 1.0 - min_jerk(((dt - (self.life - fade_len)) / fade_len).clamp(0.0, 1.0));
        self.amp * onset * fade * (-dt / self.tau).exp() * (2.0 * PI * self.freq * dt).sin()
    }
}

/// How the sensor sits on its segment from `t1` on; between `t0` and `t1`
/// it is in the lifter's hands being re-strapped.
#[derive(Debug, Clone)]
struct Mount {
    t0: f64,
    t1: f64,
    from: UnitQuaternion<f64>,
    to: UnitQuaternion<f64>,
    to_m: Matrix3<f64>,
    fiddle_axis: Unit<Vector3<f64>>,
}

/// The segment the sensor is on.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Carrier {
    Shank,
    Thigh,
    Pelvis,
}

/// A lifter's build, style and balance.
#[derive(Debug, Clone)]
struct Lifter {
    thigh: f64,
    shank: f64,
    hip_width: f64,
    stance_hip_h: f64,
    /// Peak of a full rep above rest, ° (hip hitch: the drop).
    range: f64,
    abd_rest: f64,
    flex_rest: f64,
    knee_rest: f64,
    up: f64,
    top_hold: f64,
    down: f64,
    bottom_hold: f64,
    skew_up: f64,
    skew_down: f64,
    /// Share of the peak the leg stays up between reps (most: 0).
    return_share: f64,
    /// Change of range from the first rep to the last (share).
    size_drift: f64,
    /// How many of the last reps tire.
    fatigue_reps: usize,
    pause_chance: f64,
    /// Obliquity of a clean full rep at the pelvis, °.
    obl_couple: f64,
    /// Whole-body lean toward the stance side at a full rep, ° (negative:
    /// the pelvis counter-rotates, hip strategy).
    lean_couple: f64,
    shift_couple: f64,
    /// How far the stance knee softens at a full rep, m.
    sink_couple: f64,
    /// Share of reps whose plates clank down at the end.
    clank_chance: f64,
    /// Share of the range a ballistic lifter overshoots the top by (most: 0).
    overshoot: f64,
    /// Share of clean reps lowered in two stages.
    staged_lowering: f64,
    yaw_couple: f64,
    flex_couple: f64,
    axial_couple: f64,
    twist_couple: f64,
    /// Pelvic pitch at a full rep, °.
    tilt_couple: f64,
    /// Spread of the hip flexion from rep to rep, ° (nobody repeats a path).
    path_spread: f64,
    sway_deg: f64,
}

/// What the lifter means to do on a rep (the plan the truth is checked against).
#[derive(Debug, Clone)]
#[cfg_attr(not(test), allow(dead_code))]
struct PlannedRep {
    start: f64,
    end: f64,
    /// Time the top is reached.
    top: f64,
    range: f64,
    comp: Option<FlagKind>,
}

#[derive(Debug, Clone)]
struct PlannedSet {
    /// Instant at which the set's rest orientation is taken.
    rest_t: f64,
    reps: Vec<PlannedRep>,
}

/// The whole body at one instant.
struct Frame {
    /// Hip flexion of the working leg, °.
    flex: f64,
    body: Matrix3<f64>,
    pelvis: Matrix3<f64>,
    carrier: Matrix3<f64>,
    carrier_pos: Vector3<f64>,
}

fn rx(a: f64) -> Matrix3<f64> {
    let (s, c) = (a * DEG).sin_cos();
    Matrix3::new(1.0, 0.0, 0.0, 0.0, c, -s, 0.0, s, c)
}

fn ry(a: f64) -> Matrix3<f64> {
    let (s, c) = (a * DEG).sin_cos();
    Matrix3::new(c, 0.0, s, 0.0, 1.0, 0.0, -s, 0.0, c)
}

fn rz(a: f64) -> Matrix3<f64> {
    let (s, c) = (a * DEG).sin_cos();
    Matrix3::new(c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0)
}

/// `m` turned further by `r(a)` (skipped when `a` is 0).
fn then(m: Matrix3<f64>, r: fn(f64) -> Matrix3<f64>, a: f64) -> Matrix3<f64> {
    if a == 0.0 {
        m
    } else {
        m * r(a)
    }
}

/// Angle of a rotation matrix, °.
fn angle_deg(r: &Matrix3<f64>) -> f64 {
    ((r.trace() - 1.0) / 2.0).clamp(-1.0, 1.0).acos() / DEG
}

/// Rotation vector (axis × angle, rad) of a rotation matrix well under 180°.
fn rotation_vector(r: &Matrix3<f64>) -> Vector3<f64> {
    let v = Vector3::new(
        r[(2, 1)] - r[(1, 2)],
        r[(0, 2)] - r[(2, 0)],
        r[(1, 0)] - r[(0, 1)],
    ) * 0.5;
    let s = v.norm();
    let c = (r.trace() - 1.0) / 2.0;
    if s < 1e-12 {
        return v;
    }
    v * (s.atan2(c) / s)
}

fn random_unit(rng: &mut ChaCha8Rng) -> Unit<Vector3<f64>> {
    loop {
        let v = Vector3::new(
            StandardNormal.sample(rng),
            StandardNormal.sample(rng),
            StandardNormal.sample(rng),
        );
        if v.norm() > 1e-6 {
            return Unit::new_normalize(v);
        }
    }
}

fn random_rotation(rng: &mut ChaCha8Rng) -> UnitQuaternion<f64> {
    let q = Quaternion::new(
        StandardNormal.sample(rng),
        StandardNormal.sample(rng),
        StandardNormal.sample(rng),
        StandardNormal.sample(rng),
    );
    UnitQuaternion::from_quaternion(q)
}

fn tilt_rotation(rng: &mut ChaCha8Rng, max_deg: f64) -> UnitQuaternion<f64> {
    let axis = random_unit(rng);
    let a = rng.gen_range(0.0..max_deg.max(1e-9)) * DEG;
    UnitQuaternion::from_axis_angle(&axis, a)
}

/// The chain's motion over the whole session.
struct Kinematics {
    tracks: Vec<Track>,
    free: Side,
    carrier: Carrier,
    lifter: Lifter,
    /// Where the sensor sits in its segment's frame, m.
    offset: Vector3<f64>,
    mounts: Vec<Mount>,
    mount_cursor: usize,
    wobbles: Vec<Wobble>,
    /// The longest a wobble lasts, s.
    wobble_life: f64,
    /// Grid step of the differences, s.
    step: f64,
    cache: [(i64, Matrix3<f64>, Vector3<f64>); 3],
    cache_next: usize,
    sway_lean: Sway,
    sway_fwd: Sway,
    sway_obl: Sway,
    sway_yaw: Sway,
}

impl Kinematics {
    fn ch(&mut self, c: usize, t: f64) -> f64 {
        self.tracks[c].at(t)
    }

    fn rewind(&mut self) {
        for tr in &mut self.tracks {
            tr.cursor = 0;
        }
        self.mount_cursor = 0;
    }

    fn frame(&mut self, t: f64) -> Frame {
        let l = &self.lifter;
        let (couple_obl, couple_lean, couple_shift, couple_yaw) =
            (l.obl_couple, l.lean_couple, l.shift_couple, l.yaw_couple);
        let (couple_flex, couple_axial, couple_twist, range, abd_rest) = (
            l.flex_couple,
            l.axial_couple,
            l.twist_couple,
            l.range,
            l.abd_rest,
        );
        let (thigh_len, w, sink, couple_tilt) =
            (l.thigh, l.hip_width, l.sink_couple, l.tilt_couple);
        let s_fr = self.free.sign();
        let gain = self.ch(ch::SWAY_GAIN, t);
        let abd = self.ch(ch::ABD, t);
        // How far into a rep the leg is, 0 at rest, 1 at a full rep.
        let rep = ((abd - abd_rest) / range).clamp(-0.5, 1.6);
        let lean = self.ch(ch::LEAN, t) + couple_lean * rep + gain * self.sway_lean.at(t);
        let lean_fwd = self.ch(ch::LEAN_FWD, t) + gain * self.sway_fwd.at(t);
        let twist = self.ch(ch::TWIST, t) + couple_twist * rep;
        let mut body = rz(self.ch(ch::HEADING, t));
        body = then(body, rx, self.ch(ch::BODY_ROLL, t));
        body = then(body, ry, self.ch(ch::BODY_PITCH, t));
        body = then(body, rz, twist);
        body = then(body, rx, -s_fr * lean);
        body = then(body, ry, lean_fwd);
        let base = Vector3::new(
            self.ch(ch::BASE_X, t),
            self.ch(ch::BASE_Y, t),
            self.ch(ch::BASE_Z, t),
        );
        let free_dir = Vector3::new(0.0, -s_fr, 0.0);
        let shift = self.ch(ch::SHIFT, t) + couple_shift * rep;
        let hip_stance = base
            + body
                * (Vector3::new(0.0, 0.0, self.ch(ch::HIP_H, t) - sink * rep) - free_dir * shift);
        let obl = self.ch(ch::OBL, t) + couple_obl * rep + gain * self.sway_obl.at(t);
        let mut pelvis = then(body, rx, -s_fr * obl);
        pelvis = then(pelvis, ry, self.ch(ch::TILT, t) + couple_tilt * rep);
        let yaw = self.ch(ch::PELVIS_YAW, t) + couple_yaw * rep + gain * self.sway_yaw.at(t);
        pelvis = then(pelvis, rz, yaw);
        let flex = self.ch(ch::FLEX, t) + couple_flex * rep;
        let axial = self.ch(ch::AXIAL, t) + couple_axial * rep;
        let thigh = then(
            then(then(pelvis, ry, -flex), rx, -s_fr * abd),
            rz,
            s_fr * axial,
        );
        let hip_free = hip_stance + pelvis * (free_dir * w);
        let (carrier, carrier_pos) = match self.carrier {
            Carrier::Pelvis => (pelvis, hip_stance + pelvis * (free_dir * (w / 2.0))),
            Carrier::Thigh => (thigh, hip_free),
            Carrier::Shank => {
                let knee = hip_free + thigh * Vector3::new(0.0, 0.0, -thigh_len);
                (thigh * ry(self.ch(ch::KNEE, t)), knee)
            }
        };
        Frame {
            flex,
            body,
            pelvis,
            carrier,
            carrier_pos,
        }
    }

    /// The sensor's orientation (sensor → world) and position at `t`.
    fn sensor(&mut self, t: f64) -> (Matrix3<f64>, Vector3<f64>) {
        let f = self.frame(t);
        let slip = self.ch(ch::SLIP, t);
        let slip_m = match self.carrier {
            Carrier::Pelvis => rx(slip),
            _ => rz(slip),
        };
        // Soft-tissue wobble: the sensor rocks about an axis of its segment.
        let first = self
            .wobbles
            .partition_point(|w| w.t0 < t - self.wobble_life);
        let mut rv = Vector3::zeros();
        for w in &self.wobbles[first..] {
            if w.t0 > t {
                break;
            }
            rv += w.axis * w.angle(t - w.t0);
        }
        let wob = if rv.norm_squared() > 0.0 {
            Rotation3::new(rv).into_inner()
        } else {
            Matrix3::identity()
        };
        // The mounting (blended while it is being re-strapped).
        let n = self.mounts.len();
        while self.mount_cursor + 1 < n && self.mounts[self.mount_cursor + 1].t0 <= t {
            self.mount_cursor += 1;
        }
        while self.mount_cursor > 0 && self.mounts[self.mount_cursor].t0 > t {
            self.mount_cursor -= 1;
        }
        let m = &self.mounts[self.mount_cursor];
        let mount = if t < m.t1 && t >= m.t0 {
            let x = min_jerk((t - m.t0) / (m.t1 - m.t0));
            let q = m.from.slerp(&m.to, x);
            let fiddle = self.tracks[ch::FIDDLE].at(t);
            q.to_rotation_matrix().into_inner()
                * Rotation3::from_axis_angle(&m.fiddle_axis, fiddle * DEG).into_inner()
        } else {
            m.to_m
        };
        let r = f.carrier * slip_m * wob * mount;
        let p = f.carrier_pos + f.carrier * (slip_m * self.offset + rv.cross(&Vector3::z()) * 0.03);
        (r, p)
    }

    /// The sensor's pose at grid point `j`, from the last three computed if it is there.
    fn pose_at(&mut self, j: i64) -> (Matrix3<f64>, Vector3<f64>) {
        if let Some(c) = self.cache.iter().find(|c| c.0 == j) {
            return (c.1, c.2);
        }
        let (r, p) = self.sensor(j as f64 * self.step);
        self.cache[self.cache_next] = (j, r, p);
        self.cache_next = (self.cache_next + 1) % self.cache.len();
        (r, p)
    }

    /// Specific force (m/s², sensor axes) and angular rate (°/s, sensor axes)
    /// at grid point `j`: central differences over one grid step either side,
    /// which also stand in for the sensor's own low-pass filter.
    fn ideal_reading(&mut self, j: i64) -> (Vector3<f64>, Vector3<f64>) {
        let h = self.step;
        let (r0, p0) = self.pose_at(j - 1);
        let (r1, p1) = self.pose_at(j);
        let (r2, p2) = self.pose_at(j + 1);
        let acc_world = (p2 - 2.0 * p1 + p0) / (h * h);
        let f = r1.transpose() * (acc_world + Vector3::new(0.0, 0.0, STANDARD_GRAVITY));
        // Body rate at t from the rotation between t-h and t+h.
        let w = rotation_vector(&(r0.transpose() * r2)) / (2.0 * h);
        (f, w / DEG)
    }
}

/// The sensor's own errors.
#[derive(Debug, Clone)]
struct Imu {
    acc_gain: Matrix3<f64>,
    acc_offset: Vector3<f64>,
    gyr_gain: Matrix3<f64>,
    bias0: Vector3<f64>,
    bias_drift: Vector3<f64>,
    bias_tau: f64,
    acc_sd: f64,
    gyr_sd: f64,
    acc_lsb: f64,
    gyr_lsb: f64,
    acc_max: f64,
    gyr_max: f64,
    /// Sensor clock rate error (1 + ppm/1e6).
    clock: f64,
    jitter_sd: f64,
}

impl Imu {
    fn draw(rng: &mut ChaCha8Rng, cfg: &SimConfig) -> Imu {
        let mut gain = |scale: f64, cross_deg: f64| {
            let mut m = Matrix3::identity();
            for i in 0..3 {
                for j in 0..3 {
                    m[(i, j)] = if i == j {
                        1.0 + rng.gen_range(-scale..scale)
                    } else {
                        rng.gen_range(-cross_deg..cross_deg) * DEG
                    };
                }
            }
            m
        };
        let acc_gain = gain(0.03, 1.0);
        let gyr_gain = gain(0.02, 1.0);
        let b = cfg.gyro_bias_dps;
        let bias0 = Vector3::from_fn(|_, _| rng.gen_range(-0.8..=0.8) * b);
        let bias_drift = Vector3::from_fn(|_, _| rng.gen_range(-0.2..=0.2) * b);
        let acc_range_g = [16.0, 16.0, 16.0, 8.0, 8.0, 4.0][rng.gen_range(0..6)];
        let gyr_range = [2000.0, 2000.0, 2000.0, 2000.0, 1000.0, 500.0][rng.gen_range(0..6)];
        Imu {
            acc_gain,
            acc_offset: Vector3::from_fn(|_, _| rng.gen_range(-0.12..0.12)),
            gyr_gain,
            bias0,
            bias_drift,
            bias_tau: rng.gen_range(120.0..900.0),
            acc_sd: cfg.noise * rng.gen_range(0.012..0.04),
            gyr_sd: cfg.noise * rng.gen_range(0.1..0.45),
            acc_lsb: acc_range_g * STANDARD_GRAVITY / 32768.0,
            gyr_lsb: gyr_range / 32768.0,
            acc_max: acc_range_g * STANDARD_GRAVITY,
            gyr_max: gyr_range,
            clock: 1.0 + rng.gen_range(-50e-6..50e-6),
            jitter_sd: rng.gen_range(0.02..0.1) / cfg.rate_hz,
        }
    }

    /// A perfect sensor (for tests of the kinematics).
    #[cfg(test)]
    fn ideal() -> Imu {
        Imu {
            acc_gain: Matrix3::identity(),
            acc_offset: Vector3::zeros(),
            gyr_gain: Matrix3::identity(),
            bias0: Vector3::zeros(),
            bias_drift: Vector3::zeros(),
            bias_tau: 1.0,
            acc_sd: 0.0,
            gyr_sd: 0.0,
            acc_lsb: 0.0,
            gyr_lsb: 0.0,
            acc_max: f64::INFINITY,
            gyr_max: f64::INFINITY,
            clock: 1.0,
            jitter_sd: 0.0,
        }
    }
}

fn quantise(v: f64, lsb: f64, max: f64) -> f64 {
    let v = v.clamp(-max, max);
    if lsb > 0.0 {
        (v / lsb).round() * lsb
    } else {
        v
    }
}

/// A simulated session from the chain model: an iterator of samples.
pub struct ChainSimulator {
    kin: Kinematics,
    imu: Imu,
    rng: ChaCha8Rng,
    rate: f64,
    duration: f64,
    drop_rate: f64,
    gaps: Vec<(f64, f64)>,
    gap_cursor: usize,
    k: u64,
    /// Grid points per sample.
    per_sample: i64,
    last_t: f64,
    /// What the lifter meant to do (the tests check the truth against it).
    #[cfg_attr(not(test), allow(dead_code))]
    plan: Vec<PlannedSet>,
}

impl ChainSimulator {
    /// Builds the session `cfg` asks for and its ground truth.
    pub fn new(cfg: &SimConfig) -> Result<(ChainSimulator, Truth), String> {
        cfg.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0xC4A1_4B0D_7E11_5EED);
        let mut b = Builder::new(cfg, &mut rng);
        b.session();
        let Builder {
            kin,
            plan,
            distractions,
            now,
            ..
        } = b;
        let mut kin = kin;
        let duration = now;
        let sway_deg = kin.lifter.sway_deg;
        kin.sway_lean = Sway::new(&mut rng, duration + 2.0, sway_deg * 0.5);
        kin.sway_fwd = Sway::new(&mut rng, duration + 2.0, sway_deg * 0.6);
        kin.sway_obl = Sway::new(&mut rng, duration + 2.0, sway_deg * 0.5);
        kin.sway_yaw = Sway::new(&mut rng, duration + 2.0, sway_deg * 0.5);
        let sets = label(cfg, &mut kin, &plan);
        kin.rewind();
        let per_sample = (MIN_GRID_HZ / cfg.rate_hz).ceil().max(1.0);
        kin.step = 1.0 / (cfg.rate_hz * per_sample);
        let imu = Imu::draw(&mut rng, cfg);
        let mut gaps = Vec::new();
        if cfg.gaps_per_min > 0.0 {
            let mut t = 0.0;
            loop {
                let u: f64 = rng.gen_range(1e-9..1.0);
                t += -u.ln() * 60.0 / cfg.gaps_per_min;
                if t >= duration {
                    break;
                }
                let len = rng.gen_range(0.12..0.32);
                gaps.push((t, t + len));
                t += len;
            }
        }
        let noise_rng = ChaCha8Rng::seed_from_u64(rng.gen());
        let truth = Truth {
            config: cfg.clone(),
            duration_s: duration,
            distractions,
            sets,
        };
        Ok((
            ChainSimulator {
                kin,
                imu,
                rng: noise_rng,
                rate: cfg.rate_hz,
                duration,
                drop_rate: cfg.drop_rate,
                gaps,
                gap_cursor: 0,
                k: 0,
                per_sample: per_sample as i64,
                last_t: f64::NEG_INFINITY,
                plan,
            },
            truth,
        ))
    }

    fn reading(&mut self, t: f64) -> Sample {
        let (f, w) = self.kin.ideal_reading(self.k as i64 * self.per_sample);
        let imu = &self.imu;
        let bias = imu.bias0 + imu.bias_drift * (1.0 - (-t / imu.bias_tau).exp());
        let mut n = || -> f64 { StandardNormal.sample(&mut self.rng) };
        let acc = imu.acc_gain * f + imu.acc_offset + Vector3::new(n(), n(), n()) * imu.acc_sd;
        let gyr = imu.gyr_gain * w + bias + Vector3::new(n(), n(), n()) * imu.gyr_sd;
        let jitter = n() * imu.jitter_sd;
        let acc = acc.map(|v| quantise(v, imu.acc_lsb, imu.acc_max));
        let gyr = gyr.map(|v| quantise(v, imu.gyr_lsb, imu.gyr_max));
        let stamp = (t * imu.clock + jitter).max(self.last_t).max(0.0);
        self.last_t = stamp;
        Sample { t: stamp, acc, gyr }
    }
}

impl Iterator for ChainSimulator {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        loop {
            let t = self.k as f64 / self.rate;
            if t > self.duration {
                return None;
            }
            while self.gap_cursor < self.gaps.len() && self.gaps[self.gap_cursor].1 < t {
                self.gap_cursor += 1;
            }
            if let Some(&(a, b)) = self.gaps.get(self.gap_cursor) {
                if t >= a && t < b {
                    self.k += 1;
                    continue;
                }
            }
            if self.drop_rate > 0.0 && self.rng.gen::<f64>() < self.drop_rate {
                self.k += 1;
                continue;
            }
            let sample = self.reading(t);
            self.k += 1;
            return Some(sample);
        }
    }
}

/// Writes the session into the tracks, in time order.
struct Builder<'a> {
    cfg: &'a SimConfig,
    rng: &'a mut ChaCha8Rng,
    kin: Kinematics,
    plan: Vec<PlannedSet>,
    distractions: Vec<String>,
    now: f64,
    /// Compensations this session plans (the ones the placement can see).
    kinds: Vec<FlagKind>,
}

/// The pose a lifter holds during the sets.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Posture {
    Standing,
    OnStep,
    Lying,
    Seated,
}

impl<'a> Builder<'a> {
    fn new(cfg: &'a SimConfig, rng: &'a mut ChaCha8Rng) -> Self {
        let free = cfg.exercise.free_side(cfg.side);
        let lifter = draw_lifter(cfg, rng);
        let carrier = match cfg.placement {
            Placement::Pelvis => Carrier::Pelvis,
            Placement::Ankle if rng.gen_bool(0.2) => Carrier::Thigh,
            Placement::Ankle => Carrier::Shank,
        };
        let s_fr = free.sign();
        let offset = match carrier {
            Carrier::Pelvis => Vector3::new(
                -rng.gen_range(0.08..0.12),
                rng.gen_range(-0.03..0.03),
                rng.gen_range(0.0..0.06),
            ),
            Carrier::Thigh => Vector3::new(
                rng.gen_range(-0.02..0.03),
                -s_fr * rng.gen_range(0.06..0.09),
                -lifter.thigh * rng.gen_range(0.4..0.75),
            ),
            Carrier::Shank => Vector3::new(
                rng.gen_range(-0.02..0.02),
                -s_fr * rng.gen_range(0.035..0.055),
                -lifter.shank * rng.gen_range(0.7..0.9),
            ),
        };
        let mut kinds = cfg.visible_compensations();
        if cfg.exercise == Exercise::HipHitch {
            kinds.retain(|k| *k == FlagKind::HipHike);
        }
        // A lifter who already moves fast cannot fling twice as fast.
        if lifter.up.min(lifter.down) < 0.85 {
            kinds.retain(|k| *k != FlagKind::Momentum);
        }
        let mut tracks = vec![Track::new(0.0); ch::COUNT];
        tracks[ch::HEADING] = Track::new(rng.gen_range(0.0..360.0));
        tracks[ch::SWAY_GAIN] = Track::new(1.0);
        let mut kin = Kinematics {
            tracks,
            free,
            carrier,
            lifter,
            offset,
            mounts: Vec::new(),
            mount_cursor: 0,
            wobbles: Vec::new(),
            wobble_life: 0.0,
            step: 0.01,
            cache: [(i64::MIN, Matrix3::identity(), Vector3::zeros()); 3],
            cache_next: 0,
            sway_lean: Sway::still(),
            sway_fwd: Sway::still(),
            sway_obl: Sway::still(),
            sway_yaw: Sway::still(),
        };
        let first = Self::draw_mount(cfg, carrier, free, rng);
        kin.mounts.push(Mount {
            t0: f64::NEG_INFINITY,
            t1: f64::NEG_INFINITY,
            from: first,
            to: first,
            to_m: first.to_rotation_matrix().into_inner(),
            fiddle_axis: Vector3::x_axis(),
        });
        Builder {
            cfg,
            rng,
            kin,
            plan: Vec::new(),
            distractions: Vec::new(),
            now: 0.0,
            kinds,
        }
    }

    fn draw_mount(
        cfg: &SimConfig,
        carrier: Carrier,
        free: Side,
        rng: &mut ChaCha8Rng,
    ) -> UnitQuaternion<f64> {
        match carrier {
            Carrier::Pelvis => {
                // +X right, +Y up, +Z back, in the pelvis' x fwd, y left, z up.
                let nominal = Matrix3::new(0.0, 0.0, -1.0, -1.0, 0.0, 0.0, 0.0, 1.0, 0.0);
                let nominal = UnitQuaternion::from_matrix(&nominal);
                let tilt = if cfg.random_mounting {
                    tilt_rotation(rng, 15.0)
                } else {
                    tilt_rotation(rng, 2.0)
                };
                nominal * tilt
            }
            _ if cfg.random_mounting => random_rotation(rng),
            _ => {
                // Z out of the side of the leg, Y up the limb.
                let s = free.sign();
                let m = Matrix3::new(s, 0.0, 0.0, 0.0, 0.0, -s, 0.0, 1.0, 0.0);
                UnitQuaternion::from_matrix(&m) * tilt_rotation(rng, 3.0)
            }
        }
    }

    fn posture(&self) -> Posture {
        match self.cfg.exercise {
            Exercise::SideLyingAbduction => Posture::Lying,
            Exercise::SeatedMachineAbduction => Posture::Seated,
            Exercise::HipHitch => Posture::OnStep,
            _ => Posture::Standing,
        }
    }

    fn tr(&mut self, c: usize) -> &mut Track {
        &mut self.kin.tracks[c]
    }

    fn u(&mut self, lo: f64, hi: f64) -> f64 {
        if hi <= lo {
            lo
        } else {
            self.rng.gen_range(lo..hi)
        }
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p.clamp(0.0, 1.0))
    }

    fn note(&mut self, t0: f64, t1: f64, what: &str) {
        self.distractions.push(format!("{t0:.1}-{t1:.1} s {what}"));
    }

    fn wobble(&mut self, t0: f64, amp_deg: f64) {
        let axis = random_unit(self.rng).into_inner();
        let tau = self.u(0.04, 0.1);
        let w = Wobble {
            t0,
            amp: amp_deg * DEG,
            freq: self.u(9.0, 18.0),
            tau,
            life: 8.0 * tau,
            axis,
        };
        self.kin.wobble_life = self.kin.wobble_life.max(w.life);
        let i = self.kin.wobbles.partition_point(|x| x.t0 <= t0);
        self.kin.wobbles.insert(i, w);
    }

    /// Sets every track to the exercise posture at once (the session's start).
    fn initial_posture(&mut self) {
        let p = self.posture();
        let l = self.kin.lifter.clone();
        let s_fr = self.kin.free.sign();
        let init = |tr: &mut Vec<Track>, c: usize, v: f64| tr[c] = Track::new(v);
        let tr = &mut self.kin.tracks;
        init(tr, ch::ABD, l.abd_rest);
        init(tr, ch::FLEX, l.flex_rest);
        init(tr, ch::KNEE, l.knee_rest);
        match p {
            Posture::Standing | Posture::OnStep => {
                init(tr, ch::HIP_H, l.stance_hip_h);
                if p == Posture::OnStep {
                    init(tr, ch::BASE_Z, 0.2);
                }
            }
            Posture::Lying => {
                init(tr, ch::BODY_ROLL, -s_fr * 90.0);
                init(tr, ch::BASE_Z, 0.1);
                init(tr, ch::SWAY_GAIN, 0.3);
            }
            Posture::Seated => {
                init(tr, ch::BASE_Z, 0.45);
                init(tr, ch::HIP_H, 0.1);
                init(tr, ch::TILT, -10.0);
                init(tr, ch::SWAY_GAIN, 0.4);
            }
        }
    }

    fn session(&mut self) {
        self.initial_posture();
        let lead = match self.cfg.lead_in_s {
            Some(s) => s.max(0.0),
            None => {
                let r: f64 = self.u(0.0, 1.0);
                if r < 0.3 {
                    self.u(0.1, 0.5)
                } else if r < 0.8 {
                    self.u(0.8, 4.0)
                } else {
                    self.u(5.0, 20.0)
                }
            }
        };
        self.now = lead;
        let sets = self.cfg.sets;
        for i in 0..sets {
            if i > 0 {
                let rest = self.u(self.cfg.rest_min_s, self.cfg.rest_max_s);
                self.between_sets(rest);
            }
            self.set();
        }
        // The end: still for a moment, sometimes walking off.
        let tail = self.u(1.0, 6.0);
        self.now += tail;
        if self.cfg.walking && self.posture() == Posture::Standing && self.chance(0.3) {
            let t0 = self.now;
            let d = self.u(3.0, 6.0);
            self.walk(d, false);
            let t1 = self.now;
            self.note(t0, t1, "walks away");
            self.now += self.u(0.5, 2.0);
        }
    }

    /// One set: still at rest, then the reps.
    fn set(&mut self) {
        let l = self.kin.lifter.clone();
        let (lo, hi) = (self.cfg.reps_min, self.cfg.reps_max);
        let n = self.rng.gen_range(lo..=hi);
        let rest_t = self.now - (self.now / 2.0).min(0.2);
        // Which reps are compensated: scattered, or clustered at the end.
        let mut comps: Vec<Option<FlagKind>> = vec![None; n];
        if !self.kinds.is_empty() && self.cfg.compensation_rate > 0.0 {
            let clustered = n >= 6 && self.chance(0.35);
            if clustered {
                let k = ((n as f64 * self.cfg.compensation_rate).round() as usize).clamp(1, n - 2);
                let kind = self.kinds[self.rng.gen_range(0..self.kinds.len())];
                for c in comps.iter_mut().skip(n - k) {
                    *c = Some(kind);
                }
            } else {
                for c in comps.iter_mut() {
                    if self.chance(self.cfg.compensation_rate) {
                        *c = Some(self.kinds[self.rng.gen_range(0..self.kinds.len())]);
                    }
                }
            }
            // Partial reps often come in pairs.
            for r in 0..n.saturating_sub(1) {
                if comps[r] == Some(FlagKind::PartialRange)
                    && comps[r + 1].is_none()
                    && self.chance(0.3)
                {
                    comps[r + 1] = Some(FlagKind::PartialRange);
                }
            }
            // The set's working range must stay the working range.
            let partial = comps
                .iter()
                .filter(|c| **c == Some(FlagKind::PartialRange))
                .count();
            if partial * 3 > n {
                let mut extra = partial - n / 3;
                for c in comps.iter_mut().rev() {
                    if extra > 0 && *c == Some(FlagKind::PartialRange) {
                        *c = None;
                        extra -= 1;
                    }
                }
            }
            let fast = comps
                .iter()
                .filter(|c| **c == Some(FlagKind::Momentum))
                .count();
            if fast * 3 > n {
                let mut left = fast - n / 3;
                for c in comps.iter_mut() {
                    if left > 0 && *c == Some(FlagKind::Momentum) {
                        *c = None;
                        left -= 1;
                    }
                }
            }
        }
        let slip_at = if self.kin.carrier != Carrier::Pelvis && self.chance(0.12) {
            Some(self.rng.gen_range(1..n.max(2)))
        } else {
            None
        };
        let rest_pause_at = if n >= 8 && self.chance(0.1) {
            Some(self.rng.gen_range(n / 2..n - 1))
        } else {
            None
        };
        let mut reps = Vec::with_capacity(n);
        for (r, &comp) in comps.iter().enumerate() {
            if Some(r) == slip_at {
                let t = self.now;
                let d = self.u(5.0, 15.0) * if self.chance(0.5) { 1.0 } else { -1.0 };
                let dur = self.u(0.15, 0.4);
                self.tr(ch::SLIP).by(t, dur, d, 1.0);
                self.now += dur + self.u(0.2, 0.6);
            }
            // Size and tempo of this rep.
            let progress = if n > 1 {
                r as f64 / (n - 1) as f64
            } else {
                0.0
            };
            let tired = (r + l.fatigue_reps).saturating_sub(n.saturating_sub(1)) as f64;
            let tire = tired / (l.fatigue_reps.max(1) as f64);
            let size = (1.0 + l.size_drift * (progress - 0.5))
                * (1.0 + 0.06 * self.gauss())
                * (1.0 - 0.15 * tire);
            let slow = (1.0 + 0.1 * self.gauss()).max(0.6) * (1.0 + 0.35 * tire);
            let last = r + 1 == n;
            let pause = if last {
                0.0
            } else if Some(r) == rest_pause_at {
                self.u(5.0, 8.0)
            } else if self.chance(l.pause_chance) {
                self.u(2.0, 6.0)
            } else {
                0.0
            };
            // Before a pause, a partial rep or the end of the set the leg
            // comes all the way down.
            let down =
                last || pause > 0.0 || comps.get(r + 1) == Some(&Some(FlagKind::PartialRange));
            let rep = if self.cfg.exercise == Exercise::HipHitch {
                self.hitch_rep(&l, size, slow, comp)
            } else {
                self.leg_rep(&l, size, slow, comp, down)
            };
            reps.push(rep);
            self.now += pause;
        }
        // Back to rest after a leg held part-way up.
        let rest = l.abd_rest;
        if (self.tr(ch::ABD).end().1 - rest).abs() > 0.5 {
            let t = self.now;
            let d = self.u(0.6, 1.2);
            self.tr(ch::ABD).go(t, d, rest, 1.0);
            self.now += d;
        }
        if self.kin.tracks[ch::SLIP].end().1 != 0.0 && self.kin.carrier != Carrier::Pelvis {
            // Pushed back in place after the set.
            let t = self.now + self.u(0.3, 1.0);
            let d = self.u(0.3, 0.6);
            self.tr(ch::SLIP).go(t, d, 0.0, 1.0);
            self.now = t + d;
            self.note(t, t + d, "pushes the strap back");
        }
        self.plan.push(PlannedSet { rest_t, reps });
    }

    fn gauss(&mut self) -> f64 {
        StandardNormal.sample(self.rng)
    }

    /// An abduction rep of the working leg, with its compensation.
    fn leg_rep(
        &mut self,
        l: &Lifter,
        size: f64,
        slow: f64,
        comp: Option<FlagKind>,
        all_the_way_down: bool,
    ) -> PlannedRep {
        let start = self.now;
        let rest = l.abd_rest;
        let mut range = l.range * size;
        let mut up = l.up * slow;
        let mut hold = (l.top_hold * (1.0 + 0.25 * self.gauss())).max(0.0);
        let mut down = l.down * slow;
        let mut skew_down = l.skew_down;
        match comp {
            Some(FlagKind::PartialRange) => {
                range *= self.u(0.3, 0.45);
                up *= 0.7;
                down *= 0.7;
                hold *= 0.5;
            }
            Some(FlagKind::Momentum) => {
                range *= self.u(1.0, 1.15);
                up = self.u(0.26, 0.34);
                hold = 0.0;
                down = self.u(0.3, 0.5);
                skew_down = 1.4;
            }
            _ => {}
        }
        let over = if comp.is_none() && l.overshoot > 0.0 {
            range * l.overshoot * self.u(0.5, 1.0)
        } else {
            0.0
        };
        let mut t_top = self
            .tr(ch::ABD)
            .go(start, up, rest + range + over, l.skew_up);
        if over > 0.0 {
            // Past the top, then settled back into the hold.
            let settle = self.u(0.15, 0.3);
            t_top = self.tr(ch::ABD).go(t_top, settle, rest + range, 1.0);
            hold = (hold - settle).max(0.0);
        }
        let sag = range * self.u(0.0, 0.04);
        let t_hold = self.tr(ch::ABD).go(t_top, hold, rest + range - sag, 1.0);
        if hold > 1.0 {
            // The held leg trembles a little, more when tired.
            let a = self.u(0.05, 0.2) * slow;
            let f = self.u(8.0, 12.0);
            let axis = random_unit(self.rng).into_inner();
            let i = self.kin.wobbles.partition_point(|w| w.t0 <= t_top);
            self.kin.wobbles.insert(
                i,
                Wobble {
                    t0: t_top,
                    amp: a * DEG,
                    freq: f,
                    tau: hold * 2.0,
                    life: hold,
                    axis,
                },
            );
            self.kin.wobble_life = self.kin.wobble_life.max(hold);
        }
        let low = if all_the_way_down {
            0.0
        } else {
            l.return_share * range
        };
        let mut end = if comp.is_none() && self.chance(l.staged_lowering) {
            // Lowered in two stages, with a pause on the way down: one rep.
            let mid = rest + low + (range - sag - low) * self.u(0.35, 0.65);
            let pause = self.u(0.3, 1.0);
            let t = self.tr(ch::ABD).go(t_hold, down * 0.5, mid, 1.0);
            self.tr(ch::ABD)
                .go(t + pause, down * 0.5, rest + low, skew_down)
        } else {
            self.tr(ch::ABD).go(t_hold, down, rest + low, skew_down)
        };
        if comp == Some(FlagKind::Momentum) {
            let (a1, a2) = (self.u(1.5, 4.0), self.u(1.0, 3.0));
            self.wobble(t_top, a1);
            self.wobble(end, a2);
            // The foot rebounds off the bottom before it settles.
            let bounce = self.u(2.0, 5.0);
            let (d1, d2) = (self.u(0.12, 0.2), self.u(0.15, 0.25));
            let t = self.tr(ch::ABD).by(end, d1, bounce, 1.0);
            end = self.tr(ch::ABD).by(t, d2, -bounce, 1.0);
        }
        let s_gain = range / l.range;
        if comp != Some(FlagKind::HipFlexionDrift) {
            // This rep's own path: a little more or less forward than the last.
            let base = self.kin.tracks[ch::FLEX].end().1;
            let wander = l.path_spread * s_gain.min(1.2) * self.gauss().clamp(-2.5, 2.5);
            self.tr(ch::FLEX).go(start, up, base + wander, 1.0);
            self.tr(ch::FLEX).go(t_hold, down, base, 1.0);
        }
        match comp {
            Some(FlagKind::HipFlexionDrift) => {
                let swing = self.u(18.0, 32.0);
                let base = self.kin.tracks[ch::FLEX].end().1;
                self.tr(ch::FLEX).go(start, up * 1.1, base + swing, 1.0);
                self.tr(ch::FLEX).go(t_hold, down, base, 1.0);
            }
            Some(FlagKind::HipHike) => {
                let want = self.u(6.5, 13.0);
                let v = want - self.clean_obliquity(l, s_gain);
                self.tr(ch::OBL).go(start - 0.05, up, v, 1.0);
                self.tr(ch::OBL).go(t_hold, down, 0.0, 1.0);
            }
            Some(FlagKind::PelvicDrop) => {
                let want = self.u(6.5, 10.0);
                let v = -want - self.clean_obliquity(l, s_gain);
                self.tr(ch::OBL).go(start + up * 0.3, up * 0.9, v, 1.0);
                self.tr(ch::OBL).go(t_hold, down, 0.0, 1.0);
            }
            Some(FlagKind::TrunkSway) => {
                // Away from the stack while the leg rises, back past the
                // start at the top, then upright.
                let away = self.u(7.0, 10.0) + self.clean_obliquity(l, s_gain).max(0.0) * 0.5;
                let toward = self.u(7.0, 10.0);
                let dur = (t_hold - start).max(0.8);
                let t = self.tr(ch::LEAN).go(start, dur * 0.45, -away, 1.0);
                let t = self
                    .tr(ch::LEAN)
                    .go(t, dur * 0.55 + down * 0.4, toward, 1.0);
                self.tr(ch::LEAN).go(t, down * 0.6, 0.0, 1.0);
                let yaw = self.u(-6.0, 6.0);
                self.tr(ch::HEADING).by(start, dur * 0.5, yaw, 1.0);
                self.tr(ch::HEADING).by(t, down, -yaw, 1.0);
            }
            _ => {}
        }
        // Fast lifts stop hard on the soft tissue.
        if comp != Some(FlagKind::Momentum) && range / up > 120.0 {
            let a = self.u(0.5, 1.5);
            self.wobble(t_top, a);
        }
        // The plates of a stack clank down and jerk the cuff.
        let stack = matches!(
            self.cfg.exercise,
            Exercise::StandingCableAbduction | Exercise::SeatedMachineAbduction
        );
        if stack && self.chance(l.clank_chance) {
            let a = if self.kin.carrier == Carrier::Pelvis {
                self.u(0.05, 0.2)
            } else {
                self.u(0.2, 0.7)
            };
            self.wobble(end - 0.02, a);
        }
        let bottom = (l.bottom_hold * (1.0 + 0.3 * self.gauss())).max(0.0);
        self.now = end + bottom;
        PlannedRep {
            start,
            end,
            top: t_top,
            range,
            comp,
        }
    }

    /// Obliquity a clean rep of this size brings, °.
    fn clean_obliquity(&self, l: &Lifter, share: f64) -> f64 {
        (l.obl_couple + l.lean_couple) * share
    }

    /// A hip hitch: the free side of the pelvis drops and is pulled back
    /// level (or, hiking, beyond it).
    fn hitch_rep(
        &mut self,
        l: &Lifter,
        size: f64,
        slow: f64,
        comp: Option<FlagKind>,
    ) -> PlannedRep {
        let start = self.now;
        let drop = l.range * size;
        let t_low = self.tr(ch::OBL).go(start, l.up * slow, -drop, l.skew_up);
        let hold = (l.top_hold * (1.0 + 0.25 * self.gauss())).max(0.0);
        let sag = self.u(0.96, 1.0);
        let t = self.tr(ch::OBL).go(t_low, hold, -drop * sag, 1.0);
        // The stance leg tips a little toward the free side as the pelvis drops.
        let lean = self.u(0.5, 2.0);
        self.tr(ch::LEAN).go(start, l.up * slow, -lean, 1.0);
        let end = if comp == Some(FlagKind::HipHike) {
            let hike = self.u(6.5, 10.0);
            let t2 = self.tr(ch::OBL).go(t, l.down * slow, hike, l.skew_down);
            let (d1, d2) = (self.u(0.3, 0.8), self.u(0.5, 0.9));
            let t3 = self.tr(ch::OBL).go(t2, d1, hike * 0.95, 1.0);
            self.tr(ch::OBL).go(t3, d2, 0.0, 1.0)
        } else {
            let level = self.u(-0.6, 1.0);
            self.tr(ch::OBL).go(t, l.down * slow, level, l.skew_down)
        };
        self.tr(ch::LEAN).go(t, l.down * slow, 0.0, 1.0);
        // The hanging leg swings a little with the pelvis.
        let swing = self.u(2.0, 6.0);
        self.tr(ch::FLEX).by(start, l.up * slow, swing, 1.0);
        self.tr(ch::FLEX).by(t, l.down * slow, -swing, 1.0);
        let bottom = (l.bottom_hold * (1.0 + 0.3 * self.gauss())).max(0.0);
        self.now = end + bottom;
        PlannedRep {
            start,
            end,
            top: t_low,
            range: drop,
            comp,
        }
    }

    /// The rest between two sets, filled with what lifters do there.
    fn between_sets(&mut self, rest: f64) {
        let end = self.now + rest;
        let p = self.posture();
        self.now += self.u(1.0, 4.0);
        let fidgets = self.cfg.fidgets;
        // Right after the set.
        if fidgets && self.chance(0.35) {
            self.shake_leg();
        }
        let mut todo: Vec<u8> = Vec::new();
        match p {
            Posture::Standing | Posture::OnStep => {
                if self.cfg.walking && self.chance(0.7) {
                    todo.push(b'w');
                }
                if self.chance(0.5) {
                    todo.push(b'p');
                }
                if self.chance(0.15) {
                    todo.push(b's');
                }
            }
            Posture::Lying => {
                if self.chance(0.3) {
                    todo.push(b'u');
                } else if self.chance(0.3) {
                    todo.push(b'b');
                }
                if fidgets && self.chance(0.5) {
                    todo.push(b'h');
                }
            }
            Posture::Seated => {
                if self.chance(0.5) {
                    todo.push(b'p');
                }
                if fidgets && self.chance(0.4) {
                    todo.push(b'h');
                }
                if self.cfg.walking && self.chance(0.35) {
                    todo.push(b'w');
                }
            }
        }
        if fidgets {
            if self.chance(0.25) {
                todo.push(b'r');
            }
            if self.chance(0.4) {
                todo.push(b'f');
            }
            if self.chance(0.25) && p != Posture::OnStep {
                todo.push(b'1');
            }
        }
        // Shuffle the order a little.
        for i in (1..todo.len()).rev() {
            let j = self.rng.gen_range(0..=i);
            todo.swap(i, j);
        }
        for what in todo {
            if self.now > end - 6.0 {
                break;
            }
            self.now += self.u(0.5, 3.0);
            match what {
                b'w' => self.walk_round(p),
                b'p' => self.change_pin(p),
                b's' => self.sit_on_bench(),
                b'u' => self.sit_up(),
                b'b' => self.roll_onto_back(),
                b'h' if p == Posture::Seated => self.shift_on_seat(),
                b'h' => self.shift_on_mat(),
                b'r' => self.restrap(),
                b'f' => self.fidget(p),
                b'1' => self.single_swing(p),
                _ => {}
            }
        }
        // Settle before the next set; sometimes a shuffle just before it.
        self.now = self.now.max(end);
        if fidgets && self.chance(0.2) {
            self.shift_weight(p);
            self.now += self.u(0.4, 2.5);
        }
    }

    fn shake_leg(&mut self) {
        let t0 = self.now;
        let half = 1.0 / (2.0 * self.u(3.0, 5.0));
        let n = self.rng.gen_range(4..10);
        let amp = self.u(5.0, 14.0);
        let (c, amp) = if self.posture() == Posture::Seated {
            (ch::KNEE, amp)
        } else {
            (ch::FLEX, amp * 0.7)
        };
        let t1 = self.tr(c).swing(t0, half, amp, n);
        self.note(t0, t1, "shakes the leg out");
        self.now = t1;
    }

    /// Walks `dur` seconds along the heading, turning round at the end if `turn`.
    fn walk(&mut self, dur: f64, turn: bool) {
        let t0 = self.now;
        let stride = self.u(0.95, 1.2);
        let strides = (dur / stride).ceil().max(2.0) as usize;
        let dur = strides as f64 * stride;
        let speed = self.u(0.7, 1.2);
        let heading = self.kin.tracks[ch::HEADING].end().1;
        let (bx, by) = (
            self.kin.tracks[ch::BASE_X].end().1,
            self.kin.tracks[ch::BASE_Y].end().1,
        );
        let dist = speed * dur * 0.85;
        let (s, c) = (heading * DEG).sin_cos();
        self.tr(ch::BASE_X).go(t0, dur, bx + dist * c, 1.0);
        self.tr(ch::BASE_Y).go(t0, dur, by + dist * s, 1.0);
        let ankle = self.kin.carrier != Carrier::Pelvis;
        let flex0 = self.kin.tracks[ch::FLEX].end().1;
        let knee0 = self.kin.tracks[ch::KNEE].end().1;
        let z0 = self.kin.tracks[ch::BASE_Z].end().1;
        let roll = self.u(2.0, 4.5);
        let yaw = self.u(2.0, 5.0);
        for i in 0..strides {
            let t = t0 + i as f64 * stride;
            let tr = &mut self.kin.tracks;
            tr[ch::FLEX].go(t, stride * 0.5, flex0 + 25.0, 1.0);
            tr[ch::FLEX].go(t + stride * 0.5, stride * 0.5, flex0 - 10.0, 1.0);
            tr[ch::KNEE].go(t, stride * 0.2, knee0 + 15.0, 1.0);
            tr[ch::KNEE].go(t + stride * 0.2, stride * 0.2, knee0 + 3.0, 1.0);
            tr[ch::KNEE].go(t + stride * 0.4, stride * 0.3, knee0 + 60.0, 1.0);
            tr[ch::KNEE].go(t + stride * 0.7, stride * 0.3, knee0, 1.0);
            tr[ch::LEAN].go(t, stride * 0.5, roll, 1.0);
            tr[ch::LEAN].go(t + stride * 0.5, stride * 0.5, -roll, 1.0);
            tr[ch::PELVIS_YAW].go(t, stride * 0.5, yaw, 1.0);
            tr[ch::PELVIS_YAW].go(t + stride * 0.5, stride * 0.5, -yaw, 1.0);
            for half in 0..2 {
                let th = t + half as f64 * stride * 0.5;
                tr[ch::BASE_Z].go(th, stride * 0.25, z0 + 0.02, 1.0);
                tr[ch::BASE_Z].go(th + stride * 0.25, stride * 0.25, z0, 1.0);
            }
            // The foot strikes the floor.
            let strike = if ankle {
                self.u(2.0, 5.0)
            } else {
                self.u(0.3, 1.0)
            };
            self.wobble(t + stride * 0.02, strike);
        }
        let tr = &mut self.kin.tracks;
        let t1 = t0 + dur;
        tr[ch::FLEX].go(t1, 0.2, flex0, 1.0);
        tr[ch::KNEE].go(t1, 0.2, knee0, 1.0);
        tr[ch::LEAN].go(t1, 0.3, 0.0, 1.0);
        tr[ch::PELVIS_YAW].go(t1, 0.3, 0.0, 1.0);
        if turn {
            let dir = if self.rng.gen_bool(0.5) { 1.0 } else { -1.0 };
            let d = self.u(1.6, 2.6);
            self.tr(ch::HEADING).by(t1 - 0.5, d, dir * 180.0, 1.0);
            self.now = t1 + d;
        } else {
            self.now = t1 + 0.3;
        }
    }

    /// Off to the water bottle and back (from a seat or a step: up first).
    fn walk_round(&mut self, p: Posture) {
        let t0 = self.now;
        match p {
            Posture::Seated => self.stand_up_from_seat(),
            Posture::OnStep => self.step(-0.2),
            _ => {}
        }
        let d = self.u(2.5, 7.0);
        self.walk(d, true);
        self.now += self.u(1.0, 6.0);
        self.walk(d, true);
        match p {
            Posture::Seated => self.sit_on_seat(),
            Posture::OnStep => self.step(0.2),
            _ => {}
        }
        let t1 = self.now;
        self.note(t0, t1, "walks off, turns and comes back");
    }

    fn step(&mut self, dz: f64) {
        let t = self.now;
        let d = self.u(0.5, 0.9);
        let tilt = self.u(3.0, 8.0) * dz.signum();
        let tr = &mut self.kin.tracks;
        tr[ch::BASE_Z].by(t, d, dz, 1.0);
        tr[ch::OBL].by(t, d * 0.5, tilt, 1.0);
        tr[ch::OBL].by(t + d * 0.5, d * 0.5, -tilt, 1.0);
        tr[ch::KNEE].by(t, d * 0.5, 40.0, 1.0);
        tr[ch::KNEE].by(t + d * 0.5, d * 0.5, -40.0, 1.0);
        self.wobble(t + d, 1.0);
        self.now = t + d + 0.3;
    }

    fn stand_up_from_seat(&mut self) {
        let t = self.now;
        let l = self.kin.lifter.clone();
        let d = self.u(1.2, 2.2);
        let tr = &mut self.kin.tracks;
        tr[ch::BODY_PITCH].go(t, d * 0.4, 35.0, 1.0);
        tr[ch::BODY_PITCH].go(t + d * 0.4, d * 0.6, 0.0, 1.0);
        tr[ch::BASE_Z].go(t + d * 0.2, d * 0.8, 0.0, 1.0);
        tr[ch::HIP_H].go(t + d * 0.2, d * 0.8, l.stance_hip_h, 1.0);
        tr[ch::FLEX].go(t + d * 0.2, d * 0.8, 0.0, 1.0);
        tr[ch::KNEE].go(t + d * 0.2, d * 0.8, 3.0, 1.0);
        tr[ch::ABD].go(t, d * 0.5, 0.0, 1.0);
        tr[ch::TILT].go(t, d, 0.0, 1.0);
        tr[ch::SWAY_GAIN].go(t, d, 1.0, 1.0);
        self.now = t + d;
    }

    fn sit_on_seat(&mut self) {
        let t = self.now;
        let l = self.kin.lifter.clone();
        let d = self.u(1.2, 2.2);
        let tr = &mut self.kin.tracks;
        tr[ch::BODY_PITCH].go(t, d * 0.5, 30.0, 1.0);
        tr[ch::BODY_PITCH].go(t + d * 0.5, d * 0.5, 0.0, 1.0);
        tr[ch::BASE_Z].go(t, d * 0.8, 0.45, 1.0);
        tr[ch::HIP_H].go(t, d * 0.8, 0.1, 1.0);
        tr[ch::FLEX].go(t, d * 0.8, l.flex_rest, 1.0);
        tr[ch::KNEE].go(t, d * 0.8, l.knee_rest, 1.0);
        tr[ch::ABD].go(t + d * 0.5, d * 0.5, l.abd_rest, 1.0);
        tr[ch::TILT].go(t, d, -10.0, 1.0);
        tr[ch::SWAY_GAIN].go(t, d, 0.4, 1.0);
        self.wobble(t + d * 0.8, 0.8);
        self.now = t + d + self.u(0.5, 2.0);
    }

    /// Sits on a bench beside the stack for a while.
    fn sit_on_bench(&mut self) {
        let t0 = self.now;
        let l = self.kin.lifter.clone();
        self.sit_on_seat();
        // Legs in front, not spread.
        let t = self.now;
        self.tr(ch::ABD).go(t, 0.5, 0.0, 1.0);
        self.now += self.u(8.0, 20.0);
        self.stand_up_from_seat();
        let t = self.now;
        self.tr(ch::ABD).go(t, 0.5, l.abd_rest, 1.0);
        self.now += 0.8;
        let t1 = self.now;
        self.note(t0, t1, "sits on the bench and stands up");
    }

    /// Bends to move the pin in the stack (or leans to the machine's pin).
    fn change_pin(&mut self, p: Posture) {
        let t0 = self.now;
        let d = self.u(0.8, 1.5);
        let bend = if p == Posture::Seated {
            self.u(20.0, 40.0)
        } else {
            self.u(30.0, 60.0)
        };
        let twist = self.u(-25.0, 25.0);
        let hold = self.u(1.5, 4.0);
        let tr = &mut self.kin.tracks;
        tr[ch::BODY_PITCH].by(t0, d, bend, 1.0);
        tr[ch::TWIST].by(t0, d, twist, 1.0);
        if p == Posture::Seated {
            tr[ch::KNEE].by(t0, d, -25.0, 1.0);
            tr[ch::KNEE].by(t0 + d + hold, d, 25.0, 1.0);
        } else {
            tr[ch::KNEE].by(t0, d, 20.0, 1.0);
            tr[ch::FLEX].by(t0, d, 15.0, 1.0);
            tr[ch::KNEE].by(t0 + d + hold, d, -20.0, 1.0);
            tr[ch::FLEX].by(t0 + d + hold, d, -15.0, 1.0);
        }
        tr[ch::BODY_PITCH].by(t0 + d + hold, d, -bend, 1.0);
        tr[ch::TWIST].by(t0 + d + hold, d, -twist, 1.0);
        // The pin clinks home.
        self.wobble(t0 + d + hold * 0.5, 0.3);
        let t1 = t0 + 2.0 * d + hold;
        self.note(t0, t1, "changes the pin");
        self.now = t1;
    }

    /// From side-lying up to sitting on the mat, a while, and down again.
    fn sit_up(&mut self) {
        let t0 = self.now;
        let s_fr = self.kin.free.sign();
        let l = self.kin.lifter.clone();
        let d = self.u(1.5, 3.0);
        let sit = self.u(5.0, 15.0);
        let tr = &mut self.kin.tracks;
        tr[ch::BODY_ROLL].go(t0, d, 0.0, 1.0);
        tr[ch::FLEX].go(t0, d, 80.0, 1.0);
        tr[ch::KNEE].go(t0, d, 40.0, 1.0);
        tr[ch::ABD].go(t0, d, 5.0, 1.0);
        tr[ch::SWAY_GAIN].go(t0, d, 0.6, 1.0);
        let t = t0 + d + sit;
        tr[ch::BODY_ROLL].go(t, d, -s_fr * 90.0, 1.0);
        tr[ch::FLEX].go(t, d, l.flex_rest, 1.0);
        tr[ch::KNEE].go(t, d, l.knee_rest, 1.0);
        tr[ch::ABD].go(t, d, l.abd_rest, 1.0);
        tr[ch::SWAY_GAIN].go(t, d, 0.3, 1.0);
        self.note(t0, t + d, "sits up on the mat and lies down again");
        self.now = t + d + 0.5;
    }

    fn roll_onto_back(&mut self) {
        let t0 = self.now;
        let d = self.u(1.0, 2.0);
        let lie = self.u(4.0, 12.0);
        let l = self.kin.lifter.clone();
        let tr = &mut self.kin.tracks;
        tr[ch::TWIST].by(t0, d, -80.0, 1.0);
        tr[ch::KNEE].go(t0, d, 60.0, 1.0);
        tr[ch::FLEX].go(t0, d, 45.0, 1.0);
        let t = t0 + d + lie;
        tr[ch::TWIST].by(t, d, 80.0, 1.0);
        tr[ch::KNEE].go(t, d, l.knee_rest, 1.0);
        tr[ch::FLEX].go(t, d, l.flex_rest, 1.0);
        self.note(t0, t + d, "rolls onto the back and back onto the side");
        self.now = t + d + 0.5;
    }

    /// Shifts the hips on the mat and slides the leg back in line.
    fn shift_on_mat(&mut self) {
        let t0 = self.now;
        let d = self.u(0.6, 1.2);
        let roll = self.u(-12.0, 12.0);
        let flex = self.u(8.0, 20.0);
        let tr = &mut self.kin.tracks;
        tr[ch::TWIST].by(t0, d, roll, 1.0);
        tr[ch::BASE_X].by(t0, d, 0.05, 1.0);
        tr[ch::FLEX].by(t0, d, flex, 1.0);
        tr[ch::TWIST].by(t0 + d + 0.3, d, -roll, 1.0);
        tr[ch::FLEX].by(t0 + d + 0.3, d, -flex, 1.0);
        let t1 = t0 + 2.0 * d + 0.3;
        self.note(t0, t1, "shifts on the mat");
        self.now = t1;
    }

    /// Slides about on the machine's seat, legs together and apart again.
    fn shift_on_seat(&mut self) {
        let t0 = self.now;
        let d = self.u(0.5, 1.0);
        let lean = self.u(-6.0, 6.0);
        let slide = self.u(-0.04, 0.04);
        let rest = self.kin.lifter.abd_rest;
        let tr = &mut self.kin.tracks;
        tr[ch::LEAN].by(t0, d, lean, 1.0);
        tr[ch::BASE_X].by(t0, d, slide, 1.0);
        tr[ch::ABD].go(t0, d, 0.0, 1.0);
        tr[ch::LEAN].by(t0 + d + 0.2, d, -lean, 1.0);
        tr[ch::ABD].go(t0 + d + 0.2, d, rest, 1.0);
        let t1 = t0 + 2.0 * d + 0.2;
        self.note(t0, t1, "shifts on the seat");
        self.now = t1;
    }

    /// Takes the sensor off and straps it on again, differently.
    fn restrap(&mut self) {
        let t0 = self.now;
        let d = self.u(4.0, 10.0);
        let fiddle_amp = self.u(20.0, 60.0);
        let half = self.u(0.3, 0.7);
        let n = (d / half).max(2.0) as usize;
        let t_end = self
            .tr(ch::FIDDLE)
            .swing(t0, half, fiddle_amp, n.saturating_sub(1));
        let d = t_end - t0;
        let from = self
            .kin
            .mounts
            .last()
            .map_or_else(UnitQuaternion::identity, |m| m.to);
        let mut to = Self::draw_mount(self.cfg, self.kin.carrier, self.kin.free, self.rng);
        if !self.cfg.random_mounting && self.kin.carrier != Carrier::Pelvis {
            // Nominal again, but never quite the same.
            to *= tilt_rotation(self.rng, 8.0);
        }
        let axis = random_unit(self.rng);
        self.kin.mounts.push(Mount {
            t0,
            t1: t0 + d,
            from,
            to,
            to_m: to.to_rotation_matrix().into_inner(),
            fiddle_axis: axis,
        });
        // Fastening a cuff: the foot up on the bench.
        if self.kin.carrier != Carrier::Pelvis && self.posture() == Posture::Standing {
            let tr = &mut self.kin.tracks;
            tr[ch::FLEX].by(t0, 0.8, 70.0, 1.0);
            tr[ch::KNEE].by(t0, 0.8, 80.0, 1.0);
            tr[ch::FLEX].by(t0 + d - 0.8, 0.8, -70.0, 1.0);
            tr[ch::KNEE].by(t0 + d - 0.8, 0.8, -80.0, 1.0);
        }
        self.note(t0, t0 + d, "re-straps the sensor");
        self.now = t0 + d + 0.5;
    }

    fn fidget(&mut self, p: Posture) {
        let t0 = self.now;
        let t1 = match p {
            Posture::Lying => {
                let half = self.u(0.25, 0.5);
                let amp = self.u(10.0, 25.0);
                self.tr(ch::KNEE).swing(t0, half, amp, 2)
            }
            Posture::Seated => {
                let half = self.u(0.15, 0.3);
                let n = self.rng.gen_range(2..8);
                let amp = self.u(5.0, 15.0);
                self.tr(ch::KNEE).swing(t0, half, amp, n)
            }
            _ => {
                // Foot taps.
                let half = self.u(0.2, 0.35);
                let n = self.rng.gen_range(2..6) * 2;
                let amp = self.u(6.0, 15.0);
                let t1 = self.tr(ch::KNEE).swing(t0, half, amp, n);
                let mut t = t0 + half / 2.0;
                while t < t1 {
                    self.wobble(t, 0.8);
                    t += 2.0 * half;
                }
                t1
            }
        };
        self.note(t0, t1, "fidgets");
        self.now = t1;
    }

    fn shift_weight(&mut self, p: Posture) {
        let t0 = self.now;
        let d = self.u(0.5, 1.2);
        let (c, amp) = match p {
            Posture::Lying => (ch::TWIST, self.u(5.0, 15.0)),
            Posture::Seated => (ch::LEAN, self.u(3.0, 8.0)),
            _ => (ch::SHIFT, self.u(0.03, 0.07)),
        };
        let t = self.tr(c).by(t0, d, amp, 1.0);
        let pause = self.u(0.2, 1.0);
        let t1 = self.tr(c).by(t + pause, d, -amp, 1.0);
        if c == ch::SHIFT {
            self.tr(ch::OBL).by(t0, d, -2.0, 1.0);
            self.tr(ch::OBL).by(t, d, 2.0, 1.0);
        }
        self.note(t0, t1, "shifts about before the set");
        self.now = t1;
    }

    /// One swing of the leg that is not a rep.
    fn single_swing(&mut self, p: Posture) {
        let t0 = self.now;
        let amp = self.u(15.0, 35.0);
        let up = self.u(0.4, 0.8);
        let c = if p == Posture::Standing && self.chance(0.5) {
            ch::FLEX
        } else {
            ch::ABD
        };
        let t = self.tr(c).by(t0, up, amp, 1.0);
        let t1 = self.tr(c).by(t, up * 1.2, -amp, 1.0);
        self.note(t0, t1, "swings the leg once");
        self.now = t1;
    }
}

fn draw_lifter(cfg: &SimConfig, rng: &mut ChaCha8Rng) -> Lifter {
    let height = rng.gen_range(1.55..1.95);
    let mut u = |lo: f64, hi: f64| rng.gen_range(lo..hi);
    let leg = height * u(0.47, 0.53);
    let thigh = leg * u(0.47, 0.52);
    let shank = leg - thigh - 0.06;
    let mut l = Lifter {
        thigh,
        shank,
        hip_width: height * u(0.095, 0.12),
        stance_hip_h: leg,
        range: u(22.0, 45.0),
        abd_rest: u(-6.0, 2.0),
        flex_rest: u(-3.0, 5.0),
        knee_rest: u(1.0, 8.0),
        up: u(0.6, 1.4),
        top_hold: u(0.0, 0.8),
        down: u(0.9, 2.5),
        bottom_hold: u(0.05, 0.9),
        skew_up: u(0.8, 1.25),
        skew_down: u(0.75, 1.3),
        return_share: 0.0,
        size_drift: u(-0.2, 0.15),
        fatigue_reps: 0,
        pause_chance: u(0.0, 0.06),
        obl_couple: u(0.5, 3.0),
        lean_couple: 0.0,
        shift_couple: u(0.008, 0.035),
        sink_couple: u(0.0, 0.02),
        clank_chance: u(0.0, 0.6),
        overshoot: 0.0,
        staged_lowering: 0.0,
        yaw_couple: u(-3.0, 3.0),
        flex_couple: u(-2.0, 4.0),
        axial_couple: u(-6.0, 6.0),
        twist_couple: 0.0,
        tilt_couple: u(-2.0, 2.0),
        path_spread: u(0.5, 2.0),
        sway_deg: u(0.5, 1.1),
    };
    // Balance: the whole body over the ankle, or the trunk over the hip
    // with the pelvis rolling back.
    l.lean_couple = if u(0.0, 1.0) < 0.4 {
        // Mostly over the stance foot; holding the frame, some lean the other way.
        u(-1.0, 1.5).min(3.5 - l.obl_couple)
    } else {
        -u(0.3, 2.6)
    };
    if u(0.0, 1.0) < 0.15 {
        l.return_share = u(0.1, 0.5);
    }
    if u(0.0, 1.0) < 0.25 {
        l.overshoot = u(0.04, 0.12);
    }
    if u(0.0, 1.0) < 0.2 {
        l.staged_lowering = u(0.1, 0.5);
    }
    if u(0.0, 1.0) < 0.45 {
        l.fatigue_reps = rng.gen_range(2..=4);
    }
    let mut u = |lo: f64, hi: f64| rng.gen_range(lo..hi);
    match cfg.exercise {
        Exercise::SideLyingAbduction => {
            let r = u(0.0, 1.0);
            l.range = if r < 0.6 {
                u(25.0, 55.0)
            } else if r < 0.85 {
                u(12.0, 25.0)
            } else {
                u(7.0, 12.0)
            };
            if u(0.0, 1.0) < 0.35 {
                l.top_hold = u(2.0, 5.0);
            }
            if u(0.0, 1.0) < 0.2 {
                l.up = u(0.35, 0.6);
                l.down = u(0.4, 0.8);
                l.top_hold = 0.0;
            }
            l.abd_rest = u(-8.0, 0.0);
            l.flex_rest = u(0.0, 15.0);
            l.obl_couple = u(0.5, 3.0);
            l.lean_couple = 0.0;
            l.shift_couple = 0.0;
            l.twist_couple = u(-4.0, 4.0);
            l.sink_couple = 0.0;
            l.sway_deg = u(0.3, 0.8);
        }
        Exercise::SeatedMachineAbduction => {
            l.range = u(20.0, 40.0);
            l.abd_rest = u(0.0, 8.0);
            l.flex_rest = u(80.0, 95.0);
            l.knee_rest = u(80.0, 100.0);
            l.obl_couple = u(0.0, 1.0);
            l.lean_couple = 0.0;
            l.shift_couple = 0.0;
            l.flex_couple = u(-3.0, 3.0);
            // The thighs lie on the seat, the pelvis against the back rest.
            l.path_spread = u(0.2, 0.6);
            l.tilt_couple = 0.0;
            l.sink_couple = 0.0;
        }
        Exercise::HipHitch => {
            l.range = u(5.0, 12.0);
            l.up = u(0.7, 1.5);
            l.down = u(0.7, 1.5);
            l.top_hold = u(0.0, 1.0);
            l.flex_rest = u(5.0, 20.0);
            l.knee_rest = u(15.0, 45.0);
            l.abd_rest = 0.0;
            l.obl_couple = 0.0;
            l.lean_couple = 0.0;
            l.shift_couple = 0.0;
            l.yaw_couple = 0.0;
            l.tilt_couple = 0.0;
            l.sink_couple = 0.0;
            l.flex_couple = 0.0;
            l.axial_couple = 0.0;
        }
        _ => {}
    }
    l
}

/// Reads the truth off the kinematics: what a labeller with motion capture
/// would say about each planned rep.
fn label(cfg: &SimConfig, kin: &mut Kinematics, plan: &[PlannedSet]) -> Vec<TruthSet> {
    let mut kinds: Vec<FlagKind> = {
        let mut all = cfg.clone();
        all.compensations = FlagKind::ALL.to_vec();
        all.visible_compensations()
    };
    if cfg.exercise == Exercise::HipHitch {
        kinds.retain(|k| *k == FlagKind::HipHike);
    }
    let pelvis = cfg.placement == Placement::Pelvis;
    let free_dir = Vector3::new(0.0, -kin.free.sign(), 0.0);
    let held_n = (HELD_S / TRUTH_STEP_S).round() as usize;
    let held = |xs: &[f64], f: &dyn Fn(f64) -> bool| {
        let mut run = 0;
        for &x in xs {
            run = if f(x) { run + 1 } else { 0 };
            if run >= held_n {
                return true;
            }
        }
        false
    };
    let mut sets = Vec::with_capacity(plan.len());
    for ps in plan {
        kin.rewind();
        let rest = kin.frame(ps.rest_t);
        let rest_carrier = rest.carrier;
        let up0 = rest.body * Vector3::z();
        let obl_of = |f: &Frame| (f.pelvis * free_dir).dot(&up0).clamp(-1.0, 1.0).asin() / DEG;
        let fwd_of = |f: &Frame| f.flex;
        let fwd_rest = fwd_of(&rest);
        // The neutral obliquity: the still stance over the moment before the
        // set, not one instant of its sway.
        let from = (ps.rest_t - NEUTRAL_S).max(0.0);
        let n0 = ((ps.rest_t - from) / TRUTH_STEP_S).round() as usize + 1;
        kin.rewind();
        let obl0 = (0..n0)
            .map(|i| obl_of(&kin.frame(from + i as f64 * TRUTH_STEP_S)))
            .sum::<f64>()
            / n0 as f64;
        struct Seen {
            peak: f64,
            speed: f64,
            obl: Vec<f64>,
            fwd: Vec<f64>,
        }
        let mut seen = Vec::with_capacity(ps.reps.len());
        for rep in &ps.reps {
            let n = ((rep.end - rep.start) / TRUTH_STEP_S).ceil() as usize + 1;
            let mut s = Seen {
                peak: 0.0,
                speed: 0.0,
                obl: Vec::with_capacity(n),
                fwd: Vec::with_capacity(n),
            };
            let mut prev: Option<Matrix3<f64>> = None;
            for i in 0..n {
                let t = (rep.start + i as f64 * TRUTH_STEP_S).min(rep.end);
                let f = kin.frame(t);
                let o = obl_of(&f) - obl0;
                s.obl.push(o);
                s.fwd.push(fwd_of(&f) - fwd_rest);
                if pelvis {
                    s.peak = s.peak.max(o.abs());
                } else {
                    s.peak = s
                        .peak
                        .max(angle_deg(&(rest_carrier.transpose() * f.carrier)));
                    if let Some(p) = prev {
                        s.speed = s
                            .speed
                            .max(angle_deg(&(p.transpose() * f.carrier)) / TRUTH_STEP_S);
                    }
                    prev = Some(f.carrier);
                }
            }
            seen.push(s);
        }
        let median = |mut v: Vec<f64>| {
            v.sort_by(|a, b| a.total_cmp(b));
            if v.is_empty() {
                0.0
            } else {
                v[v.len() / 2]
            }
        };
        let med_peak = median(seen.iter().map(|s| s.peak).collect());
        let med_speed = median(seen.iter().map(|s| s.speed).collect());
        let mut reps = Vec::with_capacity(ps.reps.len());
        for (rep, s) in ps.reps.iter().zip(&seen) {
            let mut flags = Vec::new();
            let has = |k: FlagKind| kinds.contains(&k);
            let hi = s.obl.iter().copied().fold(f64::MIN, f64::max);
            let lo = s.obl.iter().copied().fold(f64::MAX, f64::min);
            let up = held(&s.obl, &|x| x >= OBLIQUITY_LINE_DEG);
            let down = held(&s.obl, &|x| x <= -OBLIQUITY_LINE_DEG);
            if up && down && has(FlagKind::TrunkSway) {
                flags.push(TruthFlag {
                    kind: FlagKind::TrunkSway,
                    value_deg: hi.max(-lo),
                });
            } else {
                if up && has(FlagKind::HipHike) {
                    flags.push(TruthFlag {
                        kind: FlagKind::HipHike,
                        value_deg: hi,
                    });
                }
                if down && has(FlagKind::PelvicDrop) {
                    flags.push(TruthFlag {
                        kind: FlagKind::PelvicDrop,
                        value_deg: -lo,
                    });
                }
            }
            if !pelvis {
                if has(FlagKind::Momentum) && s.speed >= MOMENTUM_RATIO * med_speed {
                    flags.push(TruthFlag {
                        kind: FlagKind::Momentum,
                        value_deg: s.peak,
                    });
                }
                if has(FlagKind::PartialRange) && s.peak < PARTIAL_SHARE * med_peak {
                    flags.push(TruthFlag {
                        kind: FlagKind::PartialRange,
                        value_deg: s.peak,
                    });
                }
                if has(FlagKind::HipFlexionDrift) && held(&s.fwd, &|x| x >= DRIFT_DEG) {
                    flags.push(TruthFlag {
                        kind: FlagKind::HipFlexionDrift,
                        value_deg: s.fwd.iter().copied().fold(f64::MIN, f64::max),
                    });
                }
            }
            reps.push(TruthRep {
                start_s: rep.start,
                end_s: rep.end,
                peak_deg: s.peak,
                flags,
            });
        }
        sets.push(TruthSet {
            start_s: reps.first().map_or(0.0, |r| r.start_s),
            end_s: reps.last().map_or(0.0, |r| r.end_s),
            rep_count: reps.len(),
            reps,
        });
    }
    sets
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::sim::SimModel;

    fn config(e: Exercise, p: Placement, side: Side) -> SimConfig {
        let mut c = SimConfig::new(e, p, side);
        c.model = SimModel::Chain;
        c
    }

    /// Every exercise × placement the simulator accepts.
    fn combos() -> Vec<(Exercise, Placement)> {
        let mut v = Vec::new();
        for e in Exercise::ALL {
            for p in Placement::ALL {
                if config(*e, *p, Side::Left).validate().is_ok() {
                    v.push((*e, *p));
                }
            }
        }
        v
    }

    impl ChainSimulator {
        /// The same session read by a perfect sensor.
        fn ideal(mut self) -> Self {
            self.imu = Imu::ideal();
            self
        }
    }

    #[test]
    fn every_exercise_placement_and_side_gives_samples_and_truth() {
        let combos = combos();
        assert_eq!(combos.len(), 6, "{combos:?}");
        for (e, p) in combos {
            for side in Side::ALL {
                let mut c = config(e, p, *side);
                c.sets = 2;
                c.rest_min_s = 15.0;
                c.rest_max_s = 25.0;
                c.rate_hz = 50.0;
                let (sim, truth) = ChainSimulator::new(&c).unwrap();
                let samples: Vec<Sample> = sim.collect();
                let what = format!("{e} {p} {side}");
                assert!(
                    samples.len() as f64 > 0.9 * truth.duration_s * 50.0,
                    "{what}: {} samples in {} s",
                    samples.len(),
                    truth.duration_s
                );
                assert!(samples.iter().all(|s| s.is_finite()), "{what}");
                assert_eq!(truth.sets.len(), 2, "{what}");
                let mut last_end = 0.0;
                for set in &truth.sets {
                    assert!((c.reps_min..=c.reps_max).contains(&set.rep_count), "{what}");
                    assert_eq!(set.reps.len(), set.rep_count, "{what}");
                    assert_eq!(set.start_s, set.reps[0].start_s, "{what}");
                    for r in &set.reps {
                        assert!(
                            r.start_s >= last_end && r.end_s > r.start_s,
                            "{what}: {r:?}"
                        );
                        assert!(r.end_s - r.start_s < 15.0, "{what}: {r:?}");
                        last_end = r.end_s;
                        if p == Placement::Ankle || e == Exercise::HipHitch {
                            assert!(r.peak_deg > 2.0, "{what}: {r:?}");
                        }
                    }
                    assert_eq!(set.end_s, last_end, "{what}");
                }
                assert!(truth.duration_s > last_end, "{what}");
            }
        }
    }

    /// Mean specific force over the still lead-in before the first set.
    fn rest_acc(c: &SimConfig, ideal: bool) -> Vec<Vector3<f64>> {
        let (sim, truth) = ChainSimulator::new(c).unwrap();
        let sim = if ideal { sim.ideal() } else { sim };
        let until = truth.sets[0].start_s - 0.3;
        sim.take_while(|s| s.t < until).map(|s| s.acc).collect()
    }

    #[test]
    fn at_rest_the_accelerometer_reads_one_g_whatever_the_strapping() {
        let g = STANDARD_GRAVITY;
        let mut directions = Vec::new();
        for (e, p) in combos() {
            for seed in 0..8 {
                let mut c = config(
                    e,
                    p,
                    if seed % 2 == 0 {
                        Side::Left
                    } else {
                        Side::Right
                    },
                );
                c.seed = seed;
                c.sets = 1;
                c.lead_in_s = Some(2.0);
                let what = format!("{e} {p} seed {seed}");
                let ideal = rest_acc(&c, true);
                assert!(ideal.len() > 100, "{what}");
                // Postural sway moves the body a little even when it stands still.
                for a in &ideal {
                    assert!(
                        (a.norm() - g).abs() < 0.02 * g,
                        "{what}: |acc| {}",
                        a.norm()
                    );
                }
                let mean = ideal.iter().map(|a| a.norm()).sum::<f64>() / ideal.len() as f64;
                assert!((mean - g).abs() < 0.005 * g, "{what}: mean |acc| {mean}");
                // A real sensor: scale errors, offsets and noise, still near 1 g.
                let real = rest_acc(&c, false);
                let mean = real.iter().sum::<Vector3<f64>>() / real.len() as f64;
                assert!(
                    (mean.norm() - g).abs() < 0.07 * g,
                    "{what}: {}",
                    mean.norm()
                );
                if p == Placement::Ankle {
                    directions.push(ideal[0].normalize());
                }
            }
        }
        // The strapping really is arbitrary: gravity lands on very different axes.
        let widest = directions
            .iter()
            .flat_map(|a| directions.iter().map(move |b| a.angle(b)))
            .fold(0.0, f64::max);
        assert!(widest > 120.0 * DEG, "{}", widest / DEG);
    }

    /// Rotation the gyro says the sensor made between `t0` and `t1` (its
    /// own frame at `t0`), trapezoid on the samples.
    fn integrate(samples: &[Sample], t0: f64, t1: f64) -> UnitQuaternion<f64> {
        let mut q = UnitQuaternion::identity();
        for w in samples.windows(2) {
            if w[0].t < t0 || w[1].t > t1 {
                continue;
            }
            let rate = (w[0].gyr + w[1].gyr) * (0.5 * DEG);
            q *= UnitQuaternion::from_scaled_axis(rate * (w[1].t - w[0].t));
        }
        q
    }

    #[test]
    fn integrating_the_gyro_over_a_rep_gives_the_segments_rotation() {
        // A fast sensor to check the kinematics closely; a slow one, whose
        // differences span 80 ms, to check it stays close.
        for (e, p, rate, within) in combos()
            .into_iter()
            .flat_map(|(e, p)| [(e, p, 400.0, 0.3), (e, p, 25.0, 1.5)])
        {
            for seed in 0..3 {
                let mut c = config(e, p, Side::Right);
                c.seed = seed;
                c.sets = 1;
                c.rate_hz = rate;
                c.drop_rate = 0.0;
                c.gaps_per_min = 0.0;
                let what = format!("{e} {p} {rate} Hz seed {seed}");
                let (sim, truth) = ChainSimulator::new(&c).unwrap();
                let mut sim = sim.ideal();
                let samples: Vec<Sample> = sim.by_ref().collect();
                let plan = sim.plan[0].reps[0].clone();
                let rest_t = sim.plan[0].rest_t;
                // Whole rep, out and back: the gyro against the sensor's own kinematics.
                let (t0, t1) = (plan.start - 0.05, plan.end + 0.05);
                let q = integrate(&samples, t0, t1);
                sim.kin.rewind();
                let (r0, _) = sim.kin.sensor(t0);
                let (r1, _) = sim.kin.sensor(t1);
                let want = UnitQuaternion::from_matrix(&(r0.transpose() * r1));
                assert!(
                    q.angle_to(&want) < within * DEG,
                    "{what}: {}",
                    q.angle_to(&want) / DEG
                );
                // From rest to the top: the segment's rotation, which is the truth's peak.
                let q = integrate(&samples, rest_t, plan.top);
                sim.kin.rewind();
                let seg0 = sim.kin.frame(rest_t).carrier;
                let seg1 = sim.kin.frame(plan.top).carrier;
                let seg = angle_deg(&(seg0.transpose() * seg1));
                assert!(
                    (q.angle() / DEG - seg).abs() < within,
                    "{what}: gyro {} segment {seg}",
                    q.angle() / DEG
                );
                if p == Placement::Ankle {
                    let peak = truth.sets[0].reps[0].peak_deg;
                    assert!(
                        seg > 0.85 * peak && seg <= peak + 0.05,
                        "{what}: {seg} vs {peak}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_truth_counts_and_flags_what_the_lifter_planned() {
        let (mut planned, mut found, mut clean, mut clean_flagged) = (0, 0, 0, 0);
        let mut kinds_seen = std::collections::BTreeSet::new();
        for (e, p) in combos() {
            for seed in 0..10 {
                let mut c = config(
                    e,
                    p,
                    if seed % 2 == 0 {
                        Side::Left
                    } else {
                        Side::Right
                    },
                );
                c.seed = 100 + seed;
                c.compensation_rate = 0.25;
                let (mut sim, truth) = ChainSimulator::new(&c).unwrap();
                assert_eq!(sim.plan.len(), truth.sets.len());
                // Every rep of the leg rises from where it starts, whatever
                // the rep before it left the leg at.
                if e != Exercise::HipHitch {
                    for pr in sim.plan.iter().flat_map(|s| &s.reps) {
                        let abd = &mut sim.kin.tracks[ch::ABD];
                        let rise = abd.at(pr.top) - abd.at(pr.start);
                        assert!(rise > 0.25 * pr.range, "{e} {p} {seed}: {rise} {pr:?}");
                    }
                }
                for (ps, ts) in sim.plan.iter().zip(&truth.sets) {
                    assert_eq!(ps.reps.len(), ts.rep_count);
                    for (pr, tr) in ps.reps.iter().zip(&ts.reps) {
                        assert_eq!((pr.start, pr.end), (tr.start_s, tr.end_s));
                        // The leg's rotation is the hip's plus the pelvis' (which a
                        // hip-strategy lifter rolls back a few degrees).
                        if p == Placement::Ankle {
                            assert!(
                                tr.peak_deg > 0.9 * pr.range - 3.0,
                                "{e} {p} {seed}: {tr:?} {pr:?}"
                            );
                        }
                        let kinds: Vec<FlagKind> = tr.flags.iter().map(|f| f.kind).collect();
                        match pr.comp {
                            Some(k) => {
                                planned += 1;
                                kinds_seen.insert(k);
                                if kinds.contains(&k) {
                                    found += 1;
                                } else {
                                    eprintln!("{e} {p} seed {seed}: planned {k:?}, truth {tr:?}");
                                }
                            }
                            None => {
                                clean += 1;
                                if !kinds.is_empty() {
                                    clean_flagged += 1;
                                    eprintln!("{e} {p} seed {seed}: clean rep flagged {tr:?}");
                                }
                            }
                        }
                    }
                }
            }
        }
        eprintln!("planned {planned}, found {found}; clean {clean}, flagged {clean_flagged}");
        // About the configured share of reps is compensated.
        let share = planned as f64 / (planned + clean) as f64;
        assert!(
            (0.15..0.35).contains(&share),
            "{share} of reps compensated, 0.25 asked"
        );
        assert_eq!(kinds_seen.len(), FlagKind::ALL.len(), "{kinds_seen:?}");
        assert!(
            found as f64 >= 0.97 * planned as f64,
            "{found} of {planned}"
        );
        assert!(
            (clean_flagged as f64) <= 0.03 * clean as f64,
            "{clean_flagged} of {clean} clean reps flagged"
        );
    }

    #[test]
    fn timestamps_carry_jitter_drops_and_gaps_as_configured() {
        let mut c = config(Exercise::SideLyingAbduction, Placement::Ankle, Side::Left);
        c.rate_hz = 100.0;
        c.drop_rate = 0.0;
        c.gaps_per_min = 0.0;
        let (sim, truth) = ChainSimulator::new(&c).unwrap();
        let t: Vec<f64> = sim.map(|s| s.t).collect();
        let dt: Vec<f64> = t.windows(2).map(|w| w[1] - w[0]).collect();
        let expected = truth.duration_s * 100.0;
        assert!(
            (t.len() as f64 - expected).abs() < 2.0,
            "{} vs {expected}",
            t.len()
        );
        assert!(
            dt.iter().all(|d| *d >= 0.0 && *d < 0.02),
            "no gaps, no reordering"
        );
        let mean = dt.iter().sum::<f64>() / dt.len() as f64;
        let sd = (dt.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / dt.len() as f64).sqrt();
        assert!((mean - 0.01).abs() < 0.01 * 0.002, "clock {mean}");
        assert!(sd > 1e-4, "no jitter: {sd}");

        c.drop_rate = 0.1;
        c.gaps_per_min = 6.0;
        let (sim, truth) = ChainSimulator::new(&c).unwrap();
        let t: Vec<f64> = sim.map(|s| s.t).collect();
        let gaps = t.windows(2).filter(|w| w[1] - w[0] > 0.1).count() as f64;
        let expected_gaps = 6.0 * truth.duration_s / 60.0;
        assert!(
            gaps > 0.5 * expected_gaps && gaps < 1.5 * expected_gaps,
            "{gaps} gaps, {expected_gaps} expected"
        );
        let share = t.len() as f64 / (truth.duration_s * 100.0);
        let gap_share = gaps * 0.22 / truth.duration_s;
        assert!(
            (share - 0.9 * (1.0 - gap_share)).abs() < 0.02,
            "{share} of the samples kept"
        );
    }

    /// The distractions as (from, to) seconds.
    fn distraction_spans(truth: &Truth) -> Vec<(f64, f64, String)> {
        truth
            .distractions
            .iter()
            .map(|d| {
                let (span, what) = d.split_once(" s ").expect("a span");
                let (a, b) = span.split_once('-').expect("from-to");
                (a.parse().unwrap(), b.parse().unwrap(), what.to_string())
            })
            .collect()
    }

    #[test]
    fn what_happens_between_sets_is_never_a_rep() {
        let mut kinds = std::collections::BTreeSet::new();
        for (e, p) in combos() {
            for seed in 0..6 {
                let mut c = config(e, p, Side::Left);
                c.seed = 300 + seed;
                c.sets = 4;
                let (_, truth) = ChainSimulator::new(&c).unwrap();
                for (a, b, what) in distraction_spans(&truth) {
                    for set in &truth.sets {
                        // Never inside a set, so never inside a rep.
                        assert!(
                            b <= set.start_s + 0.05 || a >= set.end_s - 0.05,
                            "{e} {p} seed {seed}: {what} {a}-{b} in a set {}-{}",
                            set.start_s,
                            set.end_s
                        );
                    }
                    kinds.insert(what);
                }
            }
        }
        for want in [
            "walks off, turns and comes back",
            "changes the pin",
            "re-straps the sensor",
            "fidgets",
            "swings the leg once",
            "shakes the leg out",
            "sits up on the mat and lies down again",
            "sits on the bench and stands up",
            "shifts on the seat",
            "shifts on the mat",
        ] {
            assert!(kinds.contains(want), "never: {want} ({kinds:?})");
        }
    }

    #[test]
    fn the_gyro_bias_stays_within_what_is_configured() {
        let mut largest: f64 = 0.0;
        for seed in 0..8 {
            for bias in [0.0, 2.0] {
                let mut c = config(
                    Exercise::StandingCableAbduction,
                    Placement::Ankle,
                    Side::Left,
                );
                c.seed = seed;
                c.sets = 1;
                c.lead_in_s = Some(8.0);
                c.gyro_bias_dps = bias;
                let (sim, truth) = ChainSimulator::new(&c).unwrap();
                let until = truth.sets[0].start_s - 0.3;
                let still: Vec<Vector3<f64>> =
                    sim.take_while(|s| s.t < until).map(|s| s.gyr).collect();
                let mean = still.iter().sum::<Vector3<f64>>() / still.len() as f64;
                // Postural sway turns the body a little, but on average hardly at all.
                let slack = 0.25;
                assert!(
                    mean.iter().all(|m| m.abs() <= bias + slack),
                    "seed {seed}: {mean:?} with a bias of at most {bias}"
                );
                if bias > 0.0 {
                    largest = largest.max(mean.amax());
                }
            }
        }
        assert!(largest > 1.0, "the bias is hardly there: {largest}");
    }

    #[test]
    fn a_wobble_starts_and_ends_without_a_jump() {
        // A tremor through a 3 s hold, and a ring after a sudden stop.
        for (tau, life) in [(6.0, 3.0), (0.08, 0.64)] {
            let w = Wobble {
                t0: 0.0,
                amp: 0.2 * DEG,
                freq: 10.0,
                tau,
                life,
                axis: Vector3::x(),
            };
            let h = 1e-3;
            let steps = (life / h) as usize + 10;
            let biggest_step = (0..steps)
                .map(|i| (w.angle((i + 1) as f64 * h) - w.angle(i as f64 * h)).abs())
                .fold(0.0, f64::max);
            // Never more than the ring itself moves in a millisecond.
            assert!(
                biggest_step < w.amp * 2.0 * PI * w.freq * h * 1.1,
                "{biggest_step}"
            );
            assert_eq!(w.angle(0.0), 0.0);
            assert_eq!(w.angle(life), 0.0);
            assert!(w.angle(life - h).abs() < w.amp * 0.01);
        }
    }

    #[test]
    fn lifters_differ_in_range_tempo_and_where_the_sensor_sits() {
        let median = |mut v: Vec<f64>| {
            v.sort_by(|a, b| a.total_cmp(b));
            v[v.len() / 2]
        };
        let (mut peaks, mut tempos, mut carriers) = (Vec::new(), Vec::new(), Vec::new());
        for seed in 0..24 {
            let mut c = config(Exercise::SideLyingAbduction, Placement::Ankle, Side::Right);
            c.seed = seed;
            c.sets = 1;
            c.compensations = Vec::new();
            let (sim, truth) = ChainSimulator::new(&c).unwrap();
            let reps = &truth.sets[0].reps;
            peaks.push(median(reps.iter().map(|r| r.peak_deg).collect()));
            tempos.push(median(reps.iter().map(|r| r.end_s - r.start_s).collect()));
            carriers.push(sim.kin.carrier);
        }
        let spread = |v: &[f64]| {
            v.iter().copied().fold(f64::MIN, f64::max) / v.iter().copied().fold(f64::MAX, f64::min)
        };
        // Real lifters: peaks of 6° to 68°, reps of 1.1 s to 6.3 s.
        assert!(spread(&peaks) > 3.0, "{peaks:?}");
        assert!(spread(&tempos) > 2.5, "{tempos:?}");
        assert!(carriers.contains(&Carrier::Thigh) && carriers.contains(&Carrier::Shank));
    }

    #[test]
    fn the_edges_of_every_setting_give_finite_samples() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for (i, (e, p)) in combos().into_iter().cycle().take(36).enumerate() {
            let mut c = config(e, p, if i % 2 == 0 { Side::Left } else { Side::Right });
            c.seed = rng.gen();
            c.sets = rng.gen_range(1..=3);
            let r = rng.gen_range(1..=25);
            (c.reps_min, c.reps_max) = (r, r + rng.gen_range(0..3));
            c.rate_hz = [10.0, 25.0, 333.0, 2000.0][i % 4];
            c.compensation_rate = [0.0, 1.0, 0.5][i % 3];
            c.noise = [0.0, 10.0][i % 2];
            c.gyro_bias_dps = [0.0, 20.0][(i / 2) % 2];
            c.drop_rate = [0.0, 0.5][(i / 3) % 2];
            c.gaps_per_min = [0.0, 60.0][(i / 5) % 2];
            (c.rest_min_s, c.rest_max_s) = (12.0, 12.0);
            c.walking = i % 3 != 0;
            c.fidgets = i % 4 != 0;
            c.random_mounting = i % 5 != 0;
            c.lead_in_s = [None, Some(0.0), Some(30.0)][i % 3];
            let what = format!("{c:?}");
            let (sim, truth) = ChainSimulator::new(&c).unwrap();
            assert_eq!(truth.sets.len(), c.sets, "{what}");
            let mut last = f64::NEG_INFINITY;
            let mut n = 0;
            for s in sim {
                assert!(s.is_finite() && s.t >= last, "{what}: {s:?}");
                last = s.t;
                n += 1;
            }
            assert!(n > 0, "{what}");
        }
    }
}
