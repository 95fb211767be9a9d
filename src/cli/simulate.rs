//! `medius simulate`: write a simulated recording and its ground truth.

use super::{user_error, Training};
use crate::motion::FlagKind;
use crate::source::csv::RawWriter;
use crate::source::sim::{self, SimConfig, SimModel};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;

/// Write a realistic simulated session (raw CSV) and its ground truth (JSON).
///
/// A body model does the exercise: the leg abducts from the free hip, the
/// pelvis leans and tilts, the lifter walks to the stack and turns round
/// between sets, fidgets, re-straps the sensor. The sensor gets gyro bias,
/// noise, dropped samples and short gaps. The same seed gives the same file.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  medius simulate -e standing-cable-abduction -p ankle -s right -o sim.csv\n  medius analyze sim.csv -e standing-cable-abduction -p ankle -s right"
)]
pub struct SimulateArgs {
    /// What is trained.
    #[command(flatten)]
    pub training: Training,
    /// Where to write the raw CSV.
    #[arg(short, long, default_value = "medius-sim.csv")]
    pub out: PathBuf,
    /// Where to write the ground truth (default: next to --out, `.truth.json`).
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// Write over --out and the truth file if they exist (without it they are refused).
    #[arg(long)]
    pub force: bool,
    /// Number of sets.
    #[arg(long, default_value_t = 3)]
    pub sets: usize,
    /// Reps per set: a number (12) or a range (10..15).
    #[arg(long, default_value = "10..15")]
    pub reps: String,
    /// Compensations that may appear: comma-separated kinds (hip-hike, pelvic-drop,
    /// trunk-sway, momentum, partial-range, hip-flexion-drift), `all` or `none`.
    #[arg(long, default_value = "all")]
    pub compensations: String,
    /// Share of reps with a compensation (0..1).
    #[arg(long, default_value_t = 0.15)]
    pub compensation_rate: f64,
    /// Sample rate, Hz (25..400 are what sensors do).
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    /// Noise multiplier (1 = a typical MEMS IMU).
    #[arg(long, default_value_t = 1.0)]
    pub noise: f64,
    /// Largest gyro bias per axis, °/s.
    #[arg(long, default_value_t = 2.0)]
    pub gyro_bias: f64,
    /// Share of samples dropped (0..0.5).
    #[arg(long, default_value_t = 0.01)]
    pub drop: f64,
    /// 200 ms gaps per minute.
    #[arg(long, default_value_t = 1.0)]
    pub gaps_per_min: f64,
    /// Rest between sets, s: a number or a range (30..60).
    #[arg(long, default_value = "30..60")]
    pub rest: String,
    /// No walking to the stack between sets.
    #[arg(long)]
    pub no_walking: bool,
    /// No fidgets, single swings or re-strapping between sets.
    #[arg(long)]
    pub no_fidgets: bool,
    /// Mount the sensor in the nominal orientation instead of a random one.
    #[arg(long)]
    pub no_random_mounting: bool,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Body model: `standard` (the one the counter was developed on), `pivot`
    /// (a held-out, independently written body model that nothing is tuned on:
    /// use it to test, never to tune) or `torque` (a second held-out model,
    /// driven by muscle torques, gravity and the cable's stack, never tuned on)
    /// or `chain` (a segment chain with per-lifter builds, tempos, balance
    /// strategies and sensor errors: the newest hold-out, never tuned on).
    #[arg(long, default_value = "standard")]
    pub model: SimModel,
}

/// Parses `12` or `10..15` (also `10-15`).
pub fn parse_range(text: &str, what: &str) -> anyhow::Result<(f64, f64)> {
    let bad = || {
        user_error(format!(
            "{what} `{text}` is not a number or a range like 10..15"
        ))
    };
    let parts: Vec<&str> = if text.contains("..") {
        text.split("..").collect()
    } else if text.contains('-') {
        text.split('-').collect()
    } else {
        vec![text, text]
    };
    if parts.len() != 2 {
        return Err(bad());
    }
    let a: f64 = parts[0].trim().parse().map_err(|_| bad())?;
    let b: f64 = parts[1].trim().parse().map_err(|_| bad())?;
    if !(a.is_finite() && b.is_finite() && a <= b) {
        return Err(bad());
    }
    Ok((a, b))
}

