//! A twenty-third body model, built apart: movement as Langevin dynamics in a
//! landscape the lifter reshapes, a pelvis and trunk set by quasi-static
//! whole-body balance, and a sensor on soft tissue that wobbles.
//!
//! The working joint (hip abduction; the pelvis' drop in a hip hitch) is a
//! particle, `m x'' = -c x' - dU(x, t)/dx + sigma xi(t)` (xi coloured motor
//! noise, plus tremor), in a potential with a neutral well and, while the
//! lifter means to raise, a well at that rep's top that deepens as the
//! intent grows while the neutral well shallows and the landscape tilts
//! toward the top. A rep is an escape over the barrier and back; weak
//! intents fail (the barrier is not crossed), long intents hold the top, a
//! shallow middle well can catch a lowering that then rises again. Flexion
//! and rotation are particles in wells that follow the abduction. The
//! intents come from a self-exciting point process per lifter (a Hawkes
//! process with a refractory time; a set ends at the lifter's target count,
//! or earlier within the range when the excitation dies); fatigue lowers the
//! top wells and raises friction and noise. Compensations are shapes of the
//! landscape (momentum: a deep, steep top well reached with little
//! friction; partial range: a top well short of the range; flexion drift:
//! a flexion well that moves forward) or of the balance cost (hip hike,
//! pelvic drop, trunk sway). Every few internal steps the pelvis'
//! obliquity, tilt, turn, sideways shift and the trunk lean are solved by a
//! small weighted least-squares problem that keeps the whole-body centre of
//! mass over the support (the stance foot, the bed, the seat, the step)
//! with per-lifter weights, followed through a first-order lag, plus
//! postural sway. Between sets: walking, turning, sitting and standing up,
//! pin changes, re-straps, drinks, the phone, the other leg's set, fidgets
//! and single swings. The sensor's segment motion is differentiated at a
//! high internal rate, passed through a soft-tissue mass (a damped
//! second-order system per axis, 8–20 Hz) and averaged to the sensor's own
//! sample times, with a mounting per session, temperature-driven bias,
//! scale, cross-axis, noise, quantisation, saturation, a crystal a little
//! off, drops and gaps. Truth is measured on the simulated joints.
//!
//! The body runs twice from the same seed: once in `new` to measure the
//! truth, once lazily in the iterator to make the samples.

use super::sim::{SimConfig, Truth, TruthFlag, TruthRep, TruthSet};
use super::{gauss, round3, rx, ry, rz};
use crate::motion::FlagKind;
use crate::sample::STANDARD_GRAVITY;
use crate::{Exercise, Placement, Sample};
use nalgebra::{Matrix5, UnitQuaternion, Vector3, Vector5};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::VecDeque;
use std::f64::consts::PI;

const DEG: f64 = PI / 180.0;

/// Smooth step 0..1 (minimum-jerk shape).
fn mj(s: f64) -> f64 {
    let s = s.clamp(0.0, 1.0);
    s * s * s * (10.0 - 15.0 * s + 6.0 * s * s)
}

fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn uni(rng: &mut ChaCha8Rng, a: f64, b: f64) -> f64 {
    if b > a {
        rng.gen_range(a..b)
    } else {
        a
    }
}

/// Who the lifter is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Population {
    Rehab,
    Gym,
    Athlete,
    Video,
}

/// Per-lifter parameters, drawn once per session.
#[derive(Debug, Clone)]
struct Lifter {
    pop: Population,
    leg: f64,
    hw: f64,
    /// Working range (abduction, or the hitch's drop), °.
    range: f64,
    /// Friction, 1/s.
    c: f64,
    /// Intent tilt force, 1/s² (normalised coordinate).
    g: f64,
    /// Neutral well depth relative to g.
    rho: f64,
    /// How much the neutral well shallows with intent.
    shallow: f64,
    /// Top well depth relative to g, and width.
    top_depth: f64,
    top_w: f64,
    /// Global spring back to neutral, 1/s².
    k0: f64,
    /// Motor noise (normalised units), and its time constant.
    sigma: f64,
    noise_tau: f64,
    tremor: f64,
    tremor_hz: f64,
    /// Hawkes: background rate, branching, decay, refractory after a release.
    mu: f64,
    branch: f64,
    beta: f64,
    refr: f64,
    rise_s: f64,
    pause_s: f64,
    p_fail: f64,
    p_hold: f64,
    p_mid: f64,
    fatigue_rate: f64,
    /// Balance: σ of each prior (obliquity rad, tilt rad, turn rad, shift m,
    /// lean rad) and of the centre of mass (m); lag, s.
    prior_sd: [f64; 5],
    com_sd: f64,
    lag: f64,
    /// Clean-rep obliquity: sag of the free side with the leg's moment, and
    /// a habitual hike with the leg (rad).
    sag: f64,
    hike_habit: f64,
    tilt_habit: f64,
    turn_habit: f64,
    flex_rest: f64,
    flex_habit: f64,
    rot_habit: f64,
    /// Postural sway (obliquity rad, shift m, turn rad).
    sway: [f64; 3],
    /// Soft tissue: natural frequency (Hz) per axis, damping ratio, rocking.
    tissue_hz: [f64; 3],
    tissue_zeta: f64,
    tissue_rock: f64,
    /// Walking.
    cadence: f64,
    speed: f64,
}

impl Lifter {
    fn draw(rng: &mut ChaCha8Rng, ex: Exercise) -> Self {
        let pop = match rng.gen_range(0..100) {
            0..=24 => Population::Rehab,
            25..=59 => Population::Gym,
            60..=79 => Population::Athlete,
            _ => Population::Video,
        };
        let (t_up, t_down) = match pop {
            Population::Rehab => (uni(rng, 0.9, 1.5), uni(rng, 1.4, 2.6)),
            Population::Gym => (uni(rng, 0.6, 1.2), uni(rng, 0.9, 2.0)),
            Population::Athlete => (uni(rng, 0.5, 1.0), uni(rng, 0.9, 2.2)),
            Population::Video => (uni(rng, 0.5, 1.1), uni(rng, 0.7, 1.5)),
        };
        let range = match ex {
            Exercise::HipHitch => uni(rng, 5.5, 12.0),
            Exercise::SeatedMachineAbduction => uni(rng, 22.0, 42.0),
            Exercise::SideLyingAbduction => match pop {
                Population::Rehab => uni(rng, 20.0, 38.0),
                _ => uni(rng, 28.0, 50.0),
            },
            _ => match pop {
                Population::Rehab => uni(rng, 18.0, 32.0),
                _ => uni(rng, 25.0, 45.0),
            },
        };
        let c = uni(rng, 7.0, 13.0);
        let g = c * uni(rng, 1.3, 1.7) / t_up;
        let k0 = c * 1.9 / t_down;
        let noise_scale = match pop {
            Population::Rehab => 1.6,
            Population::Video => 1.2,
            _ => 1.0,
        };
        let shaky = pop == Population::Rehab;
        Lifter {
            pop,
            leg: uni(rng, 0.82, 1.0),
            hw: uni(rng, 0.08, 0.1),
            range,
            c,
            g,
            rho: uni(rng, 0.45, 0.75),
            shallow: uni(rng, 0.55, 0.85),
            top_depth: uni(rng, 0.5, 0.9),
            top_w: uni(rng, 0.12, 0.2),
            k0,
            sigma: c * uni(rng, 0.05, 0.1) * noise_scale,
            noise_tau: uni(rng, 0.03, 0.08),
            tremor: if shaky {
                uni(rng, 0.2, 0.8)
            } else {
                uni(rng, 0.0, 0.3)
            },
            tremor_hz: uni(rng, 6.0, 11.0),
            mu: uni(rng, 0.15, 0.4),
            branch: uni(rng, 1.6, 3.2),
            beta: uni(rng, 0.9, 3.0),
            refr: t_down * uni(rng, 0.75, 1.15) + uni(rng, 0.0, 0.3),
            rise_s: uni(rng, 0.12, 0.35),
            pause_s: match pop {
                Population::Rehab => uni(rng, 0.3, 1.2),
                Population::Video => uni(rng, 0.0, 0.4),
                _ => uni(rng, 0.0, 0.9),
            },
            p_fail: match pop {
                Population::Rehab => uni(rng, 0.03, 0.1),
                Population::Athlete => uni(rng, 0.0, 0.03),
                _ => uni(rng, 0.01, 0.06),
            },
            p_hold: uni(rng, 0.02, 0.1),
            p_mid: uni(rng, 0.02, 0.09),
            fatigue_rate: uni(rng, 0.01, 0.05),
            prior_sd: [
                uni(rng, 0.6, 3.0) * DEG,
                uni(rng, 0.8, 3.0) * DEG,
                uni(rng, 0.8, 3.0) * DEG,
                uni(rng, 0.015, 0.05),
                uni(rng, 0.8, 4.0) * DEG,
            ],
            com_sd: uni(rng, 0.003, 0.012),
            lag: uni(rng, 0.06, 0.35),
            sag: uni(rng, 0.3, 2.0) * DEG,
            hike_habit: uni(rng, -0.5, 1.2) * DEG,
            tilt_habit: uni(rng, -2.0, 2.0) * DEG,
            turn_habit: uni(rng, -2.0, 2.0) * DEG,
            flex_rest: uni(rng, -2.0, 3.0),
            flex_habit: uni(rng, -2.0, 5.0),
            rot_habit: uni(rng, -6.0, 6.0),
            sway: [
                uni(rng, 0.15, 0.6) * DEG,
                uni(rng, 0.002, 0.008),
                uni(rng, 0.2, 0.8) * DEG,
            ],
            tissue_hz: [
                uni(rng, 8.0, 20.0),
                uni(rng, 8.0, 20.0),
                uni(rng, 8.0, 20.0),
            ],
            tissue_zeta: uni(rng, 0.15, 0.45),
            tissue_rock: uni(rng, 0.2, 0.7),
            cadence: uni(rng, 0.85, 1.05),
            speed: uni(rng, 0.9, 1.4),
        }
    }
}

/// What the body does between and around sets.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Act {
    Still,
    Set,
    Walk { turn: bool },
    Sit,
    PinChange,
    Restrap,
    Drink,
    Phone,
    OtherLeg,
    Fidget,
    Swing,
    GetUp,
    LieDown,
}

impl Act {
    fn name(self) -> &'static str {
        match self {
            Act::Still | Act::Set => "still",
            Act::Walk { turn: true } => "walk and turn",
            Act::Walk { turn: false } => "walk",
            Act::Sit => "sit and stand up",
            Act::PinChange => "change the pin",
            Act::Restrap => "re-strap",
            Act::Drink => "drink",
            Act::Phone => "phone",
            Act::OtherLeg => "the other leg's set",
            Act::Fidget => "fidget",
            Act::Swing => "single swing",
            Act::GetUp => "get up",
            Act::LieDown => "lie down",
        }
    }
}

/// A compensation planned for a rep.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Comp {
    None,
    Kind(FlagKind),
}

/// One attempt's plan, drawn when the intent arrives.
#[derive(Debug, Clone, Copy)]
struct Attempt {
    t0: f64,
    top: f64,
    strength: f64,
    give_up: f64,
    pause: f64,
    mid: Option<(f64, f64)>,
    mid_done: Option<f64>,
    comp: Comp,
    amount: f64,
    released: Option<f64>,
    at_top_since: Option<f64>,
    sway_period: f64,
}

