//! A fifth body model, built apart from the counter and the other four: a
//! body kept upright by a delayed balance loop, doing reps whose shapes come
//! from real recordings.
//!
//! What it is made of, and why each part is not the others' way:
//!
//! - **Rep shapes from real reps.** The side-lying reps in the UCI physical
//!   therapy recordings rise fast with their peak speed early (about a third
//!   of the way up), hold on a plateau that sags a little and trembles
//!   (0.5–1 °/s of tremor over a resting 0.4–0.5 °/s), and come down in a
//!   long, slow lowering whose speed peaks late (about four fifths of the way
//!   down), as the leg is let go near the bottom. Each phase here is a
//!   minimum-jerk move run through a quadratic time warp that puts its speed
//!   peak where the lifter's does; every lifter draws their own warps,
//!   tempo, hold and sag (some train a 2–5 s pause at the top or a slow
//!   eccentric), and fatigue slows the rise, shortens the hold and
//!   shrinks the range over a set and a session. Tremor is 8–12 Hz plus a
//!   slower 3–5 Hz unsteadiness that grows in the hold, the lowering and
//!   with fatigue.
//! - **Posture from a control loop, not from noise.** Standing, the body is
//!   an inverted pendulum over the stance foot in the frontal and sagittal
//!   planes, held by a PD controller that sees its state 80–140 ms late and
//!   is pushed by a coloured noise torque. The working leg's mass (13–17 %
//!   of the body) moves the centre of mass as it goes out, and the loop
//!   answers with a lean toward the stance side of up to about 2°, late and
//!   with its own wobble. Each lifter counter-rolls the pelvis against that
//!   lean by their own share (0.5–1.6), so for some the lean and the
//!   pelvis' own rise with the leg cancel and a clean rep barely rolls the
//!   sacrum. Lying or seated, the loop is a damped spring (no gravity term).
//! - **Compensations as strategies of that body**: a hike or a drop is the
//!   pelvis rolling with the leg on top of the loop's lean; trunk sway a
//!   whole-body rock to both sides with a turn about the vertical; momentum
//!   a fast rise with no hold, a dropped leg that swings past neutral and
//!   settles; a partial rep a short one; hip flexion drift the leg going
//!   forward with the lift; in a hip hitch a hike is a pull past level with
//!   the trunk, a drop a stance hip that lets the pelvis sink fast and deep.
//!   The share of compensated reps is the configured rate, weighted toward
//!   the end of each set (fatigue). Now and then a lifter takes a breather
//!   of a few seconds mid-set (still one set).
//! - **Between sets**, as the config allows: walking away and back with
//!   gait (steps, pelvic rotation, heel strikes), turning round, sitting
//!   down and standing up (standing exercises); rolling onto the back and
//!   shifting on the bench (side-lying); re-strapping (the sensor is
//!   handled and ends in a new orientation), fidgets, leg shakes and single
//!   swings, and settling into position just before a set. Each is listed
//!   in the truth's `distractions`. Seated lifters stay on the machine.
//! - **The sensor**, strapped any way and anywhere round the shank (or
//!   within ±15° on the sacrum), slipping a little with each rep, on soft
//!   tissue that tilts against the acceleration across it and rings at
//!   10–18 Hz after a heel strike or a flung leg; white noise scaled to the
//!   sample rate's bandwidth, gyro bias with a warm-up drift and a random
//!   walk, accelerometer bias, per-axis scale errors and misalignment,
//!   16-bit quantisation, saturation at the full scale (±2000 °/s and ±16 g
//!   for most, ±1000/500 °/s and ±8/4 g for some), a clock that
//!   drifts by tens of ppm, host time stamps with jitter, dropped samples in
//!   short bursts, 200 ms BLE gaps. `noise 0` is an ideal sensor (no noise,
//!   accelerometer bias, scale, misalignment, quantisation, finer full
//!   scale, clock drift or jitter); `gyro_bias 0` no gyro bias of any kind;
//!   `drop_rate 0` and `gaps_per_min 0` no losses.
//!
//! The body is stepped at 500 Hz; each pose is placed by a segment chain
//! (stance foot, pelvis, thigh, shank, sensor), and the sensor's specific
//! force and rate come from finite differences of that chain, interpolated
//! to the sample times. The truth is taken from the same body, run once
//! ahead: peaks are the shank's rotation from its rest before the set
//! (ankle) or the pelvis' obliquity change (pelvis), and a hip hike or
//! pelvic drop is flagged where the obliquity really passes ±5° for 150 ms.
//!
//! Built from the exercise notes and the real recordings alone, without
//! reading the counter, its tuning or the other body models: a hold-out
//! corpus, never to be tuned on. One seeded ChaCha8 stream: the same seed
//! gives the same samples, byte for byte.

use super::{gauss, round3};
use crate::motion::FlagKind;
use crate::sample::STANDARD_GRAVITY;
use crate::source::sim::{SimConfig, Truth, TruthFlag, TruthRep, TruthSet};
use crate::{Exercise, Placement, Sample};
use nalgebra::{Unit, UnitQuaternion, Vector3};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::VecDeque;
use std::f64::consts::PI;

/// The body's step, s (500 Hz).
const DT: f64 = 0.002;
/// Keeps this model's random stream apart from the other models' for the same seed.
const SEED_SALT: u64 = 0xba1a_2ce5_0f1f_7e55;
/// Obliquity past which a rep is a hike or a drop (DOMAIN: ±5°, held 150 ms).
const OBLIQUITY_FLAG_DEG: f64 = 5.0;
/// How long the obliquity must stay past it, s.
const OBLIQUITY_HOLD_S: f64 = 0.15;
/// Gyro full scales a sensor may be set to, °/s (the widest is the
/// vendors' default; the 16-bit step follows the scale).
const GYRO_FULL_DPS: [f64; 3] = [2000.0, 1000.0, 500.0];
/// Accelerometer full scales, g.
const ACC_FULL_G: [f64; 3] = [16.0, 8.0, 4.0];

/// The minimum-jerk path from 0 to 1 over `u` in 0..1.
fn mj(u: f64) -> f64 {
    let u = u.clamp(0.0, 1.0);
    u * u * u * (10.0 - 15.0 * u + 6.0 * u * u)
}

/// Derivative of [`mj`] with respect to `u`.
fn mj_rate(u: f64) -> f64 {
    if !(0.0..=1.0).contains(&u) {
        return 0.0;
    }
    30.0 * u * u * (1.0 - u) * (1.0 - u)
}

/// A monotone time warp: `c > 0` moves a phase's speed peak early, `c < 0` late.
fn warp(u: f64, c: f64) -> f64 {
    let u = u.clamp(0.0, 1.0);
    u + c * u * (1.0 - u)
}

/// 0 → 1 → 0 over `u` in 0..1, smooth at both ends.
fn bell(u: f64) -> f64 {
    if !(0.0..=1.0).contains(&u) {
        return 0.0;
    }
    let s = (PI * u).sin();
    s * s
}

fn rx(deg: f64) -> UnitQuaternion<f64> {
    UnitQuaternion::from_axis_angle(&Vector3::x_axis(), deg.to_radians())
}

fn ry(deg: f64) -> UnitQuaternion<f64> {
    UnitQuaternion::from_axis_angle(&Vector3::y_axis(), deg.to_radians())
}

fn rz(deg: f64) -> UnitQuaternion<f64> {
    UnitQuaternion::from_axis_angle(&Vector3::z_axis(), deg.to_radians())
}

fn random_axis(rng: &mut ChaCha8Rng) -> Unit<Vector3<f64>> {
    loop {
        let v = Vector3::new(gauss(rng), gauss(rng), gauss(rng));
        if v.norm() > 1e-6 {
            return Unit::new_normalize(v);
        }
    }
}

/// How the lifter is placed for the exercise.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Posture {
    /// On one leg (standing cable abduction, hip hitch): the balance loop holds them up.
    Standing,
    /// On the side, the working leg on top.
    SideLying,
    /// On the machine's seat, hips and knees at 90°.
    Seated,
}

/// One lifter: build, balance, tempo and habits, drawn per session.
#[derive(Debug, Clone)]
struct Lifter {
    thigh_m: f64,
    shank_m: f64,
    hip_half_m: f64,
    com_height_m: f64,
    leg_share: f64,
    /// Where the sensor sits on the shank, as a share of its length from the knee.
    sensor_at: f64,
    /// Balance loop: proportional and derivative gains (1/s², 1/s), delay (s), noise torque.
    kp: f64,
    kd: f64,
    delay_s: f64,
    sway_noise: f64,
    /// Share of the body's lean the pelvis rolls back against (0.3–1.6).
    counter_roll: f64,
    /// Obliquity a clean rep adds at the top, °.
    obliquity_coupling: f64,
    /// Pelvis turn at the top of a clean rep, °.
    yaw_coupling: f64,
    /// Habitual hip flexion at the top of a clean rep, °.
    flexion_habit: f64,
    /// Working range, ° (hip hitch: the drop).
    range_deg: f64,
    /// Rise, hold, lower (s) when fresh.
    rise_s: f64,
    hold_s: f64,
    lower_s: f64,
    /// Pause between reps, s.
    gap_s: f64,
    /// Where the speed peaks: rise warp (early) and lower warp (late).
    rise_warp: f64,
    lower_warp: f64,
    /// Share of the range lost over the hold.
    sag: f64,
    /// Tremor scale (1 = typical).
    tremor: f64,
    /// How fast they tire (0 = never).
    fatigue: f64,
    /// Seated: share of the knee's sideways travel the foot does not follow.
    foot_fixed: f64,
    /// Slight knee bend kept while standing, °.
    knee_bend: f64,
    /// Where round the shank the sensor sits (rad from the outside, toward
    /// the front) and how far from the bone's axis (m).
    strap_angle: f64,
    strap_radius_m: f64,
    /// Soft tissue under the sensor: natural frequency (Hz), damping ratio,
    /// tilt per m/s² of acceleration across it (°).
    tissue_hz: f64,
    tissue_damping: f64,
    tissue_gain: f64,
}

