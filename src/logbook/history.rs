//! History and trends: verified and hand-entered sets only (pending sets are
//! not the log yet), unless asked.

use super::review::load_from;
use super::{Load, Logbook, LogbookError, Result};
use serde::Serialize;

/// Which sets `log` lists.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    /// Only this exercise.
    pub exercise: Option<String>,
    /// Only sets on or after this instant (stored form, from [`parse_since`]).
    pub since: Option<String>,
    /// Pending sets instead of the log.
    pub pending: bool,
    /// Simulated and replayed sets too.
    pub include_sim: bool,
}

/// One line of the log.
#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    /// Set id.
    pub id: i64,
    /// Session id.
    pub session: i64,
    /// When, local time ('YYYY-MM-DD HH:MM:SS').
    pub performed_at: String,
    /// When, as the clock read where it was done, with its offset from UTC
    /// ('2026-11-20T18:00:00+01:00').
    pub at: String,
    /// Exercise id.
    pub exercise: String,
    /// Side.
    pub side: Option<String>,
    /// Load.
    pub load: Option<Load>,
    /// Reps.
    pub reps: u32,
    /// A timed set (plank): seconds held.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
    /// How long a sensor set lasted, s.
    #[serde(skip)]
    pub span_s: Option<f64>,
    /// Reps in reserve.
    pub rir: Option<u32>,
    /// Tempo.
    pub tempo: Option<String>,
    /// Median peak, degrees (sensor sets).
    pub median_peak_deg: Option<f64>,
    /// Reps with a confirmed flag.
    pub flagged_reps: u32,
    /// Technique notes.
    pub technique_notes: String,
    /// Side-to-side notes.
    pub side_notes: String,
    /// sensor, sim, replay or manual.
    pub source: String,
    /// pending, verified.
    pub state: String,
    /// Variation.
    pub variation: String,
}

/// One week of one side in a trend.
#[derive(Debug, Clone, Serialize)]
pub struct TrendWeek {
    /// Monday of the week.
    pub week: String,
    /// Side.
    pub side: Option<String>,
    /// Verified sets.
    pub sets: u32,
    /// Heaviest load (kg when it has a mass, else the unit's number).
    pub top_load: Option<Load>,
    /// Most reps in one set at the reference load (the load used most over the window).
    pub reps_at_ref_load: Option<u32>,
    /// Reps with a confirmed flag / reps, 0..1.
    pub compensation_rate: f64,
    /// Best set's reps minus the other side's, this week.
    pub side_difference: Option<i64>,
}

/// How far back `--since` may reach, in days (100 years).
pub const MAX_SINCE_DAYS: u32 = 36_500;

/// Parses `6w`, `10d`, `3m` or a (local) date into the instant it means,
/// in the form the logbook stores.
pub fn parse_since(_lb: &Logbook, text: &str) -> Result<String> {
    let t = text.trim();
    let bad = || {
        LogbookError::Invalid(format!(
            "--since '{text}' not understood: write e.g. 6w, 10d, 3m or 2026-10-01"
        ))
    };
    // The last character, whatever its width: `é` is two bytes, and
    // splitting inside it panicked.
    let (num, unit) = match t.char_indices().last() {
        Some((i, _)) => t.split_at(i),
        None => return Err(bad()),
    };
    let per_unit = match unit {
        "d" => 1,
        "w" => 7,
        "m" => 30,
        _ => 0,
    };
    let days = match num.parse::<u32>() {
        Ok(n) if per_unit > 0 => {
            // Checked, not wrapped: 613566757w used to come out as 3 days.
            let days = n.checked_mul(per_unit).filter(|d| *d <= MAX_SINCE_DAYS);
            Some(days.ok_or_else(|| {
                LogbookError::Invalid(format!(
                    "--since '{text}' is further back than medius looks (at most {} years)",
                    MAX_SINCE_DAYS / 365
                ))
            })?)
        }
        _ => None,
    };
    let sql: Option<String> = match days {
        Some(d) => Some(super::time::days_ago(d)),
        None => super::time::parse_user(t, "00:00:00").map(|s| s.stored()),
    };
    sql.ok_or_else(bad)
}