/// Critically damped follower.
#[derive(Debug, Clone, Copy, Default)]
struct Follow {
    x: f64,
    v: f64,
}

impl Follow {
    fn step(&mut self, target: f64, hz: f64, dt: f64) {
        let w = 2.0 * PI * hz;
        let a = w * w * (target - self.x) - 2.0 * w * self.v;
        self.v += a * dt;
        self.x += self.v * dt;
    }
}

/// Coloured unit noise (Ornstein–Uhlenbeck).
#[derive(Debug, Clone, Copy, Default)]
struct Ou(f64);

impl Ou {
    fn step(&mut self, rng: &mut ChaCha8Rng, tau: f64, dt: f64) -> f64 {
        let a = (-dt / tau).exp();
        self.0 = a * self.0 + (1.0 - a * a).sqrt() * gauss(rng);
        self.0
    }
}

/// Where the body's segments are (body frame rotated into the world).
#[derive(Debug, Clone, Copy)]
struct Kin {
    pelvis_q: UnitQuaternion<f64>,
    pelvis_p: Vector3<f64>,
    shank_q: UnitQuaternion<f64>,
    shank_p: Vector3<f64>,
    com: Vector3<f64>,
    /// Obliquity (free side up), trunk roll (toward the stance side), hip flexion, rad.
    obliquity: f64,
    trunk_roll: f64,
}

/// Joint values besides the balance solution.
#[derive(Debug, Clone, Copy, Default)]
struct Joints {
    abd: f64,
    flex: f64,
    rot: f64,
    knee: f64,
    o_abd: f64,
    o_flex: f64,
    o_knee: f64,
    trunk_flex: f64,
    bob: f64,
    fore: f64,
    pivot: f64,
    seat: f64,
}

/// The simulated body: the lifter's whole session, stepped at the internal rate.
struct Body {
    cfg: SimConfig,
    rng: ChaCha8Rng,
    lf: Lifter,
    f: f64,
    ex: Exercise,
    dt: f64,
    t: f64,
    // The main particle (normalised), its noise.
    u: f64,
    uv: f64,
    u_noise: Ou,
    tremor_phase: f64,
    // Secondary particles (°).
    flex: (f64, f64),
    rot: (f64, f64),
    flex_noise: Ou,
    rot_noise: Ou,
    o_abd: Follow,
    walk_amp: Follow,
    bal_smooth: [Follow; 5],
    sway_smooth: [Follow; 5],
    upright: bool,
    turned: bool,
    heading_t: f64,
    step_count: u64,
    neutral_shift: f64,
    hike_until: f64,
    hike_amount: f64,
    death_checked: bool,
    tail: Option<(usize, f64)>,
    tail_run: f64,
    mount_base: UnitQuaternion<f64>,
    /// How much of the weight is on the stance leg (1: one-leg stance).
    load: Follow,
    rest_obl: Option<f64>,
    rest_trunk: Option<f64>,
    // Followers.
    knee: Follow,
    o_knee: Follow,
    o_flex: Follow,
    trunk_flex: Follow,
    bob: Follow,
    fore: Follow,
    pivot: Follow,
    seat: Follow,
    lie: Follow,
    heading: Follow,
    speed: Follow,
    base: Vector3<f64>,
    stride_phase: f64,
    // Balance.
    bal: [f64; 5],
    bal_star: [f64; 5],
    sway: [Ou; 5],
    breath: f64,
    // Agenda.
    agenda: VecDeque<(Act, f64)>,
    act: Act,
    act_t0: f64,
    act_dur: f64,
    act_param: f64,
    set_index: usize,
    sets_done: usize,
    // Set state.
    target_reps: usize,
    x_set: f64,
    fatigue: f64,
    attempt: Option<Attempt>,
    other_attempt: Option<(f64, f64)>,
    other_reps_left: usize,
    releases: Vec<f64>,
    last_intent: f64,
    attempts: usize,
    drift_deg: f64,
    meter: Option<Meter>,
    /// Finished sets' measurements.
    measured: Vec<(usize, Vec<MeasuredRep>)>,
    distractions: Vec<(f64, f64, &'static str)>,
    done: bool,
    end_t: f64,
    /// Restrap: how far the mounting turns (rad, about an axis), and when.
    mount_turn: Option<(f64, Vector3<f64>, f64)>,
    mount: UnitQuaternion<f64>,
    comps: Vec<FlagKind>,
}

/// One rep measured on the motion.
#[derive(Debug, Clone)]
struct MeasuredRep {
    start: f64,
    end: f64,
    peak: f64,
    peak_obl: f64,
    speed: f64,
    hike_t: f64,
    max_obl: f64,
    drop_t: f64,
    min_obl: f64,
    sway_hi: f64,
    sway_lo: f64,
    flex_t: f64,
    max_flex: f64,
}

/// The truth rule, run on the simulated joints: a rep leaves the neutral
/// band, reaches at least 45% of the set's planned range and comes back
/// below the band (18% of the range); a dip that stays above the band joins
/// the two raises into one rep.
#[derive(Debug, Clone)]
struct Meter {
    x: f64,
    ref_q: UnitQuaternion<f64>,
    obl0: f64,
    trunk0: f64,
    flex0: f64,
    hitch: bool,
    /// Smallest quiet and band, ° (postural sway must not hold a rep open).
    floor: (f64, f64),
    last_low: f64,
    prev_y: f64,
    prev_t: f64,
    cur: Option<MeasuredRep>,
    below_since: Option<(f64, f64, f64)>,
    hike_run: f64,
    drop_run: f64,
    flex_run: f64,
    speed: f64,
    reps: Vec<MeasuredRep>,
}

const BAND: f64 = 0.18;
const QUIET: f64 = 0.06;
const REP_MIN: f64 = 0.45;

impl Meter {
    fn empty_rep(t: f64) -> MeasuredRep {
        MeasuredRep {
            start: t,
            end: t,
            peak: 0.0,
            peak_obl: 0.0,
            speed: 0.0,
            hike_t: 0.0,
            max_obl: f64::NEG_INFINITY,
            drop_t: 0.0,
            min_obl: f64::INFINITY,
            sway_hi: f64::NEG_INFINITY,
            sway_lo: f64::INFINITY,
            flex_t: 0.0,
            max_flex: f64::NEG_INFINITY,
        }
    }

    /// Feeds one step; returns a finished excursion (rep or not).
    fn feed(&mut self, t: f64, k: &Kin, flex_deg: f64) -> Option<MeasuredRep> {
        let obl = k.obliquity / DEG - self.obl0;
        let y = self.y_of(k);
        let trunk = k.trunk_roll / DEG - self.trunk0;
        let flex = flex_deg - self.flex0;
        let dt = (t - self.prev_t).clamp(1e-6, 0.1);
        // Angular speed, smoothed over about 20 ms.
        let raw = ((y - self.prev_y) / dt).abs();
        self.speed += (raw - self.speed) * (dt / 0.02).min(1.0);
        let speed = self.speed;
        self.prev_y = y;
        self.prev_t = t;
        let band = (BAND * self.x).max(self.floor.1);
        let quiet = (QUIET * self.x).max(self.floor.0);
        if y <= quiet {
            self.last_low = t;
        }
        let mut out = None;
        match self.cur.take() {
            None => {
                if y > band {
                    let start = if t - self.last_low < 4.0 {
                        self.last_low
                    } else {
                        t - 0.3
                    };
                    self.cur = Some(Meter::empty_rep(start));
                    self.runs_reset();
                } else {
                    return None;
                }
            }
            Some(mut rep) => {
                if y <= band {
                    let (since, ymin, tmin) = self.below_since.unwrap_or((t, y, t));
                    let (ymin, tmin) = if y < ymin { (y, t) } else { (ymin, tmin) };
                    self.below_since = Some((since, ymin, tmin));
                    if y <= quiet {
                        rep.end = t;
                        self.below_since = None;
                        return Some(rep);
                    }
                } else if let Some((_, _, tmin)) = self.below_since.take() {
                    // Back below the band and up again before quiet: the
                    // dip ends this excursion and starts the next.
                    rep.end = tmin;
                    out = Some(rep);
                    rep = Meter::empty_rep(tmin);
                    self.runs_reset();
                }
                self.cur = Some(rep);
            }
        }
        let rep = self.cur.as_mut().expect("an excursion");
        rep.peak = rep.peak.max(y);
        if obl.abs() > rep.peak_obl.abs() {
            rep.peak_obl = obl;
        }
        rep.speed = rep.speed.max(speed);
        rep.max_obl = rep.max_obl.max(obl);
        rep.min_obl = rep.min_obl.min(obl);
        rep.sway_hi = rep.sway_hi.max(trunk);
        rep.sway_lo = rep.sway_lo.min(trunk);
        rep.max_flex = rep.max_flex.max(flex);
        self.hike_run = if obl >= 5.0 { self.hike_run + dt } else { 0.0 };
        self.drop_run = if obl <= -5.0 { self.drop_run + dt } else { 0.0 };
        self.flex_run = if flex >= 12.0 {
            self.flex_run + dt
        } else {
            0.0
        };
        rep.hike_t = rep.hike_t.max(self.hike_run);
        rep.drop_t = rep.drop_t.max(self.drop_run);
        rep.flex_t = rep.flex_t.max(self.flex_run);
        out
    }

    fn runs_reset(&mut self) {
        self.hike_run = 0.0;
        self.drop_run = 0.0;
        self.flex_run = 0.0;
    }

