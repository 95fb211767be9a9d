//! A seventeenth body model, the hold-out: a muscle-driven body.
//!
//! Every degree of freedom that matters to the sensor is a joint moved by an
//! antagonist pair of Hill-type actuators: the working hip (abduction,
//! flexion, long-axis rotation) and the pelvis (obliquity about the stance
//! hip, tilt, twist, and the lean of the whole body over the stance foot).
//! Each actuator has first-order activation dynamics (activation 10–15 ms,
//! deactivation 40–60 ms, Thelen's activation-dependent time constants), a
//! contractile element with force–length and force–velocity curves and a
//! little fibre damping, a passive parallel element and a series elastic
//! tendon with a toe region; the fibre length is a state, integrated
//! semi-implicitly so a stiff tendon stays stable at the 1 ms step. The
//! joints carry limb inertia and gravity from Winter's anthropometric
//! tables scaled per lifter, the cable (a force toward the pulley at the
//! cuff), the machine's pads or an ankle weight, passive stiffness and
//! damping near the range limits, and contact with the floor, the other
//! leg, the seat or the pads.
//!
//! Reps are planned as minimum-jerk targets (with holds, hesitations,
//! pauses, abandoned reps) and tracked by a muscle-level controller: an
//! imperfect internal model feeds forward the load, a PD term corrects,
//! and the net torque is split into excitations with a co-contraction that
//! varies by lifter and rises with load; tremor (8–12 Hz) and
//! signal-dependent noise ride on the excitations. Momentum is a ballistic
//! burst then relaxed descent; partial range a target short of the set's
//! range; hip hike a pelvic elevation drive; pelvic drop a stance hip that
//! lets go; trunk sway a rocking lean drive; flexion drift a flexor drive
//! in time with the rep. What the body does is whatever the dynamics make
//! of that.
//!
//! The sensor sits on the shank above the ankle (lateral, anterior or
//! anywhere round it, any strap rotation) or on the sacrum, coupled to the
//! bone through a second-order soft-tissue spring–damper (translation and
//! rotation, 8–20 Hz, damping 0.2–0.5). Specific force and angular rate
//! come from the sensor point's motion (lever arm included) by finite
//! differences at 1 kHz, box-filtered to the output rate, then get gyro
//! bias and slow drift, scale and cross-axis errors, white noise,
//! quantisation, range saturation, dropped samples and gaps.
//!
//! Truth is measured on the simulated motion, never copied from the plan:
//! a rep is counted when the leg's rotation from its pose before the set
//! (ankle), the hip's abduction (pelvis-placement abduction, whose peak is
//! the obliquity the rep caused) or the pelvis' obliquity (hip hitch) rose
//! past 30 % of the set's planned range, peaked and came back within 15 %
//! of its peak for 0.12 s. Flags are measured too (obliquity held beyond
//! ±5° for 150 ms, lean beyond ±5° both ways, a 10–90 % rise or fall under
//! 0.3 s, a peak under 70 % of the set's median, flexion beyond 10°).
//!
//! Everything is drawn from ChaCha8 streams seeded from the config.

use super::{gauss, round3};
use crate::motion::FlagKind;
use crate::sample::STANDARD_GRAVITY;
use crate::source::sim::{SimConfig, Truth, TruthFlag, TruthRep, TruthSet};
use crate::{Exercise, Placement, Sample, Side};
use nalgebra::{Matrix3, Rotation3, UnitQuaternion, Vector3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::f64::consts::PI;

/// Integration step of the body, s.
const DT: f64 = 0.001;
/// Gravity, m/s².
const G: f64 = STANDARD_GRAVITY;
/// One truth record every this many steps (100 Hz).
const REC_EVERY: usize = 10;

const ABD: usize = 0;
const FLEX: usize = 1;
const ROT: usize = 2;
const OBL: usize = 3;
const TILT: usize = 4;
const TWIST: usize = 5;
const LEAN: usize = 6;
const NDOF: usize = 7;

/// Maximum shortening velocity, optimal fibre lengths per second.
const VMAX: f64 = 10.0;
/// Fibre damping, in units of the maximum isometric force per normalised velocity.
const BETA: f64 = 0.1;

fn rad(d: f64) -> f64 {
    d * PI / 180.0
}

fn deg(r: f64) -> f64 {
    r * 180.0 / PI
}

/// A target path: knots joined by minimum-jerk segments.
#[derive(Debug, Clone)]
struct Knots {
    k: Vec<(f64, f64)>,
}

impl Knots {
    fn new(v: f64) -> Self {
        Knots { k: vec![(0.0, v)] }
    }

    fn last(&self) -> f64 {
        self.k.last().map_or(0.0, |k| k.1)
    }

    fn last_t(&self) -> f64 {
        self.k.last().map_or(0.0, |k| k.0)
    }

    /// Moves to `v`, arriving at `t`.
    fn to(&mut self, t: f64, v: f64) {
        let lt = self.last_t();
        let t = if t <= lt + 1e-3 { lt + 1e-3 } else { t };
        self.k.push((t, v));
    }

    /// From `t`, swings ±`amp` every 0.55 s (starting 0.3 s in) until
    /// `until`, then back to 0 0.3 s later; returns when it is back.
    fn alternate(&mut self, t: f64, until: f64, amp: f64) -> f64 {
        self.hold(t);
        let mut tt = t + 0.3;
        let mut sgn = 1.0;
        while tt < until {
            self.to(tt, sgn * amp);
            sgn = -sgn;
            tt += 0.55;
        }
        self.to(tt + 0.3, 0.0);
        tt + 0.3
    }

    /// Stays where it is until `t`.
    fn hold(&mut self, t: f64) {
        if t > self.last_t() + 1e-3 {
            let v = self.last();
            self.k.push((t, v));
        }
    }

    /// Value, rate and acceleration at `t`; `cur` is a cursor for forward scans.
    fn at(&self, t: f64, cur: &mut usize) -> (f64, f64, f64) {
        let n = self.k.len();
        if *cur >= n || self.k[*cur].0 > t {
            *cur = self.k.partition_point(|k| k.0 <= t).saturating_sub(1);
        }
        while *cur + 1 < n && self.k[*cur + 1].0 <= t {
            *cur += 1;
        }
        let i = *cur;
        if i + 1 >= n || t < self.k[0].0 {
            return (self.k[i.min(n - 1)].1, 0.0, 0.0);
        }
        let (t0, v0) = self.k[i];
        let (t1, v1) = self.k[i + 1];
        let tt = t1 - t0;
        let s = ((t - t0) / tt).clamp(0.0, 1.0);
        let p = s * s * s * (10.0 - 15.0 * s + 6.0 * s * s);
        let dp = 30.0 * s * s * (1.0 - s) * (1.0 - s) / tt;
        let ddp = (60.0 * s - 180.0 * s * s + 120.0 * s * s * s) / (tt * tt);
        let d = v1 - v0;
        (v0 + d * p, d * dp, d * ddp)
    }
}

fn fl(lm: f64) -> f64 {
    (-(lm - 1.0) * (lm - 1.0) / 0.45).exp()
}

fn fp(lm: f64) -> f64 {
    if lm > 1.0 {
        ((4.0 * (lm - 1.0) / 0.6).exp() - 1.0) / (4f64.exp() - 1.0)
    } else {
        0.0
    }
}

/// Force–velocity: value and slope; `v` in max velocities, positive lengthening.
fn fv(v: f64) -> (f64, f64) {
    if v <= -1.0 {
        (0.0, 0.0)
    } else if v < 0.0 {
        let k = 0.25;
        let den = 1.0 - v / k;
        ((1.0 + v) / den, (1.0 + 1.0 / k) / (den * den))
    } else {
        let b = 0.1;
        (1.5 - 0.5 * b / (b + v), 0.5 * b / ((b + v) * (b + v)))
    }
}

/// Tendon force (in max isometric forces) and its slope, from strain.
fn ft(eps: f64) -> (f64, f64) {
    const E1: f64 = 0.01;
    const KL: f64 = 28.57;
    if eps <= 0.0 {
        (0.0, 0.0)
    } else if eps < E1 {
        (KL * eps * eps / (2.0 * E1), KL * eps / E1)
    } else {
        (KL * E1 / 2.0 + KL * (eps - E1), KL)
    }
}

/// One Hill-type muscle–tendon unit.
#[derive(Debug, Clone)]
struct Muscle {
    fmax: f64,
    lopt: f64,
    lts: f64,
    lmt0: f64,
    a: f64,
    lm: f64,
    v: f64,
    t_act: f64,
    t_deact: f64,
}

impl Muscle {
    fn new(fmax: f64, lopt: f64, lts: f64, lm_rest: f64, t_act: f64, t_deact: f64) -> Self {
        Muscle {
            fmax,
            lopt,
            lts,
            lmt0: lopt * lm_rest + lts * 1.004,
            a: 0.02,
            lm: lm_rest,
            v: 0.0,
            t_act,
            t_deact,
        }
    }

    /// Advances one step with excitation `u` at muscle–tendon length `lmt`; returns the force, N.
    fn step(&mut self, u: f64, lmt: f64) -> f64 {
        let u = u.clamp(0.005, 1.0);
        let tau = if u > self.a {
            self.t_act * (0.5 + 1.5 * self.a)
        } else {
            self.t_deact / (0.5 + 1.5 * self.a)
        };
        self.a += DT * (u - self.a) / tau.max(2.0 * DT);
        let eps = (lmt - self.lm * self.lopt - self.lts) / self.lts;
        let (f_t, k_t) = ft(eps);
        let flv = fl(self.lm);
        let target = f_t - fp(self.lm);
        let mut lo = target.min(-BETA) / BETA - 0.5;
        let mut hi = target.max(0.0) / BETA + 0.5;
        let mut v = self.v.clamp(lo, hi);
        for _ in 0..8 {
            let (f, d) = fv(v);
            let g = self.a * flv * f + BETA * v - target;
            if g.abs() < 1e-9 {
                break;
            }
            if g > 0.0 {
                hi = v;
            } else {
                lo = v;
            }
            let nv = v - g / (self.a * flv * d + BETA);
            v = if nv > lo && nv < hi {
                nv
            } else {
                0.5 * (lo + hi)
            };
        }
        let dvdl = -(k_t * self.lopt / self.lts) / (self.a * flv * fv(v).1 + BETA);
        let dl = DT * VMAX * v / (1.0 - DT * VMAX * dvdl);
        self.lm = (self.lm + dl).clamp(0.3, 2.0);
        self.v = v;
        let eps = (lmt - self.lm * self.lopt - self.lts) / self.lts;
        ft(eps).0 * self.fmax
    }
}

/// One joint: inertia, an agonist (pulls the angle up) and an antagonist.
#[derive(Debug, Clone)]
struct Joint {
    q: f64,
    qd: f64,
    inertia: f64,
    r: f64,
    ag: Muscle,
    an: Muscle,
    lo: f64,
    hi: f64,
    damp: f64,
    /// Controller natural frequency, rad/s.
    wn: f64,
    /// Tremor resonator state.
    tr: (f64, f64),
    /// Slow motor noise.
    mn: f64,
    /// Force the muscles made last step, N·m.
    tau_m: f64,
}

impl Joint {
    #[allow(clippy::too_many_arguments)]
    fn new(
        inertia: f64,
        r: f64,
        fmax: f64,
        lm_ag: f64,
        lm_an: f64,
        lo: f64,
        hi: f64,
        wn: f64,
        t_act: f64,
        t_deact: f64,
    ) -> Self {
        let lopt = r * 2.2;
        let lts = r * 1.8;
        Joint {
            q: 0.0,
            qd: 0.0,
            inertia,
            r,
            ag: Muscle::new(fmax, lopt, lts, lm_ag, t_act, t_deact),
            an: Muscle::new(fmax, lopt, lts, lm_an, t_act, t_deact),
            lo,
            hi,
            damp: 0.4 * inertia.sqrt(),
            wn,
            tr: (0.0, 0.0),
            mn: 0.0,
            tau_m: 0.0,
        }
    }

    /// Passive joint torque: a little capsule stiffness, and steep elasticity with damping beyond the limits.
    fn passive(&self) -> f64 {
        let k0 = 0.4 * self.inertia.sqrt();
        let mut t = -k0 * self.q - self.damp * self.qd;
        let kl = 60.0 * self.inertia.sqrt().max(0.3);
        if self.q > self.hi {
            t -= kl * ((6.0 * (self.q - self.hi)).exp() - 1.0) + 4.0 * self.damp * self.qd;
        } else if self.q < self.lo {
            t += kl * ((6.0 * (self.lo - self.q)).exp() - 1.0) - 4.0 * self.damp * self.qd;
        }
        t
    }
}

/// How the exercise puts the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Standing,
    Lying,
    Seated,
    Hitch,
}

