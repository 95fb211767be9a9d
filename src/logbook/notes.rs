//! Auto-filled notes: technique notes from confirmed flags, side-to-side
//! notes from the other side's set in the same session.

use super::review::{PendingFlag, PendingSet};
use crate::motion::FlagKind;

/// "3, 5–6, 9–12" from sorted rep numbers.
pub fn rep_ranges(reps: &[u32]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < reps.len() {
        let mut j = i;
        while j + 1 < reps.len() && reps[j + 1] == reps[j] + 1 {
            j += 1;
        }
        out.push(if j == i {
            reps[i].to_string()
        } else {
            format!("{}–{}", reps[i], reps[j])
        });
        i = j + 1;
    }
    out.join(", ")
}

fn kind(id: &str) -> Option<FlagKind> {
    FlagKind::ALL.into_iter().find(|k| k.id() == id)
}

/// "hip hike on reps 9–12, up to 11°; momentum on rep 3 (up to 240°/s)".
pub fn technique(flags: &[PendingFlag]) -> String {
    let mut parts = Vec::new();
    for k in FlagKind::ALL {
        let mine: Vec<&PendingFlag> = flags
            .iter()
            .filter(|f| f.review == "confirmed" && f.kind == k.id())
            .collect();
        if mine.is_empty() {
            continue;
        }
        let mut reps: Vec<u32> = mine.iter().map(|f| f.rep).collect();
        reps.sort_unstable();
        reps.dedup();
        let word = if reps.len() == 1 { "rep" } else { "reps" };
        let max = mine.iter().map(|f| f.value_deg).fold(0.0, f64::max);
        let rate = mine.iter().filter_map(|f| f.rate_dps).fold(0.0, f64::max);
        let size = match k {
            FlagKind::Momentum if rate > 0.0 => format!(" (up to {rate:.0}°/s)"),
            FlagKind::PartialRange => format!(", down to {max:.0}°"),
            _ => format!(", up to {max:.0}°"),
        };
        parts.push(format!(
            "{} on {word} {}{size}",
            k.words(),
            rep_ranges(&reps)
        ));
    }
    parts.join("; ")
}

fn verb(k: FlagKind) -> &'static str {
    match k {
        FlagKind::HipHike => "hikes",
        FlagKind::PelvicDrop => "drops",
        FlagKind::TrunkSway => "sways",
        FlagKind::Momentum => "swings",
        FlagKind::PartialRange => "cuts the range",
        FlagKind::HipFlexionDrift => "drifts forward",
    }
}

fn summary(s: &PendingSet) -> String {
    let side = s.side.as_deref().unwrap_or("?");
    match s.median_peak_deg {
        Some(p) => format!("{side}: {} reps {p:.0}°", s.reps),
        None => format!("{side}: {} reps", s.reps),
    }
}

/// "left: 14 reps 38°, right: 11 reps 33°, right hikes" (left first).
pub fn side_to_side(a: &PendingSet, b: &PendingSet) -> String {
    let (l, r) = if a.side.as_deref() == Some("left") {
        (a, b)
    } else {
        (b, a)
    };
    let mut text = format!("{}, {}", summary(l), summary(r));
    for s in [l, r] {
        let mut kinds: Vec<FlagKind> = s
            .flags
            .iter()
            .filter(|f| f.review == "confirmed")
            .filter_map(|f| kind(&f.kind))
            .collect();
        kinds.dedup();
        kinds.sort_by_key(|k| k.id());
        kinds.dedup();
        for k in kinds {
            text.push_str(&format!(
                ", {} {}",
                s.side.as_deref().unwrap_or("?"),
                verb(k)
            ));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag(rep: u32, kind: &str, v: f64, review: &str) -> PendingFlag {
        PendingFlag {
            id: rep as i64,
            rep,
            kind: kind.into(),
            value_deg: v,
            rate_dps: None,
            review: review.into(),
        }
    }

    #[test]
    fn ranges_and_technique_words() {
        assert_eq!(rep_ranges(&[3, 5, 6, 9, 10, 11, 12]), "3, 5–6, 9–12");
        let flags = [
            flag(9, "hip_hike", 8.0, "confirmed"),
            flag(10, "hip_hike", 11.2, "confirmed"),
            flag(11, "hip_hike", 9.0, "confirmed"),
            flag(12, "hip_hike", 7.0, "confirmed"),
            flag(4, "hip_hike", 30.0, "dismissed"),
            flag(2, "trunk_sway", 6.0, "open"),
        ];
        assert_eq!(technique(&flags), "hip hike on reps 9–12, up to 11°");
        assert_eq!(technique(&[]), "");
    }
}
