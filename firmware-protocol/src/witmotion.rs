//! WitMotion BLE 5 sensors (WT901BLE, WT9011DCL).
//!
//! The sensor notifies on `0000ffe4-…` with 20-byte frames: `55 61` then nine
//! little-endian i16 (acceleration /32768·16 g, angular rate /32768·2000 °/s,
//! angle /32768·180°). A notification may carry several frames, and a frame
//! may be split across notifications, so [`FrameParser`] keeps up to one
//! partial frame between calls. Register replies come as `55 71` frames.
//! Commands are 5 bytes, `FF AA reg lo hi`, written to `0000ffe9-…`.

use crate::{le_i16, le_u16, Imu, STANDARD_GRAVITY};

/// GATT UUIDs of the WitMotion BLE 5 service.
pub mod uuid {
    use crate::medius::uuid16;
    /// The data service.
    pub const SERVICE: u128 = uuid16(0xFFE5);
    /// Notify characteristic: frames.
    pub const NOTIFY: u128 = uuid16(0xFFE4);
    /// Write characteristic: commands.
    pub const WRITE: u128 = uuid16(0xFFE9);
}

/// Bytes of every frame.
pub const FRAME_LEN: usize = 20;
const HEAD: u8 = 0x55;
const KIND_MOTION: u8 = 0x61;
const KIND_REGISTER: u8 = 0x71;

/// One motion frame, scaled.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Motion {
    /// Acceleration and angular rate in SI units.
    pub imu: Imu,
    /// The sensor's own Euler angles (roll, pitch, yaw), degrees.
    pub angle_deg: [f32; 3],
}

/// A decoded frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Frame {
    /// `55 61`: acceleration, angular rate, angle.
    Motion(Motion),
    /// `55 71`: reply to a register read: the first register and 8 values.
    Register {
        /// Address of the first register.
        start: u16,
        /// Eight consecutive register values.
        values: [i16; 8],
    },
}

/// Decodes one complete 20-byte frame.
pub fn decode_frame(f: &[u8; FRAME_LEN]) -> Option<Frame> {
    if f[0] != HEAD {
        return None;
    }
    match f[1] {
        KIND_MOTION => {
            let acc = 16.0 * STANDARD_GRAVITY / 32768.0;
            let gyr = 2000.0 / 32768.0;
            let ang = 180.0 / 32768.0;
            let v = |i: usize| le_i16(f, 2 + 2 * i) as f32;
            Some(Frame::Motion(Motion {
                imu: Imu {
                    acc_mps2: [v(0) * acc, v(1) * acc, v(2) * acc],
                    gyr_dps: [v(3) * gyr, v(4) * gyr, v(5) * gyr],
                },
                angle_deg: [v(6) * ang, v(7) * ang, v(8) * ang],
            }))
        }
        KIND_REGISTER => {
            let mut values = [0i16; 8];
            for (i, v) in values.iter_mut().enumerate() {
                *v = le_i16(f, 4 + 2 * i);
            }
            Some(Frame::Register {
                start: le_u16(f, 2),
                values,
            })
        }
        _ => None,
    }
}

/// Encodes a motion frame from raw counts (for fakes and tests).
pub fn encode_motion(acc: [i16; 3], gyr: [i16; 3], angle: [i16; 3]) -> [u8; FRAME_LEN] {
    let mut f = [0u8; FRAME_LEN];
    f[0] = HEAD;
    f[1] = KIND_MOTION;
    for (i, v) in acc.iter().chain(gyr.iter()).chain(angle.iter()).enumerate() {
        f[2 + 2 * i..4 + 2 * i].copy_from_slice(&v.to_le_bytes());
    }
    f
}

/// Counts for an SI sample at the WitMotion scales (saturating).
pub fn raw_from_imu(imu: &Imu) -> ([i16; 3], [i16; 3]) {
    use crate::quantise as q;
    let a = 16.0 * STANDARD_GRAVITY / 32768.0;
    let g = 2000.0 / 32768.0;
    (
        [
            q(imu.acc_mps2[0], a),
            q(imu.acc_mps2[1], a),
            q(imu.acc_mps2[2], a),
        ],
        [
            q(imu.gyr_dps[0], g),
            q(imu.gyr_dps[1], g),
            q(imu.gyr_dps[2], g),
        ],
    )
}

/// Reassembles frames from notifications of any size and alignment.
///
/// Bytes that cannot start a frame are skipped and counted; after garbage the
/// parser finds the next `55 61`/`55 71` on its own.
#[derive(Debug, Clone)]
pub struct FrameParser {
    buf: [u8; FRAME_LEN],
    fill: usize,
    skipped: u64,
    frames: u64,
}

impl Default for FrameParser {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameParser {
    /// An empty parser.
    pub const fn new() -> Self {
        FrameParser {
            buf: [0; FRAME_LEN],
            fill: 0,
            skipped: 0,
            frames: 0,
        }
    }

    /// Bytes skipped while looking for a frame start.
    pub fn skipped_bytes(&self) -> u64 {
        self.skipped
    }

    /// Frames decoded so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Forgets a partial frame (call after a reconnect).
    pub fn reset(&mut self) {
        self.fill = 0;
    }

