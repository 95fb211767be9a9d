//! `medius simulate`: write a simulated recording and its ground truth.

use super::{user_error, Placements};
use crate::motion::FlagKind;
use crate::source::csv::RawWriter;
use crate::source::sim::{self, SimConfig, SimModel};
use clap::Args;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Write a realistic simulated session (raw CSV) and its ground truth (JSON).
///
/// A body model does the exercise: the leg abducts from the free hip, the
/// pelvis leans and tilts, the lifter walks to the stack and turns round
/// between sets, fidgets, re-straps the sensor. The sensor gets gyro bias,
/// noise, dropped samples and short gaps. The same seed gives the same file.
///
/// `--placement both`: the ankle and the pelvis of the same lifter, each
/// sensor with its own clock (an offset of up to ±0.5 s between them and a
/// drift of tens of ppm), noise, drops and gaps; `-o NAME` writes
/// NAME.ankle.csv, NAME.pelvis.csv, NAME.truth.json (on the ankle's clock)
/// and NAME.session.json, which ties them for `medius analyze`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  medius simulate -e standing-cable-abduction -p ankle -s right -o sim.csv\n  medius analyze sim.csv -e standing-cable-abduction -p ankle -s right\n  medius simulate -e side-lying-abduction -p both -s left -o pair\n  medius analyze pair.session.json"
)]
pub struct SimulateArgs {
    /// The exercise.
    #[arg(short, long, value_enum, default_value = "standing-cable-abduction")]
    pub exercise: crate::Exercise,
    /// Where the sensor is: ankle (working leg), pelvis (on the sacrum), or
    /// both (two sensors on one lifter; standing and side-lying abduction).
    #[arg(short, long, value_enum, default_value = "ankle")]
    pub placement: Placements,
    /// Working side (hip hitch: the stance leg).
    #[arg(short, long, value_enum, default_value = "right")]
    pub side: crate::Side,
    /// Where to write the raw CSV (`--placement both`: the name the files start with).
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
    /// Body model: `standard` (the one the counter was developed on), or one
    /// built apart to test it: `pivot` (the whole body pivots over the stance
    /// foot), `torque` (driven by muscle torques, gravity and the cable's
    /// stack), `chain` (a segment chain with per-lifter builds, tempos,
    /// balance strategies and sensor errors), `balance` (a body held up by a
    /// delayed balance loop, doing rep shapes taken from real recordings),
    /// `muscle` (a lifter moved by lagging, fatiguing muscles and a motor
    /// program per rep against the load), `gym` (a lifter's behaviour as
    /// a semi-Markov process, the sensor on soft tissue and a slipping
    /// strap), `clinic` (a physiotherapy clinic and home population:
    /// guarded, variable reps against bands and weights, cheap consumer
    /// sensors) and `athlete` (trained athletes at a serious gym: fast, held
    /// and clustered reps, the cable cuff and stack, a higher-end sensor),
    /// `class` (group classes and home workout videos: reps paced by music
    /// and an instructor, mini-bands, a waistband clip, the sensors people
    /// own) and `team` (team-sport players on the pitch and in the club
    /// gym: a squad counting out loud, partner resistance, running, jumping
    /// and landing between sets), all ten since read; `wear` (the wearables
    /// people really use and how they sit on the body: foot pods, ankle
    /// bands, thigh straps, phones in a sock or pocket, belt and waistband
    /// clips, each with its own mounting, suspension and errors), read in
    /// session 15; `circuit` (a whole lower-body workout with the sensor
    /// left on: squats, lunges, band walks, clamshells, fire hydrants,
    /// bridges and step-ups between the abduction sets, supersets and
    /// finishers) and `home` (people training at home, with a body moved
    /// by physics: a rigid multibody on contact springs under PD and balance
    /// control, bands on a table leg, a sofa, a chair, a step, interruptions
    /// and life in the flat between sets), both read in session 16; `studio`
    /// (Pilates, barre and yoga studios with motion written directly as
    /// orientation curves: slow reps, long holds, pulses at the top, leg
    /// circles, the reformer, a ring, the barre, both sides in turn,
    /// roll-downs and cat-cow between sets), read in session 17; `fatigue`
    /// (sets taken close to failure: a stochastic feedback controller whose
    /// capacity, gains and range fade with fatigue; grinding and partial
    /// last reps, failed reps, rest-pause, drop sets, tremor), built apart,
    /// held out through session 18 and read in session 19; `hill` (a
    /// muscle-driven body: Hill-type actuators with activation dynamics,
    /// tendon and passive joint elasticity, co-contraction, tremor, the
    /// sensor on soft tissue), held out through session 19 and read in
    /// session 20; `rhythm` (reps from a nonlinear oscillator, a central
    /// pattern generator ramped up and down, driving a kinematic chain),
    /// held out through session 20 and read in session 21; `primitive`
    /// (every half-rep a discrete motor primitive, a Dynamic Movement
    /// Primitive, chosen by a stochastic grammar), held out through session
    /// 21 and read from session 22; `reach` (the foot moved in task space,
    /// the joints from inverse kinematics with redundancy), held out through
    /// session 22 and read from session 23; `lognormal` (every motion a sum
    /// of lognormal velocity impulses under intermittent control, a pelvis
    /// and trunk that react to the leg), built after all twenty, held out
    /// through session 23 and read from session 24; `syllable` (movement as
    /// a switching linear dynamical system, an autoregressive hidden Markov
    /// model of behavioural syllables whose reps emerge from the switching;
    /// a pelvis and trunk that answer the leg through per-lifter random
    /// linear filters; a strap that slips), built after all twenty-one,
    /// held out through session 24 and read from session 25; `langevin`
    /// (the working joint a Langevin particle in a landscape the lifter
    /// reshapes, reps as escapes over a barrier driven by intents from a
    /// self-exciting Hawkes process; a pelvis and trunk set by a
    /// least-squares whole-body balance; a sensor on wobbling soft tissue),
    /// built after all twenty-two, held out through session 25 and read
    /// from session 26; `pendulum` (the working segment a pumped physical
    /// pendulum driven by brief bursts of torque timed by its own phase,
    /// intents from cues with human reaction times; a pelvis and trunk from
    /// a linear inverted pendulum under capture-point control that
    /// sometimes has to hop; a MEMS sensor specified by its Allan
    /// variance), built after all twenty-three, held out through session 26
    /// and read from session 27; `neuro` (movement made by a delayed
    /// sensorimotor loop with a forward model that may be wrong, a gate that
    /// releases each movement, spasticity, freezing and tremor; a pelvis
    /// from the stance hip's moment balance; lifters with and without
    /// neurological or orthopaedic conditions; a low-power IMU with a FIFO
    /// and its own clock), built after all twenty-four, held out through
    /// session 27 and read from session 28; `mocap` (movement assembled the
    /// way a game engine animates a character from motion capture: a clip
    /// library, a motion graph, motion matching, time warps, cross-fades and
    /// inverse kinematics; a pelvis and trunk from a double inverted
    /// pendulum with ankle and hip strategies; lifters from anthropometric
    /// tables who learn over sessions; a consumer wearable with on-board
    /// bias estimation, BLE packing and a warm-up on the skin), built after
    /// all twenty-five, held out through session 28 and read from session
    /// 29; `planner` (movement made the way an industrial robot controller
    /// makes it: jerk-limited S-curve trajectories with per-lifter limits,
    /// via points in fly-by blends, targets re-planned online mid-motion, a
    /// PD servo against gravity and the load; rep onsets from a
    /// Wing–Kristofferson timing model with phase correction; a pelvis and
    /// trunk as a mass–spring–damper network with soft-tissue wobbling
    /// masses; the session as a discrete-event simulation of a busy gym; a
    /// sensor read through a phone-class OS sensor stack with batched,
    /// host-stamped, non-uniform samples), built after all twenty-six, the
    /// hold-out through session 29, read from session 30; `effort` (movement made by optimal control on a floating-base
    /// rigid-body model with penalty contacts: every rep's torques planned
    /// by iLQR minimising effort, torque change and endpoint variance under
    /// signal-dependent noise, fatigue lowering the torque available and
    /// other joints recruited when the target is out of reach; a lifter's
    /// mind with a slipping rep count, perceived exertion ending sets,
    /// lapses and breathing-paced tempo; loads as forces; a sensor whose
    /// failures come from physics and firmware: soft tissue, thermal drift,
    /// aliased floor vibration, BLE connection-event batches), built after
    /// all twenty-seven, the hold-out through session 30, read from session
    /// 31; `elastic` (movement as functional data: every rep's
    /// joint curves a per-lifter mean plus B-spline eigenfunctions with
    /// scores correlated across joints, under a random elastic time warp;
    /// population, lifter, session, set and rep random effects with AR(1)
    /// reps; compensations as shifts in the score space; non-rep movements
    /// as functional classes in a semi-Markov rest; a skeleton, soft tissue
    /// and the owned sensors' errors), built after all twenty-eight, the
    /// hold-out through session 31, read from session 32; `units`
    /// (movement made by motor units: every muscle group a pool of units
    /// with twitches, rate coding, discharge variability and per-unit
    /// fatigue; reflexes and a two-rate rep-to-rep learner on a segment
    /// model against the load; a sensor on soft tissue with the
    /// mechanomyogram and the owned sensors' errors), built after all
    /// twenty-nine, the hold-out through session 32, read from session 33;
    /// `infer` (movement made by active inference: the rep's phases
    /// from a stable heteroclinic channel, beliefs in generalised
    /// coordinates corrected by precision-weighted prediction errors,
    /// delayed reflex arcs fulfilling proprioceptive predictions on a rigid
    /// body against the load, compensations where other joints cancel the
    /// error a fatigued prime mover leaves; the owned sensors' errors),
    /// built after all thirty, the hold-out through session 33, read from
    /// session 34; or the new hold-out, built apart after all thirty-one
    /// and never tuned on or read: `cortex` (movement generated by neural
    /// population dynamics in motor cortex: a chaotic rate network per
    /// lifter trained by FORCE learning to turn a preparatory state and a
    /// go cue into the rep's muscle drive, intended angle and habits; go
    /// cues from a ramp-to-threshold accumulator with 1/f tempo drift; an
    /// activation low-pass on a rigid body against the load; the owned
    /// sensors' errors).
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
        let placement = self.placement.one().unwrap_or(crate::Placement::Ankle);
        let mut c = SimConfig::new(self.exercise, placement, self.side);
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
        if self.placement == Placements::Both && !sim::two_sensor_exercise(c.exercise) {
            return Err(user_error(format!(
                "{} is followed by one sensor; --placement both suits \
                 standing-cable-abduction and side-lying-abduction",
                c.exercise
            )));
        }
        if self.placement == Placements::Both && c.model != SimModel::Standard {
            return Err(user_error(format!(
                "--placement both is simulated by the standard model only, not {}",
                c.model
            )));
        }
        if self.placement == Placements::Both {
            c.placement = crate::Placement::Pelvis;
            c.validate().map_err(user_error)?;
            c.placement = crate::Placement::Ankle;
        }
        c.validate().map_err(user_error)?;
        Ok(c)
    }
}

