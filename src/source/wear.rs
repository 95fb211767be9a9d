//! A twelfth body model: the wearables people really use and how they sit
//! on the body.
//!
//! Built after the eleven other models without reading them or the counter;
//! the hold-out until session 15 read it, once the circuit model stood
//! ready and was scored.
//!
//! # The body
//!
//! A kinematic chain: a ground point that walks and turns (heading), a
//! pelvis held over the stance hip (height, lateral shift of the hips over
//! the stance foot, roll about its front–back axis, yaw, forward tilt, and
//! for side-lying work a blend between lying on the side and sitting up on
//! the mat), then the working leg's thigh (flexion, abduction), shank (knee
//! flexion) and foot (ankle). Every coordinate is a damped spring pulled
//! toward an *equilibrium point*, the command the nervous system sends
//! (Feldman's equilibrium-point idea): `q'' = ω²(ep − q) − 2ζω q' + n`,
//! where `n` is correlated motor noise whose size grows with the command
//! (signal-dependent noise, Harris & Wolpert). Equilibrium points move in
//! straight ramps toward via-points; the limb lags and rounds them off, so
//! speed profiles are bell-like but skewed, overshoot when the damping is
//! let go, and differ from rep to rep.
//!
//! # Reps
//!
//! A rep is a list of via-points (targets for the leg, the pelvis roll,
//! the hips' shift, the pelvis' yaw, hip flexion), each reached or timed
//! out before the next: the state of the body, not a clock, decides when
//! the top is reached, how long the hold lasts and when the leg is back.
//! Per-lifter tempo and range; holds at the top that sag and shake; slow
//! or dropped eccentrics; pauses between reps; fatigue across a set
//! shrinks the range, slows the concentric, shortens the holds, speeds the
//! lowering and makes compensations likelier late in the set. DOMAIN.md's
//! compensations are other via-point programs: a hip hike or pelvic drop
//! is a pelvis-roll target beyond ±7°, trunk sway rocks the pelvis past
//! ±7° both ways with yaw and a sideways shift of the hips, momentum
//! throws the leg at an overshooting target and lets the damping go on the
//! way down, a partial rep aims at a third to a half of the range, hip
//! flexion drift sends the leg 12–25° forward.
//!
//! # The wearables
//!
//! Ankle placement: a smartwatch-class band above the ankle bone, a
//! WitMotion-style puck on a Velcro shin strap, a foot pod on the shoe
//! laces, a phone tucked into the sock, a strap round the lower thigh.
//! Pelvis placement: a puck clipped to a belt over the sacrum, a clip on
//! the waistband of leggings, a clip on a belt off toward one hip (turned
//! about the vertical with the belt's curve), a phone in a back trouser
//! pocket. Each sits at its own place and orientation on its segment
//! (ankle: anywhere round the limb, any way up), on its own suspension (a
//! second-order translational and rotational mode driven by the segment's
//! specific force and angular acceleration, a pendulum for a hanging
//! phone), creeps round the limb and slides down it rep by rep, is dragged
//! by the trouser fabric or tilted by a bulging muscle, and is re-tightened,
//! re-strapped or taken out of the pocket between sets.
//!
//! # The sensors
//!
//! Each device has its own full-scale ranges (a ±4 g band saturates on
//! heel strikes, a ±500 °/s clip on a thrown rep), 16-bit quantisation,
//! white noise, bias that drifts as the device warms on the skin, scale
//! and cross-axis errors, a little g-sensitivity of the gyro, a clock that
//! runs a few tens of ppm off, host time stamps with jitter, dropped
//! samples and 200 ms gaps.
//!
//! # Between sets
//!
//! Walking away and back, sitting on a bench, sitting up on the mat,
//! changing the pin of the stack, re-strapping, tightening the strap,
//! taking the phone out of the pocket or sock and putting it back, leg
//! shakes and weight shifts, a single swing, the other leg's set: none of
//! them counted, each listed in the truth's distractions.
//!
//! Two passes of the same seeded body: the first writes the truth (every
//! rep's span, its peak as DOMAIN.md defines it, its compensations as the
//! body did them), the second streams the samples.

use super::{gauss, round3};
use crate::motion::FlagKind;
use crate::sample::STANDARD_GRAVITY;
use crate::source::sim::{SimConfig, Truth, TruthFlag, TruthRep, TruthSet};
use crate::{Exercise, Placement, Sample};
use nalgebra::{Matrix3, UnitQuaternion, Vector3};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use std::f64::consts::PI;

type Q = UnitQuaternion<f64>;

/// Integration step of the body and of the mounts, s (500 Hz).
const DT: f64 = 0.002;
/// Sub-steps of the mount suspension per body step (its modes reach 35 Hz).
const SUSP_SUBSTEPS: usize = 4;
/// Correlation time of each of the two lags that colour the motor noise, s.
const MOTOR_NOISE_TAU_S: f64 = 0.04;
/// Correlation time of the postural sway of the equilibrium point, s.
const SWAY_TAU_S: f64 = 1.2;
/// Half the distance between the hip joints, m.
const PELVIS_HALF_WIDTH_M: f64 = 0.09;
/// Hip to knee, m.
const THIGH_M: f64 = 0.43;
/// Knee to ankle, m.
const SHANK_M: f64 = 0.42;
/// Height of the hips standing, m.
const STAND_HIP_M: f64 = 0.92;
/// Height of the hip joints lying on the side on a mat, m.
const LYING_HIP_M: f64 = 0.16;
/// Height of the hip joints sitting up on a mat, m.
const MAT_SIT_HIP_M: f64 = 0.11;
/// How far the hips drop from standing to sitting on a bench or machine seat, m.
const SEAT_DROP_M: f64 = 0.44;
/// Length of a jolt (heel strike, landing on a bench), s.
const IMPACT_S: f64 = 0.04;
/// Rep-like movements that are not counted (a single swing, the other
/// leg's set) keep at least this far from the counted sets, s: DOMAIN.md
/// joins reps with gaps under ~10 s into one set.
const SET_CLEARANCE_S: f64 = 11.5;
/// Time before the first rep at which the set's neutral is taken, s.
const NEUTRAL_LEAD_S: f64 = 0.05;
/// Correlation time of hands fiddling with a wearable (two lags in series), s.
const JIGGLE_TAU_S: f64 = 0.1;
/// How long a re-fastened strap or re-inserted phone takes to settle, s.
const REMOUNT_S: f64 = 1.6;

// The body's coordinates (angles °, lengths m).
/// Abduction of the working leg at the hip (seated: the thigh turning out about the vertical), °.
const ABD: usize = 0;
/// Flexion of the working hip (thigh forward), °.
const FLEX: usize = 1;
/// Knee flexion of the working leg, °.
const KNEE: usize = 2;
/// Ankle dorsiflexion of the working leg, °.
const ANK: usize = 3;
/// Roll of the pelvis about its front–back axis, ° (positive: the free side up).
const ROLL: usize = 4;
/// Sideways shift of the hips over the stance foot, m (positive: toward the free side).
const SHIFT: usize = 5;
/// Yaw of the pelvis about its long axis, °.
const YAW: usize = 6;
/// Forward bend of the pelvis and trunk, °.
const TILT: usize = 7;
/// Height of the hips from their standing height, m.
const BOB: usize = 8;
/// Side-lying work: 1 lying on the side, 0 sitting up on the mat.
const LIE: usize = 9;
/// Heading of the whole body, °.
const HEAD: usize = 10;
/// Walking speed, m/s.
const SPEED: usize = 11;
/// How much the gait pattern is switched on, 0..1.
const WALK: usize = 12;
/// The wearable's creep round its segment, °.
const SLIP: usize = 13;
/// The wearable sliding along its segment, m.
const SLIDE: usize = 14;
/// The phone out of its pocket or sock and in the hand, 0..1.
const HAND: usize = 15;
/// Number of coordinates.
const NQ: usize = 16;

fn rx(deg: f64) -> Q {
    Q::from_axis_angle(&Vector3::x_axis(), deg.to_radians())
}

fn ry(deg: f64) -> Q {
    Q::from_axis_angle(&Vector3::y_axis(), deg.to_radians())
}

fn rz(deg: f64) -> Q {
    Q::from_axis_angle(&Vector3::z_axis(), deg.to_radians())
}

fn smoothstep(u: f64) -> f64 {
    let u = u.clamp(0.0, 1.0);
    u * u * (3.0 - 2.0 * u)
}

/// A draw around `mean` with a relative spread `cv`, never below 20 % of it.
fn around(rng: &mut ChaCha8Rng, mean: f64, cv: f64) -> f64 {
    mean * (1.0 + cv * gauss(rng)).max(0.2)
}

fn sign(rng: &mut ChaCha8Rng) -> f64 {
    if rng.gen_bool(0.5) {
        1.0
    } else {
        -1.0
    }
}

/// A straight ramp of an equilibrium point from `from` to `to`.
#[derive(Debug, Clone, Copy)]
struct Ramp {
    from: f64,
    to: f64,
    t0: f64,
    dur: f64,
}

impl Ramp {
    fn hold(v: f64) -> Ramp {
        Ramp {
            from: v,
            to: v,
            t0: 0.0,
            dur: 0.0,
        }
    }

    fn at(&self, t: f64) -> f64 {
        if self.dur <= 0.0 || t >= self.t0 + self.dur {
            self.to
        } else if t <= self.t0 {
            self.from
        } else {
            self.from + (self.to - self.from) * (t - self.t0) / self.dur
        }
    }
}

/// One coordinate: a damped spring toward its equilibrium point with
/// correlated, command-dependent motor noise.
#[derive(Debug, Clone)]
struct Joint {
    q: f64,
    v: f64,
    /// Natural frequency, rad/s.
    omega: f64,
    /// Damping ratio.
    zeta: f64,
    /// A damping ratio for the moment (a dropped eccentric lets go).
    zeta_now: Option<f64>,
    /// Noise always there (tremor), units/s².
    sigma0: f64,
    /// Noise per unit of commanded acceleration (signal-dependent).
    kappa: f64,
    /// Extra tremor now (a hold under load), multiplier of `sigma0`.
    tremor: f64,
    /// Noise state: white noise through two first-order lags, units/s².
    n_raw: f64,
    n: f64,
    ramp: Ramp,
}

impl Joint {
    fn new(q: f64, omega: f64, zeta: f64, sigma0: f64, kappa: f64) -> Joint {
        Joint {
            q,
            v: 0.0,
            omega,
            zeta,
            zeta_now: None,
            sigma0,
            kappa,
            tremor: 1.0,
            n_raw: 0.0,
            n: 0.0,
            ramp: Ramp::hold(q),
        }
    }
}

/// Where the body is set up (its home pose).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Posture {
    /// Standing (cable, hip hitch on a step, between sets).
    Stand,
    /// Sitting on a bench between sets.
    Bench,
    /// Sitting in the abduction machine.
    Machine,
    /// Lying on the side (the working leg on top).
    Lying,
    /// Sitting up on the mat between side-lying sets.
    MatSit,
}

/// A command in a timed program.
#[derive(Debug, Clone)]
enum Cmd {
    /// Move coordinate to `home + goal` over `ramp` s.
    To(usize, f64, f64),
    /// Every body coordinate back home over `ramp` s.
    Home(f64),
    /// A new home pose (followed by `Home` to go there).
    Posture(Posture),
    /// Turn the whole body by ° over s.
    Turn(f64, f64),
    /// Start or stop walking.
    Gait(bool),
    /// Hands fiddling with the wearable, ° rms (0: hands off).
    Jiggle(f64),
    /// The strap re-fastened, the clip re-clipped, the phone put back: a new mounting.
    Remount,
    /// The strap pulled tight again: creep and slide undone.
    Tighten,
    /// The phone into the hand (true) or back on the body, over s.
    Hand(bool, f64),
    /// A jolt at the wearable, g.
    Impact(f64),
}

/// A timed program of commands: walking, sitting, changing the pin, re-strapping.
#[derive(Debug, Clone)]
struct Program {
    label: String,
    steps: Vec<(f64, Cmd)>,
    dur: f64,
}

/// Builds a [`Program`] with a time cursor.
struct Pb {
    label: String,
    t: f64,
    steps: Vec<(f64, Cmd)>,
}

impl Pb {
    fn new(label: &str) -> Pb {
        Pb {
            label: label.to_string(),
            t: 0.0,
            steps: Vec::new(),
        }
    }
    fn cmd(&mut self, c: Cmd) -> &mut Pb {
        self.steps.push((self.t, c));
        self
    }
    fn wait(&mut self, d: f64) -> &mut Pb {
        self.t += d.max(0.0);
        self
    }
    fn walk(&mut self, turn: f64, steps_s: f64) -> &mut Pb {
        self.cmd(Cmd::Turn(turn, 1.1))
            .wait(0.4)
            .cmd(Cmd::Gait(true))
            .wait(steps_s)
            .cmd(Cmd::Gait(false))
            .wait(0.8)
    }
    fn build(&mut self) -> Act {
        Act::Prog(Program {
            label: std::mem::take(&mut self.label),
            steps: std::mem::take(&mut self.steps),
            dur: self.t,
        })
    }
}

