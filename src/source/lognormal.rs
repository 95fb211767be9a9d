//! A twenty-first body model, the hold-out: movement from the Kinematic
//! Theory of rapid human movements under intermittent control, with
//! whole-body reaction dynamics.
//!
//! Every voluntary motion is a sum of overlapping lognormal velocity
//! impulses (Plamondon's sigma-lognormal model): each impulse has an onset
//! `t0`, a log-time delay `mu`, a log-response time `sigma` and an amplitude
//! `D`, so its displacement is `D·Φ((ln(t − t0) − mu)/sigma)` and its speed
//! and acceleration are analytic. A half-rep (up or down) is a primary
//! impulse that carries most of the distance, then corrective submovements
//! launched by an intermittent controller: after a refractory delay (150–300
//! ms from the previous impulse's speed peak) the remaining error is looked
//! at, and a new impulse is planned while it exceeds the lifter's tolerance.
//! Skilled lifters get there in one or two impulses; rehab, fatigued and
//! distracted lifters need several, sometimes with a visible stall or a
//! second push (still one rep). Holds, pauses, partial reps and abandoned
//! attempts (not reps) come from the impulse plan; compensations are
//! impulses on other degrees of freedom (pelvic obliquity, a whole-body rock
//! with yaw, hip flexion, an over-fast primary with a rebound, a short `D`).
//!
//! The pelvis and trunk are not scripted: a linearised Newton–Euler coupling
//! turns the working leg's angular acceleration (and the leg's weight, as a
//! static moment) into reaction moments on the pelvis (obliquity, twist), a
//! whole-body shift over the stance foot and the trunk, each resisted by a
//! per-lifter postural stiffness and damping and a delayed postural reflex,
//! with its own support (standing, lying on a bed, seated in a machine, on a
//! step), plus low-frequency postural sway. Between sets: walking (gait as
//! lognormal strides), turns, sitting, getting up, pin changes, re-straps,
//! drinks, the phone, the other leg's set, fidgets and single swings.
//!
//! The sensor sits on the shank or the sacrum with its own mounting, on
//! soft tissue that wobbles and creeps; specific force and angular rate are
//! finite differences of the forward kinematics at an internal rate of at
//! least four times the output rate, averaged over each sample interval of
//! a crystal a little off, then bias, scale, cross-axis, noise,
//! quantisation, saturation, drops and gaps. Truth is measured on the
//! simulated joints, not copied from the plan. Built after all twenty
//! without reading the counter or the other models: never tuned on.

use super::sim::{SimConfig, Truth, TruthFlag, TruthRep, TruthSet};
use super::{gauss, round3, rx, ry, rz};
use crate::motion::FlagKind;
use crate::sample::STANDARD_GRAVITY;
use crate::{Exercise, Placement, Sample};
use nalgebra::{UnitQuaternion, Vector3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::VecDeque;
use std::f64::consts::{FRAC_PI_2, PI};

const DEG: f64 = PI / 180.0;

// ---------------------------------------------------------------------------
// Lognormal impulses

/// The complementary error function (Numerical Recipes' Chebyshev fit,
/// fractional error below 1.2e-7 everywhere, smooth).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// The standard normal distribution function.
fn phi_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// One lognormal velocity impulse on one degree of freedom.
#[derive(Debug, Clone, Copy)]
struct Impulse {
    t0: f64,
    mu: f64,
    sigma: f64,
    d: f64,
}

impl Impulse {
    /// An impulse whose visible part (±2 sigma in log time, 95% of `d`)
    /// starts at `start` and lasts `dur` seconds.
    fn visible(start: f64, dur: f64, sigma: f64, d: f64) -> Self {
        let sigma = sigma.clamp(0.08, 0.6);
        let span = (2.0 * sigma).exp() - (-2.0 * sigma).exp();
        let mu = (dur.max(0.02) / span).ln();
        Impulse {
            t0: start - (mu - 2.0 * sigma).exp(),
            mu,
            sigma,
            d,
        }
    }
    fn at(&self, k: f64) -> f64 {
        self.t0 + (self.mu + k * self.sigma).exp()
    }
    /// Time of the speed peak (the lognormal's mode).
    fn peak(&self) -> f64 {
        self.t0 + (self.mu - self.sigma * self.sigma).exp()
    }
    fn end(&self) -> f64 {
        self.at(2.0)
    }
    fn done(&self) -> f64 {
        self.at(5.0)
    }
    /// Displacement, speed and acceleration at `t`.
    fn eval(&self, t: f64) -> [f64; 3] {
        let x = t - self.t0;
        if x <= 1e-9 {
            return [0.0; 3];
        }
        let z = (x.ln() - self.mu) / self.sigma;
        let pdf = (-0.5 * z * z).exp() / (self.sigma * (2.0 * PI).sqrt() * x);
        let v = self.d * pdf;
        let a = -v / x * (1.0 + z / self.sigma);
        [self.d * phi_cdf(z), v, a]
    }
}

/// The impulses of one degree of freedom, evaluated forward in time.
#[derive(Debug, Clone, Default)]
struct Track {
    base: f64,
    imps: Vec<Impulse>,
    next: usize,
    active: Vec<usize>,
    done: f64,
}

impl Track {
    fn sort(&mut self) {
        self.imps.sort_by(|a, b| a.t0.total_cmp(&b.t0));
    }
    /// Position, speed and acceleration at `t` (t never decreases).
    fn eval(&mut self, t: f64) -> [f64; 3] {
        while self.next < self.imps.len() && self.imps[self.next].t0 < t {
            self.active.push(self.next);
            self.next += 1;
        }
        let mut out = [self.base + self.done, 0.0, 0.0];
        let mut i = 0;
        while i < self.active.len() {
            let imp = self.imps[self.active[i]];
            if t >= imp.done() {
                self.done += imp.d;
                out[0] += imp.d;
                self.active.swap_remove(i);
                continue;
            }
            let e = imp.eval(t);
            out[0] += e[0];
            out[1] += e[1];
            out[2] += e[2];
            i += 1;
        }
        out
    }
}

// Degrees of freedom driven by impulses.
const ABD: usize = 0; // working hip abduction, rad
const FLEX: usize = 1; // working hip flexion, rad
const ROT: usize = 2; // working hip rotation, rad
const KNEE: usize = 3; // working knee flexion, rad
const OBL: usize = 4; // voluntary pelvic obliquity (free side up), rad
const ROCK: usize = 5; // voluntary whole-body rock over the support, rad
const TRUNK: usize = 6; // voluntary trunk lateral flexion, rad
const TILT: usize = 7; // pelvic tilt (bending forward), rad
const TWIST: usize = 8; // pelvic twist about the vertical, rad
const YAW: usize = 9; // heading, rad
const FWD: usize = 10; // distance walked, m
const SIDE: usize = 11; // side steps, m
const BOB: usize = 12; // vertical bob, m
const SEAT: usize = 13; // 0 standing .. 1 seated
const LIE: usize = 14; // 0 standing, 1 lying on the other side, -1 on the working side
const OTHER: usize = 15; // the other leg's abduction, rad
const MOUNT: usize = 16; // the strap turned on the shank (re-strapping), rad
const NDOF: usize = 17;

// ---------------------------------------------------------------------------
// The lifter

#[derive(Debug, Clone, Copy, PartialEq)]
enum Population {
    Rehab,
    Gym,
    Athlete,
    Video,
}

#[derive(Debug, Clone)]
struct Lifter {
    pop: Population,
    /// Working range of the main joint, rad.
    range: f64,
    up: (f64, f64),
    down: (f64, f64),
    hold: (f64, f64),
    pause: (f64, f64),
    sigma: (f64, f64),
    /// Share of the distance the primary impulse carries.
    frac: (f64, f64),
    /// Error tolerated before a corrective submovement, rad.
    tol: f64,
    max_sub: usize,
    refractory: (f64, f64),
    p_stall: f64,
    p_abandon: f64,
    p_touch_go: f64,
    fade: f64,
    tremor: f64,
    tremor_hz: f64,
    // Anthropometry, m.
    hip_h: f64,
    hip_w: f64,
    thigh: f64,
    shank: f64,
    // Postural coupling (rad per rad, 1/s).
    wp: f64,
    zp: f64,
    kp: f64,
    obl_gain: f64,
    wl: f64,
    zl: f64,
    kl: f64,
    lean_gain: f64,
    wt: f64,
    zt: f64,
    kt: f64,
    wy: f64,
    ky: f64,
    reflex_k: f64,
    reflex_b: f64,
    delay: f64,
    sway: f64,
}

fn uni(rng: &mut ChaCha8Rng, r: (f64, f64)) -> f64 {
    if r.1 <= r.0 {
        r.0
    } else {
        rng.gen_range(r.0..r.1)
    }
}

impl Lifter {
    fn draw(rng: &mut ChaCha8Rng, ex: Exercise) -> Lifter {
        let pop = match rng.gen_range(0..100) {
            0..=27 => Population::Rehab,
            28..=62 => Population::Gym,
            63..=79 => Population::Athlete,
            _ => Population::Video,
        };
        // (range °, up, down, hold, pause, frac, tol °, max_sub, p_stall, p_abandon, fade, tremor °)
        let (range, up, down, hold, pause, frac, tol, max_sub, p_stall, p_abandon, fade, tremor) =
            match pop {
                Population::Rehab => (
                    (20.0, 36.0),
                    (0.9, 1.5),
                    (1.3, 2.5),
                    (0.3, 1.6),
                    (0.6, 2.8),
                    (0.62, 0.9),
                    (1.5, 3.5),
                    4,
                    0.25,
                    0.18,
                    (0.04, 0.16),
                    (0.008, 0.02),
                ),
                Population::Gym => (
                    (28.0, 44.0),
                    (0.65, 1.2),
                    (0.9, 1.9),
                    (0.0, 0.8),
                    (0.2, 1.3),
                    (0.8, 0.97),
                    (2.0, 4.0),
                    3,
                    0.08,
                    0.06,
                    (0.02, 0.1),
                    (0.005, 0.012),
                ),
                Population::Athlete => (
                    (32.0, 48.0),
                    (0.55, 0.95),
                    (0.9, 1.7),
                    (0.0, 1.0),
                    (0.1, 0.9),
                    (0.9, 1.02),
                    (2.5, 4.5),
                    2,
                    0.02,
                    0.03,
                    (0.0, 0.07),
                    (0.003, 0.008),
                ),
                Population::Video => (
                    (22.0, 40.0),
                    (0.6, 1.0),
                    (0.7, 1.3),
                    (0.0, 0.5),
                    (0.0, 0.7),
                    (0.72, 0.95),
                    (2.0, 4.5),
                    3,
                    0.12,
                    0.12,
                    (0.02, 0.1),
                    (0.005, 0.014),
                ),
            };
        let scale = match ex {
            Exercise::SideLyingAbduction => 1.1,
            Exercise::SeatedMachineAbduction => 0.85,
            Exercise::HipHitch => 0.0,
            _ => 1.0,
        };
        let range = if ex == Exercise::HipHitch {
            rng.gen_range(6.0..12.5) * DEG
        } else {
            uni(rng, range) * scale * DEG
        };
        let height = rng.gen_range(1.5..1.95);
        let mut l = Lifter {
            pop,
            range,
            up: {
                let c = uni(rng, up);
                (c * 0.85, c * 1.15)
            },
            down: {
                let c = uni(rng, down);
                (c * 0.85, c * 1.15)
            },
            hold: {
                let c = uni(rng, hold);
                (c * 0.6, c * 1.3 + 0.05)
            },
            pause: {
                let c = uni(rng, pause);
                (c * 0.6, c * 1.4 + 0.1)
            },
            sigma: {
                let c = rng.gen_range(0.2..0.36);
                (c - 0.05, c + 0.06)
            },
            frac: {
                let c = uni(rng, frac);
                ((c - 0.06).max(0.5), (c + 0.04).min(1.04))
            },
            tol: uni(rng, tol) * DEG,
            max_sub,
            refractory: {
                let c = rng.gen_range(0.17..0.27);
                (c - 0.03, c + 0.03)
            },
            p_stall,
            p_abandon,
            p_touch_go: rng.gen_range(0.0..0.15),
            fade: uni(rng, fade),
            tremor: uni(rng, tremor) * DEG,
            tremor_hz: rng.gen_range(7.5..11.5),
            hip_h: height * rng.gen_range(0.5..0.54),
            hip_w: height * rng.gen_range(0.095..0.115),
            thigh: height * rng.gen_range(0.235..0.255),
            shank: height * rng.gen_range(0.235..0.255),
            wp: 0.0,
            zp: 0.0,
            kp: 0.0,
            obl_gain: 0.0,
            wl: 0.0,
            zl: 0.0,
            kl: 0.0,
            lean_gain: 0.0,
            wt: rng.gen_range(5.0..9.0),
            zt: rng.gen_range(0.4..0.8),
            kt: rng.gen_range(0.1..0.35),
            wy: rng.gen_range(5.0..10.0),
            ky: rng.gen_range(0.01..0.05) * if rng.gen_bool(0.5) { 1.0 } else { -1.0 },
            reflex_k: rng.gen_range(0.15..0.45),
            reflex_b: rng.gen_range(0.05..0.2),
            delay: rng.gen_range(0.08..0.16),
            sway: rng.gen_range(0.5..1.2),
        };
        let sign = if rng.gen_bool(0.5) { 1.0 } else { -1.0 };
        // Static obliquity at full range: 0.5–2.3° (DOMAIN's 0.5–3° with the
        // dynamics on top), either way per lifter.
        let static_obl = rng.gen_range(0.5..2.0) * DEG;
        let holds_on = rng.gen_bool(0.4);
        match ex {
            Exercise::SideLyingAbduction => {
                l.wp = rng.gen_range(10.0..16.0);
                l.zp = rng.gen_range(0.6..0.9);
                l.kp = rng.gen_range(0.02..0.06);
                l.wl = rng.gen_range(5.0..9.0);
                l.zl = rng.gen_range(0.5..0.9);
                l.kl = rng.gen_range(0.01..0.04);
                l.lean_gain = rng.gen_range(-1.5..1.5) * DEG;
            }
            Exercise::SeatedMachineAbduction => {
                l.wp = rng.gen_range(12.0..18.0);
                l.zp = rng.gen_range(0.7..1.0);
                l.kp = rng.gen_range(0.005..0.02);
                l.wl = rng.gen_range(6.0..10.0);
                l.zl = rng.gen_range(0.6..1.0);
                l.kl = rng.gen_range(0.005..0.02);
                l.lean_gain = rng.gen_range(0.0..0.6) * DEG;
            }
            _ => {
                l.wp = rng.gen_range(6.0..10.0);
                l.zp = rng.gen_range(0.35..0.7);
                l.kp = rng.gen_range(0.03..0.09);
                l.wl = rng.gen_range(2.5..5.0);
                l.zl = rng.gen_range(0.4..0.8);
                l.kl = rng.gen_range(0.01..0.04);
                let most = if holds_on { 0.7 } else { 1.6 };
                l.lean_gain = rng.gen_range(0.0..most) * DEG;
            }
        }
        l.obl_gain = sign * static_obl / l.range.max(5.0 * DEG);
        // The lean is given at full range: per unit of sin(angle).
        l.lean_gain /= l.range.max(5.0 * DEG).sin();
        if ex == Exercise::HipHitch {
            // The rep is the obliquity itself; the body shifts over the step.
            l.obl_gain = 0.0;
            l.lean_gain = -rng.gen_range(0.0..0.12);
            l.up = (l.up.0 * 0.9, l.up.1 * 0.9);
        }
        l
    }
}

// ---------------------------------------------------------------------------
// The plan

#[derive(Debug, Clone)]
#[cfg_attr(not(test), allow(dead_code))]
struct PlannedSet {
    /// Neutral taken here (still, before the first rep).
    neutral_s: f64,
    /// Where the set's motion ends (after the last rep).
    end_s: f64,
    /// Full reps planned (compensated and partial ones included).
    reps: usize,
    /// Start times of abandoned attempts.
    abandoned: Vec<f64>,
    /// Half-reps made of more than one impulse.
    multi_impulse_halves: usize,
}

/// Test hooks: force the features the unit tests check.
#[derive(Debug, Clone, Copy, Default)]
struct Force {
    abandon: bool,
    stall: bool,
}

struct Planner<'a> {
    cfg: &'a SimConfig,
    rng: ChaCha8Rng,
    l: Lifter,
    tracks: Vec<Track>,
    fin: [f64; NDOF],
    acts: Vec<(String, f64, f64)>,
    visible: Vec<FlagKind>,
    force: Force,
    multi: usize,
    /// How far through the set, 0..1.
    fatigue: f64,
}