    /// The measured variable: the shank's rotation from its rest before the
    /// set (abduction), or the free side's drop (hip hitch), °.
    fn y_of(&self, k: &Kin) -> f64 {
        if self.hitch {
            -(k.obliquity / DEG - self.obl0)
        } else {
            (self.ref_q.inverse() * k.shank_q).angle() / DEG
        }
    }
}

/// The exercise's own posture: (seat, lie, step height).
fn exercise_posture(ex: Exercise) -> (f64, f64, f64) {
    match ex {
        Exercise::SideLyingAbduction => (0.0, 1.0, 0.0),
        Exercise::SeatedMachineAbduction => (1.0, 0.0, 0.0),
        Exercise::HipHitch => (0.0, 0.0, 0.2),
        _ => (0.0, 0.0, 0.0),
    }
}

impl Body {
    fn new(cfg: &SimConfig, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let lf = Lifter::draw(&mut rng, cfg.exercise);
        // The same internal rate for every sensor rate up to 400 Hz: the same
        // seed moves the same body whatever the sensor samples at.
        let fs = (2.0 * cfg.rate_hz).max(800.0);
        let ex = cfg.exercise;
        let (seat, lie, step) = exercise_posture(ex);
        let mut comps = if cfg.compensation_rate > 0.0 {
            cfg.visible_compensations()
        } else {
            Vec::new()
        };
        if ex == Exercise::HipHitch {
            // The rep itself is the free side's drop.
            comps.retain(|k| *k != FlagKind::PelvicDrop);
        }
        let mut b = Body {
            cfg: cfg.clone(),
            lf,
            f: ex.free_side(cfg.side).sign(),
            ex,
            dt: 1.0 / fs,
            t: 0.0,
            u: 0.0,
            uv: 0.0,
            u_noise: Ou::default(),
            tremor_phase: rng.gen_range(0.0..2.0 * PI),
            flex: (0.0, 0.0),
            rot: (0.0, 0.0),
            flex_noise: Ou::default(),
            rot_noise: Ou::default(),
            knee: Follow::default(),
            o_knee: Follow::default(),
            o_flex: Follow::default(),
            trunk_flex: Follow::default(),
            bob: Follow { x: step, v: 0.0 },
            fore: Follow::default(),
            pivot: Follow { x: 1.0, v: 0.0 },
            seat: Follow { x: seat, v: 0.0 },
            lie: Follow { x: lie, v: 0.0 },
            heading: Follow {
                x: rng.gen_range(-PI..PI),
                v: 0.0,
            },
            speed: Follow::default(),
            base: Vector3::zeros(),
            stride_phase: 0.0,
            bal: [0.0; 5],
            bal_star: [0.0; 5],
            sway: [Ou::default(); 5],
            breath: rng.gen_range(0.0..2.0 * PI),
            agenda: VecDeque::new(),
            act: Act::Still,
            act_t0: 0.0,
            act_dur: 0.0,
            act_param: 0.0,
            set_index: 0,
            sets_done: 0,
            target_reps: 0,
            x_set: 0.0,
            fatigue: 0.0,
            attempt: None,
            other_attempt: None,
            other_reps_left: 0,
            releases: Vec::new(),
            last_intent: 0.0,
            attempts: 0,
            drift_deg: 0.0,
            meter: None,
            measured: Vec::new(),
            distractions: Vec::new(),
            done: false,
            end_t: f64::INFINITY,
            mount_turn: None,
            mount: UnitQuaternion::identity(),
            comps,
            rng,
            bal_smooth: [Follow::default(); 5],
            sway_smooth: [Follow::default(); 5],
            walk_amp: Follow::default(),
            o_abd: Follow::default(),
            step_count: 0,
            neutral_shift: 0.0,
            tail: None,
            upright: false,
            turned: false,
            heading_t: 0.0,
            hike_until: 0.0,
            hike_amount: 0.0,
            death_checked: false,
            tail_run: 0.0,
            mount_base: UnitQuaternion::identity(),
            load: Follow { x: 1.0, v: 0.0 },
            rest_obl: None,
            rest_trunk: None,
        };
        b.knee.x = 0.04;
        b.o_knee.x = 0.04;
        b.flex.0 = b.lf.flex_rest;
        b.heading_t = b.heading.x;
        // Start in balance.
        for _ in 0..30 {
            b.solve_balance([0.0; 5], b.lf.prior_sd, 1.0);
        }
        b.bal = b.bal_star;
        for i in 0..5 {
            b.bal_smooth[i].x = b.bal[i];
        }
        b.plan_agenda();
        b.next_act();
        b
    }

    /// The whole session's agenda (sets are open-ended; rests are filled
    /// with what people do).
    fn plan_agenda(&mut self) {
        let lead = self
            .cfg
            .lead_in_s
            .unwrap_or_else(|| self.rng.gen_range(0.5..3.0))
            .max(0.0);
        self.agenda.push_back((Act::Still, lead));
        for s in 0..self.cfg.sets {
            self.agenda.push_back((Act::Set, f64::INFINITY));
            if s + 1 < self.cfg.sets {
                let rest = uni(&mut self.rng, self.cfg.rest_min_s, self.cfg.rest_max_s);
                self.plan_rest(rest);
            }
        }
        // The end: still, or the recording stops mid-motion.
        let r: f64 = self.rng.gen();
        if r < 0.55 || !(self.cfg.walking || self.cfg.fidgets) {
            let d = uni(&mut self.rng, 1.0, 6.0);
            self.agenda.push_back((Act::Still, d));
        } else if self.cfg.walking && self.ex != Exercise::SideLyingAbduction {
            let d = uni(&mut self.rng, 0.8, 1.5);
            self.agenda.push_back((Act::Still, d));
            // Cut short: the session ends while walking away.
            let d = uni(&mut self.rng, 1.5, 4.0);
            self.agenda.push_back((Act::Walk { turn: false }, d));
        } else {
            let d = uni(&mut self.rng, 0.8, 2.0);
            self.agenda.push_back((Act::Still, d));
            let d = uni(&mut self.rng, 0.6, 1.4);
            self.agenda.push_back((Act::Fidget, d));
        }
    }

    fn plan_rest(&mut self, rest: f64) {
        let mut items: Vec<(Act, f64)> = Vec::new();
        let stands = matches!(
            self.ex,
            Exercise::StandingCableAbduction | Exercise::HipHitch
        );
        let leave = self.cfg.walking && (stands || self.rng.gen_bool(0.5));
        if leave && !stands {
            items.push((Act::GetUp, uni(&mut self.rng, 2.0, 3.5)));
        } else if leave && self.ex == Exercise::HipHitch {
            items.push((Act::GetUp, uni(&mut self.rng, 1.0, 1.8)));
        }
        if leave {
            items.push((Act::Walk { turn: true }, uni(&mut self.rng, 5.0, 12.0)));
        }
        if self.cfg.fidgets {
            let n = self.rng.gen_range(1..=3);
            for _ in 0..n {
                let pick = self.rng.gen_range(0..9);
                let item = match pick {
                    0 if leave || stands => (Act::PinChange, uni(&mut self.rng, 3.0, 6.0)),
                    1 => (Act::Restrap, uni(&mut self.rng, 6.0, 14.0)),
                    2 => (Act::Drink, uni(&mut self.rng, 4.0, 9.0)),
                    3 => (Act::Phone, uni(&mut self.rng, 6.0, 20.0)),
                    4 if leave || (stands && self.ex != Exercise::HipHitch) => {
                        (Act::Sit, uni(&mut self.rng, 8.0, 25.0))
                    }
                    5 if stands && (leave || self.ex == Exercise::StandingCableAbduction) => {
                        (Act::OtherLeg, uni(&mut self.rng, 18.0, 35.0))
                    }
                    6 => (Act::Swing, uni(&mut self.rng, 1.4, 2.4)),
                    _ => (Act::Fidget, uni(&mut self.rng, 0.8, 2.5)),
                };
                items.push(item);
            }
        }
        if leave {
            items.push((Act::Walk { turn: true }, uni(&mut self.rng, 5.0, 12.0)));
            if !stands || self.ex == Exercise::HipHitch {
                items.push((Act::LieDown, uni(&mut self.rng, 1.5, 3.5)));
            }
        }
        // Scale the busy part to fit the rest, fill with stillness.
        let pre = uni(&mut self.rng, 1.2, 3.0);
        let busy: f64 = items.iter().map(|i| i.1).sum();
        let room = (rest - pre - 1.0).max(1.0);
        let k = if busy > room { room / busy } else { 1.0 };
        let mut still = (rest - pre - busy * k).max(0.0);
        let gaps = items.len() + 1;
        self.agenda.push_back((Act::Still, 0.8));
        still = (still - 0.8).max(0.0);
        for (a, d) in items {
            let g = still / gaps as f64;
            if g > 0.05 {
                self.agenda.push_back((Act::Still, g));
            }
            let d = match a {
                Act::GetUp | Act::LieDown | Act::Swing | Act::Fidget => d,
                _ => (d * k).max(1.0),
            };
            self.agenda.push_back((a, d));
        }
        let g = still / gaps as f64;
        self.agenda.push_back((Act::Still, g + pre));
    }

    fn next_act(&mut self) {
        let Some((a, d)) = self.agenda.pop_front() else {
            self.done = true;
            self.end_t = self.t;
            return;
        };
        self.act = a;
        self.act_t0 = self.t;
        self.act_dur = d;
        self.act_param = self.rng.gen_range(-1.0..1.0);
        match a {
            Act::Set => self.begin_set(),
            Act::Restrap => {
                let axis = Vector3::new(
                    gauss(&mut self.rng),
                    gauss(&mut self.rng),
                    gauss(&mut self.rng),
                );
                let axis = if axis.norm() > 1e-9 {
                    axis.normalize()
                } else {
                    Vector3::x()
                };
                let ang = uni(&mut self.rng, 2.0, 10.0) * DEG;
                self.mount_turn = Some((ang, axis, self.t + d * 0.5));
            }
            Act::OtherLeg => {
                self.other_reps_left = self.rng.gen_range(6..=12);
                self.other_attempt = None;
            }
            _ => {}
        }
        if !matches!(a, Act::Still | Act::Set) {
            let name = match (a, self.ex) {
                (Act::GetUp, Exercise::HipHitch) => "step down",
                (Act::LieDown, Exercise::HipHitch) => "step up",
                (Act::GetUp, Exercise::SeatedMachineAbduction) => "stand up",
                (Act::LieDown, Exercise::SeatedMachineAbduction) => "sit down",
                _ => a.name(),
            };
            self.distractions.push((self.t, self.t + d, name));
        }
    }

    fn begin_set(&mut self) {
        self.target_reps = self.rng.gen_range(self.cfg.reps_min..=self.cfg.reps_max);
        self.x_set = self.lf.range
            * (1.0 + 0.05 * gauss(&mut self.rng))
            * (1.0 - 0.05 * self.sets_done.min(4) as f64);
        self.fatigue *= 0.3;
        self.releases.clear();
        self.attempts = 0;
        self.drift_deg = 0.0;
        self.attempt = None;
        self.last_intent = self.t;
        let k = self.kin_now();
        let flex0 = self.flex.0;
        self.meter = Some(Meter {
            x: self.x_set,
            ref_q: k.shank_q,
            obl0: self.rest_obl.unwrap_or(k.obliquity) / DEG,
            trunk0: self.rest_trunk.unwrap_or(k.trunk_roll) / DEG,
            flex0,
            hitch: self.ex == Exercise::HipHitch,
            floor: if self.ex == Exercise::HipHitch {
                (1.3, 2.0)
            } else {
                (1.5, 3.0)
            },
            last_low: self.t,
            prev_y: 0.0,
            prev_t: self.t,
            cur: None,
            below_since: None,
            hike_run: 0.0,
            drop_run: 0.0,
            flex_run: 0.0,
            speed: 0.0,
            reps: Vec::new(),
        });
        self.intent(true);
    }

