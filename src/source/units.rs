//! A thirtieth body model: movement made by motor units.
//!
//! Force is not a smooth torque here but the sum of many motor units'
//! twitches. Every muscle group that matters (the working side's gluteus
//! medius/minimus and TFL, the adductors, iliopsoas, the hip extensors, the
//! stance side's abductors, quadratus lumborum and obliques on each side) is
//! a pool of 100–200 units after Fuglevand, Winter & Patla (1993):
//! recruitment thresholds and twitch amplitudes spread exponentially,
//! contraction times inverse to size, onion-skin rate coding from a minimum
//! to a peak firing rate, discharge variability (inter-spike-interval CV
//! 0.1–0.3), the twitch-summation sigmoid, and per-unit fatigue after Potvin
//! & Fuglevand (2017): a unit's force falls and its contraction time
//! lengthens with the work it does, larger units faster, and recovers at
//! rest. Tremor and force unsteadiness are not added anywhere: they come
//! from the unfused twitches, larger at low forces and with fatigue.
//!
//! Muscle forces act through moment arms and force–length and force–velocity
//! factors on a segment model from Winter's tables: the working hip's
//! abduction and flexion, the pelvis' obliquity about the stance hip, the
//! whole body's lean over the stance foot, the trunk's lean on the pelvis,
//! with yaw, tilt and the knee as small followers. Gravity comes from the
//! segments' potential energy in the posture (standing, lying on the side,
//! seated, on a step), loads are forces (a cable stack with its inertia and
//! pulley friction, a band, an ankle weight, the machine's pads, the body's
//! weight in the hitch), and the other leg, the bed, the seat, the backrest
//! and the floor are stiff springs.
//!
//! The drive per muscle is a feedforward command from the rep's plan through
//! the lifter's internal model (which believes a load that may be wrong),
//! plus short- and long-latency stretch reflexes on delayed state (30–80 ms)
//! and a slow postural loop. The feedforward gain and timing are adapted
//! rep to rep by a two-rate state-space learner (Smith, Ghazizadeh &
//! Shadmehr 2006): the first reps of a set or of a new load are off, a drop
//! set overshoots and settles. Co-contraction rises with load and with the
//! learner's uncertainty. Fatigue is the units' own: as the fast units fade
//! the same drive gives less, the learner pushes more, and the stronger
//! muscles nearby take over (TFL: flexion drift; quadratus lumborum: hike;
//! the stance side lets go: drop; the whole body: sway and momentum; or the
//! range falls short). Compensations are measured on the curves against
//! DOMAIN's lines, never written in.
//!
//! Lifters are gym-goers, rehab patients (weak gluteus medius, fewer and
//! smaller units), older adults (fewer, larger, slower units, more tremor),
//! athletes and beginners, each with their own pools, tempo and habits; the
//! other leg differs. A programme of warm-up, working, back-off and drop
//! sets with rests followed loosely; pauses, back-to-back reps and holds;
//! walks, turns, fidgets, re-strapping, the other leg's set, lying down,
//! sitting, stepping up and a given-up last attempt between the reps that
//! count. The sensor sits on soft tissue that wobbles (a damped mass–spring
//! excited by impacts and the muscles' mechanomyogram) and carries the
//! owned sensors' range, quantisation, bias, scale and noise, device or
//! host stamps with BLE batches, drops and gaps.
//!
//! Built apart after all twenty-nine models, without reading the counter or
//! the other models. Everything is drawn from seeded ChaCha8 streams: the
//! same seed gives the same session; the body's stream does not depend on
//! the placement, so an ankle and a pelvis sensor see the same lifter.

