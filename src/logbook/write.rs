//! Writing sets: from the pipeline (daemon and `import` call the same
//! function) and by hand. Each set with its reps and flags is one transaction.

use super::time::{self, Stamp};
use super::{Load, Logbook, LogbookError, Result};
use crate::motion::Set;
use crate::{Placement, Side};
use jiff::Timestamp;
use rusqlite::{params, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};

/// Where a set came from. Simulated and replayed sets are kept out of the
/// log, the advice, the trends and the exports unless asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A sensor on a lifter.
    Sensor,
    /// The built-in simulator (`run --sensor sim`).
    Sim,
    /// A recording played back (`run --sensor replay:FILE`).
    Replay,
    /// Typed in or brought in from another app.
    #[default]
    Manual,
}

impl Source {
    /// The id stored in the database and shown as `source`.
    pub fn id(self) -> &'static str {
        match self {
            Source::Sensor => "sensor",
            Source::Sim => "sim",
            Source::Replay => "replay",
            Source::Manual => "manual",
        }
    }

    /// Parses [`Source::id`].
    pub fn from_id(s: &str) -> Option<Source> {
        [Source::Sensor, Source::Sim, Source::Replay, Source::Manual]
            .into_iter()
            .find(|x| x.id() == s)
    }

    /// The source of the sets of a `run --sensor` (`sim`, `replay:FILE`,
    /// an address or name).
    pub fn of_sensor(sensor: &str) -> Source {
        if sensor == "sim" {
            Source::Sim
        } else if sensor.starts_with("replay:") {
            Source::Replay
        } else {
            Source::Sensor
        }
    }

    /// Simulated or replayed: not something the lifter did now.
    pub fn is_sim(self) -> bool {
        matches!(self, Source::Sim | Source::Replay)
    }
}

/// One rep of a set with its flags, as the JSON export writes it and its
/// import reads it back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepRecord {
    /// Rep number in the set, from 1.
    pub number: u32,
    /// Start, s in the recording.
    pub start_s: f64,
    /// End, s in the recording.
    pub end_s: f64,
    /// Peak, degrees.
    pub peak_deg: f64,
    /// Up, s.
    pub concentric_s: f64,
    /// Hold, s.
    pub pause_s: f64,
    /// Down, s.
    pub eccentric_s: f64,
    /// Counted in the set.
    pub counted: bool,
    /// Its flags.
    pub flags: Vec<FlagRecord>,
}

/// A flag on a rep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlagRecord {
    /// Kind id (hip_hike, …).
    pub kind: String,
    /// Magnitude, degrees.
    pub value_deg: f64,
    /// Peak rate, °/s (momentum).
    pub rate_dps: Option<f64>,
    /// open, confirmed, dismissed.
    pub review: String,
}

/// The workout an imported set belongs to: its start and, when the file
/// says, its end. Sets with the same start are one session.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Workout {
    /// When it started.
    pub start: Stamp,
    /// When it ended.
    pub end: Option<Timestamp>,
}

/// The raw recording a sensor set came from.
#[derive(Debug, Clone, Default)]
pub struct NewRecording {
    /// Path of the raw CSV.
    pub path: String,
    /// SHA-256 of the file, hex, when it is complete.
    pub sha256: Option<String>,
    /// Which sensor: `sim`, `replay:FILE`, an address, `import`.
    pub sensor: String,
    /// Sample rate, Hz.
    pub sample_rate_hz: Option<f64>,
    /// Samples in the recording.
    pub samples: u64,
    /// Samples lost on the link.
    pub samples_lost: u64,
    /// What was trained, for recovering sets after a crash (daemon only).
    pub context: Option<(String, Placement, Side, Option<Load>)>,
    /// Still being written (closed by [`Logbook::update_recording`] with a checksum).
    pub open: bool,
}

/// A `recordings` row as `open_recordings` reads it.
type OpenRow = (
    i64,
    String,
    String,
    String,
    String,
    Option<f64>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
);

