//! The gym model: a lifter's behaviour as a semi-Markov process, the sensor
//! on soft tissue behind a slipping strap.
//!
//! Built apart from the counter and the other body models, from the exercise notes and
//! the real UCI side-lying recordings only: the hold-out, never tuned on.
//!
//! Three layers:
//! 1. **Behaviour.** Each lifter gets a tempo style (steady, fast-and-sloppy,
//!    slow with long top holds, rest-pause), a consistency, an attention and a
//!    fatigue rate. Within a set the lifter walks a semi-Markov grammar:
//!    brace → concentric (sometimes in two pushes) → top hold (sag, tremor)
//!    → eccentric (slow or dropped) → bottom pause (touch-and-go, ordinary,
//!    or a breathing pause), with aborted reps, foot re-sets and phone
//!    glances in between. Between sets: walks with heel strikes, turns,
//!    sitting, lying down and getting up, re-racking, drinking, re-strapping.
//!    Every movement is written as keyframes on joint channels.
//! 2. **Body.** A 3D pelvis (obliquity, tilt, yaw, sideways shift, whole-body
//!    lean and rocking, heading, posture: standing, lying on the side,
//!    seated) and the working leg (abduction, flexion, rotation, knee), as
//!    `UnitQuaternion`s; postural sway, breathing and tremor as sums of
//!    sinusoids; heel strikes and weight-stack clanks as damped impulses.
//! 3. **Sensor.** The IMU sits on a spring–damper (rotation and translation)
//!    on the bone, behind a strap that slips over a set and is re-tightened;
//!    over the sacrum skin lets it turn with the hip. Then a full error
//!    model: scale, misalignment, bias with warm-up drift, noise,
//!    quantisation, clipping, clock drift and jitter, drops and BLE gaps.
//!
//! The truth is read off the generated motion: rep bounds where the leg
//! leaves and regains its rest, the peak from the bone's rotation (ankle) or
//! the pelvis' obliquity (pelvis), pelvis flags from the true obliquity
//! against the exercise notes' thresholds.

use crate::motion::FlagKind;
use crate::sample::STANDARD_GRAVITY;
use crate::source::sim::{in_ble_gap, SimConfig, Truth, TruthFlag, TruthRep, TruthSet};
use crate::{Exercise, Placement, Sample};
use nalgebra::{Matrix3, UnitQuaternion, Vector3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

// ---------------------------------------------------------------- channels

const ABD: usize = 0; // working hip abduction, °
const FLEX: usize = 1; // working hip flexion, °
const HROT: usize = 2; // working hip rotation, °
const OBL: usize = 3; // pelvic obliquity, free side up, °
const TILT: usize = 4; // pelvic tilt (forward +), °
const PYAW: usize = 5; // pelvis yaw / roll back when lying, °
const LEAN: usize = 6; // whole-body lean that rolls the pelvis against the obliquity, °
const SHIFT: usize = 7; // hips toward the stance side, m
const ROCK: usize = 8; // whole-body rocking about the stance foot, free side up, °
const HEAD: usize = 9; // heading, °
const POSX: usize = 10; // world position, m
const POSZ: usize = 11;
const HEIGHT: usize = 12; // root height offset, m
const LIE: usize = 13; // 0 standing .. 90 lying on the stance side, °
const SIT: usize = 14; // 0 standing .. 1 seated
const KNEE: usize = 15; // working knee flexion, °
const TREM: usize = 16; // tremor envelope, 0..1
const SLIP_ROT: usize = 17; // strap turned about the limb, °
const SLIP_SLIDE: usize = 18; // strap slid along the limb, m
const JOLT: usize = 19; // shank-only vertical jolt (heel strikes, strap pulls), m
const OBLC: usize = 20; // compensating obliquity (hike, drop), free side up, °
const YAWC: usize = 21; // compensating pelvis yaw (trunk sway), °
const NCH: usize = 22;

/// Minimum-jerk blend.
fn smooth(s: f64) -> f64 {
    let s = s.clamp(0.0, 1.0);
    s * s * s * (10.0 - 15.0 * s + 6.0 * s * s)
}

/// Keyframes of one channel, blended by minimum jerk (or linearly).
#[derive(Debug, Clone)]
struct Track {
    t: Vec<f64>,
    v: Vec<f64>,
    /// Skew of the segment ending at each key: progress is `s^g` before the
    /// minimum-jerk blend (g < 1: the speed peaks early, g > 1: late).
    g: Vec<f64>,
    linear: bool,
}

impl Track {
    fn new(v0: f64, linear: bool) -> Self {
        Track {
            t: vec![0.0],
            v: vec![v0],
            g: vec![1.0],
            linear,
        }
    }
    fn last(&self) -> (f64, f64) {
        (*self.t.last().expect("key"), *self.v.last().expect("key"))
    }
    /// Holds the current value until `t0`, then moves to `v` by `t1`.
    fn mv(&mut self, t0: f64, t1: f64, v: f64) {
        self.mv_skewed(t0, t1, v, 1.0);
    }
    fn mv_skewed(&mut self, t0: f64, t1: f64, v: f64, g: f64) {
        let (lt, lv) = self.last();
        if t0 > lt + 1e-4 {
            self.t.push(t0);
            self.v.push(lv);
            self.g.push(1.0);
        }
        let (lt, _) = self.last();
        // A move whose window has mostly passed still takes its time: never a jump.
        let t1 = if t1 < lt + 0.05 {
            lt + (t1 - t0).clamp(0.05, 0.3)
        } else {
            t1
        };
        self.t.push(t1);
        self.v.push(v);
        self.g.push(g);
    }
    fn at(&self, t: f64) -> f64 {
        let i = self.t.partition_point(|&x| x <= t);
        if i == 0 {
            return self.v[0];
        }
        if i >= self.t.len() {
            return self.v[self.v.len() - 1];
        }
        let (t0, t1, v0, v1) = (self.t[i - 1], self.t[i], self.v[i - 1], self.v[i]);
        let mut s = (t - t0) / (t1 - t0);
        let g = self.g[i];
        if g != 1.0 {
            s = s.powf(g);
        }
        v0 + (v1 - v0) * if self.linear { s } else { smooth(s) }
    }
}

/// A damped ringing added to a channel (heel strikes, stack clanks, strap pulls).
#[derive(Debug, Clone, Copy)]
struct Impulse {
    t0: f64,
    ch: usize,
    amp: f64,
    hz: f64,
    tau: f64,
}

/// A sinusoid added to a channel (sway, breathing, tremor).
#[derive(Debug, Clone, Copy)]
struct Wave {
    ch: usize,
    amp: f64,
    hz: f64,
    phase: f64,
}

/// How a lifter paces a set.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Style {
    Steady,
    FastSloppy,
    SlowHolds,
    RestPause,
}

/// One lifter and their strap.
#[derive(Debug, Clone)]
struct Lifter {
    style: Style,
    /// Rep-to-rep coefficient of variation of durations and peaks.
    consistency: f64,
    /// 0.5..1: low attention means more aborted reps, re-sets, phone glances.
    attention: f64,
    /// Working range, ° (abduction, or the hip hitch's drop).
    range: f64,
    fatigue: f64,
    amp_drop: f64,
    /// Clean obliquity and counter-lean per full rep, °.
    obl_gain: f64,
    lean_gain: f64,
    shift_gain: f64,
    roll_gain: f64,
    /// Strap natural frequency (Hz) and damping ratio, rotation and translation.
    strap_hz: f64,
    strap_zeta: f64,
    strap_couple: f64,
    /// Strap slip per rep, ° and m.
    slip_deg: f64,
    slip_m: f64,
    tremor_deg: f64,
    tremor_hz: f64,
    /// Slow corrections while holding, ° and Hz.
    wobble_deg: f64,
    wobble_hz: f64,
}

/// Everything the body does, as channels over time.
#[derive(Debug, Clone)]
struct Plan {
    tracks: Vec<Track>,
    impulses: Vec<Impulse>,
    waves: Vec<Wave>,
    /// Mount changes: (start of the change, duration, new mount).
    mounts: Vec<(f64, f64, UnitQuaternion<f64>)>,
    /// Working side sign (+1 right), free-side sign.
    s: f64,
    f: f64,
    placement: Placement,
    /// Skin: sensor turn per degree of abduction / flexion (pelvis).
    skin: (f64, f64),
}

fn rx(deg: f64) -> UnitQuaternion<f64> {
    UnitQuaternion::from_axis_angle(&Vector3::x_axis(), deg.to_radians())
}
fn ry(deg: f64) -> UnitQuaternion<f64> {
    UnitQuaternion::from_axis_angle(&Vector3::y_axis(), deg.to_radians())
}
fn rz(deg: f64) -> UnitQuaternion<f64> {
    UnitQuaternion::from_axis_angle(&Vector3::z_axis(), deg.to_radians())
}

impl Plan {
    fn channels(&self, t: f64) -> [f64; NCH] {
        let mut c = [0.0; NCH];
        for (k, tr) in self.tracks.iter().enumerate() {
            c[k] = tr.at(t);
        }
        let upright = (1.0 - c[LIE] / 90.0).clamp(0.0, 1.0) * (1.0 - c[SIT]).clamp(0.0, 1.0);
        for w in &self.waves {
            let scale = match w.ch {
                ABD => c[TREM],
                LEAN | SHIFT | ROCK => upright,
                _ => 1.0,
            };
            c[w.ch] += scale * w.amp * (std::f64::consts::TAU * w.hz * t + w.phase).sin();
        }
        let from = self.impulses.partition_point(|i| i.t0 < t - 1.0);
        for i in &self.impulses[from..] {
            if i.t0 > t {
                break;
            }
            let d = t - i.t0;
            // Impacts (heel strikes, jolts) rise in ~5 ms; joint bounces and
            // clanks over a quarter period, so no velocity steps.
            let rise = if i.ch == ABD { 0.25 / i.hz } else { 0.005 };
            c[i.ch] += i.amp
                * smooth(d / rise)
                * (-d / i.tau).exp()
                * (std::f64::consts::TAU * i.hz * d).sin();
        }
        c
    }

    /// True obliquity (free side up, °) before subtracting the set's neutral.
    fn obliquity(c: &[f64; NCH]) -> f64 {
        c[OBL] + c[OBLC] - c[LEAN] + c[ROCK]
    }

