//! A twentieth body model, built apart after all nineteen: the lifter moves
//! the end effector in task space and the joints follow from inverse
//! kinematics with redundancy.
//!
//! Each rep is a path for the working foot (the cable handle's arc, a band's
//! line of pull, an arc up and back off the bed), for the knee against a
//! machine's pad, or for the height of the free hip in a hip hitch. A target
//! travels along it with the lifter's own speed profile (bell-shaped, front-
//! or back-loaded, with a dwell near the top), to a height chosen per rep
//! that drifts over a set. A leg chain (pelvis 6-dof over the stance foot,
//! the bed or the seat; hip 3-dof, knee, ankle 2-dof; trunk lean) is solved
//! every internal step by weighted damped least squares toward the target.
//! Per-lifter joint costs and soft limits decide the strategy: when the
//! abduction is expensive or near its limit, the pelvis (obliquity,
//! rotation), the hip's flexion and rotation take the motion from the null
//! space, where a secondary task with its own gain and lag keeps the body's
//! centre of mass over its support. The joints follow the solution through a
//! second-order lag with per-lifter stiffness, so a fast target is followed
//! late and overshoots.
//!
//! An agenda per session (the lead-in, working sets, the other leg's set,
//! supersets, walks to the water bottle, the bench and the phone, the
//! cable's pin, stretches, re-straps, a partner talking, a cool-down) drawn
//! from per-lifter habits over rehab, gym, athlete and video populations.
//! Sets alternate legs rep by rep for some, are done holding a chair with a
//! sliding hand, counted aloud with pauses at 5 and 10, held at the top.
//!
//! The sensor sits on the shank or the sacrum on a damped soft-tissue
//! spring, its strap creeping about the shank; specific force and angular
//! rate come from finite differences of the forward kinematics at 1 kHz,
//! averaged over each of the sensor's own (drifting) sample periods; scale,
//! cross-axis, bias and drift, noise, quantisation, saturation, drops, gaps
//! and stamp jitter follow. The truth is measured on the simulated joints.
//! Built without reading the counter or the other body models.

use super::sim::{SimConfig, Truth, TruthFlag, TruthRep, TruthSet};
use super::{gauss, round3};
use crate::motion::FlagKind;
use crate::sample::STANDARD_GRAVITY;
use crate::{Exercise, Placement, Sample, Side};
use nalgebra::{Matrix3, SMatrix, UnitQuaternion, Vector3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::f64::consts::PI;

type V3 = Vector3<f64>;
type M3 = Matrix3<f64>;

/// Degrees of freedom of the chain.
const N: usize = 13;
/// Pelvis shift over the stance foot: lateral (toward the free side), up, back (m).
const PX: usize = 0;
const PY: usize = 1;
const PZ: usize = 2;
/// Pelvis obliquity (free side up +), tilt (about the lateral axis), rotation about the vertical.
const ROLL: usize = 3;
const TILT: usize = 4;
const YAW: usize = 5;
/// Working hip: abduction, flexion, rotation; knee flexion; ankle (two).
const ABD: usize = 6;
const FLEX: usize = 7;
const ROT: usize = 8;
const KNEE: usize = 9;
const ANK1: usize = 10;
const ANK2: usize = 11;
/// Trunk lean toward the stance side.
const LEAN: usize = 12;

/// The internal step, s.
const DT: f64 = 0.001;
/// Internal steps per inverse-kinematics solve.
const IK_EVERY: usize = 20;
/// Internal steps per truth probe (100 Hz).
const PROBE_EVERY: usize = 10;

fn d2r(d: f64) -> f64 {
    d * PI / 180.0
}

fn r2d(r: f64) -> f64 {
    r * 180.0 / PI
}

fn mrx(a: f64) -> M3 {
    let (s, c) = a.sin_cos();
    M3::new(1.0, 0.0, 0.0, 0.0, c, -s, 0.0, s, c)
}

fn mry(a: f64) -> M3 {
    let (s, c) = a.sin_cos();
    M3::new(c, 0.0, s, 0.0, 1.0, 0.0, -s, 0.0, c)
}

fn mrz(a: f64) -> M3 {
    let (s, c) = a.sin_cos();
    M3::new(c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0)
}

/// The mirror taking the model's frame (X toward the free side) to the body's (X right).
fn mirror() -> M3 {
    M3::new(-1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
}

/// Minimum jerk, 0..1 → 0..1.
fn mj(x: f64) -> f64 {
    let x = x.clamp(0.0, 1.0);
    x * x * x * (10.0 - 15.0 * x + 6.0 * x * x)
}

/// A monotone time warp of 0..1: k > 0 front-loads, k < 0 back-loads.
fn warp(x: f64, k: f64) -> f64 {
    let x = x.clamp(0.0, 1.0);
    x + k * x * (1.0 - x)
}

/// An angle wrapped to -π..π.
fn wrap(a: f64) -> f64 {
    (a + PI).rem_euclid(2.0 * PI) - PI
}

fn uni(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    if hi <= lo {
        lo
    } else {
        rng.gen_range(lo..hi)
    }
}

/// Who the lifter is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Population {
    /// Rehab and older adults: small, slow, shaky, often holding a chair.
    Rehab,
    /// General gym-goers.
    Gym,
    /// Athletes: large, fast, some ballistic.
    Athlete,
    /// Following a phone video: paced, held.
    Video,
}

/// One lifter: a body, a strategy (joint costs), a tempo and habits.
#[derive(Debug, Clone)]
struct Lifter {
    pop: Population,
    /// Hip width (hip centre to hip centre), thigh, shank, ankle height, m.
    w: f64,
    lt: f64,
    ls: f64,
    foot_h: f64,
    /// Joint costs of the weighted least squares (the strategy).
    cost: [f64; N],
    /// Soft limit of the abduction, rad.
    abd_limit: f64,
    /// Tracking lag: natural frequency (rad/s) and damping, leg and pelvis.
    omega_leg: f64,
    zeta_leg: f64,
    omega_pelvis: f64,
    zeta_pelvis: f64,
    /// Balance task: gain and lag (s).
    bal_gain: f64,
    bal_lag: f64,
    /// Range (task angle at the top, rad) the lifter aims for.
    range: f64,
    /// Tempo: up, down, bottom pause, top hold (s) and their spread.
    up_s: f64,
    down_s: f64,
    pause_s: f64,
    hold_s: f64,
    tempo_sd: f64,
    /// Speed profile warps (up, down).
    warp_up: f64,
    warp_down: f64,
    /// Tremor (rad) and postural sway (rad).
    tremor: f64,
    tremor_hz: f64,
    sway: f64,
    /// Habits.
    holds_chair: bool,
    counts_aloud: bool,
    alternates: bool,
    quick_start: bool,
    /// Forward tilt of the path a clean rep still has, rad.
    path_tilt: f64,
    /// Flatness of the band's line against the cable's arc (1 = arc).
    arc: f64,
}

impl Lifter {
    fn draw(rng: &mut ChaCha8Rng, cfg: &SimConfig) -> Lifter {
        let pop = match rng.gen_range(0..100) {
            0..=21 => Population::Rehab,
            22..=61 => Population::Gym,
            62..=79 => Population::Athlete,
            _ => Population::Video,
        };
        let scale = uni(rng, 0.9, 1.1);
        let ex = cfg.exercise;
        // The range of the task angle (rad) at the top of a rep.
        let (lo, hi) = match (ex, pop) {
            (Exercise::HipHitch, Population::Rehab) => (4.0, 7.0),
            (Exercise::HipHitch, Population::Athlete) => (8.0, 12.0),
            (Exercise::HipHitch, _) => (5.5, 10.0),
            (Exercise::SeatedMachineAbduction, Population::Rehab) => (12.0, 20.0),
            (Exercise::SeatedMachineAbduction, Population::Athlete) => (28.0, 40.0),
            (Exercise::SeatedMachineAbduction, _) => (18.0, 32.0),
            (_, Population::Rehab) => (11.0, 20.0),
            (_, Population::Gym) => (25.0, 45.0),
            (_, Population::Athlete) => (45.0, 63.0),
            (_, Population::Video) => (20.0, 38.0),
        };
        let range = d2r(uni(rng, lo, hi));
        let (up, down, pause, hold) = match pop {
            Population::Rehab => (
                uni(rng, 1.0, 1.9),
                uni(rng, 1.5, 2.8),
                uni(rng, 0.4, 1.4),
                if rng.gen_bool(0.4) {
                    uni(rng, 0.5, 2.0)
                } else {
                    uni(rng, 0.0, 0.3)
                },
            ),
            Population::Gym => (
                uni(rng, 0.6, 1.2),
                uni(rng, 0.9, 2.0),
                uni(rng, 0.0, 0.6),
                if rng.gen_bool(0.25) {
                    uni(rng, 0.5, 1.5)
                } else {
                    uni(rng, 0.0, 0.4)
                },
            ),
            Population::Athlete => (
                uni(rng, 0.35, 0.75),
                uni(rng, 0.6, 1.3),
                uni(rng, 0.0, 0.3),
                if rng.gen_bool(0.3) {
                    uni(rng, 0.8, 2.5)
                } else {
                    uni(rng, 0.0, 0.2)
                },
            ),
            Population::Video => (
                uni(rng, 0.8, 1.4),
                uni(rng, 1.0, 2.0),
                uni(rng, 0.2, 0.8),
                if rng.gen_bool(0.6) {
                    uni(rng, 0.8, 2.0)
                } else {
                    uni(rng, 0.1, 0.5)
                },
            ),
        };
        let tempo_sd = match pop {
            Population::Video => 0.03,
            Population::Rehab => 0.15,
            _ => uni(rng, 0.05, 0.12),
        };
        // The strategy: abduction costs 1; the rest is relative to it. A
        // weak abductor makes everything else cheaper by comparison.
        let weak = uni(rng, 1.0, 1.8);
        let mut cost = [1.0; N];
        cost[PX] = uni(rng, 250.0, 600.0) / weak;
        cost[PY] = 12000.0;
        cost[PZ] = uni(rng, 200.0, 500.0);
        // Clean reps keep the pelvis within a few degrees however far the leg goes.
        cost[ROLL] = (uni(rng, 14.0, 30.0) / weak).max(r2d(range) * 1.25 / 3.0);
        cost[TILT] = uni(rng, 10.0, 25.0);
        cost[YAW] = uni(rng, 5.0, 15.0) / weak;
        cost[ABD] = 1.0;
        cost[FLEX] = uni(rng, 4.0, 10.0) / weak;
        cost[ROT] = uni(rng, 3.0, 8.0) / weak;
        cost[KNEE] = uni(rng, 8.0, 20.0);
        cost[ANK1] = 5.0;
        cost[ANK2] = 5.0;
        cost[LEAN] = uni(rng, 15.0, 40.0);
        let stiff = match pop {
            Population::Rehab => uni(rng, 0.6, 0.9),
            Population::Athlete => uni(rng, 0.9, 1.3),
            _ => uni(rng, 0.7, 1.1),
        };
        Lifter {
            pop,
            w: 0.17 * scale,
            lt: 0.43 * scale,
            ls: 0.42 * scale,
            foot_h: 0.075 * scale,
            cost,
            // The soft limit sits well above what a clean rep asks.
            abd_limit: range * uni(rng, 1.45, 1.8) + d2r(8.0),
            omega_leg: 2.0 * PI * uni(rng, 1.6, 3.2) * stiff,
            zeta_leg: uni(rng, 0.45, 0.85),
            omega_pelvis: 2.0 * PI * uni(rng, 0.9, 1.8) * stiff,
            zeta_pelvis: uni(rng, 0.6, 1.0),
            bal_gain: uni(rng, 4.0, 14.0),
            bal_lag: uni(rng, 0.08, 0.3),
            range,
            up_s: up,
            down_s: down,
            pause_s: pause,
            hold_s: hold,
            tempo_sd,
            warp_up: uni(rng, -0.7, 0.7),
            warp_down: uni(rng, -0.7, 0.7),
            tremor: match pop {
                Population::Rehab => d2r(uni(rng, 0.2, 0.7)),
                _ => d2r(uni(rng, 0.02, 0.15)),
            },
            tremor_hz: uni(rng, 5.0, 9.0),
            sway: d2r(match pop {
                Population::Rehab => uni(rng, 0.5, 1.1),
                _ => uni(rng, 0.25, 0.7),
            }),
            holds_chair: match pop {
                Population::Rehab => rng.gen_bool(0.75),
                Population::Video => rng.gen_bool(0.3),
                _ => rng.gen_bool(0.12),
            },
            counts_aloud: rng.gen_bool(0.25),
            alternates: pop != Population::Rehab && rng.gen_bool(0.3),
            quick_start: rng.gen_bool(0.25),
            path_tilt: d2r(uni(rng, -4.0, 5.0)),
            arc: uni(rng, 0.88, 1.0),
        }
    }

    fn leg(&self) -> f64 {
        self.lt + self.ls
    }
}

/// The body's posture between and during sets.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Posture {
    /// Standing (on one leg during a set, on both otherwise).
    Stand,
    /// Lying on the side, the working leg on top.
    Side,
    /// Lying on the back.
    Supine,
    /// Sitting (a machine, a bench).
    Seated,
}

