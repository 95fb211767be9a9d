//! An eighth body model, built apart: a physiotherapy clinic and
//! home-exercise population.
//!
//! The other models simulate healthy gym-goers. This one simulates the people
//! who do the same exercises in rehab or at home, and their equipment:
//!
//! - **Who.** Each session draws a patient: an older adult, someone after hip
//!   or knee surgery, someone with low-back pain, or an athlete coming back
//!   from injury. The population sets the working range (guarded, smaller
//!   than the 30–50° clinical norm for the frail and the operated), strength
//!   against the load, tremor and shakiness, rep-to-rep variability, the
//!   prescribed tempo (2-1-2, 3-1-3, 1-0-1, long isometric holds…) and how
//!   well it is followed, whether they hold on to a chair, rail or wall, and
//!   which compensations they tend to (the back-pain patient hikes with the
//!   side of the trunk, the returning athlete lets the foot fly, the operated
//!   hip stops short).
//! - **How a rep is made.** Not keyframes: the leg is a second-order plant
//!   (the leg's inertia against gravity, an elastic band that pulls harder
//!   the further it stretches, an ankle weight, a cable or the machine's
//!   stack, the other leg or the table as a stop) driven by a saturating
//!   controller that follows an *intention*. The intention is a reference the
//!   patient moves at their own uneven speed toward a goal, holds, and brings
//!   back; a twinge of pain revises the goal mid-rep (the rep stops early, a
//!   guarded rep), weakness saturates the controller (the leg slows toward the
//!   top against a band), a let-go descent lets the band or gravity snap the
//!   leg back onto its stop. Tremor and effort shakes are torques, so the
//!   controller filters them as a body would. Fatigue takes strength and speed
//!   over a set.
//! - **The set.** Reps with pauses; a therapist's cue mid-set ("slower", a
//!   pause of several seconds with the leg down, "hold it up there"); a rep
//!   abandoned at a few degrees (a twinge: up a little and straight down,
//!   not a rep); counting aloud nods the pelvis. The pelvis follows the leg:
//!   a clean rep moves obliquity by the usual 0.5–3°, the whole body shifts
//!   toward the stance side by up to ~2° (less when holding on), a supporting
//!   arm pushes the hips sideways in time with the effort, and postural sway
//!   of about a degree goes on throughout (far less lying down or holding on).
//! - **Compensations** (only kinds the sensor's placement can see): hip hike
//!   (obliquity rises 6–14° with the leg, beyond the usual 5° line), pelvic
//!   drop, trunk sway (the whole body rocks to both sides beyond ±5° within
//!   the rep, with yaw), momentum (a fast lift and a let-go return that the
//!   band or gravity snaps back), partial range (a rep deliberately stopped
//!   at about half the set's working range), hip flexion drift (the leg
//!   swings 12–25° forward out of the frontal plane as the TFL takes over).
//! - **Between sets.** Sitting down on a chair and standing up with help,
//!   walking with a limp or a stick and turning round, sitting up on the
//!   treatment table and lying down again, rolling onto the back, stepping
//!   down from and up onto the step, re-tying the band or re-strapping the
//!   sensor, shaking the leg out, a single swing. The rest time is drawn in
//!   the configured range and filled with these.
//! - **Sensor and equipment.** A cheap consumer IMU: timestamps either from
//!   the device or stamped by the host when batched BLE notifications arrive
//!   (clumps of samples, zero-mean jitter up to a notification's span),
//!   whole notifications lost, 200 ms link gaps, 16-bit quantisation with low
//!   full-scale ranges (±2 g / ±250 °/s clip on a fast drop), scale errors,
//!   a gyro bias that drifts as the sensor warms on the skin, a clock a few
//!   hundred ppm off. The ankle sensor is strapped in any orientation,
//!   sometimes on the thigh instead of the shank, sometimes loosely over
//!   clothing so that it creeps round the leg a little every rep; the sacrum
//!   sensor is clipped to a waistband that turns and folds relative to the
//!   pelvis. With `noise` 0 the sensor is ideal (no noise, quantisation,
//!   clipping or scale error); the bias is then only `gyro_bias_dps`.
//!
//! Ground truth comes from the same model, on the samples' timeline (host
//! stamps jitter around it with zero mean). A rep runs from the last moment
//! the working joint (hip abduction; for the hip hitch, the free side's drop)
//! is within a neutral band (the larger of 0.8° and 6% of the rep's own
//! excursion; 0.4° for the hitch) before its peak to the first moment after
//! its last excursion beyond it. `peak_deg` is, for the ankle placement, the
//! largest rotation of the sensor from its orientation at rest just before
//! the set; for the pelvis, the largest absolute change of obliquity (the
//! angle of the pelvis' left-right axis from the posture's horizontal,
//! positive free side up) from that rest. Flag sizes are what the model did:
//! the obliquity rise or fall (positive), the smaller of the two sides'
//! rocking, the peak of a momentum or partial rep, the added hip flexion.
//!
//! Everything is drawn from one seeded ChaCha8 stream: the same seed gives
//! the same session.

use super::sim::{in_ble_gap, SimConfig, Truth, TruthFlag, TruthRep, TruthSet};
use super::{gauss, round3, smoothstep};
use crate::motion::FlagKind;
use crate::sample::STANDARD_GRAVITY;
use crate::{Exercise, Placement, Sample};
use nalgebra::{Rotation3, UnitQuaternion, Vector3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::VecDeque;
use std::f64::consts::PI;
use std::sync::Arc;

/// Integration step of the leg's controller, s.
const DT: f64 = 0.001;
/// Controller steps between stored knots of a set's joint track.
const KNOT: usize = 5;
/// Time between stored knots, s.
const KNOT_DT: f64 = DT * KNOT as f64;
/// Stiffness (deg/s² per deg) and damping (per s) of the stop the leg rests on.
const STOP_K: f64 = 20_000.0;
const STOP_C: f64 = 250.0;

// ---------------------------------------------------------------- helpers

fn uni(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.gen::<f64>()
}

fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    rng.gen::<f64>() < p
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[(T, f64)]) -> T {
    let total: f64 = items.iter().map(|i| i.1).sum();
    let mut x = rng.gen::<f64>() * total;
    for &(v, w) in items {
        if x < w {
            return v;
        }
        x -= w;
    }
    items[items.len() - 1].0
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

/// A smooth random function of time: a sum of sinusoids at random
/// frequencies and phases (random Fourier features of a Gaussian process),
/// so it can be evaluated at any instant without state.
#[derive(Debug, Clone)]
struct Smooth {
    parts: Vec<[f64; 3]>,
}

impl Smooth {
    fn new(rng: &mut ChaCha8Rng, n: usize, f_lo: f64, f_hi: f64, rms: f64) -> Smooth {
        let a = rms * (2.0 / n as f64).sqrt();
        let parts = (0..n)
            .map(|_| {
                let f = f_lo * (f_hi / f_lo).powf(rng.gen::<f64>());
                [
                    a * uni(rng, 0.6, 1.4),
                    2.0 * PI * f,
                    uni(rng, 0.0, 2.0 * PI),
                ]
            })
            .collect();
        Smooth { parts }
    }

    fn at(&self, t: f64) -> f64 {
        self.parts
            .iter()
            .map(|p| p[0] * (p[1] * t + p[2]).sin())
            .sum()
    }
}

// ------------------------------------------------------------- the pose

/// Generalised coordinates of the body, all interpolable.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Q([f64; 18]);

/// Pelvis centre, world (m, z up).
const PX: usize = 0;
const PY: usize = 1;
const PZ: usize = 2;
/// Point the whole body tilts about (the stance foot, the seat, the table).
const VX: usize = 3;
const VY: usize = 4;
const VZ: usize = 5;
/// Heading, pelvis pitch (forward tilt), posture roll (±90 lying on a side), °.
const YAW: usize = 6;
const PITCH: usize = 7;
const ROLL: usize = 8;
/// Anatomical obliquity, ° (free side up positive).
const OBL: usize = 9;
/// Working hip abduction, hip flexion, knee flexion, °.
const ABD: usize = 10;
const FLEX: usize = 11;
const KNEE: usize = 12;
/// Whole-body tilt about the pivot: roll (frontal plane), pitch, yaw, °.
const TR: usize = 13;
const TP: usize = 14;
const TY: usize = 15;
/// Sideways shift of the hips toward the stance side, m.
const LAT: usize = 16;
/// Gain of postural sway (1 = free standing).
const SWAY: usize = 17;

impl Q {
    fn lerp(&self, other: &Q, u: f64) -> Q {
        let mut q = *self;
        for (a, b) in q.0.iter_mut().zip(other.0.iter()) {
            *a += (b - *a) * u;
        }
        q
    }
}

/// The postures the exercises are done in.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Posture {
    /// Standing on one leg on the floor (standing abduction).
    Standing,
    /// Standing on one leg on a step (hip hitch).
    Step,
    /// Lying on the side on a table or the floor, working leg on top.
    SideLying,
    /// Seated in the machine, knees bent.
    Seated,
}

/// Fixed properties of the body and where the sensor sits.
#[derive(Debug, Clone)]
struct Body {
    /// +1 when the working leg is the right one.
    s_w: f64,
    /// +1 when the free side (obliquity sign) is the right one.
    s_f: f64,
    thigh_m: f64,
    shank_m: f64,
    hip_half_m: f64,
    standing_hip_m: f64,
    placement: Placement,
    /// The "ankle" sensor ended up on the thigh.
    on_thigh: bool,
}

// ------------------------------------------------------------ the people

