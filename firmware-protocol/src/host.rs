//! Host-side stream handling: turn notifications into timestamped samples.
//!
//! - [`Reassembler`] for medius batches: sequence numbers (wrap-around,
//!   duplicates, late arrivals), the 24-bit sensor clock unwrapped with the
//!   host clock as a coarse guide, lost samples counted from the timestamps,
//!   and the sensor-vs-host drift.
//! - [`ArrivalClock`] for streams with no timestamps (WitMotion, Thingy):
//!   sample times from host arrival times, smoothed by a clock model that knows
//!   samples can only arrive after they were taken.

use crate::medius::{self, Batch, Scale, CLOCK_WRAP_US};
use crate::{round_i64, DecodeError, Imu, TimedImu};

/// Running counts of what the link delivered and lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LinkStats {
    /// Notifications accepted.
    pub batches: u64,
    /// Samples delivered.
    pub samples: u64,
    /// Notifications missing from the sequence.
    pub lost_batches: u64,
    /// Samples missing (from the timestamps; includes drops on the sensor).
    pub lost_samples: u64,
    /// Notifications received twice (ignored).
    pub duplicates: u64,
    /// Notifications that arrived after later ones (not delivered; their
    /// samples stay counted as lost).
    pub late: u64,
    /// Times the sensor clock was re-zeroed or the sensor restarted.
    pub clock_resets: u64,
    /// Notifications that failed to decode.
    pub malformed: u64,
}

/// What became of one notification.
#[derive(Debug)]
pub enum Delivery<'a> {
    /// New samples, in order, after `lost` missing ones.
    Samples {
        /// Samples missing between the previous batch and this one.
        lost: u64,
        /// The samples, with stream times.
        samples: Samples<'a>,
    },
    /// Seen before: ignored.
    Duplicate,
    /// Older than samples already delivered: not delivered.
    Late,
}

/// Iterator over the timestamped samples of one batch.
#[derive(Debug)]
pub struct Samples<'a> {
    batch: Batch<'a>,
    scale: Scale,
    t0_s: f64,
    period_s: f64,
    i: usize,
}

impl Iterator for Samples<'_> {
    type Item = TimedImu;
    #[inline]
    fn next(&mut self) -> Option<TimedImu> {
        if self.i >= self.batch.header.count as usize {
            return None;
        }
        let imu = self.scale.apply(self.batch.raw(self.i));
        let t_s = self.t0_s + self.i as f64 * self.period_s;
        self.i += 1;
        Some(TimedImu { t_s, imu })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.batch.header.count as usize - self.i;
        (n, Some(n))
    }
}

impl ExactSizeIterator for Samples<'_> {}

/// Window of recent sequence numbers remembered for duplicates.
const SEQ_WINDOW: u16 = 64;

/// Reassembles medius data notifications into a continuous sample stream.
#[derive(Debug, Clone)]
pub struct Reassembler {
    scale: Scale,
    last_seq: Option<u16>,
    /// Bit k set: `last_seq - k` was received.
    seen: u64,
    /// Unwrapped sensor time of the last batch's first sample, µs, stream clock.
    last_t0: u64,
    /// Host time of the last accepted batch.
    last_host: f64,
    /// Stream time (µs) just after the last delivered sample.
    next_t: u64,
    /// Offset added to the sensor clock after re-zeroes, µs.
    epoch: u64,
    stats: LinkStats,
    drift: DriftEstimator,
}

impl Reassembler {
    /// A reassembler for a sensor configured with this scale.
    pub fn new(scale: Scale) -> Self {
        Reassembler {
            scale,
            last_seq: None,
            seen: 0,
            last_t0: 0,
            last_host: 0.0,
            next_t: 0,
            epoch: 0,
            stats: LinkStats::default(),
            drift: DriftEstimator::default(),
        }
    }

    /// Counts so far.
    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// Sensor clock drift against the host, ppm (positive: sensor slow),
    /// once enough time has passed to say.
    pub fn drift_ppm(&self) -> Option<f64> {
        self.drift.ppm()
    }

