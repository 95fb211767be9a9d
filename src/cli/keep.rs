//! What a `run` keeps: the raw recording (never written over, synced
//! every second), the context notes beside it, the logbook sink (a set the
//! logbook refuses is kept and tried again) and crash recovery (the sets
//! an earlier run left open, analysed from its recording by the session
//! core, [`crate::session::analyse`]).

use super::logbook::LogbookArg;
use super::user_error;
use crate::daemon::config::{self, Config};
use crate::logbook::{Load, Logbook, NewRecording, SensorSet, SessionLock};
use crate::session::{Context, SaveSet, SensorKind, SensorSpec};
use crate::source::csv::{RawReader, RawWriter};
use crate::source::session_file::{SensorFile, SessionFile};
use crate::{Exercise, Placement, Sample};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The session's raw recording: flushed and synced every second (a power
/// cut loses at most the last second), linked to the sets.
pub(crate) struct Recorder {
    path: PathBuf,
    w: RawWriter<std::io::BufWriter<std::fs::File>>,
    last_flush: Instant,
}

impl Recorder {
    /// `--record FILE`, else a new file in the recordings folder, else
    /// none (`--no-record`, `keep = false`, no folder). Never written
    /// over: a file that exists (the logbook, the file being replayed, an
    /// earlier session) is refused, and a default name that is taken gets
    /// a counter.
    pub(crate) fn create(
        record: Option<&PathBuf>,
        none: bool,
        cfg: &Config,
        sensor: &str,
    ) -> anyhow::Result<Option<Recorder>> {
        let (path, file) = match (record, none) {
            (Some(p), _) => {
                let f = create_recording(p).map_err(|e| match e.kind() {
                    std::io::ErrorKind::AlreadyExists => user_error(format!(
                        "{} exists; give a new file name (--record never writes over a file)",
                        p.display()
                    )),
                    _ => user_error(format!("cannot create {}: {e}", p.display())),
                })?;
                (p.clone(), f)
            }
            (None, true) => return Ok(None),
            (None, false) => {
                let Some(d) = cfg
                    .recording
                    .dir
                    .clone()
                    .or_else(config::default_recordings_dir)
                else {
                    return Ok(None);
                };
                new_recording_in(&d, &slug(sensor)).map_err(|e| {
                    user_error(format!("cannot create a recording in {}: {e}", d.display()))
                })?
            }
        };
        let mut w = RawWriter::new(std::io::BufWriter::new(file))?;
        w.flush()?;
        w.get_ref().get_ref().sync_all()?;
        // The new file's name is on the disk too.
        sync_dir(&path);
        Ok(Some(Recorder {
            path,
            w,
            last_flush: Instant::now(),
        }))
    }

    /// Two sensors: `--record NAME` gives NAME.ankle.csv and
    /// NAME.pelvis.csv, else two new files in the recordings folder; and a
    /// session file beside them ties them (NAME.session.json; see
    /// docs/formats.md), so `analyze` and `import` take the pair. None of
    /// the three is ever written over.
    pub(crate) fn create_pair(
        record: Option<&PathBuf>,
        none: bool,
        cfg: &Config,
        specs: &[SensorSpec],
        ctx: &Context,
    ) -> anyhow::Result<(Vec<Option<Recorder>>, Option<PathBuf>)> {
        let stem = record.map(|p| {
            let s = p.display().to_string();
            PathBuf::from(s.strip_suffix(".csv").unwrap_or(&s))
        });
        let with = |stem: &Path, ext: &str| {
            let mut s = stem.as_os_str().to_owned();
            s.push(ext);
            PathBuf::from(s)
        };
        if let Some(stem) = &stem {
            let session = with(stem, ".session.json");
            if session.exists() {
                return Err(user_error(format!(
                    "{} exists; give a new name (--record never writes over a file)",
                    session.display()
                )));
            }
        }
        let mut out: Vec<Option<Recorder>> = Vec::new();
        for spec in specs {
            let role = spec.role.unwrap_or(Placement::Ankle);
            let r = match &stem {
                Some(stem) => {
                    let p = with(stem, &format!(".{role}.csv"));
                    Recorder::create(Some(&p), false, cfg, "")
                }
                None => Recorder::create(None, none, cfg, &format!("{spec}-{role}")),
            };
            match r {
                Ok(r) => out.push(r),
                Err(e) => {
                    // All or nothing: no lone empty file left to refuse the
                    // next try with the same name.
                    for r in out.into_iter().flatten() {
                        r.discard();
                    }
                    return Err(e);
                }
            }
        }
        let mut tie = None;
        if let [Some(a), Some(p)] = &out[..] {
            let session = match &stem {
                Some(stem) => with(stem, ".session.json"),
                None => a.path.with_extension("session.json"),
            };
            let name = |p: &Path| {
                p.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            };
            let file = SessionFile::new(
                ctx.exercise,
                ctx.side,
                specs
                    .iter()
                    .zip([a, p])
                    .map(|(spec, r)| SensorFile {
                        role: spec.role.unwrap_or(Placement::Ankle),
                        file: name(&r.path),
                        sensor: spec.to_string(),
                        offset_s: 0.0,
                    })
                    .collect(),
            );
            if let Err(e) = file.write(&session) {
                for r in out.into_iter().flatten() {
                    r.discard();
                }
                return Err(user_error(e.to_string()));
            }
            // On the disk with the recordings: crash recovery finds the
            // pelvis' recording through it.
            if let Ok(f) = std::fs::File::open(&session) {
                let _ = f.sync_all();
            }
            sync_dir(&session);
            tie = Some(session);
        }
        Ok((out, tie))
    }

