//! `medius run`: watch a session live.

use super::live_ble::{BleSamples, LinkReport};
use super::logbook::LogbookArg;
use super::{user_error, Training};
use crate::logbook::{Load, Logbook, NewRecording, SensorSet};
use crate::motion::{Event, Rep, Set};
use crate::report::{certainty, flag_words};
use crate::source::ble::{BleLink, LinkConfig};
use crate::source::csv::{RawReader, RawWriter};
use crate::source::sim::{SimConfig, Simulator};
use crate::Sample;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Watch a session live: each rep is announced as it ends (count, range,
/// flags), each set is summed up when it ends.
///
/// Sensors: `sim` (the built-in simulated sensor: a short realistic session),
/// `replay:FILE.csv` (a raw recording played back in time), or a Bluetooth
/// sensor by address or name (`medius scan` lists them; medius firmware,
/// WitMotion WT901BLE/WT9011DCL, Thingy:52). If the link drops, medius
/// reconnects and the set goes on; lost samples are counted. Each set is saved in the logbook as pending
/// when it ends (review it with `medius review`); --no-log only prints.
/// Ctrl-C ends the session and still saves the set in progress, marked
/// interrupted.
///
///   medius run --sensor sim
///   medius run --sensor sim -e hip-hitch -p pelvis -s left --speed 8
///   medius run --sensor replay:session.csv -e side-lying-abduction --speed 0
#[derive(Debug, Args)]
pub struct RunArgs {
    /// `sim`, `replay:FILE.csv`, or a Bluetooth address (AA:BB:CC:DD:EE:FF) or name.
    #[arg(long, default_value = "sim")]
    pub sensor: String,
    /// Bluetooth: sample rate to ask the sensor for, Hz.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(25..=400))]
    pub rate: u16,
    /// Bluetooth: how long to look for the sensor before giving up, s.
    #[arg(long, default_value_t = 15.0)]
    pub find_timeout: f64,
    /// Bluetooth: how long to keep reconnecting after the link drops, s.
    #[arg(long, default_value_t = 120.0)]
    pub give_up: f64,
    /// What is trained.
    #[command(flatten)]
    pub training: Training,
    /// Playback speed: 1 = real time, 4 = four times faster, 0 = as fast as possible.
    #[arg(long, default_value_t = 4.0)]
    pub speed: f64,
    /// Simulated sensor: number of sets.
    #[arg(long, default_value_t = 2)]
    pub sets: usize,
    /// Simulated sensor: seed (the same seed gives the same session).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Also write every sample received to this raw CSV.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Ring the terminal bell on a flagged rep.
    #[arg(long)]
    pub bell: bool,
    /// The load used: 12.5kg, 25lb, 'pin 7', 'band red', 'ankle 2kg', bodyweight.
    #[arg(long, value_parser = |s: &str| Load::parse(s).map_err(|e| e.to_string()))]
    pub load: Option<Load>,
    /// Print the sets but do not save them in the logbook.
    #[arg(long)]
    pub no_log: bool,
    /// Where the logbook is.
    #[command(flatten)]
    pub logbook: LogbookArg,
}

/// Runs the command.
pub fn run(a: RunArgs) -> anyhow::Result<()> {
    if !(a.speed.is_finite() && a.speed >= 0.0) {
        return Err(user_error(format!(
            "--speed {} must be 0 (as fast as possible) or more",
            a.speed
        )));
    }
    let mut pipeline = a.training.pipeline()?;
    let stop = Arc::new(AtomicBool::new(false));
    let link_report = Arc::new(Mutex::new(LinkReport::default()));
    let mut ble = None;
    let mut speed = a.speed;
    let source: Box<dyn Iterator<Item = anyhow::Result<Sample>>> = if a.sensor == "sim" {
        let mut cfg = SimConfig::new(a.training.exercise, a.training.placement, a.training.side);
        cfg.sets = a.sets;
        cfg.reps_min = 8;
        cfg.reps_max = 12;
        cfg.rest_min_s = 20.0;
        cfg.rest_max_s = 30.0;
        cfg.compensation_rate = 0.2;
        cfg.seed = a.seed;
        cfg.validate().map_err(user_error)?;
        let (sim, truth) = Simulator::new(&cfg).map_err(user_error)?;
        let counts: Vec<String> = truth.sets.iter().map(|s| s.rep_count.to_string()).collect();
        eprintln!(
            "simulated sensor: {} on the {}, {} side, {} Hz; the simulated lifter will do {} set(s) of {} reps",
            cfg.exercise,
            cfg.placement,
            cfg.side,
            cfg.rate_hz,
            truth.sets.len(),
            counts.join(", ")
        );
        Box::new(sim.map(Ok))
    } else if let Some(path) = a.sensor.strip_prefix("replay:") {
        let reader = RawReader::open(std::path::Path::new(path))?;
        eprintln!("replaying {path}");
        Box::new(reader.map(|r| r.map_err(anyhow::Error::from)))
    } else {
        if a.sensor.trim().is_empty() {
            return Err(user_error(
                "--sensor is empty: give sim, replay:FILE.csv, or a sensor's address or name",
            ));
        }
        eprintln!("looking for {} …", a.sensor);
        let link = BleLink::start(LinkConfig {
            target: a.sensor.clone(),
            rate_hz: a.rate,
            find_timeout_s: a.find_timeout,
            give_up_s: a.give_up,
            allow: Vec::new(),
        });
        ble = Some(link_report.clone());
        // A live sensor is real time already.
        speed = 0.0;
        Box::new(BleSamples::new(
            link,
            a.rate,
            stop.clone(),
            link_report.clone(),
        ))
    };
    let mut log = if a.no_log {
        None
    } else {
        let mut lb = a.logbook.open()?;
        let recording = match &a.record {
            Some(p) => Some(
                lb.add_recording(&NewRecording {
                    path: std::path::absolute(p)
                        .unwrap_or(p.clone())
                        .display()
                        .to_string(),
                    sha256: None,
                    sensor: a.sensor.clone(),
                    sample_rate_hz: None,
                    samples: 0,
                    samples_lost: 0,
                })?,
            ),
            None => None,
        };
        Some(LogSink {
            lb,
            recording,
            exercise: a.training.exercise,
            placement: a.training.placement,
            side: a.training.side,
            load: a.load.clone(),
            saved: Vec::new(),
        })
    };
    let mut record = match &a.record {
        Some(p) => {
            let f = std::fs::File::create(p)
                .map_err(|e| user_error(format!("cannot create {}: {e}", p.display())))?;
            Some(RawWriter::new(std::io::BufWriter::new(f))?)
        }
        None => None,
    };

    {
        let stop = stop.clone();
        // A second Ctrl-C while finishing is not needed: finishing is instant.
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst));
    }
    eprintln!(
        "{} · sensor on the {} · {} side — watching (Ctrl-C to stop)",
        a.training.exercise, a.training.placement, a.training.side
    );
    let mut live = Live::new(
        a.bell,
        pipeline.profile().reps.signal == crate::motion::profile::RepSignal::Obliquity,
    );
    let started = Instant::now();
    let mut t0 = None;
    let mut last_flush = Instant::now();
    let mut events = Vec::new();
    for sample in source {
        if stop.load(Ordering::SeqCst) {
            eprintln!("\nstopped: summing up");
            break;
        }
        let sample = sample?;
        if speed > 0.0 {
            let first = *t0.get_or_insert(sample.t);
            let due = Duration::from_secs_f64(((sample.t - first) / speed).max(0.0));
            let now = started.elapsed();
            if due > now + Duration::from_millis(5) {
                std::thread::sleep(due - now);
            }
        }
        if let Some(w) = record.as_mut() {
            w.write(&sample)?;
            if last_flush.elapsed() >= Duration::from_secs(1) {
                w.flush()?;
                last_flush = Instant::now();
            }
        }
        pipeline.push(&sample, &mut events);
        for e in events.drain(..) {
            live.show(&e);
            if let (Event::SetEnded(set), Some(log)) = (&e, log.as_mut()) {
                log.save(set, false);
            }
        }
    }
    let interrupted = stop.load(Ordering::SeqCst);
    pipeline.finish(&mut events);
    for e in events.drain(..) {
        live.show(&e);
        if let (Event::SetEnded(set), Some(log)) = (&e, log.as_mut()) {
            log.save(set, interrupted);
        }
    }
    if let Some(mut w) = record {
        w.flush()?;
        eprintln!(
            "raw samples written to {}",
            a.record.as_ref().expect("record path").display()
        );
    }
    if let Some((log, id)) = log.as_mut().and_then(|l| l.recording.map(|id| (l, id))) {
        let n = pipeline.stats().samples;
        if let Err(e) = log.lb.update_recording(id, n, 0, None) {
            eprintln!("medius: could not update the recording's entry: {e}");
        }
    }
    live.summary(log.as_ref().map(|l| l.saved.as_slice()));
    if let Some(r) = ble {
        let r = r.lock().expect("report lock");
        let recon: Vec<String> = r.reconnect_s.iter().map(|s| format!("{s:.1} s")).collect();
        println!(
            "link: {} samples, {} lost, {} drop-out(s){}{}",
            r.stream.samples,
            r.stream.lost,
            r.dropouts,
            if recon.is_empty() {
                String::new()
            } else {
                format!(", reconnected after {}", recon.join(", "))
            },
            if r.gave_up { ", gave up" } else { "" }
        );
    }
    Ok(())
}