impl Posture {
    /// The joints' rest values.
    fn rest(self) -> [f64; N] {
        let mut q = [0.0; N];
        q[KNEE] = 0.05;
        match self {
            Posture::Stand => {}
            Posture::Side => {
                q[FLEX] = 0.12;
                q[KNEE] = 0.12;
            }
            Posture::Supine => {
                q[KNEE] = 0.08;
            }
            Posture::Seated => {
                q[FLEX] = 1.45;
                q[KNEE] = 1.5;
                q[TILT] = -0.12;
                q[ANK1] = 0.1;
            }
        }
        q
    }

    /// Orientation of the body (X toward the free side as the model sees it,
    /// after the mirror) in the room; `up_right`: the body's right side is
    /// the one on top when lying on the side.
    fn orient(self, up_right: bool) -> M3 {
        match self {
            Posture::Stand | Posture::Seated => M3::identity(),
            // Lying: the head along +Z of the room, the back down when supine.
            Posture::Supine => mrx(PI / 2.0),
            Posture::Side => {
                if up_right {
                    mrz(PI / 2.0) * mrx(PI / 2.0) * mry(0.0)
                } else {
                    mrz(-PI / 2.0) * mrx(PI / 2.0)
                }
            }
        }
    }

    /// Height of the body's origin (the stance foot) in the room, m.
    fn origin_height(self, l: &Lifter) -> f64 {
        match self {
            Posture::Stand => 0.0,
            Posture::Seated => -0.42,
            Posture::Side | Posture::Supine => 0.25 + 0.5 * l.w,
        }
    }
}

/// Which bone the sensor is on.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Bone {
    /// The working leg's shank (the sensor leg doing reps).
    WorkingShank,
    /// The stance leg's shank (the sensor leg standing while the other works).
    StanceShank,
    /// The sacrum.
    Pelvis,
}

/// What a rep attempt is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum AttemptKind {
    Clean,
    Abandoned,
    Comp(FlagKind),
}

/// One attempt at a rep, in task space.
#[derive(Debug, Clone)]
struct Attempt {
    t0: f64,
    up: f64,
    hold: f64,
    down: f64,
    /// Height (fraction of the lifter's range; 1 = the range).
    amp: f64,
    kind: AttemptKind,
    /// The sensor leg's rep (false: the other leg's, in an alternating set).
    sensor_leg: bool,
    warp_up: f64,
    warp_down: f64,
    /// Thrown past the top (fraction), momentum only.
    throw: f64,
    /// Size of the compensation (rad) where it is a posture or tilt.
    size: f64,
}

impl Attempt {
    fn end(&self) -> f64 {
        self.t0 + self.up + self.hold + self.down
    }

    /// The target's place on the path (0 = neutral, 1 = the range), at `t`.
    fn s(&self, t: f64) -> f64 {
        let u = t - self.t0;
        if u <= 0.0 || u >= self.up + self.hold + self.down {
            return 0.0;
        }
        let amp = self.amp;
        if u < self.up {
            let x = u / self.up;
            let base = amp * mj(warp(x, self.warp_up));
            if self.throw > 0.0 {
                // Thrown: overshoots past the top and is caught.
                let bump = self.throw * amp * (PI * x).sin().powi(2) * x * x;
                return base + bump;
            }
            return base;
        }
        if u < self.up + self.hold {
            // A dwell near the top that sags a little.
            let x = (u - self.up) / self.hold.max(1e-6);
            return amp * (1.0 - 0.04 * x);
        }
        let x = (u - self.up - self.hold) / self.down;
        let top = if self.hold > 0.0 { amp * 0.96 } else { amp };
        top * (1.0 - mj(warp(x, self.warp_down)))
    }
}

/// A working set: its attempts and its frame.
#[derive(Debug, Clone)]
struct SetPlan {
    attempts: Vec<Attempt>,
    /// The stance is taken (weight shifted) over this long at the start.
    shift_s: f64,
    /// Hand slides on the chair or wall: times.
    slides: Vec<f64>,
    holds_chair: bool,
    /// True for the lifter's truth sets (false: the other leg's set, a distraction).
    counted: bool,
}

/// What the body does in a stretch of time.
#[derive(Debug, Clone)]
enum Act {
    /// A set, solved by inverse kinematics.
    Set(SetPlan),
    /// Still in a posture, with sway (and gestures when `talk`).
    Still { talk: bool },
    /// Walking straight ahead.
    Walk { speed: f64, cadence: f64 },
    /// Turning on the spot.
    Turn,
    /// Changing posture (sit, stand, lie down, roll, get up).
    Change,
    /// A scripted movement of the legs.
    Script(Script),
}

/// Movements between sets.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Script {
    /// Knee bounce on a bench, on the phone.
    Phone,
    /// Drinking: still, a tilt back.
    Drink,
    /// Standing quad stretch of the sensor leg.
    QuadStretch,
    /// Re-racking the cable's pin: bending down.
    Rerack,
    /// One loose swing of the leg.
    Swing,
    /// Shaking the leg out.
    Shake,
    /// Foot up on the bench, re-strapping the sensor.
    Restrap,
    /// Bodyweight squats (a superset).
    Squats,
    /// Band walk: side steps (a superset).
    BandWalk,
    /// Clamshells on the side (a superset).
    Clamshell,
}

/// One stretch of the agenda.
#[derive(Debug, Clone)]
struct Seg {
    t0: f64,
    t1: f64,
    act: Act,
    /// Posture at the start and the end (they differ only for `Change`).
    from: Posture,
    to: Posture,
    /// Root in the room at the start and the end: position and heading.
    o0: V3,
    o1: V3,
    psi0: f64,
    psi1: f64,
    /// The model's frame is the body's mirrored (the left leg works).
    mirrored: bool,
    /// Where the sensor is (the shank it is on changes role in the other leg's set).
    bone: Bone,
    /// Written to the truth's distractions.
    label: Option<String>,
}

/// The agenda's builder: keeps the clock, the root and the posture.
struct Agenda {
    segs: Vec<Seg>,
    t: f64,
    o: V3,
    psi: f64,
    posture: Posture,
    base_mirror: bool,
    base_bone: Bone,
}

impl Agenda {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        dur: f64,
        act: Act,
        to: Posture,
        o1: V3,
        psi1: f64,
        mirrored: bool,
        bone: Bone,
        label: Option<&str>,
    ) {
        let seg = Seg {
            t0: self.t,
            t1: self.t + dur,
            act,
            from: self.posture,
            to,
            o0: self.o,
            o1,
            psi0: self.psi,
            psi1,
            mirrored,
            bone,
            label: label.map(str::to_string),
        };
        self.t += dur;
        self.o = o1;
        self.psi = psi1;
        self.posture = to;
        self.segs.push(seg);
    }

    fn still(&mut self, dur: f64, talk: bool, label: Option<&str>) {
        let (o, psi, p) = (self.o, self.psi, self.posture);
        let (m, b) = (self.base_mirror, self.base_bone);
        self.push(dur, Act::Still { talk }, p, o, psi, m, b, label);
    }

    fn change(&mut self, dur: f64, to: Posture, l: &Lifter, label: &str) {
        let mut o = self.o;
        o.y = to.origin_height(l);
        let psi = self.psi;
        let (m, b) = (self.base_mirror, self.base_bone);
        self.push(dur, Act::Change, to, o, psi, m, b, Some(label));
    }

    fn walk(&mut self, dist: f64, speed: f64, cadence: f64, label: &str) {
        let dir = V3::new(-self.psi.sin(), 0.0, -self.psi.cos());
        let o = self.o + dir * dist;
        let psi = self.psi;
        let (m, b) = (self.base_mirror, self.base_bone);
        self.push(
            dist / speed,
            Act::Walk { speed, cadence },
            Posture::Stand,
            o,
            psi,
            m,
            b,
            Some(label),
        );
    }

    fn turn(&mut self, by: f64, label: &str) {
        let o = self.o;
        let psi = self.psi + by;
        let (m, b) = (self.base_mirror, self.base_bone);
        self.push(
            0.6 + by.abs() / PI,
            Act::Turn,
            Posture::Stand,
            o,
            psi,
            m,
            b,
            Some(label),
        );
    }

    fn script(&mut self, dur: f64, s: Script, label: &str) {
        let (o, psi, p) = (self.o, self.psi, self.posture);
        let (m, b) = (self.base_mirror, self.base_bone);
        self.push(dur, Act::Script(s), p, o, psi, m, b, Some(label));
    }
}

/// Draws a set's attempts from the lifter's habits.
#[allow(clippy::too_many_arguments)]
fn plan_set(
    rng: &mut ChaCha8Rng,
    l: &Lifter,
    cfg: &SimConfig,
    comps: &[FlagKind],
    reps: usize,
    t_first: f64,
    alternating: bool,
    fatigue: f64,
) -> (Vec<Attempt>, f64) {
    let mut out = Vec::new();
    let mut t = t_first;
    // The set's height and its drift over the set.
    let set_amp = 1.0 + 0.05 * gauss(rng) - 0.04 * fatigue;
    let drift = uni(rng, -0.14, 0.08);
    let abandon_at = if rng.gen_bool(0.3) {
        Some(rng.gen_range(0..reps.max(1)))
    } else {
        None
    };
    let mut k = 0;
    let mut done = 0;
    while done < reps {
        if abandon_at == Some(done) && k == done {
            // An attempt given up low: up a little, straight back, a breath.
            let up = l.up_s * uni(rng, 0.4, 0.7);
            let a = Attempt {
                t0: t,
                up,
                hold: 0.0,
                down: uni(rng, 0.4, 0.9),
                amp: uni(rng, 0.1, 0.26),
                kind: AttemptKind::Abandoned,
                sensor_leg: true,
                warp_up: l.warp_up,
                warp_down: 0.0,
                throw: 0.0,
                size: 0.0,
            };
            t = a.end() + uni(rng, 0.9, 2.2);
            out.push(a);
            k += 1;
            continue;
        }
        let prog = done as f64 / reps.max(2) as f64 - 0.5;
        let amp = (set_amp * (1.0 + drift * prog) + 0.035 * gauss(rng)).clamp(0.82, 1.2);
        let jitter =
            |rng: &mut ChaCha8Rng, x: f64| x * (1.0 + l.tempo_sd * gauss(rng)).clamp(0.6, 1.6);
        let mut a = Attempt {
            t0: t,
            up: jitter(rng, l.up_s).max(0.3),
            hold: jitter(rng, l.hold_s).max(0.0),
            down: jitter(rng, l.down_s).max(0.45),
            amp,
            kind: AttemptKind::Clean,
            sensor_leg: true,
            warp_up: (l.warp_up + 0.15 * gauss(rng)).clamp(-0.9, 0.9),
            warp_down: (l.warp_down + 0.15 * gauss(rng)).clamp(-0.9, 0.9),
            throw: 0.0,
            size: 0.0,
        };
        if a.hold < 0.12 {
            a.hold = 0.0;
        }
        if !comps.is_empty() && rng.gen_bool(cfg.compensation_rate.clamp(0.0, 1.0)) {
            let kind = comps[rng.gen_range(0..comps.len())];
            a.kind = AttemptKind::Comp(kind);
            match kind {
                FlagKind::Momentum => {
                    a.up = uni(rng, 0.28, 0.42);
                    a.hold = 0.0;
                    a.down = uni(rng, 0.4, 0.65);
                    a.throw = uni(rng, 0.25, 0.45);
                    a.warp_up = uni(rng, 0.3, 0.8);
                }
                FlagKind::PartialRange => a.amp *= uni(rng, 0.46, 0.62),
                FlagKind::HipFlexionDrift => a.size = d2r(uni(rng, 24.0, 38.0)),
                FlagKind::HipHike => {
                    a.size = d2r(if cfg.exercise == Exercise::HipHitch {
                        uni(rng, 9.0, 12.0)
                    } else {
                        uni(rng, 8.0, 13.0)
                    })
                }
                FlagKind::PelvicDrop => a.size = d2r(uni(rng, 9.0, 13.0)),
                FlagKind::TrunkSway => {
                    a.size = d2r(uni(rng, 8.5, 12.0));
                    a.up = a.up.max(0.9);
                    a.down = a.down.max(1.1);
                }
            }
        }
        if cfg.exercise == Exercise::HipHitch
            && matches!(a.kind, AttemptKind::Comp(FlagKind::HipHike))
        {
            // Pulled past level and held there a moment.
            a.down = a.down.max(1.8);
        }
        let end = a.end();
        out.push(a);
        done += 1;
        k += 1;
        let mut pause = (l.pause_s * (1.0 + 0.3 * gauss(rng))).max(0.0);
        if l.counts_aloud && (done == 5 || done == 10) {
            pause += uni(rng, 1.2, 3.0);
        }
        if alternating && done < reps {
            // The other leg's rep between two of the sensor leg's.
            let t1 = end + pause.max(0.6) + 0.6;
            let b = Attempt {
                t0: t1,
                up: jitter(rng, l.up_s).max(0.3),
                hold: 0.0,
                down: jitter(rng, l.down_s).max(0.45),
                amp: amp * uni(rng, 0.9, 1.05),
                kind: AttemptKind::Clean,
                sensor_leg: false,
                warp_up: l.warp_up,
                warp_down: l.warp_down,
                throw: 0.0,
                size: 0.0,
            };
            t = b.end() + pause.max(0.6) + 0.6;
            out.push(b);
        } else {
            t = end + pause;
        }
    }
    (out, t)
}

