//! The studio body model: Pilates, barre and yoga studios, with motion written
//! directly as orientations.
//!
//! # Representation
//!
//! Nothing here is a joint angle integrated over time or a force. Every body
//! segment's orientation is a curve in SO(3):
//!
//! * **What the lifter means to do** is a list of quaternion keyframes per
//!   segment: the pelvis in the world ([`QTrack`] `root`), the working thigh
//!   relative to the pelvis (`hip`), the shank relative to the thigh
//!   (`knee`) and the sensor relative to the shank or sacrum (`mount`, which
//!   is how straps creep and are re-strapped). Between two keys the curve is
//!   `q(t) = q_k · exp(h(t))`, with `h` a quintic Hermite polynomial in the
//!   log map (the tangent space at `q_k`) from 0 to `log(q_k⁻¹ q_{k+1})`, its
//!   end tangents the body rates at the keys (zero at a "stop" key, a
//!   Bessel/Catmull–Rom rate at a "pass" key) and zero second derivatives,
//!   so the curve is C² on the group. Its body angular rate is analytic:
//!   `ω = J_r(h) ḣ`, with `J_r` the right Jacobian of SO(3).
//! * **What the lifter does not mean to do** (postural sway, breathing and
//!   tremor) are cumulative cubic B-splines on the unit quaternions
//!   ([`BSplineSo3`], Kim–Kim–Shin) whose control rotations follow
//!   Ornstein–Uhlenbeck processes; their angular rate is the analytic
//!   derivative of the cumulative basis.
//! * Positions come from a segment chain (pelvis → hip → knee → sensor on the
//!   shank, or pelvis → sacrum); the pelvis' own path is a quintic Hermite
//!   spline in R³ plus a cubic B-spline sway. Acceleration is the second
//!   central difference of the sensor's position at ±2 ms (the curves are C²),
//!   plus short decaying transients for foot strikes and a reformer carriage
//!   hitting its stopper.
//!
//! # The intention
//!
//! A hidden semi-Markov process chooses each rep's phases (rest at neutral,
//! rise, hold, pulse, hold, lower) and their durations; an Ornstein–Uhlenbeck
//! process drifts the keyframes from rep to rep (peak, plane of the lift,
//! neutral); fatigue shrinks the range; breath paces some sets (exhale to
//! lift); an instructor changes the tempo mid-set in others.
//!
//! # Lifters and studio style
//!
//! Beginners with very small ranges (8–22°), regulars (22–45°) and dancers
//! (50–85°); slow controlled reps (3–6 s), long holds at the top (5–20 s),
//! pulses at the top (2–6° down and up while the leg stays raised), "lifts
//! then pulses" finishers; side-lying on a mat or on a reformer's box,
//! standing at the barre holding on or at the tower's spring, seated with a
//! ring round the knees or on the studio's abductor; hip hitches on a step
//! at the barre.
//!
//! # Pulses and the truth
//!
//! DOMAIN.md: a rep leaves neutral, reaches a peak and returns near neutral.
//! Pulses never return near neutral (the leg stays at ≥ 60 % of the rep's
//! peak), so **pulses are never reps**: they belong to the rep whose
//! excursion contains them. "10 lifts then pulses" comes in two forms: the
//! pulses on top of the last lift (10 reps in the truth), or the leg lowered
//! to neutral, raised again and pulsed, then lowered (that second excursion
//! is one rep: 10 lifts + 1 = 11 in the truth; the set's drawn count already
//! includes it, so it stays within `reps_min..reps_max`).
//!
//! # Between sets (all listed in the truth's `distractions`)
//!
//! With `fidgets`: the other side's set (rolling over or turning round at the
//! barre; only `cfg.side`'s sets are truth sets), leg circles, roll-downs,
//! cat-cow on all fours, a lunge into a stretch, lying on the back, shaking
//! the leg out, a single swing, a towel or a sip, re-strapping the sensor.
//! With `walking`: walks across the studio, getting off and on the reformer
//! or the machine. Without either the lifter rests in place.
//!
//! # Sensor
//!
//! One of the sensors people own (WitMotion, Thingy:52, MetaMotion, Movella
//! DOT class): bias (gyro within `gyro_bias_dps`, part of it arriving as the
//! sensor warms), scale and cross-axis errors, white noise scaled by `noise`,
//! quantisation to the device's LSB, clipping at its full scale, a clock
//! that drifts tens of ppm, whole BLE notifications dropped (`drop_rate`),
//! 200 ms gaps (`gaps_per_min`), any mounting on the shank or within ±15° on
//! the sacrum (`random_mounting`), straps on leggings that creep round the
//! shin faster as the lifter sweats.
//!
//! # The truth's rules
//!
//! Exactly `cfg.sets` truth sets, each of `reps_min..=reps_max` reps. A rep
//! starts when the intention leaves neutral and ends when it is back. Its
//! `peak_deg` is measured on the noise-free kinematics: ankle, the largest
//! rotation of the sensor from its orientation 0.25 s before the set's first
//! rep; pelvis, the largest |obliquity change| from the same moment
//! (obliquity: rotation of the pelvis about its front-back axis, positive
//! when the free side rises; in side-lying "rises" means toward the head).
//! Flag values, also measured: `hip_hike` the largest obliquity (≥ +5°,
//! held at the top), `pelvic_drop` the lowest obliquity (signed, ≤ −5°),
//! `trunk_sway` the smaller of the two one-sided obliquity excursions (both
//! beyond 5°), `momentum` the rep's largest angular speed of the sensor
//! (°/s), `partial_range` the shortfall of the rep's peak below the set's
//! working range (median peak of its full reps, °), `hip_flexion_drift` the
//! largest angle of the thigh forward out of the pelvis' frontal plane,
//! relative to the set's neutral (°). Times are on the sensor's clock.