/// Who is lifting.
#[derive(Debug, Clone)]
struct Lifter {
    mass: f64,
    height: f64,
    /// 0 beginner, 1 trained, 2 older adult.
    level: u8,
    strength: f64,
    cocon: f64,
    tremor: f64,
    tremor_hz: f64,
    tempo: f64,
    var: f64,
    /// How well the internal model predicts the load, 0..1.
    ff: f64,
    /// Obliquity that goes with a clean rep, °.
    syn_obl: f64,
    /// Lean toward the stance side with a clean rep, °.
    syn_lean: f64,
    /// Twist with a clean rep, °.
    syn_twist: f64,
    /// How much the lean rolls the pelvis the other way.
    roll_c: f64,
    wn_scale: f64,
    t_act: f64,
    t_deact: f64,
}

impl Lifter {
    fn draw(rng: &mut ChaCha8Rng) -> Self {
        let level = match rng.gen_range(0..10) {
            0..=3 => 0,
            4..=7 => 1,
            _ => 2,
        };
        let height = rng.gen_range(1.50..1.95);
        let bmi: f64 = rng.gen_range(19.0..32.0);
        let mass = bmi * height * height;
        let (strength, cocon, tremor, var) = match level {
            0 => (
                rng.gen_range(0.75..1.1),
                rng.gen_range(0.06..0.14),
                rng.gen_range(0.012..0.03),
                rng.gen_range(0.07..0.14),
            ),
            1 => (
                rng.gen_range(1.05..1.5),
                rng.gen_range(0.03..0.08),
                rng.gen_range(0.006..0.018),
                rng.gen_range(0.03..0.08),
            ),
            _ => (
                rng.gen_range(0.6..0.9),
                rng.gen_range(0.08..0.18),
                rng.gen_range(0.02..0.045),
                rng.gen_range(0.06..0.13),
            ),
        };
        let sign = if rng.gen_bool(0.8) { 1.0 } else { -1.0 };
        Lifter {
            mass,
            height,
            level,
            strength,
            cocon,
            tremor,
            tremor_hz: rng.gen_range(8.0..12.0),
            tempo: match level {
                2 => rng.gen_range(1.05..1.4),
                1 => rng.gen_range(0.8..1.2),
                _ => rng.gen_range(0.85..1.3),
            },
            var,
            ff: rng.gen_range(0.9..0.97),
            syn_obl: sign * rng.gen_range(0.5..2.5),
            syn_lean: rng.gen_range(0.0..2.0),
            syn_twist: rng.gen_range(-2.5..2.5),
            roll_c: rng.gen_range(0.3..1.0),
            wn_scale: rng.gen_range(0.85..1.2),
            t_act: rng.gen_range(0.010..0.015),
            t_deact: rng.gen_range(0.040..0.060),
        }
    }

    fn leg_mass(&self) -> f64 {
        0.161 * self.mass
    }
    fn thigh(&self) -> f64 {
        0.245 * self.height
    }
    fn shank(&self) -> f64 {
        0.246 * self.height
    }
    fn hip_height(&self) -> f64 {
        0.53 * self.height
    }
}

/// A burst or a relaxation of the drive on one joint.
#[derive(Debug, Clone)]
struct Effort {
    dof: usize,
    t0: f64,
    t1: f64,
    burst: f64,
    gain: f64,
}

/// A set as planned.
#[derive(Debug, Clone)]
struct PlannedSet {
    /// When the first rep starts to move.
    t0: f64,
    /// When the last rep is back.
    t1: f64,
    range_deg: f64,
    /// Reps the lifter meant to do (abandoned ones not included); truth never reads it.
    #[cfg_attr(not(test), allow(dead_code))]
    reps: usize,
}

/// The session as the lifter means to do it.
#[derive(Debug, Clone)]
struct Plan {
    dof: Vec<Knots>,
    s_lie: Knots,
    s_seat: Knots,
    heading: Knots,
    speed: Knots,
    strap_twist: Knots,
    strap_az: Knots,
    efforts: Vec<Effort>,
    single: Vec<(f64, f64)>,
    load: Vec<(f64, f64)>,
    jostle: Vec<(f64, f64, f64, f64)>,
    sets: Vec<PlannedSet>,
    distractions: Vec<(f64, f64, String)>,
    duration: f64,
}

fn inside(w: &[(f64, f64)], t: f64) -> bool {
    w.iter().any(|&(a, b)| t >= a && t < b)
}

/// Smooth 0→1→0 weight of a window with `ramp` s edges.
fn window_weight(w: &[(f64, f64)], t: f64, ramp: f64) -> f64 {
    let mut best: f64 = 0.0;
    for &(a, b) in w {
        if t > a - ramp && t < b + ramp {
            let up = ((t - (a - ramp)) / ramp).clamp(0.0, 1.0);
            let down = (((b + ramp) - t) / ramp).clamp(0.0, 1.0);
            let x = up.min(down);
            best = best.max(x * x * (3.0 - 2.0 * x));
        }
    }
    best
}

struct Planner<'a> {
    cfg: &'a SimConfig,
    rng: ChaCha8Rng,
    kind: Kind,
    lifter: Lifter,
    plan: Plan,
    comps: Vec<FlagKind>,
    rep_dof: usize,
    /// Sign of the rep on its joint (+ abduction, − obliquity drop).
    rep_sign: f64,
}

