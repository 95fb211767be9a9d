//! A sixth body model: a lifter moved by muscles, not by joint-angle templates.
//!
//! Nothing here draws a rep shape. Each lifter is a few rigid degrees of
//! freedom (working-leg abduction and flexion, pelvic obliquity over the
//! stance hip, a whole-body lean that shifts the hips over the stance foot,
//! a small turn about the vertical), integrated at 1 ms. The working hip's
//! abductors and adductors are Hill-type muscles: an excitation becomes an
//! activation through a first-order lag (faster up than down), and the
//! torque is limited by force–length and force–velocity curves and by a
//! fatigue state that drains with activation and refills at rest. The other
//! degrees of freedom are driven by net muscle torques with the same lag.
//! Against them: gravity on the leg, the external load (a cable stack with
//! its mass, inertia and friction that rests on the pile when the leg is
//! in; an ankle weight; a machine arm behind compliant pads), passive
//! tissue and contact with the other leg, the mat or the seat.
//!
//! Each rep is a motor program: an agonist burst sized by the lifter's
//! (imperfect) internal model of the load and their tempo, switched to a
//! holding feedback when the predicted stop point reaches the target, a
//! hold with delayed, noisy feedback (tremor comes out of the loop), an
//! eccentric lowering that tracks a velocity, and a reflex-like stop near
//! neutral. Fatigue lowers the available torque, so late reps rise slower,
//! sag in the hold and may stall short. Compensations are other activation
//! strategies: a hip hike lifts the free side with the trunk's side-benders
//! (the stance controller is told to hold it high); a pelvic drop lets the
//! stance abductors go; trunk sway rocks the balance loop's set point; a
//! momentum rep is a maximal burst with no brake and a let-go on the way
//! down; a partial rep stops short; hip-flexion drift is the flexors taking
//! over. The balance loop acts 80–150 ms late through the same lagging
//! muscles, against a noise torque. The hips shift toward the stance side
//! as the leg goes out, rolling the sacrum against the obliquity (DOMAIN).
//! Hip hitch is the stance abductors releasing and pulling back the pelvis.
//!
//! Between sets lifters walk, turn, sit, stand up, lie down and get up,
//! shift on the bench, re-strap, fidget, shake the leg, swing it once: the
//! postures and the walk are kinematic, the leg's part in them is muscle.
//! The sensor has its own errors: mounting, gyro bias (with warm-up and a
//! random walk), accelerometer bias, scale and misalignment, white noise
//! that grows with bandwidth, 16-bit quantisation and clipping, clock drift,
//! time-stamp jitter, drops in short bursts and 200 ms BLE gaps. With
//! `--noise 0 --gyro-bias 0` it is an ideal sensor.
//!
//! The truth is read off the simulated motion as a labeller with motion
//! capture would: rep start and end where the leg (or, in a hitch, the
//! pelvis) leaves and regains neutral, peaks from the segment's rotation,
//! hip hike / pelvic drop where the pelvis' roll passes +5° / −5° for
//! 150 ms, trunk sway where it passes ±5° to both sides, partial range below
//! 70 % of the set's working range, drift where the leg flexes over 8°.
//!
//! Built from the exercise notes and real recordings without reading the counter or
//! the other models: the hold-out until session 9 read it for two rules. The whole session runs
//! twice, deterministically: once to read the truth, once to sample.

use super::{gauss, round3, smoothstep};
use crate::motion::FlagKind;
use crate::sample::STANDARD_GRAVITY;
use crate::source::sim::{SimConfig, Truth, TruthFlag, TruthRep, TruthSet};
use crate::{Exercise, Placement, Sample};
use nalgebra::{Matrix3, Rotation3, UnitQuaternion, Vector3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::f64::consts::PI;

/// Integration step, s.
const DT: f64 = 0.001;
/// Length of the feedback delay line, steps (the longest delay is 150 ms).
const DELAY_STEPS: usize = 256;
/// The body settles this long before the recording starts, s.
const WARMUP_S: f64 = 3.0;
/// Truth traces are kept at this step, s.
const TRACE_S: f64 = 0.01;
/// DOMAIN's hike/drop threshold, °, and how long it must hold, s.
const OBLIQUITY_FLAG_DEG: f64 = 5.0;
const OBLIQUITY_HOLD_S: f64 = 0.15;

fn deg(x: f64) -> f64 {
    x.to_degrees()
}

fn rad(x: f64) -> f64 {
    x.to_radians()
}

fn rot_x(a: f64) -> UnitQuaternion<f64> {
    UnitQuaternion::from_axis_angle(&Vector3::x_axis(), a)
}

fn rot_y(a: f64) -> UnitQuaternion<f64> {
    UnitQuaternion::from_axis_angle(&Vector3::y_axis(), a)
}

fn rot_z(a: f64) -> UnitQuaternion<f64> {
    UnitQuaternion::from_axis_angle(&Vector3::z_axis(), a)
}

/// A Hill-type muscle acting on one joint: activation lag, force–velocity,
/// fatigue. Torque scale and force–length are the caller's.
#[derive(Debug, Clone)]
struct Muscle {
    /// Activation, 0..1.
    a: f64,
    /// Largest isometric torque when fresh, N·m.
    tmax: f64,
    /// Fastest shortening, rad/s.
    vmax: f64,
    /// Share of the torque lost to fatigue, 0..1.
    fatigue: f64,
    /// Fatigue gained per second at full activation.
    tire: f64,
    /// Fatigue recovered per second at rest.
    recover: f64,
}

impl Muscle {
    fn new(tmax: f64, vmax: f64, tire: f64, recover: f64) -> Self {
        Muscle {
            a: 0.0,
            tmax,
            vmax,
            fatigue: 0.0,
            tire,
            recover,
        }
    }

    /// Excites the muscle for one step.
    fn excite(&mut self, u: f64) {
        let u = u.clamp(0.0, 1.0);
        let tau = if u > self.a { 0.018 } else { 0.055 };
        self.a += (u - self.a) * DT / tau;
        let recovering = (0.25 - self.a).max(0.0) * 4.0;
        self.fatigue += DT
            * (self.tire * self.a * (1.0 - self.fatigue)
                - self.recover * recovering * self.fatigue);
        self.fatigue = self.fatigue.clamp(0.0, 0.9);
    }

    /// Torque at a shortening velocity (rad/s, negative = lengthening).
    fn torque(&self, shortening: f64) -> f64 {
        let x = shortening / self.vmax;
        let fv = if x >= 0.0 {
            ((1.0 - x) / (1.0 + 4.0 * x)).max(0.0)
        } else {
            1.5 - 0.5 * (6.0 * x).exp()
        };
        self.a * self.tmax * (1.0 - self.fatigue) * fv
    }
}

/// A net-torque actuator (a muscle pair lumped): lagged activation in −1..1.
#[derive(Debug, Clone, Default)]
struct Actuator {
    a: f64,
}

impl Actuator {
    fn excite(&mut self, u: f64) {
        let u = u.clamp(-1.0, 1.0);
        let tau = if u.abs() > self.a.abs() { 0.025 } else { 0.06 };
        self.a += (u - self.a) * DT / tau;
    }
}

/// One lifter's build, strength and habits.
#[derive(Debug, Clone)]
struct Lifter {
    mass: f64,
    leg_mass: f64,
    thigh: f64,
    shank: f64,
    leg_com: f64,
    leg_inertia: f64,
    pelvis_height: f64,
    /// Reflex/feedback delay, s.
    delay: f64,
    /// How wrong the lifter's sense of the load is (1 = right).
    load_sense: f64,
    /// Agonist burst above what the tempo needs.
    eagerness: f64,
    /// Co-contraction of the adductors while working, 0..1.
    cocontraction: f64,
    /// Rise, hold, lowering and bottom-pause habits, s.
    up_s: (f64, f64),
    hold_s: (f64, f64),
    down_s: (f64, f64),
    pause_s: (f64, f64),
    /// How much of the lean rolls the sacrum (0.4..1.3).
    roll_per_lean: f64,
    /// Extra lean toward the stance side per unit of leg moment, beyond balance.
    lean_habit: f64,
    /// Habitual obliquity at the top of a clean rep, rad (trunk side-benders).
    hike_habit: f64,
    /// Reaction of the working abductors on the pelvis (free side pulled down).
    reaction: f64,
    /// Signal-dependent motor noise (share of excitation).
    motor_noise: f64,
    /// Working range, rad (abduction) or drop depth (hitch).
    range: f64,
    /// Breathers taken mid-set, per rep.
    breather: f64,
    /// Abductor strength, N·m per kg of body mass.
    strength: f64,
    /// Fatigue gained per second at full activation, and recovered at rest.
    tire: f64,
    recover: f64,
}

/// The external load.
#[derive(Debug, Clone, Copy)]
enum Load {
    /// A low pulley: stack mass, friction (N), lever (m), leg angle where
    /// the stack leaves the pile.
    Cable {
        stack: f64,
        friction: f64,
        lever: f64,
        lift_at: f64,
    },
    /// An ankle weight, kg (may be 0).
    AnkleWeight(f64),
    /// A machine arm behind pads: arm inertia, weight torque (N·m), pad
    /// stiffness and damping.
    Pads {
        inertia: f64,
        weight: f64,
        stiffness: f64,
        damping: f64,
        friction: f64,
    },
    /// Nothing on the leg (hip hitch).
    None,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Posture {
    Standing,
    Lying,
    Seated,
}

/// How a rep is done.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Strategy {
    Clean,
    /// Trunk side-benders lift the free side to this obliquity, rad.
    Hike(f64),
    /// The stance abductors let go to this depth, rad.
    Drop(f64),
    /// The whole body rocks this far each way, rad.
    Sway(f64),
    /// Thrown up and let fall.
    Momentum,
    /// Stopped at this share of the range.
    Partial(f64),
    /// The flexors take the leg forward this far, rad.
    Drift(f64),
}

#[derive(Debug, Clone)]
struct RepPlan {
    strategy: Strategy,
    target: f64,
    up: f64,
    hold: f64,
    down: f64,
    pause: f64,
}

/// What lifters do between sets (and in the lead-in and tail).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Act {
    Still,
    Walk { turn: f64 },
    Turn(f64),
    SitDown,
    StandUp,
    LieDown,
    GetUp,
    Restrap,
    Fidget,
    Shake,
    Swing,
    Shift,
    RollBack,
}

