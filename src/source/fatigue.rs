//! A sixteenth body model, the hold-out: sets taken close to failure, and
//! the motor control behind them.
//!
//! Recreational and serious lifters following a program app take their
//! sets to (or near) failure. The motion is not a keyframed curve: the rep's
//! joint (the working hip's abduction, or for a hip hitch the drop of the
//! free side of the pelvis) is a second-order plant (inertia, passive
//! damping, a load torque that grows with the angle: the cable stack, the
//! leg's weight, the machine's pads) driven through first-order muscle
//! activation by a feedback controller (internal-model feedforward plus
//! PD on a via-target reference) whose command carries signal-dependent
//! motor noise (Harris & Wolpert 1998). The controller steps through via
//! targets (up, hold, down, rest; an overshoot above level on a hiking hip
//! hitch) and switches phase on what the joint does (reached, stalled,
//! back down), so tempo and range come out of the loop.
//!
//! **Fatigue.** A per-rep integrator `F ← F + η·w` (w: the rep's work,
//! longer under slow tempos) lowers the torque capacity `ρ(1 − F)` the
//! command saturates at, the loop's bandwidth and damping, the intended
//! range and eccentric control, and raises the motor noise and a
//! physiological 8–12 Hz tremor (a stochastic resonator scaled by effort
//! and F). η is set by the program: the load is the one the lifter fails
//! with after the planned reps. Between sets F recovers exponentially
//! (τ 60–150 s), never fully: a later set starts weaker. What shows: later
//! reps slower, grinding concentrics (capacity just above the load at the
//! top), shrinking range, partial last reps (capacity below the load at
//! the top: the joint stalls where capacity meets load), compensation
//! growing through the set (hip hike, pelvic drop, trunk sway, lean and
//! hip shift toward the stance side, hip-flexion drift, momentum swings),
//! rest-pause (3–8 s in position before the last 1–3 reps, F partly
//! recovered), a failed rep (started, stalls at 30–40 % of the range it
//! still means to reach, where capacity meets the load; held shaking,
//! lowered), drop sets (load lowered
//! after a 4–8 s pin change or ankle-weight removal in position: capacity
//! relative to the load jumps), and tempo schemes (standard, 3-1-3,
//! explosive, a pause at the top).
//!
//! **What the truth counts (DOMAIN.md).** A rep leaves neutral, reaches a
//! peak and comes back. DOMAIN is silent on an abandoned rep, so here: an
//! attempt whose measured leg peak is under half the set's range (the
//! median peak of its full reps) is *not* a rep and is listed as a
//! distraction ("failed rep"); one that got past half and came down is a
//! counted partial rep (flagged `partial_range` where visible). Failed
//! stalls are drawn at 30–40 % and counted failures at 56–60 % so the two
//! never meet; the truth still classifies on the measured peak. DOMAIN says
//! a set is reps with gaps under ~10 s: a rest-pause (3–8 s) and a drop
//! set's pin change (4–8 s) stay inside one set, so a drop set is one truth
//! set. Start and end come from the generated joint angle (leaving and
//! coming back within max(1.5°, 8 % of the peak) of neutral, scaled for the
//! hitch), the peak from the generated sensor pose: the rotation from the
//! still pose before the set (ankle) or the largest obliquity change from
//! it (pelvis). Flags are measured on the generated motion: `hip_hike`
//! ≥ +5° and `pelvic_drop` ≤ −5° held 150 ms, `trunk_sway` beyond ±5° on
//! both sides, `partial_range` a peak under 70 % of the set's range,
//! `hip_flexion_drift` ≥ 10° of flexion at the peak, `momentum` a planned
//! fling that overshot its target (judgement calls, named here). Only the
//! kinds the placement can see are listed; walks, sits, re-straps, pin
//! changes, leg shakes and failed reps are distractions.
//!
//! **Between sets**: standing, a bench, the water fountain, adjusting the
//! cable or machine, re-strapping (a new ankle mounting or belt clip
//! tilt), drinking, the phone; lying down and getting up for side-lying.
//!
//! **Sensors** (DOMAIN's list, one per session): WitMotion WT901BLE
//! (host-stamped batches: stamp jitter; ±16 g, ±2000 °/s, i16 steps),
//! Thingy:52 (±4 g clip, 1/32 °/s steps, noisier), MetaMotion (device
//! clock) and medius' own firmware (quietest). Each has gyro bias up to the
//! configured bound plus a warming drift, accelerometer bias, scale and
//! cross-axis errors, white noise, clock drift of ±60 ppm (the truth is on
//! the sensor's clock), random drops and 200 ms gaps.
//!
//! Everything is drawn from one seeded ChaCha8 stream: the same seed gives
//! the same session.

use super::sim::{in_ble_gap, SensorClock, SimConfig, Truth, TruthFlag, TruthRep, TruthSet};
use super::{gauss, round3, rx, ry, rz};
use crate::motion::FlagKind;
use crate::sample::STANDARD_GRAVITY;
use crate::{Exercise, Placement, Sample, Side};
use nalgebra::{Matrix3, Rotation3, UnitQuaternion, Vector3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::f64::consts::PI;

/// Rate the controlled joint's channels are stored at, Hz.
const GRID_HZ: f64 = 200.0;
/// Controller and plant integration step, s.
const DT: f64 = 0.001;
/// Integration steps per stored grid point.
const SUB: usize = 5;

fn deg(x: f64) -> f64 {
    x.to_radians()
}

fn smooth(u: f64) -> f64 {
    let u = u.clamp(0.0, 1.0);
    u * u * u * (10.0 - 15.0 * u + 6.0 * u * u)
}

fn uni(rng: &mut ChaCha8Rng, a: f64, b: f64) -> f64 {
    if b <= a {
        a
    } else {
        rng.gen_range(a..b)
    }
}

/// How the body is held.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Posture {
    Standing,
    Lying,
    Seated,
}

/// Everything that places the sensor: the pelvis in the world, the working
/// leg against the pelvis, the strap or clip on the body.
#[derive(Debug, Clone, Copy)]
struct Pose {
    /// Pelvis orientation (pelvis frame: x right, y up, z back).
    pelvis: UnitQuaternion<f64>,
    /// Pelvis centre, m (world: z up).
    pelvis_pos: Vector3<f64>,
    /// Working hip rotation against the pelvis.
    hip: UnitQuaternion<f64>,
    /// Working knee flexion, rad.
    knee: f64,
    /// The sensor's mounting on the shank (ankle) or sacrum (pelvis).
    strap: UnitQuaternion<f64>,
    /// How much postural sway shows (1 standing, less lying or seated).
    sway: f64,
    /// Height of the sway's pivot below the pelvis, m (the stance foot).
    pivot: f64,
}

impl Pose {
    fn blend(&self, o: &Pose, u: f64) -> Pose {
        Pose {
            pelvis: self.pelvis.slerp(&o.pelvis, u),
            pelvis_pos: self.pelvis_pos.lerp(&o.pelvis_pos, u),
            hip: self.hip.slerp(&o.hip, u),
            knee: self.knee + (o.knee - self.knee) * u,
            strap: self.strap.slerp(&o.strap, u),
            sway: self.sway + (o.sway - self.sway) * u,
            pivot: self.pivot + (o.pivot - self.pivot) * u,
        }
    }
}

/// Pelvis frame → world for a posture, facing `heading` (rad).
fn base_rotation(posture: Posture, side: Side, heading: f64) -> UnitQuaternion<f64> {
    let yaw = UnitQuaternion::from_axis_angle(&Vector3::z_axis(), heading);
    let b = match posture {
        Posture::Standing | Posture::Seated => rx(PI / 2.0),
        Posture::Lying => {
            // The working leg on top: its side of the pelvis faces up.
            let s = side.sign();
            let right = Vector3::new(0.0, 0.0, s);
            let up = Vector3::new(1.0, 0.0, 0.0);
            let back = right.cross(&up);
            let m = Matrix3::from_columns(&[right, up, back]);
            UnitQuaternion::from_rotation_matrix(&Rotation3::from_matrix_unchecked(m))
        }
    };
    yaw * b
}

/// The pelvis on its back (rest on a mat), facing `heading`.
fn supine_rotation(heading: f64) -> UnitQuaternion<f64> {
    let yaw = UnitQuaternion::from_axis_angle(&Vector3::z_axis(), heading);
    let m = Matrix3::from_columns(&[
        Vector3::new(0.0, 1.0, 0.0),
        Vector3::new(1.0, 0.0, 0.0),
        Vector3::new(0.0, 0.0, -1.0),
    ]);
    yaw * UnitQuaternion::from_rotation_matrix(&Rotation3::from_matrix_unchecked(m))
}

/// Stored channels of a set: the controlled joint and what rides on it.
#[derive(Debug, Clone, Copy, Default)]
struct Ch {
    /// The controlled joint: abduction (°) or, for a hip hitch, the drop of the free side (°).
    q: f64,
    /// Hip flexion drift of the working leg, °.
    flex: f64,
    /// Pelvic obliquity on top of the joint, ° (free side up positive).
    obl: f64,
    /// Whole-body lean toward the stance side (standing) or roll (lying), °.
    lean: f64,
    /// Forward trunk/pelvis pitch, °.
    pitch: f64,
    /// Pelvis turn about the vertical, °.
    yaw: f64,
    /// Hips shifted toward the stance side, m.
    shift: f64,
}

impl Ch {
    fn arr(&self) -> [f64; 7] {
        [
            self.q, self.flex, self.obl, self.lean, self.pitch, self.yaw, self.shift,
        ]
    }
    fn from_arr(a: [f64; 7]) -> Ch {
        Ch {
            q: a[0],
            flex: a[1],
            obl: a[2],
            lean: a[3],
            pitch: a[4],
            yaw: a[5],
            shift: a[6],
        }
    }
}

/// Where a set is done.
#[derive(Debug, Clone, Copy)]
struct SetBase {
    heading: f64,
    origin: Vector3<f64>,
    strap: UnitQuaternion<f64>,
}

/// Tempo the program asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Tempo {
    Standard,
    Slow313,
    Explosive,
    PauseTop,
}

/// What an attempt is meant to be.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Full,
    /// Capacity meets the load at this share of the range.
    Partial(f64),
    /// Started, stalls at this share, held shaking, lowered.
    Failed(f64),
}

/// Why the lifter waits in position before an attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Pause {
    None,
    Rest(f64),
    Drop(f64),
}

#[derive(Debug, Clone, Copy)]
struct Attempt {
    kind: Kind,
    /// Capacity over the load at the full range.
    rho: f64,
    /// Fatigue state when it starts.
    f: f64,
    pause: Pause,
    hike: f64,
    drop: f64,
    sway: f64,
    flex: f64,
    momentum: bool,
}

/// What the controller did on one attempt, in body time.
#[derive(Debug, Clone, Copy)]
struct Done {
    go: f64,
    /// Back at the bottom (phase over).
    back: f64,
    target: f64,
    attempt: Attempt,
}

