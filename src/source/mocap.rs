//! A twenty-sixth body model, built apart: movement assembled the way a game
//! engine animates a character from motion capture.
//!
//! See the module doc in `source/mod.rs` for the whole picture. In short: a
//! library of procedurally "captured" clips per exercise (several takes of
//! each, some with a capture glitch smoothed over), a motion graph, a
//! controller that picks the next take by motion matching, time-warps it
//! non-uniformly (a dynamic-time-warping path against the lifter's own tempo
//! template), scales it and cross-fades into it; inverse kinematics for the
//! working foot on the floor, the leg on the bed and the feet on the machine's
//! footrests; a pelvis and trunk from a frontal-plane double inverted
//! pendulum balanced by a delayed controller blending an ankle and a hip
//! strategy; lifters from anthropometric tables who learn over a block of
//! sessions; a consumer wearable with on-board bias estimation, BLE packing
//! and a warm-up on the skin. Truth is measured on the simulated joints.

use super::sim::{SimConfig, Truth, TruthFlag, TruthRep, TruthSet};
use super::{gauss, round3, rx, ry, rz, smoothstep};
use crate::motion::FlagKind;
use crate::sample::STANDARD_GRAVITY;
use crate::{Exercise, Placement, Sample};
use nalgebra::{UnitQuaternion, Vector3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::f64::consts::PI;

// ---------------------------------------------------------------------------
// Pose channels
// ---------------------------------------------------------------------------

/// Working hip abduction, ° (the knees apart on the machine).
const ABD: usize = 0;
/// Working hip flexion, °.
const FLEX: usize = 1;
/// Working hip rotation, °.
const ROT: usize = 2;
/// Working knee flexion, °.
const KNEE: usize = 3;
/// Pelvic obliquity layer (clips and additive layers), °, free side up.
const OBL: usize = 4;
/// Whole-body lean layer toward the stance side, ° (sway, reaching).
const LEAN: usize = 5;
/// Heading, °.
const YAW: usize = 6;
/// Walking speed, m/s.
const WALK: usize = 7;
/// Lying on the side, 0..1.
const LIE: usize = 8;
/// Sitting, 0..1.
const SIT: usize = 9;
/// The other leg's abduction, ° (its own set, a weight shift).
const OTHER: usize = 10;
/// Lateral weight shift of the hips toward the stance side, m.
const SHIFT: usize = 11;
/// The strap's rotation about the shank set by the hands, °.
const STRAP: usize = 12;
const NC: usize = 13;

type Pose = [f64; NC];

fn bit(ch: usize) -> u32 {
    1 << ch
}

// ---------------------------------------------------------------------------
// The clip library
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Raise,
    Hold,
    Lower,
    Idle,
    Fidget,
    Shift,
    Step,
    SitDown,
    StandUp,
    LieDown,
    GetUp,
    Restrap,
    Walk,
    Turn,
    Bottle,
    Stretch,
    Cable,
    Swing,
    Other,
    Attempt,
}

const KINDS: [Kind; 20] = [
    Kind::Raise,
    Kind::Hold,
    Kind::Lower,
    Kind::Idle,
    Kind::Fidget,
    Kind::Shift,
    Kind::Step,
    Kind::SitDown,
    Kind::StandUp,
    Kind::LieDown,
    Kind::GetUp,
    Kind::Restrap,
    Kind::Walk,
    Kind::Turn,
    Kind::Bottle,
    Kind::Stretch,
    Kind::Cable,
    Kind::Swing,
    Kind::Other,
    Kind::Attempt,
];

impl Kind {
    fn index(self) -> usize {
        KINDS.iter().position(|&k| k == self).unwrap_or(0)
    }

    /// A clip that leaves its start pose and comes back to it (the others
    /// go from the start pose to a target).
    fn bump(self) -> bool {
        matches!(
            self,
            Kind::Fidget
                | Kind::Shift
                | Kind::Step
                | Kind::Bottle
                | Kind::Stretch
                | Kind::Cable
                | Kind::Swing
                | Kind::Other
                | Kind::Attempt
                | Kind::Walk
        )
    }

    /// The motion graph: may `next` follow `self`? When it may not, the
    /// controller inserts the clip [`Kind::bridge`] names first.
    fn may_precede(self, next: Kind) -> bool {
        use Kind::*;
        match self {
            Raise => matches!(next, Hold | Lower | Raise),
            Hold => matches!(next, Lower | Hold | Raise),
            Lower => matches!(next, Idle | Raise | Attempt | Lower | Fidget | Shift),
            Attempt | Swing | Other => next != Hold && next != Lower,
            _ => next != Hold && next != Lower,
        }
    }

    fn bridge(self) -> Kind {
        match self {
            Kind::Raise | Kind::Hold => Kind::Lower,
            _ => Kind::Idle,
        }
    }
}

/// One recorded take of a clip: a normalised curve (0 → 1 for a move, 0 → 1
/// → 0 for a there-and-back clip), a detail channel (small wobble, ±1),
/// its natural length, its start level and start speed for motion matching.
#[derive(Debug, Clone)]
struct Take {
    curve: Vec<f64>,
    detail: Vec<f64>,
    dur: f64,
    swing: bool,
    start_level: f64,
    start_vel: f64,
}

const NK: usize = 48;

/// `v` sampled evenly over [0, 1], read at `x` by a Catmull–Rom spline
/// (smooth speed, so the finite differences of the sensor stay sane).
fn interp(v: &[f64], x: f64) -> f64 {
    let n = v.len();
    if n == 0 {
        return 0.0;
    }
    if n < 3 {
        let x = x.clamp(0.0, 1.0);
        return v[0] * (1.0 - x) + v[n - 1] * x;
    }
    let x = x.clamp(0.0, 1.0) * (n - 1) as f64;
    let i = (x.floor() as usize).min(n - 2);
    let f = x - i as f64;
    let p1 = v[i];
    let p2 = v[i + 1];
    let p0 = if i > 0 { v[i - 1] } else { 2.0 * p1 - p2 };
    let p3 = if i + 2 < n { v[i + 2] } else { 2.0 * p2 - p1 };
    let (f2, f3) = (f * f, f * f * f);
    0.5 * (2.0 * p1
        + (-p0 + p2) * f
        + (2.0 * p0 - 5.0 * p1 + 4.0 * p2 - p3) * f2
        + (-p0 + 3.0 * p1 - 3.0 * p2 + p3) * f3)
}

/// A random monotone map of [0, 1] onto itself (the take's own timing).
fn random_warp(rng: &mut ChaCha8Rng, spread: f64, front: f64) -> Vec<f64> {
    let knots = 7;
    let mut inc: Vec<f64> = (0..knots)
        .map(|i| {
            let pos = (i as f64 + 0.5) / knots as f64;
            (spread * gauss(rng)).exp().clamp(0.6, 1.7)
                * (1.0 + front.clamp(-0.6, 1.4) * (0.5 - pos))
        })
        .map(|x| x.max(0.3))
        .collect();
    let s: f64 = inc.iter().sum();
    inc.iter_mut().for_each(|x| *x /= s);
    let mut cum = vec![0.0];
    for x in &inc {
        let last = *cum.last().unwrap();
        cum.push(last + x);
    }
    (0..NK)
        .map(|i| interp(&cum, i as f64 / (NK - 1) as f64))
        .collect()
}

/// A glitch in the capture (a marker swap, a dropped frame) smoothed over
/// by the clean-up pass: a small bump left in the curve.
fn glitch(rng: &mut ChaCha8Rng, curve: &mut [f64]) {
    let n = curve.len();
    let at = rng.gen_range(n / 5..4 * n / 5);
    let size = rng.gen_range(0.02..0.06) * if rng.gen_bool(0.5) { 1.0 } else { -1.0 };
    curve[at] += size;
    curve[at + 1] += size * 0.7;
    for _ in 0..2 {
        let c = curve.to_vec();
        for i in 1..n - 1 {
            curve[i] = (c[i - 1] + 2.0 * c[i] + c[i + 1]) / 4.0;
        }
    }
}

fn make_take(rng: &mut ChaCha8Rng, kind: Kind, swing: bool, skill_spread: f64) -> Take {
    let bump = kind.bump();
    let mut curve: Vec<f64> = if swing {
        // A momentum take: a fast start and a small overshoot.
        let w = random_warp(rng, 0.15, 1.4);
        let over = rng.gen_range(0.04..0.1);
        w.iter()
            .map(|&x| {
                let s = smoothstep(x.powf(0.55));
                s + over * (PI * s).sin() * s
            })
            .collect()
    } else if bump {
        let fr = 0.4 * gauss(rng);
        let w = random_warp(rng, 0.25 * skill_spread + 0.1, fr);
        let plateau = match kind {
            Kind::Walk => 0.8,
            Kind::Other | Kind::Bottle | Kind::Stretch => 0.35,
            _ => rng.gen_range(0.0..0.2),
        };
        w.iter()
            .map(|&x| {
                // Up, an optional plateau, down.
                let up = (1.0 - plateau) / 2.0;
                if x < up {
                    smoothstep(x / up)
                } else if x > 1.0 - up {
                    smoothstep((1.0 - x) / up)
                } else {
                    1.0
                }
            })
            .collect()
    } else {
        let fr = 0.5 * gauss(rng);
        let w = random_warp(rng, 0.3 * skill_spread + 0.1, fr);
        w.iter().map(|&x| smoothstep(x)).collect()
    };
    if rng.gen_bool(0.3) {
        glitch(rng, &mut curve);
    }
    // Ends exactly where the take ends.
    if !bump {
        let (a, b) = (curve[0], curve[NK - 1]);
        if !swing {
            curve.iter_mut().for_each(|x| *x = (*x - a) / (b - a));
        } else {
            curve.iter_mut().for_each(|x| *x -= a);
            let last = curve[NK - 1];
            let n = NK as f64;
            for (i, x) in curve.iter_mut().enumerate() {
                // Settle onto 1 at the very end.
                let f = smoothstep((i as f64 / n - 0.8) / 0.2);
                *x = *x * (1.0 - f) + (*x / last) * f;
            }
        }
    } else {
        let a = curve[0];
        curve.iter_mut().for_each(|x| *x -= a);
    }
    // The detail: a slow wobble with a little tremor.
    let (f1, f2) = (rng.gen_range(0.7..2.2), rng.gen_range(5.0..11.0));
    let (p1, p2) = (rng.gen_range(0.0..2.0 * PI), rng.gen_range(0.0..2.0 * PI));
    let tremor = rng.gen_range(0.0..0.2);
    let detail: Vec<f64> = (0..NK)
        .map(|i| {
            let x = i as f64 / (NK - 1) as f64;
            let env = (PI * x).sin();
            env * ((2.0 * PI * f1 * x + p1).sin() + tremor * (2.0 * PI * f2 * x + p2).sin())
        })
        .collect();
    let dur = match kind {
        Kind::Raise if swing => rng.gen_range(0.22..0.34),
        Kind::Raise => rng.gen_range(0.7..1.2),
        Kind::Hold => rng.gen_range(0.3..1.0),
        Kind::Lower if swing => rng.gen_range(0.35..0.55),
        Kind::Lower => rng.gen_range(1.0..2.0),
        Kind::Idle => rng.gen_range(0.6..2.0),
        Kind::Fidget => rng.gen_range(0.5..1.5),
        Kind::Shift => rng.gen_range(0.8..2.0),
        Kind::Step => rng.gen_range(0.6..1.0),
        Kind::SitDown | Kind::StandUp => rng.gen_range(1.2..2.2),
        Kind::LieDown | Kind::GetUp => rng.gen_range(2.0..3.5),
        Kind::Restrap => rng.gen_range(4.0..9.0),
        Kind::Walk => rng.gen_range(4.0..9.0),
        Kind::Turn => rng.gen_range(1.0..2.0),
        Kind::Bottle => rng.gen_range(4.0..8.0),
        Kind::Stretch => rng.gen_range(5.0..12.0),
        Kind::Cable => rng.gen_range(3.0..6.0),
        Kind::Swing => rng.gen_range(0.8..1.4),
        Kind::Other => rng.gen_range(2.2..3.6),
        Kind::Attempt => rng.gen_range(0.8..1.5),
    };
    let start_level = if bump { 0.0 } else { rng.gen_range(0.0..0.12) };
    let start_vel = (curve[2] - curve[0]) / (2.0 / (NK - 1) as f64);
    Take {
        curve,
        detail,
        dur,
        swing,
        start_level,
        start_vel,
    }
}