impl Planner<'_> {
    fn hold_all(&mut self, t: f64) {
        for k in &mut self.plan.dof {
            k.hold(t);
        }
    }

    fn range_deg(&mut self) -> f64 {
        let base = match self.kind {
            Kind::Standing => self.rng.gen_range(25.0..45.0),
            Kind::Lying => self.rng.gen_range(30.0..50.0),
            Kind::Seated => self.rng.gen_range(20.0..38.0),
            Kind::Hitch => self.rng.gen_range(5.0..12.0),
        };
        if self.lifter.level == 2 {
            base * 0.85
        } else {
            base
        }
    }

    /// Plans one set starting at `t`; returns when it ends.
    fn plan_set(&mut self, t: f64) -> f64 {
        let range = self.range_deg();
        let n = self.rng.gen_range(self.cfg.reps_min..=self.cfg.reps_max);
        let abandon_at = if self.rng.gen_bool(0.35) {
            Some(self.rng.gen_range(0..=n))
        } else {
            None
        };
        let l = self.lifter.clone();
        let up0 = self.rng.gen_range(0.8..1.3) * l.tempo;
        let top0 = self.rng.gen_range(0.0..0.9) * l.tempo;
        let down0 = self.rng.gen_range(1.0..2.2) * l.tempo;
        let bottom0 = self.rng.gen_range(0.35..1.0) * l.tempo;
        let loaded = matches!(self.kind, Kind::Standing | Kind::Seated);
        let mut reps = 0;
        let mut t = t;
        self.hold_all(t);
        let t_start = t;
        for j in 0..=n {
            if abandon_at == Some(j) {
                // Started, then abandoned: a short lift and straight back.
                let a = range * self.rng.gen_range(0.08..0.2);
                let up = self.rng.gen_range(0.35..0.6);
                let back = self.rng.gen_range(0.5..0.9);
                let k = &mut self.plan.dof[self.rep_dof];
                k.hold(t);
                k.to(t + up, rad(self.rep_sign * a));
                k.to(t + up + back, 0.0);
                t += up + back + self.rng.gen_range(1.0..2.5);
                self.hold_all(t);
            }
            if j == n {
                break;
            }
            let jitter =
                |rng: &mut ChaCha8Rng, x: f64| x * (1.0 + l.var * gauss(rng)).clamp(0.6, 1.5);
            let mut up = jitter(&mut self.rng, up0);
            let mut top = jitter(&mut self.rng, top0 + 0.05);
            let mut down = jitter(&mut self.rng, down0);
            let bottom = jitter(&mut self.rng, bottom0);
            let mut amp = range * (1.0 + 0.5 * l.var * gauss(&mut self.rng)).clamp(0.8, 1.15);
            let comp = if !self.comps.is_empty() && self.rng.gen_bool(self.cfg.compensation_rate) {
                Some(self.comps[self.rng.gen_range(0..self.comps.len())])
            } else {
                None
            };
            if self.rng.gen_bool(0.05) {
                top = self.rng.gen_range(2.0..6.0);
            }
            let hesitate = if self.rng.gen_bool(0.05) {
                Some(self.rng.gen_range(0.3..0.8))
            } else {
                None
            };
            let mut momentum = false;
            match comp {
                Some(FlagKind::Momentum) => {
                    momentum = true;
                    up = self.rng.gen_range(0.22..0.32);
                    top = self.rng.gen_range(0.0..0.1);
                    down = self.rng.gen_range(0.3..0.45);
                }
                Some(FlagKind::PartialRange) => amp *= self.rng.gen_range(0.35..0.55),
                _ => {}
            }
            let (t_up, t_top, t_down, t_end);
            {
                let k = &mut self.plan.dof[self.rep_dof];
                let a = rad(self.rep_sign * amp);
                k.hold(t);
                let mut tt = t;
                if let Some(h) = hesitate {
                    k.to(tt + up * 0.55, a * 0.5);
                    tt += up * 0.55 + h;
                    k.hold(tt);
                    k.to(tt + up * 0.5, a);
                    tt += up * 0.5;
                } else {
                    tt += up;
                    k.to(tt, a);
                }
                t_up = tt;
                tt += top;
                k.hold(tt);
                t_top = tt;
                tt += down;
                k.to(tt, 0.0);
                t_down = tt;
                tt += bottom;
                k.hold(tt);
                t_end = tt;
            }
            if momentum {
                self.plan.efforts.push(Effort {
                    dof: self.rep_dof,
                    t0: t,
                    t1: t + 0.14,
                    burst: 0.6,
                    gain: 1.0,
                });
                self.plan.efforts.push(Effort {
                    dof: self.rep_dof,
                    t0: t_top,
                    t1: t_down + 0.1,
                    burst: 0.0,
                    gain: 0.2,
                });
            }
            // The companions: what the pelvis and the rest of the hip do with the rep.
            let mut comp_amp = [0.0; NDOF];
            let frac = amp / range;
            if self.kind != Kind::Hitch {
                comp_amp[OBL] =
                    l.syn_obl * frac * if self.kind == Kind::Seated { 0.2 } else { 1.0 };
                comp_amp[LEAN] = if self.kind == Kind::Standing {
                    l.syn_lean * frac
                } else {
                    0.0
                };
                comp_amp[TWIST] = l.syn_twist * frac;
                comp_amp[FLEX] = self.rng.gen_range(-2.0..3.0);
                comp_amp[ROT] = self.rng.gen_range(-4.0..4.0);
            } else {
                comp_amp[LEAN] = l.syn_lean * 0.5;
                comp_amp[TWIST] = l.syn_twist * 0.5;
            }
            let mut sway = None;
            match comp {
                Some(FlagKind::HipHike) => comp_amp[OBL] = self.rng.gen_range(8.0..14.0),
                Some(FlagKind::PelvicDrop) => comp_amp[OBL] = -self.rng.gen_range(8.0..13.0),
                Some(FlagKind::HipFlexionDrift) => comp_amp[FLEX] = self.rng.gen_range(15.0..28.0),
                Some(FlagKind::TrunkSway) => sway = Some(self.rng.gen_range(8.0..12.0)),
                _ => {}
            }
            if self.kind == Kind::Hitch && comp == Some(FlagKind::HipHike) {
                // The free side comes back up past level.
                comp_amp[OBL] = 0.0;
                let k = &mut self.plan.dof[OBL];
                let over = rad(self.rng.gen_range(7.0..11.0));
                k.k.retain(|&(kt, _)| kt <= t_top + 1e-9);
                k.to(t_down, over);
                k.to(t_down + 0.9, over);
                k.to(t_end + 0.4, 0.0);
            }
            for (d, &amp_d) in comp_amp.iter().enumerate() {
                if d == self.rep_dof || amp_d == 0.0 {
                    continue;
                }
                if d == LEAN && sway.is_some() {
                    continue;
                }
                let k = &mut self.plan.dof[d];
                let b = k.last();
                let a = b + rad(amp_d);
                k.hold(t);
                k.to(t_up, a);
                k.hold(t_top);
                k.to(t_down, b);
            }
            if let Some(s) = sway {
                let k = &mut self.plan.dof[LEAN];
                let b = k.last();
                k.hold(t);
                let len = t_down - t;
                let n = 4;
                for i in 0..n {
                    let sgn = if i % 2 == 0 { 1.0 } else { -1.0 };
                    k.to(
                        t + len * (i as f64 + 0.8) / (n as f64 + 0.6),
                        b + rad(sgn * s),
                    );
                }
                k.to(t_down + 0.3, b);
                let k = &mut self.plan.dof[TWIST];
                let bt = k.last();
                k.hold(t);
                k.to(t + len * 0.3, bt + rad(s * 0.5));
                k.to(t + len * 0.7, bt - rad(s * 0.5));
                k.to(t_down + 0.3, bt);
            }
            reps += 1;
            t = t_end.max(self.plan.dof.iter().map(|k| k.last_t()).fold(0.0, f64::max));
            self.hold_all(t);
        }
        let t_end = t;
        if loaded {
            self.plan.load.push((t_start - 1.5, t_end + 0.8));
        }
        if self.kind == Kind::Lying {
            self.plan.load.push((t_start - 1.5, t_end + 0.8));
        }
        if matches!(self.kind, Kind::Standing | Kind::Hitch) {
            self.plan.single.push((t_start - 1.2, t_end + 0.6));
        }
        self.plan.sets.push(PlannedSet {
            t0: t_start,
            t1: t_end,
            range_deg: range,
            reps,
        });
        t_end
    }

    fn note(&mut self, t0: f64, t1: f64, what: &str) {
        self.plan
            .distractions
            .push((t0, t1, format!("{what} {t0:.1}-{t1:.1} s")));
    }

    /// A walk out, a turn, back and a turn again; returns when done.
    fn walk(&mut self, t: f64) -> f64 {
        let steps = self.rng.gen_range(3..7) as f64;
        let dur = steps * 0.55;
        let speed = self.rng.gen_range(0.8..1.2);
        let t0 = t;
        let mut t = t;
        for _ in 0..2 {
            self.plan.speed.hold(t);
            self.plan.speed.to(t + 0.6, speed);
            self.plan.speed.hold(t + 0.6 + dur);
            self.plan.speed.to(t + 1.2 + dur, 0.0);
            // The working leg swings through the gait.
            let flex_end = self.plan.dof[FLEX].alternate(t, t + 1.0 + dur, rad(20.0));
            let twist_end = self.plan.dof[TWIST].alternate(t, t + 1.0 + dur, rad(4.0));
            t = (t + 1.2 + dur).max(flex_end).max(twist_end);
            let h = self.plan.heading.last();
            self.plan.heading.hold(t);
            self.plan.heading.to(t + 1.3, h + PI);
            t += 1.5;
        }
        self.hold_all(t);
        self.note(t0, t, "walk to the stack and back");
        t
    }

    /// One fidget while standing or sitting or lying; returns when done.
    fn fidget(&mut self, t: f64, can_stand: bool) -> f64 {
        let choice = self.rng.gen_range(0..5);
        let t0 = t;
        self.hold_all(t);
        let t = match choice {
            0 if can_stand => {
                // Foot up on a bench to adjust the strap (or the clip), then down.
                let k = &mut self.plan.dof[FLEX];
                k.to(t + 1.0, rad(self.rng.gen_range(35.0..55.0)));
                let hold = self.rng.gen_range(4.0..8.0);
                k.hold(t + 1.0 + hold);
                k.to(t + 2.0 + hold, 0.0);
                let tw = self.plan.strap_twist.last() + rad(self.rng.gen_range(-25.0..25.0));
                self.plan.strap_twist.hold(t + 1.5);
                self.plan.strap_twist.to(t + 1.5 + hold * 0.5, tw);
                let az = self.plan.strap_az.last() + rad(self.rng.gen_range(-15.0..15.0));
                self.plan.strap_az.hold(t + 1.5);
                self.plan.strap_az.to(t + 1.5 + hold * 0.5, az);
                self.plan.jostle.push((
                    t + 1.2,
                    t + 0.8 + hold,
                    rad(self.rng.gen_range(3.0..10.0)),
                    self.rng.gen_range(1.5..4.0),
                ));
                self.note(t0, t + 2.0 + hold, "adjusting the strap");
                t + 2.0 + hold
            }
            1 => {
                // A single swing of the leg.
                let k = &mut self.plan.dof[ABD];
                let a = rad(self.rng.gen_range(12.0..28.0))
                    * if self.kind == Kind::Hitch { 0.5 } else { 1.0 };
                k.to(t + 0.35, a);
                k.to(t + 0.8, 0.0);
                self.note(t0, t + 0.8, "single swing");
                t + 0.8
            }
            2 => {
                // Shaking the leg out.
                let k = &mut self.plan.dof[ROT];
                let mut tt = t;
                for i in 0..6 {
                    tt += 0.16;
                    k.to(tt, rad(if i % 2 == 0 { 10.0 } else { -10.0 }));
                }
                k.to(tt + 0.2, 0.0);
                self.note(t0, tt + 0.2, "shaking the leg");
                tt + 0.2
            }
            3 => {
                // Shifting the weight.
                let k = &mut self.plan.dof[LEAN];
                let s = rad(self.rng.gen_range(-3.0..3.0));
                k.to(t + 1.5, s);
                k.hold(t + 3.0);
                k.to(t + 4.5, 0.0);
                self.note(t0, t + 4.5, "shifting weight");
                t + 4.5
            }
            _ => {
                // A small foot shuffle.
                let k = &mut self.plan.dof[FLEX];
                k.to(t + 0.4, rad(10.0));
                k.to(t + 0.9, 0.0);
                let k = &mut self.plan.dof[ABD];
                k.hold(t + 0.2);
                k.to(t + 0.6, rad(5.0));
                k.to(t + 1.1, 0.0);
                self.note(t0, t + 1.1, "shuffling");
                t + 1.1
            }
        };
        self.hold_all(t);
        t
    }

    /// Fills a rest from `t` to `end` (the body is still again by `end`).
    fn rest(&mut self, t: f64, end: f64) {
        let mut t = t + 1.5;
        let last = end - 4.0;
        let posture_change = match self.kind {
            Kind::Lying | Kind::Seated => self.cfg.walking || self.cfg.fidgets,
            _ => false,
        } && self.rng.gen_bool(0.6)
            && last - t > 16.0;
        if posture_change {
            let dur = self.rng.gen_range(2.5..4.0);
            self.change_posture(t, dur, 0.0, ["getting up", "standing up"]);
            t += dur + 0.5;
            self.hold_all(t);
        }
        let back = if posture_change { 4.5 } else { 0.0 };
        let can_stand = !matches!(self.kind, Kind::Lying | Kind::Seated) || posture_change;
        let mut walked = false;
        let mut guard = 0;
        while t < last - back - 2.0 && guard < 20 {
            guard += 1;
            let room = last - back - t;
            if self.cfg.walking && !walked && can_stand && room > 14.0 && self.rng.gen_bool(0.7) {
                t = self.walk(t);
                walked = true;
            } else if self.cfg.fidgets && room > 10.0 && self.rng.gen_bool(0.5) {
                t = self.fidget(t, can_stand);
            } else {
                t += self.rng.gen_range(2.0f64..6.0).min(room);
                self.hold_all(t);
            }
            t += self.rng.gen_range(0.5..2.0);
        }
        if posture_change {
            let t0 = (last - back).max(t);
            let dur = self.rng.gen_range(2.5..3.5);
            self.change_posture(t0, dur, 1.0, ["lying down", "sitting down"]);
        }
        self.hold_all(end);
    }

    /// Moves the posture blend (lying or seated) to `to` over `dur` s from
    /// `t`, noted as `what[0]` lying down, `what[1]` seated.
    fn change_posture(&mut self, t: f64, dur: f64, to: f64, what: [&str; 2]) {
        let (knots, what) = if self.kind == Kind::Lying {
            (&mut self.plan.s_lie, what[0])
        } else {
            (&mut self.plan.s_seat, what[1])
        };
        knots.hold(t);
        knots.to(t + dur, to);
        self.note(t, t + dur, what);
    }
}