use super::gauss;
use crate::motion::FlagKind;
use crate::sample::STANDARD_GRAVITY;
use crate::source::sim::{in_ble_gap, SimConfig, Truth, TruthFlag, TruthRep, TruthSet};
use crate::{Exercise, Placement, Sample, Side};
use nalgebra::{Matrix3, UnitQuaternion, Vector3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::f64::consts::PI;

type V3 = Vector3<f64>;
type Q = UnitQuaternion<f64>;

const D2R: f64 = PI / 180.0;
const R2D: f64 = 180.0 / PI;
/// Half-step of the central difference that turns positions into acceleration, s.
const ACC_H: f64 = 0.002;

// ---------------------------------------------------------------------------
// SO(3) helpers

fn rx(deg: f64) -> Q {
    Q::from_axis_angle(&V3::x_axis(), deg * D2R)
}
fn ry(deg: f64) -> Q {
    Q::from_axis_angle(&V3::y_axis(), deg * D2R)
}
fn rz(deg: f64) -> Q {
    Q::from_axis_angle(&V3::z_axis(), deg * D2R)
}
fn exp_map(v: &V3) -> Q {
    Q::from_scaled_axis(*v)
}
fn log_map(q: &Q) -> V3 {
    q.scaled_axis()
}
fn skew(v: &V3) -> Matrix3<f64> {
    Matrix3::new(0.0, -v.z, v.y, v.z, 0.0, -v.x, -v.y, v.x, 0.0)
}
/// Right Jacobian of SO(3): `exp(φ + δ) ≈ exp(φ) exp(J_r(φ) δ)`.
fn jr(phi: &V3) -> Matrix3<f64> {
    let th = phi.norm();
    let k = skew(phi);
    if th < 1e-6 {
        return Matrix3::identity() - 0.5 * k + k * k / 6.0;
    }
    Matrix3::identity() - (1.0 - th.cos()) / (th * th) * k
        + (th - th.sin()) / (th * th * th) * (k * k)
}
fn jr_inv(phi: &V3) -> Matrix3<f64> {
    let th = phi.norm();
    let k = skew(phi);
    if th < 1e-6 {
        return Matrix3::identity() + 0.5 * k + k * k / 12.0;
    }
    Matrix3::identity()
        + 0.5 * k
        + (1.0 / (th * th) - (1.0 + th.cos()) / (2.0 * th * th.sin())) * (k * k)
}
fn lognormal(rng: &mut ChaCha8Rng, median: f64, spread: f64) -> f64 {
    median * (spread * gauss(rng)).exp()
}
fn random_unit(rng: &mut ChaCha8Rng) -> V3 {
    loop {
        let v = V3::new(gauss(rng), gauss(rng), gauss(rng));
        if v.norm() > 1e-6 {
            return v.normalize();
        }
    }
}
fn random_rotation(rng: &mut ChaCha8Rng) -> Q {
    let q = nalgebra::Quaternion::new(gauss(rng), gauss(rng), gauss(rng), gauss(rng));
    UnitQuaternion::from_quaternion(q)
}

// Quintic Hermite basis with zero second derivatives at both ends.
fn hermite(s: f64) -> [f64; 4] {
    let s2 = s * s;
    let s3 = s2 * s;
    let s4 = s3 * s;
    let s5 = s4 * s;
    [
        1.0 - 10.0 * s3 + 15.0 * s4 - 6.0 * s5,
        s - 6.0 * s3 + 8.0 * s4 - 3.0 * s5,
        -4.0 * s3 + 7.0 * s4 - 3.0 * s5,
        10.0 * s3 - 15.0 * s4 + 6.0 * s5,
    ]
}
fn hermite_d(s: f64) -> [f64; 4] {
    let s2 = s * s;
    let s3 = s2 * s;
    let s4 = s3 * s;
    [
        -30.0 * s2 + 60.0 * s3 - 30.0 * s4,
        1.0 - 18.0 * s2 + 32.0 * s3 - 15.0 * s4,
        -12.0 * s2 + 28.0 * s3 - 15.0 * s4,
        30.0 * s2 - 60.0 * s3 + 30.0 * s4,
    ]
}

// ---------------------------------------------------------------------------
// Keyframed curves

#[derive(Debug, Clone)]
struct QSeg {
    dt: f64,
    delta: V3,
    v0: V3,
    v1: V3,
}

/// Quaternion keyframes joined by quintic Hermite curves in the log map.
#[derive(Debug, Clone)]
struct QTrack {
    t: Vec<f64>,
    q: Vec<Q>,
    stop: Vec<bool>,
    seg: Vec<QSeg>,
}

impl QTrack {
    fn new(t0: f64, q: Q) -> Self {
        QTrack {
            t: vec![t0],
            q: vec![q],
            stop: vec![true],
            seg: Vec::new(),
        }
    }
    fn last_t(&self) -> f64 {
        *self.t.last().unwrap()
    }
    fn last_q(&self) -> Q {
        *self.q.last().unwrap()
    }
    fn push(&mut self, t: f64, q: Q, stop: bool) {
        let t = t.max(self.last_t() + 1e-3);
        self.t.push(t);
        self.q.push(q);
        self.stop.push(stop);
    }
    fn hold(&mut self, t: f64) {
        if t > self.last_t() + 1e-3 {
            let q = self.last_q();
            self.push(t, q, true);
        }
    }
    fn finish(&mut self) {
        let n = self.t.len();
        let mut d = Vec::with_capacity(n);
        for k in 0..n.saturating_sub(1) {
            d.push(log_map(&(self.q[k].inverse() * self.q[k + 1])));
        }
        let mut om = vec![V3::zeros(); n];
        for k in 1..n.saturating_sub(1) {
            if self.stop[k] {
                continue;
            }
            let (a, b) = (self.t[k] - self.t[k - 1], self.t[k + 1] - self.t[k]);
            let (ma, mb) = (d[k - 1] / a, d[k] / b);
            om[k] = (b * ma + a * mb) / (a + b);
        }
        self.seg = (0..n.saturating_sub(1))
            .map(|k| {
                let dt = self.t[k + 1] - self.t[k];
                QSeg {
                    dt,
                    delta: d[k],
                    v0: om[k] * dt,
                    v1: jr_inv(&d[k]) * om[k + 1] * dt,
                }
            })
            .collect();
    }
    /// Orientation and body angular rate (rad/s) at `t`.
    fn eval(&self, t: f64) -> (Q, V3) {
        let n = self.t.len();
        if n == 1 || t <= self.t[0] {
            return (self.q[0], V3::zeros());
        }
        if t >= self.t[n - 1] {
            return (self.q[n - 1], V3::zeros());
        }
        let k = self.t.partition_point(|&x| x <= t) - 1;
        let g = &self.seg[k];
        let s = (t - self.t[k]) / g.dt;
        let b = hermite(s);
        let bd = hermite_d(s);
        let h = b[1] * g.v0 + b[2] * g.v1 + b[3] * g.delta;
        let hd = (bd[1] * g.v0 + bd[2] * g.v1 + bd[3] * g.delta) / g.dt;
        (self.q[k] * exp_map(&h), jr(&h) * hd)
    }
}

/// Points in R³ joined by quintic Hermite curves (the pelvis' path).
#[derive(Debug, Clone)]
struct VTrack {
    t: Vec<f64>,
    p: Vec<V3>,
    stop: Vec<bool>,
    v: Vec<V3>,
}

impl VTrack {
    fn new(t0: f64, p: V3) -> Self {
        VTrack {
            t: vec![t0],
            p: vec![p],
            stop: vec![true],
            v: Vec::new(),
        }
    }
    fn last_t(&self) -> f64 {
        *self.t.last().unwrap()
    }
    fn last_p(&self) -> V3 {
        *self.p.last().unwrap()
    }
    fn push(&mut self, t: f64, p: V3, stop: bool) {
        let t = t.max(self.last_t() + 1e-3);
        self.t.push(t);
        self.p.push(p);
        self.stop.push(stop);
    }
    fn hold(&mut self, t: f64) {
        if t > self.last_t() + 1e-3 {
            let p = self.last_p();
            self.push(t, p, true);
        }
    }
    fn finish(&mut self) {
        let n = self.t.len();
        self.v = vec![V3::zeros(); n];
        for k in 1..n.saturating_sub(1) {
            if self.stop[k] {
                continue;
            }
            let (a, b) = (self.t[k] - self.t[k - 1], self.t[k + 1] - self.t[k]);
            let ma = (self.p[k] - self.p[k - 1]) / a;
            let mb = (self.p[k + 1] - self.p[k]) / b;
            self.v[k] = (b * ma + a * mb) / (a + b);
        }
    }
    fn eval(&self, t: f64) -> V3 {
        let n = self.t.len();
        if n == 1 || t <= self.t[0] {
            return self.p[0];
        }
        if t >= self.t[n - 1] {
            return self.p[n - 1];
        }
        let k = self.t.partition_point(|&x| x <= t) - 1;
        let dt = self.t[k + 1] - self.t[k];
        let b = hermite((t - self.t[k]) / dt);
        b[0] * self.p[k] + b[1] * dt * self.v[k] + b[2] * dt * self.v[k + 1] + b[3] * self.p[k + 1]
    }
}

// ---------------------------------------------------------------------------
// B-splines driven by Ornstein–Uhlenbeck control points

/// A cumulative cubic B-spline on the unit quaternions, uniform knots.
#[derive(Debug, Clone)]
struct BSplineSo3 {
    t0: f64,
    dt: f64,
    q: Vec<Q>,
    om: Vec<V3>,
}

impl BSplineSo3 {
    fn from_rotvecs(t0: f64, dt: f64, v: &[V3]) -> Self {
        let q: Vec<Q> = v.iter().map(exp_map).collect();
        let mut om = vec![V3::zeros(); q.len()];
        for j in 1..q.len() {
            om[j] = log_map(&(q[j - 1].inverse() * q[j]));
        }
        BSplineSo3 { t0, dt, q, om }
    }
    fn eval(&self, t: f64) -> (Q, V3) {
        let n = self.q.len();
        let x = ((t - self.t0) / self.dt).max(0.0);
        let mut i = x.floor() as usize + 1;
        let mut u = x - x.floor();
        if i + 2 >= n {
            i = n - 3;
            u = 1.0;
        }
        let (u2, u3) = (u * u, u * u * u);
        let b1 = (5.0 + 3.0 * u - 3.0 * u2 + u3) / 6.0;
        let b2 = (1.0 + 3.0 * u + 3.0 * u2 - 2.0 * u3) / 6.0;
        let b3 = u3 / 6.0;
        let d1 = (3.0 - 6.0 * u + 3.0 * u2) / 6.0 / self.dt;
        let d2 = (3.0 + 6.0 * u - 6.0 * u2) / 6.0 / self.dt;
        let d3 = 3.0 * u2 / 6.0 / self.dt;
        let (o1, o2, o3) = (self.om[i], self.om[i + 1], self.om[i + 2]);
        let a1 = exp_map(&(b1 * o1));
        let a2 = exp_map(&(b2 * o2));
        let a3 = exp_map(&(b3 * o3));
        let q = self.q[i - 1] * a1 * a2 * a3;
        let w = a3.inverse() * (a2.inverse() * (d1 * o1) + d2 * o2) + d3 * o3;
        (q, w)
    }
}

/// A uniform cubic B-spline in R³ (the pelvis' positional sway).
#[derive(Debug, Clone)]
struct BSplineR3 {
    t0: f64,
    dt: f64,
    p: Vec<V3>,
}

impl BSplineR3 {
    fn eval(&self, t: f64) -> V3 {
        let n = self.p.len();
        let x = ((t - self.t0) / self.dt).max(0.0);
        let mut i = x.floor() as usize + 1;
        let mut u = x - x.floor();
        if i + 2 >= n {
            i = n - 3;
            u = 1.0;
        }
        let (u2, u3) = (u * u, u * u * u);
        let c0 = (1.0 - u).powi(3) / 6.0;
        let c1 = (3.0 * u3 - 6.0 * u2 + 4.0) / 6.0;
        let c2 = (-3.0 * u3 + 3.0 * u2 + 3.0 * u + 1.0) / 6.0;
        let c3 = u3 / 6.0;
        c0 * self.p[i - 1] + c1 * self.p[i] + c2 * self.p[i + 1] + c3 * self.p[i + 2]
    }
}

/// An Ornstein–Uhlenbeck path in R³ sampled every `dt`: time constant `tau`,
/// stationary deviation `sigma` per axis (scaled by `scale`), starting at 0.
fn ou_path(
    rng: &mut ChaCha8Rng,
    n: usize,
    dt: f64,
    tau: f64,
    sigma: V3,
    scale: impl Fn(usize) -> f64,
) -> Vec<V3> {
    let a = (-dt / tau).exp();
    let b = (1.0 - a * a).sqrt();
    let mut x = V3::zeros();
    let mut out = Vec::with_capacity(n);
    for k in 0..n {
        let noise = V3::new(gauss(rng), gauss(rng), gauss(rng)).component_mul(&sigma);
        x = a * x + b * noise;
        out.push(x * scale(k));
    }
    out
}

// ---------------------------------------------------------------------------
// The body

#[derive(Debug, Clone, Copy, PartialEq)]
enum Posture {
    Stand,
    Kneel,
    SitMat,
    /// Lying on the side whose leg is down.
    SideLie(Side),
    Supine,
    Quad,
    /// Sitting on a machine, a box or the reformer's carriage.
    SitHigh,
    /// A lunge with the working leg in front (true) or behind.
    Lunge(bool),
    /// Rolling down through the spine, degrees of pelvic tilt.
    RollDown(f64),
}

/// A short decaying oscillation added to the acceleration (world frame).
#[derive(Debug, Clone)]
struct Impact {
    t: f64,
    amp: V3,
    freq: f64,
    tau: f64,
}

/// The curves of one session, evaluated for the sensor.
#[derive(Debug, Clone)]
struct Body {
    root: QTrack,
    pos: VTrack,
    hip: QTrack,
    knee: QTrack,
    mount: QTrack,
    sway: BSplineSo3,
    shift: BSplineR3,
    tremor: BSplineSo3,
    impacts: Vec<Impact>,
    placement: Placement,
    hip_offset: V3,
    thigh: f64,
    shank_at: f64,
    skin: V3,
    sacrum: V3,
}

/// The sensor's pose and rate, with the segments the truth measures.
#[derive(Debug, Clone, Copy)]
struct Kin {
    /// Sensor orientation in the world.
    q: Q,
    /// Sensor angular rate in its own frame, rad/s.
    w: V3,
    /// Sensor position in the world, m.
    p: V3,
    /// The pelvis in the world.
    pelvis: Q,
    /// The working thigh in the world.
    thigh: Q,
    /// The working shank in the world (the tests check the truth against it).
    #[cfg_attr(not(test), allow(dead_code))]
    shank: Q,
}

impl Body {
    fn eval(&self, t: f64) -> Kin {
        let (qr, wr) = self.root.eval(t);
        let (qs, ws) = self.sway.eval(t);
        let qp = qr * qs;
        let wp = qs.inverse() * wr + ws;
        let pp = self.pos.eval(t) + self.shift.eval(t);
        let (qh, wh) = self.hip.eval(t);
        let (qt, wt) = self.tremor.eval(t);
        let qth = qp * qh * qt;
        let (qk, wk) = self.knee.eval(t);
        let qsh = qth * qk;
        let (qm, wm) = self.mount.eval(t);
        match self.placement {
            Placement::Pelvis => Kin {
                q: qp * qm,
                w: qm.inverse() * wp + wm,
                p: pp + qp * self.sacrum,
                pelvis: qp,
                thigh: qth,
                shank: qsh,
            },
            Placement::Ankle => {
                let wth = qt.inverse() * (qh.inverse() * wp + wh) + wt;
                let wsh = qk.inverse() * wth + wk;
                let p = pp
                    + qp * self.hip_offset
                    + qth * V3::new(0.0, -self.thigh, 0.0)
                    + qsh * (V3::new(0.0, -self.shank_at, 0.0) + self.skin);
                Kin {
                    q: qsh * qm,
                    w: qm.inverse() * wsh + wm,
                    p,
                    pelvis: qp,
                    thigh: qth,
                    shank: qsh,
                }
            }
        }
    }

    fn position(&self, t: f64) -> V3 {
        self.eval(t).p
    }

    fn impact_acc(&self, t: f64, cursor: &mut usize) -> V3 {
        while *cursor < self.impacts.len() && self.impacts[*cursor].t + 8.0 * 0.05 < t {
            *cursor += 1;
        }
        let mut a = V3::zeros();
        for im in &self.impacts[*cursor..] {
            if im.t > t {
                break;
            }
            let dt = t - im.t;
            if dt < 8.0 * im.tau {
                a += im.amp * (-dt / im.tau).exp() * (2.0 * PI * im.freq * dt).sin();
            }
        }
        a
    }
}

// ---------------------------------------------------------------------------
// Lifters, settings and sets

#[derive(Debug, Clone, Copy, PartialEq)]
enum Level {
    Beginner,
    Regular,
    Dancer,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Setting {
    Mat,
    ReformerBox,
    Barre,
    Tower,
    Ring,
    Abductor,
    Step,
}

impl Setting {
    fn name(self) -> &'static str {
        match self {
            Setting::Mat => "on a mat",
            Setting::ReformerBox => "on the reformer's box",
            Setting::Barre => "at the barre, holding on",
            Setting::Tower => "at the tower's spring",
            Setting::Ring => "with a ring round the knees",
            Setting::Abductor => "on the studio's abductor",
            Setting::Step => "on a step at the barre",
        }
    }
}

#[derive(Debug, Clone)]
struct Lifter {
    level: Level,
    /// Working range: abduction (°) for leg exercises, pelvic drop (°) for a hip hitch.
    range: f64,
    tempo: f64,
    /// Obliquity that follows a clean rep at full range, °.
    couple: f64,
    /// Whole-body lean that rolls the pelvis the other way, °.
    lean: f64,
    /// Sideways shift of the hips toward the stance side at full range, m.
    shift: f64,
    /// Turn about the vertical at full range, °.
    yaw: f64,
    /// Forward drift of a clean lift, °.
    flex_clean: f64,
    tilt: f64,
    breath_s: f64,
    sway_deg: f64,
    tremor_deg: f64,
    thigh: f64,
    shank: f64,
    fatigue: f64,
}

#[derive(Debug, Clone)]
struct RepDraft {
    start: f64,
    end: f64,
    comps: Vec<FlagKind>,
}

#[derive(Debug, Clone)]
struct SetDraft {
    neutral_t: f64,
    reps: Vec<RepDraft>,
}

struct Builder<'a> {
    cfg: &'a SimConfig,
    rng: ChaCha8Rng,
    lifter: Lifter,
    setting: Setting,
    /// +1 when the working leg is the right one.
    s: f64,
    /// +1 when the free side (whose rise is positive obliquity) is the right one.
    free: f64,
    posture: Posture,
    /// The posture the exercise is done in.
    home: Posture,
    heading: f64,
    spot: V3,
    surface: f64,
    root: QTrack,
    pos: VTrack,
    hip: QTrack,
    knee: QTrack,
    mount: QTrack,
    impacts: Vec<Impact>,
    effort: Vec<(f64, f64, f64)>,
    distractions: Vec<String>,
    visible: Vec<FlagKind>,
    comp_prev: Option<FlagKind>,
    mount_nominal: Q,
}