/// Saves each set in the logbook as it ends.
struct LogSink {
    lb: Logbook,
    recording: Option<i64>,
    exercise: crate::Exercise,
    placement: crate::Placement,
    side: crate::Side,
    load: Option<Load>,
    saved: Vec<i64>,
}

impl LogSink {
    /// A failed write is reported and the session goes on: the raw
    /// recording (if any) still has the samples.
    fn save(&mut self, set: &Set, interrupted: bool) {
        let r = self.lb.write_sensor_set(
            &SensorSet {
                exercise: self.exercise.id(),
                side: self.side,
                placement: self.placement,
                load: self.load.clone(),
                set,
                interrupted,
                performed_at: None,
            },
            self.recording,
        );
        match r {
            Ok(id) => {
                self.saved.push(id);
                println!(
                    "  saved as set {id} (pending{})",
                    if interrupted { ", interrupted" } else { "" }
                );
            }
            Err(e) => eprintln!("medius: set not saved in the logbook: {e}"),
        }
    }
}

/// What the lifter sees.
struct Live {
    bell: bool,
    pelvis: bool,
    sets: Vec<Set>,
}

impl Live {
    fn new(bell: bool, pelvis: bool) -> Self {
        Live {
            bell,
            pelvis,
            sets: Vec::new(),
        }
    }

