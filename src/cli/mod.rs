//! The command line: one module per subcommand (clap derive).
//!
//! Errors: anything that is the user's to fix (a bad file, an unknown
//! exercise, a profile out of range) is a [`UserError`] or a library error
//! that `main` maps to exit code 2 with one line; everything else exits 1.

/// Prints a line to stdout; a closed stdout (the terminal went away, a pipe
/// reader quit: `medius log | head -1`) must not stop a session nor panic,
/// so errors are ignored. Styles (see [`style`]) go through anstream: shown
/// on a terminal, stripped in a pipe, under `NO_COLOR` or `--color never`.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(anstream::stdout(), $($t)*);
    }};
}

/// [`say!`] without the line break.
macro_rules! show {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let mut out = anstream::stdout();
        let _ = write!(out, $($t)*);
        let _ = out.flush();
    }};
}

/// A line that reports progress rather than results ("saved as set 4",
/// "watching"): silent under `-q`, which prints errors only.
macro_rules! tell {
    ($($t:tt)*) => {{
        if !$crate::cli::quiet() {
            say!($($t)*);
        }
    }};
}

/// [`tell!`] on stderr: what medius is doing ("replaying FILE"), silent
/// under `-q`.
macro_rules! etell {
    ($($t:tt)*) => {{
        if !$crate::cli::quiet() {
            esay!($($t)*);
        }
    }};
}

/// [`show!`] on stderr (a progress line redrawn in place).
macro_rules! eshow {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let mut out = anstream::stderr();
        let _ = write!(out, $($t)*);
        let _ = out.flush();
    }};
}

/// The same for stderr.
macro_rules! esay {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(anstream::stderr(), $($t)*);
    }};
}

pub mod accuracy;
pub mod analyze;
pub mod calibrate;
mod chart;
pub mod daemon;
mod feed;
mod keep;
mod live;
mod live_ble;
pub mod logbook;
pub mod profile;
pub mod run;
pub mod scan;
pub mod shell;
pub mod simulate;

use crate::{Exercise, Placement, Side};
use clap::{Args, Parser, Subcommand};
use std::sync::atomic::{AtomicBool, Ordering};

static QUIET: AtomicBool = AtomicBool::new(false);

/// `-q`: print errors only.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// True under `-q`.
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// The colour asked for with `--color WHEN` (the last one given), found
/// before clap parses the rest, so that clap's own errors obey it too.
/// `auto` (the default) colours a terminal only, and not under `NO_COLOR`.
pub fn color_choice<I: IntoIterator<Item = std::ffi::OsString>>(args: I) -> anstream::ColorChoice {
    let mut choice = anstream::ColorChoice::Auto;
    let mut next_is_value = false;
    for arg in args.into_iter().skip(1) {
        let arg = arg.to_string_lossy().into_owned();
        if arg == "--" {
            break;
        }
        let value = if next_is_value {
            next_is_value = false;
            Some(arg.as_str())
        } else if arg == "--color" {
            next_is_value = true;
            None
        } else {
            arg.strip_prefix("--color=")
        };
        match value {
            Some("always") => choice = anstream::ColorChoice::Always,
            Some("never") => choice = anstream::ColorChoice::Never,
            Some("auto") => choice = anstream::ColorChoice::Auto,
            _ => {}
        }
    }
    choice
}

/// True when stderr is coloured (for the log lines of `-v`).
pub fn colour_on_stderr() -> bool {
    anstream::AutoStream::choice(&std::io::stderr()) != anstream::ColorChoice::Never
}

/// Writes text as it is to stderr (clap's rendered error).
pub fn write_err(text: &str) {
    use std::io::Write as _;
    let _ = write!(anstream::stderr(), "{text}");
}

/// Prints an error: `medius: what, where, what to do`, its control
/// characters shown as escapes.
pub fn report_error(msg: &str) {
    let s = style::ERROR;
    esay!("{s}medius:{s:#} {}", crate::terminal::printable(msg));
}