impl<'a> Builder<'a> {
    fn t(&self) -> f64 {
        self.root
            .last_t()
            .max(self.pos.last_t())
            .max(self.hip.last_t())
            .max(self.knee.last_t())
            .max(self.mount.last_t())
    }

    fn hold_all(&mut self, t: f64) {
        self.root.hold(t);
        self.pos.hold(t);
        self.hip.hold(t);
        self.knee.hold(t);
        self.mount.hold(t);
    }

    fn note(&mut self, t0: f64, t1: f64, what: &str) {
        self.distractions.push(format!("{t0:.1}–{t1:.1} s: {what}"));
    }

    fn leg_len(&self) -> f64 {
        self.lifter.thigh + self.lifter.shank + 0.08
    }

    /// Pelvis orientation, pelvis position, hip and knee for a posture.
    fn pose(&self, p: Posture) -> (Q, V3, Q, Q) {
        let yaw = rz(self.heading);
        let s = self.s;
        let l = &self.lifter;
        let up = |h: f64| self.spot + V3::new(0.0, 0.0, h);
        let working = self.cfg.side;
        match p {
            Posture::Stand => {
                let lift = if self.setting == Setting::Step {
                    0.18
                } else {
                    0.0
                };
                (
                    yaw * rx(90.0) * rx(-l.tilt),
                    up(self.leg_len() + lift),
                    rx(l.tilt + 1.0),
                    rx(-3.0),
                )
            }
            Posture::Kneel => (
                yaw * rx(90.0) * rx(-l.tilt),
                up(l.thigh + 0.1),
                rx(l.tilt + 4.0),
                rx(-90.0),
            ),
            Posture::SitMat => (yaw * rx(90.0) * rx(22.0), up(0.12), rx(65.0), rx(-25.0)),
            Posture::SideLie(down) => {
                let q = if down == Side::Left {
                    ry(-90.0)
                } else {
                    ry(90.0)
                };
                let (hip, knee) = if down == working {
                    (rx(35.0) * rz(s * 3.0), rx(-70.0))
                } else {
                    (rx(l.flex_clean.min(4.0) + 6.0) * rz(-s * 4.0), rx(-3.0))
                };
                (yaw * q * ry(6.0), up(self.surface + 0.16), hip, knee)
            }
            Posture::Supine => (
                yaw * ry(180.0),
                up(self.surface + 0.11),
                rx(50.0),
                rx(-95.0),
            ),
            Posture::Quad => (yaw * rx(-4.0), up(l.thigh + 0.12), rx(88.0), rx(-90.0)),
            Posture::SitHigh => {
                let h = match self.setting {
                    Setting::Abductor => 0.5,
                    Setting::Ring => 0.42,
                    _ => 0.6,
                };
                (yaw * rx(90.0) * rx(8.0), up(h + 0.1), rx(82.0), rx(-85.0))
            }
            Posture::Lunge(front) => {
                let (hip, knee) = if front {
                    (rx(80.0), rx(-85.0))
                } else {
                    (rx(-18.0), rx(-100.0))
                };
                (
                    yaw * rx(90.0) * rx(-8.0),
                    up(l.thigh * 0.9 + 0.12),
                    hip,
                    knee,
                )
            }
            Posture::RollDown(d) => (
                yaw * rx(90.0) * rx(-l.tilt - d),
                up(self.leg_len() - 0.03 - 0.06 * d / 60.0),
                rx(l.tilt + 0.9 * d),
                rx(-6.0),
            ),
        }
    }

    /// Pushes a posture's keys at `t`.
    fn pose_keys(&mut self, t: f64, p: Posture, stop: bool) {
        let (qr, pp, qh, qk) = self.pose(p);
        self.root.push(t, qr, stop);
        self.pos.push(t, pp, stop);
        self.hip.push(t, qh, stop);
        self.knee.push(t, qk, stop);
    }

    /// Moves through the postures between here and `to`.
    fn go(&mut self, to: Posture) {
        let route = route(self.posture, to);
        if route.is_empty() {
            return;
        }
        let t0 = self.t();
        self.hold_all(t0);
        let mut t = t0;
        let n = route.len();
        for (i, p) in route.into_iter().enumerate() {
            t += self.rng.gen_range(1.0..2.2)
                * if matches!(p, Posture::SideLie(_)) {
                    1.3
                } else {
                    1.0
                };
            self.pose_keys(t, p, i + 1 == n);
            self.posture = p;
        }
    }

    fn still(&mut self, dur: f64) {
        let t = self.t() + dur.max(0.0);
        self.hold_all(t);
    }

    fn still_r(&mut self, lo: f64, hi: f64) {
        let d = self.rng.gen_range(lo..hi);
        self.still(d);
    }

    // -- the exercise -----------------------------------------------------

    /// The hip rotation for abduction `abd`, flexion drift `flex` and rotation `rot` (°).
    fn leg_q(&self, abd: f64, flex: f64, rot: f64) -> Q {
        let s = self.s;
        match self.cfg.exercise {
            Exercise::SeatedMachineAbduction => ry(-s * abd) * rx(82.0 + flex) * ry(s * rot),
            // Abduction in the pelvis' frontal plane, then the forward drift out of it.
            Exercise::SideLyingAbduction => {
                rz(s * abd) * rx(self.lifter.flex_clean.min(4.0) + 6.0 + flex) * ry(s * rot)
            }
            _ => rz(s * abd) * rx(self.lifter.tilt + 1.0 + flex) * ry(s * rot),
        }
    }

    /// Draws the next rep's compensation (a two-state chain so that they come in runs).
    fn draw_comp(&mut self, k: usize, n: usize) -> Vec<FlagKind> {
        let r = self.cfg.compensation_rate;
        if self.visible.is_empty() || r <= 0.0 {
            return Vec::new();
        }
        let stay = r + 0.4 * (1.0 - r);
        let enter = if r >= 0.999 {
            1.0
        } else {
            (r * (1.0 - stay) / (1.0 - r)).min(1.0)
        };
        // Late reps a little more often.
        let late = 0.7 + 0.6 * k as f64 / n.max(1) as f64;
        let p = match self.comp_prev {
            Some(_) => stay,
            None => (enter * late).min(1.0),
        };
        if !self.rng.gen_bool(p.clamp(0.0, 1.0)) {
            self.comp_prev = None;
            return Vec::new();
        }
        let kind = match self.comp_prev {
            Some(k) if self.rng.gen_bool(0.6) => k,
            _ => self.visible[self.rng.gen_range(0..self.visible.len())],
        };
        self.comp_prev = Some(kind);
        let mut out = vec![kind];
        if self.visible.len() > 1 && self.rng.gen_bool(0.1) {
            let other = self.visible[self.rng.gen_range(0..self.visible.len())];
            let clash = matches!(
                (kind, other),
                (FlagKind::HipHike, FlagKind::PelvicDrop)
                    | (FlagKind::PelvicDrop, FlagKind::HipHike)
                    | (FlagKind::TrunkSway, _)
                    | (_, FlagKind::TrunkSway)
                    | (FlagKind::Momentum, FlagKind::PartialRange)
                    | (FlagKind::PartialRange, FlagKind::Momentum)
                    | (FlagKind::PartialRange, FlagKind::HipFlexionDrift)
                    | (FlagKind::HipFlexionDrift, FlagKind::PartialRange)
            );
            if other != kind && !clash {
                out.push(other);
            }
        }
        out
    }