impl Planner<'_> {
    fn push(&mut self, dof: usize, imp: Impulse) {
        self.fin[dof] += imp.d;
        self.tracks[dof].imps.push(imp);
    }

    fn sig(&mut self) -> f64 {
        let s = self.l.sigma;
        uni(&mut self.rng, s)
    }

    /// Whole-body moves (posture, heading, walking) settle fast.
    fn sig_for(&mut self, dof: usize) -> f64 {
        if matches!(dof, LIE | SEAT | YAW | FWD | SIDE | TILT | MOUNT) {
            self.rng.gen_range(0.15..0.24)
        } else {
            self.sig()
        }
    }

    /// A free movement of `dof` to `target` (one impulse, no correction).
    fn to(&mut self, dof: usize, t: f64, target: f64, dur: f64) -> f64 {
        let d = target - self.fin[dof];
        let sigma = self.sig_for(dof);
        let imp = Impulse::visible(t, dur, sigma, d);
        self.push(dof, imp);
        imp.end()
    }

    /// A relative movement of `dof` by `d` (one impulse).
    fn by(&mut self, dof: usize, t: f64, d: f64, dur: f64) -> f64 {
        let sigma = self.sig_for(dof);
        let imp = Impulse::visible(t, dur, sigma, d);
        self.push(dof, imp);
        imp.end()
    }

    /// A half-rep under intermittent control: a primary impulse carrying
    /// `frac` of the distance, then corrective submovements after a
    /// refractory delay while the remaining error exceeds the tolerance.
    /// `stall`: an extra wait before the second push. Returns when the
    /// motion is visibly done.
    fn half(
        &mut self,
        dof: usize,
        t: f64,
        target: f64,
        dur: f64,
        frac: f64,
        stall: Option<f64>,
    ) -> f64 {
        let dist = target - self.fin[dof];
        let sigma = self.sig();
        let imp = Impulse::visible(t, dur, sigma, dist * frac);
        self.push(dof, imp);
        let mut end = imp.end();
        let refr = self.l.refractory;
        let mut next = imp.peak() + uni(&mut self.rng, refr);
        if let Some(extra) = stall {
            next = imp.end() + extra;
        }
        let tol = self.l.tol.min(0.12 * dist.abs()).max(0.4 * DEG);
        let mut n = 1;
        for _ in 0..self.l.max_sub.max(if stall.is_some() { 1 } else { 0 }) {
            let err = target - self.fin[dof];
            if err.abs() < tol && !(stall.is_some() && n == 1) {
                break;
            }
            let share = (err.abs() / dist.abs().max(1e-6)).sqrt();
            let dd = (dur * self.rng.gen_range(0.35..0.6) * share.max(0.4)).clamp(0.15, 0.9);
            let gain = self.rng.gen_range(0.8..1.04);
            let s = self.rng.gen_range(0.2..0.34);
            let imp = Impulse::visible(next, dd, s, err * gain);
            self.push(dof, imp);
            end = end.max(imp.end());
            next = imp.peak() + uni(&mut self.rng, refr);
            n += 1;
        }
        if n > 1 {
            self.multi += 1;
        }
        end
    }

    fn main_dof(&self) -> (usize, f64) {
        if self.cfg.exercise == Exercise::HipHitch {
            (OBL, -1.0)
        } else {
            (ABD, 1.0)
        }
    }

    /// One rep from `t`; returns its end.
    fn rep(&mut self, t: f64, a: f64, comp: Option<(FlagKind, bool)>, stall: bool) -> f64 {
        let (m, sign) = self.main_dof();
        let hitch = self.cfg.exercise == Exercise::HipHitch;
        let lu = self.l.up;
        let ld = self.l.down;
        let lh = self.l.hold;
        let lf = self.l.frac;
        // Fatigue slows the tempo through the set.
        let slow = 1.0 + 0.25 * self.fatigue;
        let mut up = uni(&mut self.rng, lu) * slow;
        let mut down = uni(&mut self.rng, ld) * slow;
        let mut hold = uni(&mut self.rng, lh);
        let mut a = a;
        let mut frac = uni(&mut self.rng, lf);
        match comp {
            Some((FlagKind::PartialRange, over)) => {
                a *= if over {
                    self.rng.gen_range(0.5..0.64)
                } else {
                    self.rng.gen_range(0.74..0.84)
                };
            }
            Some((FlagKind::Momentum, over)) => {
                up = if over {
                    self.rng.gen_range(0.24..0.36)
                } else {
                    self.rng.gen_range(0.46..0.6)
                };
                down = self.rng.gen_range(0.35..0.6);
                hold = self.rng.gen_range(0.0..0.1);
                frac = 1.06;
            }
            _ => {}
        }
        let stall = stall.then(|| self.rng.gen_range(0.2..0.6));
        let up_frac = if stall.is_some() {
            self.rng.gen_range(0.5..0.7)
        } else {
            frac
        };
        let top = sign * a;
        let momentum = matches!(comp, Some((FlagKind::Momentum, _)));
        let up_end = if momentum {
            let e = self.by(m, t, top * frac - self.fin[m], up);
            // The rebound off the end of the range.
            let back = -top * self.rng.gen_range(0.05..0.1);
            self.by(m, e - 0.05, back, 0.18).max(e)
        } else {
            self.half(m, t, top, up, up_frac, stall)
        };
        // A little sag during a hold, caught again.
        let mut down_start = up_end + hold;
        if hold > 0.6 {
            let sag = -top * self.rng.gen_range(0.02..0.06);
            let e = self.by(m, up_end + 0.1, sag, hold * 0.5);
            let e2 = self.by(m, e, -sag, 0.3);
            down_start = down_start.max(e2);
        }
        let mut target0 = 0.0;
        if hitch {
            if let Some((FlagKind::HipHike, over)) = comp {
                // Pulled past level: the free side up above neutral.
                target0 = if over {
                    self.rng.gen_range(6.0..10.0)
                } else {
                    self.rng.gen_range(3.0..4.3)
                } * DEG;
            }
        }
        let dfrac = uni(&mut self.rng, lf).max(0.85);
        let mut end = if momentum {
            let e = self.to(m, down_start, 0.0, down);
            // The bounce at the bottom.
            let b = top * self.rng.gen_range(0.04..0.08);
            let e2 = self.by(m, e - 0.05, b, 0.2);
            self.by(m, e2 - 0.05, -b, 0.25)
        } else {
            self.half(m, down_start, target0, down, dfrac, None)
        };
        if target0 != 0.0 {
            let h = self.rng.gen_range(0.3..0.8);
            end = self.half(m, end + h, 0.0, 0.6, 0.95, None);
        }
        // Compensations and the clean rep's small extras on other joints.
        let d_up = up_end - t;
        let d_down = end - down_start;
        match comp {
            Some((FlagKind::HipHike, over)) if !hitch => {
                let h = if over {
                    self.rng.gen_range(6.5..11.0)
                } else {
                    self.rng.gen_range(3.0..4.3)
                } * DEG;
                self.by(OBL, t + 0.05, h, d_up.max(0.3));
                self.by(OBL, down_start, -h, d_down.max(0.3));
            }
            Some((FlagKind::PelvicDrop, over)) => {
                let h = if over {
                    self.rng.gen_range(6.5..10.0)
                } else {
                    self.rng.gen_range(3.0..4.3)
                } * DEG;
                if hitch {
                    // Let go at the bottom: the free side sinks further.
                    self.by(OBL, up_end - 0.1 * d_up, -h, 0.5);
                    self.by(OBL, down_start - 0.1, h, d_down.max(0.4));
                } else {
                    self.by(OBL, t + 0.05, -h, d_up.max(0.3));
                    self.by(OBL, down_start, h, d_down.max(0.3));
                }
            }
            Some((FlagKind::TrunkSway, over)) => {
                let s = if over {
                    self.rng.gen_range(6.5..10.0)
                } else {
                    self.rng.gen_range(2.5..4.2)
                } * DEG;
                let span = (end - t).max(1.2);
                let q = span / 4.0;
                self.by(ROCK, t, s, q * 1.2);
                self.by(ROCK, t + q, -2.0 * s, q * 1.6);
                self.by(ROCK, t + 2.6 * q, s, q * 1.3);
                let y = self.rng.gen_range(2.0..5.0) * DEG;
                self.by(TWIST, t, y, q * 1.2);
                self.by(TWIST, t + q, -2.0 * y, q * 1.6);
                self.by(TWIST, t + 2.6 * q, y, q * 1.3);
            }
            Some((FlagKind::HipFlexionDrift, over)) => {
                let f = if over {
                    self.rng.gen_range(12.0..22.0)
                } else {
                    self.rng.gen_range(5.0..8.5)
                } * DEG;
                self.by(FLEX, t + 0.1 * d_up, f, d_up.max(0.3));
                self.by(FLEX, down_start, -f, d_down.max(0.3));
            }
            _ => {
                if !hitch {
                    let f = self.rng.gen_range(-1.5..3.0) * DEG;
                    self.by(FLEX, t + 0.1 * d_up, f, d_up.max(0.3));
                    self.by(FLEX, down_start, -f, d_down.max(0.3));
                }
            }
        }
        if !hitch {
            let r = self.rng.gen_range(-3.0..3.0) * DEG;
            self.by(ROT, t, r, d_up.max(0.3));
            self.by(ROT, down_start, -r, d_down.max(0.3));
        }
        end
    }

    /// An attempt given up early: a short primary impulse and back.
    fn abandoned(&mut self, t: f64) -> f64 {
        let (m, sign) = self.main_dof();
        let d = sign * self.l.range * self.rng.gen_range(0.1..0.24);
        let g0 = self.rng.gen_range(0.35..0.7);
        let e = self.by(m, t, d, g0);
        let g0 = self.rng.gen_range(0.1..0.5);
        let g1 = self.rng.gen_range(0.4..0.8);
        let e = self.to(m, e + g0, 0.0, g1);
        e + self.rng.gen_range(1.0..2.2)
    }

    fn set(&mut self, t: f64, reps: usize, index: usize) -> PlannedSet {
        let neutral_s = t - 0.25;
        let a_set = self.l.range * self.rng.gen_range(0.92..1.08) * (1.0 - 0.02 * index as f64);
        let mut t = t;
        let mut abandoned = Vec::new();
        let abandon_at = if self.force.abandon || self.rng.gen_bool(self.l.p_abandon) {
            Some(if reps > 2 && self.rng.gen_bool(0.5) {
                self.rng.gen_range(1..reps)
            } else {
                0
            })
        } else {
            None
        };
        let comps = self.visible.clone();
        let multi_before = self.multi;
        // Home-video followers start each rep on the music's beat.
        let beat =
            (self.l.pop == Population::Video).then(|| 60.0 / self.rng.gen_range(96.0..130.0));
        let t_beat0 = t;
        for r in 0..reps {
            if abandon_at == Some(r) {
                abandoned.push(t);
                t = self.abandoned(t);
            }
            let f = r as f64 / reps.max(1) as f64;
            self.fatigue = f;
            let a = a_set
                * (1.0 - self.l.fade * f)
                * (1.0 + 0.04 * gauss(&mut self.rng)).clamp(0.9, 1.1);
            let comp = if !comps.is_empty()
                && self.cfg.compensation_rate > 0.0
                && self
                    .rng
                    .gen_bool(self.cfg.compensation_rate.clamp(0.0, 1.0))
            {
                let k = comps[self.rng.gen_range(0..comps.len())];
                Some((k, self.rng.gen_bool(0.78)))
            } else {
                None
            };
            let fatigue_stall = self.l.p_stall * (0.5 + f);
            let stall = self.force.stall || self.rng.gen_bool(fatigue_stall.min(0.9));
            let stall = stall && !matches!(comp, Some((FlagKind::Momentum, _)));
            let end = self.rep(t, a, comp, stall);
            let lp = self.l.pause;
            let pause = if self.rng.gen_bool(self.l.p_touch_go) {
                self.rng.gen_range(0.0..0.15)
            } else if self.rng.gen_bool(0.05) {
                self.rng.gen_range(2.0..5.0)
            } else {
                uni(&mut self.rng, lp) * (1.0 + 0.5 * f)
            };
            t = end + pause;
            if let Some(b) = beat {
                t = t_beat0 + ((t - t_beat0) / b).ceil() * b;
            }
        }
        PlannedSet {
            neutral_s,
            end_s: t,
            reps,
            abandoned,
            multi_impulse_halves: self.multi - multi_before,
        }
    }

    // --- Life between sets -------------------------------------------------

    fn act(&mut self, what: &str, a: f64, b: f64) {
        self.acts.push((what.to_string(), a, b));
    }

    /// Walking as lognormal strides; the working leg swings every other step.
    fn walk(&mut self, t: f64, steps: usize, turn: bool) -> f64 {
        let period = self.rng.gen_range(0.5..0.62);
        let len = self.rng.gen_range(0.5..0.72);
        let first_working = self.rng.gen_bool(0.5);
        let mut end = t;
        for i in 0..steps {
            let ti = t + i as f64 * period;
            let last = i + 1 == steps;
            let l = if i == 0 || last { len * 0.6 } else { len };
            end = end.max(self.by(FWD, ti, l, period * 1.3));
            self.by(BOB, ti, 0.02, period * 0.5);
            self.by(BOB, ti + period * 0.5, -0.02, period * 0.5);
            let o = if i % 2 == 0 { 3.0 } else { -3.0 } * DEG;
            self.by(OBL, ti, o, period * 0.45);
            self.by(OBL, ti + period * 0.5, -o, period * 0.45);
            self.by(ROCK, ti, o * 0.5, period * 0.5);
            self.by(ROCK, ti + period * 0.5, -o * 0.5, period * 0.5);
            if (i % 2 == 0) == first_working {
                let f = self.rng.gen_range(22.0..32.0) * DEG;
                self.by(FLEX, ti, f, period * 0.6);
                self.by(FLEX, ti + period * 0.7, -f, period * 0.9);
                let k = self.rng.gen_range(45.0..60.0) * DEG;
                self.by(KNEE, ti, k, period * 0.4);
                self.by(KNEE, ti + period * 0.45, -k, period * 0.45);
            }
        }
        if turn {
            let dir = if self.rng.gen_bool(0.5) { 1.0 } else { -1.0 };
            let ang = dir * (PI + self.rng.gen_range(-0.4..0.4));
            let d = self.rng.gen_range(1.5..2.5);
            end = end.max(self.by(YAW, end - 0.2, ang, d));
            for j in 0..3 {
                let tj = end - d + j as f64 * d / 3.0;
                self.by(BOB, tj, 0.01, 0.25);
                self.by(BOB, tj + 0.25, -0.01, 0.25);
            }
        }
        end
    }

    fn get_up(&mut self, t: f64) -> f64 {
        match self.cfg.exercise {
            Exercise::SideLyingAbduction => {
                let g0 = self.rng.gen_range(1.8..3.0);
                let e = self.to(LIE, t, 0.0, g0);
                self.by(TILT, t, 0.5, 1.2);
                self.by(TILT, t + 1.0, -0.5, 1.2);
                e
            }
            Exercise::SeatedMachineAbduction => {
                let g0 = self.rng.gen_range(1.2..2.0);
                let e = self.to(SEAT, t + 0.3, 0.0, g0);
                self.by(TILT, t, 0.5, 1.0);
                self.by(TILT, t + 1.0, -0.5, 1.0);
                e
            }
            _ => t,
        }
    }

    fn get_down(&mut self, t: f64) -> f64 {
        match self.cfg.exercise {
            Exercise::SideLyingAbduction => {
                self.by(TILT, t, 0.4, 1.0);
                self.by(TILT, t + 1.0, -0.4, 1.2);
                let g0 = self.rng.gen_range(1.8..3.0);
                self.to(LIE, t + 0.2, 1.0, g0)
            }
            Exercise::SeatedMachineAbduction => {
                self.by(TILT, t, 0.4, 0.9);
                self.by(TILT, t + 0.9, -0.4, 0.9);
                let g0 = self.rng.gen_range(1.2..2.0);
                self.to(SEAT, t + 0.2, 1.0, g0)
            }
            _ => t,
        }
    }

    /// One thing done in a rest, from `t`; returns its end. Labels it.
    fn activity(&mut self, kind: usize, t: f64) -> f64 {
        let posture = matches!(
            self.cfg.exercise,
            Exercise::SideLyingAbduction | Exercise::SeatedMachineAbduction
        );
        let ankle = self.cfg.placement == Placement::Ankle;
        let (what, end) = match kind {
            // Walk to the stack or the water and back.
            0 => {
                let e0 = if posture { self.get_up(t) } else { t };
                let n = self.rng.gen_range(3..8);
                let e = self.walk(e0 + 0.3, n, true);
                let e = self.walk(e + 0.2, n, true);
                let e = if posture { self.get_down(e + 0.5) } else { e };
                ("walk and turn", e)
            }
            // Sit on a bench and get up again (standing exercises), or lie
            // back / lean back in the seat.
            1 => {
                if posture {
                    let e = self.by(TRUNK, t, 6.0 * DEG, 0.8);
                    let g0 = self.rng.gen_range(2.0..6.0);
                    let e = self.by(TRUNK, e + g0, -6.0 * DEG, 0.8);
                    ("settle", e)
                } else {
                    let e = self.walk(t, 2, false);
                    let e = self.by(YAW, e, PI, 1.8);
                    self.by(TILT, e, 0.5, 0.9);
                    let e1 = self.to(SEAT, e + 0.1, 1.0, 1.2);
                    self.by(TILT, e1 - 0.3, -0.5, 0.9);
                    let sit = self.rng.gen_range(4.0..12.0);
                    self.by(TILT, e1 + sit, 0.5, 0.8);
                    let e2 = self.to(SEAT, e1 + sit + 0.2, 0.0, 1.3);
                    self.by(TILT, e2 - 0.4, -0.5, 0.9);
                    ("sit on the bench", e2 + 0.6)
                }
            }
            // Change the pin (bending to the stack).
            2 => {
                let e0 = if posture { self.get_up(t) } else { t };
                let e = self.walk(e0 + 0.2, 2, false);
                let b = self.rng.gen_range(0.5..1.1);
                let e1 = self.by(TILT, e, b, 1.0);
                self.by(FLEX, e, 0.3, 0.9);
                self.by(KNEE, e, 0.4, 0.9);
                let h = self.rng.gen_range(1.5..4.0);
                self.by(FLEX, e1 + h, -0.3, 0.9);
                self.by(KNEE, e1 + h, -0.4, 0.9);
                let e2 = self.by(TILT, e1 + h, -b, 1.1);
                let e3 = self.walk(e2 + 0.2, 2, false);
                let e3 = if posture { self.get_down(e3 + 0.4) } else { e3 };
                ("change the pin", e3)
            }
            // Re-strap the sensor.
            3 => {
                let e0 = if posture { self.get_up(t) } else { t };
                let e = if ankle {
                    let e1 = self.by(FLEX, e0, 1.3, 1.0);
                    self.by(KNEE, e0, 1.4, 1.0);
                    self.by(TILT, e0, 0.6, 1.0);
                    let mut tt = e1;
                    let net = self.rng.gen_range(-0.5..0.5);
                    for j in 0..4 {
                        let d = if j % 2 == 0 { 0.3 } else { -0.3 } + net / 4.0;
                        tt = self.by(MOUNT, tt, d, 0.4) + 0.1;
                    }
                    self.by(FLEX, tt + 0.5, -1.3, 1.0);
                    self.by(KNEE, tt + 0.5, -1.4, 1.0);
                    self.by(TILT, tt + 0.5, -0.6, 1.0)
                } else {
                    let e1 = self.by(TILT, e0, 0.3, 0.7);
                    let mut tt = e1;
                    for j in 0..4 {
                        let d = if j % 2 == 0 { 0.15 } else { -0.15 };
                        tt = self.by(MOUNT, tt, d, 0.35) + 0.1;
                    }
                    self.by(TILT, tt, -0.3, 0.7)
                };
                let e = if posture { self.get_down(e + 0.4) } else { e };
                ("re-strap", e)
            }
            // Drink.
            4 => {
                let e = self.by(TILT, t, -0.12, 0.8);
                self.by(TRUNK, t, 0.05, 0.6);
                let g0 = self.rng.gen_range(2.0..5.0);
                let e2 = self.by(TILT, e + g0, 0.12, 0.8);
                self.by(TRUNK, e2 - 0.6, -0.05, 0.6);
                ("drink", e2)
            }
            // The phone: weight shifts and small turns.
            5 => {
                let mut tt = t;
                let n = self.rng.gen_range(2..5);
                for _ in 0..n {
                    let w = self.rng.gen_range(-3.0..3.0) * DEG;
                    let e = self.by(ROCK, tt, w, 0.8);
                    self.by(TWIST, tt, w, 0.8);
                    let g0 = self.rng.gen_range(1.0..4.0);
                    tt = self.by(ROCK, e + g0, -w, 0.8);
                    self.by(TWIST, tt - 0.8, -w, 0.8);
                }
                ("phone", tt)
            }
            // The other leg's set.
            6 => {
                let lying = self.cfg.exercise == Exercise::SideLyingAbduction;
                let e0 = if lying {
                    self.to(LIE, t, -1.0, 3.0)
                } else {
                    self.by(YAW, t, PI, 1.5)
                };
                let n = self.rng.gen_range(4..8);
                let mut tt = e0 + 1.0;
                let a = self.l.range * self.rng.gen_range(0.8..1.1);
                let hitch = self.cfg.exercise == Exercise::HipHitch;
                for _ in 0..n {
                    let u = self.rng.gen_range(0.6..1.0);
                    let d = self.rng.gen_range(0.9..1.6);
                    if hitch {
                        // Standing on the other leg: the working side drops.
                        let e = self.by(OBL, tt, a, u);
                        let g0 = self.rng.gen_range(0.3..1.0);
                        tt = self.by(OBL, e + 0.2, -a, d) + g0;
                    } else {
                        let e = self.by(OTHER, tt, a, u);
                        let g0 = self.rng.gen_range(0.3..1.0);
                        tt = self.by(OTHER, e + 0.2, -a, d) + g0;
                    }
                }
                let e = if lying {
                    self.to(LIE, tt + 0.5, 1.0, 3.0)
                } else {
                    self.by(YAW, tt + 0.5, -PI, 1.5)
                };
                ("the other leg's set", e)
            }
            // A fidget: shake the leg out, or tap the foot.
            7 => {
                let mut tt = t;
                if self.rng.gen_bool(0.5) {
                    for j in 0..self.rng.gen_range(4..8) {
                        let d = if j % 2 == 0 { 1.0 } else { -1.0 }
                            * self.rng.gen_range(4.0..9.0)
                            * DEG;
                        self.by(ABD, tt, d * 0.5, 0.2);
                        tt = self.by(FLEX, tt, d, 0.22);
                    }
                    let f = -(self.fin[FLEX] - 0.0);
                    let a = -(self.fin[ABD] - 0.0);
                    self.by(ABD, tt, a, 0.3);
                    tt = self.by(FLEX, tt, f, 0.3);
                    ("shake out", tt)
                } else {
                    for _ in 0..self.rng.gen_range(2..5) {
                        let e = self.by(FLEX, tt, 0.15, 0.25);
                        self.by(KNEE, tt, 0.3, 0.25);
                        tt = self.by(FLEX, e, -0.15, 0.25);
                        self.by(KNEE, e, -0.3, 0.25);
                        tt += 0.2;
                    }
                    ("foot taps", tt)
                }
            }
            // A single swing of the leg.
            _ => {
                let (m, sign) = self.main_dof();
                let big = if m == OBL { 0.8 } else { 0.7 };
                let a = sign * self.l.range * self.rng.gen_range(0.4..big);
                let g0 = self.rng.gen_range(0.3..0.5);
                let e = self.by(m, t, a, g0);
                let g0 = self.rng.gen_range(0.35..0.6);
                let e = self.to(m, e, 0.0, g0);
                ("single swing", e)
            }
        };
        self.act(what, t, end);
        end
    }

    /// Fills a rest from `t` to `until` (the next set's neutral); walking
    /// and fidgets as the config allows.
    fn rest(&mut self, t: f64, until: f64) {
        let mut kinds: Vec<usize> = Vec::new();
        if self.cfg.walking {
            kinds.push(0);
        }
        if self.cfg.fidgets {
            kinds.extend([1, 2, 3, 4, 5, 7, 8]);
            if self.cfg.exercise != Exercise::SeatedMachineAbduction && self.rng.gen_bool(0.5) {
                kinds.push(6);
            }
        }
        // Longest each can take, s.
        let longest = |k: usize| match k {
            0 => 26.0,
            1 => 24.0,
            2 => 24.0,
            3 => 22.0,
            6 => 36.0,
            5 => 24.0,
            _ => 9.0,
        };
        let mut cursor = t + self.rng.gen_range(2.0..4.5);
        let n = self.rng.gen_range(1..5);
        for _ in 0..n {
            if kinds.is_empty() {
                break;
            }
            // Walking to the stack or the water usually comes first.
            let k = if kinds[0] == 0 && self.rng.gen_bool(0.6) {
                kinds.remove(0)
            } else {
                kinds.swap_remove(self.rng.gen_range(0..kinds.len()))
            };
            if cursor + longest(k) + 3.0 > until {
                continue;
            }
            let e = self.activity(k, cursor);
            cursor = e + self.rng.gen_range(1.0..5.0);
        }
    }
}

