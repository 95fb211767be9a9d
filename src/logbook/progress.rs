//! Progression: the next-session target per exercise and side from the last
//! verified sets (DOMAIN.md's rules).

use super::review::load_from;
use super::{Load, LoadUnit, Logbook, Result};
use serde::Serialize;

/// What to do next session for one exercise and side.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// Exercise id.
    pub exercise: String,
    /// Side, if unilateral.
    pub side: Option<String>,
    /// When the last verified set was done (local time).
    pub last_date: String,
    /// Its load.
    pub last_load: Option<Load>,
    /// Its reps.
    pub last_reps: u32,
    /// Load to use next.
    pub load: Option<Load>,
    /// Reps to aim for (low, high).
    pub reps: (u32, u32),
    /// The target in words.
    pub target: String,
    /// Why (which rule).
    pub why: String,
}

/// A step is "too large" when it adds more than this fraction of the load.
const STEP_TOO_LARGE: f64 = 0.15;

struct LastSet {
    date: String,
    session: i64,
    load: Option<Load>,
    reps: u32,
    confirmed: u32,
    kinds: Vec<String>,
}

impl Logbook {
    /// Targets for every exercise × side trained in the last 6 weeks
    /// (simulated and replayed sets only with `include_sim`).
    pub fn targets(&self, include_sim: bool) -> Result<Vec<Target>> {
        let pairs: Vec<(String, Option<String>)> = self
            .conn()
            .prepare(
                "SELECT DISTINCT exercise_id, side FROM sets
                  WHERE state = 'verified' AND performed_at >= ?1
                    AND (?2 OR source NOT IN ('sim', 'replay'))
                  ORDER BY exercise_id, side",
            )?
            .query_map(
                rusqlite::params![super::time::days_ago(42), include_sim],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?
            .collect::<Result<_, _>>()?;
        let mut out = Vec::new();
        for (ex, side) in pairs {
            out.push(self.target_for(&ex, side.as_deref(), include_sim)?);
        }
        Ok(out)
    }

    fn last_sets(
        &self,
        exercise: &str,
        side: Option<&str>,
        include_sim: bool,
    ) -> Result<Vec<LastSet>> {
        // The best (most reps) verified set of each of the last two sessions,
        // last by when they were done: a set entered later for an older day
        // (`log add --date`, an imported history) is not the last session.
        // A session is one however long it ran (past midnight, over a DST
        // change), so sessions are told apart by id, not by calendar day.
        let mut st = self.conn().prepare(
            "SELECT s.session_id, s.performed_at, s.load_value, s.load_unit, s.load_label, s.reps,
                    (SELECT count(DISTINCT r.id) FROM flags f JOIN reps r ON r.id = f.rep_id
                      WHERE r.set_id = s.id AND f.review = 'confirmed'),
                    (SELECT group_concat(DISTINCT f.kind) FROM flags f JOIN reps r ON r.id = f.rep_id
                      WHERE r.set_id = s.id AND f.review = 'confirmed')
               FROM sets s
              WHERE s.state = 'verified' AND s.exercise_id = ?1 AND s.side IS ?2
                AND (?3 OR s.source NOT IN ('sim', 'replay'))
              ORDER BY (SELECT started_at FROM sessions WHERE id = s.session_id) DESC,
                       s.session_id DESC, s.reps DESC, s.id DESC",
        )?;
        let rows = st.query_map(rusqlite::params![exercise, side, include_sim], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                LastSet {
                    date: super::time::local_text(&r.get::<_, String>(1)?),
                    session: r.get(0)?,
                    load: load_from(r.get(2)?, r.get(3)?, r.get(4)?),
                    reps: r.get(5)?,
                    confirmed: r.get(6)?,
                    kinds: r
                        .get::<_, Option<String>>(7)?
                        .map(|s| s.split(',').map(str::to_string).collect())
                        .unwrap_or_default(),
                },
            ))
        })?;
        let mut out: Vec<LastSet> = Vec::new();
        for r in rows {
            let (_, s) = r?;
            if out.iter().any(|o| o.session == s.session) {
                continue;
            }
            out.push(s);
            if out.len() == 2 {
                break;
            }
        }
        Ok(out)
    }

    /// The target for one exercise and side.
    pub fn target_for(
        &self,
        exercise: &str,
        side: Option<&str>,
        include_sim: bool,
    ) -> Result<Target> {
        let info = self.exercise(exercise)?;
        let sets = self.last_sets(exercise, side, include_sim)?;
        let Some(last) = sets.first() else {
            return Ok(Target {
                exercise: exercise.into(),
                side: side.map(str::to_string),
                last_date: String::new(),
                last_load: None,
                last_reps: 0,
                load: None,
                reps: (info.rep_min, info.rep_max),
                target: format!(
                    "{}–{} reps at a load you can do cleanly",
                    info.rep_min, info.rep_max
                ),
                why: "no verified set yet".into(),
            });
        };
        let (lo, hi) = (info.rep_min, info.rep_max);
        let load_text = |l: &Option<Load>| {
            l.as_ref()
                .map(|l| l.to_string())
                .unwrap_or("the same load".into())
        };
        let mut t = Target {
            exercise: exercise.into(),
            side: side.map(str::to_string),
            last_date: last.date.clone(),
            last_load: last.load.clone(),
            last_reps: last.reps,
            load: last.load.clone(),
            reps: (lo, hi),
            target: String::new(),
            why: String::new(),
        };
        if last.confirmed > 0 {
            let kinds = last.kinds.join(", ").replace('_', " ");
            let before = sets.get(1);
            let persists = before.is_some_and(|b| b.confirmed > 0 && b.load == last.load);
            if persists {
                if let (Some(l), Some(step)) = (&last.load, &info.load_step) {
                    if let Some(lower) = minus(l, step) {
                        t.target = format!(
                            "{} for {}–{} clean reps",
                            lower,
                            last.reps.min(hi).max(lo),
                            hi
                        );
                        t.load = Some(lower);
                        t.why = format!(
                            "compensation ({kinds}) in two sessions at {l}: reduce the load"
                        );
                        return Ok(t);
                    }
                }
            }
            t.reps = (
                last.reps.saturating_sub(last.confirmed).max(lo),
                last.reps.max(lo),
            );
            t.target = format!(
                "{} for {}–{} clean reps",
                load_text(&last.load),
                t.reps.0,
                t.reps.1
            );
            t.why = format!(
                "{} rep{} with confirmed {kinds}: hold the load and clean up",
                last.confirmed,
                if last.confirmed == 1 { "" } else { "s" }
            );
            return Ok(t);
        }
        if last.reps >= hi {
            match (&last.load, &info.load_step) {
                (Some(l), Some(step)) => {
                    let too_large = l
                        .kg()
                        .zip(step.kg())
                        .is_some_and(|(lk, sk)| lk > 0.0 && sk / lk > STEP_TOO_LARGE);
                    // Second session in a row at the top with the same load
                    // (the harder reps are done): take the step anyway.
                    let again = sets
                        .get(1)
                        .is_some_and(|b| b.reps >= hi && b.confirmed == 0 && b.load == last.load);
                    match l.plus(step) {
                        Some(next) if !too_large || again => {
                            t.target = format!("{next} for {lo}+ reps");
                            t.reps = (lo, hi);
                            t.load = Some(next);
                            t.why = format!(
                                "top of the range ({hi}) with clean form: add the smallest step"
                            );
                        }
                        _ => {
                            t.target = format!(
                                "{l} for {hi} reps with a 2 s pause at the top (or a 3 s lowering)"
                            );
                            t.reps = (hi, hi);
                            t.why = format!(
                                "top of the range, but the next step ({step}) is too large a jump from {l}: make the reps harder first"
                            );
                        }
                    }
                }
                _ => {
                    t.target = format!("a heavier load for {lo}+ reps");
                    t.why = "top of the range with clean form".into();
                }
            }
            return Ok(t);
        }
        let goal = (last.reps + 1).clamp(lo, hi);
        t.reps = (goal, hi);
        t.target = format!("{} for {goal}+ reps", load_text(&last.load));
        t.why = format!("clean form, {} of {hi} reps: add a rep", last.reps);
        Ok(t)
    }
}

fn minus(l: &Load, step: &Load) -> Option<Load> {
    if l.unit == LoadUnit::Pin && l.value > 1.0 {
        return Some(Load {
            value: l.value - 1.0,
            ..l.clone()
        });
    }
    let compatible = l.unit == step.unit
        || matches!(
            (l.unit, step.unit),
            (LoadUnit::Kg, LoadUnit::AnkleKg) | (LoadUnit::AnkleKg, LoadUnit::Kg)
        );
    (compatible && l.value > step.value).then(|| Load {
        value: ((l.value - step.value) * 100.0).round() / 100.0,
        ..l.clone()
    })
}