#[derive(Debug, Clone, Copy, PartialEq)]
enum Population {
    Older,
    PostSurgery,
    LowBack,
    Athlete,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Resistance {
    None,
    Band { k: f64, pre: f64 },
    AnkleWeight { frac: f64 },
    Cable { pull: f64 },
    Machine { pull: f64, k: f64 },
}

/// The patient of a session.
#[derive(Debug, Clone)]
struct Patient {
    pop: Population,
    /// Working range, ° (hip abduction; the hitch's drop).
    range: f64,
    /// Rep-to-rep spread of the goal, share of the range.
    spread: f64,
    /// Prescribed up, hold, down, s.
    tempo: [f64; 3],
    /// How this patient follows it (multiplies), and per-rep spread.
    tempo_bias: f64,
    tempo_sd: f64,
    wn: f64,
    zeta: f64,
    ff: f64,
    /// Strength, deg/s² beyond the load at the top.
    strength: f64,
    fatigue: f64,
    tremor_deg: f64,
    shake_deg: f64,
    uneven: f64,
    pain_p: f64,
    abandon_p: f64,
    cue_p: f64,
    holds_on: bool,
    /// Clean obliquity coupling (°) with the leg, whole-body lean (°),
    /// hip shift from the arm on the support (m).
    couple: f64,
    lean: f64,
    push: f64,
    counts_aloud: bool,
    limp: f64,
    stick: bool,
    sits_between: bool,
    resistance: Resistance,
    comp_weights: [f64; 6],
}

fn draw_patient(rng: &mut ChaCha8Rng, ex: Exercise, posture: Posture) -> Patient {
    let pop = pick(
        rng,
        &[
            (Population::Older, 0.3),
            (Population::PostSurgery, 0.3),
            (Population::LowBack, 0.25),
            (Population::Athlete, 0.15),
        ],
    );
    let (lo, hi) = match (posture, pop) {
        (Posture::Step, Population::Older) => (5.0, 8.0),
        (Posture::Step, Population::PostSurgery) => (5.0, 7.5),
        (Posture::Step, Population::LowBack) => (5.5, 9.0),
        (Posture::Step, Population::Athlete) => (7.0, 12.0),
        (Posture::SideLying, Population::Older) => (20.0, 34.0),
        (Posture::SideLying, Population::PostSurgery) => (17.0, 30.0),
        (Posture::SideLying, Population::LowBack) => (25.0, 40.0),
        (Posture::SideLying, Population::Athlete) => (32.0, 48.0),
        (Posture::Seated, Population::Older) => (14.0, 25.0),
        (Posture::Seated, Population::PostSurgery) => (13.0, 22.0),
        (Posture::Seated, Population::LowBack) => (16.0, 28.0),
        (Posture::Seated, Population::Athlete) => (20.0, 35.0),
        (_, Population::Older) => (16.0, 28.0),
        (_, Population::PostSurgery) => (15.0, 26.0),
        (_, Population::LowBack) => (20.0, 35.0),
        (_, Population::Athlete) => (28.0, 42.0),
    };
    // The operated or painful side is weaker: this may be it.
    let affected = matches!(pop, Population::PostSurgery | Population::LowBack) && chance(rng, 0.5);
    let range = uni(rng, lo, hi) * if affected { 0.88 } else { 1.0 };
    let tempos: &[([f64; 3], f64)] = match pop {
        Population::Older => &[
            ([2.0, 1.0, 2.0], 2.0),
            ([3.0, 1.0, 3.0], 2.0),
            ([2.0, 3.0, 2.0], 1.0),
        ],
        Population::PostSurgery => &[
            ([3.0, 1.0, 3.0], 2.0),
            ([2.0, 2.0, 2.0], 1.0),
            ([2.0, 5.0, 2.0], 1.0),
            ([3.0, 2.0, 3.0], 1.0),
        ],
        Population::LowBack => &[
            ([2.0, 1.0, 2.0], 2.0),
            ([2.0, 0.0, 2.0], 1.0),
            ([1.0, 1.0, 2.0], 1.0),
        ],
        Population::Athlete => &[
            ([1.0, 0.0, 1.0], 2.0),
            ([1.0, 1.0, 2.0], 2.0),
            ([2.0, 0.0, 2.0], 1.0),
        ],
    };
    let tempo = pick(rng, tempos);
    // (low, high) of tremor (°), effort shakes (°), uneven speed and
    // rep-to-rep spread, drawn in that order.
    let ranges = match pop {
        Population::Older => [(0.1, 0.35), (0.1, 0.6), (0.2, 0.6), (0.06, 0.12)],
        Population::PostSurgery => [(0.05, 0.2), (0.2, 0.8), (0.2, 0.7), (0.08, 0.15)],
        Population::LowBack => [(0.05, 0.15), (0.0, 0.3), (0.1, 0.4), (0.05, 0.1)],
        Population::Athlete => [(0.03, 0.1), (0.0, 0.15), (0.0, 0.25), (0.04, 0.08)],
    };
    let [tremor_deg, shake_deg, uneven, spread] = ranges.map(|(lo, hi)| uni(rng, lo, hi));
    let holds_p = match pop {
        Population::Older => 0.85,
        Population::PostSurgery => 0.8,
        Population::LowBack => 0.5,
        Population::Athlete => 0.2,
    };
    let standing = matches!(posture, Posture::Standing | Posture::Step);
    let holds_on = standing && chance(rng, holds_p);
    let resistance = match posture {
        Posture::Seated => Resistance::Machine {
            pull: uni(rng, 150.0, 350.0),
            k: uni(rng, 3.0, 10.0),
        },
        Posture::Step => {
            if chance(rng, 0.25) {
                Resistance::AnkleWeight {
                    frac: uni(rng, 0.2, 0.5),
                }
            } else {
                Resistance::None
            }
        }
        _ => {
            let band = Resistance::Band {
                k: uni(rng, 5.0, 18.0),
                pre: uni(rng, 0.0, 60.0),
            };
            let weight = Resistance::AnkleWeight {
                frac: uni(rng, 0.25, 0.7),
            };
            let cable = Resistance::Cable {
                pull: uni(rng, 120.0, 350.0),
            };
            if posture == Posture::Standing && ex == Exercise::StandingCableAbduction {
                pick(
                    rng,
                    &[
                        (Resistance::None, 1.0),
                        (band, 3.0),
                        (weight, 1.5),
                        (cable, 2.0),
                    ],
                )
            } else {
                pick(rng, &[(Resistance::None, 1.5), (band, 2.0), (weight, 2.0)])
            }
        }
    };
    // Weights for hip hike, pelvic drop, trunk sway, momentum, partial range, flexion drift.
    let comp_weights = match pop {
        Population::Older => [1.0, 2.0, 1.5, 0.5, 2.0, 1.0],
        Population::PostSurgery => [1.0, 1.5, 0.7, 0.3, 3.0, 2.0],
        Population::LowBack => [3.0, 1.0, 1.0, 1.0, 1.0, 1.0],
        Population::Athlete => [1.0, 0.5, 1.0, 3.0, 0.5, 1.5],
    };
    let couple_sign = if chance(rng, 0.7) { -1.0 } else { 1.0 };
    let lean_max = if holds_on { 0.7 } else { 2.0 };
    Patient {
        pop,
        range,
        spread,
        tempo,
        tempo_bias: match pop {
            Population::Athlete | Population::LowBack => uni(rng, 0.65, 1.0),
            _ => uni(rng, 0.8, 1.25),
        },
        tempo_sd: uni(rng, 0.1, 0.25),
        wn: 2.0 * PI * uni(rng, 1.3, 2.3),
        zeta: uni(rng, 0.7, 1.0),
        ff: uni(rng, 0.75, 0.97),
        strength: match pop {
            Population::Athlete => uni(rng, 1200.0, 2500.0),
            Population::LowBack => uni(rng, 700.0, 1500.0),
            _ => uni(rng, 300.0, 900.0),
        } * if affected { 0.8 } else { 1.0 },
        fatigue: uni(rng, 0.05, 0.3),
        tremor_deg,
        shake_deg,
        uneven,
        pain_p: match pop {
            Population::PostSurgery => uni(rng, 0.15, 0.4),
            Population::LowBack | Population::Older => uni(rng, 0.05, 0.2),
            Population::Athlete => uni(rng, 0.0, 0.08),
        },
        abandon_p: match pop {
            Population::PostSurgery => 0.5,
            Population::Older => 0.3,
            _ => 0.12,
        },
        cue_p: if pop == Population::Athlete {
            0.2
        } else {
            0.45
        },
        holds_on,
        couple: couple_sign * uni(rng, 0.5, 2.5),
        lean: uni(rng, 0.0, lean_max),
        push: if holds_on {
            uni(rng, 0.004, 0.018) * if chance(rng, 0.5) { 1.0 } else { -1.0 }
        } else {
            0.0
        },
        counts_aloud: chance(rng, 0.5),
        limp: match pop {
            Population::PostSurgery => uni(rng, 0.2, 0.5),
            Population::Older => uni(rng, 0.05, 0.25),
            _ => uni(rng, 0.0, 0.12),
        },
        stick: matches!(pop, Population::PostSurgery | Population::Older) && chance(rng, 0.4),
        sits_between: matches!(pop, Population::PostSurgery | Population::Older)
            || chance(rng, 0.3),
        resistance,
        comp_weights,
    }
}

// ------------------------------------------------------------ the reps

/// What the patient means to do next in a set.
#[derive(Debug, Clone)]
enum Action {
    Rep(RepPlan),
    /// A still pause with the leg down (a therapist's cue, a breath), s.
    Pause(f64),
    /// A rep abandoned at a few degrees: goal, up, down, settle.
    Abandon([f64; 4]),
}

#[derive(Debug, Clone)]
struct RepPlan {
    goal: f64,
    up: f64,
    hold: f64,
    down: f64,
    settle: f64,
    /// Uneven speed of the intention: depth and number of surges.
    uneven_a: f64,
    uneven_m: f64,
    /// Pain revises the goal when the joint reaches this.
    pain_cap: Option<f64>,
    /// Fast up, let go down.
    momentum: bool,
    /// Sag during the hold, °.
    sag: f64,
    /// Hip hitch: pulled past level by this much at the end, °.
    overshoot: f64,
    /// The compensation the patient does on this rep.
    comp: Option<FlagKind>,
    /// Size of that compensation as planned, °.
    comp_deg: f64,
    partial: bool,
}

/// A set's joint angle and rate, stored at [`KNOT_DT`] and read back with
/// Hermite interpolation.
#[derive(Debug, Clone)]
struct Track {
    t0: f64,
    th: Vec<f64>,
    om: Vec<f64>,
    /// The joint's angle resting on its stop (subtracted).
    rest: f64,
    t_end: f64,
}

impl Track {
    fn at(&self, t: f64) -> (f64, f64) {
        let n = self.th.len();
        if n < 2 {
            return (0.0, 0.0);
        }
        let x = (t - self.t0) / KNOT_DT;
        if x <= 0.0 {
            return (self.th[0] - self.rest, 0.0);
        }
        let i = (x.floor() as usize).min(n - 2);
        let u = (x - i as f64).min(1.0);
        let (p0, p1) = (self.th[i], self.th[i + 1]);
        let (m0, m1) = (self.om[i] * KNOT_DT, self.om[i + 1] * KNOT_DT);
        let (u2, u3) = (u * u, u * u * u);
        let p = (2.0 * u3 - 3.0 * u2 + 1.0) * p0
            + (u3 - 2.0 * u2 + u) * m0
            + (-2.0 * u3 + 3.0 * u2) * p1
            + (u3 - u2) * m1;
        let dp = (6.0 * u2 - 6.0 * u) * p0
            + (3.0 * u2 - 4.0 * u + 1.0) * m0
            + (-6.0 * u2 + 6.0 * u) * p1
            + (3.0 * u2 - 2.0 * u) * m1;
        // Fade the last half second to exactly rest, so the set joins what follows.
        let fade = smoothstep((self.t_end - t) / 0.5);
        let dfade = if self.t_end - t < 0.5 && t < self.t_end {
            let v = (self.t_end - t) / 0.5;
            -6.0 * v * (1.0 - v) / 0.5
        } else {
            0.0
        };
        let th = p - self.rest;
        (th * fade, dp / KNOT_DT * fade + th * dfade)
    }
}

/// One action of a set as it came out.
#[derive(Debug, Clone)]
struct Done {
    t0: f64,
    t1: f64,
    /// Rep start, end, peak time (from the joint track).
    start: f64,
    end: f64,
    t_peak: f64,
    peak_th: f64,
    kind: DoneKind,
    /// Compensation geometry during this rep.
    hike: f64,
    drop: f64,
    sway: f64,
    flex: f64,
    /// Strap creep around the limb, ° (loose strap).
    creep: f64,
}

#[derive(Debug, Clone, PartialEq)]
enum DoneKind {
    Rep(usize),
    Abandon,
    Pause,
}

/// A set: the posture, the joint track and what was done.
#[derive(Debug, Clone)]
struct SetData {
    base: Q,
    /// The posture's long axis toward the head (obliquity is measured against it).
    long_axis: Vector3<f64>,
    track: Track,
    done: Vec<Done>,
    plans: Vec<RepPlan>,
    hitch: bool,
    couple: f64,
    lean: f64,
    push: f64,
    nod: f64,
    natural_flex: f64,
    natural_yaw: f64,
}

impl SetData {
    fn done_at(&self, t: f64) -> Option<&Done> {
        let i = self.done.partition_point(|d| d.t0 <= t);
        if i == 0 {
            return None;
        }
        let d = &self.done[i - 1];
        (t <= d.t1 + 0.5).then_some(d)
    }

