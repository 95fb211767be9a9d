//! The planner body model: movement made the way an industrial robot
//! controller makes it, timed by a human timing model, with a pelvis and
//! trunk as a lumped mass–spring–damper network, the session as a
//! discrete-event simulation of a busy gym, and a sensor read through a
//! phone-class OS sensor stack. See the module doc in `source/mod.rs`.

use super::sim::{SimConfig, Truth, TruthFlag, TruthRep, TruthSet};
use super::{gauss, round3, rx, ry, rz};
use crate::motion::FlagKind;
use crate::sample::STANDARD_GRAVITY;
use crate::{Exercise, Placement, Sample, Side};
use nalgebra::{Matrix3, UnitQuaternion, Vector3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::f64::consts::PI;

type Q = UnitQuaternion<f64>;
type V3 = Vector3<f64>;
const D2R: f64 = PI / 180.0;
const R2D: f64 = 180.0 / PI;

// ---------------------------------------------------------------------------
// Online trajectory generation (jerk-limited, re-planned every cycle)
// ---------------------------------------------------------------------------

/// Velocity, acceleration and jerk limits of one planned coordinate (°/s, °/s², °/s³).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Limits {
    v: f64,
    a: f64,
    j: f64,
}

impl Limits {
    fn new(v: f64, a: f64, j: f64) -> Self {
        Limits { v, a, j }
    }
    fn times(self, kv: f64, ka: f64, kj: f64) -> Self {
        Limits::new(self.v * kv, self.a * ka, self.j * kj)
    }
    /// Rough duration of a rest-to-rest move of `d` (seven segments or fewer).
    fn duration(self, d: f64) -> f64 {
        let d = d.abs();
        let full = self.v * self.v / self.a + self.v * self.a / self.j;
        if d >= full {
            d / self.v + self.v / self.a + self.a / self.j
        } else {
            2.0 * (d / self.a).sqrt() + self.a / self.j
        }
    }
}

/// The planner's state for one coordinate: position, velocity, acceleration.
///
/// Every control cycle it re-plans from its current state toward the
/// current target: the time-optimal jerk-limited brake curve gives the
/// velocity it may have at this distance, a jerk-limited velocity loop the
/// acceleration it wants, and the jerk that gets there is clamped. Moves
/// come out as seven-segment S-curves with velocity plateaus; a target that
/// changes mid-motion is re-planned from wherever the coordinate is, with
/// its velocity and acceleration, so it overshoots, stalls and turns.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Otg {
    p: f64,
    v: f64,
    a: f64,
}

impl Otg {
    fn at(p: f64) -> Self {
        Otg { p, v: 0.0, a: 0.0 }
    }

    fn step(&mut self, target: f64, l: Limits, dt: f64) {
        // Where the coordinate will be once its acceleration is ramped to zero.
        let ta = self.a.abs() / l.j;
        let dp = self.v * ta + self.a * ta * ta / 3.0;
        let v1 = self.v + self.a * ta / 2.0;
        let e = target - self.p - dp;
        let h = l.a / (2.0 * l.j);
        let v_brake = l.a * (-h + (h * h + 2.0 * e.abs() / l.a).sqrt());
        let v_des = e.signum() * l.v.min(v_brake);
        let dv = v_des - v1;
        let a_des = dv.signum() * l.a.min((2.0 * l.j * dv.abs()).sqrt());
        let jerk = ((a_des - self.a) / dt).clamp(-l.j, l.j);
        self.a = (self.a + jerk * dt).clamp(-l.a, l.a);
        self.v = (self.v + self.a * dt).clamp(-1.2 * l.v, 1.2 * l.v);
        self.p += self.v * dt;
        if (target - self.p).abs() < 2e-3 && self.v.abs() < 0.05 && self.a.abs() < 2.0 {
            *self = Otg::at(target);
        }
    }

    fn reached(&self, target: f64) -> bool {
        (self.p - target).abs() < 0.3 && self.v.abs() < 2.0
    }
}

/// A via point of a programmed move: where, how fast, how long to stay,
/// and a fly-by zone (0: stop there; otherwise the planner turns toward the
/// next point once inside it, a parabolic blend).
#[derive(Debug, Clone, Copy)]
struct Waypoint {
    target: f64,
    lim: Limits,
    hold: f64,
    blend: f64,
}

/// A PD servo with feedforward following the plan against a disturbance (°, °/s).
#[derive(Debug, Clone, Copy, Default)]
struct Joint {
    q: f64,
    w: f64,
    acc: f64,
}

impl Joint {
    fn step(&mut self, plan: &Otg, wn: f64, zeta: f64, ff: f64, dist: f64, dt: f64) {
        self.acc =
            wn * wn * (plan.p - self.q) + 2.0 * zeta * wn * (plan.v - self.w) + ff * plan.a + dist;
        self.w += self.acc * dt;
        self.q += self.w * dt;
    }
}

/// A second-order element of the body network.
#[derive(Debug, Clone, Copy, Default)]
struct Osc {
    x: f64,
    v: f64,
    acc: f64,
}

impl Osc {
    fn step(&mut self, sp: f64, w: f64, z: f64, force: f64, dt: f64) {
        self.acc = w * w * (sp - self.x) - 2.0 * z * w * self.v + force;
        self.v += self.acc * dt;
        self.x += self.v * dt;
    }
}

// ---------------------------------------------------------------------------
// Lifters
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Lifter {
    leg_frac: f64,
    l_thigh: f64,
    l_shank: f64,
    hip_w: f64,
    h_col: f64,
    top: f64,
    up: Limits,
    down: Limits,
    wn: f64,
    zeta: f64,
    ff: f64,
    comp: f64,
    load: f64,
    c_obl: f64,
    grip: f64,
    c_yaw: f64,
    c_flex: f64,
    c_rot: f64,
    c_tilt: f64,
    k_dyn: f64,
    net_w: [f64; 6],
    net_z: [f64; 6],
    pid: (f64, f64, f64),
    delay: usize,
    sway: f64,
    obl_sway: f64,
    tremor: f64,
    tremor_hz: f64,
    hold: f64,
    slow_ecc: f64,
    bottom: f64,
    pause_p: f64,
    metronome: bool,
    alpha: f64,
    clock_sd: f64,
    motor_mean: f64,
    motor_sd: f64,
    drift_sd: f64,
    fatigue: f64,
    wob_p: (f64, f64),
    wob_s: (f64, f64),
    sta_rot: f64,
    sta_con: f64,
    sta_disp: f64,
}

fn uni(rng: &mut ChaCha8Rng, a: f64, b: f64) -> f64 {
    a + (b - a) * rng.gen::<f64>()
}

impl Lifter {
    fn draw(rng: &mut ChaCha8Rng, ex: Exercise) -> Self {
        let female = rng.gen_bool(0.5);
        let age = if rng.gen_bool(0.15) {
            uni(rng, 14.0, 19.0)
        } else if rng.gen_bool(0.2) {
            uni(rng, 60.0, 82.0)
        } else {
            uni(rng, 19.0, 60.0)
        };
        let skill: f64 = rng.gen();
        let height = if female {
            1.63 + 0.065 * gauss(rng).clamp(-2.5, 2.5)
        } else {
            1.76 + 0.07 * gauss(rng).clamp(-2.5, 2.5)
        };
        let bmi = uni(rng, 19.0, 33.0);
        let mass = bmi * height * height;
        // de Leva (1996): thigh, shank, foot mass fractions.
        let leg_frac = if female {
            0.1478 + 0.0481 + 0.0129
        } else {
            0.1416 + 0.0433 + 0.0137
        };
        // Winter: thigh 0.245 H, shank 0.246 H.
        let (l_thigh, l_shank) = (0.245 * height, 0.246 * height);
        let old = ((age - 55.0) / 25.0).clamp(0.0, 1.0);
        let young = ((19.0 - age) / 5.0).clamp(0.0, 1.0);
        let top = match ex {
            Exercise::SideLyingAbduction => uni(rng, 28.0, 48.0),
            Exercise::SeatedMachineAbduction => uni(rng, 20.0, 38.0),
            Exercise::HipHitch => uni(rng, 5.0, 11.0),
            _ => uni(rng, 25.0, 45.0),
        } * (1.0 - 0.2 * old);
        // Limits scale with the range: a rep's raise speed in ranges per second.
        let speed = uni(rng, 0.8, 1.7) * (1.0 + 0.15 * young) * (1.0 - 0.25 * old);
        let up = Limits::new(
            top * speed,
            top * speed * uni(rng, 3.0, 8.0),
            top * speed * uni(rng, 25.0, 90.0),
        );
        let dslow = uni(rng, 0.35, 0.8);
        let down = Limits::new(
            up.v * dslow,
            up.a * uni(rng, 0.5, 1.0),
            up.j * uni(rng, 0.4, 1.0),
        );
        let wn = uni(rng, 9.0, 22.0) * (0.8 + 0.3 * skill);
        let zeta = uni(rng, 0.35, 1.0);
        let load = match ex {
            Exercise::StandingCableAbduction => {
                uni(rng, 2.5, 14.0) * 9.81 * 0.85 + mass * leg_frac * 9.81 * 0.4 * 0.5
            }
            Exercise::SideLyingAbduction => (mass * leg_frac + uni(rng, 0.0, 3.0)) * 9.81 * 0.42,
            Exercise::SeatedMachineAbduction => uni(rng, 15.0, 60.0) * 9.81 * 0.35,
            _ => mass * 9.81 * 0.1,
        } / (mass * leg_frac * 0.25)
            * R2D;
        Lifter {
            leg_frac,
            l_thigh,
            l_shank,
            hip_w: 0.08 + 0.02 * f64::from(u8::from(female)) + 0.01 * gauss(rng).clamp(-1.0, 1.0),
            h_col: 0.53 * height,
            top,
            up,
            down,
            wn,
            zeta,
            ff: uni(rng, 0.6, 1.0),
            comp: uni(rng, 0.88, 0.99),
            load,
            c_obl: if rng.gen_bool(0.75) {
                uni(rng, 0.005, 0.06)
            } else {
                -uni(rng, 0.0, 0.03)
            },
            grip: uni(rng, 0.0, 1.0),
            c_yaw: uni(rng, -0.06, 0.06),
            c_flex: uni(rng, -0.04, 0.1),
            c_rot: uni(rng, -0.1, 0.1),
            c_tilt: uni(rng, 0.05, 0.2),
            k_dyn: uni(rng, 0.01, 0.04),
            net_w: [
                2.0 * PI * uni(rng, 0.8, 1.5),
                2.0 * PI * uni(rng, 2.0, 4.0),
                2.0 * PI * uni(rng, 1.0, 2.0),
                2.0 * PI * uni(rng, 1.5, 3.0),
                2.0 * PI * uni(rng, 1.0, 2.0),
                2.0 * PI * uni(rng, 4.0, 7.0),
            ],
            net_z: [
                uni(rng, 0.4, 0.8),
                uni(rng, 0.5, 0.9),
                uni(rng, 0.4, 0.8),
                uni(rng, 0.5, 0.9),
                uni(rng, 0.5, 0.9),
                uni(rng, 0.25, 0.4),
            ],
            pid: (uni(rng, 0.1, 0.4), uni(rng, 0.05, 0.4), uni(rng, 0.05, 0.3)),
            delay: 0,
            sway: uni(rng, 0.2, 0.7) * (1.0 + old),
            obl_sway: uni(rng, 0.1, 0.35),
            tremor: uni(rng, 0.05, 0.3) * (1.0 + old),
            tremor_hz: uni(rng, 7.0, 11.0),
            hold: if rng.gen_bool(0.4) {
                uni(rng, 0.3, 1.0)
            } else {
                uni(rng, 0.0, 0.3)
            },
            slow_ecc: if rng.gen_bool(0.3) {
                uni(rng, 0.3, 0.8)
            } else {
                0.0
            },
            bottom: uni(rng, 0.1, 1.0),
            pause_p: if rng.gen_bool(0.5) {
                uni(rng, 0.05, 0.25)
            } else {
                0.0
            },
            metronome: rng.gen_bool(0.4),
            alpha: uni(rng, 0.15, 0.7),
            clock_sd: uni(rng, 0.02, 0.07),
            motor_mean: uni(rng, 0.08, 0.2),
            motor_sd: uni(rng, 0.03, 0.08),
            drift_sd: uni(rng, 0.005, 0.03),
            fatigue: uni(rng, 0.0, 0.35) * (1.0 - 0.5 * skill),
            wob_p: (2.0 * PI * uni(rng, 8.0, 15.0), uni(rng, 0.15, 0.35)),
            wob_s: (2.0 * PI * uni(rng, 10.0, 20.0), uni(rng, 0.1, 0.3)),
            sta_rot: uni(rng, 0.02, 0.08),
            sta_con: uni(rng, 0.5, 2.0),
            sta_disp: uni(rng, 0.005, 0.02),
        }
    }
}

