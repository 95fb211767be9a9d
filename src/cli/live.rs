//! What the lifter sees during `run`: the session's feedback as lines,
//! and in a terminal one more line redrawn in place (the rep count during a
//! set, the rest timer between sets), drawn from the session's snapshot.

use crate::motion::{Rep, Set};
use crate::report::{certainty, flag_most, flags_of_rep};
use crate::session::{Context, Feedback, Snapshot};
use std::io::{IsTerminal, Write};

/// What the lifter sees. Each rep and set is a line; in a terminal, one
/// more line at the bottom is redrawn in place: the live rep count during a
/// set, the rest timer between sets. Piped or under systemd there is no
/// such line, only the plain ones; under `-q` nothing but errors.
pub(crate) struct Live {
    bell: bool,
    quiet: bool,
    /// Keys are read: the watching line says `? for keys`.
    keys: bool,
    /// Redraw a status line (stdout is a terminal).
    status_line: bool,
    /// The status line is on the screen now (cleared before any other line).
    drawn: bool,
    /// Two sensors.
    pair: bool,
}

impl Live {
    pub(crate) fn new(bell: bool, quiet: bool, keys: bool) -> Self {
        Live {
            bell,
            quiet,
            keys,
            status_line: !quiet && std::io::stdout().is_terminal(),
            drawn: false,
            pair: false,
        }
    }

    /// Two sensors: the ankle counts, the pelvis judges.
    pub(crate) fn pair(mut self, pair: bool) -> Self {
        self.pair = pair;
        self
    }

    /// Prints a line, first wiping the status line if it is drawn.
    pub(crate) fn line(&mut self, text: &str) {
        if self.quiet {
            return;
        }
        let mut out = anstream::stdout().lock();
        if std::mem::take(&mut self.drawn) {
            let _ = write!(out, "\r\x1b[2K");
        }
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }

    /// Wipes the status line (before the program ends or asks something).
    pub(crate) fn clear(&mut self) {
        if std::mem::take(&mut self.drawn) {
            let mut out = anstream::stdout().lock();
            let _ = write!(out, "\r\x1b[2K");
            let _ = out.flush();
        }
    }

    /// Redraws the status line: the rep count during a set, the rest
    /// timer (and what comes next) between sets. The clock is the
    /// sensor's (the last sample), so the timer runs at the playback speed.
    pub(crate) fn status(&mut self, snap: &Snapshot) {
        if !self.status_line {
            return;
        }
        let Some(now_s) = snap.last_t else { return };
        let count = super::style::COUNT;
        let ctx = &snap.context;
        let text = if snap.shown > 0 {
            // The set is closed once no rep has come for its gap (10 s);
            // the rest timer starts a second after the last rep is back.
            let resting = snap
                .last_rep_end
                .map(|end| now_s - end)
                .filter(|r| *r >= 1.0)
                .map(|r| {
                    let r = r as u64;
                    format!(" · rest {}:{:02}", r / 60, r % 60)
                })
                .unwrap_or_default();
            let head = format!(
                "▶ set {} · {}{resting}",
                snap.set_in_progress,
                plural(snap.shown, "rep", "reps")
            );
            // Resting, the set so far (range, flags) follows, cut to the
            // terminal's width so the line never wraps.
            let mut summary = match (resting.is_empty(), snap.so_far.first(), snap.so_far.last()) {
                (false, Some(first), Some(last)) => set_body(
                    &Set {
                        start_s: first.start_s,
                        end_s: last.end_s,
                        reps: snap.so_far.clone(),
                        confidence: 1.0,
                        doubts: Vec::new(),
                    },
                    snap.pelvis,
                    false,
                ),
                _ => String::new(),
            };
            let room = usize::from(crate::terminal::width().unwrap_or(80))
                .saturating_sub(head.chars().count() + 1);
            if summary.chars().count() > room {
                summary = summary
                    .chars()
                    .take(room.saturating_sub(1))
                    .collect::<String>()
                    + "…";
            }
            format!(
                "▶ set {} · {count}{}{count:#}{resting}{summary}",
                snap.set_in_progress,
                plural(snap.shown, "rep", "reps")
            )
        } else if let Some(from) = snap.rest_from {
            let rest = (now_s - from).max(0.0) as u64;
            format!(
                "rest {count}{}:{:02}{count:#} · next: set {} · {} · {} side{}",
                rest / 60,
                rest % 60,
                snap.set_in_progress,
                ctx.exercise,
                ctx.side,
                load_part(ctx)
            )
        } else {
            format!("waiting for the first rep · set {}", snap.set_in_progress)
        };
        let mut out = anstream::stdout().lock();
        let _ = write!(out, "\r\x1b[2K{text}");
        let _ = out.flush();
        self.drawn = true;
    }

