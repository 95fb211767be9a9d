//! A thirty-first body model: movement made by active inference.
//!
//! The lifter sends no motor commands (Friston, Daunizeau, Kilner & Kiebel
//! 2010; Adams, Shipp & Friston 2013). Their brain holds a generative model:
//! hidden causes (the winner of a stable heteroclinic channel over the rep's
//! phases, Rabinovich, Huerta & Laurent 2008) set a desired configuration of
//! the hip and pelvis; beliefs about the body, in generalised coordinates
//! (position, velocity, acceleration), flow toward it and are corrected by
//! precision-weighted prediction errors of proprioception, vision of the
//! limb and the vestibular sense; delayed spinal reflex arcs move the body
//! to cancel the proprioceptive prediction error. The body is a small rigid
//! model (working hip abduction and flexion, pelvic obliquity about the
//! stance hip, whole-body lean about the stance foot, yaw) from
//! anthropometric tables, against gravity, the cable stack with pulley
//! friction, the band or pads, an ankle weight, body weight, and contacts.
//!
//! Precision is the knob: low proprioceptive precision makes weak, late
//! action (sluggish, undershooting reps); over-confident priors let the
//! belief run ahead until a surprise snaps it back (jerky corrections); a
//! wrong belief about the load makes the first reps of a set off until the
//! load belief is learnt from the error. A prime mover that tires leaves a
//! task error that other joints cancel: the quadratus lumborum hikes the hip,
//! the TFL drags the leg into flexion, the lifter swings, the stance glute
//! med lets the pelvis drop, the whole body rocks, the rep stops short. The
//! truth (reps, peaks, flags) is measured on the resulting curves.
//!
//! The sensor rides soft tissue on the shank or the sacrum; its angular rate
//! comes from the orientation's derivative, its specific force from the
//! position's second derivative plus gravity, then the owned sensors'
//! quantisation, bias, scale, noise, clock, BLE batches, drops and gaps.

use super::sim::{SimConfig, Truth, TruthFlag, TruthRep, TruthSet};
use super::{gauss, round3, rx, ry, rz, smoothstep, uni};
use crate::motion::FlagKind;
use crate::sample::STANDARD_GRAVITY;
use crate::{Exercise, Placement, Sample};
use nalgebra::{UnitQuaternion, Vector3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::f64::consts::PI;

const G: f64 = STANDARD_GRAVITY;
const D2R: f64 = PI / 180.0;
/// Degrees of freedom of the body: hip abduction, hip flexion, pelvic
/// obliquity (free side up +), whole-body lean (toward the free side +), yaw.
const NDOF: usize = 5;
const ABD: usize = 0;
const FLEX: usize = 1;
const OBL: usize = 2;
const LEAN: usize = 3;
const YAW: usize = 4;

/// Who the lifter is: the population sets their precisions, delays and habits.
#[derive(Debug, Clone)]
struct Lifter {
    population: &'static str,
    mass: f64,
    leg_len: f64,
    hip_half: f64,
    /// Reflex loop delay, s.
    delay: f64,
    /// Proprioceptive precision (1 = typical).
    pi_p: f64,
    /// Precision of prior beliefs about the movement (1 = typical).
    pi_prior: f64,
    /// Vestibular precision (balance loop).
    pi_vest: f64,
    /// Reflex noise, relative.
    reflex_noise: f64,
    /// Channel noise (log10): dwell at saddles scales with its log.
    chan_noise: f64,
    /// Concentric and eccentric times, s.
    t_up: f64,
    t_down: f64,
    /// Mean pause at the top and at the bottom, s.
    pause_top: f64,
    pause_bottom: f64,
    /// Working range, °.
    range: f64,
    /// Obliquity a clean rep carries with the leg, ° (free side up).
    clean_obl: f64,
    /// How much the lifter leans over the stance foot (0 = holds on firmly).
    lean_gain: f64,
    /// Fatigue per rep of the prime mover.
    fatigue_rate: f64,
    /// Error of the believed load at the first set (fraction).
    load_belief_err: f64,
}

impl Lifter {
    fn draw(rng: &mut ChaCha8Rng) -> Lifter {
        let pops = [
            ("gym-goer", 0.34),
            ("rehab patient", 0.14),
            ("older adult", 0.12),
            ("athlete", 0.14),
            ("beginner", 0.16),
            ("poor proprioception", 0.10),
        ];
        let mut u = rng.gen::<f64>();
        let mut population = pops[0].0;
        for (p, w) in pops {
            if u < w {
                population = p;
                break;
            }
            u -= w;
        }
        let height = uni(rng, 1.55, 1.95);
        let mass = (22.0 + 3.0 * gauss(rng)).clamp(17.0, 32.0) * height * height;
        let (pi_p, pi_prior, delay, noise, tempo, range, fat) = match population {
            "rehab patient" => (
                uni(rng, 0.5, 0.9),
                uni(rng, 0.8, 1.4),
                uni(rng, 0.035, 0.06),
                1.4,
                1.3,
                uni(rng, 22.0, 34.0),
                1.6,
            ),
            "older adult" => (
                uni(rng, 0.45, 0.85),
                uni(rng, 1.0, 1.8),
                uni(rng, 0.04, 0.06),
                1.5,
                1.25,
                uni(rng, 22.0, 36.0),
                1.3,
            ),
            "athlete" => (
                uni(rng, 1.1, 1.6),
                uni(rng, 0.8, 1.2),
                uni(rng, 0.025, 0.035),
                0.7,
                0.85,
                uni(rng, 32.0, 48.0),
                0.7,
            ),
            "beginner" => (
                uni(rng, 0.7, 1.1),
                uni(rng, 1.2, 2.4),
                uni(rng, 0.03, 0.045),
                1.2,
                0.95,
                uni(rng, 24.0, 42.0),
                1.2,
            ),
            "poor proprioception" => (
                uni(rng, 0.3, 0.6),
                uni(rng, 0.9, 1.6),
                uni(rng, 0.035, 0.055),
                1.3,
                1.1,
                uni(rng, 24.0, 40.0),
                1.1,
            ),
            _ => (
                uni(rng, 0.8, 1.3),
                uni(rng, 0.8, 1.5),
                uni(rng, 0.028, 0.045),
                1.0,
                1.0,
                uni(rng, 26.0, 45.0),
                1.0,
            ),
        };
        Lifter {
            population,
            mass,
            leg_len: 0.53 * height,
            hip_half: 0.09 * height / 1.75,
            delay,
            pi_p,
            pi_prior,
            pi_vest: uni(rng, 0.6, 1.3),
            reflex_noise: noise * uni(rng, 0.7, 1.3),
            chan_noise: uni(rng, -4.0, -1.8),
            t_up: tempo * uni(rng, 0.6, 1.3),
            t_down: tempo * uni(rng, 0.9, 2.2),
            pause_top: uni(rng, 0.05, 1.0),
            pause_bottom: uni(rng, 0.05, 0.9),
            range,
            clean_obl: uni(rng, 0.4, 2.8),
            lean_gain: uni(rng, 0.0, 1.0),
            fatigue_rate: fat * uni(rng, 0.006, 0.02),
            load_belief_err: 0.3 * gauss(rng),
        }
    }
}

/// The stable heteroclinic channel: Lotka–Volterra winnerless competition
/// between phase nodes, each with its own time scale. Node `i` lets `i+1`
/// grow (weak inhibition) and holds the others down; a gate holds a node
/// until the belief has got where it was going.
#[derive(Debug, Clone)]
struct Channel {
    x: Vec<f64>,
    nu: Vec<f64>,
    sigma: f64,
}

impl Channel {
    fn new(n: usize, sigma: f64) -> Channel {
        let mut x = vec![1e-6; n];
        x[0] = 1.0;
        Channel {
            x,
            nu: vec![4.0; n],
            sigma,
        }
    }

    fn winner(&self) -> usize {
        let mut w = 0;
        for i in 1..self.x.len() {
            if self.x[i] > self.x[w] {
                w = i;
            }
        }
        w
    }

    /// One step; `open[i]` says whether node `i` may hand over to the next.
    fn step(&mut self, dt: f64, open: &[bool], rng: &mut ChaCha8Rng) {
        let n = self.x.len();
        let w = self.winner();
        let speed = self.nu[w];
        let old = self.x.clone();
        for i in 0..n {
            let mut inhib = 0.0;
            for (j, &xj) in old.iter().enumerate() {
                let rho = if i == j {
                    1.0
                } else if i == (j + 1) % n {
                    if open[j] {
                        0.5
                    } else {
                        1.2
                    }
                } else {
                    2.0
                };
                inhib += rho * xj;
            }
            let dx = old[i] * (1.0 - inhib) * speed;
            let xi = old[i] + dt * dx + self.sigma * (dt * speed).sqrt() * gauss(rng).abs();
            self.x[i] = xi.clamp(1e-9, 1.5);
        }
    }

    /// A strong perturbation: node `k` takes over.
    fn kick(&mut self, k: usize) {
        for v in self.x.iter_mut() {
            *v *= 0.05;
        }
        self.x[k] = 1.0;
    }
}

/// What the lifter is doing (the hidden cause's context).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Activity {
    /// Standing, lying or sitting still in the exercise posture.
    Still,
    /// Reps of a set.
    Set,
    /// Walking (flexion swings, heading changes).
    Walk,
    /// A non-rep movement of the leg (fidget, strap, step, given-up start).
    Fidget,
}

