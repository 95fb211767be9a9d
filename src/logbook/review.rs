//! Review: the lifter confirms or dismisses each flag, fixes the count or the
//! load, and verifies or discards the set. One transaction per review, so a
//! refused review changes nothing.

use super::{notes, Load, LoadUnit, Logbook, LogbookError, Result};
use crate::motion::FlagKind;
use rusqlite::{params, OptionalExtension, Transaction};
use serde::Serialize;

/// Which flags a `--confirm`/`--dismiss` names.
#[derive(Debug, Clone, PartialEq)]
pub enum FlagRef {
    /// Every flag of the set.
    All,
    /// The flags of one rep, or one kind on it.
    Rep(u32, Option<FlagKind>),
}

impl FlagRef {
    /// Parses a comma list: `3,4`, `7:hip_hike`, `all`.
    pub fn parse_list(text: &str) -> Result<Vec<FlagRef>> {
        text.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|item| {
                let item = item.trim();
                if item == "all" {
                    return Ok(FlagRef::All);
                }
                let (rep, kind) = match item.split_once(':') {
                    Some((r, k)) => (r, Some(k)),
                    None => (item, None),
                };
                let rep: u32 = rep.parse().map_err(|_| {
                    LogbookError::Invalid(format!(
                        "'{item}' is not a rep number: write e.g. 3,4 or 7:hip-hike or all"
                    ))
                })?;
                let kind = kind
                    .map(|k| {
                        FlagKind::ALL
                            .into_iter()
                            // hip-hike, hip_hike and "hip hike" alike.
                            .find(|f| f.id() == k.trim().replace(['-', ' '], "_"))
                            .ok_or_else(|| {
                                LogbookError::Invalid(format!(
                                    "unknown flag kind '{k}'; expected one of: {}",
                                    FlagKind::ALL.map(|f| f.id().replace('_', "-")).join(", ")
                                ))
                            })
                    })
                    .transpose()?;
                Ok(FlagRef::Rep(rep, kind))
            })
            .collect()
    }
}

/// Verify or discard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The set is right: it joins the log.
    Verify,
    /// Not a set worth keeping.
    Discard,
}

/// Everything one review may change.
#[derive(Debug, Clone, Default)]
pub struct ReviewActions {
    /// Flags to confirm.
    pub confirm: Vec<FlagRef>,
    /// Flags to dismiss.
    pub dismiss: Vec<FlagRef>,
    /// Corrected rep count.
    pub reps: Option<u32>,
    /// Corrected load.
    pub load: Option<Load>,
    /// Reps in reserve.
    pub rir: Option<u32>,
    /// Technique notes written by the lifter (stops auto-fill).
    pub technique_notes: Option<String>,
    /// Side-to-side notes written by the lifter.
    pub side_notes: Option<String>,
    /// Verify or discard.
    pub verdict: Option<Verdict>,
}

/// A flag as review shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PendingFlag {
    /// Flag id.
    pub id: i64,
    /// Rep number.
    pub rep: u32,
    /// Kind id.
    pub kind: String,
    /// Magnitude, degrees.
    pub value_deg: f64,
    /// Peak rate for momentum, °/s.
    pub rate_dps: Option<f64>,
    /// open, confirmed, dismissed.
    pub review: String,
}

/// A set as review shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PendingSet {
    /// Set id.
    pub id: i64,
    /// When (local time).
    pub performed_at: String,
    /// sensor, sim, replay or manual.
    pub source: String,
    /// Exercise id.
    pub exercise: String,
    /// Side.
    pub side: Option<String>,
    /// Load.
    pub load: Option<Load>,
    /// Reps.
    pub reps: u32,
    /// Median peak of the reps, degrees.
    pub median_peak_deg: Option<f64>,
    /// pending, verified, discarded.
    pub state: String,
    /// Cut short by Ctrl-C or SIGTERM.
    pub interrupted: bool,
    /// Count confidence from the pipeline.
    pub confidence: Option<f64>,
    /// Why the count may be wrong, as the pipeline said it.
    pub doubts: Vec<crate::motion::Doubt>,
    /// Flags, by rep.
    pub flags: Vec<PendingFlag>,
    /// Technique notes.
    pub technique_notes: String,
    /// Side-to-side notes.
    pub side_notes: String,
    /// The raw recordings it was judged from (two with two sensors), the
    /// one it was counted from first.
    pub recordings: Vec<super::LinkedRecording>,
}

pub(crate) fn load_from(
    value: Option<f64>,
    unit: Option<String>,
    label: Option<String>,
) -> Option<Load> {
    Some(Load {
        value: value?,
        unit: LoadUnit::from_id(unit.as_deref()?)?,
        label,
    })
}

