//! `medius analyze`: the pipeline over a raw recording.

use super::Training;
use crate::motion::analyze_samples;
use crate::report::AnalysisReport;
use crate::source::csv::RawReader;
use clap::Args;
use std::path::PathBuf;

/// Count reps and flag compensation in a raw recording.
///
/// The file is medius' raw CSV (header `time_s,acc_x_mps2,acc_y_mps2,acc_z_mps2,gyr_x_dps,gyr_y_dps,gyr_z_dps`,
/// acceleration in m/s², angular rate in °/s; extra columns are ignored), as
/// written by `medius simulate` or recorded by `medius run --record`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  medius analyze session.csv -e standing-cable-abduction -p ankle -s right\n  medius analyze session.csv -e hip-hitch -p pelvis -s left --json"
)]
pub struct AnalyzeArgs {
    /// The raw recording (CSV).
    pub file: PathBuf,
    /// What was trained.
    #[command(flatten)]
    pub training: Training,
    /// Print one JSON document (the contract other tools rely on) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// The pipeline over a whole raw CSV; the first bad line is the error.
pub fn analyze_file(
    pipeline: crate::motion::Pipeline,
    path: &std::path::Path,
) -> anyhow::Result<(Vec<crate::motion::Set>, crate::motion::Stats)> {
    let reader = RawReader::open(path)?;
    let mut error = None;
    let samples = reader.map_while(|r| match r {
        Ok(s) => Some(s),
        Err(e) => {
            error = Some(e);
            None
        }
    });
    let out = analyze_samples(pipeline, samples);
    match error {
        Some(e) => Err(e.into()),
        None => Ok(out),
    }
}

/// Runs the command.
pub fn run(a: AnalyzeArgs) -> anyhow::Result<()> {
    let pipeline = a.training.pipeline()?;
    let (sets, stats) = analyze_file(pipeline, &a.file)?;
    let report = AnalysisReport::new(
        &sets,
        a.training.exercise,
        a.training.placement,
        a.training.side,
        stats,
    );
    if a.json {
        say!("{}", serde_json::to_string(&report)?);
    } else {
        show!("{}", report.table());
    }
    Ok(())
}
