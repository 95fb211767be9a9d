//! `medius run`: the daemon at the cable stack. One session: a source
//! (simulated, replayed or Bluetooth sensor), the pipeline, live feedback,
//! sets into the logbook as pending, the raw recording, the status socket,
//! and keyboard control between sets.

use super::live_ble::{BleSamples, LinkReport};
use super::logbook::LogbookArg;
use super::user_error;
use crate::daemon::config::{self, Config};
use crate::daemon::status::{self, Status, StatusServer};
use crate::logbook::{Load, Logbook, NewRecording, SensorSet, SessionLock};
use crate::motion::{Event, Pipeline, Profile, Rep, Set};
use crate::report::{certainty, flag_most, flags_of_rep};
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
/// Between sets, type at the terminal: `e hip-hitch pelvis` (next exercise,
/// and where the sensor now is), `p pelvis` (the sensor moved), `s` (switch
/// side), `l 15kg` (new load), `q` (end the session), `?` (help).
///
/// In a terminal the last line shows the rep count during a set and the rest
/// timer between sets; piped, only the plain lines are printed.
///
/// Ctrl-C, SIGTERM or `medius stop` end the session: the reps of the set in
/// progress are saved as an interrupted set when they make a set (at least
/// two reps, alike enough), and the output says which it was. The raw samples are kept (flushed every second)
/// in ~/.local/share/medius/recordings unless --no-record.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  medius run --sensor sim\n  medius run --sensor sim -e hip-hitch -p pelvis -s left --speed 8\n  medius run --sensor replay:session.csv -e side-lying-abduction --speed 0\n  medius run --sensor C0:FF:EE:00:00:01 --load 12.5kg"
)]
pub struct RunArgs {
    /// `sim`, `replay:FILE.csv`, or a Bluetooth address (AA:BB:CC:DD:EE:FF) or name [default: config, else sim].
    #[arg(long)]
    pub sensor: Option<String>,
    /// Exercise [default: config, else standing-cable-abduction].
    #[arg(short, long, value_enum)]
    pub exercise: Option<Exercise>,
    /// Where the sensor is: ankle or pelvis [default: config, else ankle].
    #[arg(short, long, value_enum)]
    pub placement: Option<Placement>,
    /// Working side: left or right [default: config, else right].
    #[arg(short, long, value_enum)]
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
    /// Simulated or replayed sensor: playback speed (1 = real time, 4 = four
    /// times faster, 0 = as fast as possible).
    #[arg(long, default_value_t = 1.0)]
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
        etell!("using your calibrated profile {}", p.display());
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
    let mut live = Live::new(
        a.bell || cfg.feedback.bell,
        is_pelvis(&pipeline),
        super::quiet(),
    );
    // Said once the first sample is in: a sensor that never answers gets
    // its error, not a "watching" line before it.
    let mut watching = false;
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
            live.clear();
            if pipeline.set_open() {
                etell!(
                    "stopped during a set: its reps so far are judged and kept if they make a set"
                );
            } else {
                etell!("stopped");
            }
            break;
        }
        // A source that fails (the sensor never showed up, a bad line in a
        // replay) still gets the open set saved and the recording closed.
        let sample = match sample {
            Ok(s) => s,
            Err(e) => {
                live.clear();
                failure = Some(e);
                break;
            }
        };
        if !watching {
            watching = true;
            etell!(
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
        }
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
                        for m in log.said.drain(..) {
                            live.line(&m);
                        }
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
                    live.line("  (after this set)");
                    pending.iter_mut().for_each(|c| c.announced_wait = true);
                }
            } else {
                for cmd in pending.drain(..) {
                    match apply_key(&cmd.text, &mut ctx, &cfg.session.load_unit, &stop) {
                        Ok(Some(rebuild)) => {
                            if let Some(p) = &record_path {
                                if let Err(e) = note_context(p, sample.t, &ctx) {
                                    live.clear();
                                    esay!("medius: could not note the change beside the recording: {e}");
                                }
                            }
                            if rebuild {
                                pipeline.finish(&mut events);
                                events.clear();
                                pipeline = pipeline_for(&ctx, a.profile.as_ref(), &cfg)?;
                                live.pelvis = is_pelvis(&pipeline);
                            }
                            live.line(&format!(
                                "  next sets: {} · sensor on the {} · {} side{}",
                                ctx.exercise,
                                ctx.placement,
                                ctx.side,
                                ctx.load
                                    .as_ref()
                                    .map(|l| format!(" · {l}"))
                                    .unwrap_or_default()
                            ));
                        }
                        Ok(None) => {}
                        Err(msg) => live.line(&format!("  {msg}")),
                    }
                }
            }
        }
        if last_status.elapsed() >= Duration::from_millis(200) {
            last_status = Instant::now();
            if let Some(log) = log.as_mut() {
                log.tick();
                for m in log.said.drain(..) {
                    live.line(&m);
                }
            }
            live.status(sample.t, &ctx);
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
            for m in log.said.drain(..) {
                live.line(&m);
            }
        }
    }
    live.clear();
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
    if let Some(log) = log.as_mut() {
        for m in log.said.drain(..) {
            live.line(&m);
        }
    }
    if let Some(mut w) = record {
        // Synced before it is hashed and marked closed: a closed recording
        // is whole on the disk.
        w.flush()?;
        w.get_ref().get_ref().sync_all()?;
        drop(w);
        let p = record_path.as_ref().expect("record path");
        etell!("raw samples written to {}", p.display());
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
        tell!(
            "link: {} samples, {} lost, {}{}{}",
            r.stream.samples,
            r.stream.lost,
            plural(r.dropouts as usize, "drop-out", "drop-outs"),
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
                    .map(|u| {
                        format!(
                            "{} at {:.0} s",
                            plural(u.set.rep_count(), "rep", "reps"),
                            u.set.start_s
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        return Err(match &record_path {
            Some(p) => anyhow::anyhow!(
                "{} could not be saved in the logbook ({lost}); they are in the recording {}, and the next `medius run` saves them",
                plural(unsaved, "set", "sets"),
                p.display()
            ),
            None => anyhow::anyhow!(
                "{} could not be saved in the logbook and there is no recording to recover them from ({lost})",
                plural(unsaved, "set", "sets")
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
        etell!(
            "simulated sensor: {} on the {}, {} side, {} Hz; the simulated lifter will do {} of {} reps",
            sc.exercise,
            sc.placement,
            sc.side,
            sc.rate_hz,
            plural(truth.sets.len(), "set", "sets"),
            counts.join(", ")
        );
        Box::new(sim.map(Ok))
    } else if let Some(path) = sensor.strip_prefix("replay:") {
        let reader = RawReader::open(std::path::Path::new(path))?;
        etell!("replaying {path}");
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
        etell!("looking for {sensor} …");
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
                            etell!(
                                "recovered logbook set #{id} ({}) from an interrupted session ({})",
                                plural(set.reps.len(), "rep", "reps"),
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
            // `e hip-hitch` or `e hip-hitch pelvis`: the placement may change with it.
            let (name, place) = match arg.split_once(char::is_whitespace) {
                Some((n, p)) => (n, Some(p.trim().parse::<Placement>()?)),
                None => (arg, None),
            };
            let e: Exercise = name.replace('_', "-").parse()?;
            let placement = place.unwrap_or(ctx.placement);
            if Profile::builtin(e, placement).is_err() {
                let other = match placement {
                    Placement::Ankle => Placement::Pelvis,
                    Placement::Pelvis => Placement::Ankle,
                };
                return Err(if Profile::builtin(e, other).is_ok() {
                    format!(
                        "{e} is counted with the sensor on the {other}, not the {placement}: move the sensor, then type `e {e} {other}`"
                    )
                } else {
                    format!("{e} is not counted by the sensor (log it with `medius log add`)")
                });
            }
            ctx.exercise = e;
            ctx.placement = placement;
            Ok(Some(true))
        }
        "p" | "placement" => {
            let p: Placement = arg.parse()?;
            if Profile::builtin(ctx.exercise, p).is_err() {
                return Err(format!(
                    "{} is not counted with the sensor on the {p}: give the exercise too, e.g. `e hip-hitch {p}`",
                    ctx.exercise
                ));
            }
            ctx.placement = p;
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
        // Not an error, but shown the same way: one line at the stack.
        "?" | "h" | "help" => Err("keys: e EXERCISE [ankle|pelvis] (next exercise) · p ankle|pelvis (sensor moved) · s [left|right] (switch side) · l LOAD (new load) · q (end session)".into()),
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
    /// What to tell the lifter (printed by the live view, between its lines).
    said: Vec<String>,
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
            said: Vec::new(),
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
                let good = super::style::GOOD;
                self.said.push(format!(
                    "  {good}saved{good:#} in the logbook as #{id} (pending{}) — medius review {id}",
                    if interrupted { ", interrupted" } else { "" }
                ));
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
                    self.said.push(format!(
                        "  saved in the logbook as #{id} (pending{}) on a later try",
                        if u.interrupted { ", interrupted" } else { "" }
                    ));
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

/// What the lifter sees. Each rep and set is a line; in a terminal, one
/// more line at the bottom is redrawn in place: the live rep count during a
/// set, the rest timer between sets. Piped or under systemd there is no
/// such line, only the plain ones; under `-q` nothing but errors.
struct Live {
    bell: bool,
    pelvis: bool,
    quiet: bool,
    /// Redraw a status line (stdout is a terminal).
    status_line: bool,
    /// The status line is on the screen now (cleared before any other line).
    drawn: bool,
    sets: Vec<Set>,
    /// (pipeline set, rep) announced on its return, its flags still to come.
    announced: Option<(usize, usize)>,
    /// Reps shown for the set in progress.
    shown: usize,
    /// When the last set ended (the sensor's clock, s): the rest timer.
    rest_from: Option<f64>,
    /// When the last rep of the set in progress came back (s).
    last_rep_end: Option<f64>,
    /// The reps of the set in progress, with their flags: its summary so
    /// far on the status line while the lifter rests.
    so_far: Vec<Rep>,
}

impl Live {
    fn new(bell: bool, pelvis: bool, quiet: bool) -> Self {
        Live {
            bell,
            pelvis,
            quiet,
            status_line: !quiet && std::io::stdout().is_terminal(),
            drawn: false,
            sets: Vec::new(),
            announced: None,
            shown: 0,
            rest_from: None,
            last_rep_end: None,
            so_far: Vec::new(),
        }
    }

    /// The number of the set in progress in this session (set 1, set 2…):
    /// the same on its rep lines, its summary and the status line.
    fn set_in_progress(&self) -> usize {
        self.sets.len() + 1
    }

    /// Prints a line, first wiping the status line if it is drawn.
    fn line(&mut self, text: &str) {
        if self.quiet {
            return;
        }
        let mut out = anstream::stdout().lock();
        if std::mem::take(&mut self.drawn) {
            let _ = write!(out, "\r\x1b[2K");
        }
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }

    /// Wipes the status line (before the program ends or asks something).
    fn clear(&mut self) {
        if std::mem::take(&mut self.drawn) {
            let mut out = anstream::stdout().lock();
            let _ = write!(out, "\r\x1b[2K");
            let _ = out.flush();
        }
    }

    /// Redraws the status line: the rep count during a set, the rest
    /// timer (and what comes next) between sets. `now_s` is the sensor's
    /// clock, so the timer runs at the playback speed.
    fn status(&mut self, now_s: f64, ctx: &Context) {
        if !self.status_line {
            return;
        }
        let count = super::style::COUNT;
        let text = if self.shown > 0 {
            // The set is closed once no rep has come for its gap (10 s);
            // the rest timer starts a second after the last rep is back.
            let resting = self
                .last_rep_end
                .map(|end| now_s - end)
                .filter(|r| *r >= 1.0)
                .map(|r| {
                    let r = r as u64;
                    format!(" · rest {}:{:02}", r / 60, r % 60)
                })
                .unwrap_or_default();
            let head = format!(
                "▶ set {} · {}{resting}",
                self.set_in_progress(),
                plural(self.shown, "rep", "reps")
            );
            // Resting, the set so far (range, flags) follows, cut to the
            // terminal's width so the line never wraps.
            let mut summary = match (resting.is_empty(), self.so_far.first(), self.so_far.last()) {
                (false, Some(first), Some(last)) => set_body(
                    &Set {
                        start_s: first.start_s,
                        end_s: last.end_s,
                        reps: self.so_far.clone(),
                        confidence: 1.0,
                        doubts: Vec::new(),
                    },
                    self.pelvis,
                    false,
                ),
                _ => String::new(),
            };
            let room = usize::from(crate::terminal::width().unwrap_or(80))
                .saturating_sub(head.chars().count() + 1);
            if summary.chars().count() > room {
                summary = summary
                    .chars()
                    .take(room.saturating_sub(1))
                    .collect::<String>()
                    + "…";
            }
            format!(
                "▶ set {} · {count}{}{count:#}{resting}{summary}",
                self.set_in_progress(),
                plural(self.shown, "rep", "reps")
            )
        } else if let Some(from) = self.rest_from {
            let rest = (now_s - from).max(0.0) as u64;
            format!(
                "rest {count}{}:{:02}{count:#} · next: set {} · {} · {} side{}",
                rest / 60,
                rest % 60,
                self.set_in_progress(),
                ctx.exercise,
                ctx.side,
                ctx.load
                    .as_ref()
                    .map(|l| format!(" · {l}"))
                    .unwrap_or_default()
            )
        } else {
            format!("waiting for the first rep · set {}", self.set_in_progress())
        };
        let mut out = anstream::stdout().lock();
        let _ = write!(out, "\r\x1b[2K{text}");
        let _ = out.flush();
        self.drawn = true;
    }

    fn withdraw(&mut self) {
        if let Some((_, n)) = self.announced.take() {
            self.line(&format!(
                "  (rep {n} withdrawn: that movement was not a rep)"
            ));
        }
    }

    fn show(&mut self, e: &Event) {
        match e {
            Event::RepReturned {
                set_number,
                number,
                start_s,
                end_s,
                peak_deg,
            } => {
                if self.announced == Some((*set_number, *number)) {
                    self.withdraw();
                }
                let what = if self.pelvis { "pelvis" } else { "range" };
                let count = super::style::COUNT;
                self.shown = self.shown.max(*number);
                self.last_rep_end = Some(*end_s);
                self.line(&format!(
                    "set {} · {count}rep {number:>2}{count:#} · {what} {peak_deg:>5.1}° · {:.1}s",
                    self.set_in_progress(),
                    end_s - start_s
                ));
                self.announced = Some((*set_number, *number));
            }
            Event::Rep { set_number, rep } => {
                self.shown = self.shown.max(rep.number);
                self.last_rep_end = Some(rep.end_s);
                self.so_far.push(rep.clone());
                if self.announced == Some((*set_number, rep.number)) {
                    // Counted already; now the flags are known.
                    self.announced = None;
                    if !rep.flags.is_empty() {
                        let flag = super::style::FLAG;
                        self.line(&format!(
                            "        rep {:>2} · {flag}⚑ {}{flag:#}",
                            rep.number,
                            flags_of_rep(&rep.flags, Some(rep.peak_deg))
                        ));
                    }
                } else {
                    self.withdraw();
                    let text = rep_line(self.set_in_progress(), rep, self.pelvis);
                    self.line(&text);
                }
                if self.bell && !rep.flags.is_empty() && !self.quiet {
                    show!("\x07");
                }
            }
            Event::SetEnded(set) => {
                if self.announced.is_some_and(|(_, n)| n > set.rep_count()) {
                    self.withdraw();
                }
                self.announced = None;
                let dropped = std::mem::take(&mut self.shown).saturating_sub(set.rep_count());
                if dropped > 0 {
                    // Judged once the set was whole (a shuffle before it, a
                    // swing after it): the set line's count is the one saved.
                    self.line(&format!(
                        "  ({} at the set's edges {} not reps: a shuffle or a swing)",
                        plural(dropped, "movement", "movements"),
                        if dropped == 1 { "was" } else { "were" }
                    ));
                }
                self.sets.push(set.clone());
                self.rest_from = Some(set.end_s);
                self.last_rep_end = None;
                self.so_far.clear();
                let text = set_line(self.sets.len(), set, self.pelvis);
                self.line(&text);
            }
            Event::NotASet {
                start_s,
                end_s,
                reps,
            } => {
                self.announced = None;
                self.shown = 0;
                self.rest_from = Some(*end_s);
                self.last_rep_end = None;
                self.so_far.clear();
                self.line(&format!(
                    "  (not kept: {} at {start_s:.0} s — {})",
                    plural(*reps, "rep-like movement", "rep-like movements"),
                    if *reps < 2 {
                        "a set needs at least 2 reps"
                    } else {
                        "too few, or too unlike each other, to be a set"
                    }
                ));
            }
        }
    }

    fn summary(&mut self, saved: Option<&[i64]>) {
        let reps: usize = self.sets.iter().map(|s| s.rep_count()).sum();
        let flagged: usize = self
            .sets
            .iter()
            .flat_map(|s| s.reps.iter())
            .filter(|r| !r.flags.is_empty())
            .count();
        let where_ = match saved {
            None => "not saved (--no-log)".to_string(),
            Some([]) => "no set saved".to_string(),
            Some(ids) => {
                let ids: Vec<String> = ids.iter().map(|i| format!("#{i}")).collect();
                format!(
                    "saved in the logbook as pending {} {} — review with `medius review`",
                    if ids.len() == 1 { "set" } else { "sets" },
                    ids.join(", ")
                )
            }
        };
        let count = super::style::COUNT;
        self.line(&format!(
            "session: {}, {count}{}{count:#}, {} flagged — {where_}",
            plural(self.sets.len(), "set", "sets"),
            plural(reps, "rep", "reps"),
            flagged
        ));
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    crate::terminal::plural(n as i64, one, many)
}

fn rep_line(set: usize, rep: &Rep, pelvis: bool) -> String {
    let what = if pelvis { "pelvis" } else { "range" };
    let (count, flag) = (super::style::COUNT, super::style::FLAG);
    format!(
        "set {set} · {count}rep {:>2}{count:#} · {what} {:>5.1}° · up {:.1}s hold {:.1}s down {:.1}s{}",
        rep.number,
        rep.peak_deg,
        rep.concentric_s,
        rep.pause_s,
        rep.eccentric_s,
        if rep.flags.is_empty() {
            String::new()
        } else {
            format!(
                " · {flag}⚑ {}{flag:#}",
                flags_of_rep(&rep.flags, Some(rep.peak_deg))
            )
        }
    )
}

/// One line that sums up a set: reps, range (at the pelvis: how far the
/// pelvis moved), flags by kind in their own units with the reps they hit.
pub fn set_line(number: usize, set: &Set, pelvis: bool) -> String {
    let count = super::style::COUNT;
    format!(
        "set {number} done: {count}{}{count:#} ({}){}",
        plural(set.rep_count(), "rep", "reps"),
        certainty(set.confidence),
        set_body(set, pelvis, true)
    ) + &doubt_lines(set)
}

/// A set's range, length and flags: " · range 24-45° · 36 s · momentum on…";
/// `styled`: the flags in colour (not on the status line, which is cut to
/// the terminal's width).
fn set_body(set: &Set, pelvis: bool, styled: bool) -> String {
    let peaks: Vec<f64> = set.reps.iter().map(|r| r.peak_deg).collect();
    let lo = peaks.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = peaks.iter().copied().fold(0.0, f64::max);
    let mut notes = Vec::new();
    for kind in crate::motion::FlagKind::ALL {
        let hits: Vec<(usize, &crate::motion::Flag)> = set
            .reps
            .iter()
            .filter_map(|r| {
                r.flags
                    .iter()
                    .find(|f| f.kind == kind)
                    .map(|f| (r.number, f))
            })
            .collect();
        if hits.is_empty() {
            continue;
        }
        let nums: Vec<String> = hits.iter().map(|(n, _)| n.to_string()).collect();
        let flags: Vec<&crate::motion::Flag> = hits.iter().map(|(_, f)| *f).collect();
        notes.push(format!(
            "{} on {} {} ({})",
            kind.words(),
            if nums.len() == 1 { "rep" } else { "reps" },
            nums.join(","),
            flag_most(kind, &flags)
        ));
    }
    let (mut flag, mut good) = (super::style::FLAG, super::style::GOOD);
    if !styled {
        (flag, good) = (anstyle::Style::new(), anstyle::Style::new());
    }
    format!(
        " · {} {:.0}-{:.0}° · {:.0} s{}",
        if pelvis { "pelvis moved" } else { "range" },
        lo,
        hi,
        set.end_s - set.start_s,
        if notes.is_empty() {
            format!(" · {good}clean{good:#}")
        } else {
            format!(" · {flag}{}{flag:#}", notes.join("; "))
        }
    )
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
