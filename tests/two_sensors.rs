//! Two sensors at once over Bluetooth (issue 13): two btleplug links to
//! two devices served by one fake BlueZ on a private D-Bus daemon, the real
//! code path, each streaming on its own; one dropping leaves the other be.

mod support;

use medius::source::ble::{BleLink, LinkConfig, LinkEvent, SensorLink};
use medius::source::decode::{medius_notifications, witmotion_notifications, Decoder, StreamStats};
use medius::source::sim::{SimConfig, Simulator};
use medius::{Exercise, Placement, Side};
use std::time::{Duration, Instant};
use support::fake_bluez::{Bus, Device, FakeBluez, Kind};

const ANKLE: &str = "C0:FF:EE:00:00:0A";
const PELVIS: &str = "C0:FF:EE:00:00:0B";

/// `seconds` of a simulated session at 100 Hz from the given placement.
fn samples(placement: Placement, seconds: f64) -> Vec<medius::Sample> {
    let mut cfg = SimConfig::new(Exercise::StandingCableAbduction, placement, Side::Right);
    cfg.sets = 1;
    cfg.rate_hz = 100.0;
    cfg.seed = 4;
    cfg.drop_rate = 0.0;
    cfg.gaps_per_min = 0.0;
    let (sim, _) = Simulator::new(&cfg).unwrap();
    sim.take_while(|s| s.t < seconds).collect()
}

#[derive(Default, Debug)]
struct Seen {
    connects: u32,
    reconnects: u32,
    drops: u32,
    stats: StreamStats,
    /// Data arriving while the other link was down.
    while_other_down: u64,
}

#[test]
fn two_links_stream_at_once_and_a_drop_on_one_leaves_the_other() {
    let bus = Bus::start();
    let ankle = samples(Placement::Ankle, 6.0);
    let pelvis = samples(Placement::Pelvis, 6.0);
    let fake = FakeBluez::start(
        &bus.address,
        vec![
            Device {
                address: ANKLE.into(),
                name: "medius-ankle".into(),
                rssi: -50,
                kind: Kind::Medius,
                stream: medius_notifications(
                    &ankle,
                    &firmware_protocol::medius::Config::default(),
                    5,
                ),
                drop_at: None,
                drop_for: 0.0,
            },
            Device {
                address: PELVIS.into(),
                name: "WT901BLE-pelvis".into(),
                rssi: -60,
                kind: Kind::WitMotion,
                stream: witmotion_notifications(&pelvis),
                // The pelvis link drops 2 s into its stream, for 2 s.
                drop_at: Some(2.0),
                drop_for: 2.0,
            },
        ],
    );
    // This test binary is the only user of the variable: btleplug (through
    // bluez-async) reads it to find the system bus.
    std::env::set_var("DBUS_SYSTEM_BUS_ADDRESS", &bus.address);
    let link = |target: &str| {
        BleLink::start(LinkConfig {
            target: target.into(),
            rate_hz: 100,
            find_timeout_s: 5.0,
            give_up_s: 10.0,
            allow: Vec::new(),
        })
    };
    let mut links = [link(ANKLE), link(PELVIS)];
    let mut decoders: [Option<Decoder>; 2] = [None, None];
    let mut seen = [Seen::default(), Seen::default()];
    let mut down = [false, false];
    let mut scratch = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(14);
    while Instant::now() < deadline {
        for i in 0..2 {
            while let Some(ev) = links[i].next_event(Duration::from_millis(5)) {
                match ev {
                    LinkEvent::Connected {
                        protocol,
                        rate_hz,
                        reconnect,
                        ..
                    } => {
                        seen[i].connects += 1;
                        down[i] = false;
                        if reconnect {
                            seen[i].reconnects += 1;
                            if let Some(d) = decoders[i].as_mut() {
                                d.relink();
                            }
                        } else {
                            decoders[i] = Decoder::new(
                                protocol,
                                rate_hz,
                                &firmware_protocol::medius::Config::default(),
                            );
                        }
                    }
                    LinkEvent::Data { bytes, host_s } => {
                        let d = decoders[i].as_mut().expect("data after a connect");
                        let before = seen[i].stats.samples;
                        d.feed(&bytes, host_s, &mut seen[i].stats, &mut scratch);
                        scratch.clear();
                        if down[1 - i] {
                            seen[i].while_other_down += seen[i].stats.samples - before;
                        }
                    }
                    LinkEvent::Disconnected { .. } => {
                        seen[i].drops += 1;
                        down[i] = true;
                    }
                    LinkEvent::GaveUp { .. } => panic!("link {i} gave up: {seen:?}"),
                    LinkEvent::Failed(e) => panic!("link {i} failed: {e}"),
                }
            }
        }
        // Both streams played out, the pelvis one after its outage.
        let ankle_done = seen[0].stats.samples as usize >= ankle.len() - 5;
        let pelvis_done = seen[1].reconnects == 1
            && seen[1].stats.samples + seen[1].stats.lost >= pelvis.len() as u64 - 5;
        if ankle_done && pelvis_done {
            break;
        }
    }
    for l in links.iter_mut() {
        l.close();
    }
    drop(fake);
    eprintln!("{seen:#?}");
    // The ankle never dropped, and every one of its samples arrived, also
    // while the pelvis link was down.
    assert_eq!((seen[0].connects, seen[0].drops), (1, 0), "{seen:?}");
    assert_eq!(seen[0].stats.lost, 0, "{seen:?}");
    assert!(
        seen[0].stats.samples as usize >= ankle.len() - 5,
        "ankle {} of {}",
        seen[0].stats.samples,
        ankle.len()
    );
    assert!(
        seen[0].while_other_down > 100,
        "the ankle streamed through the pelvis outage: {seen:?}"
    );
    // The pelvis dropped once, came back, and its outage is counted lost.
    assert_eq!(
        (seen[1].connects, seen[1].reconnects, seen[1].drops),
        (2, 1, 1),
        "{seen:?}"
    );
    assert!(seen[1].stats.samples > 100, "{seen:?}");
}
