//! A twenty-second body model, built apart after all twenty-one: movement
//! as a switching linear dynamical system (an autoregressive hidden Markov
//! model, the "behavioural syllables" of MoSeq).
//!
//! The whole-body state (working-hip abduction, flexion and rotation, knee,
//! the pelvis' obliquity, tilt and turn, trunk lean, the hips' shift and
//! height, heading, body roll, walking speed and the other leg) evolves as
//! `x[k+1] = A_s x[k] + b_s + w_s[k]`: every degree of freedom is a command
//! state and a second-order joint (three states), `A_s` holds the
//! syllable's own time constants, damping and couplings between joints,
//! `b_s` its fixed point (the raise's target is the lifter's top for that
//! rep, drawn per rep), `w_s` coloured process noise (two Ornstein–Uhlenbeck
//! processes per joint) with per-syllable size. A discrete syllable (rest,
//! raise, hold, lower, settle, fidget, stride, turn, sit, lie, pin, strap,
//! drink, phone, swing, the other leg's rep, ...) switches by a per-lifter
//! transition table; durations are log-normal or negative binomial, exits
//! depend on the state (a raise ends near its target, or gives up early
//! when the lifter is tired; a lower may stop short and raise again).
//! Reps emerge from the switching; they are never written as curves.
//!
//! The pelvis and trunk answer the leg through per-lifter random stable
//! linear filters (second or third order, resonant or not, some with a
//! non-minimum-phase zero, gains that differ between lifters and between
//! the sides), standing, side-lying, seated or on a step, plus their own
//! postural sway. The sensor sits on a strap that slips in small sudden
//! steps and creeps; specific force and angular rate come from the segment
//! motion at a high internal rate, averaged to the sensor's sample times,
//! with wandering bias, scale, cross-axis, noise, quantisation, saturation,
//! a crystal a little off, drops and gaps. Truth is measured on the
//! simulated joints.

use super::sim::{SimConfig, Truth, TruthFlag, TruthRep, TruthSet};
use super::{gauss, round3, rx, ry, rz};
use crate::motion::FlagKind;
use crate::sample::STANDARD_GRAVITY;
use crate::{Exercise, Placement, Sample};
use nalgebra::{UnitQuaternion, Vector3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::VecDeque;

// Degrees of freedom (degrees, or cm for SHIFT and BOB, m/s for WALK).
const ABD: usize = 0;
const FLEX: usize = 1;
const ROT: usize = 2;
const KNEE: usize = 3;
const OBL: usize = 4;
const TILT: usize = 5;
const TURN: usize = 6;
const LEAN: usize = 7;
const SHIFT: usize = 8;
const BOB: usize = 9;
const HEAD: usize = 10;
const ROLL: usize = 11;
const WALK: usize = 12;
const OTHER: usize = 13;
const N: usize = 14;

/// The body's base posture (what a joint not named by a syllable is pulled to).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Posture {
    Stand,
    Lie,
    Sit,
}

/// What a syllable is (the hidden state of the AR-HMM).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Still,
    Raise,
    Hold,
    Lower,
    Settle,
    Fidget,
    Stride,
    Turn,
    Posture,
    Pin,
    Strap,
    Drink,
    Phone,
    Swing,
    OtherLeg,
    BenchShift,
}

/// How a syllable ends.
#[derive(Debug, Clone, Copy)]
enum Exit {
    /// After this long, s.
    Timer(f64),
    /// When `dof` (times `sign`) reaches `level` from below (`up`) or above,
    /// or after `max` s.
    Reach {
        dof: usize,
        sign: f64,
        level: f64,
        up: bool,
        max: f64,
        /// Look ahead (s): where the joint would stop at this speed.
        lead: f64,
    },
}

/// One syllable instance: its own dynamics `A_s`, fixed point `b_s` and
/// noise `w_s`, given per joint.
#[derive(Debug, Clone)]
struct Syl {
    kind: Kind,
    /// Target per joint (None: the posture's default).
    target: [Option<f64>; N],
    /// Natural frequency per joint, rad/s.
    omega: [f64; N],
    /// Damping ratio per joint.
    zeta: [f64; N],
    /// Rate of the command state, 1/s.
    alpha: [f64; N],
    /// Process noise per joint (size of the wander, in the joint's units).
    noise: [f64; N],
    /// Couplings in `A_s`: joint i is pulled toward c·q_j.
    couple: Vec<(usize, usize, f64)>,
    exit: Exit,
    /// A distraction label (between sets).
    label: Option<&'static str>,
    /// A heel strike at the start (walking).
    strike: bool,
    /// Start the command from where the joint is (a new intention).
    reset: Option<usize>,
}

impl Syl {
    fn new(kind: Kind, exit: Exit, lifter: &Lifter) -> Syl {
        Syl {
            kind,
            target: [None; N],
            omega: lifter.rest_omega,
            zeta: [0.9; N],
            alpha: [8.0; N],
            noise: lifter.sway,
            couple: Vec::new(),
            exit,
            label: None,
            strike: false,
            reset: None,
        }
    }
    fn set(&mut self, dof: usize, target: f64, omega: f64, zeta: f64) -> &mut Self {
        self.target[dof] = Some(target);
        self.omega[dof] = omega;
        self.zeta[dof] = zeta;
        self
    }
}

/// A per-lifter random stable linear filter (controllable canonical form).
#[derive(Debug, Clone)]
struct Filter {
    order: usize,
    a: [f64; 3],
    b: [f64; 3],
    x: [f64; 3],
}

impl Filter {
    /// DC gain `k`, a resonant pair, maybe a real pole and a zero
    /// (left-half plane, or right-half plane: the output first goes the
    /// wrong way).
    fn draw(rng: &mut ChaCha8Rng, k: f64) -> Filter {
        let wn: f64 = rng.gen_range(3.0..12.0);
        let zeta: f64 = if rng.gen_bool(0.25) {
            rng.gen_range(0.15..0.35)
        } else {
            rng.gen_range(0.5..0.95)
        };
        let third = rng.gen_bool(0.5);
        let p: f64 = 1.0 / rng.gen_range(0.05..0.3);
        let zr: f64 = rng.gen_range(0.0..1.0);
        // Numerator 1 + s·m (m < 0: a right-half-plane zero).
        let m = if zr < 0.4 {
            0.0
        } else if zr < 0.75 {
            1.0 / rng.gen_range(2.0..10.0)
        } else {
            -1.0 / rng.gen_range(3.0..10.0)
        };
        // Denominator s² + 2ζωs + ω² (times s + p).
        let (a2, a1, a0) = (2.0 * zeta * wn, wn * wn, 0.0);
        let mut f = if third {
            // (s² + a2 s + a1)(s + p) = s³ + (a2 + p)s² + (a1 + a2 p)s + a1 p
            let dc = a1 * p;
            Filter {
                order: 3,
                a: [a1 * p, a1 + a2 * p, a2 + p],
                b: [k * dc, k * dc * m, 0.0],
                x: [0.0; 3],
            }
        } else {
            let dc = a1;
            Filter {
                order: 2,
                a: [a1, a2, a0],
                b: [k * dc, k * dc * m, 0.0],
                x: [0.0; 3],
            }
        };
        f.x = [0.0; 3];
        f
    }

    fn step(&mut self, u: f64, dt: f64) -> f64 {
        let n = self.order;
        let x = &mut self.x;
        let dx = u - (0..n).map(|i| self.a[i] * x[i]).sum::<f64>();
        x[n - 1] += dt * dx;
        for i in (0..n - 1).rev() {
            x[i] += dt * x[i + 1];
        }
        (0..n).map(|i| self.b[i] * x[i]).sum()
    }
}

/// The pelvis' and trunk's reactions to one leg.
#[derive(Debug, Clone)]
struct Reaction {
    obl: Filter,
    lean: Filter,
    turn: Filter,
    shift: Filter,
}

impl Reaction {
    fn draw(rng: &mut ChaCha8Rng, g: [f64; 4]) -> Reaction {
        Reaction {
            obl: Filter::draw(rng, g[0]),
            lean: Filter::draw(rng, g[1]),
            turn: Filter::draw(rng, g[2]),
            shift: Filter::draw(rng, g[3]),
        }
    }
    fn step(&mut self, u: f64, dt: f64) -> [f64; 4] {
        [
            self.obl.step(u, dt),
            self.lean.step(u, dt),
            self.turn.step(u, dt),
            self.shift.step(u, dt),
        ]
    }
}

/// Who is lifting.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Population {
    Rehab,
    Gym,
    Athlete,
    Video,
}

/// One lifter: their transition table, time constants, targets and tremor.
#[derive(Debug, Clone)]
struct Lifter {
    /// Working top (°): leg rotation, or the hip hitch's drop.
    top: f64,
    raise_omega: f64,
    lower_omega: f64,
    zeta: f64,
    /// Per-rep spread of the top (share).
    top_spread: f64,
    p_hold: f64,
    hold_median: f64,
    p_pause: f64,
    pause_ticks: (u32, f64),
    p_bounce: f64,
    p_abandon: f64,
    p_fidget: f64,
    fatigue_rate: f64,
    tremor: f64,
    tremor_hz: f64,
    rest_omega: [f64; N],
    sway: [f64; N],
    /// Natural hip flexion with the leg (share of abduction, kept small).
    flex_couple: f64,
    rot_couple: f64,
    /// Trunk lean's roll seen by a sacral sensor.
    lean_roll: f64,
    stride_s: f64,
}

