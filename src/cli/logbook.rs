//! The logbook commands: import, review, log, next, trend, export,
//! import-log, backup, exercises.

use super::{user_error, Training};
use crate::logbook::{
    self, ExerciseInfo, ExportFormat, FlagRef, Load, LoadUnit, LogEntry, LogFilter, Logbook,
    ManualSet, NewRecording, PendingSet, ReviewActions, SensorSet, Verdict,
};
use crate::terminal::printable;
use crate::Side;
use clap::{Args, Subcommand, ValueEnum};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

/// Where the logbook is: shared by every command that touches it.
#[derive(Debug, Clone, Args)]
pub struct LogbookArg {
    /// The logbook file [default: ~/.local/share/medius/logbook.sqlite3].
    #[arg(long, global = true, env = "MEDIUS_LOGBOOK", value_name = "PATH")]
    pub logbook: Option<PathBuf>,
}

impl LogbookArg {
    /// The logbook file.
    pub fn path(&self) -> anyhow::Result<PathBuf> {
        match &self.logbook {
            Some(p) => Ok(p.clone()),
            None => logbook::default_path().ok_or_else(|| {
                user_error("no home directory to keep the logbook in: give --logbook PATH or set MEDIUS_LOGBOOK")
            }),
        }
    }

    /// Opens it to write, creating it on first use.
    pub fn open(&self) -> anyhow::Result<Logbook> {
        Ok(Logbook::open(&self.path()?)?)
    }

    /// Opens it to read: a command that only reads never creates,
    /// migrates or otherwise changes the file.
    pub fn open_read_only(&self) -> anyhow::Result<Logbook> {
        Ok(Logbook::open_read_only(&self.path()?)?)
    }
}

fn parse_load(s: &str) -> Result<Load, String> {
    Load::parse(s).map_err(|e| e.to_string())
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0 && *v <= 86_400.0)
        .ok_or_else(|| format!("'{s}' is not a number of seconds from 1 to 86400"))
}

/// Analyse a raw recording and save its sets in the logbook as pending.
///
/// The same function the daemon uses writes each set, with its reps and
/// flags, in one transaction. Prints the id of each set created; review them
/// with `medius review`.
///
/// Two sensors: give the session file (`NAME.session.json`, written by `run`
/// with two sensors and by `simulate -p both`). The ankle counts the reps,
/// the pelvis judges hip hike, pelvic drop and trunk sway over each (the
/// sets `analyze NAME.session.json` shows); both recordings are entered
/// with their SHA-256 and linked to every set, all in one transaction. The
/// exercise and side come from the session file.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  medius import session.csv -e standing-cable-abduction -p ankle -s right --load 12.5kg\n  medius import pair.session.json --load 12.5kg"
)]
pub struct ImportArgs {
    /// The raw recording (CSV), or a session file (`.json`) tying one CSV per
    /// sensor: its exercise and side are used, and every set is linked to
    /// both recordings.
    pub file: PathBuf,
    /// What was trained.
    #[command(flatten)]
    pub training: Training,
    /// The load used: 12.5kg, 25lb, 'pin 7', 'band red', 'ankle 2kg', bodyweight.
    #[arg(long, value_parser = parse_load)]
    pub load: Option<Load>,
    /// When the session was ('YYYY-MM-DD HH:MM'); default now.
    #[arg(long)]
    pub date: Option<String>,
    /// Print the created set ids as JSON.
    #[arg(long)]
    pub json: bool,
    /// Import a recording that is in the logbook already (same SHA-256)
    /// once more; without it such a file is refused (a session file: when
    /// either of its recordings is in the logbook).
    #[arg(long)]
    pub again: bool,
    /// Where the logbook is.
    #[command(flatten)]
    pub logbook: LogbookArg,
}

/// SHA-256 of a file, hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    let mut f = std::fs::File::open(path)?;
    std::io::copy(&mut f, &mut h)?;
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// A recording's samples until its first bad line, which is kept in `bad`.
fn samples_until_bad<'a>(
    path: &Path,
    bad: &'a mut Option<crate::source::csv::CsvError>,
) -> anyhow::Result<impl Iterator<Item = crate::Sample> + 'a> {
    let reader = crate::source::csv::RawReader::open(path)?;
    Ok(reader.map_while(move |r| match r {
        Ok(s) => Some(s),
        Err(e) => {
            *bad = Some(e);
            None
        }
    }))
}

/// What an import brings in: the sets (with the context they count in)
/// and each recording, the one the sets were counted from first.
struct Imported {
    context: crate::session::Context,
    sets: Vec<crate::motion::Set>,
    recordings: Vec<(NewRecording, crate::Placement)>,
}

/// A recording's entry for `import`: closed, with its SHA-256.
fn imported_recording(path: &Path, samples: u64) -> anyhow::Result<NewRecording> {
    Ok(NewRecording {
        path: std::fs::canonicalize(path)
            .unwrap_or(path.to_path_buf())
            .display()
            .to_string(),
        sha256: Some(sha256_file(path)?),
        sensor: "import".into(),
        sample_rate_hz: None,
        samples,
        samples_lost: 0,
        context: None,
        open: false,
    })
}

/// One raw CSV, in the context given on the command line.
fn import_csv(file: &Path, training: &Training, load: Option<Load>) -> anyhow::Result<Imported> {
    let pipeline = training.pipeline()?;
    let context = crate::session::Context {
        exercise: training.exercise,
        placement: training.placement,
        side: training.side,
        load,
    };
    let mut bad_line = None;
    let samples = samples_until_bad(file, &mut bad_line)?;
    // No context changes in a plain file: the builder is never asked.
    let analysed = crate::session::analyse_with(
        crate::session::Analyser::one(pipeline),
        context.clone(),
        &[],
        samples,
        super::feed::builder(None, crate::daemon::Config::default()),
    )?;
    if let Some(e) = bad_line {
        return Err(e.into());
    }
    Ok(Imported {
        context,
        sets: analysed.sets.into_iter().map(|(s, _)| s).collect(),
        recordings: vec![(
            imported_recording(file, analysed.samples)?,
            training.placement,
        )],
    })
}