    fn q_at(&self, t: f64, s_f: f64) -> Q {
        let mut q = self.base;
        let (th, _) = self.track.at(t);
        let (th_lag, _) = self.track.at(t - 0.12);
        let d = self.done_at(t);
        let peak = d.map(|d| d.peak_th.abs().max(0.5)).unwrap_or(1.0);
        let prog = (th / peak).clamp(-0.3, 1.3);
        let prog_lag = (th_lag / peak).clamp(-0.3, 1.3);
        let pos = prog.max(0.0);
        if self.hitch {
            q.0[OBL] -= th;
        } else {
            q.0[ABD] += th;
            q.0[OBL] += self.couple * prog_lag;
        }
        q.0[FLEX] += self.natural_flex * pos;
        q.0[TY] += self.natural_yaw * prog_lag;
        q.0[TR] += -s_f * self.lean * prog_lag.max(0.0);
        q.0[LAT] += self.push * prog_lag.max(0.0);
        if let Some(d) = d {
            let in_rep = matches!(d.kind, DoneKind::Rep(_));
            if in_rep {
                q.0[FLEX] += d.flex * pos.powf(1.3);
                q.0[OBL] += d.hike * smoothstep(pos) - d.drop * smoothstep(prog_lag.max(0.0));
                if d.sway != 0.0 && t > d.start && t < d.end {
                    let u = (t - d.start) / (d.end - d.start);
                    let w = (2.0 * PI * u).sin();
                    q.0[TR] += d.sway * w;
                    q.0[TY] += 0.4 * d.sway * w;
                    q.0[LAT] += -s_f * 0.004 * d.sway * w;
                }
                // Counting aloud: a small nod as the rep ends.
                let x = (t - d.end) / 0.15;
                q.0[PITCH] += self.nod * (-x * x).exp();
            }
        }
        q
    }
}

// ------------------------------------------------------------ the plan

#[derive(Debug, Clone)]
enum Seg {
    Still(Q),
    Move {
        q0: Q,
        q1: Q,
        wobble: f64,
    },
    Walk {
        q0: Q,
        dist: f64,
        speed: f64,
        stride_hz: f64,
        limp: f64,
        stick: bool,
    },
    Turn {
        q0: Q,
        dyaw: f64,
    },
    Shake {
        q: Q,
        hz: f64,
        amp: f64,
    },
    Swing {
        q: Q,
        amp: f64,
    },
    Set(usize),
}

#[derive(Debug, Clone)]
struct Segment {
    t0: f64,
    t1: f64,
    seg: Seg,
}

/// A rotation of the sensor against its segment, from `t0` to `t1`.
#[derive(Debug, Clone)]
struct Remount {
    t0: f64,
    t1: f64,
    from: UnitQuaternion<f64>,
    to: UnitQuaternion<f64>,
}

/// Everything the samples are computed from.
#[derive(Debug)]
struct Plan {
    body: Body,
    segs: Vec<Segment>,
    sets: Vec<SetData>,
    mount0: UnitQuaternion<f64>,
    remounts: Vec<Remount>,
    /// Strap creep round the limb: (start, width, step) and the running sum before each.
    creep: Vec<(f64, f64, f64)>,
    creep_sum: Vec<f64>,
    sway: [Smooth; 4],
    waistband: [Smooth; 3],
    duration: f64,
    sensor: SensorModel,
    gaps: Vec<f64>,
}

#[derive(Debug, Clone)]
struct SensorModel {
    rate_hz: f64,
    period: f64,
    /// Samples per BLE notification and host-side stamping.
    batch: usize,
    host_stamped: bool,
    latency_spread: f64,
    drop_rate: f64,
    ideal: bool,
    acc_sd: f64,
    gyr_sd: f64,
    acc_fs: f64,
    gyr_fs: f64,
    acc_scale: Vector3<f64>,
    gyr_scale: Vector3<f64>,
    bias0: Vector3<f64>,
    bias_warm: Vector3<f64>,
    warm_tau: f64,
    acc_offset: Vector3<f64>,
}

impl Plan {
    fn seg_at(&self, t: f64) -> &Segment {
        let i = self.segs.partition_point(|s| s.t0 <= t);
        &self.segs[i.saturating_sub(1).min(self.segs.len() - 1)]
    }

    fn q_at(&self, t: f64) -> Q {
        let s = self.seg_at(t);
        let u = if s.t1 > s.t0 {
            ((t - s.t0) / (s.t1 - s.t0)).clamp(0.0, 1.0)
        } else {
            1.0
        };
        let tau = (t - s.t0).clamp(0.0, s.t1 - s.t0);
        let mut q = match &s.seg {
            Seg::Still(q) => *q,
            Seg::Set(i) => self.sets[*i].q_at(t, self.body.s_f),
            Seg::Move { q0, q1, wobble } => {
                let e = smoothstep(u) + wobble * (PI * u).sin().powi(2) * (3.0 * PI * u).sin();
                let mut q = q0.lerp(q1, e);
                q.0[TR] += wobble * 6.0 * (PI * u).sin().powi(2) * (5.0 * PI * u).sin();
                q
            }
            Seg::Walk {
                q0,
                dist,
                speed,
                stride_hz,
                limp,
                stick,
            } => {
                // The speed ramps up over the first second and down over the last.
                let dur = s.t1 - s.t0;
                let r = (dur / 2.0).min(1.0);
                let env = smoothstep(tau / r) * smoothstep((dur - tau) / r);
                let ramp_int = |x: f64| {
                    let v = (x / r).clamp(0.0, 1.0);
                    r * (v * v * v - v * v * v * v / 2.0)
                };
                let moved = if tau < r {
                    ramp_int(tau)
                } else if tau < dur - r {
                    r / 2.0 + (tau - r)
                } else {
                    (dur - r) - ramp_int(dur - tau)
                };
                let along = (speed * moved).min(*dist);
                let mut q = *q0;
                let yaw = q0.0[YAW].to_radians();
                q.0[PX] += along * yaw.cos();
                q.0[PY] += along * yaw.sin();
                q.0[VX] += along * yaw.cos();
                q.0[VY] += along * yaw.sin();
                let ph = 2.0 * PI * stride_hz * tau;
                let ph = ph + limp * ph.sin();
                let obl_amp = if *stick { 2.0 } else { 3.0 + 8.0 * limp };
                q.0[FLEX] += env * (5.0 + 18.0 * ph.sin());
                q.0[KNEE] += env * 55.0 * ((ph + 0.6).sin().max(0.0)).powi(2);
                q.0[OBL] += env * obl_amp * (ph + 0.3).sin();
                q.0[TY] += env * 4.0 * ph.cos();
                q.0[TR] += env * (1.5 + 4.0 * limp) * ph.sin();
                q.0[LAT] += env * 0.025 * ph.sin();
                q.0[PZ] += env
                    * (0.015 * (2.0 * ph).cos()
                        - 0.006 * (-((ph.rem_euclid(PI) - 0.3) / 0.15).powi(2)).exp());
                q
            }
            Seg::Turn { q0, dyaw } => {
                let mut q = *q0;
                q.0[YAW] += dyaw * smoothstep(u);
                let env = (PI * u).sin().powi(2);
                q.0[FLEX] += env * 10.0 * (2.0 * PI * 1.2 * tau).sin();
                q.0[KNEE] += env * 15.0 * (2.0 * PI * 1.2 * tau).sin().max(0.0);
                q.0[TR] += env * 1.5 * (2.0 * PI * 1.2 * tau).sin();
                q
            }
            Seg::Shake { q, hz, amp } => {
                let mut q = *q;
                let env = (PI * u).sin().powi(2);
                q.0[ABD] += env * amp * (2.0 * PI * hz * tau).sin();
                q.0[FLEX] += env * 0.7 * amp * (2.0 * PI * hz * tau + 1.0).sin();
                q
            }
            Seg::Swing { q, amp } => {
                let mut q = *q;
                q.0[ABD] += amp * (PI * u).sin().powi(2);
                q
            }
        };
        let g = q.0[SWAY];
        q.0[TR] += g * self.sway[0].at(t);
        q.0[TP] += g * self.sway[1].at(t);
        q.0[TY] += g * self.sway[2].at(t);
        q.0[LAT] += g * self.sway[3].at(t);
        q
    }

    /// Pelvis frame: position and rotation (world z up).
    fn pelvis(&self, q: &Q) -> (Vector3<f64>, Rotation3<f64>) {
        let b = &self.body;
        let head = rz(q.0[YAW]);
        let tilt = head * rx(q.0[TR]) * ry(q.0[TP]) * rz(q.0[TY]) * head.inverse();
        let base = rz(q.0[YAW]) * ry(q.0[PITCH]) * rx(q.0[ROLL]);
        let r = tilt * base * rx(-b.s_f * q.0[OBL]);
        let pivot = Vector3::new(q.0[VX], q.0[VY], q.0[VZ]);
        let p = Vector3::new(q.0[PX], q.0[PY], q.0[PZ])
            + base
                * Vector3::new(
                    0.0,
                    b.s_f * q.0[LAT],
                    b.hip_half_m * q.0[OBL].to_radians().sin(),
                );
        (pivot + tilt * (p - pivot), r)
    }

    /// Where the sensor is and how it is turned, as the body puts it (no sensor errors).
    fn sensor_pose(&self, t: f64) -> (Vector3<f64>, Rotation3<f64>) {
        let q = self.q_at(t);
        let b = &self.body;
        let (pp, rp) = self.pelvis(&q);
        match b.placement {
            Placement::Pelvis => {
                let wb = rz(self.waistband[0].at(t))
                    * rx(self.waistband[1].at(t))
                    * ry(self.waistband[2].at(t) + 0.1 * q.0[FLEX]);
                let p = pp + rp * Vector3::new(-0.11, 0.0, 0.03);
                let m = self.mount_at(t).to_rotation_matrix();
                (p, rp * wb * m)
            }
            Placement::Ankle => {
                let hip = pp + rp * Vector3::new(0.0, -b.s_w * b.hip_half_m, -0.05);
                let rt = rp * ry(-q.0[FLEX]) * rx(-b.s_w * q.0[ABD]);
                let (p, rs) = if b.on_thigh {
                    (
                        hip + rt * Vector3::new(0.0, -b.s_w * 0.08, -0.55 * b.thigh_m),
                        rt,
                    )
                } else {
                    let knee = hip + rt * Vector3::new(0.0, 0.0, -b.thigh_m);
                    let rs = rt * ry(q.0[KNEE]);
                    (
                        knee + rs * Vector3::new(0.0, -b.s_w * 0.05, -0.85 * b.shank_m),
                        rs,
                    )
                };
                let m = self.mount_at(t).to_rotation_matrix();
                (p, rs * rz(self.creep_at(t)) * m)
            }
        }
    }

    fn mount_at(&self, t: f64) -> UnitQuaternion<f64> {
        let i = self.remounts.partition_point(|r| r.t0 <= t);
        if i == 0 {
            return self.mount0;
        }
        let r = &self.remounts[i - 1];
        if t >= r.t1 {
            r.to
        } else {
            r.from.slerp(&r.to, smoothstep((t - r.t0) / (r.t1 - r.t0)))
        }
    }

    fn creep_at(&self, t: f64) -> f64 {
        let i = self.creep.partition_point(|c| c.0 <= t);
        if i == 0 {
            return 0.0;
        }
        let (t0, w, step) = self.creep[i - 1];
        self.creep_sum[i - 1] + step * smoothstep((t - t0) / w)
    }

    /// Geometric obliquity in set `k`'s posture, ° (free side up positive).
    fn obliquity(&self, t: f64, k: usize) -> f64 {
        let q = self.q_at(t);
        let (_, r) = self.pelvis(&q);
        let lateral = r * Vector3::new(0.0, -self.body.s_f, 0.0);
        lateral
            .dot(&self.sets[k].long_axis)
            .clamp(-1.0, 1.0)
            .asin()
            .to_degrees()
    }

    /// What an ideal sensor reads at body time `t`: specific force (m/s²) and rate (°/s).
    fn ideal(&self, t: f64) -> (Vector3<f64>, Vector3<f64>) {
        let h = (0.25 / self.sensor.rate_hz).min(0.004);
        let (p0, r0) = self.sensor_pose(t - h);
        let (p1, r1) = self.sensor_pose(t);
        let (p2, r2) = self.sensor_pose(t + h);
        let acc = (p2 - 2.0 * p1 + p0) / (h * h);
        let f = r1.transpose() * (acc + Vector3::new(0.0, 0.0, STANDARD_GRAVITY));
        let d = r0.transpose() * r2;
        // The rate over [t-h, t+h] (its axis is the same in either end's frame).
        let w = d.scaled_axis() / (2.0 * h);
        (f, w.map(f64::to_degrees))
    }
}

// ------------------------------------------------------------ building

/// Where the builder stood, to take back an activity that did not fit.
struct Mark {
    segs: usize,
    t: f64,
    q: Q,
    notes: usize,
    mount: UnitQuaternion<f64>,
    remounts: usize,
    creep: usize,
    creep_total: f64,
}

/// What a patient may do between sets.
#[derive(Debug, Clone, Copy)]
enum Activity {
    Walk,
    Sit,
    TableWalk,
    RollOver,
    Retie,
    Shake,
    Swing,
}

struct Builder<'a> {
    cfg: &'a SimConfig,
    rng: ChaCha8Rng,
    body: Body,
    posture: Posture,
    patient: Patient,
    segs: Vec<Segment>,
    sets: Vec<SetData>,
    t: f64,
    q: Q,
    distractions: Vec<String>,
    mount: UnitQuaternion<f64>,
    mount0: UnitQuaternion<f64>,
    remounts: Vec<Remount>,
    creep: Vec<(f64, f64, f64)>,
    creep_total: f64,
    loose: f64,
    visible: Vec<FlagKind>,
}

