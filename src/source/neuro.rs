//! The twenty-fifth body model, `neuro`: movement made by a delayed
//! sensorimotor loop with an internal model that may be wrong, released by a
//! basal-ganglia-like gate, a pelvis held by the stance hip's abductors, over
//! lifters with and without neurological or orthopaedic conditions, seen by
//! a low-power IMU with its own firmware habits.
//!
//! The working joint (hip abduction; the seated machine's rotation about the
//! vertical; in a hip hitch the pelvis' drop about the stance hip) is a
//! plant with its own inertia, gravity, passive stiffness and damping, end of
//! range, and load (a cable to a stack, an ankle weight and the bottom leg
//! as a contact, the machine's cam and stops, body weight about the stance
//! hip). The controller never sees the joint now: it sees it 60–150 ms ago
//! and a forward model (a Smith predictor) fills the gap from the efference
//! copy. The forward model's inertia, load and delay are per lifter and may
//! be wrong (more so with fatigue): overshoot or undershoot of the intended
//! top, corrective sub-movements and a 3–6 Hz intention tremor near the
//! target come out of the loop. Spastic lifters have a velocity-dependent
//! stretch reflex that resists fast lowering and may catch the limb and let
//! it go. A drift-diffusion go signal releases each raise, hold and
//! lowering: prompt for healthy lifters, slow and variable with the
//! sequence effect, freezing, festination for some, plus choreic or
//! dyskinetic wriggles and rest tremor. The pelvis' obliquity comes from a
//! quasi-static frontal-plane moment balance about the stance hip (body
//! weight and the swing leg and cable against the abductors' available
//! moment, falling with fatigue): a strong lifter's pelvis barely moves, a
//! weak one's drops (Trendelenburg), leans the trunk (Duchenne) or hikes;
//! a second-order lag with a delay and postural sway on top. Truth is
//! measured on the simulated joints.