/// A via-point of a rep: targets (relative to home) reached together.
#[derive(Debug, Clone)]
struct Via {
    targets: Vec<(usize, f64)>,
    /// How long the equilibrium point takes to get there, s.
    ramp: f64,
    /// Move on once the primary coordinate has covered this share of the way
    /// (None: once the ramp is over).
    reach: Option<f64>,
    /// Stay this long once there, s.
    dwell: f64,
    /// Damping of the primary coordinate while going there (None: its own).
    zeta: Option<f64>,
    /// Tremor multiplier of the primary coordinate during the dwell.
    tremor: f64,
}

/// One rep (or one uncounted rep-like movement) as via-points.
#[derive(Debug, Clone)]
struct RepPlan {
    /// ABD (abduction) or ROLL (hip hitch).
    primary: usize,
    vias: Vec<Via>,
    /// Back at neutral when within this of home, and slower than `settle_v`.
    settle_tol: f64,
    settle_v: f64,
    pause_after: f64,
    flags: Vec<FlagKind>,
    /// A thrown rep: the strap may jump.
    thrown: bool,
}

/// A block of reps: a counted set, the other leg's set or a single swing.
#[derive(Debug, Clone)]
struct RepBlock {
    reps: Vec<RepPlan>,
    counted: bool,
    label: String,
    /// Still in position before the first rep, s.
    ready_s: f64,
}

/// One item of the session's agenda.
#[derive(Debug, Clone)]
enum Act {
    Still(f64),
    Reps(RepBlock),
    Prog(Program),
}

/// What the body reports as it goes (used by the truth pass).
#[derive(Debug, Clone, PartialEq)]
enum Event {
    /// The set's neutral: the still stance just before its first rep.
    SetReady,
    RepStart {
        counted: bool,
    },
    RepEnd {
        counted: bool,
        flags: Vec<FlagKind>,
    },
    SetEnd,
    /// An uncounted activity and its span.
    Distraction(String),
}

/// Where in the agenda the body is.
#[derive(Debug, Clone)]
enum Run {
    Start,
    Still {
        end: f64,
    },
    Reps {
        t0: f64,
        ready_sent: bool,
        started: bool,
        rep: usize,
        via: usize,
        stage: Stage,
        prev_goal: f64,
    },
    Prog {
        t0: f64,
        next: usize,
    },
    Done,
}

#[derive(Debug, Clone, Copy)]
enum Stage {
    Ready,
    Going { since: f64 },
    Dwell { until: f64 },
    Settle { deadline: f64 },
    Pause { until: f64 },
}

/// The wearables people use.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Wearable {
    /// Smartwatch-class IMU on a band just above the ankle bone.
    AnkleBand,
    /// A WitMotion-style puck on a Velcro strap round the lower shin.
    ShinStrap,
    /// A foot pod clipped to the shoe laces.
    FootPod,
    /// A phone tucked into the sock on the outside of the shin.
    SockPhone,
    /// A strap round the lower thigh (a straight leg turns as one piece).
    ThighStrap,
    /// A puck clipped to a belt over the sacrum.
    SacralClip,
    /// A clip on the waistband of leggings or shorts.
    WaistbandClip,
    /// A clip on a belt off toward one hip, turned with the belt's curve.
    HipBeltClip,
    /// A phone in a back trouser pocket.
    PocketPhone,
}

/// The segment a wearable rides on.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Segment {
    Pelvis,
    Thigh,
    Shank,
    Foot,
}

/// How a wearable sits: where, which way, on what suspension.
#[derive(Debug, Clone)]
struct Mounting {
    kind: Wearable,
    segment: Segment,
    /// Attachment point in the segment's frame, m.
    offset: Vector3<f64>,
    /// Axis (segment frame) about which it creeps.
    slip_axis: Vector3<f64>,
    /// Axis (segment frame) along which it slides.
    slide_axis: Vector3<f64>,
    /// How loose it is: creep per rep, °.
    looseness: f64,
    /// Translational mode, rad/s, and its damping ratio.
    w_t: f64,
    z_t: f64,
    /// Rotational mode, rad/s, and its damping ratio.
    w_r: f64,
    z_r: f64,
    /// Centre of mass from the pivot (a hanging phone), m, segment frame.
    r_c: Vector3<f64>,
    /// Tilt of the wearable per ° of abduction (fabric drag, a bulging muscle), about `drag_axis`.
    drag: f64,
    drag_axis: Vector3<f64>,
    /// Whether it can be taken off into the hand between sets.
    phone: bool,
    /// Whether it is a strap (re-strapped) rather than a clip.
    strap: bool,
}

/// Per-lifter traits.
#[derive(Debug, Clone)]
struct Lifter {
    t_up: f64,
    hold: f64,
    t_down: f64,
    pause: f64,
    range: f64,
    /// Pelvis roll with the leg at full range, ° (obliquity less the lean).
    roll_c: f64,
    /// Hips' shift toward the stance side at full range, m.
    shift_c: f64,
    /// Pelvis yaw with the leg at full range, °.
    yaw_c: f64,
    /// Reps to tire (e-folding), and how much range fatigue takes (share).
    fatigue_reps: f64,
    fatigue_range: f64,
    /// Drops the eccentric now and then.
    dropper: f64,
    lying_flex: f64,
    leg_omega: f64,
    leg_zeta: f64,
    trunk_omega: f64,
    tremor: f64,
    /// Postural sway of the equilibrium point, ° of roll.
    sway_deg: f64,
    cadence: f64,
    speed: f64,
}

/// The body with its wearable: everything that moves.
#[derive(Debug, Clone)]
struct Body {
    t: f64,
    rng: ChaCha8Rng,
    exercise: Exercise,
    /// Whether wearables go on any way (false: aligned with the segment, or DOMAIN.md's nominal sacral mounting).
    random: bool,
    /// +1 when the free side (DOMAIN.md's obliquity sign) is the right.
    fs: f64,
    /// +1 when the working leg is the right.
    ws: f64,
    lifter: Lifter,
    mount: Mounting,
    j: Vec<Joint>,
    home: [f64; NQ],
    phase: f64,
    x: f64,
    y: f64,
    /// Postural sway of the equilibrium point: roll °, shift m, yaw °.
    sway: [f64; 3],
    jiggle_sd: f64,
    /// Hands on the wearable: white noise through two first-order lags, rad.
    jiggle_raw: Vector3<f64>,
    jiggle: Vector3<f64>,
    mount_from: Q,
    mount_to: Q,
    mount_t0: f64,
    /// Hand pose of a phone taken out (orientation relative to the heading).
    hand_q: Q,
    impacts: Vec<(f64, f64)>,
    agenda: Vec<Act>,
    act: usize,
    run: Run,
    events: Vec<Event>,
    /// Attachment poses at the last two steps (suspension input).
    hist: Vec<(Vector3<f64>, Q)>,
    dp: Vector3<f64>,
    dv: Vector3<f64>,
    dth: Vector3<f64>,
    dw: Vector3<f64>,
}

/// The body at one step: the sensor's pose and what the truth needs.
#[derive(Debug, Clone, Copy)]
struct Frame {
    t: f64,
    p: Vector3<f64>,
    q: Q,
    /// The wearable's orientation without wobble or hands (for the truth's peaks).
    rigid: Q,
    roll: f64,
    flex: f64,
}

/// Angular acceleration of a wearable hanging with its centre of mass at
/// `r_c` from its pivot under specific force `f` (both in its frame), rad/s².
fn pendulum(r_c: Vector3<f64>, f: Vector3<f64>) -> Vector3<f64> {
    // Radius of gyration of a phone-sized body about its own centre, m.
    const GYRATION_M: f64 = 0.03;
    -r_c.cross(&f) / (r_c.norm_squared() + GYRATION_M * GYRATION_M)
}

fn gravity() -> Vector3<f64> {
    Vector3::new(0.0, 0.0, STANDARD_GRAVITY)
}

impl Body {
    fn home_pose(&self, posture: Posture) -> [f64; NQ] {
        let mut h = [0.0; NQ];
        h[HEAD] = self.home[HEAD];
        h[SLIP] = self.home[SLIP];
        h[SLIDE] = self.home[SLIDE];
        h[KNEE] = 3.0;
        h[TILT] = 3.0;
        match posture {
            Posture::Stand => {}
            Posture::Bench => {
                h[FLEX] = 82.0;
                h[KNEE] = 85.0;
                h[TILT] = -6.0;
                h[BOB] = -SEAT_DROP_M;
                h[ABD] = 6.0;
            }
            Posture::Machine => {
                h[FLEX] = 88.0;
                h[KNEE] = 90.0;
                h[TILT] = -10.0;
                h[BOB] = -SEAT_DROP_M + 0.05;
            }
            Posture::Lying => {
                h[LIE] = 1.0;
                h[FLEX] = self.lifter.lying_flex;
                h[KNEE] = 4.0;
                h[TILT] = 0.0;
            }
            Posture::MatSit => {
                h[LIE] = 0.0;
                h[FLEX] = 80.0;
                h[KNEE] = 25.0;
                h[TILT] = -8.0;
                h[ABD] = 8.0;
            }
        }
        h
    }

    fn set_ep(&mut self, c: usize, goal: f64, ramp: f64) {
        let t = self.t;
        let from = self.j[c].ramp.at(t);
        self.j[c].ramp = Ramp {
            from,
            to: goal,
            t0: t,
            dur: ramp.max(0.0),
        };
    }

    fn to(&mut self, c: usize, goal: f64, ramp: f64) {
        self.set_ep(c, self.home[c] + goal, ramp);
    }

    fn all_home(&mut self, ramp: f64) {
        for c in [ABD, FLEX, KNEE, ANK, ROLL, SHIFT, YAW, TILT, BOB, LIE] {
            self.to(c, 0.0, ramp);
        }
    }

    /// A new wearing of the wearable: where the hands put it back.
    fn draw_mounting(&mut self, first: bool, random: bool) -> Q {
        let rng = &mut self.rng;
        match self.mount.kind {
            Wearable::AnkleBand | Wearable::ShinStrap | Wearable::ThighStrap => {
                if !random {
                    return Q::identity();
                }
                // Anywhere round the limb, face out, any way up; the limb
                // tapers, so the face tilts a little.
                let around = rng.gen_range(0.0..360.0);
                let spin = 90.0 * rng.gen_range(0..4) as f64 + rng.gen_range(-12.0..12.0);
                rz(around) * ry(90.0 + rng.gen_range(-12.0..12.0)) * rz(spin)
            }
            Wearable::FootPod => {
                if !random {
                    return Q::identity();
                }
                // Along the laces, up the slope of the instep, either way round.
                let spin = if rng.gen_bool(0.5) { 0.0 } else { 180.0 };
                rx(-rng.gen_range(20.0..40.0)) * rz(spin + rng.gen_range(-10.0..10.0))
            }
            Wearable::SockPhone => {
                if !random {
                    return Q::identity();
                }
                // Portrait along the shin on the outer side, screen in or out, either end up.
                let around = if self.ws > 0.0 { 0.0 } else { 180.0 } + rng.gen_range(-45.0..45.0);
                let face = if rng.gen_bool(0.5) { 90.0 } else { -90.0 };
                let spin = if rng.gen_bool(0.5) { 0.0 } else { 180.0 };
                rz(around)
                    * ry(face + rng.gen_range(-10.0..10.0))
                    * rz(spin + rng.gen_range(-8.0..8.0))
            }
            Wearable::SacralClip
            | Wearable::WaistbandClip
            | Wearable::HipBeltClip
            | Wearable::PocketPhone => {
                // Sensor +X right, +Y up, +Z backward (DOMAIN.md), in the pelvis frame (x right, y forward, z up).
                let nominal = Q::from_basis_unchecked(&[Vector3::x(), Vector3::z(), -Vector3::y()]);
                if !random {
                    return nominal;
                }
                let (tilt_max, pitch, yaw): (f64, f64, f64) = match self.mount.kind {
                    Wearable::SacralClip => (10.0, 0.0, 0.0),
                    // The waistband sits on the curve of the low back and buttocks.
                    Wearable::WaistbandClip => (8.0, rng.gen_range(4.0..16.0), 0.0),
                    // The belt curves round the hip: the clip faces back and out.
                    Wearable::HipBeltClip => {
                        let side = self.mount.offset.x.signum();
                        (
                            8.0,
                            rng.gen_range(0.0..8.0),
                            side * rng.gen_range(12.0..35.0),
                        )
                    }
                    _ => (10.0, rng.gen_range(10.0..22.0), 0.0),
                };
                let tilt_max = if first { tilt_max } else { tilt_max * 1.2 };
                let axis = Vector3::new(gauss(rng), gauss(rng), gauss(rng));
                let small = match axis.try_normalize(1e-9) {
                    Some(a) => Q::from_scaled_axis(a * rng.gen_range(0.0..tilt_max).to_radians()),
                    None => Q::identity(),
                };
                // Yaw about the body's vertical, pitch about its lateral axis (the buttock's slope).
                rz(yaw) * rx(-pitch) * nominal * small
            }
        }
    }

    /// The wearable's mounting now (blending a re-mount, creep, drag).
    fn mounting_now(&self, t: f64) -> Q {
        let u = smoothstep((t - self.mount_t0) / REMOUNT_S);
        let base = self.mount_from.slerp(&self.mount_to, u);
        let slip = Q::from_scaled_axis(self.mount.slip_axis * self.j[SLIP].q.to_radians());
        let drag = Q::from_scaled_axis(
            self.mount.drag_axis * (self.mount.drag * self.j[ABD].q).to_radians(),
        );
        slip * drag * base
    }

