//! Decodes every file in tests/vectors and checks each field.

use firmware_protocol::medius::{self, AccRange, Config, Control, GyrRange, Scale, Status};
use firmware_protocol::{thingy, witmotion};

fn load(name: &str) -> Vec<Vec<u8>> {
    // The runtime value first: a test binary can outlive the checkout it was
    // built in when target/ is shared.
    let dir = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
    let path = format!("{dir}/tests/vectors/{name}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            l.split_whitespace()
                .map(|h| u8::from_str_radix(h, 16).expect("hex byte"))
                .collect()
        })
        .collect()
}

fn close(a: f32, b: f32, tol: f32) {
    assert!((a - b).abs() <= tol, "{a} vs {b}");
}

#[test]
fn medius_batch_mtu23() {
    let v = load("medius-batch-mtu23.hex");
    assert_eq!(v[0].len(), 20);
    let b = medius::decode_batch(&v[0]).unwrap();
    assert_eq!(b.header.count, 1);
    assert_eq!(b.header.flags, 0);
    assert_eq!(b.header.seq, 0x1234);
    assert_eq!(b.header.t0_us, 0x0a0b0c);
    assert_eq!(b.header.period_10us, 1000);
    let s = b.raw(0);
    assert_eq!(s.acc, [0, 4096, -4096]);
    assert_eq!(s.gyr, [100, -100, 32767]);
    let imu = b
        .samples(Scale::new(AccRange::G8, GyrRange::Dps1000))
        .next()
        .unwrap();
    close(imu.acc_mps2[1], 9.80665, 1e-4);
    close(imu.gyr_dps[2], 999.97, 0.01);
    let mut out = [0u8; 20];
    assert_eq!(medius::encode_batch(&b.header, &[s], &mut out), Ok(20));
    assert_eq!(&out[..], &v[0][..]);
}

#[test]
fn medius_batch_three_with_flags_and_wrap() {
    let v = load("medius-batch-3.hex");
    let b = medius::decode_batch(&v[0]).unwrap();
    assert_eq!(b.header.count, 3);
    assert_eq!(
        b.header.flags,
        medius::flags::OVERFLOW | medius::flags::SATURATED
    );
    assert_eq!(b.header.seq, 0xffff);
    assert_eq!(b.header.t0_us, 0xfffff0);
    assert_eq!(b.header.period_10us, 250);
    let raws: Vec<_> = b.raw_samples().collect();
    assert_eq!(raws[1].acc, [-1, -2, -3]);
    assert_eq!(raws[2].acc, [32767, -32768, 0]);
    assert_eq!(raws[2].gyr, [0, -32768, 32767]);
    // One byte short, one byte long: refused.
    assert!(medius::decode_batch(&v[0][..v[0].len() - 1]).is_err());
    let mut long = v[0].clone();
    long.push(0);
    assert!(medius::decode_batch(&long).is_err());
}

#[test]
fn medius_config_control_status() {
    let c = Config::decode(&load("medius-config.hex")[0]).unwrap();
    assert_eq!(
        c,
        Config {
            rate_hz: 200,
            acc_range: AccRange::G8,
            gyr_range: GyrRange::Dps1000,
            max_batch: 0
        }
    );
    assert_eq!(c.encode().unwrap().to_vec(), load("medius-config.hex")[0]);

    let ctl: Vec<_> = load("medius-control.hex")
        .iter()
        .map(|b| Control::decode(b).unwrap())
        .collect();
    assert_eq!(
        ctl,
        [
            Control::Start,
            Control::Stop,
            Control::Identify { seconds: 5 },
            Control::RezeroClock
        ]
    );
    for (c, bytes) in ctl.iter().zip(load("medius-control.hex")) {
        let mut out = [0u8; 2];
        let n = c.encode(&mut out);
        assert_eq!(&out[..n], &bytes[..]);
    }

    let s = Status::decode(&load("medius-status.hex")[0]).unwrap();
    assert_eq!(s.battery_pct, 87);
    assert_eq!(s.firmware, [1, 2, 3]);
    assert!(s.streaming);
    assert_eq!(s.dropped, 42);
    assert_eq!(s.drift_decippm, -153);
    assert_eq!(s.encode().unwrap().to_vec(), load("medius-status.hex")[0]);
}

#[test]
fn witmotion_frames() {
    let mut frames = Vec::new();
    let mut p = witmotion::FrameParser::new();
    for n in load("witmotion-motion.hex") {
        p.feed(&n, |f| frames.push(f));
    }
    let witmotion::Frame::Motion(m) = frames[0] else {
        panic!("{:?}", frames[0])
    };
    close(m.imu.acc_mps2[2], 9.80665, 1e-4);
    close(m.imu.gyr_dps[2], 10.009, 1e-3);
    close(m.angle_deg[2], 90.0, 1e-4);

    let mut frames = Vec::new();
    let mut p = witmotion::FrameParser::new();
    let notes = load("witmotion-packed-split.hex");
    assert_eq!(notes.iter().map(Vec::len).collect::<Vec<_>>(), [7, 25, 8]);
    for n in &notes {
        p.feed(n, |f| frames.push(f));
    }
    assert_eq!(frames.len(), 2);
    let witmotion::Frame::Motion(m) = frames[1] else {
        panic!()
    };
    close(m.imu.acc_mps2[0], -9.80665, 1e-4);
    close(m.imu.acc_mps2[1], 4.903, 1e-3);
    close(m.imu.gyr_dps[0], -20.02, 0.01);
    assert_eq!(p.skipped_bytes(), 0);

    let mut frames = Vec::new();
    witmotion::FrameParser::new().feed(&load("witmotion-register.hex")[0], |f| frames.push(f));
    assert_eq!(
        frames,
        [witmotion::Frame::Register {
            start: 0x64,
            values: [395, 0, 0, 0, 0, 0, 0, 0]
        }]
    );
}

#[test]
fn witmotion_commands() {
    let v = load("witmotion-commands.hex");
    assert_eq!(v[0], witmotion::unlock());
    assert_eq!(v[1], witmotion::set_rate(100.0).unwrap().1);
    assert_eq!(v[2], witmotion::set_rate(50.0).unwrap().1);
    assert_eq!(v[3], witmotion::save());
    assert_eq!(v[4], witmotion::read_register(witmotion::reg::BATTERY));
}

#[test]
fn thingy_messages() {
    let r = thingy::decode_raw(&load("thingy-raw.hex")[0]).unwrap();
    close(r.imu.acc_mps2[2], 9.80665, 1e-4);
    assert_eq!(r.imu.gyr_dps, [10.0, -1.0, 0.0]);
    assert_eq!(r.compass_ut, [50.0, -10.0, 1.0]);
    assert_eq!(
        thingy::encode_raw([0, 0, 1024], [320, -32, 0], [800, -160, 16]).to_vec(),
        load("thingy-raw.hex")[0]
    );
    let q = thingy::decode_quaternion(&load("thingy-quaternion.hex")[0]).unwrap();
    assert_eq!(q, [1.0, 0.0, 0.0, -0.5]);
    let c = thingy::MotionConfig::decode(&load("thingy-motion-config.hex")[0]).unwrap();
    assert_eq!(c.motion_freq_hz, 100);
    assert_eq!(c.temp_comp_interval_ms, 500);
    assert!(c.wake_on_motion);
    assert_eq!(
        c.encode().unwrap().to_vec(),
        load("thingy-motion-config.hex")[0]
    );
}