pub(crate) fn read_set(tx: &rusqlite::Connection, id: i64) -> Result<PendingSet> {
    let mut s = tx
        .query_row(
            "SELECT id, performed_at, exercise_id, side, load_value, load_unit, load_label, reps, state,
                    interrupted, confidence, technique_notes, side_notes, doubts, source
               FROM sets WHERE id = ?1",
            [id],
            |r| {
                Ok(PendingSet {
                    id: r.get(0)?,
                    performed_at: super::time::local_text(&r.get::<_, String>(1)?),
                    source: r.get(14)?,
                    exercise: r.get(2)?,
                    side: r.get(3)?,
                    load: load_from(r.get(4)?, r.get(5)?, r.get(6)?),
                    reps: r.get(7)?,
                    median_peak_deg: None,
                    state: r.get(8)?,
                    interrupted: r.get(9)?,
                    confidence: r.get(10)?,
                    doubts: r
                        .get::<_, Option<String>>(13)?
                        .and_then(|j| serde_json::from_str(&j).ok())
                        .unwrap_or_default(),
                    flags: Vec::new(),
                    technique_notes: r.get(11)?,
                    side_notes: r.get(12)?,
                    recordings: Vec::new(),
                })
            },
        )
        .optional()?
        .ok_or(LogbookError::NoSuchSet(id))?;
    let mut st = tx.prepare(
        "SELECT f.id, r.number, f.kind, f.value_deg, f.rate_dps, f.review
           FROM flags f JOIN reps r ON r.id = f.rep_id WHERE r.set_id = ?1 ORDER BY r.number, f.kind",
    )?;
    s.flags = st
        .query_map([id], |r| {
            Ok(PendingFlag {
                id: r.get(0)?,
                rep: r.get(1)?,
                kind: r.get(2)?,
                value_deg: r.get(3)?,
                rate_dps: r.get(4)?,
                review: r.get(5)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut peaks: Vec<f64> = tx
        .prepare("SELECT peak_deg FROM reps WHERE set_id = ?1 AND counted = 1")?
        .query_map([id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    peaks.sort_by(f64::total_cmp);
    if !peaks.is_empty() {
        s.median_peak_deg = Some(peaks[peaks.len() / 2]);
    }
    s.recordings = super::write::set_recordings(tx, id)?;
    Ok(s)
}

impl Logbook {
    /// The pending sets, oldest first.
    pub fn pending_sets(&self) -> Result<Vec<PendingSet>> {
        let ids: Vec<i64> = self
            .conn()
            .prepare("SELECT id FROM sets WHERE state = 'pending' ORDER BY performed_at, id")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        ids.into_iter()
            .map(|id| read_set(self.conn(), id))
            .collect()
    }

    /// One set with its flags.
    pub fn set(&self, id: i64) -> Result<PendingSet> {
        read_set(self.conn(), id)
    }

    /// Applies a review in one transaction; returns the set as it now is.
    pub fn review(&mut self, id: i64, a: &ReviewActions) -> Result<PendingSet> {
        let tx = self.write_tx()?;
        let before = read_set(&tx, id)?;
        let mut decided: Vec<(i64, &'static str)> = Vec::new();
        if a.confirm.contains(&FlagRef::All) && a.dismiss.contains(&FlagRef::All) {
            return Err(LogbookError::Invalid(
                "confirm all and dismiss all at once: name the reps for one of them".into(),
            ));
        }
        // Named reps first; `all` then means every flag not named.
        for pass in [false, true] {
            for (refs, state) in [(&a.confirm, "confirmed"), (&a.dismiss, "dismissed")] {
                for r in refs.iter().filter(|r| (**r == FlagRef::All) == pass) {
                    let hits: Vec<&PendingFlag> = before
                        .flags
                        .iter()
                        .filter(|f| match r {
                            FlagRef::All => !decided.iter().any(|(id, _)| *id == f.id),
                            FlagRef::Rep(n, kind) => {
                                f.rep == *n && kind.is_none_or(|k| k.id() == f.kind)
                            }
                        })
                        .collect();
                    if hits.is_empty() && *r != FlagRef::All {
                        let flagged: Vec<String> = dedup(before.flags.iter().map(|f| f.rep))
                            .iter()
                            .map(|r| r.to_string())
                            .collect();
                        let what = match r {
                            FlagRef::Rep(n, Some(k)) => format!("no {} flag on rep {n}", k.id()),
                            FlagRef::Rep(n, None) => format!("no flag on rep {n}"),
                            FlagRef::All => unreachable!(),
                        };
                        return Err(LogbookError::Invalid(format!(
                            "set {id} has {what} (flagged reps: {})",
                            if flagged.is_empty() {
                                "none".into()
                            } else {
                                flagged.join(", ")
                            }
                        )));
                    }
                    for f in hits {
                        if let Some((_, other)) =
                            decided.iter().find(|(fid, s)| *fid == f.id && *s != state)
                        {
                            return Err(LogbookError::Invalid(format!(
                                "rep {} {} is both confirmed and dismissed ({other} first); pick one",
                                f.rep, f.kind
                            )));
                        }
                        decided.push((f.id, state));
                    }
                }
            }
        }
        for (fid, state) in &decided {
            tx.execute(
                "UPDATE flags SET review = ?2 WHERE id = ?1",
                params![fid, state],
            )?;
        }
        if let Some(n) = a.reps {
            if n > 1000 {
                return Err(LogbookError::Invalid(format!("{n} reps is not a set")));
            }
            tx.execute("UPDATE sets SET reps = ?2 WHERE id = ?1", params![id, n])?;
        }
        if let Some(l) = &a.load {
            tx.execute(
                "UPDATE sets SET load_value = ?2, load_unit = ?3, load_label = ?4 WHERE id = ?1",
                params![id, l.value, l.unit.id(), l.label],
            )?;
        }
        if let Some(r) = a.rir {
            if r > super::MAX_RIR {
                return Err(LogbookError::Invalid(format!(
                    "{r} reps in reserve: RIR is 0 to {}",
                    super::MAX_RIR
                )));
            }
            tx.execute("UPDATE sets SET rir = ?2 WHERE id = ?1", params![id, r])?;
        }
        if let Some(t) = &a.technique_notes {
            tx.execute(
                "UPDATE sets SET technique_notes = ?2, notes_edited = 1 WHERE id = ?1",
                params![id, t],
            )?;
        }
        if let Some(t) = &a.side_notes {
            tx.execute(
                "UPDATE sets SET side_notes = ?2, notes_edited = 1 WHERE id = ?1",
                params![id, t],
            )?;
        }
        match a.verdict {
            Some(Verdict::Verify) => {
                let open: Vec<u32> = read_set(&tx, id)?
                    .flags
                    .iter()
                    .filter(|f| f.review == "open")
                    .map(|f| f.rep)
                    .collect();
                if !open.is_empty() {
                    let reps: Vec<String> = dedup(open).iter().map(|r| r.to_string()).collect();
                    return Err(LogbookError::Invalid(format!(
                        "set {id} still has open flags on reps {}: confirm or dismiss them (e.g. --confirm {} or --dismiss all) before --verify",
                        reps.join(", "),
                        reps[0]
                    )));
                }
                tx.execute(
                    "UPDATE sets SET state = 'verified', verified_at = ?2 WHERE id = ?1",
                    params![id, super::time::Stamp::now().stored()],
                )?;
            }
            Some(Verdict::Discard) => {
                tx.execute("UPDATE sets SET state = 'discarded' WHERE id = ?1", [id])?;
            }
            None => {}
        }
        refill_notes(&tx, id)?;
        tx.commit()?;
        self.set(id)
    }
}

fn dedup(v: impl IntoIterator<Item = u32>) -> Vec<u32> {
    let mut v: Vec<u32> = v.into_iter().collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Refills the auto notes of a set and of its other-side partner in the
/// same session, unless the lifter wrote them.
fn refill_notes(tx: &Transaction<'_>, id: i64) -> Result<()> {
    let set = read_set(tx, id)?;
    let edited: bool = tx.query_row("SELECT notes_edited FROM sets WHERE id = ?1", [id], |r| {
        r.get(0)
    })?;
    if !edited {
        tx.execute(
            "UPDATE sets SET technique_notes = ?2 WHERE id = ?1",
            params![id, notes::technique(&set.flags)],
        )?;
    }
    // The other side's latest set of the same exercise in the same session.
    let partner: Option<i64> = tx
        .query_row(
            "SELECT o.id FROM sets s JOIN sets o
                ON o.session_id = s.session_id AND o.exercise_id = s.exercise_id
               AND o.side IS NOT NULL AND s.side IS NOT NULL AND o.side <> s.side
               AND o.state <> 'discarded'
             WHERE s.id = ?1 ORDER BY o.performed_at DESC, o.id DESC LIMIT 1",
            [id],
            |r| r.get(0),
        )
        .optional()?;
    let Some(pid) = partner else { return Ok(()) };
    if set.state == "discarded" {
        return Ok(());
    }
    let other = read_set(tx, pid)?;
    let text = notes::side_to_side(&set, &other);
    for sid in [id, pid] {
        tx.execute(
            "UPDATE sets SET side_notes = ?2 WHERE id = ?1 AND notes_edited = 0",
            params![sid, text],
        )?;
    }
    Ok(())
}