// ---------------------------------------------------------------------------
// Reps and sets
// ---------------------------------------------------------------------------

/// What the lifter decides part way through a rep (re-planned online).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Script {
    Plain,
    /// Goes higher: the top is raised once past `at` of the way.
    Higher {
        at: f64,
        top: f64,
    },
    /// Stops short: the top is re-planned lower once past `at` of the way.
    Short {
        at: f64,
        top: f64,
    },
    /// Freezes part way, holds, then completes.
    Freeze {
        at: f64,
        hold: f64,
    },
    /// Abandons the attempt once past `at_deg` (then tries again).
    Abandon {
        at_deg: f64,
    },
    /// Stops short, sinks part way and raises again before lowering.
    Pump {
        at: f64,
        low: f64,
    },
    /// Turns round on the way down and goes straight into the next rep.
    TouchAndGo {
        at: f64,
    },
}

#[derive(Debug, Clone)]
struct RepSpec {
    top: f64,
    up: Limits,
    down: Limits,
    hold: f64,
    slow_ecc: f64,
    script: Script,
    comp: Option<(FlagKind, f64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Posture {
    Stand,
    Lie,
    Sit,
    OtherSide,
}

#[derive(Debug, Clone)]
enum Block {
    Still {
        dur: f64,
    },
    Walk {
        dur: f64,
    },
    Turn {
        dur: f64,
        by: f64,
    },
    Posture {
        dur: f64,
        to: Posture,
    },
    Bend {
        dur: f64,
        depth: f64,
        what: &'static str,
    },
    Restrap {
        dur: f64,
    },
    Swing {
        dur: f64,
    },
    Shift {
        dur: f64,
        by: f64,
    },
    OtherSet {
        reps: usize,
    },
    Set {
        idx: usize,
        pre: f64,
        hurried: bool,
    },
}

impl Block {
    fn label(&self) -> Option<String> {
        Some(match self {
            Block::Still { .. } | Block::Set { .. } => return None,
            Block::Walk { .. } => "walk".into(),
            Block::Turn { .. } => "turn".into(),
            Block::Posture { to, .. } => match to {
                Posture::Stand => "stand up".into(),
                Posture::Lie => "lie down".into(),
                Posture::Sit => "sit down".into(),
                Posture::OtherSide => "roll onto the other side".into(),
            },
            Block::Bend { what, .. } => (*what).into(),
            Block::Restrap { .. } => "re-strap".into(),
            Block::Swing { .. } => "single swing".into(),
            Block::Shift { .. } => "weight shift".into(),
            Block::OtherSet { .. } => "other leg's set".into(),
        })
    }
}

/// A set in progress: the rep programs, the timing model and the record.
#[derive(Debug, Clone)]
struct SetRun {
    reps: VecDeque<RepSpec>,
    prog: VecDeque<Waypoint>,
    hold_left: f64,
    cur: Option<RepSpec>,
    rep_t0: f64,
    replanned: bool,
    next_onset: f64,
    clock: f64,
    metro: f64,
    period: f64,
    drift: f64,
    done_at: f64,
    k: usize,
    n: usize,
    hurried: bool,
    first_onset: f64,
    rec: Vec<Rec>,
}

/// What the truth is measured on, every internal step of a set.
#[derive(Debug, Clone, Copy)]
struct Rec {
    t: f64,
    shank: Q,
    obl: f64,
    flex: f64,
}

// ---------------------------------------------------------------------------
// The gym as a discrete-event simulation
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    LifterFree,
    MemberArrives,
    MemberLeaves,
}

/// Plans a rest of about `window` s after a set: the lifter's activities
/// while other members come and go at the station.
fn plan_rest(
    rng: &mut ChaCha8Rng,
    cfg: &SimConfig,
    window: f64,
    home: Posture,
    busy: f64,
    other_side_done: &mut bool,
) -> (Vec<Block>, bool) {
    let mut heap: BinaryHeap<Reverse<(u64, u32, Ev)>> = BinaryHeap::new();
    let ms = |t: f64| (t.max(0.0) * 1000.0) as u64;
    let mut seq = 0u32;
    let mut push = |heap: &mut BinaryHeap<Reverse<(u64, u32, Ev)>>, t: f64, e: Ev| {
        seq += 1;
        heap.push(Reverse((ms(t), seq, e)));
    };
    push(&mut heap, 0.0, Ev::LifterFree);
    push(
        &mut heap,
        -(1.0 - rng.gen::<f64>()).ln() * 60.0 / busy,
        Ev::MemberArrives,
    );
    let mut blocks = Vec::new();
    let mut station_free_at = 0.0f64;
    let mut away = false;
    let mut chat_pending = false;
    let mut posture = home;
    let mut hurried = false;
    let mut first = true;
    let back_cost = if home == Posture::Stand { 0.0 } else { 3.0 };
    let can_walk = cfg.walking;
    let fid = cfg.fidgets;
    let other_ok = fid
        && matches!(
            cfg.exercise,
            Exercise::StandingCableAbduction | Exercise::SideLyingAbduction
        );
    while let Some(Reverse((tm, _, ev))) = heap.pop() {
        let t = tm as f64 / 1000.0;
        match ev {
            Ev::MemberArrives => {
                if away && station_free_at <= t && rng.gen_bool(0.6) {
                    station_free_at = t + uni(rng, 15.0, 70.0);
                    push(&mut heap, station_free_at, Ev::MemberLeaves);
                } else if rng.gen_bool(0.3) {
                    chat_pending = true;
                }
                let next = t - (1.0 - rng.gen::<f64>()).ln() * 60.0 / busy;
                if next < window {
                    push(&mut heap, next, Ev::MemberArrives);
                }
            }
            Ev::MemberLeaves => {}
            Ev::LifterFree => {
                let left = window - t - if posture != home { back_cost } else { 0.0 };
                if left < 2.0 {
                    if posture != home {
                        blocks.push(Block::Posture { dur: 3.0, to: home });
                    }
                    // Waiting for the station if someone is on it.
                    if station_free_at > t + 1.0 {
                        let wait = (station_free_at - t).min(cfg.rest_max_s * 0.5);
                        blocks.push(Block::Still { dur: wait });
                        hurried = wait > 8.0;
                    } else if left > 0.0 {
                        blocks.push(Block::Still { dur: left.max(0.2) });
                    }
                    break;
                }
                let mut pick: Vec<(f64, u8)> = vec![(2.0, 0), (1.5, 1)];
                if chat_pending {
                    pick.push((4.0, 2));
                }
                if can_walk && left > 28.0 {
                    pick.push((1.5, 3));
                }
                if can_walk && left > 10.0 && home == Posture::Stand {
                    pick.push((0.6, 4));
                }
                if fid {
                    pick.push((0.5, 5));
                    pick.push((0.4, 6));
                    pick.push((0.8, 7));
                    if first {
                        pick.push((3.0, 8));
                    }
                }
                if other_ok && !*other_side_done && left > 25.0 {
                    pick.push((2.5, 9));
                }
                if first && home != Posture::Stand && can_walk && left > 30.0 {
                    pick.push((1.0, 10));
                }
                let total: f64 = pick.iter().map(|p| p.0).sum();
                let mut u = rng.gen::<f64>() * total;
                let mut choice = 0;
                for (w, c) in &pick {
                    if u < *w {
                        choice = *c;
                        break;
                    }
                    u -= w;
                }
                first = false;
                let mut dur = 0.0;
                away = false;
                match choice {
                    0 => {
                        dur = uni(rng, 3.0, 15.0).min(left);
                        blocks.push(Block::Still { dur });
                    }
                    1 => {
                        // Checking the phone.
                        dur = uni(rng, 5.0, 25.0).min(left);
                        blocks.push(Block::Still { dur });
                    }
                    2 => {
                        chat_pending = false;
                        dur = uni(rng, 8.0, 35.0).min(left);
                        blocks.push(Block::Still { dur: dur * 0.5 });
                        if fid {
                            blocks.push(Block::Shift {
                                dur: 1.5,
                                by: uni(rng, -4.0, 4.0),
                            });
                        } else {
                            blocks.push(Block::Still { dur: 1.5 });
                        }
                        blocks.push(Block::Still {
                            dur: (dur * 0.5 - 1.5).max(0.2),
                        });
                    }
                    3 => {
                        // The water fountain and back.
                        if posture != Posture::Stand {
                            blocks.push(Block::Posture {
                                dur: 3.0,
                                to: Posture::Stand,
                            });
                            posture = Posture::Stand;
                            dur += 3.0;
                        }
                        let w = uni(rng, 4.0, 9.0).min((left - dur - 10.0) / 2.0).max(2.0);
                        blocks.push(Block::Turn {
                            dur: 1.5,
                            by: 180.0,
                        });
                        blocks.push(Block::Walk { dur: w });
                        blocks.push(Block::Still {
                            dur: uni(rng, 3.0, 6.0),
                        });
                        blocks.push(Block::Turn {
                            dur: 1.5,
                            by: 180.0,
                        });
                        blocks.push(Block::Walk { dur: w });
                        dur += 2.0 * w + 3.0 + 4.5;
                        away = true;
                    }
                    4 => {
                        dur = uni(rng, 3.0, 6.0).min(left - 3.0);
                        blocks.push(Block::Walk { dur: dur / 2.0 });
                        blocks.push(Block::Turn {
                            dur: 1.5,
                            by: 180.0,
                        });
                        blocks.push(Block::Walk { dur: dur / 2.0 });
                        blocks.push(Block::Turn {
                            dur: 1.5,
                            by: 180.0,
                        });
                        dur += 3.0;
                        away = true;
                    }
                    5 => {
                        dur = uni(rng, 4.0, 9.0).min(left);
                        blocks.push(Block::Restrap { dur });
                    }
                    6 => {
                        dur = 1.2;
                        blocks.push(Block::Swing { dur });
                    }
                    7 => {
                        dur = uni(rng, 1.5, 4.0);
                        blocks.push(Block::Shift {
                            dur,
                            by: uni(rng, -4.0, 4.0),
                        });
                    }
                    8 => {
                        let what = *["re-rack", "change the load", "change the attachment"]
                            .get(rng.gen_range(0..3))
                            .unwrap_or(&"re-rack");
                        dur = uni(rng, 3.0, 8.0).min(left);
                        blocks.push(Block::Bend {
                            dur,
                            depth: uni(rng, 20.0, 60.0),
                            what,
                        });
                    }
                    9 => {
                        *other_side_done = true;
                        let reps = rng.gen_range(cfg.reps_min..=cfg.reps_max).min(12);
                        if cfg.exercise == Exercise::SideLyingAbduction {
                            blocks.push(Block::Posture {
                                dur: 3.0,
                                to: Posture::OtherSide,
                            });
                            posture = Posture::OtherSide;
                            dur += 3.0;
                        }
                        blocks.push(Block::OtherSet { reps });
                        blocks.push(Block::Still { dur: 1.0 });
                        dur += reps as f64 * 3.0 + 1.0;
                    }
                    _ => {
                        blocks.push(Block::Posture {
                            dur: 3.0,
                            to: Posture::Stand,
                        });
                        posture = Posture::Stand;
                        dur = 3.0;
                    }
                }
                push(&mut heap, t + dur.max(0.2), Ev::LifterFree);
            }
        }
    }
    (blocks, hurried)
}

// ---------------------------------------------------------------------------
// The body
// ---------------------------------------------------------------------------

/// Everything that moves, deterministic from its own stream.
#[derive(Debug, Clone)]
struct Body {
    ex: Exercise,
    side: Side,
    free: f64,
    lf: Lifter,
    dt: f64,
    t: f64,
    rng: ChaCha8Rng,
    // plans and joints, °
    pq: Otg,
    pf: Otg,
    pr: Otg,
    pk: Otg,
    jq: Joint,
    jf: Joint,
    jr: Joint,
    jk: Joint,
    p2: Otg,
    /// Planned trunk bend (pelvic tilt) and weight shift outside the reps.
    pth: Otg,
    pbe: Otg,
    chi: Otg,
    yaw: Otg,
    walk: V3,
    walking: bool,
    gait: f64,
    // network (° and m)
    beta: Osc,
    phi: Osc,
    lam: Osc,
    psi: Osc,
    theta: Osc,
    ycol: Osc,
    imp_s: Osc,
    imp_p: Osc,
    pid_buf: VecDeque<(f64, f64)>,
    pid_int: (f64, f64),
    pid_prev: (f64, f64),
    sway: [f64; 3],
    breath: f64,
    noise: f64,
    // the agenda
    blocks: VecDeque<Block>,
    block: Option<(Block, f64)>,
    set: Option<SetRun>,
    sets_left: Vec<(usize, Vec<RepSpec>)>,
    posture: Posture,
    done: bool,
    // other-leg set
    other: Option<(usize, VecDeque<Waypoint>, f64)>,
    // results (truth pass)
    finished_sets: Vec<(usize, Vec<Rec>, f64)>,
    distractions: Vec<(String, f64, f64)>,
    comp_now: Option<(FlagKind, f64, f64, f64)>,
    effort: f64,
    hip_ofs: f64,
    /// Fatigue of the current rep (0 fresh): weaker compensation of the load, softer servo.
    tired: f64,
}

fn home_posture(ex: Exercise) -> Posture {
    match ex {
        Exercise::SideLyingAbduction => Posture::Lie,
        Exercise::SeatedMachineAbduction => Posture::Sit,
        _ => Posture::Stand,
    }
}

impl Body {
    fn posture_pose(&self, p: Posture) -> (f64, f64, f64) {
        let s = self.side.sign();
        match p {
            Posture::Stand => (0.0, 0.0, 3.0),
            Posture::Lie => (s * 90.0, 8.0, 6.0),
            Posture::OtherSide => (-s * 90.0, 25.0, 30.0),
            Posture::Sit => (0.0, 90.0, 90.0),
        }
    }