/// An error and its causes on one line, each said once: a cause whose text
/// the outer message already quotes ("cannot read x: No such file or
/// directory" over the io error itself) is not repeated.
pub fn error_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        let text = text.trim();
        if text.is_empty() || parts.iter().any(|p| p.contains(text)) {
            continue;
        }
        parts.push(text.to_string());
    }
    parts.join(": ")
}

/// The styles medius prints with; anstream drops them where colour is off.
pub mod style {
    use anstyle::{AnsiColor, Style};

    /// "medius:" before an error.
    pub const ERROR: Style = AnsiColor::Red.on_default().bold();
    /// A compensation flag on a rep line.
    pub const FLAG: Style = AnsiColor::Yellow.on_default().bold();
    /// A rep count, readable from the stack.
    pub const COUNT: Style = Style::new().bold();
    /// A set saved, a rep without flags.
    pub const GOOD: Style = AnsiColor::Green.on_default();
    /// Something to check (a count not sure, samples lost).
    pub const WARN: Style = AnsiColor::Yellow.on_default();
    /// A heading.
    pub const HEAD: Style = Style::new().bold().underline();
}

/// An error the user can fix: exit code 2, one line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UserError(pub String);

/// Shorthand for a [`UserError`] as an `anyhow::Error`.
pub fn user_error(msg: impl Into<String>) -> anyhow::Error {
    UserError(msg.into()).into()
}

/// True when the error is the user's to fix (exit code 2).
pub fn is_user_error(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.is::<UserError>()
            || c.is::<crate::source::csv::CsvError>()
            || c.is::<crate::motion::profile::ProfileError>()
            || c.downcast_ref::<crate::logbook::LogbookError>()
                .is_some_and(|e| e.is_user_error())
            || c.is::<crate::daemon::ConfigError>()
            || c.downcast_ref::<crate::source::session_file::SessionFileError>()
                .is_some_and(|e| {
                    !matches!(
                        e,
                        crate::source::session_file::SessionFileError::Write { .. }
                    )
                })
            || c.downcast_ref::<crate::source::ble::BleError>()
                .is_some_and(|e| e.is_user_error())
    })
}

/// medius counts gluteus medius reps and flags compensation from one motion sensor.
///
/// Strap the sensor to the ankle of the working leg (any orientation) or clip
/// it over the sacrum (+X right, +Y up, +Z back), train, and medius counts
/// each rep, measures its range and flags hip hike, pelvic drop, trunk sway,
/// momentum, partial range and hip-flexion drift.
///
/// Start with the simulated sensor:  medius run --sensor sim
#[derive(Debug, Parser)]
#[command(name = "medius", version, propagate_version = true, after_help = TOP_AFTER_HELP)]
pub struct Cli {
    /// More log output (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print errors only.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Colour: auto (a terminal, unless NO_COLOR is set), always or never.
    #[arg(long, global = true, value_name = "WHEN", default_value = "auto")]
    pub color: clap::ColorChoice,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Watch a session live: count reps and flag them as they happen.
    Run(run::RunArgs),
    /// List nearby Bluetooth sensors medius can read.
    Scan(scan::ScanArgs),
    /// What a running `medius run` is doing.
    Status(daemon::StatusArgs),
    /// End a running session cleanly.
    Stop(daemon::StopArgs),
    /// The config file: init, show, path.
    Config(daemon::ConfigArgs),
    /// Calibrate to you: a still stand and three slow reps make your own profile.
    Calibrate(calibrate::CalibrateArgs),
    /// Count reps and flag compensation in a raw recording (CSV).
    Analyze(analyze::AnalyzeArgs),
    /// Write a realistic simulated recording and its ground truth.
    Simulate(simulate::SimulateArgs),
    /// Score the counter and the flags on a corpus of simulated sessions.
    Accuracy(accuracy::AccuracyArgs),
    /// Print a built-in threshold profile (a starting point for --profile).
    Profile(profile::ProfileArgs),
    /// Analyse a raw recording, or a two-sensor session file, and save its sets in the logbook as pending.
    Import(logbook::ImportArgs),
    /// Review pending sets: confirm or dismiss flags, fix count or load, verify.
    Review(logbook::ReviewArgs),
    /// The log of verified sets; `log add` for sets done without the sensor.
    Log(logbook::LogArgs),
    /// Today's targets per exercise and side.
    Next(logbook::NextArgs),
    /// Weekly trend of one exercise (terminal and SVG).
    Trend(logbook::TrendArgs),
    /// Write the log as Strong CSV, Hevy CSV, JSON or Garmin FIT.
    Export(logbook::ExportArgs),
    /// Bring a history into the log (Strong or Hevy CSV, medius JSON).
    ImportLog(logbook::ImportLogArgs),
    /// Copy the logbook safely (SQLite online backup).
    Backup(logbook::BackupArgs),
    /// The exercise catalog; `exercises add` extends it.
    Exercises(logbook::ExercisesArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(shell::CompletionsArgs),
    /// Print the man page (roff), or write one per command into a folder.
    Man(shell::ManArgs),
}

const TOP_AFTER_HELP: &str = "\
Examples:
  medius run --sensor sim                  watch a simulated session live
  medius review                            walk the pending sets
  medius log --since 6w                    the last six weeks
  medius completions bash > ~/.local/share/bash-completion/completions/medius

Exit codes:
  0  done
  1  a fault (a full disk, a lost sensor that never came back, a bug)
  2  bad input: a wrong argument, file or value; nothing saved was changed
  3  status, stop: no medius run is running";

/// Where the sensors are: one placement, or both at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Placements {
    /// The ankle alone.
    Ankle,
    /// The pelvis alone.
    Pelvis,
    /// The ankle and the pelvis of one lifter.
    Both,
}

