//! A ninth body model, built apart: trained athletes doing coached strength
//! work with the equipment of a serious gym.
//!
//! **Who.** One lifter per session, drawn from four populations: sprinters
//! and field-sport athletes (fast, wide, explosive concentrics), powerlifters
//! doing accessories (heavier, slower, hike-prone), physique competitors
//! (squeezes and long holds, more tremor) and a coached group class (reps on
//! the coach's count, little tempo spread).
//!
//! **What a set is.** Each set follows a prescribed tempo in coaching
//! notation: X-0-2 (explosive up, two seconds down), 1-0-3 and 3-5 s
//! eccentrics, 2-2-2 with a squeeze at the top, 1-5-1 isometric holds (one
//! held rep of up to ~9 s is one rep), light high-rep pump sets of 18-30
//! touch-and-go reps, and clusters / rest-pause with pauses of 3-8 s that
//! stay one set (a set is reps with gaps under ~10 s). Sets may end in
//! "burnout" partials at 35-60 % of the working range: reps the lifter means,
//! flagged `partial_range` where the ankle can see it.
//!
//! **How a rep moves.** Not keyframes, minimum-jerk, templates, muscles or a
//! goal controller: every rep is one cycle of a *stochastic phase
//! oscillator*. A phase θ runs 0→1 (concentric), 1→2 (top hold), 2→3
//! (eccentric), 3→4 (bottom pause); its speed follows the prescribed tempo
//! times `exp(η)`, where η is twice-filtered Ornstein-Uhlenbeck noise (the
//! lifter's own rhythm wandering), and slows toward the top of the
//! concentric where the cable's moment arm and the abductors' force-length
//! curve make the sticking point. The angle is a nonlinear function of phase
//! times an amplitude state that fatigues over the set, sags during holds,
//! and carries 8-11 Hz physiological tremor under load. A let-go eccentric
//! (momentum) accelerates into the bottom.
//!
//! **Equipment.** The cable's ankle cuff carries the sensor and rotates
//! about the shank as the cable's pull direction swings with the leg (a
//! rotation the shank itself does not do); the cable and stack buzz at 8-25 Hz
//! through the cuff while the stack moves; a fast return clunks the stack
//! onto its rest (a 40-60 Hz acceleration spike) and can bounce it once; an
//! ankle weight on a side-lying leg swings after a fast lowering. On the
//! pelvis the sensor sits either on the sacrum or on a stiff lifting belt
//! that rides higher and pitches with lumbar flexion.
//!
//! **Body and form.** The pelvis tilts 0.5-3 deg with the leg on a clean rep,
//! the whole body leans up to ~2 deg the other way and the hips shift toward
//! the stance foot; hip hikes (6-13 deg, beyond the usual 5 deg line), pelvic
//! drops, trunk sway rocking beyond 5 deg to both sides, a foot that flies
//! (momentum), the leg drifting forward out of the frontal plane (TFL) and
//! partial reps are drawn at the configured rate, more often late in a set.
//! Irregular postural sway of a fraction of a degree and breathing run all
//! session.
//!
//! **Between sets.** Leg swings forward-back and sideways as a warm-up (not
//! reps), the other leg's set with the sensored shank as the stance leg
//! (ankle only; on the pelvis the other side's set would look like this
//! side's set, so it is left out), bending down to move the pin, re-strapping
//! the cuff (the sensor comes back at a new roll), shake-outs, an abandoned
//! first rep before a set, walking away and back with turns, getting up from
//! the mat or the machine seat. Every one of them is a distraction in the
//! truth.
//!
//! **Sensor.** A higher-end IMU (±16 g, ±2000 deg/s, 16-bit), white noise
//! that grows with the output rate, a gyro scale error of a few percent, a
//! degree or so of axis misalignment, bias per axis plus a slow random walk,
//! timestamp jitter around the configured rate, dropped samples, short gaps,
//! and rarer Bluetooth disconnects of 0.5-3 s that resume on the same clock.
//! A recording may open while the lifter is already swinging the leg.
//!
//! **Truth.** A rep starts when its phase leaves 0 (leaving neutral) and ends
//! when it reaches 3 (back at neutral). `peak_deg` on the ankle is the
//! largest rotation of the shank (not the cuff) from its orientation when
//! the set's first rep starts, at the end of the still stance before the set;
//! on the pelvis it is the largest obliquity change (rotation of the pelvis
//! about its front-back axis, any posture) from that same moment, as a
//! magnitude. Flag values are positive magnitudes in degrees.
//!
//! Everything is drawn from seeded ChaCha8 streams: same seed, same bytes.

use super::gauss;
use crate::motion::FlagKind;
use crate::sample::STANDARD_GRAVITY;
use crate::source::sim::{SimConfig, Truth, TruthFlag, TruthRep, TruthSet};
use crate::{Exercise, Placement, Sample};
use nalgebra::{Matrix3, Rotation3, UnitQuaternion, Vector3};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::f64::consts::PI;
use std::sync::Arc;

/// Grid step of a rep's phase-oscillator track, s.
const TRACK_DT: f64 = 0.005;
/// Half-step of the finite differences that turn poses into rates, s.
const FD_H: f64 = 0.002;
/// Shank length from knee to the sensor's band, m.
const SHANK_TO_SENSOR: f64 = 0.36;
/// Thigh length, m.
const THIGH: f64 = 0.46;
/// Pelvis centre above the stance foot when standing, m.
const STAND_HEIGHT: f64 = 0.95;
/// Hip joint from the pelvis centre, m.
const HIP_HALF_WIDTH: f64 = 0.09;

fn rad(d: f64) -> f64 {
    d * PI / 180.0
}

fn deg(r: f64) -> f64 {
    r * 180.0 / PI
}

/// Quintic ramp 0→1 on [0, 1], zero velocity and acceleration at both ends.
fn ramp(x: f64) -> f64 {
    let x = x.clamp(0.0, 1.0);
    x * x * x * (10.0 - 15.0 * x + 6.0 * x * x)
}

/// A smooth bump 0→1→0 on [0, 1].
fn bump(x: f64) -> f64 {
    if !(0.0..=1.0).contains(&x) {
        return 0.0;
    }
    let s = (PI * x).sin();
    s * s
}

/// Fade in and out over `edge` seconds at the ends of [0, dur].
fn window(tau: f64, dur: f64, edge: f64) -> f64 {
    let e = edge.min(dur / 2.0).max(1e-6);
    ramp(tau / e) * ramp((dur - tau) / e)
}

fn rx(a: f64) -> Rotation3<f64> {
    Rotation3::from_axis_angle(&Vector3::x_axis(), a)
}

fn ry(a: f64) -> Rotation3<f64> {
    Rotation3::from_axis_angle(&Vector3::y_axis(), a)
}

fn rz(a: f64) -> Rotation3<f64> {
    Rotation3::from_axis_angle(&Vector3::z_axis(), a)
}