    /// Feeds one notification; calls `on_frame` for every complete frame.
    /// Returns the number of frames found.
    pub fn feed(&mut self, mut bytes: &[u8], mut on_frame: impl FnMut(Frame)) -> usize {
        let mut found = 0;
        while !bytes.is_empty() {
            // Fast path: an aligned whole frame straight from the input.
            if self.fill == 0 && bytes.len() >= FRAME_LEN && bytes[0] == HEAD {
                let f: &[u8; FRAME_LEN] = bytes[..FRAME_LEN].try_into().expect("length checked");
                if let Some(frame) = decode_frame(f) {
                    on_frame(frame);
                    found += 1;
                    self.frames += 1;
                    bytes = &bytes[FRAME_LEN..];
                    continue;
                }
            }
            let b = bytes[0];
            bytes = &bytes[1..];
            match self.fill {
                0 if b != HEAD => {
                    self.skipped += 1;
                    continue;
                }
                1 if b != KIND_MOTION && b != KIND_REGISTER => {
                    // Not a frame start: the 0x55 was data. It may itself be a head.
                    self.skipped += 1;
                    if b == HEAD {
                        self.buf[0] = b;
                        self.fill = 1;
                    } else {
                        self.fill = 0;
                        self.skipped += 1;
                    }
                    continue;
                }
                _ => {}
            }
            self.buf[self.fill] = b;
            self.fill += 1;
            if self.fill == FRAME_LEN {
                self.fill = 0;
                if let Some(frame) = decode_frame(&self.buf) {
                    on_frame(frame);
                    found += 1;
                    self.frames += 1;
                }
            }
        }
        found
    }
}

/// Output rates the sensor offers and their codes for register 0x03.
/// Codes 0x01–0x08 per the vendor's table; 0x09 = 100 Hz, 0x0B = 200 Hz.
pub const RATES: [(f32, u8); 10] = [
    (0.2, 0x01),
    (0.5, 0x02),
    (1.0, 0x03),
    (2.0, 0x04),
    (5.0, 0x05),
    (10.0, 0x06),
    (20.0, 0x07),
    (50.0, 0x08),
    (100.0, 0x09),
    (200.0, 0x0B),
];

/// Register numbers used by medius.
pub mod reg {
    /// Save configuration (write 0 to save, 1 to restore defaults).
    pub const SAVE: u8 = 0x00;
    /// Output rate.
    pub const RRATE: u8 = 0x03;
    /// Read a register (the reply comes as a `55 71` frame).
    pub const READ: u8 = 0x27;
    /// Battery voltage register (read via [`READ`]).
    pub const BATTERY: u8 = 0x64;
    /// Unlock key register.
    pub const KEY: u8 = 0x69;
}

/// A 5-byte command `FF AA reg lo hi`.
pub fn command(register: u8, value: u16) -> [u8; 5] {
    let v = value.to_le_bytes();
    [0xFF, 0xAA, register, v[0], v[1]]
}

/// Unlock before writing configuration: `FF AA 69 88 B5`.
pub fn unlock() -> [u8; 5] {
    command(reg::KEY, 0xB588)
}

/// Save the configuration: `FF AA 00 00 00`.
pub fn save() -> [u8; 5] {
    command(reg::SAVE, 0)
}

/// Read register `r`: `FF AA 27 r 00`.
pub fn read_register(r: u8) -> [u8; 5] {
    command(reg::READ, r as u16)
}

/// The highest rate the sensor offers at or below `hz`, and its command.
/// Returns `None` below 0.2 Hz.
pub fn set_rate(hz: f32) -> Option<(f32, [u8; 5])> {
    RATES
        .iter()
        .rev()
        .find(|(r, _)| *r <= hz)
        .map(|&(r, code)| (r, command(reg::RRATE, code as u16)))
}

/// Rate for a code read back from register 0x03.
pub fn rate_of_code(code: u8) -> Option<f32> {
    RATES.iter().find(|(_, c)| *c == code).map(|&(r, _)| r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_match_the_vendor_bytes() {
        assert_eq!(unlock(), [0xFF, 0xAA, 0x69, 0x88, 0xB5]);
        assert_eq!(save(), [0xFF, 0xAA, 0x00, 0x00, 0x00]);
        assert_eq!(set_rate(100.0).unwrap().1, [0xFF, 0xAA, 0x03, 0x09, 0x00]);
        assert_eq!(set_rate(150.0).unwrap().0, 100.0);
        assert_eq!(
            set_rate(400.0).unwrap(),
            (200.0, [0xFF, 0xAA, 0x03, 0x0B, 0x00])
        );
        assert!(set_rate(0.1).is_none());
        assert_eq!(read_register(0x64), [0xFF, 0xAA, 0x27, 0x64, 0x00]);
        assert_eq!(rate_of_code(0x08), Some(50.0));
    }

    #[test]
    fn split_and_packed_frames_and_garbage() {
        let f1 = encode_motion([0, 0, 2048], [10, -10, 0], [0, 0, 0]);
        let f2 = encode_motion([1, 2, 3], [4, 5, 6], [7, 8, 9]);
        let mut stream = [0u8; 2 + 2 * FRAME_LEN + 3];
        stream[0] = 0x55; // a stray head followed by junk
        stream[1] = 0x13;
        stream[2..22].copy_from_slice(&f1);
        stream[22..42].copy_from_slice(&f2);
        stream[42..].copy_from_slice(&[0x55, 0x61, 0x00]);
        for cut in 0..stream.len() {
            let mut p = FrameParser::new();
            let mut got = 0;
            p.feed(&stream[..cut], |_| got += 1);
            p.feed(&stream[cut..], |_| got += 1);
            assert_eq!(got, 2, "cut at {cut}");
        }
    }
}
