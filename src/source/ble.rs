//! Bluetooth LE through btleplug (BlueZ over D-Bus on Linux): scan, connect,
//! configure, subscribe, and survive drop-outs. The only module that knows
//! about BLE: above it there are [`LinkEvent`]s carrying notification bytes
//! and host arrival times ([`SensorLink`]), decoded by `decode.rs`.

use btleplug::api::{
    Central, CentralEvent, CentralState, Characteristic, Manager as _, Peripheral as _, ScanFilter,
    WriteType,
};
use btleplug::platform::{Adapter, Manager, Peripheral};
use firmware_protocol::{medius, recognize, thingy, witmotion, Protocol};
use futures::StreamExt;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Why the link could not be made. All but `Bluetooth` are the user's to fix.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BleError {
    /// No BlueZ on the system bus.
    #[error("cannot reach Bluetooth (BlueZ) over D-Bus: is bluetoothd running? (`systemctl start bluetooth`) [{0}]")]
    NoBluez(String),
    /// BlueZ is there but has no adapter.
    #[error("no Bluetooth adapter found: plug one in or check `bluetoothctl list`")]
    NoAdapter,
    /// The adapter is powered off.
    #[error("the Bluetooth adapter is off: turn it on with `bluetoothctl power on`")]
    AdapterOff,
    /// D-Bus refused us.
    #[error("not allowed to use Bluetooth: add your user to the `bluetooth` group and log in again [{0}]")]
    Permission(String),
    /// The sensor asked for never showed up.
    #[error("sensor '{target}' not found within {seconds:.0} s: is it on, charged and in range? (`medius scan` lists what is around)")]
    NotFound {
        /// Address or name asked for.
        target: String,
        /// How long we looked.
        seconds: f64,
    },
    /// The device is not in the configured allow-list.
    #[error("{0} is not one of your configured sensors; add its address to the config to use it")]
    NotAllowed(String),
    /// The device speaks nothing we know.
    #[error("{0} does not speak a protocol medius knows (medius firmware, WitMotion, Thingy:52)")]
    UnknownProtocol(String),
    /// Recognised but not readable yet.
    #[error("{0} is a {1} sensor: recognised, but medius cannot read it yet")]
    Unsupported(String, &'static str),
    /// The device lacks a characteristic its protocol needs.
    #[error("{0} does not offer the {1} characteristic its protocol needs")]
    MissingCharacteristic(String, &'static str),
    /// Anything else from the stack (a fault).
    #[error("Bluetooth: {0}")]
    Bluetooth(String),
}

impl BleError {
    /// True when the user can fix it (exit code 2).
    pub fn is_user_error(&self) -> bool {
        !matches!(self, BleError::Bluetooth(_))
    }
}

fn classify(e: btleplug::Error) -> BleError {
    let text = e.to_string();
    if text.contains("AccessDenied") || text.contains("Permission") {
        BleError::Permission(text)
    } else if text.contains("org.freedesktop.DBus.Error.ServiceUnknown")
        || text.contains("NoServer")
        || text.contains("FileNotFound")
        || text.contains("Failed to connect to socket")
    {
        BleError::NoBluez(text)
    } else {
        BleError::Bluetooth(text)
    }
}

/// A device seen by a scan.
#[derive(Debug, Clone, Serialize)]
pub struct Found {
    /// Bluetooth address.
    pub address: String,
    /// Advertised name.
    pub name: Option<String>,
    /// Signal strength, dBm.
    pub rssi: Option<i16>,
    /// Protocol, if medius knows it.
    pub protocol: Option<&'static str>,
    /// Battery %, when advertised.
    pub battery: Option<u8>,
}

fn runtime() -> Result<tokio::runtime::Runtime, BleError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| BleError::Bluetooth(e.to_string()))
}

async fn adapter() -> Result<Adapter, BleError> {
    let manager = Manager::new().await.map_err(|e| match classify(e) {
        BleError::Bluetooth(t) => BleError::NoBluez(t),
        other => other,
    })?;
    let central = manager
        .adapters()
        .await
        .map_err(classify)?
        .into_iter()
        .next()
        .ok_or(BleError::NoAdapter)?;
    if central.adapter_state().await.map_err(classify)? == CentralState::PoweredOff {
        return Err(BleError::AdapterOff);
    }
    Ok(central)
}

fn u128s(services: &[Uuid]) -> Vec<u128> {
    services.iter().map(|u| u.as_u128()).collect()
}

