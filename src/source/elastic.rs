//! A twenty-ninth body model, built apart: movement as functional data.
//!
//! Where the other models simulate a body or a controller, this one draws
//! each rep's joint-angle curves from a statistical model of whole curves,
//! the way biomechanists analyse and synthesise kinematics (Ramsay and
//! Silverman's functional data analysis, Srivastava's elastic framework,
//! functional mixed-effects models):
//!
//! - **Shape.** Every rep of every joint the exercise moves (working hip
//!   abduction, flexion and rotation, knee, pelvic obliquity, tilt and
//!   rotation, whole-body lean) is a curve on normalised rep time [0, 1]:
//!   a per-lifter mean function plus six eigenfunctions (amplitude,
//!   early/late peak, hold, rise/lower asymmetry, a bounce at the top, a
//!   hitch on the rise), all clamped cubic B-splines (16 basis functions)
//!   with zero value, slope and curvature at both ends. The scores are correlated across joints through a
//!   per-lifter factor model (more abduction with more hike and a longer
//!   rep; a fast rise with a late hip flexion; a pelvis that rolls or a
//!   body that leans), i.e. a multivariate normal with covariance
//!   ΛΛᵀ + Ψ.
//! - **Time.** Each rep's curves are composed with a random warping
//!   function γ, the normalised cumulative of exp(w) for a random smooth w,
//!   so phase variability is separate from amplitude; the rep's duration is
//!   its own score, correlated with its amplitude.
//! - **Hierarchy.** Population (gym-goers, rehab patients, older adults,
//!   athletes, beginners) → lifter (mean curve, covariance, tempo) →
//!   session (range) → set (a random offset and a fatigue trend in the
//!   scores and the duration) → rep (AR(1) on scores and warps: a rep looks
//!   like the one before).
//! - **Compensations** are shifts of the scores along their own directions
//!   (hike, drop and sway on the pelvis and lean curves, flexion drift,
//!   partial range on the amplitude) or of the warp (momentum rushes the
//!   rise), more likely late in a set; they are measured on the resulting
//!   curves against DOMAIN's lines (hike and drop: ±5° of pelvic obliquity
//!   held 150 ms; sway: beyond ±5° of whole-body lean on both sides), so
//!   some land just under one. Where DOMAIN gives no number the lines are
//!   this model's own: momentum when 10–90 % of the rise or the return
//!   takes under 0.25 s (value: the rep's range), partial range under 60 %
//!   of the set's median peak (value: the shortfall), hip flexion drift at
//!   10° of added flexion (value: the flexion). A hip hitch's own drop is
//!   the rep, so it is never flagged as a pelvic drop.
//! - **Between reps and sets**: pauses from a per-lifter renewal process
//!   (back to back or paused); non-rep movements (fidgets, swings, a
//!   partial start given up, re-strapping, shuffling steps, walking and
//!   turning, lying down, getting up, sitting into the machine, adjusting
//!   it) are functional classes of their own drawn from a semi-Markov
//!   activity sequence.
//! - **Sensor.** The curves drive a kinematic skeleton (segment lengths
//!   from Winter's anthropometric tables); the sensor's angular rate and
//!   specific force come from the continuous-time pose (its rotation and
//!   position differentiated at ±1.5 ms, not from sampled data) plus
//!   gravity. Soft-tissue artefact after Camomilla, Leardini and Dumas: the
//!   sensor's offset and rotation from the bone are linear in the nearby
//!   joint angles, plus damped wobbles after impacts. MEMS errors of the
//!   sensors people own (range, quantisation, bias, scale, cross-axis,
//!   noise), a crystal off nominal, device or host time stamps with BLE
//!   batches and jitter, drops and gaps.
//!
//! Built without reading the counter or the other models.

use super::{gauss, round3, smoothstep, uni};
use crate::motion::FlagKind;
use crate::sample::STANDARD_GRAVITY;
use crate::source::sim::{SimConfig, Truth, TruthFlag, TruthRep, TruthSet};
use crate::{Exercise, Placement, Sample, Side};
use nalgebra::{Matrix3, Rotation3, UnitQuaternion, Vector3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma};
use std::f64::consts::PI;

/// B-spline basis functions per curve (clamped cubic).
const NB: usize = 16;
/// Eigenfunctions per joint.
const NK: usize = 6;
/// Joints with curves.
const NJ: usize = 8;
/// Channels of the pose: the joints, then heading, position and height.
const NCH: usize = 12;
/// Latent factors behind the cross-joint covariance.
const NF: usize = 4;
/// Scores per rep: every joint's, then the log-duration.
const NZ: usize = NJ * NK + 1;
const DUR: usize = NJ * NK;
/// Nodes of a warp's table.
const NW: usize = 48;
/// Cosine terms of a warp's log-slope.
const NWC: usize = 4;

const ABD: usize = 0;
const FLEX: usize = 1;
const ROT: usize = 2;
const KNEE: usize = 3;
const OBL: usize = 4;
const TILT: usize = 5;
const PROT: usize = 6;
const LEAN: usize = 7;
const HEAD: usize = 8;
const PX: usize = 9;
const PY: usize = 10;
const PZ: usize = 11;

/// Half the step used to differentiate the pose, s.
const H: f64 = 0.0015;
/// Truth grid, s.
const DT_TRUTH: f64 = 0.005;

fn gamma_mean(rng: &mut ChaCha8Rng, shape: f64, mean: f64) -> f64 {
    Gamma::new(shape, mean / shape)
        .map(|g| g.sample(rng))
        .unwrap_or(mean)
}

fn rad(d: f64) -> f64 {
    d.to_radians()
}

fn rx(a: f64) -> UnitQuaternion<f64> {
    UnitQuaternion::from_axis_angle(&Vector3::x_axis(), a)
}
fn ry(a: f64) -> UnitQuaternion<f64> {
    UnitQuaternion::from_axis_angle(&Vector3::y_axis(), a)
}
fn rz(a: f64) -> UnitQuaternion<f64> {
    UnitQuaternion::from_axis_angle(&Vector3::z_axis(), a)
}

/// The Y coordinate direction of a side in the body frame (X forward, Y left, Z up).
fn lat(side: Side) -> f64 {
    -side.sign()
}

// ---------------------------------------------------------------------------
// Functional bases

/// The clamped uniform cubic knot vector on [0, 1].
fn knots() -> [f64; NB + 4] {
    let mut k = [0.0; NB + 4];
    let inner = NB - 3; // intervals
    for (i, v) in k.iter_mut().enumerate() {
        *v = ((i as f64 - 3.0) / inner as f64).clamp(0.0, 1.0);
    }
    k
}

/// The four non-zero basis values at `u` and the index of the first.
fn basis(u: f64) -> (usize, [f64; 4]) {
    let k = knots();
    let u = u.clamp(0.0, 1.0);
    let inner = NB - 3;
    let span = ((u * inner as f64).floor() as usize).min(inner - 1) + 3;
    let mut n = [0.0; 4];
    let mut left = [0.0; 4];
    let mut right = [0.0; 4];
    n[0] = 1.0;
    for j in 1..4 {
        left[j] = u - k[span + 1 - j];
        right[j] = k[span + j] - u;
        let mut saved = 0.0;
        for r in 0..j {
            let den = right[r + 1] + left[j - r];
            let temp = if den > 0.0 { n[r] / den } else { 0.0 };
            n[r] = saved + right[r + 1] * temp;
            saved = left[j - r] * temp;
        }
        n[j] = saved;
    }
    (span - 3, n)
}

fn spline(c: &[f64; NB], u: f64) -> f64 {
    let (i0, n) = basis(u);
    (0..4).map(|r| c[i0 + r] * n[r]).sum()
}

/// Quasi-interpolation of `f` at the Greville abscissae, refined twice; the
/// end values and slopes forced to zero.
fn fit(f: impl Fn(f64) -> f64) -> [f64; NB] {
    let k = knots();
    let g: Vec<f64> = (0..NB)
        .map(|i| (k[i + 1] + k[i + 2] + k[i + 3]) / 3.0)
        .collect();
    let mut c = [0.0; NB];
    for i in 0..NB {
        c[i] = f(g[i]);
    }
    for _ in 0..2 {
        let mut d = [0.0; NB];
        for i in 0..NB {
            d[i] = f(g[i]) - spline(&c, g[i]);
        }
        for i in 0..NB {
            c[i] += d[i];
        }
    }
    // Zero value, slope and curvature at both ends: a rep leaves rest and
    // comes back to it smoothly (the onset is cubic).
    for i in 0..3 {
        c[i] = 0.0;
        c[NB - 1 - i] = 0.0;
    }
    c
}

fn inner(a: &[f64; NB], b: &[f64; NB]) -> f64 {
    let n = 80;
    (0..=n)
        .map(|i| {
            let u = i as f64 / n as f64;
            spline(a, u) * spline(b, u)
        })
        .sum::<f64>()
        / (n + 1) as f64
}

/// Gram–Schmidt in L²[0, 1]; each result has unit RMS.
fn orthonormal(mut v: Vec<[f64; NB]>) -> Vec<[f64; NB]> {
    for i in 0..v.len() {
        for j in 0..i {
            let p = inner(&v[i], &v[j]);
            let vj = v[j];
            for (a, b) in v[i].iter_mut().zip(vj.iter()) {
                *a -= p * b;
            }
        }
        let norm = inner(&v[i], &v[i]).sqrt().max(1e-9);
        for a in v[i].iter_mut() {
            *a /= norm;
        }
    }
    v
}

/// A rep's template on [0, 1], peak 1: a rise over `r`, a hold over `h`
/// (sagging by `sag`), a lowering shaped by `p` (above 1: a slow start of
/// the eccentric).
#[derive(Debug, Clone, Copy)]
struct Template {
    r: f64,
    h: f64,
    p: f64,
    sag: f64,
}

impl Template {
    fn at(&self, u: f64) -> f64 {
        if u <= 0.0 || u >= 1.0 {
            return 0.0;
        }
        if u < self.r {
            let x = u / self.r;
            // A concentric that accelerates hard and brakes into the top.
            smoothstep(x.powf(0.85))
        } else if u < self.r + self.h {
            1.0 - self.sag * (PI * (u - self.r) / self.h).sin()
        } else {
            let d = (1.0 - self.r - self.h).max(0.05);
            let x = ((u - self.r - self.h) / d).clamp(0.0, 1.0);
            1.0 - smoothstep(x.powf(self.p))
        }
    }
}