impl Lifter {
    fn draw(rng: &mut ChaCha8Rng, ex: Exercise) -> Lifter {
        let pop = match rng.gen_range(0..4) {
            0 => Population::Rehab,
            1 => Population::Gym,
            2 => Population::Athlete,
            _ => Population::Video,
        };
        let (top, up, down, p_hold, hold, p_abandon, tremor) = match pop {
            Population::Rehab => (
                rng.gen_range(20.0..32.0),
                rng.gen_range(2.6..4.0),
                rng.gen_range(1.9..3.0),
                0.5,
                rng.gen_range(0.6..2.5),
                rng.gen_range(0.04..0.1),
                rng.gen_range(0.2..0.6),
            ),
            Population::Gym => (
                rng.gen_range(30.0..46.0),
                rng.gen_range(4.0..6.5),
                rng.gen_range(2.6..4.4),
                0.3,
                rng.gen_range(0.2..0.9),
                rng.gen_range(0.0..0.04),
                rng.gen_range(0.05..0.25),
            ),
            Population::Athlete => (
                rng.gen_range(38.0..52.0),
                rng.gen_range(5.5..7.5),
                rng.gen_range(2.0..3.4),
                0.6,
                rng.gen_range(0.4..1.8),
                rng.gen_range(0.0..0.02),
                rng.gen_range(0.03..0.15),
            ),
            Population::Video => (
                rng.gen_range(26.0..44.0),
                rng.gen_range(3.6..6.0),
                rng.gen_range(3.0..5.0),
                0.2,
                rng.gen_range(0.2..0.6),
                rng.gen_range(0.0..0.05),
                rng.gen_range(0.05..0.3),
            ),
        };
        let top = match ex {
            Exercise::HipHitch => rng.gen_range(6.5..11.5),
            Exercise::SeatedMachineAbduction => top * rng.gen_range(0.75..1.0),
            _ => top,
        };
        let mut rest_omega = [3.0; N];
        let mut sway = [0.0; N];
        for (i, w) in rest_omega.iter_mut().enumerate() {
            *w = rng.gen_range(2.2..4.5) * if i == HEAD { 0.8 } else { 1.0 };
        }
        let steadiness = match pop {
            Population::Rehab => rng.gen_range(1.2..1.8),
            Population::Athlete => rng.gen_range(0.5..0.9),
            _ => rng.gen_range(0.7..1.3),
        };
        sway[ABD] = 0.4 * steadiness;
        sway[FLEX] = 0.5 * steadiness;
        sway[ROT] = 0.5 * steadiness;
        sway[KNEE] = 0.6 * steadiness;
        sway[OBL] = rng.gen_range(0.2..0.45) * steadiness;
        sway[TILT] = rng.gen_range(0.2..0.5) * steadiness;
        sway[TURN] = rng.gen_range(0.3..0.8) * steadiness;
        sway[LEAN] = rng.gen_range(0.3..0.7) * steadiness;
        sway[SHIFT] = rng.gen_range(0.2..0.5) * steadiness;
        sway[BOB] = 0.1;
        sway[HEAD] = 0.5 * steadiness;
        Lifter {
            top,
            raise_omega: up,
            lower_omega: down,
            zeta: rng.gen_range(0.85..1.15),
            top_spread: rng.gen_range(0.02..0.07),
            p_hold,
            hold_median: hold,
            // Video followers keep the instructor's rhythm: few pauses.
            p_pause: if pop == Population::Video {
                rng.gen_range(0.1..0.3)
            } else {
                rng.gen_range(0.3..0.9)
            },
            pause_ticks: (rng.gen_range(2..6), rng.gen_range(0.2..0.5)),
            p_bounce: match pop {
                Population::Video => 0.07,
                Population::Rehab => 0.03,
                _ => 0.04,
            },
            p_abandon,
            p_fidget: rng.gen_range(0.02..0.08),
            fatigue_rate: rng.gen_range(0.01..0.04),
            // Tremor is small on a leg, smaller still on the pelvis.
            tremor: tremor * if ex == Exercise::HipHitch { 0.05 } else { 0.1 },
            tremor_hz: rng.gen_range(7.5..12.0),
            rest_omega,
            sway,
            flex_couple: rng.gen_range(-0.06..0.12),
            rot_couple: rng.gen_range(-0.12..0.12),
            lean_roll: rng.gen_range(0.12..0.35),
            stride_s: rng.gen_range(0.48..0.62),
        }
    }
}

/// One joint's state: command u, angle q, velocity v, two OU noises.
#[derive(Debug, Clone, Copy, Default)]
struct Joint {
    u: f64,
    q: f64,
    v: f64,
    n1: f64,
    n2: f64,
}

/// What the truth needs from the motion, every 10 ms.
#[derive(Debug, Clone, Copy)]
struct Frame {
    t: f64,
    shank: UnitQuaternion<f64>,
    obl: f64,
    lean: f64,
    flex: f64,
}

/// A set as the lifter did it.
#[derive(Debug, Clone, Default)]
struct SetMark {
    first_raise: Option<f64>,
    end: f64,
    begin: f64,
}

/// Where the session is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Stage {
    Lead,
    Set,
    Rest,
    Tail,
    Done,
}

/// What a set needs from rep to rep.
#[derive(Debug, Clone, Default)]
struct SetState {
    goal: usize,
    done: usize,
    fatigue: f64,
    last: Option<Kind>,
    /// The last raise gave up (an abandoned attempt) or stopped short.
    aborted: bool,
    top_now: f64,
    /// The top this rep aims at.
    rep_top: f64,
    comp: Option<FlagKind>,
    comp_size: f64,
    ending: bool,
    attempts: usize,
}

/// The sensor's strap and its errors.
#[derive(Debug, Clone)]
struct Sensor {
    mount: UnitQuaternion<f64>,
    /// Where a re-strap is taking the mounting (over about a second).
    mount_target: UnitQuaternion<f64>,
    offset: Vector3<f64>,
    slip: UnitQuaternion<f64>,
    slip_target: UnitQuaternion<f64>,
    creep_axis: Vector3<f64>,
    creep_rate: f64,
    gyro_bias: Vector3<f64>,
    gyro_temp: Vector3<f64>,
    acc_bias: Vector3<f64>,
    scale_a: Vector3<f64>,
    scale_g: Vector3<f64>,
    cross: [f64; 6],
    ppm: f64,
}

/// The simulated session: samples from a switching linear dynamical system.
pub struct SyllableSimulator {
    samples: std::vec::IntoIter<Sample>,
}

struct Body {
    cfg: SimConfig,
    rng: ChaCha8Rng,
    lifter: Lifter,
    dt: f64,
    t: f64,
    x: [Joint; N],
    posture: Posture,
    work_posture: Posture,
    /// The working side's sign (+1 right).
    s: f64,
    /// The free side's sign.
    f: f64,
    rep_dof: usize,
    rep_sign: f64,
    react_work: Reaction,
    react_other: Reaction,
    react_out: [f64; 4],
    tremor: (f64, f64),
    comps: Vec<FlagKind>,
    queue: VecDeque<Syl>,
    stage: Stage,
    set_index: usize,
    set: SetState,
    marks: Vec<SetMark>,
    distractions: Vec<(String, f64, f64)>,
    frames: Vec<Frame>,
    next_frame: f64,
    sensor: Sensor,
    prev: Vec<(UnitQuaternion<f64>, Vector3<f64>)>,
    acc_sum: Vector3<f64>,
    gyr_sum: Vector3<f64>,
    n_sum: usize,
    next_sample: f64,
    out: Vec<Sample>,
    jolt: (f64, f64),
    end_at: Option<f64>,
    temp: f64,
    base: Vector3<f64>,
    gaps: Vec<(f64, f64)>,
}

impl SyllableSimulator {
    /// Simulates the session `cfg` asks for; returns the samples and the truth.
    pub fn new(cfg: &SimConfig) -> Result<(Self, Truth), String> {
        cfg.validate()?;
        let mut body = Body::new(cfg);
        body.run();
        let truth = body.truth();
        Ok((
            SyllableSimulator {
                samples: std::mem::take(&mut body.out).into_iter(),
            },
            truth,
        ))
    }
}

impl Iterator for SyllableSimulator {
    type Item = Sample;
    fn next(&mut self) -> Option<Sample> {
        self.samples.next()
    }
}

/// A log-normal draw with this median and log-spread.
fn lognormal(rng: &mut ChaCha8Rng, median: f64, sigma: f64) -> f64 {
    median * (sigma * gauss(rng)).exp()
}

/// A negative binomial count (r successes, success chance p): failures before.
fn negbin(rng: &mut ChaCha8Rng, r: u32, p: f64) -> u32 {
    let mut failures = 0;
    let mut ok = 0;
    while ok < r && failures < 10_000 {
        if rng.gen_bool(p) {
            ok += 1;
        } else {
            failures += 1;
        }
    }
    failures
}

fn unit_random(rng: &mut ChaCha8Rng) -> Vector3<f64> {
    loop {
        let v = Vector3::new(gauss(rng), gauss(rng), gauss(rng));
        if v.norm() > 1e-6 {
            return v.normalize();
        }
    }
}

