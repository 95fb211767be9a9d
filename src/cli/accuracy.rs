//! `medius accuracy`: score the counter and flags on a simulated corpus.

use clap::Args;
use std::io::IsTerminal;

/// Score rep counting and flags on a corpus of simulated sessions.
///
/// Every exercise × placement, rates 25–400 Hz, 1% dropped samples, 200 ms
/// gaps, ±2 °/s gyro bias, fidgets, single swings, re-strapping, walking
/// between sets. The default corpus (12 sessions × 3 sets per pair = 216
/// sets) is the one the test suite holds to its bars.
#[derive(Debug, Args)]
pub struct AccuracyArgs {
    /// Sessions per exercise × placement (3 sets each).
    #[arg(long, default_value_t = 12)]
    pub sessions: usize,
    /// Corpus seed.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// Worker threads.
    #[arg(long, default_value_t = std::thread::available_parallelism().map_or(1, |n| n.get()))]
    pub threads: usize,
    /// Print JSON instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// Runs the command.
pub fn run(a: AccuracyArgs) -> anyhow::Result<()> {
    if a.sessions == 0 || a.sessions > 10_000 {
        return Err(super::user_error(format!(
            "--sessions {} is not within 1..10000",
            a.sessions
        )));
    }
    let configs = crate::accuracy::corpus(a.sessions, a.seed);
    let tty = std::io::stderr().is_terminal();
    let progress = move |done: usize, total: usize| {
        if tty {
            eprint!("\rscoring {done}/{total} sessions");
            if done == total {
                eprintln!();
            }
        }
    };
    let report =
        crate::accuracy::evaluate(&configs, a.threads, &progress).map_err(super::user_error)?;
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(())
}