impl Builder<'_> {
    fn push(&mut self, dur: f64, seg: Seg, q_end: Q) {
        let dur = dur.max(0.0);
        self.segs.push(Segment {
            t0: self.t,
            t1: self.t + dur,
            seg,
        });
        self.t += dur;
        self.q = q_end;
    }

    fn still(&mut self, dur: f64) {
        if dur > 0.0 {
            let q = self.q;
            self.push(dur, Seg::Still(q), q);
        }
    }

    fn move_to(&mut self, q1: Q, dur: f64, wobble: f64) {
        let q0 = self.q;
        self.push(dur, Seg::Move { q0, q1, wobble }, q1);
    }

    fn note(&mut self, what: &str) {
        self.distractions.push(format!("{what} at {:.1} s", self.t));
    }

    /// The posture's base pose: where the set is done from.
    fn base_q(&mut self, yaw: f64, at: [f64; 2]) -> Q {
        let b = &self.body;
        let mut q = Q([0.0; 18]);
        q.0[YAW] = yaw;
        let head = rz(yaw);
        match self.posture {
            Posture::Standing | Posture::Step => {
                let foot_z = if self.posture == Posture::Step {
                    0.18
                } else {
                    0.0
                };
                let off = head * Vector3::new(0.0, -b.s_f * b.hip_half_m, b.standing_hip_m);
                q.0[VX] = at[0];
                q.0[VY] = at[1];
                q.0[VZ] = foot_z;
                q.0[PX] = at[0] + off.x;
                q.0[PY] = at[1] + off.y;
                q.0[PZ] = foot_z + off.z;
                q.0[KNEE] = uni(&mut self.rng, 0.0, 5.0);
                q.0[SWAY] = if self.patient.holds_on { 0.35 } else { 1.0 }
                    * if self.patient.pop == Population::Older {
                        1.3
                    } else {
                        1.0
                    };
            }
            Posture::SideLying => {
                q.0[PX] = at[0];
                q.0[PY] = at[1];
                q.0[PZ] = 0.9;
                q.0[VX] = at[0];
                q.0[VY] = at[1];
                q.0[VZ] = 0.9;
                q.0[ROLL] = -b.s_w * (90.0 + uni(&mut self.rng, -10.0, 10.0));
                q.0[FLEX] = uni(&mut self.rng, 0.0, 12.0);
                q.0[SWAY] = 0.2;
            }
            Posture::Seated => {
                q.0[PX] = at[0];
                q.0[PY] = at[1];
                q.0[PZ] = 0.52;
                q.0[VX] = at[0];
                q.0[VY] = at[1];
                q.0[VZ] = 0.45;
                q.0[PITCH] = uni(&mut self.rng, -5.0, 10.0);
                q.0[FLEX] = uni(&mut self.rng, 80.0, 95.0);
                q.0[KNEE] = uni(&mut self.rng, 80.0, 100.0);
                q.0[SWAY] = 0.3;
            }
        }
        q
    }

    fn seated_from(&self, q: &Q, height: f64) -> Q {
        let mut s = *q;
        let yaw = q.0[YAW].to_radians();
        s.0[PX] -= 0.15 * yaw.cos();
        s.0[PY] -= 0.15 * yaw.sin();
        s.0[PZ] = height;
        s.0[VX] = s.0[PX];
        s.0[VY] = s.0[PY];
        s.0[VZ] = height - 0.05;
        s.0[ROLL] = 0.0;
        s.0[PITCH] = 5.0;
        s.0[OBL] = 0.0;
        s.0[ABD] = 3.0;
        s.0[FLEX] = 88.0;
        s.0[KNEE] = 90.0;
        s.0[SWAY] = 0.3;
        s
    }

    fn standing_from(&mut self, q: &Q) -> Q {
        let yaw = q.0[YAW];
        let mut s = self.base_q(yaw, [q.0[PX], q.0[PY]]);
        if self.posture == Posture::Step {
            s.0[VZ] = 0.0;
            s.0[PZ] -= 0.18;
        }
        s.0[SWAY] = 1.0;
        s
    }

    fn remount(&mut self, dur: f64, big: bool) {
        let spread = if big { 25.0 } else { 8.0 };
        let axis = Vector3::new(
            gauss(&mut self.rng),
            gauss(&mut self.rng),
            gauss(&mut self.rng),
        );
        let ang = uni(&mut self.rng, 2.0, spread).to_radians();
        let turn = UnitQuaternion::from_scaled_axis(axis.normalize() * ang);
        let mut to = self.mount * turn;
        if self.body.placement == Placement::Pelvis {
            // The clip stays within the wearer's ±15° whatever happens.
            let tilt = to.angle();
            if tilt > 15f64.to_radians() {
                to = UnitQuaternion::identity().slerp(&to, 14f64.to_radians() / tilt);
            }
        }
        // Re-strapping also undoes the creep round the leg.
        let creep_back = -self.creep_total;
        self.remounts.push(Remount {
            t0: self.t,
            t1: self.t + dur,
            from: self.mount,
            to,
        });
        if creep_back != 0.0 {
            self.creep.push((self.t, dur, creep_back));
            self.creep_total = 0.0;
        }
        self.mount = to;
    }

    fn mark(&self) -> Mark {
        Mark {
            segs: self.segs.len(),
            t: self.t,
            q: self.q,
            notes: self.distractions.len(),
            mount: self.mount,
            remounts: self.remounts.len(),
            creep: self.creep.len(),
            creep_total: self.creep_total,
        }
    }

    fn undo(&mut self, m: Mark) {
        self.segs.truncate(m.segs);
        self.t = m.t;
        self.q = m.q;
        self.distractions.truncate(m.notes);
        self.mount = m.mount;
        self.remounts.truncate(m.remounts);
        self.creep.truncate(m.creep);
        self.creep_total = m.creep_total;
    }

    /// Fills a rest of exactly `dur` seconds between sets, ending still in
    /// the next set's base pose for at least 3 s.
    fn rest(&mut self, dur: f64) {
        let cfg = self.cfg;
        let dur = dur.max(0.0);
        let post = uni(&mut self.rng, 1.5, 3.0).min(0.25 * dur);
        let pre = uni(&mut self.rng, 3.0, 5.0).min(0.4 * dur);
        let t_end = self.t + dur;
        let t_goal = t_end - pre;
        self.still(post);
        let active = cfg.walking || cfg.fidgets;
        let mut plan: Vec<Activity> = Vec::new();
        match self.posture {
            Posture::Standing | Posture::Step | Posture::Seated => {
                if cfg.walking {
                    plan.push(Activity::Walk);
                }
                if active && self.posture != Posture::Seated && self.patient.sits_between {
                    plan.push(Activity::Sit);
                }
            }
            Posture::SideLying => {
                if cfg.walking {
                    plan.push(Activity::TableWalk);
                } else if active && chance(&mut self.rng, 0.5) {
                    plan.push(Activity::RollOver);
                }
            }
        }
        if cfg.fidgets {
            if chance(&mut self.rng, 0.5) {
                plan.push(Activity::Retie);
            }
            if chance(&mut self.rng, 0.5) {
                plan.push(Activity::Shake);
            }
            if chance(&mut self.rng, 0.3) && self.posture != Posture::Seated {
                plan.push(Activity::Swing);
            }
        }
        for i in (1..plan.len()).rev() {
            let j = self.rng.gen_range(0..=i);
            plan.swap(i, j);
        }
        for act in plan {
            // Try it; if it would not fit in the rest, it was not done.
            let m = self.mark();
            let gap = uni(&mut self.rng, 1.0, 3.0);
            self.still(gap);
            match act {
                Activity::Walk => self.walk_out_and_back(),
                Activity::Sit => self.sit_and_stand(),
                Activity::TableWalk => self.up_from_table(true),
                Activity::RollOver => self.up_from_table(false),
                Activity::Retie => self.retie(),
                Activity::Shake => {
                    let q = self.q;
                    let hz = uni(&mut self.rng, 3.0, 5.5);
                    let amp = uni(&mut self.rng, 2.0, 6.0);
                    let d = uni(&mut self.rng, 1.5, 3.0);
                    self.note("leg shaken out");
                    self.push(d, Seg::Shake { q, hz, amp }, q);
                }
                Activity::Swing => {
                    let q = self.q;
                    let amp = uni(&mut self.rng, 12.0, 25.0);
                    let d = uni(&mut self.rng, 0.8, 1.6);
                    self.note("single swing");
                    self.push(d, Seg::Swing { q, amp }, q);
                }
            }
            if self.t > t_goal {
                self.undo(m);
            }
        }
        let left = t_end - self.t;
        self.still(left);
        self.t = t_end;
    }

    /// A straight walk of `dist` metres along the current heading.
    fn walk(&mut self, dist: f64, speed: f64, stride_hz: f64) {
        let q0 = self.q;
        let ramp = 1.0;
        let dur = dist / speed + ramp;
        let mut q1 = q0;
        let yaw = q0.0[YAW].to_radians();
        for (i, c) in [
            (PX, yaw.cos()),
            (PY, yaw.sin()),
            (VX, yaw.cos()),
            (VY, yaw.sin()),
        ] {
            q1.0[i] += dist * c;
        }
        let (limp, stick) = (self.patient.limp, self.patient.stick);
        self.push(
            dur,
            Seg::Walk {
                q0,
                dist,
                speed,
                stride_hz,
                limp,
                stick,
            },
            q1,
        );
    }

    fn turn(&mut self, dyaw: f64) {
        let q0 = self.q;
        let mut q1 = q0;
        q1.0[YAW] += dyaw;
        self.note("turned round");
        let d = uni(&mut self.rng, 2.0, 3.5);
        self.push(d, Seg::Turn { q0, dyaw }, q1);
    }

    /// Walks a few metres away, turns, walks back, turns to a new heading.
    fn walk_there_and_back(&mut self, last_turn: f64) {
        let stick = self.patient.stick;
        let speed = if stick {
            uni(&mut self.rng, 0.4, 0.6)
        } else {
            uni(&mut self.rng, 0.5, 0.9)
        };
        let stride_hz = speed * uni(&mut self.rng, 0.9, 1.2);
        let dist = uni(&mut self.rng, 2.5, 6.0);
        let mut walking = self.q;
        walking.0[SWAY] = 0.6;
        self.q = walking;
        self.note(if stick {
            "walk with a stick"
        } else if self.patient.limp > 0.2 {
            "walk with a limp"
        } else {
            "walk"
        });
        self.walk(dist, speed, stride_hz);
        self.turn(180.0);
        self.walk(dist, speed, stride_hz);
        self.turn(last_turn);
    }

    fn walk_out_and_back(&mut self) {
        let step = self.posture == Posture::Step;
        let seated = self.posture == Posture::Seated;
        let from = self.q;
        if step {
            let down = self.standing_from(&from);
            self.note("stepped down from the step");
            let d = uni(&mut self.rng, 1.2, 2.0);
            self.move_to(down, d, 0.3);
        } else if seated {
            let up = self.standing_from(&from);
            self.note("stood up from the machine");
            let d = uni(&mut self.rng, 2.0, 3.5);
            self.move_to(up, d, 0.4);
        }
        let last = 180.0 + uni(&mut self.rng, -30.0, 30.0);
        self.walk_there_and_back(last);
        // Back where the exercise is done, in its posture.
        let q = self.q;
        let base = self.base_q(q.0[YAW], [q.0[VX], q.0[VY]]);
        if step {
            self.note("stepped up onto the step");
            let d = uni(&mut self.rng, 1.5, 2.5);
            self.move_to(base, d, 0.3);
        } else if seated {
            self.note("sat back in the machine");
            let d = uni(&mut self.rng, 2.0, 3.5);
            self.move_to(base, d, 0.3);
        } else {
            self.move_to(base, 1.0, 0.0);
        }
    }

    fn sit_and_stand(&mut self) {
        let base = self.q;
        let mut stand = base;
        if self.posture == Posture::Step {
            stand = self.standing_from(&base);
            self.note("stepped down from the step");
            let d = uni(&mut self.rng, 1.2, 2.0);
            self.move_to(stand, d, 0.3);
        }
        let seat = self.seated_from(&stand, 0.5);
        self.note("sat down on a chair");
        let d = uni(&mut self.rng, 2.0, 3.0);
        self.move_to(seat, d, 0.15);
        let sit = uni(&mut self.rng, 6.0, 40.0);
        self.still(sit);
        self.note("stood up with help");
        let d = uni(&mut self.rng, 2.5, 4.5);
        let w = uni(&mut self.rng, 0.3, 0.7);
        self.move_to(stand, d, w);
        let d = uni(&mut self.rng, 0.5, 1.5);
        self.still(d);
        if self.posture == Posture::Step {
            self.note("stepped up onto the step");
            let d = uni(&mut self.rng, 1.5, 2.5);
            self.move_to(base, d, 0.3);
        } else {
            self.move_to(base, 0.8, 0.0);
        }
    }

    /// Side-lying: sit up on the table, stand and walk (`walk`), or roll
    /// onto the back; then lie down on the side again.
    fn up_from_table(&mut self, walk: bool) {
        let base = self.q;
        if walk {
            let mut sit = self.seated_from(&base, 0.85);
            sit.0[YAW] += self.body.s_w * 90.0;
            self.note("sat up on the table");
            let d = uni(&mut self.rng, 2.5, 4.0);
            self.move_to(sit, d, 0.3);
            let d = uni(&mut self.rng, 3.0, 6.0);
            self.still(d);
            let mut stand = sit;
            stand.0[PZ] = self.body.standing_hip_m;
            stand.0[FLEX] = 0.0;
            stand.0[KNEE] = 2.0;
            stand.0[PITCH] = 0.0;
            stand.0[SWAY] = 1.0;
            let yaw = sit.0[YAW].to_radians();
            stand.0[PX] += 0.3 * yaw.cos();
            stand.0[PY] += 0.3 * yaw.sin();
            stand.0[VX] = stand.0[PX];
            stand.0[VY] = stand.0[PY];
            stand.0[VZ] = 0.0;
            self.note("stood up from the table");
            let d = uni(&mut self.rng, 2.0, 3.0);
            self.move_to(stand, d, 0.3);
            self.walk_there_and_back(-180.0);
            self.note("sat on the table");
            let d = uni(&mut self.rng, 2.0, 3.0);
            self.move_to(sit, d, 0.2);
            let d = uni(&mut self.rng, 1.0, 3.0);
            self.still(d);
        } else {
            let mut back = base;
            back.0[ROLL] = base.0[ROLL] * uni(&mut self.rng, 0.2, 0.5);
            back.0[FLEX] += uni(&mut self.rng, 10.0, 40.0);
            back.0[KNEE] += uni(&mut self.rng, 10.0, 50.0);
            self.note("rolled onto the back");
            let d = uni(&mut self.rng, 1.5, 3.0);
            self.move_to(back, d, 0.2);
            let d = uni(&mut self.rng, 3.0, 8.0);
            self.still(d);
        }
        let lie = self.base_q(base.0[YAW], [base.0[PX], base.0[PY]]);
        self.note("lay down on the side");
        let d = uni(&mut self.rng, 2.5, 4.0);
        self.move_to(lie, d, 0.2);
    }

    /// Re-tie the band or re-strap the sensor: the foot goes up on a chair (or
    /// the knee bends up lying down), the strap is redone, the foot comes back.
    fn retie(&mut self) {
        let base = self.q;
        let mut up = base;
        match self.posture {
            Posture::SideLying => {
                up.0[FLEX] += uni(&mut self.rng, 40.0, 70.0);
                up.0[KNEE] += uni(&mut self.rng, 60.0, 100.0);
            }
            Posture::Seated => {
                up.0[KNEE] -= uni(&mut self.rng, 20.0, 40.0);
                up.0[ABD] += uni(&mut self.rng, 5.0, 12.0);
            }
            _ => {
                up.0[FLEX] += uni(&mut self.rng, 40.0, 65.0);
                up.0[KNEE] += uni(&mut self.rng, 50.0, 80.0);
                up.0[PITCH] += uni(&mut self.rng, 10.0, 25.0);
            }
        }
        let banded = matches!(self.patient.resistance, Resistance::Band { .. });
        let ankle = self.body.placement == Placement::Ankle;
        self.note(match (ankle, banded) {
            (true, true) => "re-tied the band and the sensor strap",
            (true, false) => "re-strapped the sensor",
            (false, true) => "re-tied the band",
            (false, false) => "re-clipped the sensor",
        });
        let d = uni(&mut self.rng, 1.2, 2.2);
        self.move_to(up, d, 0.2);
        let d = uni(&mut self.rng, 5.0, 10.0);
        if ankle || !banded {
            // The sensor turns a little (or a lot) while the strap is redone.
            self.remount(d * 0.6, self.cfg.random_mounting);
        }
        self.still(d);
        let d = uni(&mut self.rng, 1.2, 2.2);
        self.move_to(base, d, 0.2);
    }

    // ---------------------------------------------------------------- sets

    fn plan_set_actions(&mut self, set_idx: usize) -> Vec<Action> {
        let cfg = self.cfg;
        let p = self.patient.clone();
        let n = self.rng.gen_range(cfg.reps_min..=cfg.reps_max);
        let hitch = self.posture == Posture::Step;
        // Sets drift: the operated hip opens up a little after the first set.
        let w = p.range
            * match p.pop {
                Population::PostSurgery => 1.0 + 0.05 * set_idx.min(2) as f64,
                _ => 1.0 - 0.03 * set_idx as f64,
            }
            .max(0.85);
        let mut slower = 1.0;
        let mut actions = Vec::new();
        let cue_at = if chance(&mut self.rng, p.cue_p) && n >= 4 {
            Some(self.rng.gen_range(2..n - 1))
        } else {
            None
        };
        let cue_kind = self.rng.gen_range(0..3);
        let abandon_at = if n >= 3 && chance(&mut self.rng, p.abandon_p) {
            Some(self.rng.gen_range(1..n))
        } else {
            None
        };
        let kinds: Vec<FlagKind> = self
            .visible
            .iter()
            .copied()
            .filter(|k| !(hitch && *k == FlagKind::PelvicDrop))
            .collect();
        for r in 0..n {
            if abandon_at == Some(r) {
                let amp =
                    (uni(&mut self.rng, 2.5, 5.0))
                        .min(0.25 * w)
                        .max(if hitch { 1.0 } else { 2.0 });
                actions.push(Action::Abandon([
                    amp,
                    uni(&mut self.rng, 0.25, 0.5),
                    uni(&mut self.rng, 0.3, 0.6),
                    uni(&mut self.rng, 1.5, 3.5),
                ]));
            }
            let mut hold_extra = 0.0;
            if cue_at == Some(r) {
                match cue_kind {
                    0 => slower = uni(&mut self.rng, 1.3, 1.6),
                    1 => actions.push(Action::Pause(uni(&mut self.rng, 3.0, 8.0))),
                    _ => hold_extra = uni(&mut self.rng, 3.0, 6.0),
                }
            }
            let frac = r as f64 / n.max(1) as f64;
            let tired = 1.0 + 0.15 * p.fatigue * frac / 0.3;
            let jitter = |rng: &mut ChaCha8Rng| (p.tempo_sd * gauss(rng)).exp();
            let mut comp = None;
            if !kinds.is_empty() && r >= 1 && chance(&mut self.rng, cfg.compensation_rate) {
                let weighted: Vec<(FlagKind, f64)> = kinds
                    .iter()
                    .map(|k| {
                        let i = FlagKind::ALL.iter().position(|a| a == k).unwrap_or(0);
                        (*k, p.comp_weights[i])
                    })
                    .collect();
                comp = Some(pick(&mut self.rng, &weighted));
            }
            // Partial reps wait until the set's range is shown (not the first two).
            if comp == Some(FlagKind::PartialRange) && r < 2 {
                comp = None;
            }
            let partial = comp == Some(FlagKind::PartialRange);
            let momentum = comp == Some(FlagKind::Momentum);
            let mut goal = if partial {
                w * uni(&mut self.rng, 0.4, 0.55)
            } else {
                w * (1.0 + p.spread * gauss(&mut self.rng)).clamp(0.85, 1.15)
            };
            let pain_cap = (!partial && !momentum && chance(&mut self.rng, p.pain_p))
                .then(|| w * uni(&mut self.rng, 0.82, 0.95));
            let tempo_f = p.tempo_bias * slower * tired;
            let mut up = (p.tempo[0] * tempo_f * jitter(&mut self.rng)).clamp(0.5, 5.0);
            let mut hold =
                (p.tempo[1] * tempo_f * jitter(&mut self.rng) * uni(&mut self.rng, 0.5, 1.2))
                    .clamp(0.0, 8.0)
                    + hold_extra;
            let mut down = (p.tempo[2] * tempo_f * jitter(&mut self.rng)).clamp(0.6, 5.0);
            if momentum {
                up = uni(&mut self.rng, 0.3, 0.55);
                hold = uni(&mut self.rng, 0.0, 0.15);
                down = uni(&mut self.rng, 0.08, 0.2);
                goal = w * uni(&mut self.rng, 1.0, 1.2);
            }
            let (comp_deg, overshoot) = match comp {
                Some(FlagKind::HipHike) if hitch => (0.0, uni(&mut self.rng, 6.5, 9.0)),
                Some(FlagKind::HipHike) => (uni(&mut self.rng, 6.5, 12.0), 0.0),
                Some(FlagKind::PelvicDrop) => (uni(&mut self.rng, 6.5, 10.0), 0.0),
                Some(FlagKind::TrunkSway) => (uni(&mut self.rng, 6.0, 9.5), 0.0),
                Some(FlagKind::HipFlexionDrift) => (uni(&mut self.rng, 12.0, 25.0), 0.0),
                _ => (0.0, 0.0),
            };
            actions.push(Action::Rep(RepPlan {
                goal,
                up,
                hold,
                down,
                settle: if r + 1 == n {
                    uni(&mut self.rng, 1.2, 2.0)
                } else {
                    uni(&mut self.rng, 0.4, 2.5) * if p.counts_aloud { 1.2 } else { 1.0 }
                },
                uneven_a: p.uneven * uni(&mut self.rng, 0.5, 1.0),
                uneven_m: f64::from(self.rng.gen_range(1..=3u8)),
                pain_cap,
                momentum,
                sag: if hitch {
                    0.0
                } else {
                    p.shake_deg * uni(&mut self.rng, 0.0, 3.0)
                },
                overshoot,
                comp,
                comp_deg,
                partial,
            }));
        }
        actions
    }

    fn load(&self, th: f64) -> f64 {
        let r = th.to_radians();
        let weight = match self.patient.resistance {
            Resistance::AnkleWeight { frac } => 1.0 + frac,
            _ => 1.0,
        };
        let gravity = match self.posture {
            Posture::SideLying => 900.0 * weight * r.cos(),
            Posture::Standing => 900.0 * weight * r.sin(),
            Posture::Seated => 0.0,
            Posture::Step => 120.0 * weight,
        };
        let res = match self.patient.resistance {
            Resistance::Band { k, pre } => pre + k * th.max(0.0),
            Resistance::Cable { pull } => pull,
            Resistance::Machine { pull, k } => pull + k * th.max(0.0),
            _ => 0.0,
        };
        gravity + res
    }

    /// Runs the leg's controller through a set's actions from `t0`.
    fn integrate(&mut self, t0: f64, actions: &[Action], w: f64) -> (Track, Vec<Done>) {
        let p = self.patient.clone();
        let hitch = self.posture == Posture::Step;
        let stop = if hitch { -40.0 } else { 0.0 };
        let tremor = Smooth::new(&mut self.rng, 6, 6.0, 11.0, 1.0);
        let shake = Smooth::new(&mut self.rng, 6, 2.5, 6.0, 1.0);
        let trem_amp = p.tremor_deg * (2.0 * PI * 8.0).powi(2) * 0.5;
        let shake_amp = p.shake_deg * (2.0 * PI * 4.0).powi(2) * 0.5;
        let l0 = self.load(0.0);
        let rest = if !hitch && l0 > 0.0 {
            stop - l0 / STOP_K
        } else {
            0.0
        };
        let umax_top = self.load(w * 1.1).max(l0) + p.strength;
        let (mut th, mut om) = (rest, 0.0);
        let mut t = t0;
        let mut knots_th = vec![th];
        let mut knots_om = vec![om];
        let mut step = 0usize;
        let mut done = Vec::new();
        let total_time: f64 = actions
            .iter()
            .map(|a| match a {
                Action::Rep(r) => r.up + r.hold + r.down + r.settle + 1.0,
                Action::Pause(d) => *d,
                Action::Abandon(a) => a[1] + a[2] + a[3],
            })
            .sum();
        let set_t0 = t0;
        let mut rep_i = 0;
        for a in actions {
            let a_t0 = t;
            // Phases: 0 up, 1 hold, 2 down, 3 over-level hold (hitch), 4 back to level, 5 settle.
            let (goal, up, hold, down, settle, ua, um, cap, mom, sag, over) = match a {
                Action::Rep(r) => (
                    r.goal,
                    r.up,
                    r.hold,
                    r.down,
                    r.settle,
                    r.uneven_a,
                    r.uneven_m,
                    r.pain_cap,
                    r.momentum,
                    r.sag,
                    r.overshoot,
                ),
                Action::Pause(d) => (0.0, 0.0, 0.0, 0.0, *d, 0.0, 1.0, None, false, 0.0, 0.0),
                Action::Abandon(x) => {
                    (x[0], x[1], 0.0, x[2], x[3], 0.0, 1.0, None, false, 0.0, 0.0)
                }
            };
            let mut phase = if goal > 0.0 { 0 } else { 5 };
            let mut tp = t;
            let mut reached = goal;
            let mut hold_d = hold;
            let mut from = 0.0;
            loop {
                let el = t - tp;
                let (refv, dref);
                match phase {
                    0 => {
                        let u = (el / up).min(1.0);
                        let k = 2.0 * PI * um;
                        let s = u - ua * (k * u).sin() / k;
                        refv = goal * s;
                        dref = goal * (1.0 - ua * (k * u).cos()) / up;
                        let capped = cap.is_some_and(|c| th >= c);
                        if u >= 1.0 || capped {
                            reached = refv;
                            if capped {
                                hold_d = hold * 0.4;
                            }
                            phase = 1;
                            tp = t;
                        }
                    }
                    1 => {
                        let u = if hold_d > 0.0 {
                            (el / hold_d).min(1.0)
                        } else {
                            1.0
                        };
                        refv = reached - sag * u;
                        dref = if hold_d > 0.0 { -sag / hold_d } else { 0.0 };
                        if el >= hold_d {
                            from = refv;
                            phase = 2;
                            tp = t;
                        }
                    }
                    2 => {
                        let u = (el / down).min(1.0);
                        let target = -over;
                        let k = 2.0 * PI * um;
                        let s = u - 0.5 * ua * (k * u).sin() / k;
                        refv = from + (target - from) * s;
                        dref = (target - from) * (1.0 - 0.5 * ua * (k * u).cos()) / down;
                        if u >= 1.0 {
                            phase = if over > 0.0 { 3 } else { 5 };
                            tp = t;
                        }
                    }
                    3 => {
                        refv = -over;
                        dref = 0.0;
                        if el >= 0.5 {
                            phase = 4;
                            tp = t;
                        }
                    }
                    4 => {
                        let u = (el / 0.8).min(1.0);
                        refv = -over * (1.0 - smoothstep(u));
                        dref = 0.0;
                        if u >= 1.0 {
                            phase = 5;
                            tp = t;
                        }
                    }
                    _ => {
                        refv = 0.0;
                        dref = 0.0;
                    }
                }
                if phase == 5 && t - tp >= settle {
                    break;
                }
                // The controller: a saturating PD on the intention plus the
                // load the patient expects, relaxed at rest; let go on a
                // momentum rep's way down.
                let let_go = mom && phase >= 2 && t - tp < 0.6;
                let zeta = if let_go { p.zeta * 0.2 } else { p.zeta };
                let ff = if let_go {
                    0.1
                } else if hitch {
                    1.0
                } else if phase < 5 {
                    p.ff
                } else {
                    0.0
                };
                let fatigue = 1.0 - p.fatigue * ((t - set_t0) / total_time.max(1.0)).min(1.0);
                let umax = umax_top * fatigue;
                let load = self.load(th);
                let pd = p.wn * p.wn * (refv - th) + 2.0 * zeta * p.wn * (dref - om);
                let muscle = (ff * load + pd).clamp(-0.5 * umax, umax);
                let effort = (muscle / umax).clamp(0.0, 1.0);
                let disturb =
                    trem_amp * tremor.at(t) * (0.3 + effort) + shake_amp * shake.at(t) * effort;
                let contact = if th < stop {
                    STOP_K * (stop - th) - STOP_C * om
                } else {
                    0.0
                };
                let acc = muscle - load - 1.5 * om + disturb + contact;
                om += acc * DT;
                th += om * DT;
                t += DT;
                step += 1;
                if step.is_multiple_of(KNOT) {
                    knots_th.push(th);
                    knots_om.push(om);
                }
            }
            let kind = match a {
                Action::Rep(_) => {
                    rep_i += 1;
                    DoneKind::Rep(rep_i - 1)
                }
                Action::Abandon(_) => DoneKind::Abandon,
                Action::Pause(_) => DoneKind::Pause,
            };
            done.push(Done {
                t0: a_t0,
                t1: t,
                start: a_t0,
                end: t,
                t_peak: a_t0,
                peak_th: 0.0,
                kind,
                hike: 0.0,
                drop: 0.0,
                sway: 0.0,
                flex: 0.0,
                creep: 0.0,
            });
        }
        let track = Track {
            t0,
            th: knots_th,
            om: knots_om,
            rest,
            t_end: t,
        };
        // Where each rep left and regained neutral, from the track.
        for d in done.iter_mut() {
            if d.kind == DoneKind::Pause {
                continue;
            }
            let i0 = ((d.t0 - t0) / KNOT_DT).floor().max(0.0) as usize;
            let i1 = (((d.t1 - t0) / KNOT_DT).ceil() as usize).min(track.th.len() - 1);
            let th_at = |i: usize| track.th[i] - rest;
            let mut ip = i0;
            for i in i0..=i1 {
                if th_at(i) > th_at(ip) {
                    ip = i;
                }
            }
            let peak = th_at(ip);
            let band = if hitch {
                0.4f64.max(0.06 * peak)
            } else {
                0.8f64.max(0.06 * peak)
            };
            let mut is = ip;
            while is > i0 && th_at(is) > band {
                is -= 1;
            }
            let mut ie = i1;
            while ie > ip && th_at(ie).abs() <= band {
                ie -= 1;
            }
            ie = (ie + 1).min(i1);
            d.start = t0 + is as f64 * KNOT_DT;
            d.end = t0 + ie as f64 * KNOT_DT;
            d.t_peak = t0 + ip as f64 * KNOT_DT;
            d.peak_th = peak;
        }
        (track, done)
    }

    /// Plans and runs set `k` on its own clock (first action at 0).
    fn prepare_set(&mut self, k: usize) -> Prepared {
        let actions = self.plan_set_actions(k);
        let w = self.patient.range;
        let (track, done) = self.integrate(0.0, &actions, w);
        let plans: Vec<RepPlan> = actions
            .into_iter()
            .filter_map(|a| match a {
                Action::Rep(r) => Some(r),
                _ => None,
            })
            .collect();
        let first = done
            .iter()
            .find(|d| matches!(d.kind, DoneKind::Rep(_)))
            .map(|d| d.start)
            .unwrap_or(0.0);
        Prepared {
            track,
            done,
            plans,
            first,
        }
    }

    /// Puts a prepared set at the current time in the current pose.
    fn place_set(&mut self, prep: Prepared) {
        let Prepared {
            mut track,
            mut done,
            plans,
            ..
        } = prep;
        let t0 = self.t;
        track.t0 += t0;
        track.t_end += t0;
        for d in done.iter_mut() {
            for x in [
                &mut d.t0,
                &mut d.t1,
                &mut d.start,
                &mut d.end,
                &mut d.t_peak,
            ] {
                *x += t0;
            }
        }
        let base = self.q;
        let hitch = self.posture == Posture::Step;
        let standing = matches!(self.posture, Posture::Standing | Posture::Step);
        let p = self.patient.clone();
        let couple = if hitch {
            0.0
        } else if self.posture == Posture::SideLying {
            p.couple.abs() * 1.2
        } else {
            p.couple
        };
        let lean = if standing { p.lean } else { 0.0 };
        for d in done.iter_mut() {
            if let DoneKind::Rep(i) = d.kind {
                let r = &plans[i];
                // Sizes chosen so the pelvis really crosses the usual 5° line
                // whatever the clean coupling and the lean do.
                match r.comp {
                    Some(FlagKind::HipHike) if !hitch => {
                        d.hike = r.comp_deg + (-couple).max(0.0) + 0.5 * self.sway_gain(&base);
                    }
                    Some(FlagKind::PelvicDrop) => {
                        d.drop = r.comp_deg + couple.max(0.0) + lean + 0.5 * self.sway_gain(&base);
                    }
                    Some(FlagKind::TrunkSway) => {
                        d.sway = r.comp_deg
                            * if chance(&mut self.rng, 0.5) {
                                1.0
                            } else {
                                -1.0
                            };
                    }
                    Some(FlagKind::HipFlexionDrift) => d.flex = r.comp_deg,
                    _ => {}
                }
                if self.loose > 0.0 {
                    let sign = if chance(&mut self.rng, 0.8) {
                        1.0
                    } else {
                        -1.0
                    };
                    d.creep = self.loose * uni(&mut self.rng, 0.3, 1.0) * sign;
                }
            }
        }
        for d in &done {
            if d.creep != 0.0 {
                self.creep.push((d.end - 0.3, 0.4, d.creep));
                self.creep_total += d.creep;
            }
        }
        let head = rz(base.0[YAW]) * ry(base.0[PITCH]) * rx(base.0[ROLL]);
        let long_axis = match self.posture {
            Posture::SideLying => head * Vector3::z(),
            _ => Vector3::z(),
        };
        let natural_flex = uni(&mut self.rng, 0.0, 3.0);
        let natural_yaw = uni(&mut self.rng, -1.0, 1.0) * self.body.s_f;
        let nod = if p.counts_aloud {
            uni(&mut self.rng, 0.2, 0.5)
        } else {
            0.0
        };
        let end = track.t_end;
        self.sets.push(SetData {
            base,
            long_axis,
            track,
            done,
            plans,
            hitch,
            couple,
            lean,
            push: if standing { p.push } else { 0.0 },
            nod,
            natural_flex,
            natural_yaw,
        });
        let idx = self.sets.len() - 1;
        self.push(end - t0, Seg::Set(idx), base);
    }

    fn sway_gain(&self, q: &Q) -> f64 {
        q.0[SWAY]
    }
}