/// The chain's forward kinematics in the model's frame (X toward the free side, Y up, Z back).
#[derive(Debug, Clone)]
struct Pose {
    hs: V3,
    rp: M3,
    hw: V3,
    knee: V3,
    rs: M3,
    ankle: V3,
    com: V3,
}

fn fk(l: &Lifter, q: &[f64; N]) -> Pose {
    let hs = V3::new(-0.5 * l.w + q[PX], l.leg() + l.foot_h + q[PY], q[PZ]);
    let rp = mry(q[YAW]) * mrz(q[ROLL]) * mrx(q[TILT]);
    let hw = hs + rp * V3::new(l.w, 0.0, 0.0);
    let rt = rp * mrx(q[FLEX]) * mrz(q[ABD]) * mry(q[ROT]);
    let knee = hw + rt * V3::new(0.0, -l.lt, 0.0);
    let rs = rt * mrx(-q[KNEE]);
    let ankle = knee + rs * V3::new(0.0, -l.ls, 0.0);
    let pc = hs + rp * V3::new(0.5 * l.w, 0.0, 0.0);
    let trunk = pc + rp * mrz(q[LEAN]) * V3::new(0.0, 0.32, 0.0);
    let stance_leg = 0.5 * (hs + V3::new(-0.5 * l.w, 0.0, 0.0));
    let com = trunk * 0.58
        + pc * 0.12
        + (hw * 0.5 + knee * 0.35 + ankle * 0.15) * 0.16
        + stance_leg * 0.14;
    Pose {
        hs,
        rp,
        hw,
        knee,
        rs,
        ankle,
        com,
    }
}

/// The task: which point of the chain, and which of its coordinates count.
#[derive(Debug, Clone, Copy)]
struct Task {
    target: V3,
    select: V3,
    /// The point: 0 ankle, 1 knee, 2 working hip.
    point: u8,
}

fn task_point(p: &Pose, point: u8) -> V3 {
    match point {
        0 => p.ankle,
        1 => p.knee,
        _ => p.hw,
    }
}

/// The balance task: keep the centre of mass over `support` (x and z, weighted by `axes`).
#[derive(Debug, Clone, Copy)]
struct Balance {
    support: V3,
    axes: V3,
    gain: f64,
}

/// Soft limits: (low, high) per joint, rad or m.
fn limits(l: &Lifter) -> [(f64, f64); N] {
    [
        (-0.12, 0.09),
        (-0.08, 0.03),
        (-0.08, 0.08),
        (d2r(-16.0), d2r(18.0)),
        (d2r(-25.0), d2r(40.0)),
        (d2r(-30.0), d2r(30.0)),
        (d2r(-15.0), l.abd_limit),
        (d2r(-20.0), d2r(110.0)),
        (d2r(-35.0), d2r(35.0)),
        (-0.2, d2r(140.0)),
        (d2r(-30.0), d2r(30.0)),
        (d2r(-20.0), d2r(20.0)),
        (d2r(-15.0), d2r(15.0)),
    ]
}

/// One weighted damped-least-squares solve (a few iterations) of `task`,
/// with the posture `rest`, the soft limits and the balance task in the null space.
fn ik_solve(
    l: &Lifter,
    q: &mut [f64; N],
    task: &Task,
    cost: &[f64; N],
    rest: &[f64; N],
    bal: Option<&Balance>,
    lim: &[(f64, f64); N],
) {
    const H: f64 = 1e-5;
    let lambda2 = 2e-5;
    for _ in 0..2 {
        let p0 = fk(l, q);
        let x0 = task_point(&p0, task.point);
        let mut j = SMatrix::<f64, 3, N>::zeros();
        let mut jb = SMatrix::<f64, 3, N>::zeros();
        for i in 0..N {
            if i == ANK1 || i == ANK2 {
                continue;
            }
            let mut qq = *q;
            qq[i] += H;
            let p = fk(l, &qq);
            let dx = (task_point(&p, task.point) - x0) / H;
            let dc = (p.com - p0.com) / H;
            for r in 0..3 {
                j[(r, i)] = dx[r] * task.select[r];
                jb[(r, i)] = dc[r];
            }
        }
        // Costs grow steeply past 80% of a joint's range: soft limits.
        let mut winv = [0.0; N];
        for i in 0..N {
            let (lo, hi) = lim[i];
            let span = hi - lo;
            let over = ((q[i] - (hi - 0.08 * span)) / (0.08 * span))
                .max((lo + 0.05 * span - q[i]) / (0.05 * span))
                .max(0.0);
            winv[i] = 1.0 / (cost[i] * (1.0 + 25.0 * over * over));
        }
        let e = (task.target - x0).component_mul(&task.select);
        let mut a = M3::identity() * lambda2;
        for r in 0..3 {
            for c in 0..3 {
                let mut s = 0.0;
                for i in 0..N {
                    s += j[(r, i)] * winv[i] * j[(c, i)];
                }
                a[(r, c)] += s;
            }
        }
        let ainv = a.try_inverse().unwrap_or_else(M3::identity);
        let y = ainv * e;
        let mut dq = [0.0; N];
        for i in 0..N {
            dq[i] = winv[i] * (j[(0, i)] * y[0] + j[(1, i)] * y[1] + j[(2, i)] * y[2]);
        }
        // Secondary: the posture and the balance, as a gradient in the cost metric.
        let mut z = [0.0; N];
        let eb = match bal {
            Some(b) => (p0.com - b.support).component_mul(&b.axes) * b.gain,
            None => V3::zeros(),
        };
        for i in 0..N {
            let g = cost[i] * (q[i] - rest[i])
                + (jb[(0, i)] * eb[0] + jb[(1, i)] * eb[1] + jb[(2, i)] * eb[2]);
            z[i] = -0.35 * winv[i] * g;
        }
        // Project z into the task's null space: z - J#(J z).
        let jz = j * SMatrix::<f64, N, 1>::from_row_slice(&z);
        let yz = ainv * jz;
        for i in 0..N {
            let back = winv[i] * (j[(0, i)] * yz[0] + j[(1, i)] * yz[1] + j[(2, i)] * yz[2]);
            q[i] += dq[i] + z[i] - back;
            let (lo, hi) = lim[i];
            let m = 0.08 * (hi - lo);
            q[i] = q[i].clamp(lo - m, hi + m);
        }
    }
}

/// One stored moment for the truth, at 100 Hz.
#[derive(Debug, Clone, Copy)]
struct Probe {
    t: f64,
    /// The sensor bone's orientation in the room.
    bone: UnitQuaternion<f64>,
    /// Obliquity of the cfg's free side, rad (free side up +).
    obliq: f64,
    /// The sensor leg's abduction in the body (obliquity + hip), rad.
    leg_abd: f64,
    /// The sensor leg's forward angle (flexion drift), rad.
    leg_fwd: f64,
}

/// The sensor: mounting, soft tissue, errors, clock.
struct Unit {
    mount: M3,
    /// Place on the shank: fraction from the knee, radius, strap angle and its creep (rad/s).
    frac: f64,
    radius: f64,
    beta: f64,
    creep: f64,
    /// Soft tissue: natural frequency (rad/s), damping; rotational too.
    w_tissue: f64,
    z_tissue: f64,
    w_rot: f64,
    z_rot: f64,
    scale: M3,
    acc_bias: V3,
    gyro_bias0: V3,
    acc_range: f64,
    gyro_range: f64,
    acc_sd: f64,
    gyro_sd: f64,
    /// Crystal error (the true period is nominal × (1 + drift)).
    drift: f64,
}

impl Unit {
    fn draw(rng: &mut ChaCha8Rng, cfg: &SimConfig, pop: Population) -> Unit {
        let mount = if cfg.placement == Placement::Ankle {
            if cfg.random_mounting {
                let axis = V3::new(gauss(rng), gauss(rng), gauss(rng));
                let ang = uni(rng, 0.0, 2.0 * PI);
                *UnitQuaternion::from_axis_angle(&nalgebra::Unit::new_normalize(axis), ang)
                    .to_rotation_matrix()
                    .matrix()
            } else {
                // Sensor z out of the leg's side, y up the shank.
                M3::new(0.0, 0.0, 1.0, 0.0, 1.0, 0.0, -1.0, 0.0, 0.0)
            }
        } else if cfg.random_mounting {
            mrx(d2r(uni(rng, -15.0, 15.0)))
                * mrz(d2r(uni(rng, -10.0, 10.0)))
                * mry(d2r(uni(rng, -8.0, 8.0)))
        } else {
            M3::identity()
        };
        let mut scale = M3::identity();
        for r in 0..3 {
            for c in 0..3 {
                scale[(r, c)] = if r == c {
                    1.0 + 0.015 * gauss(rng)
                } else {
                    0.006 * gauss(rng)
                };
            }
        }
        let b = cfg.gyro_bias_dps;
        let (acc_range, gyro_range) = match rng.gen_range(0..10) {
            0..=5 => (16.0, 2000.0),
            6..=8 => (8.0, 1000.0),
            _ => {
                if pop == Population::Athlete {
                    (8.0, 1000.0)
                } else {
                    (4.0, 500.0)
                }
            }
        };
        Unit {
            mount,
            frac: uni(rng, 0.55, 0.93),
            radius: uni(rng, 0.035, 0.055),
            beta: if cfg.random_mounting {
                uni(rng, -PI, PI)
            } else {
                0.0
            },
            creep: d2r(uni(rng, -3.0, 3.0)) / 60.0,
            w_tissue: 2.0 * PI * uni(rng, 9.0, 18.0),
            z_tissue: uni(rng, 0.12, 0.35),
            w_rot: 2.0 * PI * uni(rng, 7.0, 14.0),
            z_rot: uni(rng, 0.15, 0.4),
            scale,
            acc_bias: V3::new(gauss(rng), gauss(rng), gauss(rng)) * 0.04,
            gyro_bias0: V3::new(uni(rng, -b, b), uni(rng, -b, b), uni(rng, -b, b)),
            acc_range: acc_range * STANDARD_GRAVITY,
            gyro_range,
            acc_sd: 0.03 * cfg.noise,
            gyro_sd: 0.12 * cfg.noise,
            drift: uni(rng, -0.02, 0.02),
        }
    }
}

/// The `reach` body model: its samples, one by one.
pub struct ReachSimulator {
    samples: std::vec::IntoIter<Sample>,
}

impl ReachSimulator {
    /// Simulates the whole session `cfg` asks for: the samples and the truth.
    pub fn new(cfg: &SimConfig) -> Result<(Self, Truth), String> {
        cfg.validate()?;
        let (samples, truth) = simulate(cfg);
        Ok((
            ReachSimulator {
                samples: samples.into_iter(),
            },
            truth,
        ))
    }
}

impl Iterator for ReachSimulator {
    type Item = Sample;
    fn next(&mut self) -> Option<Sample> {
        self.samples.next()
    }
}

/// The exercise's posture during a set.
fn set_posture(ex: Exercise) -> Posture {
    match ex {
        Exercise::SideLyingAbduction => Posture::Side,
        Exercise::SeatedMachineAbduction => Posture::Seated,
        _ => Posture::Stand,
    }
}