/// A session file: the pair through the fused analysis (one sensor listed:
/// that file alone), in the session file's exercise and side.
fn import_session(
    path: &Path,
    training: &Training,
    load: Option<Load>,
) -> anyhow::Result<Imported> {
    use crate::source::session_file::SessionFile;
    use crate::Placement;
    let s = SessionFile::read(path)?;
    if training.profile.is_some() {
        return Err(user_error(
            "--profile holds one placement's thresholds; a session file is imported with the \
             built-in profiles (import each CSV alone with -p and --profile)",
        ));
    }
    // Every file it names is there before anything is analysed.
    let file = |role: Placement| -> anyhow::Result<Option<PathBuf>> {
        let Some(f) = s.file_path(path, role) else {
            return Ok(None);
        };
        if !f.is_file() {
            return Err(user_error(format!(
                "{}: the {role} recording {} it names is not there; keep each CSV where the \
                 session file says (paths are relative to it)",
                path.display(),
                f.display()
            )));
        }
        Ok(Some(f))
    };
    let (ankle, pelvis) = (file(Placement::Ankle)?, file(Placement::Pelvis)?);
    let (Some(ankle), Some(pelvis)) = (ankle.clone(), pelvis.clone()) else {
        // One sensor listed: that CSV, as a plain import of it.
        let (placement, csv) = match (ankle, pelvis) {
            (Some(a), _) => (Placement::Ankle, a),
            (_, Some(p)) => (Placement::Pelvis, p),
            _ => unreachable!("a session file lists a sensor"),
        };
        let one = Training {
            exercise: s.exercise,
            placement,
            side: s.side,
            profile: None,
        };
        return import_csv(&csv, &one, load);
    };
    if !crate::source::sim::two_sensor_exercise(s.exercise) {
        return Err(user_error(format!(
            "{}: {} is followed by one sensor; two at once suit standing-cable-abduction and \
             side-lying-abduction: import each CSV alone with -p",
            path.display(),
            s.exercise
        )));
    }
    let offset_s = match (s.sensor(Placement::Ankle), s.sensor(Placement::Pelvis)) {
        (Some(a), Some(p)) => p.offset_s - a.offset_s,
        _ => 0.0,
    };
    let context = crate::session::Context {
        exercise: s.exercise,
        placement: Placement::Ankle,
        side: s.side,
        load,
    };
    let first = crate::session::Analyser::fused(crate::motion::fuse::FusedPipeline::builtin(
        s.exercise, s.side,
    )?)
    .with_offset(offset_s);
    let (mut bad_a, mut bad_p) = (None, None);
    let a = samples_until_bad(&ankle, &mut bad_a)?;
    let p = samples_until_bad(&pelvis, &mut bad_p)?;
    // No context changes in a session file: the builder is never asked.
    let analysed = crate::session::analyse_pair(
        first,
        context.clone(),
        &[],
        a,
        p,
        offset_s,
        super::feed::pair_builder(crate::daemon::Config::default()),
    )?;
    if let Some(e) = bad_a.or(bad_p) {
        return Err(e.into());
    }
    let n = |i: usize| analysed.per_sensor.get(i).copied().unwrap_or(0);
    Ok(Imported {
        context,
        sets: analysed.sets.into_iter().map(|(s, _)| s).collect(),
        recordings: vec![
            (imported_recording(&ankle, n(0))?, Placement::Ankle),
            (imported_recording(&pelvis, n(1))?, Placement::Pelvis),
        ],
    })
}

/// Runs `import`.
pub fn import(a: ImportArgs) -> anyhow::Result<()> {
    // Read and analyse first (the session core's one path, as crash
    // recovery does): a bad file changes nothing in the logbook.
    let session_file = a.file.extension().is_some_and(|e| e == "json");
    let imported = if session_file {
        import_session(&a.file, &a.training, a.load.clone())?
    } else {
        import_csv(&a.file, &a.training, a.load.clone())?
    };
    let Imported {
        context,
        sets,
        recordings,
    } = imported;
    let mut lb = a.logbook.open()?;
    let exercise = context.exercise.id();
    let rows: Vec<SensorSet<'_>> = sets
        .iter()
        .map(|set| SensorSet {
            exercise,
            side: context.side,
            placement: context.placement,
            load: context.load.clone(),
            set,
            interrupted: false,
            performed_at: a.date.clone(),
            source: logbook::Source::Sensor,
        })
        .collect();
    // The recordings and all their sets in one transaction: a bad --date
    // or a kill leaves nothing; a file already in the logbook is refused.
    let ids = lb.import_recordings(&recordings, &rows, a.again)?;
    if a.json {
        say!("{}", serde_json::json!({ "set_ids": ids }));
        return Ok(());
    }
    if ids.is_empty() {
        say!("no sets found in {}; nothing saved", a.file.display());
    }
    for (id, set) in ids.iter().zip(&sets) {
        let flagged = set.reps.iter().filter(|r| !r.flags.is_empty()).count();
        say!(
            "set {id}: {} reps, {flagged} flagged — pending (review with: medius review {id})",
            set.reps.len()
        );
    }
    Ok(())
}

