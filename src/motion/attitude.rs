//! Orientation of the sensor and whether it is still.
//!
//! [`Attitude`] integrates the bias-corrected gyro into a quaternion (body →
//! world, world +Z up, heading arbitrary) and pulls its tilt toward gravity
//! when the accelerometer can be trusted (a Mahony-style complementary filter
//! without the integral term: the bias is learned while still instead).
//! [`Stillness`] decides when the sensor is at rest and learns the gyro bias
//! there. Both take time with each sample and never read a clock.

use super::profile::StillConfig;
use crate::sample::STANDARD_GRAVITY;
use nalgebra::{Quaternion, UnitQuaternion, Vector3};

/// Gain of the gravity correction while still (1/s): tilt error halves in ~0.35 s.
const KP_STILL: f64 = 2.0;
/// Moving, a disagreement with gravity beyond this (sine of the angle) is
/// acceleration and is not corrected (with the gate), unless its mean over
/// [`ERR_MEAN_S`] is beyond it too.
const MAX_MOVING_ERR: f64 = 0.035;
/// Largest bias the gravity integral may correct (rad/s, 5 °/s).
const MAX_BIAS_CORRECTION: f64 = 5.0 * std::f64::consts::PI / 180.0;
/// Gain while moving slowly with |acc| near g (1/s), unless the profile
/// sets its own (`still.tilt_gain`).
pub const KP_SLOW: f64 = 0.3;
/// Time constant of the mean disagreement with gravity (s): the
/// accelerations of a sway reverse within it, drift does not.
const ERR_MEAN_S: f64 = 1.0;
/// Above this rate (°/s) centripetal acceleration makes the accelerometer useless for tilt.
const SLOW_RATE_DPS: f64 = 30.0;
/// At rest, a tilt this far from gravity (°) is no drift the gravity pull
/// should take its time over: the estimate started from a sample taken in
/// motion, and [`Attitude::snap_to_gravity`] sets it right at once.
pub const SNAP_DEG: f64 = 8.0;
/// Time constant of the mean acceleration that stillness compares against (s).
const STILL_TAU_S: f64 = 0.25;

/// Until the bias is settled, a rest may also be judged on the reading
/// averaged over this long (s): a tremor at 8-12 Hz averages away.
const SHAKY_REST_TAU_S: f64 = 0.1;

/// Such a rest is shaky ([`Stillness::shaky`]: the set measured from it is
/// doubted) only when no steady rest of `min_s` came for this long (s)
/// before it: at the turn of a rep the averaged reading dips to rest for an
/// instant on any sensor.
const SHAKY_AFTER_S: f64 = 3.0;

/// The averaged rate must stay under this share of `gyro_abs_dps`: a slow
/// rep keeps its mean rate, a tremor does not.
const SHAKY_REST_RATE: f64 = 0.5;
/// The same while [`Stillness::set_lenient`] holds.
const LENIENT_REST_RATE: f64 = 1.0;
/// How far (°/s) rests shorter than the longest so far may move the gyro
/// bias from what that longest rest taught.
const BIAS_WANDER_DPS: f64 = 1.5;
/// A rest this long (s) re-anchors the bias even if an earlier one was
/// longer: nothing but the sensor at rest stays this still for so long.
const ANCHOR_REST_S: f64 = 10.0;
/// Unbroken rest needed before the bias counts as learned and `gyro_settled_dps` applies (s).
pub const BIAS_SETTLED_S: f64 = 1.5;
/// Weight of the old bias when a new still period starts (s of stillness it is worth).
const BIAS_PRIOR_S: f64 = 0.5;
/// The same once the bias has been learned from a long rest: a short still
/// moment inside a slow movement then moves it little.
const BIAS_PRIOR_SETTLED_S: f64 = 3.0;
/// Without rest for this long, a tight `gyro_settled_dps` (or the bias
/// anchor) may be shutting out a wrong bias: forget what was learned, fall
/// back to `gyro_abs_dps` and learn it again from the next long rest (s).
const UNSETTLE_S: f64 = 30.0;

/// Streaming orientation estimate.
#[derive(Debug, Clone)]
pub struct Attitude {
    q: UnitQuaternion<f64>,
    initialized: bool,
    prev_rate: Vector3<f64>,
    /// Integral gain of the bias correction (1/s², 0: off).
    ki: f64,
    /// Gain of the gravity correction while moving slowly (1/s).
    kp_slow: f64,
    /// The bias correction gravity has integrated (rad/s, added to the rate).
    integral: Vector3<f64>,
    /// Whether, while moving, a large disagreement with gravity is ignored.
    gate: bool,
    /// The disagreement with gravity over the last ~[`ERR_MEAN_S`] (the
    /// sine of the angle, as a rotation axis).
    err_mean: Vector3<f64>,
}

impl Default for Attitude {
    fn default() -> Self {
        Attitude::with_bias_gain(0.0)
    }
}

impl Attitude {
    /// An estimate that also corrects the gyro bias from gravity with
    /// integral gain `ki` (1/s², Mahony's filter; 0: proportional only).
    pub fn with_bias_gain(ki: f64) -> Self {
        Attitude::new(ki, false)
    }

