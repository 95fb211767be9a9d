//! A third, held-out body model: the motion is driven by torques, not curves.
//!
//! The other simulators shape the leg's angle with curves. Here nothing moves
//! unless a torque moves it. The working leg is a rigid segment about its hip
//! with a mass and an inertia; a muscle torque, lagged by activation and
//! shaken by signal-dependent noise, comes from a controller that tracks the
//! lifter's intended angle (minimum-jerk, with its own gains, so it lags and
//! overshoots); gravity, the cable and its weight stack (a stretchy cable, a
//! stack that lifts off and clanks down) or an ankle weight or a machine's
//! cam load it. The pelvis and trunk are a second body tilting about the
//! stance hip: they take the reaction of the working hip's torque and the
//! leg's weight, held by a lagged stance-hip controller. The whole body is an
//! inverted pendulum over the stance foot balanced by a noisy ankle
//! controller whose centre of pressure is limited to the foot, so the lifter
//! leans over the stance foot as the leg goes out (less so when holding on
//! firmly), and that lean rolls the pelvis the other way from the reaction.
//! Everything is integrated with semi-implicit Euler at a step of at most
//! 1 ms; specific force and angular rate come from the sensor's simulated
//! pose by differences, through the sensor's anti-alias filter, and then get
//! this model's own sensor errors (scale, misalignment, bias with warm-up
//! drift and random walk, white noise, 16-bit quantisation, drops, gaps).
//!
//! Labels are clear cases only: after each rep the outcome is measured on
//! the simulated body, and a rep whose compensation is not clearly over its
//! line (or a clean rep not clearly under) is done again by the same lifter
//! with more (or less) of it, from the same state.
//!
//! Nothing in the rep counter may be tuned on this model.

use super::gauss;
use super::sim::{SimConfig, Truth, TruthFlag, TruthRep, TruthSet};
use crate::motion::FlagKind;
use crate::sample::STANDARD_GRAVITY as G;
use crate::{Exercise, Placement, Sample};
use nalgebra::{Matrix3, Rotation3, UnitQuaternion, Vector3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::f64::consts::PI;

type V3 = Vector3<f64>;
type M3 = Matrix3<f64>;

const DEG: f64 = PI / 180.0;

fn rx(a: f64) -> M3 {
    let (s, c) = a.sin_cos();
    M3::new(1.0, 0.0, 0.0, 0.0, c, -s, 0.0, s, c)
}
fn ry(a: f64) -> M3 {
    let (s, c) = a.sin_cos();
    M3::new(c, 0.0, s, 0.0, 1.0, 0.0, -s, 0.0, c)
}
fn rz(a: f64) -> M3 {
    let (s, c) = a.sin_cos();
    M3::new(c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0)
}

/// Minimum-jerk position and slope on 0..1.
fn min_jerk(x: f64) -> (f64, f64) {
    let x = x.clamp(0.0, 1.0);
    let s = x * x * x * (10.0 - 15.0 * x + 6.0 * x * x);
    let d = 30.0 * x * x * (1.0 - x) * (1.0 - x);
    (s, d)
}

fn uni(rng: &mut ChaCha8Rng, a: f64, b: f64) -> f64 {
    a + (b - a) * rng.gen::<f64>()
}

/// How the lifter is placed.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Posture {
    /// Standing on the floor on the stance leg (cable abduction).
    Standing,
    /// Standing on one leg on a step (hip hitch).
    Step,
    /// Lying on the stance side (side-lying abduction).
    Lying,
    /// Seated in the machine, hips and knees at 90° (seated abduction).
    Seated,
}

/// What resists the working leg.
#[derive(Debug, Clone, Copy)]
enum Load {
    /// Nothing but gravity.
    Free,
    /// A low pulley: cable from `pulley` to the ankle strap, a stack of `mass` kg.
    Cable { pulley: V3, mass: f64 },
    /// An ankle weight of `mass` kg.
    Weight { mass: f64 },
    /// A machine: cam radius `r`, stack share `mass` kg, arm inertia `arm_i`.
    Machine { r: f64, mass: f64, arm_i: f64 },
}

/// One lifter, drawn per session.
#[derive(Debug, Clone)]
struct Lifter {
    mass: f64,
    leg_len: f64,
    hip_h: f64,
    half_w: f64,
    m_leg: f64,
    c_leg: f64,
    i_leg: f64,
    m_hat: f64,
    hat_h: f64,
    i_pel: f64,
    i_body: f64,
    /// Strongest abduction torque, N·m.
    strength: f64,
    /// Leg controller: natural frequency (rad/s), damping ratio, activation lag (s).
    omega: f64,
    zeta: f64,
    t_act: f64,
    /// Share of the load the lifter's feed-forward knows about.
    ff_share: f64,
    /// Signal-dependent noise on the muscle torque (fraction, 1σ).
    effort_noise: f64,
    /// Leans the body's centre of mass back over the stance foot (0: never, 1: fully).
    lean_gain: f64,
    t_lean: f64,
    /// Stiffness of the hand holding on, N·m/rad (0: not holding).
    grip: f64,
    /// Stance-hip controller stiffness (N·m/rad), damping ratio, and the share of
    /// the working hip's reaction it anticipates.
    stance_k: f64,
    stance_zeta: f64,
    stance_ff: f64,
    /// Side-of-trunk (quadratus lumborum) torque per working-hip torque: the small hike of clean reps.
    ql: f64,
    /// Turn about the vertical per working-hip torque, rad per N·m.
    twist: f64,
    /// Postural sway torque, N·m (1σ) and its correlation time.
    sway: f64,
    sway_tau: f64,
    /// Largest centre-of-pressure shift under the stance foot, m.
    cop: f64,
    /// Fatigue over a set: late reps up to this share smaller, twice it slower.
    fatigue: f64,
    /// Working range (°), tempo up/down (s), hold at the top and pause at the bottom (s).
    range: f64,
    t_up: f64,
    t_down: f64,
    hold: f64,
    pause: f64,
    /// Habitual flexion of the working hip during a rep, rad.
    flex: f64,
    /// Share of a quick whole-body lean the stance hip levels out.
    level: f64,
}

impl Lifter {
    fn draw(rng: &mut ChaCha8Rng, ex: Exercise, pl: Placement) -> Lifter {
        let mass = uni(rng, 52.0, 105.0);
        let leg_len = uni(rng, 0.80, 1.0);
        let m_leg = 0.16 * mass;
        let c_leg = 0.43 * leg_len;
        let i_leg = m_leg * (0.56 * leg_len).powi(2);
        let m_hat = mass - 2.0 * m_leg;
        let hat_h = uni(rng, 0.25, 0.33);
        let half_w = uni(rng, 0.075, 0.10);
        let i_pel = m_hat * (hat_h * hat_h + half_w * half_w) + 1.5;
        let hip_h = leg_len * 1.02;
        let i_body = mass * (0.62 * hip_h + 0.3).powi(2);
        let strength = mass * uni(rng, 1.3, 2.3);
        // Tempo: 1.5-6 s a rep, concentric a third to a half of it.
        let tempo = uni(rng, 1.5, 6.0);
        let up_share = uni(rng, 0.3, 0.5);
        let hold = if rng.gen_bool(0.45) {
            uni(rng, 0.0, 0.3)
        } else {
            uni(rng, 0.3, 4.0)
        };
        let omega = uni(rng, 7.0, 12.0);
        let t_act = uni(rng, 0.025, 0.06);
        let range = match (ex, pl) {
            (Exercise::HipHitch, _) => uni(rng, 6.5, 11.0),
            (_, Placement::Pelvis) => uni(rng, 25.0, 45.0),
            (Exercise::SeatedMachineAbduction, _) => uni(rng, 22.0, 44.0),
            _ => uni(rng, 23.0, 46.0),
        };
        Lifter {
            mass,
            leg_len,
            hip_h,
            half_w,
            m_leg,
            c_leg,
            i_leg,
            m_hat,
            hat_h,
            i_pel,
            i_body,
            strength,
            omega,
            // A lagged PD loop is stable while 2ζ > τω: keep a margin
            // (momentum reps stiffen the loop by up to 1.6).
            zeta: uni(rng, 0.35, 0.95).max(0.8 * t_act * omega * 1.3 + 0.1),
            t_act,
            ff_share: uni(rng, 0.6, 1.0),
            effort_noise: uni(rng, 0.02, 0.07),
            lean_gain: if rng.gen_bool(0.2) {
                uni(rng, 0.0, 0.2)
            } else {
                uni(rng, 0.3, 1.1)
            },
            t_lean: uni(rng, 0.25, 0.9),
            grip: if rng.gen_bool(0.35) {
                uni(rng, 0.0, 100.0)
            } else {
                uni(rng, 200.0, 2500.0)
            },
            stance_k: uni(rng, 500.0, 1400.0),
            stance_zeta: uni(rng, 0.6, 1.0),
            stance_ff: uni(rng, 0.3, 0.95),
            ql: uni(rng, -0.05, 0.3),
            twist: uni(rng, -0.0005, 0.0005),
            sway: uni(rng, 2.0, 6.0),
            sway_tau: uni(rng, 0.3, 1.2),
            cop: uni(rng, 0.025, 0.045),
            fatigue: uni(rng, 0.0, 0.12),
            range,
            t_up: tempo * up_share,
            t_down: tempo * (1.0 - up_share),
            hold,
            pause: uni(rng, 0.0, 1.0),
            flex: uni(rng, -3.0, 4.0) * DEG,
            level: uni(rng, 0.0, 0.7),
        }
    }
}

/// Generalised coordinates (canonical: the free side is +x).
#[derive(Debug, Clone, Copy, Default)]
struct Q {
    /// Whole-body lean over the stance foot, top toward the stance side (standing);
    /// roll about the long axis (lying); trunk lean on the seat (seated).
    lam: f64,
    /// Pelvis tilt about the stance hip, free side up, relative to the body.
    ob: f64,
    /// Working hip abduction relative to the pelvis.
    a: f64,
    /// Working hip flexion (forward).
    b: f64,
    /// Body turn about the vertical.
    yaw: f64,
    /// Body pitch.
    pitch: f64,
    /// Leg rotation about its long axis.
    rot: f64,
    /// Knee extension from 90° (seated only).
    knee: f64,
}