/// Review pending sets: confirm or dismiss each flagged rep, fix the count or
/// the load, verify or discard. Verified sets are the log.
///
/// Without SET, walks the pending sets one by one in the terminal. With SET
/// and options it is scriptable:
#[derive(Debug, Args)]
#[command(allow_negative_numbers = true)]
#[command(
    after_help = "Examples:\n  medius review                       (interactive)\n  medius review 12 --confirm 3,4 --dismiss 7 --load 15kg --verify\n  medius review 12 --confirm 9:hip_hike --dismiss all --verify\n  medius review 13 --discard"
)]
pub struct ReviewArgs {
    /// The set to review (ids come from `import`, `run` and `log --pending`).
    pub set: Option<i64>,
    /// Confirm the flags of these reps: 3,4 or 9:hip_hike or all.
    #[arg(long, value_name = "REPS")]
    pub confirm: Option<String>,
    /// Dismiss the flags of these reps: 7 or all.
    #[arg(long, value_name = "REPS")]
    pub dismiss: Option<String>,
    /// Correct the rep count.
    #[arg(long)]
    pub reps: Option<u32>,
    /// Correct the load: 15kg, 'pin 8', …
    #[arg(long, value_parser = parse_load)]
    pub load: Option<Load>,
    /// Reps in reserve at the end of the set.
    #[arg(long)]
    pub rir: Option<u32>,
    /// Write the technique notes yourself (they are no longer filled in).
    #[arg(long)]
    pub notes: Option<String>,
    /// Write the side-to-side notes yourself.
    #[arg(long)]
    pub side_notes: Option<String>,
    /// The set is right: it joins the log.
    #[arg(long, conflicts_with = "discard")]
    pub verify: bool,
    /// Throw the set away (it stays in the file as discarded).
    #[arg(long)]
    pub discard: bool,
    /// Ask in the terminal even when input is not a terminal (scripts, tests).
    #[arg(long)]
    pub interactive: bool,
    /// Print the set as JSON after the review.
    #[arg(long)]
    pub json: bool,
    /// Where the logbook is.
    #[command(flatten)]
    pub logbook: LogbookArg,
}

use crate::motion::certainty::SURE;

fn show_set(s: &PendingSet) -> String {
    let mut out = format!(
        "set {}  {}  {} {}  {}  {} reps{}{}  [{}]{}\n",
        s.id,
        s.performed_at,
        printable(&s.exercise),
        s.side.as_deref().unwrap_or(""),
        s.load
            .as_ref()
            .map(|l| l.to_string())
            .unwrap_or_else(|| "no load".into()),
        s.reps,
        s.median_peak_deg
            .map(|p| format!(", median {p:.0}°"))
            .unwrap_or_default(),
        s.confidence
            .map(|c| format!(", count {}", crate::report::certainty(c)))
            .unwrap_or_default(),
        s.state,
        match (s.interrupted, s.source.as_str()) {
            (true, "sim" | "replay") => format!(" (interrupted, {})", s.source),
            (true, _) => " (interrupted)".to_string(),
            (false, "sim" | "replay") => format!(" ({})", s.source),
            _ => String::new(),
        },
    );
    for f in &s.flags {
        // Read as words ("hip hike"; typed as hip-hike or hip_hike), each
        // in its unit: momentum in °/s, a partial rep in degrees short.
        let (kind, words) = flag_kind_words(&f.kind);
        let value = match (kind, f.rate_dps) {
            (Some(crate::motion::FlagKind::Momentum), Some(r)) => format!("{r:.0}°/s"),
            (Some(crate::motion::FlagKind::PartialRange), _) => {
                format!("{:.1}° short", f.value_deg)
            }
            _ => format!("{:.1}°", f.value_deg),
        };
        out.push_str(&format!(
            "  rep {:>2}  {:<18} {:>10}  {}\n",
            f.rep,
            printable(&words),
            value,
            f.review
        ));
    }
    if s.confidence.is_some_and(|c| c < SURE) {
        for d in &s.doubts {
            out.push_str(&format!("  check: {}\n", printable(&d.message)));
        }
    }
    // Notes are the lifter's text (or a Strong file's): shown, never obeyed.
    if !s.technique_notes.is_empty() {
        out.push_str(&format!("  technique: {}\n", printable(&s.technique_notes)));
    }
    if !s.side_notes.is_empty() {
        out.push_str(&format!("  sides: {}\n", printable(&s.side_notes)));
    }
    // With two sensors, both files: the lifter checking a count or a flag
    // knows which recording to open.
    if s.recordings.len() > 1 {
        let files: Vec<String> = s
            .recordings
            .iter()
            .map(|r| format!("{} {}", r.placement, printable(&r.path)))
            .collect();
        out.push_str(&format!("  recordings: {}\n", files.join(" · ")));
    }
    out
}

/// Runs `review`.
pub fn review(a: ReviewArgs) -> anyhow::Result<()> {
    let scripted = a.confirm.is_some()
        || a.dismiss.is_some()
        || a.reps.is_some()
        || a.load.is_some()
        || a.rir.is_some()
        || a.notes.is_some()
        || a.side_notes.is_some()
        || a.verify
        || a.discard;
    let asks = a.interactive || std::io::stdin().is_terminal();
    // Listing the pending sets only reads.
    let mut lb = if (scripted && a.set.is_some()) || asks {
        a.logbook.open()?
    } else {
        a.logbook.open_read_only()?
    };
    if scripted && a.set.is_none() {
        // Not applied to every pending set at once, and not ignored either.
        return Err(user_error(
            "--confirm, --dismiss, --reps, --load, --rir, --notes, --verify and --discard act on one \
             set: give its id (`medius review` lists the pending ones), e.g. `medius review 12 --verify`",
        ));
    }
    if let (Some(id), true) = (a.set, scripted) {
        let actions = ReviewActions {
            confirm: a
                .confirm
                .as_deref()
                .map(FlagRef::parse_list)
                .transpose()?
                .unwrap_or_default(),
            dismiss: a
                .dismiss
                .as_deref()
                .map(FlagRef::parse_list)
                .transpose()?
                .unwrap_or_default(),
            reps: a.reps,
            load: a.load.clone(),
            rir: a.rir,
            technique_notes: a.notes.clone(),
            side_notes: a.side_notes.clone(),
            verdict: if a.verify {
                Some(Verdict::Verify)
            } else if a.discard {
                Some(Verdict::Discard)
            } else {
                None
            },
        };
        let s = lb.review(id, &actions)?;
        if a.json {
            say!("{}", serde_json::to_string(&s)?);
        } else {
            show!("{}", show_set(&s));
        }
        return Ok(());
    }
    let sets = match a.set {
        Some(id) => vec![lb.set(id)?],
        None => lb.pending_sets()?,
    };
    if sets.is_empty() {
        say!("nothing to review: no pending sets");
        return Ok(());
    }
    if !asks {
        if a.json {
            // One set asked for: the object; otherwise the list.
            match a.set {
                Some(_) => say!("{}", serde_json::to_string(&sets[0])?),
                None => say!("{}", serde_json::to_string(&sets)?),
            }
            return Ok(());
        }
        for s in &sets {
            show!("{}", show_set(s));
        }
        say!("review one with: medius review SET --confirm REPS --dismiss REPS --verify");
        return Ok(());
    }
    interactive(&mut lb, sets)
}