/// Builds the session's agenda.
fn build_agenda(rng: &mut ChaCha8Rng, cfg: &SimConfig, l: &Lifter) -> Agenda {
    let ex = cfg.exercise;
    let base_mirror = ex.free_side(cfg.side) == Side::Left;
    let base_bone = if cfg.placement == Placement::Pelvis {
        Bone::Pelvis
    } else {
        Bone::WorkingShank
    };
    let posture = set_posture(ex);
    let mut ag = Agenda {
        segs: Vec::new(),
        t: 0.0,
        o: V3::new(0.0, posture.origin_height(l), 0.0),
        psi: uni(rng, -PI, PI),
        posture,
        base_mirror,
        base_bone,
    };
    let comps = cfg.visible_compensations();
    let standing = posture == Posture::Stand;
    let lead = cfg.lead_in_s.unwrap_or_else(|| uni(rng, 0.5, 3.0)).max(0.0);
    // A warm-up before the first set for some (never when the lead-in is given).
    let warm_up =
        cfg.lead_in_s.is_none() && cfg.fidgets && standing && !l.quick_start && rng.gen_bool(0.3);
    if warm_up {
        ag.still(lead, false, None);
        for _ in 0..rng.gen_range(2..5) {
            ag.script(uni(rng, 1.1, 1.8), Script::Swing, "warm-up: a leg swing");
        }
        if rng.gen_bool(0.5) {
            ag.script(uni(rng, 8.0, 12.0), Script::BandWalk, "warm-up: band walk");
        }
        ag.still(uni(rng, 2.0, 5.0), false, None);
    }
    for set in 0..cfg.sets {
        let reps = rng.gen_range(cfg.reps_min..=cfg.reps_max);
        let settle = if ag.segs.is_empty() {
            lead + if l.quick_start {
                uni(rng, 0.05, 0.45)
            } else {
                uni(rng, 0.4, 2.0)
            }
        } else {
            uni(rng, 1.0, 3.5)
        };
        let shift = if ag.segs.is_empty() || !standing {
            0.0
        } else {
            uni(rng, 0.5, 1.0)
        };
        let alternating = l.alternates
            && standing
            && cfg.placement == Placement::Ankle
            && ex == Exercise::StandingCableAbduction
            && rng.gen_bool(0.5);
        let fatigue = set as f64 / cfg.sets.max(1) as f64;
        let t_first = ag.t + shift + settle;
        let (attempts, t_last) = plan_set(rng, l, cfg, &comps, reps, t_first, alternating, fatigue);
        let mut slides = Vec::new();
        if l.holds_chair && standing {
            for _ in 0..rng.gen_range(0..3) {
                slides.push(uni(rng, t_first, t_last));
            }
        }
        let plan = SetPlan {
            attempts,
            shift_s: shift,
            slides,
            holds_chair: l.holds_chair && standing,
            counted: true,
        };
        let tail = uni(rng, 1.0, 2.5);
        let (o, psi) = (ag.o, ag.psi);
        ag.push(
            t_last + tail - ag.t,
            Act::Set(plan),
            posture,
            o,
            psi,
            base_mirror,
            base_bone,
            None,
        );
        if set + 1 < cfg.sets {
            let rest = uni(rng, cfg.rest_min_s, cfg.rest_max_s);
            fill_rest(rng, cfg, l, &mut ag, rest, &comps);
        }
    }
    // Cool-down.
    if cfg.fidgets && rng.gen_bool(0.5) {
        cool_down(rng, cfg, l, &mut ag);
    }
    let end = uni(rng, 1.0, 3.0);
    ag.still(end, false, None);
    ag
}

fn cool_down(rng: &mut ChaCha8Rng, cfg: &SimConfig, l: &Lifter, ag: &mut Agenda) {
    if ag.posture == Posture::Side {
        ag.change(
            uni(rng, 1.5, 2.5),
            Posture::Supine,
            l,
            "rolls onto the back",
        );
        ag.still(uni(rng, 3.0, 8.0), false, Some("lies on the back"));
    } else if ag.posture == Posture::Stand {
        if cfg.placement == Placement::Ankle {
            ag.script(
                uni(rng, 10.0, 20.0),
                Script::QuadStretch,
                "stretches the quads",
            );
        }
        if cfg.walking {
            ag.still(uni(rng, 1.0, 2.0), false, None);
            ag.walk(
                uni(rng, 3.0, 6.0),
                uni(rng, 0.9, 1.3),
                uni(rng, 1.7, 2.0),
                "walks away",
            );
        }
    }
}

/// Fills a rest of `rest` seconds with what people do between sets, ending still.
fn fill_rest(
    rng: &mut ChaCha8Rng,
    cfg: &SimConfig,
    l: &Lifter,
    ag: &mut Agenda,
    rest: f64,
    comps: &[FlagKind],
) {
    let end = ag.t + rest;
    let home = ag.posture;
    let (o_home, psi_home) = (ag.o, ag.psi);
    ag.still(uni(rng, 2.0, 5.0), false, Some("catches breath"));
    let budget = |ag: &Agenda| end - ag.t - 6.0;
    let ankle = cfg.placement == Placement::Ankle;
    match home {
        Posture::Stand => {
            // The other leg's set, with the cuff swapped.
            if budget(ag) > 40.0
                && cfg.exercise == Exercise::StandingCableAbduction
                && rng.gen_bool(0.4)
            {
                other_leg_set(rng, cfg, l, ag, comps);
            }
            let mut n = 0;
            while budget(ag) > 12.0 && n < 6 {
                n += 1;
                let pick = rng.gen_range(0..10);
                match pick {
                    0 | 1 if cfg.walking => {
                        let d = uni(rng, 2.0, 6.0);
                        let v = uni(rng, 0.8, 1.3);
                        let c = uni(rng, 1.6, 2.0);
                        ag.turn(
                            PI * if rng.gen_bool(0.5) { 1.0 } else { -1.0 },
                            "turns round",
                        );
                        ag.walk(d, v, c, "walks to the water bottle");
                        ag.script(uni(rng, 3.0, 6.0), Script::Drink, "drinks");
                        ag.turn(PI, "turns round");
                        ag.walk(d, v, c, "walks back");
                        ag.still(uni(rng, 0.5, 1.5), false, None);
                    }
                    2 if cfg.walking || cfg.fidgets => {
                        ag.change(uni(rng, 1.2, 2.0), Posture::Seated, l, "sits on the bench");
                        ag.script(
                            uni(rng, 8.0, 25.0).min(budget(ag).max(4.0)),
                            Script::Phone,
                            "on the phone",
                        );
                        ag.change(uni(rng, 1.2, 2.0), Posture::Stand, l, "stands up");
                    }
                    3 if cfg.fidgets && cfg.exercise == Exercise::StandingCableAbduction => {
                        ag.script(uni(rng, 3.0, 5.0), Script::Rerack, "moves the cable's pin");
                    }
                    4 if cfg.fidgets => {
                        ag.script(uni(rng, 1.2, 2.0), Script::Swing, "swings the leg once");
                    }
                    5 if cfg.fidgets => {
                        ag.script(uni(rng, 1.5, 3.0), Script::Shake, "shakes the leg out");
                    }
                    6 if cfg.fidgets && ankle => {
                        ag.script(uni(rng, 6.0, 12.0), Script::Restrap, "re-straps the sensor");
                    }
                    7 if cfg.fidgets => {
                        if rng.gen_bool(0.5) {
                            ag.script(
                                uni(rng, 12.0, 20.0),
                                Script::Squats,
                                "superset: bodyweight squats",
                            );
                        } else {
                            ag.script(
                                uni(rng, 10.0, 16.0),
                                Script::BandWalk,
                                "superset: band walk",
                            );
                        }
                    }
                    8 if cfg.fidgets && ankle => {
                        ag.script(
                            uni(rng, 8.0, 16.0),
                            Script::QuadStretch,
                            "stretches the quads",
                        );
                    }
                    _ => {
                        let d = uni(rng, 4.0, 12.0).min(budget(ag).max(2.0));
                        ag.still(d, true, Some("talks with a partner"));
                    }
                }
            }
            // Back in place, facing the stack.
            if (ag.o - o_home).norm() > 0.05 || wrap(ag.psi - psi_home).abs() > 0.05 {
                let back = wrap(psi_home - ag.psi);
                ag.turn(back, "turns to the stack");
                let o = ag.o;
                let psi = ag.psi;
                let (m, b) = (ag.base_mirror, ag.base_bone);
                let d = (o_home - o).norm();
                ag.push(
                    d / 0.5 + 0.5,
                    Act::Walk {
                        speed: 0.5,
                        cadence: 1.4,
                    },
                    Posture::Stand,
                    o_home,
                    psi,
                    m,
                    b,
                    Some("steps into place"),
                );
            }
        }
        Posture::Side => {
            let mut n = 0;
            while budget(ag) > 12.0 && n < 5 {
                n += 1;
                match rng.gen_range(0..6) {
                    0 if cfg.walking && budget(ag) > 30.0 => {
                        ag.change(uni(rng, 2.5, 3.5), Posture::Stand, l, "gets up");
                        ag.walk(
                            uni(rng, 2.0, 4.0),
                            uni(rng, 0.8, 1.1),
                            uni(rng, 1.6, 1.9),
                            "walks to the water bottle",
                        );
                        ag.script(uni(rng, 3.0, 6.0), Script::Drink, "drinks");
                        ag.turn(PI, "turns round");
                        let o = o_home;
                        let psi = ag.psi;
                        let (m, b) = (ag.base_mirror, ag.base_bone);
                        let d = (o - ag.o).component_mul(&V3::new(1.0, 0.0, 1.0)).norm();
                        let mut o2 = o;
                        o2.y = 0.0;
                        ag.push(
                            d / 0.9 + 0.5,
                            Act::Walk {
                                speed: 0.9,
                                cadence: 1.7,
                            },
                            Posture::Stand,
                            o2,
                            psi,
                            m,
                            b,
                            Some("walks back"),
                        );
                        let back = wrap(psi_home - ag.psi);
                        ag.turn(back, "turns round");
                        ag.change(
                            uni(rng, 2.5, 3.5),
                            Posture::Side,
                            l,
                            "lies down on the side",
                        );
                    }
                    1 => {
                        ag.change(
                            uni(rng, 1.5, 2.5),
                            Posture::Supine,
                            l,
                            "rolls onto the back",
                        );
                        ag.still(uni(rng, 4.0, 10.0), false, Some("lies on the back"));
                        ag.change(
                            uni(rng, 1.5, 2.5),
                            Posture::Side,
                            l,
                            "rolls back onto the side",
                        );
                    }
                    2 if cfg.fidgets => {
                        ag.script(
                            uni(rng, 10.0, 16.0),
                            Script::Clamshell,
                            "superset: clamshells",
                        );
                    }
                    3 if cfg.fidgets => {
                        ag.script(uni(rng, 1.5, 3.0), Script::Shake, "shakes the leg out");
                    }
                    _ => {
                        let d = uni(rng, 4.0, 10.0).min(budget(ag).max(2.0));
                        ag.still(d, true, Some("rests on the side"));
                    }
                }
            }
        }
        _ => {
            let mut n = 0;
            while budget(ag) > 12.0 && n < 4 {
                n += 1;
                match rng.gen_range(0..4) {
                    0 if cfg.walking && budget(ag) > 25.0 => {
                        ag.change(
                            uni(rng, 1.2, 2.0),
                            Posture::Stand,
                            l,
                            "stands up from the machine",
                        );
                        let d = uni(rng, 2.0, 4.0);
                        ag.walk(d, 1.0, 1.8, "walks to the water bottle");
                        ag.script(uni(rng, 3.0, 6.0), Script::Drink, "drinks");
                        ag.turn(PI, "turns round");
                        ag.walk(d, 1.0, 1.8, "walks back");
                        let back = wrap(psi_home - ag.psi);
                        ag.turn(back, "turns round");
                        ag.change(
                            uni(rng, 1.2, 2.0),
                            Posture::Seated,
                            l,
                            "sits back in the machine",
                        );
                    }
                    1 => {
                        ag.script(
                            uni(rng, 6.0, 15.0).min(budget(ag).max(3.0)),
                            Script::Phone,
                            "on the phone",
                        );
                    }
                    2 if cfg.fidgets => {
                        ag.script(uni(rng, 1.5, 3.0), Script::Shake, "shakes the leg out");
                    }
                    _ => {
                        let d = uni(rng, 4.0, 10.0).min(budget(ag).max(2.0));
                        ag.still(d, true, Some("sits and talks"));
                    }
                }
            }
        }
    }
    let left = (end - ag.t).max(uni(rng, 2.5, 4.0));
    ag.still(left, false, None);
}