    /// Rigid attachment pose (world position, orientation) and the pelvis centre.
    fn attach(&self, t: f64) -> (Vector3<f64>, Q, Vector3<f64>, Q) {
        let q = |c: usize| self.j[c].q;
        let heading = rz(q(HEAD));
        let lie = q(LIE).clamp(0.0, 1.0);
        let lying = self.exercise == Exercise::SideLyingAbduction;
        let base = if lying {
            Q::identity().slerp(&ry(-self.fs * 90.0), lie)
        } else {
            Q::identity()
        };
        let pelvis = heading * base * ry(-self.fs * q(ROLL)) * rz(q(YAW)) * rx(-q(TILT));
        let height = if lying {
            lie * LYING_HIP_M + (1.0 - lie) * MAT_SIT_HIP_M + q(BOB)
        } else {
            STAND_HIP_M + q(BOB)
        };
        let upright = 1.0 - if lying { lie } else { 0.0 };
        // The stance hip stands over the foot, shifted sideways with the hips.
        let stance_hip = Vector3::new(self.x, self.y, height)
            + heading
                * Vector3::new(
                    self.fs * q(SHIFT) * upright - self.fs * PELVIS_HALF_WIDTH_M,
                    0.0,
                    0.0,
                );
        let centre = stance_hip + pelvis * Vector3::new(self.fs * PELVIS_HALF_WIDTH_M, 0.0, 0.0);
        let hip = centre + pelvis * Vector3::new(self.ws * PELVIS_HALF_WIDTH_M, 0.0, 0.0);
        let thigh = pelvis * rx(q(FLEX)) * ry(-self.ws * q(ABD));
        let knee = hip + thigh * Vector3::new(0.0, 0.0, -THIGH_M);
        let shank = thigh * rx(-q(KNEE));
        let ankle = knee + shank * Vector3::new(0.0, 0.0, -SHANK_M);
        let foot = shank * rx(q(ANK));
        let (origin, seg) = match self.mount.segment {
            Segment::Pelvis => (centre, pelvis),
            Segment::Thigh => (knee, thigh),
            Segment::Shank => (ankle, shank),
            Segment::Foot => (ankle, foot),
        };
        let mut p = origin + seg * (self.mount.offset + self.mount.slide_axis * q(SLIDE));
        // Jolts: a short dip of the attachment point.
        for &(t0, depth) in &self.impacts {
            let u = (t - t0) / IMPACT_S;
            if (0.0..1.0).contains(&u) {
                p.z -= depth * (PI * u).sin().powi(2);
            }
        }
        (p, seg * self.mounting_now(t), centre, heading)
    }

    fn impact(&mut self, g: f64) {
        // Peak acceleration of depth·sin²(πu) over IMPACT_S is depth·2π²/IMPACT_S².
        let depth = g * STANDARD_GRAVITY * IMPACT_S * IMPACT_S / (2.0 * PI * PI);
        self.impacts.push((self.t, depth));
    }

    fn exec(&mut self, c: &Cmd) {
        match *c {
            Cmd::To(k, goal, ramp) => self.to(k, goal, ramp),
            Cmd::Home(ramp) => self.all_home(ramp),
            Cmd::Posture(p) => self.home = self.home_pose(p),
            Cmd::Turn(deg, ramp) => {
                self.home[HEAD] += deg;
                self.to(HEAD, 0.0, ramp);
            }
            Cmd::Gait(on) => {
                let (w, v) = if on {
                    (1.0, self.lifter.speed)
                } else {
                    (0.0, 0.0)
                };
                self.set_ep(WALK, w, 0.6);
                self.set_ep(SPEED, v, 0.8);
            }
            Cmd::Jiggle(sd) => self.jiggle_sd = sd,
            Cmd::Remount => {
                let to = self.draw_mounting(false, self.random);
                self.mount_from = self.mounting_base(self.t);
                self.mount_to = to;
                self.mount_t0 = self.t;
            }
            Cmd::Tighten => {
                self.home[SLIP] = 0.0;
                self.home[SLIDE] = 0.0;
                self.set_ep(SLIP, 0.0, 0.8);
                self.set_ep(SLIDE, 0.0, 0.8);
            }
            Cmd::Hand(on, ramp) => self.set_ep(HAND, if on { 1.0 } else { 0.0 }, ramp),
            Cmd::Impact(g) => self.impact(g),
        }
    }

    fn mounting_base(&self, t: f64) -> Q {
        let u = smoothstep((t - self.mount_t0) / REMOUNT_S);
        self.mount_from.slerp(&self.mount_to, u)
    }

    fn start_via(&mut self, plan: &RepPlan, v: usize) {
        let via = &plan.vias[v];
        for &(c, goal) in &via.targets {
            self.to(c, goal, via.ramp);
        }
        self.j[plan.primary].zeta_now = via.zeta;
        self.j[plan.primary].tremor = 1.0;
    }

    /// The agenda: starts activities, runs reps through their via-points,
    /// fires program commands; reports events.
    fn run_agenda(&mut self) {
        // Lent out while it runs, so its plans are read in place, not copied every step.
        let agenda = std::mem::take(&mut self.agenda);
        self.run_agenda_in(&agenda);
        self.agenda = agenda;
    }

    fn run_agenda_in(&mut self, agenda: &[Act]) {
        let t = self.t;
        loop {
            match self.run.clone() {
                Run::Done => return,
                Run::Start => self.begin_act(agenda, t),
                Run::Still { end } => {
                    if t >= end {
                        self.act += 1;
                        self.begin_act(agenda, t);
                    } else {
                        return;
                    }
                }
                Run::Prog { t0, mut next } => {
                    let Some(Act::Prog(p)) = agenda.get(self.act) else {
                        self.run = Run::Done;
                        return;
                    };
                    while next < p.steps.len() && t - t0 >= p.steps[next].0 {
                        let c = p.steps[next].1.clone();
                        self.exec(&c);
                        next += 1;
                    }
                    if t - t0 >= p.dur {
                        self.events.push(Event::Distraction(format!(
                            "{} {:.1}-{:.1} s",
                            p.label, t0, t
                        )));
                        self.act += 1;
                        self.begin_act(agenda, t);
                    } else {
                        self.run = Run::Prog { t0, next };
                        return;
                    }
                }
                Run::Reps { .. } => {
                    if !self.step_reps(agenda, t) {
                        return;
                    }
                }
            }
        }
    }

    fn begin_act(&mut self, agenda: &[Act], t: f64) {
        self.run = match agenda.get(self.act) {
            None => Run::Done,
            Some(Act::Still(d)) => Run::Still { end: t + d },
            Some(Act::Prog(_)) => Run::Prog { t0: t, next: 0 },
            Some(Act::Reps(_)) => Run::Reps {
                t0: t,
                ready_sent: false,
                started: false,
                rep: 0,
                via: 0,
                stage: Stage::Ready,
                prev_goal: 0.0,
            },
        };
    }

    /// Advances the rep block; true when the block is over and the next act began.
    fn step_reps(&mut self, agenda: &[Act], t: f64) -> bool {
        let Some(Act::Reps(block)) = agenda.get(self.act) else {
            self.run = Run::Done;
            return false;
        };
        let Run::Reps {
            t0,
            mut ready_sent,
            mut started,
            mut rep,
            mut via,
            mut stage,
            mut prev_goal,
        } = self.run.clone()
        else {
            return false;
        };
        let mut finished = false;
        loop {
            let Some(plan) = block.reps.get(rep) else {
                finished = true;
                break;
            };
            let p = plan.primary;
            let goal_of = |v: &Via| {
                v.targets
                    .iter()
                    .find(|(c, _)| *c == p)
                    .map(|(_, g)| *g)
                    .unwrap_or(0.0)
            };
            match stage {
                Stage::Ready => {
                    if block.counted && !ready_sent && t >= t0 + block.ready_s - NEUTRAL_LEAD_S {
                        self.events.push(Event::SetReady);
                        ready_sent = true;
                    }
                    if t < t0 + block.ready_s {
                        break;
                    }
                    if block.counted && !ready_sent {
                        self.events.push(Event::SetReady);
                        ready_sent = true;
                    }
                    stage = Stage::Pause { until: t };
                    rep = 0;
                    via = usize::MAX;
                }
                Stage::Pause { until } => {
                    if t < until {
                        break;
                    }
                    if via != usize::MAX || started {
                        rep += 1;
                    }
                    started = true;
                    let Some(next) = block.reps.get(rep) else {
                        finished = true;
                        break;
                    };
                    self.events.push(Event::RepStart {
                        counted: block.counted,
                    });
                    // The strap creeps round the limb with every rep; a thrown rep may make it jump.
                    let loose = self.mount.looseness;
                    if loose > 0.0 {
                        let mut d = loose * (0.35 + 0.5 * gauss(&mut self.rng));
                        if next.thrown && self.rng.gen_bool(0.4) {
                            d += loose * self.rng.gen_range(2.0..5.0);
                        }
                        self.home[SLIP] = (self.home[SLIP] + d).clamp(-25.0, 25.0);
                        self.home[SLIDE] = (self.home[SLIDE]
                            - 0.0006 * loose * self.rng.gen_range(0.0..1.0))
                        .max(-0.04);
                        let (s, l) = (self.home[SLIP], self.home[SLIDE]);
                        self.set_ep(SLIP, s, 0.25);
                        self.set_ep(SLIDE, l, 0.25);
                    }
                    via = 0;
                    prev_goal = 0.0;
                    self.start_via(next, 0);
                    stage = Stage::Going { since: t };
                }
                Stage::Going { since } => {
                    let v = &plan.vias[via];
                    let goal = goal_of(v);
                    let done = match v.reach {
                        Some(frac) => {
                            let span = goal - prev_goal;
                            let progress = if span.abs() < 1e-9 {
                                1.0
                            } else {
                                (self.j[p].q - self.home[p] - prev_goal) / span
                            };
                            progress >= frac || t >= since + v.ramp + 1.2
                        }
                        None => t >= since + v.ramp,
                    };
                    if !done {
                        break;
                    }
                    self.j[p].tremor = v.tremor;
                    stage = Stage::Dwell { until: t + v.dwell };
                }
                Stage::Dwell { until } => {
                    if t < until {
                        break;
                    }
                    self.j[p].tremor = 1.0;
                    prev_goal = goal_of(&plan.vias[via]);
                    via += 1;
                    if via < plan.vias.len() {
                        self.start_via(plan, via);
                        stage = Stage::Going { since: t };
                    } else {
                        stage = Stage::Settle { deadline: t + 2.0 };
                    }
                }
                Stage::Settle { deadline } => {
                    let back = (self.j[p].q - self.home[p]).abs() < plan.settle_tol
                        && self.j[p].v.abs() < plan.settle_v;
                    if !back && t < deadline {
                        break;
                    }
                    self.j[p].zeta_now = None;
                    self.events.push(Event::RepEnd {
                        counted: block.counted,
                        flags: plan.flags.clone(),
                    });
                    stage = Stage::Pause {
                        until: t + plan.pause_after,
                    };
                }
            }
        }
        if finished {
            if block.counted {
                self.events.push(Event::SetEnd);
            } else {
                self.events.push(Event::Distraction(format!(
                    "{} {:.1}-{:.1} s",
                    block.label, t0, t
                )));
            }
            self.act += 1;
            self.begin_act(agenda, t);
            return true;
        }
        self.run = Run::Reps {
            t0,
            ready_sent,
            started,
            rep,
            via,
            stage,
            prev_goal,
        };
        false
    }