    /// The sensor's static mount at `t` (re-straps blend over a second or two).
    fn mount(&self, t: f64) -> UnitQuaternion<f64> {
        let mut m = self.mounts[0].2;
        for &(t0, dur, q) in &self.mounts[1..] {
            if t >= t0 + dur {
                m = q;
            } else if t > t0 {
                m = m.slerp(&q, smooth((t - t0) / dur));
            }
        }
        m
    }

    /// Bone orientation and the nominal sensor orientation and position.
    fn pose(&self, t: f64) -> (UnitQuaternion<f64>, UnitQuaternion<f64>, Vector3<f64>) {
        let c = self.channels(t);
        let (s, f) = (self.s, self.f);
        let head = ry(c[HEAD]);
        let lie = rz(s * c[LIE]);
        let upright = (1.0 - c[LIE] / 90.0).clamp(0.0, 1.0);
        let roll = f * Plan::obliquity(&c);
        let pelvis_q = head * lie * rz(roll) * rx(-c[TILT]) * ry(c[PYAW] + c[YAWC]);
        let h = 0.95 - 0.45 * c[SIT].clamp(0.0, 1.0) - 0.8 * (1.0 - upright);
        let side = -f * (c[SHIFT] + 0.9 * c[ROCK].to_radians().sin()) * upright;
        let root =
            Vector3::new(c[POSX], h + c[HEIGHT], c[POSZ]) + head * Vector3::new(side, 0.0, 0.0);
        let mount = self.mount(t);
        match self.placement {
            Placement::Pelvis => {
                let skin = rz(self.skin.0 * s * c[ABD]) * rx(self.skin.1 * c[FLEX]);
                let slip = rx(c[SLIP_ROT]);
                let pos = root + pelvis_q * Vector3::new(0.0, 0.03 - c[SLIP_SLIDE], 0.12);
                (pelvis_q, pelvis_q * skin * slip * mount, pos)
            }
            Placement::Ankle => {
                let sit = c[SIT].clamp(0.0, 1.0);
                let flex = c[FLEX] + 90.0 * sit;
                let knee = c[KNEE] + 90.0 * sit;
                let hip = root + pelvis_q * Vector3::new(s * 0.09, -0.06, 0.0);
                let thigh = pelvis_q * rx(flex) * rz(s * c[ABD]) * ry(s * c[HROT]);
                let knee_p = hip + thigh * Vector3::new(0.0, -0.45, 0.0);
                let shank = thigh * rx(-knee);
                let pos = knee_p
                    + shank * Vector3::new(s * 0.045, -0.36 + c[SLIP_SLIDE], 0.0)
                    + Vector3::new(0.0, c[JOLT], 0.0);
                (shank, shank * ry(c[SLIP_ROT]) * mount, pos)
            }
        }
    }
}

// ---------------------------------------------------------------- behaviour

struct Builder<'a> {
    plan: Plan,
    rng: &'a mut ChaCha8Rng,
    lifter: Lifter,
    exercise: Exercise,
    visible: Vec<FlagKind>,
    fidgets: bool,
    walking: bool,
    t: f64,
    notes: Vec<(f64, String)>,
    /// Rep truth skeletons: (start, end, intended flags, peak index).
    reps: Vec<RepPlan>,
    set_bounds: Vec<(usize, usize, f64)>,
    rest_abd: f64,
    comp_rate: f64,
    /// This movement's skew (see [`Track::g`]).
    skew: f64,
}

#[derive(Debug, Clone)]
struct RepPlan {
    start: f64,
    end: f64,
    kind: Option<FlagKind>,
    value: f64,
}

fn u(rng: &mut ChaCha8Rng, a: f64, b: f64) -> f64 {
    if b <= a {
        a
    } else {
        rng.gen_range(a..b)
    }
}