/// A compensation the lifter falls into on a rep.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Episode {
    kind: FlagKind,
    size: f64,
}

/// Exercise geometry and loads.
#[derive(Debug, Clone)]
struct Rig {
    /// Torque of the load against abduction at the top, N·m (stack, band, pads).
    load: f64,
    /// Band stiffness, N·m/rad (band or machine spring).
    band: f64,
    /// Pulley friction as a share of the stack weight.
    friction: f64,
    /// Effective inertia the stack adds, kg·m².
    stack_inertia: f64,
    /// Ankle weight, kg.
    ankle_weight: f64,
}

/// One frame of the body (all the kinematics needs).
#[derive(Debug, Clone, Copy)]
struct Frame {
    q: [f64; NDOF],
    heading: f64,
    /// 0 in the exercise posture, 1 standing upright (side-lying, seated: getting up).
    up: f64,
    /// Walking: distance along the path, m, and gait phase, rad.
    walk_x: f64,
    walk_z: f64,
    gait: f64,
    gait_amp: f64,
}

struct Body {
    ex: Exercise,
    sw: f64,
    sf: f64,
    lifter: Lifter,
    inertia: [f64; NDOF],
    kp: [f64; NDOF],
    kd: [f64; NDOF],
}

impl Body {
    /// External torque on each DOF (gravity, load, contacts), from a state
    /// `q`, `v`, with `load_scale` the load (true, or believed).
    fn external(
        &self,
        rig: &Rig,
        q: &[f64; NDOF],
        v: &[f64; NDOF],
        load_scale: f64,
        up: f64,
    ) -> [f64; NDOF] {
        let l = &self.lifter;
        let m_leg = 0.161 * l.mass;
        let d = 0.42 * l.leg_len;
        let la = 0.9 * l.leg_len;
        let mut t = [0.0; NDOF];
        let world = q[ABD] + q[OBL] + q[LEAN];
        let aw = rig.ankle_weight * G * la;
        match self.ex {
            Exercise::SideLyingAbduction if up < 0.5 => {
                t[ABD] = -(m_leg * G * d + aw) * world.cos();
                if q[ABD] < -0.05 {
                    t[ABD] += 900.0 * (-0.05 - q[ABD]) - 30.0 * v[ABD].min(0.0);
                }
                t[OBL] = -40.0 * q[OBL];
                t[LEAN] = -250.0 * q[LEAN] - 20.0 * v[LEAN];
                t[FLEX] = -0.0;
            }
            Exercise::SeatedMachineAbduction if up < 0.5 => {
                t[ABD] = -rig.band * q[ABD];
                if q[ABD] < 0.0 {
                    t[ABD] += 1500.0 * (-q[ABD]) - 40.0 * v[ABD].min(0.0);
                } else {
                    let fr = rig.friction * rig.load * (v[ABD] / 0.05).tanh();
                    t[ABD] -= load_scale * (rig.load + fr);
                }
                t[OBL] = -300.0 * q[OBL];
                t[LEAN] = -300.0 * q[LEAN] - 20.0 * v[LEAN];
            }
            _ => {
                // Standing on one leg (or walking): the leg hangs, the
                // pelvis is pulled down on the free side about the stance hip,
                // the body is an inverted pendulum over the stance foot.
                t[ABD] = -(m_leg * G * d + aw) * world.sin();
                if self.ex == Exercise::StandingCableAbduction && up < 0.5 {
                    let fr = rig.friction * rig.load * (v[ABD] / 0.05).tanh();
                    t[ABD] -= load_scale * (rig.load + fr) * (1.0 - 0.3 * q[ABD].sin());
                }
                if q[ABD] < -0.12 {
                    t[ABD] += 800.0 * (-0.12 - q[ABD]);
                }
                t[FLEX] = -(m_leg * G * d) * q[FLEX].sin();
                let single = if up < 0.5 || self.ex == Exercise::HipHitch {
                    1.0
                } else {
                    0.3
                };
                t[OBL] = -single * G * (m_leg * 2.0 * l.hip_half + 0.02 * l.mass) * q[OBL].cos()
                    - 30.0 * q[OBL];
                let h = 0.95;
                t[LEAN] = l.mass * G * h * q[LEAN].sin() + m_leg * G * d * q[ABD].sin();
            }
        }
        t[YAW] = -60.0 * q[YAW];
        t
    }
}

/// A rep being tracked for the truth.
#[derive(Debug, Clone)]
struct RepLog {
    meant: bool,
    t0: f64,
    episode: Option<Episode>,
}

/// Samples of the measured curves kept for the truth.
#[derive(Debug, Clone, Copy)]
struct Trace {
    t: f64,
    /// Rotation of the working shank from its rest orientation, ° (ankle peak).
    shank_deg: f64,
    /// The prime mover's task angle, ° (leg angle or obliquity drop).
    task: f64,
    /// Pelvis roll (free side up), °.
    roll: f64,
    flex: f64,
    speed: f64,
}

/// The simulated session, streamed.
pub struct InferSimulator {
    samples: std::vec::IntoIter<Sample>,
}

impl Iterator for InferSimulator {
    type Item = Sample;
    fn next(&mut self) -> Option<Sample> {
        self.samples.next()
    }
}

struct Sensor {
    mount: UnitQuaternion<f64>,
    lever: Vector3<f64>,
    acc_lsb: f64,
    gyr_lsb: f64,
    acc_range: f64,
    gyr_range: f64,
    bias: Vector3<f64>,
    bias_walk: f64,
    scale: Vector3<f64>,
    cross: f64,
    acc_sd: f64,
    gyr_sd: f64,
    skew: f64,
    batch: usize,
    host_stamps: bool,
    name: &'static str,
}

impl Sensor {
    fn draw(cfg: &SimConfig, rng: &mut ChaCha8Rng) -> Sensor {
        let kind = rng.gen_range(0..4);
        let (name, acc_lsb, gyr_lsb, acc_range, gyr_range, batch) = match kind {
            0 => (
                "WitMotion WT901BLE",
                16.0 * G / 32768.0,
                2000.0 / 32768.0,
                16.0 * G,
                2000.0,
                5,
            ),
            1 => ("Thingy:52", G / 1024.0, 1.0 / 32.0, 8.0 * G, 1000.0, 3),
            2 => (
                "MetaMotion",
                8.0 * G / 32768.0,
                2000.0 / 32768.0,
                8.0 * G,
                2000.0,
                4,
            ),
            _ => (
                "medius firmware",
                4.0 * G / 32768.0,
                500.0 / 32768.0,
                4.0 * G,
                500.0,
                8,
            ),
        };
        let mount = if cfg.random_mounting {
            match cfg.placement {
                Placement::Ankle => {
                    let axis = Vector3::new(gauss(rng), gauss(rng), gauss(rng));
                    UnitQuaternion::from_scaled_axis(axis.normalize() * uni(rng, 0.0, PI))
                }
                Placement::Pelvis => {
                    rx(uni(rng, -15.0, 15.0) * D2R)
                        * rz(uni(rng, -10.0, 10.0) * D2R)
                        * ry(uni(rng, -10.0, 10.0) * D2R)
                }
            }
        } else {
            rx(uni(rng, -2.0, 2.0) * D2R) * rz(uni(rng, -2.0, 2.0) * D2R)
        };
        let b = cfg.gyro_bias_dps;
        Sensor {
            mount,
            lever: Vector3::zeros(),
            acc_lsb,
            gyr_lsb,
            acc_range,
            gyr_range,
            bias: Vector3::new(uni(rng, -b, b), uni(rng, -b, b), uni(rng, -b, b)),
            bias_walk: 0.01 * cfg.noise,
            scale: Vector3::new(
                1.0 + 0.01 * gauss(rng),
                1.0 + 0.01 * gauss(rng),
                1.0 + 0.01 * gauss(rng),
            ),
            cross: 0.005 * gauss(rng),
            acc_sd: 0.025 * cfg.noise * (cfg.rate_hz / 100.0).sqrt(),
            gyr_sd: 0.12 * cfg.noise * (cfg.rate_hz / 100.0).sqrt(),
            skew: 40e-6 * gauss(rng),
            batch,
            host_stamps: rng.gen_bool(0.3),
            name,
        }
    }
}

