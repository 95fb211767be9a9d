//! A fake BlueZ on a private D-Bus daemon, so the real btleplug code path
//! runs in tests without a radio.
//!
//! It serves what btleplug (through bluez-async) reads: the `org.bluez` name,
//! `GetManagedObjects` at `/`, `Adapter1`, `Device1` (Connect sets
//! Connected and ServicesResolved), `GattService1`, `GattCharacteristic1`
//! (ReadValue, WriteValue, StartNotify, StopNotify; notifications as
//! `PropertiesChanged` on `Value`), and introspection with child nodes. Each
//! fake device streams prepared notifications in real time from its first
//! StartNotify, and can drop the link mid-stream and come back later.

use dbus::arg::{PropMap, RefArg, Variant};
use dbus::blocking::stdintf::org_freedesktop_dbus::PropertiesPropertiesChanged;
use dbus::blocking::Connection;
use dbus::channel::{Channel, MatchingReceiver, Sender};
use dbus::message::{MatchRule, SignalArgs};
use dbus::{MethodErr, Path};
use dbus_crossroads::{Crossroads, IfaceToken};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A private `dbus-daemon` (killed on drop).
pub struct Bus {
    child: Child,
    /// Its address, for `DBUS_SYSTEM_BUS_ADDRESS`.
    pub address: String,
}

impl Bus {
    /// Starts `dbus-daemon --session` on a fresh socket.
    pub fn start() -> Bus {
        let mut child = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--nopidfile", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon is on the machine image");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        Bus {
            child,
            address: line.trim().to_string(),
        }
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The fake's adapter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AdapterState {
    /// hci0, powered.
    On,
    /// hci0, powered off and blocked (rfkill): it cannot be turned on.
    Off,
    /// BlueZ runs but has no adapter.
    Missing,
}

/// Which GATT layout a fake device has.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// medius firmware: service, data/config/control/status + battery.
    Medius,
    /// WitMotion BLE 5: ffe5 service, ffe4 notify, ffe9 write.
    WitMotion,
}

/// One fake sensor.
#[derive(Debug, Clone)]
pub struct Device {
    /// Bluetooth address.
    pub address: String,
    /// Advertised name.
    pub name: String,
    /// RSSI.
    pub rssi: i16,
    /// Layout.
    pub kind: Kind,
    /// Notifications: (seconds after the first StartNotify, bytes).
    pub stream: Vec<(f64, Vec<u8>)>,
    /// Drop the link this many seconds into the stream …
    pub drop_at: Option<f64>,
    /// … and refuse connections for this long.
    pub drop_for: f64,
}

#[derive(Debug, Default)]
struct DevState {
    connected: bool,
    resolved: bool,
    notifying: bool,
    start: Option<Instant>,
    next: usize,
    down_until: Option<Instant>,
    dropped: bool,
    writes: Vec<Vec<u8>>,
    connects: u32,
    sent: Vec<Instant>,
}

type Shared = Arc<Mutex<DevState>>;

/// The running fake (stops on drop).
pub struct FakeBluez {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    states: Vec<Shared>,
    /// When each device came back after its drop (for reconnect timing).
    pub back_at: Arc<Mutex<Vec<Option<Instant>>>>,
}

impl FakeBluez {
    /// Serves `devices` on the bus at `address`.
    pub fn start(address: &str, devices: Vec<Device>) -> FakeBluez {
        Self::start_with(address, devices, AdapterState::On)
    }

    /// The same with the adapter powered off, or with no adapter at all.
    pub fn start_with(address: &str, devices: Vec<Device>, adapter: AdapterState) -> FakeBluez {
        let mut ch = Channel::open_private(address).expect("connect to the private bus");
        ch.register().expect("hello");
        let conn = Connection::from(ch);
        conn.request_name("org.bluez", false, true, false)
            .expect("own org.bluez");
        let states: Vec<Shared> = devices.iter().map(|_| Shared::default()).collect();
        let back_at = Arc::new(Mutex::new(vec![None; devices.len()]));
        let stop = Arc::new(AtomicBool::new(false));
        let (stop2, states2, back2) = (stop.clone(), states.clone(), back_at.clone());
        let thread =
            std::thread::spawn(move || serve(conn, devices, adapter, states2, stop2, back2));
        FakeBluez {
            stop,
            thread: Some(thread),
            states,
            back_at,
        }
    }