async fn describe(p: &Peripheral) -> Found {
    let props = p.properties().await.ok().flatten();
    let name = props.as_ref().and_then(|p| p.local_name.clone());
    let services = props
        .as_ref()
        .map(|p| u128s(&p.services))
        .unwrap_or_default();
    let battery = props.as_ref().and_then(|p| {
        p.service_data
            .get(&Uuid::from_u128(medius::uuid::BATTERY_SERVICE))
            .and_then(|d| d.first().copied())
            .filter(|b| *b <= 100)
    });
    Found {
        address: p.address().to_string(),
        protocol: recognize(name.as_deref(), &services).map(Protocol::id),
        name,
        rssi: props.as_ref().and_then(|p| p.rssi),
        battery,
    }
}

/// Scans for `seconds` and lists devices; only those speaking a protocol
/// medius knows unless `all`.
pub fn scan(seconds: f64, all: bool) -> Result<Vec<Found>, BleError> {
    runtime()?.block_on(async {
        let central = adapter().await?;
        central
            .start_scan(ScanFilter::default())
            .await
            .map_err(classify)?;
        tokio::time::sleep(Duration::from_secs_f64(seconds.max(0.0))).await;
        let peripherals = central.peripherals().await.map_err(classify)?;
        let _ = central.stop_scan().await;
        let mut out = Vec::new();
        for p in peripherals {
            let f = describe(&p).await;
            if all || f.protocol.is_some() {
                out.push(f);
            }
        }
        out.sort_by(|a, b| b.rssi.cmp(&a.rssi).then(a.address.cmp(&b.address)));
        Ok(out)
    })
}

/// What the link tells the layers above.
#[derive(Debug, Clone)]
pub enum LinkEvent {
    /// Connected (again), configured and subscribed.
    Connected {
        /// Address.
        address: String,
        /// Advertised name.
        name: Option<String>,
        /// Protocol spoken.
        protocol: Protocol,
        /// Sample rate asked for (the sensor's nearest).
        rate_hz: f64,
        /// Battery %, if readable.
        battery: Option<u8>,
        /// True after a drop-out.
        reconnect: bool,
        /// Host time, s since the link started.
        host_s: f64,
    },
    /// One notification.
    Data {
        /// Its bytes.
        bytes: Vec<u8>,
        /// Host arrival time, s since the link started.
        host_s: f64,
    },
    /// The link dropped; reconnecting.
    Disconnected {
        /// Host time, s.
        host_s: f64,
    },
    /// No reconnect within the limit: the link is closed.
    GaveUp {
        /// Seconds without a link.
        after_s: f64,
    },
    /// The link could not be made at all.
    Failed(BleError),
}

/// What the layers above need from a sensor link: events, and a way to stop.
pub trait SensorLink {
    /// The next event, waiting at most `timeout`. `None` on timeout; after
    /// `GaveUp`, `Failed` or `close`, the link sends nothing more.
    fn next_event(&mut self, timeout: Duration) -> Option<LinkEvent>;
    /// Asks the link to stop (unsubscribes and disconnects).
    fn close(&mut self);
}

/// How to reach a sensor.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// Address (AA:BB:CC:DD:EE:FF) or advertised name.
    pub target: String,
    /// Sample rate to ask for.
    pub rate_hz: u16,
    /// How long to look for it before giving up, s.
    pub find_timeout_s: f64,
    /// How long to keep trying to reconnect after a drop, s.
    pub give_up_s: f64,
    /// Only these addresses may be used (empty: any that matches the target).
    pub allow: Vec<String>,
}

/// The btleplug link: a thread with its own tokio runtime.
pub struct BleLink {
    rx: mpsc::Receiver<LinkEvent>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BleLink {
    /// Starts finding and connecting in the background.
    pub fn start(cfg: LinkConfig) -> Self {
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name("medius-ble".into())
            .spawn(move || {
                let rt = match runtime() {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(LinkEvent::Failed(e));
                        return;
                    }
                };
                if let Err(e) = rt.block_on(link_task(cfg, tx.clone(), stop2)) {
                    let _ = tx.send(LinkEvent::Failed(e));
                }
            })
            .expect("spawn the BLE thread");
        BleLink {
            rx,
            stop,
            thread: Some(thread),
        }
    }
}

impl SensorLink for BleLink {
    fn next_event(&mut self, timeout: Duration) -> Option<LinkEvent> {
        self.rx.recv_timeout(timeout).ok()
    }

