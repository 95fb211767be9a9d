//! Ankle: where the leg turned about, from the accelerometer.
//!
//! An abduction turns the leg about the hip. A sensor on the shank then
//! moves on a circle about the hip's axis, and its accelerometer feels the
//! circle: `α × r + ω × (ω × r)` for the lever `r` from the axis to the
//! sensor, beside gravity. The gyro gives `ω` and `α`, the orientation
//! gives gravity, so the lever comes out of a least-squares fit over the
//! reps, in the sensor's own frame: however the strap sits, its direction
//! against gravity at rest says where the pivot lay. Lying on the side,
//! the hip is level with the leg; standing, above it. Fire hydrants and
//! kickbacks on all fours turn the shank about a hip above it, squats and
//! deadlifts about the ankle below it, clamshells about the knee: done
//! with the sensor still on, they count like a set, and this says it may
//! be one of them (a cue the count itself never looks at).
//!
//! Only the lever's part across the reps' axis is fitted: along the axis,
//! turning about it moves nothing.

use super::certainty::{Doubt, DoubtKind, MIN_REPS_FOR_NORM};
use super::swings::{SwingLog, MAX_STEP_S};
use super::Rep;
use nalgebra::{Matrix2, Vector2, Vector3};

/// A lever shorter than this (m) is a turn about the sensor itself: its
/// direction says nothing about where the pivot lay.
pub const MIN_LEVER_M: f64 = 0.1;
/// Confidence left when the reps turned about another pivot.
const LEVER_CAP: f64 = 0.5;
/// Gravity was taken this long (s) before the first rep at most.
const REST_LOOKBACK_S: f64 = 0.5;

/// The lever from the reps' pivot to the sensor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lever {
    /// Its length across the reps' axis (m).
    pub length_m: f64,
    /// Its elevation at rest before the first rep (°: 0 level, +90 the
    /// sensor straight above the pivot, −90 straight below).
    pub elevation_deg: f64,
}

fn vec3(v: [f32; 3]) -> Vector3<f64> {
    Vector3::new(f64::from(v[0]), f64::from(v[1]), f64::from(v[2]))
}

/// Fits the lever of `reps` turning about `axis` (unit, sensor frame) from
/// `log`. None without a rest logged before the first rep or a fit.
pub fn fit(log: &SwingLog, reps: &[Rep], axis: &Vector3<f64>) -> Option<Lever> {
    let first = reps.first()?;
    let up = log
        .span(first.start_s - REST_LOOKBACK_S, first.start_s)
        .last()
        .map(|l| vec3(l.up))?;
    // Two directions across the axis: the lever is fitted in their plane.
    let helper = if axis.x.abs() < 0.9 {
        Vector3::x()
    } else {
        Vector3::y()
    };
    let e1 = axis.cross(&helper).try_normalize(1e-9)?;
    let e2 = axis.cross(&e1);
    let to_rad = std::f64::consts::PI / 180.0;
    let (mut btb, mut bta) = (Matrix2::zeros(), Vector2::zeros());
    for r in reps {
        let mut prev: Option<(f64, Vector3<f64>, Vector3<f64>)> = None;
        for l in log.span(r.start_s, r.end_s) {
            let (w, a) = (vec3(l.rate) * to_rad, vec3(l.acc));
            if let Some((t0, w0, a0)) = prev {
                let dt = l.t - t0;
                if dt > 0.0 && dt <= MAX_STEP_S {
                    let omega = (w + w0) * 0.5;
                    let spin = omega.cross_matrix();
                    let m = ((w - w0) / dt).cross_matrix() + spin * spin;
                    let (b1, b2) = (m * e1, m * e2);
                    let acc = (a + a0) * 0.5;
                    btb += Matrix2::new(b1.dot(&b1), b1.dot(&b2), b1.dot(&b2), b2.dot(&b2));
                    bta += Vector2::new(b1.dot(&acc), b2.dot(&acc));
                }
            }
            prev = Some((l.t, w, a));
        }
    }
    let xy = btb.try_inverse()? * bta;
    let lever = e1 * xy.x + e2 * xy.y;
    let length_m = lever.norm();
    if !length_m.is_finite() || length_m == 0.0 {
        return None;
    }
    let elevation_deg = (lever.dot(&up) / length_m)
        .clamp(-1.0, 1.0)
        .asin()
        .to_degrees();
    Some(Lever {
        length_m,
        elevation_deg,
    })
}

fn whereabouts(elevation_deg: f64) -> &'static str {
    if elevation_deg > 30.0 {
        "below"
    } else if elevation_deg < -30.0 {
        "above"
    } else {
        "level with"
    }
}