/// A simulated set: the stored channels and the attempts.
struct SetTrack {
    t0: f64,
    ch: Vec<Ch>,
    done: Vec<Done>,
    base: SetBase,
}

impl SetTrack {
    fn t1(&self) -> f64 {
        self.t0 + (self.ch.len() - 1) as f64 / GRID_HZ
    }
    /// Catmull-Rom between stored points.
    fn at(&self, t: f64) -> Ch {
        let u = ((t - self.t0) * GRID_HZ).max(0.0);
        let n = self.ch.len();
        let i = (u.floor() as usize).min(n - 1);
        let fr = u - i as f64;
        let g = |k: isize| self.ch[(i as isize + k).clamp(0, n as isize - 1) as usize].arr();
        let (p0, p1, p2, p3) = (g(-1), g(0), g(1), g(2));
        let mut out = [0.0; 7];
        for c in 0..7 {
            let (a, b, cc, d) = (p0[c], p1[c], p2[c], p3[c]);
            out[c] = 0.5
                * (2.0 * b
                    + (-a + cc) * fr
                    + (2.0 * a - 5.0 * b + 4.0 * cc - d) * fr * fr
                    + (-a + 3.0 * b - 3.0 * cc + d) * fr * fr * fr);
        }
        Ch::from_arr(out)
    }
}

/// An overlay on a stretch of the rest.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Overlay {
    None,
    Walk { hz: f64 },
    Shake { hz: f64, deg: f64 },
    Restrap,
}

#[derive(Debug, Clone, Copy)]
struct Key {
    t: f64,
    pose: Pose,
    /// Overlay from this key to the next.
    overlay: Overlay,
}

/// What fills a stretch of the session.
enum Piece {
    Set(usize),
    Keys(Vec<Key>),
}

/// The lifter: build, control and habits.
#[derive(Debug, Clone)]
struct Lifter {
    range: f64,
    q0_frac: f64,
    fc: f64,
    zeta: f64,
    tau_act: f64,
    sigma: f64,
    model_err: f64,
    tremor_hz: f64,
    obl_coupling: f64,
    lean: f64,
    shift: f64,
    yaw: f64,
    flex: f64,
    rho_fresh: f64,
    recovery_s: f64,
    knee: f64,
}

/// Which sensor the lifter owns.
#[derive(Debug, Clone, Copy, PartialEq)]
enum SensorKind {
    WitMotion,
    Thingy,
    MetaMotion,
    Medius,
}

struct SensorModel {
    kind: SensorKind,
    gyro_noise: f64,
    acc_noise: f64,
    gyro_bias: Vector3<f64>,
    gyro_warm: Vector3<f64>,
    warm_tau: f64,
    acc_bias: Vector3<f64>,
    scale: Matrix3<f64>,
    acc_lsb: f64,
    gyro_lsb: f64,
    acc_max: f64,
    gyro_max: f64,
    clock: SensorClock,
    jitter: f64,
}

/// Sways of a body at rest: a few incommensurate sines per axis.
struct Sway {
    parts: Vec<[f64; 3]>,
}

impl Sway {
    fn new(rng: &mut ChaCha8Rng, axes: usize) -> Sway {
        let mut parts = Vec::new();
        for a in 0..axes {
            for _ in 0..3 {
                parts.push([a as f64, uni(rng, 0.04, 0.7), uni(rng, 0.0, 2.0 * PI)]);
            }
        }
        Sway { parts }
    }
    /// Axis `a` at time t, unit-ish amplitude.
    fn at(&self, a: usize, t: f64) -> f64 {
        self.parts
            .iter()
            .filter(|p| p[0] as usize == a)
            .map(|p| (2.0 * PI * p[1] * t + p[2]).sin() / (1.0 + 2.0 * p[1]))
            .sum::<f64>()
            * 0.55
    }
}

/// A simulated lifter taking sets to failure: the sample stream.
pub struct FatigueSimulator {
    exercise: Exercise,
    side: Side,
    placement: Placement,
    pieces: Vec<(f64, f64, Piece)>,
    sets: Vec<SetTrack>,
    sway: Sway,
    sensor: SensorModel,
    rng: ChaCha8Rng,
    rate: f64,
    index: u64,
    last_t: f64,
    duration: f64,
    drop_rate: f64,
    gaps: Vec<f64>,
    gap_cursor: usize,
    noise: f64,
    batch_left: u32,
    batch_stamp: f64,
}

impl FatigueSimulator {
    /// Plans and simulates a session; returns the stream and its truth.
    pub fn new(cfg: &SimConfig) -> Result<(FatigueSimulator, Truth), String> {
        cfg.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0xFA71_6E00_0016_0016);
        let ex = cfg.exercise;
        let side = cfg.side;
        let lifter = draw_lifter(&mut rng, ex);
        let sensor = draw_sensor(&mut rng, cfg);
        let sway = Sway::new(&mut rng, 5);
        let mut sim = FatigueSimulator {
            exercise: ex,
            side,
            placement: cfg.placement,
            pieces: Vec::new(),
            sets: Vec::new(),
            sway,
            sensor,
            rng: ChaCha8Rng::seed_from_u64(0),
            rate: cfg.rate_hz,
            index: 0,
            last_t: f64::NEG_INFINITY,
            duration: 0.0,
            drop_rate: cfg.drop_rate,
            gaps: Vec::new(),
            gap_cursor: 0,
            noise: cfg.noise,
            batch_left: 0,
            batch_stamp: 0.0,
        };
        let mut distractions: Vec<String> = Vec::new();
        let mut t = cfg.lead_in_s.unwrap_or_else(|| uni(&mut rng, 0.5, 3.0));
        let mut base = SetBase {
            heading: uni(&mut rng, 0.0, 2.0 * PI),
            origin: Vector3::new(uni(&mut rng, -2.0, 2.0), uni(&mut rng, -2.0, 2.0), 0.0),
            strap: draw_strap(&mut rng, cfg),
        };
        let mut carry = 0.0;
        let mut rho_session = lifter.rho_fresh;
        for s in 0..cfg.sets {
            let plan = plan_set(&mut rng, cfg, &lifter, carry, rho_session);
            let start = t;
            let track = simulate_set(&mut rng, cfg, &lifter, &plan, base, start);
            let end = track.t1();
            let last_f = plan.f_end;
            if s == 0 {
                let first = sim.neutral_pose(&track, track.t0);
                sim.pieces.push((
                    0.0,
                    start,
                    Piece::Keys(vec![
                        Key {
                            t: 0.0,
                            pose: first,
                            overlay: Overlay::None,
                        },
                        Key {
                            t: start,
                            pose: first,
                            overlay: Overlay::None,
                        },
                    ]),
                ));
            }
            let idx = sim.sets.len();
            sim.sets.push(track);
            sim.pieces.push((start, end, Piece::Set(idx)));
            for d in &sim.sets[idx].done {
                if let Pause::Drop(p) = d.attempt.pause {
                    let when = d.go - p;
                    distractions.push(format!(
                        "drop set: load lowered in position ({:.1}–{:.1} s)",
                        sim.sensor.clock.sensor_time(when),
                        sim.sensor.clock.sensor_time(d.go)
                    ));
                }
            }
            t = end;
            if s + 1 < cfg.sets {
                let rest = uni(&mut rng, cfg.rest_min_s, cfg.rest_max_s);
                let mut next = base;
                if cfg.walking || ex == Exercise::SideLyingAbduction {
                    next.heading = base.heading + deg(gauss(&mut rng) * 25.0);
                    next.origin += Vector3::new(gauss(&mut rng) * 0.2, gauss(&mut rng) * 0.2, 0.0);
                }
                let end_pose = sim.pose_at_set(idx, end);
                let (keys, notes, new_strap) =
                    plan_rest(&mut rng, cfg, &lifter, end_pose, t, rest, base, next, &sim);
                next.strap = new_strap;
                for n in notes {
                    distractions.push(n);
                }
                sim.pieces.push((t, t + rest, Piece::Keys(keys)));
                t += rest;
                carry = last_f * (-rest / lifter.recovery_s).exp();
                rho_session *= uni(&mut rng, 0.95, 0.99);
                base = next;
            }
        }
        // A short tail after the last set.
        let tail = uni(&mut rng, 1.5, 5.0);
        let last = sim.sets.len() - 1;
        let p = sim.pose_at_set(last, t);
        sim.pieces.push((
            t,
            t + tail,
            Piece::Keys(vec![
                Key {
                    t,
                    pose: p,
                    overlay: Overlay::None,
                },
                Key {
                    t: t + tail,
                    pose: p,
                    overlay: Overlay::None,
                },
            ]),
        ));
        t += tail;
        sim.duration = t;