    /// One set, by the working leg (`truth`) or the other leg (a distraction).
    /// Returns the reps' drafts.
    fn set(&mut self, n: usize, truth: bool) -> Vec<RepDraft> {
        let hitch = self.cfg.exercise == Exercise::HipHitch;
        let l = self.lifter.clone();
        let range = l.range * self.rng.gen_range(0.9..1.1);
        // Set style.
        let breath = self.rng.gen_bool(0.35);
        let long_hold = self.rng.gen_bool(0.22);
        let pulse_each = self.rng.gen_bool(0.2);
        let finisher = if n >= 3 && self.rng.gen_bool(0.3) {
            Some(self.rng.gen_bool(0.6))
        } else {
            None
        };
        let change = if n >= 6 && self.rng.gen_bool(0.35) {
            let at = self.rng.gen_range(n / 3..=2 * n / 3);
            let f = if self.rng.gen_bool(0.5) {
                self.rng.gen_range(0.6..0.8)
            } else {
                self.rng.gen_range(1.3..1.7)
            };
            Some((at, f))
        } else {
            None
        };
        let mut tempo = l.tempo * self.rng.gen_range(0.85..1.2);
        let lifts = if finisher == Some(false) { n - 1 } else { n };
        let t_breath0 = self.t();
        // OU drifts from rep to rep.
        let (mut amp_x, mut flex_x, mut neu_x) = (0.0f64, 0.0f64, 0.0f64);
        let mut drafts = Vec::new();
        let sgn_free = if truth { self.free } else { -self.free };
        let neutral_abd = match self.cfg.exercise {
            Exercise::SideLyingAbduction => -4.0,
            Exercise::SeatedMachineAbduction => self.rng.gen_range(3.0..9.0),
            _ => self.rng.gen_range(-3.0..0.5),
        };
        let mut reps_done = 0;
        let total = n;
        while reps_done < total {
            let k = reps_done;
            if let Some((at, f)) = change {
                if k == at {
                    tempo *= f;
                }
            }
            let block = finisher == Some(false) && k == lifts;
            let comps = if truth {
                self.draw_comp(k, total)
            } else {
                Vec::new()
            };
            let has = |f: FlagKind| comps.contains(&f);
            amp_x = 0.7 * amp_x + 0.07 * gauss(&mut self.rng);
            flex_x = 0.7 * flex_x + 1.2 * gauss(&mut self.rng);
            let neu_next = 0.6 * neu_x + 0.6 * gauss(&mut self.rng);
            let fatigue = 1.0 - l.fatigue * k as f64 / total.max(1) as f64;
            let mut frac = ((1.0 + amp_x) * fatigue).clamp(0.75, 1.25);
            if block {
                frac *= self.rng.gen_range(0.7..0.95);
            }
            if has(FlagKind::PartialRange) {
                frac = self.rng.gen_range(0.3..0.5);
            }
            let amp = range * frac;
            let flex = if has(FlagKind::HipFlexionDrift) {
                self.rng.gen_range(15.0..26.0)
            } else {
                (l.flex_clean + flex_x).clamp(-3.0, 6.0)
            };
            let momentum = has(FlagKind::Momentum);
            // Phase durations (the semi-Markov intention).
            let mut rest = lognormal(&mut self.rng, 0.7, 0.5).min(3.0) * tempo;
            let mut rise = self.rng.gen_range(1.0..2.0) * tempo;
            let mut lower = self.rng.gen_range(1.4..2.6) * tempo;
            let mut top = if long_hold {
                if k + 1 == lifts || self.rng.gen_bool(0.3) {
                    self.rng.gen_range(8.0..20.0)
                } else {
                    self.rng.gen_range(4.0..8.0)
                }
            } else {
                lognormal(&mut self.rng, 0.6, 0.6).min(2.5) * tempo
            };
            if hitch {
                rise *= 0.8;
            }
            if breath {
                // Exhale to lift: start at the next breath's onset.
                let now = self.t() + 0.2;
                let ph = ((now - t_breath0) / l.breath_s).ceil();
                let onset = t_breath0 + ph * l.breath_s;
                rest = (onset - self.t()).clamp(0.2, l.breath_s);
                rise = 0.45 * l.breath_s;
                lower = 0.5 * l.breath_s;
                top = top.min(0.4 * l.breath_s);
            }
            let mut pulses: Vec<(f64, f64)> = Vec::new();
            let pulse_n = if block || (finisher == Some(true) && k + 1 == lifts) {
                self.rng.gen_range(8..=20)
            } else if pulse_each {
                self.rng.gen_range(3..=8)
            } else {
                0
            };
            for _ in 0..pulse_n {
                let depth = self.rng.gen_range(2.0..6.0f64).min(0.35 * amp);
                pulses.push((depth, self.rng.gen_range(0.35..0.9)));
            }
            if momentum {
                rise = self.rng.gen_range(0.3..0.5);
                lower = self.rng.gen_range(0.35..0.55);
                top = 0.0;
                pulses.clear();
            }
            if has(FlagKind::HipHike) || has(FlagKind::PelvicDrop) {
                top = top.max(0.5);
            }
            if has(FlagKind::TrunkSway) {
                top = top.max(0.8);
            }
            // Leave neutral after the rest.
            let t0 = self.t() + rest;
            self.hold_all(t0);
            // Elevation keys: (time, e, stop).
            let mut keys: Vec<(f64, f64, bool)> = vec![(t0, 0.0, true)];
            let mut t = t0;
            if !momentum && self.rng.gen_bool(0.5) {
                let tf = self.rng.gen_range(0.35..0.6);
                let ef = (tf + self.rng.gen_range(-0.12..0.15f64)).clamp(0.2, 0.8);
                keys.push((t + tf * rise, ef, false));
            }
            t += rise;
            keys.push((t, 1.0, true));
            if top > 0.0 {
                let sag = self.rng.gen_range(0.0..0.04);
                t += top;
                keys.push((t, 1.0 - sag, true));
            }
            if !pulses.is_empty() {
                let e_top = keys.last().unwrap().1;
                for (depth, period) in &pulses {
                    t += period / 2.0;
                    keys.push((t, e_top - depth / amp, true));
                    t += period / 2.0;
                    keys.push((t, e_top, true));
                }
                if self.rng.gen_bool(0.5) {
                    t += self.rng.gen_range(0.5..3.0);
                    keys.push((t, e_top, true));
                }
            }
            if momentum {
                t += lower;
                keys.push((t, -0.08, true));
                t += 0.25;
                keys.push((t, 0.03, true));
                t += 0.25;
                keys.push((t, 0.0, true));
            } else if hitch && has(FlagKind::HipHike) {
                // Pulled back past level: the free side hikes, held, then settles.
                let hike = self.rng.gen_range(7.5..11.0);
                t += lower;
                keys.push((t, -hike / (range * frac), true));
                t += self.rng.gen_range(0.4..0.9);
                keys.push((t, -hike / (range * frac) * 0.97, true));
                t += self.rng.gen_range(0.6..1.1);
                keys.push((t, 0.0, true));
            } else {
                if self.rng.gen_bool(0.5) {
                    let tf = self.rng.gen_range(0.3..0.6);
                    let ef = (1.0 - tf + self.rng.gen_range(-0.1..0.1f64)).clamp(0.2, 0.8);
                    let e_top = keys.last().unwrap().1;
                    keys.push((t + tf * lower, ef * e_top, false));
                }
                t += lower;
                keys.push((t, 0.0, true));
            }
            let t_end = t;
            // The elevation as a curve, to pose the pelvis from.
            let mut elev = VTrack::new(t0, V3::zeros());
            for &(tk, e, stop) in &keys[1..] {
                elev.push(tk, V3::new(e, 0.0, 0.0), stop);
            }
            elev.finish();
            let neutral_at = |tk: f64| {
                let lam = ((tk - t0) / (t_end - t0)).clamp(0.0, 1.0);
                neutral_abd + neu_x * (1.0 - lam) + neu_next * lam
            };
            // The leg.
            if truth && !hitch {
                for &(tk, e, stop) in &keys[1..] {
                    let abd = neutral_at(tk) + amp * e;
                    let q = self.leg_q(abd, flex * e.max(0.0), 2.0 * e);
                    self.hip.push(tk, q, stop);
                }
            } else if !truth && !hitch && self.cfg.exercise == Exercise::StandingCableAbduction {
                // The sensor's leg is the stance leg: a little weight shift.
                let (qh, _) = self.hip.eval_last();
                self.hip
                    .push((t0 + t_end) / 2.0, qh * rz(-self.s * 1.5), false);
                self.hip.push(t_end, qh, true);
            }
            // The pelvis, sampled from the elevation.
            // Beyond the line by a margin, whatever the clean coupling adds or takes.
            let clean = if hitch {
                0.0
            } else {
                (l.couple - l.lean) * frac
            };
            let hike = if has(FlagKind::HipHike) && !hitch {
                self.rng.gen_range(7.5..13.0) - clean.min(0.0)
            } else {
                0.0
            };
            let drop = if has(FlagKind::PelvicDrop) {
                self.rng.gen_range(7.5..12.0) + clean.max(0.0)
            } else {
                0.0
            };
            let sway = if has(FlagKind::TrunkSway) {
                self.rng.gen_range(7.5..11.0) + (l.couple - l.lean).abs()
            } else {
                0.0
            };
            let (base_q, base_p, _, _) = self.pose(self.posture);
            let side_lying = self.cfg.exercise == Exercise::SideLyingAbduction;
            let n_s = ((t_end - t0) / 0.2).ceil().max(2.0) as usize;
            let couple = if hitch { 0.0 } else { l.couple - l.lean };
            for j in 1..=n_s {
                let tk = t0 + (t_end - t0) * j as f64 / n_s as f64;
                let e = elev.eval(tk).x;
                let en = e.clamp(-2.0, 1.3);
                let ph = 2.0 * PI * (tk - t0) / (t_end - t0);
                let mut obl = couple * en * frac + (hike - drop) * en.clamp(0.0, 1.0);
                if hitch {
                    obl -= range * frac * en;
                }
                obl += sway * ph.sin();
                let yaw =
                    if side_lying { 0.4 } else { 1.0 } * l.yaw * en * frac + 0.6 * sway * ph.sin();
                let roll_back = if side_lying { 2.5 * en * frac } else { 0.0 };
                let q = base_q * rz(sgn_free * obl) * ry(-self.s * yaw) * rx(roll_back);
                let lateral = if side_lying {
                    0.0
                } else {
                    -self.s * l.shift * en * frac + sgn_free * 0.006 * sway * ph.sin()
                };
                let drop_z = if hitch {
                    -0.09 * (obl * D2R).sin().abs()
                } else {
                    0.0
                };
                let p = base_p + base_q * V3::new(lateral, drop_z, 0.0);
                let stop = j == n_s;
                self.root.push(tk, q, stop);
                self.pos.push(tk, p, stop);
            }
            // Leggings: the strap creeps a little with every rep, faster with sweat.
            let creep = 0.04 * (1.0 + t_end / 600.0) * self.rng.gen_range(0.0..1.0);
            let qm = self.mount.last_q();
            self.mount.push(t_end, qm * ry(creep), true);
            // Effort (tremor) while the leg is up.
            if truth || hitch {
                self.effort.push((t0, t_end, 0.6 + 0.8 * frac));
            }
            if self.setting == Setting::ReformerBox && self.rng.gen_bool(0.3) {
                self.impacts.push(Impact {
                    t: t_end - 0.05,
                    amp: random_unit(&mut self.rng) * self.rng.gen_range(0.3..1.2),
                    freq: self.rng.gen_range(15.0..30.0),
                    tau: 0.04,
                });
            }
            if momentum {
                let dir = random_unit(&mut self.rng);
                self.impacts.push(Impact {
                    t: t_end - 0.5,
                    amp: dir * self.rng.gen_range(1.0..3.0),
                    freq: 12.0,
                    tau: 0.05,
                });
            }
            neu_x = neu_next;
            drafts.push(RepDraft {
                start: t0,
                end: t_end,
                comps,
            });
            reps_done += 1;
        }
        drafts
    }
}

impl QTrack {
    fn eval_last(&self) -> (Q, f64) {
        (self.last_q(), self.last_t())
    }
}

/// The posture one step closer to standing.
fn parent(p: Posture) -> Option<Posture> {
    match p {
        Posture::Stand => None,
        Posture::Kneel | Posture::Lunge(_) | Posture::RollDown(_) | Posture::SitHigh => {
            Some(Posture::Stand)
        }
        Posture::SitMat | Posture::Quad => Some(Posture::Kneel),
        Posture::SideLie(_) | Posture::Supine => Some(Posture::SitMat),
    }
}