/// Asks the questions of an interactive review: through dialoguer when
/// stdin and stdout are a terminal (line editing, the default shown in
/// brackets), as plain lines otherwise (`--interactive` fed by a script).
struct Prompter {
    tty: bool,
    input: std::io::StdinLock<'static>,
}

/// One answer: text (the default when left empty), or `q` / end of input.
enum Answer<T> {
    Given(T),
    Quit,
}

impl Prompter {
    fn new() -> Self {
        Prompter {
            tty: std::io::stdin().is_terminal() && std::io::stdout().is_terminal(),
            input: std::io::stdin().lock(),
        }
    }

    /// The raw answer, trimmed; `None` at the end of the input.
    fn line(&mut self, prompt: &str, default: &str) -> anyhow::Result<Option<String>> {
        if self.tty {
            let got = dialoguer::Input::<String>::new()
                .with_prompt(prompt)
                .default(default.to_string())
                .show_default(!default.is_empty())
                .allow_empty(true)
                .interact_text();
            return match got {
                Ok(t) => Ok(Some(t.trim().to_string())),
                Err(dialoguer::Error::IO(e)) if e.kind() == std::io::ErrorKind::Interrupted => {
                    Ok(None)
                }
                Err(e) => Err(e.into()),
            };
        }
        if default.is_empty() {
            show!("{prompt}: ");
        } else {
            show!("{prompt} [{default}]: ");
        }
        let mut line = String::new();
        if self.input.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let t = line.trim();
        Ok(Some(if t.is_empty() { default } else { t }.to_string()))
    }

    /// Asks until the answer parses; `q` (or the end of the input) quits.
    /// A bad answer is said with what would work, and asked again.
    fn ask<T>(
        &mut self,
        prompt: &str,
        default: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> anyhow::Result<Answer<T>> {
        loop {
            let Some(ans) = self.line(prompt, default)? else {
                return Ok(Answer::Quit);
            };
            if ans == "q" || ans == "quit" {
                return Ok(Answer::Quit);
            }
            match parse(&ans) {
                Ok(v) => return Ok(Answer::Given(v)),
                Err(why) => say!("  {why}"),
            }
        }
    }
}

/// A flag's decision at review.
#[derive(Clone, Copy, PartialEq)]
enum Decision {
    Confirm,
    Dismiss,
    Skip,
}

fn decision(allow_skip: bool) -> impl Fn(&str) -> Result<Decision, String> {
    move |a: &str| match a {
        "c" | "confirm" => Ok(Decision::Confirm),
        "d" | "dismiss" => Ok(Decision::Dismiss),
        "s" | "skip" if allow_skip => Ok(Decision::Skip),
        _ if allow_skip => Err(format!(
            "'{a}': answer c (confirm), d (dismiss), s (skip) or q (quit)"
        )),
        _ => Err(format!(
            "'{a}': answer c (confirm) or d (dismiss) to verify the set, or q (quit)"
        )),
    }
}

fn count(a: &str) -> Result<u32, String> {
    a.parse::<u32>()
        .ok()
        .filter(|n| *n <= 1000)
        .ok_or_else(|| format!("'{a}' is not a rep count: write a whole number, e.g. 12"))
}

/// The words of a flag kind ("hip hike"), from its contract id.
fn flag_kind_words(id: &str) -> (Option<crate::motion::FlagKind>, String) {
    let kind = crate::motion::FlagKind::ALL
        .into_iter()
        .find(|k| k.id() == id);
    (
        kind,
        kind.map_or_else(|| id.replace('_', " "), |k| k.words().to_string()),
    )
}

fn interactive(lb: &mut Logbook, sets: Vec<PendingSet>) -> anyhow::Result<()> {
    let mut ask = Prompter::new();
    let total = sets.len();
    say!("q at any question stops; what you answered for the set in hand is kept, and it stays pending");
    for (i, s) in sets.into_iter().enumerate() {
        say!("\n({}/{total}) {}", i + 1, show_set(&s).trim_end());
        let mut actions = ReviewActions::default();
        let mut quit = false;
        // Each open flag's answer, so a skipped one can be asked again.
        let mut decided: Vec<(
            u32,
            Option<crate::motion::FlagKind>,
            String,
            String,
            Decision,
        )> = Vec::new();
        let reps_now = s.reps.to_string();
        // A count medius is not sure of is settled first: the flags hang
        // on the reps.
        let doubtful = s.confidence.is_some_and(|c| c < SURE) && !s.doubts.is_empty();
        'questions: {
            if doubtful {
                match ask.ask("  the count may be off (see above): reps", &reps_now, count)? {
                    Answer::Given(n) => actions.reps = (n != s.reps).then_some(n),
                    Answer::Quit => {
                        quit = true;
                        break 'questions;
                    }
                }
            }
            for f in s.flags.iter().filter(|f| f.review == "open") {
                let (kind, words) = flag_kind_words(&f.kind);
                let value = match (kind, f.rate_dps) {
                    (Some(crate::motion::FlagKind::Momentum), Some(r)) => format!("{r:.0}°/s"),
                    (Some(crate::motion::FlagKind::PartialRange), _) => {
                        format!("{:.1}° short", f.value_deg)
                    }
                    _ => format!("{:.1}°", f.value_deg),
                };
                let prompt = format!(
                    "  rep {} {} {value}: c(onfirm), d(ismiss), s(kip), q(uit)",
                    f.rep, words
                );
                match ask.ask(&prompt, "s", decision(true))? {
                    Answer::Given(d) => decided.push((f.rep, kind, words, value, d)),
                    Answer::Quit => {
                        quit = true;
                        break 'questions;
                    }
                }
            }
            if !doubtful {
                match ask.ask("  reps", &reps_now, count)? {
                    Answer::Given(n) => actions.reps = (n != s.reps).then_some(n),
                    Answer::Quit => {
                        quit = true;
                        break 'questions;
                    }
                }
            }
            let shown = s
                .load
                .as_ref()
                .map(|l| l.to_string())
                .unwrap_or_else(|| "none".into());
            let current = shown.clone();
            let load = move |a: &str| -> Result<Option<Load>, String> {
                if a == current {
                    return Ok(None);
                }
                // The parser's message says what would work.
                Load::parse(a).map(Some).map_err(|e| e.to_string())
            };
            match ask.ask("  load", &shown, load)? {
                Answer::Given(l) => actions.load = l,
                Answer::Quit => {
                    quit = true;
                    break 'questions;
                }
            }
            let rir = |a: &str| -> Result<Option<u32>, String> {
                if a == "none" || a == "-" {
                    return Ok(None);
                }
                a.parse::<u32>()
                    .ok()
                    .filter(|n| *n <= 10)
                    .map(Some)
                    .ok_or_else(|| format!("'{a}': reps in reserve are 0 to 10 (or none)"))
            };
            match ask.ask("  reps in reserve (RIR, 0-10)", "none", rir)? {
                Answer::Given(r) => actions.rir = r,
                Answer::Quit => {
                    quit = true;
                    break 'questions;
                }
            }
            let verdict = |a: &str| match a {
                "v" | "verify" => Ok(Some(Verdict::Verify)),
                "d" | "discard" => Ok(Some(Verdict::Discard)),
                "l" | "leave" => Ok(None),
                _ => Err(format!(
                    "'{a}': answer v (verify), d (discard), l (leave pending) or q (quit)"
                )),
            };
            match ask.ask("  v(erify), d(iscard), l(eave pending)", "l", verdict)? {
                Answer::Given(v) => actions.verdict = v,
                Answer::Quit => {
                    quit = true;
                    break 'questions;
                }
            }
            // A set is verified with every flag decided: a skipped one is
            // asked again rather than the whole review refused.
            if actions.verdict == Some(Verdict::Verify) {
                for d in decided.iter_mut().filter(|d| d.4 == Decision::Skip) {
                    let prompt = format!(
                        "  to verify, rep {} {} {}: c(onfirm) or d(ismiss)",
                        d.0, d.2, d.3
                    );
                    match ask.ask(&prompt, "", decision(false))? {
                        Answer::Given(x) => d.4 = x,
                        Answer::Quit => {
                            quit = true;
                            actions.verdict = None;
                            break 'questions;
                        }
                    }
                }
            }
        }
        for (rep, kind, _, _, d) in &decided {
            match d {
                Decision::Confirm => actions.confirm.push(FlagRef::Rep(*rep, *kind)),
                Decision::Dismiss => actions.dismiss.push(FlagRef::Rep(*rep, *kind)),
                Decision::Skip => {}
            }
        }
        match lb.review(s.id, &actions) {
            Ok(after) => say!("  → set {} {}", after.id, after.state),
            Err(e) if e.is_user_error() => say!("  not saved: {e}"),
            Err(e) => return Err(e.into()),
        }
        if quit {
            say!("stopped: the sets after this one are still pending");
            break;
        }
    }
    Ok(())
}

