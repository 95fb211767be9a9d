//! The twenty-fourth body model, `pendulum`: the working segment a pumped
//! physical pendulum driven by brief muscle impulses, a pelvis and trunk
//! balanced as a linear inverted pendulum by a capture-point controller
//! that sometimes has to step, intents from cues with human reaction
//! times, and a MEMS sensor specified by its Allan variance.
//!
//! Built apart from the counter and from every other body model (see
//! [`crate::source::sim::SimModel::Pendulum`]).

use super::sim::{SimConfig, Truth, TruthFlag, TruthRep, TruthSet};
use super::{gauss, round3, rx, ry, rz, smoothstep};
use crate::motion::FlagKind;
use crate::sample::STANDARD_GRAVITY as G;
use crate::{Exercise, Placement, Sample};
use nalgebra::{Matrix3, UnitQuaternion, Vector3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma};
use std::f64::consts::PI;

const DEG: f64 = PI / 180.0;

fn uni(rng: &mut ChaCha8Rng, a: f64, b: f64) -> f64 {
    a + (b - a) * rng.gen::<f64>()
}

fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    rng.gen::<f64>() < p
}

/// An ex-Gaussian draw: a normal plus an exponential tail.
fn ex_gauss(rng: &mut ChaCha8Rng, mu: f64, sigma: f64, tau: f64) -> f64 {
    mu + sigma * gauss(rng) - tau * (1.0 - rng.gen::<f64>()).ln()
}

/// A smoothed trapezoid 0..1..0 over [t0, t0 + d] with soft edges.
fn envelope(t: f64, t0: f64, d: f64) -> f64 {
    if t < t0 || t > t0 + d {
        return 0.0;
    }
    let e = (d * 0.35).clamp(0.03, 0.12).min(d / 2.0);
    let a = (t - t0) / e;
    let b = (t0 + d - t) / e;
    smoothstep(a.min(b))
}