fn uni(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    if hi <= lo {
        lo
    } else {
        rng.gen_range(lo..hi)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Posture {
    Standing,
    SideLying,
    Seated,
    Supine,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Population {
    Sprinter,
    Powerlifter,
    Physique,
    GroupClass,
}

impl Population {
    fn words(self) -> &'static str {
        match self {
            Population::Sprinter => "sprinter / field-sport athlete",
            Population::Powerlifter => "powerlifter doing accessories",
            Population::Physique => "physique competitor",
            Population::GroupClass => "coached group strength class",
        }
    }
}

/// Where the body stands or lies: the pelvis' base orientation and position,
/// the height of the pivot (stance foot) below it and the posture's own hip
/// and knee angles.
#[derive(Debug, Clone, Copy)]
struct Base {
    q: UnitQuaternion<f64>,
    pos: Vector3<f64>,
    pivot: f64,
    hip_flex: f64,
    knee: f64,
}

impl Base {
    fn new(posture: Posture, heading: f64, xy: (f64, f64), side: f64, raised: f64) -> Base {
        let (rot, z, pivot, hip_flex, knee) = match posture {
            Posture::Standing => (rz(heading), STAND_HEIGHT + raised, STAND_HEIGHT, 0.0, 0.0),
            Posture::SideLying => (
                rz(heading) * rx(-side * PI / 2.0),
                0.16,
                0.0,
                rad(12.0),
                0.0,
            ),
            Posture::Seated => (rz(heading) * ry(rad(-8.0)), 0.55, 0.0, rad(88.0), rad(88.0)),
            Posture::Supine => (rz(heading) * ry(-PI / 2.0), 0.11, 0.0, rad(50.0), rad(95.0)),
        };
        Base {
            q: UnitQuaternion::from_rotation_matrix(&rot),
            pos: Vector3::new(xy.0, xy.1, z),
            pivot,
            hip_flex,
            knee,
        }
    }

    fn lerp(&self, other: &Base, x: f64) -> Base {
        let x = x.clamp(0.0, 1.0);
        Base {
            q: self.q.slerp(&other.q, x),
            pos: self.pos + (other.pos - self.pos) * x,
            pivot: self.pivot + (other.pivot - self.pivot) * x,
            hip_flex: self.hip_flex + (other.hip_flex - self.hip_flex) * x,
            knee: self.knee + (other.knee - self.knee) * x,
        }
    }

    fn forward(&self) -> Vector3<f64> {
        let f = self.q * Vector3::x();
        let h = Vector3::new(f.x, f.y, 0.0);
        if h.norm() < 1e-6 {
            Vector3::x()
        } else {
            h.normalize()
        }
    }
}

/// Offsets from the base the body takes at one instant (radians, metres).
#[derive(Debug, Clone, Copy, Default)]
struct Pose {
    /// Whole-body rock about the pivot: roll about forward, pitch, yaw.
    roll: f64,
    pitch: f64,
    yaw: f64,
    /// Pelvic obliquity on the body, free side up positive.
    obl: f64,
    /// Pelvis pitch (anterior tilt positive).
    tilt: f64,
    /// Lumbar flexion (tilts a belt-mounted sensor).
    trunk: f64,
    /// World-vertical lift of the pelvis, m.
    lift: f64,
    /// Hip shift toward the free side, m.
    shift: f64,
    /// Forward shift, m.
    fwd: f64,
    /// Working leg: abduction, flexion, knee flexion.
    abd: f64,
    flex: f64,
    knee: f64,
    /// Cuff roll about the shank.
    cuff: f64,
}

/// One rep's prescription for the phase oscillator.
#[derive(Debug, Clone)]
struct RepSpec {
    seed: u64,
    /// Nominal durations: concentric, top hold, eccentric, bottom pause, s.
    t: [f64; 4],
    /// Amplitude of the motion coordinate (deg for abduction and hitch, 1 for step-up / bridge).
    amp: f64,
    /// Share of the amplitude lost over a hold.
    sag: f64,
    /// Tremor amplitude in the motion coordinate's units, and its frequency.
    tremor: f64,
    tremor_hz: f64,
    /// Phase-speed noise (std of η) and the sticking-point slowdown (0..0.6).
    sigma: f64,
    stick: f64,
    /// A let-go eccentric that accelerates into the bottom.
    let_go: bool,
}

/// The integrated oscillator: motion coordinate and phase on a 5 ms grid.
#[derive(Debug, Clone)]
struct RepTrack {
    m: Vec<f64>,
    theta: Vec<f64>,
}

impl RepTrack {
    fn integrate(spec: &RepSpec) -> RepTrack {
        let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
        let (tau1, tau2) = (0.4, 0.1);
        let mut e1 = gauss(&mut rng) * spec.sigma;
        let mut e2 = e1;
        let mut e3 = e1;
        let tr_phase = uni(&mut rng, 0.0, 2.0 * PI);
        let tr2 = uni(&mut rng, 1.1, 1.4);
        let mut theta = 0.0f64;
        let mut m = vec![0.0];
        let mut th = vec![0.0];
        let stick = spec.stick.clamp(0.0, 0.6);
        let norm_c = if stick > 1e-6 {
            stick.sqrt().atanh() / stick.sqrt()
        } else {
            1.0
        };
        let top = spec.amp * (1.0 - spec.sag);
        let mut k = 0usize;
        while theta < 4.0 && k < 200_000 {
            k += 1;
            e1 += -e1 / tau1 * TRACK_DT
                + spec.sigma * (2.0 / tau1).sqrt() * TRACK_DT.sqrt() * gauss(&mut rng);
            e2 += (e1 - e2) / tau2 * TRACK_DT;
            e3 += (e2 - e3) / tau2 * TRACK_DT;
            let speed = e3.exp();
            // Advance the phase by one step, carrying the time left over at a
            // phase boundary into the next phase at that phase's own speed.
            let mut left = TRACK_DT;
            while left > 1e-12 && theta < 4.0 {
                let seg = theta.floor().clamp(0.0, 3.0) as usize;
                let u = theta - seg as f64;
                let dur = spec.t[seg].max(0.02);
                let w = match seg {
                    0 => norm_c * (1.0 - stick * u * u) / dur,
                    2 if spec.let_go => (1.0 + u) / (std::f64::consts::LN_2.recip() * dur),
                    _ => 1.0 / dur,
                } * speed;
                let to_edge = (seg as f64 + 1.0 - theta) / w;
                if to_edge > left {
                    theta += w * left;
                    left = 0.0;
                } else {
                    theta = seg as f64 + 1.0;
                    left -= to_edge;
                }
            }
            theta = theta.min(4.0);
            let t = k as f64 * TRACK_DT;
            let seg = theta.floor().clamp(0.0, 3.0) as usize;
            let u = if theta >= 4.0 {
                1.0
            } else {
                theta - seg as f64
            };
            let val = match seg {
                0 => spec.amp * (1.0 - (PI * u).cos()) / 2.0,
                1 => {
                    let tremor = spec.tremor
                        * (PI * u).sin()
                        * ((2.0 * PI * spec.tremor_hz * t + tr_phase).sin()
                            + 0.5 * (2.0 * PI * spec.tremor_hz * tr2 * t).sin())
                        / 1.5;
                    spec.amp - (spec.amp - top) * u + tremor
                }
                2 => top * (1.0 + (PI * u).cos()) / 2.0,
                _ => 0.0,
            };
            m.push(val);
            th.push(theta);
        }
        if let Some(last) = m.last_mut() {
            *last = 0.0;
        }
        RepTrack { m, theta: th }
    }

    fn duration(&self) -> f64 {
        (self.m.len() - 1) as f64 * TRACK_DT
    }

    /// Time the phase reaches `level` (interpolated), s from the rep's start.
    fn time_of_phase(&self, level: f64) -> f64 {
        for i in 1..self.theta.len() {
            if self.theta[i] >= level {
                let (a, b) = (self.theta[i - 1], self.theta[i]);
                let f = if b > a { (level - a) / (b - a) } else { 1.0 };
                return (i as f64 - 1.0 + f) * TRACK_DT;
            }
        }
        self.duration()
    }

    /// The motion coordinate at `tau` s into the rep (Catmull-Rom).
    fn at(&self, tau: f64) -> f64 {
        let n = self.m.len();
        let x = (tau / TRACK_DT).clamp(0.0, (n - 1) as f64);
        let i = (x.floor() as usize).min(n - 2);
        let f = x - i as f64;
        let p = |j: isize| self.m[(j.clamp(0, n as isize - 1)) as usize];
        let (p0, p1, p2, p3) = (
            p(i as isize - 1),
            p(i as isize),
            p(i as isize + 1),
            p(i as isize + 2),
        );
        0.5 * (2.0 * p1
            + (-p0 + p2) * f
            + (2.0 * p0 - 5.0 * p1 + 4.0 * p2 - p3) * f * f
            + (-p0 + 3.0 * p1 - 3.0 * p2 + p3) * f * f * f)
    }
}

/// A short ringing acceleration in the sensor frame (stack clunk, bounce, ankle weight).
#[derive(Debug, Clone, Copy)]
struct Jolt {
    t: f64,
    acc: f64,
    gyr: f64,
    hz: f64,
    decay: f64,
}

/// One rep in the plan: its oscillator, its form and what it flags.
#[derive(Debug, Clone)]
struct RepPlan {
    spec: RepSpec,
    /// Working amplitude of the set (the motion coordinate's units).
    work: f64,
    /// Time from the rep start to back at neutral (phase 3), s.
    end: f64,
    /// Clean-form couplings of this lifter (rad, m).
    clean_obl: f64,
    lean: f64,
    shift: f64,
    yaw: f64,
    clean_flex: f64,
    cuff_k: f64,
    /// Compensations as done (rad).
    hike: f64,
    drop: f64,
    sway: f64,
    drift: f64,
    jolts: Vec<Jolt>,
    flags: Vec<FlagKind>,
}

#[derive(Debug, Clone)]
enum Act {
    Still { breath: f64 },
    Rep(usize),
    Walk { stride_hz: f64 },
    Turn,
    Transition,
    Swings { sideways: bool, hz: f64, amp: f64 },
    OtherLeg { period: f64, lean: f64 },
    PinChange { shank: f64, trunk: f64 },
    Restrap,
    FalseStart { amp: f64 },
    Shake { hz: f64, amp: f64 },
}

#[derive(Debug, Clone)]
struct Segment {
    t0: f64,
    t1: f64,
    act: Act,
    b0: Base,
    b1: Base,
    /// Sensor roll on the shank at the start and end (re-strapping moves it).
    roll0: f64,
    roll1: f64,
}

/// Everything fixed for a session, shared by clones of the simulator.
#[derive(Debug)]
struct Plan {
    exercise: Exercise,
    placement: Placement,
    /// Working side sign (+1 right) and free side sign.
    s: f64,
    sf: f64,
    stack: bool,
    belt: bool,
    segs: Vec<Segment>,
    reps: Vec<RepPlan>,
    duration: f64,
    /// Sensor mounting on the shank or the pelvis.
    mount: Rotation3<f64>,
    /// Postural sway: (amplitude rad, Hz, phase) for roll, pitch, yaw.
    sway: [[(f64, f64, f64); 3]; 3],
    buzz_hz: f64,
    buzz_acc: f64,
    /// Disconnects and short gaps: [from, to) in s.
    gaps: Vec<(f64, f64)>,
}

/// What a sensor would read, before its own errors.
struct Kin {
    r_sensor: Rotation3<f64>,
    p_sensor: Vector3<f64>,
    r_shank: Rotation3<f64>,
    r_pelvis: Rotation3<f64>,
}

impl Plan {
    fn seg_index(&self, t: f64) -> usize {
        let i = self.segs.partition_point(|s| s.t1 <= t);
        i.min(self.segs.len() - 1)
    }

    fn postural_sway(&self, t: f64, pivot: f64) -> (f64, f64, f64) {
        let mut out = [0.0; 3];
        for (k, o) in out.iter_mut().enumerate() {
            for &(a, hz, ph) in &self.sway[k] {
                *o += a * (2.0 * PI * hz * t + ph).sin();
            }
        }
        let standing = (pivot / STAND_HEIGHT).clamp(0.25, 1.0);
        (out[0] * standing, out[1] * standing, out[2] * standing)
    }

    /// The body's base and pose offsets at time t.
    fn pose(&self, t: f64, track: Option<&RepTrack>) -> (Base, Pose, f64) {
        let seg = &self.segs[self.seg_index(t)];
        let dur = (seg.t1 - seg.t0).max(1e-9);
        let tau = (t - seg.t0).clamp(0.0, dur);
        let x = tau / dur;
        let mut p = Pose::default();
        let mut base = seg.b0;
        let roll_mount = seg.roll0 + (seg.roll1 - seg.roll0) * ramp(x);
        match &seg.act {
            Act::Still { breath } => {
                let w = window(tau, dur, 0.5);
                p.tilt += w * breath * (2.0 * PI * 0.28 * (t - seg.t0)).sin();
                p.lift += w * breath * 0.05 * (2.0 * PI * 0.28 * (t - seg.t0)).sin();
            }
            Act::Rep(i) => {
                if let Some(tr) = track {
                    self.rep_pose(&self.reps[*i], tr, tau, &mut p);
                }
            }
            Act::Walk { stride_hz } => {
                base = seg.b0.lerp(&seg.b1, ramp(x));
                let w = window(tau, dur, 0.8);
                let ph = 2.0 * PI * stride_hz * tau;
                self.gait(ph, w, &mut p);
            }
            Act::Turn => {
                base = seg.b0.lerp(&seg.b1, ramp(x));
                let w = window(tau, dur, 0.4) * 0.5;
                self.gait(2.0 * PI * 1.6 * tau, w, &mut p);
            }
            Act::Transition => {
                base = seg.b0.lerp(&seg.b1, ramp(x));
                let w = bump(x);
                p.trunk += rad(35.0) * w;
                p.abd += rad(6.0) * w * (2.0 * PI * 0.7 * tau).sin();
            }
            Act::Swings { sideways, hz, amp } => {
                let w = window(tau, dur, 1.0 / hz);
                let s = (2.0 * PI * hz * tau).sin() * w;
                if *sideways {
                    p.abd += amp * s;
                    p.obl += rad(2.5) * s;
                    p.roll += self.sf * rad(1.5) * s;
                } else {
                    p.flex += amp * s;
                    p.knee += amp * 0.3 * (1.0 + s) / 2.0 * w;
                    p.tilt += rad(4.0) * s;
                    p.yaw += rad(3.0) * s;
                }
            }
            Act::OtherLeg { period, lean } => {
                let w = window(tau, dur, 1.0);
                let o = bump((tau / period).fract()) * w;
                // The sensored leg stands: the whole body leans over it as the other leg goes out.
                p.roll += -self.sf * lean * o;
                p.yaw += rad(1.0) * o;
                p.knee += rad(3.0) * o;
            }
            Act::PinChange { shank, trunk } => {
                let w = ramp(tau / 1.0) * ramp((dur - tau) / 1.0);
                let jig = (2.0 * PI * 1.3 * tau).sin() * rad(2.0) * w;
                p.pitch += shank * w + jig;
                p.tilt += trunk * 0.5 * w;
                p.trunk += trunk * w;
                p.flex -= trunk * 0.5 * w;
                p.knee += shank * 1.5 * w;
            }
            Act::Restrap => {
                let w = ramp(tau / 1.2) * ramp((dur - tau) / 1.2);
                p.flex += rad(75.0) * w;
                p.knee += rad(80.0) * w;
                p.abd += rad(5.0) * w * (2.0 * PI * 0.9 * tau).sin();
                p.cuff += rad(8.0) * w * (2.0 * PI * 2.1 * tau).sin();
                p.trunk += rad(40.0) * w;
            }
            Act::FalseStart { amp } => {
                let up = ramp(tau / 0.5) * ramp((dur - tau) / 0.7);
                p.abd += amp * up;
                p.obl += rad(0.8) * up;
                p.abd += rad(2.0) * bump((tau - (dur - 0.7)) / 0.7) * (2.0 * PI * 4.0 * tau).sin();
            }
            Act::Shake { hz, amp } => {
                let w = window(tau, dur, 0.3);
                let s = (2.0 * PI * hz * tau).sin() * w;
                p.abd += amp * s;
                p.flex += amp * 0.6 * (2.0 * PI * hz * tau + 1.0).sin() * w;
                p.knee += amp * 0.5 * w * (1.0 + (2.0 * PI * hz * tau - 0.5).sin());
            }
        }
        let (sr, sp, sy) = self.postural_sway(t, base.pivot);
        p.roll += sr;
        p.pitch += sp;
        p.yaw += sy;
        (base, p, roll_mount)
    }

    fn gait(&self, ph: f64, w: f64, p: &mut Pose) {
        p.flex += w * (rad(22.0) * ph.sin() + rad(4.0));
        let swing = (ph - 0.6).sin().max(0.0);
        p.knee += w * rad(55.0) * swing * swing;
        p.lift += w * 0.02 * (2.0 * ph).cos();
        p.obl += w * rad(4.0) * ph.sin();
        p.yaw += w * rad(4.0) * ph.cos();
        p.shift += w * 0.02 * ph.sin();
        p.roll += w * rad(1.0) * ph.sin();
    }

    fn rep_pose(&self, r: &RepPlan, tr: &RepTrack, tau: f64, p: &mut Pose) {
        let m = tr.at(tau);
        let prog = if r.work > 0.0 { m / r.work } else { 0.0 };
        let x = (tau / r.end).clamp(0.0, 1.0);
        let sway = if tau < r.end {
            (2.0 * PI * x).sin() * (PI * x).sin() / 0.7698
        } else {
            0.0
        };
        p.roll += r.sway * sway * self.sf;
        p.yaw += r.sway * 0.35 * sway;
        p.shift += 0.04 * (r.sway / rad(8.0)) * sway;
        match self.exercise {
            Exercise::HipHitch => {
                p.obl += -rad(m) + r.clean_obl * prog;
                p.shift -= r.shift * prog;
            }
            Exercise::LateralStepUp => {
                p.lift += 0.22 * prog;
                p.shift -= 0.12 * prog;
                p.fwd += 0.03 * prog;
                p.obl += (r.clean_obl + r.hike - r.drop) * prog;
                p.tilt += rad(6.0) * prog;
            }
            Exercise::SingleLegBridge => {
                p.lift += 0.16 * prog;
                p.tilt -= rad(22.0) * prog;
                p.obl += (r.clean_obl + r.hike - r.drop) * prog;
            }
            _ => {
                p.abd += rad(m);
                p.flex += (r.clean_flex + r.drift) * prog.max(0.0);
                p.cuff += r.cuff_k * rad(m);
                p.obl += (r.clean_obl + r.hike - r.drop) * prog;
                p.roll += self.sf * r.lean * prog;
                p.shift -= r.shift * prog;
                p.yaw += r.yaw * prog;
            }
        }
    }

    /// Forward kinematics: sensor, shank and pelvis in the world.
    fn kin(&self, base: &Base, p: &Pose, mount_roll: f64) -> Kin {
        let s = self.s;
        let sf = self.sf;
        let rb = base.q.to_rotation_matrix();
        let rock = rz(p.yaw) * rx(p.roll) * ry(p.pitch);
        let r_body = rb * rock;
        let pivot_pt = base.pos - rb * Vector3::new(0.0, 0.0, base.pivot);
        let p_pelvis = pivot_pt
            + r_body * Vector3::new(0.0, 0.0, base.pivot)
            + Vector3::new(0.0, 0.0, p.lift)
            + rb * Vector3::new(p.fwd, -sf * p.shift, 0.0);
        let r_pelvis = r_body * rx(-sf * p.obl) * ry(p.tilt);
        let hip = p_pelvis + r_pelvis * Vector3::new(0.0, -s * HIP_HALF_WIDTH, 0.0);
        let r_thigh = r_pelvis * ry(-(base.hip_flex + p.flex)) * rx(-s * p.abd);
        let knee = hip + r_thigh * Vector3::new(0.0, 0.0, -THIGH);
        let r_shank = r_thigh * ry(base.knee + p.knee);
        let (r_sensor, p_sensor) = match self.placement {
            Placement::Ankle => {
                let cuff = rz(p.cuff + mount_roll);
                let pos = knee
                    + r_shank * (cuff * Vector3::new(0.045, 0.0, 0.0))
                    + r_shank * Vector3::new(0.0, 0.0, -SHANK_TO_SENSOR);
                (r_shank * cuff * self.mount, pos)
            }
            Placement::Pelvis => {
                let axes = Rotation3::from_matrix_unchecked(Matrix3::from_columns(&[
                    Vector3::new(0.0, -1.0, 0.0),
                    Vector3::new(0.0, 0.0, 1.0),
                    Vector3::new(-1.0, 0.0, 0.0),
                ]));
                let (belt_pitch, off) = if self.belt {
                    (0.45 * p.trunk, Vector3::new(-0.11, 0.0, 0.13))
                } else {
                    (0.05 * p.trunk, Vector3::new(-0.10, 0.0, 0.03))
                };
                let r = r_pelvis * ry(belt_pitch);
                (r * axes * self.mount, p_pelvis + r * off)
            }
        };
        Kin {
            r_sensor,
            p_sensor,
            r_shank,
            r_pelvis,
        }
    }

    /// Obliquity change of `r` from `r0` about the pelvis' front-back axis, free side up positive, rad.
    fn obliquity_change(&self, r0: &Rotation3<f64>, r: &Rotation3<f64>) -> f64 {
        let free = Vector3::new(0.0, -self.sf, 0.0);
        let v = r0.transpose() * r * free;
        // In the set-start pelvis frame: free side along -sf*y, up along z.
        v.z.atan2(v.y * -self.sf)
    }
}

/// Ground-truth bookkeeping kept while planning.
struct Planner<'a> {
    cfg: &'a SimConfig,
    rng: ChaCha8Rng,
    segs: Vec<Segment>,
    base: Base,
    roll: f64,
    t: f64,
    distractions: Vec<(f64, String)>,
    posture: Posture,
    heading: f64,
    raised: f64,
}

impl Planner<'_> {
    fn push(&mut self, dur: f64, act: Act, b1: Base, roll1: f64) {
        let dur = dur.max(TRACK_DT);
        self.segs.push(Segment {
            t0: self.t,
            t1: self.t + dur,
            act,
            b0: self.base,
            b1,
            roll0: self.roll,
            roll1,
        });
        self.t += dur;
        self.base = b1;
        self.roll = roll1;
    }

    fn hold(&mut self, dur: f64, act: Act) {
        let b = self.base;
        let r = self.roll;
        self.push(dur, act, b, r);
    }

    fn still(&mut self, dur: f64, breath: f64) {
        self.hold(dur, Act::Still { breath });
    }

    fn note(&mut self, what: String) {
        self.distractions.push((self.t, what));
    }

    fn base_for(&self, posture: Posture) -> Base {
        let xy = (self.base.pos.x, self.base.pos.y);
        let raised = if posture == Posture::Standing {
            self.raised
        } else {
            0.0
        };
        Base::new(posture, self.heading, xy, self.cfg.side.sign(), raised)
    }

    /// Walk `secs` along the heading, turn round; returns the time used.
    fn walk_leg(&mut self, secs: f64) {
        let speed = uni(&mut self.rng, 0.7, 1.0);
        let dir = self.base.forward();
        let mut b1 = self.base;
        b1.pos += dir * speed * secs;
        let hz = uni(&mut self.rng, 0.85, 0.98);
        let r = self.roll;
        self.note(format!("walks {:.0} m", speed * secs));
        self.push(secs, Act::Walk { stride_hz: hz }, b1, r);
        self.heading += PI;
        let mut b2 = self.base;
        b2.q = UnitQuaternion::from_rotation_matrix(&rz(PI)) * b2.q;
        let dur = uni(&mut self.rng, 1.4, 2.4);
        self.note("turns round".into());
        self.push(dur, Act::Turn, b2, r);
    }

    fn transition(&mut self, to: Posture, what: &str) {
        let b1 = self.base_for(to);
        let dur = uni(&mut self.rng, 1.8, 3.2);
        self.note(what.into());
        let r = self.roll;
        self.push(dur, Act::Transition, b1, r);
        self.posture = to;
    }
}

