//! medius' own sensor protocol (see `PROTOCOL.md` for the byte diagrams).
//!
//! A data batch is an 8-byte header and `n` samples of 12 bytes, so that one
//! sample fits in a notification at the smallest ATT MTU (23 → 20 bytes of
//! payload) and 42 fit at the largest attribute (512 bytes).

use crate::{le_i16, le_u16, DecodeError, EncodeError, Imu, STANDARD_GRAVITY};

/// 128-bit UUIDs of the medius GATT service and its characteristics. The
/// last six bytes spell "medius" in ASCII.
pub mod uuid {
    /// The medius sensor service.
    pub const SERVICE: u128 = 0x4d45_0001_8f1c_4c2e_9a3b_6d65_6469_7573;
    /// Data batches (notify).
    pub const DATA: u128 = 0x4d45_0002_8f1c_4c2e_9a3b_6d65_6469_7573;
    /// Sampling configuration (read, write).
    pub const CONFIG: u128 = 0x4d45_0003_8f1c_4c2e_9a3b_6d65_6469_7573;
    /// Control opcodes (write).
    pub const CONTROL: u128 = 0x4d45_0004_8f1c_4c2e_9a3b_6d65_6469_7573;
    /// Battery, firmware, drops, drift (read, notify).
    pub const STATUS: u128 = 0x4d45_0005_8f1c_4c2e_9a3b_6d65_6469_7573;
    /// Standard Battery service (0x180F) as a 128-bit UUID.
    pub const BATTERY_SERVICE: u128 = super::uuid16(0x180F);
    /// Standard Battery Level characteristic (0x2A19).
    pub const BATTERY_LEVEL: u128 = super::uuid16(0x2A19);
    /// Standard Device Information service (0x180A).
    pub const DEVICE_INFORMATION: u128 = super::uuid16(0x180A);
    /// Firmware Revision String (0x2A26).
    pub const FIRMWARE_REVISION: u128 = super::uuid16(0x2A26);
}

/// A 16-bit SIG UUID expanded onto the Bluetooth base UUID.
pub const fn uuid16(short: u16) -> u128 {
    0x0000_0000_0000_1000_8000_0080_5f9b_34fb | ((short as u128) << 96)
}

/// Protocol version carried in every batch (2 bits; 0 is never valid).
pub const VERSION: u8 = 1;
/// Bytes of a batch header.
pub const HEADER_LEN: usize = 8;
/// Bytes of one sample (3 × i16 acceleration, 3 × i16 angular rate).
pub const SAMPLE_LEN: usize = 12;
/// Most samples a batch can carry (a 512-byte attribute value).
pub const MAX_SAMPLES: usize = (512 - HEADER_LEN) / SAMPLE_LEN;
/// The sensor clock field is 24 bits of microseconds: it wraps every 16.78 s.
pub const CLOCK_WRAP_US: u64 = 1 << 24;
/// Unit of the period field, µs.
pub const PERIOD_UNIT_US: u32 = 10;

/// Samples per notification for an ATT MTU (3 bytes go to the ATT header).
pub fn samples_per_notification(att_mtu: u16) -> usize {
    let payload = (att_mtu as usize).saturating_sub(3).min(512);
    (payload.saturating_sub(HEADER_LEN) / SAMPLE_LEN).min(MAX_SAMPLES)
}

/// Batch flags (4 bits).
pub mod flags {
    /// The sensor clock was re-zeroed since the previous batch.
    pub const CLOCK_REZEROED: u8 = 0b1000;
    /// The sensor's FIFO overflowed: samples were dropped before this batch.
    pub const OVERFLOW: u8 = 0b0100;
    /// A value in this batch hit the end of its range.
    pub const SATURATED: u8 = 0b0010;
    /// Battery below 10 %.
    pub const LOW_BATTERY: u8 = 0b0001;
}