/// The other leg's set: the cuff swapped, the sensor leg now stands.
fn other_leg_set(
    rng: &mut ChaCha8Rng,
    cfg: &SimConfig,
    l: &Lifter,
    ag: &mut Agenda,
    comps: &[FlagKind],
) {
    ag.script(
        uni(rng, 5.0, 9.0),
        Script::Restrap,
        "swaps the cuff to the other leg",
    );
    ag.still(uni(rng, 0.8, 1.5), false, None);
    let reps = rng.gen_range(cfg.reps_min..=cfg.reps_max).min(15);
    let t_first = ag.t + uni(rng, 0.6, 1.0) + uni(rng, 0.8, 2.0);
    let (attempts, t_last) = plan_set(rng, l, cfg, comps, reps, t_first, false, 0.3);
    let plan = SetPlan {
        attempts,
        shift_s: 0.8,
        slides: Vec::new(),
        holds_chair: l.holds_chair,
        counted: false,
    };
    let (o, psi) = (ag.o, ag.psi);
    let bone = if ag.base_bone == Bone::Pelvis {
        Bone::Pelvis
    } else {
        Bone::StanceShank
    };
    let m = !ag.base_mirror;
    let dur = t_last + 1.5 - ag.t;
    ag.push(
        dur,
        Act::Set(plan),
        Posture::Stand,
        o,
        psi,
        m,
        bone,
        Some("the other leg's set"),
    );
    ag.still(uni(rng, 1.0, 2.0), false, None);
    ag.script(uni(rng, 5.0, 9.0), Script::Restrap, "swaps the cuff back");
}

/// The whole simulation: agenda, kinematics, sensor, truth.
fn simulate(cfg: &SimConfig) -> (Vec<Sample>, Truth) {
    let (samples, truth, _, _) = run(cfg);
    (samples, truth)
}

/// [`simulate`], with the agenda and the clock's factor (true → host time) for the tests.
fn run(cfg: &SimConfig) -> (Vec<Sample>, Truth, Vec<Seg>, f64) {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x7265_6163_685f_3230);
    let l = Lifter::draw(&mut rng, cfg);
    let unit = Unit::draw(&mut rng, cfg, l.pop);
    let ag = build_agenda(&mut rng, cfg, &l);
    let segs = ag.segs;
    let total = segs.last().map_or(1.0, |s| s.t1);
    let g_up = V3::new(0.0, STANDARD_GRAVITY, 0.0);

    // Dynamic state.
    let p0 = segs[0].from;
    let mut q = p0.rest();
    let mut qd = [0.0; N];
    let ex = cfg.exercise;
    let lim = limits(&l);
    let mut mirrored = segs[0].mirrored;
    let mut bal_err = V3::zeros();
    // The lead-in is already the set's stance: start there, still.
    if let Act::Set(plan) = &segs[0].act {
        for _ in 0..300 {
            set_goal(&l, ex, plan, &segs[0], 0.0, &mut q, &lim, &mut bal_err);
        }
    }
    // The sensor's bone handed over from one leg's model to the other's: the
    // difference at the moment of the flip fades out.
    let mut flipped_at: Option<f64> = None;
    let mut handover: Option<(V3, UnitQuaternion<f64>, f64)> = None;
    let mut last_bone: Option<(V3, M3)> = None;
    let mut q_ik = q;
    let mut q_ik_prev = q;
    let mut q_ik_next = q;
    // Postural sway: OU states on roll, shift, yaw, tilt.
    let mut sway = [0.0f64; 4];
    // The sensor's soft tissue (room frame) and its strap.
    let mut x_rel = V3::zeros();
    let mut v_rel = V3::zeros();
    let mut th_rel = V3::zeros();
    let mut w_rel = V3::zeros();
    let mut beta = unit.beta;
    let mut mount = unit.mount;
    let mut restrapped = false;
    let mut gyro_bias = unit.gyro_bias0;
    // Finite differences.
    let mut prev_attach: Option<(V3, V3)> = None; // position, velocity
    let mut prev_w_bone: Option<V3> = None;
    let mut prev_bone_r: Option<M3> = None;
    let mut prev_sensor: Option<(V3, M3)> = None;
    let mut prev_v_sensor: Option<V3> = None;
    // Output binning on the sensor's own clock.
    let period = (1.0 / cfg.rate_hz) * (1.0 + unit.drift);
    let mut bin = 0u64;
    let mut acc_sum = V3::zeros();
    let mut gyr_sum = V3::zeros();
    let mut n_sum = 0usize;
    let mut samples = Vec::with_capacity((total / period) as usize + 8);
    let gap_rate = cfg.gaps_per_min / 60.0;
    let mut next_gap = if gap_rate > 0.0 {
        -(1.0 - rng.gen::<f64>()).ln() / gap_rate
    } else {
        f64::INFINITY
    };
    let mut gap_until = -1.0;
    let mut probes: Vec<Probe> = Vec::with_capacity((total * 100.0) as usize + 8);

    let steps = (total / DT).ceil() as usize;
    let mut si = 0usize;
    for step in 0..=steps {
        let t = step as f64 * DT;
        while si + 1 < segs.len() && t >= segs[si].t1 {
            si += 1;
        }
        let seg = &segs[si];
        // A new frame (the other leg works): the same body, seen mirrored.
        let (m_now, bone) = frame_at(seg, t);
        if m_now != mirrored {
            // Velocities by the same map, through a point a moment ahead.
            let mut ahead = q;
            for i in 0..N {
                ahead[i] += qd[i] * 1e-3;
            }
            let ahead = flip_state(&l, &ahead);
            q = flip_state(&l, &q);
            for i in 0..N {
                qd[i] = (ahead[i] - q[i]) / 1e-3;
            }
            for v in [&mut q_ik, &mut q_ik_prev, &mut q_ik_next] {
                *v = flip_state(&l, v);
            }
            bal_err.x = -bal_err.x;
            mirrored = m_now;
            flipped_at = Some(t);
        }
        let u = ((t - seg.t0) / (seg.t1 - seg.t0).max(1e-9)).clamp(0.0, 1.0);
        // Root and posture.
        let (root_o, root_psi, orient, rest) = root_and_rest(seg, t, u, &l, seg.mirrored);
        // Sway (Ornstein-Uhlenbeck), smaller when holding on or lying.
        let sway_k = match (seg.to, &seg.act) {
            (Posture::Stand, Act::Set(p)) if p.holds_chair => 0.5,
            (Posture::Stand, _) => 1.0,
            _ => 0.25,
        };
        if step % 5 == 0 {
            let dts = 5.0 * DT;
            for (i, s) in sway.iter_mut().enumerate() {
                let tau = [1.2, 2.0, 1.6, 2.5][i];
                *s += -*s * dts / tau + (2.0 * dts / tau).sqrt() * gauss(&mut rng);
            }
            // Gyro bias drifts slowly within its bound.
            for k in 0..3 {
                gyro_bias[k] += -(gyro_bias[k] - unit.gyro_bias0[k]) * dts / 200.0
                    + 0.02 * cfg.gyro_bias_dps * (dts / 60.0).sqrt() * gauss(&mut rng);
                gyro_bias[k] = gyro_bias[k].clamp(-cfg.gyro_bias_dps, cfg.gyro_bias_dps);
            }
        }
        // The joints' goal: inverse kinematics during a set, the script otherwise.
        if step % IK_EVERY == 0 {
            q_ik_prev = q_ik_next;
            let mut goal = match &seg.act {
                Act::Set(plan) => {
                    let mut qs = q_ik_next;
                    set_goal(
                        &l,
                        ex,
                        plan,
                        seg,
                        t + IK_EVERY as f64 * DT,
                        &mut qs,
                        &lim,
                        &mut bal_err,
                    );
                    qs
                }
                _ => rest,
            };
            goal[ROLL] += l.sway * 0.6 * sway[0] * sway_k;
            goal[PX] += 0.006 * sway[1] * sway_k;
            goal[YAW] += l.sway * 0.8 * sway[2] * sway_k;
            goal[TILT] += l.sway * 0.5 * sway[3] * sway_k;
            q_ik_next = goal;
        }
        let f = (step % IK_EVERY) as f64 / IK_EVERY as f64;
        for i in 0..N {
            q_ik[i] = q_ik_prev[i] + (q_ik_next[i] - q_ik_prev[i]) * f;
        }
        // Tremor on the working joints.
        let tr = l.tremor
            * ((2.0 * PI * l.tremor_hz * t).sin()
                + 0.5 * (2.0 * PI * 1.37 * l.tremor_hz * t + 1.0).sin());
        // The second-order lag from the goal to the joints.
        for i in 0..N {
            let (w, z) = if i <= YAW || i == LEAN {
                (l.omega_pelvis, l.zeta_pelvis)
            } else {
                (l.omega_leg, l.zeta_leg)
            };
            let mut goal = q_ik[i];
            if i == ABD {
                goal += tr;
            }
            if i == ROLL {
                goal += 0.3 * tr;
            }
            let acc = w * w * (goal - q[i]) - 2.0 * z * w * qd[i];
            qd[i] += acc * DT;
            q[i] += qd[i] * DT;
        }
        // Forward kinematics and the sensor's bone in the room.
        let pose = fk(&l, &q);
        let mir = mirror();
        let to_room = |p: V3| -> V3 {
            let pp = if mirrored { mir * p } else { p };
            root_o + mry(root_psi) * orient * pp
        };
        let rot_room = |r: M3| -> M3 {
            let rr = if mirrored { mir * r * mir } else { r };
            mry(root_psi) * orient * rr
        };
        let (bone_p, bone_r) = match bone {
            Bone::WorkingShank => (to_room(pose.knee), rot_room(pose.rs)),
            Bone::StanceShank => {
                let (knee, r) = stance_shank(&l, &pose);
                (to_room(knee), rot_room(r))
            }
            Bone::Pelvis => (
                to_room(pose.hs + pose.rp * V3::new(0.5 * l.w, 0.06, 0.11)),
                rot_room(pose.rp),
            ),
        };
        if let (Some(tf), Some((lp, lr))) = (flipped_at.take(), last_bone) {
            let dr = UnitQuaternion::from_matrix(&(lr * bone_r.transpose()));
            handover = Some((lp - bone_p, dr, tf));
        }
        let (bone_p, bone_r) = match handover {
            Some((dp, dr, tf)) if t - tf < 0.5 => {
                let k = 1.0 - mj((t - tf) / 0.5);
                let r = UnitQuaternion::from_scaled_axis(dr.scaled_axis() * k);
                (bone_p + dp * k, *r.to_rotation_matrix().matrix() * bone_r)
            }
            _ => (bone_p, bone_r),
        };
        last_bone = Some((bone_p, bone_r));
        // The strap creeps; re-strapping puts it somewhere new.
        let in_restrap = matches!(seg.act, Act::Script(Script::Restrap));
        if in_restrap && !restrapped && u > 0.5 {
            restrapped = true;
            if cfg.random_mounting && cfg.placement == Placement::Ankle {
                beta = uni(&mut rng, -PI, PI);
                mount = mry(uni(&mut rng, -0.5, 0.5)) * mount;
            }
        }
        if !in_restrap {
            restrapped = false;
        }
        beta += unit.creep * DT;
        let (attach, s_rot) = if bone == Bone::Pelvis {
            (bone_p, bone_r * mount)
        } else {
            // Around the shank at `beta` from its lateral side, `frac` of the way to the ankle.
            let lateral = if cfg.side == Side::Right { 1.0 } else { -1.0 };
            let rb = mry(beta);
            let off = rb * V3::new(lateral * unit.radius, 0.0, 0.0)
                + V3::new(0.0, -unit.frac * l.ls, 0.0);
            (bone_p + bone_r * off, bone_r * rb * mount)
        };
        // Soft tissue: the sensor's mass on a damped spring from the bone.
        let (a_attach, v_attach) = match prev_attach {
            Some((pp, pv)) => {
                let v = (attach - pp) / DT;
                ((v - pv) / DT, v)
            }
            None => (V3::zeros(), V3::zeros()),
        };
        prev_attach = Some((attach, v_attach));
        let w_bone = match prev_bone_r {
            Some(pr) => log_rate(&pr, &bone_r),
            None => V3::zeros(),
        };
        prev_bone_r = Some(bone_r);
        let alpha = match prev_w_bone {
            Some(pw) => (w_bone - pw) / DT,
            None => V3::zeros(),
        };
        prev_w_bone = Some(w_bone);
        let a_in = a_attach.map(|x| x.clamp(-400.0, 400.0));
        let acc_rel = -unit.w_tissue * unit.w_tissue * x_rel
            - 2.0 * unit.z_tissue * unit.w_tissue * v_rel
            - a_in;
        v_rel += acc_rel * DT;
        x_rel += v_rel * DT;
        let al_in = alpha.map(|x| x.clamp(-2000.0, 2000.0)) * 0.004;
        let acc_th =
            -unit.w_rot * unit.w_rot * th_rel - 2.0 * unit.z_rot * unit.w_rot * w_rel - al_in;
        w_rel += acc_th * DT;
        th_rel += w_rel * DT;
        let s_pos = attach + x_rel;
        let s_r = small_rot(&th_rel) * s_rot;
        // Specific force and rate by finite differences of the sensor's pose.
        let (a_s, w_s) = match prev_sensor {
            Some((pp, pr)) => {
                let v = (s_pos - pp) / DT;
                let a = match prev_v_sensor {
                    Some(pv) => (v - pv) / DT,
                    None => V3::zeros(),
                };
                prev_v_sensor = Some(v);
                (a, log_rate(&pr, &s_r))
            }
            None => (V3::zeros(), V3::zeros()),
        };
        prev_sensor = Some((s_pos, s_r));
        if step >= 2 {
            let fs = s_r.transpose() * (a_s + g_up);
            let ws = s_r.transpose() * w_s;
            acc_sum += fs;
            gyr_sum += ws;
            n_sum += 1;
        } else {
            acc_sum += s_r.transpose() * g_up;
            n_sum += 1;
        }
        // A sample leaves the sensor at the end of each of its periods.
        if t >= (bin + 1) as f64 * period {
            let t_true = bin as f64 * period;
            if t_true >= next_gap {
                gap_until = t_true + 0.2;
                next_gap = t_true + 0.2 + -(1.0 - rng.gen::<f64>()).ln() / gap_rate;
            }
            let dropped =
                t_true < gap_until || (cfg.drop_rate > 0.0 && rng.gen_bool(cfg.drop_rate));
            let n = n_sum.max(1) as f64;
            let mut acc = unit.scale * (acc_sum / n) + unit.acc_bias;
            let mut gyr = unit.scale * (gyr_sum / n).map(r2d) + gyro_bias;
            for k in 0..3 {
                acc[k] += unit.acc_sd * gauss(&mut rng);
                gyr[k] += unit.gyro_sd * gauss(&mut rng);
                let qa = unit.acc_range / 32768.0;
                let qg = unit.gyro_range / 32768.0;
                acc[k] = ((acc[k].clamp(-unit.acc_range, unit.acc_range)) / qa).round() * qa;
                gyr[k] = ((gyr[k].clamp(-unit.gyro_range, unit.gyro_range)) / qg).round() * qg;
            }
            if !dropped {
                // The host stamps by the nominal rate, with a little jitter.
                let jitter = 0.08 / cfg.rate_hz * (rng.gen::<f64>() - 0.5);
                let ts = bin as f64 / cfg.rate_hz + jitter;
                samples.push(Sample::new(
                    round6(ts),
                    [acc[0], acc[1], acc[2]],
                    [gyr[0], gyr[1], gyr[2]],
                ));
            }
            bin += 1;
            acc_sum = V3::zeros();
            gyr_sum = V3::zeros();
            n_sum = 0;
        }
        if step % PROBE_EVERY == 0 {
            let sign = if mirrored == segs[0].mirrored {
                1.0
            } else {
                -1.0
            };
            let leg = pose.ankle - pose.hw;
            let rp_t = pose.rp.transpose() * leg;
            probes.push(Probe {
                t,
                bone: UnitQuaternion::from_matrix(&bone_r),
                obliq: sign * q[ROLL],
                leg_abd: q[ROLL] + (rp_t.x).atan2(-rp_t.y),
                leg_fwd: (-leg.z).atan2(-leg.y),
            });
        }
    }
    // Truth on the host's clock: t_host = t_true × nominal / true period.
    let to_host = 1.0 / (1.0 + unit.drift);
    let truth_sets = measure_truth(cfg, &segs, &probes, to_host);
    let mut distractions = Vec::new();
    for s in &segs {
        if let Some(label) = &s.label {
            distractions.push(format!(
                "{:.2}-{:.2} s: {}",
                s.t0 * to_host,
                s.t1 * to_host,
                label
            ));
        }
    }
    let duration = samples.last().map_or(0.0, |s| s.t);
    let truth = Truth {
        config: cfg.clone(),
        duration_s: round3(duration),
        distractions,
        sets: truth_sets,
    };
    (samples, truth, segs, to_host)
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// The same body seen from the other side: the other leg becomes the
/// working one. The pelvis' pose maps exactly (the new stance hip is the
/// old working hip); the legs keep their values (both near rest when it
/// happens, at a still double stance).
fn flip_state(l: &Lifter, q: &[f64; N]) -> [f64; N] {
    let p = fk(l, q);
    let hw = mirror() * p.hw;
    let mut out = *q;
    out[PX] = hw.x + 0.5 * l.w;
    out[PY] = hw.y - (l.leg() + l.foot_h);
    out[PZ] = hw.z;
    out[ROLL] = -q[ROLL];
    out[YAW] = -q[YAW];
    out[LEAN] = -q[LEAN];
    out
}