/// A monotone warping of [0, 1]: the normalised cumulative of exp(w).
#[derive(Debug, Clone)]
struct Warp {
    g: [f64; NW + 1],
    d: [f64; NW + 1],
}

impl Warp {
    fn new(w: impl Fn(f64) -> f64) -> Warp {
        let mut d = [0.0; NW + 1];
        for (i, v) in d.iter_mut().enumerate() {
            *v = w(i as f64 / NW as f64).exp();
        }
        // Simpson-like integration on a finer grid.
        let mut g = [0.0; NW + 1];
        let sub = 4;
        let mut acc = 0.0;
        for i in 0..NW {
            let a = i as f64 / NW as f64;
            let hstep = 1.0 / (NW * sub) as f64;
            for s in 0..sub {
                let x0 = a + s as f64 * hstep;
                let x1 = x0 + hstep;
                let xm = 0.5 * (x0 + x1);
                acc += hstep / 6.0 * (w(x0).exp() + 4.0 * w(xm).exp() + w(x1).exp());
            }
            g[i + 1] = acc;
        }
        for i in 0..=NW {
            g[i] /= acc;
            d[i] /= acc;
        }
        g[NW] = 1.0;
        Warp { g, d }
    }

    /// γ(x), cubic Hermite between the nodes.
    fn at(&self, x: f64) -> f64 {
        let x = x.clamp(0.0, 1.0);
        let f = x * NW as f64;
        let i = (f.floor() as usize).min(NW - 1);
        let s = f - i as f64;
        let h = 1.0 / NW as f64;
        let s2 = s * s;
        let s3 = s2 * s;
        (2.0 * s3 - 3.0 * s2 + 1.0) * self.g[i]
            + (s3 - 2.0 * s2 + s) * h * self.d[i]
            + (-2.0 * s3 + 3.0 * s2) * self.g[i + 1]
            + (s3 - s2) * h * self.d[i + 1]
    }
}

// ---------------------------------------------------------------------------
// The world: postures, episodes, the lifter

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Posture {
    Stand,
    Step,
    Lie,
    Seat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Still,
    Rep,
    Partial,
    Swing,
    Fidget,
    Restrap,
    Adjust,
    Shuffle,
    Walk,
    Turn,
    GetUp,
    LieDown,
    SitDown,
    StandUp,
}

impl Kind {
    fn words(self) -> &'static str {
        match self {
            Kind::Still => "still",
            Kind::Rep => "rep",
            Kind::Partial => "partial start given up",
            Kind::Swing => "single swing",
            Kind::Fidget => "fidget",
            Kind::Restrap => "re-strap",
            Kind::Adjust => "adjusting the machine",
            Kind::Shuffle => "shuffling steps",
            Kind::Walk => "walk",
            Kind::Turn => "turn round",
            Kind::GetUp => "get up",
            Kind::LieDown => "lie down",
            Kind::SitDown => "sit into the machine",
            Kind::StandUp => "stand up",
        }
    }
}

#[derive(Debug, Clone)]
enum Shape {
    None,
    Curves(Box<([[f64; NB]; NJ], Warp)>),
    Gait { stride: f64, ramp: f64 },
}

#[derive(Debug, Clone)]
struct Episode {
    t0: f64,
    dur: f64,
    from: Posture,
    to: Posture,
    off0: [f64; NCH],
    off1: [f64; NCH],
    shape: Shape,
}

impl Episode {
    fn end(&self) -> f64 {
        self.t0 + self.dur
    }

    /// The curves alone (no offsets, no sway), at time `t`.
    fn curves(&self, t: f64, q: &mut [f64; NCH]) {
        let x = ((t - self.t0) / self.dur).clamp(0.0, 1.0);
        match &self.shape {
            Shape::None => {}
            Shape::Curves(c) => {
                let u = c.1.at(x);
                let (i0, n) = basis(u);
                for (j, coef) in c.0.iter().enumerate() {
                    q[j] += (0..4).map(|r| coef[i0 + r] * n[r]).sum::<f64>();
                }
            }
            Shape::Gait { stride, ramp } => {
                let tau = t - self.t0;
                let env = smoothstep((tau / ramp).min((self.dur - tau) / ramp));
                let ph = tau / stride;
                let c = (2.0 * PI * ph).cos();
                let s = (2.0 * PI * ph).sin();
                let wrap = |p: f64, c: f64| {
                    let mut d = p - c;
                    d -= d.round();
                    d
                };
                let fr = ph - ph.floor();
                let k1 = wrap(fr, 0.12) / 0.07;
                let k2 = wrap(fr, 0.72) / 0.15;
                q[FLEX] += env * (8.0 + 18.0 * (2.0 * PI * (ph - 0.02)).cos());
                q[KNEE] += env * (10.0 * (-k1 * k1).exp() + 52.0 * (-k2 * k2).exp());
                q[ABD] += env * 3.0 * s;
                q[OBL] += env * 4.0 * s;
                q[PROT] += env * 5.0 * c;
                q[LEAN] += env * 1.5 * s;
                q[TILT] += env * 1.5 * (4.0 * PI * ph).cos();
                q[PZ] += env * 0.02 * (4.0 * PI * ph).cos();
            }
        }
    }