impl Body {
    fn new(cfg: &SimConfig) -> Body {
        let mut rng =
            ChaCha8Rng::seed_from_u64(cfg.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5111_ab1e);
        let lifter = Lifter::draw(&mut rng, cfg.exercise);
        let ex = cfg.exercise;
        let s = cfg.side.sign();
        let f = ex.free_side(cfg.side).sign();
        let work_posture = match ex {
            Exercise::SideLyingAbduction => Posture::Lie,
            Exercise::SeatedMachineAbduction => Posture::Sit,
            _ => Posture::Stand,
        };
        // Gains of the reactions (°/° of leg, cm/° for the shift), per side.
        let side_gain = |rng: &mut ChaCha8Rng| rng.gen_range(0.7..1.3);
        let obl_sign = if rng.gen_bool(0.7) { 1.0 } else { -1.0 };
        let g = match ex {
            Exercise::HipHitch => [
                0.0,
                -rng.gen_range(0.15..0.5),
                rng.gen_range(0.05..0.2) * if rng.gen_bool(0.5) { 1.0 } else { -1.0 },
                rng.gen_range(0.2..0.5),
            ],
            Exercise::SideLyingAbduction => [
                obl_sign * rng.gen_range(0.005..0.04),
                rng.gen_range(0.01..0.04),
                rng.gen_range(-0.03..0.03),
                rng.gen_range(0.0..0.03),
            ],
            Exercise::SeatedMachineAbduction => [
                rng.gen_range(-0.02..0.02),
                rng.gen_range(0.0..0.03),
                rng.gen_range(-0.02..0.02),
                rng.gen_range(0.0..0.02),
            ],
            _ => [
                obl_sign * rng.gen_range(0.008..0.06),
                rng.gen_range(0.01..0.07),
                rng.gen_range(-0.05..0.05),
                rng.gen_range(0.03..0.12),
            ],
        };
        let gw = side_gain(&mut rng);
        let go = side_gain(&mut rng);
        let react_work = Reaction::draw(&mut rng, g.map(|v| v * gw));
        let react_other = Reaction::draw(
            &mut rng,
            [g[0] * go * -0.8, -(g[1] * go), -(g[2] * go), -(g[3] * go)],
        );
        let (rep_dof, rep_sign) = if ex == Exercise::HipHitch {
            (OBL, -1.0)
        } else {
            (ABD, 1.0)
        };
        let comps = if cfg.compensation_rate > 0.0 {
            cfg.visible_compensations()
                .into_iter()
                .filter(|k| !(ex == Exercise::HipHitch && *k == FlagKind::PelvicDrop))
                .collect()
        } else {
            Vec::new()
        };
        let sensor = Sensor::draw(&mut rng, cfg);
        let fs_int = (2.0 * cfg.rate_hz).max(1000.0);
        let mut body = Body {
            cfg: cfg.clone(),
            rng,
            lifter,
            dt: 1.0 / fs_int,
            t: 0.0,
            x: [Joint::default(); N],
            posture: work_posture,
            work_posture,
            s,
            f,
            rep_dof,
            rep_sign,
            react_work,
            react_other,
            react_out: [0.0; 4],
            tremor: (0.0, 0.0),
            comps,
            queue: VecDeque::new(),
            stage: Stage::Lead,
            set_index: 0,
            set: SetState::default(),
            marks: Vec::new(),
            distractions: Vec::new(),
            frames: Vec::new(),
            next_frame: 0.0,
            sensor,
            prev: Vec::new(),
            acc_sum: Vector3::zeros(),
            gyr_sum: Vector3::zeros(),
            n_sum: 0,
            next_sample: 0.0,
            out: Vec::new(),
            jolt: (0.0, 0.0),
            end_at: None,
            temp: 0.0,
            base: Vector3::zeros(),
            gaps: Vec::new(),
        };
        // Start in the working posture, at rest.
        for i in 0..N {
            let d = body.default_target(i);
            body.x[i].u = d;
            body.x[i].q = d;
        }
        body
    }

    /// The posture's default for joint `i`.
    fn default_target(&self, i: usize) -> f64 {
        match (self.posture, i) {
            (Posture::Sit, FLEX) => 90.0,
            (Posture::Sit, KNEE) => 90.0,
            (Posture::Sit, TILT) => -10.0,
            (Posture::Sit, BOB) => -45.0,
            (Posture::Lie, ROLL) => self.s * 90.0,
            (Posture::Lie, BOB) => -70.0,
            (Posture::Lie, FLEX) => 10.0,
            (Posture::Lie, KNEE) => 5.0,
            (_, HEAD) => self.x[HEAD].u,
            _ => 0.0,
        }
    }

    fn run(&mut self) {
        let lead = self
            .cfg
            .lead_in_s
            .unwrap_or_else(|| self.rng.gen_range(0.5..3.0));
        let mut still = Syl::new(Kind::Still, Exit::Timer(lead.max(0.0)), &self.lifter);
        still.noise = self.lifter.sway;
        self.queue.push_back(still);
        // The session's 200 ms gaps, drawn up front on their own stream.
        while let Some(syl) = self.next_syllable() {
            self.play(syl);
            if self.stage == Stage::Done {
                break;
            }
            if let Some(end) = self.end_at {
                if self.t >= end {
                    break;
                }
            }
        }
    }

    // ---------------------------------------------------------------- plan

    fn next_syllable(&mut self) -> Option<Syl> {
        if let Some(s) = self.queue.pop_front() {
            return Some(s);
        }
        match self.stage {
            Stage::Lead => {
                self.begin_set();
                self.next_syllable()
            }
            Stage::Set => Some(self.set_syllable()),
            Stage::Rest => {
                self.set_index += 1;
                self.begin_set();
                self.next_syllable()
            }
            Stage::Tail | Stage::Done => {
                self.stage = Stage::Done;
                None
            }
        }
    }

    fn begin_set(&mut self) {
        self.stage = Stage::Set;
        let goal = self.rng.gen_range(self.cfg.reps_min..=self.cfg.reps_max);
        let carry = self.set.fatigue * 0.3;
        self.set = SetState {
            goal,
            fatigue: carry,
            top_now: self.lifter.top * self.rng.gen_range(0.92..1.05),
            ..SetState::default()
        };
        self.marks.push(SetMark {
            begin: self.t,
            ..SetMark::default()
        });
        // Back in the working posture, still for a moment: the set's neutral.
        if self.posture != self.work_posture {
            let to = self.work_posture;
            self.push_posture(to, None);
        }
        let d = self.rng.gen_range(0.8..2.5);
        let mut st = Syl::new(Kind::Still, Exit::Timer(d), &self.lifter);
        st.noise = self.lifter.sway.map(|v| v * 0.7);
        self.queue.push_back(st);
    }

    /// The next syllable inside a set: the per-lifter transition table,
    /// conditioned on the syllable that just ended and how it ended.
    fn set_syllable(&mut self) -> Syl {
        let l = self.lifter.clone();
        let last = self.set.last;
        let fat = self.set.fatigue;
        let next = match last {
            None | Some(Kind::Still) | Some(Kind::Settle) | Some(Kind::Fidget) => {
                if self.set.done >= self.set.goal || self.set.attempts > self.set.goal * 3 + 4 {
                    self.set.ending = true;
                    Kind::Settle
                } else if last == Some(Kind::Settle)
                    && self.rng.gen_bool(l.p_fidget)
                    && self.cfg.fidgets
                {
                    Kind::Fidget
                } else {
                    Kind::Raise
                }
            }
            Some(Kind::Raise) => {
                if self.set.aborted {
                    Kind::Lower
                } else if self
                    .rng
                    .gen_bool((l.p_hold * (1.0 - 0.3 * fat)).clamp(0.0, 1.0))
                {
                    Kind::Hold
                } else {
                    Kind::Lower
                }
            }
            Some(Kind::Hold) => Kind::Lower,
            Some(Kind::Lower) => {
                if self.set.aborted {
                    // Stopped short: raise again without returning to neutral.
                    Kind::Raise
                } else if self.rng.gen_bool(l.p_pause) || self.set.done >= self.set.goal {
                    Kind::Settle
                } else {
                    Kind::Raise
                }
            }
            _ => Kind::Settle,
        };
        if self.set.ending && next == Kind::Settle && last == Some(Kind::Settle) {
            // The set is over.
            let m = self.marks.last_mut().unwrap();
            m.end = self.t;
            self.begin_rest();
            return self
                .next_syllable()
                .unwrap_or_else(|| Syl::new(Kind::Still, Exit::Timer(0.1), &self.lifter));
        }
        self.set.last = Some(next);
        match next {
            Kind::Raise => self.raise(),
            Kind::Hold => {
                let d = lognormal(&mut self.rng, l.hold_median * (1.0 + 0.5 * fat), 0.4);
                let mut h = Syl::new(Kind::Hold, Exit::Timer(d.min(6.0)), &l);
                let tgt = self.rep_sign * self.set.rep_top;
                h.set(self.rep_dof, tgt, l.raise_omega * 1.3, 0.9);
                self.comp_hold(&mut h);
                h.noise[self.rep_dof] = l.sway[ABD] * (1.0 + fat);
                self.leg_couplings(&mut h);
                h
            }
            Kind::Lower => self.lower(),
            Kind::Fidget => self.fidget(),
            _ => {
                let (r, p) = l.pause_ticks;
                let ticks = negbin(&mut self.rng, r, p);
                let d = 0.15 + 0.04 * ticks as f64 * (1.0 + fat);
                let d = if self.set.ending {
                    d + self.rng.gen_range(0.5..1.5)
                } else {
                    d
                };
                let mut st = Syl::new(Kind::Settle, Exit::Timer(d), &l);
                st.set(self.rep_dof, 0.0, l.lower_omega * 1.2, 1.0);
                st
            }
        }
    }

    fn raise(&mut self) -> Syl {
        let l = self.lifter.clone();
        let fat = self.set.fatigue;
        let ex = self.cfg.exercise;
        self.set.attempts += 1;
        let was_short = self.set.aborted;
        self.set.aborted = false;
        // The rep's own top, lower as fatigue grows.
        let mut top = self.set.top_now
            * (1.0 - 0.18 * fat.min(1.0))
            * (1.0 + l.top_spread * gauss(&mut self.rng)).clamp(0.85, 1.15);
        // Compensation on this rep?
        self.set.comp = None;
        if !was_short
            && !self.comps.is_empty()
            && self
                .rng
                .gen_bool(self.cfg.compensation_rate.clamp(0.0, 1.0))
        {
            let k = self.comps[self.rng.gen_range(0..self.comps.len())];
            self.set.comp = Some(k);
            // Mostly clearly over the line, some near it (either side).
            let near = self.rng.gen_bool(0.2);
            self.set.comp_size = match k {
                FlagKind::HipHike | FlagKind::PelvicDrop => {
                    if near {
                        self.rng.gen_range(4.6..6.2)
                    } else {
                        self.rng.gen_range(6.5..11.0)
                    }
                }
                FlagKind::TrunkSway => {
                    if near {
                        self.rng.gen_range(5.0..6.5)
                    } else {
                        self.rng.gen_range(7.0..11.0)
                    }
                }
                FlagKind::HipFlexionDrift => {
                    if near {
                        self.rng.gen_range(10.0..13.0)
                    } else {
                        self.rng.gen_range(14.0..24.0)
                    }
                }
                FlagKind::PartialRange => self.rng.gen_range(0.48..0.64),
                FlagKind::Momentum => self.rng.gen_range(0.9..1.05),
            };
            if k == FlagKind::PartialRange {
                top *= self.set.comp_size;
            }
        }
        // An abandoned attempt: gives up low (more likely when tired).
        let p_ab = (l.p_abandon + 0.15 * fat * fat).min(0.35);
        let abandon =
            !was_short && self.set.done > 0 && self.set.comp.is_none() && self.rng.gen_bool(p_ab);
        let omega = l.raise_omega * (1.0 - 0.25 * fat.min(1.0)) * self.rng.gen_range(0.9..1.1);
        let mut r = Syl::new(
            Kind::Raise,
            Exit::Reach {
                dof: self.rep_dof,
                sign: self.rep_sign,
                lead: if abandon { 1.0 / omega } else { 0.0 },
                level: if abandon {
                    top * self.rng.gen_range(0.08..0.16)
                } else {
                    top * 0.92
                },
                up: true,
                max: 3.5 * (1.0 + fat),
            },
            &l,
        );
        r.set(self.rep_dof, self.rep_sign * top, omega, l.zeta);
        r.alpha[self.rep_dof] = omega * 1.6;
        r.noise[self.rep_dof] = l.sway[ABD] * 1.5;
        if abandon {
            self.set.aborted = true;
        }
        self.set.rep_top = top;
        self.leg_couplings(&mut r);
        if let Some(k) = self.set.comp {
            let c = self.set.comp_size;
            match k {
                FlagKind::HipHike => {
                    if ex == Exercise::HipHitch {
                        // Hitched past level, handled on the way back.
                    } else {
                        r.set(OBL, c * 1.15, omega * 1.1, 0.9);
                    }
                }
                FlagKind::PelvicDrop => {
                    r.set(OBL, -c * 1.15, omega * 1.1, 0.9);
                }
                FlagKind::TrunkSway => {
                    r.set(LEAN, c * 1.15, omega * 1.2, 0.8);
                    r.couple.push((TURN, LEAN, 0.5));
                    r.couple.push((SHIFT, LEAN, 0.8));
                }
                FlagKind::HipFlexionDrift => {
                    r.set(FLEX, c * 1.1, omega * 0.9, 0.9);
                }
                FlagKind::Momentum => {
                    let w = self.rng.gen_range(12.0..16.0);
                    r.set(
                        self.rep_dof,
                        self.rep_sign * top * c,
                        w,
                        self.rng.gen_range(0.3..0.45),
                    );
                    r.alpha[self.rep_dof] = 25.0;
                    r.exit = Exit::Timer(self.rng.gen_range(0.35..0.5));
                }
                FlagKind::PartialRange => {}
            }
        }
        r
    }