impl Lifter {
    fn draw(rng: &mut ChaCha8Rng, exercise: Exercise) -> Lifter {
        let height = rng.gen_range(1.55..1.95);
        let (range_deg, rise_s, hold_s, lower_s) = match exercise {
            Exercise::SideLyingAbduction => (
                rng.gen_range(15.0..45.0),
                rng.gen_range(0.7..1.4),
                rng.gen_range(0.1..2.2),
                rng.gen_range(1.0..3.5),
            ),
            Exercise::SeatedMachineAbduction => (
                rng.gen_range(20.0..40.0),
                rng.gen_range(0.6..1.3),
                rng.gen_range(0.0..0.8),
                rng.gen_range(0.8..2.2),
            ),
            Exercise::HipHitch => (
                rng.gen_range(5.5..11.5),
                rng.gen_range(0.7..1.5),
                rng.gen_range(0.0..0.5),
                rng.gen_range(0.6..1.3),
            ),
            _ => (
                rng.gen_range(25.0..45.0),
                rng.gen_range(0.7..1.4),
                rng.gen_range(0.0..1.0),
                rng.gen_range(0.9..2.5),
            ),
        };
        // Some train a pause at the top or a slow eccentric (DOMAIN's
        // progression when the load step is too big).
        let hold_s = if exercise != Exercise::HipHitch && rng.gen_bool(0.15) {
            rng.gen_range(2.0..5.0)
        } else {
            hold_s
        };
        let lower_s = if rng.gen_bool(0.15) {
            lower_s * rng.gen_range(1.4..1.8)
        } else {
            lower_s
        };
        let g_over_h = STANDARD_GRAVITY / (0.55 * height);
        Lifter {
            thigh_m: 0.245 * height,
            shank_m: 0.285 * height,
            hip_half_m: rng.gen_range(0.08..0.12),
            com_height_m: 0.55 * height,
            leg_share: rng.gen_range(0.13..0.17),
            sensor_at: rng.gen_range(0.7..0.92),
            kp: g_over_h * rng.gen_range(1.6..2.0),
            kd: g_over_h * rng.gen_range(0.45..0.55),
            delay_s: rng.gen_range(0.08..0.14),
            sway_noise: rng.gen_range(0.1..0.2),
            counter_roll: rng.gen_range(0.5..1.6),
            obliquity_coupling: rng.gen_range(0.5..2.0),
            yaw_coupling: rng.gen_range(1.0..4.0) * if rng.gen_bool(0.5) { 1.0 } else { -1.0 },
            flexion_habit: rng.gen_range(-3.0..4.0),
            range_deg,
            rise_s,
            hold_s,
            lower_s,
            gap_s: rng.gen_range(0.1..1.4),
            rise_warp: rng.gen_range(0.3..0.9),
            lower_warp: -rng.gen_range(0.3..0.95),
            sag: rng.gen_range(0.0..0.08),
            tremor: rng.gen_range(0.6..2.0),
            fatigue: rng.gen_range(0.0..1.0),
            foot_fixed: rng.gen_range(0.2..0.8),
            knee_bend: rng.gen_range(0.0..6.0),
            strap_angle: rng.gen_range(-PI..PI),
            strap_radius_m: rng.gen_range(0.035..0.055),
            tissue_hz: rng.gen_range(10.0..18.0),
            tissue_damping: rng.gen_range(0.25..0.5),
            tissue_gain: rng.gen_range(0.008..0.02),
        }
    }
}

/// One rep as the lifter means it.
#[derive(Debug, Clone)]
struct Rep {
    t0: f64,
    rise: f64,
    hold: f64,
    lower: f64,
    /// Back from past neutral to neutral, s (0: none).
    settle: f64,
    /// Range, ° (leg rotation; hip hitch: the drop).
    amp: f64,
    /// How far past neutral the lowering goes, ° (momentum's swing, a hitch's hike).
    past: f64,
    rise_warp: f64,
    lower_warp: f64,
    sag: f64,
    /// Hip flexion at the top, °.
    flex: f64,
    /// Obliquity at the top, ° (free side up).
    obliquity: f64,
    /// Pelvis turn at the top, °.
    yaw: f64,
    /// Whole-body rock to both sides, ° (0: none).
    rock: f64,
    /// Strap slip over the rep, °.
    slip: f64,
    /// Tremor scale for this rep.
    tremor: f64,
    /// The compensation meant, with its size (°).
    meant: Option<(FlagKind, f64)>,
}

impl Rep {
    fn end(&self) -> f64 {
        self.t0 + self.rise + self.hold + self.lower + self.settle
    }

    /// Where the leg is, as a share of `amp` (negative past neutral).
    fn level(&self, t: f64) -> f64 {
        // The leg sags over a hold at the rate of a long one: a short hold barely sags.
        let sag = self.sag * (self.hold / 1.5).min(1.0);
        let top = 1.0 - sag;
        let bottom = -self.past / self.amp.max(1e-9);
        let mut u = t - self.t0;
        if u < 0.0 {
            return 0.0;
        }
        if u < self.rise {
            return mj(warp(u / self.rise, self.rise_warp));
        }
        u -= self.rise;
        if u < self.hold {
            return 1.0 - sag * mj(u / self.hold);
        }
        u -= self.hold;
        if u < self.lower {
            return top + (bottom - top) * mj(warp(u / self.lower, self.lower_warp));
        }
        u -= self.lower;
        if u < self.settle {
            return bottom * (1.0 - mj(u / self.settle));
        }
        0.0
    }
}

/// Something the lifter does.
#[derive(Debug, Clone)]
enum Act {
    Rep(Box<Rep>),
    /// Walking straight, at `speed` m/s with `stride_hz` strides.
    Walk {
        t0: f64,
        t1: f64,
        speed: f64,
        stride_hz: f64,
    },
    /// Turning on the spot by `deg`.
    Turn {
        t0: f64,
        t1: f64,
        deg: f64,
    },
    /// Sitting down at `t0`, standing up to be stood again at `t1`.
    Sit {
        t0: f64,
        t1: f64,
    },
    /// A shuffle of the foot and a weight shift.
    Fidget {
        t0: f64,
        t1: f64,
        amp: f64,
    },
    /// Shaking the leg loose.
    Shake {
        t0: f64,
        t1: f64,
        amp: f64,
        hz: f64,
    },
    /// One swing of the leg out and back: not a rep.
    Swing {
        t0: f64,
        t1: f64,
        amp: f64,
    },
    /// Re-strapping: the sensor is handled and ends at `to` on the limb.
    Restrap {
        t0: f64,
        t1: f64,
        to: UnitQuaternion<f64>,
        wobble_deg: f64,
    },
    /// Side-lying: shifting on the bench by `by` (m, body frame).
    Shift {
        t0: f64,
        t1: f64,
        by: Vector3<f64>,
    },
    /// Side-lying: rolling `deg` toward the back and back onto the side.
    Roll {
        t0: f64,
        t1: f64,
        deg: f64,
    },
}

impl Act {
    fn span(&self) -> (f64, f64) {
        match self {
            Act::Rep(r) => (r.t0, r.end()),
            Act::Walk { t0, t1, .. }
            | Act::Turn { t0, t1, .. }
            | Act::Sit { t0, t1 }
            | Act::Fidget { t0, t1, .. }
            | Act::Shake { t0, t1, .. }
            | Act::Swing { t0, t1, .. }
            | Act::Restrap { t0, t1, .. }
            | Act::Shift { t0, t1, .. }
            | Act::Roll { t0, t1, .. } => (*t0, *t1),
        }
    }
}

/// What the lifter means to do at one instant (angles °, lengths m).
#[derive(Debug, Clone, Default)]
struct Intent {
    abduction: f64,
    flexion: f64,
    knee: f64,
    obliquity: f64,
    pelvis_yaw: f64,
    pelvis_tilt: f64,
    rock: f64,
    heading_rate: f64,
    speed: f64,
    bob: f64,
    side_shift: f64,
    sit: f64,
    roll: f64,
    impact: f64,
    shift: Vector3<f64>,
    /// Re-strapping: how far to the new mounting (0..1) and the handling wobble.
    restrap: Option<(f64, UnitQuaternion<f64>)>,
    effort: f64,
}

/// One step of the body: where the sensor is and what the truth needs.
#[derive(Debug, Clone)]
struct Pose {
    t: f64,
    pos: Vector3<f64>,
    rot: UnitQuaternion<f64>,
    /// Obliquity, ° (free side up), in the body's own frame.
    obliquity: f64,
}

/// The body, stepped forward in time.
#[derive(Debug, Clone)]
struct Body {
    posture: Posture,
    placement: Placement,
    exercise: Exercise,
    /// Sign of the free side (+1 right), whose leg moves.
    fs: f64,
    lifter: Lifter,
    acts: Vec<Act>,
    cursor: usize,
    entered: Option<usize>,
    /// First rep's start and last rep's end of each set, and the set now or next.
    set_spans: Vec<(f64, f64)>,
    set_cursor: usize,
    step: u64,
    // The balance loop (radians): frontal (+: top toward +X) and sagittal (+: forward).
    phi: f64,
    phi_v: f64,
    theta: f64,
    theta_v: f64,
    history: VecDeque<[f64; 4]>,
    torque_f: f64,
    torque_s: f64,
    heading: f64,
    anchor: Vector3<f64>,
    shift: Vector3<f64>,
    mount: UnitQuaternion<f64>,
    restrap_from: UnitQuaternion<f64>,
    slip_deg: f64,
    slip_axis: Unit<Vector3<f64>>,
    tremor_phase: [f64; 3],
    tremor_hz: [f64; 3],
    /// The sensor's last two places (m) and its tissue's tilt (°) and rate (°/s).
    tissue_at: [Vector3<f64>; 2],
    tissue: [f64; 2],
    tissue_v: [f64; 2],
    rng: ChaCha8Rng,
}