/// The stance leg's shank (knee and orientation): its foot stays planted
/// where the working foot rests, mirrored; the hip and knee angles follow
/// from the two links, solved like the working leg's so that the two agree
/// in a still, even stance.
fn stance_shank(l: &Lifter, p: &Pose) -> (V3, M3) {
    let rest = fk(l, &Posture::Stand.rest());
    let foot = mirror() * (rest.ankle - V3::new(0.0, 0.0, 0.0));
    let m = mirror();
    let d = m * (p.rp.transpose() * (foot - p.hs));
    let dd = d.norm().clamp(0.2, l.lt + l.ls - 1e-6);
    let ck = ((dd * dd - l.lt * l.lt - l.ls * l.ls) / (2.0 * l.lt * l.ls)).clamp(-1.0, 1.0);
    let k = ck.acos();
    let y = l.lt + l.ls * k.cos();
    let a = (d.x / y).clamp(-1.0, 1.0).asin();
    let (y0, z0) = (-y * a.cos(), l.ls * k.sin());
    let f = d.z.atan2(d.y) - z0.atan2(y0);
    let f = (f + PI).rem_euclid(2.0 * PI) - PI;
    let thigh = mrx(f) * mrz(a);
    let knee = p.hs + p.rp * m * (thigh * V3::new(0.0, -l.lt, 0.0));
    let r = p.rp * m * thigh * mrx(-k) * m;
    (knee, r)
}

/// A small rotation vector as a matrix.
fn small_rot(v: &V3) -> M3 {
    let n = v.norm();
    if n < 1e-12 {
        return M3::identity();
    }
    *UnitQuaternion::from_axis_angle(&nalgebra::Unit::new_unchecked(v / n), n)
        .to_rotation_matrix()
        .matrix()
}

/// Angular velocity in the room from two orientations one internal step apart.
fn log_rate(a: &M3, b: &M3) -> V3 {
    let d = b * a.transpose();
    // Small angles: the skew part is the rotation vector (to second order).
    let v = V3::new(
        d[(2, 1)] - d[(1, 2)],
        d[(0, 2)] - d[(2, 0)],
        d[(1, 0)] - d[(0, 1)],
    ) * 0.5;
    let s = v.norm();
    if s < 1e-12 {
        return V3::zeros();
    }
    let c = 0.5 * (d.trace() - 1.0);
    let ang = s.atan2(c);
    v * (ang / s) / DT
}

/// The root, the orientation in the room and the posture goal at `t` in `seg`.
fn root_and_rest(seg: &Seg, t: f64, u: f64, l: &Lifter, mirrored: bool) -> (V3, f64, M3, [f64; N]) {
    // Which side is up when lying: the model's +X side, as the body has it.
    let up_right = !mirrored;
    let k = match seg.act {
        Act::Change => mj(u),
        Act::Turn => mj(u),
        Act::Walk { .. } => trap(t - seg.t0, seg.t1 - seg.t0, 0.6),
        _ => u,
    };
    let o = seg.o0 + (seg.o1 - seg.o0) * k;
    let psi = seg.psi0 + (seg.psi1 - seg.psi0) * k;
    let orient = if seg.from == seg.to {
        seg.to.orient(up_right)
    } else {
        let r0 = UnitQuaternion::from_matrix(&seg.from.orient(up_right));
        let r1 = UnitQuaternion::from_matrix(&seg.to.orient(up_right));
        *r0.slerp(&r1, k).to_rotation_matrix().matrix()
    };
    let a = seg.from.rest();
    let b = seg.to.rest();
    let mut q = [0.0; N];
    for i in 0..N {
        q[i] = a[i] + (b[i] - a[i]) * k;
    }
    let el = t - seg.t0;
    let mut o = o;
    match seg.act {
        Act::Walk { speed, cadence } => {
            // Gait: the sensor leg swings, the body bobs, heel strikes jolt it.
            let ph = 2.0 * PI * cadence * 0.5 * el;
            let ramp = mj(el / 0.6) * mj((seg.t1 - t) / 0.6);
            q[FLEX] += ramp * (0.35 * ph.sin() + 0.05);
            q[KNEE] += ramp * 0.55 * (ph + 0.9).sin().max(0.0).powi(2);
            q[ANK1] += ramp * 0.2 * (ph - 0.5).sin();
            q[ROLL] += ramp * d2r(3.5) * ph.sin();
            q[YAW] += ramp * d2r(5.0) * (ph + 0.3).sin();
            q[PX] += ramp * 0.02 * ph.sin();
            o.y += ramp * (0.018 * (2.0 * ph).cos() - 0.006 * (2.0 * ph).sin().abs().powi(8));
            let _ = speed;
        }
        Act::Turn => {
            let ph = 2.0 * PI * 1.6 * el;
            q[FLEX] += 0.2 * (ph.sin()).max(0.0) * (PI * u).sin();
            q[KNEE] += 0.3 * (ph.sin()).max(0.0) * (PI * u).sin();
        }
        Act::Still { talk } => {
            if talk {
                q[YAW] += d2r(10.0) * (0.4 * el).sin() * (0.13 * el).cos();
                q[PX] += 0.02 * (0.21 * el + 1.0).sin();
                q[ROLL] += d2r(1.5) * (0.21 * el + 1.0).sin();
            }
        }
        Act::Script(s) => script_pose(s, el, u, seg.t1 - seg.t0, &mut q, &mut o, l),
        Act::Change | Act::Set(_) => {}
    }
    (o, psi, orient, q)
}

/// Share of a distance covered at `el` of `dur` s with ramps of `r` s at each end.
fn trap(el: f64, dur: f64, r: f64) -> f64 {
    let el = el.clamp(0.0, dur);
    let r = r.min(0.5 * dur).max(1e-6);
    let v = 1.0 / (dur - r);
    if el < r {
        0.5 * v * el * el / r
    } else if el > dur - r {
        1.0 - 0.5 * v * (dur - el).powi(2) / r
    } else {
        0.5 * v * r + v * (el - r)
    }
}

/// Joint goals of a scripted movement.
fn script_pose(s: Script, el: f64, u: f64, dur: f64, q: &mut [f64; N], o: &mut V3, l: &Lifter) {
    let env = mj(el / 0.8) * mj((dur - el) / 0.8);
    match s {
        Script::Phone => {
            q[KNEE] += env * 0.05 * (2.0 * PI * 3.5 * el).sin() * (0.3 * el).sin().max(0.0);
            q[TILT] += env * 0.25;
            q[ABD] += env * 0.15;
        }
        Script::Drink => {
            q[TILT] -= env * 0.08;
            q[LEAN] += env * 0.05 * (0.7 * el).sin();
        }
        Script::QuadStretch => {
            q[KNEE] += env * 2.0;
            q[FLEX] -= env * 0.15;
            q[ROLL] += env * d2r(2.0);
            q[PX] -= env * 0.04;
        }
        Script::Rerack => {
            let b = (PI * u).sin().powi(2);
            q[TILT] += b * 0.6;
            q[KNEE] += b * 0.7;
            q[FLEX] += b * 0.7;
            o.y -= b * 0.15;
        }
        Script::Swing => {
            let x = (el / dur).clamp(0.0, 1.0);
            // Mostly forward and back, a little out.
            q[ABD] += 0.25 * (PI * x).sin().powi(2);
            q[FLEX] += 0.5 * (2.0 * PI * x).sin() * (PI * x).sin();
        }
        Script::Shake => {
            let f = 3.5 + 0.6 * l.w;
            q[KNEE] += env * 0.25 * (1.0 + (2.0 * PI * f * el).sin());
            q[ROT] += env * 0.15 * (2.0 * PI * f * el + 0.5).sin();
            q[FLEX] += env * 0.2;
        }
        Script::Restrap => {
            q[FLEX] += env * 1.2;
            q[KNEE] += env * 1.4;
            q[TILT] += env * 0.4;
            q[ROT] += env * 0.1 * (1.3 * el).sin();
        }
        Script::Squats => {
            let ph = 2.0 * PI * el / 2.6;
            let d = env * 0.5 * (1.0 - ph.cos());
            q[KNEE] += 1.4 * d;
            q[FLEX] += 1.2 * d;
            q[TILT] += 0.5 * d;
            q[ANK1] += 0.4 * d;
            o.y -= 0.35 * d;
        }
        Script::BandWalk => {
            let ph = 2.0 * PI * el / 1.4;
            let lift = env * (ph.sin()).max(0.0);
            q[ABD] += lift * 0.3;
            q[KNEE] += env * 0.35 + lift * 0.1;
            q[FLEX] += env * 0.3;
            // Steps out to one side, then back.
            let n = 2.0 * (dur / 2.8).floor().max(1.0);
            let c = ((el / 1.4).floor() + mj((el / 1.4).fract())).min(n);
            o.x += 0.25 * c.min(n - c);
            o.y -= env * 0.06;
        }
        Script::Clamshell => {
            let ph = 2.0 * PI * el / 2.2;
            q[FLEX] += env * 0.75;
            q[KNEE] += env * 1.5;
            q[ROT] += env * 0.5 * (1.0 - ph.cos()) * 0.5;
            q[ABD] += env * 0.35 * (1.0 - ph.cos()) * 0.5;
        }
    }
}