    /// A new intent (an attempt at a rep).
    fn intent(&mut self, first: bool) {
        let lf = self.lf.clone();
        self.attempts += 1;
        self.last_intent = self.t;
        let fat = self.fatigue;
        let s_star = lf.rho / (1.0 + lf.rho * lf.shallow);
        let recent_fail = self.attempt.as_ref().is_some_and(|a| a.strength < s_star);
        let fail = !first
            && !recent_fail
            && self.attempts < 3 * self.target_reps + 6
            && self.rng.gen_bool((lf.p_fail * (1.0 + 2.0 * fat)).min(0.5));
        let mut comp = Comp::None;
        let mut amount = 0.0;
        if !fail && !self.comps.is_empty() && self.rng.gen_bool(self.cfg.compensation_rate) {
            let k = self.comps[self.rng.gen_range(0..self.comps.len())];
            comp = Comp::Kind(k);
            amount = match k {
                FlagKind::HipHike => uni(&mut self.rng, 4.0, 9.5),
                FlagKind::PelvicDrop => uni(&mut self.rng, 5.0, 11.0),
                FlagKind::TrunkSway => uni(&mut self.rng, 4.0, 9.0),
                FlagKind::Momentum => uni(&mut self.rng, 0.6, 1.0),
                FlagKind::PartialRange => uni(&mut self.rng, 0.48, 0.78),
                FlagKind::HipFlexionDrift => uni(&mut self.rng, 9.0, 22.0),
            };
        }
        let mut top = (1.0 + 0.05 * gauss(&mut self.rng)).clamp(0.85, 1.15) * (1.0 - 0.12 * fat);
        if comp == Comp::Kind(FlagKind::PartialRange) {
            top *= amount;
        }
        let strength = if fail {
            s_star * uni(&mut self.rng, 0.65, 0.97)
        } else {
            uni(&mut self.rng, 1.05, 1.35) * (1.0 - 0.2 * fat)
        }
        .max(if fail { 0.0 } else { s_star * 1.35 });
        let mut pause = (lf.pause_s + 0.15 * gauss(&mut self.rng)).max(0.0);
        if self.rng.gen_bool(lf.p_hold) {
            pause += uni(&mut self.rng, 1.5, 4.0);
        }
        let mid = if !fail && self.rng.gen_bool(lf.p_mid) {
            Some((uni(&mut self.rng, 0.08, 0.55), uni(&mut self.rng, 0.4, 1.1)))
        } else {
            None
        };
        self.attempt = Some(Attempt {
            t0: self.t,
            top,
            strength,
            give_up: if fail {
                uni(&mut self.rng, 0.6, 1.5)
            } else {
                4.0 + pause
            },
            pause,
            mid,
            mid_done: None,
            comp,
            amount,
            released: None,
            at_top_since: None,
            sway_period: uni(&mut self.rng, 1.6, 2.8),
        });
    }

    /// The intent's strength now (0 at rest).
    fn intent_level(&self) -> f64 {
        let Some(a) = &self.attempt else { return 0.0 };
        let up = mj((self.t - a.t0) / self.lf.rise_s);
        match a.released {
            None => a.strength * up,
            Some(r) => a.strength * up * (1.0 - mj((self.t - r) / 0.22)),
        }
    }
}

impl Body {
    /// Body-frame kinematics for the joints `j` and the balance values `q`
    /// (obliquity, tilt, turn, shift, lean).
    fn kin_body(&self, j: &Joints, q: &[f64; 5]) -> Kin {
        let f = self.f;
        let hw = self.lf.hw;
        let leg = self.lf.leg;
        let l_eff = leg - j.seat * (leg - 0.5);
        let lean_z = f * q[3] / leg;
        let r_lean = rz(lean_z) * rx(-j.fore / leg);
        let foot = Vector3::new(-j.pivot * f * hw, 0.0, 0.0);
        let h_piv = foot + r_lean * Vector3::new(0.0, l_eff, 0.0) + Vector3::new(0.0, j.bob, 0.0);
        let r_p = r_lean * ry(q[2]) * rz(f * q[0]) * rx(q[1]);
        let c = h_piv + r_p * Vector3::new(j.pivot * f * hw, 0.0, 0.0);
        let h_free = c + r_p * Vector3::new(f * hw, 0.0, 0.0);
        let h_other = c + r_p * Vector3::new(-f * hw, 0.0, 0.0);
        let seat_flex = j.seat * PI / 2.0;
        let r_th = if self.ex == Exercise::SeatedMachineAbduction {
            r_p * ry(-f * j.abd) * rx(j.flex + seat_flex) * ry(f * j.rot)
        } else {
            r_p * rz(f * j.abd) * rx(j.flex + seat_flex) * ry(f * j.rot)
        };
        let lt = 0.245 * leg / 0.5;
        let ls = leg - lt;
        let knee = h_free + r_th * Vector3::new(0.0, -lt, 0.0);
        let r_sh = r_th * rx(-(j.knee + seat_flex));
        let shank_p = knee + r_sh * Vector3::new(f * 0.045, -0.8 * ls, 0.0);
        let r_o = r_lean * rz(-f * j.o_abd) * rx(j.o_flex + seat_flex);
        let o_knee = h_other + r_o * Vector3::new(0.0, -lt, 0.0);
        let r_os = r_o * rx(-(j.o_knee + seat_flex));
        let r_tr = r_lean * ry(0.5 * q[2]) * rz(f * q[4]) * rx(-j.trunk_flex);
        let trunk = c + r_tr * Vector3::new(0.0, 0.3, 0.0);
        let com = trunk * 0.54
            + c * 0.14
            + (h_free + r_th * Vector3::new(0.0, -0.43 * lt, 0.0)) * 0.10
            + (knee + r_sh * Vector3::new(0.0, -0.5 * ls, 0.0)) * 0.06
            + (h_other + r_o * Vector3::new(0.0, -0.43 * lt, 0.0)) * 0.10
            + (o_knee + r_os * Vector3::new(0.0, -0.5 * ls, 0.0)) * 0.06;
        let x_p = r_p * Vector3::x();
        let y_t = r_tr * Vector3::y();
        Kin {
            pelvis_q: r_p,
            pelvis_p: c,
            shank_q: r_sh,
            shank_p,
            com,
            obliquity: f * x_p.y.clamp(-1.0, 1.0).asin(),
            trunk_roll: (-f * y_t.x).clamp(-1.0, 1.0).asin(),
        }
    }

    /// Into the world: the posture (lying on the stance side) and heading.
    fn to_world(&self, mut k: Kin) -> Kin {
        let r = ry(self.heading.x) * rz(self.f * self.lie.x * PI / 2.0);
        let lift = Vector3::new(0.0, 0.55 * self.lie.x, 0.0);
        k.pelvis_q = r * k.pelvis_q;
        k.pelvis_p = self.base + lift + r * k.pelvis_p;
        k.shank_q = r * k.shank_q;
        k.shank_p = self.base + lift + r * k.shank_p;
        k
    }

    fn joints(&self) -> Joints {
        let walk = self.walk_amp.x;
        let ph = self.stride_phase;
        let mut j = Joints {
            abd: self.main_abd() * DEG,
            flex: (self.flex.0 + walk * 24.0 * ph.sin()) * DEG,
            rot: self.rot.0 * DEG,
            knee: self.knee.x + walk * 0.5 * (1.0 - (ph - 0.6).cos()) * 0.9,
            o_abd: if self.ex == Exercise::HipHitch {
                0.0
            } else {
                self.o_abd.x * DEG
            },
            o_flex: self.o_flex.x - walk * 24.0 * DEG * ph.sin(),
            o_knee: self.o_knee.x + walk * 0.5 * (1.0 - (ph + PI - 0.6).cos()) * 0.9,
            trunk_flex: self.trunk_flex.x,
            bob: self.bob.x + walk * 0.02 * (2.0 * ph).cos(),
            fore: self.fore.x,
            pivot: self.pivot.x,
            seat: self.seat.x,
        };
        if self.ex == Exercise::HipHitch {
            j.abd = 2.0 * DEG;
        }
        j
    }

    /// The working abduction (°), from the main particle.
    fn main_abd(&self) -> f64 {
        if self.ex == Exercise::HipHitch {
            0.0
        } else {
            self.u * self.x_or_range()
        }
    }

    fn x_or_range(&self) -> f64 {
        if self.x_set > 0.0 {
            self.x_set
        } else {
            self.lf.range
        }
    }

    fn q_now(&self) -> [f64; 5] {
        let mut q = [0.0; 5];
        for (i, v) in q.iter_mut().enumerate() {
            *v = self.bal_smooth[i].x + self.sway_smooth[i].x;
        }
        q[1] += 0.15 * DEG * self.breath.sin();
        if self.walk_amp.x > 0.0 {
            let w = self.walk_amp.x;
            let ph = self.stride_phase;
            q[0] += w * 4.0 * DEG * ph.sin();
            q[2] += w * 4.0 * DEG * ph.cos();
            q[3] += w * 0.025 * ph.sin();
        }
        q
    }

    fn kin_now(&self) -> Kin {
        self.to_world(self.kin_body(&self.joints(), &self.q_now()))
    }