/// One degree of freedom's velocity and last acceleration.
#[derive(Debug, Clone, Copy, Default)]
struct Rate {
    lam: f64,
    ob: f64,
    a: f64,
    b: f64,
    yaw: f64,
    pitch: f64,
}

/// Points and frames of the body for one set of coordinates (canonical).
struct Chain {
    r_pel: M3,
    stance_hip: V3,
    stance_com: V3,
    hat_com: V3,
    leg_com: V3,
    ankle: V3,
    r_shank: M3,
    shank_origin: V3,
}

/// What the lifter means to do this instant.
#[derive(Debug, Clone, Copy)]
struct Drive {
    a_ref: f64,
    a_ref_d: f64,
    b_ref: f64,
    ob_ref: f64,
    lam_off: f64,
    yaw_off: f64,
    /// Feed-forward and stiffness multipliers of the working leg.
    ff_scale: f64,
    kp_scale: f64,
    /// Stance-hip stiffness multiplier and extra side-of-trunk (hike) share.
    stance_scale: f64,
    ql_extra: f64,
    grip_scale: f64,
    knee: f64,
    /// 0..1: how carefully the lifter keeps the pelvis still on a clean rep
    /// (anticipates the reaction, no side-of-trunk help).
    tidy: f64,
}

impl Drive {
    fn rest(neutral_a: f64) -> Drive {
        Drive {
            a_ref: neutral_a,
            a_ref_d: 0.0,
            b_ref: 0.0,
            ob_ref: 0.0,
            lam_off: 0.0,
            yaw_off: 0.0,
            ff_scale: 1.0,
            kp_scale: 1.0,
            stance_scale: 1.0,
            ql_extra: 0.0,
            grip_scale: 1.0,
            knee: 0.0,
            tidy: 0.0,
        }
    }
}

/// Kinematic additions for movements that are not torque-driven here
/// (walking, turning, shifting on the bench, handling the sensor).
#[derive(Debug, Clone, Copy, Default)]
struct Overlay {
    /// World translation of the body, m, and heading change, rad.
    shift: V3,
    heading: f64,
    /// Added coordinates.
    lam: f64,
    ob: f64,
    b: f64,
    yaw: f64,
    /// The sensor in the hand: blend 0..1 toward `hand`, and the hand's pose.
    hand_blend: f64,
    hand_rot: Option<UnitQuaternion<f64>>,
    hand_pos: V3,
}

/// A true reading (before the sensor's own errors) and what the body did.
#[derive(Debug, Clone, Copy)]
struct TrueSample {
    t: f64,
    acc: V3,
    gyr: V3,
}

/// The body's state at an output instant, for the ground truth.
#[derive(Debug, Clone, Copy)]
struct TraceRow {
    t: f64,
    /// Working hip abduction, rad.
    a: f64,
    /// Hip flexion, rad.
    b: f64,
    /// Absolute pelvic obliquity, free side up, rad.
    obliquity: f64,
    /// Sensor orientation in the world.
    q: UnitQuaternion<f64>,
}

/// A 2nd-order Butterworth low-pass (the sensor's digital filter).
#[derive(Debug, Clone, Copy)]
struct Biquad {
    b0: f64,
    b1: f64,
    b2: f64,
    a1: f64,
    a2: f64,
    z: [[f64; 2]; 6],
    primed: bool,
}

impl Biquad {
    fn new(fc: f64, fs: f64) -> Biquad {
        let k = (PI * fc / fs).tan();
        let q = std::f64::consts::FRAC_1_SQRT_2;
        let norm = 1.0 / (1.0 + k / q + k * k);
        let b0 = k * k * norm;
        Biquad {
            b0,
            b1: 2.0 * b0,
            b2: b0,
            a1: 2.0 * (k * k - 1.0) * norm,
            a2: (1.0 - k / q + k * k) * norm,
            z: [[0.0; 2]; 6],
            primed: false,
        }
    }
    fn run(&mut self, x: [f64; 6]) -> [f64; 6] {
        if !self.primed {
            // Start settled on the first value (no power-on transient).
            for (i, &xi) in x.iter().enumerate() {
                self.z[i][0] = xi * (1.0 - self.b0);
                self.z[i][1] = xi * (self.b2 - self.a2);
            }
            self.primed = true;
        }
        let mut y = [0.0; 6];
        for i in 0..6 {
            // Transposed direct form II.
            let yi = self.b0 * x[i] + self.z[i][0];
            self.z[i][0] = self.b1 * x[i] - self.a1 * yi + self.z[i][1];
            self.z[i][1] = self.b2 * x[i] - self.a2 * yi;
            y[i] = yi;
        }
        y
    }
}

/// The simulated world: body, lifter, load, sensor pose pipeline. Cheap to
/// clone, so a rep can be done again from the same state.
#[derive(Debug, Clone)]
struct World {
    rng: ChaCha8Rng,
    posture: Posture,
    /// +1 when the free side is the right.
    f: f64,
    man: Lifter,
    load: Load,
    q: Q,
    v: Rate,
    acc: Rate,
    // Activations (N·m).
    tau_m: f64,
    tau_b: f64,
    tau_st: f64,
    tau_ank: f64,
    // Noise states.
    effort_ou: f64,
    sway_ou: f64,
    yaw_ou: f64,
    lie_ou: f64,
    rot_ou: f64,
    rot_v: f64,
    lam_ref: f64,
    lam_hold: f64,
    /// Slow averages of the lean and of where the centre of mass wants it.
    lam_slow: f64,
    centre_slow: f64,
    // The stack (height, speed) and the rest length of the cable.
    stack_h: f64,
    stack_v: f64,
    cable_l0: f64,
    /// Neutral hip angle (the leg at rest).
    a_rest: f64,
    // World placement.
    base: V3,
    heading: f64,
    /// Sensor mounting on its segment (true, not canonical, frame) and the point.
    mount: M3,
    mount_point: V3,
    // Strap wobble (world, m).
    wob: V3,
    wob_v: V3,
    wob_w: f64,
    // Pose pipeline.
    step: u64,
    dt: f64,
    n_sub: u64,
    poses: [(V3, UnitQuaternion<f64>); 3],
    rows: [Option<TraceRow>; 3],
    filter: Biquad,
    overlay: Overlay,
}

/// Where the simulated session is written as it happens.
#[derive(Debug, Default)]
struct Record {
    out: Vec<TrueSample>,
    trace: Vec<TraceRow>,
}

impl World {
    fn t(&self) -> f64 {
        self.step as f64 * self.dt
    }

    /// The body's points and frames for coordinates `q` (canonical frame).
    fn chain(&self, q: &Q) -> Chain {
        let m = &self.man;
        let (r_body, stance_hip, stance_com) = match self.posture {
            Posture::Standing | Posture::Step => {
                let r = rz(q.yaw) * rx(q.pitch) * ry(-q.lam);
                (
                    r,
                    r * V3::new(0.0, 0.0, m.hip_h),
                    r * V3::new(0.0, 0.0, 0.55 * m.hip_h),
                )
            }
            Posture::Lying => {
                let r = rz(q.lam) * rx(q.pitch);
                (r, V3::zeros(), r * V3::new(0.0, 0.0, -0.45 * m.leg_len))
            }
            Posture::Seated => {
                let r = rz(q.yaw) * ry(-q.lam);
                (r, V3::zeros(), r * V3::new(0.0, 0.2, 0.0))
            }
        };
        let r_pel = r_body * ry(-q.ob);
        let hat_com = stance_hip + r_pel * V3::new(m.half_w, 0.0, m.hat_h);
        let free_hip = stance_hip + r_pel * V3::new(2.0 * m.half_w, 0.0, 0.0);
        match self.posture {
            Posture::Seated => {
                let thigh = 0.48 * m.leg_len;
                let r_leg = r_pel * rz(-q.a) * rx(q.b);
                let knee = free_hip + r_leg * V3::new(0.0, thigh, 0.0);
                let r_shank = r_leg * rx(q.knee) * rz(q.rot);
                Chain {
                    r_pel,
                    stance_hip,
                    stance_com,
                    hat_com,
                    leg_com: free_hip + r_leg * V3::new(0.0, 0.6 * thigh, 0.0),
                    ankle: knee + r_shank * V3::new(0.0, 0.0, -0.45 * m.leg_len),
                    r_shank,
                    shank_origin: knee,
                }
            }
            _ => {
                let r_leg = r_pel * ry(-q.a) * rx(q.b) * rz(q.rot);
                Chain {
                    r_pel,
                    stance_hip,
                    stance_com,
                    hat_com,
                    leg_com: free_hip + r_leg * V3::new(0.0, 0.0, -m.c_leg),
                    ankle: free_hip + r_leg * V3::new(0.0, 0.0, -0.93 * m.leg_len),
                    r_shank: r_leg,
                    shank_origin: free_hip,
                }
            }
        }
    }

    /// Height in the canonical frame (lying: the free side is up).
    fn up(&self, p: &V3) -> f64 {
        if self.posture == Posture::Lying {
            p.x
        } else {
            p.z
        }
    }

    /// Potential of the leg (with its load's weight), of the rest of the
    /// body, and the cable's length, for coordinates `q`.
    fn energies(&self, q: &Q) -> (f64, f64, f64) {
        let c = self.chain(q);
        let m = &self.man;
        let mut v_leg = m.m_leg * G * self.up(&c.leg_com);
        // Lying, the floor carries the trunk and the lower leg.
        let v_body = if self.posture == Posture::Lying {
            0.0
        } else {
            G * (m.m_hat * self.up(&c.hat_com) + m.m_leg * self.up(&c.stance_com))
        };
        let cable = match self.load {
            Load::Cable { pulley, .. } => (c.ankle - pulley).norm(),
            Load::Machine { r, .. } => r * q.a,
            Load::Weight { mass } => {
                v_leg += mass * G * self.up(&c.ankle);
                0.0
            }
            Load::Free => 0.0,
        };
        (v_leg, v_body, cable)
    }