// ---------------------------------------------------------------------------
// The body

#[derive(Debug, Clone)]
struct Pose {
    /// The sensor's segment (shank or pelvis) in the world.
    seg_q: UnitQuaternion<f64>,
    seg_p: Vector3<f64>,
    pelvis_q: UnitQuaternion<f64>,
    shank_q: UnitQuaternion<f64>,
    /// Hip flexion, rad.
    flex: f64,
    /// Main joint (abduction; obliquity for a hip hitch), rad.
    abd: f64,
}

#[derive(Debug, Clone)]
struct Body {
    l: Lifter,
    tracks: Vec<Track>,
    rng: ChaCha8Rng,
    dt: f64,
    t: f64,
    side: f64,
    free: f64,
    hitch: bool,
    pelvis: bool,
    seat_h: f64,
    bed_h: f64,
    /// Reaction states: (value, rate).
    obl: [f64; 2],
    lean: [f64; 2],
    trunk: [f64; 2],
    trunk_acc: f64,
    twist: [f64; 2],
    hist: VecDeque<[f64; 4]>,
    delay_steps: usize,
    noise: [f64; 3],
    tremor: [f64; 3],
    ground: Vector3<f64>,
    last_fwd: f64,
    last_side: f64,
    mount_off: Vector3<f64>,
}