impl Builder<'_> {
    fn tr(&mut self, ch: usize) -> &mut Track {
        &mut self.plan.tracks[ch]
    }
    fn val(&self, ch: usize) -> f64 {
        self.plan.tracks[ch].last().1
    }
    fn mv(&mut self, ch: usize, t0: f64, t1: f64, v: f64) {
        self.tr(ch).mv(t0, t1, v);
    }
    fn add(&mut self, ch: usize, t0: f64, t1: f64, dv: f64) {
        let v = self.val(ch) + dv;
        self.mv(ch, t0, t1, v);
    }
    fn imp(&mut self, t0: f64, ch: usize, amp: f64, hz: f64, tau: f64) {
        self.plan.impulses.push(Impulse {
            t0,
            ch,
            amp,
            hz,
            tau,
        });
    }
    fn note(&mut self, t: f64, s: String) {
        self.notes.push((t, s));
    }
    fn leg_exercise(&self) -> bool {
        self.exercise != Exercise::HipHitch
    }
    fn standing(&self) -> bool {
        matches!(
            self.exercise,
            Exercise::StandingCableAbduction | Exercise::HipHitch
        )
    }

    /// Moves the rep's main channel to `frac` of the working range (with the
    /// clean couplings of pelvis, lean, shift and roll-back) over t0..t1.
    fn rep_to(&mut self, t0: f64, t1: f64, frac: f64, range: f64) {
        let l = self.lifter.clone();
        if self.leg_exercise() {
            let abd = self.rest_abd + frac * range;
            let g = self.skew;
            self.tr(ABD).mv_skewed(t0, t1, abd, g);
            let r = frac * range / l.range.max(1.0);
            self.mv(OBL, t0, t1, l.obl_gain * r);
            if self.standing() {
                self.mv(LEAN, t0, t1, l.lean_gain * r);
                self.mv(SHIFT, t0, t1, l.shift_gain * r);
                self.mv(PYAW, t0, t1, -0.8 * l.obl_gain * r);
            } else if self.exercise == Exercise::SideLyingAbduction {
                self.mv(PYAW, t0, t1, -l.roll_gain * r);
                self.mv(TILT, t0, t1, 0.4 * l.roll_gain * r);
            } else {
                // Seated: the pelvis barely moves; the seat back takes the push.
                self.mv(OBL, t0, t1, 0.2 * l.obl_gain * r);
            }
        } else {
            // Hip hitch: the free side drops by frac·range (the rep itself).
            let r = frac;
            self.mv(OBL, t0, t1, -frac * range);
            self.mv(SHIFT, t0, t1, l.shift_gain * 0.5 * r);
            self.mv(LEAN, t0, t1, -0.3 * l.lean_gain * r);
        }
    }

    fn brace(&mut self) {
        // Get ready: a weight shift and a small pre-movement, sometimes none.
        if self.rng.gen_bool(0.25) {
            return;
        }
        let d = u(self.rng, 0.6, 2.0);
        let t = self.t;
        let sh = u(self.rng, 0.004, 0.015);
        self.add(SHIFT, t, t + d * 0.5, sh);
        self.add(SHIFT, t + d * 0.5, t + d, -sh * 0.7);
        if self.leg_exercise() {
            let a = u(self.rng, -1.5, 2.0);
            self.add(ABD, t + 0.1, t + d * 0.6, a);
            self.add(ABD, t + d * 0.6, t + d, -a);
            let fl = u(self.rng, -1.0, 1.5);
            self.add(FLEX, t, t + d, fl);
        } else {
            let o = u(self.rng, -1.0, 1.0);
            self.add(OBL, t, t + d * 0.5, o);
            self.add(OBL, t + d * 0.5, t + d, -o);
        }
        self.t += d + u(self.rng, 0.2, 0.8);
    }

    /// Base durations (up, hold, down, pause) for this lifter's style.
    fn tempo(&mut self) -> (f64, f64, f64, f64) {
        let r = &mut *self.rng;
        match self.lifter.style {
            Style::Steady => (
                u(r, 0.6, 1.2),
                u(r, 0.2, 1.0),
                u(r, 1.0, 2.0),
                u(r, 0.2, 1.0),
            ),
            Style::FastSloppy => (
                u(r, 0.35, 0.6),
                u(r, 0.0, 0.25),
                u(r, 0.45, 0.9),
                u(r, 0.0, 0.3),
            ),
            Style::SlowHolds => (
                u(r, 0.7, 1.4),
                u(r, 1.5, 4.5),
                u(r, 1.3, 2.5),
                u(r, 0.5, 1.6),
            ),
            Style::RestPause => (
                u(r, 0.6, 1.1),
                u(r, 0.3, 1.2),
                u(r, 0.9, 1.8),
                u(r, 0.3, 1.0),
            ),
        }
    }

    fn set(&mut self, n: usize, low_amp: bool, set_idx: usize) {
        let first = self.reps.len();
        self.brace();
        let l = self.lifter.clone();
        let (up0, hold0, down0, pause0) = self.tempo();
        let (hold0, range) = if low_amp {
            let r = if self.leg_exercise() {
                u(self.rng, 10.0, 35.0_f64.min(l.range))
            } else {
                u(self.rng, 5.0, 6.5)
            };
            (hold0.max(u(self.rng, 2.0, 4.5)), r)
        } else {
            (hold0, l.range)
        };
        let mut since_breath = 0;
        let mut paused_long = false;
        let mut done = 0;
        let set_start = self.t;
        while done < n {
            let p = if n > 1 {
                done as f64 / (n - 1) as f64
            } else {
                0.0
            };
            let slow = 1.0 + l.fatigue * p * p;
            let jit = |rng: &mut ChaCha8Rng| {
                let z: f64 = StandardNormal.sample(rng);
                (1.0 + l.consistency * z).clamp(0.6, 1.5)
            };
            let careless = 1.6 - l.attention;
            // Occasional events between reps, at most one at a time, after a
            // short pause: the gap stays under the exercise notes' ~10 s within a set.
            if done > 0 && !paused_long {
                let x: f64 = self.rng.gen();
                if x < 0.045 * careless {
                    self.aborted(range);
                } else if x < 0.07 * careless {
                    self.reset_foot();
                } else if x < 0.085 * careless {
                    self.phone();
                }
            }
            // Compensation, more likely near the end.
            let pc = (self.cfg_rate() * (0.5 + p)).min(1.0);
            let kind = if !self.visible.is_empty() && self.rng.gen_bool(pc) {
                let k = self.rng.gen_range(0..self.visible.len());
                Some(self.visible[k])
            } else {
                None
            };
            let mut up = up0 * slow * jit(self.rng);
            let mut hold = hold0 * jit(self.rng) * (1.0 + 0.3 * p);
            let mut down = down0 * slow * jit(self.rng);
            let mut frac = (1.0 - l.amp_drop * p * p) * jit(self.rng).clamp(0.85, 1.12);
            let dropped = self.rng.gen_bool(if l.style == Style::FastSloppy {
                0.3
            } else {
                0.05
            });
            if dropped {
                down = u(self.rng, 0.3, 0.5);
            } else if self.rng.gen_bool(0.1) {
                // A deliberately slow eccentric.
                down *= u(self.rng, 1.4, 2.0);
            }
            let long_hold = self.rng.gen_bool(0.08);
            if long_hold {
                hold = u(self.rng, 2.0, 3.0).max(hold);
            }
            let two_push = self.rng.gen_bool(0.03 + 0.08 * p * p);
            let mut flex_peak = u(self.rng, -1.5, 3.0);
            let mut value = 0.0;
            match kind {
                Some(FlagKind::Momentum) => {
                    up = u(self.rng, 0.3, 0.45);
                    hold = u(self.rng, 0.0, 0.08);
                    down = u(self.rng, 0.3, 0.5);
                    frac *= u(self.rng, 1.08, 1.25);
                }
                Some(FlagKind::PartialRange) => frac = u(self.rng, 0.45, 0.62),
                Some(FlagKind::HipFlexionDrift) => {
                    flex_peak = u(self.rng, 12.0, 25.0);
                    value = flex_peak;
                }
                Some(FlagKind::HipHike | FlagKind::PelvicDrop) => hold = hold.max(0.4),
                Some(FlagKind::TrunkSway) => {
                    up = up.max(0.7);
                    down = down.max(1.0);
                    hold = hold.max(0.3);
                }
                None => {}
            }
            let start = self.t;
            let flex0 = self.val(FLEX);
            // The UCI reps' concentric speed peaks at 0.4-0.6 of the rise, rep to rep ±0.3.
            self.skew = u(self.rng, 0.8, 1.25);
            // Concentric (maybe in two pushes).
            if two_push && kind != Some(FlagKind::Momentum) {
                let mid = u(self.rng, 0.45, 0.7) * frac;
                let t1 = start + up * 0.6;
                self.rep_to(start, t1, mid, range);
                let stall = u(self.rng, 0.3, 0.8);
                let sag = u(self.rng, 0.01, 0.05);
                self.rep_to(t1, t1 + stall, mid - sag, range);
                self.rep_to(t1 + stall, t1 + stall + up * 0.6, frac, range);
                self.t = t1 + stall + up * 0.6;
            } else {
                self.rep_to(start, start + up, frac, range);
                self.t = start + up;
            }
            let top = self.t;
            if self.exercise == Exercise::SeatedMachineAbduction {
                // The machine's arm carries on past the knees for a moment.
                let (a, hz) = (u(self.rng, 0.3, 1.0) * frac, u(self.rng, 2.5, 3.5));
                self.imp(top, ABD, a, hz, 0.15);
            }
            self.mv(FLEX, start, top, flex0 + flex_peak);
            // Top hold: sag and tremor growing with the hold and fatigue.
            if hold > 0.05 {
                let sag = u(self.rng, 0.02, 0.1) * (hold / 3.0).min(1.0);
                let trem = (0.3 + p).min(1.0) * (hold / 2.0).min(1.0);
                self.mv(TREM, top - 0.2, top + 0.3, trem);
                self.rep_to(top, top + hold, frac * (1.0 - sag), range);
                self.mv(TREM, top + hold - 0.1, top + hold + 0.3, 0.0);
            }
            self.t = top + hold;
            // Compensations on the pelvis (standing/lying leg work and the hip hitch).
            let ts = self.t;
            match kind {
                Some(FlagKind::HipHike) if self.leg_exercise() => {
                    // The side of the trunk lifts the leg: obliquity rises with it.
                    let v = u(self.rng, 6.5, 14.0);
                    value = v;
                    self.mv(OBLC, start + 0.1 * up, top, v);
                    self.mv(OBLC, ts, ts + down, 0.0);
                }
                Some(FlagKind::PelvicDrop) => {
                    // The stance glute med lets go while the leg is up.
                    let v = u(self.rng, 6.5, 10.0);
                    value = v;
                    self.mv(OBLC, start + 0.3 * up, top + 0.1, -v);
                    self.mv(OBLC, ts, ts + down, 0.0);
                }
                Some(FlagKind::TrunkSway) => {
                    // The whole body rocks away from the stack and back, with yaw.
                    let a = u(self.rng, 6.5, 9.5);
                    let b = u(self.rng, 6.5, 9.5);
                    value = a.min(b);
                    let t_a = start + 0.5 * up;
                    let y = u(self.rng, 2.0, 5.0);
                    self.mv(ROCK, start, t_a, a);
                    self.mv(ROCK, t_a, t_a + 0.25, a);
                    self.mv(YAWC, start, t_a, y);
                    let t_b = ts + 0.5 * down;
                    self.mv(ROCK, t_a + 0.25, t_b, -b);
                    self.mv(ROCK, t_b, t_b + 0.25, -b);
                    self.mv(YAWC, t_a + 0.25, t_b, -y);
                    self.mv(ROCK, t_b + 0.25, t_b + 0.25 + 0.5 * down, 0.0);
                    self.mv(YAWC, t_b + 0.25, t_b + 0.25 + 0.5 * down, 0.0);
                }
                _ => {}
            }
            // Eccentric (in the hip hitch: pulling the free side back up).
            let e0 = self.t;
            self.skew = u(self.rng, 0.8, 1.25);
            self.rep_to(e0, e0 + down, 0.0, range);
            let fl = flex0 + u(self.rng, -0.5, 0.5);
            self.mv(FLEX, e0, e0 + down, fl);
            self.t = e0 + down;
            if kind == Some(FlagKind::HipHike) && !self.leg_exercise() {
                // Hip hitch: hitched past level with the trunk, held, let down.
                let v = u(self.rng, 6.5, 10.0);
                value = v;
                let held = u(self.rng, 0.3, 0.8);
                self.mv(OBLC, e0 + 0.3 * down, e0 + down + 0.3, v);
                self.mv(OBLC, e0 + down + 0.3 + held, e0 + down + 0.9 + held, 0.0);
                self.t = e0 + down + 0.9 + held;
            }
            let end = if kind == Some(FlagKind::TrunkSway) {
                self.t.max(self.plan.tracks[ROCK].last().0)
            } else {
                self.t
            };
            self.t = end;
            if dropped || kind == Some(FlagKind::Momentum) {
                let a = u(self.rng, 1.5, 4.0);
                let hz = u(self.rng, 2.5, 4.0);
                self.imp(end - 0.02, ABD, -a, hz, 0.12);
            }
            if self.exercise != Exercise::SideLyingAbduction && self.leg_exercise() {
                // The stack touches down: a clank through the cable or the arm.
                let hz = u(self.rng, 8.0, 15.0);
                let a = if self.exercise == Exercise::SeatedMachineAbduction {
                    0.3
                } else {
                    0.1
                };
                let a = a * u(self.rng, 0.5, 1.5);
                self.imp(end, ABD, a, hz, 0.05);
            }
            // Strap slip, more with fast and sweaty lifters.
            let speed = (1.0 / up).min(4.0);
            let dslip = l.slip_deg * speed * u(self.rng, 0.5, 1.5);
            self.add(SLIP_ROT, start, end, dslip);
            self.add(SLIP_SLIDE, start, end, l.slip_m * speed);
            self.reps.push(RepPlan {
                start,
                end,
                kind,
                value,
            });
            done += 1;
            since_breath += 1;
            // Bottom pause.
            if done < n {
                let breath_due = match l.style {
                    Style::RestPause => since_breath >= self.rng.gen_range(3..7),
                    _ => self.rng.gen_bool(0.03 + 0.1 * p),
                };
                paused_long = breath_due;
                let pause = if breath_due {
                    since_breath = 0;
                    u(self.rng, 2.0, 4.0)
                } else if self.rng.gen_bool(0.15) {
                    u(self.rng, 0.0, 0.1) // touch and go
                } else {
                    pause0 * jit(self.rng)
                };
                self.t += pause;
            }
        }
        let _ = (set_start, set_idx);
        self.set_bounds.push((first, self.reps.len(), range));
    }

    fn cfg_rate(&self) -> f64 {
        self.comp_rate
    }

    fn aborted(&mut self, range: f64) {
        let t = self.t;
        let frac = u(self.rng, 0.12, 0.33);
        let up = u(self.rng, 0.3, 0.6);
        let down = u(self.rng, 0.4, 0.7);
        self.rep_to(t, t + up, frac, range);
        self.rep_to(t + up, t + up + down, 0.0, range);
        self.note(
            t,
            format!(
                "aborted rep at {{t}} s: the leg came back at {:.0}% of the range; not a rep",
                frac * 100.0
            ),
        );
        self.t = t + up + down + u(self.rng, 0.8, 2.0);
    }

    fn reset_foot(&mut self) {
        let t = self.t;
        let d = u(self.rng, 1.5, 3.0);
        if self.leg_exercise() {
            self.add(KNEE, t, t + d * 0.4, 20.0);
            self.add(FLEX, t, t + d * 0.4, 8.0);
            let new_rest = u(self.rng, -2.0, 2.0);
            self.mv(KNEE, t + d * 0.6, t + d, self.plan.tracks[KNEE].v[0]);
            let fl = self.val(FLEX) - 8.0 + u(self.rng, -1.0, 1.0);
            self.mv(FLEX, t + d * 0.6, t + d, fl);
            let a = self.rest_abd + new_rest;
            self.mv(ABD, t + 0.2, t + d * 0.8, a);
            self.rest_abd = a;
            self.imp(t + d, JOLT, 0.002, 14.0, 0.03);
        }
        let sh = u(self.rng, -0.02, 0.02);
        self.add(SHIFT, t, t + d, sh);
        let hd = u(self.rng, -4.0, 4.0);
        self.add(HEAD, t, t + d, hd);
        self.note(t, "re-set the foot mid-set at {t} s".into());
        self.t = t + d + u(self.rng, 0.5, 1.5);
    }

    fn phone(&mut self) {
        let t = self.t;
        let y = u(self.rng, 8.0, 15.0) * if self.rng.gen_bool(0.5) { 1.0 } else { -1.0 };
        let hold = u(self.rng, 2.0, 4.0);
        self.add(PYAW, t, t + 0.8, y);
        self.add(TILT, t, t + 0.8, 4.0);
        self.add(PYAW, t + 0.8 + hold, t + 1.6 + hold, -y);
        self.add(TILT, t + 0.8 + hold, t + 1.6 + hold, -4.0);
        self.note(t, "glanced at the phone at {t} s".into());
        self.t = t + 1.6 + hold + u(self.rng, 0.5, 1.5);
    }

    // ------------------------------------------------------ between sets

    fn walk(&mut self, steps: usize, turn: f64) {
        let t = self.t;
        let h = self.val(HEAD) + turn;
        let td = u(self.rng, 1.3, 2.0);
        self.mv(HEAD, t, t + td, h);
        self.imp(t + 0.4 * td, HEIGHT, 0.002, 10.0, 0.04);
        self.imp(t + 0.8 * td, JOLT, 0.0015, 14.0, 0.03);
        let t = t + td;
        let cad = u(self.rng, 0.5, 0.6);
        let len = u(self.rng, 0.55, 0.75) * steps as f64;
        let dir = ry(h) * Vector3::new(0.0, 0.0, -1.0);
        let (x, z) = (self.val(POSX) + dir.x * len, self.val(POSZ) + dir.z * len);
        let dur = cad * steps as f64;
        self.mv(POSX, t, t + dur, x);
        self.mv(POSZ, t, t + dur, z);
        for k in 0..steps {
            let ts = t + k as f64 * cad;
            let working = k % 2 == 0;
            if working {
                self.mv(FLEX, ts, ts + cad * 0.5, 25.0);
                self.mv(KNEE, ts, ts + cad * 0.45, 55.0);
                self.mv(FLEX, ts + cad * 0.5, ts + cad, 2.0);
                self.mv(KNEE, ts + cad * 0.45, ts + cad, 4.0);
                let (a, hz) = (u(self.rng, 0.001, 0.002), u(self.rng, 12.0, 18.0));
                self.imp(ts + cad, JOLT, a, hz, 0.03);
            }
            let o = if working { 3.0 } else { -3.0 };
            self.mv(OBL, ts, ts + cad * 0.5, o);
            self.mv(OBL, ts + cad * 0.5, ts + cad, 0.0);
            self.mv(PYAW, ts, ts + cad, if working { 4.0 } else { -4.0 });
            let (a, hz) = (u(self.rng, 0.001, 0.002), u(self.rng, 8.0, 14.0));
            self.imp(ts + cad, HEIGHT, a, hz, 0.04);
        }
        self.mv(PYAW, t + dur, t + dur + 0.4, 0.0);
        self.mv(FLEX, t + dur, t + dur + 0.3, 0.0);
        self.mv(KNEE, t + dur, t + dur + 0.3, 0.0);
        self.note(
            t,
            format!("walked {steps} steps after a {turn:.0}° turn at {{t}} s"),
        );
        self.t = t + dur + 0.5;
    }

    fn sit(&mut self, down: bool) {
        let t = self.t;
        let d = u(self.rng, 1.2, 2.0);
        self.mv(TILT, t, t + d * 0.5, 25.0);
        self.mv(SIT, t, t + d, if down { 1.0 } else { 0.0 });
        self.mv(TILT, t + d * 0.5, t + d, 0.0);
        if down {
            self.imp(t + d, HEIGHT, 0.004, 6.0, 0.06);
        }
        let what = if down { "sat down" } else { "stood up" };
        self.note(t, format!("{what} at {{t}} s"));
        self.t = t + d + 0.3;
    }

    fn lie(&mut self, down: bool) {
        let t = self.t;
        let d = u(self.rng, 2.5, 4.0);
        self.mv(KNEE, t, t + d * 0.4, 60.0);
        self.mv(FLEX, t, t + d * 0.4, 40.0);
        self.mv(LIE, t, t + d, if down { 90.0 } else { 0.0 });
        self.mv(KNEE, t + d * 0.6, t + d, 0.0);
        self.mv(FLEX, t + d * 0.6, t + d, 0.0);
        self.imp(t + d * 0.8, HEIGHT, 0.005, 5.0, 0.08);
        let what = if down { "lay down" } else { "got up" };
        self.note(t, format!("{what} at {{t}} s"));
        self.t = t + d + 0.5;
    }

    fn drink(&mut self) {
        let t = self.t;
        let d = u(self.rng, 2.0, 4.5);
        self.add(TILT, t, t + 0.8, -8.0);
        self.add(TILT, t + d, t + d + 0.8, 8.0);
        self.add(SHIFT, t, t + 0.8, 0.01);
        self.add(SHIFT, t + d, t + d + 0.8, -0.01);
        self.note(t, "drank water at {t} s".into());
        self.t = t + d + 1.0;
    }

    fn rerack(&mut self) {
        let t = self.t;
        let d = u(self.rng, 1.5, 3.0);
        self.add(TILT, t, t + d * 0.4, 30.0);
        self.add(KNEE, t, t + d * 0.4, 20.0);
        self.imp(t + d * 0.5, HEIGHT, 0.002, 9.0, 0.05);
        self.add(TILT, t + d * 0.6, t + d, -30.0);
        self.add(KNEE, t + d * 0.6, t + d, -20.0);
        let what = if self.exercise == Exercise::SeatedMachineAbduction {
            "moved the pin"
        } else {
            "re-racked the cable"
        };
        self.note(t, format!("{what} at {{t}} s"));
        self.t = t + d + 0.5;
    }

    fn shift_seat(&mut self) {
        let t = self.t;
        self.add(HEIGHT, t, t + 0.4, 0.02);
        let sh = u(self.rng, -0.03, 0.03);
        self.add(SHIFT, t + 0.2, t + 0.8, sh);
        let y = u(self.rng, -5.0, 5.0);
        self.add(PYAW, t, t + 0.8, y);
        self.add(HEIGHT, t + 0.6, t + 1.0, -0.02);
        self.imp(t + 1.0, HEIGHT, 0.003, 7.0, 0.05);
        let on = if self.exercise == Exercise::SideLyingAbduction {
            "shifted on the mat"
        } else {
            "shifted on the bench"
        };
        self.note(t, format!("{on} at {{t}} s"));
        self.t = t + 1.5;
    }

    fn restrap(&mut self, random_mounting: bool) {
        let t = self.t;
        let d = u(self.rng, 4.0, 8.0);
        if self.plan.placement == Placement::Ankle {
            if self.standing() {
                self.add(FLEX, t, t + 1.0, 50.0);
                self.add(KNEE, t, t + 1.0, 70.0);
                self.add(FLEX, t + d - 1.0, t + d, -50.0);
                self.add(KNEE, t + d - 1.0, t + d, -70.0);
            }
            self.add(TILT, t, t + 1.0, 35.0);
            self.add(TILT, t + d - 1.0, t + d, -35.0);
        }
        for _ in 0..self.rng.gen_range(3..7) {
            let ti = u(self.rng, t + 1.0, t + d - 1.0);
            let a = u(self.rng, 0.001, 0.003);
            let hz = u(self.rng, 6.0, 15.0);
            self.imp(ti, JOLT, a, hz, 0.05);
        }
        let m = mount(self.rng, self.plan.placement, random_mounting);
        self.plan.mounts.push((t + 1.5, d - 3.0, m));
        self.mv(SLIP_ROT, t + 1.5, t + d - 1.5, 0.0);
        self.mv(SLIP_SLIDE, t + 1.5, t + d - 1.5, 0.0);
        self.note(t, "re-strapped the sensor at {t} s".into());
        self.t = t + d + 0.5;
    }

    fn swing(&mut self) {
        let t = self.t;
        if self.leg_exercise() && self.plan.tracks[LIE].last().1 < 1.0 {
            let a = u(self.rng, 15.0, 30.0);
            self.add(ABD, t, t + 0.35, a);
            self.add(ABD, t + 0.35, t + 0.8, -a);
            self.note(t, "a single swing of the leg at {t} s; not a rep".into());
        } else {
            self.add(OBL, t, t + 0.5, 3.0);
            self.add(OBL, t + 0.5, t + 1.0, -3.0);
            self.note(t, "stretched the hip at {t} s".into());
        }
        self.t = t + 1.2;
    }

    fn shake(&mut self) {
        let t = self.t;
        let hz = u(self.rng, 2.5, 4.0);
        let n = (1.5 * hz) as usize;
        for k in 0..n {
            let a = if k % 2 == 0 { 8.0 } else { -8.0 };
            let tk = t + k as f64 / hz;
            self.mv(FLEX, tk, tk + 1.0 / hz, a);
            self.mv(KNEE, tk, tk + 1.0 / hz, 10.0 + a);
        }
        let te = t + n as f64 / hz;
        self.mv(FLEX, te, te + 0.3, 0.0);
        self.mv(KNEE, te, te + 0.3, self.plan.tracks[KNEE].v[0]);
        self.note(t, "shook the leg out at {t} s".into());
        self.t = te + 0.5;
    }

    /// Fills a rest of `rest` seconds after a set with what people do.
    fn rest(&mut self, rest: f64, random_mounting: bool, last: bool) {
        let t_end = self.t + rest;
        self.t += u(self.rng, 1.0, 2.5);
        if last {
            // The recording ends a few seconds after the last rep (UCI: 1-6 s).
            self.t = self.t.max(t_end);
            return;
        }
        let mut acts: Vec<u8> = Vec::new();
        // 0 walk away, 1 walk back, 2 sit, 3 stand, 4 drink, 5 rerack, 6 restrap,
        // 7 swing, 8 shake, 9 shift seat, 10 get up, 11 lie down, 12 step down, 13 step up
        let long = rest > 45.0;
        match self.exercise {
            Exercise::SeatedMachineAbduction => {
                acts.push(9);
                if self.rng.gen_bool(0.5) {
                    acts.push(4);
                }
                if self.rng.gen_bool(0.6) {
                    acts.push(5);
                }
            }
            Exercise::SideLyingAbduction => {
                if self.walking && long {
                    acts.extend([10, 0, 4, 1, 11]);
                } else {
                    acts.push(9);
                }
            }
            _ => {
                if self.exercise == Exercise::HipHitch {
                    acts.push(12);
                }
                if self.walking {
                    acts.push(0);
                    if long && self.rng.gen_bool(0.6) {
                        acts.extend([2, 4, 3]);
                    } else if self.rng.gen_bool(0.4) {
                        acts.push(4);
                    }
                    acts.push(1);
                }
                if self.exercise == Exercise::StandingCableAbduction {
                    acts.push(5);
                } else {
                    acts.push(13);
                }
            }
        }
        if self.fidgets {
            let at = self.rng.gen_range(0..=acts.len());
            if self.rng.gen_bool(0.5) {
                acts.insert(at, 7);
            } else if self.plan.placement == Placement::Ankle {
                acts.insert(at, 8);
            }
            if self.rng.gen_bool(0.3) {
                let lying_out =
                    self.exercise == Exercise::SideLyingAbduction && !acts.contains(&10);
                if !lying_out {
                    let pos = acts.len() - usize::from(acts.last() == Some(&11));
                    acts.insert(pos, 6);
                }
            }
        }
        let steps = self.rng.gen_range(4..10);
        // Leave at least 12 s of the rest clear of reps on either side of a
        // swing: budget the activities, dropping optional ones that do not fit.
        let est = |a: u8| -> f64 {
            match a {
                0 | 1 => 2.5 + 0.6 * steps as f64,
                2 | 3 => 2.3,
                4 => 5.5,
                5 => 3.5,
                6 => 8.5,
                7 => 1.2,
                8 => 2.5,
                9 => 1.5,
                10 | 11 => 4.5,
                _ => 1.5,
            }
        };
        while acts.iter().map(|&a| est(a)).sum::<f64>() > (t_end - self.t - 3.0) && !acts.is_empty()
        {
            // Drop the least essential: fidgets, drink, sit/stand pairs, then walks.
            let drop = [7u8, 8, 4, 6, 9, 5]
                .iter()
                .find_map(|d| acts.iter().position(|a| a == d));
            match drop {
                Some(i) => {
                    acts.remove(i);
                }
                None => {
                    if let Some(i) = acts.iter().position(|&a| a == 2) {
                        acts.remove(i);
                        if let Some(j) = acts.iter().position(|&a| a == 3) {
                            acts.remove(j);
                        }
                    } else if let Some(i) = acts.iter().position(|&a| a == 10) {
                        acts.remove(i);
                        if let Some(j) = acts.iter().position(|&a| a == 11) {
                            acts.remove(j);
                        }
                    } else if let Some(i) = acts.iter().position(|&a| a == 0) {
                        acts.remove(i);
                        if let Some(j) = acts.iter().position(|&a| a == 1) {
                            acts.remove(j);
                        }
                    } else {
                        acts.clear();
                    }
                }
            }
        }
        let budget: f64 = acts.iter().map(|&a| est(a)).sum();
        let gap = ((t_end - self.t - 3.0 - budget) / (acts.len() as f64 + 1.0)).max(0.0);
        for a in acts {
            self.t += gap * u(self.rng, 0.6, 1.0);
            if self.t > t_end - 3.0 {
                break;
            }
            match a {
                0 | 1 => {
                    let turn = u(self.rng, 150.0, 210.0);
                    self.walk(steps, turn)
                }
                2 => self.sit(true),
                3 => self.sit(false),
                4 => self.drink(),
                5 => self.rerack(),
                6 => self.restrap(random_mounting),
                7 => self.swing(),
                8 => self.shake(),
                9 => self.shift_seat(),
                10 => self.lie(false),
                11 => self.lie(true),
                12 | 13 => {
                    let t = self.t;
                    let dh = if a == 12 { -0.18 } else { 0.18 };
                    self.add(HEIGHT, t, t + 0.7, dh);
                    self.imp(t + 0.7, HEIGHT, 0.003, 9.0, 0.04);
                    let what = if a == 12 {
                        "stepped down"
                    } else {
                        "stepped up"
                    };
                    self.note(t, format!("{what} at {{t}} s"));
                    self.t = t + 1.2;
                }
                _ => {}
            }
        }
        self.t = self.t.max(t_end);
    }
}