impl Body {
    fn intent(&self, t: f64) -> Intent {
        let mut i = Intent {
            knee: if self.posture == Posture::Seated {
                90.0
            } else {
                self.lifter.knee_bend
            },
            flexion: if self.posture == Posture::Seated {
                90.0
            } else {
                0.0
            },
            effort: if self.posture == Posture::Standing {
                0.1
            } else {
                0.03
            },
            ..Intent::default()
        };
        let Some(act) = self.acts.get(self.cursor) else {
            return i;
        };
        let (t0, t1) = act.span();
        if t < t0 || t >= t1 {
            return i;
        }
        let u = (t - t0) / (t1 - t0);
        let hitch = self.exercise == Exercise::HipHitch;
        match act {
            Act::Rep(r) => {
                let s = r.level(t);
                // Tremor grows from the rest's into the rep's, most in the
                // hold and the lowering, and back: never a step.
                let ramp = mj((t - r.t0) / 0.3).min(mj((r.end() - t) / 0.3));
                let rep_effort = r.tremor * (1.0 + 0.6 * mj((t - r.t0) / r.rise - 0.5));
                i.effort += ramp * (rep_effort - i.effort);
                if hitch {
                    i.obliquity = -r.amp * s;
                } else {
                    i.abduction = r.amp * s;
                    i.obliquity = r.obliquity * s;
                    i.flexion += r.flex * s.max(0.0);
                }
                i.pelvis_yaw = r.yaw * s;
                if r.rock > 0.0 {
                    // Out to one side and over to the other, starting and
                    // ending still (the product peaks at ±0.77).
                    let w = (2.0 * PI * u).sin() * (PI * u).sin() / 0.77;
                    i.rock = r.rock * w;
                    i.pelvis_yaw += 0.3 * r.rock * w;
                    i.side_shift = 0.012 * r.rock * w;
                }
            }
            Act::Walk {
                speed, stride_hz, ..
            } => {
                let ramp = mj(((t - t0) / 0.8).min((t1 - t) / 0.8).min(1.0));
                let g = 2.0 * PI * stride_hz * (t - t0);
                i.speed = speed * ramp;
                i.flexion = ramp * (5.0 + 22.0 * g.sin());
                i.knee += ramp * 30.0 * (1.0 + (g + 1.3).sin());
                i.obliquity = ramp * 4.0 * (g + 0.5).sin();
                i.pelvis_yaw = ramp * 5.0 * g.sin();
                i.side_shift = ramp * 0.03 * g.cos();
                i.bob = ramp * 0.02 * (2.0 * g).cos();
                let since = ((t - t0) * stride_hz).fract() / stride_hz;
                i.impact = -0.002 * ramp * bell(since / 0.04);
            }
            Act::Turn { deg, .. } => {
                i.heading_rate = deg * mj_rate(u) / (t1 - t0);
                i.bob = 0.01 * (2.0 * PI * 2.0 * (t - t0)).sin() * bell(u);
                i.pelvis_yaw = 4.0 * bell(u) * deg.signum();
                // Small steps round: the leg lifts twice a second.
                i.flexion = 8.0 * bell(((t - t0) * 2.0).fract()) * bell(u);
            }
            Act::Sit { .. } => {
                let down = mj((t - t0) / 1.2);
                let up = mj((t1 - t) / 1.5);
                let sit = down.min(up);
                i.sit = sit;
                i.flexion = 85.0 * sit;
                i.knee = i.knee * (1.0 - sit) + 88.0 * sit;
                i.pelvis_tilt = -15.0 * sit;
            }
            Act::Fidget { amp, .. } => {
                let b = bell(u);
                match self.posture {
                    Posture::Seated => {
                        i.abduction = 0.5 * amp * b;
                        i.knee += 10.0 * b;
                    }
                    _ => {
                        i.abduction = amp * b;
                        i.flexion += 0.5 * amp * (2.0 * PI * u).sin() * b;
                        i.knee += 2.0 * amp * b;
                        i.side_shift = 0.03 * b;
                        i.obliquity = 0.3 * amp * b;
                    }
                }
            }
            Act::Shake { amp, hz, .. } => {
                let env = bell(u);
                let w = 2.0 * PI * hz * (t - t0);
                i.abduction = amp * env * w.sin();
                i.flexion += 0.7 * amp * env * (w + 0.8).sin();
                i.knee += amp * env * (1.0 + (2.0 * w).sin());
                i.side_shift = 0.005 * env * w.sin();
            }
            Act::Swing { amp, .. } => {
                let b = bell(u);
                i.abduction = amp * b;
                i.obliquity = 0.5 * self.lifter.obliquity_coupling * b;
                i.flexion += 6.0 * b;
                i.effort += b * (1.0 - i.effort);
            }
            Act::Restrap { wobble_deg, .. } => {
                let handle = bell(u);
                let w = 2.0 * PI * (t - t0);
                // Hands turning the sensor over: under a couple of hundred °/s.
                let jiggle = rx(wobble_deg * handle * (0.9 * w).sin())
                    * ry(wobble_deg * handle * (0.7 * w + 1.0).sin())
                    * rz(wobble_deg * handle * (1.3 * w + 2.0).sin());
                i.restrap = Some((mj((u - 0.2) / 0.6), jiggle));
                if self.posture == Posture::Standing {
                    i.flexion += 25.0 * handle;
                    i.knee += 50.0 * handle;
                    i.pelvis_tilt = 25.0 * handle;
                } else {
                    i.knee += 20.0 * handle;
                    i.pelvis_tilt = 10.0 * handle;
                }
            }
            Act::Shift { by, .. } => {
                i.shift = by * mj(u);
                i.rock = 5.0 * (2.0 * PI * u).sin() * bell(u);
                i.knee += 25.0 * bell(u);
                i.flexion += 15.0 * bell(u);
            }
            Act::Roll { deg, .. } => {
                let up = mj((t - t0) / 1.2).min(mj((t1 - t) / 1.2));
                i.roll = deg * up;
                i.flexion += 20.0 * up;
                i.knee += 30.0 * up;
            }
        }
        i
    }

    /// Moves the body one step and returns where the sensor is.
    fn next_pose(&mut self) -> Pose {
        let t = self.step as f64 * DT;
        self.step += 1;
        while self.cursor < self.acts.len() && self.acts[self.cursor].span().1 <= t {
            match &self.acts[self.cursor] {
                Act::Rep(r) => self.slip_deg += r.slip,
                Act::Restrap { to, .. } => {
                    self.mount = *to;
                    self.slip_deg = 0.0;
                }
                Act::Shift { by, .. } => self.shift += by,
                _ => {}
            }
            self.cursor += 1;
        }
        if self.cursor < self.acts.len()
            && self.acts[self.cursor].span().0 <= t
            && self.entered != Some(self.cursor)
        {
            self.entered = Some(self.cursor);
            if let Act::Restrap { .. } = self.acts[self.cursor] {
                self.restrap_from = self.mounting();
            }
        }
        let mut i = self.intent(t);
        let l = &self.lifter;

        // Tremor: 8–12 Hz physiological plus a slower 3–5 Hz unsteadiness.
        let amps = [0.05, 0.004, 0.003];
        let tremor: f64 = amps
            .iter()
            .zip(self.tremor_hz.iter().zip(&self.tremor_phase))
            .map(|(a, (hz, phase))| a * (2.0 * PI * hz * t + phase).sin())
            .sum::<f64>()
            * i.effort
            * l.tremor;
        if self.exercise == Exercise::HipHitch {
            i.obliquity += 0.5 * tremor;
        } else {
            i.abduction += tremor;
            i.obliquity += 0.1 * tremor;
        }

        // The balance loop.
        let h = l.com_height_m;
        let leg_com = 0.4 * (l.thigh_m + l.shank_m);
        let d_frontal = if self.exercise == Exercise::HipHitch {
            0.0
        } else {
            self.fs * l.leg_share * leg_com * i.abduction.to_radians().sin()
        };
        let d_sagittal = l.leg_share * leg_com * i.flexion.to_radians().sin() * (1.0 - i.sit);
        let e_f = self.phi + d_frontal / h;
        let e_s = self.theta + d_sagittal / h;
        let now = [e_f, self.phi_v, e_s, self.theta_v];
        self.history.push_back(now);
        let lag = (l.delay_s / DT).round() as usize;
        while self.history.len() > lag + 1 {
            self.history.pop_front();
        }
        let seen = self.history[0];
        let tau = 0.4;
        // On one leg through a set (the foot stays up between reps), on
        // two, and steadier, between sets.
        while self.set_cursor < self.set_spans.len() && self.set_spans[self.set_cursor].1 < t {
            self.set_cursor += 1;
        }
        let in_set = self
            .set_spans
            .get(self.set_cursor)
            .is_some_and(|(a, _)| *a <= t);
        let quiet = if in_set { 1.0 } else { 0.35 };
        let kick = l.sway_noise * quiet * (2.0 * DT / tau).sqrt();
        self.torque_f += -self.torque_f * DT / tau + kick * gauss(&mut self.rng);
        self.torque_s += -self.torque_s * DT / tau + 0.7 * kick * gauss(&mut self.rng);
        let (acc_f, acc_s) = match self.posture {
            Posture::Standing => {
                let g = STANDARD_GRAVITY / h;
                let standing = 1.0 - i.sit;
                let spring = |x: f64, v: f64| {
                    -(2.0 * PI * 1.2f64).powi(2) * x - 2.0 * 0.7 * 2.0 * PI * 1.2 * v
                };
                (
                    standing * (g * e_f - l.kp * seen[0] - l.kd * seen[1])
                        + i.sit * spring(self.phi, self.phi_v)
                        + self.torque_f,
                    standing * (g * e_s - l.kp * seen[2] - l.kd * seen[3])
                        + i.sit * spring(self.theta, self.theta_v)
                        + self.torque_s,
                )
            }
            Posture::SideLying | Posture::Seated => {
                let w = 2.0 * PI * 0.9;
                (
                    -w * w * self.phi - 2.0 * 0.6 * w * self.phi_v + 0.6 * self.torque_f,
                    -w * w * self.theta - 2.0 * 0.6 * w * self.theta_v + 0.6 * self.torque_s,
                )
            }
        };
        self.phi_v += acc_f * DT;
        self.phi += self.phi_v * DT;
        self.theta_v += acc_s * DT;
        self.theta += self.theta_v * DT;
        self.heading += i.heading_rate * DT;
        let forward = rz(self.heading) * Vector3::new(0.0, i.speed, 0.0);
        self.anchor += forward * DT;

        let mut pose = self.place(&i);
        self.wobble(&mut pose);
        pose
    }