    /// One step of DT: agenda, controllers, gait, mounts. Returns the new frame.
    fn step(&mut self) -> Frame {
        self.t += DT;
        let t = self.t;
        self.run_agenda();

        // Postural sway of the equilibrium point (Ornstein–Uhlenbeck).
        let a = (-DT / SWAY_TAU_S).exp();
        let k = (1.0 - a * a).sqrt();
        let quiet = match self.exercise {
            Exercise::SideLyingAbduction | Exercise::SeatedMachineAbduction => 0.3,
            _ => 1.0,
        };
        let sd = [
            self.lifter.sway_deg * quiet,
            0.004 * quiet,
            0.5 * self.lifter.sway_deg * quiet,
        ];
        for (s, sd) in self.sway.iter_mut().zip(sd) {
            *s = a * *s + sd * k * gauss(&mut self.rng);
        }

        // Gait: a phase that runs while walking, modulating the equilibrium points.
        let walk = self.j[WALK].q.clamp(0.0, 1.0);
        let old_phase = self.phase;
        if walk > 0.05 {
            self.phase += 2.0 * PI * self.lifter.cadence * DT;
        }
        let ph = self.phase;
        let mut m = [0.0; NQ];
        m[ROLL] = self.sway[0];
        m[SHIFT] = self.sway[1];
        m[YAW] = self.sway[2];
        if walk > 0.0 {
            m[FLEX] += walk * 22.0 * ph.sin();
            m[KNEE] += walk * (10.0 + 25.0 * (1.0 + (ph + 0.9).sin()));
            m[ANK] += walk * 10.0 * (ph - 1.0).sin();
            m[ROLL] += walk * 3.5 * ph.sin();
            m[YAW] += walk * 4.0 * ph.cos();
            m[BOB] += walk * 0.015 * (2.0 * ph).cos();
            m[SHIFT] += walk * 0.02 * ph.sin();
        }
        // Heel strikes: the working leg's at phase π/2 + 0.3, the other's half a stride later.
        if walk > 0.5 {
            let strike = |phase: f64, at: f64| ((phase - at) / (2.0 * PI)).floor();
            let pelvis = self.mount.segment == Segment::Pelvis;
            let foot = self.mount.segment == Segment::Foot;
            for (at, own) in [(PI / 2.0 + 0.3, true), (3.0 * PI / 2.0 + 0.3, false)] {
                if strike(ph, at) > strike(old_phase, at) {
                    let g = match (pelvis, own, foot) {
                        (true, _, _) => self.rng.gen_range(0.4..0.8),
                        (false, true, true) => self.rng.gen_range(3.0..6.0),
                        (false, true, false) => self.rng.gen_range(2.0..4.0),
                        (false, false, _) => self.rng.gen_range(0.2..0.4),
                    };
                    self.impact(g);
                }
            }
        }
        self.impacts.retain(|&(t0, _)| t - t0 < 2.0 * IMPACT_S);

        // Controllers.
        let an = (-DT / MOTOR_NOISE_TAU_S).exp();
        let kn = (1.0 - an * an).sqrt();
        for (c, &mc) in m.iter().enumerate() {
            let ep = self.j[c].ramp.at(t) + mc;
            let jt = &mut self.j[c];
            let zeta = jt.zeta_now.unwrap_or(jt.zeta);
            let pull = jt.omega * jt.omega * (ep - jt.q);
            let sd = jt.sigma0 * jt.tremor + jt.kappa * pull.abs();
            let e = if sd > 0.0 {
                sd * kn * self.rng.sample::<f64, _>(StandardNormal)
            } else {
                0.0
            };
            jt.n_raw = an * jt.n_raw + e;
            jt.n = an * jt.n + (1.0 - an) * jt.n_raw;
            let acc = pull - 2.0 * zeta * jt.omega * jt.v + jt.n;
            jt.v += acc * DT;
            jt.q += jt.v * DT;
        }
        let head = self.j[HEAD].q.to_radians();
        self.x += self.j[SPEED].q * DT * head.cos();
        self.y += self.j[SPEED].q * DT * head.sin();

        // Hands fiddling with the wearable: smooth, so its rates stay those of a hand.
        let aj = (-DT / JIGGLE_TAU_S).exp();
        let kj = (1.0 - aj * aj).sqrt() * self.jiggle_sd.to_radians();
        for i in 0..3 {
            self.jiggle_raw[i] = aj * self.jiggle_raw[i] + kj * gauss(&mut self.rng);
            self.jiggle[i] = aj * self.jiggle[i] + (1.0 - aj) * self.jiggle_raw[i];
        }

        let (p, rigid, centre, heading) = self.attach(t);
        let r_c = self.mounting_now(t).inverse() * self.mount.r_c;
        self.suspend(p, rigid, r_c);
        let mut sp = p + rigid * self.dp;
        let mut sq = rigid * Q::from_scaled_axis(self.dth) * Q::from_scaled_axis(self.jiggle);
        let hand = smoothstep(self.j[HAND].q);
        if hand > 0.0 {
            let hp = centre + heading * Vector3::new(self.ws * 0.12, 0.32, 0.30);
            let hq = heading * self.hand_q * Q::from_scaled_axis(self.jiggle);
            sp = sp * (1.0 - hand) + hp * hand;
            sq = sq.slerp(&hq, hand);
        }
        Frame {
            t,
            p: sp,
            q: sq,
            rigid,
            roll: self.j[ROLL].q,
            flex: self.j[FLEX].q,
        }
    }

    /// The wearable's own suspension on fabric or soft tissue: a
    /// translational and a rotational second-order mode, driven by the
    /// attachment's specific force and angular acceleration (and, for a
    /// hanging phone, by the specific force acting on its centre of mass).
    fn suspend(&mut self, p: Vector3<f64>, q: Q, r_c: Vector3<f64>) {
        self.hist.push((p, q));
        if self.hist.len() > 3 {
            self.hist.remove(0);
        }
        if self.hist.len() < 3 {
            return;
        }
        let (p0, q0) = self.hist[0];
        let (p1, q1) = self.hist[1];
        let (p2, q2) = self.hist[2];
        let f_world = (p2 - 2.0 * p1 + p0) / (DT * DT) + gravity();
        let f = q1.inverse() * f_world;
        let w0 = (q0.inverse() * q1).scaled_axis() / DT;
        let w1 = (q1.inverse() * q2).scaled_axis() / DT;
        let alpha = (w1 - w0) / DT;
        let mt = &self.mount;
        let torque = pendulum(r_c, f);
        let h = DT / SUSP_SUBSTEPS as f64;
        for _ in 0..SUSP_SUBSTEPS {
            let a = -mt.w_t * mt.w_t * self.dp - 2.0 * mt.z_t * mt.w_t * self.dv - f;
            self.dv += a * h;
            self.dp += self.dv * h;
            let b = -mt.w_r * mt.w_r * self.dth - 2.0 * mt.z_r * mt.w_r * self.dw - alpha + torque;
            self.dw += b * h;
            self.dth += self.dw * h;
        }
        // Fabric and straps stop it going far.
        self.dp = self.dp.map(|v| v.clamp(-0.05, 0.05));
        self.dth = self.dth.map(|v| v.clamp(-0.5, 0.5));
    }

    /// Starts the suspension at its static sag, so the recording does not open with a ring.
    fn settle_mount(&mut self) {
        let (p, q, _, _) = self.attach(self.t);
        let f = q.inverse() * gravity();
        self.dp = -f / (self.mount.w_t * self.mount.w_t);
        let r_c = self.mounting_now(self.t).inverse() * self.mount.r_c;
        self.dth = pendulum(r_c, f) / (self.mount.w_r * self.mount.w_r);
        self.hist = vec![(p, q), (p, q)];
    }

    fn frame0(&self) -> Frame {
        let (p, q, _, _) = self.attach(self.t);
        Frame {
            t: self.t,
            p: p + q * self.dp,
            q: q * Q::from_scaled_axis(self.dth),
            rigid: q,
            roll: self.j[ROLL].q,
            flex: self.j[FLEX].q,
        }
    }

    fn done(&self) -> bool {
        matches!(self.run, Run::Done)
    }
}

/// Seeds the body apart from the sensor, so the same lifter wears any sensor errors.
const BODY_SALT: u64 = 0x7765_6172_626f_6479;
/// Seeds the sensor's errors, clock, drops and gaps.
const SENSOR_SALT: u64 = 0x7765_6172_7365_6e73;

fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[(T, f64)]) -> T {
    let total: f64 = items.iter().map(|(_, w)| w).sum();
    let mut x = rng.gen_range(0.0..total.max(1e-9));
    for &(v, w) in items {
        if x < w {
            return v;
        }
        x -= w;
    }
    items[items.len() - 1].0
}

fn draw_lifter(rng: &mut ChaCha8Rng, ex: Exercise) -> Lifter {
    let style = rng.gen_range(0.0..1.0);
    // Most hold briefly; some squeeze at the top for seconds; some touch and go.
    let hold = if style < 0.15 {
        rng.gen_range(1.2..3.0)
    } else if style < 0.27 {
        rng.gen_range(0.0..0.15)
    } else {
        rng.gen_range(0.1..0.9)
    };
    let range = match ex {
        Exercise::SideLyingAbduction => rng.gen_range(24.0..50.0),
        Exercise::SeatedMachineAbduction => rng.gen_range(22.0..40.0),
        Exercise::HipHitch => rng.gen_range(6.0..11.5),
        _ => rng.gen_range(25.0..45.0),
    };
    // DOMAIN.md: 0.5–3° of obliquity with the leg, less a lean of up to 2°
    // that rolls the other way.
    let roll_c = match ex {
        Exercise::StandingCableAbduction => rng.gen_range(0.5..3.0) - rng.gen_range(0.0..2.0),
        Exercise::SideLyingAbduction => rng.gen_range(0.5..3.0),
        Exercise::SeatedMachineAbduction => rng.gen_range(0.1..0.8),
        _ => 0.0,
    };
    Lifter {
        t_up: rng.gen_range(0.6..1.3),
        hold,
        t_down: rng.gen_range(0.9..2.3),
        pause: rng.gen_range(0.15..1.5),
        range,
        roll_c,
        shift_c: rng.gen_range(0.008..0.03),
        yaw_c: match ex {
            // Lying, the pelvis rolls back as the leg goes up.
            Exercise::SideLyingAbduction => -rng.gen_range(1.0..4.0),
            _ => sign(rng) * rng.gen_range(0.5..2.5),
        },
        fatigue_reps: rng.gen_range(8.0..30.0),
        fatigue_range: rng.gen_range(0.05..0.25),
        dropper: rng.gen_range(0.0..0.35),
        lying_flex: rng.gen_range(5.0..18.0),
        leg_omega: rng.gen_range(11.0..17.0),
        leg_zeta: rng.gen_range(0.75..1.0),
        trunk_omega: rng.gen_range(8.5..12.0),
        tremor: rng.gen_range(25.0..70.0),
        sway_deg: rng.gen_range(0.25..0.6),
        cadence: rng.gen_range(0.85..1.0),
        speed: rng.gen_range(0.9..1.3),
    }
}

fn draw_mount(rng: &mut ChaCha8Rng, cfg: &SimConfig, ws: f64) -> Mounting {
    let tau = 2.0 * PI;
    let kind = match cfg.placement {
        Placement::Ankle => pick(
            rng,
            &[
                (Wearable::AnkleBand, 0.3),
                (Wearable::ShinStrap, 0.25),
                (Wearable::FootPod, 0.17),
                (Wearable::SockPhone, 0.15),
                (Wearable::ThighStrap, 0.13),
            ],
        ),
        Placement::Pelvis => pick(
            rng,
            &[
                (Wearable::SacralClip, 0.4),
                (Wearable::WaistbandClip, 0.25),
                (Wearable::HipBeltClip, 0.15),
                (Wearable::PocketPhone, 0.2),
            ],
        ),
    };
    // Lying on the side, whatever sits on a hip is on the top one.
    let lying = cfg.exercise == Exercise::SideLyingAbduction;
    let hip_side = if lying { ws } else { sign(rng) };
    let z = Vector3::z();
    let mut m = Mounting {
        kind,
        segment: Segment::Shank,
        offset: Vector3::zeros(),
        slip_axis: z,
        slide_axis: z,
        looseness: 0.0,
        w_t: tau * 15.0,
        z_t: 0.3,
        w_r: tau * 12.0,
        z_r: 0.3,
        r_c: Vector3::zeros(),
        drag: 0.0,
        drag_axis: Vector3::x(),
        phone: false,
        strap: true,
    };
    match kind {
        Wearable::AnkleBand => {
            m.offset = Vector3::new(ws * 0.035, 0.0, 0.07);
            m.looseness = rng.gen_range(0.3..1.0);
            m.w_t = tau * rng.gen_range(12.0..20.0);
            m.z_t = rng.gen_range(0.3..0.45);
            m.w_r = tau * rng.gen_range(10.0..16.0);
            m.drag = rng.gen_range(0.0..0.02);
            m.r_c = Vector3::new(0.0, 0.0, -0.005);
        }
        Wearable::ShinStrap => {
            m.offset = Vector3::new(ws * 0.02, 0.035, 0.14);
            m.looseness = rng.gen_range(0.5..1.8);
            m.w_t = tau * rng.gen_range(14.0..24.0);
            m.w_r = tau * rng.gen_range(12.0..20.0);
            m.r_c = Vector3::new(0.0, 0.0, -0.008);
        }
        Wearable::FootPod => {
            m.segment = Segment::Foot;
            m.offset = Vector3::new(0.0, 0.06, -0.03);
            m.looseness = rng.gen_range(0.05..0.2);
            m.w_t = tau * rng.gen_range(25.0..35.0);
            m.z_t = 0.35;
            m.w_r = tau * rng.gen_range(22.0..32.0);
            m.slip_axis = Vector3::y();
            m.strap = false;
        }
        Wearable::SockPhone => {
            m.offset = Vector3::new(ws * 0.05, 0.0, 0.12);
            m.looseness = rng.gen_range(1.5..3.0);
            m.w_t = tau * rng.gen_range(7.0..11.0);
            m.z_t = rng.gen_range(0.2..0.35);
            // Elastic fabric holds it against the shin: a stiff, damped pendulum.
            m.w_r = tau * rng.gen_range(7.0..11.0);
            m.z_r = rng.gen_range(0.25..0.35);
            m.r_c = Vector3::new(0.0, 0.0, -rng.gen_range(0.015..0.025));
            m.phone = true;
            m.strap = false;
        }
        Wearable::ThighStrap => {
            m.segment = Segment::Thigh;
            m.offset = Vector3::new(ws * 0.07, 0.02, 0.12);
            m.looseness = rng.gen_range(0.8..2.5);
            m.w_t = tau * rng.gen_range(7.0..12.0);
            m.z_t = 0.25;
            m.w_r = tau * rng.gen_range(6.0..10.0);
            m.z_r = 0.25;
            m.r_c = Vector3::new(0.0, 0.0, -0.01);
            // The thigh muscles bulge under the strap as the leg works.
            m.drag = rng.gen_range(0.03..0.08);
        }
        Wearable::SacralClip => {
            m.segment = Segment::Pelvis;
            m.offset = Vector3::new(0.0, -0.11, -0.02);
            m.slip_axis = Vector3::x();
            m.looseness = rng.gen_range(0.1..0.4);
            m.w_t = tau * rng.gen_range(10.0..16.0);
            m.w_r = tau * rng.gen_range(8.0..14.0);
            m.r_c = Vector3::new(0.0, 0.0, -0.01);
            m.strap = false;
        }
        Wearable::WaistbandClip => {
            m.segment = Segment::Pelvis;
            m.offset = Vector3::new(0.0, -0.10, 0.05);
            m.slip_axis = Vector3::x();
            m.looseness = rng.gen_range(0.3..1.0);
            m.w_t = tau * rng.gen_range(5.0..9.0);
            m.z_t = 0.2;
            m.w_r = tau * rng.gen_range(5.0..8.0);
            m.z_r = 0.2;
            m.r_c = Vector3::new(0.0, -0.005, -0.02);
            // The gluteals push the waistband as the hip works.
            m.drag = rng.gen_range(0.02..0.05);
            m.drag_axis = Vector3::new(0.0, -ws, 0.0);
            m.strap = false;
        }
        Wearable::HipBeltClip => {
            m.segment = Segment::Pelvis;
            m.offset = Vector3::new(hip_side * 0.13, -0.05, 0.02);
            m.slip_axis = Vector3::x();
            m.looseness = rng.gen_range(0.2..0.6);
            m.w_t = tau * rng.gen_range(9.0..14.0);
            m.w_r = tau * rng.gen_range(8.0..12.0);
            m.r_c = Vector3::new(0.0, 0.0, -0.01);
            m.strap = false;
        }
        Wearable::PocketPhone => {
            m.segment = Segment::Pelvis;
            m.offset = Vector3::new(hip_side * 0.07, -0.12, -0.09);
            m.slip_axis = Vector3::y();
            m.looseness = rng.gen_range(0.5..1.5);
            m.w_t = tau * rng.gen_range(4.0..7.0);
            m.z_t = rng.gen_range(0.15..0.25);
            m.w_r = tau * rng.gen_range(2.5..4.5);
            m.z_r = rng.gen_range(0.12..0.22);
            // It hangs from the pocket's opening.
            m.r_c = Vector3::new(0.0, 0.0, -rng.gen_range(0.05..0.07));
            // A pocket over the working buttock is dragged by the trousers as the thigh goes out.
            m.drag = if hip_side == ws && cfg.exercise != Exercise::HipHitch {
                rng.gen_range(0.12..0.25)
            } else {
                rng.gen_range(0.0..0.05)
            };
            m.drag_axis = Vector3::new(0.0, -ws, 0.0);
            m.phone = true;
            m.strap = false;
        }
    }
    m
}