/// The whole session's plan: what happens when.
#[derive(Debug, Clone)]
enum Block {
    Still(f64),
    Walk(f64),
    Fidget(&'static str),
    /// Getting into (false) or out of (true) the exercise posture.
    Posture(bool),
    Set {
        reps: usize,
        load: f64,
        drop_at: Option<usize>,
    },
    OtherLeg(f64),
}

impl InferSimulator {
    /// Builds the session for `cfg`: the sample stream and its truth.
    pub fn new(cfg: &SimConfig) -> Result<(Self, Truth), String> {
        cfg.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x1f3e_7a11_0c0f_fee5);
        let lifter = Lifter::draw(&mut rng);
        let visible = cfg.visible_compensations();
        let ex = cfg.exercise;
        let sw = cfg.side.sign();
        let sf = ex.free_side(cfg.side).sign();
        let m_leg = 0.161 * lifter.mass;
        let rg = 0.5 * lifter.leg_len;
        let rig = match ex {
            Exercise::StandingCableAbduction => {
                let stack = uni(&mut rng, 2.5, 12.0);
                Rig {
                    load: stack * G * 0.9 * lifter.leg_len * 0.35,
                    band: 0.0,
                    friction: uni(&mut rng, 0.05, 0.2),
                    stack_inertia: stack * (0.9 * lifter.leg_len).powi(2) * 0.12,
                    ankle_weight: 0.0,
                }
            }
            Exercise::SideLyingAbduction => Rig {
                load: 0.0,
                band: 0.0,
                friction: 0.0,
                stack_inertia: 0.0,
                ankle_weight: if rng.gen_bool(0.4) {
                    uni(&mut rng, 0.5, 3.0)
                } else {
                    0.0
                },
            },
            Exercise::SeatedMachineAbduction => Rig {
                load: uni(&mut rng, 20.0, 60.0),
                band: uni(&mut rng, 10.0, 40.0),
                friction: uni(&mut rng, 0.05, 0.15),
                stack_inertia: uni(&mut rng, 0.5, 1.5),
                ankle_weight: 0.0,
            },
            _ => Rig {
                load: 0.0,
                band: 0.0,
                friction: 0.0,
                stack_inertia: 0.0,
                ankle_weight: 0.0,
            },
        };
        let i_leg =
            m_leg * rg * rg + rig.stack_inertia + rig.ankle_weight * (0.9 * lifter.leg_len).powi(2);
        let inertia = [i_leg, m_leg * rg * rg, 1.2, lifter.mass * 0.9, 1.5];
        let freqs = [2.4, 2.0, 2.6, 1.1, 1.6];
        let mut kp = [0.0; NDOF];
        let mut kd = [0.0; NDOF];
        for i in 0..NDOF {
            let w = 2.0 * PI * freqs[i];
            kp[i] = inertia[i] * w * w;
            kd[i] = 2.0 * 0.75 * inertia[i] * w;
        }
        // The balance loop over the foot needs to beat gravity.
        kp[LEAN] += lifter.mass * G * 0.95;
        let body = Body {
            ex,
            sw,
            sf,
            lifter: lifter.clone(),
            inertia,
            kp,
            kd,
        };
        let mut sensor = Sensor::draw(cfg, &mut rng);
        let lever = match cfg.placement {
            Placement::Ankle => Vector3::new(sw * 0.045, 0.0, 0.0),
            Placement::Pelvis => Vector3::new(0.0, 0.0, 0.11),
        };
        sensor.lever = lever;

        // The programme.
        let mut plan = Vec::new();
        let lead = cfg.lead_in_s.unwrap_or_else(|| uni(&mut rng, 0.5, 3.0));
        let lying_or_seated = matches!(
            ex,
            Exercise::SideLyingAbduction | Exercise::SeatedMachineAbduction
        );
        plan.push(Block::Still(lead.max(0.3)));
        let mut fails = Vec::new();
        for s in 0..cfg.sets {
            let mut reps = rng.gen_range(cfg.reps_min..=cfg.reps_max);
            let warm = s == 0 && cfg.sets > 2;
            let back_off = s + 1 == cfg.sets && cfg.sets > 2;
            let load = if warm {
                uni(&mut rng, 0.5, 0.75)
            } else if back_off {
                uni(&mut rng, 0.7, 0.9)
            } else {
                1.0
            };
            let drop_at = if !warm && rig.load > 0.0 && reps >= 6 && rng.gen_bool(0.12) {
                Some(reps * 2 / 3)
            } else {
                None
            };
            if !warm && reps > 3 && rng.gen_bool(0.06) {
                let short = rng.gen_range(1..=2.min(reps - 1));
                reps -= short;
                fails.push(s);
            }
            plan.push(Block::Set {
                reps,
                load,
                drop_at,
            });
            if s + 1 < cfg.sets {
                let rest = uni(&mut rng, cfg.rest_min_s, cfg.rest_max_s) * uni(&mut rng, 0.9, 1.15);
                let mut left = rest.max(cfg.rest_min_s);
                plan.push(Block::Still(uni(&mut rng, 2.5, 5.0)));
                left -= 4.0;
                if lying_or_seated && (cfg.walking || rng.gen_bool(0.5)) {
                    plan.push(Block::Posture(true));
                    left -= 3.0;
                }
                if cfg.fidgets {
                    let what = ["fidget", "re-strap", "phone", "step", "given-up start"];
                    let k = rng.gen_range(1..=3);
                    for _ in 0..k {
                        let w = what[rng.gen_range(0..what.len())];
                        plan.push(Block::Fidget(w));
                        let st = uni(&mut rng, 2.0, 6.0);
                        plan.push(Block::Still(st));
                        left -= st + 3.0;
                    }
                }
                if cfg.placement == Placement::Ankle && rng.gen_bool(0.3) && left > 40.0 {
                    let d = uni(&mut rng, 25.0, 35.0);
                    plan.push(Block::OtherLeg(d));
                    left -= d;
                }
                if cfg.walking {
                    let d = uni(&mut rng, 6.0, 14.0);
                    plan.push(Block::Walk(d));
                    left -= d;
                }
                plan.push(Block::Still(left.max(3.0) - 3.0));
                if lying_or_seated
                    && matches!(
                        plan.iter().rev().find(|b| matches!(b, Block::Posture(_))),
                        Some(Block::Posture(true))
                    )
                {
                    plan.push(Block::Posture(false));
                }
                plan.push(Block::Still(uni(&mut rng, 1.5, 4.0)));
            }
        }
        plan.push(Block::Still(uni(&mut rng, 1.0, 5.0)));

        let mut sim = Run::new(cfg, body, rig, sensor, visible, &mut rng);
        for b in &plan {
            sim.block(b, &mut rng);
        }
        for s in &fails {
            sim.distractions.push(format!(
                "set {} ended at failure, short of the planned reps",
                s + 1
            ));
        }
        sim.distractions.push(format!(
            "lifter: {}; sensor: {}",
            sim.body.lifter.population, sim.sensor.name
        ));
        let duration = sim.t;
        let samples = sim.finish(&mut rng);
        let truth = Truth {
            config: cfg.clone(),
            duration_s: round3(duration),
            distractions: sim.distractions.clone(),
            sets: sim.sets.clone(),
        };
        Ok((
            InferSimulator {
                samples: samples.into_iter(),
            },
            truth,
        ))
    }
}

/// Changes to the lifter's generative model and reflexes for one rep.
#[derive(Debug, Clone, Copy)]
struct Mods {
    /// Gain of the prime mover's reflex arc (fatigue, episodes).
    prime_gain: f64,
    /// Proprioceptive precision multiplier (attention, pain).
    precision: f64,
    /// Range the lifter predicts, share of their working range.
    target_scale: f64,
    /// Concentric and eccentric speed multipliers.
    up_speed: f64,
    down_speed: f64,
    /// Habitual obliquity and flexion with the leg (°, at the top).
    obl_habit: f64,
    flex_habit: f64,
    /// Helpers cancelling the task error: quadratus lumborum, TFL.
    hike_help: f64,
    tfl_help: f64,
    /// Whole-body rocking the lifter predicts (°).
    rock: f64,
    /// Hitch only: overshoot above level on the return (°).
    overshoot: f64,
}

