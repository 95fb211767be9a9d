//! Stage 1: raw samples in, steps out.
//!
//! Drops what no sensor can have measured (NaN, infinities, values past the
//! widest ranges sold) and samples whose time does not advance, notices gaps
//! the orientation cannot be carried across, and averages samples closer than
//! [`STEP_S`] into one step, so that every later stage runs at about 50 Hz
//! whatever the sensor's rate.

use super::Stats;
use crate::sample::STANDARD_GRAVITY;
use crate::Sample;
use nalgebra::Vector3;

/// A gap in the data longer than this (s) breaks the orientation track: what
/// happened in it is unknown, so the open rep is dropped and a new neutral is needed.
pub const MAX_GAP_S: f64 = 1.0;
/// No motion sensor reads beyond ±32 g or ±5000 °/s (the widest ranges
/// sold; WitMotion's are 16 g and 2000 °/s): a value past these is a corrupt
/// packet, and one such value would wreck the orientation for good.
pub const MAX_ACC_MPS2: f64 = 32.0 * STANDARD_GRAVITY;
/// See [`MAX_ACC_MPS2`].
pub const MAX_RATE_DPS: f64 = 5000.0;
/// Samples less than this apart are averaged into one step (s): the pipeline
/// steps at about 50 Hz at most, whatever the sensor's rate. Reps and
/// compensations live below 5 Hz (the real 25 Hz recordings count exactly);
/// a 400 Hz sensor then costs what a 50 Hz one does, and the averaging is
/// the anti-aliasing filter. Stepping at 100 Hz instead scored the same on
/// the fresh corpora at 0.6× the speed.
pub const STEP_S: f64 = 0.019;

/// One step: the mean of the samples averaged into it.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    /// The mean sample.
    pub sample: Sample,
    /// The largest |acc| among the samples averaged (m/s²): a foot strike's
    /// jolt is shorter than a step.
    pub peak_acc: f64,
    /// Time since the previous step (s); 0 for the first step after a gap.
    pub dt: f64,
}

/// What one raw sample completed, in order: a step it closed before joining
/// the next, a gap before it, and a step it completed itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pushed {
    /// The step the sample closed by arriving too late to join it.
    pub before: Option<Step>,
    /// Whether the orientation track broke before this sample.
    pub gap: bool,
    /// The step this sample completed.
    pub after: Option<Step>,
}

/// Raw samples waiting to be averaged into one step.
#[derive(Debug, Clone, Copy, Default)]
struct Bin {
    n: u32,
    first_t: f64,
    t_sum: f64,
    acc_sum: Vector3<f64>,
    gyr_sum: Vector3<f64>,
    /// The largest |acc|² in the bin.
    peak_acc2: f64,
}

/// Stage 1 of the pipeline: see the module's documentation.
#[derive(Debug, Clone, Default)]
pub struct Resampler {
    /// Time of the last raw sample.
    last_t: Option<f64>,
    /// Time of the last step (the mean time of its samples).
    last_step_t: Option<f64>,
    bin: Bin,
}

impl Resampler {
    /// Feeds one raw sample. A step is given out as soon as its last sample
    /// is in (the next one, as far apart as this one, would not join it),
    /// so events come no later than the sample that completes them.
    #[inline]
    pub fn push(&mut self, s: &Sample, stats: &mut Stats) -> Pushed {
        let mut pushed = Pushed::default();
        stats.samples += 1;
        // One pass: NaN fails every comparison, infinities the bounds.
        let (a, g) = (&s.acc, &s.gyr);
        let sane = s.t.is_finite()
            && a.x.abs() <= MAX_ACC_MPS2
            && a.y.abs() <= MAX_ACC_MPS2
            && a.z.abs() <= MAX_ACC_MPS2
            && g.x.abs() <= MAX_RATE_DPS
            && g.y.abs() <= MAX_RATE_DPS
            && g.z.abs() <= MAX_RATE_DPS;
        if !sane {
            stats.non_finite += 1;
            return pushed;
        }
        let raw_dt = match self.last_t {
            None => f64::INFINITY,
            Some(prev) => {
                let dt = s.t - prev;
                if dt <= 0.0 {
                    stats.out_of_order += 1;
                    return pushed;
                }
                dt
            }
        };
        self.last_t = Some(s.t);
        if self.bin.n > 0 && s.t - self.bin.first_t >= STEP_S {
            pushed.before = self.flush();
        }
        if raw_dt > MAX_GAP_S && raw_dt.is_finite() {
            stats.long_gaps += 1;
            pushed.gap = true;
            self.last_step_t = None;
        }
        let b = &mut self.bin;
        if b.n == 0 {
            *b = Bin {
                first_t: s.t,
                ..Bin::default()
            };
        }
        b.n += 1;
        b.t_sum += s.t;
        b.acc_sum += s.acc;
        b.gyr_sum += s.gyr;
        b.peak_acc2 = b.peak_acc2.max(s.acc.norm_squared());
        if s.t - b.first_t + raw_dt >= STEP_S {
            pushed.after = self.flush();
        }
        pushed
    }