struct Library {
    takes: Vec<Vec<Take>>,
}

impl Library {
    fn new(rng: &mut ChaCha8Rng, spread: f64) -> Self {
        let takes = KINDS
            .iter()
            .map(|&k| {
                let n = rng.gen_range(3..7);
                let mut v: Vec<Take> = (0..n).map(|_| make_take(rng, k, false, spread)).collect();
                if matches!(k, Kind::Raise | Kind::Lower) {
                    for _ in 0..2 {
                        v.push(make_take(rng, k, true, spread));
                    }
                }
                v
            })
            .collect();
        Library { takes }
    }

    fn of(&self, k: Kind) -> &[Take] {
        &self.takes[k.index()]
    }
}

// ---------------------------------------------------------------------------
// Dynamic time warping
// ---------------------------------------------------------------------------

/// The warp that plays `take` in the lifter's own tempo: the DTW path that
/// aligns the lifter's template speed profile with the take's, as a map
/// from the played normalised time to the take's normalised time.
fn dtw_warp(take: &[f64], template: &[f64]) -> Vec<f64> {
    let speed = |c: &[f64]| -> Vec<f64> {
        let n = c.len();
        let mut s: Vec<f64> = (0..n)
            .map(|i| {
                let a = c[i.saturating_sub(1)];
                let b = c[(i + 1).min(n - 1)];
                (b - a).abs()
            })
            .collect();
        let m = s.iter().cloned().fold(1e-9, f64::max);
        s.iter_mut().for_each(|x| *x /= m);
        s
    };
    let (a, b) = (speed(template), speed(take));
    let (n, m) = (a.len(), b.len());
    let mut d = vec![f64::INFINITY; n * m];
    for i in 0..n {
        for j in 0..m {
            let c = (a[i] - b[j]).powi(2)
                + 0.02 * ((i as f64 / n as f64) - (j as f64 / m as f64)).abs();
            let prev = if i == 0 && j == 0 {
                0.0
            } else {
                let mut p = f64::INFINITY;
                if i > 0 {
                    p = p.min(d[(i - 1) * m + j]);
                }
                if j > 0 {
                    p = p.min(d[i * m + j - 1]);
                }
                if i > 0 && j > 0 {
                    p = p.min(d[(i - 1) * m + j - 1]);
                }
                p
            };
            d[i * m + j] = c + prev;
        }
    }
    // Back-track; the take index for each template index (last one wins).
    let mut map = vec![0.0; n];
    let (mut i, mut j) = (n - 1, m - 1);
    loop {
        map[i] = j as f64;
        if i == 0 && j == 0 {
            break;
        }
        let cand = [
            (i > 0 && j > 0).then(|| (d[(i - 1) * m + j - 1], i - 1, j - 1)),
            (i > 0).then(|| (d[(i - 1) * m + j], i - 1, j)),
            (j > 0).then(|| (d[i * m + j - 1], i, j - 1)),
        ];
        let best = cand
            .iter()
            .flatten()
            .fold(None::<(f64, usize, usize)>, |acc, &c| match acc {
                Some(a) if a.0 <= c.0 => Some(a),
                _ => Some(c),
            })
            .unwrap();
        (i, j) = (best.1, best.2);
    }
    // Smooth the staircase and keep it monotone from 0 to 1.
    let mut w: Vec<f64> = map.iter().map(|&x| x / (m - 1) as f64).collect();
    for _ in 0..8 {
        let c = w.clone();
        for k in 1..n - 1 {
            w[k] = (c[k - 1] + 2.0 * c[k] + c[k + 1]) / 4.0;
        }
    }
    w[0] = 0.0;
    w[n - 1] = 1.0;
    for k in 1..n {
        if w[k] < w[k - 1] {
            w[k] = w[k - 1];
        }
    }
    // Mostly the path, a little of the identity (so no part freezes), and
    // no stretch or squeeze beyond what a lifter does.
    let w: Vec<f64> = w
        .iter()
        .enumerate()
        .map(|(k, &x)| 0.75 * x + 0.25 * k as f64 / (n - 1) as f64)
        .collect();
    let step = 1.0 / (n - 1) as f64;
    let mut out = w;
    for _ in 0..6 {
        let mut next = vec![0.0; n];
        for k in 1..n {
            next[k] = next[k - 1] + (out[k] - out[k - 1]).clamp(0.6 * step, 1.5 * step);
        }
        let end = next[n - 1];
        next.iter_mut().for_each(|x| *x /= end);
        out = next;
    }
    out
}

// ---------------------------------------------------------------------------
// The animator: wanted actions, motion matching, cross-fades
// ---------------------------------------------------------------------------

/// What a placed clip is part of, for the truth and the plan.
#[derive(Debug, Clone, PartialEq)]
enum Tag {
    None,
    /// A raise, hold or lowering of set `set`.
    Rep(usize),
    /// A distraction the truth lists.
    Distraction(String),
}

/// What the controller wants next.
#[derive(Debug, Clone)]
struct Want {
    kind: Kind,
    dur: f64,
    /// Targets of the owned channels (moves) or amplitudes (there and back).
    values: Pose,
    mask: u32,
    fast: bool,
    blend: f64,
    /// Blend out early: the next clip starts at this share of this one.
    cut: f64,
    tag: Tag,
}

impl Want {
    fn new(kind: Kind, dur: f64) -> Self {
        Want {
            kind,
            dur,
            values: [0.0; NC],
            mask: 0,
            fast: false,
            blend: 0.2,
            cut: 1.0,
            tag: Tag::None,
        }
    }

    fn set(mut self, ch: usize, v: f64) -> Self {
        self.values[ch] = v;
        self.mask |= bit(ch);
        self
    }

    fn blend(mut self, b: f64) -> Self {
        self.blend = b;
        self
    }

    fn tag(mut self, t: Tag) -> Self {
        self.tag = t;
        self
    }
}

#[derive(Debug, Clone)]
struct Inst {
    kind: Kind,
    take: usize,
    t0: f64,
    dur: f64,
    blend: f64,
    warp: Vec<f64>,
    start: Pose,
    values: Pose,
    mask: u32,
    detail_amp: f64,
    /// When the next clip starts (cut short or not).
    next_at: f64,
}

struct Animator {
    lib: Library,
    insts: Vec<Inst>,
    /// Per kind, the lifter's template speed profile (a curve 0 → 1).
    templates: Vec<Vec<f64>>,
    /// How much randomness motion matching allows.
    temperature: f64,
    rng: ChaCha8Rng,
    /// First instance that can still matter (for evaluation).
    hint: usize,
}

impl Animator {
    fn new(lib: Library, rng: &mut ChaCha8Rng, skew: f64, temperature: f64, start: Pose) -> Self {
        let templates = KINDS
            .iter()
            .map(|_| {
                let e = (skew + 0.15 * gauss(rng)).exp();
                (0..NK)
                    .map(|i| smoothstep((i as f64 / (NK - 1) as f64).powf(e)))
                    .collect()
            })
            .collect();
        let first = Inst {
            kind: Kind::Idle,
            take: 0,
            t0: 0.0,
            dur: 1e-3,
            blend: 0.0,
            warp: vec![0.0, 1.0],
            start,
            values: start,
            mask: 0,
            detail_amp: 0.0,
            next_at: 0.0,
        };
        Animator {
            lib,
            insts: vec![first],
            templates,
            temperature,
            rng: ChaCha8Rng::seed_from_u64(rng.gen()),
            hint: 0,
        }
    }

    /// When the last placed clip hands over.
    fn now(&self) -> f64 {
        self.insts.last().map(|i| i.next_at).unwrap_or(0.0)
    }

    fn eval_inst(&self, inst: &Inst, t: f64) -> Pose {
        let take = &self.lib.of(inst.kind)[inst.take];
        let tau = ((t - inst.t0) / inst.dur).clamp(0.0, 1.0);
        let tw = interp(&inst.warp, tau);
        let c = interp(&take.curve, tw);
        let d = interp(&take.detail, tw) * inst.detail_amp;
        let mut p = inst.start;
        for (ch, v) in p.iter_mut().enumerate() {
            if inst.mask & bit(ch) == 0 {
                continue;
            }
            *v = if inst.kind.bump() {
                inst.start[ch] + inst.values[ch] * c
            } else {
                inst.start[ch] + (inst.values[ch] - inst.start[ch]) * c
            };
        }
        // The take's own wobble, on the working joint's side channels.
        p[FLEX] += d;
        p[ROT] += 0.7 * d;
        if inst.kind == Kind::Idle || inst.kind == Kind::Hold {
            p[ABD] += 0.4 * d;
        }
        p
    }

    /// The blended pose at `t`.
    fn pose(&self, t: f64) -> Pose {
        let n = self.insts.len();
        // The last clip fully blended in at t (or the first).
        let mut from = self.hint.min(n - 1);
        while from + 1 < n && self.insts[from + 1].t0 + self.insts[from + 1].blend <= t {
            from += 1;
        }
        let mut p = self.eval_inst(&self.insts[from], t);
        for inst in &self.insts[from + 1..] {
            if inst.t0 > t {
                break;
            }
            let w = smoothstep((t - inst.t0) / inst.blend.max(1e-6));
            let q = self.eval_inst(inst, t);
            for ch in 0..NC {
                p[ch] = (1.0 - w) * p[ch] + w * q[ch];
            }
        }
        p
    }

    /// Advances the evaluation hint to `t` (times only increase).
    fn seek(&mut self, t: f64) {
        let n = self.insts.len();
        while self.hint + 1 < n
            && self.insts[self.hint + 1].t0 + self.insts[self.hint + 1].blend <= t
        {
            self.hint += 1;
        }
    }

    /// Places the wanted clip (after a bridge if the motion graph asks for one).
    fn push(&mut self, want: Want) -> (f64, f64) {
        let last = self.insts.last().unwrap().kind;
        if !last.may_precede(want.kind) {
            let b = last.bridge();
            let mut bw = Want::new(b, 1.2).blend(0.25);
            if b == Kind::Lower || b == Kind::Idle {
                bw = bw.set(ABD, 0.0).set(FLEX, 0.0).set(OBL, 0.0).set(LEAN, 0.0);
            }
            self.push_one(bw);
        }
        self.push_one(want)
    }