/// The ninth simulated session: trained athletes and the equipment of a serious gym.
///
/// Streams [`Sample`]s lazily from a plan fixed at construction; the
/// [`Truth`] returned by [`AthleteSimulator::new`] describes exactly this
/// stream.
#[derive(Debug, Clone)]
pub struct AthleteSimulator {
    plan: Arc<Plan>,
    rate: f64,
    k: u64,
    noise: f64,
    drop_rate: f64,
    rng: ChaCha8Rng,
    bias: Vector3<f64>,
    bias_walk: Vector3<f64>,
    /// Gyro scale and misalignment, accelerometer scale (identity when noise is 0).
    gyr_m: Matrix3<f64>,
    acc_m: Matrix3<f64>,
    gap_i: usize,
    cache: Vec<(usize, Arc<RepTrack>)>,
}

impl AthleteSimulator {
    /// Plans a session from `cfg` and returns the sample stream with its ground truth.
    ///
    /// Errors when the configuration is invalid (the message names the option).
    pub fn new(cfg: &SimConfig) -> Result<(AthleteSimulator, Truth), String> {
        cfg.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0xA7B1_E7E5_9000_0009);
        let s = cfg.side.sign();
        let sf = cfg.exercise.free_side(cfg.side).sign();
        let posture = match cfg.exercise {
            Exercise::SideLyingAbduction | Exercise::Clamshell => Posture::SideLying,
            Exercise::SeatedMachineAbduction => Posture::Seated,
            Exercise::SingleLegBridge => Posture::Supine,
            _ => Posture::Standing,
        };
        let population = *[
            Population::Sprinter,
            Population::Powerlifter,
            Population::Physique,
            Population::GroupClass,
        ]
        .choose(&mut rng)
        .unwrap_or(&Population::Sprinter);
        let stack = matches!(
            cfg.exercise,
            Exercise::StandingCableAbduction | Exercise::SeatedMachineAbduction
        );
        let cuff =
            cfg.exercise == Exercise::StandingCableAbduction && cfg.placement == Placement::Ankle;
        let ankle_weight = cfg.exercise == Exercise::SideLyingAbduction && rng.gen_bool(0.6);
        let belt = cfg.placement == Placement::Pelvis && rng.gen_bool(0.5);
        let raised = match cfg.exercise {
            Exercise::HipHitch => 0.2,
            _ => 0.0,
        };
        let mount = if cfg.random_mounting {
            match cfg.placement {
                Placement::Ankle => {
                    let q = UnitQuaternion::from_quaternion(nalgebra::Quaternion::new(
                        gauss(&mut rng),
                        gauss(&mut rng),
                        gauss(&mut rng),
                        gauss(&mut rng),
                    ));
                    q.to_rotation_matrix()
                }
                Placement::Pelvis => {
                    let axis = Vector3::new(gauss(&mut rng), gauss(&mut rng), gauss(&mut rng));
                    let ang = rad(uni(&mut rng, 0.0, 15.0));
                    if axis.norm() > 1e-9 {
                        Rotation3::from_axis_angle(&nalgebra::Unit::new_normalize(axis), ang)
                    } else {
                        Rotation3::identity()
                    }
                }
            }
        } else {
            Rotation3::identity()
        };
        let roll0 = if cfg.random_mounting {
            uni(&mut rng, 0.0, 2.0 * PI)
        } else {
            0.0
        };
        // Postural sway: three incommensurate components per axis, a fraction of a degree.
        let sway_amp = match population {
            Population::Physique | Population::Sprinter => 0.18,
            _ => 0.28,
        };
        let mut sway = [[(0.0, 0.0, 0.0); 3]; 3];
        for axis in sway.iter_mut() {
            for c in axis.iter_mut() {
                *c = (
                    rad(sway_amp * uni(&mut rng, 0.4, 1.0)),
                    uni(&mut rng, 0.07, 0.45),
                    uni(&mut rng, 0.0, 2.0 * PI),
                );
            }
        }
        let buzz_hz = uni(&mut rng, 8.0, 25.0);
        let buzz_acc = uni(&mut rng, 0.08, 0.35);