        // Truth, measured on what was generated.
        let visible = cfg.visible_compensations();
        let mut sets = Vec::new();
        for i in 0..sim.sets.len() {
            let (ts, mut notes) = sim.measure_set(i, &visible);
            distractions.append(&mut notes);
            sets.push(ts);
        }
        // Gaps and the sensor's own stream.
        let minutes = sim.duration / 60.0;
        let n_gaps = (cfg.gaps_per_min * minutes).round() as usize;
        let mut gaps: Vec<f64> = (0..n_gaps)
            .map(|_| uni(&mut rng, 0.0, sim.sensor.clock.sensor_time(sim.duration)))
            .collect();
        gaps.sort_by(|a, b| a.total_cmp(b));
        sim.gaps = gaps;
        sim.rng = ChaCha8Rng::seed_from_u64(rng.gen());
        let duration_s = round3(sim.sensor.clock.sensor_time(sim.duration));
        let truth = Truth {
            config: cfg.clone(),
            duration_s,
            distractions,
            sets,
        };
        Ok((sim, truth))
    }

    fn stance_sign(&self) -> f64 {
        match self.exercise {
            Exercise::HipHitch => self.side.sign(),
            _ => -self.side.sign(),
        }
    }

    fn posture(&self) -> Posture {
        posture_of(self.exercise)
    }

    /// The body for a set's channels.
    fn exercise_pose(&self, base: &SetBase, c: &Ch, lifter_knee: f64) -> Pose {
        let s_w = self.side.sign();
        let s_free = self.exercise.free_side(self.side).sign();
        let posture = self.posture();
        let b0 = base_rotation(posture, self.side, base.heading);
        match posture {
            Posture::Standing => {
                let s_st = self.stance_sign();
                let b = b0 * rz(deg(-s_st * c.lean)) * rx(deg(-c.pitch));
                let stance_hip = base.origin + b * Vector3::new(s_st * c.shift, 0.92, 0.0);
                let obl = if self.exercise == Exercise::HipHitch {
                    c.obl - c.q
                } else {
                    c.obl
                };
                let pelvis = b * ry(deg(c.yaw)) * rz(deg(s_free * obl));
                let pelvis_pos = stance_hip + pelvis * Vector3::new(-s_st * 0.09, 0.0, 0.0);
                let hip = if self.exercise == Exercise::HipHitch {
                    rz(deg(s_w * obl))
                } else {
                    rz(deg(s_w * c.q)) * rx(deg(c.flex))
                };
                Pose {
                    pelvis,
                    pelvis_pos,
                    hip,
                    knee: deg(lifter_knee),
                    strap: base.strap,
                    sway: 1.0,
                    pivot: 0.92,
                }
            }
            Posture::Lying => {
                let b = b0 * ry(deg(c.lean)) * rx(deg(-c.pitch));
                let pelvis = b * ry(deg(c.yaw)) * rz(deg(s_free * c.obl));
                let pelvis_pos = base.origin
                    + Vector3::new(0.0, 0.0, 0.16)
                    + b * Vector3::new(0.0, c.shift, 0.0);
                Pose {
                    pelvis,
                    pelvis_pos,
                    hip: rz(deg(s_w * c.q)) * rx(deg(c.flex)),
                    knee: deg(lifter_knee * 0.5),
                    strap: base.strap,
                    sway: 0.25,
                    pivot: 0.0,
                }
            }
            Posture::Seated => {
                let b = b0 * rz(deg(-s_w * c.lean)) * rx(deg(-c.pitch + 8.0));
                let pelvis = b * ry(deg(c.yaw)) * rz(deg(s_free * c.obl));
                let pelvis_pos = base.origin
                    + Vector3::new(0.0, 0.0, 0.5)
                    + b * Vector3::new(-s_w * c.shift, 0.0, 0.0);
                Pose {
                    pelvis,
                    pelvis_pos,
                    hip: ry(deg(-s_w * c.q)) * rx(deg(90.0 + c.flex)),
                    knee: deg(90.0),
                    strap: base.strap,
                    sway: 0.35,
                    pivot: 0.0,
                }
            }
        }
    }

    fn pose_at_set(&self, i: usize, t: f64) -> Pose {
        let s = &self.sets[i];
        let c = s.at(t);
        self.exercise_pose(&s.base, &c, knee_of(self.exercise))
    }

    fn neutral_pose(&self, s: &SetTrack, _t: f64) -> Pose {
        self.exercise_pose(&s.base, &Ch::default(), knee_of(self.exercise))
    }

    /// The body at body time t (before sway).
    fn pose(&self, t: f64) -> Pose {
        let k = self
            .pieces
            .partition_point(|p| p.1 < t)
            .min(self.pieces.len() - 1);
        let (_, _, piece) = &self.pieces[k];
        match piece {
            Piece::Set(i) => self.pose_at_set(*i, t),
            Piece::Keys(keys) => keys_pose(keys, t),
        }
    }

    /// Sensor orientation and position at body time t (sway included).
    fn sensor_pose(&self, t: f64) -> (UnitQuaternion<f64>, Vector3<f64>) {
        let p = self.pose(t);
        let sw = p.sway;
        let roll = deg(self.sway.at(0, t) * 0.9 * sw);
        let pitch = deg(self.sway.at(1, t) * 0.9 * sw);
        let yaw = deg(self.sway.at(2, t) * 1.2 * sw);
        // Breathing lifts the pelvis a little in every posture.
        let breath = 0.002 * (2.0 * PI * 0.25 * t).sin();
        let s = p.pelvis * rz(roll) * rx(pitch) * p.pelvis.inverse();
        let pivot = p.pelvis_pos - p.pelvis * Vector3::new(0.0, p.pivot, 0.0);
        let pelvis = UnitQuaternion::from_axis_angle(&Vector3::z_axis(), yaw) * s * p.pelvis;
        let pelvis_pos = pivot + s * (p.pelvis_pos - pivot) + Vector3::new(0.0, 0.0, breath);
        match self.placement {
            Placement::Pelvis => (
                pelvis * p.strap,
                pelvis_pos + pelvis * Vector3::new(0.0, 0.03, 0.11),
            ),
            Placement::Ankle => {
                let s_w = self.side.sign();
                let hip_pos = pelvis_pos + pelvis * Vector3::new(s_w * 0.09, -0.03, 0.0);
                let thigh = pelvis * p.hip;
                let knee_pos = hip_pos + thigh * Vector3::new(0.0, -0.44, 0.0);
                let shank = thigh * rx(-p.knee);
                let ori = shank * p.strap;
                let pos = knee_pos
                    + shank * Vector3::new(0.0, -0.36, 0.0)
                    + ori * Vector3::new(0.0, 0.0, 0.04);
                (ori, pos)
            }
        }
    }

    /// Obliquity change of the pelvis against a neutral pelvis, ° (free side up positive).
    fn obliquity(&self, neutral: &UnitQuaternion<f64>, t: f64) -> f64 {
        let (pel, _) = self.pelvis_only(t);
        let rel = neutral.inverse() * pel;
        let x = rel * Vector3::x();
        self.exercise.free_side(self.side).sign() * x.y.atan2(x.x).to_degrees()
    }

    fn pelvis_only(&self, t: f64) -> (UnitQuaternion<f64>, Vector3<f64>) {
        let p = self.pose(t);
        let sw = p.sway;
        let roll = deg(self.sway.at(0, t) * 0.9 * sw);
        let pitch = deg(self.sway.at(1, t) * 0.9 * sw);
        let yaw = deg(self.sway.at(2, t) * 1.2 * sw);
        let s = p.pelvis * rz(roll) * rx(pitch) * p.pelvis.inverse();
        (
            UnitQuaternion::from_axis_angle(&Vector3::z_axis(), yaw) * s * p.pelvis,
            p.pelvis_pos,
        )
    }

    /// A set's truth, measured on the generated motion.
    fn measure_set(&self, i: usize, visible: &[FlagKind]) -> (TruthSet, Vec<String>) {
        let s = &self.sets[i];
        let clock = self.sensor.clock;
        let grid = |t: f64| {
            ((t - s.t0) * GRID_HZ)
                .round()
                .clamp(0.0, (s.ch.len() - 1) as f64) as usize
        };
        let time = |k: usize| s.t0 + k as f64 / GRID_HZ;
        let scale: f64 = if self.exercise == Exercise::HipHitch {
            0.3
        } else {
            1.0
        };
        // Neutral: the still pose just before the first attempt.
        let t_rest = s.done[0].go - 0.25;
        let (rest_sensor, _) = self.sensor_pose(t_rest);
        let (rest_pelvis, _) = self.pelvis_only(t_rest);
        // Per attempt: peak of the joint, start and end.
        struct M {
            start: usize,
            end: usize,
            peak_q: f64,
            peak_k: usize,
        }
        let mut ms: Vec<M> = Vec::new();
        let mut prev_end = grid(s.done[0].go - 0.6);
        for (j, d) in s.done.iter().enumerate() {
            let lo = grid(d.go).max(prev_end + 1);
            let hi = if j + 1 < s.done.len() {
                grid(s.done[j + 1].go)
            } else {
                s.ch.len() - 1
            };
            let mut pk = lo;
            for k in lo..=hi.min(grid(d.back)).max(lo) {
                if s.ch[k].q > s.ch[pk].q {
                    pk = k;
                }
            }
            let peak_q = s.ch[pk].q;
            let th = (1.5 * scale).max(0.08 * peak_q);
            let mut st = None;
            let mut k = pk;
            while k > prev_end {
                if s.ch[k].q <= th {
                    st = Some(k);
                    break;
                }
                k -= 1;
            }
            let start = st.unwrap_or_else(|| {
                (prev_end + 1..=pk)
                    .min_by(|a, b| s.ch[*a].q.total_cmp(&s.ch[*b].q))
                    .unwrap_or(pk)
            });
            // After the peak (and any overshoot above level), back within th.
            let mut from = pk;
            if d.attempt.hike > 0.0 && self.exercise == Exercise::HipHitch {
                let lim = hi.min(grid(d.back) + 1).max(pk);
                from = (pk..=lim)
                    .min_by(|a, b| s.ch[*a].q.total_cmp(&s.ch[*b].q))
                    .unwrap_or(pk);
            }
            let mut en = None;
            for k in from..=hi {
                if s.ch[k].q.abs() <= th {
                    en = Some(k);
                    break;
                }
            }
            let end = en.unwrap_or_else(|| {
                (from..=hi)
                    .min_by(|a, b| s.ch[*a].q.abs().total_cmp(&s.ch[*b].q.abs()))
                    .unwrap_or(hi)
            });
            let end = end.max(start + 1);
            prev_end = end;
            ms.push(M {
                start,
                end,
                peak_q,
                peak_k: pk,
            });
        }
        let mut full: Vec<f64> = s
            .done
            .iter()
            .zip(&ms)
            .filter(|(d, _)| d.attempt.kind == Kind::Full)
            .map(|(_, m)| m.peak_q)
            .collect();
        full.sort_by(|a, b| a.total_cmp(b));
        let set_range = if full.is_empty() {
            ms.iter().map(|m| m.peak_q).fold(0.0, f64::max)
        } else {
            full[full.len() / 2]
        };
        let mut reps = Vec::new();
        let mut notes = Vec::new();
        for (d, m) in s.done.iter().zip(&ms) {
            let frac = m.peak_q / set_range.max(1e-9);
            let ts = round3(clock.sensor_time(time(m.start)));
            let te = round3(clock.sensor_time(time(m.end)));
            if frac < 0.5 {
                notes.push(format!(
                    "failed rep: stalled at {:.0} % of the set's range and lowered ({:.1}–{:.1} s)",
                    frac * 100.0,
                    ts,
                    te
                ));
                continue;
            }
            // Peak as DOMAIN defines it, from the generated sensor pose.
            let mut peak: f64 = 0.0;
            let mut obl_series = Vec::new();
            for k in m.start..=m.end {
                let t = time(k);
                match self.placement {
                    Placement::Ankle => {
                        let (o, _) = self.sensor_pose(t);
                        peak = peak.max((rest_sensor.inverse() * o).angle().to_degrees());
                    }
                    Placement::Pelvis => {
                        let ob = self.obliquity(&rest_pelvis, t);
                        peak = peak.max(ob.abs());
                        obl_series.push(ob);
                    }
                }
            }
            if self.placement == Placement::Ankle {
                for k in m.start..=m.end {
                    obl_series.push(self.obliquity(&rest_pelvis, time(k)));
                }
            }
            let mut flags = Vec::new();
            let held = |pred: &dyn Fn(f64) -> bool| -> bool {
                let need = (0.15 * GRID_HZ).ceil() as usize;
                let mut run = 0;
                for &v in &obl_series {
                    if pred(v) {
                        run += 1;
                        if run >= need {
                            return true;
                        }
                    } else {
                        run = 0;
                    }
                }
                false
            };
            let omax = obl_series.iter().copied().fold(f64::MIN, f64::max);
            let omin = obl_series.iter().copied().fold(f64::MAX, f64::min);
            let hitch = self.exercise == Exercise::HipHitch;
            for &kind in visible {
                let value = match kind {
                    FlagKind::HipHike => held(&|v| v >= 5.0).then_some(omax),
                    FlagKind::PelvicDrop => (!hitch && held(&|v| v <= -5.0)).then_some(-omin),
                    FlagKind::TrunkSway => (d.attempt.sway > 0.0 && omax > 5.0 && omin < -5.0)
                        .then_some((omax - omin) / 2.0),
                    FlagKind::Momentum => {
                        (d.attempt.momentum && m.peak_q > d.target).then_some(m.peak_q - d.target)
                    }
                    FlagKind::PartialRange => (frac < 0.7).then_some(set_range - m.peak_q),
                    FlagKind::HipFlexionDrift => {
                        let f = s.ch[m.peak_k].flex;
                        (f >= 10.0).then_some(f)
                    }
                };
                if let Some(v) = value {
                    flags.push(TruthFlag {
                        kind,
                        value_deg: round3(v),
                    });
                }
            }
            reps.push(TruthRep {
                start_s: ts,
                end_s: te,
                peak_deg: round3(peak),
                flags,
            });
        }
        let ts = TruthSet {
            start_s: reps.first().map(|r| r.start_s).unwrap_or(0.0),
            end_s: reps.last().map(|r| r.end_s).unwrap_or(0.0),
            rep_count: reps.len(),
            reps,
        };
        (ts, notes)
    }
}