/// A recording the daemon never closed: it died while writing it.
#[derive(Debug, Clone)]
pub struct OpenRecording {
    /// Id.
    pub id: i64,
    /// The CSV.
    pub path: String,
    /// Exercise id.
    pub exercise: String,
    /// Placement.
    pub placement: Placement,
    /// Side.
    pub side: Side,
    /// Load.
    pub load: Option<Load>,
    /// When it started (stored, UTC).
    pub started_at: String,
    /// Which sensor recorded it (`sim`, `replay:FILE`, an address).
    pub sensor: String,
    /// Where the sets already saved from it start (s in the recording).
    pub saved_starts: Vec<f64>,
}

/// A set seen by the sensor, as the pipeline reported it.
#[derive(Debug, Clone)]
pub struct SensorSet<'a> {
    /// Exercise id (must be in the catalog).
    pub exercise: &'a str,
    /// Working side.
    pub side: Side,
    /// Sensor placement.
    pub placement: Placement,
    /// The load, if the lifter said.
    pub load: Option<Load>,
    /// The set from the pipeline.
    pub set: &'a Set,
    /// The session was cut short (Ctrl-C, SIGTERM) while this set was open.
    pub interrupted: bool,
    /// When it was performed: a stored instant, or local time as typed
    /// ('YYYY-MM-DD HH:MM'); now if `None`.
    pub performed_at: Option<String>,
    /// Sensor, simulator or replay.
    pub source: Source,
}

/// A set typed in by hand (`medius log add`) or brought in from a file.
#[derive(Debug, Clone, Default)]
pub struct ManualSet {
    /// Exercise id.
    pub exercise: String,
    /// Side, if unilateral.
    pub side: Option<Side>,
    /// Load.
    pub load: Option<Load>,
    /// Reps done.
    pub reps: u32,
    /// Reps in reserve.
    pub rir: Option<u32>,
    /// Tempo, e.g. 2-1-3.
    pub tempo: Option<String>,
    /// Variation, free text.
    pub variation: String,
    /// Technique notes.
    pub notes: String,
    /// When: a stored instant, or local time as typed ('YYYY-MM-DD HH:MM');
    /// now if `None`.
    pub performed_at: Option<String>,
    /// Key that makes a re-import of the same row a no-op.
    pub import_key: Option<String>,
    /// A timed set (a plank): seconds held.
    pub duration_s: Option<f64>,
    /// Side-to-side notes (the JSON export carries them).
    pub side_notes: String,
    /// Where it came from (a JSON export says; typed sets are manual).
    pub source: Source,
    /// Sensor placement (JSON imports of sensor sets).
    pub placement: Option<Placement>,
    /// The workout it belongs to (imports); by time if `None`.
    pub workout: Option<Workout>,
    /// Its reps and flags (JSON imports of sensor sets).
    pub rep_records: Vec<RepRecord>,
    /// Count confidence (JSON imports of sensor sets).
    pub confidence: Option<f64>,
    /// Where it lay in its recording, s.
    pub span_s: Option<(f64, f64)>,
}

impl Logbook {
    /// Stores a raw recording's metadata; returns its id.
    pub fn add_recording(&mut self, r: &NewRecording) -> Result<i64> {
        insert_recording(self.conn(), r)
    }

    /// Removes a recording's entry that no set refers to (a session that
    /// never received a sample).
    pub fn forget_recording(&mut self, id: i64) -> Result<()> {
        self.conn().execute(
            "DELETE FROM recordings WHERE id = ?1
               AND NOT EXISTS (SELECT 1 FROM sets WHERE recording_id = ?1)
               AND NOT EXISTS (SELECT 1 FROM set_recordings WHERE recording_id = ?1)",
            [id],
        )?;
        Ok(())
    }

