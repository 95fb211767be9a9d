//! `medius run`: the daemon at the cable stack. One session: a source
//! (simulated, replayed or Bluetooth sensor), the pipeline, live feedback,
//! sets into the logbook as pending, the raw recording, the status socket,
//! and keyboard control between sets.

use super::live_ble::{BleSamples, LinkReport};
use super::logbook::LogbookArg;
use super::{parse_id, user_error};
use crate::daemon::config::{self, Config};
use crate::daemon::status::{self, Status, StatusServer};
use crate::logbook::{Load, Logbook, NewRecording, SensorSet, SessionLock};
use crate::motion::{Event, Pipeline, Profile, Rep, Set};
use crate::report::{certainty, flag_words};
use crate::source::ble::{BleLink, LinkConfig};
use crate::source::csv::{RawReader, RawWriter};
use crate::source::sim::{SimConfig, Simulator};
use crate::{Exercise, Placement, Sample, Side};
use clap::Args;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// Watch a session live: each rep is announced as it ends (count, range,
/// flags), each set is summed up and saved in the logbook as pending when it
/// ends (review it with `medius review`).
///
/// Sensors: `sim` (the built-in simulated sensor: a short realistic session),
/// `replay:FILE.csv` (a raw recording played back in time), or a Bluetooth
/// sensor by address or name (`medius scan` lists them; medius firmware,
/// WitMotion WT901BLE/WT9011DCL, Thingy:52). Without --sensor: the first
/// sensor in the config, else sim. If the link drops, medius reconnects and
/// the set goes on; lost samples are counted.
///
/// Between sets, type at the terminal: `e hip-hitch` (next exercise), `s`
/// (switch side), `l 15kg` (new load), `q` (end the session), `?` (help).
///
/// Ctrl-C, SIGTERM or `medius stop` end the session: the set in progress is
/// saved, marked interrupted. The raw samples are kept (flushed every second)
/// in ~/.local/share/medius/recordings unless --no-record.
///
///   medius run --sensor sim
///   medius run --sensor sim -e hip-hitch -p pelvis -s left --speed 8
///   medius run --sensor replay:session.csv -e side-lying-abduction --speed 0
///   medius run --sensor C0:FF:EE:00:00:01 --load 12.5kg
#[derive(Debug, Args)]
pub struct RunArgs {
    /// `sim`, `replay:FILE.csv`, or a Bluetooth address (AA:BB:CC:DD:EE:FF) or name [default: config, else sim].
    #[arg(long)]
    pub sensor: Option<String>,
    /// Exercise [default: config, else standing-cable-abduction].
    #[arg(short, long, value_parser = parse_id::<Exercise>)]
    pub exercise: Option<Exercise>,
    /// Where the sensor is: ankle or pelvis [default: config, else ankle].
    #[arg(short, long, value_parser = parse_id::<Placement>)]
    pub placement: Option<Placement>,
    /// Working side: left or right [default: config, else right].
    #[arg(short, long, value_parser = parse_id::<Side>)]
    pub side: Option<Side>,
    /// Threshold profile TOML replacing the built-in one (and the config's).
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// The load used: 12.5kg, 25lb, 'pin 7', 'band red', 'ankle 2kg', bodyweight; a bare
    /// number is in the config's load_unit (kg unless set).
    #[arg(long)]
    pub load: Option<String>,
    /// Bluetooth: sample rate to ask the sensor for, Hz [default: config, else 100].
    #[arg(long, value_parser = clap::value_parser!(u16).range(25..=400))]
    pub rate: Option<u16>,
    /// Bluetooth: how long to look for the sensor before giving up, s [default: config, else 15].
    #[arg(long, value_parser = find_timeout_s)]
    pub find_timeout: Option<f64>,
    /// Bluetooth: how long to keep reconnecting after the link drops, s [default: config, else 120].
    #[arg(long, value_parser = give_up_s)]
    pub give_up: Option<f64>,
    /// Simulated or replayed sensor: playback speed (1 = real time, 0 = as fast as possible).
    #[arg(long, default_value_t = 4.0)]
    pub speed: f64,
    /// Simulated sensor: number of sets.
    #[arg(long, default_value_t = 2)]
    pub sets: usize,
    /// Simulated sensor: seed (the same seed gives the same session).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Simulated sensor: seconds of standing still before the first set
    /// (default 0.5-3 s, drawn from the seed). Time to type `l 15kg` or `s`
    /// before the first rep at a high --speed.
    #[arg(long, value_name = "SECONDS", value_parser = lead_in_seconds)]
    pub lead_in: Option<f64>,
    /// Write the raw samples to this CSV (instead of the recordings folder).
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Keep no raw recording.
    #[arg(long, conflicts_with = "record")]
    pub no_record: bool,
    /// Ring the terminal bell on a flagged rep.
    #[arg(long)]
    pub bell: bool,
    /// Print the sets but do not save them in the logbook.
    #[arg(long)]
    pub no_log: bool,
    /// Read keyboard commands from standard input even when it is not a terminal.
    #[arg(long)]
    pub keys: bool,
    /// The config file [default: ~/.config/medius/config.toml; MEDIUS_CONFIG].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the logbook is.
    #[command(flatten)]
    pub logbook: LogbookArg,
}