    /// The leg's own habits in `A_s`: a little flexion and rotation with
    /// the abduction, in every syllable of a rep.
    fn leg_couplings(&self, syl: &mut Syl) {
        if self.cfg.exercise != Exercise::HipHitch {
            syl.couple.push((FLEX, ABD, self.lifter.flex_couple));
            syl.couple.push((ROT, ABD, self.lifter.rot_couple));
        }
    }

    fn comp_hold(&mut self, h: &mut Syl) {
        let l = &self.lifter;
        if let Some(k) = self.set.comp {
            let c = self.set.comp_size;
            match k {
                FlagKind::HipHike if self.cfg.exercise != Exercise::HipHitch => {
                    h.set(OBL, c * 1.1, 4.0, 0.9);
                }
                FlagKind::PelvicDrop => {
                    h.set(OBL, -c * 1.1, 4.0, 0.9);
                }
                FlagKind::TrunkSway => {
                    h.set(LEAN, -c * 1.15, l.raise_omega * 1.3, 0.8);
                    h.couple.push((TURN, LEAN, 0.5));
                    h.couple.push((SHIFT, LEAN, 0.8));
                }
                FlagKind::HipFlexionDrift => {
                    h.set(FLEX, c * 1.1, 4.0, 0.9);
                }
                _ => {}
            }
        }
    }

    fn lower(&mut self) -> Syl {
        let l = self.lifter.clone();
        let fat = self.set.fatigue;
        let ex = self.cfg.exercise;
        let top = self.set.rep_top;
        let mut omega =
            1.2 * l.lower_omega * (1.0 - 0.2 * fat.min(1.0)) * self.rng.gen_range(0.9..1.1);
        let mut zeta = l.zeta;
        // A lower that stops short and raises again (no return to neutral).
        let short = !self.set.aborted
            && self.set.comp.is_none()
            && self.set.done + 1 < self.set.goal
            && self.rng.gen_bool(l.p_bounce);
        let mut target = 0.0;
        let mut level = top * 0.03 + 0.3;
        if self.set.comp == Some(FlagKind::Momentum) {
            // Dropped: fast, underdamped, a rebound at the bottom.
            omega = self.rng.gen_range(9.0..14.0);
            zeta = self.rng.gen_range(0.55..0.7);
        }
        if self.set.comp == Some(FlagKind::HipHike) && ex == Exercise::HipHitch {
            // The hitch pulls the free side past level.
            target = -self.set.comp_size * 1.15;
            level = 0.0;
        }
        if short {
            target = top * self.rng.gen_range(0.5..0.65);
            level = target + 0.08 * top;
        }
        let mut lo = Syl::new(
            Kind::Lower,
            Exit::Reach {
                dof: self.rep_dof,
                sign: -self.rep_sign,
                level: -level,
                up: true,
                max: 4.0 * (1.0 + fat),
                lead: 0.0,
            },
            &l,
        );
        lo.set(self.rep_dof, self.rep_sign * target, omega, zeta);
        lo.reset = Some(self.rep_dof);
        self.leg_couplings(&mut lo);
        lo.alpha[self.rep_dof] = omega * 1.5;
        if let Some(FlagKind::TrunkSway) = self.set.comp {
            lo.set(LEAN, -self.set.comp_size * 1.1, omega * 1.3, 0.8);
            lo.couple.push((TURN, LEAN, 0.5));
        }
        if self.set.comp == Some(FlagKind::HipHike) && ex == Exercise::HipHitch {
            // Stay up there a moment.
            let mut up = lo.clone();
            up.exit = Exit::Timer(self.rng.gen_range(0.9..1.5));
            up.reset = None;
            up.omega[self.rep_dof] = l.raise_omega;
            up.zeta[self.rep_dof] = 0.9;
            self.queue.push_back(up);
            let mut back = Syl::new(Kind::Lower, Exit::Timer(0.8), &l);
            back.set(self.rep_dof, 0.0, omega, 1.0);
            self.queue.push_back(back);
        }
        if short {
            self.set.aborted = true;
        } else if !self.set.aborted {
            self.set.done += 1;
            self.set.fatigue += l.fatigue_rate * self.rng.gen_range(0.7..1.3);
        } else {
            // An abandoned attempt coming down: it was not a rep.
            self.set.aborted = false;
            self.set.last = Some(Kind::Settle);
        }
        lo
    }

    fn fidget(&mut self) -> Syl {
        let l = self.lifter.clone();
        let d = self.rng.gen_range(0.6..2.0);
        let mut fi = Syl::new(Kind::Fidget, Exit::Timer(d), &l);
        let a: f64 = self.rng.gen_range(-3.0..3.0);
        fi.set(ABD, a.max(-1.0), 5.0, 0.7);
        fi.set(ROT, self.rng.gen_range(-8.0..8.0), 5.0, 0.6);
        fi.set(SHIFT, self.rng.gen_range(-2.0..2.0), 4.0, 0.8);
        if self.work_posture == Posture::Sit {
            fi.kind = Kind::BenchShift;
            fi.set(OBL, self.rng.gen_range(-3.0..3.0), 6.0, 0.7);
        }
        fi.noise = l.sway.map(|v| v * 2.0);
        fi
    }

    /// A posture change (sit, stand, lie down, get up).
    fn push_posture(&mut self, to: Posture, label: Option<&'static str>) {
        let from = self.posture;
        self.posture = to;
        let d = match (from, to) {
            (Posture::Lie, _) | (_, Posture::Lie) => self.rng.gen_range(2.0..4.0),
            _ => self.rng.gen_range(1.0..2.2),
        };
        let mut p = Syl::new(Kind::Posture, Exit::Timer(d), &self.lifter);
        for i in [FLEX, KNEE, TILT, BOB, ROLL, ABD, OBL, LEAN, SHIFT] {
            let tgt = self.default_target(i);
            p.set(i, tgt, self.rng.gen_range(2.5..4.0), 0.85);
        }
        // Getting up or down leans the trunk first.
        p.target[TILT] = Some(self.default_target(TILT) + 25.0);
        p.noise = self.lifter.sway.map(|v| v * 2.5);
        p.label = label;
        self.queue.push_back(p);
        let mut settle = Syl::new(Kind::Still, Exit::Timer(0.8), &self.lifter);
        settle.label = label;
        self.queue.push_back(settle);
    }

    fn push_walk(&mut self, seconds: f64) {
        let l = self.lifter.clone();
        if self.posture != Posture::Stand {
            self.push_posture(Posture::Stand, Some("stand up"));
        }
        let n = ((seconds / l.stride_s).round() as usize).max(2);
        let turn_at = if self.rng.gen_bool(0.7) {
            n / 2
        } else {
            usize::MAX
        };
        for i in 0..n {
            let d = l.stride_s * self.rng.gen_range(0.93..1.07);
            let mut st = Syl::new(Kind::Stride, Exit::Timer(d), &l);
            let swing = i % 2 == 0;
            let sg = if swing { 1.0 } else { -1.0 };
            let w = 2.0 * std::f64::consts::PI / (2.0 * d) * 1.2;
            st.set(FLEX, sg * 22.0, w, 0.35);
            st.set(KNEE, if swing { 55.0 } else { 5.0 }, w * 1.5, 0.4);
            st.set(OBL, sg * 3.0, w, 0.4);
            st.set(TURN, sg * 5.0, w, 0.4);
            st.set(SHIFT, -sg * 3.0, w, 0.4);
            st.set(BOB, 1.5, w * 2.0, 0.3);
            st.set(WALK, if i + 1 == n { 0.0 } else { 1.2 }, 3.0, 1.0);
            st.set(TILT, 4.0, 3.0, 0.8);
            st.strike = true;
            st.label = Some("walk");
            self.queue.push_back(st);
            if i == turn_at {
                let mut tu = Syl::new(Kind::Turn, Exit::Timer(1.2), &l);
                let h = self.x[HEAD].u + 180.0 * if self.rng.gen_bool(0.5) { 1.0 } else { -1.0 };
                tu.set(HEAD, h, 4.0, 0.9);
                tu.set(WALK, 0.0, 4.0, 1.0);
                tu.set(FLEX, 10.0, 5.0, 0.5);
                tu.set(KNEE, 20.0, 5.0, 0.5);
                tu.label = Some("turn");
                self.queue.push_back(tu);
            }
        }
    }

