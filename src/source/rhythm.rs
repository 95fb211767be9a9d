//! The eighteenth body model: reps that emerge from a dynamical system.
//!
//! Motor-control research models rhythmic movement as a central pattern
//! generator: a nonlinear oscillator whose amplitude and frequency are slow
//! state variables. Here the working degree of freedom (hip abduction, the
//! stance hip's hitch, the step-up's depth, the bridge's lift) is driven by
//! a Hopf oscillator in polar form, `r' = γ(μ − r²)r`, `φ' = ω(φ)`, whose
//! frequency switches between a fast rise and a slower return through a
//! sigmoid of the phase (the stance/swing switching of CPG controllers)
//! and slows near the bottom (a dwell), and whose output goes through a
//! soft end-range saturation: the rep shapes are asymmetric and not sines.
//!
//! A set *starts* when the lifter ramps the bifurcation parameter `μ` up
//! (a feel-out wiggle and growing first reps, or all at once) and *ends*
//! when it is ramped down (a shrinking last rep and a fizzle) or the phase
//! is simply stopped at the bottom. Frequency noise gives phase diffusion
//! (irregular intervals), an Ornstein–Uhlenbeck wander moves the amplitude,
//! and a gate on the phase velocity makes the resets: pauses at the bottom
//! (1–5 s), holds at the top (1–6 s, for lifters who hold), hesitations
//! halfway up. Some lifters are entrained to a metronome or music (a phase
//! coupling `K sin(φ_beat − φ)`) and lose a beat now and then. A second,
//! weaker oscillator phase-locked to the first moves hip flexion.
//!
//! The body is a kinematic chain: the stance foot, the whole body leaning
//! about it, the pelvis (obliquity, tilt, rotation, sideways shift), the
//! working hip (abduction, flexion, rotation) and knee. The pelvis answers
//! the leg through a balance coupling (the leg's share of the centre of
//! mass pushes the hips toward the stance side, part of it as a whole-body
//! lean that rolls the pelvis against its own small obliquity) and sways at
//! several time scales (sums of filtered OU processes). Compensations are
//! perturbations of the oscillator (momentum: a kick on the phase velocity
//! and a free fall; partial range: `μ` dropped for a rep) or of the body
//! (hip hike, pelvic drop, trunk sway, hip-flexion drift).
//!
//! Between sets a semi-Markov chain of behaviours runs: standing still,
//! weight shifts, walking with a gait and foot strikes, turning, a leg
//! swing or two, shaking the leg out, re-strapping (the mounting changes
//! and jostles), sitting down and standing up, lying down and getting up,
//! stretching; each is written into the truth's distractions.
//!
//! The sensor sits on the shank (any mounting) or the sacrum. Its specific
//! force and angular rate come from the kinematics by finite differences on
//! a fine internal step, averaged to the output rate, then get per-unit
//! scale and cross-axis errors, a drifting gyro bias, white noise,
//! quantisation, saturation, dropped samples and 200 ms gaps.
//!
//! The truth is measured on the simulated motion: reps are found in the
//! working joint's angle (an attempt abandoned low is not a rep), and
//! their flags are decided from the pelvis, the whole body's lean, the
//! leg's flexion and speed with DOMAIN.md's thresholds.
//!
//! Built after all seventeen other models without reading them or the
//! counter.

use super::{gauss, rx, ry, rz};
use crate::motion::FlagKind;
use crate::sample::STANDARD_GRAVITY;
use crate::source::sim::{SimConfig, Truth, TruthFlag, TruthRep, TruthSet};
use crate::{Exercise, Placement, Sample};
use nalgebra::{Matrix3, UnitQuaternion, Vector3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::f64::consts::PI;

const TAU: f64 = 2.0 * PI;
/// Hip half-width, m.
const HIP_HALF: f64 = 0.09;
/// Hip to knee, m.
const THIGH: f64 = 0.44;
/// Knee to the sensor on the shank, m.
const SHANK_SENSOR: f64 = 0.34;

/// The simulated session of the rhythm model: its samples, in order.
pub struct RhythmSimulator {
    samples: std::vec::IntoIter<Sample>,
}

impl RhythmSimulator {
    /// Simulates the whole session `cfg` asks for; returns the sample stream and its truth.
    pub fn new(cfg: &SimConfig) -> Result<(Self, Truth), String> {
        cfg.validate()?;
        let out = run(cfg, Tweaks::default());
        Ok((
            RhythmSimulator {
                samples: out.samples.into_iter(),
            },
            out.truth,
        ))
    }
}

impl Iterator for RhythmSimulator {
    type Item = Sample;
    fn next(&mut self) -> Option<Sample> {
        self.samples.next()
    }
}

/// Knobs the tests turn.
#[derive(Debug, Clone, Copy, Default)]
struct Tweaks {
    /// Every set has an attempt abandoned low as its fourth cycle.
    abandon_fourth: bool,
}

/// What a run produced.
struct Output {
    samples: Vec<Sample>,
    truth: Truth,
    /// Attempts the lifter abandoned low: (start, end), s.
    #[cfg_attr(not(test), allow(dead_code))]
    abandoned: Vec<(f64, f64)>,
}

fn smooth(x: f64) -> f64 {
    let x = x.clamp(0.0, 1.0);
    x * x * x * (x * (6.0 * x - 15.0) + 10.0)
}

/// Filtered Ornstein–Uhlenbeck noise: an OU process of time scale `tau`
/// and spread `sigma`, smoothed by two first-order lags of `tf` so that
/// its path can be differentiated twice.
#[derive(Debug, Clone, Copy)]
struct Wander {
    x: f64,
    y1: f64,
    y2: f64,
    tau: f64,
    sigma: f64,
    tf: f64,
}

impl Wander {
    fn new(rng: &mut ChaCha8Rng, tau: f64, sigma: f64, tf: f64) -> Self {
        let x = sigma * gauss(rng);
        Wander {
            x,
            y1: x,
            y2: x,
            tau,
            sigma,
            tf,
        }
    }

    fn step(&mut self, dt: f64, rng: &mut ChaCha8Rng) -> f64 {
        let a = (-dt / self.tau).exp();
        self.x = a * self.x + self.sigma * (1.0 - a * a).sqrt() * gauss(rng);
        let b = (dt / self.tf).min(1.0);
        self.y1 += (self.x - self.y1) * b;
        self.y2 += (self.y1 - self.y2) * b;
        self.y2
    }
}

/// How the body is laid out.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Posture {
    Stand,
    Sit,
    SideLie,
    Supine,
}

impl Posture {
    /// Body frame (x forward, y left, z up when standing) in the heading frame.
    fn frame(self, side: f64) -> UnitQuaternion<f64> {
        match self {
            Posture::Stand => UnitQuaternion::identity(),
            Posture::Sit => ry(-0.08),
            // The working side faces up.
            Posture::SideLie => rx(-side * PI / 2.0),
            Posture::Supine => ry(-PI / 2.0),
        }
    }
    /// Pelvis height above the floor, m.
    fn height(self) -> f64 {
        match self {
            Posture::Stand => 0.93,
            Posture::Sit => 0.52,
            Posture::SideLie => 0.14,
            Posture::Supine => 0.11,
        }
    }
    /// Lever of the whole-body lean (its pivot below the pelvis), m.
    fn lever(self) -> f64 {
        match self {
            Posture::Stand => 0.93,
            Posture::Sit => 0.25,
            Posture::SideLie | Posture::Supine => 0.12,
        }
    }
    /// Hip flexion and knee flexion at rest, rad.
    fn joints(self) -> (f64, f64) {
        match self {
            Posture::Stand => (0.03, 0.06),
            Posture::Sit => (1.52, 1.55),
            Posture::SideLie => (0.15, 0.12),
            Posture::Supine => (0.95, 1.5),
        }
    }
    /// How much postural sway there is.
    fn sway(self) -> f64 {
        match self {
            Posture::Stand => 1.0,
            Posture::Sit => 0.35,
            Posture::SideLie | Posture::Supine => 0.25,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Posture::Stand => "standing",
            Posture::Sit => "sitting",
            Posture::SideLie => "lying on the side",
            Posture::Supine => "lying on the back",
        }
    }
}

/// The body at one instant (angles in rad, lengths in m).
#[derive(Debug, Clone, Copy)]
struct Pose {
    heading: f64,
    base: Vector3<f64>,
    frame: UnitQuaternion<f64>,
    lever: f64,
    /// Whole-body lean about the support: roll and pitch in the body frame.
    lean_x: f64,
    lean_y: f64,
    /// Hips shifted along the body's left axis, m.
    shift: f64,
    /// Extra world-vertical rise of the pelvis, m.
    rise: f64,
    /// Pelvic obliquity relative to the body: free side up.
    obliq: f64,
    tilt: f64,
    twist: f64,
    abd: f64,
    flex: f64,
    hrot: f64,
    knee: f64,
    /// Sensor rotation relative to its mount (strap jostle), rad.
    jostle: Vector3<f64>,
    /// Foot-strike transient, m/s², world vertical.
    impact: f64,
    /// The exercise's working joint, in its own units (° or cm); for the truth.
    prim: f64,
}

