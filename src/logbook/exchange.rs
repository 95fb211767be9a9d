//! Exchange with the apps lifters already use: Strong and Hevy CSV, JSON
//! (every field) and Garmin FIT out; Strong, Hevy and medius JSON in.
//!
//! A workout in those apps is a session here: one start time and one
//! duration, whatever the times of its sets. A load a column cannot carry
//! exactly (pin, band, ankle weight, bodyweight; pounds in Hevy's kg
//! column) leads the notes as medius writes it (`pin 7; …`) and is read
//! back from there, so export → import → export gives the same file. A row
//! that the logbook's own export would write the same way is already in
//! the log: importing an export into the logbook it came from adds nothing.

use super::history::LogEntry;
use super::time::{self, Stamp};
use super::write::{insert_manual, FlagRecord, ManualSet, RepRecord, Source, Workout};
use super::{ExerciseInfo, Load, LoadUnit, LogFilter, Logbook, LogbookError, Result};
use crate::{Placement, Side};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

/// Export layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// Strong's CSV (the layout with a `Weight Unit` column).
    Strong,
    /// Hevy's CSV.
    Hevy,
    /// medius JSON (every field, reps and flags too).
    Json,
    /// Garmin FIT, one activity per session.
    Fit,
}

/// Files `import-log` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum App {
    /// Strong's CSV, either layout (comma, or semicolon with `Weight Unit`).
    Strong,
    /// Hevy's CSV.
    Hevy,
    /// medius' JSON export.
    Json,
}