    fn begin_rest(&mut self) {
        let last = self.set_index + 1 >= self.cfg.sets;
        let l = self.lifter.clone();
        let total = if last {
            self.rng.gen_range(1.5..8.0)
        } else {
            self.rng
                .gen_range(self.cfg.rest_min_s..=self.cfg.rest_max_s)
        };
        self.stage = if last { Stage::Tail } else { Stage::Rest };
        let start = self.t;
        // Some sessions end mid-motion.
        if last && self.rng.gen_bool(0.35) {
            self.end_at = Some(start + self.rng.gen_range(1.2..3.0));
        }
        let mut used = 0.0;
        let mut plan: Vec<&'static str> = Vec::new();
        let standing = self.work_posture == Posture::Stand;
        if self.cfg.fidgets && self.rng.gen_bool(0.4) {
            plan.push("swing");
        }
        if self.cfg.walking && (standing || self.rng.gen_bool(0.4)) {
            plan.push("walk");
        }
        if self.cfg.fidgets {
            let extras = [
                "drink",
                "phone",
                "re-strap",
                "fidget",
                "sit",
                "pin",
                "other leg's set",
            ];
            for e in extras {
                let p = match e {
                    "pin" if self.cfg.exercise != Exercise::StandingCableAbduction => 0.0,
                    "other leg's set" if !standing => 0.0,
                    "other leg's set" => 0.3,
                    "re-strap" if self.cfg.placement == Placement::Ankle => 0.3,
                    "re-strap" => 0.15,
                    _ => 0.35,
                };
                if self.rng.gen_bool(p) {
                    plan.push(e);
                }
            }
        } else if !standing && self.rng.gen_bool(0.5) {
            plan.push("sit");
        }
        // Shuffle a little (the rest's own order).
        for i in (1..plan.len()).rev() {
            let j = self.rng.gen_range(0..=i);
            plan.swap(i, j);
        }
        let budget = total - 3.0;
        for item in plan {
            if used > budget {
                break;
            }
            let before = self.queue.len();
            match item {
                "walk" => {
                    let secs = self
                        .rng
                        .gen_range(4.0f64..12.0)
                        .min((budget - used).max(2.0));
                    self.push_walk(secs);
                }
                "sit" => {
                    if self.posture != Posture::Sit {
                        self.push_posture(Posture::Sit, Some("sit"));
                    }
                    let d = self.rng.gen_range(4.0..15.0);
                    let mut st = Syl::new(Kind::Still, Exit::Timer(d), &l);
                    st.label = Some("sit");
                    self.queue.push_back(st);
                }
                "other leg's set" => {
                    if self.posture != Posture::Stand {
                        self.push_posture(Posture::Stand, Some("stand up"));
                    }
                    let reps = self.rng.gen_range(5..12);
                    let top = if self.cfg.exercise == Exercise::HipHitch {
                        self.lifter.top
                    } else {
                        self.lifter.top * self.rng.gen_range(0.8..1.1)
                    };
                    for _ in 0..reps {
                        let mut up = Syl::new(
                            Kind::OtherLeg,
                            Exit::Timer(self.rng.gen_range(0.8..1.3)),
                            &l,
                        );
                        if self.cfg.exercise == Exercise::HipHitch {
                            up.set(OBL, top, l.raise_omega, 1.0);
                        } else {
                            up.set(OTHER, top, l.raise_omega, 1.0);
                        }
                        up.label = Some("other leg's set");
                        let mut down = up.clone();
                        down.exit = Exit::Timer(self.rng.gen_range(1.0..1.8));
                        if self.cfg.exercise == Exercise::HipHitch {
                            down.set(OBL, 0.0, l.lower_omega, 1.0);
                        } else {
                            down.set(OTHER, 0.0, l.lower_omega, 1.0);
                        }
                        self.queue.push_back(up);
                        self.queue.push_back(down);
                    }
                }
                "swing" => {
                    let mut sw = Syl::new(Kind::Swing, Exit::Timer(0.45), &l);
                    let (dof, amp) = if self.rng.gen_bool(0.5) {
                        (ABD, self.rng.gen_range(15.0..30.0))
                    } else {
                        (FLEX, self.rng.gen_range(20.0..40.0))
                    };
                    sw.set(dof, amp, 9.0, 0.6);
                    sw.label = Some("swing");
                    let mut back = Syl::new(Kind::Swing, Exit::Timer(1.2), &l);
                    back.set(dof, 0.0, 6.0, 0.5);
                    back.label = Some("swing");
                    self.queue.push_back(sw);
                    self.queue.push_back(back);
                }
                "pin" => {
                    let mut p = Syl::new(Kind::Pin, Exit::Timer(self.rng.gen_range(2.0..4.0)), &l);
                    p.set(TILT, self.rng.gen_range(30.0..55.0), 3.0, 0.9);
                    p.set(KNEE, 30.0, 3.0, 0.9);
                    p.set(TURN, self.rng.gen_range(-25.0..25.0), 3.0, 0.9);
                    p.noise = l.sway.map(|v| v * 2.0);
                    p.label = Some("pin change");
                    self.queue.push_back(p);
                }
                "re-strap" => {
                    let mut p =
                        Syl::new(Kind::Strap, Exit::Timer(self.rng.gen_range(3.0..7.0)), &l);
                    p.set(FLEX, self.rng.gen_range(40.0..80.0), 3.0, 0.9);
                    p.set(KNEE, self.rng.gen_range(60.0..100.0), 3.0, 0.9);
                    p.set(TILT, 30.0, 3.0, 0.9);
                    p.noise = l.sway.map(|v| v * 4.0);
                    p.label = Some("re-strap");
                    self.queue.push_back(p);
                    let mut back = Syl::new(Kind::Still, Exit::Timer(1.5), &l);
                    back.label = Some("re-strap");
                    self.queue.push_back(back);
                }
                "drink" => {
                    let mut p =
                        Syl::new(Kind::Drink, Exit::Timer(self.rng.gen_range(3.0..6.0)), &l);
                    p.set(TILT, -8.0, 2.0, 0.9);
                    p.set(TURN, self.rng.gen_range(-20.0..20.0), 2.0, 0.9);
                    p.label = Some("drink");
                    self.queue.push_back(p);
                }
                "phone" => {
                    let mut p =
                        Syl::new(Kind::Phone, Exit::Timer(self.rng.gen_range(5.0..20.0)), &l);
                    p.set(TILT, 8.0, 2.0, 0.9);
                    p.set(TURN, self.rng.gen_range(-30.0..30.0), 2.0, 0.9);
                    p.set(SHIFT, self.rng.gen_range(-3.0..3.0), 2.0, 0.9);
                    p.label = Some("phone");
                    self.queue.push_back(p);
                }
                _ => {
                    let mut fi = self.fidget();
                    fi.label = Some("fidget");
                    self.queue.push_back(fi);
                }
            }
            used += self
                .queue
                .iter()
                .skip(before)
                .map(|s| match s.exit {
                    Exit::Timer(d) => d,
                    Exit::Reach { max, .. } => max,
                })
                .sum::<f64>();
        }
        if !last {
            // The rest of the rest, still (standing, sitting or lying).
            let left = (total - used).max(1.0);
            let mut st = Syl::new(Kind::Still, Exit::Timer(left), &l);
            st.label = None;
            self.queue.push_back(st);
        } else {
            let mut st = Syl::new(Kind::Still, Exit::Timer((total - used).max(1.0)), &l);
            st.label = None;
            self.queue.push_back(st);
        }
    }

    // ---------------------------------------------------------------- motion

    /// Runs one syllable: x[k+1] = A_s x[k] + b_s + w_s[k] until its exit.
    fn play(&mut self, syl: Syl) {
        let dt = self.dt;
        let t0 = self.t;
        if let Some(i) = syl.reset {
            self.x[i].u = self.x[i].q;
        }
        // A_s and b_s per joint.
        let coef: [[f64; 4]; N] = std::array::from_fn(|i| {
            let g = syl.target[i].unwrap_or_else(|| self.default_target(i));
            let w = syl.omega[i];
            let z = syl.zeta[i];
            let a = syl.alpha[i];
            // u' = a(g - u); v' = w²(u - q) - 2zw v
            [1.0 - dt * a, dt * a * g, dt * w * w, 1.0 - dt * 2.0 * z * w]
        });
        let couple: Vec<(usize, usize, f64)> = syl
            .couple
            .iter()
            .map(|&(i, j, c)| (i, j, dt * syl.omega[i] * syl.omega[i] * c))
            .collect();
        if syl.strike {
            self.jolt = (self.t, if self.rng.gen_bool(0.5) { 1.0 } else { 0.6 });
        }
        let fat_tremor = self.lifter.tremor * (1.0 + 2.0 * self.set.fatigue);
        let rep_kind = matches!(syl.kind, Kind::Raise | Kind::Hold | Kind::Lower);
        // Noise: two OU processes per joint, tau 0.15 s and 1.2 s.
        let (a1, a2) = ((-dt * 4.0 / 0.15).exp(), (-dt * 4.0 / 1.2).exp());
        let (s1, s2) = ((1.0 - a1 * a1).sqrt(), (1.0 - a2 * a2).sqrt());
        let mut k = 0usize;
        if syl.kind == Kind::Raise && self.stage == Stage::Set {
            if let Some(m) = self.marks.last_mut() {
                m.first_raise.get_or_insert(t0);
            }
        }
        loop {
            let elapsed = self.t - t0;
            let done = match syl.exit {
                Exit::Timer(d) => elapsed >= d,
                Exit::Reach {
                    dof,
                    sign,
                    level,
                    up,
                    max,
                    lead,
                } => {
                    let v = sign * (self.x[dof].q + lead * self.x[dof].v);
                    elapsed >= max || (if up { v >= level } else { v <= level })
                }
            };
            if done && elapsed > 0.0 {
                break;
            }
            if let Some(end) = self.end_at {
                if self.t >= end {
                    break;
                }
            }
            if k.is_multiple_of(4) {
                for i in 0..N {
                    let j = &mut self.x[i];
                    j.n1 = a1 * j.n1 + s1 * gauss(&mut self.rng);
                    j.n2 = a2 * j.n2 + s2 * gauss(&mut self.rng);
                }
            }
            k += 1;
            let q_old: [f64; N] = std::array::from_fn(|i| self.x[i].q);
            for (i, (c, j)) in coef.iter().zip(self.x.iter_mut()).enumerate() {
                j.u = c[0] * j.u + c[1];
                let noise = syl.noise[i] * (0.6 * j.n1 + 0.8 * j.n2);
                j.v = c[3] * j.v + c[2] * (j.u + noise - j.q);
                for &(a, b, cc) in &couple {
                    if a == i {
                        j.v += cc * q_old[b];
                    }
                }
                j.q += dt * j.v;
            }
            // Tremor on the working joint in a rep (a narrow-band resonator).
            if rep_kind && fat_tremor > 0.0 {
                let w = 2.0 * std::f64::consts::PI * self.lifter.tremor_hz;
                let (p, v) = self.tremor;
                let nv = v
                    + dt * (-w * w * p - 2.0 * 0.08 * w * v)
                    + fat_tremor
                        * (4.0 * 0.08 * w * w * w * dt).sqrt()
                        * gauss_every(&mut self.rng, k);
                self.tremor = (p + dt * nv, nv);
            } else {
                let (p, v) = self.tremor;
                self.tremor = (p * 0.995, v * 0.995);
            }
            // The pelvis and trunk answer the legs.
            let u_work = if self.rep_dof == OBL {
                -self.x[OBL].q
            } else {
                self.x[ABD].q
            };
            let w = self.react_work.step(u_work, dt);
            let o = self.react_other.step(self.x[OTHER].q, dt);
            self.react_out = std::array::from_fn(|i| w[i] + o[i]);
            self.t += dt;
            self.sense();
            if self.t >= self.next_frame {
                self.record();
                self.next_frame += 0.01;
            }
        }
        if let Some(label) = syl.label {
            let t1 = self.t;
            match self.distractions.last_mut() {
                Some((l, _, e)) if *l == label && (t0 - *e).abs() < 1e-6 => *e = t1,
                _ => self.distractions.push((label.to_string(), t0, t1)),
            }
        }
        if syl.kind == Kind::Strap {
            self.sensor.restrap(&mut self.rng, &self.cfg);
        }
        if self.stage == Stage::Set && matches!(syl.kind, Kind::Raise) {
            // A raise that timed out short of its target is given up.
            if let Exit::Reach {
                level, sign, dof, ..
            } = syl.exit
            {
                if sign * self.x[dof].q < level * 0.8 && !self.set.aborted {
                    self.set.aborted = true;
                }
            }
        }
    }

