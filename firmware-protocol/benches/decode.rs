//! Decoding cost per sample: medius batches, WitMotion frames, Thingy raw.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use firmware_protocol::host::{Delivery, Reassembler};
use firmware_protocol::medius::{self, AccRange, BatchHeader, GyrRange, RawSample, Scale};
use firmware_protocol::{thingy, witmotion};

const BATCHES: usize = 1000;

fn medius_stream(per: usize) -> Vec<Vec<u8>> {
    (0..BATCHES)
        .map(|k| {
            let samples: Vec<RawSample> = (0..per)
                .map(|i| RawSample {
                    acc: [i as i16, 4096, -20],
                    gyr: [k as i16, 3, -3],
                })
                .collect();
            let h = BatchHeader {
                flags: 0,
                seq: k as u16,
                t0_us: ((k * per * 5000) % (1 << 24)) as u32,
                period_10us: 500,
                count: per as u8,
            };
            let mut out = vec![0u8; h.len()];
            medius::encode_batch(&h, &samples, &mut out).unwrap();
            out
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let scale = Scale::new(AccRange::G8, GyrRange::Dps1000);
    let mut g = c.benchmark_group("decode");
    for per in [1usize, 19, 42] {
        let stream = medius_stream(per);
        g.throughput(Throughput::Elements((BATCHES * per) as u64));
        g.bench_function(format!("medius_decode_{per}_per_batch"), |b| {
            b.iter(|| {
                let mut acc = 0.0f32;
                for n in &stream {
                    if let Ok(batch) = medius::decode_batch(n) {
                        for s in batch.samples(scale) {
                            acc += s.acc_mps2[0];
                        }
                    }
                }
                black_box(acc)
            })
        });
        g.bench_function(format!("medius_reassemble_{per}_per_batch"), |b| {
            b.iter(|| {
                let mut r = Reassembler::new(scale);
                let mut acc = 0.0f32;
                for (k, n) in stream.iter().enumerate() {
                    if let Ok(Delivery::Samples { samples, .. }) =
                        r.push(n, k as f64 * 0.005 * per as f64)
                    {
                        for s in samples {
                            acc += s.imu.acc_mps2[0] + s.t_s as f32;
                        }
                    }
                }
                black_box(acc)
            })
        });
    }
    let mut wit = Vec::new();
    for k in 0..BATCHES * 5 {
        wit.extend_from_slice(&witmotion::encode_motion(
            [k as i16, 2, 3],
            [4, 5, 6],
            [7, 8, 9],
        ));
    }
    g.throughput(Throughput::Elements((BATCHES * 5) as u64));
    g.bench_function("witmotion_frames_244B_notifications", |b| {
        b.iter(|| {
            let mut p = witmotion::FrameParser::new();
            let mut acc = 0.0f32;
            for chunk in wit.chunks(244) {
                p.feed(chunk, |f| {
                    if let witmotion::Frame::Motion(m) = f {
                        acc += m.imu.acc_mps2[0];
                    }
                });
            }
            black_box(acc)
        })
    });
    let raw = thingy::encode_raw([1, 2, 1024], [3, 4, 5], [6, 7, 8]);
    g.throughput(Throughput::Elements(BATCHES as u64));
    g.bench_function("thingy_raw", |b| {
        b.iter(|| {
            let mut acc = 0.0f32;
            for _ in 0..BATCHES {
                acc += thingy::decode_raw(black_box(&raw)).unwrap().imu.acc_mps2[2];
            }
            black_box(acc)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