    /// The step of the samples waiting, if any (at the end of the stream).
    #[inline]
    pub fn flush(&mut self) -> Option<Step> {
        let b = std::mem::take(&mut self.bin);
        if b.n == 0 {
            return None;
        }
        // 1/n from a table for the usual bins (the same value, without a
        // division ahead of everything the step does).
        const RECIPROCAL: [f64; 9] = [
            0.0,
            1.0,
            1.0 / 2.0,
            1.0 / 3.0,
            1.0 / 4.0,
            1.0 / 5.0,
            1.0 / 6.0,
            1.0 / 7.0,
            1.0 / 8.0,
        ];
        let k = match RECIPROCAL.get(b.n as usize) {
            Some(&k) => k,
            None => 1.0 / f64::from(b.n),
        };
        let sample = Sample {
            t: b.t_sum * k,
            acc: b.acc_sum * k,
            gyr: b.gyr_sum * k,
        };
        let dt = match self.last_step_t {
            Some(prev) if sample.t > prev => sample.t - prev,
            _ => 0.0,
        };
        self.last_step_t = Some(sample.t);
        Some(Step {
            sample,
            peak_acc: b.peak_acc2.sqrt(),
            dt,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: f64) -> Sample {
        Sample::new(t, [0.0, 0.0, STANDARD_GRAVITY], [0.0, 0.0, 0.0])
    }

    #[test]
    fn samples_at_200_hz_are_averaged_into_steps_of_about_50_hz() {
        let mut r = Resampler::default();
        let mut stats = Stats::default();
        let mut steps = Vec::new();
        for i in 0..200 {
            let p = r.push(&at(i as f64 * 0.005), &mut stats);
            steps.extend(p.before);
            steps.extend(p.after);
        }
        // The first sample is a step of its own (nothing to wait for); then
        // 4 samples a step: the fifth would be 20 ms after the first.
        assert_eq!(steps.len(), 1 + 49);
        assert_eq!(steps[0].dt, 0.0);
        assert!((steps[1].sample.t - 0.0125).abs() < 1e-9);
        assert!((steps[2].dt - 0.02).abs() < 1e-9);
        assert!(r.flush().is_some(), "three samples still wait");
    }

    #[test]
    fn samples_at_25_hz_each_make_a_step() {
        let mut r = Resampler::default();
        let mut stats = Stats::default();
        let n = (0..10)
            .map(|i| r.push(&at(i as f64 * 0.04), &mut stats))
            .filter(|p| p.after.is_some() && p.before.is_none())
            .count();
        assert_eq!(n, 10);
    }

    #[test]
    fn corrupt_and_repeated_samples_are_counted_and_skipped() {
        let mut r = Resampler::default();
        let mut stats = Stats::default();
        r.push(&at(0.0), &mut stats);
        let mut bad = at(0.04);
        bad.gyr.x = f64::NAN;
        assert!(r.push(&bad, &mut stats).after.is_none());
        bad = at(0.04);
        bad.acc.z = 40.0 * STANDARD_GRAVITY;
        r.push(&bad, &mut stats);
        r.push(&at(0.0), &mut stats);
        assert_eq!(
            (stats.samples, stats.non_finite, stats.out_of_order),
            (4, 2, 1)
        );
    }

    #[test]
    fn a_gap_breaks_the_track_and_the_next_step_starts_afresh() {
        let mut r = Resampler::default();
        let mut stats = Stats::default();
        r.push(&at(0.0), &mut stats);
        r.push(&at(0.04), &mut stats);
        let p = r.push(&at(2.0), &mut stats);
        assert!(p.gap);
        assert_eq!(p.after.map(|s| s.dt), Some(0.0));
        assert_eq!(stats.long_gaps, 1);
    }
}