/// Seconds between `lo` and `hi` (the config's ranges): 1e300 would
/// overflow a timer.
fn seconds_in(text: &str, lo: f64, hi: f64) -> Result<f64, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && (lo..=hi).contains(v))
        .ok_or_else(|| format!("'{text}' must be a number of seconds from {lo} to {hi}"))
}

fn find_timeout_s(text: &str) -> Result<f64, String> {
    seconds_in(text, 0.5, 600.0)
}

fn give_up_s(text: &str) -> Result<f64, String> {
    seconds_in(text, 0.0, 86_400.0)
}

/// Loads the config named on the command line, or the default one.
pub fn load_config(path: Option<&PathBuf>) -> anyhow::Result<(Config, Option<PathBuf>)> {
    let path = path.cloned().or_else(config::default_path);
    let cfg = match &path {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    Ok((cfg, path))
}

/// A load as typed; a bare number takes the configured unit.
fn parse_load_with_unit(text: &str, unit: &str) -> anyhow::Result<Load> {
    let t = text.trim();
    let bare = !t.is_empty() && t.chars().all(|c| c.is_ascii_digit() || c == '.');
    let full = if bare {
        format!("{t}{unit}")
    } else {
        t.to_string()
    };
    Ok(Load::parse(&full)?)
}

/// What is trained now (the keyboard may change it between sets).
#[derive(Debug, Clone)]
pub(crate) struct Context {
    pub(crate) exercise: Exercise,
    pub(crate) placement: Placement,
    pub(crate) side: Side,
    pub(crate) load: Option<Load>,
}

pub(crate) fn pipeline_for(
    ctx: &Context,
    profile: Option<&PathBuf>,
    cfg: &Config,
) -> anyhow::Result<Pipeline> {
    let calibrated = super::calibrate::user_profile_path(ctx.exercise, ctx.placement)
        .filter(|p| p.exists())
        .filter(|_| profile.is_none() && cfg.profile_for(ctx.exercise, ctx.placement).is_none());
    if let Some(p) = &calibrated {
        esay!("using your calibrated profile {}", p.display());
    }
    let p = match profile
        .or_else(|| cfg.profile_for(ctx.exercise, ctx.placement))
        .or(calibrated.as_ref())
    {
        Some(path) => Profile::load(path, ctx.exercise, ctx.placement)?,
        None => Profile::builtin(ctx.exercise, ctx.placement)?,
    };
    Ok(Pipeline::new(p, ctx.side))
}

/// Syncs the folder holding `file`, so that a new file's entry survives a
/// power cut. Best effort: some file systems refuse to sync a folder.
fn sync_dir(file: &std::path::Path) {
    let dir = match file.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => d,
        None => std::path::Path::new("."),
    };
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Creates a recording file that did not exist, readable by its owner only.
fn create_recording(p: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(p)
}

/// A new recording in `dir`: named by the time to the millisecond and the
/// sensor, with a counter when two sessions start in the same millisecond.
fn new_recording_in(
    dir: &std::path::Path,
    sensor: &str,
) -> std::io::Result<(PathBuf, std::fs::File)> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let base = format!(
        "{}.{:03}-{sensor}",
        crate::daemon::stamp(now.as_secs()),
        now.subsec_millis()
    );
    for n in 1..1000 {
        let name = if n == 1 {
            format!("{base}.csv")
        } else {
            format!("{base}-{n}.csv")
        };
        let p = dir.join(name);
        match create_recording(&p) {
            Ok(f) => return Ok((p, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        "every name for this moment is taken",
    ))
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// The slowest playback `--speed` accepts (besides 0, flat out).
pub const MIN_SPEED: f64 = 0.01;

/// Refuses a playback speed that makes no sense. `--speed 1e-300` used to
/// panic: a sample's due time overflowed a `Duration`.
pub(crate) fn check_speed(speed: f64) -> anyhow::Result<()> {
    if speed.is_finite() && (speed == 0.0 || speed >= MIN_SPEED) {
        return Ok(());
    }
    Err(user_error(format!(
        "--speed {speed:?} must be 0 (as fast as possible) or from {MIN_SPEED} (1 = real time)"
    )))
}

/// When a sample `elapsed_s` into the recording is due at `speed`. A time
/// so far ahead that no `Duration` holds it (a replayed file with
/// t = 1e300) is not waited for.
pub(crate) fn due_after(elapsed_s: f64, speed: f64) -> Duration {
    Duration::try_from_secs_f64((elapsed_s / speed).max(0.0)).unwrap_or(Duration::ZERO)
}

/// Runs the command.
pub fn run(a: RunArgs) -> anyhow::Result<()> {
    check_speed(a.speed)?;
    let (cfg, _) = load_config(a.config.as_ref())?;
    let mut ctx = Context {
        exercise: a.exercise.unwrap_or(cfg.session.exercise),
        placement: a.placement.unwrap_or(cfg.session.placement),
        side: a.side.unwrap_or(cfg.session.side),
        load: a
            .load
            .as_deref()
            .map(|l| parse_load_with_unit(l, &cfg.session.load_unit))
            .transpose()?,
    };
    let mut pipeline = pipeline_for(&ctx, a.profile.as_ref(), &cfg)?;
    let sensor = match a
        .sensor
        .clone()
        .or_else(|| cfg.sensor.first().map(|s| s.address.clone()))
    {
        Some(s) => s,
        None => {
            // Never silently: a systemd unit with no sensor configured
            // would otherwise fill the logbook with made-up sets.
            esay!(
                "medius: no sensor configured (--sensor, or [[sensor]] in the config): SIMULATING; \
                 these sets are saved as simulated (source: sim) and kept out of log, next, trend \
                 and export unless --include-sim"
            );
            "sim".into()
        }
    };
    let rate = a.rate.unwrap_or(cfg.link.rate_hz);
    let stop = Arc::new(AtomicBool::new(false));
    let state = Arc::new(Mutex::new(Status {
        pid: std::process::id(),
        sensor: sensor.clone(),
        ..Status::default()
    }));
    let _server = StatusServer::start(&status::socket_path(), state.clone(), stop.clone())
        .map_err(|e| {
            if e.is_user_error() {
                user_error(e.to_string())
            } else {
                anyhow::Error::new(e)
            }
        })?;
    let (source, ble_report, live_speed) = open_source(
        &sensor,
        &ctx,
        &SourceOptions {
            speed: a.speed,
            sets: a.sets,
            reps: (8, 12),
            lead_in_s: a.lead_in,
            seed: a.seed,
            rate,
            find_timeout_s: a.find_timeout.unwrap_or(cfg.link.find_timeout_s),
            give_up_s: a.give_up.unwrap_or(cfg.link.give_up_s),
            allow: cfg.allowed(),
        },
        stop.clone(),
    )?;
    let ble = ble_report;
    let speed = live_speed;

    // The raw recording: flushed every second, linked to the sets. Never
    // written over: a file that exists (the logbook, the file being
    // replayed, an earlier session) is refused, and a default name that is
    // taken gets a counter.
    let (record_path, record_file) = match (&a.record, a.no_record || !cfg.recording.keep) {
        (Some(p), _) => {
            let f = create_recording(p).map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => user_error(format!(
                    "{} exists; give a new file name (--record never writes over a file)",
                    p.display()
                )),
                _ => user_error(format!("cannot create {}: {e}", p.display())),
            })?;
            (Some(p.clone()), Some(f))
        }
        (None, true) => (None, None),
        (None, false) => match cfg
            .recording
            .dir
            .clone()
            .or_else(config::default_recordings_dir)
        {
            Some(d) => {
                let (p, f) = new_recording_in(&d, &slug(&sensor)).map_err(|e| {
                    user_error(format!("cannot create a recording in {}: {e}", d.display()))
                })?;
                (Some(p), Some(f))
            }
            None => (None, None),
        },
    };
    let mut record = match record_file {
        Some(f) => {
            let mut w = RawWriter::new(std::io::BufWriter::new(f))?;
            w.flush()?;
            w.get_ref().get_ref().sync_all()?;
            // The new file's name is on the disk too.
            if let Some(p) = &record_path {
                sync_dir(p);
            }
            Some(w)
        }
        None => None,
    };

    if let Ok(mut st) = state.lock() {
        st.connected = ble.is_none();
        st.recording = record_path.as_ref().map(|p| p.display().to_string());
    }
    let mut log = if a.no_log {
        None
    } else {
        let arg = LogbookArg {
            logbook: a
                .logbook
                .logbook
                .clone()
                .or_else(|| cfg.logbook.path.clone()),
        };
        let mut lb = arg.open()?;
        lb.set_busy_timeout(Duration::from_secs_f64(cfg.logbook.wait_s))?;
        // One session per logbook, whatever the socket: held to the end, so
        // the recordings still open now were left by writers that are gone.
        let lock = lb.lock_session()?;
        recover(&mut lb, &cfg);
        let recording = match &record_path {
            Some(p) => Some(
                lb.add_recording(&NewRecording {
                    path: std::path::absolute(p)
                        .unwrap_or(p.clone())
                        .display()
                        .to_string(),
                    sha256: None,
                    sensor: sensor.clone(),
                    sample_rate_hz: None,
                    samples: 0,
                    samples_lost: 0,
                    context: Some((
                        ctx.exercise.id().to_string(),
                        ctx.placement,
                        ctx.side,
                        ctx.load.clone(),
                    )),
                    open: true,
                })?,
            ),
            None => None,
        };
        Some(LogSink::new(
            lb,
            recording,
            lock,
            crate::logbook::Source::of_sensor(&sensor),
        ))
    };

    {
        let stop = stop.clone();
        // SIGINT and SIGTERM (the `termination` feature): finish cleanly.
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst));
        // ctrlc's `termination` also ends the session on SIGHUP, but a
        // closed terminal (or a dropped ssh link) must not end a set in
        // progress: ignore it. `medius stop`, Ctrl-C and SIGTERM still end it.
        // SAFETY: setting a signal's disposition to SIG_IGN touches no memory.
        unsafe {
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
        }
    }
    let keys = (a.keys || std::io::stdin().is_terminal()).then(spawn_keyboard);
    esay!(
        "{} · sensor on the {} · {} side{} — watching (Ctrl-C to stop{})",
        ctx.exercise,
        ctx.placement,
        ctx.side,
        ctx.load
            .as_ref()
            .map(|l| format!(" · {l}"))
            .unwrap_or_default(),
        if keys.is_some() { "; ? for keys" } else { "" }
    );
    let mut live = Live::new(a.bell || cfg.feedback.bell, is_pelvis(&pipeline));
    let started = Instant::now();
    let mut t0 = None;
    let mut last_flush = Instant::now();
    let mut last_status = Instant::now();
    let mut events = Vec::new();
    let mut pending: Vec<KeyCommand> = Vec::new();
    let mut reps_in_set = 0usize;
    let mut failure: Option<anyhow::Error> = None;
    for sample in source {
        if stop.load(Ordering::SeqCst) {
            esay!("\nstopped: saving the set in progress");
            break;
        }
        // A source that fails (the sensor never showed up, a bad line in a
        // replay) still gets the open set saved and the recording closed.
        let sample = match sample {
            Ok(s) => s,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        if speed > 0.0 {
            let first = *t0.get_or_insert(sample.t);
            let due = due_after(sample.t - first, speed);
            let now = started.elapsed();
            if due > now + Duration::from_millis(5) {
                std::thread::sleep(due - now);
            }
        }
        if let Some(w) = record.as_mut() {
            w.write(&sample)?;
            if last_flush.elapsed() >= Duration::from_secs(1) {
                // On the disk, not only in the page cache: a power cut
                // loses at most the last second.
                w.flush()?;
                w.get_ref().get_ref().sync_data()?;
                last_flush = Instant::now();
            }
        }
        pipeline.push(&sample, &mut events);
        for e in events.drain(..) {
            live.show(&e);
            match &e {
                Event::Rep { .. } => reps_in_set += 1,
                Event::SetEnded(set) => {
                    reps_in_set = 0;
                    if let Some(log) = log.as_mut() {
                        log.save(set, &ctx, false);
                    }
                }
                Event::NotASet { .. } => reps_in_set = 0,
                Event::RepReturned { .. } => {}
            }
        }
        if let Some(rx) = &keys {
            while let Ok(cmd) = rx.try_recv() {
                pending.push(cmd);
            }
        }
        if !pending.is_empty() {
            if pipeline.set_open() {
                if pending.iter().any(|c| !c.announced_wait) {
                    say!("  (after this set)");
                    pending.iter_mut().for_each(|c| c.announced_wait = true);
                }
            } else {
                for cmd in pending.drain(..) {
                    match apply_key(&cmd.text, &mut ctx, &cfg.session.load_unit, &stop) {
                        Ok(Some(rebuild)) => {
                            if let Some(p) = &record_path {
                                if let Err(e) = note_context(p, sample.t, &ctx) {
                                    esay!("medius: could not note the change beside the recording: {e}");
                                }
                            }
                            if rebuild {
                                pipeline.finish(&mut events);
                                events.clear();
                                pipeline = pipeline_for(&ctx, a.profile.as_ref(), &cfg)?;
                                live.pelvis = is_pelvis(&pipeline);
                            }
                            say!(
                                "  next sets: {} · {} side{}",
                                ctx.exercise,
                                ctx.side,
                                ctx.load
                                    .as_ref()
                                    .map(|l| format!(" · {l}"))
                                    .unwrap_or_default()
                            );
                        }
                        Ok(None) => {}
                        Err(msg) => say!("  {msg}"),
                    }
                }
            }
        }
        if last_status.elapsed() >= Duration::from_millis(200) {
            last_status = Instant::now();
            if let Some(log) = log.as_mut() {
                log.tick();
            }
            update_status(
                &state,
                &pipeline,
                &ctx,
                reps_in_set,
                log.as_ref(),
                ble.as_ref(),
            );
        }
    }
    let interrupted = stop.load(Ordering::SeqCst);
    pipeline.finish(&mut events);
    for e in events.drain(..) {
        live.show(&e);
        if let (Event::SetEnded(set), Some(log)) = (&e, log.as_mut()) {
            log.save(set, &ctx, interrupted);
        }
    }
    let nothing = pipeline.stats().samples == 0;
    if nothing && failure.is_some() {
        let e = failure.take().expect("checked");
        // Nothing ever arrived: leave no empty recording behind, and let the
        // error be the one line the lifter sees.
        drop(record);
        if let Some(p) = &record_path {
            let _ = std::fs::remove_file(p);
        }
        if let Some((log, id)) = log.as_mut().and_then(|l| l.recording.map(|id| (l, id))) {
            let _ = log.lb.forget_recording(id);
        }
        return Err(e);
    }
    // Sets the logbook refused so far get their last tries; any still
    // unsaved keep the recording open, so the next `run` recovers them.
    let unsaved = log.as_mut().map(LogSink::finish).unwrap_or(0);
    if let Some(mut w) = record {
        // Synced before it is hashed and marked closed: a closed recording
        // is whole on the disk.
        w.flush()?;
        w.get_ref().get_ref().sync_all()?;
        drop(w);
        let p = record_path.as_ref().expect("record path");
        esay!("raw samples written to {}", p.display());
        if let Some((log, id)) = log
            .as_mut()
            .filter(|_| unsaved == 0)
            .and_then(|l| l.recording.map(|id| (l, id)))
        {
            let lost = ble
                .as_ref()
                .map(|r| r.lock().map(|r| r.stream.lost).unwrap_or(0))
                .unwrap_or(0);
            let sha = super::logbook::sha256_file(p).ok();
            if let Err(e) =
                log.lb
                    .update_recording(id, pipeline.stats().samples, lost, sha.as_deref())
            {
                esay!("medius: could not update the recording's entry: {e}");
            }
        }
    }
    live.summary(log.as_ref().map(|l| l.saved.as_slice()));
    if let Some(r) = ble {
        let r = r.lock().expect("report lock");
        let recon: Vec<String> = r.reconnect_s.iter().map(|s| format!("{s:.1} s")).collect();
        say!(
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
    if unsaved > 0 {
        let lost = log
            .as_ref()
            .map(|l| {
                l.unsaved
                    .iter()
                    .map(|u| format!("{} reps at {:.0} s", u.set.rep_count(), u.set.start_s))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        return Err(match &record_path {
            Some(p) => anyhow::anyhow!(
                "{unsaved} set(s) could not be saved in the logbook ({lost}); they are in the recording {}, and the next `medius run` saves them",
                p.display()
            ),
            None => anyhow::anyhow!(
                "{unsaved} set(s) could not be saved in the logbook and there is no recording to recover them from ({lost})"
            ),
        });
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// How to open a source (simulator, replay, Bluetooth).
pub(crate) struct SourceOptions {
    /// Playback speed for sim and replay (0 = flat out).
    pub speed: f64,
    /// Simulated sets.
    pub sets: usize,
    /// Simulated reps per set (min, max).
    pub reps: (usize, usize),
    /// Simulator seed.
    pub seed: u64,
    /// Simulated stillness before the first set, s.
    pub lead_in_s: Option<f64>,
    /// Bluetooth rate.
    pub rate: u16,
    /// Bluetooth find timeout.
    pub find_timeout_s: f64,
    /// Bluetooth give-up time.
    pub give_up_s: f64,
    /// Address allow-list.
    pub allow: Vec<String>,
}

/// A stream of samples, the BLE link report when it is a sensor, and the
/// pacing speed to use.
pub(crate) type Source = (
    Box<dyn Iterator<Item = anyhow::Result<Sample>>>,
    Option<Arc<Mutex<LinkReport>>>,
    f64,
);

/// Opens `sim`, `replay:FILE` or a Bluetooth sensor.
pub(crate) fn open_source(
    sensor: &str,
    ctx: &Context,
    o: &SourceOptions,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<Source> {
    let link_report = Arc::new(Mutex::new(LinkReport::default()));
    let mut ble = None;
    let mut speed = o.speed;
    let source: Box<dyn Iterator<Item = anyhow::Result<Sample>>> = if sensor == "sim" {
        let mut sc = SimConfig::new(ctx.exercise, ctx.placement, ctx.side);
        sc.sets = o.sets;
        sc.reps_min = o.reps.0;
        sc.reps_max = o.reps.1;
        sc.rest_min_s = 20.0;
        sc.rest_max_s = 30.0;
        sc.compensation_rate = 0.2;
        sc.seed = o.seed;
        sc.lead_in_s = o.lead_in_s;
        sc.compensation_rate = if o.reps.1 <= 3 {
            0.0
        } else {
            sc.compensation_rate
        };
        sc.validate().map_err(user_error)?;
        let (sim, truth) = Simulator::new(&sc).map_err(user_error)?;
        let counts: Vec<String> = truth.sets.iter().map(|s| s.rep_count.to_string()).collect();
        esay!(
            "simulated sensor: {} on the {}, {} side, {} Hz; the simulated lifter will do {} set(s) of {} reps",
            sc.exercise,
            sc.placement,
            sc.side,
            sc.rate_hz,
            truth.sets.len(),
            counts.join(", ")
        );
        Box::new(sim.map(Ok))
    } else if let Some(path) = sensor.strip_prefix("replay:") {
        let reader = RawReader::open(std::path::Path::new(path))?;
        esay!("replaying {path}");
        Box::new(reader.map(|r| r.map_err(anyhow::Error::from)))
    } else {
        if sensor.trim().is_empty() {
            return Err(user_error(
                "--sensor is empty: give sim, replay:FILE.csv, or a sensor's address or name",
            ));
        }
        let allow = o.allow.clone();
        if !allow.is_empty()
            && sensor.contains(':')
            && !allow.iter().any(|x| x.eq_ignore_ascii_case(sensor))
        {
            return Err(user_error(format!(
                "{sensor} is not one of the sensors in your config ({}); add it there to use it",
                allow.join(", ")
            )));
        }
        esay!("looking for {sensor} …");
        let link = BleLink::start(LinkConfig {
            target: sensor.to_string(),
            rate_hz: o.rate,
            find_timeout_s: o.find_timeout_s,
            give_up_s: o.give_up_s,
            allow,
        });
        ble = Some(link_report.clone());
        // A live sensor is real time already.
        speed = 0.0;
        Box::new(BleSamples::new(
            link,
            o.rate,
            stop.clone(),
            link_report.clone(),
        ))
    };
    Ok((source, ble, speed))
}

/// Sets that were still open when an earlier run died (kill -9, power cut)
/// are in its raw recording, flushed every second: analyse what is there and
/// save the sets not yet in the logbook, marked interrupted. Problems are
/// reported and skipped: recovery never stops a new session.
fn recover(lb: &mut Logbook, cfg: &Config) {
    let open = match lb.open_recordings() {
        Ok(v) => v,
        Err(e) => {
            esay!("medius: could not look for interrupted sessions: {e}");
            return;
        }
    };
    for r in open {
        let path = std::path::Path::new(&r.path);
        let mut samples = 0;
        let mut failed = false;
        if let (Ok(exercise), Ok(reader)) = (r.exercise.parse::<Exercise>(), RawReader::open(path))
        {
            let ctx = Context {
                exercise,
                placement: r.placement,
                side: r.side,
                load: r.load.clone(),
            };
            let changes = read_context_notes(path);
            // A crash can cut the last line: keep everything before it.
            if let Ok((sets, n)) =
                replay_with_context(ctx, &changes, reader.map_while(Result::ok), cfg)
            {
                samples = n;
                for (set, ctx) in sets {
                    if r.saved_starts.iter().any(|s| (s - set.start_s).abs() < 1.0) {
                        continue;
                    }
                    let w = lb.write_sensor_set(
                        &SensorSet {
                            exercise: ctx.exercise.id(),
                            side: ctx.side,
                            placement: ctx.placement,
                            load: ctx.load.clone(),
                            set: &set,
                            interrupted: true,
                            // The recording's start plus where the set began in it.
                            performed_at: crate::logbook::time::from_stored(&r.started_at).map(
                                |at| {
                                    crate::logbook::time::stored(
                                        crate::logbook::time::plus_seconds(
                                            at,
                                            set.start_s.clamp(0.0, 1e9) as i64,
                                        ),
                                    )
                                },
                            ),
                            source: crate::logbook::Source::of_sensor(&r.sensor),
                        },
                        Some(r.id),
                    );
                    match w {
                        Ok(id) => {
                            esay!(
                                "recovered set {id} ({} reps) from an interrupted session ({})",
                                set.reps.len(),
                                r.path
                            );
                        }
                        Err(e) => {
                            failed = true;
                            esay!(
                                "medius: could not recover a set from {} ({e}); the next `medius run` tries again",
                                r.path
                            );
                        }
                    }
                }
            }
        } else {
            esay!(
                "medius: the recording {} of an interrupted session is gone; nothing to recover",
                r.path
            );
        }
        if failed {
            // Left open: the next run tries again.
            continue;
        }
        let sha = super::logbook::sha256_file(path).ok();
        let _ = lb.update_recording(r.id, samples, 0, sha.as_deref());
    }
}

/// The file beside a recording where each context change (`s`, `l 20kg`,
/// `e hip-hitch` between sets) is noted with the time of the last sample
/// before it, so recovery after a crash saves each set with the side, load
/// and exercise the lifter had set.
fn context_notes_path(recording: &std::path::Path) -> PathBuf {
    let mut name = recording.as_os_str().to_owned();
    name.push(".context");
    PathBuf::from(name)
}

/// Appends one change (JSON line) and syncs it to the disk.
fn note_context(recording: &std::path::Path, after_s: f64, ctx: &Context) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(context_notes_path(recording))?;
    let line = serde_json::json!({
        "after_s": after_s,
        "exercise": ctx.exercise.id(),
        "placement": ctx.placement.id(),
        "side": ctx.side.id(),
        "load": ctx.load.as_ref().map(|l| l.to_string()),
    });
    writeln!(f, "{line}")?;
    f.sync_all()?;
    sync_dir(recording);
    Ok(())
}

/// The changes noted beside a recording, in order; none when the file is
/// missing. A line cut by a crash is skipped.
fn read_context_notes(recording: &std::path::Path) -> Vec<(f64, Context)> {
    let Ok(text) = std::fs::read_to_string(context_notes_path(recording)) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            let ctx = Context {
                exercise: v["exercise"].as_str()?.parse().ok()?,
                placement: v["placement"].as_str()?.parse().ok()?,
                side: v["side"].as_str()?.parse().ok()?,
                load: match v["load"].as_str() {
                    Some(t) => Some(Load::parse(t).ok()?),
                    None => None,
                },
            };
            Some((v["after_s"].as_f64()?, ctx))
        })
        .collect()
}

/// Runs the samples through the pipeline as the session did: each noted
/// change applies after its sample, a new exercise or side rebuilds the
/// pipeline. Returns each set with the context it ended in, and the number
/// of samples.
fn replay_with_context(
    mut ctx: Context,
    changes: &[(f64, Context)],
    samples: impl Iterator<Item = Sample>,
    cfg: &Config,
) -> anyhow::Result<(Vec<(Set, Context)>, u64)> {
    let mut pipeline = pipeline_for(&ctx, None, cfg)?;
    let mut events = Vec::new();
    let mut sets = Vec::new();
    let mut next = 0;
    let mut n = 0;
    for s in samples {
        while next < changes.len() && s.t > changes[next].0 {
            let new = changes[next].1.clone();
            next += 1;
            if (new.exercise, new.placement, new.side) != (ctx.exercise, ctx.placement, ctx.side) {
                pipeline.finish(&mut events);
                events.clear();
                pipeline = pipeline_for(&new, None, cfg)?;
            }
            ctx = new;
        }
        n += 1;
        pipeline.push(&s, &mut events);
        for e in events.drain(..) {
            if let Event::SetEnded(set) = e {
                sets.push((set, ctx.clone()));
            }
        }
    }
    pipeline.finish(&mut events);
    for e in events.drain(..) {
        if let Event::SetEnded(set) = e {
            sets.push((set, ctx.clone()));
        }
    }
    Ok((sets, n))
}

fn is_pelvis(p: &Pipeline) -> bool {
    p.profile().reps.signal == crate::motion::profile::RepSignal::Obliquity
}

fn update_status(
    state: &Mutex<Status>,
    pipeline: &Pipeline,
    ctx: &Context,
    reps_in_set: usize,
    log: Option<&LogSink>,
    ble: Option<&Arc<Mutex<LinkReport>>>,
) {
    let Ok(mut s) = state.lock() else { return };
    s.samples = pipeline.stats().samples;
    s.exercise = ctx.exercise.id().into();
    s.side = ctx.side.id().into();
    s.placement = ctx.placement.id().into();
    s.load = ctx.load.as_ref().map(|l| l.to_string());
    s.set_open = pipeline.set_open();
    s.reps_in_set = if s.set_open { reps_in_set } else { 0 };
    if let Some(l) = log {
        s.sets_saved = l.saved.clone();
    }
    if let Some(r) = ble.and_then(|r| r.lock().ok()) {
        s.connected = r.connected;
        s.battery = r.battery;
        s.samples_lost = r.stream.lost;
    }
}

/// A line typed at the terminal, waiting for the set to end.
struct KeyCommand {
    text: String,
    announced_wait: bool,
}

fn spawn_keyboard() -> mpsc::Receiver<KeyCommand> {
    let (tx, rx) = mpsc::channel();
    let _ = std::thread::Builder::new()
        .name("medius-keys".into())
        .spawn(move || {
            let stdin = std::io::stdin();
            for line in stdin.lock().lines() {
                let Ok(line) = line else { break };
                let text = line.trim().to_string();
                if text.is_empty() {
                    continue;
                }
                if tx
                    .send(KeyCommand {
                        text,
                        announced_wait: false,
                    })
                    .is_err()
                {
                    break;
                }
            }
        });
    rx
}

/// Applies one keyboard command between sets. `Ok(Some(true))`: the
/// pipeline must be rebuilt; `Ok(Some(false))`: context changed;
/// `Ok(None)`: nothing to announce.
fn apply_key(
    text: &str,
    ctx: &mut Context,
    unit: &str,
    stop: &AtomicBool,
) -> Result<Option<bool>, String> {
    let (cmd, arg) = match text.split_once(char::is_whitespace) {
        Some((c, a)) => (c, a.trim()),
        None => (text, ""),
    };
    match cmd {
        "e" | "exercise" => {
            let e: Exercise = arg.parse()?;
            Profile::builtin(e, ctx.placement).map_err(|e| e.to_string())?;
            ctx.exercise = e;
            Ok(Some(true))
        }
        "s" | "side" => {
            ctx.side = if arg.is_empty() {
                ctx.side.other()
            } else {
                arg.parse()?
            };
            Ok(Some(true))
        }
        "l" | "load" => {
            ctx.load = Some(parse_load_with_unit(arg, unit).map_err(|e| e.to_string())?);
            Ok(Some(false))
        }
        "q" | "quit" => {
            stop.store(true, Ordering::SeqCst);
            Ok(None)
        }
        "?" | "h" | "help" => {
            say!("  keys: e EXERCISE (next exercise) · s [left|right] (switch side) · l LOAD (new load) · q (end session)");
            Ok(None)
        }
        other => Err(format!("'{other}': not a command (? for help)")),
    }
}

/// Saves each set in the logbook as it ends. A set the logbook refuses
/// (another process held the write lock longer than `[logbook] wait_s`, a
/// full disk) is kept in memory and tried again: before the next set, every
/// few seconds, and at the end of the session. It is never dropped.
struct LogSink {
    lb: Logbook,
    _lock: SessionLock,
    recording: Option<i64>,
    saved: Vec<i64>,
    unsaved: Vec<UnsavedSet>,
    last_retry: Instant,
    source: crate::logbook::Source,
}

/// A set not in the logbook yet, with what it needs to be written later.
struct UnsavedSet {
    set: Set,
    ctx: Context,
    interrupted: bool,
    performed_at: Option<String>,
}

impl LogSink {
    fn new(
        lb: Logbook,
        recording: Option<i64>,
        lock: SessionLock,
        source: crate::logbook::Source,
    ) -> Self {
        LogSink {
            source,
            lb,
            _lock: lock,
            recording,
            saved: Vec::new(),
            unsaved: Vec::new(),
            last_retry: Instant::now(),
        }
    }

    fn write(&mut self, u: &UnsavedSet) -> crate::logbook::Result<i64> {
        self.lb.write_sensor_set(
            &SensorSet {
                exercise: u.ctx.exercise.id(),
                side: u.ctx.side,
                placement: u.ctx.placement,
                load: u.ctx.load.clone(),
                set: &u.set,
                interrupted: u.interrupted,
                performed_at: u.performed_at.clone(),
                source: self.source,
            },
            self.recording,
        )
    }

    fn save(&mut self, set: &Set, ctx: &Context, interrupted: bool) {
        self.retry();
        let u = UnsavedSet {
            set: set.clone(),
            ctx: ctx.clone(),
            interrupted,
            // When it was done, even if it is written later.
            performed_at: self.lb.now().ok(),
        };
        match self.write(&u) {
            Ok(id) => {
                self.saved.push(id);
                say!(
                    "  saved as set {id} (pending{})",
                    if interrupted { ", interrupted" } else { "" }
                );
            }
            Err(e) => {
                esay!("medius: set not saved in the logbook yet ({e}); kept, trying again");
                self.unsaved.push(u);
                self.last_retry = Instant::now();
            }
        }
    }

    /// Writes the sets kept in memory, oldest first; stops at the first
    /// that fails again.
    fn retry(&mut self) {
        while !self.unsaved.is_empty() {
            let u = self.unsaved.remove(0);
            match self.write(&u) {
                Ok(id) => {
                    self.saved.push(id);
                    say!(
                        "  saved as set {id} (pending{}) on a later try",
                        if u.interrupted { ", interrupted" } else { "" }
                    );
                }
                Err(_) => {
                    self.unsaved.insert(0, u);
                    break;
                }
            }
        }
        self.last_retry = Instant::now();
    }

    /// Between samples: try the kept sets again every few seconds.
    fn tick(&mut self) {
        if !self.unsaved.is_empty() && self.last_retry.elapsed() >= Duration::from_secs(5) {
            self.retry();
        }
    }

    /// At the end of the session: a few more tries. Returns how many sets
    /// are still not saved.
    fn finish(&mut self) -> usize {
        for _ in 0..3 {
            if self.unsaved.is_empty() {
                break;
            }
            self.retry();
        }
        self.unsaved.len()
    }
}

/// What the lifter sees.
struct Live {
    bell: bool,
    pelvis: bool,
    sets: Vec<Set>,
    /// (set, rep) announced on its return, its flags still to come.
    announced: Option<(usize, usize)>,
    /// Reps shown for the set in progress.
    shown: usize,
}

impl Live {
    fn new(bell: bool, pelvis: bool) -> Self {
        Live {
            bell,
            pelvis,
            sets: Vec::new(),
            announced: None,
            shown: 0,
        }
    }

    fn withdraw(&mut self, out: &mut impl Write) {
        if let Some((_, n)) = self.announced.take() {
            let _ = writeln!(out, "  (rep {n} withdrawn: that movement was not a rep)");
        }
    }

    fn show(&mut self, e: &Event) {
        let mut out = std::io::stdout().lock();
        match e {
            Event::RepReturned {
                set_number,
                number,
                start_s,
                end_s,
                peak_deg,
            } => {
                if self.announced == Some((*set_number, *number)) {
                    self.withdraw(&mut out);
                }
                let what = if self.pelvis { "pelvis" } else { "range" };
                let _ = writeln!(
                    out,
                    "set {set_number} · rep {number:>2} · {what} {peak_deg:>5.1}° · {:.1}s",
                    end_s - start_s
                );
                self.announced = Some((*set_number, *number));
            }
            Event::Rep { set_number, rep } => {
                self.shown = self.shown.max(rep.number);
                if self.announced == Some((*set_number, rep.number)) {
                    // Counted already; now the flags are known.
                    self.announced = None;
                    if !rep.flags.is_empty() {
                        let _ = writeln!(
                            out,
                            "        rep {:>2} · ⚑ {}",
                            rep.number,
                            flag_words(&rep.flags)
                        );
                    }
                } else {
                    self.withdraw(&mut out);
                    let _ = writeln!(out, "{}", rep_line(*set_number, rep, self.pelvis));
                }
                if self.bell && !rep.flags.is_empty() {
                    let _ = write!(out, "\x07");
                }
            }
            Event::SetEnded(set) => {
                if self
                    .announced
                    .is_some_and(|(s, n)| s != self.sets.len() + 1 || n > set.rep_count())
                {
                    self.withdraw(&mut out);
                }
                self.announced = None;
                let dropped = std::mem::take(&mut self.shown).saturating_sub(set.rep_count());
                if dropped > 0 {
                    // Judged once the set was whole (a shuffle before it, a
                    // swing after it): the set line's count is the one saved.
                    let _ = writeln!(
                        out,
                        "  ({dropped} movement(s) at the set's edges were not reps: a shuffle or a swing)"
                    );
                }
                self.sets.push(set.clone());
                let _ = writeln!(out, "{}", set_line(self.sets.len(), set));
            }
            Event::NotASet { start_s, reps, .. } => {
                self.announced = None;
                self.shown = 0;
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
        say!(
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
    ) + &doubt_lines(set)
}

/// The reasons a set's count is not sure, one `check:` line each.
fn doubt_lines(set: &Set) -> String {
    if set.confidence >= crate::motion::certainty::SURE {
        return String::new();
    }
    set.doubts
        .iter()
        .map(|d| format!("\n  check: {}", d.message))
        .collect()
}

/// `--lead-in`: 0 to 600 s.
fn lead_in_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=600.0).contains(&v) => Ok(v),
        _ => Err(format!("'{s}' is not a number of seconds from 0 to 600")),
    }
}