    /// Derivatives of (leg potential, body potential, cable length) along
    /// lam, ob, a, b.
    fn gradients(&self, q: &Q) -> [[f64; 3]; 4] {
        let e = 1e-5;
        let mut out = [[0.0; 3]; 4];
        for (k, row) in out.iter_mut().enumerate() {
            let mut qp = *q;
            let mut qm = *q;
            match k {
                0 => {
                    qp.lam += e;
                    qm.lam -= e;
                }
                1 => {
                    qp.ob += e;
                    qm.ob -= e;
                }
                2 => {
                    qp.a += e;
                    qm.a -= e;
                }
                _ => {
                    qp.b += e;
                    qm.b -= e;
                }
            }
            let p = self.energies(&qp);
            let m = self.energies(&qm);
            *row = [
                (p.0 - m.0) / (2.0 * e),
                (p.1 - m.1) / (2.0 * e),
                (p.2 - m.2) / (2.0 * e),
            ];
        }
        out
    }

    fn stack_mass(&self) -> f64 {
        match self.load {
            Load::Cable { mass, .. } | Load::Machine { mass, .. } => mass,
            _ => 0.0,
        }
    }

    /// One integration step of the body under the lifter's `d`.
    fn dynamics(&mut self, d: &Drive) {
        let dt = self.dt;
        let sq = dt.sqrt();
        let grad = self.gradients(&self.q);
        let m = self.man.clone();
        let standing = matches!(self.posture, Posture::Standing | Posture::Step);
        let coupled = self.posture != Posture::Seated;

        // Cable and stack: a stretchy cable that only pulls; the stack rests on its stops.
        let mut tension = 0.0;
        let ms = self.stack_mass();
        if ms > 0.0 {
            let len = self.energies(&self.q).2;
            let len_v = grad[0][2] * self.v.lam
                + grad[1][2] * self.v.ob
                + grad[2][2] * self.v.a
                + grad[3][2] * self.v.b;
            let stretch = len - self.cable_l0 - self.stack_h;
            if stretch > 0.0 {
                tension = (3.0e4 * stretch + 300.0 * (len_v - self.stack_v)).max(0.0);
            }
            let friction = 6.0 * (self.stack_v / 0.02).tanh();
            let mut acc = (tension - ms * G - friction) / ms;
            if self.stack_h <= 0.0 && acc < 0.0 {
                acc = 0.0;
                self.stack_v = self.stack_v.max(0.0);
            }
            self.stack_v += acc * dt;
            self.stack_h += self.stack_v * dt;
            if self.stack_h < 0.0 {
                // The clank: the stack lands on its stops.
                self.stack_h = 0.0;
                self.stack_v = 0.0;
            }
        }

        // Working leg: abduction.
        let load_i = match self.load {
            Load::Weight { mass } => mass * (0.93 * m.leg_len).powi(2),
            Load::Machine { arm_i, .. } => arm_i,
            _ => 0.0,
        };
        let i_a = if self.posture == Posture::Seated {
            m.m_leg * (0.3 * m.leg_len).powi(2) + 0.6 + load_i
        } else {
            m.i_leg + load_i
        };
        // The lifter's idea of the load at the aimed-for angle.
        let mut qr = self.q;
        qr.a = d.a_ref;
        let gr_a = {
            let e = 1e-5;
            let (mut qp, mut qm) = (qr, qr);
            qp.a += e;
            qm.a -= e;
            let (p, m) = (self.energies(&qp), self.energies(&qm));
            [
                (p.0 - m.0) / (2.0 * e),
                (p.1 - m.1) / (2.0 * e),
                (p.2 - m.2) / (2.0 * e),
            ]
        };
        let len_ref = self.energies(&qr).2;
        let stack_at_ref = if ms > 0.0 && len_ref > self.cable_l0 {
            ms * G
        } else {
            0.0
        };
        let ff = m.ff_share * d.ff_scale * (gr_a[0] + stack_at_ref * gr_a[2]);
        let kp = i_a * m.omega * m.omega * d.kp_scale;
        let kd = 2.0 * m.zeta * i_a * m.omega * d.kp_scale.sqrt();
        let u = (ff + kp * (d.a_ref - self.q.a) + kd * (d.a_ref_d - self.v.a))
            .clamp(-0.6 * m.strength, m.strength);
        self.tau_m += (u - self.tau_m) * dt / m.t_act;
        self.effort_ou +=
            -self.effort_ou * dt / 0.05 + (2.0 / 0.05f64).sqrt() * sq * gauss(&mut self.rng);
        let tau_m = self.tau_m * (1.0 + m.effort_noise * self.effort_ou);
        // Passive: the other leg (or the seat's pads) below, soft tissue at the top.
        let a_min = match self.posture {
            Posture::Seated => -2.0 * DEG,
            _ => -(2.0 * m.half_w / m.leg_len).asin() * 0.9,
        };
        let mut passive = -1.5 * self.v.a;
        if self.q.a < a_min {
            passive += 2500.0 * (a_min - self.q.a) - 40.0 * self.v.a.min(0.0);
        }
        if self.q.a > 50.0 * DEG {
            passive -= 400.0 * (self.q.a - 50.0 * DEG);
        }
        let tau_joint = tau_m + passive;
        let q_a = -grad[2][0] - tension * grad[2][2];
        let mut acc_a = (tau_joint + q_a) / i_a;
        if coupled {
            acc_a -= self.acc.ob + if standing { self.acc.lam } else { 0.0 };
        }

        // Working leg: flexion (hip flexors/extensors hold the plane).
        let i_b = if self.posture == Posture::Seated {
            1.2
        } else {
            m.i_leg
        };
        let kb = i_b * 64.0;
        let ub = grad[3][0] + tension * grad[3][2] + kb * (d.b_ref - self.q.b)
            - 2.0 * 0.8 * i_b * 8.0 * self.v.b;
        self.tau_b += (ub - self.tau_b) * dt / 0.06;
        let mut tau_bj = self.tau_b - 1.0 * self.v.b;
        if self.posture == Posture::Seated && self.q.b < 0.0 {
            tau_bj += 3000.0 * -self.q.b - 60.0 * self.v.b;
        }
        let acc_b = (tau_bj - grad[3][0] - tension * grad[3][2]) / i_b - self.acc.pitch;

        // Pelvis about the stance hip: the working hip's reaction and the leg's weight.
        let leg_on_pelvis = if coupled {
            -tau_joint + (-grad[1][0] + grad[2][0]) - tension * (grad[1][2] - grad[2][2])
        } else {
            0.0
        };
        let static_load = -grad[1][1] + (-grad[1][0] + grad[2][0]);
        let (k_st, d_st) = if self.posture == Posture::Seated {
            (0.0, 0.0)
        } else {
            let k = m.stance_k * d.stance_scale;
            (k, 2.0 * m.stance_zeta * (k * m.i_pel).sqrt())
        };
        let cf = if coupled { 1.0 } else { 0.0 };
        let u_st = -static_load
            + cf * (m.stance_ff + (1.0 - m.stance_ff) * d.tidy) * d.stance_scale.min(1.0) * tau_m
            + cf * (m.ql * (1.0 - d.tidy) + d.ql_extra) * tau_m.max(0.0)
            + k_st * (d.ob_ref - self.level_error())
            - d_st * self.v.ob;
        self.tau_st += (u_st - self.tau_st) * dt / 0.03;
        if self.posture == Posture::Seated {
            // Sitting on the pelvis: the seat holds it, no lag.
            self.tau_st = -static_load - 4000.0 * self.q.ob - 150.0 * self.v.ob;
        }
        let carried = if standing { self.acc.lam } else { 0.0 };
        let acc_ob = (self.tau_st - grad[1][1] + leg_on_pelvis) / m.i_pel - carried;

        // The whole body.
        self.sway_ou +=
            -self.sway_ou * dt / m.sway_tau + (2.0 / m.sway_tau).sqrt() * sq * gauss(&mut self.rng);
        let acc_lam = if standing {
            let q_lam = -(grad[0][0] + grad[0][1]) - tension * grad[0][2];
            let h = 0.62 * m.hip_h + 0.15;
            let centre = self.q.lam - q_lam / (m.mass * G * h);
            // The stance is always centred over the foot; how far the lifter
            // follows the quick shifts of a rep is their own.
            self.centre_slow += (centre - self.centre_slow) * dt / 3.0;
            self.lam_slow += (self.q.lam - self.lam_slow) * dt / 3.0;
            let target = self.centre_slow + m.lean_gain * (centre - self.centre_slow);
            self.lam_ref += (target + d.lam_off - self.lam_ref) * dt / m.t_lean;
            let kb = 0.8 * m.mass * G * h;
            let db = 2.0 * 0.9 * (kb * m.i_body).sqrt();
            let cop = m.mass * G * m.cop;
            let u_ank = (-q_lam + kb * (self.lam_ref - self.q.lam) - db * self.v.lam
                + m.sway * self.sway_ou)
                .clamp(-cop, cop);
            self.tau_ank += (u_ank - self.tau_ank) * dt / 0.1;
            self.lam_hold += (self.q.lam - self.lam_hold) * dt / 4.0;
            let grip_k = m.grip * d.grip_scale;
            let grip = grip_k * (self.lam_hold - self.q.lam)
                - 2.0 * 0.7 * (grip_k * m.i_body).sqrt() * self.v.lam;
            (self.tau_ank + grip + q_lam - m.i_pel * acc_ob - m.i_leg * acc_a) / m.i_body
        } else {
            // Lying or seated: a stiff, noisy support.
            self.lie_ou +=
                -self.lie_ou * dt / 0.6 + (2.0 / 0.6f64).sqrt() * sq * gauss(&mut self.rng);
            let (k, i) = (600.0, 6.0);
            (k * (d.lam_off - self.q.lam) - 2.0 * 0.9 * (k * i).sqrt() * self.v.lam
                + 0.4 * m.sway * self.lie_ou)
                / i
        };

        // Turning about the vertical and pitching.
        self.yaw_ou += -self.yaw_ou * dt / 0.8 + (2.0 / 0.8f64).sqrt() * sq * gauss(&mut self.rng);
        let (ky, iy) = (if standing { 120.0 } else { 400.0 }, 2.5);
        let acc_yaw = (ky * (d.yaw_off + m.twist * tau_m - self.q.yaw)
            - 2.0 * 0.8 * (ky * iy).sqrt() * self.v.yaw
            + 0.6 * m.sway * 0.25 * self.yaw_ou)
            / iy;
        let (kp_, ip) = (if standing { 900.0 } else { 2000.0 }, 60.0);
        let acc_pitch = (-kp_ * self.q.pitch - 2.0 * 0.9 * (kp_ * ip).sqrt() * self.v.pitch
            + 0.3 * m.sway * self.sway_ou.abs().sqrt() * self.yaw_ou.signum()
            - 0.3 * self.tau_b)
            / ip;
        self.rot_ou += -self.rot_ou * dt / 0.7 + (2.0 / 0.7f64).sqrt() * sq * gauss(&mut self.rng);

        // Semi-implicit Euler.
        self.acc = Rate {
            lam: acc_lam,
            ob: acc_ob,
            a: acc_a,
            b: acc_b,
            yaw: acc_yaw,
            pitch: acc_pitch,
        };
        self.v.lam += acc_lam * dt;
        self.v.ob += acc_ob * dt;
        self.v.a += acc_a * dt;
        self.v.b += acc_b * dt;
        self.v.yaw += acc_yaw * dt;
        self.v.pitch += acc_pitch * dt;
        self.q.lam += self.v.lam * dt;
        self.q.ob += self.v.ob * dt;
        self.q.a += self.v.a * dt;
        self.q.b += self.v.b * dt;
        self.q.yaw += self.v.yaw * dt;
        self.q.pitch += self.v.pitch * dt;
        // The leg's roll about its long axis follows its (noisy) target smoothly.
        let rot_target = 2.0 * DEG * self.rot_ou + 0.04 * self.q.a;
        let wr = 8.0;
        self.rot_v += (wr * wr * (rot_target - self.q.rot) - 2.0 * wr * self.rot_v) * dt;
        self.q.rot += self.rot_v * dt;
        self.q.knee += (d.knee - self.q.knee) * dt / 0.08;
    }