/// A raised-cosine bump 0..1..0 over [t0, t0 + d].
fn bump(t: f64, t0: f64, d: f64) -> f64 {
    if t <= t0 || t >= t0 + d || d <= 0.0 {
        return 0.0;
    }
    0.5 - 0.5 * (2.0 * PI * (t - t0) / d).cos()
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Pop {
    Rehab,
    Gym,
    Athlete,
    Video,
    Older,
}

#[derive(Clone, Copy, Debug)]
enum Cue {
    /// A coach counting: period and jitter.
    Coach(f64),
    /// An app's metronome.
    Metronome(f64),
    /// The lifter's own breathing.
    Breath(f64),
    /// No cue: a renewal process of gaps after each rep (gamma shape and
    /// mean, or Weibull when `weibull`).
    Own {
        shape: f64,
        mean: f64,
        weibull: bool,
    },
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Posture {
    Standing,
    OnStep,
    Seated,
    Lying,
}

/// Everything about one lifter that stays through the session.
#[derive(Clone, Debug)]
struct Lifter {
    pop: Pop,
    body_m: f64,
    leg_m: f64,
    leg_len: f64,
    leg_lc: f64,
    leg_i: f64,
    tone: f64,
    range: f64,
    burst_d: f64,
    burst_k: f64,
    model_bias: f64,
    motor_noise: f64,
    top_brake: f64,
    v_brake: f64,
    brake_gain: f64,
    brake_d: f64,
    p_miss: f64,
    p_hold: f64,
    hold_max: f64,
    p_pump_again: f64,
    p_abandon: f64,
    p_split: f64,
    rt: (f64, f64, f64),
    p_lapse: f64,
    p_antic: f64,
    cue: Cue,
    fatigue: f64,
    lean_lambda: f64,
    react: f64,
    style: f64,
    ob_w: f64,
    cp_k: f64,
    cp_delay: f64,
    foot_hw: f64,
    hip_gain: f64,
    trunk_share: f64,
    sway: f64,
    sway_roll: f64,
    tremor: f64,
    tremor_hz: f64,
    flex_couple: f64,
    rot_couple: f64,
    flex_drift: f64,
    yaw_couple: f64,
    react_share: f64,
}

impl Lifter {
    fn draw(rng: &mut ChaCha8Rng, ex: Exercise) -> Lifter {
        let pop = match rng.gen_range(0..10) {
            0 | 1 => Pop::Rehab,
            2..=4 => Pop::Gym,
            5 | 6 => Pop::Athlete,
            7 | 8 => Pop::Video,
            _ => Pop::Older,
        };
        let body_m = match pop {
            Pop::Athlete => uni(rng, 60.0, 95.0),
            Pop::Older => uni(rng, 55.0, 90.0),
            _ => uni(rng, 52.0, 105.0),
        };
        let leg_len = uni(rng, 0.78, 0.98);
        let leg_m = body_m * uni(rng, 0.15, 0.175);
        let leg_lc = leg_len * uni(rng, 0.40, 0.46);
        let leg_i = leg_m * leg_lc * leg_lc + leg_m * leg_len * leg_len * uni(rng, 0.05, 0.08);
        let (strong, skill): (f64, f64) = match pop {
            Pop::Rehab => (0.7, 0.4),
            Pop::Gym => (1.0, 0.6),
            Pop::Athlete => (1.2, 0.85),
            Pop::Video => (0.9, 0.45),
            Pop::Older => (0.75, 0.5),
        };
        let range = match ex {
            Exercise::HipHitch => match pop {
                Pop::Rehab | Pop::Older => uni(rng, 4.5, 8.0),
                Pop::Athlete => uni(rng, 7.0, 12.0),
                _ => uni(rng, 5.5, 11.0),
            },
            Exercise::SeatedMachineAbduction => uni(rng, 20.0, 38.0) * (0.8 + 0.2 * strong),
            Exercise::SideLyingAbduction => uni(rng, 25.0, 48.0) * (0.75 + 0.25 * strong),
            _ => uni(rng, 26.0, 45.0) * (0.75 + 0.25 * strong),
        } * DEG;
        let cue = match rng.gen_range(0..8) {
            0 | 1 => Cue::Coach(uni(rng, 2.7, 4.2)),
            2 | 3 => Cue::Metronome(uni(rng, 2.6, 4.0)),
            4 => Cue::Breath(uni(rng, 3.0, 4.8)),
            _ => Cue::Own {
                shape: uni(rng, 1.6, 6.0),
                mean: uni(rng, 0.25, 1.4),
                weibull: chance(rng, 0.4),
            },
        };
        let (rt_mu, rt_tau) = match pop {
            Pop::Athlete => (uni(rng, 0.17, 0.23), uni(rng, 0.03, 0.08)),
            Pop::Older | Pop::Rehab => (uni(rng, 0.26, 0.38), uni(rng, 0.08, 0.25)),
            _ => (uni(rng, 0.2, 0.3), uni(rng, 0.05, 0.15)),
        };
        let (tremor, tremor_hz) = if pop == Pop::Older {
            (uni(rng, 0.2, 0.9) * DEG, uni(rng, 4.0, 7.0))
        } else {
            (uni(rng, 0.02, 0.15) * DEG, uni(rng, 8.0, 11.0))
        };
        Lifter {
            pop,
            body_m,
            leg_m,
            leg_len,
            leg_lc,
            leg_i,
            tone: uni(rng, 0.55, 0.82),
            range,
            burst_d: uni(rng, 0.12, 0.3) / strong.sqrt(),
            burst_k: uni(rng, 0.3, 1.0),
            model_bias: 1.0 + 0.08 * gauss(rng),
            motor_noise: uni(rng, 0.02, 0.05) / skill.sqrt(),
            top_brake: skill,
            v_brake: uni(rng, 0.18, 0.4),
            brake_gain: uni(rng, 1.3, 1.9),
            brake_d: uni(rng, 0.25, 0.5),
            p_miss: (1.0 - skill) * uni(rng, 0.0, 0.05),
            p_hold: uni(rng, 0.2, 0.9),
            hold_max: uni(rng, 0.2, 1.0),
            p_pump_again: uni(rng, 0.0, 0.06),
            p_abandon: uni(rng, 0.0, 0.05) * if pop == Pop::Rehab { 2.0 } else { 1.0 },
            p_split: uni(rng, 0.0, 0.5),
            rt: (rt_mu, uni(rng, 0.025, 0.06), rt_tau),
            p_lapse: uni(rng, 0.0, 0.06),
            p_antic: uni(rng, 0.0, 0.15),
            cue,
            fatigue: uni(rng, 0.002, 0.012) / strong,
            lean_lambda: uni(rng, 0.05, 0.55),
            react: uni(rng, 0.25, 0.55),
            style: uni(rng, -0.15, 0.4),
            ob_w: uni(rng, 9.0, 18.0),
            cp_k: uni(rng, 1.2, 3.0),
            cp_delay: uni(rng, 0.06, 0.16),
            foot_hw: uni(rng, 0.03, 0.05),
            hip_gain: uni(rng, 0.5, 1.2),
            trunk_share: uni(rng, -0.3, 0.5),
            sway: uni(rng, 0.002, 0.006),
            sway_roll: uni(rng, 0.2, 0.8) * DEG,
            tremor,
            tremor_hz,
            flex_couple: uni(rng, 0.02, 0.12),
            rot_couple: uni(rng, -0.15, 0.15),
            flex_drift: uni(rng, 0.0, 0.15) * DEG,
            yaw_couple: uni(rng, -0.06, 0.06),
            react_share: uni(rng, 0.1, 0.3),
        }
    }
}

/// The load on the working pendulum for a set.
#[derive(Clone, Debug)]
struct Load {
    /// Weight stack (cable or machine), kg; 0 for none.
    stack_m: f64,
    /// Moment arm of the cable or cam, m.
    arm: f64,
    /// Angle at which the stack lifts, rad.
    th0: f64,
    stack_fric: f64,
    /// Ankle weight, kg (side-lying).
    ankle_w: f64,
    /// Band stiffness, N·m/rad (side-lying).
    band_k: f64,
    /// Extra inertia (machine arms), kg·m².
    extra_i: f64,
    /// Hip hitch: gravity torque on the free side, N·m; postural stiffness; inertia.
    hitch_tau: f64,
    hitch_k: f64,
}

/// The sensor, specified by its Allan variance and its datasheet.
#[derive(Clone, Debug)]
struct Device {
    /// Gyro white noise density (angle random walk), °/s/√Hz.
    arw: f64,
    /// Accelerometer white noise density (velocity random walk), m/s²/√Hz.
    vrw: f64,
    /// Bias instability as Gauss–Markov processes: (time constant s, sigma) for gyro (°/s) and accel (m/s²).
    gm_g: Vec<(f64, f64)>,
    gm_a: Vec<(f64, f64)>,
    /// Rate random walk, °/s/√s, and its accelerometer analogue, m/s²/√s.
    rrw_g: f64,
    rrw_a: f64,
    bias_g: Vector3<f64>,
    bias_a: Vector3<f64>,
    temp_g: Vector3<f64>,
    temp_a: Vector3<f64>,
    warm_c: f64,
    warm_tau: f64,
    m_g: Matrix3<f64>,
    m_a: Matrix3<f64>,
    range_g: f64,
    range_a: f64,
    lpf_ratio: f64,
    ppm: f64,
    jitter: f64,
    mount: UnitQuaternion<f64>,
}

impl Device {
    fn draw(rng: &mut ChaCha8Rng, cfg: &SimConfig) -> Device {
        let n = cfg.noise;
        let bi_g = uni(rng, 0.002, 0.012);
        let bi_a = uni(rng, 0.002, 0.01);
        let taus = [
            uni(rng, 5.0, 20.0),
            uni(rng, 60.0, 200.0),
            uni(rng, 500.0, 2000.0),
        ];
        let gm_g = taus.iter().map(|&t| (t, bi_g * n * 0.7)).collect();
        let gm_a = taus.iter().map(|&t| (t, bi_a * n * 0.7)).collect();
        let mat = |rng: &mut ChaCha8Rng, s: f64, c: f64| {
            let mut m = Matrix3::identity();
            for i in 0..3 {
                for j in 0..3 {
                    m[(i, j)] += if i == j {
                        s * gauss(rng)
                    } else {
                        c * gauss(rng)
                    };
                }
            }
            m
        };
        let m_g = mat(rng, 0.008, 0.006);
        let m_a = mat(rng, 0.006, 0.005);
        let b = cfg.gyro_bias_dps;
        let mount = match (cfg.placement, cfg.random_mounting) {
            (Placement::Ankle, true) => {
                let v = Vector3::new(gauss(rng), gauss(rng), gauss(rng));
                let ax = nalgebra::Unit::new_normalize(v);
                UnitQuaternion::from_axis_angle(&ax, uni(rng, 0.0, PI))
                    * UnitQuaternion::from_axis_angle(
                        &nalgebra::Unit::new_normalize(Vector3::new(
                            gauss(rng),
                            gauss(rng),
                            gauss(rng),
                        )),
                        uni(rng, 0.0, PI),
                    )
            }
            (Placement::Pelvis, true) => {
                let ax = nalgebra::Unit::new_normalize(Vector3::new(
                    gauss(rng),
                    gauss(rng) * 0.3,
                    gauss(rng),
                ));
                UnitQuaternion::from_axis_angle(&ax, uni(rng, 0.0, 14.0) * DEG)
                    * ry(uni(rng, -8.0, 8.0) * DEG)
            }
            _ => UnitQuaternion::identity(),
        };
        let ranges_g = [500.0, 1000.0, 2000.0, 2000.0];
        let ranges_a = [4.0, 8.0, 16.0, 16.0];
        Device {
            arw: uni(rng, 0.004, 0.015) * n,
            vrw: uni(rng, 0.0008, 0.003) * n,
            gm_g,
            gm_a,
            rrw_g: uni(rng, 1e-4, 6e-4) * n,
            rrw_a: uni(rng, 1e-5, 6e-5) * n,
            bias_g: Vector3::new(uni(rng, -b, b), uni(rng, -b, b), uni(rng, -b, b)) * 0.85,
            bias_a: Vector3::new(gauss(rng), gauss(rng), gauss(rng)) * 0.06 * n.min(1.5),
            temp_g: Vector3::new(gauss(rng), gauss(rng), gauss(rng)) * (0.012 * b / 2.0),
            temp_a: Vector3::new(gauss(rng), gauss(rng), gauss(rng)) * 0.003 * n.min(1.5),
            warm_c: uni(rng, 3.0, 10.0),
            warm_tau: uni(rng, 120.0, 600.0),
            m_g,
            m_a,
            range_g: ranges_g[rng.gen_range(0..4)],
            range_a: ranges_a[rng.gen_range(0..4)] * G,
            lpf_ratio: uni(rng, 0.2, 0.42),
            ppm: uni(rng, -150.0, 150.0),
            jitter: uni(rng, 0.0, 0.12),
            mount,
        }
    }
}

/// One muscle burst on the working pendulum.
#[derive(Clone, Copy, Debug)]
struct Burst {
    t0: f64,
    d: f64,
    amp: f64,
}

/// What the lifter means to do on one rep (the plan); the motion is what
/// the physics makes of it.
#[derive(Clone, Debug)]
struct RepPlan {
    target: f64,
    comp: Option<FlagKind>,
    comp_mag: f64,
    hold: f64,
    abandon: bool,
    pump_again: Option<f64>,
    hurried: bool,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Phase {
    Idle,
    Rise,
    Lower,
}

/// A kinematic activity between (or inside) sets.
#[derive(Clone, Debug)]
enum Life {
    Quiet,
    Walk { speed: f64, cadence: f64 },
    Turn { angle: f64 },
    Posture { from: Posture, to: Posture },
    Swing { amp: f64 },
    Shake,
    Restrap,
    Drink,
    Phone,
    PinChange,
    OtherLeg { period: f64, amp: f64 },
    Shift,
}

#[derive(Clone, Debug)]
struct Act {
    t0: f64,
    d: f64,
    life: Life,
    seed: f64,
}

/// One internal frame of the simulated body.
#[derive(Clone, Copy)]
struct Frame {
    t: f64,
    q: UnitQuaternion<f64>,
    p: Vector3<f64>,
    /// The working joint, rad (abduction; hip hitch: stance-hip obliquity).
    theta: f64,
    /// Total pelvic obliquity, free side up, rad.
    obl: f64,
    /// Hip flexion of the working leg, rad.
    flex: f64,
    /// Impacts (stack clack, hop landing) in world axes, m/s².
    jolt: Vector3<f64>,
}

/// The simulated body and everything it integrates.
struct Body<'a> {
    cfg: &'a SimConfig,
    lf: Lifter,
    load: Load,
    rng: ChaCha8Rng,
    dt: f64,
    nsub: usize,
    t: f64,
    // Working pendulum and the stack.
    th: f64,
    thd: f64,
    ys: f64,
    ysd: f64,
    bursts: Vec<Burst>,
    engaged: f64,
    strength: f64,
    // Coupled modes of the leg.
    fl: f64,
    fld: f64,
    ro: f64,
    rod: f64,
    fl_bias: f64,
    // Frontal and sagittal linear inverted pendulum (CoM toward the free side / forward, m).
    xc: f64,
    xcd: f64,
    zc: f64,
    zcd: f64,
    cop: f64,
    foot: f64,
    xi_hist: Vec<f64>,
    hop: Option<(f64, f64, f64, f64)>,
    phi: f64,
    phid: f64,
    ob: f64,
    obd: f64,
    psi: f64,
    psid: f64,
    comp_obl: f64,
    comp_rock: f64,
    comp_flex: f64,
    rock_t0: f64,
    rock_period: f64,
    // Postural sway (Ornstein–Uhlenbeck).
    sway_x: f64,
    sway_r: f64,
    sway_y: f64,
    sway_rv: f64,
    sway_r_raw: f64,
    sway_yv: f64,
    sway_y_raw: f64,
    breath_hz: f64,
    // Where the body is.
    posture: Posture,
    heading: f64,
    pos: Vector3<f64>,
    frames: Vec<Frame>,
    distractions: Vec<String>,
    set_index: usize,
    in_set: bool,
    pending_jolt: Vector3<f64>,
    tau_m: f64,
    thd_prev: f64,
}

impl<'a> Body<'a> {
    fn s_side(&self) -> f64 {
        self.cfg.side.sign()
    }

    fn s_free(&self) -> f64 {
        self.cfg.exercise.free_side(self.cfg.side).sign()
    }

    fn inertia(&self) -> f64 {
        match self.cfg.exercise {
            Exercise::HipHitch => 1.2 + 0.025 * self.lf.body_m,
            Exercise::SeatedMachineAbduction => 0.5 * self.lf.leg_i + self.load.extra_i,
            _ => {
                self.lf.leg_i
                    + self.load.ankle_w * self.lf.leg_len * self.lf.leg_len
                    + self.load.extra_i
            }
        }
    }

    /// The weight stack's inertia seen at the joint, kg·m².
    fn stack_inertia(&self) -> f64 {
        match self.cfg.exercise {
            Exercise::StandingCableAbduction | Exercise::SeatedMachineAbduction => {
                self.load.stack_m * self.load.arm * self.load.arm
            }
            _ => 0.0,
        }
    }

    /// The static load torque the lifter must oppose at angle `th` (their own model of it).
    fn static_load(&self, th: f64) -> f64 {
        let lf = &self.lf;
        let l = &self.load;
        match self.cfg.exercise {
            Exercise::StandingCableAbduction => {
                lf.leg_m * G * lf.leg_lc * th.sin()
                    + l.stack_m * G * l.arm * th.cos() * smoothstep((th - l.th0) / 0.025)
            }
            Exercise::SideLyingAbduction => {
                (lf.leg_m * lf.leg_lc + l.ankle_w * lf.leg_len) * G * th.cos() + l.band_k * th
            }
            Exercise::SeatedMachineAbduction => {
                l.stack_m * G * l.arm * smoothstep((th - l.th0) / 0.025) + 8.0 * th
            }
            _ => l.hitch_k * th,
        }
    }

    /// The net restoring torque once the lifter's tone is on.
    fn net_restore(&self, th: f64) -> f64 {
        if self.cfg.exercise == Exercise::HipHitch {
            return self.load.hitch_k * th;
        }
        (1.0 - self.lf.tone) * self.static_load(th).max(0.0) + self.load.stack_fric * self.load.arm
    }

    /// Passive and load torques on the working pendulum; updates the stack.
    fn pendulum_substep(&mut self, tau_m: f64, dt: f64) {
        let lf = self.lf.clone();
        let l = self.load.clone();
        let (th, thd) = (self.th, self.thd);
        let mut tau = tau_m;
        let mut stack = false;
        match self.cfg.exercise {
            Exercise::StandingCableAbduction => {
                tau += -lf.leg_m * G * lf.leg_lc * th.sin() - 0.8 * thd;
                if th < -0.05 {
                    tau += -400.0 * (th + 0.05) - 15.0 * thd;
                }
                stack = true;
            }
            Exercise::SideLyingAbduction => {
                tau += -(lf.leg_m * lf.leg_lc + l.ankle_w * lf.leg_len) * G * th.cos()
                    - l.band_k * th
                    - 0.8 * thd;
                if th < 0.0 {
                    tau += -900.0 * th - 25.0 * thd;
                }
            }
            Exercise::SeatedMachineAbduction => {
                tau += -8.0 * th - 1.2 * thd;
                if th < -0.02 {
                    tau += -600.0 * (th + 0.02) - 20.0 * thd;
                }
                stack = true;
            }
            _ => {
                tau += -l.hitch_k * th - 2.0 * (l.hitch_k * self.inertia()).sqrt() * 0.6 * thd;
                if th < -15.0 * DEG {
                    tau += -300.0 * (th + 15.0 * DEG) - 10.0 * thd;
                }
                if th > 14.0 * DEG {
                    tau += -300.0 * (th - 14.0 * DEG) - 10.0 * thd;
                }
            }
        }
        if stack && l.stack_m > 0.0 {
            let (u, ud) = if self.cfg.exercise == Exercise::StandingCableAbduction {
                (l.arm * (th.sin() - l.th0.sin()), l.arm * th.cos() * thd)
            } else {
                (l.arm * (th - l.th0), l.arm * thd)
            };
            let tension = (30000.0 * (u - self.ys) + 120.0 * (ud - self.ysd)).max(0.0);
            let lever = if self.cfg.exercise == Exercise::StandingCableAbduction {
                l.arm * th.cos()
            } else {
                l.arm
            };
            tau -= tension * lever;
            let mut f = tension - l.stack_m * G - l.stack_fric * (self.ysd / 0.02).tanh();
            if self.ys < 0.0 {
                f += -80000.0 * self.ys - 300.0 * self.ysd;
            }
            let before = self.ys;
            let v_before = self.ysd;
            self.ysd += f / l.stack_m * dt;
            self.ys += self.ysd * dt;
            if before >= 0.0 && self.ys < 0.0 && v_before < -0.12 {
                // The stack clacks on the rest: a jolt up the cable to the ankle.
                let j = (-v_before).min(2.0) * uni(&mut self.rng, 25.0, 60.0);
                self.pending_jolt.x -= self.s_side() * j;
                self.pending_jolt.y += j * 0.4;
            }
        }
        // The hip's passive end of range (the pendulum cannot go over).
        if self.cfg.exercise != Exercise::HipHitch {
            let lim = 58.0 * DEG;
            if th > lim {
                tau += -400.0 * (th - lim) - 30.0 * thd;
            }
            if th > 75.0 * DEG {
                tau += -4000.0 * (th - 75.0 * DEG) - 100.0 * thd.max(0.0);
            }
        }
        let inertia = self.inertia();
        self.thd += tau / inertia * dt;
        self.th += self.thd * dt;
    }

    fn muscle_torque(&mut self) -> f64 {
        let t = self.t;
        self.bursts.retain(|b| t <= b.t0 + b.d + 0.01);
        let mut tau: f64 = self
            .bursts
            .iter()
            .map(|b| b.amp * envelope(t, b.t0, b.d))
            .sum();
        tau *= self.strength;
        let tone = if self.cfg.exercise == Exercise::HipHitch {
            0.0
        } else {
            let th = self.th;
            self.lf.tone * self.static_load(th) * self.engaged
        };
        tone + tau + self.lf.tremor * 10.0 * (2.0 * PI * self.lf.tremor_hz * t).sin()
    }

    fn add_burst(&mut self, delay: f64, d: f64, amp: f64) {
        self.bursts.push(Burst {
            t0: self.t + delay,
            d,
            amp,
        });
    }

    /// Amplitude of a burst of duration `d` that lifts the pendulum from
    /// rest by `dth` against the net restoring torque (the lifter's own model).
    fn burst_for(&self, dth: f64, d: f64) -> f64 {
        let th_mid = self.th + dth / 2.0;
        let tr = self
            .net_restore(th_mid)
            .abs()
            .max(self.net_restore(self.th + 0.05).abs())
            .max(1.0)
            * self.lf.model_bias;
        let i = (self.inertia() + self.stack_inertia()) * self.lf.model_bias;
        let a = (tr + (tr * tr + 8.0 * i * tr * dth.max(0.0) / (d * d)).sqrt()) / 2.0;
        // The envelope's area is d - e for edges of e.
        let e = (d * 0.35).clamp(0.03, 0.12).min(d / 2.0);
        a * d / (d - e)
    }

    /// One internal frame: physics substeps, balance, then the pose.
    fn step(&mut self, life: Option<&Act>) {
        let dt = self.dt / self.nsub as f64;
        for _ in 0..self.nsub {
            let tau = self.muscle_torque();
            self.tau_m = tau;
            self.pendulum_substep(tau, dt);
            self.t += dt;
        }
        self.balance(self.dt, life);
        self.push_frame(life);
    }

    /// Legs coupled modes, the linear inverted pendulum with capture-point
    /// control and the pelvic obliquity.
    fn balance(&mut self, dt: f64, life: Option<&Act>) {
        let lf = self.lf.clone();
        let ex = self.cfg.exercise;
        let t = self.t;
        // Flexion and rotation: second-order modes pulled along by abduction.
        let th_leg = if ex == Exercise::HipHitch {
            0.0
        } else {
            self.th.max(0.0)
        };
        let fl_t = lf.flex_couple * th_leg
            + self.fl_bias
            + self.comp_flex * smoothstep(th_leg / (lf.range * 0.6));
        let w = 9.0;
        self.fld += (w * w * (fl_t - self.fl) - 2.0 * 0.7 * w * self.fld) * dt;
        self.fl += self.fld * dt;
        let ro_t = lf.rot_couple * th_leg;
        self.rod += (w * w * (ro_t - self.ro) - 2.0 * 0.7 * w * self.rod) * dt;
        self.ro += self.rod * dt;
        // Postural sway.
        let sq = dt.sqrt();
        self.sway_x += -0.5 * self.sway_x * dt + lf.sway * sq * gauss(&mut self.rng);
        // Roll and yaw sway: second-order processes (rms about sway_roll and
        // 0.3°), smoothed once more so the sensor's acceleration stays finite.
        let (wn, z): (f64, f64) = (1.5, 0.7);
        let sig_r = lf.sway_roll * (4.0 * z * wn * wn * wn).sqrt();
        self.sway_rv += (-wn * wn * self.sway_r_raw - 2.0 * z * wn * self.sway_rv) * dt
            + sig_r * sq * gauss(&mut self.rng);
        self.sway_r_raw += self.sway_rv * dt;
        self.sway_r += (self.sway_r_raw - self.sway_r) * (dt * 6.0).min(1.0);
        let sig_y = 0.3 * DEG * (4.0 * z * wn * wn * wn).sqrt();
        self.sway_yv += (-wn * wn * self.sway_y_raw - 2.0 * z * wn * self.sway_yv) * dt
            + sig_y * sq * gauss(&mut self.rng);
        self.sway_y_raw += self.sway_yv * dt;
        self.sway_y += (self.sway_y_raw - self.sway_y) * (dt * 6.0).min(1.0);
        let standing = matches!(self.posture, Posture::Standing | Posture::OnStep);
        let m = lf.leg_m;
        let mb = lf.body_m;
        let h = 0.95;
        // The leg's lateral CoM displacement, toward the free side.
        let dx_leg = match ex {
            Exercise::StandingCableAbduction => lf.leg_lc * self.th.sin(),
            Exercise::HipHitch => -0.3 * self.th * 0.5,
            _ => 0.0,
        };
        let a_leg = if ex == Exercise::StandingCableAbduction && self.in_set {
            let thdd = (self.thd - self.thd_prev) / dt;
            lf.leg_lc * (thdd * self.th.cos() - self.thd * self.thd * self.th.sin())
        } else {
            0.0
        };
        self.thd_prev = self.thd;
        let single =
            self.in_set && standing && !matches!(life.map(|a| &a.life), Some(Life::PinChange));
        if standing {
            let w0 = (G / h).sqrt();
            let xi = self.xc + self.xcd / w0;
            self.xi_hist.push(xi);
            let lag = ((lf.cp_delay / dt) as usize).min(self.xi_hist.len() - 1);
            let xi_seen = self.xi_hist[self.xi_hist.len() - 1 - lag];
            if self.xi_hist.len() > 400 {
                self.xi_hist.drain(0..200);
            }
            let rock = if self.comp_rock != 0.0 {
                self.comp_rock * (2.0 * PI * (t - self.rock_t0) / self.rock_period).sin()
            } else {
                0.0
            };
            let xi_ref =
                self.foot - lf.lean_lambda * m / (mb - m) * dx_leg + self.sway_x + rock * 0.35;
            let p_cmd = xi_ref + (1.0 + lf.cp_k / w0) * (xi_seen - xi_ref);
            let hw = if single { lf.foot_hw } else { 0.12 };
            let p_sat = p_cmd.clamp(self.foot - hw, self.foot + hw);
            self.cop += (p_sat - self.cop) * (dt / 0.03).min(1.0);
            let tau_h = lf.hip_gain * mb * G * (p_cmd - p_sat);
            self.xcd += (w0 * w0 * (self.xc - self.cop)
                - lf.react_share * m / (mb - m) * a_leg
                - tau_h / (mb * h))
                * dt;
            self.xc += self.xcd * dt;
            // Trunk: hip strategy.
            let (kt, ct, it) = (900.0, 90.0, 12.0);
            self.phid += ((tau_h - kt * self.phi - ct * self.phid) / it) * dt;
            self.phi += self.phid * dt;
            // A recovery step or hop when the capture point leaves the base.
            match self.hop {
                None => {
                    if single && (xi - self.foot).abs() > hw + 0.025 {
                        let to = xi + (xi - self.foot).signum() * 0.02;
                        let d = uni(&mut self.rng, 0.28, 0.42);
                        self.hop = Some((t, d, self.foot, to));
                        // A stumble ends the rocking.
                        self.comp_rock = 0.0;
                        let what = if self.cfg.exercise == Exercise::HipHitch {
                            "free foot touches down to catch the balance"
                        } else {
                            "recovery hop"
                        };
                        self.distractions.push(format!(
                            "{what} at {:.2} s (during set {})",
                            t,
                            self.set_index + 1
                        ));
                    }
                }
                Some((t0, d, from, to)) => {
                    let u = (t - t0) / d;
                    self.foot = from + (to - from) * smoothstep(u);
                    if u >= 1.0 {
                        self.hop = None;
                        self.pending_jolt.y += uni(&mut self.rng, 8.0, 20.0);
                        // The step stops the body.
                        self.xcd *= 0.2;
                    }
                }
            }
            // Sagittal: stable within a long foot.
            let zref = m / mb * lf.leg_lc * self.fl.sin() * 0.6;
            let pz =
                (zref + (1.0 + 1.5 / w0) * (self.zc + self.zcd / w0 - zref)).clamp(-0.08, 0.12);
            self.zcd += w0 * w0 * (self.zc - pz) * dt;
            self.zc += self.zcd * dt;
        } else {
            // Lying or seated: the body rocks on its support, pushed by the leg.
            let leg_acc = self.tau_m / self.inertia().max(0.1);
            let k = 60.0;
            self.xcd += (-k * self.xc - 10.0 * self.xcd - 0.002 * leg_acc * (m / mb) * 10.0) * dt;
            self.xc += self.xcd * dt;
            self.phi *= 1.0 - dt * 3.0;
            self.zc *= 1.0 - dt * 3.0;
            self.zcd = 0.0;
        }
        // Obliquity at the stance hip (abduction exercises): the abductors'
        // reaction, the lifter's style, compensation intents.
        if ex != Exercise::HipHitch {
            let ref_tau = (self.static_load(lf.range * 0.5).abs()).max(5.0);
            let musc = if self.in_set {
                self.tau_m / ref_tau
            } else {
                0.0
            };
            let mut ob_t = (-lf.react + lf.style) * musc * 2.0 * DEG;
            let lift = smoothstep(self.th / (lf.range * 0.7));
            ob_t += self.comp_obl * lift;
            if self.comp_rock != 0.0 {
                ob_t += self.comp_rock * (2.0 * PI * (t - self.rock_t0) / self.rock_period).sin();
            }
            let w = lf.ob_w;
            self.obd += (w * w * (ob_t - self.ob) - 2.0 * 0.75 * w * self.obd) * dt;
            self.ob += self.obd * dt;
        } else {
            self.ob = 0.0;
        }
        let yaw_t = lf.yaw_couple * th_leg
            + if self.comp_rock != 0.0 {
                0.4 * self.comp_rock * (2.0 * PI * (t - self.rock_t0) / self.rock_period).cos()
            } else {
                0.0
            };
        let w = 8.0;
        self.psid += (w * w * (yaw_t - self.psi) - 2.0 * 0.8 * w * self.psid) * dt;
        self.psi += self.psid * dt;
    }

    /// The rest-of-body lean toward the stance side, rad.
    fn lean(&self) -> f64 {
        let lf = &self.lf;
        let (m, mb) = (lf.leg_m, lf.body_m);
        let standing = matches!(self.posture, Posture::Standing | Posture::OnStep);
        if !standing {
            return -self.xc * 0.5;
        }
        let _ = (m, mb);
        -(self.xc - self.foot) / 0.9
    }

    fn push_frame(&mut self, life: Option<&Act>) {
        let cfg = self.cfg;
        let ex = cfg.exercise;
        let (ss, sf) = (self.s_side(), self.s_free());
        let t = self.t;
        let lf = &self.lf;
        // Overlays from life between sets.
        let mut roll_add = 0.0;
        let mut tilt_add = 0.0;
        let mut yaw_add = 0.0;
        let mut bob = 0.0;
        let mut leg_abd = 0.0;
        let mut leg_flex = 0.0;
        let mut knee = 0.05;
        let mut stance_leg = false;
        let mut q_post = self.posture_q(self.posture);
        let mut height = self.posture_height(self.posture);
        if let Some(a) = life {
            let u = ((t - a.t0) / a.d).clamp(0.0, 1.0);
            let ph = a.seed * 10.0;
            match &a.life {
                Life::Walk { cadence, .. } => {
                    let phase = 2.0 * PI * cadence * (t - a.t0) + ph;
                    let ramp = smoothstep(u * 6.0) * smoothstep((1.0 - u) * 6.0);
                    leg_flex += ramp * 0.45 * phase.sin();
                    knee += ramp * 0.9 * (phase + 1.3).sin().max(0.0).powi(2);
                    bob += ramp * 0.02 * (2.0 * phase).cos();
                    roll_add += ramp * 3.0 * DEG * phase.sin();
                    yaw_add += ramp * 4.0 * DEG * phase.cos();
                    tilt_add += ramp * 2.0 * DEG * (2.0 * phase).sin();
                }
                Life::Turn { .. } => {
                    let phase = 2.0 * PI * 1.6 * (t - a.t0);
                    leg_flex += 0.15 * phase.sin() * bump(t, a.t0, a.d).sqrt();
                    knee += 0.3 * phase.sin().max(0.0) * bump(t, a.t0, a.d).sqrt();
                }
                Life::Posture { from, to } => {
                    let s = smoothstep(u);
                    q_post = self.posture_q(*from).slerp(&self.posture_q(*to), s);
                    height = self.posture_height(*from) * (1.0 - s) + self.posture_height(*to) * s;
                    tilt_add -= 0.5 * bump(t, a.t0, a.d);
                    knee += 0.8 * bump(t, a.t0, a.d);
                    leg_flex += 0.6 * bump(t, a.t0, a.d);
                }
                Life::Swing { amp } => {
                    leg_abd += amp * bump(t, a.t0, a.d);
                    roll_add += 1.5 * DEG * bump(t, a.t0, a.d);
                }
                Life::Shake => {
                    let e = bump(t, a.t0, a.d);
                    leg_flex += e * 0.08 * (2.0 * PI * 4.0 * t).sin();
                    leg_abd += e * 0.05 * (2.0 * PI * 3.3 * t + ph).sin();
                    roll_add += e * 1.0 * DEG * (2.0 * PI * 3.3 * t).sin();
                }
                Life::Restrap => {
                    let e = smoothstep(u * 5.0) * smoothstep((1.0 - u) * 5.0);
                    leg_flex += e * 1.1;
                    knee += e * 1.3;
                    tilt_add -= e * 0.6;
                    leg_abd += e * 0.03 * (2.0 * PI * 2.0 * t + ph).sin();
                    stance_leg = false;
                }
                Life::Drink => {
                    let e = bump(t, a.t0, a.d);
                    tilt_add += e * 0.2;
                    yaw_add += e * 0.3;
                }
                Life::Phone => {
                    let e = smoothstep(u * 5.0) * smoothstep((1.0 - u) * 5.0);
                    tilt_add -= e * 0.15;
                    yaw_add += 0.05 * (0.7 * t + ph).sin() * e;
                }
                Life::PinChange => {
                    let e = smoothstep(u * 4.0) * smoothstep((1.0 - u) * 4.0);
                    tilt_add -= e * 0.7;
                    yaw_add += e * 0.6 * ss;
                    knee += e * 0.5;
                }
                Life::OtherLeg { period, amp } => {
                    let k = ((t - a.t0) / period).floor();
                    let tk = a.t0 + k * period;
                    let e = bump(t, tk + 0.2, period * 0.8)
                        * smoothstep(u * 20.0)
                        * smoothstep((1.0 - u) * 20.0);
                    // The other leg's rep, seen through the pelvis: mirrored.
                    roll_add -= sf * amp * e;
                    yaw_add += 0.01 * e;
                    stance_leg = true;
                }
                Life::Shift => {
                    roll_add +=
                        1.5 * DEG * bump(t, a.t0, a.d) * if a.seed > 0.5 { 1.0 } else { -1.0 };
                }
                Life::Quiet => {}
            }
        }
        // Pelvis.
        let breath = 0.3 * DEG * (2.0 * PI * self.breath_hz * t).sin();
        let in_hitch_set = ex == Exercise::HipHitch;
        let hitch_ob = if in_hitch_set && matches!(self.posture, Posture::OnStep) {
            self.th
        } else {
            0.0
        };
        let obl = self.lean() + self.ob + lf.trunk_share * self.phi + self.sway_r + hitch_ob;
        let roll = sf * obl + roll_add;
        let tilt = -self.zc / 0.9
            + breath
            + 0.3 * self.fl.max(0.0) * if self.in_set { 1.0 } else { 0.0 }
            + tilt_add;
        let yaw = ss * self.psi + yaw_add + self.sway_y;
        let qh = ry(self.heading);
        let qp = qh * q_post * rz(roll) * rx(tilt) * ry(yaw);
        let lat = self.xc * sf;
        let base = self.pos + qh * Vector3::new(lat, height + bob, -self.zc * 0.3);
        let (q, p) = match cfg.placement {
            Placement::Pelvis => (
                qp * self.dev_mount(),
                base + qp * Vector3::new(0.0, 0.0, 0.1),
            ),
            Placement::Ankle => {
                let hip = base + qp * Vector3::new(ss * 0.09, -0.06, 0.0);
                if stance_leg {
                    let qs = qh * rz(-ss * 0.02 + roll * 0.5);
                    (
                        qs * self.dev_mount(),
                        self.pos + qh * Vector3::new(ss * 0.1, 0.12, 0.0),
                    )
                } else if ex == Exercise::SeatedMachineAbduction
                    && matches!(self.posture, Posture::Seated)
                {
                    let qpy = qh * ry(yaw);
                    let thigh = qpy * ry(-ss * (self.th + leg_abd)) * rx(PI / 2.0);
                    let knee_p = hip + thigh * Vector3::new(0.0, -lf.leg_len * 0.5, 0.0);
                    let shank = qpy
                        * ry(-ss * (self.th + leg_abd))
                        * rz(-ss * 0.3 * self.th)
                        * rx(leg_flex * 0.3);
                    (
                        shank * self.dev_mount(),
                        knee_p + shank * Vector3::new(0.0, -lf.leg_len * 0.42, 0.0),
                    )
                } else {
                    let abd = if ex == Exercise::HipHitch {
                        0.0
                    } else {
                        self.th
                    };
                    let thigh =
                        qp * rz(ss * (abd + leg_abd)) * rx(self.fl + leg_flex) * ry(ss * self.ro);
                    let knee_p = hip + thigh * Vector3::new(0.0, -lf.leg_len * 0.5, 0.0);
                    let shank = thigh * rx(-knee);
                    (
                        shank * self.dev_mount(),
                        knee_p + shank * Vector3::new(0.0, -lf.leg_len * 0.42, 0.0),
                    )
                }
            }
        };
        let jolt = std::mem::replace(&mut self.pending_jolt, Vector3::zeros());
        let jolt = qh * jolt;
        let theta = self.th;
        let flex = self.fl;
        self.frames.push(Frame {
            t,
            q,
            p,
            theta,
            obl: obl + sf * roll_add,
            flex,
            jolt,
        });
    }

    fn dev_mount(&self) -> UnitQuaternion<f64> {
        UnitQuaternion::identity()
    }

    fn posture_q(&self, p: Posture) -> UnitQuaternion<f64> {
        match p {
            Posture::Standing | Posture::OnStep => UnitQuaternion::identity(),
            Posture::Seated => rx(0.12),
            Posture::Lying => rz(self.s_side() * PI / 2.0),
        }
    }

    fn posture_height(&self, p: Posture) -> f64 {
        match p {
            Posture::Standing => 0.95,
            Posture::OnStep => 1.15,
            Posture::Seated => 0.5,
            Posture::Lying => 0.2,
        }
    }

    /// Runs a life activity.
    fn run_life(&mut self, act: Act) {
        let end = act.t0 + act.d;
        let mut turned = 0.0;
        while self.t < end {
            self.step(Some(&act));
            match act.life {
                Life::Walk { speed, .. } => {
                    let u = ((self.t - act.t0) / act.d).clamp(0.0, 1.0);
                    let v = speed * smoothstep(u * 6.0) * smoothstep((1.0 - u) * 6.0);
                    let dir = ry(self.heading) * Vector3::new(0.0, 0.0, -1.0);
                    self.pos += dir * v * self.dt;
                }
                Life::Turn { angle } => {
                    let u = ((self.t - act.t0) / act.d).clamp(0.0, 1.0);
                    let want = angle * smoothstep(u);
                    self.heading += want - turned;
                    turned = want;
                }
                _ => {}
            }
        }
        if let Life::Posture { to, .. } = act.life {
            self.posture = to;
        }
    }

    fn settle_pendulum(&mut self) {
        self.bursts.clear();
    }

    fn quiet(&mut self, d: f64) {
        let a = Act {
            t0: self.t,
            d,
            life: Life::Quiet,
            seed: 0.0,
        };
        self.run_life(a);
    }

    fn run_rest_acts(&mut self, acts: Vec<(Life, f64)>) {
        for (life, d) in acts {
            let seed = self.rng.gen::<f64>();
            let a = Act {
                t0: self.t,
                d,
                life: life.clone(),
                seed,
            };
            let label = match &life {
                Life::Quiet => None,
                Life::Walk { .. } => Some("walking"),
                Life::Turn { .. } => Some("turning round"),
                Life::Posture { to, .. } => Some(match to {
                    Posture::Standing => "standing up",
                    Posture::OnStep => "stepping up onto the step",
                    Posture::Seated => "sitting down",
                    Posture::Lying => "lying down",
                }),
                Life::Swing { .. } => Some("a single swing of the leg"),
                Life::Shake => Some("shaking the leg out"),
                Life::Restrap => Some("re-strapping"),
                Life::Drink => Some("drinking"),
                Life::Phone => Some("on the phone"),
                Life::PinChange => Some("changing the pin"),
                Life::OtherLeg { .. } => Some("the other leg's set"),
                Life::Shift => Some("a weight shift"),
            };
            if let Some(l) = label {
                self.distractions
                    .push(format!("{l} {:.2}-{:.2} s", a.t0, a.t0 + a.d));
            }
            self.run_life(a);
        }
    }
}

/// The kind of set, from the workout grammar.
#[derive(Clone, Copy, PartialEq, Debug)]
enum SetKind {
    Warmup,
    Working,
    Drop,
    Light,
    Abandoned,
}

/// What the set measured: its window and neutral.
struct SetWindow {
    t0: f64,
    t1: f64,
    neutral_t: f64,
    plans: Vec<(f64, RepPlan)>,
}

/// The simulated session: samples and truth.
pub struct PendulumSimulator {
    samples: std::vec::IntoIter<Sample>,
}

impl Iterator for PendulumSimulator {
    type Item = Sample;
    fn next(&mut self) -> Option<Sample> {
        self.samples.next()
    }
}

impl PendulumSimulator {
    /// Simulates the session `cfg` asks for.
    pub fn new(cfg: &SimConfig) -> Result<(Self, Truth), String> {
        cfg.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x5045_4e44_554c_554d);
        let lf = Lifter::draw(&mut rng, cfg.exercise);
        let dev = Device::draw(&mut rng, cfg);
        let k = ((250.0 / cfg.rate_hz).ceil() as usize).max(2);
        let f_int = cfg.rate_hz * k as f64;
        let dt = 1.0 / f_int;
        let nsub = ((dt / 0.001).ceil() as usize).max(1);
        let visible = if cfg.compensation_rate > 0.0 {
            cfg.visible_compensations()
        } else {
            Vec::new()
        };
        let load = draw_load(&mut rng, cfg, &lf, 1.0);
        let set_posture = match cfg.exercise {
            Exercise::SideLyingAbduction => Posture::Lying,
            Exercise::SeatedMachineAbduction => Posture::Seated,
            Exercise::HipHitch => Posture::OnStep,
            _ => Posture::Standing,
        };
        let body_rng = ChaCha8Rng::seed_from_u64(rng.gen());
        let mut b = Body {
            cfg,
            lf: lf.clone(),
            load,
            rng: body_rng,
            dt,
            nsub,
            t: 0.0,
            th: 0.0,
            thd: 0.0,
            ys: 0.0,
            ysd: 0.0,
            bursts: Vec::new(),
            engaged: 0.0,
            strength: 1.0,
            fl: 0.0,
            fld: 0.0,
            ro: 0.0,
            rod: 0.0,
            fl_bias: 0.0,
            xc: 0.0,
            xcd: 0.0,
            zc: 0.0,
            zcd: 0.0,
            cop: 0.0,
            foot: 0.0,
            xi_hist: Vec::new(),
            hop: None,
            phi: 0.0,
            phid: 0.0,
            ob: 0.0,
            obd: 0.0,
            psi: 0.0,
            psid: 0.0,
            comp_obl: 0.0,
            comp_rock: 0.0,
            comp_flex: 0.0,
            rock_t0: 0.0,
            rock_period: 1.0,
            sway_x: 0.0,
            sway_r: 0.0,
            sway_y: 0.0,
            sway_rv: 0.0,
            sway_r_raw: 0.0,
            sway_yv: 0.0,
            sway_y_raw: 0.0,
            breath_hz: uni(&mut rng, 0.2, 0.33),
            posture: set_posture,
            heading: uni(&mut rng, -PI, PI),
            pos: Vector3::new(uni(&mut rng, -3.0, 3.0), 0.0, uni(&mut rng, -3.0, 3.0)),
            frames: Vec::new(),
            distractions: Vec::new(),
            set_index: 0,
            in_set: false,
            pending_jolt: Vector3::zeros(),
            tau_m: 0.0,
            thd_prev: 0.0,
        };
        if set_posture == Posture::OnStep {
            b.pos.y = 0.0;
        }
        let lead = cfg
            .lead_in_s
            .unwrap_or_else(|| uni(&mut rng, 0.5, 3.0))
            .max(0.0);
        b.quiet(lead.max(dt));
        // The workout grammar: kinds of sets, supersets.
        let superset = cfg.fidgets && chance(&mut rng, 0.3);
        let mut windows = Vec::new();
        for si in 0..cfg.sets {
            let kind = draw_kind(&mut rng, cfg, si);
            b.set_index = si;
            let factor = match kind {
                SetKind::Warmup | SetKind::Light => uni(&mut rng, 0.55, 0.75),
                _ => 1.0,
            };
            b.load = draw_load(&mut rng, cfg, &lf, factor);
            let n = match kind {
                SetKind::Warmup => {
                    cfg.reps_min + rng.gen_range(0..=((cfg.reps_max - cfg.reps_min) / 2))
                }
                SetKind::Light => cfg.reps_max,
                SetKind::Abandoned => cfg.reps_min.max(2).min(cfg.reps_max),
                _ => rng.gen_range(cfg.reps_min..=cfg.reps_max),
            };
            let win = run_set(&mut b, &mut rng, kind, n, &visible, si == 0);
            windows.push(win);
            if si + 1 < cfg.sets {
                let rest = uni(&mut rng, cfg.rest_min_s, cfg.rest_max_s);
                let acts = plan_rest(&mut rng, cfg, &b, rest, superset, set_posture);
                b.run_rest_acts(acts);
            }
        }
        // The end: still, or cut off mid-motion.
        if cfg.walking && chance(&mut rng, 0.3) {
            b.quiet(uni(&mut rng, 0.5, 2.0));
            let d = uni(&mut rng, 1.0, 3.0);
            if set_posture != Posture::Standing {
                b.run_rest_acts(vec![(
                    Life::Posture {
                        from: set_posture,
                        to: Posture::Standing,
                    },
                    d,
                )]);
            } else {
                b.run_rest_acts(vec![(
                    Life::Walk {
                        speed: 1.1,
                        cadence: 0.95,
                    },
                    d * 3.0,
                )]);
            }
        } else {
            b.quiet(uni(&mut rng, 1.0, 6.0));
        }
        let truth_sets = measure_truth(cfg, &b.frames, b.dt, &windows, &visible);
        let duration = b.t;
        let samples = synthesize(&b.frames, &dev, cfg, &mut rng, f_int);
        let mut distractions = b.distractions;
        distractions.retain(|d| !d.is_empty());
        let truth = Truth {
            config: cfg.clone(),
            duration_s: round3(duration),
            distractions,
            sets: truth_sets,
        };
        Ok((
            PendulumSimulator {
                samples: samples.into_iter(),
            },
            truth,
        ))
    }
}

fn draw_kind(rng: &mut ChaCha8Rng, cfg: &SimConfig, si: usize) -> SetKind {
    let r = rng.gen::<f64>();
    if si == 0 && cfg.sets > 1 && r < 0.3 {
        return SetKind::Warmup;
    }
    if r < 0.1 && cfg.reps_max >= 4 {
        SetKind::Drop
    } else if r < 0.18 && cfg.reps_max >= 15 {
        SetKind::Light
    } else if r < 0.24 && cfg.reps_min <= 3 {
        SetKind::Abandoned
    } else {
        SetKind::Working
    }
}

fn draw_load(rng: &mut ChaCha8Rng, cfg: &SimConfig, lf: &Lifter, factor: f64) -> Load {
    let strong = match lf.pop {
        Pop::Rehab | Pop::Older => 0.6,
        Pop::Athlete => 1.4,
        _ => 1.0,
    };
    let mut l = Load {
        stack_m: 0.0,
        arm: lf.leg_len,
        th0: 0.0,
        stack_fric: 0.0,
        ankle_w: 0.0,
        band_k: 0.0,
        extra_i: 0.0,
        hitch_tau: 0.0,
        hitch_k: 0.0,
    };
    match cfg.exercise {
        Exercise::StandingCableAbduction => {
            l.stack_m = uni(rng, 2.5, 9.0) * strong * factor;
            l.th0 = uni(rng, 0.0, 0.05);
            l.stack_fric = uni(rng, 2.0, 10.0);
        }
        Exercise::SeatedMachineAbduction => {
            l.stack_m = uni(rng, 12.0, 40.0) * strong * factor;
            l.arm = uni(rng, 0.12, 0.2);
            l.th0 = uni(rng, 0.0, 0.03);
            l.stack_fric = uni(rng, 5.0, 20.0);
            l.extra_i = uni(rng, 0.4, 1.2);
        }
        Exercise::SideLyingAbduction => {
            if chance(rng, 0.4) {
                l.ankle_w = uni(rng, 0.5, 3.0) * factor;
            }
            if chance(rng, 0.25) {
                l.band_k = uni(rng, 5.0, 25.0) * factor;
            }
        }
        _ => {
            l.hitch_tau = lf.body_m * G * uni(rng, 0.02, 0.04);
            l.hitch_k = uni(rng, 25.0, 50.0) * (lf.body_m / 75.0);
        }
    }
    l
}

/// The rest between sets from a small grammar of what people do.
fn plan_rest(
    rng: &mut ChaCha8Rng,
    cfg: &SimConfig,
    b: &Body,
    rest: f64,
    superset: bool,
    set_posture: Posture,
) -> Vec<(Life, f64)> {
    let mut acts: Vec<(Life, f64)> = Vec::new();
    let mut left = rest - uni(rng, 3.0, 5.0);
    let push = |acts: &mut Vec<(Life, f64)>, left: &mut f64, l: Life, d: f64| {
        if d <= *left - 1.0 {
            *left -= d;
            acts.push((l, d));
            true
        } else {
            false
        }
    };
    push(&mut acts, &mut left, Life::Quiet, uni(rng, 1.0, 3.0));
    if superset && set_posture != Posture::Lying {
        let period = uni(rng, 2.5, 3.6);
        let n = rng.gen_range(6..=12) as f64;
        let amp = uni(rng, 1.0, 4.0) * DEG;
        push(
            &mut acts,
            &mut left,
            Life::OtherLeg { period, amp },
            period * n,
        );
        push(&mut acts, &mut left, Life::Quiet, uni(rng, 1.0, 2.0));
    }
    let mobile = cfg.walking || cfg.fidgets;
    let mut posture = set_posture;
    if mobile
        && set_posture != Posture::Standing
        && (cfg.walking || chance(rng, 0.4))
        && push(
            &mut acts,
            &mut left,
            Life::Posture {
                from: set_posture,
                to: Posture::Standing,
            },
            uni(rng, 1.5, 3.0),
        )
    {
        posture = Posture::Standing;
    }
    let back_d = uni(rng, 2.0, 3.5);
    let reserve = if posture != set_posture {
        back_d + 1.0
    } else {
        0.0
    };
    left -= reserve;
    if cfg.walking && posture == Posture::Standing {
        let speed = uni(rng, 0.9, 1.3);
        let cadence = uni(rng, 0.85, 1.0);
        push(
            &mut acts,
            &mut left,
            Life::Walk { speed, cadence },
            uni(rng, 3.0, 9.0),
        );
        push(
            &mut acts,
            &mut left,
            Life::Turn {
                angle: PI * uni(rng, 0.8, 1.2),
            },
            uni(rng, 1.2, 2.0),
        );
    }
    if cfg.fidgets {
        let n = rng.gen_range(1..=4);
        for _ in 0..n {
            let (l, d) = match rng.gen_range(0..9) {
                0 => (
                    Life::Swing {
                        amp: uni(rng, 15.0, 35.0) * DEG,
                    },
                    uni(rng, 0.7, 1.3),
                ),
                1 => (Life::Shake, uni(rng, 0.8, 2.0)),
                2 => (Life::Restrap, uni(rng, 5.0, 12.0)),
                3 => (Life::Drink, uni(rng, 3.0, 6.0)),
                4 => (Life::Phone, uni(rng, 5.0, 20.0)),
                5 if cfg.exercise != Exercise::SideLyingAbduction => {
                    (Life::PinChange, uni(rng, 3.0, 6.0))
                }
                _ => (Life::Shift, uni(rng, 1.0, 2.5)),
            };
            // Swings and pin changes need standing.
            if posture != Posture::Standing
                && matches!(l, Life::Swing { .. } | Life::PinChange | Life::Restrap)
            {
                continue;
            }
            push(&mut acts, &mut left, Life::Quiet, uni(rng, 0.5, 3.0));
            push(&mut acts, &mut left, l, d);
        }
    }
    if cfg.walking && posture == Posture::Standing {
        let speed = uni(rng, 0.9, 1.3);
        let cadence = uni(rng, 0.85, 1.0);
        push(
            &mut acts,
            &mut left,
            Life::Walk { speed, cadence },
            uni(rng, 3.0, 8.0),
        );
        push(
            &mut acts,
            &mut left,
            Life::Turn {
                angle: PI * uni(rng, 0.8, 1.2),
            },
            uni(rng, 1.2, 2.0),
        );
    }
    left += reserve;
    if posture != set_posture {
        let q = (left - back_d - 0.5).max(0.2);
        push(&mut acts, &mut left, Life::Quiet, q);
        push(
            &mut acts,
            &mut left,
            Life::Posture {
                from: posture,
                to: set_posture,
            },
            back_d,
        );
    }
    let used: f64 = acts.iter().map(|a| a.1).sum();
    let _ = b;
    acts.push((Life::Quiet, (rest - used).max(2.5)));
    acts
}

/// Runs one set: the cue, reaction times, and the bursts the pendulum's own
/// phase triggers. Returns the set's window.
fn run_set(
    b: &mut Body,
    rng: &mut ChaCha8Rng,
    kind: SetKind,
    n: usize,
    visible: &[FlagKind],
    first: bool,
) -> SetWindow {
    let cfg = b.cfg;
    let lf = b.lf.clone();
    let hitch = cfg.exercise == Exercise::HipHitch;
    let want = match cfg.exercise {
        Exercise::SideLyingAbduction => Posture::Lying,
        Exercise::SeatedMachineAbduction => Posture::Seated,
        Exercise::HipHitch => Posture::OnStep,
        _ => Posture::Standing,
    };
    if b.posture != want {
        let d = uni(rng, 2.0, 3.5);
        b.run_rest_acts(vec![
            (
                Life::Posture {
                    from: b.posture,
                    to: want,
                },
                d,
            ),
            (Life::Quiet, uni(rng, 1.0, 2.0)),
        ]);
    }
    b.settle_pendulum();
    b.fl_bias = 0.0;
    b.in_set = true;
    b.engaged = 1.0;
    b.strength = 1.0;
    b.foot = b.xc;
    let ready = if first { 0.05 } else { uni(rng, 0.8, 2.5) };
    b.quiet(ready);
    let neutral_t = b.t - 0.02;
    let t_start = b.t;
    // Intents: plans per rep, extra abandoned attempts.
    let tempo = match kind {
        SetKind::Warmup | SetKind::Light => uni(rng, 0.75, 0.9),
        _ => 1.0,
    };
    let drop_at = if kind == SetKind::Drop && n >= 4 {
        Some(n / 2 + rng.gen_range(0..=n / 4))
    } else {
        None
    };
    let mut plans: Vec<RepPlan> = Vec::new();
    for i in 0..n {
        if i > 0 && chance(rng, lf.p_abandon) {
            plans.push(RepPlan {
                target: lf.range * uni(rng, 0.1, 0.25),
                comp: None,
                comp_mag: 0.0,
                hold: 0.0,
                abandon: true,
                pump_again: None,
                hurried: false,
            });
        }
        let mut target = lf.range * (1.0 + 0.06 * gauss(rng)).clamp(0.85, 1.15);
        if kind == SetKind::Light {
            target *= 1.05;
        }
        let comp = if !visible.is_empty() && i > 0 && chance(rng, cfg.compensation_rate) {
            Some(visible[rng.gen_range(0..visible.len())])
        } else {
            None
        };
        let mut comp_mag = 0.0;
        match comp {
            Some(FlagKind::HipHike) => {
                comp_mag = uni(rng, 6.5, 12.0) * DEG * if chance(rng, 0.15) { 0.6 } else { 1.0 }
            }
            Some(FlagKind::PelvicDrop) => {
                comp_mag = -uni(rng, 6.5, 12.0) * DEG * if chance(rng, 0.15) { 0.6 } else { 1.0 }
            }
            Some(FlagKind::TrunkSway) => comp_mag = uni(rng, 7.0, 11.0) * DEG,
            Some(FlagKind::PartialRange) => target *= uni(rng, 0.5, 0.72),
            Some(FlagKind::HipFlexionDrift) => comp_mag = uni(rng, 12.0, 24.0) * DEG,
            Some(FlagKind::Momentum) => comp_mag = uni(rng, 1.4, 1.8),
            None => {}
        }
        let hold = if chance(rng, lf.p_hold) {
            uni(rng, 0.1, lf.hold_max) / tempo
        } else {
            0.0
        };
        let pump_again = if i > 0 && comp.is_none() && chance(rng, lf.p_pump_again) {
            Some(uni(rng, 0.3, 0.65))
        } else {
            None
        };
        plans.push(RepPlan {
            target,
            comp,
            comp_mag,
            hold,
            abandon: false,
            pump_again,
            hurried: false,
        });
    }
    // The cue stream.
    let mut next_cue = b.t;
    let period = match lf.cue {
        Cue::Coach(p) | Cue::Metronome(p) | Cue::Breath(p) => p * tempo,
        Cue::Own { .. } => 0.0,
    };
    let mut hurry = 0usize;
    let mut started: Vec<(f64, RepPlan)> = Vec::new();
    let mut reps_done = 0usize;
    let mut pi = 0usize;
    let mut phase = Phase::Idle;
    let mut cur: Option<RepPlan> = None;
    let mut launch_at: Option<f64> = Some(b.t + ex_gauss(rng, lf.rt.0, lf.rt.1, lf.rt.2).max(0.12));
    let mut peak_seen = 0.0f64;
    let mut brake_ready = 0.0;
    let mut landed = false;
    let mut pumps_left = 0usize;
    let mut pump_ready = 0.0;
    let mut top_braked = false;
    let mut split_pending = false;
    let mut hitch_returned = false;
    let mut t_done = b.t;
    let mut below_since = b.t;
    let t_limit = b.t + 30.0 + plans.len() as f64 * 10.0;
    loop {
        if phase == Phase::Idle && pi >= plans.len() {
            break;
        }
        if b.t > t_limit {
            break;
        }
        // Drop set: a pin change inside the set, then lighter.
        if phase == Phase::Idle
            && launch_at.is_none()
            && Some(reps_done) == drop_at
            && pi < plans.len()
        {
            let d = uni(rng, 3.5, 7.0);
            b.in_set = false;
            let t0 = b.t;
            let a = Act {
                t0,
                d,
                life: Life::PinChange,
                seed: rng.gen(),
            };
            b.distractions.push(format!(
                "changing the pin for a drop set {:.2}-{:.2} s (during set {})",
                t0,
                t0 + d,
                b.set_index + 1
            ));
            b.run_life(a);
            b.in_set = true;
            b.load.stack_m *= uni(rng, 0.6, 0.8);
            b.load.ankle_w *= 0.6;
            b.foot = b.xc;
            reps_done += 1000;
            next_cue = b.t;
        }
        // Intent: cue or renewal.
        if phase == Phase::Idle && launch_at.is_none() && pi < plans.len() {
            match lf.cue {
                Cue::Own {
                    shape,
                    mean,
                    weibull,
                } => {
                    let g = if weibull {
                        let u: f64 = rng.gen::<f64>().max(1e-9);
                        mean * (-u.ln()).powf(1.0 / shape)
                    } else {
                        Gamma::new(shape, mean / shape)
                            .map(|d| d.sample(rng))
                            .unwrap_or(mean)
                    };
                    launch_at = Some(t_done + g.max(0.05) / tempo);
                }
                _ => {
                    let jit = match lf.cue {
                        Cue::Coach(_) => 0.08,
                        Cue::Metronome(_) => 0.005,
                        _ => 0.12,
                    };
                    loop {
                        next_cue += period * (1.0 + jit * gauss(rng)).max(0.5);
                        if next_cue > b.t - 0.1 {
                            break;
                        }
                    }
                    let mut cue = next_cue;
                    if chance(rng, lf.p_lapse) {
                        // A cue missed: wait for the next, then hurry.
                        cue += period;
                        next_cue = cue;
                        hurry = 2;
                    }
                    let rt = if chance(rng, lf.p_antic) {
                        -uni(rng, 0.0, 0.3)
                    } else {
                        ex_gauss(rng, lf.rt.0, lf.rt.1, lf.rt.2)
                    };
                    launch_at = Some((cue + rt).max(b.t + 0.05));
                }
            }
        }
        // Launch.
        if phase == Phase::Idle {
            if let Some(at) = launch_at {
                if b.t >= at {
                    launch_at = None;
                    let mut plan = plans[pi].clone();
                    pi += 1;
                    if hurry > 0 {
                        plan.hurried = true;
                        plan.hold = 0.0;
                        hurry -= 1;
                    }
                    b.engaged = 1.0;
                    let f = b.strength;
                    b.strength = (f - lf.fatigue * if plan.abandon { 0.3 } else { 1.0 }).max(0.7);
                    b.comp_obl = 0.0;
                    b.comp_rock = 0.0;
                    b.comp_flex = 0.0;
                    b.fl_bias += lf.flex_drift;
                    match plan.comp {
                        Some(FlagKind::HipHike) | Some(FlagKind::PelvicDrop) => {
                            b.comp_obl = plan.comp_mag
                        }
                        Some(FlagKind::TrunkSway) => {
                            b.comp_rock = plan.comp_mag;
                            b.rock_t0 = b.t;
                            b.rock_period = uni(rng, 1.6, 2.6);
                        }
                        Some(FlagKind::HipFlexionDrift) => b.comp_flex = plan.comp_mag,
                        _ => {}
                    }
                    if hitch {
                        // Release the stance hip: the free side drops.
                        let amp =
                            -b.load.hitch_k * plan.target * (1.0 + lf.motor_noise * gauss(rng));
                        let d = uni(rng, 0.8, 1.5) + plan.hold;
                        b.add_burst(0.0, d, amp);
                        hitch_returned = false;
                    } else {
                        let mut d = lf.burst_d
                            * (1.0 + lf.burst_k * plan.target / lf.range)
                            * if plan.hurried { 0.8 } else { 1.0 };
                        let mut amp =
                            b.burst_for(plan.target, d) * (1.0 + lf.motor_noise * gauss(rng));
                        if plan.comp == Some(FlagKind::Momentum) {
                            amp *= plan.comp_mag;
                            d *= 0.8;
                        }
                        split_pending = !plan.abandon && chance(rng, lf.p_split);
                        if split_pending {
                            amp *= 0.75;
                        }
                        b.add_burst(0.0, d, amp);
                    }
                    pumps_left = if plan.abandon {
                        0
                    } else if plan.comp == Some(FlagKind::PartialRange) {
                        1
                    } else if chance(rng, 0.15) {
                        0
                    } else {
                        rng.gen_range(1..=2)
                    };
                    pump_ready = b.t + 0.25;
                    peak_seen = 0.0;
                    top_braked = false;
                    landed = false;
                    brake_ready = 0.0;
                    started.push((b.t, plan.clone()));
                    cur = Some(plan);
                    phase = Phase::Rise;
                }
            }
        }
        b.step(None);
        let t = b.t;
        let (th, thd) = (b.th, b.thd);
        let Some(plan) = cur.clone() else {
            continue;
        };
        if t - started.last().map(|s| s.0).unwrap_or(t) > 9.0 + plan.hold {
            // Stuck: the lifter lets go and starts over from rest.
            b.bursts.clear();
            phase = Phase::Idle;
            t_done = t + 1.0;
            cur = None;
            reps_done += 1;
            continue;
        }
        if hitch {
            // The pelvis is the pendulum: a drop and a pull back level.
            let depth = -th;
            peak_seen = peak_seen.max(depth);
            if phase == Phase::Rise
                && !hitch_returned
                && (depth > plan.target * 0.85
                    || (thd > 0.0
                        && depth > 0.3 * plan.target
                        && t - started.last().map(|s| s.0).unwrap_or(t) > 0.4))
            {
                let over = 1.0;
                let amp = b.load.hitch_k * plan.target * uni(rng, 0.5, 1.0) * over;
                let d_ret = uni(rng, 0.5, 0.9);
                b.add_burst(plan.hold * 0.5, d_ret, amp);
                if plan.comp == Some(FlagKind::HipHike) {
                    // Hitched past level: the free side pulled up high by the trunk.
                    let hike = b.load.hitch_k * plan.comp_mag * uni(rng, 1.1, 1.4);
                    b.add_burst(plan.hold * 0.5 + d_ret * 0.5, uni(rng, 0.7, 1.1), hike);
                }
                hitch_returned = true;
                phase = Phase::Lower;
            }
            if phase == Phase::Lower
                && depth.abs() < 0.15 * plan.target
                && thd.abs() < 0.05
                && b.bursts.is_empty()
            {
                phase = Phase::Idle;
                t_done = t;
                cur = None;
                if !plan.abandon {
                    reps_done += 1;
                }
            }
            continue;
        }
        peak_seen = peak_seen.max(th);
        match phase {
            Phase::Rise => {
                let active = b.bursts.iter().any(|x| t < x.t0 + x.d);
                if split_pending && !active && thd < 0.6 {
                    let rem = (plan.target - th).max(0.0);
                    let d = lf.burst_d;
                    let amp = b.burst_for(rem, d) * 0.8 * (1.0 + lf.motor_noise * gauss(rng));
                    b.add_burst(0.0, d, amp);
                    split_pending = false;
                } else if !active
                    && pumps_left > 0
                    && t > pump_ready
                    && thd < 0.2
                    && thd > -0.05
                    && th < plan.target * 0.82
                {
                    // A weak push stops short: pump again.
                    let rem = plan.target - th;
                    let d = lf.burst_d * 0.8;
                    let amp = b.burst_for(rem, d) * (1.0 + lf.motor_noise * gauss(rng));
                    b.add_burst(0.0, d, amp);
                    pumps_left -= 1;
                    pump_ready = t + d + 0.1;
                }
                if !top_braked
                    && plan.comp != Some(FlagKind::Momentum)
                    && th > 0.8 * plan.target
                    && thd > 0.0
                {
                    let tr = b.net_restore(th).max(1.0);
                    let i = b.inertia() + b.stack_inertia();
                    let pred = th + thd * thd * i / (2.0 * tr);
                    if pred > 1.12 * plan.target && chance(rng, lf.top_brake) {
                        let excess = pred - plan.target;
                        let d = 0.15;
                        let amp = -(excess * tr * 2.0 / (thd * d)).min(tr * 4.0);
                        b.add_burst(0.0, d, amp);
                        top_braked = true;
                    }
                }
                if thd <= 0.0 && t > started.last().map(|s| s.0).unwrap_or(t) + 0.15 && !active {
                    if plan.hold > 0.0 {
                        let amp = (b.static_load(th) * (1.0 - lf.tone)) * (1.0 + 0.05 * gauss(rng));
                        b.add_burst(0.0, plan.hold + 0.2, amp);
                    }
                    phase = Phase::Lower;
                    brake_ready = t + plan.hold;
                }
            }
            Phase::Lower => {
                let missing = plan.comp == Some(FlagKind::Momentum);
                if th < 0.5 * peak_seen || (thd > -0.1 && t > brake_ready + 0.4) {
                    // Near the bottom the lifter lets the tone go.
                    b.engaged = (b.engaged - b.dt * 2.5).max(0.15);
                }
                if let Some(f) = plan.pump_again {
                    if th < f * peak_seen && thd < 0.0 {
                        // Caught halfway and pumped up again.
                        let catch = -thd * b.inertia() / 0.15;
                        b.add_burst(0.0, 0.15, catch);
                        let rem = plan.target * uni(rng, 0.85, 1.0) - th;
                        let d = lf.burst_d;
                        let amp = b.burst_for(rem, d);
                        b.add_burst(0.12, d, amp);
                        if let Some(c) = cur.as_mut() {
                            c.pump_again = None;
                        }
                        phase = Phase::Rise;
                        pump_ready = t + 10.0;
                        top_braked = false;
                        continue;
                    }
                }
                if t > brake_ready && thd < -lf.v_brake * if plan.hurried { 1.6 } else { 1.0 } {
                    let miss = missing || chance(rng, lf.p_miss + (1.0 - b.strength) * 0.2);
                    if miss {
                        brake_ready = t + if missing { 100.0 } else { 0.2 };
                    } else {
                        let slow = 1.0 + (1.0 - b.strength) * 1.5;
                        let amp = b.static_load(th).max(0.0)
                            * (1.0 - lf.tone)
                            * lf.brake_gain
                            * (1.0 + 0.1 * gauss(rng));
                        let d = lf.brake_d;
                        b.add_burst(0.04 * slow, d, amp);
                        brake_ready = t + d * 0.9 + 0.04 * slow;
                    }
                }
                if !landed && !missing && th < 0.2 * peak_seen && thd < -0.3 {
                    let amp = -thd * b.inertia() / 0.2 * 0.7;
                    b.add_burst(0.0, 0.2, amp);
                    landed = true;
                }
                if th >= 0.15 * peak_seen.max(0.05) {
                    below_since = t;
                }
                if th < 0.15 * peak_seen.max(0.05) && (thd.abs() < 0.25 || t - below_since > 0.4) {
                    phase = Phase::Idle;
                    t_done = t;
                    cur = None;
                    if !plan.abandon && peak_seen < 0.3 * plan.target && pi > 0 {
                        // It never got going: the lifter tries that rep again.
                        pi -= 1;
                        plans[pi].target *= 1.05;
                        plans[pi].comp = None;
                    } else if !plan.abandon {
                        reps_done += 1;
                    }
                }
            }
            Phase::Idle => {}
        }
    }
    // Settle before leaving the set.
    b.quiet(uni(rng, 0.8, 2.0));
    b.engaged = 0.0;
    b.comp_obl = 0.0;
    b.comp_rock = 0.0;
    b.comp_flex = 0.0;
    let t1 = b.t;
    b.quiet(0.5);
    b.in_set = false;
    b.hop = None;
    SetWindow {
        t0: t_start,
        t1,
        neutral_t,
        plans: started,
    }
}

fn rot_angle(a: &UnitQuaternion<f64>, b: &UnitQuaternion<f64>) -> f64 {
    (a.inverse() * b).angle()
}

/// The truth, measured on the simulated motion by DOMAIN.md's rule.
fn measure_truth(
    cfg: &SimConfig,
    fr: &[Frame],
    dt: f64,
    wins: &[SetWindow],
    visible: &[FlagKind],
) -> Vec<TruthSet> {
    let hitch = cfg.exercise == Exercise::HipHitch;
    let idx = |t: f64| fr.partition_point(|f| f.t < t).min(fr.len() - 1);
    let mut out = Vec::new();
    for w in wins {
        let (i0, i1) = (idx(w.t0), idx(w.t1));
        let ni = idx(w.neutral_t);
        let n0 = ni.saturating_sub(((0.2 / dt) as usize).max(1));
        let cnt = (ni - n0 + 1) as f64;
        let th_n = fr[n0..=ni].iter().map(|f| f.theta).sum::<f64>() / cnt;
        let ob_n = fr[n0..=ni].iter().map(|f| f.obl).sum::<f64>() / cnt;
        let fl_n = fr[n0..=ni].iter().map(|f| f.flex).sum::<f64>() / cnt;
        let q_n = fr[ni].q;
        let sig: Vec<f64> = fr[i0..=i1]
            .iter()
            .map(|f| {
                if hitch {
                    -(f.obl - ob_n) / DEG
                } else {
                    (f.theta - th_n) / DEG
                }
            })
            .collect();
        let floor = if hitch { 2.0 } else { 6.0 };
        let segs = |band: f64| -> Vec<(usize, usize, f64)> {
            let mut v = Vec::new();
            let mut k = 0;
            while k < sig.len() {
                if sig[k] > band {
                    let mut s = k;
                    let lo = band * 0.25;
                    while s > 0 && sig[s - 1] > lo && sig[s - 1] <= sig[s] + 1e-9 {
                        s -= 1;
                    }
                    let mut e = k;
                    let mut pk = sig[k];
                    while e + 1 < sig.len() && sig[e] > band {
                        e += 1;
                        pk = pk.max(sig[e]);
                    }
                    let mut e2 = e;
                    while e2 + 1 < sig.len() && sig[e2 + 1] > lo && sig[e2 + 1] < sig[e2] {
                        e2 += 1;
                    }
                    v.push((s, e2, pk));
                    k = e2 + 1;
                } else {
                    k += 1;
                }
            }
            v
        };
        let rough = segs(floor * 0.5);
        let mut peaks: Vec<f64> = rough.iter().map(|s| s.2).collect();
        peaks.sort_by(|a, b| a.total_cmp(b));
        let ref_pk = if peaks.is_empty() {
            floor * 2.0
        } else {
            peaks[peaks.len() / 2]
        };
        let band = (0.2 * ref_pk).max(floor * 0.5);
        let reps: Vec<(usize, usize, f64)> = segs(band)
            .into_iter()
            .filter(|s| s.2 >= (0.45 * ref_pk).max(floor))
            .collect();
        let mut rep_pk: Vec<f64> = reps.iter().map(|s| s.2).collect();
        rep_pk.sort_by(|a, b| a.total_cmp(b));
        let med = if rep_pk.is_empty() {
            0.0
        } else {
            rep_pk[rep_pk.len() / 2]
        };
        let mut trs = Vec::new();
        for (ri, &(s, e, pk)) in reps.iter().enumerate() {
            let (a, z) = (i0 + s, i0 + e);
            let win = &fr[a..=z];
            // A hitch's hike comes as the pelvis is pulled past level, just
            // after the drop: its flags look on until the next rep.
            let z_ext = if hitch {
                let next = reps.get(ri + 1).map(|r| i0 + r.0).unwrap_or(i1);
                (z + (1.5 / dt) as usize).min(next.max(z)).min(fr.len() - 1)
            } else {
                z
            };
            let fwin = &fr[a..=z_ext];
            let peak_deg = match cfg.placement {
                Placement::Ankle => {
                    win.iter()
                        .map(|f| rot_angle(&q_n, &f.q))
                        .fold(0.0, f64::max)
                        / DEG
                }
                Placement::Pelvis => {
                    let mut best = 0.0f64;
                    for f in win {
                        let d = (f.obl - ob_n) / DEG;
                        if d.abs() > best.abs() {
                            best = d;
                        }
                    }
                    best
                }
            };
            let mut flags = Vec::new();
            let hold_n = ((0.15 / dt).ceil() as usize).max(1);
            let run = |pred: &dyn Fn(f64) -> bool| -> bool {
                let mut c = 0;
                for f in fwin {
                    if pred((f.obl - ob_n) / DEG) {
                        c += 1;
                        if c >= hold_n {
                            return true;
                        }
                    } else {
                        c = 0;
                    }
                }
                false
            };
            let obs: Vec<f64> = fwin.iter().map(|f| (f.obl - ob_n) / DEG).collect();
            let omax = obs.iter().cloned().fold(f64::MIN, f64::max);
            let omin = obs.iter().cloned().fold(f64::MAX, f64::min);
            for &kind in visible {
                let v = match kind {
                    FlagKind::HipHike => run(&|x| x >= 5.0).then_some(omax),
                    FlagKind::PelvicDrop => {
                        if hitch {
                            None
                        } else {
                            run(&|x| x <= -5.0).then_some(omin)
                        }
                    }
                    FlagKind::TrunkSway => (omax > 5.0 && omin < -5.0).then_some(omax.min(-omin)),
                    FlagKind::Momentum => {
                        let ip = win
                            .iter()
                            .enumerate()
                            .max_by(|x, y| x.1.theta.total_cmp(&y.1.theta))
                            .map(|x| x.0)
                            .unwrap_or(0);
                        let up = (win[ip].t - win[0].t).max(1e-3);
                        let down = (win[win.len() - 1].t - win[ip].t).max(1e-3);
                        let speed = pk / up.min(down);
                        (speed > 110.0 && !hitch).then_some(round3(pk))
                    }
                    FlagKind::PartialRange => (pk < 0.7 * med).then_some(pk),
                    FlagKind::HipFlexionDrift => {
                        let m = win.iter().map(|f| f.flex - fl_n).fold(f64::MIN, f64::max) / DEG;
                        (m >= 10.0).then_some(m)
                    }
                };
                if let Some(v) = v {
                    flags.push(TruthFlag {
                        kind,
                        value_deg: round3(v),
                    });
                }
            }
            trs.push(TruthRep {
                start_s: round3(fr[a].t),
                end_s: round3(fr[z].t),
                peak_deg: round3(peak_deg),
                flags,
            });
        }
        let _ = &w.plans;
        out.push(TruthSet {
            start_s: trs.first().map(|r| r.start_s).unwrap_or(round3(w.t0)),
            end_s: trs.last().map(|r| r.end_s).unwrap_or(round3(w.t1)),
            rep_count: trs.len(),
            reps: trs,
        });
    }
    out
}

/// A Gauss–Markov process step.
fn gm_step(x: &mut f64, tau: f64, sigma: f64, dt: f64, rng: &mut ChaCha8Rng) {
    let a = (-dt / tau).exp();
    *x = a * *x + sigma * (1.0 - a * a).sqrt() * gauss(rng);
}

/// The sensor: ideal specific force and rate at the internal rate, the
/// device's low-pass, its sample clock, and the error model.
fn synthesize(
    fr: &[Frame],
    dev: &Device,
    cfg: &SimConfig,
    rng: &mut ChaCha8Rng,
    f_int: f64,
) -> Vec<Sample> {
    let n = fr.len();
    let dt = 1.0 / f_int;
    let up = Vector3::new(0.0, G, 0.0);
    // Ideal readings.
    let mut gy = vec![Vector3::zeros(); n];
    let mut ac = vec![Vector3::zeros(); n];
    for i in 0..n {
        let (a, c) = (i.saturating_sub(1), (i + 1).min(n - 1));
        let span = (fr[c].t - fr[a].t).max(1e-9);
        let q = fr[i].q;
        let dq = fr[a].q.inverse() * fr[c].q;
        gy[i] = dq.scaled_axis() / span / DEG;
        let acc = if i > 0 && i + 1 < n {
            (fr[c].p - 2.0 * fr[i].p + fr[a].p) / (dt * dt)
        } else {
            Vector3::zeros()
        };
        ac[i] = q.inverse() * (acc + up + fr[i].jolt);
    }
    // The device's low-pass: two first-order stages at its cutoff.
    let fc = (cfg.rate_hz * dev.lpf_ratio).min(f_int * 0.3);
    let al = 1.0 - (-2.0 * PI * fc * dt).exp();
    let (mut g1, mut g2, mut a1, mut a2) = (gy[0], gy[0], ac[0], ac[0]);
    for i in 0..n {
        g1 += (gy[i] - g1) * al;
        g2 += (g1 - g2) * al;
        a1 += (ac[i] - a1) * al;
        a2 += (a1 - a2) * al;
        gy[i] = g2;
        ac[i] = a2;
    }
    // Sample times on the device's crystal.
    let per = 1.0 / cfg.rate_hz;
    let scale = 1.0 + dev.ppm * 1e-6;
    let dur = fr[n - 1].t;
    let mut gaps = Vec::new();
    let n_gaps = (cfg.gaps_per_min * dur / 60.0).floor() as usize
        + usize::from(rng.gen::<f64>() < (cfg.gaps_per_min * dur / 60.0).fract());
    for _ in 0..n_gaps {
        gaps.push(uni(rng, 0.0, dur));
    }
    let mut gm_g = [[0.0; 3]; 3];
    let mut gm_a = [[0.0; 3]; 3];
    let mut rw_g = Vector3::zeros();
    let mut rw_a = Vector3::zeros();
    let sg = dev.arw * (cfg.rate_hz / 2.0).sqrt();
    let sa = dev.vrw * (cfg.rate_hz / 2.0).sqrt();
    let lsb_g = dev.range_g / 32768.0;
    let lsb_a = dev.range_a / 32768.0;
    let mut out = Vec::new();
    let mut k = 0usize;
    let mut j = 0usize;
    loop {
        let stamp = k as f64 * per;
        let t = stamp * scale;
        if t > dur {
            break;
        }
        k += 1;
        while j + 1 < n && fr[j + 1].t < t {
            j += 1;
        }
        let (f0, f1) = (j, (j + 1).min(n - 1));
        let w = if f1 > f0 {
            ((t - fr[f0].t) / (fr[f1].t - fr[f0].t)).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let g = gy[f0] * (1.0 - w) + gy[f1] * w;
        let a = ac[f0] * (1.0 - w) + ac[f1] * w;
        // Errors: bias processes always run.
        let mut bg = dev.bias_g;
        let mut ba = dev.bias_a;
        for ax in 0..3 {
            for (p, &(tau, s)) in dev.gm_g.iter().enumerate() {
                gm_step(&mut gm_g[p][ax], tau, s, per, rng);
                bg[ax] += gm_g[p][ax];
            }
            for (p, &(tau, s)) in dev.gm_a.iter().enumerate() {
                gm_step(&mut gm_a[p][ax], tau, s, per, rng);
                ba[ax] += gm_a[p][ax];
            }
            rw_g[ax] += dev.rrw_g * per.sqrt() * gauss(rng);
            rw_a[ax] += dev.rrw_a * per.sqrt() * gauss(rng);
        }
        let warm = dev.warm_c * (1.0 - (-t / dev.warm_tau).exp());
        bg += rw_g + dev.temp_g * warm;
        ba += rw_a + dev.temp_a * warm;
        let g_dev = dev.mount.inverse() * g;
        let a_dev = dev.mount.inverse() * a;
        let mut gr = dev.m_g * g_dev + bg + Vector3::new(gauss(rng), gauss(rng), gauss(rng)) * sg;
        let mut ar = dev.m_a * a_dev + ba + Vector3::new(gauss(rng), gauss(rng), gauss(rng)) * sa;
        for ax in 0..3 {
            gr[ax] = ((gr[ax] / lsb_g).round() * lsb_g).clamp(-dev.range_g, dev.range_g - lsb_g);
            ar[ax] = ((ar[ax] / lsb_a).round() * lsb_a).clamp(-dev.range_a, dev.range_a - lsb_a);
        }
        if rng.gen::<f64>() < cfg.drop_rate {
            continue;
        }
        if gaps.iter().any(|&g0| t >= g0 && t < g0 + 0.2) {
            continue;
        }
        let jit = dev.jitter * per * (rng.gen::<f64>() - 0.5) * 0.6;
        let s = Sample {
            t: round_t(stamp + jit),
            acc: ar,
            gyr: gr,
        };
        if s.is_finite() {
            out.push(s);
        }
    }
    out
}

fn round_t(t: f64) -> f64 {
    (t * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::sim::PAIRS;
    use crate::Side;

    fn short(ex: Exercise, pl: Placement, rate: f64, seed: u64) -> SimConfig {
        let mut c = SimConfig::new(ex, pl, Side::Right);
        (c.sets, c.reps_min, c.reps_max) = (1, 3, 3);
        c.rate_hz = rate;
        c.seed = seed;
        c.walking = false;
        c.fidgets = false;
        c.model = crate::source::sim::SimModel::Pendulum;
        c
    }

    #[test]
    fn every_pair_and_rate_gives_finite_increasing_samples_and_a_truth() {
        for (i, &(ex, pl)) in PAIRS.iter().enumerate() {
            for (j, rate) in [25.0, 100.0, 400.0].into_iter().enumerate() {
                let c = short(ex, pl, rate, 3 + i as u64 * 7 + j as u64);
                let (sim, truth) = PendulumSimulator::new(&c).unwrap();
                let s: Vec<Sample> = sim.collect();
                assert!(
                    s.len() as f64 > truth.duration_s * rate * 0.8,
                    "{ex} {pl} {rate}"
                );
                assert!(s.iter().all(|x| x.is_finite()));
                assert!(s.windows(2).all(|w| w[1].t > w[0].t), "{ex} {pl} {rate}");
                assert_eq!(truth.sets.len(), 1);
                assert!(truth.sets[0].rep_count >= 1, "{ex} {pl} {rate}: {truth:?}");
            }
        }
    }

    #[test]
    fn one_g_at_rest() {
        for &(ex, pl) in &PAIRS {
            let mut c = short(ex, pl, 100.0, 11);
            c.lead_in_s = Some(2.0);
            c.noise = 0.0;
            c.gyro_bias_dps = 0.0;
            let (sim, _) = PendulumSimulator::new(&c).unwrap();
            let s: Vec<Sample> = sim
                .take_while(|x| x.t < 1.5)
                .filter(|x| x.t > 0.5)
                .collect();
            let m = s.iter().map(|x| x.acc.norm()).sum::<f64>() / s.len() as f64;
            assert!((m - G).abs() < 0.25, "{ex} {pl}: {m}");
            let w = s.iter().map(|x| x.gyr.norm()).sum::<f64>() / s.len() as f64;
            assert!(w < 3.0, "{ex} {pl}: {w}");
        }
    }

    fn span(d: &str) -> Option<(f64, f64)> {
        let w: Vec<&str> = d.split_whitespace().collect();
        let i = w.iter().position(|x| *x == "s")?;
        let (a, b) = w[i - 1].split_once('-')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    }

    #[test]
    fn truth_sets_do_not_overlap_the_distractions() {
        let mut c = SimConfig::new(
            Exercise::StandingCableAbduction,
            Placement::Pelvis,
            Side::Left,
        );
        (c.sets, c.reps_min, c.reps_max) = (2, 3, 4);
        (c.rest_min_s, c.rest_max_s) = (40.0, 50.0);
        c.rate_hz = 50.0;
        c.model = crate::source::sim::SimModel::Pendulum;
        for seed in 1..4 {
            c.seed = seed;
            let (_, truth) = PendulumSimulator::new(&c).unwrap();
            assert!(truth.distractions.iter().any(|d| span(d).is_some()));
            for d in &truth.distractions {
                if d.contains("during set") {
                    continue;
                }
                let (a, b) = span(d).unwrap();
                for s in &truth.sets {
                    assert!(b <= s.start_s || a >= s.end_s, "{d} vs {s:?}");
                }
            }
        }
    }

    /// A synthetic trace of the working joint (deg) and obliquity (deg),
    /// measured by the truth rule.
    fn measure(
        th: &dyn Fn(f64) -> f64,
        ob: &dyn Fn(f64) -> f64,
        dur: f64,
        vis: &[FlagKind],
    ) -> TruthSet {
        let c = short(
            Exercise::StandingCableAbduction,
            Placement::Pelvis,
            100.0,
            1,
        );
        let dt = 0.005;
        let frames: Vec<Frame> = (0..(dur / dt) as usize)
            .map(|i| {
                let t = i as f64 * dt;
                Frame {
                    t,
                    q: rz(th(t) * DEG),
                    p: Vector3::zeros(),
                    theta: th(t) * DEG,
                    obl: ob(t) * DEG,
                    flex: 0.0,
                    jolt: Vector3::zeros(),
                }
            })
            .collect();
        let w = SetWindow {
            t0: 0.5,
            t1: dur - 0.5,
            neutral_t: 0.6,
            plans: Vec::new(),
        };
        measure_truth(&c, &frames, dt, &[w], vis).remove(0)
    }

    /// A rep of `pk` degrees from `t0` over `d` seconds (up and down).
    fn rep(t: f64, t0: f64, d: f64, pk: f64) -> f64 {
        pk * bump(t, t0, d)
    }

    #[test]
    fn an_abandoned_attempt_is_not_a_rep() {
        let th = |t: f64| {
            rep(t, 1.0, 2.5, 35.0)
                + rep(t, 4.5, 1.2, 6.0)
                + rep(t, 6.5, 2.5, 36.0)
                + rep(t, 10.0, 2.5, 34.0)
        };
        let s = measure(&th, &|_| 0.0, 14.0, &[]);
        assert_eq!(s.rep_count, 3, "{s:?}");
        // And in the physics: a burst sized for a fifth of the range falls back.
        let c = short(Exercise::StandingCableAbduction, Placement::Ankle, 100.0, 5);
        let (sim, truth) = PendulumSimulator::new(&c).unwrap();
        drop(sim);
        assert!(truth.sets[0].reps.iter().all(|r| r.peak_deg > 6.0));
    }

    #[test]
    fn a_raise_caught_on_the_way_down_and_raised_again_is_counted_by_the_rule() {
        // Lowered to 60% of the peak and raised again: no return to neutral, one rep.
        let caught = |t: f64| {
            if t < 1.0 {
                0.0
            } else if t < 2.0 {
                35.0 * smoothstep(t - 1.0)
            } else if t < 2.8 {
                35.0 - 14.0 * smoothstep((t - 2.0) / 0.8)
            } else if t < 3.6 {
                21.0 + 14.0 * smoothstep((t - 2.8) / 0.8)
            } else {
                35.0 * (1.0 - smoothstep((t - 3.6) / 1.2))
            }
        };
        assert_eq!(measure(&caught, &|_| 0.0, 7.0, &[]).rep_count, 1);
        // Lowered to 10% (under the neutral band, a fifth of the set's reps) and raised: two.
        let twice = |t: f64| {
            if t < 1.0 {
                0.0
            } else if t < 2.0 {
                35.0 * smoothstep(t - 1.0)
            } else if t < 3.0 {
                35.0 - 31.5 * smoothstep(t - 2.0)
            } else if t < 4.0 {
                3.5 + 31.5 * smoothstep(t - 3.0)
            } else {
                35.0 * (1.0 - smoothstep((t - 4.0) / 1.2))
            }
        };
        assert_eq!(measure(&twice, &|_| 0.0, 7.0, &[]).rep_count, 2);
    }

    #[test]
    fn measured_flags_follow_the_domain_lines() {
        let th = |t: f64| rep(t, 1.0, 2.5, 35.0) + rep(t, 4.0, 2.5, 35.0) + rep(t, 7.0, 2.5, 35.0);
        let ob = |t: f64| rep(t, 1.0, 2.5, 7.0) + rep(t, 4.0, 2.5, 4.0) - rep(t, 7.0, 2.5, 6.0);
        let vis = [FlagKind::HipHike, FlagKind::PelvicDrop];
        let s = measure(&th, &ob, 11.0, &vis);
        let kinds: Vec<Vec<FlagKind>> = s
            .reps
            .iter()
            .map(|r| r.flags.iter().map(|f| f.kind).collect())
            .collect();
        assert_eq!(
            kinds,
            vec![vec![FlagKind::HipHike], vec![], vec![FlagKind::PelvicDrop]]
        );
    }

    #[test]
    fn compensations_appear_when_asked_and_never_at_rate_zero() {
        let mut c = short(
            Exercise::StandingCableAbduction,
            Placement::Pelvis,
            50.0,
            21,
        );
        (c.reps_min, c.reps_max) = (8, 8);
        c.compensations = vec![FlagKind::HipHike, FlagKind::PelvicDrop];
        c.compensation_rate = 1.0;
        let mut seen = 0;
        for seed in 21..23 {
            c.seed = seed;
            let (_, t) = PendulumSimulator::new(&c).unwrap();
            seen += t
                .sets
                .iter()
                .flat_map(|s| &s.reps)
                .filter(|r| !r.flags.is_empty())
                .count();
        }
        assert!(seen >= 4, "{seen}");
        c.compensation_rate = 0.0;
        c.compensations = FlagKind::ALL.to_vec();
        for (ex, pl) in PAIRS {
            c.exercise = ex;
            c.placement = pl;
            let (_, t) = PendulumSimulator::new(&c).unwrap();
            assert!(t
                .sets
                .iter()
                .flat_map(|s| &s.reps)
                .all(|r| r.flags.is_empty()));
        }
    }
}