impl Pose {
    fn rest(p: Posture, side: f64, heading: f64, base: Vector3<f64>) -> Self {
        let (flex, knee) = p.joints();
        Pose {
            heading,
            base: Vector3::new(base.x, base.y, p.height()),
            frame: p.frame(side),
            lever: p.lever(),
            lean_x: 0.0,
            lean_y: 0.0,
            shift: 0.0,
            rise: 0.0,
            obliq: 0.0,
            tilt: 0.0,
            twist: 0.0,
            abd: 0.02,
            flex,
            hrot: 0.0,
            knee,
            jostle: Vector3::zeros(),
            impact: 0.0,
            prim: 0.0,
        }
    }
}

/// What kind of working joint the exercise moves.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Work {
    /// Hip abduction of the working leg (standing, side-lying, seated, clamshell, band walk).
    Abduct,
    /// The free side of the pelvis drops and is pulled level (hip hitch).
    Hitch,
    /// The body lowers and rises over the stance leg (lateral step-up).
    Step,
    /// The pelvis lifts off the floor (single-leg bridge).
    Bridge,
}

fn work_of(e: Exercise) -> Work {
    match e {
        Exercise::HipHitch => Work::Hitch,
        Exercise::LateralStepUp => Work::Step,
        Exercise::SingleLegBridge => Work::Bridge,
        _ => Work::Abduct,
    }
}

fn posture_of(e: Exercise) -> Posture {
    match e {
        Exercise::SideLyingAbduction | Exercise::Clamshell => Posture::SideLie,
        Exercise::SeatedMachineAbduction => Posture::Sit,
        Exercise::SingleLegBridge => Posture::Supine,
        _ => Posture::Stand,
    }
}

/// One lifter's way of moving, drawn once per session.
#[derive(Debug, Clone)]
struct Lifter {
    /// Full range of the working joint (° or cm).
    amp: f64,
    /// Seconds per rep cycle.
    period: f64,
    /// Share of the cycle spent rising.
    up_share: f64,
    /// Slowing near the bottom, 0..0.8.
    dwell: f64,
    /// End-range saturation.
    sat: f64,
    hold_s: f64,
    hold_prob: f64,
    pause_prob: f64,
    hesitate_prob: f64,
    abandon_prob: f64,
    /// Metronome coupling (share of the beat's angular rate) and the chance of losing a beat.
    metronome: Option<(f64, f64)>,
    freq_sd: f64,
    amp_sd: f64,
    at_once: f64,
    stop_at_bottom: f64,
    fail_last: f64,
    /// Balance: how much of the leg's centre of mass the hips answer, and how much of it as lean.
    balance: f64,
    pivot: f64,
    /// Clean-rep couplings, °.
    obl_couple: f64,
    twist_couple: f64,
    tilt_couple: f64,
    rot_couple: f64,
    knee_couple: f64,
    flex_osc: f64,
    flex_lag: f64,
    neutral_flex: f64,
    neutral_rot: f64,
    steady: f64,
    fatigue: f64,
}

impl Lifter {
    fn draw(rng: &mut ChaCha8Rng, e: Exercise) -> Self {
        let kind: f64 = rng.gen();
        let amp = match work_of(e) {
            Work::Abduct => {
                let (lo, hi) = if e == Exercise::SeatedMachineAbduction {
                    if kind < 0.25 {
                        (12.0, 18.0)
                    } else {
                        (18.0, 40.0)
                    }
                } else if kind < 0.2 {
                    (12.0, 20.0)
                } else if kind < 0.8 {
                    (22.0, 45.0)
                } else {
                    (45.0, 60.0)
                };
                rng.gen_range(lo..hi)
            }
            Work::Hitch => rng.gen_range(5.5..12.0),
            Work::Step => rng.gen_range(10.0..20.0),
            Work::Bridge => rng.gen_range(15.0..35.0),
        };
        let t: f64 = rng.gen();
        let mut period: f64 = if t < 0.15 {
            rng.gen_range(0.8..1.4)
        } else if t < 0.82 {
            rng.gen_range(1.5..4.0)
        } else {
            rng.gen_range(4.0..6.0)
        };
        if matches!(work_of(e), Work::Hitch | Work::Step | Work::Bridge) {
            period = period.max(1.4);
        }
        let metronome = if rng.gen_bool(0.25) {
            Some((rng.gen_range(0.15..0.45), rng.gen_range(0.02..0.1)))
        } else {
            None
        };
        let holds = metronome.is_none() && rng.gen_bool(0.25);
        Lifter {
            amp,
            period,
            up_share: rng.gen_range(0.3..0.5),
            dwell: rng.gen_range(0.0..0.6),
            sat: rng.gen_range(0.0..0.8),
            hold_s: if holds { rng.gen_range(1.0..6.0) } else { 0.0 },
            hold_prob: if holds { rng.gen_range(0.6..1.0) } else { 0.0 },
            pause_prob: if rng.gen_bool(0.3) {
                rng.gen_range(0.1..0.25)
            } else {
                0.04
            },
            hesitate_prob: rng.gen_range(0.0..0.08),
            abandon_prob: rng.gen_range(0.0..0.05),
            metronome,
            freq_sd: rng.gen_range(0.04..0.12),
            amp_sd: rng.gen_range(0.02..0.06),
            at_once: rng.gen_range(0.2..0.8),
            stop_at_bottom: rng.gen_range(0.3..0.8),
            fail_last: rng.gen_range(0.0..0.2),
            balance: if rng.gen_bool(0.3) {
                rng.gen_range(0.05..0.3) // holds on firmly
            } else {
                rng.gen_range(0.5..1.1)
            },
            pivot: rng.gen_range(0.2..0.5),
            obl_couple: rng.gen_range(0.5..2.5),
            twist_couple: rng.gen_range(-2.0..2.0),
            tilt_couple: rng.gen_range(-1.5..1.5),
            rot_couple: rng.gen_range(-0.15..0.2),
            knee_couple: rng.gen_range(0.0..0.15),
            flex_osc: rng.gen_range(1.0..4.0),
            flex_lag: rng.gen_range(-0.6..0.6),
            neutral_flex: rng.gen_range(-3.0..4.0),
            neutral_rot: rng.gen_range(-10.0..10.0),
            steady: rng.gen_range(0.6..1.3),
            fatigue: rng.gen_range(0.0..1.0),
        }
    }
}

/// What the lifter means to do in one oscillator cycle.
#[derive(Debug, Clone, Copy)]
struct Cycle {
    /// The bifurcation parameter for this cycle (√μ is the amplitude).
    mu: f64,
    /// The lifter counts it.
    counts: bool,
    abandoned: bool,
    comp: Option<FlagKind>,
    comp_size: f64,
    hold: f64,
    pause: f64,
    hesitate: f64,
    lost_beat: bool,
    tempo: f64,
}

impl Cycle {
    fn plain(mu: f64, counts: bool) -> Self {
        Cycle {
            mu,
            counts,
            abandoned: false,
            comp: None,
            comp_size: 0.0,
            hold: 0.0,
            pause: 0.0,
            hesitate: 0.0,
            lost_beat: false,
            tempo: 1.0,
        }
    }
}

/// A point of a set's track, for the truth.
#[derive(Debug, Clone, Copy)]
struct Track {
    t: f64,
    prim: f64,
    /// Obliquity (free side up) from the set's neutral, °.
    obliq: f64,
    /// Whole-body frontal lean from the set's neutral, °.
    lean: f64,
    /// Hip flexion, °.
    flex: f64,
    /// Sensor rotation from its orientation at rest before the set, °.
    rot: f64,
}

/// The sensor's own errors.
struct Unit {
    acc_m: Matrix3<f64>,
    gyr_m: Matrix3<f64>,
    acc_bias: Vector3<f64>,
    gyr_bias: Vector3<f64>,
    gyr_drift: [Wander; 3],
    acc_range: f64,
    gyr_range: f64,
    acc_sd: f64,
    gyr_sd: f64,
    skew: f64,
}

impl Unit {
    fn draw(rng: &mut ChaCha8Rng, cfg: &SimConfig) -> Self {
        let mat = |scale: f64, cross: f64, rng: &mut ChaCha8Rng| {
            let mut m = Matrix3::identity();
            for i in 0..3 {
                for j in 0..3 {
                    m[(i, j)] += if i == j {
                        rng.gen_range(-scale..scale)
                    } else {
                        rng.gen_range(-cross..cross)
                    };
                }
            }
            m
        };
        let acc_m = mat(0.02, 0.01, rng);
        let gyr_m = mat(0.015, 0.01, rng);
        let b = cfg.gyro_bias_dps;
        let gyr_bias = Vector3::from_fn(|_, _| rng.gen_range(-0.75..0.75) * b);
        let gyr_drift = [0, 1, 2].map(|_| Wander::new(rng, 200.0, 0.2 * b + 1e-9, 1.0));
        let acc_bias = Vector3::from_fn(|_, _| rng.gen_range(-0.15..0.15));
        let acc_range = if rng.gen_bool(0.3) { 8.0 } else { 16.0 } * STANDARD_GRAVITY;
        let g: f64 = rng.gen();
        let gyr_range = if g < 0.1 {
            500.0
        } else if g < 0.4 {
            1000.0
        } else {
            2000.0
        };
        Unit {
            acc_m,
            gyr_m,
            acc_bias,
            gyr_bias,
            gyr_drift,
            acc_range,
            gyr_range,
            acc_sd: rng.gen_range(0.02..0.06) * cfg.noise,
            gyr_sd: rng.gen_range(0.08..0.25) * cfg.noise,
            skew: rng.gen_range(-30e-6..30e-6),
        }
    }
}

