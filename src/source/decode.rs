//! Notification bytes → timestamped samples, per protocol (firmware-protocol
//! does the bytes; this keeps the per-stream state). Knows nothing of BLE.

use crate::Sample;
use firmware_protocol::host::{ArrivalClock, Delivery, Reassembler};
use firmware_protocol::medius::{self, Config};
use firmware_protocol::{thingy, witmotion, Imu, Protocol};

fn sample(t: f64, imu: &Imu) -> Sample {
    Sample::new(t, imu.acc_mps2.map(f64::from), imu.gyr_dps.map(f64::from))
}

/// Per-stream decoder state.
pub enum Decoder {
    /// medius batches: sequence numbers and sensor timestamps.
    Medius(Reassembler),
    /// WitMotion frames: times from arrival.
    WitMotion {
        /// Frame reassembly.
        parser: witmotion::FrameParser,
        /// Arrival clock.
        clock: ArrivalClock,
    },
    /// Thingy:52 raw motion: times from arrival.
    Thingy(ArrivalClock),
}

/// What a decoder has seen go wrong.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct StreamStats {
    /// Samples delivered.
    pub samples: u64,
    /// Samples lost on the way (from sequence numbers, timestamps or gaps).
    pub lost: u64,
    /// Notifications that did not decode.
    pub malformed: u64,
    /// Notifications received twice.
    pub duplicates: u64,
}

impl Decoder {
    /// A decoder for a protocol at a rate. `None` for protocols medius
    /// recognises but cannot read yet.
    pub fn new(protocol: Protocol, rate_hz: f64, config: &Config) -> Option<Self> {
        Some(match protocol {
            Protocol::Medius => Decoder::Medius(Reassembler::new(config.scale())),
            Protocol::WitMotion => Decoder::WitMotion {
                parser: witmotion::FrameParser::new(),
                clock: ArrivalClock::new(rate_hz),
            },
            Protocol::Thingy52 => Decoder::Thingy(ArrivalClock::new(rate_hz)),
            Protocol::MetaMotion => return None,
        })
    }

    /// After a reconnect: forget partial frames and re-anchor arrival clocks
    /// (the medius stream needs nothing: its timestamps carry over).
    pub fn relink(&mut self) {
        match self {
            Decoder::Medius(_) => {}
            Decoder::WitMotion { parser, clock } => {
                parser.reset();
                clock.relink();
            }
            Decoder::Thingy(clock) => clock.relink(),
        }
    }

    /// Decodes one notification that arrived at `host_s`; appends samples.
    pub fn feed(
        &mut self,
        bytes: &[u8],
        host_s: f64,
        stats: &mut StreamStats,
        out: &mut Vec<Sample>,
    ) {
        match self {
            Decoder::Medius(r) => match r.push(bytes, host_s) {
                Ok(Delivery::Samples { lost, samples }) => {
                    stats.lost += lost;
                    for s in samples {
                        out.push(sample(s.t_s, &s.imu));
                        stats.samples += 1;
                    }
                }
                Ok(Delivery::Duplicate) => stats.duplicates += 1,
                Ok(Delivery::Late) => {}
                Err(_) => stats.malformed += 1,
            },
            Decoder::WitMotion { parser, clock } => {
                let mut imus: Vec<Imu> = Vec::new();
                parser.feed(bytes, |f| {
                    if let witmotion::Frame::Motion(m) = f {
                        imus.push(m.imu);
                    }
                });
                if imus.is_empty() {
                    return;
                }
                let (lost, stamped) = clock.stamp(host_s, &imus);
                stats.lost += lost;
                for s in stamped {
                    out.push(sample(s.t_s, &s.imu));
                    stats.samples += 1;
                }
            }
            Decoder::Thingy(clock) => match thingy::decode_raw(bytes) {
                Ok(raw) => {
                    let (lost, stamped) = clock.stamp(host_s, std::slice::from_ref(&raw.imu));
                    stats.lost += lost;
                    for s in stamped {
                        out.push(sample(s.t_s, &s.imu));
                        stats.samples += 1;
                    }
                }
                Err(_) => stats.malformed += 1,
            },
        }
    }
}

/// Encodes samples as a medius sensor would send them (fakes, tests).
pub fn medius_notifications(
    samples: &[Sample],
    config: &Config,
    per: usize,
) -> Vec<(f64, Vec<u8>)> {
    let scale = config.scale();
    let period_10us = medius::BatchHeader::period_for_rate(config.rate_hz);
    let per = per.clamp(1, medius::MAX_SAMPLES);
    samples
        .chunks(per)
        .enumerate()
        .map(|(k, chunk)| {
            let raws: Vec<medius::RawSample> = chunk
                .iter()
                .map(|s| {
                    scale.to_raw(&Imu {
                        acc_mps2: [s.acc.x as f32, s.acc.y as f32, s.acc.z as f32],
                        gyr_dps: [s.gyr.x as f32, s.gyr.y as f32, s.gyr.z as f32],
                    })
                })
                .collect();
            let t0_us = (chunk[0].t * 1e6).round().max(0.0) as u64;
            let h = medius::BatchHeader {
                flags: 0,
                seq: k as u16,
                t0_us: (t0_us % medius::CLOCK_WRAP_US) as u32,
                period_10us,
                count: chunk.len() as u8,
            };
            let mut bytes = vec![0u8; h.len()];
            medius::encode_batch(&h, &raws, &mut bytes).expect("valid batch");
            (chunk.last().expect("non-empty chunk").t, bytes)
        })
        .collect()
}

/// Encodes samples as WitMotion frames, one per notification (fakes, tests).
pub fn witmotion_notifications(samples: &[Sample]) -> Vec<(f64, Vec<u8>)> {
    samples
        .iter()
        .map(|s| {
            let (acc, gyr) = witmotion::raw_from_imu(&Imu {
                acc_mps2: [s.acc.x as f32, s.acc.y as f32, s.acc.z as f32],
                gyr_dps: [s.gyr.x as f32, s.gyr.y as f32, s.gyr.z as f32],
            });
            (s.t, witmotion::encode_motion(acc, gyr, [0, 0, 0]).to_vec())
        })
        .collect()
}
