//! A whole lower-body workout with the sensor left on.
//!
//! The lifter straps the sensor on for the abduction sets and never takes it
//! off: the glute session around them goes into the recording too. Warm-ups
//! (band walks, clamshells, fire hydrants, bridges, a walk), and between the
//! sets squats, split squats and lunges, step-ups, hinges, calf raises,
//! kickbacks, sitting on a bench, walking to the next station; supersets
//! done a few seconds before or after a set; a finisher done fast to failure
//! with shrinking range. Every activity that is not an abduction rep is a
//! distraction in the truth, with its span.
//!
//! Mechanics: a keyframe animation. Every degree of freedom of a lower-body
//! skeleton (heading, root position, posture, pelvic obliquity, tilt and
//! twist, a whole-body lean over the stance foot, the working hip's three
//! rotations plus a horizontal abduction, the knee, a planted-foot anchor)
//! is one scalar track of keys. Each activity writes keys; the tracks are
//! interpolated by Kochanek–Bartels cubic Hermite splines whose tension and
//! bias are the lifter's smoothness, with key timing and value fractions
//! giving their tempo asymmetry. Forward kinematics (stance hip → pelvis →
//! working hip → thigh → shank, or from a planted working foot up) gives the
//! sensor's pose; specific force and angular rate are central differences
//! of that pose at a 2 ms step, plus foot-strike impacts; then the sensor's
//! own errors (bias and its drift, scale, misalignment, noise, quantisation,
//! saturation), drops and 200 ms gaps.
//!
//! The truth is measured on the body: a rep's peak is the sensor's largest
//! rotation from its pose at rest before the set (ankle) or the largest
//! change of the pelvis' obliquity (pelvis); flag sizes are read off the
//! tracks the same way.
//!
//! Everything is drawn from one seeded ChaCha8 stream.

use super::round3;
use super::sim::{SimConfig, Truth, TruthFlag, TruthRep, TruthSet};
use crate::motion::FlagKind;
use crate::sample::STANDARD_GRAVITY;
use crate::{Exercise, Placement, Sample};
use nalgebra::{Matrix3, Rotation3, UnitQuaternion, Vector3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

// ---------------------------------------------------------------------------
// Channels: one keyframe track each.

/// Heading, ° (0: facing world +Y).
const PSI: usize = 0;
/// Root (stance hip) world position, m.
const PX: usize = 1;
const PY: usize = 2;
const PZ: usize = 3;
/// Posture pitch, ° forward (quadruped +90, supine −90, seated −10).
const POSE_P: usize = 4;
/// Posture roll about the back axis, ° (side-lying: working side up).
const POSE_Q: usize = 5;
/// Pelvic obliquity, ° (+: free side up), anatomical.
const OBL: usize = 6;
/// Pelvic tilt, ° anterior.
const TILT: usize = 7;
/// Pelvic twist about its long axis, °.
const TWIST: usize = 8;
/// Whole-body lean toward the stance side, °.
const LEAN: usize = 9;
/// Working hip abduction, flexion, rotation and horizontal abduction (°), knee flexion (°).
const ABD: usize = 10;
const FLEX: usize = 11;
const ROT: usize = 12;
const HABD: usize = 13;
const KNEE: usize = 14;
/// 0..1: the working foot is planted at the anchor.
const PLANT: usize = 15;
const AX: usize = 16;
const AY: usize = 17;
const AZ: usize = 18;
/// Additive postural noise: obliquity, lean, twist (°), abduction tremor (°), lateral shift (m).
const N_OBL: usize = 19;
const N_LEAN: usize = 20;
const N_TWIST: usize = 21;
const N_ABD: usize = 22;
const N_LAT: usize = 23;
const NCH: usize = 24;

type Channels = [f64; NCH];

// ---------------------------------------------------------------------------
// Keyframe tracks.

#[derive(Debug, Clone, Copy)]
struct Key {
    t: f64,
    v: f64,
    /// Zero velocity here (a rest, a turning point); otherwise the spline passes through.
    still: bool,
    /// The speed of the move this key is the middle of (units/s), if it
    /// is one: a bell-shaped move peaks there instead of slowing down.
    speed: Option<f64>,
}

#[derive(Debug, Clone, Default)]
struct Track {
    keys: Vec<Key>,
    vel: Vec<f64>,
}

impl Track {
    fn push(&mut self, k: Key) {
        if let Some(last) = self.keys.last_mut() {
            if k.t <= last.t + 1e-4 {
                // Same instant (or a builder that went back): the newer key wins.
                last.v = k.v;
                last.still = k.still || last.still;
                last.speed = k.speed;
                return;
            }
        }
        self.keys.push(k);
    }

    /// Kochanek–Bartels velocities (continuity 0) for the pass keys.
    fn finish(&mut self, tension: f64, bias: f64) {
        let n = self.keys.len();
        self.vel = (0..n)
            .map(|i| {
                let k = self.keys[i];
                if k.still || i == 0 || i + 1 == n {
                    return 0.0;
                }
                if let Some(speed) = k.speed {
                    // A tense lifter moves a little slower through the middle.
                    return speed * (1.0 - 0.3 * tension);
                }
                let (a, c) = (self.keys[i - 1], self.keys[i + 1]);
                let s0 = (k.v - a.v) / (k.t - a.t);
                let s1 = (c.v - k.v) / (c.t - k.t);
                (1.0 - tension) * (0.5 * (1.0 + bias) * s0 + 0.5 * (1.0 - bias) * s1)
            })
            .collect();
    }

    fn eval(&self, t: f64) -> f64 {
        let n = self.keys.len();
        if n == 0 {
            return 0.0;
        }
        let i = self.keys.partition_point(|k| k.t <= t);
        if i == 0 {
            return self.keys[0].v;
        }
        if i == n {
            return self.keys[n - 1].v;
        }
        let (a, b) = (self.keys[i - 1], self.keys[i]);
        let dt = b.t - a.t;
        let u = (t - a.t) / dt;
        // Quintic Hermite with no acceleration at the keys: the body's
        // acceleration stays continuous (between two still keys this is a
        // minimum-jerk move).
        let (u3, u4, u5) = (u * u * u, u * u * u * u, u * u * u * u * u);
        let s = 10.0 * u3 - 15.0 * u4 + 6.0 * u5;
        (1.0 - s) * a.v
            + (u - 6.0 * u3 + 8.0 * u4 - 3.0 * u5) * dt * self.vel[i - 1]
            + s * b.v
            + (-4.0 * u3 + 7.0 * u4 - 3.0 * u5) * dt * self.vel[i]
    }
}

/// How far along a move is at time fraction `m` of it: a minimum-jerk
/// move's share plus the lifter's lead (`k` > 0: fast start, slow finish).
fn along(m: f64, k: f64) -> f64 {
    let m = m.clamp(0.0, 1.0);
    (m * m * m * (10.0 - 15.0 * m + 6.0 * m * m) + k).clamp(0.1, 0.9)
}

// ---------------------------------------------------------------------------
// The skeleton.

fn rx(deg: f64) -> Rotation3<f64> {
    Rotation3::from_axis_angle(&Vector3::x_axis(), deg.to_radians())
}
fn ry(deg: f64) -> Rotation3<f64> {
    Rotation3::from_axis_angle(&Vector3::y_axis(), deg.to_radians())
}
fn rz(deg: f64) -> Rotation3<f64> {
    Rotation3::from_axis_angle(&Vector3::z_axis(), deg.to_radians())
}

/// The lifter's build and how the sensor sits on them.
#[derive(Debug, Clone)]
struct Skeleton {
    thigh: f64,
    shank: f64,
    /// Half the distance between the hip joints, m.
    hip_half: f64,
    /// Stance hip height standing, m.
    height: f64,
    /// +1 right, −1 left: the working leg.
    ws: f64,
    /// +1 right, −1 left: the free side (obliquity sign).
    fs: f64,
    ankle_mount: Rotation3<f64>,
    ankle_offset: Vector3<f64>,
    pelvis_mount: Rotation3<f64>,
    pelvis_offset: Vector3<f64>,
}

/// Where the body is at one instant.
#[derive(Debug, Clone, Copy)]
struct Pose {
    sacrum: Vector3<f64>,
    sacrum_rot: Rotation3<f64>,
    ankle: Vector3<f64>,
    ankle_rot: Rotation3<f64>,
    /// The working ankle joint (not the sensor), for planting.
    ankle_joint: Vector3<f64>,
    /// How far planting moved the body, m.
    plant_shift: Vector3<f64>,
}

impl Skeleton {
    fn fk(&self, c: &Channels) -> Pose {
        let psi = c[PSI].to_radians();
        let (s, co) = psi.sin_cos();
        // Columns: right, up, back of a lifter standing with heading psi.
        let base =
            Rotation3::from_matrix_unchecked(Matrix3::new(co, 0.0, s, s, 0.0, -co, 0.0, 1.0, 0.0));
        let lean = c[LEAN] + c[N_LEAN];
        let obl = c[OBL] + c[N_OBL];
        let r_pel = base
            * rx(-c[POSE_P])
            * rz(c[POSE_Q])
            * rz(-self.fs * lean)
            * ry(c[TWIST] + c[N_TWIST])
            * rz(self.fs * obl)
            * rx(-c[TILT]);
        let upright = (c[POSE_P].to_radians().cos() * c[POSE_Q].to_radians().cos()).max(0.0);
        let right = Vector3::new(co, s, 0.0);
        // Leaning over the stance foot carries the hips toward the stance side.
        let shift = upright * (-self.fs * self.height * lean.to_radians().sin() + c[N_LAT]);
        let hip_stance = Vector3::new(c[PX], c[PY], c[PZ]) + right * shift;
        let centre = hip_stance + r_pel * Vector3::new(self.fs * self.hip_half, 0.0, 0.0);
        let hip_work = centre + r_pel * Vector3::new(self.ws * self.hip_half, 0.0, 0.0);
        let r_th = r_pel
            * ry(-self.ws * c[HABD])
            * rz(self.ws * (c[ABD] + c[N_ABD]))
            * rx(c[FLEX])
            * ry(self.ws * c[ROT]);
        let r_sh = r_th * rx(-c[KNEE]);
        let ankle_joint = hip_work
            + r_th * Vector3::new(0.0, -self.thigh, 0.0)
            + r_sh * Vector3::new(0.0, -self.shank, 0.0);
        let plant = c[PLANT].clamp(0.0, 1.0);
        let d = plant * (Vector3::new(c[AX], c[AY], c[AZ]) - ankle_joint);
        let sensor_on_shank = Vector3::new(0.0, 0.12, 0.0) + self.ankle_offset;
        Pose {
            sacrum: centre + d + r_pel * self.pelvis_offset,
            sacrum_rot: r_pel * self.pelvis_mount,
            ankle: ankle_joint + d + r_sh * sensor_on_shank,
            ankle_rot: r_sh * self.ankle_mount,
            ankle_joint: ankle_joint + d,
            plant_shift: d,
        }
    }
}

// ---------------------------------------------------------------------------
// The lifter.

/// How this lifter moves today: their abduction range and tempo, and the
/// style of every movement (smoothness, asymmetry), and how the pelvis goes
/// along with the leg.
#[derive(Debug, Clone)]
struct Lifter {
    /// Abduction range (°; hip hitch: pelvic drop).
    range: f64,
    up: f64,
    hold: f64,
    down: f64,
    bottom: f64,
    /// Spline tension and bias (the lifter's smoothness).
    tension: f64,
    bias: f64,
    /// Where in time the mid key of a rise and a return sits (0..1), and how far it is.
    mid_up: f64,
    skew_up: f64,
    mid_down: f64,
    skew_down: f64,
    hold_prob: f64,
    slow_ecc_prob: f64,
    pause_prob: f64,
    short_prob: f64,
    /// Range lost over a set (share) and tempo slowing over a set (share).
    fatigue: f64,
    drift: f64,
    /// Obliquity with the leg on a clean rep (°), lean over the stance foot (°), twist (°).
    obl_gain: f64,
    lean_gain: f64,
    twist_gain: f64,
    /// Hip flexion that creeps into a clean rep, °.
    flex_bias: f64,
    /// Postural sway, °.
    sway: f64,
    /// Pace of everything else (1 = typical).
    pace: f64,
}

impl Lifter {
    fn draw(rng: &mut ChaCha8Rng, exercise: Exercise) -> Lifter {
        let range = match exercise {
            Exercise::StandingCableAbduction => rng.gen_range(24.0..44.0),
            Exercise::SideLyingAbduction => rng.gen_range(28.0..48.0),
            Exercise::SeatedMachineAbduction => rng.gen_range(18.0..38.0),
            _ => rng.gen_range(5.5..11.5),
        };
        Lifter {
            range,
            up: rng.gen_range(0.6..1.4),
            hold: if rng.gen_bool(0.5) {
                rng.gen_range(0.0..0.25)
            } else {
                rng.gen_range(0.25..0.9)
            },
            down: rng.gen_range(0.9..2.4),
            bottom: rng.gen_range(0.1..0.9),
            tension: rng.gen_range(-0.2..0.4),
            bias: rng.gen_range(-0.3..0.3),
            mid_up: rng.gen_range(0.35..0.65),
            skew_up: rng.gen_range(-0.12..0.12),
            mid_down: rng.gen_range(0.35..0.65),
            skew_down: rng.gen_range(-0.12..0.12),
            hold_prob: rng.gen_range(0.0..0.15),
            slow_ecc_prob: rng.gen_range(0.0..0.2),
            pause_prob: rng.gen_range(0.0..0.1),
            short_prob: rng.gen_range(0.0..0.12),
            fatigue: rng.gen_range(0.0..0.1),
            drift: rng.gen_range(-0.05..0.25),
            obl_gain: rng.gen_range(0.5..3.0),
            lean_gain: rng.gen_range(0.0..2.0),
            twist_gain: rng.gen_range(0.5..3.0),
            flex_bias: rng.gen_range(0.0..5.0),
            sway: rng.gen_range(0.3..1.0),
            pace: rng.gen_range(0.8..1.25),
        }
    }
}

// ---------------------------------------------------------------------------
// Planning: activities write keys.

/// What the lifter set out to do on a rep.
#[derive(Debug, Clone)]
struct RepPlan {
    t0: f64,
    t1: f64,
    /// The compensation done on purpose (or by habit) on this rep.
    intent: Option<FlagKind>,
    /// A finisher rep (range shrinks to failure).
    finisher: bool,
}

#[derive(Debug, Clone, Copy)]
struct Impact {
    t: f64,
    /// Peak vertical jolt felt at the ankle and at the sacrum, m/s².
    ankle: f64,
    pelvis: f64,
}

const IMPACT_S: f64 = 0.04;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Posture {
    Standing,
    OnStep,
    Kneeling,
    SideLying,
    Clamshell,
    Quadruped,
    Supine,
    Seated,
}

struct Builder<'a> {
    cfg: &'a SimConfig,
    rng: ChaCha8Rng,
    sk: Skeleton,
    lifter: Lifter,
    tracks: Vec<Track>,
    cur: Channels,
    t: f64,
    posture: Posture,
    impacts: Vec<Impact>,
    distractions: Vec<(String, f64, f64)>,
    sets: Vec<Vec<RepPlan>>,
    /// Kinds the lifter may do.
    repertoire: Vec<FlagKind>,
}

