//! A tenth body model, the hold-out: group exercise classes and home workout
//! videos, paced by music and an instructor.
//!
//! Ordinary people, not athletes and not patients: beginners and regulars in
//! a barre, pilates or glute class, older adults (60-80) holding a chair or a
//! wall (slower, smaller, a tremor, stiffer hips), heavier bodies whose soft
//! tissue under the sensor rings at 4-12 Hz after a quick change of direction,
//! and teenagers in a team warm-up who rush the beat.
//!
//! **Timing.** Every set runs to a music track of 90-130 beats a minute with a
//! rep over 2, 4 or 8 beats. The person is a timekeeper with linear phase
//! correction: the asynchrony to the beat of rep `k + 1` is `(1 - a)` times
//! that of rep `k` plus a personal drift (teenagers rush, older adults drag)
//! and motor noise. Someone who glanced at the screen falls behind and catches
//! up with a shorter, smaller rep; the instructor calls "double time" or
//! "slow it down" mid-set, "and hold" at the top, "pulse, pulse" (two to four
//! small dips of 3-8 deg at the top, which stay part of one rep: the leg does
//! not come back near neutral in between), and a long hold on the last rep.
//!
//! **Rep shape.** Each rep is a draw from a Gaussian process conditioned on
//! via-points: neutral with zero velocity at the start and the end, the top
//! (with zero velocity) on the beat, the pulses and the sag of a hold, a
//! band-skewed mid-rise and mid-descent, and for beginners the point where
//! the mini-band goes slack and the leg snaps back. The process runs on a
//! warped clock (fast stretches get short correlation), its mean is a smooth
//! curve through the via-points, and the sampled deviation gives every rep
//! its own wobbles and hesitations while keeping neutral exact.
//!
//! **Body and equipment.** A pelvis with obliquity (about the usual 0.5-3 deg
//! in time with a clean lift, irregular sway of about a degree), hips that
//! shift toward the stance side, a working leg of thigh and shank; standing at
//! a barre, side-lying on a soft mat that rocks, seated on a bench with a band
//! round the knees, supine for bridges, on an aerobic step for hitches and
//! step-ups. Compensations are other motions: the hip hiked with the leg, the
//! free side let down, the whole body rocked both ways, the foot flung, a rep
//! cut short, the leg drifting forward into flexion. The ankle sensor sits on
//! the shank in any orientation with the band pressing it round; the pelvis
//! sensor is clipped to the waistband over the sacrum (+X right, +Y up, +Z
//! back, within +-15 deg), and the clip tips about the band as the hips flex
//! and does not quite come back.
//!
//! **Between sets.** The instructor's other moves (squats, marching in
//! place, side steps against the band, a cross-over hip stretch), drinks,
//! walks to fetch a band, getting down to and up from the mat, the band
//! refitted, a single swing, a leg shaken out, a rep started and abandoned;
//! for the ankle, the other leg's set with the sensored leg standing or lying
//! underneath (never a set of its own). A pelvis session covers one side: the
//! other side's sets are left out of the recording, since the sacrum would
//! see them as sets of the same exercise.
//!
//! **Sensor.** The sensors people own (a WitMotion-type 16-bit unit, a
//! Nordic Thingy, a MetaMotion, a phone-grade accelerometer): white noise and
//! quantisation, full-scale clipping, an accelerometer bias that drifts as the
//! unit warms, a gyro bias, the crystal's rate error, host timestamp jitter,
//! dropped samples, 200 ms gaps and a stream that resumes after a second or
//! so. Noise 0 switches off every noise source (noise, quantisation, jitter,
//! accelerometer bias).
//!
//! Truth: `peak_deg` is the largest rotation of the shank (not the sensor:
//! no tissue wobble, no strap twist) from its orientation just before the
//! set (ankle), or the largest change, as a magnitude, of the pelvis'
//! rotation about its front-back axis from just before the set (pelvis).
//! Flags are measured on the same model and only kept when the motion crosses
//! the line it describes (5 deg held 150 ms for hike and drop, 5 deg both
//! ways for sway, 70 % of the set's range for a partial rep, 10 deg of
//! flexion for drift); their `value_deg` is the measured size as a positive
//! number (for a partial rep: how many degrees it fell short).

use super::gauss;
use crate::motion::FlagKind;
use crate::sample::STANDARD_GRAVITY;
use crate::source::sim::{SimConfig, Truth, TruthFlag, TruthRep, TruthSet};
use crate::{Exercise, Placement, Sample};
use nalgebra::{DMatrix, Rotation3, UnitQuaternion, Vector3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

// ----------------------------------------------------------------- tracks --

/// A channel of the body over time: keys joined by cubic Hermite pieces.
#[derive(Debug, Clone, Default)]
struct Track {
    t: Vec<f64>,
    v: Vec<f64>,
    d: Vec<f64>,
}

impl Track {
    fn last(&self) -> f64 {
        self.v.last().copied().unwrap_or(0.0)
    }

    /// Appends a key; `slope` None means Catmull-Rom from its neighbours.
    fn key(&mut self, t: f64, v: f64, slope: Option<f64>) {
        let d = slope.unwrap_or(f64::NAN);
        if let Some(&lt) = self.t.last() {
            if t < lt - 1e-9 {
                return;
            }
            if t <= lt + 1e-6 {
                let n = self.v.len();
                self.v[n - 1] = v;
                self.d[n - 1] = d;
                return;
            }
        }
        self.t.push(t);
        self.v.push(v);
        self.d.push(d);
    }

    /// A flat key holding the last value (the anchor before a move).
    fn hold(&mut self, t: f64) {
        let v = self.last();
        self.key(t, v, Some(0.0));
    }

    /// Moves from the last value at `t0` to `v` at `t1`, smoothly.
    fn goto(&mut self, t0: f64, t1: f64, v: f64) {
        self.hold(t0);
        self.key(t1, v, Some(0.0));
    }

    fn finish(&mut self) {
        let n = self.t.len();
        for i in 0..n {
            if self.d[i].is_nan() {
                self.d[i] = if i > 0 && i + 1 < n && self.t[i + 1] - self.t[i - 1] < 1.0 {
                    (self.v[i + 1] - self.v[i - 1]) / (self.t[i + 1] - self.t[i - 1])
                } else {
                    0.0
                };
            }
        }
    }

    fn at(&self, t: f64) -> f64 {
        let n = self.t.len();
        if n == 0 {
            return 0.0;
        }
        if t <= self.t[0] {
            return self.v[0];
        }
        if t >= self.t[n - 1] {
            return self.v[n - 1];
        }
        let i = self
            .t
            .partition_point(|&x| x <= t)
            .saturating_sub(1)
            .min(n - 2);
        let h = self.t[i + 1] - self.t[i];
        let s = (t - self.t[i]) / h;
        let s2 = s * s;
        let s3 = s2 * s;
        (2.0 * s3 - 3.0 * s2 + 1.0) * self.v[i]
            + (s3 - 2.0 * s2 + s) * h * self.d[i]
            + (-2.0 * s3 + 3.0 * s2) * self.v[i + 1]
            + (s3 - s2) * h * self.d[i + 1]
    }
}

/// The body's posture (lying, standing) as orientation keys, eased between.
#[derive(Debug, Clone, Default)]
struct QTrack {
    t: Vec<f64>,
    q: Vec<UnitQuaternion<f64>>,
}

impl QTrack {
    fn last(&self) -> UnitQuaternion<f64> {
        self.q
            .last()
            .copied()
            .unwrap_or_else(UnitQuaternion::identity)
    }

    fn goto(&mut self, t0: f64, t1: f64, q: UnitQuaternion<f64>) {
        let l = self.last();
        for (t, q) in [(t0, l), (t1, q)] {
            match self.t.last() {
                Some(&lt) if t <= lt + 1e-6 => {
                    if t >= lt - 1e-9 {
                        let n = self.q.len();
                        self.q[n - 1] = q;
                    }
                }
                _ => {
                    self.t.push(t);
                    self.q.push(q);
                }
            }
        }
    }

    fn at(&self, t: f64) -> UnitQuaternion<f64> {
        let n = self.t.len();
        if n == 0 {
            return UnitQuaternion::identity();
        }
        if t <= self.t[0] {
            return self.q[0];
        }
        if t >= self.t[n - 1] {
            return self.q[n - 1];
        }
        let i = self
            .t
            .partition_point(|&x| x <= t)
            .saturating_sub(1)
            .min(n - 2);
        let s = (t - self.t[i]) / (self.t[i + 1] - self.t[i]);
        let s = s * s * (3.0 - 2.0 * s);
        self.q[i]
            .try_slerp(&self.q[i + 1], s, 1e-9)
            .unwrap_or(self.q[i + 1])
    }
}

// Channel indices.
const OBL: usize = 0; // pelvic obliquity, deg, + = free side up
const AB: usize = 1; // working-leg abduction, deg
const RY: usize = 2; // working-leg rotation about the vertical (seated), deg
const FLEX: usize = 3; // working-leg hip flexion, deg
const KNEE: usize = 4; // working-leg knee flexion, deg
const PYAW: usize = 5; // pelvis about the body's long axis, deg
const PTILT: usize = 6; // pelvis about its left-right axis, deg
const SHIFT: usize = 7; // hips sideways in the body frame, m (+ = right)
const PX: usize = 8; // world position, m
const PY: usize = 9;
const PZ: usize = 10;
const HEAD: usize = 11; // heading, deg
const CLIP: usize = 12; // waistband clip tipped about the band, deg
const TREMOR: usize = 13; // tremor envelope, 0..
const SWAY: usize = 14; // postural sway gain, 0..
const NCH: usize = 15;

/// A jolt that sets soft tissue (or a soft mat) ringing: a damped sinusoid.
#[derive(Debug, Clone, Copy)]
struct Jolt {
    t: f64,
    deg: f64,
    m: f64,
    hz: f64,
    zeta: f64,
}

fn ring(js: &[Jolt], t: f64) -> (f64, f64) {
    let lo = js.partition_point(|j| j.t < t - 2.5);
    let (mut a, mut x) = (0.0, 0.0);
    for j in &js[lo..] {
        if j.t > t {
            break;
        }
        let dt = t - j.t;
        let w = 2.0 * std::f64::consts::PI * j.hz;
        let e = (-j.zeta * w * dt).exp() * (w * (1.0 - j.zeta * j.zeta).sqrt() * dt).sin();
        a += j.deg * e;
        x += j.m * e;
    }
    (a, x)
}

fn rx(deg: f64) -> Rotation3<f64> {
    Rotation3::from_axis_angle(&Vector3::x_axis(), deg.to_radians())
}
fn ry(deg: f64) -> Rotation3<f64> {
    Rotation3::from_axis_angle(&Vector3::y_axis(), deg.to_radians())
}
fn rz(deg: f64) -> Rotation3<f64> {
    Rotation3::from_axis_angle(&Vector3::z_axis(), deg.to_radians())
}
fn qrot(r: Rotation3<f64>) -> UnitQuaternion<f64> {
    UnitQuaternion::from_rotation_matrix(&r)
}

// ----------------------------------------------------------------- people --

/// Who is in the class.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Who {
    Beginner,
    Regular,
    Older,
    Heavier,
    Teen,
}