fn posture_of(ex: Exercise) -> Posture {
    match ex {
        Exercise::SideLyingAbduction => Posture::Lying,
        Exercise::SeatedMachineAbduction => Posture::Seated,
        _ => Posture::Standing,
    }
}

fn knee_of(ex: Exercise) -> f64 {
    match ex {
        Exercise::SeatedMachineAbduction => 90.0,
        _ => 6.0,
    }
}

fn draw_lifter(rng: &mut ChaCha8Rng, ex: Exercise) -> Lifter {
    let range = match ex {
        Exercise::StandingCableAbduction => uni(rng, 26.0, 42.0),
        Exercise::SideLyingAbduction => uni(rng, 30.0, 48.0),
        Exercise::SeatedMachineAbduction => uni(rng, 22.0, 38.0),
        _ => uni(rng, 6.0, 11.0),
    };
    Lifter {
        range,
        q0_frac: uni(rng, 0.4, 0.6),
        fc: uni(rng, 1.4, 2.0),
        zeta: uni(rng, 0.75, 1.0),
        tau_act: uni(rng, 0.03, 0.05),
        sigma: uni(rng, 0.04, 0.09),
        model_err: uni(rng, -0.1, 0.1),
        tremor_hz: uni(rng, 8.0, 12.0),
        obl_coupling: if rng.gen_bool(0.5) {
            uni(rng, 0.5, 2.0)
        } else {
            -uni(rng, 0.5, 2.5)
        },
        lean: uni(rng, 0.3, 1.2),
        shift: uni(rng, 0.005, 0.03),
        yaw: uni(rng, 0.5, 3.0) * if rng.gen_bool(0.5) { 1.0 } else { -1.0 },
        flex: uni(rng, 0.5, 4.0),
        rho_fresh: uni(rng, 1.45, 1.9),
        recovery_s: uni(rng, 60.0, 150.0),
        knee: 6.0,
    }
}

fn draw_strap(rng: &mut ChaCha8Rng, cfg: &SimConfig) -> UnitQuaternion<f64> {
    match cfg.placement {
        Placement::Ankle => {
            if cfg.random_mounting {
                let v = Vector3::new(gauss(rng), gauss(rng), gauss(rng));
                let axis = nalgebra::Unit::new_normalize(v);
                ry(uni(rng, 0.0, 2.0 * PI))
                    * UnitQuaternion::from_axis_angle(&axis, uni(rng, 0.0, PI))
            } else {
                ry(cfg.side.sign() * PI / 2.0)
            }
        }
        Placement::Pelvis => {
            if cfg.random_mounting {
                rx(deg(uni(rng, -12.0, 12.0)))
                    * rz(deg(uni(rng, -10.0, 10.0)))
                    * ry(deg(uni(rng, -8.0, 8.0)))
            } else {
                UnitQuaternion::identity()
            }
        }
    }
}

fn draw_sensor(rng: &mut ChaCha8Rng, cfg: &SimConfig) -> SensorModel {
    let kind = match rng.gen_range(0..4) {
        0 => SensorKind::WitMotion,
        1 => SensorKind::Thingy,
        2 => SensorKind::MetaMotion,
        _ => SensorKind::Medius,
    };
    let g = STANDARD_GRAVITY;
    let (gn, an, acc_lsb, gyro_lsb, acc_max, gyro_max, jitter) = match kind {
        SensorKind::WitMotion => (
            0.07,
            0.02,
            16.0 * g / 32768.0,
            2000.0 / 32768.0,
            16.0 * g,
            2000.0,
            0.004,
        ),
        SensorKind::Thingy => (0.11, 0.035, g / 1024.0, 1.0 / 32.0, 4.0 * g, 1000.0, 0.0),
        SensorKind::MetaMotion => (
            0.07,
            0.015,
            16.0 * g / 32768.0,
            2000.0 / 32768.0,
            16.0 * g,
            2000.0,
            0.0,
        ),
        SensorKind::Medius => (
            0.04,
            0.01,
            16.0 * g / 32768.0,
            2000.0 / 32768.0,
            16.0 * g,
            2000.0,
            0.0,
        ),
    };
    let b = cfg.gyro_bias_dps;
    let gyro_bias = Vector3::new(uni(rng, -b, b), uni(rng, -b, b), uni(rng, -b, b)) * 0.85;
    let gyro_warm = Vector3::new(gauss(rng), gauss(rng), gauss(rng)) * (0.05 * b).min(0.3);
    let acc_bias = Vector3::new(gauss(rng), gauss(rng), gauss(rng)) * 0.08;
    let mut scale = Matrix3::identity();
    for r in 0..3 {
        for c in 0..3 {
            scale[(r, c)] += if r == c {
                gauss(rng) * 0.01
            } else {
                gauss(rng) * 0.004
            };
        }
    }
    SensorModel {
        kind,
        gyro_noise: gn,
        acc_noise: an,
        gyro_bias,
        gyro_warm,
        warm_tau: uni(rng, 120.0, 400.0),
        acc_bias,
        scale,
        acc_lsb,
        gyro_lsb,
        acc_max,
        gyro_max,
        clock: SensorClock {
            offset_s: 0.0,
            drift_ppm: uni(rng, -60.0, 60.0),
        },
        jitter,
    }
}

/// A set as the program and the lifter's state make it.
#[derive(Debug, Clone)]
struct SetPlan {
    tempo: Tempo,
    attempts: Vec<Attempt>,
    f_end: f64,
}

fn rho_for_share(f: f64, q0: f64) -> f64 {
    // Capacity meets the load k(q + q0·R) at q = f·R: ρ(1 + q0) = f + q0.
    (f + q0) / (1.0 + q0)
}

fn plan_set(
    rng: &mut ChaCha8Rng,
    cfg: &SimConfig,
    l: &Lifter,
    carry: f64,
    rho_session: f64,
) -> SetPlan {
    let n = rng.gen_range(cfg.reps_min..=cfg.reps_max);
    let tempo = match rng.gen_range(0..10) {
        0..=4 => Tempo::Standard,
        5..=6 => Tempo::Slow313,
        7 => Tempo::Explosive,
        _ => Tempo::PauseTop,
    };
    let partial_ok = cfg.compensations.contains(&FlagKind::PartialRange);
    // How the set ends.
    let ending = rng.gen_range(0..20);
    let (mut n_partial, mut fail_after, mut fail_counted) = (0usize, false, false);
    let rho_last;
    match ending {
        0..=5 => rho_last = uni(rng, 1.15, 1.3), // stopped with reps in reserve
        6..=11 => {
            rho_last = uni(rng, 1.0, 1.08);
            fail_after = rng.gen_bool(0.7);
        }
        12..=16 if partial_ok && n >= 4 => {
            rho_last = uni(rng, 1.0, 1.06);
            n_partial = rng.gen_range(1..=3usize).min(n / 3).max(1);
            fail_after = rng.gen_bool(0.4);
        }
        17..=19 if partial_ok && n >= 3 => {
            rho_last = uni(rng, 1.0, 1.06);
            fail_counted = true;
        }
        _ => {
            rho_last = uni(rng, 1.02, 1.1);
            fail_after = rng.gen_bool(0.5);
        }
    }
    let q0 = l.q0_frac;
    let tut = |tempo: Tempo| match tempo {
        Tempo::Standard => 1.0,
        Tempo::Slow313 => 1.8,
        Tempo::Explosive => 0.85,
        Tempo::PauseTop => 1.4,
    };
    let rho_start = (rho_session * (1.0 - carry)).max(1.2);
    let drop_set = n >= 8 && rng.gen_bool(0.25);
    let rest_pause = !drop_set && n >= 5 && rng.gen_bool(0.3);
    let n_full_total = n - n_partial - usize::from(fail_counted);
    // Blocks: (counted full reps, starting capacity, capacity at the last full rep).
    let blocks: Vec<(usize, f64, f64)> = if drop_set {
        let n1 = ((n_full_total as f64) * uni(rng, 0.5, 0.7))
            .round()
            .max(3.0) as usize;
        let n1 = n1.min(n_full_total.saturating_sub(2)).max(1);
        let lowered = uni(rng, 1.3, 1.55);
        let r1_end = uni(rng, 1.0, 1.06);
        vec![
            (n1, rho_start, r1_end),
            (n_full_total - n1, (r1_end * lowered).max(1.25), rho_last),
        ]
    } else {
        vec![(n_full_total, rho_start, rho_last.min(rho_start - 0.05))]
    };
    let mut attempts = Vec::new();
    let mut f_state = carry.min(0.5);
    let comp_rate = if cfg.compensations.is_empty() {
        0.0
    } else {
        cfg.compensation_rate
    };
    let allowed = |k: FlagKind| cfg.compensations.contains(&k);
    let posture = posture_of(cfg.exercise);
    for (b, &(nb, r0, r1)) in blocks.iter().enumerate() {
        // The per-rep integrator: F ← F + η·w; ρ = r0·(1 − F_block).
        let w = tut(tempo);
        let eta = if nb > 1 {
            (1.0 - r1 / r0).max(0.0) / ((nb - 1) as f64 * w)
        } else {
            0.0
        };
        let mut fb = 0.0;
        for k in 0..nb {
            let mut pause = Pause::None;
            if b == 1 && k == 0 {
                pause = Pause::Drop(uni(rng, 4.0, 8.0));
            }
            let rho = r0 * (1.0 - fb);
            attempts.push(Attempt {
                kind: Kind::Full,
                rho,
                f: (f_state + fb).min(0.75),
                pause,
                hike: 0.0,
                drop: 0.0,
                sway: 0.0,
                flex: 0.0,
                momentum: false,
            });
            fb += eta * w;
        }
        f_state += fb;
    }
    for k in 0..n_partial {
        let share = uni(rng, 0.6, 0.85) - 0.08 * k as f64;
        attempts.push(Attempt {
            kind: Kind::Partial(share.max(0.6)),
            rho: rho_for_share(share.max(0.6), q0),
            f: (f_state + 0.05 * (k + 1) as f64).min(0.75),
            pause: Pause::None,
            hike: 0.0,
            drop: 0.0,
            sway: 0.0,
            flex: 0.0,
            momentum: false,
        });
    }
    if fail_counted {
        let share = uni(rng, 0.56, 0.6);
        attempts.push(Attempt {
            kind: Kind::Partial(share),
            rho: rho_for_share(share, q0),
            f: (f_state + 0.1).min(0.75),
            pause: Pause::None,
            hike: 0.0,
            drop: 0.0,
            sway: 0.0,
            flex: 0.0,
            momentum: false,
        });
    }
    if fail_after {
        // Of the range the lifter still means to reach (it shrinks with F).
        let share = uni(rng, 0.3, 0.4);
        let f = (f_state + 0.15).min(0.75);
        attempts.push(Attempt {
            kind: Kind::Failed(share),
            rho: rho_for_share(share * (1.0 - 0.08 * f), q0),
            f,
            pause: Pause::None,
            hike: 0.0,
            drop: 0.0,
            sway: 0.0,
            flex: 0.0,
            momentum: false,
        });
    }
    // Rest-pause: before one of the last 1–3 counted reps, in position.
    if rest_pause {
        let last_counted = attempts
            .iter()
            .rposition(|a| !matches!(a.kind, Kind::Failed(_)))
            .unwrap_or(0);
        let back = rng
            .gen_range(0..=2usize)
            .min(last_counted.saturating_sub(3));
        let at = last_counted - back;
        if at >= 3 && attempts[at].pause == Pause::None {
            attempts[at].pause = Pause::Rest(uni(rng, 3.0, 8.0));
            let rec = uni(rng, 0.08, 0.18);
            for a in attempts.iter_mut().skip(at) {
                if a.kind == Kind::Full {
                    a.rho += rec;
                    a.f = (a.f - rec).max(0.0);
                }
            }
        }
    }
    // Compensation grows through the set: share of reps ∝ 0.3 + 1.4·k/N.
    let total = attempts.len().max(1) as f64;
    for (k, a) in attempts.iter_mut().enumerate() {
        let p = (comp_rate * (0.3 + 1.4 * k as f64 / total)).clamp(0.0, 1.0);
        if !rng.gen_bool(p) {
            continue;
        }
        let mut kinds: Vec<FlagKind> = FlagKind::ALL
            .iter()
            .copied()
            .filter(|k| allowed(*k) && *k != FlagKind::PartialRange)
            .collect();
        if posture == Posture::Seated {
            kinds.retain(|k| !matches!(k, FlagKind::PelvicDrop | FlagKind::TrunkSway));
        }
        if matches!(a.kind, Kind::Failed(_)) {
            kinds.retain(|k| *k != FlagKind::Momentum);
        }
        if kinds.is_empty() {
            continue;
        }
        let kind = kinds[rng.gen_range(0..kinds.len())];
        match kind {
            FlagKind::HipHike => a.hike = uni(rng, 6.5, 12.0),
            FlagKind::PelvicDrop => a.drop = uni(rng, 6.5, 10.0),
            FlagKind::TrunkSway => a.sway = uni(rng, 6.5, 9.0),
            FlagKind::Momentum => {
                if a.kind == Kind::Full && a.rho > 1.15 {
                    a.momentum = true
                }
            }
            FlagKind::HipFlexionDrift => a.flex = uni(rng, 12.0, 22.0),
            FlagKind::PartialRange => {}
        }
    }
    SetPlan {
        tempo,
        attempts,
        f_end: f_state + 0.1,
    }
}