    fn show(&mut self, e: &Event) {
        let mut out = std::io::stdout().lock();
        match e {
            Event::Rep { set_number, rep } => {
                let _ = writeln!(out, "{}", rep_line(*set_number, rep, self.pelvis));
                if self.bell && !rep.flags.is_empty() {
                    let _ = write!(out, "\x07");
                }
            }
            Event::SetEnded(set) => {
                self.sets.push(set.clone());
                let _ = writeln!(out, "{}", set_line(self.sets.len(), set));
            }
            Event::NotASet { start_s, reps, .. } => {
                let _ = writeln!(
                    out,
                    "  (not a set: {reps} lone movement(s) at {start_s:.0} s ignored — a set needs at least 2 reps)"
                );
            }
        }
        let _ = out.flush();
    }

    fn summary(&self, saved: Option<&[i64]>) {
        let reps: usize = self.sets.iter().map(|s| s.rep_count()).sum();
        let flagged: usize = self
            .sets
            .iter()
            .flat_map(|s| s.reps.iter())
            .filter(|r| !r.flags.is_empty())
            .count();
        let where_ = match saved {
            None => "not saved (--no-log)".to_string(),
            Some([]) => "nothing to save".to_string(),
            Some(ids) => {
                let ids: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
                format!(
                    "saved as pending set(s) {} — review with `medius review`",
                    ids.join(", ")
                )
            }
        };
        println!(
            "session: {} set(s), {} reps, {} flagged — {where_}",
            self.sets.len(),
            reps,
            flagged
        );
    }
}

fn rep_line(set: usize, rep: &Rep, pelvis: bool) -> String {
    let what = if pelvis { "pelvis" } else { "range" };
    format!(
        "set {set} · rep {:>2} · {what} {:>5.1}° · up {:.1}s hold {:.1}s down {:.1}s{}",
        rep.number,
        rep.peak_deg,
        rep.concentric_s,
        rep.pause_s,
        rep.eccentric_s,
        if rep.flags.is_empty() {
            String::new()
        } else {
            format!(" · ⚑ {}", flag_words(&rep.flags))
        }
    )
}

/// One line that sums up a set: reps, range, flags by kind with the reps they hit.
pub fn set_line(number: usize, set: &Set) -> String {
    let peaks: Vec<f64> = set.reps.iter().map(|r| r.peak_deg).collect();
    let lo = peaks.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = peaks.iter().copied().fold(0.0, f64::max);
    let mut notes = Vec::new();
    for kind in crate::motion::FlagKind::ALL {
        let hits: Vec<(usize, f64)> = set
            .reps
            .iter()
            .filter_map(|r| {
                r.flags
                    .iter()
                    .find(|f| f.kind == kind)
                    .map(|f| (r.number, f.value_deg))
            })
            .collect();
        if hits.is_empty() {
            continue;
        }
        let nums: Vec<String> = hits.iter().map(|(n, _)| n.to_string()).collect();
        let most = hits.iter().map(|(_, v)| *v).fold(0.0, f64::max);
        notes.push(format!(
            "{} on rep(s) {} (up to {:.0}°)",
            kind.words(),
            nums.join(","),
            most
        ));
    }
    format!(
        "set {number} done: {} reps ({}) · range {:.0}-{:.0}° · {:.0} s{}",
        set.rep_count(),
        certainty(set.confidence),
        lo,
        hi,
        set.end_s - set.start_s,
        if notes.is_empty() {
            " · clean".to_string()
        } else {
            format!(" · {}", notes.join("; "))
        }
    )
}