impl Builder<'_> {
    fn key(&mut self, ch: usize, t: f64, v: f64, still: bool) {
        self.tracks[ch].push(Key {
            t,
            v,
            still,
            speed: None,
        });
        self.cur[ch] = v;
    }

    /// The middle key of a move from `from` to `to` over `dur`, at time
    /// fraction `m`: passes at a minimum-jerk move's speed there.
    #[allow(clippy::too_many_arguments)]
    fn mid_key(&mut self, ch: usize, t0: f64, dur: f64, m: f64, from: f64, to: f64, lead: f64) {
        let speed = (to - from) / dur * 30.0 * m * m * (1.0 - m) * (1.0 - m);
        let v = from + (to - from) * along(m, lead);
        self.tracks[ch].push(Key {
            t: t0 + m * dur,
            v,
            still: false,
            speed: Some(speed),
        });
        self.cur[ch] = v;
    }

    /// Pins the channels where they are, now.
    fn hold(&mut self, chans: &[usize]) {
        for &ch in chans {
            let v = self.cur[ch];
            self.key(ch, self.t, v, true);
        }
    }

    /// A point-to-point move of some channels over `dur`, in the lifter's style.
    fn go(&mut self, dur: f64, targets: &[(usize, f64)]) {
        let t0 = self.t;
        let (m, k) = (self.lifter.mid_up, self.lifter.skew_up);
        for &(ch, v) in targets {
            let a = self.cur[ch];
            self.key(ch, t0, a, true);
            if (v - a).abs() > 1e-9 && dur > 0.3 {
                self.mid_key(ch, t0, dur, m, a, v, k);
            }
            self.key(ch, t0 + dur, v, true);
        }
        self.t = t0 + dur;
    }

    fn wait(&mut self, dur: f64) {
        self.t += dur;
    }

    fn label(&mut self, what: &str, t0: f64) {
        let t1 = self.t;
        self.distractions.push((what.to_string(), t0, t1));
    }

    fn r(&mut self, lo: f64, hi: f64) -> f64 {
        if hi > lo {
            self.rng.gen_range(lo..hi)
        } else {
            lo
        }
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p.clamp(0.0, 1.0))
    }

    /// The channel values of a posture at rest.
    fn posture_targets(&self, p: Posture) -> Vec<(usize, f64)> {
        let sk = &self.sk;
        let (pp, q, z, flex, knee, tilt) = match p {
            Posture::Standing => (0.0, 0.0, sk.height, 0.0, 0.0, 0.0),
            Posture::OnStep => (0.0, 0.0, sk.height + 0.2, 0.0, 0.0, 0.0),
            Posture::Kneeling => (15.0, 0.0, sk.thigh + 0.08, 10.0, 90.0, 0.0),
            Posture::SideLying => (0.0, sk.ws * 90.0, 0.1, 8.0, 3.0, 0.0),
            Posture::Clamshell => (0.0, sk.ws * 90.0, 0.1, 45.0, 90.0, 0.0),
            Posture::Quadruped => (90.0, 0.0, sk.thigh + 0.08, 90.0, 90.0, 0.0),
            Posture::Supine => (-90.0, 0.0, 0.1, 50.0, 100.0, 0.0),
            Posture::Seated => (-10.0, 0.0, 0.48, 90.0, 90.0, 0.0),
        };
        vec![
            (POSE_P, pp),
            (POSE_Q, q),
            (PZ, z),
            (FLEX, flex),
            (KNEE, knee),
            (TILT, tilt),
            (ABD, 0.0),
            (HABD, 0.0),
            (ROT, 0.0),
            (OBL, 0.0),
            (LEAN, 0.0),
            (TWIST, 0.0),
        ]
    }

    /// Moves into a posture (through kneeling when getting down or up).
    fn posture(&mut self, p: Posture) {
        if p == self.posture {
            return;
        }
        let low = |p: Posture| {
            matches!(
                p,
                Posture::SideLying | Posture::Clamshell | Posture::Quadruped | Posture::Supine
            )
        };
        let high = |p: Posture| matches!(p, Posture::Standing | Posture::OnStep | Posture::Seated);
        if (low(p) && high(self.posture)) || (high(p) && low(self.posture)) {
            let d = self.r(1.0, 1.8) / self.lifter.pace;
            let k = self.posture_targets(Posture::Kneeling);
            self.go(d, &k);
            self.posture = Posture::Kneeling;
            let w = self.r(0.2, 0.8);
            self.wait(w);
        }
        let d = match (self.posture, p) {
            (Posture::SideLying, Posture::Clamshell) | (Posture::Clamshell, Posture::SideLying) => {
                self.r(0.8, 1.4)
            }
            (Posture::Standing, Posture::OnStep) | (Posture::OnStep, Posture::Standing) => {
                self.r(0.8, 1.2)
            }
            _ => self.r(1.2, 2.5),
        } / self.lifter.pace;
        let k = self.posture_targets(p);
        self.go(d, &k);
        self.posture = p;
    }

    fn plant_begin(&mut self) {
        let a = self.sk.fk(&self.cur).ankle_joint;
        self.key(AX, self.t, a.x, true);
        self.key(AY, self.t, a.y, true);
        self.key(AZ, self.t, a.z, true);
        self.go(0.2, &[(PLANT, 1.0)]);
    }

    fn plant_end(&mut self) {
        // The anchor stays put until the foot is free again.
        self.hold(&[AX, AY, AZ]);
        let d = self.sk.fk(&self.cur).plant_shift;
        let (x, y, z) = (self.cur[PX] + d.x, self.cur[PY] + d.y, self.cur[PZ] + d.z);
        self.key(PX, self.t, x, true);
        self.key(PY, self.t, y, true);
        self.key(PZ, self.t, z, true);
        self.go(0.2, &[(PLANT, 0.0)]);
        self.hold(&[AX, AY, AZ]);
    }

    fn forward(&self) -> Vector3<f64> {
        let psi = self.cur[PSI].to_radians();
        Vector3::new(-psi.sin(), psi.cos(), 0.0)
    }

    fn right(&self) -> Vector3<f64> {
        let psi = self.cur[PSI].to_radians();
        Vector3::new(psi.cos(), psi.sin(), 0.0)
    }

    /// One rep-shaped excursion of several channels: rise, hold, return.
    /// `deltas` are the changes at the top. Returns the end time.
    #[allow(clippy::too_many_arguments)]
    fn excursion(
        &mut self,
        t0: f64,
        up: f64,
        hold: f64,
        down: f64,
        sag: f64,
        deltas: &[(usize, f64)],
    ) -> f64 {
        let l = &self.lifter;
        let (mu, ku, md, kd) = (l.mid_up, l.skew_up, l.mid_down, l.skew_down);
        for &(ch, d) in deltas {
            let a = self.cur[ch];
            self.key(ch, t0, a, true);
            self.mid_key(ch, t0, up, mu, a, a + d, ku);
            self.key(ch, t0 + up, a + d, true);
            let top = a + d * sag;
            if hold > 0.05 {
                self.key(ch, t0 + up + hold, top, true);
            }
            self.mid_key(ch, t0 + up + hold, down, md, top, a, kd);
            self.key(ch, t0 + up + hold + down, a, true);
        }
        t0 + up + hold + down
    }

    /// `n` reps of another exercise: each an excursion of `deltas` with some
    /// jitter in tempo and depth.
    fn cycle(
        &mut self,
        n: usize,
        up: f64,
        hold: f64,
        down: f64,
        gap: f64,
        deltas: &[(usize, f64)],
    ) {
        for _ in 0..n {
            let j = self.r(0.85, 1.15);
            let depth = self.r(0.88, 1.08);
            let d: Vec<(usize, f64)> = deltas.iter().map(|&(c, v)| (c, v * depth)).collect();
            let t0 = self.t;
            let end = self.excursion(t0, up * j, hold * j, down * j, 1.0, &d);
            self.t = end + gap * self.r(0.6, 1.4);
        }
    }

    fn reps_fit(&mut self, lo: usize, hi: usize, per_rep: f64, budget: f64) -> usize {
        let n = self.rng.gen_range(lo..=hi);
        n.min((budget / per_rep).floor().max(0.0) as usize)
    }

    // -- activities -------------------------------------------------------

    fn stand_still(&mut self, dur: f64) {
        self.wait(dur);
    }

    fn walk(&mut self, dur: f64, turn: bool) {
        self.posture(Posture::Standing);
        let t0 = self.t;
        let cadence = self.r(1.7, 2.0);
        let speed = self.r(0.9, 1.3);
        let step = 1.0 / cadence;
        let n = ((dur * cadence) as usize).max(2);
        let fwd = self.forward();
        let start = Vector3::new(self.cur[PX], self.cur[PY], self.cur[PZ]);
        self.hold(&[PX, PY, PZ, FLEX, KNEE, LEAN, TWIST]);
        let z0 = self.cur[PZ];
        let first_work = self.rng.gen_bool(0.5);
        for k in 0..n {
            let ts = t0 + 0.4 + k as f64 * step;
            let ramp = ((k as f64 + 1.0) / 2.0).min(1.0).min((n - k) as f64 / 2.0);
            let dist = speed * (ts - t0 - 0.25).max(0.0);
            let p = start + fwd * dist;
            self.key(PX, ts, p.x, false);
            self.key(PY, ts, p.y, false);
            self.key(PZ, ts, z0 - 0.012 * ramp, false);
            self.key(PZ, ts + 0.5 * step, z0 + 0.018 * ramp, false);
            let work = (k % 2 == 0) == first_work;
            let jolt = self.r(0.3, 0.6) * STANDARD_GRAVITY * ramp;
            if work {
                // Working heel strikes: the shank swings through a stride.
                self.key(FLEX, ts, 22.0 * ramp, false);
                self.key(KNEE, ts, 5.0 * ramp, false);
                self.key(FLEX, ts + 0.5 * step, 5.0 * ramp, false);
                self.key(KNEE, ts + 0.5 * step, 15.0 * ramp, false);
                self.key(LEAN, ts + 0.5 * step, -2.0 * ramp, false);
                self.key(TWIST, ts + 0.5 * step, 4.0 * ramp, false);
                let a = self.r(1.5, 3.0) * STANDARD_GRAVITY * ramp;
                self.impacts.push(Impact {
                    t: ts,
                    ankle: a,
                    pelvis: jolt,
                });
            } else {
                self.key(FLEX, ts, -12.0 * ramp, false);
                self.key(KNEE, ts, 35.0 * ramp, false);
                self.key(FLEX, ts + 0.5 * step, 12.0 * ramp, false);
                self.key(KNEE, ts + 0.5 * step, 60.0 * ramp, false);
                self.key(LEAN, ts + 0.5 * step, 2.0 * ramp, false);
                self.key(TWIST, ts + 0.5 * step, -4.0 * ramp, false);
                self.impacts.push(Impact {
                    t: ts,
                    ankle: 0.15 * STANDARD_GRAVITY * ramp,
                    pelvis: jolt,
                });
            }
        }
        self.t = t0 + 0.4 + n as f64 * step + 0.3;
        let p = start + fwd * speed * (self.t - t0 - 0.45);
        let t = self.t;
        self.key(PX, t, p.x, true);
        self.key(PY, t, p.y, true);
        self.key(PZ, t, z0, true);
        for ch in [FLEX, KNEE, LEAN, TWIST] {
            self.key(ch, t, 0.0, true);
        }
        if turn {
            let d = self.r(1.1, 1.8);
            let a = if self.rng.gen_bool(0.5) {
                180.0
            } else {
                -180.0
            };
            let psi = self.cur[PSI] + a;
            let t1 = self.t;
            self.key(FLEX, t1 + 0.3 * d, 12.0, false);
            self.key(KNEE, t1 + 0.3 * d, 25.0, false);
            self.key(FLEX, t1 + 0.6 * d, 0.0, true);
            self.key(KNEE, t1 + 0.6 * d, 0.0, true);
            self.go(d, &[(PSI, psi)]);
        }
        self.label(if turn { "walk and turn" } else { "walk" }, t0);
    }

    fn turn(&mut self, angle: f64) {
        let t0 = self.t;
        let d = self.r(0.9, 1.5);
        let psi = self.cur[PSI] + angle;
        let t1 = self.t;
        self.key(FLEX, t1 + 0.4 * d, 10.0, false);
        self.key(KNEE, t1 + 0.4 * d, 20.0, false);
        self.key(FLEX, t1 + 0.8 * d, 0.0, true);
        self.key(KNEE, t1 + 0.8 * d, 0.0, true);
        self.go(d, &[(PSI, psi)]);
        self.label("turn", t0);
    }

    fn squats(&mut self, budget: f64) -> bool {
        let per = 2.6 / self.lifter.pace;
        let n = self.reps_fit(8, 15, per + 0.4, budget - 2.0);
        if n < 3 {
            return false;
        }
        self.posture(Posture::Standing);
        let t0 = self.t;
        self.plant_begin();
        let depth = self.r(0.7, 1.0);
        let down = self.r(1.0, 1.6) / self.lifter.pace;
        let up = self.r(0.8, 1.2) / self.lifter.pace;
        // Descent first: the excursion's "rise" is the way down.
        self.cycle(
            n,
            down,
            0.1,
            up,
            0.3,
            &[
                (TILT, 30.0 * depth),
                (FLEX, 110.0 * depth),
                (KNEE, 105.0 * depth),
            ],
        );
        self.plant_end();
        self.label("squats", t0);
        true
    }

    fn hinges(&mut self, budget: f64) -> bool {
        let per = 3.2 / self.lifter.pace;
        let n = self.reps_fit(6, 12, per + 0.4, budget - 2.0);
        if n < 3 {
            return false;
        }
        self.posture(Posture::Standing);
        let t0 = self.t;
        self.plant_begin();
        let depth = self.r(0.7, 1.0);
        self.cycle(
            n,
            1.6 / self.lifter.pace,
            0.2,
            1.2 / self.lifter.pace,
            0.4,
            &[(TILT, 70.0 * depth), (FLEX, 75.0 * depth), (KNEE, 20.0)],
        );
        self.plant_end();
        self.label("romanian deadlifts", t0);
        true
    }

    fn calf_raises(&mut self, budget: f64) -> bool {
        let per = 1.8 / self.lifter.pace;
        let n = self.reps_fit(12, 20, per + 0.2, budget);
        if n < 4 {
            return false;
        }
        self.posture(Posture::Standing);
        let t0 = self.t;
        self.cycle(
            n,
            0.7 / self.lifter.pace,
            0.3,
            0.8 / self.lifter.pace,
            0.15,
            &[(PZ, 0.07), (FLEX, -2.0), (TILT, 2.0)],
        );
        self.label("calf raises", t0);
        true
    }

    fn kickbacks(&mut self, budget: f64) -> bool {
        let per = 2.0 / self.lifter.pace;
        let n = self.reps_fit(10, 15, per + 0.3, budget);
        if n < 4 {
            return false;
        }
        self.posture(Posture::Standing);
        let t0 = self.t;
        let amp = self.r(20.0, 35.0);
        let knee = self.r(5.0, 30.0);
        if self.chance(0.7) {
            self.cycle(
                n,
                0.8 / self.lifter.pace,
                0.3,
                0.9 / self.lifter.pace,
                0.3,
                &[(FLEX, -amp), (KNEE, knee), (TILT, 4.0), (OBL, 1.0)],
            );
        } else {
            // The other leg kicks: the working leg stands and the body rocks over it.
            self.cycle(
                n,
                0.8 / self.lifter.pace,
                0.3,
                0.9 / self.lifter.pace,
                0.3,
                &[(TILT, 5.0), (KNEE, 5.0), (LEAN, -1.5), (OBL, -1.5)],
            );
        }
        self.label("kickbacks", t0);
        true
    }

    fn lunges(&mut self, budget: f64) -> bool {
        let per = 2.2 / self.lifter.pace;
        let n = self.reps_fit(8, 14, per + 0.3, budget);
        if n < 4 {
            return false;
        }
        self.posture(Posture::Standing);
        let t0 = self.t;
        let mut work = self.rng.gen_bool(0.5);
        let split = self.chance(0.4);
        let drop = self.r(0.28, 0.4);
        for _ in 0..n {
            let fwd = self.forward() * self.r(0.25, 0.35);
            let down = self.r(0.8, 1.1) / self.lifter.pace;
            let up = self.r(0.8, 1.1) / self.lifter.pace;
            let s = self.t;
            let deltas: Vec<(usize, f64)> = if work {
                vec![
                    (FLEX, 70.0),
                    (KNEE, 90.0),
                    (PZ, -drop),
                    (PX, fwd.x),
                    (PY, fwd.y),
                    (TILT, 5.0),
                    (OBL, -2.0),
                    (TWIST, 3.0),
                ]
            } else {
                vec![
                    (FLEX, -10.0),
                    (KNEE, 95.0),
                    (PZ, -drop),
                    (PX, fwd.x),
                    (PY, fwd.y),
                    (TILT, 8.0),
                    (OBL, 2.0),
                    (TWIST, -3.0),
                ]
            };
            let end = self.excursion(s, down, 0.15, up, 1.0, &deltas);
            let a = if work { self.r(1.5, 2.5) } else { 0.2 } * STANDARD_GRAVITY;
            let p = self.r(0.3, 0.6) * STANDARD_GRAVITY;
            self.impacts.push(Impact {
                t: s + 0.55 * down,
                ankle: a,
                pelvis: p,
            });
            self.t = end + self.r(0.1, 0.5);
            if !split {
                work = !work;
            }
        }
        self.label(if split { "split squats" } else { "lunges" }, t0);
        true
    }

    fn step_ups(&mut self, budget: f64) -> bool {
        let per = 3.0 / self.lifter.pace;
        let n = self.reps_fit(6, 12, per + 0.3, budget);
        if n < 3 {
            return false;
        }
        self.posture(Posture::Standing);
        let t0 = self.t;
        let boxh = self.r(0.3, 0.45);
        let mut work = self.rng.gen_bool(0.5);
        for _ in 0..n {
            let pace = self.lifter.pace;
            let fwd = self.forward() * 0.3;
            let (x, y, z) = (self.cur[PX], self.cur[PY], self.cur[PZ]);
            if work {
                // Foot onto the box, push up, stand, step down.
                let d = self.r(0.5, 0.7) / pace;
                self.go(
                    d,
                    &[
                        (FLEX, 70.0),
                        (KNEE, 90.0),
                        (TILT, 12.0),
                        (OBL, -3.0),
                        (TWIST, 3.0),
                    ],
                );
                let t = self.t;
                self.impacts.push(Impact {
                    t,
                    ankle: 1.2 * STANDARD_GRAVITY,
                    pelvis: 0.2 * STANDARD_GRAVITY,
                });
                let d = self.r(0.8, 1.1) / pace;
                self.go(
                    d,
                    &[
                        (FLEX, 0.0),
                        (KNEE, 0.0),
                        (PZ, z + boxh),
                        (PX, x + fwd.x),
                        (PY, y + fwd.y),
                        (TILT, 0.0),
                        (OBL, 2.0),
                        (TWIST, 0.0),
                    ],
                );
            } else {
                let d = self.r(0.9, 1.2) / pace;
                self.go(
                    d,
                    &[
                        (PZ, z + boxh),
                        (PX, x + fwd.x),
                        (PY, y + fwd.y),
                        (KNEE, 30.0),
                        (FLEX, 25.0),
                        (TILT, 10.0),
                        (OBL, 3.0),
                        (TWIST, -3.0),
                    ],
                );
                let d = self.r(0.4, 0.6) / pace;
                self.go(
                    d,
                    &[
                        (KNEE, 0.0),
                        (FLEX, 0.0),
                        (TILT, 0.0),
                        (OBL, 0.0),
                        (TWIST, 0.0),
                    ],
                );
                let t = self.t;
                self.impacts.push(Impact {
                    t,
                    ankle: 1.0 * STANDARD_GRAVITY,
                    pelvis: 0.3 * STANDARD_GRAVITY,
                });
            }
            let w = self.r(0.2, 0.5);
            self.wait(w);
            let d = self.r(0.8, 1.1) / pace;
            self.go(
                d,
                &[
                    (PZ, z),
                    (PX, x),
                    (PY, y),
                    (FLEX, if work { -15.0 } else { 0.0 }),
                    (KNEE, if work { 20.0 } else { 0.0 }),
                    (OBL, -2.0),
                    (TILT, 6.0),
                ],
            );
            let t = self.t;
            self.impacts.push(Impact {
                t,
                ankle: 1.8 * STANDARD_GRAVITY,
                pelvis: 0.5 * STANDARD_GRAVITY,
            });
            self.go(0.4, &[(FLEX, 0.0), (KNEE, 0.0), (OBL, 0.0), (TILT, 0.0)]);
            let w = self.r(0.1, 0.5);
            self.wait(w);
            if self.chance(0.6) {
                work = !work;
            }
        }
        self.label("step-ups", t0);
        true
    }

    fn band_walk(&mut self, budget: f64) -> bool {
        let per = 1.1 / self.lifter.pace;
        let n = self.reps_fit(10, 20, per, budget - 3.0);
        if n < 6 {
            return false;
        }
        self.posture(Posture::Standing);
        let t0 = self.t;
        let d = self.r(0.8, 1.2);
        self.go(
            d,
            &[
                (TILT, 15.0),
                (FLEX, 35.0),
                (KNEE, 40.0),
                (PZ, self.sk.height - 0.1),
            ],
        );
        let width = self.r(0.22, 0.35);
        let lift = self.r(15.0, 26.0);
        let both = self.chance(0.6);
        for dir in [1.0, -1.0] {
            if dir < 0.0 && !both {
                break;
            }
            let toward_work = self.rng.gen_bool(0.5) == (dir > 0.0);
            for _ in 0..n {
                let pace = self.lifter.pace * self.r(0.9, 1.1);
                let side =
                    self.right() * (self.sk.ws * if toward_work { 1.0 } else { -1.0 } * width);
                let (x, y) = (self.cur[PX], self.cur[PY]);
                if toward_work {
                    // The working leg leads out against the band, the body follows.
                    let d = self.r(0.35, 0.5) / pace;
                    self.go(d, &[(ABD, lift), (LEAN, -1.5)]);
                    let t = self.t;
                    self.impacts.push(Impact {
                        t,
                        ankle: 0.8 * STANDARD_GRAVITY,
                        pelvis: 0.2 * STANDARD_GRAVITY,
                    });
                    let d = self.r(0.4, 0.6) / pace;
                    self.go(
                        d,
                        &[(ABD, 0.0), (PX, x + side.x), (PY, y + side.y), (LEAN, 0.0)],
                    );
                } else {
                    // The body moves away over the other foot, then the working leg follows.
                    let d = self.r(0.4, 0.6) / pace;
                    self.go(
                        d,
                        &[
                            (ABD, 0.6 * lift),
                            (PX, x + side.x),
                            (PY, y + side.y),
                            (LEAN, 1.5),
                        ],
                    );
                    let d = self.r(0.35, 0.5) / pace;
                    self.go(d, &[(ABD, 0.0), (LEAN, 0.0)]);
                    let t = self.t;
                    self.impacts.push(Impact {
                        t,
                        ankle: 0.8 * STANDARD_GRAVITY,
                        pelvis: 0.2 * STANDARD_GRAVITY,
                    });
                }
                let w = self.r(0.0, 0.15);
                self.wait(w);
            }
        }
        let k = self.posture_targets(Posture::Standing);
        let d = self.r(0.8, 1.2);
        self.go(d, &k);
        self.label("band walk", t0);
        true
    }

    fn clamshells(&mut self, budget: f64) -> bool {
        let per = 2.0 / self.lifter.pace;
        let n = self.reps_fit(12, 20, per + 0.2, budget - 8.0);
        if n < 5 {
            return false;
        }
        let t0 = self.t;
        let on_top = self.chance(0.65);
        if on_top {
            self.posture(Posture::Clamshell);
        } else {
            // Lying on the working side (from kneeling, not rolling over
            // through upright): the bottom leg barely moves.
            self.posture(Posture::Kneeling);
            let mut k = self.posture_targets(Posture::Clamshell);
            for (ch, v) in k.iter_mut() {
                if *ch == POSE_Q {
                    *v = -*v;
                }
            }
            let d = self.r(1.2, 2.0) / self.lifter.pace;
            self.go(d, &k);
            self.posture = Posture::Clamshell;
        }
        let amp = self.r(35.0, 50.0);
        let (up, down) = (0.8 / self.lifter.pace, 1.1 / self.lifter.pace);
        if on_top {
            self.cycle(
                n,
                up,
                0.3,
                down,
                0.2,
                &[(ABD, amp), (ROT, -0.65 * amp), (TWIST, 3.0)],
            );
        } else {
            self.cycle(n, up, 0.3, down, 0.2, &[(TWIST, 3.0), (HABD, 2.0)]);
            let k = self.posture_targets(Posture::Kneeling);
            let d = self.r(1.2, 2.0) / self.lifter.pace;
            self.go(d, &k);
            self.posture = Posture::Kneeling;
        }
        self.label("clamshells", t0);
        true
    }

    fn fire_hydrants(&mut self, budget: f64) -> bool {
        let per = 2.2 / self.lifter.pace;
        let n = self.reps_fit(10, 15, per + 0.2, budget - 8.0);
        if n < 5 {
            return false;
        }
        let t0 = self.t;
        self.posture(Posture::Quadruped);
        let amp = self.r(35.0, 55.0);
        let (up, down) = (0.8 / self.lifter.pace, 1.0 / self.lifter.pace);
        if self.chance(0.65) {
            self.cycle(
                n,
                up,
                0.3,
                down,
                0.3,
                &[(HABD, amp), (ABD, 5.0), (OBL, 2.0), (TWIST, 4.0)],
            );
        } else {
            // The other leg lifts: weight shifts onto the working knee.
            self.cycle(
                n,
                up,
                0.3,
                down,
                0.3,
                &[(OBL, -2.0), (TWIST, -4.0), (LEAN, 3.0)],
            );
        }
        self.label("fire hydrants", t0);
        true
    }

    fn bridges(&mut self, budget: f64) -> bool {
        let per = 2.8 / self.lifter.pace;
        let n = self.reps_fit(10, 15, per + 0.2, budget - 8.0);
        if n < 5 {
            return false;
        }
        let t0 = self.t;
        self.posture(Posture::Supine);
        self.plant_begin();
        let thrust = self.chance(0.4);
        let ext = if thrust { 55.0 } else { 45.0 } * self.r(0.85, 1.0);
        let hold = if thrust { 1.0 } else { 0.4 };
        self.cycle(
            n,
            0.9 / self.lifter.pace,
            hold,
            1.2 / self.lifter.pace,
            0.3,
            &[(FLEX, -ext), (TILT, -0.6 * ext), (KNEE, -20.0)],
        );
        self.plant_end();
        self.label(
            if thrust {
                "hip thrusts"
            } else {
                "glute bridges"
            },
            t0,
        );
        true
    }

    fn sit(&mut self, dur: f64) {
        let t0 = self.t;
        self.posture(Posture::Seated);
        let end = self.t + dur;
        while self.t + 3.0 < end {
            let w = self.r(1.0, 6.0).min(end - self.t - 2.0);
            self.wait(w);
            if self.t + 2.0 > end {
                break;
            }
            let (h, k) = (self.r(-6.0, 6.0), self.r(-15.0, 15.0));
            let d = self.r(0.6, 1.5);
            let tilt = self.r(-3.0, 3.0);
            self.go(d, &[(HABD, h), (KNEE, 90.0 + k), (TILT, tilt)]);
        }
        self.t = self.t.max(end);
        self.label("sit on the bench", t0);
        self.posture(Posture::Standing);
        let t = self.t;
        let k = self.distractions.len() - 1;
        self.distractions[k].2 = t;
    }

    fn fidget(&mut self) {
        let t0 = self.t;
        let d = self.r(1.0, 3.0);
        let k = (d / 0.4) as usize;
        for _ in 0..k {
            let (a, f, r) = (self.r(-8.0, 12.0), self.r(-10.0, 20.0), self.r(-15.0, 15.0));
            let kn = self.r(0.0, 30.0);
            let (o, w) = (self.r(-1.5, 1.5), self.r(-2.0, 2.0));
            self.go(
                0.4,
                &[
                    (ABD, a),
                    (FLEX, f),
                    (ROT, r),
                    (KNEE, kn),
                    (OBL, o),
                    (TWIST, w),
                ],
            );
        }
        self.go(
            0.5,
            &[
                (ABD, 0.0),
                (FLEX, 0.0),
                (ROT, 0.0),
                (KNEE, 0.0),
                (OBL, 0.0),
                (TWIST, 0.0),
            ],
        );
        self.label("shake the leg out", t0);
    }

    fn single_swing(&mut self) {
        let t0 = self.t;
        let a = self.r(15.0, 30.0);
        let (u, d) = (self.r(0.4, 0.8), self.r(0.5, 1.0));
        let end = self.excursion(
            t0,
            u,
            0.0,
            d,
            1.0,
            &[(ABD, a), (OBL, 1.5), (LEAN, 1.0), (TWIST, 2.0)],
        );
        self.t = end;
        self.label("single swing", t0);
    }

    /// Strapping the cable cuff on (or off): bent over, the foot lifted.
    fn strap(&mut self, what: &str) {
        let t0 = self.t;
        let d = self.r(0.8, 1.3);
        let knee = self.r(60.0, 100.0);
        self.go(d, &[(TILT, 45.0), (FLEX, 25.0), (KNEE, knee)]);
        let w = self.r(2.0, 6.0);
        let steps = (w / 0.7) as usize;
        for _ in 0..steps {
            let (r, a) = (self.r(-10.0, 10.0), self.r(-5.0, 5.0));
            self.go(0.7, &[(ROT, r), (ABD, a)]);
        }
        let d = self.r(0.8, 1.3);
        self.go(
            d,
            &[
                (TILT, 0.0),
                (FLEX, 0.0),
                (KNEE, 0.0),
                (ROT, 0.0),
                (ABD, 0.0),
            ],
        );
        self.label(what, t0);
    }

    /// Extends the distraction begun at or after `t0` to now (getting up
    /// or back into position is part of it), or labels the move `what`.
    fn close_label(&mut self, t0: f64, what: &str) {
        let t = self.t;
        match self.distractions.last_mut() {
            Some(last) if last.1 >= t0 - 1e-9 => last.2 = t,
            _ if t > t0 + 1e-9 => self.label(what, t0),
            _ => {}
        }
    }

    /// Something else between sets, chosen to fit `budget` seconds, then back on the feet.
    fn other_exercise(&mut self, budget: f64) -> bool {
        let t0 = self.t;
        let done = self.other_exercise_in_place(budget);
        self.posture(Posture::Standing);
        self.close_label(t0, "get up");
        done
    }

    fn other_exercise_in_place(&mut self, budget: f64) -> bool {
        let pick = self.rng.gen_range(0..10);
        match pick {
            0 => self.squats(budget),
            1 => self.lunges(budget),
            2 => self.band_walk(budget),
            3 => self.clamshells(budget),
            4 => self.fire_hydrants(budget),
            5 => self.bridges(budget),
            6 => self.step_ups(budget),
            7 => self.hinges(budget),
            8 => self.calf_raises(budget),
            _ => self.kickbacks(budget),
        }
    }

    // -- the abduction sets -------------------------------------------------

    /// Gets to the station and into position for a set.
    fn set_up(&mut self) {
        let t0 = self.t;
        match self.cfg.exercise {
            Exercise::SideLyingAbduction => {
                self.posture(Posture::SideLying);
                self.label("lie down on the mat", t0);
            }
            Exercise::SeatedMachineAbduction => {
                self.posture(Posture::Seated);
                let d = self.r(0.6, 1.2);
                let h = self.r(-3.0, 3.0);
                self.go(d, &[(HABD, h)]);
                self.label("sit into the machine", t0);
            }
            Exercise::HipHitch => {
                self.posture(Posture::OnStep);
                self.label("step onto the step", t0);
            }
            _ => {
                if self.cfg.fidgets {
                    self.strap("strap the cable cuff on");
                }
            }
        }
    }

    fn set_down(&mut self) {
        let t0 = self.t;
        match self.cfg.exercise {
            Exercise::SideLyingAbduction => {
                self.posture(Posture::Standing);
                self.label("get up from the mat", t0);
            }
            Exercise::SeatedMachineAbduction => {
                self.posture(Posture::Standing);
                self.label("get out of the machine", t0);
            }
            Exercise::HipHitch => {
                self.posture(Posture::Standing);
                self.label("step down", t0);
            }
            _ => {
                if self.cfg.fidgets && self.chance(0.7) {
                    self.strap("unstrap the cable cuff");
                }
            }
        }
    }

    /// A superset partner done in the set's own position.
    fn superset_partner(&mut self) {
        let budget = self.r(15.0, 35.0);
        let t0 = self.t;
        let done = match self.cfg.exercise {
            Exercise::SideLyingAbduction => {
                let ok = self.clamshells(budget);
                self.posture(Posture::SideLying);
                ok
            }
            Exercise::HipHitch => {
                self.posture(Posture::Standing);
                let ok = if self.chance(0.5) {
                    self.step_ups(budget)
                } else {
                    self.lunges(budget)
                };
                self.posture(Posture::OnStep);
                ok
            }
            Exercise::SeatedMachineAbduction => {
                self.posture(Posture::Standing);
                let ok = self.squats(budget);
                self.posture(Posture::Seated);
                ok
            }
            _ => {
                if self.chance(0.6) {
                    self.kickbacks(budget)
                } else {
                    self.band_walk(budget)
                }
            }
        };
        let _ = done;
        self.close_label(t0, "shift position");
    }

    /// One abduction set: the reps, their keys, and what each was meant to be.
    fn abduction_set(&mut self, finisher: bool) {
        let cfg = self.cfg;
        let n = self.rng.gen_range(cfg.reps_min..=cfg.reps_max);
        let l = self.lifter.clone();
        let rate = cfg.compensation_rate;
        // How far a finisher's range shrinks by its last rep: well short of
        // the working range only for a lifter who lets range go (a shallow
        // hitch still drops the pelvis a few degrees).
        let shrink_floor = if cfg.exercise == Exercise::HipHitch {
            self.r(0.7, 0.8)
        } else if finisher && rate > 0.0 && self.repertoire.contains(&FlagKind::PartialRange) {
            self.r(0.5, 0.62)
        } else {
            self.r(0.82, 0.9)
        };
        let standing = matches!(cfg.exercise, Exercise::StandingCableAbduction);
        let lying = matches!(cfg.exercise, Exercise::SideLyingAbduction);
        let mut reps = Vec::with_capacity(n);
        // A habit: a lifter who compensates tends to do the same thing again.
        let habit = if self.repertoire.is_empty() {
            None
        } else {
            Some(self.repertoire[self.rng.gen_range(0..self.repertoire.len())])
        };
        for i in 0..n {
            let f = if n > 1 {
                i as f64 / (n - 1) as f64
            } else {
                0.0
            };
            let jit = Normal::new(1.0f64, 0.035)
                .expect("finite")
                .sample(&mut self.rng)
                .clamp(0.94, 1.06);
            let mut amp = l.range * (1.0 - l.fatigue * f) * jit;
            let slow = 1.0 + l.drift * f;
            let mut up = l.up * slow * self.r(0.9, 1.1);
            let mut hold = l.hold * self.r(0.7, 1.3);
            let mut down = l.down * slow * self.r(0.9, 1.1);
            let mut bottom = l.bottom * self.r(0.6, 1.4);
            if finisher {
                amp *= 1.0 - (1.0 - shrink_floor) * f;
                up = self.r(0.45, 0.65);
                hold = 0.0;
                down = self.r(0.55, 0.8);
                bottom = self.r(0.0, 0.15);
            } else {
                if self.chance(l.hold_prob) {
                    hold = self.r(0.8, 2.5);
                }
                if self.chance(l.slow_ecc_prob) {
                    down *= self.r(1.5, 2.2);
                }
                if i > 0 && self.chance(l.pause_prob) {
                    bottom = self.r(1.5, 3.5);
                }
                if self.chance(l.short_prob) {
                    amp *= self.r(0.86, 0.93);
                }
            }
            let intent = if rate > 0.0 && !self.repertoire.is_empty() && self.chance(rate) {
                if self.chance(0.6) {
                    habit
                } else {
                    Some(self.repertoire[self.rng.gen_range(0..self.repertoire.len())])
                }
            } else {
                None
            };
            // A rep starts after the pause at the bottom (the first after the neutral).
            if i > 0 {
                self.t += bottom;
            }
            let t0 = self.t;
            let k = self.r(0.6, 1.2);
            let mut obl = l.obl_gain * k;
            let mut lean = if standing {
                l.lean_gain * self.r(0.6, 1.2)
            } else {
                0.0
            };
            let twist = l.twist_gain * self.r(0.6, 1.2);
            let mut flex = l.flex_bias * self.r(0.5, 1.2);
            let mut sag = self.r(0.96, 1.0);
            let mut rebound = false;
            match intent {
                Some(FlagKind::Momentum) => {
                    amp *= self.r(1.05, 1.2);
                    up = self.r(0.3, 0.45);
                    hold = 0.0;
                    down = self.r(0.4, 0.6);
                    rebound = true;
                }
                Some(FlagKind::PartialRange) => {
                    amp *= if cfg.exercise == Exercise::HipHitch {
                        // A shallow hitch is still a hitch.
                        self.r(0.6, 0.75)
                    } else {
                        self.r(0.35, 0.58)
                    };
                }
                Some(FlagKind::HipFlexionDrift) => {
                    flex += self.r(12.0, 25.0);
                }
                // (A hitch's hike is the pull past level, after the rep.)
                Some(FlagKind::HipHike) if cfg.exercise != Exercise::HipHitch => {
                    obl = self.r(6.5, 14.0);
                    lean *= 0.3;
                    hold = hold.max(self.r(0.4, 0.8));
                    sag = 1.0;
                }
                Some(FlagKind::PelvicDrop) => {
                    obl = -self.r(6.5, 12.0);
                    lean *= 0.3;
                    hold = hold.max(self.r(0.4, 0.8));
                    sag = 1.0;
                }
                _ => {}
            }
            let frac = amp / l.range;
            let end = match cfg.exercise {
                Exercise::HipHitch => {
                    let mut d = vec![(OBL, -amp), (LEAN, 0.3 * l.lean_gain), (TWIST, 0.5 * twist)];
                    if rebound {
                        d.push((KNEE, 5.0));
                    }
                    self.excursion(t0, up, hold, down, sag, &d)
                }
                Exercise::SeatedMachineAbduction => {
                    let d = [
                        (HABD, amp),
                        (TILT, -1.5 * frac),
                        (FLEX, 0.3 * flex),
                        (ROT, 0.1 * amp),
                    ];
                    self.excursion(t0, up, hold, down, sag, &d)
                }
                _ => {
                    let scale =
                        if matches!(intent, Some(FlagKind::HipHike) | Some(FlagKind::PelvicDrop)) {
                            1.0
                        } else {
                            frac
                        };
                    let mut d = vec![(ABD, amp), (OBL, obl * scale), (FLEX, flex)];
                    if intent != Some(FlagKind::TrunkSway) {
                        d.push((TWIST, twist * frac));
                        if standing {
                            d.push((LEAN, lean * frac));
                        }
                    }
                    if lying {
                        d.push((TILT, -0.5 * twist * frac));
                    }
                    self.excursion(t0, up, hold, down, sag, &d)
                }
            };
            let mut t1 = end;
            if rebound && cfg.exercise != Exercise::HipHitch {
                // The foot flies back past neutral and bounces off the band's slack.
                let ch = if cfg.exercise == Exercise::SeatedMachineAbduction {
                    HABD
                } else {
                    ABD
                };
                let b = -self.r(0.04, 0.1) * amp;
                let a = self.cur[ch];
                self.key(ch, end + 0.15, a + b, false);
                self.key(ch, end + 0.35, a, true);
                t1 = end + 0.35;
            }
            if intent == Some(FlagKind::TrunkSway) {
                // Rocks away from the stack and back toward it within the rep.
                let span = t1 - t0;
                let (a1, a2) = (self.r(7.0, 11.0), self.r(7.0, 11.0));
                let s = if self.rng.gen_bool(0.5) { 1.0 } else { -1.0 };
                let base = self.cur[LEAN];
                self.key(LEAN, t0, base, true);
                self.key(LEAN, t0 + 0.3 * span, base + s * a1, true);
                self.key(LEAN, t0 + 0.72 * span, base - s * a2, true);
                self.key(LEAN, t1, base, true);
                let tw = self.cur[TWIST];
                self.key(TWIST, t0, tw, true);
                self.key(TWIST, t0 + 0.3 * span, tw + s * 4.0, false);
                self.key(TWIST, t0 + 0.72 * span, tw - s * 4.0, false);
                self.key(TWIST, t1, tw, true);
            }
            if intent == Some(FlagKind::HipHike) && cfg.exercise == Exercise::HipHitch {
                // Pulls past level: the free side rises above neutral and stays.
                let h = self.r(6.5, 10.0);
                let a = self.cur[OBL];
                self.key(OBL, end + 0.4, a + h, true);
                let hold = self.r(0.4, 0.8);
                self.key(OBL, end + 0.4 + hold, a + h, true);
                self.key(OBL, end + 0.8 + hold, a, true);
                t1 = end + 0.8 + hold;
            }
            self.t = t1;
            reps.push(RepPlan {
                t0,
                t1,
                intent,
                finisher,
            });
        }
        self.sets.push(reps);
    }
}