/// Runs the controller through a set's attempts; stores the channels.
fn simulate_set(
    rng: &mut ChaCha8Rng,
    cfg: &SimConfig,
    l: &Lifter,
    plan: &SetPlan,
    base: SetBase,
    t0: f64,
) -> SetTrack {
    let hitch = cfg.exercise == Exercise::HipHitch;
    let r = l.range;
    let unit = r / 35.0;
    let k_load = 10.0;
    let q0 = l.q0_frac * r;
    let load = |q: f64| k_load * (q + q0);
    let mut ch = Vec::new();
    let mut done = Vec::new();
    // State.
    let (mut q, mut qd, mut act) = (0.0f64, 0.0f64, load(0.0));
    let mut noise = 0.0f64;
    let (mut tr_x, mut tr_v) = (0.0f64, 0.0f64);
    let (mut obl_lag, mut flex_lag, mut amp_lag) = (0.0f64, 0.0f64, 0.0f64);
    let mut t = t0;
    let mut step = 0usize;
    let setup = uni(rng, 1.5, 4.0);
    let tw = 2.0 * PI * l.tremor_hz;
    let tremor_drive = (4.0 * 0.1 * tw.powi(3)).sqrt();
    struct Phase {
        r: f64,
        rd: f64,
        kp_scale: f64,
        kd_scale: f64,
        cap: f64,
        f: f64,
        hike: f64,
        drop: f64,
        sway: f64,
        flex: f64,
        sway_t0: f64,
        sway_period: f64,
        target: f64,
        pause_fidget: f64,
    }
    // Trunk sway: one rock to each side over the rep, zero outside it.
    fn sway_wave(t: f64, ph: &Phase) -> f64 {
        let x = (t - ph.sway_t0) / ph.sway_period;
        if (0.0..=1.0).contains(&x) {
            (2.0 * PI * x).sin() * (PI * x).sin().sqrt()
        } else {
            0.0
        }
    }
    let rho0 = plan.attempts.first().map(|a| a.rho).unwrap_or(1.5);
    let mut ph = Phase {
        r: 0.0,
        rd: 0.0,
        kp_scale: 1.0,
        kd_scale: 1.0,
        cap: rho0 * load(r),
        f: plan.attempts.first().map(|a| a.f).unwrap_or(0.0),
        hike: 0.0,
        drop: 0.0,
        sway: 0.0,
        flex: 0.0,
        sway_t0: 0.0,
        sway_period: 2.0,
        target: r,
        pause_fidget: 0.0,
    };
    // One integration step; records every SUB-th.
    let mut advance = |ph: &Phase,
                       q: &mut f64,
                       qd: &mut f64,
                       act: &mut f64,
                       t: &mut f64,
                       rng: &mut ChaCha8Rng,
                       ch: &mut Vec<Ch>| {
        let f = ph.f.clamp(0.0, 0.9);
        let w = 2.0 * PI * l.fc * (1.0 - 0.3 * f);
        let zeta = l.zeta * (1.0 - 0.25 * f);
        let kp = w * w * ph.kp_scale;
        let kd = 2.0 * zeta * w * ph.kd_scale;
        let ff = load(*q) * (1.0 + l.model_err);
        // Force–velocity: a shortening muscle gives less than its isometric capacity.
        let cap = ph.cap * (1.0 - qd.max(0.0) / (250.0 * unit)).max(0.2);
        let u = (ff + kp * (ph.r - *q) + kd * (ph.rd - *qd)).clamp(0.0, cap);
        // Signal-dependent noise: low-passed, scaled by the command.
        let sigma = l.sigma * (1.0 + 2.5 * f);
        noise += (-noise * DT / 0.015) + (2.0 * DT / 0.015).sqrt() * gauss(rng);
        let un = u * (1.0 + sigma * noise) + 3.0 * gauss(rng) * unit;
        let tau = l.tau_act * (1.0 + 0.4 * f);
        *act += (un - *act) * DT / tau;
        let mut qdd = *act - load(*q) - 4.0 * *qd;
        // The floor, the other leg, the stack's bottom (not for the hitch).
        let stop = -1.5 * unit;
        if !hitch && *q < stop {
            qdd += 4000.0 * (stop - *q) - 60.0 * qd.min(0.0);
        }
        if hitch && *q < -16.0 {
            qdd += 4000.0 * (-16.0 - *q);
        }
        *qd += qdd * DT;
        *q += *qd * DT;
        // Tremor: a resonator at 8–12 Hz, stronger with effort and fatigue.
        let tz = 0.1;
        let tra = tr_x;
        tr_v +=
            (-2.0 * tz * tw * tr_v - tw * tw * tra) * DT + tremor_drive * DT.sqrt() * gauss(rng);
        tr_x += tr_v * DT;
        *t += DT;
        let effort = (u / ph.cap.max(1e-6)).clamp(0.0, 1.0);
        let tremor_amp = (0.04 + 0.9 * f.powf(1.5) * effort) * unit * 0.35;
        amp_lag += (tremor_amp - amp_lag) * DT / 0.08;
        let s_norm = (*q / ph.target.max(1e-6)).clamp(-0.3, 1.4);
        let obl_goal = (ph.hike - ph.drop) * s_norm.max(0.0)
            + l.obl_coupling * (1.0 + 0.5 * f) * (*q / r)
            + ph.sway * sway_wave(*t, ph);
        obl_lag += (obl_goal - obl_lag) * DT / 0.06;
        let flex_goal = (l.flex * (1.0 + 2.0 * f) + ph.flex) * s_norm.max(0.0);
        flex_lag += (flex_goal - flex_lag) * DT / 0.12;
        step += 1;
        if step.is_multiple_of(SUB) {
            let qn = *q + amp_lag * tr_x;
            let sn = s_norm.max(0.0);
            let sway_lean = 0.5 * ph.sway * sway_wave(*t, ph);
            ch.push(Ch {
                q: qn,
                flex: flex_lag,
                obl: obl_lag,
                lean: l.lean * (1.0 + 0.3 * f) * sn + sway_lean + ph.pause_fidget,
                pitch: 2.0 * f * sn + 0.3 * ph.pause_fidget,
                yaw: l.yaw * sn + 3.0 * sway_lean / 4.0,
                shift: l.shift * sn * (1.0 + f),
            });
        }
    };
    // Setup: still in position before the first rep.
    let n_setup = (setup / DT) as usize;
    for _ in 0..n_setup {
        advance(&ph, &mut q, &mut qd, &mut act, &mut t, rng, &mut ch);
    }
    let tempo = plan.tempo;
    for a in &plan.attempts {
        let f = a.f.clamp(0.0, 0.9);
        ph.f = f;
        ph.cap = a.rho * load(r);
        ph.r = 0.0;
        ph.rd = 0.0;
        ph.kp_scale = 1.0;
        ph.kd_scale = 1.0;
        // A pause in position before this attempt.
        let pause = match a.pause {
            Pause::None => 0.0,
            Pause::Rest(p) | Pause::Drop(p) => p,
        };
        if pause > 0.0 {
            let n = (pause / DT) as usize;
            let fidget = matches!(a.pause, Pause::Drop(_));
            for i in 0..n {
                let u = i as f64 / n as f64;
                ph.pause_fidget = if fidget {
                    4.0 * (PI * u).sin().powi(2) * (2.0 * PI * 0.7 * u * pause).sin()
                } else {
                    0.0
                };
                ph.f = f * (1.0 - 0.3 * smooth(u));
                advance(&ph, &mut q, &mut qd, &mut act, &mut t, rng, &mut ch);
            }
            ph.pause_fidget = 0.0;
            ph.f = f;
        }
        let (t_con, t_top, t_ecc, t_bot) = match tempo {
            Tempo::Standard => (
                uni(rng, 0.7, 1.2),
                uni(rng, 0.0, 0.3),
                uni(rng, 1.0, 1.6),
                uni(rng, 0.15, 0.5),
            ),
            Tempo::Slow313 => (
                uni(rng, 2.6, 3.2),
                uni(rng, 0.8, 1.2),
                uni(rng, 2.6, 3.3),
                uni(rng, 0.2, 0.5),
            ),
            Tempo::Explosive => (
                uni(rng, 0.3, 0.5),
                uni(rng, 0.0, 0.2),
                uni(rng, 1.4, 2.2),
                uni(rng, 0.2, 0.5),
            ),
            Tempo::PauseTop => (
                uni(rng, 0.8, 1.2),
                uni(rng, 1.4, 2.4),
                uni(rng, 1.2, 1.8),
                uni(rng, 0.3, 0.6),
            ),
        };
        let t_con = t_con * (1.0 + 0.6 * f);
        let t_ecc = t_ecc * (1.0 - 0.2 * f);
        let t_bot = t_bot + 0.8 * f * uni(rng, 0.5, 1.5);
        let target = r * (1.0 - 0.08 * f) * (1.0 + 0.04 * gauss(rng)).clamp(0.9, 1.1);
        let target = if a.momentum { target * 1.05 } else { target };
        ph.target = target;
        ph.hike = if hitch { 0.0 } else { a.hike };
        ph.drop = a.drop;
        ph.sway = a.sway;
        ph.flex = a.flex;
        let go = t;
        ph.sway_t0 = go;
        ph.sway_period = t_con + t_top + t_ecc;
        // Concentric: the reference slews toward the target.
        let speed = if a.momentum {
            target / 0.12
        } else {
            target / t_con
        };
        if a.momentum {
            ph.kp_scale = 2.2;
            ph.kd_scale = 0.5;
        }
        let mut slow = 0.0;
        let mut elapsed = 0.0;
        let failed = matches!(a.kind, Kind::Failed(_));
        loop {
            ph.r = (ph.r + speed * DT).min(target);
            ph.rd = if ph.r < target { speed } else { 0.0 };
            advance(&ph, &mut q, &mut qd, &mut act, &mut t, rng, &mut ch);
            elapsed += DT;
            if q >= 0.96 * target && !failed {
                break;
            }
            if qd < 3.0 * unit && elapsed > 0.35 {
                slow += DT;
            } else {
                slow = 0.0;
            }
            if slow > 0.25 || elapsed > 5.0 {
                break;
            }
        }
        // Top: the planned hold, or a shaking grind on a failed rep.
        let hold = match a.kind {
            Kind::Failed(_) => uni(rng, 0.6, 1.6),
            Kind::Partial(_) => uni(rng, 0.05, 0.3),
            Kind::Full => t_top,
        };
        let hold_target = if failed || matches!(a.kind, Kind::Partial(_)) {
            target
        } else {
            ph.r
        };
        ph.kp_scale = 1.0;
        ph.kd_scale = 1.0;
        let n_hold = (hold / DT) as usize;
        for _ in 0..n_hold {
            ph.r = hold_target;
            ph.rd = 0.0;
            if failed {
                ph.f = (f + 0.25).min(0.95);
            }
            advance(&ph, &mut q, &mut qd, &mut act, &mut t, rng, &mut ch);
        }
        ph.f = f;
        // Eccentric: the reference slews back down (let go on a fling).
        let top = q.max(1.0 * unit);
        ph.r = top;
        let t_down = if failed { uni(rng, 0.6, 1.0) } else { t_ecc };
        let down = top / t_down;
        if a.momentum {
            ph.kp_scale = 0.25;
            ph.kd_scale = 0.4;
        }
        let end_r = if hitch && a.hike > 0.0 {
            -a.hike * 0.8
        } else {
            0.0
        };
        let mut el = 0.0;
        loop {
            ph.r = (ph.r - down * DT).max(end_r);
            ph.rd = if ph.r > end_r { -down } else { 0.0 };
            advance(&ph, &mut q, &mut qd, &mut act, &mut t, rng, &mut ch);
            el += DT;
            if ph.r <= end_r && (q - end_r).abs() < 0.08 * top.max(3.0 * unit) || el > 6.0 {
                break;
            }
        }
        if end_r < 0.0 {
            // The hiking hitch holds above level, then settles back.
            for _ in 0..((uni(rng, 0.3, 0.5)) / DT) as usize {
                advance(&ph, &mut q, &mut qd, &mut act, &mut t, rng, &mut ch);
            }
            let n = (0.6 / DT) as usize;
            for i in 0..n {
                ph.r = end_r * (1.0 - smooth(i as f64 / n as f64));
                ph.rd = 0.0;
                advance(&ph, &mut q, &mut qd, &mut act, &mut t, rng, &mut ch);
            }
        }
        ph.kp_scale = 1.0;
        ph.kd_scale = 1.0;
        ph.r = 0.0;
        ph.rd = 0.0;
        let back = t;
        // Bottom: breathe, until settled and the pause is over.
        let mut el = 0.0;
        loop {
            advance(&ph, &mut q, &mut qd, &mut act, &mut t, rng, &mut ch);
            el += DT;
            if (el >= t_bot && q.abs() < 0.05 * r.max(4.0) && qd.abs() < 10.0 * unit) || el > 3.0 {
                break;
            }
        }
        done.push(Done {
            go,
            back,
            target,
            attempt: *a,
        });
    }
    // Settle, then fade the channels to exactly neutral so the rest joins.
    ph.hike = 0.0;
    ph.drop = 0.0;
    ph.sway = 0.0;
    ph.flex = 0.0;
    for _ in 0..((uni(rng, 1.0, 2.0)) / DT) as usize {
        advance(&ph, &mut q, &mut qd, &mut act, &mut t, rng, &mut ch);
    }
    let n_fade = (0.6 * GRID_HZ) as usize;
    let len = ch.len();
    for i in 0..n_fade.min(len) {
        let k = len - n_fade.min(len) + i;
        let w = 1.0 - smooth((i + 1) as f64 / n_fade as f64);
        let c = ch[k];
        ch[k] = Ch::from_arr(c.arr().map(|v| v * w));
    }
    // And from exactly neutral at the start.
    let n_in = (0.5 * GRID_HZ) as usize;
    for i in 0..n_in.min(ch.len()) {
        let w = smooth(i as f64 / n_in as f64);
        let c = ch[i];
        ch[i] = Ch::from_arr(c.arr().map(|v| v * w));
    }
    // One grid point at t0.
    ch.insert(0, Ch::default());
    SetTrack {
        t0: t0 - 1.0 / GRID_HZ,
        ch,
        done,
        base,
    }
}