    fn draw_reps(
        &mut self,
        cfg: &SimConfig,
        n: usize,
        set_idx: usize,
        vis: &[FlagKind],
    ) -> Vec<RepSpec> {
        let lf = self.lf.clone();
        let rng = &mut self.rng;
        let mut out = Vec::new();
        let set_fatigue = set_idx as f64 * 0.04;
        let hitch = self.ex == Exercise::HipHitch;
        let mut intended = 0;
        while intended < n {
            let f = set_fatigue + lf.fatigue * intended as f64 / n.max(1) as f64;
            let top = lf.top * (1.0 - 0.12 * f) * (1.0 + 0.06 * gauss(rng).clamp(-2.0, 2.0));
            let mut up = lf.up.times(1.0 - 0.3 * f, 1.0 - 0.2 * f, 1.0);
            let mut down = lf
                .down
                .times(1.0 + 0.1 * gauss(rng).clamp(-2.0, 2.0), 1.0, 1.0);
            up.v *= 1.0 + 0.08 * gauss(rng).clamp(-2.0, 2.0);
            let mut comp = None;
            let mut script = Script::Plain;
            if cfg.compensation_rate > 0.0 && !vis.is_empty() && rng.gen_bool(cfg.compensation_rate)
            {
                let kind = vis[rng.gen_range(0..vis.len())];
                let mag = match kind {
                    FlagKind::HipHike => uni(rng, 4.5, 11.0),
                    FlagKind::PelvicDrop => uni(rng, 4.5, 10.0),
                    FlagKind::TrunkSway => uni(rng, 5.5, 10.0),
                    FlagKind::Momentum => uni(rng, 5.5, 8.0),
                    FlagKind::PartialRange => uni(rng, 0.35, 0.55),
                    FlagKind::HipFlexionDrift => uni(rng, 11.0, 25.0),
                };
                match kind {
                    FlagKind::Momentum => {
                        up = Limits::new(
                            top * mag,
                            top * mag * uni(rng, 10.0, 16.0),
                            top * mag * 200.0,
                        );
                        down = down.times(uni(rng, 1.5, 2.5), 2.0, 2.0);
                    }
                    FlagKind::PartialRange => {
                        script = Script::Short {
                            at: uni(rng, 0.25, mag * 0.9),
                            top: top * mag,
                        };
                    }
                    _ => {}
                }
                comp = Some((kind, mag));
            } else {
                let u: f64 = rng.gen();
                script = if u < 0.04 && intended > 0 {
                    Script::Abandon {
                        at_deg: if hitch {
                            uni(rng, 1.0, 2.0)
                        } else {
                            uni(rng, 2.0, 5.0)
                        },
                    }
                } else if u < 0.08 {
                    Script::Freeze {
                        at: uni(rng, 0.3, 0.7),
                        hold: uni(rng, 0.3, 1.2),
                    }
                } else if u < 0.14 {
                    Script::Higher {
                        at: uni(rng, 0.4, 0.8),
                        top: top * uni(rng, 1.08, 1.2),
                    }
                } else if u < 0.17 {
                    Script::Pump {
                        at: uni(rng, 0.45, 0.7),
                        low: uni(rng, 0.45, 0.65),
                    }
                } else if u < 0.19 && intended + 1 < n {
                    Script::TouchAndGo {
                        at: uni(rng, 0.45, 0.7),
                    }
                } else {
                    Script::Plain
                };
            }
            if !matches!(script, Script::Abandon { .. }) {
                intended += 1;
            }
            out.push(RepSpec {
                top,
                up,
                down,
                hold: (lf.hold * (1.0 + 0.3 * gauss(rng))).max(0.0),
                slow_ecc: lf.slow_ecc,
                script,
                comp,
            });
        }
        out
    }

    /// Starts the next block of the agenda at `self.t`.
    fn next_block(&mut self) {
        let Some(b) = self.blocks.pop_front() else {
            self.done = true;
            self.block = None;
            return;
        };
        match &b {
            Block::Set { idx, hurried, .. } => {
                let reps = self
                    .sets_left
                    .iter()
                    .position(|(i, _)| i == idx)
                    .map(|p| self.sets_left.remove(p).1)
                    .unwrap_or_default();
                let n = reps.len();
                let lf = &self.lf;
                let r0 = &reps[0];
                let period = (r0.up.duration(r0.top)
                    + r0.hold
                    + r0.down.duration(r0.top) * (1.0 + 0.5 * r0.slow_ecc)
                    + lf.bottom
                    + lf.motor_mean)
                    * if *hurried { 0.85 } else { 1.0 };
                self.set = Some(SetRun {
                    reps: reps.into(),
                    prog: VecDeque::new(),
                    hold_left: 0.0,
                    cur: None,
                    rep_t0: 0.0,
                    replanned: false,
                    next_onset: f64::INFINITY,
                    clock: 0.0,
                    metro: 0.0,
                    period,
                    drift: 0.0,
                    done_at: f64::NEG_INFINITY,
                    k: 0,
                    n,
                    hurried: *hurried,
                    first_onset: f64::INFINITY,
                    rec: Vec::new(),
                });
            }
            Block::OtherSet { reps } => {
                let top = self.lf.top * uni(&mut self.rng, 0.8, 1.1);
                let mut prog = VecDeque::new();
                for _ in 0..*reps {
                    prog.push_back(Waypoint {
                        target: top,
                        lim: self.lf.up,
                        hold: self.lf.hold,
                        blend: 0.0,
                    });
                    prog.push_back(Waypoint {
                        target: 0.0,
                        lim: self.lf.down,
                        hold: self.lf.bottom,
                        blend: 0.0,
                    });
                }
                self.other = Some((0, prog, 0.0));
            }
            Block::Posture { to, .. } => self.posture = *to,
            _ => {}
        }
        self.block = Some((b, self.t));
    }

    fn wp_step(
        prog: &mut VecDeque<Waypoint>,
        plan: &mut Otg,
        hold_left: &mut f64,
        dt: f64,
    ) -> bool {
        let Some(wp) = prog.front().copied() else {
            return true;
        };
        plan.step(wp.target, wp.lim, dt);
        if wp.blend > 0.0 && (plan.p - wp.target).abs() < wp.blend {
            prog.pop_front();
        } else if plan.reached(wp.target) {
            *hold_left += dt;
            if *hold_left >= wp.hold {
                *hold_left = 0.0;
                prog.pop_front();
            }
        }
        prog.is_empty()
    }