// ---------------------------------------------------------------------------
// The whole session.

/// Everything needed to compute the body at any time.
#[derive(Debug, Clone)]
struct Kinematics {
    sk: Skeleton,
    tracks: Vec<Track>,
    impacts: Vec<Impact>,
}

impl Kinematics {
    fn channels(&self, t: f64) -> Channels {
        let mut c = [0.0; NCH];
        for (v, tr) in c.iter_mut().zip(&self.tracks) {
            *v = tr.eval(t);
        }
        c
    }

    fn pose(&self, t: f64) -> Pose {
        self.sk.fk(&self.channels(t))
    }

    /// Vertical jolt (m/s²) felt at the placement at `t`.
    fn impact(&self, t: f64, placement: Placement) -> f64 {
        let i = self.impacts.partition_point(|m| m.t <= t);
        let mut a = 0.0;
        for m in &self.impacts[i.saturating_sub(3)..i] {
            let u = (t - m.t) / IMPACT_S;
            if (0.0..1.0).contains(&u) {
                let g = match placement {
                    Placement::Ankle => m.ankle,
                    Placement::Pelvis => m.pelvis,
                };
                a += g * (std::f64::consts::PI * u).sin();
            }
        }
        a
    }

    /// Specific force (sensor axes, m/s²) and angular rate (°/s) at `t`, exact but for the 2 ms differences.
    fn ideal(&self, t: f64, placement: Placement) -> (Vector3<f64>, Vector3<f64>) {
        const H: f64 = 0.002;
        let pick = |p: Pose| match placement {
            Placement::Ankle => (p.ankle, p.ankle_rot),
            Placement::Pelvis => (p.sacrum, p.sacrum_rot),
        };
        let (p0, r0) = pick(self.pose(t - H));
        let (p1, r1) = pick(self.pose(t));
        let (p2, r2) = pick(self.pose(t + H));
        let a_world = (p2 - 2.0 * p1 + p0) / (H * H)
            + Vector3::new(0.0, 0.0, STANDARD_GRAVITY + self.impact(t, placement));
        let acc = r1.inverse() * a_world;
        let w =
            UnitQuaternion::from_rotation_matrix(&(r0.inverse() * r2)).scaled_axis() / (2.0 * H);
        (acc, w * 180.0 / std::f64::consts::PI)
    }
}