    /// The balance problem: a small weighted least squares for the pelvis'
    /// obliquity, tilt, turn, sideways shift and the trunk lean that keep
    /// the centre of mass over the support, near each variable's target.
    fn solve_balance(&mut self, targets: [f64; 5], sds: [f64; 5], com_scale: f64) {
        let j = self.joints();
        let q0 = self.bal_star;
        let c0 = self.kin_body(&j, &q0).com;
        let lying = self.lie.x > 0.5;
        let seated = self.seat.x > 0.5;
        // One-leg stance puts the support under the stance foot; on both
        // feet it lies between them.
        let support = Vector3::new(-j.pivot * self.f * self.lf.hw * self.load.x, 0.0, 0.0);
        let mut rows: Vec<(usize, f64, f64)> = Vec::with_capacity(2);
        let w = com_scale / (self.lf.com_sd * self.lf.com_sd);
        if lying {
            rows.push((2, 0.0, 0.3 * w));
        } else if seated {
            rows.push((0, 0.0, 0.05 * w));
            rows.push((2, 0.0, 0.05 * w));
        } else {
            rows.push((0, support.x, w));
            rows.push((2, 0.0, w));
        }
        let mut jac = [[0.0; 5]; 3];
        for (i, h) in [1e-4, 1e-4, 1e-4, 1e-4, 1e-4].iter().enumerate() {
            let mut q = q0;
            q[i] += h;
            let c = self.kin_body(&j, &q).com;
            for r in 0..3 {
                jac[r][i] = (c[r] - c0[r]) / h;
            }
        }
        let mut a = Matrix5::<f64>::zeros();
        let mut b = Vector5::<f64>::zeros();
        for i in 0..5 {
            let d = 1.0 / (sds[i] * sds[i]);
            a[(i, i)] += d;
            b[i] += d * targets[i];
        }
        for &(r, s, wr) in &rows {
            let jr = &jac[r];
            let resid = s - c0[r] + (0..5).map(|i| jr[i] * q0[i]).sum::<f64>();
            for i in 0..5 {
                b[i] += wr * jr[i] * resid;
                for k in 0..5 {
                    a[(i, k)] += wr * jr[i] * jr[k];
                }
            }
        }
        if let Some(ch) = a.cholesky() {
            let q = ch.solve(&b);
            for i in 0..5 {
                if q[i].is_finite() {
                    self.bal_star[i] = q[i].clamp(-0.5, 0.5);
                }
            }
        }
    }
}

impl Body {
    /// One internal step; returns the world kinematics.
    fn step(&mut self) -> Kin {
        let dt = self.dt;
        self.t += dt;
        self.step_count += 1;
        if !self.done && self.act != Act::Set && self.t >= self.act_t0 + self.act_dur {
            self.next_act();
        }
        let lf = self.lf.clone();
        let (seat0, lie0, step0) = exercise_posture(self.ex);
        let (mut seat_t, mut lie_t, mut bob_t) = if self.upright {
            (0.0, 0.0, 0.0)
        } else {
            (seat0, lie0, step0)
        };
        let mut knee_t = 0.04;
        let mut o_knee_t = 0.04;
        let o_flex_t = 0.0;
        let mut trunk_t = 0.0;
        let mut fore_t = 0.0;
        let mut pivot_t = 1.0;
        let mut speed_t = 0.0;
        let mut walk_t = 0.0;
        let mut flex_extra = 0.0;
        let mut o_abd_t = 0.0;
        let mut bal_t = [0.0; 5];
        let mut com_scale = 1.0;
        let e = self.t - self.act_t0;
        let p = if self.act_dur.is_finite() {
            (e / self.act_dur.max(1e-3)).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let standing = |seat: &mut f64, lie: &mut f64, bob: &mut f64| {
            *seat = 0.0;
            *lie = 0.0;
            *bob = 0.0;
        };
        match self.act {
            Act::Still | Act::Set => {}
            Act::Walk { turn } => {
                standing(&mut seat_t, &mut lie_t, &mut bob_t);
                if p < 0.92 {
                    walk_t = 1.0;
                    speed_t = lf.speed;
                }
                if turn && p > 0.45 && !self.turned {
                    self.turned = true;
                    self.heading_t += PI * if self.act_param > 0.0 { 1.0 } else { -1.0 };
                }
                com_scale = 0.02;
            }
            Act::GetUp => {
                self.upright = true;
            }
            Act::LieDown => {
                self.upright = false;
            }
            Act::Sit => {
                if self.ex != Exercise::SeatedMachineAbduction {
                    seat_t = if p < 0.88 { 1.0 } else { 0.0 };
                    lie_t = 0.0;
                    bob_t = 0.0;
                }
                trunk_t = 0.1 * self.act_param;
            }
            Act::PinChange => {
                trunk_t = 45.0 * DEG;
                knee_t = 25.0 * DEG;
                o_knee_t = 25.0 * DEG;
                bal_t[2] = 15.0 * DEG * self.act_param;
                fore_t = 0.04;
                com_scale = 0.2;
            }
            Act::Restrap => {
                if self.lie.x < 0.5 {
                    flex_extra = 65.0;
                    knee_t = 80.0 * DEG;
                    trunk_t = 40.0 * DEG;
                    o_knee_t = 10.0 * DEG;
                } else {
                    flex_extra = 50.0;
                    knee_t = 90.0 * DEG;
                    trunk_t = 25.0 * DEG;
                }
                com_scale = 0.2;
                if let Some((ang, axis, at)) = self.mount_turn {
                    if self.t >= at {
                        let s = mj((self.t - at) / 0.8);
                        let base = self.mount_base;
                        let turn = UnitQuaternion::from_axis_angle(
                            &nalgebra::Unit::new_normalize(axis),
                            ang * s,
                        );
                        self.mount = base * turn;
                        if s >= 1.0 {
                            self.mount_base = self.mount;
                            self.mount_turn = None;
                        }
                    }
                }
            }
            Act::Drink => {
                trunk_t = -8.0 * DEG;
                bal_t[2] = 8.0 * DEG * self.act_param;
            }
            Act::Phone => {
                trunk_t = 12.0 * DEG;
            }
            Act::OtherLeg => {
                standing(&mut seat_t, &mut lie_t, &mut bob_t);
                if self.ex == Exercise::HipHitch {
                    bob_t = 0.2;
                }
                pivot_t = if p < 0.93 { -1.0 } else { 1.0 };
                if self.other_attempt.is_none() && e > 2.0 && p < 0.85 && self.other_reps_left > 0 {
                    let d = uni(&mut self.rng, 2.2, 3.4);
                    self.other_attempt = Some((self.t, d));
                    self.other_reps_left -= 1;
                }
                if let Some((t0, d)) = self.other_attempt {
                    let s = (self.t - t0) / d;
                    let x = if self.ex == Exercise::HipHitch {
                        8.0
                    } else {
                        32.0
                    };
                    o_abd_t = x * (mj(s / 0.3) - mj((s - 0.45) / 0.45));
                    if s >= 1.0 {
                        self.other_attempt = None;
                    }
                }
                if self.ex == Exercise::HipHitch {
                    bal_t[0] = self.o_abd.x * DEG;
                }
            }
            Act::Fidget => {
                bal_t[3] = 0.025 * self.act_param;
                knee_t = 15.0 * DEG * (1.0 - (2.0 * PI * p).cos()) * 0.5;
                flex_extra = 8.0 * (2.0 * PI * 2.0 * e).sin() * (PI * p).sin();
            }
            Act::Swing => {
                if self.ex == Exercise::HipHitch {
                    flex_extra = 30.0 * (PI * p).sin().powi(2);
                } else if e < dt * 1.5 {
                    self.swing();
                }
            }
        }
        // The main particle: Langevin dynamics in the lifter's landscape.
        self.step_attempt();
        let lvl = self.intent_level();
        let x = self.x_or_range();
        let fat = self.fatigue;
        let (top, c_mult, g_mult, w_mult, d_mult, mid) = match &self.attempt {
            Some(a) => {
                let mom = a.comp == Comp::Kind(FlagKind::Momentum);
                let mid = match (a.mid, a.released) {
                    (Some((um, _)), Some(_)) if a.mid_done.is_none() => Some(um),
                    _ => None,
                };
                if mom {
                    let k = a.amount;
                    (a.top, 1.0 - 0.7 * k, 1.0 + 1.3 * k, 0.6, 1.6, mid)
                } else {
                    (a.top, 1.0, 1.0, 1.0, 1.0, mid)
                }
            }
            None => (1.0, 1.0, 1.0, 1.0, 1.0, None),
        };
        let c = lf.c * (1.0 + 0.5 * fat) * c_mult;
        let g = lf.g * g_mult;
        let u = self.u;
        let rest = self.neutral_shift;
        let wn = 0.22;
        let well = |uu: f64, centre: f64, w: f64, depth: f64| {
            let d = (uu - centre) / w;
            -depth * d * (0.5 - 0.5 * d * d).exp()
        };
        let a_n = lf.rho * lf.g * (1.0 - lf.shallow * lvl.min(1.0));
        // A weak intent tilts the bowl only a little: the barrier holds.
        let s_star = lf.rho / (1.0 + lf.rho * lf.shallow);
        let weak = self.attempt.as_ref().is_some_and(|a| a.strength < s_star);
        let bowl = if weak {
            lvl.min(0.4 * s_star)
        } else {
            lvl.min(1.0)
        };
        let mut force = -lf.k0 * (u - rest - bowl * top)
            + g * lvl * logistic((top - 0.06 - u) / 0.03)
            + well(u, rest, wn, a_n)
            + well(
                u,
                top,
                lf.top_w * w_mult,
                lf.top_depth * d_mult * g * lvl.min(1.0) * (1.0 + 0.6 * g_mult.max(1.0) - 0.6),
            );
        if let Some(um) = mid {
            force += well(u, um, 0.07, 2.2 * (lf.k0 * um + 0.2 * a_n));
        }
        let floor = if self.ex == Exercise::HipHitch {
            -2.0
        } else {
            -0.3
        };
        if u < floor {
            force -= 600.0 * (u - floor);
        }
        if u > 1.6 {
            force -= 600.0 * (u - 1.6);
        }
        let eta = self.u_noise.step(&mut self.rng, lf.noise_tau, dt);
        self.tremor_phase += 2.0 * PI * lf.tremor_hz * dt * (1.0 + 0.05 * gauss(&mut self.rng));
        let noise = lf.sigma * (1.0 + 0.8 * fat) * self.cfg_noise_body() * eta
            + lf.tremor * (1.0 + fat) * 30.0 * self.tremor_phase.sin() / x.max(5.0) * 10.0;
        let acc = -c * self.uv + force + noise;
        self.uv += acc * dt;
        self.u += self.uv * dt;
        // Flexion and rotation: particles in wells that follow the leg.
        let uc = self.u.clamp(0.0, 1.4);
        let mut flex_target = lf.flex_rest + (lf.flex_habit + self.drift_deg) * uc + flex_extra;
        if let Some(a) = &self.attempt {
            if a.comp == Comp::Kind(FlagKind::HipFlexionDrift)
                && a.released.is_none_or(|r| self.t - r < 1.0)
            {
                flex_target += a.amount * (uc / a.top.max(0.3)).min(1.2);
            }
        }
        let k2 = (2.0 * PI * 1.3f64).powi(2);
        let c2 = 2.0 * 0.85 * k2.sqrt();
        let n1 = self.flex_noise.step(&mut self.rng, 0.08, dt);
        let a1 = -c2 * self.flex.1 - k2 * (self.flex.0 - flex_target) + k2 * 0.5 * n1;
        self.flex.1 += a1 * dt;
        self.flex.0 += self.flex.1 * dt;
        let n2 = self.rot_noise.step(&mut self.rng, 0.08, dt);
        let a2 = -c2 * self.rot.1 - k2 * (self.rot.0 - lf.rot_habit * uc) + k2 * 0.6 * n2;
        self.rot.1 += a2 * dt;
        self.rot.0 += self.rot.1 * dt;
        // Balance targets for this moment of the rep.
        let abd = self.main_abd();
        let m_leg = if self.ex == Exercise::SeatedMachineAbduction {
            0.2 * abd / 35.0
        } else {
            (abd / 35.0).clamp(-0.3, 1.6)
        };
        bal_t[0] += (lf.hike_habit - lf.sag) * m_leg;
        bal_t[1] += lf.tilt_habit * m_leg;
        bal_t[2] += lf.turn_habit * m_leg;
        let mut sds = lf.prior_sd;
        if self.lie.x > 0.5 {
            sds[3] = 0.004;
        }
        if self.seat.x > 0.5 {
            sds[3] = 0.01;
        }
        if let Some(a) = self.attempt {
            let ramp = mj((self.u / a.top.max(0.3)).clamp(0.0, 1.0) * 1.3);
            match a.comp {
                Comp::Kind(FlagKind::HipHike) if self.ex != Exercise::HipHitch => {
                    bal_t[0] += a.amount * DEG * ramp;
                    sds[0] = 0.3 * DEG;
                }
                Comp::Kind(FlagKind::PelvicDrop) if self.ex != Exercise::HipHitch => {
                    bal_t[0] -= a.amount * DEG * ramp;
                    sds[0] = 0.3 * DEG;
                }
                Comp::Kind(FlagKind::TrunkSway) if self.t - a.t0 < a.sway_period + 0.6 => {
                    let s = self.t - a.t0;
                    let env = mj(s / 0.3) * (1.0 - mj((s - a.sway_period) / 0.3));
                    let w = (2.0 * PI * s / a.sway_period).sin() * env * a.amount * DEG;
                    bal_t[3] = w * lf.leg * 0.8;
                    bal_t[4] = 0.5 * w;
                    bal_t[2] += 0.35 * w;
                    sds[3] = 0.004;
                    sds[4] = 0.5 * DEG;
                    com_scale = 0.03;
                }
                _ => {}
            }
        }
        if self.ex == Exercise::HipHitch && self.act != Act::OtherLeg {
            bal_t[0] = -(self.u * x) * DEG;
            sds[0] = 0.02 * DEG;
        }
        if self.act == Act::OtherLeg && self.ex == Exercise::HipHitch {
            sds[0] = 0.05 * DEG;
        }
        if self.step_count.is_multiple_of(4) {
            self.solve_balance(bal_t, sds, com_scale);
        }
        let a_lag = (dt / lf.lag).min(1.0);
        let sway_scale = if self.lie.x > 0.5 {
            0.3
        } else if self.seat.x > 0.5 {
            0.5
        } else if lf.pop == Population::Rehab {
            1.5
        } else {
            1.0
        } * (1.0 - 0.7 * self.walk_amp.x);
        let sway_sd = [lf.sway[0], 0.3 * DEG, lf.sway[2], lf.sway[1], 0.4 * DEG];
        let taus = [1.5, 2.0, 1.0, 2.5, 2.0];
        for i in 0..5 {
            self.bal[i] += (self.bal_star[i] - self.bal[i]) * a_lag;
            let b = self.bal[i];
            self.bal_smooth[i].step(b, 4.0, dt);
            let o = self.sway[i].step(&mut self.rng, taus[i], dt) * sway_sd[i] * sway_scale;
            self.sway_smooth[i].step(o, 0.7, dt);
        }
        self.breath += 2.0 * PI * 0.25 * dt;
        // Everything else follows its target smoothly.
        self.seat.step(seat_t, 0.45, dt);
        self.lie.step(lie_t, 0.3, dt);
        self.bob.step(bob_t - seat_t * 0.0, 0.8, dt);
        self.knee.step(knee_t, 1.5, dt);
        self.o_knee.step(o_knee_t, 1.5, dt);
        self.o_flex.step(o_flex_t, 1.5, dt);
        self.trunk_flex.step(trunk_t, 0.8, dt);
        self.fore.step(fore_t, 0.8, dt);
        self.pivot.step(pivot_t, 0.7, dt);
        let one_leg = match self.act {
            Act::Set | Act::OtherLeg => true,
            Act::Still => matches!(self.agenda.front(), Some((Act::Set, _))) || self.sets_done == 0,
            _ => false,
        } || (self.ex == Exercise::HipHitch && !self.upright);
        self.load.step(if one_leg { 1.0 } else { 0.0 }, 0.6, dt);
        self.o_abd.step(o_abd_t, 1.6, dt);
        self.heading.step(self.heading_t, 0.35, dt);
        self.speed.step(speed_t, 0.6, dt);
        self.walk_amp.step(walk_t, 0.7, dt);
        if self.walk_amp.x > 0.02 {
            self.stride_phase += 2.0 * PI * lf.cadence * dt;
        }
        let fwd = ry(self.heading.x) * Vector3::new(0.0, 0.0, -1.0);
        self.base += fwd * self.speed.x * dt;
        if !matches!(self.act, Act::Walk { .. }) {
            self.turned = false;
        }
        let k = self.kin_now();
        if self.act == Act::Set {
            self.step_set(&k);
        } else {
            // The still stance before a set, averaged over about half a second.
            let a = (dt / 0.5).min(1.0);
            let o = self.rest_obl.unwrap_or(k.obliquity);
            let r = self.rest_trunk.unwrap_or(k.trunk_roll);
            self.rest_obl = Some(o + (k.obliquity - o) * a);
            self.rest_trunk = Some(r + (k.trunk_roll - r) * a);
        }
        if let Some((idx, until)) = self.tail {
            if self.t > until {
                self.tail = None;
            } else if let Some(m) = self.meter.as_mut() {
                let obl = k.obliquity / DEG - m.obl0;
                if let Some(r) = m.reps.get_mut(idx) {
                    r.max_obl = r.max_obl.max(obl);
                    self.tail_run = if obl >= 5.0 { self.tail_run + dt } else { 0.0 };
                    r.hike_t = r.hike_t.max(self.tail_run);
                }
            }
        }
        k
    }

    /// The noise multiplier does not touch the body (it is the sensor's).
    fn cfg_noise_body(&self) -> f64 {
        1.0
    }

    /// A single swing of the working leg between sets (not a rep).
    fn swing(&mut self) {
        self.attempt = Some(Attempt {
            t0: self.t,
            top: uni(&mut self.rng, 0.35, 0.9),
            strength: 1.4,
            give_up: 0.5,
            pause: 0.0,
            mid: None,
            mid_done: None,
            comp: Comp::Kind(FlagKind::Momentum),
            amount: uni(&mut self.rng, 0.5, 0.9),
            released: None,
            at_top_since: None,
            sway_period: 2.0,
        });
    }

    /// The current attempt's course: reaching the top, holding, giving up,
    /// releasing, a middle well that catches the lowering.
    fn step_attempt(&mut self) {
        let t = self.t;
        let u = self.u;
        let mut reraise = false;
        if let Some(a) = self.attempt.as_mut() {
            if a.released.is_none() {
                if u >= 0.85 * a.top && a.at_top_since.is_none() {
                    a.at_top_since = Some(t);
                }
                let held = a.at_top_since.is_some_and(|s| t - s >= a.pause);
                if held || t - a.t0 >= a.give_up {
                    a.released = Some(t);
                    self.releases.push(t);
                    self.death_checked = false;
                    if self.ex == Exercise::HipHitch && a.comp == Comp::Kind(FlagKind::HipHike) {
                        self.hike_until = t + uni(&mut self.rng, 1.6, 2.6);
                        self.hike_amount = a.amount;
                    }
                    if a.strength > 1.0 && self.act == Act::Set {
                        self.fatigue = (self.fatigue + self.lf.fatigue_rate).min(1.0);
                        self.drift_deg = (self.drift_deg + 0.25).min(3.0);
                    }
                }
            } else if let (Some((um, dm)), Some(r)) = (a.mid, a.released) {
                if t - r > 5.0 + dm && a.mid_done.is_none() {
                    a.mid = None;
                }
                match a.mid_done {
                    None if u <= um + 0.03 => a.mid_done = Some(t + dm),
                    Some(at) if t >= at && t < at + 1.0 => {
                        a.mid = None;
                        reraise = true;
                    }
                    _ => {}
                }
            }
        }
        if reraise && self.act == Act::Set && self.need_more() {
            self.intent(false);
        }
        // Hip hitch: a hike above level on the way back.
        if self.ex == Exercise::HipHitch {
            let x = self.x_or_range();
            let target = if t < self.hike_until {
                -(self.hike_amount / x)
            } else {
                0.0
            };
            self.neutral_shift += (target - self.neutral_shift) * (self.dt / 0.25).min(1.0);
        }
    }

    /// Reps measured so far in this set (with one under way if it already
    /// qualifies).
    fn reps_so_far(&self) -> usize {
        let Some(m) = &self.meter else { return 0 };
        m.reps.len() + usize::from(m.cur.as_ref().is_some_and(|r| r.peak >= REP_MIN * m.x))
    }

    fn need_more(&self) -> bool {
        self.reps_so_far() < self.target_reps
    }

    /// A set: the meter measures, the Hawkes process brings the intents.
    fn step_set(&mut self, k: &Kin) {
        let t = self.t;
        let flex = self.flex.0;
        if let Some(m) = self.meter.as_mut() {
            if let Some(rep) = m.feed(t, k, flex) {
                if rep.peak >= REP_MIN * m.x {
                    m.reps.push(rep);
                    if self.ex == Exercise::HipHitch {
                        self.tail = Some((m.reps.len() - 1, t + 2.5));
                        self.tail_run = 0.0;
                    }
                }
            }
        }
        let e = t - self.act_t0;
        let lf = &self.lf;
        let busy = self.attempt.as_ref().is_some_and(|a| {
            a.released.is_none_or(|r| t - r < lf.refr) || (a.mid.is_some() && a.released.is_some())
        });
        let count = self.reps_so_far();
        if count < self.target_reps && !busy {
            let last = self.releases.last().copied().unwrap_or(self.act_t0);
            let since = t - last - lf.refr;
            let exc: f64 = self
                .releases
                .iter()
                .rev()
                .take(8)
                .map(|r| {
                    let s = t - r - lf.refr;
                    if s > 0.0 {
                        lf.branch * lf.beta * (-lf.beta * s).exp()
                    } else {
                        0.0
                    }
                })
                .sum();
            if since > 2.5 && !self.death_checked {
                self.death_checked = true;
                // The excitation died out: a lifter in the range may stop here.
                if count >= self.cfg.reps_min && exc < 0.1 && self.rng.gen_bool(0.35) {
                    self.target_reps = count;
                }
            }
            let lam = lf.mu + exc;
            if count < self.target_reps && (self.rng.gen::<f64>() < lam * self.dt || since > 6.0) {
                self.intent(false);
            }
        }
        let settled = self
            .attempt
            .as_ref()
            .is_none_or(|a| a.released.is_some_and(|r| t - r > 0.5) && a.mid.is_none())
            && self.meter.as_ref().is_some_and(|m| m.cur.is_none())
            && self.u.abs() < 0.1;
        let too_long = e > 60.0 + 20.0 * self.target_reps as f64;
        if (count >= self.target_reps && settled) || too_long {
            self.end_set();
        }
    }

    fn end_set(&mut self) {
        if let Some(m) = self.meter.take() {
            self.measured.push((self.set_index, m.reps));
        }
        self.tail = None;
        self.set_index += 1;
        self.sets_done += 1;
        self.act_dur = self.t - self.act_t0;
        self.next_act();
    }
}

/// The sensor's own errors, drawn once per session.
#[derive(Debug, Clone)]
struct SensorModel {
    mount0: UnitQuaternion<f64>,
    ppm: f64,
    phase: f64,
    acc_m: nalgebra::Matrix3<f64>,
    gyr_m: nalgebra::Matrix3<f64>,
    acc_bias: Vector3<f64>,
    gyr_bias: Vector3<f64>,
    gyr_tc: Vector3<f64>,
    acc_tc: Vector3<f64>,
    temp_rise: f64,
    temp_tau: f64,
    acc_sd: f64,
    gyr_sd: f64,
    acc_fs: f64,
    gyr_fs: f64,
    acc_lsb: f64,
    gyr_lsb: f64,
    gaps: Vec<(f64, f64)>,
}

impl SensorModel {
    fn draw(cfg: &SimConfig, rng: &mut ChaCha8Rng, span_s: f64) -> Self {
        let mount0 = if cfg.random_mounting {
            match cfg.placement {
                Placement::Ankle => UnitQuaternion::from_euler_angles(
                    rng.gen_range(-PI..PI),
                    rng.gen_range(-PI / 2.0..PI / 2.0),
                    rng.gen_range(-PI..PI),
                ),
                Placement::Pelvis => {
                    let axis = Vector3::new(gauss(rng), gauss(rng), gauss(rng));
                    let axis = if axis.norm() > 1e-9 {
                        axis.normalize()
                    } else {
                        Vector3::x()
                    };
                    UnitQuaternion::from_scaled_axis(axis * uni(rng, 0.0, 15.0) * DEG)
                }
            }
        } else {
            UnitQuaternion::identity()
        };
        let mut cross = |s: f64| {
            let mut m = nalgebra::Matrix3::identity();
            for i in 0..3 {
                for j in 0..3 {
                    m[(i, j)] += if i == j {
                        s * gauss(rng)
                    } else {
                        0.005 * gauss(rng)
                    };
                }
            }
            m
        };
        let acc_m = cross(0.01);
        let gyr_m = cross(0.01);
        let b = cfg.gyro_bias_dps;
        let gyr_bias = Vector3::new(
            uni(rng, -b, b) * 0.7,
            uni(rng, -b, b) * 0.7,
            uni(rng, -b, b) * 0.7,
        );
        let gyr_tc = Vector3::new(gauss(rng), gauss(rng), gauss(rng)) * 0.01 * (b / 2.0).min(1.0);
        let acc_bias = Vector3::new(gauss(rng), gauss(rng), gauss(rng)) * 0.04;
        let acc_tc = Vector3::new(gauss(rng), gauss(rng), gauss(rng)) * 0.002;
        let cheap = rng.gen_bool(0.3);
        let (acc_fs, gyr_fs) = if cheap {
            (8.0 * STANDARD_GRAVITY, 1000.0)
        } else {
            (16.0 * STANDARD_GRAVITY, 2000.0)
        };
        let mut gaps = Vec::new();
        if cfg.gaps_per_min > 0.0 {
            let rate = cfg.gaps_per_min / 60.0;
            let mut t = 0.0;
            loop {
                let u: f64 = rng.gen_range(1e-12..1.0);
                t += -u.ln() / rate;
                if t > span_s + 10.0 {
                    break;
                }
                gaps.push((t, t + 0.2));
            }
        }
        SensorModel {
            mount0,
            ppm: uni(rng, -120.0, 120.0) * 1e-6,
            phase: rng.gen_range(0.0..1.0),
            acc_m,
            gyr_m,
            acc_bias,
            gyr_bias,
            gyr_tc,
            acc_tc,
            temp_rise: uni(rng, 2.0, 9.0),
            temp_tau: uni(rng, 200.0, 700.0),
            acc_sd: uni(rng, 0.012, 0.03) * cfg.noise,
            gyr_sd: uni(rng, 0.06, 0.15) * cfg.noise,
            acc_fs,
            gyr_fs,
            acc_lsb: acc_fs / 32768.0,
            gyr_lsb: gyr_fs / 32768.0,
            gaps,
        }
    }
}

/// The Langevin body model's sample stream.
pub struct LangevinSimulator {
    body: Body,
    sm: SensorModel,
    rng: ChaCha8Rng,
    rate: f64,
    drop_rate: f64,
    placement: Placement,
    end_t: f64,
    k: u64,
    steps: u64,
    prev_q: Option<UnitQuaternion<f64>>,
    prev_p: [Vector3<f64>; 2],
    prev_w: Vector3<f64>,
    tissue_u: [f64; 3],
    tissue_v: [f64; 3],
    tissue_th: [f64; 3],
    tissue_om: [f64; 3],
    sum_f: Vector3<f64>,
    sum_w: Vector3<f64>,
    n: u32,
    last: (Vector3<f64>, Vector3<f64>),
    gyr_walk: Vector3<f64>,
    finished: bool,
}

fn body_seed(seed: u64) -> u64 {
    seed ^ 0x4c41_4e47_4556_494e
}

fn sensor_seed(seed: u64) -> u64 {
    seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5345_4e53
}

impl LangevinSimulator {
    /// The session for `cfg`: the sample stream and its ground truth,
    /// measured on the simulated joints.
    pub fn new(cfg: &SimConfig) -> Result<(Self, Truth), String> {
        cfg.validate()?;
        // Pass one: run the body to measure the truth.
        let mut body = Body::new(cfg, body_seed(cfg.seed));
        let cap = ((cfg.sets as f64) * (cfg.rest_max_s + 60.0 + 25.0 * cfg.reps_max as f64)
            + 120.0)
            / body.dt;
        let mut steps = 0.0;
        while !body.done && steps < cap {
            body.step();
            steps += 1.0;
        }
        let end_t = body.t;
        let mut srng = ChaCha8Rng::seed_from_u64(sensor_seed(cfg.seed));
        let sm = SensorModel::draw(cfg, &mut srng, end_t * 1.001);
        let clock = 1.0 + sm.ppm;
        let visible = cfg.visible_compensations();
        let mut sets = Vec::new();
        for (_, reps) in &body.measured {
            let mut peaks: Vec<f64> = reps.iter().map(|r| r.peak).collect();
            peaks.sort_by(|a, b| a.total_cmp(b));
            let reference = if peaks.is_empty() {
                0.0
            } else {
                peaks[peaks.len() / 2]
            };
            let truth_reps: Vec<TruthRep> = reps
                .iter()
                .map(|r| {
                    let mut flags = Vec::new();
                    for &kind in &visible {
                        let hit = match kind {
                            FlagKind::HipHike => (r.hike_t >= 0.15).then_some(r.max_obl),
                            FlagKind::PelvicDrop => (cfg.exercise != Exercise::HipHitch
                                && r.drop_t >= 0.15)
                                .then_some(r.min_obl),
                            FlagKind::TrunkSway => (r.sway_hi >= 5.0 && r.sway_lo <= -5.0)
                                .then_some(r.sway_hi.min(-r.sway_lo)),
                            FlagKind::Momentum => (r.speed
                                >= MOMENTUM_MIN_DPS.max(MOMENTUM_PER_S * reference))
                            .then_some(r.speed),
                            FlagKind::PartialRange => (peaks.len() >= 3
                                && r.peak < PARTIAL_SHARE * reference)
                                .then_some(r.peak),
                            FlagKind::HipFlexionDrift => (r.flex_t >= 0.15).then_some(r.max_flex),
                        };
                        if let Some(v) = hit {
                            flags.push(TruthFlag {
                                kind,
                                value_deg: round3(v),
                            });
                        }
                    }
                    let peak = match (cfg.placement, cfg.exercise) {
                        (Placement::Pelvis, Exercise::HipHitch) | (Placement::Ankle, _) => r.peak,
                        (Placement::Pelvis, _) => r.peak_obl.abs(),
                    };
                    TruthRep {
                        start_s: round3(r.start * clock),
                        end_s: round3(r.end * clock),
                        peak_deg: round3(peak),
                        flags,
                    }
                })
                .collect();
            sets.push(TruthSet {
                start_s: truth_reps.first().map_or(0.0, |r| r.start_s),
                end_s: truth_reps.last().map_or(0.0, |r| r.end_s),
                rep_count: truth_reps.len(),
                reps: truth_reps,
            });
        }
        let distractions = body
            .distractions
            .iter()
            .filter(|d| d.0 < end_t)
            .map(|(a, b, what)| format!("{what} {:.1}-{:.1} s", a * clock, b.min(end_t) * clock))
            .collect();
        let n_samples = ((end_t - sm.phase / cfg.rate_hz) * cfg.rate_hz * clock)
            .floor()
            .max(0.0);
        let truth = Truth {
            config: cfg.clone(),
            duration_s: round3(n_samples / cfg.rate_hz),
            distractions,
            sets,
        };
        // Pass two: the same body again, lazily, seen by the sensor.
        let body = Body::new(cfg, body_seed(cfg.seed));
        let sim = LangevinSimulator {
            body,
            sm,
            rng: srng,
            rate: cfg.rate_hz,
            drop_rate: cfg.drop_rate,
            placement: cfg.placement,
            end_t,
            k: 0,
            steps: 0,
            prev_q: None,
            prev_p: [Vector3::zeros(); 2],
            prev_w: Vector3::zeros(),
            tissue_u: [0.0; 3],
            tissue_v: [0.0; 3],
            tissue_th: [0.0; 3],
            tissue_om: [0.0; 3],
            sum_f: Vector3::zeros(),
            sum_w: Vector3::zeros(),
            n: 0,
            last: (Vector3::new(0.0, STANDARD_GRAVITY, 0.0), Vector3::zeros()),
            gyr_walk: Vector3::zeros(),
            finished: false,
        };
        Ok((sim, truth))
    }