    /// Soft tissue (or the belt clip) under the sensor: it tilts against the
    /// acceleration across it and rings at its own frequency, after a heel
    /// strike or a flung leg.
    fn wobble(&mut self, pose: &mut Pose) {
        let [p0, p1] = self.tissue_at;
        self.tissue_at = [p1, pose.pos];
        if self.step < 3 {
            return;
        }
        let a = pose.rot.inverse() * ((pose.pos - 2.0 * p1 + p0) / (DT * DT));
        let l = &self.lifter;
        let w = 2.0 * PI * l.tissue_hz;
        let gain = match self.placement {
            Placement::Ankle => l.tissue_gain,
            Placement::Pelvis => 0.4 * l.tissue_gain,
        } * w
            * w;
        let drive = [a.y, -a.x];
        for ((tilt, rate), push) in self.tissue.iter_mut().zip(&mut self.tissue_v).zip(drive) {
            let acc = -w * w * *tilt - 2.0 * l.tissue_damping * w * *rate + gain * push;
            *rate += acc * DT;
            *tilt += *rate * DT;
        }
        pose.rot = pose.rot * rx(self.tissue[0]) * ry(self.tissue[1]);
    }

    /// The sensor's mounting on its segment now (strap slip included).
    fn mounting(&self) -> UnitQuaternion<f64> {
        UnitQuaternion::from_axis_angle(&self.slip_axis, self.slip_deg.to_radians()) * self.mount
    }

    /// The segment chain: where the sensor is for this intent and balance state.
    fn place(&self, i: &Intent) -> Pose {
        let l = &self.lifter;
        let fs = self.fs;
        let lean = self.phi.to_degrees();
        let pitch = self.theta.to_degrees();
        let (pelvis, r_pelvis, posture) = match self.posture {
            Posture::Standing => {
                let r_lean = ry(lean + i.rock) * rx(-pitch);
                let r_pelvis = r_lean
                    * rz(i.pelvis_yaw)
                    * ry(-fs * i.obliquity - l.counter_roll * lean)
                    * rx(i.pelvis_tilt);
                let stance_hip = r_lean * Vector3::new(0.0, 0.0, l.thigh_m + l.shank_m);
                let centre = stance_hip - r_pelvis * Vector3::new(-fs * l.hip_half_m, 0.0, 0.0)
                    + Vector3::new(fs * i.side_shift, -0.12 * i.sit, i.bob - 0.45 * i.sit);
                (centre, r_pelvis, UnitQuaternion::identity())
            }
            Posture::SideLying => {
                // Rocking in the body's frontal plane is up and down in the room.
                let r_pelvis = rz(lean + i.pelvis_yaw)
                    * ry(i.rock - fs * i.obliquity)
                    * rx(-pitch + i.pelvis_tilt);
                let centre = self.shift + i.shift + Vector3::new(fs * i.side_shift, 0.0, 0.0);
                (centre, r_pelvis, ry(-fs * 90.0) * rz(-fs * i.roll))
            }
            Posture::Seated => {
                let r_pelvis =
                    ry(0.3 * lean + i.rock) * rx(-pitch + i.pelvis_tilt) * rz(i.pelvis_yaw);
                (Vector3::zeros(), r_pelvis, UnitQuaternion::identity())
            }
        };
        let r_world = rz(self.heading) * posture;
        let obliquity = fs * (r_pelvis * Vector3::x()).z.asin().to_degrees();
        let (pos, rot) = match self.placement {
            Placement::Pelvis => {
                let pos = pelvis + r_pelvis * Vector3::new(0.0, -0.11, 0.03);
                (pos, r_pelvis * self.sensor_mount(i))
            }
            Placement::Ankle => {
                let hip = pelvis + r_pelvis * Vector3::new(fs * l.hip_half_m, 0.0, 0.0);
                let (r_leg, tilt) = if self.posture == Posture::Seated {
                    let knee_out = l.thigh_m * i.abduction.to_radians().sin();
                    let tilt = (l.foot_fixed * knee_out / l.shank_m).atan().to_degrees();
                    (r_pelvis * rz(-fs * i.abduction) * rx(i.flexion), tilt)
                } else {
                    (r_pelvis * ry(-fs * i.abduction) * rx(i.flexion), 0.0)
                };
                let knee = hip + r_leg * Vector3::new(0.0, 0.0, -l.thigh_m);
                let r_shank = r_leg * rx(-i.knee) * ry(fs * tilt);
                let pos = knee
                    + r_shank
                        * Vector3::new(
                            fs * l.strap_radius_m * l.strap_angle.cos(),
                            l.strap_radius_m * l.strap_angle.sin(),
                            -l.sensor_at * l.shank_m,
                        )
                    + r_world.inverse() * Vector3::new(0.0, 0.0, i.impact);
                (pos, r_shank * self.sensor_mount(i))
            }
        };
        Pose {
            t: (self.step - 1) as f64 * DT,
            pos: self.anchor + r_world * pos,
            rot: r_world * rot,
            obliquity,
        }
    }

    fn sensor_mount(&self, i: &Intent) -> UnitQuaternion<f64> {
        match &i.restrap {
            Some((share, jiggle)) => {
                let to = match &self.acts[self.cursor] {
                    Act::Restrap { to, .. } => *to,
                    _ => self.mount,
                };
                jiggle * self.restrap_from.slerp(&to, *share)
            }
            None => self.mounting(),
        }
    }
}

/// A set as planned: its reps in order.
struct PlannedSet {
    reps: Vec<Rep>,
}

/// The sensor's own errors, drawn per session.
#[derive(Debug, Clone)]
struct SensorErrors {
    gyro_bias: Vector3<f64>,
    gyro_warmup: Vector3<f64>,
    bias_walk: Vector3<f64>,
    walk_sd: f64,
    acc_bias: Vector3<f64>,
    gyro_scale: Vector3<f64>,
    acc_scale: Vector3<f64>,
    misalign: UnitQuaternion<f64>,
    gyro_sd: f64,
    acc_sd: f64,
    quantise: bool,
    gyro_full: f64,
    acc_full: f64,
    drift: f64,
    jitter_s: f64,
}

impl SensorErrors {
    fn draw(rng: &mut ChaCha8Rng, cfg: &SimConfig) -> SensorErrors {
        let uniform3 = |rng: &mut ChaCha8Rng, a: f64| {
            Vector3::new(
                rng.gen_range(-1.0..=1.0),
                rng.gen_range(-1.0..=1.0),
                rng.gen_range(-1.0..=1.0),
            ) * a
        };
        let n = cfg.noise;
        let b = cfg.gyro_bias_dps;
        // Noise densities of a consumer MEMS IMU: 0.03 °/s/√Hz, 2.5 mm/s²/√Hz,
        // over the bandwidth of the output rate.
        let band = (cfg.rate_hz / 2.0).sqrt();
        SensorErrors {
            gyro_bias: uniform3(rng, b),
            gyro_warmup: uniform3(rng, 0.3 * b),
            bias_walk: Vector3::zeros(),
            walk_sd: if b > 0.0 { 0.004 * n } else { 0.0 },
            acc_bias: uniform3(rng, 0.06 * n),
            gyro_scale: uniform3(rng, 0.01 * n),
            acc_scale: uniform3(rng, 0.015 * n),
            misalign: UnitQuaternion::from_axis_angle(
                &random_axis(rng),
                (0.5 * n * rng.gen_range(0.0..1.0f64)).to_radians(),
            ),
            gyro_sd: 0.03 * band * n,
            acc_sd: 0.0025 * band * n,
            quantise: n > 0.0,
            // Most are left at the widest range; some were set finer (and clip).
            gyro_full: if n > 0.0 {
                GYRO_FULL_DPS[[0, 0, 0, 1, 2][rng.gen_range(0..5)]]
            } else {
                GYRO_FULL_DPS[0]
            },
            acc_full: STANDARD_GRAVITY
                * if n > 0.0 {
                    ACC_FULL_G[[0, 0, 0, 1, 2][rng.gen_range(0..5)]]
                } else {
                    ACC_FULL_G[0]
                },
            drift: if n > 0.0 {
                rng.gen_range(-40.0..40.0) * 1e-6
            } else {
                0.0
            },
            jitter_s: 0.0005 * n,
        }
    }
}

/// A simulated session from the balance model: an iterator of samples.
pub struct BalanceSimulator {
    body: Body,
    window: VecDeque<(u64, Pose)>,
    rng: ChaCha8Rng,
    rate: f64,
    index: u64,
    count: u64,
    gaps: Vec<f64>,
    gap_cursor: usize,
    drop_start: f64,
    burst_left: u32,
    errors: SensorErrors,
    last_t: f64,
}

impl BalanceSimulator {
    /// Plans a session from `cfg` (validated as the other models do): the
    /// sample stream and its truth.
    pub fn new(cfg: &SimConfig) -> Result<(BalanceSimulator, Truth), String> {
        cfg.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ SEED_SALT);
        let comps = cfg.visible_compensations();
        let posture = match cfg.exercise {
            Exercise::SideLyingAbduction => Posture::SideLying,
            Exercise::SeatedMachineAbduction => Posture::Seated,
            _ => Posture::Standing,
        };
        let fs = cfg.exercise.free_side(cfg.side).sign();
        let lifter = Lifter::draw(&mut rng, cfg.exercise);
        let mut acts: Vec<Act> = Vec::new();
        let mut distractions = Vec::new();
        let mut sets: Vec<PlannedSet> = Vec::new();