    /// Recordings the daemon started and never closed (it was killed).
    pub fn open_recordings(&self) -> Result<Vec<OpenRecording>> {
        let mut st = self.conn().prepare(
            "SELECT id, path, exercise_id, placement, side, load_value, load_unit, load_label, started_at, sensor
               FROM recordings WHERE closed = 0 AND exercise_id IS NOT NULL ORDER BY id",
        )?;
        let rows: Vec<OpenRow> = st
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                ))
            })?
            .collect::<Result<_, _>>()?;
        let mut out = Vec::new();
        for (id, path, exercise, placement, side, lv, lu, ll, started, sensor) in rows {
            let (Ok(placement), Ok(side)) = (placement.parse::<Placement>(), side.parse::<Side>())
            else {
                continue;
            };
            let saved_starts: Vec<f64> = self
                .conn()
                .prepare(
                    "SELECT start_s FROM sets WHERE recording_id = ?1 AND start_s IS NOT NULL",
                )?
                .query_map([id], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            out.push(OpenRecording {
                id,
                path,
                exercise,
                placement,
                side,
                load: super::review::load_from(lv, lu, ll),
                started_at: started.unwrap_or_default(),
                sensor,
                saved_starts,
            });
        }
        Ok(out)
    }

    /// Recordings the daemon started and never closed that carry no
    /// context (a two-sensor `run`'s second sensor, the pelvis): (id,
    /// path). Their sets are counted from the partner that carries the
    /// context; recovery closes them with it.
    pub fn open_partner_recordings(&self) -> Result<Vec<(i64, String)>> {
        let mut st = self.conn().prepare(
            "SELECT id, path FROM recordings WHERE closed = 0 AND exercise_id IS NULL ORDER BY id",
        )?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Updates a recording's counts (the daemon calls it as the file grows).
    pub fn update_recording(
        &mut self,
        id: i64,
        samples: u64,
        lost: u64,
        sha256: Option<&str>,
    ) -> Result<()> {
        self.conn().execute(
            "UPDATE recordings SET samples = ?2, samples_lost = ?3, sha256 = coalesce(?4, sha256), closed = 1 WHERE id = ?1",
            params![id, samples as i64, lost as i64, sha256],
        )?;
        Ok(())
    }

    /// Writes a sensor set, its reps and flags in one transaction, state
    /// pending. Returns the set id.
    pub fn write_sensor_set(&mut self, s: &SensorSet<'_>, recording: Option<i64>) -> Result<i64> {
        let linked: Vec<(i64, Placement)> =
            recording.map(|r| (r, s.placement)).into_iter().collect();
        self.write_linked_set(s, &linked)
    }

    /// Writes a sensor set judged from several raw recordings (two
    /// sensors: the ankle's counted it, the pelvis's judged its hikes,
    /// drops and sway), linked to each with its sensor's placement, in one
    /// transaction. The first recording is the one the set was counted
    /// from (`sets.recording_id`). Returns the set id.
    pub fn write_linked_set(
        &mut self,
        s: &SensorSet<'_>,
        recordings: &[(i64, Placement)],
    ) -> Result<i64> {
        self.exercise(s.exercise)?;
        let tx = self.write_tx()?;
        let set_id = insert_sensor_set(&tx, s, recordings.first().map(|r| r.0))?;
        link_recordings(&tx, set_id, recordings)?;
        tx.commit()?;
        Ok(set_id)
    }

    /// The raw recordings a set was judged from, with each sensor's
    /// placement, the one it was counted from first.
    pub fn set_recordings(&self, set_id: i64) -> Result<Vec<LinkedRecording>> {
        set_recordings(self.conn(), set_id)
    }

    /// Brings a whole recording in (`medius import`): its entry and all its
    /// sets in one transaction, so a failure or a kill leaves nothing of
    /// it. A recording is known by its SHA-256: one already in the logbook
    /// (imported, or written by `run`) is refused unless `again`. Returns
    /// the set ids.
    pub fn import_recording(
        &mut self,
        r: &NewRecording,
        sets: &[SensorSet<'_>],
        again: bool,
    ) -> Result<Vec<i64>> {
        let placement = sets
            .first()
            .map(|s| s.placement)
            .or(r.context.as_ref().map(|c| c.1))
            .unwrap_or(Placement::Ankle);
        self.import_recordings(&[(r.clone(), placement)], sets, again)
    }

    /// Brings several recordings of one session in at once (two sensors:
    /// `medius import` of a session file): every entry and every set in one
    /// transaction, each set linked to all of them. The first recording is
    /// the one the sets were counted from. Refused when any of them is in
    /// the logbook already (same SHA-256), unless `again`.
    pub fn import_recordings(
        &mut self,
        recordings: &[(NewRecording, Placement)],
        sets: &[SensorSet<'_>],
        again: bool,
    ) -> Result<Vec<i64>> {
        for s in sets {
            self.exercise(s.exercise)?;
        }
        let tx = self.write_tx()?;
        let mut linked = Vec::with_capacity(recordings.len());
        for (r, placement) in recordings {
            refuse_known(&tx, r, again)?;
            linked.push((insert_recording(&tx, r)?, *placement));
        }
        let mut ids = Vec::with_capacity(sets.len());
        for s in sets {
            let id = insert_sensor_set(&tx, s, linked.first().map(|l| l.0))?;
            link_recordings(&tx, id, &linked)?;
            ids.push(id);
        }
        tx.commit()?;
        Ok(ids)
    }

    /// Writes a hand-entered set (verified: the lifter typed it). Returns the
    /// id, or `None` when a set with the same import key exists already.
    pub fn write_manual_set(&mut self, m: &ManualSet) -> Result<Option<i64>> {
        let tx = self.write_tx()?;
        let id = insert_manual(&tx, m)?;
        tx.commit()?;
        Ok(id)
    }
}

/// A raw recording a set was judged from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkedRecording {
    /// Recording id.
    pub id: i64,
    /// Where its sensor was.
    pub placement: Placement,
    /// Path of the raw CSV.
    pub path: String,
}

/// Refuses a recording whose SHA-256 is in the logbook already, unless
/// `again`.
fn refuse_known(tx: &Transaction<'_>, r: &NewRecording, again: bool) -> Result<()> {
    let (Some(sha), false) = (&r.sha256, again) else {
        return Ok(());
    };
    let known: Option<i64> = tx
        .query_row(
            "SELECT (SELECT count(*) FROM set_recordings l WHERE l.recording_id = r.id)
               FROM recordings r WHERE sha256 = ?1 ORDER BY id LIMIT 1",
            [sha],
            |row| row.get(0),
        )
        .optional()?;
    match known {
        Some(n) => Err(LogbookError::AlreadyImported {
            path: r.path.clone(),
            sets: n,
        }),
        None => Ok(()),
    }
}

/// Links a set to the recordings it was judged from.
fn link_recordings(
    tx: &Transaction<'_>,
    set_id: i64,
    recordings: &[(i64, Placement)],
) -> Result<()> {
    let mut st = tx.prepare(
        "INSERT OR IGNORE INTO set_recordings (set_id, recording_id, placement) VALUES (?1, ?2, ?3)",
    )?;
    for (rec, placement) in recordings {
        st.execute(params![set_id, rec, placement.id()])?;
    }
    Ok(())
}

/// The recordings linked to a set, the counting one first.
pub(crate) fn set_recordings(
    conn: &rusqlite::Connection,
    set_id: i64,
) -> Result<Vec<LinkedRecording>> {
    let mut st = conn.prepare(
        "SELECT r.id, l.placement, r.path
           FROM set_recordings l JOIN recordings r ON r.id = l.recording_id
           JOIN sets s ON s.id = l.set_id
          WHERE l.set_id = ?1
          ORDER BY (r.id = s.recording_id) DESC, r.id",
    )?;
    let rows: Vec<(i64, String, String)> = st
        .query_map([set_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, p, path)| {
            Some(LinkedRecording {
                id,
                placement: p.parse().ok()?,
                path,
            })
        })
        .collect())
}