    /// One internal step of the body, seen through the soft tissue.
    fn advance(&mut self) {
        let k = self.body.step();
        self.steps += 1;
        let dt = self.body.dt;
        let (q_seg, p) = match self.placement {
            Placement::Ankle => (k.shank_q, k.shank_p),
            Placement::Pelvis => (
                k.pelvis_q,
                k.pelvis_p + k.pelvis_q * Vector3::new(0.0, -0.02, 0.1),
            ),
        };
        let m = self.sm.mount0 * self.body.mount;
        let q_site = q_seg * m;
        let w_world = match self.prev_q {
            Some(q0) => (q_site * q0.inverse()).scaled_axis() / dt,
            None => Vector3::zeros(),
        };
        let a_world = if self.steps > 2 {
            (p - 2.0 * self.prev_p[0] + self.prev_p[1]) / (dt * dt)
        } else {
            Vector3::zeros()
        };
        self.prev_q = Some(q_site);
        self.prev_p = [p, self.prev_p[0]];
        let a_l = q_seg.inverse() * a_world;
        let w_l = q_seg.inverse() * w_world;
        let alpha = (w_l - self.prev_w) / dt;
        self.prev_w = w_l;
        let lf = &self.body.lf;
        let mut rel = Vector3::zeros();
        let mut th = Vector3::zeros();
        let mut om = Vector3::zeros();
        for i in 0..3 {
            let w = 2.0 * PI * lf.tissue_hz[i];
            let z = lf.tissue_zeta;
            let acc = -w * w * self.tissue_u[i] - 2.0 * z * w * self.tissue_v[i] - a_l[i];
            self.tissue_v[i] += acc * dt;
            self.tissue_u[i] += self.tissue_v[i] * dt;
            rel[i] = acc;
            let wr = 2.0 * PI * lf.tissue_hz[(i + 1) % 3] * 0.9;
            let drive = match i {
                0 => 3.0 * a_l.z,
                2 => -3.0 * a_l.x,
                _ => 0.0,
            };
            let ta =
                -wr * wr * self.tissue_th[i] - 2.0 * z * wr * self.tissue_om[i] - 0.4 * alpha[i]
                    + lf.tissue_rock * drive;
            self.tissue_om[i] += ta * dt;
            self.tissue_th[i] += self.tissue_om[i] * dt;
            th[i] = self.tissue_th[i];
            om[i] = self.tissue_om[i];
        }
        let m_inv = m.inverse();
        let wob = UnitQuaternion::from_scaled_axis(m_inv * th);
        let f_world = a_world + Vector3::new(0.0, STANDARD_GRAVITY, 0.0);
        let f_site = wob.inverse() * (q_site.inverse() * f_world + m_inv * rel);
        let w_site = wob.inverse() * (q_site.inverse() * w_world + m_inv * om);
        self.sum_f += f_site;
        self.sum_w += w_site;
        self.n += 1;
    }