        let nominal = match cfg.placement {
            Placement::Pelvis => {
                UnitQuaternion::from_basis_unchecked(&[Vector3::x(), Vector3::z(), -Vector3::y()])
            }
            Placement::Ankle => UnitQuaternion::identity(),
        };
        let draw_mount = |rng: &mut ChaCha8Rng| match cfg.placement {
            Placement::Ankle if cfg.random_mounting => {
                UnitQuaternion::from_axis_angle(&random_axis(rng), rng.gen_range(0.0..PI))
            }
            Placement::Pelvis if cfg.random_mounting => {
                nominal
                    * UnitQuaternion::from_axis_angle(
                        &random_axis(rng),
                        rng.gen_range(0.0f64..15.0).to_radians(),
                    )
            }
            _ => nominal,
        };
        let mount0 = draw_mount(&mut rng);

        let drawn = rng.gen_range(0.5..3.0);
        let mut t = cfg.lead_in_s.unwrap_or(drawn);
        for set_i in 0..cfg.sets {
            if set_i > 0 {
                let rest = rng.gen_range(cfg.rest_min_s..=cfg.rest_max_s);
                plan_rest(
                    &mut rng,
                    cfg,
                    posture,
                    &lifter,
                    (t, t + rest),
                    &mut acts,
                    &mut distractions,
                    &draw_mount,
                );
                t += rest;
                // Getting into position: the stance foot shuffled, the leg
                // placed; over a second before the first rep.
                if cfg.fidgets && rng.gen_bool(0.4) {
                    let d = rng.gen_range(0.8..1.4);
                    let t0 = t - rng.gen_range(1.0..2.0) - d;
                    acts.push(Act::Fidget {
                        t0,
                        t1: t0 + d,
                        amp: rng.gen_range(8.0..20.0),
                    });
                    distractions.push(format!("settling in at {t0:.1} s"));
                }
            }
            let tired = lifter.fatigue * set_i as f64 / cfg.sets.max(1) as f64;
            let n = rng.gen_range(cfg.reps_min..=cfg.reps_max);
            let range = lifter.range_deg * rng.gen_range(0.92..1.08) * (1.0 - 0.08 * tired);
            let mut reps = Vec::with_capacity(n);
            for k in 0..n {
                let progress = (k as f64 + 0.5) / n as f64;
                let fatigue = (tired + lifter.fatigue * progress).min(1.5);
                let jitter = |rng: &mut ChaCha8Rng, sd: f64| (sd * gauss(rng)).exp();
                let mut r = Rep {
                    t0: t,
                    rise: lifter.rise_s * (1.0 + 0.25 * fatigue) * jitter(&mut rng, 0.08),
                    hold: lifter.hold_s * (1.0 - 0.3 * fatigue).max(0.2) * jitter(&mut rng, 0.25),
                    lower: lifter.lower_s * (1.0 + 0.1 * fatigue) * jitter(&mut rng, 0.1),
                    settle: 0.0,
                    amp: range * (1.0 - 0.06 * fatigue) * jitter(&mut rng, 0.04),
                    past: 0.0,
                    rise_warp: (lifter.rise_warp + 0.1 * gauss(&mut rng)).clamp(-0.95, 0.95),
                    lower_warp: (lifter.lower_warp + 0.1 * gauss(&mut rng)).clamp(-0.95, 0.95),
                    sag: lifter.sag * rng.gen_range(0.5..1.5),
                    flex: lifter.flexion_habit * rng.gen_range(0.7..1.3),
                    obliquity: lifter.obliquity_coupling * rng.gen_range(0.8..1.2),
                    yaw: lifter.yaw_coupling * rng.gen_range(0.8..1.2),
                    rock: 0.0,
                    slip: rng.gen_range(0.0..0.3),
                    tremor: 1.0 + 0.8 * fatigue,
                    meant: None,
                };
                // Weighted 0.6…1.4 over the set, averaging to the rate (1 stays 1).
                let rate = cfg.compensation_rate;
                let p = (rate + (0.8 * progress - 0.4) * rate.min(1.0 - rate)).clamp(0.0, 1.0);
                if !comps.is_empty() && rng.gen_bool(p) {
                    let allowed: Vec<FlagKind> = comps
                        .iter()
                        .copied()
                        .filter(|kind| match kind {
                            FlagKind::PartialRange => k >= 2,
                            FlagKind::HipFlexionDrift => k >= 1,
                            _ => true,
                        })
                        .collect();
                    if let Some(&kind) = allowed.choose(&mut rng) {
                        compensate(&mut rng, &mut r, kind, cfg.exercise);
                    }
                }
                t = r.end() + lifter.gap_s * jitter(&mut rng, 0.3);
                // Now and then a breather mid-set, more often when tired
                // (still one set: DOMAIN's gaps within a set are under ~10 s).
                if k + 1 < n && rng.gen_bool((0.03 + 0.06 * fatigue).min(0.2)) {
                    t += rng.gen_range(2.5..6.0);
                }
                reps.push(r);
            }
            for r in &reps {
                acts.push(Act::Rep(Box::new(r.clone())));
            }
            sets.push(PlannedSet { reps });
        }
        let duration = t + rng.gen_range(1.0..6.0);
        acts.sort_by(|a, b| a.span().0.total_cmp(&b.span().0));

        let mut tremor_hz = [rng.gen_range(3.0..5.0), rng.gen_range(8.0..10.0), 0.0];
        tremor_hz[2] = rng.gen_range(10.0..12.0);
        let tremor_phase = [
            rng.gen_range(0.0..2.0 * PI),
            rng.gen_range(0.0..2.0 * PI),
            rng.gen_range(0.0..2.0 * PI),
        ];
        let body = Body {
            posture,
            placement: cfg.placement,
            exercise: cfg.exercise,
            fs,
            lifter,
            acts,
            cursor: 0,
            entered: None,
            set_spans: sets
                .iter()
                .map(|s| (s.reps[0].t0, s.reps.last().expect("a set has reps").end()))
                .collect(),
            set_cursor: 0,
            step: 0,
            phi: 0.0,
            phi_v: 0.0,
            theta: 0.0,
            theta_v: 0.0,
            history: VecDeque::new(),
            torque_f: 0.0,
            torque_s: 0.0,
            heading: rng.gen_range(0.0..360.0),
            anchor: Vector3::zeros(),
            shift: Vector3::zeros(),
            mount: mount0,
            restrap_from: mount0,
            slip_deg: 0.0,
            slip_axis: match cfg.placement {
                // Round the shank, or about the belt.
                Placement::Ankle => Vector3::z_axis(),
                Placement::Pelvis => Vector3::x_axis(),
            },
            tremor_phase,
            tremor_hz,
            tissue_at: [Vector3::zeros(); 2],
            tissue: [0.0; 2],
            tissue_v: [0.0; 2],
            rng: ChaCha8Rng::seed_from_u64(rng.gen()),
        };

        let truth_sets = measure(body.clone(), cfg, &sets, &comps, duration);
        let truth = Truth {
            config: cfg.clone(),
            duration_s: round3(duration),
            distractions,
            sets: truth_sets,
        };

        let n_gaps = (cfg.gaps_per_min * duration / 60.0).round() as usize;
        let mut gaps: Vec<f64> = (0..n_gaps).map(|_| rng.gen_range(0.0..duration)).collect();
        gaps.sort_by(|a, b| a.total_cmp(b));
        let errors = SensorErrors::draw(&mut rng, cfg);
        let d = cfg.drop_rate;
        let sim = BalanceSimulator {
            body,
            window: VecDeque::new(),
            rng,
            rate: cfg.rate_hz,
            index: 0,
            count: (duration * cfg.rate_hz) as u64,
            gaps,
            gap_cursor: 0,
            // Drops come in bursts of 1–3 (mean 2): started with chance p at
            // each kept sample, they take 2p / (1 + p) of all samples.
            drop_start: d / (2.0 - d),
            burst_left: 0,
            errors,
            last_t: f64::NEG_INFINITY,
        };
        Ok((sim, truth))
    }

    /// Specific force and rate at grid step `k`, in the sensor's frame.
    fn kinematics(&self, k: u64) -> (Vector3<f64>, Vector3<f64>) {
        let first = self.window[0].0;
        let at = |j: u64| &self.window[(j - first) as usize].1;
        let (p0, p1, p2) = (at(k - 1), at(k), at(k + 1));
        let acc_world =
            (p2.pos - 2.0 * p1.pos + p0.pos) / (DT * DT) + Vector3::new(0.0, 0.0, STANDARD_GRAVITY);
        let acc = p1.rot.inverse() * acc_world;
        let w = (p0.rot.inverse() * p2.rot).scaled_axis() / (2.0 * DT);
        (acc, w * (180.0 / PI))
    }

    /// The ideal sample at body time `tau`.
    fn ideal(&mut self, tau: f64) -> (Vector3<f64>, Vector3<f64>) {
        let k = ((tau / DT).floor() as u64).max(1);
        while self.window.back().is_none_or(|(j, _)| *j < k + 2) {
            let j = self.body.step;
            let pose = self.body.next_pose();
            self.window.push_back((j, pose));
        }
        while self.window.front().is_some_and(|(j, _)| *j + 1 < k) {
            self.window.pop_front();
        }
        let (a0, g0) = self.kinematics(k);
        let (a1, g1) = self.kinematics(k + 1);
        let f = (tau / DT - k as f64).clamp(0.0, 1.0);
        (a0 + (a1 - a0) * f, g0 + (g1 - g0) * f)
    }
}

