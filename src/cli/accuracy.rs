//! `medius accuracy`: score the counter and flags on a simulated corpus.

use clap::Args;
use std::io::IsTerminal;

/// Score rep counting, flags and certainty on corpora of simulated sessions.
///
/// Every exercise × placement, rates 25–400 Hz, 1% dropped samples, 200 ms
/// gaps, ±2 °/s gyro bias, fidgets, single swings, re-strapping, walking
/// between sets. The same corpus is played by each body model, scored
/// apart: the standard model, which the thresholds were tuned on; the
/// pivot model, built separately (read once for a few rules); the torque
/// model, built apart from both (its failures since read to find their
/// cause, no rule taken from it yet); and the chain model, built last and
/// never run while the counter was tuned (the hold-out the counter is
/// judged on).
/// `--recordings DIR` adds real recordings with their truth.
///
/// Example: `medius accuracy --sessions 40 --seed 99`
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
    /// Only this body model (standard: tuned on; pivot and torque: seen;
    /// chain: held out).
    #[arg(long, value_name = "MODEL")]
    pub model: Option<crate::source::sim::SimModel>,
    /// Also score the recordings listed in DIR/manifest.json (real data
    /// with hand-made truth; format in the README, "How exact it is").
    #[arg(long, value_name = "DIR")]
    pub recordings: Option<std::path::PathBuf>,
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
    use crate::source::sim::SimModel;
    let tty = std::io::stderr().is_terminal();
    let models: Vec<SimModel> = match a.model {
        Some(m) => vec![m],
        None => SimModel::ALL.to_vec(),
    };
    let mut sections = Vec::new();
    for model in models {
        let configs = crate::accuracy::corpus_of(model, a.sessions, a.seed);
        let progress = move |done: usize, total: usize| {
            if tty {
                eprint!("\rscoring {done}/{total} {model} sessions");
                if done == total {
                    eprintln!();
                }
            }
        };
        let report =
            crate::accuracy::evaluate(&configs, a.threads, &progress).map_err(super::user_error)?;
        sections.push((model.to_string(), held_out(model), report));
    }
    if let Some(dir) = &a.recordings {
        let report = crate::accuracy::evaluate_recordings(dir).map_err(super::user_error)?;
        sections.push(("recordings".to_string(), dir.display().to_string(), report));
    }
    if a.json {
        let doc: serde_json::Map<String, serde_json::Value> = sections
            .iter()
            .map(|(name, _, r)| Ok((name.clone(), serde_json::to_value(r)?)))
            .collect::<Result<_, serde_json::Error>>()?;
        println!("{}", serde_json::Value::Object(doc));
    } else {
        for (i, (name, about, report)) in sections.iter().enumerate() {
            if i > 0 {
                println!();
            }
            println!("== {name}: {about}");
            print!("{}", report.table());
        }
    }
    Ok(())
}

/// What a model's figures mean for tuning.
fn held_out(model: crate::source::sim::SimModel) -> String {
    match model {
        crate::source::sim::SimModel::Standard => {
            "the body model the thresholds were tuned on (optimistic)".into()
        }
        crate::source::sim::SimModel::Pivot => {
            "a separately built body model, read for a few rules (seen)".into()
        }
        crate::source::sim::SimModel::Torque => {
            "a torque-driven body model built apart from both, read to find why it fails (seen)"
                .into()
        }
        crate::source::sim::SimModel::Chain => {
            "a segment-chain body model built after the others, never run while the counter was tuned (the hold-out)".into()
        }
    }
}