        // Per-lifter form.
        // Standing, the whole body leans up to ~2 deg toward the stance foot and rolls
        // the pelvis back against its 0.5-3 deg; lying on the floor nothing leans,
        // and a clean lifted leg still tilts the pelvis 1-4 deg.
        let (clean_obl, lean) = if posture == Posture::Standing {
            (rad(uni(&mut rng, 0.5, 3.0)), rad(uni(&mut rng, 0.0, 2.0)))
        } else {
            (rad(uni(&mut rng, 1.0, 4.0)), 0.0)
        };
        let shift = uni(&mut rng, 0.01, 0.03);
        let yaw_k = rad(uni(&mut rng, 0.5, 2.0)) * if rng.gen_bool(0.5) { 1.0 } else { -1.0 };
        let clean_flex = rad(uni(&mut rng, 0.0, 3.5));
        let cuff_k = if cuff { uni(&mut rng, 0.06, 0.16) } else { 0.0 };
        let sigma = match population {
            Population::GroupClass => uni(&mut rng, 0.04, 0.08),
            _ => uni(&mut rng, 0.08, 0.2),
        };
        let stick = uni(&mut rng, 0.1, 0.5);
        let tremor_deg = match population {
            Population::Physique | Population::Powerlifter => uni(&mut rng, 0.04, 0.1),
            _ => uni(&mut rng, 0.02, 0.06),
        };
        let tremor_hz = uni(&mut rng, 8.0, 11.0);
        let (amp_lo, amp_hi) = match cfg.exercise {
            Exercise::StandingCableAbduction => (28.0, 45.0),
            Exercise::SideLyingAbduction | Exercise::Clamshell => (32.0, 50.0),
            Exercise::SeatedMachineAbduction => (22.0, 38.0),
            Exercise::HipHitch => (6.0, 12.0),
            _ => (1.0, 1.0),
        };
        let unit_motion = amp_lo == amp_hi;
        let lifter_amp = match population {
            Population::Sprinter => uni(&mut rng, (amp_lo + amp_hi) / 2.0, amp_hi),
            Population::Powerlifter => uni(&mut rng, amp_lo, (amp_lo + amp_hi) / 2.0),
            _ => uni(&mut rng, amp_lo, amp_hi),
        };

        // Compensations this model can do where this placement sees them.
        let generatable = |k: FlagKind| -> bool {
            match cfg.placement {
                Placement::Ankle => matches!(
                    k,
                    FlagKind::Momentum | FlagKind::PartialRange | FlagKind::HipFlexionDrift
                ),
                Placement::Pelvis => match cfg.exercise {
                    Exercise::HipHitch => k == FlagKind::TrunkSway,
                    Exercise::StandingCableAbduction | Exercise::LateralStepUp => matches!(
                        k,
                        FlagKind::HipHike | FlagKind::PelvicDrop | FlagKind::TrunkSway
                    ),
                    // Lying on the side there is no stance hip to let go: the
                    // top side of the pelvis is hiked toward the ribs.
                    Exercise::SideLyingAbduction => k == FlagKind::HipHike,
                    _ => matches!(k, FlagKind::HipHike | FlagKind::PelvicDrop),
                },
            }
        };
        let mut kinds: Vec<FlagKind> = cfg
            .visible_compensations()
            .into_iter()
            .filter(|k| generatable(*k))
            .collect();
        kinds.dedup();
        let partial_visible = kinds.contains(&FlagKind::PartialRange);
        let burnouts_allowed =
            cfg.compensation_rate > 0.0 && cfg.compensations.contains(&FlagKind::PartialRange);