/// A sensor mounting: any orientation on the shank, or a tilt within ±15° on the sacrum.
fn mount(rng: &mut ChaCha8Rng, placement: Placement, random: bool) -> UnitQuaternion<f64> {
    if !random {
        return UnitQuaternion::identity();
    }
    match placement {
        Placement::Ankle => {
            let v: [f64; 4] = std::array::from_fn(|_| StandardNormal.sample(rng));
            UnitQuaternion::from_quaternion(nalgebra::Quaternion::new(v[0], v[1], v[2], v[3]))
        }
        Placement::Pelvis => {
            let a: [f64; 3] = std::array::from_fn(|_| StandardNormal.sample(rng));
            let axis = Vector3::from(a);
            let ang = rng.gen_range(0.0..15.0_f64).to_radians();
            UnitQuaternion::from_scaled_axis(axis.normalize() * ang)
        }
    }
}

fn draw_lifter(rng: &mut ChaCha8Rng, exercise: Exercise, placement: Placement) -> Lifter {
    let style = match rng.gen_range(0..10) {
        0..=3 => Style::Steady,
        4..=5 => Style::FastSloppy,
        6..=7 => Style::SlowHolds,
        _ => Style::RestPause,
    };
    let range = match exercise {
        // UCI side-lying: 13-20° (subject 1) and 41-67° (subject 2) sets.
        Exercise::SideLyingAbduction => u(rng, 15.0, 55.0),
        Exercise::StandingCableAbduction => u(rng, 25.0, 45.0),
        Exercise::SeatedMachineAbduction => u(rng, 18.0, 40.0),
        _ => u(rng, 5.0, 12.0),
    };
    let lean_gain = u(rng, 0.0, 2.0);
    // Some lifters' lean nearly cancels their clean obliquity.
    let obl_gain = if rng.gen_bool(0.3) {
        lean_gain + u(rng, -0.3, 0.5)
    } else {
        u(rng, 0.5, 3.0)
    };
    let sweaty = rng.gen_bool(0.3);
    let fast = style == Style::FastSloppy;
    let (strap_hz, slip_deg) = match placement {
        Placement::Ankle => (u(rng, 9.0, 20.0), u(rng, 0.05, 0.5)),
        Placement::Pelvis => (u(rng, 6.0, 14.0), u(rng, 0.02, 0.15)),
    };
    let more = if sweaty { 2.0 } else { 1.0 } * if fast { 1.5 } else { 1.0 };
    Lifter {
        style,
        consistency: u(rng, 0.04, 0.15),
        attention: u(rng, 0.5, 1.0),
        range,
        fatigue: u(rng, 0.1, 0.6),
        amp_drop: u(rng, 0.03, 0.2),
        obl_gain: obl_gain.max(0.0),
        lean_gain,
        shift_gain: u(rng, 0.01, 0.04),
        roll_gain: u(rng, 1.0, 4.0),
        strap_hz,
        strap_zeta: u(rng, 0.1, 0.4),
        strap_couple: u(rng, 0.4, 1.0),
        slip_deg: slip_deg * more * if rng.gen_bool(0.5) { 1.0 } else { -1.0 },
        slip_m: u(rng, 0.0002, 0.0015) * more,
        tremor_deg: u(rng, 0.05, 0.15),
        tremor_hz: u(rng, 7.0, 11.0),
        wobble_deg: u(rng, 0.25, 0.8),
        wobble_hz: u(rng, 1.2, 3.0),
    }
}