struct Planned {
    kin: Kinematics,
    truth: Truth,
    duration: f64,
    rng: ChaCha8Rng,
}

fn random_rotation(rng: &mut ChaCha8Rng) -> Rotation3<f64> {
    let q = UnitQuaternion::from_quaternion(nalgebra::Quaternion::new(
        Normal::new(0.0, 1.0).expect("sd").sample(rng),
        Normal::new(0.0, 1.0).expect("sd").sample(rng),
        Normal::new(0.0, 1.0).expect("sd").sample(rng),
        Normal::new(0.0, 1.0).expect("sd").sample(rng),
    ));
    q.to_rotation_matrix()
}

fn small_rotation(rng: &mut ChaCha8Rng, max_deg: f64) -> Rotation3<f64> {
    let axis = Vector3::new(
        rng.gen_range(-1.0..1.0),
        rng.gen_range(-1.0..1.0),
        rng.gen_range(-1.0..1.0),
    );
    if axis.norm() < 1e-6 {
        return Rotation3::identity();
    }
    Rotation3::from_axis_angle(
        &nalgebra::Unit::new_normalize(axis),
        rng.gen_range(0.0..max_deg).to_radians(),
    )
}

fn skeleton(cfg: &SimConfig, rng: &mut ChaCha8Rng) -> Skeleton {
    let thigh = rng.gen_range(0.38..0.48);
    let shank = rng.gen_range(0.36..0.45);
    let ankle_mount = if cfg.random_mounting {
        random_rotation(rng)
    } else {
        // Sensor x up the shank, z out of the lateral side.
        Rotation3::identity()
    };
    let around = rng.gen_range(0.0..std::f64::consts::TAU);
    let r = rng.gen_range(0.035..0.05);
    let pelvis_mount = if cfg.random_mounting {
        small_rotation(rng, 12.0)
    } else {
        Rotation3::identity()
    };
    Skeleton {
        thigh,
        shank,
        hip_half: rng.gen_range(0.075..0.1),
        height: thigh + shank + 0.08,
        ws: cfg.side.sign(),
        fs: cfg.exercise.free_side(cfg.side).sign(),
        ankle_mount,
        ankle_offset: Vector3::new(r * around.cos(), 0.0, r * around.sin()),
        pelvis_mount,
        pelvis_offset: Vector3::new(0.0, -0.03, rng.gen_range(0.08..0.12)),
    }
}