    fn rep_program(&self, r: &RepSpec) -> VecDeque<Waypoint> {
        let mut prog = VecDeque::new();
        let tentative = matches!(r.script, Script::Abandon { .. });
        prog.push_back(Waypoint {
            target: r.top,
            lim: if tentative {
                r.up.times(0.35, 0.25, 0.2)
            } else {
                r.up
            },
            hold: r.hold,
            blend: 0.0,
        });
        if r.slow_ecc > 0.0 {
            prog.push_back(Waypoint {
                target: r.top * 0.55,
                lim: r.down.times(1.0 - r.slow_ecc * 0.7, 1.0, 1.0),
                hold: 0.0,
                blend: r.top * 0.08,
            });
        }
        if let Some((FlagKind::HipHike, mag)) = r.comp {
            if self.ex == Exercise::HipHitch {
                // In a hip hitch the hike is pulling past level.
                prog.push_back(Waypoint {
                    target: -mag,
                    lim: r.down,
                    hold: 0.3,
                    blend: 0.0,
                });
            }
        }
        prog.push_back(Waypoint {
            target: 0.0,
            lim: r.down,
            hold: 0.0,
            blend: 0.0,
        });
        prog
    }

    /// One internal step of the set: timing, re-planning, servo targets.
    fn set_step(&mut self, pre: f64, t_block: f64) -> bool {
        let dt = self.dt;
        let t = self.t;
        let lf = self.lf.clone();
        let mut set = self.set.take().expect("set");
        if set.first_onset.is_infinite() {
            set.first_onset = t_block + pre;
            set.next_onset = set.first_onset;
            set.clock = set.first_onset;
            set.metro = set.first_onset;
        }
        // Start a rep when the clock says so and the last one is done.
        if set.cur.is_none() && !set.reps.is_empty() && t >= set.next_onset {
            let r = set.reps.pop_front().expect("rep");
            set.prog = self.rep_program(&r);
            set.rep_t0 = t;
            set.replanned = false;
            set.hold_left = 0.0;
            set.k += 1;
            // Wing–Kristofferson: the next onset is a clock interval plus a
            // motor delay; metronome lifters correct a share of their asynchrony.
            let fat = lf.fatigue * set.k as f64 / set.n.max(1) as f64;
            self.tired = fat;
            set.drift = 0.9 * set.drift + lf.drift_sd * gauss(&mut self.rng);
            let period = set.period * (1.0 + set.drift) * (1.0 + 0.2 * fat);
            let mut c = period * (1.0 + lf.clock_sd * gauss(&mut self.rng));
            if lf.metronome {
                let asyn = t - set.metro;
                c -= lf.alpha * asyn;
                set.metro += set.period;
            } else {
                set.clock = t;
            }
            if !set.hurried && self.rng.gen_bool(lf.pause_p) {
                let extra = uni(&mut self.rng, 1.0, 4.0);
                c += extra;
                if lf.metronome {
                    set.metro += (extra / set.period).ceil() * set.period;
                }
            }
            set.clock += c.max(0.5 * period);
            let motor = (lf.motor_mean + lf.motor_sd * gauss(&mut self.rng)).max(0.02);
            set.next_onset = set.clock + motor - lf.motor_mean;
            set.cur = Some(r);
        }
        let q = self.pq.p;
        if let Some(r) = set.cur.clone() {
            let elapsed = t - set.rep_t0;
            let raising = set.prog.len() >= 2 && self.pq.v >= 0.0;
            if !set.replanned {
                match r.script {
                    Script::Higher { at, top } if raising && q > at * r.top => {
                        if let Some(w) = set.prog.front_mut() {
                            w.target = top;
                        }
                        set.replanned = true;
                    }
                    Script::Short { at, top } if raising && q > at * r.top => {
                        if let Some(w) = set.prog.front_mut() {
                            w.target = top.max(q);
                        }
                        set.replanned = true;
                    }
                    Script::Freeze { at, hold } if raising && q > at * r.top => {
                        set.prog.push_front(Waypoint {
                            target: q + 1.0,
                            lim: r.up,
                            hold,
                            blend: 0.0,
                        });
                        set.replanned = true;
                    }
                    Script::Abandon { at_deg } if q > at_deg => {
                        // (The attempt was tentative from the start: see rep_program.)
                        set.prog.clear();
                        set.prog.push_back(Waypoint {
                            target: 0.0,
                            lim: r.down,
                            hold: 0.2,
                            blend: 0.0,
                        });
                        set.replanned = true;
                    }
                    Script::Pump { at, low } if raising && q > at * r.top => {
                        set.prog.clear();
                        for (target, lim, hold) in [
                            (q + 1.0, r.up, 0.15),
                            (low * q, r.down, 0.1),
                            (r.top, r.up, r.hold),
                            (0.0, r.down, 0.0),
                        ] {
                            set.prog.push_back(Waypoint {
                                target,
                                lim,
                                hold,
                                blend: 0.0,
                            });
                        }
                        set.replanned = true;
                    }
                    Script::TouchAndGo { at }
                        if !raising && set.prog.len() == 1 && q < at * r.top =>
                    {
                        set.replanned = true;
                        set.next_onset = t;
                        set.prog.clear();
                    }
                    _ => {}
                }
            }
            let done = Self::wp_step(&mut set.prog, &mut self.pq, &mut set.hold_left, dt);
            // Compensations as set points and plans.
            let prog = (self.pq.p / r.top.max(1.0)).clamp(-0.5, 1.3);
            self.comp_now = r.comp.map(|(k, m)| (k, m, prog, elapsed));
            if done {
                set.cur = None;
                set.done_at = t;
                set.next_onset = set.next_onset.max(t + uni(&mut self.rng, 0.05, 0.25));
                if matches!(r.script, Script::TouchAndGo { .. }) {
                    set.next_onset = t;
                }
            }
        } else {
            self.pq.step(0.0, lf.down, dt);
            self.comp_now = None;
        }
        // The record for the truth.
        let shank = self.frames().2;
        set.rec.push(Rec {
            t,
            shank,
            obl: self.beta.x + self.phi.x,
            flex: self.jf.q,
        });
        let finished = set.reps.is_empty() && set.cur.is_none() && t > set.done_at + 0.6;
        self.set = Some(set);
        finished
    }