    /// Takes one notification and the host time it arrived (seconds, any
    /// monotonic origin).
    pub fn push<'a>(&mut self, bytes: &'a [u8], host_s: f64) -> Result<Delivery<'a>, DecodeError> {
        let batch = match medius::decode_batch(bytes) {
            Ok(b) => b,
            Err(e) => {
                self.stats.malformed += 1;
                return Err(e);
            }
        };
        let h = batch.header;
        let period_us = h.period_10us as u64 * medius::PERIOD_UNIT_US as u64;
        let raw = h.t0_us as u64;

        let t0 = match self.last_seq {
            None => {
                self.epoch = 0;
                raw
            }
            Some(last) => {
                let d = h.seq.wrapping_sub(last);
                if d == 0 {
                    self.stats.duplicates += 1;
                    return Ok(Delivery::Duplicate);
                }
                if d >= 0x8000 && (last.wrapping_sub(h.seq)) < SEQ_WINDOW {
                    let back = last.wrapping_sub(h.seq);
                    if self.seen & (1u64 << back) != 0 {
                        self.stats.duplicates += 1;
                        return Ok(Delivery::Duplicate);
                    }
                    self.seen |= 1u64 << back;
                    self.stats.late += 1;
                    return Ok(Delivery::Late);
                }
                let elapsed_us = ((host_s - self.last_host).max(0.0) * 1e6) as u64;
                let expected = self.last_t0 + elapsed_us;
                if h.flags & medius::flags::CLOCK_REZEROED != 0 || d >= 0x8000 {
                    // The sensor clock (or the whole sensor) restarted: keep the
                    // stream clock going from the host's idea of elapsed time.
                    self.stats.clock_resets += 1;
                    let t = expected.max(self.next_t);
                    self.epoch = t.saturating_sub(raw);
                    t
                } else {
                    let local = expected.saturating_sub(self.epoch);
                    self.epoch + unwrap24(raw, local)
                }
            }
        };

        if let Some(last) = self.last_seq {
            let d = h.seq.wrapping_sub(last);
            if d < 0x8000 {
                self.stats.lost_batches += (d - 1) as u64;
                self.seen = if d >= 64 { 0 } else { self.seen << d };
            } else {
                self.seen = 0;
            }
        }
        self.seen |= 1;
        self.last_seq = Some(h.seq);

        if t0 + period_us / 2 < self.next_t && self.stats.batches > 0 {
            // Time went backwards without a reset: a late batch with a
            // sequence jump we could not place. Do not deliver out of order.
            self.stats.late += 1;
            return Ok(Delivery::Late);
        }
        let lost = if self.stats.batches == 0 || t0 == self.next_t {
            0
        } else {
            let gap = t0 as f64 - self.next_t as f64;
            round_i64(gap / period_us as f64).max(0) as u64
        };
        self.stats.lost_samples += lost;
        self.stats.batches += 1;
        self.stats.samples += h.count as u64;
        self.last_t0 = t0;
        self.last_host = host_s;
        self.next_t = t0 + h.count as u64 * period_us;
        // One pair per ~10 batches is plenty for a slope over minutes.
        if self.stats.batches % 10 == 1 {
            let last_sample_s = (t0 + (h.count as u64 - 1) * period_us) as f64 * 1e-6;
            self.drift.add(last_sample_s, host_s);
        }
        Ok(Delivery::Samples {
            lost,
            samples: Samples {
                batch,
                scale: self.scale,
                t0_s: t0 as f64 * 1e-6,
                period_s: period_us as f64 * 1e-6,
                i: 0,
            },
        })
    }
}