        let mut pl = Planner {
            cfg,
            rng: ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x005E_ED0F_A7B1_E7E5),
            segs: Vec::new(),
            base: Base::new(posture, 0.0, (0.0, 0.0), s, raised),
            roll: roll0,
            t: 0.0,
            distractions: Vec::new(),
            posture,
            heading: 0.0,
            raised,
        };
        pl.heading = uni(&mut rng, 0.0, 2.0 * PI);
        pl.base = Base::new(posture, pl.heading, (0.0, 0.0), s, raised);

        // Lead-in: still, or a recording that opens while the lifter already moves.
        match cfg.lead_in_s {
            Some(l) => {
                let l = l.max(0.0);
                if l > 0.0 {
                    pl.still(l, 0.0);
                }
            }
            None => {
                if cfg.fidgets && rng.gen_bool(0.35) {
                    // The segment began before the recording did.
                    let pre = uni(&mut rng, 0.8, 2.5);
                    pl.t = -pre;
                    pl.distractions
                        .push((0.0, "recording opens mid-movement".into()));
                    if posture == Posture::Standing {
                        let n = rng.gen_range(6..11) as f64;
                        let hz = uni(&mut rng, 0.8, 1.1);
                        pl.hold(
                            n / hz,
                            Act::Swings {
                                sideways: rng.gen_bool(0.5),
                                hz,
                                amp: rad(uni(&mut rng, 25.0, 45.0)),
                            },
                        );
                    } else {
                        pl.distractions
                            .push((0.0, "recording opens mid shake-out".into()));
                        pl.hold(
                            uni(&mut rng, 2.0, 4.0),
                            Act::Shake {
                                hz: uni(&mut rng, 2.5, 4.0),
                                amp: rad(uni(&mut rng, 2.0, 4.0)),
                            },
                        );
                    }
                    let l = uni(&mut rng, 1.0, 2.5);
                    pl.still(l, 0.0);
                } else {
                    let l = uni(&mut rng, 0.3, 2.5);
                    pl.still(l, 0.0);
                }
            }
        }

        // Sets.
        let mut reps: Vec<RepPlan> = Vec::new();
        let mut set_reps: Vec<Vec<usize>> = Vec::new();
        let mut rep_seed = cfg.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xA7;
        for set in 0..cfg.sets {
            let n = rng.gen_range(cfg.reps_min..=cfg.reps_max);
            // The tempo: (concentric, top, eccentric, bottom) ranges.
            let scheme = choose_scheme(&mut rng, population, n);
            let cluster = n >= 6 && rng.gen_bool(0.2);
            let burnouts = if burnouts_allowed && n >= 5 && rng.gen_bool(0.35) {
                rng.gen_range(2..=4usize.min(n / 2))
            } else {
                0
            };
            let set_amp = lifter_amp * uni(&mut rng, 0.93, 1.05);
            let fatigue = uni(&mut rng, 0.1, 0.5);
            let mut ids = Vec::new();
            let mut last_rep_end = pl.t;
            let mut since_pause = 0usize;
            let cluster_size = rng.gen_range(3..=5usize);
            for k in 0..n {
                if cluster && since_pause == cluster_size && k + 1 < n {
                    let d = uni(&mut rng, 3.0, 8.0);
                    pl.still(d, rad(0.5));
                    since_pause = 0;
                }
                since_pause += 1;
                let f = if n > 1 {
                    k as f64 / (n - 1) as f64
                } else {
                    0.0
                };
                let tt = |rng: &mut ChaCha8Rng, r: (f64, f64)| uni(rng, r.0, r.1);
                let mut t = [
                    tt(&mut rng, scheme[0]) * (1.0 + fatigue * f * f),
                    tt(&mut rng, scheme[1]),
                    tt(&mut rng, scheme[2]),
                    tt(&mut rng, scheme[3]),
                ];
                if k + 1 == n {
                    t[3] = uni(&mut rng, 0.2, 0.5);
                }
                let mut amp = set_amp * (1.0 - 0.08 * fatigue * f * f) * uni(&mut rng, 0.96, 1.04);
                let mut let_go = false;
                let mut flags = Vec::new();
                let (mut hike, mut drop, mut sway, mut drift) = (0.0, 0.0, 0.0, 0.0);
                let burnout = k >= n - burnouts;
                if burnout {
                    amp = set_amp * uni(&mut rng, 0.35, 0.6);
                    t[0] *= 0.6;
                    t[1] = uni(&mut rng, 0.0, 0.1);
                    t[2] *= 0.6;
                    if partial_visible {
                        flags.push(FlagKind::PartialRange);
                    }
                } else if !kinds.is_empty() {
                    let p = (cfg.compensation_rate * (0.4 + 1.2 * f)).min(1.0);
                    if rng.gen_bool(p) {
                        let kind = *kinds.choose(&mut rng).unwrap_or(&kinds[0]);
                        match kind {
                            FlagKind::PartialRange => {
                                amp = set_amp * uni(&mut rng, 0.4, 0.62);
                            }
                            FlagKind::Momentum => {
                                t[0] = uni(&mut rng, 0.25, 0.4);
                                t[1] = uni(&mut rng, 0.0, 0.05);
                                t[2] = uni(&mut rng, 0.3, 0.5);
                                amp *= uni(&mut rng, 1.05, 1.2);
                                let_go = true;
                            }
                            FlagKind::HipFlexionDrift => drift = rad(uni(&mut rng, 12.0, 25.0)),
                            FlagKind::HipHike => hike = rad(uni(&mut rng, 6.5, 13.0)),
                            FlagKind::PelvicDrop => drop = rad(uni(&mut rng, 6.5, 11.0)),
                            FlagKind::TrunkSway => sway = rad(uni(&mut rng, 6.5, 10.0)),
                        }
                        flags.push(kind);
                    }
                }
                let spec = RepSpec {
                    seed: rep_seed,
                    t,
                    amp: if unit_motion {
                        amp / set_amp.max(1e-9)
                    } else {
                        amp
                    },
                    sag: if t[1] > 1.0 {
                        uni(&mut rng, 0.02, 0.08)
                    } else {
                        0.0
                    },
                    tremor: if unit_motion {
                        0.004
                    } else {
                        tremor_deg * (1.0 + 0.5 * f)
                    },
                    tremor_hz,
                    sigma,
                    stick,
                    let_go,
                };
                rep_seed = rep_seed.wrapping_add(0x632B_E59B_D9B4_E019);
                let track = RepTrack::integrate(&spec);
                let end = track.time_of_phase(3.0);
                // Equipment jolts from the speed at the bottom of the return.
                let mut jolts = Vec::new();
                let ret_speed = {
                    let a = track.at((end - 0.06).max(0.0));
                    let b = track.at((end - 0.01).max(0.0));
                    ((a - b) / 0.05).abs()
                };
                let fast = let_go || ret_speed > 40.0 || t[2] < 0.9;
                if stack && fast && !unit_motion {
                    let a = uni(&mut rng, 6.0, 22.0) * if let_go { 1.4 } else { 1.0 };
                    jolts.push(Jolt {
                        t: end - 0.01,
                        acc: a,
                        gyr: uni(&mut rng, 6.0, 25.0),
                        hz: uni(&mut rng, 40.0, 60.0),
                        decay: 0.015,
                    });
                    if rng.gen_bool(0.4) {
                        jolts.push(Jolt {
                            t: end + uni(&mut rng, 0.08, 0.15),
                            acc: a * 0.35,
                            gyr: 4.0,
                            hz: 45.0,
                            decay: 0.012,
                        });
                    }
                }
                if ankle_weight && fast {
                    jolts.push(Jolt {
                        t: end - 0.02,
                        acc: uni(&mut rng, 0.8, 2.5),
                        gyr: uni(&mut rng, 4.0, 10.0),
                        hz: uni(&mut rng, 3.0, 5.0),
                        decay: 0.25,
                    });
                }
                let dur = track.duration();
                let (w, sc) = if unit_motion {
                    (1.0, 1.0)
                } else {
                    (set_amp, 1.0)
                };
                let _ = sc;
                reps.push(RepPlan {
                    spec,
                    work: w,
                    end,
                    clean_obl,
                    lean,
                    shift,
                    yaw: yaw_k,
                    clean_flex,
                    cuff_k,
                    hike,
                    drop,
                    sway,
                    drift,
                    jolts,
                    flags,
                });
                let idx = reps.len() - 1;
                ids.push(idx);
                last_rep_end = pl.t + end;
                pl.hold(dur, Act::Rep(idx));
            }
            set_reps.push(ids);
            // Rest and what fills it.
            let is_last = set + 1 == cfg.sets;
            let after = uni(&mut rng, 1.0, 3.0);
            pl.still(after, rad(0.8));
            if is_last {
                let tail = uni(&mut rng, 1.0, 4.0);
                pl.still(tail, rad(0.4));
                break;
            }
            let rest = uni(&mut rng, cfg.rest_min_s, cfg.rest_max_s);
            let rest_end = last_rep_end + rest;
            let pre = uni(&mut rng, 1.2, 2.5);
            plan_rest(&mut pl, &mut rng, rest_end - pre, cfg, stack);
            let pre = (rest_end - pl.t).max(0.8);
            pl.still(pre, 0.0);
        }
        let duration = pl.t;

        // Gaps: short 200 ms ones at the configured rate, rarer Bluetooth disconnects.
        let mut gaps = Vec::new();
        if cfg.gaps_per_min > 0.0 {
            let mut t = 0.0;
            loop {
                t += -(1.0 - rng.gen::<f64>()).ln() * 60.0 / cfg.gaps_per_min;
                if t >= duration {
                    break;
                }
                gaps.push((t, t + 0.2));
            }
            let per_min = cfg.gaps_per_min * 0.15;
            let mut t = 0.0;
            loop {
                t += -(1.0 - rng.gen::<f64>()).ln() * 60.0 / per_min;
                if t >= duration {
                    break;
                }
                let d = uni(&mut rng, 0.5, 3.0);
                gaps.push((t, t + d));
            }
            gaps.sort_by(|a, b| a.0.total_cmp(&b.0));
        }

        let plan = Plan {
            exercise: cfg.exercise,
            placement: cfg.placement,
            s,
            sf,
            stack,
            belt,
            segs: pl.segs,
            reps,
            duration,
            mount,
            sway,
            buzz_hz,
            buzz_acc,
            gaps,
        };

        // Truth from the same kinematics.
        let mut sets = Vec::new();
        for ids in &set_reps {
            let first = ids[0];
            let seg0 = plan
                .segs
                .iter()
                .find(|sg| matches!(sg.act, Act::Rep(i) if i == first))
                .ok_or("internal: a rep without a segment")?;
            let (b, p, mr) = plan.pose(seg0.t0 - 1e-6, None);
            let k0 = plan.kin(&b, &p, mr);
            let mut truth_reps = Vec::new();
            for &i in ids {
                let seg = plan
                    .segs
                    .iter()
                    .find(|sg| matches!(sg.act, Act::Rep(j) if j == i))
                    .ok_or("internal: a rep without a segment")?;
                let r = &plan.reps[i];
                let track = RepTrack::integrate(&r.spec);
                let mut peak: f64 = 0.0;
                let mut obl_max: f64 = 0.0;
                let mut obl_min: f64 = 0.0;
                let mut tau = 0.0;
                while tau <= r.end + 1e-9 {
                    let (b, p, mr) = plan.pose(seg.t0 + tau, Some(&track));
                    let k = plan.kin(&b, &p, mr);
                    match plan.placement {
                        Placement::Ankle => {
                            peak = peak.max(deg((k0.r_shank.transpose() * k.r_shank).angle()));
                        }
                        Placement::Pelvis => {
                            let o = deg(plan.obliquity_change(&k0.r_pelvis, &k.r_pelvis));
                            obl_max = obl_max.max(o);
                            obl_min = obl_min.min(o);
                            peak = peak.max(o.abs());
                        }
                    }
                    tau += TRACK_DT;
                }
                let flags = r
                    .flags
                    .iter()
                    .map(|&kind| TruthFlag {
                        kind,
                        value_deg: match kind {
                            FlagKind::HipHike => obl_max,
                            FlagKind::PelvicDrop => -obl_min,
                            FlagKind::TrunkSway => deg(r.sway),
                            FlagKind::Momentum => peak,
                            FlagKind::PartialRange => (r.work - r.spec.amp).max(0.0),
                            FlagKind::HipFlexionDrift => deg(r.drift + r.clean_flex),
                        },
                    })
                    .collect();
                truth_reps.push(TruthRep {
                    start_s: seg.t0,
                    end_s: seg.t0 + r.end,
                    peak_deg: peak,
                    flags,
                });
            }
            sets.push(TruthSet {
                start_s: truth_reps[0].start_s,
                end_s: truth_reps[truth_reps.len() - 1].end_s,
                rep_count: truth_reps.len(),
                reps: truth_reps,
            });
        }
        let mut distractions = pl.distractions;
        distractions.sort_by(|a, b| a.0.total_cmp(&b.0));
        let dlist: Vec<String> = distractions
            .into_iter()
            .map(|(t, w)| format!("{:.1} s: {w}", t.max(0.0)))
            .collect();
        tracing::debug!(
            "athlete: a {}{}",
            population.words(),
            if belt {
                ", the sensor on a lifting belt"
            } else {
                ""
            }
        );
        let truth = Truth {
            config: cfg.clone(),
            duration_s: duration,
            distractions: dlist,
            sets,
        };

        // Sensor errors (none at all when noise is 0).
        let mut srng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x0005_E450_A7B1_0009);
        let b = cfg.gyro_bias_dps;
        let bias = Vector3::new(
            uni(&mut srng, -b, b),
            uni(&mut srng, -b, b),
            uni(&mut srng, -b, b),
        );
        let (gyr_m, acc_m) = if cfg.noise > 0.0 {
            let mut g = Matrix3::identity();
            let mut a = Matrix3::identity();
            for i in 0..3 {
                g[(i, i)] = 1.0 + uni(&mut srng, -0.035, 0.035);
                a[(i, i)] = 1.0 + uni(&mut srng, -0.01, 0.01);
                for j in 0..3 {
                    if i != j {
                        g[(i, j)] = rad(uni(&mut srng, -1.0, 1.0));
                        a[(i, j)] = rad(uni(&mut srng, -0.5, 0.5));
                    }
                }
            }
            (g, a)
        } else {
            (Matrix3::identity(), Matrix3::identity())
        };
        let sim = AthleteSimulator {
            plan: Arc::new(plan),
            rate: cfg.rate_hz,
            k: 0,
            noise: cfg.noise,
            drop_rate: cfg.drop_rate,
            rng: srng,
            bias,
            bias_walk: Vector3::zeros(),
            gyr_m,
            acc_m,
            gap_i: 0,
            cache: Vec::new(),
        };
        Ok((sim, truth))
    }

    fn track(&mut self, i: usize) -> Arc<RepTrack> {
        if let Some((_, t)) = self.cache.iter().find(|(j, _)| *j == i) {
            return t.clone();
        }
        let t = Arc::new(RepTrack::integrate(&self.plan.reps[i].spec));
        if self.cache.len() >= 3 {
            self.cache.remove(0);
        }
        self.cache.push((i, t.clone()));
        t
    }

    fn kin_at(&mut self, t: f64) -> Kin {
        let plan = self.plan.clone();
        let seg = &plan.segs[plan.seg_index(t)];
        let track = match seg.act {
            Act::Rep(i) => Some(self.track(i)),
            _ => None,
        };
        let (b, p, mr) = plan.pose(t, track.as_deref());
        plan.kin(&b, &p, mr)
    }

    /// The sensor's own low-pass (a second-order filter near 0.4 × the output rate).
    fn dlpf(&self, hz: f64) -> f64 {
        let r = hz / (0.4 * self.rate);
        1.0 / (1.0 + r.powi(4)).sqrt()
    }

    /// Equipment vibration and impacts, sensor frame: (acc m/s², gyr deg/s).
    fn extras(&mut self, t: f64) -> (Vector3<f64>, Vector3<f64>) {
        let plan = self.plan.clone();
        let si = plan.seg_index(t);
        let mut acc = Vector3::zeros();
        let mut gyr = Vector3::zeros();
        // The shank's outward axis in sensor frame: roughly where the cable pulls and the weight hangs.
        let axis = match plan.placement {
            Placement::Ankle => plan.mount.transpose() * Vector3::new(0.0, 1.0, 0.0),
            Placement::Pelvis => plan.mount.transpose() * Vector3::new(1.0, 0.0, 0.0),
        };
        let along = match plan.placement {
            Placement::Ankle => plan.mount.transpose() * Vector3::new(0.0, 0.0, 1.0),
            Placement::Pelvis => plan.mount.transpose() * Vector3::new(0.0, 1.0, 0.0),
        };
        let damp = if plan.placement == Placement::Pelvis {
            0.15
        } else {
            1.0
        };
        // Jolts of this rep and the one before (a bounce can ring past the end).
        for j in si.saturating_sub(1)..=si {
            let seg = &plan.segs[j];
            match seg.act {
                Act::Rep(i) => {
                    let r = &plan.reps[i];
                    for jo in &r.jolts {
                        let dt = t - (seg.t0 + jo.t);
                        if (0.0..8.0 * jo.decay).contains(&dt) {
                            let e = (-dt / jo.decay).exp()
                                * (2.0 * PI * jo.hz * dt).sin()
                                * self.dlpf(jo.hz);
                            acc += axis * (jo.acc * e * damp);
                            gyr += along.cross(&axis) * (jo.gyr * e * damp);
                        }
                    }
                    if j == si && plan.stack {
                        // Cable and stack buzz while the stack moves.
                        let tr = self.track(i);
                        let tau = t - seg.t0;
                        let v = ((tr.at(tau + 0.01) - tr.at(tau - 0.01)) / 0.02).abs();
                        let a =
                            plan.buzz_acc * (v / 60.0).min(1.5) * damp * self.dlpf(plan.buzz_hz);
                        let ph = 2.0 * PI * plan.buzz_hz * t + 0.8 * (2.0 * PI * 0.7 * t).sin();
                        acc += axis * (a * ph.sin()) + along * (0.5 * a * (1.3 * ph).sin());
                        gyr += along * (6.0 * a * (ph + 0.5).sin());
                    }
                }
                Act::Walk { stride_hz } if j == si => {
                    let tau = t - seg.t0;
                    let dur = seg.t1 - seg.t0;
                    let w = window(tau, dur, 0.8);
                    let since = (tau * stride_hz).fract() / stride_hz;
                    let a = if plan.placement == Placement::Ankle {
                        14.0
                    } else {
                        3.0
                    };
                    let e =
                        (-since / 0.018).exp() * (2.0 * PI * 28.0 * since).cos() * self.dlpf(28.0);
                    acc += along * (a * w * e);
                }
                _ => {}
            }
        }
        (acc, gyr)
    }

    fn in_gap(&mut self, t: f64) -> bool {
        let gaps = &self.plan.gaps;
        while self.gap_i < gaps.len() && gaps[self.gap_i].1 <= t {
            self.gap_i += 1;
        }
        self.gap_i < gaps.len() && gaps[self.gap_i].0 <= t
    }
}