/// Inserts a recording's entry.
fn insert_recording(conn: &rusqlite::Connection, r: &NewRecording) -> Result<i64> {
    let (ex, pl, side, load) = match &r.context {
        Some((e, p, s, l)) => (Some(e.as_str()), Some(p.id()), Some(s.id()), l.as_ref()),
        None => (None, None, None, None),
    };
    conn.execute(
        "INSERT INTO recordings (path, sha256, sensor, sample_rate_hz, samples, samples_lost,
                                 exercise_id, placement, side, load_value, load_unit, load_label,
                                 started_at, closed)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?14, ?13)",
        params![
            r.path,
            r.sha256,
            r.sensor,
            r.sample_rate_hz,
            r.samples as i64,
            r.samples_lost as i64,
            ex,
            pl,
            side,
            load.map(|l| l.value),
            load.map(|l| l.unit.id()),
            load.and_then(|l| l.label.clone()),
            !r.open,
            Stamp::now().stored(),
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Inserts a sensor set with its reps and flags inside the caller's
/// transaction.
fn insert_sensor_set(
    tx: &Transaction<'_>,
    s: &SensorSet<'_>,
    recording: Option<i64>,
) -> Result<i64> {
    let at = performed_at(s.performed_at.as_deref())?;
    let held = (s.set.end_s - s.set.start_s).max(0.0);
    let session = session_for(tx, at, time::plus_seconds(at.at, held.round() as i64), None)?;
    tx.execute(
            "INSERT INTO sets (session_id, exercise_id, side, placement, load_value, load_unit, load_label,
                               reps, source, state, interrupted, recording_id, start_s, end_s, confidence,
                               performed_at, created_at, doubts, utc_offset_s)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?17, 'pending', ?9, ?10, ?11, ?12, ?13, ?14,
                     ?16, ?15, ?18)",
            params![
                session,
                s.exercise,
                s.side.id(),
                s.placement.id(),
                s.load.as_ref().map(|l| l.value),
                s.load.as_ref().map(|l| l.unit.id()),
                s.load.as_ref().and_then(|l| l.label.clone()),
                s.set.reps.len() as i64,
                s.interrupted,
                recording,
                s.set.start_s,
                s.set.end_s,
                s.set.confidence,
                at.stored(),
                serde_json::to_string(&s.set.doubts).ok(),
                Stamp::now().stored(),
                s.source.id(),
                at.offset_s,
            ],
        )?;
    let set_id = tx.last_insert_rowid();
    {
        let mut rep_st = tx.prepare(
                "INSERT INTO reps (set_id, number, start_s, end_s, peak_deg, concentric_s, pause_s, eccentric_s)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
        let mut flag_st = tx.prepare(
            "INSERT INTO flags (rep_id, kind, value_deg, rate_dps) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for rep in &s.set.reps {
            rep_st.execute(params![
                set_id,
                rep.number as i64,
                rep.start_s,
                rep.end_s,
                rep.peak_deg,
                rep.concentric_s,
                rep.pause_s,
                rep.eccentric_s
            ])?;
            let rep_id = tx.last_insert_rowid();
            for f in &rep.flags {
                flag_st.execute(params![rep_id, f.kind.id(), f.value_deg, f.rate_dps])?;
            }
        }
    }
    Ok(set_id)
}