impl Body {
    fn step(&mut self) -> Pose {
        self.t += self.dt;
        let t = self.t;
        let dt = self.dt;
        let mut v = [[0.0; 3]; NDOF];
        for (i, tr) in self.tracks.iter_mut().enumerate() {
            v[i] = tr.eval(t);
        }
        let l = &self.l;
        // Tremor on the working joint: an amplitude- and frequency-wandering
        // oscillation, larger while the leg is held up.
        let [ph, amp, fq] = &mut self.tremor;
        let k = (dt / 0.4).min(1.0);
        *amp += k * (l.tremor - *amp) + l.tremor * 0.25 * (2.0 * k).sqrt() * gauss(&mut self.rng);
        *fq += k * (l.tremor_hz - *fq) + 0.4 * (2.0 * k).sqrt() * gauss(&mut self.rng);
        *ph += 2.0 * PI * *fq * dt;
        let load = 0.05 + 0.95 * (v[ABD][0].abs() / l.range.max(0.05)).min(1.5);
        let trem = amp.abs() * load * ph.sin();
        let trem_a = -(2.0 * PI * *fq).powi(2) * trem;
        let (abd, abd_a) = if self.hitch {
            (v[ABD][0], v[ABD][2])
        } else {
            (v[ABD][0] + trem, v[ABD][2] + trem_a)
        };
        let lie = v[LIE][0].clamp(-1.0, 1.0);
        let seat = v[SEAT][0].clamp(0.0, 1.0);
        // How much of the body stands (lying and seated bodies are held).
        let stand = (1.0 - seat) * (1.0 - lie.abs());

        // Postural sway: coloured noise torques.
        for (i, n) in self.noise.iter_mut().enumerate() {
            let tau = [0.6, 1.2, 0.8][i];
            let kk = dt / tau;
            *n += -kk * *n + (2.0 * kk).sqrt() * gauss(&mut self.rng);
        }
        // What drives the reaction: the leg (or, in a hip hitch, the
        // pelvis' own voluntary motion), and the other leg mirrored.
        let (drive, drive_a) = if self.hitch {
            (-v[OBL][0], -v[OBL][2])
        } else {
            (abd - v[OTHER][0], abd_a - v[OTHER][2])
        };
        let past = if self.hist.len() > self.delay_steps {
            self.hist[self.hist.len() - 1 - self.delay_steps]
        } else {
            [0.0; 4]
        };
        // Lying and seated bodies sway far less than standing ones.
        let sway = l.sway * DEG * (0.3 + 0.7 * stand);
        // Pelvic obliquity (reaction part): static moment of the leg, the
        // reaction to its angular acceleration, a delayed reflex, sway.
        let wp = l.wp;
        let target = l.obl_gain * drive;
        let acc_p = wp * wp * (target - self.obl[0])
            - 2.0 * l.zp * wp * self.obl[1]
            - l.kp * drive_a
            - l.reflex_k * wp * wp * past[0]
            - l.reflex_b * wp * past[1]
            + 0.1 * sway * wp * wp * self.noise[0]
            - 0.3 * l.kt * self.trunk_acc;
        self.obl[1] += acc_p * dt;
        self.obl[0] += self.obl[1] * dt;
        // The whole body's shift over the support.
        let wl = l.wl;
        let lean_target = l.lean_gain * drive.abs().sin() * drive.signum();
        let acc_l = wl * wl * (lean_target - self.lean[0]) - 2.0 * l.zl * wl * self.lean[1]
            + l.kl * drive_a
            - l.reflex_k * wl * wl * past[2]
            - l.reflex_b * wl * past[3]
            + 0.35 * sway * wl * wl * self.noise[1];
        self.lean[1] += acc_l * dt;
        self.lean[0] += self.lean[1] * dt;
        // The trunk lags the pelvis (inertia), pulled back by its stiffness.
        let wt = l.wt;
        let acc_t = -wt * wt * self.trunk[0] - 2.0 * l.zt * wt * self.trunk[1] - l.kt * acc_p;
        self.trunk_acc = acc_t;
        self.trunk[1] += acc_t * dt;
        self.trunk[0] += self.trunk[1] * dt;
        // Twist about the vertical from the leg's flexion and abduction.
        let wy = l.wy;
        let acc_y = -wy * wy * self.twist[0]
            - 2.0 * 0.6 * wy * self.twist[1]
            - l.ky * (v[FLEX][2] + 0.4 * abd_a)
            + 0.3 * sway * wy * wy * 0.3 * self.noise[2];
        self.twist[1] += acc_y * dt;
        self.twist[0] += self.twist[1] * dt;
        self.hist
            .push_back([self.obl[0], self.obl[1], self.lean[0], self.lean[1]]);
        if self.hist.len() > self.delay_steps + 2 {
            self.hist.pop_front();
        }

        // Walking moves the ground point along the heading.
        let yaw = v[YAW][0];
        let yq = ry(yaw);
        let dfwd = v[FWD][0] - self.last_fwd;
        let dside = v[SIDE][0] - self.last_side;
        self.last_fwd = v[FWD][0];
        self.last_side = v[SIDE][0];
        self.ground += yq * Vector3::new(dside, 0.0, -dfwd);

        // Forward kinematics.
        let s = self.side;
        let sf = self.free;
        let w = l.hip_w;
        let lie_q = rz(s * lie * FRAC_PI_2);
        let rock = v[ROCK][0];
        let la = lie.abs();
        let rock_q = rz(rock * (1.0 - la)) * ry(rock * la);
        let phi = v[OBL][0] + self.obl[0];
        let lean = self.lean[0];
        let stance_hip = Vector3::new(sf * w / 2.0, 0.0, 0.0);
        let base = yq * lie_q * rock_q;
        let p_q = base
            * rz(-sf * lean * (1.0 - la))
            * ry(lean * la * 0.5)
            * rz(sf * phi)
            * rx(v[TILT][0])
            * ry(v[TWIST][0] + self.twist[0]);
        let pivot_h = seat * self.seat_h + la * self.bed_h;
        let vec = stance_hip * stand
            + Vector3::new(0.0, l.hip_h * stand + 0.1 * seat + 0.12 * la * 0.0, 0.0)
            + Vector3::new(lie.signum() * s * 0.12 * la, 0.0, 0.0)
            + Vector3::new(0.0, v[BOB][0], 0.0);
        let obl_shift = (rz(sf * phi) * stance_hip - stance_hip) * stand;
        let center = self.ground
            + yq * Vector3::new(0.0, pivot_h, 0.0)
            + base * (vec + obl_shift)
            + yq * lie_q * Vector3::new(-sf * l.hip_h * lean * stand, 0.0, 0.0);
        let hip = center + p_q * Vector3::new(s * w / 2.0, 0.0, 0.0);
        let flex = v[FLEX][0];
        let hip_q = rz(s * abd * (1.0 - seat))
            * ry(-s * abd * seat)
            * rx(flex + seat * FRAC_PI_2)
            * ry(s * v[ROT][0]);
        let thigh_q = p_q * hip_q;
        let knee = hip + thigh_q * Vector3::new(0.0, -l.thigh, 0.0);
        let shank_q = thigh_q * rx(-(v[KNEE][0] + seat * FRAC_PI_2));
        let (seg_q, seg_p) = if self.pelvis {
            (p_q, center + p_q * Vector3::new(0.0, 0.03, 0.11))
        } else {
            let mq = ry(v[MOUNT][0]);
            (
                shank_q * mq,
                knee + shank_q * (Vector3::new(0.0, -0.8 * l.shank, 0.0) + mq * self.mount_off),
            )
        };
        Pose {
            seg_q,
            seg_p,
            pelvis_q: p_q,
            shank_q,
            flex,
            abd: if self.hitch { phi } else { abd },
        }
    }
}