impl Mods {
    fn clean() -> Mods {
        Mods {
            prime_gain: 1.0,
            precision: 1.0,
            target_scale: 1.0,
            up_speed: 1.0,
            down_speed: 1.0,
            obl_habit: 0.0,
            flex_habit: 0.0,
            hike_help: 0.15,
            tfl_help: 0.1,
            rock: 0.0,
            overshoot: 0.0,
        }
    }
}

struct Run<'a> {
    cfg: &'a SimConfig,
    body: Body,
    rig: Rig,
    sensor: Sensor,
    visible: Vec<FlagKind>,
    dt: f64,
    t: f64,
    step_i: u64,
    q: [f64; NDOF],
    v: [f64; NDOF],
    mu: [f64; NDOF],
    mu_v: [f64; NDOF],
    mu_a: [f64; NDOF],
    noise: [f64; NDOF],
    surprise: f64,
    hist: Vec<([f64; NDOF], [f64; NDOF])>,
    load_scale: f64,
    load_belief: f64,
    fatigue: f64,
    frame: Frame,
    wob: Vector3<f64>,
    wob_v: Vector3<f64>,
    prev_seg_w: Vector3<f64>,
    prev_seg_q: Option<UnitQuaternion<f64>>,
    ring: Vec<(f64, UnitQuaternion<f64>, Vector3<f64>)>,
    out_k: u64,
    raw: Vec<Sample>,
    trace: Vec<Trace>,
    rest_shank: UnitQuaternion<f64>,
    rest_roll: f64,
    sets: Vec<TruthSet>,
    distractions: Vec<String>,
    activity: Activity,
    sets_done: usize,
}