/// The postures passed through from `a` to `b` (without `a`).
fn route(a: Posture, b: Posture) -> Vec<Posture> {
    if a == b {
        return Vec::new();
    }
    match (a, b) {
        (Posture::SideLie(_), Posture::SideLie(_)) => return vec![Posture::Supine, b],
        (Posture::SideLie(_), Posture::Supine) | (Posture::Supine, Posture::SideLie(_)) => {
            return vec![b]
        }
        _ => {}
    }
    let chain = |mut p: Posture| {
        let mut c = vec![p];
        while let Some(q) = parent(p) {
            c.push(q);
            p = q;
        }
        c
    };
    let (ca, cb) = (chain(a), chain(b));
    let (ia, ib) = ca
        .iter()
        .enumerate()
        .find_map(|(i, p)| cb.iter().position(|q| q == p).map(|j| (i, j)))
        .unwrap_or((ca.len() - 1, cb.len() - 1));
    let mut out: Vec<Posture> = ca[1..=ia].to_vec();
    out.extend(cb[..ib].iter().rev());
    out
}

// ---------------------------------------------------------------------------
// Between sets

#[derive(Debug, Clone, Copy, PartialEq)]
enum Act {
    OtherSide,
    Circles,
    RollDown,
    CatCow,
    Lunge,
    Supine,
    Shake,
    Swing,
    Restrap,
    Towel,
    Walk,
}

impl<'a> Builder<'a> {
    /// Moves through postures, on the reformer by its box instead of the floor.
    fn go_to(&mut self, to: Posture) {
        let high = self.surface > 0.3;
        if high
            && matches!(self.posture, Posture::SideLie(_) | Posture::Supine)
            && to == Posture::Stand
        {
            for p in [Posture::SitHigh, Posture::Stand] {
                self.go(p);
            }
            return;
        }
        if high && self.posture == Posture::Stand && matches!(to, Posture::SideLie(_)) {
            self.go(Posture::SitHigh);
            let t = self.t() + self.rng.gen_range(1.5..2.5);
            self.hold_all(self.t());
            self.pose_keys(t, to, true);
            self.posture = to;
            return;
        }
        self.go(to);
    }

    fn turn(&mut self, by_deg: f64) {
        let t0 = self.t();
        self.hold_all(t0);
        let steps = (by_deg.abs() / 60.0).ceil().max(1.0) as usize;
        let mut t = t0;
        for k in 0..steps {
            t += self.rng.gen_range(0.5..0.8);
            self.heading += by_deg / steps as f64;
            let p = self.posture;
            self.pose_keys(t, p, k + 1 == steps);
            self.impacts.push(Impact {
                t: t - 0.2,
                amp: V3::new(0.0, 0.0, self.rng.gen_range(2.0..6.0)),
                freq: 18.0,
                tau: 0.03,
            });
        }
    }

    fn walk(&mut self, dist: f64) {
        self.go_to(Posture::Stand);
        let speed = self.rng.gen_range(0.85..1.25);
        let cadence = self.rng.gen_range(1.65..1.95);
        let stride_t = 2.0 / cadence;
        let n = (dist / (speed * stride_t)).ceil().max(1.0) as usize;
        let t0 = self.t();
        self.hold_all(t0);
        let fwd = rz(self.heading) * V3::new(0.0, 1.0, 0.0);
        let (q0, p0, _, _) = self.pose(Posture::Stand);
        let s = self.s;
        let ankle = self.cfg.placement == Placement::Ankle;
        let strike = if ankle { 25.0 } else { 5.0 };
        for k in 0..n {
            let ts = t0 + 0.3 + k as f64 * stride_t;
            let phases: [(f64, f64, f64); 4] = [
                (0.0, 22.0, 3.0),
                (0.3, 5.0, 15.0),
                (0.6, -14.0, 40.0),
                (0.8, 15.0, 62.0),
            ];
            for (ph, hip, knee) in phases {
                let t = ts + ph * stride_t;
                self.hip.push(t, rx(self.lifter.tilt + hip), false);
                self.knee.push(t, rx(-knee), false);
            }
            for q in 0..4 {
                let ph = q as f64 * 0.25;
                let t = ts + ph * stride_t;
                let travel = speed * (t - t0 - 0.3).max(0.0);
                let bob = if q % 2 == 0 { -0.015 } else { 0.015 };
                let roll = if q == 1 {
                    3.0
                } else if q == 3 {
                    -3.0
                } else {
                    0.0
                };
                let yaw = if q == 0 {
                    4.0
                } else if q == 2 {
                    -4.0
                } else {
                    0.0
                };
                self.root.push(t, q0 * rz(s * roll) * ry(s * yaw), false);
                self.pos
                    .push(t, p0 + fwd * travel + V3::new(0.0, 0.0, bob), false);
            }
            self.impacts.push(Impact {
                t: ts,
                amp: V3::new(0.0, 0.0, strike * self.rng.gen_range(0.7..1.3)) + fwd * 4.0,
                freq: self.rng.gen_range(15.0..25.0),
                tau: 0.025,
            });
            self.impacts.push(Impact {
                t: ts + 0.5 * stride_t,
                amp: V3::new(0.0, 0.0, self.rng.gen_range(2.0..5.0)),
                freq: 20.0,
                tau: 0.025,
            });
        }
        let t_end = t0 + 0.3 + n as f64 * stride_t + 0.4;
        self.spot += fwd * speed * (n as f64 * stride_t);
        self.pose_keys(t_end, Posture::Stand, true);
    }

    /// The leg's neutral for the exercise, °.
    fn neutral_abd(&self) -> f64 {
        match self.cfg.exercise {
            Exercise::SideLyingAbduction => -4.0,
            Exercise::SeatedMachineAbduction => 5.0,
            _ => 0.0,
        }
    }

    fn act(&mut self, a: Act) {
        let t0 = self.t();
        let home = self.home;
        match a {
            Act::OtherSide => {
                let what = match home {
                    Posture::SideLie(down) => {
                        self.go_to(Posture::SideLie(down.other()));
                        "rolling over: the other leg's set"
                    }
                    _ => {
                        self.turn(180.0);
                        "turning round: the other leg's set"
                    }
                };
                self.still_r(1.0, 3.0);
                let n = self.rng.gen_range(self.cfg.reps_min..=self.cfg.reps_max);
                self.set(n, false);
                self.still_r(1.0, 3.0);
                match home {
                    Posture::SideLie(_) => self.go_to(home),
                    _ => self.turn(-180.0),
                }
                self.note(t0, self.t(), what);
            }
            Act::Circles => {
                self.go_to(home);
                let t = self.t();
                self.hold_all(t);
                let base = self.neutral_abd();
                let lift = (self.lifter.range * 0.6).clamp(12.0, 40.0);
                let r = self.rng.gen_range(6.0..14.0);
                let period = self.rng.gen_range(1.2..2.5);
                let n = self.rng.gen_range(4..=8);
                let mut t = t + 1.3;
                let q = self.leg_q(base + lift + r, 0.0, 0.0);
                self.hip.push(t, q, true);
                for dir in [1.0, -1.0] {
                    for j in 1..=4 * n {
                        let ph = dir * 2.0 * PI * j as f64 / 4.0;
                        t += period / 4.0;
                        let q = self.leg_q(base + lift + r * ph.cos(), r * ph.sin(), 0.0);
                        self.hip.push(t, q, j == 4 * n);
                    }
                }
                t += 1.5;
                let q = self.leg_q(base, 0.0, 0.0);
                self.hip.push(t, q, true);
                self.effort.push((t0, t, 1.0));
                self.note(t0, t, "leg circles");
            }
            Act::RollDown => {
                self.go_to(Posture::Stand);
                let t = self.t();
                self.hold_all(t);
                let d = self.rng.gen_range(45.0..85.0);
                let down = self.rng.gen_range(4.0..6.0);
                let p = Posture::RollDown(0.4 * d);
                let t1 = t + 0.45 * down;
                self.pose_keys(t1, p, false);
                let t2 = t + down;
                self.pose_keys(t2, Posture::RollDown(d), true);
                let t3 = t2 + self.rng.gen_range(1.5..3.5);
                self.pose_keys(t3, Posture::RollDown(d * 0.95), true);
                let t4 = t3 + self.rng.gen_range(4.0..6.0);
                self.pose_keys(t4, Posture::Stand, true);
                self.posture = Posture::Stand;
                self.note(t0, t4, "roll-down");
                self.go_to(home);
            }
            Act::CatCow => {
                self.go_to(Posture::Quad);
                let t = self.t();
                self.hold_all(t);
                let (q, p, h, _) = self.pose(Posture::Quad);
                let amp = self.rng.gen_range(10.0..20.0);
                let breath = self.lifter.breath_s;
                let mut t = t;
                for _ in 0..self.rng.gen_range(4..=6) {
                    for sgn in [1.0, -1.0] {
                        t += breath / 2.0;
                        self.root.push(t, q * rx(sgn * amp), true);
                        self.hip.push(t, h * rx(-sgn * amp * 0.8), true);
                        self.pos.push(t, p, true);
                    }
                }
                t += breath / 2.0;
                self.root.push(t, q, true);
                self.hip.push(t, h, true);
                self.note(t0, t, "cat-cow on all fours");
                self.go_to(home);
            }
            Act::Lunge => {
                let front = self.rng.gen_bool(0.5);
                self.go_to(Posture::Stand);
                self.go(Posture::Lunge(front));
                let (_, p, _, _) = self.pose(Posture::Lunge(front));
                let t = self.t();
                self.hold_all(t);
                let mut t = t;
                for _ in 0..self.rng.gen_range(3..=6) {
                    t += self.rng.gen_range(1.0..1.6);
                    self.pos.push(t, p - V3::new(0.0, 0.0, 0.035), true);
                    t += self.rng.gen_range(1.0..1.6);
                    self.pos.push(t, p, true);
                }
                t += self.rng.gen_range(3.0..8.0);
                self.hold_all(t);
                self.go(Posture::Stand);
                self.note(t0, self.t(), "a lunge into a hip-flexor stretch");
                self.go_to(home);
            }
            Act::Supine => {
                self.go_to(Posture::Supine);
                let t = self.t();
                self.hold_all(t);
                let h = self.hip.last_q();
                let mut t = t + self.rng.gen_range(2.0..5.0);
                if self.rng.gen_bool(0.5) {
                    for sgn in [1.0, -1.0, 1.0, -1.0, 0.0] {
                        t += self.rng.gen_range(1.5..2.5);
                        self.hip.push(t, h * rz(sgn * 25.0), true);
                        self.root.hold(t);
                    }
                }
                t += self.rng.gen_range(3.0..10.0);
                self.hold_all(t);
                self.note(t0, t, "lying on the back");
                self.go_to(home);
            }
            Act::Shake => {
                let t = self.t();
                self.hold_all(t);
                let h = self.hip.last_q();
                let f = self.rng.gen_range(3.5..6.0);
                let n = (self.rng.gen_range(1.5..3.0) * f * 2.0) as usize;
                let mut t = t;
                for j in 0..n {
                    t += 0.5 / f;
                    let a = if j % 2 == 0 { 1.0 } else { -1.0 } * self.rng.gen_range(4.0..10.0);
                    self.hip.push(t, h * ry(a) * rz(0.4 * a), true);
                }
                t += 0.5 / f;
                self.hip.push(t, h, true);
                self.note(t0, t, "shaking the leg out");
            }
            Act::Swing => {
                self.go_to(home);
                let t = self.t();
                self.hold_all(t);
                let h = self.hip.last_q();
                let (a, b) = if self.cfg.exercise == Exercise::StandingCableAbduction {
                    (
                        rx(self.rng.gen_range(25.0..45.0)),
                        rx(-self.rng.gen_range(10.0..20.0)),
                    )
                } else {
                    (
                        rx(self.rng.gen_range(15.0..30.0)),
                        rx(-self.rng.gen_range(5.0..15.0)),
                    )
                };
                self.hip.push(t + 0.5, h * a, false);
                self.hip.push(t + 1.0, h * b, false);
                self.hip.push(t + 1.6, h, true);
                self.note(t0, t + 1.6, "a single swing of the leg");
            }
            Act::Restrap => {
                if self.cfg.placement == Placement::Ankle {
                    if matches!(self.posture, Posture::SideLie(_) | Posture::Supine) {
                        self.go_to(Posture::SitMat);
                    } else {
                        self.go_to(Posture::Stand);
                        self.go(Posture::RollDown(70.0));
                    }
                }
                let t = self.t();
                self.hold_all(t);
                let m0 = self.mount.last_q();
                let mut t = t;
                for _ in 0..self.rng.gen_range(3..=6) {
                    t += self.rng.gen_range(0.5..1.2);
                    let v = random_unit(&mut self.rng) * self.rng.gen_range(10.0..35.0) * D2R;
                    self.mount.push(t, m0 * exp_map(&v), true);
                }
                let new = match (self.cfg.placement, self.cfg.random_mounting) {
                    (Placement::Ankle, true) => {
                        self.mount_nominal
                            * ry(self.rng.gen_range(-40.0..40.0))
                            * exp_map(&(random_unit(&mut self.rng) * 8.0 * D2R))
                    }
                    (Placement::Ankle, false) => {
                        self.mount_nominal * ry(self.rng.gen_range(-6.0..6.0))
                    }
                    (Placement::Pelvis, true) => {
                        exp_map(&(random_unit(&mut self.rng) * self.rng.gen_range(0.0..10.0) * D2R))
                    }
                    (Placement::Pelvis, false) => {
                        exp_map(&(random_unit(&mut self.rng) * self.rng.gen_range(0.0..2.0) * D2R))
                    }
                };
                t += self.rng.gen_range(0.8..1.5);
                self.mount.push(t, new, true);
                self.note(t0, t, "re-strapping the sensor");
                self.go_to(home);
            }
            Act::Towel => {
                self.go_to(Posture::Stand);
                let t = self.t();
                self.hold_all(t);
                let turn = self.rng.gen_range(-60.0..60.0);
                self.turn(turn);
                let d = self.rng.gen_range(20.0..40.0);
                self.go(Posture::RollDown(d));
                self.still_r(2.0, 5.0);
                self.go(Posture::Stand);
                self.still_r(2.0, 6.0);
                self.turn(-turn);
                self.note(t0, self.t(), "a towel and a sip of water");
                self.go_to(home);
            }
            Act::Walk => {
                let d = self.rng.gen_range(3.0..9.0);
                self.go_to(Posture::Stand);
                let turn = self.rng.gen_range(-150.0..150.0);
                self.turn(turn);
                self.walk(d);
                self.still_r(1.0, 6.0);
                self.turn(180.0);
                self.walk(d);
                self.turn(180.0 - turn);
                self.note(
                    t0,
                    self.t(),
                    &format!("walking across the studio ({d:.0} m) and back"),
                );
                self.go_to(home);
            }
        }
    }