/// Inserts a hand-entered set inside the caller's transaction.
pub(crate) fn insert_manual(tx: &Transaction<'_>, m: &ManualSet) -> Result<Option<i64>> {
    let known: Option<i64> = tx
        .query_row(
            "SELECT 1 FROM exercises WHERE id = ?1",
            [&m.exercise],
            |r| r.get(0),
        )
        .optional()?;
    if known.is_none() {
        return Err(LogbookError::UnknownExercise(m.exercise.clone()));
    }
    if let Some(rir) = m.rir.filter(|r| *r > super::MAX_RIR) {
        return Err(LogbookError::Invalid(format!(
            "{rir} reps in reserve: RIR is 0 to {}",
            super::MAX_RIR
        )));
    }
    if m.reps > 1000 {
        return Err(LogbookError::Invalid(format!(
            "{} reps is not a set",
            m.reps
        )));
    }
    if let Some(key) = &m.import_key {
        let exists: Option<i64> = tx
            .query_row("SELECT id FROM sets WHERE import_key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?;
        if exists.is_some() {
            return Ok(None);
        }
    }
    let at = performed_at(m.performed_at.as_deref())?;
    let held = m
        .duration_s
        .or(m.span_s.map(|(a, b)| b - a))
        .unwrap_or(0.0)
        .max(0.0);
    let session = session_for(
        tx,
        at,
        time::plus_seconds(at.at, held.round() as i64),
        m.workout,
    )?;
    let now = Stamp::now().stored();
    tx.execute(
        "INSERT INTO sets (session_id, exercise_id, variation, side, load_value, load_unit, load_label,
                           reps, rir, tempo, technique_notes, notes_edited, source, state,
                           performed_at, created_at, verified_at, import_key, utc_offset_s, duration_s,
                           side_notes, placement, confidence, start_s, end_s)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?16, 'verified',
                 ?13, ?15, ?15, ?14, ?17, ?18, ?19, ?20, ?21, ?22, ?23)",
        params![
            session,
            m.exercise,
            m.variation,
            m.side.map(|s| s.id()),
            m.load.as_ref().map(|l| l.value),
            m.load.as_ref().map(|l| l.unit.id()),
            m.load.as_ref().and_then(|l| l.label.clone()),
            m.reps,
            m.rir,
            m.tempo,
            m.notes,
            !m.notes.is_empty() || !m.side_notes.is_empty(),
            at.stored(),
            m.import_key,
            now,
            m.source.id(),
            at.offset_s,
            m.duration_s,
            m.side_notes,
            m.placement.map(|p| p.id()),
            m.confidence,
            m.span_s.map(|s| s.0),
            m.span_s.map(|s| s.1),
        ],
    )?;
    let set_id = tx.last_insert_rowid();
    for rep in &m.rep_records {
        tx.execute(
            "INSERT INTO reps (set_id, number, start_s, end_s, peak_deg, concentric_s, pause_s, eccentric_s, counted)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                set_id,
                rep.number,
                rep.start_s,
                rep.end_s,
                rep.peak_deg,
                rep.concentric_s,
                rep.pause_s,
                rep.eccentric_s,
                rep.counted
            ],
        )?;
        let rep_id = tx.last_insert_rowid();
        for f in &rep.flags {
            tx.execute(
                "INSERT INTO flags (rep_id, kind, value_deg, rate_dps, review) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![rep_id, f.kind, f.value_deg, f.rate_dps, f.review],
            )
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f2, _)
                    if f2.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    LogbookError::Invalid(format!(
                        "flag '{}' ({}) is not a flag medius knows",
                        f.kind, f.review
                    ))
                }
                e => e.into(),
            })?;
        }
    }
    Ok(Some(set_id))
}