/// Refuses any of `paths` that exists, unless `force`: refused before
/// anything is written, so what exists stays as it was.
fn refuse_existing(paths: &[&Path], force: bool) -> anyhow::Result<()> {
    if force {
        return Ok(());
    }
    for p in paths {
        if p.exists() {
            return Err(user_error(format!(
                "{} exists; give another file name, or --force to write over it",
                p.display()
            )));
        }
    }
    Ok(())
}

/// Writes samples as a raw CSV; returns how many.
fn write_csv(path: &Path, samples: impl Iterator<Item = crate::Sample>) -> anyhow::Result<u64> {
    let file = std::fs::File::create(path)
        .map_err(|e| user_error(format!("cannot create {}: {e}", path.display())))?;
    let mut w = RawWriter::new(std::io::BufWriter::with_capacity(1 << 16, file))?;
    let mut n = 0u64;
    for s in samples {
        w.write(&s)?;
        n += 1;
    }
    w.into_inner().flush()?;
    Ok(n)
}

/// `--placement both`: two CSVs, the truth and the session file.
fn run_pair(a: &SimulateArgs, cfg: &SimConfig) -> anyhow::Result<()> {
    use crate::source::session_file::{SensorFile, SessionFile};
    let (ankle, pelvis, truth) = sim::open_pair(cfg).map_err(user_error)?;
    // NAME from `-o NAME` or `-o NAME.csv`.
    let name = if a.out.extension().is_some_and(|e| e == "csv") {
        a.out.with_extension("")
    } else {
        a.out.clone()
    };
    let with = |suffix: &str| {
        let mut s = name.clone().into_os_string();
        s.push(suffix);
        PathBuf::from(s)
    };
    let (ankle_path, pelvis_path) = (with(".ankle.csv"), with(".pelvis.csv"));
    let session_path = with(".session.json");
    let truth_path = a.truth.clone().unwrap_or_else(|| with(".truth.json"));
    refuse_existing(
        &[&ankle_path, &pelvis_path, &truth_path, &session_path],
        a.force,
    )?;
    let n_a = write_csv(&ankle_path, ankle)?;
    let n_p = write_csv(&pelvis_path, pelvis)?;
    std::fs::write(&truth_path, serde_json::to_string_pretty(&truth)? + "\n")
        .map_err(|e| user_error(format!("cannot write {}: {e}", truth_path.display())))?;
    let file_name = |p: &Path| {
        p.file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    // What a recorder would know from arrival times: the true offset at the
    // start, give or take 30 ms (drawn from the seed).
    let jitter = ((cfg.seed.wrapping_mul(7919) % 61) as f64 - 30.0) / 1000.0;
    let prior = truth.clocks.pelvis_to_ankle_s(0.0) + jitter;
    let session = SessionFile::new(
        cfg.exercise,
        cfg.side,
        vec![
            SensorFile {
                role: crate::Placement::Ankle,
                file: file_name(&ankle_path),
                sensor: "sim".into(),
                offset_s: 0.0,
            },
            SensorFile {
                role: crate::Placement::Pelvis,
                file: file_name(&pelvis_path),
                sensor: "sim".into(),
                offset_s: (prior * 1000.0).round() / 1000.0,
            },
        ],
    );
    session.write(&session_path)?;
    let reps: Vec<String> = truth
        .truth
        .sets
        .iter()
        .map(|s| s.rep_count.to_string())
        .collect();
    etell!(
        "wrote {} ({} samples) and {} ({} samples), {:.0} s at {} Hz: {} of {} reps; truth in {}; {} ties them",
        ankle_path.display(),
        n_a,
        pelvis_path.display(),
        n_p,
        truth.truth.duration_s,
        cfg.rate_hz,
        crate::terminal::plural(truth.truth.sets.len() as i64, "set", "sets"),
        reps.join(", "),
        truth_path.display(),
        session_path.display()
    );
    Ok(())
}

/// Runs the command.
pub fn run(a: SimulateArgs) -> anyhow::Result<()> {
    let cfg = a.config()?;
    if a.placement == Placements::Both {
        return run_pair(&a, &cfg);
    }
    let (sim, truth) = sim::open(&cfg).map_err(user_error)?;
    let truth_path = a
        .truth
        .clone()
        .unwrap_or_else(|| a.out.with_extension("truth.json"));
    // Refused before anything is written: a recording or its truth that
    // exists stays as it was unless --force.
    refuse_existing(&[&a.out, &truth_path], a.force)?;
    let n = write_csv(&a.out, sim)?;
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