/// Sensor error model, drawn per session.
#[derive(Debug, Clone)]
struct Errors {
    acc_m: Matrix3<f64>,
    gyr_m: Matrix3<f64>,
    acc_bias: Vector3<f64>,
    gyr_bias: Vector3<f64>,
    gyr_warm: Vector3<f64>,
    warm_tau: f64,
    /// Bias instability: random-walk step per √s, °/s, and its bound.
    gyr_walk: f64,
    gyr_walk_max: f64,
    acc_sd: f64,
    gyr_sd: f64,
    quantise: bool,
    drift: f64,
    jitter_s: f64,
}

fn small_matrix(rng: &mut ChaCha8Rng, scale: f64, misalign_deg: f64) -> Matrix3<f64> {
    let mut m = Matrix3::identity();
    for i in 0..3 {
        for j in 0..3 {
            m[(i, j)] += if i == j {
                u(rng, -scale, scale)
            } else {
                u(rng, -misalign_deg, misalign_deg).to_radians()
            };
        }
    }
    m
}

fn draw_errors(rng: &mut ChaCha8Rng, cfg: &SimConfig) -> Errors {
    let n = cfg.noise;
    let g = cfg.gyro_bias_dps;
    let v3 =
        |rng: &mut ChaCha8Rng, a: f64| Vector3::new(u(rng, -a, a), u(rng, -a, a), u(rng, -a, a));
    Errors {
        acc_m: small_matrix(rng, 0.005 * n, 0.3 * n),
        gyr_m: small_matrix(rng, 0.01 * n, 0.3 * n),
        acc_bias: v3(rng, 0.08 * n),
        gyr_bias: v3(rng, 0.7 * g),
        gyr_warm: v3(rng, 0.2 * g),
        warm_tau: u(rng, 120.0, 600.0),
        gyr_walk: 0.004 * g,
        gyr_walk_max: 0.1 * g,
        // The UCI MTx lying still: 0.4-0.5 °/s and 0.01-0.04 m/s² per axis.
        acc_sd: 0.02 * n,
        gyr_sd: 0.35 * n,
        quantise: n > 0.0,
        drift: u(rng, -40e-6, 40e-6) * n.min(1.0),
        jitter_s: 0.0003 * n.min(1.0),
    }
}