    fn push_one(&mut self, want: Want) -> (f64, f64) {
        // A natural hand-over starts late in the last clip; one cut short
        // on purpose blends from wherever it is.
        let prev = self.insts.last().unwrap();
        let prev_dur = (prev.next_at - prev.t0).max(0.05);
        let room = if prev.next_at < prev.t0 + prev.dur - 1e-9 {
            0.35
        } else if prev.kind == Kind::Raise {
            0.12
        } else {
            0.25
        };
        let blend = want
            .blend
            .clamp(0.05, 0.45)
            .min(want.dur * 0.6)
            .min(room * prev_dur)
            .max(0.03);
        let t0 = (self.now() - blend).max(self.insts.last().unwrap().t0 + 0.02);
        let save = self.hint;
        let start = self.pose(t0);
        let before = self.pose(t0 - 0.02);
        self.hint = save;
        // Motion matching: the take whose start level and speed best match
        // the current pose and speed, and the wanted action, with noise.
        let range = want.values[ABD].abs().max(want.values[OBL].abs()).max(5.0);
        let level = ((start[ABD] - 0.0).abs().max(start[OBL].abs())) / range;
        let vel = (start[ABD] - before[ABD])
            .abs()
            .max((start[OBL] - before[OBL]).abs())
            / 0.02
            / range
            * want.dur;
        let takes = self.lib.of(want.kind);
        let mut best = (f64::INFINITY, 0usize);
        for (i, tk) in takes.iter().enumerate() {
            let mut cost = (tk.start_level - level.min(0.3)).powi(2) * 4.0
                + 0.05 * (tk.start_vel.min(3.0) - vel.min(3.0)).powi(2);
            if tk.swing != want.fast {
                cost += 1e3;
            }
            let u: f64 = self.rng.gen_range(1e-9..1.0);
            cost += -self.temperature * (-(u.ln())).ln();
            if cost < best.0 {
                best = (cost, i);
            }
        }
        let take = &takes[best.1];
        let warp = dtw_warp(&take.curve, &self.templates[want.kind.index()]);
        let mut dur = if take.swing {
            take.dur * want.dur.clamp(0.8, 1.2)
        } else {
            want.dur
        };
        if !take.swing && matches!(want.kind, Kind::Raise | Kind::Lower | Kind::Attempt) {
            // No faster than the lifter moves: the warped take's steepest
            // slope sets the shortest length.
            let m = 96;
            let steep = (1..=m)
                .map(|i| {
                    let (a, b) = ((i - 1) as f64 / m as f64, i as f64 / m as f64);
                    (interp(&take.curve, interp(&warp, b)) - interp(&take.curve, interp(&warp, a)))
                        .abs()
                        * m as f64
                })
                .fold(0.0, f64::max);
            dur = dur.max(steep / 3.0);
        }
        let detail_amp = match want.kind {
            Kind::Raise | Kind::Lower => 0.8,
            Kind::Hold => 0.4,
            Kind::Idle => 0.15,
            _ => 1.5,
        };
        let next_at = t0 + dur * want.cut.clamp(0.1, 1.0);
        self.insts.push(Inst {
            kind: want.kind,
            take: best.1,
            t0,
            dur,
            blend,
            warp,
            start,
            values: want.values,
            mask: want.mask,
            detail_amp,
            next_at,
        });
        (t0, next_at)
    }
}

// ---------------------------------------------------------------------------
// The lifter
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Lifter {
    mass: f64,
    thigh_len: f64,
    shank_len: f64,
    leg_mass: f64,
    leg_com: f64,
    leg_inertia: f64,
    hip_height: f64,
    hip_half_width: f64,
    hat_mass: f64,
    hat_com: f64,
    /// 0 (first session of the block) .. 1 (settled).
    skill: f64,
    up_s: f64,
    down_s: f64,
    top_pause_s: f64,
    bottom_pause_s: f64,
    range_deg: f64,
    counts_aloud: bool,
    holds_on: f64,
    /// Free-side rise of the pelvis with the leg (°, per full rep).
    obl_coupling: f64,
    /// How much the stance hip adducts as the hips shift (pelvis roll per link tilt).
    adduct: f64,
    /// Hip-strategy share at rest.
    hip_mix: f64,
    delay_s: f64,
    hip_delay_s: f64,
    gain: f64,
    intrinsic: f64,
    damping: f64,
    hip_damping: f64,
    anticipation: f64,
}

fn draw_lifter(rng: &mut ChaCha8Rng, ex: Exercise) -> Lifter {
    let male = rng.gen_bool(0.5);
    let age: f64 = match rng.gen_range(0..10) {
        0 => rng.gen_range(13.0..18.0),
        1..=6 => rng.gen_range(18.0..50.0),
        7..=8 => rng.gen_range(50.0..70.0),
        _ => rng.gen_range(70.0..86.0),
    };
    let teen = ((18.0 - age) / 5.0).clamp(0.0, 1.0);
    let (h_mean, h_sd) = if male { (1.76, 0.07) } else { (1.63, 0.065) };
    let shrink = if age > 60.0 {
        (age - 60.0) * 0.0015
    } else {
        0.0
    };
    let height = ((h_mean - 0.1 * teen - shrink) + h_sd * gauss(rng)).clamp(1.45, 2.02);
    let bmi = (24.5 + 3.5 * gauss(rng) - 3.0 * teen).clamp(17.5, 38.0);
    let mass = bmi * height * height;
    // de Leva (1996): thigh, shank and foot mass shares; lengths as shares of height.
    let (thigh_m, shank_m, foot_m) = if male {
        (0.1416, 0.0433, 0.0137)
    } else {
        (0.1478, 0.0481, 0.0129)
    };
    let thigh_len = 0.245 * height;
    let shank_len = 0.246 * height;
    let leg_mass = (thigh_m + shank_m + foot_m) * mass;
    // Whole-leg CoM ~ 0.447 of the leg's length from the hip (Winter).
    let leg_len = thigh_len + shank_len + 0.039 * height;
    let leg_com = 0.447 * leg_len;
    let leg_inertia = leg_mass * (0.326 * leg_len).powi(2) + leg_mass * leg_com * leg_com;
    let hat_mass = 0.678 * mass;
    let hat_com = 0.626 * 0.288 * height * 1.1;
    let sessions = rng.gen_range(6..19) as f64;
    let session = rng.gen_range(1..=sessions as usize) as f64;
    let tau = rng.gen_range(1.5..5.0);
    let skill = 1.0 - 0.85 * (-(session - 1.0) / tau).exp();
    let older = ((age - 60.0) / 20.0).clamp(0.0, 1.0);
    let range_deg = match ex {
        Exercise::HipHitch => rng.gen_range(5.5..11.0),
        Exercise::SeatedMachineAbduction => rng.gen_range(22.0..40.0),
        Exercise::SideLyingAbduction => rng.gen_range(24.0..45.0) * (1.0 - 0.2 * older),
        _ => rng.gen_range(25.0..44.0) * (1.0 - 0.2 * older),
    };
    Lifter {
        mass,
        thigh_len,
        shank_len,
        leg_mass,
        leg_com,
        leg_inertia,
        hip_height: 0.53 * height,
        hip_half_width: 0.095 * height / 1.75,
        hat_mass,
        hat_com,
        skill,
        up_s: rng.gen_range(0.7..1.3) * (1.0 + 0.2 * older),
        down_s: rng.gen_range(1.0..2.3) * (1.0 + 0.15 * older),
        top_pause_s: if rng.gen_bool(0.4) {
            rng.gen_range(0.2..1.0)
        } else {
            0.0
        },
        bottom_pause_s: if rng.gen_bool(0.5) {
            rng.gen_range(0.1..0.9)
        } else {
            0.0
        },
        range_deg,
        counts_aloud: rng.gen_bool(0.35),
        holds_on: if rng.gen_bool(0.45) {
            rng.gen_range(0.15..0.4)
        } else {
            rng.gen_range(0.7..1.0)
        },
        obl_coupling: rng.gen_range(-0.5..1.8),
        adduct: rng.gen_range(0.3..1.0),
        hip_mix: rng.gen_range(0.05..0.3) + 0.2 * older,
        delay_s: rng.gen_range(0.05..0.12) + 0.04 * older,
        hip_delay_s: rng.gen_range(0.03..0.06),
        gain: rng.gen_range(1.6..2.6),
        intrinsic: rng.gen_range(0.4..0.7),
        damping: rng.gen_range(0.25..0.35),
        hip_damping: rng.gen_range(0.1..0.15),
        anticipation: rng.gen_range(0.3..1.0),
    }
}

// ---------------------------------------------------------------------------
// The frontal-plane double inverted pendulum (legs-pelvis and trunk)
// ---------------------------------------------------------------------------

/// Linearised double inverted pendulum over the stance foot (on the bed or
/// the seat the same pendulum with the support taking most of the load),
/// balanced by intrinsic joint stiffness and damping plus a delayed neural
/// controller blending an ankle and a hip strategy. Angles positive toward
/// the stance side, rad.
struct Dip {
    th: [f64; 2],
    om: [f64; 2],
    m: [[f64; 2]; 2],
    g: [f64; 2],
    hist: Vec<[f64; 4]>,
    ankle_delay: usize,
    hip_delay: usize,
    /// Intrinsic and neural ankle gains, intrinsic and neural hip gains.
    kia: f64,
    bia: f64,
    kna: f64,
    bna: f64,
    kih: f64,
    bih: f64,
    knh: f64,
    bnh: f64,
    mix0: f64,
    hip_share: f64,
    /// Per unit disturbance, the lean the lifter anticipates.
    ff: f64,
    scale: f64,
}

impl Dip {
    fn new(l: &Lifter, supported: bool, h: f64) -> Self {
        let g = STANDARD_GRAVITY;
        let m1 = l.mass - l.hat_mass - l.leg_mass;
        let (l1, l1c) = (l.hip_height, 0.55 * l.hip_height);
        let l2c = l.hat_com;
        let m2 = l.hat_mass;
        let i1 = m1 * l1 * l1 / 12.0;
        let i2 = m2 * (0.5 * l2c).powi(2);
        let m11 = i1 + m1 * l1c * l1c + m2 * l1 * l1;
        let m12 = m2 * l1 * l2c;
        let m22 = i2 + m2 * l2c * l2c;
        let g1 = (m1 * l1c + m2 * l1) * g;
        let g2 = m2 * l2c * g;
        let big_g = g1 + g2;
        let kia = l.intrinsic * big_g;
        let kna = (l.gain - l.intrinsic) * big_g;
        let kih = 2.0 * g2;
        let knh = 0.3 * kih;
        let ankle_delay = (l.delay_s / h).round().max(1.0) as usize;
        let hip_delay = (l.hip_delay_s / h).round().max(1.0) as usize;
        Dip {
            th: [0.0; 2],
            om: [0.0; 2],
            m: [[m11, m12], [m12, m22]],
            g: [g1, g2],
            hist: vec![[0.0; 4]; ankle_delay.max(hip_delay) + 1],
            ankle_delay,
            hip_delay,
            kia,
            bia: 0.5 * l.damping * kia,
            kna,
            bna: l.damping * kna,
            kih,
            bih: l.hip_damping * kih,
            knh,
            bnh: 0.05 * knh,
            mix0: l.hip_mix,
            hip_share: 0.0,
            ff: l.anticipation / big_g,
            scale: if supported { 0.3 } else { 1.0 },
        }
    }