impl Act {
    fn name(self) -> Option<&'static str> {
        match self {
            Act::Still => None,
            Act::Walk { .. } => Some("walk"),
            Act::Turn(_) => Some("turn"),
            Act::SitDown => Some("sit down"),
            Act::StandUp => Some("stand up"),
            Act::LieDown => Some("lie down"),
            Act::GetUp => Some("get up"),
            Act::Restrap => Some("re-strap"),
            Act::Fidget => Some("fidget"),
            Act::Shake => Some("shake the leg"),
            Act::Swing => Some("single swing"),
            Act::Shift => Some("shift on the bench"),
            Act::RollBack => Some("roll onto the back"),
        }
    }
}

#[derive(Debug, Clone)]
enum Block {
    /// A rest: acts with their durations.
    Rest(Vec<(Act, f64)>),
    Set(Vec<RepPlan>),
}

/// The session as planned before anything moves.
#[derive(Debug, Clone)]
struct Plan {
    cfg: SimConfig,
    lifter: Lifter,
    load: Load,
    home: Posture,
    blocks: Vec<Block>,
    tail: f64,
    motor_seed: u64,
    /// Re-strap mountings, in order (ankle: any rotation; pelvis: a tilt).
    mounts: Vec<UnitQuaternion<f64>>,
    hitch: bool,
    /// +1 when the working leg is the right one.
    ws: f64,
    /// +1 when the free side is the right one.
    fs: f64,
}

/// Body state snapshot for the delay line.
#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    q: f64,
    qd: f64,
    o: f64,
    od: f64,
    l: f64,
    ld: f64,
    f: f64,
    fd: f64,
}

/// Where the lifter's motor program is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Pause {
        until: f64,
    },
    Rise {
        since: f64,
    },
    Hold {
        until: f64,
    },
    Lower {
        since: f64,
    },
    Settle {
        until: f64,
    },
    /// Hip hitch: the free side drops, waits, is pulled back.
    Hitch {
        since: f64,
    },
}

/// A rep's motor program start and end as the program ran them.
#[derive(Debug, Clone, Copy)]
struct Mark {
    begin: f64,
    end: f64,
}

/// The kinematic scene: posture, heading, position, gait.
#[derive(Debug, Clone)]
struct Scene {
    from: Posture,
    to: Posture,
    blend_start: f64,
    blend_len: f64,
    heading: f64,
    base: Vector3<f64>,
    walk_speed: f64,
    gait_phase: f64,
    turn_rate: f64,
    /// When the current act began and how long it lasts, s.
    act_t0: f64,
    act_len: f64,
    mount_index: usize,
    /// Handling jiggle while re-strapping, 0..1.
    handling: f64,
}

/// The body and its motor program, stepped at 1 ms.
struct Body {
    plan: Plan,
    rng: ChaCha8Rng,
    t: f64,
    // Degrees of freedom (rad, rad/s).
    q: f64,
    qd: f64,
    arm: f64,
    armd: f64,
    f: f64,
    fd: f64,
    o: f64,
    od: f64,
    l: f64,
    ld: f64,
    y: f64,
    yd: f64,
    abd: Muscle,
    add: Muscle,
    stance: Muscle,
    side_bender: Actuator,
    flexors: Actuator,
    balance: Actuator,
    twist: Actuator,
    seen: Vec<Seen>,
    seen_at: usize,
    noise_torque: f64,
    // Program.
    block: usize,
    block_start: f64,
    rep: usize,
    phase: Phase,
    act: usize,
    act_start: f64,
    marks: Vec<Mark>,
    /// Set this rep's strategy outputs: obliquity set point, etc.
    o_set: f64,
    l_set: f64,
    f_set: f64,
    stance_let_go: f64,
    scene: Scene,
    done: bool,
    knee_extra: f64,
    /// Where the leg rested when this rep began, rad.
    rest_q: f64,
}

impl Plan {
    fn new(cfg: &SimConfig) -> Result<Plan, String> {
        cfg.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x6d75_7363_6c65);
        let hitch = cfg.exercise == Exercise::HipHitch;
        let ws = cfg.side.sign();
        let fs = cfg.exercise.free_side(cfg.side).sign();
        let home = match cfg.exercise {
            Exercise::SideLyingAbduction => Posture::Lying,
            Exercise::SeatedMachineAbduction => Posture::Seated,
            _ => Posture::Standing,
        };
        // A hitch's drop is the rep itself: it is not flagged there.
        let comps: Vec<FlagKind> = cfg
            .visible_compensations()
            .into_iter()
            .filter(|k| !(hitch && *k == FlagKind::PelvicDrop))
            .collect();

        let mass = rng.gen_range(52.0..105.0);
        let height: f64 = rng.gen_range(1.55..1.95);
        let leg_mass = 0.16 * mass;
        let thigh = 0.245 * height;
        let shank = 0.285 * height;
        let leg = thigh + shank;
        let strength = rng.gen_range(1.4..2.6); // N·m per kg of the abductors
        let tire = rng.gen_range(0.002..0.007);
        let recover = rng.gen_range(0.015..0.04);
        let range = match cfg.exercise {
            Exercise::HipHitch => rad(rng.gen_range(6.0..11.0)),
            Exercise::SeatedMachineAbduction => rad(rng.gen_range(22.0..40.0)),
            Exercise::SideLyingAbduction => rad(rng.gen_range(20.0..48.0)),
            _ => rad(rng.gen_range(25.0..45.0)),
        };
        let slow_holder = rng.gen_bool(0.2);
        let lifter = Lifter {
            mass,
            leg_mass,
            thigh,
            shank,
            leg_com: 0.43 * leg,
            leg_inertia: leg_mass * (0.56 * leg).powi(2),
            pelvis_height: 0.53 * height,
            delay: rng.gen_range(0.08..0.15),
            load_sense: rng.gen_range(0.85..1.15),
            eagerness: rng.gen_range(0.9..1.3),
            cocontraction: rng.gen_range(0.02..0.12),
            up_s: {
                let a = rng.gen_range(0.6..1.1);
                (a, a + rng.gen_range(0.1..0.4))
            },
            hold_s: if slow_holder {
                (rng.gen_range(1.5..2.5), rng.gen_range(2.5..4.5))
            } else {
                let a = rng.gen_range(0.0..0.5);
                (a, a + rng.gen_range(0.1..0.6))
            },
            down_s: {
                let a = rng.gen_range(0.9..1.8);
                (a, a + rng.gen_range(0.2..0.8))
            },
            pause_s: {
                let a = rng.gen_range(0.15..0.6);
                (a, a + rng.gen_range(0.1..0.6))
            },
            roll_per_lean: rng.gen_range(0.4..1.3),
            lean_habit: rng.gen_range(0.0..1.0),
            // Lying, the pelvis follows the leg more (Cynn et al.: ~6° even held).
            hike_habit: if home == Posture::Lying {
                rad(rng.gen_range(1.0..4.0))
            } else {
                rad(rng.gen_range(-0.3..2.6))
            },
            reaction: rng.gen_range(0.01..0.05),
            motor_noise: rng.gen_range(0.02..0.06),
            range,
            breather: rng.gen_range(0.0..0.05),
            strength,
            tire,
            recover,
        };
        // Lifters pick a load they can move 10-20 times: a share of their
        // abductors' best torque, in whole plates where there are plates.
        let tmax = mass * strength;
        let work = tmax * rng.gen_range(0.3..0.5);
        let lever = 0.9 * leg;
        let leg_moment = leg_mass * 0.43 * leg * STANDARD_GRAVITY;
        let load = match cfg.exercise {
            Exercise::StandingCableAbduction => Load::Cable {
                stack: ((work - 0.5 * leg_moment) / (STANDARD_GRAVITY * lever) / 1.25)
                    .round()
                    .max(1.0)
                    * 1.25,
                friction: rng.gen_range(3.0..10.0),
                lever,
                lift_at: rad(rng.gen_range(1.0..4.0)),
            },
            Exercise::SideLyingAbduction => Load::AnkleWeight(
                ((work - leg_moment) / (STANDARD_GRAVITY * leg) / 0.5)
                    .round()
                    .max(0.0)
                    * 0.5,
            ),
            Exercise::SeatedMachineAbduction => Load::Pads {
                inertia: rng.gen_range(0.8..2.0),
                weight: work,
                stiffness: rng.gen_range(1200.0..3000.0),
                damping: rng.gen_range(15.0..40.0),
                friction: rng.gen_range(2.0..6.0),
            },
            _ => Load::None,
        };

        let mut blocks = Vec::new();
        let drawn = rng.gen_range(0.5..3.0);
        let lead = cfg.lead_in_s.unwrap_or(drawn);
        blocks.push(Block::Rest(vec![(Act::Still, lead + WARMUP_S)]));
        let mut n_restraps = 0;
        for set_i in 0..cfg.sets {
            if set_i > 0 {
                let rest = rng.gen_range(cfg.rest_min_s..=cfg.rest_max_s);
                let acts = plan_rest(&mut rng, cfg, home, rest);
                n_restraps += acts.iter().filter(|(a, _)| *a == Act::Restrap).count();
                blocks.push(Block::Rest(acts));
            }
            let n = rng.gen_range(cfg.reps_min..=cfg.reps_max);
            let set_range = lifter.range * rng.gen_range(0.92..1.08);
            let mut reps = Vec::with_capacity(n);
            for k in 0..n {
                let late = if n > 1 {
                    k as f64 / (n - 1) as f64
                } else {
                    0.5
                };
                let mut strategy = Strategy::Clean;
                let p = (cfg.compensation_rate * (0.6 + 0.8 * late)).min(1.0);
                let kind = if comps.is_empty() {
                    None
                } else {
                    Some(comps[rng.gen_range(0..comps.len())])
                };
                if k >= 1 && rng.gen_bool(p) {
                    strategy = match kind {
                        Some(FlagKind::HipHike) => Strategy::Hike(rad(rng.gen_range(7.0..14.0))),
                        Some(FlagKind::PelvicDrop) => Strategy::Drop(rad(rng.gen_range(7.0..12.0))),
                        Some(FlagKind::TrunkSway) => Strategy::Sway(rad(rng.gen_range(6.0..9.0))),
                        Some(FlagKind::Momentum) => Strategy::Momentum,
                        Some(FlagKind::PartialRange) => Strategy::Partial(rng.gen_range(0.3..0.55)),
                        Some(FlagKind::HipFlexionDrift) => {
                            Strategy::Drift(rad(rng.gen_range(13.0..25.0)))
                        }
                        None => Strategy::Clean,
                    };
                }
                let mut pause = rng.gen_range(lifter.pause_s.0..=lifter.pause_s.1);
                if rng.gen_bool(lifter.breather) {
                    pause += rng.gen_range(2.0..5.0);
                }
                reps.push(RepPlan {
                    strategy,
                    target: set_range * rng.gen_range(0.94..1.06),
                    up: rng.gen_range(lifter.up_s.0..=lifter.up_s.1),
                    hold: rng.gen_range(lifter.hold_s.0..=lifter.hold_s.1),
                    down: rng.gen_range(lifter.down_s.0..=lifter.down_s.1),
                    pause,
                });
            }
            blocks.push(Block::Set(reps));
        }
        let tail = rng.gen_range(1.0..6.0);
        let nominal_pelvis =
            UnitQuaternion::from_rotation_matrix(&Rotation3::from_matrix_unchecked(Matrix3::new(
                1.0, 0.0, 0.0, //
                0.0, 0.0, -1.0, //
                0.0, 1.0, 0.0,
            )));
        let mut mounts = Vec::new();
        for _ in 0..=n_restraps {
            let m = match (cfg.placement, cfg.random_mounting) {
                (Placement::Ankle, true) => {
                    UnitQuaternion::new_normalize(nalgebra::Quaternion::new(
                        gauss(&mut rng),
                        gauss(&mut rng),
                        gauss(&mut rng),
                        gauss(&mut rng),
                    ))
                }
                (Placement::Ankle, false) => UnitQuaternion::identity(),
                (Placement::Pelvis, true) => {
                    let axis = Vector3::new(gauss(&mut rng), gauss(&mut rng), gauss(&mut rng))
                        .try_normalize(1e-9)
                        .unwrap_or(Vector3::x());
                    nominal_pelvis
                        * UnitQuaternion::from_scaled_axis(axis * rad(rng.gen_range(0.0..15.0)))
                }
                (Placement::Pelvis, false) => nominal_pelvis,
            };
            mounts.push(m);
        }
        Ok(Plan {
            cfg: cfg.clone(),
            lifter,
            load,
            home,
            blocks,
            tail,
            motor_seed: rng.gen(),
            mounts,
            hitch,
            ws,
            fs,
        })
    }
}