/// The log: verified and hand-entered sets, newest first.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  medius log --since 6w\n  medius log --exercise hip-hitch --json\n  medius log --pending\n  medius log add -e clamshell --reps 20 --load 'band red'"
)]
#[command(args_conflicts_with_subcommands = true)]
pub struct LogArgs {
    /// Add a set by hand.
    #[command(subcommand)]
    pub add: Option<LogCommand>,
    /// Only this exercise.
    #[arg(short, long)]
    pub exercise: Option<String>,
    /// Only since: 6w, 10d, 3m or a date (2026-10-01).
    #[arg(long)]
    pub since: Option<String>,
    /// The pending sets (not yet reviewed) instead of the log.
    #[arg(long)]
    pub pending: bool,
    /// Also the sets of the simulator and of replayed recordings.
    #[arg(long)]
    pub include_sim: bool,
    /// JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Where the logbook is.
    #[command(flatten)]
    pub logbook: LogbookArg,
}

/// `log` subcommands.
#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Add a set done without the sensor (verified at once).
    Add(LogAddArgs),
}

/// A set typed in by hand.
#[derive(Debug, Args)]
#[command(allow_negative_numbers = true)]
#[command(
    after_help = "Examples:\n  medius log add -e clamshell --reps 20 --load 'band red'\n  medius log add -e hip-hitch -s left --reps 12 --load bodyweight --rir 2 --date 2026-11-20"
)]
pub struct LogAddArgs {
    /// Exercise id (`medius exercises` lists them).
    #[arg(short, long)]
    pub exercise: String,
    /// Side: left or right (leave out for both sides at once).
    #[arg(short, long, value_enum)]
    pub side: Option<Side>,
    /// Reps done.
    #[arg(long, required_unless_present = "seconds")]
    pub reps: Option<u32>,
    /// A timed set (a plank): seconds held.
    #[arg(long, value_parser = parse_seconds)]
    pub seconds: Option<f64>,
    /// Load: 12.5kg, 25lb, 'pin 7', 'band red', 'ankle 2kg', bodyweight.
    #[arg(long, value_parser = parse_load)]
    pub load: Option<Load>,
    /// Reps in reserve.
    #[arg(long)]
    pub rir: Option<u32>,
    /// Tempo, e.g. 2-1-3.
    #[arg(long)]
    pub tempo: Option<String>,
    /// Variation, free text.
    #[arg(long, default_value = "")]
    pub variation: String,
    /// Notes.
    #[arg(long, default_value = "")]
    pub notes: String,
    /// When ('YYYY-MM-DD' or 'YYYY-MM-DD HH:MM'); default now.
    #[arg(long)]
    pub date: Option<String>,
    /// Where the logbook is.
    #[command(flatten)]
    pub logbook: LogbookArg,
}