/// What the plan needs to know while it draws reps.
struct Planner<'a> {
    cfg: &'a SimConfig,
    lifter: Lifter,
    comps: Vec<FlagKind>,
    fs: f64,
}

impl Planner<'_> {
    fn standing(&self) -> bool {
        matches!(
            self.cfg.exercise,
            Exercise::StandingCableAbduction | Exercise::HipHitch
        )
    }

    /// Rep `k` of `n` in a counted set whose working range is `range`.
    fn rep(&self, rng: &mut ChaCha8Rng, k: usize, n: usize, range: f64) -> RepPlan {
        let l = &self.lifter;
        let fat = 1.0 - (-(k as f64) / l.fatigue_reps).exp();
        // Compensations come more often late in the set; the mean stays at the rate asked for.
        let p = if n > 1 {
            self.cfg.compensation_rate * (0.6 + 0.8 * k as f64 / (n - 1) as f64)
        } else {
            self.cfg.compensation_rate
        };
        let kind = if !self.comps.is_empty() && rng.gen_bool(p.clamp(0.0, 1.0)) {
            let ok: Vec<FlagKind> = self
                .comps
                .iter()
                .copied()
                .filter(|c| *c != FlagKind::PartialRange || k >= 2)
                .collect();
            ok.choose(rng).copied()
        } else {
            None
        };
        let t_up = (l.t_up * (1.0 + 0.4 * fat) * around(rng, 1.0, 0.12)).clamp(0.5, 1.9);
        let mut hold = (l.hold * (1.0 - 0.5 * fat) * around(rng, 1.0, 0.25)).clamp(0.0, 3.5);
        let mut t_down = (l.t_down * (1.0 - 0.25 * fat) * around(rng, 1.0, 0.12)).clamp(0.6, 2.8);
        if rng.gen_bool((l.dropper * fat).clamp(0.0, 1.0)) {
            t_down = rng.gen_range(0.55..0.75);
        }
        let pause = (l.pause * around(rng, 1.0, 0.35) + 0.8 * fat).clamp(0.05, 3.5);
        if self.cfg.exercise == Exercise::HipHitch {
            return self.hitch_rep(
                rng,
                kind,
                range * (1.0 - 0.5 * l.fatigue_range * fat),
                pause,
            );
        }
        let mut amp = range * (1.0 - l.fatigue_range * fat) * around(rng, 1.0, 0.04);
        let upright = if self.standing() { 1.0 } else { 0.0 };
        let mut roll = (l.roll_c * around(rng, 1.0, 0.2)).clamp(-2.0, 3.0);
        let mut shift = -l.shift_c * around(rng, 1.0, 0.2) * upright;
        let mut yaw = l.yaw_c * around(rng, 1.0, 0.3);
        let mut flex = 2.0 * gauss(rng);
        let mut up_ramp = t_up;
        let mut reach = 0.9;
        let mut up_zeta = None;
        let mut down_zeta = None;
        let mut sway = None;
        let mut thrown = false;
        match kind {
            Some(FlagKind::Momentum) => {
                // The foot flies at an overshooting target and is let fall.
                amp *= rng.gen_range(1.05..1.15);
                up_ramp = rng.gen_range(0.15..0.25);
                reach = 0.8;
                up_zeta = Some(rng.gen_range(0.55..0.7));
                hold = 0.0;
                t_down = rng.gen_range(0.12..0.22);
                down_zeta = Some(rng.gen_range(0.25..0.4));
                thrown = true;
            }
            Some(FlagKind::PartialRange) => {
                amp *= rng.gen_range(0.35..0.6);
                up_ramp *= 0.7;
                t_down *= 0.7;
                hold *= 0.5;
            }
            Some(FlagKind::HipFlexionDrift) => {
                flex = rng.gen_range(12.0..25.0);
                amp *= rng.gen_range(0.85..0.95);
            }
            Some(FlagKind::HipHike) => roll = rng.gen_range(7.5..13.0),
            Some(FlagKind::PelvicDrop) => roll = -rng.gen_range(7.5..12.0),
            Some(FlagKind::TrunkSway) => {
                let dir = sign(rng);
                let a = rng.gen_range(7.5..11.0);
                roll = dir * a;
                shift = dir * 0.04 * upright;
                yaw = dir * rng.gen_range(3.0..6.0);
                hold = hold.max(0.2);
                sway = Some((dir, a, rng.gen_range(0.8..1.1)));
            }
            _ => {}
        }
        let mut vias = vec![Via {
            targets: vec![
                (ABD, amp),
                (ROLL, roll),
                (SHIFT, shift),
                (YAW, yaw),
                (FLEX, flex),
            ],
            ramp: up_ramp,
            reach: Some(reach),
            dwell: hold,
            zeta: up_zeta,
            tremor: 3.0 + 2.0 * fat,
        }];
        if let Some((dir, a, ramp)) = sway {
            // Rock the other way while the leg stays out.
            vias.push(Via {
                targets: vec![
                    (ABD, amp * 0.97),
                    (ROLL, -dir * a),
                    (SHIFT, -dir * 0.04 * upright),
                    (YAW, -yaw),
                ],
                ramp,
                reach: None,
                dwell: 0.15,
                zeta: None,
                tremor: 3.0 + 2.0 * fat,
            });
        }
        vias.push(Via {
            targets: vec![
                (ABD, 0.0),
                (ROLL, 0.0),
                (SHIFT, 0.0),
                (YAW, 0.0),
                (FLEX, 0.0),
            ],
            ramp: t_down,
            reach: None,
            dwell: 0.0,
            zeta: down_zeta,
            tremor: 1.0,
        });
        RepPlan {
            primary: ABD,
            vias,
            settle_tol: (0.08 * amp).max(1.5),
            settle_v: 20.0,
            pause_after: pause,
            flags: kind.into_iter().collect(),
            thrown,
        }
    }

    /// A hip hitch: the free side drops and the stance hip pulls it back level
    /// (or past level: the hike).
    fn hitch_rep(
        &self,
        rng: &mut ChaCha8Rng,
        kind: Option<FlagKind>,
        depth: f64,
        pause: f64,
    ) -> RepPlan {
        let l = &self.lifter;
        let d = depth * around(rng, 1.0, 0.06);
        let tempo = l.t_up / 0.95;
        let t_drop = (rng.gen_range(0.8..1.6) * tempo).clamp(0.6, 2.0);
        let t_pull = (rng.gen_range(0.8..1.6) * tempo).clamp(0.6, 2.0);
        let bottom = rng.gen_range(0.0..0.5);
        let top = rng.gen_range(0.0..0.5);
        let shift = -0.5 * l.shift_c;
        let yaw = 0.3 * l.yaw_c;
        let mut vias = vec![Via {
            targets: vec![(ROLL, -d), (SHIFT, shift), (YAW, yaw)],
            ramp: t_drop,
            reach: Some(0.9),
            dwell: bottom,
            zeta: None,
            tremor: 1.5,
        }];
        let hike = kind == Some(FlagKind::HipHike);
        if hike {
            vias.push(Via {
                targets: vec![(ROLL, rng.gen_range(7.0..10.5)), (SHIFT, 0.0), (YAW, 0.0)],
                ramp: t_pull,
                reach: Some(0.9),
                dwell: rng.gen_range(0.3..0.6),
                zeta: None,
                tremor: 1.5,
            });
            vias.push(Via {
                targets: vec![(ROLL, 0.0)],
                ramp: rng.gen_range(0.5..0.7),
                reach: None,
                dwell: 0.0,
                zeta: None,
                tremor: 1.0,
            });
        } else {
            vias.push(Via {
                targets: vec![(ROLL, 0.0), (SHIFT, 0.0), (YAW, 0.0)],
                ramp: t_pull,
                reach: Some(0.9),
                dwell: top,
                zeta: None,
                tremor: 1.0,
            });
        }
        RepPlan {
            primary: ROLL,
            vias,
            settle_tol: (0.12 * d).max(0.8),
            settle_v: 6.0,
            pause_after: pause,
            flags: kind.into_iter().filter(|_| hike).collect(),
            thrown: false,
        }
    }

    /// A single swing (or dip) between sets: not a rep.
    fn swing(&self, rng: &mut ChaCha8Rng) -> RepPlan {
        if self.cfg.exercise == Exercise::HipHitch {
            let depth = rng.gen_range(4.0..8.0);
            let mut r = self.hitch_rep(rng, None, depth, 0.0);
            r.flags.clear();
            return r;
        }
        let amp = match self.cfg.exercise {
            Exercise::SeatedMachineAbduction => rng.gen_range(10.0..22.0),
            _ => rng.gen_range(15.0..35.0),
        };
        RepPlan {
            primary: ABD,
            vias: vec![
                Via {
                    targets: vec![(ABD, amp), (ROLL, 0.5 * self.lifter.roll_c)],
                    ramp: rng.gen_range(0.3..0.6),
                    reach: Some(0.85),
                    dwell: 0.0,
                    zeta: None,
                    tremor: 1.0,
                },
                Via {
                    targets: vec![(ABD, 0.0), (ROLL, 0.0)],
                    ramp: rng.gen_range(0.4..0.7),
                    reach: None,
                    dwell: 0.0,
                    zeta: None,
                    tremor: 1.0,
                },
            ],
            settle_tol: 2.0,
            settle_v: 25.0,
            pause_after: 0.0,
            flags: Vec::new(),
            thrown: false,
        }
    }

    /// The other leg's set: the working leg stands, the pelvis rolls the other way.
    fn other_leg_rep(&self, rng: &mut ChaCha8Rng) -> RepPlan {
        let l = &self.lifter;
        let t_up = (l.t_up * around(rng, 1.0, 0.12)).clamp(0.5, 1.9);
        let hold = (l.hold * around(rng, 1.0, 0.25)).clamp(0.0, 3.0);
        let t_down = (l.t_down * around(rng, 1.0, 0.12)).clamp(0.6, 2.8);
        let shift = l.shift_c * around(rng, 1.0, 0.2);
        // Keep the standing foot planted: the hip adducts as the hips shift over it.
        let lean = (shift / (THIGH_M + SHANK_M)).to_degrees();
        // The pelvis leads (its roll is what settles); the working leg only stands.
        let (targets, tol, v) = if self.cfg.exercise == Exercise::HipHitch {
            let d = l.range * around(rng, 1.0, 0.08);
            (
                vec![(ROLL, d), (SHIFT, 0.5 * shift)],
                (0.12 * d).max(0.8),
                6.0,
            )
        } else {
            let roll = -rng.gen_range(0.5..3.0);
            (
                vec![
                    (ROLL, roll),
                    (ABD, -roll - lean),
                    (SHIFT, shift),
                    (YAW, -l.yaw_c),
                ],
                0.6,
                10.0,
            )
        };
        let back: Vec<(usize, f64)> = targets.iter().map(|&(c, _)| (c, 0.0)).collect();
        RepPlan {
            primary: ROLL,
            vias: vec![
                Via {
                    targets,
                    ramp: t_up,
                    reach: None,
                    dwell: hold,
                    zeta: None,
                    tremor: 1.0,
                },
                Via {
                    targets: back,
                    ramp: t_down,
                    reach: None,
                    dwell: 0.0,
                    zeta: None,
                    tremor: 1.0,
                },
            ],
            settle_tol: tol,
            settle_v: v,
            pause_after: (l.pause * around(rng, 1.0, 0.3)).clamp(0.05, 3.0),
            flags: Vec::new(),
            thrown: false,
        }
    }
}

