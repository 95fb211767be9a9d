//! `medius profile`: print a built-in threshold profile.

use super::parse_id;
use crate::{Exercise, Placement};
use clap::Args;

/// Print the built-in profile for an exercise and placement, to copy and edit:
///
///   medius profile -e side-lying-abduction -p ankle > mine.toml
///   medius analyze rec.csv -e side-lying-abduction -p ankle --profile mine.toml
#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// Exercise.
    #[arg(short, long, value_parser = parse_id::<Exercise>, default_value = "standing-cable-abduction")]
    pub exercise: Exercise,
    /// Placement.
    #[arg(short, long, value_parser = parse_id::<Placement>, default_value = "ankle")]
    pub placement: Placement,
}

/// Runs the command.
pub fn run(a: ProfileArgs) -> anyhow::Result<()> {
    let p = crate::motion::Profile::builtin(a.exercise, a.placement)?;
    print!(
        "{}",
        crate::motion::profile::builtin_text(p.exercise, p.placement).unwrap_or_default()
    );
    Ok(())
}
