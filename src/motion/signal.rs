//! Stage 3: the counted signal, one type per placement, each owning its own
//! state; and the neutral both are measured from.
//!
//! - [`Neutral`]: the orientation at the last rest before a rep, taken from
//!   [`NEUTRAL_DELAY_S`] before the rest was confirmed so the first instant of
//!   a rep never leaks into it.
//! - [`RotationSignal`] (ankle): the total rotation from the neutral, whatever
//!   way the sensor is strapped.
//! - [`ObliquitySignal`] (pelvis): the roll of the pelvis about its
//!   front-back axis since the neutral, free side up positive, less a slowly
//!   following resting level.

use super::attitude::{self, roll_z_deg};
use super::profile::{RepConfig, RepDirection};
use nalgebra::{UnitQuaternion, Vector3, Vector4};
use std::collections::VecDeque;

/// The neutral is taken from the orientation this long before the rest was
/// confirmed, so the first instant of a rep never leaks into it (s).
pub const NEUTRAL_DELAY_S: f64 = 0.15;

/// What the counted signal reads at one step.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    /// The counted signal (°): what the rep detector sees.
    pub signal: f64,
    /// Ankle: rotation from neutral; pelvis: obliquity from neutral (°).
    pub angle: f64,
    /// Ankle: the rotation vector from neutral (°); pelvis: zero.
    pub rotation: Vector3<f64>,
}

/// The orientation reps are measured from.
#[derive(Debug, Clone, Default)]
pub struct Neutral {
    /// Recent orientations, oldest first, back to [`NEUTRAL_DELAY_S`].
    history: VecDeque<(f64, UnitQuaternion<f64>)>,
    /// The inverse of the neutral orientation, once there is one.
    inv: Option<UnitQuaternion<f64>>,
}

impl Neutral {
    /// Remembers the orientation at `t`.
    pub fn record(&mut self, t: f64, q: UnitQuaternion<f64>) {
        self.history.push_back((t, q));
        while self.history.len() > 1 && self.history[1].0 <= t - NEUTRAL_DELAY_S {
            self.history.pop_front();
        }
    }

    /// The inverse of the neutral orientation, if any.
    pub fn inv(&self) -> Option<UnitQuaternion<f64>> {
        self.inv
    }

    /// Takes the neutral from [`NEUTRAL_DELAY_S`] ago (a rest was just confirmed).
    pub fn take_delayed(&mut self) {
        if let Some(&(_, q)) = self.history.front() {
            self.inv = Some(q.inverse());
        }
    }

    /// Takes `q` as the neutral at once.
    pub fn take_now(&mut self, q: UnitQuaternion<f64>) {
        self.inv = Some(q.inverse());
    }

    /// Drops the neutral (it is stale); the history stays.
    pub fn forget(&mut self) {
        self.inv = None;
    }

    /// Drops the neutral and the history (the track broke).
    pub fn clear(&mut self) {
        self.history.clear();
        self.inv = None;
    }
}

/// Ankle: the total rotation of the sensor from its neutral.
#[derive(Debug, Clone)]
pub struct RotationSignal {
    max_peak_deg: f64,
}

/// The sensor turned further from the neutral than any rep does (°).
#[derive(Debug, Clone, Copy)]
pub struct TooFar(pub f64);

impl RotationSignal {
    /// Reads `rel` (neutral⁻¹ × orientation). Beyond `max_peak_deg` the
    /// rotation is off the plane of the set (turning round, re-strapping).
    #[inline]
    pub fn read(&self, rel: &UnitQuaternion<f64>) -> Result<Reading, TooFar> {
        // Rotation vector in degrees with one square root and one atan2
        // (nalgebra's scaled_axis normalises and takes acos).
        let (w, v) = (rel.scalar(), rel.imag());
        let (w, v) = if w < 0.0 { (-w, -v) } else { (w, v) };
        let s_half = v.norm();
        let angle = 2.0 * attitude::atan2(s_half, w).to_degrees();
        if angle > self.max_peak_deg {
            return Err(TooFar(angle));
        }
        let rotation = if s_half > 1e-12 {
            // 1/|v| is taken beside the atan2, not after it.
            v * (angle * (1.0 / s_half))
        } else {
            Vector3::zeros()
        };
        Ok(Reading {
            signal: angle,
            angle,
            rotation,
        })
    }
}