/// A set run on its own clock, waiting to be placed.
struct Prepared {
    track: Track,
    done: Vec<Done>,
    plans: Vec<RepPlan>,
    /// When its first rep leaves neutral, from the set's start.
    first: f64,
}

// ------------------------------------------------------------ the stream

/// The clinic model's sample stream: a patient doing their exercise,
/// seen by a consumer IMU over BLE.
#[derive(Debug, Clone)]
pub struct ClinicSimulator {
    plan: Arc<Plan>,
    rng: ChaCha8Rng,
    k: u64,
    queue: VecDeque<Sample>,
    last_t: f64,
    gap_cursor: usize,
    done: bool,
}

impl ClinicSimulator {
    /// Builds a session for `cfg`: the sample stream and its ground truth.
    pub fn new(cfg: &SimConfig) -> Result<(Self, Truth), String> {
        cfg.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0xC11_41C);
        let posture = match cfg.exercise {
            Exercise::SideLyingAbduction => Posture::SideLying,
            Exercise::SeatedMachineAbduction => Posture::Seated,
            Exercise::HipHitch => Posture::Step,
            Exercise::StandingCableAbduction => Posture::Standing,
            other => {
                return Err(format!("the clinic model does not model {other}"));
            }
        };
        let s_w = cfg.side.sign();
        let s_f = cfg.exercise.free_side(cfg.side).sign();
        let body = Body {
            s_w,
            s_f,
            thigh_m: uni(&mut rng, 0.38, 0.5),
            shank_m: uni(&mut rng, 0.36, 0.46),
            hip_half_m: uni(&mut rng, 0.08, 0.11),
            standing_hip_m: uni(&mut rng, 0.82, 1.0),
            placement: cfg.placement,
            on_thigh: cfg.placement == Placement::Ankle && chance(&mut rng, 0.2),
        };
        let patient = draw_patient(&mut rng, cfg.exercise, posture);
        // The sensor on the body.
        let mount0 = match cfg.placement {
            Placement::Ankle => {
                if cfg.random_mounting {
                    let v = Vector3::new(gauss(&mut rng), gauss(&mut rng), gauss(&mut rng));
                    let ang = uni(&mut rng, 0.0, PI);
                    UnitQuaternion::from_scaled_axis(v.normalize() * ang)
                } else {
                    // x forward (right leg) or backward (left), y up the leg, z out to the side.
                    let m = nalgebra::Matrix3::from_columns(&[
                        Vector3::new(s_w, 0.0, 0.0),
                        Vector3::new(0.0, 0.0, 1.0),
                        Vector3::new(0.0, -s_w, 0.0),
                    ]);
                    UnitQuaternion::from_rotation_matrix(&Rotation3::from_matrix_unchecked(m))
                }
            }
            Placement::Pelvis => {
                let b = nalgebra::Matrix3::from_columns(&[
                    Vector3::new(0.0, -1.0, 0.0),
                    Vector3::new(0.0, 0.0, 1.0),
                    Vector3::new(-1.0, 0.0, 0.0),
                ]);
                let b = UnitQuaternion::from_rotation_matrix(&Rotation3::from_matrix_unchecked(b));
                let tilt = if cfg.random_mounting {
                    let v = Vector3::new(gauss(&mut rng), gauss(&mut rng), gauss(&mut rng));
                    UnitQuaternion::from_scaled_axis(
                        v.normalize() * uni(&mut rng, 0.0, 13.0).to_radians(),
                    )
                } else {
                    UnitQuaternion::identity()
                };
                b * tilt
            }
        };
        let loose = if cfg.placement == Placement::Ankle && chance(&mut rng, 0.35) {
            uni(&mut rng, 0.05, 0.3)
        } else {
            0.0
        };
        let visible = cfg.visible_compensations();
        let mut bld = Builder {
            cfg,
            rng,
            body,
            posture,
            patient,
            segs: Vec::new(),
            sets: Vec::new(),
            t: 0.0,
            q: Q([0.0; 18]),
            distractions: Vec::new(),
            mount: mount0,
            mount0,
            remounts: Vec::new(),
            creep: Vec::new(),
            creep_total: 0.0,
            loose,
            visible,
        };
        let yaw0 = uni(&mut bld.rng, -180.0, 180.0);
        bld.q = bld.base_q(yaw0, [0.0, 0.0]);
        let lead = cfg
            .lead_in_s
            .unwrap_or_else(|| uni(&mut bld.rng, 1.0, 4.0))
            .max(0.0);
        for k in 0..cfg.sets {
            let prep = bld.prepare_set(k);
            if k == 0 {
                // The first rep leaves neutral when the lead-in is over.
                bld.still((lead - prep.first).max(0.0));
            } else {
                // The rest runs from the last rep's end to the next first rep's start.
                let rest = uni(&mut bld.rng, cfg.rest_min_s, cfg.rest_max_s);
                let last_end = last_rep_end(&bld.sets[bld.sets.len() - 1]);
                let already = bld.t - last_end;
                bld.rest(rest - already - prep.first);
            }
            bld.place_set(prep);
        }
        let tail = uni(&mut bld.rng, 2.0, 5.0);
        bld.still(tail);
        let duration = bld.t;