    /// Rough duration of an activity, s, including leaving and coming back.
    fn estimate(&self, a: Act) -> f64 {
        let lying = matches!(self.home, Posture::SideLie(_));
        let away = if lying { 10.0 } else { 3.0 };
        let l = &self.lifter;
        match a {
            Act::OtherSide => self.cfg.reps_max as f64 * 6.0 * l.tempo + 12.0,
            Act::Circles => 35.0,
            Act::RollDown => 16.0 + 2.0 * away,
            Act::CatCow => 6.0 * l.breath_s + 8.0 + 2.0 * away,
            Act::Lunge => 25.0 + 2.0 * away,
            Act::Supine => 30.0,
            Act::Shake => 4.0,
            Act::Swing => 3.0,
            Act::Restrap => 14.0 + 2.0 * away,
            Act::Towel => 18.0 + 2.0 * away,
            Act::Walk => 30.0 + 2.0 * away,
        }
    }

    fn rest(&mut self, budget: f64) {
        let start = self.t();
        let settle = self.rng.gen_range(2.0..4.0);
        let deadline = start + budget - settle;
        let ex = self.cfg.exercise;
        let mut options: Vec<(Act, f64)> = Vec::new();
        if self.cfg.fidgets {
            if matches!(
                ex,
                Exercise::SideLyingAbduction
                    | Exercise::StandingCableAbduction
                    | Exercise::HipHitch
            ) {
                options.push((Act::OtherSide, 3.0));
            }
            if matches!(
                ex,
                Exercise::SideLyingAbduction | Exercise::StandingCableAbduction
            ) {
                options.push((Act::Circles, 1.5));
                options.push((Act::Swing, 0.6));
            }
            options.extend([
                (Act::RollDown, 1.0),
                (Act::CatCow, 0.8),
                (Act::Lunge, 0.7),
                (Act::Supine, 0.6),
                (Act::Shake, 1.0),
                (Act::Restrap, 0.7),
                (Act::Towel, 0.8),
            ]);
        }
        if self.cfg.walking {
            options.push((Act::Walk, 1.6));
        }
        let mut done = 0;
        while done < 4 {
            let left = deadline - self.t();
            let fits: Vec<(Act, f64)> = options
                .iter()
                .copied()
                .filter(|&(a, _)| self.estimate(a) < left)
                .collect();
            if fits.is_empty() || (done > 0 && self.rng.gen_bool(0.3)) {
                break;
            }
            let total: f64 = fits.iter().map(|f| f.1).sum();
            let mut x = self.rng.gen_range(0.0..total);
            let mut pick = fits[0].0;
            for (a, w) in &fits {
                if x < *w {
                    pick = *a;
                    break;
                }
                x -= w;
            }
            options.retain(|o| o.0 != pick || pick == Act::Shake);
            self.act(pick);
            self.still_r(0.5, 3.0);
            done += 1;
        }
        self.go_to(self.home);
        let left = start + budget - self.t();
        self.still(left.max(1.5));
    }
}

// ---------------------------------------------------------------------------
// The sensor

#[derive(Debug, Clone)]
struct Device {
    acc_lsb: f64,
    acc_max: f64,
    gyr_lsb: f64,
    gyr_max: f64,
    frames: usize,
    acc_noise: f64,
    gyr_noise: f64,
}

fn device(rng: &mut ChaCha8Rng) -> Device {
    let g = STANDARD_GRAVITY;
    match rng.gen_range(0..4) {
        // WitMotion WT901BLE: ±16 g, ±2000 °/s, several frames per notification.
        0 => Device {
            acc_lsb: 16.0 * g / 32768.0,
            acc_max: 16.0 * g,
            gyr_lsb: 2000.0 / 32768.0,
            gyr_max: 2000.0,
            frames: 4,
            acc_noise: 0.05,
            gyr_noise: 0.12,
        },
        // Nordic Thingy:52: acc /1024 g, configured ±4 g here; gyro /32 °/s.
        1 => Device {
            acc_lsb: g / 1024.0,
            acc_max: 4.0 * g,
            gyr_lsb: 1.0 / 32.0,
            gyr_max: 1000.0,
            frames: 1,
            acc_noise: 0.06,
            gyr_noise: 0.15,
        },
        // MetaMotion: ±8 g, ±1000 °/s.
        2 => Device {
            acc_lsb: 8.0 * g / 32768.0,
            acc_max: 8.0 * g,
            gyr_lsb: 1000.0 / 32768.0,
            gyr_max: 1000.0,
            frames: 2,
            acc_noise: 0.035,
            gyr_noise: 0.08,
        },
        // A Movella DOT class sensor.
        _ => Device {
            acc_lsb: 16.0 * g / 65536.0,
            acc_max: 16.0 * g,
            gyr_lsb: 2000.0 / 65536.0,
            gyr_max: 2000.0,
            frames: 3,
            acc_noise: 0.02,
            gyr_noise: 0.05,
        },
    }
}

/// The studio model's sample stream.
pub struct StudioSimulator {
    body: Body,
    rate: f64,
    count: usize,
    index: usize,
    rng: ChaCha8Rng,
    clock: f64,
    gaps: Vec<f64>,
    gap_cursor: usize,
    drop_rate: f64,
    dropping: bool,
    dev: Device,
    noise: f64,
    acc_m: Matrix3<f64>,
    gyr_m: Matrix3<f64>,
    acc_b: V3,
    gyr_b: V3,
    gyr_warm: V3,
    acc_warm: V3,
    warm_tau: f64,
    impact_cursor: usize,
}

fn obliquity(neutral: &Q, q: &Q, free: f64) -> f64 {
    let x = (neutral.inverse() * q) * V3::x();
    free * x.y.atan2(x.x) * R2D
}

fn flexion(neutral_pelvis: &Q, thigh: &Q) -> f64 {
    let d = neutral_pelvis.inverse() * (thigh * V3::new(0.0, -1.0, 0.0));
    (-d.z).clamp(-1.0, 1.0).asin() * R2D
}

fn error_matrix(rng: &mut ChaCha8Rng, scale: f64, cross: f64) -> Matrix3<f64> {
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
}