// ---------------------------------------------------------------------------
// The sensor

#[derive(Debug, Clone)]
struct SensorModel {
    mount: UnitQuaternion<f64>,
    ppm: f64,
    gyro_bias: Vector3<f64>,
    acc_bias: Vector3<f64>,
    gyro_scale: Vector3<f64>,
    acc_scale: Vector3<f64>,
    cross: nalgebra::Matrix3<f64>,
    acc_sd: f64,
    gyr_sd: f64,
    acc_lsb: f64,
    gyr_lsb: f64,
    acc_max: f64,
    gyr_max: f64,
    wobble_w: f64,
    wobble_z: f64,
    wobble_k: f64,
    creep_sd: f64,
}

impl SensorModel {
    fn draw(rng: &mut ChaCha8Rng, cfg: &SimConfig) -> SensorModel {
        let b = cfg.gyro_bias_dps;
        let mut ub = |m: f64| {
            if m > 0.0 {
                rng.gen_range(-m..m)
            } else {
                0.0
            }
        };
        let gyro_bias = Vector3::new(ub(b), ub(b), ub(b));
        let acc_bias = Vector3::new(ub(0.12), ub(0.12), ub(0.12));
        let gyro_scale = Vector3::new(1.0 + ub(0.02), 1.0 + ub(0.02), 1.0 + ub(0.02));
        let acc_scale = Vector3::new(1.0 + ub(0.012), 1.0 + ub(0.012), 1.0 + ub(0.012));
        let mut cross = nalgebra::Matrix3::identity();
        for i in 0..3 {
            for j in 0..3 {
                if i != j {
                    cross[(i, j)] = ub(0.01);
                }
            }
        }
        let mount = match (cfg.placement, cfg.random_mounting) {
            (Placement::Ankle, true) => {
                let v = Vector3::new(gauss(rng), gauss(rng), gauss(rng));
                let v = if v.norm() < 1e-9 {
                    Vector3::x()
                } else {
                    v.normalize()
                };
                UnitQuaternion::from_scaled_axis(v * rng.gen_range(0.0..PI))
            }
            (Placement::Pelvis, true) => {
                let v = Vector3::new(gauss(rng), gauss(rng), gauss(rng));
                let v = if v.norm() < 1e-9 {
                    Vector3::x()
                } else {
                    v.normalize()
                };
                UnitQuaternion::from_scaled_axis(v * rng.gen_range(0.0..15.0) * DEG)
            }
            _ => UnitQuaternion::identity(),
        };
        let (acc_g, gyr_dps) = match rng.gen_range(0..10) {
            0..=4 => (16.0, 2000.0),
            5..=7 => (8.0, 2000.0),
            8 => (8.0, 1000.0),
            _ => (4.0, 500.0),
        };
        let density = rng.gen_range(0.6..1.6);
        SensorModel {
            mount,
            ppm: rng.gen_range(-80.0..80.0),
            gyro_bias,
            acc_bias,
            gyro_scale,
            acc_scale,
            cross,
            acc_sd: cfg.noise * density * 0.02 * (cfg.rate_hz / 100.0).sqrt(),
            gyr_sd: cfg.noise * density * 0.1 * (cfg.rate_hz / 100.0).sqrt(),
            acc_lsb: acc_g * STANDARD_GRAVITY / 32768.0,
            gyr_lsb: gyr_dps / 32768.0,
            acc_max: acc_g * STANDARD_GRAVITY,
            gyr_max: gyr_dps,
            wobble_w: 2.0 * PI * rng.gen_range(7.0..15.0),
            wobble_z: rng.gen_range(0.2..0.5),
            wobble_k: rng.gen_range(0.3..1.2) * DEG / STANDARD_GRAVITY,
            creep_sd: rng.gen_range(0.01..0.03) * DEG,
        }
    }
}

