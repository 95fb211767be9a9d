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
/// model, built apart from both; the chain model (a segment chain) and the
/// balance model (a body held up by a delayed balance loop, rep shapes from
/// real recordings), each built apart and read for rules once first scored;
/// the muscle model (a lifter moved by lagging, fatiguing muscles and
/// motor programs against the load), built after all five and read for
/// rules in session 9; the gym model (a lifter's behaviour as a
/// semi-Markov process, the sensor on soft tissue and a slipping strap),
/// built after all six and read for rules in session 10; the clinic model (rehab and
/// home patients with bands and a therapist's cues, a cheap batched
/// sensor), built after all seven and read for rules in session 11; the
/// athlete model (trained lifters, coached tempos, the cable cuff and stack,
/// a higher-end sensor), built after all eight and read in session 12; and
/// the class model (group classes and home workout videos, reps paced by
/// music, mini-bands, a waistband clip), built after all nine and read in
/// session 13; the team model (team-sport players on the pitch and in the
/// club gym), built after all ten and read in session 14; the wear model
/// (the wearables people really use and how they sit on the body), built
/// after all eleven and read in session 15; the circuit model (a whole
/// lower-body workout with the sensor left on), built after all twelve and
/// read in session 16; the home model (people training at home, a body
/// moved by physics), built after all thirteen and read in session 16; and
/// the studio model (Pilates, barre and yoga studios, motion written as
/// orientation curves), built after all fourteen and read in session 17;
/// the fatigue model (sets taken close to failure by a stochastic
/// feedback controller that tires), built after all fifteen, held out
/// through session 18 and read in session 19; the hill model (a
/// muscle-driven body), built after all sixteen, held out through session
/// 19 and read in session 20; the rhythm model (reps from a nonlinear
/// oscillator driving a kinematic chain), built after all seventeen,
/// held out through session 20 and read in session 21; the primitive
/// model (discrete motor primitives chosen by a stochastic grammar), built
/// after all eighteen, held out through session 21 and read from session
/// 22; the reach model (the foot moved in task space, the joints from
/// inverse kinematics with redundancy), built after all nineteen, held out
/// through session 22 and read from session 23; the lognormal model
/// (sigma-lognormal impulses under intermittent control), built after all
/// twenty, held out through session 23 and read from session 24; the
/// syllable model (a switching linear dynamical system of behavioural
/// syllables), built after all twenty-one, held out through session 24 and
/// read from session 25; the langevin model (Langevin dynamics in a
/// landscape the lifter reshapes, Hawkes-process intents, a least-squares
/// whole-body balance), built after all twenty-two, held out through
/// session 25 and read from session 26; the pendulum model (a pumped
/// physical pendulum, capture-point balance), built after all
/// twenty-three, held out through session 26 and read from session 27; the
/// neuro model (a delayed sensorimotor loop with a forward model that may
/// be wrong, lifters with neurological or orthopaedic conditions), built
/// after all twenty-four, held out through session 27 and read from
/// session 28; the mocap model (movement assembled from a clip library
/// by motion matching, time warps and cross-fades, a double inverted
/// pendulum pelvis and trunk, lifters who learn, a consumer wearable),
/// built after all twenty-five, held out through session 28 and read from
/// session 29; the planner model (jerk-limited trajectories re-planned
/// online and followed by a servo, Wing–Kristofferson timing, a
/// mass–spring–damper pelvis and trunk, a busy gym as a discrete-event
/// simulation, a phone-class sensor stack), built after all twenty-six,
/// held out through session 29 and read from session 30; the effort
/// model (optimal control by iLQR on a floating-base rigid-body model with
/// penalty contacts, a lifter's mind that miscounts and tires, a sensor
/// whose failures come from physics and firmware), built after all
/// twenty-seven, held out through session 30 and read from session 31;
/// the elastic model (movement as functional data: every rep's joint curves
/// a mean plus correlated B-spline eigenfunction scores under an elastic
/// time warp, hierarchical random effects from population to rep,
/// compensations as shifts in the score space, non-rep movements as
/// functional classes), built after all twenty-eight, held out through
/// session 31 and read from session 32; the units model (movement made
/// by motor-unit pools with twitches, rate coding, discharge variability
/// and per-unit fatigue, reflexes and a two-rate rep-to-rep learner on a
/// segment model against the load), built after all twenty-nine, held out
/// through session 32 and read from session 33; the infer model
/// (movement made by active inference: a heteroclinic channel of rep
/// phases, beliefs corrected by precision-weighted prediction errors,
/// delayed reflex arcs fulfilling proprioceptive predictions on a rigid
/// body against the load), built after all thirty, held out through
/// session 33 and read from session 34; and the cortex model (movement
/// generated by neural population dynamics in motor cortex: a chaotic rate
/// network per lifter trained by FORCE learning to turn a preparatory
/// state and a go cue into the rep's muscle drive, go cues from a
/// ramp-to-threshold accumulator with 1/f tempo drift, a rigid body
/// against the load), built after all thirty-one: the new hold-out,
/// neither tuned on nor read.
/// `--recordings DIR` adds real recordings with their truth.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  medius accuracy --sessions 40 --seed 99")]
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
    /// Only this body model (standard: tuned on; pivot, torque, chain,
    /// balance, muscle, gym, clinic, athlete, class, team, wear and
    /// circuit, home, studio, fatigue, hill, rhythm, primitive (read
    /// from session 22), reach (read from session 23) and lognormal (read
    /// from session 24), syllable (read from session 25), langevin (read
    /// from session 26), pendulum (read from session 27), neuro (read from
    /// session 28), mocap (read from session 29), planner (read from
    /// session 30), effort (read from session 31), elastic (read from
    /// session 32), units (read from session 33), infer (read from
    /// session 34): seen; cortex: the new hold-out).
    #[arg(long, value_name = "MODEL")]
    pub model: Option<crate::source::sim::SimModel>,
    /// Also score the recordings listed in DIR/manifest.json (real data
    /// with hand-made truth; format in the README, "How exact it is").
    #[arg(long, value_name = "DIR")]
    pub recordings: Option<std::path::PathBuf>,
    /// Only the sessions with the sensor here; `both`: the two-sensor
    /// corpus (the ankle and the pelvis of one lifter, fused), scored beside
    /// the same sessions read from the pelvis alone.
    #[arg(short, long, value_enum, value_name = "PLACEMENT")]
    pub placement: Option<super::Placements>,
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
    if a.placement == Some(super::Placements::Both) {
        return run_pairs(&a, tty);
    }
    let models: Vec<SimModel> = match a.model {
        Some(m) => vec![m],
        None => SimModel::ALL.to_vec(),
    };
    let mut sections = Vec::new();
    for model in models {
        let mut configs = crate::accuracy::corpus_of(model, a.sessions, a.seed);
        if let Some(p) = a.placement.and_then(super::Placements::one) {
            configs.retain(|c| c.placement == p);
        }
        let progress = move |done: usize, total: usize| {
            if tty {
                eshow!("\rscoring {done}/{total} {model} sessions");
                if done == total {
                    esay!();
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
        say!("{}", serde_json::Value::Object(doc));
    } else {
        for (i, (name, about, report)) in sections.iter().enumerate() {
            if i > 0 {
                say!();
            }
            say!("== {name}: {about}");
            show!("{}", table(report));
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
            "a segment-chain body model built apart, read for rules once first scored (seen)".into()
        }
        crate::source::sim::SimModel::Balance => {
            "a balance-loop body model with rep shapes from real recordings, built apart, read for rules once first scored (seen)".into()
        }
        crate::source::sim::SimModel::Muscle => {
            "a musculoskeletal body model (lagging, fatiguing muscles and motor programs against the load), built apart, read for rules once first scored (seen)".into()
        }
        crate::source::sim::SimModel::Gym => {
            "a lifter's behaviour as a semi-Markov process, the sensor on soft tissue and a slipping strap; built after all six, read for rules once clinic was scored (seen)".into()
        }
        crate::source::sim::SimModel::Clinic => {
            "rehab and home patients (guarded range, bands, a therapist's cues) on a cheap batched sensor; built after all seven, read for rules once athlete was scored (seen)".into()
        }
        crate::source::sim::SimModel::Athlete => {
            "trained athletes at a serious gym (fast and held reps, the cable cuff and stack); built after all eight, read once class was scored (seen)".into()
        }
        crate::source::sim::SimModel::Class => {
            "group classes and home workout videos (reps paced by music and an instructor, mini-bands, a waistband clip); built after all nine, read once wear was under way (seen)".into()
        }
        crate::source::sim::SimModel::Team => {
            "team-sport players on the pitch and in the club gym (squad counting, partner resistance, running and landing between sets); built after all ten, read once wear was scored (seen)".into()
        }
        crate::source::sim::SimModel::Wear => {
            "the wearables people really use (foot pods, ankle bands, thigh straps, phones in a sock or pocket, belt clips) and how they sit and slip on the body; built after all eleven, read once circuit was scored (seen)".into()
        }
        crate::source::sim::SimModel::Circuit => {
            "a whole lower-body workout with the sensor left on (squats, lunges, band walks, clamshells, bridges between the abduction sets; supersets and finishers); built after all twelve, read once home was scored (seen)".into()
        }
        crate::source::sim::SimModel::Home => {
            "people training at home with a body moved by physics (a rigid multibody on contact springs under PD and balance control; bands on a table leg, a sofa, a chair, a step; interruptions, the other leg's sets, life in the flat between sets); built after all thirteen, read once studio was scored (seen)".into()
        }
        crate::source::sim::SimModel::Studio => {
            "Pilates, barre and yoga studios with motion written directly as orientation curves on SO(3) (slow controlled reps, long holds and pulses at the top, leg circles, the reformer, a ring, the barre, both sides in turn; roll-downs, cat-cow, lunges between sets); built after all fourteen, read once fatigue was scored (seen)".into()
        }
        crate::source::sim::SimModel::Fatigue => {
            "sets taken close to failure (a stochastic feedback controller with signal-dependent noise whose capacity, gains and range fade with a per-rep fatigue integrator: grinding and partial last reps, failed reps, rest-pause, drop sets, tremor, growing compensation); built after all fifteen, the hold-out through session 18, read in session 19 (seen)".into()
        }
        crate::source::sim::SimModel::Hill => {
            "a muscle-driven body (antagonist Hill-type actuators with activation dynamics, force–length and force–velocity curves and a series elastic tendon on every hip and pelvis degree of freedom; passive joint elasticity, co-contraction rising with load, tremor, holds, hesitations and abandoned reps; the sensor on soft tissue); built after all sixteen, the hold-out through session 19, read in session 20 once rhythm was scored (seen)".into()
        }
        crate::source::sim::SimModel::Rhythm => {
            "reps that emerge from a dynamical system (a Hopf oscillator per working joint, its bifurcation parameter ramped up to start a set and down to end it; phase diffusion, amplitude wander, pauses, holds and hesitations as phase resets, metronome entrainment with lost beats) driving a kinematic chain with a balance coupling and multi-scale sway, a semi-Markov chain of behaviours between sets; built after all seventeen, the hold-out through session 20, read in session 21 once primitive was scored (seen)".into()
        }
        crate::source::sim::SimModel::Primitive => {
            "movement as discrete motor primitives chosen by a stochastic grammar (every half-rep a Dynamic Movement Primitive: a critically damped attractor with a canonical phase and a per-lifter forcing term of Gaussian basis functions, drifting goals, serially correlated tempo, blending, phase stopping under perturbations) over a mixture of rehab, gym, athlete and video populations, a kinematic chain with anticipatory postural adjustments, rests full of walking, sitting, lying, re-strapping and the other leg's set; built after all eighteen, the hold-out through session 21, read in session 22 once reach was scored (seen)".into()
        }
        crate::source::sim::SimModel::Reach => {
            "the foot moved in task space and the joints from inverse kinematics with redundancy (each rep a task-space path for the foot, the free hip or the knee, travelled with a per-lifter speed profile; weighted damped least squares over a pelvis, hip, knee and ankle chain with per-lifter joint weights and soft limits, so the pelvis and hip flexion are recruited from the null space; a lagging balance task; a second-order tracking lag) over rehab, gym, athlete and video populations, an agenda of sets, supersets, the other leg's set, alternating legs and life between sets; built after all nineteen, the hold-out through session 22, read from session 23 (seen)".into()
        }
        crate::source::sim::SimModel::Lognormal => {
            "movement from the Kinematic Theory of rapid human movements under intermittent control (every half-rep a sum of overlapping lognormal velocity impulses: a primary impulse and corrective submovements after a refractory delay while the error exceeds a per-lifter tolerance; stalls, second pushes, partial reps and abandoned attempts from the impulse plan; compensations as impulses on other joints) with a pelvis, whole-body shift and trunk that react to the leg through a linearised Newton–Euler coupling, postural stiffness and a delayed reflex, over rehab, gym, athlete and video populations, gait as lognormal strides and life between sets; built after all twenty, the hold-out through session 23, read from session 24 (seen)".into()
        }
        crate::source::sim::SimModel::Syllable => {
            "movement as a switching linear dynamical system (an autoregressive hidden Markov model of behavioural syllables: every syllable its own stable linear dynamics pulling the whole-body state toward its own target with coloured process noise; per-lifter transition tables, log-normal and negative-binomial durations and state-dependent exits, so reps, holds, pauses, abandoned attempts, reps that never return to neutral and compensations emerge from the switching) with a pelvis and trunk that answer the leg through per-lifter random stable linear filters (resonant, some non-minimum-phase, different per side), over rehab, gym, athlete and video populations, life between sets as syllables and a strap that slips; built after all twenty-one, the hold-out through session 24, read from session 25 (seen)".into()
        }
        crate::source::sim::SimModel::Langevin => {
            "movement as Langevin dynamics in a landscape the lifter reshapes (the working joint a particle with friction and coloured motor noise in a potential whose top well deepens and neutral well shallows with the intent, so reps are escapes over a barrier and back: early escapes, failed attempts, held tops, lowerings caught by a middle well), intents from a self-exciting Hawkes process with a refractory time, fatigue lowering the wells and raising friction and noise, compensations as shapes of the landscape or the balance cost, a pelvis and trunk set by a weighted least-squares whole-body balance over the foot, bed, seat or step, life between sets and a sensor on wobbling soft tissue; built after all twenty-two, the hold-out through session 25, read from session 26 (seen)".into()
        }
        crate::source::sim::SimModel::Pendulum => {
            "the working segment as a pumped physical pendulum (gravity, a bouncing and clacking weight stack, a band, a machine's cam, the pelvis about the stance hip in a hip hitch) driven by brief concentric, holding and eccentric braking bursts of torque timed by the pendulum's own phase, some missed, weakened by fatigue; intents from a coach's count, a metronome or breathing with ex-Gaussian reaction times, lapses and anticipation, or a renewal process; a workout grammar of warm-up, working, drop, light and abandoned sets and supersets; a pelvis and trunk from a linear inverted pendulum under a delayed capture-point controller with ankle and hip strategies and recovery hops; life between sets; a MEMS sensor specified by its Allan variance; built after all twenty-three, the hold-out through session 26, read from session 27 (seen)".into()
        }
        crate::source::sim::SimModel::Neuro => {
            "movement made by a delayed sensorimotor loop with a forward model that may be wrong (a Smith predictor whose inertia, load and delay are off per lifter and more so with fatigue: dysmetria, corrective sub-movements, a 3–6 Hz intention tremor near the target), spasticity with a catch and a release, a drift-diffusion gate releasing each raise, hold and lowering (bradykinesia with the sequence effect, freezing, festination, choreic wriggles, rest tremor), flexor synergy and TFL drift, a pelvis from the frontal-plane moment balance about the stance hip (Trendelenburg drop, Duchenne lean, hiking) through a delayed second-order lag, over healthy lifters and lifters after a stroke, with Parkinson's, ataxia, MS, osteoarthritis or a hip replacement, with their own gaits and life between sets; a low-power IMU with a FIFO read in bursts and stamped by the host, an off-nominal data rate, an on-chip low-pass and a gyro–accelerometer skew; built after all twenty-four, the hold-out through session 27, read from session 28 (seen)".into()
        }
        crate::source::sim::SimModel::Mocap => {
            "movement assembled the way a game engine animates a character from motion capture (a library of procedurally captured clips with several takes each, a motion graph, motion matching, non-uniform time warping along a dynamic-time-warping path to the lifter's tempo, cross-fades of 0.1–0.4 s that cut movements short, merge them or leave a bump, inverse kinematics for the foot, the bed and the footrests; compensations from clip choice and additive layers), a pelvis and trunk from a frontal-plane double inverted pendulum blending an ankle and a hip strategy, lifters from anthropometric tables who learn over a block of sessions, cluster, drop and unilateral supersets, life between sets, and a consumer wearable with on-board bias estimation, whole BLE notifications lost, a warm-up on the skin, a drifting crystal and a creeping strap; built after all twenty-five, the hold-out through session 28, read from session 29 (seen)".into()
        }
        crate::source::sim::SimModel::Planner => {
            "movement made the way an industrial robot controller makes it (every rep a jerk-limited seven-segment trajectory with per-lifter, per-phase limits on velocity, acceleration and jerk, via points blended in fly-by zones, targets changed mid-motion and re-planned online from the current position, velocity and acceleration: overshoot, stalls, stopping short, going higher, freezing, pumping, abandoned attempts; a PD servo with per-lifter gains against gravity and the load), rep onsets from a Wing–Kristofferson clock and motor delay with linear phase correction to a metronome or self-paced, a pelvis and trunk as a lumped mass–spring–damper network with a delayed low-gain PID and soft-tissue wobbling masses, the session as a discrete-event simulation of a busy gym (members taking the station, conversations, the phone, the fountain, re-racking, the other leg's set, hurried sets), lifters from anthropometric tables, and a sensor read through a phone-class OS sensor stack (batched, host-stamped, non-uniform samples, duplicates, a busy OS halving the rate, clipping); built after all twenty-six, the hold-out through session 29, read from session 30 (seen)".into()
        }
        crate::source::sim::SimModel::Effort => {
            "movement made by optimal control on a floating-base rigid-body model (pelvis, trunk, both legs as thigh, shank and foot from anthropometric tables) with penalty contacts and Coulomb friction on the floor, the bed, the seat and the step; every rep's joint torques planned by iLQR minimising effort, torque change and endpoint variance under signal-dependent motor noise with per-lifter weights, fatigue lowering the torque available and raising the noise, the trunk, the stance hip, hip flexion or momentum recruited when the target is out of reach; a lifter's mind (a rep count in working memory that slips, perceived exertion ending sets with reps in reserve, at failure or with a failed attempt, lapses, breathing-paced tempo, warm-up, working and back-off sets, life between sets); cable stack, band, ankle weight and pads as forces; a sensor on soft tissue with thermal MEMS drift, g-sensitivity, aliased floor vibration, an off-nominal data rate and BLE connection-event batches; built after all twenty-seven, the hold-out through session 30, read from session 31 (seen)".into()
        }
        crate::source::sim::SimModel::Elastic => {
            "movement as functional data, the way biomechanists analyse and synthesise kinematics (every rep of every joint a curve on normalised time: a per-lifter mean function plus six B-spline eigenfunctions with scores correlated across joints through a per-lifter factor covariance, composed with a random elastic warping function so phase varies apart from amplitude, the duration a score of its own; population, lifter, session, set and rep random effects with AR(1) reps and fatigue as a trend; compensations as shifts along their own directions in the score space or the warp, measured on the curves against DOMAIN's lines; pauses from a renewal process, non-rep movements as functional classes in a semi-Markov rest) on a kinematic skeleton from anthropometric tables, a sensor on soft tissue with wobbles after impacts and the owned sensors' MEMS errors, time stamps and BLE batches; built after all twenty-eight, the hold-out through session 31, read from session 32 (seen)".into()
        }
        crate::source::sim::SimModel::Units => {
            "movement made by motor units (every muscle group that matters a Fuglevand pool of 100–200 units with exponential recruitment thresholds and twitch amplitudes, contraction times inverse to size, onion-skin rate coding, discharge variability, the twitch-summation sigmoid and per-unit fatigue and recovery, so tremor and force unsteadiness emerge from unfused twitches; forces through angle-dependent moment arms with force–length and force–velocity scaling on a segment model from anthropometric tables against gravity, cable stack with pulley friction, band, ankle weight, pads or body weight; a feedforward rep plan with short- and long-latency stretch reflexes and a slow postural loop, adapted rep to rep by a two-rate state-space learner, so first reps and drop sets are off; compensations as fading units make nearby muscles take over; a programme with warm-up, working, back-off and drop sets and life between them) and a sensor on soft tissue excited by impacts and the mechanomyogram with the owned sensors' MEMS errors, stamps and BLE batches; built after all twenty-nine, the hold-out through session 32, read from session 33 (seen)".into()
        }
        crate::source::sim::SimModel::Infer => {
            "movement made by active inference (no motor commands: the brain predicts the proprioception of the movement it intends and delayed reflex arcs fulfil the predictions; the rep's phases and the set's reps from winnerless competition in a stable heteroclinic channel with noisy dwell at its saddles, skipped and repeated phases; beliefs in generalised coordinates updated by precision-weighted proprioceptive, visual and vestibular prediction errors, precision set by attention, fatigue, pain, age and population; a believed load learnt from the error; a rigid body from anthropometric tables against cable stack with pulley friction, band, pads, ankle weight or body weight; compensations where other joints cancel the error a fatigued prime mover leaves; a programme with warm-up, working, back-off and drop sets, the other leg's sets and life between them) and a sensor on soft tissue with the owned sensors' MEMS errors, stamps and BLE batches; the hold-out through session 33, read from session 34 (seen)".into()
        }
        crate::source::sim::SimModel::Cortex => {
            "movement generated by neural population dynamics in motor cortex (a sparse random rate network per lifter, chaotic when idle, trained by FORCE learning, recursive least squares on a fed-back readout, in a fresh and a fatigued condition to turn a preparatory state and a go cue into one rep's prime-mover drive from inverse dynamics, intended angle and habit readouts for hike, TFL flexion and whole-body swing; a slow preparatory input quenching the chaos, rushed and unprepared reps that differ or are given up, network noise for rep-to-rep variability, returning chaos leaking through a partly closed output gate as fidgets, lurches knocking reps off their path; go cues from a ramp-to-threshold accumulator with Weber-law variability and 1/f tempo drift; an activation low-pass and a delayed stretch reflex on a rigid body from anthropometric tables against cable stack with pulley friction, band, ankle weight, machine cam or body weight, with contacts; populations, a programme of warm-up, working, back-off and drop sets and life between sets) and a sensor on soft tissue with the owned sensors' MEMS errors, stamps and BLE batches; never tuned on or read (the new hold-out, built after all thirty-one)".into()
        }
    }
}

/// Each flag kind seen, as "kind precision/recall (n=…)".
fn flag_cells(s: &crate::accuracy::Score) -> Vec<String> {
    s.flags
        .iter()
        .filter(|(_, c)| c.tp + c.fp + c.fn_ > 0)
        .map(|(k, c)| {
            format!(
                "{} {:.2}/{:.2} (n={})",
                k.words(),
                c.precision(),
                c.recall(),
                c.tp + c.fn_
            )
        })
        .collect()
}

/// A report as a table (comfy-table, fitted to the terminal), then the
/// certainty lines.
fn table(r: &crate::accuracy::Report) -> String {
    use crate::accuracy::Score;
    let mut t = crate::terminal::table(&[
        "exercise",
        "sensor",
        "sets",
        "exact",
        "±1",
        "false",
        "peak err",
        "flags: precision/recall",
    ]);
    let row = |name: &str, place: &str, s: &Score| {
        let flags = flag_cells(s);
        vec![
            name.to_string(),
            place.to_string(),
            s.sets.to_string(),
            format!("{:.1} %", 100.0 * s.exact_rate()),
            format!("{:.1} %", 100.0 * s.within_one_rate()),
            s.false_sets.to_string(),
            s.median_peak_error()
                .map_or("–".into(), |e| format!("{e:.2}°")),
            if flags.is_empty() {
                "–".into()
            } else {
                flags.join(", ")
            },
        ]
    };
    for (e, p, s) in &r.combos {
        t.add_row(row(e.id(), p.id(), s));
    }
    t.add_row(row("all", "", &r.total));
    crate::terminal::right(&mut t, &[2, 3, 4, 5, 6]);
    let mut out = crate::terminal::render(&t);
    let b = &r.total.by_confidence;
    out.push_str(&format!(
        "\nexact by confidence: sure (≥0.9) {}/{}, likely ±1 (0.6–0.9) {}/{}, unsure (<0.6) {}/{}; false sets marked sure {}\n",
        b[0].0, b[0].1, b[1].0, b[1].1, b[2].0, b[2].1, r.total.false_sure
    ));
    let (n, wrong) = r.total.wrong_not_sure();
    out.push_str(&format!(
        "certainty: sets marked sure exact {:.1} % (false sets count as wrong); wrong sets not marked sure {n}/{wrong} (false sets included)\n",
        100.0 * r.total.sure_exact_rate()
    ));
    out
}

/// `accuracy --placement both`: the two-sensor corpus.
fn run_pairs(a: &AccuracyArgs, tty: bool) -> anyhow::Result<()> {
    use crate::source::sim::SimModel;
    if a.model.is_some_and(|m| m != SimModel::Standard) || a.recordings.is_some() {
        return Err(super::user_error(
            "--placement both scores the standard model's two-sensor corpus only; \
             leave out --model and --recordings",
        ));
    }
    let configs = crate::accuracy::pair_corpus(a.sessions, a.seed);
    let progress = move |done: usize, total: usize| {
        if tty {
            eshow!("\rscoring {done}/{total} two-sensor sessions");
            if done == total {
                esay!();
            }
        }
    };
    let report = crate::accuracy::evaluate_pairs(&configs, a.threads, &progress)
        .map_err(super::user_error)?;
    if a.json {
        say!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    say!("== two sensors (ankle + pelvis of one lifter, standard model): fused, and the pelvis file alone");
    show!("{}", pair_table(&report));
    Ok(())
}

/// The two-sensor report as a table, then offset and latency lines.
fn pair_table(r: &crate::accuracy::PairReport) -> String {
    use crate::accuracy::{quantile, Score};
    let mut t = crate::terminal::table(&[
        "exercise",
        "sensors",
        "sets",
        "exact",
        "±1",
        "false",
        "flags: precision/recall",
    ]);
    let row = |name: &str, sensors: &str, s: &Score| {
        let flags = flag_cells(s);
        vec![
            name.to_string(),
            sensors.to_string(),
            s.sets.to_string(),
            format!("{:.1} %", 100.0 * s.exact_rate()),
            format!("{:.1} %", 100.0 * s.within_one_rate()),
            s.false_sets.to_string(),
            if flags.is_empty() {
                "–".into()
            } else {
                flags.join(", ")
            },
        ]
    };
    for (e, s) in &r.exercises {
        t.add_row(row(e.id(), "both", &s.fused));
        t.add_row(row(e.id(), "pelvis", &s.pelvis_only));
    }
    t.add_row(row("all", "both", &r.total.fused));
    t.add_row(row("all", "pelvis", &r.total.pelvis_only));
    crate::terminal::right(&mut t, &[2, 3, 4, 5]);
    let mut out = crate::terminal::render(&t);
    let ms = |v: &[f64], q: f64| quantile(v, q).map_or("–".into(), |x| format!("{x:.1} ms"));
    let s = |v: &[f64], q: f64| {
        quantile(v, q).map_or("–".into(), |x| format!("{:.0} ms", 1000.0 * x))
    };
    let tot = &r.total;
    out.push_str(&format!(
        "\noffset found vs the true one, per rep once known: median {}, 95 % {}, worst {} (n={})\n",
        ms(&tot.offset_errors_ms, 0.5),
        ms(&tot.offset_errors_ms, 0.95),
        ms(&tot.offset_errors_ms, 1.0),
        tot.offset_errors_ms.len()
    ));
    out.push_str(&format!(
        "rep announced after the leg is back (sample time): median {}, worst {} (n={})\n",
        s(&tot.announce_s, 0.5),
        s(&tot.announce_s, 1.0),
        tot.announce_s.len()
    ));
    out.push_str(&format!(
        "pelvic flags after the announcement: median {}, worst {}; reps not judged: {}\n",
        s(&tot.flags_after_s, 0.5),
        s(&tot.flags_after_s, 1.0),
        tot.not_judged
    ));
    let b = &tot.fused.by_confidence;
    let (n, wrong) = tot.fused.wrong_not_sure();
    out.push_str(&format!(
        "certainty (fused): sure {}/{} exact, likely {}/{}, unsure {}/{}; wrong sets not marked sure {n}/{wrong}\n",
        b[0].0, b[0].1, b[1].0, b[1].1, b[2].0, b[2].1
    ));
    out
}