/// The header of a data batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// [`flags`] bits.
    pub flags: u8,
    /// Sequence number of this notification; wraps at 65536.
    pub seq: u16,
    /// Sensor clock at the first sample, µs, modulo 2²⁴.
    pub t0_us: u32,
    /// Sample period in units of 10 µs (250 = 400 Hz … 4000 = 25 Hz).
    pub period_10us: u16,
    /// Samples in this batch, 1..=42.
    pub count: u8,
}

impl BatchHeader {
    /// The sample period in seconds.
    pub fn period_s(&self) -> f64 {
        self.period_10us as f64 * (PERIOD_UNIT_US as f64 * 1e-6)
    }

    /// Bytes of the whole batch.
    pub fn len(&self) -> usize {
        HEADER_LEN + self.count as usize * SAMPLE_LEN
    }

    /// True when the header announces no samples (never valid on the wire).
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Period field for a rate in Hz, rounded to the 10 µs unit.
    pub fn period_for_rate(rate_hz: u16) -> u16 {
        let us = 1_000_000u32 / rate_hz.max(1) as u32;
        ((us + PERIOD_UNIT_US / 2) / PERIOD_UNIT_US) as u16
    }
}

/// Raw sample as it sits on the wire, before scaling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RawSample {
    /// Acceleration counts, x y z.
    pub acc: [i16; 3],
    /// Angular-rate counts, x y z.
    pub gyr: [i16; 3],
}

/// A decoded batch borrowing the notification bytes.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    /// The header.
    pub header: BatchHeader,
    body: &'a [u8],
}

impl<'a> Batch<'a> {
    /// Sample `i` (0-based) as raw counts.
    pub fn raw(&self, i: usize) -> RawSample {
        let b = &self.body[i * SAMPLE_LEN..(i + 1) * SAMPLE_LEN];
        RawSample {
            acc: [le_i16(b, 0), le_i16(b, 2), le_i16(b, 4)],
            gyr: [le_i16(b, 6), le_i16(b, 8), le_i16(b, 10)],
        }
    }

    /// The raw samples in order.
    pub fn raw_samples(&self) -> impl Iterator<Item = RawSample> + 'a {
        self.body.chunks_exact(SAMPLE_LEN).map(|b| RawSample {
            acc: [le_i16(b, 0), le_i16(b, 2), le_i16(b, 4)],
            gyr: [le_i16(b, 6), le_i16(b, 8), le_i16(b, 10)],
        })
    }

    /// The samples scaled to m/s² and °/s.
    pub fn samples(&self, scale: Scale) -> impl Iterator<Item = Imu> + 'a {
        self.raw_samples().map(move |r| scale.apply(r))
    }
}

/// Decodes a data notification. Checks the version, the count against the
/// length and the period range; never panics on any input.
pub fn decode_batch(bytes: &[u8]) -> Result<Batch<'_>, DecodeError> {
    if bytes.len() < HEADER_LEN {
        return Err(DecodeError::TooShort {
            need: HEADER_LEN,
            got: bytes.len(),
        });
    }
    let version = bytes[0] >> 6;
    if version != VERSION {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    let count = bytes[0] & 0x3f;
    let flags = bytes[1] >> 4;
    let period_10us = (((bytes[1] & 0x0f) as u16) << 8) | bytes[2] as u16;
    let header = BatchHeader {
        flags,
        seq: le_u16(bytes, 3),
        t0_us: u32::from_le_bytes([bytes[5], bytes[6], bytes[7], 0]),
        period_10us,
        count,
    };
    if count == 0 || count as usize > MAX_SAMPLES {
        return Err(DecodeError::BadField("count"));
    }
    if !(RATE_RANGE_PERIODS.0..=RATE_RANGE_PERIODS.1).contains(&period_10us) {
        return Err(DecodeError::BadField("period"));
    }
    if bytes.len() != header.len() {
        return Err(DecodeError::LengthMismatch {
            expected: header.len(),
            got: bytes.len(),
        });
    }
    Ok(Batch {
        header,
        body: &bytes[HEADER_LEN..],
    })
}

