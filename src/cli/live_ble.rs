//! A BLE sensor as a stream of samples for `run`: link events in, decoded
//! samples out, drop-outs and losses told to the lifter as they happen.

use crate::session::LinkChange;
use crate::source::ble::{LinkEvent, SensorLink};
use crate::source::decode::{Decoder, StreamStats};
use crate::Sample;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the link did, for the session summary.
#[derive(Debug, Clone, Default)]
pub struct LinkReport {
    /// Decoder counts.
    pub stream: StreamStats,
    /// Drop-outs.
    pub dropouts: u32,
    /// Seconds from each drop to its reconnect.
    pub reconnect_s: Vec<f64>,
    /// Battery at the last connect.
    pub battery: Option<u8>,
    /// The link gave up.
    pub gave_up: bool,
    /// The link is up now.
    pub connected: bool,
}

/// Samples from a [`SensorLink`].
pub struct BleSamples<L: SensorLink> {
    link: L,
    decoder: Option<Decoder>,
    buf: VecDeque<Sample>,
    scratch: Vec<Sample>,
    stop: Arc<AtomicBool>,
    report: Arc<Mutex<LinkReport>>,
    down_at: Option<f64>,
    done: bool,
    rate_hz: u16,
    /// Told each change of the link as it happens (the session's input).
    on_link: Option<Box<dyn FnMut(LinkChange) + Send>>,
}

impl<L: SensorLink> BleSamples<L> {
    /// Wraps a link; `stop` ends the stream (Ctrl-C).
    pub fn new(
        link: L,
        rate_hz: u16,
        stop: Arc<AtomicBool>,
        report: Arc<Mutex<LinkReport>>,
    ) -> Self {
        BleSamples {
            link,
            decoder: None,
            buf: VecDeque::new(),
            scratch: Vec::new(),
            stop,
            report,
            down_at: None,
            done: false,
            rate_hz,
            on_link: None,
        }
    }

    /// Tells `f` each change of the link (connected, lost, back, gave up,
    /// samples lost) as it happens, before the samples after it.
    pub fn on_link(mut self, f: Box<dyn FnMut(LinkChange) + Send>) -> Self {
        self.on_link = Some(f);
        self
    }

    fn tell(&mut self, change: LinkChange) {
        if let Some(f) = self.on_link.as_mut() {
            f(change);
        }
    }
}

impl<L: SensorLink> Iterator for BleSamples<L> {
    type Item = anyhow::Result<Sample>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(s) = self.buf.pop_front() {
                return Some(Ok(s));
            }
            if self.done {
                return None;
            }
            if self.stop.load(Ordering::SeqCst) {
                self.link.close();
                self.done = true;
                return None;
            }
            let Some(ev) = self.link.next_event(Duration::from_millis(100)) else {
                continue;
            };
            let mut report = self.report.lock().expect("report lock");
            let mut told = None;
            match ev {
                LinkEvent::Connected {
                    address,
                    name,
                    protocol,
                    rate_hz,
                    battery,
                    reconnect,
                    host_s,
                } => {
                    report.battery = battery;
                    report.connected = true;
                    told = Some(if reconnect {
                        LinkChange::Back { battery }
                    } else {
                        LinkChange::Connected { battery }
                    });
                    let batt = battery
                        .map(|b| format!(", battery {b}%"))
                        .unwrap_or_default();
                    if reconnect {
                        let gap = self.down_at.take().map(|d| host_s - d).unwrap_or(0.0);
                        report.reconnect_s.push(gap);
                        if let Some(d) = self.decoder.as_mut() {
                            d.relink();
                        }
                        esay!("reconnected to {address} after {gap:.1} s{batt}");
                    } else {
                        let config = firmware_protocol::medius::Config {
                            rate_hz: self.rate_hz.clamp(25, 400),
                            ..Default::default()
                        };
                        self.decoder = Decoder::new(protocol, rate_hz, &config);
                        esay!(
                            "connected to {} ({address}, {}, {rate_hz} Hz{batt})",
                            name.as_deref().unwrap_or("sensor"),
                            protocol.id()
                        );
                    }
                }
                LinkEvent::Data { bytes, host_s } => {
                    if let Some(d) = self.decoder.as_mut() {
                        let lost_before = report.stream.lost;
                        d.feed(&bytes, host_s, &mut report.stream, &mut self.scratch);
                        let lost = report.stream.lost - lost_before;
                        if lost > 0 {
                            esay!("  {lost} samples lost on the link");
                            told = Some(LinkChange::SamplesLost(lost));
                        }
                        self.buf.extend(self.scratch.drain(..));
                    }
                }
                LinkEvent::Disconnected { host_s } => {
                    report.dropouts += 1;
                    report.connected = false;
                    told = Some(LinkChange::Lost);
                    self.down_at = Some(host_s);
                    esay!("link lost — reconnecting (the set goes on)");
                }
                LinkEvent::GaveUp { after_s } => {
                    report.gave_up = true;
                    told = Some(LinkChange::GaveUp);
                    esay!("no link for {after_s:.0} s: giving up; what arrived is kept");
                    self.done = true;
                }
                LinkEvent::Failed(e) => {
                    self.done = true;
                    return Some(Err(e.into()));
                }
            }
            drop(report);
            if let Some(change) = told {
                self.tell(change);
            }
        }
    }
}