    /// The joint values the body shows (state plus the reactions and tremor).
    fn shown(&self) -> [f64; N] {
        let mut q: [f64; N] = std::array::from_fn(|i| self.x[i].q);
        q[OBL] += self.react_out[0];
        q[LEAN] += self.react_out[1];
        q[TURN] += self.react_out[2];
        q[SHIFT] += self.react_out[3];
        q[self.rep_dof] += self.rep_sign * self.tremor.0;
        q
    }

    /// Pelvis orientation and position, and the working shank's.
    fn pose(
        &self,
    ) -> (
        UnitQuaternion<f64>,
        Vector3<f64>,
        UnitQuaternion<f64>,
        Vector3<f64>,
    ) {
        let q = self.shown();
        let d = |v: f64| v.to_radians();
        let heading = ry(d(q[HEAD]));
        let body = heading * rz(d(q[ROLL]));
        let pelvis = body
            * ry(d(q[TURN]))
            * rz(d(self.f * q[OBL]))
            * rx(d(q[TILT]))
            * rz(d(self.f * self.lifter.lean_roll * q[LEAN]));
        let height = 0.95 + q[BOB] / 100.0;
        let lateral = self.f * q[SHIFT] / 100.0;
        let p_pelvis = self.base
            + heading * Vector3::new(lateral, height, 0.0)
            + (body * rz(d(self.f * q[LEAN])) * Vector3::new(0.0, 0.25, 0.0)
                - body * Vector3::new(0.0, 0.25, 0.0))
                * 0.3;
        let s = self.s;
        let thigh = pelvis * rx(d(q[FLEX])) * rz(d(s * q[ABD])) * ry(d(s * q[ROT]));
        let hip = p_pelvis + pelvis * Vector3::new(s * 0.09, -0.06, 0.0);
        let knee = hip + thigh * Vector3::new(0.0, -0.44, 0.0);
        let shank = thigh * rx(d(-q[KNEE]));
        let p_shank = knee + shank * Vector3::new(0.0, -0.34, 0.0);
        (
            pelvis,
            p_pelvis + pelvis * Vector3::new(0.0, 0.02, 0.11),
            shank,
            p_shank,
        )
    }

    fn record(&mut self) {
        let (_, _, shank, _) = self.pose();
        let q = self.shown();
        self.frames.push(Frame {
            t: self.t,
            shank,
            obl: q[OBL],
            lean: q[LEAN],
            flex: q[FLEX],
        });
    }

    /// One internal step of the sensor: pose, finite differences, averaging.
    fn sense(&mut self) {
        let dt = self.dt;
        // Walking moves the base along the heading.
        let heading = ry(self.x[HEAD].q.to_radians());
        self.base += heading * Vector3::new(0.0, 0.0, -self.x[WALK].q * dt);
        self.sensor.creep(dt);
        self.sensor.bump(
            &mut self.rng,
            dt,
            self.x[self.rep_dof].v.abs() + self.x[FLEX].v.abs(),
        );
        self.temp += dt * (8.0 - self.temp) / 600.0;
        let (pelvis, p_pelvis, shank, p_shank) = self.pose();
        let (seg, p_seg) = match self.cfg.placement {
            Placement::Ankle => (shank, p_shank + shank * self.sensor.offset),
            Placement::Pelvis => (pelvis, p_pelvis),
        };
        let orient = seg * self.sensor.slip * self.sensor.mount;
        self.prev.push((orient, p_seg));
        if self.prev.len() > 3 {
            self.prev.remove(0);
        }
        if self.prev.len() < 3 {
            return;
        }
        let (q0, p0) = self.prev[0];
        let (q1, p1) = self.prev[1];
        let (q2, p2) = self.prev[2];
        let mut acc = (p2 - 2.0 * p1 + p0) / (dt * dt);
        // A heel strike: a short ring.
        let since = self.t - self.jolt.0;
        if self.jolt.1 > 0.0 && since < 0.12 {
            let amp = match self.cfg.placement {
                Placement::Ankle => 14.0,
                Placement::Pelvis => 4.0,
            } * self.jolt.1;
            acc.y +=
                amp * (-since / 0.03).exp() * (2.0 * std::f64::consts::PI * 18.0 * since).cos();
        }
        let f = q1.inverse() * (acc + Vector3::new(0.0, STANDARD_GRAVITY, 0.0));
        let w = (q0.inverse() * q2).scaled_axis() / (2.0 * dt);
        self.acc_sum += f;
        self.gyr_sum += w.map(|v| v.to_degrees());
        self.n_sum += 1;
        let true_t = self.t - dt;
        if true_t + 1e-12 >= self.next_sample {
            let n = self.n_sum as f64;
            let a = self.acc_sum / n;
            let g = self.gyr_sum / n;
            self.acc_sum = Vector3::zeros();
            self.gyr_sum = Vector3::zeros();
            self.n_sum = 0;
            // The sensor's own clock runs a little off.
            let t_rep = self.next_sample / (1.0 + self.sensor.ppm);
            self.next_sample += (1.0 + self.sensor.ppm) / self.cfg.rate_hz;
            let s = self
                .sensor
                .measure(&mut self.rng, &self.cfg, t_rep, a, g, self.temp);
            self.out.push(s);
        }
    }

    // ---------------------------------------------------------------- truth

    fn truth(&mut self) -> Truth {
        let duration = self.out.last().map(|s| s.t).unwrap_or(0.0);
        // Drops and gaps on the output.
        let mut gaps = Vec::new();
        let minutes = duration / 60.0;
        let n_gaps = (self.cfg.gaps_per_min * minutes).floor() as usize
            + usize::from(
                self.rng
                    .gen_bool((self.cfg.gaps_per_min * minutes).fract().clamp(0.0, 1.0)),
            );
        for _ in 0..n_gaps {
            let a = self.rng.gen_range(0.0..duration.max(1.0));
            gaps.push((a, a + 0.2));
        }
        self.gaps = gaps;
        let drop = self.cfg.drop_rate;
        let gaps = self.gaps.clone();
        let mut kept = Vec::with_capacity(self.out.len());
        for (i, s) in self.out.iter().enumerate() {
            let first_or_last = i == 0 || i + 1 == self.out.len();
            if !first_or_last {
                if drop > 0.0 && self.rng.gen_bool(drop) {
                    continue;
                }
                if gaps.iter().any(|&(a, b)| s.t >= a && s.t < b) {
                    continue;
                }
            }
            kept.push(*s);
        }
        self.out = kept;
        let scale = 1.0 / (1.0 + self.sensor.ppm);
        let mut sets = Vec::new();
        let ex = self.cfg.exercise;
        let visible = self.cfg.visible_compensations();
        for (i, m) in self.marks.iter().enumerate() {
            let end = if m.end > 0.0 { m.end } else { self.t };
            let from = m.first_raise.unwrap_or(m.begin);
            let pelvis = self.cfg.placement == Placement::Pelvis;
            let reps = measure_set(&self.frames, m.begin, from, end, ex, pelvis, &visible);
            let _ = i;
            let reps: Vec<TruthRep> = reps
                .into_iter()
                .map(|mut r| {
                    r.start_s = round3(r.start_s * scale);
                    r.end_s = round3(r.end_s * scale);
                    r
                })
                .collect();
            sets.push(TruthSet {
                start_s: reps
                    .first()
                    .map(|r| r.start_s)
                    .unwrap_or(round3(from * scale)),
                end_s: reps.last().map(|r| r.end_s).unwrap_or(round3(end * scale)),
                rep_count: reps.len(),
                reps,
            });
        }
        let distractions = self
            .distractions
            .iter()
            .map(|(l, a, b)| format!("{l} {:.3}..{:.3} s", a * scale, b * scale))
            .collect();
        Truth {
            config: self.cfg.clone(),
            duration_s: round3(duration),
            distractions,
            sets,
        }
    }
}

