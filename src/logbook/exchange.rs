//! Exchange with the apps lifters already use: Strong and Hevy CSV, JSON,
//! and bringing a Strong history in.

use super::history::LogEntry;
use super::write::{insert_manual, ManualSet};
use super::{ExerciseInfo, Load, LoadUnit, LogFilter, Logbook, LogbookError, Result};
use crate::Side;
use std::io::Write;
use std::path::Path;

/// Export layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// Strong's CSV.
    Strong,
    /// Hevy's CSV.
    Hevy,
    /// medius JSON (every field).
    Json,
}

/// What an import did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ImportSummary {
    /// Sets added.
    pub added: u32,
    /// Rows already in the logbook (same date, exercise and set order).
    pub already_there: u32,
    /// Rows without reps (rest timers, cardio) skipped.
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

fn notes(e: &LogEntry) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(l) = &e.load {
        if matches!(l.unit, LoadUnit::Pin | LoadUnit::Band | LoadUnit::AnkleKg) {
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

/// RPE as the apps log it, from reps in reserve (RPE = 10 − RIR).
fn rpe(e: &LogEntry) -> String {
    e.rir
        .map(|r| 10u32.saturating_sub(r).to_string())
        .unwrap_or_default()
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

impl Logbook {
    /// Writes the log (verified sets, oldest first) in a format.
    pub fn export(&self, format: ExportFormat, out: &mut dyn Write) -> Result<usize> {
        let mut sets = self.log(&LogFilter::default())?;
        sets.reverse();
        let names = self.exercises()?;
        match format {
            ExportFormat::Json => {
                serde_json::to_writer_pretty(&mut *out, &sets)
                    .map_err(|e| LogbookError::Io(e.into()))?;
                writeln!(out)?;
            }
            ExportFormat::Strong => {
                let mut w = csv::Writer::from_writer(out);
                w.write_record([
                    "Date",
                    "Workout Name",
                    "Duration",
                    "Exercise Name",
                    "Set Order",
                    "Weight",
                    "Reps",
                    "Distance",
                    "Seconds",
                    "Notes",
                    "Workout Notes",
                    "RPE",
                ])
                .map_err(csv_io)?;
                let mut order = SetOrder::default();
                for e in &sets {
                    let title = exercise_title(&names, e);
                    let n = order.next(e.session, &title, 1);
                    let weight = match &e.load {
                        Some(l)
                            if matches!(
                                l.unit,
                                LoadUnit::Kg | LoadUnit::Lb | LoadUnit::AnkleKg
                            ) =>
                        {
                            format!("{}", l.value)
                        }
                        Some(l) if l.unit == LoadUnit::Bodyweight => "0".into(),
                        _ => String::new(),
                    };
                    w.write_record([
                        e.performed_at.clone(),
                        "medius".into(),
                        String::new(),
                        cell(&title),
                        n.to_string(),
                        weight,
                        e.reps.to_string(),
                        String::new(),
                        String::new(),
                        cell(&notes(e)),
                        String::new(),
                        rpe(e),
                    ])
                    .map_err(csv_io)?;
                }
                w.flush()?;
            }
            ExportFormat::Hevy => {
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
                let mut order = SetOrder::default();
                for e in &sets {
                    let title = exercise_title(&names, e);
                    let n = order.next(e.session, &title, 0);
                    let kg = e
                        .load
                        .as_ref()
                        .and_then(Load::kg)
                        .map(|k| format!("{}", (k * 100.0).round() / 100.0))
                        .unwrap_or_default();
                    let t = hevy_time(&e.performed_at);
                    w.write_record([
                        "medius".to_string(),
                        t.clone(),
                        t,
                        String::new(),
                        cell(&title),
                        String::new(),
                        cell(&notes(e)),
                        n.to_string(),
                        "normal".into(),
                        kg,
                        e.reps.to_string(),
                        String::new(),
                        String::new(),
                        rpe(e),
                    ])
                    .map_err(csv_io)?;
                }
                w.flush()?;
            }
        }
        Ok(sets.len())
    }

    /// Brings a Strong CSV export in: every row becomes a verified hand set;
    /// unknown exercises join the catalog. All or nothing: a bad row aborts
    /// the import with its line number and changes nothing. Importing the
    /// same file twice adds nothing the second time.
    pub fn import_strong(&mut self, path: &Path, unit: LoadUnit) -> Result<ImportSummary> {
        let file = self.read_strong(path, unit)?;
        self.save_strong(file)
    }

    /// Reads and checks a Strong CSV export without writing anything: a
    /// logbook opened read-only will do, so a bad file is refused before
    /// the logbook is created or opened for writing.
    pub fn read_strong(&self, path: &Path, unit: LoadUnit) -> Result<StrongFile> {
        let where_ = |line: u64| format!("{}:{line}", path.display());
        // A quote that never closes would swallow every row after it into
        // one field: refuse the file, naming the line where it opened.
        let bytes = read_capped(path, MAX_STRONG_BYTES)?;
        if let Some(line) = unclosed_quote(&bytes) {
            return Err(LogbookError::Invalid(format!(
                "{}: a quote opens here and never closes; fix that row (or export again: the file may be cut short)",
                where_(line)
            )));
        }
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(true)
            .from_path(path)
            .map_err(|e| LogbookError::Invalid(format!("{}: {e}", path.display())))?;
        let headers = rdr
            .headers()
            .map_err(|e| LogbookError::Invalid(format!("{}: {e}", where_(1))))?
            .clone();
        let col = |name: &str| headers.iter().position(|h| h.trim() == name);
        let (Some(c_date), Some(c_ex), Some(c_order), Some(c_weight), Some(c_reps)) = (
            col("Date"),
            col("Exercise Name"),
            col("Set Order"),
            col("Weight"),
            col("Reps"),
        ) else {
            return Err(LogbookError::Invalid(format!(
                "{}: not a Strong export (needs the columns Date, Exercise Name, Set Order, Weight, Reps)",
                where_(1)
            )));
        };
        let c_notes = col("Notes");
        let c_rpe = col("RPE");
        let catalog = self.exercises()?;
        let mut summary = ImportSummary::default();
        let mut rows: Vec<ManualSet> = Vec::new();
        let mut new_ex: Vec<ExerciseInfo> = Vec::new();
        for (i, rec) in rdr.records().enumerate() {
            let line = i as u64 + 2;
            let rec = rec.map_err(|e| LogbookError::Invalid(format!("{}: {e}", where_(line))))?;
            let get = |c: usize| rec.get(c).unwrap_or("").trim();
            if get(c_reps).is_empty() {
                summary.skipped += 1;
                continue;
            }
            let reps: u32 = get(c_reps).parse().map_err(|_| {
                LogbookError::Invalid(format!(
                    "{}: Reps '{}' is not a whole number",
                    where_(line),
                    get(c_reps)
                ))
            })?;
            let weight = get(c_weight);
            let load = if weight.is_empty() || weight == "0" {
                None
            } else {
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
                Some(Load {
                    value: v,
                    unit,
                    label: None,
                })
            };
            let raw_name = get(c_ex);
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
            let rir = c_rpe
                .map(get)
                .filter(|s| !s.is_empty())
                .and_then(|s| s.parse::<f64>().ok())
                .map(|rpe| (10.0 - rpe).clamp(0.0, 10.0).round() as u32);
            rows.push(ManualSet {
                exercise: id,
                side,
                load,
                reps,
                rir,
                tempo: None,
                variation: String::new(),
                notes: c_notes.map(get).unwrap_or("").to_string(),
                performed_at: Some(
                    super::write::civil_time(get(c_date), "12:00:00").ok_or_else(|| {
                        LogbookError::Invalid(format!(
                            "{}: date '{}' not understood: write a real day as YYYY-MM-DD or 'YYYY-MM-DD HH:MM'",
                            where_(line),
                            get(c_date)
                        ))
                    })?,
                ),
                import_key: Some(format!(
                    "strong|{}|{}|{}",
                    get(c_date),
                    raw_name,
                    get(c_order)
                )),
            });
        }
        Ok(StrongFile {
            path: path.to_path_buf(),
            rows,
            new_exercises: new_ex,
            skipped: summary.skipped,
        })
    }

    /// Saves what [`Logbook::read_strong`] read, in one transaction.
    pub fn save_strong(&mut self, file: StrongFile) -> Result<ImportSummary> {
        let StrongFile {
            path,
            rows,
            new_exercises: new_ex,
            skipped,
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
            match insert_manual(&tx, m) {
                Ok(Some(_)) => summary.added += 1,
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

/// A Strong export read and checked, not yet saved.
#[derive(Debug, Clone)]
pub struct StrongFile {
    path: std::path::PathBuf,
    rows: Vec<ManualSet>,
    new_exercises: Vec<ExerciseInfo>,
    skipped: u32,
}

/// Numbers the sets of each exercise within a session, as the apps do.
#[derive(Default)]
struct SetOrder(Vec<(i64, String, u32)>);

impl SetOrder {
    /// The number of this set: `first` for the first of its exercise in the session.
    fn next(&mut self, session: i64, title: &str, first: u32) -> u32 {
        match self
            .0
            .iter_mut()
            .find(|(s, t, _)| *s == session && t == title)
        {
            Some((_, _, n)) => {
                *n += 1;
                *n
            }
            None => {
                self.0.push((session, title.to_string(), first));
                first
            }
        }
    }
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
fn unclosed_quote(bytes: &[u8]) -> Option<u64> {
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
            at_field_start = b == b',' || b == b'\n' || b == b'\r';
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
        assert_eq!(unclosed_quote(b"a,b\n1,\"x\"\"y\"\n"), None);
        assert_eq!(unclosed_quote(b"a,b\n1,\"two\nlines\"\n2,3\n"), None);
        assert_eq!(unclosed_quote(b"a,b\n1,2\n3,\"open\n4,5\n6,7\n"), Some(3));
        assert_eq!(unclosed_quote(b"a,b\n1,in\"side\n"), None);
    }
}