/// The world the body moves in: time, the sensor on the body, its output.
struct World<'a> {
    cfg: &'a SimConfig,
    rng: ChaCha8Rng,
    t: f64,
    dt: f64,
    per_sample: usize,
    side: f64,
    free: f64,
    mount: UnitQuaternion<f64>,
    unit: Unit,
    hist: Vec<(Vector3<f64>, UnitQuaternion<f64>, f64)>,
    acc_sum: Vector3<f64>,
    gyr_sum: Vector3<f64>,
    t_sum: f64,
    n_sum: usize,
    gap_until: f64,
    last_t: f64,
    samples: Vec<Sample>,
    /// Running mean of obliquity and lean, for each set's neutral.
    ema_obl: f64,
    ema_lean: f64,
    track: Option<Vec<Track>>,
    track_every: usize,
    step_no: usize,
    neutral: (f64, f64, UnitQuaternion<f64>),
    last_sensor_q: UnitQuaternion<f64>,
    distractions: Vec<String>,
}

impl<'a> World<'a> {
    fn new(cfg: &'a SimConfig, mut rng: ChaCha8Rng) -> Self {
        let per_sample = ((800.0 / cfg.rate_hz).ceil() as usize).max(1);
        let dt = 1.0 / (cfg.rate_hz * per_sample as f64);
        let side = cfg.side.sign();
        let free = cfg.exercise.free_side(cfg.side).sign();
        let unit = Unit::draw(&mut rng, cfg);
        let mut w = World {
            cfg,
            rng,
            t: 0.0,
            dt,
            per_sample,
            side,
            free,
            mount: UnitQuaternion::identity(),
            unit,
            hist: Vec::with_capacity(3),
            acc_sum: Vector3::zeros(),
            gyr_sum: Vector3::zeros(),
            t_sum: 0.0,
            n_sum: 0,
            gap_until: -1.0,
            last_t: f64::NEG_INFINITY,
            samples: Vec::new(),
            ema_obl: 0.0,
            ema_lean: 0.0,
            track: None,
            track_every: ((cfg.rate_hz * per_sample as f64 / 200.0).floor() as usize).max(1),
            step_no: 0,
            neutral: (0.0, 0.0, UnitQuaternion::identity()),
            last_sensor_q: UnitQuaternion::identity(),
            distractions: Vec::new(),
        };
        w.mount = w.draw_mount();
        w
    }

    /// A mounting: any orientation on the shank, or the sacral clip tilted within ±15°.
    fn draw_mount(&mut self) -> UnitQuaternion<f64> {
        let s = self.side;
        let rng = &mut self.rng;
        match self.cfg.placement {
            Placement::Ankle => {
                if self.cfg.random_mounting {
                    let v = nalgebra::Vector4::from_fn(|_, _| gauss(rng));
                    UnitQuaternion::from_quaternion(nalgebra::Quaternion::from(v))
                } else {
                    // X up the shank, Z out of the side of the leg.
                    let m = Matrix3::from_columns(&[
                        Vector3::new(0.0, 0.0, 1.0),
                        Vector3::new(-s, 0.0, 0.0),
                        Vector3::new(0.0, -s, 0.0),
                    ]);
                    let q = UnitQuaternion::from_matrix(&m);
                    let wob = Vector3::from_fn(|_, _| rng.gen_range(-0.05..0.05));
                    q * UnitQuaternion::from_scaled_axis(wob)
                }
            }
            Placement::Pelvis => {
                // +X right, +Y up, +Z back in the body frame (x forward, y left, z up).
                let m = Matrix3::from_columns(&[
                    Vector3::new(0.0, -1.0, 0.0),
                    Vector3::new(0.0, 0.0, 1.0),
                    Vector3::new(-1.0, 0.0, 0.0),
                ]);
                let q = UnitQuaternion::from_matrix(&m);
                let max = if self.cfg.random_mounting {
                    15f64.to_radians()
                } else {
                    3f64.to_radians()
                };
                let axis = Vector3::from_fn(|_, _| gauss(rng)).normalize();
                let ang = max * rng.gen::<f64>().sqrt();
                q * UnitQuaternion::from_scaled_axis(axis * ang)
            }
        }
    }

    /// Pelvis orientation relative to the body's posture frame, and in the world.
    fn pelvis(&self, p: &Pose) -> (UnitQuaternion<f64>, UnitQuaternion<f64>, Vector3<f64>) {
        let head = rz(p.heading) * p.frame;
        let lean = rx(p.lean_x) * ry(p.lean_y);
        let rel = lean * rx(-self.free * p.obliq) * ry(p.tilt) * rz(p.twist);
        let lever = Vector3::new(0.0, 0.0, p.lever);
        let pos = p.base
            + head * (Vector3::new(0.0, p.shift, 0.0) + lean * lever - lever)
            + Vector3::new(0.0, 0.0, p.rise);
        (rel, head * rel, pos)
    }

    /// The sensor's position and orientation in the world.
    fn sensor(&self, p: &Pose, mount: &UnitQuaternion<f64>) -> (Vector3<f64>, UnitQuaternion<f64>) {
        let (_, r_pel, p_pel) = self.pelvis(p);
        let jostle = UnitQuaternion::from_scaled_axis(p.jostle);
        match self.cfg.placement {
            Placement::Pelvis => (
                p_pel + r_pel * Vector3::new(-0.1, 0.0, -0.02),
                r_pel * mount * jostle,
            ),
            Placement::Ankle => {
                let s = self.side;
                let hip = p_pel + r_pel * Vector3::new(0.0, -s * HIP_HALF, 0.0);
                let r_th = r_pel * ry(-p.flex) * rx(-s * p.abd) * rz(-s * p.hrot);
                let knee = hip + r_th * Vector3::new(0.0, 0.0, -THIGH);
                let r_sh = r_th * ry(p.knee);
                (
                    knee + r_sh * Vector3::new(0.0, -s * 0.05, -SHANK_SENSOR),
                    r_sh * mount * jostle,
                )
            }
        }
    }

    /// Obliquity (free side up) and whole-body frontal lean, °, in the posture frame.
    fn obliquity(&self, p: &Pose) -> (f64, f64) {
        let (rel, _, _) = self.pelvis(p);
        let left = rel * Vector3::y();
        let obl = -self.free * left.z.clamp(-1.0, 1.0).asin();
        let lean = (rx(p.lean_x) * Vector3::y()).z.clamp(-1.0, 1.0).asin() * -self.free;
        (obl.to_degrees(), lean.to_degrees())
    }

    fn step(&mut self, p: &Pose) {
        self.step_mounted(p, self.mount);
    }

    /// Advances time by one internal step with the body in pose `p`.
    fn step_mounted(&mut self, p: &Pose, mount: UnitQuaternion<f64>) {
        let (pos, q) = self.sensor(p, &mount);
        self.last_sensor_q = q;
        let (obl, lean) = self.obliquity(p);
        let a = (self.dt / 0.4).min(1.0);
        self.ema_obl += (obl - self.ema_obl) * a;
        self.ema_lean += (lean - self.ema_lean) * a;
        if self.step_no.is_multiple_of(self.track_every) {
            let (n_obl, n_lean, n_q) = self.neutral;
            if let Some(tr) = self.track.as_mut() {
                tr.push(Track {
                    t: self.t,
                    prim: p.prim,
                    obliq: obl - n_obl,
                    lean: lean - n_lean,
                    flex: p.flex.to_degrees(),
                    rot: n_q.angle_to(&q).to_degrees(),
                });
            }
        }
        self.step_no += 1;
        if self.hist.len() == 3 {
            self.hist.remove(0);
        }
        self.hist.push((pos, q, self.t));
        self.t += self.dt;
        if self.hist.len() < 3 {
            return;
        }
        let (p0, q0, _) = self.hist[0];
        let (p1, q1, t1) = self.hist[1];
        let (p2, q2, _) = self.hist[2];
        let dt = self.dt;
        let mut acc = (p2 - 2.0 * p1 + p0) / (dt * dt);
        acc.z += p.impact;
        let f = q1.inverse() * (acc + Vector3::new(0.0, 0.0, STANDARD_GRAVITY));
        let w = (q0.inverse() * q2).scaled_axis() / (2.0 * dt);
        self.acc_sum += f;
        self.gyr_sum += w.map(f64::to_degrees);
        self.t_sum += t1;
        self.n_sum += 1;
        if self.n_sum == self.per_sample {
            self.emit();
        }
    }