// ---------------------------------------------------------------------------
// The simulator

/// The lognormal body model: see the module documentation.
#[derive(Debug)]
pub struct LognormalSimulator {
    body: Body,
    sensor: SensorModel,
    rng: ChaCha8Rng,
    /// Internal steps per second.
    dt: f64,
    /// Output sample interval on the sensor's clock, s.
    ts: f64,
    duration: f64,
    j: u64,
    hist: VecDeque<(Vector3<f64>, UnitQuaternion<f64>)>,
    wobble: [Vector3<f64>; 2],
    creep: Vector3<f64>,
    creep_rate: Vector3<f64>,
    last_acc: Vector3<f64>,
    pending: Option<Pose>,
    drift: Vector3<f64>,
    gap_until: f64,
    gap_p: f64,
    drop_rate: f64,
    #[cfg(test)]
    planned: Vec<PlannedSet>,
    #[cfg(test)]
    acts: Vec<(String, f64, f64)>,
}

impl LognormalSimulator {
    /// Builds the session `cfg` asks for: the sample stream and its truth.
    pub fn new(cfg: &SimConfig) -> Result<(Self, Truth), String> {
        Self::build(cfg, Force::default())
    }

    fn build(cfg: &SimConfig, force: Force) -> Result<(Self, Truth), String> {
        cfg.validate()?;
        let mut root = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x4c6f_676e_6f72_6d21);
        let plan_rng = ChaCha8Rng::seed_from_u64(root.gen());
        let body_rng = ChaCha8Rng::seed_from_u64(root.gen());
        let mut sensor_rng = ChaCha8Rng::seed_from_u64(root.gen());
        let mut prng = plan_rng;
        let lifter = Lifter::draw(&mut prng, cfg.exercise);
        let mut tracks = vec![Track::default(); NDOF];
        match cfg.exercise {
            Exercise::SideLyingAbduction => tracks[LIE].base = 1.0,
            Exercise::SeatedMachineAbduction => tracks[SEAT].base = 1.0,
            _ => {}
        }
        let mut p = Planner {
            cfg,
            rng: prng,
            l: lifter,
            tracks,
            fin: [0.0; NDOF],
            acts: Vec::new(),
            visible: cfg.visible_compensations(),
            force,
            multi: 0,
            fatigue: 0.0,
        };
        p.fin[LIE] = p.tracks[LIE].base;
        p.fin[SEAT] = p.tracks[SEAT].base;
        // Reach the first set.
        let lead = match cfg.lead_in_s {
            Some(x) => x.max(0.0),
            None => {
                if p.rng.gen_bool(0.15) {
                    p.rng.gen_range(0.3..0.8)
                } else {
                    p.rng.gen_range(0.5..3.0)
                }
            }
        };
        let mut t = lead + 0.3;
        let mut sets = Vec::new();
        for i in 0..cfg.sets {
            let n = p.rng.gen_range(cfg.reps_min..=cfg.reps_max);
            let ps = p.set(t, n, i);
            let end = ps.end_s;
            sets.push(ps);
            if i + 1 < cfg.sets {
                let r = p.rng.gen_range(cfg.rest_min_s..=cfg.rest_max_s);
                let next = end + r;
                let g0 = p.rng.gen_range(1.5..3.5);
                p.rest(end, next - g0);
                t = next;
            } else {
                t = end;
            }
        }
        // The tail: still, or cut off in the middle of the next thing.
        let mut duration = t + p.rng.gen_range(1.0..6.0);
        if (cfg.walking || cfg.fidgets) && p.rng.gen_bool(0.25) {
            let k = if cfg.walking { 0 } else { 7 };
            let start = t + p.rng.gen_range(1.7..3.0);
            let end = p.activity(k, start);
            duration = start + (end - start) * p.rng.gen_range(0.3..0.8);
            if let Some(a) = p.acts.last_mut() {
                a.2 = duration;
            }
        }
        for tr in p.tracks.iter_mut() {
            tr.sort();
        }
        let fs = (4.0 * cfg.rate_hz).max(400.0);
        let dt = 1.0 / fs;
        let hitch = cfg.exercise == Exercise::HipHitch;
        let side = cfg.side.sign();
        let free = cfg.exercise.free_side(cfg.side).sign();
        let mut brng = body_rng;
        let mount_dir = brng.gen_range(-PI..PI);
        let body = Body {
            delay_steps: (p.l.delay / dt).round() as usize,
            l: p.l.clone(),
            tracks: p.tracks.clone(),
            dt,
            t: 0.0,
            side,
            free,
            hitch,
            pelvis: cfg.placement == Placement::Pelvis,
            seat_h: brng.gen_range(0.42..0.5),
            bed_h: brng.gen_range(0.1..0.6),
            obl: [0.0; 2],
            lean: [0.0; 2],
            trunk: [0.0; 2],
            trunk_acc: 0.0,
            twist: [0.0; 2],
            hist: VecDeque::new(),
            noise: [0.0; 3],
            tremor: [0.0, p.l.tremor, p.l.tremor_hz],
            ground: Vector3::zeros(),
            last_fwd: 0.0,
            last_side: 0.0,
            mount_off: Vector3::new(mount_dir.cos() * 0.045, 0.0, mount_dir.sin() * 0.045),
            rng: brng,
        };
        let sensor = SensorModel::draw(&mut sensor_rng, cfg);
        let clock = 1.0 + sensor.ppm * 1e-6;
        let truth_sets = measure(body.clone(), &sets, &p.acts, cfg, duration, clock);
        let to_clock = |x: f64| round3(x / clock);
        let distractions = p
            .acts
            .iter()
            .map(|(w, a, b)| format!("{:.3}-{:.3} s: {w}", a / clock, b / clock))
            .collect();
        let truth = Truth {
            config: cfg.clone(),
            duration_s: to_clock(duration),
            distractions,
            sets: truth_sets,
        };
        let sim = LognormalSimulator {
            body,
            sensor,
            rng: sensor_rng,
            dt,
            ts: 1.0 / cfg.rate_hz,
            duration,
            j: 0,
            hist: VecDeque::new(),
            wobble: [Vector3::zeros(); 2],
            creep: Vector3::zeros(),
            creep_rate: Vector3::zeros(),
            last_acc: Vector3::zeros(),
            pending: None,
            drift: Vector3::zeros(),
            gap_until: -1.0,
            gap_p: cfg.gaps_per_min / 60.0 / cfg.rate_hz,
            drop_rate: cfg.drop_rate,
            #[cfg(test)]
            planned: sets,
            #[cfg(test)]
            acts: p.acts.clone(),
        };
        Ok((sim, truth))
    }

    /// One internal step: advances the body and returns the sensor's true
    /// specific force (m/s², sensor axes) and angular rate (rad/s) at the
    /// step before.
    fn internal(&mut self) -> Option<(Vector3<f64>, Vector3<f64>)> {
        let pose = self.body.step();
        let dt = self.dt;
        let sm = &self.sensor;
        // Soft tissue: the sensor rocks on its strap, driven by the
        // segment's acceleration; the strap creeps slowly.
        let a_seg = pose.seg_q.inverse() * self.last_acc;
        let [w, wd] = &mut self.wobble;
        let ww = sm.wobble_w;
        let acc_w = -ww * ww * *w - 2.0 * sm.wobble_z * ww * *wd
            + ww * ww * sm.wobble_k * Vector3::new(a_seg.z, 0.0, -a_seg.x);
        *wd += acc_w * dt;
        *w += *wd * dt;
        // The creep's rate wanders slowly (an Ornstein–Uhlenbeck rate).
        let kc = dt / 30.0;
        let cs = sm.creep_sd * (2.0 * kc).sqrt();
        self.creep_rate = self.creep_rate * (1.0 - kc)
            + Vector3::new(
                cs * gauss(&mut self.rng),
                cs * gauss(&mut self.rng),
                cs * gauss(&mut self.rng),
            );
        self.creep += self.creep_rate * dt;
        if self.creep.norm() > 3.0 * DEG {
            self.creep *= 0.999;
        }
        let q = pose.seg_q
            * UnitQuaternion::from_scaled_axis(self.creep)
            * sm.mount
            * UnitQuaternion::from_scaled_axis(*w);
        self.hist.push_back((pose.seg_p, q));
        self.pending = Some(pose);
        if self.hist.len() > 3 {
            self.hist.pop_front();
        }
        if self.hist.len() < 3 {
            return None;
        }
        let (p0, q0) = self.hist[0];
        let (p1, q1) = self.hist[1];
        let (p2, q2) = self.hist[2];
        let a = (p2 - 2.0 * p1 + p0) / (dt * dt);
        self.last_acc = a;
        let f = q1.inverse() * (a + Vector3::new(0.0, STANDARD_GRAVITY, 0.0));
        let omega = (q0.inverse() * q2).scaled_axis() / (2.0 * dt);
        Some((f, omega))
    }
}