    /// Offset interpolation parameter at `t`.
    fn s(&self, t: f64) -> f64 {
        let x = ((t - self.t0) / self.dur).clamp(0.0, 1.0);
        match self.shape {
            Shape::Gait { ramp, .. } => {
                // Trapezoidal speed with ramps of `ramp` seconds.
                let a = (ramp / self.dur).min(0.45);
                let vmax = 1.0 / (1.0 - a);
                if x < a {
                    0.5 * vmax * x * x / a
                } else if x > 1.0 - a {
                    let y = 1.0 - x;
                    1.0 - 0.5 * vmax * y * y / a
                } else {
                    0.5 * vmax * a + vmax * (x - a)
                }
            }
            _ => 0.5 - 0.5 * (PI * x).cos(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Pop {
    Gym,
    Rehab,
    Older,
    Athlete,
    Beginner,
}

/// One impact that sets the soft tissue under the sensor wobbling.
#[derive(Debug, Clone, Copy)]
struct Impact {
    t: f64,
    amp_m: f64,
    amp_rad: f64,
    f_hz: f64,
    zeta: f64,
    dir: Vector3<f64>,
}

/// A lifter: anthropometry, their functional model and their habits.
#[derive(Debug, Clone)]
struct Lifter {
    pop: Pop,
    thigh: f64,
    shank: f64,
    leg: f64,
    hw: f64,
    dur: f64,
    tmpl: Template,
    mean: [[f64; NB]; NJ],
    eig: Vec<Vec<[f64; NB]>>,
    lam: [[f64; NK]; NJ],
    load: Vec<[f64; NF]>,
    psi: Vec<f64>,
    rho: f64,
    rho_w: f64,
    warp_sd: f64,
    p_b2b: f64,
    pause_mean: f64,
    fatigue: f64,
    comp_w: [f64; 6],
    fidget_rate: f64,
    sway: [[(f64, f64, f64); 3]; NJ],
    /// Unit directions of the compensations: hike/drop on obliquity, sway on lean.
    dir_obl: [f64; NB],
    dir_sway: [f64; NB],
    dir_flex: [f64; NB],
    dir_late: [f64; NB],
}

fn kind_index(k: FlagKind) -> usize {
    match k {
        FlagKind::HipHike => 0,
        FlagKind::PelvicDrop => 1,
        FlagKind::TrunkSway => 2,
        FlagKind::Momentum => 3,
        FlagKind::PartialRange => 4,
        FlagKind::HipFlexionDrift => 5,
    }
}

/// The body's segment frames at one instant.
#[derive(Debug, Clone, Copy)]
struct Frames {
    pelvis_p: Vector3<f64>,
    pelvis_r: UnitQuaternion<f64>,
    shank_p: Vector3<f64>,
    shank_r: UnitQuaternion<f64>,
}

/// A planned rep, before its truth is measured.
#[derive(Debug, Clone)]
struct PlannedRep {
    ep: usize,
    intents: Vec<FlagKind>,
}

/// The whole session as a timeline of episodes, plus the body that plays it.
#[derive(Debug, Clone)]
struct World {
    ex: Exercise,
    placement: Placement,
    side: Side,
    stance: Side,
    free: Side,
    lifter: Lifter,
    eps: Vec<Episode>,
    impacts: Vec<Impact>,
    step_h: f64,
    /// Sensor site: ankle (radius angle, offset along the shank) or pelvis (offset).
    site: Vector3<f64>,
    mount: UnitQuaternion<f64>,
    sta_lin: Matrix3<f64>,
    sta_rot: Matrix3<f64>,
}

fn posture_of(ex: Exercise) -> Posture {
    match ex {
        Exercise::SideLyingAbduction => Posture::Lie,
        Exercise::SeatedMachineAbduction => Posture::Seat,
        Exercise::HipHitch => Posture::Step,
        _ => Posture::Stand,
    }
}

/// Joint offsets of a posture (°).
fn posture_base(p: Posture) -> [f64; NJ] {
    match p {
        Posture::Stand | Posture::Step => [1.0, 2.0, 0.0, 3.0, 0.0, 0.0, 0.0, 0.0],
        Posture::Lie => [-4.0, 12.0, 0.0, 4.0, 0.0, 0.0, 0.0, 0.0],
        Posture::Seat => [10.0, 86.0, 0.0, 88.0, 0.0, -8.0, 0.0, 0.0],
    }
}

fn sway_scale(p: Posture) -> f64 {
    match p {
        Posture::Stand | Posture::Step => 1.0,
        Posture::Lie => 0.35,
        Posture::Seat => 0.45,
    }
}

impl World {
    fn episode_at(&self, t: f64) -> &Episode {
        let i = self.eps.partition_point(|e| e.t0 <= t);
        &self.eps[i.saturating_sub(1).min(self.eps.len() - 1)]
    }

    /// The pose channels at `t`, with the posture pair and the blend.
    fn q(&self, t: f64) -> ([f64; NCH], Posture, Posture, f64) {
        let ep = self.episode_at(t);
        let s = ep.s(t);
        let mut q = [0.0; NCH];
        for (c, v) in q.iter_mut().enumerate() {
            *v = ep.off0[c] + (ep.off1[c] - ep.off0[c]) * s;
        }
        ep.curves(t, &mut q);
        let sc = sway_scale(ep.from) * (1.0 - s) + sway_scale(ep.to) * s;
        for (j, comps) in self.lifter.sway.iter().enumerate() {
            let mut v = 0.0;
            for &(a, f, p) in comps {
                v += a * (2.0 * PI * f * t + p).sin();
            }
            q[j] += sc * v;
        }
        (q, ep.from, ep.to, if ep.from == ep.to { 0.0 } else { s })
    }

    fn frames_in(&self, p: Posture, q: &[f64; NCH]) -> Frames {
        let l = &self.lifter;
        let head = rz(rad(q[HEAD]));
        let (pp, rp) = match p {
            Posture::Stand | Posture::Step => {
                let h = if p == Posture::Step { self.step_h } else { 0.0 };
                let foot = Vector3::new(q[PX], q[PY], h + q[PZ]);
                let tilt_leg = rx(-lat(self.stance) * rad(q[LEAN]));
                let hip_st = foot + head * (tilt_leg * Vector3::new(0.0, 0.0, l.leg));
                let rp = head
                    * rz(rad(q[PROT]))
                    * rx(lat(self.free) * rad(q[OBL] - q[LEAN]))
                    * ry(rad(q[TILT]));
                let pp = hip_st - rp * Vector3::new(0.0, lat(self.stance) * l.hw, 0.0);
                (pp, rp)
            }
            Posture::Lie => {
                let root = head * rx(lat(self.side) * PI / 2.0);
                let rp = root
                    * rz(rad(q[LEAN]))
                    * rz(rad(q[PROT]))
                    * rx(lat(self.free) * rad(q[OBL]))
                    * ry(rad(q[TILT]));
                (Vector3::new(q[PX], q[PY], 0.14 + q[PZ]), rp)
            }
            Posture::Seat => {
                let rp = head
                    * rz(rad(q[PROT]))
                    * rx(lat(self.free) * rad(q[OBL] - 0.3 * q[LEAN]))
                    * ry(rad(q[TILT]));
                (Vector3::new(q[PX], q[PY], 0.50 + q[PZ]), rp)
            }
        };
        let w = lat(self.side);
        let hip = pp + rp * Vector3::new(0.0, w * l.hw, 0.0);
        let rt = rp * ry(-rad(q[FLEX])) * rx(w * rad(q[ABD])) * rz(w * rad(q[ROT]));
        let knee = hip + rt * Vector3::new(0.0, 0.0, -l.thigh);
        let rs = rt * ry(rad(q[KNEE]));
        let ankle = knee + rs * Vector3::new(0.0, 0.0, -0.8 * l.shank);
        Frames {
            pelvis_p: pp,
            pelvis_r: rp,
            shank_p: ankle,
            shank_r: rs,
        }
    }

    fn frames(&self, t: f64) -> (Frames, [f64; NCH]) {
        let (q, a, b, s) = self.q(t);
        let fa = self.frames_in(a, &q);
        if s <= 0.0 {
            return (fa, q);
        }
        let fb = self.frames_in(b, &q);
        (
            Frames {
                pelvis_p: fa.pelvis_p.lerp(&fb.pelvis_p, s),
                pelvis_r: fa.pelvis_r.slerp(&fb.pelvis_r, s),
                shank_p: fa.shank_p.lerp(&fb.shank_p, s),
                shank_r: fa.shank_r.slerp(&fb.shank_r, s),
            },
            q,
        )
    }

    /// The sensor's position and orientation at `t` (soft tissue included).
    fn sensor_pose(&self, t: f64) -> (Vector3<f64>, UnitQuaternion<f64>) {
        let (f, q) = self.frames(t);
        // Wobble after impacts: a damped oscillation of the tissue under the sensor.
        let mut wob = 0.0;
        let mut wob_dir = Vector3::zeros();
        let mut wob_rot = Vector3::zeros();
        let i1 = self.impacts.partition_point(|m| m.t <= t);
        let i0 = self.impacts[..i1].partition_point(|m| m.t < t - 1.0);
        for m in &self.impacts[i0..i1] {
            let tau = t - m.t;
            let wn = 2.0 * PI * m.f_hz;
            let wd = wn * (1.0 - m.zeta * m.zeta).sqrt();
            let e = (-m.zeta * wn * tau).exp() * (wd * tau).sin();
            wob += e;
            wob_dir += m.dir * (e * m.amp_m);
            wob_rot += m.dir.yzx() * (e * m.amp_rad);
        }
        let _ = wob;
        match self.placement {
            Placement::Ankle => {
                let a = Vector3::new(rad(q[KNEE]), rad(q[ABD]), rad(q[FLEX]));
                let off = self.site + self.sta_lin * a + wob_dir;
                let rot = UnitQuaternion::from_scaled_axis(self.sta_rot * a + wob_rot);
                (f.shank_p + f.shank_r * off, f.shank_r * self.mount * rot)
            }
            Placement::Pelvis => {
                let a = Vector3::new(rad(q[FLEX]), rad(q[TILT]), rad(q[LEAN]));
                let off = self.site + self.sta_lin * a + wob_dir;
                let rot = UnitQuaternion::from_scaled_axis(self.sta_rot * a + wob_rot);
                (f.pelvis_p + f.pelvis_r * off, f.pelvis_r * self.mount * rot)
            }
        }
    }

    /// Ideal specific force (m/s²) and angular rate (°/s) in the sensor frame.
    fn ideal(&self, t: f64) -> (Vector3<f64>, Vector3<f64>) {
        let (p0, r0) = self.sensor_pose(t - H);
        let (p1, r1) = self.sensor_pose(t);
        let (p2, r2) = self.sensor_pose(t + H);
        let acc = (p2 - 2.0 * p1 + p0) / (H * H);
        let f = r1.inverse() * (acc + Vector3::new(0.0, 0.0, STANDARD_GRAVITY));
        let w = (r0.inverse() * r2).scaled_axis() / (2.0 * H);
        (f, w.map(|v| v.to_degrees()))
    }

    /// Obliquity of the pelvis (free side up positive, °) relative to `reference`.
    fn obliquity(&self, reference: &UnitQuaternion<f64>, r: &UnitQuaternion<f64>) -> f64 {
        let y = reference.inverse() * (r * Vector3::y());
        lat(self.free) * y.z.atan2(y.y).to_degrees()
    }
}

// ---------------------------------------------------------------------------
// Building a session

struct Builder<'a> {
    cfg: &'a SimConfig,
    /// The lifter and the timeline: the same for every placement, so two
    /// sensors see one lifter.
    rng: ChaCha8Rng,
    /// The sensor's own draws (mounting, tissue, impacts).
    mrng: ChaCha8Rng,
    w: World,
    t: f64,
    base: [f64; NCH],
    posture: Posture,
    distractions: Vec<String>,
    z_prev: Vec<f64>,
    a_prev: [f64; NWC],
    session_range: f64,
}

fn new_lifter(rng: &mut ChaCha8Rng, ex: Exercise) -> Lifter {
    let pop = match rng.gen_range(0..100) {
        0..=34 => Pop::Gym,
        35..=54 => Pop::Rehab,
        55..=69 => Pop::Older,
        70..=82 => Pop::Athlete,
        _ => Pop::Beginner,
    };
    // (range ×, mean duration s, variability ×, hold fraction, back-to-back share)
    let (rs, dur, var, hold, b2b) = match pop {
        Pop::Gym => (1.0, 2.7, 1.0, 0.10, 0.35),
        Pop::Rehab => (0.72, 3.4, 1.3, 0.22, 0.15),
        Pop::Older => (0.8, 3.3, 1.2, 0.14, 0.2),
        Pop::Athlete => (1.1, 2.2, 0.6, 0.08, 0.55),
        Pop::Beginner => (0.95, 2.5, 1.6, 0.04, 0.3),
    };
    // Anthropometry (Winter): thigh 0.245 H, shank 0.246 H, hip height 0.53 H.
    let height = (1.71 + 0.09 * gauss(rng)).clamp(1.5, 2.0);
    let nominal = match ex {
        Exercise::StandingCableAbduction => 34.0,
        Exercise::SideLyingAbduction => 36.0,
        Exercise::SeatedMachineAbduction => 27.0,
        Exercise::HipHitch => 7.5,
        _ => 30.0,
    };
    let range = (nominal * rs * (1.0 + 0.12 * gauss(rng))).clamp(0.45 * nominal, 1.35 * nominal);
    let dur = (dur * (1.0 + 0.15 * gauss(rng))).clamp(1.4, 5.0);
    let r = (0.3 + 0.04 * gauss(rng)).clamp(0.2, 0.42);
    let h = (hold * (1.0 + 0.4 * gauss(rng))).clamp(0.0, 0.35);
    let tmpl = Template {
        r,
        h,
        p: uni(rng, 0.8, 1.35),
        sag: uni(rng, 0.0, 0.05),
    };
    let lagged = |lag: f64| move |u: f64| tmpl.at(u - lag);
    let hitch = ex == Exercise::HipHitch;
    let standing = matches!(ex, Exercise::StandingCableAbduction | Exercise::HipHitch);
    // Mean gains of the coupled joints (°).
    let g_flex = 2.0 + 1.5 * gauss(rng);
    let g_rot = 3.0 * gauss(rng);
    let g_knee = uni(rng, 0.0, 4.0);
    let g_obl = if ex == Exercise::SeatedMachineAbduction {
        uni(rng, 0.0, 0.8)
    } else {
        uni(rng, 0.5, 3.0)
    };
    let g_tilt = 1.5 * gauss(rng);
    let g_prot = 2.0 * gauss(rng);
    let g_lean = if standing {
        uni(rng, 0.0, 2.0)
    } else {
        uni(rng, 0.0, 2.5)
    };
    let lag_f = uni(rng, 0.0, 0.1);
    let over = uni(rng, 0.0, 2.5);
    let mut mean = [[0.0; NB]; NJ];
    if hitch {
        // The free side drops, is pulled back up past level a little, and settles.
        let m = move |u: f64| {
            let b = (u - 0.82) / 0.08;
            -range * tmpl.at(u) + over * (-b * b).exp() * (PI * u).sin()
        };
        mean[OBL] = fit(m);
        mean[ABD] = fit(move |u| -0.7 * range * tmpl.at(u));
        mean[KNEE] = fit(move |u| g_knee * tmpl.at(u));
        mean[FLEX] = fit(move |u| 0.5 * g_flex * tmpl.at(u));
    } else {
        mean[ABD] = fit(move |u| range * tmpl.at(u));
        mean[OBL] = fit(move |u| g_obl * lagged(0.03)(u));
        mean[FLEX] = fit(move |u| g_flex * lagged(lag_f)(u));
        mean[KNEE] = fit(move |u| g_knee * tmpl.at(u));
    }
    mean[ROT] = fit(move |u| g_rot * tmpl.at(u));
    mean[TILT] = fit(move |u| g_tilt * tmpl.at(u));
    mean[PROT] = fit(move |u| g_prot * lagged(0.02)(u));
    mean[LEAN] = fit(move |u| g_lean * lagged(0.04)(u));

    // Eigenfunctions: the same six shape modes for every joint, orthonormalised.
    let top = r + 0.5 * h;
    let modes: Vec<[f64; NB]> = vec![
        fit(move |u| tmpl.at(u)),
        fit(move |u| tmpl.at(u) * (u - top) * 2.5),
        fit(move |u| {
            let b = (u - top) / 0.1;
            (-b * b).exp() * tmpl.at(u)
        }),
        fit(|u| (PI * u).sin() * (2.0 * PI * u).sin()),
        fit(move |u| {
            let b = (u - r - 0.06) / 0.08;
            (2.0 * PI * (u - r) / 0.12).sin() * (-b * b).exp()
        }),
        fit(move |u| {
            let b = (u - 0.5 * r) / 0.06;
            -(-b * b).exp()
        }),
    ];
    let modes = orthonormal(modes);
    let eig: Vec<Vec<[f64; NB]>> = (0..NJ).map(|_| modes.clone()).collect();
    let prim = if hitch { range } else { range * 0.35 };
    let base_sd: [[f64; NK]; NJ] = [
        [
            0.30 * prim,
            0.05 * range,
            0.035 * range,
            0.025 * range,
            0.015 * range,
            0.012 * range,
        ],
        [1.5, 1.0, 0.7, 0.5, 0.3, 0.3],
        [2.0, 1.0, 0.7, 0.5, 0.3, 0.2],
        [1.5, 0.8, 0.6, 0.4, 0.3, 0.2],
        if hitch {
            [
                0.12 * range,
                0.05 * range,
                0.035 * range,
                0.025 * range,
                0.02 * range,
                0.015 * range,
            ]
        } else {
            [0.5, 0.3, 0.25, 0.2, 0.12, 0.1]
        },
        [0.8, 0.5, 0.3, 0.2, 0.15, 0.1],
        [1.0, 0.6, 0.4, 0.3, 0.2, 0.1],
        [0.5, 0.3, 0.25, 0.2, 0.15, 0.1],
    ];
    let mut lam = [[0.0; NK]; NJ];
    for j in 0..NJ {
        for k in 0..NK {
            lam[j][k] = base_sd[j][k] * var * (0.2 * gauss(rng)).exp();
        }
    }
    // Per-lifter loadings of the four factors (effort, hurry, hold, pelvic style).
    let mut load = vec![[0.0; NF]; NZ];
    let mut set = |j: usize, k: usize, f: usize, v: f64, rng: &mut ChaCha8Rng| {
        load[j * NK + k][f] = v * (1.0 + 0.25 * gauss(rng));
    };
    let prim_j = if hitch { OBL } else { ABD };
    set(prim_j, 0, 0, 0.8, rng);
    set(OBL, 0, 0, 0.5, rng);
    set(LEAN, 0, 0, 0.4, rng);
    set(FLEX, 0, 0, 0.3, rng);
    set(prim_j, 1, 1, -0.6, rng);
    set(FLEX, 1, 1, 0.5, rng);
    set(KNEE, 0, 1, 0.3, rng);
    set(prim_j, 2, 2, 0.6, rng);
    set(prim_j, 4, 2, 0.4, rng);
    set(OBL, 2, 2, 0.3, rng);
    set(OBL, 0, 3, -0.4, rng);
    set(LEAN, 0, 3, 0.5, rng);
    set(PROT, 0, 3, 0.5, rng);
    set(TILT, 0, 3, 0.4, rng);
    load[DUR][0] = 0.45 * (1.0 + 0.25 * gauss(rng));
    load[DUR][1] = -0.5 * (1.0 + 0.25 * gauss(rng));
    for j in 0..NJ {
        for k in 0..2 {
            for v in load[j * NK + k].iter_mut() {
                *v += 0.1 * gauss(rng);
            }
        }
    }
    let psi: Vec<f64> = load
        .iter()
        .map(|l| (1.0 - l.iter().map(|v| v * v).sum::<f64>()).max(0.1).sqrt())
        .collect();
    let sway_amp = [0.4, 0.4, 0.8, 0.5, 0.35, 0.4, 0.6, 0.5];
    let mut sway = [[(0.0, 0.0, 0.0); 3]; NJ];
    for (j, s) in sway.iter_mut().enumerate() {
        for (i, c) in s.iter_mut().enumerate() {
            let f = [0.07, 0.2, 0.45][i] * uni(rng, 0.7, 1.4);
            *c = (
                sway_amp[j] * var.sqrt() / (1.0 + i as f64) * uni(rng, 0.5, 1.2),
                f,
                uni(rng, 0.0, 2.0 * PI),
            );
        }
    }
    let mut comp_w = [1.0; 6];
    comp_w[rng.gen_range(0..6)] = 3.0;
    let pause_mean = match pop {
        Pop::Rehab | Pop::Older => uni(rng, 0.8, 2.0),
        Pop::Athlete => uni(rng, 0.2, 0.8),
        _ => uni(rng, 0.3, 1.4),
    };
    let dir_obl = fit(move |u| tmpl.at(u - 0.03));
    let dir_sway = fit(|u| (2.0 * PI * u).sin() * (PI * u).sin().powf(0.5));
    let dir_flex = fit(move |u| tmpl.at(u - 0.08));
    let dir_late = fit(move |u| {
        let b = (u - 0.8) / 0.1;
        (-b * b).exp()
    });
    Lifter {
        pop,
        thigh: 0.245 * height,
        shank: 0.246 * height,
        leg: 0.53 * height,
        hw: 0.085 * height / 1.71,
        dur,
        tmpl,
        mean,
        eig,
        lam,
        load,
        psi,
        rho: uni(rng, 0.3, 0.8),
        rho_w: uni(rng, 0.3, 0.8),
        warp_sd: match pop {
            Pop::Beginner => uni(rng, 0.2, 0.32),
            Pop::Athlete => uni(rng, 0.06, 0.12),
            _ => uni(rng, 0.1, 0.22),
        },
        p_b2b: (b2b + 0.15 * gauss(rng)).clamp(0.0, 0.9),
        pause_mean,
        fatigue: uni(rng, 0.0, 1.0),
        comp_w,
        fidget_rate: match pop {
            Pop::Beginner | Pop::Rehab => uni(rng, 0.8, 1.6),
            _ => uni(rng, 0.4, 1.1),
        },
        sway,
        dir_obl,
        dir_sway,
        dir_flex,
        dir_late,
    }
}

impl<'a> Builder<'a> {
    fn push(
        &mut self,
        kind: Kind,
        dur: f64,
        to: Posture,
        delta: [f64; NCH],
        shape: Shape,
    ) -> usize {
        let mut off1 = self.base;
        for c in 0..NCH {
            off1[c] += delta[c];
        }
        if to != self.posture {
            let a = posture_base(self.posture);
            let b = posture_base(to);
            for j in 0..NJ {
                off1[j] += b[j] - a[j];
            }
        }
        self.w.eps.push(Episode {
            t0: self.t,
            dur,
            from: self.posture,
            to,
            off0: self.base,
            off1,
            shape,
        });
        if !matches!(kind, Kind::Still | Kind::Rep) {
            self.distractions
                .push(format!("{} at {:.1} s", kind.words(), self.t));
        }
        self.t += dur;
        self.base = off1;
        self.posture = to;
        self.w.eps.len() - 1
    }

    fn still(&mut self, dur: f64) {
        if dur > 0.0 {
            let p = self.posture;
            self.push(Kind::Still, dur, p, [0.0; NCH], Shape::None);
        }
    }

    fn impact(&mut self, t: f64, amp_mm: f64) {
        let rng = &mut self.mrng;
        let dir = Vector3::new(gauss(rng), gauss(rng), gauss(rng)).normalize();
        self.w.impacts.push(Impact {
            t,
            amp_m: amp_mm * 1e-3,
            amp_rad: rad(amp_mm * 0.6),
            f_hz: uni(rng, 10.0, 22.0),
            zeta: uni(rng, 0.15, 0.4),
            dir,
        });
    }

    /// Standardised scores of one rep: AR(1) on the lifter's factor model.
    fn draw_z(&mut self) -> Vec<f64> {
        let l = &self.w.lifter;
        let f: [f64; NF] = std::array::from_fn(|_| gauss(&mut self.rng));
        let mut z = vec![0.0; NZ];
        let rho = l.rho;
        let s = (1.0 - rho * rho).sqrt();
        for (i, zi) in z.iter_mut().enumerate() {
            let eta: f64 = l.load[i]
                .iter()
                .zip(f.iter())
                .map(|(a, b)| a * b)
                .sum::<f64>()
                + l.psi[i] * gauss(&mut self.rng);
            *zi = rho * self.z_prev[i] + s * eta;
        }
        self.z_prev = z.clone();
        z
    }

    fn draw_warp(&mut self) -> [f64; NWC] {
        let l = &self.w.lifter;
        let (rho, sd) = (l.rho_w, l.warp_sd);
        let s = (1.0 - rho * rho).sqrt();
        let mut a = [0.0; NWC];
        for (k, v) in a.iter_mut().enumerate() {
            *v = rho * self.a_prev[k] + s * sd / (k + 1) as f64 * gauss(&mut self.rng);
        }
        self.a_prev = a;
        a
    }

    /// One rep (or a given-up partial start, or a single swing) as curves.
    fn rep_curves(
        &mut self,
        z: &[f64],
        a: [f64; NWC],
        intents: &[FlagKind],
        frac_set: f64,
        kind: Kind,
    ) -> ([[f64; NB]; NJ], Warp, f64) {
        let l = self.w.lifter.clone();
        let hitch = self.cfg.exercise == Exercise::HipHitch;
        let prim = if hitch { OBL } else { ABD };
        let mut c = l.mean;
        // Session range and fatigue: the amplitude drifts down through the set.
        let amp_scale = self.session_range * (1.0 - 0.08 * l.fatigue * frac_set);
        for v in c[prim].iter_mut() {
            *v *= amp_scale;
        }
        for j in 0..NJ {
            for k in 0..NK {
                let xi = l.lam[j][k] * z[j * NK + k];
                for (b, e) in c[j].iter_mut().zip(l.eig[j][k].iter()) {
                    *b += xi * e;
                }
            }
        }
        let mut dur = l.dur * (0.16 * z[DUR] + 0.12 * l.fatigue * frac_set).exp();
        let mut rush = 0.0;
        let mut rng = self.rng.clone();
        for &k in intents {
            match k {
                FlagKind::HipHike => {
                    let m = uni(&mut rng, 4.2, 11.0);
                    let dir = if hitch { l.dir_late } else { l.dir_obl };
                    for (b, d) in c[OBL].iter_mut().zip(dir.iter()) {
                        *b += m * d;
                    }
                    for (b, d) in c[LEAN].iter_mut().zip(l.dir_obl.iter()) {
                        *b -= 0.2 * m * d;
                    }
                }
                FlagKind::PelvicDrop => {
                    let m = uni(&mut rng, 5.0, 11.5);
                    for (b, d) in c[OBL].iter_mut().zip(l.dir_obl.iter()) {
                        *b -= m * d;
                    }
                }
                FlagKind::TrunkSway => {
                    let m = uni(&mut rng, 4.6, 9.5);
                    for (b, d) in c[LEAN].iter_mut().zip(l.dir_sway.iter()) {
                        *b += m * d;
                    }
                    for (b, d) in c[PROT].iter_mut().zip(l.dir_sway.iter()) {
                        *b += 0.4 * m * d;
                    }
                }
                FlagKind::HipFlexionDrift => {
                    let m = uni(&mut rng, 7.0, 21.0);
                    for (b, d) in c[FLEX].iter_mut().zip(l.dir_flex.iter()) {
                        *b += m * d;
                    }
                    for (b, d) in c[ROT].iter_mut().zip(l.dir_flex.iter()) {
                        *b -= 0.3 * m * d;
                    }
                }
                FlagKind::PartialRange => {
                    let f = uni(&mut rng, 0.3, 0.72);
                    for (b, m) in c[prim].iter_mut().zip(l.mean[prim].iter()) {
                        *b -= (1.0 - f) * amp_scale * m;
                    }
                }
                FlagKind::Momentum => {
                    rush = uni(&mut rng, 1.2, 2.3);
                    dur *= uni(&mut rng, 0.6, 0.85);
                }
            }
        }
        match kind {
            Kind::Partial => {
                // A start given up: a low rise straight back down.
                let f = uni(&mut rng, 0.15, 0.35);
                for b in c.iter_mut().flatten() {
                    *b *= f;
                }
                dur *= uni(&mut rng, 0.5, 0.8);
            }
            Kind::Swing => {
                let f = uni(&mut rng, 0.4, 0.9);
                for b in c[prim].iter_mut() {
                    *b *= f;
                }
                dur = (dur * uni(&mut rng, 0.5, 0.8)).max(1.0);
            }
            _ => {}
        }
        self.rng = rng;
        let r = l.tmpl.r;
        let rise = move |u: f64| {
            let b = (u - 0.45 * r) / (0.5 * r);
            (-b * b).exp()
        };
        let warp = Warp::new(move |u| {
            let mut w = 0.0;
            for (k, ak) in a.iter().enumerate() {
                w += ak * ((k + 1) as f64 * PI * u).cos();
            }
            w + rush * rise(u)
        });
        (c, warp, dur.clamp(0.6, 8.0))
    }

    /// A non-rep movement of class `kind`, with its own mean curves.
    fn non_rep(&mut self, kind: Kind) {
        let rng = &mut self.rng;
        let p = self.posture;
        let bump = |c: f64, w: f64| {
            move |u: f64| {
                let b = (u - c) / w;
                (-b * b).exp()
            }
        };
        let mut c = [[0.0; NB]; NJ];
        let mut delta = [0.0; NCH];
        let mut to = p;
        let dur;
        let jiggle = |n: f64, ph: f64| move |u: f64| (2.0 * PI * n * u + ph).sin() * (PI * u).sin();
        match kind {
            Kind::Fidget => {
                dur = uni(rng, 0.6, 2.5);
                let ph = uni(rng, 0.0, 6.0);
                let n = uni(rng, 1.5, 4.0);
                let (ar, ak, af, al) = (
                    uni(rng, -12.0, 12.0),
                    uni(rng, -8.0, 8.0),
                    uni(rng, -6.0, 6.0),
                    uni(rng, -2.0, 2.0),
                );
                c[ROT] = fit(jiggle(n, ph));
                c[ROT].iter_mut().for_each(|v| *v *= ar);
                c[KNEE] = fit(bump(0.5, 0.25));
                c[KNEE].iter_mut().for_each(|v| *v *= ak.abs());
                c[FLEX] = fit(jiggle(n * 0.5, ph));
                c[FLEX].iter_mut().for_each(|v| *v *= af);
                c[LEAN] = fit(bump(0.5, 0.3));
                c[LEAN].iter_mut().for_each(|v| *v *= al);
                c[ABD] = fit(jiggle(n * 0.5, ph + 1.0));
                c[ABD].iter_mut().for_each(|v| *v *= 0.4 * ar);
                delta[ABD] = uni(rng, -1.5, 1.5);
                delta[ROT] = uni(rng, -3.0, 3.0);
            }
            Kind::Restrap => {
                dur = uni(rng, 6.0, 14.0);
                let (fl, kn) = if p == Posture::Seat {
                    (uni(rng, 10.0, 25.0), uni(rng, -20.0, 10.0))
                } else {
                    (uni(rng, 40.0, 80.0), uni(rng, 60.0, 100.0))
                };
                let plateau = |u: f64| smoothstep(u / 0.2) * smoothstep((1.0 - u) / 0.2);
                c[FLEX] = fit(move |u| fl * plateau(u));
                c[KNEE] = fit(move |u| kn * plateau(u));
                let ph = uni(rng, 0.0, 6.0);
                c[ROT] = fit(move |u| 10.0 * plateau(u) * (2.0 * PI * 4.0 * u + ph).sin());
                c[ABD] = fit(move |u| 6.0 * plateau(u) * (2.0 * PI * 2.5 * u).sin());
                // Bending to the strap (or the belt clip): a tilt and a twist.
                let tl = uni(rng, 15.0, 35.0);
                c[TILT] = fit(move |u| tl * plateau(u));
                c[PROT] = fit(move |u| 12.0 * plateau(u) * (2.0 * PI * 1.5 * u).sin());
                // The strap goes back a little differently.
                delta[ROT] = uni(rng, -6.0, 6.0);
                delta[ABD] = uni(rng, -2.0, 2.0);
            }
            Kind::Adjust => {
                dur = uni(rng, 2.5, 6.0);
                let (tl, pr, ab) = (
                    uni(rng, 10.0, 30.0),
                    uni(rng, -20.0, 20.0),
                    uni(rng, -10.0, 10.0),
                );
                c[TILT] = fit(move |u| tl * bump(0.5, 0.25)(u));
                c[PROT] = fit(move |u| pr * bump(0.45, 0.2)(u));
                c[ABD] = fit(move |u| ab * bump(0.6, 0.15)(u));
                c[LEAN] = fit(move |u| 0.4 * pr * bump(0.45, 0.2)(u));
                delta[ABD] = uni(rng, -2.0, 2.0);
            }
            Kind::Shuffle => {
                dur = uni(rng, 1.2, 3.0);
                let (ab, pr, ln) = (
                    uni(rng, 4.0, 10.0),
                    uni(rng, -20.0, 20.0),
                    uni(rng, -3.0, 3.0),
                );
                c[ABD] = fit(move |u| ab * (bump(0.3, 0.08)(u) + bump(0.7, 0.08)(u)));
                c[FLEX] = fit(move |u| 12.0 * (bump(0.3, 0.08)(u) + bump(0.7, 0.08)(u)));
                c[KNEE] = fit(move |u| 20.0 * (bump(0.3, 0.08)(u) + bump(0.7, 0.08)(u)));
                c[LEAN] = fit(move |u| ln * (PI * u).sin());
                delta[HEAD] = pr;
                delta[PROT] = 0.0;
            }
            Kind::Turn => {
                dur = uni(rng, 1.2, 2.4);
                delta[HEAD] = 180.0 + uni(rng, -25.0, 25.0);
                c[FLEX] = fit(|u| 18.0 * (bump(0.25, 0.09)(u) + bump(0.7, 0.09)(u)));
                c[KNEE] = fit(|u| 35.0 * (bump(0.25, 0.09)(u) + bump(0.7, 0.09)(u)));
                c[PROT] = fit(|u| 8.0 * (2.0 * PI * u).sin() * (PI * u).sin());
            }
            Kind::GetUp | Kind::LieDown | Kind::SitDown | Kind::StandUp => {
                to = match kind {
                    Kind::LieDown => Posture::Lie,
                    Kind::SitDown => Posture::Seat,
                    _ => posture_of(Exercise::StandingCableAbduction),
                };
                dur = uni(rng, 2.0, 4.5)
                    * if matches!(self.w.lifter.pop, Pop::Older | Pop::Rehab) {
                        1.4
                    } else {
                        1.0
                    };
                let (fl, kn, tl) = (
                    uni(rng, 30.0, 70.0),
                    uni(rng, 40.0, 90.0),
                    uni(rng, 10.0, 30.0),
                );
                c[FLEX] = fit(move |u| fl * bump(0.5, 0.25)(u));
                c[KNEE] = fit(move |u| kn * bump(0.5, 0.25)(u));
                c[TILT] = fit(move |u| tl * bump(0.45, 0.25)(u));
                c[LEAN] = fit(move |u| 5.0 * (2.0 * PI * u).sin() * (PI * u).sin());
                delta[HEAD] = uni(rng, -30.0, 30.0);
            }
            _ => return,
        }
        let a: [f64; NWC] = std::array::from_fn(|k| 0.2 / (k + 1) as f64 * gauss(rng));
        let warp = Warp::new(move |u| {
            a.iter()
                .enumerate()
                .map(|(k, v)| v * ((k + 1) as f64 * PI * u).cos())
                .sum()
        });
        let t0 = self.t;
        self.push(kind, dur, to, delta, Shape::Curves(Box::new((c, warp))));
        match kind {
            Kind::Shuffle | Kind::Turn => {
                let a1 = if self.cfg.placement == Placement::Ankle {
                    1.2
                } else {
                    0.4
                };
                self.impact(t0 + 0.4 * dur, a1);
                self.impact(t0 + 0.8 * dur, a1);
            }
            Kind::LieDown | Kind::SitDown => self.impact(t0 + 0.8 * dur, 1.0),
            _ => {}
        }
    }

    fn walk(&mut self, metres: f64) {
        let stride = uni(&mut self.rng, 1.0, 1.25);
        let speed = uni(&mut self.rng, 0.9, 1.3);
        let ramp = 0.8;
        let n = ((metres / (speed * stride)).ceil()).max(2.0);
        let dur = n * stride + ramp;
        let head = rad(self.base[HEAD]);
        let mut delta = [0.0; NCH];
        delta[PX] = metres * head.cos();
        delta[PY] = metres * head.sin();
        let t0 = self.t;
        let p = self.posture;
        self.push(Kind::Walk, dur, p, delta, Shape::Gait { stride, ramp });
        let amp = if self.cfg.placement == Placement::Ankle {
            0.9
        } else {
            0.4
        };
        let mut k = 0.0;
        while k * stride < dur - 0.3 {
            if k * stride > 0.3 {
                self.impact(t0 + k * stride, amp);
            }
            if self.cfg.placement == Placement::Pelvis && (k + 0.5) * stride < dur - 0.3 {
                self.impact(t0 + (k + 0.5) * stride, amp);
            }
            k += 1.0;
        }
    }

    /// One set: reps with pauses from the lifter's renewal process.
    fn set(&mut self, set_i: usize, doable: &[FlagKind]) -> Vec<PlannedRep> {
        let cfg = self.cfg;
        let n = self.rng.gen_range(cfg.reps_min..=cfg.reps_max);
        // A set-level random offset in the scores.
        for v in self.z_prev.iter_mut() {
            *v = 0.5 * *v + 0.4 * gauss(&mut self.rng);
        }
        let mut reps = Vec::with_capacity(n);
        let hitch = cfg.exercise == Exercise::HipHitch;
        if cfg.fidgets && self.rng.gen::<f64>() < 0.06 {
            let z = self.draw_z();
            let a = self.draw_warp();
            let (c, w, d) = self.rep_curves(&z, a, &[], 0.0, Kind::Partial);
            self.push(
                Kind::Partial,
                d,
                self.posture,
                [0.0; NCH],
                Shape::Curves(Box::new((c, w))),
            );
            let s = uni(&mut self.rng, 0.8, 2.0);
            self.still(s);
        }
        let set_frac = set_i as f64 / cfg.sets.max(1) as f64;
        for r in 0..n {
            let frac = if n > 1 {
                r as f64 / (n - 1) as f64
            } else {
                0.5
            };
            let p = cfg.compensation_rate * (0.4 + 1.2 * frac) * (0.85 + 0.3 * set_frac);
            let mut intents = Vec::new();
            let candidates: Vec<FlagKind> = doable
                .iter()
                .copied()
                .filter(|k| !(hitch && *k == FlagKind::PelvicDrop))
                .collect();
            if !candidates.is_empty() && self.rng.gen::<f64>() < p.min(1.0) {
                let total: f64 = candidates
                    .iter()
                    .map(|k| self.w.lifter.comp_w[kind_index(*k)])
                    .sum();
                let mut x = self.rng.gen::<f64>() * total;
                for k in &candidates {
                    x -= self.w.lifter.comp_w[kind_index(*k)];
                    if x <= 0.0 {
                        intents.push(*k);
                        break;
                    }
                }
                if intents.is_empty() {
                    intents.push(candidates[candidates.len() - 1]);
                }
            }
            let z = self.draw_z();
            let a = self.draw_warp();
            let (c, w, d) = self.rep_curves(&z, a, &intents, frac, Kind::Rep);
            let t0 = self.t;
            let ep = self.push(
                Kind::Rep,
                d,
                self.posture,
                [0.0; NCH],
                Shape::Curves(Box::new((c, w))),
            );
            // The leg comes home: the stack, the other leg or the pads.
            let amp = match (cfg.exercise, cfg.placement) {
                (Exercise::SideLyingAbduction, Placement::Ankle) => uni(&mut self.mrng, 0.2, 0.9),
                (Exercise::SeatedMachineAbduction, _) => uni(&mut self.mrng, 0.3, 0.8),
                (_, Placement::Ankle) => uni(&mut self.mrng, 0.1, 0.5),
                _ => uni(&mut self.mrng, 0.05, 0.2),
            };
            self.impact(t0 + 0.97 * d, amp);
            reps.push(PlannedRep { ep, intents });
            if r + 1 < n {
                let l = &self.w.lifter;
                let gap = if self.rng.gen::<f64>() < l.p_b2b {
                    uni(&mut self.rng, 0.0, 0.15)
                } else {
                    let m = l.pause_mean * (1.0 + 0.3 * frac);
                    gamma_mean(&mut self.rng, 3.0, m).min(6.0)
                };
                self.still(gap);
            }
        }
        // A last attempt given up.
        let p_abandon = match self.w.lifter.pop {
            Pop::Rehab | Pop::Older => 0.12,
            Pop::Beginner => 0.1,
            _ => 0.05,
        };
        if cfg.fidgets && self.rng.gen::<f64>() < p_abandon {
            let s = uni(&mut self.rng, 0.3, 1.2);
            self.still(s);
            let z = self.draw_z();
            let a = self.draw_warp();
            let (c, w, d) = self.rep_curves(&z, a, &[], 1.0, Kind::Partial);
            self.push(
                Kind::Partial,
                d,
                self.posture,
                [0.0; NCH],
                Shape::Curves(Box::new((c, w))),
            );
        }
        reps
    }

    /// The rest between sets: a semi-Markov sequence of activities that fills `total` seconds.
    fn rest(&mut self, total: f64) {
        let cfg = self.cfg;
        let home = posture_of(cfg.exercise);
        let end = self.t + total;
        let settle = uni(&mut self.rng, 2.0, 4.0);
        let mut walked = false;
        if cfg.walking && total > 24.0 && self.rng.gen::<f64>() < 0.8 {
            walked = true;
            let d = uni(&mut self.rng, 0.5, 2.0);
            self.still(d);
            match home {
                Posture::Lie => self.non_rep(Kind::GetUp),
                Posture::Seat => self.non_rep(Kind::StandUp),
                _ => {}
            }
            let m = uni(&mut self.rng, 2.5, 7.0);
            self.walk(m);
            self.non_rep(Kind::Turn);
        }
        // Fill the middle, keeping room to come back.
        let back = if walked { 16.0 } else { 0.0 };
        loop {
            let left = end - settle - back - self.t;
            if left < 1.0 {
                break;
            }
            let l = &self.w.lifter;
            let still_mean = 7.0 / l.fidget_rate;
            let d = gamma_mean(&mut self.rng, 1.5, still_mean).min(left);
            self.still(d);
            let left = end - settle - back - self.t;
            if left < 3.0 || !cfg.fidgets {
                continue;
            }
            let x = self.rng.gen::<f64>();
            let standing = matches!(self.posture, Posture::Stand | Posture::Step);
            let kind = if x < 0.45 {
                Kind::Fidget
            } else if x < 0.6 && left > 15.0 {
                Kind::Restrap
            } else if x < 0.72 {
                Kind::Swing
            } else if x < 0.9 && standing {
                Kind::Shuffle
            } else if self.posture == Posture::Seat {
                Kind::Adjust
            } else {
                Kind::Fidget
            };
            if kind == Kind::Swing {
                let z = self.draw_z();
                let a = self.draw_warp();
                let (c, w, d) = self.rep_curves(&z, a, &[], 0.0, Kind::Swing);
                if d < left {
                    self.push(
                        Kind::Swing,
                        d,
                        self.posture,
                        [0.0; NCH],
                        Shape::Curves(Box::new((c, w))),
                    );
                }
            } else if kind == Kind::Restrap && left < 15.0 {
                continue;
            } else {
                self.non_rep(kind);
            }
        }
        if walked {
            let m = uni(&mut self.rng, 2.5, 6.0);
            self.walk(m);
            self.non_rep(Kind::Turn);
            match home {
                Posture::Lie => self.non_rep(Kind::LieDown),
                Posture::Seat => self.non_rep(Kind::SitDown),
                _ => {}
            }
        }
        let d = (end - self.t).max(settle.min(2.0));
        self.still(d);
    }
}

// ---------------------------------------------------------------------------
// Truth, measured on the curves

struct Measured {
    rep: TruthRep,
    partial_ref: bool,
}

fn held_max(v: &[f64], n: usize) -> f64 {
    if v.len() < n || n == 0 {
        return f64::NEG_INFINITY;
    }
    (0..=v.len() - n)
        .map(|i| v[i..i + n].iter().cloned().fold(f64::INFINITY, f64::min))
        .fold(f64::NEG_INFINITY, f64::max)
}

fn measure(w: &World, ep: &Episode, t_ref: f64, visible: &[FlagKind]) -> Measured {
    let hitch = w.ex == Exercise::HipHitch;
    let prim = if hitch { OBL } else { ABD };
    let n = (ep.dur / DT_TRUTH).ceil() as usize + 1;
    let ts: Vec<f64> = (0..n)
        .map(|i| (ep.t0 + i as f64 * DT_TRUTH).min(ep.end()))
        .collect();
    let clean: Vec<f64> = ts
        .iter()
        .map(|&t| {
            let mut q = [0.0; NCH];
            ep.curves(t, &mut q);
            q[prim]
        })
        .collect();
    let big = clean.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let on = 0.04 * big;
    let i0 = clean.iter().position(|v| v.abs() > on).unwrap_or(0);
    let i1 = clean.iter().rposition(|v| v.abs() > on).unwrap_or(n - 1);
    let (f_ref, q_ref) = w.frames(t_ref);
    let mut peak: f64 = 0.0;
    let mut obl = Vec::with_capacity(n);
    let mut lean = Vec::with_capacity(n);
    let mut flex: f64 = 0.0;
    for &t in &ts {
        let (f, q) = w.frames(t);
        match w.placement {
            Placement::Ankle => {
                let a = (f_ref.shank_r.inverse() * f.shank_r).angle().to_degrees();
                peak = peak.max(a);
            }
            Placement::Pelvis => {
                let o = w.obliquity(&f_ref.pelvis_r, &f.pelvis_r);
                peak = peak.max(o.abs());
            }
        }
        obl.push(w.obliquity(&f_ref.pelvis_r, &f.pelvis_r));
        lean.push(q[LEAN] - q_ref[LEAN]);
        flex = flex.max(q[FLEX] - q_ref[FLEX]);
    }
    let held = (0.15 / DT_TRUTH).round() as usize;
    let mut flags = Vec::new();
    for &k in visible {
        let value = match k {
            FlagKind::HipHike => {
                let v = held_max(&obl, held);
                (v >= 5.0).then_some(v)
            }
            FlagKind::PelvicDrop if !hitch => {
                let neg: Vec<f64> = obl.iter().map(|v| -v).collect();
                let v = held_max(&neg, held);
                (v >= 5.0).then_some(v)
            }
            FlagKind::TrunkSway => {
                let hi = held_max(&lean, 12);
                let neg: Vec<f64> = lean.iter().map(|v| -v).collect();
                let lo = held_max(&neg, 12);
                let v = hi.min(lo);
                (v >= 5.0).then_some(v)
            }
            FlagKind::Momentum => {
                // A rise or a return of 10–90 % of the rep in under 0.25 s.
                let mag: Vec<f64> = clean.iter().map(|v| v.abs()).collect();
                let ipk = mag
                    .iter()
                    .enumerate()
                    .fold(0, |b, (i, v)| if *v > mag[b] { i } else { b });
                let first = |lo: f64, range: std::ops::Range<usize>| {
                    range.clone().find(|&i| mag[i] >= lo * big)
                };
                let rise = match (first(0.1, 0..ipk + 1), first(0.9, 0..ipk + 1)) {
                    (Some(a), Some(b)) => (b - a) as f64 * DT_TRUTH,
                    _ => f64::INFINITY,
                };
                let down_a = (ipk..n).find(|&i| mag[i] < 0.9 * big);
                let down_b = (ipk..n).find(|&i| mag[i] < 0.1 * big);
                let fall = match (down_a, down_b) {
                    (Some(a), Some(b)) => (b - a) as f64 * DT_TRUTH,
                    _ => f64::INFINITY,
                };
                (rise.min(fall) < 0.25 && big >= 4.0).then_some(big)
            }
            FlagKind::HipFlexionDrift => (flex >= 10.0).then_some(flex),
            _ => None,
        };
        if let Some(v) = value {
            flags.push(TruthFlag {
                kind: k,
                value_deg: round3(v),
            });
        }
    }
    Measured {
        rep: TruthRep {
            start_s: round3(ts[i0]),
            end_s: round3(ts[i1]),
            peak_deg: round3(peak),
            flags,
        },
        partial_ref: true,
    }
}

// ---------------------------------------------------------------------------
// The sensor

/// A sensor people own, as the simulator reads it.
#[derive(Debug, Clone, Copy)]
struct Device {
    acc_range: f64,
    gyr_range: f64,
    acc_lsb: f64,
    gyr_lsb: f64,
    host_stamped: bool,
    batch: usize,
    noise: f64,
}

fn device(rng: &mut ChaCha8Rng) -> Device {
    let g = STANDARD_GRAVITY;
    match rng.gen_range(0..4) {
        // WitMotion WT901BLE: ±16 g, ±2000 °/s, several frames per notification.
        0 => Device {
            acc_range: 16.0 * g,
            gyr_range: 2000.0,
            acc_lsb: 16.0 * g / 32768.0,
            gyr_lsb: 2000.0 / 32768.0,
            host_stamped: true,
            batch: rng.gen_range(2..=5),
            noise: 1.4,
        },
        // Nordic Thingy:52 raw: acc /1024 g, gyro /32 °/s.
        1 => Device {
            acc_range: 16.0 * g,
            gyr_range: 1000.0,
            acc_lsb: g / 1024.0,
            gyr_lsb: 1.0 / 32.0,
            host_stamped: true,
            batch: 1,
            noise: 1.1,
        },
        // MbientLab MetaMotion: device time stamps.
        2 => Device {
            acc_range: 16.0 * g,
            gyr_range: 2000.0,
            acc_lsb: 16.0 * g / 32768.0,
            gyr_lsb: 2000.0 / 32768.0,
            host_stamped: false,
            batch: rng.gen_range(1..=3),
            noise: 0.8,
        },
        // medius' own firmware: sequence-numbered, time-stamped batches.
        _ => Device {
            acc_range: 8.0 * g,
            gyr_range: 2000.0,
            acc_lsb: 8.0 * g / 32768.0,
            gyr_lsb: 2000.0 / 32768.0,
            host_stamped: false,
            batch: rng.gen_range(4..=10),
            noise: 0.9,
        },
    }
}

/// A body model that draws every rep's joint curves from a hierarchical
/// functional model with elastic time warping (see the module docs).
pub struct ElasticSimulator {
    world: World,
    dev: Device,
    rng: ChaCha8Rng,
    rate: f64,
    period_true: f64,
    i: u64,
    n: u64,
    noise: f64,
    drop_rate: f64,
    gaps: Vec<f64>,
    gyr_bias: Vector3<f64>,
    bias_walk: f64,
    acc_bias: Vector3<f64>,
    gyr_m: Matrix3<f64>,
    acc_m: Matrix3<f64>,
    batch_arrival: f64,
    last_t: f64,
}

fn small_matrix(rng: &mut ChaCha8Rng, scale: f64, cross: f64) -> Matrix3<f64> {
    let mut m = Matrix3::identity();
    for r in 0..3 {
        for c in 0..3 {
            m[(r, c)] += if r == c {
                scale * gauss(rng)
            } else {
                cross * gauss(rng)
            };
        }
    }
    m
}

impl ElasticSimulator {
    /// Builds the session `cfg` describes: the sample stream and its ground truth.
    pub fn new(cfg: &SimConfig) -> Result<(Self, Truth), String> {
        cfg.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0xE1A5_71C0_29F0_0D29);
        let lifter = new_lifter(&mut rng, cfg.exercise);
        let side = cfg.side;
        let free = cfg.exercise.free_side(side);
        let stance = if cfg.exercise == Exercise::HipHitch {
            side
        } else {
            side.other()
        };
        let mut mrng = ChaCha8Rng::seed_from_u64(
            cfg.seed
                ^ 0x5E45_0A00
                ^ if cfg.placement == Placement::Ankle {
                    1
                } else {
                    2
                },
        );
        // Where the sensor sits, how it is mounted, how the tissue under it moves.
        let (site, mount) = match cfg.placement {
            Placement::Ankle => {
                let lateral = lat(side) * PI / 2.0;
                let theta = if cfg.random_mounting {
                    lateral + uni(&mut mrng, -1.4, 1.4)
                } else {
                    lateral
                };
                let r = 0.045;
                let site = Vector3::new(r * theta.cos(), r * theta.sin(), 0.0);
                // Nominal: x up the shank, z out of the skin.
                let m0 = UnitQuaternion::from_rotation_matrix(&Rotation3::from_matrix_unchecked(
                    Matrix3::new(0.0, 0.0, 1.0, 0.0, -1.0, 0.0, 1.0, 0.0, 0.0),
                ));
                let mount = if cfg.random_mounting {
                    let q = nalgebra::Quaternion::new(
                        gauss(&mut mrng),
                        gauss(&mut mrng),
                        gauss(&mut mrng),
                        gauss(&mut mrng),
                    );
                    UnitQuaternion::from_quaternion(q)
                } else {
                    rz(theta) * m0
                };
                (site, mount)
            }
            Placement::Pelvis => {
                // +X right, +Y up, +Z backward: columns in the body frame.
                let b = UnitQuaternion::from_rotation_matrix(&Rotation3::from_matrix_unchecked(
                    Matrix3::new(0.0, 0.0, -1.0, -1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
                ));
                let tilt = if cfg.random_mounting {
                    UnitQuaternion::from_scaled_axis(Vector3::new(
                        rad(uni(&mut mrng, -15.0, 15.0)),
                        rad(uni(&mut mrng, -15.0, 15.0)),
                        rad(uni(&mut mrng, -15.0, 15.0)),
                    ))
                } else {
                    UnitQuaternion::identity()
                };
                (
                    Vector3::new(-0.10, uni(&mut mrng, -0.02, 0.02), 0.03),
                    b * tilt,
                )
            }
        };
        let sta_lin = Matrix3::from_fn(|_, _| 0.004 * gauss(&mut mrng));
        let sta_rot = Matrix3::from_fn(|_, _| 0.04 * gauss(&mut mrng));
        let world = World {
            ex: cfg.exercise,
            placement: cfg.placement,
            side,
            stance,
            free,
            lifter,
            eps: Vec::new(),
            impacts: Vec::new(),
            step_h: uni(&mut rng, 0.15, 0.25),
            site,
            mount,
            sta_lin,
            sta_rot,
        };
        let home = posture_of(cfg.exercise);
        let mut base = [0.0; NCH];
        base[..NJ].copy_from_slice(&posture_base(home));
        base[HEAD] = uni(&mut rng, -180.0, 180.0);
        let session_range = (1.0 + 0.07 * gauss(&mut rng)).clamp(0.8, 1.2);
        let mut b = Builder {
            cfg,
            rng,
            w: world,
            t: 0.0,
            base,
            posture: home,
            mrng,
            distractions: Vec::new(),
            z_prev: vec![0.0; NZ],
            a_prev: [0.0; NWC],
            session_range,
        };
        let visible = cfg.visible_compensations();
        // What the lifter does does not depend on where the sensor is: the
        // kinds either placement could see.
        let mut doable = Vec::new();
        for pl in [Placement::Ankle, Placement::Pelvis] {
            let mut c = cfg.clone();
            c.placement = pl;
            for k in c.visible_compensations() {
                if !doable.contains(&k) {
                    doable.push(k);
                }
            }
        }
        let lead = cfg
            .lead_in_s
            .unwrap_or_else(|| uni(&mut b.rng, 0.5, 3.0))
            .max(0.0);
        b.still(lead.max(0.05));
        let mut planned = Vec::new();
        for s in 0..cfg.sets {
            if s > 0 {
                let rest = uni(&mut b.rng, cfg.rest_min_s, cfg.rest_max_s);
                b.rest(rest);
            }
            if b.t - b.w.eps.last().map(|e| e.t0).unwrap_or(0.0) < 0.0 {
                b.still(1.0);
            }
            planned.push(b.set(s, &doable));
        }
        let tail = uni(&mut b.rng, 1.0, 5.0);
        b.still(tail);
        b.w.impacts.sort_by(|a, c| a.t.total_cmp(&c.t));
        let duration = b.t;
        let world = b.w;
        let distractions = b.distractions;
        let mut rng = b.mrng;

        // Truth on the curves.
        let mut sets = Vec::new();
        for reps in &planned {
            if reps.is_empty() {
                continue;
            }
            let first = &world.eps[reps[0].ep];
            let t_ref = (first.t0 - 0.3).max(0.0);
            let mut m: Vec<(Measured, &PlannedRep)> = reps
                .iter()
                .map(|p| (measure(&world, &world.eps[p.ep], t_ref, &visible), p))
                .collect();
            // Partial range against the set's working range.
            if visible.contains(&FlagKind::PartialRange) {
                let mut peaks: Vec<f64> = m
                    .iter()
                    .filter(|(_, p)| !p.intents.contains(&FlagKind::PartialRange))
                    .map(|(x, _)| x.rep.peak_deg)
                    .collect();
                peaks.sort_by(f64::total_cmp);
                let working = if peaks.is_empty() {
                    m.iter().map(|(x, _)| x.rep.peak_deg).fold(0.0, f64::max)
                } else {
                    peaks[peaks.len() / 2]
                };
                for (x, _) in m.iter_mut() {
                    if x.partial_ref && x.rep.peak_deg < 0.6 * working {
                        x.rep.flags.push(TruthFlag {
                            kind: FlagKind::PartialRange,
                            value_deg: round3(working - x.rep.peak_deg),
                        });
                    }
                }
            }
            let reps: Vec<TruthRep> = m.into_iter().map(|(x, _)| x.rep).collect();
            sets.push(TruthSet {
                start_s: reps[0].start_s,
                end_s: reps[reps.len() - 1].end_s,
                rep_count: reps.len(),
                reps,
            });
        }
        let truth = Truth {
            config: cfg.clone(),
            duration_s: round3(duration),
            distractions,
            sets,
        };

        // The sensor.
        let dev = device(&mut rng);
        let ppm = 60.0 * gauss(&mut rng);
        let rate = cfg.rate_hz;
        let period_true = 1.0 / (rate * (1.0 + ppm * 1e-6));
        let n = (duration / period_true).floor() as u64;
        let mut gaps = Vec::new();
        if cfg.gaps_per_min > 0.0 {
            let mut t = 0.0;
            loop {
                t += -(1.0 - rng.gen::<f64>()).ln() * 60.0 / cfg.gaps_per_min;
                if t >= duration {
                    break;
                }
                gaps.push(t);
            }
        }
        let bias = cfg.gyro_bias_dps;
        let gyr_bias = Vector3::new(
            uni(&mut rng, -bias, bias),
            uni(&mut rng, -bias, bias),
            uni(&mut rng, -bias, bias),
        );
        let acc_bias = Vector3::new(gauss(&mut rng), gauss(&mut rng), gauss(&mut rng))
            * (0.06 * cfg.noise.min(1.0));
        let nz = cfg.noise.min(1.0);
        let gyr_m = small_matrix(&mut rng, 0.01 * nz, 0.006 * nz);
        let acc_m = small_matrix(&mut rng, 0.006 * nz, 0.004 * nz);
        let sim = ElasticSimulator {
            world,
            dev,
            rng,
            rate,
            period_true,
            i: 0,
            n,
            noise: cfg.noise,
            drop_rate: cfg.drop_rate,
            gaps,
            gyr_bias,
            bias_walk: 0.003 * (bias / 2.0).min(1.0),
            acc_bias,
            gyr_m,
            acc_m,
            batch_arrival: 0.0,
            last_t: f64::NEG_INFINITY,
        };
        Ok((sim, truth))
    }

    fn in_gap(&self, t: f64) -> bool {
        let i = self.gaps.partition_point(|g| *g <= t);
        i > 0 && t - self.gaps[i - 1] < 0.2
    }
}

impl Iterator for ElasticSimulator {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        loop {
            if self.i >= self.n {
                return None;
            }
            let i = self.i;
            self.i += 1;
            let tau = i as f64 * self.period_true;
            let b = self.dev.batch as u64;
            if i.is_multiple_of(b) {
                // The batch reaches the host after its last sample, plus the link's latency.
                let last = (i + b - 1) as f64 * self.period_true;
                self.batch_arrival =
                    last + 0.006 + gamma_mean(&mut self.rng, 2.0, 0.006) * self.noise.min(1.0);
            }
            // The bias wanders whether the sample arrives or not.
            let dt = self.period_true;
            for k in 0..3 {
                self.gyr_bias[k] += self.bias_walk * dt.sqrt() * gauss(&mut self.rng);
            }
            let n1 = gauss(&mut self.rng);
            let n2 = gauss(&mut self.rng);
            let n3 = gauss(&mut self.rng);
            let m1 = gauss(&mut self.rng);
            let m2 = gauss(&mut self.rng);
            let m3 = gauss(&mut self.rng);
            if self.drop_rate > 0.0 && self.rng.gen::<f64>() < self.drop_rate {
                continue;
            }
            if self.in_gap(tau) {
                continue;
            }
            let (f, w) = self.world.ideal(tau);
            let sn = self.noise * self.dev.noise * (self.rate / 100.0).sqrt();
            let gyr = self.gyr_m * w + self.gyr_bias + Vector3::new(n1, n2, n3) * (0.07 * sn);
            let acc = self.acc_m * f + self.acc_bias + Vector3::new(m1, m2, m3) * (0.018 * sn);
            let q = |v: f64, range: f64, lsb: f64| ((v.clamp(-range, range)) / lsb).round() * lsb;
            let acc = acc.map(|v| q(v, self.dev.acc_range, self.dev.acc_lsb));
            let gyr = gyr.map(|v| q(v, self.dev.gyr_range, self.dev.gyr_lsb));
            let nominal = 1.0 / self.rate;
            let mut t = if self.dev.host_stamped {
                let j = i % b;
                self.batch_arrival - (b - 1 - j) as f64 * nominal
            } else {
                // The device counts its own (off-nominal) ticks as nominal periods.
                i as f64 * nominal
            };
            if t <= self.last_t {
                t = self.last_t + 0.25 * nominal;
            }
            self.last_t = t;
            return Some(Sample {
                t: (t * 1e6).round() / 1e6,
                acc,
                gyr,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::sim::{SimModel, PAIRS};

    fn cfg(ex: Exercise, pl: Placement, side: Side, seed: u64) -> SimConfig {
        let mut c = SimConfig::new(ex, pl, side);
        c.seed = seed;
        c.model = SimModel::Elastic;
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
        let (a, ta) = ElasticSimulator::new(&c).unwrap();
        let (b, tb) = ElasticSimulator::new(&c).unwrap();
        assert_eq!(ta, tb);
        let va: Vec<Sample> = a.take(3000).collect();
        let vb: Vec<Sample> = b.take(3000).collect();
        assert_eq!(va, vb);
        let mut c2 = c.clone();
        c2.seed = 8;
        let (_, tc) = ElasticSimulator::new(&c2).unwrap();
        assert_ne!(ta, tc);
    }

    #[test]
    fn every_pair_and_side_streams_with_ordered_truth() {
        for (k, (ex, pl)) in PAIRS.iter().enumerate() {
            for side in [Side::Left, Side::Right] {
                let mut c = cfg(*ex, *pl, side, 100 + k as u64);
                c.sets = 2;
                c.rest_min_s = 20.0;
                c.rest_max_s = 40.0;
                let (sim, truth) = ElasticSimulator::new(&c).unwrap();
                let samples: Vec<Sample> = sim.collect();
                assert!(samples.len() > 100, "{ex} {pl} {side}");
                assert!(samples.iter().all(|s| s.is_finite()));
                assert!(samples.windows(2).all(|w| w[1].t > w[0].t), "{ex} {pl}");
                let span = samples.last().unwrap().t - samples[0].t;
                let rate = samples.len() as f64 / span;
                assert!((rate - 100.0).abs() < 6.0, "rate {rate} for {ex} {pl}");
                assert_eq!(truth.sets.len(), 2);
                let mut last = 0.0;
                for s in &truth.sets {
                    assert!(s.rep_count >= c.reps_min && s.rep_count <= c.reps_max);
                    assert_eq!(s.rep_count, s.reps.len());
                    for r in &s.reps {
                        assert!(r.start_s >= last && r.end_s > r.start_s, "{ex} {pl}");
                        assert!(r.peak_deg > 0.0);
                        last = r.end_s;
                    }
                }
                assert!(last < truth.duration_s);
                // At rest the sensor reads about 1 g.
                let g = samples[0].acc.norm();
                assert!((g - 9.81).abs() < 1.0, "{g}");
            }
        }
    }

    #[test]
    fn compensations_show_in_truth_over_the_line() {
        for (ex, pl) in [
            (Exercise::StandingCableAbduction, Placement::Pelvis),
            (Exercise::SideLyingAbduction, Placement::Ankle),
        ] {
            let mut c = cfg(ex, pl, Side::Right, 0);
            c.compensation_rate = 0.6;
            c.sets = 2;
            c.reps_min = 12;
            c.reps_max = 15;
            c.fidgets = false;
            c.walking = false;
            c.rest_min_s = 12.0;
            c.rest_max_s = 12.0;
            let visible = c.visible_compensations();
            let mut seen = std::collections::HashSet::new();
            for seed in 0..6 {
                c.seed = seed;
                let (_, truth) = ElasticSimulator::new(&c).unwrap();
                for s in &truth.sets {
                    for r in &s.reps {
                        for f in &r.flags {
                            assert!(visible.contains(&f.kind));
                            assert!(f.value_deg > 0.0);
                            if matches!(
                                f.kind,
                                FlagKind::HipHike | FlagKind::PelvicDrop | FlagKind::TrunkSway
                            ) {
                                assert!(f.value_deg >= 5.0);
                            }
                            seen.insert(f.kind);
                        }
                    }
                }
            }
            for k in &visible {
                assert!(seen.contains(k), "{ex} {pl}: {k:?} never in truth");
            }
        }
    }

    #[test]
    fn the_gyro_carries_the_reps() {
        let mut c = cfg(
            Exercise::SideLyingAbduction,
            Placement::Ankle,
            Side::Right,
            3,
        );
        c.random_mounting = false;
        c.noise = 0.0;
        c.gyro_bias_dps = 0.0;
        c.drop_rate = 0.0;
        c.gaps_per_min = 0.0;
        c.sets = 1;
        c.compensation_rate = 0.0;
        let (sim, truth) = ElasticSimulator::new(&c).unwrap();
        let samples: Vec<Sample> = sim.collect();
        for r in &truth.sets[0].reps {
            let mut integ = Vector3::zeros();
            let mut best: f64 = 0.0;
            for w in samples.windows(2) {
                if w[0].t >= r.start_s - 0.05 && w[0].t <= r.end_s {
                    integ += w[0].gyr * (w[1].t - w[0].t);
                    best = best.max(integ.norm());
                }
            }
            let rel = (best - r.peak_deg).abs() / r.peak_deg;
            assert!(rel < 0.25, "integrated {best} vs peak {}", r.peak_deg);
        }
    }
}