/// A time the user gave (local 'YYYY-MM-DD' or 'YYYY-MM-DD HH:MM[:SS]',
/// or an instant with its offset), or now.
fn performed_at(at: Option<&str>) -> Result<Stamp> {
    match at {
        None => Ok(Stamp::now()),
        Some(text) => time::parse_user(text, "12:00:00").ok_or_else(|| {
            LogbookError::Invalid(format!(
                "date '{text}' not understood: write a real day as YYYY-MM-DD or 'YYYY-MM-DD HH:MM'"
            ))
        }),
    }
}

/// 'YYYY-MM-DD', 'YYYY-MM-DD HH:MM' or 'YYYY-MM-DD HH:MM:SS' (a `T` may
/// stand for the space; fractions of a second are dropped) as
/// 'YYYY-MM-DD HH:MM:SS', `time` filling in a date alone. Only days that
/// exist: SQLite's datetime() turned 2026-02-30 into 2026-03-02.
pub(crate) fn civil_time(text: &str, time: &str) -> Option<String> {
    let t = text.trim();
    let num = |s: &str| -> Option<u32> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (date, clock) = match t.get(10..) {
        Some("") => (t, None),
        Some(rest) if rest.starts_with([' ', 'T']) => (&t[..10], Some(rest[1..].trim_start())),
        _ => return None,
    };
    let mut d = date.split('-');
    let (y, m, day) = (num(d.next()?)?, num(d.next()?)?, num(d.next()?)?);
    if d.next().is_some() || date.len() != 10 || !(1900..=2100).contains(&y) {
        return None;
    }
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days_in_month = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if !(1..=days_in_month).contains(&day) {
        return None;
    }
    let clock = match clock {
        None => time.to_string(),
        Some(c) => {
            let c = c.split_once('.').map_or(c, |(whole, _)| whole);
            let mut parts = c.split(':');
            let h = parts.next().filter(|p| p.len() == 2).and_then(num)?;
            let min = parts.next().filter(|p| p.len() == 2).and_then(num)?;
            let sec = match parts.next() {
                Some(p) if p.len() == 2 => num(p)?,
                Some(_) => return None,
                None => 0,
            };
            if parts.next().is_some() || h > 23 || min > 59 || sec > 59 {
                return None;
            }
            format!("{h:02}:{min:02}:{sec:02}")
        }
    };
    Some(format!("{y:04}-{m:02}-{day:02} {clock}"))
}

/// Sets less than this far apart are one session.
pub(crate) const SESSION_GAP_S: i64 = 3 * 3600;