impl App {
    fn id(self) -> &'static str {
        match self {
            App::Strong => "strong",
            App::Hevy => "hevy",
            App::Json => "json",
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ImportSummary {
    /// Sets added.
    pub added: u32,
    /// Of them, timed sets (a plank: seconds, no reps).
    pub timed: u32,
    /// Rows already in the logbook (the same row as its own export writes,
    /// or imported before).
    pub already_there: u32,
    /// Rows with neither reps nor a time (rest timers), or cardio, skipped.
    pub skipped: u32,
    /// Exercises added to the catalog.
    pub new_exercises: Vec<String>,
}

/// A spreadsheet would run a cell that starts with = + - @ as a formula:
/// prefix such text with a quote. Spreadsheets skip leading blanks and
/// line breaks (`" =1+1"`, `"\n=1+1"`) and read the full-width and small
/// forms (`＝1+1`) as the ASCII ones, so those are defused too; so is a
/// cell that starts with a tab, CR or LF.
pub fn cell(text: &str) -> String {
    let starts_like_formula = |c: char| {
        matches!(
            c,
            '=' | '+'
                | '-'
                | '@'
                | '\u{ff1d}' // ＝
                | '\u{ff0b}' // ＋
                | '\u{ff0d}' // －
                | '\u{ff20}' // ＠
                | '\u{fe66}' // ﹦
                | '\u{fe62}' // ﹢
                | '\u{fe63}' // ﹣
                | '\u{fe6b}' // ﹫
                | '\u{2212}' // − minus sign
        )
    };
    let first = text.chars().next();
    let first_seen = text.trim_start().chars().next();
    if matches!(first, Some('\t' | '\r' | '\n')) || first_seen.is_some_and(starts_like_formula) {
        format!("'{text}")
    } else {
        text.to_string()
    }
}

/// What a cell defused by [`cell`] said.
fn uncell(text: &str) -> &str {
    match text.strip_prefix('\'') {
        Some(rest) if cell(rest) == text => rest,
        _ => text,
    }
}

fn exercise_title(names: &[ExerciseInfo], e: &LogEntry) -> String {
    let name = names
        .iter()
        .find(|x| x.id == e.exercise)
        .map(|x| x.name.clone())
        .unwrap_or_else(|| e.exercise.clone());
    match &e.side {
        Some(s) => format!("{name} ({s})"),
        None => name,
    }
}

/// The notes an app gets: the load first when its columns cannot carry
/// it (`carried`: the units they can), then the lifter's notes, the tempo last.
fn notes(e: &LogEntry, carried: &[LoadUnit]) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(l) = &e.load {
        if !carried.contains(&l.unit) {
            parts.push(l.to_string());
        }
    }
    for t in [&e.variation, &e.technique_notes, &e.side_notes] {
        if !t.is_empty() {
            parts.push(t.clone());
        }
    }
    if let Some(t) = &e.tempo {
        parts.push(format!("tempo {t}"));
    }
    parts.join("; ")
}

/// Reads [`notes`] back: (the load they lead with, the notes, the tempo).
fn split_notes(text: &str) -> (Option<Load>, String, Option<String>) {
    let (first, rest) = text.split_once("; ").unwrap_or((text, ""));
    let (load, rest) = match Load::parse(first) {
        Ok(l) if !first.trim().is_empty() => (Some(l), rest),
        _ => (None, text),
    };
    let (body, last) = match rest.rsplit_once("; ") {
        Some((body, last)) => (body, last),
        None => ("", rest),
    };
    match last.strip_prefix("tempo ") {
        Some(t)
            if !t.is_empty()
                && t.chars()
                    .all(|c| c.is_ascii_digit() || c == '-' || c == 'x') =>
        {
            (load, body.to_string(), Some(t.to_string()))
        }
        _ => (load, rest.to_string(), None),
    }
}

/// RPE as the apps log it, from reps in reserve (RPE = 10 − RIR).
fn rpe(e: &LogEntry) -> String {
    e.rir
        .map(|r| 10u32.saturating_sub(r).to_string())
        .unwrap_or_default()
}

fn rir_from_rpe(text: &str) -> Option<u32> {
    let rpe = text.trim().parse::<f64>().ok().filter(|v| v.is_finite())?;
    Some((10.0 - rpe).clamp(0.0, 10.0).round() as u32)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// 'YYYY-MM-DD HH:MM:SS' → Hevy's '15 Jan 2024, 18:30'.
fn hevy_time(at: &str) -> String {
    let month: usize = at.get(5..7).and_then(|m| m.parse().ok()).unwrap_or(1);
    format!(
        "{} {} {}, {}",
        at.get(8..10).unwrap_or("01"),
        MONTHS[(month.clamp(1, 12)) - 1],
        at.get(0..4).unwrap_or("1970"),
        at.get(11..16).unwrap_or("00:00")
    )
}

/// Hevy's '15 Jan 2024, 18:30' → 'YYYY-MM-DD HH:MM'.
fn from_hevy_time(text: &str) -> Option<String> {
    let (date, clock) = text.trim().split_once(", ")?;
    let mut d = date.split(' ');
    let (day, month, year) = (d.next()?, d.next()?, d.next()?);
    let m = MONTHS.iter().position(|x| x.eq_ignore_ascii_case(month))? + 1;
    let day: u32 = day.parse().ok()?;
    Some(format!("{year}-{m:02}-{day:02} {clock}"))
}

/// Strong's workout duration: '1h 5m', '45m'.
fn duration_text(s: i64) -> String {
    let m = s.max(0) / 60;
    if m >= 60 {
        format!("{}h {}m", m / 60, m % 60)
    } else {
        format!("{m}m")
    }
}

/// '1h 5m', '45m', '1h', '30s', or plain seconds.
fn parse_duration(text: &str) -> Option<i64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if let Ok(s) = t.parse::<f64>() {
        return (s.is_finite() && (0.0..1e9).contains(&s)).then_some(s.round() as i64);
    }
    let mut total = 0i64;
    for part in t.split_whitespace() {
        let (n, unit) = part.split_at(part.find(|c: char| !c.is_ascii_digit())?);
        let n: i64 = n.parse().ok().filter(|n| *n < 1_000_000)?;
        total += n * match unit {
            "h" => 3600,
            "m" | "min" => 60,
            "s" => 1,
            _ => return None,
        };
    }
    Some(total)
}

fn number(v: f64) -> String {
    format!("{v}")
}

/// One set as an export writes it: its log entry and its place in its session.
pub(crate) struct Row {
    /// The set.
    pub entry: LogEntry,
    /// Exercise name with the side.
    pub title: String,
    /// Its number among the sets of its exercise and side in the session, from 1.
    pub order: u32,
    /// The session's start.
    pub start: Stamp,
    /// The session's end.
    pub end: Timestamp,
}

impl Row {
    /// The key an import of this row in `app`'s layout would carry.
    fn key(&self, app: App) -> String {
        match app {
            App::Strong => format!(
                "strong|{}|{}|{}",
                time::local_text(&self.start.stored()),
                self.title,
                self.order
            ),
            App::Hevy => format!(
                "hevy|{}|{}|{}",
                hevy_time(&time::local_text(&self.start.stored())),
                self.title,
                self.order - 1
            ),
            App::Json => json_key(
                &self.start,
                &self.entry.exercise,
                self.entry.side.as_deref(),
                self.order,
            ),
        }
    }
}

fn json_key(start: &Stamp, exercise: &str, side: Option<&str>, order: u32) -> String {
    format!(
        "json|{}|{exercise}|{}|{order}",
        start.stored(),
        side.unwrap_or("")
    )
}

/// The medius JSON export.
#[derive(Debug, Serialize, Deserialize)]
struct JsonLog {
    /// Format version.
    medius_log: u32,
    /// The exercises of the sets that are not built in.
    exercises: Vec<JsonExercise>,
    sets: Vec<JsonSet>,
}

#[derive(Debug, Serialize, Deserialize)]
struct JsonExercise {
    id: String,
    name: String,
    rep_min: u32,
    rep_max: u32,
    load_step: Option<Load>,
}

#[derive(Debug, Serialize, Deserialize)]
struct JsonSet {
    session_start: String,
    session_end: String,
    at: String,
    exercise: String,
    side: Option<String>,
    placement: Option<String>,
    load: Option<Load>,
    reps: u32,
    duration_s: Option<f64>,
    rir: Option<u32>,
    tempo: Option<String>,
    variation: String,
    technique_notes: String,
    side_notes: String,
    source: Source,
    confidence: Option<f64>,
    start_s: Option<f64>,
    end_s: Option<f64>,
    rep_records: Vec<RepRecord>,
}

impl Logbook {
    /// The verified sets (simulated and replayed ones only with
    /// `include_sim`), oldest first, each with its session and its number
    /// in it, as every export writes them.
    pub(crate) fn export_rows(&self, include_sim: bool) -> Result<Vec<Row>> {
        let mut sets = self.log(&LogFilter {
            include_sim,
            ..LogFilter::default()
        })?;
        sets.reverse();
        let names = self.exercises()?;
        let mut st = self.conn().prepare(
            "SELECT started_at, coalesce(ended_at, started_at), utc_offset_s FROM sessions WHERE id = ?1",
        )?;
        let mut counts: Vec<(i64, String, u32)> = Vec::new();
        let mut out = Vec::with_capacity(sets.len());
        for e in sets {
            let (start, end, offset_s): (String, String, i32) =
                st.query_row([e.session], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            let start_at = time::from_stored(&start).unwrap_or(Timestamp::UNIX_EPOCH);
            let title = exercise_title(&names, &e);
            let order = match counts
                .iter_mut()
                .find(|(s, t, _)| *s == e.session && *t == title)
            {
                Some((_, _, n)) => {
                    *n += 1;
                    *n
                }
                None => {
                    counts.push((e.session, title.clone(), 1));
                    1
                }
            };
            out.push(Row {
                start: Stamp {
                    at: start_at,
                    offset_s,
                },
                end: time::from_stored(&end).unwrap_or(start_at).max(start_at),
                entry: e,
                title,
                order,
            });
        }
        Ok(out)
    }

    /// Writes the log (verified sets, oldest first; simulated and replayed
    /// ones only with `include_sim`; only the sessions that started at or
    /// after `since`, a stored instant from [`super::parse_since`], whole)
    /// in a format. Returns the sets written.
    pub fn export(
        &self,
        format: ExportFormat,
        include_sim: bool,
        since: Option<&str>,
        out: &mut dyn Write,
    ) -> Result<usize> {
        let mut rows = self.export_rows(include_sim)?;
        // Whole sessions, numbered as in the whole log: a re-import of a
        // part is still known.
        if let Some(since) = since.and_then(time::from_stored) {
            rows.retain(|r| r.start.at >= since);
        }
        match format {
            ExportFormat::Json => self.write_json(&rows, out)?,
            ExportFormat::Strong => write_strong(&rows, out)?,
            ExportFormat::Hevy => write_hevy(&rows, out)?,
            ExportFormat::Fit => super::fit::write(&rows, out)?,
        }
        Ok(rows.len())
    }

    fn write_json(&self, rows: &[Row], out: &mut dyn Write) -> Result<()> {
        let catalog = self.exercises()?;
        let mut exercises: Vec<JsonExercise> = Vec::new();
        let mut sets = Vec::with_capacity(rows.len());
        for r in rows {
            let e = &r.entry;
            if let Some(x) = catalog.iter().find(|x| x.id == e.exercise && !x.builtin) {
                if !exercises.iter().any(|j| j.id == x.id) {
                    exercises.push(JsonExercise {
                        id: x.id.clone(),
                        name: x.name.clone(),
                        rep_min: x.rep_min,
                        rep_max: x.rep_max,
                        load_step: x.load_step.clone(),
                    });
                }
            }
            type Detail = (Option<String>, Option<f64>, Option<f64>, Option<f64>);
            let (placement, confidence, start_s, end_s): Detail = self.conn().query_row(
                "SELECT placement, confidence, start_s, end_s FROM sets WHERE id = ?1",
                [e.id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )?;
            let end = Stamp {
                at: r.end,
                offset_s: r.start.offset_s,
            };
            sets.push(JsonSet {
                session_start: r.start.rfc3339(),
                session_end: end.rfc3339(),
                at: e.at.clone(),
                exercise: e.exercise.clone(),
                side: e.side.clone(),
                placement,
                load: e.load.clone(),
                reps: e.reps,
                duration_s: e.duration_s,
                rir: e.rir,
                tempo: e.tempo.clone(),
                variation: e.variation.clone(),
                technique_notes: e.technique_notes.clone(),
                side_notes: e.side_notes.clone(),
                source: Source::from_id(&e.source).unwrap_or_default(),
                confidence,
                start_s,
                end_s,
                rep_records: self.rep_records(e.id)?,
            });
        }
        serde_json::to_writer_pretty(
            &mut *out,
            &JsonLog {
                medius_log: 1,
                exercises,
                sets,
            },
        )
        .map_err(|e| LogbookError::Io(e.into()))?;
        writeln!(out)?;
        Ok(())
    }

    fn rep_records(&self, set: i64) -> Result<Vec<RepRecord>> {
        let mut st = self.conn().prepare(
            "SELECT id, number, start_s, end_s, peak_deg, concentric_s, pause_s, eccentric_s, counted
               FROM reps WHERE set_id = ?1 ORDER BY number",
        )?;
        let reps: Vec<(i64, RepRecord)> = st
            .query_map([set], |r| {
                Ok((
                    r.get(0)?,
                    RepRecord {
                        number: r.get(1)?,
                        start_s: r.get(2)?,
                        end_s: r.get(3)?,
                        peak_deg: r.get(4)?,
                        concentric_s: r.get(5)?,
                        pause_s: r.get(6)?,
                        eccentric_s: r.get(7)?,
                        counted: r.get(8)?,
                        flags: Vec::new(),
                    },
                ))
            })?
            .collect::<Result<_, _>>()?;
        let mut fl = self.conn().prepare(
            "SELECT kind, value_deg, rate_dps, review FROM flags WHERE rep_id = ?1 ORDER BY id",
        )?;
        let mut out = Vec::with_capacity(reps.len());
        for (id, mut rep) in reps {
            rep.flags = fl
                .query_map([id], |r| {
                    Ok(FlagRecord {
                        kind: r.get(0)?,
                        value_deg: r.get(1)?,
                        rate_dps: r.get(2)?,
                        review: r.get(3)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            out.push(rep);
        }
        Ok(out)
    }

    /// Brings a Strong CSV export in (see [`Logbook::read_history`]).
    pub fn import_strong(&mut self, path: &Path, unit: LoadUnit) -> Result<ImportSummary> {
        let file = self.read_history(App::Strong, path, unit)?;
        self.save_strong(file)
    }

    /// Reads a Strong CSV export (see [`Logbook::read_history`]).
    pub fn read_strong(&self, path: &Path, unit: LoadUnit) -> Result<StrongFile> {
        self.read_history(App::Strong, path, unit)
    }

    /// Reads and checks a Strong or Hevy CSV export, or a medius JSON
    /// export, without writing anything: a logbook opened read-only will
    /// do, so a bad file is refused before the logbook is created or opened
    /// for writing. Every row becomes a verified set; unknown exercises
    /// join the catalog. `unit` is the unit of a Strong `Weight` column
    /// when the file has no `Weight Unit` column.
    pub fn read_history(&self, app: App, path: &Path, unit: LoadUnit) -> Result<StrongFile> {
        let bytes = read_capped(path, MAX_STRONG_BYTES)?;
        let mut file = match app {
            App::Json => self.read_json(path, &bytes)?,
            App::Strong | App::Hevy => self.read_csv(app, path, &bytes, unit)?,
        };
        // What the logbook's own export writes is in the log already.
        for include_sim in [false, true] {
            for r in self.export_rows(include_sim)? {
                file.known.insert(r.key(app));
            }
        }
        Ok(file)
    }

    fn read_json(&self, path: &Path, bytes: &[u8]) -> Result<StrongFile> {
        let doc: JsonLog = serde_json::from_slice(bytes).map_err(|e| {
            LogbookError::Invalid(format!(
                "{}:{}: not a medius JSON export ({e})",
                path.display(),
                e.line()
            ))
        })?;
        if doc.medius_log != 1 {
            return Err(LogbookError::Invalid(format!(
                "{}: a medius JSON export of version {}, which this medius does not read (1); upgrade medius",
                path.display(),
                doc.medius_log
            )));
        }
        let catalog = self.exercises()?;
        let new_exercises: Vec<ExerciseInfo> = doc
            .exercises
            .into_iter()
            .filter(|x| !catalog.iter().any(|c| c.id == x.id))
            .map(|x| ExerciseInfo {
                id: x.id,
                name: x.name,
                counted_from: String::new(),
                rep_min: x.rep_min,
                rep_max: x.rep_max,
                load_step: x.load_step,
                builtin: false,
            })
            .collect();
        let mut rows = Vec::with_capacity(doc.sets.len());
        let mut counts: Vec<(String, String, Option<String>, u32)> = Vec::new();
        for (i, s) in doc.sets.into_iter().enumerate() {
            let bad = |what: &str| {
                LogbookError::Invalid(format!(
                    "{}: set {} (from 1): {what}",
                    path.display(),
                    i + 1
                ))
            };
            let start = time::parse_user(&s.session_start, "00:00:00")
                .ok_or_else(|| bad("session_start is not a time with its offset"))?;
            let end = time::parse_user(&s.session_end, "00:00:00")
                .ok_or_else(|| bad("session_end is not a time with its offset"))?;
            time::parse_user(&s.at, "00:00:00").ok_or_else(|| bad("at is not a time"))?;
            if s.load
                .as_ref()
                .is_some_and(|l| !(l.value.is_finite() && (0.0..MAX_WEIGHT).contains(&l.value)))
            {
                return Err(bad(&format!("a load is a number from 0 to {MAX_WEIGHT}")));
            }
            if s.duration_s
                .is_some_and(|d| !(d.is_finite() && d > 0.0 && d <= 86_400.0))
            {
                return Err(bad("duration_s is seconds from 0 to 86400"));
            }
            let side = s
                .side
                .as_deref()
                .map(|x| x.parse::<Side>().map_err(|_| bad("side is left or right")))
                .transpose()?;
            let placement = s
                .placement
                .as_deref()
                .map(|x| {
                    x.parse::<Placement>()
                        .map_err(|_| bad("placement is ankle or pelvis"))
                })
                .transpose()?;
            let order = match counts
                .iter_mut()
                .find(|(a, b, c, _)| *a == s.session_start && *b == s.exercise && *c == s.side)
            {
                Some((_, _, _, n)) => {
                    *n += 1;
                    *n
                }
                None => {
                    counts.push((
                        s.session_start.clone(),
                        s.exercise.clone(),
                        s.side.clone(),
                        1,
                    ));
                    1
                }
            };
            rows.push(ManualSet {
                import_key: Some(json_key(&start, &s.exercise, s.side.as_deref(), order)),
                exercise: s.exercise,
                side,
                load: s.load,
                reps: s.reps,
                rir: s.rir,
                tempo: s.tempo,
                variation: s.variation,
                notes: s.technique_notes,
                performed_at: Some(s.at),
                duration_s: s.duration_s,
                side_notes: s.side_notes,
                source: s.source,
                placement,
                workout: Some(Workout {
                    start,
                    end: Some(end.at),
                }),
                rep_records: s.rep_records,
                confidence: s.confidence,
                span_s: s.start_s.zip(s.end_s),
            });
        }
        Ok(StrongFile {
            path: path.to_path_buf(),
            rows,
            new_exercises,
            skipped: 0,
            known: HashSet::new(),
        })
    }

    fn read_csv(&self, app: App, path: &Path, bytes: &[u8], unit: LoadUnit) -> Result<StrongFile> {
        let where_ = |line: u64| format!("{}:{line}", path.display());
        let not_strong = || {
            LogbookError::Invalid(match app {
                App::Hevy => format!(
                    "{}: not a Hevy export (needs the columns start_time, exercise_title, set_index, reps)",
                    where_(1)
                ),
                _ => format!(
                    "{}: not a Strong export (needs the columns Date, Exercise Name, Set Order, Weight, Reps, separated by commas or semicolons)",
                    where_(1)
                ),
            })
        };
        // Strong writes two layouts: commas, or semicolons with a Weight
        // Unit column. The header line says which.
        let first_line = bytes.split(|b| *b == b'\n').next().unwrap_or(b"");
        let count = |c: u8| first_line.iter().filter(|b| **b == c).count();
        let delimiter = if count(b';') > count(b',') {
            b';'
        } else {
            b','
        };
        // A quote that never closes would swallow every row after it into
        // one field: refuse the file, naming the line where it opened.
        if let Some(line) = unclosed_quote(bytes, delimiter) {
            return Err(LogbookError::Invalid(format!(
                "{}: a quote opens here and never closes; fix that row (or export again: the file may be cut short)",
                where_(line)
            )));
        }
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(true)
            .delimiter(delimiter)
            .from_reader(bytes);
        let headers = rdr
            .headers()
            .map_err(|e| LogbookError::Invalid(format!("{}: {e}", where_(1))))?
            .clone();
        let col = |name: &str| {
            headers
                .iter()
                .position(|h| h.trim().trim_start_matches('\u{feff}') == name)
        };
        let hevy = app == App::Hevy;
        let pick = |strong: &str, hevy_name: &str| col(if hevy { hevy_name } else { strong });
        let (Some(c_date), Some(c_ex), Some(c_order), Some(c_reps)) = (
            pick("Date", "start_time"),
            pick("Exercise Name", "exercise_title"),
            pick("Set Order", "set_index"),
            pick("Reps", "reps"),
        ) else {
            return Err(not_strong());
        };
        // Weight columns: Strong's Weight (+ Weight Unit), Hevy's weight_kg or weight_lbs.
        let weight_cols: Vec<(usize, Option<LoadUnit>)> = if hevy {
            [("weight_kg", LoadUnit::Kg), ("weight_lbs", LoadUnit::Lb)]
                .into_iter()
                .filter_map(|(n, u)| col(n).map(|c| (c, Some(u))))
                .collect()
        } else {
            col("Weight").map(|c| (c, None)).into_iter().collect()
        };
        if !hevy && weight_cols.is_empty() {
            return Err(not_strong());
        }
        let c_unit = col("Weight Unit");
        let c_notes = pick("Notes", "exercise_notes");
        let c_rpe = pick("RPE", "rpe");
        let c_seconds = pick("Seconds", "duration_seconds");
        let c_distance = if hevy {
            col("distance_km").or(col("distance_miles"))
        } else {
            col("Distance")
        };
        let c_end = col("end_time");
        let c_duration = col("Workout Duration").or(col("Duration"));
        let catalog = self.exercises()?;
        let mut skipped = 0;
        let mut rows: Vec<ManualSet> = Vec::new();
        let mut new_ex: Vec<ExerciseInfo> = Vec::new();
        for (i, rec) in rdr.records().enumerate() {
            let line = i as u64 + 2;
            let rec = rec.map_err(|e| LogbookError::Invalid(format!("{}: {e}", where_(line))))?;
            let line = rec.position().map_or(line, |p| p.line());
            let get = |c: usize| rec.get(c).unwrap_or("").trim();
            let opt = |c: Option<usize>| c.map(get).unwrap_or("");
            let reps_text = get(c_reps);
            let reps: u32 = if reps_text.is_empty() {
                0
            } else {
                reps_text.parse().map_err(|_| {
                    LogbookError::Invalid(format!(
                        "{}: Reps '{reps_text}' is not a whole number",
                        where_(line)
                    ))
                })?
            };
            let seconds = parse_duration(opt(c_seconds)).filter(|s| *s > 0);
            let distance = opt(c_distance).parse::<f64>().unwrap_or(0.0);
            // A set is reps, or a time held (a plank); a row with neither
            // (a rest timer) or with a distance (cardio) is not a set.
            if (reps == 0 && seconds.is_none()) || distance > 0.0 {
                skipped += 1;
                continue;
            }
            let duration_s = if reps == 0 {
                seconds.map(|s| s as f64)
            } else {
                None
            };
            let mut load = None;
            for (c, col_unit) in &weight_cols {
                let weight = get(*c);
                if weight.is_empty() || weight == "0" {
                    continue;
                }
                let v: f64 = weight
                    .parse()
                    .ok()
                    // 1e300 used to be stored as is.
                    .filter(|v: &f64| v.is_finite() && (0.0..MAX_WEIGHT).contains(v))
                    .ok_or_else(|| {
                        LogbookError::Invalid(format!(
                            "{}: Weight '{weight}' is not a number from 0 to {MAX_WEIGHT}",
                            where_(line)
                        ))
                    })?;
                let unit = match (col_unit, opt(c_unit).to_ascii_lowercase().as_str()) {
                    (Some(u), _) => *u,
                    (None, "kg" | "kgs") => LoadUnit::Kg,
                    (None, "lb" | "lbs") => LoadUnit::Lb,
                    (None, "") => unit,
                    (None, other) => {
                        return Err(LogbookError::Invalid(format!(
                            "{}: Weight Unit '{other}' is neither kg nor lbs",
                            where_(line)
                        )))
                    }
                };
                load = Some(Load {
                    value: v,
                    unit,
                    label: None,
                });
            }
            // The load the notes lead with is the one lifted (a pin, a
            // band, pounds in Hevy's kg column).
            let (noted, notes, tempo) = split_notes(uncell(opt(c_notes)));
            let load = noted.or(load);
            let raw_name = uncell(get(c_ex));
            if raw_name.is_empty() {
                return Err(LogbookError::Invalid(format!(
                    "{}: Exercise Name is empty",
                    where_(line)
                )));
            }
            let (name, side) = split_side(raw_name);
            let id = match catalog
                .iter()
                .chain(new_ex.iter())
                .find(|e| e.name.eq_ignore_ascii_case(name) || e.id == name)
            {
                Some(e) => e.id.clone(),
                None => {
                    let id = slug(name);
                    if !catalog.iter().chain(new_ex.iter()).any(|e| e.id == id) {
                        new_ex.push(ExerciseInfo {
                            id: id.clone(),
                            name: name.to_string(),
                            counted_from: String::new(),
                            rep_min: 8,
                            rep_max: 12,
                            load_step: Some(Load {
                                value: if unit == LoadUnit::Lb { 5.0 } else { 2.5 },
                                unit,
                                label: None,
                            }),
                            builtin: false,
                        });
                    }
                    id
                }
            };
            let date_text = get(c_date);
            let civil = if hevy {
                from_hevy_time(date_text)
            } else {
                Some(date_text.to_string())
            };
            let start = civil
                .as_deref()
                .and_then(|d| time::parse_user(d, "12:00:00"))
                .ok_or_else(|| {
                    LogbookError::Invalid(format!(
                        "{}: date '{date_text}' not understood: write a real day as {}",
                        where_(line),
                        if hevy {
                            "Hevy does, e.g. '15 Jan 2026, 18:30'"
                        } else {
                            "YYYY-MM-DD or 'YYYY-MM-DD HH:MM'"
                        }
                    ))
                })?;
            let end = if hevy {
                c_end
                    .map(get)
                    .and_then(from_hevy_time)
                    .and_then(|d| time::parse_user(&d, "12:00:00"))
                    .map(|s| s.at)
            } else {
                c_duration
                    .map(get)
                    .and_then(parse_duration)
                    .map(|s| time::plus_seconds(start.at, s))
            };
            rows.push(ManualSet {
                exercise: id,
                side,
                load,
                reps,
                rir: c_rpe.map(get).and_then(rir_from_rpe),
                tempo,
                variation: String::new(),
                notes,
                performed_at: Some(start.stored()),
                import_key: Some(format!(
                    "{}|{date_text}|{raw_name}|{}",
                    app.id(),
                    get(c_order)
                )),
                duration_s,
                workout: Some(Workout { start, end }),
                ..ManualSet::default()
            });
        }
        Ok(StrongFile {
            path: path.to_path_buf(),
            rows,
            new_exercises: new_ex,
            skipped,
            known: HashSet::new(),
        })
    }

    /// Saves what [`Logbook::read_history`] read, in one transaction.
    pub fn save_strong(&mut self, file: StrongFile) -> Result<ImportSummary> {
        let StrongFile {
            path,
            rows,
            new_exercises: new_ex,
            skipped,
            known,
        } = file;
        let mut summary = ImportSummary {
            skipped,
            ..ImportSummary::default()
        };
        let tx = self.write_tx()?;
        for e in &new_ex {
            // Another process may have added it since the file was read.
            tx.execute(
                "INSERT OR IGNORE INTO exercises (id, name, rep_min, rep_max, load_step, load_step_unit) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                rusqlite::params![e.id, e.name, e.rep_min, e.rep_max, e.load_step.as_ref().map(|l| l.value), e.load_step.as_ref().map(|l| l.unit.id())],
            )?;
            summary.new_exercises.push(e.id.clone());
        }
        for (i, m) in rows.iter().enumerate() {
            if m.import_key.as_ref().is_some_and(|k| known.contains(k)) {
                summary.already_there += 1;
                continue;
            }
            match insert_manual(&tx, m) {
                Ok(Some(_)) => {
                    summary.added += 1;
                    if m.duration_s.is_some() && m.reps == 0 {
                        summary.timed += 1;
                    }
                }
                Ok(None) => summary.already_there += 1,
                Err(LogbookError::Invalid(msg)) => {
                    return Err(LogbookError::Invalid(format!(
                        "{} (row {}): {msg}",
                        path.display(),
                        i + 2
                    )))
                }
                Err(e) => return Err(e),
            }
        }
        tx.commit()?;
        Ok(summary)
    }
}

fn write_strong(rows: &[Row], out: &mut dyn Write) -> Result<()> {
    let mut w = csv::WriterBuilder::new().delimiter(b';').from_writer(out);
    w.write_record([
        "Date",
        "Workout Name",
        "Exercise Name",
        "Set Order",
        "Weight",
        "Weight Unit",
        "Reps",
        "RPE",
        "Distance",
        "Distance Unit",
        "Seconds",
        "Notes",
        "Workout Notes",
        "Workout Duration",
    ])
    .map_err(csv_io)?;
    for r in rows {
        let e = &r.entry;
        let (weight, unit) = match &e.load {
            Some(l) if matches!(l.unit, LoadUnit::Kg | LoadUnit::AnkleKg) => {
                (number(l.value), "kg")
            }
            Some(l) if l.unit == LoadUnit::Lb => (number(l.value), "lbs"),
            _ => (String::new(), ""),
        };
        w.write_record([
            time::local_text(&r.start.stored()),
            "medius".into(),
            cell(&r.title),
            r.order.to_string(),
            weight,
            unit.into(),
            e.reps.to_string(),
            rpe(e),
            String::new(),
            String::new(),
            e.duration_s.map(number).unwrap_or_default(),
            cell(&notes(e, &[LoadUnit::Kg, LoadUnit::Lb])),
            String::new(),
            duration_text(r.end.as_second() - r.start.at.as_second()),
        ])
        .map_err(csv_io)?;
    }
    w.flush()?;
    Ok(())
}

fn write_hevy(rows: &[Row], out: &mut dyn Write) -> Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "title",
        "start_time",
        "end_time",
        "description",
        "exercise_title",
        "superset_id",
        "exercise_notes",
        "set_index",
        "set_type",
        "weight_kg",
        "reps",
        "distance_km",
        "duration_seconds",
        "rpe",
    ])
    .map_err(csv_io)?;
    for r in rows {
        let e = &r.entry;
        let kg = match &e.load {
            Some(l) if matches!(l.unit, LoadUnit::Kg | LoadUnit::AnkleKg) => number(l.value),
            Some(l) if l.unit == LoadUnit::Lb => {
                number((l.value * 0.453_592_37 * 100.0).round() / 100.0)
            }
            _ => String::new(),
        };
        w.write_record([
            "medius".to_string(),
            hevy_time(&time::local_text(&r.start.stored())),
            hevy_time(&time::local_text(&time::stored(r.end))),
            String::new(),
            cell(&r.title),
            String::new(),
            cell(&notes(e, &[LoadUnit::Kg])),
            (r.order - 1).to_string(),
            "normal".into(),
            kg,
            e.reps.to_string(),
            String::new(),
            e.duration_s.map(number).unwrap_or_default(),
            rpe(e),
        ])
        .map_err(csv_io)?;
    }
    w.flush()?;
    Ok(())
}

/// A history file read and checked, not yet saved.
#[derive(Debug, Clone)]
pub struct StrongFile {
    path: std::path::PathBuf,
    rows: Vec<ManualSet>,
    new_exercises: Vec<ExerciseInfo>,
    skipped: u32,
    /// Keys of the rows the logbook's own export writes: already there.
    known: HashSet<String>,
}

/// The heaviest weight a Strong row may carry (as [`Load::parse`] allows).
const MAX_WEIGHT: f64 = 10_000.0;

/// The largest Strong export `import-log` reads (years of training are a
/// few MiB): `/dev/zero` or a wrong file is refused, not read into memory
/// until it runs out.
pub const MAX_STRONG_BYTES: u64 = 64 << 20;

/// Reads a whole file of at most `max` bytes.
fn read_capped(path: &Path, max: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let unreadable = |e: std::io::Error| LogbookError::Invalid(format!("{}: {e}", path.display()));
    let f = std::fs::File::open(path).map_err(unreadable)?;
    let mut bytes = Vec::new();
    f.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > max {
        return Err(LogbookError::Invalid(format!(
            "{}: larger than {} MiB; not a Strong export (is it the right file?)",
            path.display(),
            max >> 20
        )));
    }
    Ok(bytes)
}

/// The line (from 1) of a CSV field's opening quote that never closes.
/// A quote opens a field only at its start; inside, `""` is a quote.
fn unclosed_quote(bytes: &[u8], delimiter: u8) -> Option<u64> {
    let mut line = 1u64;
    let mut opened = None;
    let mut at_field_start = true;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if opened.is_some() {
            if b == b'"' {
                if bytes.get(i + 1) == Some(&b'"') {
                    i += 1;
                } else {
                    opened = None;
                    at_field_start = false;
                }
            }
        } else if b == b'"' && at_field_start {
            opened = Some(line);
        } else {
            at_field_start = b == delimiter || b == b'\n' || b == b'\r';
        }
        if b == b'\n' {
            line += 1;
        }
        i += 1;
    }
    opened
}

fn csv_io(e: csv::Error) -> LogbookError {
    LogbookError::Io(std::io::Error::other(e.to_string()))
}

fn split_side(name: &str) -> (&str, Option<Side>) {
    for (suffix, side) in [(" (left)", Side::Left), (" (right)", Side::Right)] {
        if let Some(base) = name.strip_suffix(suffix) {
            return (base, Some(side));
        }
    }
    (name, None)
}

fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "exercise".into()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_defused() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("-1+1"), "'-1+1");
        assert_eq!(cell("@SUM"), "'@SUM");
        assert_eq!(cell("hip hike"), "hip hike");
        // Issue 16, item 10: what slipped through.
        assert_eq!(cell(" =1+1"), "' =1+1");
        assert_eq!(cell("\n=1+1"), "'\n=1+1");
        assert_eq!(cell("\u{3000}=1+1"), "'\u{3000}=1+1");
        assert_eq!(cell("＝1+1"), "'＝1+1");
        assert_eq!(cell("＋1"), "'＋1");
        assert_eq!(cell("＠SUM(A1)"), "'＠SUM(A1)");
        assert_eq!(cell("\tx"), "'\tx");
        assert_eq!(cell("\rx"), "'\rx");
        assert_eq!(cell("band red; tempo 2-1-3"), "band red; tempo 2-1-3");
        assert_eq!(cell(""), "");
        assert_eq!(hevy_time("2026-11-03 18:30:00"), "03 Nov 2026, 18:30");
        assert_eq!(
            slug("Bulgarian Split Squat (DB)"),
            "bulgarian-split-squat-db"
        );
    }