    fn close(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for BleLink {
    fn drop(&mut self) {
        self.close();
    }
}

fn matches_target(f: &Found, target: &str) -> bool {
    f.address.eq_ignore_ascii_case(target) || f.name.as_deref() == Some(target)
}

async fn find(
    central: &Adapter,
    target: &str,
    timeout_s: f64,
) -> Result<(Peripheral, Found), BleError> {
    let mut events = central.events().await.map_err(classify)?;
    central
        .start_scan(ScanFilter::default())
        .await
        .map_err(classify)?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(timeout_s.max(0.0));
    // Already known (cached by BlueZ, or seen before the scan started)?
    for p in central.peripherals().await.map_err(classify)? {
        let f = describe(&p).await;
        if matches_target(&f, target) {
            return Ok((p, f));
        }
    }
    loop {
        let ev = tokio::time::timeout_at(deadline, events.next()).await;
        match ev {
            Err(_) | Ok(None) => {
                return Err(BleError::NotFound {
                    target: target.to_string(),
                    seconds: timeout_s,
                })
            }
            Ok(Some(CentralEvent::DeviceDiscovered(id) | CentralEvent::DeviceUpdated(id))) => {
                if let Ok(p) = central.peripheral(&id).await {
                    let f = describe(&p).await;
                    if matches_target(&f, target) {
                        return Ok((p, f));
                    }
                }
            }
            Ok(Some(_)) => {}
        }
    }
}

enum Ended {
    Stopped,
    Dropped,
}

fn characteristic(p: &Peripheral, uuid: u128) -> Option<Characteristic> {
    let u = Uuid::from_u128(uuid);
    p.characteristics().into_iter().find(|c| c.uuid == u)
}

async fn link_task(
    cfg: LinkConfig,
    tx: mpsc::Sender<LinkEvent>,
    stop: Arc<AtomicBool>,
) -> Result<(), BleError> {
    let started = Instant::now();
    let host = move || started.elapsed().as_secs_f64();
    let central = adapter().await?;
    let (p, found) = find(&central, &cfg.target, cfg.find_timeout_s).await?;
    let _ = central.stop_scan().await;
    if !cfg.allow.is_empty()
        && !cfg
            .allow
            .iter()
            .any(|a| a.eq_ignore_ascii_case(&found.address))
    {
        return Err(BleError::NotAllowed(found.address));
    }
    let protocol = found
        .protocol
        .and_then(Protocol::from_id)
        .ok_or_else(|| BleError::UnknownProtocol(found.address.clone()))?;
    if !protocol.supported() {
        return Err(BleError::Unsupported(found.address.clone(), protocol.id()));
    }
    let mut reconnect = false;
    loop {
        let result = session(
            &central, &p, &found, protocol, &cfg, &tx, reconnect, &host, &stop,
        )
        .await;
        match result {
            Ok(Ended::Stopped) => return Ok(()),
            Ok(Ended::Dropped) => {}
            Err(e @ (BleError::MissingCharacteristic(..) | BleError::Unsupported(..))) => {
                return Err(e)
            }
            Err(e) => tracing::info!("link error: {e}"),
        }
        let _ = tx.send(LinkEvent::Disconnected { host_s: host() });
        // Reconnect with backoff: btleplug needs connect, discovery and
        // subscription again, which `session` does.
        let lost_at = Instant::now();
        let mut delay = 0.1;
        loop {
            if stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            if lost_at.elapsed().as_secs_f64() > cfg.give_up_s {
                let _ = tx.send(LinkEvent::GaveUp {
                    after_s: lost_at.elapsed().as_secs_f64(),
                });
                return Ok(());
            }
            tokio::time::sleep(Duration::from_secs_f64(delay)).await;
            delay = (delay * 2.0).min(0.5);
            match p.connect().await {
                Ok(()) => break,
                Err(e) => tracing::debug!("reconnect attempt failed: {e}"),
            }
        }
        reconnect = true;
    }
}

#[allow(clippy::too_many_arguments)]
async fn session(
    central: &Adapter,
    p: &Peripheral,
    found: &Found,
    protocol: Protocol,
    cfg: &LinkConfig,
    tx: &mpsc::Sender<LinkEvent>,
    reconnect: bool,
    host: &impl Fn() -> f64,
    stop: &AtomicBool,
) -> Result<Ended, BleError> {
    if !p.is_connected().await.map_err(classify)? {
        p.connect().await.map_err(classify)?;
    }
    p.discover_services().await.map_err(classify)?;
    let name = found.address.clone();
    let need = |uuid: u128, what: &'static str| {
        characteristic(p, uuid).ok_or_else(|| BleError::MissingCharacteristic(name.clone(), what))
    };
    let mut events = central.events().await.map_err(classify)?;
    let mut notes = p.notifications().await.map_err(classify)?;
    let mut battery = None;
    let (data, rate) = match protocol {
        Protocol::Medius => {
            let config = medius::Config {
                rate_hz: cfg.rate_hz.clamp(25, 400),
                ..medius::Config::default()
            };
            let bytes = config
                .encode()
                .map_err(|e| BleError::Bluetooth(e.to_string()))?;
            p.write(
                &need(medius::uuid::CONFIG, "config")?,
                &bytes,
                WriteType::WithResponse,
            )
            .await
            .map_err(classify)?;
            if let Some(c) = characteristic(p, medius::uuid::BATTERY_LEVEL) {
                battery = p.read(&c).await.ok().and_then(|v| v.first().copied());
            }
            let data = need(medius::uuid::DATA, "data")?;
            p.subscribe(&data).await.map_err(classify)?;
            let mut op = [0u8; 2];
            let n = medius::Control::Start.encode(&mut op);
            p.write(
                &need(medius::uuid::CONTROL, "control")?,
                &op[..n],
                WriteType::WithResponse,
            )
            .await
            .map_err(classify)?;
            (data, config.rate_hz as f64)
        }
        Protocol::WitMotion => {
            let w = need(witmotion::uuid::WRITE, "write")?;
            let (rate, cmd) = witmotion::set_rate(cfg.rate_hz as f32)
                .unwrap_or((10.0, witmotion::command(witmotion::reg::RRATE, 6)));
            p.write(&w, &witmotion::unlock(), WriteType::WithoutResponse)
                .await
                .map_err(classify)?;
            p.write(&w, &cmd, WriteType::WithoutResponse)
                .await
                .map_err(classify)?;
            let data = need(witmotion::uuid::NOTIFY, "notify")?;
            p.subscribe(&data).await.map_err(classify)?;
            (data, rate as f64)
        }
        Protocol::Thingy52 => {
            let rate = cfg.rate_hz.clamp(5, 200);
            let mc = thingy::MotionConfig {
                motion_freq_hz: rate,
                ..thingy::MotionConfig::default()
            };
            let bytes = mc
                .encode()
                .map_err(|e| BleError::Bluetooth(e.to_string()))?;
            p.write(
                &need(thingy::uuids::MOTION_CONFIG, "motion config")?,
                &bytes,
                WriteType::WithResponse,
            )
            .await
            .map_err(classify)?;
            let data = need(thingy::uuids::RAW, "raw motion")?;
            p.subscribe(&data).await.map_err(classify)?;
            (data, rate as f64)
        }
        Protocol::MetaMotion => return Err(BleError::Unsupported(name, "MetaMotion")),
    };
    let _ = tx.send(LinkEvent::Connected {
        address: found.address.clone(),
        name: found.name.clone(),
        protocol,
        rate_hz: rate,
        battery,
        reconnect,
        host_s: host(),
    });
    let id = p.id();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            n = notes.next() => match n {
                Some(n) if n.uuid == data.uuid => {
                    if tx.send(LinkEvent::Data { bytes: n.value, host_s: host() }).is_err() {
                        return Ok(Ended::Stopped);
                    }
                }
                Some(_) => {}
                None => return Ok(Ended::Dropped),
            },
            e = events.next() => match e {
                Some(CentralEvent::DeviceDisconnected(d)) if d == id => return Ok(Ended::Dropped),
                Some(_) => {}
                None => return Ok(Ended::Dropped),
            },
            _ = tick.tick() => {
                if stop.load(Ordering::SeqCst) {
                    if protocol == Protocol::Medius {
                        if let Some(c) = characteristic(p, medius::uuid::CONTROL) {
                            let mut op = [0u8; 2];
                            let n = medius::Control::Stop.encode(&mut op);
                            let _ = p.write(&c, &op[..n], WriteType::WithResponse).await;
                        }
                    }
                    let _ = p.unsubscribe(&data).await;
                    let _ = p.disconnect().await;
                    return Ok(Ended::Stopped);
                }
            }
        }
    }
}