/// The gym body model's session: a stream of samples.
#[derive(Debug, Clone)]
pub struct GymSimulator {
    plan: Plan,
    err: Errors,
    rng: ChaCha8Rng,
    rate: f64,
    count: usize,
    index: usize,
    drop_rate: f64,
    gaps: Vec<f64>,
    gap_cursor: usize,
    // Strap dynamics.
    w: f64,
    zeta: f64,
    couple: f64,
    ur: Vector3<f64>,
    vr: Vector3<f64>,
    ut: Vector3<f64>,
    vt: Vector3<f64>,
    t_body: f64,
    last_pose: (UnitQuaternion<f64>, Vector3<f64>),
    last_t: f64,
    walk: Vector3<f64>,
}

const MAX_STEP: f64 = 0.002;

impl GymSimulator {
    /// Builds the session `cfg` asks for and its ground truth.
    pub fn new(cfg: &SimConfig) -> Result<(Self, Truth), String> {
        cfg.validate()?;
        if let Some(l) = cfg.lead_in_s {
            if !(0.0..=3600.0).contains(&l) {
                return Err(format!("lead-in is {l} s; expected 0..3600 s"));
            }
        }
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x67_79_6d_37);
        let lifter = draw_lifter(&mut rng, cfg.exercise, cfg.placement);
        let s = cfg.side.sign();
        let f = cfg.exercise.free_side(cfg.side).sign();
        let mut tracks: Vec<Track> = (0..NCH)
            .map(|k| Track::new(0.0, k == SLIP_ROT || k == SLIP_SLIDE))
            .collect();
        let seated = cfg.exercise == Exercise::SeatedMachineAbduction;
        let lying = cfg.exercise == Exercise::SideLyingAbduction;
        tracks[HEAD] = Track::new(rng.gen_range(0.0..360.0), false);
        tracks[SIT] = Track::new(if seated { 1.0 } else { 0.0 }, false);
        tracks[LIE] = Track::new(if lying { 90.0 } else { 0.0 }, false);
        let rest_abd = match cfg.exercise {
            // The cable pulls the foot a little across the stance leg.
            Exercise::StandingCableAbduction => -u(&mut rng, 0.0, 4.0),
            Exercise::SideLyingAbduction => -u(&mut rng, 0.0, 6.0),
            _ => 0.0,
        };
        tracks[ABD] = Track::new(rest_abd, false);
        let mut waves = Vec::new();
        for (ch, amp, lo, hi) in [
            (LEAN, 0.5, 0.08, 0.6),
            (LEAN, 0.3, 0.6, 1.5),
            (ROCK, 0.3, 0.1, 0.4),
            (SHIFT, 0.004, 0.1, 0.5),
            (PYAW, 0.4, 0.05, 0.5),
            (OBL, 0.25, 0.2, 1.0),
        ] {
            waves.push(Wave {
                ch,
                amp: amp * u(&mut rng, 0.4, 1.3),
                hz: u(&mut rng, lo, hi),
                phase: rng.gen_range(0.0..std::f64::consts::TAU),
            });
        }
        let breath = u(&mut rng, 0.18, 0.35);
        waves.push(Wave {
            ch: TILT,
            amp: u(&mut rng, 0.2, 0.6),
            hz: breath,
            phase: 0.0,
        });
        waves.push(Wave {
            ch: HEIGHT,
            amp: u(&mut rng, 0.001, 0.003),
            hz: breath,
            phase: 1.0,
        });
        // Holding: physiological tremor and slower corrections; the UCI holds
        // show 4-11 °/s of rate wobble (three axes, 25 Hz).
        for (amp, hz) in [
            (lifter.tremor_deg, lifter.tremor_hz),
            (lifter.tremor_deg * 0.5, lifter.tremor_hz * 1.37),
            (lifter.wobble_deg, lifter.wobble_hz),
            (lifter.wobble_deg * 0.6, lifter.wobble_hz * 0.53),
        ] {
            waves.push(Wave {
                ch: ABD,
                amp,
                hz,
                phase: rng.gen_range(0.0..std::f64::consts::TAU),
            });
        }
        let m0 = mount(&mut rng, cfg.placement, cfg.random_mounting);
        let plan = Plan {
            tracks,
            impulses: Vec::new(),
            waves,
            mounts: vec![(0.0, 1.0, m0)],
            s,
            f,
            placement: cfg.placement,
            skin: (u(&mut rng, 0.02, 0.08), u(&mut rng, 0.01, 0.05)),
        };
        let lead = cfg.lead_in_s.unwrap_or_else(|| {
            if rng.gen_bool(0.35) {
                u(&mut rng, 0.5, 1.0)
            } else {
                u(&mut rng, 1.0, 3.0)
            }
        });
        let mut b = Builder {
            plan,
            rng: &mut rng,
            lifter: lifter.clone(),
            exercise: cfg.exercise,
            visible: cfg.visible_compensations(),
            fidgets: cfg.fidgets,
            walking: cfg.walking,
            t: lead,
            notes: Vec::new(),
            reps: Vec::new(),
            set_bounds: Vec::new(),
            rest_abd,
            comp_rate: cfg.compensation_rate,
            skew: 1.0,
        };
        for k in 0..cfg.sets {
            let n = b.rng.gen_range(cfg.reps_min..=cfg.reps_max);
            let low = b.rng.gen_bool(if lifter.style == Style::SlowHolds {
                0.35
            } else {
                0.15
            });
            b.set(n, low, k);
            let rest = u(b.rng, cfg.rest_min_s, cfg.rest_max_s);
            let last = k + 1 == cfg.sets;
            let tail = u(b.rng, 1.0, 6.0);
            b.rest(if last { tail } else { rest }, cfg.random_mounting, last);
        }
        let duration = b.t;
        let Builder {
            mut plan,
            notes,
            reps,
            set_bounds,
            ..
        } = b;
        plan.impulses.sort_by(|a, b| a.t0.total_cmp(&b.t0));
        let err = draw_errors(&mut rng, cfg);
        let k = 1.0 + err.drift;
        let sets = truth_sets(&plan, cfg, &reps, &set_bounds, k);
        let distractions = notes
            .iter()
            .map(|(t, s)| s.replace("{t}", &format!("{:.1}", t * k)))
            .collect();
        let truth = Truth {
            config: cfg.clone(),
            duration_s: duration * k,
            distractions,
            sets,
        };
        let count = (duration * k * cfg.rate_hz).floor() as usize;
        let n_gaps = (cfg.gaps_per_min * duration / 60.0).round() as usize;
        let mut gaps: Vec<f64> = (0..n_gaps)
            .map(|_| rng.gen_range(0.0..duration * k))
            .collect();
        gaps.sort_by(f64::total_cmp);
        let (q0, _, p0) = plan.pose(0.0);
        let _ = q0;
        let (_, qs0, _) = plan.pose(0.0);
        let sim = GymSimulator {
            err,
            rng,
            rate: cfg.rate_hz,
            count,
            index: 0,
            drop_rate: cfg.drop_rate,
            gaps,
            gap_cursor: 0,
            w: std::f64::consts::TAU * lifter.strap_hz,
            zeta: lifter.strap_zeta,
            couple: lifter.strap_couple,
            ur: Vector3::zeros(),
            vr: Vector3::zeros(),
            ut: Vector3::zeros(),
            vt: Vector3::zeros(),
            t_body: 0.0,
            last_pose: (qs0, p0),
            last_t: f64::NEG_INFINITY,
            walk: Vector3::zeros(),
            plan,
        };
        Ok((sim, truth))
    }

    /// Advances the strap dynamics to body time `t`; returns the mean true
    /// specific force (m/s²) and angular rate (°/s) in the sensor frame over the step.
    fn advance(&mut self, t: f64) -> (Vector3<f64>, Vector3<f64>) {
        let span = t - self.t_body;
        if span <= 0.0 {
            return self.measure_at(t);
        }
        let n = (span / MAX_STEP).ceil().max(1.0) as usize;
        let dt = span / n as f64;
        let mut acc = Vector3::zeros();
        let mut gyr = Vector3::zeros();
        for _ in 0..n {
            let t0 = self.t_body;
            let (q0, p0) = self.last_pose;
            let (_, qm, pm) = self.plan.pose(t0 + dt * 0.5);
            let (_, q1, p1) = self.plan.pose(t0 + dt);
            let h = dt * 0.5;
            let w0 = (q0.inverse() * qm).scaled_axis() / h;
            let w1 = (qm.inverse() * q1).scaled_axis() / h;
            let omega = (w0 + w1) * 0.5; // rad/s, sensor frame
            let alpha = (w1 - w0) / h;
            let a_world = (p1 - 2.0 * pm + p0) / (h * h);
            let a_s = qm.inverse() * a_world;
            let (w, z, c) = (self.w, self.zeta, self.couple);
            // Rotation: soft tissue lags the bone's angular acceleration.
            let ar = -2.0 * z * w * self.vr - w * w * self.ur - c * alpha;
            self.vr += ar * dt;
            self.ur += self.vr * dt;
            // Translation: a stiffer, similarly damped mode.
            let wt = w * 1.3;
            let at = -2.0 * z * wt * self.vt - wt * wt * self.ut - c * a_s;
            self.vt += at * dt;
            self.ut += self.vt * dt;
            let lim = 10f64.to_radians();
            if self.ur.norm() > lim {
                self.ur *= lim / self.ur.norm();
            }
            let wobble = UnitQuaternion::from_scaled_axis(self.ur);
            let f_s = a_s + at + qm.inverse() * Vector3::new(0.0, STANDARD_GRAVITY, 0.0);
            acc += wobble.inverse() * f_s;
            gyr += (omega + self.vr).map(f64::to_degrees);
            self.t_body = t0 + dt;
            self.last_pose = (q1, p1);
        }
        (acc / n as f64, gyr / n as f64)
    }

    fn measure_at(&self, t: f64) -> (Vector3<f64>, Vector3<f64>) {
        let (_, q, _) = self.plan.pose(t);
        (
            q.inverse() * Vector3::new(0.0, STANDARD_GRAVITY, 0.0),
            Vector3::zeros(),
        )
    }
}