/// The attempt whose turn it is at `t` (turns change halfway between attempts).
fn attempt_at(plan: &SetPlan, t: f64) -> Option<usize> {
    let a = &plan.attempts;
    (0..a.len()).find(|&k| {
        let lo = if k == 0 {
            f64::MIN
        } else {
            0.5 * (a[k - 1].end() + a[k].t0)
        };
        let hi = if k + 1 == a.len() {
            f64::MAX
        } else {
            0.5 * (a[k].end() + a[k + 1].t0)
        };
        t >= lo && t < hi
    })
}

/// True when the other leg has reps in this set (legs alternate).
fn alternating(plan: &SetPlan) -> bool {
    plan.attempts.iter().any(|a| !a.sensor_leg)
}

/// The frame (mirrored or not) and the sensor's bone at `t` in `seg`.
fn frame_at(seg: &Seg, t: f64) -> (bool, Bone) {
    if let Act::Set(plan) = &seg.act {
        if alternating(plan) {
            if let Some(k) = attempt_at(plan, t) {
                if !plan.attempts[k].sensor_leg {
                    return (!seg.mirrored, Bone::StanceShank);
                }
            }
        }
    }
    (seg.mirrored, seg.bone)
}

/// The set's IK goal at `t`: the task target on its path, costs and
/// posture changed by the compensation in play, the balance task.
#[allow(clippy::too_many_arguments)]
fn set_goal(
    l: &Lifter,
    ex: Exercise,
    plan: &SetPlan,
    seg: &Seg,
    t: f64,
    q: &mut [f64; N],
    lim: &[(f64, f64); N],
    bal_err: &mut V3,
) {
    let posture = seg.to;
    let rest = posture.rest();
    let mut cost = l.cost;
    let mut ref_q = rest;
    let mut s = 0.0;
    let mut fwd = 0.0;
    let mut bal_gain = l.bal_gain * if plan.holds_chair { 3.0 } else { 1.0 };
    let mut bal_shift = V3::zeros();
    let alt = alternating(plan);
    let k = attempt_at(plan, t);
    if let Some(a) = k.map(|k| &plan.attempts[k]) {
        if t >= a.t0 - 0.05 && t <= a.end() + 0.6 {
            s = a.s(t);
            let env = (s / a.amp.max(1e-6)).clamp(0.0, 1.3);
            let ph = ((t - a.t0) / (a.end() - a.t0)).clamp(0.0, 1.0);
            match a.kind {
                AttemptKind::Comp(FlagKind::HipFlexionDrift) => fwd = a.size * env,
                AttemptKind::Comp(FlagKind::HipHike) if ex == Exercise::HipHitch => {
                    // Pulled past level: the free side ends high, then settles.
                    let u = t - a.t0 - a.up - a.hold;
                    if u > 0.0 {
                        let x = (u / a.down).clamp(0.0, 1.0);
                        let bump = mj((x - 0.3) / 0.25) * mj((1.0 - x) / 0.2);
                        s -= a.size / l.range * bump;
                    }
                }
                AttemptKind::Comp(FlagKind::HipHike) => {
                    // The abduction made expensive: the pelvis takes the motion.
                    cost[ABD] *= 6.0;
                    cost[ROLL] *= 0.25;
                    ref_q[ROLL] += a.size * env;
                }
                AttemptKind::Comp(FlagKind::PelvicDrop) => {
                    // The stance hip gives: the free side sinks.
                    cost[ROLL] *= 3.0;
                    ref_q[ROLL] -= a.size * env;
                }
                AttemptKind::Comp(FlagKind::TrunkSway) => {
                    // The balance task let go: the body rocks both ways.
                    bal_gain *= 0.1;
                    cost[ROLL] *= 3.0;
                    ref_q[ROLL] += a.size * (2.0 * PI * ph).sin();
                    ref_q[YAW] += 0.5 * a.size * (2.0 * PI * ph + 0.6).sin();
                    bal_shift.x += 0.04 * (2.0 * PI * ph).sin();
                }
                _ => {}
            }
        }
    }
    // Weight onto the stance foot during the set (during each rep when the
    // legs alternate), back onto both feet after it.
    let single = if posture != Posture::Stand {
        0.0
    } else if alt {
        match k.map(|k| &plan.attempts[k]) {
            Some(a) => mj((t - (a.t0 - 0.45)) / 0.35) * mj((a.end() + 0.4 - t) / 0.35),
            None => 0.0,
        }
    } else {
        mj((t - seg.t0) / plan.shift_s.max(1e-3)).min(mj((seg.t1 - t) / 0.8))
    };
    // Hand slides on the chair: a sudden shift, caught.
    for &ts in &plan.slides {
        let d = t - ts;
        if (0.0..1.0).contains(&d) {
            bal_shift.x += 0.025 * (PI * d).sin() * (-2.0 * d).exp();
        }
    }
    // The stance: the hips over the stance foot.
    let support_x = -0.35 * l.w;
    if posture == Posture::Stand {
        let mut r = rest;
        let c0 = fk(l, &r).com.x;
        r[PX] = 0.01;
        let c1 = fk(l, &r).com.x;
        let px_star = ((support_x - c0) / ((c1 - c0) / 0.01)).clamp(lim[PX].0 * 0.9, 0.0);
        ref_q[PX] = px_star * single;
    }
    let theta = s * l.range;
    // The path starts where the foot hangs in this stance.
    let mut r0 = rest;
    r0[PX] = ref_q[PX];
    let p_rest = fk(l, &r0);
    let task = match ex {
        Exercise::HipHitch => Task {
            target: p_rest.hw + V3::new(0.0, l.w * (-theta).sin(), 0.0),
            select: V3::new(0.0, 1.0, 0.0),
            point: 2,
        },
        Exercise::SeatedMachineAbduction => {
            let thigh = p_rest.knee - p_rest.hw;
            Task {
                target: p_rest.hw + mry(-theta) * thigh,
                select: V3::new(1.0, 0.3, 1.0),
                point: 1,
            }
        }
        _ => {
            let leg = p_rest.ankle - p_rest.hw;
            let len = leg.norm();
            let tilt = l.path_tilt * s.clamp(0.0, 1.5) + fwd;
            let arc = mrx(tilt)
                * V3::new(
                    len * theta.sin(),
                    -len * (1.0 - l.arc + l.arc * theta.cos()),
                    0.0,
                );
            Task {
                target: p_rest.hw + arc + V3::new(0.0, 0.0, leg.z),
                select: V3::new(1.0, 1.0, 1.0),
                point: 0,
            }
        }
    };
    // Balance: the centre of mass over the stance foot (standing), over the
    // body's line on the bed (lying); none seated.
    let com = fk(l, q).com;
    let bal = match posture {
        Posture::Stand => {
            let support = V3::new(support_x * single, 0.0, 0.0) + bal_shift;
            let err = (com - support).component_mul(&V3::new(1.0, 0.0, 1.0));
            *bal_err += (err - *bal_err) * (IK_EVERY as f64 * DT / l.bal_lag);
            Some(Balance {
                support: com - *bal_err,
                axes: V3::new(1.0, 0.0, 1.0),
                gain: bal_gain,
            })
        }
        Posture::Side | Posture::Supine => {
            let err = V3::new(0.0, 0.0, com.z - bal_shift.x);
            *bal_err += (err - *bal_err) * (IK_EVERY as f64 * DT / l.bal_lag);
            Some(Balance {
                support: com - *bal_err,
                axes: V3::new(0.0, 0.0, 1.0),
                gain: bal_gain * 0.5,
            })
        }
        Posture::Seated => {
            cost[PX] *= 20.0;
            cost[PZ] *= 20.0;
            cost[ROLL] *= 4.0;
            None
        }
    };
    ik_solve(l, q, &task, &cost, &ref_q, bal.as_ref(), lim);
}

