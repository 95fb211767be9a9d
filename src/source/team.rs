//! An eleventh body model, built apart: team-sport injury-prevention work on
//! the pitch and in the club gym.
//!
//! # Who
//!
//! Amateur and youth players of football, rugby, handball and hockey doing
//! hip-abductor work in a squad warm-up or a club strength session. One
//! player per session, drawn from five kinds: youth players (14-18, long
//! levers, impatient, fast and sloppy reps that fly), adult amateurs after
//! work (tired and stiff, bigger compensations), goalkeepers (big builds,
//! slower, deliberate), forwards (quick) and a player back from a groin or
//! ankle injury who guards the range and leans onto the good side.
//!
//! # How a set is paced
//!
//! The coach counts out loud for the whole squad and the player follows the
//! count: each rep starts on a count plus the player's own lag, a random
//! walk (some drift behind and catch up), and a player now and then misses a
//! count. The set stops on the coach's whistle after the player's own number
//! of reps; a player caught by the whistle may have started one more rep and
//! dropped it (an abandoned rep: not a rep). Sometimes the coach calls "last
//! three, make them slow": the count slows and the player holds at the top.
//! The first set in the cold is stiff; reps shrink a little with fatigue.
//!
//! # How a rep is made
//!
//! Each rep's intended angle is a Fourier series with random harmonics under
//! a sin² envelope (value and speed zero at neutral), exp-mapped so it never
//! goes below neutral, and bounded by a soft joint limit (a tanh): a rep
//! that asks for more than the joint gives flattens into a hold at the top.
//! The harmonics give each rep its own rise, fall and wobble; the first
//! harmonic's sine puts the peak early (quick up, slower down: the usual
//! 0.6-1.4 s up and 0.9-2.5 s down). That angle is placed on a body whose
//! stance foot stays planted: the pelvis sits on the stance leg, the
//! working leg hangs from the pelvis (thigh, knee, shank), and the sensor's
//! pose comes from forward kinematics. A partner holding the ankle adds a
//! resistance that yields and pushes back (a few random low-frequency
//! terms under the same envelope); a loop band, ankle weight or cable
//! changes tempo and shape.
//!
//! Coupled pelvis motion follows the usual figures: a clean rep raises the
//! free side of the pelvis 0.5-3°, the body shifts its hips toward the stance
//! side and leans up to ~2° (which rolls a sacral sensor the other way from
//! the obliquity), with small turns about the vertical and a degree of
//! postural sway. Compensations are made at sizes clearly past the 5° lines:
//! a hip hike of 6.5-12° (side-lying, where the habitual hike is ~14°, up to
//! 15°), a pelvic drop of 6.5-10°, a trunk sway rocking 6.5-9.5° each way,
//! a leg swinging 14-26° forward (flexion drift), a flying rep (momentum:
//! 0.65-1 s for full range) and a partial rep (35-55% of the set's range).
//!
//! # Between sets
//!
//! Where this model is meant to be hard: jogging across the pitch, high
//! knees, lateral shuffles (the leg abducts with every step), jumps with
//! landings of several g and free fall in the air, sprints with a cut, a
//! kick at a ball, getting down on the grass and up again, standing to
//! listen while shifting weight, walking back to the line; in the club gym
//! the sled, stretches and the other leg's set (the sensored leg is then the
//! stance leg and rolls a little in rhythm). With fidgets: single swings,
//! shaking a leg out, re-taping the sensor. Every one of these is listed as
//! a distraction.
//!
//! # Sensor
//!
//! On the ankle: in a shin-guard pocket (on the front face of the shank, a
//! few cm off its axis) or taped over the sock, where it twists about the
//! shank while running and is re-taped now and then. On the pelvis: a
//! belt clip or compression-shorts pocket over the sacrum (+X right, +Y up,
//! +Z back, tilted up to ±12° per axis when mounted at random), never a
//! GPS-vest pocket between the shoulder blades. Devices: the sensors people
//! own (WitMotion ±16 g, Thingy:52, MetaMotion at ±8 g) and team trackers
//! (±16 g), one cheap unit at ±4 g that clips on landings; white noise,
//! quantisation, a gyro bias that drifts as a cold sensor warms on the
//! body, a small accelerometer bias and scale error, timestamp jitter,
//! dropped samples, 200 ms gaps, and Bluetooth drops of 1-10 s while the
//! player runs away from the phone on the touchline (between sets only; the
//! stream resumes on the same clock). The recording may start during the
//! jog to the line.
//!
//! # Truth
//!
//! A rep runs from leaving neutral (the first instant of its profile) to
//! being back at neutral (profile and speed zero). Its peak, for the ankle,
//! is the largest rotation of the sensor from its orientation 0.25 s before
//! the set's first rep (in the still neutral), read off the model's pose at
//! 400 points per rep; for the pelvis it is the obliquity change of largest
//! size, signed (positive: free side up), where obliquity is the pelvis'
//! own roll about the body's front-back axis (the long axis in a bridge)
//! from the set's neutral: the whole-body lean and sway that also roll a
//! sacral sensor are not obliquity. Flag values: hip hike the rep's highest
//! obliquity, pelvic drop its lowest (negative), trunk sway the rocking
//! amplitude, flexion drift the forward swing at the top, momentum and
//! partial range the rep's own peak. Abandoned reps at the whistle, single
//! swings, the other leg's set and everything between sets are
//! distractions, each with its time span.
//!
//! Specific force and angular rate come from the sensor's pose by central
//! finite differences (1 ms), so they are exactly the kinematics' and the
//! ground truth is read off the same pose function.

use super::gauss;
use crate::motion::FlagKind;
use crate::sample::STANDARD_GRAVITY;
use crate::source::sim::{SimConfig, Truth, TruthFlag, TruthRep, TruthSet};
use crate::{Exercise, Placement, Sample};
use nalgebra::{UnitQuaternion, Vector3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::f64::consts::{FRAC_PI_2, PI, TAU};

type V3 = Vector3<f64>;
type Q = UnitQuaternion<f64>;

/// Step of the finite differences that give acceleration and angular rate, s.
const FD_STEP_S: f64 = 0.001;

fn rx(a: f64) -> Q {
    Q::from_axis_angle(&Vector3::x_axis(), a)
}
fn ry(a: f64) -> Q {
    Q::from_axis_angle(&Vector3::y_axis(), a)
}
fn rz(a: f64) -> Q {
    Q::from_axis_angle(&Vector3::z_axis(), a)
}
/// Quintic smoothstep on [0, 1], clamped.
fn smooth(u: f64) -> f64 {
    let u = u.clamp(0.0, 1.0);
    u * u * u * (u * (6.0 * u - 15.0) + 10.0)
}
/// A raised-cosine bump of half-width `w` centred on `c` (compact support).
fn bump(x: f64, c: f64, w: f64) -> f64 {
    let z = (x - c) / w;
    if z.abs() >= 1.0 {
        0.0
    } else {
        let v = (FRAC_PI_2 * z).cos();
        v * v
    }
}
/// 0 at both ends of [0, dur], 1 in between, smooth ramps of `ramp` s.
fn envelope(tau: f64, dur: f64, ramp: f64) -> f64 {
    let r = ramp.min(dur / 2.0).max(1e-6);
    smooth(tau / r) * smooth((dur - tau) / r)
}
fn slerp(a: &Q, b: &Q, u: f64) -> Q {
    a.try_slerp(b, u, 1e-12)
        .unwrap_or(if u < 0.5 { *a } else { *b })
}
fn wrap(a: f64) -> f64 {
    (a + PI).rem_euclid(TAU) - PI
}
fn uni(rng: &mut ChaCha8Rng, a: f64, b: f64) -> f64 {
    if b <= a {
        a
    } else {
        rng.gen_range(a..b)
    }
}
fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    rng.gen::<f64>() < p
}
/// A random rotation, uniform over SO(3).
fn random_rotation(rng: &mut ChaCha8Rng) -> Q {
    let v = V3::new(gauss(rng), gauss(rng), gauss(rng));
    let w: f64 = gauss(rng);
    let q = nalgebra::Quaternion::new(w, v.x, v.y, v.z);
    if q.norm() < 1e-9 {
        Q::identity()
    } else {
        Q::from_quaternion(q)
    }
}
/// An impact's displacement response: starts with zero displacement, speed
/// and acceleration, rings at `f` Hz, decays in ~`tau` s; peak acceleration
/// about `acc` m/s².
fn impact(dt: f64, acc: f64, f: f64, tau: f64) -> f64 {
    if dt <= 0.0 || dt > 16.0 * tau {
        return 0.0;
    }
    let w = TAU * f;
    let x = dt / tau;
    acc / (0.54 * w * w) * x * x * (-x).exp() * (w * dt).sin()
}

/// What the player does the exercise as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Drill {
    Standing,
    SideLying,
    Seated,
    Hitch,
    StepUp,
    Bridge,
}