    /// As [`Attitude::with_bias_gain`]; with `gate`, while moving, gravity
    /// more than 2° from the estimate is taken for acceleration and ignored
    /// (a pelvis swaying 10° each way: its turns read as tilt), unless the
    /// disagreement's mean over the last ~1 s is beyond 2° too: that is
    /// drift, and the estimate is pulled toward that mean.
    pub fn new(ki: f64, gate: bool) -> Self {
        Attitude {
            gate,
            kp_slow: KP_SLOW,
            q: UnitQuaternion::identity(),
            initialized: false,
            prev_rate: Vector3::zeros(),
            ki,
            integral: Vector3::zeros(),
            err_mean: Vector3::zeros(),
        }
    }

    /// Sets the gravity pull while moving slowly (1/s, [`KP_SLOW`] until set).
    pub fn set_kp_slow(&mut self, kp: f64) {
        self.kp_slow = kp;
    }

    /// The current orientation, body → world (world +Z up).
    pub fn orientation(&self) -> UnitQuaternion<f64> {
        self.q
    }

    /// True once the first usable sample has set the tilt.
    pub fn is_initialized(&self) -> bool {
        self.initialized
    }

    /// Forgets the orientation; the next sample re-initialises it from gravity.
    pub fn reset(&mut self) {
        self.initialized = false;
        self.err_mean = Vector3::zeros();
    }

    /// Advances by `dt` seconds with bias-corrected rate `rate_dps` (°/s) and
    /// specific force `acc` (m/s²). `still` selects the stronger gravity pull.
    pub fn update(&mut self, rate_dps: &Vector3<f64>, acc: &Vector3<f64>, dt: f64, still: bool) {
        self.update_normed(rate_dps, acc, acc.norm(), dt, still);
    }

    /// [`Attitude::update`] with `|acc|` already taken (the pipeline takes
    /// it once a step for every stage).
    pub fn update_normed(
        &mut self,
        rate_dps: &Vector3<f64>,
        acc: &Vector3<f64>,
        acc_norm: f64,
        dt: f64,
        still: bool,
    ) {
        let rate = rate_dps * (std::f64::consts::PI / 180.0);
        if !self.initialized {
            if acc_norm > 0.5 * STANDARD_GRAVITY && acc_norm < 1.5 * STANDARD_GRAVITY {
                self.q = UnitQuaternion::rotation_between(&(acc / acc_norm), &Vector3::z())
                    .unwrap_or_else(|| {
                        UnitQuaternion::from_axis_angle(&Vector3::x_axis(), std::f64::consts::PI)
                    });
                self.initialized = true;
                self.prev_rate = rate;
                self.err_mean = Vector3::zeros();
            }
            return;
        }
        // Trapezoidal rate over the step: right across short gaps too.
        let mut w = (rate + self.prev_rate) * 0.5;
        self.prev_rate = rate;
        let acc_ok = (acc_norm - STANDARD_GRAVITY).abs() < 0.05 * STANDARD_GRAVITY;
        let kp = if still {
            KP_STILL
        } else if acc_ok && rate_dps.norm_squared() < SLOW_RATE_DPS * SLOW_RATE_DPS {
            self.kp_slow
        } else {
            0.0
        };
        if kp <= 0.0 || acc_norm <= 1e-6 {
            // No word from gravity (turning fast, or accelerating): what
            // disagreement there was ages away.
            self.err_mean *= 1.0 - (dt / ERR_MEAN_S).min(1.0);
        }
        if kp > 0.0 && acc_norm > 1e-6 {
            let up_est = up_in_body(&self.q);
            let mut err = (acc * (1.0 / acc_norm)).cross(&up_est);
            self.err_mean += (err - self.err_mean) * (dt / ERR_MEAN_S).min(1.0);
            if self.gate && !still && err.norm_squared() > MAX_MOVING_ERR * MAX_MOVING_ERR {
                if self.err_mean.norm_squared() <= MAX_MOVING_ERR * MAX_MOVING_ERR {
                    // Moving, and gravity seems far from where the gyro
                    // says, but not for long: that is acceleration (the
                    // turn of a sway), not drift.
                    self.integrate(w, dt);
                    return;
                }
                // Far off for a second and more: the estimate has drifted
                // (a bias never learned, the lifter never still); the
                // sway's accelerations average out of the mean.
                err = self.err_mean;
            }
            // At most half the error per step (a long gap, a high gain).
            w += err * if kp * dt > 0.5 { 0.5 / dt } else { kp };
            if self.ki > 0.0 {
                self.integral += err * (self.ki * dt);
                let n2 = self.integral.norm_squared();
                if n2 > MAX_BIAS_CORRECTION * MAX_BIAS_CORRECTION {
                    self.integral *= MAX_BIAS_CORRECTION / n2.sqrt();
                }
            }
        }
        self.integrate(w, dt);
    }

    /// At rest with the tilt more than [`SNAP_DEG`] from gravity `acc`:
    /// turns the estimate by the least rotation that puts its up on
    /// gravity (its heading kept as far as a tilt allows) and returns true.
    /// The caller drops whatever was measured from the old estimate.
    pub fn snap_to_gravity(&mut self, acc: &Vector3<f64>) -> bool {
        let n = acc.norm();
        if !self.initialized || n <= 1e-6 {
            return false;
        }
        let a = acc / n;
        let up = up_in_body(&self.q);
        if a.dot(&up) >= SNAP_DEG.to_radians().cos() {
            return false;
        }
        // q' = q·R with R⁻¹·up = a: then up_in_body(q') = a.
        let Some(r) = UnitQuaternion::rotation_between(&a, &up) else {
            return false;
        };
        self.q *= r;
        self.err_mean = Vector3::zeros();
        true
    }