fn kind_of(e: Exercise) -> Kind {
    match e {
        Exercise::StandingCableAbduction => Kind::Standing,
        Exercise::SideLyingAbduction | Exercise::Clamshell => Kind::Lying,
        Exercise::SeatedMachineAbduction => Kind::Seated,
        _ => Kind::Hitch,
    }
}

fn make_plan(cfg: &SimConfig, lifter: &Lifter, rng: ChaCha8Rng) -> Plan {
    let kind = kind_of(cfg.exercise);
    let mut comps = cfg.visible_compensations();
    // A hip hitch's rep is itself a drop; the ankle cannot see the pelvis.
    comps.retain(|k| match k {
        FlagKind::PelvicDrop => kind != Kind::Hitch && cfg.placement == Placement::Pelvis,
        FlagKind::HipHike | FlagKind::TrunkSway => cfg.placement == Placement::Pelvis,
        _ => true,
    });
    let s0 = if kind == Kind::Lying { 1.0 } else { 0.0 };
    let seat0 = if kind == Kind::Seated { 1.0 } else { 0.0 };
    let mut p = Planner {
        cfg,
        rng,
        kind,
        lifter: lifter.clone(),
        plan: Plan {
            dof: (0..NDOF).map(|_| Knots::new(0.0)).collect(),
            s_lie: Knots::new(s0),
            s_seat: Knots::new(seat0),
            heading: Knots::new(0.0),
            speed: Knots::new(0.0),
            strap_twist: Knots::new(0.0),
            strap_az: Knots::new(0.0),
            efforts: Vec::new(),
            single: Vec::new(),
            load: Vec::new(),
            jostle: Vec::new(),
            sets: Vec::new(),
            distractions: Vec::new(),
            duration: 0.0,
        },
        comps,
        rep_dof: if kind == Kind::Hitch { OBL } else { ABD },
        rep_sign: if kind == Kind::Hitch { -1.0 } else { 1.0 },
    };
    let lead = cfg.lead_in_s.unwrap_or_else(|| p.rng.gen_range(0.5..3.0));
    // The body settles from its initial state for a moment before the recording starts.
    let mut t = lead.max(0.3) + 0.0;
    for i in 0..cfg.sets {
        let end = p.plan_set(t);
        if i + 1 < cfg.sets {
            let rest = p.rng.gen_range(cfg.rest_min_s..=cfg.rest_max_s);
            p.rest(end, end + rest);
            t = end + rest;
        } else {
            t = end;
        }
    }
    let tail = p.rng.gen_range(2.0..5.0);
    p.plan.duration = t + tail;
    p.plan
}

/// Where everything is at one instant.
struct Pose {
    pelvis: Vector3<f64>,
    r_p: Rotation3<f64>,
    hip: Vector3<f64>,
    r_leg: Rotation3<f64>,
    r_shank: Rotation3<f64>,
    knee: Vector3<f64>,
    ankle: Vector3<f64>,
    abd_axis: Vector3<f64>,
    flex_axis: Vector3<f64>,
}

/// The body and its sensor mounting.
struct Body {
    kind: Kind,
    f: f64,
    lifter: Lifter,
    w: f64,
    j: Vec<Joint>,
    base: Vector3<f64>,
    /// Sensor on the shank: height above the ankle, m; angle round the shank; tilt.
    mount_h: f64,
    mount_az0: f64,
    mount_twist0: f64,
    mount_tilt: Rotation3<f64>,
    pelvis_mount: Rotation3<f64>,
    placement: Placement,
    load_kg: f64,
    pad_nm: f64,
    ankle_kg: f64,
    pulley: Vector3<f64>,
}

impl Body {
    fn pose(&self, q: &[f64; NDOF], s_lie: f64, s_seat: f64, heading: f64, bob: f64) -> Pose {
        let l = &self.lifter;
        let f = self.f;
        let h = l.hip_height();
        let lean = q[LEAN];
        let stand_w = 1.0 - s_lie - s_seat;
        let p_stand = Vector3::new(0.0, f * self.w - f * h * lean.sin(), h * lean.cos() + bob);
        let p_seat = Vector3::new(0.0, 0.0, 0.47 + 0.3 * lean.sin().abs());
        let p_lie = Vector3::new(0.0, 0.0, 0.17);
        let rel = p_stand * stand_w + p_seat * s_seat + p_lie * s_lie;
        let rz = Rotation3::from_axis_angle(&Vector3::z_axis(), heading);
        let pelvis = self.base + rz * rel;
        let roll = f * (q[OBL] - self.lifter.roll_c * lean * stand_w);
        let r_p = rz
            * Rotation3::from_axis_angle(&Vector3::z_axis(), q[TWIST])
            * Rotation3::from_axis_angle(&Vector3::x_axis(), f * PI / 2.0 * s_lie)
            * Rotation3::from_axis_angle(&Vector3::x_axis(), roll)
            * Rotation3::from_axis_angle(&Vector3::y_axis(), q[TILT]);
        let hip = pelvis + r_p * Vector3::new(0.0, f * self.w, 0.0);
        let (r_abd, e_abd) = if self.kind == Kind::Seated {
            (
                Rotation3::from_axis_angle(&Vector3::z_axis(), f * q[ABD]),
                Vector3::new(0.0, 0.0, f),
            )
        } else {
            (
                Rotation3::from_axis_angle(&Vector3::x_axis(), f * q[ABD]),
                Vector3::new(f, 0.0, 0.0),
            )
        };
        let flex = q[FLEX] + PI / 2.0 * s_seat;
        let r_pa = r_p * r_abd;
        let r_leg = r_pa
            * Rotation3::from_axis_angle(&Vector3::y_axis(), -flex)
            * Rotation3::from_axis_angle(&Vector3::z_axis(), f * q[ROT]);
        let r_shank = r_leg * Rotation3::from_axis_angle(&Vector3::y_axis(), PI / 2.0 * s_seat);
        let knee = hip + r_leg * Vector3::new(0.0, 0.0, -l.thigh());
        let ankle = knee + r_shank * Vector3::new(0.0, 0.0, -l.shank());
        Pose {
            pelvis,
            r_p,
            hip,
            r_leg,
            r_shank,
            knee,
            ankle,
            abd_axis: r_p * e_abd,
            flex_axis: r_pa * Vector3::new(0.0, -1.0, 0.0),
        }
    }