/// Reads the truth off the generated motion.
fn truth_sets(
    plan: &Plan,
    cfg: &SimConfig,
    reps: &[RepPlan],
    bounds: &[(usize, usize, f64)],
    k: f64,
) -> Vec<TruthSet> {
    let step = 0.01;
    let hold = 0.15;
    let mut sets = Vec::new();
    for &(a, b, _range) in bounds {
        let set_reps = &reps[a..b];
        let Some(first) = set_reps.first() else {
            continue;
        };
        let t_rest = first.start - 0.05;
        let c0 = plan.channels(t_rest);
        let neutral = Plan::obliquity(&c0);
        let (bone0, _, _) = plan.pose(t_rest);
        let flex0 = c0[FLEX];
        let mut out: Vec<TruthRep> = Vec::new();
        let mut peaks = Vec::new();
        for r in set_reps {
            let n = ((r.end - r.start) / step).ceil() as usize;
            let (mut peak, mut omax, mut omin, mut fmax) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
            let (mut run_hi, mut run_lo, mut best_hi, mut best_lo) = (0.0, 0.0, 0.0f64, 0.0f64);
            for i in 0..=n {
                let t = r.start + i as f64 * step;
                let c = plan.channels(t);
                let o = Plan::obliquity(&c) - neutral;
                omax = omax.max(o);
                omin = omin.min(o);
                fmax = fmax.max(c[FLEX] - flex0);
                run_hi = if o >= 5.0 { run_hi + step } else { 0.0 };
                run_lo = if o <= -5.0 { run_lo + step } else { 0.0 };
                best_hi = best_hi.max(run_hi);
                best_lo = best_lo.max(run_lo);
                let p = match cfg.placement {
                    Placement::Ankle => {
                        let (bone, _, _) = plan.pose(t);
                        (bone0.inverse() * bone).angle().to_degrees()
                    }
                    Placement::Pelvis => o.abs(),
                };
                peak = peak.max(p);
            }
            let visible = cfg.visible_compensations();
            let mut flags = Vec::new();
            let pelvis_flags = cfg.placement == Placement::Pelvis;
            if pelvis_flags {
                let hi = best_hi >= hold;
                let lo = best_lo >= hold;
                // Hip hitch: the drop is the exercise; only the hike past level counts.
                let hitch = cfg.exercise == Exercise::HipHitch;
                if hi && lo && !hitch && visible.contains(&FlagKind::TrunkSway) {
                    flags.push(TruthFlag {
                        kind: FlagKind::TrunkSway,
                        value_deg: omax.min(-omin),
                    });
                } else if hi && visible.contains(&FlagKind::HipHike) {
                    flags.push(TruthFlag {
                        kind: FlagKind::HipHike,
                        value_deg: omax,
                    });
                } else if lo && !hitch && visible.contains(&FlagKind::PelvicDrop) {
                    flags.push(TruthFlag {
                        kind: FlagKind::PelvicDrop,
                        value_deg: -omin,
                    });
                }
            } else {
                match r.kind {
                    Some(FlagKind::Momentum) => flags.push(TruthFlag {
                        kind: FlagKind::Momentum,
                        value_deg: peak,
                    }),
                    Some(FlagKind::HipFlexionDrift) if fmax >= 10.0 => flags.push(TruthFlag {
                        kind: FlagKind::HipFlexionDrift,
                        value_deg: fmax,
                    }),
                    _ => {}
                }
            }
            let _ = r.value;
            peaks.push(peak);
            out.push(TruthRep {
                start_s: r.start * k,
                end_s: r.end * k,
                peak_deg: peak,
                flags,
            });
        }
        // Partial range: well short (< 70 %) of the set's working range, the
        // median peak of the reps not done short on purpose.
        if cfg.placement == Placement::Ankle
            && cfg
                .visible_compensations()
                .contains(&FlagKind::PartialRange)
        {
            let mut full: Vec<f64> = set_reps
                .iter()
                .zip(&peaks)
                .filter(|(r, _)| r.kind != Some(FlagKind::PartialRange))
                .map(|(_, p)| *p)
                .collect();
            if full.is_empty() {
                full = peaks.clone();
            }
            full.sort_by(f64::total_cmp);
            let working = full[full.len() / 2];
            for rep in out.iter_mut() {
                if rep.peak_deg < 0.7 * working && rep.flags.is_empty() {
                    rep.flags.push(TruthFlag {
                        kind: FlagKind::PartialRange,
                        value_deg: working - rep.peak_deg,
                    });
                }
            }
        }
        sets.push(TruthSet {
            start_s: out[0].start_s,
            end_s: out[out.len() - 1].end_s,
            rep_count: out.len(),
            reps: out,
        });
    }
    sets
}

fn quantise(v: f64, step: f64) -> f64 {
    (v / step).round() * step
}

impl Iterator for GymSimulator {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        loop {
            if self.index >= self.count {
                return None;
            }
            let i = self.index;
            self.index += 1;
            let t_sensor = i as f64 / self.rate;
            let t_body = t_sensor / (1.0 + self.err.drift);
            let (f, w) = self.advance(t_body);
            let dropped = self.drop_rate > 0.0 && self.rng.gen_bool(self.drop_rate);
            let jitter = if self.err.jitter_s > 0.0 {
                self.rng.gen_range(-self.err.jitter_s..self.err.jitter_s)
            } else {
                0.0
            };
            let mut nz = || -> Vector3<f64> {
                Vector3::new(
                    StandardNormal.sample(&mut self.rng),
                    StandardNormal.sample(&mut self.rng),
                    StandardNormal.sample(&mut self.rng),
                )
            };
            let na = nz();
            let ng = nz();
            let nw = nz();
            if self.err.gyr_walk > 0.0 {
                let m = self.err.gyr_walk_max;
                self.walk += nw * (self.err.gyr_walk / self.rate.sqrt());
                self.walk = self.walk.map(|v| v.clamp(-m, m));
            }
            if dropped || in_ble_gap(&self.gaps, &mut self.gap_cursor, t_sensor) {
                continue;
            }
            let e = &self.err;
            let warm = 1.0 - (-t_body / e.warm_tau).exp();
            let mut acc = e.acc_m * f + e.acc_bias + na * e.acc_sd;
            let mut gyr = e.gyr_m * w + e.gyr_bias + e.gyr_warm * warm + self.walk + ng * e.gyr_sd;
            let (amax, gmax) = (16.0 * STANDARD_GRAVITY, 2000.0);
            for v in acc.iter_mut() {
                if e.quantise {
                    *v = quantise(*v, amax / 32768.0);
                }
                *v = v.clamp(-amax, amax);
            }
            for v in gyr.iter_mut() {
                if e.quantise {
                    *v = quantise(*v, gmax / 32768.0);
                }
                *v = v.clamp(-gmax, gmax);
            }
            let t = (t_sensor + jitter).max(self.last_t).max(0.0);
            self.last_t = t;
            return Some(Sample { t, acc, gyr });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::sim::SimModel;
    use crate::Side;

    fn cfg(e: Exercise, p: Placement, seed: u64) -> SimConfig {
        let mut c = SimConfig::new(e, p, Side::Right);
        c.model = SimModel::Gym;
        c.sets = 2;
        c.reps_min = 4;
        c.reps_max = 6;
        c.rest_min_s = 12.0;
        c.rest_max_s = 20.0;
        c.seed = seed;
        c
    }

    use crate::source::sim::PAIRS as COMBOS;

    fn lifter(style: Style) -> Lifter {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut l = draw_lifter(&mut rng, Exercise::StandingCableAbduction, Placement::Ankle);
        l.style = style;
        l.attention = 1.0;
        l
    }