    /// Averages the window into one sample and puts the sensor's errors on it.
    fn emit(&mut self) {
        let n = self.n_sum as f64;
        let f = self.acc_sum / n;
        let w = self.gyr_sum / n;
        let t_true = self.t_sum / n;
        self.acc_sum = Vector3::zeros();
        self.gyr_sum = Vector3::zeros();
        self.t_sum = 0.0;
        self.n_sum = 0;
        let out_dt = 1.0 / self.cfg.rate_hz;
        let rng = &mut self.rng;
        let u = &mut self.unit;
        let b = self.cfg.gyro_bias_dps;
        let drift = Vector3::new(
            u.gyr_drift[0].step(out_dt, rng),
            u.gyr_drift[1].step(out_dt, rng),
            u.gyr_drift[2].step(out_dt, rng),
        );
        let bias = (u.gyr_bias + drift).map(|v| v.clamp(-b, b));
        let qa = u.acc_range / 32768.0;
        let qg = u.gyr_range / 32768.0;
        let mut acc = u.acc_m * f + u.acc_bias;
        let mut gyr = u.gyr_m * w + bias;
        for i in 0..3 {
            acc[i] = ((acc[i] + u.acc_sd * gauss(rng)) / qa).round() * qa;
            acc[i] = acc[i].clamp(-u.acc_range, u.acc_range);
            gyr[i] = ((gyr[i] + u.gyr_sd * gauss(rng)) / qg).round() * qg;
            gyr[i] = gyr[i].clamp(-u.gyr_range, u.gyr_range);
        }
        let t = t_true * (1.0 + u.skew) + rng.gen_range(-0.08..0.08) * out_dt;
        let gap_p = self.cfg.gaps_per_min / 60.0 * out_dt;
        if t >= self.gap_until && rng.gen::<f64>() < gap_p {
            self.gap_until = t + 0.2;
        }
        if t < self.gap_until || rng.gen::<f64>() < self.cfg.drop_rate {
            return;
        }
        if t > self.last_t {
            self.last_t = t;
            self.samples.push(Sample { t, acc, gyr });
        }
    }

    fn note(&mut self, t0: f64, what: &str) {
        self.distractions
            .push(format!("{t0:.2}..{:.2} s {what}", self.t));
    }
}

/// Postural sway at several time scales.
struct Sway {
    lean_x: [Wander; 3],
    lean_y: [Wander; 2],
    twist: [Wander; 2],
    obliq: Wander,
    flex: Wander,
    abd: Wander,
    scale: f64,
}

impl Sway {
    fn new(rng: &mut ChaCha8Rng, steady: f64) -> Self {
        let d = |x: f64| x.to_radians() * steady;
        Sway {
            lean_x: [
                Wander::new(rng, 0.5, d(0.25), 0.12),
                Wander::new(rng, 2.5, d(0.35), 0.2),
                Wander::new(rng, 9.0, d(0.3), 0.3),
            ],
            lean_y: [
                Wander::new(rng, 0.7, d(0.3), 0.15),
                Wander::new(rng, 5.0, d(0.5), 0.3),
            ],
            twist: [
                Wander::new(rng, 1.0, d(0.4), 0.15),
                Wander::new(rng, 6.0, d(0.8), 0.3),
            ],
            obliq: Wander::new(rng, 1.5, d(0.3), 0.15),
            flex: Wander::new(rng, 3.0, d(0.8), 0.2),
            abd: Wander::new(rng, 2.0, d(0.3), 0.15),
            scale: 1.0,
        }
    }

    fn apply(&mut self, p: &mut Pose, dt: f64, rng: &mut ChaCha8Rng) {
        let k = self.scale;
        let mut lx = 0.0;
        for w in self.lean_x.iter_mut() {
            lx += w.step(dt, rng);
        }
        let mut ly = 0.0;
        for w in self.lean_y.iter_mut() {
            ly += w.step(dt, rng);
        }
        let mut tw = 0.0;
        for w in self.twist.iter_mut() {
            tw += w.step(dt, rng);
        }
        p.lean_x += k * lx;
        p.lean_y += k * ly;
        p.twist += k * tw;
        p.obliq += k * self.obliq.step(dt, rng);
        p.flex += self.flex.step(dt, rng);
        p.abd += self.abd.step(dt, rng);
    }
}

/// The lifter and where they are between steps.
struct Body {
    lifter: Lifter,
    sway: Sway,
    posture: Posture,
    heading: f64,
    base: Vector3<f64>,
    set_posture: Posture,
    work: Work,
}

impl Body {
    fn rest_pose(&self, side: f64) -> Pose {
        let mut p = Pose::rest(self.posture, side, self.heading, self.base);
        p.flex += self.lifter.neutral_flex.to_radians();
        p.hrot = self.lifter.neutral_rot.to_radians();
        p
    }
}

fn simulate_still(w: &mut World, b: &mut Body, dur: f64) {
    let end = w.t + dur;
    while w.t < end {
        let mut p = b.rest_pose(w.side);
        b.sway.scale = b.posture.sway();
        b.sway.apply(&mut p, w.dt, &mut w.rng);
        w.step(&p);
    }
}