/// The log as a table: one row per set. Piped or on a wide terminal the
/// notes are the last column (one line per set, for grep); on a narrower
/// terminal they go under their set, wrapped to its width, so the numbers
/// stay in columns at 80.
fn log_table(rows: &[LogEntry]) -> String {
    use crate::terminal::{render, right, table, width};
    let narrow = width().filter(|w| *w < 140);
    let mut header = vec![
        "#", "date", "exercise", "side", "load", "reps", "RIR", "peak", "flags",
    ];
    if narrow.is_none() {
        header.push("notes");
    }
    let mut t = table(&header);
    let mut notes_of = Vec::new();
    for e in rows {
        let mut notes = e.technique_notes.clone();
        if !e.side_notes.is_empty() {
            if !notes.is_empty() {
                notes.push_str(" | ");
            }
            notes.push_str(&e.side_notes);
        }
        // Notes may hold anything typed or imported: escape sequences
        // and line breaks are shown, never obeyed by the terminal.
        let notes = printable(&notes).into_owned();
        let dash = || "–".to_string();
        let mut row = vec![
            e.id.to_string(),
            // Date and local time; below 100 columns the date alone.
            e.performed_at
                .get(
                    ..if narrow.is_some_and(|w| w < 100) {
                        10
                    } else {
                        16
                    },
                )
                .unwrap_or(&e.performed_at)
                .to_string(),
            printable(&e.exercise).into_owned(),
            e.side.clone().unwrap_or_else(dash),
            e.load.as_ref().map(|l| l.to_string()).unwrap_or_else(dash),
            match e.duration_s {
                Some(d) if e.reps == 0 => format!("{d:.0}s"),
                _ => e.reps.to_string(),
            },
            e.rir.map(|r| r.to_string()).unwrap_or_else(dash),
            e.median_peak_deg
                .map(|p| format!("{p:.0}°"))
                .unwrap_or_else(dash),
            if e.flagged_reps == 0 {
                dash()
            } else {
                e.flagged_reps.to_string()
            },
        ];
        if narrow.is_none() {
            row.push(notes);
        } else {
            notes_of.push(notes);
        }
        t.add_row(row);
    }
    right(&mut t, &[0, 4, 5, 6, 7, 8]);
    let Some(w) = narrow else {
        return render(&t);
    };
    // The rows stay one line each; each set's notes follow it.
    t.set_content_arrangement(comfy_table::ContentArrangement::Disabled);
    let table = render(&t);
    let mut lines = table.lines();
    let mut out = String::new();
    for l in lines.by_ref().take(2) {
        out.push_str(l);
        out.push('\n');
    }
    for (row, notes) in lines.zip(notes_of) {
        out.push_str(row);
        out.push('\n');
        for l in wrap(&notes, usize::from(w).saturating_sub(6).max(20)) {
            out.push_str("      ");
            out.push_str(&l);
            out.push('\n');
        }
    }
    out
}

/// Words into lines of at most `width` characters (a longer word alone).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Runs `log`.
pub fn log(a: LogArgs) -> anyhow::Result<()> {
    if let Some(LogCommand::Add(add)) = a.add {
        let mut lb = add.logbook.open()?;
        let id = lb
            .write_manual_set(&ManualSet {
                exercise: add.exercise,
                side: add.side,
                load: add.load,
                reps: add.reps.unwrap_or(0),
                duration_s: add.seconds,
                rir: add.rir,
                tempo: add.tempo,
                variation: add.variation,
                notes: add.notes,
                performed_at: add.date,
                ..ManualSet::default()
            })?
            .expect("no import key, never a duplicate");
        say!("set {id} added to the log");
        return Ok(());
    }
    let lb = a.logbook.open_read_only()?;
    let since = a
        .since
        .as_deref()
        .map(|s| logbook::parse_since(&lb, s))
        .transpose()?;
    let rows = lb.log(&LogFilter {
        exercise: a.exercise,
        since,
        pending: a.pending,
        include_sim: a.include_sim,
    })?;
    if a.json {
        say!("{}", serde_json::to_string(&rows)?);
    } else if rows.is_empty() {
        say!(
            "{}",
            if a.pending {
                "no pending sets"
            } else {
                "no sets in the log yet: verify sets with `medius review` or add one with `medius log add`"
            }
        );
    } else {
        show!("{}", log_table(&rows));
    }
    Ok(())
}

/// Today's targets: per exercise and side, from the last verified sets.
///
/// Rules (docs/training.md): top of the rep range with clean form → add the smallest
/// load step; a step too large for the load → keep it and make the reps
/// harder first; confirmed compensation → hold the load and clean up, reduce
/// it if it persists.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  medius next\n  medius next -e hip-hitch --json")]
pub struct NextArgs {
    /// Only this exercise.
    #[arg(short, long)]
    pub exercise: Option<String>,
    /// Also from the sets of the simulator and of replayed recordings.
    #[arg(long)]
    pub include_sim: bool,
    /// JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Where the logbook is.
    #[command(flatten)]
    pub logbook: LogbookArg,
}

/// Runs `next`.
pub fn next(a: NextArgs) -> anyhow::Result<()> {
    let lb = a.logbook.open_read_only()?;
    let mut targets = lb.targets(a.include_sim)?;
    if let Some(e) = &a.exercise {
        lb.exercise(e)?;
        targets.retain(|t| &t.exercise == e);
    }
    if a.json {
        say!("{}", serde_json::to_string(&targets)?);
        return Ok(());
    }
    if targets.is_empty() {
        say!(
            "no verified sets in the last 6 weeks: train, then `medius review` to verify the sets"
        );
        return Ok(());
    }
    for t in targets {
        say!(
            "{} {}: {}\n    last {}: {} × {} — {}",
            printable(&t.exercise),
            t.side.as_deref().unwrap_or(""),
            t.target,
            t.last_date.get(..10).unwrap_or(""),
            t.last_load
                .as_ref()
                .map(|l| l.to_string())
                .unwrap_or_else(|| "no load".into()),
            t.last_reps,
            t.why
        );
    }
    Ok(())
}