    /// The sensor's reading at stamp `t` from the averaged motion.
    fn reading(&mut self, t: f64, f: Vector3<f64>, w: Vector3<f64>) -> Sample {
        let sm = &self.sm;
        let temp = sm.temp_rise * (1.0 - (-t / sm.temp_tau).exp());
        self.gyr_walk += Vector3::new(
            gauss(&mut self.rng),
            gauss(&mut self.rng),
            gauss(&mut self.rng),
        ) * 0.002
            / self.rate.sqrt();
        let sm = &self.sm;
        let gyr = sm.gyr_m * (w / DEG)
            + sm.gyr_bias
            + sm.gyr_tc * temp
            + self.gyr_walk
            + Vector3::new(
                gauss(&mut self.rng),
                gauss(&mut self.rng),
                gauss(&mut self.rng),
            ) * sm.gyr_sd
                * (self.rate / 100.0).sqrt();
        let sm = &self.sm;
        let acc = sm.acc_m * f
            + sm.acc_bias
            + sm.acc_tc * temp
            + Vector3::new(
                gauss(&mut self.rng),
                gauss(&mut self.rng),
                gauss(&mut self.rng),
            ) * sm.acc_sd
                * (self.rate / 100.0).sqrt();
        let sm = &self.sm;
        let q = |x: f64, lsb: f64, fs: f64| ((x / lsb).round() * lsb).clamp(-fs, fs);
        Sample {
            t,
            acc: acc.map(|x| q(x, sm.acc_lsb, sm.acc_fs)),
            gyr: gyr.map(|x| q(x, sm.gyr_lsb, sm.gyr_fs)),
        }
    }
}

impl Iterator for LangevinSimulator {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        loop {
            if self.finished {
                return None;
            }
            let clock = 1.0 + self.sm.ppm;
            let stamp = (self.k as f64 + self.sm.phase) / self.rate;
            let t_true = stamp / clock;
            if t_true > self.end_t {
                self.finished = true;
                return None;
            }
            while self.body.t < t_true && !self.body.done {
                self.advance();
            }
            let (f, w) = if self.n > 0 {
                let n = f64::from(self.n);
                (self.sum_f / n, self.sum_w / n)
            } else {
                self.last
            };
            self.last = (f, w);
            self.sum_f = Vector3::zeros();
            self.sum_w = Vector3::zeros();
            self.n = 0;
            self.k += 1;
            let s = self.reading(stamp, f, w);
            if self.drop_rate > 0.0 && self.rng.gen_bool(self.drop_rate) {
                continue;
            }
            if self.sm.gaps.iter().any(|g| stamp >= g.0 && stamp < g.1) {
                continue;
            }
            return Some(Sample {
                t: (stamp * 1e6).round() / 1e6,
                ..s
            });
        }
    }
}

/// Momentum, as measured: a phase whose angular speed reaches this many
/// degrees per second for every degree of the set's median peak, and at
/// least [`MOMENTUM_MIN_DPS`].
const MOMENTUM_PER_S: f64 = 4.5;
const MOMENTUM_MIN_DPS: f64 = 100.0;
/// Partial range, as measured: a peak below this share of the set's median
/// peak.
const PARTIAL_SHARE: f64 = 0.72;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::sim::{SimModel, PAIRS};
    use crate::Side;

