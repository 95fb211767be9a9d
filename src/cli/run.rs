//! `medius run`: the daemon at the cable stack, the thin shell around the
//! session core (`src/session/`, which holds the state and decides). Here:
//! the source and keyboard threads send into one channel; the loop takes
//! from it with a timeout for ticks, writes the raw recording, talks to the
//! logbook, prints the session's feedback and keeps the status socket's
//! view up to date from the session's snapshot.

use super::feed::{self, Fed, SourceOptions};
use super::keep::{self, LogSink};
use super::live::{link_line, Live};
use super::logbook::LogbookArg;
use super::user_error;
use crate::daemon::config::{self, Config};
use crate::daemon::status::{self, Status, StatusServer};
use crate::session::{key, Context, Input, Output, SensorId, SensorSetup, SensorSpec, Session};
use crate::{Exercise, Placement, Side};
use clap::Args;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
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
    /// `sim`, `replay:FILE.csv`, or a Bluetooth address (AA:BB:CC:DD:EE:FF) or name, with where it
    /// is worn in front if you like (`ankle=ADDR`, `pelvis=ADDR`) [default: config, else sim].
    #[arg(long, value_parser = SensorSpec::parse)]
    pub sensor: Vec<SensorSpec>,
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

/// How often the loop ticks without samples: the status socket's view,
/// the status line and the logbook's retries are that fresh.
const TICK: Duration = Duration::from_millis(200);

