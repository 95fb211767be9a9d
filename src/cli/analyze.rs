//! `medius analyze`: the pipeline over a raw recording.

use super::{user_error, Training};
use crate::motion::analyze_samples;
use crate::motion::fuse::{analyze_pair, FusedPipeline};
use crate::report::AnalysisReport;
use crate::source::csv::RawReader;
use crate::source::session_file::SessionFile;
use crate::Placement;
use clap::Args;
use std::path::PathBuf;

/// Count reps and flag compensation in a raw recording.
///
/// The file is medius' raw CSV (header `time_s,acc_x_mps2,acc_y_mps2,acc_z_mps2,gyr_x_dps,gyr_y_dps,gyr_z_dps`,
/// acceleration in m/s², angular rate in °/s; extra columns are ignored), as
/// written by `medius simulate` or recorded by `medius run --record`.
///
/// Two sensors (`--ankle A.csv --pelvis P.csv`, or a session file
/// `NAME.session.json` that names both): the ankle counts the reps and
/// measures them, the pelvis judges hip hike, pelvic drop and trunk sway
/// over each rep; the pelvis' clock is put on the ankle's from the motion
/// itself (the offset found is in the output). A session file also says
/// the exercise and side, which then need not be given.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  medius analyze session.csv -e standing-cable-abduction -p ankle -s right\n  medius analyze session.csv -e hip-hitch -p pelvis -s left --json\n  medius analyze --ankle rec.ankle.csv --pelvis rec.pelvis.csv -e side-lying-abduction -s left\n  medius analyze rec.session.json --json"
)]
pub struct AnalyzeArgs {
    /// The raw recording (CSV), or a session file (`.json`) tying one CSV per sensor.
    #[arg(required_unless_present_any = ["ankle", "pelvis"])]
    pub file: Option<PathBuf>,
    /// Two sensors: the ankle's raw recording (with --pelvis).
    #[arg(long, value_name = "CSV", conflicts_with = "file", requires = "pelvis")]
    pub ankle: Option<PathBuf>,
    /// Two sensors: the pelvis' raw recording (with --ankle).
    #[arg(long, value_name = "CSV", conflicts_with = "file", requires = "ankle")]
    pub pelvis: Option<PathBuf>,
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

/// The fused pipeline over an ankle and a pelvis file.
pub fn analyze_pair_files(
    exercise: crate::Exercise,
    side: crate::Side,
    ankle: &std::path::Path,
    pelvis: &std::path::Path,
    offset_s: f64,
) -> anyhow::Result<AnalysisReport> {
    if !crate::source::sim::two_sensor_exercise(exercise) {
        return Err(user_error(format!(
            "{exercise} is followed by one sensor; two at once (--ankle and --pelvis) suit \
             standing-cable-abduction and side-lying-abduction: analyse the file alone with -p"
        )));
    }
    let fused = FusedPipeline::builtin(exercise, side)?.with_offset(offset_s);
    // Streamed from both files at once; the first bad line of either is the error.
    let (mut bad_a, mut bad_p) = (None, None);
    let a = RawReader::open(ankle)?.map_while(|r| r.map_err(|e| bad_a = Some(e)).ok());
    let p = RawReader::open(pelvis)?.map_while(|r| r.map_err(|e| bad_p = Some(e)).ok());
    let (sets, fused) = analyze_pair(fused, a, p);
    if let Some(e) = bad_a.or(bad_p) {
        return Err(e.into());
    }
    Ok(AnalysisReport::fused(&sets, exercise, side, &fused))
}

/// Runs the command.
pub fn run(a: AnalyzeArgs) -> anyhow::Result<()> {
    let t = &a.training;
    let session = match &a.file {
        Some(f) if f.extension().is_some_and(|e| e == "json") => {
            Some((SessionFile::read(f)?, f.clone()))
        }
        _ => None,
    };
    let two = session.is_some() || a.ankle.is_some();
    if two && t.profile.is_some() {
        return Err(user_error(
            "--profile holds one placement's thresholds; two sensors use the built-in \
             profiles (analyse each file alone with -p and --profile)",
        ));
    }
    let report = if let Some((s, path)) = &session {
        let file = |role| {
            s.file_path(path, role)
                .ok_or_else(|| user_error(format!("{}: no {role} sensor listed", path.display())))
        };
        match (s.sensor(Placement::Ankle), s.sensor(Placement::Pelvis)) {
            (Some(ank), Some(pel)) => analyze_pair_files(
                s.exercise,
                s.side,
                &file(Placement::Ankle)?,
                &file(Placement::Pelvis)?,
                pel.offset_s - ank.offset_s,
            )?,
            (one_a, _) => {
                let placement = if one_a.is_some() {
                    Placement::Ankle
                } else {
                    Placement::Pelvis
                };
                let training = Training {
                    exercise: s.exercise,
                    placement,
                    side: s.side,
                    profile: None,
                };
                let (sets, stats) = analyze_file(training.pipeline()?, &file(placement)?)?;
                AnalysisReport::new(&sets, s.exercise, placement, s.side, stats)
            }
        }
    } else if let (Some(ankle), Some(pelvis)) = (&a.ankle, &a.pelvis) {
        analyze_pair_files(t.exercise, t.side, ankle, pelvis, 0.0)?
    } else {
        let file = a.file.as_ref().expect("clap requires FILE without --ankle");
        let (sets, stats) = analyze_file(t.pipeline()?, file)?;
        AnalysisReport::new(&sets, t.exercise, t.placement, t.side, stats)
    };
    if a.json {
        say!("{}", serde_json::to_string(&report)?);
    } else {
        show!("{}", report.table());
    }
    Ok(())
}