    #[test]
    fn an_unclosed_quote_is_found_where_it_opens() {
        assert_eq!(unclosed_quote(b"a,b\n1,\"x\"\"y\"\n", b','), None);
        assert_eq!(unclosed_quote(b"a,b\n1,\"two\nlines\"\n2,3\n", b','), None);
        assert_eq!(
            unclosed_quote(b"a,b\n1,2\n3,\"open\n4,5\n6,7\n", b','),
            Some(3)
        );
        assert_eq!(unclosed_quote(b"a,b\n1,in\"side\n", b','), None);
        assert_eq!(unclosed_quote(b"a;b\n1;\"two\nlines\"\n", b';'), None);
        assert_eq!(unclosed_quote(b"a;b\n1;2\n3;\"open\n", b';'), Some(3));
    }

    #[test]
    fn notes_carry_the_load_and_the_tempo_back() {
        let (l, n, t) = split_notes("pin 7; slow; tempo 2-1-3");
        assert_eq!(l.map(|l| l.to_string()).as_deref(), Some("pin 7"));
        assert_eq!((n.as_str(), t.as_deref()), ("slow", Some("2-1-3")));
        let (l, n, t) = split_notes("bodyweight");
        assert_eq!(l.map(|l| l.to_string()).as_deref(), Some("bodyweight"));
        assert_eq!((n.as_str(), t), ("", None));
        let (l, n, t) = split_notes("felt heavy; tempo 3-0-3");
        assert!(l.is_none());
        assert_eq!((n.as_str(), t.as_deref()), ("felt heavy", Some("3-0-3")));
        assert_eq!(split_notes("12kg felt heavy").1, "12kg felt heavy");
        assert_eq!(parse_duration("1h 5m"), Some(3900));
        assert_eq!(parse_duration("45m"), Some(2700));
        assert_eq!(parse_duration("90"), Some(90));
        assert_eq!(duration_text(3900), "1h 5m");
        assert_eq!(
            from_hevy_time("03 Nov 2026, 18:30").as_deref(),
            Some("2026-11-03 18:30")
        );
        assert_eq!(uncell("'=1+1"), "=1+1");
        assert_eq!(uncell("'quoted"), "'quoted");
    }
}