    /// What the stance hip feels as "not level": the pelvis against the slow
    /// stance, and a lifter's share of the quick lean.
    fn level_error(&self) -> f64 {
        match self.posture {
            Posture::Standing | Posture::Step => {
                self.q.ob + self.lam_slow + self.man.level * (self.q.lam - self.lam_slow)
            }
            _ => self.q.ob,
        }
    }

    /// Starts the standing body balanced: the centre of mass over the foot and the pelvis level.
    fn balance_start(&mut self) {
        if !matches!(self.posture, Posture::Standing | Posture::Step) {
            return;
        }
        let h = 0.62 * self.man.hip_h + 0.15;
        for _ in 0..20 {
            let g = self.gradients(&self.q);
            let q_lam = -(g[0][0] + g[0][1]);
            self.q.lam -= q_lam / (self.man.mass * G * h) * 0.8;
            self.q.ob = -self.q.lam;
        }
        self.lam_ref = self.q.lam;
        self.lam_slow = self.q.lam;
        self.lam_hold = self.q.lam;
        self.centre_slow = self.q.lam;
    }

    /// Mirror a canonical vector/frame to the lifter's true sides.
    fn mirror_v(&self, p: V3) -> V3 {
        V3::new(self.f * p.x, p.y, p.z)
    }
    fn mirror_m(&self, r: M3) -> M3 {
        let mut r = r;
        if self.f < 0.0 {
            r[(0, 1)] = -r[(0, 1)];
            r[(0, 2)] = -r[(0, 2)];
            r[(1, 0)] = -r[(1, 0)];
            r[(2, 0)] = -r[(2, 0)];
        }
        r
    }
    /// Body frame to world without heading (lying: the free side up).
    fn align(&self) -> M3 {
        match self.posture {
            Posture::Lying => M3::from_columns(&[
                V3::new(0.0, 0.0, self.f),
                V3::new(0.0, -self.f, 0.0),
                V3::new(1.0, 0.0, 0.0),
            ]),
            _ => M3::identity(),
        }
    }

    /// The sensor's world pose and the absolute obliquity for the current state.
    fn sensor_pose(&self, placement: Placement) -> (V3, M3, f64) {
        let o = self.overlay;
        let mut q = self.q;
        q.lam += o.lam;
        q.ob += o.ob;
        q.b += o.b;
        q.yaw += o.yaw;
        let c = self.chain(&q);
        let world = rz(self.heading + o.heading) * self.align();
        let (p_body, r_body) = match placement {
            Placement::Pelvis => {
                let r = self.mirror_m(c.r_pel);
                let centre =
                    self.mirror_v(c.stance_hip + c.r_pel * V3::new(self.man.half_w, 0.0, 0.0));
                (centre + r * self.mount_point, r * self.mount)
            }
            Placement::Ankle => {
                let r = self.mirror_m(c.r_shank);
                (
                    self.mirror_v(c.shank_origin) + r * self.mount_point,
                    r * self.mount,
                )
            }
        };
        let mut p = self.base + o.shift + world * p_body + self.wob;
        let mut r = world * r_body;
        if o.hand_blend > 0.0 {
            if let Some(hq) = o.hand_rot {
                let uq = UnitQuaternion::from_rotation_matrix(&Rotation3::from_matrix_unchecked(r));
                let b = o.hand_blend.clamp(0.0, 1.0);
                let mixed = uq.slerp(&hq, b);
                r = *mixed.to_rotation_matrix().matrix();
                p = p * (1.0 - b) + o.hand_pos * b;
            }
        }
        // Obliquity: the pelvis' free-side axis from the horizontal (lying: from the trunk).
        let obliquity = match self.posture {
            Posture::Lying => q.ob,
            _ => (c.r_pel * V3::x()).z.clamp(-1.0, 1.0).asin(),
        };
        (p, r, obliquity)
    }

    /// Advances one step: body, pose, derivatives, filter, output.
    fn advance(&mut self, rec: &mut Record, d: &Drive, placement: Placement) {
        self.dynamics(d);
        // Strap wobble: a damped oscillator the foot strikes excite.
        let w = self.wob_w;
        let wa = -self.wob * w * w - self.wob_v * (2.0 * 0.25 * w);
        self.wob_v += wa * self.dt;
        self.wob += self.wob_v * self.dt;
        self.step += 1;
        let (p, r, obl) = self.sensor_pose(placement);
        let uq = UnitQuaternion::from_rotation_matrix(&Rotation3::from_matrix_unchecked(r));
        self.poses = [self.poses[1], self.poses[2], (p, uq)];
        self.rows = [
            self.rows[1],
            self.rows[2],
            Some(TraceRow {
                t: self.t(),
                a: self.q.a,
                b: self.q.b + self.overlay.b,
                obliquity: obl,
                q: uq,
            }),
        ];
        if self.step < 3 {
            return;
        }
        let dt = self.dt;
        let (p0, q0) = self.poses[0];
        let (p1, q1) = self.poses[1];
        let (p2, q2) = self.poses[2];
        let acc_w = (p2 - 2.0 * p1 + p0) / (dt * dt);
        let f = q1.inverse() * (acc_w + V3::new(0.0, 0.0, G));
        let w_rel = (q0.inverse() * q2).scaled_axis() / (2.0 * dt);
        let gyr = w_rel / DEG;
        let y = self.filter.run([f.x, f.y, f.z, gyr.x, gyr.y, gyr.z]);
        let prev_step = self.step - 1;
        if prev_step.is_multiple_of(self.n_sub) {
            let t = (prev_step / self.n_sub) as f64 * (self.n_sub as f64 * dt);
            rec.out.push(TrueSample {
                t,
                acc: V3::new(y[0], y[1], y[2]),
                gyr: V3::new(y[3], y[4], y[5]),
            });
            if let Some(row) = self.rows[1] {
                rec.trace.push(TraceRow { t, ..row });
            }
        }
    }

    /// A foot strike: the shank (or the hips) stops suddenly.
    fn strike(&mut self, size: f64) {
        let up = V3::new(0.0, 0.0, 1.0);
        self.wob_v += up * size * uni(&mut self.rng, 0.7, 1.3);
    }
}

/// A planned rep: what the lifter means to do.
#[derive(Debug, Clone)]
struct RepPlan {
    kind: Option<FlagKind>,
    /// Intended amplitude (rad) and times (s).
    amp: f64,
    up: f64,
    hold: f64,
    down: f64,
    pause: f64,
    /// Size of the compensation (rad), hip flexion drift peak (rad).
    comp: f64,
    flex: f64,
}

/// The torque-driven body model.
pub struct TorqueSimulator {
    samples: std::vec::IntoIter<TrueSample>,
    sensor: Sensor,
    rng: ChaCha8Rng,
    drop_rate: f64,
    gap_p: f64,
    gap_until: f64,
}

/// This model's sensor: errors fixed at power-on plus noise.
#[derive(Debug, Clone)]
struct Sensor {
    acc_m: M3,
    acc_bias: V3,
    gyr_m: M3,
    gyr_bias: V3,
    warm: V3,
    walk: V3,
    walk_sigma: f64,
    acc_sigma: f64,
    gyr_sigma: f64,
    last_t: f64,
}

