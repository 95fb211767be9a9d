//! The trend chart as a small hand-written SVG.
//!
//! plotters was the first choice, but without its font features it cannot
//! lay out axis labels, and with them it pulls font-kit and the system's
//! FreeType and fontconfig (an `apt-get` on a fresh machine). An SVG is text:
//! the browser does the fonts.

use crate::logbook::TrendWeek;
use std::fmt::Write as _;
use std::path::Path;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Draws reps at the reference load per week, one line per side, with the
/// compensation rate as bars.
pub fn trend_svg(path: &Path, exercise: &str, weeks: &[TrendWeek]) -> anyhow::Result<()> {
    let (w, h, left, right, top, bottom) = (720.0, 360.0, 56.0, 24.0, 40.0, 56.0);
    let mut labels: Vec<&str> = weeks.iter().map(|x| x.week.as_str()).collect();
    labels.sort_unstable();
    labels.dedup();
    let n = labels.len().max(1) as f64;
    let max_reps = weeks
        .iter()
        .filter_map(|x| x.reps_at_ref_load)
        .max()
        .unwrap_or(1)
        .max(1) as f64
        * 1.15;
    let x_of = |week: &str| {
        let i = labels.iter().position(|l| *l == week).unwrap_or(0) as f64;
        left + (i + 0.5) * (w - left - right) / n
    };
    let y_of = |reps: f64| top + (h - top - bottom) * (1.0 - reps / max_reps);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="24" font-size="15">{}: reps at the usual load, compensation rate (bars)</text>"#,
        esc(exercise)
    );
    // Axes and grid.
    let _ = writeln!(
        s,
        r##"<line x1="{left}" y1="{}" x2="{}" y2="{}" stroke="#333"/>"##,
        h - bottom,
        w - right,
        h - bottom
    );
    let _ = writeln!(
        s,
        r##"<line x1="{left}" y1="{top}" x2="{left}" y2="{}" stroke="#333"/>"##,
        h - bottom
    );
    for k in 0..=4 {
        let reps = max_reps * k as f64 / 4.0;
        let y = y_of(reps);
        let _ = writeln!(
            s,
            r##"<line x1="{left}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{reps:.0}</text>"##,
            w - right,
            left - 6.0,
            y + 4.0
        );
    }
    for l in &labels {
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            x_of(l),
            h - bottom + 18.0,
            esc(l)
        );
    }
    // Compensation bars (share of reps flagged, full height = 100 %).
    for (i, side) in ["left", "right"].iter().enumerate() {
        for wk in weeks.iter().filter(|x| x.side.as_deref() == Some(side)) {
            let bh = (h - top - bottom) * wk.compensation_rate;
            let x = x_of(&wk.week) - 10.0 + i as f64 * 10.0;
            let _ = writeln!(
                s,
                r##"<rect x="{x:.1}" y="{:.1}" width="9" height="{bh:.1}" fill="{}" opacity="0.35"/>"##,
                h - bottom - bh,
                if i == 0 { "#1f77b4" } else { "#d62728" }
            );
        }
    }
    // Reps lines per side (a bilateral exercise has side None).
    for (side, colour) in [
        (Some("left"), "#1f77b4"),
        (Some("right"), "#d62728"),
        (None, "#2ca02c"),
    ] {
        let pts: Vec<(f64, f64)> = weeks
            .iter()
            .filter(|x| x.side.as_deref() == side)
            .filter_map(|x| x.reps_at_ref_load.map(|r| (x_of(&x.week), y_of(r as f64))))
            .collect();
        if pts.is_empty() {
            continue;
        }
        let line: Vec<String> = pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
        let _ = writeln!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
            line.join(" ")
        );
        for (x, y) in &pts {
            let _ = writeln!(
                s,
                r#"<circle cx="{x:.1}" cy="{y:.1}" r="3.5" fill="{colour}"/>"#
            );
        }
        let name = side.unwrap_or("both");
        let ly = h - 16.0;
        let lx = match side {
            Some("left") => left,
            Some("right") => left + 90.0,
            _ => left + 180.0,
        };
        let _ = writeln!(
            s,
            r#"<rect x="{lx}" y="{}" width="12" height="4" fill="{colour}"/><text x="{}" y="{ly}">{name}</text>"#,
            ly - 4.0,
            lx + 16.0
        );
    }
    s.push_str("</svg>\n");
    std::fs::write(path, s)
        .map_err(|e| super::user_error(format!("cannot write {}: {e}", path.display())))?;
    Ok(())
}
