//! The command line: one module per subcommand (clap derive).
//!
//! Errors: anything that is the user's to fix (a bad file, an unknown
//! exercise, a profile out of range) is a [`UserError`] or a library error
//! that `main` maps to exit code 2 with one line; everything else exits 1.

/// Prints a line to stdout; a closed stdout (the terminal went away, a pipe
/// reader quit) must not stop a session, so errors are ignored.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// The same for stderr.
macro_rules! esay {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

pub mod accuracy;
pub mod analyze;
pub mod calibrate;
mod chart;
pub mod daemon;
mod live_ble;
pub mod logbook;
pub mod profile;
pub mod run;
pub mod scan;
pub mod simulate;

use crate::{Exercise, Placement, Side};
use clap::{Args, Parser, Subcommand};

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
#[command(name = "medius", version, propagate_version = true)]
pub struct Cli {
    /// More log output (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
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
    /// Analyse a raw recording and save its sets in the logbook as pending.
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
}

/// What is being trained: shared by run, analyze and simulate.
#[derive(Debug, Clone, Args)]
pub struct Training {
    /// Exercise: standing-cable-abduction, side-lying-abduction, seated-machine-abduction, hip-hitch.
    #[arg(short, long, value_parser = parse_id::<Exercise>, default_value = "standing-cable-abduction")]
    pub exercise: Exercise,
    /// Where the sensor is: ankle (working leg, any orientation) or pelvis (on the sacrum).
    #[arg(short, long, value_parser = parse_id::<Placement>, default_value = "ankle")]
    pub placement: Placement,
    /// Working side: left or right (hip hitch: the stance leg).
    #[arg(short, long, value_parser = parse_id::<Side>, default_value = "right")]
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

pub(crate) fn parse_id<T: std::str::FromStr<Err = String>>(s: &str) -> Result<T, String> {
    s.parse()
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
    }
}