    /// Where it is.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one sample; once a second, to the disk.
    pub(crate) fn write(&mut self, s: &Sample) -> anyhow::Result<()> {
        self.w.write(s)?;
        if self.last_flush.elapsed() >= Duration::from_secs(1) {
            // On the disk, not only in the page cache.
            self.w.flush()?;
            self.w.get_ref().get_ref().sync_data()?;
            self.last_flush = Instant::now();
        }
        Ok(())
    }

    /// Flushed and synced: whole on the disk. Returns its path.
    pub(crate) fn close(mut self) -> anyhow::Result<PathBuf> {
        self.w.flush()?;
        self.w.get_ref().get_ref().sync_all()?;
        Ok(self.path)
    }

    /// Nothing came: no empty recording is left behind.
    pub(crate) fn discard(self) {
        let path = self.path.clone();
        drop(self);
        let _ = std::fs::remove_file(path);
    }
}

/// Opens the logbook for a session: locked for the whole of it (one
/// session per logbook, whatever the socket, so the recordings still open
/// now were left by writers that are gone), the sets earlier sessions
/// left open recovered, and the new recording entered (open).
pub(crate) fn open_log(
    arg: LogbookArg,
    cfg: &Config,
    record: Option<&Path>,
    spec: &SensorSpec,
    ctx: &Context,
) -> anyhow::Result<LogSink> {
    let sensor = spec.to_string();
    let mut lb = arg.open()?;
    lb.set_busy_timeout(Duration::from_secs_f64(cfg.logbook.wait_s))?;
    let lock = lb.lock_session()?;
    recover(&mut lb, cfg);
    let recording = match record {
        Some(p) => Some(enter_open_recording(
            &mut lb,
            p,
            &sensor,
            Some((
                ctx.exercise.id().to_string(),
                ctx.placement,
                ctx.side,
                ctx.load.clone(),
            )),
        )?),
        None => None,
    };
    Ok(LogSink::new(
        lb,
        recording,
        lock,
        // Simulated and replayed sets are kept apart from the lifter's own.
        match spec.kind {
            SensorKind::Sim => crate::logbook::Source::Sim,
            SensorKind::Replay(_) => crate::logbook::Source::Replay,
            SensorKind::Address(_) | SensorKind::Name(_) => crate::logbook::Source::Sensor,
        },
    ))
}

/// Enters the second sensor's recording (two sensors: the pelvis'): open
/// until the session ends, linked to every set. It carries no context, so
/// crash recovery does not count sets from it alone; the ankle's recording
/// (the one the sets are counted from) carries them.
pub(crate) fn add_partner_recording(
    log: &mut LogSink,
    path: &Path,
    spec: &SensorSpec,
) -> anyhow::Result<i64> {
    enter_open_recording(&mut log.lb, path, &spec.to_string(), None)
}

/// Enters a recording `run` is writing: by its absolute path, open until
/// the session closes it with its counts and checksum.
fn enter_open_recording(
    lb: &mut Logbook,
    path: &Path,
    sensor: &str,
    context: Option<(String, Placement, crate::Side, Option<Load>)>,
) -> anyhow::Result<i64> {
    Ok(lb.add_recording(&NewRecording {
        path: std::path::absolute(path)
            .unwrap_or(path.to_path_buf())
            .display()
            .to_string(),
        sha256: None,
        sensor: sensor.to_string(),
        sample_rate_hz: None,
        samples: 0,
        samples_lost: 0,
        context,
        open: true,
    })?)
}