impl Iterator for LognormalSimulator {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        let clock = 1.0 + self.sensor.ppm * 1e-6;
        loop {
            let stamp = self.j as f64 * self.ts;
            let t_phys = stamp * clock;
            if t_phys > self.duration {
                return None;
            }
            self.j += 1;
            // Average the true signals over the sample interval.
            let mut sum_f = Vector3::zeros();
            let mut sum_w = Vector3::zeros();
            let mut n = 0usize;
            while self.body.t <= t_phys || n == 0 {
                if let Some((f, w)) = self.internal() {
                    sum_f += f;
                    sum_w += w;
                    n += 1;
                }
            }
            let n = n.max(1) as f64;
            let f = sum_f / n;
            let w = sum_w / n / DEG;
            let sm = &self.sensor;
            let dts = self.ts;
            let dsd = 0.002 * sm.gyro_bias.norm().max(0.1) * dts.sqrt();
            self.drift += Vector3::new(
                dsd * gauss(&mut self.rng),
                dsd * gauss(&mut self.rng),
                dsd * gauss(&mut self.rng),
            );
            self.drift *= 1.0 - dts / 300.0;
            let mut gyr = (sm.cross * w).component_mul(&sm.gyro_scale) + sm.gyro_bias + self.drift;
            let mut acc = (sm.cross.transpose() * f).component_mul(&sm.acc_scale) + sm.acc_bias;
            for i in 0..3 {
                gyr[i] += sm.gyr_sd * gauss(&mut self.rng);
                acc[i] += sm.acc_sd * gauss(&mut self.rng);
                gyr[i] =
                    ((gyr[i] / sm.gyr_lsb).round() * sm.gyr_lsb).clamp(-sm.gyr_max, sm.gyr_max);
                acc[i] =
                    ((acc[i] / sm.acc_lsb).round() * sm.acc_lsb).clamp(-sm.acc_max, sm.acc_max);
            }
            // Drops and gaps.
            if self.gap_p > 0.0 && self.rng.gen::<f64>() < self.gap_p {
                self.gap_until = stamp + 0.2;
            }
            let drop = self.drop_rate > 0.0 && self.rng.gen::<f64>() < self.drop_rate;
            if stamp < self.gap_until || drop {
                continue;
            }
            return Some(Sample {
                t: (stamp * 1e6).round() / 1e6,
                acc,
                gyr,
            });
        }
    }
}

// ---------------------------------------------------------------------------
// Truth, measured on the simulated motion

struct Trace {
    t: Vec<f64>,
    /// Main angle from neutral, ° (ankle: shank rotation; pelvis: the leg's
    /// abduction, or the drop of the free side in a hip hitch).
    main: Vec<f64>,
    /// Pelvic obliquity from neutral, ° (free side up positive).
    obl: Vec<f64>,
    /// Hip flexion from neutral, °.
    flex: Vec<f64>,
}

fn measure(
    mut body: Body,
    sets: &[PlannedSet],
    acts: &[(String, f64, f64)],
    cfg: &SimConfig,
    duration: f64,
    clock: f64,
) -> Vec<TruthSet> {
    let every = ((1.0 / body.dt) / 100.0).round().max(1.0) as usize;
    let free = body.free;
    let hitch = body.hitch;
    let ankle = cfg.placement == Placement::Ankle;
    let visible = cfg.visible_compensations();
    let mut out = Vec::new();
    let mut k = 0usize;
    for (si, ps) in sets.iter().enumerate() {
        let stop = sets
            .get(si + 1)
            .map_or(duration, |n| n.neutral_s - 1.0)
            .min(ps.end_s + 1.5)
            .min(duration);
        // Never into what follows the set.
        let stop = acts
            .iter()
            .map(|a| a.1)
            .filter(|&a| a > ps.end_s - 0.5)
            .fold(stop, |s, a| s.min(a - 0.1));
        // Up to the neutral.
        let mut pose = body.step();
        k += 1;
        while body.t < ps.neutral_s {
            pose = body.step();
            k += 1;
        }
        let rest_shank = pose.shank_q;
        let rest_pelvis = pose.pelvis_q;
        let rest_flex = pose.flex;
        let rest_abd = pose.abd;
        let mut tr = Trace {
            t: Vec::new(),
            main: Vec::new(),
            obl: Vec::new(),
            flex: Vec::new(),
        };
        while body.t < stop {
            let pose = body.step();
            k += 1;
            if !k.is_multiple_of(every) {
                continue;
            }
            let r = rest_pelvis.inverse() * pose.pelvis_q;
            let x = r * Vector3::x();
            let obl = x.y.atan2(x.x) * free / DEG;
            let main = if hitch {
                -obl
            } else if ankle {
                rest_shank.angle_to(&pose.shank_q) / DEG
            } else {
                (pose.abd - rest_abd) / DEG
            };
            tr.t.push(body.t);
            tr.main.push(main);
            tr.obl.push(obl);
            tr.flex.push((pose.flex - rest_flex) / DEG);
        }
        let step = every as f64 * body.dt;
        out.push(reps_of(
            &tr,
            &visible,
            clock,
            ps.neutral_s,
            step,
            !ankle,
            hitch,
        ));
    }
    out
}