    /// Values written to a device's characteristics, in order.
    pub fn writes(&self, device: usize) -> Vec<Vec<u8>> {
        self.states[device].lock().unwrap().writes.clone()
    }

    /// When each notification went out on the bus.
    pub fn sent(&self, device: usize) -> Vec<Instant> {
        self.states[device].lock().unwrap().sent.clone()
    }

    /// How many times Connect succeeded.
    pub fn connects(&self, device: usize) -> u32 {
        self.states[device].lock().unwrap().connects
    }
}

impl Drop for FakeBluez {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn dev_path(address: &str) -> String {
    format!("/org/bluez/hci0/dev_{}", address.replace(':', "_"))
}

fn changed(path: &str, iface: &str, props: Vec<(&str, Box<dyn RefArg>)>) -> dbus::Message {
    let mut map: PropMap = HashMap::new();
    for (k, v) in props {
        map.insert(k.to_string(), Variant(v));
    }
    PropertiesPropertiesChanged {
        interface_name: iface.to_string(),
        changed_properties: map,
        invalidated_properties: vec![],
    }
    .to_emit_message(&Path::from(path.to_string()))
}

fn uuid_str(u: u128) -> String {
    uuid::Uuid::from_u128(u).hyphenated().to_string()
}

/// (uuid, flags, value on read, is the data char)
type CharSpec = (u128, &'static [&'static str], Vec<u8>, bool);

fn layout(kind: Kind) -> Vec<(u128, Vec<CharSpec>)> {
    use firmware_protocol::{medius, witmotion};
    match kind {
        Kind::Medius => vec![
            (
                medius::uuid::SERVICE,
                vec![
                    (medius::uuid::DATA, &["notify"][..], vec![], true),
                    (
                        medius::uuid::CONFIG,
                        &["read", "write"][..],
                        medius::Config::default().encode().unwrap().to_vec(),
                        false,
                    ),
                    (medius::uuid::CONTROL, &["write"][..], vec![], false),
                    (
                        medius::uuid::STATUS,
                        &["read", "notify"][..],
                        vec![87, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0],
                        false,
                    ),
                ],
            ),
            (
                medius::uuid::BATTERY_SERVICE,
                vec![(
                    medius::uuid::BATTERY_LEVEL,
                    &["read", "notify"][..],
                    vec![87],
                    false,
                )],
            ),
        ],
        Kind::WitMotion => vec![(
            witmotion::uuid::SERVICE,
            vec![
                (witmotion::uuid::NOTIFY, &["notify"][..], vec![], true),
                (
                    witmotion::uuid::WRITE,
                    &["write-without-response", "write"][..],
                    vec![],
                    false,
                ),
            ],
        )],
    }
}

struct CharData {
    uuid: String,
    service: Path<'static>,
    flags: Vec<String>,
    value: Vec<u8>,
    state: Shared,
}