/// Pelvis: obliquity from the neutral less its resting level.
#[derive(Debug, Clone)]
pub struct ObliquitySignal {
    /// +1 when the free side rising rolls the sensor positive.
    free_sign: f64,
    enter_deg: f64,
    baseline_tau_s: f64,
    /// `reps.level_gate`.
    level_gate: f64,
    /// `reps.off_level_s`.
    off_level_limit_s: f64,
    baseline_rep_tau_s: f64,
    direction: RepDirection,
    /// The resting level (°).
    level: f64,
    /// Re-take the level from the next idle step.
    rebase: bool,
    /// How long the pelvis has rested away from the level (s).
    off_level_s: f64,
    /// The neutral's frame, kept with the neutral it belongs to.
    neutral_roll: Option<(Vector4<f64>, PelvisFrame)>,
}

/// Where the pelvis' front-back axis and up lie in the sensor at the neutral.
#[derive(Debug, Clone, Copy)]
struct PelvisFrame {
    /// World up in the sensor at the neutral.
    up: Vector3<f64>,
    /// How obliquity is read from this neutral.
    about: About,
}

/// The axis a [`PelvisFrame`] reads obliquity about.
#[derive(Debug, Clone, Copy)]
enum About {
    /// front × up, where front is the sensor's Z laid level: the
    /// front-back axis obliquity turns about.
    Side(Vector3<f64>),
    /// Z stands within ~12° of the vertical and has no level direction:
    /// the roll about Z is read as it is, from [`roll_z_deg`] at the neutral.
    Z(f64),
}

impl PelvisFrame {
    fn at(neutral: &UnitQuaternion<f64>) -> Self {
        let up = attitude::up_in_body(neutral);
        let level = Vector3::z() - up * up.z;
        let norm = level.norm();
        PelvisFrame {
            up,
            // The neutral's roll is only taken when it is needed: the frame
            // is re-made at every resting step.
            about: if norm > 0.2 {
                About::Side((level * (1.0 / norm)).cross(&up))
            } else {
                About::Z(roll_z_deg(neutral))
            },
        }
    }

    /// The roll since the neutral about the front-back axis (°, in
    /// (−180, 180]), positive the way [`roll_z_deg`] is.
    #[inline]
    fn roll_deg(&self, q: &UnitQuaternion<f64>) -> f64 {
        let d = match self.about {
            About::Side(side) => {
                // The angle about front from the neutral's up to today's:
                // front · (up₀ × up) = (front × up₀) · up.
                let up = attitude::up_in_body(q);
                -attitude::atan2(side.dot(&up), self.up.dot(&up)).to_degrees()
            }
            About::Z(roll_z) => roll_z_deg(q) - roll_z,
        };
        if d > 180.0 {
            d - 360.0
        } else if d <= -180.0 {
            d + 360.0
        } else {
            d
        }
    }
}

impl ObliquitySignal {
    /// The level restarts at zero (a new neutral after none).
    pub fn reset_level(&mut self) {
        self.level = 0.0;
    }

    /// The level is re-taken from the next idle step (a movement was
    /// rejected, or the neutral moved).
    pub fn rebase(&mut self) {
        self.rebase = true;
    }