    /// The bone frame and point the sensor rides on.
    fn bone(&self, pose: &Pose, az: f64, twist: f64) -> (Vector3<f64>, Rotation3<f64>) {
        match self.placement {
            Placement::Ankle => {
                let n = Vector3::new(az.cos(), az.sin(), 0.0);
                let up = Vector3::z();
                let u2 = n.cross(&up);
                let x = up * twist.cos() + u2 * twist.sin();
                let y = n.cross(&x);
                let m = Rotation3::from_matrix_unchecked(Matrix3::from_columns(&[x, y, n]));
                let point =
                    pose.ankle + pose.r_shank * (Vector3::new(0.0, 0.0, self.mount_h) + n * 0.045);
                (point, pose.r_shank * m * self.mount_tilt)
            }
            Placement::Pelvis => {
                let point = pose.pelvis + pose.r_p * Vector3::new(-0.1, 0.0, 0.03);
                (point, pose.r_p * self.pelvis_mount)
            }
        }
    }
}

/// One record of the motion for truth, 100 Hz.
#[derive(Debug, Clone)]
struct Rec {
    t: f64,
    shank: UnitQuaternion<f64>,
    abd: f64,
    obl: f64,
    lean: f64,
    flex: f64,
}

/// The sensor's clean reading at 1 kHz: specific force, m/s², and rate, °/s.
type Clean = [f32; 6];

/// Runs the body through the plan: the clean sensor stream and the records for truth.
fn simulate_body(
    cfg: &SimConfig,
    body: &mut Body,
    plan: &Plan,
    rng: &mut ChaCha8Rng,
) -> (Vec<Clean>, Vec<Rec>) {
    let n = (plan.duration / DT).ceil() as usize + 2;
    let mut out: Vec<Clean> = Vec::with_capacity(n);
    let mut recs = Vec::with_capacity(n / REC_EVERY + 2);
    let l = body.lifter.clone();
    let mut curs = [0usize; NDOF];
    let (mut c_lie, mut c_seat, mut c_head, mut c_speed, mut c_tw, mut c_az) = (0, 0, 0, 0, 0, 0);
    // Soft tissue: translation and rotation.
    let wt = 2.0 * PI * rng.gen_range(8.0..20.0);
    let zt = rng.gen_range(0.2..0.5);
    let wr = 2.0 * PI * rng.gen_range(8.0..20.0);
    let zr = rng.gen_range(0.2..0.5);
    let kr = if cfg.placement == Placement::Ankle {
        rng.gen_range(0.02..0.06)
    } else {
        rng.gen_range(0.01..0.03)
    };
    let mut dlt = Vector3::zeros();
    let mut dltd = Vector3::zeros();
    let mut psi = Vector3::zeros();
    let mut psid = Vector3::zeros();
    let mut hist: Vec<(Vector3<f64>, Rotation3<f64>)> = Vec::with_capacity(3);
    let mut prev_w = Vector3::zeros();
    let tr_w = 2.0 * PI * l.tremor_hz;
    let tr_z = 0.15;
    let tr_gain = (4.0 * tr_z * tr_w * tr_w * tr_w).sqrt();
    let m_leg = l.leg_mass();
    let m_thigh = 0.1 * l.mass;
    let m_shank = 0.0465 * l.mass;
    let m_foot = 0.0145 * l.mass;
    let h_com = 0.56 * l.height;
    // Settle the muscles with the joints held, before the recording starts.
    let warm = 400;
    let steps = n + warm;
    let mut q = [0.0; NDOF];
    for step in 0..steps {
        let t = step as f64 * DT - warm as f64 * DT;
        let tc = t.max(0.0);
        let s_lie = plan.s_lie.at(tc, &mut c_lie).0.clamp(0.0, 1.0);
        let s_seat = plan.s_seat.at(tc, &mut c_seat).0.clamp(0.0, 1.0);
        let heading = plan.heading.at(tc, &mut c_head).0;
        let speed = plan.speed.at(tc, &mut c_speed).0;
        let standing = (1.0 - s_lie - s_seat).clamp(0.0, 1.0);
        let single = inside(&plan.single, tc) && standing > 0.5;
        let load_w = window_weight(&plan.load, tc, 0.8);
        let bob = 0.015 * (speed / 1.0) * (2.0 * PI * tc / 0.55).sin().powi(2);
        if step >= warm {
            body.base += Vector3::new(heading.cos(), heading.sin(), 0.0) * speed * DT;
        }
        for (d, jt) in body.j.iter().enumerate() {
            q[d] = jt.q;
        }
        let pose = body.pose(&q, s_lie, s_seat, heading, bob);
        // External torques on each joint: gravity, load, contact, support.
        let gvec = Vector3::new(0.0, 0.0, -G);
        let thigh_c = pose.hip + pose.r_leg * Vector3::new(0.0, 0.0, -0.433 * l.thigh());
        let shank_c = pose.knee + pose.r_shank * Vector3::new(0.0, 0.0, -0.433 * l.shank());
        let aw = if body.kind == Kind::Lying {
            body.ankle_kg * load_w
        } else {
            0.0
        };
        let moment = (thigh_c - pose.hip).cross(&(gvec * m_thigh))
            + (shank_c - pose.hip).cross(&(gvec * m_shank))
            + (pose.ankle - pose.hip).cross(&(gvec * (m_foot + aw)));
        let mut cable = Vector3::zeros();
        if body.kind == Kind::Standing && load_w > 0.0 {
            let rz = Rotation3::from_axis_angle(&Vector3::z_axis(), heading);
            let pul = body.base + rz * body.pulley;
            let dir = (pul - pose.ankle).normalize();
            cable = (pose.ankle - pose.hip).cross(&(dir * body.load_kg * G * load_w));
        }
        let leg_moment = moment + cable;
        let mut ext = [0.0; NDOF];
        ext[ABD] = pose.abd_axis.dot(&leg_moment);
        ext[FLEX] = pose.flex_axis.dot(&leg_moment);
        ext[ROT] = (pose.r_leg * Vector3::new(0.0, 0.0, body.f)).dot(&leg_moment);
        if body.kind == Kind::Seated && load_w > 0.0 {
            ext[ABD] -= body.pad_nm * load_w * (0.8 + 0.4 * q[ABD].max(0.0));
        }
        // Contact: the other leg, the floor, the seat's stop.
        let stop = match body.kind {
            Kind::Lying => Some((-0.02, 2500.0)),
            Kind::Seated => Some((-0.05, 2500.0)),
            _ if single => Some((rad(-12.0), 800.0)),
            _ => Some((-0.01, 1500.0)),
        };
        if let Some((q0, k)) = stop {
            let jt = &body.j[ABD];
            if jt.q < q0 {
                ext[ABD] += k * (q0 - jt.q) - 40.0 * jt.qd.min(0.0);
            }
        }
        let m_hat = l.mass - m_leg;
        let mut known = ext;
        if single {
            let rep = -body.j[ABD].tau_m;
            let g_obl = if body.kind == Kind::Hitch {
                -m_hat * G * 0.09 * q[OBL].cos()
            } else {
                0.6 * rep - 0.3 * m_leg * G * 0.09
            };
            ext[OBL] = g_obl;
            known[OBL] = g_obl;
            let shift = -m_leg * G * 0.447 * l.hip_height() * q[ABD].sin() * (1.0 - s_seat);
            ext[LEAN] = l.mass * G * h_com * q[LEAN].sin() + shift * 0.3;
            known[LEAN] = ext[LEAN];
            ext[TWIST] = -60.0 * q[TWIST] - 10.0 * body.j[TWIST].qd;
        } else {
            ext[OBL] = -1500.0 * q[OBL] - 60.0 * body.j[OBL].qd;
            ext[LEAN] = -4000.0 * q[LEAN] - 300.0 * body.j[LEAN].qd;
            ext[TWIST] = -900.0 * q[TWIST] - 40.0 * body.j[TWIST].qd;
            if body.kind == Kind::Lying {
                ext[OBL] = -300.0 * q[OBL] - 20.0 * body.j[OBL].qd - 0.5 * body.j[ABD].tau_m;
                known[OBL] = -0.5 * body.j[ABD].tau_m;
            } else {
                known[OBL] = 0.0;
            }
            known[LEAN] = 0.0;
        }
        ext[TILT] = -300.0 * q[TILT] - 20.0 * body.j[TILT].qd;
        known[TWIST] = 0.0;
        known[TILT] = 0.0;
        for d in 0..NDOF {
            let held = step < warm;
            let (qd_, vd_, ad_) = plan.dof[d].at(tc, &mut curs[d]);
            let mut gain = 1.0;
            let mut burst = 0.0;
            for e in &plan.efforts {
                if e.dof == d && tc >= e.t0 && tc < e.t1 {
                    gain *= e.gain;
                    burst += e.burst;
                }
            }
            let jt = &mut body.j[d];
            // Tremor and motor noise ride on the drive.
            let wn_ = gauss(rng) / DT.sqrt();
            jt.tr.1 += DT * (-tr_w * tr_w * jt.tr.0 - 2.0 * tr_z * tr_w * jt.tr.1 + tr_gain * wn_);
            jt.tr.0 += DT * jt.tr.1;
            jt.mn += DT * (-jt.mn / 0.1) + 0.2 * DT.sqrt() * gauss(rng);
            let wn = jt.wn * l.wn_scale * gain.sqrt();
            let kp = jt.inertia * wn * wn;
            let kd = 2.0 * jt.inertia * wn * if gain < 1.0 { 0.3 } else { 1.0 };
            let tau_d = jt.inertia * ad_ * gain.min(1.0) + kp * (qd_ - jt.q) + kd * (vd_ - jt.qd)
                - l.ff * known[d];
            let fnet = tau_d / jt.r;
            let load_c = 1.0
                + 1.5 * load_w * (body.load_kg / 10.0 + body.pad_nm / 60.0 + body.ankle_kg / 4.0);
            let c = l.cocon * load_c * if gain < 1.0 { 0.3 } else { 1.0 };
            let noise_u = 0.03 * jt.mn;
            let tremor_u = l.tremor * jt.tr.0;
            let u_ag = c + fnet.max(0.0) / (jt.ag.fmax * fl(jt.ag.lm) * 0.95) + burst;
            let u_an = c + (-fnet).max(0.0) / (jt.an.fmax * fl(jt.an.lm) * 0.95);
            let u_ag = u_ag * (1.0 + noise_u) + tremor_u * (0.3 + u_ag);
            let u_an = u_an * (1.0 - noise_u) - tremor_u * (0.3 + u_an);
            let f_ag = jt.ag.step(u_ag, jt.ag.lmt0 - jt.r * jt.q);
            let f_an = jt.an.step(u_an, jt.an.lmt0 + jt.r * jt.q);
            jt.tau_m = jt.r * (f_ag - f_an);
            if held {
                continue;
            }
            let tau = jt.tau_m + ext[d] + jt.passive();
            let qdd = tau / jt.inertia;
            jt.qd += qdd * DT;
            jt.q += jt.qd * DT;
        }
        if step < warm {
            continue;
        }
        // The sensor's bone point and frame; its reading comes one step late (central differences).
        let az = body.mount_az0 + plan.strap_az.at(tc, &mut c_az).0;
        let mut tw = body.mount_twist0 + plan.strap_twist.at(tc, &mut c_tw).0;
        let mut jost = Rotation3::identity();
        for &(a, b, amp, hz) in &plan.jostle {
            if tc >= a && tc < b {
                let e = ((tc - a).min(b - tc) / 0.5).min(1.0);
                let ph = 2.0 * PI * hz * tc;
                tw += amp * e * ph.sin();
                jost = Rotation3::from_axis_angle(
                    &Vector3::x_axis(),
                    0.5 * amp * e * (1.3 * ph).cos(),
                );
            }
        }
        let (pt, rb) = body.bone(&pose, az, tw);
        let rb = rb * jost;
        if step % REC_EVERY == 0 {
            recs.push(Rec {
                t: tc,
                shank: UnitQuaternion::from_rotation_matrix(&pose.r_shank),
                abd: deg(q[ABD]),
                obl: deg(q[OBL]),
                lean: deg(q[LEAN]),
                flex: deg(q[FLEX]),
            });
        }
        hist.push((pt, rb));
        if hist.len() == 3 {
            let (p0, r0) = hist[0];
            let (p1, r1) = hist[1];
            let (p2, r2) = hist[2];
            let acc_b = (p2 - 2.0 * p1 + p0) / (DT * DT);
            let w_b = (r2 * r0.transpose()).scaled_axis() / (2.0 * DT);
            let alpha = (w_b - prev_w) / DT;
            prev_w = w_b;
            // Soft tissue, driven by the bone's motion.
            let dd = -wt * wt * dlt - 2.0 * zt * wt * dltd - acc_b;
            dltd += dd * DT;
            dlt += dltd * DT;
            let acc_s = acc_b + dd;
            let pd = -wr * wr * psi - 2.0 * zr * wr * psid - kr * alpha;
            psid += pd * DT;
            psi += psid * DT;
            let rs = Rotation3::new(psi) * r1;
            let fsp = rs.transpose() * (acc_s + Vector3::new(0.0, 0.0, G));
            let gyr = rs.transpose() * (w_b + psid);
            let gd = gyr * (180.0 / PI);
            out.push([
                fsp.x as f32,
                fsp.y as f32,
                fsp.z as f32,
                gd.x as f32,
                gd.y as f32,
                gd.z as f32,
            ]);
            hist.remove(0);
        }
    }
    // The first reading (time 0) has no earlier neighbour: repeat the next one.
    if let Some(&first) = out.first() {
        out.insert(0, first);
    }
    (out, recs)
}