/// Tempo ranges (concentric, top, eccentric, bottom) for a set of `n` reps.
fn choose_scheme(rng: &mut ChaCha8Rng, pop: Population, n: usize) -> [(f64, f64); 4] {
    // X-0-2 explosive; 1-0-3 / slow eccentric; 2-2-2 squeeze; 1-5-1 hold; light pump.
    let explosive = [(0.3, 0.55), (0.0, 0.15), (1.6, 2.4), (0.2, 0.6)];
    let eccentric = [(0.8, 1.2), (0.0, 0.3), (3.0, 5.0), (0.3, 0.8)];
    let squeeze = [(1.7, 2.3), (1.7, 2.5), (1.7, 2.3), (0.3, 0.7)];
    let hold = [(0.8, 1.2), (4.0, 9.0), (0.8, 1.4), (0.5, 1.2)];
    let pump = [(0.45, 0.7), (0.0, 0.1), (0.6, 0.9), (0.05, 0.2)];
    let coach = [(0.9, 1.1), (0.4, 0.6), (1.4, 1.6), (0.4, 0.6)];
    if n >= 18 && rng.gen_bool(0.7) {
        return pump;
    }
    let w: [(f64, [(f64, f64); 4]); 5] = match pop {
        Population::Sprinter => [
            (5.0, explosive),
            (1.0, eccentric),
            (1.0, squeeze),
            (1.0, hold),
            (1.0, pump),
        ],
        Population::Powerlifter => [
            (2.0, explosive),
            (3.0, eccentric),
            (1.0, squeeze),
            (1.0, hold),
            (1.0, pump),
        ],
        Population::Physique => [
            (1.0, explosive),
            (2.0, eccentric),
            (3.0, squeeze),
            (2.0, hold),
            (1.0, pump),
        ],
        Population::GroupClass => [
            (1.0, explosive),
            (1.0, eccentric),
            (1.0, squeeze),
            (1.0, hold),
            (4.0, coach),
        ],
    };
    let w: Vec<_> = w
        .iter()
        .filter(|(_, s)| n <= 12 || s[1].1 < 4.0)
        .copied()
        .collect();
    let total: f64 = w.iter().map(|x| x.0).sum();
    let mut x = rng.gen::<f64>() * total;
    for (wt, s) in &w {
        if x < *wt {
            return *s;
        }
        x -= wt;
    }
    w.last().map(|x| x.1).unwrap_or(explosive)
}