/// The session a set done at `at` (and over by `end`) belongs to. By time,
/// whatever the order sets are saved in: a set joins the session that has
/// a set within 3 hours of it, and a back-filled set that bridges two
/// sessions joins them into one. A session keeps its first set's time as
/// its start (with that offset) and its last set's end, so one crossing
/// midnight or a DST change stays one. An imported set keeps its file's
/// workout instead.
fn session_for(
    tx: &Transaction<'_>,
    at: Stamp,
    end: Timestamp,
    workout: Option<Workout>,
) -> Result<i64> {
    let end = end.max(at.at);
    if let Some(w) = workout {
        let start = w.start.stored();
        let found: Option<i64> = tx
            .query_row(
                "SELECT id FROM sessions WHERE started_at = ?1 ORDER BY id LIMIT 1",
                [&start],
                |r| r.get(0),
            )
            .optional()?;
        let id = match found {
            Some(id) => id,
            None => {
                tx.execute(
                    "INSERT INTO sessions (started_at, ended_at, utc_offset_s) VALUES (?1, ?1, ?2)",
                    params![start, w.start.offset_s],
                )?;
                tx.last_insert_rowid()
            }
        };
        let last = w.end.map_or(end, |e| e.max(end));
        tx.execute(
            "UPDATE sessions SET ended_at = max(coalesce(ended_at, started_at), ?2) WHERE id = ?1",
            params![id, time::stored(last)],
        )?;
        return Ok(id);
    }
    let lo = time::stored(time::plus_seconds(at.at, -SESSION_GAP_S));
    let hi = time::stored(time::plus_seconds(at.at, SESSION_GAP_S));
    let near: Vec<i64> = tx
        .prepare(
            "SELECT id FROM sessions
              WHERE id IN (SELECT session_id FROM sets WHERE performed_at BETWEEN ?1 AND ?2)
                 OR started_at BETWEEN ?1 AND ?2
                 OR (started_at <= ?3 AND ended_at >= ?3)
              ORDER BY started_at, id",
        )?
        .query_map(params![lo, hi, at.stored()], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let id = match near.split_first() {
        None => {
            tx.execute(
                "INSERT INTO sessions (started_at, ended_at, utc_offset_s) VALUES (?1, ?1, ?2)",
                params![at.stored(), at.offset_s],
            )?;
            tx.last_insert_rowid()
        }
        Some((&keep, others)) => {
            for &other in others {
                tx.execute(
                    "UPDATE sets SET session_id = ?1 WHERE session_id = ?2",
                    params![keep, other],
                )?;
                tx.execute(
                    "UPDATE sessions SET ended_at = max(coalesce(ended_at, started_at),
                            (SELECT coalesce(ended_at, started_at) FROM sessions WHERE id = ?2))
                      WHERE id = ?1",
                    params![keep, other],
                )?;
                tx.execute("DELETE FROM sessions WHERE id = ?1", [other])?;
            }
            keep
        }
    };
    // An earlier set moves the start back (and takes its offset).
    tx.execute(
        "UPDATE sessions SET utc_offset_s = CASE WHEN ?2 < started_at THEN ?3 ELSE utc_offset_s END,
                             started_at = min(started_at, ?2),
                             ended_at = max(coalesce(ended_at, started_at), ?4)
          WHERE id = ?1",
        params![id, at.stored(), at.offset_s, time::stored(end)],
    )?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::civil_time;

    #[test]
    fn only_days_that_exist() {
        let t = |s: &str| civil_time(s, "12:00:00");
        assert_eq!(t("2026-11-02").as_deref(), Some("2026-11-02 12:00:00"));
        assert_eq!(
            t("2026-11-02 18:00").as_deref(),
            Some("2026-11-02 18:00:00")
        );
        assert_eq!(
            t("2026-11-02T18:00:05").as_deref(),
            Some("2026-11-02 18:00:05")
        );
        assert_eq!(
            t("2024-02-29 07:30:00.250").as_deref(),
            Some("2024-02-29 07:30:00")
        );
        for bad in [
            "2026-02-30",
            "2025-02-29",
            "2100-02-29",
            "2026-04-31",
            "2026-13-01",
            "2026-00-10",
            "2026-1-5",
            "2026-11-02 24:00",
            "2026-11-02 18:60",
            "2026-11-02 18",
            "2026-11-02x",
            "yesterday",
            "now",
            "+2026-11-02",
            "é",
            "",
        ] {
            assert_eq!(t(bad), None, "{bad}");
        }
    }
}