    /// One step under the disturbing torque `d` (N·m, positive toward the
    /// stance side) on the legs-pelvis link.
    fn step(&mut self, d: f64, h: f64, k: usize) {
        let d = d * self.scale;
        let n = self.hist.len();
        self.hist[k % n] = [self.th[0], self.th[1], self.om[0], self.om[1]];
        let oa = self.hist[(k + n - self.ankle_delay) % n];
        let oh = self.hist[(k + n - self.hip_delay) % n];
        // The hip strategy takes over as the disturbance grows.
        let dn = (d.abs() / (0.04 * (self.kia + self.kna))).min(3.0);
        let mix = (self.mix0 + 0.25 * dn).clamp(0.0, 0.5);
        self.hip_share += (mix - self.hip_share) * (h / 0.15).min(1.0);
        let w = self.hip_share;
        // The reference: lean toward the stance side against the disturbance.
        let r1 = -self.ff * d;
        let ankle = -(self.kia * (self.th[0] - r1) + self.bia * self.om[0])
            - (1.0 - 0.5 * w) * (self.kna * (oa[0] - r1) + self.bna * oa[2]);
        let hip = -(self.kih * (self.th[1] - self.th[0]) + self.bih * (self.om[1] - self.om[0]))
            - (self.knh * (oh[1] - oh[0]) + self.bnh * (oh[3] - oh[2]))
            + w * 0.3 * (self.kna * (oh[0] - r1) + self.bna * oh[2]);
        let f1 = self.g[0] * self.th[0] + ankle - hip + d;
        let f2 = self.g[1] * self.th[1] + hip;
        let [[a, b], [_, c]] = self.m;
        let det = a * c - b * b;
        let acc0 = (c * f1 - b * f2) / det;
        let acc1 = (a * f2 - b * f1) / det;
        self.om[0] += acc0 * h;
        self.om[1] += acc1 * h;
        self.th[0] += self.om[0] * h;
        self.th[1] += self.om[1] * h;
        for i in 0..2 {
            if !self.th[i].is_finite() || !self.om[i].is_finite() {
                self.th[i] = 0.0;
                self.om[i] = 0.0;
            }
            self.th[i] = self.th[i].clamp(-0.3, 0.3);
        }
    }
}

// ---------------------------------------------------------------------------
// The session plan
// ---------------------------------------------------------------------------

/// A set as planned: its working range and where its reps are.
#[derive(Debug, Clone)]
struct PlannedSet {
    range: f64,
    first: f64,
    last_end: f64,
}

struct Planner<'a> {
    cfg: &'a SimConfig,
    l: &'a Lifter,
    rng: ChaCha8Rng,
    visible: Vec<FlagKind>,
    standing: bool,
}

impl Planner<'_> {
    fn hitch(&self) -> bool {
        self.cfg.exercise == Exercise::HipHitch
    }

    fn jitter(&mut self, x: f64, sd: f64) -> f64 {
        x * (sd * gauss(&mut self.rng)).exp()
    }

    fn idle(&mut self, a: &mut Animator, dur: f64) {
        let w = Want::new(Kind::Idle, dur.max(0.3))
            .set(ABD, 0.0)
            .set(FLEX, 0.0)
            .set(ROT, 0.0)
            .set(KNEE, 0.0)
            .set(OBL, 0.0)
            .set(LEAN, 0.0)
            .set(OTHER, 0.0)
            .set(SHIFT, 0.0)
            .set(WALK, 0.0)
            .blend(self.rng.gen_range(0.15..0.4));
        a.push(w);
    }

    fn distraction(&mut self, a: &mut Animator, w: Want, name: &str) -> (f64, f64) {
        let dur = w.dur;
        let (t0, _) = a.push(w.tag(Tag::Distraction(name.into())));
        (t0, t0 + dur)
    }

    /// One rep: raise, maybe hold, lower, maybe a pause. `comp` is the
    /// compensation the lifter slips into, if any.
    fn rep(
        &mut self,
        a: &mut Animator,
        set: usize,
        range: f64,
        tempo: f64,
        comp: Option<FlagKind>,
    ) {
        let l = self.l;
        let sk = 1.0 - l.skill;
        let tempo_sd = (0.22 * sk + 0.04) * if l.counts_aloud { 0.5 } else { 1.0 };
        let rng_sd = 0.1 * sk + 0.03;
        let top = range * (1.0 + (rng_sd * gauss(&mut self.rng)).clamp(-0.15, 0.15));
        let hitch = self.hitch();
        let main = if hitch { OBL } else { ABD };
        let sign = if hitch { -1.0 } else { 1.0 };
        let up = (self.jitter(l.up_s, tempo_sd) * tempo).clamp(0.65, 2.0);
        let down = (self.jitter(l.down_s, tempo_sd) * tempo).clamp(0.9, 3.0);
        let mut raise = Want::new(Kind::Raise, up)
            .set(main, sign * top)
            .blend(self.rng.gen_range(0.1..0.3))
            .tag(Tag::Rep(set));
        if !hitch {
            // The clean coupling of the pelvis to the leg.
            raise = raise.set(OBL, l.obl_coupling * top / 35.0);
            raise = raise.set(FLEX, 1.5 * gauss(&mut self.rng));
        }
        let mut lower = Want::new(Kind::Lower, down)
            .set(main, 0.0)
            .set(OBL, 0.0)
            .set(FLEX, 0.0)
            .set(LEAN, 0.0)
            .blend(self.rng.gen_range(0.1..0.35))
            .tag(Tag::Rep(set));
        let mut hold = if l.top_pause_s > 0.0 {
            Some(Want::new(Kind::Hold, self.jitter(l.top_pause_s, 0.3).max(0.3)).tag(Tag::Rep(set)))
        } else {
            None
        };
        match comp {
            Some(FlagKind::Momentum) => {
                raise.fast = true;
                raise.dur = 1.0;
                lower.fast = true;
                lower.dur = 1.0;
                hold = None;
            }
            Some(FlagKind::PartialRange) => {
                // Blended out early into the lowering.
                raise.cut = self.rng.gen_range(0.55..0.7);
                raise.values[main] = sign * range * self.rng.gen_range(0.9..1.0);
                hold = None;
            }
            Some(FlagKind::HipFlexionDrift) => {
                raise = raise.set(FLEX, self.rng.gen_range(17.0..28.0));
            }
            Some(FlagKind::HipHike) => {
                if hitch {
                    lower = lower.set(OBL, self.rng.gen_range(6.5..10.0));
                } else {
                    raise = raise.set(OBL, self.rng.gen_range(7.0..11.0));
                }
            }
            Some(FlagKind::PelvicDrop) => {
                if hitch {
                    raise.values[OBL] = -(range + self.rng.gen_range(6.0..9.0));
                } else {
                    raise = raise.set(OBL, -self.rng.gen_range(6.5..10.0));
                }
            }
            Some(FlagKind::TrunkSway) => {
                let s = self.rng.gen_range(7.5..11.0);
                raise = raise.set(LEAN, s);
                lower = lower.set(LEAN, -s);
            }
            None => {}
        }
        let hitch_hike_back = hitch && comp == Some(FlagKind::HipHike);
        let sway = comp == Some(FlagKind::TrunkSway);
        a.push(raise);
        if let Some(h) = hold {
            a.push(h);
        }
        a.push(lower);
        if hitch_hike_back || sway {
            // Back to level after the rep.
            let w = Want::new(Kind::Idle, 0.9)
                .set(OBL, 0.0)
                .set(LEAN, 0.0)
                .tag(Tag::Rep(set));
            a.push(w);
        }
        let pause = if l.bottom_pause_s > 0.0 {
            self.jitter(l.bottom_pause_s, 0.4)
        } else {
            0.0
        };
        if pause > 0.15 || sway || hitch_hike_back {
            self.idle(a, pause.max(0.4));
        }
    }

    /// A set of `reps` reps (a drop set changes the load, and the tempo
    /// with it, after a short pin change).
    fn set(&mut self, a: &mut Animator, set: usize, reps: usize, drop_set: bool) -> PlannedSet {
        let l = self.l;
        let range = l.range_deg * (1.0 + 0.05 * gauss(&mut self.rng)).clamp(0.9, 1.1);
        // Ready: a still stance.
        {
            let d = self.rng.gen_range(1.2..2.5);
            self.idle(a, d);
        }
        let first = a.now();
        // A re-start: an abandoned attempt, well under the rep threshold.
        if self.rng.gen_bool(0.35 * (1.0 - l.skill) + 0.05) {
            let main = if self.hitch() { OBL } else { ABD };
            let sign = if self.hitch() { -1.0 } else { 1.0 };
            let w = Want::new(Kind::Attempt, self.rng.gen_range(0.8..1.4))
                .set(main, sign * range * self.rng.gen_range(0.1..0.25))
                .tag(Tag::Rep(set));
            a.push(w);
            {
                let d = self.rng.gen_range(0.8..2.0);
                self.idle(a, d);
            }
        }
        let rate = if self.visible.is_empty() {
            0.0
        } else {
            self.cfg.compensation_rate
        };
        let mut tempo = 1.0;
        for r in 0..reps {
            if drop_set && r == reps / 2 && reps >= 4 {
                // The pin comes out and goes in lighter: 3-7 s, inside the set.
                let w = Want::new(Kind::Idle, self.rng.gen_range(3.0..7.0))
                    .set(LEAN, self.rng.gen_range(2.0..4.0))
                    .set(ABD, 0.0)
                    .set(OBL, 0.0)
                    .tag(Tag::Rep(set));
                a.push(w);
                self.idle(a, 0.8);
                tempo = self.rng.gen_range(0.72..0.9);
            }
            let comp = if rate > 0.0 && self.rng.gen_bool(rate) {
                Some(self.visible[self.rng.gen_range(0..self.visible.len())])
            } else {
                None
            };
            // Early sessions: a small fidget between reps now and then (part
            // of the set, well under neutral's band).
            if self.cfg.fidgets && r > 0 && self.rng.gen_bool(0.15 * (1.0 - l.skill)) {
                let w = Want::new(Kind::Fidget, self.rng.gen_range(0.5..1.0))
                    .set(ROT, self.rng.gen_range(-4.0..4.0))
                    .set(SHIFT, self.rng.gen_range(-0.01..0.01))
                    .tag(Tag::Rep(set));
                a.push(w);
            }
            let last_before = a.now();
            self.rep(a, set, range, tempo, comp);
            let _ = last_before;
        }
        let last_end = a.now();
        PlannedSet {
            range,
            first,
            last_end,
        }
    }

    fn other_leg_set(&mut self, a: &mut Animator) {
        let n = self.rng.gen_range(4..9);
        let amp = self.l.range_deg * self.rng.gen_range(0.8..1.1);
        let dur = n as f64 * self.rng.gen_range(2.2..3.2);
        let t0 = a.now();
        for _ in 0..n {
            let w = Want::new(Kind::Other, self.rng.gen_range(2.2..3.2))
                .set(OTHER, amp)
                .set(SHIFT, -0.015)
                .blend(0.2);
            a.push(w);
        }
        let _ = (t0, dur);
    }

    /// The rest between sets: distractions and standing about.
    fn rest(
        &mut self,
        a: &mut Animator,
        len: f64,
        cluster: bool,
        out: &mut Vec<(String, f64, f64)>,
    ) {
        let end = a.now() + len;
        let cfg = self.cfg;
        // The set is over: a still moment first.
        {
            let d = self.rng.gen_range(1.5..3.0);
            self.idle(a, d);
        }
        let lying = cfg.exercise == Exercise::SideLyingAbduction;
        let seated = cfg.exercise == Exercise::SeatedMachineAbduction;
        let mut stood_up = false;
        if !cluster && (lying || seated) && end - a.now() > 14.0 && self.rng.gen_bool(0.6) {
            let k = if lying { Kind::GetUp } else { Kind::StandUp };
            let ch = if lying { LIE } else { SIT };
            let d = self.rng.gen_range(2.0..3.2);
            let r = self.distraction(a, Want::new(k, d).set(ch, 0.0).set(ABD, 0.0), "stands up");
            out.push(("stands up".into(), r.0, r.1));
            stood_up = true;
        }
        if cluster {
            self.idle(a, (end - a.now()).max(1.0));
            return;
        }
        let mut guard = 0;
        while end - a.now() > 10.0 && guard < 12 {
            guard += 1;
            let pick = self.rng.gen_range(0..9);
            let standing_now = self.standing || stood_up;
            let w = match pick {
                0 | 1 if cfg.walking && standing_now => {
                    let d = self
                        .rng
                        .gen_range(4.0f64..9.0)
                        .min(end - a.now() - 4.0)
                        .max(2.0);
                    let w = Want::new(Kind::Walk, d).set(WALK, self.rng.gen_range(0.9..1.3));
                    Some((w, "walks about"))
                }
                2 if cfg.walking && standing_now => {
                    let dy = if self.rng.gen_bool(0.5) { 180.0 } else { 90.0 };
                    let y =
                        a.pose(a.now())[YAW] + dy * if self.rng.gen_bool(0.5) { 1.0 } else { -1.0 };
                    Some((
                        Want::new(Kind::Turn, self.rng.gen_range(1.2..2.2)).set(YAW, y),
                        "turns round",
                    ))
                }
                3 if cfg.fidgets => Some((
                    Want::new(Kind::Restrap, self.rng.gen_range(4.0..8.0))
                        .set(STRAP, self.rng.gen_range(-25.0..25.0))
                        .set(KNEE, 40.0)
                        .set(FLEX, 35.0),
                    "re-straps the sensor",
                )),
                4 if cfg.fidgets && standing_now => Some((
                    Want::new(Kind::Bottle, self.rng.gen_range(4.0..7.0))
                        .set(LEAN, self.rng.gen_range(12.0..25.0))
                        .set(KNEE, self.rng.gen_range(20.0..50.0))
                        .set(FLEX, self.rng.gen_range(10.0..30.0)),
                    "picks up a bottle and drinks",
                )),
                5 if cfg.fidgets => Some((
                    Want::new(Kind::Stretch, self.rng.gen_range(6.0..12.0))
                        .set(FLEX, self.rng.gen_range(40.0..70.0))
                        .set(KNEE, self.rng.gen_range(60.0..110.0)),
                    "stretches the leg",
                )),
                6 if cfg.fidgets && standing_now => Some((
                    Want::new(Kind::Cable, self.rng.gen_range(3.0..6.0))
                        .set(LEAN, self.rng.gen_range(5.0..15.0))
                        .set(YAW, self.rng.gen_range(-40.0..40.0))
                        .set(OBL, self.rng.gen_range(-3.0..3.0)),
                    "adjusts the cable",
                )),
                7 if cfg.fidgets => Some((
                    Want::new(Kind::Swing, self.rng.gen_range(0.8..1.4))
                        .set(ABD, self.l.range_deg * self.rng.gen_range(0.5..0.9))
                        .set(FLEX, self.rng.gen_range(-10.0..15.0)),
                    "a single swing of the leg",
                )),
                8 if cfg.fidgets => Some((
                    Want::new(Kind::Fidget, self.rng.gen_range(0.6..1.4))
                        .set(ROT, self.rng.gen_range(-12.0..12.0))
                        .set(KNEE, self.rng.gen_range(5.0..20.0))
                        .set(SHIFT, self.rng.gen_range(-0.03..0.03)),
                    "fidgets",
                )),
                _ => None,
            };
            if let Some((w, name)) = w {
                let r = self.distraction(a, w, name);
                out.push((name.into(), r.0, r.1));
                {
                    let d = self.rng.gen_range(0.8..2.5);
                    self.idle(a, d);
                }
            } else {
                {
                    let d = self.rng.gen_range(1.5..4.0);
                    self.idle(a, d);
                }
            }
        }
        if stood_up {
            let k = if lying { Kind::LieDown } else { Kind::SitDown };
            let ch = if lying { LIE } else { SIT };
            let d = self.rng.gen_range(2.0..3.2);
            let r = self.distraction(a, Want::new(k, d).set(ch, 1.0), "gets back into position");
            out.push(("gets back into position".into(), r.0, r.1));
        }
        let left = end - a.now();
        if left > 0.3 {
            self.idle(a, left);
        }
    }
}