fn build_body(cfg: &SimConfig, lifter: &Lifter, rng: &mut ChaCha8Rng) -> Body {
    let kind = kind_of(cfg.exercise);
    let free = cfg.exercise.free_side(cfg.side);
    let f = if free == Side::Left { 1.0 } else { -1.0 };
    let l = lifter;
    let m_leg = l.leg_mass();
    let leg_len = l.hip_height();
    let i_leg = m_leg * (0.56 * leg_len).powi(2);
    let sc = l.mass / 75.0;
    let st = l.strength;
    let (ta, td) = (l.t_act, l.t_deact);
    let mut j = vec![
        Joint::new(
            i_leg,
            0.055,
            2600.0 * sc * st,
            1.12,
            0.9,
            rad(-25.0),
            rad(60.0),
            9.0,
            ta,
            td,
        ),
        Joint::new(
            i_leg,
            0.05,
            2400.0 * sc * st,
            1.0,
            1.0,
            rad(-25.0),
            rad(70.0),
            8.0,
            ta,
            td,
        ),
        Joint::new(
            0.15 * sc,
            0.03,
            900.0 * sc * st,
            1.0,
            1.0,
            rad(-40.0),
            rad(40.0),
            10.0,
            ta,
            td,
        ),
        Joint::new(
            4.0 * sc,
            0.06,
            3200.0 * sc * st,
            1.0,
            1.0,
            rad(-18.0),
            rad(18.0),
            11.0,
            ta,
            td,
        ),
        Joint::new(
            4.0 * sc,
            0.05,
            2000.0 * sc * st,
            1.0,
            1.0,
            rad(-20.0),
            rad(20.0),
            7.0,
            ta,
            td,
        ),
        Joint::new(
            3.0 * sc,
            0.05,
            1500.0 * sc * st,
            1.0,
            1.0,
            rad(-35.0),
            rad(35.0),
            7.0,
            ta,
            td,
        ),
        Joint::new(
            l.mass * (0.56 * l.height).powi(2),
            0.06,
            5000.0 * sc * st,
            1.0,
            1.0,
            rad(-20.0),
            rad(20.0),
            4.0,
            ta,
            td,
        ),
    ];
    if kind == Kind::Hitch {
        // The free leg hangs relaxed; the pelvis works.
        j[ABD].lo = rad(-10.0);
    }
    let (mount_az0, mount_twist0, mount_tilt) = if cfg.random_mounting {
        let lateral = f * PI / 2.0;
        let az = match rng.gen_range(0..3) {
            0 => lateral + rng.gen_range(-0.4..0.4),
            1 => rng.gen_range(-0.4..0.4),
            _ => rng.gen_range(-PI..PI),
        };
        (
            az,
            rng.gen_range(-PI..PI),
            Rotation3::from_euler_angles(
                rng.gen_range(-0.15..0.15),
                rng.gen_range(-0.15..0.15),
                0.0,
            ),
        )
    } else {
        (f * PI / 2.0, 0.0, Rotation3::identity())
    };
    // Sacrum: +X right, +Y up, +Z back.
    let m0 = Rotation3::from_matrix_unchecked(Matrix3::from_columns(&[
        Vector3::new(0.0, -1.0, 0.0),
        Vector3::new(0.0, 0.0, 1.0),
        Vector3::new(-1.0, 0.0, 0.0),
    ]));
    let pelvis_mount = if cfg.random_mounting {
        m0 * Rotation3::from_euler_angles(
            rng.gen_range(-0.15..0.15),
            rng.gen_range(-0.15..0.15),
            rng.gen_range(-0.15..0.15),
        )
    } else {
        m0
    };
    let load_kg = rng.gen_range(2.0..7.0) * if l.level == 2 { 0.6 } else { 1.0 };
    Body {
        kind,
        f,
        lifter: l.clone(),
        w: 0.09 * l.height / 1.75,
        j,
        base: Vector3::zeros(),
        mount_h: rng.gen_range(0.08..0.18),
        mount_az0,
        mount_twist0,
        mount_tilt,
        pelvis_mount,
        placement: cfg.placement,
        load_kg,
        pad_nm: rng.gen_range(15.0..50.0) * l.strength,
        ankle_kg: if rng.gen_bool(0.5) {
            rng.gen_range(0.5..3.0)
        } else {
            0.0
        },
        pulley: Vector3::new(0.05, -f * rng.gen_range(0.6..1.0), 0.05),
    }
}

/// Longest value held for `hold` records: the largest `v` with x ≥ v throughout some window.
fn sustained_max(x: &[f64], hold: usize) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    let h = hold.max(1).min(x.len());
    (0..=x.len() - h)
        .map(|i| x[i..i + h].iter().copied().fold(f64::INFINITY, f64::min))
        .fold(f64::NEG_INFINITY, f64::max)
}