use super::sim::{SimConfig, Truth, TruthFlag, TruthRep, TruthSet};
use super::{gauss, round3, rx, ry, rz, smoothstep, uni};
use crate::motion::FlagKind;
use crate::sample::STANDARD_GRAVITY as G;
use crate::{Exercise, Placement, Sample};
use nalgebra::{UnitQuaternion, Vector3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::f64::consts::PI;

/// The body's integration step, s (250 Hz).
const DT: f64 = 0.004;
const D2R: f64 = PI / 180.0;
const R2D: f64 = 180.0 / PI;

// Muscle groups.
const GMED: usize = 0;
const TFL: usize = 1;
const ADD: usize = 2;
const ILIO: usize = 3;
const EXT: usize = 4;
const STANCE: usize = 5;
const QLF: usize = 6;
const QLS: usize = 7;
const NM: usize = 8;

// Degrees of freedom.
const ABD: usize = 0;
const FLEX: usize = 1;
const OBL: usize = 2;
const LEAN: usize = 3;
const TRUNK: usize = 4;
const ND: usize = 5;

/// Reflex delays in steps: short latency 32 ms, long latency 68 ms.
const SHORT_DELAY: usize = 8;
const LONG_DELAY: usize = 17;
const HIST: usize = 32;

/// Fuglevand et al. (1993): twitches sum linearly below a normalised rate
/// (contraction time / inter-spike interval) of 0.4, then saturate.
fn summation_gain(r: f64) -> f64 {
    if r <= 0.4 {
        1.0
    } else {
        let g = |x: f64| (1.0 - (-2.0 * x * x * x).exp()) / x;
        g(r) / g(0.4)
    }
}

/// How a pool is drawn.
#[derive(Clone, Copy)]
struct PoolSpec {
    n: usize,
    /// Range of recruitment thresholds (largest / smallest).
    rr: f64,
    /// Range of twitch amplitudes.
    rp: f64,
    /// Longest contraction time, s.
    tl: f64,
    /// Excitation at which the last unit is recruited.
    last: f64,
    mfr: f64,
    pfr_lo: f64,
    pfr_hi: f64,
    cv: f64,
    kfat: f64,
    recovery: f64,
}

/// A motor-unit pool: every unit's threshold, twitch, rate and fatigue.
struct Pool {
    rte: Vec<f64>,
    amp: Vec<f64>,
    tc: Vec<f64>,
    pfr: Vec<f64>,
    full: Vec<f64>,
    kfat: Vec<f64>,
    s1: Vec<f64>,
    s2: Vec<f64>,
    next: Vec<f64>,
    fat: Vec<f64>,
    mfr: f64,
    cv: f64,
    norm: f64,
    table: Vec<f64>,
    hi: usize,
    recovery: f64,
    amp_sum: f64,
}

impl Pool {
    fn new(s: &PoolSpec, rng: &mut ChaCha8Rng) -> Pool {
        let n = s.n.max(2);
        let mut p = Pool {
            rte: Vec::with_capacity(n),
            amp: Vec::with_capacity(n),
            tc: Vec::with_capacity(n),
            pfr: Vec::with_capacity(n),
            full: Vec::with_capacity(n),
            kfat: Vec::with_capacity(n),
            s1: vec![0.0; n],
            s2: vec![0.0; n],
            next: vec![f64::INFINITY; n],
            fat: vec![0.0; n],
            mfr: s.mfr,
            cv: s.cv,
            norm: 0.0,
            table: Vec::new(),
            hi: 0,
            recovery: s.recovery,
            amp_sum: 0.0,
        };
        for i in 0..n {
            let x = i as f64 / (n - 1) as f64;
            let rte = s.last * (s.rr.ln() * x).exp() / s.rr;
            let amp = (s.rp.ln() * x).exp() * (1.0 + 0.12 * gauss(rng)).clamp(0.6, 1.5);
            let tc = s.tl
                * amp.powf(-(3f64.ln() / s.rp.ln()))
                * (1.0 + 0.08 * gauss(rng)).clamp(0.8, 1.2);
            let pfr = s.pfr_hi - (s.pfr_hi - s.pfr_lo) * x;
            p.rte.push(rte);
            p.amp.push(amp);
            p.tc.push(tc);
            p.pfr.push(pfr);
            p.full
                .push(std::f64::consts::E * summation_gain(tc * pfr) * tc * pfr);
            p.kfat.push(s.kfat * (1.0 + 2.5 * x));
        }
        p.amp_sum = p.amp.iter().sum();
        p.norm = (0..n).map(|i| p.amp[i] * p.full[i]).sum();
        p.table = (0..=64)
            .map(|k| {
                let e = k as f64 / 64.0;
                (0..n)
                    .filter(|&i| e >= p.rte[i])
                    .map(|i| {
                        let r = p.rate(i, e);
                        p.amp[i] * std::f64::consts::E * summation_gain(p.tc[i] * r) * p.tc[i] * r
                    })
                    .sum::<f64>()
                    / p.norm
            })
            .collect();
        p
    }

    fn rate(&self, i: usize, e: f64) -> f64 {
        let x = ((e - self.rte[i]) / (1.0 - self.rte[i]).max(0.05)).min(1.0);
        self.mfr + (self.pfr[i] - self.mfr) * x
    }

    /// The excitation the nervous system believes gives normalised force `f`
    /// (its map is the unfatigued pool's).
    fn excitation_for(&self, f: f64) -> f64 {
        if f <= 0.0 {
            return 0.0;
        }
        let t = &self.table;
        if f >= t[64] {
            return 1.0;
        }
        let k = t.partition_point(|&v| v <= f).clamp(1, 64);
        let (a, b) = (t[k - 1], t[k]);
        ((k - 1) as f64 + (f - a) / (b - a).max(1e-12)) / 64.0
    }

    /// One step of every live unit; returns the pool's normalised force.
    fn step(&mut self, e: f64, t: f64, rng: &mut ChaCha8Rng) -> f64 {
        let e = e.clamp(0.0, 1.0);
        let n = self.rte.len();
        let recruited = self.rte.partition_point(|&r| r <= e);
        let upto = recruited.max(self.hi).min(n);
        let mut sum = 0.0;
        let mut hi = recruited;
        for i in 0..upto {
            let tc = self.tc[i] * (1.0 + 0.6 * self.fat[i]);
            if i < recruited {
                let rate = self.rate(i, e);
                let isi = 1.0 / rate;
                if !self.next[i].is_finite() {
                    self.next[i] = t + rng.gen::<f64>() * isi;
                }
                if t >= self.next[i] {
                    let g = summation_gain(tc * rate);
                    self.s1[i] += self.amp[i] * std::f64::consts::E * g * (1.0 - self.fat[i]);
                    let jitter = (1.0 + self.cv * gauss(rng)).max(0.35);
                    self.next[i] = self.next[i].max(t - isi) + isi * jitter;
                }
            } else {
                self.next[i] = f64::INFINITY;
            }
            let x = DT / tc;
            let a = 1.0 - x + 0.5 * x * x - x * x * x / 6.0;
            self.s2[i] = a * (self.s2[i] + x * self.s1[i]);
            self.s1[i] *= a;
            if self.s2[i] > 1e-7 || self.s1[i] > 1e-7 {
                hi = hi.max(i + 1);
            }
            let rel = self.s2[i] / (self.amp[i] * self.full[i]);
            self.fat[i] = (self.fat[i] + DT * self.kfat[i] * rel).min(0.85);
            sum += self.s2[i];
        }
        self.hi = hi;
        sum / self.norm
    }

    /// Recovery over `dt` s (Potvin & Fuglevand: always on, slower than fatigue).
    fn recover(&mut self, dt: f64) {
        let k = (-self.recovery * dt).exp();
        for f in &mut self.fat {
            *f *= k;
        }
    }

    /// Share of the pool's twitch force still available.
    fn capacity(&self) -> f64 {
        self.amp
            .iter()
            .zip(&self.fat)
            .map(|(a, f)| a * (1.0 - f))
            .sum::<f64>()
            / self.amp_sum
    }
}

/// A muscle group: its pool, strength and what it turns.
struct Muscle {
    pool: Pool,
    /// Strongest isometric moment, N·m.
    mmax: f64,
    /// Moment arm factor on each degree of freedom (sign: direction).
    arm: [f64; ND],
    /// The degree of freedom whose angle sets its length.
    main: usize,
    /// Angle of the best overlap (rad) and the width of the force–length curve.
    q_opt: f64,
    width: f64,
    force: f64,
    prev: f64,
    mmg: f64,
}

impl Muscle {
    /// Force–length × force–velocity at the current state.
    fn factor(&self, q: &[f64; ND], v: &[f64; ND]) -> f64 {
        let sgn = self.arm[self.main].signum();
        let d = (sgn * q[self.main] - self.q_opt) / self.width;
        let fl = (-d * d).exp().max(0.15);
        let vs = sgn * v[self.main] / 15.0; // shortening velocity over vmax
        let fv = if vs >= 0.0 {
            ((1.0 - vs) / (1.0 + vs / 0.35)).max(0.0)
        } else {
            1.35 - 0.35 / (1.0 - 6.0 * vs)
        };
        fl * fv
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Population {
    Gym,
    Rehab,
    Older,
    Athlete,
    Beginner,
}

/// One lifter: body, pools, tempo, habits, learner.
struct Lifter {
    pop: Population,
    mass: f64,
    height: f64,
    /// Abductor strength, N·m/kg.
    strength: f64,
    /// The other leg's strength relative to the working one.
    other_leg: f64,
    units: usize,
    rp: f64,
    tl: f64,
    cv: f64,
    kfat: f64,
    recovery: f64,
    up_s: f64,
    hold_s: f64,
    down_s: f64,
    pause_s: f64,
    range_deg: f64,
    cocon: f64,
    fast: (f64, f64),
    slow: (f64, f64),
    tfl_share: f64,
    grip: f64,
    reflex: f64,
    habits: [f64; 6],
    belief_err: f64,
    knee: f64,
    wobble_hz: f64,
    wobble_zeta: f64,
    mmg_gain: f64,
    back_to_back: f64,
    hold_top: f64,
}

impl Lifter {
    fn draw(rng: &mut ChaCha8Rng) -> Lifter {
        let r = rng.gen::<f64>();
        let pop = if r < 0.3 {
            Population::Gym
        } else if r < 0.45 {
            Population::Rehab
        } else if r < 0.6 {
            Population::Older
        } else if r < 0.75 {
            Population::Athlete
        } else {
            Population::Beginner
        };
        let female = rng.gen::<f64>() < 0.5;
        let height = if female {
            uni(rng, 1.55, 1.76)
        } else {
            uni(rng, 1.66, 1.92)
        };
        let bmi = match pop {
            Population::Athlete => uni(rng, 20.5, 25.5),
            Population::Older | Population::Rehab => uni(rng, 21.0, 31.0),
            _ => uni(rng, 19.5, 29.0),
        };
        let (strength, units, rp, tl, cv, kfat) = match pop {
            Population::Gym => (
                uni(rng, 1.6, 2.2),
                170,
                80.0,
                0.085,
                uni(rng, 0.12, 0.2),
                0.0015,
            ),
            Population::Rehab => (
                uni(rng, 0.9, 1.35),
                115,
                70.0,
                0.09,
                uni(rng, 0.15, 0.26),
                0.0022,
            ),
            Population::Older => (
                uni(rng, 1.0, 1.5),
                105,
                140.0,
                0.11,
                uni(rng, 0.2, 0.3),
                0.0017,
            ),
            Population::Athlete => (
                uni(rng, 2.2, 2.8),
                195,
                90.0,
                0.075,
                uni(rng, 0.1, 0.16),
                0.0011,
            ),
            Population::Beginner => (
                uni(rng, 1.3, 1.9),
                150,
                80.0,
                0.09,
                uni(rng, 0.15, 0.25),
                0.0019,
            ),
        };
        let slowish = matches!(pop, Population::Rehab | Population::Older);
        let mut habits = [0.0; 6];
        for h in &mut habits {
            *h = uni(rng, 0.3, 1.7);
        }
        Lifter {
            pop,
            mass: bmi * height * height,
            height,
            strength,
            other_leg: uni(rng, 0.85, 1.15),
            units: (units as f64 * uni(rng, 0.9, 1.1)) as usize,
            rp,
            tl: tl * uni(rng, 0.9, 1.1),
            cv,
            kfat: kfat * uni(rng, 0.7, 1.4),
            recovery: uni(rng, 0.008, 0.02),
            up_s: if slowish {
                uni(rng, 0.9, 1.5)
            } else {
                uni(rng, 0.6, 1.2)
            },
            hold_s: uni(rng, 0.0, 0.9),
            down_s: if slowish {
                uni(rng, 1.3, 2.5)
            } else {
                uni(rng, 0.9, 2.0)
            },
            pause_s: uni(rng, 0.1, 1.2),
            range_deg: match pop {
                Population::Rehab | Population::Older => uni(rng, 22.0, 36.0),
                Population::Athlete => uni(rng, 32.0, 48.0),
                _ => uni(rng, 27.0, 45.0),
            },
            cocon: uni(rng, 0.03, 0.1)
                * if pop == Population::Beginner {
                    1.6
                } else {
                    1.0
                },
            fast: (uni(rng, 0.55, 0.8), uni(rng, 0.15, 0.3)),
            slow: (uni(rng, 0.985, 0.997), uni(rng, 0.02, 0.06)),
            tfl_share: if pop == Population::Rehab {
                uni(rng, 0.3, 0.45)
            } else {
                uni(rng, 0.15, 0.3)
            },
            grip: rng.gen::<f64>(),
            reflex: uni(rng, 0.7, 1.4),
            habits,
            belief_err: uni(rng, -0.25, 0.25),
            knee: uni(rng, 2.0, 10.0) * D2R,
            wobble_hz: uni(rng, 10.0, 22.0),
            wobble_zeta: uni(rng, 0.15, 0.45),
            mmg_gain: uni(rng, 0.5, 1.5),
            back_to_back: uni(rng, 0.0, 0.5),
            hold_top: uni(rng, 0.0, 0.4),
        }
    }

    fn spec(&self, scale_n: f64, rng: &mut ChaCha8Rng) -> PoolSpec {
        let older = self.pop == Population::Older;
        PoolSpec {
            n: ((self.units as f64 * scale_n) as usize).clamp(100, 200),
            rr: uni(rng, 25.0, 40.0),
            rp: self.rp * uni(rng, 0.85, 1.15),
            tl: self.tl,
            last: uni(rng, 0.6, 0.8),
            mfr: if older { 6.0 } else { 8.0 },
            pfr_lo: if older { 20.0 } else { 25.0 },
            pfr_hi: if older { 30.0 } else { 40.0 },
            cv: self.cv,
            kfat: self.kfat,
            recovery: self.recovery,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Posture {
    Stand,
    Lie,
    Sit,
}

/// The resistance in a set.
#[derive(Clone, Copy, Debug)]
struct Load {
    /// Stack (or cam-equivalent) mass, kg.
    stack: f64,
    /// Band stiffness, N·m/rad past slack.
    band: f64,
    /// Ankle weight, kg.
    ankle: f64,
    /// Dumbbell in the hand (hip hitch), kg.
    hand: f64,
}

/// One internal step recorded for the sensor and the truth.
#[derive(Clone, Copy)]
struct Frame {
    pelvis: UnitQuaternion<f64>,
    pelvis_pos: Vector3<f64>,
    shank: UnitQuaternion<f64>,
    ankle_pos: Vector3<f64>,
    /// Muscle vibration under the pelvis and the ankle sensor.
    mmg_pelvis: f64,
    mmg_ankle: f64,
    /// A knock (m/s given to the soft tissue): foot strikes, steps, the bed.
    impact: f64,
    abd: f64,
    flex: f64,
    obl: f64,
}

/// What the controller is asked to do this step.
#[derive(Clone, Copy)]
struct Drive {
    qd: [f64; ND],
    vd: [f64; ND],
    ad: [f64; ND],
    /// Learner gain on the feedforward.
    gain: f64,
    /// Extra share of abduction given to TFL.
    tfl_extra: f64,
    /// Share of pelvic elevation given to quadratus lumborum.
    ql_share: f64,
    /// Stance abductors' drive scale (1: normal; below: letting go).
    stance: f64,
    /// Extra co-contraction.
    cocon: f64,
    /// Feedforward scale while lowering (momentum: below 1, the leg falls).
    lowering: f64,
    /// The working foot is on the floor (double support).
    foot_down: bool,
    /// Mean tonic drive for muscles not otherwise used.
    tone: f64,
}

impl Drive {
    fn rest(qd: [f64; ND], foot_down: bool) -> Drive {
        Drive {
            qd,
            vd: [0.0; ND],
            ad: [0.0; ND],
            gain: 1.0,
            tfl_extra: 0.0,
            ql_share: 0.12,
            stance: 1.0,
            cocon: 0.0,
            lowering: 1.0,
            foot_down,
            tone: 0.02,
        }
    }
}

/// The body: segments, muscles, state, recording.
struct Body {
    ex: Exercise,
    /// Sign of the free side (+1 right).
    fs: f64,
    /// Sign of the working side.
    ws: f64,
    posture: Posture,
    /// Blend from the previous posture (for transitions): (from, progress).
    blend: Option<(Posture, f64)>,
    q: [f64; ND],
    v: [f64; ND],
    yaw: f64,
    yaw_v: f64,
    tilt: f64,
    knee: f64,
    heading: f64,
    origin: Vector3<f64>,
    bob: f64,
    muscles: Vec<Muscle>,
    load: Load,
    believed: Load,
    mass: f64,
    ml: f64,
    lleg: f64,
    rcom: f64,
    ileg: f64,
    hw: f64,
    hist: Vec<[f64; 2 * ND]>,
    hpos: usize,
    integ: [f64; ND],
    t: f64,
    steps: u64,
    frames: Vec<Frame>,
    rng: ChaCha8Rng,
    lifter: Lifter,
    sway: [f64; 3],
    impact: f64,
}

impl Body {
    fn new(cfg: &SimConfig, lifter: Lifter, mut rng: ChaCha8Rng) -> Body {
        let m = lifter.mass;
        let h = lifter.height;
        let free = cfg.exercise.free_side(cfg.side);
        let abd_max = lifter.strength * m;
        let other = lifter.other_leg;
        let mut muscles = Vec::with_capacity(NM);
        // (pool size scale, strength, arms on [abd, flex, obl, lean, trunk], main dof, q_opt, width)
        let hitch = cfg.exercise == Exercise::HipHitch;
        let defs: [(f64, f64, [f64; ND], usize, f64, f64); NM] = [
            (
                1.0,
                0.7 * abd_max,
                if hitch {
                    [0.0, 0.0, 1.0, 0.0, 0.0]
                } else {
                    [1.0, 0.0, 0.0, 0.0, 0.0]
                },
                if hitch { OBL } else { ABD },
                -10.0 * D2R,
                75.0 * D2R,
            ),
            (
                0.7,
                0.3 * abd_max,
                if hitch {
                    [0.0, 0.4, 1.0, 0.0, 0.0]
                } else {
                    [1.0, 0.55, 0.0, 0.0, 0.0]
                },
                if hitch { OBL } else { ABD },
                -5.0 * D2R,
                80.0 * D2R,
            ),
            (
                0.9,
                1.1 * abd_max,
                if hitch {
                    [0.0, 0.0, -1.0, 0.0, 0.0]
                } else {
                    [-1.0, 0.0, 0.0, 0.0, 0.0]
                },
                if hitch { OBL } else { ABD },
                15.0 * D2R,
                80.0 * D2R,
            ),
            (
                0.8,
                1.3 * m,
                [0.0, 1.0, 0.0, 0.0, 0.0],
                FLEX,
                0.0,
                90.0 * D2R,
            ),
            (
                0.9,
                2.0 * m,
                [0.0, -1.0, 0.0, 0.0, 0.0],
                FLEX,
                20.0 * D2R,
                90.0 * D2R,
            ),
            (
                1.0,
                other * abd_max,
                [0.0, 0.0, 1.0, 0.0, 0.0],
                OBL,
                -5.0 * D2R,
                75.0 * D2R,
            ),
            (
                0.6,
                0.9 * m,
                [0.0, 0.0, 0.6, 0.0, 1.0],
                TRUNK,
                0.0,
                60.0 * D2R,
            ),
            (
                0.6,
                0.9 * m * other,
                [0.0, 0.0, -0.3, 0.0, -1.0],
                TRUNK,
                0.0,
                60.0 * D2R,
            ),
        ];
        for (k, (scale, mmax, arm, main, q_opt, width)) in defs.into_iter().enumerate() {
            let mut spec = lifter.spec(scale, &mut rng);
            if k == STANCE || k == QLS {
                spec.kfat *= 1.0 / other;
            }
            muscles.push(Muscle {
                pool: Pool::new(&spec, &mut rng),
                mmax,
                arm,
                main,
                q_opt,
                width,
                force: 0.0,
                prev: 0.0,
                mmg: 0.0,
            });
        }
        let lleg = 0.53 * h;
        let ml = 0.161 * m;
        let rcom = 0.447 * lleg;
        let ileg = ml * (rcom * rcom + (0.326 * lleg).powi(2));
        let posture = match cfg.exercise {
            Exercise::SideLyingAbduction => Posture::Stand,
            _ => Posture::Stand,
        };
        Body {
            ex: cfg.exercise,
            fs: free.sign(),
            ws: cfg.side.sign(),
            posture,
            blend: None,
            q: [0.0; ND],
            v: [0.0; ND],
            yaw: 0.0,
            yaw_v: 0.0,
            tilt: 0.0,
            knee: lifter.knee,
            heading: uni(&mut rng, 0.0, 2.0 * PI),
            origin: Vector3::zeros(),
            bob: 0.0,
            muscles,
            load: Load {
                stack: 0.0,
                band: 0.0,
                ankle: 0.0,
                hand: 0.0,
            },
            believed: Load {
                stack: 0.0,
                band: 0.0,
                ankle: 0.0,
                hand: 0.0,
            },
            mass: m,
            ml,
            lleg,
            rcom,
            ileg,
            hw: 0.085 * h / 1.75,
            hist: vec![[0.0; 2 * ND]; HIST],
            hpos: 0,
            integ: [0.0; ND],
            t: 0.0,
            steps: 0,
            frames: Vec::new(),
            rng,
            lifter,
            sway: [0.0; 3],
            impact: 0.0,
        }
    }

    fn hitch(&self) -> bool {
        self.ex == Exercise::HipHitch
    }

    /// The posture's rotation of the body frame into the world (before heading).
    fn posture_rot(&self, p: Posture) -> UnitQuaternion<f64> {
        match p {
            Posture::Lie => rz(self.fs * PI / 2.0),
            _ => UnitQuaternion::identity(),
        }
    }

    fn base_flex(p: Posture) -> f64 {
        if p == Posture::Sit {
            88.0 * D2R
        } else {
            0.0
        }
    }

    /// Height of the stance hip (body origin) above the floor in a posture.
    fn base_height(&self, p: Posture) -> f64 {
        match p {
            Posture::Stand => self.lleg + if self.hitch() { 0.2 } else { 0.0 },
            Posture::Lie => 0.55,
            Posture::Sit => 0.5,
        }
    }

    /// Segment poses in the body frame (before posture and heading) for state `q`:
    /// pelvis rotation and centre, working thigh rotation, hip, shank rotation, ankle,
    /// and the centres of mass that gravity acts on.
    fn pose(&self, q: &[f64; ND], p: Posture) -> Pose {
        let fs = self.fs;
        let ws = self.ws;
        // The stance hip: over the stance foot, leaning with the whole body.
        let stance_hip = match p {
            Posture::Stand => {
                let foot = Vector3::new(-fs * self.hw, -self.lleg, 0.0);
                foot + rz(fs * q[LEAN]) * Vector3::new(0.0, self.lleg, 0.0)
            }
            _ => Vector3::new(-fs * self.hw, 0.0, 0.0),
        };
        let pelvis = rz(fs * (q[LEAN] + q[OBL])) * ry(self.yaw) * rx(self.tilt);
        let centre = stance_hip + pelvis * Vector3::new(fs * self.hw, 0.0, 0.0);
        let (hip, thigh) = if self.hitch() {
            // The working leg is the stance leg; the sensor leg hangs from the free hip.
            let hip = centre + pelvis * Vector3::new(ws * self.hw, 0.0, 0.0);
            (hip, rz(fs * q[LEAN]) * rx(q[FLEX] * 0.2))
        } else {
            let hip = centre + pelvis * Vector3::new(ws * self.hw, 0.0, 0.0);
            (
                hip,
                pelvis * rx(Self::base_flex(p) + q[FLEX]) * rz(ws * q[ABD]),
            )
        };
        let lth = 0.245 * self.lifter.height;
        let lsh = 0.246 * self.lifter.height;
        let knee_pos = hip + thigh * Vector3::new(0.0, -lth, 0.0);
        let knee = if p == Posture::Sit {
            90.0 * D2R
        } else {
            self.knee
        };
        let shank = thigh * rx(-knee);
        let ankle = knee_pos + shank * Vector3::new(0.0, -0.88 * lsh, 0.0);
        let leg_com = hip + thigh * Vector3::new(0.0, -self.rcom, 0.0);
        let trunk = pelvis * rz(fs * q[TRUNK]);
        let hat_com = centre + trunk * Vector3::new(0.0, 0.3 * self.lifter.height / 1.75, 0.0);
        let free_hip = centre + pelvis * Vector3::new(fs * self.hw, 0.0, 0.0);
        let free_leg_com = if self.hitch() {
            free_hip + pelvis * Vector3::new(0.0, -self.rcom, 0.0)
        } else {
            leg_com
        };
        Pose {
            pelvis,
            centre,
            shank,
            ankle,
            leg_com,
            hat_com,
            free_leg_com,
        }
    }

    /// Potential energy (J, relative) of the segments above each joint.
    fn potential(&self, q: &[f64; ND], p: Posture) -> f64 {
        let ps = self.pose(q, p);
        let up = self.posture_rot(p).inverse() * Vector3::y();
        let hat = 0.578 * self.mass + self.load.hand;
        let mut v = hat * up.dot(&ps.hat_com) + 0.1 * self.mass * up.dot(&ps.centre);
        if self.hitch() {
            v += self.ml * up.dot(&ps.free_leg_com);
        } else {
            v += self.ml * up.dot(&ps.leg_com) + self.load.ankle * up.dot(&ps.ankle);
        }
        if p == Posture::Stand && !self.hitch() {
            // The stance leg's own mass rides the lean.
            v += self.ml * 0.5 * up.dot(&(ps.centre + Vector3::new(-self.fs * self.hw, 0.0, 0.0)));
        }
        v * G
    }

    /// Believed (internal model) and true load torque on the rep joint.
    fn load_torque(&self, load: &Load, q: &[f64; ND], v: &[f64; ND]) -> f64 {
        let lc = 0.92 * self.lleg;
        match self.ex {
            Exercise::StandingCableAbduction | Exercise::SeatedMachineAbduction => {
                let arm = if self.ex == Exercise::SeatedMachineAbduction {
                    0.32
                } else {
                    lc
                };
                let engaged = smoothstep((q[ABD] + 2.0 * D2R) / (4.0 * D2R));
                let friction = 0.08 * (v[ABD] / 0.05).tanh();
                let stack =
                    -load.stack * G * arm * engaged * (1.0 + friction) * (0.5 * q[ABD]).cos();
                let band = -load.band * (q[ABD] + 3.0 * D2R).max(0.0);
                stack + band
            }
            Exercise::SideLyingAbduction => -load.band * (q[ABD] + 3.0 * D2R).max(0.0),
            _ => 0.0,
        }
    }

    fn inertia(&self) -> [f64; ND] {
        let lc = 0.92 * self.lleg;
        let stack_arm = if self.ex == Exercise::SeatedMachineAbduction {
            0.32
        } else {
            lc
        };
        let i_abd = self.ileg + self.load.ankle * lc * lc + self.load.stack * stack_arm * stack_arm;
        let i_obl = 0.68 * self.mass * 0.1 + self.ml * 0.15;
        [
            i_abd,
            self.ileg,
            i_obl,
            self.mass * (0.55 * self.lifter.height).powi(2),
            0.5 * self.mass * 0.09,
        ]
    }

    /// Passive joint torques and contacts with the other leg, bed, seat, floor.
    fn passive(&self, q: &[f64; ND], v: &[f64; ND], foot_down: bool) -> [f64; ND] {
        let mut t = [0.0; ND];
        let spring = |x: f64, k: f64| if x < 0.0 { -k * x } else { 0.0 };
        t[ABD] =
            -2.0 * v[ABD] - 4.0 * q[ABD] - 30.0 * ((q[ABD] - 50.0 * D2R).max(0.0)).powi(2) * 100.0;
        t[FLEX] = -2.5 * v[FLEX] - 12.0 * q[FLEX];
        t[OBL] = -6.0 * v[OBL];
        t[LEAN] = -20.0 * v[LEAN];
        t[TRUNK] = -8.0 * v[TRUNK] - 150.0 * q[TRUNK];
        match self.posture {
            Posture::Stand => {
                if self.hitch() {
                    t[ABD] += -800.0 * q[ABD] - 40.0 * v[ABD];
                    t[FLEX] += -300.0 * q[FLEX] - 20.0 * v[FLEX];
                } else {
                    let contact = spring(q[ABD] + 3.0 * D2R, 900.0);
                    t[ABD] += contact - if contact > 0.0 { 25.0 * v[ABD] } else { 0.0 };
                }
                if foot_down {
                    t[ABD] += -1500.0 * q[ABD] - 60.0 * v[ABD];
                    t[OBL] += -3000.0 * q[OBL] - 120.0 * v[OBL];
                }
            }
            Posture::Lie => {
                let contact = spring(q[ABD] + 4.0 * D2R, 1500.0);
                t[ABD] += contact - if contact > 0.0 { 30.0 * v[ABD] } else { 0.0 };
                t[OBL] += -300.0 * q[OBL] - 30.0 * v[OBL];
                t[LEAN] += -20000.0 * q[LEAN] - 800.0 * v[LEAN];
                t[TRUNK] += -500.0 * q[TRUNK] - 40.0 * v[TRUNK];
            }
            Posture::Sit => {
                let pads = spring(q[ABD], 1200.0);
                t[ABD] += pads - if pads > 0.0 { 30.0 * v[ABD] } else { 0.0 };
                let seat = spring(q[FLEX], 4000.0);
                t[FLEX] += seat - if seat > 0.0 { 80.0 * v[FLEX] } else { 0.0 };
                t[OBL] += -1800.0 * q[OBL] - 60.0 * v[OBL];
                t[LEAN] += -20000.0 * q[LEAN] - 800.0 * v[LEAN];
                t[TRUNK] += -400.0 * q[TRUNK] - 30.0 * v[TRUNK];
            }
        }
        t
    }

    /// Gravity torques as −∂V/∂q (one-sided differences from one base pose).
    fn gravity(&self, q: &[f64; ND]) -> [f64; ND] {
        let mut t = [0.0; ND];
        let h = 1e-5;
        let base = self.potential(q, self.posture);
        for (d, td) in t.iter_mut().enumerate() {
            if (self.posture != Posture::Stand && d == LEAN) || (self.hitch() && d <= FLEX) {
                continue;
            }
            let mut a = *q;
            a[d] += h;
            *td = -(self.potential(&a, self.posture) - base) / h;
        }
        t
    }

    /// One 4 ms step: controller, units, mechanics, recording.
    fn step(&mut self, d: &Drive) {
        let inertia = self.inertia();
        let mut grav = self.gravity(&self.q);
        let pass = self.passive(&self.q, &self.v, d.foot_down);
        let load = self.load_torque(&self.load, &self.q, &self.v);
        // Internal model: inverse dynamics of the plan with the believed load.
        let mut grav_d = self.gravity(&d.qd);
        if d.foot_down {
            // Both feet on the floor carry the pelvis.
            grav[OBL] = 0.0;
            grav_d[OBL] = 0.0;
        }
        let load_d = self.load_torque(&self.believed, &d.qd, &d.vd);
        let pass_d = self.passive(&d.qd, &d.vd, d.foot_down);
        let rep_dof = if self.hitch() { OBL } else { ABD };
        let mut tau = [0.0; ND];
        let mut kint = [0.0; ND];
        let old_s = self.hist[(self.hpos + HIST - SHORT_DELAY) % HIST];
        let old_l = self.hist[(self.hpos + HIST - LONG_DELAY) % HIST];
        let act = self.muscles[GMED].force + self.muscles[STANCE].force;
        let hat_mgh = (0.578 * self.mass + self.load.hand) * G * 0.3 * self.lifter.height / 1.75;
        for k in 0..ND {
            let mut ff = inertia[k] * d.ad[k] - grav_d[k] - pass_d[k];
            if k == rep_dof {
                ff -= load_d;
                ff *= d.gain;
                if d.vd[k] < -0.02 {
                    ff *= d.lowering;
                }
            }
            // Stretch reflexes on delayed state; gains scale with activation.
            // Gravity-unstable joints (pelvis on the stance hip, trunk) need
            // the loop stiffer than gravity's own stiffness.
            let kg = if k == OBL || k == TRUNK { hat_mgh } else { 0.0 };
            let ks = self.lifter.reflex * (inertia[k] * 6.0 + 0.2 * kg);
            let kl =
                self.lifter.reflex * (inertia[k] * 10.0 + 0.3 * kg) * (1.0 + 0.5 * act) + 0.2 * kg;
            kint[k] = (0.9 * kg + inertia[k] * 20.0) * (0.6 + act);
            let es = old_s[k] - old_s[ND + k];
            let el = old_l[k] - old_l[ND + k];
            let short = ks * es;
            let long = kl * el;
            // Slow postural loop on the pelvis, trunk and lean.
            if k >= OBL {
                self.integ[k] = (self.integ[k] + DT * el * 1.5).clamp(-0.2, 0.2);
            }
            let post = if k >= OBL { kl * self.integ[k] } else { 0.0 };
            tau[k] = ff + short + long + post;
        }
        // The whole body's lean is held by the feet (no pools here).
        let lean_k = self.mass * G * 0.55 * self.lifter.height * (1.3 + 0.6 * self.lifter.grip);
        let lean_tau = if self.posture == Posture::Stand {
            -lean_k * (old_l[ND + LEAN] - old_l[LEAN]) - lean_k * 0.4 * self.v[LEAN] - grav_d[LEAN]
                + self.sway[0]
        } else {
            0.0
        };
        // Allocation of the wanted torques to muscle forces.
        let mut want = [0.0; NM];
        let c = self.lifter.cocon + d.cocon;
        let fac: Vec<f64> = self
            .muscles
            .iter()
            .map(|m| m.factor(&self.q, &self.v).max(0.2))
            .collect();
        let give = |mus: usize, torque: f64, arm: f64, want: &mut [f64; NM], me: &Body| {
            let m = &me.muscles[mus];
            want[mus] += torque / (m.mmax * arm.abs().max(0.1) * fac[mus]);
        };
        let tfl = (self.lifter.tfl_share + d.tfl_extra).min(0.9);
        let abd_dof = if self.hitch() { OBL } else { ABD };
        let ta = tau[abd_dof];
        if self.hitch() {
            let ql = d.ql_share;
            if ta > 0.0 {
                give(GMED, ta * (1.0 - tfl - ql).max(0.05), 1.0, &mut want, self);
                give(TFL, ta * tfl, 1.0, &mut want, self);
                give(QLF, ta * ql, 0.6, &mut want, self);
            } else {
                give(ADD, -ta, 1.0, &mut want, self);
            }
        } else {
            if ta > 0.0 {
                give(GMED, ta * (1.0 - tfl), 1.0, &mut want, self);
                give(TFL, ta * tfl, 1.0, &mut want, self);
            } else {
                give(ADD, -ta, 1.0, &mut want, self);
            }
            let to = tau[OBL];
            if to > 0.0 {
                if self.posture == Posture::Stand {
                    give(
                        STANCE,
                        to * (1.0 - d.ql_share) * d.stance,
                        1.0,
                        &mut want,
                        self,
                    );
                    give(QLF, to * d.ql_share, 0.6, &mut want, self);
                } else {
                    give(QLF, to, 0.6, &mut want, self);
                }
            } else {
                give(QLS, -to, 0.3, &mut want, self);
            }
        }
        let tf = tau[FLEX];
        if tf > 0.0 {
            give(ILIO, tf, 1.0, &mut want, self);
        } else {
            give(EXT, -tf, 1.0, &mut want, self);
        }
        let tt = tau[TRUNK];
        if tt > 0.0 {
            give(QLF, tt, 1.0, &mut want, self);
        } else {
            give(QLS, -tt, 1.0, &mut want, self);
        }
        // Co-contraction about the rep joint, tone elsewhere.
        want[GMED] += c;
        want[ADD] += c * 0.8;
        want[TFL] += c * 0.5;
        for w in want.iter_mut() {
            *w += d.tone;
        }
        if self.posture == Posture::Stand && !d.foot_down && !self.hitch() {
            want[STANCE] = want[STANCE].max(0.05);
        }
        // Units.
        let t = self.t;
        for (k, w) in want.iter().enumerate() {
            let m = &mut self.muscles[k];
            let e = m.pool.excitation_for(w.clamp(0.0, 1.0));
            m.prev = m.force;
            m.force = m.pool.step(e, t, &mut self.rng);
            let dfdt = (m.force - m.prev) / DT;
            m.mmg = 0.9 * m.mmg + 0.1 * dfdt;
        }
        if self.steps.is_multiple_of(25) {
            for m in &mut self.muscles {
                m.pool.recover(25.0 * DT);
            }
        }
        // Mechanics.
        let mut torque = [0.0; ND];
        for m in &self.muscles {
            let f = m.force * m.mmax * m.factor(&self.q, &self.v);
            for (t, a) in torque.iter_mut().zip(&m.arm) {
                *t += f * a;
            }
        }
        // Intrinsic muscle viscosity, rising with activation and co-contraction.
        let visc = 6.0 + 10.0 * (act + c);
        for k in 0..ND {
            // Short-range stiffness of the active muscles, without delay.
            torque[k] +=
                grav[k] + pass[k] - inertia[k] * visc * self.v[k] - kint[k] * (self.q[k] - d.qd[k]);
        }
        torque[rep_dof] += load;
        torque[LEAN] += lean_tau;
        // A hand on the machine takes part of the stance hip's work.
        if self.posture == Posture::Stand {
            let g = self.lifter.grip;
            torque[OBL] += -g * 0.5 * grav[OBL].min(0.0)
                - g * 150.0 * (self.q[OBL] + self.q[LEAN])
                - g * 20.0 * self.v[OBL];
        }
        // The leg's swing pushes back on the pelvis.
        let a_abd = (torque[ABD]) / inertia[ABD];
        if !self.hitch() {
            torque[OBL] -= 0.25 * self.ileg * a_abd;
            torque[LEAN] -= 0.15 * self.ileg * a_abd;
        }
        for k in 0..ND {
            let a = torque[k] / inertia[k];
            self.v[k] += a * DT;
            self.q[k] += self.v[k] * DT;
        }
        if self.posture != Posture::Stand || self.hitch() {
            self.q[LEAN] *= 0.98;
            self.v[LEAN] *= 0.98;
        }
        // Yaw and tilt follow the leg and the cable; sway wanders.
        let yaw_t = if self.ex == Exercise::StandingCableAbduction {
            0.06 * self.q[ABD]
        } else {
            0.02 * self.q[ABD]
        } + self.sway[1];
        let w = 2.0 * PI * 1.2;
        self.yaw_v += DT * (-w * w * (self.yaw - yaw_t) - 2.0 * 0.7 * w * self.yaw_v);
        self.yaw += DT * self.yaw_v;
        self.tilt += DT * 3.0 * (0.15 * self.q[FLEX] + self.sway[2] - self.tilt);
        // Postural sway: Ornstein–Uhlenbeck torque (N·m) and yaw and tilt (rad).
        for (s, sd) in self.sway.iter_mut().zip([5.0, 0.01, 0.005]) {
            *s += -0.5 * *s * DT + sd * DT.sqrt() * gauss(&mut self.rng);
        }
        // History for the reflexes.
        self.hpos = (self.hpos + 1) % HIST;
        let mut hrow = [0.0; 2 * ND];
        hrow[..ND].copy_from_slice(&d.qd);
        hrow[ND..].copy_from_slice(&self.q);
        self.hist[self.hpos] = hrow;
        self.t += DT;
        self.steps += 1;
        self.record();
    }

    fn record(&mut self) {
        let (rot, base_h) = match self.blend {
            Some((from, s)) => {
                let a = self.posture_rot(from);
                let b = self.posture_rot(self.posture);
                let s = smoothstep(s);
                (
                    a.slerp(&b, s),
                    self.base_height(from) * (1.0 - s) + self.base_height(self.posture) * s,
                )
            }
            None => (
                self.posture_rot(self.posture),
                self.base_height(self.posture),
            ),
        };
        let p = self.pose(&self.q, self.posture);
        let world = ry(self.heading) * rot;
        let lift = Vector3::new(0.0, base_h + self.bob, 0.0);
        let mmg_p = self.muscles[QLF].mmg
            + self.muscles[QLS].mmg
            + 0.6 * (self.muscles[STANCE].mmg + self.muscles[GMED].mmg);
        let mmg_a = 0.2 * (self.muscles[GMED].mmg + self.muscles[TFL].mmg);
        // Obliquity: the pelvis' left-right axis from the posture's horizontal, free side up.
        let x = p.pelvis * Vector3::x();
        let obl = self.fs * x.y.clamp(-1.0, 1.0).asin() * R2D;
        self.frames.push(Frame {
            pelvis: world * p.pelvis,
            pelvis_pos: self.origin + world * p.centre + lift,
            shank: world * p.shank,
            ankle_pos: self.origin + world * p.ankle + lift,
            mmg_pelvis: mmg_p,
            mmg_ankle: mmg_a,
            impact: self.impact,
            abd: self.q[ABD] * R2D,
            flex: self.q[FLEX] * R2D,
            obl,
        });
        self.impact = 0.0;
    }

    /// Holds a posture still for `secs`.
    fn still(&mut self, secs: f64, foot_down: bool) {
        let n = (secs / DT).round() as usize;
        let mut qd = [0.0; ND];
        if self.posture == Posture::Stand && !foot_down && !self.hitch() {
            qd[ABD] = 2.0 * D2R;
        }
        let drive = Drive::rest(qd, foot_down);
        for _ in 0..n {
            self.step(&drive);
        }
    }

    /// Moves from the current posture to `to` over `secs` (carried kinematically).
    fn transition(&mut self, to: Posture, secs: f64) {
        let from = self.posture;
        self.posture = to;
        let n = (secs / DT).round().max(1.0) as usize;
        let drive = Drive::rest([0.0; ND], true);
        for k in 0..n {
            self.blend = Some((from, (k + 1) as f64 / n as f64));
            let s = (k as f64 / n as f64) * PI;
            self.bob = 0.05 * s.sin();
            self.step(&drive);
            // The joints are carried along.
            for j in 0..ND {
                self.q[j] *= 0.97;
                self.v[j] *= 0.9;
            }
        }
        self.blend = None;
        self.bob = 0.0;
        self.impact += 3.0;
    }

    /// A movement on `dof` through the same controller: to `amp` and back in
    /// `secs`, shaped as a raised cosine, `cycles` times.
    fn gesture(&mut self, dof: usize, amp: f64, secs: f64, cycles: usize, foot_down: bool) {
        let n = (secs / DT).round().max(2.0) as usize;
        for k in 0..n {
            let s = k as f64 / n as f64;
            let w = 2.0 * PI * cycles as f64 / secs;
            let ph = w * s * secs;
            let mut d = Drive::rest([0.0; ND], foot_down);
            d.qd[dof] = amp * 0.5 * (1.0 - ph.cos());
            d.vd[dof] = amp * 0.5 * w * ph.sin();
            d.ad[dof] = amp * 0.5 * w * w * ph.cos();
            self.step(&d);
        }
    }

    /// Walks `secs` seconds (with a turn of `turn` rad spread over it).
    fn walk(&mut self, secs: f64, turn: f64) {
        let n = (secs / DT).round() as usize;
        let f = 0.9 + 0.1 * gauss(&mut self.rng);
        let amp = 18.0 * D2R;
        let speed = 1.1 * (self.lleg / 0.9);
        let mut last = 0.0f64;
        for k in 0..n {
            let t = k as f64 * DT;
            let ph = 2.0 * PI * f * t;
            let mut d = Drive::rest([0.0; ND], true);
            d.qd[FLEX] = amp * ph.sin();
            d.vd[FLEX] = amp * 2.0 * PI * f * ph.cos();
            d.ad[FLEX] = -amp * (2.0 * PI * f).powi(2) * ph.sin();
            self.knee = self.lifter.knee + 35.0 * D2R * (ph + 0.6).cos().max(0.0).powi(2);
            self.bob = 0.025 * (2.0 * ph).cos();
            self.heading += turn / n as f64;
            let dir = ry(self.heading) * Vector3::new(0.0, 0.0, -1.0);
            self.origin += dir * speed * DT * (1.0 + 0.2 * (2.0 * ph).sin());
            let s = (2.0 * ph).sin();
            if last < 0.0 && s >= 0.0 {
                self.impact += 6.0;
            }
            last = s;
            self.step(&d);
        }
        self.knee = self.lifter.knee;
        self.bob = 0.0;
    }
}

struct Pose {
    pelvis: UnitQuaternion<f64>,
    centre: Vector3<f64>,
    shank: UnitQuaternion<f64>,
    ankle: Vector3<f64>,
    leg_com: Vector3<f64>,
    hat_com: Vector3<f64>,
    free_leg_com: Vector3<f64>,
}

/// Two-rate state-space learner (Smith, Ghazizadeh & Shadmehr 2006).
#[derive(Clone, Copy, Default)]
struct TwoRate {
    fast: f64,
    slow: f64,
}

impl TwoRate {
    fn update(&mut self, e: f64, fast: (f64, f64), slow: (f64, f64)) {
        self.fast = fast.0 * self.fast + fast.1 * e;
        self.slow = slow.0 * self.slow + slow.1 * e;
    }
    fn value(&self) -> f64 {
        self.fast + self.slow
    }
}

/// What one rep was meant to be.
#[derive(Clone, Copy)]
struct RepPlan {
    amp: f64,
    up: f64,
    hold: f64,
    down: f64,
    comp: Option<FlagKind>,
    comp_size: f64,
}

/// Where a rep sits in the frames.
struct RepSpan {
    set: usize,
    /// Meant to go the full working range.
    full: bool,
    start: usize,
    end: usize,
}

/// The session's course, recorded for the truth.
struct Course {
    sets: Vec<(usize, usize)>,
    neutral: Vec<usize>,
    reps: Vec<RepSpan>,
    distractions: Vec<String>,
}

/// The rep joint's plan shape: position, velocity, acceleration at `t` s into the rep.
fn rep_shape(p: &RepPlan, t: f64) -> (f64, f64, f64) {
    let bell = |s: f64, dur: f64, a: f64| {
        let w = PI / dur;
        let s = s.clamp(0.0, dur);
        (
            a * 0.5 * (1.0 - (w * s).cos()),
            a * 0.5 * w * (w * s).sin(),
            a * 0.5 * w * w * (w * s).cos(),
        )
    };
    if t < p.up {
        bell(t, p.up, p.amp)
    } else if t < p.up + p.hold {
        (p.amp, 0.0, 0.0)
    } else if t < p.up + p.hold + p.down {
        let (x, v, a) = bell(t - p.up - p.hold, p.down, p.amp);
        (p.amp - x, -v, -a)
    } else {
        (0.0, 0.0, 0.0)
    }
}

/// The simulated session of the `units` model.
pub struct UnitsSimulator {
    samples: std::vec::IntoIter<Sample>,
}

impl UnitsSimulator {
    /// Simulates the whole session; returns the sample stream and its truth.
    pub fn new(cfg: &SimConfig) -> Result<(Self, Truth), String> {
        cfg.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x756e_6974_735f_3330);
        let lifter = Lifter::draw(&mut rng);
        let body_rng = ChaCha8Rng::seed_from_u64(rng.gen());
        let mut body = Body::new(cfg, lifter, body_rng);
        let course = run_session(cfg, &mut body, &mut rng);
        let truth = measure(cfg, &body, &course);
        let samples = sense(cfg, &body);
        Ok((
            UnitsSimulator {
                samples: samples.into_iter(),
            },
            truth,
        ))
    }
}

impl Iterator for UnitsSimulator {
    type Item = Sample;
    fn next(&mut self) -> Option<Sample> {
        self.samples.next()
    }
}

/// Picks a load for the set: a share of what the lifter can do at the top.
fn choose_load(cfg: &SimConfig, body: &Body, share: f64, rng: &mut ChaCha8Rng) -> Load {
    let mut load = Load {
        stack: 0.0,
        band: 0.0,
        ankle: 0.0,
        hand: 0.0,
    };
    let top = body.lifter.range_deg * D2R;
    let cap = body.muscles[GMED].mmax + body.muscles[TFL].mmax;
    let leg = body.ml * G * body.rcom * top.sin();
    let lc = 0.92 * body.lleg;
    match cfg.exercise {
        Exercise::StandingCableAbduction => {
            let want = (share * cap * 0.6 - leg).max(5.0);
            if matches!(body.lifter.pop, Population::Rehab | Population::Older)
                && rng.gen::<f64>() < 0.4
            {
                load.band = want / top;
            } else {
                let kg = want / (G * lc);
                load.stack = ((kg / 2.5).round() * 2.5).max(2.5);
            }
        }
        Exercise::SideLyingAbduction => {
            let leg_flat = body.ml * G * body.rcom;
            let spare = share * cap * 0.6 - leg_flat;
            if spare > 0.0 {
                let kg = spare / (G * lc);
                load.ankle = ((kg * 2.0).round() / 2.0).clamp(0.0, 5.0);
            }
        }
        Exercise::SeatedMachineAbduction => {
            let kg = share * cap * 0.6 / (G * 0.32);
            load.stack = ((kg / 5.0).round() * 5.0).max(5.0);
        }
        Exercise::HipHitch if body.lifter.pop == Population::Athlete && rng.gen::<f64>() < 0.5 => {
            load.hand = uni(rng, 5.0, 16.0);
        }
        _ => {}
    }
    load
}

/// The programme, the sets, the reps and the life between them.
fn run_session(cfg: &SimConfig, body: &mut Body, rng: &mut ChaCha8Rng) -> Course {
    let mut course = Course {
        sets: Vec::new(),
        neutral: Vec::new(),
        reps: Vec::new(),
        distractions: Vec::new(),
    };
    let working = match cfg.exercise {
        Exercise::SideLyingAbduction => Posture::Lie,
        Exercise::SeatedMachineAbduction => Posture::Sit,
        _ => Posture::Stand,
    };
    let lead = cfg.lead_in_s.unwrap_or_else(|| uni(rng, 0.5, 3.0));
    // Start in position, still.
    body.posture = working;
    let foot_down_rest = working == Posture::Stand && !body.hitch();
    body.still(lead.max(0.3), foot_down_rest);
    let mut gain = TwoRate::default();
    let mut timing = TwoRate::default();
    let lifter_fast = body.lifter.fast;
    let lifter_slow = body.lifter.slow;
    let comps: Vec<FlagKind> = cfg.compensations.clone();
    for set in 0..cfg.sets {
        if set > 0 {
            rest_between(cfg, body, working, rng, &mut course, &mut gain);
        }
        // The programme: warm-up, working, back-off; a drop set now and then.
        let share = if cfg.sets >= 3 && set == 0 {
            uni(rng, 0.3, 0.45)
        } else if cfg.sets >= 3 && set == cfg.sets - 1 && rng.gen::<f64>() < 0.4 {
            uni(rng, 0.4, 0.55)
        } else {
            uni(rng, 0.5, 0.7)
        };
        let drop_set = set > 0 && rng.gen::<f64>() < 0.25;
        body.load = choose_load(cfg, body, share, rng);
        let err = body.lifter.belief_err / (1.0 + set as f64);
        body.believed = scaled(body.load, 1.0 + err);
        // Neutral: still before the first rep.
        let fd = working == Posture::Stand && !body.hitch();
        body.still(uni(rng, 1.0, 2.5), fd);
        course.neutral.push(body.frames.len() - 1);
        if fd {
            // Lift the foot off the floor to hover.
            body.gesture(ABD, 2.0 * D2R, 0.4, 0, false);
            body.still(uni(rng, 0.2, 0.6), false);
        }
        let target = rng.gen_range(cfg.reps_min..=cfg.reps_max);
        let set_start = course.reps.len();
        let mut fails = 0;
        let mut done = 0;
        let drop_at = if drop_set && target >= 6 {
            target / 2
        } else {
            usize::MAX
        };
        let mut attempts = 0;
        while done < target && attempts < target + 6 {
            attempts += 1;
            if done == drop_at {
                body.still(uni(rng, 2.5, 5.0), fd);
                let old = body.load;
                body.load = scaled(old, 0.7);
                body.believed = scaled(old, 0.85);
                course
                    .distractions
                    .push("drop set: pin moved mid-set".into());
                if fd {
                    body.gesture(ABD, 2.0 * D2R, 0.4, 0, false);
                }
            }
            // Fatigue: fading units; the learner's uncertainty raises co-contraction.
            let cap = body.muscles[GMED]
                .pool
                .capacity()
                .min(body.muscles[STANCE].pool.capacity());
            let fatigue = ((1.0 - cap) / 0.3).clamp(0.0, 1.5);
            let p_comp = (cfg.compensation_rate * (0.6 + 0.9 * fatigue)).min(0.97);
            let comp = if !comps.is_empty() && rng.gen::<f64>() < p_comp {
                let w: Vec<f64> = comps
                    .iter()
                    .map(|k| {
                        body.lifter.habits[FlagKind::ALL.iter().position(|x| x == k).unwrap_or(0)]
                    })
                    .collect();
                let total: f64 = w.iter().sum();
                let mut r = rng.gen::<f64>() * total;
                let mut pick = comps[0];
                for (k, wk) in comps.iter().zip(&w) {
                    if r < *wk {
                        pick = *k;
                        break;
                    }
                    r -= wk;
                }
                Some(pick)
            } else {
                None
            };
            let tempo = 1.0 + 0.08 * gauss(rng);
            let mut plan = RepPlan {
                amp: body.lifter.range_deg * D2R * (1.0 + 0.05 * gauss(rng)),
                up: body.lifter.up_s * tempo,
                hold: if rng.gen::<f64>() < body.lifter.hold_top {
                    uni(rng, 1.0, 3.0)
                } else {
                    body.lifter.hold_s * uni(rng, 0.6, 1.4)
                },
                down: body.lifter.down_s * tempo,
                comp,
                comp_size: uni(rng, 0.0, 1.0),
            };
            if body.hitch() {
                plan.amp = -uni(rng, 6.0, 11.0) * D2R;
                plan.up *= 1.2;
            }
            let start = body.frames.len();
            let achieved = do_rep(body, &plan, &gain, &timing, fatigue);
            let end = body.frames.len();
            let caught = achieved.0.is_nan();
            let rel = if caught { 0.0 } else { achieved.0 };
            // Short of the plan: push harder (in the hitch the plan is a drop,
            // so too deep means too little support).
            let e = if body.hitch() { rel - 1.0 } else { 1.0 - rel }.clamp(-1.0, 1.0);
            if !caught {
                gain.update(e, lifter_fast, lifter_slow);
                timing.update(achieved.1.clamp(-0.3, 0.3), lifter_fast, lifter_slow);
            }
            if rel < 0.35 {
                fails += usize::from(done > 0);
                course
                    .distractions
                    .push("a rep started and given up".into());
                if fails >= 2 {
                    course.distractions.push("set ended at failure".into());
                    break;
                }
                continue;
            }
            course.reps.push(RepSpan {
                set,
                start,
                end,
                full: plan.comp != Some(FlagKind::PartialRange),
            });
            done += 1;
            // Between reps: a pause, back to back, or a hold at neutral.
            let pause = if rng.gen::<f64>() < body.lifter.back_to_back {
                uni(rng, 0.0, 0.15)
            } else {
                body.lifter.pause_s * uni(rng, 0.5, 1.6)
            };
            if pause > 0.02 {
                body.still(pause, false);
            }
        }
        // A last attempt given up now and then.
        if rng.gen::<f64>() < 0.12 {
            body.still(uni(rng, 0.8, 2.0), false);
            let plan = RepPlan {
                amp: if body.hitch() {
                    -3.0 * D2R
                } else {
                    body.lifter.range_deg * D2R * uni(rng, 0.15, 0.3)
                },
                up: body.lifter.up_s * 1.3,
                hold: 0.0,
                down: body.lifter.down_s * 0.8,
                comp: None,
                comp_size: 0.0,
            };
            do_rep(body, &plan, &gain, &timing, 0.0);
            course
                .distractions
                .push("a last rep started and given up".into());
        }
        let first = course
            .reps
            .get(set_start)
            .map(|r| r.start)
            .unwrap_or(body.frames.len());
        let last = course.reps.last().map(|r| r.end).unwrap_or(first);
        if course.reps.len() > set_start {
            course.sets.push((first, last));
        } else {
            course.neutral.pop();
        }
        body.still(uni(rng, 0.5, 2.0), fd);
    }
    body.still(uni(rng, 1.0, 3.0), foot_down_rest);
    course
}

fn scaled(l: Load, k: f64) -> Load {
    Load {
        stack: l.stack * k,
        band: l.band * k,
        ankle: l.ankle * k,
        hand: l.hand * k,
    }
}

/// Runs one rep through the controller. Returns (achieved excursion of the
/// rep joint, timing error of the peak in s: positive when late).
fn do_rep(
    body: &mut Body,
    plan: &RepPlan,
    gain: &TwoRate,
    timing: &TwoRate,
    fatigue: f64,
) -> (f64, f64) {
    let stand = body.posture == Posture::Stand && !body.hitch();
    let mut p = *plan;
    let rep_dof = if body.hitch() { OBL } else { ABD };
    let size = p.comp_size;
    let mut d = Drive::rest([0.0; ND], false);
    d.gain = (1.0 + gain.value()).clamp(0.6, 1.8);
    d.cocon = 0.06 * gain.fast.abs().min(1.0) + 0.04 * (body.load.stack / 20.0).min(1.0);
    // Fading gluteus medius hands work to TFL on its own.
    d.tfl_extra = 0.25 * fatigue;
    let mut hike = 0.0;
    let mut drop = 0.0;
    let mut sway = 0.0;
    let mut flex = 0.0;
    match p.comp {
        Some(FlagKind::Momentum) => {
            // A burst, then the leg flies and drops.
            p.up = (p.up * 0.55).max(0.35);
            p.hold = 0.0;
            p.down = (p.down * 0.3).max(0.28);
            d.lowering = 0.3;
            p.amp *= 1.05;
        }
        Some(FlagKind::PartialRange) => p.amp *= 0.4 + 0.2 * size,
        Some(FlagKind::HipHike) => {
            hike = (5.0 + 8.0 * size) * D2R;
            d.ql_share = 0.55;
        }
        Some(FlagKind::PelvicDrop) => {
            drop = -(5.5 + 6.0 * size) * D2R;
            d.stance = 0.6;
        }
        Some(FlagKind::TrunkSway) => sway = (7.5 + 4.0 * size) * D2R,
        Some(FlagKind::HipFlexionDrift) => {
            flex = (11.0 + 14.0 * size) * D2R;
            d.tfl_extra += 0.3;
        }
        None => {}
    }
    if body.hitch() {
        if hike > 0.0 {
            hike *= 0.8;
        }
        drop = 0.0;
        flex = 0.0;
    }
    let total = p.up + p.hold + p.down;
    // A hike in the hitch: pulled past level with the side of the trunk, held, let back.
    let hike_hold = if body.hitch() && hike > 0.0 { 0.9 } else { 0.0 };
    let n = ((total + hike_hold) / DT).round() as usize + 1;
    let advance = timing.value().clamp(-0.15, 0.25);
    let start_q = body.q[rep_dof];
    let mut peak = 0.0f64;
    let mut t_peak = 0.0;
    let up_part = p.up + 0.5 * p.hold;
    let mut caught = false;
    for k in 0..n {
        let t = k as f64 * DT;
        let (x, v, a) = rep_shape(&p, t + advance);
        let mut dd = d;
        dd.qd[rep_dof] = x;
        dd.vd[rep_dof] = v;
        dd.ad[rep_dof] = a;
        if stand {
            dd.qd[ABD] = dd.qd[ABD].max(2.0 * D2R);
        }
        let s = if p.amp.abs() > 1e-6 {
            (x / p.amp).clamp(0.0, 1.0)
        } else {
            0.0
        };
        if hike != 0.0 {
            if body.hitch() {
                let rise = smoothstep((t - p.up - p.hold) / p.down);
                let fall = smoothstep((t - total - 0.5) / 0.4);
                dd.qd[OBL] = x + hike * rise * (1.0 - fall);
            } else {
                dd.qd[OBL] = hike * s;
            }
        }
        if drop != 0.0 {
            dd.qd[OBL] = drop * s;
        }
        if flex != 0.0 {
            dd.qd[FLEX] = flex * s;
        }
        if sway != 0.0 {
            let ph = 2.0 * PI * t / total;
            dd.qd[LEAN] = sway * ph.sin();
            dd.qd[TRUNK] = -0.3 * sway * ph.sin();
        }
        // A clean rep: the stance hip yields a little, and a lifter who does
        // not hold on leans the whole body over the stance foot.
        if stand && hike == 0.0 && drop == 0.0 && sway == 0.0 {
            dd.qd[OBL] = -0.04 * x;
        }
        if stand && sway == 0.0 {
            dd.qd[LEAN] = (1.0 - body.lifter.grip) * 0.05 * x;
        }
        // Losing the balance: the lifter catches it (foot down, hand on the
        // machine) and the rest of the rep is given up.
        let roll = (body.q[OBL] + body.q[LEAN]) * R2D;
        if !caught
            && (stand || body.hitch())
            && (!(-16.0..=22.0).contains(&roll) || body.q[LEAN].abs() > 14.0 * D2R)
        {
            caught = true;
        }
        if caught {
            dd = Drive::rest([0.0; ND], stand);
            dd.stance = 1.0;
        }
        body.step(&dd);
        let ex = (body.q[rep_dof] - start_q).abs();
        if ex > peak {
            peak = ex;
            t_peak = t;
        }
    }
    if caught {
        body.impact += 3.0;
        body.still(0.8, stand);
        return (f64::NAN, 0.0);
    }
    (peak / p.amp.abs().max(1e-6), t_peak - up_part)
}

/// Between sets: leave the station, walk, fidget, the other leg, come back, settle.
fn rest_between(
    cfg: &SimConfig,
    body: &mut Body,
    working: Posture,
    rng: &mut ChaCha8Rng,
    course: &mut Course,
    gain: &mut TwoRate,
) {
    let rest = uni(rng, cfg.rest_min_s, cfg.rest_max_s);
    let t0 = body.t;
    let end = t0 + rest;
    // Leave the position.
    if working != Posture::Stand {
        body.transition(Posture::Stand, uni(rng, 1.5, 3.0));
    } else if body.hitch() {
        body.impact += 4.0;
        course
            .distractions
            .push("stepped down from the step".into());
    }
    let budget = |body: &Body| end - body.t - 6.0;
    if cfg.walking && budget(body) > 12.0 {
        let w = uni(rng, 3.0, 6.0);
        body.walk(w, PI);
        body.still(uni(rng, 1.0, 3.0), true);
        course.distractions.push("walked away and turned".into());
    }
    if cfg.fidgets {
        let n = rng.gen_range(1..=3);
        for _ in 0..n {
            if budget(body) < 5.0 {
                break;
            }
            match rng.gen_range(0..5) {
                0 => {
                    body.gesture(FLEX, uni(rng, 6.0, 14.0) * D2R, 1.2, 3, false);
                    course.distractions.push("shook the leg out".into());
                }
                1 => {
                    body.gesture(LEAN, uni(rng, 2.0, 4.0) * D2R, 3.0, 1, true);
                    course.distractions.push("shifted the weight".into());
                }
                2 => {
                    body.gesture(
                        FLEX,
                        uni(rng, 45.0, 70.0) * D2R,
                        uni(rng, 4.0, 7.0),
                        1,
                        false,
                    );
                    body.impact += 2.0;
                    course.distractions.push("re-adjusted the strap".into());
                }
                3 if !body.hitch() => {
                    body.gesture(
                        ABD,
                        uni(rng, 14.0, 25.0) * D2R,
                        uni(rng, 0.8, 1.3),
                        1,
                        false,
                    );
                    course.distractions.push("a single swing of the leg".into());
                }
                _ => {
                    body.gesture(FLEX, uni(rng, 15.0, 25.0) * D2R, 1.0, 2, false);
                    body.impact += 3.0;
                    course.distractions.push("stepped in place".into());
                }
            }
            body.still(uni(rng, 0.5, 2.0), true);
        }
    }
    // The other leg's set (the sensor leg is the stance leg).
    if cfg.placement == Placement::Ankle
        && working == Posture::Stand
        && !body.hitch()
        && rng.gen::<f64>() < 0.3
        && budget(body) > 25.0
    {
        let reps = rng.gen_range(8..14);
        for _ in 0..reps {
            body.gesture(
                LEAN,
                -uni(rng, 1.0, 2.0) * D2R,
                body.lifter.up_s + body.lifter.down_s + 0.5,
                1,
                true,
            );
        }
        course.distractions.push("the other leg's set".into());
    }
    // Sit down for a long rest.
    if budget(body) > 40.0 && rng.gen::<f64>() < 0.4 {
        body.transition(Posture::Sit, 1.5);
        let s = (budget(body) - 6.0).max(1.0) * uni(rng, 0.5, 0.9);
        body.still(s, true);
        body.transition(Posture::Stand, 1.5);
        course.distractions.push("sat down and got up".into());
    }
    if cfg.walking && budget(body) > 8.0 {
        body.walk(uni(rng, 2.5, 5.0), PI);
        course
            .distractions
            .push("walked back to the station".into());
    }
    let left = (end - body.t - 2.5).max(0.5);
    body.still(left, true);
    // Get back into position.
    if working != Posture::Stand {
        body.transition(working, uni(rng, 1.5, 2.5));
        course.distractions.push(if working == Posture::Lie {
            "lay down on the side".into()
        } else {
            "sat into the machine".into()
        });
    } else if body.hitch() {
        body.impact += 4.0;
        course.distractions.push("stepped up onto the step".into());
    } else if cfg.fidgets && rng.gen::<f64>() < 0.5 {
        body.gesture(
            FLEX,
            uni(rng, 40.0, 60.0) * D2R,
            uni(rng, 3.0, 5.0),
            1,
            false,
        );
        course.distractions.push("re-strapped the cuff".into());
    }
    // The fast process forgets over a rest; the slow one keeps.
    gain.fast *= (-rest / 25.0).exp();
}

/// Ground truth measured on the recorded curves.
fn measure(cfg: &SimConfig, body: &Body, course: &Course) -> Truth {
    let frames = &body.frames;
    let visible = cfg.visible_compensations();
    let hold = (0.15 / DT).round() as usize;
    let mut sets = Vec::new();
    let ankle = cfg.placement == Placement::Ankle;
    let hitch = cfg.exercise == Exercise::HipHitch;
    for si in 0..course.sets.len() {
        let ni = course.neutral[si];
        let rest_q = frames[ni].shank;
        let obl0 = frames[ni].obl;
        let flex0 = frames[ni].flex;
        let reps: Vec<&RepSpan> = course
            .reps
            .iter()
            .filter(|r| r.set == course_set_index(course, si))
            .collect();
        // Rep joint curve (abduction, or obliquity for the hitch), the peak in DOMAIN's sense.
        let mut measured = Vec::new();
        for r in &reps {
            let prim: Vec<f64> = (r.start..r.end)
                .map(|k| {
                    if hitch {
                        -(frames[k].obl - obl0)
                    } else {
                        frames[k].abd
                    }
                })
                .collect();
            let base = prim[0].min(prim[prim.len() - 1]);
            let (ipk, vpk) =
                prim.iter()
                    .enumerate()
                    .fold((0, f64::MIN), |a, (i, &v)| if v > a.1 { (i, v) } else { a });
            let thr = base + 0.1 * (vpk - base).max(0.5);
            let mut s = ipk;
            while s > 0 && prim[s] > thr {
                s -= 1;
            }
            let mut e = ipk;
            while e + 1 < prim.len() && prim[e] > thr {
                e += 1;
            }
            let peak = if ankle {
                (r.start..r.end)
                    .map(|k| rest_q.angle_to(&frames[k].shank) * R2D)
                    .fold(0.0, f64::max)
            } else {
                (r.start..r.end)
                    .map(|k| (frames[k].obl - obl0).abs())
                    .fold(0.0, f64::max)
            };
            // Rise and fall times of the rep joint (10 % to 90 %).
            let span = vpk - base;
            let lvl = |f: f64| base + f * span;
            let rise_a = (s..=ipk).find(|&k| prim[k] >= lvl(0.1)).unwrap_or(s);
            let rise_b = (s..=ipk).find(|&k| prim[k] >= lvl(0.9)).unwrap_or(ipk);
            let fall_a = (ipk..=e).find(|&k| prim[k] <= lvl(0.9)).unwrap_or(ipk);
            let fall_b = (ipk..=e).find(|&k| prim[k] <= lvl(0.1)).unwrap_or(e);
            let rise = (rise_b - rise_a) as f64 * DT;
            let fall = (fall_b - fall_a) as f64 * DT;
            let held = |sign: f64| -> f64 {
                // The largest obliquity (signed) held for 150 ms.
                let o: Vec<f64> = (r.start..r.end)
                    .map(|k| sign * (frames[k].obl - obl0))
                    .collect();
                let mut best = f64::MIN;
                for w in o.windows(hold.min(o.len()).max(1)) {
                    let m = w.iter().cloned().fold(f64::MAX, f64::min);
                    best = best.max(m);
                }
                best
            };
            let hike = held(1.0);
            let drop = held(-1.0);
            let omax = (r.start..r.end)
                .map(|k| frames[k].obl - obl0)
                .fold(f64::MIN, f64::max);
            let omin = (r.start..r.end)
                .map(|k| frames[k].obl - obl0)
                .fold(f64::MAX, f64::min);
            let flex = (r.start..r.end)
                .map(|k| frames[k].flex - flex0)
                .fold(f64::MIN, f64::max);
            measured.push((
                r.start + s,
                r.start + e,
                peak,
                span,
                rise,
                fall,
                hike,
                drop,
                omax,
                omin,
                flex,
            ));
        }
        // The set's working range: the median of the reps meant to go all
        // the way (the lifter's planned range if there are none).
        let mut spans: Vec<f64> = measured
            .iter()
            .zip(&reps)
            .filter(|(_, r)| r.full)
            .map(|(m, _)| m.3)
            .collect();
        spans.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let working = spans
            .get(spans.len() / 2)
            .copied()
            .unwrap_or(body.lifter.range_deg);
        let mut out = Vec::new();
        for m in &measured {
            let (s, e, peak, span, rise, fall, hike, drop, omax, omin, flex) = *m;
            let mut flags = Vec::new();
            let mut add = |k: FlagKind, v: f64| {
                if visible.contains(&k) {
                    flags.push(TruthFlag {
                        kind: k,
                        value_deg: round3(v),
                    });
                }
            };
            if hike >= 5.0 && !(hitch && omin < -3.0 && omax < 5.0) {
                add(FlagKind::HipHike, hike);
            }
            if !hitch && drop >= 5.0 {
                add(FlagKind::PelvicDrop, -drop);
            }
            if omax >= 5.0 && omin <= -5.0 {
                add(FlagKind::TrunkSway, omax.min(-omin));
            }
            if span >= 10.0 && (rise < 0.4 || fall < 0.4) {
                add(FlagKind::Momentum, span);
            }
            if working > 0.0 && span < 0.65 * working {
                add(FlagKind::PartialRange, working - span);
            }
            if flex >= 10.0 {
                add(FlagKind::HipFlexionDrift, flex);
            }
            out.push(TruthRep {
                start_s: round3(s as f64 * DT),
                end_s: round3((e + 1) as f64 * DT),
                peak_deg: round3(peak),
                flags,
            });
        }
        if out.is_empty() {
            continue;
        }
        sets.push(TruthSet {
            start_s: out[0].start_s,
            end_s: out[out.len() - 1].end_s,
            rep_count: out.len(),
            reps: out,
        });
    }
    Truth {
        config: cfg.clone(),
        duration_s: round3(frames.len() as f64 * DT),
        distractions: course.distractions.clone(),
        sets,
    }
}

/// The set number (in the programme) of the `i`th set that has reps.
fn course_set_index(course: &Course, i: usize) -> usize {
    let mut seen = Vec::new();
    for r in &course.reps {
        if seen.last() != Some(&r.set) {
            seen.push(r.set);
        }
    }
    seen.get(i).copied().unwrap_or(usize::MAX)
}

/// Which sensor the lifter owns.
#[derive(Clone, Copy, Debug)]
enum Device {
    WitMotion,
    Thingy,
    MetaMotion,
    Own,
}

/// The sensor: soft tissue, mounting, MEMS errors, stamps, batches, drops and gaps.
fn sense(cfg: &SimConfig, body: &Body) -> Vec<Sample> {
    let mut rng =
        ChaCha8Rng::seed_from_u64(cfg.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5345_4e53);
    let frames = &body.frames;
    let n = frames.len();
    let ankle = cfg.placement == Placement::Ankle;
    let device = match rng.gen_range(0..4) {
        0 => Device::WitMotion,
        1 => Device::Thingy,
        2 => Device::MetaMotion,
        _ => Device::Own,
    };
    let mount = if cfg.random_mounting {
        if ankle {
            UnitQuaternion::from_euler_angles(
                uni(&mut rng, -PI, PI),
                uni(&mut rng, -PI / 2.0, PI / 2.0),
                uni(&mut rng, -PI, PI),
            )
        } else {
            let a = uni(&mut rng, 0.0, 15.0) * D2R;
            let ax = Vector3::new(gauss(&mut rng), gauss(&mut rng), gauss(&mut rng)).normalize();
            UnitQuaternion::from_scaled_axis(ax * a)
        }
    } else {
        UnitQuaternion::identity()
    };
    // Bone-level readings at each frame (sensor axes), then soft tissue.
    let rot = |k: usize| -> UnitQuaternion<f64> {
        let f = &frames[k];
        (if ankle { f.shank } else { f.pelvis }) * mount
    };
    let pos = |k: usize| {
        if ankle {
            frames[k].ankle_pos
        } else {
            frames[k].pelvis_pos
        }
    };
    let (fn_hz, zeta) = if ankle {
        (body.lifter.wobble_hz, body.lifter.wobble_zeta)
    } else {
        (body.lifter.wobble_hz * 1.4, body.lifter.wobble_zeta * 1.3)
    };
    let w = 2.0 * PI * fn_hz;
    let mut disp = Vector3::<f64>::zeros();
    let mut vel = Vector3::<f64>::zeros();
    let mut acc = vec![Vector3::zeros(); n];
    let mut gyr = vec![Vector3::zeros(); n];
    let kick_dir = Vector3::new(gauss(&mut rng), gauss(&mut rng), gauss(&mut rng)).normalize();
    let mmg_dir = Vector3::new(gauss(&mut rng), gauss(&mut rng), gauss(&mut rng)).normalize();
    for k in 0..n {
        let a = k.saturating_sub(1);
        let b = (k + 1).min(n - 1);
        let r = rot(k);
        let dq = rot(a).inverse() * rot(b);
        let om = if b > a {
            dq.scaled_axis() / ((b - a) as f64 * DT)
        } else {
            Vector3::zeros()
        };
        let aw = if k > 0 && k + 1 < n {
            (pos(k + 1) - 2.0 * pos(k) + pos(k - 1)) / (DT * DT)
        } else {
            Vector3::zeros()
        };
        let bone = r.inverse() * aw;
        let mmg = if ankle {
            frames[k].mmg_ankle
        } else {
            frames[k].mmg_pelvis
        } * body.lifter.mmg_gain
            * 0.02;
        // Two half steps for the 10–30 Hz tissue.
        vel += kick_dir * frames[k].impact * 0.01;
        let mut rel_acc = Vector3::zeros();
        for _ in 0..2 {
            rel_acc = -w * w * disp - 2.0 * zeta * w * vel - bone * 0.15 + mmg_dir * mmg;
            vel += rel_acc * (DT / 2.0);
            disp += vel * (DT / 2.0);
        }
        let f = r.inverse() * (aw + Vector3::new(0.0, G, 0.0)) + rel_acc;
        let wob = Vector3::new(vel.z, 0.0, -vel.x) / 0.12;
        acc[k] = f;
        gyr[k] = (om + wob) * R2D;
    }
    // Device errors.
    let (acc_lsb, gyr_lsb, acc_range, gyr_range) = match device {
        Device::WitMotion => (16.0 * G / 32768.0, 2000.0 / 32768.0, 16.0 * G, 2000.0),
        Device::Thingy => (G / 1024.0, 1.0 / 32.0, 31.9 * G, 1000.0),
        Device::MetaMotion | Device::Own => {
            (16.0 * G / 32768.0, 2000.0 / 32768.0, 16.0 * G, 2000.0)
        }
    };
    let bias0 = Vector3::new(
        uni(&mut rng, -1.0, 1.0),
        uni(&mut rng, -1.0, 1.0),
        uni(&mut rng, -1.0, 1.0),
    ) * cfg.gyro_bias_dps;
    let abias = Vector3::new(gauss(&mut rng), gauss(&mut rng), gauss(&mut rng)) * 0.08;
    let scale_a = Vector3::new(
        1.0 + 0.01 * gauss(&mut rng),
        1.0 + 0.01 * gauss(&mut rng),
        1.0 + 0.01 * gauss(&mut rng),
    );
    let scale_g = Vector3::new(
        1.0 + 0.01 * gauss(&mut rng),
        1.0 + 0.01 * gauss(&mut rng),
        1.0 + 0.01 * gauss(&mut rng),
    );
    let rate = cfg.rate_hz;
    let ppm = uni(&mut rng, -60.0, 60.0) * 1e-6;
    let duration = n as f64 * DT;
    let nominal = 1.0 / rate;
    let true_period = nominal * (1.0 + ppm);
    let mut out = Vec::with_capacity((duration * rate) as usize + 8);
    let gn = 0.06 * cfg.noise * (rate / 100.0).sqrt().max(0.5);
    let an = 0.025 * cfg.noise * (rate / 100.0).sqrt().max(0.5);
    // Prefix sums for the on-chip low-pass (box average over a sample period).
    let mut pa = vec![Vector3::zeros(); n + 1];
    let mut pg = vec![Vector3::zeros(); n + 1];
    for k in 0..n {
        pa[k + 1] = pa[k] + acc[k];
        pg[k + 1] = pg[k] + gyr[k];
    }
    let avg = |p: &Vec<Vector3<f64>>, t: f64| -> Vector3<f64> {
        let hi = ((t / DT) as usize).min(n - 1) + 1;
        let win = ((nominal / DT).round() as usize).max(1);
        let lo = hi.saturating_sub(win);
        (p[hi] - p[lo]) / (hi - lo) as f64
    };
    let batch = match device {
        Device::WitMotion => rng.gen_range(2..=5),
        Device::Thingy => 1,
        Device::MetaMotion => rng.gen_range(1..=3),
        Device::Own => rng.gen_range(4..=8),
    };
    let host_stamped = matches!(device, Device::WitMotion | Device::Thingy);
    // Gaps: 200 ms of nothing, Poisson in time.
    let mut gaps = Vec::new();
    let mut tg = 0.0;
    if cfg.gaps_per_min > 0.0 {
        loop {
            tg += -(1.0 - rng.gen::<f64>()).ln() * 60.0 / cfg.gaps_per_min;
            if tg >= duration {
                break;
            }
            gaps.push((tg, tg + uni(&mut rng, 0.15, 0.25)));
        }
    }
    let mut bias = bias0;
    let mut last_t = f64::MIN;
    let mut i = 0usize;
    let mut gi = 0usize;
    let mut batch_lost = false;
    let mut latency = 0.0;
    loop {
        let t = i as f64 * true_period;
        if t >= duration - DT {
            break;
        }
        let in_batch = i % batch;
        if in_batch == 0 {
            batch_lost = rng.gen::<f64>() < cfg.drop_rate * 0.5;
            latency = uni(&mut rng, 0.008, 0.03)
                + if rng.gen::<f64>() < 0.02 {
                    uni(&mut rng, 0.02, 0.08)
                } else {
                    0.0
                };
        }
        i += 1;
        bias += Vector3::new(gauss(&mut rng), gauss(&mut rng), gauss(&mut rng))
            * 0.002
            * cfg.noise
            * nominal.sqrt();
        while gi < gaps.len() && gaps[gi].1 < t {
            gi += 1;
        }
        if gi < gaps.len() && gaps[gi].0 <= t && t <= gaps[gi].1 {
            continue;
        }
        if batch_lost || rng.gen::<f64>() < cfg.drop_rate * 0.5 {
            continue;
        }
        let a = avg(&pa, t);
        let g = avg(&pg, t);
        let mut av = a.component_mul(&scale_a) + abias;
        let mut gv = g.component_mul(&scale_g) + bias;
        for j in 0..3 {
            av[j] = ((av[j] + an * gauss(&mut rng)).clamp(-acc_range, acc_range) / acc_lsb).round()
                * acc_lsb;
            gv[j] = ((gv[j] + gn * gauss(&mut rng)).clamp(-gyr_range, gyr_range) / gyr_lsb).round()
                * gyr_lsb;
        }
        let stamp = if host_stamped {
            // The host stamps on arrival and spreads the batch back at the nominal rate.
            let last_in_batch = (batch - 1 - in_batch) as f64;
            t + last_in_batch * true_period + latency - last_in_batch * nominal
        } else {
            (i - 1) as f64 * nominal
        };
        let stamp = if stamp <= last_t {
            last_t + 0.1 * nominal
        } else {
            stamp
        };
        last_t = stamp;
        out.push(Sample {
            t: stamp,
            acc: av,
            gyr: gv,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::sim::{SimModel, PAIRS};
    use crate::Side;

    fn cfg(exercise: Exercise, placement: Placement, side: Side, seed: u64) -> SimConfig {
        let mut c = SimConfig::new(exercise, placement, side);
        c.model = SimModel::Units;
        c.seed = seed;
        c.sets = 1;
        c.reps_min = 2;
        c.reps_max = 3;
        c.rest_min_s = 12.0;
        c.rest_max_s = 14.0;
        c.lead_in_s = Some(1.0);
        c
    }

    fn run(c: &SimConfig) -> (Vec<Sample>, Truth) {
        let (sim, truth) = UnitsSimulator::new(c).unwrap();
        (sim.collect(), truth)
    }

    #[test]
    fn the_same_seed_gives_the_same_session() {
        let mut c = cfg(
            Exercise::StandingCableAbduction,
            Placement::Pelvis,
            Side::Left,
            7,
        );
        c.sets = 2;
        let (a, ta) = run(&c);
        let (b, tb) = run(&c);
        assert_eq!(ta, tb);
        assert_eq!(a, b);
        c.seed = 8;
        let (_, tc) = run(&c);
        assert_ne!(ta, tc);
    }

    #[test]
    fn every_exercise_placement_and_side_streams_in_order() {
        for (k, (exercise, placement)) in PAIRS.iter().enumerate() {
            for side in [Side::Left, Side::Right] {
                let mut c = cfg(*exercise, *placement, side, 30 + k as u64);
                c.rate_hz = 50.0;
                let (samples, truth) = run(&c);
                assert!(samples.len() > 100, "{exercise} {placement} {side}");
                assert!(samples.iter().all(|s| s.is_finite()));
                assert!(
                    samples.windows(2).all(|w| w[1].t > w[0].t),
                    "{exercise} {placement}"
                );
                let span = samples.last().unwrap().t - samples[0].t;
                let rate = (samples.len() - 1) as f64 / span;
                assert!(
                    (40.0..=52.0).contains(&rate),
                    "{exercise} {placement}: {rate} Hz"
                );
                // Sets and reps in order, inside the recording, counts in range.
                assert_eq!(truth.sets.len(), 1, "{exercise} {placement} {side}");
                for set in &truth.sets {
                    assert!(set.start_s >= 0.0 && set.end_s <= truth.duration_s);
                    assert_eq!(set.rep_count, set.reps.len());
                    assert!(
                        (c.reps_min..=c.reps_max).contains(&set.rep_count),
                        "{exercise} {placement} {side}: {}",
                        set.rep_count
                    );
                    for w in set.reps.windows(2) {
                        assert!(w[0].end_s <= w[1].start_s);
                    }
                    for r in &set.reps {
                        assert!(r.start_s < r.end_s && r.peak_deg > 0.0);
                    }
                }
            }
        }
    }

    #[test]
    fn sets_are_ordered_and_rested() {
        let mut c = cfg(
            Exercise::SideLyingAbduction,
            Placement::Ankle,
            Side::Right,
            3,
        );
        c.sets = 3;
        let (_, truth) = run(&c);
        assert_eq!(truth.sets.len(), 3);
        for w in truth.sets.windows(2) {
            assert!(
                w[1].start_s - w[0].end_s >= c.rest_min_s * 0.8,
                "{} {}",
                w[0].end_s,
                w[1].start_s
            );
        }
        assert!(!truth.distractions.is_empty());
    }

    #[test]
    fn compensations_asked_for_appear_over_threshold() {
        let cases = [
            (
                Exercise::StandingCableAbduction,
                Placement::Pelvis,
                vec![FlagKind::HipHike, FlagKind::PelvicDrop, FlagKind::TrunkSway],
            ),
            (
                Exercise::SideLyingAbduction,
                Placement::Ankle,
                vec![
                    FlagKind::Momentum,
                    FlagKind::PartialRange,
                    FlagKind::HipFlexionDrift,
                ],
            ),
            (
                Exercise::HipHitch,
                Placement::Pelvis,
                vec![FlagKind::HipHike],
            ),
        ];
        for (exercise, placement, kinds) in cases {
            for kind in kinds {
                let mut seen = 0;
                for seed in 0..2 {
                    let mut c = cfg(exercise, placement, Side::Right, 100 + seed);
                    c.compensations = vec![kind];
                    c.compensation_rate = 0.9;
                    c.reps_min = 4;
                    c.reps_max = 5;
                    let (_, truth) = run(&c);
                    for f in truth
                        .sets
                        .iter()
                        .flat_map(|s| &s.reps)
                        .flat_map(|r| &r.flags)
                    {
                        if f.kind == kind {
                            seen += 1;
                        }
                        match f.kind {
                            FlagKind::HipHike | FlagKind::TrunkSway => assert!(f.value_deg >= 5.0),
                            FlagKind::PelvicDrop => assert!(f.value_deg <= -5.0),
                            FlagKind::HipFlexionDrift => assert!(f.value_deg >= 10.0),
                            _ => assert!(f.value_deg > 0.0),
                        }
                    }
                }
                assert!(seen >= 2, "{exercise} {placement} {kind:?}: {seen}");
            }
        }
    }

    #[test]
    fn the_ankle_gyro_carries_the_reps() {
        let mut c = cfg(
            Exercise::StandingCableAbduction,
            Placement::Ankle,
            Side::Right,
            11,
        );
        c.random_mounting = false;
        c.gyro_bias_dps = 0.0;
        c.noise = 0.0;
        c.drop_rate = 0.0;
        c.gaps_per_min = 0.0;
        c.compensations.clear();
        c.reps_min = 4;
        c.reps_max = 4;
        let (samples, truth) = run(&c);
        for r in &truth.sets[0].reps {
            // Integrate the rate about the shank's z (the abduction axis) over the rep.
            let mut angle = 0.0f64;
            let mut most = 0.0f64;
            for w in samples
                .windows(2)
                .filter(|w| w[0].t >= r.start_s && w[1].t <= r.end_s)
            {
                angle += w[0].gyr.z * (w[1].t - w[0].t);
                most = most.max(angle.abs());
            }
            assert!(
                (most - r.peak_deg).abs() < 0.3 * r.peak_deg + 3.0,
                "gyro {most} vs truth {}",
                r.peak_deg
            );
        }
    }

    #[test]
    fn motor_unit_pools_recruit_rate_code_and_tire() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let spec = PoolSpec {
            n: 150,
            rr: 30.0,
            rp: 80.0,
            tl: 0.09,
            last: 0.7,
            mfr: 8.0,
            pfr_lo: 25.0,
            pfr_hi: 40.0,
            cv: 0.2,
            kfat: 0.01,
            recovery: 0.01,
        };
        let mut pool = Pool::new(&spec, &mut rng);
        assert!(pool.table.windows(2).all(|w| w[1] >= w[0]));
        assert!((pool.excitation_for(pool.table[32]) - 0.5).abs() < 0.02);
        let mut t = 0.0;
        let mut forces = Vec::new();
        for _ in 0..(20.0 / DT) as usize {
            forces.push(pool.step(0.6, t, &mut rng));
            t += DT;
        }
        let early: f64 = forces[250..500].iter().sum::<f64>() / 250.0;
        let late: f64 = forces[forces.len() - 250..].iter().sum::<f64>() / 250.0;
        assert!(early > 0.2 && late < early, "{early} {late}");
        assert!(pool.capacity() < 1.0);
        // Force is unsteady: the twitches do not fuse.
        let m = early;
        let sd = (forces[250..500]
            .iter()
            .map(|f| (f - m).powi(2))
            .sum::<f64>()
            / 250.0)
            .sqrt();
        assert!(sd > 0.001 * m);
    }
}