    /// Shows one piece of the session's feedback.
    pub(crate) fn show(&mut self, f: &Feedback) {
        let count = super::style::COUNT;
        match f {
            Feedback::Watching(ctx) => etell!(
                "{} · {} · {} side{} — watching (Ctrl-C to stop{})",
                ctx.exercise,
                if self.pair {
                    "sensors on the ankle (counts) and the pelvis (hike, drop, sway)".to_string()
                } else {
                    format!("sensor on the {}", ctx.placement)
                },
                ctx.side,
                load_part(ctx),
                if self.keys { "; ? for keys" } else { "" }
            ),
            Feedback::RepReturned {
                set,
                number,
                start_s,
                end_s,
                peak_deg,
                pelvis,
            } => {
                let what = if *pelvis { "pelvis" } else { "range" };
                self.line(&format!(
                    "set {set} · {count}rep {number:>2}{count:#} · {what} {peak_deg:>5.1}° · {:.1}s",
                    end_s - start_s
                ));
            }
            Feedback::RepWithdrawn { number } => self.line(&format!(
                "  (rep {number} withdrawn: that movement was not a rep)"
            )),
            Feedback::Rep {
                set,
                rep,
                announced,
                pelvis,
            } => {
                if !*announced {
                    let text = rep_line(*set, rep, *pelvis);
                    self.line(&text);
                } else if !rep.flags.is_empty() {
                    // Counted already; now the flags are known.
                    let flag = super::style::FLAG;
                    self.line(&format!(
                        "        rep {:>2} · {flag}⚑ {}{flag:#}",
                        rep.number,
                        flags_of_rep(&rep.flags, Some(rep.peak_deg))
                    ));
                }
                if self.bell && !rep.flags.is_empty() && !self.quiet {
                    show!("\x07");
                }
            }
            Feedback::Dropped { movements } => {
                // Judged once the set was whole (a shuffle before it, a
                // swing after it): the set line's count is the one saved.
                self.line(&format!(
                    "  ({} at the set's edges {} not reps: a shuffle or a swing)",
                    plural(*movements, "movement", "movements"),
                    if *movements == 1 { "was" } else { "were" }
                ));
            }
            Feedback::SetDone {
                number,
                set,
                pelvis,
            } => {
                let text = set_line(*number, set, *pelvis);
                self.line(&text);
            }
            Feedback::NotASet {
                start_s,
                end_s: _,
                reps,
            } => self.line(&format!(
                "  (not kept: {} at {start_s:.0} s — {})",
                plural(*reps, "rep-like movement", "rep-like movements"),
                if *reps < 2 {
                    "a set needs at least 2 reps"
                } else {
                    "too few, or too unlike each other, to be a set"
                }
            )),
            Feedback::AfterThisSet => self.line("  (after this set)"),
            Feedback::ContextChanged(ctx) => self.line(&format!(
                "  next sets: {} · sensor on the {} · {} side{}",
                ctx.exercise,
                ctx.placement,
                ctx.side,
                load_part(ctx)
            )),
            Feedback::Message(m) => self.line(&format!("  {m}")),
            Feedback::Stopped { during_set } => {
                self.clear();
                if *during_set {
                    etell!(
                        "stopped during a set: its reps so far are judged and kept if they make a set"
                    );
                } else {
                    etell!("stopped");
                }
            }
        }
    }

    /// The session's last line: sets, reps, flagged, where they were saved.
    pub(crate) fn summary(&mut self, sets: &[Set], saved: Option<&[i64]>) {
        let reps: usize = sets.iter().map(|s| s.rep_count()).sum();
        let flagged: usize = sets
            .iter()
            .flat_map(|s| s.reps.iter())
            .filter(|r| !r.flags.is_empty())
            .count();
        let where_ = match saved {
            None => "not saved (--no-log)".to_string(),
            Some([]) => "no set saved".to_string(),
            Some(ids) => {
                let ids: Vec<String> = ids.iter().map(|i| format!("#{i}")).collect();
                format!(
                    "saved in the logbook as pending {} {} — review with `medius review`",
                    if ids.len() == 1 { "set" } else { "sets" },
                    ids.join(", ")
                )
            }
        };
        let count = super::style::COUNT;
        self.line(&format!(
            "session: {}, {count}{}{count:#}, {} flagged — {where_}",
            plural(sets.len(), "set", "sets"),
            plural(reps, "rep", "reps"),
            flagged
        ));
    }
}

