//! One reading of the motion sensor, in SI-ish units.

use nalgebra::Vector3;

/// Standard gravity, m/s². At rest the up axis of a sensor reads about this.
pub const STANDARD_GRAVITY: f64 = 9.80665;

/// One IMU reading: time in seconds, specific force in m/s², angular rate in °/s.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Time of the reading, seconds (any origin; non-decreasing within a stream).
    pub t: f64,
    /// Specific force, m/s² (at rest: +9.81 on the axis pointing up).
    pub acc: Vector3<f64>,
    /// Angular rate, °/s, right-handed about the sensor's axes.
    pub gyr: Vector3<f64>,
}

impl Sample {
    /// Builds a sample from plain arrays.
    pub fn new(t: f64, acc: [f64; 3], gyr: [f64; 3]) -> Self {
        Sample {
            t,
            acc: Vector3::from(acc),
            gyr: Vector3::from(gyr),
        }
    }

    /// True when every field is a finite number.
    pub fn is_finite(&self) -> bool {
        self.t.is_finite()
            && self.acc.iter().all(|v| v.is_finite())
            && self.gyr.iter().all(|v| v.is_finite())
    }
}
