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
        Some(text) => civil_time(text, "12:00:00").ok_or_else(|| {
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