// ---------------------------------------------------------------------------
// Truth measurement
// ---------------------------------------------------------------------------

/// An excursion of the working joint from neutral: (start, peak, end) indices.
/// A rep leaves a band around neutral, reaches at least `threshold` and
/// comes back inside the band; dips that stay outside the band are part of
/// the same rep; excursions under `threshold` are not reps.
fn excursions(sig: &[f64], band: f64, threshold: f64, lead: f64) -> Vec<(usize, usize, usize)> {
    let mut out = Vec::new();
    let n = sig.len();
    let mut i = 0;
    while i < n {
        if sig[i] <= band {
            i += 1;
            continue;
        }
        let enter = i;
        let mut peak = i;
        while i < n && sig[i] > band * 0.8 {
            if sig[i] > sig[peak] {
                peak = i;
            }
            i += 1;
        }
        let exit = i.min(n - 1);
        if sig[peak] >= threshold && i < n {
            // Leaving neutral: back from the band crossing to `lead`.
            let mut s = enter;
            while s > 0 && sig[s - 1] > lead && sig[s - 1] < sig[s] + 1e-9 {
                s -= 1;
            }
            let mut e = exit;
            while e + 1 < n && sig[e + 1] > lead && sig[e + 1] < sig[e] + 1e-9 {
                e += 1;
            }
            out.push((s, peak, e));
        }
    }
    out
}

// ---------------------------------------------------------------------------
// The simulator
// ---------------------------------------------------------------------------

/// The mocap body model's sample stream (built in full by [`MocapSimulator::new`]).
pub struct MocapSimulator {
    samples: std::vec::IntoIter<Sample>,
}

impl Iterator for MocapSimulator {
    type Item = Sample;
    fn next(&mut self) -> Option<Sample> {
        self.samples.next()
    }
}

/// The whole simulated motion at the internal rate.
struct Motion {
    h: f64,
    /// The sensor's segment orientation and the sensor's position.
    q: Vec<UnitQuaternion<f64>>,
    p: Vec<Vector3<f64>>,
    /// The working joint for the truth (abduction, or the drop of the free
    /// side in a hip hitch), hip flexion, obliquity (free side up), °.
    main: Vec<f64>,
    flex: Vec<f64>,
    obl: Vec<f64>,
    /// The segment's orientation without the strap (for the ankle's peak).
    seg: Vec<UnitQuaternion<f64>>,
    standing: Vec<bool>,
}

impl MocapSimulator {
    /// Simulates a session: the sample stream and its ground truth.
    pub fn new(cfg: &SimConfig) -> Result<(Self, Truth), String> {
        cfg.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x6d6f_6361_7026_2600);
        let lifter = draw_lifter(&mut rng, cfg.exercise);
        let (motion, plan, distractions) = simulate_motion(cfg, &lifter, &mut rng);
        let (samples, dev_of) = sense(cfg, &motion, &mut rng);
        let truth = measure(cfg, &motion, &plan, &distractions, &samples, &dev_of);
        Ok((
            MocapSimulator {
                samples: samples.into_iter(),
            },
            truth,
        ))
    }
}