/// Syncs the folder holding `file`, so that a new file's entry survives a
/// power cut. Best effort: some file systems refuse to sync a folder.
pub(crate) fn sync_dir(file: &std::path::Path) {
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

/// Sets that were still open when an earlier run died (kill -9, power cut)
/// are in its raw recording, flushed every second: analyse what is there and
/// save the sets not yet in the logbook, marked interrupted. Problems are
/// reported and skipped: recovery never stops a new session.
///
/// Two sensors: the recording with the context is the ankle's; the session
/// file beside it names the pelvis' CSV, whose entry carries no context.
/// The pair is analysed together (the pelvis judges hike, drop and sway
/// over each ankle rep), each recovered set is linked to both, and both
/// entries are closed. A pelvis entry whose ankle entry is gone has nothing
/// to count from: it is closed.
pub(crate) fn recover(lb: &mut Logbook, cfg: &Config) {
    let open = match lb.open_recordings() {
        Ok(v) => v,
        Err(e) => {
            esay!("medius: could not look for interrupted sessions: {e}");
            return;
        }
    };
    let mut partners = lb.open_partner_recordings().unwrap_or_else(|e| {
        esay!("medius: could not look for interrupted two-sensor sessions: {e}");
        Vec::new()
    });
    for r in open {
        let path = std::path::Path::new(&r.path);
        let pair = find_pair(path, &partners);
        if let Some(id) = pair.as_ref().and_then(|p| p.entry) {
            // Closed with its ankle's, or left open with it.
            partners.retain(|(p, _)| *p != id);
        }
        let mut samples = vec![0];
        let mut linked = vec![(r.id, r.placement)];
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
            // A crash can cut the last line of either file: keep everything before it.
            let ankle = reader.map_while(Result::ok);
            let mut fused = None;
            if let Some(pair) = &pair {
                let mut build = super::feed::pair_builder(cfg.clone());
                if let (Ok(first), Ok(pelvis)) = (build(&ctx), RawReader::open(&pair.pelvis)) {
                    fused = Some((first.with_offset(pair.offset_s), pelvis, build));
                }
            }
            let found = match fused {
                Some((first, pelvis, build)) => {
                    if let Some(id) = pair.as_ref().and_then(|p| p.entry) {
                        linked.push((id, Placement::Pelvis));
                    }
                    crate::session::analyse_pair(
                        first,
                        ctx,
                        &changes,
                        ankle,
                        pelvis.map_while(Result::ok),
                        pair.as_ref().map_or(0.0, |p| p.offset_s),
                        build,
                    )
                }
                None => crate::session::analyse(
                    ctx,
                    &changes,
                    ankle,
                    super::feed::builder(None, cfg.clone()),
                ),
            };
            let found = match found {
                Ok(found) => Some(found),
                Err(e) => {
                    // A profile gone bad since the crash: said, and left
                    // open for a run that can read it.
                    failed = true;
                    esay!(
                        "medius: could not analyse {} to recover its sets ({e}); the next `medius run` tries again",
                        r.path
                    );
                    None
                }
            };
            if let Some(found) = found {
                samples = found.per_sensor;
                for (set, ctx) in found.sets {
                    if r.saved_starts.iter().any(|s| (s - set.start_s).abs() < 1.0) {
                        continue;
                    }
                    let w = lb.write_linked_set(
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
                        // Two sensors: the ankle's recording, then the pelvis'.
                        &linked,
                    );
                    match w {
                        Ok(id) => {
                            etell!(
                                "recovered logbook set #{id} ({}) from an interrupted session ({})",
                                super::live::plural(set.reps.len(), "rep", "reps"),
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
            // Left open (the pelvis' too): the next run tries again.
            continue;
        }
        let sha = super::logbook::sha256_file(path).ok();
        let n = samples.first().copied().unwrap_or(0);
        let _ = lb.update_recording(r.id, n, 0, sha.as_deref());
        if let Some(pair) = &pair {
            if let Some(id) = pair.entry {
                let sha = super::logbook::sha256_file(&pair.pelvis).ok();
                let n = samples.get(1).copied().unwrap_or(0);
                let _ = lb.update_recording(id, n, 0, sha.as_deref());
            }
        }
    }
    // A second sensor's recording whose counting one is not open (gone, or
    // its session file lost): nothing to count from it alone. Closed, so it
    // is not looked at again.
    for (id, p) in partners {
        let path = Path::new(&p);
        let n = RawReader::open(path)
            .map(|r| r.map_while(Result::ok).count() as u64)
            .unwrap_or(0);
        let sha = super::logbook::sha256_file(path).ok();
        let _ = lb.update_recording(id, n, 0, sha.as_deref());
    }
}

/// The pelvis of a two-sensor session, as recovery finds it.
struct Pair {
    /// Its raw CSV.
    pelvis: PathBuf,
    /// Its logbook entry, when it is open.
    entry: Option<i64>,
    /// `ankle time = pelvis time + offset_s`, as the session file says.
    offset_s: f64,
}

/// The session file beside an ankle recording (`NAME.session.json` for
/// `NAME.ankle.csv`, `X.session.json` for `X.csv`: see
/// [`Recorder::create_pair`]) that names it as the ankle's, and the pelvis
/// it names, with its open entry among `partners`.
fn find_pair(ankle: &Path, partners: &[(i64, String)]) -> Option<Pair> {
    let name = ankle.file_name()?.to_str()?;
    let mut candidates = vec![ankle.with_extension("session.json")];
    if let Some(stem) = name.strip_suffix(".ankle.csv") {
        candidates.insert(0, ankle.with_file_name(format!("{stem}.session.json")));
    }
    let same = |a: &Path, b: &Path| {
        a == b
            || matches!(
                (std::fs::canonicalize(a), std::fs::canonicalize(b)),
                (Ok(x), Ok(y)) if x == y
            )
    };
    candidates.into_iter().find_map(|c| {
        let s = SessionFile::read(&c).ok()?;
        if !same(&s.file_path(&c, Placement::Ankle)?, ankle) {
            return None;
        }
        let pelvis = s.file_path(&c, Placement::Pelvis)?;
        let entry = partners
            .iter()
            .find(|(_, p)| same(Path::new(p), &pelvis))
            .map(|(id, _)| *id);
        let offset_s = match (s.sensor(Placement::Ankle), s.sensor(Placement::Pelvis)) {
            (Some(a), Some(p)) => p.offset_s - a.offset_s,
            _ => 0.0,
        };
        Some(Pair {
            pelvis,
            entry,
            offset_s,
        })
    })
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
pub(crate) fn note_context(
    recording: &std::path::Path,
    after_s: f64,
    ctx: &Context,
) -> std::io::Result<()> {
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
pub(crate) fn read_context_notes(recording: &std::path::Path) -> Vec<(f64, Context)> {
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

/// Saves each set in the logbook as it ends. A set the logbook refuses
/// (another process held the write lock longer than `[logbook] wait_s`, a
/// full disk) is kept in memory and tried again: before the next set, every
/// few seconds, and at the end of the session. It is never dropped.
pub(crate) struct LogSink {
    pub(crate) lb: Logbook,
    _lock: SessionLock,
    /// The session's recording (logbook id).
    pub(crate) recording: Option<i64>,
    /// The sets saved (logbook ids).
    pub(crate) saved: Vec<i64>,
    /// The sets not saved yet.
    pub(crate) unsaved: Vec<UnsavedSet>,
    last_retry: Instant,
    /// What to tell the lifter (printed by the live view, between its lines).
    pub(crate) said: Vec<String>,
    source: crate::logbook::Source,
}

/// A set not in the logbook yet, with what it needs to be written later.
pub(crate) struct UnsavedSet {
    pub(crate) save: SaveSet,
    performed_at: Option<String>,
}

impl LogSink {
    pub(crate) fn new(
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
        let s = &u.save;
        self.lb.write_linked_set(
            &SensorSet {
                exercise: s.context.exercise.id(),
                side: s.context.side,
                placement: s.context.placement,
                load: s.context.load.clone(),
                set: &s.set,
                interrupted: s.interrupted,
                performed_at: u.performed_at.clone(),
                source: self.source,
            },
            // Each sensor's recording, as the session tied them to the set.
            &s.recordings,
        )
    }

    pub(crate) fn save(&mut self, save: SaveSet) {
        self.retry();
        let interrupted = save.interrupted;
        let u = UnsavedSet {
            save,
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
                        if u.save.interrupted {
                            ", interrupted"
                        } else {
                            ""
                        }
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
    pub(crate) fn tick(&mut self) {
        if !self.unsaved.is_empty() && self.last_retry.elapsed() >= Duration::from_secs(5) {
            self.retry();
        }
    }

    /// The error that ends a session with sets still not saved: which,
    /// and where they are kept (`record`, recovered by the next `run`).
    pub(crate) fn unsaved_error(&self, record: Option<&Path>) -> anyhow::Error {
        let n = super::live::plural(self.unsaved.len(), "set", "sets");
        let lost = self
            .unsaved
            .iter()
            .map(|u| {
                format!(
                    "{} at {:.0} s",
                    super::live::plural(u.save.set.rep_count(), "rep", "reps"),
                    u.save.set.start_s
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        match record {
            Some(p) => anyhow::anyhow!(
                "{n} could not be saved in the logbook ({lost}); they are in the recording {}, and the next `medius run` saves them",
                p.display()
            ),
            None => anyhow::anyhow!(
                "{n} could not be saved in the logbook and there is no recording to recover them from ({lost})"
            ),
        }
    }

    /// At the end of the session: a few more tries. Returns how many sets
    /// are still not saved.
    pub(crate) fn finish(&mut self) -> usize {
        for _ in 0..3 {
            if self.unsaved.is_empty() {
                break;
            }
            self.retry();
        }
        self.unsaved.len()
    }
}