impl Placements {
    /// The one placement, unless both.
    pub fn one(self) -> Option<Placement> {
        match self {
            Placements::Ankle => Some(Placement::Ankle),
            Placements::Pelvis => Some(Placement::Pelvis),
            Placements::Both => None,
        }
    }
}

/// What is being trained: shared by run, analyze and simulate.
#[derive(Debug, Clone, Args)]
pub struct Training {
    /// The exercise.
    #[arg(short, long, value_enum, default_value = "standing-cable-abduction")]
    pub exercise: Exercise,
    /// Where the sensor is: ankle (working leg, any orientation) or pelvis (on the sacrum).
    #[arg(short, long, value_enum, default_value = "ankle")]
    pub placement: Placement,
    /// Working side (hip hitch: the stance leg).
    #[arg(short, long, value_enum, default_value = "right")]
    pub side: Side,
    /// Threshold profile TOML replacing the built-in one (see `medius profile`).
    #[arg(long, value_name = "FILE")]
    pub profile: Option<std::path::PathBuf>,
}

impl Training {
    /// The pipeline for this training, with the built-in or the user's profile.
    pub fn pipeline(&self) -> anyhow::Result<crate::motion::Pipeline> {
        let profile = match &self.profile {
            Some(path) => crate::motion::Profile::load(path, self.exercise, self.placement)?,
            None => crate::motion::Profile::builtin(self.exercise, self.placement)?,
        };
        Ok(crate::motion::Pipeline::new(profile, self.side))
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(a) => run::run(a),
        Command::Scan(a) => scan::run(a),
        Command::Status(a) => daemon::status(a),
        Command::Stop(a) => daemon::stop(a),
        Command::Config(a) => daemon::config(a),
        Command::Calibrate(a) => calibrate::run(a),
        Command::Analyze(a) => analyze::run(a),
        Command::Simulate(a) => simulate::run(a),
        Command::Accuracy(a) => accuracy::run(a),
        Command::Profile(a) => profile::run(a),
        Command::Import(a) => logbook::import(a),
        Command::Review(a) => logbook::review(a),
        Command::Log(a) => logbook::log(a),
        Command::Next(a) => logbook::next(a),
        Command::Trend(a) => logbook::trend(a),
        Command::Export(a) => logbook::export(a),
        Command::ImportLog(a) => logbook::import_log(a),
        Command::Backup(a) => logbook::backup(a),
        Command::Exercises(a) => logbook::exercises(a),
        Command::Completions(a) => shell::completions(a),
        Command::Man(a) => shell::man(a),
    }
}
