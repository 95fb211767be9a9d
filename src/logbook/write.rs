//! Writing sets: from the pipeline (daemon and `import` call the same
//! function) and by hand. Each set with its reps and flags is one transaction.

use super::{Load, Logbook, LogbookError, Result};
use crate::motion::Set;
use crate::{Placement, Side};
use rusqlite::{params, OptionalExtension, Transaction};

/// The raw recording a sensor set came from.
#[derive(Debug, Clone, Default)]
pub struct NewRecording {
    /// Path of the raw CSV.
    pub path: String,
    /// SHA-256 of the file, hex, when it is complete.
    pub sha256: Option<String>,
    /// Which sensor: `sim`, `replay`, an address, `import`.
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
    /// When it started.
    pub started_at: String,
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
    /// When it was performed ('YYYY-MM-DD HH:MM:SS'); now if `None`.
    pub performed_at: Option<String>,
}

/// A set typed in by hand (`medius log add`).
#[derive(Debug, Clone)]
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
    /// When ('YYYY-MM-DD HH:MM:SS'); now if `None`.
    pub performed_at: Option<String>,
    /// Key that makes a re-import of the same row a no-op.
    pub import_key: Option<String>,
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
            "DELETE FROM recordings WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM sets WHERE recording_id = ?1)",
            [id],
        )?;
        Ok(())
    }

    /// Recordings the daemon started and never closed (it was killed).
    pub fn open_recordings(&self) -> Result<Vec<OpenRecording>> {
        let mut st = self.conn().prepare(
            "SELECT id, path, exercise_id, placement, side, load_value, load_unit, load_label, started_at
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
                ))
            })?
            .collect::<Result<_, _>>()?;
        let mut out = Vec::new();
        for (id, path, exercise, placement, side, lv, lu, ll, started) in rows {
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
                saved_starts,
            });
        }
        Ok(out)
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
        self.exercise(s.exercise)?;
        let tx = self.write_tx()?;
        let set_id = insert_sensor_set(&tx, s, recording)?;
        tx.commit()?;
        Ok(set_id)
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
        for s in sets {
            self.exercise(s.exercise)?;
        }
        let tx = self.write_tx()?;
        if let (Some(sha), false) = (&r.sha256, again) {
            let known: Option<(String, i64)> = tx
                .query_row(
                    "SELECT coalesce(started_at, ''), (SELECT count(*) FROM sets s WHERE s.recording_id = r.id)
                       FROM recordings r WHERE sha256 = ?1 ORDER BY id LIMIT 1",
                    [sha],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()?;
            if let Some((_, n)) = known {
                return Err(LogbookError::AlreadyImported {
                    path: r.path.clone(),
                    sets: n,
                });
            }
        }
        let rec = insert_recording(&tx, r)?;
        let mut ids = Vec::with_capacity(sets.len());
        for s in sets {
            ids.push(insert_sensor_set(&tx, s, Some(rec))?);
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
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, datetime('now', 'localtime'), ?13)",
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
    let at = performed_at(tx, s.performed_at.as_deref())?;
    let session = session_for(tx, &at)?;
    tx.execute(
            "INSERT INTO sets (session_id, exercise_id, side, placement, load_value, load_unit, load_label,
                               reps, source, state, interrupted, recording_id, start_s, end_s, confidence,
                               performed_at, created_at, doubts)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'sensor', 'pending', ?9, ?10, ?11, ?12, ?13, ?14,
                     datetime('now', 'localtime'), ?15)",
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
                at,
                serde_json::to_string(&s.set.doubts).ok(),
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
    let at = performed_at(tx, m.performed_at.as_deref())?;
    let session = session_for(tx, &at)?;
    tx.execute(
        "INSERT INTO sets (session_id, exercise_id, variation, side, load_value, load_unit, load_label,
                           reps, rir, tempo, technique_notes, notes_edited, source, state,
                           performed_at, created_at, verified_at, import_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'manual', 'verified',
                 ?13, datetime('now', 'localtime'), datetime('now', 'localtime'), ?14)",
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
            !m.notes.is_empty(),
            at,
            m.import_key,
        ],
    )?;
    Ok(Some(tx.last_insert_rowid()))
}

/// Normalises a time the user gave ('YYYY-MM-DD' or 'YYYY-MM-DD HH:MM[:SS]')
/// or now.
fn performed_at(tx: &Transaction<'_>, at: Option<&str>) -> Result<String> {
    match at {
        None => Ok(tx.query_row("SELECT datetime('now', 'localtime')", [], |r| r.get(0))?),
        Some(text) => {
            let t = text.trim().replace('T', " ");
            let t = if t.len() == 10 {
                format!("{t} 12:00:00")
            } else {
                t
            };
            let v: Option<String> = tx.query_row("SELECT datetime(?1)", [&t], |r| r.get(0))?;
            v.ok_or_else(|| {
                LogbookError::Invalid(format!(
                    "date '{text}' not understood: write YYYY-MM-DD or 'YYYY-MM-DD HH:MM'"
                ))
            })
        }
    }
}

/// The session a set at `at` belongs to: one started within the 3 hours
/// before it, else a new one.
fn session_for(tx: &Transaction<'_>, at: &str) -> Result<i64> {
    let found: Option<i64> = tx
        .query_row(
            "SELECT id FROM sessions WHERE started_at <= ?1 AND started_at >= datetime(?1, '-3 hours')
             ORDER BY started_at DESC LIMIT 1",
            [at],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(id) = found {
        return Ok(id);
    }
    tx.execute("INSERT INTO sessions (started_at) VALUES (?1)", [at])?;
    Ok(tx.last_insert_rowid())
}