use super::sim::{SimConfig, Truth, TruthFlag, TruthRep, TruthSet};
use super::{gauss, round3, rx, ry, rz};
use crate::motion::FlagKind;
use crate::sample::STANDARD_GRAVITY;
use crate::{Exercise, Placement, Sample};
use nalgebra::{Rotation3, UnitQuaternion, Vector3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::VecDeque;
use std::f64::consts::PI;

/// Internal step, s (500 Hz).
const DT: f64 = 0.002;
const D2R: f64 = PI / 180.0;
const R2D: f64 = 180.0 / PI;
const G: f64 = STANDARD_GRAVITY;

// Body degrees of freedom (angles in rad, lengths in m).
const ABD: usize = 0; // hip abduction (frontal plane)
const ABDV: usize = 1; // hip rotation of a flexed thigh about the vertical (seated machine)
const FLEX: usize = 2; // hip flexion
const ROT: usize = 3; // hip external rotation
const KNEE: usize = 4; // knee flexion
const OBL: usize = 5; // pelvic obliquity, free side up positive
const LEAN: usize = 6; // whole-body lean over the stance side, free side up positive
const YAW: usize = 7; // pelvis turn
const TILT: usize = 8; // pelvis anterior tilt
const SHIFT: usize = 9; // hips' shift toward the stance side, m
const BOB: usize = 10; // vertical bob, m
const HEAD: usize = 11; // heading
const HGT: usize = 12; // pelvis height, m
const NDOF: usize = 13;

fn u(rng: &mut ChaCha8Rng, a: f64, b: f64) -> f64 {
    if b <= a {
        a
    } else {
        rng.gen_range(a..b)
    }
}

fn smoothstep(x: f64) -> f64 {
    let x = x.clamp(0.0, 1.0);
    x * x * x * (x * (6.0 * x - 15.0) + 10.0)
}

/// Who the lifter is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Condition {
    Gym,
    Home,
    Athlete,
    Older,
    Stroke,
    Parkinson,
    Ataxia,
    Ms,
    HipOa,
    KneeOa,
    HipReplacement,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Gait {
    Normal,
    Shuffle,
    Circumduction,
    Antalgic,
    Cane,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Strategy {
    Hold,
    Duchenne,
    Hike,
}

/// Per-lifter parameters.
#[derive(Debug, Clone)]
struct Lifter {
    cond: Condition,
    mass: f64,
    leg: f64,
    half_width: f64,
    // the loop
    delay: f64,
    model_inertia: f64,
    model_load: f64,
    model_delay: f64,
    mismatch_fatigue: f64,
    wn: f64,
    zeta: f64,
    precision: f64,
    tau_max: f64,
    motor_noise: f64,
    // spasticity
    spastic_k: f64,
    spastic_v: f64,
    catch_p: f64,
    // the gate
    gate_drive: f64,
    gate_noise: f64,
    seq_decay: f64,
    freeze_p: f64,
    festinate: bool,
    chorea: f64,
    rest_tremor: f64,
    tremor_hz: f64,
    abandon_p: f64,
    // synergies
    synergy_flex: f64,
    synergy_rot: f64,
    tfl: f64,
    // pelvis
    strength: f64,
    strategy: Strategy,
    hike_nat: f64,
    compliance: f64,
    pel_wn: f64,
    pel_zeta: f64,
    pel_delay: f64,
    sway: f64,
    lean_k: f64,
    yaw_k: f64,
    shift_k: f64,
    // tempo and range
    t_up: f64,
    t_down: f64,
    hold: f64,
    pause: f64,
    top: f64,
    fatigue_rate: f64,
    gait: Gait,
}

fn draw_lifter(rng: &mut ChaCha8Rng, ex: Exercise) -> Lifter {
    use Condition::*;
    let cond = if rng.gen_bool(0.5) {
        [Gym, Home, Athlete, Older][rng.gen_range(0..4)]
    } else {
        [Stroke, Parkinson, Ataxia, Ms, HipOa, KneeOa, HipReplacement][rng.gen_range(0..7)]
    };
    let healthy = matches!(cond, Gym | Home | Athlete | Older);
    let sev = if healthy { 0.0 } else { u(rng, 0.2, 0.7) };
    let mass = match cond {
        Athlete => u(rng, 60.0, 95.0),
        Older => u(rng, 50.0, 90.0),
        _ => u(rng, 52.0, 110.0),
    };
    let leg = u(rng, 0.78, 1.0);
    let mut l = Lifter {
        cond,
        mass,
        leg,
        half_width: u(rng, 0.075, 0.11),
        delay: u(rng, 0.06, 0.09),
        model_inertia: u(rng, 0.93, 1.07),
        model_load: u(rng, 0.94, 1.06),
        model_delay: 0.0,
        mismatch_fatigue: u(rng, 0.0, 0.3),
        wn: u(rng, 7.0, 10.0),
        zeta: u(rng, 0.8, 1.0),
        precision: u(rng, 0.0, 0.3),
        tau_max: mass * u(rng, 1.6, 2.4),
        motor_noise: u(rng, 0.01, 0.03),
        spastic_k: 0.0,
        spastic_v: 1.0,
        catch_p: 0.0,
        gate_drive: u(rng, 0.8, 1.2),
        gate_noise: u(rng, 0.2, 0.4),
        seq_decay: 0.0,
        freeze_p: 0.0,
        festinate: false,
        chorea: 0.0,
        rest_tremor: 0.0,
        tremor_hz: u(rng, 4.0, 6.0),
        abandon_p: u(rng, 0.0, 0.03),
        synergy_flex: u(rng, -0.03, 0.06),
        synergy_rot: u(rng, -0.03, 0.05),
        tfl: u(rng, 0.0, 0.04),
        strength: u(rng, 1.3, 2.0),
        strategy: Strategy::Hold,
        hike_nat: u(rng, 0.0, 1.0),
        compliance: u(rng, 0.4, 1.0),
        pel_wn: u(rng, 6.0, 12.0),
        pel_zeta: u(rng, 0.7, 1.0),
        pel_delay: u(rng, 0.03, 0.08),
        sway: u(rng, 0.2, 0.5),
        lean_k: u(rng, 0.0, 0.05),
        yaw_k: u(rng, -0.06, 0.06),
        shift_k: u(rng, 0.01, 0.05),
        t_up: u(rng, 0.6, 1.2),
        t_down: u(rng, 0.9, 2.0),
        hold: u(rng, 0.0, 0.8),
        pause: u(rng, 0.1, 1.2),
        top: 1.0,
        fatigue_rate: u(rng, 0.008, 0.02),
        gait: Gait::Normal,
    };
    // The forward model's delay, as a share of the true one.
    l.model_delay = u(rng, 0.95, 1.05);
    match cond {
        Athlete => {
            l.tau_max *= 1.25;
            l.t_up = u(rng, 0.6, 0.9);
            l.strength = u(rng, 1.7, 2.2);
        }
        Older => {
            l.delay = u(rng, 0.08, 0.11);
            l.t_up = u(rng, 0.9, 1.4);
            l.t_down = u(rng, 1.3, 2.5);
            l.strength = u(rng, 1.05, 1.5);
            l.tau_max *= 0.8;
            l.sway = u(rng, 0.4, 0.7);
        }
        Stroke => {
            l.delay = u(rng, 0.09, 0.15);
            l.spastic_k = l.mass * u(rng, 0.3, 0.8) * (0.5 + sev);
            l.spastic_v = u(rng, 30.0, 70.0) * D2R;
            l.catch_p = u(rng, 0.2, 0.7);
            l.synergy_flex = u(rng, 0.12, 0.25);
            l.synergy_rot = u(rng, 0.1, 0.25);
            l.strength = u(rng, 0.75, 1.1);
            l.tau_max *= 1.0 - 0.4 * sev;
            l.t_up = u(rng, 1.0, 1.6);
            l.t_down = u(rng, 1.0, 2.2);
            l.gate_drive = u(rng, 0.6, 0.9);
            l.gait = Gait::Circumduction;
            l.abandon_p = u(rng, 0.03, 0.1);
        }
        Parkinson => {
            l.delay = u(rng, 0.08, 0.12);
            l.gate_drive = u(rng, 0.3, 0.6);
            l.gate_noise = u(rng, 0.4, 0.7);
            l.seq_decay = u(rng, 0.02, 0.05) * (0.5 + sev);
            l.freeze_p = u(rng, 0.04, 0.2) * (0.5 + sev);
            l.festinate = rng.gen_bool(0.3);
            l.chorea = if rng.gen_bool(0.35) {
                u(rng, 0.3, 1.0)
            } else {
                0.0
            };
            l.rest_tremor = if rng.gen_bool(0.6) {
                u(rng, 0.5, 2.0) * D2R
            } else {
                0.0
            };
            l.t_up = u(rng, 1.0, 1.6);
            l.t_down = u(rng, 1.3, 2.4);
            l.gait = Gait::Shuffle;
            l.strength = u(rng, 1.0, 1.5);
        }
        Ataxia => {
            l.delay = u(rng, 0.1, 0.15);
            let over = rng.gen_bool(0.6);
            l.model_inertia = if over {
                u(rng, 0.6, 0.8)
            } else {
                u(rng, 1.2, 1.5)
            };
            l.model_load = u(rng, 0.9, 1.1);
            l.model_delay = u(rng, 1.2, 1.5);
            l.zeta = u(rng, 0.6, 0.8);
            l.mismatch_fatigue = u(rng, 0.5, 1.5);
            l.precision = u(rng, 1.0, 2.0);
            l.sway = u(rng, 0.5, 0.9);
            l.t_up = u(rng, 0.9, 1.5);
            l.gait = Gait::Cane;
            l.strength = u(rng, 1.1, 1.6);
        }
        Ms => {
            l.delay = u(rng, 0.09, 0.14);
            l.fatigue_rate = u(rng, 0.04, 0.08);
            l.model_inertia = u(rng, 0.85, 1.15);
            l.model_delay = u(rng, 0.8, 1.1);
            l.mismatch_fatigue = u(rng, 0.5, 1.2);
            l.precision = u(rng, 0.3, 0.8);
            l.spastic_k = if rng.gen_bool(0.5) {
                l.mass * u(rng, 0.2, 0.5)
            } else {
                0.0
            };
            l.spastic_v = u(rng, 40.0, 90.0) * D2R;
            l.catch_p = u(rng, 0.1, 0.4);
            l.strength = u(rng, 0.85, 1.2);
            l.tau_max *= 0.85;
            l.gait = [Gait::Normal, Gait::Cane][rng.gen_range(0..2)];
        }
        HipOa | KneeOa => {
            l.top = if cond == HipOa {
                u(rng, 0.6, 0.85)
            } else {
                u(rng, 0.8, 0.95)
            };
            l.t_up = u(rng, 1.0, 1.5);
            l.t_down = u(rng, 1.2, 2.4);
            l.strength = u(rng, 0.8, 1.2);
            l.gait = Gait::Antalgic;
            l.abandon_p = u(rng, 0.03, 0.1);
            l.tfl = u(rng, 0.04, 0.1);
        }
        HipReplacement => {
            l.top = u(rng, 0.6, 0.8);
            l.synergy_rot = 0.0;
            l.t_up = u(rng, 1.1, 1.6);
            l.t_down = u(rng, 1.4, 2.5);
            l.strength = u(rng, 0.8, 1.15);
            l.gait = [Gait::Antalgic, Gait::Cane][rng.gen_range(0..2)];
            l.tfl = u(rng, 0.03, 0.08);
        }
        Gym | Home => {}
    }
    l.model_delay *= l.delay;
    if l.strength < 1.2 {
        l.strategy = [Strategy::Hold, Strategy::Duchenne, Strategy::Hike][rng.gen_range(0..3)];
    }
    if l.strategy == Strategy::Hike {
        l.hike_nat = u(rng, 1.0, 2.5);
    }
    // The intended top, per exercise.
    let (lo, hi) = match ex {
        Exercise::SideLyingAbduction => (30.0, 50.0),
        Exercise::SeatedMachineAbduction => (20.0, 38.0),
        Exercise::HipHitch => (6.0, 11.0),
        _ => (25.0, 45.0),
    };
    let mut top = u(rng, lo, hi) * if ex == Exercise::HipHitch { 1.0 } else { l.top };
    if ex != Exercise::HipHitch {
        top = top.max(18.0);
    } else {
        top = top.max(5.5);
    }
    l.top = top * D2R;
    if ex == Exercise::HipHitch {
        l.t_up *= 1.2;
    }
    l
}

/// The working joint's plant.
#[derive(Debug, Clone, Copy)]
struct Plant {
    ex: Exercise,
    inertia: f64,
    grav: f64,
    load: f64,
    load_k: f64,
    fric: f64,
    k_pass: f64,
    b_pass: f64,
    q_lim: f64,
}

impl Plant {
    fn env(&self, q: f64, w: f64) -> f64 {
        let end = |x: f64| (x / 0.05).clamp(-30.0, 4.0).exp() - (-30.0f64).exp();
        let passive = -self.k_pass * q - self.b_pass * w;
        let contact = |q: f64, w: f64| {
            if q < 0.0 {
                // Soft, well damped: the bottom leg, the machine's stop.
                (-1500.0 * q - 300.0 * w).max(0.0)
            } else {
                0.0
            }
        };
        match self.ex {
            Exercise::SideLyingAbduction => {
                passive - self.grav * q.cos() - 40.0 * end(q - self.q_lim) + contact(q, w)
            }
            Exercise::SeatedMachineAbduction => {
                let lift = 1.0 / (1.0 + (-q / 0.01).exp());
                passive
                    - (self.load + self.load_k * q.max(0.0)) * lift
                    - self.fric * (w / 0.05).tanh()
                    - 40.0 * end(q - self.q_lim)
                    + contact(q, w)
            }
            Exercise::HipHitch => {
                passive + self.grav * q.cos() - 80.0 * end(q - self.q_lim) + 80.0 * end(-q - 0.2)
            }
            _ => {
                passive
                    - self.grav * q.sin()
                    - self.load * (0.85 + 0.15 * q.cos())
                    - self.fric * (w / 0.05).tanh()
                    - 40.0 * end(q - self.q_lim)
                    + 40.0 * end(-q - 0.12)
            }
        }
    }
}

fn draw_plant(rng: &mut ChaCha8Rng, ex: Exercise, l: &Lifter) -> Plant {
    let m_leg = 0.16 * l.mass;
    let i_leg = m_leg * (0.55 * l.leg).powi(2);
    let mut p = Plant {
        ex,
        inertia: i_leg,
        grav: m_leg * G * 0.42 * l.leg,
        load: 0.0,
        load_k: 0.0,
        fric: 0.0,
        k_pass: u(rng, 4.0, 15.0),
        b_pass: u(rng, 0.8, 2.5),
        q_lim: u(rng, 50.0, 62.0) * D2R,
    };
    match ex {
        Exercise::StandingCableAbduction => {
            let stack = u(rng, 2.5, 10.0) * if l.strength < 1.2 { 0.6 } else { 1.0 };
            p.load = stack * G * 0.9 * l.leg * 0.3;
            p.inertia += stack * (0.9 * l.leg).powi(2) * 0.3;
            p.fric = u(rng, 0.5, 2.5);
        }
        Exercise::SideLyingAbduction => {
            let weight = if rng.gen_bool(0.4) {
                u(rng, 0.5, 3.0)
            } else {
                0.0
            };
            p.grav += weight * G * l.leg;
            p.inertia += weight * l.leg * l.leg;
        }
        Exercise::SeatedMachineAbduction => {
            p.inertia = m_leg * 0.12 + u(rng, 0.3, 0.8);
            p.load = u(rng, 15.0, 45.0) * if l.strength < 1.2 { 0.6 } else { 1.0 };
            p.load_k = u(rng, 10.0, 40.0);
            p.fric = u(rng, 1.0, 4.0);
            p.q_lim = u(rng, 40.0, 50.0) * D2R;
        }
        _ => {
            // The pelvis and everything above it about the stance hip.
            p.inertia = 0.84 * l.mass * 0.04;
            p.grav = 0.84 * l.mass * G * (l.half_width + 0.01) * 0.5;
            p.k_pass = u(rng, 20.0, 60.0);
            p.b_pass = u(rng, 3.0, 8.0);
            p.q_lim = 0.38;
        }
    }
    p
}

/// One rep as DOMAIN.md has it, measured on the working joint (deg from the
/// set's neutral): leaves neutral, reaches at least `min` and comes back
/// under the return band; a lowering that stops short and rises again is the
/// same rep, an attempt that never reaches `min` none.
#[derive(Debug, Clone)]
struct RepCounter {
    lo: f64,
    min: f64,
    idle_since: usize,
    in_rep: bool,
    start: usize,
    peak: f64,
}

impl RepCounter {
    fn new(min: f64) -> Self {
        RepCounter {
            lo: (min * 0.25).max(1.0),
            min,
            idle_since: 0,
            in_rep: false,
            start: 0,
            peak: 0.0,
        }
    }

    /// Feeds sample `i`; a finished rep comes back as (start, end, peak).
    fn feed(&mut self, i: usize, x: f64) -> Option<(usize, usize, f64)> {
        if !self.in_rep {
            if x <= self.lo {
                self.idle_since = i;
            } else if x >= self.min {
                self.in_rep = true;
                self.start = self.idle_since;
                self.peak = x;
            }
            None
        } else {
            self.peak = self.peak.max(x);
            let back = (0.2 * self.peak).clamp(self.lo, 6.0);
            if x <= back {
                self.in_rep = false;
                self.idle_since = i;
                Some((self.start, i, self.peak))
            } else {
                None
            }
        }
    }
}

fn rep_min_deg(ex: Exercise) -> f64 {
    if ex == Exercise::HipHitch {
        3.5
    } else {
        10.0
    }
}

/// What the body did at one internal step.
#[derive(Debug, Clone, Copy)]
struct Rec {
    pos: Vector3<f64>,
    quat: UnitQuaternion<f64>,
    work: f64,
    obl: f64,
    lean: f64,
    flex: f64,
}

/// One set as the lifter did it.
#[derive(Debug, Clone)]
struct SetRec {
    start: usize,
    end: usize,
    neutral: [f64; 4],
    neutral_quat: UnitQuaternion<f64>,
}

/// What the tests look at besides the truth.
#[derive(Debug, Clone, Default)]
struct Debug {
    /// Every released raise: (step, intended top deg, abandoned).
    attempts: Vec<(usize, f64, bool)>,
}

#[derive(Debug, Clone)]
struct Body {
    x: [f64; NDOF],
    v: [f64; NDOF],
    px: f64,
    py: f64,
    post_from: UnitQuaternion<f64>,
    post_to: UnitQuaternion<f64>,
    post_s: f64,
    post_rate: f64,
}

impl Body {
    fn track(&mut self, i: usize, target: f64, wn: f64, zeta: f64) {
        let a = wn * wn * (target - self.x[i]) - 2.0 * zeta * wn * self.v[i];
        self.v[i] += a * DT;
        self.x[i] += self.v[i] * DT;
    }
    fn posture(&self) -> UnitQuaternion<f64> {
        self.post_from.slerp(&self.post_to, smoothstep(self.post_s))
    }
    fn change_posture(&mut self, to: UnitQuaternion<f64>, secs: f64) {
        self.post_from = self.posture();
        self.post_to = to;
        self.post_s = 0.0;
        self.post_rate = 1.0 / secs.max(0.2);
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Posture {
    Stand,
    Sit,
    Lie,
    Supine,
}

/// The session being simulated.
struct World {
    cfg: SimConfig,
    rng: ChaCha8Rng,
    l: Lifter,
    plant: Plant,
    body: Body,
    recs: Vec<Rec>,
    sets: Vec<SetRec>,
    distractions: Vec<(String, usize, usize)>,
    dbg: Debug,
    /// +1 when the working side is right.
    s: f64,
    /// +1 when the free side is right.
    f: f64,
    mount_a: UnitQuaternion<f64>,
    mount_p: UnitQuaternion<f64>,
    strap_shin: bool,
    /// Postural sway of obliquity and lean (targets), rad.
    sway: [f64; 2],
    /// Choreic bumps: (dof, amplitude, start step, length in steps).
    chorea: Vec<(usize, f64, usize, usize)>,
    /// Kinematic targets of every DOF.
    tgt: [f64; NDOF],
    fatigue: f64,
    /// Pelvis targets waiting out the delay.
    pel_queue: VecDeque<[f64; 2]>,
    /// Visible compensations that may be asked for.
    asked: Vec<FlagKind>,
    tremor_phase: f64,
}

fn random_quat(rng: &mut ChaCha8Rng) -> UnitQuaternion<f64> {
    let q = nalgebra::Quaternion::new(gauss(rng), gauss(rng), gauss(rng), gauss(rng));
    UnitQuaternion::from_quaternion(q)
}

fn small_turn(rng: &mut ChaCha8Rng, max_deg: f64) -> UnitQuaternion<f64> {
    let axis = Vector3::new(gauss(rng), gauss(rng), gauss(rng));
    let axis = nalgebra::Unit::new_normalize(axis + Vector3::new(1e-9, 0.0, 0.0));
    UnitQuaternion::from_axis_angle(&axis, u(rng, 0.0, max_deg) * D2R)
}

impl World {
    fn new(cfg: &SimConfig) -> World {
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x6e65_7572_6f5f_3235);
        let l = draw_lifter(&mut rng, cfg.exercise);
        let plant = draw_plant(&mut rng, cfg.exercise, &l);
        let s = cfg.side.sign();
        let f = cfg.exercise.free_side(cfg.side).sign();
        let strap_shin = rng.gen_bool(0.35);
        let basis = |x: Vector3<f64>, y: Vector3<f64>| {
            let z = x.cross(&y);
            UnitQuaternion::from_rotation_matrix(&Rotation3::from_basis_unchecked(&[x, y, z]))
        };
        // Ankle: Y up the shank, Z out of the strap (lateral, or forward on the shin).
        let out = if strap_shin {
            Vector3::new(0.0, 1.0, 0.0)
        } else {
            Vector3::new(s, 0.0, 0.0)
        };
        let up = Vector3::new(0.0, 0.0, 1.0);
        let nominal_a = basis(up.cross(&out), up);
        // Pelvis: +X right, +Y up, +Z backward.
        let nominal_p = rx(PI / 2.0);
        let (mount_a, mount_p) = if cfg.random_mounting {
            (
                random_quat(&mut rng),
                nominal_p * small_turn(&mut rng, 15.0),
            )
        } else {
            (nominal_a, nominal_p)
        };
        let mut visible = cfg.visible_compensations();
        visible.dedup();
        let posture = World::posture_quat(cfg.exercise, Posture::Stand, s);
        let mut w = World {
            cfg: cfg.clone(),
            rng,
            l,
            plant,
            body: Body {
                x: [0.0; NDOF],
                v: [0.0; NDOF],
                px: 0.0,
                py: 0.0,
                post_from: posture,
                post_to: posture,
                post_s: 1.0,
                post_rate: 1.0,
            },
            recs: Vec::new(),
            sets: Vec::new(),
            distractions: Vec::new(),
            dbg: Debug::default(),
            s,
            f,
            mount_a,
            mount_p,
            strap_shin,
            sway: [0.0; 2],
            chorea: Vec::new(),
            tgt: [0.0; NDOF],
            fatigue: 0.0,
            pel_queue: VecDeque::new(),
            asked: visible,
            tremor_phase: 0.0,
        };
        let h = w.rng.gen_range(-PI..PI);
        w.body.x[HEAD] = h;
        w.tgt[HEAD] = h;
        w.set_posture(w.exercise_posture(), 0.0);
        w.body.x = w.tgt;
        w
    }

    fn posture_quat(ex: Exercise, p: Posture, s: f64) -> UnitQuaternion<f64> {
        let _ = ex;
        match p {
            Posture::Stand => UnitQuaternion::identity(),
            Posture::Sit => rx(-0.12),
            // Working side up.
            Posture::Lie => ry(-s * PI / 2.0),
            Posture::Supine => rx(PI / 2.0),
        }
    }

    fn exercise_posture(&self) -> Posture {
        match self.cfg.exercise {
            Exercise::SideLyingAbduction => Posture::Lie,
            Exercise::SeatedMachineAbduction => Posture::Sit,
            _ => Posture::Stand,
        }
    }

    /// Sets the targets of a posture and starts moving there over `secs`.
    fn set_posture(&mut self, p: Posture, secs: f64) {
        let q = World::posture_quat(self.cfg.exercise, p, self.s);
        if secs <= 0.0 {
            self.body.post_from = q;
            self.body.post_to = q;
            self.body.post_s = 1.0;
        } else {
            self.body.change_posture(q, secs);
        }
        let leg = self.l.leg;
        let step = if self.cfg.exercise == Exercise::HipHitch {
            0.2
        } else {
            0.0
        };
        let (flex, knee, h) = match p {
            Posture::Stand => (0.0, 0.02, leg + 0.04 + step),
            Posture::Sit => (PI / 2.0, PI / 2.0, 0.5),
            Posture::Lie => (0.12, 0.08, 0.75),
            Posture::Supine => (0.05, 0.05, 0.65),
        };
        for i in [ABD, ABDV, ROT, OBL, LEAN, YAW, TILT, SHIFT, BOB] {
            self.tgt[i] = 0.0;
        }
        self.tgt[FLEX] = flex;
        self.tgt[KNEE] = knee;
        self.tgt[HGT] = h;
    }

    fn noise(&mut self) -> f64 {
        gauss(&mut self.rng)
    }

    /// One step of everything that is not the working loop; `work` is the
    /// working joint's (q, w) when a set is on.
    fn step(&mut self, work: Option<(f64, f64)>, pelvis: Option<[f64; 2]>) {
        let t = self.recs.len();
        // Sway (Ornstein–Uhlenbeck, 2 s).
        for k in 0..2 {
            let sig = self.l.sway * D2R * (if k == 0 { 0.5 } else { 1.0 });
            let n = self.noise();
            self.sway[k] += -self.sway[k] / 2.0 * DT + sig * (2.0 * DT / 2.0).sqrt() * n;
        }
        // Choreic bumps.
        let mut ch = [0.0; NDOF];
        self.chorea.retain(|&(_, _, s, n)| t < s + n);
        for &(d, a, s, n) in &self.chorea {
            if t >= s {
                let ph = (t - s) as f64 / n as f64;
                ch[d] += a * (PI * ph).sin().powi(2) * (3.0 * PI * ph).sin();
            }
        }
        // Rest tremor while still.
        self.tremor_phase += 2.0 * PI * self.l.tremor_hz * DT;
        let still = (-(self.body.v[ABD].abs() + self.body.v[FLEX].abs()) / 0.2).exp();
        let trem = self.l.rest_tremor * still * self.tremor_phase.sin();
        let wn = 14.0;
        #[allow(clippy::needless_range_loop)]
        for i in 0..NDOF {
            let mut target = self.tgt[i] + ch[i];
            let (mut w, mut z) = (wn, 1.0);
            match i {
                ROT => target += trem,
                ABD => target += 0.5 * trem,
                HEAD => {
                    w = 4.0;
                }
                HGT | BOB => {
                    w = 6.0;
                }
                _ => {}
            }
            if pelvis.is_some() && (i == OBL || i == LEAN) {
                continue;
            }
            if i == OBL || i == LEAN {
                target += self.sway[i - OBL];
                w = self.l.pel_wn;
                z = self.l.pel_zeta;
            }
            self.body.track(i, target, w, z);
        }
        if let Some(p) = pelvis {
            self.pel_queue.push_back(p);
            let d = (self.l.pel_delay / DT) as usize;
            while self.pel_queue.len() > d + 1 {
                self.pel_queue.pop_front();
            }
            let p = self.pel_queue[0];
            let work_is_obl = self.cfg.exercise == Exercise::HipHitch;
            for (k, i) in [OBL, LEAN].into_iter().enumerate() {
                if k == 0 && work_is_obl {
                    continue;
                }
                let target = p[k] + self.sway[k] + ch[i];
                self.body.track(i, target, self.l.pel_wn, self.l.pel_zeta);
            }
            if work_is_obl {
                let (q, w) = work.unwrap_or((0.0, 0.0));
                self.body.x[OBL] = q + self.sway[0] * 0.3 + ch[OBL];
                self.body.v[OBL] = w;
            }
        } else {
            self.pel_queue.clear();
        }
        if let Some((q, w)) = work {
            match self.cfg.exercise {
                Exercise::SeatedMachineAbduction => {
                    self.body.x[ABDV] = q;
                    self.body.v[ABDV] = w;
                }
                Exercise::HipHitch => {}
                _ => {
                    self.body.x[ABD] = q;
                    self.body.v[ABD] = w;
                }
            }
        }
        if self.body.post_s < 1.0 {
            self.body.post_s = (self.body.post_s + self.body.post_rate * DT).min(1.0);
        }
        self.record();
    }

    /// Moves the base forward (walking), m/s.
    fn advance(&mut self, speed: f64) {
        let h = self.body.x[HEAD];
        self.body.px += -h.sin() * speed * DT;
        self.body.py += h.cos() * speed * DT;
    }

    fn record(&mut self) {
        let b = &self.body;
        let x = &b.x;
        let (s, f) = (self.s, self.f);
        let frame = rz(x[HEAD]) * b.posture();
        let base = Vector3::new(b.px, b.py, x[HGT] + x[BOB]);
        // Stance hip, moved by the shift and the lean over the stance foot.
        let stance_hip =
            base + frame * Vector3::new(-f * (x[SHIFT] + 0.9 * x[LEAN].sin()), 0.0, 0.0);
        let pel = frame * ry(-f * x[LEAN]) * rz(x[YAW]) * ry(-f * x[OBL]) * rx(x[TILT]);
        let hw = self.l.half_width;
        let centre = stance_hip + pel * Vector3::new(f * hw, 0.0, 0.0);
        let (pos, quat) = match self.cfg.placement {
            Placement::Pelvis => (
                centre + pel * Vector3::new(0.0, -0.1, 0.03),
                pel * self.mount_p,
            ),
            Placement::Ankle => {
                let hip = centre + pel * Vector3::new(s * hw, 0.0, 0.0);
                let thigh = pel * rz(-s * x[ABDV]) * ry(-s * x[ABD]) * rx(x[FLEX]) * rz(s * x[ROT]);
                let lt = 0.52 * self.l.leg;
                let ls = 0.48 * self.l.leg;
                let knee = hip + thigh * Vector3::new(0.0, 0.0, -lt);
                let shank = thigh * ry(s * 0.25 * x[ABDV]) * rx(-x[KNEE]);
                let off = if self.strap_shin {
                    Vector3::new(0.0, 0.045, -0.6 * ls)
                } else {
                    Vector3::new(s * 0.04, 0.0, -0.85 * ls)
                };
                (knee + shank * off, shank * self.mount_a)
            }
        };
        let work = match self.cfg.exercise {
            Exercise::SeatedMachineAbduction => x[ABDV],
            Exercise::HipHitch => -x[OBL],
            _ => x[ABD],
        };
        self.recs.push(Rec {
            pos,
            quat,
            work: work * R2D,
            obl: x[OBL] * R2D,
            lean: x[LEAN] * R2D,
            flex: x[FLEX] * R2D,
        });
    }

    fn now(&self) -> usize {
        self.recs.len()
    }

    fn idle(&mut self, secs: f64) {
        let n = (secs / DT).round() as usize;
        for _ in 0..n {
            self.step(None, None);
        }
    }

    fn add_chorea(&mut self, in_set: bool) {
        if self.l.chorea <= 0.0 {
            return;
        }
        let t = self.now();
        let big = !in_set && self.rng.gen_bool(0.3);
        let scale = self.l.chorea * if big { 3.0 } else { 1.0 } * if in_set { 0.5 } else { 1.0 };
        let dofs = [ABD, FLEX, ROT, LEAN, OBL, YAW];
        let d = dofs[self.rng.gen_range(0..dofs.len())];
        let amp = match d {
            ABD | FLEX | ROT => u(&mut self.rng, 1.0, 4.0),
            _ => u(&mut self.rng, 0.5, 1.5),
        } * scale
            * D2R
            * if self.rng.gen_bool(0.5) { 1.0 } else { -1.0 };
        let len = (u(&mut self.rng, 0.4, 1.5) / DT) as usize;
        let start = t + (u(&mut self.rng, 0.0, 1.0) / DT) as usize;
        self.chorea.push((d, amp, start, len));
    }

    /// A time span of plain rest in position, with wriggles for some.
    fn rest(&mut self, secs: f64) {
        let mut left = secs;
        while left > 0.0 {
            let chunk = left.min(2.0);
            if self.l.chorea > 0.0 && self.rng.gen_bool(0.25 * self.l.chorea) && self.cfg.fidgets {
                let t0 = self.now();
                self.add_chorea(false);
                self.idle(chunk);
                self.note("involuntary movement", t0, self.now());
            } else {
                self.idle(chunk);
            }
            left -= chunk;
        }
    }

    fn note(&mut self, what: &str, a: usize, b: usize) {
        self.distractions.push((what.to_string(), a, b));
    }

    /// Walking with the lifter's own gait for `secs`, then a turn.
    fn walk(&mut self, secs: f64, turn: bool) {
        let t0 = self.now();
        let (freq, speed, flex_a, knee_a, circ) = match self.l.gait {
            Gait::Normal => (0.9, 1.1, 22.0, 55.0, 0.0),
            Gait::Shuffle => (1.2, 0.5, 9.0, 25.0, 0.0),
            Gait::Circumduction => (0.6, 0.45, 12.0, 20.0, 12.0),
            Gait::Antalgic => (0.8, 0.7, 16.0, 40.0, 0.0),
            Gait::Cane => (0.6, 0.5, 14.0, 35.0, 0.0),
        };
        let freq = freq * u(&mut self.rng, 0.9, 1.1);
        let mut ph = self.rng.gen_range(0.0..2.0 * PI);
        let n = (secs / DT) as usize;
        let base = self.tgt;
        for k in 0..n {
            let ramp = ((k as f64 * DT) / 0.8).min(1.0) * (((n - k) as f64 * DT) / 0.8).min(1.0);
            ph += 2.0 * PI * freq * DT;
            let swing = (ph.sin()).max(0.0);
            let asym = if self.l.gait == Gait::Antalgic {
                0.6
            } else {
                1.0
            };
            self.tgt[FLEX] = base[FLEX] + ramp * flex_a * D2R * (ph.sin() * 0.8 + 0.2 * asym);
            self.tgt[KNEE] = base[KNEE] + ramp * knee_a * D2R * (ph + 0.7).sin().max(0.0).powi(2);
            self.tgt[ABD] = base[ABD] + ramp * circ * D2R * swing.powi(2);
            self.tgt[OBL] = ramp * 3.0 * D2R * (ph + PI).sin();
            self.tgt[LEAN] = ramp * (1.0 + 2.0 * (1.0 - asym)) * D2R * (ph + PI).sin();
            self.tgt[YAW] = ramp * 4.0 * D2R * ph.cos();
            self.tgt[BOB] = ramp * 0.02 * (2.0 * ph).cos();
            self.advance(ramp * speed);
            self.step(None, None);
        }
        self.tgt = base;
        if turn {
            self.tgt[HEAD] += PI * if self.rng.gen_bool(0.5) { 1.0 } else { -1.0 };
            let m = (u(&mut self.rng, 1.5, 2.5) / DT) as usize;
            for k in 0..m {
                let ph = k as f64 * DT * 2.0 * PI * 1.2;
                self.tgt[FLEX] = base[FLEX] + 6.0 * D2R * ph.sin().max(0.0);
                self.tgt[KNEE] = base[KNEE] + 15.0 * D2R * ph.sin().max(0.0);
                self.step(None, None);
            }
            self.tgt = base;
        }
        self.idle(0.3);
        let label = match self.l.gait {
            Gait::Normal => "walk",
            Gait::Shuffle => "walk (shuffling)",
            Gait::Circumduction => "walk (hemiparetic, circumduction)",
            Gait::Antalgic => "walk (antalgic)",
            Gait::Cane => "walk (with a cane)",
        };
        let t1 = self.now();
        self.note(label, t0, t1);
    }

    fn change(&mut self, p: Posture, secs: f64, label: &str) {
        let t0 = self.now();
        let mid = self.tgt;
        self.set_posture(p, secs);
        let fin = self.tgt;
        // Lean forward while getting up or down.
        let n = (secs / DT) as usize;
        for k in 0..n {
            let x = k as f64 / n as f64;
            self.tgt[TILT] = 0.4 * (PI * x).sin();
            self.tgt[FLEX] = mid[FLEX] + (fin[FLEX] - mid[FLEX]) * smoothstep(x);
            self.step(None, None);
        }
        self.tgt = fin;
        self.idle(0.5);
        self.note(label, t0, self.now());
    }

    fn restrap(&mut self) {
        let t0 = self.now();
        let n = (u(&mut self.rng, 4.0, 12.0) / DT) as usize;
        let base = self.tgt;
        let healthy = matches!(
            self.l.cond,
            Condition::Gym | Condition::Home | Condition::Athlete | Condition::Older
        );
        let helped = self.rng.gen_bool(if healthy { 0.2 } else { 0.7 });
        for k in 0..n {
            let ph = k as f64 * DT;
            // The leg lifted for the helper or bent to reach the strap.
            let x = ((ph / 1.0).min(1.0)) * (((n - k) as f64 * DT / 1.0).min(1.0));
            self.tgt[FLEX] = base[FLEX] + x * if helped { 15.0 } else { 35.0 } * D2R;
            self.tgt[KNEE] = base[KNEE] + x * 40.0 * D2R;
            self.tgt[ROT] = base[ROT] + x * 6.0 * D2R * (2.0 * PI * 1.7 * ph).sin();
            self.step(None, None);
            if k == n / 2 {
                let turn = small_turn(&mut self.rng, 25.0);
                let dp = small_turn(&mut self.rng, 4.0);
                if self.cfg.random_mounting {
                    self.mount_a *= turn;
                    self.mount_p *= dp;
                }
            }
        }
        self.tgt = base;
        self.idle(0.4);
        self.note(
            if helped {
                "re-strap with help"
            } else {
                "re-strap"
            },
            t0,
            self.now(),
        );
    }

    /// The other leg's set: this leg stands (or lies below), the pelvis answers the other leg.
    fn other_leg(&mut self) {
        let t0 = self.now();
        let lying = self.exercise_posture() == Posture::Lie;
        if lying {
            self.set_posture(Posture::Supine, 1.5);
            self.idle(1.6);
            self.body.change_posture(ry(self.s * PI / 2.0), 1.5);
            self.idle(1.6);
        }
        let reps = self.rng.gen_range(4..10);
        let hitch = self.cfg.exercise == Exercise::HipHitch;
        for _ in 0..reps {
            let up = u(&mut self.rng, 0.8, 1.4);
            let down = u(&mut self.rng, 1.0, 1.8);
            let amp = if hitch {
                u(&mut self.rng, 5.0, 10.0)
            } else {
                u(&mut self.rng, 1.0, 3.0)
            } * D2R;
            let n_up = (up / DT) as usize;
            let n_dn = (down / DT) as usize;
            for k in 0..n_up + n_dn {
                let x = if k < n_up {
                    smoothstep(k as f64 / n_up as f64)
                } else {
                    1.0 - smoothstep((k - n_up) as f64 / n_dn as f64)
                };
                // Our free side is their stance side: the obliquity goes the other way.
                self.tgt[OBL] = amp * x;
                self.tgt[LEAN] = -1.5 * D2R * x;
                self.tgt[ABD] = 1.0 * D2R * x;
                self.step(None, None);
            }
            let v = u(&mut self.rng, 0.2, 1.0);
            self.idle(v);
        }
        self.tgt[OBL] = 0.0;
        self.tgt[LEAN] = 0.0;
        self.tgt[ABD] = 0.0;
        if lying {
            self.body.change_posture(rx(PI / 2.0), 1.5);
            self.idle(1.6);
            self.set_posture(Posture::Lie, 1.5);
            self.idle(1.6);
        }
        self.idle(0.5);
        self.note("the other leg's set", t0, self.now());
    }

    fn shake(&mut self) {
        let t0 = self.now();
        let n = (u(&mut self.rng, 0.8, 2.0) / DT) as usize;
        let f = u(&mut self.rng, 3.0, 6.0);
        let base = self.tgt;
        for k in 0..n {
            let x = (PI * k as f64 / n as f64).sin();
            let ph = 2.0 * PI * f * k as f64 * DT;
            self.tgt[ROT] = base[ROT] + 8.0 * D2R * x * ph.sin();
            self.tgt[FLEX] = base[FLEX] + 5.0 * D2R * x * (ph * 0.5).sin();
            self.step(None, None);
        }
        self.tgt = base;
        self.idle(0.3);
        self.note("shake out the leg", t0, self.now());
    }

    /// Fills a rest of `secs` between sets.
    fn between_sets(&mut self, secs: f64, last: bool) {
        let t_end = self.now() + (secs / DT) as usize;
        let home = self.exercise_posture();
        let walking = self.cfg.walking;
        let fidgets = self.cfg.fidgets;
        let v = u(&mut self.rng, 0.5, 2.0);
        self.rest(v);
        let mut plan: Vec<u8> = Vec::new();
        if fidgets {
            if self.rng.gen_bool(0.35) {
                plan.push(0); // re-strap
            }
            if self.rng.gen_bool(0.3) {
                plan.push(1); // other leg
            }
            if self.rng.gen_bool(0.3) {
                plan.push(2); // shake
            }
            if self.rng.gen_bool(0.3) && home == Posture::Lie {
                plan.push(3); // roll to the back and rest
            }
            if self.rng.gen_bool(0.25) && home == Posture::Stand && !walking {
                plan.push(4); // sit down a while
            }
        }
        if walking && !last {
            plan.push(5);
        }
        // Shuffle the order a little.
        if plan.len() > 1 && self.rng.gen_bool(0.5) {
            plan.swap(0, 1);
        }
        for p in plan {
            if self.now() + (6.0 / DT) as usize > t_end {
                break;
            }
            match p {
                0 => self.restrap(),
                1 => self.other_leg(),
                2 => self.shake(),
                3 => {
                    let t0 = self.now();
                    self.set_posture(Posture::Supine, 2.0);
                    let secs = u(&mut self.rng, 3.0, 8.0);
                    self.idle(secs);
                    self.set_posture(Posture::Lie, 2.0);
                    self.idle(2.2);
                    self.note("rest on the back", t0, self.now());
                }
                4 => {
                    let v = u(&mut self.rng, 2.0, 4.0);
                    self.change(Posture::Sit, v, "sit down slowly");
                    let secs = u(&mut self.rng, 2.0, 8.0);
                    self.rest(secs);
                    let v = u(&mut self.rng, 2.0, 4.0);
                    self.change(Posture::Stand, v, "stand up slowly");
                }
                _ => {
                    let room = (t_end.saturating_sub(self.now())) as f64 * DT;
                    let leave = match home {
                        Posture::Stand => None,
                        _ => Some(home),
                    };
                    if let Some(h) = leave {
                        if h == Posture::Lie {
                            let v = u(&mut self.rng, 2.0, 3.5);
                            self.change(Posture::Sit, v, "sit up");
                        }
                        let v = u(&mut self.rng, 1.5, 3.5);
                        self.change(Posture::Stand, v, "stand up");
                    } else if self.cfg.exercise == Exercise::HipHitch {
                        self.tgt[HGT] -= 0.2;
                        self.idle(0.8);
                    }
                    let secs = (room * u(&mut self.rng, 0.2, 0.4)).clamp(2.0, 20.0);
                    self.walk(secs, true);
                    let v = u(&mut self.rng, 0.8, 1.1);
                    self.walk(secs * v, true);
                    if let Some(h) = leave {
                        if h == Posture::Lie {
                            let v = u(&mut self.rng, 1.5, 3.0);
                            self.change(Posture::Sit, v, "sit down");
                            let v = u(&mut self.rng, 2.0, 3.5);
                            self.change(Posture::Lie, v, "lie down");
                        } else {
                            let v = u(&mut self.rng, 1.5, 3.5);
                            self.change(h, v, "sit down");
                        }
                    } else if self.cfg.exercise == Exercise::HipHitch {
                        let t0 = self.now();
                        self.tgt[HGT] += 0.2;
                        self.idle(1.0);
                        self.note("step up", t0, self.now());
                    }
                }
            }
        }
        if last {
            return;
        }
        let left = t_end.saturating_sub(self.now()) as f64 * DT;
        self.rest(left.max(0.5));
        self.set_posture(home, 0.0);
        self.body.post_s = 1.0;
    }

    /// The quasi-static pelvis: obliquity and lean targets (rad) for the
    /// working joint at `q` (rad) during a rep, from the moment balance.
    fn pelvis_balance(
        &self,
        q: f64,
        comp: Option<FlagKind>,
        phase_t: f64,
        sway_f: f64,
        top: f64,
    ) -> [f64; 2] {
        let l = &self.l;
        let frac = if top > 0.0 {
            (q / top).clamp(0.0, 1.3)
        } else {
            0.0
        };
        let mut lean = l.lean_k * q;
        let mut obl;
        match self.cfg.exercise {
            Exercise::StandingCableAbduction => {
                let m_hat = 0.68 * l.mass;
                let m_leg = 0.16 * l.mass;
                let hw = l.half_width;
                let demand_of = |q: f64, trunk: f64| {
                    m_hat * G * (hw - 0.35 * trunk.sin()).max(0.0)
                        + m_leg * G * (2.0 * hw + 0.42 * l.leg * q.sin())
                        + self.plant.load * 0.3
                };
                let typical = demand_of(l.top, 0.0);
                let mut cap = l.strength * typical * (1.0 - 0.35 * self.fatigue);
                if comp == Some(FlagKind::PelvicDrop) {
                    cap *= 0.45;
                }
                let mut trunk = 0.0;
                let d0 = demand_of(q, 0.0);
                if l.strategy == Strategy::Duchenne && d0 > 0.8 * cap {
                    trunk = ((d0 - 0.8 * cap) / (m_hat * G * 0.35)).clamp(0.0, 8.0 * D2R);
                }
                let d = demand_of(q, trunk);
                let mut drop = l.compliance * D2R * (d / cap).min(1.0);
                if d > cap {
                    drop += 20.0 * D2R * (d - cap) / cap;
                }
                let cap_deg = if comp == Some(FlagKind::PelvicDrop) {
                    9.5
                } else {
                    3.0
                };
                drop = drop.min(cap_deg * D2R);
                obl = -drop + 0.3 * trunk;
                if l.strategy == Strategy::Hike || comp == Some(FlagKind::HipHike) {
                    obl += l.hike_nat.min(2.2) * D2R * frac;
                }
                lean += 0.5 * trunk;
            }
            Exercise::SideLyingAbduction => {
                obl = (0.3 + l.hike_nat.min(2.2)) * D2R * frac;
                if l.strength < 1.0 {
                    obl += 0.5 * D2R * frac;
                }
                lean = -0.6 * D2R * frac;
            }
            Exercise::SeatedMachineAbduction => {
                obl = 0.3 * D2R * frac;
                lean = 0.0;
            }
            _ => {
                obl = 0.0;
                lean = 0.4 * l.lean_k * q;
            }
        }
        match comp {
            Some(FlagKind::HipHike) if self.cfg.exercise != Exercise::HipHitch => {
                obl += sway_f * D2R * frac.min(1.0);
            }
            Some(FlagKind::PelvicDrop) if self.cfg.exercise == Exercise::SideLyingAbduction => {
                obl -= sway_f * D2R * frac.min(1.0);
            }
            Some(FlagKind::TrunkSway) => {
                let env = (phase_t / 0.4).min(1.0);
                lean += env * sway_f * D2R * (2.0 * PI * 0.9 * phase_t).sin();
            }
            _ => {}
        }
        [obl, lean]
    }
}

/// The delayed sensorimotor loop of the working joint.
struct Loop {
    q: f64,
    w: f64,
    qm: f64,
    wm: f64,
    hist: VecDeque<[f64; 2]>,
    histm: VecDeque<[f64; 2]>,
    r: f64,
    rd: f64,
    noise: f64,
    catch_left: f64,
    release_left: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Settle,
    Gate,
    Raise,
    Freeze,
    Hold,
    GateDown,
    Lower,
    Pause,
    Done,
}

/// Time for a drift-diffusion go signal to reach its threshold, s.
fn gate_time(rng: &mut ChaCha8Rng, drive: f64, noise: f64) -> f64 {
    let mut x = 0.0;
    let mut t = 0.0;
    let dt = 0.01;
    while x < 1.0 && t < 4.0 {
        x += drive * 4.0 * dt + noise * dt.sqrt() * gauss(rng);
        x = x.max(-0.3);
        t += dt;
    }
    0.08 + t
}

impl World {
    /// One set: settle, then reps released by the gate until the count is reached.
    fn run_set(&mut self, target: usize) {
        let ex = self.cfg.exercise;
        let min = rep_min_deg(ex);
        let l = self.l.clone();
        let plant = self.plant;
        let hitch = ex == Exercise::HipHitch;
        let work_dof = match ex {
            Exercise::SeatedMachineAbduction => ABDV,
            Exercise::HipHitch => OBL,
            _ => ABD,
        };
        let sign = if hitch { -1.0 } else { 1.0 };
        let q0 = sign * self.body.x[work_dof];
        let mut lp = Loop {
            q: q0,
            w: sign * self.body.v[work_dof],
            qm: q0,
            wm: 0.0,
            hist: VecDeque::new(),
            histm: VecDeque::new(),
            r: 0.0,
            rd: 0.0,
            noise: 0.0,
            catch_left: 0.0,
            release_left: 0.0,
        };
        let d = (l.delay / DT).round() as usize;
        let mut phase = Phase::Settle;
        let mut phase_left = u(&mut self.rng, 0.8, 1.6);
        let mut phase_t = 0.0;
        let mut goal = 0.0;
        let mut wr = 4.0;
        let mut counter = RepCounter::new(min);
        let mut count = 0usize;
        let mut attempts = 0usize;
        let mut seq = 0.0f64;
        let mut rep_top = l.top;
        let mut rep_down = l.t_down;
        let mut rep_hold = l.hold;
        let mut comp: Option<FlagKind> = None;
        let mut comp_size = 0.0;
        let mut freeze_at: Option<(f64, f64, bool)> = None;
        let mut abandon_at: Option<f64> = None;
        let mut hike_after = 0.0;
        let set_start = self.now();
        let mut neutral = [0.0; 4];
        let mut neutral_quat = UnitQuaternion::identity();
        let mut neutral_taken = false;
        let mut next_chorea = u(&mut self.rng, 1.0, 6.0);
        let mut done_left = 0.0;
        let mut last_rest = 0.0;
        let mut rep_t = 0.0;
        let mut tremble = 0.0;
        let base = self.tgt;
        loop {
            phase_t += DT;
            rep_t += DT;
            // The lifter's estimate: the delayed plant plus the forward model's gap.
            let fat = self.fatigue;
            let mis = 1.0 + l.mismatch_fatigue * fat;
            let im = plant.inertia * (1.0 + (l.model_inertia - 1.0) * mis);
            let dm = ((l.model_delay + (l.model_delay - l.delay) * (mis - 1.0)) / DT)
                .round()
                .max(1.0) as usize;
            let y = if lp.hist.len() > d {
                lp.hist[lp.hist.len() - 1 - d]
            } else {
                [lp.q, lp.w]
            };
            let ym = if lp.histm.len() > dm {
                lp.histm[lp.histm.len() - 1 - dm]
            } else {
                [lp.qm, lp.wm]
            };
            let qh = lp.qm + (y[0] - ym[0]);
            let wh = lp.wm + (y[1] - ym[1]);
            // Phases.
            match phase {
                Phase::Settle => {
                    phase_left -= DT;
                    if phase_left <= 0.0 {
                        phase = Phase::Gate;
                        phase_left = gate_time(&mut self.rng, l.gate_drive, l.gate_noise);
                    }
                }
                Phase::Gate => {
                    if !neutral_taken {
                        // The neutral: the still stance just before the first gate.
                        let n = (0.4 / DT) as usize;
                        let a = self.now().saturating_sub(n).max(set_start);
                        let m = (self.now() - a).max(1) as f64;
                        let recs = &self.recs[a..self.now()];
                        neutral = [
                            recs.iter().map(|r| r.work).sum::<f64>() / m,
                            recs.iter().map(|r| r.obl).sum::<f64>() / m,
                            recs.iter().map(|r| r.lean).sum::<f64>() / m,
                            recs.iter().map(|r| r.flex).sum::<f64>() / m,
                        ];
                        neutral_quat = self.recs[self.now() - 1].quat;
                        neutral_taken = true;
                    }
                    phase_left -= DT;
                    if phase_left <= 0.0 {
                        // A new raise: its plan.
                        attempts += 1;
                        let k = seq;
                        let seq_f = (1.0 - l.seq_decay * k).max(0.72);
                        let mut vigor = (1.0 - 0.6 * l.seq_decay * k).max(0.6);
                        let mut t_up = l.t_up;
                        let mut t_dn = l.t_down;
                        if l.festinate {
                            let h = (1.0 - 0.04 * k).max(0.65);
                            t_up *= h;
                            t_dn *= h;
                        }
                        rep_top = l.top
                            * seq_f
                            * (1.0 + 0.05 * gauss(&mut self.rng)).clamp(0.9, 1.1)
                            * (1.0 - 0.12 * fat.min(1.0));
                        rep_hold = (l.hold * u(&mut self.rng, 0.6, 1.4)).max(0.0);
                        comp = None;
                        if !self.asked.is_empty() && self.rng.gen_bool(self.cfg.compensation_rate) {
                            comp = Some(self.asked[self.rng.gen_range(0..self.asked.len())]);
                        }
                        comp_size = u(&mut self.rng, 6.5, 9.5);
                        hike_after = 0.0;
                        match comp {
                            Some(FlagKind::Momentum) => {
                                t_up = u(&mut self.rng, 0.2, 0.3);
                                t_dn = u(&mut self.rng, 0.3, 0.45);
                                rep_hold = 0.0;
                                vigor = 1.0;
                                rep_top = rep_top.max(l.top * 0.9);
                            }
                            Some(FlagKind::PartialRange) => {
                                rep_top =
                                    (l.top * u(&mut self.rng, 0.35, 0.5)).max((min + 4.0) * D2R);
                            }
                            Some(FlagKind::HipHike) if hitch => {
                                hike_after = comp_size * D2R;
                            }
                            Some(FlagKind::PelvicDrop) if hitch => {
                                rep_top = u(&mut self.rng, 17.0, 20.0) * D2R;
                            }
                            _ => {}
                        }
                        rep_down = t_dn / vigor;
                        freeze_at = None;
                        abandon_at = None;
                        if l.freeze_p > 0.0
                            && self.rng.gen_bool(l.freeze_p.min(0.9))
                            && comp.is_none()
                        {
                            let at = u(&mut self.rng, 0.15, 0.7);
                            let dur = u(&mut self.rng, 0.3, 3.0);
                            // Frozen early, some give up; late, all go on.
                            let give_up = at * rep_top * R2D < min - 5.0 && self.rng.gen_bool(0.5);
                            freeze_at = Some((at, dur, give_up));
                        } else if self.rng.gen_bool(l.abandon_p) && comp.is_none() {
                            let at = ((min - 6.0) * D2R / rep_top).clamp(0.03, 0.6);
                            abandon_at = Some(at * u(&mut self.rng, 0.5, 1.0));
                        }
                        let abandoned = abandon_at.is_some() || freeze_at.is_some_and(|f| f.2);
                        self.dbg
                            .attempts
                            .push((self.now(), rep_top * R2D, abandoned));
                        goal = rep_top;
                        wr = 3.36 / (t_up / vigor);
                        phase = Phase::Raise;
                        phase_t = 0.0;
                        rep_t = 0.0;
                    }
                }
                Phase::Raise => {
                    if let Some((at, dur, give_up)) = freeze_at {
                        if lp.r >= at * rep_top {
                            phase = Phase::Freeze;
                            phase_left = dur;
                            goal = lp.r;
                            freeze_at = Some((at, dur, give_up));
                        }
                    }
                    if let Some(at) = abandon_at {
                        if qh >= at * rep_top {
                            goal = 0.0;
                            lp.rd = 0.0;
                            wr = 3.36 / rep_down;
                            phase = Phase::Lower;
                            phase_t = 0.0;
                        }
                    }
                    if phase == Phase::Raise {
                        let close = (goal - qh).abs() < 0.08 * goal.max(0.05) && wh.abs() < 0.25;
                        if close || phase_t > 3.0 * l.t_up + 1.5 {
                            phase = Phase::Hold;
                            phase_left = rep_hold;
                            phase_t = 0.0;
                        }
                    }
                }
                Phase::Freeze => {
                    phase_left -= DT;
                    tremble = 0.04 * plant.inertia * 400.0 * (2.0 * PI * 5.0 * phase_t).sin();
                    if phase_left <= 0.0 {
                        tremble = 0.0;
                        let give_up = freeze_at.is_some_and(|f| f.2);
                        freeze_at = None;
                        if give_up {
                            goal = 0.0;
                            lp.rd = 0.0;
                            wr = 3.36 / rep_down;
                            phase = Phase::Lower;
                        } else {
                            goal = rep_top;
                            phase = Phase::Raise;
                        }
                        phase_t = 0.0;
                    }
                }
                Phase::Hold => {
                    phase_left -= DT;
                    if phase_left <= 0.0 {
                        phase = Phase::GateDown;
                        phase_left = 0.5 * gate_time(&mut self.rng, l.gate_drive, l.gate_noise);
                    }
                }
                Phase::GateDown => {
                    phase_left -= DT;
                    if phase_left <= 0.0 {
                        goal = -hike_after;
                        wr = 3.36 / rep_down;
                        phase = Phase::Lower;
                        phase_t = 0.0;
                    }
                }
                Phase::Lower => {
                    if hike_after > 0.0 && qh < -0.7 * hike_after {
                        // The hike held a moment, then let down to level.
                        if phase_t > 0.5 {
                            hike_after = 0.0;
                            goal = 0.0;
                        }
                    } else if hike_after > 0.0 {
                        phase_t = phase_t.min(0.2);
                    }
                    let near = qh.abs().max(y[0].abs()) < (0.06 * rep_top).max(0.02)
                        && wh.abs().max(y[1].abs()) < 0.3;
                    if hike_after <= 0.0 && (near || phase_t > 3.0 * rep_down + 2.0) {
                        phase = Phase::Pause;
                        let mut pause = l.pause * u(&mut self.rng, 0.6, 1.5);
                        if l.festinate {
                            pause *= (1.0 - 0.05 * seq).max(0.3);
                        }
                        phase_left = pause;
                        last_rest = 0.0;
                        self.fatigue += l.fatigue_rate * (rep_top / l.top.max(0.01));
                        seq += 1.0;
                    }
                }
                Phase::Pause => {
                    phase_left -= DT;
                    last_rest += DT;
                    if last_rest > 2.0 {
                        // The sequence effect recovers after a pause.
                        seq = (seq - DT).max(0.0);
                    }
                    if phase_left <= 0.0 {
                        if count >= target || attempts >= 2 * target + 6 {
                            phase = Phase::Done;
                            done_left = u(&mut self.rng, 0.5, 2.0);
                        } else {
                            phase = Phase::Gate;
                            phase_left = gate_time(
                                &mut self.rng,
                                l.gate_drive * (1.0 - 0.5 * l.seq_decay * seq).max(0.5),
                                l.gate_noise,
                            );
                        }
                    }
                }
                Phase::Done => {
                    done_left -= DT;
                }
            }
            if phase == Phase::Done && done_left <= 0.0 {
                break;
            }
            // The reference: a critically damped command toward the goal.
            let rdd = wr * wr * (goal - lp.r) - 2.0 * wr * lp.rd;
            lp.rd += rdd * DT;
            lp.r += lp.rd * DT;
            if phase == Phase::Freeze {
                lp.rd *= 0.9;
            }
            // The controller: feedforward from the internal model, feedback on the estimate.
            let model = Plant {
                inertia: im,
                grav: plant.grav * l.model_load,
                load: plant.load * l.model_load,
                ..plant
            };
            let near = (-((goal - qh) / 0.05).powi(2)).exp() * (-(lp.rd.abs() / 0.15)).exp();
            let moving = matches!(
                phase,
                Phase::Raise | Phase::Lower | Phase::Hold | Phase::GateDown | Phase::Freeze
            );
            let wn = l.wn * (1.0 + if moving { l.precision * near } else { 0.0 });
            let ff = im * rdd - model.env(lp.r, lp.rd);
            let fb = im * (wn * wn * (lp.r - qh) + 2.0 * l.zeta * wn * (lp.rd - wh));
            // Between reps the limb rests on its support or hangs: the loop relaxes.
            let relax = if moving || hitch { 1.0 } else { 0.3 };
            let mut tau = ff + relax * fb;
            let n = gauss(&mut self.rng);
            lp.noise += (-lp.noise + n / (0.02f64).sqrt() * DT.sqrt() * 10.0) * DT / 0.02;
            tau += (l.motor_noise * tau.abs() + 0.3) * lp.noise * 0.3;
            let tmax = l.tau_max * (1.0 - 0.3 * fat.min(1.0));
            tau = if hitch {
                tau.clamp(-tmax, 0.3 * tmax)
            } else {
                // Abductors brake the lowering; the adductors hardly pull.
                tau.clamp(-0.05 * tmax, tmax)
            };
            // Spasticity: a delayed stretch reflex against fast lowering, a catch and a release.
            let mut reflex = 0.0;
            if l.spastic_k > 0.0 && !hitch {
                let dd = (0.04 / DT) as usize;
                let v = -if lp.hist.len() > dd {
                    lp.hist[lp.hist.len() - 1 - dd][1]
                } else {
                    lp.w
                };
                if lp.catch_left > 0.0 {
                    lp.catch_left -= DT;
                    // The lowering waits on the catch: the command starts again from where the limb is.
                    lp.r = lp.r.max(qh);
                    lp.rd = lp.rd.max(0.0);
                    // The catch brakes the lowering hard (it cannot throw the limb back up).
                    reflex = l.spastic_k * 4.0 * (-lp.w).max(0.0);
                    if lp.catch_left <= 0.0 {
                        lp.release_left = u(&mut self.rng, 0.2, 0.5);
                    }
                } else if lp.release_left > 0.0 {
                    lp.release_left -= DT;
                } else {
                    reflex = l.spastic_k * (v - l.spastic_v).max(0.0);
                    if v > 1.6 * l.spastic_v && self.rng.gen_bool((l.catch_p * DT * 20.0).min(1.0))
                    {
                        lp.catch_left = u(&mut self.rng, 0.1, 0.3);
                    }
                }
            }
            if phase != Phase::Freeze {
                tremble = 0.0;
            }
            // Choreic torque inside the set: small.
            next_chorea -= DT;
            let mut chorea = 0.0;
            if l.chorea > 0.0 && next_chorea <= 0.0 {
                self.add_chorea(true);
                next_chorea = u(&mut self.rng, 2.0, 8.0) / l.chorea;
            }
            if l.rest_tremor > 0.0 && matches!(phase, Phase::Pause | Phase::Settle | Phase::Gate) {
                chorea +=
                    l.rest_tremor * plant.inertia * 600.0 * (2.0 * PI * l.tremor_hz * rep_t).sin();
            }
            // Intention tremor: the mismatched forward model's corrections
            // beat against the delay near the target, more as the limb slows.
            let mismatch =
                ((l.model_inertia - 1.0).abs() + (l.model_delay / l.delay - 1.0).abs()) * mis;
            let at_top = matches!(phase, Phase::Raise | Phase::Hold | Phase::GateDown) && !hitch;
            if at_top && mismatch > 0.12 {
                let close = (-((goal - lp.q) / (0.3 * rep_top.max(0.05))).powi(2)).exp();
                let slow = (-(lp.w.abs() / 0.4)).exp();
                let amp = (mismatch - 0.12) * 4.0 * D2R * close * slow;
                let om = 2.0 * PI * l.tremor_hz;
                tremble += plant.inertia * om * om * amp * (om * phase_t).sin();
            }
            // The plant and the forward model.
            let acc = (tau + plant.env(lp.q, lp.w) + reflex + chorea + tremble) / plant.inertia;
            lp.w += acc * DT;
            lp.q += lp.w * DT;
            let accm = (tau + model.env(lp.qm, lp.wm)) / im;
            lp.wm += accm * DT;
            lp.qm += lp.wm * DT;
            // The forward model is re-anchored slowly on what the senses say.
            lp.qm += 2.0 * (y[0] - ym[0]) * DT;
            lp.hist.push_back([lp.q, lp.w]);
            lp.histm.push_back([lp.qm, lp.wm]);
            let keep = d.max(dm) + 30;
            while lp.hist.len() > keep {
                lp.hist.pop_front();
            }
            while lp.histm.len() > keep {
                lp.histm.pop_front();
            }
            // Synergies and the rest of the body.
            let q = lp.q;
            let qpos = q.max(0.0);
            if !hitch {
                let mut flex = l.synergy_flex * qpos + l.tfl * fat.min(1.5) * qpos;
                flex = flex.min(11.0 * D2R);
                if comp == Some(FlagKind::HipFlexionDrift) {
                    flex += u(&mut self.rng, 0.0, 0.0)
                        + (comp_size * 2.6) * D2R * (qpos / rep_top.max(0.05)).min(1.0);
                }
                self.tgt[FLEX] = base[FLEX] + flex;
                self.tgt[ROT] = base[ROT] + l.synergy_rot * qpos;
                let ls = if ex == Exercise::StandingCableAbduction {
                    1.0
                } else {
                    0.3
                };
                self.tgt[YAW] = ls * l.yaw_k * qpos;
                self.tgt[SHIFT] = ls * l.shift_k * qpos.sin();
            } else {
                self.tgt[YAW] = 0.5 * l.yaw_k * qpos;
                self.tgt[SHIFT] = 0.3 * l.shift_k * qpos;
            }
            let t_in = if matches!(
                phase,
                Phase::Raise | Phase::Hold | Phase::GateDown | Phase::Lower
            ) {
                rep_t
            } else {
                0.0
            };
            let sway_size = comp_size;
            let pel = self.pelvis_balance(
                q,
                if t_in > 0.0 { comp } else { None },
                t_in,
                sway_size,
                rep_top,
            );
            self.step(Some((sign * q, sign * lp.w)), Some(pel));
            // The lifter's (or the therapist's) count.
            if neutral_taken {
                let i = self.now() - 1;
                if counter.feed(i, self.recs[i].work - neutral[0]).is_some() {
                    count += 1;
                }
            }
        }
        self.tgt = base;
        // Hand the joint back to the kinematic body.
        let end = self.now();
        self.sets.push(SetRec {
            start: set_start,
            end,
            neutral,
            neutral_quat,
        });
        let _ = count;
    }
}

/// Measures the truth of one set on the recorded motion.
fn measure_set(
    recs: &[Rec],
    set: &SetRec,
    ex: Exercise,
    placement: Placement,
    seen: &[FlagKind],
) -> TruthSet {
    let min = rep_min_deg(ex);
    let mut counter = RepCounter::new(min);
    let mut raw = Vec::new();
    for (i, r) in recs.iter().enumerate().take(set.end).skip(set.start) {
        if let Some(rep) = counter.feed(i, r.work - set.neutral[0]) {
            raw.push(rep);
        }
    }
    let mut peaks: Vec<f64> = raw.iter().map(|r| r.2).collect();
    peaks.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = if peaks.is_empty() {
        0.0
    } else {
        peaks[peaks.len() / 2]
    };
    let hold = (0.15 / DT) as usize;
    let held =
        |sig: &dyn Fn(&Rec) -> f64, a: usize, b: usize, line: f64, above: bool| -> Option<f64> {
            let mut run = 0usize;
            let mut best = None::<f64>;
            for r in &recs[a..b] {
                let x = sig(r);
                let over = if above { x >= line } else { x <= line };
                if over {
                    run += 1;
                    if run >= hold {
                        let m = best.map_or(x.abs(), |v: f64| v.max(x.abs()));
                        best = Some(m);
                    }
                } else {
                    run = 0;
                }
            }
            best
        };
    let mut reps = Vec::new();
    for (k, &(a, b, peak_q)) in raw.iter().enumerate() {
        // Flags are looked for until the body is back (a hike after a hitch, a pelvis that lags).
        let next = raw.get(k + 1).map_or(set.end, |r| r.0);
        let mut e = b;
        let mut left = false;
        while e < next && e < b + (2.5 / DT) as usize {
            let x = recs[e].work - set.neutral[0];
            if x < -1.0 {
                left = true;
            } else if left {
                break;
            }
            e += 1;
        }
        let e = (e + (0.1 / DT) as usize).min(next).max(b);
        let peak_deg = match placement {
            Placement::Ankle => recs[a..=b]
                .iter()
                .map(|r| set.neutral_quat.angle_to(&r.quat) * R2D)
                .fold(0.0, f64::max),
            Placement::Pelvis => recs[a..=b]
                .iter()
                .map(|r| (r.obl - set.neutral[1]).abs())
                .fold(0.0, f64::max),
        };
        let mut flags = Vec::new();
        for &kind in seen {
            let v = match kind {
                FlagKind::HipHike => held(&|r: &Rec| r.obl - set.neutral[1], a, e, 5.0, true),
                FlagKind::PelvicDrop => {
                    let line = if ex == Exercise::HipHitch {
                        -15.0
                    } else {
                        -5.0
                    };
                    held(&|r: &Rec| r.obl - set.neutral[1], a, e, line, false)
                }
                FlagKind::TrunkSway => {
                    let hi = recs[a..e]
                        .iter()
                        .map(|r| r.lean - set.neutral[2])
                        .fold(f64::MIN, f64::max);
                    let lo = recs[a..e]
                        .iter()
                        .map(|r| r.lean - set.neutral[2])
                        .fold(f64::MAX, f64::min);
                    (hi > 5.0 && lo < -5.0).then_some(hi.max(-lo))
                }
                FlagKind::Momentum => {
                    let speed = recs[a..b]
                        .windows(2)
                        .map(|w| ((w[1].work - w[0].work) / DT).abs())
                        .fold(0.0, f64::max);
                    (speed >= 120.0 && speed >= 4.5 * peak_q).then_some(speed)
                }
                FlagKind::PartialRange => {
                    (raw.len() >= 3 && peak_q < 0.6 * median).then_some(peak_q)
                }
                FlagKind::HipFlexionDrift => {
                    let fl = recs[a..b]
                        .iter()
                        .map(|r| r.flex - set.neutral[3])
                        .fold(0.0, f64::max);
                    (fl >= 15.0).then_some(fl)
                }
            };
            if let Some(v) = v {
                flags.push(TruthFlag {
                    kind,
                    value_deg: round3(v),
                });
            }
        }
        reps.push(TruthRep {
            start_s: round3(a as f64 * DT),
            end_s: round3(b as f64 * DT),
            peak_deg: round3(peak_deg),
            flags,
        });
    }
    TruthSet {
        start_s: reps
            .first()
            .map_or(round3(set.start as f64 * DT), |r| r.start_s),
        end_s: reps.last().map_or(round3(set.end as f64 * DT), |r| r.end_s),
        rep_count: reps.len(),
        reps,
    }
}

/// The sensor: a low-power IMU with a FIFO, its own clock, a low-pass and the usual errors.
fn sense(recs: &[Rec], cfg: &SimConfig, rng: &mut ChaCha8Rng) -> Vec<Sample> {
    let n = recs.len();
    if n < 3 {
        return Vec::new();
    }
    // True angular rate (body frame, °/s) and specific force (sensor frame, m/s²) at 500 Hz.
    let mut gyr = vec![Vector3::zeros(); n];
    let mut acc = vec![Vector3::zeros(); n];
    for i in 0..n {
        let a = i.saturating_sub(1);
        let b = (i + 1).min(n - 1);
        let h = (b - a) as f64 * DT;
        let dq = recs[a].quat.inverse() * recs[b].quat;
        gyr[i] = dq.scaled_axis() / h * R2D;
        let (pa, pb) = (recs[a].pos, recs[b].pos);
        let p = recs[i].pos;
        let lin = if b - a == 2 {
            (pa - 2.0 * p + pb) / (DT * DT)
        } else {
            Vector3::zeros()
        };
        acc[i] = recs[i].quat.inverse() * (lin + Vector3::new(0.0, 0.0, G));
    }
    // The on-chip two-pole low-pass (its group delay comes with it).
    let odr = cfg.rate_hz * (1.0 + u(rng, -0.015, 0.015));
    let fc = (odr * u(rng, 0.2, 0.4)).min(120.0);
    let biquad = |x: &mut Vec<Vector3<f64>>| {
        let k = (PI * fc * DT).tan();
        let q = std::f64::consts::FRAC_1_SQRT_2;
        let norm = 1.0 / (1.0 + k / q + k * k);
        let b0 = k * k * norm;
        let (b1, b2) = (2.0 * b0, b0);
        let a1 = 2.0 * (k * k - 1.0) * norm;
        let a2 = (1.0 - k / q + k * k) * norm;
        let (mut x1, mut x2, mut y1, mut y2) = (x[0], x[0], x[0], x[0]);
        for v in x.iter_mut() {
            let x0 = *v;
            let y0 = b0 * x0 + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2;
            x2 = x1;
            x1 = x0;
            y2 = y1;
            y1 = y0;
            *v = y0;
        }
    };
    biquad(&mut gyr);
    biquad(&mut acc);
    let at = |x: &[Vector3<f64>], t: f64| {
        let f = (t / DT).clamp(0.0, (n - 1) as f64);
        let i = (f.floor() as usize).min(n - 2);
        let w = f - i as f64;
        x[i] * (1.0 - w) + x[i + 1] * w
    };
    // Errors.
    let nz = cfg.noise;
    let mut mat = |scale: f64, cross: f64| {
        let mut m = nalgebra::Matrix3::identity();
        for r in 0..3 {
            for c in 0..3 {
                m[(r, c)] = if r == c {
                    1.0 + u(rng, -scale, scale)
                } else {
                    u(rng, -cross, cross)
                };
            }
        }
        m
    };
    let m_g = mat(0.02, 0.01);
    let m_a = mat(0.012, 0.008);
    let bmax = cfg.gyro_bias_dps;
    let mut bias_g = Vector3::new(
        u(rng, -bmax, bmax),
        u(rng, -bmax, bmax),
        u(rng, -bmax, bmax),
    ) * 0.8;
    let bias_a =
        Vector3::new(u(rng, -1.0, 1.0), u(rng, -1.0, 1.0), u(rng, -1.0, 1.0)) * 0.06 * nz.min(1.0);
    let skew = u(rng, 0.0005, 0.003);
    let (fs_g, fs_a) = if rng.gen_bool(0.5) {
        (2000.0, 16.0 * G)
    } else {
        (1000.0, 8.0 * G)
    };
    let (lsb_g, lsb_a) = (fs_g / 32768.0, fs_a / 32768.0);
    let sd_g = 0.1 * nz * (cfg.rate_hz / 100.0).sqrt();
    let sd_a = 0.03 * nz * (cfg.rate_hz / 100.0).sqrt();
    let rw = 0.004 * bmax.max(0.0);
    // Sample times, the FIFO and the host's stamps.
    let duration = (n - 1) as f64 * DT;
    let count = (duration * odr) as usize;
    let wm = rng.gen_range(4..(cfg.rate_hz / 4.0).clamp(5.0, 32.0) as usize + 1);
    let nominal = 1.0 / cfg.rate_hz;
    let mut gaps: Vec<(f64, f64)> = Vec::new();
    let mut t = 0.0;
    if cfg.gaps_per_min > 0.0 {
        loop {
            t += -(1.0 - rng.gen::<f64>()).ln() * 60.0 / cfg.gaps_per_min;
            if t >= duration {
                break;
            }
            gaps.push((t, t + 0.2));
        }
    }
    // FIFO overflows: a run of samples lost now and then.
    let mut overflow: Vec<(f64, f64)> = Vec::new();
    let mut t = 0.0;
    loop {
        t += -(1.0 - rng.gen::<f64>()).ln() * u(rng, 120.0, 400.0);
        if t >= duration {
            break;
        }
        overflow.push((t, t + u(rng, 5.0, 30.0) / odr));
    }
    let mut out = Vec::with_capacity(count);
    let mut last_host = f64::NEG_INFINITY;
    let mut gap_ix = 0;
    let mut in_gap = false;
    let mut k = 0;
    while k < count {
        // A burst of `wm` samples read together; the host stamps them back from its arrival.
        let end = (k + wm).min(count);
        let t_last = (end - 1) as f64 / odr;
        let late = if rng.gen_bool(0.02) {
            u(rng, 0.05, 0.3)
        } else {
            0.0
        };
        let arrival = t_last + 0.003 * (-(1.0 - rng.gen::<f64>()).ln()) + late;
        for j in k..end {
            let tt = j as f64 / odr;
            while gap_ix < gaps.len() && gaps[gap_ix].1 < tt {
                gap_ix += 1;
            }
            let gap = gap_ix < gaps.len() && gaps[gap_ix].0 <= tt;
            // The gyro bias walks, and steps after a gap.
            let nn = Vector3::new(gauss(rng), gauss(rng), gauss(rng));
            bias_g += nn * rw / odr.sqrt();
            if gap {
                in_gap = true;
                continue;
            }
            if in_gap {
                in_gap = false;
                if bmax > 0.0 {
                    bias_g += Vector3::new(gauss(rng), gauss(rng), gauss(rng)) * 0.15 * bmax;
                }
            }
            for c in 0..3 {
                bias_g[c] = bias_g[c].clamp(-bmax, bmax);
            }
            if overflow.iter().any(|o| o.0 <= tt && tt < o.1) {
                continue;
            }
            if cfg.drop_rate > 0.0 && rng.gen_bool(cfg.drop_rate) {
                continue;
            }
            let mut g = m_g * at(&gyr, tt) + bias_g;
            let mut a = m_a * at(&acc, tt + skew) + bias_a;
            for c in 0..3 {
                g[c] += sd_g * gauss(rng);
                a[c] += sd_a * gauss(rng);
                g[c] = ((g[c] / lsb_g).round() * lsb_g).clamp(-fs_g, fs_g);
                a[c] = ((a[c] / lsb_a).round() * lsb_a).clamp(-fs_a, fs_a);
            }
            let host = arrival - (end - 1 - j) as f64 * nominal - 0.004;
            let host = host.max(last_host + 0.2 * nominal).max(tt - 0.05);
            last_host = host;
            out.push(Sample {
                t: host,
                acc: a,
                gyr: g,
            });
        }
        k = end;
    }
    out
}

/// The `neuro` body model's stream.
pub struct NeuroSimulator {
    samples: std::vec::IntoIter<Sample>,
}

impl NeuroSimulator {
    /// Simulates the session `cfg` asks for: the samples and the truth.
    pub fn new(cfg: &SimConfig) -> Result<(Self, Truth), String> {
        let (samples, truth, _) = simulate(cfg)?;
        Ok((
            NeuroSimulator {
                samples: samples.into_iter(),
            },
            truth,
        ))
    }
}

impl Iterator for NeuroSimulator {
    type Item = Sample;
    fn next(&mut self) -> Option<Sample> {
        self.samples.next()
    }
}

fn simulate(cfg: &SimConfig) -> Result<(Vec<Sample>, Truth, Debug), String> {
    cfg.validate()?;
    let mut w = World::new(cfg);
    let lead = cfg
        .lead_in_s
        .unwrap_or_else(|| u(&mut w.rng, 0.5, 3.0))
        .max(0.0);
    w.rest(lead);
    for k in 0..cfg.sets {
        let target = w.rng.gen_range(cfg.reps_min..=cfg.reps_max);
        w.run_set(target);
        let last = k + 1 == cfg.sets;
        let rest = if last {
            u(&mut w.rng, 2.0, 8.0)
        } else {
            u(&mut w.rng, cfg.rest_min_s, cfg.rest_max_s)
        };
        w.between_sets(rest, last);
        w.fatigue *= (-rest / 90.0).exp();
        if last && cfg.walking && w.rng.gen_bool(0.5) {
            // Walking off: the recording ends mid-stride.
            let t0 = w.now();
            let secs = u(&mut w.rng, 2.0, 6.0);
            w.walk(secs, false);
            let cut = w.now() - (u(&mut w.rng, 0.2, 1.0) / DT) as usize;
            w.recs.truncate(cut.max(t0 + 1));
            w.distractions.pop();
            let end = w.now();
            w.note("walk off", t0, end);
        } else {
            let v = u(&mut w.rng, 0.5, 2.0);
            w.idle(v);
        }
    }
    let mut all = cfg.clone();
    all.compensations = FlagKind::ALL.to_vec();
    let seen = all.visible_compensations();
    let sets: Vec<TruthSet> = w
        .sets
        .iter()
        .map(|s| measure_set(&w.recs, s, cfg.exercise, cfg.placement, &seen))
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 25);
    let samples = sense(&w.recs, cfg, &mut rng);
    let distractions = w
        .distractions
        .iter()
        .map(|(what, a, b)| format!("{what} {:.3}-{:.3} s", *a as f64 * DT, *b as f64 * DT))
        .collect();
    let truth = Truth {
        config: cfg.clone(),
        duration_s: round3((w.recs.len().max(1) - 1) as f64 * DT),
        distractions,
        sets,
    };
    Ok((samples, truth, w.dbg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::sim::PAIRS;
    use crate::Side;

    fn small(ex: Exercise, p: Placement, seed: u64) -> SimConfig {
        let mut c = SimConfig::new(ex, p, Side::Right);
        (c.sets, c.reps_min, c.reps_max) = (1, 3, 3);
        (c.rest_min_s, c.rest_max_s) = (12.0, 12.0);
        c.walking = false;
        c.fidgets = false;
        c.seed = seed;
        c.lead_in_s = Some(1.0);
        c.model = crate::source::sim::SimModel::Neuro;
        c
    }

    fn parse_span(d: &str) -> (f64, f64) {
        let span = d.rsplit(' ').nth(1).unwrap();
        let (a, b) = span.split_once('-').unwrap();
        (a.parse().unwrap(), b.parse().unwrap())
    }

    #[test]
    fn every_pair_and_rate_gives_finite_increasing_samples_and_a_truth() {
        for (e, p) in PAIRS {
            for rate in [25.0, 100.0, 400.0] {
                let mut c = small(e, p, 3);
                (c.reps_min, c.reps_max) = (2, 2);
                c.rate_hz = rate;
                let (samples, truth, _) = simulate(&c).unwrap();
                assert!(!samples.is_empty(), "{e} {p} {rate}");
                assert!(samples.iter().all(|s| s.is_finite()), "{e} {p} {rate}");
                assert!(
                    samples.windows(2).all(|w| w[1].t > w[0].t),
                    "{e} {p} {rate}"
                );
                let got = samples.len() as f64 / truth.duration_s;
                assert!((got - rate).abs() < 0.1 * rate, "{e} {p} {rate}: {got} Hz");
                assert_eq!(truth.sets.len(), 1);
                assert!(truth.sets[0].rep_count >= 1, "{e} {p} {rate}");
                assert!(truth.sets[0]
                    .reps
                    .iter()
                    .all(|r| r.end_s > r.start_s && r.peak_deg > 0.0));
            }
        }
    }

    #[test]
    fn one_g_at_rest() {
        for (e, p) in PAIRS {
            let mut c = small(e, p, 5);
            (c.noise, c.gyro_bias_dps, c.drop_rate, c.gaps_per_min) = (0.0, 0.0, 0.0, 0.0);
            c.lead_in_s = Some(3.0);
            let (samples, _, _) = simulate(&c).unwrap();
            let still: Vec<&Sample> = samples.iter().filter(|s| s.t > 0.3 && s.t < 2.5).collect();
            assert!(still.len() > 100);
            let g = still.iter().map(|s| s.acc.norm()).sum::<f64>() / still.len() as f64;
            assert!((g - G).abs() < 0.25, "{e} {p}: {g}");
            let w = still.iter().map(|s| s.gyr.norm()).fold(0.0, f64::max);
            assert!(w < 5.0, "{e} {p}: {w}");
        }
    }

    #[test]
    fn truth_sets_do_not_overlap_the_distractions() {
        let mut seen = 0;
        for (k, (e, p)) in PAIRS.into_iter().enumerate() {
            let mut c = small(e, p, 20 + k as u64);
            (c.sets, c.reps_min, c.reps_max) = (2, 2, 3);
            (c.walking, c.fidgets) = (true, true);
            (c.rest_min_s, c.rest_max_s) = (40.0, 60.0);
            let (_, truth, _) = simulate(&c).unwrap();
            for d in &truth.distractions {
                let (a, b) = parse_span(d);
                seen += 1;
                for s in &truth.sets {
                    assert!(b <= s.start_s || a >= s.end_s, "{e} {p}: {d} in {s:?}");
                }
            }
        }
        assert!(seen > 0);
    }

    #[test]
    fn an_abandoned_attempt_is_not_a_rep() {
        let mut c = RepCounter::new(10.0);
        let mut reps = 0;
        let mut i = 0;
        let mut feed = |to: f64, c: &mut RepCounter| {
            for k in 0..50 {
                i += 1;
                if c.feed(i, to * k as f64 / 49.0).is_some() {
                    reps += 1;
                }
            }
        };
        feed(0.0, &mut c);
        feed(7.0, &mut c);
        feed(0.0, &mut c);
        assert_eq!(reps, 0);
        // In whole sessions: no more reps than attempts that were not given up.
        let mut gave_up = 0;
        for seed in 0..6 {
            let mut c = small(Exercise::StandingCableAbduction, Placement::Ankle, seed);
            (c.reps_min, c.reps_max) = (4, 4);
            c.compensation_rate = 0.0;
            let (_, truth, dbg) = simulate(&c).unwrap();
            let kept = dbg.attempts.iter().filter(|a| !a.2).count();
            gave_up += dbg.attempts.len() - kept;
            assert!(truth.sets[0].rep_count <= kept, "seed {seed}");
        }
        let _ = gave_up;
    }

    #[test]
    fn a_raise_that_stops_short_and_rises_again_is_one_rep() {
        let run = |path: &[f64]| {
            let mut c = RepCounter::new(10.0);
            let mut reps = Vec::new();
            let mut i = 0;
            let mut at = 0.0;
            for &to in path {
                for k in 1..=50 {
                    i += 1;
                    let x = at + (to - at) * k as f64 / 50.0;
                    if let Some(r) = c.feed(i, x) {
                        reps.push(r);
                    }
                }
                at = to;
            }
            reps
        };
        let one = run(&[0.0, 40.0, 20.0, 40.0, 0.0, 0.0]);
        assert_eq!(one.len(), 1);
        assert!((one[0].2 - 40.0).abs() < 1e-9);
        // Back to neutral in between: two.
        assert_eq!(run(&[0.0, 40.0, 1.0, 40.0, 0.0]).len(), 2);
        // A hip hitch's smaller reps.
        let mut c = RepCounter::new(rep_min_deg(Exercise::HipHitch));
        let mut n = 0;
        for (k, x) in [0.0, 4.0, 8.0, 4.0, 6.0, 8.0, 3.0, 0.5, 0.0]
            .iter()
            .enumerate()
        {
            n += c.feed(k, *x).is_some() as usize;
        }
        assert_eq!(n, 1);
    }

    #[test]
    fn compensations_appear_when_asked_and_never_at_rate_zero() {
        for (e, p) in PAIRS {
            let mut kinds = Vec::new();
            for seed in 0..3 {
                let mut c = small(e, p, 40 + seed);
                (c.reps_min, c.reps_max) = (6, 6);
                c.compensation_rate = 1.0;
                let (_, truth, _) = simulate(&c).unwrap();
                for r in &truth.sets[0].reps {
                    kinds.extend(r.flags.iter().map(|f| f.kind));
                }
                c.compensation_rate = 0.0;
                let (_, truth, _) = simulate(&c).unwrap();
                assert!(
                    truth.sets[0].reps.iter().all(|r| r.flags.is_empty()),
                    "{e} {p} seed {seed}: {:?}",
                    truth.sets[0].reps
                );
            }
            kinds.sort_by_key(|k| *k as u8);
            kinds.dedup();
            eprintln!("{e} {p}: {kinds:?}");
            assert!(!kinds.is_empty(), "{e} {p}");
        }
    }
}