        // Sensor and link.
        let rate = cfg.rate_hz;
        let ideal = cfg.noise == 0.0;
        let host_stamped = chance(&mut bld.rng, 0.6);
        let interval = uni(&mut bld.rng, 0.015, 0.05);
        let batch = ((rate * interval).round() as usize).clamp(1, 12);
        let bias_scale = cfg.gyro_bias_dps;
        let mut v3 = |lo: f64, hi: f64| {
            Vector3::new(
                uni(&mut bld.rng, lo, hi),
                uni(&mut bld.rng, lo, hi),
                uni(&mut bld.rng, lo, hi),
            )
        };
        let bias0 = v3(-0.6, 0.6) * bias_scale;
        let bias_warm = v3(-0.4, 0.4) * bias_scale;
        let acc_scale = v3(-0.015, 0.015);
        let gyr_scale = v3(-0.02, 0.02);
        let acc_offset = v3(-0.08, 0.08);
        let rng = &mut bld.rng;
        let sensor = SensorModel {
            rate_hz: rate,
            period: (1.0 / rate) * (1.0 + uni(rng, -300.0, 300.0) * 1e-6),
            batch,
            host_stamped,
            latency_spread: uni(rng, 0.004, 0.025),
            drop_rate: cfg.drop_rate,
            ideal,
            acc_sd: uni(rng, 0.015, 0.06) * cfg.noise,
            gyr_sd: uni(rng, 0.08, 0.35) * cfg.noise,
            acc_fs: pick(rng, &[(2.0, 0.25), (4.0, 0.4), (8.0, 0.25), (16.0, 0.1)])
                * STANDARD_GRAVITY,
            gyr_fs: pick(
                rng,
                &[(250.0, 0.25), (500.0, 0.35), (1000.0, 0.25), (2000.0, 0.15)],
            ),
            acc_scale,
            gyr_scale,
            bias0,
            bias_warm,
            warm_tau: uni(rng, 120.0, 600.0),
            acc_offset,
        };
        let mut gaps = Vec::new();
        if cfg.gaps_per_min > 0.0 {
            let mean = 60.0 / cfg.gaps_per_min;
            let mut t = 0.0;
            loop {
                t += -mean * (1.0 - rng.gen::<f64>()).ln();
                if t >= duration {
                    break;
                }
                gaps.push(t);
            }
        }
        let mut creep = bld.creep.clone();
        creep.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut creep_sum = Vec::with_capacity(creep.len());
        let mut acc = 0.0;
        for c in &creep {
            creep_sum.push(acc);
            acc += c.2;
        }
        let sway = [
            Smooth::new(rng, 7, 0.05, 0.7, 0.45),
            Smooth::new(rng, 7, 0.05, 0.7, 0.35),
            Smooth::new(rng, 6, 0.03, 0.4, 0.6),
            Smooth::new(rng, 6, 0.05, 0.5, 0.004),
        ];
        let waistband = [
            Smooth::new(rng, 4, 0.003, 0.03, 1.2),
            Smooth::new(rng, 4, 0.003, 0.03, 0.5),
            Smooth::new(rng, 4, 0.003, 0.03, 0.8),
        ];
        let noise_seed: u64 = rng.gen();
        let mut distractions = std::mem::take(&mut bld.distractions);
        let plan = Plan {
            body: bld.body.clone(),
            segs: bld.segs,
            sets: bld.sets,
            mount0: bld.mount0,
            remounts: bld.remounts,
            creep,
            creep_sum,
            sway,
            waistband,
            duration,
            sensor,
            gaps,
        };
        let plan = Arc::new(plan);
        let (sets, mut more) = truth_sets(&plan, cfg.placement);
        distractions.append(&mut more);
        let truth = Truth {
            config: cfg.clone(),
            duration_s: round3(duration),
            distractions,
            sets,
        };
        Ok((
            ClinicSimulator {
                plan,
                rng: ChaCha8Rng::seed_from_u64(noise_seed),
                k: 0,
                queue: VecDeque::new(),
                last_t: f64::NEG_INFINITY,
                gap_cursor: 0,
                done: false,
            },
            truth,
        ))
    }

    /// Makes the next BLE notification's samples (or none when it is lost).
    fn next_batch(&mut self) {
        let plan = Arc::clone(&self.plan);
        let s = &plan.sensor;
        let n = s.batch;
        let first = self.k;
        self.k += n as u64;
        let lost = s.drop_rate > 0.0 && self.rng.gen::<f64>() < s.drop_rate;
        let latency = if s.host_stamped {
            s.latency_spread * self.rng.gen::<f64>()
        } else {
            0.0
        };
        let t_last = (first + n as u64 - 1) as f64 * s.period;
        for i in 0..n {
            let tb = (first + i as u64) as f64 * s.period;
            if tb > plan.duration {
                self.done = true;
                break;
            }
            // Readings are made whether or not the notification arrives (the noise stream stays in step).
            let (f, w) = plan.ideal(tb);
            let (acc, gyr) = self.errors(&plan, tb, f, w);
            if lost || in_ble_gap(&plan.gaps, &mut self.gap_cursor, tb) {
                continue;
            }
            let stamp = if s.host_stamped {
                // Stamped on arrival, minus the host's latency allowance (zero-mean error).
                let arrive = t_last + latency - (n - 1 - i) as f64 * s.period * 0.25;
                arrive - s.latency_spread * 0.5 - (n - 1) as f64 * s.period * 0.375
            } else {
                tb
            };
            let stamp = round_time(stamp.max(self.last_t).max(0.0));
            self.last_t = stamp;
            self.queue.push_back(Sample { t: stamp, acc, gyr });
        }
    }

    fn errors(
        &mut self,
        plan: &Plan,
        t: f64,
        f: Vector3<f64>,
        w: Vector3<f64>,
    ) -> (Vector3<f64>, Vector3<f64>) {
        let s = &plan.sensor;
        let warm = 1.0 - (-t / s.warm_tau).exp();
        let bias = s.bias0 + s.bias_warm * warm;
        if s.ideal {
            return (f, w + bias);
        }
        let mut acc = f.component_mul(&(Vector3::repeat(1.0) + s.acc_scale)) + s.acc_offset * warm;
        let mut gyr = w.component_mul(&(Vector3::repeat(1.0) + s.gyr_scale)) + bias;
        for i in 0..3 {
            acc[i] += s.acc_sd * gauss(&mut self.rng);
            gyr[i] += s.gyr_sd * gauss(&mut self.rng);
        }
        let qa = s.acc_fs / 32768.0;
        let qg = s.gyr_fs / 32768.0;
        let acc = acc.map(|v| (v.clamp(-s.acc_fs, s.acc_fs - qa) / qa).round() * qa);
        let gyr = gyr.map(|v| (v.clamp(-s.gyr_fs, s.gyr_fs - qg) / qg).round() * qg);
        (acc, gyr)
    }
}