    /// Turns the estimate by the corrected rate `w` (rad/s) over `dt`.
    fn integrate(&mut self, mut w: Vector3<f64>, dt: f64) {
        if self.ki > 0.0 {
            w += self.integral;
        }
        let half = w * (0.5 * dt);
        let angle2 = half.norm_squared();
        let dq = if angle2 < 1e-4 {
            // Small step: first order; the product is normalised below, so
            // this one need not be (no trig, no square root on the hot path).
            Quaternion::new(1.0, half.x, half.y, half.z)
        } else {
            UnitQuaternion::from_scaled_axis(w * dt).into_inner()
        };
        let p = self.q.into_inner() * dq;
        // |p| is within 1e-4 of 1 on the small-step path: one Newton step
        // (no square root) normalises it to ~1e-8, and every step repeats it.
        let n2 = p.norm_squared();
        self.q = if angle2 < 1e-4 && (n2 - 1.0).abs() < 1e-3 {
            UnitQuaternion::new_unchecked(p * (1.5 - 0.5 * n2))
        } else {
            UnitQuaternion::new_normalize(p)
        };
    }
}

/// Decides when the sensor is at rest, and learns the gyro bias there.
#[derive(Debug, Clone)]
pub struct Stillness {
    cfg: StillConfig,
    acc_mean: Vector3<f64>,
    bias: Vector3<f64>,
    raw_since: Option<f64>,
    still_time: f64,
    /// The longest unbroken rest since the bias was last learned afresh (s),
    /// for [`BIAS_SETTLED_S`].
    learned_s: f64,
    /// Whether any rest has taught the bias yet.
    taught: bool,
    /// The bias the longest unbroken rest so far taught (once it lasted
    /// [`BIAS_SETTLED_S`]): shorter rests move the bias at most
    /// [`BIAS_WANDER_DPS`] from it.
    anchor: Option<Vector3<f64>>,
    /// Mean gyro over the last ~0.25 s (°/s): while the bias is unknown, a
    /// rate that keeps changing is a slow movement, not a bias.
    gyr_mean: Vector3<f64>,
    /// Time since the sensor was last still (s).
    unstill_s: f64,
    initialized: bool,
    /// The gyro and accelerometer averaged over ~[`SHAKY_REST_TAU_S`].
    gyr_lp: Vector3<f64>,
    acc_lp: Vector3<f64>,
    /// See [`Stillness::shaky`].
    shaky: bool,
    /// See [`Stillness::set_lenient`].
    lenient: bool,
    /// How long since the sensor last rested steady without averaging (s).
    unsteady_s: f64,
    /// How long it has been steady without averaging (s).
    steady_s: f64,
}

impl Stillness {
    /// A detector with no history.
    pub fn new(cfg: StillConfig) -> Self {
        Stillness {
            cfg,
            acc_mean: Vector3::zeros(),
            bias: Vector3::zeros(),
            raw_since: None,
            still_time: 0.0,
            learned_s: 0.0,
            taught: false,
            anchor: None,
            unstill_s: 0.0,
            gyr_mean: Vector3::zeros(),
            initialized: false,
            gyr_lp: Vector3::zeros(),
            acc_lp: Vector3::zeros(),
            shaky: false,
            lenient: false,
            // No steady rest seen yet: a recording that opens shaking.
            unsteady_s: f64::INFINITY,
            steady_s: 0.0,
        }
    }

    /// While set, a rest may be judged on the averaged reading even once the
    /// bias is settled, against [`LENIENT_REST_RATE`] of the rate: the
    /// caller has nothing to measure from (no neutral) and a leg that never
    /// quite stops would otherwise never be counted.
    pub fn set_lenient(&mut self, lenient: bool) {
        self.lenient = lenient;
    }

    /// Whether the bias has been learned from one unbroken rest of
    /// [`BIAS_SETTLED_S`] (and the sensor has rested since, within [`UNSETTLE_S`]).
    pub fn settled(&self) -> bool {
        self.learned_s >= BIAS_SETTLED_S
    }

    /// Whether the sensor last rested on the reading averaged over
    /// [`SHAKY_REST_TAU_S`] (a tremor, a wobbling strap) after no steady
    /// rest for [`SHAKY_AFTER_S`], and has not rested steady since: a rest
    /// to take a neutral from, but a shaky one.
    pub fn shaky(&self) -> bool {
        self.shaky
    }

    /// The gyro bias learned so far (°/s).
    pub fn bias(&self) -> Vector3<f64> {
        self.bias
    }

    /// Forgets whether the sensor was still (after a gap in the data).
    pub fn interrupt(&mut self) {
        self.raw_since = None;
        self.initialized = false;
    }

    /// Feeds one sample taken `dt` s after the previous one; returns whether
    /// the sensor has been still for at least `min_s`.
    pub fn update(&mut self, t: f64, acc: &Vector3<f64>, gyr: &Vector3<f64>, dt: f64) -> bool {
        self.update_normed(t, acc, acc.norm(), gyr, dt)
    }