impl StudioSimulator {
    /// Builds a session and its ground truth.
    pub fn new(cfg: &SimConfig) -> Result<(StudioSimulator, Truth), String> {
        cfg.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x5354_5544_494f_0015);
        let exercise = cfg.exercise;
        let level = match rng.gen_range(0..100) {
            0..=34 => Level::Beginner,
            35..=79 => Level::Regular,
            _ => Level::Dancer,
        };
        let range = match exercise {
            Exercise::HipHitch => rng.gen_range(5.5..12.0),
            Exercise::SeatedMachineAbduction => match level {
                Level::Beginner => rng.gen_range(10.0..20.0),
                _ => rng.gen_range(18.0..35.0),
            },
            _ => match level {
                Level::Beginner => rng.gen_range(8.0..22.0),
                Level::Regular => rng.gen_range(22.0..45.0),
                Level::Dancer => {
                    if exercise == Exercise::SideLyingAbduction {
                        rng.gen_range(50.0..85.0)
                    } else {
                        rng.gen_range(45.0..75.0)
                    }
                }
            },
        };
        let setting = match exercise {
            Exercise::SideLyingAbduction => {
                if rng.gen_bool(0.35) {
                    Setting::ReformerBox
                } else {
                    Setting::Mat
                }
            }
            Exercise::SeatedMachineAbduction => {
                if rng.gen_bool(0.5) {
                    Setting::Ring
                } else {
                    Setting::Abductor
                }
            }
            Exercise::HipHitch => Setting::Step,
            _ => {
                if rng.gen_bool(0.55) {
                    Setting::Barre
                } else {
                    Setting::Tower
                }
            }
        };
        let holds = setting == Setting::Barre;
        let lifter = Lifter {
            level,
            range,
            tempo: rng.gen_range(0.85..1.35),
            couple: rng.gen_range(0.5..3.0),
            lean: if holds {
                rng.gen_range(0.0..0.6)
            } else {
                rng.gen_range(0.0..2.0)
            },
            shift: if holds {
                rng.gen_range(0.003..0.012)
            } else {
                rng.gen_range(0.008..0.03)
            },
            yaw: rng.gen_range(0.5..3.0),
            flex_clean: rng.gen_range(0.0..4.0),
            tilt: rng.gen_range(0.0..6.0),
            breath_s: rng.gen_range(4.0..7.0),
            sway_deg: if holds {
                rng.gen_range(0.2..0.5)
            } else {
                rng.gen_range(0.3..0.9)
            },
            tremor_deg: rng.gen_range(0.015..0.05),
            thigh: rng.gen_range(0.39..0.48),
            shank: rng.gen_range(0.38..0.45),
            fatigue: rng.gen_range(0.0..0.15),
        };
        let home = match exercise {
            Exercise::SideLyingAbduction => Posture::SideLie(cfg.side.other()),
            Exercise::SeatedMachineAbduction => Posture::SitHigh,
            _ => Posture::Stand,
        };
        let surface = if setting == Setting::ReformerBox {
            0.62
        } else {
            0.01
        };
        let free = exercise.free_side(cfg.side).sign();
        let mount_nominal = match cfg.placement {
            Placement::Ankle => {
                let around = rng.gen_range(-30.0..30.0) + 90.0 * -cfg.side.sign();
                if cfg.random_mounting {
                    ry(around) * random_rotation(&mut rng)
                } else {
                    ry(around)
                }
            }
            Placement::Pelvis => {
                if cfg.random_mounting {
                    exp_map(&(random_unit(&mut rng) * rng.gen_range(0.0..9.0) * D2R))
                } else {
                    Q::identity()
                }
            }
        };
        let visible = cfg.visible_compensations();
        let mut b = Builder {
            cfg,
            rng,
            lifter,
            setting,
            s: cfg.side.sign(),
            free,
            posture: home,
            home,
            heading: 0.0,
            spot: V3::zeros(),
            surface,
            root: QTrack::new(0.0, Q::identity()),
            pos: VTrack::new(0.0, V3::zeros()),
            hip: QTrack::new(0.0, Q::identity()),
            knee: QTrack::new(0.0, Q::identity()),
            mount: QTrack::new(0.0, mount_nominal),
            impacts: Vec::new(),
            effort: Vec::new(),
            distractions: Vec::new(),
            visible,
            comp_prev: None,
            mount_nominal,
        };
        b.heading = b.rng.gen_range(-180.0..180.0);
        let (qr, pp, qh, qk) = b.pose(home);
        b.root = QTrack::new(0.0, qr);
        b.pos = VTrack::new(0.0, pp);
        b.hip = QTrack::new(0.0, qh);
        b.knee = QTrack::new(0.0, qk);
        if exercise != Exercise::HipHitch {
            let q = b.leg_q(b.neutral_abd(), 0.0, 0.0);
            b.hip = QTrack::new(0.0, q);
        }
        let lead = cfg.lead_in_s.unwrap_or_else(|| b.rng.gen_range(0.5..3.0));
        b.still(lead.max(0.0));
        let mut sets = Vec::new();
        for i in 0..cfg.sets {
            let n = b.rng.gen_range(cfg.reps_min..=cfg.reps_max);
            b.comp_prev = None;
            let reps = b.set(n, true);
            let neutral_t = (reps[0].start - 0.25).max(0.0);
            sets.push(SetDraft { neutral_t, reps });
            if i + 1 < cfg.sets {
                let budget = b.rng.gen_range(cfg.rest_min_s..=cfg.rest_max_s);
                b.still_r(0.8, 2.0);
                let t = b.t();
                let start_rest = sets.last().unwrap().reps.last().unwrap().end;
                b.rest((budget - (t - start_rest)).max(8.0));
            }
        }
        b.still_r(2.0, 5.0);
        if (cfg.walking || cfg.fidgets) && b.rng.gen_bool(0.6) {
            let t0 = b.t();
            b.go_to(Posture::Stand);
            b.still(1.0);
            b.note(t0, b.t(), "getting up at the end");
        }
        let end = b.t() + b.rng.gen_range(1.0..3.0);
        b.hold_all(end);

        // The unintended motion: sway with breathing, tremor with effort.
        let mut rng = b.rng.clone();
        let l = b.lifter.clone();
        let dt_s = 0.25;
        let n_s = (end / dt_s).ceil() as usize + 8;
        let sway_sig = V3::new(0.6, 0.8, 0.7) * l.sway_deg * D2R;
        let mut sway_v = ou_path(&mut rng, n_s, dt_s, 1.5, sway_sig, |_| 1.0);
        for (k, v) in sway_v.iter_mut().enumerate() {
            let t = (k as f64 - 1.0) * dt_s;
            v.x += 0.3 * D2R * (2.0 * PI * t / l.breath_s).sin();
        }
        let sway = BSplineSo3::from_rotvecs(-dt_s, dt_s, &sway_v);
        let dt_p = 0.4;
        let n_p = (end / dt_p).ceil() as usize + 8;
        let shift = BSplineR3 {
            t0: -dt_p,
            dt: dt_p,
            p: ou_path(
                &mut rng,
                n_p,
                dt_p,
                2.0,
                V3::new(0.004, 0.004, 0.001),
                |_| 1.0,
            ),
        };
        let dt_t = 0.04;
        let n_t = (end / dt_t).ceil() as usize + 8;
        let mut effort = b.effort.clone();
        effort.sort_by(|a, b| a.0.total_cmp(&b.0));
        let level_at = |t: f64| {
            effort
                .iter()
                .filter(|e| e.0 <= t && t <= e.1)
                .map(|e| e.2)
                .fold(0.25f64, f64::max)
        };
        let trem_sig = V3::repeat(l.tremor_deg * D2R);
        let trem_v = ou_path(&mut rng, n_t, dt_t, 0.05, trem_sig, |k| {
            level_at((k as f64 - 1.0) * dt_t)
        });
        let tremor = BSplineSo3::from_rotvecs(-dt_t, dt_t, &trem_v);
        let mut impacts = b.impacts.clone();
        impacts.sort_by(|a, b| a.t.total_cmp(&b.t));
        for t in [&mut b.root, &mut b.hip, &mut b.knee, &mut b.mount] {
            t.finish();
        }
        b.pos.finish();
        let s = cfg.side.sign();
        let body = Body {
            root: b.root.clone(),
            pos: b.pos.clone(),
            hip: b.hip.clone(),
            knee: b.knee.clone(),
            mount: b.mount.clone(),
            sway,
            shift,
            tremor,
            impacts,
            placement: cfg.placement,
            hip_offset: V3::new(s * 0.09, -0.07, 0.0),
            thigh: l.thigh,
            shank_at: l.shank * rng.gen_range(0.78..0.9),
            skin: V3::new(-s * 0.04, 0.0, 0.0),
            sacrum: V3::new(0.0, -0.03, 0.1),
        };

        // The sensor.
        let dev = device(&mut rng);
        let ppm = rng.gen_range(-50.0..50.0);
        let clock = 1.0 + ppm * 1e-6;
        let gb = cfg.gyro_bias_dps;
        let uni = |rng: &mut ChaCha8Rng, a: f64| {
            if a > 0.0 {
                rng.gen_range(-a..a)
            } else {
                0.0
            }
        };
        let gyr_b = V3::new(
            uni(&mut rng, 0.7 * gb),
            uni(&mut rng, 0.7 * gb),
            uni(&mut rng, 0.7 * gb),
        );
        let gyr_warm = V3::new(
            uni(&mut rng, 0.3 * gb),
            uni(&mut rng, 0.3 * gb),
            uni(&mut rng, 0.3 * gb),
        );
        let acc_b = V3::new(
            uni(&mut rng, 0.15),
            uni(&mut rng, 0.15),
            uni(&mut rng, 0.15),
        );
        let acc_warm = V3::new(
            uni(&mut rng, 0.05),
            uni(&mut rng, 0.05),
            uni(&mut rng, 0.05),
        );
        let acc_m = error_matrix(&mut rng, 0.015, 0.008);
        let gyr_m = error_matrix(&mut rng, 0.025, 0.01);
        let warm_tau = rng.gen_range(120.0..400.0);
        let duration = end * clock;
        let mut gaps = Vec::new();
        if cfg.gaps_per_min > 0.0 {
            let mut t = 0.0;
            loop {
                let u: f64 = rng.gen_range(1e-9..1.0);
                t += -u.ln() * 60.0 / cfg.gaps_per_min;
                if t >= duration {
                    break;
                }
                gaps.push(t);
            }
        }

        // The truth, measured on the noise-free curves.
        let mut truth_sets = Vec::new();
        for sd in &sets {
            let n = body.eval(sd.neutral_t);
            let flex_n = flexion(&n.pelvis, &n.thigh);
            let mut reps = Vec::new();
            let mut partials = Vec::new();
            for r in &sd.reps {
                let steps = (((r.end - r.start) / 0.005).ceil() as usize).max(100);
                let (mut rot, mut omax, mut omin, mut speed, mut flex) =
                    (0.0f64, f64::MIN, f64::MAX, 0.0f64, f64::MIN);
                for j in 0..=steps {
                    let t = r.start + (r.end - r.start) * j as f64 / steps as f64;
                    let k = body.eval(t);
                    rot = rot.max((n.q.inverse() * k.q).angle() * R2D);
                    let o = obliquity(&n.pelvis, &k.pelvis, free);
                    omax = omax.max(o);
                    omin = omin.min(o);
                    speed = speed.max(k.w.norm() * R2D);
                    flex = flex.max(flexion(&n.pelvis, &k.thigh) - flex_n);
                }
                let peak = match cfg.placement {
                    Placement::Ankle => rot,
                    Placement::Pelvis => omax.abs().max(omin.abs()),
                };
                let flags = r
                    .comps
                    .iter()
                    .map(|&kind| TruthFlag {
                        kind,
                        value_deg: match kind {
                            FlagKind::HipHike => omax,
                            FlagKind::PelvicDrop => omin,
                            FlagKind::TrunkSway => omax.min(-omin),
                            FlagKind::Momentum => speed,
                            FlagKind::PartialRange => 0.0,
                            FlagKind::HipFlexionDrift => flex,
                        },
                    })
                    .collect();
                partials.push(r.comps.contains(&FlagKind::PartialRange));
                reps.push(TruthRep {
                    start_s: r.start * clock,
                    end_s: r.end * clock,
                    peak_deg: peak,
                    flags,
                });
            }
            let mut full: Vec<f64> = reps
                .iter()
                .zip(&partials)
                .filter(|(_, &p)| !p)
                .map(|(r, _)| r.peak_deg)
                .collect();
            full.sort_by(f64::total_cmp);
            let working = if full.is_empty() {
                reps.iter().map(|r| r.peak_deg).fold(0.0, f64::max)
            } else {
                full[full.len() / 2]
            };
            for r in &mut reps {
                let peak = r.peak_deg;
                for f in &mut r.flags {
                    if f.kind == FlagKind::PartialRange {
                        f.value_deg = (working - peak).max(0.0);
                    }
                }
            }
            truth_sets.push(TruthSet {
                start_s: reps[0].start_s,
                end_s: reps.last().unwrap().end_s,
                rep_count: reps.len(),
                reps,
            });
        }
        let mut distractions = b.distractions.clone();
        for d in &mut distractions {
            let who = match b.lifter.level {
                Level::Beginner => "a beginner",
                Level::Regular => "a regular",
                Level::Dancer => "a dancer",
            };
            d.push_str(&format!(" ({who}, {})", b.setting.name()));
        }
        let count = (duration * cfg.rate_hz).floor() as usize + 1;
        let truth = Truth {
            config: cfg.clone(),
            duration_s: (count - 1) as f64 / cfg.rate_hz,
            distractions,
            sets: truth_sets,
        };
        let sim = StudioSimulator {
            body,
            rate: cfg.rate_hz,
            count,
            index: 0,
            rng,
            clock,
            gaps,
            gap_cursor: 0,
            drop_rate: cfg.drop_rate,
            dropping: false,
            dev,
            noise: cfg.noise,
            acc_m,
            gyr_m,
            acc_b,
            gyr_b,
            gyr_warm,
            acc_warm,
            warm_tau,
            impact_cursor: 0,
        };
        Ok((sim, truth))
    }

    /// The ideal (error-free) specific force (m/s²) and rate (°/s) at body time `t`.
    fn ideal(&mut self, t: f64) -> (V3, V3) {
        let k = self.body.eval(t);
        let a = (self.body.position(t + ACC_H) - 2.0 * k.p + self.body.position(t - ACC_H))
            / (ACC_H * ACC_H)
            + self.body.impact_acc(t, &mut self.impact_cursor);
        let f = k.q.inverse() * (a + V3::new(0.0, 0.0, STANDARD_GRAVITY));
        (f, k.w * R2D)
    }
}