fn round_time(t: f64) -> f64 {
    (t * 1e6).round() / 1e6
}

impl Iterator for ClinicSimulator {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        loop {
            if let Some(s) = self.queue.pop_front() {
                return Some(s);
            }
            if self.done {
                return None;
            }
            self.next_batch();
        }
    }
}

fn last_rep_end(set: &SetData) -> f64 {
    set.done
        .iter()
        .filter(|d| matches!(d.kind, DoneKind::Rep(_)))
        .map(|d| d.end)
        .fold(0.0, f64::max)
}

/// The truth of every set, from the finished plan; and the abandoned reps.
fn truth_sets(plan: &Plan, placement: Placement) -> (Vec<TruthSet>, Vec<String>) {
    let mut out = Vec::new();
    let mut abandoned = Vec::new();
    for (k, set) in plan.sets.iter().enumerate() {
        let first = set
            .done
            .iter()
            .find(|d| matches!(d.kind, DoneKind::Rep(_)))
            .map(|d| d.start)
            .unwrap_or(set.track.t0);
        let t_ref = (first - 0.4).max(set.track.t0 - 1.0).max(0.0);
        let r_ref = plan.sensor_pose(t_ref).1;
        let o_ref = plan.obliquity(t_ref, k);
        let rotation = |t: f64| {
            (r_ref.transpose() * plan.sensor_pose(t).1)
                .angle()
                .to_degrees()
        };
        let obl = |t: f64| plan.obliquity(t, k) - o_ref;
        let mut reps = Vec::new();
        let peaks: Vec<f64> = set
            .done
            .iter()
            .filter(|d| matches!(d.kind, DoneKind::Rep(i) if !set.plans[i].partial))
            .map(|d| d.peak_th)
            .collect();
        let mut sorted = peaks.clone();
        sorted.sort_by(f64::total_cmp);
        let working = sorted.get(sorted.len() / 2).copied().unwrap_or(1.0);
        for d in &set.done {
            match d.kind {
                DoneKind::Pause => {}
                DoneKind::Abandon => abandoned.push(format!(
                    "abandoned rep at {:.1} s ({:.1}°)",
                    d.t_peak,
                    rotation(d.t_peak).max(d.peak_th)
                )),
                DoneKind::Rep(i) => {
                    let r = &set.plans[i];
                    let n = (((d.end - d.start) / 0.005).ceil() as usize).max(1);
                    let times = (0..=n).map(|j| d.start + (d.end - d.start) * j as f64 / n as f64);
                    let mut flags = Vec::new();
                    let peak = match placement {
                        Placement::Ankle => times.map(rotation).fold(0.0, f64::max),
                        Placement::Pelvis => {
                            let (mut hi, mut lo) = (0.0f64, 0.0f64);
                            for t in times {
                                let o = obl(t);
                                hi = hi.max(o);
                                lo = lo.min(o);
                            }
                            match r.comp {
                                Some(FlagKind::HipHike) => flags.push(TruthFlag {
                                    kind: FlagKind::HipHike,
                                    value_deg: round3(hi),
                                }),
                                Some(FlagKind::PelvicDrop) => flags.push(TruthFlag {
                                    kind: FlagKind::PelvicDrop,
                                    value_deg: round3(-lo),
                                }),
                                Some(FlagKind::TrunkSway) => flags.push(TruthFlag {
                                    kind: FlagKind::TrunkSway,
                                    value_deg: round3(d.sway.abs()),
                                }),
                                _ => {}
                            }
                            hi.max(-lo)
                        }
                    };
                    match r.comp {
                        Some(FlagKind::Momentum) => flags.push(TruthFlag {
                            kind: FlagKind::Momentum,
                            value_deg: round3(peak),
                        }),
                        Some(FlagKind::HipFlexionDrift) => flags.push(TruthFlag {
                            kind: FlagKind::HipFlexionDrift,
                            value_deg: round3(d.flex),
                        }),
                        _ => {}
                    }
                    if r.partial && d.peak_th < 0.65 * working {
                        flags.push(TruthFlag {
                            kind: FlagKind::PartialRange,
                            value_deg: round3(peak),
                        });
                    }
                    reps.push(TruthRep {
                        start_s: round3(d.start),
                        end_s: round3(d.end),
                        peak_deg: round3(peak),
                        flags,
                    });
                }
            }
        }
        out.push(TruthSet {
            start_s: reps.first().map(|r| r.start_s).unwrap_or(0.0),
            end_s: reps.last().map(|r| r.end_s).unwrap_or(0.0),
            rep_count: reps.len(),
            reps,
        });
    }
    (out, abandoned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::sim::SimModel;
    use crate::Side;

    fn cfg(ex: Exercise, pl: Placement) -> SimConfig {
        let mut c = SimConfig::new(ex, pl, Side::Right);
        c.model = SimModel::Clinic;
        c.sets = 2;
        c.reps_min = 3;
        c.reps_max = 6;
        c.rest_min_s = 12.0;
        c.rest_max_s = 20.0;
        c
    }

    fn clean(ex: Exercise, pl: Placement) -> SimConfig {
        let mut c = cfg(ex, pl);
        c.noise = 0.0;
        c.gyro_bias_dps = 0.0;
        c.drop_rate = 0.0;
        c.gaps_per_min = 0.0;
        c.walking = false;
        c.fidgets = false;
        c.compensations = Vec::new();
        c.compensation_rate = 0.0;
        c
    }

    fn combos() -> Vec<(Exercise, Placement)> {
        let mut v = Vec::new();
        for &e in Exercise::ALL {
            for &p in Placement::ALL {
                if SimConfig::new(e, p, Side::Right).validate().is_ok() {
                    v.push((e, p));
                }
            }
        }
        v
    }

    #[test]
    fn every_combo_builds_with_the_sets_and_reps_asked() {
        let all = combos();
        assert_eq!(all.len(), 6, "{all:?}");
        for (i, (e, p)) in all.into_iter().enumerate() {
            for side in [Side::Left, Side::Right] {
                let mut c = cfg(e, p);
                c.side = side;
                c.sets = if side == Side::Right { 3 } else { 1 };
                c.seed = 10 + i as u64;
                let (sim, truth) = ClinicSimulator::new(&c).unwrap();
                assert_eq!(truth.sets.len(), c.sets, "{e} {p}");
                for s in &truth.sets {
                    assert!((c.reps_min..=c.reps_max).contains(&s.rep_count), "{e} {p}");
                    assert_eq!(s.rep_count, s.reps.len());
                    for r in &s.reps {
                        assert!(r.start_s < r.end_s && r.peak_deg.is_finite());
                        assert!(r.start_s >= s.start_s && r.end_s <= s.end_s);
                    }
                }
                // Rests between sets within the range asked for.
                for w in truth.sets.windows(2) {
                    let rest = w[1].start_s - w[0].end_s;
                    assert!(
                        rest >= c.rest_min_s - 0.01 && rest <= c.rest_max_s + 0.01,
                        "{e} {p} rest {rest}"
                    );
                }
                if side == Side::Left && i % 3 == 0 {
                    let n = sim.filter(|s| s.is_finite()).count();
                    assert!(n as f64 > 0.8 * truth.duration_s * c.rate_hz);
                }
            }
        }
    }

    #[test]
    fn still_lead_in_reads_gravity_and_no_turn() {
        for (e, p) in combos() {
            let mut c = clean(e, p);
            c.lead_in_s = Some(4.0);
            let (sim, truth) = ClinicSimulator::new(&c).unwrap();
            let first = truth.sets[0].start_s;
            assert!((first - 4.0).abs() < 0.05, "{e} {p}: first rep at {first}");
            let still: Vec<Sample> = sim.take_while(|s| s.t < 3.5).collect();
            assert!(still.len() > 300);
            let n = still.len() as f64;
            let g = still.iter().map(|s| s.acc.norm()).sum::<f64>() / n;
            let w = still.iter().map(|s| s.gyr.norm()).sum::<f64>() / n;
            assert!((g - STANDARD_GRAVITY).abs() < 0.1, "{e} {p}: |f| {g}");
            assert!(w < 1.5, "{e} {p}: |w| {w}");
        }
    }

    /// Integrates the gyro over [t0, t1] at the nominal rate; returns the
    /// largest and the final angle from the start (°).
    fn integrate_gyro(samples: &[Sample], t0: f64, t1: f64, dt: f64) -> (f64, f64) {
        let mut q = UnitQuaternion::identity();
        let mut max: f64 = 0.0;
        for s in samples.iter().filter(|s| s.t >= t0 && s.t <= t1) {
            q *= UnitQuaternion::from_scaled_axis(s.gyr.map(f64::to_radians) * dt);
            max = max.max(q.angle().to_degrees());
        }
        (max, q.angle().to_degrees())
    }

    #[test]
    fn clean_ankle_rep_returns_and_its_peak_is_what_the_gyro_says() {
        for ex in [
            Exercise::StandingCableAbduction,
            Exercise::SideLyingAbduction,
            Exercise::SeatedMachineAbduction,
        ] {
            for seed in 1..4 {
                let mut c = clean(ex, Placement::Ankle);
                c.seed = seed;
                c.lead_in_s = Some(2.0);
                let (sim, truth) = ClinicSimulator::new(&c).unwrap();
                let samples: Vec<Sample> = sim.take_while(|s| s.t < 80.0).collect();
                let rep = &truth.sets[0].reps[0];
                let (max, last) = integrate_gyro(
                    &samples,
                    rep.start_s - 0.4,
                    rep.end_s + 0.3,
                    1.0 / c.rate_hz,
                );
                assert!(
                    last < 2.5,
                    "{ex} seed {seed}: rep ends {last}° from where it began"
                );
                assert!(
                    (max - rep.peak_deg).abs() < 3.0,
                    "{ex} seed {seed}: gyro peak {max} vs truth {}",
                    rep.peak_deg
                );
                assert!(rep.peak_deg > 8.0);
            }
        }
    }

    #[test]
    fn timestamps_rise_at_the_rate_asked() {
        for (rate, seed) in [(25.0, 1), (52.0, 2), (100.0, 3), (200.0, 4)] {
            let mut c = clean(Exercise::SideLyingAbduction, Placement::Ankle);
            c.rate_hz = rate;
            c.seed = seed;
            c.noise = 1.0;
            let (sim, truth) = ClinicSimulator::new(&c).unwrap();
            let s: Vec<Sample> = sim.collect();
            assert!(s.windows(2).all(|w| w[1].t >= w[0].t));
            let span = s[s.len() - 1].t - s[0].t;
            let avg = (s.len() - 1) as f64 / span;
            assert!((avg / rate - 1.0).abs() < 0.05, "{rate} Hz: {avg}");
            assert!((s[s.len() - 1].t - truth.duration_s).abs() < 0.2);
            assert!(s.iter().all(Sample::is_finite));
        }
    }

    #[test]
    fn bad_config_is_refused() {
        let mut c = cfg(Exercise::HipHitch, Placement::Ankle);
        assert!(ClinicSimulator::new(&c).is_err());
        c = cfg(Exercise::StandingCableAbduction, Placement::Ankle);
        c.reps_min = 8;
        c.reps_max = 4;
        assert!(ClinicSimulator::new(&c).is_err());
        c.reps_max = 10;
        c.rate_hz = f64::NAN;
        assert!(ClinicSimulator::new(&c).is_err());
        c.rate_hz = 100.0;
        c.rest_min_s = 2.0;
        assert!(ClinicSimulator::new(&c).is_err());
        c = cfg(Exercise::Clamshell, Placement::Ankle);
        assert!(ClinicSimulator::new(&c).is_err());
    }

    #[test]
    fn only_compensations_the_placement_sees() {
        let mut seen = std::collections::BTreeSet::new();
        for (e, p) in combos() {
            for seed in 1..2 {
                let mut c = cfg(e, p);
                c.compensation_rate = 1.0;
                c.reps_min = 8;
                c.reps_max = 9;
                c.seed = seed;
                let visible = c.visible_compensations();
                let (_, truth) = ClinicSimulator::new(&c).unwrap();
                for r in truth.sets.iter().flat_map(|s| &s.reps) {
                    for f in &r.flags {
                        assert!(visible.contains(&f.kind), "{e} {p}: {:?}", f.kind);
                        assert!(f.value_deg > 0.0);
                        if matches!(
                            f.kind,
                            FlagKind::HipHike | FlagKind::PelvicDrop | FlagKind::TrunkSway
                        ) {
                            assert!(f.value_deg >= 5.0, "{e} {p}: {:?} {}", f.kind, f.value_deg);
                        }
                        seen.insert(f.kind);
                    }
                }
                if seed > 1 {
                    continue;
                }
                let mut none = c.clone();
                none.compensation_rate = 0.0;
                let (_, truth) = ClinicSimulator::new(&none).unwrap();
                assert!(truth
                    .sets
                    .iter()
                    .flat_map(|s| &s.reps)
                    .all(|r| r.flags.is_empty()));
            }
        }
        assert_eq!(seen.len(), 6, "{seen:?}");
    }

    #[test]
    fn an_abandoned_rep_is_a_distraction_not_a_rep() {
        let mut found = 0;
        for seed in 1..60 {
            let mut c = clean(Exercise::StandingCableAbduction, Placement::Ankle);
            c.seed = seed;
            c.reps_min = 8;
            c.reps_max = 12;
            let (_, truth) = ClinicSimulator::new(&c).unwrap();
            for d in truth
                .distractions
                .iter()
                .filter(|d| d.starts_with("abandoned rep at "))
            {
                let t: f64 = d["abandoned rep at ".len()..]
                    .split(' ')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap();
                let reps: Vec<_> = truth.sets.iter().flat_map(|s| &s.reps).collect();
                assert!(reps.iter().all(|r| t < r.start_s || t > r.end_s), "{d}");
                // Inside a set, between two reps.
                assert!(truth.sets.iter().any(|s| t > s.start_s && t < s.end_s));
                found += 1;
            }
            if found >= 3 {
                return;
            }
        }
        panic!("no abandoned reps in 60 sessions");
    }
}