fn simulate_motion(
    cfg: &SimConfig,
    l: &Lifter,
    rng: &mut ChaCha8Rng,
) -> (Motion, Vec<PlannedSet>, Vec<(String, f64, f64)>) {
    let ex = cfg.exercise;
    let lying = ex == Exercise::SideLyingAbduction;
    let seated = ex == Exercise::SeatedMachineAbduction;
    let hitch = ex == Exercise::HipHitch;
    let spread = 1.0 - l.skill;
    let lib = Library::new(rng, spread);
    let mut start: Pose = [0.0; NC];
    if lying {
        start[LIE] = 1.0;
    }
    if seated {
        start[SIT] = 1.0;
    }
    let skew = rng.gen_range(-0.35..0.35);
    let mut anim = Animator::new(lib, rng, skew, 0.05 + 0.25 * spread, start);
    let mut planner = Planner {
        cfg,
        l,
        rng: ChaCha8Rng::seed_from_u64(rng.gen()),
        visible: cfg.visible_compensations(),
        standing: !(lying || seated),
    };
    let mut plan = Vec::new();
    let mut distractions: Vec<(String, f64, f64)> = Vec::new();
    // Lead-in: some start moving almost at once.
    let lead = cfg.lead_in_s.unwrap_or_else(|| {
        if rng.gen_bool(0.25) {
            rng.gen_range(0.2..0.6)
        } else {
            rng.gen_range(0.5..3.0)
        }
    });
    planner.idle(&mut anim, lead.max(0.2));
    // Kinds of set: straight, cluster (12-20 s pauses: separate sets in
    // the truth, DOMAIN's 10 s rule), drop, and unilateral supersets.
    let superset = cfg.fidgets && rng.gen_bool(0.3);
    let cluster_ok = cfg.rest_min_s <= 20.0;
    let mut s = 0;
    while s < cfg.sets {
        let left = cfg.sets - s;
        let cluster = cluster_ok && left >= 2 && rng.gen_bool(0.25);
        let parts = if cluster {
            rng.gen_range(2..=left.min(4))
        } else {
            1
        };
        for part in 0..parts {
            let reps = rng.gen_range(cfg.reps_min..=cfg.reps_max);
            let drop_set = !cluster && rng.gen_bool(0.2);
            let ps = planner.set(&mut anim, s, reps, drop_set);
            plan.push(ps);
            s += 1;
            if s == cfg.sets {
                break;
            }
            if part + 1 < parts {
                let lo = cfg.rest_min_s.max(12.0);
                let hi = cfg.rest_max_s.min(20.0).max(lo);
                let len = rng.gen_range(lo..=hi);
                planner.rest(&mut anim, len, true, &mut distractions);
            } else {
                let len = rng.gen_range(cfg.rest_min_s..=cfg.rest_max_s);
                let t0 = anim.now();
                if superset && len > 25.0 && !hitch {
                    planner.idle(&mut anim, 2.0);
                    let a0 = anim.now();
                    planner.other_leg_set(&mut anim);
                    distractions.push(("the other leg's set".into(), a0, anim.now()));
                }
                let used = anim.now() - t0;
                planner.rest(&mut anim, (len - used).max(3.0), false, &mut distractions);
            }
        }
    }
    // The end: still a moment, maybe walking off mid-motion.
    planner.idle(&mut anim, rng.gen_range(1.0..3.0));
    let mut tail_cut = 0.0;
    if cfg.walking && planner.standing && rng.gen_bool(0.4) {
        let w = Want::new(Kind::Walk, 6.0).set(WALK, 1.1);
        let (t0, _) = anim.push(w.tag(Tag::Distraction("walks off".into())));
        tail_cut = t0 + rng.gen_range(1.5..3.5);
        distractions.push(("walks off".into(), t0, tail_cut));
    }
    let end = if tail_cut > 0.0 {
        tail_cut
    } else {
        anim.now() + 0.5
    };

    // --- Run the body at the internal rate ---------------------------------
    let fi = (2.0 * cfg.rate_hz).max(250.0);
    let h = 1.0 / fi;
    let n = (end / h).ceil() as usize + 3;
    let mut dip = Dip::new(l, lying || seated, h);
    let s_work = cfg.side.sign();
    let s_free = ex.free_side(cfg.side).sign();
    let mut m = Motion {
        h,
        q: Vec::with_capacity(n),
        p: Vec::with_capacity(n),
        main: Vec::with_capacity(n),
        flex: Vec::with_capacity(n),
        obl: Vec::with_capacity(n),
        seg: Vec::with_capacity(n),
        standing: Vec::with_capacity(n),
    };
    let mut pos = Vector3::new(0.0, 0.0, 0.0);
    let mut phase = 0.0f64;
    let mut prev_abd = [0.0f64; 3];
    let mut prev_obl = [0.0f64; 3];
    let mut strap_creep = 0.0;
    let creep_rate = rng.gen_range(-3.0..3.0) / 60.0; // °/s while moving
    let mut last_strap = 0.0;
    let cable = if ex == Exercise::StandingCableAbduction {
        rng.gen_range(2.5..15.0) * STANDARD_GRAVITY
    } else {
        0.0
    };
    let mount_pelvis = if cfg.random_mounting {
        rz(rng.gen_range(-15f64..15.0).to_radians())
            * rx(rng.gen_range(-15f64..15.0).to_radians())
            * ry(rng.gen_range(-10f64..10.0).to_radians())
    } else {
        UnitQuaternion::identity()
    };
    let sway_f = [rng.gen_range(0.08..0.25), rng.gen_range(0.3..0.6)];
    let sway_a = rng.gen_range(0.15..0.4) * (1.0 + 0.5 * spread);
    for k in 0..n {
        let t = k as f64 * h;
        anim.seek(t);
        let p = anim.pose(t);
        // Inverse kinematics limits: the leg on the bed, the knees on the pads.
        let mut abd = p[ABD];
        if lying || seated {
            // The bed or the pad: a soft stop 2° past neutral.
            let x = (abd + 2.0) / 2.0;
            abd = -2.0 + 2.0 * if x > 20.0 { x } else { x.exp().ln_1p() };
        }
        prev_abd = [prev_abd[1], prev_abd[2], abd];
        prev_obl = [prev_obl[1], prev_obl[2], p[OBL]];
        let abd_acc = (prev_abd[2] - 2.0 * prev_abd[1] + prev_abd[0]) / (h * h);
        let obl_acc = (prev_obl[2] - 2.0 * prev_obl[1] + prev_obl[0]) / (h * h);
        // Disturbance on the legs-pelvis link: the working leg's weight on
        // its lever and its swing, the cable's pull, the other leg.
        let ar = abd.to_radians();
        let hold = l.holds_on;
        let mut d = -(l.leg_mass * STANDARD_GRAVITY * l.leg_com * ar.sin()
            + 0.3 * l.leg_inertia * abd_acc.to_radians())
            * hold;
        if lying {
            d *= 0.25;
        }
        d -= cable * 0.12 * ar.sin() * hold;
        d += l.leg_mass * STANDARD_GRAVITY * l.leg_com * p[OTHER].to_radians().sin() * hold;
        if hitch {
            d += -(l.leg_mass
                * STANDARD_GRAVITY
                * l.hip_half_width
                * 2.0
                * p[OBL].to_radians().sin())
                - 0.02 * l.mass * obl_acc.to_radians();
        }
        // Walking: no balance on one leg.
        let walking = p[WALK] > 0.05;
        if walking {
            d = 0.0;
        }
        dip.step(d, h, k);
        let th1 = dip.th[0].to_degrees();
        let th2 = dip.th[1].to_degrees();
        // Postural sway.
        let sway = sway_a
            * ((2.0 * PI * sway_f[0] * t).sin() + 0.6 * (2.0 * PI * sway_f[1] * t + 1.3).sin());
        // Walking gait.
        let v = p[WALK].max(0.0);
        let cadence = 0.9 + 0.2 * v;
        phase += 2.0 * PI * cadence * h * (v / 1.1).min(1.0);
        let gw = (v / 1.0).min(1.0);
        let gait_obl = 4.0 * gw * phase.sin();
        let gait_yaw = 4.0 * gw * phase.cos();
        let bounce = 0.025 * gw * (2.0 * phase).cos();
        // Pelvic obliquity (free side up): the clip layers, the stance hip
        // adducting as the hips shift over the foot, the hip strategy's
        // counter-rotation, the whole-body lean, sway and gait.
        let obl =
            p[OBL] - l.adduct * th1 + 0.4 * (th1 - th2) + 0.8 * p[LEAN] + 0.3 * sway + gait_obl;
        let yaw = p[YAW] + 0.35 * p[LEAN] + gait_yaw + 0.4 * sway;
        // The body's base: standing, lying on the stance side, seated.
        let heading = ry(yaw.to_radians());
        let lie = p[LIE].clamp(0.0, 1.0);
        let sit = p[SIT].clamp(0.0, 1.0);
        let s_lie = s_work;
        let base = heading * rz(s_lie * lie * PI / 2.0);
        let pelvis = base * rz((s_free * obl).to_radians()) * rx((2.0 * sway * 0.3).to_radians());
        let dir = heading * Vector3::new(0.0, 0.0, -1.0);
        pos += dir * v * h;
        let shift = p[SHIFT] + l.hip_height * dip.th[0] * (1.0 - lie);
        let hip_h = l.hip_height * (1.0 - 0.45 * sit) * (1.0 - lie) + 0.18 * lie + bounce;
        let pelvis_pos = pos + heading * Vector3::new(-s_work * shift, hip_h, 0.0);
        // The working leg. Gait swings it in walking.
        let gait_flex = 22.0 * gw * phase.sin();
        let gait_knee = 35.0 * gw * (phase + 1.2).sin().max(0.0);
        let mut flex = p[FLEX] + gait_flex + 90.0 * sit;
        let mut knee = p[KNEE] + gait_knee + 90.0 * sit;
        // IK: the working foot stays on the floor when the free side sinks.
        if !lying && !seated && !hitch && !walking {
            let sink = -(obl.to_radians().sin() * 2.0 * l.hip_half_width);
            let slack = 0.004 + l.leg_com * 2.0 * (1.0 - ar.cos());
            // Soft contact: the shortening the knee must give, smoothly.
            let x = (sink - slack - 0.006) / 0.002;
            let short = 0.002 * if x > 20.0 { x } else { x.exp().ln_1p() };
            let (lt, ls) = (l.thigh_len, l.shank_len);
            let kf = ((2.0 * short * (lt + ls) / (lt * ls) + 4e-4).sqrt() - 0.02).to_degrees();
            knee += kf;
            flex += kf * ls / (lt + ls);
        }
        let (thigh, shank) = if seated || sit > 0.5 {
            // Knees apart: the thigh turns about the vertical; the feet stay
            // on the footrests, so the shank tilts a little.
            let thigh = pelvis
                * ry(-s_work * ar * sit)
                * rz(s_work * ar * (1.0 - sit))
                * rx(flex.to_radians())
                * ry(p[ROT].to_radians());
            let tilt = 0.4
                * (l.thigh_len * ar.sin() / l.shank_len)
                    .clamp(-1.0, 1.0)
                    .asin();
            let shank = thigh * rx(-knee.to_radians()) * rz(-s_work * tilt);
            (thigh, shank)
        } else {
            let thigh = pelvis * rz(s_work * ar) * rx(flex.to_radians()) * ry(p[ROT].to_radians());
            (thigh, thigh * rx(-knee.to_radians()))
        };
        let hip = pelvis_pos + pelvis * Vector3::new(s_work * l.hip_half_width, -0.05, 0.0);
        let knee_pos = hip + thigh * Vector3::new(0.0, -l.thigh_len, 0.0);
        let (seg, sensor_pos) = match cfg.placement {
            Placement::Pelvis => (pelvis, pelvis_pos + pelvis * Vector3::new(0.0, 0.02, 0.11)),
            Placement::Ankle => {
                // The strap creeps about the shank while the leg moves.
                let moving = (abd - last_strap).abs() > 1e-3 || walking;
                last_strap = abd;
                if moving {
                    strap_creep += creep_rate * h;
                }
                let strap = ry((p[STRAP] + strap_creep).to_radians());
                let sp = knee_pos
                    + shank
                        * (Vector3::new(0.0, -0.8 * l.shank_len, 0.0)
                            + strap * Vector3::new(s_work * 0.045, 0.0, 0.0));
                (shank, sp)
            }
        };
        let q_sensor = match cfg.placement {
            Placement::Pelvis => seg * mount_pelvis,
            Placement::Ankle => seg * ry((p[STRAP] + strap_creep).to_radians()),
        };
        m.q.push(q_sensor);
        m.p.push(sensor_pos);
        m.seg.push(seg);
        m.main.push(if hitch { -p[OBL] } else { abd });
        m.flex.push(p[FLEX]);
        m.obl.push(obl);
        m.standing.push(!lying && !seated && !walking);
    }
    let _ = &m.h;
    (m, plan, distractions)
}

// ---------------------------------------------------------------------------
// The consumer wearable
// ---------------------------------------------------------------------------