/// Fills a rest with what lifters do there, in the posture of the exercise.
fn plan_rest(rng: &mut ChaCha8Rng, cfg: &SimConfig, home: Posture, rest: f64) -> Vec<(Act, f64)> {
    let mut acts: Vec<(Act, f64)> = Vec::new();
    let mut left = rest;
    let take = |acts: &mut Vec<(Act, f64)>, a: Act, d: f64, left: &mut f64| {
        if d <= *left {
            acts.push((a, d));
            *left -= d;
        }
    };
    take(&mut acts, Act::Still, rng.gen_range(1.0..3.0), &mut left);
    let walking = cfg.walking && rng.gen_bool(0.8);
    let (down, up) = match home {
        Posture::Lying => (Act::LieDown, Act::GetUp),
        Posture::Seated => (Act::SitDown, Act::StandUp),
        Posture::Standing => (Act::Still, Act::Still),
    };
    if walking && left > 14.0 {
        if up != Act::Still {
            take(&mut acts, up, rng.gen_range(2.0..3.0), &mut left);
        }
        take(
            &mut acts,
            Act::Walk { turn: PI },
            rng.gen_range(4.0..8.0),
            &mut left,
        );
        take(&mut acts, Act::Still, rng.gen_range(1.0..3.0), &mut left);
        take(
            &mut acts,
            Act::Turn(PI * rng.gen_range(0.8..1.2)),
            rng.gen_range(1.2..2.0),
            &mut left,
        );
        if down != Act::Still {
            take(&mut acts, down, rng.gen_range(2.0..3.0), &mut left);
        }
    }
    if cfg.fidgets {
        let mut options = vec![Act::Fidget, Act::Shake, Act::Swing, Act::Restrap];
        match home {
            Posture::Lying => options.extend([Act::Shift, Act::RollBack]),
            Posture::Seated => options.push(Act::Shift),
            Posture::Standing => {}
        }
        let n = rng.gen_range(1..=3);
        for _ in 0..n {
            take(&mut acts, Act::Still, rng.gen_range(1.5..4.0), &mut left);
            let a = options[rng.gen_range(0..options.len())];
            let d = match a {
                Act::Restrap => rng.gen_range(4.0..7.0),
                Act::RollBack => rng.gen_range(3.0..5.0),
                Act::Shake => rng.gen_range(1.0..2.0),
                _ => rng.gen_range(0.8..1.6),
            };
            take(&mut acts, a, d, &mut left);
        }
    }
    // Settle into position: the last seconds before a set are still.
    if left > 0.0 {
        acts.push((Act::Still, left));
    }
    acts
}

impl Body {
    fn new(plan: Plan) -> Body {
        let l = &plan.lifter;
        let strength = l.mass * l.strength;
        let abd = Muscle::new(strength, 8.0, l.tire, l.recover);
        let add = Muscle::new(strength * 1.1, 6.0, l.tire * 0.3, l.recover);
        let stance = Muscle::new(strength * 1.3, 4.0, l.tire * 0.3, l.recover);
        let rng = ChaCha8Rng::seed_from_u64(plan.motor_seed);
        let home = plan.home;
        let mut body = Body {
            rng,
            t: -WARMUP_S,
            q: 0.0,
            qd: 0.0,
            arm: 0.0,
            armd: 0.0,
            f: 0.0,
            fd: 0.0,
            o: 0.0,
            od: 0.0,
            l: 0.0,
            ld: 0.0,
            y: 0.0,
            yd: 0.0,
            abd,
            add,
            stance,
            side_bender: Actuator::default(),
            flexors: Actuator::default(),
            balance: Actuator::default(),
            twist: Actuator::default(),
            seen: vec![Seen::default(); DELAY_STEPS],
            seen_at: 0,
            noise_torque: 0.0,
            block: 0,
            block_start: 0.0,
            rep: 0,
            phase: Phase::Pause { until: 0.0 },
            act: 0,
            act_start: -WARMUP_S,
            marks: Vec::new(),
            o_set: 0.0,
            l_set: 0.0,
            f_set: 0.0,
            stance_let_go: 0.0,
            scene: Scene {
                from: home,
                to: home,
                blend_start: 0.0,
                blend_len: 1.0,
                heading: 0.0,
                base: Vector3::zeros(),
                walk_speed: 0.0,
                gait_phase: 0.0,
                turn_rate: 0.0,
                act_t0: 0.0,
                act_len: 1.0,
                mount_index: 0,
                handling: 0.0,
            },
            done: false,
            knee_extra: 0.0,
            rest_q: 0.0,
            plan,
        };
        // Let muscles, balance and posture settle before the recording starts.
        while body.t < -0.5 * DT {
            body.step();
        }
        body.t = 0.0;
        body
    }

    fn delayed(&self, delay: f64) -> Seen {
        let n = ((delay / DT) as usize).min(DELAY_STEPS - 1);
        self.seen[(self.seen_at + DELAY_STEPS - n) % DELAY_STEPS]
    }

    /// The static torque the load and gravity put on the leg at `q` (N·m, toward adduction).
    fn static_load(&self, q: f64) -> f64 {
        let lf = &self.plan.lifter;
        let g = STANDARD_GRAVITY;
        match self.plan.load {
            Load::Cable {
                stack,
                lever,
                lift_at,
                ..
            } => {
                lf.leg_mass * g * lf.leg_com * q.sin()
                    + stack * g * lever * smoothstep((q - lift_at) / 0.03 + 0.5)
            }
            Load::AnkleWeight(kg) => {
                (lf.leg_mass * lf.leg_com + kg * (lf.thigh + lf.shank)) * g * q.cos()
            }
            Load::Pads { weight, .. } => weight * smoothstep(q / 0.03 + 0.5),
            Load::None => 0.0,
        }
    }

    fn posture_now(&self) -> Posture {
        self.scene.to
    }