/// Period field range accepted on the wire: 400 Hz (250) … 25 Hz (4000).
const RATE_RANGE_PERIODS: (u16, u16) = (250, 4000);

/// Encodes a batch into `out`; returns the bytes written.
pub fn encode_batch(
    header: &BatchHeader,
    samples: &[RawSample],
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    if samples.is_empty() || samples.len() > MAX_SAMPLES || samples.len() != header.count as usize {
        return Err(EncodeError::BadField("count"));
    }
    if !(RATE_RANGE_PERIODS.0..=RATE_RANGE_PERIODS.1).contains(&header.period_10us) {
        return Err(EncodeError::BadField("period"));
    }
    if header.flags > 0x0f {
        return Err(EncodeError::BadField("flags"));
    }
    if header.t0_us >= 1 << 24 {
        return Err(EncodeError::BadField("t0_us"));
    }
    let need = header.len();
    if out.len() < need {
        return Err(EncodeError::BufferTooSmall { need });
    }
    out[0] = (VERSION << 6) | header.count;
    out[1] = (header.flags << 4) | (header.period_10us >> 8) as u8;
    out[2] = header.period_10us as u8;
    out[3..5].copy_from_slice(&header.seq.to_le_bytes());
    out[5..8].copy_from_slice(&header.t0_us.to_le_bytes()[..3]);
    for (i, s) in samples.iter().enumerate() {
        let b = &mut out[HEADER_LEN + i * SAMPLE_LEN..HEADER_LEN + (i + 1) * SAMPLE_LEN];
        for k in 0..3 {
            b[2 * k..2 * k + 2].copy_from_slice(&s.acc[k].to_le_bytes());
            b[6 + 2 * k..8 + 2 * k].copy_from_slice(&s.gyr[k].to_le_bytes());
        }
    }
    Ok(need)
}

/// Accelerometer full scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccRange {
    /// ±2 g
    G2 = 0,
    /// ±4 g
    G4 = 1,
    /// ±8 g
    G8 = 2,
    /// ±16 g
    G16 = 3,
}

impl AccRange {
    /// Full scale in g.
    pub fn full_scale_g(self) -> f32 {
        match self {
            AccRange::G2 => 2.0,
            AccRange::G4 => 4.0,
            AccRange::G8 => 8.0,
            AccRange::G16 => 16.0,
        }
    }
    fn from_code(c: u8) -> Result<Self, DecodeError> {
        Ok(match c {
            0 => AccRange::G2,
            1 => AccRange::G4,
            2 => AccRange::G8,
            3 => AccRange::G16,
            _ => return Err(DecodeError::BadField("acc_range")),
        })
    }
}

/// Gyroscope full scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GyrRange {
    /// ±125 °/s
    Dps125 = 0,
    /// ±250 °/s
    Dps250 = 1,
    /// ±500 °/s
    Dps500 = 2,
    /// ±1000 °/s
    Dps1000 = 3,
    /// ±2000 °/s
    Dps2000 = 4,
}

impl GyrRange {
    /// Full scale in °/s.
    pub fn full_scale_dps(self) -> f32 {
        match self {
            GyrRange::Dps125 => 125.0,
            GyrRange::Dps250 => 250.0,
            GyrRange::Dps500 => 500.0,
            GyrRange::Dps1000 => 1000.0,
            GyrRange::Dps2000 => 2000.0,
        }
    }
    fn from_code(c: u8) -> Result<Self, DecodeError> {
        Ok(match c {
            0 => GyrRange::Dps125,
            1 => GyrRange::Dps250,
            2 => GyrRange::Dps500,
            3 => GyrRange::Dps1000,
            4 => GyrRange::Dps2000,
            _ => return Err(DecodeError::BadField("gyr_range")),
        })
    }
}

/// Scale factors from counts to m/s² and °/s, fixed by the configured ranges.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    /// m/s² per count.
    pub acc: f32,
    /// °/s per count.
    pub gyr: f32,
}