/// Parses a compensation list.
pub fn parse_compensations(text: &str) -> anyhow::Result<Vec<FlagKind>> {
    match text.trim() {
        "all" => return Ok(FlagKind::ALL.to_vec()),
        "none" | "" => return Ok(Vec::new()),
        _ => {}
    }
    text.split(',')
        .map(|k| {
            let k = k.trim();
            FlagKind::ALL
                .iter()
                .copied()
                // hip-hike and hip_hike alike.
                .find(|f| f.id() == k.replace('-', "_"))
                .ok_or_else(|| {
                    let ids: Vec<String> = FlagKind::ALL
                        .iter()
                        .map(|f| f.id().replace('_', "-"))
                        .collect();
                    user_error(format!(
                        "unknown compensation `{k}`; expected {}, all or none",
                        ids.join(", ")
                    ))
                })
        })
        .collect()
}

impl SimulateArgs {
    /// The simulator settings these arguments ask for.
    pub fn config(&self) -> anyhow::Result<SimConfig> {
        let t = &self.training;
        let mut c = SimConfig::new(t.exercise, t.placement, t.side);
        let (lo, hi) = parse_range(&self.reps, "--reps")?;
        if lo < 1.0 || lo.fract() != 0.0 || hi.fract() != 0.0 {
            return Err(user_error(format!(
                "--reps `{}` must be whole numbers from 1",
                self.reps
            )));
        }
        c.reps_min = lo as usize;
        c.reps_max = hi as usize;
        let (rlo, rhi) = parse_range(&self.rest, "--rest")?;
        c.rest_min_s = rlo;
        c.rest_max_s = rhi;
        c.sets = self.sets;
        c.compensations = parse_compensations(&self.compensations)?;
        c.compensation_rate = self.compensation_rate;
        c.rate_hz = self.rate;
        c.noise = self.noise;
        c.gyro_bias_dps = self.gyro_bias;
        c.drop_rate = self.drop;
        c.gaps_per_min = self.gaps_per_min;
        c.walking = !self.no_walking;
        c.fidgets = !self.no_fidgets;
        c.random_mounting = !self.no_random_mounting;
        c.seed = self.seed;
        c.model = self.model;
        c.validate().map_err(user_error)?;
        Ok(c)
    }
}

/// Runs the command.
pub fn run(a: SimulateArgs) -> anyhow::Result<()> {
    let cfg = a.config()?;
    let (sim, truth) = sim::open(&cfg).map_err(user_error)?;
    let truth_path = a
        .truth
        .clone()
        .unwrap_or_else(|| a.out.with_extension("truth.json"));
    // Refused before anything is written: a recording or its truth that
    // exists stays as it was unless --force.
    if !a.force {
        for p in [&a.out, &truth_path] {
            if p.exists() {
                return Err(user_error(format!(
                    "{} exists; give another file name, or --force to write over it",
                    p.display()
                )));
            }
        }
    }
    let file = std::fs::File::create(&a.out)
        .map_err(|e| user_error(format!("cannot create {}: {e}", a.out.display())))?;
    let mut w = RawWriter::new(std::io::BufWriter::with_capacity(1 << 16, file))?;
    let mut n = 0u64;
    for s in sim {
        w.write(&s)?;
        n += 1;
    }
    w.into_inner().flush()?;
    std::fs::write(&truth_path, serde_json::to_string_pretty(&truth)? + "\n")
        .map_err(|e| user_error(format!("cannot write {}: {e}", truth_path.display())))?;
    let reps: Vec<String> = truth.sets.iter().map(|s| s.rep_count.to_string()).collect();
    etell!(
        "wrote {} ({} samples, {:.0} s at {} Hz): {} of {} reps; truth in {}",
        a.out.display(),
        n,
        truth.duration_s,
        cfg.rate_hz,
        crate::terminal::plural(truth.sets.len() as i64, "set", "sets"),
        reps.join(", "),
        truth_path.display()
    );
    Ok(())
}