/// Blends key poses; overlays walking, shaking and re-strapping.
fn keys_pose(keys: &[Key], t: f64) -> Pose {
    let k = keys.partition_point(|k| k.t <= t);
    if k == 0 {
        return keys[0].pose;
    }
    if k >= keys.len() {
        return keys[keys.len() - 1].pose;
    }
    let (a, b) = (&keys[k - 1], &keys[k]);
    let span = (b.t - a.t).max(1e-6);
    let u = (t - a.t) / span;
    let mut p = a.pose.blend(&b.pose, smooth(u));
    // Envelope: up over 0.5 s, down over the last 0.5 s.
    let env = smooth((t - a.t) / 0.5) * smooth((b.t - t) / 0.5);
    match a.overlay {
        Overlay::None => {}
        Overlay::Walk { hz } => {
            let ph = 2.0 * PI * hz * (t - a.t);
            p.pelvis_pos.z += env * 0.018 * (2.0 * ph).cos();
            p.pelvis = p.pelvis * rz(deg(env * 3.5 * ph.sin())) * ry(deg(env * 4.0 * ph.cos()));
            p.hip *= rx(deg(env * 22.0 * ph.sin()));
            p.knee += deg(env * 45.0 * (ph + PI / 2.0).sin().max(0.0));
        }
        Overlay::Shake { hz, deg: amp } => {
            let ph = 2.0 * PI * hz * (t - a.t);
            p.hip =
                p.hip * rx(deg(env * amp * ph.sin())) * rz(deg(env * 0.4 * amp * (1.3 * ph).sin()));
        }
        Overlay::Restrap => {
            let ph = 2.0 * PI * (t - a.t);
            p.strap = p.strap
                * rx(deg(env * 35.0 * (1.1 * ph).sin()))
                * ry(deg(env * 50.0 * (0.7 * ph + 1.0).sin()))
                * rz(deg(env * 25.0 * (1.7 * ph).sin()));
        }
    }
    p
}