/// One set: the oscillator runs until the lifter ramps it down. Returns the set's track.
fn simulate_set(
    w: &mut World,
    b: &mut Body,
    tw: Tweaks,
    abandoned: &mut Vec<(f64, f64)>,
) -> Vec<Track> {
    let cfg = w.cfg;
    let visible = cfg.visible_compensations();
    let l = b.lifter.clone();
    let n_target = w.rng.gen_range(cfg.reps_min..=cfg.reps_max);
    let amp = l.amp * (1.0 + 0.05 * gauss(&mut w.rng)).clamp(0.85, 1.15);
    let period = l.period * (1.0 + 0.07 * gauss(&mut w.rng)).clamp(0.8, 1.25);
    let omega0 = TAU / period;
    let w_up = PI / (period * l.up_share);
    let w_dn = PI / (period * (1.0 - l.up_share));
    let mut freq = Wander::new(&mut w.rng, 2.0, l.freq_sd, 0.3);
    let mut amp_w = Wander::new(&mut w.rng, 4.0, l.amp_sd, 0.5);
    let mut obl_w = Wander::new(&mut w.rng, 3.0, 0.15, 0.3);
    let beat_offset = w.rng.gen_range(-0.3..0.3);
    let at_once = w.rng.gen_bool(l.at_once);
    let stop_bottom = w.rng.gen_bool(l.stop_at_bottom);
    let fail_last = w.rng.gen_bool(l.fail_last);

    // Neutral: the still stance just before the first rep.
    w.neutral = (w.ema_obl, w.ema_lean, w.last_sensor_q);
    w.track = Some(Vec::new());

    // The lifter's ramp: the cycles planned ahead (bifurcation parameter per cycle).
    let mut queue: Vec<Cycle> = Vec::new();
    if !at_once {
        queue.push(Cycle::plain(0.15f64.powi(2), false));
        queue.push(Cycle::plain(0.84f64.powi(2), true));
        queue.push(Cycle::plain(0.93f64.powi(2), true));
    }
    let mut r: f64 = if at_once { 1.0 } else { 0.12 };
    let mut phi: f64 = 0.0;
    let mut phi2: f64 = l.flex_lag;
    let mut cyc_no = 0usize;
    let mut counted = 0usize;
    let mut ending = 0u8; // 0 running, 1 ramping down, 2 stopped
    let mut stop_t = f64::INFINITY;
    let mut gate = 1.0;
    let mut gate_target = 1.0;
    let mut gate_until = f64::NEG_INFINITY;
    let mut hike_level = 0.0;
    let mut shift_state = 0.0;
    let t0 = w.t;
    let next_cycle = |w: &mut World,
                      counted: usize,
                      cyc_no: usize,
                      queue: &mut Vec<Cycle>,
                      ending: &mut u8|
     -> Cycle {
        if !queue.is_empty() {
            return queue.remove(0);
        }
        let rng = &mut w.rng;
        if counted >= n_target {
            *ending = 2;
            return Cycle::plain(1.0, false);
        }
        if tw.abandon_fourth && cyc_no == 3 || (cyc_no > 1 && rng.gen_bool(l.abandon_prob)) {
            let mut c = Cycle::plain(rng.gen_range(0.12..0.2f64).powi(2), false);
            c.abandoned = true;
            return c;
        }
        let mut c = Cycle::plain(1.0, true);
        c.tempo = 1.0 + 0.05 * gauss(rng);
        if let Some((_, lost)) = l.metronome {
            c.lost_beat = rng.gen_bool(lost);
            if c.lost_beat {
                c.tempo *= rng.gen_range(0.8..1.2);
            }
        }
        if rng.gen_bool(l.hold_prob) {
            c.hold = l.hold_s * rng.gen_range(0.7..1.3);
        }
        if rng.gen_bool(l.pause_prob) {
            c.pause = rng.gen_range(1.0..5.0);
        }
        if rng.gen_bool(l.hesitate_prob) {
            c.hesitate = rng.gen_range(0.3..0.9);
        }
        if !visible.is_empty() && rng.gen_bool(cfg.compensation_rate) {
            let k = visible[rng.gen_range(0..visible.len())];
            c.comp = Some(k);
            match k {
                FlagKind::PartialRange => c.mu = rng.gen_range(0.4..0.55f64).powi(2),
                FlagKind::Momentum => {
                    c.mu = 1.1f64.powi(2);
                    c.hold = 0.0;
                    c.hesitate = 0.0;
                }
                FlagKind::HipHike => c.comp_size = rng.gen_range(8.0..12.0),
                FlagKind::PelvicDrop => c.comp_size = rng.gen_range(8.0..12.0),
                FlagKind::TrunkSway => c.comp_size = rng.gen_range(7.5..10.0),
                FlagKind::HipFlexionDrift => c.comp_size = rng.gen_range(14.0..24.0),
            }
        }
        // The lifter ramps down: the last rep a little smaller, then a fizzle or a failed try.
        if counted + 1 == n_target && !stop_bottom && c.comp.is_none() && n_target > 2 {
            c.mu = 0.86f64.powi(2);
            c.hold = 0.0;
            queue.push(if fail_last {
                let mut f = Cycle::plain(0.18f64.powi(2), false);
                f.abandoned = true;
                f
            } else {
                Cycle::plain(0.1f64.powi(2), false)
            });
        } else if counted + 1 == n_target && fail_last {
            let mut f = Cycle::plain(0.2f64.powi(2), false);
            f.abandoned = true;
            queue.push(f);
        }
        *ending = 0;
        c
    };
    let mut cyc = next_cycle(w, counted, cyc_no, &mut queue, &mut ending);
    let mut cyc_start = w.t;
    let dt = w.dt;
    loop {
        // Slow states.
        let xi = freq.step(dt, &mut w.rng);
        let a_w = amp_w.step(dt, &mut w.rng);
        let o_w = obl_w.step(dt, &mut w.rng);
        if w.t >= gate_until && ending < 2 {
            gate_target = 1.0;
        }
        gate += (gate_target - gate) * (dt / 0.07).min(1.0);
        let ph = phi.rem_euclid(TAU);
        let up = 1.0 / (1.0 + (-8.0 * ph.sin()).exp());
        let (k_up, k_dn) = if cyc.comp == Some(FlagKind::Momentum) {
            (2.4, 3.0)
        } else {
            (1.0, 1.0)
        };
        let nominal = up * w_up + (1.0 - up) * w_dn;
        let mut om = up * w_up * k_up + (1.0 - up) * w_dn * k_dn;
        if cyc.comp != Some(FlagKind::Momentum) {
            om *= 1.0 - l.dwell * (-(1.0 - ph.cos()) * 6.0).exp();
        }
        let tired = 1.0 - 0.12 * l.fatigue * (counted as f64 / n_target as f64).powi(2);
        om *= (1.0 + xi).clamp(0.6, 1.5) * cyc.tempo * tired;
        if let Some((kc, _)) = l.metronome {
            if !cyc.lost_beat {
                // Entrainment: pulled toward the beat, never rushed (a lifter
                // behind the beat waits for the next one rather than sprinting).
                let beat = omega0 * (w.t - t0) + beat_offset;
                let pull = kc * omega0 * (beat - phi).sin();
                om += pull.clamp(-0.4 * om, 0.3 * om);
            }
        }
        if cyc.comp != Some(FlagKind::Momentum) {
            om = om.min(1.5 * nominal);
        }
        om = om.max(0.1 * w_dn);
        let dphi = gate * om * dt;
        let before = phi;
        phi += dphi;
        phi2 += (gate * om + 4.0 * (phi - phi2 - l.flex_lag).sin()) * dt;
        // Ramping down to a small cycle, the lifter damps actively (μ < 0,
        // the stable-focus side of the bifurcation) until the small cycle is reached.
        let mu = if cyc.mu < 0.3 && r > 1.3 * cyc.mu.sqrt() {
            -0.5
        } else {
            cyc.mu
        };
        r += 15.0 * (mu - r * r) * r * dt;
        r = r.max(0.02);
        let base = cyc_no as f64 * TAU;
        if ending < 2 {
            // Top: a hold for lifters who hold.
            if before < base + PI && phi >= base + PI && cyc.hold > 0.0 {
                gate_target = 0.0;
                gate_until = w.t + cyc.hold;
            }
            // Halfway up: a hesitation.
            if before < base + PI / 2.0 && phi >= base + PI / 2.0 && cyc.hesitate > 0.0 {
                gate_target = 0.1;
                gate_until = w.t + cyc.hesitate;
            }
        }
        if phi >= base + TAU {
            // Bottom: the cycle is over.
            if cyc.abandoned {
                abandoned.push((cyc_start, w.t));
            }
            if cyc.counts {
                counted += 1;
            }
            let hitch_hike = cyc.comp == Some(FlagKind::HipHike) && b.work == Work::Hitch;
            cyc_no += 1;
            cyc_start = w.t;
            cyc = next_cycle(w, counted, cyc_no, &mut queue, &mut ending);
            if ending == 2 {
                gate_target = 0.0;
                gate_until = f64::INFINITY;
                stop_t = w.t + w.rng.gen_range(0.8..2.0);
            } else if cyc.pause > 0.0 || hitch_hike {
                gate_target = 0.0;
                gate_until = w.t + cyc.pause.max(0.5);
            }
        }
        if w.t >= stop_t {
            break;
        }
        // The working joint.
        let ph = phi.rem_euclid(TAU);
        let shape = (1.0 - ph.cos()) / 2.0;
        let un = r * shape * (1.0 + l.sat) / (1.0 + l.sat * shape);
        let tired_amp = 1.0 - 0.05 * l.fatigue * counted as f64 / n_target as f64;
        let th = amp * un * (1.0 + a_w) * tired_amp;
        let wn = (1.0 - ph.cos()) / 2.0; // 0 at the bottom, 1 at the top
        let mut p = b.rest_pose(w.side);
        b.sway.scale = b.posture.sway();
        p.prim = th;
        let s = w.side;
        let rd = f64::to_radians;
        // Compensations on the body.
        let comp = cyc.comp;
        let size = cyc.comp_size;
        let mut extra_obl = 0.0;
        let mut extra_lean = 0.0;
        let mut extra_flex = 0.0;
        match comp {
            Some(FlagKind::HipHike) if b.work == Work::Hitch => {
                let target = if ph > 1.35 * PI { size } else { 0.0 };
                hike_level += (target - hike_level) * (dt / 0.12).min(1.0);
            }
            Some(FlagKind::HipHike) => extra_obl = size * wn * r,
            Some(FlagKind::PelvicDrop) => extra_obl = -size * wn * r,
            Some(FlagKind::TrunkSway) => extra_lean = size * ph.sin() * r.min(1.0),
            Some(FlagKind::HipFlexionDrift) => extra_flex = size * wn * r,
            _ => {}
        }
        if !(comp == Some(FlagKind::HipHike) && b.work == Work::Hitch) {
            hike_level += (0.0 - hike_level) * (dt / 0.2).min(1.0);
        }
        let flex_osc = l.flex_osc * r * (1.0 - phi2.cos()) / 2.0;
        match b.work {
            Work::Abduct => {
                let abd = rd(th);
                p.abd += abd;
                p.flex += rd(flex_osc + extra_flex);
                p.hrot += l.rot_couple * abd;
                p.knee += l.knee_couple * abd;
                // Balance: the leg's share of the centre of mass moves the hips to the stance side.
                let com = 0.16 * 0.45 * abd.sin() / 0.84;
                let lean_gain = if b.posture == Posture::Stand {
                    1.0
                } else {
                    0.15
                };
                let target = l.balance * com * lean_gain + 0.03 * extra_lean / 8.0;
                shift_state += (target - shift_state) * (dt / 0.18).min(1.0);
                p.shift += s * shift_state * (1.0 - l.pivot);
                p.lean_x += -s * shift_state * l.pivot / p.lever.max(0.3);
                let couple = if b.posture == Posture::SideLie {
                    l.obl_couple.min(2.5)
                } else {
                    -l.obl_couple
                };
                p.obliq += rd(couple * un + o_w + extra_obl);
                p.twist += rd(l.twist_couple * un + 3.0 * extra_lean / 8.0);
                p.tilt += rd(l.tilt_couple * un);
            }
            Work::Hitch => {
                let drop = rd(th);
                p.obliq += -drop + rd(extra_obl + hike_level + o_w);
                p.abd += -drop * 0.9;
                p.rise += -HIP_HALF * drop.sin();
                p.shift += -s * 0.02 * un;
                p.twist += rd(l.twist_couple * un);
            }
            Work::Step => {
                let d = th / 100.0;
                p.rise += -d;
                p.tilt += rd(14.0 * un);
                p.flex += rd(35.0 * un);
                p.knee += rd(45.0 * un);
                p.obliq += rd(-l.obl_couple * 0.6 * un + extra_obl + o_w);
                p.shift += s * 0.02 * un;
            }
            Work::Bridge => {
                let lift = rd(th);
                p.tilt += -lift;
                p.rise += 0.38 * lift.sin();
                p.flex -= lift;
                p.obliq += rd(-l.obl_couple * 0.5 * un + extra_obl + o_w);
            }
        }
        p.lean_x += -w.free * rd(extra_lean);
        b.sway.apply(&mut p, dt, &mut w.rng);
        if b.work == Work::Hitch {
            // The hitch's working joint is the stance hip: the pelvis' own
            // obliquity over the stance leg (without the whole body's lean).
            p.prim = -p.obliq.to_degrees();
        }
        w.step(&p);
        if w.t - t0 > 3600.0 {
            break;
        }
    }
    w.track.take().unwrap_or_default()
}

/// A between-set behaviour of the semi-Markov chain.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Act {
    Still,
    WeightShift,
    Walk,
    Turn,
    LegSwing,
    ShakeOut,
    Restrap,
    Stretch,
    Change(Posture),
}

fn act_name(a: Act, from: Posture) -> String {
    match a {
        Act::Still => format!("resting, {}", from.name()),
        Act::WeightShift => "weight shift".into(),
        Act::Walk => "walking".into(),
        Act::Turn => "turning".into(),
        Act::LegSwing => "leg swing".into(),
        Act::ShakeOut => "shaking the leg out".into(),
        Act::Restrap => "re-strapping the sensor".into(),
        Act::Stretch => "stretching".into(),
        Act::Change(to) => match (from, to) {
            (Posture::Stand, Posture::Sit) => "sitting down".into(),
            (Posture::Sit, Posture::Stand) => "standing up".into(),
            (Posture::Stand, _) => "lying down".into(),
            (_, Posture::Stand) => "getting up".into(),
            _ => format!("from {} to {}", from.name(), to.name()),
        },
    }
}