fn drill_of(ex: Exercise) -> Drill {
    match ex {
        Exercise::StandingCableAbduction | Exercise::BandWalk => Drill::Standing,
        Exercise::SideLyingAbduction | Exercise::Clamshell => Drill::SideLying,
        Exercise::SeatedMachineAbduction => Drill::Seated,
        Exercise::HipHitch => Drill::Hitch,
        Exercise::LateralStepUp => Drill::StepUp,
        Exercise::SingleLegBridge => Drill::Bridge,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Posture {
    Stand,
    SideLie,
    Sit,
    Supine,
}

/// A posture's whole-body rotation (in the heading frame: x right, y
/// forward, z up), pelvis height, default hip flexion and knee angle (°),
/// and how much postural sway it lets through.
struct PostureGeo {
    rot: Q,
    height: f64,
    hip: f64,
    knee: f64,
    sway: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Place {
    root: V3,
    heading: f64,
    posture: Posture,
}

#[derive(Debug, Clone, Copy)]
struct Gait {
    cad: f64,
    hip_mid: f64,
    hip_amp: f64,
    knee_mid: f64,
    knee_amp: f64,
    abd_amp: f64,
    bob: f64,
    pitch: f64,
    a_imp: f64,
    sideways: bool,
}

#[derive(Debug, Clone, Copy)]
struct Jump {
    n: usize,
    crouch: f64,
    tc: f64,
    tp: f64,
    tf: f64,
    td: f64,
    tr: f64,
    a_imp: f64,
}

impl Jump {
    fn cycle(&self) -> f64 {
        self.tc + self.tp + self.tf + self.td + self.tr
    }
    /// Vertical offset of the body in one jump cycle and whether it is in the air.
    fn z(&self, x: f64) -> f64 {
        let g = STANDARD_GRAVITY;
        let v0 = g * self.tf / 2.0;
        let z_to = -self.crouch + v0 * self.tp / 2.0;
        let z_low = z_to - v0 * self.td / 2.0;
        let mut x = x;
        if x < self.tc {
            return -self.crouch * (1.0 - (PI * x / self.tc).cos()) / 2.0;
        }
        x -= self.tc;
        if x < self.tp {
            return -self.crouch + 0.5 * (v0 / self.tp) * x * x;
        }
        x -= self.tp;
        if x < self.tf {
            return z_to + v0 * x - 0.5 * g * x * x;
        }
        x -= self.tf;
        if x < self.td {
            return z_to - v0 * x + 0.5 * (v0 / self.td) * x * x;
        }
        x -= self.td;
        let u = (x / self.tr).min(1.0);
        z_low * (1.0 + (PI * u).cos()) / 2.0
    }
    fn landing(&self) -> f64 {
        self.tc + self.tp + self.tf
    }
}

/// One rep's plan: the bounded Fourier profile and what rides on it.
#[derive(Debug, Clone)]
struct RepPlan {
    /// Cosine and sine harmonic coefficients of the log-profile.
    c: [f64; 4],
    d: [f64; 4],
    /// Peak of the raw profile (normalises it to 1).
    norm: f64,
    /// Intended amplitude and soft joint limit, ° (hitch: the drop).
    amp: f64,
    lim: f64,
    /// The main channel's actual peak, °.
    peak_main: f64,
    /// Hip flexion drift at the top, °.
    flex: f64,
    /// Clean obliquity coupling, hike and drop, °.
    obl: f64,
    hike: f64,
    drop: f64,
    /// Trunk sway amplitude, whole-body lean and turn in time with the leg, °.
    sway: f64,
    lean: f64,
    yaw: f64,
    /// Hips shifted toward the stance side, m; body rise (step-up, bridge), m.
    shift: f64,
    rise: f64,
    /// Partner's yielding and pushing back: (°, Hz, phase).
    partner: [(f64, f64, f64); 3],
    /// The stance foot slips on wet grass: (where in the rep, °).
    slip: Option<(f64, f64)>,
}

impl RepPlan {
    fn raw(c: &[f64; 4], d: &[f64; 4], u: f64) -> f64 {
        let s = (PI * u).sin();
        let mut e = 0.0;
        for k in 0..4 {
            let a = TAU * (k + 1) as f64 * u;
            e += c[k] * a.cos() + d[k] * a.sin();
        }
        s * s * e.exp()
    }
    fn finish(&mut self) {
        let mut m: f64 = 0.0;
        for i in 0..=400 {
            m = m.max(Self::raw(&self.c, &self.d, i as f64 / 400.0));
        }
        self.norm = m.max(1e-9);
        self.peak_main = self.lim * (self.amp / self.lim).tanh();
    }
    /// The main channel at phase `u` in [0, 1], °.
    fn main(&self, u: f64) -> f64 {
        let r = Self::raw(&self.c, &self.d, u.clamp(0.0, 1.0)) / self.norm;
        self.lim * (self.amp * r / self.lim).tanh()
    }
}

#[derive(Debug, Clone)]
enum Act {
    /// Still in place; weight shifts as (centre s, half-width s, lean °).
    Still(Vec<(f64, f64, f64)>),
    Rep(Box<RepPlan>),
    Move(Gait),
    Jumps(Jump),
    Kick {
        own_leg: bool,
        a_imp: f64,
    },
    Transition,
    OtherLeg {
        period: f64,
        n: usize,
        roll: f64,
    },
    Stretch {
        knee: f64,
    },
    Swing {
        amp: f64,
    },
    Shake {
        freq: f64,
        amp: f64,
    },
    Retape,
}

#[derive(Debug, Clone)]
struct Seg {
    t0: f64,
    t1: f64,
    from: Place,
    to: Place,
    mount0: Q,
    mount1: Q,
    act: Act,
}

/// The body's state at one instant, before forward kinematics.
#[derive(Debug, Clone, Copy)]
struct Body {
    root: V3,
    heading: f64,
    post: Q,
    height: f64,
    hip0: f64,
    knee0: f64,
    sway: f64,
    shift: V3,
    obl: f64,
    pitch: f64,
    yaw: f64,
    lean: f64,
    abd: f64,
    flex: f64,
    knee: f64,
    rot: f64,
    imp: V3,
    mount: Q,
    wobble: Q,
}

/// Player build, m.
#[derive(Debug, Clone, Copy)]
struct Build {
    thigh: f64,
    shank: f64,
    hip_w: f64,
    guard: f64,
}

#[derive(Debug, Clone, Copy)]
struct Device {
    acc_range: f64,
    gyr_range: f64,
    acc_lsb: f64,
    gyr_lsb: f64,
    acc_noise: f64,
    gyr_noise: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Player {
    Youth,
    Adult,
    Keeper,
    Forward,
    Returning,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resist {
    Body,
    Partner,
    Band,
    AnkleWeight,
    Cable,
}

/// The team-sport body model's sample stream (see the module notes).
#[derive(Debug, Clone)]
pub struct TeamSimulator {
    placement: Placement,
    drill: Drill,
    s: f64,
    sf: f64,
    build: Build,
    segs: Vec<Seg>,
    sway: [(f64, f64, f64); 6],
    sacrum: Q,
    dev: Device,
    gaps: Vec<(f64, f64)>,
    gap_i: usize,
    rate: f64,
    n: u64,
    k: u64,
    noise: f64,
    drop: f64,
    bias_cold: V3,
    bias_warm: V3,
    warm_tau: f64,
    acc_bias: V3,
    acc_scale: V3,
    rng: ChaCha8Rng,
}

/// What the planner hands back: the timeline and what it meant.
struct Plan {
    segs: Vec<Seg>,
    /// Per set: the rep segments' indices and their flags (kinds; values filled later).
    sets: Vec<Vec<(usize, Option<FlagKind>)>>,
    /// Per set: the rest instant before it.
    rests: Vec<f64>,
    distractions: Vec<(f64, f64, String)>,
    gaps: Vec<(f64, f64)>,
    end: f64,
}

struct Planner<'a> {
    cfg: &'a SimConfig,
    rng: ChaCha8Rng,
    drill: Drill,
    player: Player,
    resist: Resist,
    gym: bool,
    wet: bool,
    cold: bool,
    spot: Place,
    segs: Vec<Seg>,
    t: f64,
    place: Place,
    mount: Q,
    distractions: Vec<(f64, f64, String)>,
    comps: Vec<FlagKind>,
}

fn posture_geo(p: Posture, s: f64, leg: f64) -> PostureGeo {
    match p {
        Posture::Stand => PostureGeo {
            rot: Q::identity(),
            height: leg + 0.04,
            hip: 0.0,
            knee: 3.0,
            sway: 1.0,
        },
        Posture::SideLie => PostureGeo {
            rot: ry(-s * FRAC_PI_2),
            height: 0.17,
            hip: 5.0,
            knee: 2.0,
            sway: 0.3,
        },
        Posture::Sit => PostureGeo {
            rot: Q::identity(),
            height: 0.52,
            hip: 90.0,
            knee: 90.0,
            sway: 0.2,
        },
        Posture::Supine => PostureGeo {
            rot: rx(FRAC_PI_2),
            height: 0.12,
            hip: 45.0,
            knee: 90.0,
            sway: 0.25,
        },
    }
}

impl Planner<'_> {
    fn push(&mut self, dur: f64, to: Place, mount1: Q, act: Act, label: Option<&str>) -> usize {
        let dur = dur.max(0.0);
        let seg = Seg {
            t0: self.t,
            t1: self.t + dur,
            from: self.place,
            to,
            mount0: self.mount,
            mount1,
            act,
        };
        if let Some(l) = label.filter(|_| dur >= 0.3) {
            let l = if self.gym {
                l.replace("the grass", "the mat")
                    .replace("back to the line", "back to the station")
            } else {
                l.to_string()
            };
            self.distractions.push((self.t, self.t + dur, l));
        }
        self.segs.push(seg);
        self.t += dur;
        self.place = to;
        self.mount = mount1;
        self.segs.len() - 1
    }

    fn still(&mut self, dur: f64, shifts: bool, label: Option<&str>) {
        if dur <= 0.0 {
            return;
        }
        let mut v = Vec::new();
        if shifts {
            let n = (dur / 4.0).floor() as usize;
            for _ in 0..n {
                let w = uni(&mut self.rng, 0.5, 1.2).min(dur / 2.0);
                let c = uni(&mut self.rng, w, (dur - w).max(w));
                let a = uni(&mut self.rng, -3.5, 3.5);
                v.push((c, w, a));
            }
        }
        let p = self.place;
        let m = self.mount;
        self.push(dur, p, m, Act::Still(v), label);
    }

    fn gait(&mut self, kind: &str) -> Gait {
        let r = &mut self.rng;
        let youth = if self.player == Player::Youth {
            1.15
        } else {
            1.0
        };
        match kind {
            "walk" => Gait {
                cad: uni(r, 0.85, 1.0),
                hip_mid: 3.0,
                hip_amp: uni(r, 16.0, 22.0),
                knee_mid: 32.0,
                knee_amp: 28.0,
                abd_amp: 0.0,
                bob: 0.02,
                pitch: 2.0,
                a_imp: uni(r, 8.0, 14.0),
                sideways: false,
            },
            "jog" => Gait {
                cad: uni(r, 1.3, 1.5),
                hip_mid: 8.0,
                hip_amp: uni(r, 24.0, 32.0) * youth,
                knee_mid: 55.0,
                knee_amp: 45.0,
                abd_amp: 0.0,
                bob: 0.035,
                pitch: 6.0,
                a_imp: uni(r, 25.0, 40.0),
                sideways: false,
            },
            "sprint" => Gait {
                cad: uni(r, 1.8, 2.2),
                hip_mid: 15.0,
                hip_amp: uni(r, 40.0, 50.0),
                knee_mid: 65.0,
                knee_amp: 55.0,
                abd_amp: 0.0,
                bob: 0.02,
                pitch: 14.0,
                a_imp: uni(r, 40.0, 70.0),
                sideways: false,
            },
            "knees" => Gait {
                cad: uni(r, 1.6, 2.0),
                hip_mid: 42.0,
                hip_amp: 40.0,
                knee_mid: 55.0,
                knee_amp: 50.0,
                abd_amp: 0.0,
                bob: 0.03,
                pitch: 3.0,
                a_imp: uni(r, 25.0, 45.0),
                sideways: false,
            },
            "shuffle" => Gait {
                cad: uni(r, 1.5, 1.9),
                hip_mid: 15.0,
                hip_amp: 5.0,
                knee_mid: 30.0,
                knee_amp: 10.0,
                abd_amp: uni(r, 14.0, 24.0),
                bob: 0.02,
                pitch: 10.0,
                a_imp: uni(r, 18.0, 30.0),
                sideways: true,
            },
            _ => Gait {
                // the sled: slow driving steps, leaning far forward
                cad: uni(r, 0.6, 0.8),
                hip_mid: 40.0,
                hip_amp: 25.0,
                knee_mid: 60.0,
                knee_amp: 30.0,
                abd_amp: 0.0,
                bob: 0.015,
                pitch: 40.0,
                a_imp: uni(r, 6.0, 10.0),
                sideways: false,
            },
        }
    }

    /// Travels from where the player is to `to` (a root point) in `dur` s.
    fn travel(&mut self, dur: f64, to_root: V3, end_heading: Option<f64>, gait: Gait, label: &str) {
        let d = to_root - self.place.root;
        let ht = if d.xy().norm() < 0.5 {
            self.place.heading
        } else if gait.sideways {
            {
                let h = d.y.atan2(d.x);
                if wrap(h - self.place.heading).abs() > FRAC_PI_2 {
                    h + PI
                } else {
                    h
                }
            }
        } else {
            (-d.x).atan2(d.y)
        };
        let to = Place {
            root: to_root,
            heading: end_heading.unwrap_or(ht),
            posture: Posture::Stand,
        };
        let mut m = self.mount;
        if self.cfg.placement == Placement::Ankle && gait.a_imp > 20.0 {
            // the sensor twists a little inside the sock or guard
            m = rz(uni(&mut self.rng, -6.0, 6.0).to_radians()) * m;
        }
        self.push(dur, to, m, Act::Move(gait), Some(label));
    }

    fn transition(&mut self, to: Posture, root: V3, label: &str) {
        let dur = uni(&mut self.rng, 2.4, 4.0);
        let p = Place {
            root,
            heading: self.place.heading,
            posture: to,
        };
        let m = self.mount;
        self.push(dur, p, m, Act::Transition, Some(label));
    }

    fn point_near(&mut self, dist: f64) -> V3 {
        let cur = self.place.root;
        let away = (cur - self.spot.root).xy().norm();
        let ang = if away > 12.0 {
            let back = self.spot.root - cur;
            back.y.atan2(back.x) + uni(&mut self.rng, -0.7, 0.7)
        } else {
            uni(&mut self.rng, -PI, PI)
        };
        V3::new(cur.x + dist * ang.cos(), cur.y + dist * ang.sin(), 0.0)
    }

    /// Fills `budget` s between sets, ending still at the set's spot.
    fn between_sets(&mut self, budget: f64) -> (f64, f64) {
        let w0 = self.t;
        let end = self.t + budget;
        let fid = self.cfg.fidgets;
        if budget < 8.0 || (!self.cfg.walking && !fid) {
            self.still(budget, false, None);
            return (w0, self.t);
        }
        let spot = self.spot;
        let down = spot.posture != Posture::Stand;
        if self.cfg.walking {
            let up_root =
                V3::new(spot.root.x, spot.root.y, 0.0) + rz(spot.heading) * V3::new(0.0, -0.6, 0.0);
            if down {
                let l = match spot.posture {
                    Posture::Sit => "gets off the machine",
                    _ => "gets up off the grass",
                };
                self.transition(Posture::Stand, up_root, l);
            } else if spot.root.z > 0.05 {
                let mut g = self.gait("walk");
                g.a_imp = 12.0;
                self.travel(1.5, up_root, None, g, "steps down off the step");
            }
            loop {
                let back = (self.place.root - spot.root).xy().norm() / 1.3 + 2.0;
                let need = back + if down { 4.0 } else { 0.0 } + 2.5;
                let avail = end - self.t - need;
                if avail < 5.0 {
                    break;
                }
                self.activity(avail);
            }
            // walk back to the line and wait for the coach
            let back_root =
                V3::new(spot.root.x, spot.root.y, 0.0) + rz(spot.heading) * V3::new(0.0, -0.6, 0.0);
            let dist = (self.place.root - back_root).norm();
            let left = end - self.t - if down { 3.2 } else { 1.5 };
            if dist > 0.5 {
                let dur = (dist / 1.3 + 1.5).min(left.max(0.0));
                if dur > 1.0 {
                    let g = self.gait("walk");
                    self.travel(
                        dur,
                        back_root,
                        Some(spot.heading),
                        g,
                        "walks back to the line",
                    );
                }
            }
            let left = end - self.t - if down { 3.2 } else { 1.5 };
            if left > 0.0 {
                self.still(left, true, Some("stands listening to the coach"));
            }
            if down {
                let l = match spot.posture {
                    Posture::Sit => "sits back on the machine",
                    Posture::Supine => "lies down on the back",
                    _ => "gets down on the grass",
                };
                let dur = (end - self.t).max(0.5);
                let p = spot;
                let m = self.mount;
                self.push(dur, p, m, Act::Transition, Some(l));
            } else if spot.root.z > 0.05
                || (self.place.root - spot.root).norm() > 1e-9
                || (wrap(self.place.heading - spot.heading)).abs() > 1e-9
            {
                let dur = (end - self.t).max(0.5);
                let g = Gait {
                    a_imp: 8.0,
                    ..self.gait("walk")
                };
                self.travel(
                    dur,
                    spot.root,
                    Some(spot.heading),
                    g,
                    "steps back into place",
                );
            }
        } else {
            // fidgets only: stays in place
            while end - self.t > 6.0 {
                let avail = end - self.t - 2.0;
                self.fidget(avail);
            }
            let left = end - self.t;
            self.still(left, false, None);
        }
        (w0, self.t)
    }

    fn fidget(&mut self, avail: f64) {
        let pick = self.rng.gen_range(0..4);
        let standing = self.place.posture == Posture::Stand;
        match pick {
            0 if avail > 3.0 => {
                let amp = uni(&mut self.rng, 12.0, 24.0);
                let dur = uni(&mut self.rng, 0.8, 1.3);
                let p = self.place;
                let m = self.mount;
                self.push(dur, p, m, Act::Swing { amp }, Some("single leg swing"));
            }
            1 if avail > 4.0 && standing => {
                let dur = uni(&mut self.rng, 2.0, 4.0).min(avail);
                let p = self.place;
                let m = self.mount;
                let a = Act::Shake {
                    freq: uni(&mut self.rng, 4.0, 7.0),
                    amp: uni(&mut self.rng, 4.0, 9.0),
                };
                self.push(dur, p, m, a, Some("shakes the leg out"));
            }
            2 if avail > 8.0 => {
                let dur = uni(&mut self.rng, 5.0, 8.0).min(avail);
                let p = self.place;
                let m1 = if self.cfg.placement == Placement::Ankle {
                    rz(uni(&mut self.rng, -25.0, 25.0).to_radians())
                        * rx(uni(&mut self.rng, -6.0, 6.0).to_radians())
                        * self.mount
                } else {
                    rx(uni(&mut self.rng, -4.0, 4.0).to_radians())
                        * rz(uni(&mut self.rng, -4.0, 4.0).to_radians())
                        * self.mount
                };
                let l = if self.cfg.placement == Placement::Ankle {
                    "re-tapes the sensor over the sock"
                } else {
                    "re-seats the belt clip"
                };
                self.push(dur, p, m1, Act::Retape, Some(l));
            }
            _ => {
                let dur = uni(&mut self.rng, 3.0, 8.0).min(avail);
                self.still(dur, true, Some("shifts weight"));
            }
        }
    }

    /// One between-set activity standing up, at most `avail` s.
    fn activity(&mut self, avail: f64) {
        let r = self.rng.gen::<f64>();
        let ankle_standing =
            self.cfg.placement == Placement::Ankle && self.drill == Drill::Standing;
        if self.gym {
            if r < 0.2 && ankle_standing && avail > 20.0 {
                self.other_leg(avail);
            } else if r < 0.4 && avail > 10.0 {
                let dur = uni(&mut self.rng, 8.0, 14.0).min(avail);
                let to = self.point_near(dur * 0.9);
                let g = self.gait("sled");
                self.travel(dur, to, None, g, "pushes the sled");
            } else if r < 0.55 && avail > 12.0 {
                self.stretch(avail);
            } else if r < 0.65 && avail > 6.0 {
                self.jumps(avail, "box jumps");
            } else if r < 0.8 && self.cfg.fidgets {
                self.fidget(avail);
            } else {
                let dur = uni(&mut self.rng, 4.0, 12.0).min(avail);
                let to = self.point_near(dur * 1.1);
                let g = self.gait("walk");
                self.travel(dur, to, None, g, "walks round the gym");
            }
            return;
        }
        if r < 0.22 {
            let dur = uni(&mut self.rng, 6.0, 15.0).min(avail);
            let speed = uni(&mut self.rng, 2.2, 3.0);
            let to = self.point_near((dur - 1.0) * speed);
            let g = self.gait("jog");
            self.travel(dur, to, None, g, "jogs across the pitch");
        } else if r < 0.32 {
            let dur = uni(&mut self.rng, 4.0, 8.0).min(avail);
            let to = self.point_near(dur * 0.8);
            let g = self.gait("knees");
            self.travel(dur, to, None, g, "high knees");
        } else if r < 0.44 {
            let dur = uni(&mut self.rng, 4.0, 8.0).min(avail);
            let h = self.place.heading;
            let dir = if chance(&mut self.rng, 0.5) {
                1.0
            } else {
                -1.0
            };
            let d = rz(h) * V3::new(dir * dur * 1.5, 0.0, 0.0);
            let to = self.place.root + d;
            let g = self.gait("shuffle");
            self.push(
                dur,
                Place {
                    root: to,
                    heading: h,
                    posture: Posture::Stand,
                },
                self.mount,
                Act::Move(g),
                Some("lateral shuffle"),
            );
        } else if r < 0.56 && avail > 6.0 {
            self.jumps(avail, "jumps and landings");
        } else if r < 0.66 && avail > 8.0 {
            let d1 = uni(&mut self.rng, 2.5, 4.0);
            let to = self.point_near(d1 * 5.5);
            let g = self.gait("sprint");
            self.travel(d1, to, None, g, "sprints");
            let d2 = uni(&mut self.rng, 2.0, 3.0);
            let h = self.place.heading
                + uni(&mut self.rng, 0.6, 1.4)
                    * if chance(&mut self.rng, 0.5) {
                        1.0
                    } else {
                        -1.0
                    };
            let to = self.place.root + rz(h) * V3::new(0.0, d2 * 4.0, 0.0);
            let g = self.gait("sprint");
            self.travel(d2, to, None, g, "cuts and sprints");
        } else if r < 0.74 && avail > 6.0 {
            let d = uni(&mut self.rng, 2.0, 3.0);
            let to = self.point_near(d * 2.5);
            let g = self.gait("jog");
            self.travel(d, to, None, g, "runs onto a ball");
            let own = chance(&mut self.rng, 0.6);
            let a = uni(&mut self.rng, 30.0, 50.0);
            let p = self.place;
            let m = self.mount;
            self.push(
                1.6,
                p,
                m,
                Act::Kick {
                    own_leg: own,
                    a_imp: a,
                },
                Some(if own {
                    "kicks the ball (sensored leg)"
                } else {
                    "kicks the ball (other leg)"
                }),
            );
        } else if r < 0.82 && avail > 14.0 {
            let root = self.place.root;
            self.transition(Posture::Supine, root, "gets down on the grass");
            let hold = uni(&mut self.rng, 2.0, 6.0).min(avail - 9.0).max(0.5);
            self.still(hold, true, Some("lies on the grass"));
            self.transition(Posture::Stand, root, "gets up again");
        } else if r < 0.88 && ankle_standing && avail > 20.0 {
            self.other_leg(avail);
        } else if r < 0.93 && avail > 12.0 {
            self.stretch(avail);
        } else if self.cfg.fidgets && chance(&mut self.rng, 0.5) {
            self.fidget(avail);
        } else {
            let dur = uni(&mut self.rng, 5.0, 15.0).min(avail);
            self.still(dur, true, Some("stands listening to the coach"));
        }
    }

    fn jumps(&mut self, avail: f64, label: &str) {
        let tf = uni(&mut self.rng, 0.3, 0.5);
        let mut j = Jump {
            n: 1,
            crouch: uni(&mut self.rng, 0.1, 0.2),
            tc: uni(&mut self.rng, 0.3, 0.45),
            tp: uni(&mut self.rng, 0.15, 0.22),
            tf,
            td: uni(&mut self.rng, 0.08, 0.14),
            tr: uni(&mut self.rng, 0.4, 0.7),
            a_imp: uni(&mut self.rng, 40.0, 90.0),
        };
        let most = ((avail - 0.5) / j.cycle()).floor().max(1.0) as usize;
        j.n = self.rng.gen_range(2..=5).min(most);
        let dur = j.n as f64 * j.cycle() + 0.3;
        let p = self.place;
        let m = self.mount;
        self.push(dur, p, m, Act::Jumps(j), Some(label));
    }

    fn stretch(&mut self, avail: f64) {
        let dur = uni(&mut self.rng, 10.0, 20.0).min(avail);
        let p = self.place;
        let m = self.mount;
        let k = uni(&mut self.rng, 110.0, 140.0);
        self.push(
            dur,
            p,
            m,
            Act::Stretch { knee: k },
            Some("stretches the quads (sensored leg held)"),
        );
    }

    fn other_leg(&mut self, avail: f64) {
        let period = uni(&mut self.rng, 1.6, 2.8);
        let n = ((avail - 3.0) / period).floor().clamp(1.0, 15.0) as usize;
        let n = self.rng.gen_range(n.clamp(1, 8)..=n);
        let dur = n as f64 * period + 1.0;
        let p = self.place;
        let m = self.mount;
        let roll = uni(&mut self.rng, 1.0, 3.0);
        self.push(
            dur,
            p,
            m,
            Act::OtherLeg { period, n, roll },
            Some("the other leg's set (sensored leg is the stance leg)"),
        );
    }
}

impl TeamSimulator {
    /// Builds a session from `cfg`: the sample stream and its ground truth.
    pub fn new(cfg: &SimConfig) -> Result<(Self, Truth), String> {
        cfg.validate()?;
        let drill = drill_of(cfg.exercise);
        if cfg.placement == Placement::Ankle
            && matches!(drill, Drill::Hitch | Drill::StepUp | Drill::Bridge)
        {
            return Err(format!(
                "the team model does not put the sensor on the ankle for {}",
                cfg.exercise
            ));
        }
        if cfg.placement == Placement::Pelvis && drill == Drill::Seated {
            return Err(format!(
                "the team model does not put the sensor on the pelvis for {}",
                cfg.exercise
            ));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x7EA3_5EED_0011_u64);
        let s = cfg.side.sign();
        let sf = cfg.exercise.free_side(cfg.side).sign();

        // who and where
        let player = match rng.gen_range(0..10) {
            0..=2 => Player::Youth,
            3..=5 => Player::Adult,
            6 => Player::Keeper,
            7..=8 => Player::Forward,
            _ => Player::Returning,
        };
        let gym = match drill {
            Drill::Seated | Drill::Hitch | Drill::StepUp => true,
            _ => chance(&mut rng, 0.35),
        };
        let wet = !gym && chance(&mut rng, 0.4);
        let cold = !gym && chance(&mut rng, 0.45);
        let resist = match (drill, gym) {
            (Drill::Standing, false) => {
                if chance(&mut rng, 0.5) {
                    Resist::Partner
                } else {
                    Resist::Band
                }
            }
            (Drill::Standing, true) => {
                if chance(&mut rng, 0.6) {
                    Resist::Cable
                } else {
                    Resist::Band
                }
            }
            (Drill::SideLying, false) => match rng.gen_range(0..3) {
                0 => Resist::Body,
                1 => Resist::Partner,
                _ => Resist::Band,
            },
            (Drill::SideLying, true) => Resist::AnkleWeight,
            (Drill::Seated, _) => Resist::Cable,
            _ => Resist::Body,
        };
        let tall = match player {
            Player::Youth => uni(&mut rng, 1.0, 1.08),
            Player::Keeper => uni(&mut rng, 1.04, 1.1),
            _ => uni(&mut rng, 0.93, 1.04),
        };
        let build = Build {
            thigh: 0.45 * tall,
            shank: 0.36 * tall,
            hip_w: uni(&mut rng, 0.08, 0.105),
            guard: if chance(&mut rng, 0.6) {
                uni(&mut rng, 0.045, 0.065)
            } else {
                uni(&mut rng, 0.03, 0.045)
            },
        };
        let leg = build.thigh + build.shank + 0.1;
        let spot_posture = match drill {
            Drill::Standing | Drill::Hitch | Drill::StepUp => Posture::Stand,
            Drill::SideLying => Posture::SideLie,
            Drill::Seated => Posture::Sit,
            Drill::Bridge => Posture::Supine,
        };
        let spot = Place {
            root: V3::new(0.0, 0.0, if drill == Drill::Hitch { 0.2 } else { 0.0 }),
            heading: uni(&mut rng, -PI, PI),
            posture: spot_posture,
        };
        // sensor +X right, +Y up, +Z back in the body's x right, y forward, z up
        let sacrum = rx(FRAC_PI_2);
        let mount = match (cfg.placement, cfg.random_mounting) {
            (Placement::Ankle, true) => random_rotation(&mut rng),
            (Placement::Ankle, false) => Q::identity(),
            (Placement::Pelvis, true) => {
                rx(uni(&mut rng, -12.0, 12.0).to_radians())
                    * ry(uni(&mut rng, -12.0, 12.0).to_radians())
                    * rz(uni(&mut rng, -12.0, 12.0).to_radians())
            }
            (Placement::Pelvis, false) => Q::identity(),
        };
        let comps: Vec<FlagKind> = cfg
            .visible_compensations()
            .into_iter()
            .filter(|k| !(drill == Drill::Hitch && *k == FlagKind::PelvicDrop))
            .collect();
        let mut pl = Planner {
            cfg,
            rng,
            drill,
            player,
            resist,
            gym,
            wet,
            cold,
            spot,
            segs: Vec::new(),
            t: 0.0,
            place: spot,
            mount,
            distractions: Vec::new(),
            comps,
        };
        let plan = pl.plan(leg);
        let rng = pl.rng;
        let mut rng2 =
            ChaCha8Rng::seed_from_u64(rng.clone().gen::<u64>() ^ cfg.seed.rotate_left(17));

        // the sensor
        let dev = match rng2.gen_range(0..5) {
            0 => Device {
                acc_range: 16.0,
                gyr_range: 2000.0,
                acc_lsb: 16.0 / 32768.0,
                gyr_lsb: 2000.0 / 32768.0,
                acc_noise: 0.035,
                gyr_noise: 0.18,
            },
            1 => Device {
                acc_range: 8.0,
                gyr_range: 2000.0,
                acc_lsb: 1.0 / 1024.0,
                gyr_lsb: 1.0 / 32.0,
                acc_noise: 0.04,
                gyr_noise: 0.2,
            },
            2 => Device {
                acc_range: 8.0,
                gyr_range: 2000.0,
                acc_lsb: 8.0 / 32768.0,
                gyr_lsb: 2000.0 / 32768.0,
                acc_noise: 0.03,
                gyr_noise: 0.12,
            },
            3 => Device {
                acc_range: 16.0,
                gyr_range: 2000.0,
                acc_lsb: 16.0 / 32768.0,
                gyr_lsb: 2000.0 / 32768.0,
                acc_noise: 0.02,
                gyr_noise: 0.08,
            },
            _ => Device {
                acc_range: 4.0,
                gyr_range: 1000.0,
                acc_lsb: 4.0 / 4096.0,
                gyr_lsb: 1000.0 / 32768.0,
                acc_noise: 0.06,
                gyr_noise: 0.3,
            },
        };
        let b = cfg.gyro_bias_dps;
        let mut bias = || {
            V3::new(
                uni(&mut rng2, -b, b),
                uni(&mut rng2, -b, b),
                uni(&mut rng2, -b, b),
            )
        };
        let bias_warm = bias();
        let bias_cold = if cold { bias() } else { bias_warm };
        let warm_tau = uni(&mut rng2, 200.0, 600.0);
        let nz = cfg.noise;
        let acc_bias = V3::new(gauss(&mut rng2), gauss(&mut rng2), gauss(&mut rng2)) * 0.04 * nz;
        let acc_scale = V3::new(gauss(&mut rng2), gauss(&mut rng2), gauss(&mut rng2)) * 0.004 * nz;
        let mut sway = [(0.0, 0.0, 0.0); 6];
        for (i, w) in sway.iter_mut().enumerate() {
            let a = if i < 3 { 0.35 } else { 0.25 };
            *w = (
                uni(&mut rng2, 0.3, 1.0) * a,
                uni(&mut rng2, 0.08, 0.6),
                uni(&mut rng2, 0.0, TAU),
            );
        }
        // 200 ms gaps, and the touchline drops
        let mut gaps = plan.gaps.clone();
        if cfg.gaps_per_min > 0.0 {
            let mut t = 0.0;
            loop {
                let u: f64 = rng2.gen::<f64>().max(1e-12);
                t += -u.ln() * 60.0 / cfg.gaps_per_min;
                if t >= plan.end {
                    break;
                }
                gaps.push((t, t + 0.2));
            }
        }
        gaps.sort_by(|a, b| a.0.total_cmp(&b.0));
        let duration = plan.end;
        let sim = TeamSimulator {
            placement: cfg.placement,
            drill,
            s,
            sf,
            build,
            segs: plan.segs,
            sway,
            sacrum,
            dev,
            gaps,
            gap_i: 0,
            rate: cfg.rate_hz,
            n: (duration * cfg.rate_hz).floor() as u64 + 1,
            k: 0,
            noise: nz,
            drop: cfg.drop_rate,
            bias_cold,
            bias_warm,
            warm_tau,
            acc_bias,
            acc_scale,
            rng: rng2,
        };

        // truth, read off the same pose function
        let mut sets = Vec::new();
        for (si, reps) in plan.sets.iter().enumerate() {
            let rest_t = plan.rests[si];
            let (_, q_rest) = sim.sensor_pose(&sim.body_at(rest_t));
            let obl_rest = sim.body_at(rest_t).obl;
            let mut out = Vec::new();
            for &(i, kind) in reps {
                let seg = &sim.segs[i];
                let (mut peak, mut bmax, mut bmin) = (0.0_f64, f64::MIN, f64::MAX);
                let steps = 400;
                for j in 0..=steps {
                    let t = seg.t0 + (seg.t1 - seg.t0) * j as f64 / steps as f64;
                    let body = sim.body_at(t);
                    let db = body.obl - obl_rest;
                    bmax = bmax.max(db);
                    bmin = bmin.min(db);
                    match cfg.placement {
                        Placement::Ankle => {
                            let (_, q) = sim.sensor_pose(&body);
                            peak = peak.max((q_rest.inverse() * q).angle().to_degrees());
                        }
                        Placement::Pelvis => {
                            if db.abs() > peak.abs() {
                                peak = db;
                            }
                        }
                    }
                }
                let Act::Rep(r) = &seg.act else { continue };
                let flags = match kind {
                    None => Vec::new(),
                    Some(k) => {
                        let v = match k {
                            FlagKind::HipHike => bmax,
                            FlagKind::PelvicDrop => bmin,
                            FlagKind::TrunkSway => r.sway,
                            FlagKind::HipFlexionDrift => r.flex,
                            FlagKind::Momentum | FlagKind::PartialRange => peak,
                        };
                        vec![TruthFlag {
                            kind: k,
                            value_deg: (v * 100.0).round() / 100.0,
                        }]
                    }
                };
                out.push(TruthRep {
                    start_s: seg.t0,
                    end_s: seg.t1,
                    peak_deg: (peak * 100.0).round() / 100.0,
                    flags,
                });
            }
            sets.push(TruthSet {
                start_s: out.first().map_or(0.0, |r| r.start_s),
                end_s: out.last().map_or(0.0, |r| r.end_s),
                rep_count: out.len(),
                reps: out,
            });
        }
        let distractions = plan
            .distractions
            .iter()
            .filter(|(a, b, _)| *b > 0.0 && *a < duration)
            .map(|(a, b, l)| format!("{:.1}-{:.1} s: {l}", a.max(0.0), b.min(duration)))
            .collect();
        let truth = Truth {
            config: cfg.clone(),
            duration_s: duration,
            distractions,
            sets,
        };
        Ok((sim, truth))
    }

    fn body_at(&self, t: f64) -> Body {
        let i = self.segs.partition_point(|s| s.t0 <= t).saturating_sub(1);
        let seg = &self.segs[i];
        let dur = seg.t1 - seg.t0;
        let tau = (t - seg.t0).clamp(0.0, dur);
        let u = if dur > 0.0 { tau / dur } else { 1.0 };
        let leg = self.build.thigh + self.build.shank + 0.1;
        let g0 = posture_geo(seg.from.posture, self.s, leg);
        let g1 = posture_geo(seg.to.posture, self.s, leg);
        let ub = smooth(u);
        let lerp = |a: f64, b: f64| a + (b - a) * ub;
        let mut b = Body {
            root: seg.from.root + (seg.to.root - seg.from.root) * ub,
            heading: seg.from.heading + wrap(seg.to.heading - seg.from.heading) * ub,
            post: slerp(&g0.rot, &g1.rot, ub),
            height: lerp(g0.height, g1.height),
            hip0: lerp(g0.hip, g1.hip),
            knee0: lerp(g0.knee, g1.knee),
            sway: lerp(g0.sway, g1.sway),
            shift: V3::zeros(),
            obl: 0.0,
            pitch: 0.0,
            yaw: 0.0,
            lean: 0.0,
            abd: 0.0,
            flex: 0.0,
            knee: 0.0,
            rot: 0.0,
            imp: V3::zeros(),
            mount: slerp(&seg.mount0, &seg.mount1, ub),
            wobble: Q::identity(),
        };
        let s = self.s;
        let ankle = self.placement == Placement::Ankle;
        match &seg.act {
            Act::Still(shifts) => {
                for &(c, w, a) in shifts {
                    b.lean += a * bump(tau, c, w);
                }
            }
            Act::Rep(r) => self.rep(&mut b, r, u, tau),
            Act::Move(g) => {
                let e = envelope(tau, dur, 0.7);
                // trapezoid speed profile along the straight line
                let d = seg.to.root - seg.from.root;
                let len = d.norm();
                let ramp = (dur / 3.0).min(1.0);
                let pos = if dur <= 0.0 {
                    1.0
                } else {
                    let vmax = 1.0 / (dur - ramp);
                    let p = |x: f64| {
                        if x < ramp {
                            vmax * (x / 2.0 - ramp / (2.0 * PI) * (PI * x / ramp).sin())
                        } else {
                            vmax * (ramp / 2.0 + (x - ramp))
                        }
                    };
                    if tau <= dur / 2.0 {
                        p(tau)
                    } else {
                        1.0 - p(dur - tau)
                    }
                };
                b.root = seg.from.root + d * pos;
                let ht = if len < 0.5 {
                    seg.from.heading
                } else if g.sideways {
                    {
                        let h = d.y.atan2(d.x);
                        if wrap(h - seg.from.heading).abs() > FRAC_PI_2 {
                            h + PI
                        } else {
                            h
                        }
                    }
                } else {
                    (-d.x).atan2(d.y)
                };
                // turns take about a second per 100°, squeezed only by short moves
                let turn = |a: f64| (a.abs() / 1.8).max(0.5).min(dur / 3.0).max(1e-3);
                let (d0, d1) = (wrap(ht - seg.from.heading), wrap(seg.to.heading - ht));
                let (tr0, tr1) = (turn(d0), turn(d1));
                b.heading = seg.from.heading
                    + d0 * smooth(tau / tr0)
                    + d1 * smooth((tau - (dur - tr1)) / tr1);
                let ph = g.cad * tau;
                let w = TAU * ph;
                b.flex += e * (g.hip_mid + g.hip_amp * w.sin());
                b.knee += e * (g.knee_mid + g.knee_amp * (w - 1.3).sin());
                b.abd += e * g.abd_amp * (1.0 - w.cos()) / 2.0;
                b.shift.z += e * g.bob * (2.0 * w).cos() - e * g.bob;
                b.pitch += e * g.pitch;
                b.lean += e * 2.0 * (w + 0.4).sin();
                b.yaw += e * 4.0 * w.sin();
                b.imp += self.strikes(tau, dur, g.cad, g.a_imp, b.heading);
            }
            Act::Jumps(j) => {
                let cyc = j.cycle();
                let x = tau.min(j.n as f64 * cyc);
                let k = ((x / cyc).floor() as usize).min(j.n - 1);
                let xl = x - k as f64 * cyc;
                let z = j.z(xl);
                b.shift.z += z;
                // a softplus bend (m) so the knee's speed has no kink at z = 0,
                // and a tuck in the air
                let eps = 0.02;
                let bend = eps * ((-z / eps).exp().ln_1p() - std::f64::consts::LN_2);
                b.knee += bend * 300.0 + 25.0 * smooth(z / 0.2);
                b.flex += bend * 150.0;
                b.pitch += bend * 60.0;
                for kk in 0..j.n {
                    let tl = kk as f64 * cyc + j.landing();
                    let dt = tau - tl;
                    let a = if ankle { j.a_imp } else { 0.35 * j.a_imp };
                    let (f, tc) = if ankle { (22.0, 0.018) } else { (12.0, 0.03) };
                    b.imp.z += impact(dt, a, f, tc);
                }
            }
            Act::Kick { own_leg, a_imp } => {
                if *own_leg {
                    b.yaw += -s * 18.0 * bump(tau, 0.8, 0.35);
                    b.pitch += -6.0 * bump(tau, 0.55, 0.3) + 8.0 * bump(tau, 0.9, 0.3);
                    b.lean += 4.0 * bump(tau, 0.85, 0.35);
                    b.flex += -30.0 * bump(tau, 0.55, 0.3) + 70.0 * bump(tau, 0.85, 0.22);
                    b.knee += 100.0 * bump(tau, 0.6, 0.3) + 15.0 * bump(tau, 1.0, 0.3);
                    let fwd = rz(b.heading) * V3::new(0.0, 1.0, 0.0);
                    if ankle {
                        b.imp += fwd * impact(tau - 0.8, *a_imp * 0.4, 25.0, 0.012);
                    }
                } else {
                    b.lean += 3.0 * bump(tau, 0.8, 0.4);
                    b.pitch += 8.0 * bump(tau, 0.8, 0.4);
                    b.imp.z += impact(tau - 0.7, a_imp * 0.5, 20.0, 0.02);
                }
            }
            Act::Transition => {
                b.knee += 100.0 * bump(u, 0.5, 0.5);
                b.flex += 70.0 * bump(u, 0.5, 0.5);
                b.pitch += 25.0 * bump(u, 0.45, 0.45);
                b.yaw += 6.0 * bump(u, 0.6, 0.3);
            }
            Act::OtherLeg { period, n, roll } => {
                let mut w = 0.0;
                for k in 0..*n {
                    w += bump(tau, 0.5 + (k as f64 + 0.5) * period, 0.4 * period);
                }
                // the whole body leans onto the sensored stance leg, whose
                // shank stays nearly upright and rolls onto its edge
                b.lean += -2.0 * w;
                b.abd += -2.0 * w + roll * w;
                b.obl += -1.5 * w;
            }
            Act::Stretch { knee } => {
                let e = envelope(tau, dur, 1.5);
                b.knee += knee * e;
                b.flex += -12.0 * e;
                b.lean += 3.0 * e;
            }
            Act::Swing { amp } => {
                let x = bump(u, 0.45, 0.45);
                b.abd += amp * x;
                b.flex += 0.3 * amp * x;
            }
            Act::Shake { freq, amp } => {
                let e = envelope(tau, dur, 0.4);
                b.flex += 10.0 * e;
                b.knee += 15.0 * e;
                b.abd += e * amp * (TAU * freq * tau).sin();
                b.rot += e * amp * (TAU * freq * 1.3 * tau).sin();
            }
            Act::Retape => {
                let e = envelope(tau, dur, 1.0);
                if b.post == Q::identity() {
                    b.knee += 60.0 * e;
                    b.flex += 50.0 * e;
                    b.pitch += 30.0 * e;
                }
                b.wobble =
                    rx(e * 0.2 * (TAU * 2.3 * tau).sin()) * rz(e * 0.25 * (TAU * 1.7 * tau).sin());
            }
        }
        // postural sway, the same for the whole session
        let sw = |i: usize| {
            let (a, f, p) = self.sway[i];
            a * (TAU * f * t + p).sin()
        };
        b.lean += b.sway * (sw(0) + sw(1) + sw(2));
        b.yaw += b.sway * (sw(3) + sw(4));
        b.pitch += b.sway * sw(5);
        b.shift.x += b.sway * 0.004 * (sw(0) - sw(2));
        b
    }

    /// The body's part of a rep at phase `u` (see [`RepPlan`]).
    fn rep(&self, b: &mut Body, r: &RepPlan, u: f64, tau: f64) {
        let s = self.s;
        let m = r.main(u);
        let un = if r.peak_main > 1e-9 {
            m / r.peak_main
        } else {
            0.0
        };
        let env = (PI * u).sin().powi(2);
        let mut part = 0.0;
        for &(a, f, p) in &r.partner {
            part += a * (TAU * f * tau + p).sin();
        }
        part *= env;
        match self.drill {
            Drill::Standing => {
                b.abd += m + part;
                b.flex += r.flex * un;
                b.rot += 4.0 * un;
                b.shift.x += -s * r.shift * un;
            }
            Drill::SideLying => {
                b.abd += m + part;
                b.flex += r.flex * un;
                b.yaw += r.yaw * un;
            }
            Drill::Seated => {
                b.abd += m + part;
                b.knee -= r.flex * un;
            }
            Drill::Hitch => {
                b.shift.z -= 0.012 * un;
            }
            Drill::StepUp => {
                b.shift.z += r.rise * un;
                b.shift.y += 0.08 * un;
                b.pitch += 10.0 * un;
            }
            Drill::Bridge => {
                b.shift.y += r.rise * un;
                b.pitch += m;
            }
        }
        let beta = if self.drill == Drill::Hitch {
            -m + r.hike * bump(u, 0.84, 0.16)
        } else {
            r.obl * un + r.hike * un.powf(1.3) - r.drop * un.powf(1.2)
        };
        b.obl += beta;
        let sway = r.sway * (TAU * u).sin() * (PI * u).sin() / 0.7698;
        b.lean += r.lean * un + sway;
        if self.drill != Drill::SideLying {
            b.yaw += r.yaw * un;
        }
        b.yaw += 0.4 * sway + 0.1 * s * r.flex * un;
        b.shift.x += 0.006 * self.sf * sway;
        if let Some((uc, size)) = r.slip {
            let k = bump(u, uc, 0.08);
            b.lean += size * k;
            b.shift.x += -s * 0.03 * k;
        }
    }

    /// Foot-strike ringing at the sensor during a gait, world frame.
    fn strikes(&self, tau: f64, dur: f64, cad: f64, a_imp: f64, heading: f64) -> V3 {
        let ankle = self.placement == Placement::Ankle;
        let ph = cad * tau;
        let k0 = ph.floor() as i64;
        let mut z = 0.0;
        let mut fwd = 0.0;
        for k in (k0 - 2)..=k0 {
            for (off, own) in [(0.25, true), (0.75, false)] {
                let ts = (k as f64 + off) / cad;
                if ts < 0.0 {
                    continue;
                }
                let e = envelope(ts, dur, 0.7);
                let (a, f, tc) = match (ankle, own) {
                    (true, true) => (a_imp, 24.0, 0.016),
                    (true, false) => (0.25 * a_imp, 15.0, 0.03),
                    (false, _) => (0.3 * a_imp, 12.0, 0.03),
                };
                let v = e * impact(tau - ts, a, f, tc);
                z += v;
                fwd += -0.4 * v;
            }
        }
        V3::new(0.0, 0.0, z) + rz(heading) * V3::new(0.0, fwd, 0.0)
    }

    /// The sensor's position (world, m) and orientation (sensor to world).
    fn sensor_pose(&self, b: &Body) -> (V3, Q) {
        let s = self.s;
        let sf = self.sf;
        let base = rz(b.heading) * b.post;
        let obl = b.obl.to_radians();
        let obl_rot = if self.drill == Drill::Bridge {
            rz(sf * obl)
        } else {
            ry(-sf * obl)
        };
        let pel = base
            * ry(sf * b.lean.to_radians())
            * rz(b.yaw.to_radians())
            * obl_rot
            * rx(-b.pitch.to_radians());
        let centre = b.root + V3::new(0.0, 0.0, b.height) + base * b.shift;
        match self.placement {
            Placement::Pelvis => {
                let p = centre + pel * V3::new(0.0, -0.11, -0.03) + b.imp;
                (p, pel * self.sacrum * b.mount * b.wobble)
            }
            Placement::Ankle => {
                let hip = centre + pel * V3::new(s * self.build.hip_w, 0.0, 0.0);
                let abd = b.abd.to_radians();
                let abd_rot = if self.drill == Drill::Seated {
                    rz(-s * abd)
                } else {
                    ry(-s * abd)
                };
                let thigh =
                    pel * abd_rot * rx((b.hip0 + b.flex).to_radians()) * rz(s * b.rot.to_radians());
                let knee = hip + thigh * V3::new(0.0, 0.0, -self.build.thigh);
                let shank = thigh * rx(-(b.knee0 + b.knee).max(0.0).to_radians());
                let p = knee + shank * V3::new(0.0, self.build.guard, -self.build.shank) + b.imp;
                (p, shank * b.mount * b.wobble)
            }
        }
    }

    fn pose(&self, t: f64) -> (V3, Q) {
        self.sensor_pose(&self.body_at(t))
    }

    /// The sample at time `t` before sensor errors: specific force, m/s², and angular rate, °/s.
    fn ideal(&self, t: f64) -> (V3, V3) {
        let h = FD_STEP_S;
        let (p0, q0) = self.pose(t - h);
        let (p1, q1) = self.pose(t);
        let (p2, q2) = self.pose(t + h);
        let a = (p2 - 2.0 * p1 + p0) / (h * h);
        let f = q1.inverse() * (a + V3::new(0.0, 0.0, STANDARD_GRAVITY));
        let w = (q0.inverse() * q2).scaled_axis() / (2.0 * h);
        (f, w.map(f64::to_degrees))
    }

    fn in_gap(&mut self, t: f64) -> bool {
        while self.gap_i < self.gaps.len() && self.gaps[self.gap_i].1 <= t {
            self.gap_i += 1;
        }
        // gaps may overlap: check a few ahead
        self.gaps[self.gap_i..]
            .iter()
            .take_while(|g| g.0 <= t)
            .any(|g| t < g.1)
    }
}

impl Planner<'_> {
    fn plan(&mut self, leg: f64) -> Plan {
        let cfg = self.cfg;
        let _ = leg;
        let spot = self.spot;
        // the start of the recording
        let mut rests = Vec::new();
        let mut sets = Vec::new();
        let mut gaps = Vec::new();
        match cfg.lead_in_s {
            Some(x) => {
                self.still(x.max(0.0), false, None);
            }
            None if cfg.walking => {
                let before = uni(&mut self.rng, 1.0, 4.0);
                let dur = before + uni(&mut self.rng, 3.0, 6.0);
                self.t = -before;
                let start = spot.root
                    + rz(spot.heading + uni(&mut self.rng, -1.0, 1.0))
                        * V3::new(0.0, -dur * 2.4, 0.0);
                self.place = Place {
                    root: V3::new(start.x, start.y, 0.0),
                    heading: spot.heading,
                    posture: Posture::Stand,
                };
                let line = V3::new(spot.root.x, spot.root.y, 0.0)
                    + rz(spot.heading) * V3::new(0.0, -0.6, 0.0);
                let g = self.gait("jog");
                self.travel(
                    dur,
                    line,
                    Some(spot.heading),
                    g,
                    "jogs to the line (the recording starts mid-jog)",
                );
                if spot.posture != Posture::Stand {
                    let l = match spot.posture {
                        Posture::Sit => "sits on the machine",
                        Posture::Supine => "lies down on the back",
                        _ => "gets down on the grass",
                    };
                    let d = uni(&mut self.rng, 2.4, 3.6);
                    let m = self.mount;
                    self.push(d, spot, m, Act::Transition, Some(l));
                } else {
                    let g = Gait {
                        a_imp: 8.0,
                        ..self.gait("walk")
                    };
                    self.travel(1.2, spot.root, Some(spot.heading), g, "steps into place");
                }
                let pre = uni(&mut self.rng, 0.5, 3.0);
                self.still(pre, false, None);
            }
            None => {
                let pre = uni(&mut self.rng, 0.5, 3.0);
                self.still(pre, false, None);
            }
        }
        let count_period = match self.player {
            Player::Youth => uni(&mut self.rng, 1.7, 2.3),
            Player::Forward => uni(&mut self.rng, 1.9, 2.6),
            Player::Adult => uni(&mut self.rng, 2.1, 3.0),
            Player::Keeper => uni(&mut self.rng, 2.3, 3.2),
            Player::Returning => uni(&mut self.rng, 2.5, 3.4),
        } * if self.drill == Drill::Hitch || self.drill == Drill::StepUp {
            1.15
        } else {
            1.0
        };
        for si in 0..cfg.sets {
            // a set never starts before a short still (the neutral)
            rests.push(self.t - 0.25);
            let reps = self.set(si, count_period);
            sets.push(reps);
            // whistle and the rest after it
            if si + 1 < cfg.sets {
                let rest = uni(&mut self.rng, cfg.rest_min_s, cfg.rest_max_s);
                let pre = uni(&mut self.rng, 1.5, 3.0);
                let t_end = self.t + rest;
                let post = self.after_set(count_period);
                let budget = (t_end - self.t - pre).max(0.0);
                let (w0, w1) = self.between_sets(budget);
                if cfg.walking
                    && cfg.gaps_per_min > 0.0
                    && w1 - w0 > 5.0
                    && chance(&mut self.rng, 0.45)
                {
                    let len = uni(&mut self.rng, 1.0, 10.0).min(w1 - w0 - 3.0);
                    let g0 = uni(&mut self.rng, w0 + 1.0, (w1 - 1.0 - len).max(w0 + 1.0));
                    gaps.push((g0, g0 + len));
                }
                let _ = post;
                let left = (t_end - self.t).max(0.3);
                self.still(left, false, None);
            } else {
                self.after_set(count_period);
                if cfg.walking && chance(&mut self.rng, 0.6) {
                    let spot = self.spot;
                    if spot.posture != Posture::Stand {
                        let r = V3::new(spot.root.x, spot.root.y, 0.0);
                        self.transition(Posture::Stand, r, "gets up");
                    }
                    let d = uni(&mut self.rng, 3.0, 6.0);
                    let to = self.point_near(d * 1.2);
                    let g = self.gait("walk");
                    self.travel(d, to, None, g, "walks off");
                    let tail = uni(&mut self.rng, 0.5, 2.0);
                    self.still(tail, false, None);
                } else {
                    let tail = uni(&mut self.rng, 1.0, 4.0);
                    self.still(tail, false, None);
                }
            }
        }
        Plan {
            segs: std::mem::take(&mut self.segs),
            sets,
            rests,
            distractions: std::mem::take(&mut self.distractions),
            gaps,
            end: self.t,
        }
    }

    /// After the last rep: maybe a rep begun on the next count and dropped
    /// at the whistle, then a moment's still.
    fn after_set(&mut self, period: f64) -> f64 {
        let t0 = self.t;
        if chance(&mut self.rng, 0.35) {
            let wait = uni(&mut self.rng, 0.2, 0.6) * period;
            self.still(wait, false, None);
            let base = self.base_amp();
            let share = uni(&mut self.rng, 0.15, 0.3);
            let mut r = self.rep_shape(base * share, base * 2.0);
            r.obl *= 0.3;
            r.lean *= 0.3;
            let dur = uni(&mut self.rng, 0.6, 0.9);
            let p = self.place;
            let m = self.mount;
            self.push(
                dur,
                p,
                m,
                Act::Rep(Box::new(r)),
                Some("rep abandoned at the whistle"),
            );
        }
        let d = uni(&mut self.rng, 0.8, 2.0);
        self.still(d, false, None);
        self.t - t0
    }

    fn base_amp(&mut self) -> f64 {
        let r = &mut self.rng;
        let a = match self.drill {
            Drill::Standing => uni(r, 28.0, 42.0),
            Drill::SideLying => uni(r, 32.0, 48.0),
            Drill::Seated => uni(r, 26.0, 42.0),
            Drill::Hitch => uni(r, 7.5, 13.0),
            Drill::StepUp => uni(r, 30.0, 45.0),
            Drill::Bridge => uni(r, 18.0, 28.0),
        };
        let p = match self.player {
            Player::Youth => uni(r, 1.0, 1.12),
            Player::Adult => uni(r, 0.85, 1.0),
            Player::Keeper => uni(r, 0.9, 1.05),
            Player::Forward => uni(r, 0.95, 1.08),
            Player::Returning => uni(r, 0.7, 0.85),
        };
        // a hitch's drop is the exercise: 5-12° whoever does it
        let p = if self.drill == Drill::Hitch {
            p.clamp(0.9, 1.0)
        } else {
            p
        };
        a * p
    }

    /// A clean rep's Fourier profile with amplitude `amp` under the limit `lim`.
    fn rep_shape(&mut self, amp: f64, lim: f64) -> RepPlan {
        let sig = match self.player {
            Player::Youth => 1.4,
            Player::Adult => 1.1,
            _ => 1.0,
        };
        let r = &mut self.rng;
        let sd = [0.3, 0.16, 0.09, 0.05];
        let mut c = [0.0; 4];
        let mut d = [0.0; 4];
        for k in 0..4 {
            c[k] = gauss(r) * sd[k] * sig;
            d[k] = gauss(r) * sd[k] * sig;
        }
        // quick up, slower down
        d[0] += uni(r, 0.15, 0.45);
        let resist = self.resist;
        if resist == Resist::Band {
            // the band snaps the leg back: a sharper top, a quicker return
            c[1] -= 0.15;
        }
        let partner = if resist == Resist::Partner {
            [
                (uni(r, 0.5, 2.0), uni(r, 0.6, 1.4), uni(r, 0.0, TAU)),
                (uni(r, 0.2, 0.6), uni(r, 1.4, 2.5), uni(r, 0.0, TAU)),
                (uni(r, 0.05, 0.2), uni(r, 3.0, 4.5), uni(r, 0.0, TAU)),
            ]
        } else {
            [(0.0, 1.0, 0.0); 3]
        };
        let (obl, lean, yaw, shift) = match self.drill {
            Drill::Standing => (
                uni(r, 0.5, 3.0),
                uni(r, 0.0, 2.0),
                uni(r, -2.0, 2.0),
                uni(r, 0.01, 0.03),
            ),
            Drill::SideLying => (uni(r, 0.8, 3.2), uni(r, 0.0, 0.8), uni(r, -3.0, 3.0), 0.0),
            Drill::Seated => (0.0, 0.0, uni(r, -1.0, 1.0), 0.0),
            Drill::Hitch => (0.0, uni(r, -1.0, 1.0), uni(r, -1.5, 1.5), 0.0),
            _ => (uni(r, -2.0, 2.0), uni(r, -1.0, 1.0), uni(r, -1.5, 1.5), 0.0),
        };
        let mut rp = RepPlan {
            c,
            d,
            norm: 1.0,
            amp,
            lim,
            peak_main: 0.0,
            flex: uni(r, 0.0, 4.0),
            obl,
            hike: if self.drill == Drill::Hitch {
                uni(r, 0.0, 1.5)
            } else {
                0.0
            },
            drop: 0.0,
            sway: 0.0,
            lean,
            yaw,
            shift,
            rise: match self.drill {
                Drill::StepUp => uni(r, 0.2, 0.3),
                Drill::Bridge => uni(r, 0.12, 0.2),
                _ => 0.0,
            },
            partner,
            slip: None,
        };
        if self.wet && self.drill == Drill::Standing && chance(r, 0.05) {
            rp.slip = Some((uni(r, 0.3, 0.7), uni(r, -1.5, 1.5)));
        }
        rp.finish();
        rp
    }

    /// One set to the squad's count; returns its reps (segment, flag).
    fn set(&mut self, si: usize, period0: f64) -> Vec<(usize, Option<FlagKind>)> {
        let cfg = self.cfg;
        let n = self.rng.gen_range(cfg.reps_min..=cfg.reps_max);
        let mut a_set = self.base_amp();
        let mut period = period0 * uni(&mut self.rng, 0.92, 1.08);
        if self.resist == Resist::AnkleWeight {
            period *= 1.15;
            a_set *= 0.92;
        }
        if si == 0 && self.cold {
            // stiff first set in the cold
            a_set *= 0.85;
            period *= 1.08;
        }
        let slow_last = chance(&mut self.rng, 0.3) && n >= 6;
        let duty = uni(&mut self.rng, 0.75, 0.92);
        let lim_ratio = uni(&mut self.rng, 1.05, 1.35);
        let lag_sd = match self.player {
            Player::Youth => 0.12,
            Player::Returning => 0.1,
            _ => 0.06,
        } * period;
        let mut lag = 0.0;
        let mut out = Vec::new();
        let t_first = self.t;
        let mut prev_end = self.t;
        let mut count = 0usize;
        while out.len() < n {
            let i = out.len();
            let slow = slow_last && i + 3 >= n;
            let per = if slow { period * 1.8 } else { period };
            let tc = t_first
                + count as f64 * period
                + if slow {
                    (i + 3 - n) as f64 * 0.8 * period
                } else {
                    0.0
                };
            count += 1;
            // a missed count now and then
            if i > 0 && chance(&mut self.rng, 0.04) {
                continue;
            }
            lag = (lag * 0.7 + gauss(&mut self.rng) * lag_sd).clamp(-0.15 * period, 0.5 * period);
            let start = if i == 0 {
                tc
            } else {
                (tc + lag).max(prev_end + 0.12)
            };
            let fatigue = 1.0 - 0.12 * i as f64 / n.max(1) as f64 * uni(&mut self.rng, 0.0, 1.0);
            let mut amp = a_set * fatigue * (1.0 + 0.06 * gauss(&mut self.rng));
            let mut lim = a_set * lim_ratio;
            let mut dur = per * duty * uni(&mut self.rng, 0.92, 1.08);
            if slow {
                amp = lim * uni(&mut self.rng, 1.6, 2.4);
                dur = per * uni(&mut self.rng, 0.85, 0.95);
            }
            let comp = if !self.comps.is_empty() && chance(&mut self.rng, cfg.compensation_rate) {
                Some(self.comps[self.rng.gen_range(0..self.comps.len())])
            } else {
                None
            };
            let scale = match self.player {
                Player::Adult => 1.15,
                Player::Youth => 1.05,
                _ => 1.0,
            };
            if comp == Some(FlagKind::PartialRange) {
                amp = a_set * uni(&mut self.rng, 0.35, 0.55);
                lim = a_set * 2.0;
            }
            if comp == Some(FlagKind::Momentum) {
                amp = a_set * uni(&mut self.rng, 1.0, 1.12);
                lim = a_set * 1.6;
                dur = uni(&mut self.rng, 0.65, 1.0);
            } else {
                dur = dur.max(1.4);
            }
            let mut r = self.rep_shape(amp, lim);
            match comp {
                Some(FlagKind::Momentum) => {
                    r.d[0] = uni(&mut self.rng, 0.8, 1.1);
                    r.c[1] = -uni(&mut self.rng, 0.1, 0.3);
                }
                Some(FlagKind::HipFlexionDrift) => r.flex = uni(&mut self.rng, 14.0, 26.0),
                Some(FlagKind::HipHike) => {
                    r.hike = if self.drill == Drill::SideLying {
                        uni(&mut self.rng, 8.0, 15.0)
                    } else if self.drill == Drill::Hitch {
                        uni(&mut self.rng, 6.5, 10.0) + 0.25 * amp
                    } else {
                        uni(&mut self.rng, 6.5, 12.0) * scale
                    };
                    r.lean = r.lean.min(1.0);
                }
                Some(FlagKind::PelvicDrop) => {
                    r.drop = uni(&mut self.rng, 6.5, 10.0) * scale + r.obl.max(0.0);
                    r.lean = r.lean.min(0.5);
                }
                Some(FlagKind::TrunkSway) => r.sway = uni(&mut self.rng, 6.5, 9.5),
                _ => {}
            }
            r.finish();
            let p = self.place;
            let m = self.mount;
            // neutral until the rep starts, then the rep
            let wait = start - self.t;
            self.still(wait, false, None);
            let idx = self.push(dur, p, m, Act::Rep(Box::new(r)), None);
            prev_end = self.t;
            out.push((idx, comp));
        }
        out
    }
}

impl Iterator for TeamSimulator {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        loop {
            if self.k >= self.n {
                return None;
            }
            let k = self.k;
            self.k += 1;
            let mut t = k as f64 / self.rate;
            let jitter: f64 = self.rng.gen::<f64>() - 0.5;
            let drop_draw: f64 = self.rng.gen();
            if self.noise > 0.0 {
                t += jitter * 0.3 / self.rate;
            }
            let t = t.max(0.0);
            if self.in_gap(t) || drop_draw < self.drop {
                continue;
            }
            let (f, w) = self.ideal(t);
            let mut acc = f.component_mul(&(V3::repeat(1.0) + self.acc_scale)) + self.acc_bias;
            let bias =
                self.bias_warm + (self.bias_cold - self.bias_warm) * (-t / self.warm_tau).exp();
            let mut gyr = w + bias;
            if self.noise > 0.0 {
                for i in 0..3 {
                    acc[i] += gauss(&mut self.rng) * self.dev.acc_noise * self.noise;
                    gyr[i] += gauss(&mut self.rng) * self.dev.gyr_noise * self.noise;
                }
                let ql = self.dev.acc_lsb * STANDARD_GRAVITY;
                acc = acc.map(|v| (v / ql).round() * ql);
                let gl = self.dev.gyr_lsb;
                gyr = gyr.map(|v| (v / gl).round() * gl);
            }
            let ar = self.dev.acc_range * STANDARD_GRAVITY;
            let gr = self.dev.gyr_range;
            acc = acc.map(|v| v.clamp(-ar, ar));
            gyr = gyr.map(|v| v.clamp(-gr, gr));
            return Some(Sample { t, acc, gyr });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Side;

    fn clean(ex: Exercise, pl: Placement) -> SimConfig {
        let mut c = SimConfig::new(ex, pl, Side::Right);
        c.model = crate::source::sim::SimModel::Team;
        c.noise = 0.0;
        c.gyro_bias_dps = 0.0;
        c.drop_rate = 0.0;
        c.gaps_per_min = 0.0;
        c.sets = 2;
        c.reps_min = 8;
        c.reps_max = 10;
        c.rest_min_s = 20.0;
        c.rest_max_s = 30.0;
        c
    }

    #[test]
    fn every_exercise_and_placement_builds_with_sets_in_range() {
        for &ex in Exercise::ALL {
            for &pl in Placement::ALL {
                let mut c = SimConfig::new(ex, pl, Side::Right);
                c.reps_min = 5;
                c.reps_max = 9;
                c.sets = 3;
                if c.validate().is_err() {
                    assert!(TeamSimulator::new(&c).is_err());
                    continue;
                }
                for seed in 1..4 {
                    c.seed = seed;
                    let (_, t) =
                        TeamSimulator::new(&c).unwrap_or_else(|e| panic!("{ex} {pl}: {e}"));
                    assert_eq!(t.sets.len(), 3);
                    for s in &t.sets {
                        assert!((5..=9).contains(&s.rep_count), "{ex} {pl}: {}", s.rep_count);
                        assert_eq!(s.rep_count, s.reps.len());
                        for w in s.reps.windows(2) {
                            assert!(w[0].end_s <= w[1].start_s);
                        }
                    }
                    for w in t.sets.windows(2) {
                        let rest = w[1].start_s - w[0].end_s;
                        assert!(
                            rest >= c.rest_min_s - 1e-6 && rest <= c.rest_max_s + 1e-6,
                            "rest {rest}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn still_lead_in_reads_gravity_and_no_rotation() {
        let mut c = clean(Exercise::SideLyingAbduction, Placement::Ankle);
        c.lead_in_s = Some(2.0);
        let (sim, _) = TeamSimulator::new(&c).unwrap();
        for smp in sim.take_while(|s| s.t < 1.5) {
            assert!(
                (smp.acc.norm() - STANDARD_GRAVITY).abs() < 0.05,
                "{}",
                smp.acc.norm()
            );
            assert!(smp.gyr.norm() < 1.0, "{}", smp.gyr.norm());
        }
    }

    /// Integrates the gyro from `t0` to `t1`, returning the largest angle and the last.
    fn integrate(samples: &[Sample], t0: f64, t1: f64) -> (f64, f64) {
        let mut q = Q::identity();
        let (mut most, mut last) = (0.0_f64, 0.0);
        let mut prev: Option<&Sample> = None;
        for s in samples.iter().filter(|s| s.t >= t0 && s.t <= t1) {
            if let Some(p) = prev {
                let w = (p.gyr + s.gyr) / 2.0;
                q *= Q::from_scaled_axis(w.map(f64::to_radians) * (s.t - p.t));
                last = q.angle().to_degrees();
                most = most.max(last);
            }
            prev = Some(s);
        }
        (most, last)
    }

    #[test]
    fn ankle_rep_returns_and_its_peak_matches_the_gyro() {
        for ex in [
            Exercise::StandingCableAbduction,
            Exercise::SideLyingAbduction,
            Exercise::SeatedMachineAbduction,
        ] {
            let mut c = clean(ex, Placement::Ankle);
            c.compensation_rate = 0.0;
            c.lead_in_s = Some(1.0);
            c.sets = 1;
            c.seed = 7;
            let (sim, t) = TeamSimulator::new(&c).unwrap();
            let set = &t.sets[0];
            let end = set.end_s + 0.5;
            let v: Vec<Sample> = sim.take_while(|s| s.t < end).collect();
            for r in set.reps.iter().take(4) {
                let (most, last) = integrate(&v, set.start_s - 0.25, r.end_s);
                assert!(
                    (most - r.peak_deg).abs() < 3.0,
                    "{ex}: {most} vs {}",
                    r.peak_deg
                );
                let (_, back) = integrate(&v, r.start_s, r.end_s);
                assert!(back < 2.0, "{ex}: rep ends {back}° from its start");
                let _ = last;
                assert!(r.peak_deg > 10.0);
            }
        }
    }

    #[test]
    fn timestamps_rise_and_the_rate_holds() {
        let mut c = SimConfig::new(
            Exercise::StandingCableAbduction,
            Placement::Pelvis,
            Side::Right,
        );
        c.model = crate::source::sim::SimModel::Team;
        c.sets = 1;
        c.rate_hz = 50.0;
        c.drop_rate = 0.0;
        c.gaps_per_min = 0.0;
        c.reps_min = 5;
        c.reps_max = 6;
        let (sim, t) = TeamSimulator::new(&c).unwrap();
        let v: Vec<Sample> = sim.collect();
        assert!(v.windows(2).all(|w| w[1].t >= w[0].t));
        assert!(v.iter().all(|s| s.is_finite()));
        let rate = (v.len() - 1) as f64 / (v.last().unwrap().t - v[0].t);
        assert!((rate / 50.0 - 1.0).abs() < 0.05, "rate {rate}");
        assert!((v.last().unwrap().t - t.duration_s).abs() < 0.1);
    }

    #[test]
    fn sacral_sensor_reads_gravity_on_plus_y_when_mounted_square() {
        let mut c = clean(Exercise::StandingCableAbduction, Placement::Pelvis);
        c.random_mounting = false;
        c.lead_in_s = Some(2.0);
        let (sim, _) = TeamSimulator::new(&c).unwrap();
        for smp in sim.take_while(|s| s.t < 1.5) {
            assert!((smp.acc.y - STANDARD_GRAVITY).abs() < 0.1, "{:?}", smp.acc);
            assert!(
                smp.acc.x.abs() < 0.3 && smp.acc.z.abs() < 0.3,
                "{:?}",
                smp.acc
            );
        }
    }

    #[test]
    fn long_drops_fall_between_sets_only() {
        for seed in 1..6 {
            let mut c = SimConfig::new(
                Exercise::StandingCableAbduction,
                Placement::Ankle,
                Side::Right,
            );
            c.model = crate::source::sim::SimModel::Team;
            c.seed = seed;
            c.rate_hz = 25.0;
            let (sim, t) = TeamSimulator::new(&c).unwrap();
            let v: Vec<Sample> = sim.collect();
            for w in v.windows(2) {
                if w[1].t - w[0].t > 0.5 {
                    for s in &t.sets {
                        assert!(
                            w[1].t < s.start_s - 1.0 || w[0].t > s.end_s,
                            "gap {} in a set",
                            w[0].t
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn edge_configs_never_panic_and_keep_the_truth_in_range() {
        let mut n = 0;
        for &ex in Exercise::ALL {
            for &pl in Placement::ALL {
                for seed in 0..3u64 {
                    let mut c = SimConfig::new(ex, pl, Side::Left);
                    if c.validate().is_err() {
                        continue;
                    }
                    c.seed = seed;
                    c.sets = 2;
                    (c.reps_min, c.reps_max) = if seed == 0 { (1, 1) } else { (3, 4) };
                    c.rest_min_s = 12.0;
                    c.rest_max_s = if seed == 2 { 12.0 } else { 40.0 };
                    c.rate_hz = if seed == 1 { 10.0 } else { 25.0 };
                    c.noise = 10.0;
                    c.drop_rate = 0.5;
                    c.gaps_per_min = 60.0;
                    c.gyro_bias_dps = 20.0;
                    c.compensation_rate = 1.0;
                    c.walking = seed != 1;
                    c.fidgets = seed != 2;
                    c.lead_in_s = if seed == 0 { Some(0.0) } else { None };
                    let (sim, t) = TeamSimulator::new(&c).unwrap();
                    assert_eq!(t.sets.len(), 2);
                    for s in &t.sets {
                        assert!((c.reps_min..=c.reps_max).contains(&s.rep_count));
                    }
                    let rest = t.sets[1].start_s - t.sets[0].end_s;
                    assert!(
                        rest >= 12.0 - 1e-6 && rest <= c.rest_max_s + 1e-6,
                        "{ex} {pl} rest {rest}"
                    );
                    let mut last = f64::MIN;
                    for smp in sim {
                        assert!(smp.is_finite() && smp.t >= last);
                        last = smp.t;
                        n += 1;
                    }
                }
            }
        }
        assert!(n > 0);
    }

    #[test]
    fn bad_config_is_an_error() {
        let mut c = SimConfig::new(
            Exercise::StandingCableAbduction,
            Placement::Ankle,
            Side::Right,
        );
        c.sets = 0;
        assert!(TeamSimulator::new(&c).is_err());
        let mut c = SimConfig::new(Exercise::HipHitch, Placement::Ankle, Side::Right);
        c.sets = 2;
        assert!(TeamSimulator::new(&c).is_err());
        let mut c = SimConfig::new(
            Exercise::StandingCableAbduction,
            Placement::Ankle,
            Side::Right,
        );
        c.rate_hz = f64::NAN;
        assert!(TeamSimulator::new(&c).is_err());
    }

    #[test]
    fn flags_only_of_kinds_the_placement_sees() {
        for (ex, pl) in [
            (Exercise::StandingCableAbduction, Placement::Ankle),
            (Exercise::StandingCableAbduction, Placement::Pelvis),
            (Exercise::SideLyingAbduction, Placement::Pelvis),
            (Exercise::HipHitch, Placement::Pelvis),
        ] {
            let mut c = SimConfig::new(ex, pl, Side::Left);
            c.compensation_rate = 0.8;
            let vis = c.visible_compensations();
            let (_, t) = TeamSimulator::new(&c).unwrap();
            let mut n = 0;
            for r in t.sets.iter().flat_map(|s| &s.reps) {
                for f in &r.flags {
                    assert!(vis.contains(&f.kind), "{ex} {pl}: {:?}", f.kind);
                    n += 1;
                    match f.kind {
                        FlagKind::HipHike => assert!(f.value_deg >= 5.0, "{}", f.value_deg),
                        FlagKind::PelvicDrop => assert!(f.value_deg <= -5.0, "{}", f.value_deg),
                        FlagKind::TrunkSway | FlagKind::HipFlexionDrift => {
                            assert!(f.value_deg > 5.0)
                        }
                        _ => {}
                    }
                }
            }
            assert!(n > 0);
        }
    }

    #[test]
    fn an_abandoned_rep_is_a_distraction_not_a_rep() {
        let mut found = false;
        for seed in 1..40 {
            let mut c = SimConfig::new(
                Exercise::StandingCableAbduction,
                Placement::Ankle,
                Side::Right,
            );
            c.seed = seed;
            let (sim, t) = TeamSimulator::new(&c).unwrap();
            for d in t.distractions.iter().filter(|d| d.contains("abandoned")) {
                let t0: f64 = d.split('-').next().unwrap().parse().unwrap();
                found = true;
                for r in t.sets.iter().flat_map(|s| &s.reps) {
                    assert!(t0 >= r.end_s - 0.05 || t0 + 0.5 <= r.start_s);
                }
                // the abandoned rep happens after its set's last rep
                assert!(t.sets.iter().any(|s| t0 >= s.end_s && t0 < s.end_s + 10.0));
            }
            let _ = sim;
            if found {
                break;
            }
        }
        assert!(found);
    }
}