/// Fills a rest with what lifters do between sets.
#[allow(clippy::too_many_arguments)]
fn plan_rest(
    rng: &mut ChaCha8Rng,
    cfg: &SimConfig,
    l: &Lifter,
    from: Pose,
    t0: f64,
    rest: f64,
    base: SetBase,
    next: SetBase,
    sim: &FatigueSimulator,
) -> (Vec<Key>, Vec<String>, UnitQuaternion<f64>) {
    let ex = cfg.exercise;
    let side = cfg.side;
    let posture = posture_of(ex);
    let clock = sim.sensor.clock;
    let st = |t: f64| clock.sensor_time(t);
    let mut notes = Vec::new();
    let mut keys = vec![Key {
        t: t0,
        pose: from,
        overlay: Overlay::None,
    }];
    let t_end = t0 + rest;
    // The next set's neutral, with a possibly new strap.
    let mut new_strap = base.strap;
    let restrap = cfg.fidgets && rng.gen_bool(0.3);
    if restrap {
        let mut s = draw_strap(rng, cfg);
        if cfg.placement == Placement::Pelvis {
            s = base.strap * rx(deg(gauss(rng) * 3.0)) * rz(deg(gauss(rng) * 3.0));
        }
        new_strap = s;
    }
    let mut next_b = next;
    next_b.strap = new_strap;
    let target = sim.exercise_pose(&next_b, &Ch::default(), l.knee);
    let upright = |heading: f64, origin: Vector3<f64>, strap: UnitQuaternion<f64>| Pose {
        pelvis: base_rotation(Posture::Standing, side, heading),
        pelvis_pos: origin + Vector3::new(0.0, 0.0, 0.93),
        hip: UnitQuaternion::identity(),
        knee: deg(4.0),
        strap,
        sway: 1.0,
        pivot: 0.93,
    };
    let bench = |heading: f64, origin: Vector3<f64>, strap: UnitQuaternion<f64>| Pose {
        pelvis: base_rotation(Posture::Standing, side, heading) * rx(deg(10.0)),
        pelvis_pos: origin + Vector3::new(0.0, 0.0, 0.5),
        hip: rx(deg(85.0)),
        knee: deg(85.0),
        strap,
        sway: 0.3,
        pivot: 0.0,
    };
    let mut t = t0;
    let mut cur = from;
    let push = |keys: &mut Vec<Key>, t: &mut f64, dur: f64, pose: Pose, ov: Overlay| {
        if let Some(last) = keys.last_mut() {
            last.overlay = ov;
        }
        *t += dur;
        keys.push(Key {
            t: *t,
            pose,
            overlay: Overlay::None,
        });
    };
    // Turning on the spot toward `face` (for `secs.0`), then walking there
    // from `ends.0` to `ends.1` at `hz` steps a second (for `secs.1`).
    let walk = |keys: &mut Vec<Key>,
                t: &mut f64,
                secs: (f64, f64),
                face: f64,
                ends: (Vector3<f64>, Vector3<f64>),
                strap: UnitQuaternion<f64>,
                hz: f64| {
        push(
            keys,
            t,
            secs.0,
            upright(face, ends.0, strap),
            Overlay::Walk { hz: 1.4 },
        );
        push(
            keys,
            t,
            secs.1,
            upright(face, ends.1, strap),
            Overlay::Walk { hz },
        );
    };
    // Leave the exercise posture to standing (or stay).
    let origin = base.origin;
    let stand_here = upright(base.heading, origin, cur.strap);
    let reserve_back = match posture {
        Posture::Standing => 2.5,
        Posture::Lying => 6.0,
        Posture::Seated => 4.0,
    };
    let stay = match posture {
        Posture::Standing => false,
        _ => rng.gen_bool(0.45),
    };
    if stay {
        // Stay lying or seated: phone, breathe, maybe adjust or shake out.
        let mid = t_end - t - 3.0;
        let relaxed = match posture {
            Posture::Lying => {
                let mut p = cur;
                p.pelvis = supine_rotation(base.heading);
                p.pelvis_pos = origin + Vector3::new(0.0, 0.0, 0.11);
                p.hip = rx(deg(10.0));
                p.knee = deg(20.0);
                p
            }
            _ => {
                let mut p = cur;
                p.pelvis *= rx(deg(12.0));
                p
            }
        };
        let what = if posture == Posture::Lying {
            "rolled onto the back to rest"
        } else {
            "stayed on the machine, leaning forward on the phone"
        };
        notes.push(format!(
            "{what} ({:.1}–{:.1} s)",
            st(t),
            st(t + mid.max(2.0))
        ));
        push(&mut keys, &mut t, 2.0, relaxed, Overlay::None);
        let hold = (mid - 2.0).max(0.5);
        if cfg.fidgets && rng.gen_bool(0.5) && hold > 4.0 {
            push(&mut keys, &mut t, hold / 2.0, relaxed, Overlay::None);
            notes.push(format!(
                "shook the working leg out ({:.1}–{:.1} s)",
                st(t),
                st(t + 1.5)
            ));
            push(
                &mut keys,
                &mut t,
                1.5,
                relaxed,
                Overlay::Shake { hz: 2.5, deg: 10.0 },
            );
            push(
                &mut keys,
                &mut t,
                (hold / 2.0 - 1.5).max(0.3),
                relaxed,
                Overlay::None,
            );
        } else {
            push(&mut keys, &mut t, hold, relaxed, Overlay::None);
        }
        let left = (t_end - t).max(0.5);
        if restrap {
            notes.push(format!(
                "re-strapped the sensor ({:.1}–{:.1} s)",
                st(t),
                st(t + left)
            ));
        }
        push(
            &mut keys,
            &mut t,
            left,
            target,
            if restrap {
                Overlay::Restrap
            } else {
                Overlay::None
            },
        );
        keys.last_mut().unwrap().t = t_end;
        return (keys, notes, new_strap);
    }
    // Get up to standing.
    match posture {
        Posture::Standing => push(&mut keys, &mut t, 1.0, stand_here, Overlay::None),
        Posture::Lying => {
            let mut kneel = bench(base.heading, origin, cur.strap);
            kneel.pelvis_pos.z = 0.55;
            kneel.hip = rx(deg(10.0));
            kneel.knee = deg(100.0);
            notes.push(format!(
                "got up off the mat ({:.1}–{:.1} s)",
                st(t),
                st(t + 3.5)
            ));
            push(&mut keys, &mut t, 2.0, kneel, Overlay::None);
            push(&mut keys, &mut t, 1.5, stand_here, Overlay::None);
        }
        Posture::Seated => {
            notes.push(format!(
                "stood up from the machine ({:.1}–{:.1} s)",
                st(t),
                st(t + 1.8)
            ));
            push(&mut keys, &mut t, 1.8, stand_here, Overlay::None);
        }
    }
    cur = stand_here;
    // Fill the middle with activities until reserve_back seconds remain.
    let mut budget = t_end - t - reserve_back;
    let mut heading = base.heading;
    let here = origin;
    let mut guard = 0;
    while budget > 3.0 && guard < 12 {
        guard += 1;
        let choice = rng.gen_range(0..7);
        match choice {
            0 | 1 if cfg.walking && budget > 14.0 => {
                // To the water fountain, drink, and back.
                let dist = uni(rng, 4.0, 12.0).min((budget - 8.0) * 0.6 / 2.0).max(2.0);
                let dir = heading + uni(rng, -PI, PI);
                let away = here + Vector3::new(dir.cos(), dir.sin(), 0.0) * dist;
                let walk_t = dist / 1.2;
                let hz = uni(rng, 0.85, 1.0);
                let t_a = t;
                let face = dir - PI / 2.0;
                walk(
                    &mut keys,
                    &mut t,
                    (1.0, walk_t),
                    face,
                    (here, away),
                    cur.strap,
                    hz,
                );
                let mut drink = upright(face, away, cur.strap);
                drink.pelvis *= rx(deg(-4.0));
                push(&mut keys, &mut t, 1.0, drink, Overlay::None);
                let sip = uni(rng, 3.0, 6.0);
                push(&mut keys, &mut t, sip, drink, Overlay::None);
                let back_face = face + PI;
                walk(
                    &mut keys,
                    &mut t,
                    (1.5, walk_t),
                    back_face,
                    (away, here),
                    cur.strap,
                    hz,
                );
                heading = back_face;
                cur = upright(heading, here, cur.strap);
                notes.push(format!(
                    "walked to the water fountain, drank and came back ({:.1}–{:.1} s)",
                    st(t_a),
                    st(t)
                ));
            }
            2 if budget > 10.0 => {
                // Sit on a bench a moment.
                let t_a = t;
                let sit = uni(rng, 4.0, (budget - 4.0).min(40.0));
                let b = bench(heading, here, cur.strap);
                push(&mut keys, &mut t, 1.6, b, Overlay::None);
                push(&mut keys, &mut t, sit, b, Overlay::None);
                push(&mut keys, &mut t, 1.6, cur, Overlay::None);
                notes.push(format!("sat on a bench ({:.1}–{:.1} s)", st(t_a), st(t)));
            }
            3 if cfg.fidgets && budget > 8.0 => {
                // Adjust the cable or the machine: bend and reach.
                let t_a = t;
                let mut reach = cur;
                reach.pelvis =
                    cur.pelvis * rx(deg(uni(rng, 20.0, 40.0))) * ry(deg(gauss(rng) * 15.0));
                reach.hip = rx(deg(uni(rng, 10.0, 25.0)));
                let dur = uni(rng, 3.0, (budget - 2.4).clamp(3.0, 6.0));
                push(&mut keys, &mut t, 1.2, reach, Overlay::None);
                push(&mut keys, &mut t, dur, reach, Overlay::None);
                push(&mut keys, &mut t, 1.2, cur, Overlay::None);
                let what = match ex {
                    Exercise::SeatedMachineAbduction => "adjusted the machine's pads and pin",
                    Exercise::SideLyingAbduction => "moved the mat and the ankle weight",
                    _ => "adjusted the cable's height and pin",
                };
                notes.push(format!("{what} ({:.1}–{:.1} s)", st(t_a), st(t)));
            }
            4 if cfg.fidgets && budget > 5.0 => {
                let t_a = t;
                notes.push(format!(
                    "shook the working leg out ({:.1}–{:.1} s)",
                    st(t_a),
                    st(t_a + 2.0)
                ));
                push(
                    &mut keys,
                    &mut t,
                    2.0,
                    cur,
                    Overlay::Shake {
                        hz: uni(rng, 2.0, 3.5),
                        deg: uni(rng, 8.0, 18.0),
                    },
                );
            }
            _ => {
                // Stand: phone, drink from the bottle, breathe.
                let t_a = t;
                let dur = uni(rng, 3.0, (budget - 1.0).clamp(3.0, 25.0));
                let mut p = cur;
                let phone = rng.gen_bool(0.5);
                p.pelvis = cur.pelvis * rx(deg(if phone { 4.0 } else { -3.0 }));
                push(&mut keys, &mut t, 1.0, p, Overlay::None);
                push(&mut keys, &mut t, dur, p, Overlay::None);
                notes.push(format!(
                    "{} ({:.1}–{:.1} s)",
                    if phone {
                        "checked the phone"
                    } else {
                        "drank from a bottle"
                    },
                    st(t_a),
                    st(t)
                ));
            }
        }
        budget = t_end - t - reserve_back;
    }
    // Re-strap standing, foot up on the bench.
    if restrap && cfg.placement == Placement::Ankle && t_end - t > reserve_back + 5.0 {
        let mut up = cur;
        up.hip = rx(deg(70.0));
        up.knee = deg(95.0);
        up.pelvis = cur.pelvis * rx(deg(25.0));
        let dur = (t_end - t - reserve_back - 2.0).clamp(2.0, 8.0);
        let t_a = t;
        push(&mut keys, &mut t, 1.0, up, Overlay::None);
        let mut up2 = up;
        up2.strap = new_strap;
        push(&mut keys, &mut t, dur, up2, Overlay::Restrap);
        cur.strap = new_strap;
        push(&mut keys, &mut t, 1.0, cur, Overlay::None);
        notes.push(format!(
            "re-strapped the sensor ({:.1}–{:.1} s)",
            st(t_a),
            st(t)
        ));
    } else if restrap {
        cur.strap = new_strap;
        notes.push(format!(
            "re-clipped the sensor ({:.1}–{:.1} s)",
            st(t),
            st(t + 1.0)
        ));
        push(&mut keys, &mut t, 1.0, cur, Overlay::Restrap);
    }
    // Back into position for the next set.
    let left = (t_end - t).max(0.6);
    match posture {
        Posture::Standing => {
            push(&mut keys, &mut t, left, target, Overlay::None);
        }
        Posture::Lying => {
            let mut kneel = bench(next.heading, next.origin, new_strap);
            kneel.pelvis_pos.z = 0.55;
            kneel.hip = rx(deg(10.0));
            kneel.knee = deg(100.0);
            let a = (left * 0.4).max(0.3);
            push(&mut keys, &mut t, a, kneel, Overlay::None);
            push(
                &mut keys,
                &mut t,
                (left - a).max(0.3),
                target,
                Overlay::None,
            );
            notes.push(format!(
                "lay back down on the mat ({:.1}–{:.1} s)",
                st(t - left),
                st(t)
            ));
        }
        Posture::Seated => {
            push(&mut keys, &mut t, left, target, Overlay::None);
            notes.push(format!(
                "sat back in the machine ({:.1}–{:.1} s)",
                st(t - left),
                st(t)
            ));
        }
    }
    keys.last_mut().unwrap().t = t_end;
    // Keys must stay in order even if the budget ran tight.
    let n = keys.len();
    for i in (0..n - 1).rev() {
        if keys[i].t > keys[i + 1].t - 0.05 {
            keys[i].t = keys[i + 1].t - 0.05;
        }
    }
    (keys, notes, new_strap)
}

