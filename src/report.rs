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
    /// What the pipeline saw and set aside (two sensors: the ankle's).
    pub stats: Stats,
    /// Two sensors: the pelvis' side of it and where the clocks stood
    /// (absent for one sensor).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sensors: Option<TwoSensors>,
    /// Two sensors: what was added to the pelvis' times to put them on the
    /// ankle's clock (ms; absent for one sensor).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset_ms: Option<f64>,
}

/// What `analyze` adds for two sensors.
#[derive(Debug, Serialize)]
pub struct TwoSensors {
    /// The placements fused: always `["ankle", "pelvis"]`.
    pub placements: [Placement; 2],
    /// The offset started from (ms): the session file's, or 0.
    pub offset_prior_ms: f64,
    /// Whether reps confirmed the offset (false: the guess was used).
    pub offset_known: bool,
    /// Reps whose motion matched between the sensors.
    pub reps_matched: usize,
    /// Root mean square of the rep-by-rep matches about the offset (ms).
    pub offset_scatter_ms: f64,
    /// What the pelvis' pipeline saw and set aside.
    pub pelvis_stats: Stats,
    /// Reps whose pelvic flags were judged from the pelvis.
    pub reps_judged: u64,
    /// Reps whose pelvic flags could not be judged (the pelvis was out).
    pub reps_not_judged: u64,
    /// Reps counted from the pelvis alone (the ankle was out).
    pub reps_pelvis_only: u64,
}

impl TwoSensors {
    /// From a fused pipeline that has run.
    pub fn new(fused: &crate::motion::fuse::FusedPipeline) -> Self {
        let a = fused.alignment();
        let st = fused.stats();
        TwoSensors {
            placements: [Placement::Ankle, Placement::Pelvis],
            offset_prior_ms: r1(1000.0 * a.prior_s),
            offset_known: a.known,
            reps_matched: a.reps_matched,
            offset_scatter_ms: r1(1000.0 * a.scatter_s),
            pelvis_stats: st.pelvis,
            reps_judged: st.reps_judged,
            reps_not_judged: st.reps_not_judged,
            reps_pelvis_only: st.reps_pelvis_only,
        }
    }
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
            sensors: None,
            offset_ms: None,
        }
    }

    /// The report of a fused two-sensor run (counted at the ankle).
    pub fn fused(
        sets: &[Set],
        exercise: Exercise,
        side: Side,
        fused: &crate::motion::fuse::FusedPipeline,
    ) -> Self {
        let mut r =
            AnalysisReport::new(sets, exercise, Placement::Ankle, side, fused.stats().ankle);
        r.offset_ms = Some(r1(1000.0 * fused.offset_s()));
        r.sensors = Some(TwoSensors::new(fused));
        r
    }

    /// The readable table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        match &self.sensors {
            None => {
                let _ = writeln!(
                    out,
                    "{} · sensor on the {} · {} side · {}",
                    self.exercise,
                    self.placement,
                    self.side,
                    crate::terminal::plural(self.stats.samples as i64, "sample", "samples")
                );
            }
            Some(two) => {
                let _ = writeln!(
                    out,
                    "{} · sensors on the ankle (counts) and the pelvis (form) · {} side · {} + {}",
                    self.exercise,
                    self.side,
                    crate::terminal::plural(self.stats.samples as i64, "sample", "samples"),
                    two.pelvis_stats.samples
                );
                let offset = self.offset_ms.unwrap_or(0.0);
                if two.offset_known {
                    let _ = writeln!(
                        out,
                        "pelvis clock {offset:+.1} ms to the ankle's (matched on {}, scatter {:.1} ms)",
                        crate::terminal::plural(two.reps_matched as i64, "rep", "reps"),
                        two.offset_scatter_ms
                    );
                } else {
                    let _ = writeln!(
                        out,
                        "pelvis clock taken as {offset:+.1} ms to the ankle's (too few reps to match the two)"
                    );
                }
            }
        }
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
