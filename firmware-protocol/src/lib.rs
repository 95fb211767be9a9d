//! medius' sensor wire format and the frame codecs of the sensors people own.
//!
//! Built `#![no_std]` without allocation so that sensor firmware can share it
//! with the host. Everything here works on borrowed byte slices and fixed-size
//! state:
//!
//! - [`medius`]: our own GATT service: sequence-numbered, time-stamped batches
//!   of 6-axis samples, plus config, control and status characteristics
//!   (byte diagrams in `PROTOCOL.md`).
//! - [`witmotion`]: WitMotion BLE 5 (WT901BLE, WT9011DCL) `55 61` frames,
//!   split or packed across notifications, and their commands.
//! - [`thingy`]: Nordic Thingy:52 raw motion, quaternion and motion config.
//! - [`host`]: what the host needs on top: batch reassembly (loss, duplicates,
//!   clock unwrap, drift) and an arrival clock for streams without timestamps.
//! - [`recognize`]: which protocol an advertisement speaks.
#![cfg_attr(not(feature = "std"), no_std)]
#![warn(missing_docs)]

pub mod host;
pub mod medius;
pub mod recognize;
pub mod thingy;
pub mod witmotion;

pub use recognize::{recognize, Protocol};

/// Standard gravity, m/s² per g.
pub const STANDARD_GRAVITY: f32 = 9.806_65;

/// One 6-axis sample in SI-ish units: specific force in m/s², rate in °/s.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Imu {
    /// Acceleration (specific force), m/s², sensor axes.
    pub acc_mps2: [f32; 3],
    /// Angular rate, °/s, sensor axes.
    pub gyr_dps: [f32; 3],
}

/// A sample with the time it was taken, in seconds on the stream's clock.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TimedImu {
    /// Seconds since the stream began (monotonic, non-decreasing).
    pub t_s: f64,
    /// The measurement.
    pub imu: Imu,
}

/// Why bytes could not be decoded. Every decoder returns these instead of
/// panicking; none of them allocates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than the message needs.
    TooShort {
        /// Bytes the message needs.
        need: usize,
        /// Bytes that arrived.
        got: usize,
    },
    /// Length does not match what the header announces.
    LengthMismatch {
        /// Bytes the header implies.
        expected: usize,
        /// Bytes that arrived.
        got: usize,
    },
    /// A protocol version this build does not speak.
    UnsupportedVersion(u8),
    /// A field holds a value outside its documented range.
    BadField(&'static str),
    /// An opcode or code the protocol does not define.
    UnknownCode(u8),
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DecodeError::TooShort { need, got } => {
                write!(f, "message too short: {got} bytes, need {need}")
            }
            DecodeError::LengthMismatch { expected, got } => {
                write!(f, "length {got} does not match the header ({expected})")
            }
            DecodeError::UnsupportedVersion(v) => write!(f, "unsupported protocol version {v}"),
            DecodeError::BadField(name) => write!(f, "field {name} out of range"),
            DecodeError::UnknownCode(c) => write!(f, "unknown code 0x{c:02x}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DecodeError {}

/// Why a message could not be encoded into the buffer given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeError {
    /// The output buffer is smaller than the message.
    BufferTooSmall {
        /// Bytes the message needs.
        need: usize,
    },
    /// A field holds a value the wire format cannot carry.
    BadField(&'static str),
}

impl core::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            EncodeError::BufferTooSmall { need } => write!(f, "buffer too small: need {need}"),
            EncodeError::BadField(name) => write!(f, "field {name} out of range"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for EncodeError {}

#[inline]
pub(crate) fn le_i16(b: &[u8], at: usize) -> i16 {
    i16::from_le_bytes([b[at], b[at + 1]])
}

#[inline]
pub(crate) fn le_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

/// Rounds to the nearest integer without `std` (`f64::round` needs libm).
#[inline]
pub(crate) fn round_i64(x: f64) -> i64 {
    if x >= 0.0 {
        (x + 0.5) as i64
    } else {
        (x - 0.5) as i64
    }
}

/// `x / per` rounded to the nearest count, saturating at the i16 range; NaN → 0.
pub(crate) fn quantise(x: f32, per: f32) -> i16 {
    let c = x / per;
    if c.is_nan() {
        0
    } else if c >= 32767.0 {
        32767
    } else if c <= -32768.0 {
        -32768
    } else if c >= 0.0 {
        (c + 0.5) as i16
    } else {
        (c - 0.5) as i16
    }
}