impl<'a> Run<'a> {
    fn new(
        cfg: &'a SimConfig,
        body: Body,
        rig: Rig,
        sensor: Sensor,
        visible: Vec<FlagKind>,
        rng: &mut ChaCha8Rng,
    ) -> Run<'a> {
        let out_dt = 1.0 / cfg.rate_hz;
        let dt = out_dt / (out_dt / 0.002).ceil();
        let delay_steps = ((body.lifter.delay / dt).round() as usize).max(1);
        let rest_abd = match cfg.exercise {
            Exercise::SideLyingAbduction => -0.03,
            _ => 0.0,
        };
        let mut q = [0.0; NDOF];
        q[ABD] = rest_abd;
        let up = 0.0;
        let load_belief = 1.0 + body.lifter.load_belief_err;
        let _ = rng;
        Run {
            cfg,
            body,
            rig,
            sensor,
            visible,
            dt,
            t: 0.0,
            step_i: 0,
            q,
            v: [0.0; NDOF],
            mu: q,
            mu_v: [0.0; NDOF],
            mu_a: [0.0; NDOF],
            noise: [0.0; NDOF],
            surprise: 0.0,
            hist: vec![(q, [0.0; NDOF]); delay_steps + 1],
            load_scale: 1.0,
            load_belief,
            fatigue: 0.0,
            frame: Frame {
                q,
                heading: 0.0,
                up,
                walk_x: 0.0,
                walk_z: 0.0,
                gait: 0.0,
                gait_amp: 0.0,
            },
            wob: Vector3::zeros(),
            wob_v: Vector3::zeros(),
            prev_seg_w: Vector3::zeros(),
            prev_seg_q: None,
            ring: Vec::with_capacity(5),
            out_k: 0,
            raw: Vec::new(),
            trace: Vec::new(),
            rest_shank: UnitQuaternion::identity(),
            rest_roll: 0.0,
            sets: Vec::new(),
            distractions: Vec::new(),
            activity: Activity::Still,
            sets_done: 0,
        }
    }

    /// The prime mover's DOF and the sign of its rep direction.
    fn prime(&self) -> (usize, f64) {
        if self.cfg.exercise == Exercise::HipHitch {
            (OBL, -1.0)
        } else {
            (ABD, 1.0)
        }
    }

    /// The lifter's resting configuration in the current posture.
    fn rest_target(&self) -> [f64; NDOF] {
        let mut r = [0.0; NDOF];
        if self.cfg.exercise == Exercise::SideLyingAbduction && self.frame.up < 0.5 {
            r[ABD] = -0.03;
        }
        r
    }

    /// One integration step: beliefs flow toward `eta` at speed `omega`,
    /// corrected by precision-weighted prediction errors; reflex arcs act on
    /// the delayed proprioceptive error; the body moves.
    fn step(&mut self, eta: &[f64; NDOF], omega: &[f64; NDOF], m: &Mods, rng: &mut ChaCha8Rng) {
        let dt = self.dt;
        let l = &self.body.lifter;
        let (s_d, v_d) = self.hist[(self.step_i as usize) % self.hist.len()];
        let pi_p = l.pi_p * m.precision;
        let k_perc = 8.0 * pi_p / (pi_p + l.pi_prior);
        // Beliefs in generalised coordinates: a critically damped
        // third-order flow to the hidden cause's configuration.
        for i in 0..NDOF {
            let w = omega[i];
            let jerk = w * w * w * (eta[i] - self.mu[i])
                - 3.0 * w * w * self.mu_v[i]
                - 3.0 * w * self.mu_a[i];
            self.mu_a[i] += dt * jerk;
            self.mu_v[i] += dt * (self.mu_a[i] + k_perc * (v_d[i] - self.mu_v[i]) * 0.3);
            self.mu[i] += dt * (self.mu_v[i] + k_perc * (s_d[i] - self.mu[i]));
        }
        // Over-confident priors: the belief runs ahead until the surprise
        // (precision-weighted squared error) forces a jerky re-estimate.
        let (pd, _) = self.prime();
        let e = s_d[pd] - self.mu[pd];
        self.surprise = self.surprise * (1.0 - dt / 0.3) + dt * pi_p * e * e * 400.0;
        if self.surprise > 1.5 * l.pi_prior {
            self.mu[pd] = s_d[pd] + 0.4 * (self.mu[pd] - s_d[pd]);
            self.mu_v[pd] = v_d[pd];
            self.surprise = 0.0;
        }
        // Action: reflex arcs cancel the proprioceptive prediction error,
        // on top of the expected load (with the believed load).
        let expect = self.body.external(
            &self.rig,
            &s_d,
            &v_d,
            self.load_belief * self.load_scale,
            self.frame.up,
        );
        let truth = self
            .body
            .external(&self.rig, &self.q, &self.v, self.load_scale, self.frame.up);
        let task_err = (self.mu[pd] - s_d[pd]) * if pd == OBL { -1.0 } else { 1.0 };
        let helper = task_err.max(0.0);
        let mut tau = [0.0; NDOF];
        for i in 0..NDOF {
            let mut target = self.mu[i];
            let mut gain = pi_p.sqrt();
            if i == pd {
                gain *= m.prime_gain * (1.0 - self.fatigue).max(0.3);
            }
            if i == OBL && pd == ABD {
                target += m.hike_help * helper;
            }
            if i == FLEX {
                target += m.tfl_help * helper;
            }
            if i == LEAN {
                gain = l.pi_vest.sqrt();
            }
            let fb = gain
                * (self.body.kp[i] * (target - s_d[i]) + self.body.kd[i] * (self.mu_v[i] - v_d[i]));
            let ff = -expect[i];
            let sd = l.reflex_noise * (0.3 + 0.02 * (fb + ff).abs());
            self.noise[i] +=
                -dt / 0.04 * self.noise[i] + sd * (2.0 * dt / 0.04).sqrt() * gauss(rng);
            tau[i] = ff + fb + self.noise[i];
        }
        if pd == ABD {
            tau[ABD] += m.tfl_help * helper * self.body.kp[ABD] * 0.3;
        }
        for i in 0..NDOF {
            let acc =
                (tau[i] + truth[i] - 0.05 * self.body.kd[i] * self.v[i]) / self.body.inertia[i];
            self.v[i] += dt * acc;
            self.q[i] += dt * self.v[i];
        }
        if self.activity == Activity::Set {
            let work = (tau[pd].abs() / 60.0).min(2.0);
            self.fatigue += dt * l.fatigue_rate * work * 0.4;
        } else {
            self.fatigue *= 1.0 - dt / 40.0;
        }
        self.fatigue = self.fatigue.clamp(0.0, 0.6);
        let idx = (self.step_i as usize) % self.hist.len();
        self.hist[idx] = (self.q, self.v);
        self.step_i += 1;
        self.t += dt;
        self.frame.q = self.q;
        if self.frame.gait_amp > 0.0 {
            self.frame.gait += dt * 2.0 * PI * 0.9;
        }
        self.emit();
    }

    /// Pose of the posture frame (standing, lying or seated) and the pelvis.
    fn pelvis(&self, f: &Frame) -> (UnitQuaternion<f64>, Vector3<f64>) {
        let b = &self.body;
        let l = &b.lifter;
        let stand = ry(f.heading);
        let (ex_r, ex_h) = match b.ex {
            Exercise::SideLyingAbduction => (ry(f.heading) * rz(b.sw * PI / 2.0), 0.16),
            Exercise::SeatedMachineAbduction => (ry(f.heading) * rx(-0.15), 0.52),
            _ => (stand, 0.95),
        };
        let s = smoothstep(f.up);
        let post = ex_r.slerp(&stand, s);
        let h = ex_h + (0.95 - ex_h) * s;
        let gait_roll = 0.06 * f.gait_amp * f.gait.sin();
        let bob = 0.02 * f.gait_amp * (2.0 * f.gait).cos();
        let r = post
            * ry(f.q[YAW])
            * rz(b.sf * (f.q[OBL] + f.q[LEAN]) + gait_roll)
            * rx(-0.12 * f.q[FLEX]);
        let p = Vector3::new(f.walk_x, h + bob, f.walk_z)
            + post
                * Vector3::new(
                    b.sf * 0.95 * f.q[LEAN].sin(),
                    l.hip_half * f.q[OBL].sin(),
                    0.0,
                );
        (r, p)
    }

    /// Pose of the working shank (sensor segment without the mounting).
    fn shank(&self, f: &Frame) -> (UnitQuaternion<f64>, Vector3<f64>) {
        let b = &self.body;
        let l = &b.lifter;
        let (rp, pp) = self.pelvis(f);
        let hip = pp + rp * Vector3::new(b.sw * l.hip_half, 0.0, 0.0);
        let leg = rp * rx(f.q[FLEX]) * rz(b.sw * f.q[ABD]);
        let pos = hip + leg * Vector3::new(0.0, -0.88 * l.leg_len, 0.0);
        if b.ex == Exercise::SeatedMachineAbduction && f.up < 1.0 {
            let a = f.q[ABD];
            let yaw = ry(f.heading) * ry(-b.sw * a);
            let knee = hip + yaw * Vector3::new(0.0, 0.0, -0.46 * l.leg_len);
            let sh = yaw * rz(-b.sw * 0.3 * a) * rx(0.05 * f.q[FLEX]);
            let spos = knee + sh * Vector3::new(0.0, -0.3, 0.0);
            let s = smoothstep(f.up);
            return (sh.slerp(&leg, s), spos + (pos - spos) * s);
        }
        (leg, pos)
    }

    /// The sensor's segment pose in the world.
    fn sensor_pose(&self, f: &Frame) -> (UnitQuaternion<f64>, Vector3<f64>) {
        let (r, p) = match self.cfg.placement {
            Placement::Ankle => self.shank(f),
            Placement::Pelvis => self.pelvis(f),
        };
        let soft = UnitQuaternion::from_scaled_axis(self.wob);
        let rs = r * soft;
        (rs * self.sensor.mount, p + rs * self.sensor.lever)
    }

    /// Soft tissue and strap: a damped rotation driven by the segment's
    /// angular acceleration; then the ideal sample at the ring's centre.
    fn emit(&mut self) {
        let dt = self.dt;
        let (seg, _) = match self.cfg.placement {
            Placement::Ankle => self.shank(&self.frame),
            Placement::Pelvis => self.pelvis(&self.frame),
        };
        if let Some(prev) = self.prev_seg_q {
            let w = (prev.inverse() * seg).scaled_axis() / dt;
            let alpha = (w - self.prev_seg_w) / dt;
            self.prev_seg_w = w;
            let wn = 2.0 * PI * 14.0;
            let acc = -wn * wn * self.wob - 2.0 * 0.3 * wn * self.wob_v - 0.02 * alpha;
            self.wob_v += dt * acc;
            self.wob += dt * self.wob_v;
        }
        self.prev_seg_q = Some(seg);
        let (r, p) = self.sensor_pose(&self.frame);
        self.ring.push((self.t, r, p));
        if self.ring.len() > 5 {
            self.ring.remove(0);
        }
        if self.ring.len() == 5 {
            let tc = self.ring[2].0;
            let tk = self.out_k as f64 / self.cfg.rate_hz;
            if tc + dt * 0.5 >= tk {
                let h = self.ring[4].0 - self.ring[0].0;
                let (r0, p0) = (self.ring[0].1, self.ring[0].2);
                let (r2, p2) = (self.ring[2].1, self.ring[2].2);
                let (r4, p4) = (self.ring[4].1, self.ring[4].2);
                let w = (r0.inverse() * r4).scaled_axis() / h;
                let a = (p4 - 2.0 * p2 + p0) / (h * h / 4.0) + Vector3::new(0.0, G, 0.0);
                let f = r2.inverse() * a;
                self.raw.push(Sample {
                    t: tc,
                    acc: f,
                    gyr: w / D2R,
                });
                self.out_k += 1;
            }
        }
        if self.step_i.is_multiple_of(5) {
            let (rs, _) = self.shank(&self.frame);
            let shank_deg = (self.rest_shank.inverse() * rs).angle() / D2R;
            let (pd, sign) = self.prime();
            self.trace.push(Trace {
                t: self.t,
                shank_deg,
                task: sign * self.q[pd] / D2R,
                roll: (self.q[OBL] + self.q[LEAN]) / D2R - self.rest_roll,
                flex: self.q[FLEX] / D2R,
                speed: self.v[pd].abs() / D2R,
            });
        }
    }

    /// Holds still for `d` s (postural sway only).
    fn still(&mut self, d: f64, rng: &mut ChaCha8Rng) {
        let n = (d / self.dt).round() as usize;
        let m = Mods::clean();
        let mut eta = self.rest_target();
        let mut omega = [6.0; NDOF];
        omega[LEAN] = 3.0;
        let mut sway = [0.0f64; 2];
        for k in 0..n {
            if k % 50 == 0 {
                sway[0] = 0.7 * sway[0] + 0.3 * gauss(rng) * 0.6 * D2R;
                sway[1] = 0.7 * sway[1] + 0.3 * gauss(rng) * 1.0 * D2R;
                eta[LEAN] = sway[0];
                eta[YAW] = sway[1];
            }
            self.step(&eta, &omega, &m, rng);
        }
    }

    fn block(&mut self, b: &Block, rng: &mut ChaCha8Rng) {
        match *b {
            Block::Still(d) => {
                self.activity = Activity::Still;
                self.still(d, rng)
            }
            Block::Walk(d) => self.walk(d, rng),
            Block::Posture(up) => self.posture(up, rng),
            Block::Fidget(what) => self.fidget(what, rng),
            Block::OtherLeg(d) => self.other_leg(d, rng),
            Block::Set {
                reps,
                load,
                drop_at,
            } => self.set(reps, load, drop_at, rng),
        }
    }

    fn posture(&mut self, up: bool, rng: &mut ChaCha8Rng) {
        let t0 = self.t;
        let n = (3.0 / self.dt) as usize;
        let from = self.frame.up;
        let to = if up { 1.0 } else { 0.0 };
        let m = Mods::clean();
        let eta = [0.0; NDOF];
        let omega = [5.0; NDOF];
        for k in 0..n {
            self.frame.up = from + (to - from) * (k as f64 / n as f64);
            self.step(&eta, &omega, &m, rng);
        }
        self.frame.up = to;
        self.distractions.push(format!(
            "{} at {:.1} s",
            if up {
                "getting up"
            } else {
                "getting back into position"
            },
            t0
        ));
    }

    fn walk(&mut self, d: f64, rng: &mut ChaCha8Rng) {
        self.activity = Activity::Walk;
        let t0 = self.t;
        let was = self.frame.up;
        self.frame.up = 1.0;
        let n = (d / self.dt) as usize;
        let m = Mods::clean();
        let omega = [8.0; NDOF];
        let h0 = self.frame.heading;
        let speed = uni(rng, 0.9, 1.3);
        for k in 0..n {
            let s = k as f64 / n as f64;
            self.frame.gait_amp = smoothstep(s * 8.0) * smoothstep((1.0 - s) * 8.0);
            let head = h0 + PI * smoothstep((s - 0.4) * 5.0);
            self.frame.heading = head;
            let fwd = Vector3::new(-head.sin(), 0.0, -head.cos());
            let step = self.dt * speed * self.frame.gait_amp;
            self.frame.walk_x += fwd.x * step;
            self.frame.walk_z += fwd.z * step;
            let mut eta = [0.0; NDOF];
            eta[FLEX] = 0.4 * self.frame.gait_amp * self.frame.gait.sin();
            eta[ABD] = 0.03 * self.frame.gait_amp;
            self.step(&eta, &omega, &m, rng);
        }
        self.frame.gait_amp = 0.0;
        self.frame.up = was;
        self.distractions
            .push(format!("walk and turn at {t0:.1} s"));
    }

    fn fidget(&mut self, what: &'static str, rng: &mut ChaCha8Rng) {
        self.activity = Activity::Fidget;
        let t0 = self.t;
        let m = Mods::clean();
        let omega = [uni(rng, 4.0, 9.0); NDOF];
        let (pd, sign) = self.prime();
        let range = self
            .body
            .lifter
            .range
            .min(if pd == OBL { 10.0 } else { 60.0 })
            * D2R;
        let moves: Vec<([f64; NDOF], f64)> = match what {
            "re-strap" => {
                let mut a = [0.0; NDOF];
                a[FLEX] = uni(rng, 0.5, 1.0);
                // The strap is loosened and put back a little differently.
                let nudge = Vector3::new(gauss(rng), gauss(rng), gauss(rng)) * 4.0 * D2R;
                self.sensor.mount *= UnitQuaternion::from_scaled_axis(nudge);
                vec![(a, 2.5), ([0.0; NDOF], 1.5)]
            }
            "step" => {
                let mut a = [0.0; NDOF];
                a[LEAN] = 3.0 * D2R * gauss(rng);
                a[FLEX] = 0.3;
                vec![(a, 0.6), ([0.0; NDOF], 1.0)]
            }
            "given-up start" => {
                let mut a = [0.0; NDOF];
                a[pd] = sign * range * uni(rng, 0.15, 0.3);
                vec![(a, 0.7), (self.rest_target(), 1.5)]
            }
            "phone" => {
                let mut a = [0.0; NDOF];
                a[YAW] = 8.0 * D2R * gauss(rng);
                vec![(a, 4.0), ([0.0; NDOF], 1.0)]
            }
            _ => {
                let mut a = [0.0; NDOF];
                a[ABD] = 6.0 * D2R * gauss(rng);
                a[FLEX] = 10.0 * D2R * gauss(rng);
                a[YAW] = 4.0 * D2R * gauss(rng);
                vec![(a, 0.8), (self.rest_target(), 1.0)]
            }
        };
        for (eta, d) in moves {
            let n = (d / self.dt) as usize;
            for _ in 0..n {
                self.step(&eta, &omega, &m, rng);
            }
        }
        self.distractions.push(format!("{what} at {t0:.1} s"));
    }

    fn other_leg(&mut self, d: f64, rng: &mut ChaCha8Rng) {
        // The other leg's set: this leg stands (or lies underneath) and the
        // whole body rocks a little with each of the other leg's reps.
        self.activity = Activity::Still;
        let t0 = self.t;
        let was = self.frame.up;
        if self.cfg.exercise != Exercise::SideLyingAbduction {
            self.frame.up = 1.0;
        }
        let n = (d / self.dt) as usize;
        let m = Mods::clean();
        let omega = [5.0; NDOF];
        let per = uni(rng, 2.2, 3.5);
        for k in 0..n {
            let ph = 2.0 * PI * k as f64 * self.dt / per;
            let mut eta = self.rest_target();
            eta[LEAN] = 1.5 * D2R * ph.sin();
            eta[OBL] = -D2R * (1.0 - ph.cos()) * 0.5;
            self.step(&eta, &omega, &m, rng);
        }
        self.frame.up = was;
        self.distractions
            .push(format!("the other leg's set at {t0:.1} s"));
    }
}