/// Weekly trend of one exercise: reps at the same load, top load,
/// compensation rate, left/right difference.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  medius trend -e standing-cable-abduction --weeks 6\n  medius trend -e hip-hitch --svg hip-hitch.svg"
)]
pub struct TrendArgs {
    /// Exercise id.
    #[arg(short, long)]
    pub exercise: String,
    /// How many weeks back.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=104))]
    pub weeks: u32,
    /// JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also draw the trend as an SVG chart.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Also the sets of the simulator and of replayed recordings.
    #[arg(long)]
    pub include_sim: bool,
    /// Where the logbook is.
    #[command(flatten)]
    pub logbook: LogbookArg,
}

/// Runs `trend`.
pub fn trend(a: TrendArgs) -> anyhow::Result<()> {
    let lb = a.logbook.open_read_only()?;
    let weeks = lb.trend(&a.exercise, a.weeks, a.include_sim)?;
    if let Some(path) = &a.svg {
        super::chart::trend_svg(path, &a.exercise, &weeks)?;
        esay!("chart written to {}", path.display());
    }
    if a.json {
        say!("{}", serde_json::to_string(&weeks)?);
        return Ok(());
    }
    if weeks.is_empty() {
        say!(
            "no verified {} sets in the last {} weeks",
            a.exercise,
            a.weeks
        );
        return Ok(());
    }
    let mut t = crate::terminal::table(&[
        "week of",
        "side",
        "sets",
        "top load",
        "reps at usual load",
        "compensation",
        "L/R diff",
    ]);
    let dash = || "–".to_string();
    for w in &weeks {
        t.add_row(vec![
            w.week.clone(),
            w.side.clone().unwrap_or_else(dash),
            w.sets.to_string(),
            w.top_load
                .as_ref()
                .map(|l| l.to_string())
                .unwrap_or_else(dash),
            w.reps_at_ref_load
                .map(|r| r.to_string())
                .unwrap_or_else(dash),
            format!("{:.0} %", w.compensation_rate * 100.0),
            w.side_difference
                .map(|d| format!("{d:+}"))
                .unwrap_or_else(dash),
        ]);
    }
    crate::terminal::right(&mut t, &[2, 3, 4, 5, 6]);
    show!("{}", crate::terminal::render(&t));
    Ok(())
}

/// Export formats on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// Strong's CSV (opens in Strong and spreadsheets).
    Strong,
    /// Hevy's CSV.
    Hevy,
    /// Every field as JSON (reps and flags too; `import-log json` reads it back).
    Json,
    /// Garmin FIT: one strength-training activity per session (needs -o).
    Fit,
}

/// Write the log in a format other apps read: one workout per session
/// (one start, one duration); simulated and replayed sets only with
/// --include-sim. `import-log` reads Strong, Hevy and JSON exports back.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  medius export --format strong -o medius-strong.csv\n  medius export --format fit -o medius.fit      # Garmin Connect"
)]
pub struct ExportArgs {
    /// strong, hevy, json or fit.
    #[arg(long, value_enum)]
    pub format: FormatArg,
    /// Write to this file instead of standard output.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Also the sets of the simulator and of replayed recordings.
    #[arg(long)]
    pub include_sim: bool,
    /// Only the sessions that started since: 6w, 10d, 3m or a date
    /// (e.g. the last session alone for Garmin Connect: --since 1d).
    #[arg(long)]
    pub since: Option<String>,
    /// Where the logbook is.
    #[command(flatten)]
    pub logbook: LogbookArg,
}

/// Runs `export`.
pub fn export(a: ExportArgs) -> anyhow::Result<()> {
    let lb = a.logbook.open_read_only()?;
    let format = match a.format {
        FormatArg::Strong => ExportFormat::Strong,
        FormatArg::Hevy => ExportFormat::Hevy,
        FormatArg::Json => ExportFormat::Json,
        FormatArg::Fit => ExportFormat::Fit,
    };
    let since = a
        .since
        .as_deref()
        .map(|s| logbook::parse_since(&lb, s))
        .transpose()?;
    if matches!(format, ExportFormat::Fit) && a.output.is_none() {
        return Err(user_error(
            "a FIT file is binary: give the file to write, e.g. `medius export --format fit -o medius.fit`",
        ));
    }
    match &a.output {
        Some(path) => {
            // Write beside, then rename: an interrupted export leaves no
            // half file. The file beside is a new one of our own (it used to
            // be X.part, truncated and removed whoever's it was).
            let (tmp, file) = new_file_beside(path)
                .map_err(|e| user_error(format!("cannot write beside {}: {e}", path.display())))?;
            let written = (|| -> anyhow::Result<usize> {
                let mut f = std::io::BufWriter::new(file);
                let n = lb.export(format, a.include_sim, since.as_deref(), &mut f)?;
                f.flush()?;
                f.get_ref().sync_all()?;
                drop(f);
                std::fs::rename(&tmp, path)
                    .map_err(|e| user_error(format!("cannot write {}: {e}", path.display())))?;
                Ok(n)
            })();
            let n = match written {
                Ok(n) => n,
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(e);
                }
            };
            esay!("{n} sets written to {}", path.display());
        }
        None => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            lb.export(format, a.include_sim, since.as_deref(), &mut out)?;
        }
    }
    Ok(())
}

/// A new file in `path`'s folder, hidden and named after it, that did not
/// exist before: `.NAME.PID-N.part`.
fn new_file_beside(path: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "export".into());
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    for n in 0..100 {
        let tmp = dir.join(format!(".{name}.{}-{n}.part", std::process::id()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        "every name for the file beside it is taken",
    ))
}

/// Bring a history from another app into the log: Strong's CSV (either
/// layout), Hevy's CSV, or medius' own JSON export. Rows already in the
/// log (imported before, or written by this logbook's own export) are not
/// added again.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  medius import-log strong strong-export.csv --unit kg\n  medius import-log hevy workouts.csv"
)]
pub struct ImportLogArgs {
    /// Which app the file comes from: strong or hevy (their CSV exports,
    /// medius' own too), or json (medius' JSON export).
    #[arg(value_parser = ["strong", "hevy", "json"])]
    pub app: String,
    /// The app's export.
    pub file: PathBuf,
    /// Unit of a Strong file's Weight column when it has no Weight Unit column: kg or lb.
    #[arg(long, default_value = "kg", value_parser = ["kg", "lb"])]
    pub unit: String,
    /// Where the logbook is.
    #[command(flatten)]
    pub logbook: LogbookArg,
}