    fn step(&mut self) {
        let dt = self.dt;
        if self.block.is_none() {
            self.next_block();
            if self.done {
                return;
            }
        }
        let (b, t0) = self.block.clone().expect("block");
        let tb = self.t - t0;
        let lf = self.lf.clone();
        let home = self.posture_pose(self.posture);
        let (mut t_flex, mut t_knee, mut t_rot) = (home.1, home.2, 0.0);
        let mut beta_extra = 0.0;
        let mut beta_shift = 0.0;
        let mut theta_extra = 0.0;
        let phi_extra = 0.0;
        let mut psi_extra = 0.0;
        let mut ended = false;
        self.walking = false;
        let fast = Limits::new(300.0, 3000.0, 60000.0);
        let mut leg_lim = Limits::new(90.0, 400.0, 4000.0);
        let mut chi_target = home.0;
        match &b {
            Block::Still { dur } => ended = tb >= *dur,
            Block::Walk { dur } => {
                self.walking = true;
                ended = tb >= *dur;
            }
            Block::Turn { dur, by } => {
                if tb < dt * 1.5 {
                    self.yaw_target_add(*by);
                }
                self.walking = true;
                ended = tb >= *dur;
            }
            Block::Posture { dur, .. } => {
                let mid = (tb / dur).clamp(0.0, 1.0);
                let bump = (PI * mid).sin();
                t_flex = home.1.max(60.0 * bump);
                t_knee = home.2.max(70.0 * bump);
                leg_lim = Limits::new(80.0, 250.0, 2000.0);
                ended = tb >= *dur;
            }
            Block::Bend { dur, depth, .. } => {
                let d = if tb < 0.4 * dur || tb > 0.85 * dur {
                    0.0
                } else {
                    *depth
                };
                if tb < 0.85 * dur && tb > 0.15 * dur {
                    theta_extra = d;
                    t_flex = home.1 + d * 0.8;
                    t_knee = home.2 + d * 0.9;
                }
                ended = tb >= *dur;
            }
            Block::Restrap { dur } => {
                if tb > 0.15 * dur && tb < 0.8 * dur {
                    t_flex = home.1.max(70.0);
                    t_knee = home.2.max(85.0);
                    t_rot = 12.0;
                    theta_extra = 25.0;
                }
                ended = tb >= *dur;
            }
            Block::Swing { dur } => {
                t_flex = home.1
                    + if tb < 0.35 {
                        25.0
                    } else {
                        -5.0 * f64::from(u8::from(tb < 0.7))
                    };
                leg_lim = fast;
                ended = tb >= *dur;
            }
            Block::Shift { dur, by } => {
                beta_shift = if tb < dur - 0.5 { *by } else { 0.0 };
                ended = tb >= *dur;
            }
            Block::OtherSet { .. } => {
                if let Some((_, prog, hold)) = self.other.as_mut() {
                    let mut h = *hold;
                    let done = Self::wp_step(prog, &mut self.p2, &mut h, dt);
                    *hold = h;
                    if done {
                        self.other = None;
                    }
                } else {
                    ended = true;
                }
            }
            Block::Set { pre, .. } => {
                ended = self.set_step(*pre, t0);
            }
        }
        if self.posture == Posture::OtherSide {
            chi_target = -self.side.sign() * 90.0;
        }
        if matches!(b, Block::Posture { .. }) {
            self.chi
                .step(chi_target, Limits::new(60.0, 120.0, 600.0), dt);
        } else {
            self.chi
                .step(chi_target, Limits::new(30.0, 60.0, 300.0), dt);
        }
        // Gait: the instrumented leg swings, the pelvis bobs, sways, turns.
        if self.walking {
            self.gait += 2.0 * PI * 0.9 * dt;
            let g = self.gait;
            t_flex = 12.0 + 20.0 * g.sin();
            t_knee = 5.0 + 30.0 * (g - 1.2).sin().max(0.0) * 1.8;
            leg_lim = fast;
            beta_extra += 2.5 * g.sin();
            psi_extra += 4.0 * g.cos();
            let strike = (g / PI).floor() != ((g - 2.0 * PI * 0.9 * dt) / PI).floor();
            if strike {
                self.ycol.v -= 0.12;
                self.imp_p.v += 0.4;
                if ((g / PI).floor() as i64) % 2 == 0 {
                    self.imp_s.v += 3.0;
                }
            }
            let speed = if matches!(b, Block::Turn { .. }) {
                0.2
            } else {
                1.2
            };
            let h = self.yaw.p * D2R;
            self.walk += V3::new(-h.sin(), 0.0, -h.cos()) * speed * dt;
        } else {
            self.gait = 0.0;
        }
        // Plans of the minor coordinates (and the working one outside sets).
        let q_target = 0.0;
        if !matches!(b, Block::Set { .. }) {
            self.comp_now = None;
            self.pq.step(q_target, lf.down, dt);
        }
        let comp = self.comp_now;
        let mut flex_lim = leg_lim;
        let mut comp_beta = 0.0;
        let mut comp_phi = 0.0;
        if let Some((k, m, prog, el)) = comp {
            match k {
                FlagKind::HipFlexionDrift => {
                    if prog > 0.25 {
                        t_flex += m;
                    }
                    flex_lim = Limits::new(m * uni(&mut self.rng, 0.9, 1.1) * 0.9, 60.0, 600.0);
                }
                FlagKind::HipHike if self.ex != Exercise::HipHitch => comp_phi = m * prog.max(0.0),
                FlagKind::PelvicDrop => {
                    comp_phi = if self.ex == Exercise::HipHitch {
                        -m * 0.5 * prog.max(0.0)
                    } else {
                        -m * prog.max(0.0)
                    }
                }
                FlagKind::TrunkSway => {
                    let period = 2.2;
                    if el < period {
                        comp_beta = m * (2.0 * PI * el / period).sin();
                    }
                }
                _ => {}
            }
        }
        let q_now = self.jq.q;
        t_flex += lf.c_flex * q_now.max(0.0);
        t_rot += lf.c_rot * q_now;
        self.pf.step(t_flex, flex_lim, dt);
        self.pr.step(t_rot, leg_lim, dt);
        self.pk.step(t_knee, leg_lim, dt);
        self.yaw_step(dt);
        // Servo: gravity and the load, partly compensated; tremor and noise.
        let hitch = self.ex == Exercise::HipHitch;
        let fat = 0.1 * self.tired;
        let load_acc = match self.ex {
            Exercise::SideLyingAbduction if self.posture == Posture::Lie => {
                -lf.load * (self.jq.q * D2R).cos()
            }
            Exercise::StandingCableAbduction | Exercise::SeatedMachineAbduction => {
                -lf.load * (0.6 + 0.4 * (self.jq.q * D2R).sin().abs() * 2.0)
            }
            _ => -lf.load * 0.5,
        } * (1.0 - lf.comp + fat)
            * f64::from(u8::from(self.jq.q.abs() > 0.5 || self.pq.p.abs() > 0.5));
        self.effort = (self.jq.q / lf.top.max(1.0)).clamp(0.0, 1.2);
        let tremor = lf.tremor
            * (2.0 * PI * lf.tremor_hz * self.t).sin()
            * (lf.wn * lf.wn)
            * 0.3
            * self.effort;
        let nz = self.noise_ou(0) * lf.wn * lf.wn * 0.2;
        let soft = 1.0 - 0.25 * self.tired;
        let (wn, zeta) = if hitch {
            (lf.wn * 0.7 * soft, lf.zeta.max(0.6))
        } else {
            (lf.wn * soft, lf.zeta)
        };
        self.jq.step(
            &self.pq.clone(),
            wn,
            zeta,
            lf.ff,
            load_acc + tremor + nz,
            dt,
        );
        let w = 14.0;
        self.jf.step(&self.pf.clone(), w, 0.8, 0.8, 0.0, dt);
        self.jr.step(&self.pr.clone(), w, 0.8, 0.8, 0.0, dt);
        self.jk.step(&self.pk.clone(), w, 0.8, 0.8, 0.0, dt);
        // The pelvis and trunk network.
        let lying = matches!(self.posture, Posture::Lie | Posture::OtherSide);
        let sitting = self.posture == Posture::Sit;
        let qleg = if hitch { 0.0 } else { self.jq.q };
        let q2 = self.p2.p;
        let lean = |q: f64| lf.leg_frac * 0.42 * (q * D2R).sin() / 0.53 * R2D * 0.9;
        let mut beta_sp =
            lf.grip * lean(qleg.max(0.0)) - lf.grip * lean(q2.max(0.0)) + beta_extra + comp_beta;
        let mut phi_sp = -lf.c_obl * qleg + lf.c_obl * q2 + phi_extra + comp_phi;
        if hitch {
            phi_sp = -self.jq.q + comp_phi;
            beta_sp -= 0.05 * self.jq.q;
        }
        let psi_sp = lf.c_yaw * qleg + psi_extra;
        self.breath += 2.0 * PI * 0.25 * dt;
        self.pth
            .step(theta_extra, Limits::new(50.0, 150.0, 1500.0), dt);
        self.pbe.step(beta_shift, Limits::new(8.0, 30.0, 300.0), dt);
        beta_sp += self.pbe.p;
        let theta_sp = lf.c_tilt * (self.jf.q - home.1) + self.pth.p + 0.3 * self.breath.sin();
        let lam_sp = -0.5 * beta_sp;
        for i in 0..3 {
            let tau = [2.0, 1.2, 0.7][i];
            self.sway[i] +=
                -self.sway[i] / tau * dt + (2.0 * dt / tau).sqrt() * gauss(&mut self.rng);
        }
        beta_sp += lf.sway * self.sway[0];
        phi_sp += lf.obl_sway * self.sway[1];
        let (mut wb, mut wp) = (lf.net_w[0], lf.net_w[1]);
        if lying || sitting {
            wb *= 3.0;
            beta_sp *= 0.3;
        }
        if hitch {
            wp *= 1.6;
        }
        // Delayed low-gain PID on lean and obliquity.
        self.pid_buf
            .push_back((self.beta.x - beta_sp, self.phi.x - phi_sp));
        let (eb, ep) = if self.pid_buf.len() > lf.delay {
            self.pid_buf.pop_front().unwrap_or((0.0, 0.0))
        } else {
            (0.0, 0.0)
        };
        self.pid_int.0 = (self.pid_int.0 + eb * dt).clamp(-5.0, 5.0);
        self.pid_int.1 = (self.pid_int.1 + ep * dt).clamp(-5.0, 5.0);
        let (kp, ki, kd) = lf.pid;
        let ub = -(kp * eb + ki * self.pid_int.0) * wb * wb - kd * wb * (eb - self.pid_prev.0) / dt;
        let up = -(kp * ep + ki * self.pid_int.1) * wp * wp - kd * wp * (ep - self.pid_prev.1) / dt;
        self.pid_prev = (eb, ep);
        let qacc = if hitch { 0.0 } else { self.jq.acc };
        let lam_acc = self.lam.acc;
        self.beta.step(
            beta_sp,
            wb,
            lf.net_z[0],
            ub + lf.k_dyn * 0.5 * qacc - 0.2 * lam_acc,
            dt,
        );
        self.phi
            .step(phi_sp, wp, lf.net_z[1], up - lf.k_dyn * qacc, dt);
        self.lam
            .step(lam_sp, lf.net_w[2], lf.net_z[2], -0.3 * self.beta.acc, dt);
        self.psi
            .step(psi_sp, lf.net_w[3], lf.net_z[3], 0.3 * lf.k_dyn * qacc, dt);
        self.theta.step(theta_sp, lf.net_w[4], lf.net_z[4], 0.0, dt);
        let vert = -lf.leg_frac * 0.4 * (self.jq.acc * D2R) * (self.jq.q * D2R).sin() * 0.05;
        self.ycol.step(0.0, lf.net_w[5], lf.net_z[5], vert, dt);
        self.imp_s.step(0.0, 2.0 * PI * 30.0, 0.3, 0.0, dt);
        self.imp_p.step(0.0, 2.0 * PI * 20.0, 0.35, 0.0, dt);
        self.t += dt;
        if ended {
            if let Some(label) = b.label() {
                self.distractions.push((label, t0, self.t));
            }
            if let Block::Set { idx, .. } = b {
                if let Some(s) = self.set.take() {
                    self.finished_sets.push((idx, s.rec, s.first_onset));
                }
            }
            self.block = None;
        }
    }

    fn yaw_target_add(&mut self, by: f64) {
        self.hip_ofs += by;
    }

    fn yaw_step(&mut self, dt: f64) {
        self.yaw
            .step(self.hip_ofs, Limits::new(120.0, 300.0, 2000.0), dt);
    }

    fn noise_ou(&mut self, _i: usize) -> f64 {
        self.noise +=
            -self.noise / 0.3 * self.dt + (2.0 * self.dt / 0.3).sqrt() * gauss(&mut self.rng);
        self.noise
    }