/// One person's build, habits and timing.
#[derive(Debug, Clone)]
struct Person {
    who: Who,
    range: f64,
    alpha: f64,
    drift_s: f64,
    timing_sd: f64,
    hold_p: f64,
    pulse_p: f64,
    snap_p: f64,
    lose_beat_p: f64,
    dev_sd: f64,
    ell: f64,
    up_bias: f64,
    tremor_deg: f64,
    tremor_hz: f64,
    wobble_deg: f64,
    wobble_hz: f64,
    wobble_zeta: f64,
    wobble_mm: f64,
    sway_deg: f64,
    obl_couple: f64,
    shift_m_per_deg: f64,
    fatigue: f64,
    height: f64,
    band_twist: f64,
}

fn uni(rng: &mut ChaCha8Rng, a: f64, b: f64) -> f64 {
    if b <= a {
        a
    } else {
        rng.gen_range(a..b)
    }
}

impl Person {
    fn draw(rng: &mut ChaCha8Rng) -> Person {
        let r: f64 = rng.gen();
        let who = if r < 0.25 {
            Who::Beginner
        } else if r < 0.55 {
            Who::Regular
        } else if r < 0.72 {
            Who::Older
        } else if r < 0.87 {
            Who::Heavier
        } else {
            Who::Teen
        };
        let mut p = Person {
            who,
            range: uni(rng, 0.85, 1.05),
            alpha: uni(rng, 0.4, 0.7),
            drift_s: uni(rng, -0.02, 0.02),
            timing_sd: uni(rng, 0.03, 0.06),
            hold_p: 0.7,
            pulse_p: 0.7,
            snap_p: 0.0,
            lose_beat_p: 0.03,
            dev_sd: uni(rng, 0.04, 0.07),
            ell: uni(rng, 0.25, 0.4),
            up_bias: uni(rng, 0.9, 1.0),
            tremor_deg: uni(rng, 0.05, 0.15),
            tremor_hz: uni(rng, 8.0, 11.0),
            wobble_deg: uni(rng, 0.2, 0.6),
            wobble_hz: uni(rng, 10.0, 14.0),
            wobble_zeta: uni(rng, 0.15, 0.3),
            wobble_mm: uni(rng, 0.3, 1.0),
            sway_deg: uni(rng, 0.3, 0.7),
            obl_couple: uni(rng, -0.02, 0.06),
            shift_m_per_deg: uni(rng, 0.0002, 0.0005),
            fatigue: uni(rng, 0.0, 0.08),
            height: uni(rng, 0.92, 1.05),
            band_twist: uni(rng, 0.0, 0.04),
        };
        match who {
            Who::Beginner => {
                p.range = uni(rng, 0.8, 1.0);
                p.alpha = uni(rng, 0.2, 0.45);
                p.timing_sd = uni(rng, 0.05, 0.09);
                p.hold_p = 0.5;
                p.pulse_p = 0.5;
                p.snap_p = uni(rng, 0.2, 0.5);
                p.lose_beat_p = 0.07;
                p.dev_sd = uni(rng, 0.07, 0.11);
                p.up_bias = uni(rng, 0.8, 0.95);
                p.fatigue = uni(rng, 0.04, 0.12);
            }
            Who::Regular => {
                p.range = uni(rng, 0.9, 1.1);
                p.alpha = uni(rng, 0.55, 0.85);
                p.timing_sd = uni(rng, 0.02, 0.04);
                p.hold_p = 0.9;
                p.pulse_p = 0.9;
                p.lose_beat_p = 0.01;
                p.dev_sd = uni(rng, 0.03, 0.05);
            }
            Who::Older => {
                p.range = uni(rng, 0.55, 0.8);
                p.alpha = uni(rng, 0.3, 0.5);
                p.drift_s = uni(rng, 0.02, 0.06);
                p.timing_sd = uni(rng, 0.05, 0.08);
                p.hold_p = 0.6;
                p.pulse_p = 0.4;
                p.lose_beat_p = 0.05;
                p.dev_sd = uni(rng, 0.05, 0.09);
                p.tremor_deg = uni(rng, 0.3, 0.8);
                p.tremor_hz = uni(rng, 5.0, 7.0);
                p.sway_deg = uni(rng, 0.5, 1.0);
                p.height = uni(rng, 0.88, 1.0);
                p.fatigue = uni(rng, 0.05, 0.12);
            }
            Who::Heavier => {
                p.range = uni(rng, 0.75, 0.95);
                p.wobble_deg = uni(rng, 0.8, 2.0);
                p.wobble_hz = uni(rng, 4.0, 9.0);
                p.wobble_zeta = uni(rng, 0.08, 0.2);
                p.wobble_mm = uni(rng, 1.0, 3.0);
                p.shift_m_per_deg = uni(rng, 0.0004, 0.0008);
                p.fatigue = uni(rng, 0.04, 0.12);
            }
            Who::Teen => {
                p.range = uni(rng, 0.8, 1.1);
                p.alpha = uni(rng, 0.4, 0.7);
                p.drift_s = uni(rng, -0.07, -0.03);
                p.hold_p = 0.25;
                p.pulse_p = 0.4;
                p.lose_beat_p = 0.05;
                p.dev_sd = uni(rng, 0.06, 0.1);
                p.up_bias = uni(rng, 0.65, 0.85);
                p.height = uni(rng, 0.9, 1.06);
            }
        }
        p
    }
}

// --------------------------------------------------------------- postures --

#[derive(Debug, Clone, Copy, PartialEq)]
enum Posture {
    Standing,
    OnStep,
    SideLying,
    Seated,
    Supine,
}

// ------------------------------------------------------ the rep's process --

/// A via-point of a rep: time from the rep's start (s), normalised position
/// (0 = neutral, 1 = the person's top for this rep), and whether the leg is
/// still there (zero velocity).
#[derive(Debug, Clone, Copy)]
struct Via {
    t: f64,
    q: f64,
    flat: bool,
}

