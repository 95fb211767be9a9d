//! Nordic Thingy:52 motion service (base UUID `EF68xxxx-9B35-4933-9B10-52FFA9740042`).
//!
//! - `0406` raw data (notify): 9 × i16 LE: acceleration Q6.10 g (/1024),
//!   angular rate Q11.5 °/s (/32), compass Q12.4 µT (/16).
//! - `0404` quaternion (notify): 4 × i32 LE, Q2.30, w x y z.
//! - `0401` motion config (read/write): u16 step counter interval ms, u16
//!   temperature compensation interval ms, u16 magnetometer compensation
//!   interval ms, u16 motion processing frequency Hz, u8 wake on motion.
//!
//! The raw characteristic carries no timestamp; pair it with
//! [`crate::host::ArrivalClock`].

use crate::{le_i16, le_u16, DecodeError, EncodeError, Imu, STANDARD_GRAVITY};

/// A Thingy UUID from its 16-bit part.
pub const fn uuid(part: u16) -> u128 {
    0xEF68_0000_9B35_4933_9B10_52FF_A974_0042 | ((part as u128) << 96)
}

/// UUIDs used by medius.
pub mod uuids {
    use super::uuid;
    /// Configuration service (advertised).
    pub const CONFIGURATION_SERVICE: u128 = uuid(0x0100);
    /// Motion service.
    pub const MOTION_SERVICE: u128 = uuid(0x0400);
    /// Motion config characteristic.
    pub const MOTION_CONFIG: u128 = uuid(0x0401);
    /// Quaternion characteristic.
    pub const QUATERNION: u128 = uuid(0x0404);
    /// Raw data characteristic.
    pub const RAW: u128 = uuid(0x0406);
}

/// Bytes of a raw data notification.
pub const RAW_LEN: usize = 18;

/// One raw motion notification, scaled.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Raw {
    /// Acceleration and angular rate.
    pub imu: Imu,
    /// Magnetic field, µT.
    pub compass_ut: [f32; 3],
}

/// Decodes the raw data characteristic.
pub fn decode_raw(b: &[u8]) -> Result<Raw, DecodeError> {
    if b.len() != RAW_LEN {
        return Err(DecodeError::LengthMismatch {
            expected: RAW_LEN,
            got: b.len(),
        });
    }
    let v = |i: usize| le_i16(b, 2 * i) as f32;
    let a = STANDARD_GRAVITY / 1024.0;
    Ok(Raw {
        imu: Imu {
            acc_mps2: [v(0) * a, v(1) * a, v(2) * a],
            gyr_dps: [v(3) / 32.0, v(4) / 32.0, v(5) / 32.0],
        },
        compass_ut: [v(6) / 16.0, v(7) / 16.0, v(8) / 16.0],
    })
}

/// Encodes the raw characteristic from counts (for fakes and tests).
pub fn encode_raw(acc: [i16; 3], gyr: [i16; 3], compass: [i16; 3]) -> [u8; RAW_LEN] {
    let mut out = [0u8; RAW_LEN];
    for (i, v) in acc.iter().chain(&gyr).chain(&compass).enumerate() {
        out[2 * i..2 * i + 2].copy_from_slice(&v.to_le_bytes());
    }
    out
}

/// Decodes the quaternion characteristic into (w, x, y, z).
pub fn decode_quaternion(b: &[u8]) -> Result<[f64; 4], DecodeError> {
    if b.len() != 16 {
        return Err(DecodeError::LengthMismatch {
            expected: 16,
            got: b.len(),
        });
    }
    let mut q = [0.0; 4];
    for (i, v) in q.iter_mut().enumerate() {
        let raw = i32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]]);
        *v = raw as f64 / (1u32 << 30) as f64;
    }
    Ok(q)
}

/// The motion config characteristic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MotionConfig {
    /// Step counter interval, ms (100..=5000).
    pub step_interval_ms: u16,
    /// Temperature compensation interval, ms (100..=5000).
    pub temp_comp_interval_ms: u16,
    /// Magnetometer compensation interval, ms (100..=1000).
    pub mag_comp_interval_ms: u16,
    /// Motion processing frequency, Hz (5..=200): the raw data rate.
    pub motion_freq_hz: u16,
    /// Wake on motion.
    pub wake_on_motion: bool,
}

impl Default for MotionConfig {
    /// The firmware's defaults, except the motion rate medius wants (100 Hz).
    fn default() -> Self {
        MotionConfig {
            step_interval_ms: 100,
            temp_comp_interval_ms: 100,
            mag_comp_interval_ms: 100,
            motion_freq_hz: 100,
            wake_on_motion: true,
        }
    }
}

/// Bytes of the motion config characteristic.
pub const MOTION_CONFIG_LEN: usize = 9;

impl MotionConfig {
    /// Encodes the characteristic value.
    pub fn encode(&self) -> Result<[u8; MOTION_CONFIG_LEN], EncodeError> {
        if !(5..=200).contains(&self.motion_freq_hz) {
            return Err(EncodeError::BadField("motion_freq_hz"));
        }
        let mut out = [0u8; MOTION_CONFIG_LEN];
        out[0..2].copy_from_slice(&self.step_interval_ms.to_le_bytes());
        out[2..4].copy_from_slice(&self.temp_comp_interval_ms.to_le_bytes());
        out[4..6].copy_from_slice(&self.mag_comp_interval_ms.to_le_bytes());
        out[6..8].copy_from_slice(&self.motion_freq_hz.to_le_bytes());
        out[8] = self.wake_on_motion as u8;
        Ok(out)
    }

    /// Decodes the characteristic value.
    pub fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        if b.len() != MOTION_CONFIG_LEN {
            return Err(DecodeError::LengthMismatch {
                expected: MOTION_CONFIG_LEN,
                got: b.len(),
            });
        }
        if b[8] > 1 {
            return Err(DecodeError::BadField("wake_on_motion"));
        }
        let freq = le_u16(b, 6);
        if !(5..=200).contains(&freq) {
            return Err(DecodeError::BadField("motion_freq_hz"));
        }
        Ok(MotionConfig {
            step_interval_ms: le_u16(b, 0),
            temp_comp_interval_ms: le_u16(b, 2),
            mag_comp_interval_ms: le_u16(b, 4),
            motion_freq_hz: freq,
            wake_on_motion: b[8] == 1,
        })
    }
}