/// A rough length of a block of reps, s (for fitting it into a rest).
fn block_estimate(reps: &[RepPlan]) -> f64 {
    reps.iter()
        .map(|r| r.vias.iter().map(|v| v.ramp + v.dwell + 0.3).sum::<f64>() + r.pause_after + 0.5)
        .sum::<f64>()
        * 1.3
        + 2.0
}

/// Fills a rest of `rest` s (from the end of one set to the first rep of
/// the next, whose block waits `ready` s in position) with what people do.
fn plan_rest(
    rng: &mut ChaCha8Rng,
    pl: &Planner,
    mount: &Mounting,
    rest: f64,
    ready: f64,
) -> Vec<Act> {
    let cfg = pl.cfg;
    let ex = cfg.exercise;
    let post = rng.gen_range(2.0..4.0);
    let pre = rng.gen_range(1.0..3.0f64).max(ready + 0.5);
    let end = rest - pre;
    let mut acts = vec![Act::Still(post)];
    let mut at = post;
    // (program, estimated length, rep-like)
    let mut items: Vec<(Vec<Act>, f64, bool)> = Vec::new();
    let pelvis = mount.segment == Segment::Pelvis;
    let standing = pl.standing();

    if cfg.walking && standing && rng.gen_bool(0.6) {
        let mut b = Pb::new("walk away and back");
        b.walk(180.0, rng.gen_range(2.0..5.0))
            .wait(rng.gen_range(1.0..8.0))
            .walk(180.0, rng.gen_range(2.0..5.0));
        let d = b.t;
        items.push((vec![b.build()], d, false));
    }
    if cfg.walking && standing && rng.gen_bool(0.3) {
        let mut b = Pb::new("sit on a bench");
        b.walk(180.0, rng.gen_range(1.5..3.0))
            .cmd(Cmd::Posture(Posture::Bench))
            .cmd(Cmd::To(TILT, 30.0, 0.6))
            .wait(0.6)
            .cmd(Cmd::Home(1.0))
            .wait(0.95)
            .cmd(Cmd::Impact(if pelvis { 0.7 } else { 0.15 }))
            .wait(rng.gen_range(4.0..25.0));
        if rng.gen_bool(0.5) {
            // Stretches the leg out, and back.
            b.cmd(Cmd::To(KNEE, -70.0, 0.9))
                .wait(rng.gen_range(1.5..4.0))
                .cmd(Cmd::Home(0.9))
                .wait(1.5);
        }
        b.cmd(Cmd::Posture(Posture::Stand))
            .cmd(Cmd::To(TILT, 35.0, 0.6))
            .wait(0.6)
            .cmd(Cmd::Home(1.1))
            .wait(1.4)
            .walk(180.0, rng.gen_range(1.5..3.0));
        let d = b.t;
        items.push((vec![b.build()], d, false));
    }
    if cfg.walking && ex == Exercise::StandingCableAbduction && rng.gen_bool(0.5) {
        let turn = sign(rng) * rng.gen_range(60.0..100.0);
        let mut b = Pb::new("change the pin");
        b.walk(turn, rng.gen_range(0.8..1.5))
            .cmd(Cmd::To(TILT, rng.gen_range(45.0..65.0), 0.9))
            .cmd(Cmd::To(KNEE, rng.gen_range(25.0..45.0), 0.9))
            .cmd(Cmd::To(BOB, -0.12, 0.9))
            .wait(rng.gen_range(2.0..4.0))
            .cmd(Cmd::Home(0.9))
            .wait(1.0)
            .walk(-turn, rng.gen_range(0.8..1.5));
        let d = b.t;
        items.push((vec![b.build()], d, false));
    }
    if ex == Exercise::SeatedMachineAbduction && rng.gen_bool(0.5) {
        let s = sign(rng);
        let mut b = Pb::new("change the pin");
        b.cmd(Cmd::To(TILT, rng.gen_range(20.0..32.0), 0.8))
            .cmd(Cmd::To(YAW, s * rng.gen_range(25.0..40.0), 0.8))
            .cmd(Cmd::To(ROLL, s * rng.gen_range(3.0..5.0), 0.8))
            .wait(rng.gen_range(1.5..3.0))
            .cmd(Cmd::Home(0.9))
            .wait(1.2);
        let d = b.t;
        items.push((vec![b.build()], d, false));
    }
    if cfg.walking && ex == Exercise::SeatedMachineAbduction && rng.gen_bool(0.3) {
        let mut b = Pb::new("get up, walk and sit back in the machine");
        b.cmd(Cmd::Posture(Posture::Stand))
            .cmd(Cmd::To(TILT, 35.0, 0.6))
            .wait(0.6)
            .cmd(Cmd::Home(1.1))
            .wait(1.4)
            .walk(180.0, rng.gen_range(2.0..5.0))
            .wait(rng.gen_range(1.0..6.0))
            .walk(180.0, rng.gen_range(2.0..5.0))
            .cmd(Cmd::Posture(Posture::Machine))
            .cmd(Cmd::To(TILT, 30.0, 0.6))
            .wait(0.6)
            .cmd(Cmd::Home(1.0))
            .wait(0.95)
            .cmd(Cmd::Impact(if pelvis { 0.7 } else { 0.15 }))
            .wait(1.0);
        let d = b.t;
        items.push((vec![b.build()], d, false));
    }
    // Hands on the wearable: how people reach it from where they are.
    let reach_down = |b: &mut Pb| {
        if pelvis {
            b.cmd(Cmd::To(YAW, 15.0 * pl.fs, 0.6));
        } else {
            match ex {
                Exercise::SideLyingAbduction => {
                    b.cmd(Cmd::To(FLEX, 25.0, 1.0))
                        .cmd(Cmd::To(KNEE, 70.0, 1.0));
                }
                Exercise::SeatedMachineAbduction => {
                    b.cmd(Cmd::To(TILT, 45.0, 1.0));
                }
                _ => {
                    b.cmd(Cmd::To(FLEX, 55.0, 1.0))
                        .cmd(Cmd::To(KNEE, 70.0, 1.0))
                        .cmd(Cmd::To(TILT, 50.0, 1.0));
                }
            }
        }
        b.wait(1.1);
    };
    let lying = ex == Exercise::SideLyingAbduction;
    let mut hands: Vec<Pb> = Vec::new();
    if cfg.fidgets && mount.strap && rng.gen_bool(0.25) {
        let mut b = Pb::new("re-strap");
        reach_down(&mut b);
        b.cmd(Cmd::Jiggle(18.0))
            .wait(1.0)
            .cmd(Cmd::Remount)
            .cmd(Cmd::Tighten)
            .wait(rng.gen_range(2.0..5.0))
            .cmd(Cmd::Jiggle(0.0))
            .cmd(Cmd::Home(1.0))
            .wait(1.3);
        hands.push(b);
    } else if cfg.fidgets && !mount.phone && rng.gen_bool(0.35) {
        let mut b = Pb::new(if mount.strap {
            "tighten the strap"
        } else {
            "push the clip back"
        });
        reach_down(&mut b);
        b.cmd(Cmd::Jiggle(6.0))
            .wait(0.6)
            .cmd(Cmd::Tighten)
            .wait(rng.gen_range(0.8..2.0))
            .cmd(Cmd::Jiggle(0.0))
            .cmd(Cmd::Home(1.0))
            .wait(1.3);
        hands.push(b);
    }
    if cfg.fidgets && mount.phone && rng.gen_bool(0.45) {
        let mut b = Pb::new("phone out and back");
        reach_down(&mut b);
        b.cmd(Cmd::Jiggle(8.0))
            .wait(0.4)
            .cmd(Cmd::Hand(true, 1.0))
            .wait(0.6)
            .cmd(Cmd::Home(1.0))
            .wait(0.5)
            .cmd(Cmd::Jiggle(0.6))
            .wait(rng.gen_range(5.0..20.0));
        reach_down(&mut b);
        b.cmd(Cmd::Jiggle(8.0))
            .cmd(Cmd::Hand(false, 1.0))
            .cmd(Cmd::Remount)
            .wait(1.2)
            .cmd(Cmd::Jiggle(0.0))
            .cmd(Cmd::Home(1.0))
            .wait(1.3);
        hands.push(b);
    }
    if lying
        && (cfg.walking || !hands.is_empty())
        && rng.gen_bool(if hands.is_empty() { 0.5 } else { 1.0 })
    {
        // Sit up on the mat (and do what needs hands there), then lie back down.
        let mut b = Pb::new("sit up on the mat");
        b.cmd(Cmd::Posture(Posture::MatSit))
            .cmd(Cmd::Home(rng.gen_range(1.5..2.5)))
            .wait(2.8);
        for h in hands.drain(..) {
            b.label = format!("{} ({})", b.label, h.label);
            let base = b.t;
            for (t, c) in h.steps {
                b.steps.push((base + t, c));
            }
            b.t = base + h.t + 0.5;
        }
        b.wait(rng.gen_range(2.0..15.0))
            .cmd(Cmd::Posture(Posture::Lying))
            .cmd(Cmd::Home(rng.gen_range(1.5..2.5)))
            .wait(3.0);
        let d = b.t;
        items.push((vec![b.build()], d, false));
    } else if !lying {
        for mut h in hands.drain(..) {
            let d = h.t;
            items.push((vec![h.build()], d, false));
        }
    }
    if cfg.fidgets {
        for _ in 0..rng.gen_range(0..3) {
            let mut b = Pb::new("fidget");
            if rng.gen_bool(0.5) || lying {
                let s = sign(rng);
                b.cmd(Cmd::To(ABD, s * rng.gen_range(3.0..8.0), 0.15))
                    .cmd(Cmd::To(KNEE, rng.gen_range(8.0..20.0), 0.2))
                    .cmd(Cmd::To(FLEX, rng.gen_range(4.0..10.0), 0.2))
                    .wait(0.25)
                    .cmd(Cmd::To(ABD, -s * rng.gen_range(2.0..5.0), 0.15))
                    .wait(0.2)
                    .cmd(Cmd::Home(0.3))
                    .wait(0.6);
            } else {
                let s = sign(rng);
                b.cmd(Cmd::To(SHIFT, s * 0.03, 0.8))
                    .cmd(Cmd::To(ROLL, s * rng.gen_range(1.0..2.5), 0.8))
                    .wait(rng.gen_range(2.0..5.0))
                    .cmd(Cmd::Home(0.8))
                    .wait(1.2);
            }
            let d = b.t;
            items.push((vec![b.build()], d, false));
        }
        if rng.gen_bool(0.35) {
            let reps = vec![pl.swing(rng)];
            let d = block_estimate(&reps);
            items.push((
                vec![Act::Reps(RepBlock {
                    reps,
                    counted: false,
                    label: "single swing".into(),
                    ready_s: 0.0,
                })],
                d,
                true,
            ));
        }
    }
    let other_p = if pelvis { 0.15 } else { 0.3 };
    if cfg.walking && standing && rng.gen_bool(other_p) {
        let n = rng.gen_range(6..=12);
        let reps: Vec<RepPlan> = (0..n).map(|_| pl.other_leg_rep(rng)).collect();
        let mut group = Vec::new();
        let mut d = block_estimate(&reps);
        if ex == Exercise::StandingCableAbduction {
            // Turn round so the other side faces the stack, and back after.
            let mut b = Pb::new("turn round");
            b.walk(180.0, 0.8);
            d += 2.0 * b.t;
            group.push(b.build());
        }
        group.push(Act::Reps(RepBlock {
            label: format!("other leg's set ({n} reps)"),
            reps,
            counted: false,
            ready_s: 1.0,
        }));
        if ex == Exercise::StandingCableAbduction {
            let mut b = Pb::new("turn round");
            b.walk(180.0, 0.8);
            group.push(b.build());
        }
        items.push((group, d, true));
    }
    items.shuffle(rng);
    for (group, d, rep_like) in items {
        let gap = rng.gen_range(0.5..2.5);
        let start = at + gap;
        let fits = if rep_like {
            start >= SET_CLEARANCE_S && start + d <= rest - SET_CLEARANCE_S
        } else {
            start + d <= end
        };
        if fits {
            acts.push(Act::Still(gap));
            acts.extend(group);
            at = start + d;
        }
    }
    acts.push(Act::Still((rest - at - ready).max(0.5)));
    acts
}