fn act_duration(a: Act, rng: &mut ChaCha8Rng) -> f64 {
    match a {
        Act::Still => rng.gen_range(2.0..8.0),
        Act::WeightShift => rng.gen_range(1.5..4.0),
        Act::Walk => rng.gen_range(3.0..12.0),
        Act::Turn => rng.gen_range(1.5..3.0),
        Act::LegSwing => rng.gen_range(1.2..3.0),
        Act::ShakeOut => rng.gen_range(1.5..4.0),
        Act::Restrap => rng.gen_range(6.0..15.0),
        Act::Stretch => rng.gen_range(6.0..18.0),
        Act::Change(Posture::Stand) => rng.gen_range(2.0..4.0),
        Act::Change(_) => rng.gen_range(2.0..4.5),
    }
}

/// Runs one behaviour for `dur` seconds.
fn simulate_act(w: &mut World, b: &mut Body, act: Act, dur: f64) {
    let t0 = w.t;
    let from = b.posture;
    let s = w.side;
    let rd = f64::to_radians;
    let rng = &mut w.rng;
    // Per-behaviour draws.
    let dir = if rng.gen_bool(0.5) { 1.0 } else { -1.0 };
    let size: f64 = rng.gen_range(0.6..1.0);
    let speed = rng.gen_range(1.0..1.4);
    let stride_hz = rng.gen_range(0.85..1.0);
    let curve = rng.gen_range(-0.15..0.15);
    let turn = dir * rng.gen_range(90f64..200.0).to_radians();
    let swings = if rng.gen_bool(0.6) { 1.0 } else { 2.0 };
    let swing_abd = rng.gen_bool(0.6);
    let shake_hz = rng.gen_range(3.0..6.0);
    let stretch_kind = rng.gen_range(0..3);
    let mut jostle = [0, 1, 2].map(|_| Wander::new(rng, 0.15, 0.25, 0.04));
    let new_mount = if act == Act::Restrap {
        Some(w.draw_mount())
    } else {
        None
    };
    let old_mount = w.mount;
    let head0 = b.heading;
    let base0 = b.base;
    let to = if let Act::Change(p) = act { p } else { from };
    let mut gait_phase = 0.0;
    let mut last_strike = f64::NEG_INFINITY;
    let mut strikes = 0.0;
    let mut dist = 0.0;
    let dt = w.dt;
    while w.t < t0 + dur {
        let tau = w.t - t0;
        let x = tau / dur;
        let env = smooth(tau / 0.6) * smooth((dur - tau) / 0.6);
        let mut p = b.rest_pose(s);
        let mut mount = w.mount;
        let mut gait = 0.0;
        match act {
            Act::Still => {}
            Act::WeightShift => {
                let k = (PI * x).sin().powi(2) * size;
                p.shift += dir * 0.05 * k;
                p.lean_x += -dir * rd(2.5) * k;
                p.obliq += dir * rd(3.0) * k;
            }
            Act::Walk => {
                let v = speed * env;
                dist += v * dt;
                b.heading += curve * env * dt;
                gait = env;
                gait_phase += TAU * stride_hz * env * dt;
            }
            Act::Turn => {
                b.heading = head0 + turn * smooth(x);
                gait = 0.5 * env;
                gait_phase += TAU * stride_hz * 1.2 * env * dt;
            }
            Act::LegSwing => {
                let k = (PI * (x * swings).fract()).sin().powi(2) * size;
                if swing_abd {
                    p.abd += rd(35.0) * k;
                } else {
                    p.flex += rd(40.0) * k;
                    p.knee += rd(20.0) * k;
                }
                p.shift += s * 0.02 * k;
            }
            Act::ShakeOut => {
                let osc = (TAU * shake_hz * tau).sin() * env;
                if b.posture == Posture::Stand {
                    p.flex += rd(15.0) * env;
                }
                p.knee += rd(5.0) * osc * size + rd(10.0) * env;
                p.hrot += rd(5.0) * (TAU * shake_hz * tau + 1.0).sin() * env;
                p.abd += rd(2.0) * osc;
            }
            Act::Restrap => {
                let k = smooth(x / 0.15) * smooth((1.0 - x) / 0.15);
                match w.cfg.placement {
                    Placement::Ankle => {
                        if b.posture == Posture::Stand {
                            // Foot up on a bench.
                            p.flex += rd(65.0) * k;
                            p.knee += rd(80.0) * k;
                            p.lean_y += rd(15.0) * k;
                        } else {
                            p.flex += rd(50.0) * k;
                            p.knee += rd(70.0) * k;
                        }
                    }
                    Placement::Pelvis => {
                        p.lean_y += rd(12.0) * k;
                        p.tilt += rd(8.0) * k;
                    }
                }
                let mut j = Vector3::zeros();
                for (i, jw) in jostle.iter_mut().enumerate() {
                    j[i] = jw.step(dt, &mut w.rng);
                }
                p.jostle = j * k;
                if let Some(nm) = new_mount {
                    mount = old_mount.slerp(&nm, smooth((x - 0.35) / 0.3));
                }
            }
            Act::Stretch => {
                let k = smooth(x / 0.2) * smooth((1.0 - x) / 0.2);
                match (b.posture, stretch_kind) {
                    (Posture::Stand, 0) => {
                        p.knee += rd(120.0) * k;
                        p.flex += rd(-12.0) * k;
                    }
                    (Posture::Stand, 1) => {
                        p.lean_x += dir * rd(12.0) * k;
                        p.shift += -dir * 0.04 * k;
                    }
                    (Posture::Stand, _) => {
                        p.lean_y += rd(35.0) * k;
                        p.flex += rd(20.0) * k;
                    }
                    (Posture::Sit, _) => p.lean_y += rd(30.0) * k,
                    _ => {
                        p.flex += rd(90.0) * k;
                        p.knee += rd(100.0) * k;
                    }
                }
            }
            Act::Change(_) => {
                let k = smooth(x);
                let (f0, k0) = from.joints();
                let (f1, k1) = to.joints();
                let bump = (PI * x).sin();
                let getting_down = from == Posture::Stand || to == Posture::Stand;
                let lying = matches!(from, Posture::SideLie | Posture::Supine)
                    || matches!(to, Posture::SideLie | Posture::Supine);
                p.frame = from.frame(s).slerp(&to.frame(s), k);
                p.base.z = from.height() + (to.height() - from.height()) * k;
                p.lever = from.lever() + (to.lever() - from.lever()) * k;
                p.flex = f0 + (f1 - f0) * k + b.lifter.neutral_flex.to_radians();
                p.knee = k0 + (k1 - k0) * k;
                if getting_down && lying {
                    p.flex += rd(70.0) * bump;
                    p.knee += rd(90.0) * bump;
                    p.lean_y += rd(20.0) * bump;
                } else if getting_down {
                    p.lean_y += rd(25.0) * bump;
                }
            }
        }
        if gait > 0.0 {
            let g = gait_phase;
            p.flex += rd(22.0) * g.sin() * gait + rd(5.0) * gait;
            p.knee += rd(55.0) * ((g - 0.6).sin().max(0.0)).powi(2) * gait;
            p.obliq += rd(4.0) * g.sin() * gait;
            p.twist += rd(5.0) * g.cos() * gait;
            p.rise += 0.022 * (2.0 * g).cos() * gait;
            p.shift += 0.02 * g.sin() * gait;
            p.hrot += rd(4.0) * g.sin() * gait;
            // Foot strikes: a damped ring after each heel strike.
            let strikes_per_cycle = if w.cfg.placement == Placement::Ankle {
                1.0
            } else {
                2.0
            };
            let count = (g * strikes_per_cycle / TAU).floor();
            if count > strikes {
                strikes = count;
                last_strike = w.t;
            }
            let since = w.t - last_strike;
            if (0.0..0.15).contains(&since) {
                let a = if w.cfg.placement == Placement::Ankle {
                    18.0
                } else {
                    4.0
                };
                p.impact = a * gait * (-since / 0.025).exp() * (TAU * 28.0 * since).sin();
            }
        }
        // Walking moves the body across the floor.
        let hd = b.heading;
        b.base = base0 + Vector3::new(hd.cos(), hd.sin(), 0.0) * dist;
        p.heading = b.heading;
        p.base.x = b.base.x;
        p.base.y = b.base.y;
        b.sway.scale = if matches!(act, Act::Change(_)) {
            0.5
        } else {
            from.sway()
        };
        b.sway.apply(&mut p, dt, &mut w.rng);
        w.step_mounted(&p, mount);
    }
    if let Some(nm) = new_mount {
        w.mount = nm;
    }
    b.posture = to;
    if act != Act::Still {
        let name = act_name(act, from);
        w.note(t0, &name);
    }
}

/// The way back into the exercise's posture from `from`.
fn return_path(from: Posture, to: Posture) -> Vec<Act> {
    if from == to {
        return Vec::new();
    }
    let mut v = Vec::new();
    if from != Posture::Stand {
        v.push(Act::Change(Posture::Stand));
    }
    if to != Posture::Stand {
        v.push(Act::Change(to));
    }
    v
}