/// Turns a clean rep into the compensation `kind` (sizes beyond DOMAIN's 5° lines).
fn compensate(rng: &mut ChaCha8Rng, r: &mut Rep, kind: FlagKind, exercise: Exercise) {
    let hitch = exercise == Exercise::HipHitch;
    let size = match kind {
        FlagKind::Momentum => {
            r.rise = rng.gen_range(0.25..0.4);
            r.rise_warp = rng.gen_range(0.0..0.4);
            r.hold = rng.gen_range(0.0..0.05);
            r.lower = rng.gen_range(0.3..0.5);
            r.lower_warp = -0.2;
            r.amp *= rng.gen_range(1.0..1.15);
            r.past = rng.gen_range(2.0..6.0);
            r.settle = rng.gen_range(0.25..0.45);
            r.tremor *= 0.5;
            r.slip *= 4.0;
            r.amp
        }
        FlagKind::PartialRange => {
            let cut = rng.gen_range(0.35..0.6);
            let lost = r.amp * (1.0 - cut);
            r.amp *= cut;
            r.rise *= 0.8;
            r.lower *= 0.8;
            lost
        }
        FlagKind::HipFlexionDrift => {
            r.flex = rng.gen_range(12.0..25.0);
            r.flex
        }
        FlagKind::HipHike if hitch => {
            r.past = rng.gen_range(6.5..10.0);
            r.settle = rng.gen_range(0.5..0.8);
            r.past
        }
        FlagKind::HipHike => {
            r.obliquity = rng.gen_range(6.5..14.0);
            r.obliquity
        }
        FlagKind::PelvicDrop if hitch => {
            let extra = rng.gen_range(5.5..9.0);
            r.amp += extra;
            r.rise *= 0.6;
            r.rise_warp = 0.9;
            extra
        }
        FlagKind::PelvicDrop => {
            r.obliquity = -rng.gen_range(6.5..12.0);
            -r.obliquity
        }
        FlagKind::TrunkSway => {
            r.rock = rng.gen_range(6.5..10.0);
            r.hold = r.hold.max(0.3);
            r.rock
        }
    };
    r.meant = Some((kind, size));
}

/// Plans what the lifter does between two sets, from `span.0` to `span.1`.
#[allow(clippy::too_many_arguments)]
fn plan_rest(
    rng: &mut ChaCha8Rng,
    cfg: &SimConfig,
    posture: Posture,
    lifter: &Lifter,
    span: (f64, f64),
    acts: &mut Vec<Act>,
    distractions: &mut Vec<String>,
    draw_mount: &dyn Fn(&mut ChaCha8Rng) -> UnitQuaternion<f64>,
) {
    let (start, end) = span;
    // Still for a moment after the set, and settled again before the next.
    let mut t = start + rng.gen_range(1.0..2.5);
    let limit = end - rng.gen_range(3.5..6.0);
    let mut items: Vec<&str> = Vec::new();
    if cfg.fidgets && rng.gen_bool(0.35) {
        items.push("shake");
    }
    if cfg.walking {
        match posture {
            Posture::Standing => items.push("walk"),
            Posture::SideLying if rng.gen_bool(0.6) => items.push("roll"),
            _ => {}
        }
    }
    if cfg.fidgets {
        let mut more = Vec::new();
        if rng.gen_bool(0.35) {
            more.push("restrap");
        }
        if rng.gen_bool(0.7) {
            more.push("fidget");
        }
        if rng.gen_bool(0.3) {
            more.push("swing");
        }
        if posture == Posture::SideLying && rng.gen_bool(0.5) {
            more.push("shift");
        }
        more.shuffle(rng);
        items.extend(more);
    }
    for item in items {
        t += rng.gen_range(0.5..2.0);
        match item {
            "walk" => {
                let leg = rng.gen_range(2.5..6.0);
                let turn = rng.gen_range(1.0..1.8);
                let sit = rng.gen_range(6.0..20.0);
                let sits = rng.gen_bool(0.5);
                let needed = 2.0 * (leg + turn) + if sits { sit + 2.0 } else { 1.0 };
                if t + needed > limit {
                    continue;
                }
                let speed = rng.gen_range(0.8..1.3);
                let stride_hz = rng.gen_range(0.8..1.0);
                let dir = if rng.gen_bool(0.5) { 180.0 } else { -180.0 };
                for back in [false, true] {
                    acts.push(Act::Walk {
                        t0: t,
                        t1: t + leg,
                        speed,
                        stride_hz,
                    });
                    distractions.push(format!("walk {:.1}-{:.1} s", t, t + leg));
                    t += leg;
                    acts.push(Act::Turn {
                        t0: t,
                        t1: t + turn,
                        deg: dir,
                    });
                    distractions.push(format!("turn at {t:.1} s"));
                    t += turn;
                    if !back {
                        if sits {
                            t += 1.0;
                            acts.push(Act::Sit { t0: t, t1: t + sit });
                            distractions.push(format!("sit down at {t:.1} s"));
                            distractions.push(format!("stand up at {:.1} s", t + sit - 1.5));
                            t += sit;
                        }
                        t += 1.0;
                    }
                }
            }
            "roll" => {
                let d = rng.gen_range(5.0..15.0);
                if t + d > limit {
                    continue;
                }
                let deg = rng.gen_range(50.0..90.0);
                acts.push(Act::Roll {
                    t0: t,
                    t1: t + d,
                    deg,
                });
                distractions.push(format!("roll onto the back {:.1}-{:.1} s", t, t + d));
                t += d;
            }
            "shake" => {
                let d = rng.gen_range(1.0..3.0);
                if t + d > limit {
                    continue;
                }
                acts.push(Act::Shake {
                    t0: t,
                    t1: t + d,
                    amp: rng.gen_range(2.0..6.0),
                    hz: rng.gen_range(3.0..6.0),
                });
                distractions.push(format!("leg shake at {t:.1} s"));
                t += d;
            }
            "restrap" => {
                let d = rng.gen_range(4.0..9.0);
                if t + d > limit {
                    continue;
                }
                // A new orientation on the limb (the nominal one if mounting is not random).
                let to = draw_mount(rng);
                acts.push(Act::Restrap {
                    t0: t,
                    t1: t + d,
                    to,
                    wobble_deg: rng.gen_range(5.0..20.0),
                });
                distractions.push(format!("re-strap at {t:.1} s"));
                t += d;
            }
            "fidget" => {
                let d = rng.gen_range(0.4..1.2);
                if t + d > limit {
                    continue;
                }
                acts.push(Act::Fidget {
                    t0: t,
                    t1: t + d,
                    amp: rng.gen_range(3.0..10.0),
                });
                distractions.push(format!("fidget at {t:.1} s"));
                t += d;
            }
            "swing" => {
                let d = rng.gen_range(0.6..1.1);
                if t + d > limit {
                    continue;
                }
                let amp = match posture {
                    Posture::Seated => rng.gen_range(8.0..15.0),
                    _ => lifter.range_deg * rng.gen_range(0.5..0.9),
                };
                acts.push(Act::Swing {
                    t0: t,
                    t1: t + d,
                    amp,
                });
                distractions.push(format!("single swing at {t:.1} s"));
                t += d;
            }
            "shift" => {
                let d = rng.gen_range(1.5..3.0);
                if t + d > limit {
                    continue;
                }
                let by = Vector3::new(
                    rng.gen_range(-0.03..0.03),
                    rng.gen_range(-0.08..0.08),
                    rng.gen_range(-0.12..0.12),
                );
                acts.push(Act::Shift {
                    t0: t,
                    t1: t + d,
                    by,
                });
                distractions.push(format!("shift on the bench at {t:.1} s"));
                t += d;
            }
            _ => {}
        }
    }
}

/// Runs the body once and takes the truth from it.
fn measure(
    mut body: Body,
    cfg: &SimConfig,
    sets: &[PlannedSet],
    comps: &[FlagKind],
    duration: f64,
) -> Vec<TruthSet> {
    let hitch = cfg.exercise == Exercise::HipHitch;
    let mut out = Vec::new();
    let mut pose = body.next_pose();
    for set in sets {
        let rest_t = set.reps[0].t0 - 0.05;
        while pose.t < rest_t {
            pose = body.next_pose();
        }
        let (rest_rot, rest_obl) = (pose.rot, pose.obliquity);
        let mut reps = Vec::new();
        for r in &set.reps {
            while pose.t < r.t0 {
                pose = body.next_pose();
            }
            let mut peak: f64 = 0.0;
            let (mut high, mut low) = (0.0f64, 0.0f64);
            let (mut run_up, mut run_down) = (0.0f64, 0.0f64);
            let (mut held_up, mut held_down) = (0.0f64, 0.0f64);
            let end = r.end();
            while pose.t <= end && pose.t < duration {
                let o = pose.obliquity - rest_obl;
                let v = match cfg.placement {
                    Placement::Ankle => rest_rot.angle_to(&pose.rot).to_degrees(),
                    Placement::Pelvis => o.abs(),
                };
                peak = peak.max(v);
                run_up = if o >= OBLIQUITY_FLAG_DEG {
                    run_up + DT
                } else {
                    0.0
                };
                run_down = if o <= -OBLIQUITY_FLAG_DEG {
                    run_down + DT
                } else {
                    0.0
                };
                if run_up >= OBLIQUITY_HOLD_S {
                    held_up = held_up.max(run_up);
                    high = high.max(o);
                }
                if run_down >= OBLIQUITY_HOLD_S {
                    held_down = held_down.max(run_down);
                    low = low.min(o);
                }
                pose = body.next_pose();
            }
            let mut flags = Vec::new();
            match r.meant {
                Some((FlagKind::TrunkSway, v)) => flags.push(TruthFlag {
                    kind: FlagKind::TrunkSway,
                    value_deg: v,
                }),
                Some((FlagKind::PelvicDrop, v)) if hitch => flags.push(TruthFlag {
                    kind: FlagKind::PelvicDrop,
                    value_deg: v,
                }),
                Some((
                    kind
                    @ (FlagKind::Momentum | FlagKind::PartialRange | FlagKind::HipFlexionDrift),
                    v,
                )) => flags.push(TruthFlag {
                    kind,
                    value_deg: if kind == FlagKind::Momentum { peak } else { v },
                }),
                _ => {
                    // Hike and drop as the pelvis really moved: DOMAIN's ±5° for 150 ms.
                    if held_up > 0.0 {
                        flags.push(TruthFlag {
                            kind: FlagKind::HipHike,
                            value_deg: high,
                        });
                    } else if held_down > 0.0 && !hitch {
                        flags.push(TruthFlag {
                            kind: FlagKind::PelvicDrop,
                            value_deg: -low,
                        });
                    }
                }
            }
            flags.retain(|f| comps.contains(&f.kind));
            for f in &mut flags {
                f.value_deg = (f.value_deg * 10.0).round() / 10.0;
            }
            reps.push(TruthRep {
                start_s: round3(r.t0),
                end_s: round3(end),
                peak_deg: (peak * 10.0).round() / 10.0,
                flags,
            });
        }
        out.push(TruthSet {
            start_s: reps[0].start_s,
            end_s: reps.last().expect("a set has reps").end_s,
            rep_count: reps.len(),
            reps,
        });
    }
    out
}