/// Doubts a set whose reps turned the leg about a pivot whose lever lies
/// more than `off_deg` from `expected_deg` (the elevation the exercise
/// puts the hip at, see [`Lever::elevation_deg`]).
pub fn off_pivot(
    log: &SwingLog,
    reps: &[Rep],
    axis: &Vector3<f64>,
    expected_deg: f64,
    off_deg: f64,
) -> Option<(f64, Vec<Doubt>)> {
    if reps.len() < MIN_REPS_FOR_NORM {
        return None;
    }
    let lever = fit(log, reps, axis)?;
    let off = (lever.elevation_deg - expected_deg).abs();
    if lever.length_m < MIN_LEVER_M || off <= off_deg {
        return None;
    }
    let (first, last) = (&reps[0], &reps[reps.len() - 1]);
    Some((
        LEVER_CAP,
        vec![Doubt {
            kind: DoubtKind::OffPivot,
            from_s: first.start_s,
            to_s: last.end_s,
            reps: 0,
            message: format!(
                "the reps turned the leg about a point {} the sensor (the sensor {:.2} m from \
                 it, {:.0}° {} level), where this exercise turns it about a hip {} it: this \
                 may be another exercise (fire hydrants, kickbacks, clamshells, squats)",
                whereabouts(lever.elevation_deg),
                lever.length_m,
                lever.elevation_deg.abs(),
                if lever.elevation_deg < 0.0 {
                    "below"
                } else {
                    "above"
                },
                whereabouts(expected_deg),
            ),
        }],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::{Rotation3, UnitQuaternion};

    fn rep(number: usize, start_s: f64, end_s: f64) -> Rep {
        Rep {
            number,
            start_s,
            end_s,
            peak_deg: 30.0,
            concentric_s: (end_s - start_s) / 2.0,
            pause_s: 0.0,
            eccentric_s: (end_s - start_s) / 2.0,
            flags: Vec::new(),
        }
    }

    /// 100 Hz log of five 30° reps (2 s each, 3 s apart) turning a sensor
    /// strapped on as `strap` about the world's x axis through a pivot at
    /// `length_m`, its lever at rest `elevation_deg` from level.
    fn turned(
        strap: UnitQuaternion<f64>,
        length_m: f64,
        elevation_deg: f64,
    ) -> (SwingLog, Vec<Rep>) {
        let e = elevation_deg.to_radians();
        let p0 = Vector3::new(0.0, e.cos(), e.sin()) * length_m;
        let reps: Vec<Rep> = (0..5)
            .map(|i| rep(i + 1, 1.0 + 3.0 * i as f64, 3.0 + 3.0 * i as f64))
            .collect();
        // θ(t) = A/2 (1 - cos(2π (t-s)/T)) within a rep, and its derivatives.
        let (amp, len) = (30f64.to_radians(), 2.0);
        let w = std::f64::consts::TAU / len;
        let mut log = SwingLog::default();
        for k in 0..1600 {
            let t = k as f64 * 0.01;
            let (mut th, mut th1, mut th2) = (0.0, 0.0, 0.0);
            if let Some(r) = reps.iter().find(|r| t >= r.start_s && t < r.end_s) {
                let x = w * (t - r.start_s);
                th = amp / 2.0 * (1.0 - x.cos());
                th1 = amp / 2.0 * w * x.sin();
                th2 = amp / 2.0 * w * w * x.cos();
            }
            let turn = Rotation3::from_axis_angle(&Vector3::x_axis(), th);
            let x = Vector3::x();
            let acc_world = turn * (x.cross(&p0) * th2 + x.cross(&x.cross(&p0)) * (th1 * th1));
            // Sensor → world: the turn after the strap.
            let pose = UnitQuaternion::from_rotation_matrix(&turn) * strap;
            let rate = pose.inverse_transform_vector(&(x * th1.to_degrees()));
            let acc = pose.inverse_transform_vector(&acc_world);
            let up = pose.inverse_transform_vector(&Vector3::z());
            log.push(t, &rate, &acc, &up);
        }
        (log, reps)
    }

    fn axis_of(strap: UnitQuaternion<f64>) -> Vector3<f64> {
        strap.inverse_transform_vector(&Vector3::x())
    }

    #[test]
    fn the_lever_is_found_whatever_the_strap() {
        for strap in [
            UnitQuaternion::identity(),
            UnitQuaternion::from_euler_angles(0.7, -1.2, 2.5),
        ] {
            for (length, elevation) in [(0.8, 0.0), (0.85, -90.0), (0.3, -25.0), (0.45, 60.0)] {
                let (log, reps) = turned(strap, length, elevation);
                let lever = fit(&log, &reps, &axis_of(strap)).expect("a fit");
                assert!((lever.length_m - length).abs() < 0.02, "{lever:?}");
                assert!((lever.elevation_deg - elevation).abs() < 2.0, "{lever:?}");
            }
        }
    }

    #[test]
    fn reps_about_a_pivot_the_exercise_does_not_have_are_doubted() {
        let strap = UnitQuaternion::from_euler_angles(-0.4, 0.9, 1.1);
        let axis = axis_of(strap);
        // Lying on the side (the hip level with the leg): the leg lying a
        // little low is no doubt, a shank turning about a hip above it
        // (fire hydrants) is.
        let (log, reps) = turned(strap, 0.8, -25.0);
        assert_eq!(off_pivot(&log, &reps, &axis, 0.0, 45.0), None);
        let (log, reps) = turned(strap, 0.5, -85.0);
        let (cap, doubts) = off_pivot(&log, &reps, &axis, 0.0, 45.0).expect("doubted");
        assert!(cap < crate::motion::certainty::SURE);
        assert_eq!(doubts[0].kind, DoubtKind::OffPivot);
        assert!(doubts[0].message.contains("above"), "{}", doubts[0].message);
        // Standing (the hip above): the same set is right, a squat's turn
        // about the ankle below the sensor is not.
        assert_eq!(off_pivot(&log, &reps, &axis, -90.0, 45.0), None);
        let (log, reps) = turned(strap, 0.15, 85.0);
        assert!(off_pivot(&log, &reps, &axis, -90.0, 45.0).is_some());
        // A turn about the sensor itself says nothing.
        let (log, reps) = turned(strap, 0.05, 85.0);
        assert_eq!(off_pivot(&log, &reps, &axis, -90.0, 45.0), None);
    }
}