/// The device's samples, and the map from true time to the device's time
/// (for the truth).
fn sense(cfg: &SimConfig, m: &Motion, rng: &mut ChaCha8Rng) -> (Vec<Sample>, Vec<(f64, f64)>) {
    let h = m.h;
    let n = m.q.len();
    let up = Vector3::new(0.0, STANDARD_GRAVITY, 0.0);
    // Random mounting on the ankle: any orientation.
    let mount = if cfg.placement == Placement::Ankle && cfg.random_mounting {
        let axis = Vector3::new(gauss(rng), gauss(rng), gauss(rng));
        UnitQuaternion::from_scaled_axis(axis.normalize() * rng.gen_range(0.0..PI))
    } else {
        UnitQuaternion::identity()
    };
    // Floor vibration from dropped weights: (start, length, size).
    let mut shocks = Vec::new();
    let dur = n as f64 * h;
    let mut t = rng.gen_range(10.0..90.0);
    while t < dur {
        shocks.push((
            t,
            rng.gen_range(0.15..0.5),
            rng.gen_range(0.05..0.6),
            rng.gen_range(0.0..6.0),
        ));
        t += rng.gen_range(30.0..150.0);
    }
    // Kinematics at the internal rate: angular rate (°/s) and specific force, sensor frame.
    let mut w = vec![Vector3::zeros(); n];
    let mut f = vec![Vector3::zeros(); n];
    let mut si = 0;
    for k in 0..n {
        let q = m.q[k] * mount;
        let k1 = (k + 1).min(n - 1);
        let k0 = k.saturating_sub(1);
        let q0 = m.q[k0] * mount;
        let q1 = m.q[k1] * mount;
        let rel = q0.inverse() * q1;
        let span = (k1 - k0).max(1) as f64 * h;
        w[k] = rel.scaled_axis() / span * (180.0 / PI);
        let mut acc = if k > 0 && k + 1 < n {
            (m.p[k + 1] - 2.0 * m.p[k] + m.p[k - 1]) / (h * h)
        } else {
            Vector3::zeros()
        };
        let tk = k as f64 * h;
        while si < shocks.len() && shocks[si].0 + shocks[si].1 < tk {
            si += 1;
        }
        if let Some(&(s0, len, size, ph)) = shocks.get(si) {
            if tk >= s0 && tk < s0 + len {
                let x = tk - s0;
                let env = (-x / (0.25 * len)).exp();
                let v = size
                    * env
                    * ((2.0 * PI * 23.0 * x + ph).sin()
                        + 0.6 * (2.0 * PI * 41.0 * x).sin()
                        + 0.4 * (2.0 * PI * 67.0 * x + 2.0 * ph).sin());
                acc += Vector3::new(0.2 * v, v, 0.15 * v);
            }
        }
        f[k] = q.inverse() * (acc + up);
    }
    // The device's low-pass before its output rate (the fusion's prefilter).
    let fc = (0.35 * cfg.rate_hz).min(90.0);
    let alpha = 1.0 - (-2.0 * PI * fc * h).exp();
    for v in [&mut w, &mut f] {
        let mut y = v[0];
        for x in v.iter_mut() {
            y += (*x - y) * alpha;
            *x = y;
        }
        let mut y = v[n - 1];
        for x in v.iter_mut().rev() {
            y += (*x - y) * alpha;
            *x = y;
        }
    }
    // The device: clock, temperature, errors.
    let ppm = rng.gen_range(-60.0..60.0);
    let t_amb = rng.gen_range(17.0..27.0);
    let t_skin = rng.gen_range(30.0..34.5);
    let warm = rng.gen_bool(0.2);
    let tau_w = rng.gen_range(90.0..300.0);
    let temp = |t: f64| {
        if warm {
            t_skin
        } else {
            t_skin - (t_skin - t_amb) * (-t / tau_w).exp()
        }
    };
    let big = cfg.gyro_bias_dps;
    let b0: Vec<f64> = (0..3).map(|_| rng.gen_range(-0.55..0.55) * big).collect();
    let bt: Vec<f64> = (0..3).map(|_| rng.gen_range(-0.4..0.4) * big).collect();
    let s0: Vec<f64> = (0..3).map(|_| rng.gen_range(-0.008..0.008)).collect();
    let st: Vec<f64> = (0..3).map(|_| rng.gen_range(-0.004..0.004)).collect();
    let ab: Vec<f64> = (0..3).map(|_| rng.gen_range(-0.05..0.05)).collect();
    let gyro_range = [500.0, 1000.0, 2000.0][rng.gen_range(0..3)];
    let acc_range = if rng.gen_bool(0.5) { 8.0 } else { 16.0 } * STANDARD_GRAVITY;
    let scale_r = (cfg.rate_hz / 100.0).sqrt();
    let gn = 0.06 * cfg.noise * scale_r;
    let an = 0.012 * cfg.noise * scale_r;
    // BLE: samples per notification, a Gilbert-Elliott channel losing whole
    // notifications, single samples lost on the device, 200 ms gaps.
    let per_note = ((cfg.rate_hz / 20.0).round() as usize).clamp(1, 12);
    let note_loss = 0.6 * cfg.drop_rate;
    let single_loss = 0.4 * cfg.drop_rate;
    let mut bad = false;
    let mut gaps = Vec::new();
    if cfg.gaps_per_min > 0.0 {
        let mut t = 0.0;
        loop {
            let u: f64 = rng.gen_range(1e-12..1.0);
            t += -u.ln() * 60.0 / cfg.gaps_per_min;
            if t >= dur {
                break;
            }
            gaps.push(t);
        }
    }
    let mut gi = 0;
    let mut out = Vec::new();
    let mut map = Vec::new();
    let mut bias_est = Vector3::zeros();
    let mut still_for = 0.0;
    let dt_nom = 1.0 / cfg.rate_hz;
    let mut t_true = rng.gen_range(0.0..dt_nom);
    let mut k_dev = 0u64;
    let mut note_lost = false;
    let t_dev0 = rng.gen_range(0.0..0.5);
    while t_true < dur - 2.0 * h {
        let temp_now = temp(t_true);
        let x = ((temp_now - t_amb) / (t_skin - t_amb).max(1.0)).clamp(0.0, 1.2);
        let t_dev = t_dev0 + k_dev as f64 * dt_nom;
        map.push((t_true, t_dev));
        if (k_dev as usize).is_multiple_of(per_note) {
            // A new notification: the channel may be bad.
            bad = if bad {
                !rng.gen_bool(0.3)
            } else {
                rng.gen_bool(note_loss * 0.3)
            };
            note_lost =
                note_loss > 0.0 && (bad && rng.gen_bool(0.7) || rng.gen_bool(note_loss * 0.4));
        }
        let pos = t_true / h;
        let i = (pos.floor() as usize).min(n - 2);
        let fr = pos - i as f64;
        let wv = w[i] * (1.0 - fr) + w[i + 1] * fr;
        let fv = f[i] * (1.0 - fr) + f[i + 1] * fr;
        let mut gy = Vector3::zeros();
        let mut ac = Vector3::zeros();
        for a in 0..3 {
            gy[a] = wv[a] + b0[a] + bt[a] * x + gn * gauss(rng);
            ac[a] = fv[a] * (1.0 + s0[a] + st[a] * x) + ab[a] + an * gauss(rng);
        }
        // On-board fusion learns the gyro bias while the device is still.
        if gy.norm() < 4.0 {
            still_for += dt_nom;
        } else {
            still_for = 0.0;
        }
        if still_for > 1.5 {
            bias_est += (gy - bias_est) * (dt_nom / 4.0).min(1.0);
        }
        let mut gout = gy - bias_est;
        for a in 0..3 {
            gout[a] = gout[a].clamp(-gyro_range, gyro_range);
            ac[a] = ac[a].clamp(-acc_range, acc_range);
            // Packed as i16 for BLE.
            let gl = gyro_range / 32768.0;
            let al = acc_range / 32768.0;
            gout[a] = (gout[a] / gl).round() * gl;
            ac[a] = (ac[a] / al).round() * al;
        }
        while gi < gaps.len() && gaps[gi] + 0.2 < t_true {
            gi += 1;
        }
        let in_gap = gaps
            .get(gi)
            .is_some_and(|&g| t_true >= g && t_true < g + 0.2);
        let lost = in_gap || note_lost || (single_loss > 0.0 && rng.gen_bool(single_loss.min(1.0)));
        if !lost {
            out.push(Sample {
                t: (t_dev * 1e6).round() / 1e6,
                acc: ac,
                gyr: gout,
            });
        }
        // The crystal: a per-device offset and a warm-up drift.
        let drift = ppm - 0.035 * (temp_now - 25.0).powi(2);
        t_true += dt_nom * (1.0 + drift * 1e-6);
        k_dev += 1;
    }
    (out, map)
}

fn dev_time(map: &[(f64, f64)], t: f64) -> f64 {
    if map.is_empty() {
        return t;
    }
    let i = map.partition_point(|&(tt, _)| tt < t);
    if i == 0 {
        return map[0].1 + (t - map[0].0);
    }
    if i >= map.len() {
        let (a, b) = map[map.len() - 1];
        return b + (t - a);
    }
    let (ta, da) = map[i - 1];
    let (tb, db) = map[i];
    da + (db - da) * (t - ta) / (tb - ta).max(1e-12)
}