/// What the Bluetooth link did, for the end of the session.
pub(crate) fn link_line(r: &super::live_ble::LinkReport) -> String {
    let recon: Vec<String> = r.reconnect_s.iter().map(|s| format!("{s:.1} s")).collect();
    format!(
        "link: {} samples, {} lost, {}{}{}",
        r.stream.samples,
        r.stream.lost,
        plural(r.dropouts as usize, "drop-out", "drop-outs"),
        if recon.is_empty() {
            String::new()
        } else {
            format!(", reconnected after {}", recon.join(", "))
        },
        if r.gave_up { ", gave up" } else { "" }
    )
}

/// " · 12.5kg" when a load is set.
fn load_part(ctx: &Context) -> String {
    ctx.load
        .as_ref()
        .map(|l| format!(" · {l}"))
        .unwrap_or_default()
}

pub(crate) fn plural(n: usize, one: &str, many: &str) -> String {
    crate::terminal::plural(n as i64, one, many)
}

fn rep_line(set: usize, rep: &Rep, pelvis: bool) -> String {
    let what = if pelvis { "pelvis" } else { "range" };
    let (count, flag) = (super::style::COUNT, super::style::FLAG);
    format!(
        "set {set} · {count}rep {:>2}{count:#} · {what} {:>5.1}° · up {:.1}s hold {:.1}s down {:.1}s{}",
        rep.number,
        rep.peak_deg,
        rep.concentric_s,
        rep.pause_s,
        rep.eccentric_s,
        if rep.flags.is_empty() {
            String::new()
        } else {
            format!(
                " · {flag}⚑ {}{flag:#}",
                flags_of_rep(&rep.flags, Some(rep.peak_deg))
            )
        }
    )
}

/// One line that sums up a set: reps, range (at the pelvis: how far the
/// pelvis moved), flags by kind in their own units with the reps they hit.
pub fn set_line(number: usize, set: &Set, pelvis: bool) -> String {
    let count = super::style::COUNT;
    format!(
        "set {number} done: {count}{}{count:#} ({}){}",
        plural(set.rep_count(), "rep", "reps"),
        certainty(set.confidence),
        set_body(set, pelvis, true)
    ) + &doubt_lines(set)
}

/// A set's range, length and flags: " · range 24-45° · 36 s · momentum on…";
/// `styled`: the flags in colour (not on the status line, which is cut to
/// the terminal's width).
fn set_body(set: &Set, pelvis: bool, styled: bool) -> String {
    let peaks: Vec<f64> = set.reps.iter().map(|r| r.peak_deg).collect();
    let lo = peaks.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = peaks.iter().copied().fold(0.0, f64::max);
    let mut notes = Vec::new();
    for kind in crate::motion::FlagKind::ALL {
        let hits: Vec<(usize, &crate::motion::Flag)> = set
            .reps
            .iter()
            .filter_map(|r| {
                r.flags
                    .iter()
                    .find(|f| f.kind == kind)
                    .map(|f| (r.number, f))
            })
            .collect();
        if hits.is_empty() {
            continue;
        }
        let nums: Vec<String> = hits.iter().map(|(n, _)| n.to_string()).collect();
        let flags: Vec<&crate::motion::Flag> = hits.iter().map(|(_, f)| *f).collect();
        notes.push(format!(
            "{} on {} {} ({})",
            kind.words(),
            if nums.len() == 1 { "rep" } else { "reps" },
            nums.join(","),
            flag_most(kind, &flags)
        ));
    }
    let (mut flag, mut good) = (super::style::FLAG, super::style::GOOD);
    if !styled {
        (flag, good) = (anstyle::Style::new(), anstyle::Style::new());
    }
    format!(
        " · {} {:.0}-{:.0}° · {:.0} s{}",
        if pelvis { "pelvis moved" } else { "range" },
        lo,
        hi,
        set.end_s - set.start_s,
        if notes.is_empty() {
            format!(" · {good}clean{good:#}")
        } else {
            format!(" · {flag}{}{flag:#}", notes.join("; "))
        }
    )
}

/// The reasons a set's count is not sure, one `check:` line each.
fn doubt_lines(set: &Set) -> String {
    if set.confidence >= crate::motion::certainty::SURE {
        return String::new();
    }
    set.doubts
        .iter()
        .map(|d| format!("\n  check: {}", d.message))
        .collect()
}
