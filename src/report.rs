//! What `analyze` prints: the JSON contract (DESIGN.md) and the readable table.

use crate::motion::{Doubt, Flag, Rep, Set, Stats};
use crate::{Exercise, Placement, Side};
use serde::Serialize;
use std::fmt::Write as _;

fn r1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}
fn r2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// How sure a count is, in words.
pub fn certainty(confidence: f64) -> &'static str {
    if confidence >= crate::motion::certainty::SURE {
        "sure"
    } else if confidence >= 0.6 {
        "likely ±1"
    } else {
        "unsure"
    }
}

/// One set in the contract's shape (plus extra fields, which the contract allows).
#[derive(Debug, Serialize)]
pub struct SetReport {
    /// Start of the first rep, s.
    pub start_s: f64,
    /// End of the last rep, s.
    pub end_s: f64,
    /// Reps counted.
    pub rep_count: usize,
    /// How sure the count is, 0..1.
    pub confidence: f64,
    /// The same in words.
    pub certainty: &'static str,
    /// Why the count may be wrong (rhythm gaps, unlike reps, weak signal).
    pub doubts: Vec<Doubt>,
    /// The reps.
    pub reps: Vec<Rep>,
}

/// The whole `analyze --json` document.
#[derive(Debug, Serialize)]
pub struct AnalysisReport {
    /// The sets.
    pub sets: Vec<SetReport>,
    /// The exercise analysed.
    pub exercise: Exercise,
    /// Where the sensor was.
    pub placement: Placement,
    /// Working side.
    pub side: Side,
    /// What the pipeline saw and set aside.
    pub stats: Stats,
}

impl AnalysisReport {
    /// Builds the report, rounding to what the sensor can tell (0.01 s, 0.1°).
    pub fn new(
        sets: &[Set],
        exercise: Exercise,
        placement: Placement,
        side: Side,
        stats: Stats,
    ) -> Self {
        let sets = sets
            .iter()
            .map(|s| SetReport {
                start_s: r2(s.start_s),
                end_s: r2(s.end_s),
                rep_count: s.rep_count(),
                confidence: s.confidence,
                certainty: certainty(s.confidence),
                doubts: s
                    .doubts
                    .iter()
                    .map(|d| Doubt {
                        from_s: r2(d.from_s),
                        to_s: r2(d.to_s),
                        ..d.clone()
                    })
                    .collect(),
                reps: s.reps.iter().map(round_rep).collect(),
            })
            .collect();
        AnalysisReport {
            sets,
            exercise,
            placement,
            side,
            stats,
        }
    }

    /// The readable table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} · sensor on the {} · {} side · {} sample(s)",
            self.exercise, self.placement, self.side, self.stats.samples
        );
        if self.sets.is_empty() {
            let _ = writeln!(out, "no sets found");
        }
        for (i, set) in self.sets.iter().enumerate() {
            let _ = writeln!(
                out,
                "\nset {}  {:.1}-{:.1} s  {} reps  (count {}, confidence {:.2})",
                i + 1,
                set.start_s,
                set.end_s,
                set.rep_count,
                set.certainty,
                set.confidence
            );
            for d in &set.doubts {
                let _ = writeln!(out, "  check: {}", d.message);
            }
            let _ = writeln!(
                out,
                "  rep   start     end   peak°  up s  hold s  down s  flags"
            );
            for r in &set.reps {
                let _ = writeln!(
                    out,
                    "  {:>3} {:>7.2} {:>7.2} {:>7.1} {:>5.2} {:>7.2} {:>7.2}  {}",
                    r.number,
                    r.start_s,
                    r.end_s,
                    r.peak_deg,
                    r.concentric_s,
                    r.pause_s,
                    r.eccentric_s,
                    flag_words(&r.flags)
                );
            }
        }
        let st = &self.stats;
        let skipped = st.non_finite + st.out_of_order;
        if skipped > 0 || st.long_gaps > 0 {
            let _ = writeln!(
                out,
                "\nskipped {} sample(s) (non-numeric, impossible or out of order); {} gap(s) longer than 1 s",
                skipped, st.long_gaps
            );
        }
        out
    }
}

/// Flags as the lifter reads them: "hip hike 9.4°, momentum 310°/s".
pub fn flag_words(flags: &[Flag]) -> String {
    if flags.is_empty() {
        return "-".into();
    }
    flags
        .iter()
        .map(|f| match f.rate_dps {
            Some(rate) => format!("{} {:.0}°/s", f.kind.words(), rate),
            None => format!("{} {:.1}°", f.kind.words(), f.value_deg),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn round_rep(r: &Rep) -> Rep {
    Rep {
        number: r.number,
        start_s: r2(r.start_s),
        end_s: r2(r.end_s),
        peak_deg: r1(r.peak_deg),
        concentric_s: r2(r.concentric_s),
        pause_s: r2(r.pause_s),
        eccentric_s: r2(r.eccentric_s),
        flags: r
            .flags
            .iter()
            .map(|f| Flag {
                kind: f.kind,
                value_deg: r1(f.value_deg),
                rate_dps: f.rate_dps.map(|x| x.round()),
            })
            .collect(),
    }
}