/// Fills the rest until `until` with what athletes do between sets.
fn plan_rest(pl: &mut Planner, rng: &mut ChaCha8Rng, until: f64, cfg: &SimConfig, stack: bool) {
    let home = pl.posture;
    let mut blocks: Vec<u8> = Vec::new();
    if cfg.walking {
        blocks.push(0); // walk away and back
        if stack {
            blocks.push(1); // move the pin
        }
    }
    if cfg.fidgets {
        blocks.push(2); // leg swings
        if cfg.placement == Placement::Ankle
            && matches!(home, Posture::Standing | Posture::SideLying)
        {
            blocks.push(3); // the other leg's set
        }
        if cfg.placement == Placement::Ankle {
            blocks.push(4); // re-strap
        }
        blocks.push(5); // shake-out
    }
    blocks.shuffle(rng);
    let false_start = cfg.fidgets && rng.gen_bool(0.25);
    let reserve = if false_start { 4.0 } else { 0.5 };
    for b in blocks {
        let left = until - reserve - pl.t;
        if left < 4.0 {
            break;
        }
        let gap = uni(rng, 0.5, 3.0).min(left / 4.0);
        pl.still(gap, 0.0);
        let left = until - reserve - pl.t;
        match b {
            0 => {
                let (walk, back) = (uni(rng, 3.0, 7.0), uni(rng, 2.0, 8.0));
                let mut need = 2.0 * walk + 5.0 + back;
                if home != Posture::Standing {
                    need += 6.5;
                }
                if need > left {
                    continue;
                }
                if home != Posture::Standing {
                    pl.transition(Posture::Standing, "gets up");
                }
                pl.walk_leg(walk);
                pl.still(back, rad(0.5));
                pl.walk_leg(walk);
                if home != Posture::Standing {
                    let what = match home {
                        Posture::Seated => "sits back on the machine",
                        _ => "lies back down",
                    };
                    pl.transition(home, what);
                }
            }
            1 => {
                let d = uni(rng, 3.0, 5.5);
                if d > left {
                    continue;
                }
                pl.note("bends down to move the pin".into());
                let shank = if home == Posture::Standing {
                    rad(uni(rng, 10.0, 22.0))
                } else {
                    rad(2.0)
                };
                let trunk = rad(uni(rng, 45.0, 75.0));
                pl.hold(d, Act::PinChange { shank, trunk });
            }
            2 => {
                if home != Posture::Standing {
                    continue;
                }
                let hz = uni(rng, 0.8, 1.15);
                let n1 = rng.gen_range(6..=10) as f64;
                let n2 = rng.gen_range(6..=10) as f64;
                if (n1 + n2) / hz + 1.0 > left {
                    continue;
                }
                pl.note(format!("warm-up leg swings forward-back ({n1})"));
                let amp = rad(uni(rng, 30.0, 50.0));
                pl.hold(
                    n1 / hz,
                    Act::Swings {
                        sideways: false,
                        hz,
                        amp,
                    },
                );
                pl.still(uni(rng, 0.4, 1.0), 0.0);
                pl.note(format!("warm-up leg swings sideways ({n2})"));
                let amp = rad(uni(rng, 22.0, 38.0));
                pl.hold(
                    n2 / hz,
                    Act::Swings {
                        sideways: true,
                        hz,
                        amp,
                    },
                );
            }
            3 => {
                let n = rng.gen_range(8..=15) as f64;
                let period = uni(rng, 2.0, 3.2);
                let need = n * period + 8.0;
                if need > left {
                    continue;
                }
                let lean = rad(uni(rng, 1.0, 2.5));
                if home == Posture::Standing {
                    pl.note("turns to put the other leg to the stack".into());
                    let mut b = pl.base;
                    b.q = UnitQuaternion::from_rotation_matrix(&rz(PI)) * b.q;
                    pl.heading += PI;
                    let r = pl.roll;
                    pl.push(2.0, Act::Turn, b, r);
                    pl.still(1.0, 0.0);
                    pl.note(format!("other leg's set ({n}), this leg is the stance leg"));
                    pl.hold(n * period, Act::OtherLeg { period, lean });
                    let mut b = pl.base;
                    b.q = UnitQuaternion::from_rotation_matrix(&rz(PI)) * b.q;
                    pl.heading += PI;
                    pl.note("turns back".into());
                    pl.push(2.0, Act::Turn, b, r);
                } else {
                    let s = cfg.side.sign();
                    let other = Base {
                        q: UnitQuaternion::from_rotation_matrix(
                            &(rz(pl.heading + PI) * rx(s * PI / 2.0)),
                        ),
                        ..pl.base
                    };
                    let r = pl.roll;
                    pl.note("rolls onto the other side".into());
                    pl.push(2.5, Act::Transition, other, r);
                    pl.note(format!("other leg's set ({n}), this leg underneath"));
                    pl.hold(
                        n * period,
                        Act::OtherLeg {
                            period,
                            lean: lean * 0.5,
                        },
                    );
                    let back = pl.base_for(home);
                    pl.note("rolls back".into());
                    pl.push(2.5, Act::Transition, back, r);
                }
            }
            4 => {
                let d = uni(rng, 7.0, 16.0);
                if d > left {
                    continue;
                }
                let change = uni(rng, 15.0, 110.0) * if rng.gen_bool(0.5) { 1.0 } else { -1.0 };
                pl.note(format!("re-straps the cuff (sensor turns {change:.0} deg)"));
                let b = pl.base;
                let r1 = pl.roll + rad(change);
                pl.push(d, Act::Restrap, b, r1);
            }
            _ => {
                let d = uni(rng, 1.2, 2.5);
                if d > left {
                    continue;
                }
                pl.note("shakes the leg out".into());
                let hz = uni(rng, 2.5, 4.5);
                let amp = rad(uni(rng, 2.0, 4.0));
                pl.hold(d, Act::Shake { hz, amp });
            }
        }
    }
    if false_start && until - pl.t > 3.5 {
        let idle = until - pl.t - 3.5;
        pl.still(idle.max(0.0), rad(0.3));
        let amp = rad(uni(rng, 7.0, 15.0));
        pl.note("abandoned rep: starts, stops, puts the leg down".into());
        pl.hold(uni(rng, 1.6, 2.2), Act::FalseStart { amp });
    } else if until > pl.t {
        let d = until - pl.t;
        pl.still(d, rad(0.3));
    }
}

impl Iterator for AthleteSimulator {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        loop {
            let k = self.k;
            self.k += 1;
            let period = 1.0 / self.rate;
            let t_nom = k as f64 * period;
            if t_nom > self.plan.duration {
                return None;
            }
            // Per-sample draws are taken in a fixed order whether or not the sample survives.
            let jitter: f64 = self.rng.gen_range(-0.03..0.03) * period;
            let drop: f64 = self.rng.gen();
            let ng: [f64; 3] = [
                gauss(&mut self.rng),
                gauss(&mut self.rng),
                gauss(&mut self.rng),
            ];
            let na: [f64; 3] = [
                gauss(&mut self.rng),
                gauss(&mut self.rng),
                gauss(&mut self.rng),
            ];
            let nb: [f64; 3] = [
                gauss(&mut self.rng),
                gauss(&mut self.rng),
                gauss(&mut self.rng),
            ];
            let t = if self.noise > 0.0 {
                (t_nom + jitter).clamp(0.0, self.plan.duration)
            } else {
                t_nom
            };
            if self.noise > 0.0 {
                let step = 0.015 * self.noise * period.sqrt();
                self.bias_walk += Vector3::new(nb[0], nb[1], nb[2]) * step;
            }
            if self.in_gap(t) || drop < self.drop_rate {
                continue;
            }
            let k0 = self.kin_at(t - FD_H);
            let k1 = self.kin_at(t);
            let k2 = self.kin_at(t + FD_H);
            let w = (k0.r_sensor.transpose() * k2.r_sensor).scaled_axis() / (2.0 * FD_H);
            let a = (k2.p_sensor - 2.0 * k1.p_sensor + k0.p_sensor) / (FD_H * FD_H);
            let f = k1.r_sensor.transpose() * (a + Vector3::new(0.0, 0.0, STANDARD_GRAVITY));
            let (ea, eg) = self.extras(t);
            let mut acc = f + ea;
            let mut gyr = w.map(deg) + eg;
            gyr = self.gyr_m * gyr + self.bias + self.bias_walk;
            acc = self.acc_m * acc;
            if self.noise > 0.0 {
                let rate_k = (self.rate / 100.0).sqrt();
                let sg = 0.22 * self.noise * rate_k;
                let sa = 0.018 * self.noise * rate_k;
                gyr += Vector3::new(ng[0], ng[1], ng[2]) * sg;
                acc += Vector3::new(na[0], na[1], na[2]) * sa;
                // 16-bit output at ±16 g and ±2000 deg/s.
                let la = 16.0 * STANDARD_GRAVITY / 32768.0;
                let lg = 2000.0 / 32768.0;
                acc = acc.map(|v| (v / la).round() * la);
                gyr = gyr.map(|v| (v / lg).round() * lg);
            }
            let fa = 16.0 * STANDARD_GRAVITY;
            acc = acc.map(|v| v.clamp(-fa, fa));
            gyr = gyr.map(|v| v.clamp(-2000.0, 2000.0));
            return Some(Sample { t, acc, gyr });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::sim::SimModel;
    use crate::Side;