    /// One step of the motor program: sets excitations and set points.
    fn program(&mut self) -> (f64, f64) {
        let t = self.t;
        let seen = self.delayed(self.plan.lifter.delay);
        let lf = self.plan.lifter.clone();
        let fresh_guess = 1.0 - 0.5 * self.abd.fatigue;
        // The lifter's sense of what holding the leg here takes (knowing the
        // muscle is weaker when short, not quite knowing the load).
        let ff = |b: &Body, q: f64| {
            let fl = (1.0 - 0.3 * (q / 0.9).powi(2)).max(0.2);
            b.static_load(q) * lf.load_sense / (b.abd.tmax * fresh_guess * fl)
        };
        let mut u_abd;
        let mut u_add = lf.cocontraction * 0.5;
        self.o_set = 0.0;
        self.l_set = 0.0;
        self.f_set = 0.0;
        self.stance_let_go = 0.0;
        self.knee_extra = 0.0;
        // At rest the leg is held in gently. Lying, it rests on the other
        // one; on the machine the arm rests on its stop and the legs relax.
        let carried = if matches!(self.plan.load, Load::Cable { .. }) {
            0.9
        } else {
            0.0
        };
        u_abd = ff(self, seen.q) * carried + lf.cocontraction * 0.5 + 0.4 * (0.0 - seen.q)
            - 0.05 * seen.qd;
        if self.done {
            return (u_abd, u_add);
        }
        match self.plan.blocks[self.block].clone() {
            Block::Rest(acts) => {
                while self.act < acts.len() && t >= self.act_start + acts[self.act].1 {
                    self.act_start += acts[self.act].1;
                    self.act += 1;
                    self.start_act(
                        acts.get(self.act).map(|a| a.0),
                        acts.get(self.act).map_or(0.0, |a| a.1),
                    );
                }
                if self.act >= acts.len() {
                    self.next_block();
                } else {
                    let (act, dur) = acts[self.act];
                    let u = (t - self.act_start) / dur;
                    match act {
                        Act::Shake => {
                            let s = (2.0 * PI * 5.0 * (t - self.act_start)).sin();
                            u_abd = 0.25 * s.max(0.0) + 0.05;
                            u_add = 0.25 * (-s).max(0.0) + 0.05;
                            self.f_set = rad(5.0) * s;
                        }
                        Act::Swing => {
                            if u < 0.25 {
                                u_abd = 0.55;
                            } else if u < 0.45 {
                                u_add = 0.35;
                            }
                            self.f_set = rad(10.0) * (PI * u).sin();
                        }
                        Act::Fidget => {
                            let s = (2.0 * PI * 2.3 * (t - self.act_start)).sin();
                            self.f_set = rad(8.0) * s * (PI * u).sin();
                            u_abd += 0.08 * (PI * u).sin();
                        }
                        Act::Walk { .. } => {
                            let ph = self.scene.gait_phase;
                            let env = self.scene.envelope(t);
                            self.f_set = env * rad(22.0) * (2.0 * PI * ph).sin();
                            self.knee_extra =
                                env * rad(50.0) * (0.5 - 0.5 * (2.0 * PI * ph).cos()).powi(2);
                        }
                        _ => {}
                    }
                }
            }
            Block::Set(reps) => {
                if self.rep >= reps.len() {
                    self.next_block();
                    return (u_abd, u_add);
                }
                let r = reps[self.rep].clone();
                if self.plan.hitch {
                    return self.hitch_program(&r, &reps, t);
                }
                let target = match r.strategy {
                    Strategy::Partial(s) => r.target * s,
                    _ => r.target,
                };
                let progress = (seen.q / target.max(1e-3)).clamp(-0.5, 1.5);
                let working = !matches!(self.phase, Phase::Pause { .. });
                if working {
                    // The strategy's set points, in time with the leg.
                    let lift = progress.max(0.0);
                    self.o_set = lf.hike_habit * lift;
                    match r.strategy {
                        Strategy::Hike(h) => {
                            self.o_set = h * smoothstep(lift * 1.4);
                        }
                        Strategy::Drop(d) => {
                            self.o_set = -d * smoothstep(lift * 1.4);
                            self.stance_let_go = 0.2 * smoothstep(lift * 1.4);
                        }
                        Strategy::Sway(s) => {
                            let since = self.marks.last().map_or(t, |m| m.begin);
                            let period = r.up + r.hold + r.down;
                            let w = (2.0 * PI * (t - since) / period).sin();
                            let (lean, roll) = sway_split(s, lf.roll_per_lean);
                            self.l_set = lean * w;
                            self.o_set = -roll * w;
                        }
                        Strategy::Drift(d) => self.f_set = d * smoothstep(lift * 1.3),
                        _ => {}
                    }
                }
                let cc = lf.cocontraction;
                match self.phase {
                    Phase::Pause { until } => {
                        if t >= until {
                            self.phase = Phase::Rise { since: t };
                            self.rest_q = seen.q;
                            self.marks.push(Mark { begin: t, end: t });
                        }
                    }
                    Phase::Rise { since } => {
                        // A burst sized from the lifter's sense of the load at the
                        // top and of what moving it in their tempo takes.
                        let inertia = self.leg_inertia_total();
                        let accel =
                            inertia * 4.0 * target / (r.up * r.up) / (self.abd.tmax * fresh_guess);
                        let mut drive =
                            (1.1 * ff(self, target) + accel / 0.8 + 0.08) * lf.eagerness;
                        let mut lead = 0.14;
                        if r.strategy == Strategy::Momentum {
                            drive = 1.0;
                            lead = 0.04;
                        }
                        let ramp = ((t - since) / 0.08).min(1.0);
                        u_abd = drive * ramp;
                        u_add = cc * 0.5;
                        if seen.q + seen.qd * lead >= 0.97 * target || t - since > 3.5 {
                            let hold = if r.strategy == Strategy::Momentum {
                                0.0
                            } else {
                                r.hold
                            };
                            self.phase = Phase::Hold {
                                until: t + hold.max(0.15),
                            };
                        }
                    }
                    Phase::Hold { until } => {
                        let v =
                            ff(self, seen.q) + 1.1 * cc + 1.5 * (target - seen.q) - 0.25 * seen.qd;
                        u_abd = v;
                        u_add = cc + (-v).max(0.0);
                        if r.strategy == Strategy::Momentum {
                            u_abd = 0.0;
                        }
                        if t >= until {
                            self.phase = Phase::Lower { since: t };
                        }
                    }
                    Phase::Lower { since } => {
                        let speed = target / r.down * 1.4;
                        let ramp = ((t - since) / 0.25).min(1.0);
                        let near = ((seen.q - self.rest_q) / (0.3 * target)).clamp(0.15, 1.0);
                        let v_want = -speed * ramp * near;
                        u_abd = ff(self, seen.q) + 0.55 * cc - 0.3 * (seen.qd - v_want);
                        u_add = cc * 0.5;
                        if r.strategy == Strategy::Momentum {
                            u_abd = 0.02;
                        }
                        let down = seen.q - self.rest_q;
                        let stopped =
                            down < 0.5 * target && seen.qd.abs() < 0.03 && t - since > 0.8;
                        if down < 0.1 * target || stopped || t - since > 6.0 {
                            self.phase = Phase::Settle { until: t + 0.25 };
                        }
                    }
                    Phase::Settle { until } => {
                        // The reflex stop: brake whichever way the leg still goes.
                        let v = ff(self, seen.q) + 1.1 * cc + 1.2 * (self.rest_q - seen.q)
                            - 0.25 * seen.qd;
                        u_abd = v;
                        u_add = cc + (-v).max(0.0);
                        if t >= until {
                            if let Some(m) = self.marks.last_mut() {
                                m.end = t;
                            }
                            self.rep += 1;
                            self.phase = Phase::Pause { until: t + r.pause };
                        }
                    }
                    Phase::Hitch { .. } => {}
                }
                let noise = gauss(&mut self.rng) * lf.motor_noise;
                u_abd *= 1.0 + noise;
            }
        }
        (u_abd, u_add)
    }

    /// The hip hitch's motor program: the stance abductors lower and lift the free side.
    fn hitch_program(&mut self, r: &RepPlan, _reps: &[RepPlan], t: f64) -> (f64, f64) {
        let lf = &self.plan.lifter;
        let rest = (0.0, lf.cocontraction * 0.5);
        match self.phase {
            Phase::Pause { until } => {
                if t >= until {
                    self.phase = Phase::Hitch { since: t };
                    self.marks.push(Mark { begin: t, end: t });
                }
            }
            Phase::Hitch { since } => {
                let s = t - since;
                let (d, b, u) = (r.down, r.hold.min(0.8), r.up);
                let over = match r.strategy {
                    Strategy::Hike(h) => h * 0.85,
                    _ => 0.0,
                };
                self.o_set = if s < d {
                    -r.target * smoothstep(s / d)
                } else if s < d + b {
                    -r.target
                } else if s < d + b + u {
                    -r.target + (r.target + over) * smoothstep((s - d - b) / u)
                } else if s < d + b + u + 0.4 {
                    over
                } else {
                    over * (1.0 - smoothstep((s - d - b - u - 0.4) / 0.4))
                };
                if let Strategy::Sway(w) = r.strategy {
                    let period = d + b + u;
                    let (lean, roll) = sway_split(w, lf.roll_per_lean);
                    let wave = (2.0 * PI * s / period).sin() * if s < period { 1.0 } else { 0.0 };
                    self.l_set = lean * wave;
                    self.o_set -= roll * wave;
                }
                if s > d + b + u + 0.8 + 0.3 {
                    if let Some(m) = self.marks.last_mut() {
                        m.end = t;
                    }
                    self.rep += 1;
                    self.phase = Phase::Pause { until: t + r.pause };
                }
            }
            _ => self.phase = Phase::Pause { until: t },
        }
        rest
    }

    fn leg_inertia_total(&self) -> f64 {
        let lf = &self.plan.lifter;
        match self.plan.load {
            Load::Cable {
                stack,
                lever,
                lift_at,
                ..
            } => {
                lf.leg_inertia + stack * lever * lever * smoothstep((self.q - lift_at) / 0.03 + 0.5)
            }
            Load::AnkleWeight(kg) => lf.leg_inertia + kg * (lf.thigh + lf.shank).powi(2),
            Load::Pads { inertia, .. } => lf.leg_inertia * 0.35 + inertia,
            Load::None => lf.leg_inertia,
        }
    }

    fn next_block(&mut self) {
        self.block += 1;
        self.block_start = self.t;
        self.rep = 0;
        self.act = 0;
        self.act_start = self.t;
        self.phase = Phase::Pause { until: self.t };
        if self.block >= self.plan.blocks.len() {
            self.done = true;
            return;
        }
        if let Block::Rest(acts) = &self.plan.blocks[self.block] {
            let first = acts.first().copied();
            self.start_act(first.map(|a| a.0), first.map_or(0.0, |a| a.1));
        }
    }

    fn start_act(&mut self, act: Option<Act>, dur: f64) {
        let s = &mut self.scene;
        s.walk_speed = 0.0;
        s.turn_rate = 0.0;
        s.handling = 0.0;
        s.act_t0 = self.t;
        s.act_len = dur.max(0.1);
        s.gait_phase = 0.0;
        let Some(act) = act else { return };
        let posture = s.to;
        let blend = |s: &mut Scene, to: Posture, t: f64| {
            s.from = s.to;
            s.to = to;
            s.blend_start = t;
            s.blend_len = dur;
        };
        match act {
            Act::Walk { turn } => {
                s.walk_speed = 1.1;
                s.turn_rate = turn / dur;
            }
            Act::Turn(a) => s.turn_rate = a / dur,
            Act::SitDown => blend(s, Posture::Seated, self.t),
            Act::LieDown => blend(s, Posture::Lying, self.t),
            Act::StandUp | Act::GetUp => blend(s, Posture::Standing, self.t),
            Act::Restrap => {
                s.handling = 1.0;
                s.mount_index = (s.mount_index + 1).min(self.plan.mounts.len() - 1);
            }
            _ => {}
        }
        let _ = posture;
    }

