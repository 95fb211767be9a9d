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
use super::{user_error, Placements};
use crate::daemon::config::{self, Config};
use crate::daemon::status::{self, Status, StatusServer};
use crate::session::{
    key, Context, Input, Output, SensorId, SensorKind, SensorSetup, SensorSpec, Session,
};
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
    /// Where the sensor is: ankle, pelvis, or both (two sensors) [default: config, else ankle].
    #[arg(short, long, value_enum)]
    pub placement: Option<Placements>,
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
/// with their placements are a pair), else the simulator (`None`, said
/// loudly). Two are one at the ankle and one at the pelvis;
/// `--placement both` with one `sim` (or none) is the simulated pair.
pub(crate) fn sensors(
    given: &[SensorSpec],
    placement: Option<Placements>,
    cfg: &Config,
) -> anyhow::Result<Vec<SensorSpec>> {
    let mut specs = if !given.is_empty() {
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
        let chosen: Vec<&config::SensorConfig> = if pair
            && placement != Some(Placements::Ankle)
            && placement != Some(Placements::Pelvis)
        {
            placed
        } else {
            // One placement asked for: the configured sensor worn there.
            placement
                .and_then(Placements::one)
                .and_then(|p| cfg.sensor.iter().find(|s| s.placement == Some(p)))
                .or(cfg.sensor.first())
                .into_iter()
                .collect()
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
    let shown = |specs: &[SensorSpec]| {
        specs
            .iter()
            .map(|s| match s.role {
                Some(r) => format!("{r}={s}"),
                None => s.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    if placement == Some(Placements::Both) && specs.len() < 2 {
        match specs.first() {
            None => {}
            Some(s) if s.kind == SensorKind::Sim => specs.clear(),
            Some(_) => {
                return Err(user_error(format!(
                    "--placement both needs two sensors, one at each: \
                     --sensor ankle=ADDR --sensor pelvis=ADDR (given: {})",
                    shown(&specs)
                )))
            }
        }
        if specs.is_empty() && !given.is_empty() {
            specs = sim_pair();
        }
    }
    if specs.len() > 2 {
        return Err(user_error(format!(
            "{} sensors given ({}): medius follows one, or two (one at the ankle, one at the pelvis)",
            specs.len(),
            shown(&specs)
        )));
    }
    if specs.len() == 2 {
        let roles = (specs[0].role, specs[1].role);
        match roles {
            (Some(Placement::Ankle), Some(Placement::Pelvis)) => {}
            (Some(Placement::Pelvis), Some(Placement::Ankle)) => specs.swap(0, 1),
            _ => {
                return Err(user_error(format!(
                "two sensors must say where each is worn, one at the ankle and one at the pelvis: \
                     --sensor ankle=ADDR --sensor pelvis=ADDR (given: {})",
                shown(&specs)
            )))
            }
        }
        if let Some(p @ (Placements::Ankle | Placements::Pelvis)) = placement {
            return Err(user_error(format!(
                "--placement {} but two sensors are given ({}): leave --placement out, or say both",
                p.one().map(|p| p.to_string()).unwrap_or_default(),
                shown(&specs)
            )));
        }
    }
    Ok(specs)
}

/// The simulator playing both sensors of one lifter, ankle first.
fn sim_pair() -> Vec<SensorSpec> {
    [Placement::Ankle, Placement::Pelvis]
        .into_iter()
        .map(|role| SensorSpec {
            role: Some(role),
            ..SensorSpec::SIM
        })
        .collect()
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
    let given = sensors(&a.sensor, a.placement, &cfg)?;
    let both = a.placement == Some(Placements::Both);
    let pair = given.len() == 2 || both;
    if pair && a.profile.is_some() {
        return Err(user_error(
            "--profile names one placement's profile; with two sensors give them in the config's [profiles]",
        ));
    }
    let ctx = first_context(
        a.exercise,
        if pair {
            Some(Placement::Ankle)
        } else {
            a.placement.and_then(Placements::one)
        },
        a.side,
        a.load.as_deref(),
        given.first().filter(|_| !pair),
        &cfg,
    )?;
    let mut build = if pair {
        feed::pair_builder(cfg.clone())
    } else {
        feed::builder(a.profile.clone(), cfg.clone())
    };
    // The profile is checked before anything is opened.
    let first = build(&ctx)?;
    let specs = if given.is_empty() {
        // Never silently: a systemd unit with no sensor configured
        // would otherwise fill the logbook with made-up sets.
        esay!(
            "medius: no sensor configured (--sensor, or [[sensor]] in the config): SIMULATING; \
             these sets are saved as simulated (source: sim) and kept out of log, next, trend \
             and export unless --include-sim"
        );
        if pair {
            sim_pair()
        } else {
            vec![SensorSpec::SIM]
        }
    } else {
        given
    };
    let sensor = specs
        .iter()
        .map(|s| match (s.role, pair) {
            (Some(r), true) => format!("{r}={s}"),
            _ => s.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let rate = a.rate.unwrap_or(cfg.link.rate_hz);
    let stop = Arc::new(AtomicBool::new(false));
    let state = Arc::new(Mutex::new(Status {
        pid: std::process::id(),
        sensor: sensor.clone(),
        ..Status::default()
    }));
    // Before the socket answers: once `status` says running, a closed
    // terminal can no longer end the session.
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
    let options = SourceOptions {
        speed: a.speed,
        sets: a.sets,
        reps: (8, 12),
        lead_in_s: a.lead_in,
        seed: a.seed,
        rate,
        find_timeout_s: a.find_timeout.unwrap_or(cfg.link.find_timeout_s),
        give_up_s: a.give_up.unwrap_or(cfg.link.give_up_s),
        allow: cfg.allowed(),
    };
    let opened = if pair {
        feed::open_pair(&specs, &ctx, &options, stop.clone(), &tx)?
    } else {
        vec![feed::open_source(
            &specs[0],
            &ctx,
            &options,
            stop.clone(),
            feed::link_into(SensorId(0), tx.clone()),
        )?]
    };
    let ble: Vec<_> = opened.iter().map(|o| o.ble.clone()).collect();

    let none = a.no_record || !cfg.recording.keep;
    let (mut records, tie) = if pair {
        keep::Recorder::create_pair(a.record.as_ref(), none, &cfg, &specs, &ctx)?
    } else {
        (
            vec![keep::Recorder::create(
                a.record.as_ref(),
                none,
                &cfg,
                &sensor,
            )?],
            None,
        )
    };
    let record_paths: Vec<Option<PathBuf>> = records
        .iter()
        .map(|r| r.as_ref().map(|r| r.path().to_path_buf()))
        .collect();
    let record_path = record_paths[0].clone();
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
            &specs[0],
            &ctx,
        )?)
    };
    // Each sensor's recording in the logbook: the first (the one the sets
    // are counted from) entered with the session's context, the pelvis'
    // beside it, and every set linked to both.
    let mut recordings = vec![log.as_ref().and_then(|l| l.recording)];
    for (spec, path) in specs.iter().zip(&record_paths).skip(1) {
        recordings.push(match (log.as_mut(), path) {
            (Some(log), Some(p)) => Some(keep::add_partner_recording(log, p, spec)?),
            _ => None,
        });
    }
    let mut session = Session::starting_with(
        ctx,
        specs
            .iter()
            .zip(&recordings)
            .zip(&ble)
            .map(|((spec, recording), ble)| SensorSetup {
                role: spec.role,
                recording: *recording,
                linked: ble.is_some(),
            })
            .collect(),
        first,
        build,
    );
    publish(&state, &session, log.as_ref(), record_path.as_ref());

    let keys = a.keys || std::io::stdin().is_terminal();
    if keys {
        feed::spawn_keyboard(cfg.session.load_unit.clone(), tx.clone());
    }
    let started = Instant::now();
    let mut running: Vec<SensorId> = (0..opened.len()).map(SensorId).collect();
    let live_sensors = opened.iter().all(|o| o.ble.is_some());
    let feeders = if opened.len() == 2 && !live_sensors {
        // Played (two replays, the simulated pair): merged in time on one
        // thread, so neither runs ahead of the other.
        let (speed, batch) = (opened[0].speed, opened[0].batch);
        vec![feed::spawn_merged_feed(
            opened.into_iter().map(|o| o.samples).collect(),
            speed,
            batch,
            tx,
        )?]
    } else {
        let common = (opened.len() == 2).then_some(started);
        opened
            .into_iter()
            .enumerate()
            .map(|(i, o)| {
                feed::spawn_feed(SensorId(i), o.samples, o.speed, o.batch, tx.clone(), common)
            })
            .collect::<std::io::Result<Vec<_>>>()?
    };
    let mut live = Live::new(a.bell || cfg.feedback.bell, super::quiet(), keys).pair(pair);
    let mut last_tick = Instant::now();
    let mut out = Vec::new();
    let mut failure: Option<anyhow::Error> = None;
    let mut per_sensor = vec![0u64; specs.len()];
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
                if running.is_empty() {
                    failure = Some(e);
                    vec![Input::Ended]
                } else {
                    // Two sensors: the other carries on (the ankle alone
                    // counts; the pelvis alone counts, marked as such).
                    let role = specs.get(id.0).and_then(|s| s.role);
                    esay!(
                        "medius: the {} sensor: {e:#}; going on with the other one",
                        role.map(|r| r.to_string()).unwrap_or_default()
                    );
                    vec![Input::Link {
                        sensor: id,
                        change: crate::session::LinkChange::GaveUp,
                    }]
                }
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
            if let Input::Sample { sensor, sample } = &input {
                if let Some(n) = per_sensor.get_mut(sensor.0) {
                    *n += 1;
                }
                if let Some(Some(r)) = records.get_mut(sensor.0) {
                    r.write(sample)?;
                }
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
    while !feeders.iter().all(|f| f.is_finished()) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    live.clear();
    let samples = session.samples();
    if samples == 0 && failure.is_some() {
        let e = failure.take().expect("checked");
        // Nothing ever arrived: leave no empty recording behind, and let the
        // error be the one line the lifter sees.
        for r in records.into_iter().flatten() {
            r.discard();
        }
        if let Some(t) = &tie {
            let _ = std::fs::remove_file(t);
        }
        if let Some(log) = log.as_mut() {
            for id in recordings.iter().flatten() {
                let _ = log.lb.forget_recording(*id);
            }
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
    for (i, r) in records.into_iter().enumerate() {
        let Some(r) = r else { continue };
        // Synced before it is hashed and marked closed: a closed recording
        // is whole on the disk.
        let p = &r.close()?;
        etell!("raw samples written to {}", p.display());
        let id = recordings.get(i).copied().flatten();
        if let Some((log, id)) = log.as_mut().filter(|_| unsaved == 0).zip(id) {
            let link = session.link(SensorId(i));
            let lost = link.map(|l| l.samples_lost).unwrap_or(0);
            let n = if pair { per_sensor[i] } else { samples };
            let sha = super::logbook::sha256_file(p).ok();
            if let Err(e) = log.lb.update_recording(id, n, lost, sha.as_deref()) {
                esay!("medius: could not update the recording's entry: {e}");
            }
        }
    }
    live.summary(session.sets(), log.as_ref().map(|l| l.saved.as_slice()));
    for (spec, r) in specs.iter().zip(&ble) {
        if let Some(r) = r {
            let line = link_line(&r.lock().expect("report lock"));
            match (pair, spec.role) {
                (true, Some(role)) => tell!("{role} {line}"),
                _ => tell!("{line}"),
            }
        }
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
    s.links = if snap.links.len() > 1 {
        snap.links
            .iter()
            .map(|(role, l)| status::LinkStatus {
                placement: role.map(|r| r.id().to_string()).unwrap_or_default(),
                connected: l.connected,
                battery: l.battery,
                samples_lost: l.samples_lost,
            })
            .collect()
    } else {
        Vec::new()
    };
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
        let specs = sensors(&[], None, &cfg).unwrap();
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
        let specs = sensors(&given, None, &cfg).unwrap();
        assert_eq!(specs, given);
        let ctx = first_context(None, None, None, Some("20"), specs.first(), &cfg).unwrap();
        assert_eq!(ctx.placement, Placement::Ankle);
        assert_eq!(ctx.load.unwrap().to_string(), "20kg");
    }

    #[test]
    fn a_configured_pair_is_two_sensors_ankle_first() {
        let cfg = config(
            "[[sensor]]\naddress = \"C0:FF:EE:00:00:02\"\nplacement = \"pelvis\"\n\n\
             [[sensor]]\naddress = \"C0:FF:EE:00:00:01\"\nplacement = \"ankle\"\n",
        );
        let specs = sensors(&[], None, &cfg).unwrap();
        let shown: Vec<String> = specs
            .iter()
            .map(|s| format!("{}={s}", s.role.unwrap()))
            .collect();
        assert_eq!(
            shown,
            ["ankle=C0:FF:EE:00:00:01", "pelvis=C0:FF:EE:00:00:02"]
        );
        // Asked for one placement: the sensor worn there.
        let one = sensors(&[], Some(Placements::Pelvis), &cfg).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].role, Some(Placement::Pelvis));
        // No sensor at all: none here, the simulator is the caller's word.
        assert!(sensors(&[], None, &Config::default()).unwrap().is_empty());
        // `sim` with both: the simulated pair, ankle first.
        let sim = [SensorSpec::parse("sim").unwrap()];
        let pair = sensors(&sim, Some(Placements::Both), &Config::default()).unwrap();
        assert_eq!(
            pair.iter().map(|s| s.role).collect::<Vec<_>>(),
            [Some(Placement::Ankle), Some(Placement::Pelvis)]
        );
        // Two without roles, two at one place, three, both with one sensor.
        for (given, placement, want) in [
            (
                vec!["C0:FF:EE:00:00:01", "C0:FF:EE:00:00:02"],
                None,
                "must say where each is worn",
            ),
            (
                vec!["ankle=C0:FF:EE:00:00:01", "ankle=C0:FF:EE:00:00:02"],
                None,
                "must say where each is worn",
            ),
            (
                vec!["ankle=sim", "pelvis=sim", "sim"],
                None,
                "3 sensors given",
            ),
            (
                vec!["C0:FF:EE:00:00:01"],
                Some(Placements::Both),
                "needs two sensors",
            ),
            (
                vec!["ankle=C0:FF:EE:00:00:01", "pelvis=C0:FF:EE:00:00:02"],
                Some(Placements::Ankle),
                "leave --placement out",
            ),
        ] {
            let given: Vec<SensorSpec> = given
                .iter()
                .map(|g| SensorSpec::parse(g).unwrap())
                .collect();
            let e = sensors(&given, placement, &Config::default()).unwrap_err();
            assert!(super::super::is_user_error(&e));
            assert!(e.to_string().contains(want), "{e}");
        }
    }
}