fn measure(
    cfg: &SimConfig,
    m: &Motion,
    plan: &[PlannedSet],
    distractions: &[(String, f64, f64)],
    samples: &[Sample],
    map: &[(f64, f64)],
) -> Truth {
    let h = m.h;
    let n = m.main.len();
    let hitch = cfg.exercise == Exercise::HipHitch;
    let visible = cfg.visible_compensations();
    let idx = |t: f64| ((t / h).round().max(0.0) as usize).min(n - 1);
    let mut sets = Vec::new();
    for (si, ps) in plan.iter().enumerate() {
        let a = idx(ps.first - 0.6);
        let next_first = plan
            .get(si + 1)
            .map(|p| p.first - 0.6)
            .unwrap_or(n as f64 * h);
        let b = idx((ps.last_end + 1.2).min(next_first));
        // Neutral: the still stance just before the set.
        let r0 = idx(ps.first - 0.5);
        let r1 = idx(ps.first - 0.1).max(r0 + 1);
        let mean = |v: &[f64]| v[r0..r1].iter().sum::<f64>() / (r1 - r0) as f64;
        let main0 = mean(&m.main);
        let obl0 = mean(&m.obl);
        let flex0 = mean(&m.flex);
        let rest_q = m.seg[(r0 + r1) / 2];
        let sig: Vec<f64> = m.main[a..b].iter().map(|x| x - main0).collect();
        let w = ps.range;
        let (band, thr, lead) = if hitch {
            (w * 0.3, w * 0.4, w * 0.08)
        } else {
            ((0.25 * w).max(4.0), 0.4 * w, 0.08 * w)
        };
        let mut reps = Vec::new();
        let found = excursions(&sig, band, thr, lead);
        for (i, &(s, pk, e)) in found.iter().enumerate() {
            let (s, pk, e) = (s + a, pk + a, e + a);
            // The pelvis' flags are judged up to two seconds past the rep's end
            // (a hitch pulled past level finishes there).
            let next = found.get(i + 1).map(|x| x.0 + a).unwrap_or(b);
            let fe = (e + (2.0 / h) as usize).min(next.max(e)).min(n - 1);
            let peak_main = m.main[pk] - main0;
            let peak_deg = match cfg.placement {
                Placement::Ankle => m.seg[s..=e]
                    .iter()
                    .map(|q| rest_q.angle_to(q).to_degrees())
                    .fold(0.0, f64::max),
                Placement::Pelvis => m.obl[s..=e]
                    .iter()
                    .map(|x| (x - obl0).abs())
                    .fold(0.0, f64::max),
            };
            let mut flags = Vec::new();
            let held = (0.15 / h).ceil() as usize;
            let run = |pred: &dyn Fn(f64) -> bool| -> (usize, f64) {
                let (mut best, mut cur, mut ext) = (0usize, 0usize, 0.0f64);
                for x in &m.obl[s..=fe] {
                    let d = x - obl0;
                    if pred(d) {
                        cur += 1;
                        best = best.max(cur);
                        if d.abs() > ext.abs() {
                            ext = d;
                        }
                    } else {
                        cur = 0;
                    }
                }
                (best, ext)
            };
            // Rocking to both sides: in a hip hitch, of the pelvis apart
            // from the hitch itself.
            let rock = |j: usize| {
                if hitch {
                    m.obl[j] - obl0 + m.main[j] - main0
                } else {
                    m.obl[j] - obl0
                }
            };
            let hi = (s..=fe).map(rock).fold(f64::MIN, f64::max);
            let lo = (s..=fe).map(rock).fold(f64::MAX, f64::min);
            let sway = hi > 5.0 && lo < -5.0;
            for &k in &visible {
                let v = match k {
                    FlagKind::TrunkSway if sway => Some((hi - lo) / 2.0),
                    FlagKind::HipHike if !sway => {
                        let (len, ext) = run(&|d| d >= 5.0);
                        (len >= held).then_some(ext)
                    }
                    FlagKind::PelvicDrop if !sway => {
                        // In a hip hitch the drop is the rep: a drop flag is
                        // a drop 5° deeper than the set's working depth.
                        let line = if hitch { -(w + 5.0) } else { -5.0 };
                        let (len, ext) = run(&|d| d <= line);
                        (len >= held).then_some(ext)
                    }
                    FlagKind::Momentum => {
                        let vmax = m.main[s..=pk]
                            .windows(2)
                            .map(|p| (p[1] - p[0]) / h)
                            .fold(0.0, f64::max);
                        (peak_main > 0.0 && vmax > 4.8 * peak_main).then_some(vmax)
                    }
                    FlagKind::PartialRange => (peak_main < 0.7 * w).then_some(peak_main),
                    FlagKind::HipFlexionDrift => {
                        let fmax = m.flex[s..=e].iter().map(|x| x - flex0).fold(0.0, f64::max);
                        (fmax >= 12.0).then_some(fmax)
                    }
                    _ => None,
                };
                if let Some(v) = v {
                    flags.push(TruthFlag {
                        kind: k,
                        value_deg: round3(v),
                    });
                }
            }
            reps.push(TruthRep {
                start_s: round3(dev_time(map, s as f64 * h)),
                end_s: round3(dev_time(map, e as f64 * h)),
                peak_deg: round3(peak_deg),
                flags,
            });
        }
        let (start_s, end_s) = match (reps.first(), reps.last()) {
            (Some(f), Some(l)) => (f.start_s, l.end_s),
            _ => (
                round3(dev_time(map, ps.first)),
                round3(dev_time(map, ps.last_end)),
            ),
        };
        sets.push(TruthSet {
            start_s,
            end_s,
            rep_count: reps.len(),
            reps,
        });
    }
    let duration_s = samples.last().map(|s| round3(s.t)).unwrap_or(0.0);
    let distractions = distractions
        .iter()
        .map(|(name, a, b)| {
            format!(
                "{name} {:.1}-{:.1} s",
                dev_time(map, *a),
                dev_time(map, (*b).min(n as f64 * h))
            )
        })
        .collect();
    Truth {
        config: cfg.clone(),
        duration_s,
        distractions,
        sets,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::sim::{SimModel, PAIRS};
    use crate::Side;

    fn config(ex: Exercise, pl: Placement, seed: u64) -> SimConfig {
        let mut c = SimConfig::new(ex, pl, Side::Right);
        (c.sets, c.reps_min, c.reps_max) = (1, 3, 4);
        (c.rest_min_s, c.rest_max_s) = (12.0, 12.0);
        (c.seed, c.model) = (seed, SimModel::Mocap);
        c
    }

    /// The working joint along a hand-made sequence of clips, at 200 Hz.
    fn track(wants: Vec<Want>) -> (Vec<f64>, f64) {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let lib = Library::new(&mut rng, 0.2);
        let mut a = Animator::new(lib, &mut rng, 0.0, 0.05, [0.0; NC]);
        a.push(Want::new(Kind::Idle, 1.0).set(ABD, 0.0));
        for w in wants {
            a.push(w);
        }
        a.push(Want::new(Kind::Idle, 1.5).set(ABD, 0.0));
        let h = 1.0 / 200.0;
        let n = (a.now() / h) as usize + 10;
        let v = (0..n)
            .map(|k| {
                a.seek(k as f64 * h);
                a.pose(k as f64 * h)[ABD]
            })
            .collect();
        (v, h)
    }

    fn reps_in(sig: &[f64], w: f64) -> usize {
        excursions(sig, (0.25 * w).max(4.0), 0.4 * w, 0.08 * w).len()
    }

    #[test]
    fn every_pair_and_rate_gives_finite_increasing_samples_and_a_truth() {
        for (i, &(ex, pl)) in PAIRS.iter().enumerate() {
            for rate in [25.0, 100.0, 400.0] {
                let mut c = config(ex, pl, 30 + i as u64);
                c.rate_hz = rate;
                let (sim, truth) = MocapSimulator::new(&c).unwrap();
                let s: Vec<Sample> = sim.collect();
                assert!(s.len() as f64 > 5.0 * rate, "{ex} {pl} {rate}");
                assert!(s.iter().all(|x| x.is_finite()), "{ex} {pl} {rate}");
                assert!(s.windows(2).all(|w| w[1].t > w[0].t), "{ex} {pl} {rate}");
                assert_eq!(truth.sets.len(), 1, "{ex} {pl} {rate}");
                assert!(
                    truth.sets[0].rep_count >= 2,
                    "{ex} {pl} {rate}: {:?}",
                    truth.sets
                );
                assert!(truth.duration_s > 0.0);
            }
        }
    }

    #[test]
    fn reads_one_g_at_rest() {
        for &(ex, pl) in &PAIRS {
            let mut c = config(ex, pl, 5);
            (c.noise, c.gyro_bias_dps, c.drop_rate, c.gaps_per_min) = (0.0, 0.0, 0.0, 0.0);
            c.random_mounting = false;
            c.lead_in_s = Some(3.0);
            let (sim, _) = MocapSimulator::new(&c).unwrap();
            let still: Vec<Sample> = sim
                .take_while(|s| s.t < 1.5)
                .filter(|s| s.t > 0.5)
                .collect();
            let g = still.iter().map(|s| s.acc.norm()).sum::<f64>() / still.len() as f64;
            assert!(
                (g - STANDARD_GRAVITY).abs() < 0.25,
                "{ex} {pl}: {g} {:?}",
                &still[..5]
            );
            if pl == Placement::Pelvis && ex != Exercise::SideLyingAbduction {
                // +Y up on the sacrum.
                assert!(still.iter().all(|s| s.acc.y > 9.0), "{ex} {pl}");
            }
            let w = still.iter().map(|s| s.gyr.norm()).fold(0.0, f64::max);
            assert!(
                w < 5.0,
                "{ex} {pl}: {w} {:?}",
                still
                    .iter()
                    .map(|s| (s.t, s.gyr.norm()))
                    .filter(|x| x.1 > 3.0)
                    .collect::<Vec<_>>()
            );
        }
    }

    fn span(d: &str) -> (f64, f64) {
        let body = d.trim_end_matches(" s");
        let times = body.rsplit(' ').next().unwrap();
        let (a, b) = times.split_once('-').unwrap();
        (a.parse().unwrap(), b.parse().unwrap())
    }

    #[test]
    fn truth_sets_do_not_overlap_the_distractions() {
        for seed in 0..4 {
            for &(ex, pl) in &PAIRS[..3] {
                let mut c = config(ex, pl, seed);
                (c.sets, c.reps_min, c.reps_max) = (3, 4, 5);
                (c.rest_min_s, c.rest_max_s) = (25.0, 40.0);
                let (_, truth) = MocapSimulator::new(&c).unwrap();
                assert_eq!(truth.sets.len(), 3);
                assert!(!truth.distractions.is_empty(), "{ex} {pl} {seed}");
                for d in &truth.distractions {
                    let (a, b) = span(d);
                    for s in &truth.sets {
                        assert!(
                            b <= s.start_s || a >= s.end_s,
                            "{d} overlaps {:?}",
                            (s.start_s, s.end_s)
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_blend_that_cuts_a_raise_below_the_rep_threshold_is_not_a_rep() {
        let w = 40.0;
        let mut cut = Want::new(Kind::Raise, 1.0).set(ABD, w);
        cut.cut = 0.25;
        let (sig, h) = track(vec![
            cut,
            Want::new(Kind::Lower, 1.4).set(ABD, 0.0),
            Want::new(Kind::Idle, 1.5).set(ABD, 0.0),
            Want::new(Kind::Raise, 1.0).set(ABD, w),
            Want::new(Kind::Lower, 1.4).set(ABD, 0.0),
        ]);
        // The cut raise turned back well short of the threshold...
        let first = sig[..(3.2 / h) as usize]
            .iter()
            .cloned()
            .fold(0.0, f64::max);
        assert!(first > 2.0 && first < 0.4 * w, "{first}");
        // ...so only the full one is a rep.
        assert_eq!(reps_in(&sig, w), 1);
    }

    #[test]
    fn a_raise_that_stops_short_and_raises_again_is_one_rep() {
        let w = 36.0;
        // Up part way, down a little (never back to neutral), up again, down.
        let (sig, _) = track(vec![
            Want::new(Kind::Raise, 0.8).set(ABD, 0.6 * w),
            Want::new(Kind::Lower, 0.6).set(ABD, 0.45 * w),
            Want::new(Kind::Raise, 0.8).set(ABD, w),
            Want::new(Kind::Lower, 1.4).set(ABD, 0.0),
        ]);
        assert_eq!(reps_in(&sig, w), 1);
        // A raise that freezes part way and then completes is one too.
        let (sig, _) = track(vec![
            Want::new(Kind::Raise, 0.8).set(ABD, 0.5 * w),
            Want::new(Kind::Hold, 1.2),
            Want::new(Kind::Raise, 0.8).set(ABD, w),
            Want::new(Kind::Lower, 1.4).set(ABD, 0.0),
        ]);
        assert_eq!(reps_in(&sig, w), 1);
        // Two that come back to neutral are two.
        let (sig, _) = track(vec![
            Want::new(Kind::Raise, 0.8).set(ABD, w),
            Want::new(Kind::Lower, 1.2).set(ABD, 0.0),
            Want::new(Kind::Idle, 0.6).set(ABD, 0.0),
            Want::new(Kind::Raise, 0.8).set(ABD, w),
            Want::new(Kind::Lower, 1.2).set(ABD, 0.0),
        ]);
        assert_eq!(reps_in(&sig, w), 2);
    }

    #[test]
    fn compensations_appear_when_asked_and_never_at_rate_zero() {
        for (i, &(ex, pl)) in PAIRS.iter().enumerate() {
            let mut c = config(ex, pl, 50 + i as u64);
            (c.sets, c.reps_min, c.reps_max) = (2, 6, 7);
            c.compensation_rate = 0.0;
            let (_, truth) = MocapSimulator::new(&c).unwrap();
            assert!(
                truth
                    .sets
                    .iter()
                    .flat_map(|s| &s.reps)
                    .all(|r| r.flags.is_empty()),
                "{ex} {pl}: {:?}",
                truth.sets
            );
            for kind in c.visible_compensations() {
                c.compensations = vec![kind];
                c.compensation_rate = 1.0;
                c.sets = 1;
                let (_, truth) = MocapSimulator::new(&c).unwrap();
                let n = truth
                    .sets
                    .iter()
                    .flat_map(|s| &s.reps)
                    .filter(|r| r.flags.iter().any(|f| f.kind == kind))
                    .count();
                assert!(n >= 2, "{ex} {pl} {kind:?}: {:?}", truth.sets);
                c.compensations = FlagKind::ALL.to_vec();
            }
        }
    }
}