impl FatigueSimulator {
    fn sample_at(&mut self, s_time: f64) -> Sample {
        let t = self.sensor.clock.body_time(s_time);
        let h = (0.4 / self.rate).clamp(0.0005, 0.004);
        let (q0, p0) = self.sensor_pose(t - h);
        let (q1, p1) = self.sensor_pose(t);
        let (q2, p2) = self.sensor_pose(t + h);
        let acc_w = (p2 - 2.0 * p1 + p0) / (h * h);
        let f_w = acc_w + Vector3::new(0.0, 0.0, STANDARD_GRAVITY);
        let f_s = q1.inverse() * f_w;
        let d = q0.inverse() * q2;
        let w_s = d.scaled_axis() / (2.0 * h);
        let sm = &self.sensor;
        let warm = 1.0 - (-t / sm.warm_tau).exp();
        let gn = sm.gyro_noise * self.noise * (self.rate / 100.0).sqrt().max(0.5);
        let an = sm.acc_noise * self.noise * (self.rate / 100.0).sqrt().max(0.5);
        let mut g = sm.scale * w_s.map(|v| v.to_degrees()) + sm.gyro_bias + sm.gyro_warm * warm;
        let mut a = sm.scale * f_s + sm.acc_bias;
        for i in 0..3 {
            g[i] += gn * gauss(&mut self.rng);
            a[i] += an * gauss(&mut self.rng);
            g[i] = ((g[i] / sm.gyro_lsb).round() * sm.gyro_lsb).clamp(-sm.gyro_max, sm.gyro_max);
            a[i] = ((a[i] / sm.acc_lsb).round() * sm.acc_lsb).clamp(-sm.acc_max, sm.acc_max);
        }
        Sample {
            t: s_time,
            acc: a,
            gyr: g,
        }
    }
}

impl Iterator for FatigueSimulator {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        let end = self.sensor.clock.sensor_time(self.duration);
        loop {
            let s_time = self.index as f64 / self.rate;
            if s_time > end {
                return None;
            }
            self.index += 1;
            if self.drop_rate > 0.0 && self.rng.gen::<f64>() < self.drop_rate {
                continue;
            }
            if in_ble_gap(&self.gaps, &mut self.gap_cursor, s_time) {
                continue;
            }
            let mut s = self.sample_at(s_time);
            if self.sensor.kind == SensorKind::WitMotion {
                // The host stamps each notification; frames in it get nominal spacing.
                if self.batch_left == 0 {
                    self.batch_left = self.rng.gen_range(1..=4);
                    self.batch_stamp = s_time + self.sensor.jitter * gauss(&mut self.rng).abs();
                } else {
                    self.batch_stamp += 1.0 / self.rate;
                }
                self.batch_left -= 1;
                s.t = self.batch_stamp;
            }
            s.t = (s.t * 1e6).round() / 1e6;
            if s.t < self.last_t {
                s.t = self.last_t;
            }
            self.last_t = s.t;
            return Some(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::sim::SimModel;

    use crate::source::sim::PAIRS as COMBOS;

    fn cfg(ex: Exercise, p: Placement, side: Side, seed: u64) -> SimConfig {
        let mut c = SimConfig::new(ex, p, side);
        c.model = SimModel::Fatigue;
        c.seed = seed;
        c
    }

    #[test]
    fn every_exercise_and_placement_gives_the_sets_and_reps_asked() {
        for (i, &(ex, p)) in COMBOS.iter().enumerate() {
            for side in [Side::Left, Side::Right] {
                for seed in 0..6u64 {
                    let c = cfg(ex, p, side, seed * 31 + i as u64);
                    let (_, truth) = FatigueSimulator::new(&c).unwrap();
                    assert_eq!(truth.sets.len(), c.sets, "{ex} {p} {side} {seed}");
                    for s in &truth.sets {
                        assert!(
                            (c.reps_min..=c.reps_max).contains(&s.rep_count),
                            "{ex} {p} {side} seed {seed}: {} reps",
                            s.rep_count
                        );
                        assert_eq!(s.rep_count, s.reps.len());
                    }
                }
            }
        }
    }

    #[test]
    fn truth_reps_do_not_overlap_and_lie_within_their_set() {
        for (i, &(ex, p)) in COMBOS.iter().enumerate() {
            let c = cfg(ex, p, Side::Right, 100 + i as u64);
            let (_, truth) = FatigueSimulator::new(&c).unwrap();
            let mut last_end = f64::NEG_INFINITY;
            for s in &truth.sets {
                assert!(s.start_s > last_end);
                for r in &s.reps {
                    assert!(r.start_s < r.end_s, "{ex} {p}");
                    assert!(r.start_s >= s.start_s && r.end_s <= s.end_s);
                    assert!(r.start_s > last_end, "{ex} {p}: overlap");
                    last_end = r.end_s;
                    assert!(r.peak_deg > 0.0);
                }
                // Gaps inside a set stay under DOMAIN's ~10 s.
                for w in s.reps.windows(2) {
                    assert!(w[1].start_s - w[0].end_s < 10.0, "{ex} {p}");
                }
            }
            assert!(truth.duration_s >= last_end);
        }
    }

    #[test]
    fn the_truth_peak_is_the_generated_motion() {
        for &(ex, p) in &COMBOS {
            let c = cfg(ex, p, Side::Left, 7);
            let (sim, truth) = FatigueSimulator::new(&c).unwrap();
            let clock = sim.sensor.clock;
            for (i, s) in truth.sets.iter().enumerate() {
                let track = &sim.sets[i];
                let rest_t = track.done[0].go - 0.25;
                let (rest_sensor, _) = sim.sensor_pose(rest_t);
                let (rest_pelvis, _) = sim.pelvis_only(rest_t);
                for r in &s.reps {
                    let (a, b) = (clock.body_time(r.start_s), clock.body_time(r.end_s));
                    let mut peak: f64 = 0.0;
                    let mut t = a;
                    while t <= b {
                        let v = match p {
                            Placement::Ankle => (rest_sensor.inverse() * sim.sensor_pose(t).0)
                                .angle()
                                .to_degrees(),
                            Placement::Pelvis => sim.obliquity(&rest_pelvis, t).abs(),
                        };
                        peak = peak.max(v);
                        t += 0.001;
                    }
                    assert!(
                        (peak - r.peak_deg).abs() < 0.05 * r.peak_deg.max(1.0) + 0.3,
                        "{ex} {p}: measured {peak} truth {}",
                        r.peak_deg
                    );
                }
            }
        }
    }

    #[test]
    fn every_rate_gives_monotonic_stamps_at_that_rate() {
        for rate in [10.0, 25.0, 50.0, 100.0, 400.0, 1000.0, 2000.0] {
            let mut c = cfg(
                Exercise::StandingCableAbduction,
                Placement::Ankle,
                Side::Right,
                3,
            );
            c.rate_hz = rate;
            c.sets = 1;
            c.reps_min = 3;
            c.reps_max = 3;
            c.drop_rate = 0.0;
            c.gaps_per_min = 0.0;
            let (sim, truth) = FatigueSimulator::new(&c).unwrap();
            let samples: Vec<Sample> = sim.collect();
            assert!(samples.iter().all(|s| s.is_finite()));
            assert!(samples.windows(2).all(|w| w[1].t >= w[0].t), "{rate}");
            let expected = truth.duration_s * rate;
            let n = samples.len() as f64;
            assert!(
                (n - expected).abs() < 0.01 * expected + 3.0,
                "{rate}: {n} vs {expected}"
            );
        }
    }

    #[test]
    fn at_rest_the_sensor_reads_gravity() {
        let mut c = cfg(
            Exercise::StandingCableAbduction,
            Placement::Pelvis,
            Side::Right,
            5,
        );
        c.noise = 0.0;
        let (sim, _) = FatigueSimulator::new(&c).unwrap();
        let s: Vec<Sample> = sim.take(20).collect();
        for x in &s {
            assert!(
                (x.acc.norm() - STANDARD_GRAVITY).abs() < 0.6,
                "{}",
                x.acc.norm()
            );
            // Up is +Y on the sacrum, within the clip's tilt.
            assert!(x.acc.y > 8.5, "{:?}", x.acc);
        }
    }

    #[test]
    fn a_fatigued_set_ends_smaller_and_slower_than_it_starts() {
        let (mut early_peak, mut late_peak, mut early_dur, mut late_dur) = (0.0, 0.0, 0.0, 0.0);
        let mut n = 0.0;
        for seed in 0..24u64 {
            let mut c = cfg(
                Exercise::SideLyingAbduction,
                Placement::Ankle,
                Side::Right,
                seed,
            );
            c.reps_min = 12;
            c.reps_max = 15;
            c.sets = 2;
            let (_, truth) = FatigueSimulator::new(&c).unwrap();
            for s in &truth.sets {
                let k = s.reps.len();
                let first = &s.reps[..3];
                let last = &s.reps[k - 3..];
                let mean = |r: &[TruthRep], f: &dyn Fn(&TruthRep) -> f64| {
                    r.iter().map(f).sum::<f64>() / r.len() as f64
                };
                early_peak += mean(first, &|r| r.peak_deg);
                late_peak += mean(last, &|r| r.peak_deg);
                early_dur += mean(first, &|r| r.end_s - r.start_s);
                late_dur += mean(last, &|r| r.end_s - r.start_s);
                n += 1.0;
            }
        }
        assert!(
            late_peak / n < early_peak / n,
            "{} vs {}",
            late_peak / n,
            early_peak / n
        );
        assert!(
            late_dur / n > early_dur / n,
            "{} vs {}",
            late_dur / n,
            early_dur / n
        );
    }

    #[test]
    fn failed_reps_are_listed_not_counted() {
        let mut seen = 0;
        for seed in 0..30u64 {
            let c = cfg(
                Exercise::StandingCableAbduction,
                Placement::Ankle,
                Side::Left,
                seed,
            );
            let (_, truth) = FatigueSimulator::new(&c).unwrap();
            seen += truth
                .distractions
                .iter()
                .filter(|d| d.starts_with("failed rep"))
                .count();
        }
        assert!(seen > 3, "{seen}");
    }
}