    fn small(ex: Exercise, pl: Placement, seed: u64) -> SimConfig {
        let mut c = SimConfig::new(ex, pl, Side::Right);
        c.model = SimModel::Langevin;
        c.seed = seed;
        c.sets = 1;
        c.reps_min = 2;
        c.reps_max = 2;
        c.rest_min_s = 12.0;
        c.rest_max_s = 12.0;
        c.walking = false;
        c.fidgets = false;
        c.lead_in_s = Some(1.0);
        c
    }

    #[test]
    fn the_same_seed_gives_the_same_session() {
        let c = small(Exercise::StandingCableAbduction, Placement::Ankle, 4);
        let (a, ta) = LangevinSimulator::new(&c).unwrap();
        let (b, tb) = LangevinSimulator::new(&c).unwrap();
        assert_eq!(ta, tb);
        let a: Vec<Sample> = a.take(500).collect();
        let b: Vec<Sample> = b.take(500).collect();
        assert_eq!(a, b);
        let mut d = c.clone();
        d.seed = 5;
        let (_, td) = LangevinSimulator::new(&d).unwrap();
        assert_ne!(ta, td);
    }

    #[test]
    fn every_pair_and_rate_gives_finite_increasing_samples_and_a_truth() {
        for (i, &(ex, pl)) in PAIRS.iter().enumerate() {
            for rate in [25.0, 400.0] {
                let mut c = small(ex, pl, 10 + i as u64);
                c.reps_min = 1;
                c.reps_max = 1;
                c.rate_hz = rate;
                let (sim, truth) = LangevinSimulator::new(&c).unwrap();
                assert_eq!(truth.sets.len(), 1, "{ex} {pl} {rate}");
                assert!(truth.sets[0].rep_count >= 1, "{ex} {pl} {rate}");
                let mut last = f64::NEG_INFINITY;
                let mut n = 0;
                for s in sim {
                    assert!(s.is_finite(), "{ex} {pl} {rate}: {s:?}");
                    assert!(s.t > last, "{ex} {pl} {rate}");
                    last = s.t;
                    n += 1;
                }
                let expect = truth.duration_s * rate;
                assert!(
                    n as f64 > 0.8 * expect && n as f64 <= expect + 2.0,
                    "{n} {expect}"
                );
            }
        }
    }

    #[test]
    fn at_rest_the_sensor_reads_one_g() {
        for pl in [Placement::Ankle, Placement::Pelvis] {
            let mut c = small(Exercise::StandingCableAbduction, pl, 3);
            c.lead_in_s = Some(3.0);
            let (sim, _) = LangevinSimulator::new(&c).unwrap();
            let first: Vec<Sample> = sim.take_while(|s| s.t < 2.0).collect();
            let g: f64 = first.iter().map(|s| s.acc.norm()).sum::<f64>() / first.len() as f64;
            assert!((g - STANDARD_GRAVITY).abs() < 0.25, "{pl}: {g}");
            let w: f64 = first.iter().map(|s| s.gyr.norm()).sum::<f64>() / first.len() as f64;
            assert!(w < 6.0, "{pl}: {w}");
        }
    }

    #[test]
    fn truth_sets_do_not_overlap_the_distractions() {
        let mut c = small(Exercise::StandingCableAbduction, Placement::Pelvis, 21);
        c.sets = 3;
        c.reps_min = 3;
        c.reps_max = 4;
        c.walking = true;
        c.fidgets = true;
        c.rest_min_s = 25.0;
        c.rest_max_s = 35.0;
        let (_, truth) = LangevinSimulator::new(&c).unwrap();
        assert_eq!(truth.sets.len(), 3);
        assert!(!truth.distractions.is_empty());
        for d in &truth.distractions {
            let span = d.rsplit(' ').nth(1).unwrap();
            let (a, b) = span.split_once('-').unwrap();
            let (a, b): (f64, f64) = (a.parse().unwrap(), b.parse().unwrap());
            for s in &truth.sets {
                assert!(b <= s.start_s || a >= s.end_s, "{d} overlaps {s:?}");
            }
        }
    }

    fn kin_at(y_deg: f64) -> Kin {
        Kin {
            pelvis_q: UnitQuaternion::identity(),
            pelvis_p: Vector3::zeros(),
            shank_q: rz(y_deg * DEG),
            shank_p: Vector3::zeros(),
            com: Vector3::zeros(),
            obliquity: 0.0,
            trunk_roll: 0.0,
        }
    }

    fn meter(x: f64) -> Meter {
        Meter {
            x,
            ref_q: UnitQuaternion::identity(),
            obl0: 0.0,
            trunk0: 0.0,
            flex0: 0.0,
            hitch: false,
            floor: (1.5, 3.0),
            last_low: 0.0,
            prev_y: 0.0,
            prev_t: 0.0,
            cur: None,
            below_since: None,
            hike_run: 0.0,
            drop_run: 0.0,
            flex_run: 0.0,
            speed: 0.0,
            reps: Vec::new(),
        }
    }

    /// Runs the truth rule over a path through (time, fraction of range) points.
    fn reps_of(path: &[(f64, f64)]) -> Vec<MeasuredRep> {
        let x = 35.0;
        let mut m = meter(x);
        let mut out = Vec::new();
        let mut t = 0.0;
        while t < path.last().unwrap().0 + 1.0 {
            let i = path.iter().rposition(|p| p.0 <= t).unwrap_or(0);
            let (t0, y0) = path[i];
            let (t1, y1) = path.get(i + 1).copied().unwrap_or((t0 + 1.0, y0));
            let y = y0 + (y1 - y0) * mj((t - t0) / (t1 - t0));
            if let Some(r) = m.feed(t, &kin_at(y * x), 0.0) {
                if r.peak >= REP_MIN * x {
                    out.push(r);
                }
            }
            t += 0.01;
        }
        out
    }

    #[test]
    fn an_abandoned_attempt_is_not_a_rep() {
        // The rule: a raise to 30% of the range and back is not a rep.
        let r = reps_of(&[(0.0, 0.0), (1.0, 0.0), (1.6, 0.3), (2.4, 0.0), (3.0, 0.0)]);
        assert!(r.is_empty(), "{r:?}");
        // The body: an intent too weak to cross the barrier stays in the
        // neutral basin and is measured as no rep.
        let c = small(Exercise::StandingCableAbduction, Placement::Ankle, 8);
        let mut body = Body::new(&c, 77);
        while body.act != Act::Set {
            body.step();
        }
        let lf = body.lf.clone();
        let s_star = lf.rho / (1.0 + lf.rho * lf.shallow);
        let a = body.attempt.as_mut().unwrap();
        a.strength = 0.7 * s_star;
        a.give_up = 1.2;
        a.comp = Comp::None;
        let t0 = body.t;
        let mut top = 0.0f64;
        while body.t < t0 + 1.3 {
            body.step();
            top = top.max(body.u);
        }
        assert!(top < REP_MIN, "{top}");
        assert!(body.meter.as_ref().unwrap().reps.is_empty());
    }

    #[test]
    fn a_raise_that_stops_short_and_rises_again_is_counted_by_the_rule() {
        // Stopping at 35% (above the neutral band) and rising again: one rep.
        let one = reps_of(&[
            (0.0, 0.0),
            (0.5, 0.0),
            (1.3, 1.0),
            (2.3, 0.35),
            (2.9, 0.35),
            (3.7, 1.0),
            (5.0, 0.0),
            (6.0, 0.0),
        ]);
        assert_eq!(one.len(), 1, "{one:?}");
        // Stopping at 12% (back inside the neutral band) and rising again:
        // two reps, the first ending at the dip.
        let two = reps_of(&[
            (0.0, 0.0),
            (0.5, 0.0),
            (1.3, 1.0),
            (2.3, 0.12),
            (2.9, 0.12),
            (3.7, 1.0),
            (5.0, 0.0),
            (6.0, 0.0),
        ]);
        assert_eq!(two.len(), 2, "{two:?}");
        assert!(two[0].end <= two[1].start + 1e-9);
    }

    fn flags_of(c: &SimConfig) -> usize {
        let (_, truth) = LangevinSimulator::new(c).unwrap();
        truth
            .sets
            .iter()
            .flat_map(|s| &s.reps)
            .map(|r| r.flags.len())
            .sum()
    }

    #[test]
    fn compensations_appear_when_asked_and_never_at_rate_zero() {
        for (i, &(ex, pl)) in PAIRS.iter().enumerate() {
            let mut c = small(ex, pl, 40 + i as u64);
            c.reps_min = 8;
            c.reps_max = 8;
            c.compensation_rate = 0.0;
            assert_eq!(flags_of(&c), 0, "{ex} {pl} at rate 0");
            c.compensation_rate = 0.7;
            assert!(flags_of(&c) > 0, "{ex} {pl} at rate 0.7");
        }
    }
}