impl Logbook {
    /// The log (or the pending sets), newest first.
    pub fn log(&self, f: &LogFilter) -> Result<Vec<LogEntry>> {
        if let Some(e) = &f.exercise {
            self.exercise(e)?;
        }
        let mut st = self.conn().prepare(
            "SELECT s.id, s.session_id, s.performed_at, s.exercise_id, s.side, s.load_value, s.load_unit,
                    s.load_label, s.reps, s.rir, s.tempo,
                    (SELECT count(DISTINCT r.id) FROM flags fl JOIN reps r ON r.id = fl.rep_id
                      WHERE r.set_id = s.id AND fl.review = 'confirmed'),
                    s.technique_notes, s.side_notes, s.source, s.state, s.variation,
                    (SELECT r2.peak_deg FROM reps r2 WHERE r2.set_id = s.id
                        AND (SELECT count(*) FROM reps r3 WHERE r3.set_id = s.id AND r3.peak_deg < r2.peak_deg)
                            >= (SELECT count(*) FROM reps r4 WHERE r4.set_id = s.id) / 2
                      ORDER BY r2.peak_deg LIMIT 1),
                    s.utc_offset_s, s.duration_s, s.end_s - s.start_s
               FROM sets s
              WHERE s.state = ?1 AND (?2 IS NULL OR s.exercise_id = ?2) AND (?3 IS NULL OR s.performed_at >= ?3)
                AND (?4 OR s.source NOT IN ('sim', 'replay'))
              ORDER BY s.performed_at DESC, s.id DESC",
        )?;
        let state = if f.pending { "pending" } else { "verified" };
        let rows = st.query_map(
            rusqlite::params![state, f.exercise, f.since, f.include_sim],
            |r| {
                let stored: String = r.get(2)?;
                let offset_s: i32 = r.get(18)?;
                Ok(LogEntry {
                    id: r.get(0)?,
                    session: r.get(1)?,
                    performed_at: super::time::local_text(&stored),
                    at: super::time::from_stored(&stored)
                        .map(|at| super::time::Stamp { at, offset_s }.rfc3339())
                        .unwrap_or(stored),
                    duration_s: r.get(19)?,
                    span_s: r.get(20)?,
                    exercise: r.get(3)?,
                    side: r.get(4)?,
                    load: load_from(r.get(5)?, r.get(6)?, r.get(7)?),
                    reps: r.get(8)?,
                    rir: r.get(9)?,
                    tempo: r.get(10)?,
                    flagged_reps: r.get(11)?,
                    technique_notes: r.get(12)?,
                    side_notes: r.get(13)?,
                    source: r.get(14)?,
                    state: r.get(15)?,
                    variation: r.get(16)?,
                    median_peak_deg: r.get(17)?,
                })
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Weekly trend of one exercise over the last `weeks` weeks.
    pub fn trend(&self, exercise: &str, weeks: u32, include_sim: bool) -> Result<Vec<TrendWeek>> {
        self.exercise(exercise)?;
        let since = parse_since(self, &format!("{}d", weeks * 7))?;
        let sets = self.log(&LogFilter {
            exercise: Some(exercise.into()),
            since: Some(since),
            pending: false,
            include_sim,
        })?;
        // Reference load: the one used in most sets over the window.
        let mut counts: Vec<(String, u32)> = Vec::new();
        for s in &sets {
            let key = s.load.as_ref().map(|l| l.to_string()).unwrap_or_default();
            match counts.iter_mut().find(|(k, _)| *k == key) {
                Some((_, n)) => *n += 1,
                None => counts.push((key, 1)),
            }
        }
        let ref_load = counts
            .iter()
            .max_by_key(|(_, n)| *n)
            .map(|(k, _)| k.clone());
        let mut out: Vec<TrendWeek> = Vec::new();
        // Per week: (flagged reps, reps) and each side's best set.
        let mut tallies: Vec<(u32, u32, u32)> = Vec::new();
        for s in sets.iter().rev() {
            // The local week of when it was done (the log is oldest last).
            let week = super::time::week_of(&s.at);
            let idx = match out.iter().position(|w| w.week == week && w.side == s.side) {
                Some(i) => i,
                None => {
                    out.push(TrendWeek {
                        week,
                        side: s.side.clone(),
                        sets: 0,
                        top_load: None,
                        reps_at_ref_load: None,
                        compensation_rate: 0.0,
                        side_difference: None,
                    });
                    tallies.push((0, 0, 0));
                    out.len() - 1
                }
            };
            let w = &mut out[idx];
            w.sets += 1;
            tallies[idx].0 += s.flagged_reps;
            tallies[idx].1 += s.reps;
            tallies[idx].2 = tallies[idx].2.max(s.reps);
            let heavier = match (&w.top_load, &s.load) {
                (None, Some(_)) => true,
                (Some(a), Some(b)) => b.kg().unwrap_or(b.value) > a.kg().unwrap_or(a.value),
                _ => false,
            };
            if heavier {
                w.top_load = s.load.clone();
            }
            let key = s.load.as_ref().map(|l| l.to_string()).unwrap_or_default();
            if Some(&key) == ref_load.as_ref() {
                w.reps_at_ref_load = Some(w.reps_at_ref_load.unwrap_or(0).max(s.reps));
            }
        }
        for i in 0..out.len() {
            let (flagged, reps, best) = tallies[i];
            out[i].compensation_rate = if reps > 0 {
                (flagged as f64 / reps as f64 * 100.0).round() / 100.0
            } else {
                0.0
            };
            let other = match out[i].side.as_deref() {
                Some("left") => "right",
                Some("right") => "left",
                _ => continue,
            };
            let partner = (0..out.len())
                .find(|&j| out[j].week == out[i].week && out[j].side.as_deref() == Some(other));
            if let Some(j) = partner {
                out[i].side_difference = Some(best as i64 - tallies[j].2 as i64);
            }
        }
        // By week, then side: two sets done at the same moment come out
        // the same whatever order they were logged in.
        out.sort_by(|a, b| (&a.week, &a.side).cmp(&(&b.week, &b.side)));
        Ok(out)
    }
}