/// The rest between sets: a semi-Markov chain of behaviours, back in position and still at the end.
fn simulate_rest(w: &mut World, b: &mut Body, rest: f64) {
    let cfg = w.cfg;
    let end = w.t + rest;
    // A moment still after the last rep.
    let settle = w.rng.gen_range(1.5..3.0);
    simulate_still(w, b, settle);
    let moving = cfg.walking || cfg.fidgets;
    let mut last = Act::Still;
    loop {
        let back: f64 = return_path(b.posture, b.set_posture).len() as f64 * 4.5;
        let left = end - w.t - back - 3.0;
        if left < 2.0 {
            break;
        }
        let mut options: Vec<(Act, f64)> = vec![(Act::Still, 3.0)];
        match b.posture {
            Posture::Stand => {
                if cfg.fidgets {
                    options.extend([
                        (Act::WeightShift, 2.0),
                        (Act::LegSwing, 1.0),
                        (Act::ShakeOut, 1.0),
                        (Act::Restrap, 0.6),
                        (Act::Stretch, 0.8),
                    ]);
                }
                if cfg.walking {
                    options.extend([(Act::Walk, 2.5), (Act::Turn, 1.0)]);
                    if last == Act::Walk {
                        options.push((Act::Turn, 4.0));
                    }
                }
                if moving {
                    options.push((Act::Change(Posture::Sit), 0.5));
                    if b.set_posture != Posture::Stand && b.set_posture != Posture::Sit {
                        options.push((Act::Change(b.set_posture), 0.8));
                    }
                }
            }
            Posture::Sit => {
                if cfg.fidgets {
                    options.extend([
                        (Act::Restrap, 1.0),
                        (Act::ShakeOut, 0.6),
                        (Act::Stretch, 0.5),
                    ]);
                }
                if moving {
                    options.push((Act::Change(Posture::Stand), 1.5));
                }
            }
            Posture::SideLie | Posture::Supine => {
                if cfg.fidgets {
                    options.extend([
                        (Act::Stretch, 0.8),
                        (Act::LegSwing, 0.5),
                        (Act::Restrap, 0.5),
                    ]);
                }
                if moving {
                    options.push((Act::Change(Posture::Stand), 1.5));
                }
            }
        }
        // The same fidget twice in a row is one longer fidget: the chain moves on.
        if !matches!(last, Act::Still | Act::Walk) {
            options.retain(|o| o.0 != last);
        }
        let total: f64 = options.iter().map(|o| o.1).sum();
        let mut pick = w.rng.gen_range(0.0..total);
        let mut act = Act::Still;
        for (a, wt) in &options {
            if pick < *wt {
                act = *a;
                break;
            }
            pick -= wt;
        }
        let mut dur = act_duration(act, &mut w.rng);
        if let Act::Change(to) = act {
            let back_after = return_path(to, b.set_posture).len() as f64 * 4.5;
            if dur + back_after > end - w.t - 3.0 {
                act = Act::Still;
                dur = act_duration(act, &mut w.rng);
            }
        }
        let dur = dur.min(left.max(1.0));
        simulate_act(w, b, act, dur);
        last = act;
    }
    for act in return_path(b.posture, b.set_posture) {
        let d = act_duration(act, &mut w.rng);
        simulate_act(w, b, act, d);
    }
    // Still in position before the set: the set's neutral.
    let still = (end - w.t).max(w.rng.gen_range(2.5..4.0));
    simulate_still(w, b, still);
}

/// Finds the reps in a set's track and decides their flags.
fn measure(
    track: &[Track],
    amp: f64,
    work: Work,
    placement: Placement,
    visible: &[FlagKind],
) -> Option<TruthSet> {
    if track.len() < 3 {
        return None;
    }
    let n = track.len();
    let norm: Vec<f64> = track.iter().map(|p| p.prim / amp).collect();
    // Hysteresis in units of the planned range; the hitch's obliquity sways by a degree.
    let (lo, hi) = if work == Work::Hitch {
        (0.15, 0.3)
    } else {
        (0.1, 0.25)
    };
    // Excursions from neutral.
    let mut exc: Vec<(usize, usize, usize)> = Vec::new();
    let mut i = 0;
    while i < n {
        if norm[i] > hi {
            let mut s = i;
            while s > 0 && norm[s] > 0.03 && norm[s - 1] <= norm[s] {
                s -= 1;
            }
            let mut pk = i;
            let mut j = i;
            while j < n && norm[j] > lo {
                if norm[j] > norm[pk] {
                    pk = j;
                }
                j += 1;
            }
            if j >= n {
                break;
            }
            // Settle back to neutral (past an overshoot beyond it, as a hitch hiked past level).
            let mut e = j;
            let (mut m, mut k) = (j, j);
            while k < n.min(j + 400) && norm[k] < hi {
                if norm[k] < norm[m] {
                    m = k;
                }
                k += 1;
            }
            if norm[m] < -0.35 {
                e = m;
                while e < n - 1 && norm[e] < -0.15 {
                    e += 1;
                }
            } else {
                while e < n - 1 && norm[e] > 0.03 && norm[e + 1] <= norm[e] {
                    e += 1;
                }
            }
            exc.push((s, pk, e));
            i = e.max(j) + 1;
        } else {
            i += 1;
        }
    }
    if exc.is_empty() {
        return None;
    }
    let peaks: Vec<f64> = exc.iter().map(|&(_, p, _)| norm[p]).collect();
    let top = peaks.iter().cloned().fold(0.0, f64::max);
    let mut cand: Vec<f64> = peaks.iter().cloned().filter(|p| *p >= 0.45 * top).collect();
    cand.sort_by(|a, b| a.total_cmp(b));
    let range = cand[cand.len() / 2];
    let reps: Vec<(usize, usize, usize)> = exc
        .into_iter()
        .filter(|&(_, p, _)| norm[p] >= 0.3 * range)
        .collect();
    if reps.is_empty() {
        return None;
    }
    let speed = |s: usize, e: usize| -> f64 {
        (s..e)
            .map(|k| ((track[k + 1].prim - track[k].prim) / (track[k + 1].t - track[k].t)).abs())
            .fold(0.0, f64::max)
    };
    let speeds: Vec<f64> = reps.iter().map(|&(s, _, e)| speed(s, e)).collect();
    let mut sorted = speeds.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let med_speed = sorted[sorted.len() / 2];
    let hitch_depth = range * amp;
    let held = |s: usize, e: usize, f: &dyn Fn(&Track) -> bool, need: f64| -> bool {
        let mut since: Option<f64> = None;
        for p in &track[s..=e] {
            if f(p) {
                let t0 = *since.get_or_insert(p.t);
                if p.t - t0 >= need {
                    return true;
                }
            } else {
                since = None;
            }
        }
        false
    };
    let mut out = Vec::new();
    for (idx, &(s, pk, e)) in reps.iter().enumerate() {
        let win = &track[s..=e];
        let peak_deg = match placement {
            Placement::Ankle => win.iter().map(|p| p.rot).fold(0.0, f64::max),
            Placement::Pelvis => win.iter().map(|p| p.obliq.abs()).fold(0.0, f64::max),
        };
        let mut flags = Vec::new();
        let sway_sig = |p: &Track| if work == Work::Hitch { p.lean } else { p.obliq };
        let sway_hi = held(s, e, &|p| sway_sig(p) > 5.0, 0.05);
        let sway_lo = held(s, e, &|p| sway_sig(p) < -5.0, 0.05);
        let sway = sway_hi && sway_lo;
        let max_obl = win.iter().map(|p| p.obliq).fold(f64::MIN, f64::max);
        let min_obl = win.iter().map(|p| p.obliq).fold(f64::MAX, f64::min);
        if sway {
            let v = win.iter().map(|p| sway_sig(p).abs()).fold(0.0, f64::max);
            flags.push((FlagKind::TrunkSway, v));
        } else {
            if held(s, e, &|p| p.obliq >= 5.0, 0.15) {
                flags.push((FlagKind::HipHike, max_obl));
            }
            let drop_line = if work == Work::Hitch {
                -(hitch_depth + 5.0)
            } else {
                -5.0
            };
            if held(s, e, &|p| p.obliq <= drop_line, 0.15) {
                flags.push((FlagKind::PelvicDrop, -min_obl));
            }
        }
        if speeds[idx] >= 1.8 * med_speed {
            flags.push((FlagKind::Momentum, track[pk].prim));
        }
        if norm[pk] < 0.65 * range {
            flags.push((FlagKind::PartialRange, track[pk].prim));
        }
        let f0 = track[s].flex;
        let drift = win.iter().map(|p| p.flex - f0).fold(0.0, f64::max);
        if drift >= 10.0 {
            flags.push((FlagKind::HipFlexionDrift, drift));
        }
        let flags: Vec<TruthFlag> = flags
            .into_iter()
            .filter(|(k, _)| visible.contains(k))
            .map(|(kind, v)| TruthFlag {
                kind,
                value_deg: (v * 10.0).round() / 10.0,
            })
            .collect();
        out.push(TruthRep {
            start_s: track[s].t,
            end_s: track[e].t,
            peak_deg: (peak_deg * 10.0).round() / 10.0,
            flags,
        });
    }
    Some(TruthSet {
        start_s: out[0].start_s,
        end_s: out[out.len() - 1].end_s,
        rep_count: out.len(),
        reps: out,
    })
}