    /// Reads the pelvis at orientation `q` against neutral `neutral_inv`.
    /// `still` and `in_rep` decide how the resting level may follow.
    #[inline]
    pub fn read(
        &mut self,
        neutral_inv: &UnitQuaternion<f64>,
        q: &UnitQuaternion<f64>,
        still: bool,
        in_rep: bool,
        dt: f64,
    ) -> Reading {
        // How far the pelvis has rolled about its front-back axis since the
        // neutral, seen in the direction of gravity. The front-back axis is
        // the sensor's Z laid level at the neutral: a clip pitched up or
        // down on the belt would otherwise read each degree of obliquity as
        // 1/cos(pitch) degrees (a clip 70° off level, three). Heading plays
        // no part, so turning round and a drifting yaw cannot leak in.
        let n = neutral_inv.coords;
        let frame = match self.neutral_roll {
            Some((c, f)) if c == n => f,
            _ => {
                let f = PelvisFrame::at(&neutral_inv.inverse());
                self.neutral_roll = Some((n, f));
                f
            }
        };
        let d = frame.roll_deg(q);
        let o = d * self.free_sign;
        let gate = self.level_gate * self.enter_deg;
        // At rest away from the resting level for a while (the level was
        // taken mid-movement): take the level from here.
        self.off_level_s = if still && !in_rep && (o - self.level).abs() >= gate {
            self.off_level_s + dt
        } else {
            0.0
        };
        if (self.rebase || self.off_level_s > self.off_level_limit_s) && !in_rep {
            self.level = o;
            self.rebase = false;
            self.off_level_s = 0.0;
        }
        // The resting level follows slow drift only: a quick rise the
        // detector has not (yet) taken for a rep must not drag it along (a
        // level that really moved is re-based on rejection).
        if !in_rep && self.baseline_tau_s > 0.0 && (o - self.level).abs() < gate {
            let toward_rep = match self.direction {
                RepDirection::Down => o < self.level,
                _ => o > self.level,
            };
            let tau = if toward_rep && self.baseline_rep_tau_s > 0.0 {
                self.baseline_rep_tau_s
            } else {
                self.baseline_tau_s
            };
            self.level += (o - self.level) * (dt / tau).min(1.0);
        }
        Reading {
            signal: o - self.level,
            angle: o,
            rotation: Vector3::zeros(),
        }
    }
}

/// The counted signal of a pipeline: which one follows from the profile.
#[derive(Debug, Clone)]
pub enum Counted {
    /// Ankle.
    Rotation(RotationSignal),
    /// Pelvis.
    Obliquity(ObliquitySignal),
}

impl Counted {
    /// The signal a profile's `[reps]` asks for; `free_sign` is +1 when the
    /// free side rising rolls the sensor positive.
    pub fn new(reps: &RepConfig, free_sign: f64) -> Counted {
        match reps.signal {
            super::profile::RepSignal::Rotation => Counted::Rotation(RotationSignal {
                max_peak_deg: reps.max_peak_deg,
            }),
            super::profile::RepSignal::Obliquity => Counted::Obliquity(ObliquitySignal {
                free_sign,
                enter_deg: reps.enter_deg,
                baseline_tau_s: reps.baseline_tau_s,
                level_gate: reps.level_gate,
                off_level_limit_s: reps.off_level_s,
                baseline_rep_tau_s: reps.baseline_rep_tau_s,
                direction: reps.direction,
                level: 0.0,
                rebase: false,
                off_level_s: 0.0,
                neutral_roll: None,
            }),
        }
    }

    /// See [`ObliquitySignal::reset_level`]; nothing for the ankle.
    pub fn reset_level(&mut self) {
        if let Counted::Obliquity(o) = self {
            o.reset_level();
        }
    }

    /// Pelvis: the resting level moves by `delta` (°); nothing for the
    /// ankle.
    pub fn shift_level(&mut self, delta: f64) {
        if let Counted::Obliquity(o) = self {
            o.level += delta;
            o.off_level_s = 0.0;
        }
    }