/// Measures the reps of one set on the motion.
fn measure_set(
    cfg: &SimConfig,
    kind: Kind,
    set: &PlannedSet,
    recs: &[Rec],
    visible: &[FlagKind],
) -> Option<TruthSet> {
    let lo_t = set.t0 - 0.6;
    let hi_t = set.t1 + 1.2;
    let i0 = recs.partition_point(|r| r.t < lo_t);
    let i1 = recs.partition_point(|r| r.t <= hi_t);
    let ref_i = recs
        .partition_point(|r| r.t < set.t0 - 0.25)
        .min(recs.len().checked_sub(1)?);
    let rf = recs[ref_i].clone();
    let w = &recs[i0..i1];
    let pelvis_count = kind == Kind::Hitch;
    let x: Vec<f64> = w
        .iter()
        .map(|r| match (cfg.placement, pelvis_count) {
            (_, true) => -(r.obl - rf.obl),
            (Placement::Ankle, _) => deg(rf.shank.angle_to(&r.shank)),
            (Placement::Pelvis, _) => r.abd - rf.abd,
        })
        .collect();
    let range = set.range_deg;
    let on = 0.3 * range;
    let hold = 12; // 0.12 s at 100 Hz
    let mut reps: Vec<(usize, usize, usize)> = Vec::new();
    let mut i = 0;
    while i < x.len() {
        if x[i] <= on {
            i += 1;
            continue;
        }
        // In a rep: follow it to its peak and its return.
        let mut pk = i;
        let mut j = i;
        let mut end = None;
        while j < x.len() {
            if x[j] > x[pk] {
                pk = j;
            }
            if x[j] <= 0.15 * x[pk] {
                let stays = (j..(j + hold).min(x.len())).all(|k| x[k] <= 0.15 * x[pk]);
                if stays {
                    end = Some(j);
                    break;
                }
            }
            j += 1;
        }
        let Some(e) = end else { break };
        let mut s = i;
        while s > 0 && x[s - 1] > 0.15 * x[pk] {
            s -= 1;
        }
        // Two reps run together without a return are one rep.
        reps.push((s, e, pk));
        i = e + 1;
    }
    if reps.is_empty() {
        return None;
    }
    let peaks: Vec<f64> = reps.iter().map(|&(_, _, p)| x[p]).collect();
    let mut sorted = peaks.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let median = sorted[sorted.len() / 2];
    let mut out = Vec::new();
    for (n, &(s, e, pk)) in reps.iter().enumerate() {
        // Form is judged over the rep and the moment after it, up to the next rep.
        let next = reps.get(n + 1).map_or(w.len() - 1, |r| r.0);
        let seg = &w[s..=(e + 60).min(next).max(e)];
        let obl: Vec<f64> = seg.iter().map(|r| r.obl - rf.obl).collect();
        let lean: Vec<f64> = seg.iter().map(|r| r.lean - rf.lean).collect();
        let peak_deg = match (cfg.placement, pelvis_count) {
            (Placement::Ankle, false) => x[pk],
            (_, true) => x[pk],
            (Placement::Pelvis, false) => obl
                .iter()
                .fold(0.0f64, |m, v| if v.abs() > m.abs() { *v } else { m })
                .abs(),
        };
        let mut flags = Vec::new();
        let hike = sustained_max(&obl, 15);
        let neg: Vec<f64> = obl.iter().map(|v| -v).collect();
        let drop = sustained_max(&neg, 15);
        if hike >= 5.0 {
            flags.push(TruthFlag {
                kind: FlagKind::HipHike,
                value_deg: round3(hike),
            });
        }
        if drop >= 5.0 && !pelvis_count {
            flags.push(TruthFlag {
                kind: FlagKind::PelvicDrop,
                value_deg: round3(drop),
            });
        }
        let lmax = lean.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lmin = lean.iter().copied().fold(f64::INFINITY, f64::min);
        if lmax > 5.0 && lmin < -5.0 {
            flags.push(TruthFlag {
                kind: FlagKind::TrunkSway,
                value_deg: round3(lmax.max(-lmin)),
            });
        }
        // Rise and fall, 10–90 % of this rep's peak.
        let p = x[pk];
        let rise = {
            let a = (s..=pk).find(|&k| x[k] >= 0.1 * p);
            let b = (s..=pk).find(|&k| x[k] >= 0.9 * p);
            match (a, b) {
                (Some(a), Some(b)) => (b - a) as f64 * 0.01,
                _ => 1.0,
            }
        };
        let fall = {
            let a = (pk..=e).find(|&k| x[k] <= 0.9 * p);
            let b = (pk..=e).find(|&k| x[k] <= 0.1 * p);
            match (a, b) {
                (Some(a), Some(b)) => (b - a) as f64 * 0.01,
                _ => 1.0,
            }
        };
        if !pelvis_count && (rise < 0.3 || fall < 0.3) {
            flags.push(TruthFlag {
                kind: FlagKind::Momentum,
                value_deg: round3(p),
            });
        }
        if reps.len() >= 3 && p < 0.7 * median {
            flags.push(TruthFlag {
                kind: FlagKind::PartialRange,
                value_deg: round3(p),
            });
        }
        let flex = seg
            .iter()
            .map(|r| r.flex - rf.flex)
            .fold(f64::NEG_INFINITY, f64::max);
        if !pelvis_count && flex >= 10.0 {
            flags.push(TruthFlag {
                kind: FlagKind::HipFlexionDrift,
                value_deg: round3(flex),
            });
        }
        flags.retain(|f| visible.contains(&f.kind));
        out.push(TruthRep {
            start_s: round3(w[s].t),
            end_s: round3(w[e].t),
            peak_deg: round3(peak_deg),
            flags,
        });
    }
    Some(TruthSet {
        start_s: out[0].start_s,
        end_s: out[out.len() - 1].end_s,
        rep_count: out.len(),
        reps: out,
    })
}

/// The sensor's own errors.
#[derive(Debug, Clone)]
struct SensorErrors {
    bias: Vector3<f64>,
    drift_amp: Vector3<f64>,
    drift_period: f64,
    drift_phase: Vector3<f64>,
    acc_m: Matrix3<f64>,
    gyr_m: Matrix3<f64>,
    acc_lsb: f64,
    gyr_lsb: f64,
    acc_range: f64,
    gyr_range: f64,
    acc_noise: f64,
    gyr_noise: f64,
}

impl SensorErrors {
    fn draw(cfg: &SimConfig, rng: &mut ChaCha8Rng) -> Self {
        let mut v = || {
            Vector3::new(
                rng.gen_range(-1.0..=1.0),
                rng.gen_range(-1.0..=1.0),
                rng.gen_range(-1.0..=1.0),
            )
        };
        let bias = v() * cfg.gyro_bias_dps;
        let drift_amp = v() * 0.15 * cfg.gyro_bias_dps;
        let drift_phase = v() * PI;
        let mut mis = |scale: f64, cross: f64| {
            let mut m = Matrix3::identity();
            for r in 0..3 {
                for c in 0..3 {
                    m[(r, c)] += if r == c {
                        rng.gen_range(-scale..scale)
                    } else {
                        rng.gen_range(-cross..cross)
                    };
                }
            }
            m
        };
        let acc_m = mis(0.015, 0.01);
        let gyr_m = mis(0.02, 0.01);
        let gyr_range = if rng.gen_bool(0.5) { 2000.0 } else { 1000.0 };
        SensorErrors {
            bias,
            drift_amp,
            drift_period: rng.gen_range(300.0..900.0),
            drift_phase,
            acc_m,
            gyr_m,
            acc_lsb: 8.0 * G / 32768.0,
            gyr_lsb: gyr_range / 32768.0,
            acc_range: 8.0 * G,
            gyr_range,
            acc_noise: 0.025 * cfg.noise,
            gyr_noise: 0.1 * cfg.noise,
        }
    }
}

/// The hill model's session: an iterator of samples.
pub struct HillSimulator {
    clean: Vec<Clean>,
    rng: ChaCha8Rng,
    rate: f64,
    index: u64,
    count: u64,
    drop_rate: f64,
    gaps: Vec<f64>,
    err: SensorErrors,
}

impl HillSimulator {
    /// Simulates the session `cfg` asks for: the sample stream and its truth, measured on the motion.
    pub fn new(cfg: &SimConfig) -> Result<(HillSimulator, Truth), String> {
        cfg.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x6869_6c6c_0000_0017);
        let lifter = Lifter::draw(&mut rng);
        let plan_rng = ChaCha8Rng::seed_from_u64(rng.gen());
        let plan = make_plan(cfg, &lifter, plan_rng);
        let mut body_rng = ChaCha8Rng::seed_from_u64(rng.gen());
        let mut body = build_body(cfg, &lifter, &mut body_rng);
        let (clean, recs) = simulate_body(cfg, &mut body, &plan, &mut body_rng);
        let visible = cfg.visible_compensations();
        let sets: Vec<TruthSet> = plan
            .sets
            .iter()
            .filter_map(|s| measure_set(cfg, body.kind, s, &recs, &visible))
            .collect();
        let mut srng = ChaCha8Rng::seed_from_u64(rng.gen());
        let err = SensorErrors::draw(cfg, &mut srng);
        let duration = plan.duration;
        let n_gaps = (cfg.gaps_per_min * duration / 60.0).round() as usize;
        let mut gaps: Vec<f64> = (0..n_gaps).map(|_| srng.gen_range(0.0..duration)).collect();
        gaps.sort_by(|a, b| a.total_cmp(b));
        let truth = Truth {
            config: cfg.clone(),
            duration_s: round3(duration),
            distractions: plan.distractions.iter().map(|d| d.2.clone()).collect(),
            sets,
        };
        Ok((
            HillSimulator {
                count: (duration * cfg.rate_hz) as u64,
                clean,
                rng: srng,
                rate: cfg.rate_hz,
                index: 0,
                drop_rate: cfg.drop_rate,
                gaps,
                err,
            },
            truth,
        ))
    }

    /// The clean reading at `t`: the 1 kHz stream averaged over one output period.
    fn clean_at(&self, t: f64) -> [f64; 6] {
        let n = self.clean.len();
        let hi = ((t / DT).round() as usize).min(n - 1);
        let span = ((1.0 / self.rate / DT).round() as usize).max(1);
        let lo = (hi + 1).saturating_sub(span);
        let mut s = [0.0; 6];
        for c in &self.clean[lo..=hi] {
            for k in 0..6 {
                s[k] += c[k] as f64;
            }
        }
        let m = (hi - lo + 1) as f64;
        s.map(|v| v / m)
    }
}

