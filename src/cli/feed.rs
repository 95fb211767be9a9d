//! What `run` and `calibrate` share around the session core: the config,
//! the analyser for a context (the lifter's own profiles), opening a
//! source, and the threads that feed a session: one per source, pacing
//! its samples (the one place playback speed is kept), and the keyboard.
//! All of them send into one channel the shell selects over.

use super::live_ble::{BleSamples, LinkReport};
use super::user_error;
use crate::daemon::config::{self, Config};
use crate::motion::fuse::FusedPipeline;
use crate::motion::profile::ProfileError;
use crate::motion::{Pipeline, Profile};
use crate::session::{
    Analyser, Build, Context, Input, KeyCommand, LinkChange, SensorId, SensorKind, SensorSpec,
};
use crate::source::ble::{BleLink, LinkConfig};
use crate::source::csv::RawReader;
use crate::source::sim::{SimConfig, Simulator};
use crate::{Exercise, Placement, Sample};
use std::io::BufRead;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Loads the config named on the command line, or the default one.
pub fn load_config(path: Option<&PathBuf>) -> anyhow::Result<(Config, Option<PathBuf>)> {
    let path = path.cloned().or_else(config::default_path);
    let cfg = match &path {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    Ok((cfg, path))
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

/// How early a paced sample may go: the samples due within it go together
/// (at 200 Hz about four), so a paced source wakes the session some 50
/// times a second rather than 200; far below what a lifter can notice.
pub(crate) const PACE_SLACK: Duration = Duration::from_millis(20);

/// Plays samples at their own pace times `speed` (0: as fast as they come).
pub(crate) struct Pacer {
    speed: f64,
    start: Option<(Instant, f64)>,
}

impl Pacer {
    /// A pacer at `speed`.
    pub(crate) fn new(speed: f64) -> Self {
        Pacer { speed, start: None }
    }

    /// How long until the sample at `t` is due; none when it is due
    /// now (within [`PACE_SLACK`]) or the pace is flat out.
    pub(crate) fn ahead(&mut self, t: f64) -> Option<Duration> {
        if self.speed <= 0.0 {
            return None;
        }
        let (started, first) = *self.start.get_or_insert((Instant::now(), t));
        let due = due_after(t - first, self.speed);
        let now = started.elapsed();
        (due > now + PACE_SLACK).then(|| due - now)
    }
}

/// Where `calibrate` writes, and `run` looks for, the lifter's own profile.
pub fn user_profile_path(exercise: Exercise, placement: Placement) -> Option<PathBuf> {
    Some(
        crate::paths::config_dir()?
            .join("profiles")
            .join(format!("{exercise}.{placement}.toml")),
    )
}

/// The analyser for a context: `--profile`, else the config's profile for
/// the pair, else the lifter's calibrated one, else the built-in one.
pub(crate) fn analyser_for(
    ctx: &Context,
    profile: Option<&PathBuf>,
    cfg: &Config,
) -> Result<Analyser, ProfileError> {
    let p = profile_for(ctx.exercise, ctx.placement, profile, cfg)?;
    Ok(Analyser::one(Pipeline::new(p, ctx.side)))
}

/// The profile for an exercise at a placement: `profile` (`--profile`),
/// else the config's, else the lifter's calibrated one, else the built-in.
fn profile_for(
    exercise: Exercise,
    placement: Placement,
    profile: Option<&PathBuf>,
    cfg: &Config,
) -> Result<Profile, ProfileError> {
    let calibrated = user_profile_path(exercise, placement)
        .filter(|p| p.exists())
        .filter(|_| profile.is_none() && cfg.profile_for(exercise, placement).is_none());
    if let Some(p) = &calibrated {
        etell!("using your calibrated profile {}", p.display());
    }
    match profile
        .or_else(|| cfg.profile_for(exercise, placement))
        .or(calibrated.as_ref())
    {
        Some(path) => Profile::load(path, exercise, placement),
        None => Profile::builtin(exercise, placement),
    }
}

/// [`analyser_for`] as the session's [`Build`].
pub(crate) fn builder(profile: Option<PathBuf>, cfg: Config) -> Build {
    Box::new(move |ctx: &Context| analyser_for(ctx, profile.as_ref(), &cfg))
}

/// Two sensors: the ankle counts and the pelvis judges, each with its
/// profile (the config's, else the lifter's calibrated one, else the
/// built-in). The context's placement plays no part; an exercise one
/// sensor follows (the hip hitch, the seated machine) is refused.
pub(crate) fn pair_builder(cfg: Config) -> Build {
    Box::new(move |ctx: &Context| {
        if !crate::source::sim::two_sensor_exercise(ctx.exercise) {
            return Err(ProfileError::Unsupported {
                exercise: ctx.exercise,
                placement: Placement::Pelvis,
                supported: "two sensors at once suit standing-cable-abduction and \
                            side-lying-abduction"
                    .into(),
            });
        }
        let ankle = profile_for(ctx.exercise, Placement::Ankle, None, &cfg)?;
        let pelvis = profile_for(ctx.exercise, Placement::Pelvis, None, &cfg)?;
        Ok(Analyser::fused(FusedPipeline::new(
            ankle, pelvis, ctx.side,
        )?))
    })
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

/// Samples from one source, as they come.
pub(crate) type Samples = Box<dyn Iterator<Item = anyhow::Result<Sample>> + Send>;

/// An open source.
pub(crate) struct Opened {
    /// Its samples.
    pub samples: Samples,
    /// The link's report, for a Bluetooth sensor.
    pub ble: Option<Arc<Mutex<LinkReport>>>,
    /// Pacing: the playback speed, 0 for a live sensor.
    pub speed: f64,
    /// Samples sent together at most (1 for a live sensor).
    pub batch: usize,
}

/// The simulated session `run` plays: the options' sets, reps and seed,
/// rests of 20-30 s, compensations on a fifth of the reps (none in sets of
/// three reps or fewer).
fn sim_config(ctx: &Context, placement: Placement, o: &SourceOptions) -> anyhow::Result<SimConfig> {
    let mut sc = SimConfig::new(ctx.exercise, placement, ctx.side);
    sc.sets = o.sets;
    sc.reps_min = o.reps.0;
    sc.reps_max = o.reps.1;
    sc.rest_min_s = 20.0;
    sc.rest_max_s = 30.0;
    sc.seed = o.seed;
    sc.lead_in_s = o.lead_in_s;
    sc.compensation_rate = if o.reps.1 <= 3 { 0.0 } else { 0.2 };
    sc.validate().map_err(user_error)?;
    Ok(sc)
}

/// Opens `sim`, `replay:FILE` or a Bluetooth sensor; a Bluetooth link
/// tells `on_link` what it does.
pub(crate) fn open_source(
    spec: &SensorSpec,
    ctx: &Context,
    o: &SourceOptions,
    stop: Arc<AtomicBool>,
    on_link: Box<dyn FnMut(LinkChange) + Send>,
) -> anyhow::Result<Opened> {
    let target = match &spec.kind {
        SensorKind::Sim => {
            let sc = sim_config(ctx, ctx.placement, o)?;
            let (sim, truth) = Simulator::new(&sc).map_err(user_error)?;
            let counts: Vec<String> = truth.sets.iter().map(|s| s.rep_count.to_string()).collect();
            etell!(
                "simulated sensor: {} on the {}, {} side, {} Hz; the simulated lifter will do {} of {} reps",
                sc.exercise,
                sc.placement,
                sc.side,
                sc.rate_hz,
                crate::terminal::plural(truth.sets.len() as i64, "set", "sets"),
                counts.join(", ")
            );
            return Ok(Opened {
                samples: Box::new(sim.map(Ok)),
                ble: None,
                speed: o.speed,
                batch: 64,
            });
        }
        SensorKind::Replay(path) => {
            let reader = RawReader::open(path)?;
            etell!("replaying {}", path.display());
            return Ok(Opened {
                samples: Box::new(reader.map(|r| r.map_err(anyhow::Error::from))),
                ble: None,
                speed: o.speed,
                batch: 64,
            });
        }
        SensorKind::Address(a) => {
            if !o.allow.is_empty() && !o.allow.iter().any(|x| x.eq_ignore_ascii_case(a)) {
                return Err(user_error(format!(
                    "{a} is not one of the sensors in your config ({}); add it there to use it",
                    o.allow.join(", ")
                )));
            }
            a.clone()
        }
        SensorKind::Name(n) => n.clone(),
    };
    etell!("looking for {target} …");
    let link = BleLink::start(LinkConfig {
        target,
        rate_hz: o.rate,
        find_timeout_s: o.find_timeout_s,
        give_up_s: o.give_up_s,
        allow: o.allow.clone(),
    });
    let report = Arc::new(Mutex::new(LinkReport::default()));
    Ok(Opened {
        samples: Box::new(BleSamples::new(link, o.rate, stop, report.clone()).on_link(on_link)),
        ble: Some(report),
        // A live sensor is real time already, and each sample goes at once.
        speed: 0.0,
        batch: 1,
    })
}

/// Opens two sensors worn at once, ankle first: two Bluetooth sensors, two
/// replays, or the simulator playing both from one simulated lifter. Each
/// Bluetooth link tells the shell's channel what it does, as its own sensor.
pub(crate) fn open_pair(
    specs: &[SensorSpec],
    ctx: &Context,
    o: &SourceOptions,
    stop: Arc<AtomicBool>,
    tx: &SyncSender<Fed>,
) -> anyhow::Result<Vec<Opened>> {
    let sims = specs.iter().filter(|s| s.kind == SensorKind::Sim).count();
    if sims == 2 {
        let sc = sim_config(ctx, Placement::Ankle, o)?;
        let (ankle, pelvis, truth) = crate::source::sim::open_pair(&sc).map_err(user_error)?;
        let counts: Vec<String> = truth
            .truth
            .sets
            .iter()
            .map(|s| s.rep_count.to_string())
            .collect();
        etell!(
            "simulated sensors: {} at the ankle and the pelvis, {} side, {} Hz; the simulated lifter will do {} of {} reps",
            sc.exercise,
            sc.side,
            sc.rate_hz,
            crate::terminal::plural(truth.truth.sets.len() as i64, "set", "sets"),
            counts.join(", ")
        );
        return Ok([ankle, pelvis]
            .into_iter()
            .map(|sim| Opened {
                samples: Box::new(sim.map(Ok)),
                ble: None,
                speed: o.speed,
                batch: 64,
            })
            .collect());
    }
    if sims == 1 {
        return Err(user_error(
            "the simulator plays both sensors or neither: give --sensor sim --placement both",
        ));
    }
    let replays = specs
        .iter()
        .filter(|s| matches!(s.kind, SensorKind::Replay(_)))
        .count();
    if replays == 1 {
        return Err(user_error(
            "one sensor replayed and one live cannot share a clock: give two replays or two sensors",
        ));
    }
    specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            open_source(
                spec,
                ctx,
                o,
                stop.clone(),
                link_into(SensorId(i), tx.clone()),
            )
        })
        .collect()
}

/// Feeds two played sources (two replays, the simulated pair) on one
/// thread, merged in time and paced together, so neither runs ahead of
/// the other however fast they are played.
pub(crate) fn spawn_merged_feed(
    mut sources: Vec<Samples>,
    speed: f64,
    batch: usize,
    tx: SyncSender<Fed>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("medius-sensors".into())
        .spawn(move || {
            let batch = batch.max(1);
            let mut pacer = Pacer::new(speed);
            let mut next: Vec<Option<Sample>> = vec![None; sources.len()];
            let mut live: Vec<bool> = vec![true; sources.len()];
            let mut ready: Vec<(usize, Sample)> = Vec::with_capacity(batch);
            // Consecutive samples of one sensor go as one batch.
            let send = |ready: &mut Vec<(usize, Sample)>| -> bool {
                let mut runs: Vec<(usize, Vec<Sample>)> = Vec::new();
                for (i, s) in ready.drain(..) {
                    match runs.last_mut() {
                        Some((j, v)) if *j == i => v.push(s),
                        _ => runs.push((i, vec![s])),
                    }
                }
                runs.into_iter()
                    .all(|(i, v)| tx.send(Fed::Samples(SensorId(i), v)).is_ok())
            };
            loop {
                for i in 0..sources.len() {
                    if live[i] && next[i].is_none() {
                        match sources[i].next() {
                            Some(Ok(s)) => next[i] = Some(s),
                            Some(Err(e)) => {
                                if send(&mut ready) {
                                    let _ = tx.send(Fed::Failed(SensorId(i), e));
                                }
                                live[i] = false;
                            }
                            None => {
                                if !send(&mut ready) {
                                    return;
                                }
                                let _ = tx.send(Fed::Over(SensorId(i)));
                                live[i] = false;
                            }
                        }
                    }
                }
                let Some(i) = (0..sources.len())
                    .filter(|&i| next[i].is_some())
                    .min_by(|&a, &b| {
                        let (ta, tb) = (next[a].map(|s| s.t), next[b].map(|s| s.t));
                        ta.partial_cmp(&tb).unwrap_or(std::cmp::Ordering::Equal)
                    })
                else {
                    return;
                };
                let sample = next[i].take().expect("chosen above");
                if let Some(wait) = pacer.ahead(sample.t) {
                    if !send(&mut ready) {
                        return;
                    }
                    std::thread::sleep(wait);
                }
                ready.push((i, sample));
                if ready.len() >= batch && !send(&mut ready) {
                    return;
                }
            }
        })
}

/// What the feeding threads send the shell.
pub(crate) enum Fed {
    /// For the session.
    Input(Input),
    /// Samples from one sensor, in order (a source played faster than
    /// real time sends them in batches: one hop per batch, not per sample).
    Samples(SensorId, Vec<Sample>),
    /// A line typed that is no command: its error, to show at once.
    BadKey(String),
    /// A source failed (the sensor never showed up, a bad line in a replay).
    Failed(SensorId, anyhow::Error),
    /// A source is over.
    Over(SensorId),
}

/// Feeds one source into `tx` on its own thread, paced at `speed`. Ends
/// when the source does or the shell hangs up. Up to `batch` samples go
/// together, never one held back while the source waits: a live sensor
/// (whose next sample may be a while) sends each at once.
///
/// With `common_clock` (one of two live sensors), each sample's time is
/// moved onto the shell's clock from `common_clock`, from when its first
/// sample arrived: two links start at different moments, and a sensor's
/// own clock may count from its power-on. The fused analysis refines the
/// rest from the signals.
pub(crate) fn spawn_feed(
    sensor: SensorId,
    samples: Samples,
    speed: f64,
    batch: usize,
    tx: SyncSender<Fed>,
    common_clock: Option<Instant>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("medius-sensor-{}", sensor.0))
        .spawn(move || {
            let batch = batch.max(1);
            let mut pacer = Pacer::new(speed);
            let mut ready = Vec::with_capacity(batch);
            let mut shift: Option<f64> = None;
            let samples = samples.map(move |s| {
                s.map(|mut sample| {
                    if let Some(start) = common_clock {
                        let k =
                            *shift.get_or_insert_with(|| start.elapsed().as_secs_f64() - sample.t);
                        sample.t += k;
                    }
                    sample
                })
            });
            let send = |ready: &mut Vec<Sample>| {
                ready.is_empty()
                    || tx
                        .send(Fed::Samples(
                            sensor,
                            std::mem::replace(ready, Vec::with_capacity(batch)),
                        ))
                        .is_ok()
            };
            for s in samples {
                match s {
                    Ok(sample) => {
                        if let Some(wait) = pacer.ahead(sample.t) {
                            // What is due goes before the wait.
                            if !send(&mut ready) {
                                return;
                            }
                            std::thread::sleep(wait);
                        }
                        ready.push(sample);
                        if ready.len() >= batch && !send(&mut ready) {
                            return;
                        }
                    }
                    Err(e) => {
                        if send(&mut ready) {
                            let _ = tx.send(Fed::Failed(sensor, e));
                        }
                        return;
                    }
                }
            }
            if send(&mut ready) {
                let _ = tx.send(Fed::Over(sensor));
            }
        })
}

/// A Bluetooth link's changes, sent into the shell's channel.
pub(crate) fn link_into(
    sensor: SensorId,
    tx: SyncSender<Fed>,
) -> Box<dyn FnMut(LinkChange) + Send> {
    Box::new(move |change| {
        let _ = tx.send(Fed::Input(Input::Link { sensor, change }));
    })
}

/// Reads typed lines from standard input on its own thread; `unit` is what
/// a bare load number is in.
pub(crate) fn spawn_keyboard(unit: String, tx: SyncSender<Fed>) {
    let _ = std::thread::Builder::new()
        .name("medius-keys".into())
        .spawn(move || {
            let stdin = std::io::stdin();
            for line in stdin.lock().lines() {
                let Ok(line) = line else { break };
                let text = line.trim();
                if text.is_empty() {
                    continue;
                }
                let fed = match KeyCommand::parse(text, &unit) {
                    Ok(cmd) => Fed::Input(Input::Key(cmd)),
                    Err(msg) => Fed::BadKey(msg),
                };
                if tx.send(fed).is_err() {
                    break;
                }
            }
        });
}