impl Sensor {
    fn draw(rng: &mut ChaCha8Rng, cfg: &SimConfig) -> Sensor {
        let n = cfg.noise;
        let mut acc_m = M3::identity();
        let mut gyr_m = M3::identity();
        for i in 0..3 {
            for j in 0..3 {
                if i == j {
                    acc_m[(i, j)] = (1.0 + n * 0.025 * gauss(rng))
                        .clamp(1.0 - 0.05 * n.min(1.0), 1.0 + 0.07 * n.min(1.0));
                    gyr_m[(i, j)] = 1.0 + n * 0.01 * gauss(rng);
                } else {
                    acc_m[(i, j)] = n * 0.008 * gauss(rng);
                    gyr_m[(i, j)] = n * 0.008 * gauss(rng);
                }
            }
        }
        let b = cfg.gyro_bias_dps;
        let gyr_bias = V3::new(uni(rng, -b, b), uni(rng, -b, b), uni(rng, -b, b));
        let warm = V3::new(gauss(rng), gauss(rng), gauss(rng)) * (0.1 * b.min(2.0));
        let bw = (0.45 * cfg.rate_hz).min(100.0);
        Sensor {
            acc_m,
            acc_bias: V3::new(gauss(rng), gauss(rng), gauss(rng)) * (0.06 * n),
            gyr_m,
            gyr_bias,
            warm,
            walk: V3::zeros(),
            walk_sigma: 0.004 * n,
            acc_sigma: 0.02 * n * (bw / 40.0).sqrt(),
            gyr_sigma: 0.07 * n * (bw / 40.0).sqrt(),
            last_t: 0.0,
        }
    }

    /// The bias at time `t` (without the random walk).
    fn bias_at(&self, t: f64) -> V3 {
        self.gyr_bias + self.warm * (1.0 - (-t / 150.0).exp())
    }

    fn read(&mut self, rng: &mut ChaCha8Rng, s: &TrueSample) -> Sample {
        let dt = (s.t - self.last_t).max(0.0);
        self.last_t = s.t;
        self.walk += V3::new(gauss(rng), gauss(rng), gauss(rng)) * (self.walk_sigma * dt.sqrt());
        let na = V3::new(gauss(rng), gauss(rng), gauss(rng)) * self.acc_sigma;
        let ng = V3::new(gauss(rng), gauss(rng), gauss(rng)) * self.gyr_sigma;
        let acc = self.acc_m * s.acc + self.acc_bias + na;
        let gyr = self.gyr_m * s.gyr + self.bias_at(s.t) + self.walk + ng;
        // 16-bit words: ±16 g and ±2000 °/s.
        let qa = 16.0 * G / 32768.0;
        let qg = 2000.0 / 32768.0;
        let quant = |v: f64, lsb: f64| (v / lsb).round().clamp(-32768.0, 32767.0) * lsb;
        Sample::new(
            s.t,
            [quant(acc.x, qa), quant(acc.y, qa), quant(acc.z, qa)],
            [quant(gyr.x, qg), quant(gyr.y, qg), quant(gyr.z, qg)],
        )
    }
}

impl Iterator for TorqueSimulator {
    type Item = Sample;
    fn next(&mut self) -> Option<Sample> {
        loop {
            let s = self.samples.next()?;
            let out = self.sensor.read(&mut self.rng, &s);
            if s.t < self.gap_until {
                continue;
            }
            if self.rng.gen::<f64>() < self.gap_p {
                self.gap_until = s.t + 0.2;
                continue;
            }
            if self.rng.gen::<f64>() < self.drop_rate {
                continue;
            }
            return Some(out);
        }
    }
}

/// Builds the session: runs the whole simulation and keeps the true readings.
struct Session<'a> {
    cfg: &'a SimConfig,
    w: World,
    rec: Record,
    distractions: Vec<String>,
    comps: Vec<FlagKind>,
}

impl TorqueSimulator {
    /// Simulates the session `cfg` asks for: the sample stream and its ground truth.
    pub fn new(cfg: &SimConfig) -> Result<(TorqueSimulator, Truth), String> {
        let posture = match (cfg.exercise, cfg.placement) {
            (Exercise::StandingCableAbduction, _) => Posture::Standing,
            (Exercise::SideLyingAbduction, _) => Posture::Lying,
            (Exercise::SeatedMachineAbduction, Placement::Ankle) => Posture::Seated,
            (Exercise::HipHitch, Placement::Pelvis) => Posture::Step,
            (e, p) => {
                return Err(format!(
                    "the torque body model does not simulate {e} with the sensor on the {p}"
                ))
            }
        };
        if !(cfg.rate_hz.is_finite() && cfg.rate_hz > 0.0) {
            return Err(format!("rate {} Hz is not a rate", cfg.rate_hz));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x746f_7271_7565);
        let sensor_seed: u64 = rng.gen();
        let man = Lifter::draw(&mut rng, cfg.exercise, cfg.placement);
        let f = cfg.exercise.free_side(cfg.side).sign();
        let n_sub = (1000.0 / cfg.rate_hz).ceil().max(1.0) as u64;
        let dt = 1.0 / (cfg.rate_hz * n_sub as f64);
        let load = match posture {
            Posture::Standing => {
                let r = 0.8 * man.leg_len;
                let demand =
                    uni(&mut rng, 0.45, 0.65) * man.strength - man.m_leg * G * man.c_leg * 0.5;
                let mass = ((demand / (G * r)) / 1.25).round().max(1.0) * 1.25;
                Load::Cable {
                    pulley: V3::new(-uni(&mut rng, 0.5, 1.1), uni(&mut rng, -0.15, 0.15), 0.08),
                    mass,
                }
            }
            Posture::Lying => {
                let spare = man.strength * uni(&mut rng, 0.45, 0.7) - man.m_leg * G * man.c_leg;
                let mass = if rng.gen_bool(0.4) {
                    0.0
                } else {
                    (spare / (G * 0.93 * man.leg_len)).clamp(0.0, 3.0).round()
                };
                if mass > 0.0 {
                    Load::Weight { mass }
                } else {
                    Load::Free
                }
            }
            Posture::Seated => {
                let r = 0.12;
                let mass = ((uni(&mut rng, 0.4, 0.65) * man.strength / (G * r)) / 2.5)
                    .round()
                    .max(2.0)
                    * 2.5;
                Load::Machine {
                    r,
                    mass,
                    arm_i: uni(&mut rng, 0.3, 0.8),
                }
            }
            Posture::Step => Load::Free,
        };
        let rate = cfg.rate_hz;
        let filter = Biquad::new((0.42 * rate).min(100.0), rate * n_sub as f64);
        let mut w = World {
            rng,
            posture,
            f,
            man,
            load,
            q: Q::default(),
            v: Rate::default(),
            acc: Rate::default(),
            tau_m: 0.0,
            tau_b: 0.0,
            tau_st: 0.0,
            tau_ank: 0.0,
            effort_ou: 0.0,
            sway_ou: 0.0,
            yaw_ou: 0.0,
            lie_ou: 0.0,
            rot_ou: 0.0,
            rot_v: 0.0,
            lam_ref: 0.0,
            lam_hold: 0.0,
            lam_slow: 0.0,
            centre_slow: 0.0,
            stack_h: 0.0,
            stack_v: 0.0,
            cable_l0: 0.0,
            a_rest: 0.0,
            base: V3::zeros(),
            heading: 0.0,
            mount: M3::identity(),
            mount_point: V3::zeros(),
            wob: V3::zeros(),
            wob_v: V3::zeros(),
            wob_w: 0.0,
            step: 0,
            dt,
            n_sub,
            poses: [(V3::zeros(), UnitQuaternion::identity()); 3],
            rows: [None; 3],
            filter,
            overlay: Overlay::default(),
        };
        w.heading = uni(&mut w.rng, -PI, PI);
        w.base = V3::new(uni(&mut w.rng, -3.0, 3.0), uni(&mut w.rng, -3.0, 3.0), 0.0);
        if posture == Posture::Step {
            w.base.z = 0.2;
        }
        w.wob_w = 2.0 * PI * uni(&mut w.rng, 14.0, 24.0);
        w.a_rest = match posture {
            Posture::Lying => -(2.0 * w.man.half_w / w.man.leg_len).asin() * 0.85,
            Posture::Seated => 0.0,
            _ => uni(&mut w.rng, -2.0, 3.0) * DEG,
        };
        w.q.a = w.a_rest;
        let comps = cfg.visible_compensations();
        let mut s = Session {
            cfg,
            w,
            rec: Record::default(),
            distractions: Vec::new(),
            comps,
        };
        s.mount();
        s.settle();
        let sets = s.run()?;
        let duration_s = s.rec.out.last().map(|x| x.t).unwrap_or(0.0);
        let truth = Truth {
            config: cfg.clone(),
            duration_s,
            distractions: s.distractions,
            sets,
        };
        let mut srng = ChaCha8Rng::seed_from_u64(sensor_seed);
        let sensor = Sensor::draw(&mut srng, cfg);
        let gap_p = cfg.gaps_per_min / 60.0 / cfg.rate_hz;
        Ok((
            TorqueSimulator {
                samples: s.rec.out.into_iter(),
                sensor,
                rng: srng,
                drop_rate: cfg.drop_rate,
                gap_p,
                gap_until: f64::NEG_INFINITY,
            },
            truth,
        ))
    }
}