    /// The pelvis and shank: orientations and the sensor sites on the bone.
    fn frames(&self) -> (Q, V3, Q, V3) {
        let lf = &self.lf;
        let s = self.side.sign();
        let yaw = ry(self.yaw.p * D2R);
        let r_body = yaw * rz(self.chi.p * D2R);
        let gb = self.free * self.beta.x * D2R;
        let gp = self.free * self.phi.x * D2R;
        let p_pel = self.walk
            + r_body * rz(gb) * V3::new(0.0, lf.h_col, 0.0)
            + V3::new(0.0, self.ycol.x + 0.002 * self.imp_p.x, 0.0);
        let r_pel = r_body * rz(gb + gp) * ry(self.psi.x * D2R) * rx(-self.theta.x * D2R);
        let hip = p_pel + r_pel * V3::new(s * lf.hip_w, -0.05, 0.0);
        let (abd, qh) = match self.ex {
            Exercise::SeatedMachineAbduction => (0.0, self.jq.q),
            Exercise::HipHitch => (0.0, 0.0),
            _ => (self.jq.q, 0.0),
        };
        let r_thigh = r_pel
            * ry(-s * qh * D2R)
            * rx(self.jf.q * D2R)
            * rz(s * abd * D2R)
            * ry(s * self.jr.q * D2R);
        let mut r_shank = r_thigh * rx(-self.jk.q * D2R);
        if self.ex == Exercise::SeatedMachineAbduction {
            r_shank *= rz(-s * 0.3 * qh * D2R);
        }
        let knee = hip + r_thigh * V3::new(0.0, -lf.l_thigh, 0.0);
        let ankle = knee
            + r_shank * V3::new(s * 0.045, -0.8 * lf.l_shank, 0.0)
            + V3::new(0.0, 0.001 * self.imp_s.x, 0.0);
        let sacrum = p_pel + r_pel * V3::new(0.0, 0.02, 0.1);
        (r_pel, sacrum, r_shank, ankle)
    }
}

// ---------------------------------------------------------------------------
// Truth, measured on the motion
// ---------------------------------------------------------------------------

/// Neutral band and rep threshold, ° of leg rotation.
const LEG_RULE: (f64, f64) = (5.0, 12.0);
/// Neutral band and rep threshold, ° of obliquity change (hip hitch: a
/// pelvis that sways about a degree is back at neutral within 1°).
const HITCH_RULE: (f64, f64) = (2.0, 3.5);

fn percentile(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    if s.is_empty() {
        return 0.0;
    }
    s[((s.len() - 1) as f64 * p).round() as usize]
}

/// The truth rule: an excursion leaves neutral when the leg's rotation
/// from its rest before the set (hip hitch: the drop of the free side) goes
/// beyond the neutral band, and is back at neutral once inside 40% of the
/// band (50% for the hip hitch's narrower band); it is a rep when its peak
/// reaches the rep threshold. Movements that never come back to neutral in
/// between are one rep (a stop short and a second push, reps run
/// together, a freeze part way); a raise abandoned below the threshold is
/// none. Returns (start index, end index, peak index).
fn segment(sig: &[f64], band: f64, thresh: f64) -> Vec<(usize, usize, usize)> {
    let low = if band < 3.0 { 0.5 * band } else { 0.4 * band };
    let mut out = Vec::new();
    let mut last_in = 0usize;
    let mut i = 0;
    let n = sig.len();
    while i < n {
        if sig[i] <= low {
            last_in = i;
        }
        if sig[i] > band {
            // Out of neutral until it comes back inside the low band.
            let mut j = i;
            let mut pk = i;
            while j < n && sig[j] > low {
                if sig[j] > sig[pk] {
                    pk = j;
                }
                j += 1;
            }
            if sig[pk] >= thresh {
                out.push((last_in, j.min(n - 1), pk));
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// One measured rep: times, peaks and what the compensation rules look at.
#[derive(Debug, Clone, Copy)]
struct MRep {
    start: f64,
    end: f64,
    peak: f64,
    leg: f64,
    omax: f64,
    omin: f64,
    hi_run: f64,
    lo_run: f64,
    vmax: f64,
    fmax: f64,
}

fn measure_set(
    rec: &[Rec],
    first_onset: f64,
    ex: Exercise,
    placement: Placement,
    dt: f64,
) -> Vec<MRep> {
    let hitch = ex == Exercise::HipHitch;
    let i0 = rec
        .iter()
        .position(|r| r.t >= first_onset)
        .unwrap_or(0)
        .max(1);
    let base = &rec[..i0];
    let q_ref = base[base.len() - 1].shank;
    let obl0 = base.iter().map(|r| r.obl).sum::<f64>() / base.len() as f64;
    let sig: Vec<f64> = rec
        .iter()
        .map(|r| {
            if hitch {
                obl0 - r.obl
            } else {
                q_ref.angle_to(&r.shank) * R2D
            }
        })
        .collect();
    let (band, thresh) = if hitch { HITCH_RULE } else { LEG_RULE };
    let mut reps = Vec::new();
    let mut segs = segment(&sig, band, thresh);
    if hitch {
        // A hitch ends level again: a pull past level belongs to the rep.
        for i in 0..segs.len() {
            let stop = segs.get(i + 1).map_or(rec.len() - 1, |n| n.0);
            let horizon = stop.min(segs[i].1 + (1.5 / dt) as usize);
            let mut k = segs[i].1;
            while k < horizon && rec[k].obl - obl0 <= 2.0 * band {
                k += 1;
            }
            if k < horizon {
                while k < stop && rec[k].obl - obl0 > band {
                    k += 1;
                }
                segs[i].1 = k;
            }
        }
    }
    for (s, e, pk) in segs {
        let w = &rec[s..=e];
        let ob: Vec<f64> = w.iter().map(|r| r.obl - obl0).collect();
        let omax = ob.iter().cloned().fold(f64::MIN, f64::max);
        let omin = ob.iter().cloned().fold(f64::MAX, f64::min);
        let (mut run_hi, mut run_lo, mut hi_run, mut lo_run) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for &o in &ob {
            run_hi = if o >= 5.0 { run_hi + dt } else { 0.0 };
            run_lo = if o <= -5.0 { run_lo + dt } else { 0.0 };
            hi_run = hi_run.max(run_hi);
            lo_run = lo_run.max(run_lo);
        }
        let k = 3usize;
        let mut vmax = 0.0f64;
        for i in (s + k)..=pk {
            vmax = vmax.max((sig[i] - sig[i - k]) / (k as f64 * dt));
        }
        let f0 = w[0].flex;
        let fmax = w.iter().map(|r| r.flex - f0).fold(f64::MIN, f64::max);
        reps.push(MRep {
            start: rec[s].t,
            end: rec[e].t,
            peak: match placement {
                Placement::Pelvis => omax.abs().max(omin.abs()),
                Placement::Ankle => sig[pk],
            },
            leg: sig[pk],
            omax,
            omin,
            hi_run,
            lo_run,
            vmax,
            fmax,
        });
    }
    reps
}

/// The compensation rules, on what the motion did.
fn truth_reps(m: &[MRep], vis: &[FlagKind], ex: Exercise) -> Vec<TruthRep> {
    let hitch = ex == Exercise::HipHitch;
    let legs: Vec<f64> = m.iter().map(|r| r.leg).collect();
    let working = percentile(&legs, 0.8);
    m.iter()
        .map(|r| {
            let MRep {
                start: s,
                end: e,
                peak,
                leg,
                omax,
                omin,
                hi_run,
                lo_run,
                vmax,
                fmax,
            } = *r;
            let mut flags = Vec::new();
            // (In a hip hitch the drop is the rep itself, not one side of a rock.)
            let sway = !hitch && omax >= 5.0 && omin <= -5.0;
            for &k in vis {
                let v = match k {
                    FlagKind::TrunkSway if sway => Some(omax.max(-omin)),
                    FlagKind::HipHike if !sway && omax >= 5.0 && hi_run >= 0.15 => Some(omax),
                    FlagKind::PelvicDrop if !sway && !hitch && lo_run >= 0.15 => Some(-omin),
                    FlagKind::Momentum if vmax >= 4.0 * leg => Some(leg),
                    FlagKind::PartialRange if m.len() >= 3 && leg < 0.65 * working => Some(leg),
                    FlagKind::HipFlexionDrift if fmax >= 10.0 => Some(fmax),
                    _ => None,
                };
                if let Some(v) = v {
                    flags.push(TruthFlag {
                        kind: k,
                        value_deg: round3(v),
                    });
                }
            }
            TruthRep {
                start_s: round3(s),
                end_s: round3(e),
                peak_deg: round3(peak),
                flags,
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The sensor and a phone-class OS sensor stack
// ---------------------------------------------------------------------------

/// The IMU's own errors, the sensor hub's batching and the host's stamps.
#[derive(Debug, Clone)]
struct Stack {
    rng: ChaCha8Rng,
    period: f64,
    nominal: f64,
    next_dev: f64,
    batch: Vec<(f64, V3, V3)>,
    batch_n: usize,
    batch_max: usize,
    lat_min: f64,
    lat_jit: f64,
    last_host: f64,
    out: VecDeque<Sample>,
    gb: V3,
    gm: V3,
    gm_tau: f64,
    gm_sd: f64,
    ab: V3,
    sa: Matrix3<f64>,
    sg: Matrix3<f64>,
    noise: f64,
    acc_lsb: f64,
    acc_max: f64,
    gyr_lsb: f64,
    gyr_max: f64,
    drop: f64,
    gap_rate: f64,
    next_gap: f64,
    gap_until: f64,
    busy_ok: bool,
    next_busy: f64,
    busy_until: f64,
    decim: u64,
    dup_p: f64,
}

fn errmat(rng: &mut ChaCha8Rng, scale: f64, cross: f64) -> Matrix3<f64> {
    let mut m = Matrix3::identity();
    for i in 0..3 {
        for j in 0..3 {
            m[(i, j)] = if i == j {
                1.0 + uni(rng, -scale, scale)
            } else {
                uni(rng, -cross, cross)
            };
        }
    }
    m
}

const MIN_STEP: f64 = 0.0005;

impl Stack {
    fn new(cfg: &SimConfig, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let ppm = uni(&mut rng, -150.0, 150.0) * 1e-6;
        let period = 1.0 / (cfg.rate_hz * (1.0 + ppm));
        let b = cfg.gyro_bias_dps;
        let gb = V3::new(
            uni(&mut rng, -b, b),
            uni(&mut rng, -b, b),
            uni(&mut rng, -b, b),
        );
        let acc_g = [4.0, 8.0, 16.0][rng.gen_range(0..3)];
        let gyr_fs = [500.0, 1000.0, 2000.0][rng.gen_range(0..3)];
        let batch_max = ((cfg.rate_hz / 25.0).round() as usize).clamp(1, 12);
        let sa = errmat(&mut rng, 0.015, 0.01);
        let sg = errmat(&mut rng, 0.02, 0.01);
        let ab = V3::new(gauss(&mut rng), gauss(&mut rng), gauss(&mut rng)) * 0.04;
        let next_gap = if cfg.gaps_per_min > 0.0 {
            -(1.0 - rng.gen::<f64>()).ln() * 60.0 / cfg.gaps_per_min
        } else {
            f64::INFINITY
        };
        let busy_ok = cfg.drop_rate > 0.0 || cfg.gaps_per_min > 0.0;
        let next_busy = uni(&mut rng, 10.0, 90.0);
        Stack {
            period,
            nominal: 1.0 / cfg.rate_hz,
            next_dev: uni(&mut rng, 0.0, period),
            batch: Vec::new(),
            batch_n: 1,
            batch_max,
            lat_min: uni(&mut rng, 0.002, 0.01),
            lat_jit: uni(&mut rng, 0.001, 0.006),
            last_host: f64::NEG_INFINITY,
            out: VecDeque::new(),
            gb,
            gm: V3::zeros(),
            gm_tau: uni(&mut rng, 60.0, 300.0),
            gm_sd: 0.1 * (b / 2.0).min(1.0),
            ab,
            sa,
            sg,
            noise: cfg.noise,
            acc_lsb: acc_g * STANDARD_GRAVITY / 32768.0,
            acc_max: acc_g * STANDARD_GRAVITY,
            gyr_lsb: gyr_fs / 32768.0,
            gyr_max: gyr_fs,
            drop: cfg.drop_rate,
            gap_rate: cfg.gaps_per_min,
            next_gap,
            gap_until: f64::NEG_INFINITY,
            busy_ok,
            next_busy,
            busy_until: f64::NEG_INFINITY,
            decim: 0,
            dup_p: uni(&mut rng, 0.0, 0.006),
            rng,
        }
    }

    /// The IMU reads the true specific force and rate at device time `t`.
    fn sample(&mut self, t: f64, f: V3, w: V3) {
        let rng = &mut self.rng;
        let k = (-self.period / self.gm_tau).exp();
        let s = self.gm_sd * (1.0 - k * k).sqrt();
        self.gm = self.gm * k + V3::new(gauss(rng), gauss(rng), gauss(rng)) * s;
        let nz = self.noise;
        let mut g = self.sg * w
            + self.gb
            + self.gm
            + V3::new(gauss(rng), gauss(rng), gauss(rng)) * 0.12 * nz;
        let mut a =
            self.sa * f + self.ab + V3::new(gauss(rng), gauss(rng), gauss(rng)) * 0.025 * nz;
        for i in 0..3 {
            g[i] =
                ((g[i].clamp(-self.gyr_max, self.gyr_max)) / self.gyr_lsb).round() * self.gyr_lsb;
            a[i] =
                ((a[i].clamp(-self.acc_max, self.acc_max)) / self.acc_lsb).round() * self.acc_lsb;
        }
        // Losses: gaps, random drops, and a busy OS halving the rate.
        if t >= self.next_gap {
            self.gap_until = self.next_gap + 0.2;
            self.next_gap =
                self.gap_until - (1.0 - self.rng.gen::<f64>()).ln() * 60.0 / self.gap_rate;
        }
        if self.busy_ok && t >= self.next_busy {
            self.busy_until = t + uni(&mut self.rng, 1.0, 4.0);
            self.next_busy = self.busy_until + uni(&mut self.rng, 20.0, 120.0);
        }
        let busy = t < self.busy_until;
        self.decim += 1;
        if t < self.gap_until
            || (self.drop > 0.0 && self.rng.gen_bool(self.drop))
            || (busy && self.decim.is_multiple_of(2))
        {
            return;
        }
        self.batch.push((t, a, g));
        if self.batch.len() >= self.batch_n {
            self.deliver(busy);
        }
    }

    /// The hub hands a batch to the OS; the host stamps it on arrival and
    /// spreads the stamps back by the nominal period.
    fn deliver(&mut self, busy: bool) {
        if self.batch.is_empty() {
            return;
        }
        let n = self.batch.len();
        let t_last = self.batch[n - 1].0;
        let extra = if busy {
            uni(&mut self.rng, 0.01, 0.06)
        } else {
            0.0
        };
        let lat = self.lat_min - (1.0 - self.rng.gen::<f64>()).ln() * self.lat_jit + extra;
        let arrival = t_last + lat;
        let est = self.lat_min + self.lat_jit;
        let batch = std::mem::take(&mut self.batch);
        for (i, (_, a, g)) in batch.into_iter().enumerate() {
            let mut t = arrival - est - (n - 1 - i) as f64 * self.nominal;
            t = t.max(self.last_host + MIN_STEP).max(0.0);
            t = (t * 1e6).round() / 1e6;
            if t <= self.last_host {
                t = self.last_host + MIN_STEP;
            }
            self.last_host = t;
            let s = Sample { t, acc: a, gyr: g };
            self.out.push_back(s);
            if self.rng.gen_bool(self.dup_p) {
                let t2 = ((t + MIN_STEP) * 1e6).round() / 1e6;
                self.last_host = t2;
                self.out.push_back(Sample { t: t2, ..s });
            }
        }
        self.batch_n = if busy {
            self.batch_max * 2
        } else {
            self.rng.gen_range(1..=self.batch_max)
        };
    }
}

/// The planner body model's sample stream (see the module doc).
pub struct PlannerSimulator {
    cfg: SimConfig,
    body: Body,
    stack: Stack,
    mount: Q,
    pb: [V3; 2],
    ps: [V3; 2],
    r_prev: Q,
    wob: (V3, V3),
    lp: (V3, V3),
    lp_alpha: f64,
    prev: (f64, V3, V3),
    steps: u64,
    finished: bool,
}

impl PlannerSimulator {
    /// Builds the session: the lifter, the gym's agenda, the truth measured
    /// on the simulated motion, and the sensor.
    pub fn new(cfg: &SimConfig) -> Result<(Self, Truth), String> {
        cfg.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x005E_ED27_009A_11E4);
        let dt = 1.0 / (500.0f64).max(1.25 * cfg.rate_hz);
        let mut lf = Lifter::draw(&mut rng, cfg.exercise);
        lf.delay = (uni(&mut rng, 0.08, 0.18) / dt) as usize;
        let body_seed = rng.gen::<u64>();
        let stack_seed = rng.gen::<u64>();
        let home = home_posture(cfg.exercise);
        let mut body = Body {
            ex: cfg.exercise,
            side: cfg.side,
            free: cfg.exercise.free_side(cfg.side).sign(),
            lf,
            dt,
            t: 0.0,
            rng: ChaCha8Rng::seed_from_u64(body_seed),
            pq: Otg::default(),
            pf: Otg::default(),
            pr: Otg::default(),
            pk: Otg::default(),
            jq: Joint::default(),
            jf: Joint::default(),
            jr: Joint::default(),
            jk: Joint::default(),
            p2: Otg::default(),
            pth: Otg::default(),
            pbe: Otg::default(),
            chi: Otg::default(),
            yaw: Otg::default(),
            walk: V3::zeros(),
            walking: false,
            gait: 0.0,
            beta: Osc::default(),
            phi: Osc::default(),
            lam: Osc::default(),
            psi: Osc::default(),
            theta: Osc::default(),
            ycol: Osc::default(),
            imp_s: Osc::default(),
            imp_p: Osc::default(),
            pid_buf: VecDeque::new(),
            pid_int: (0.0, 0.0),
            pid_prev: (0.0, 0.0),
            sway: [0.0; 3],
            breath: 0.0,
            noise: 0.0,
            blocks: VecDeque::new(),
            block: None,
            set: None,
            sets_left: Vec::new(),
            posture: home,
            done: false,
            other: None,
            finished_sets: Vec::new(),
            distractions: Vec::new(),
            comp_now: None,
            effort: 0.0,
            hip_ofs: 0.0,
            tired: 0.0,
        };
        let pose = body.posture_pose(home);
        body.chi = Otg::at(pose.0);
        (body.pf, body.pk) = (Otg::at(pose.1), Otg::at(pose.2));
        body.jf.q = pose.1;
        body.jk.q = pose.2;
        // The sets' reps, and the agenda with the gym's rests between them.
        let vis = cfg.visible_compensations();
        for i in 0..cfg.sets {
            let n = body.rng.gen_range(cfg.reps_min..=cfg.reps_max);
            let reps = body.draw_reps(cfg, n, i, &vis);
            body.sets_left.push((i, reps));
        }
        let lead = cfg.lead_in_s.unwrap_or_else(|| {
            if rng.gen_bool(0.35) {
                uni(&mut rng, 0.3, 0.8)
            } else {
                uni(&mut rng, 0.8, 3.0)
            }
        });
        let busy = uni(&mut rng, 0.3, 2.0);
        let mut other_done = !rng.gen_bool(0.5);
        body.blocks.push_back(Block::Set {
            idx: 0,
            pre: lead.max(0.05),
            hurried: false,
        });
        for i in 1..cfg.sets {
            let timer = rng.gen_bool(0.5);
            let r = if timer {
                let nice = (uni(&mut rng, cfg.rest_min_s, cfg.rest_max_s) / 15.0).round() * 15.0;
                nice.clamp(cfg.rest_min_s, cfg.rest_max_s)
            } else {
                uni(&mut rng, cfg.rest_min_s, cfg.rest_max_s)
            };
            let pre = uni(&mut rng, 1.0, 2.5);
            let (blocks, hurried) = plan_rest(&mut rng, cfg, r - pre, home, busy, &mut other_done);
            body.blocks.extend(blocks);
            body.blocks.push_back(Block::Set {
                idx: i,
                pre: if hurried { 0.6 } else { pre },
                hurried,
            });
        }
        body.blocks.push_back(Block::Still {
            dur: uni(&mut rng, 1.0, 5.0),
        });
        if cfg.walking && home == Posture::Stand && rng.gen_bool(0.5) {
            // Ends mid-motion: walking away when the recording stops.
            body.blocks.push_back(Block::Turn {
                dur: 1.5,
                by: 180.0,
            });
            body.blocks.push_back(Block::Walk {
                dur: uni(&mut rng, 0.5, 4.0),
            });
        }
        // Settle the body before the recording starts.
        body.blocks.push_front(Block::Still { dur: 3.0 });
        body.next_block();
        while body.block.is_some() {
            body.step();
        }
        body.t = 0.0;
        body.distractions.clear();
        // Truth: run the same body and measure what it did.
        let mut tb = body.clone();
        while !tb.done {
            tb.step();
        }
        let mut sets = Vec::new();
        let mut fin = tb.finished_sets.clone();
        fin.sort_by_key(|s| s.0);
        for (_, rec, first) in &fin {
            let m = measure_set(rec, *first, cfg.exercise, cfg.placement, dt);
            let reps = truth_reps(&m, &vis, cfg.exercise);
            sets.push(TruthSet {
                start_s: round3(reps.first().map_or(*first, |r| r.start_s)),
                end_s: round3(reps.last().map_or(*first, |r| r.end_s)),
                rep_count: reps.len(),
                reps,
            });
        }
        let distractions = tb
            .distractions
            .iter()
            .map(|(w, a, b)| format!("{w} {:.3}..{:.3} s", a, b))
            .collect();
        let truth = Truth {
            config: cfg.clone(),
            duration_s: round3(tb.t),
            distractions,
            sets,
        };
        let mut mrng = ChaCha8Rng::seed_from_u64(stack_seed ^ 0xA5A5);
        let mount = match (cfg.placement, cfg.random_mounting) {
            (Placement::Ankle, true) => {
                let v = V3::new(gauss(&mut mrng), gauss(&mut mrng), gauss(&mut mrng));
                Q::from_scaled_axis(v.normalize() * uni(&mut mrng, 0.0, PI))
            }
            (Placement::Pelvis, true) => {
                let v = V3::new(gauss(&mut mrng), gauss(&mut mrng), gauss(&mut mrng));
                Q::from_scaled_axis(v.normalize() * uni(&mut mrng, 0.0, 14.0) * D2R)
            }
            _ => Q::identity(),
        };
        let fc = (0.42 * cfg.rate_hz).min(0.35 / dt);
        let sim = PlannerSimulator {
            cfg: cfg.clone(),
            stack: Stack::new(cfg, stack_seed),
            body,
            mount,
            pb: [V3::zeros(); 2],
            ps: [V3::zeros(); 2],
            r_prev: Q::identity(),
            wob: (V3::zeros(), V3::zeros()),
            lp: (V3::zeros(), V3::zeros()),
            lp_alpha: 1.0 - (-2.0 * PI * fc * dt).exp(),
            prev: (0.0, V3::zeros(), V3::zeros()),
            steps: 0,
            finished: false,
        };
        Ok((sim, truth))
    }

    /// One internal step of the body and the sensor site; device samples
    /// that fall inside it are read by interpolation.
    fn advance(&mut self) {
        let t0 = self.body.t;
        self.body.step();
        if self.body.done {
            return;
        }
        let dt = self.body.dt;
        let t1 = self.body.t;
        let (rp, sp, rs, sa) = self.body.frames();
        let pelvis = self.cfg.placement == Placement::Pelvis;
        let (r_b, p_b) = if pelvis { (rp, sp) } else { (rs, sa) };
        if self.steps == 0 {
            self.pb = [p_b; 2];
        }
        let a_b = (p_b - 2.0 * self.pb[0] + self.pb[1]) / (dt * dt);
        self.pb = [p_b, self.pb[0]];
        let lf = &self.body.lf;
        let (w, z) = if pelvis { lf.wob_p } else { lf.wob_s };
        let (u, v) = &mut self.wob;
        let acc = -w * w * *u - 2.0 * z * w * *v - a_b;
        *v += acc * dt;
        *u += *v * dt;
        let u_local = r_b.inverse() * *u;
        let work = self.body.jq.q * D2R * if pelvis { 0.3 } else { 1.0 };
        let delta = V3::new(
            u_local.z / 0.15,
            lf.sta_rot * work + lf.sta_con * D2R * self.body.effort,
            -u_local.x / 0.15,
        );
        let r_s = r_b * Q::from_scaled_axis(delta) * self.mount;
        let p_s = p_b + r_b * V3::new(lf.sta_disp * work, 0.0, 0.0) + *u;
        if self.steps == 0 {
            self.ps = [p_s; 2];
            self.r_prev = r_s;
        }
        let a = (p_s - 2.0 * self.ps[0] + self.ps[1]) / (dt * dt);
        self.ps = [p_s, self.ps[0]];
        let gyr = (self.r_prev.inverse() * r_s).scaled_axis() / dt * R2D;
        self.r_prev = r_s;
        let f = r_s.inverse() * (a + V3::new(0.0, STANDARD_GRAVITY, 0.0));
        if self.steps == 0 {
            self.lp = (f, gyr);
            self.prev = (t0, f, gyr);
        }
        self.steps += 1;
        let al = self.lp_alpha;
        self.lp.0 += (f - self.lp.0) * al;
        self.lp.1 += (gyr - self.lp.1) * al;
        let (tp, fp, gp) = self.prev;
        while self.stack.next_dev <= t1 {
            let tau = self.stack.next_dev;
            let x = ((tau - tp) / (t1 - tp)).clamp(0.0, 1.0);
            let fi = fp + (self.lp.0 - fp) * x;
            let gi = gp + (self.lp.1 - gp) * x;
            self.stack.sample(tau, fi, gi);
            self.stack.next_dev += self.stack.period;
        }
        self.prev = (t1, self.lp.0, self.lp.1);
    }
}

impl Iterator for PlannerSimulator {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        loop {
            if let Some(s) = self.stack.out.pop_front() {
                return Some(s);
            }
            if self.finished {
                return None;
            }
            if self.body.done {
                self.stack.deliver(false);
                self.finished = true;
                continue;
            }
            self.advance();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::sim::{SimModel, PAIRS};

    fn cfg(ex: Exercise, pl: Placement, seed: u64) -> SimConfig {
        let mut c = SimConfig::new(ex, pl, Side::Right);
        (c.sets, c.reps_min, c.reps_max) = (1, 3, 4);
        (c.rest_min_s, c.rest_max_s) = (12.0, 12.0);
        (c.seed, c.model) = (seed, SimModel::Planner);
        c
    }

    fn samples(c: &SimConfig) -> (Vec<Sample>, Truth) {
        let (sim, truth) = PlannerSimulator::new(c).unwrap();
        (sim.collect(), truth)
    }

    #[test]
    fn every_pair_and_rate_gives_finite_increasing_samples_and_a_truth() {
        for (i, (ex, pl)) in PAIRS.into_iter().enumerate() {
            for rate in [25.0, 100.0, 400.0] {
                let mut c = cfg(ex, pl, 10 + i as u64);
                (c.reps_min, c.reps_max, c.rate_hz) = (2, 2, rate);
                c.lead_in_s = Some(1.0);
                let (v, truth) = samples(&c);
                assert!(
                    v.len() as f64 > truth.duration_s * rate * 0.5,
                    "{ex} {pl} {rate}"
                );
                assert!(v.iter().all(|s| s.is_finite()), "{ex} {pl} {rate}");
                assert!(v.windows(2).all(|w| w[1].t > w[0].t), "{ex} {pl} {rate}");
                assert_eq!(truth.sets.len(), 1, "{ex} {pl} {rate}");
                assert!(truth.sets[0].rep_count >= 1, "{ex} {pl} {rate}: {truth:?}");
                let last = v[v.len() - 1].t;
                assert!(
                    (last - truth.duration_s).abs() < 0.5,
                    "{last} {}",
                    truth.duration_s
                );
            }
        }
    }

    #[test]
    fn one_g_at_rest() {
        for (i, (ex, pl)) in PAIRS.into_iter().enumerate() {
            let mut c = cfg(ex, pl, 20 + i as u64);
            (c.reps_min, c.reps_max, c.noise) = (1, 1, 0.0);
            c.lead_in_s = Some(2.0);
            let (v, _) = samples(&c);
            let still: Vec<f64> = v
                .iter()
                .take_while(|s| s.t < 1.0)
                .map(|s| s.acc.norm())
                .collect();
            let g = still.iter().sum::<f64>() / still.len() as f64;
            assert!((g - STANDARD_GRAVITY).abs() < 0.3, "{ex} {pl}: {g}");
        }
    }

    /// "label a..b s" as (a, b).
    fn span(d: &str) -> (f64, f64) {
        let w = d.rsplit(' ').nth(1).unwrap();
        let (a, b) = w.split_once("..").unwrap();
        (a.parse().unwrap(), b.parse().unwrap())
    }

    #[test]
    fn truth_sets_do_not_overlap_the_distractions() {
        let mut seen = 0;
        for (seed, ex, pl) in [
            (31, Exercise::StandingCableAbduction, Placement::Ankle),
            (32, Exercise::SideLyingAbduction, Placement::Pelvis),
            (33, Exercise::StandingCableAbduction, Placement::Pelvis),
        ] {
            let mut c = cfg(ex, pl, seed);
            (c.sets, c.rest_min_s, c.rest_max_s) = (3, 30.0, 50.0);
            let (_, truth) = PlannerSimulator::new(&c).unwrap();
            assert_eq!(truth.sets.len(), 3);
            for d in &truth.distractions {
                let (a, b) = span(d);
                assert!(a < b && b <= truth.duration_s + 1e-3, "{d}");
                for s in &truth.sets {
                    assert!(b <= s.start_s || a >= s.end_s, "{d} overlaps {s:?}");
                }
                seen += 1;
            }
        }
        assert!(seen > 3, "{seen}");
    }

    /// A servo following an online plan whose target `target(t, planned
    /// position)` may change at any moment, recorded as the truth sees it.
    fn scripted(secs: f64, up: Limits, mut target: impl FnMut(f64, f64) -> f64) -> Vec<Rec> {
        let dt = 0.002;
        let down = Limits::new(40.0, 200.0, 2000.0);
        let (mut plan, mut joint) = (Otg::default(), Joint::default());
        let mut rec = Vec::new();
        let mut t = 0.0;
        while t < secs {
            let goal = target(t, plan.p);
            plan.step(goal, if goal > plan.p { up } else { down }, dt);
            assert!(plan.v.abs() <= 60.0 * 1.2 + 1e-9 && plan.a.abs() <= 300.0 + 1e-9);
            assert!(plan.v.abs() <= up.v.max(down.v) * 1.2 + 1e-9);
            joint.step(&plan, 14.0, 0.5, 0.8, 0.0, dt);
            rec.push(Rec {
                t,
                shank: rz(joint.q * D2R),
                obl: 0.0,
                flex: 0.0,
            });
            t += dt;
        }
        rec
    }

    const UP: Limits = Limits {
        v: 60.0,
        a: 300.0,
        j: 3000.0,
    };

    fn count(rec: &[Rec]) -> Vec<MRep> {
        measure_set(
            rec,
            1.0,
            Exercise::StandingCableAbduction,
            Placement::Ankle,
            0.002,
        )
    }

    #[test]
    fn a_replanned_raise_abandoned_below_the_threshold_is_not_a_rep() {
        // Starts tentatively toward 35°, gives up past 3° (re-planned back
        // to 0 from wherever the plan is, so it overshoots), then does a
        // full rep.
        let mut gave_up = false;
        let rec = scripted(9.0, Limits::new(25.0, 60.0, 400.0), |t, q| {
            if t < 1.0 {
                0.0
            } else if t < 3.5 {
                gave_up |= q > 3.0;
                if gave_up {
                    0.0
                } else {
                    35.0
                }
            } else if t < 5.5 {
                35.0
            } else {
                0.0
            }
        });
        let peak_abandoned = rec
            .iter()
            .filter(|r| r.t < 3.5)
            .map(|r| r.shank.angle() * R2D)
            .fold(0.0, f64::max);
        assert!(
            peak_abandoned > LEG_RULE.0 && peak_abandoned < LEG_RULE.1,
            "{peak_abandoned}"
        );
        let reps = count(&rec);
        assert_eq!(reps.len(), 1, "{reps:?}");
        assert!(reps[0].start > 3.4 && reps[0].peak > 30.0, "{reps:?}");
    }

    #[test]
    fn a_raise_that_stops_short_and_raises_again_is_one_rep() {
        // Up to 20°, re-planned down to 12° (never back inside the neutral
        // band), up again to 35°, down: one rep, peaking at the second top.
        let rec = scripted(10.0, UP, |t, _| match t {
            t if t < 1.0 => 0.0,
            t if t < 2.2 => 20.0,
            t if t < 3.2 => 12.0,
            t if t < 5.0 => 35.0,
            _ => 0.0,
        });
        let reps = count(&rec);
        assert_eq!(reps.len(), 1, "{reps:?}");
        assert!(reps[0].peak > 33.0, "{reps:?}");
        // Coming back inside the band in between makes it two.
        let rec = scripted(10.0, UP, |t, _| match t {
            t if t < 1.0 => 0.0,
            t if t < 2.2 => 20.0,
            t if t < 4.0 => 0.0,
            t if t < 5.8 => 35.0,
            _ => 0.0,
        });
        assert_eq!(count(&rec).len(), 2);
    }

    #[test]
    fn the_planner_replans_online_and_overshoots_a_target_pulled_back() {
        let l = Limits::new(80.0, 400.0, 4000.0);
        let mut p = Otg::default();
        let mut top = 0.0f64;
        let mut plateau = 0;
        for i in 0..1500 {
            let goal = if i < 250 { 40.0 } else { 10.0 };
            p.step(goal, l, 0.002);
            top = top.max(p.p);
            plateau += usize::from((p.v - 80.0).abs() < 1.0);
        }
        // Pulled back mid-raise from 40° to 10°: it passes 10° before turning.
        assert!(top > 12.0 && top < 40.0, "{top}");
        assert!((p.p - 10.0).abs() < 0.01 && p.v.abs() < 0.1, "{p:?}");
        let mut p = Otg::default();
        for _ in 0..1500 {
            p.step(40.0, l, 0.002);
            plateau += usize::from((p.v - 80.0).abs() < 1.0);
        }
        assert!(plateau > 50, "a velocity plateau: {plateau}");
        assert!((p.p - 40.0).abs() < 0.01);
    }

    #[test]
    fn non_uniform_timestamps_stay_strictly_increasing() {
        for rate in [25.0, 100.0, 400.0] {
            let mut c = cfg(Exercise::SideLyingAbduction, Placement::Ankle, 41);
            (c.rate_hz, c.drop_rate, c.gaps_per_min) = (rate, 0.05, 6.0);
            let (v, _) = samples(&c);
            let dts: Vec<f64> = v.windows(2).map(|w| w[1].t - w[0].t).collect();
            assert!(dts.iter().all(|&d| d > 0.0), "{rate}");
            let nominal = 1.0 / rate;
            let off = dts
                .iter()
                .filter(|&&d| (d - nominal).abs() > 0.05 * nominal)
                .count();
            assert!(
                off as f64 > 0.02 * dts.len() as f64,
                "{rate}: {off} of {}",
                dts.len()
            );
            let mean = dts.iter().sum::<f64>() / dts.len() as f64;
            assert!(
                mean > nominal * 0.95 && mean < nominal * 1.5,
                "{rate}: {mean}"
            );
        }
    }

    #[test]
    fn compensations_appear_when_asked_and_never_at_rate_zero() {
        for (ex, pl) in [
            (Exercise::StandingCableAbduction, Placement::Pelvis),
            (Exercise::StandingCableAbduction, Placement::Ankle),
            (Exercise::HipHitch, Placement::Pelvis),
        ] {
            let mut c = cfg(ex, pl, 51);
            (c.reps_min, c.reps_max) = (8, 8);
            c.compensation_rate = 0.7;
            let (_, truth) = PlannerSimulator::new(&c).unwrap();
            let flagged = truth.sets[0]
                .reps
                .iter()
                .filter(|r| !r.flags.is_empty())
                .count();
            assert!(flagged >= 2, "{ex} {pl}: {truth:?}");
            let vis = c.visible_compensations();
            assert!(truth.sets[0]
                .reps
                .iter()
                .flat_map(|r| &r.flags)
                .all(|f| vis.contains(&f.kind)));
            for seed in [52, 53] {
                c.compensation_rate = 0.0;
                c.seed = seed;
                let (_, truth) = PlannerSimulator::new(&c).unwrap();
                let flags: Vec<_> = truth.sets[0].reps.iter().flat_map(|r| &r.flags).collect();
                assert!(flags.is_empty(), "{ex} {pl} {seed}: {flags:?}");
            }
        }
    }
}