/// Kinds this lifter may do on this exercise (visible or not).
fn repertoire(cfg: &SimConfig) -> Vec<FlagKind> {
    cfg.compensations
        .iter()
        .copied()
        .filter(|k| match cfg.exercise {
            Exercise::HipHitch => matches!(
                k,
                FlagKind::HipHike | FlagKind::Momentum | FlagKind::PartialRange
            ),
            Exercise::SeatedMachineAbduction => {
                matches!(
                    k,
                    FlagKind::Momentum | FlagKind::PartialRange | FlagKind::HipFlexionDrift
                )
            }
            _ => true,
        })
        .collect()
}

fn plan(cfg: &SimConfig) -> Result<Planned, String> {
    cfg.validate()?;
    // The seed, the exercise, placement and side: one seed gives a different
    // lifter and workout on each pair instead of the same warm-up six times.
    let what = format!("{}/{}/{}", cfg.exercise, cfg.placement, cfg.side);
    let mix = what.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ mix);
    let sk = skeleton(cfg, &mut rng);
    let lifter = Lifter::draw(&mut rng, cfg.exercise);
    let mut b = Builder {
        cfg,
        rng,
        sk,
        lifter,
        tracks: vec![Track::default(); NCH],
        cur: [0.0; NCH],
        t: 0.0,
        posture: Posture::Standing,
        impacts: Vec::new(),
        distractions: Vec::new(),
        sets: Vec::new(),
        repertoire: repertoire(cfg),
    };
    // Standing at the start, facing anywhere.
    let psi = b.r(-180.0, 180.0);
    let h = b.sk.height;
    for (ch, v) in [(PSI, psi), (PZ, h)] {
        b.key(ch, 0.0, v, true);
    }
    b.t = 0.0;
    let lead = match cfg.lead_in_s {
        Some(s) => s.max(0.0),
        None => b.r(0.5, 3.0),
    };
    b.stand_still(lead);
    if cfg.lead_in_s.is_none() {
        // Warm-up: one to three of the usual.
        let k = b.rng.gen_range(1..=3);
        for _ in 0..k {
            let budget = b.r(25.0, 60.0);
            let pick = b.rng.gen_range(0..6);
            let done = match pick {
                0 if cfg.walking => {
                    let d = b.r(8.0, 20.0);
                    b.walk(d, true);
                    true
                }
                0 | 1 => b.band_walk(budget),
                2 => b.clamshells(budget),
                3 => b.fire_hydrants(budget),
                4 => b.bridges(budget),
                _ => b.squats(budget),
            };
            let t0 = b.t;
            b.posture(Posture::Standing);
            b.close_label(t0, "get up");
            if done {
                let w = b.r(2.0, 8.0);
                b.stand_still(w);
            }
        }
    }
    let finisher_last = (cfg.sets > 1 && b.chance(0.45)) || b.chance(0.1);
    let mut last_end: Option<f64> = None;
    for s in 0..cfg.sets {
        let rest = b.r(cfg.rest_min_s, cfg.rest_max_s);
        // Between the sets: the circuit's other exercises (one or two, at
        // their own length), then the rest itself (`rest` from the config:
        // walking, sitting, shaking out, standing), then the next station.
        if last_end.is_some() {
            let k = match b.rng.gen_range(0..10) {
                0 | 1 => 0,
                2..=6 => 1,
                _ => 2,
            };
            for _ in 0..k {
                let budget = b.r(25.0, 70.0);
                if b.other_exercise(budget) {
                    let w = b.r(3.0, 10.0);
                    b.stand_still(w);
                }
            }
        }
        let rest_from = b.t;
        if last_end.is_some() {
            let end = rest_from;
            let mut budget = rest - 10.0;
            let mut tries = 0;
            while budget > 8.0 && tries < 6 {
                tries += 1;
                let t0 = b.t;
                let pick = b.rng.gen_range(0..10);
                match pick {
                    0 | 1 if cfg.walking && budget > 14.0 => {
                        let d = b.r(5.0, 15.0f64.min(budget - 4.0));
                        b.walk(d, true);
                    }
                    2 if budget > 25.0 => {
                        let d = b.r(10.0, (budget - 10.0).min(60.0));
                        b.sit(d);
                    }
                    3 if cfg.fidgets => b.fidget(),
                    4 | 5 => {
                        let w = b.r(4.0, 12.0f64.min(budget));
                        b.stand_still(w);
                    }
                    _ => {
                        b.other_exercise(budget);
                    }
                }
                let w = b.r(1.0, 6.0);
                b.stand_still(w);
                budget -= b.t - t0;
            }
            if cfg.fidgets && b.chance(0.3) {
                b.single_swing();
                let w = b.r(4.0, 8.0);
                b.stand_still(w);
            }
            // Rest out the remainder before getting into position.
            let left = rest - (b.t - end) - 12.0;
            if left > 0.0 {
                b.stand_still(left);
            }
        }
        if cfg.walking && (s > 0 || cfg.lead_in_s.is_none()) && b.chance(0.7) {
            let d = b.r(4.0, 10.0);
            b.walk(d, false);
            let a = if b.chance(0.5) { 90.0 } else { -90.0 };
            b.turn(a);
        }
        b.set_up();
        if b.chance(0.25) {
            let w = b.r(1.0, 3.0);
            b.stand_still(w);
            b.superset_partner();
            let w = b.r(1.5, 4.0);
            b.stand_still(w);
        } else {
            let mut w = b.r(1.2, 3.5);
            if last_end.is_some() {
                w = w.max(rest - (b.t - rest_from));
            }
            b.stand_still(w);
        }
        let finisher = finisher_last && s + 1 == cfg.sets;
        b.abduction_set(finisher);
        let end = b.t;
        last_end = Some(end);
        if b.chance(0.3) {
            let w = b.r(1.5, 4.0);
            b.stand_still(w);
            b.superset_partner();
        } else {
            let w = b.r(1.0, 3.0);
            b.stand_still(w);
        }
        b.set_down();
        let w = b.r(1.0, 4.0);
        b.stand_still(w);
    }
    // Cool-down, sometimes.
    if b.chance(0.5) {
        let budget = b.r(20.0, 45.0);
        b.other_exercise(budget);
    }
    b.stand_still(2.0);
    let duration = b.t;
    let Builder {
        mut tracks,
        mut rng,
        sk,
        lifter,
        mut impacts,
        distractions,
        sets,
        ..
    } = b;
    // Postural noise: slow AR(1) processes through keys every 0.5 s.
    let noise = [
        (N_OBL, 0.4 * lifter.sway),
        (N_LEAN, 0.6 * lifter.sway),
        (N_TWIST, 0.6 * lifter.sway),
        (N_ABD, 0.3 * lifter.sway),
        (N_LAT, 0.004 * lifter.sway),
    ];
    for (ch, sd) in noise {
        let mut x = 0.0;
        let n = (duration / 0.5) as usize + 2;
        for i in 0..n {
            let e: f64 = Normal::new(0.0, 1.0).expect("sd").sample(&mut rng);
            x = 0.85 * x + (1.0f64 - 0.85 * 0.85).sqrt() * sd * e;
            tracks[ch].push(Key {
                speed: None,
                t: i as f64 * 0.5,
                v: x,
                still: false,
            });
        }
    }
    for (i, tr) in tracks.iter_mut().enumerate() {
        if i >= N_OBL {
            tr.finish(0.0, 0.0);
        } else {
            tr.finish(lifter.tension, lifter.bias);
        }
    }
    impacts.sort_by(|a, b| a.t.total_cmp(&b.t));
    let kin = Kinematics {
        sk,
        tracks,
        impacts,
    };
    let truth_sets = measure(cfg, &kin, &sets);
    let truth = Truth {
        config: cfg.clone(),
        duration_s: round3(duration),
        distractions: distractions
            .iter()
            .filter(|(_, a, b)| b > a)
            .map(|(w, a, b)| format!("{w} {a:.1}-{b:.1} s"))
            .collect(),
        sets: truth_sets,
    };
    Ok(Planned {
        kin,
        truth,
        duration,
        rng,
    })
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// What one rep did to the body, read off the tracks.
#[derive(Debug, Clone, Default)]
struct Measured {
    /// Largest sensor rotation from the set's rest (ankle), °.
    rotation: f64,
    /// Largest obliquity rise and fall from the set's neutral, °.
    obl_up: f64,
    obl_down: f64,
    /// Time at or above +5° / at or below −5°, s.
    above: f64,
    below: f64,
    /// Frontal-plane roll of the body both ways, °.
    roll_pos: f64,
    roll_neg: f64,
    /// Most hip flexion added during the rep, °.
    flex: f64,
}