/// The 24-bit clock value `raw` placed in the 2²⁴ µs window nearest to
/// `expected` (a full-width estimate of the same instant).
#[inline]
pub fn unwrap24(raw: u64, expected: u64) -> u64 {
    let base = expected & !(CLOCK_WRAP_US - 1);
    let mut best = base + raw;
    let mut best_d = best.abs_diff(expected);
    if best_d <= CLOCK_WRAP_US / 2 {
        return best;
    }
    for cand in [
        (base + raw).checked_sub(CLOCK_WRAP_US),
        Some(base + raw + CLOCK_WRAP_US),
    ]
    .into_iter()
    .flatten()
    {
        let d = cand.abs_diff(expected);
        if d < best_d {
            best = cand;
            best_d = d;
        }
    }
    best
}

/// Least-squares slope of host time against sensor time, from running sums
/// (fixed memory). Latency jitter averages out over minutes.
#[derive(Debug, Clone, Copy, Default)]
pub struct DriftEstimator {
    origin: Option<(f64, f64)>,
    n: f64,
    sx: f64,
    sy: f64,
    sxx: f64,
    sxy: f64,
    span: f64,
}

impl DriftEstimator {
    /// Seconds of sensor time needed before [`Self::ppm`] answers.
    pub const MIN_SPAN_S: f64 = 10.0;

    /// Adds a pair (sensor time, host time), seconds.
    pub fn add(&mut self, sensor_s: f64, host_s: f64) {
        let (x0, y0) = *self.origin.get_or_insert((sensor_s, host_s));
        let x = sensor_s - x0;
        let y = host_s - y0;
        self.n += 1.0;
        self.sx += x;
        self.sy += y;
        self.sxx += x * x;
        self.sxy += x * y;
        if x > self.span {
            self.span = x;
        }
    }

    /// (host seconds per sensor second − 1) × 10⁶.
    pub fn ppm(&self) -> Option<f64> {
        if self.span < Self::MIN_SPAN_S || self.n < 3.0 {
            return None;
        }
        let den = self.n * self.sxx - self.sx * self.sx;
        if den <= 0.0 {
            return None;
        }
        let slope = (self.n * self.sxy - self.sx * self.sy) / den;
        Some((slope - 1.0) * 1e6)
    }
}

/// Sample times for streams without timestamps.
///
/// Model: sample k was taken at `base + k·period`. A notification carrying
/// samples up to index j that arrives at host time h says `base ≤ h − j·period`
/// (nothing arrives before it is taken), so the base follows the lower envelope
/// of arrivals: it drops at once to an early arrival and rises only slowly
/// (bursts and connection-interval jitter do not move it). The period is
/// re-estimated from the arrivals' long-run slope, bounded to ±5 % of nominal,
/// so a sensor whose crystal is off does not look like it loses samples.
/// An arrival far later than the model allows means the link lost samples:
/// they are counted and the index skips past them.
#[derive(Debug, Clone)]
pub struct ArrivalClock {
    nominal: f64,
    period: f64,
    base: Option<f64>,
    next_index: u64,
    last_host: f64,
    last_t: f64,
    lost: u64,
    /// Samples counted lost at the last re-anchor that early arrivals may
    /// still take back (arrival latency made the gap look longer).
    credit: u64,
    relinked_at: f64,
    fit: DriftEstimator,
}

impl ArrivalClock {
    /// How fast the base may rise, seconds per second (2 %: arrivals are
    /// late by bursts of tens of ms, clocks are off by up to a few %).
    const RISE: f64 = 2e-2;

    /// A clock for a stream at `rate_hz`.
    pub fn new(rate_hz: f64) -> Self {
        let p = 1.0 / rate_hz.clamp(0.1, 10_000.0);
        ArrivalClock {
            nominal: p,
            period: p,
            base: None,
            next_index: 0,
            last_host: 0.0,
            last_t: f64::NEG_INFINITY,
            lost: 0,
            credit: 0,
            relinked_at: f64::NEG_INFINITY,
            fit: DriftEstimator::default(),
        }
    }

    /// Samples counted lost so far.
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Current period estimate, seconds.
    pub fn period(&self) -> f64 {
        self.period
    }

    /// Forget the model after a reconnect (the index restarts from the next
    /// arrival; samples missed during the outage are counted from the gap).
    pub fn relink(&mut self) {
        self.base = None;
    }