impl Iterator for BalanceSimulator {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        loop {
            if self.index >= self.count {
                return None;
            }
            let i = self.index;
            self.index += 1;
            let t = i as f64 / self.rate;
            if crate::source::sim::in_ble_gap(&self.gaps, &mut self.gap_cursor, t) {
                continue;
            }
            if self.burst_left > 0 {
                self.burst_left -= 1;
                continue;
            }
            if self.drop_start > 0.0 && self.rng.gen_bool(self.drop_start.min(1.0)) {
                self.burst_left = self.rng.gen_range(0..3);
                continue;
            }
            // The sensor samples on its own clock, which drifts from the body's.
            let tau = t * (1.0 + self.errors.drift);
            let (acc, gyr) = self.ideal(tau);
            let e = &mut self.errors;
            let dt = 1.0 / self.rate;
            for k in 0..3 {
                e.bias_walk[k] += e.walk_sd * dt.sqrt() * gauss(&mut self.rng);
            }
            let warm = (-t / 120.0).exp();
            let mut gyr = e.misalign * gyr;
            let mut acc = e.misalign * acc;
            for k in 0..3 {
                gyr[k] = gyr[k] * (1.0 + e.gyro_scale[k])
                    + e.gyro_bias[k]
                    + e.gyro_warmup[k] * warm
                    + e.bias_walk[k]
                    + e.gyro_sd * gauss(&mut self.rng);
                acc[k] = acc[k] * (1.0 + e.acc_scale[k])
                    + e.acc_bias[k]
                    + e.acc_sd * gauss(&mut self.rng);
                gyr[k] = gyr[k].clamp(-e.gyro_full, e.gyro_full);
                acc[k] = acc[k].clamp(-e.acc_full, e.acc_full);
                if e.quantise {
                    let g_lsb = e.gyro_full / 32768.0;
                    let a_lsb = e.acc_full / 32768.0;
                    gyr[k] = (gyr[k] / g_lsb).round() * g_lsb;
                    acc[k] = (acc[k] / a_lsb).round() * a_lsb;
                }
            }
            // Stamped by the host: jitter, but never backward.
            let stamp = (t + e.jitter_s * gauss(&mut self.rng)).max(self.last_t);
            self.last_t = stamp;
            return Some(Sample { t: stamp, acc, gyr });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Side;

    /// A short session: `sets` sets of 4–6 reps, the shortest rests, 25 Hz.
    fn short(exercise: Exercise, placement: Placement, side: Side, seed: u64) -> SimConfig {
        let mut c = SimConfig::new(exercise, placement, side);
        c.model = crate::source::sim::SimModel::Balance;
        c.sets = 2;
        c.reps_min = 4;
        c.reps_max = 6;
        c.rest_min_s = 20.0;
        c.rest_max_s = 30.0;
        c.rate_hz = 25.0;
        c.seed = seed;
        c
    }

    fn samples(c: &SimConfig) -> (Vec<Sample>, Truth) {
        let (sim, truth) = BalanceSimulator::new(c).expect("a valid config");
        (sim.collect(), truth)
    }

    #[test]
    fn every_exercise_and_placement_makes_a_consistent_truth() {
        let mut seen = 0;
        for (i, (exercise, placement)) in crate::motion::Profile::supported().enumerate() {
            for side in [Side::Left, Side::Right] {
                let mut c = short(exercise, placement, side, 40 + i as u64);
                c.compensation_rate = 0.5;
                let (s, truth) = samples(&c);
                let valid = c.visible_compensations();
                assert_eq!(truth.config, c);
                assert_eq!(truth.sets.len(), c.sets, "{exercise} {placement}");
                let mut last_end = 0.0;
                for set in &truth.sets {
                    assert_eq!(set.rep_count, set.reps.len());
                    assert!((c.reps_min..=c.reps_max).contains(&set.rep_count));
                    assert!(set.start_s > last_end, "sets overlap: {:?}", truth.sets);
                    assert_eq!(set.start_s, set.reps[0].start_s);
                    assert_eq!(set.end_s, set.reps.last().unwrap().end_s);
                    for r in &set.reps {
                        assert!(r.start_s >= last_end && r.end_s > r.start_s, "{r:?}");
                        assert!(r.end_s < truth.duration_s);
                        assert!(r.peak_deg > 0.5, "{exercise} {placement}: {r:?}");
                        for f in &r.flags {
                            assert!(valid.contains(&f.kind), "{:?} on {placement}", f.kind);
                            assert!(f.value_deg > 0.0);
                            seen += 1;
                        }
                        last_end = r.end_s;
                    }
                }
                assert!(!s.is_empty());
                assert!(s.windows(2).all(|w| w[1].t >= w[0].t));
                assert!(s.last().unwrap().t <= truth.duration_s);
                assert!(s.len() as f64 <= truth.duration_s * c.rate_hz);
                assert!(s
                    .iter()
                    .all(|s| s.acc.iter().chain(s.gyr.iter()).all(|v| v.is_finite())));
            }
        }
        // Half the reps compensated: flags were drawn for every placement.
        assert!(seen > 20, "{seen} flags");
    }

    #[test]
    fn compensations_come_at_the_configured_rate() {
        let share = |rate: f64| {
            let (mut flagged, mut reps) = (0, 0);
            for seed in 0..6 {
                let mut c = short(
                    Exercise::SideLyingAbduction,
                    Placement::Ankle,
                    Side::Left,
                    seed,
                );
                c.compensation_rate = rate;
                c.reps_min = 8;
                c.reps_max = 12;
                let (_, truth) = BalanceSimulator::new(&c).expect("valid");
                for r in truth.sets.iter().flat_map(|s| &s.reps) {
                    reps += 1;
                    flagged += usize::from(!r.flags.is_empty());
                }
            }
            flagged as f64 / reps as f64
        };
        assert_eq!(share(0.0), 0.0);
        assert_eq!(share(1.0), 1.0);
        let some = share(0.3);
        assert!((0.2..0.4).contains(&some), "{some}");
    }

    #[test]
    fn configs_the_other_models_refuse_are_refused() {
        let mut c = short(Exercise::HipHitch, Placement::Ankle, Side::Left, 1);
        assert_eq!(BalanceSimulator::new(&c).err(), c.validate().err());
        assert!(BalanceSimulator::new(&c).is_err());
        c = short(
            Exercise::SeatedMachineAbduction,
            Placement::Pelvis,
            Side::Left,
            1,
        );
        assert!(BalanceSimulator::new(&c).is_err());
        c = short(
            Exercise::SideLyingAbduction,
            Placement::Ankle,
            Side::Left,
            1,
        );
        c.rate_hz = 5.0;
        assert_eq!(BalanceSimulator::new(&c).err(), c.validate().err());
        c.rate_hz = 25.0;
        c.sets = 0;
        assert!(BalanceSimulator::new(&c).is_err());
    }

    /// Lying still for 10 s before the first rep, nothing between sets.
    fn still_start(noise: f64, bias: f64, drop: f64, gaps: f64) -> SimConfig {
        let mut c = short(
            Exercise::SideLyingAbduction,
            Placement::Ankle,
            Side::Right,
            3,
        );
        c.sets = 1;
        c.lead_in_s = Some(10.0);
        c.walking = false;
        c.fidgets = false;
        c.noise = noise;
        c.gyro_bias_dps = bias;
        c.drop_rate = drop;
        c.gaps_per_min = gaps;
        c
    }

    /// Mean and standard deviation of each gyro axis over `from..to` s.
    fn gyro_stats(s: &[Sample], from: f64, to: f64) -> (Vector3<f64>, Vector3<f64>) {
        let w: Vec<Vector3<f64>> = s
            .iter()
            .filter(|s| s.t >= from && s.t < to)
            .map(|s| s.gyr)
            .collect();
        let n = w.len() as f64;
        let mean = w.iter().sum::<Vector3<f64>>() / n;
        let var = w
            .iter()
            .map(|g| (g - mean).component_mul(&(g - mean)))
            .sum::<Vector3<f64>>()
            / n;
        (mean, var.map(f64::sqrt))
    }

    fn acc_sd(s: &[Sample], from: f64, to: f64) -> f64 {
        let w: Vec<f64> = s
            .iter()
            .filter(|s| s.t >= from && s.t < to)
            .map(|s| s.acc.norm())
            .collect();
        let mean = w.iter().sum::<f64>() / w.len() as f64;
        (w.iter().map(|a| (a - mean) * (a - mean)).sum::<f64>() / w.len() as f64).sqrt()
    }

    #[test]
    fn an_ideal_sensor_has_none_of_the_errors() {
        let c = still_start(0.0, 0.0, 0.0, 0.0);
        let (s, truth) = samples(&c);
        // No drops, no gaps, no jitter or clock drift: every tick, on time.
        assert_eq!(s.len() as u64, (truth.duration_s * c.rate_hz) as u64);
        for (i, x) in s.iter().enumerate() {
            assert_eq!(x.t, i as f64 / c.rate_hz);
        }
        // No bias: lying still, the shank turns at no more than the body's sway.
        let (mean, sd) = gyro_stats(&s, 2.0, 9.0);
        assert!(mean.amax() < 0.1, "mean {mean}");
        assert!(sd.amax() < 0.3, "sd {sd}");
        // Not on the 16-bit grid: not quantised.
        let lsb = GYRO_FULL_DPS[0] / 32768.0;
        assert!(s
            .iter()
            .any(|x| ((x.gyr.x / lsb) - (x.gyr.x / lsb).round()).abs() > 1e-3));
    }