    fn clean(exercise: Exercise, placement: Placement) -> SimConfig {
        let mut c = SimConfig::new(exercise, placement, Side::Right);
        c.model = SimModel::Athlete;
        c.noise = 0.0;
        c.gyro_bias_dps = 0.0;
        c.drop_rate = 0.0;
        c.gaps_per_min = 0.0;
        c.sets = 1;
        c.reps_min = 4;
        c.reps_max = 5;
        c.rest_min_s = 12.0;
        c.rest_max_s = 14.0;
        c
    }

    fn supported() -> Vec<(Exercise, Placement)> {
        let mut out = Vec::new();
        for &e in Exercise::ALL {
            for &p in Placement::ALL {
                let c = SimConfig::new(e, p, Side::Left);
                if c.validate().is_ok() {
                    out.push((e, p));
                }
            }
        }
        out
    }

    #[test]
    fn every_exercise_and_placement_builds_with_the_asked_sets_and_reps() {
        let list = supported();
        assert!(!list.is_empty());
        for (e, p) in list {
            for seed in 1..4 {
                let mut c = SimConfig::new(e, p, Side::Right);
                c.model = SimModel::Athlete;
                c.seed = seed;
                c.sets = 3;
                c.reps_min = 5;
                c.reps_max = 9;
                let (_, truth) = AthleteSimulator::new(&c).unwrap();
                assert_eq!(truth.sets.len(), 3, "{e} {p}");
                let mut last_end = f64::NEG_INFINITY;
                for s in &truth.sets {
                    assert!((5..=9).contains(&s.rep_count), "{e} {p}");
                    assert_eq!(s.rep_count, s.reps.len());
                    assert!(s.start_s > last_end);
                    for r in &s.reps {
                        assert!(r.end_s > r.start_s && r.start_s >= last_end);
                        assert!(r.peak_deg.is_finite() && r.peak_deg > 0.0);
                        last_end = r.end_s;
                    }
                }
                assert!(truth.duration_s > last_end);
            }
        }
    }

    #[test]
    fn a_still_lead_in_reads_gravity_and_no_rotation() {
        for (e, p) in [
            (Exercise::StandingCableAbduction, Placement::Ankle),
            (Exercise::SideLyingAbduction, Placement::Pelvis),
        ] {
            let mut c = clean(e, p);
            c.lead_in_s = Some(2.0);
            let (sim, _) = AthleteSimulator::new(&c).unwrap();
            let lead: Vec<Sample> = sim.take_while(|s| s.t < 1.9).collect();
            assert!(lead.len() > 150);
            for s in &lead[1..] {
                assert!(
                    (s.acc.norm() - STANDARD_GRAVITY).abs() < 0.1,
                    "{}",
                    s.acc.norm()
                );
                assert!(s.gyr.norm() < 1.5, "{}", s.gyr.norm());
            }
        }
    }

    fn rotation_over(samples: &[Sample], t0: f64, t1: f64) -> (f64, f64) {
        let mut q = UnitQuaternion::identity();
        let mut peak: f64 = 0.0;
        let mut prev: Option<f64> = None;
        for s in samples.iter().filter(|s| s.t >= t0 && s.t <= t1) {
            if let Some(p) = prev {
                let dt = s.t - p;
                let w = s.gyr.map(rad) * dt;
                q *= UnitQuaternion::from_scaled_axis(w);
                peak = peak.max(deg(q.angle()));
            }
            prev = Some(s.t);
        }
        (deg(q.angle()), peak)
    }

    #[test]
    fn a_clean_ankle_rep_returns_to_neutral_and_its_peak_matches_the_gyro() {
        let mut c = clean(Exercise::StandingCableAbduction, Placement::Ankle);
        c.compensation_rate = 0.0;
        c.rate_hz = 200.0;
        let (sim, truth) = AthleteSimulator::new(&c).unwrap();
        let samples: Vec<Sample> = sim.collect();
        for r in &truth.sets[0].reps {
            let (end, peak) = rotation_over(&samples, r.start_s, r.end_s);
            assert!(end < 3.0, "rep does not return: {end}");
            assert!(
                (peak - r.peak_deg).abs() < 3.0,
                "gyro {peak} vs truth {}",
                r.peak_deg
            );
            assert!(r.peak_deg > 15.0);
        }
    }

    #[test]
    fn timestamps_rise_and_the_rate_holds() {
        for rate in [25.0, 100.0, 400.0] {
            let mut c = SimConfig::new(Exercise::SideLyingAbduction, Placement::Ankle, Side::Left);
            c.model = SimModel::Athlete;
            c.rate_hz = rate;
            c.sets = 1;
            c.reps_min = 3;
            c.reps_max = 3;
            c.drop_rate = 0.0;
            c.gaps_per_min = 0.0;
            let (sim, truth) = AthleteSimulator::new(&c).unwrap();
            let s: Vec<Sample> = sim.collect();
            assert!(s.windows(2).all(|w| w[1].t >= w[0].t));
            assert!(s.iter().all(|x| x.is_finite()));
            let span = s.last().unwrap().t - s[0].t;
            let got = (s.len() - 1) as f64 / span;
            assert!((got / rate - 1.0).abs() < 0.05, "{got} vs {rate}");
            assert!(span <= truth.duration_s + 1e-9);
        }
    }

    #[test]
    fn bad_config_is_an_error() {
        let mut c = clean(Exercise::StandingCableAbduction, Placement::Ankle);
        c.rate_hz = 1.0;
        assert!(AthleteSimulator::new(&c).is_err());
        let mut c = clean(Exercise::StandingCableAbduction, Placement::Ankle);
        c.reps_min = 9;
        c.reps_max = 3;
        assert!(AthleteSimulator::new(&c).is_err());
        let c = clean(Exercise::HipHitch, Placement::Ankle);
        assert!(AthleteSimulator::new(&c).is_err());
    }

    #[test]
    fn flags_are_only_kinds_the_placement_sees() {
        let ankle = [
            FlagKind::Momentum,
            FlagKind::PartialRange,
            FlagKind::HipFlexionDrift,
        ];
        let mut seen = 0;
        for (e, p) in supported() {
            let mut c = SimConfig::new(e, p, Side::Left);
            c.model = SimModel::Athlete;
            c.compensation_rate = 0.6;
            c.sets = 2;
            let visible = c.visible_compensations();
            let (_, truth) = AthleteSimulator::new(&c).unwrap();
            for r in truth.sets.iter().flat_map(|s| &s.reps) {
                for f in &r.flags {
                    seen += 1;
                    assert!(visible.contains(&f.kind), "{e} {p} {:?}", f.kind);
                    assert_eq!(ankle.contains(&f.kind), p == Placement::Ankle);
                    assert!(f.value_deg > 0.0, "{e} {p} {:?} {}", f.kind, f.value_deg);
                }
            }
        }
        assert!(seen > 0);
    }

    #[test]
    fn pelvis_flags_clear_the_line_they_claim() {
        let mut c = SimConfig::new(
            Exercise::StandingCableAbduction,
            Placement::Pelvis,
            Side::Right,
        );
        c.model = SimModel::Athlete;
        c.compensation_rate = 0.8;
        c.sets = 3;
        let (_, truth) = AthleteSimulator::new(&c).unwrap();
        for r in truth.sets.iter().flat_map(|s| &s.reps) {
            for f in &r.flags {
                assert!(f.value_deg > 5.0, "{:?} {}", f.kind, f.value_deg);
            }
        }
    }

    #[test]
    fn reps_within_a_set_stay_close_and_rests_keep_sets_apart() {
        let mut long_hold = false;
        for seed in 1..25 {
            let mut c = SimConfig::new(Exercise::SideLyingAbduction, Placement::Ankle, Side::Left);
            c.model = SimModel::Athlete;
            c.seed = seed;
            c.sets = 3;
            c.reps_min = 6;
            c.reps_max = 12;
            c.rest_min_s = 20.0;
            c.rest_max_s = 40.0;
            let (_, truth) = AthleteSimulator::new(&c).unwrap();
            for s in &truth.sets {
                for w in s.reps.windows(2) {
                    assert!(w[1].start_s - w[0].end_s < 9.0, "seed {seed}");
                }
                long_hold |= s.reps.iter().any(|r| r.end_s - r.start_s > 6.0);
            }
            for w in truth.sets.windows(2) {
                let rest = w[1].start_s - w[0].end_s;
                assert!(
                    (20.0..=40.0 + 1e-6).contains(&rest),
                    "seed {seed}: rest {rest}"
                );
            }
        }
        assert!(long_hold, "no held rep in 24 sessions");
    }

    #[test]
    fn an_abandoned_rep_is_a_distraction_not_a_rep() {
        let mut found = false;
        for seed in 1..40 {
            let mut c = SimConfig::new(
                Exercise::StandingCableAbduction,
                Placement::Ankle,
                Side::Right,
            );
            c.model = SimModel::Athlete;
            c.seed = seed;
            c.sets = 3;
            c.reps_min = 3;
            c.reps_max = 4;
            let (sim, truth) = AthleteSimulator::new(&c).unwrap();
            let Some(d) = truth
                .distractions
                .iter()
                .find(|d| d.contains("abandoned rep"))
            else {
                continue;
            };
            let t: f64 = d.split(' ').next().unwrap().parse().unwrap();
            for r in truth.sets.iter().flat_map(|s| &s.reps) {
                assert!(t + 1.0 < r.start_s || t > r.end_s);
            }
            // The abandoned rep moves the leg.
            let plan = sim.plan.clone();
            let seg = plan
                .segs
                .iter()
                .find(|s| matches!(s.act, Act::FalseStart { .. }))
                .unwrap();
            assert!((seg.t0 - t).abs() < 0.06);
            found = true;
            break;
        }
        assert!(found);
    }
}