fn measure_rep(
    kin: &Kinematics,
    neutral: &Channels,
    rest_rot: &Rotation3<f64>,
    r: &RepPlan,
) -> Measured {
    let mut m = Measured::default();
    let dt = 0.01;
    let n = ((r.t1 - r.t0) / dt).ceil() as usize;
    let flex0 = kin.channels(r.t0)[FLEX];
    let roll_n = neutral[OBL] + neutral[N_OBL] - neutral[LEAN] - neutral[N_LEAN];
    for i in 0..=n {
        let t = (r.t0 + i as f64 * dt).min(r.t1);
        let c = kin.channels(t);
        let p = kin.sk.fk(&c);
        m.rotation = m
            .rotation
            .max((rest_rot.inverse() * p.ankle_rot).angle().to_degrees());
        let d = c[OBL] + c[N_OBL] - neutral[OBL] - neutral[N_OBL];
        m.obl_up = m.obl_up.max(d);
        m.obl_down = m.obl_down.max(-d);
        if d >= 5.0 {
            m.above += dt;
        }
        if d <= -5.0 {
            m.below += dt;
        }
        let roll = c[OBL] + c[N_OBL] - c[LEAN] - c[N_LEAN] - roll_n;
        m.roll_pos = m.roll_pos.max(roll);
        m.roll_neg = m.roll_neg.max(-roll);
        m.flex = m.flex.max(c[FLEX] - flex0);
    }
    m
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// The truth of every set, measured on the body.
fn measure(cfg: &SimConfig, kin: &Kinematics, sets: &[Vec<RepPlan>]) -> Vec<TruthSet> {
    let visible = cfg.visible_compensations();
    let ankle = cfg.placement == Placement::Ankle;
    let mut out = Vec::new();
    for reps in sets {
        let tn = reps[0].t0 - 0.3;
        let neutral = kin.channels(tn);
        let rest_rot = kin.sk.fk(&neutral).ankle_rot;
        let ms: Vec<Measured> = reps
            .iter()
            .map(|r| measure_rep(kin, &neutral, &rest_rot, r))
            .collect();
        let peak = |m: &Measured| {
            if ankle {
                m.rotation
            } else {
                m.obl_up.max(m.obl_down)
            }
        };
        // The set's working range: its first half's full reps.
        let half = reps.len().div_ceil(2);
        let working = median(
            reps.iter()
                .zip(&ms)
                .take(half)
                .filter(|(r, _)| r.intent != Some(FlagKind::PartialRange))
                .map(|(_, m)| peak(m))
                .collect(),
        );
        let mut truth_reps = Vec::new();
        for (r, m) in reps.iter().zip(&ms) {
            let p = peak(m);
            let mut flags = Vec::new();
            let mut add = |kind: FlagKind, v: f64| {
                if visible.contains(&kind) {
                    flags.push(TruthFlag {
                        kind,
                        value_deg: round1(v),
                    });
                }
            };
            match r.intent {
                Some(FlagKind::HipHike) if m.obl_up >= 5.0 && m.above >= 0.15 => {
                    add(FlagKind::HipHike, m.obl_up)
                }
                Some(FlagKind::PelvicDrop) if m.obl_down >= 5.0 && m.below >= 0.15 => {
                    add(FlagKind::PelvicDrop, m.obl_down)
                }
                Some(FlagKind::TrunkSway) if m.roll_pos > 5.0 && m.roll_neg > 5.0 => {
                    add(FlagKind::TrunkSway, m.roll_pos.min(m.roll_neg))
                }
                Some(FlagKind::Momentum) => add(FlagKind::Momentum, p),
                Some(FlagKind::HipFlexionDrift) if m.flex >= 10.0 => {
                    add(FlagKind::HipFlexionDrift, m.flex)
                }
                _ => {}
            }
            let short = r.intent == Some(FlagKind::PartialRange) || r.finisher;
            if short && working > 0.0 && p < 0.7 * working {
                add(FlagKind::PartialRange, working - p);
            }
            truth_reps.push(TruthRep {
                start_s: round3(r.t0),
                end_s: round3(r.t1),
                peak_deg: round1(p),
                flags,
            });
        }
        out.push(TruthSet {
            start_s: truth_reps[0].start_s,
            end_s: truth_reps.last().expect("a set has reps").end_s,
            rep_count: truth_reps.len(),
            reps: truth_reps,
        });
    }
    out
}

// ---------------------------------------------------------------------------
// The sensor.

/// The sensor's own errors.
#[derive(Debug, Clone)]
struct SensorErrors {
    gyro_bias: Vector3<f64>,
    gyro_drift: Vector3<f64>,
    acc_bias: Vector3<f64>,
    acc_map: Matrix3<f64>,
    gyro_map: Matrix3<f64>,
    gyro_sd: f64,
    acc_sd: f64,
}

impl SensorErrors {
    fn draw(cfg: &SimConfig, rng: &mut ChaCha8Rng) -> SensorErrors {
        let mut v = |m: f64| {
            Vector3::new(
                rng.gen_range(-m..=m),
                rng.gen_range(-m..=m),
                rng.gen_range(-m..=m),
            )
        };
        let gb = cfg.gyro_bias_dps;
        let gyro_bias = v(0.85 * gb);
        let gyro_drift = v(0.15 * gb);
        let acc_bias = v(0.08);
        let sa = v(0.012);
        let sg = v(0.015);
        let ma = small_rotation(rng, 0.8);
        let mg = small_rotation(rng, 0.8);
        SensorErrors {
            gyro_bias,
            gyro_drift,
            acc_bias,
            acc_map: Matrix3::from_diagonal(&(Vector3::repeat(1.0) + sa)) * ma.into_inner(),
            gyro_map: Matrix3::from_diagonal(&(Vector3::repeat(1.0) + sg)) * mg.into_inner(),
            gyro_sd: 0.12 * cfg.noise,
            acc_sd: 0.025 * cfg.noise,
        }
    }
}

/// Full scale and resolution of a typical 16-bit IMU (±16 g, ±2000 °/s).
const ACC_FULL: f64 = 16.0 * STANDARD_GRAVITY;
const GYR_FULL: f64 = 2000.0;

fn quantise(x: f64, full: f64) -> f64 {
    let lsb = full / 32768.0;
    ((x.clamp(-full, full - lsb) / lsb).round()) * lsb
}

/// A simulated workout: the sample stream of one sensor.
pub struct CircuitSimulator {
    kin: Kinematics,
    placement: Placement,
    rng: ChaCha8Rng,
    rate: f64,
    index: u64,
    count: u64,
    duration: f64,
    drop_rate: f64,
    gaps: Vec<f64>,
    gap_cursor: usize,
    err: SensorErrors,
    gyro_noise: Normal<f64>,
    acc_noise: Normal<f64>,
}

impl CircuitSimulator {
    /// Plans a workout for `cfg`: the sample stream and its truth.
    pub fn new(cfg: &SimConfig) -> Result<(CircuitSimulator, Truth), String> {
        let Planned {
            kin,
            truth,
            duration,
            mut rng,
        } = plan(cfg)?;
        let err = SensorErrors::draw(cfg, &mut rng);
        let n_gaps = (cfg.gaps_per_min * duration / 60.0).round() as usize;
        let mut gaps: Vec<f64> = (0..n_gaps).map(|_| rng.gen_range(0.0..duration)).collect();
        gaps.sort_by(|a, b| a.total_cmp(b));
        let gyro_noise = Normal::new(0.0, err.gyro_sd.max(1e-12)).map_err(|e| e.to_string())?;
        let acc_noise = Normal::new(0.0, err.acc_sd.max(1e-12)).map_err(|e| e.to_string())?;
        Ok((
            CircuitSimulator {
                kin,
                placement: cfg.placement,
                rng,
                rate: cfg.rate_hz,
                index: 0,
                count: (duration * cfg.rate_hz) as u64,
                duration,
                drop_rate: cfg.drop_rate,
                gaps,
                gap_cursor: 0,
                err,
                gyro_noise,
                acc_noise,
            },
            truth,
        ))
    }
}

impl Iterator for CircuitSimulator {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        loop {
            if self.index >= self.count {
                return None;
            }
            let i = self.index;
            self.index += 1;
            let t = i as f64 / self.rate;
            if super::sim::in_ble_gap(&self.gaps, &mut self.gap_cursor, t) {
                continue;
            }
            if self.drop_rate > 0.0 && self.rng.gen_bool(self.drop_rate) {
                continue;
            }
            let (acc, gyr) = self.kin.ideal(t, self.placement);
            let e = &self.err;
            let bias = e.gyro_bias + e.gyro_drift * (t / self.duration.max(1.0));
            let mut a = e.acc_map * acc + e.acc_bias;
            let mut g = e.gyro_map * gyr + bias;
            for k in 0..3 {
                a[k] = quantise(a[k] + self.acc_noise.sample(&mut self.rng), ACC_FULL);
                g[k] = quantise(g[k] + self.gyro_noise.sample(&mut self.rng), GYR_FULL);
            }
            return Some(Sample { t, acc: a, gyr: g });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Side;

    fn pairs() -> Vec<(Exercise, Placement)> {
        let mut v = Vec::new();
        for e in Exercise::ALL {
            for p in Placement::ALL {
                if SimConfig::new(*e, *p, Side::Right).validate().is_ok() {
                    v.push((*e, *p));
                }
            }
        }
        v
    }

    fn cfg(e: Exercise, p: Placement, seed: u64) -> SimConfig {
        let mut c = SimConfig::new(
            e,
            p,
            if seed.is_multiple_of(2) {
                Side::Right
            } else {
                Side::Left
            },
        );
        c.seed = seed;
        c.model = super::super::sim::SimModel::Circuit;
        c
    }

    /// A short session for sample-level tests.
    fn short(e: Exercise, p: Placement, seed: u64, rate: f64) -> SimConfig {
        let mut c = cfg(e, p, seed);
        c.sets = 1;
        c.reps_min = 3;
        c.reps_max = 4;
        c.rest_min_s = 12.0;
        c.rest_max_s = 14.0;
        c.lead_in_s = Some(3.0);
        c.rate_hz = rate;
        c
    }

    fn span(d: &str) -> (f64, f64) {
        let s = d.trim_end_matches(" s");
        let last = s.rsplit(' ').next().expect("a span");
        let (a, b) = last.split_once('-').expect("a-b");
        (a.parse().expect("a"), b.parse().expect("b"))
    }

    #[test]
    fn the_six_pairs_are_modelled_and_the_rest_are_errors() {
        assert_eq!(pairs().len(), 6);
        for e in Exercise::ALL {
            for p in Placement::ALL {
                let c = cfg(*e, *p, 3);
                assert_eq!(
                    CircuitSimulator::new(&c).is_ok(),
                    c.validate().is_ok(),
                    "{e} {p}"
                );
            }
        }
        let mut c = cfg(Exercise::HipHitch, Placement::Ankle, 1);
        assert!(CircuitSimulator::new(&c).is_err());
        c.exercise = Exercise::SideLyingAbduction;
        c.rate_hz = 5.0;
        assert!(CircuitSimulator::new(&c).is_err());
    }

    #[test]
    fn reps_are_ordered_inside_the_recording_and_peaks_are_in_range() {
        for (e, p) in pairs() {
            for seed in 0..6 {
                let c = cfg(e, p, seed);
                let t = plan(&c).unwrap().truth;
                assert_eq!(t.sets.len(), c.sets);
                let mut last = 0.0;
                for s in &t.sets {
                    assert_eq!(s.rep_count, s.reps.len());
                    assert!((c.reps_min..=c.reps_max).contains(&s.rep_count));
                    for r in &s.reps {
                        assert!(r.start_s >= last && r.end_s > r.start_s, "{e} {p} {seed}");
                        assert!(r.end_s - r.start_s < 15.0);
                        last = r.end_s;
                        let partial = r.flags.iter().any(|f| f.kind == FlagKind::PartialRange);
                        let (lo, hi) = match (e, p) {
                            (_, Placement::Ankle) if partial => (4.0, 45.0),
                            (Exercise::SeatedMachineAbduction, _) => (12.0, 60.0),
                            (_, Placement::Ankle) => (15.0, 75.0),
                            (Exercise::HipHitch, _) => (1.0, 16.0),
                            _ => (0.05, 16.0),
                        };
                        assert!(
                            (lo..=hi).contains(&r.peak_deg),
                            "{e} {p} {seed}: {}",
                            r.peak_deg
                        );
                    }
                }
                assert!(last < t.duration_s);
            }
        }
    }

    #[test]
    fn flags_are_visible_kinds_of_the_right_size_and_none_at_rate_zero() {
        for (e, p) in pairs() {
            let mut seen = 0;
            for seed in 0..5 {
                let mut c = cfg(e, p, seed);
                c.compensation_rate = 0.4;
                let visible = c.visible_compensations();
                let t = plan(&c).unwrap().truth;
                for r in t.sets.iter().flat_map(|s| &s.reps) {
                    for f in &r.flags {
                        seen += 1;
                        assert!(visible.contains(&f.kind), "{e} {p}: {:?}", f.kind);
                        let (lo, hi) = match f.kind {
                            FlagKind::HipHike | FlagKind::PelvicDrop | FlagKind::TrunkSway => {
                                (5.0, 18.0)
                            }
                            FlagKind::Momentum => (10.0, 70.0),
                            FlagKind::PartialRange => (3.0, 40.0),
                            FlagKind::HipFlexionDrift => (10.0, 32.0),
                        };
                        assert!(
                            (lo..=hi).contains(&f.value_deg),
                            "{e} {p} {:?} {}",
                            f.kind,
                            f.value_deg
                        );
                    }
                }
                c.compensation_rate = 0.0;
                let t = plan(&c).unwrap().truth;
                assert!(
                    t.sets
                        .iter()
                        .flat_map(|s| &s.reps)
                        .all(|r| r.flags.is_empty()),
                    "{e} {p}"
                );
            }
            assert!(seen > 0, "{e} {p}: no flags at 40%");
        }
    }

    #[test]
    fn distractions_are_listed_apart_from_the_sets() {
        let mut names = std::collections::BTreeSet::new();
        for (e, p) in pairs() {
            for seed in 0..4 {
                let t = plan(&cfg(e, p, seed)).unwrap().truth;
                assert!(!t.distractions.is_empty());
                for d in &t.distractions {
                    let (a, b) = span(d);
                    assert!(b >= a && b <= t.duration_s + 0.1, "{d}");
                    for s in &t.sets {
                        assert!(
                            b <= s.start_s + 0.05 || a >= s.end_s - 0.05,
                            "{e} {p} {seed}: {d} inside {}-{}",
                            s.start_s,
                            s.end_s
                        );
                    }
                    names.insert(
                        d.rsplit_once(' ')
                            .unwrap()
                            .0
                            .rsplit_once(' ')
                            .unwrap()
                            .0
                            .to_string(),
                    );
                }
            }
        }
        for want in ["squats", "band walk", "clamshells", "walk and turn"] {
            assert!(names.contains(want), "{names:?}");
        }
        // Without walking and fidgets: the other exercises, but no walks,
        // swings, shakes or straps.
        for (e, p) in pairs() {
            let mut c = cfg(e, p, 9);
            c.walking = false;
            c.fidgets = false;
            let t = plan(&c).unwrap().truth;
            for d in &t.distractions {
                for no in ["walk ", "swing", "shake", "strap"] {
                    assert!(!d.contains(no) || d.starts_with("band walk"), "{d}");
                }
            }
        }
    }

    #[test]
    fn sets_are_rested_apart() {
        for (e, p) in pairs() {
            for seed in 0..4 {
                let mut c = cfg(e, p, seed);
                c.rest_min_s = 12.0;
                c.rest_max_s = 20.0;
                let t = plan(&c).unwrap().truth;
                for w in t.sets.windows(2) {
                    let gap = w[1].start_s - w[0].end_s;
                    assert!(gap >= 10.0, "{e} {p} {seed}: {gap}");
                }
            }
        }
    }

    #[test]
    fn samples_follow_the_rate_and_drops_and_gaps_remove_some() {
        for rate in [25.0, 104.0, 200.0] {
            let mut c = short(Exercise::SideLyingAbduction, Placement::Pelvis, 7, rate);
            c.drop_rate = 0.0;
            c.gaps_per_min = 0.0;
            let (sim, truth) = CircuitSimulator::new(&c).unwrap();
            let v: Vec<Sample> = sim.collect();
            let want = truth.duration_s * rate;
            assert!(
                (v.len() as f64 - want).abs() <= 2.0,
                "{rate}: {} vs {want}",
                v.len()
            );
            assert!(v.windows(2).all(|w| w[1].t >= w[0].t));
            assert!(v.iter().all(|s| s.is_finite()));
            c.drop_rate = 0.05;
            c.gaps_per_min = 6.0;
            let n = CircuitSimulator::new(&c).unwrap().0.count();
            assert!(
                (n as f64) < 0.97 * v.len() as f64,
                "{rate}: {n} of {}",
                v.len()
            );
        }
    }

    #[test]
    fn at_rest_the_sensor_reads_gravity_and_a_quiet_gyro() {
        for p in [Placement::Ankle, Placement::Pelvis] {
            let mut c = short(Exercise::StandingCableAbduction, p, 11, 100.0);
            c.gyro_bias_dps = 0.0;
            c.drop_rate = 0.0;
            c.gaps_per_min = 0.0;
            let (sim, _) = CircuitSimulator::new(&c).unwrap();
            let rest: Vec<Sample> = sim
                .take_while(|s| s.t < 2.5)
                .filter(|s| s.t > 0.5)
                .collect();
            let acc = rest.iter().map(|s| s.acc.norm()).sum::<f64>() / rest.len() as f64;
            let gyr = rest.iter().map(|s| s.gyr.norm()).sum::<f64>() / rest.len() as f64;
            assert!((acc - STANDARD_GRAVITY).abs() < 0.3, "{p}: {acc}");
            assert!(gyr < 3.0, "{p}: {gyr}");
        }
    }

    #[test]
    fn a_rep_moves_the_sensor_about_as_much_as_its_truth_says() {
        // The ankle sensor's integrated rate over a rep's rise is of the size of its peak.
        let mut c = short(Exercise::StandingCableAbduction, Placement::Ankle, 4, 200.0);
        c.noise = 0.0;
        c.gyro_bias_dps = 0.0;
        c.drop_rate = 0.0;
        c.gaps_per_min = 0.0;
        c.compensation_rate = 0.0;
        let (sim, truth) = CircuitSimulator::new(&c).unwrap();
        let r = &truth.sets[0].reps[0];
        let v: Vec<Sample> = sim.filter(|s| s.t >= r.start_s && s.t <= r.end_s).collect();
        let path: f64 = v.iter().map(|s| s.gyr.norm() / 200.0).sum();
        assert!(
            path > 1.6 * r.peak_deg && path < 3.0 * r.peak_deg,
            "{path} vs {}",
            r.peak_deg
        );
    }

    /// The sweep in the closing note: `cargo test --lib circuit::tests::sweep -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn sweep() {
        for (e, p) in pairs() {
            let mut clean = Vec::new();
            let mut flagged = std::collections::BTreeMap::<String, Vec<f64>>::new();
            let mut dur = Vec::new();
            let mut names = std::collections::BTreeMap::<String, usize>::new();
            let mut close = 0;
            for seed in 0..40 {
                let t = plan(&cfg(e, p, seed)).unwrap().truth;
                dur.push(t.duration_s);
                for d in &t.distractions {
                    let (a, b) = span(d);
                    let name = d.rsplit_once(' ').unwrap().0.rsplit_once(' ').unwrap().0;
                    *names.entry(name.to_string()).or_default() += 1;
                    // Within 5 s of a set: a superset or the setting up.
                    if t.sets
                        .iter()
                        .any(|s| (a - s.end_s).abs() < 5.0 || (s.start_s - b).abs() < 5.0)
                    {
                        close += 1;
                    }
                }
                for r in t.sets.iter().flat_map(|s| &s.reps) {
                    if r.flags.is_empty() {
                        clean.push(r.peak_deg);
                    }
                    for f in &r.flags {
                        flagged
                            .entry(format!("{:?}", f.kind))
                            .or_default()
                            .push(f.value_deg);
                    }
                }
            }
            clean.sort_by(|a, b| a.total_cmp(b));
            let q = |v: &[f64], x: f64| v[((v.len() - 1) as f64 * x) as usize];
            println!(
                "{e} {p}: clean peaks n={} min {:.1} p10 {:.1} median {:.1} p90 {:.1} max {:.1}; session {:.0}-{:.0} s",
                clean.len(),
                clean[0],
                q(&clean, 0.1),
                q(&clean, 0.5),
                q(&clean, 0.9),
                clean[clean.len() - 1],
                dur.iter().cloned().fold(f64::INFINITY, f64::min),
                dur.iter().cloned().fold(0.0, f64::max)
            );
            println!("    distractions within 5 s of a set: {close}; {names:?}");
            for (k, mut v) in flagged {
                v.sort_by(|a, b| a.total_cmp(b));
                println!(
                    "    {k}: n={} {:.1}..{:.1} median {:.1}",
                    v.len(),
                    v[0],
                    v[v.len() - 1],
                    q(&v, 0.5)
                );
            }
        }
    }
}
