//! Pelvis: how hard the sensor is shaken while it moves.
//!
//! A pelvis rep (a hitch, an abduction seen from the sacrum) tilts the
//! pelvis slowly: the accelerometer reads 1 g within a few hundredths
//! throughout. Squats, lunges, bridges, kickbacks and walking move the
//! pelvis bodily and shake it by tenths of a g. [`ShakeLog`] keeps the
//! recent steps' departure of |acc| from 1 g so that the root mean square
//! over any movement can be read once the movement has ended
//! (`sets.shake_max_mps2`).

use std::collections::VecDeque;

/// How far back the log reaches (s): longer than any rep and its tail.
const KEEP_S: f64 = 60.0;

/// Running sums of the squared departure of |acc| from 1 g, by time.
#[derive(Debug, Default)]
pub struct ShakeLog {
    /// (time, sum of squares up to and including that step).
    log: VecDeque<(f64, f64)>,
    /// The sum of squares before the oldest step kept.
    base: f64,
    /// The sum of squares so far.
    sum: f64,
}

impl ShakeLog {
    /// Notes a step at `t` whose |acc| departs from 1 g by `dev_mps2`.
    pub fn push(&mut self, t: f64, dev_mps2: f64) {
        self.sum += dev_mps2 * dev_mps2;
        self.log.push_back((t, self.sum));
        while self.log.front().is_some_and(|&(t0, _)| t0 < t - KEEP_S) {
            if let Some((_, s)) = self.log.pop_front() {
                self.base = s;
            }
        }
    }

    /// Root mean square departure from 1 g over the steps from `start_s`
    /// to `end_s` (m/s²), if the log holds any.
    pub fn rms(&self, start_s: f64, end_s: f64) -> Option<f64> {
        let i = self.log.partition_point(|&(t, _)| t < start_s);
        let j = self.log.partition_point(|&(t, _)| t <= end_s);
        if j <= i {
            return None;
        }
        let before = if i == 0 { self.base } else { self.log[i - 1].1 };
        let sum = self.log[j - 1].1 - before;
        Some((sum.max(0.0) / (j - i) as f64).sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rms_covers_only_the_steps_asked_for_and_forgets_old_ones() {
        let mut log = ShakeLog::default();
        for i in 0..100 {
            let t = i as f64 * 0.1;
            // Still for 5 s, then shaken by ±2 m/s².
            let dev = if t < 5.0 {
                0.0
            } else if i % 2 == 0 {
                2.0
            } else {
                -2.0
            };
            log.push(t, dev);
        }
        assert_eq!(log.rms(0.0, 4.9), Some(0.0));
        assert!((log.rms(5.0, 9.9).unwrap() - 2.0).abs() < 1e-9);
        assert!((log.rms(4.0, 5.9).unwrap() - 2.0f64.sqrt()).abs() < 1e-9);
        assert_eq!(log.rms(20.0, 30.0), None);
        // A minute later the first steps are gone, the sums still right.
        for i in 0..700 {
            log.push(10.0 + i as f64 * 0.1, 1.0);
        }
        assert_eq!(log.rms(0.0, 4.9), None);
        assert!((log.rms(70.0, 79.9).unwrap() - 1.0).abs() < 1e-9);
    }
}