/// Runs `import-log`.
pub fn import_log(a: ImportLogArgs) -> anyhow::Result<()> {
    let unit = if a.unit == "lb" {
        LoadUnit::Lb
    } else {
        LoadUnit::Kg
    };
    // Read and checked first: a bad file creates no logbook and opens none
    // for writing.
    let app = match a.app.as_str() {
        "hevy" => logbook::App::Hevy,
        "json" => logbook::App::Json,
        _ => logbook::App::Strong,
    };
    let file = a
        .logbook
        .open_read_only()?
        .read_history(app, &a.file, unit)?;
    let s = a.logbook.open()?.save_strong(file)?;
    tell!(
        "{} added{}, {} already in the log, {} skipped (no reps and no time: cardio, rest timers){}",
        crate::terminal::plural(s.added as i64, "set", "sets"),
        if s.timed > 0 {
            format!(" ({} timed)", s.timed)
        } else {
            String::new()
        },
        s.already_there,
        crate::terminal::plural(s.skipped as i64, "row", "rows"),
        if s.new_exercises.is_empty() {
            String::new()
        } else {
            format!("; new exercises: {}", s.new_exercises.join(", "))
        }
    );
    Ok(())
}

/// Copy the logbook with SQLite's online backup (safe while `run` writes).
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  medius backup ~/medius-2026-11-23.sqlite3\n  medius backup ~/backups/              # a new dated file in that folder"
)]
pub struct BackupArgs {
    /// The new file (never overwritten), or a folder: a new
    /// medius-YYYYMMDD-HHMMSS.sqlite3 in it.
    pub path: PathBuf,
    /// Where the logbook is.
    #[command(flatten)]
    pub logbook: LogbookArg,
}

/// Runs `backup`.
pub fn backup(a: BackupArgs) -> anyhow::Result<()> {
    let from = a.logbook.path()?;
    if !from.exists() {
        return Err(user_error(format!(
            "no logbook at {} yet: nothing to back up",
            from.display()
        )));
    }
    // `backup DIR` or `backup DIR/`: a new file in that folder, named by
    // the time (never over one that exists).
    let trailing_slash = a.path.as_os_str().as_encoded_bytes().ends_with(b"/");
    let dest = if a.path.is_dir() || trailing_slash {
        if !a.path.is_dir() {
            return Err(user_error(format!(
                "backup {}: the folder does not exist; make it first (mkdir -p)",
                a.path.display()
            )));
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        a.path.join(format!(
            "medius-{}.sqlite3",
            crate::daemon::stamp(now.as_secs())
        ))
    } else {
        a.path.clone()
    };
    let lb = a.logbook.open_read_only()?;
    lb.backup(&dest)?;
    tell!("logbook copied to {}", dest.display());
    Ok(())
}

/// The exercise catalog; `exercises add` extends it.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
#[command(
    after_help = "Examples:\n  medius exercises\n  medius exercises add cable-kickback --name 'Cable kickback' --reps 8-12 --step 2.5kg"
)]
pub struct ExercisesArgs {
    /// Add an exercise.
    #[command(subcommand)]
    pub add: Option<ExercisesCommand>,
    /// JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Where the logbook is.
    #[command(flatten)]
    pub logbook: LogbookArg,
}

/// `exercises` subcommands.
#[derive(Debug, Subcommand)]
pub enum ExercisesCommand {
    /// Add an exercise to the catalog.
    Add(ExerciseAddArgs),
}

/// A new exercise.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  medius exercises add cable-kickback --name 'Cable kickback' --reps 8-12 --step 2.5kg"
)]
pub struct ExerciseAddArgs {
    /// Id: lowercase letters, digits, dashes (e.g. cable-kickback).
    pub id: String,
    /// Display name.
    #[arg(long)]
    pub name: String,
    /// Rep range, e.g. 10-20.
    #[arg(long, default_value = "10-20")]
    pub reps: String,
    /// Smallest load step, e.g. 2.5kg or 'pin 1'.
    #[arg(long, value_parser = parse_load)]
    pub step: Option<Load>,
    /// Where the logbook is.
    #[command(flatten)]
    pub logbook: LogbookArg,
}

/// Runs `exercises`.
pub fn exercises(a: ExercisesArgs) -> anyhow::Result<()> {
    if let Some(ExercisesCommand::Add(add)) = a.add {
        let lb = add.logbook.open()?;
        let (lo, hi) = add
            .reps
            .split_once('-')
            .and_then(|(l, h)| Some((l.trim().parse().ok()?, h.trim().parse().ok()?)))
            .ok_or_else(|| {
                user_error(format!("--reps '{}': write a range like 10-20", add.reps))
            })?;
        lb.add_exercise(&ExerciseInfo {
            id: add.id.clone(),
            name: add.name,
            counted_from: String::new(),
            rep_min: lo,
            rep_max: hi,
            load_step: add.step,
            builtin: false,
        })?;
        say!("exercise {} added", add.id);
        return Ok(());
    }
    let lb = a.logbook.open_read_only()?;
    let list = lb.exercises()?;
    if a.json {
        say!("{}", serde_json::to_string(&list)?);
        return Ok(());
    }
    let mut t = crate::terminal::table(&["exercise", "name", "reps", "load step", "counted"]);
    for e in list {
        t.add_row(vec![
            printable(&e.id).into_owned(),
            printable(&e.name).into_owned(),
            format!("{}–{}", e.rep_min, e.rep_max),
            e.load_step
                .map(|l| l.to_string())
                .unwrap_or_else(|| "–".into()),
            if e.counted_from.is_empty() {
                "by hand".to_string()
            } else {
                format!("sensor: {}", e.counted_from)
            },
        ]);
    }
    crate::terminal::right(&mut t, &[2, 3]);
    show!("{}", crate::terminal::render(&t));
    Ok(())
}