    /// [`Stillness::update`] with `|acc|` already taken.
    pub fn update_normed(
        &mut self,
        t: f64,
        acc: &Vector3<f64>,
        acc_norm: f64,
        gyr: &Vector3<f64>,
        dt: f64,
    ) -> bool {
        if !self.initialized {
            self.acc_mean = *acc;
            self.gyr_mean = *gyr;
            self.gyr_lp = *gyr;
            self.acc_lp = *acc;
            self.initialized = true;
        } else {
            let k = (dt * (1.0 / SHAKY_REST_TAU_S)).min(1.0);
            self.gyr_lp += (gyr - self.gyr_lp) * k;
            self.acc_lp += (acc - self.acc_lp) * k;
            let k = (dt * (1.0 / STILL_TAU_S)).min(1.0);
            self.acc_mean += (acc - self.acc_mean) * k;
            if self.cfg.gyro_settled_dps > 0.0 {
                self.gyr_mean += (gyr - self.gyr_mean) * k;
            }
        }
        let c = &self.cfg;
        let settled = c.gyro_settled_dps > 0.0 && self.settled();
        let gyro_max = if settled {
            c.gyro_settled_dps
        } else {
            c.gyro_abs_dps
        };
        let steady = (gyr - self.bias).norm_squared() < gyro_max * gyro_max
            && (acc - self.acc_mean).norm_squared() < c.acc_dev_mps2 * c.acc_dev_mps2
            && (acc_norm - STANDARD_GRAVITY).abs() < c.acc_dev_mps2;
        // Until the bias is settled, a sensor shaken by a tremor or a
        // loose strap's wobble (±10 °/s and ±2 m/s² at 8-12 Hz on a leg at
        // rest) would never rest, and nothing would be counted: a rest is
        // then also judged on the reading averaged over ~0.1 s, against
        // half the rate (a slow rep keeps its mean rate; a tremor averages
        // away).
        self.steady_s = if steady { self.steady_s + dt } else { 0.0 };
        self.unsteady_s = if self.steady_s >= c.min_s {
            0.0
        } else {
            self.unsteady_s + dt
        };
        let shaky_rate = if self.lenient {
            LENIENT_REST_RATE
        } else {
            SHAKY_REST_RATE
        };
        let averaged = !steady
            && (!self.settled() || self.lenient)
            && (self.gyr_lp - self.bias).norm_squared()
                < gyro_max * gyro_max * (shaky_rate * shaky_rate)
            && (self.acc_lp - self.acc_mean).norm_squared() < c.acc_dev_mps2 * c.acc_dev_mps2
            && (self.acc_lp.norm() - STANDARD_GRAVITY).abs() < c.acc_dev_mps2;
        // Shaky from an averaged rest with no steady one for a while, until
        // the sensor rests steady again (a tremor lets single samples pass).
        self.shaky = if self.steady_s >= c.min_s {
            false
        } else {
            self.shaky || (averaged && self.unsteady_s > SHAKY_AFTER_S)
        };
        // Until the bias is learned, a rate that changes is a slow turn, not
        // rest: judged on the averaged rate when the rest is (a wobbling
        // strap's sample-to-sample ±3 °/s is no turn).
        let rate_now = if averaged { self.gyr_lp } else { *gyr };
        let raw = (steady || averaged)
            && (settled
                || c.gyro_settled_dps <= 0.0
                || (rate_now - self.gyr_mean).norm_squared()
                    < c.gyro_settled_dps * c.gyro_settled_dps * 0.25);
        let since = if raw {
            *self.raw_since.get_or_insert_with(|| {
                self.still_time = 0.0;
                t
            })
        } else {
            self.raw_since = None;
            t
        };
        if !raw || t - since < c.min_s {
            self.unstill_s += dt;
            if self.unstill_s > UNSETTLE_S {
                // No rest for this long: the bias may have been learned
                // wrong (or drifted) and be shutting rest out; learn it again.
                self.learned_s = 0.0;
                self.anchor = None;
            }
            return false;
        }
        self.unstill_s = 0.0;
        // Running mean of this still period, starting from the old bias.
        self.still_time += dt;
        if self.still_time >= BIAS_SETTLED_S {
            self.learned_s = self.learned_s.max(self.still_time);
        }
        let (learning_s, prior) = if settled {
            // Once known, the bias moves only on long rests: a pause inside a
            // set is seldom still enough (sway, a slow lean) to teach it.
            (self.still_time - BIAS_SETTLED_S, BIAS_PRIOR_SETTLED_S)
        } else if c.bias_memory_s > 0.0 && self.settled() {
            // Learned once from a long rest: a short rest between reps,
            // where a lifter on one leg sways at 2-6 °/s, moves it only by
            // its share of this much rest.
            (self.still_time, c.bias_memory_s)
        } else {
            // The first rest owes nothing to the zero the bias started at.
            (
                self.still_time,
                if self.taught { BIAS_PRIOR_S } else { 0.0 },
            )
        };
        if learning_s < 0.0 {
            return true;
        }
        let a = (dt / (learning_s + prior).max(dt)).min(1.0);
        // A rest judged on the averaged reading teaches the bias from it
        // too: one sample of a tremor is not the bias.
        let learn_from = if steady { *gyr } else { self.gyr_lp };
        self.bias += (learn_from - self.bias) * a;
        self.taught = true;
        if self.learned_s >= BIAS_SETTLED_S && self.still_time >= self.learned_s.min(ANCHOR_REST_S)
        {
            // The longest rest so far, or one long enough to trust (a bias
            // that drifts as the sensor warms is followed rest by rest):
            // the best word on the bias.
            self.anchor = Some(self.bias);
        } else if let Some(anchor) = self.anchor {
            // A shorter "rest" that would move the bias far from it was a
            // slow steady turn (lying down, a slow rep about the vertical):
            // a gyro's bias wanders by a fraction of a degree per second,
            // and a bias learned from movement would lock itself in, every
            // later rest then reading as a turn.
            let d = self.bias - anchor;
            let n = d.norm();
            if n > BIAS_WANDER_DPS {
                self.bias = anchor + d * (BIAS_WANDER_DPS / n);
            }
        }
        true
    }
}