    /// Advances the body by one step.
    fn step(&mut self) {
        let lf = self.plan.lifter.clone();
        let g = STANDARD_GRAVITY;
        let (u_abd, u_add) = self.program();
        self.abd.excite(u_abd);
        self.add.excite(u_add);
        let posture = self.posture_now();
        let standing = posture == Posture::Standing && self.scene.blend_done(self.t);
        let seen = self.delayed(lf.delay);

        // Working leg abduction.
        let fl_abd = 1.0 - 0.3 * (self.q / 0.9).powi(2);
        let t_abd = self.abd.torque(self.qd) * fl_abd.max(0.2);
        let t_add = self.add.torque(-self.qd);
        // Muscle viscosity grows with activation and needs no reflex.
        let viscous = 6.0 + 10.0 * (self.abd.a + self.add.a);
        let mut torque = t_abd - t_add - viscous * self.qd - 8.0 * self.q;
        let mut inertia = self.leg_inertia_total();
        match self.plan.load {
            Load::Cable {
                stack,
                friction,
                lever,
                lift_at,
            } => {
                let on = smoothstep((self.q - lift_at) / 0.03 + 0.5);
                torque -=
                    lf.leg_mass * g * lf.leg_com * self.q.sin() * if standing { 1.0 } else { 0.3 };
                torque -= on * (stack * g + friction * (self.qd / 0.05).tanh()) * lever;
                if self.q < -0.12 {
                    torque += 600.0 * (-0.12 - self.q) - 20.0 * self.qd.min(0.0);
                }
            }
            Load::AnkleWeight(kg) => {
                if posture == Posture::Lying {
                    torque -=
                        (lf.leg_mass * lf.leg_com + kg * (lf.thigh + lf.shank)) * g * self.q.cos();
                }
                if self.q < 0.0 {
                    torque += 1500.0 * -self.q - 40.0 * self.qd;
                }
            }
            Load::Pads {
                inertia: arm_i,
                weight,
                stiffness,
                damping,
                friction,
            } => {
                inertia = lf.leg_inertia * 0.35;
                // The pads are pushed, never pulled.
                let squeeze = self.q - self.arm;
                let pad = if squeeze > 0.0 {
                    stiffness * squeeze + damping * (self.qd - self.armd)
                } else {
                    0.0
                };
                let pad = pad.max(0.0);
                torque -= pad;
                let mut arm_t = pad - weight - friction * (self.armd / 0.05).tanh();
                if self.arm <= 0.0 {
                    arm_t += 4000.0 * -self.arm - 60.0 * self.armd.min(0.0);
                }
                self.armd += arm_t / arm_i * DT;
                self.arm += self.armd * DT;
                if self.q < -0.05 {
                    torque += 800.0 * (-0.05 - self.q) - 30.0 * self.qd;
                }
            }
            Load::None => {
                if self.q < 0.0 {
                    torque += 300.0 * -self.q - 10.0 * self.qd;
                }
            }
        }
        self.qd += torque / inertia * DT;
        self.q += self.qd * DT;

        // Flexion: flexors against extensors, a lumped pair. The delayed loop
        // is gentle; co-contraction gives the stiffness that needs no delay.
        let f_tmax = lf.mass * 1.5;
        let f_grav = if standing {
            lf.leg_mass * g * lf.leg_com
        } else {
            0.0
        };
        let u_f =
            (10.0 + f_grav) * self.f_set / f_tmax + 0.5 * (self.f_set - seen.f) - 0.08 * seen.fd;
        self.flexors.excite(u_f);
        let t_f = self.flexors.a * f_tmax + 40.0 * (self.f_set - self.f)
            - (3.0 + 6.0) * self.fd
            - 10.0 * self.f
            - f_grav * self.f.sin();
        self.fd += t_f / lf.leg_inertia * DT;
        self.f += self.fd * DT;

        // Obliquity over the stance hip: the stance abductors hold the body's
        // weight, their short-range stiffness holds the posture they are set
        // to, a delayed loop corrects what is left.
        let i_o = 0.09 * lf.mass;
        let hold = 0.45;
        let u_st = hold * (1.0 - self.stance_let_go) + 0.8 * (self.o_set - seen.o) - 0.08 * seen.od;
        self.stance.excite(u_st);
        let bender = if self.o_set > rad(3.0) {
            (self.o_set / rad(14.0)).min(1.0) * 0.4
        } else {
            0.0
        };
        self.side_bender.excite(bender);
        let weight_t = hold * self.stance.tmax;
        let stiff = 250.0 + 300.0 * self.stance.a;
        let mut t_o = self.stance.torque(self.od) - weight_t
            + stiff * (self.o_set - self.o)
            + self.side_bender.a * 0.15 * lf.mass
            - lf.reaction * t_abd
            - 40.0 * self.od;
        if !standing {
            // Lying or sitting nothing stands on the hip: the support holds the
            // pelvis, the trunk's muscles still tilt it toward what they are set to.
            t_o = stiff * (self.o_set - self.o) + self.side_bender.a * 0.15 * lf.mass
                - 0.5 * lf.reaction * t_abd
                - 150.0 * self.o
                - 40.0 * self.od;
        }
        self.od += t_o / i_o * DT;
        self.o += self.od * DT;

        // Whole-body lean: hips over the stance foot, a delayed balance loop.
        self.noise_torque += (-self.noise_torque * DT / 0.4)
            + gauss(&mut self.rng) * 0.9 * (DT / 0.4f64).sqrt() * 8.0;
        let h = 0.55 * lf.pelvis_height / 0.53;
        let i_l = lf.mass * h * h;
        let mgh = lf.mass * g * h;
        let leg_pull = lf.leg_mass * g * lf.leg_com * self.q.sin();
        let anticipate = leg_pull / mgh * lf.lean_habit;
        let u_l = (1.2 * (self.l_set + anticipate - seen.l) - 0.5 * seen.ld) / 1.5;
        self.balance.excite(u_l);
        // Ankle and hip tissue: stiffness and damping that need no reflex.
        let mut t_l =
            self.balance.a * 1.5 * mgh - 0.25 * mgh * (self.l - self.l_set) - 0.05 * mgh * self.ld
                + self.noise_torque;
        if standing {
            t_l += mgh * self.l.sin() - leg_pull * 0.8;
        } else {
            t_l -= 0.5 * mgh * self.l;
        }
        self.ld += t_l / i_l * DT;
        self.l += self.ld * DT;

        // Small turns about the vertical from the cable and the rocking.
        let drive = match self.plan.load {
            Load::Cable {
                stack,
                lever,
                lift_at,
                ..
            } => {
                stack
                    * g
                    * 0.06
                    * smoothstep((self.q - lift_at) / 0.03 + 0.5)
                    * self.plan.ws
                    * lever
            }
            _ => 0.0,
        } + 10.0 * self.ld;
        let u_y = -1.5 * self.y - 0.2 * self.yd;
        self.twist.excite(u_y);
        let t_y = drive + self.twist.a * 60.0 - 10.0 * self.yd - 40.0 * self.y;
        self.yd += t_y / (0.02 * lf.mass) * DT;
        self.y += self.yd * DT;

        // Scene.
        let s = &mut self.scene;
        // Turns speed up and slow down; walks start and stop.
        let u = ((self.t - s.act_t0) / s.act_len).clamp(0.0, 1.0);
        s.heading += s.turn_rate * 2.0 * (PI * u).sin().powi(2) * DT;
        if s.walk_speed > 0.0 {
            s.gait_phase += DT * 0.9;
            let dir = Vector3::new(-s.heading.sin(), s.heading.cos(), 0.0);
            s.base += dir * s.walk_speed * s.envelope(self.t) * DT;
        }
        if s.handling > 0.0 {
            s.handling = (s.handling - DT / 5.0).max(0.0);
        }

        self.seen_at = (self.seen_at + 1) % DELAY_STEPS;
        self.seen[self.seen_at] = Seen {
            q: self.q,
            qd: self.qd,
            o: self.o,
            od: self.od,
            l: self.l,
            ld: self.ld,
            f: self.f,
            fd: self.fd,
        };
        self.t += DT;
    }

    /// The pelvis' roll in the world, free side up, rad: obliquity less the lean's roll.
    fn pelvis_roll(&self) -> f64 {
        self.o - self.plan.lifter.roll_per_lean * self.l
    }

    /// Pose of the segment the sensor is on (without the mounting): position and orientation.
    fn segment_pose(&self, placement: Placement) -> (Vector3<f64>, UnitQuaternion<f64>) {
        let lf = &self.plan.lifter;
        let (ws, fs) = (self.plan.ws, self.plan.fs);
        let ss = -fs;
        let sc = &self.scene;
        let b = sc.blend(self.t);
        let post = |p: Posture| -> (UnitQuaternion<f64>, Vector3<f64>, f64, f64) {
            // Orientation, pelvis offset from the base (body frame), hip and knee flexion.
            match p {
                Posture::Standing => (
                    UnitQuaternion::identity(),
                    Vector3::new(0.0, 0.0, lf.pelvis_height),
                    0.0,
                    0.0,
                ),
                Posture::Seated => (
                    UnitQuaternion::identity(),
                    Vector3::new(0.0, 0.0, 0.12),
                    PI / 2.0,
                    PI / 2.0,
                ),
                Posture::Lying => {
                    let m = Matrix3::new(0.0, ws, 0.0, 0.0, 0.0, 1.0, ws, 0.0, 0.0);
                    (
                        UnitQuaternion::from_rotation_matrix(&Rotation3::from_matrix_unchecked(m)),
                        Vector3::new(ws * 0.12, 0.0, 0.0),
                        rad(10.0),
                        rad(5.0),
                    )
                }
            }
        };
        let (r0, o0, h0, k0) = post(sc.from);
        let (r1, o1, h1, k1) = post(sc.to);
        let r_post = r0.slerp(&r1, b);
        let offset = o0 * (1.0 - b) + o1 * b;
        let hip_flex = h0 * (1.0 - b) + h1 * b;
        let knee = k0 * (1.0 - b) + k1 * b + self.knee_extra;
        let mut r_yaw = rot_z(sc.heading + self.y);
        let mut base = sc.base;
        if sc.walk_speed > 0.0 {
            // Bob, side-to-side and heel strikes.
            let ph = sc.gait_phase * 2.0 * PI;
            let step = (2.0 * sc.gait_phase).fract() / 0.06;
            let strike = if step < 1.0 {
                (PI * step).sin().powi(2)
            } else {
                0.0
            };
            let env = sc.envelope(self.t);
            base.z += env * (0.02 * ((2.0 * ph).cos() - 1.0) - 0.0008 * strike);
            base.x += env * 0.02 * ph.sin();
            r_yaw *= rot_z(env * rad(4.0) * ph.sin());
        }
        let frame = r_yaw * r_post;
        let lean = rot_y(ss * self.l);
        let pelvis_pos = base + frame * (lean * offset);
        let r_pelvis = frame * rot_y(-fs * self.pelvis_roll());
        if placement == Placement::Pelvis {
            return (
                pelvis_pos + r_pelvis * Vector3::new(0.0, -0.1, 0.0),
                r_pelvis,
            );
        }
        let hip = pelvis_pos + r_pelvis * Vector3::new(ws * 0.09, 0.0, 0.0);
        // Seated (hip flexed 90°) the same rotation turns the thigh about the vertical.
        let r_thigh = r_pelvis * rot_x(hip_flex + self.f) * rot_y(-ws * self.q);
        let knee_pos = hip + r_thigh * Vector3::new(0.0, 0.0, -lf.thigh);
        let r_shank = r_thigh * rot_x(-knee);
        let pos = knee_pos + r_shank * Vector3::new(0.0, 0.0, -0.8 * lf.shank);
        (pos, r_shank)
    }
}

impl Scene {
    /// 0 → 1 → 0 over the current act, eased in and out over 0.6 s.
    fn envelope(&self, t: f64) -> f64 {
        smoothstep((t - self.act_t0) / 0.6) * smoothstep((self.act_t0 + self.act_len - t) / 0.6)
    }