/// Measures the truth on the simulated motion.
fn measure_truth(cfg: &SimConfig, segs: &[Seg], probes: &[Probe], to_host: f64) -> Vec<TruthSet> {
    let mut sets = Vec::new();
    let pelvis = cfg.placement == Placement::Pelvis;
    let hitch = cfg.exercise == Exercise::HipHitch;
    let visible = cfg.visible_compensations();
    for seg in segs {
        let Act::Set(plan) = &seg.act else { continue };
        if !plan.counted {
            continue;
        }
        let sensor: Vec<&Attempt> = plan.attempts.iter().filter(|a| a.sensor_leg).collect();
        let Some(first) = sensor.first() else {
            continue;
        };
        // Neutral: the still stance just before the first attempt.
        let n0 = first.t0 - 0.5;
        let neutral: Vec<&Probe> = probes
            .iter()
            .filter(|p| p.t >= n0 - 0.4 && p.t <= first.t0 - 0.02)
            .collect();
        if neutral.is_empty() {
            continue;
        }
        let q_rest = neutral[neutral.len() / 2].bone;
        let obl0 = neutral.iter().map(|p| p.obliq).sum::<f64>() / neutral.len() as f64;
        let abd0 = neutral.iter().map(|p| p.leg_abd).sum::<f64>() / neutral.len() as f64;
        let fwd0 = neutral.iter().map(|p| p.leg_fwd).sum::<f64>() / neutral.len() as f64;
        // The rep signal, degrees from neutral.
        let sig = |p: &Probe| -> f64 {
            if hitch {
                r2d(obl0 - p.obliq)
            } else if pelvis {
                r2d(p.leg_abd - abd0)
            } else {
                r2d(q_rest.angle_to(&p.bone))
            }
        };
        // Each attempt: its window, its peak, where it left and came back.
        struct Cand {
            start: f64,
            end: f64,
            peak: f64,
            i0: usize,
            i_flag: usize,
            returned: bool,
            kind: AttemptKind,
            up_s: f64,
        }
        let mut cands = Vec::new();
        let all: Vec<&Attempt> = plan.attempts.iter().collect();
        for (k, a) in all.iter().enumerate() {
            if !a.sensor_leg {
                continue;
            }
            let w0 = if k == 0 {
                a.t0 - 0.3
            } else {
                (all[k - 1].end() + a.t0) * 0.5
            };
            let w1 = match all.get(k + 1) {
                Some(b) => b.t0.min(a.end() + 1.5).max(a.end()),
                None => (a.end() + 2.0).min(seg.t1),
            };
            let i0 = probes.partition_point(|p| p.t < w0);
            let i1 = probes.partition_point(|p| p.t <= w1).min(probes.len());
            if i1 <= i0 + 2 {
                continue;
            }
            let vals: Vec<f64> = probes[i0..i1].iter().map(sig).collect();
            let (ipk, &peak) = vals
                .iter()
                .enumerate()
                .max_by(|x, y| x.1.partial_cmp(y.1).unwrap())
                .unwrap();
            let thr_s = (0.15 * peak).max(0.8);
            let thr_e = (0.2 * peak).max(1.0);
            let mut is = ipk;
            while is > 0 && vals[is] > thr_s {
                is -= 1;
            }
            let mut ie = ipk;
            while ie + 1 < vals.len() && vals[ie] > thr_e {
                ie += 1;
            }
            let returned = vals[ie] <= thr_e;
            cands.push(Cand {
                start: probes[i0 + is].t,
                end: probes[i0 + ie].t,
                peak,
                i0: i0 + is,
                i_flag: probes
                    .partition_point(|p| p.t <= (a.end() + 0.3).min(w1))
                    .saturating_sub(1)
                    .max(i0 + ie),
                returned,
                kind: a.kind,
                up_s: probes[i0 + ipk].t - probes[i0 + is].t,
            });
        }
        if cands.is_empty() {
            continue;
        }
        let mut peaks: Vec<f64> = cands.iter().map(|c| c.peak).collect();
        peaks.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let range = peaks[peaks.len() / 2];
        let mut reps = Vec::new();
        for c in &cands {
            if c.peak < 0.4 * range || !c.returned || c.peak < 2.0 {
                continue;
            }
            let win = &probes[c.i0..=c.i_flag];
            let mut flags = Vec::new();
            let obl: Vec<f64> = win.iter().map(|p| r2d(p.obliq - obl0)).collect();
            let held = |pred: &dyn Fn(f64) -> bool| -> bool {
                let mut run = 0;
                for &v in &obl {
                    if pred(v) {
                        run += 1;
                        if run >= 15 {
                            return true;
                        }
                    } else {
                        run = 0;
                    }
                }
                false
            };
            let omax = obl.iter().cloned().fold(f64::MIN, f64::max);
            let omin = obl.iter().cloned().fold(f64::MAX, f64::min);
            let up_held = held(&|v| v >= 5.0);
            let down_held = held(&|v| v <= -5.0);
            let peak_deg = if pelvis {
                if hitch {
                    c.peak
                } else {
                    omax.abs().max(omin.abs())
                }
            } else {
                c.peak
            };
            if visible.contains(&FlagKind::TrunkSway) && omax > 5.0 && omin < -5.0 {
                flags.push(TruthFlag {
                    kind: FlagKind::TrunkSway,
                    value_deg: round3(omax.max(-omin)),
                });
            } else {
                if visible.contains(&FlagKind::HipHike) && up_held {
                    flags.push(TruthFlag {
                        kind: FlagKind::HipHike,
                        value_deg: round3(omax),
                    });
                }
                if visible.contains(&FlagKind::PelvicDrop) && down_held && !hitch {
                    flags.push(TruthFlag {
                        kind: FlagKind::PelvicDrop,
                        value_deg: round3(-omin),
                    });
                }
            }
            if visible.contains(&FlagKind::Momentum)
                && c.kind == AttemptKind::Comp(FlagKind::Momentum)
                && c.up_s <= 0.6
            {
                flags.push(TruthFlag {
                    kind: FlagKind::Momentum,
                    value_deg: round3(c.peak),
                });
            }
            if visible.contains(&FlagKind::PartialRange) && c.peak < 0.7 * range {
                flags.push(TruthFlag {
                    kind: FlagKind::PartialRange,
                    value_deg: round3(c.peak),
                });
            }
            if visible.contains(&FlagKind::HipFlexionDrift)
                && c.kind == AttemptKind::Comp(FlagKind::HipFlexionDrift)
            {
                let fwd = win
                    .iter()
                    .map(|p| r2d(p.leg_fwd - fwd0))
                    .fold(f64::MIN, f64::max);
                if fwd >= 10.0 {
                    flags.push(TruthFlag {
                        kind: FlagKind::HipFlexionDrift,
                        value_deg: round3(fwd),
                    });
                }
            }
            reps.push(TruthRep {
                start_s: round3(c.start * to_host),
                end_s: round3(c.end * to_host),
                peak_deg: round3(peak_deg),
                flags,
            });
        }
        if reps.is_empty() {
            continue;
        }
        sets.push(TruthSet {
            start_s: reps[0].start_s,
            end_s: reps[reps.len() - 1].end_s,
            rep_count: reps.len(),
            reps,
        });
    }
    sets
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(e: Exercise, p: Placement, seed: u64) -> SimConfig {
        let mut c = SimConfig::new(e, p, Side::Right);
        c.model = crate::source::sim::SimModel::Reach;
        c.seed = seed;
        c
    }

    /// Short sessions: one or two sets of a few reps, short rests.
    fn short(e: Exercise, p: Placement, seed: u64) -> SimConfig {
        let mut c = cfg(e, p, seed);
        c.sets = 1;
        c.reps_min = 4;
        c.reps_max = 6;
        c.rest_min_s = 12.0;
        c.rest_max_s = 14.0;
        c.lead_in_s = Some(0.8);
        c
    }

    fn pairs() -> Vec<(Exercise, Placement)> {
        let mut out = Vec::new();
        for &e in Exercise::ALL {
            for &p in Placement::ALL {
                if cfg(e, p, 1).validate().is_ok() {
                    out.push((e, p));
                }
            }
        }
        out
    }

    /// "a-b s: what" → (a, b).
    fn span(d: &str) -> (f64, f64) {
        let times = d.split(' ').next().unwrap();
        let (a, b) = times.split_once('-').unwrap();
        (a.parse().unwrap(), b.parse().unwrap())
    }

    #[test]
    fn every_pair_and_rate_gives_finite_increasing_samples_and_a_truth() {
        let all = pairs();
        assert_eq!(all.len(), 6, "{all:?}");
        for (i, &(e, p)) in all.iter().enumerate() {
            for (j, rate) in [25.0, 50.0, 100.0, 200.0, 400.0].into_iter().enumerate() {
                let mut c = short(e, p, 100 + (i * 5 + j) as u64);
                c.rate_hz = rate;
                c.side = if j % 2 == 0 { Side::Left } else { Side::Right };
                let (sim, truth) = ReachSimulator::new(&c).unwrap();
                let s: Vec<Sample> = sim.collect();
                let span_s = s.last().unwrap().t - s[0].t;
                // Within 2% crystal error and the drops.
                let expect = span_s * rate;
                assert!(
                    s.len() as f64 > 0.9 * expect && (s.len() as f64) < 1.03 * expect,
                    "{e} {p} {rate}"
                );
                for w in s.windows(2) {
                    assert!(w[1].t > w[0].t, "{e} {p} {rate}");
                }
                for x in &s {
                    assert!(x.is_finite());
                    assert!(x.acc.amax() <= 16.0 * STANDARD_GRAVITY + 0.01);
                    assert!(x.gyr.amax() <= 2000.01);
                }
                assert_eq!(truth.sets.len(), 1, "{e} {p} {rate}: {truth:?}");
                let set = &truth.sets[0];
                assert!(
                    set.rep_count >= 3 && set.rep_count <= 6,
                    "{e} {p} {rate}: {set:?}"
                );
                assert_eq!(set.rep_count, set.reps.len());
                for r in &set.reps {
                    assert!(
                        r.start_s < r.end_s && r.start_s >= set.start_s && r.end_s <= set.end_s
                    );
                    assert!(r.peak_deg.is_finite() && r.peak_deg >= 0.0 && r.peak_deg < 90.0);
                }
                assert!(truth.duration_s > set.end_s);
            }
        }
    }

    #[test]
    fn at_rest_the_sensor_reads_one_g() {
        for (i, (e, p)) in pairs().into_iter().enumerate() {
            let mut c = short(e, p, 40 + i as u64);
            c.lead_in_s = Some(2.0);
            c.noise = 1.0;
            let (s, _) = simulate(&c);
            let still: Vec<&Sample> = s.iter().filter(|x| x.t < 1.5).collect();
            let mean = still.iter().map(|x| x.acc).sum::<V3>() / still.len() as f64;
            assert!(
                (mean.norm() - STANDARD_GRAVITY).abs() < 0.4,
                "{e} {p}: {}",
                mean.norm()
            );
            let gyr = still.iter().map(|x| x.gyr).sum::<V3>() / still.len() as f64;
            assert!(gyr.amax() < c.gyro_bias_dps + 2.0, "{e} {p}: {gyr:?}");
        }
    }

    #[test]
    fn truth_sets_do_not_overlap_the_distractions() {
        for (i, (e, p)) in pairs().into_iter().enumerate() {
            let mut c = short(e, p, 60 + i as u64);
            c.sets = 2;
            c.rest_min_s = 60.0;
            c.rest_max_s = 80.0;
            let (_, truth) = simulate(&c);
            assert!(!truth.distractions.is_empty(), "{e} {p}");
            assert_eq!(truth.sets.len(), 2, "{e} {p}");
            for d in &truth.distractions {
                let (a, b) = span(d);
                assert!(a < b, "{d}");
                for set in &truth.sets {
                    assert!(
                        b <= set.start_s || a >= set.end_s,
                        "{e} {p}: {d} overlaps {set:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn an_abandoned_attempt_is_not_a_rep() {
        let mut found = 0;
        for seed in 0..40 {
            let mut c = short(Exercise::StandingCableAbduction, Placement::Ankle, seed);
            c.compensation_rate = 0.0;
            let (_, truth, segs, to_host) = run(&c);
            for seg in &segs {
                let Act::Set(plan) = &seg.act else { continue };
                if !plan.counted {
                    continue;
                }
                let full = plan
                    .attempts
                    .iter()
                    .filter(|a| a.sensor_leg && a.kind == AttemptKind::Clean)
                    .count();
                for a in plan
                    .attempts
                    .iter()
                    .filter(|a| a.kind == AttemptKind::Abandoned)
                {
                    found += 1;
                    let top = (a.t0 + a.up) * to_host;
                    for set in &truth.sets {
                        assert!(
                            set.reps.iter().all(|r| top < r.start_s || top > r.end_s),
                            "seed {seed}: {set:?}"
                        );
                        assert_eq!(set.rep_count, full, "seed {seed}");
                    }
                }
            }
            if found >= 2 {
                return;
            }
        }
        panic!("no abandoned attempt in 40 seeds");
    }

    #[test]
    fn compensations_appear_when_asked_and_never_at_rate_zero() {
        for (i, (e, p)) in pairs().into_iter().enumerate() {
            let mut c = short(e, p, 80 + i as u64);
            c.reps_min = 12;
            c.reps_max = 12;
            c.compensation_rate = 0.5;
            let (_, truth) = simulate(&c);
            let flags: Vec<FlagKind> = truth
                .sets
                .iter()
                .flat_map(|s| s.reps.iter().flat_map(|r| r.flags.iter().map(|f| f.kind)))
                .collect();
            let visible = c.visible_compensations();
            assert!(flags.len() >= 2, "{e} {p}: {flags:?}");
            assert!(
                flags.iter().all(|k| visible.contains(k)),
                "{e} {p}: {flags:?}"
            );
            for seed in 0..2 {
                let mut c = short(e, p, 200 + 10 * i as u64 + seed);
                c.compensation_rate = 0.0;
                let (_, truth) = simulate(&c);
                for set in &truth.sets {
                    for r in &set.reps {
                        assert!(r.flags.is_empty(), "{e} {p} seed {}: {r:?}", c.seed);
                    }
                }
            }
            // Only the kinds asked for.
            let mut c = short(e, p, 90 + i as u64);
            c.compensation_rate = 0.5;
            c.compensations = vec![visible[0]];
            let (_, truth) = simulate(&c);
            for set in &truth.sets {
                for r in &set.reps {
                    assert!(
                        r.flags.iter().all(|f| f.kind == visible[0]),
                        "{e} {p}: {r:?}"
                    );
                }
            }
        }
    }

    /// A survey over many seeds (run by hand: `-- --ignored --nocapture`).
    #[test]
    #[ignore]
    fn survey() {
        for (e, p) in pairs() {
            let mut false_flags = 0;
            let mut reps = 0;
            let mut peaks = Vec::new();
            let mut sets = 0;
            let mut planned = 0;
            let t0 = std::time::Instant::now();
            for seed in 0..30 {
                let mut c = cfg(e, p, 1000 + seed);
                c.compensation_rate = 0.0;
                c.sets = 2;
                let (_, truth, segs, _) = run(&c);
                for seg in &segs {
                    if let Act::Set(plan) = &seg.act {
                        if plan.counted {
                            planned += plan
                                .attempts
                                .iter()
                                .filter(|a| a.sensor_leg && a.kind != AttemptKind::Abandoned)
                                .count();
                        }
                    }
                }
                sets += truth.sets.len();
                for s in &truth.sets {
                    for r in &s.reps {
                        reps += 1;
                        peaks.push(r.peak_deg);
                        if !r.flags.is_empty() {
                            false_flags += 1;
                            println!("  {e} {p} seed {}: {:?}", c.seed, r.flags);
                        }
                    }
                }
            }
            peaks.sort_by(|a, b| a.partial_cmp(b).unwrap());
            println!(
                "{e} {p}: sets {sets}/60 reps {reps}/{planned} false flags {false_flags}; peaks p5 {:.1} p50 {:.1} p95 {:.1}; {:?}/session",
                peaks[peaks.len() / 20],
                peaks[peaks.len() / 2],
                peaks[peaks.len() * 19 / 20],
                t0.elapsed() / 30
            );
        }
    }
}