impl Iterator for StudioSimulator {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        loop {
            if self.index >= self.count {
                return None;
            }
            let i = self.index;
            self.index += 1;
            let t = i as f64 / self.rate;
            if i.is_multiple_of(self.dev.frames) {
                self.dropping = self.drop_rate > 0.0 && self.rng.gen_bool(self.drop_rate);
            }
            if in_ble_gap(&self.gaps, &mut self.gap_cursor, t) || self.dropping {
                continue;
            }
            let (f, w) = self.ideal(t / self.clock);
            let warm = 1.0 - (-t / self.warm_tau).exp();
            let mut acc = self.acc_m * f + self.acc_b + self.acc_warm * warm;
            let mut gyr = self.gyr_m * w + self.gyr_b + self.gyr_warm * warm;
            for j in 0..3 {
                acc[j] += self.noise * self.dev.acc_noise * gauss(&mut self.rng);
                gyr[j] += self.noise * self.dev.gyr_noise * gauss(&mut self.rng);
                acc[j] = ((acc[j] / self.dev.acc_lsb).round() * self.dev.acc_lsb)
                    .clamp(-self.dev.acc_max, self.dev.acc_max);
                gyr[j] = ((gyr[j] / self.dev.gyr_lsb).round() * self.dev.gyr_lsb)
                    .clamp(-self.dev.gyr_max, self.dev.gyr_max);
            }
            return Some(Sample { t, acc, gyr });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(ex: Exercise, pl: Placement, seed: u64) -> SimConfig {
        let mut c = SimConfig::new(ex, pl, Side::Right);
        c.model = crate::source::sim::SimModel::Studio;
        c.seed = seed;
        c
    }

    fn combos() -> Vec<(Exercise, Placement)> {
        crate::source::sim::PAIRS.to_vec()
    }

    #[test]
    fn the_truth_has_the_sets_and_reps_asked_for() {
        for (seed, (ex, pl)) in combos().into_iter().enumerate() {
            for extra in 0..3u64 {
                let mut c = cfg(ex, pl, 100 + seed as u64 * 10 + extra);
                c.sets = 2 + extra as usize;
                c.reps_min = 6;
                c.reps_max = 12;
                let (sim, truth) = StudioSimulator::new(&c).unwrap();
                assert_eq!(truth.sets.len(), c.sets, "{ex} {pl}");
                let mut last_end = f64::MIN;
                for s in &truth.sets {
                    assert_eq!(s.rep_count, s.reps.len());
                    assert!(
                        (6..=12).contains(&s.rep_count),
                        "{ex} {pl}: {}",
                        s.rep_count
                    );
                    assert!(s.start_s > last_end + 10.0, "{ex} {pl}: sets too close");
                    last_end = s.end_s;
                    for r in &s.reps {
                        let least = if pl == Placement::Ankle { 3.0 } else { 0.0 };
                        assert!(
                            r.end_s > r.start_s && r.peak_deg > least,
                            "{ex} {pl}: {r:?}"
                        );
                    }
                }
                let samples: Vec<Sample> = sim.collect();
                assert!(samples.iter().all(|s| s.is_finite()));
                assert!(samples.windows(2).all(|w| w[1].t > w[0].t));
                let last = samples.last().unwrap().t;
                assert!(last >= truth.sets.last().unwrap().end_s, "{ex} {pl}");
                // Dropped samples and gaps remove some but not many.
                let full = truth.duration_s * c.rate_hz;
                assert!(
                    (samples.len() as f64) > 0.9 * full && (samples.len() as f64) <= full + 1.0
                );
            }
        }
    }

    #[test]
    fn compensations_appear_when_asked_for() {
        for (ex, pl) in combos() {
            let mut c = cfg(ex, pl, 5);
            c.compensation_rate = 0.6;
            c.sets = 3;
            let visible = c.visible_compensations();
            let mut seen = std::collections::HashSet::new();
            for seed in 0..6 {
                c.seed = seed;
                let (_, t) = StudioSimulator::new(&c).unwrap();
                for r in t.sets.iter().flat_map(|s| &s.reps) {
                    for f in &r.flags {
                        assert!(visible.contains(&f.kind));
                        match f.kind {
                            FlagKind::HipHike => {
                                assert!(f.value_deg >= 5.0, "{ex} {pl} {f:?} {r:?}")
                            }
                            FlagKind::PelvicDrop => assert!(f.value_deg <= -5.0, "{f:?}"),
                            FlagKind::TrunkSway => assert!(f.value_deg >= 5.0, "{f:?}"),
                            FlagKind::HipFlexionDrift => assert!(f.value_deg >= 10.0, "{f:?}"),
                            FlagKind::PartialRange => {
                                // At most 70 % of the set's working range.
                                let working = r.peak_deg + f.value_deg;
                                assert!(r.peak_deg <= 0.7 * working, "{f:?} {r:?}")
                            }
                            FlagKind::Momentum => assert!(f.value_deg > 30.0, "{f:?}"),
                        }
                        seen.insert(f.kind);
                    }
                }
            }
            for k in &visible {
                assert!(seen.contains(k), "{ex} {pl}: {k:?} never appeared");
            }
            // And none when none are asked for.
            c.compensations.clear();
            let (_, t) = StudioSimulator::new(&c).unwrap();
            assert!(t
                .sets
                .iter()
                .flat_map(|s| &s.reps)
                .all(|r| r.flags.is_empty()));
        }
    }

    #[test]
    fn clean_reps_stay_under_the_pelvis_lines() {
        let mut c = cfg(Exercise::StandingCableAbduction, Placement::Pelvis, 9);
        c.compensations.clear();
        for seed in 0..4 {
            c.seed = seed;
            let (_, t) = StudioSimulator::new(&c).unwrap();
            for r in t.sets.iter().flat_map(|s| &s.reps) {
                assert!(r.peak_deg < 5.0, "{r:?}");
            }
        }
    }

    #[test]
    fn at_rest_the_accelerometer_reads_one_g() {
        for (ex, pl) in combos() {
            let mut c = cfg(ex, pl, 11);
            c.lead_in_s = Some(4.0);
            let (sim, _) = StudioSimulator::new(&c).unwrap();
            let still: Vec<Sample> = sim.take_while(|s| s.t < 3.0).collect();
            let mean = still.iter().map(|s| s.acc.norm()).sum::<f64>() / still.len() as f64;
            assert!((mean - STANDARD_GRAVITY).abs() < 0.5, "{ex} {pl}: {mean}");
            let gyr = still.iter().map(|s| s.gyr.norm()).fold(0.0, f64::max);
            assert!(gyr < 2.0 * 1.8 + 3.0, "{ex} {pl}: {gyr}");
        }
    }

    #[test]
    fn a_reps_peak_is_the_rotation_of_the_shank() {
        let mut c = cfg(Exercise::SideLyingAbduction, Placement::Ankle, 21);
        c.compensations.clear();
        let (sim, truth) = StudioSimulator::new(&c).unwrap();
        let body = &sim.body;
        for s in &truth.sets {
            let n_t = (s.reps[0].start_s / sim.clock - 0.25).max(0.0);
            let n = body.eval(n_t).shank;
            for r in &s.reps {
                let (a, b) = (r.start_s / sim.clock, r.end_s / sim.clock);
                let peak = (0..=400)
                    .map(|j| {
                        let t = a + (b - a) * j as f64 / 400.0;
                        (n.inverse() * body.eval(t).shank).angle() * R2D
                    })
                    .fold(0.0, f64::max);
                assert!((peak - r.peak_deg).abs() < 2.0, "{peak} vs {}", r.peak_deg);
            }
        }
    }

    #[test]
    fn the_gyro_is_the_derivative_of_the_orientation_curve() {
        for (ex, pl) in combos() {
            let (sim, truth) = StudioSimulator::new(&cfg(ex, pl, 31)).unwrap();
            let body = &sim.body;
            let end = truth.duration_s / sim.clock;
            let h = 1e-5;
            let mut worst = 0.0f64;
            for j in 0..2000 {
                let t = 0.5 + (end - 1.0) * j as f64 / 2000.0;
                let (a, b) = (body.eval(t - h), body.eval(t + h));
                let fd = log_map(&(a.q.inverse() * b.q)) / (2.0 * h);
                let k = body.eval(t);
                let err = (fd - k.w).norm() * R2D;
                worst = worst.max(err / (1.0 + k.w.norm() * R2D));
            }
            assert!(worst < 0.01, "{ex} {pl}: {worst}");
        }
    }

    #[test]
    fn curves_pass_through_their_keys() {
        let mut tr = QTrack::new(0.0, Q::identity());
        tr.push(1.0, rz(40.0), false);
        tr.push(2.5, rz(40.0) * rx(30.0), true);
        tr.push(4.0, ry(120.0), true);
        tr.finish();
        for (t, q) in [
            (1.0, rz(40.0)),
            (2.5, rz(40.0) * rx(30.0)),
            (4.0, ry(120.0)),
        ] {
            assert!(tr.eval(t).0.angle_to(&q) < 1e-9);
        }
        assert!(tr.eval(2.5).1.norm() < 1e-9);
        assert!(tr.eval(1.0).1.norm() > 0.1);
    }

    #[test]
    fn a_long_session_is_quick() {
        let mut c = cfg(Exercise::StandingCableAbduction, Placement::Ankle, 41);
        c.sets = 6;
        c.rest_min_s = 60.0;
        c.rest_max_s = 120.0;
        let (sim, truth) = StudioSimulator::new(&c).unwrap();
        assert!(truth.duration_s > 300.0);
        assert!(sim.count() > 30_000);
    }
}