    fn blend(&self, t: f64) -> f64 {
        if self.from == self.to {
            return 1.0;
        }
        smoothstep((t - self.blend_start) / self.blend_len.max(0.1))
    }

    fn blend_done(&self, t: f64) -> bool {
        self.blend(t) >= 1.0
    }
}

/// A whole-body rock of `amplitude` (roll of the sacrum, rad): how much is
/// lean (at most 6°, rolling the sacrum by `roll_per_lean` of it) and how
/// much the pelvis rolls on the stance hip.
fn sway_split(amplitude: f64, roll_per_lean: f64) -> (f64, f64) {
    let lean = (0.5 * amplitude / roll_per_lean).min(rad(6.0));
    (lean, amplitude - roll_per_lean * lean)
}

/// One point of the labeller's motion-capture trace.
#[derive(Debug, Clone, Copy)]
struct TracePoint {
    t: f64,
    /// Leg abduction, °.
    q: f64,
    /// Leg flexion, °.
    f: f64,
    /// Pelvis roll in the world, free side up, °.
    roll: f64,
    /// The part of it the whole-body lean makes, °.
    lean_roll: f64,
    /// The sensor's segment in the world.
    seg: UnitQuaternion<f64>,
}

/// Runs the whole session once and reads the truth off the motion.
fn read_truth(plan: &Plan) -> (Truth, f64) {
    let cfg = &plan.cfg;
    let comps: Vec<FlagKind> = cfg
        .visible_compensations()
        .into_iter()
        .filter(|k| !(plan.hitch && *k == FlagKind::PelvicDrop))
        .collect();
    let mut body = Body::new(plan.clone());
    let every = (TRACE_S / DT).round() as u64;
    let mut n: u64 = 0;
    let mut recent: std::collections::VecDeque<TracePoint> = std::collections::VecDeque::new();
    let mut trace: Vec<TracePoint> = Vec::new();
    let mut sets = Vec::new();
    let mut distractions = Vec::new();
    let mut last_block = usize::MAX;
    let mut last_act = usize::MAX;
    let mut marks_from = 0;
    while !body.done {
        let in_set = matches!(plan.blocks.get(body.block), Some(Block::Set(_)));
        if n.is_multiple_of(every) {
            let p = TracePoint {
                t: body.t,
                q: deg(body.q),
                f: deg(body.f),
                roll: deg(body.pelvis_roll()),
                lean_roll: -deg(plan.lifter.roll_per_lean * body.l),
                seg: body.segment_pose(plan.cfg.placement).1,
            };
            if in_set {
                trace.push(p);
            } else {
                recent.push_back(p);
                if recent.len() > 100 {
                    recent.pop_front();
                }
            }
        }
        if let Some(Block::Rest(acts)) = plan.blocks.get(body.block) {
            if (body.block, body.act) != (last_block, last_act) {
                if let Some(name) = acts.get(body.act).and_then(|a| a.0.name()) {
                    distractions.push(format!("{name} at {:.1} s", body.t));
                }
            }
        }
        if body.block != last_block {
            if let Some(Block::Set(reps)) = plan.blocks.get(last_block) {
                let marks = &body.marks[marks_from..];
                sets.push(label_set(plan, &comps, reps, marks, &recent, &trace));
                marks_from = body.marks.len();
                trace.clear();
            }
            if in_set {
                trace.clear();
            }
        }
        last_block = body.block;
        last_act = body.act;
        body.step();
        n += 1;
    }
    if let Some(Block::Set(reps)) = plan.blocks.get(last_block) {
        let marks = &body.marks[marks_from..];
        sets.push(label_set(plan, &comps, reps, marks, &recent, &trace));
    }
    let duration = body.t + plan.tail;
    let truth = Truth {
        config: cfg.clone(),
        duration_s: round3(duration),
        distractions,
        sets,
    };
    (truth, duration)
}