/// Plans the session: the lifter, the wearable and the agenda, on a body at rest.
fn plan(cfg: &SimConfig) -> Result<Body, String> {
    cfg.validate()?;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ BODY_SALT);
    let fs = cfg.exercise.free_side(cfg.side).sign();
    let ws = cfg.side.sign();
    let lifter = draw_lifter(&mut rng, cfg.exercise);
    let mount = draw_mount(&mut rng, cfg, ws);
    let pl = Planner {
        cfg,
        lifter: lifter.clone(),
        comps: cfg.visible_compensations(),
        fs,
    };
    let mut agenda = Vec::new();
    let lead = match cfg.lead_in_s {
        Some(x) if x.is_finite() && x >= 0.0 => x,
        _ => rng.gen_range(0.5..3.0),
    };
    let mut ready = rng.gen_range(0.3..0.8f64).min(lead);
    agenda.push(Act::Still(lead - ready));
    for set in 0..cfg.sets {
        let n = rng.gen_range(cfg.reps_min..=cfg.reps_max);
        let range = lifter.range * rng.gen_range(0.93..1.07);
        let reps: Vec<RepPlan> = (0..n).map(|k| pl.rep(&mut rng, k, n, range)).collect();
        agenda.push(Act::Reps(RepBlock {
            reps,
            counted: true,
            label: format!("set {}", set + 1),
            ready_s: ready,
        }));
        if set + 1 < cfg.sets {
            let rest = rng.gen_range(cfg.rest_min_s..=cfg.rest_max_s);
            ready = rng.gen_range(0.3..0.8);
            agenda.extend(plan_rest(&mut rng, &pl, &mount, rest, ready));
        }
    }
    agenda.push(Act::Still(rng.gen_range(1.0..6.0)));

    let posture = match cfg.exercise {
        Exercise::SideLyingAbduction => Posture::Lying,
        Exercise::SeatedMachineAbduction => Posture::Machine,
        _ => Posture::Stand,
    };
    let l = &lifter;
    // A leg standing still barely shakes; holds under load add tremor (`Via::tremor`).
    let leg = |rng: &mut ChaCha8Rng| {
        Joint::new(
            0.0,
            l.leg_omega,
            l.leg_zeta,
            0.4 * l.tremor,
            rng.gen_range(0.04..0.1),
        )
    };
    let trunk = |sigma: f64| Joint::new(0.0, l.trunk_omega, 0.8, sigma, 0.03);
    let slow = |omega: f64| Joint::new(0.0, omega, 1.0, 0.0, 0.0);
    let mut j = vec![
        leg(&mut rng),
        leg(&mut rng),
        leg(&mut rng),
        Joint::new(0.0, 14.0, 0.9, 20.0, 0.05),
        trunk(6.0),
        Joint::new(0.0, l.trunk_omega, 0.85, 0.02, 0.02),
        trunk(8.0),
        Joint::new(0.0, 7.0, 0.9, 5.0, 0.03),
        Joint::new(0.0, 8.0, 0.9, 0.01, 0.02),
        slow(4.0),
        slow(7.0),
        slow(5.0),
        slow(6.0),
        Joint::new(0.0, 30.0, 0.7, 0.0, 0.0),
        Joint::new(0.0, 30.0, 0.7, 0.0, 0.0),
        slow(7.0),
    ];
    let heading = rng.gen_range(0.0..360.0);
    let hand_q = rx(rng.gen_range(25.0..50.0)) * rz(rng.gen_range(-15.0..15.0));
    let mut body = Body {
        t: 0.0,
        rng: ChaCha8Rng::seed_from_u64(rng.gen()),
        exercise: cfg.exercise,
        random: cfg.random_mounting,
        fs,
        ws,
        lifter: lifter.clone(),
        mount,
        j: Vec::new(),
        home: [0.0; NQ],
        phase: 0.0,
        x: 0.0,
        y: 0.0,
        sway: [0.0; 3],
        jiggle_sd: 0.0,
        jiggle_raw: Vector3::zeros(),
        jiggle: Vector3::zeros(),
        mount_from: Q::identity(),
        mount_to: Q::identity(),
        mount_t0: -10.0,
        hand_q,
        impacts: Vec::new(),
        agenda,
        act: 0,
        run: Run::Start,
        events: Vec::new(),
        hist: Vec::new(),
        dp: Vector3::zeros(),
        dv: Vector3::zeros(),
        dth: Vector3::zeros(),
        dw: Vector3::zeros(),
    };
    body.home[HEAD] = heading;
    body.home = body.home_pose(posture);
    for (c, jt) in j.iter_mut().enumerate() {
        jt.q = body.home[c];
        jt.ramp = Ramp::hold(body.home[c]);
    }
    body.j = j;
    let m0 = body.draw_mounting(true, cfg.random_mounting);
    body.mount_from = m0;
    body.mount_to = m0;
    body.settle_mount();
    Ok(body)
}

/// What the truth pass gathers on one rep.
#[derive(Debug, Clone)]
struct RepAcc {
    start: f64,
    peak: f64,
    roll_hi: f64,
    roll_lo: f64,
    flex_hi: f64,
}

/// Runs the body through the whole session and writes down what it did.
fn truth_pass(mut body: Body, cfg: &SimConfig) -> (Truth, f64) {
    let mut sets = Vec::new();
    let mut distractions = Vec::new();
    let mut rest = body.frame0();
    let mut acc: Option<RepAcc> = None;
    let mut done: Vec<(RepAcc, f64, Vec<FlagKind>)> = Vec::new();
    let comps = cfg.visible_compensations();
    while !body.done() {
        let f = body.step();
        let events: Vec<Event> = body.events.drain(..).collect();
        for e in events {
            match e {
                Event::SetReady => rest = f,
                Event::RepStart { counted: true } => {
                    acc = Some(RepAcc {
                        start: f.t,
                        peak: 0.0,
                        roll_hi: 0.0,
                        roll_lo: 0.0,
                        flex_hi: 0.0,
                    })
                }
                Event::RepEnd {
                    counted: true,
                    flags,
                } => {
                    if let Some(a) = acc.take() {
                        done.push((a, f.t, flags));
                    }
                }
                Event::SetEnd => {
                    if let Some(set) = close_set(&mut done, &comps) {
                        sets.push(set);
                    }
                }
                Event::Distraction(s) => distractions.push(s),
                _ => {}
            }
        }
        if let Some(a) = acc.as_mut() {
            let d_roll = f.roll - rest.roll;
            let v = match cfg.placement {
                Placement::Ankle => (rest.rigid.inverse() * f.rigid).angle().to_degrees(),
                Placement::Pelvis => d_roll.abs(),
            };
            a.peak = a.peak.max(v);
            a.roll_hi = a.roll_hi.max(d_roll);
            a.roll_lo = a.roll_lo.min(d_roll);
            a.flex_hi = a.flex_hi.max(f.flex - rest.flex);
        }
    }
    let duration = body.t;
    (
        Truth {
            config: cfg.clone(),
            duration_s: round3(duration),
            distractions,
            sets,
        },
        duration,
    )
}

/// The set's reps with their compensations as the body did them.
fn close_set(done: &mut Vec<(RepAcc, f64, Vec<FlagKind>)>, comps: &[FlagKind]) -> Option<TruthSet> {
    if done.is_empty() {
        return None;
    }
    let mut full: Vec<f64> = done
        .iter()
        .filter(|(_, _, f)| !f.contains(&FlagKind::PartialRange))
        .map(|(a, _, _)| a.peak)
        .collect();
    full.sort_by(|a, b| a.total_cmp(b));
    let reference = if full.is_empty() {
        done.iter().map(|(a, _, _)| a.peak).fold(0.0, f64::max)
    } else {
        full[full.len() / 2]
    };
    let r1 = |x: f64| (x * 10.0).round() / 10.0;
    let reps: Vec<TruthRep> = done
        .drain(..)
        .map(|(a, end, kinds)| {
            let flags = kinds
                .into_iter()
                .filter(|k| comps.contains(k))
                .map(|kind| {
                    let value = match kind {
                        FlagKind::Momentum => a.peak,
                        FlagKind::PartialRange => (reference - a.peak).max(0.0),
                        FlagKind::HipFlexionDrift => a.flex_hi,
                        FlagKind::HipHike => a.roll_hi,
                        FlagKind::PelvicDrop => -a.roll_lo,
                        FlagKind::TrunkSway => a.roll_hi.min(-a.roll_lo),
                    };
                    TruthFlag {
                        kind,
                        value_deg: r1(value),
                    }
                })
                .collect();
            TruthRep {
                start_s: round3(a.start),
                end_s: round3(end),
                peak_deg: r1(a.peak),
                flags,
            }
        })
        .collect();
    Some(TruthSet {
        start_s: reps[0].start_s,
        end_s: reps[reps.len() - 1].end_s,
        rep_count: reps.len(),
        reps,
    })
}

/// The electronics: ranges, quantisation, noise, bias warming up on the
/// skin, scale and cross-axis errors, a little g-sensitivity of the gyro.
#[derive(Debug, Clone)]
struct Sensor {
    acc_m: Matrix3<f64>,
    gyr_m: Matrix3<f64>,
    acc_b0: Vector3<f64>,
    acc_bt: Vector3<f64>,
    gyr_b0: Vector3<f64>,
    gyr_bt: Vector3<f64>,
    /// Warm-up on the skin: rise, K, and time constant, s.
    rise_k: f64,
    tau_s: f64,
    acc_sd: f64,
    gyr_sd: f64,
    acc_fs: f64,
    gyr_fs: f64,
    acc_lsb: f64,
    gyr_lsb: f64,
    g_sens: Vector3<f64>,
}

impl Sensor {
    fn draw(rng: &mut ChaCha8Rng, kind: Wearable, cfg: &SimConfig) -> Sensor {
        // (accelerometer ranges g, gyro ranges °/s, white noise m/s², °/s)
        let (acc_g, gyr, acc_sd, gyr_sd): (&[f64], &[f64], f64, f64) = match kind {
            Wearable::AnkleBand => (
                &[4.0, 8.0, 8.0, 16.0],
                &[500.0, 1000.0, 2000.0, 2000.0],
                0.02,
                0.07,
            ),
            Wearable::ShinStrap | Wearable::SacralClip => (&[16.0], &[2000.0], 0.035, 0.1),
            Wearable::FootPod => (&[8.0, 16.0], &[2000.0], 0.03, 0.1),
            Wearable::SockPhone | Wearable::PocketPhone => (&[8.0, 16.0], &[2000.0], 0.012, 0.04),
            Wearable::ThighStrap | Wearable::HipBeltClip => {
                (&[8.0, 16.0], &[1000.0, 2000.0], 0.03, 0.09)
            }
            Wearable::WaistbandClip => (&[4.0, 8.0], &[500.0, 1000.0, 2000.0], 0.03, 0.1),
        };
        let acc_fs = acc_g.choose(rng).copied().unwrap_or(16.0) * STANDARD_GRAVITY;
        let gyr_fs = gyr.choose(rng).copied().unwrap_or(2000.0);
        let err = cfg.noise.min(2.0);
        let mut misalign = |scale: f64, cross: f64| {
            let mut m = Matrix3::identity();
            for r in 0..3 {
                for c in 0..3 {
                    m[(r, c)] += err
                        * if r == c {
                            rng.gen_range(-scale..scale)
                        } else {
                            rng.gen_range(-cross..cross)
                        };
                }
            }
            m
        };
        let acc_m = misalign(0.025, 0.015);
        let gyr_m = misalign(0.03, 0.015);
        let mut uvec = |a: f64| {
            Vector3::new(
                rng.gen_range(-1.0..=1.0),
                rng.gen_range(-1.0..=1.0),
                rng.gen_range(-1.0..=1.0),
            ) * a
        };
        let rise_k = match kind {
            Wearable::SockPhone | Wearable::PocketPhone => 4.0,
            _ => 9.0,
        };
        let gyr_b0 = uvec(0.7 * cfg.gyro_bias_dps);
        let gyr_bt = uvec(0.3 * cfg.gyro_bias_dps / rise_k);
        let acc_b0 = uvec(0.12 * err);
        let acc_bt = uvec(0.008 * err);
        let g_sens = uvec(0.01 * err);
        Sensor {
            acc_m,
            gyr_m,
            acc_b0,
            acc_bt,
            gyr_b0,
            gyr_bt,
            rise_k: rise_k * rng.gen_range(0.6..1.3),
            tau_s: rng.gen_range(200.0..900.0),
            acc_sd: acc_sd * cfg.noise,
            gyr_sd: gyr_sd * cfg.noise,
            acc_fs,
            gyr_fs,
            acc_lsb: acc_fs / 32768.0,
            gyr_lsb: gyr_fs / 32768.0,
            g_sens,
        }
    }

    fn measure(
        &self,
        rng: &mut ChaCha8Rng,
        t: f64,
        f: Vector3<f64>,
        w: Vector3<f64>,
    ) -> (Vector3<f64>, Vector3<f64>) {
        let warm = self.rise_k * (1.0 - (-t.max(0.0) / self.tau_s).exp());
        let mut acc = self.acc_m * f + self.acc_b0 + self.acc_bt * warm;
        let mut gyr =
            self.gyr_m * w + self.gyr_b0 + self.gyr_bt * warm + self.g_sens.component_mul(&f);
        for k in 0..3 {
            acc[k] += self.acc_sd * gauss(rng);
            gyr[k] += self.gyr_sd * gauss(rng);
            acc[k] =
                (acc[k].clamp(-self.acc_fs, self.acc_fs) / self.acc_lsb).round() * self.acc_lsb;
            gyr[k] =
                (gyr[k].clamp(-self.gyr_fs, self.gyr_fs) / self.gyr_lsb).round() * self.gyr_lsb;
        }
        (acc, gyr)
    }
}