/// A gauss draw every 4th step, zero otherwise (cheap tremor drive).
fn gauss_every(rng: &mut ChaCha8Rng, k: usize) -> f64 {
    if k.is_multiple_of(4) {
        2.0 * gauss(rng)
    } else {
        0.0
    }
}

/// The reps of one set, measured on the motion (DOMAIN.md: a rep leaves
/// neutral, reaches a peak, returns near neutral).
fn measure_set(
    frames: &[Frame],
    begin: f64,
    first_raise: f64,
    end: f64,
    ex: Exercise,
    pelvis: bool,
    visible: &[FlagKind],
) -> Vec<TruthRep> {
    let win: Vec<&Frame> = frames
        .iter()
        .filter(|f| f.t >= begin && f.t <= end)
        .collect();
    if win.is_empty() {
        return Vec::new();
    }
    // Neutral: the still stance just before the first rep.
    let pre: Vec<&&Frame> = win
        .iter()
        .filter(|f| f.t >= first_raise - 0.35 && f.t <= first_raise)
        .collect();
    let pre: Vec<&Frame> = if pre.is_empty() {
        vec![win[0]]
    } else {
        pre.into_iter().copied().collect()
    };
    let rest_q = pre[pre.len() / 2].shank;
    let mean = |g: &dyn Fn(&Frame) -> f64| pre.iter().map(|f| g(f)).sum::<f64>() / pre.len() as f64;
    let obl0 = mean(&|f| f.obl);
    let lean0 = mean(&|f| f.lean);
    let flex0 = mean(&|f| f.flex);
    let hitch = ex == Exercise::HipHitch;
    // The rep signal: the shank's rotation from rest, or the hitch's drop.
    let a: Vec<f64> = win
        .iter()
        .map(|f| {
            if hitch {
                -(f.obl - obl0)
            } else {
                rest_q.angle_to(&f.shank).to_degrees()
            }
        })
        .collect();
    let min_abs = if hitch { 3.0 } else { 8.0 };
    // Excursions over a low band.
    let excursions = |lo: f64| -> Vec<(usize, usize, f64)> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < a.len() {
            if a[i] > lo && win[i].t >= first_raise - 0.05 {
                let s = i;
                let mut peak: f64 = 0.0;
                while i < a.len() && a[i] > lo {
                    peak = peak.max(a[i]);
                    i += 1;
                }
                out.push((s, i.min(a.len() - 1), peak));
            }
            i += 1;
        }
        out
    };
    let first = excursions(if hitch { 1.5 } else { 4.0 });
    let mut peaks: Vec<f64> = first
        .iter()
        .map(|e| e.2)
        .filter(|&p| p >= min_abs)
        .collect();
    if peaks.is_empty() {
        return Vec::new();
    }
    peaks.sort_by(|x, y| x.total_cmp(y));
    let big = peaks[peaks.len() / 2];
    let lo = (0.15 * big).max(if hitch { 1.0 } else { 3.0 });
    let thr = (0.35 * big).max(min_abs);
    let mut reps = Vec::new();
    let ex_list = excursions(lo);
    let mut last_end = 0usize;
    for (s, e, peak) in ex_list {
        if peak < thr || win[e].t - win[s].t < 0.3 {
            continue;
        }
        // Start: back to where the signal was last near rest.
        let mut st = s;
        while st > last_end && a[st - 1] < a[st] && a[st] > 0.4 * lo {
            st -= 1;
        }
        let mut en = e;
        while en + 1 < a.len() && a[en + 1] < a[en] && a[en] > 0.4 * lo {
            en += 1;
        }
        last_end = en;
        reps.push((st, en, peak));
    }
    // What the pelvis and trunk did: over the rep and its return (up to
    // 1 s after it, never into the next rep).
    let reps: Vec<_> = (0..reps.len())
        .map(|i| {
            let (st, en, peak) = reps[i];
            let until = reps
                .get(i + 1)
                .map(|r| r.0.saturating_sub(1))
                .unwrap_or(a.len() - 1)
                .min(en + 100)
                .max(en);
            let seg = &win[st..=until];
            let obl: Vec<f64> = seg.iter().map(|f| f.obl - obl0).collect();
            let peak_deg = win[st..=en]
                .iter()
                .fold(0.0f64, |m, f| m.max((f.obl - obl0).abs()));
            (st, en, peak, peak_deg, obl, seg.to_vec())
        })
        .collect();
    let mut rep_peaks: Vec<f64> = reps.iter().map(|r| r.2).collect();
    rep_peaks.sort_by(|x, y| x.total_cmp(y));
    let median = rep_peaks.get(rep_peaks.len() / 2).copied().unwrap_or(0.0);
    let placement_pelvis = |k: FlagKind| visible.contains(&k);
    reps.into_iter()
        .map(|(st, en, peak, obl_peak, obl, seg)| {
            let mut flags = Vec::new();
            let held = |pred: &dyn Fn(f64) -> bool, xs: &[f64]| -> bool {
                let mut run = 0;
                for &x in xs {
                    if pred(x) {
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
            let maxo = obl.iter().cloned().fold(f64::MIN, f64::max);
            let mino = obl.iter().cloned().fold(f64::MAX, f64::min);
            if placement_pelvis(FlagKind::HipHike) && held(&|x| x >= 5.0, &obl) {
                flags.push(TruthFlag {
                    kind: FlagKind::HipHike,
                    value_deg: round3(maxo),
                });
            }
            if !hitch && placement_pelvis(FlagKind::PelvicDrop) && held(&|x| x <= -5.0, &obl) {
                flags.push(TruthFlag {
                    kind: FlagKind::PelvicDrop,
                    value_deg: round3(mino),
                });
            }
            let lean: Vec<f64> = seg.iter().map(|f| f.lean - lean0).collect();
            if placement_pelvis(FlagKind::TrunkSway)
                && held(&|x| x > 5.0, &lean[..])
                && lean.iter().any(|&x| x < -5.0)
            {
                let m = lean.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                flags.push(TruthFlag {
                    kind: FlagKind::TrunkSway,
                    value_deg: round3(m),
                });
            }
            if !hitch {
                // The leg's speed: a phase far too fast for its range.
                // Over 100 ms, so tremor (8-12 Hz) cancels out.
                let speed = a[st..=en]
                    .windows(11)
                    .map(|w| (w[10] - w[0]).abs() / 0.1)
                    .fold(0.0f64, f64::max);
                if placement_pelvis(FlagKind::Momentum) && speed > 5.0 * peak {
                    flags.push(TruthFlag {
                        kind: FlagKind::Momentum,
                        value_deg: round3(peak),
                    });
                }
                if placement_pelvis(FlagKind::PartialRange) && peak < 0.7 * median {
                    flags.push(TruthFlag {
                        kind: FlagKind::PartialRange,
                        value_deg: round3(median - peak),
                    });
                }
                let fl = seg.iter().map(|f| f.flex - flex0).fold(f64::MIN, f64::max);
                if placement_pelvis(FlagKind::HipFlexionDrift) && fl >= 10.0 {
                    flags.push(TruthFlag {
                        kind: FlagKind::HipFlexionDrift,
                        value_deg: round3(fl),
                    });
                }
            }
            TruthRep {
                start_s: win[st].t,
                end_s: win[en].t,
                peak_deg: round3(if pelvis { obl_peak } else { peak }),
                flags,
            }
        })
        .collect()
}

impl Sensor {
    fn draw(rng: &mut ChaCha8Rng, cfg: &SimConfig) -> Sensor {
        let mount = Self::mounting(rng, cfg);
        let b = cfg.gyro_bias_dps;
        let u = |rng: &mut ChaCha8Rng, r: f64| if r > 0.0 { rng.gen_range(-r..r) } else { 0.0 };
        let n = cfg.noise;
        Sensor {
            mount,
            mount_target: mount,
            offset: Vector3::new(rng.gen_range(-0.05..0.05), 0.0, rng.gen_range(-0.05..0.05)),
            slip: UnitQuaternion::identity(),
            slip_target: UnitQuaternion::identity(),
            creep_axis: unit_random(rng),
            creep_rate: rng.gen_range(0.2..1.5f64).to_radians() / 60.0,
            gyro_bias: Vector3::new(u(rng, 0.8 * b), u(rng, 0.8 * b), u(rng, 0.8 * b)),
            gyro_temp: Vector3::new(u(rng, 0.025 * b), u(rng, 0.025 * b), u(rng, 0.025 * b)),
            acc_bias: Vector3::new(u(rng, 0.08 * n), u(rng, 0.08 * n), u(rng, 0.08 * n)),
            scale_a: Vector3::new(
                1.0 + u(rng, 0.01 * n),
                1.0 + u(rng, 0.01 * n),
                1.0 + u(rng, 0.01 * n),
            ),
            scale_g: Vector3::new(
                1.0 + u(rng, 0.01 * n),
                1.0 + u(rng, 0.01 * n),
                1.0 + u(rng, 0.01 * n),
            ),
            cross: std::array::from_fn(|_| u(rng, 0.005 * n)),
            ppm: rng.gen_range(-60e-6..60e-6),
        }
    }

    fn mounting(rng: &mut ChaCha8Rng, cfg: &SimConfig) -> UnitQuaternion<f64> {
        match (cfg.placement, cfg.random_mounting) {
            (Placement::Ankle, true) => {
                let axis = unit_random(rng);
                UnitQuaternion::from_scaled_axis(axis * rng.gen_range(0.0..std::f64::consts::PI))
            }
            (Placement::Pelvis, true) => {
                let axis = unit_random(rng);
                UnitQuaternion::from_scaled_axis(axis * rng.gen_range(0.0..15.0f64).to_radians())
            }
            (_, false) => {
                let axis = unit_random(rng);
                UnitQuaternion::from_scaled_axis(axis * rng.gen_range(0.0..2.0f64).to_radians())
            }
        }
    }

    fn restrap(&mut self, rng: &mut ChaCha8Rng, cfg: &SimConfig) {
        self.mount_target = Self::mounting(rng, cfg);
        // Where the strap had slipped to is where the hands take it from.
        self.mount = self.slip * self.mount;
        self.slip = UnitQuaternion::identity();
        self.slip_target = UnitQuaternion::identity();
    }

    /// The slow creep of the strap.
    fn creep(&mut self, dt: f64) {
        let k = (dt / 0.4).min(1.0);
        self.mount = self
            .mount
            .try_slerp(&self.mount_target, k, 1e-9)
            .unwrap_or(self.mount_target);
        let c = UnitQuaternion::from_scaled_axis(self.creep_axis * self.creep_rate * dt);
        self.slip_target = c * self.slip_target;
        // A step toward the slip target (sudden steps arrive in ~30 ms).
        // A strap creeps so far, then the other way.
        if self.slip_target.angle() > 15f64.to_radians() {
            self.creep_axis = -self.creep_axis;
            let back = UnitQuaternion::from_scaled_axis(self.creep_axis * 1f64.to_radians());
            self.slip_target = back * self.slip_target;
        }
        self.slip = self.slip.slerp(&self.slip_target, (dt / 0.03).min(1.0));
    }

    /// A bump or a sharp swing: a sudden small step of the mounting.
    fn bump(&mut self, rng: &mut ChaCha8Rng, dt: f64, speed: f64) {
        let rate = 0.004 + speed / 400.0 * 0.05;
        if rng.gen_bool((rate * dt).clamp(0.0, 1.0)) {
            let axis = unit_random(rng);
            let step =
                UnitQuaternion::from_scaled_axis(axis * rng.gen_range(1.0..4.0f64).to_radians());
            self.slip_target = step * self.slip_target;
            // Never far from where the strap was put on.
            if self.slip_target.angle() > 12f64.to_radians() {
                self.slip_target = UnitQuaternion::identity().slerp(&self.slip_target, 0.5);
            }
        }
    }

    fn measure(
        &mut self,
        rng: &mut ChaCha8Rng,
        cfg: &SimConfig,
        t: f64,
        a: Vector3<f64>,
        g: Vector3<f64>,
        temp: f64,
    ) -> Sample {
        let n = cfg.noise;
        let c = &self.cross;
        let cross = |v: Vector3<f64>| {
            Vector3::new(
                v.x + c[0] * v.y + c[1] * v.z,
                v.y + c[2] * v.x + c[3] * v.z,
                v.z + c[4] * v.x + c[5] * v.y,
            )
        };
        let root = (cfg.rate_hz / 100.0).sqrt();
        let mut acc = cross(a.component_mul(&self.scale_a)) + self.acc_bias;
        let mut gyr =
            cross(g.component_mul(&self.scale_g)) + self.gyro_bias + self.gyro_temp * temp;
        if n > 0.0 {
            for i in 0..3 {
                acc[i] += 0.02 * n * root * gauss(rng);
                gyr[i] += 0.07 * n * root * gauss(rng);
            }
            let qa = 16.0 * STANDARD_GRAVITY / 32768.0;
            let qg = 2000.0 / 32768.0;
            acc = acc.map(|v| (v / qa).round() * qa);
            gyr = gyr.map(|v| (v / qg).round() * qg);
        }
        let sat_a = 16.0 * STANDARD_GRAVITY;
        acc = acc.map(|v| v.clamp(-sat_a, sat_a));
        gyr = gyr.map(|v| v.clamp(-2000.0, 2000.0));
        Sample { t, acc, gyr }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::sim::PAIRS;
    use crate::Side;

    /// A short session: quick in a debug build.
    fn short(ex: Exercise, p: Placement, seed: u64) -> SimConfig {
        let mut c = SimConfig::new(ex, p, Side::Right);
        c.sets = 1;
        c.reps_min = 3;
        c.reps_max = 4;
        c.rest_min_s = 12.0;
        c.rest_max_s = 12.0;
        c.seed = seed;
        c.model = crate::source::sim::SimModel::Syllable;
        c
    }

    fn distraction_spans(t: &Truth) -> Vec<(f64, f64)> {
        t.distractions
            .iter()
            .map(|d| {
                let span = d.rsplit(' ').nth(1).unwrap();
                let (a, b) = span.split_once("..").unwrap();
                (a.parse().unwrap(), b.parse().unwrap())
            })
            .collect()
    }

    #[test]
    fn every_pair_and_rate_gives_finite_increasing_samples_and_a_truth() {
        for (i, (ex, p)) in PAIRS.iter().enumerate() {
            for rate in [25.0, 100.0, 400.0] {
                let mut c = short(*ex, *p, 100 + i as u64);
                c.reps_min = 2;
                c.reps_max = 2;
                c.rate_hz = rate;
                let (sim, truth) = SyllableSimulator::new(&c).unwrap();
                let samples: Vec<Sample> = sim.collect();
                assert!(
                    samples.len() as f64 > truth.duration_s * rate * 0.8,
                    "{ex} {p} {rate}"
                );
                assert!(samples.iter().all(|s| s.is_finite()));
                assert!(
                    samples.windows(2).all(|w| w[1].t > w[0].t),
                    "{ex} {p} {rate}"
                );
                assert_eq!(truth.sets.len(), 1);
                assert!(
                    truth.sets[0].rep_count >= 1,
                    "{ex} {p} {rate}: {:?}",
                    truth.sets
                );
                for r in &truth.sets[0].reps {
                    assert!(r.end_s > r.start_s && r.peak_deg.is_finite());
                }
            }
        }
    }

    #[test]
    fn one_g_at_rest() {
        for (ex, p) in PAIRS {
            let mut c = short(ex, p, 3);
            c.lead_in_s = Some(2.0);
            let (sim, _) = SyllableSimulator::new(&c).unwrap();
            let first: Vec<Sample> = sim.take_while(|s| s.t < 0.5).collect();
            let mean = first.iter().map(|s| s.acc.norm()).sum::<f64>() / first.len() as f64;
            assert!((mean - STANDARD_GRAVITY).abs() < 0.3, "{ex} {p}: {mean}");
        }
    }

    #[test]
    fn truth_sets_do_not_overlap_the_distractions() {
        for seed in 1..4 {
            let mut c = short(Exercise::StandingCableAbduction, Placement::Pelvis, seed);
            c.sets = 2;
            c.reps_min = 2;
            c.reps_max = 3;
            let (_, truth) = SyllableSimulator::new(&c).unwrap();
            let spans = distraction_spans(&truth);
            for s in &truth.sets {
                for &(a, b) in &spans {
                    assert!(b <= s.start_s || a >= s.end_s, "{a}..{b} in {s:?}");
                }
            }
        }
    }

    /// Drives one rep by hand through the syllables and measures the truth.
    fn hand_made(plan: &[(Kind, f64)]) -> Vec<TruthRep> {
        let c = short(Exercise::StandingCableAbduction, Placement::Ankle, 5);
        let mut b = Body::new(&c);
        b.lifter.tremor = 0.0;
        b.lifter.sway = [0.0; N];
        b.marks.push(SetMark::default());
        b.stage = Stage::Set;
        let top = 35.0;
        let mut still = Syl::new(Kind::Still, Exit::Timer(1.0), &b.lifter);
        still.noise = [0.0; N];
        b.play(still);
        for &(kind, target) in plan {
            let mut s = Syl::new(
                kind,
                Exit::Timer(if kind == Kind::Hold { 0.5 } else { 1.5 }),
                &b.lifter,
            );
            s.noise = [0.0; N];
            s.set(ABD, top * target, 5.0, 1.0);
            s.reset = Some(ABD);
            b.play(s);
        }
        let end = b.t;
        let first = b.marks[0].first_raise.unwrap();
        measure_set(
            &b.frames,
            0.0,
            first,
            end,
            c.exercise,
            false,
            &FlagKind::ALL,
        )
    }

    #[test]
    fn an_abandoned_attempt_is_not_a_rep() {
        let reps = hand_made(&[
            (Kind::Raise, 1.0),
            (Kind::Lower, 0.0),
            (Kind::Raise, 0.12),
            (Kind::Lower, 0.0),
            (Kind::Raise, 1.0),
            (Kind::Lower, 0.0),
        ]);
        assert_eq!(reps.len(), 2, "{reps:?}");
    }

    #[test]
    fn a_raise_that_stops_short_and_raises_again_is_one_rep() {
        // Lowered only to 60 % and raised again: never back at neutral.
        let reps = hand_made(&[
            (Kind::Raise, 1.0),
            (Kind::Lower, 0.6),
            (Kind::Raise, 1.0),
            (Kind::Lower, 0.0),
            (Kind::Raise, 1.0),
            (Kind::Lower, 0.0),
        ]);
        assert_eq!(reps.len(), 2, "{reps:?}");
        assert!(reps[0].end_s - reps[0].start_s > 3.0);
    }

    fn flags_of(c: &SimConfig) -> Vec<FlagKind> {
        let (_, t) = SyllableSimulator::new(c).unwrap();
        t.sets
            .iter()
            .flat_map(|s| s.reps.iter().flat_map(|r| r.flags.iter().map(|f| f.kind)))
            .collect()
    }

    #[test]
    fn compensations_appear_when_asked_and_never_at_rate_zero() {
        for (ex, p, kind) in [
            (
                Exercise::StandingCableAbduction,
                Placement::Pelvis,
                FlagKind::HipHike,
            ),
            (
                Exercise::SideLyingAbduction,
                Placement::Pelvis,
                FlagKind::PelvicDrop,
            ),
            (
                Exercise::StandingCableAbduction,
                Placement::Ankle,
                FlagKind::HipFlexionDrift,
            ),
            (
                Exercise::SeatedMachineAbduction,
                Placement::Ankle,
                FlagKind::PartialRange,
            ),
        ] {
            let mut c = short(ex, p, 11);
            c.reps_min = 8;
            c.reps_max = 8;
            c.compensations = vec![kind];
            // Partial reps are measured against the set's median rep.
            c.compensation_rate = if kind == FlagKind::PartialRange {
                0.3
            } else {
                0.7
            };
            let got = flags_of(&c);
            assert!(got.contains(&kind), "{ex} {p} {kind:?}: {got:?}");
            assert!(got.iter().all(|k| *k == kind), "{ex} {p}: {got:?}");
            c.compensations = FlagKind::ALL.to_vec();
            c.compensation_rate = 0.0;
            assert!(flags_of(&c).is_empty(), "{ex} {p} at rate zero");
        }
    }
}