/// Reads one set's reps off its trace as a labeller would.
fn label_set(
    plan: &Plan,
    comps: &[FlagKind],
    reps: &[RepPlan],
    marks: &[Mark],
    before: &std::collections::VecDeque<TracePoint>,
    trace: &[TracePoint],
) -> TruthSet {
    let all: Vec<TracePoint> = before
        .iter()
        .copied()
        .chain(trace.iter().copied())
        .collect();
    let at = |t: f64| all.partition_point(|p| p.t < t).min(all.len() - 1);
    let hitch = plan.hitch;
    let first = marks.first().map_or(0.0, |m| m.begin);
    // Neutral: the still stance just before the set.
    let (a, b) = (at(first - 0.35), at(first - 0.05));
    let neutral = all[a..=b.max(a)].iter().map(|p| p.roll).sum::<f64>() / (b.max(a) - a + 1) as f64;
    let rest = all[b].seg;
    let mut out: Vec<(TruthRep, Strategy)> = Vec::new();
    let mut floor_t = all[0].t;
    for (i, m) in marks.iter().enumerate() {
        // The leg's own rest before this rep (it may rest where the stack
        // touches down, or against the pads).
        let base = all[at(m.begin)].q;
        let signal = |p: &TracePoint| if hitch { neutral - p.roll } else { p.q - base };
        let next_begin = marks.get(i + 1).map_or(f64::INFINITY, |n| n.begin);
        let lo = at((m.begin - 0.3).max(floor_t));
        let hi = at((m.end + 0.3).min(next_begin));
        let peak_i = (lo..=hi)
            .max_by(|&x, &y| signal(&all[x]).total_cmp(&signal(&all[y])))
            .unwrap_or(lo);
        let top = signal(&all[peak_i]);
        let thr = (0.1 * top).max(if hitch { 0.5 } else { 1.0 });
        let mut s = peak_i;
        while s > lo && signal(&all[s]) > thr {
            s -= 1;
        }
        let mut e = peak_i;
        while e < hi && signal(&all[e]) > thr {
            e += 1;
        }
        if hitch {
            // A pull past level belongs to the rep until the pelvis is level again.
            let back = (0.15 * top).max(1.5);
            let lo_e = e;
            e = (lo_e..=hi)
                .rev()
                .find(|&j| signal(&all[j]).abs() > back)
                .map_or(lo_e, |j| (j + 1).min(hi));
        }
        floor_t = all[e].t;
        let span = &all[s..=e];
        let peak = match plan.cfg.placement {
            Placement::Ankle => span
                .iter()
                .map(|p| deg(rest.angle_to(&p.seg)))
                .fold(0.0, f64::max),
            Placement::Pelvis => span
                .iter()
                .map(|p| (p.roll - neutral).abs())
                .fold(0.0, f64::max),
        };
        let strategy = reps.get(i).map_or(Strategy::Clean, |r| r.strategy);
        let mut flags = Vec::new();
        let rel: Vec<f64> = span.iter().map(|p| p.roll - neutral).collect();
        let held = |over: &dyn Fn(f64) -> bool| {
            let need = (OBLIQUITY_HOLD_S / TRACE_S).round() as usize;
            let mut run = 0;
            rel.iter().any(|&x| {
                run = if over(x) { run + 1 } else { 0 };
                run >= need
            })
        };
        let hi_roll = rel.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lo_roll = rel.iter().copied().fold(f64::INFINITY, f64::min);
        // In a hitch the pelvis goes down and up by design: a rock is the lean's.
        let (rock_hi, rock_lo) = if hitch {
            let l0 = all[b].lean_roll;
            span.iter()
                .fold((f64::NEG_INFINITY, f64::INFINITY), |(h, l), p| {
                    (h.max(p.lean_roll - l0), l.min(p.lean_roll - l0))
                })
        } else {
            (hi_roll, lo_roll)
        };
        if !hitch && strategy == Strategy::Momentum {
            flags.push(TruthFlag {
                kind: FlagKind::Momentum,
                value_deg: round1(peak),
            });
        }
        let drift = span.iter().map(|p| p.f).fold(f64::NEG_INFINITY, f64::max);
        if !hitch && drift > 8.0 {
            flags.push(TruthFlag {
                kind: FlagKind::HipFlexionDrift,
                value_deg: round1(drift),
            });
        }
        if rock_hi > OBLIQUITY_FLAG_DEG && rock_lo < -OBLIQUITY_FLAG_DEG {
            flags.push(TruthFlag {
                kind: FlagKind::TrunkSway,
                value_deg: round1(rock_hi.max(-rock_lo)),
            });
        } else if held(&|x| x >= OBLIQUITY_FLAG_DEG) {
            flags.push(TruthFlag {
                kind: FlagKind::HipHike,
                value_deg: round1(hi_roll),
            });
        } else if !hitch && held(&|x| x <= -OBLIQUITY_FLAG_DEG) {
            flags.push(TruthFlag {
                kind: FlagKind::PelvicDrop,
                value_deg: round1(-lo_roll),
            });
        }
        out.push((
            TruthRep {
                start_s: round3(all[s].t),
                end_s: round3(all[e].t),
                peak_deg: round1(peak),
                flags,
            },
            strategy,
        ));
    }
    // Partial range: well short of the set's working range (the median rep).
    let mut peaks: Vec<f64> = out.iter().map(|(r, _)| r.peak_deg).collect();
    peaks.sort_by(f64::total_cmp);
    let working = peaks.get(peaks.len() / 2).copied().unwrap_or(0.0);
    let mut truth_reps = Vec::new();
    for (mut r, _) in out {
        if !hitch && r.peak_deg < 0.7 * working {
            r.flags.push(TruthFlag {
                kind: FlagKind::PartialRange,
                value_deg: round1(working - r.peak_deg),
            });
        }
        r.flags.retain(|f| comps.contains(&f.kind));
        truth_reps.push(r);
    }
    TruthSet {
        start_s: truth_reps.first().map_or(0.0, |r| r.start_s),
        end_s: truth_reps.last().map_or(0.0, |r| r.end_s),
        rep_count: truth_reps.len(),
        reps: truth_reps,
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// The sensor's own errors, drawn once per session.
#[derive(Debug, Clone)]
struct SensorErrors {
    gyro_bias: Vector3<f64>,
    warmup: Vector3<f64>,
    warmup_tau: f64,
    walk_sd: f64,
    acc_bias: Vector3<f64>,
    acc_scale: Vector3<f64>,
    gyro_scale: Vector3<f64>,
    misalign: UnitQuaternion<f64>,
    gyro_sd: f64,
    acc_sd: f64,
    gyro_range: f64,
    acc_range: f64,
    real: bool,
    drift_ppm: f64,
    jitter_s: f64,
}

impl SensorErrors {
    fn draw(rng: &mut ChaCha8Rng, cfg: &SimConfig) -> SensorErrors {
        let mut v = |s: f64| {
            Vector3::new(
                rng.gen_range(-1.0..=1.0),
                rng.gen_range(-1.0..=1.0),
                rng.gen_range(-1.0..=1.0),
            ) * s
        };
        let n = cfg.noise;
        let gyro_bias = v(cfg.gyro_bias_dps);
        let warmup = v(0.3 * cfg.gyro_bias_dps);
        let acc_bias = v(0.08 * n);
        let acc_scale = Vector3::repeat(1.0) + v(0.03 * n.min(2.0));
        let gyro_scale = Vector3::repeat(1.0) + v(0.02 * n.min(2.0));
        let axis = v(1.0).try_normalize(1e-9).unwrap_or(Vector3::x());
        let misalign =
            UnitQuaternion::from_scaled_axis(axis * rad(rng.gen_range(0.0..1.0) * n.min(2.0)));
        // White noise densities of a consumer MEMS IMU, over the output bandwidth.
        let bw = (cfg.rate_hz / 2.0).sqrt();
        let small_range = rng.gen_bool(0.2);
        let real = n > 0.0;
        SensorErrors {
            gyro_bias,
            warmup,
            warmup_tau: rng.gen_range(60.0..200.0),
            walk_sd: 0.02 * cfg.gyro_bias_dps,
            acc_bias,
            acc_scale,
            gyro_scale,
            misalign,
            gyro_sd: 0.04 * n * bw,
            acc_sd: 0.003 * n * bw,
            gyro_range: if small_range { 500.0 } else { 2000.0 },
            acc_range: STANDARD_GRAVITY * if small_range { 4.0 } else { 16.0 },
            real,
            drift_ppm: if real {
                rng.gen_range(-40.0..40.0)
            } else {
                0.0
            },
            jitter_s: if real { 0.12 / cfg.rate_hz } else { 0.0 },
        }
    }
}

/// The sixth body model's sample stream.
pub struct MuscleSimulator {
    body: Body,
    rng: ChaCha8Rng,
    errors: SensorErrors,
    rate: f64,
    index: u64,
    count: u64,
    drop_rate: f64,
    in_drop: bool,
    gaps: Vec<f64>,
    gap_cursor: usize,
    /// Segment poses at steps k−1, k, k+1, k+2 (k: the step at or before the body time).
    poses: [(Vector3<f64>, UnitQuaternion<f64>); 4],
    /// Body time of pose 1.
    pose_t: f64,
    walk: Vector3<f64>,
    last_t: f64,
}

impl MuscleSimulator {
    /// Plans a session, runs it once for the truth, and returns the sample stream and the truth.
    pub fn new(cfg: &SimConfig) -> Result<(MuscleSimulator, Truth), String> {
        let plan = Plan::new(cfg)?;
        let (truth, duration) = read_truth(&plan);
        let mut rng = ChaCha8Rng::seed_from_u64(plan.motor_seed ^ 0x005e_450a);
        let errors = SensorErrors::draw(&mut rng, cfg);
        let n_gaps = (cfg.gaps_per_min * duration / 60.0).round() as usize;
        let mut gaps: Vec<f64> = (0..n_gaps).map(|_| rng.gen_range(0.0..duration)).collect();
        gaps.sort_by(f64::total_cmp);
        let mut body = Body::new(plan);
        let first = sensor_pose(&body);
        let mut poses = [first; 4];
        for p in poses.iter_mut().skip(2) {
            body.step();
            *p = sensor_pose(&body);
        }
        // The step before the first, extrapolated, so the first samples are smooth.
        let (p1, r1) = poses[1];
        let (p2, r2) = poses[2];
        poses[0] = (2.0 * p1 - p2, r1 * (r1.inverse() * r2).inverse());
        let sim = MuscleSimulator {
            body,
            rng,
            errors,
            rate: cfg.rate_hz,
            index: 0,
            count: (duration * cfg.rate_hz) as u64,
            drop_rate: cfg.drop_rate,
            in_drop: false,
            gaps,
            gap_cursor: 0,
            poses,
            pose_t: 0.0,
            walk: Vector3::zeros(),
            last_t: f64::NEG_INFINITY,
        };
        Ok((sim, truth))
    }

    /// Specific force (world) and angular rate (segment frame, rad/s) at pose `k` (1 or 2).
    fn kinematics(&self, k: usize) -> (Vector3<f64>, Vector3<f64>, UnitQuaternion<f64>) {
        let (p0, r0) = self.poses[k - 1];
        let (p1, r1) = self.poses[k];
        let (p2, r2) = self.poses[k + 1];
        let acc = (p2 - 2.0 * p1 + p0) / (DT * DT) + Vector3::new(0.0, 0.0, STANDARD_GRAVITY);
        let w = (r0.inverse() * r2).scaled_axis() / (2.0 * DT);
        (acc, w, r1)
    }

    /// The ideal reading at body time `tb`.
    fn ideal(&mut self, tb: f64) -> (Vector3<f64>, Vector3<f64>) {
        while self.pose_t + DT <= tb {
            self.body.step();
            self.poses.rotate_left(1);
            self.poses[3] = sensor_pose(&self.body);
            self.pose_t += DT;
        }
        let u = ((tb - self.pose_t) / DT).clamp(0.0, 1.0);
        let (a1, w1, r1) = self.kinematics(1);
        let (a2, w2, _) = self.kinematics(2);
        let acc_world = a1 * (1.0 - u) + a2 * u;
        let w = w1 * (1.0 - u) + w2 * u;
        (r1.inverse() * acc_world, w.map(f64::to_degrees))
    }
}

/// The sensor's pose: the segment's, times the mounting of the moment (with
/// the handling while it is re-strapped).
fn sensor_pose(body: &Body) -> (Vector3<f64>, UnitQuaternion<f64>) {
    let (p, r) = body.segment_pose(body.plan.cfg.placement);
    let sc = &body.scene;
    let mounts = &body.plan.mounts;
    let i = sc.mount_index;
    let mount = if i > 0 && sc.handling > 0.0 {
        let m = mounts[i - 1].slerp(&mounts[i], smoothstep((1.0 - sc.handling) * 1.6));
        let h = sc.handling * (1.0 - sc.handling) * 4.0;
        let t = body.t;
        m * UnitQuaternion::from_scaled_axis(
            Vector3::new((7.1 * t).sin(), (4.3 * t).cos(), (5.7 * t).sin()) * rad(25.0) * h,
        )
    } else {
        mounts[i]
    };
    (p, r * mount)
}

impl Iterator for MuscleSimulator {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        loop {
            if self.index >= self.count {
                return None;
            }
            let i = self.index;
            self.index += 1;
            let t = i as f64 / self.rate;
            let tb = t * (1.0 + self.errors.drift_ppm * 1e-6);
            let (acc, gyr) = self.ideal(tb);
            let e = self.errors.clone();
            // The bias wanders whether or not the sample gets through.
            self.walk += Vector3::new(
                gauss(&mut self.rng),
                gauss(&mut self.rng),
                gauss(&mut self.rng),
            ) * e.walk_sd
                / self.rate.sqrt();
            if crate::source::sim::in_ble_gap(&self.gaps, &mut self.gap_cursor, t) {
                continue;
            }
            if self.drop_rate > 0.0 {
                // Drops come in short bursts (mean 1.5 samples).
                self.in_drop = if self.in_drop {
                    self.rng.gen_bool(1.0 / 3.0)
                } else {
                    self.rng.gen_bool((self.drop_rate / 1.5).min(1.0))
                };
                if self.in_drop {
                    continue;
                }
            }
            let bias = e.gyro_bias + e.warmup * (-tb / e.warmup_tau).exp() + self.walk;
            let mut g = e.misalign * gyr;
            let mut a = e.misalign * acc;
            for k in 0..3 {
                g[k] = g[k] * e.gyro_scale[k] + bias[k] + e.gyro_sd * gauss(&mut self.rng);
                a[k] = a[k] * e.acc_scale[k] + e.acc_bias[k] + e.acc_sd * gauss(&mut self.rng);
                if e.real {
                    // 16-bit converters over their full scales.
                    g[k] = quantise(g[k], e.gyro_range);
                    a[k] = quantise(a[k], e.acc_range);
                }
            }
            let mut ts = t;
            if e.jitter_s > 0.0 {
                ts += (e.jitter_s * gauss(&mut self.rng)).clamp(-0.4 / self.rate, 0.4 / self.rate);
            }
            ts = ts.max(self.last_t);
            self.last_t = ts;
            return Some(Sample {
                t: ts,
                acc: a,
                gyr: g,
            });
        }
    }
}

fn quantise(x: f64, range: f64) -> f64 {
    let lsb = range / 32768.0;
    (x.clamp(-range, range - lsb) / lsb).round() * lsb
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Side;

    fn config(exercise: Exercise, placement: Placement, seed: u64) -> SimConfig {
        let mut c = SimConfig::new(exercise, placement, Side::Right);
        c.model = crate::source::sim::SimModel::Muscle;
        c.seed = seed;
        c.sets = 2;
        c.reps_min = 5;
        c.reps_max = 5;
        c.rest_min_s = 20.0;
        c.rest_max_s = 25.0;
        c.rate_hz = 50.0;
        c
    }

    /// Every exercise × placement the simulator accepts.
    fn combinations() -> Vec<(Exercise, Placement)> {
        crate::motion::Profile::supported()
            .filter(|&(e, p)| config(e, p, 1).validate().is_ok())
            .collect()
    }

    /// One set whose reps are done the way `strategies` says, by the lifter of `seed`.
    fn plan_with(
        exercise: Exercise,
        placement: Placement,
        seed: u64,
        strategies: &[Strategy],
    ) -> Plan {
        let mut c = config(exercise, placement, seed);
        c.sets = 1;
        c.reps_min = strategies.len();
        c.reps_max = strategies.len();
        c.compensation_rate = 0.0;
        let mut plan = Plan::new(&c).unwrap();
        for block in &mut plan.blocks {
            if let Block::Set(reps) = block {
                let first = reps[0].clone();
                for (r, s) in reps.iter_mut().zip(strategies) {
                    // Same tempo and range every rep: only the strategy differs.
                    *r = RepPlan {
                        strategy: *s,
                        ..first.clone()
                    };
                }
            }
        }
        plan
    }

    fn kinds(rep: &TruthRep) -> Vec<FlagKind> {
        rep.flags.iter().map(|f| f.kind).collect()
    }

    #[test]
    fn every_exercise_and_placement_has_a_consistent_truth() {
        let combos = combinations();
        assert_eq!(combos.len(), 6, "{combos:?}");
        for (e, p) in combos {
            let mut c = config(e, p, 11);
            c.compensation_rate = 0.4;
            let (sim, truth) = MuscleSimulator::new(&c).unwrap();
            let visible = c.visible_compensations();
            assert_eq!(truth.config, c);
            assert_eq!(truth.sets.len(), 2, "{e} {p}");
            let mut last_end = 0.0;
            for set in &truth.sets {
                assert_eq!(set.rep_count, 5, "{e} {p}");
                assert_eq!(set.reps.len(), 5, "{e} {p}");
                assert!(set.start_s >= last_end, "{e} {p}: sets overlap");
                assert_eq!(set.start_s, set.reps[0].start_s);
                assert_eq!(set.end_s, set.reps[4].end_s);
                let mut rep_end = 0.0;
                for r in &set.reps {
                    assert!(
                        r.start_s >= rep_end && r.end_s > r.start_s + 0.3,
                        "{e} {p}: {r:?}"
                    );
                    assert!(r.peak_deg > 0.0);
                    for f in &r.flags {
                        assert!(
                            visible.contains(&f.kind),
                            "{e} {p}: {f:?} not seen from here"
                        );
                    }
                    rep_end = r.end_s;
                }
                assert!(set.end_s < truth.duration_s);
                last_end = set.end_s;
            }
            // The leg (or, in a hitch, the pelvis) moves a working range.
            let peaks: Vec<f64> = truth
                .sets
                .iter()
                .flat_map(|s| s.reps.iter().map(|r| r.peak_deg))
                .collect();
            let top = peaks.iter().copied().fold(0.0, f64::max);
            let least = if p == Placement::Ankle { 15.0 } else { 1.0 };
            assert!(top > least, "{e} {p}: peaks {peaks:?}");
            let samples: Vec<Sample> = sim.collect();
            assert!(samples.len() as f64 > 0.8 * truth.duration_s * c.rate_hz);
            assert!(samples.windows(2).all(|w| w[1].t >= w[0].t));
            assert!(samples.last().unwrap().t <= truth.duration_s);
            assert!(samples
                .iter()
                .all(|s| s.acc.norm().is_finite() && s.gyr.norm().is_finite()));
        }
    }

    #[test]
    fn the_sensor_errors_are_there_when_asked_and_gone_when_not() {
        let mut ideal = config(Exercise::SideLyingAbduction, Placement::Ankle, 3);
        ideal.sets = 1;
        ideal.noise = 0.0;
        ideal.gyro_bias_dps = 0.0;
        ideal.drop_rate = 0.0;
        ideal.gaps_per_min = 0.0;
        let (sim, truth) = MuscleSimulator::new(&ideal).unwrap();
        let clean: Vec<Sample> = sim.collect();
        // Every sample, on time.
        assert_eq!(
            clean.len() as u64,
            (truth.duration_s * ideal.rate_hz) as u64
        );
        assert!(clean
            .iter()
            .enumerate()
            .all(|(i, s)| (s.t - i as f64 / ideal.rate_hz).abs() < 1e-9));

        let mut noisy = ideal.clone();
        noisy.noise = 1.0;
        noisy.gyro_bias_dps = 2.0;
        let (sim, _) = MuscleSimulator::new(&noisy).unwrap();
        let rough: Vec<Sample> = sim.collect();
        assert_eq!(rough.len(), clean.len());
        let n = clean.len() as f64;
        let mean: Vector3<f64> = clean
            .iter()
            .zip(&rough)
            .map(|(a, b)| b.gyr - a.gyr)
            .sum::<Vector3<f64>>()
            / n;
        let spread = (clean
            .iter()
            .zip(&rough)
            .map(|(a, b)| (b.gyr - a.gyr - mean).norm_squared())
            .sum::<f64>()
            / n)
            .sqrt();
        assert!(mean.norm() > 0.05, "no gyro bias: {mean:?}");
        assert!(spread > 0.1, "no gyro noise: {spread}");
        // Time stamps jitter off the grid, readings sit on the converter's steps.
        assert!(rough
            .iter()
            .enumerate()
            .any(|(i, s)| (s.t - i as f64 / noisy.rate_hz).abs() > 1e-6));

        let mut lossy = ideal.clone();
        lossy.drop_rate = 0.05;
        lossy.gaps_per_min = 10.0;
        let (sim, _) = MuscleSimulator::new(&lossy).unwrap();
        let holed: Vec<Sample> = sim.collect();
        let lost = 1.0 - holed.len() as f64 / n;
        assert!(lost > 0.03 && lost < 0.15, "lost {lost}");
        assert!(
            holed.windows(2).any(|w| w[1].t - w[0].t >= 0.19),
            "no BLE gap"
        );
    }

    #[test]
    fn distractions_are_listed_between_sets() {
        let mut c = config(Exercise::StandingCableAbduction, Placement::Pelvis, 4);
        c.sets = 3;
        c.rest_min_s = 30.0;
        c.rest_max_s = 40.0;
        let (_, truth) = MuscleSimulator::new(&c).unwrap();
        assert!(
            truth.distractions.iter().any(|d| d.starts_with("walk")),
            "{:?}",
            truth.distractions
        );
        for d in &truth.distractions {
            let at: f64 = d
                .rsplit(" at ")
                .next()
                .unwrap()
                .trim_end_matches(" s")
                .parse()
                .unwrap();
            assert!(
                truth.sets.iter().all(|s| at < s.start_s || at > s.end_s),
                "{d} inside a set"
            );
        }
        c.walking = false;
        c.fidgets = false;
        let (_, truth) = MuscleSimulator::new(&c).unwrap();
        assert!(truth.distractions.is_empty(), "{:?}", truth.distractions);
    }

    #[test]
    fn pelvic_compensations_move_the_pelvis_the_way_they_should() {
        use Strategy::*;
        let plan = plan_with(
            Exercise::StandingCableAbduction,
            Placement::Pelvis,
            21,
            &[
                Clean,
                Clean,
                Hike(rad(10.0)),
                Clean,
                Drop(rad(10.0)),
                Clean,
                Sway(rad(8.0)),
                Clean,
            ],
        );
        let (truth, _) = read_truth(&plan);
        let reps = &truth.sets[0].reps;
        let clean = reps[3].peak_deg.max(reps[5].peak_deg);
        assert!(clean < 5.0, "a clean rep rolls the sacrum {clean}°");
        assert!(
            kinds(&reps[3]).is_empty() && kinds(&reps[5]).is_empty(),
            "{reps:?}"
        );
        assert_eq!(kinds(&reps[2]), [FlagKind::HipHike], "{:?}", reps[2]);
        assert!(
            reps[2].peak_deg > clean + 3.0,
            "hike {} against clean {clean}",
            reps[2].peak_deg
        );
        assert_eq!(kinds(&reps[4]), [FlagKind::PelvicDrop], "{:?}", reps[4]);
        assert!(reps[4].peak_deg > clean + 3.0);
        assert_eq!(kinds(&reps[6]), [FlagKind::TrunkSway], "{:?}", reps[6]);

        // In a hitch the hike is a pull past level.
        let plan = plan_with(
            Exercise::HipHitch,
            Placement::Pelvis,
            21,
            &[Clean, Clean, Hike(rad(10.0)), Clean],
        );
        let (truth, _) = read_truth(&plan);
        let reps = &truth.sets[0].reps;
        assert!(
            kinds(&reps[1]).is_empty() && kinds(&reps[3]).is_empty(),
            "{reps:?}"
        );
        assert_eq!(kinds(&reps[2]), [FlagKind::HipHike], "{reps:?}");
    }

    #[test]
    fn ankle_compensations_change_the_leg_the_way_they_should() {
        use Strategy::*;
        for exercise in [
            Exercise::StandingCableAbduction,
            Exercise::SideLyingAbduction,
            Exercise::SeatedMachineAbduction,
        ] {
            let plan = plan_with(
                exercise,
                Placement::Ankle,
                5,
                &[
                    Clean,
                    Clean,
                    Momentum,
                    Clean,
                    Partial(0.4),
                    Clean,
                    Drift(rad(20.0)),
                    Clean,
                ],
            );
            let (truth, _) = read_truth(&plan);
            let reps = &truth.sets[0].reps;
            let clean = &reps[3];
            assert!(
                kinds(clean).is_empty() && kinds(&reps[5]).is_empty(),
                "{exercise}: {reps:?}"
            );
            let length = |r: &TruthRep| r.end_s - r.start_s;
            assert!(kinds(&reps[2]).contains(&FlagKind::Momentum));
            assert!(
                length(&reps[2]) < 0.6 * length(clean),
                "{exercise}: momentum {:?} clean {clean:?}",
                reps[2]
            );
            assert!(
                kinds(&reps[4]).contains(&FlagKind::PartialRange),
                "{exercise}: {:?}",
                reps[4]
            );
            assert!(reps[4].peak_deg < 0.7 * clean.peak_deg);
            let visible = config(exercise, Placement::Ankle, 1).visible_compensations();
            if visible.contains(&FlagKind::HipFlexionDrift) {
                assert!(
                    kinds(&reps[6]).contains(&FlagKind::HipFlexionDrift),
                    "{exercise}: {:?}",
                    reps[6]
                );
            }
        }
    }

    /// Seconds from each rep's burst to the hold, as the body ran them.
    fn rise_times(plan: Plan) -> Vec<f64> {
        let mut body = Body::new(plan);
        let mut out = Vec::new();
        let mut since = None;
        while !body.done {
            match (body.phase, since) {
                (Phase::Rise { since: s }, None) => since = Some(s),
                (Phase::Hold { .. }, Some(s)) => {
                    out.push(body.t - s);
                    since = None;
                }
                _ => {}
            }
            body.step();
        }
        out
    }

    #[test]
    fn fatigue_slows_the_late_reps() {
        let strategies = [Strategy::Clean; 14];
        let mut tiring = plan_with(
            Exercise::SideLyingAbduction,
            Placement::Ankle,
            9,
            &strategies,
        );
        let mut fresh = tiring.clone();
        tiring.lifter.tire = 0.02;
        fresh.lifter.tire = 0.0;
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let tired = rise_times(tiring);
        let rested = rise_times(fresh);
        assert_eq!(tired.len(), 14);
        let slowing = mean(&tired[11..]) / mean(&tired[..3]);
        let steady = mean(&rested[11..]) / mean(&rested[..3]);
        assert!(slowing > 1.1 * steady, "tiring {tired:?}, fresh {rested:?}");
    }
}