/// How far orientation `q` (body → world, world +Z up) is rolled about the
/// body Z axis, from where gravity points in the body's XY plane: degrees in
/// (−180, 180], positive when the body's +X rises. Heading does not enter.
pub fn roll_z_deg(q: &UnitQuaternion<f64>) -> f64 {
    let up = up_in_body(q);
    // Rolling by +θ about Z turns gravity in the body by −θ.
    -atan2(up.y, up.x).to_degrees()
}

/// World up (+Z) seen in the body: `q.inverse_transform_vector(&Vector3::z())`,
/// written out (the third row of the rotation matrix).
#[inline]
pub fn up_in_body(q: &UnitQuaternion<f64>) -> Vector3<f64> {
    let (w, x, y, z) = (q.w, q.i, q.j, q.k);
    Vector3::new(
        2.0 * (x * z - w * y),
        2.0 * (y * z + w * x),
        1.0 - 2.0 * (x * x + y * y),
    )
}

/// `y.atan2(x)` to within 6e-9 rad (3e-7°), inlined: the pipeline takes one
/// per sample, and libm's was a seventh of its time.
#[inline]
pub fn atan2(y: f64, x: f64) -> f64 {
    use std::f64::consts::{FRAC_PI_2, PI};
    // Least-squares minimax fit of atan on [0, 1] in odd powers.
    const C: [f64; 9] = [
        0.999_999_886_404_144_5,
        -0.333_325_970_832_794_64,
        0.199_859_072_086_831_68,
        -0.141_612_306_580_242_2,
        0.104_989_478_280_240_45,
        -0.072_348_561_464_423_28,
        0.039_781_171_166_768_41,
        -0.014_401_309_287_296_271,
        0.002_456_709_377_878_716,
    ];
    let (ax, ay) = (x.abs(), y.abs());
    if !(ax > 0.0 || ay > 0.0) {
        // Zero, or a NaN: as libm does.
        return y.atan2(x);
    }
    let swap = ay > ax;
    let z = if swap { ax / ay } else { ay / ax };
    if !z.is_finite() {
        return y.atan2(x);
    }
    // Estrin's scheme: four short chains instead of one long one.
    let u = z * z;
    let u2 = u * u;
    let u4 = u2 * u2;
    let p01 = C[0] + C[1] * u;
    let p23 = C[2] + C[3] * u;
    let p45 = C[4] + C[5] * u;
    let p67 = C[6] + C[7] * u;
    let p = (p01 + u2 * p23) + u4 * ((p45 + u2 * p67) + u4 * C[8]);
    let mut a = p * z;
    if swap {
        a = FRAC_PI_2 - a;
    }
    if x < 0.0 {
        a = PI - a;
    }
    if y < 0.0 {
        -a
    } else {
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;

    #[test]
    fn a_tilt_far_from_gravity_at_rest_snaps_to_it_and_a_near_one_does_not() {
        let mut a = Attitude::default();
        let g = Vector3::new(0.0, 0.0, STANDARD_GRAVITY);
        // Started from a sample 30° off (a jog's sideways push).
        let pushed = UnitQuaternion::from_axis_angle(&Vector3::x_axis(), 0.52) * g;
        a.update(&Vector3::zeros(), &pushed, 0.02, false);
        assert!(a.is_initialized());
        assert!(a.snap_to_gravity(&g));
        assert_abs_diff_eq!(up_in_body(&a.orientation()), Vector3::z(), epsilon = 1e-9);
        // Within SNAP_DEG the gravity pull is left to do it.
        let near = UnitQuaternion::from_axis_angle(&Vector3::y_axis(), 0.1) * g;
        assert!(!a.snap_to_gravity(&near));
    }

    #[test]
    fn up_in_body_is_the_inverse_rotation_of_up() {
        for (i, axis) in [Vector3::x(), Vector3::y(), Vector3::new(0.3, -0.5, 0.8)]
            .into_iter()
            .enumerate()
        {
            let q = UnitQuaternion::from_scaled_axis(axis * (0.4 + i as f64));
            let want = q.inverse_transform_vector(&Vector3::z());
            assert_abs_diff_eq!(up_in_body(&q), want, epsilon = 1e-12);
        }
    }

    #[test]
    fn fast_atan2_agrees_with_libm() {
        let mut worst: f64 = 0.0;
        for i in 0..20_000 {
            let a = i as f64 * 0.000_314_159_3 * 2.0 - std::f64::consts::PI;
            for r in [1e-9, 0.3, 1.0, 7.0, 1e6] {
                let (y, x) = (r * a.sin(), r * a.cos());
                worst = worst.max((atan2(y, x) - y.atan2(x)).abs());
            }
        }
        assert!(worst < 1e-8, "off by {worst} rad");
        for (y, x) in [
            (0.0, 0.0),
            (0.0, -1.0),
            (1.0, 0.0),
            (-1.0, 0.0),
            (f64::INFINITY, 1.0),
        ] {
            assert_abs_diff_eq!(atan2(y, x), y.atan2(x), epsilon = 1e-8);
        }
        assert!(atan2(f64::NAN, 1.0).is_nan());
    }

    #[test]
    fn gravity_pulls_a_wrong_tilt_back() {
        let mut a = Attitude::default();
        let up = Vector3::new(0.0, 0.0, STANDARD_GRAVITY);
        a.update(&Vector3::zeros(), &up, 0.01, true);
        // Knock the estimate 20° off about x, then feed the true (level) gravity.
        a.q = UnitQuaternion::from_axis_angle(&Vector3::x_axis(), 20f64.to_radians());
        for _ in 0..500 {
            a.update(&Vector3::zeros(), &up, 0.01, true);
        }
        let tilt =
            a.q.transform_vector(&Vector3::z())
                .angle(&Vector3::z())
                .to_degrees();
        assert!(tilt < 0.5, "tilt left {tilt}");
    }

    #[test]
    fn a_pelvis_never_still_does_not_drift_away_on_an_unlearned_bias() {
        // A lifter on one leg sways and never rests, so the gyro bias is
        // never learned: 2 °/s about the roll axis for a minute. The sway's
        // accelerations (0.5 m/s², 1.3 Hz, sideways) put gravity up to 2.9°
        // off, which the gated estimate ignores as acceleration once the
        // error passes 2°; the disagreement that lasts is drift and is
        // pulled back, where it used to grow by 2° a second.
        let mut a = Attitude::new(0.1, true);
        let rate = 100.0;
        let mut truth_roll = 0.0f64;
        for i in 0..(60.0 * rate) as usize {
            let t = i as f64 / rate;
            // The true pelvis rolls ±1° with the sway.
            let roll_rate = 1.0
                * 2.0
                * std::f64::consts::PI
                * 1.3
                * (2.0 * std::f64::consts::PI * 1.3 * t).cos();
            truth_roll += roll_rate / rate;
            let q = UnitQuaternion::from_axis_angle(&Vector3::x_axis(), truth_roll.to_radians());
            let sway = Vector3::new(0.0, 0.5 * (2.0 * std::f64::consts::PI * 1.3 * t).sin(), 0.0);
            let acc =
                q.inverse_transform_vector(&(Vector3::new(0.0, 0.0, STANDARD_GRAVITY) + sway));
            a.update(
                &Vector3::new(roll_rate + 2.0, 0.0, 0.0),
                &acc,
                1.0 / rate,
                false,
            );
        }
        let q = UnitQuaternion::from_axis_angle(&Vector3::x_axis(), truth_roll.to_radians());
        let err = a.orientation().angle_to(&q).to_degrees();
        assert!(err < 4.0, "the estimate drifted {err}° off");
    }

    #[test]
    fn integrates_a_turn() {
        let mut a = Attitude::default();
        let up = Vector3::new(0.0, 0.0, STANDARD_GRAVITY);
        a.update(&Vector3::zeros(), &up, 0.01, false);
        // 90 °/s about z for one second: a quarter turn of heading.
        for _ in 0..100 {
            a.update(&Vector3::new(0.0, 0.0, 90.0), &up, 0.01, false);
        }
        // The first step averages with the previous (zero) rate.
        let axis = a.q.axis().expect("turned");
        assert_abs_diff_eq!(axis.z, 1.0, epsilon = 1e-6);
        assert_abs_diff_eq!(a.q.angle().to_degrees(), 90.0 - 0.45, epsilon = 0.2);
    }

    #[test]
    fn learns_bias_while_still() {
        let cfg = StillConfig {
            gyro_abs_dps: 8.0,
            acc_dev_mps2: 0.6,
            min_s: 0.1,
            gyro_settled_dps: 0.0,
            bias_ki: 0.0,
            bias_memory_s: 0.0,
            tilt_gain: 0.0,
            lenient_after_s: 0.0,
        };
        let mut s = Stillness::new(cfg);
        let acc = Vector3::new(0.0, 0.0, STANDARD_GRAVITY);
        let gyr = Vector3::new(1.5, -2.0, 0.5);
        let mut still = false;
        for i in 0..2000 {
            still = s.update(i as f64 * 0.01, &acc, &gyr, 0.01);
        }
        assert!(still);
        // A running mean that started from a 0.5 s prior at zero.
        assert_abs_diff_eq!(s.bias().x, 1.5, epsilon = 0.06);
        assert_abs_diff_eq!(s.bias().y, -2.0, epsilon = 0.06);
        // A fast rotation is not still.
        assert!(!s.update(20.01, &acc, &Vector3::new(50.0, 0.0, 0.0), 0.01));
    }

    #[test]
    fn roll_about_z_ignores_heading() {
        // A pelvis sensor (X right, Y up, Z back) rolled 5° about its Z axis,
        // seen at many headings and after turning round: always 5°.
        let mount =
            UnitQuaternion::from_axis_angle(&Vector3::x_axis(), std::f64::consts::FRAC_PI_2);
        let roll = UnitQuaternion::from_axis_angle(&Vector3::z_axis(), 5f64.to_radians());
        for heading in [0.0, 37.0, 90.0, 180.0, 275.0] {
            let yaw = UnitQuaternion::from_axis_angle(&Vector3::z_axis(), f64::to_radians(heading));
            let neutral = yaw * mount;
            let rolled = yaw * mount * roll;
            assert_abs_diff_eq!(
                roll_z_deg(&rolled) - roll_z_deg(&neutral),
                5.0,
                // The fast atan2 is good to 3e-7°.
                epsilon = 1e-6
            );
        }
    }

    #[test]
    fn a_known_bias_shuts_out_a_slow_turn_and_a_short_pause_does_not_teach_it() {
        let cfg = StillConfig {
            gyro_abs_dps: 5.0,
            acc_dev_mps2: 0.4,
            min_s: 0.3,
            gyro_settled_dps: 1.5,
            bias_ki: 0.0,
            bias_memory_s: 0.0,
            tilt_gain: 0.0,
            lenient_after_s: 0.0,
        };
        let mut s = Stillness::new(cfg);
        let acc = Vector3::new(0.0, 0.0, STANDARD_GRAVITY);
        let bias = Vector3::new(1.0, -0.5, 0.8);
        let mut t = 0.0;
        for _ in 0..300 {
            t += 0.01;
            s.update(t, &acc, &bias, 0.01);
        }
        assert!(s.settled());
        assert_abs_diff_eq!(s.bias().x, 1.0, epsilon = 0.05);
        // A slow 3 °/s turn passed for rest while the bias was unknown; not now.
        assert!(!s.update(t + 0.01, &acc, &(bias + Vector3::new(0.0, 0.0, 3.0)), 0.01));
        // Half a second of a steady 1 °/s drift (under the tight threshold)
        // leaves the bias where the long rest put it.
        let learned = s.bias();
        for i in 0..50 {
            s.update(
                t + 0.02 + i as f64 * 0.01,
                &acc,
                &(bias + Vector3::new(0.0, 0.0, 1.0)),
                0.01,
            );
        }
        assert_abs_diff_eq!(s.bias().z, learned.z, epsilon = 1e-12);
    }

    #[test]
    fn a_leg_shaking_with_a_tremor_still_rests_but_shakily_and_a_slow_turn_does_not() {
        // A leg at rest with a 10 Hz tremor (±12 °/s, ±2 m/s²) is never
        // steady sample by sample; averaged over 0.1 s it is at rest. A
        // steady 7 °/s turn with the same tremor is not.
        let run = |turn_dps: f64| {
            let mut s = Stillness::new(ankle_still(2.0));
            let (mut rested, mut shaky) = (false, false);
            for i in 0..1000 {
                let t = i as f64 * 0.01;
                let w = (2.0 * std::f64::consts::PI * 10.0 * t).sin();
                let acc = Vector3::new(2.0 * w, 0.0, STANDARD_GRAVITY);
                let gyr = Vector3::new(12.0 * w, 0.0, turn_dps);
                rested |= s.update(t, &acc, &gyr, 0.01);
                shaky |= s.shaky();
            }
            (rested, shaky)
        };
        assert_eq!(run(0.0), (true, true));
        assert_eq!(run(7.0), (false, false));
        // Without the tremor the rest is steady, not shaky.
        let mut s = Stillness::new(ankle_still(2.0));
        let acc = Vector3::new(0.0, 0.0, STANDARD_GRAVITY);
        let rested = (0..100).map(|i| s.update(i as f64 * 0.01, &acc, &Vector3::zeros(), 0.01));
        assert!(rested.last().unwrap() && !s.shaky());
    }

    #[test]
    fn a_wobbling_leg_with_nothing_to_measure_from_rests_only_when_lenient() {
        // Once the bias is settled a leg wobbling on soft tissue (±2 m/s²
        // at 10 Hz) and wandering 5 °/s (over half the 8 °/s still rate,
        // under all of it) no longer rests on the averaged reading; lenient,
        // it does. A 10 °/s turn is not rest either way.
        let run = |lenient: bool, wander_dps: f64| {
            let mut s = Stillness::new(ankle_still(2.0));
            let acc = Vector3::new(0.0, 0.0, STANDARD_GRAVITY);
            let mut t = 0.0;
            for _ in 0..300 {
                t += 0.01;
                s.update(t, &acc, &Vector3::zeros(), 0.01);
            }
            assert!(s.settled());
            s.set_lenient(lenient);
            let mut rested = false;
            for i in 0..200 {
                t += 0.01;
                let w = (2.0 * std::f64::consts::PI * 10.0 * i as f64 * 0.01).sin();
                let acc = Vector3::new(2.0 * w, 0.0, STANDARD_GRAVITY);
                let gyr = Vector3::new(12.0 * w, 0.0, wander_dps);
                let still = s.update(t, &acc, &gyr, 0.01);
                // The averaged reading takes ~0.3 s to forget the rest before.
                rested |= still && i >= 50;
            }
            rested
        };
        assert!(!run(false, 5.0));
        assert!(run(true, 5.0));
        assert!(!run(true, 10.0));
    }

    #[test]
    fn a_wobbling_seated_leg_rests_before_the_bias_is_learned() {
        // The seated ankle's rest (`gyro_settled_dps` 4.5): a leg on soft
        // tissue jittering ±2 m/s² and ±3 °/s about a 1 °/s bias from one
        // sample to the next is never steady sample by sample, and its rate
        // jumps more than half of 4.5 °/s from one sample to the next. On
        // the averaged reading it rests; turning at 6 °/s it does not.
        let run = |turn_dps: f64| {
            let mut s = Stillness::new(StillConfig {
                gyro_settled_dps: 4.5,
                bias_memory_s: 0.0,
                ..ankle_still(0.0)
            });
            let mut rested = false;
            for i in 0..150 {
                let t = i as f64 * 0.01;
                let w = if i % 2 == 0 { 1.0 } else { -1.0 };
                let jitter = 3.0 * w;
                let acc = Vector3::new(2.0 * w, 0.0, STANDARD_GRAVITY);
                let gyr = Vector3::new(1.0 + jitter, 0.0, turn_dps);
                rested |= s.update(t, &acc, &gyr, 0.01) && i >= 30;
            }
            rested
        };
        assert!(run(0.0));
        assert!(!run(6.0));
    }

    /// The ankle profiles' rest, with `bias_memory_s` = `memory_s`.
    fn ankle_still(memory_s: f64) -> StillConfig {
        StillConfig {
            gyro_abs_dps: 8.0,
            acc_dev_mps2: 0.6,
            min_s: 0.12,
            gyro_settled_dps: 0.0,
            bias_ki: 0.0,
            bias_memory_s: memory_s,
            tilt_gain: 0.0,
            lenient_after_s: 0.0,
        }
    }

    /// A turn about the vertical that starts slowly and speeds up passes for rest (the
    /// accelerometer does not see it) until it runs `gyro_abs_dps` ahead of
    /// the bias. A bias that followed it would then be so far off that no
    /// rest would be still again to correct it: rests shorter than the
    /// longest so far (and than [`ANCHOR_REST_S`]) move it at most
    /// [`BIAS_WANDER_DPS`]. A turn that passes for rest longer than that
    /// still teaches it.
    #[test]
    fn a_slow_turn_passed_for_rest_moves_the_bias_only_so_far() {
        let mut s = Stillness::new(ankle_still(2.0));
        let acc = Vector3::new(0.0, 0.0, STANDARD_GRAVITY);
        let bias = Vector3::new(1.0, -0.5, 0.8);
        let mut t = 0.0;
        let mut step = |s: &mut Stillness, rate: f64| {
            t += 0.01;
            s.update(t, &acc, &(bias + Vector3::new(0.0, 0.0, rate)), 0.01)
        };
        for _ in 0..500 {
            step(&mut s, 0.0);
        }
        // A quick movement (not rest), then a turn from 4 °/s speeding up
        // to 30 °/s over 13 s: from its start it passes for rest.
        for _ in 0..30 {
            step(&mut s, 50.0);
        }
        for i in 0..1400 {
            step(&mut s, (4.0 + i as f64 * 0.02).min(30.0));
        }
        assert!(
            (s.bias() - bias).norm() <= BIAS_WANDER_DPS + 1e-9,
            "{}",
            s.bias()
        );
        // Standing still again is rest again.
        let still = (0..100).map(|_| step(&mut s, 0.0)).last().unwrap();
        assert!(still);
    }

    /// An ankle profile's `bias_memory_s`: once a long rest has taught the
    /// bias, a short rest between reps while the lifter sways on one leg
    /// (2-6 °/s, under `gyro_abs_dps`) moves it by its share of that much
    /// rest, not by half of the sway.
    #[test]
    fn a_short_rest_in_sway_moves_a_learned_bias_little() {
        let moved = |memory_s: f64| {
            let mut s = Stillness::new(ankle_still(memory_s));
            let acc = Vector3::new(0.0, 0.0, STANDARD_GRAVITY);
            let bias = Vector3::new(0.5, -0.3, 0.2);
            let mut t = 0.0;
            for _ in 0..200 {
                t += 0.01;
                s.update(t, &acc, &bias, 0.01);
            }
            assert!(s.settled());
            // A rep (not still), then 0.4 s of rest swaying at +4 °/s.
            for _ in 0..50 {
                t += 0.01;
                s.update(t, &acc, &(bias + Vector3::new(0.0, 0.0, 60.0)), 0.01);
            }
            for _ in 0..40 {
                t += 0.01;
                s.update(t, &acc, &(bias + Vector3::new(0.0, 0.0, 4.0)), 0.01);
            }
            (s.bias() - bias).norm()
        };
        let (short, long) = (moved(0.0), moved(2.0));
        assert!(short > 1.0, "the 0.5 s prior learns sway: {short}");
        assert!(long < 0.6, "2 s of memory: {long}");
    }
}