    #[test]
    fn a_real_sensor_rests_as_noisy_as_the_real_recordings_with_bias_and_losses() {
        let clean = still_start(0.0, 0.0, 0.0, 0.0);
        let (ideal, _) = samples(&clean);
        let c = still_start(1.0, 2.0, 0.05, 6.0);
        let (sim, truth) = BalanceSimulator::new(&c).expect("valid");
        let lsb = sim.errors.gyro_full / 32768.0;
        let s: Vec<Sample> = sim.collect();
        let (ideal_mean, ideal_sd) = gyro_stats(&ideal, 2.0, 9.0);
        let (mean, sd) = gyro_stats(&s, 2.0, 9.0);
        // Real side-lying recordings (UCI physical therapy exercises, an
        // Xsens MTx on the shank at 25 Hz) rest at 0.4–0.9 °/s and
        // 0.012–0.044 m/s²; a MEMS sensor at noise 1 is somewhat quieter in
        // rate, never silent.
        assert!(
            (0..3).all(|k| sd[k] > ideal_sd[k]),
            "{sd} vs ideal {ideal_sd}"
        );
        assert!((0.1..1.0).contains(&sd.max()), "gyro sd {sd}");
        let a = acc_sd(&s, 2.0, 9.0);
        assert!((0.005..0.05).contains(&a), "acc sd {a}");
        assert!(a > acc_sd(&ideal, 2.0, 9.0));
        // Bias: up to 2 °/s per axis plus warm-up, and not nothing.
        let offset = mean - ideal_mean;
        assert!(offset.amax() > 0.05 && offset.amax() < 3.0, "{offset}");
        // Quantised to the gyro's 16-bit step.
        assert!(s.iter().all(|x| x
            .gyr
            .iter()
            .all(|g| ((g / lsb) - (g / lsb).round()).abs() < 1e-6)));
        // 5 % dropped plus the gaps; at least one 200 ms gap; jittered stamps.
        let ticks = truth.duration_s * c.rate_hz;
        let kept = s.len() as f64 / ticks;
        assert!((0.85..0.96).contains(&kept), "kept {kept}");
        assert!(s.windows(2).any(|w| w[1].t - w[0].t > 0.19));
        assert!(s
            .iter()
            .any(|x| (x.t * c.rate_hz - (x.t * c.rate_hz).round()).abs() > 1e-3));
    }

    #[test]
    fn samples_are_dropped_at_the_configured_share() {
        for drop in [0.01, 0.2, 0.5] {
            let mut c = still_start(1.0, 2.0, drop, 0.0);
            c.rate_hz = 400.0;
            let (s, truth) = samples(&c);
            let ticks = (truth.duration_s * c.rate_hz).floor();
            let lost = 1.0 - s.len() as f64 / ticks;
            assert!((lost - drop).abs() < 0.1 * drop + 0.005, "{drop}: {lost}");
        }
    }

    #[test]
    fn movement_between_sets_is_listed_and_falls_between_sets() {
        for (exercise, placement, wanted) in [
            (Exercise::StandingCableAbduction, Placement::Ankle, "walk"),
            (Exercise::HipHitch, Placement::Pelvis, "turn"),
            (Exercise::SideLyingAbduction, Placement::Pelvis, "roll"),
        ] {
            let mut c = short(exercise, placement, Side::Left, 11);
            c.sets = 4;
            c.rest_min_s = 60.0;
            c.rest_max_s = 90.0;
            let (_, truth) = samples(&c);
            assert!(
                truth.distractions.iter().any(|d| d.contains(wanted)),
                "{exercise}: {:?}",
                truth.distractions
            );
            for d in &truth.distractions {
                let at: f64 = d
                    .split(|ch: char| !(ch.is_ascii_digit() || ch == '.'))
                    .find(|w| !w.is_empty() && w.parse::<f64>().is_ok())
                    .and_then(|w| w.parse().ok())
                    .expect("a time");
                assert!(
                    truth.sets.iter().all(|s| at < s.start_s || at > s.end_s),
                    "{d} inside a set"
                );
            }
            c.walking = false;
            c.fidgets = false;
            let (_, quiet) = samples(&c);
            assert!(quiet.distractions.is_empty(), "{:?}", quiet.distractions);
        }
    }

    /// Runs `body` and returns, for the rep starting at `t0` and ending at
    /// `t1`, the highest and lowest obliquity over its set's rest (°), and
    /// the sensor's fastest turn (°/s).
    fn rep_motion(mut body: Body, rest: f64, t0: f64, t1: f64) -> (f64, f64, f64) {
        let mut pose = body.next_pose();
        while pose.t < rest {
            pose = body.next_pose();
        }
        let neutral = pose.obliquity;
        let (mut high, mut low, mut fastest) = (f64::MIN, f64::MAX, 0.0f64);
        let mut before = pose.rot;
        while pose.t < t1 {
            pose = body.next_pose();
            if pose.t >= t0 {
                high = high.max(pose.obliquity - neutral);
                low = low.min(pose.obliquity - neutral);
                fastest = fastest.max(before.angle_to(&pose.rot).to_degrees() / DT);
            }
            before = pose.rot;
        }
        (high, low, fastest)
    }

    /// The body of a session without compensations, and the same body with
    /// its fourth rep turned into `kind`.
    fn clean_and_compensated(
        exercise: Exercise,
        placement: Placement,
        kind: FlagKind,
        seed: u64,
    ) -> (Body, Body, f64, f64, f64) {
        let mut c = short(exercise, placement, Side::Right, seed);
        c.compensation_rate = 0.0;
        let (sim, truth) = BalanceSimulator::new(&c).expect("valid");
        let clean = sim.body.clone();
        let mut hiked = sim.body;
        let index = hiked
            .acts
            .iter()
            .enumerate()
            .filter(|(_, a)| matches!(a, Act::Rep(_)))
            .nth(3)
            .map(|(i, _)| i)
            .expect("four reps");
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (t0, t1) = {
            let Act::Rep(r) = &mut hiked.acts[index] else {
                unreachable!()
            };
            let clean_end = r.end();
            compensate(&mut rng, r, kind, exercise);
            (r.t0, clean_end.max(r.end()))
        };
        let rest = truth.sets[0].start_s - 0.05;
        (clean, hiked, rest, t0, t1)
    }

    #[test]
    fn a_hip_hike_raises_the_pelvis_and_a_drop_lowers_it_against_a_clean_rep() {
        for seed in 1..4 {
            let (clean, hiked, rest, t0, t1) = clean_and_compensated(
                Exercise::StandingCableAbduction,
                Placement::Pelvis,
                FlagKind::HipHike,
                seed,
            );
            let (clean_high, clean_low, _) = rep_motion(clean, rest, t0, t1);
            let (high, _, _) = rep_motion(hiked, rest, t0, t1);
            // DOMAIN: a clean rep rolls the pelvis by 0.5–3°, a hike by 5° or more.
            assert!(
                clean_high < 5.0 && clean_low > -5.0,
                "{clean_high} {clean_low}"
            );
            assert!(
                high >= 5.0 && high > clean_high + 4.0,
                "{high} vs {clean_high}"
            );

            let (clean, dropped, rest, t0, t1) = clean_and_compensated(
                Exercise::SideLyingAbduction,
                Placement::Pelvis,
                FlagKind::PelvicDrop,
                seed,
            );
            let (_, clean_low, _) = rep_motion(clean, rest, t0, t1);
            let (_, low, _) = rep_motion(dropped, rest, t0, t1);
            assert!(low <= -5.0 && low < clean_low - 4.0, "{low} vs {clean_low}");
        }
    }

    #[test]
    fn a_hitch_hike_pulls_past_level_and_momentum_swings_faster() {
        let (clean, hiked, rest, t0, t1) =
            clean_and_compensated(Exercise::HipHitch, Placement::Pelvis, FlagKind::HipHike, 2);
        let (clean_high, clean_low, _) = rep_motion(clean, rest, t0, t1);
        let (high, _, _) = rep_motion(hiked, rest, t0, t1);
        // The hitch itself drops the free side; the hike pulls it above level.
        assert!(
            clean_low < -4.0 && clean_high < 3.0,
            "{clean_low} {clean_high}"
        );
        assert!(high > 5.0, "{high}");

        let (clean, flung, rest, t0, t1) = clean_and_compensated(
            Exercise::StandingCableAbduction,
            Placement::Ankle,
            FlagKind::Momentum,
            2,
        );
        let (_, _, calm) = rep_motion(clean, rest, t0, t1);
        let (_, _, fast) = rep_motion(flung, rest, t0, t1);
        assert!(fast > 1.5 * calm, "{fast} vs {calm} °/s");
    }

    #[test]
    fn the_body_leans_toward_the_stance_side_as_the_leg_goes_out() {
        for side in [Side::Left, Side::Right] {
            let mut c = short(Exercise::StandingCableAbduction, Placement::Ankle, side, 5);
            c.compensation_rate = 0.0;
            c.reps_min = 10;
            c.reps_max = 12;
            let (sim, _) = BalanceSimulator::new(&c).expect("valid");
            let mut body = sim.body;
            // Each rep: the moment before it starts, and its top.
            let reps: Vec<(f64, f64, f64)> = body
                .acts
                .iter()
                .filter_map(|a| match a {
                    Act::Rep(r) => Some((r.t0 - 0.05, r.t0 + r.rise, r.t0 + r.rise + r.hold)),
                    _ => None,
                })
                .collect();
            let mut leans = Vec::new();
            let mut pose = body.next_pose();
            for (before, top, top_end) in reps {
                while pose.t < before {
                    pose = body.next_pose();
                }
                let rest = body.phi;
                let (mut sum, mut n) = (0.0, 0);
                while pose.t < top_end.max(top + 0.2) {
                    pose = body.next_pose();
                    if pose.t >= top {
                        sum += body.phi - rest;
                        n += 1;
                    }
                }
                leans.push((sum / n as f64).to_degrees() * side.sign());
            }
            // Toward the stance side (against the working side's sign), by
            // up to about 2°, in most reps.
            let mean = leans.iter().sum::<f64>() / leans.len() as f64;
            let toward = leans.iter().filter(|l| **l < 0.0).count();
            assert!((-3.0..-0.3).contains(&mean), "{side}: {leans:?}");
            assert!(toward * 2 > leans.len(), "{side}: {leans:?}");
        }
    }
}