impl Scale {
    /// Scale for the given ranges (full scale maps to 32768 counts).
    pub fn new(acc: AccRange, gyr: GyrRange) -> Self {
        Scale {
            acc: acc.full_scale_g() * STANDARD_GRAVITY / 32768.0,
            gyr: gyr.full_scale_dps() / 32768.0,
        }
    }

    /// Applies the scale to a raw sample.
    #[inline]
    pub fn apply(&self, r: RawSample) -> Imu {
        Imu {
            acc_mps2: [
                r.acc[0] as f32 * self.acc,
                r.acc[1] as f32 * self.acc,
                r.acc[2] as f32 * self.acc,
            ],
            gyr_dps: [
                r.gyr[0] as f32 * self.gyr,
                r.gyr[1] as f32 * self.gyr,
                r.gyr[2] as f32 * self.gyr,
            ],
        }
    }

    /// The inverse: counts for a measurement, saturating at the range.
    pub fn to_raw(&self, imu: &Imu) -> RawSample {
        use crate::quantise as q;
        RawSample {
            acc: [
                q(imu.acc_mps2[0], self.acc),
                q(imu.acc_mps2[1], self.acc),
                q(imu.acc_mps2[2], self.acc),
            ],
            gyr: [
                q(imu.gyr_dps[0], self.gyr),
                q(imu.gyr_dps[1], self.gyr),
                q(imu.gyr_dps[2], self.gyr),
            ],
        }
    }
}

/// The config characteristic (5 bytes, read/write).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Output rate, 25..=400 Hz.
    pub rate_hz: u16,
    /// Accelerometer range.
    pub acc_range: AccRange,
    /// Gyroscope range.
    pub gyr_range: GyrRange,
    /// Most samples per notification; 0 = as many as the MTU allows.
    pub max_batch: u8,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            rate_hz: 100,
            acc_range: AccRange::G8,
            gyr_range: GyrRange::Dps1000,
            max_batch: 0,
        }
    }
}

/// Bytes of the config characteristic.
pub const CONFIG_LEN: usize = 5;

impl Config {
    /// Scale factors implied by the ranges.
    pub fn scale(&self) -> Scale {
        Scale::new(self.acc_range, self.gyr_range)
    }

    /// Encodes the characteristic value.
    pub fn encode(&self) -> Result<[u8; CONFIG_LEN], EncodeError> {
        if !(25..=400).contains(&self.rate_hz) {
            return Err(EncodeError::BadField("rate_hz"));
        }
        if self.max_batch as usize > MAX_SAMPLES {
            return Err(EncodeError::BadField("max_batch"));
        }
        let r = self.rate_hz.to_le_bytes();
        Ok([
            r[0],
            r[1],
            self.acc_range as u8,
            self.gyr_range as u8,
            self.max_batch,
        ])
    }

    /// Decodes the characteristic value.
    pub fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        if b.len() != CONFIG_LEN {
            return Err(DecodeError::LengthMismatch {
                expected: CONFIG_LEN,
                got: b.len(),
            });
        }
        let rate_hz = le_u16(b, 0);
        if !(25..=400).contains(&rate_hz) {
            return Err(DecodeError::BadField("rate_hz"));
        }
        if b[4] as usize > MAX_SAMPLES {
            return Err(DecodeError::BadField("max_batch"));
        }
        Ok(Config {
            rate_hz,
            acc_range: AccRange::from_code(b[2])?,
            gyr_range: GyrRange::from_code(b[3])?,
            max_batch: b[4],
        })
    }
}

/// Control opcodes (written to the control characteristic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Start streaming batches.
    Start,
    /// Stop streaming.
    Stop,
    /// Blink the LED for this many seconds so the lifter finds the sensor.
    Identify {
        /// Seconds to blink (1..=60).
        seconds: u8,
    },
    /// Set the sensor clock to zero; the next batch carries CLOCK_REZEROED.
    RezeroClock,
}