/// The largest value held for at least `n` samples (the running minimum's
/// maximum), and the smallest held likewise.
fn held(x: &[f64], n: usize) -> (f64, f64) {
    if x.is_empty() {
        return (0.0, 0.0);
    }
    let n = n.max(1).min(x.len());
    let mut hi = f64::MIN;
    let mut lo = f64::MAX;
    for w in x.windows(n) {
        let mn = w.iter().copied().fold(f64::MAX, f64::min);
        let mx = w.iter().copied().fold(f64::MIN, f64::max);
        hi = hi.max(mn);
        lo = lo.min(mx);
    }
    (hi, lo)
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn reps_of(
    tr: &Trace,
    visible: &[FlagKind],
    clock: f64,
    neutral_s: f64,
    step: f64,
    pelvis: bool,
    hitch: bool,
) -> TruthSet {
    let m = &tr.main;
    let n = m.len();
    let empty = TruthSet {
        start_s: round3(neutral_s / clock),
        end_s: round3(neutral_s / clock),
        rep_count: 0,
        reps: Vec::new(),
    };
    if n < 3 {
        return empty;
    }
    // Pass 1: the working range from the big excursions.
    let big = m.iter().copied().fold(0.0, f64::max);
    let excursions = |enter: f64, exit: f64| {
        let mut v: Vec<(usize, usize)> = Vec::new();
        let mut i = 0;
        while i < n {
            if m[i] > enter {
                let mut a = i;
                while a > 0 && m[a - 1] > exit {
                    a -= 1;
                }
                let mut b = i;
                while b + 1 < n && m[b + 1] > exit {
                    b += 1;
                }
                v.push((a, b));
                i = b + 1;
            } else {
                i += 1;
            }
        }
        v
    };
    let peak = |(a, b): (usize, usize)| m[a..=b].iter().copied().fold(f64::MIN, f64::max);
    let e1 = (0.12 * big).max(1.5);
    let w = median(
        excursions(e1, 0.6 * e1)
            .into_iter()
            .map(peak)
            .filter(|&p| p >= 0.5 * big)
            .collect(),
    );
    if w < 2.0 {
        return empty;
    }
    // Pass 2: a rep leaves neutral, peaks above the rep threshold, returns
    // near neutral; excursions that do not come back are one rep.
    let near = (0.2 * w).max(1.0);
    let threshold = (0.45 * w).max(2.5);
    let mut reps: Vec<(usize, usize, f64)> = Vec::new();
    let mut last_end = 0usize;
    for (a, b) in excursions(near, near) {
        let p = peak((a, b));
        if p < threshold {
            continue;
        }
        // Leaving neutral: back to the quiet before it.
        let mut s = a;
        let quiet = (0.06 * w).max(0.6);
        while s > last_end && m[s - 1] < m[s] && m[s] > quiet {
            s -= 1;
        }
        let mut e = b;
        while e + 1 < n && m[e + 1] < m[e] && m[e] > quiet {
            e += 1;
        }
        if hitch {
            // Pulled past level: the overshoot and its settling are the rep's.
            let mut k = e;
            while k + 1 < n && m[k + 1] <= m[k] {
                k += 1;
            }
            if m[k] < -near {
                while k + 1 < n && m[k] < -quiet && tr.t[k] - tr.t[e] < 3.0 {
                    k += 1;
                }
                e = k;
            }
        }
        reps.push((s, e, p));
        last_end = e;
    }
    let peaks: Vec<f64> = reps.iter().map(|r| r.2).collect();
    let working = median(peaks);
    let mut out = Vec::new();
    for &(s, e, p) in &reps {
        let mut flags = Vec::new();
        let hold_n = (0.15 / step).ceil() as usize;
        let (hi, lo) = held(&tr.obl[s..=e], hold_n);
        // DOMAIN's peak: the shank's rotation, or the largest obliquity change.
        let peak_deg = if pelvis {
            tr.obl[s..=e]
                .iter()
                .copied()
                .fold(0.0f64, |a, b| a.max(b.abs()))
        } else {
            p
        };
        let sway = hi >= 5.0 && lo <= -5.0 && visible.contains(&FlagKind::TrunkSway);
        if sway {
            flags.push(TruthFlag {
                kind: FlagKind::TrunkSway,
                value_deg: round3(hi.min(-lo)),
            });
        } else {
            if hi >= 5.0 && visible.contains(&FlagKind::HipHike) {
                flags.push(TruthFlag {
                    kind: FlagKind::HipHike,
                    value_deg: round3(hi),
                });
            }
            // In a hip hitch the drop is the rep: only a sag well past the
            // set's working depth counts.
            let drop_line = if !visible.contains(&FlagKind::PelvicDrop) {
                f64::MIN
            } else if hitch {
                -(working + 5.0)
            } else {
                -5.0
            };
            if lo <= drop_line {
                flags.push(TruthFlag {
                    kind: FlagKind::PelvicDrop,
                    value_deg: round3(-lo),
                });
            }
        }
        if visible.contains(&FlagKind::Momentum) {
            // Rise from 10% to 90% of the peak.
            let top = s + m[s..=e]
                .iter()
                .enumerate()
                .fold(0, |bi, (i, &x)| if x > m[s + bi] { i } else { bi });
            let t10 = (s..=top).find(|&i| m[i] >= 0.1 * p);
            let t90 = (s..=top).find(|&i| m[i] >= 0.9 * p);
            if let (Some(a), Some(b)) = (t10, t90) {
                let rise = tr.t[b] - tr.t[a];
                if rise < 0.25 {
                    let w200 = (0.2 / step).round().max(1.0) as usize;
                    let fast = (s..=e.saturating_sub(w200).max(s))
                        .map(|i| (m[(i + w200).min(e)] - m[i]).abs())
                        .fold(0.0, f64::max);
                    flags.push(TruthFlag {
                        kind: FlagKind::Momentum,
                        value_deg: round3(fast),
                    });
                }
            }
        }
        if visible.contains(&FlagKind::PartialRange) && p < 0.7 * working {
            flags.push(TruthFlag {
                kind: FlagKind::PartialRange,
                value_deg: round3(p),
            });
        }
        if visible.contains(&FlagKind::HipFlexionDrift) {
            let f = tr.flex[s..=e].iter().copied().fold(f64::MIN, f64::max);
            if f >= 10.0 {
                flags.push(TruthFlag {
                    kind: FlagKind::HipFlexionDrift,
                    value_deg: round3(f),
                });
            }
        }
        out.push(TruthRep {
            start_s: round3(tr.t[s] / clock),
            end_s: round3(tr.t[e] / clock),
            peak_deg: round3(peak_deg),
            flags,
        });
    }
    if out.is_empty() {
        return empty;
    }
    TruthSet {
        start_s: out[0].start_s,
        end_s: out[out.len() - 1].end_s,
        rep_count: out.len(),
        reps: out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::sim::SimModel;
    use crate::Side;

    use crate::source::sim::PAIRS;

    fn short(ex: Exercise, pl: Placement, seed: u64) -> SimConfig {
        let mut c = SimConfig::new(ex, pl, Side::Right);
        c.model = SimModel::Lognormal;
        c.sets = 1;
        c.reps_min = 3;
        c.reps_max = 3;
        c.rest_min_s = 12.0;
        c.rest_max_s = 14.0;
        c.lead_in_s = Some(1.0);
        c.seed = seed;
        c
    }

    fn run(c: &SimConfig, force: Force) -> (Vec<Sample>, Truth, LognormalSimulator) {
        let (sim, truth) = LognormalSimulator::build(c, force).unwrap();
        let planned = LognormalSimulator::build(c, force).unwrap().0;
        (sim.collect(), truth, planned)
    }

    /// "a-b s: what" back into (a, b).
    fn span(d: &str) -> (f64, f64) {
        let (times, _) = d.split_once(" s: ").unwrap();
        let (a, b) = times.split_once('-').unwrap();
        (a.parse().unwrap(), b.parse().unwrap())
    }

    #[test]
    fn every_pair_and_rate_gives_finite_increasing_samples_and_a_truth() {
        for (i, (ex, pl)) in PAIRS.into_iter().enumerate() {
            for rate in [25.0, 100.0, 400.0] {
                let mut c = short(ex, pl, 40 + i as u64);
                c.reps_min = 2;
                c.reps_max = 2;
                c.rate_hz = rate;
                let (s, truth, _) = run(&c, Force::default());
                assert!(
                    s.len() as f64 > truth.duration_s * rate * 0.8,
                    "{ex} {pl} {rate}"
                );
                assert!(s.iter().all(Sample::is_finite), "{ex} {pl} {rate}");
                assert!(s.windows(2).all(|w| w[1].t > w[0].t), "{ex} {pl} {rate}");
                assert_eq!(truth.sets.len(), 1);
                assert!(
                    truth.sets[0].rep_count >= 2,
                    "{ex} {pl} {rate}: {:?}",
                    truth.sets
                );
                let last = s.last().unwrap().t;
                assert!(last <= truth.duration_s + 0.01 && last > truth.duration_s - 1.0);
            }
        }
    }

    #[test]
    fn one_g_at_rest() {
        for (i, (ex, pl)) in PAIRS.into_iter().enumerate() {
            let mut c = short(ex, pl, 60 + i as u64);
            c.noise = 0.0;
            c.gyro_bias_dps = 0.0;
            c.drop_rate = 0.0;
            c.gaps_per_min = 0.0;
            c.lead_in_s = Some(2.0);
            let (s, _, _) = run(&c, Force::default());
            for x in s.iter().filter(|x| x.t < 1.5) {
                let g = x.acc.norm();
                assert!((g - STANDARD_GRAVITY).abs() < 0.35, "{ex} {pl}: {g}");
                assert!(x.gyr.norm() < 4.0, "{ex} {pl}: {}", x.gyr);
            }
        }
    }

    #[test]
    fn truth_sets_do_not_overlap_the_distractions() {
        let mut seen = 0;
        for seed in 0..3u64 {
            for (ex, pl) in [PAIRS[0], PAIRS[3], PAIRS[5]] {
                let mut c = short(ex, pl, 100 + seed);
                c.sets = 3;
                c.rest_min_s = 40.0;
                c.rest_max_s = 60.0;
                let (sim, truth) = LognormalSimulator::build(&c, Force::default()).unwrap();
                assert_eq!(truth.sets.len(), 3);
                assert_eq!(truth.distractions.len(), sim.acts.len());
                for d in &truth.distractions {
                    let (a, b) = span(d);
                    seen += 1;
                    for s in &truth.sets {
                        assert!(b < s.start_s || a > s.end_s, "{d} overlaps {s:?}");
                    }
                }
            }
        }
        assert!(seen > 10, "{seen}");
    }

    #[test]
    fn an_abandoned_attempt_is_not_a_rep() {
        for (i, (ex, pl)) in PAIRS.into_iter().enumerate() {
            let mut c = short(ex, pl, 200 + i as u64);
            c.reps_min = 4;
            c.reps_max = 4;
            c.compensation_rate = 0.0;
            let force = Force {
                abandon: true,
                stall: false,
            };
            let (sim, truth) = LognormalSimulator::build(&c, force).unwrap();
            assert_eq!(sim.planned[0].abandoned.len(), 1);
            let a = sim.planned[0].abandoned[0];
            assert_eq!(truth.sets[0].rep_count, 4, "{ex} {pl}: {:?}", truth.sets);
            for r in &truth.sets[0].reps {
                assert!(
                    r.end_s < a || r.start_s > a + 0.8,
                    "{ex} {pl}: {r:?} at {a}"
                );
            }
        }
    }

    #[test]
    fn a_multi_impulse_half_rep_is_one_rep() {
        for (i, (ex, pl)) in PAIRS.into_iter().enumerate() {
            let mut c = short(ex, pl, 300 + i as u64);
            c.reps_min = 4;
            c.reps_max = 4;
            c.compensation_rate = 0.0;
            let force = Force {
                abandon: false,
                stall: true,
            };
            let (sim, truth) = LognormalSimulator::build(&c, force).unwrap();
            assert!(sim.planned[0].multi_impulse_halves >= 4);
            assert_eq!(truth.sets[0].rep_count, 4, "{ex} {pl}: {:?}", truth.sets);
        }
    }

    #[test]
    fn compensations_appear_when_asked_and_never_at_rate_zero() {
        for (i, (ex, pl)) in PAIRS.into_iter().enumerate() {
            let mut c = short(ex, pl, 400 + i as u64);
            c.reps_min = 10;
            c.reps_max = 10;
            c.compensation_rate = 0.0;
            for seed in 0..3 {
                c.seed = 400 + 10 * seed + i as u64;
                let (_, truth) = LognormalSimulator::build(&c, Force::default()).unwrap();
                for r in &truth.sets[0].reps {
                    assert!(r.flags.is_empty(), "{ex} {pl}: {r:?}");
                }
            }
            c.compensation_rate = 1.0;
            let (_, truth) = LognormalSimulator::build(&c, Force::default()).unwrap();
            let flagged = truth.sets[0]
                .reps
                .iter()
                .filter(|r| !r.flags.is_empty())
                .count();
            assert!(flagged >= 4, "{ex} {pl}: {:?}", truth.sets[0]);
            let visible = c.visible_compensations();
            for r in &truth.sets[0].reps {
                assert!(r.flags.iter().all(|f| visible.contains(&f.kind)));
            }
        }
    }

    /// Not a check: how the measured truth compares with the plan.
    #[test]
    #[ignore]
    fn print_plan_against_truth() {
        for (ex, pl) in PAIRS {
            let mut same = 0;
            let mut all = 0;
            for seed in 0..40 {
                let mut c = SimConfig::new(ex, pl, Side::Right);
                c.model = SimModel::Lognormal;
                c.seed = seed;
                let (sim, truth) = LognormalSimulator::build(&c, Force::default()).unwrap();
                for (p, s) in sim.planned.iter().zip(&truth.sets) {
                    all += 1;
                    if p.reps == s.rep_count {
                        same += 1;
                    } else {
                        println!(
                            "{ex} {pl} seed {seed}: planned {} measured {}",
                            p.reps, s.rep_count
                        );
                    }
                }
            }
            println!(
                "{ex} {pl}: {same}/{all} sets as planned; visible {:?}",
                SimConfig::new(ex, pl, Side::Right).visible_compensations()
            );
        }
    }
}