impl Run<'_> {
    /// Draws this rep's episode (a compensation the lifter falls into).
    fn episode(&self, rng: &mut ChaCha8Rng, rep: usize) -> (Mods, Option<Episode>) {
        let mut m = Mods::clean();
        let l = &self.body.lifter;
        m.obl_habit = l.clean_obl;
        m.up_speed = uni(rng, 0.85, 1.15);
        m.down_speed = uni(rng, 0.85, 1.15);
        m.precision = uni(rng, 0.8, 1.2);
        // Rep to rep the predicted range wanders, and undershoots as the
        // prime mover tires (less precise proprioception).
        m.target_scale = (1.0 + 0.06 * gauss(rng)) * (1.0 - 0.5 * self.fatigue);
        // Fatigue late in the set raises the chance the helpers take over.
        let rate = self.cfg.compensation_rate
            * (0.6 + 0.8 * (self.fatigue / 0.3).min(1.0))
            * if rep == 0 { 0.5 } else { 1.0 };
        let kinds: Vec<FlagKind> = self.visible.clone();
        if kinds.is_empty() || !rng.gen_bool(rate.clamp(0.0, 1.0)) {
            return (m, None);
        }
        let kind = kinds[rng.gen_range(0..kinds.len())];
        let hitch = self.cfg.exercise == Exercise::HipHitch;
        let size = match kind {
            FlagKind::HipHike => {
                m.prime_gain = 0.5;
                m.hike_help = 0.6;
                let s = uni(rng, 6.5, 13.0);
                if hitch {
                    m.overshoot = s;
                } else {
                    m.obl_habit = s;
                }
                s
            }
            FlagKind::PelvicDrop => {
                let s = uni(rng, 6.5, 12.0);
                m.obl_habit = -s;
                s
            }
            FlagKind::TrunkSway => {
                let s = uni(rng, 6.5, 10.0);
                m.rock = s;
                s
            }
            FlagKind::Momentum => {
                m.up_speed = uni(rng, 2.6, 3.4);
                m.down_speed = uni(rng, 2.4, 3.2);
                m.prime_gain = 0.7;
                m.precision = 0.5;
                1.0
            }
            FlagKind::PartialRange => {
                m.target_scale = uni(rng, 0.35, 0.52);
                m.precision = 0.4;
                1.0
            }
            FlagKind::HipFlexionDrift => {
                m.prime_gain = 0.6;
                m.tfl_help = 0.5;
                let s = uni(rng, 12.0, 24.0);
                m.flex_habit = s;
                s
            }
        };
        (m, Some(Episode { kind, size }))
    }

    /// A set: the heteroclinic channel runs the phases, the beliefs and
    /// the reflexes make the movement, the truth is measured on the curves.
    fn set(&mut self, reps: usize, load: f64, drop_at: Option<usize>, rng: &mut ChaCha8Rng) {
        self.activity = Activity::Set;
        self.sets_done += 1;
        // The set's neutral: orientation and roll at rest just before.
        let (rs, _) = self.shank(&self.frame);
        self.rest_shank = rs;
        self.rest_roll = (self.q[OBL] + self.q[LEAN]) / D2R;
        self.load_scale = load;
        if self.sets_done > 1 {
            // A new load: the belief about it is stale.
            self.load_belief = load * (1.0 + 0.15 * gauss(rng)) / load.max(0.1);
        }
        let l = self.body.lifter.clone();
        let (pd, sign) = self.prime();
        let hitch = pd == OBL;
        let range = if hitch {
            (l.range / 3.5).clamp(5.5, 12.0)
        } else {
            l.range
        };
        let sigma = 10f64.powf(l.chan_noise);
        let mut ch = Channel::new(4, sigma);
        let ln = (1.0 / sigma).ln();
        let nu_of = |d: f64| 2.0 * ln / d.max(0.03);
        let mut done = 0usize;
        let mut logs: Vec<RepLog> = Vec::new();
        let mut m = Mods::clean();
        let mut cur: Option<RepLog> = None;
        let mut winner = 0usize;
        let trace0 = self.trace.len();
        let mut dropped = false;
        let mut t_end = self.t + 600.0 + reps as f64 * 30.0;
        let mut rocking = 0.0f64;
        let mut jit = [1.0f64, 1.0];
        loop {
            let reached = sign * self.mu[pd] / D2R;
            let goal = range * m.target_scale;
            let open = [
                done < reps,
                reached >= 0.85 * goal,
                true,
                reached <= 0.12 * goal - 0.85 * m.overshoot,
            ];
            ch.nu = vec![
                nu_of(l.pause_bottom * jit[0]),
                60.0,
                nu_of(l.pause_top * jit[1]),
                60.0,
            ];
            ch.step(self.dt, &open, rng);
            let w = ch.winner();
            if w != winner {
                match w {
                    1 => {
                        let (mm, ep) = self.episode(rng, done);
                        jit = [(0.45 * gauss(rng)).exp(), (0.45 * gauss(rng)).exp()];
                        m = mm;
                        cur = Some(RepLog {
                            meant: true,
                            t0: self.t,
                            episode: ep,
                        });
                        // A strong perturbation: a rep turned back part way.
                        if rng.gen_bool(0.03) {
                            if let Some(c) = cur.as_mut() {
                                c.meant = false;
                            }
                        }
                    }
                    0 => {
                        if let Some(c) = cur.take() {
                            if c.meant {
                                done += 1;
                            } else {
                                self.distractions
                                    .push(format!("a rep started and given up at {:.1} s", c.t0));
                            }
                            logs.push(c);
                        }
                        m = Mods::clean();
                        if drop_at == Some(done) && !dropped {
                            dropped = true;
                            self.load_scale = load * 0.65;
                        }
                    }
                    _ => {}
                }
                winner = w;
            }
            if winner == 1 {
                if let Some(c) = &cur {
                    if !c.meant && reached > 0.3 * range {
                        ch.kick(3);
                    }
                }
            }
            if winner == 3
                && reached < 0.6 * range
                && reached > 0.4 * range
                && rng.gen_bool((0.02 * self.dt / 0.2).min(1.0))
            {
                // A double pump: the lowering turned back up.
                ch.kick(1);
            }
            // Hidden causes to hidden states.
            let x = &ch.x;
            let tot: f64 = x.iter().sum();
            let up_level = (x[1] + x[2]) / tot;
            let ret = x[3] / tot;
            let mut eta = self.rest_target();
            eta[pd] += sign * goal * D2R * up_level;
            if hitch {
                eta[OBL] += m.overshoot * D2R * ret;
            }
            let prog = (reached / range.max(1.0)).clamp(0.0, 1.5);
            if !hitch {
                eta[OBL] += m.obl_habit * D2R * prog;
                let lean_bal = -(0.161 * 0.42 * 0.9) * (self.q[ABD]).sin() * l.lean_gain;
                eta[LEAN] = if self.cfg.exercise == Exercise::StandingCableAbduction {
                    lean_bal
                } else {
                    0.0
                };
            }
            eta[FLEX] += m.flex_habit * D2R * prog;
            if m.rock > 0.0 {
                rocking += self.dt * 2.0 * PI / (l.t_up + l.t_down + 0.6);
                eta[LEAN] += m.rock * D2R * rocking.sin();
                eta[YAW] += 0.4 * m.rock * D2R * rocking.sin();
            } else {
                rocking = 0.0;
            }
            let w_up = 6.3 / l.t_up * m.up_speed;
            let w_down = 6.3 / l.t_down * m.down_speed;
            let wp = (x[1] * w_up + x[2] * w_up + (x[3] + x[0]) * w_down) / tot;
            let mut omega = [wp; NDOF];
            omega[LEAN] = if m.rock > 0.0 { 12.0 } else { 3.0 };
            omega[YAW] = omega[LEAN];
            // Momentum: the arc lets go at the top and the leg falls.
            let mut mm = m;
            if m.up_speed > 2.0 && winner >= 2 {
                mm.prime_gain = 0.25;
            }
            self.step(&eta, &omega, &mm, rng);
            // The load belief is learnt from the error the load leaves.
            let err = self.mu[pd] - self.q[pd];
            self.load_belief += self.dt * 0.08 * err * sign / D2R * 0.1;
            self.load_belief = self.load_belief.clamp(0.3, 2.0);
            if done >= reps && winner == 0 && cur.is_none() {
                if t_end > self.t + 2.5 {
                    t_end = self.t + uni(rng, 1.0, 2.5);
                }
                if self.t >= t_end {
                    break;
                }
            }
            if self.t > t_end {
                break;
            }
        }
        self.activity = Activity::Still;
        self.measure(trace0, &logs, range);
    }

    /// The truth of a set, measured on the curves.
    fn measure(&mut self, trace0: usize, logs: &[RepLog], range: f64) {
        let tr = &self.trace[trace0..];
        let (pd, _) = self.prime();
        let mut reps = Vec::new();
        let meant: Vec<&RepLog> = logs.iter().collect();
        for (i, log) in meant.iter().enumerate() {
            let w0 = log.t0 - 0.3;
            let w1 = meant.get(i + 1).map_or(f64::INFINITY, |n| n.t0 - 0.05);
            let win: Vec<&Trace> = tr.iter().filter(|s| s.t >= w0 && s.t < w1).collect();
            if win.len() < 5 {
                continue;
            }
            // The set's neutral: the rest just before the set.
            let base = tr.first().map_or(win[0].task, |s| s.task).min(win[0].task);
            let (ip, peak) = win
                .iter()
                .enumerate()
                .map(|(k, s)| (k, s.task - base))
                .fold((0, f64::MIN), |a, b| if b.1 > a.1 { b } else { a });
            if !log.meant {
                continue;
            }
            let thr = 0.1 * peak;
            let mut is = ip;
            while is > 0 && win[is].task - base > thr {
                is -= 1;
            }
            let mut ie = ip;
            let mut best = ip;
            while ie + 1 < win.len() && win[ie].task - base > thr {
                ie += 1;
                if win[ie].task < win[best].task {
                    best = ie;
                }
            }
            if win[ie].task - base > thr {
                ie = best;
            }
            if ie <= is {
                continue;
            }
            let seg = &win[is..=ie];
            let peak_deg = if self.cfg.placement == Placement::Ankle {
                seg.iter().map(|s| s.shank_deg).fold(0.0, f64::max)
            } else {
                seg.iter().map(|s| s.roll.abs()).fold(0.0, f64::max)
            };
            // Flags are judged from the rep's start to the next rep's.
            let tail = win[is..].iter().map(|s| **s).collect::<Vec<Trace>>();
            reps.push((win[is].t, win[ie].t, peak_deg, peak, tail, log.episode));
        }
        let mut peaks: Vec<f64> = reps.iter().map(|r| r.3).collect();
        peaks.sort_by(|a, b| a.total_cmp(b));
        let working = peaks.get(peaks.len() / 2).copied().unwrap_or(range);
        let hold = |seg: &[Trace], f: &dyn Fn(&Trace) -> f64| -> f64 {
            // Largest level held for 150 ms (traces every 5 steps).
            let n = seg.len();
            let mut best = f64::MIN;
            for a in 0..n {
                let mut lo = f64::MAX;
                let mut b = a;
                while b < n && seg[b].t - seg[a].t < 0.15 {
                    lo = lo.min(f(&seg[b]));
                    b += 1;
                }
                if b < n {
                    best = best.max(lo);
                }
            }
            best
        };
        let mut truth_reps = Vec::new();
        for (t0, t1, peak_deg, peak, seg, ep) in reps {
            let mut flags = Vec::new();
            let allowed = |k: FlagKind| self.visible.contains(&k);
            if self.cfg.placement == Placement::Pelvis || self.cfg.exercise == Exercise::HipHitch {
                let hike = hold(&seg, &|s| s.roll);
                let drop = hold(&seg, &|s| -s.roll);
                let hitch = pd == OBL;
                if allowed(FlagKind::HipHike) && hike >= 5.0 {
                    flags.push(TruthFlag {
                        kind: FlagKind::HipHike,
                        value_deg: round3(hike),
                    });
                }
                if allowed(FlagKind::PelvicDrop) && !hitch && drop >= 5.0 {
                    flags.push(TruthFlag {
                        kind: FlagKind::PelvicDrop,
                        value_deg: round3(drop),
                    });
                }
                let pos = seg.iter().map(|s| s.roll).fold(f64::MIN, f64::max);
                let neg = -seg.iter().map(|s| s.roll).fold(f64::MAX, f64::min);
                if allowed(FlagKind::TrunkSway)
                    && pos > 5.0
                    && neg > 5.0
                    && matches!(
                        ep,
                        Some(Episode {
                            kind: FlagKind::TrunkSway,
                            ..
                        })
                    )
                {
                    flags.push(TruthFlag {
                        kind: FlagKind::TrunkSway,
                        value_deg: round3(pos.min(neg)),
                    });
                }
            } else {
                let top_speed = seg.iter().map(|s| s.speed).fold(0.0, f64::max);
                if allowed(FlagKind::Momentum) && peak > 8.0 && top_speed / peak > 5.0 {
                    flags.push(TruthFlag {
                        kind: FlagKind::Momentum,
                        value_deg: round3(peak),
                    });
                }
                if allowed(FlagKind::PartialRange) && peak < 0.65 * working {
                    flags.push(TruthFlag {
                        kind: FlagKind::PartialRange,
                        value_deg: round3(working - peak),
                    });
                }
                let f0 = seg[0].flex;
                let flex = hold(&seg, &|s| s.flex - f0);
                if allowed(FlagKind::HipFlexionDrift) && flex >= 8.0 {
                    flags.push(TruthFlag {
                        kind: FlagKind::HipFlexionDrift,
                        value_deg: round3(flex),
                    });
                }
            }
            truth_reps.push(TruthRep {
                start_s: round3(t0),
                end_s: round3(t1),
                peak_deg: round3(peak_deg),
                flags,
            });
        }
        if let (Some(a), Some(b)) = (truth_reps.first(), truth_reps.last()) {
            self.sets.push(TruthSet {
                start_s: a.start_s,
                end_s: b.end_s,
                rep_count: truth_reps.len(),
                reps: truth_reps,
            });
        }
        let keep = self.trace.len().saturating_sub(10);
        self.trace.drain(..keep);
    }

    /// The owned sensor's errors, clock, BLE batches, drops and gaps.
    fn finish(&mut self, rng: &mut ChaCha8Rng) -> Vec<Sample> {
        let cfg = self.cfg;
        let s = &self.sensor;
        let mut out = Vec::with_capacity(self.raw.len());
        let mut bias = s.bias;
        let mut gap_until = -1.0;
        let mut lost_batch = 0usize;
        let per_min = cfg.gaps_per_min / 60.0 / cfg.rate_hz;
        let mut last_t = f64::MIN;
        let mut arrival = 0.0;
        for (k, smp) in self.raw.iter().enumerate() {
            bias +=
                Vector3::new(gauss(rng), gauss(rng), gauss(rng)) * s.bias_walk / cfg.rate_hz.sqrt();
            let b = cfg.gyro_bias_dps;
            bias = bias.map(|x| x.clamp(-b.max(0.01), b.max(0.01)));
            if rng.gen_bool(per_min.min(1.0)) {
                gap_until = smp.t + 0.2;
            }
            if smp.t < gap_until {
                continue;
            }
            if k % s.batch == 0 {
                lost_batch = if rng.gen_bool((cfg.drop_rate * 0.3 / s.batch as f64 * 2.0).min(1.0))
                {
                    s.batch
                } else {
                    0
                };
                arrival = smp.t + s.batch as f64 / cfg.rate_hz + 0.004 * rng.gen::<f64>();
            }
            if lost_batch > 0 {
                lost_batch -= 1;
                continue;
            }
            if rng.gen_bool((cfg.drop_rate * 0.7).min(1.0)) {
                continue;
            }
            let mut acc = smp.acc.component_mul(&s.scale);
            let mut gyr = smp.gyr.component_mul(&s.scale);
            acc += Vector3::new(acc.y, acc.z, acc.x) * s.cross;
            gyr += Vector3::new(gyr.z, gyr.x, gyr.y) * s.cross;
            gyr += bias;
            for i in 0..3 {
                acc[i] += s.acc_sd * gauss(rng);
                gyr[i] += s.gyr_sd * gauss(rng);
                acc[i] =
                    ((acc[i] / s.acc_lsb).round() * s.acc_lsb).clamp(-s.acc_range, s.acc_range);
                gyr[i] =
                    ((gyr[i] / s.gyr_lsb).round() * s.gyr_lsb).clamp(-s.gyr_range, s.gyr_range);
            }
            let pos = (k % s.batch) as f64;
            let mut t = if s.host_stamps {
                arrival
                    - (s.batch as f64 - 1.0 - pos) / cfg.rate_hz
                    - 0.5 * s.batch as f64 / cfg.rate_hz
            } else {
                smp.t * (1.0 + s.skew)
            };
            if t <= last_t {
                t = last_t + 1e-4;
            }
            last_t = t;
            let t = (t.max(0.0) * 1e4).round() / 1e4;
            if let Some(prev) = out.last() {
                let p: &Sample = prev;
                if t <= p.t {
                    continue;
                }
            }
            out.push(Sample { t, acc, gyr });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::sim::PAIRS;
    use crate::Side;

    fn cfg(ex: Exercise, p: Placement, side: Side, seed: u64) -> SimConfig {
        let mut c = SimConfig::new(ex, p, side);
        c.seed = seed;
        c.sets = 2;
        c.rest_min_s = 12.0;
        c.rest_max_s = 20.0;
        c.model = crate::source::sim::SimModel::Infer;
        c
    }

    #[test]
    fn deterministic_per_seed() {
        let c = cfg(
            Exercise::StandingCableAbduction,
            Placement::Ankle,
            Side::Left,
            7,
        );
        let (a, ta) = InferSimulator::new(&c).unwrap();
        let (b, tb) = InferSimulator::new(&c).unwrap();
        assert_eq!(ta, tb);
        assert!(a.zip(b).all(|(x, y)| x == y));
    }

    #[test]
    fn every_pair_and_side_streams_with_ordered_truth() {
        for (ex, p) in PAIRS {
            for side in [Side::Left, Side::Right] {
                let c = cfg(ex, p, side, 11);
                let (sim, truth) = InferSimulator::new(&c).unwrap();
                let s: Vec<Sample> = sim.collect();
                assert!(s.windows(2).all(|w| w[1].t > w[0].t), "{ex} {p}");
                assert!(s.iter().all(|x| x.is_finite()));
                let span = s.last().unwrap().t - s[0].t;
                let rate = s.len() as f64 / span;
                assert!((rate - 100.0).abs() < 8.0, "{ex} {p}: {rate}");
                assert_eq!(truth.sets.len(), 2, "{ex} {p}");
                let failed = truth.distractions.iter().any(|d| d.contains("failure"));
                let mut last = 0.0;
                for set in &truth.sets {
                    // Below the range only when a set ended at failure.
                    assert!(set.rep_count <= c.reps_max);
                    assert!(set.rep_count >= c.reps_min || failed, "{ex} {p}");
                    assert_eq!(set.rep_count, set.reps.len());
                    for r in &set.reps {
                        assert!(r.start_s >= last && r.end_s > r.start_s, "{ex} {p}");
                        last = r.end_s;
                        assert!(r.end_s <= truth.duration_s);
                    }
                }
            }
        }
    }

    #[test]
    fn compensations_appear_over_threshold() {
        for (ex, p) in PAIRS {
            let mut seen = std::collections::BTreeMap::new();
            for seed in 0..3 {
                let mut c = cfg(ex, p, Side::Right, 100 + seed);
                c.compensation_rate = 0.5;
                c.sets = 3;
                c.walking = false;
                c.fidgets = false;
                let (_, truth) = InferSimulator::new(&c).unwrap();
                for r in truth.sets.iter().flat_map(|s| &s.reps) {
                    for f in &r.flags {
                        *seen.entry(f.kind).or_insert(0) += 1;
                        if matches!(
                            f.kind,
                            FlagKind::HipHike | FlagKind::PelvicDrop | FlagKind::TrunkSway
                        ) {
                            assert!(f.value_deg >= 5.0);
                        }
                    }
                }
            }
            let visible = cfg(ex, p, Side::Right, 0).visible_compensations();
            for k in visible {
                assert!(seen.contains_key(&k), "{ex} {p}: no {k:?} in {seen:?}");
            }
        }
    }

    #[test]
    fn gyro_carries_the_reps() {
        let mut c = cfg(
            Exercise::StandingCableAbduction,
            Placement::Ankle,
            Side::Right,
            5,
        );
        c.random_mounting = false;
        c.gyro_bias_dps = 0.0;
        c.drop_rate = 0.0;
        c.gaps_per_min = 0.0;
        c.compensation_rate = 0.0;
        let (sim, truth) = InferSimulator::new(&c).unwrap();
        let s: Vec<Sample> = sim.collect();
        for r in truth.sets.iter().flat_map(|s| &s.reps).take(6) {
            // Integrated rate about the abduction axis (the sensor's z).
            let mut ang = 0.0f64;
            let mut best = 0.0f64;
            for w in s
                .windows(2)
                .filter(|w| w[0].t >= r.start_s && w[1].t <= r.end_s)
            {
                ang += w[0].gyr.z * (w[1].t - w[0].t);
                best = best.max(ang.abs());
            }
            assert!(
                (best - r.peak_deg).abs() < 0.25 * r.peak_deg + 3.0,
                "{best} vs {}",
                r.peak_deg
            );
        }
    }
}