impl Control {
    /// Encodes into `out`; returns the length (1 or 2).
    pub fn encode(&self, out: &mut [u8; 2]) -> usize {
        match *self {
            Control::Start => {
                out[0] = 0x01;
                1
            }
            Control::Stop => {
                out[0] = 0x02;
                1
            }
            Control::Identify { seconds } => {
                out[0] = 0x03;
                out[1] = seconds;
                2
            }
            Control::RezeroClock => {
                out[0] = 0x04;
                1
            }
        }
    }

    /// Decodes a control write.
    pub fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        let (&op, rest) = b
            .split_first()
            .ok_or(DecodeError::TooShort { need: 1, got: 0 })?;
        let want = if op == 0x03 { 1 } else { 0 };
        if rest.len() != want {
            return Err(DecodeError::LengthMismatch {
                expected: 1 + want,
                got: b.len(),
            });
        }
        Ok(match op {
            0x01 => Control::Start,
            0x02 => Control::Stop,
            0x03 => {
                if !(1..=60).contains(&rest[0]) {
                    return Err(DecodeError::BadField("identify seconds"));
                }
                Control::Identify { seconds: rest[0] }
            }
            0x04 => Control::RezeroClock,
            other => return Err(DecodeError::UnknownCode(other)),
        })
    }
}

/// The status characteristic (12 bytes, read/notify).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// Battery, 0..=100 %.
    pub battery_pct: u8,
    /// Firmware version major.minor.patch.
    pub firmware: [u8; 3],
    /// Streaming (1) or idle (0).
    pub streaming: bool,
    /// Samples dropped on the sensor since start (FIFO overflow).
    pub dropped: u32,
    /// Sensor clock drift against its reference, in 0.1 ppm (signed).
    pub drift_decippm: i16,
}

/// Bytes of the status characteristic.
pub const STATUS_LEN: usize = 11;

impl Status {
    /// Encodes the characteristic value.
    pub fn encode(&self) -> Result<[u8; STATUS_LEN], EncodeError> {
        if self.battery_pct > 100 {
            return Err(EncodeError::BadField("battery_pct"));
        }
        let d = self.dropped.to_le_bytes();
        let r = self.drift_decippm.to_le_bytes();
        Ok([
            self.battery_pct,
            self.firmware[0],
            self.firmware[1],
            self.firmware[2],
            self.streaming as u8,
            d[0],
            d[1],
            d[2],
            d[3],
            r[0],
            r[1],
        ])
    }

    /// Decodes the characteristic value.
    pub fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        if b.len() != STATUS_LEN {
            return Err(DecodeError::LengthMismatch {
                expected: STATUS_LEN,
                got: b.len(),
            });
        }
        if b[0] > 100 {
            return Err(DecodeError::BadField("battery_pct"));
        }
        if b[4] > 1 {
            return Err(DecodeError::BadField("streaming"));
        }
        Ok(Status {
            battery_pct: b[0],
            firmware: [b[1], b[2], b[3]],
            streaming: b[4] == 1,
            dropped: u32::from_le_bytes([b[5], b[6], b[7], b[8]]),
            drift_decippm: le_i16(b, 9),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mtu_23_carries_one_sample_and_512_carries_42() {
        assert_eq!(samples_per_notification(23), 1);
        assert_eq!(samples_per_notification(185), 14);
        assert_eq!(samples_per_notification(247), 19);
        assert_eq!(samples_per_notification(517), 42);
        assert_eq!(samples_per_notification(5), 0);
    }

    #[test]
    fn period_for_common_rates() {
        assert_eq!(BatchHeader::period_for_rate(100), 1000);
        assert_eq!(BatchHeader::period_for_rate(400), 250);
        assert_eq!(BatchHeader::period_for_rate(25), 4000);
        assert_eq!(BatchHeader::period_for_rate(104), 962);
    }

    #[test]
    fn uuid16_expands_on_the_base() {
        assert_eq!(uuid16(0x180F), 0x0000180f_0000_1000_8000_00805f9b34fb);
    }
}