/// A simulated session from the wearables model: the sample stream. Made
/// with its [`Truth`] by [`WearSimulator::new`].
pub struct WearSimulator {
    body: Body,
    sensor: Sensor,
    rng: ChaCha8Rng,
    rate: f64,
    index: u64,
    count: u64,
    /// The sensor clock's error, parts per million.
    ppm: f64,
    /// Host time-stamp jitter, s (sd).
    jitter_s: f64,
    drop_rate: f64,
    gaps: Vec<f64>,
    gap_cursor: usize,
    frames: Vec<Frame>,
    /// Specific force (m/s²) and angular rate (°/s) at the last two body steps.
    kin: Vec<(f64, Vector3<f64>, Vector3<f64>)>,
    last_stamp: f64,
}

impl WearSimulator {
    /// Plans a session: the sample stream and its ground truth.
    pub fn new(cfg: &SimConfig) -> Result<(WearSimulator, Truth), String> {
        let body = plan(cfg)?;
        let (truth, duration) = truth_pass(body.clone(), cfg);
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ SENSOR_SALT);
        let sensor = Sensor::draw(&mut rng, body.mount.kind, cfg);
        let phone = body.mount.phone;
        let ppm = rng.gen_range(-60.0..60.0);
        let jitter_s = if phone {
            rng.gen_range(0.1..0.35)
        } else {
            rng.gen_range(0.0..0.2)
        } / cfg.rate_hz;
        let n_gaps = (cfg.gaps_per_min * duration / 60.0).round() as usize;
        let mut gaps: Vec<f64> = (0..n_gaps)
            .map(|_| rng.gen_range(0.0..duration.max(1e-3)))
            .collect();
        gaps.sort_by(|a, b| a.total_cmp(b));
        let frame0 = body.frame0();
        let sim = WearSimulator {
            body,
            sensor,
            rng,
            rate: cfg.rate_hz,
            index: 0,
            count: (duration * cfg.rate_hz) as u64,
            ppm,
            jitter_s,
            drop_rate: cfg.drop_rate,
            gaps,
            gap_cursor: 0,
            frames: vec![frame0],
            kin: Vec::new(),
            last_stamp: f64::NEG_INFINITY,
        };
        Ok((sim, truth))
    }

    /// One more body step; the kinematics of the sensor at the step before.
    fn advance(&mut self) {
        let f = self.body.step();
        self.body.events.clear();
        self.frames.push(f);
        if self.frames.len() > 3 {
            self.frames.remove(0);
        }
        if let [a, b, c] = self.frames[..] {
            let f_world = (c.p - 2.0 * b.p + a.p) / (DT * DT) + gravity();
            let force = b.q.inverse() * f_world;
            let w = (a.q.inverse() * c.q).scaled_axis() / (2.0 * DT);
            self.kin.push((b.t, force, w.map(f64::to_degrees)));
            if self.kin.len() > 2 {
                self.kin.remove(0);
            }
        }
    }

    /// Specific force and angular rate at body time `t`, between body steps.
    fn ideal(&mut self, t: f64) -> (Vector3<f64>, Vector3<f64>) {
        while self.kin.len() < 2 || self.kin[1].0 < t {
            self.advance();
        }
        let (t0, f0, w0) = self.kin[0];
        let (t1, f1, w1) = self.kin[1];
        let u = ((t - t0) / (t1 - t0)).clamp(0.0, 1.0);
        (f0 + (f1 - f0) * u, w0 + (w1 - w0) * u)
    }
}

impl Iterator for WearSimulator {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        loop {
            if self.index >= self.count {
                return None;
            }
            let i = self.index;
            self.index += 1;
            let nominal = i as f64 / self.rate;
            if crate::source::sim::in_ble_gap(&self.gaps, &mut self.gap_cursor, nominal) {
                continue;
            }
            if self.drop_rate > 0.0 && self.rng.gen_bool(self.drop_rate) {
                continue;
            }
            // The sensor's own clock runs off the body's; the host stamps with jitter.
            let t_body = (nominal * (1.0 + self.ppm * 1e-6)).max(0.0);
            let (f, w) = self.ideal(t_body);
            let (acc, gyr) = self.sensor.measure(&mut self.rng, t_body, f, w);
            let jitter =
                (self.jitter_s * gauss(&mut self.rng)).clamp(-0.4 / self.rate, 0.4 / self.rate);
            let stamp = (nominal + jitter).max(self.last_stamp).max(0.0);
            self.last_stamp = stamp;
            return Some(Sample { t: stamp, acc, gyr });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::sim::SimModel;
    use crate::Side;

    use crate::source::sim::PAIRS;

    /// A short session, quick to run in a debug build.
    fn short(exercise: Exercise, placement: Placement, seed: u64) -> SimConfig {
        let mut cfg = SimConfig::new(exercise, placement, Side::Right);
        cfg.model = SimModel::Wear;
        cfg.sets = 2;
        cfg.reps_min = 3;
        cfg.reps_max = 5;
        cfg.rest_min_s = 12.0;
        cfg.rest_max_s = 20.0;
        cfg.rate_hz = 50.0;
        cfg.seed = seed;
        cfg
    }

    #[test]
    fn every_exercise_and_placement_gives_sets_of_ordered_reps_inside_the_recording() {
        for (i, &(e, p)) in PAIRS.iter().enumerate() {
            let cfg = short(e, p, 20 + i as u64);
            let (_, truth) = WearSimulator::new(&cfg).unwrap();
            assert_eq!(truth.config, cfg);
            assert_eq!(truth.sets.len(), 2, "{e} {p}");
            let mut last_end = 0.0;
            for set in &truth.sets {
                assert!((3..=5).contains(&set.rep_count), "{e} {p}");
                assert_eq!(set.rep_count, set.reps.len());
                assert_eq!(set.start_s, set.reps[0].start_s);
                assert_eq!(set.end_s, set.reps[set.reps.len() - 1].end_s);
                for r in &set.reps {
                    assert!(r.start_s >= last_end, "{e} {p}: reps overlap");
                    assert!(r.end_s > r.start_s + 0.3, "{e} {p}: {r:?}");
                    assert!(r.end_s - r.start_s < 10.0, "{e} {p}: {r:?}");
                    last_end = r.end_s;
                }
            }
            assert!(last_end < truth.duration_s, "{e} {p}");
            // Sets stand apart: DOMAIN.md's rest of at least the shortest one asked for, less a little.
            let gap = truth.sets[1].start_s - truth.sets[0].end_s;
            assert!(gap > 10.0, "{e} {p}: {gap}");
        }
    }

    #[test]
    fn the_sample_rate_is_honoured_and_time_stamps_never_go_back() {
        for rate in [25.0, 104.0, 200.0] {
            let mut cfg = short(Exercise::SideLyingAbduction, Placement::Ankle, 3);
            cfg.sets = 1;
            cfg.rate_hz = rate;
            cfg.drop_rate = 0.0;
            cfg.gaps_per_min = 0.0;
            let (sim, truth) = WearSimulator::new(&cfg).unwrap();
            let s: Vec<Sample> = sim.collect();
            assert_eq!(s.len() as u64, (truth.duration_s * rate) as u64, "{rate}");
            assert!(s.windows(2).all(|w| w[1].t >= w[0].t));
            let span = s[s.len() - 1].t - s[0].t;
            let mean_dt = span / (s.len() - 1) as f64;
            assert!((mean_dt * rate - 1.0).abs() < 0.01, "{rate}: {mean_dt}");
            assert!(s.iter().all(|x| x.is_finite()));
        }
    }

    #[test]
    fn drops_and_gaps_remove_samples() {
        let mut cfg = short(Exercise::StandingCableAbduction, Placement::Pelvis, 4);
        cfg.sets = 1;
        cfg.drop_rate = 0.0;
        cfg.gaps_per_min = 0.0;
        let (sim, _) = WearSimulator::new(&cfg).unwrap();
        let all = sim.count();
        cfg.drop_rate = 0.05;
        cfg.gaps_per_min = 6.0;
        let (sim, _) = WearSimulator::new(&cfg).unwrap();
        let some = sim.count();
        assert!(
            some < all * 97 / 100 && some > all * 85 / 100,
            "{some} of {all}"
        );
    }

    #[test]
    fn at_rest_the_accelerometer_reads_gravity_and_the_gyro_little() {
        for (i, &(e, p)) in PAIRS.iter().enumerate() {
            let mut cfg = short(e, p, 40 + i as u64);
            cfg.sets = 1;
            cfg.noise = 0.0;
            cfg.gyro_bias_dps = 0.0;
            cfg.drop_rate = 0.0;
            cfg.lead_in_s = Some(2.0);
            let (sim, _) = WearSimulator::new(&cfg).unwrap();
            let still: Vec<Sample> = sim
                .take_while(|s| s.t < 1.2)
                .filter(|s| s.t > 0.3)
                .collect();
            assert!(!still.is_empty());
            let n = still.len() as f64;
            let acc = still.iter().map(|s| s.acc.norm()).sum::<f64>() / n;
            let gyr = (still.iter().map(|s| s.gyr.norm_squared()).sum::<f64>() / n).sqrt();
            assert!((acc - STANDARD_GRAVITY).abs() < 0.25, "{e} {p}: |a| {acc}");
            assert!(gyr < 12.0, "{e} {p}: gyro rms {gyr}");
        }
    }

    #[test]
    fn peaks_and_compensations_stay_within_domain_ranges() {
        for (i, &(e, p)) in PAIRS.iter().enumerate() {
            let mut cfg = short(e, p, 60 + i as u64);
            cfg.reps_min = 8;
            cfg.reps_max = 8;
            cfg.compensation_rate = 0.4;
            cfg.fidgets = false;
            cfg.walking = false;
            let (_, truth) = WearSimulator::new(&cfg).unwrap();
            let visible = cfg.visible_compensations();
            let mut flagged = 0;
            for r in truth.sets.iter().flat_map(|s| &s.reps) {
                for f in &r.flags {
                    flagged += 1;
                    assert!(visible.contains(&f.kind), "{e} {p}: {f:?}");
                    match f.kind {
                        FlagKind::HipHike | FlagKind::PelvicDrop | FlagKind::TrunkSway => {
                            assert!(f.value_deg >= 5.0, "{e} {p}: {f:?}")
                        }
                        FlagKind::HipFlexionDrift => assert!(f.value_deg >= 8.0, "{e} {p}: {f:?}"),
                        _ => {}
                    }
                }
                let clean = r.flags.is_empty();
                match (e, p) {
                    (Exercise::HipHitch, _) => {
                        assert!((3.0..16.0).contains(&r.peak_deg), "{e} {p}: {r:?}")
                    }
                    // DOMAIN.md: a clean rep moves the pelvis 0.5–3° (with sway).
                    (_, Placement::Pelvis) if clean => {
                        assert!(r.peak_deg < 5.0, "{e} {p}: {r:?}")
                    }
                    (_, Placement::Ankle) if clean => {
                        assert!((10.0..60.0).contains(&r.peak_deg), "{e} {p}: {r:?}")
                    }
                    _ => {}
                }
            }
            assert!(flagged > 0, "{e} {p}");
        }
    }

    #[test]
    fn without_compensations_no_rep_is_flagged() {
        let mut cfg = short(Exercise::StandingCableAbduction, Placement::Pelvis, 5);
        cfg.compensation_rate = 0.0;
        let (_, truth) = WearSimulator::new(&cfg).unwrap();
        assert!(truth
            .sets
            .iter()
            .flat_map(|s| &s.reps)
            .all(|r| r.flags.is_empty()));
    }

    #[test]
    fn uncounted_movements_are_listed_and_kept_clear_of_the_sets() {
        let mut seen = 0;
        for seed in 0..6 {
            let mut cfg = short(
                Exercise::StandingCableAbduction,
                Placement::Ankle,
                80 + seed,
            );
            cfg.sets = 2;
            cfg.rest_min_s = 50.0;
            cfg.rest_max_s = 60.0;
            let (_, truth) = WearSimulator::new(&cfg).unwrap();
            seen += truth.distractions.len();
            for d in &truth.distractions {
                if !(d.starts_with("single swing") || d.starts_with("other leg")) {
                    continue;
                }
                let span = d.rsplit(' ').nth(1).unwrap();
                let (a, b) = span.split_once('-').unwrap();
                let (a, b): (f64, f64) = (a.parse().unwrap(), b.parse().unwrap());
                for s in &truth.sets {
                    assert!(a > s.end_s + 10.0 || b < s.start_s - 10.0, "{d} near {s:?}");
                }
            }
        }
        assert!(seen > 0);
    }

    #[test]
    fn a_configuration_the_simulator_does_not_model_is_an_error() {
        let cfg = short(Exercise::HipHitch, Placement::Ankle, 1);
        assert!(WearSimulator::new(&cfg).is_err());
        let mut cfg = short(Exercise::StandingCableAbduction, Placement::Ankle, 1);
        cfg.rate_hz = f64::NAN;
        assert!(WearSimulator::new(&cfg).is_err());
    }
}