/// The sensors to use: `--sensor` (repeatable), else the config's (two
/// with their placements are a pair), else the simulator, said loudly.
/// Two at once are refused until the fused analysis is plugged in.
pub(crate) fn sensors(given: &[SensorSpec], cfg: &Config) -> anyhow::Result<Vec<SensorSpec>> {
    let specs = if !given.is_empty() {
        given.to_vec()
    } else {
        let placed: Vec<&config::SensorConfig> = cfg
            .sensor
            .iter()
            .filter(|s| s.placement.is_some())
            .collect();
        let pair = placed.len() >= 2
            && placed.iter().any(|s| s.placement == Some(Placement::Ankle))
            && placed
                .iter()
                .any(|s| s.placement == Some(Placement::Pelvis));
        let chosen: Vec<&config::SensorConfig> = if pair {
            placed
        } else {
            cfg.sensor.first().into_iter().collect()
        };
        chosen
            .into_iter()
            .map(|s| {
                let mut spec =
                    SensorSpec::parse(&s.address).map_err(|e| user_error(e.to_string()))?;
                spec.role = s.placement;
                Ok(spec)
            })
            .collect::<anyhow::Result<Vec<_>>>()?
    };
    if specs.len() > 1 {
        return Err(user_error(format!(
            "two sensors at once are not built yet ({}): give one --sensor, or keep one [[sensor]] with a placement in the config",
            specs
                .iter()
                .map(|s| match s.role {
                    Some(r) => format!("{r}={s}"),
                    None => s.to_string(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(specs)
}

/// The context the session starts in: the command line, else the sensor's
/// placement, else the config.
fn first_context(
    exercise: Option<Exercise>,
    placement: Option<Placement>,
    side: Option<Side>,
    load: Option<&str>,
    spec: Option<&SensorSpec>,
    cfg: &Config,
) -> anyhow::Result<Context> {
    let role = spec.and_then(|s| s.role);
    if let (Some(p), Some(r)) = (placement, role) {
        if p != r {
            return Err(user_error(format!(
                "--placement {p} but the sensor is given as {r}={}: say one place",
                spec.map(|s| s.to_string()).unwrap_or_default()
            )));
        }
    }
    Ok(Context {
        exercise: exercise.unwrap_or(cfg.session.exercise),
        placement: placement.or(role).unwrap_or(cfg.session.placement),
        side: side.unwrap_or(cfg.session.side),
        load: load
            .map(|l| key::load_with_unit(l, &cfg.session.load_unit))
            .transpose()?,
    })
}

/// Runs the command.
pub fn run(a: RunArgs) -> anyhow::Result<()> {
    feed::check_speed(a.speed)?;
    let (cfg, _) = feed::load_config(a.config.as_ref())?;
    let given = sensors(&a.sensor, &cfg)?.into_iter().next();
    let ctx = first_context(
        a.exercise,
        a.placement,
        a.side,
        a.load.as_deref(),
        given.as_ref(),
        &cfg,
    )?;
    let mut build = feed::builder(a.profile.clone(), cfg.clone());
    // The profile is checked before anything is opened.
    let first = build(&ctx)?;
    let spec = match given {
        Some(s) => s,
        None => {
            // Never silently: a systemd unit with no sensor configured
            // would otherwise fill the logbook with made-up sets.
            esay!(
                "medius: no sensor configured (--sensor, or [[sensor]] in the config): SIMULATING; \
                 these sets are saved as simulated (source: sim) and kept out of log, next, trend \
                 and export unless --include-sim"
            );
            SensorSpec::SIM
        }
    };
    let sensor = spec.to_string();
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
    // The sources, the link events and the keyboard all send into one
    // channel, bounded so a source played flat out waits for the loop
    // (64 batches of up to 64 samples).
    let (tx, rx) = mpsc::sync_channel::<Fed>(64);
    let opened = feed::open_source(
        &spec,
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
        feed::link_into(SensorId(0), tx.clone()),
    )?;
    let ble = opened.ble.clone();

    let mut record = keep::Recorder::create(
        a.record.as_ref(),
        a.no_record || !cfg.recording.keep,
        &cfg,
        &sensor,
    )?;
    let record_path = record.as_ref().map(|r| r.path().to_path_buf());
    let mut log = if a.no_log {
        None
    } else {
        let book = a
            .logbook
            .logbook
            .clone()
            .or_else(|| cfg.logbook.path.clone());
        Some(keep::open_log(
            LogbookArg { logbook: book },
            &cfg,
            record_path.as_deref(),
            &spec,
            &ctx,
        )?)
    };
    let mut session = Session::starting_with(
        ctx,
        vec![SensorSetup {
            role: spec.role,
            recording: log.as_ref().and_then(|l| l.recording),
            linked: ble.is_some(),
        }],
        first,
        build,
    );
    publish(&state, &session, log.as_ref(), record_path.as_ref());

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
    let keys = a.keys || std::io::stdin().is_terminal();
    if keys {
        feed::spawn_keyboard(cfg.session.load_unit.clone(), tx.clone());
    }
    let feeder = feed::spawn_feed(SensorId(0), opened.samples, opened.speed, opened.batch, tx)?;
    let mut live = Live::new(a.bell || cfg.feedback.bell, super::quiet(), keys);
    let started = Instant::now();
    let mut last_tick = Instant::now();
    let mut out = Vec::new();
    let mut failure: Option<anyhow::Error> = None;
    let mut running = vec![SensorId(0)];
    loop {
        if stop.load(Ordering::SeqCst) {
            session.handle(Input::Stop, &mut out)?;
            act(
                &mut out,
                &mut live,
                log.as_mut(),
                record_path.as_ref(),
                &stop,
            );
            break;
        }
        let wait = TICK.saturating_sub(last_tick.elapsed());
        let inputs = match rx.recv_timeout(wait) {
            Ok(Fed::Input(input)) => vec![input],
            Ok(Fed::Samples(sensor, samples)) => samples
                .into_iter()
                .map(|sample| Input::Sample { sensor, sample })
                .collect(),
            Ok(Fed::BadKey(msg)) => {
                live.line(&format!("  {msg}"));
                vec![]
            }
            // A source that fails (the sensor never showed up, a bad line
            // in a replay) still gets the open set saved and the recording
            // closed.
            Ok(Fed::Failed(id, e)) => {
                live.clear();
                running.retain(|r| *r != id);
                failure = Some(e);
                vec![Input::Ended]
            }
            // The session ends with its last source.
            Ok(Fed::Over(id)) => {
                running.retain(|r| *r != id);
                if running.is_empty() {
                    vec![Input::Ended]
                } else {
                    vec![]
                }
            }
            Err(RecvTimeoutError::Disconnected) => vec![Input::Ended],
            Err(RecvTimeoutError::Timeout) => vec![],
        };
        for input in inputs {
            if let (Input::Sample { sample, .. }, Some(r)) = (&input, record.as_mut()) {
                r.write(sample)?;
            }
            session.handle(input, &mut out)?;
            act(
                &mut out,
                &mut live,
                log.as_mut(),
                record_path.as_ref(),
                &stop,
            );
        }
        if session.is_over() {
            break;
        }
        if last_tick.elapsed() >= TICK {
            last_tick = Instant::now();
            let now_s = started.elapsed().as_secs_f64();
            session.handle(Input::Tick { now_s }, &mut out)?;
            act(
                &mut out,
                &mut live,
                log.as_mut(),
                record_path.as_ref(),
                &stop,
            );
            if let Some(log) = log.as_mut() {
                log.tick();
                for m in log.said.drain(..) {
                    live.line(&m);
                }
            }
            if session.samples() > 0 {
                live.status(&session.snapshot());
            }
            publish(&state, &session, log.as_ref(), record_path.as_ref());
        }
    }
    // The sources see the loop is gone (a closed channel, the stop flag);
    // a Bluetooth link is given a moment to let go of the sensor.
    drop(rx);
    let until = Instant::now() + Duration::from_secs(2);
    while !feeder.is_finished() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    live.clear();
    let samples = session.samples();
    if samples == 0 && failure.is_some() {
        let e = failure.take().expect("checked");
        // Nothing ever arrived: leave no empty recording behind, and let the
        // error be the one line the lifter sees.
        if let Some(r) = record {
            r.discard();
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
    if let Some(r) = record {
        // Synced before it is hashed and marked closed: a closed recording
        // is whole on the disk.
        let p = &r.close()?;
        etell!("raw samples written to {}", p.display());
        if let Some((log, id)) = log
            .as_mut()
            .filter(|_| unsaved == 0)
            .and_then(|l| l.recording.map(|id| (l, id)))
        {
            let lost = session
                .link(SensorId(0))
                .map(|l| l.samples_lost)
                .unwrap_or(0);
            let sha = super::logbook::sha256_file(p).ok();
            if let Err(e) = log.lb.update_recording(id, samples, lost, sha.as_deref()) {
                esay!("medius: could not update the recording's entry: {e}");
            }
        }
    }
    live.summary(session.sets(), log.as_ref().map(|l| l.saved.as_slice()));
    if let Some(r) = ble {
        tell!("{}", link_line(&r.lock().expect("report lock")));
    }
    if let Some(log) = log.as_ref().filter(|_| unsaved > 0) {
        return Err(log.unsaved_error(record_path.as_deref()));
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Does what the session asked: tells the lifter, saves sets, notes
/// context changes beside the recording, stops on `q`.
fn act(
    out: &mut Vec<Output>,
    live: &mut Live,
    mut log: Option<&mut LogSink>,
    record: Option<&PathBuf>,
    stop: &AtomicBool,
) {
    for o in out.drain(..) {
        match o {
            Output::Feedback(f) => live.show(&f),
            Output::Save(set) => {
                if let Some(log) = log.as_deref_mut() {
                    log.save(set);
                    for m in log.said.drain(..) {
                        live.line(&m);
                    }
                }
            }
            Output::Note { after_s, context } => {
                if let Some(p) = record {
                    if let Err(e) = keep::note_context(p, after_s, &context) {
                        live.clear();
                        esay!("medius: could not note the change beside the recording: {e}");
                    }
                }
            }
            Output::End => stop.store(true, Ordering::SeqCst),
        }
    }
}

/// The status socket's view, from the session's snapshot.
fn publish(
    state: &Mutex<Status>,
    session: &Session,
    log: Option<&LogSink>,
    record: Option<&PathBuf>,
) {
    let snap = session.snapshot();
    let Ok(mut s) = state.lock() else { return };
    s.samples = snap.samples;
    s.exercise = snap.context.exercise.id().into();
    s.side = snap.context.side.id().into();
    s.placement = snap.context.placement.id().into();
    s.load = snap.context.load.as_ref().map(|l| l.to_string());
    s.set_open = snap.set_open;
    s.reps_in_set = snap.reps_in_set;
    s.connected = snap.connected;
    s.battery = snap.battery;
    s.samples_lost = snap.samples_lost;
    s.recording = record.map(|p| p.display().to_string());
    if let Some(l) = log {
        s.sets_saved = l.saved.clone();
    }
}

/// `--lead-in`: 0 to 600 s.
fn lead_in_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=600.0).contains(&v) => Ok(v),
        _ => Err(format!("'{s}' is not a number of seconds from 0 to 600")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        Config::parse(text, "config.toml").unwrap()
    }

    #[test]
    fn a_configured_sensor_brings_its_placement() {
        let cfg = config(
            "[session]\nplacement = \"ankle\"\n\n\
             [[sensor]]\naddress = \"C0:FF:EE:00:00:01\"\nplacement = \"pelvis\"\n\n\
             [[sensor]]\naddress = \"C0:FF:EE:00:00:02\"\n",
        );
        let specs = sensors(&[], &cfg).unwrap();
        assert_eq!(specs.len(), 1, "one placed sensor is not a pair");
        assert_eq!(specs[0].role, Some(Placement::Pelvis));
        let ctx = first_context(None, None, None, None, specs.first(), &cfg).unwrap();
        assert_eq!(ctx.placement, Placement::Pelvis);
        // --placement wins when it agrees, and is refused when it does not.
        assert!(first_context(
            None,
            Some(Placement::Ankle),
            None,
            None,
            specs.first(),
            &cfg
        )
        .is_err());
        // --sensor replaces the config's sensors.
        let given = [SensorSpec::parse("sim").unwrap()];
        let specs = sensors(&given, &cfg).unwrap();
        assert_eq!(specs, given);
        let ctx = first_context(None, None, None, Some("20"), specs.first(), &cfg).unwrap();
        assert_eq!(ctx.placement, Placement::Ankle);
        assert_eq!(ctx.load.unwrap().to_string(), "20kg");
    }

    #[test]
    fn a_configured_pair_is_not_built_yet() {
        let cfg = config(
            "[[sensor]]\naddress = \"C0:FF:EE:00:00:01\"\nplacement = \"ankle\"\n\n\
             [[sensor]]\naddress = \"C0:FF:EE:00:00:02\"\nplacement = \"pelvis\"\n",
        );
        let e = sensors(&[], &cfg).unwrap_err();
        assert!(super::super::is_user_error(&e));
        assert!(
            e.to_string().starts_with("two sensors at once are not built yet (ankle=C0:FF:EE:00:00:01, pelvis=C0:FF:EE:00:00:02)"),
            "{e}"
        );
        // No sensor at all: none here, the simulator is the caller's word.
        assert!(sensors(&[], &Config::default()).unwrap().is_empty());
    }
}