impl Session<'_> {
    /// Straps the sensor on (again).
    fn mount(&mut self) {
        let rng = &mut self.w.rng;
        let random = self.cfg.random_mounting;
        match self.cfg.placement {
            Placement::Pelvis => {
                let axis = V3::new(gauss(rng), gauss(rng), gauss(rng)).normalize();
                let angle = if random {
                    uni(rng, 0.0, 15.0) * DEG
                } else {
                    0.0
                };
                let err = *Rotation3::from_axis_angle(&nalgebra::Unit::new_normalize(axis), angle)
                    .matrix();
                // Sensor X right, Y up, Z backward.
                let nominal = M3::from_columns(&[V3::x(), V3::z(), -V3::y()]);
                self.w.mount = nominal * err;
                self.w.mount_point = V3::new(uni(rng, -0.02, 0.02), -0.1, 0.04);
            }
            Placement::Ankle => {
                let az = if random { uni(rng, -PI, PI) } else { 0.0 };
                let spin = if random { uni(rng, -PI, PI) } else { 0.0 };
                let tilt = if random {
                    uni(rng, -8.0, 8.0) * DEG
                } else {
                    0.0
                };
                let r = 0.045;
                let height = match self.w.posture {
                    Posture::Seated => -0.38 * self.w.man.leg_len,
                    _ => -0.86 * self.w.man.leg_len,
                } + uni(rng, -0.04, 0.04);
                // Outward normal of the skin at azimuth `az` is the sensor's z.
                self.w.mount = rz(az) * ry(PI / 2.0) * rz(spin) * rx(tilt);
                self.w.mount_point = V3::new(r * az.cos(), r * az.sin(), height);
            }
        }
    }

    /// Lets the body settle into its stance before anything is recorded.
    fn settle(&mut self) {
        self.w.balance_start();
        self.set_cable();
        let mut scratch = Record::default();
        let d = Drive::rest(self.w.a_rest);
        let n = (1.5 / self.w.dt) as usize;
        for _ in 0..n {
            self.w.dynamics(&d);
        }
        let step = self.w.step;
        for _ in 0..3 {
            self.w.advance(&mut scratch, &d, self.cfg.placement);
        }
        self.w.step = step;
        self.w.filter.primed = false;
        self.set_cable();
    }

    /// The lifter stands (or sits) where the cable is about right at neutral.
    fn set_cable(&mut self) {
        if self.w.stack_mass() > 0.0 {
            let mut q = self.w.q;
            q.a = self.w.a_rest;
            let len = self.w.energies(&q).2;
            let slack = uni(&mut self.w.rng, -0.02, 0.015);
            self.w.cable_l0 = len + slack;
            self.w.stack_h = (-slack).max(0.0);
            self.w.stack_v = 0.0;
        }
    }

    fn step(&mut self, d: &Drive) {
        self.w.advance(&mut self.rec, d, self.cfg.placement);
    }

    /// Stands (sits, lies) still for `secs`.
    fn still(&mut self, secs: f64) {
        let d = Drive::rest(self.w.a_rest);
        let n = (secs / self.w.dt).round() as usize;
        for _ in 0..n {
            self.step(&d);
        }
    }

    fn run(&mut self) -> Result<Vec<TruthSet>, String> {
        let lead = match self.cfg.lead_in_s {
            Some(s) => s.max(0.0),
            None => uni(&mut self.w.rng, 0.5, 3.0),
        };
        self.still(lead);
        let mut sets = Vec::new();
        for k in 0..self.cfg.sets {
            let rest = if k == 0 {
                0.0
            } else {
                uni(&mut self.w.rng, self.cfg.rest_min_s, self.cfg.rest_max_s)
            };
            if k > 0 {
                self.rest(rest);
            }
            // The still stance the set's neutral is taken from.
            let settle = uni(&mut self.w.rng, 1.2, 3.0);
            self.still(settle);
            let set = self.set(k)?;
            sets.push(set);
        }
        let tail = uni(&mut self.w.rng, 1.0, 4.0);
        self.still(tail);
        Ok(sets)
    }

    /// Drives one rep from `t0`.
    fn drive_at(&self, p: &RepPlan, t0: f64, t: f64) -> Drive {
        let w = &self.w;
        let mut d = Drive::rest(w.a_rest);
        let x = t - t0;
        let total = p.up + p.hold + p.down;
        // Profile 0..1..0 of the intended motion, and its slope (1/s).
        let (s, ds) = if x < p.up {
            let (s, d) = min_jerk(x / p.up);
            (s, d / p.up)
        } else if x < p.up + p.hold {
            (1.0, 0.0)
        } else if x < total {
            let (s, d) = min_jerk((x - p.up - p.hold) / p.down);
            (1.0 - s, -d / p.down)
        } else {
            (0.0, 0.0)
        };
        let in_rep = (0.0..total).contains(&x);
        let hitch = w.posture == Posture::Step;
        if hitch {
            // The free side drops and is pulled back level by the stance hip.
            d.ob_ref = -p.amp * s;
            d.stance_scale = 0.8;
        } else {
            d.a_ref = w.a_rest + p.amp * s;
            d.a_ref_d = p.amp * ds;
            d.b_ref = w.man.flex * s;
        }
        match p.kind {
            Some(FlagKind::Momentum) if in_rep => {
                if x < p.up {
                    d.ff_scale = 1.6;
                    d.kp_scale = 1.6;
                } else {
                    d.ff_scale = 0.25;
                    d.kp_scale = 0.15;
                }
            }
            Some(FlagKind::HipFlexionDrift) => d.b_ref += p.flex * s,
            Some(FlagKind::HipHike) if hitch => {
                // Pulls past level with the side of the trunk, holds, settles.
                let x2 = x - (p.up + p.hold + 0.6 * p.down);
                let over = min_jerk(x2 / 0.6).0 - min_jerk((x2 - 1.0) / 0.6).0;
                d.ob_ref += p.comp * over;
                d.ql_extra = 0.2 * over;
            }
            Some(FlagKind::HipHike) if in_rep => {
                d.ob_ref = p.comp * s;
                d.ql_extra = 0.3 * s;
            }
            Some(FlagKind::PelvicDrop) if in_rep => {
                d.ob_ref -= p.comp * s;
                d.stance_scale = 1.0 - 0.6 * s;
            }
            Some(FlagKind::TrunkSway) if in_rep => {
                // Rocks the trunk and pelvis from the hips, the body following a little.
                let ph = (2.0 * PI * x / total).sin() * min_jerk(x / 0.3).0;
                d.ob_ref += p.comp * ph;
                d.lam_off = 0.2 * p.comp * ph;
                d.yaw_off = 0.4 * p.comp * ph;
                d.grip_scale = 0.3;
            }
            _ => {}
        }
        d
    }

    /// Does one set; returns its truth.
    fn set(&mut self, k: usize) -> Result<TruthSet, String> {
        let cfg = self.cfg;
        let reps = self.w.rng.gen_range(cfg.reps_min..=cfg.reps_max);
        let man = self.w.man.clone();
        let hitch = self.w.posture == Posture::Step;
        let set_amp = man.range * DEG * uni(&mut self.w.rng, 0.92, 1.06);
        // Neutral: the still stance just before the first rep.
        let neutral_from = self
            .rec
            .trace
            .len()
            .saturating_sub((0.5 * cfg.rate_hz) as usize);
        let neutral_obl = mean(self.rec.trace[neutral_from..].iter().map(|r| r.obliquity));
        let rest_q = self.rec.trace.last().map(|r| r.q).unwrap_or_default();
        let mut out = Vec::new();
        for i in 0..reps {
            let frac = i as f64 / reps.max(2) as f64;
            let tire = 1.0 - man.fatigue * frac;
            let slow = 1.0 + 2.0 * man.fatigue * frac;
            let jit = |rng: &mut ChaCha8Rng, s: f64| (1.0 + s * gauss(rng)).clamp(0.7, 1.3);
            let r = &mut self.w.rng;
            let mut plan = RepPlan {
                kind: None,
                amp: set_amp * tire * jit(r, 0.04),
                up: man.t_up * slow * jit(r, 0.08),
                hold: man.hold * jit(r, 0.15),
                down: man.t_down * slow * jit(r, 0.08),
                pause: (man.pause * jit(r, 0.3) + 0.05).max(0.05),
                comp: 0.0,
                flex: 0.0,
            };
            if i > 0
                && !self.comps.is_empty()
                && r.gen::<f64>() < cfg.compensation_rate * reps as f64 / (reps - 1).max(1) as f64
            {
                let kind = self.comps[r.gen_range(0..self.comps.len())];
                plan.kind = Some(kind);
                match kind {
                    FlagKind::HipHike | FlagKind::PelvicDrop => {
                        plan.comp = uni(r, 8.0, 13.0) * DEG;
                        if hitch {
                            plan.pause += 1.8;
                        }
                    }
                    FlagKind::TrunkSway => plan.comp = uni(r, 7.0, 11.0) * DEG,
                    FlagKind::Momentum => {
                        plan.up *= uni(r, 0.35, 0.5);
                        plan.down *= uni(r, 0.3, 0.5);
                        plan.hold = 0.0;
                        plan.amp *= 1.15;
                    }
                    FlagKind::PartialRange => plan.amp = set_amp * uni(r, 0.3, 0.5),
                    FlagKind::HipFlexionDrift => plan.flex = uni(r, 14.0, 26.0) * DEG,
                }
            }
            let rep = self.rep(&mut plan, neutral_obl, &rest_q, hitch)?;
            out.push(rep);
        }
        let _ = k;
        Ok(TruthSet {
            start_s: out.first().map(|r| r.start_s).unwrap_or(0.0),
            end_s: out.last().map(|r| r.end_s).unwrap_or(0.0),
            rep_count: out.len(),
            reps: out,
        })
    }

    /// Does one rep, again from the same state if its label would not be clear.
    fn rep(
        &mut self,
        plan: &mut RepPlan,
        neutral_obl: f64,
        rest_q: &UnitQuaternion<f64>,
        hitch: bool,
    ) -> Result<TruthRep, String> {
        let pelvis = self.cfg.placement == Placement::Pelvis;
        let snapshot = self.w.clone();
        let (out_len, trace_len) = (self.rec.out.len(), self.rec.trace.len());
        let mut stance = 1.0;
        let mut tidy = 0.0;
        for attempt in 0..6 {
            if attempt > 0 {
                self.w = snapshot.clone();
                self.rec.out.truncate(out_len);
                self.rec.trace.truncate(trace_len);
            }
            let t0 = self.w.t();
            let total = plan.up + plan.hold + plan.down + plan.pause;
            let n = (total / self.w.dt).round() as usize;
            for _ in 0..n {
                let t = self.w.t();
                let mut d = self.drive_at(plan, t0, t);
                if plan.kind.is_none() {
                    d.stance_scale *= stance;
                    d.tidy = tidy;
                }
                self.step(&d);
            }
            let rows = &self.rec.trace[trace_len..];
            let obl: Vec<f64> = rows
                .iter()
                .map(|r| (r.obliquity - neutral_obl) / DEG)
                .collect();
            let dt_out = 1.0 / self.cfg.rate_hz;
            let hi = obl.iter().copied().fold(f64::MIN, f64::max);
            let lo = obl.iter().copied().fold(f64::MAX, f64::min);
            let held = |pred: &dyn Fn(f64) -> bool| {
                let (mut best, mut run) = (0usize, 0usize);
                for &o in &obl {
                    run = if pred(o) { run + 1 } else { 0 };
                    best = best.max(run);
                }
                best as f64 * dt_out
            };
            let peak_flex = rows.iter().map(|r| r.b / DEG).fold(f64::MIN, f64::max);
            let ok = match plan.kind {
                None if pelvis && hitch => hi <= 3.0,
                None if pelvis => hi <= 3.0 && lo >= -3.0,
                None => true,
                Some(FlagKind::HipHike) => held(&|o| o >= 6.0) >= 0.2,
                Some(FlagKind::PelvicDrop) => held(&|o| o <= -6.0) >= 0.2 && !hitch,
                Some(FlagKind::TrunkSway) => hi >= 6.0 && lo <= -6.0,
                Some(FlagKind::HipFlexionDrift) => peak_flex >= 11.0,
                Some(_) => true,
            };
            if ok {
                break;
            }
            // Not a clear case: the lifter does it again with more (or less) of it.
            match plan.kind {
                None => {
                    stance = (stance * 1.2f64).min(1.8);
                    tidy = (tidy + 0.35f64).min(1.0);
                }
                Some(FlagKind::HipFlexionDrift) => plan.flex = (plan.flex * 1.2).min(30.0 * DEG),
                Some(_) => plan.comp = (plan.comp * 1.2).min(16.0 * DEG),
            }
            if attempt == 5 && plan.kind.is_some() && !pelvis {
                // An ankle flag that cannot be made clear is dropped.
                plan.kind = None;
            }
        }
        Ok(self.truth_rep(
            plan,
            neutral_obl,
            rest_q,
            hitch,
            &self.rec.trace[trace_len..],
        ))
    }

    fn truth_rep(
        &self,
        plan: &RepPlan,
        neutral_obl: f64,
        rest_q: &UnitQuaternion<f64>,
        hitch: bool,
        rows: &[TraceRow],
    ) -> TruthRep {
        let pelvis = self.cfg.placement == Placement::Pelvis;
        // The rep's motion: hip angle, or (hip hitch) the drop of the free side.
        let motion: Vec<f64> = rows
            .iter()
            .map(|r| {
                if hitch {
                    neutral_obl - r.obliquity
                } else {
                    r.a - self.w.a_rest
                }
            })
            .collect();
        let base = motion.first().copied().unwrap_or(0.0);
        let (ipk, pk) =
            motion
                .iter()
                .enumerate()
                .fold((0, f64::MIN), |b, (i, &m)| if m > b.1 { (i, m) } else { b });
        let line = base + 0.05 * (pk - base);
        let start = (0..=ipk).rev().find(|&i| motion[i] <= line).unwrap_or(0);
        let end = (ipk..motion.len())
            .find(|&i| motion[i] <= line)
            .unwrap_or(motion.len() - 1);
        let window = &rows[start..=end];
        let peak_deg = if pelvis {
            window
                .iter()
                .map(|r| ((r.obliquity - neutral_obl) / DEG).abs())
                .fold(0.0, f64::max)
        } else {
            window
                .iter()
                .map(|r| rest_q.angle_to(&r.q) / DEG)
                .fold(0.0, f64::max)
        };
        // A compensation is measured over the whole rep (a hip hitch's hike comes after the return).
        let obl = rows.iter().map(|r| (r.obliquity - neutral_obl) / DEG);
        let flags = match plan.kind {
            None => Vec::new(),
            Some(kind) => {
                let value_deg = match kind {
                    FlagKind::HipHike => obl.fold(f64::MIN, f64::max),
                    FlagKind::PelvicDrop => -obl.fold(f64::MAX, f64::min),
                    FlagKind::TrunkSway => {
                        let v: Vec<f64> = obl.collect();
                        let hi = v.iter().copied().fold(f64::MIN, f64::max);
                        let lo = v.iter().copied().fold(f64::MAX, f64::min);
                        hi.min(-lo)
                    }
                    FlagKind::HipFlexionDrift => {
                        rows.iter().map(|r| r.b / DEG).fold(f64::MIN, f64::max)
                    }
                    FlagKind::Momentum | FlagKind::PartialRange => peak_deg,
                };
                vec![TruthFlag { kind, value_deg }]
            }
        };
        TruthRep {
            start_s: rows[start].t,
            end_s: rows[end].t,
            peak_deg,
            flags,
        }
    }

    /// Between sets: stand, walk off and back, fidget, swing, re-strap.
    fn rest(&mut self, secs: f64) {
        let t_end = self.w.t() + secs - 3.0;
        let mut todo: Vec<u8> = Vec::new();
        let standing = matches!(self.w.posture, Posture::Standing | Posture::Step);
        if self.cfg.walking && standing {
            todo.push(0);
        }
        if self.cfg.fidgets {
            let r = &mut self.w.rng;
            let fidgets = r.gen_range(1..=3);
            todo.resize(todo.len() + fidgets, 1);
            if r.gen_bool(0.5) {
                todo.push(2);
            }
            if r.gen_bool(0.4) {
                todo.push(3);
            }
            if !standing && r.gen_bool(0.7) {
                todo.push(4);
            }
        }
        // Shuffle.
        for i in (1..todo.len()).rev() {
            let j = self.w.rng.gen_range(0..=i);
            todo.swap(i, j);
        }
        for what in todo {
            let gap = uni(&mut self.w.rng, 1.0, 4.0);
            if self.w.t() + gap + 12.0 > t_end {
                break;
            }
            self.still(gap);
            match what {
                0 => self.walk(),
                1 => self.fidget(),
                2 => self.swing(),
                3 => self.restrap(),
                _ => self.shift(),
            }
        }
        let left = (t_end - self.w.t()).max(0.5);
        self.still(left);
    }

    /// Walks off, turns round, walks back and stands side-on again.
    fn walk(&mut self) {
        let t0 = self.w.t();
        let r = &mut self.w.rng;
        let steps = r.gen_range(3..=10);
        let period = uni(r, 1.0, 1.25); // one stride (two steps)
        let speed = uni(r, 0.9, 1.3);
        let swing_amp = uni(r, 16.0, 24.0) * DEG;
        let out_dur = steps as f64 * period / 2.0;
        let turn = uni(r, 1.2, 2.0);
        let total = 2.0 * out_dur + turn + 1.0;
        let final_turn = if r.gen_bool(0.5) { PI } else { -PI } + uni(r, -0.3, 0.3);
        let step_down = if self.w.posture == Posture::Step {
            0.2
        } else {
            0.0
        };
        let heading0 = self.w.heading;
        let base0 = self.w.base;
        let n = (total / self.w.dt).round() as usize;
        let mut dist = 0.0;
        let mut last_phase = 0.0;
        let ankle = self.cfg.placement == Placement::Ankle;
        for i in 0..n {
            let x = i as f64 * self.w.dt;
            // Envelope: ramps in and out so the walk joins the stance smoothly.
            let env = min_jerk(x / 0.6).0 * (1.0 - min_jerk((x - (total - 0.6)) / 0.6).0);
            let turning = x > out_dur && x < out_dur + turn;
            let head = final_turn * min_jerk((x - out_dur) / turn).0 * 0.5
                + final_turn * 0.5 * min_jerk((x - out_dur - turn - out_dur) / 0.8).0;
            let v = speed * env * if turning { 0.2 } else { 1.0 };
            let dir = if x < out_dur { 1.0 } else { -1.0 };
            dist += dir * v * self.w.dt;
            let phase = (x / period).fract();
            let sw = (2.0 * PI * x / period).sin();
            let mut o = Overlay {
                shift: V3::zeros(),
                heading: head,
                ..Overlay::default()
            };
            let h0 = heading0; // walks forward from the side-on stance
            let fwd = V3::new(-h0.sin(), h0.cos(), 0.0);
            let bob = 0.025 * env * (4.0 * PI * x / period).cos();
            let down =
                -step_down * min_jerk(x / 0.5).0 * (1.0 - min_jerk((x - (total - 0.5)) / 0.5).0);
            o.shift = fwd * dist + V3::new(0.0, 0.0, bob + down - 0.025 * env);
            o.lam = 3.0 * DEG * env * sw;
            o.ob = 4.0 * DEG * env * sw;
            o.yaw = 5.0 * DEG * env * (2.0 * PI * x / period).cos();
            // The working leg: stance 60 % (hip passes over the foot), swing 40 %.
            let b = if phase < 0.6 {
                swing_amp * (1.0 - 2.0 * phase / 0.6)
            } else {
                -swing_amp + 2.0 * swing_amp * min_jerk((phase - 0.6) / 0.4).0
            };
            o.b = b * env;
            if phase < last_phase && env > 0.5 {
                // Heel strike of the working leg; the other leg's half a stride later.
                self.w.strike(if ankle { 0.35 } else { 0.12 });
            }
            if last_phase < 0.5 && phase >= 0.5 && env > 0.5 {
                self.w.strike(if ankle { 0.08 } else { 0.12 });
            }
            last_phase = phase;
            self.w.overlay = o;
            let d = Drive::rest(self.w.a_rest);
            self.step(&d);
        }
        // Back side-on: fold the walk into the stance.
        let o = self.w.overlay;
        self.w.overlay = Overlay::default();
        self.w.heading = heading0 + o.heading;
        self.w.base = base0 + o.shift;
        self.w.base.z = base0.z;
        // The body frame turned; rotating the base in place keeps the foot where it is.
        self.distractions.push(format!(
            "walk {steps} steps off, turn round, walk back: {:.1}-{:.1} s",
            t0,
            self.w.t()
        ));
    }

    /// Small restless moves of the leg or a weight shift.
    fn fidget(&mut self) {
        let t0 = self.w.t();
        let r = &mut self.w.rng;
        let dur = uni(r, 0.8, 2.5);
        let da = uni(r, 2.0, 7.0) * DEG * if r.gen_bool(0.5) { 1.0 } else { -0.5 };
        let db = uni(r, -8.0, 8.0) * DEG;
        let dl = uni(r, -1.5, 1.5) * DEG;
        let wiggles = r.gen_range(1..=3) as f64;
        let n = (dur / self.w.dt).round() as usize;
        for i in 0..n {
            let x = i as f64 * self.w.dt / dur;
            let s = (PI * x).sin().powi(2) * (PI * wiggles * x).sin().abs();
            let mut d = Drive::rest(self.w.a_rest);
            d.a_ref += da * s;
            d.b_ref = db * s;
            d.lam_off = dl * (PI * x).sin();
            d.yaw_off = 0.5 * dl * (PI * x).sin();
            if self.w.posture == Posture::Seated {
                d.knee = 0.3 * db.abs() * s;
            }
            self.step(&d);
        }
        self.distractions
            .push(format!("fidget: {t0:.1}-{:.1} s", self.w.t()));
    }

    /// One loose swing of the leg (forward and back; seated: a knee kick).
    fn swing(&mut self) {
        let t0 = self.w.t();
        let r = &mut self.w.rng;
        let dur = uni(r, 0.8, 1.6);
        let amp = uni(r, 20.0, 40.0) * DEG;
        let n = (dur / self.w.dt).round() as usize;
        let lying = self.w.posture == Posture::Lying;
        for i in 0..n {
            let x = i as f64 * self.w.dt / dur;
            let mut d = Drive::rest(self.w.a_rest);
            let s = (2.0 * PI * x).sin() * (PI * x).sin();
            match self.w.posture {
                Posture::Seated => d.knee = amp * 1.3 * (PI * x).sin().powi(2),
                _ => d.b_ref = amp * s * if lying { 0.6 } else { 1.0 },
            }
            self.step(&d);
        }
        self.distractions
            .push(format!("single swing: {t0:.1}-{:.1} s", self.w.t()));
    }

    /// Takes the sensor off, handles it, straps it on again at a new angle.
    fn restrap(&mut self) {
        let t0 = self.w.t();
        let (p, r, _) = self.w.sensor_pose(self.cfg.placement);
        let start = UnitQuaternion::from_rotation_matrix(&Rotation3::from_matrix_unchecked(r));
        let dur = uni(&mut self.w.rng, 4.0, 9.0);
        let n = (dur / self.w.dt).round() as usize;
        let k1 = V3::new(
            gauss(&mut self.w.rng),
            gauss(&mut self.w.rng),
            gauss(&mut self.w.rng),
        );
        let k2 = V3::new(
            gauss(&mut self.w.rng),
            gauss(&mut self.w.rng),
            gauss(&mut self.w.rng),
        );
        let lift = V3::new(
            uni(&mut self.w.rng, -0.15, 0.15),
            uni(&mut self.w.rng, -0.15, 0.15),
            uni(&mut self.w.rng, 0.0, 0.3),
        );
        let mut remounted = false;
        for i in 0..n {
            let x = i as f64 / n as f64;
            if !remounted && x >= 0.5 {
                self.mount();
                remounted = true;
            }
            // In the hand: a smooth wander of orientation and place.
            let wander = k1 * (1.2 * (PI * x).sin()) + k2 * (0.6 * (3.0 * PI * x).sin());
            let hq = start * UnitQuaternion::from_scaled_axis(wander);
            let blend = min_jerk(x / 0.2).0 * (1.0 - min_jerk((x - 0.8) / 0.2).0);
            self.w.overlay = Overlay {
                hand_blend: blend,
                hand_rot: Some(hq),
                hand_pos: p + lift * (PI * x).sin(),
                ..Overlay::default()
            };
            let mut d = Drive::rest(self.w.a_rest);
            d.lam_off = 1.5 * DEG * (PI * x).sin();
            self.step(&d);
        }
        self.w.overlay = Overlay::default();
        if !remounted {
            self.mount();
        }
        self.distractions
            .push(format!("re-strap: {t0:.1}-{:.1} s", self.w.t()));
    }

    /// Shifts on the bench or seat: a roll and a slide.
    fn shift(&mut self) {
        let t0 = self.w.t();
        let r = &mut self.w.rng;
        let dur = uni(r, 1.2, 2.5);
        let roll = uni(r, -12.0, 12.0) * DEG;
        let h = self.w.heading;
        let slide = V3::new(h.cos(), h.sin(), 0.0) * uni(r, -0.12, 0.12);
        let n = (dur / self.w.dt).round() as usize;
        let base0 = self.w.base;
        for i in 0..n {
            let x = i as f64 / n as f64;
            let mut d = Drive::rest(self.w.a_rest);
            d.lam_off = roll * (PI * x).sin();
            self.w.base = base0 + slide * min_jerk(x).0 + V3::new(0.0, 0.0, 0.03 * (PI * x).sin());
            self.step(&d);
        }
        self.distractions
            .push(format!("shift on the bench: {t0:.1}-{:.1} s", self.w.t()));
    }
}