/// Draws a rep through `vias` from a Gaussian process on a warped clock:
/// knots (time from the start, position, whether flat). The deviation from
/// the smooth mean is conditioned to zero (and zero slope where flat) at
/// every via-point, so neutral, the top and the pulses are where they were
/// asked to be.
fn gp_rep(rng: &mut ChaCha8Rng, vias: &[Via], ell: f64, sd: f64) -> Vec<(f64, f64, bool)> {
    let nv = vias.len();
    // The mean: a smooth curve through the via-points.
    let mut mean = Track::default();
    for v in vias {
        mean.key(v.t, v.q, if v.flat { Some(0.0) } else { None });
    }
    mean.finish();
    // The warped clock: long where the leg travels far, and with time.
    let mut tau = vec![0.0; nv];
    for j in 1..nv {
        tau[j] = tau[j - 1]
            + 0.8 * (vias[j].q - vias[j - 1].q).abs()
            + (vias[j].t - vias[j - 1].t) / 1.2;
    }
    let mut knots: Vec<(f64, f64)> = Vec::new(); // (tau, t)
    for j in 0..nv.saturating_sub(1) {
        let span = tau[j + 1] - tau[j];
        let n = (span / 0.07).ceil().max(1.0) as usize;
        for k in 1..n {
            let f = k as f64 / n as f64;
            knots.push((
                tau[j] + f * span,
                vias[j].t + f * (vias[j + 1].t - vias[j].t),
            ));
        }
    }
    // Observations: value 0 at every via-point, slope 0 at flat ones.
    let mut obs: Vec<(f64, bool)> = Vec::new();
    for (j, v) in vias.iter().enumerate() {
        obs.push((tau[j], false));
        if v.flat {
            obs.push((tau[j], true));
        }
    }
    let l2 = ell * ell;
    let k = |a: f64, da: bool, b: f64, db: bool| -> f64 {
        let r = a - b;
        let e = (-r * r / (2.0 * l2)).exp();
        match (da, db) {
            (false, false) => e,
            (false, true) => e * r / l2,
            (true, false) => -e * r / l2,
            (true, true) => e * (1.0 / l2 - r * r / (l2 * l2)),
        }
    };
    let (m, n) = (obs.len(), knots.len());
    let mut dev = vec![0.0; n];
    if n > 0 && sd > 0.0 {
        let koo = DMatrix::from_fn(m, m, |i, j| {
            k(obs[i].0, obs[i].1, obs[j].0, obs[j].1) + if i == j { 1e-8 } else { 0.0 }
        });
        let kok = DMatrix::from_fn(m, n, |i, j| k(obs[i].0, obs[i].1, knots[j].0, false));
        let kkk = DMatrix::from_fn(n, n, |i, j| k(knots[i].0, false, knots[j].0, false));
        if let Some(ch) = koo.cholesky() {
            let a = ch.solve(&kok);
            let mut post = kkk - kok.transpose() * a;
            for i in 0..n {
                post[(i, i)] += 1e-7;
            }
            let post = post.symmetric_part();
            if let Some(cp) = post.cholesky() {
                let z = nalgebra::DVector::from_fn(n, |_, _| gauss(rng));
                let d = cp.l() * z;
                dev.copy_from_slice(d.as_slice());
            }
        }
    }
    let mut out: Vec<(f64, f64, bool)> = vias.iter().map(|v| (v.t, v.q, v.flat)).collect();
    for (i, &(_, t)) in knots.iter().enumerate() {
        let mu = mean.at(t);
        let env = (mu / 0.25).clamp(0.0, 1.0);
        out.push((t, mu + sd * dev[i] * env, false));
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// What a planned rep is for the truth.
#[derive(Debug, Clone)]
struct RepMeta {
    start: f64,
    end: f64,
    comp: Option<FlagKind>,
}

#[derive(Debug, Clone)]
struct SetMeta {
    reps: Vec<RepMeta>,
}

// ---------------------------------------------------------------- planner --

/// Builds the session: every channel's keys, the jolts, the truth's skeleton.
struct Planner {
    rng: ChaCha8Rng,
    cfg: SimConfig,
    person: Person,
    ch: Vec<Track>,
    post: QTrack,
    tissue: Vec<Jolt>,
    mat: Vec<Jolt>,
    distractions: Vec<String>,
    sets: Vec<SetMeta>,
    t: f64,
    posture: Posture,
    home: Posture,
    sw: f64,
    sf: f64,
    ankle: bool,
    allowed: Vec<FlagKind>,
    amp: f64,
    clip_k: f64,
    flex_clean: f64,
}

fn home_posture(e: Exercise) -> Posture {
    match e {
        Exercise::SideLyingAbduction | Exercise::Clamshell => Posture::SideLying,
        Exercise::SeatedMachineAbduction => Posture::Seated,
        Exercise::HipHitch => Posture::OnStep,
        Exercise::SingleLegBridge => Posture::Supine,
        _ => Posture::Standing,
    }
}

impl Planner {
    fn new(cfg: &SimConfig) -> Planner {
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x0C1A_55E5_u64.rotate_left(20));
        let person = Person::draw(&mut rng);
        let ankle = cfg.placement == Placement::Ankle;
        let e = cfg.exercise;
        let mut allowed = cfg.visible_compensations();
        allowed.retain(|k| {
            let pelvis_kind = matches!(
                k,
                FlagKind::HipHike | FlagKind::PelvicDrop | FlagKind::TrunkSway
            );
            // The hitch's own motion is the drop: no drop compensation there.
            pelvis_kind != ankle && !(e == Exercise::HipHitch && *k == FlagKind::PelvicDrop)
        });
        let amp = match e {
            Exercise::StandingCableAbduction => uni(&mut rng, 26.0, 40.0),
            Exercise::SideLyingAbduction => uni(&mut rng, 24.0, 40.0),
            Exercise::SeatedMachineAbduction => uni(&mut rng, 18.0, 32.0),
            Exercise::Clamshell => uni(&mut rng, 25.0, 42.0),
            Exercise::BandWalk => uni(&mut rng, 16.0, 26.0),
            Exercise::HipHitch => uni(&mut rng, 7.0, 11.0),
            Exercise::LateralStepUp => uni(&mut rng, 0.15, 0.25),
            Exercise::SingleLegBridge => uni(&mut rng, 16.0, 28.0),
        };
        let amp = match e {
            Exercise::HipHitch => (amp * person.range.max(0.75)).max(6.0),
            Exercise::LateralStepUp => amp,
            _ => amp * person.range,
        };
        let home = home_posture(e);
        let mut p = Planner {
            clip_k: uni(&mut rng, 0.08, 0.3),
            flex_clean: uni(&mut rng, 0.0, 4.0),
            rng,
            cfg: cfg.clone(),
            person,
            ch: vec![Track::default(); NCH],
            post: QTrack::default(),
            tissue: Vec::new(),
            mat: Vec::new(),
            distractions: Vec::new(),
            sets: Vec::new(),
            t: 0.0,
            posture: home,
            home,
            sw: cfg.side.sign(),
            sf: e.free_side(cfg.side).sign(),
            ankle,
            allowed,
            amp,
        };
        p.set_posture_now(home);
        p
    }

    fn u(&mut self, a: f64, b: f64) -> f64 {
        uni(&mut self.rng, a, b)
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.gen::<f64>() < p
    }

    fn note(&mut self, what: &str, t0: f64, t1: f64) {
        self.distractions
            .push(format!("{what} at {t0:.1}-{t1:.1} s"));
    }

    /// Quaternion, pelvis height, hip flexion, knee flexion of a posture.
    fn posture_values(&self, p: Posture) -> (UnitQuaternion<f64>, f64, f64, f64) {
        let h = 0.95 * self.person.height;
        let clam = self.cfg.exercise == Exercise::Clamshell;
        match p {
            Posture::Standing => (UnitQuaternion::identity(), h, 0.0, 2.0),
            Posture::OnStep => (UnitQuaternion::identity(), h + 0.2, 0.0, 2.0),
            Posture::SideLying => (
                qrot(rz(self.sw * 90.0)),
                0.14,
                if clam { 45.0 } else { 8.0 },
                if clam { 90.0 } else { 5.0 },
            ),
            Posture::Seated => (UnitQuaternion::identity(), 0.48, 88.0, 90.0),
            Posture::Supine => (self.lying_q(-90.0), 0.10, 50.0, 100.0),
        }
    }

    /// Lying with the working side up, rolled `roll` deg (times the side's
    /// sign) about the body's long axis: -90 on the back, -180 on the other side.
    fn lying_q(&self, roll: f64) -> UnitQuaternion<f64> {
        qrot(rz(self.sw * 90.0) * ry(self.sw * roll))
    }

    fn sway_gain(&self, p: Posture) -> f64 {
        match p {
            Posture::Standing => 1.0,
            Posture::OnStep => 1.3,
            Posture::SideLying => 0.3,
            Posture::Seated => 0.3,
            Posture::Supine => 0.2,
        }
    }

    fn set_posture_now(&mut self, p: Posture) {
        let (q, h, f, k) = self.posture_values(p);
        self.post.goto(0.0, 0.0, q);
        self.ch[PY].key(0.0, h, Some(0.0));
        self.ch[FLEX].key(0.0, f, Some(0.0));
        self.ch[KNEE].key(0.0, k, Some(0.0));
        let g = self.sway_gain(p);
        self.ch[SWAY].key(0.0, g, Some(0.0));
        self.posture = p;
    }

    /// Brings every channel back to the posture's neutral over `d` s.
    fn neutral(&mut self, d: f64) {
        let (t0, t1) = (self.t, self.t + d);
        let (_, h, f, k) = self.posture_values(self.posture);
        for (c, v) in [
            (OBL, 0.0),
            (AB, 0.0),
            (RY, 0.0),
            (FLEX, f),
            (KNEE, k),
            (PYAW, 0.0),
            (PTILT, 0.0),
            (SHIFT, 0.0),
            (PY, h),
        ] {
            self.ch[c].goto(t0, t1, v);
        }
        self.t = t1;
    }

    /// A posture change over `d` s (through an intermediate one when needed).
    fn move_to(&mut self, p: Posture) {
        if p == self.posture {
            return;
        }
        let t0 = self.t;
        let lying = |x: Posture| matches!(x, Posture::SideLying | Posture::Supine);
        if lying(self.posture) != lying(p) {
            // Through sitting on the floor.
            let d = self.u(1.5, 2.5);
            let (t1, t2) = (t0 + d, t0 + 2.0 * d);
            self.post.goto(t0, t1, UnitQuaternion::identity());
            self.ch[PY].goto(t0, t1, 0.2);
            self.ch[FLEX].goto(t0, t1, 85.0);
            self.ch[KNEE].goto(t0, t1, 100.0);
            self.ch[PTILT].goto(t0, t1, 10.0);
            self.t = t1;
            let (q, h, f, k) = self.posture_values(p);
            self.post.goto(t1, t2, q);
            self.ch[PY].goto(t1, t2, h);
            self.ch[FLEX].goto(t1, t2, f);
            self.ch[KNEE].goto(t1, t2, k);
            self.ch[PTILT].goto(t1, t2, 0.0);
            self.t = t2;
        } else {
            let d = self.u(1.0, 2.0);
            let (q, h, f, k) = self.posture_values(p);
            let t1 = t0 + d;
            self.post.goto(t0, t1, q);
            self.ch[PY].goto(t0, t1, h);
            // A step or a sit passes through a bent knee.
            self.ch[FLEX].goto(t0, t0 + d * 0.5, f.max(40.0));
            self.ch[KNEE].goto(t0, t0 + d * 0.5, k.max(60.0));
            self.ch[FLEX].goto(t0 + d * 0.5, t1, f);
            self.ch[KNEE].goto(t0 + d * 0.5, t1, k);
            self.t = t1;
        }
        let g = self.sway_gain(p);
        self.ch[SWAY].goto(t0, self.t, g);
        let words = match p {
            Posture::Standing => "getting up / standing",
            Posture::OnStep => "stepping onto the step",
            Posture::SideLying => "lying down on the mat",
            Posture::Seated => "sitting down",
            Posture::Supine => "lying on the back",
        };
        self.note(words, t0, self.t);
        self.posture = p;
        self.clip_settle();
    }

    /// The waistband clip rides back most of the way, not all.
    fn clip_settle(&mut self) {
        let r = self.u(-2.5, 2.5);
        let t = self.t;
        self.ch[CLIP].goto(t, t + 0.3, r);
    }

    fn jolt(&mut self, t: f64, scale: f64) {
        let p = &self.person;
        let s = scale.clamp(0.0, 2.0) * if self.ankle { 1.0 } else { 0.7 };
        if s <= 0.0 {
            return;
        }
        self.tissue.push(Jolt {
            t,
            deg: p.wobble_deg * s,
            m: p.wobble_mm * 1e-3 * s,
            hz: p.wobble_hz,
            zeta: p.wobble_zeta,
        });
    }

    // ------------------------------------------------------------ reps --

    /// Writes one rep (or an abandoned lift) from its via-points: the main
    /// motion and everything that goes with it. Returns the rep's end.
    fn write_rep(&mut self, start: f64, vias: &[Via], scale: f64, comp: Option<FlagKind>) -> f64 {
        let ell = self.person.ell;
        let sd = self.person.dev_sd;
        let knots = gp_rep(&mut self.rng, vias, ell, sd);
        let dur = vias.last().map(|v| v.t).unwrap_or(0.0).max(1e-3);
        let e = self.cfg.exercise;
        let a = self.amp * scale;
        let used = [OBL, AB, RY, FLEX, PYAW, PTILT, SHIFT, PY];
        let mut base = [0.0; NCH];
        for &c in &used {
            self.ch[c].hold(start);
            base[c] = self.ch[c].last();
        }
        let sgn = |x: f64| x.signum() * x.abs().powf(0.3);
        let hike = self.u(7.0, 12.0);
        let drop = self.u(7.0, 11.0);
        let sway = self.u(8.0, 11.0);
        let hfd = self.u(15.0, 26.0);
        let couple = (self.person.obl_couple * a).clamp(-1.5, 2.5);
        let mat = self.u(0.02, 0.06);
        let deg_like = !matches!(e, Exercise::LateralStepUp);
        let lying = self.posture == Posture::SideLying;
        for &(tr, q, flat) in &knots {
            let t = start + tr;
            let u = (tr / dur).clamp(0.0, 1.0);
            let slope = if flat { Some(0.0) } else { None };
            let mut v = [0.0; NCH];
            let qq = q.max(0.0);
            match e {
                Exercise::SeatedMachineAbduction => {
                    v[RY] = a * q;
                    v[AB] = 0.12 * a * q;
                    v[OBL] = 0.03 * a * q;
                }
                Exercise::HipHitch => {
                    v[OBL] = -a * q;
                    v[SHIFT] = self.sf * 0.01 * q;
                    v[PY] = -0.012 * q;
                }
                Exercise::LateralStepUp => {
                    v[PY] = a * q;
                    v[PTILT] = 8.0 * q;
                    v[OBL] = couple.clamp(-1.5, 1.5) * q / a.max(1.0);
                }
                Exercise::SingleLegBridge => {
                    v[PTILT] = -a * q;
                    v[PY] = 0.0045 * a * q;
                    v[OBL] = 0.04 * a * q;
                }
                _ => {
                    v[AB] = a * q;
                    v[FLEX] = self.flex_clean * qq;
                    v[OBL] = couple * q;
                    if lying {
                        v[PYAW] = -mat * a * q;
                    } else {
                        v[SHIFT] = -self.sf * self.person.shift_m_per_deg * a * q;
                        v[PYAW] = 0.03 * a * q * self.sw;
                    }
                }
            }
            match comp {
                Some(FlagKind::HipHike) => {
                    if e == Exercise::HipHitch {
                        // Pulled past level after the return.
                        if u > 0.6 {
                            let s = ((u - 0.6) / 0.4 * std::f64::consts::PI).sin();
                            v[OBL] += hike * 1.15 * (1.6 * s * s).min(1.0);
                        }
                    } else {
                        v[OBL] += hike * qq.powf(1.5);
                    }
                }
                Some(FlagKind::PelvicDrop) => v[OBL] -= drop * qq.powf(1.2),
                Some(FlagKind::TrunkSway) => {
                    let w = (2.0 * std::f64::consts::PI * u).sin() * sgn(qq.min(1.0)).min(1.0);
                    v[OBL] += sway * w;
                    v[SHIFT] += 0.03 * w * self.sf;
                    v[PYAW] += 3.0 * w;
                }
                Some(FlagKind::HipFlexionDrift) => v[FLEX] += hfd * qq,
                _ => {}
            }
            let _ = deg_like;
            for &c in &used {
                self.ch[c].key(t, base[c] + v[c], slope);
            }
        }
        let end = start + dur;
        // Jolts: the top and the landing set the tissue (and the mat) ringing.
        let up = vias
            .iter()
            .find(|v| v.flat && v.q > 0.5)
            .map(|v| v.t)
            .unwrap_or(dur * 0.5)
            .max(0.1);
        let speed = if deg_like { a / up } else { 30.0 / up };
        self.jolt(start + up, speed / 120.0);
        let last_leg = vias.len().saturating_sub(2);
        let fall = (dur - vias[last_leg].t).max(0.1);
        let q_last = vias[last_leg].q;
        let land = if deg_like {
            a * q_last / fall
        } else {
            30.0 * q_last / fall
        };
        self.jolt(end, land / 120.0);
        if lying {
            let deg = self.u(0.3, 0.8) * a / 30.0;
            let hz = self.u(1.2, 2.0);
            self.mat.push(Jolt {
                t: end,
                deg,
                m: 0.0,
                hz,
                zeta: 0.25,
            });
        }
        end
    }

    /// A lift started and given up (not a rep).
    fn abandoned(&mut self, what: &str) {
        let t0 = self.t;
        let qa = self.u(0.18, 0.32);
        let up = self.u(0.35, 0.6);
        let down = self.u(0.4, 0.7);
        let vias = [
            Via {
                t: 0.0,
                q: 0.0,
                flat: true,
            },
            Via {
                t: up,
                q: qa,
                flat: true,
            },
            Via {
                t: up + down,
                q: 0.0,
                flat: true,
            },
        ];
        let end = self.write_rep(t0, &vias, 1.0, None);
        self.note(what, t0, end);
        self.t = end;
    }

    /// One set to the music; returns its reps.
    fn do_set(&mut self) -> SetMeta {
        let cfg = &self.cfg;
        let n = self.rng.gen_range(cfg.reps_min..=cfg.reps_max);
        let bpm = self.u(90.0, 130.0);
        let beat = 60.0 / bpm;
        let older = self.person.who == Who::Older;
        let teen = self.person.who == Who::Teen;
        let ok = |b: f64| b * beat >= 1.1 && b * beat <= 5.0;
        let mut choices: Vec<f64> = [2.0, 4.0, 8.0].into_iter().filter(|&b| ok(b)).collect();
        if choices.is_empty() {
            choices.push(4.0);
        }
        let mut b = if older && ok(8.0) && self.chance(0.5) {
            8.0
        } else if teen && ok(2.0) && self.chance(0.5) {
            2.0
        } else {
            let i = self.rng.gen_range(0..choices.len());
            if ok(4.0) && self.chance(0.5) {
                4.0
            } else {
                choices[i]
            }
        };
        let hold_cue = self.chance(0.5);
        let pulse_cue = !hold_cue && self.chance(0.45);
        let long_hold = self.chance(0.35);
        let change_at = if n >= 8 && self.chance(0.3) {
            Some(self.rng.gen_range(n / 3..=2 * n / 3))
        } else {
            None
        };
        let deg_like = !matches!(
            self.cfg.exercise,
            Exercise::LateralStepUp | Exercise::HipHitch
        );
        let band = matches!(
            self.cfg.exercise,
            Exercise::StandingCableAbduction
                | Exercise::SideLyingAbduction
                | Exercise::SeatedMachineAbduction
                | Exercise::Clamshell
                | Exercise::BandWalk
        );
        // Effort: tremor and the band's fatigue rise over the set.
        let t_set = self.t;
        self.ch[TREMOR].goto(t_set, t_set + 0.3, 1.0);
        let mut target = self.t;
        let mut asyn = 0.0;
        let mut prev_end = f64::NEG_INFINITY;
        let mut reps = Vec::with_capacity(n);
        let mut scale_mult = 1.0;
        let mut abandoned_done = false;
        for k in 0..n {
            if Some(k) == change_at {
                if b >= 4.0 && ok(b / 2.0) {
                    b /= 2.0;
                    scale_mult = self.u(0.86, 0.95);
                } else if ok(b * 2.0) {
                    b *= 2.0;
                    scale_mult = 1.0;
                }
            }
            let period = b * beat;
            if self.chance(self.person.lose_beat_p) && k > 0 {
                asyn += self.u(0.3, 0.6) * period;
            }
            let start = (target + asyn).max(prev_end + 0.05).max(self.t);
            let catch_up = asyn > 0.25 * period;
            let next_asyn = if catch_up {
                asyn * 0.15
            } else {
                ((1.0 - self.person.alpha) * asyn
                    + self.person.drift_s
                    + self.person.timing_sd * gauss(&mut self.rng))
                .clamp(-0.3 * period, 0.5 * period)
            };
            let dwell = self.u(0.06, 0.16) * period;
            let last = k + 1 == n;
            let mut dur = (target + period + next_asyn - dwell - start)
                .max(0.7)
                .max(0.45 * period);
            // Compensation?
            let comp = if !self.allowed.is_empty() && self.chance(self.cfg.compensation_rate) {
                let i = self.rng.gen_range(0..self.allowed.len());
                Some(self.allowed[i])
            } else {
                None
            };
            let mut scale = scale_mult * (1.0 - self.person.fatigue * k as f64 / n as f64);
            if catch_up {
                scale *= self.u(0.82, 0.9);
            }
            // Phase layout.
            let (mut fu, mut fh) = match (b as u32, hold_cue || pulse_cue) {
                (2, _) => (0.47, 0.0),
                (4, true) => (0.27, 0.27),
                (4, false) => (0.35, 0.05),
                (_, true) => (0.25, 0.3),
                (_, false) => (0.3, 0.15),
            };
            if fh > 0.1 && !self.chance(self.person.hold_p) {
                fh *= 0.2;
            }
            fu *= self.person.up_bias;
            let mut up = fu * dur;
            let mut hold = fh * dur;
            let extra = (1.0 - self.person.up_bias) * 0.3 * dur;
            hold += extra;
            let mut down;
            let mut sag = self.u(0.0, 0.05);
            let mut pulses: Vec<f64> = Vec::new();
            if last && long_hold {
                hold += self.u(4.0, 8.0) * beat;
                sag = self.u(0.05, 0.18);
            }
            down = dur - up - hold;
            if pulse_cue && deg_like && hold >= 0.4 && self.chance(self.person.pulse_p) {
                let np = if b >= 8.0 {
                    self.rng.gen_range(3..=4)
                } else {
                    2
                };
                for _ in 0..np {
                    let d = self.u(3.0, 8.0) / (self.amp * scale).max(1.0);
                    pulses.push(d.min(0.3));
                }
                sag = 0.0;
            }
            let mut snap = None;
            if band && self.chance(self.person.snap_p) {
                snap = Some((self.u(0.1, 0.18), self.u(0.18, 0.3)));
            }
            match comp {
                Some(FlagKind::Momentum) => {
                    up = self.u(0.22, 0.32);
                    hold = 0.0;
                    down = self.u(0.28, 0.4);
                    pulses.clear();
                    snap = None;
                    scale *= self.u(1.1, 1.22);
                    dur = up + down;
                }
                Some(FlagKind::PartialRange) => {
                    scale *= self.u(0.42, 0.6);
                    pulses.clear();
                }
                _ => {}
            }
            if down < 0.35 {
                down = 0.35;
            }
            let vias = self.rep_vias(up, hold, down, &pulses, sag, snap);
            let end = self.write_rep(start, &vias, scale, comp);
            reps.push(RepMeta { start, end, comp });
            prev_end = end;
            self.t = end;
            let tr = 1.0 + 0.8 * k as f64 / n as f64;
            self.ch[TREMOR].goto(start, start + 0.2, tr);
            target += period;
            asyn = next_asyn;
            if target + asyn < end + 0.05 {
                asyn = end + 0.05 - target;
            }
            // Lost the beat mid-set: a lift given up, rejoining a bar later.
            if !last && !abandoned_done && self.cfg.fidgets && self.chance(0.04) {
                self.t = end + self.u(0.2, 0.5);
                self.abandoned("abandoned rep (lost the beat)");
                prev_end = self.t;
                target += period;
                abandoned_done = true;
                if target + asyn < self.t + 0.3 {
                    asyn = self.t + 0.3 - target;
                }
            }
        }
        let t = self.t;
        self.ch[TREMOR].goto(t, t + 0.3, 0.0);
        SetMeta { reps }
    }

    fn rep_vias(
        &mut self,
        up: f64,
        hold: f64,
        down: f64,
        pulses: &[f64],
        sag: f64,
        snap: Option<(f64, f64)>,
    ) -> Vec<Via> {
        let mut v = vec![Via {
            t: 0.0,
            q: 0.0,
            flat: true,
        }];
        // Fast start against the band, slow finish: skewed mid-rise.
        let fm = self.u(0.42, 0.55);
        let qm = self.u(0.5, 0.68);
        v.push(Via {
            t: up * fm,
            q: qm,
            flat: false,
        });
        v.push(Via {
            t: up,
            q: 1.0,
            flat: true,
        });
        let mut tt = up;
        let mut top = 1.0;
        if !pulses.is_empty() {
            let slot = hold / pulses.len() as f64;
            for &p in pulses {
                v.push(Via {
                    t: tt + slot * 0.5,
                    q: 1.0 - p,
                    flat: true,
                });
                v.push(Via {
                    t: tt + slot,
                    q: 1.0,
                    flat: true,
                });
                tt += slot;
            }
        } else if hold > 0.05 {
            if hold > 1.2 {
                let q = 1.0 - sag * 0.5 + self.u(-0.02, 0.02);
                v.push(Via {
                    t: tt + hold * 0.5,
                    q,
                    flat: false,
                });
            }
            tt += hold;
            top = 1.0 - sag;
            v.push(Via {
                t: tt,
                q: top,
                flat: true,
            });
        }
        let end = tt + down;
        match snap {
            Some((sd, qs)) if down > sd + 0.3 => {
                let ts = end - sd;
                let qmid = (top + qs) * 0.5;
                v.push(Via {
                    t: tt + (ts - tt) * self.u(0.45, 0.6),
                    q: qmid,
                    flat: false,
                });
                v.push(Via {
                    t: ts,
                    q: qs,
                    flat: false,
                });
            }
            _ => {
                let f = self.u(0.42, 0.58);
                let q = top * self.u(0.42, 0.58);
                v.push(Via {
                    t: tt + down * f,
                    q,
                    flat: false,
                });
            }
        }
        v.push(Via {
            t: end,
            q: 0.0,
            flat: true,
        });
        v
    }
}

// ------------------------------------------------- between sets and after --

impl Planner {
    fn standing(&self) -> bool {
        matches!(self.posture, Posture::Standing | Posture::OnStep)
    }

    /// Walking: out and back with a turn, foot strikes on the sensored leg.
    fn walk(&mut self, d: f64, what: &str) {
        let t0 = self.t;
        if self.posture == Posture::OnStep {
            self.move_to(Posture::Standing);
        }
        let step = self.u(0.5, 0.6);
        let speed = self.u(0.9, 1.3);
        let n = ((d / step) as usize).max(4);
        let (_, h, f0, k0) = self.posture_values(Posture::Standing);
        let mut px = self.ch[PX].last();
        let mut pz = self.ch[PZ].last();
        let mut head = self.ch[HEAD].last();
        for c in [PX, PZ, HEAD, PY, FLEX, KNEE] {
            self.ch[c].hold(self.t);
        }
        for i in 0..n {
            let ts = self.t;
            let te = ts + step;
            let turning = i == n / 2 || i == n / 2 + 1;
            if turning {
                head += 90.0;
            } else {
                let r = head.to_radians();
                px -= r.sin() * speed * step;
                pz -= r.cos() * speed * step;
            }
            self.ch[PX].key(te, px, None);
            self.ch[PZ].key(te, pz, None);
            self.ch[HEAD].key(te, head, None);
            self.ch[PY].key(ts + step * 0.5, h + 0.02, Some(0.0));
            self.ch[PY].key(te, h - 0.01, Some(0.0));
            if i % 2 == 0 {
                // The sensored leg swings.
                self.ch[KNEE].key(ts + step * 0.4, 55.0, Some(0.0));
                self.ch[FLEX].key(ts + step * 0.6, 25.0, Some(0.0));
                self.ch[KNEE].key(te, k0 + 3.0, Some(0.0));
                self.ch[FLEX].key(te, f0 + 18.0, Some(0.0));
                self.jolt(te, 1.2);
            } else {
                self.ch[FLEX].key(te, f0 - 10.0, Some(0.0));
                self.ch[KNEE].key(ts + step * 0.7, 10.0, Some(0.0));
            }
            self.t = te;
        }
        let t = self.t;
        self.ch[FLEX].goto(t, t + 0.4, f0);
        self.ch[KNEE].goto(t, t + 0.4, k0);
        self.ch[PY].goto(t, t + 0.4, h);
        self.ch[HEAD].hold(t + 0.4);
        self.ch[PX].hold(t + 0.4);
        self.ch[PZ].hold(t + 0.4);
        self.t = t + 0.4;
        self.note(what, t0, self.t);
    }

    /// Marching in place to the music.
    fn march(&mut self, d: f64) {
        let t0 = self.t;
        let beat = 60.0 / self.u(110.0, 130.0);
        let (_, h, f0, k0) = self.posture_values(Posture::Standing);
        let n = ((d / beat) as usize).max(4);
        for c in [PY, FLEX, KNEE] {
            self.ch[c].hold(t0);
        }
        for i in 0..n {
            let ts = t0 + i as f64 * beat;
            if i % 2 == 0 {
                let (fl, kn) = (self.u(30.0, 45.0), self.u(40.0, 60.0));
                self.ch[FLEX].key(ts + beat * 0.5, f0 + fl, Some(0.0));
                self.ch[KNEE].key(ts + beat * 0.5, k0 + kn, Some(0.0));
            } else {
                self.ch[FLEX].key(ts + beat * 0.5, f0, Some(0.0));
                self.ch[KNEE].key(ts + beat * 0.5, k0, Some(0.0));
                self.jolt(ts + beat * 0.5, 0.8);
            }
            self.ch[PY].key(ts + beat * 0.5, h + 0.015, Some(0.0));
            self.ch[PY].key(ts + beat, h - 0.005, Some(0.0));
        }
        self.t = t0 + n as f64 * beat;
        self.neutral(0.4);
        self.note("marching in place", t0, self.t);
    }

    /// Squats to the music; the waistband stretches and tips the clip.
    fn squats(&mut self, d: f64) {
        let t0 = self.t;
        let beat = 60.0 / self.u(100.0, 128.0);
        let per = 4.0 * beat;
        let n = ((d / per) as usize).max(1);
        let (_, h, f0, k0) = self.posture_values(Posture::Standing);
        let depth = self.u(0.7, 1.0);
        for i in 0..n {
            let ts = t0 + i as f64 * per;
            let fl = 75.0 * depth;
            for (c, v) in [
                (FLEX, f0 + fl),
                (KNEE, k0 + 95.0 * depth),
                (PY, h - 0.33 * depth),
                (PTILT, 25.0 * depth),
            ] {
                self.ch[c].goto(ts, ts + per * 0.5, v);
            }
            let clip = self.ch[CLIP].last();
            self.ch[CLIP].goto(ts, ts + per * 0.5, clip + self.clip_k * fl);
            for (c, v) in [(FLEX, f0), (KNEE, k0), (PY, h), (PTILT, 0.0)] {
                self.ch[c].goto(ts + per * 0.5, ts + per, v);
            }
            self.ch[CLIP].goto(ts + per * 0.5, ts + per, clip);
        }
        self.t = t0 + n as f64 * per;
        self.clip_settle();
        self.note("squats", t0, self.t);
    }

    /// Side steps against the band: the sensored leg opens like a rep.
    fn side_steps(&mut self, d: f64) {
        let t0 = self.t;
        let per = self.u(1.0, 1.4);
        let n = ((d / per) as usize).max(2);
        let width = self.u(0.25, 0.4);
        let ab = self.u(14.0, 24.0);
        let r = self.ch[HEAD].last().to_radians();
        let right = Vector3::new(r.cos(), 0.0, -r.sin());
        let mut x = self.ch[PX].last();
        let mut z = self.ch[PZ].last();
        for c in [AB, OBL, PX, PZ] {
            self.ch[c].hold(t0);
        }
        for i in 0..n {
            let ts = t0 + i as f64 * per;
            let dir = if i < n / 2 { self.sw } else { -self.sw };
            let lead = dir == self.sw;
            let a = if lead { ab } else { ab * 0.5 };
            self.ch[AB].key(ts + per * 0.35, a, Some(0.0));
            self.ch[AB].key(ts + per * 0.8, 0.0, Some(0.0));
            self.ch[OBL].key(ts + per * 0.35, 1.5 * dir * self.sf, None);
            self.ch[OBL].key(ts + per * 0.8, 0.0, Some(0.0));
            x += right.x * dir * width;
            z += right.z * dir * width;
            self.ch[PX].key(ts + per, x, Some(0.0));
            self.ch[PZ].key(ts + per, z, Some(0.0));
            self.jolt(ts + per * 0.8, 0.6);
        }
        self.t = t0 + n as f64 * per;
        self.note("side steps with the band", t0, self.t);
    }

    /// The cross-over hip stretch.
    fn stretch(&mut self, d: f64) {
        let t0 = self.t;
        let (_, _, f0, k0) = self.posture_values(self.posture);
        let t1 = t0 + 1.5;
        let (ab, fl) = (self.u(12.0, 20.0), self.u(15.0, 30.0));
        self.ch[AB].goto(t0, t1, -ab);
        self.ch[FLEX].goto(t0, t1, f0 + fl);
        self.ch[KNEE].goto(t0, t1, k0 + 10.0);
        self.ch[OBL].goto(t0, t1, -2.0);
        let t2 = t0 + (d - 1.5).max(2.0);
        for c in [AB, FLEX, KNEE, OBL] {
            self.ch[c].hold(t2);
        }
        self.t = t2;
        self.neutral(1.5);
        self.note("cross-over hip stretch", t0, self.t);
    }

    /// Bending down (for the bottle or the band) and standing up.
    fn bend(&mut self, depth: f64, d_down: f64) {
        let t0 = self.t;
        let (_, h, f0, k0) = self.posture_values(Posture::Standing);
        let t1 = t0 + d_down;
        let fl = 80.0 * depth;
        for (c, v) in [
            (FLEX, f0 + fl),
            (KNEE, k0 + 100.0 * depth),
            (PY, h - 0.4 * depth),
            (PTILT, 35.0 * depth),
        ] {
            self.ch[c].goto(t0, t1, v);
        }
        let clip = self.ch[CLIP].last();
        self.ch[CLIP].goto(t0, t1, clip + self.clip_k * fl);
        self.t = t1;
    }

    fn unbend(&mut self, d: f64) {
        self.neutral(d);
        self.clip_settle();
    }

    fn drink(&mut self, d: f64) {
        let t0 = self.t;
        let dd = self.u(1.0, 1.5);
        let depth = self.u(0.6, 0.9);
        self.bend(depth, dd);
        self.unbend(dd);
        let t = self.t;
        self.ch[PTILT].goto(t, t + 0.8, -6.0);
        let still = (d - 4.0 * dd - 1.6).max(1.0);
        self.ch[PTILT].hold(t + 0.8 + still);
        self.t = t + 0.8 + still;
        self.neutral(0.8);
        self.bend(depth, dd);
        self.unbend(dd);
        self.note("drinking (bottle on the floor)", t0, self.t);
    }

    fn fix_band(&mut self, d: f64) {
        let t0 = self.t;
        if self.standing() {
            let depth = self.u(0.85, 1.1);
            self.bend(depth, 1.2);
        }
        let n = ((d - 2.6) / 0.4).max(2.0) as usize;
        let base = self.ch[AB].last();
        for i in 0..n {
            let t = self.t + 0.4;
            let j = if i % 2 == 0 { 3.0 } else { -2.0 };
            self.ch[AB].key(t, base + j, Some(0.0));
            self.t = t;
        }
        let t = self.t;
        self.ch[AB].goto(t, t + 0.3, base);
        self.t = t + 0.3;
        if self.standing() {
            self.unbend(1.2);
        }
        self.note("refitting the mini-band", t0, self.t);
    }

    fn shake(&mut self) {
        let t0 = self.t;
        let n = self.rng.gen_range(5..10);
        let f = self.u(2.5, 4.0);
        for c in [AB, FLEX, RY] {
            self.ch[c].hold(t0);
        }
        let (a0, f0) = (self.ch[AB].last(), self.ch[FLEX].last());
        for i in 0..n {
            let t = t0 + (i + 1) as f64 / (2.0 * f);
            let s = if i % 2 == 0 { 1.0 } else { -1.0 };
            let (da, df) = (self.u(2.0, 5.0), self.u(2.0, 6.0));
            self.ch[AB].key(t, a0 + s * da, Some(0.0));
            self.ch[FLEX].key(t, f0 + s * df, Some(0.0));
        }
        let t = t0 + (n + 1) as f64 / (2.0 * f);
        self.ch[AB].key(t, a0, Some(0.0));
        self.ch[FLEX].key(t, f0, Some(0.0));
        self.t = t;
        self.note("shaking the leg out", t0, t);
    }

    fn single_swing(&mut self) {
        let t0 = self.t;
        let vias = [
            Via {
                t: 0.0,
                q: 0.0,
                flat: true,
            },
            Via {
                t: self.u(0.4, 0.6),
                q: self.u(0.35, 0.6),
                flat: true,
            },
            Via {
                t: self.u(1.0, 1.4),
                q: 0.0,
                flat: true,
            },
        ];
        let end = self.write_rep(t0, &vias, 1.0, None);
        self.t = end;
        self.note("a single swing", t0, end);
    }

    /// The other leg's set (ankle only): the sensored leg stands or lies underneath.
    fn other_side(&mut self, budget: f64) {
        let t0 = self.t;
        let per = self.u(1.6, 3.5);
        let fit = ((budget - 8.0) / per).floor().max(3.0) as usize;
        let n = self
            .rng
            .gen_range(self.cfg.reps_min..=self.cfg.reps_max)
            .min(20)
            .min(fit);
        let lying = self.posture == Posture::SideLying;
        if lying {
            let t1 = t0 + self.u(0.8, 1.2);
            let t2 = t1 + self.u(0.8, 1.2);
            self.post.goto(t0, t1, self.lying_q(-90.0));
            // Rolled over onto the sensored side: the leg under, bent.
            self.post.goto(t1, t2, self.lying_q(-180.0));
            self.ch[FLEX].goto(t0, t2, 30.0);
            self.ch[KNEE].goto(t0, t2, 45.0);
            self.t = t2 + self.u(1.0, 3.0);
        } else {
            let t1 = t0 + 0.6;
            self.ch[SHIFT].goto(t0, t1, 0.04 * self.sw);
            self.ch[AB].goto(t0, t1, -1.5);
            self.t = t1 + self.u(1.0, 3.0);
        }
        for c in [OBL, AB, PYAW, SHIFT] {
            self.ch[c].hold(self.t);
        }
        let (a0, s0) = (self.ch[AB].last(), self.ch[SHIFT].last());
        for _ in 0..n {
            let ts = self.t;
            let up = per * self.u(0.3, 0.4);
            let q = self.u(0.8, 1.1);
            if lying {
                self.ch[PYAW].key(ts + up, 1.5 * q * self.sw, Some(0.0));
                self.ch[PYAW].key(ts + per * 0.9, 0.0, Some(0.0));
            } else {
                self.ch[OBL].key(ts + up, -2.0 * q, Some(0.0));
                self.ch[AB].key(ts + up, a0 - 1.2 * q, Some(0.0));
                self.ch[SHIFT].key(ts + up, s0 + 0.008 * q * self.sw, Some(0.0));
                self.ch[OBL].key(ts + per * 0.9, 0.0, Some(0.0));
                self.ch[AB].key(ts + per * 0.9, a0, Some(0.0));
                self.ch[SHIFT].key(ts + per * 0.9, s0, Some(0.0));
            }
            self.t = ts + per;
        }
        if lying {
            let t = self.t;
            let t1 = t + self.u(0.8, 1.2);
            let t2 = t1 + self.u(0.8, 1.2);
            self.post.goto(t, t1, self.lying_q(-90.0));
            let (q, _, f, k) = self.posture_values(Posture::SideLying);
            self.post.goto(t1, t2, q);
            self.ch[FLEX].goto(t, t2, f);
            self.ch[KNEE].goto(t, t2, k);
            self.t = t2;
        }
        self.neutral(0.6);
        self.note("the other leg's set (sensored leg not working)", t0, self.t);
    }

    /// Fills the rest between two sets so the next first rep starts at `t_next`.
    fn rest(&mut self, t_next: f64) {
        let pre = self.u(1.5, 3.0);
        let t = self.t + self.u(0.5, 2.0);
        self.t = t;
        let mut deadline = t_next - pre - 1.0;
        let back_cost = if self.home == Posture::Standing {
            0.0
        } else {
            6.0
        };
        let cfg_walk = self.cfg.walking;
        let cfg_fid = self.cfg.fidgets;
        // The other leg's set with a quick switch (ankle only).
        if self.ankle
            && cfg_fid
            && self.home != Posture::Seated
            && self.chance(0.6)
            && deadline - self.t > 45.0
        {
            let sw = self.u(5.0, 15.0);
            self.t += sw * 0.5;
            let budget = deadline - self.t - sw * 0.5 - 10.0;
            self.other_side(budget);
            self.t += sw * 0.5;
        }
        let mut tries = 0;
        while (cfg_walk || cfg_fid) && tries < 8 {
            tries += 1;
            let left = deadline - self.t - back_cost;
            if left < 14.0 {
                break;
            }
            let pick = self.rng.gen_range(0..9);
            let d = self.u(6.0, 20.0).min(left - 8.0);
            let needs_stand = matches!(pick, 0 | 1 | 2 | 3 | 5);
            if needs_stand && !self.standing() {
                if left < d + 12.0 {
                    continue;
                }
                self.move_to(Posture::Standing);
            }
            let t_before = self.t;
            match pick {
                0 if cfg_walk => self.walk(d, "walking to fetch a band"),
                1 if cfg_walk => self.march(d),
                2 if cfg_walk => self.side_steps(d),
                3 if cfg_fid => self.squats(d),
                4 if cfg_fid => self.stretch(d),
                5 if cfg_fid && d >= 8.0 => self.drink(d),
                6 if cfg_fid => self.fix_band(d.min(8.0)),
                7 if cfg_fid => self.shake(),
                8 if cfg_fid => self.single_swing(),
                _ => {}
            }
            if self.t > t_before {
                self.t += self.u(0.5, 3.0);
            }
            deadline = deadline.max(self.t);
        }
        // Back to the exercise's position, neutral, then still.
        self.move_to(self.home);
        self.neutral(0.8);
        if cfg_fid && self.t + 4.5 < t_next - 1.2 && self.chance(0.12) {
            self.t = (t_next - self.u(3.0, 4.5)).max(self.t);
            self.abandoned("false start (abandoned lift)");
        }
        // The instructor's countdown: a small settle, then still.
        let t = self.t;
        let s = self.u(-0.01, 0.01);
        if t + 0.6 < t_next - 1.0 {
            self.ch[SHIFT].goto(t, t + 0.6, s);
        }
        self.t = t_next.max(self.t + 0.5);
    }
}

// ------------------------------------------------------------- the body --

/// The finished body model: every channel as a function of time.
#[derive(Debug, Clone)]
struct Body {
    ch: Vec<Track>,
    post: QTrack,
    tissue: Vec<Jolt>,
    mat: Vec<Jolt>,
    sw: f64,
    sf: f64,
    ankle: bool,
    sway: [[(f64, f64, f64); 3]; 3],
    sway_deg: f64,
    tremor_deg: f64,
    tremor_hz: f64,
    tremor_ph: [f64; 2],
    trem_gain: [(usize, f64); 2],
    wob_axis: nalgebra::Unit<Vector3<f64>>,
    wob_dir: Vector3<f64>,
    band_twist: f64,
    mount: Rotation3<f64>,
    thigh: f64,
    shank: f64,
}

/// The body at one instant.
struct Kin {
    leg: Rotation3<f64>,
    obl: f64,
    flex: f64,
    rot: Rotation3<f64>,
    pos: Vector3<f64>,
}

impl Body {
    fn sway_sum(&self, i: usize, t: f64) -> f64 {
        self.sway[i]
            .iter()
            .map(|&(w, f, ph)| w * (2.0 * std::f64::consts::PI * f * t + ph).sin())
            .sum()
    }

    fn chans(&self, t: f64) -> [f64; NCH] {
        let mut c = [0.0; NCH];
        for (i, v) in c.iter_mut().enumerate() {
            *v = self.ch[i].at(t);
        }
        let g = c[SWAY];
        c[OBL] += g * self.sway_deg * self.sway_sum(0, t);
        c[SHIFT] += g * 0.004 * self.sway_sum(1, t);
        c[PYAW] += g * 0.4 * self.sway_sum(2, t);
        let w = 2.0 * std::f64::consts::PI * self.tremor_hz;
        let tr = c[TREMOR].max(0.0)
            * self.tremor_deg
            * ((w * t + self.tremor_ph[0]).sin() + 0.5 * (1.37 * w * t + self.tremor_ph[1]).sin());
        for &(i, gain) in &self.trem_gain {
            c[i] += gain * tr;
        }
        c[PYAW] += ring(&self.mat, t).0;
        c
    }

    fn kin(&self, t: f64) -> Kin {
        let c = self.chans(t);
        let sw = self.sw;
        let body = ry(c[HEAD]) * self.post.at(t).to_rotation_matrix();
        let pel = body * rz(self.sf * c[OBL]) * ry(c[PYAW]) * rx(c[PTILT]);
        let p_pel = Vector3::new(c[PX], c[PY], c[PZ]) + body * Vector3::new(c[SHIFT], 0.0, 0.0);
        let thigh = rz(sw * c[AB]) * ry(-sw * c[RY]) * rx(c[FLEX]);
        let shank = thigh * rx(-c[KNEE]);
        let leg = pel * shank;
        let (wa, wx) = ring(&self.tissue, t);
        let wob = Rotation3::from_axis_angle(&self.wob_axis, wa.to_radians());
        let (rot, pos) = if self.ankle {
            let hip = p_pel + pel * Vector3::new(sw * 0.09, -0.07, -0.02);
            let pos = hip
                + pel
                    * (thigh * Vector3::new(0.0, -self.thigh, 0.0)
                        + shank * Vector3::new(sw * 0.045, -self.shank, 0.0))
                + leg * (self.wob_dir * wx);
            let twist = ry(self.band_twist * c[AB]);
            (leg * twist * wob * self.mount, pos)
        } else {
            let clip = rx(c[CLIP]);
            let pos = p_pel + pel * (Vector3::new(0.0, -0.03, 0.11) + clip * (self.wob_dir * wx));
            (pel * clip * wob * self.mount, pos)
        };
        Kin {
            leg,
            obl: c[OBL],
            flex: c[FLEX],
            rot,
            pos,
        }
    }

    /// Specific force (m/s², sensor frame) and angular rate (°/s) at `t`.
    fn ideal(&self, t: f64) -> (Vector3<f64>, Vector3<f64>) {
        let h = 0.002;
        let k0 = self.kin(t - h);
        let k1 = self.kin(t);
        let k2 = self.kin(t + h);
        let a = (k2.pos - 2.0 * k1.pos + k0.pos) / (h * h);
        let f = k1.rot.transpose() * (a + Vector3::new(0.0, STANDARD_GRAVITY, 0.0));
        let w = (k0.rot.transpose() * k2.rot).scaled_axis() / (2.0 * h);
        (f, w.map(|x| x.to_degrees()))
    }
}

// ------------------------------------------------------------ the sensor --

/// The unit on the person: its ranges, resolution, noise and drifts.
#[derive(Debug, Clone)]
struct Sensor {
    acc_lsb: f64,
    acc_max: f64,
    gyr_lsb: f64,
    gyr_max: f64,
    acc_sd: f64,
    gyr_sd: f64,
    acc_b0: Vector3<f64>,
    acc_bw: Vector3<f64>,
    gyr_b0: Vector3<f64>,
    gyr_bw: Vector3<f64>,
    tau: f64,
    jitter_sd: f64,
    noisy: bool,
}

impl Sensor {
    fn draw(rng: &mut ChaCha8Rng, cfg: &SimConfig) -> Sensor {
        let g = STANDARD_GRAVITY;
        // (acc lsb, acc range g, gyro lsb, gyro range, acc sd, gyro sd, warm drift)
        let kinds = [
            (
                16.0 / 32768.0,
                16.0,
                2000.0 / 32768.0,
                2000.0,
                0.03,
                0.35,
                0.08,
            ), // WitMotion-type
            (1.0 / 1024.0, 8.0, 1.0 / 32.0, 1000.0, 0.04, 0.4, 0.08), // Thingy-type
            (
                8.0 / 32768.0,
                8.0,
                2000.0 / 32768.0,
                2000.0,
                0.02,
                0.25,
                0.05,
            ), // MetaMotion-type
            (
                8.0 / 32768.0,
                8.0,
                2000.0 / 32768.0,
                2000.0,
                0.05,
                0.5,
                0.25,
            ), // phone-grade
        ];
        let k = kinds[rng.gen_range(0..kinds.len())];
        let n = cfg.noise;
        let rs = (cfg.rate_hz / 100.0).sqrt().clamp(0.5, 3.0);
        let mut v3 = |a: f64| Vector3::new(uni(rng, -a, a), uni(rng, -a, a), uni(rng, -a, a));
        let acc_b0 = v3(0.06 * n);
        let acc_bw = v3(k.6 * n);
        let gb = cfg.gyro_bias_dps;
        let gyr_b0 = v3(0.8 * gb);
        let gyr_bw = v3(0.2 * gb);
        Sensor {
            acc_lsb: k.0 * g,
            acc_max: k.1 * g,
            gyr_lsb: k.2,
            gyr_max: k.3,
            acc_sd: k.4 * n * rs,
            gyr_sd: k.5 * n * rs,
            acc_b0,
            acc_bw,
            gyr_b0,
            gyr_bw,
            tau: uni(rng, 300.0, 900.0),
            jitter_sd: uni(rng, 0.5e-3, 2.0e-3) * n,
            noisy: n > 0.0,
        }
    }
}

/// The simulated sensor stream of a group class or home workout session.
///
/// Built by [`ClassSimulator::new`] with the session's ground truth; yields
/// samples lazily (the body is evaluated at each sample time from the
/// planned keys, nothing is precomputed per sample).
#[derive(Debug, Clone)]
pub struct ClassSimulator {
    body: Body,
    sensor: Sensor,
    rng: ChaCha8Rng,
    index: u64,
    count: u64,
    dt: f64,
    gaps: Vec<(f64, f64)>,
    gap_cursor: usize,
    drop_rate: f64,
    last_stamp: f64,
}

fn random_rotation(rng: &mut ChaCha8Rng) -> Rotation3<f64> {
    let q = nalgebra::Quaternion::new(gauss(rng), gauss(rng), gauss(rng), gauss(rng));
    if q.norm() < 1e-9 {
        return Rotation3::identity();
    }
    UnitQuaternion::from_quaternion(q).to_rotation_matrix()
}

fn random_axis(rng: &mut ChaCha8Rng) -> nalgebra::Unit<Vector3<f64>> {
    let v = Vector3::new(gauss(rng), gauss(rng), gauss(rng));
    nalgebra::Unit::try_new(v, 1e-9).unwrap_or(Vector3::x_axis())
}

impl ClassSimulator {
    /// Plans a session for `cfg` (a group class or a home workout video)
    /// and returns the sample stream and its ground truth; a bad config is an
    /// `Err` naming the option.
    pub fn new(cfg: &SimConfig) -> Result<(Self, Truth), String> {
        cfg.validate()?;
        if let Some(l) = cfg.lead_in_s {
            if !(l.is_finite() && (0.0..=3600.0).contains(&l)) {
                return Err(format!("lead-in is {l} s; expected 0..3600 s"));
            }
        }
        let mut p = Planner::new(cfg);
        // The start: a still lead-in, or a recording begun during the warm-up.
        let first = match cfg.lead_in_s {
            Some(l) => l,
            None => {
                if (cfg.walking || cfg.fidgets) && p.chance(0.5) {
                    p.set_posture_now(Posture::Standing);
                    p.t = p.u(0.2, 1.0);
                    let d = p.u(5.0, 15.0);
                    if cfg.walking && p.chance(0.5) {
                        p.march(d);
                    } else if cfg.fidgets {
                        p.squats(d);
                    } else {
                        p.walk(d, "walking to the mat");
                    }
                    p.move_to(p.home);
                    p.neutral(0.5);
                    p.t + p.u(1.5, 3.0)
                } else {
                    p.u(0.5, 3.0)
                }
            }
        };
        p.t = p.t.max(first);
        for s in 0..cfg.sets {
            let meta = p.do_set();
            let end = meta.reps.last().map(|r| r.end).unwrap_or(p.t);
            p.sets.push(meta);
            if s + 1 < cfg.sets {
                let rest = p.u(cfg.rest_min_s, cfg.rest_max_s);
                p.rest(end + rest);
            }
        }
        let tail = p.u(1.0, 6.0);
        p.t += tail;
        let duration = p.t;
        for c in &mut p.ch {
            c.hold(duration);
            c.finish();
        }
        p.tissue.sort_by(|a, b| a.t.total_cmp(&b.t));
        p.mat.sort_by(|a, b| a.t.total_cmp(&b.t));

        let rng = &mut p.rng;
        let mut sway = [[(0.0, 0.0, 0.0); 3]; 3];
        for row in &mut sway {
            let f = [
                uni(rng, 0.08, 0.15),
                uni(rng, 0.2, 0.3),
                uni(rng, 0.35, 0.55),
            ];
            let w = [0.5, 0.3, 0.2];
            for k in 0..3 {
                row[k] = (w[k], f[k], uni(rng, 0.0, std::f64::consts::TAU));
            }
        }
        let trem_gain = match cfg.exercise {
            Exercise::SeatedMachineAbduction => [(RY, 1.0), (AB, 0.1)],
            Exercise::HipHitch => [(OBL, 0.5), (AB, 0.0)],
            Exercise::SingleLegBridge | Exercise::LateralStepUp => [(PTILT, 0.4), (OBL, 0.2)],
            _ => [(AB, 1.0), (OBL, 0.1)],
        };
        let mount = if cfg.random_mounting {
            if p.ankle {
                random_rotation(rng)
            } else {
                let ax = random_axis(rng);
                Rotation3::from_axis_angle(&ax, uni(rng, 0.0, 12.0).to_radians())
            }
        } else {
            Rotation3::identity()
        };
        let wob_axis = random_axis(rng);
        let wob_dir = random_axis(rng).into_inner();
        let tremor_ph = [
            uni(rng, 0.0, std::f64::consts::TAU),
            uni(rng, 0.0, std::f64::consts::TAU),
        ];
        let thigh = 0.45 * p.person.height;
        let shank = 0.33 * p.person.height;
        let body = Body {
            ch: std::mem::take(&mut p.ch),
            post: std::mem::take(&mut p.post),
            tissue: std::mem::take(&mut p.tissue),
            mat: std::mem::take(&mut p.mat),
            sw: p.sw,
            sf: p.sf,
            ankle: p.ankle,
            sway,
            sway_deg: p.person.sway_deg,
            tremor_deg: p.person.tremor_deg,
            tremor_hz: p.person.tremor_hz,
            tremor_ph,
            trem_gain,
            wob_axis,
            wob_dir,
            band_twist: if p.ankle { p.person.band_twist } else { 0.0 },
            mount,
            thigh,
            shank,
        };
        let sets = truth_sets(&body, &p.sets, &p.allowed, cfg.exercise);
        let sensor = Sensor::draw(&mut p.rng, cfg);
        // Gaps: 200 ms ones, and now and then the stream drops for a second.
        let mut gaps = Vec::new();
        if cfg.gaps_per_min > 0.0 {
            for (per_min, lo, hi) in [
                (cfg.gaps_per_min, 0.2, 0.2),
                (cfg.gaps_per_min / 6.0, 0.4, 1.2),
            ] {
                let rate = per_min / 60.0;
                let mut t = 0.0;
                loop {
                    let u: f64 = p.rng.gen_range(1e-12..1.0);
                    t += -u.ln() / rate;
                    if t >= duration {
                        break;
                    }
                    gaps.push((t, uni(&mut p.rng, lo, hi)));
                }
            }
            gaps.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        let ppm = uni(&mut p.rng, -300.0, 300.0);
        let dt = 1.0 / (cfg.rate_hz * (1.0 + ppm * 1e-6));
        let count = (duration / dt).floor() as u64 + 1;
        let truth = Truth {
            config: cfg.clone(),
            duration_s: duration,
            distractions: std::mem::take(&mut p.distractions),
            sets,
        };
        let rng = ChaCha8Rng::seed_from_u64(cfg.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x10);
        Ok((
            ClassSimulator {
                body,
                sensor,
                rng,
                index: 0,
                count,
                dt,
                gaps,
                gap_cursor: 0,
                drop_rate: cfg.drop_rate,
                last_stamp: f64::NEG_INFINITY,
            },
            truth,
        ))
    }

    fn in_gap(&mut self, t: f64) -> bool {
        while self.gap_cursor < self.gaps.len() {
            let (s, l) = self.gaps[self.gap_cursor];
            if s + l < t {
                self.gap_cursor += 1;
            } else {
                return t >= s;
            }
        }
        false
    }
}

impl Iterator for ClassSimulator {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        loop {
            if self.index >= self.count {
                return None;
            }
            let t = self.index as f64 * self.dt;
            self.index += 1;
            if self.in_gap(t) {
                continue;
            }
            if self.drop_rate > 0.0 && self.rng.gen_bool(self.drop_rate) {
                continue;
            }
            let (mut acc, mut gyr) = self.body.ideal(t);
            let s = &self.sensor;
            let warm = 1.0 - (-t / s.tau).exp();
            acc += s.acc_b0 + s.acc_bw * warm;
            gyr += s.gyr_b0 + s.gyr_bw * warm;
            let mut stamp = t;
            if s.noisy {
                for k in 0..3 {
                    acc[k] += s.acc_sd * gauss(&mut self.rng);
                    gyr[k] += s.gyr_sd * gauss(&mut self.rng);
                    acc[k] = (acc[k] / s.acc_lsb).round() * s.acc_lsb;
                    gyr[k] = (gyr[k] / s.gyr_lsb).round() * s.gyr_lsb;
                }
                stamp += s.jitter_sd * gauss(&mut self.rng);
            }
            let (am, gm) = (s.acc_max, s.gyr_max);
            acc = acc.map(|v| v.clamp(-am, am));
            gyr = gyr.map(|v| v.clamp(-gm, gm));
            let stamp = stamp.max(self.last_stamp).max(0.0);
            self.last_stamp = stamp;
            return Some(Sample { t: stamp, acc, gyr });
        }
    }
}

// ------------------------------------------------------------- the truth --

/// Measures every planned rep on the finished body.
fn truth_sets(body: &Body, sets: &[SetMeta], allowed: &[FlagKind], e: Exercise) -> Vec<TruthSet> {
    let mut out = Vec::with_capacity(sets.len());
    for set in sets {
        let Some(first) = set.reps.first() else {
            continue;
        };
        let r0 = body.kin(first.start - 0.05);
        struct M {
            peak: f64,
            hi: f64,
            lo: f64,
            t_hi: f64,
            t_lo: f64,
            flex: f64,
        }
        let dt = 0.005;
        let ms: Vec<M> = set
            .reps
            .iter()
            .map(|r| {
                let mut m = M {
                    peak: 0.0,
                    hi: 0.0,
                    lo: 0.0,
                    t_hi: 0.0,
                    t_lo: 0.0,
                    flex: 0.0,
                };
                let n = ((r.end - r.start) / dt).ceil() as usize;
                for i in 0..=n {
                    let t = (r.start + i as f64 * dt).min(r.end);
                    let k = body.kin(t);
                    let d = k.obl - r0.obl;
                    m.hi = m.hi.max(d);
                    m.lo = m.lo.min(d);
                    if d >= 5.0 {
                        m.t_hi += dt;
                    }
                    if d <= -5.0 {
                        m.t_lo += dt;
                    }
                    m.flex = m.flex.max(k.flex - r0.flex);
                    m.peak = m.peak.max(if body.ankle {
                        (r0.leg.transpose() * k.leg).angle().to_degrees()
                    } else {
                        d.abs()
                    });
                }
                m
            })
            .collect();
        let mut full: Vec<f64> = set
            .reps
            .iter()
            .zip(&ms)
            .filter(|(r, _)| r.comp != Some(FlagKind::PartialRange))
            .map(|(_, m)| m.peak)
            .collect();
        full.sort_by(|a, b| a.total_cmp(b));
        let working = full.get(full.len() / 2).copied().unwrap_or(0.0);
        let reps: Vec<TruthRep> = set
            .reps
            .iter()
            .zip(&ms)
            .map(|(r, m)| {
                let mut flags = Vec::new();
                // The hitch's own drop is not half of a rocking.
                let sway = m.hi >= 5.0 && m.lo <= -5.0 && e != Exercise::HipHitch;
                for &k in allowed {
                    let v = match k {
                        FlagKind::TrunkSway if sway => Some(m.hi.min(-m.lo)),
                        FlagKind::HipHike if !sway && m.t_hi >= 0.15 => Some(m.hi),
                        FlagKind::PelvicDrop
                            if !sway && m.t_lo >= 0.15 && e != Exercise::HipHitch =>
                        {
                            Some(-m.lo)
                        }
                        FlagKind::Momentum if r.comp == Some(FlagKind::Momentum) => Some(m.peak),
                        FlagKind::PartialRange if working > 0.0 && m.peak <= 0.7 * working => {
                            Some(working - m.peak)
                        }
                        FlagKind::HipFlexionDrift if m.flex >= 10.0 => Some(m.flex),
                        _ => None,
                    };
                    if let Some(value_deg) = v {
                        flags.push(TruthFlag { kind: k, value_deg });
                    }
                }
                TruthRep {
                    start_s: r.start,
                    end_s: r.end,
                    peak_deg: m.peak,
                    flags,
                }
            })
            .collect();
        out.push(TruthSet {
            start_s: first.start,
            end_s: set.reps.last().map(|r| r.end).unwrap_or(first.start),
            rep_count: reps.len(),
            reps,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::sim::SimModel;
    use crate::Side;

    fn cfg(e: Exercise, p: Placement) -> SimConfig {
        let mut c = SimConfig::new(e, p, Side::Right);
        c.model = SimModel::Class;
        c.sets = 2;
        c.reps_min = 4;
        c.reps_max = 6;
        c.rate_hz = 50.0;
        c.rest_min_s = 12.0;
        c.rest_max_s = 20.0;
        c
    }

    fn clean(mut c: SimConfig) -> SimConfig {
        c.noise = 0.0;
        c.gyro_bias_dps = 0.0;
        c.drop_rate = 0.0;
        c.gaps_per_min = 0.0;
        c.walking = false;
        c.fidgets = false;
        c.compensations.clear();
        c.compensation_rate = 0.0;
        c
    }

    fn valid_pairs() -> Vec<(Exercise, Placement)> {
        let mut v = Vec::new();
        for &e in Exercise::ALL {
            for &p in Placement::ALL {
                if cfg(e, p).validate().is_ok() {
                    v.push((e, p));
                }
            }
        }
        v
    }

    /// Orientation change (deg) integrated from the gyro between `t0` and each sample up to `t1`.
    fn integrate(samples: &[Sample], t0: f64, t1: f64) -> Vec<(f64, f64)> {
        let mut q = UnitQuaternion::identity();
        let mut out = Vec::new();
        let mut prev: Option<&Sample> = None;
        for s in samples.iter().filter(|s| s.t >= t0 && s.t <= t1) {
            if let Some(p) = prev {
                let w = (p.gyr + s.gyr) * 0.5 * (s.t - p.t);
                q *= UnitQuaternion::from_scaled_axis(w.map(|x| x.to_radians()));
            }
            out.push((s.t, q.angle().to_degrees()));
            prev = Some(s);
        }
        out
    }

    #[test]
    fn every_exercise_and_placement_builds_with_honest_truth() {
        let pairs = valid_pairs();
        assert!(pairs.len() >= 4, "{pairs:?}");
        for (e, p) in pairs {
            for seed in 1..4 {
                let mut c = cfg(e, p);
                c.seed = seed;
                c.compensation_rate = 0.5;
                let (mut sim, truth) = ClassSimulator::new(&c).unwrap();
                assert_eq!(truth.sets.len(), c.sets, "{e} {p}");
                let visible = c.visible_compensations();
                for (i, s) in truth.sets.iter().enumerate() {
                    assert!((c.reps_min..=c.reps_max).contains(&s.rep_count), "{e} {p}");
                    assert_eq!(s.rep_count, s.reps.len());
                    for r in &s.reps {
                        assert!(r.end_s > r.start_s && r.peak_deg.is_finite());
                        for f in &r.flags {
                            assert!(visible.contains(&f.kind), "{e} {p} {:?}", f.kind);
                            let pelvis_kind = matches!(
                                f.kind,
                                FlagKind::HipHike | FlagKind::PelvicDrop | FlagKind::TrunkSway
                            );
                            assert_eq!(pelvis_kind, p == Placement::Pelvis);
                            assert!(f.value_deg > 0.0);
                        }
                    }
                    for w in s.reps.windows(2) {
                        assert!(w[1].start_s >= w[0].end_s);
                        assert!(w[1].start_s - w[0].end_s < 10.0);
                    }
                    if i > 0 {
                        let rest = s.start_s - truth.sets[i - 1].end_s;
                        assert!(
                            rest >= c.rest_min_s - 1e-9 && rest <= c.rest_max_s + 0.5,
                            "{rest}"
                        );
                    }
                }
                assert!(sim.by_ref().take(300).all(|s| s.is_finite()));
            }
        }
    }

    #[test]
    fn still_lead_in_reads_gravity_and_no_rotation() {
        for p in [Placement::Ankle, Placement::Pelvis] {
            let mut c = clean(cfg(Exercise::StandingCableAbduction, p));
            c.lead_in_s = Some(3.0);
            let (sim, truth) = ClassSimulator::new(&c).unwrap();
            assert!((truth.sets[0].start_s - 3.0).abs() < 1e-9);
            for s in sim.take_while(|s| s.t < 2.8) {
                assert!(
                    (s.acc.norm() - STANDARD_GRAVITY).abs() < 0.1,
                    "{}",
                    s.acc.norm()
                );
                assert!(s.gyr.norm() < 2.0, "{}", s.gyr.norm());
            }
        }
    }

    #[test]
    fn reps_return_to_neutral_and_peaks_match_the_gyro() {
        for seed in 1..4 {
            let mut c = clean(cfg(Exercise::SideLyingAbduction, Placement::Ankle));
            c.seed = seed;
            c.rate_hz = 100.0;
            c.sets = 1;
            let (sim, truth) = ClassSimulator::new(&c).unwrap();
            let v: Vec<Sample> = sim.collect();
            let set = &truth.sets[0];
            let t_ref = set.start_s - 0.05;
            for r in &set.reps {
                let rep = integrate(&v, r.start_s, r.end_s);
                let back = rep.last().map(|x| x.1).unwrap_or(0.0);
                assert!(
                    back < 3.0,
                    "seed {seed}: rep ends {back} deg from its start"
                );
                let from_rest = integrate(&v, t_ref, r.end_s);
                let peak = from_rest
                    .iter()
                    .filter(|x| x.0 >= r.start_s)
                    .map(|x| x.1)
                    .fold(0.0, f64::max);
                assert!(
                    (peak - r.peak_deg).abs() < 4.0,
                    "seed {seed}: gyro {peak} vs truth {}",
                    r.peak_deg
                );
            }
        }
    }

    #[test]
    fn timestamps_rise_at_the_asked_rate() {
        for rate in [25.0, 100.0] {
            let mut c = cfg(Exercise::StandingCableAbduction, Placement::Pelvis);
            c.rate_hz = rate;
            c.drop_rate = 0.0;
            c.gaps_per_min = 0.0;
            let (sim, truth) = ClassSimulator::new(&c).unwrap();
            let v: Vec<Sample> = sim.collect();
            assert!(v.windows(2).all(|w| w[1].t >= w[0].t));
            let span = v.last().unwrap().t - v[0].t;
            let r = (v.len() - 1) as f64 / span;
            assert!((r / rate - 1.0).abs() < 0.05, "{r}");
            assert!((truth.duration_s - v.last().unwrap().t).abs() < 0.1);
        }
    }

    #[test]
    fn bad_config_is_an_error() {
        let mut c = cfg(Exercise::StandingCableAbduction, Placement::Ankle);
        c.reps_min = 9;
        c.reps_max = 3;
        assert!(ClassSimulator::new(&c).is_err());
        let mut c = cfg(Exercise::StandingCableAbduction, Placement::Ankle);
        c.rate_hz = 1.0;
        assert!(ClassSimulator::new(&c).is_err());
        let mut c = cfg(Exercise::StandingCableAbduction, Placement::Ankle);
        c.lead_in_s = Some(-1.0);
        assert!(ClassSimulator::new(&c).is_err());
        let c = cfg(Exercise::HipHitch, Placement::Ankle);
        assert!(ClassSimulator::new(&c).is_err());
    }

    #[test]
    fn abandoned_lifts_are_distractions_not_reps() {
        let mut found = 0;
        for seed in 1..80 {
            let mut c = cfg(Exercise::StandingCableAbduction, Placement::Ankle);
            c.seed = seed;
            c.sets = 3;
            c.reps_min = 8;
            c.reps_max = 12;
            let (_, truth) = ClassSimulator::new(&c).unwrap();
            for d in truth
                .distractions
                .iter()
                .filter(|d| d.contains("abandoned"))
            {
                let span = d.rsplit("at ").next().unwrap().trim_end_matches(" s");
                let (a, b) = span.split_once('-').unwrap();
                let (a, b): (f64, f64) = (a.parse().unwrap(), b.parse().unwrap());
                found += 1;
                for r in truth.sets.iter().flat_map(|s| &s.reps) {
                    assert!(
                        r.end_s <= a + 0.05 || r.start_s >= b - 0.05,
                        "{d} overlaps a rep"
                    );
                }
            }
        }
        assert!(found > 0);
    }
}
