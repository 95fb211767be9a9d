//! What `analyze` prints: the JSON contract (docs/formats.md) and the readable table.

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
            "{} · sensor on the {} · {} side · {}",
            self.exercise,
            self.placement,
            self.side,
            crate::terminal::plural(self.stats.samples as i64, "sample", "samples")
        );
        if self.sets.is_empty() {
            let _ = writeln!(out, "no sets found");
        }
        for (i, set) in self.sets.iter().enumerate() {
            let _ = writeln!(
                out,
                "\nset {}  {:.1}–{:.1} s  {}  (count {}, confidence {:.2})",
                i + 1,
                set.start_s,
                set.end_s,
                crate::terminal::plural(set.rep_count as i64, "rep", "reps"),
                set.certainty,
                set.confidence
            );
            for d in &set.doubts {
                let _ = writeln!(out, "  check: {}", d.message);
            }
            let mut t = crate::terminal::table(&[
                "rep", "start s", "end s", "peak", "up s", "hold s", "down s", "flags",
            ]);
            for r in &set.reps {
                t.add_row(vec![
                    r.number.to_string(),
                    format!("{:.2}", r.start_s),
                    format!("{:.2}", r.end_s),
                    format!("{:.1}°", r.peak_deg),
                    format!("{:.2}", r.concentric_s),
                    format!("{:.2}", r.pause_s),
                    format!("{:.2}", r.eccentric_s),
                    if r.flags.is_empty() {
                        "–".to_string()
                    } else {
                        flags_of_rep(&r.flags, Some(r.peak_deg))
                    },
                ]);
            }
            crate::terminal::right(&mut t, &[0, 1, 2, 3, 4, 5, 6]);
            out.push_str(&crate::terminal::render(&t));
        }
        let st = &self.stats;
        let skipped = st.non_finite + st.out_of_order;
        if skipped > 0 || st.long_gaps > 0 {
            let _ = writeln!(
                out,
                "\nskipped {} (non-numeric, impossible or out of order); {} longer than 1 s",
                crate::terminal::plural(skipped as i64, "sample", "samples"),
                crate::terminal::plural(st.long_gaps as i64, "gap", "gaps")
            );
        }
        out
    }
}

/// Flags as the lifter reads them, each in its own unit: "hip hike 9.4°,
/// momentum 310°/s, partial range: 12° short of your 37°".
pub fn flag_words(flags: &[Flag]) -> String {
    flags_of_rep(flags, None)
}

/// [`flag_words`] knowing the rep's own range (`peak_deg`), so a partial
/// rep says how short of the working range it fell.
pub fn flags_of_rep(flags: &[Flag], peak_deg: Option<f64>) -> String {
    if flags.is_empty() {
        return "-".into();
    }
    flags
        .iter()
        .map(|f| flag_phrase(f, peak_deg))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One flag with its unit: °/s for momentum, degrees short of the working
/// range for a partial rep, degrees past neutral for the pelvic flags,
/// degrees out of plane for drift.
pub fn flag_phrase(f: &Flag, peak_deg: Option<f64>) -> String {
    use crate::motion::FlagKind;
    match (f.kind, f.rate_dps) {
        (FlagKind::Momentum, Some(rate)) => format!("momentum {rate:.0}°/s"),
        (FlagKind::PartialRange, _) => match peak_deg {
            Some(peak) => format!(
                "partial range: {:.0}° short of your {:.0}°",
                f.value_deg,
                peak + f.value_deg
            ),
            None => format!("partial range: {:.0}° short", f.value_deg),
        },
        (FlagKind::HipFlexionDrift, _) => {
            format!("{} {:.1}° out of plane", f.kind.words(), f.value_deg)
        }
        _ => format!("{} {:.1}°", f.kind.words(), f.value_deg),
    }
}

/// The most of one flag kind over a set, in that kind's unit ("up to
/// 310°/s", "up to 12° short", "up to 9°").
pub fn flag_most(kind: crate::motion::FlagKind, flags: &[&Flag]) -> String {
    use crate::motion::FlagKind;
    match kind {
        FlagKind::Momentum => {
            let most = flags.iter().filter_map(|f| f.rate_dps).fold(0.0, f64::max);
            format!("up to {most:.0}°/s")
        }
        FlagKind::PartialRange => {
            let most = flags.iter().map(|f| f.value_deg).fold(0.0, f64::max);
            format!("up to {most:.0}° short")
        }
        _ => {
            let most = flags.iter().map(|f| f.value_deg).fold(0.0, f64::max);
            format!("up to {most:.0}°")
        }
    }
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