fn mean(it: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = it.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 {
        0.0
    } else {
        s / n as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Side;

    fn quick(ex: Exercise, pl: Placement, seed: u64) -> SimConfig {
        let mut c = SimConfig::new(ex, pl, Side::Right);
        c.sets = 1;
        c.reps_min = 2;
        c.reps_max = 3;
        c.walking = false;
        c.fidgets = false;
        c.lead_in_s = Some(1.0);
        c.seed = seed;
        c.model = super::super::sim::SimModel::Torque;
        c
    }

    #[test]
    fn rest_reads_one_g_and_the_bias() {
        let mut c = quick(Exercise::StandingCableAbduction, Placement::Pelvis, 5);
        c.drop_rate = 0.0;
        c.gaps_per_min = 0.0;
        let (sim, _) = TorqueSimulator::new(&c).unwrap();
        let sensor = sim.sensor.clone();
        let truth_f: Vec<V3> = sim
            .samples
            .as_slice()
            .iter()
            .take_while(|s| s.t < 0.8)
            .map(|s| s.acc)
            .collect();
        let read: Vec<Sample> = sim.take_while(|s| s.t < 0.8).collect();
        let n = read.len() as f64;
        let acc = read.iter().fold(V3::zeros(), |m, s| m + s.acc) / n;
        let gyr = read.iter().fold(V3::zeros(), |m, s| m + s.gyr) / n;
        let f = truth_f.iter().fold(V3::zeros(), |m, a| m + a) / truth_f.len() as f64;
        // The body is still: the true specific force is 1 g ...
        assert!((f.norm() - G).abs() < 0.05, "true |f| {}", f.norm());
        // ... and the sensor reads its own 1 g (scale, misalignment, bias).
        let own = sensor.acc_m * f + sensor.acc_bias;
        assert!((acc - own).norm() < 0.03, "read {acc:?}, expected {own:?}");
        assert!(acc.norm() > 0.93 * G && acc.norm() < 1.09 * G);
        let bias = sensor.bias_at(0.4);
        assert!(
            (gyr - bias).norm() < 0.6,
            "gyro {gyr:?} against bias {bias:?}"
        );
    }

    #[test]
    fn rep_counts_match_the_sets() {
        for seed in [1, 2] {
            let mut c = quick(Exercise::StandingCableAbduction, Placement::Ankle, seed);
            c.sets = 2;
            c.rest_min_s = 12.0;
            c.rest_max_s = 13.0;
            c.reps_min = 2;
            c.reps_max = 4;
            let (_, t) = TorqueSimulator::new(&c).unwrap();
            assert_eq!(t.sets.len(), 2);
            for s in &t.sets {
                assert!((2..=4).contains(&s.rep_count));
                assert_eq!(s.rep_count, s.reps.len());
                for r in &s.reps {
                    assert!(r.start_s < r.end_s && r.peak_deg > 5.0, "{r:?}");
                }
            }
            assert!(t.duration_s > t.sets[1].end_s);
        }
    }

    #[test]
    fn hip_hike_reps_hike() {
        let mut c = quick(Exercise::StandingCableAbduction, Placement::Pelvis, 11);
        c.compensations = vec![FlagKind::HipHike];
        c.compensation_rate = 1.0;
        let (_, t) = TorqueSimulator::new(&c).unwrap();
        let hikes: Vec<&TruthFlag> = t.sets[0].reps.iter().flat_map(|r| &r.flags).collect();
        assert!(!hikes.is_empty());
        for f in hikes {
            assert_eq!(f.kind, FlagKind::HipHike);
            assert!(f.value_deg >= 5.0, "{f:?}");
        }
    }

    #[test]
    fn sample_spacing_follows_the_rate() {
        for rate in [25.0, 400.0] {
            let mut c = quick(Exercise::HipHitch, Placement::Pelvis, 4);
            c.reps_min = 1;
            c.reps_max = 1;
            c.rate_hz = rate;
            c.drop_rate = 0.0;
            c.gaps_per_min = 0.0;
            let (sim, _) = TorqueSimulator::new(&c).unwrap();
            let s: Vec<Sample> = sim.collect();
            assert!(s.len() > 100);
            for w in s.windows(2) {
                assert!((w[1].t - w[0].t - 1.0 / rate).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn every_supported_pair_simulates() {
        for (ex, pl) in crate::source::sim::PAIRS {
            let mut c = quick(ex, pl, 7);
            c.reps_min = 1;
            c.reps_max = 2;
            let (sim, t) = TorqueSimulator::new(&c).unwrap();
            let s: Vec<Sample> = sim.collect();
            assert!(s.iter().all(|x| x.is_finite()), "{ex} {pl}");
            assert!(s.iter().all(|x| x.acc.norm() < 16.0 * G), "{ex} {pl}");
            assert!(!t.sets[0].reps.is_empty(), "{ex} {pl}");
        }
    }

    #[test]
    fn unsupported_pairs_are_refused() {
        for (ex, pl) in [
            (Exercise::HipHitch, Placement::Ankle),
            (Exercise::SeatedMachineAbduction, Placement::Pelvis),
            (Exercise::Clamshell, Placement::Ankle),
        ] {
            assert!(TorqueSimulator::new(&quick(ex, pl, 1)).is_err());
        }
    }
}