impl Iterator for HillSimulator {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        loop {
            if self.index >= self.count || self.clean.is_empty() {
                return None;
            }
            let t = self.index as f64 / self.rate;
            self.index += 1;
            // Noise is drawn for every sample, kept or not, so drops do not shift the stream.
            let na: [f64; 3] = [
                gauss(&mut self.rng),
                gauss(&mut self.rng),
                gauss(&mut self.rng),
            ];
            let ng: [f64; 3] = [
                gauss(&mut self.rng),
                gauss(&mut self.rng),
                gauss(&mut self.rng),
            ];
            let dropped = self.rng.gen_bool(self.drop_rate);
            if dropped || self.gaps.iter().any(|&g| t >= g && t < g + 0.2) {
                continue;
            }
            let c = self.clean_at(t);
            let e = &self.err;
            let acc = e.acc_m * Vector3::new(c[0], c[1], c[2]) + Vector3::from(na) * e.acc_noise;
            let drift = Vector3::from_fn(|i, _| {
                e.drift_amp[i] * (2.0 * PI * t / e.drift_period + e.drift_phase[i]).sin()
            });
            let gyr = e.gyr_m * Vector3::new(c[3], c[4], c[5])
                + e.bias
                + drift
                + Vector3::from(ng) * e.gyr_noise;
            let q = |v: f64, lsb: f64, range: f64| ((v / lsb).round() * lsb).clamp(-range, range);
            let acc = acc.map(|v| q(v, e.acc_lsb, e.acc_range));
            let gyr = gyr.map(|v| q(v, e.gyr_lsb, e.gyr_range));
            return Some(Sample {
                t: round_t(t),
                acc,
                gyr,
            });
        }
    }
}

fn round_t(t: f64) -> f64 {
    (t * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(e: Exercise, p: Placement, seed: u64) -> SimConfig {
        let mut c = SimConfig::new(e, p, Side::Right);
        c.model = crate::source::sim::SimModel::Hill;
        c.sets = 2;
        c.reps_min = 3;
        c.reps_max = 4;
        c.rest_min_s = 12.0;
        c.rest_max_s = 16.0;
        c.seed = seed;
        c
    }

    fn supported() -> Vec<(Exercise, Placement)> {
        let mut v = Vec::new();
        for &e in Exercise::ALL {
            for &p in Placement::ALL {
                let c = SimConfig::new(e, p, Side::Left);
                if c.validate().is_ok() {
                    v.push((e, p));
                }
            }
        }
        v
    }

    #[test]
    fn every_exercise_and_placement_at_every_rate_stays_in_range() {
        let combos = supported();
        assert!(combos.len() >= 4, "{combos:?}");
        for (i, &(e, p)) in combos.iter().enumerate() {
            for (k, rate) in [25.0, 50.0, 100.0, 200.0, 400.0].into_iter().enumerate() {
                let mut c = small(e, p, 10 + i as u64);
                c.sets = 1;
                c.reps_min = 2;
                c.reps_max = 3;
                c.rate_hz = rate;
                c.side = if k % 2 == 0 { Side::Left } else { Side::Right };
                let (sim, truth) = HillSimulator::new(&c).unwrap();
                let s: Vec<Sample> = sim.collect();
                assert!(
                    s.len() as f64 > 0.8 * truth.duration_s * rate,
                    "{e} {p} {rate}"
                );
                let mut last = -1.0;
                for x in &s {
                    assert!(x.is_finite(), "{e} {p} {rate}");
                    assert!(x.t > last, "{e} {p} {rate}");
                    let k = (x.t * rate).round();
                    assert!((x.t * rate - k).abs() < 1e-3, "{e} {p} {rate}: {}", x.t);
                    last = x.t;
                    assert!(x.acc.iter().all(|v| v.abs() <= 8.0 * G + 1e-9));
                    assert!(x.gyr.iter().all(|v| v.abs() <= 2000.0 + 1e-9));
                }
                assert!(!truth.sets.is_empty(), "{e} {p} {rate}");
            }
        }
    }

    #[test]
    fn the_sensor_at_rest_reads_one_g() {
        for &(e, p) in &supported() {
            let mut c = small(e, p, 5);
            c.noise = 0.0;
            c.lead_in_s = Some(3.0);
            let (sim, _) = HillSimulator::new(&c).unwrap();
            let first: Vec<Sample> = sim
                .take_while(|s| s.t < 2.0)
                .filter(|s| s.t > 0.5)
                .collect();
            let n = first.len() as f64;
            let mean: f64 = first.iter().map(|s| s.acc.norm()).sum::<f64>() / n;
            assert!((mean - G).abs() < 0.3, "{e} {p}: {mean}");
            let spin: f64 = first
                .iter()
                .map(|s| (s.gyr - Vector3::zeros()).norm())
                .sum::<f64>()
                / n;
            assert!(spin < 2.0 * 3f64.sqrt() + 2.0, "{e} {p}: {spin}");
        }
    }

    fn span(d: &str) -> (f64, f64) {
        let nums: Vec<f64> = d
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|s| !s.is_empty())
            .filter_map(|s| s.parse().ok())
            .collect();
        (nums[nums.len() - 2], nums[nums.len() - 1])
    }

    #[test]
    fn truth_sets_never_overlap_distractions() {
        for &(e, p) in &supported() {
            let mut c = small(e, p, 21);
            c.sets = 3;
            c.rest_min_s = 30.0;
            c.rest_max_s = 50.0;
            let (_, t) = HillSimulator::new(&c).unwrap();
            assert!(!t.distractions.is_empty(), "{e} {p}");
            for d in &t.distractions {
                let (a, b) = span(d);
                for s in &t.sets {
                    assert!(
                        b < s.start_s || a > s.end_s,
                        "{e} {p}: {d} in {}-{}",
                        s.start_s,
                        s.end_s
                    );
                }
            }
        }
    }

    #[test]
    fn an_abandoned_rep_is_not_in_truth() {
        // Only abandoned reps: the motion is planned but never reaches 30 % of the range.
        let mut c = small(Exercise::StandingCableAbduction, Placement::Ankle, 8);
        c.compensation_rate = 0.0;
        let lifter = Lifter::draw(&mut ChaCha8Rng::seed_from_u64(1));
        let mut plan = make_plan(&c, &lifter, ChaCha8Rng::seed_from_u64(2));
        let set = plan.sets[0].clone();
        let range = rad(set.range_deg);
        for d in [ABD, FLEX, ROT] {
            for kn in plan.dof[d].k.iter_mut() {
                if kn.0 >= set.t0 - 1e-9 && kn.0 <= set.t1 + 1e-9 {
                    kn.1 = kn.1.min(0.15 * range);
                }
            }
        }
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut body = build_body(&c, &lifter, &mut rng);
        let (_, recs) = simulate_body(&c, &mut body, &plan, &mut rng);
        let got = measure_set(&c, Kind::Standing, &set, &recs, &FlagKind::ALL);
        assert!(got.is_none(), "{got:?}");
    }

    #[test]
    fn a_rep_the_muscles_cannot_finish_is_not_counted() {
        // A lifter far too weak for the load: the plan asks for reps, the body cannot leave rest far enough.
        let c = small(Exercise::StandingCableAbduction, Placement::Ankle, 9);
        let mut lifter = Lifter::draw(&mut ChaCha8Rng::seed_from_u64(1));
        lifter.strength = 0.05;
        let plan = make_plan(&c, &lifter, ChaCha8Rng::seed_from_u64(2));
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut body = build_body(&c, &lifter, &mut rng);
        let (_, recs) = simulate_body(&c, &mut body, &plan, &mut rng);
        let got = measure_set(&c, Kind::Standing, &plan.sets[0], &recs, &FlagKind::ALL);
        let planned = plan.sets[0].reps;
        let counted = got.map_or(0, |s| s.rep_count);
        assert!(counted < planned, "{counted} of {planned}");
        // And a normal lifter does the same plan.
        let lifter = Lifter::draw(&mut ChaCha8Rng::seed_from_u64(1));
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut body = build_body(&c, &lifter, &mut rng);
        let plan = make_plan(&c, &lifter, ChaCha8Rng::seed_from_u64(2));
        let (_, recs) = simulate_body(&c, &mut body, &plan, &mut rng);
        let got = measure_set(&c, Kind::Standing, &plan.sets[0], &recs, &FlagKind::ALL).unwrap();
        assert_eq!(got.rep_count, plan.sets[0].reps);
    }

    fn flag_count(t: &Truth) -> usize {
        t.sets
            .iter()
            .flat_map(|s| &s.reps)
            .map(|r| r.flags.len())
            .sum()
    }

    #[test]
    fn compensations_appear_when_asked_and_not_at_rate_zero() {
        for &(e, p) in &supported() {
            let mut c = small(e, p, 31);
            c.reps_min = 8;
            c.reps_max = 10;
            c.compensation_rate = 0.0;
            let (_, t) = HillSimulator::new(&c).unwrap();
            assert_eq!(flag_count(&t), 0, "{e} {p}: {:?}", t.sets);
            if c.visible_compensations().is_empty() {
                continue;
            }
            c.compensation_rate = 0.6;
            let (_, t) = HillSimulator::new(&c).unwrap();
            assert!(
                flag_count(&t) > 0,
                "{e} {p}: {:?}",
                c.visible_compensations()
            );
        }
    }

    #[test]
    fn a_hip_hike_is_measured_on_the_pelvis() {
        let mut c = small(Exercise::StandingCableAbduction, Placement::Pelvis, 41);
        c.compensations = vec![FlagKind::HipHike];
        c.compensation_rate = 1.0;
        c.reps_min = 5;
        c.reps_max = 5;
        let (_, t) = HillSimulator::new(&c).unwrap();
        let hikes: Vec<f64> = t
            .sets
            .iter()
            .flat_map(|s| &s.reps)
            .flat_map(|r| &r.flags)
            .filter(|f| f.kind == FlagKind::HipHike)
            .map(|f| f.value_deg)
            .collect();
        assert!(hikes.len() >= 6, "{hikes:?}");
        assert!(hikes.iter().all(|v| (5.0..20.0).contains(v)), "{hikes:?}");
    }
}