    /// See [`ObliquitySignal::rebase`]; nothing for the ankle.
    pub fn rebase(&mut self) {
        if let Counted::Obliquity(o) = self {
            o.rebase();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::motion::profile::Profile;
    use crate::{Exercise, Placement};
    use std::f64::consts::PI;

    fn about(axis: Vector3<f64>, deg: f64) -> UnitQuaternion<f64> {
        UnitQuaternion::from_axis_angle(&nalgebra::Unit::new_normalize(axis), deg * PI / 180.0)
    }

    #[test]
    fn the_ankle_reads_the_rotation_whatever_its_axis_and_refuses_a_turn_round() {
        let p = Profile::builtin(Exercise::StandingCableAbduction, Placement::Ankle).unwrap();
        let Counted::Rotation(r) = Counted::new(&p.reps, 1.0) else {
            panic!("ankle counts rotation")
        };
        for axis in [Vector3::x(), Vector3::new(0.3, -1.0, 0.2)] {
            let reading = r.read(&about(axis, 30.0)).unwrap();
            assert!((reading.signal - 30.0).abs() < 1e-6);
            assert!((reading.rotation.norm() - 30.0).abs() < 1e-6);
            assert!(reading.rotation.normalize().dot(&axis.normalize()) > 0.999);
        }
        assert!(r.read(&about(Vector3::z(), 170.0)).is_err());
    }

    #[test]
    fn the_pelvis_level_follows_slow_drift_but_not_a_rep() {
        let p = Profile::builtin(Exercise::StandingCableAbduction, Placement::Pelvis).unwrap();
        let Counted::Obliquity(mut o) = Counted::new(&p.reps, 1.0) else {
            panic!("pelvis counts obliquity")
        };
        // The clip's Z axis points front-back (horizontal): the pelvis rolls about it.
        let upright = about(Vector3::x(), 90.0);
        let neutral = upright.inverse();
        let at = |deg: f64| upright * about(Vector3::z(), deg);
        // A slow drift of 0.2° over 20 s at rest: the level follows it.
        let mut last = 0.0;
        for i in 0..2000 {
            let r = o.read(&neutral, &at(0.2 * i as f64 / 2000.0), true, false, 0.01);
            last = r.signal;
        }
        assert!(last.abs() < 0.05, "drift left {last}°");
        // A rep of 2° (the detector holds it open): the level stays put.
        let r = o.read(&neutral, &at(2.2), false, true, 0.01);
        assert!((r.signal.abs() - 2.0).abs() < 0.05, "{}", r.signal);
        assert!((r.angle.abs() - 2.2).abs() < 1e-6, "{}", r.angle);
    }

    #[test]
    fn a_clip_pitched_on_the_belt_reads_the_obliquity_it_sees() {
        let p = Profile::builtin(Exercise::HipHitch, Placement::Pelvis).unwrap();
        let Counted::Obliquity(mut o) = Counted::new(&p.reps, 1.0) else {
            panic!("pelvis counts obliquity")
        };
        // World X points forward. The clip's Z lies `pitch` above level,
        // forward; the pelvis then rolls 6° about the forward axis.
        for pitch in [0.0, 30.0, 60.0, 75.0] {
            let clip = about(Vector3::y(), 90.0 - pitch);
            let neutral = clip.inverse();
            for roll in [-6.0, 6.0] {
                let r = o.read(
                    &neutral,
                    &(about(Vector3::x(), roll) * clip),
                    false,
                    true,
                    0.01,
                );
                // Read about Z as it is, a 75° pitch made 6° read 23°.
                assert!(
                    (r.angle.abs() - 6.0).abs() < 0.01,
                    "pitch {pitch}: {}",
                    r.angle
                );
                // The sign is roll_z_deg's: free side up positive.
                let about_z = roll_z_deg(&(about(Vector3::x(), roll) * clip)) - roll_z_deg(&clip);
                let about_z = (about_z + 540.0) % 360.0 - 180.0;
                assert_eq!(
                    r.angle.signum(),
                    about_z.signum(),
                    "pitch {pitch}: {about_z}"
                );
            }
            // Pitching further forward (bending over) is no obliquity.
            let bent = about(Vector3::y(), 10.0) * clip;
            assert!(o.read(&neutral, &bent, false, true, 0.01).angle.abs() < 0.01);
        }
    }

    #[test]
    fn the_neutral_comes_from_before_the_rest_was_confirmed() {
        let mut n = Neutral::default();
        for i in 0..100 {
            n.record(i as f64 * 0.01, about(Vector3::x(), i as f64));
        }
        n.take_delayed();
        let q = n.inv().unwrap().inverse();
        // 0.99 s now; the neutral is from about 0.84 s.
        assert!(
            (q.angle().to_degrees() - 84.0).abs() <= 1.0 + 1e-9,
            "{}",
            q.angle().to_degrees()
        );
        n.clear();
        assert!(n.inv().is_none());
    }
}