    /// A notification with `n` samples arrived at `host_s`. Returns the time
    /// of its first sample, the period to space them by, and how many samples
    /// were lost just before it.
    pub fn arrive(&mut self, host_s: f64, n: usize) -> (f64, f64, u64) {
        let n = n.max(1) as u64;
        let mut lost_now = 0;
        match self.base {
            None => {
                let base_guess = host_s - (n - 1) as f64 * self.period;
                if self.last_t.is_finite() {
                    // Re-anchoring after an outage: the samples that would have
                    // been taken in between are lost.
                    let gap = base_guess - self.last_t;
                    lost_now = (round_i64(gap / self.period) - 1).max(0) as u64;
                    self.next_index += lost_now;
                    self.credit = lost_now;
                    self.relinked_at = host_s;
                }
                self.base = Some(base_guess - self.next_index as f64 * self.period);
            }
            Some(base) => {
                let mut j = self.next_index + n - 1;
                let mut cand = host_s - j as f64 * self.period;
                if host_s - self.relinked_at > 2.0 {
                    self.credit = 0;
                }
                if cand < base && self.credit > 0 {
                    // Arrivals after the outage came earlier than the first one
                    // suggested: fewer samples were lost than counted.
                    let k = (round_i64((base - cand) / self.period).max(0) as u64).min(self.credit);
                    self.credit -= k;
                    self.lost -= k;
                    self.next_index -= k;
                    j -= k;
                    cand = host_s - j as f64 * self.period;
                }
                let allowed = base + Self::RISE * (host_s - self.last_host).max(0.0);
                let gap = cand - base;
                let limit = (12.0 * self.period).max(0.2);
                if gap > limit {
                    lost_now = round_i64(gap / self.period).max(0) as u64;
                    self.next_index += lost_now;
                    self.credit = lost_now;
                    self.relinked_at = host_s;
                    let j = self.next_index + n - 1;
                    self.base = Some(host_s - j as f64 * self.period);
                } else if cand < base {
                    self.base = Some(cand);
                } else {
                    self.base = Some(cand.min(allowed));
                }
            }
        }
        self.lost += lost_now;
        let j = self.next_index + n - 1;
        self.fit.add(j as f64, host_s);
        if let Some(p) = self.fit.seconds_per_index() {
            let lo = self.nominal * 0.95;
            let hi = self.nominal * 1.05;
            let new_p = p.clamp(lo, hi);
            // Keep the last sample's time fixed while the period changes.
            if let Some(b) = self.base {
                self.base = Some(b + j as f64 * (self.period - new_p));
            }
            self.period = new_p;
        }
        let base = self.base.unwrap_or(host_s);
        let mut t0 = base + self.next_index as f64 * self.period;
        if t0 <= self.last_t {
            t0 = self.last_t + 0.25 * self.period;
        }
        self.next_index += n;
        self.last_host = host_s;
        self.last_t = t0 + (n - 1) as f64 * self.period;
        (t0, self.period, lost_now)
    }

    /// Stamps the samples of one notification.
    pub fn stamp<'s>(
        &mut self,
        host_s: f64,
        samples: &'s [Imu],
    ) -> (u64, impl Iterator<Item = TimedImu> + 's) {
        let (t0, p, lost) = self.arrive(host_s, samples.len());
        (
            lost,
            samples.iter().enumerate().map(move |(i, imu)| TimedImu {
                t_s: t0 + i as f64 * p,
                imu: *imu,
            }),
        )
    }
}

impl DriftEstimator {
    /// Slope of host seconds against sample index, once 200 samples apart;
    /// used by [`ArrivalClock`].
    fn seconds_per_index(&self) -> Option<f64> {
        if self.n < 20.0 {
            return None;
        }
        let den = self.n * self.sxx - self.sx * self.sx;
        if den <= 0.0 || self.span < 200.0 {
            return None;
        }
        Some((self.n * self.sxy - self.sx * self.sy) / den)
    }
}
