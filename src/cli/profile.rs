//! `medius profile`: print a built-in threshold profile.

use crate::{Exercise, Placement};
use clap::Args;

/// Print the built-in profile for an exercise and placement, to copy and edit:
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  medius profile -e side-lying-abduction -p ankle > mine.toml\n  medius analyze rec.csv -e side-lying-abduction -p ankle --profile mine.toml"
)]
pub struct ProfileArgs {
    /// Exercise.
    #[arg(short, long, value_enum, default_value = "standing-cable-abduction")]
    pub exercise: Exercise,
    /// Placement.
    #[arg(short, long, value_enum, default_value = "ankle")]
    pub placement: Placement,
}

/// Runs the command.
pub fn run(a: ProfileArgs) -> anyhow::Result<()> {
    let p = crate::motion::Profile::builtin(a.exercise, a.placement)?;
    show!(
        "{}",
        crate::motion::profile::builtin_text(p.exercise, p.placement).unwrap_or_default()
    );
    Ok(())
}