#[allow(clippy::type_complexity)]
fn serve(
    conn: Connection,
    devices: Vec<Device>,
    adapter_state: AdapterState,
    states: Vec<Shared>,
    stop: Arc<AtomicBool>,
    back_at: Arc<Mutex<Vec<Option<Instant>>>>,
) {
    let mut cr = Crossroads::new();
    let om = cr.object_manager::<()>();
    cr.insert("/", &[om], ());

    let powered = adapter_state == AdapterState::On;
    let adapter: IfaceToken<()> = cr.register("org.bluez.Adapter1", |b| {
        b.property("Address")
            .get(|_, _| Ok("00:1A:7D:DA:71:13".to_string()));
        b.property("AddressType")
            .get(|_, _| Ok("public".to_string()));
        b.property("Name").get(|_, _| Ok("fake-hci0".to_string()));
        b.property("Alias").get(|_, _| Ok("fake-hci0".to_string()));
        b.property("Modalias")
            .get(|_, _| Ok("usb:v1D6Bp0246d0537".to_string()));
        b.property("Powered")
            .get(move |_, _| Ok(powered))
            .set(move |_, _, v: bool| {
                if powered {
                    Ok(Some(v))
                } else {
                    Err(MethodErr::from((
                        "org.bluez.Error.Blocked",
                        "Blocked through rfkill",
                    )))
                }
            });
        b.property("Discovering").get(|_, _| Ok(true));
        b.method(
            "SetDiscoveryFilter",
            ("properties",),
            (),
            |_, _, (_f,): (PropMap,)| Ok(()),
        );
        b.method("StartDiscovery", (), (), |_, _, ()| Ok(()));
        b.method("StopDiscovery", (), (), |_, _, ()| Ok(()));
        b.method(
            "RemoveDevice",
            ("device",),
            (),
            |_, _, (_d,): (Path<'static>,)| Ok(()),
        );
    });
    if adapter_state != AdapterState::Missing {
        cr.insert("/org/bluez/hci0", &[adapter], ());
    }

    struct DevData {
        dev: Device,
        state: Shared,
    }
    let device: IfaceToken<DevData> = cr.register("org.bluez.Device1", |b| {
        b.property("Address")
            .get(|_, d: &mut DevData| Ok(d.dev.address.clone()));
        b.property("AddressType")
            .get(|_, _| Ok("random".to_string()));
        b.property("Name")
            .get(|_, d: &mut DevData| Ok(d.dev.name.clone()));
        b.property("Alias")
            .get(|_, d: &mut DevData| Ok(d.dev.name.clone()));
        b.property("Adapter")
            .get(|_, _| Ok(Path::from("/org/bluez/hci0")));
        b.property("Paired").get(|_, _| Ok(false));
        b.property("Trusted").get(|_, _| Ok(false));
        b.property("Blocked").get(|_, _| Ok(false));
        b.property("LegacyPairing").get(|_, _| Ok(false));
        b.property("RSSI").get(|_, d: &mut DevData| Ok(d.dev.rssi));
        b.property("UUIDs").get(|_, d: &mut DevData| {
            Ok(layout(d.dev.kind)
                .iter()
                .take(1)
                .map(|(u, _)| uuid_str(*u))
                .collect::<Vec<_>>())
        });
        b.property("Connected")
            .get(|_, d: &mut DevData| Ok(d.state.lock().unwrap().connected));
        b.property("ServicesResolved")
            .get(|_, d: &mut DevData| Ok(d.state.lock().unwrap().resolved));
        b.method("Connect", (), (), |ctx, d: &mut DevData, ()| {
            let mut st = d.state.lock().unwrap();
            if st.down_until.is_some_and(|u| Instant::now() < u) {
                return Err(MethodErr::from((
                    "org.bluez.Error.Failed",
                    "le-connection-abort-by-local",
                )));
            }
            st.connected = true;
            st.resolved = true;
            st.connects += 1;
            ctx.push_msg(changed(
                &dev_path(&d.dev.address),
                "org.bluez.Device1",
                vec![
                    ("Connected", Box::new(true)),
                    ("ServicesResolved", Box::new(true)),
                ],
            ));
            Ok(())
        });
        b.method("Disconnect", (), (), |ctx, d: &mut DevData, ()| {
            let mut st = d.state.lock().unwrap();
            st.connected = false;
            st.resolved = false;
            st.notifying = false;
            ctx.push_msg(changed(
                &dev_path(&d.dev.address),
                "org.bluez.Device1",
                vec![
                    ("Connected", Box::new(false)),
                    ("ServicesResolved", Box::new(false)),
                ],
            ));
            Ok(())
        });
    });

    let service: IfaceToken<(String, Path<'static>)> = cr.register("org.bluez.GattService1", |b| {
        b.property("UUID")
            .get(|_, d: &mut (String, Path<'static>)| Ok(d.0.clone()));
        b.property("Primary").get(|_, _| Ok(true));
        b.property("Device")
            .get(|_, d: &mut (String, Path<'static>)| Ok(d.1.clone()));
        // bluez-async's introspection parser trips over an interface with
        // no methods; real BlueZ has none here, the fake has one.
        b.method("Ping", (), (), |_, _, ()| Ok(()));
    });

    let characteristic: IfaceToken<CharData> = cr.register("org.bluez.GattCharacteristic1", |b| {
        b.property("UUID")
            .get(|_, c: &mut CharData| Ok(c.uuid.clone()));
        b.property("Service")
            .get(|_, c: &mut CharData| Ok(c.service.clone()));
        b.property("Flags")
            .get(|_, c: &mut CharData| Ok(c.flags.clone()));
        b.property("Value")
            .get(|_, c: &mut CharData| Ok(c.value.clone()));
        b.property("Notifying")
            .get(|_, c: &mut CharData| Ok(c.state.lock().unwrap().notifying));
        b.method(
            "ReadValue",
            ("options",),
            ("value",),
            |_, c: &mut CharData, (_o,): (PropMap,)| {
                if !c.state.lock().unwrap().connected {
                    return Err(MethodErr::from((
                        "org.bluez.Error.NotConnected",
                        "Not Connected",
                    )));
                }
                Ok((c.value.clone(),))
            },
        );
        b.method(
            "WriteValue",
            ("value", "options"),
            (),
            |_, c: &mut CharData, (v, _o): (Vec<u8>, PropMap)| {
                let mut st = c.state.lock().unwrap();
                if !st.connected {
                    return Err(MethodErr::from((
                        "org.bluez.Error.NotConnected",
                        "Not Connected",
                    )));
                }
                st.writes.push(v);
                Ok(())
            },
        );
        b.method("StartNotify", (), (), |_, c: &mut CharData, ()| {
            let mut st = c.state.lock().unwrap();
            if !st.connected {
                return Err(MethodErr::from((
                    "org.bluez.Error.NotConnected",
                    "Not Connected",
                )));
            }
            st.notifying = true;
            if st.start.is_none() {
                st.start = Some(Instant::now());
            }
            Ok(())
        });
        b.method("StopNotify", (), (), |_, c: &mut CharData, ()| {
            c.state.lock().unwrap().notifying = false;
            Ok(())
        });
    });

    // The data characteristic of each device, for the streaming loop.
    let mut data_paths: Vec<String> = Vec::new();
    for (dev, state) in devices.iter().zip(&states) {
        let dp = dev_path(&dev.address);
        cr.insert(
            dp.clone(),
            &[device],
            DevData {
                dev: dev.clone(),
                state: state.clone(),
            },
        );
        let mut handle = 0x0a;
        let mut data_path = String::new();
        for (suuid, chars) in layout(dev.kind) {
            let sp = format!("{dp}/service{handle:04x}");
            handle += 1;
            cr.insert(
                sp.clone(),
                &[service],
                (uuid_str(suuid), Path::from(dp.clone())),
            );
            for (cuuid, flags, value, is_data) in chars {
                let cp = format!("{sp}/char{handle:04x}");
                handle += 1;
                if is_data {
                    data_path = cp.clone();
                }
                cr.insert(
                    cp,
                    &[characteristic],
                    CharData {
                        uuid: uuid_str(cuuid),
                        service: Path::from(sp.clone()),
                        flags: flags.iter().map(|f| f.to_string()).collect(),
                        value,
                        state: state.clone(),
                    },
                );
            }
        }
        data_paths.push(data_path);
    }

    conn.start_receive(
        MatchRule::new_method_call(),
        Box::new(move |msg, conn| {
            let _ = cr.handle_message(msg, conn);
            true
        }),
    );

    while !stop.load(Ordering::SeqCst) {
        let _ = conn.process(Duration::from_millis(2));
        let now = Instant::now();
        for (i, dev) in devices.iter().enumerate() {
            let mut st = states[i].lock().unwrap();
            let Some(start) = st.start else { continue };
            let elapsed = now.duration_since(start).as_secs_f64();
            if let (Some(at), false) = (dev.drop_at, st.dropped) {
                if elapsed >= at && st.connected {
                    st.dropped = true;
                    st.connected = false;
                    st.resolved = false;
                    st.notifying = false;
                    st.down_until = Some(now + Duration::from_secs_f64(dev.drop_for));
                    back_at.lock().unwrap()[i] = Some(now + Duration::from_secs_f64(dev.drop_for));
                    let _ = conn.send(changed(
                        &dev_path(&dev.address),
                        "org.bluez.Device1",
                        vec![
                            ("Connected", Box::new(false)),
                            ("ServicesResolved", Box::new(false)),
                        ],
                    ));
                }
            }
            // The sensor keeps sampling while nobody listens: those
            // notifications are lost, as on a real radio.
            while st.next < dev.stream.len() && dev.stream[st.next].0 <= elapsed {
                if st.connected && st.notifying {
                    let _ = conn.send(changed(
                        &data_paths[i],
                        "org.bluez.GattCharacteristic1",
                        vec![("Value", Box::new(dev.stream[st.next].1.clone()))],
                    ));
                    st.sent.push(Instant::now());
                }
                st.next += 1;
            }
        }
    }
}