    fn builder<'a>(rng: &'a mut ChaCha8Rng, c: &SimConfig, style: Style) -> Builder<'a> {
        let (sim, _) = GymSimulator::new(c).unwrap();
        let mut plan = sim.plan;
        plan.tracks = (0..NCH).map(|_| Track::new(0.0, false)).collect();
        plan.impulses.clear();
        Builder {
            plan,
            rng,
            lifter: lifter(style),
            exercise: c.exercise,
            visible: Vec::new(),
            fidgets: false,
            walking: false,
            t: 1.0,
            notes: Vec::new(),
            reps: Vec::new(),
            set_bounds: Vec::new(),
            rest_abd: 0.0,
            comp_rate: 0.0,
            skew: 1.0,
        }
    }

    #[test]
    fn truth_has_the_asked_sets_and_reps_for_every_exercise() {
        for (e, p) in COMBOS {
            for seed in 1..4 {
                let c = cfg(e, p, seed);
                let (_, t) = GymSimulator::new(&c).unwrap();
                assert_eq!(t.sets.len(), 2, "{e} {p}");
                let mut last = 0.0;
                for s in &t.sets {
                    assert!((4..=6).contains(&s.rep_count), "{e} {p} {}", s.rep_count);
                    assert_eq!(s.rep_count, s.reps.len());
                    for r in &s.reps {
                        assert!(r.start_s >= last && r.end_s > r.start_s, "{e} {p}");
                        // Over the sacrum a clean rep may barely roll the pelvis (the exercise notes).
                        let least = if p == Placement::Ankle { 2.0 } else { 0.0 };
                        assert!(r.peak_deg > least, "{e} {p} {}", r.peak_deg);
                        last = r.end_s;
                    }
                }
                assert!(t.duration_s >= last);
            }
        }
    }

    #[test]
    fn reps_in_a_set_follow_closely_and_sets_stand_apart() {
        for (e, p) in COMBOS {
            for seed in 1..6 {
                let mut c = cfg(e, p, seed);
                c.reps_min = 12;
                c.reps_max = 16;
                let (_, t) = GymSimulator::new(&c).unwrap();
                for s in &t.sets {
                    for w in s.reps.windows(2) {
                        let gap = w[1].start_s - w[0].end_s;
                        assert!((0.0..10.0).contains(&gap), "{e} {p} {seed}: {gap}");
                    }
                }
                for w in t.sets.windows(2) {
                    assert!(w[1].start_s - w[0].end_s > 12.0, "{e} {p} {seed}");
                }
            }
        }
    }

    #[test]
    fn samples_come_at_the_rate_and_read_gravity_at_rest() {
        for rate in [25.0, 400.0] {
            let mut c = cfg(Exercise::SideLyingAbduction, Placement::Ankle, 7);
            c.rate_hz = rate;
            c.drop_rate = 0.0;
            c.gaps_per_min = 0.0;
            c.sets = 1;
            c.lead_in_s = Some(2.0);
            let (sim, _) = GymSimulator::new(&c).unwrap();
            let s: Vec<Sample> = sim.take((rate * 1.5) as usize).collect();
            assert!(s.iter().all(Sample::is_finite));
            assert!(s.windows(2).all(|w| w[1].t >= w[0].t));
            let dt = (s[s.len() - 1].t - s[0].t) / (s.len() - 1) as f64;
            assert!((dt * rate - 1.0).abs() < 0.01, "{dt}");
            let g = s.iter().map(|x| x.acc.norm()).sum::<f64>() / s.len() as f64;
            assert!((g - STANDARD_GRAVITY).abs() < 0.3, "{g}");
        }
    }

    #[test]
    fn the_legs_real_rotation_reaches_the_truth_peak() {
        let mut c = cfg(Exercise::StandingCableAbduction, Placement::Ankle, 11);
        c.noise = 0.0;
        c.gyro_bias_dps = 0.0;
        c.drop_rate = 0.0;
        c.gaps_per_min = 0.0;
        c.sets = 1;
        c.compensation_rate = 0.0;
        let (sim, t) = GymSimulator::new(&c).unwrap();
        let r = &t.sets[0].reps[0];
        let s: Vec<Sample> = sim.take_while(|s| s.t <= r.end_s).collect();
        let mut ang = Vector3::zeros();
        let mut best = 0.0f64;
        for w in s.windows(2) {
            if w[1].t > r.start_s {
                ang += w[1].gyr * (w[1].t - w[0].t);
                best = best.max(ang.norm());
            }
        }
        assert!(
            (best - r.peak_deg).abs() < 0.15 * r.peak_deg,
            "{best} vs {}",
            r.peak_deg
        );
    }

    #[test]
    fn a_long_top_hold_is_one_rep_and_an_aborted_rep_none() {
        let c = cfg(Exercise::StandingCableAbduction, Placement::Ankle, 2);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut b = builder(&mut rng, &c, Style::SlowHolds);
        b.set(1, true, 0);
        b.t += 3.0;
        b.aborted(30.0);
        b.t += 3.0;
        let end = b.t;
        assert_eq!(b.reps.len(), 1);
        assert!(b.notes.iter().any(|(_, n)| n.contains("aborted")));
        let r = b.reps[0].clone();
        let plan = b.plan.clone();
        let sets = truth_sets(&plan, &c, &b.reps, &b.set_bounds, 1.0);
        assert_eq!(sets[0].rep_count, 1);
        // The hold: the leg stays within a few degrees of its peak for over 1.5 s.
        let peak = sets[0].reps[0].peak_deg;
        let top = (0..((r.end - r.start) * 100.0) as usize)
            .filter(|i| plan.channels(r.start + *i as f64 * 0.01)[ABD] > 0.85 * peak)
            .count();
        assert!(top > 150, "{top}");
        // The aborted rep leaves and comes back under 40 % of the range.
        let max_after = (0..((end - r.end) * 100.0) as usize)
            .map(|i| plan.channels(r.end + 0.5 + i as f64 * 0.01)[ABD])
            .fold(0.0f64, f64::max);
        assert!(
            max_after > 3.0 && max_after < 0.4 * 30.0 + 1.5,
            "{max_after}"
        );
    }

    #[test]
    fn aborted_reps_in_sessions_are_never_truth_reps() {
        let mut found = 0;
        for seed in 1..40 {
            let mut c = cfg(Exercise::SideLyingAbduction, Placement::Ankle, seed);
            c.reps_min = 10;
            c.reps_max = 12;
            let (_, t) = GymSimulator::new(&c).unwrap();
            for d in t.distractions.iter().filter(|d| d.starts_with("aborted")) {
                let at: f64 = d["aborted rep at ".len()..]
                    .split(' ')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap();
                found += 1;
                for s in &t.sets {
                    for r in &s.reps {
                        assert!(at + 0.2 < r.start_s || at > r.end_s, "seed {seed}: {d}");
                    }
                }
            }
        }
        assert!(found > 0);
    }

    #[test]
    fn a_fast_stop_makes_the_strap_ring_in_the_gyro() {
        let mut c = cfg(Exercise::StandingCableAbduction, Placement::Ankle, 5);
        c.noise = 0.0;
        c.gyro_bias_dps = 0.0;
        c.drop_rate = 0.0;
        c.gaps_per_min = 0.0;
        c.random_mounting = false;
        let run = |couple: f64| -> (f64, f64) {
            let (mut sim, _) = GymSimulator::new(&c).unwrap();
            sim.plan.tracks = (0..NCH).map(|_| Track::new(0.0, false)).collect();
            sim.plan.waves.clear();
            sim.plan.impulses.clear();
            sim.plan.tracks[ABD].mv(1.0, 1.3, 40.0);
            sim.couple = couple;
            sim.zeta = 0.15;
            sim.w = std::f64::consts::TAU * 12.0;
            let s: Vec<Sample> = sim.take_while(|s| s.t < 2.0).collect();
            let late = |a: f64, b: f64| {
                s.iter()
                    .filter(|x| x.t > a && x.t < b)
                    .map(|x| x.gyr.norm())
                    .fold(0.0, f64::max)
            };
            (late(1.32, 1.45), late(1.7, 2.0))
        };
        let (ring, later) = run(1.0);
        let (none, _) = run(0.0);
        assert!(ring > 5.0, "{ring}");
        assert!(later < 0.3 * ring, "{later} vs {ring}");
        assert!(none < 0.5, "{none}");
    }

    #[test]
    fn the_strap_slips_over_a_set() {
        let mut c = cfg(Exercise::StandingCableAbduction, Placement::Ankle, 8);
        c.sets = 1;
        c.reps_min = 15;
        c.reps_max = 15;
        let (sim, t) = GymSimulator::new(&c).unwrap();
        let rel = |time: f64| {
            let (bone, sensor, _) = sim.plan.pose(time);
            bone.inverse() * sensor
        };
        let s = &t.sets[0];
        let moved = rel(s.start_s - 0.1)
            .angle_to(&rel(s.end_s + 0.1))
            .to_degrees();
        assert!(moved > 0.5, "{moved}");
    }

    #[test]
    fn every_visible_compensation_shows_in_truth_at_a_high_rate() {
        for (e, p) in COMBOS {
            let mut seen = std::collections::HashSet::new();
            let mut c = cfg(e, p, 1);
            c.compensation_rate = 1.0;
            c.reps_min = 10;
            c.reps_max = 10;
            let visible = c.visible_compensations();
            for seed in 1..4 {
                c.seed = seed;
                let (_, t) = GymSimulator::new(&c).unwrap();
                for r in t.sets.iter().flat_map(|s| &s.reps) {
                    for f in &r.flags {
                        assert!(visible.contains(&f.kind));
                        seen.insert(f.kind);
                    }
                }
            }
            for k in visible {
                assert!(seen.contains(&k), "{e} {p}: {k:?} never in truth");
            }
        }
    }

    #[test]
    fn no_noise_gives_a_quiet_signal_at_rest() {
        let jitter = |noise: f64| {
            let mut c = cfg(Exercise::SideLyingAbduction, Placement::Ankle, 4);
            c.noise = noise;
            c.gyro_bias_dps = 0.0;
            c.lead_in_s = Some(3.0);
            let (sim, _) = GymSimulator::new(&c).unwrap();
            let s: Vec<Sample> = sim.take_while(|s| s.t < 2.0).collect();
            let d: Vec<f64> = s.windows(2).map(|w| (w[1].gyr - w[0].gyr).norm()).collect();
            let mean_gyr = s.iter().map(|x| x.gyr.norm()).sum::<f64>() / s.len() as f64;
            (d.iter().sum::<f64>() / d.len() as f64, mean_gyr)
        };
        let (quiet, mean) = jitter(0.0);
        let (loud, _) = jitter(1.0);
        assert!(quiet < 0.05, "{quiet}");
        assert!(mean < 3.0, "{mean}");
        assert!(loud > 0.3, "{loud}");
    }

    #[test]
    fn odd_but_valid_settings_give_finite_samples() {
        let mut rng = ChaCha8Rng::seed_from_u64(77);
        for i in 0..12 {
            let (e, p) = COMBOS[i % COMBOS.len()];
            let mut c = cfg(e, p, i as u64);
            c.sets = 1;
            c.reps_min = 1;
            c.reps_max = rng.gen_range(1..4);
            c.rate_hz = [10.0, 25.0, 400.0, 2000.0][i % 4];
            c.noise = rng.gen_range(0.0..10.0);
            c.gyro_bias_dps = rng.gen_range(0.0..20.0);
            c.drop_rate = rng.gen_range(0.0..0.5);
            c.gaps_per_min = rng.gen_range(0.0..60.0);
            c.lead_in_s = Some([0.0, 0.1, 5.0][i % 3]);
            c.walking = i % 2 == 0;
            c.fidgets = i % 3 != 0;
            c.random_mounting = i % 4 != 0;
            let (sim, t) = GymSimulator::new(&c).unwrap();
            assert!(t.sets[0].reps[0].start_s >= 0.0);
            let mut last = 0.0;
            for s in sim.take(4000) {
                assert!(s.is_finite() && s.t >= last, "{c:?}");
                assert!(s.acc.amax() <= 16.0 * STANDARD_GRAVITY && s.gyr.amax() <= 2000.0);
                last = s.t;
            }
        }
    }

    #[test]
    fn bad_settings_are_errors_not_panics() {
        let base = cfg(Exercise::StandingCableAbduction, Placement::Ankle, 1);
        let mut bad = Vec::new();
        let mut c = base.clone();
        c.reps_min = 9;
        c.reps_max = 3;
        bad.push(c);
        let mut c = base.clone();
        c.rate_hz = 5.0;
        bad.push(c);
        let mut c = base.clone();
        c.lead_in_s = Some(-1.0);
        bad.push(c);
        let mut c = base.clone();
        c.lead_in_s = Some(f64::NAN);
        bad.push(c);
        let mut c = cfg(Exercise::HipHitch, Placement::Ankle, 1);
        c.sets = 1;
        bad.push(c);
        let mut c = base.clone();
        c.rest_min_s = 5.0;
        bad.push(c);
        for c in bad {
            assert!(GymSimulator::new(&c).is_err(), "{c:?}");
        }
    }
}