fn run(cfg: &SimConfig, tw: Tweaks) -> Output {
    // The exercise and placement join the seed: each pair gets its own lifters.
    let pair = (cfg.exercise as u64) << 8 | cfg.placement as u64;
    let mut rng = ChaCha8Rng::seed_from_u64(
        (cfg.seed ^ 0x7268_7974_686d_3138).wrapping_add(pair.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
    );
    let lifter = Lifter::draw(&mut rng, cfg.exercise);
    let sway = Sway::new(&mut rng, lifter.steady);
    let lead_in = cfg
        .lead_in_s
        .unwrap_or_else(|| rng.gen_range(0.5..3.0))
        .max(0.0);
    let heading = rng.gen_range(0.0..TAU);
    let set_posture = posture_of(cfg.exercise);
    let mut body = Body {
        lifter,
        sway,
        posture: set_posture,
        heading,
        base: Vector3::zeros(),
        set_posture,
        work: work_of(cfg.exercise),
    };
    let mut w = World::new(cfg, rng);
    let visible = cfg.visible_compensations();
    let mut abandoned = Vec::new();
    let mut sets = Vec::new();
    simulate_still(&mut w, &mut body, lead_in.max(0.3));
    for k in 0..cfg.sets {
        let track = simulate_set(&mut w, &mut body, tw, &mut abandoned);
        if let Some(set) = measure(&track, body.lifter.amp, body.work, cfg.placement, &visible) {
            sets.push(set);
        }
        if k + 1 < cfg.sets {
            let rest = w.rng.gen_range(cfg.rest_min_s..=cfg.rest_max_s);
            simulate_rest(&mut w, &mut body, rest);
        }
    }
    // After the last set: a moment still, then maybe a shake or a few steps away.
    let settle = w.rng.gen_range(2.0..4.0);
    simulate_still(&mut w, &mut body, settle);
    if cfg.fidgets && body.posture == Posture::Stand && w.rng.gen_bool(0.5) {
        let d = act_duration(Act::ShakeOut, &mut w.rng);
        simulate_act(&mut w, &mut body, Act::ShakeOut, d);
    }
    simulate_still(&mut w, &mut body, 1.0);
    let duration_s = w.t;
    let truth = Truth {
        config: cfg.clone(),
        duration_s,
        distractions: std::mem::take(&mut w.distractions),
        sets,
    };
    Output {
        samples: std::mem::take(&mut w.samples),
        truth,
        abandoned,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::sim::SimModel;
    use crate::Side;

    fn config(e: Exercise, p: Placement, rate: f64, seed: u64) -> SimConfig {
        let mut c = SimConfig::new(e, p, Side::Right);
        c.model = SimModel::Rhythm;
        c.sets = 1;
        c.reps_min = 3;
        c.reps_max = 4;
        c.rate_hz = rate;
        c.seed = seed;
        c.rest_min_s = 12.0;
        c.rest_max_s = 16.0;
        c
    }

    fn pairs() -> Vec<(Exercise, Placement)> {
        let mut v = Vec::new();
        for &e in Exercise::ALL {
            for &p in Placement::ALL {
                if SimConfig::new(e, p, Side::Left).validate().is_ok() {
                    v.push((e, p));
                }
            }
        }
        v
    }

    /// (start, end) of each distraction, from its "a..b s what" text.
    fn spans(truth: &Truth) -> Vec<(f64, f64)> {
        truth
            .distractions
            .iter()
            .map(|d| {
                let (range, _) = d.split_once(" s ").unwrap();
                let (a, b) = range.split_once("..").unwrap();
                (a.parse().unwrap(), b.parse().unwrap())
            })
            .collect()
    }

    #[test]
    fn every_pair_and_rate_is_finite_increasing_in_range_with_truth() {
        let pairs = pairs();
        assert!(pairs.len() >= 6, "{pairs:?}");
        for (i, &(e, p)) in pairs.iter().enumerate() {
            for (j, rate) in [25.0, 50.0, 100.0, 200.0, 400.0].into_iter().enumerate() {
                let c = config(e, p, rate, 100 + (i * 5 + j) as u64);
                let (sim, truth) = RhythmSimulator::new(&c).unwrap();
                let s: Vec<Sample> = sim.collect();
                let what = format!("{e} {p} {rate}");
                assert!(s.len() as f64 > 0.8 * truth.duration_s * rate, "{what}");
                assert!(s.iter().all(|x| x.is_finite()), "{what}");
                assert!(s.windows(2).all(|w| w[1].t > w[0].t), "{what}");
                assert!(
                    s.iter()
                        .all(|x| x.acc.amax() <= 16.0 * STANDARD_GRAVITY && x.gyr.amax() <= 2000.0),
                    "{what}"
                );
                assert_eq!(truth.sets.len(), 1, "{what}");
                let set = &truth.sets[0];
                assert!(
                    (2..=6).contains(&set.rep_count),
                    "{what}: {}",
                    set.rep_count
                );
                assert_eq!(set.rep_count, set.reps.len());
                for r in &set.reps {
                    assert!(r.start_s < r.end_s && r.peak_deg > 0.0, "{what}: {r:?}");
                    assert!(r.start_s >= set.start_s && r.end_s <= set.end_s);
                }
            }
        }
    }

    #[test]
    fn at_rest_it_reads_one_g() {
        for (i, &(e, p)) in pairs().iter().enumerate() {
            let mut c = config(e, p, 100.0, 40 + i as u64);
            c.lead_in_s = Some(3.0);
            let (sim, _) = RhythmSimulator::new(&c).unwrap();
            let still: Vec<Sample> = sim
                .take_while(|s| s.t < 2.5)
                .filter(|s| s.t > 0.3)
                .collect();
            let g = still.iter().map(|s| s.acc.norm()).sum::<f64>() / still.len() as f64;
            assert!((g - STANDARD_GRAVITY).abs() < 0.4, "{e} {p}: {g}");
            let w = still.iter().map(|s| s.gyr.norm()).sum::<f64>() / still.len() as f64;
            assert!(w < 8.0, "{e} {p}: {w}");
        }
    }

    #[test]
    fn truth_sets_do_not_overlap_distractions() {
        for (i, &(e, p)) in pairs().iter().enumerate() {
            let mut c = config(e, p, 50.0, 60 + i as u64);
            c.sets = 3;
            c.rest_min_s = 25.0;
            c.rest_max_s = 40.0;
            let (_, truth) = RhythmSimulator::new(&c).unwrap();
            let spans = spans(&truth);
            assert!(!spans.is_empty(), "{e} {p}");
            assert_eq!(truth.sets.len(), 3, "{e} {p}");
            for set in &truth.sets {
                for &(a, b) in &spans {
                    assert!(
                        b < set.start_s || a > set.end_s,
                        "{e} {p}: {a}..{b} in {set:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn no_walking_and_no_fidgets_leave_no_distractions() {
        let mut c = config(Exercise::StandingCableAbduction, Placement::Pelvis, 50.0, 3);
        c.sets = 2;
        c.walking = false;
        c.fidgets = false;
        let (_, truth) = RhythmSimulator::new(&c).unwrap();
        assert!(truth.distractions.is_empty(), "{:?}", truth.distractions);
        assert_eq!(truth.sets.len(), 2);
    }

    #[test]
    fn an_abandoned_attempt_is_not_a_rep() {
        for (i, &(e, p)) in pairs().iter().enumerate() {
            let mut c = config(e, p, 50.0, 80 + i as u64);
            c.reps_min = 6;
            c.reps_max = 6;
            c.compensation_rate = 0.0;
            let out = run(
                &c,
                Tweaks {
                    abandon_fourth: true,
                },
            );
            assert!(!out.abandoned.is_empty(), "{e} {p}");
            let reps: Vec<&TruthRep> = out.truth.sets.iter().flat_map(|s| &s.reps).collect();
            for &(a, b) in &out.abandoned {
                for r in &reps {
                    let mid = (r.start_s + r.end_s) / 2.0;
                    assert!(
                        !(mid > a && mid < b),
                        "{e} {p}: rep {r:?} in attempt {a}..{b}"
                    );
                }
            }
            assert_eq!(reps.len(), 6, "{e} {p}");
        }
    }

    #[test]
    fn compensations_appear_when_asked_and_never_at_rate_zero() {
        for (i, &(e, p)) in pairs().iter().enumerate() {
            let visible = SimConfig::new(e, p, Side::Right).visible_compensations();
            let mut seen = Vec::new();
            for seed in 0..3 {
                let mut c = config(e, p, 50.0, 200 + 10 * i as u64 + seed);
                c.sets = 2;
                c.reps_min = 10;
                c.reps_max = 12;
                c.compensation_rate = 0.5;
                let (_, truth) = RhythmSimulator::new(&c).unwrap();
                for f in truth
                    .sets
                    .iter()
                    .flat_map(|s| &s.reps)
                    .flat_map(|r| &r.flags)
                {
                    assert!(visible.contains(&f.kind), "{e} {p}: {f:?}");
                    seen.push(f.kind);
                }
                c.compensation_rate = 0.0;
                let (_, truth) = RhythmSimulator::new(&c).unwrap();
                let flags: Vec<&TruthFlag> = truth
                    .sets
                    .iter()
                    .flat_map(|s| &s.reps)
                    .flat_map(|r| &r.flags)
                    .collect();
                assert!(flags.is_empty(), "{e} {p} seed {seed}: {flags:?}");
            }
            for k in &visible {
                assert!(seen.contains(k), "{e} {p}: never {k:?}");
            }
        }
    }
}
