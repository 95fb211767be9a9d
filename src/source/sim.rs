//! The simulated sensor: a small body model that does the exercise.
//!
//! Not sine waves: a stance foot, a pelvis that leans about it and tilts
//! (obliquity) about the stance hip, a straight working leg that abducts and
//! drifts into flexion from the free hip, a heading, walking with foot
//! strikes, fidgets, re-strapping. The sensor sits on the shank (any mounting)
//! or the sacrum (+X right, +Y up, +Z back, within ±15°). Specific force and
//! angular rate come from the kinematics by finite differences, then get
//! gyro bias, noise, dropped samples and gaps. The ground truth comes from
//! the same model, so `analyze` can be scored against it.
//!
//! Everything is drawn from one seeded ChaCha8 stream: the same seed gives
//! the same session on every machine.

use super::round3;
use crate::motion::FlagKind;
use crate::sample::STANDARD_GRAVITY;
use crate::{Exercise, Placement, Sample, Side};
use nalgebra::{Rotation3, UnitQuaternion, Vector3};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, StandardNormal};
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

/// What to simulate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SimConfig {
    /// The exercise.
    pub exercise: Exercise,
    /// Where the sensor is.
    pub placement: Placement,
    /// The working side.
    pub side: Side,
    /// Number of sets.
    pub sets: usize,
    /// Fewest reps in a set.
    pub reps_min: usize,
    /// Most reps in a set.
    pub reps_max: usize,
    /// Compensations that may appear (kinds the placement cannot see are ignored).
    pub compensations: Vec<FlagKind>,
    /// Share of reps with a compensation, 0..1.
    pub compensation_rate: f64,
    /// Sample rate, Hz.
    pub rate_hz: f64,
    /// Noise multiplier (1 = a typical MEMS IMU).
    pub noise: f64,
    /// Largest gyro bias per axis, °/s.
    pub gyro_bias_dps: f64,
    /// Share of samples dropped at random, 0..1.
    pub drop_rate: f64,
    /// 200 ms gaps per minute.
    pub gaps_per_min: f64,
    /// Walk to the stack and turn round between sets.
    pub walking: bool,
    /// Fidgets, single swings and re-strapping between sets.
    pub fidgets: bool,
    /// Mount the sensor at a random orientation (ankle) or tilt (pelvis, ±15°).
    pub random_mounting: bool,
    /// Shortest rest between sets, s.
    pub rest_min_s: f64,
    /// Longest rest between sets, s.
    pub rest_max_s: f64,
    /// The seed.
    pub seed: u64,
    /// Seconds of standing still before the first set (default: 0.5-3 s at random).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_in_s: Option<f64>,
    /// Which body model does the exercise (the standard one, or one built apart to test the counter).
    #[serde(default)]
    pub model: SimModel,
}

/// Which body model a simulated session comes from.
///
/// `Standard` is the simulator the counter was developed against. `Pivot`
/// ([`crate::source::pivot`]) is a second, independently written body model,
/// a held-out test corpus until session 5 read it for a few rules.
/// `Torque` ([`crate::source::torque`]) is a third, torque-driven body model,
/// since read for rules. `Chain` ([`crate::source::chain`]) is a fourth, a
/// segment chain, and `Balance` ([`crate::source::balance`]) a fifth, a body
/// held up by a delayed balance loop doing rep shapes taken from real
/// recordings: each built apart, a hold-out until it was first scored, then
/// read for rules (session 8). `Muscle` ([`crate::source::muscle`]) is a
/// sixth, built after all five: a lifter moved by lagging, fatiguing muscles
/// and motor programs against the load, read for rules in session 9. `Gym` ([`crate::source::gym`]) is a
/// seventh, built apart: a lifter's behaviour as a semi-Markov process, the
/// sensor on soft tissue and a slipping strap; read for a rule in session
/// 10, once clinic stood ready. `Clinic` ([`crate::source::clinic`]) is an eighth, built apart: the
/// physiotherapy clinic and home population, read for a rule in session 11,
/// once athlete stood ready and was scored.
/// `Athlete` ([`crate::source::athlete`]) is a ninth, built apart after all
/// eight: trained athletes and the equipment of a serious gym, read in
/// session 12 once class stood ready and was scored.
/// `Class` ([`crate::source::class`]) is a tenth, built apart after all nine:
/// ordinary people in group classes and home workout videos, reps paced by
/// music and an instructor; read in session 13 once wear was under way.
/// `Team` ([`crate::source::team`]) is an eleventh, built apart after all
/// ten: team-sport injury-prevention work on the pitch and in the club gym;
/// read in session 14 once wear stood ready and was scored.
/// `Wear` ([`crate::source::wear`]) is a twelfth, built apart after all
/// eleven: the wearables people really use (foot pods, ankle bands, thigh
/// straps, phones in a sock or pocket, belt and waistband clips) and how
/// they sit on the body; read in session 15 once circuit stood ready and
/// was scored.
/// `Circuit` ([`crate::source::circuit`]) is a thirteenth, built apart after
/// all twelve: a whole lower-body workout with the sensor left on, squats,
/// lunges, band walks, clamshells and bridges between the abduction sets;
/// read in session 16 once home stood ready and was scored.
/// `Home` ([`crate::source::home`]) is a fourteenth, built apart after all
/// thirteen: people training at home, with a body whose motion comes from
/// physics (a rigid multibody on contact springs, driven by torque-limited
/// PD and balance controllers); read in session 16 once studio stood
/// ready and was scored.
/// `Studio` ([`crate::source::studio`]) is a fifteenth, built apart after
/// all fourteen: Pilates, barre and yoga studios (slow controlled reps,
/// long holds, pulses at the top, reformer, ring and barre), with motion
/// written directly as orientation curves on SO(3); read in session 17
/// once fatigue stood ready and was scored.
/// `Fatigue` ([`crate::source::fatigue`]) is a sixteenth, built apart after
/// all fifteen: lifters taking sets close to failure, each joint moved by a
/// stochastic optimal feedback controller with signal-dependent motor noise
/// whose capacity, gains and range fade with a per-rep fatigue integrator
/// (grinding and partial last reps, failed reps, rest-pause, drop sets,
/// tremor, growing compensation); the hold-out through session 18, read in
/// session 19 (once hill was scored) for the given-up-attempt and
/// rep-sized-jolt cues.
/// `Hill` ([`crate::source::hill`]) is a seventeenth, built apart after all
/// sixteen: a muscle-driven body (Hill-type actuators with activation
/// dynamics, tendon and passive joint elasticity, co-contraction, tremor,
/// soft-tissue coupling of the sensor); the hold-out through session 19,
/// read in session 20 (once rhythm was scored) for the shaky-rest rule.
/// `Rhythm` ([`crate::source::rhythm`]) is an eighteenth, built apart after
/// all seventeen: reps that emerge from a nonlinear oscillator (a central
/// pattern generator whose bifurcation parameter is ramped up and down)
/// driving a kinematic chain; the hold-out through session 20, read in
/// session 21 (once primitive was scored) for the growing-reps cue.
/// `Primitive` ([`crate::source::primitive`]) is a nineteenth, built apart
/// after all eighteen: movement as discrete motor primitives (Dynamic
/// Movement Primitives) chosen by a stochastic grammar, over a mixture of
/// populations; the hold-out through session 21, read in session 22 once
/// reach was scored.
/// `Reach` ([`crate::source::reach`]) is a twentieth, built apart after all
/// nineteen: the lifter moves the foot (the end effector) in task space and
/// the joints follow from damped-least-squares inverse kinematics with
/// redundancy, per-lifter joint weights and soft limits, a balance task in
/// the null space and a second-order tracking lag; the hold-out through
/// session 22, read from session 23.
/// `Lognormal` ([`crate::source::lognormal`]) is a twenty-first, built
/// apart after all twenty: every motion a sum of overlapping lognormal
/// velocity impulses (the Kinematic Theory of rapid human movements) under
/// intermittent control, corrective submovements while the error exceeds
/// a per-lifter tolerance, and a pelvis and trunk that react to the leg
/// through a linearised Newton–Euler coupling with postural stiffness and a
/// delayed reflex; built after all twenty, the hold-out through session
/// 23, read from session 24.
/// `Syllable` ([`crate::source::syllable`]) is a twenty-second, built apart
/// after all twenty-one: movement as a switching linear dynamical system
/// (an autoregressive hidden Markov model of behavioural syllables: rest,
/// raise, hold, lower, settle, fidget, stride, ...) whose reps emerge from
/// the switching, a pelvis and trunk that answer the leg through per-lifter
/// random stable linear filters, and a strap that slips; built after all
/// twenty-one, the hold-out through session 24, read from session 25.
/// `Langevin` ([`crate::source::langevin`]) is a twenty-third, built apart
/// after all twenty-two: the working joint a Langevin particle in a
/// potential landscape the lifter reshapes (a neutral well, a top well that
/// deepens with the intent, a tilt toward the top), intents from a
/// self-exciting Hawkes process per lifter, a pelvis and trunk set by
/// quasi-static whole-body balance solved as a small weighted least-squares
/// problem, and a sensor on soft tissue that wobbles; built after all
/// twenty-two, the hold-out through session 25, read from session 26.
/// `Pendulum` ([`crate::source::pendulum`]) is a twenty-fourth, built apart
/// after all twenty-three: the working segment a pumped physical pendulum
/// (gravity, the cable's bouncing weight stack, the band, the machine's
/// cam or the pelvis about the stance hip) driven by brief concentric,
/// holding and eccentric braking bursts of torque timed by the pendulum's
/// own phase, intents from cues with ex-Gaussian reaction times, lapses
/// and anticipation (or a renewal process), a pelvis and trunk balanced as
/// a linear inverted pendulum by a capture-point controller (ankle and hip
/// strategies, a recovery hop when the capture point leaves the foot), and
/// a MEMS sensor specified by its Allan variance; built after all
/// twenty-three, the hold-out through session 26, read from session 27.
/// `Neuro` ([`crate::source::neuro`]) is a twenty-fifth, built apart after
/// all twenty-four: the working joint moved by a feedback controller acting
/// on a delayed (60–150 ms) estimate of its state, filled in by a forward
/// model (a Smith predictor) whose inertia, load and delay may be wrong
/// (dysmetria, corrective sub-movements, intention tremor), spasticity with
/// a catch and a release, a drift-diffusion gate releasing each raise, hold
/// and lowering (bradykinesia with the sequence effect, freezing,
/// festination, choreic wriggles), flexor synergies, a pelvis set by the
/// frontal-plane moment balance about the stance hip (Trendelenburg,
/// Duchenne, hiking) over healthy lifters and lifters with neurological or
/// orthopaedic conditions, and a low-power IMU with a FIFO, host-stamped
/// bursts, an off-nominal data rate, an on-chip low-pass and clock skew
/// between gyro and accelerometer; built after all twenty-four, the
/// hold-out through session 27, read from session 28.
/// `Mocap` ([`crate::source::mocap`]) is a twenty-sixth, built apart after
/// all twenty-five: movement assembled the way a game engine animates a
/// character from motion capture (a library of procedurally captured clips
/// with several takes each, a motion graph, motion matching, non-uniform
/// time warps along a dynamic-time-warping path, cross-fades that cut
/// movements short, merge them or leave a bump, inverse kinematics for the
/// foot, the bed and the footrests; compensations from clip choice and
/// additive layers), a pelvis and trunk from a frontal-plane double
/// inverted pendulum balanced by a delayed controller blending an ankle and
/// a hip strategy, lifters from anthropometric tables who learn over a
/// block of sessions (cluster, drop and unilateral supersets), and a
/// consumer wearable with on-board bias estimation, BLE notifications lost
/// whole, a warm-up on the skin and a drifting crystal; built after all
/// twenty-five, the hold-out through session 28, read from session 29.
/// `Planner` ([`crate::source::planner`]) is a twenty-seventh, built apart
/// after all twenty-six: movement made the way an industrial robot
/// controller makes it (jerk-limited seven-segment trajectories with
/// per-lifter, per-phase limits, via points in fly-by blends, targets
/// re-planned online mid-motion, a PD servo against gravity and the load),
/// rep onsets from a Wing–Kristofferson timing model with linear phase
/// correction, a pelvis and trunk as a lumped mass–spring–damper network
/// with soft-tissue wobbling masses, the session as a discrete-event
/// simulation of a busy gym, and a sensor read through a phone-class OS
/// sensor stack; built after all twenty-six, the hold-out through session
/// 29, read from session 30.
/// `Effort` ([`crate::source::effort`]) is a twenty-eighth, built apart
/// after all twenty-seven: movement made by optimal control on a
/// floating-base rigid-body model with penalty contacts (every rep's
/// torques planned by a few iterations of iLQR minimising effort, torque
/// change and endpoint variance under signal-dependent noise, with
/// per-lifter weights, fatigue lowering the torque available and other
/// joints recruited when the target cannot be reached), a lifter's mind
/// (a rep count in working memory that slips, a perceived-exertion model
/// ending sets, lapses and breathing-paced tempo), cable stacks, bands,
/// ankle weights and pads as forces, and a sensor whose failures come from
/// physics and firmware; the hold-out through session 30, read from
/// session 31.
/// `Elastic` ([`crate::source::elastic`]) is a twenty-ninth, built apart
/// after all twenty-eight: movement as functional data (every rep's joint
/// curves a per-lifter mean function plus B-spline eigenfunctions with
/// scores correlated across joints, composed with a random elastic time
/// warp; population, lifter, session, set and rep random effects with
/// AR(1) reps and a fatigue trend; compensations as shifts in the score
/// space or the warp; rests from a renewal process and non-rep movements as
/// functional classes in a semi-Markov sequence), a kinematic skeleton from
/// anthropometric tables, soft-tissue artefact linear in the joint angles
/// with wobbles after impacts, and the owned sensors' MEMS errors, time
/// stamps and BLE batches; the hold-out through session 31, read from
/// session 32.
/// `Units` ([`crate::source::units`]) is a thirtieth, built apart after all
/// twenty-nine: movement made by motor units (every muscle group a pool of
/// 100–200 units with exponentially distributed thresholds and twitches,
/// rate coding, discharge variability, twitch summation and per-unit
/// fatigue, so tremor and force unsteadiness emerge from unfused twitches),
/// driving a segment model against gravity and the load, under a
/// feedforward rep plan with delayed stretch reflexes and a slow postural
/// loop, adapted rep to rep by a two-rate learner (first reps off, drop-set
/// after-effects, compensations as fading units make nearby muscles take
/// over), a sensor on soft tissue with the muscles' mechanomyogram and the
/// owned sensors' errors; the hold-out through session 32, read from
/// session 33.
/// `Infer` ([`crate::source::infer`]) is a thirty-first, built apart after
/// all thirty: movement made by active inference (a stable heteroclinic
/// channel of rep phases as hidden causes, beliefs in generalised
/// coordinates updated by precision-weighted prediction errors, delayed
/// reflex arcs that fulfil proprioceptive predictions on a rigid-body
/// model against the load, compensations where other joints cancel the
/// error a fatigued prime mover leaves); the hold-out through session 33,
/// read from session 34.
/// `Cortex` ([`crate::source::cortex`]) is a thirty-second, built apart
/// after all thirty-one: movement generated by neural population dynamics
/// in motor cortex (a sparse chaotic rate network per lifter trained by
/// FORCE learning to turn a preparatory state and a go cue into the rep's
/// muscle drive, intended angle and habit readouts; preparation, noise,
/// returning chaos and lurches shape each rep; go cues from a
/// ramp-to-threshold accumulator with 1/f tempo drift; an activation
/// low-pass on a rigid body against the load); the new hold-out, never
/// tuned on or read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SimModel {
    /// The project's own body model ([`Simulator`]).
    #[default]
    Standard,
    /// The held-out whole-body pivot model ([`crate::source::pivot::PivotSimulator`]).
    Pivot,
    /// The held-out torque-driven model ([`crate::source::torque::TorqueSimulator`]).
    Torque,
    /// The held-out segment-chain model ([`crate::source::chain::ChainSimulator`]).
    Chain,
    /// The held-out balance-loop model with rep shapes from real recordings
    /// ([`crate::source::balance::BalanceSimulator`]).
    Balance,
    /// The musculoskeletal model: muscles with activation dynamics driving
    /// the body against the load (read for rules in session 9) ([`crate::source::muscle::MuscleSimulator`]).
    Muscle,
    /// A seventh body model built apart: a lifter's behaviour as a
    /// semi-Markov process, the sensor on soft tissue and a slipping strap;
    /// read for a rule in session 10 ([`crate::source::gym::GymSimulator`]).
    Gym,
    /// An eighth body model built apart: the physiotherapy clinic and home
    /// population (guarded, variable reps against bands and weights, a cheap
    /// consumer sensor); read for a rule in session 11
    /// ([`crate::source::clinic::ClinicSimulator`]).
    Clinic,
    /// A ninth body model built apart: trained athletes doing coached,
    /// fast and held reps with the equipment of a serious gym (the cable
    /// cuff and stack, a lifting belt, a higher-end sensor); read in session
    /// 12 ([`crate::source::athlete::AthleteSimulator`]).
    Athlete,
    /// A tenth body model built apart: ordinary people in group exercise
    /// classes and home workout videos, reps paced by the music's beat and
    /// an instructor (mini-bands, a waistband clip, the sensors people
    /// own); read in session 13 ([`crate::source::class::ClassSimulator`]).
    Class,
    /// An eleventh body model built apart: team-sport injury-prevention
    /// work on the pitch and in the club gym (a squad counting out loud,
    /// partner resistance, running, jumping and landing between sets); read
    /// in session 14 ([`crate::source::team::TeamSimulator`]).
    Team,
    /// A twelfth body model built apart: the wearables people really use
    /// and how they sit on the body (mountings, fabric and soft-tissue
    /// suspension, slipping straps, phones in pockets, each device's own
    /// errors), on a kinematic chain driven by equilibrium-point reaching;
    /// read in session 15 ([`crate::source::wear::WearSimulator`]).
    Wear,
    /// A thirteenth body model built apart: a whole lower-body workout with
    /// the sensor left on (squats, lunges, band walks, clamshells, fire
    /// hydrants, bridges, step-ups, hinges between the abduction sets;
    /// supersets and finishers), keyframed joint tracks through a skeleton;
    /// read in session 16 ([`crate::source::circuit::CircuitSimulator`]).
    Circuit,
    /// A fourteenth body model built apart: people training at home (bands
    /// tied to a table leg, ankle weights, a sofa, a chair, a stair step,
    /// interruptions and the other leg's sets, life in the flat between
    /// sets), the body a rigid multibody moved by physics under
    /// torque-limited PD and balance controllers; read in session 16
    /// ([`crate::source::home::HomeSimulator`]).
    Home,
    /// A fifteenth body model built apart: Pilates, barre and yoga studios
    /// (slow controlled reps, long holds and pulses at the top, leg circles,
    /// the reformer, a ring between the knees, the barre, both sides in
    /// turn, roll-downs, cat-cow and lunges between sets), every segment's
    /// orientation a keyframed curve on SO(3) with analytic angular rate;
    /// read in session 17 ([`crate::source::studio::StudioSimulator`]).
    Studio,
    /// A sixteenth body model built apart: sets taken close to failure and
    /// the motor control behind them (a stochastic optimal feedback
    /// controller with signal-dependent noise driving the joint toward
    /// via-targets, its capacity, gains and range fading with a per-rep
    /// fatigue integrator: grinding and partial last reps, failed reps,
    /// rest-pause, drop sets, tremor and compensation growing through the
    /// set); the hold-out through session 18, never tuned on
    /// ([`crate::source::fatigue::FatigueSimulator`]).
    Fatigue,
    /// A seventeenth body model built apart after all sixteen: a
    /// muscle-driven body, every hip and pelvis degree of freedom moved by
    /// antagonist Hill-type actuators (activation dynamics, force–length,
    /// force–velocity, series elastic tendon) against limb inertia, gravity
    /// and the load, with passive joint elasticity, co-contraction, tremor
    /// and a sensor on soft tissue; the hold-out through session 19, read
    /// in session 20 ([`crate::source::hill::HillSimulator`]).
    Hill,
    /// An eighteenth body model built apart after all seventeen: reps that
    /// emerge from a dynamical system (a Hopf oscillator per working joint
    /// whose amplitude and frequency are slow states, ramped up to start a
    /// set and down to end it; phase diffusion, amplitude wander, pauses,
    /// holds and hesitations as phase resets, metronome entrainment), a
    /// kinematic chain answering the leg through a balance coupling, a
    /// semi-Markov chain of behaviours between sets; the hold-out through
    /// session 20, read in session 21 ([`crate::source::rhythm::RhythmSimulator`]).
    Rhythm,
    /// A nineteenth body model built apart after all eighteen: every
    /// half-rep a Dynamic Movement Primitive (a critically damped attractor
    /// with a canonical phase, a per-lifter forcing term of Gaussian basis
    /// functions, drifting goals, serially correlated tempo, blending and
    /// phase stopping), sessions expanded by a weighted grammar (practice
    /// swings, false starts, abandoned and dropped last reps, rests full of
    /// walking, sitting, lying, re-strapping and the other leg's set) over
    /// a mixture of rehab, gym, athlete and video populations; the
    /// hold-out through session 21, read in session 22
    /// ([`crate::source::primitive::PrimitiveSimulator`]).
    Primitive,
    /// A twentieth body model built apart after all nineteen: the lifter
    /// moves the working foot (or the free hip, or the knees against the
    /// pads) along a task-space path with a per-lifter speed profile, and
    /// the joints follow from damped-least-squares inverse kinematics with
    /// redundancy (per-lifter joint weights and soft limits, so the pelvis
    /// and hip flexion are recruited when abduction is expensive; a balance
    /// task in the null space; a second-order tracking lag), an agenda of
    /// sets, supersets, the other leg's set and life between sets, a sensor
    /// on soft tissue with its own crystal; the hold-out through session
    /// 22, read from session 23 ([`crate::source::reach::ReachSimulator`]).
    Reach,
    /// A twenty-first body model built apart after all twenty: every half-rep
    /// a sum of overlapping lognormal velocity impulses (Plamondon's
    /// sigma-lognormal model) under intermittent control (a primary impulse,
    /// then corrective submovements after a refractory delay while the
    /// remaining error exceeds a per-lifter tolerance: stalls, second
    /// pushes, partial reps and abandoned attempts from the impulse plan),
    /// compensations as impulses on other joints, a pelvis, whole-body
    /// shift and trunk that react to the leg through a linearised
    /// Newton–Euler coupling with per-lifter postural stiffness, damping and
    /// a delayed reflex (standing, lying, seated or on a step), gait as
    /// lognormal strides and life between sets, a sensor on soft tissue
    /// with its own crystal; built after all twenty, the hold-out through
    /// session 23, read from session 24
    /// ([`crate::source::lognormal::LognormalSimulator`]).
    Lognormal,
    /// A twenty-second body model built apart after all twenty-one: movement
    /// as a switching linear dynamical system (an autoregressive hidden
    /// Markov model, MoSeq's behavioural syllables: every syllable its own
    /// stable linear dynamics pulling the whole-body state toward its own
    /// target, with coloured process noise; per-lifter transition tables,
    /// log-normal and negative-binomial durations, state-dependent exits,
    /// so reps, holds, pauses, abandoned attempts, reps that never return to
    /// neutral and compensations emerge from the switching), a pelvis and
    /// trunk that answer the leg through per-lifter random stable linear
    /// filters (resonant, some non-minimum-phase, different per side), life
    /// between sets as syllables too, a strap that slips in sudden steps and
    /// creeps, and a full sensor error model; built after all twenty-one,
    /// the hold-out through session 24, read from session 25
    /// ([`crate::source::syllable::SyllableSimulator`]).
    Syllable,
    /// A twenty-third body model built apart after all twenty-two: movement
    /// as Langevin dynamics in a landscape the lifter reshapes (the working
    /// joint a particle with friction and coloured motor noise in a
    /// potential whose top well deepens and neutral well shallows with the
    /// lifter's intent, so reps are escapes over a barrier and back, some
    /// early, some failed, some held, some caught by a middle well), the
    /// intents from a self-exciting Hawkes process with a refractory time,
    /// fatigue lowering the top wells and raising friction and noise,
    /// compensations as shapes of the landscape or of the balance cost; a
    /// pelvis and trunk set every few steps by a weighted least-squares
    /// whole-body balance over the stance foot, the bed, the seat or the
    /// step with per-lifter weights and lag, life between sets, a sensor on
    /// wobbling soft tissue with a full error model; built after all
    /// twenty-two, the hold-out through session 25, read from session 26
    /// ([`crate::source::langevin::LangevinSimulator`]).
    Langevin,
    /// A twenty-fourth body model built apart after all twenty-three: the
    /// working segment (the leg; in a hip hitch the pelvis about the stance
    /// hip) a compound pendulum with gravity and its load (a cable's weight
    /// stack that bounces and clacks, a band, an ankle weight, a machine's
    /// cam and pads) driven by brief bursts of muscle torque (concentric
    /// pushes and pumps, a hold at the top, eccentric braking pulses on the
    /// way down, some missed) triggered by the pendulum's own phase, so
    /// momentum, short reps, holds, dropped lowerings and reps caught and
    /// pumped up again emerge from the physics; intents from a coach's count,
    /// a metronome or breathing with ex-Gaussian reaction times, lapses and
    /// anticipation, or a gamma/Weibull renewal process; a workout grammar
    /// (warm-up, working, drop, light and abandoned sets, supersets with the
    /// other leg); a pelvis and trunk from a frontal and sagittal linear
    /// inverted pendulum under a delayed capture-point controller with ankle
    /// and hip strategies and recovery hops; a MEMS sensor specified by its
    /// Allan variance (white noise, Gauss–Markov bias instability, rate
    /// random walk, warm-up drift) behind the device's low-pass and clock;
    /// built after all twenty-three, the hold-out through session 26, read
    /// from session 27 ([`crate::source::pendulum::PendulumSimulator`]).
    Pendulum,
    /// A twenty-fifth body model built apart after all twenty-four: the
    /// working joint (the leg; the knees against the machine's pads; in a
    /// hip hitch the pelvis about the stance hip) a plant with inertia,
    /// gravity, passive stiffness, damping and its load, moved by a feedback
    /// controller acting on a delayed (60–150 ms per lifter) estimate of its
    /// state that a forward model (a Smith predictor driven by the efference
    /// copy) brings up to date; the forward model's inertia, load and delay
    /// are per lifter and may be wrong, more so with fatigue (overshoot and
    /// undershoot of the intended top, corrective sub-movements, a 3–6 Hz
    /// intention tremor that grows as the limb slows near the target);
    /// spasticity as a delayed velocity-dependent stretch reflex that resists
    /// fast lowering and may catch the limb and let it go; a
    /// drift-diffusion go signal that releases each raise, hold and lowering
    /// (prompt for healthy lifters; bradykinesia with the sequence effect,
    /// freezing part way then going on or giving up, festination, choreic
    /// or dyskinetic wriggles and rest tremor for others); flexor synergy
    /// and tensor fasciae latae drift with a weak abductor; a pelvis set by
    /// the quasi-static frontal-plane moment balance about the stance hip
    /// (body weight, the swing leg and the cable against the abductors'
    /// available moment, falling with fatigue: Trendelenburg drop, Duchenne
    /// lean or a hike) through a delayed second-order lag with postural
    /// sway; healthy lifters and lifters after a stroke, with Parkinson's,
    /// cerebellar ataxia, multiple sclerosis, hip or knee osteoarthritis or
    /// after a hip replacement; gaits of their own, sitting, lying,
    /// re-strapping with help, the other leg's set and wriggles between
    /// sets; a low-power IMU with a FIFO read in bursts that the host stamps
    /// (jitter, late bursts, overflows), an off-nominal data rate, an
    /// on-chip low-pass, a gyro–accelerometer clock skew, a bias that steps
    /// after a gap and the usual errors; built after all twenty-four, the
    /// hold-out through session 27, read from session 28
    /// ([`crate::source::neuro::NeuroSimulator`]).
    Neuro,
    /// A twenty-sixth body model built apart after all twenty-five: movement
    /// assembled the way a game engine animates a character from motion
    /// capture (a library of procedurally captured clips per exercise with
    /// several takes each, some with a capture glitch smoothed over; a motion
    /// graph; a controller choosing the next take by motion matching,
    /// time-warping it non-uniformly along a dynamic-time-warping path to the
    /// lifter's tempo, scaling it to the wanted range and cross-fading into
    /// it over 0.1–0.4 s, so transitions cut movements short, merge them or
    /// leave a bump; inverse kinematics for the foot on the floor, the leg on
    /// the bed and the feet on the footrests), compensations from clip choice
    /// and additive layers, a pelvis and trunk from a frontal-plane double
    /// inverted pendulum balanced by a delayed controller blending an ankle
    /// and a hip strategy, lifters from anthropometric tables (de Leva) who
    /// learn over a block of sessions, cluster, drop and unilateral
    /// supersets, and a consumer wearable with on-board bias estimation, BLE
    /// notifications lost whole, a crystal that drifts as the device warms
    /// on the skin, a clipping gyro and a creeping strap; built after all
    /// twenty-five, the hold-out through session 28, read from session 29
    /// ([`crate::source::mocap::MocapSimulator`]).
    Mocap,
    /// A twenty-seventh body model built apart after all twenty-six:
    /// movement made the way an industrial robot controller makes it (every
    /// rep a jerk-limited seven-segment trajectory of the working joint and
    /// small knee, flexion and rotation coordinates, with per-lifter and
    /// per-phase limits on velocity, acceleration and jerk, via points
    /// blended in fly-by zones, targets changed mid-motion and re-planned
    /// online from the current position, velocity and acceleration, so
    /// reps overshoot, stall, stop short, go higher, freeze, pump or are
    /// abandoned; a PD servo with per-lifter gains following the plan
    /// against gravity and the load), rep onsets from a Wing–Kristofferson
    /// clock and motor delay with linear phase correction to a metronome or
    /// self-paced, tempo drifting with fatigue and extra pauses; a pelvis
    /// and trunk as a lumped mass–spring–damper network driven by the leg,
    /// the load and a delayed low-gain PID, with soft-tissue wobbling
    /// masses; the session as a discrete-event simulation of a busy gym
    /// (members taking the station, conversations, the phone, the water
    /// fountain, re-racking, the other leg's set, timer- or feel-driven
    /// rests, hurried sets); lifters from anthropometric tables; a sensor
    /// on soft tissue read through a phone-class OS sensor stack (batched,
    /// host-stamped, non-uniform samples, duplicates, a busy OS halving the
    /// rate, clipping, quantisation, bias instability); built after all
    /// twenty-six, the hold-out through session 29, read from session 30
    /// ([`crate::source::planner::PlannerSimulator`]).
    Planner,
    /// A twenty-eighth body model built apart after all twenty-seven:
    /// movement made by optimal control on a floating-base rigid-body model
    /// (pelvis, trunk and both legs as thigh, shank and foot, from
    /// anthropometric tables) touching the floor, the bed, the seat and the
    /// step through penalty contacts with Coulomb friction; every rep's
    /// joint torques planned by a few iterations of iLQR on a reduced model,
    /// minimising effort, torque change and endpoint variance under
    /// signal-dependent motor noise with per-lifter weights; fatigue lowers
    /// the torque available and raises the noise, and when the target is out
    /// of reach the plan recruits the trunk, the stance hip, hip flexion or
    /// momentum; a lifter's mind (a rep count in working memory that slips,
    /// a perceived-exertion model that ends sets with reps in reserve, at
    /// failure or with a failed attempt, lapses, breathing-paced tempo,
    /// warm-up, working and back-off sets, life between sets); cable stack,
    /// band, ankle weight and pads as forces; a sensor on soft tissue with
    /// MEMS errors from a thermal model, floor vibration aliased by a
    /// filterless sensor, an off-nominal data rate and BLE connection-event
    /// batches; the hold-out through session 30, read from session 31
    /// ([`crate::source::effort::EffortSimulator`]).
    Effort,
    /// A twenty-ninth body model built apart after all twenty-eight:
    /// movement as functional data, the way biomechanists analyse and
    /// synthesise kinematics (every rep of every joint a curve on
    /// normalised time: a per-lifter mean function plus six B-spline
    /// eigenfunctions whose scores are correlated across joints through a
    /// per-lifter factor covariance, composed with a random warping
    /// function so phase varies apart from amplitude, the duration a score
    /// of its own; population, lifter, session, set and rep random effects,
    /// AR(1) from rep to rep, fatigue as a trend in the scores;
    /// compensations as shifts along their own directions in the score
    /// space or the warp, measured against DOMAIN's lines on the curves;
    /// rests from a per-lifter renewal process, non-rep movements as
    /// functional classes of their own in a semi-Markov activity
    /// sequence), a kinematic skeleton from anthropometric tables, a
    /// sensor on soft tissue (offset linear in the joint angles, damped
    /// wobbles after impacts) with the owned sensors' MEMS errors, device
    /// or host time stamps and BLE batches; the hold-out through session
    /// 31, read from session 32
    /// ([`crate::source::elastic::ElasticSimulator`]).
    Elastic,
    /// A thirtieth body model built apart after all twenty-nine: movement
    /// made by motor units. Every muscle group that matters (working-side
    /// gluteus medius/minimus and TFL, adductors, iliopsoas, hip extensors,
    /// stance-side abductors, quadratus lumborum and obliques on each side)
    /// is a Fuglevand pool of 100–200 units with exponential thresholds and
    /// twitch amplitudes, contraction times inverse to size, onion-skin rate
    /// coding, discharge variability, the twitch-summation sigmoid and
    /// per-unit fatigue and recovery (Potvin–Fuglevand), so tremor and
    /// force unsteadiness come from unfused twitches; forces act through
    /// angle-dependent moment arms with force–length and force–velocity
    /// scaling on a segment model from anthropometric tables against
    /// gravity, cable stack, band, ankle weight or pad; the drive is a
    /// feedforward rep plan plus short- and long-latency stretch reflexes
    /// and a slow postural loop, adapted rep to rep by a two-rate
    /// (fast/slow) state-space learner; compensations come from nearby
    /// muscles recruited as fast units fade; a programme of warm-up,
    /// working, back-off and drop sets with life between them; a sensor on
    /// soft tissue excited by impacts and the mechanomyogram, with the
    /// owned sensors' MEMS errors, stamps and BLE batches; the hold-out
    /// through session 32, read from session 33
    /// ([`crate::source::units::UnitsSimulator`]).
    Units,
    /// A thirty-first body model built apart after all thirty: movement
    /// made by active inference. The lifter sends no motor commands: the
    /// brain predicts the proprioception of the movement it intends and
    /// delayed spinal reflex arcs fulfil the predictions. Rep phases and
    /// the set's sequence come from winnerless competition in a stable
    /// heteroclinic channel (Lotka–Volterra with asymmetric inhibition,
    /// noisy dwell at the saddles, skipped and repeated phases); beliefs in
    /// generalised coordinates are updated by precision-weighted
    /// proprioceptive, visual and vestibular prediction errors; precision
    /// (attention, fatigue, pain, age, poor proprioception) shapes the reps;
    /// a believed load that is wrong is learnt over the first reps; a rigid
    /// body from anthropometric tables against cable stack, band, ankle
    /// weight, pads or body weight; compensations where other joints cancel
    /// the error a fatigued prime mover leaves; a sensor on soft tissue with
    /// the owned sensors' MEMS errors, stamps and BLE batches; the
    /// hold-out through session 33, read from session 34
    /// ([`crate::source::infer::InferSimulator`]).
    Infer,
    /// A thirty-second body model built apart after all thirty-one:
    /// movement generated by neural population dynamics in motor cortex.
    /// Every lifter owns a sparse random rate network, chaotic when idle,
    /// trained by FORCE learning (recursive least squares on a fed-back
    /// readout) in a fresh and a fatigued condition to turn a preparatory
    /// state and a go cue into one rep's prime-mover drive, intended angle
    /// and habit readouts (hike, TFL flexion, swing); a slow preparatory
    /// input quenches the chaos, rushed and unprepared reps differ, noise
    /// varies the reps, returning chaos gives fidgets, lurches knock reps
    /// off their path; go cues from a ramp-to-threshold accumulator with
    /// Weber-law variability and 1/f tempo drift; an activation low-pass
    /// and a delayed stretch reflex on a rigid body from anthropometric
    /// tables against cable stack, band, ankle weight, machine or body
    /// weight; populations, a programme and life between sets; a sensor on
    /// soft tissue with the owned sensors' errors, stamps and BLE batches;
    /// the new hold-out, never tuned on or read
    /// ([`crate::source::cortex::CortexSimulator`]).
    Cortex,
}

impl SimModel {
    /// Every model, in declaration order.
    pub const ALL: &'static [SimModel] = &[
        SimModel::Standard,
        SimModel::Pivot,
        SimModel::Torque,
        SimModel::Chain,
        SimModel::Balance,
        SimModel::Muscle,
        SimModel::Gym,
        SimModel::Clinic,
        SimModel::Athlete,
        SimModel::Class,
        SimModel::Team,
        SimModel::Wear,
        SimModel::Circuit,
        SimModel::Home,
        SimModel::Studio,
        SimModel::Fatigue,
        SimModel::Hill,
        SimModel::Rhythm,
        SimModel::Primitive,
        SimModel::Reach,
        SimModel::Lognormal,
        SimModel::Syllable,
        SimModel::Langevin,
        SimModel::Pendulum,
        SimModel::Neuro,
        SimModel::Mocap,
        SimModel::Planner,
        SimModel::Effort,
        SimModel::Elastic,
        SimModel::Units,
        SimModel::Infer,
        SimModel::Cortex,
    ];

    /// The id used on the command line and in files.
    pub fn id(self) -> &'static str {
        match self {
            SimModel::Standard => "standard",
            SimModel::Pivot => "pivot",
            SimModel::Torque => "torque",
            SimModel::Chain => "chain",
            SimModel::Balance => "balance",
            SimModel::Muscle => "muscle",
            SimModel::Gym => "gym",
            SimModel::Clinic => "clinic",
            SimModel::Athlete => "athlete",
            SimModel::Class => "class",
            SimModel::Team => "team",
            SimModel::Wear => "wear",
            SimModel::Circuit => "circuit",
            SimModel::Home => "home",
            SimModel::Studio => "studio",
            SimModel::Fatigue => "fatigue",
            SimModel::Hill => "hill",
            SimModel::Rhythm => "rhythm",
            SimModel::Primitive => "primitive",
            SimModel::Reach => "reach",
            SimModel::Lognormal => "lognormal",
            SimModel::Syllable => "syllable",
            SimModel::Langevin => "langevin",
            SimModel::Pendulum => "pendulum",
            SimModel::Neuro => "neuro",
            SimModel::Mocap => "mocap",
            SimModel::Planner => "planner",
            SimModel::Effort => "effort",
            SimModel::Elastic => "elastic",
            SimModel::Units => "units",
            SimModel::Infer => "infer",
            SimModel::Cortex => "cortex",
        }
    }
}

impl std::fmt::Display for SimModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

impl std::str::FromStr for SimModel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        SimModel::ALL
            .iter()
            .copied()
            .find(|m| m.id() == s)
            .ok_or_else(|| {
                let ids: Vec<&str> = SimModel::ALL.iter().map(|m| m.id()).collect();
                format!("unknown model '{s}'; expected one of: {}", ids.join(", "))
            })
    }
}

impl SimConfig {
    /// A realistic default session for this exercise, placement and side.
    pub fn new(exercise: Exercise, placement: Placement, side: Side) -> Self {
        SimConfig {
            exercise,
            placement,
            side,
            sets: 3,
            reps_min: 10,
            reps_max: 15,
            compensations: FlagKind::ALL.to_vec(),
            compensation_rate: 0.15,
            rate_hz: 100.0,
            noise: 1.0,
            gyro_bias_dps: 2.0,
            drop_rate: 0.01,
            gaps_per_min: 1.0,
            walking: true,
            fidgets: true,
            random_mounting: true,
            rest_min_s: 30.0,
            rest_max_s: 60.0,
            seed: 1,
            lead_in_s: None,
            model: SimModel::Standard,
        }
    }

    /// Checks the values make sense; the message names the option.
    pub fn validate(&self) -> Result<(), String> {
        let bad = |what: &str, v: f64, range: &str| Err(format!("{what} is {v}; expected {range}"));
        if !(1..=100).contains(&self.sets) {
            return bad("--sets", self.sets as f64, "1..100");
        }
        if self.reps_min < 1 || self.reps_max > 200 || self.reps_min > self.reps_max {
            return Err(format!(
                "--reps {}..{} is not a range within 1..200",
                self.reps_min, self.reps_max
            ));
        }
        if !(self.rate_hz >= 10.0 && self.rate_hz <= 2000.0) {
            return bad("--rate", self.rate_hz, "10..2000 Hz");
        }
        if !(0.0..=10.0).contains(&self.noise) {
            return bad("--noise", self.noise, "0..10");
        }
        if !(0.0..=20.0).contains(&self.gyro_bias_dps) {
            return bad("--gyro-bias", self.gyro_bias_dps, "0..20 °/s");
        }
        if !(0.0..=0.5).contains(&self.drop_rate) {
            return bad("--drop", self.drop_rate, "0..0.5");
        }
        if !(0.0..=60.0).contains(&self.gaps_per_min) {
            return bad("--gaps-per-min", self.gaps_per_min, "0..60");
        }
        if !(0.0..=1.0).contains(&self.compensation_rate) {
            return bad("--compensation-rate", self.compensation_rate, "0..1");
        }
        if !(self.rest_min_s >= 12.0
            && self.rest_min_s <= self.rest_max_s
            && self.rest_max_s <= 3600.0)
        {
            return Err(format!(
                "rest {}..{} s is not a range within 12..3600 s",
                self.rest_min_s, self.rest_max_s
            ));
        }
        if matches!(
            (self.exercise, self.placement),
            (Exercise::HipHitch, Placement::Ankle)
                | (Exercise::SeatedMachineAbduction, Placement::Pelvis)
        ) || !crate::motion::Profile::supported()
            .any(|(e, p)| e == self.exercise && p == self.placement)
        {
            return Err(format!(
                "the simulator does not model {} with the sensor on the {}",
                self.exercise, self.placement
            ));
        }
        Ok(())
    }

    /// The compensations this exercise and placement can show.
    pub fn visible_compensations(&self) -> Vec<FlagKind> {
        let profile = crate::motion::Profile::builtin(self.exercise, self.placement).ok();
        self.compensations
            .iter()
            .copied()
            .filter(|k| {
                let Some(p) = &profile else { return false };
                let f = &p.flags;
                match k {
                    FlagKind::HipHike => f.hip_hike.enabled,
                    FlagKind::PelvicDrop => f.pelvic_drop.enabled,
                    FlagKind::TrunkSway => f.trunk_sway.enabled,
                    FlagKind::Momentum => f.momentum.enabled,
                    FlagKind::PartialRange => f.partial_range.enabled,
                    FlagKind::HipFlexionDrift => f.hip_flexion_drift.enabled,
                }
            })
            .collect()
    }
}

/// Every exercise × placement a body model simulates (the pairs the
/// counter has a profile for), for the models' own tests.
#[cfg(test)]
pub(crate) const PAIRS: [(Exercise, Placement); 6] = [
    (Exercise::StandingCableAbduction, Placement::Ankle),
    (Exercise::StandingCableAbduction, Placement::Pelvis),
    (Exercise::SideLyingAbduction, Placement::Ankle),
    (Exercise::SideLyingAbduction, Placement::Pelvis),
    (Exercise::SeatedMachineAbduction, Placement::Ankle),
    (Exercise::HipHitch, Placement::Pelvis),
];

/// A compensation the simulated lifter did on a rep.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TruthFlag {
    /// What.
    pub kind: FlagKind,
    /// How much (°), as the model did it.
    pub value_deg: f64,
}

/// A rep the simulated lifter did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TruthRep {
    /// Leaving neutral, s.
    pub start_s: f64,
    /// Back at neutral, s.
    pub end_s: f64,
    /// DOMAIN.md's peak: rotation (ankle) or obliquity change (pelvis) from the rest before the set, °.
    pub peak_deg: f64,
    /// Compensations on this rep.
    pub flags: Vec<TruthFlag>,
}

/// A set the simulated lifter did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TruthSet {
    /// Start of the first rep, s.
    pub start_s: f64,
    /// End of the last rep, s.
    pub end_s: f64,
    /// Reps.
    pub rep_count: usize,
    /// The reps.
    pub reps: Vec<TruthRep>,
}

/// Ground truth of a simulated session.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Truth {
    /// The settings that made it.
    pub config: SimConfig,
    /// Length of the recording, s.
    pub duration_s: f64,
    /// Movements between sets that are not reps (fidgets, swings, re-straps, walks).
    pub distractions: Vec<String>,
    /// The sets.
    pub sets: Vec<TruthSet>,
}

/// Opens the simulated session `cfg.model` asks for: the sample stream and its ground truth.
pub fn open(cfg: &SimConfig) -> Result<(Box<dyn Iterator<Item = Sample> + Send>, Truth), String> {
    match cfg.model {
        SimModel::Standard => {
            let (sim, truth) = Simulator::new(cfg)?;
            Ok((Box::new(sim), truth))
        }
        SimModel::Pivot => {
            let (sim, truth) = crate::source::pivot::PivotSimulator::new(cfg)?;
            Ok((Box::new(sim), truth))
        }
        SimModel::Torque => {
            let (sim, truth) = crate::source::torque::TorqueSimulator::new(cfg)?;
            Ok((Box::new(sim), truth))
        }
        SimModel::Chain => {
            let (sim, truth) = crate::source::chain::ChainSimulator::new(cfg)?;
            Ok((Box::new(sim), truth))
        }
        SimModel::Balance => {
            let (sim, truth) = crate::source::balance::BalanceSimulator::new(cfg)?;
            Ok((Box::new(sim), truth))
        }
        SimModel::Muscle => {
            let (sim, truth) = crate::source::muscle::MuscleSimulator::new(cfg)?;
            Ok((Box::new(sim), truth))
        }
        SimModel::Gym => {
            let (sim, truth) = crate::source::gym::GymSimulator::new(cfg)?;
            Ok((Box::new(sim), truth))
        }
        SimModel::Clinic => {
            let (sim, truth) = crate::source::clinic::ClinicSimulator::new(cfg)?;
            Ok((Box::new(sim), truth))
        }
        SimModel::Athlete => {
            let (sim, truth) = crate::source::athlete::AthleteSimulator::new(cfg)?;
            Ok((Box::new(sim), truth))
        }
        SimModel::Class => {
            let (sim, truth) = crate::source::class::ClassSimulator::new(cfg)?;
            Ok((Box::new(sim), truth))
        }
        SimModel::Team => {
            let (sim, truth) = crate::source::team::TeamSimulator::new(cfg)?;
            Ok((Box::new(sim), truth))
        }
        SimModel::Wear => {
            let (sim, truth) = crate::source::wear::WearSimulator::new(cfg)?;
            Ok((Box::new(sim), truth))
        }
        SimModel::Circuit => {
            let (sim, truth) = crate::source::circuit::CircuitSimulator::new(cfg)?;
            Ok((Box::new(sim), truth))
        }
        SimModel::Home => {
            let (sim, truth) = crate::source::home::HomeSimulator::new(cfg)?;
            Ok((Box::new(sim), truth))
        }
        SimModel::Studio => {
            let (sim, truth) = crate::source::studio::StudioSimulator::new(cfg)?;
            Ok((Box::new(sim), truth))
        }
        SimModel::Fatigue => {
            let (sim, truth) = crate::source::fatigue::FatigueSimulator::new(cfg)?;
            Ok((Box::new(sim), truth))
        }
        SimModel::Hill => {
            let (sim, truth) = crate::source::hill::HillSimulator::new(cfg)?;
            Ok((Box::new(sim), truth))
        }
        SimModel::Rhythm => {
            let (sim, truth) = crate::source::rhythm::RhythmSimulator::new(cfg)?;
            Ok((Box::new(sim), truth))
        }
        SimModel::Primitive => {
            let (sim, truth) = crate::source::primitive::PrimitiveSimulator::new(cfg)?;
            Ok((Box::new(sim), truth))
        }
        SimModel::Reach => {
            let (sim, truth) = crate::source::reach::ReachSimulator::new(cfg)?;
            Ok((Box::new(sim), truth))
        }
        SimModel::Lognormal => {
            let (sim, truth) = crate::source::lognormal::LognormalSimulator::new(cfg)?;
            Ok((Box::new(sim), truth))
        }
        SimModel::Syllable => {
            let (sim, truth) = crate::source::syllable::SyllableSimulator::new(cfg)?;
            Ok((Box::new(sim), truth))
        }
        SimModel::Langevin => {
            let (sim, truth) = crate::source::langevin::LangevinSimulator::new(cfg)?;
            Ok((Box::new(sim), truth))
        }
        SimModel::Pendulum => {
            let (sim, truth) = crate::source::pendulum::PendulumSimulator::new(cfg)?;
            Ok((Box::new(sim), truth))
        }
        SimModel::Neuro => {
            let (sim, truth) = crate::source::neuro::NeuroSimulator::new(cfg)?;
            Ok((Box::new(sim), truth))
        }
        SimModel::Mocap => {
            let (sim, truth) = crate::source::mocap::MocapSimulator::new(cfg)?;
            Ok((Box::new(sim), truth))
        }
        SimModel::Planner => {
            let (sim, truth) = crate::source::planner::PlannerSimulator::new(cfg)?;
            Ok((Box::new(sim), truth))
        }
        SimModel::Effort => {
            let (sim, truth) = crate::source::effort::EffortSimulator::new(cfg)?;
            Ok((Box::new(sim), truth))
        }
        SimModel::Elastic => {
            let (sim, truth) = crate::source::elastic::ElasticSimulator::new(cfg)?;
            Ok((Box::new(sim), truth))
        }
        SimModel::Units => {
            let (sim, truth) = crate::source::units::UnitsSimulator::new(cfg)?;
            Ok((Box::new(sim), truth))
        }
        SimModel::Infer => {
            let (sim, truth) = crate::source::infer::InferSimulator::new(cfg)?;
            Ok((Box::new(sim), truth))
        }
        SimModel::Cortex => {
            let (sim, truth) = crate::source::cortex::CortexSimulator::new(cfg)?;
            Ok((Box::new(sim), truth))
        }
    }
}

#[derive(Debug, Clone)]
struct RepMotion {
    t0: f64,
    tc: f64,
    tp: f64,
    te: f64,
    amp: f64,
    drift: f64,
    obliquity: f64,
    lean: f64,
    sway: f64,
    /// Hip hitch: rise above level after the return, ° (0 = none).
    overshoot: f64,
    /// False for a single swing between sets.
    counted: bool,
    /// Cut short on purpose (the partial-range compensation).
    partial: bool,
}

impl RepMotion {
    fn duration(&self) -> f64 {
        self.tc + self.tp + self.te + if self.overshoot != 0.0 { 1.0 } else { 0.0 }
    }

    /// 0..1 profile of the rep: minimum-jerk rise, hold, minimum-jerk return.
    fn shape(&self, t: f64) -> f64 {
        let u = t - self.t0;
        if u <= 0.0 {
            0.0
        } else if u < self.tc {
            min_jerk(u / self.tc)
        } else if u < self.tc + self.tp {
            1.0
        } else if u < self.tc + self.tp + self.te {
            1.0 - min_jerk((u - self.tc - self.tp) / self.te)
        } else {
            0.0
        }
    }
}

#[derive(Debug, Clone)]
enum Motion {
    Rep(RepMotion),
    Walk {
        t0: f64,
        t1: f64,
        cadence: f64,
    },
    Turn {
        t0: f64,
        dur: f64,
        angle: f64,
    },
    Fidget {
        t0: f64,
        dur: f64,
        axis: Vector3<f64>,
        amp: f64,
        /// Two sensors on one body: the one it moves (a foot shuffle is
        /// not felt at the sacrum); `None`: whatever sensor there is.
        only: Option<Placement>,
    },
    Impact {
        t0: f64,
        g: f64,
        /// As for fidgets: the sensor that feels it.
        only: Option<Placement>,
    },
}

impl Motion {
    fn span(&self) -> (f64, f64) {
        match self {
            Motion::Rep(r) => (r.t0, r.t0 + r.duration()),
            Motion::Walk { t0, t1, .. } => (*t0, *t1),
            Motion::Turn { t0, dur, .. } => (*t0, *t0 + *dur),
            Motion::Fidget { t0, dur, .. } => (*t0, *t0 + *dur),
            Motion::Impact { t0, .. } => (*t0, *t0 + IMPACT_S),
        }
    }
}

const IMPACT_S: f64 = 0.03;
const SWAY_GRID_HZ: f64 = 10.0;
/// Time constant of the smoothing that makes postural sway pendulum-like (s).
const SWAY_SMOOTH_S: f64 = 0.3;

#[derive(Debug, Clone, Copy, Default)]
struct Joints {
    alpha: f64,
    beta: f64,
    phi: f64,
    lambda: f64,
    psi: f64,
    gait: f64,
    bounce: f64,
    fidget: Vector3<f64>,
    impact_g: f64,
}

/// The body model: what every joint does at any time.
#[derive(Clone)]
struct Body {
    exercise: Exercise,
    placement: Placement,
    fs: f64,
    heading0: f64,
    motions: Vec<Motion>,
    mounts: Vec<(f64, f64, UnitQuaternion<f64>, UnitQuaternion<f64>)>,
    sway: Vec<f64>,
    cursor: usize,
}

fn min_jerk(u: f64) -> f64 {
    let u = u.clamp(0.0, 1.0);
    u * u * u * (10.0 - 15.0 * u + 6.0 * u * u)
}

fn bump(u: f64) -> f64 {
    if (0.0..=1.0).contains(&u) {
        0.5 - 0.5 * (2.0 * PI * u).cos()
    } else {
        0.0
    }
}

fn rot(axis: Vector3<f64>, deg: f64) -> Rotation3<f64> {
    Rotation3::from_axis_angle(&nalgebra::Unit::new_normalize(axis), deg.to_radians())
}

impl Body {
    fn sway_at(&self, t: f64) -> f64 {
        // Catmull-Rom through the 10 Hz sway grid: smooth, so its rates are realistic.
        let x = t * SWAY_GRID_HZ;
        let i = x.floor();
        let f = x - i;
        let n = self.sway.len() as i64;
        let g = |k: i64| self.sway[(k.clamp(0, n - 1)) as usize];
        let i = i as i64;
        let (p0, p1, p2, p3) = (g(i - 1), g(i), g(i + 1), g(i + 2));
        0.5 * (2.0 * p1
            + (-p0 + p2) * f
            + (2.0 * p0 - 5.0 * p1 + 4.0 * p2 - p3) * f * f
            + (-p0 + 3.0 * p1 - 3.0 * p2 + p3) * f * f * f)
    }

    fn joints(&mut self, t: f64) -> Joints {
        let mut j = Joints {
            lambda: self.sway_at(t),
            psi: self.heading0,
            ..Joints::default()
        };
        while self.cursor < self.motions.len() && self.motions[self.cursor].span().1 + 2.0 < t {
            self.cursor += 1;
        }
        // Turns accumulate: every turn that has finished adds its whole angle.
        for m in &self.motions[..self.cursor] {
            if let Motion::Turn { angle, .. } = m {
                j.psi += angle;
            }
        }
        for m in &self.motions[self.cursor..] {
            let (t0, t1) = m.span();
            if t0 > t + 1.0 {
                break;
            }
            match m {
                Motion::Rep(r) => {
                    let s = r.shape(t);
                    j.alpha += r.amp * s;
                    j.beta += r.drift * s;
                    j.phi += r.obliquity * s;
                    j.lambda += r.lean * s;
                    let span = r.tc + r.tp + r.te;
                    let u = (t - r.t0) / span;
                    if (0.0..=1.0).contains(&u) && r.sway > 0.0 {
                        // One rock each way, starting and ending at rest (a
                        // body cannot change speed in an instant): the
                        // sin(πu) window peaks at ±0.77, hence the 1.3. The
                        // rock back also undoes the rep's own coupled tilt,
                        // so it passes the sway on both sides of neutral as
                        // DOMAIN.md defines trunk sway.
                        let rock = (2.0 * PI * u).sin() * (PI * u).sin();
                        let back = min_jerk((u - 0.35) / 0.3);
                        let amp = r.sway + (r.obliquity + r.lean).max(0.0) * back;
                        j.lambda += 1.3 * amp * rock;
                    }
                    if r.overshoot != 0.0 {
                        j.phi += r.overshoot * bump((t - r.t0 - span + 0.1) / 1.0);
                    }
                }
                Motion::Walk { t0, t1, cadence } => {
                    if t >= *t0 && t <= *t1 {
                        let ramp = min_jerk((t - t0) / 0.5) * min_jerk((t1 - t) / 0.5);
                        let ph = 2.0 * PI * cadence * (t - t0);
                        j.gait += 25.0 * ramp * ph.sin();
                        j.bounce += 0.03 * ramp * (2.0 * ph).cos();
                        j.lambda += 3.0 * ramp * ph.sin();
                    }
                }
                Motion::Turn { t0, dur, angle } => {
                    if t >= *t0 {
                        j.psi += angle * min_jerk((t - t0) / dur);
                    }
                }
                Motion::Fidget {
                    t0,
                    dur,
                    axis,
                    amp,
                    only,
                } => {
                    if only.is_none_or(|p| p == self.placement) {
                        j.fidget += axis * (amp * bump((t - t0) / dur));
                    }
                }
                Motion::Impact { t0, g, only } => {
                    if t >= *t0 && t <= t1 && only.is_none_or(|p| p == self.placement) {
                        j.impact_g += g * (PI * (t - t0) / IMPACT_S).sin();
                    }
                }
            }
        }
        j
    }

    fn mount(&self, t: f64) -> UnitQuaternion<f64> {
        let mut m = self.mounts[0].3;
        for (t0, dur, from, to) in &self.mounts {
            if t >= *t0 + *dur {
                m = *to;
            } else if t >= *t0 {
                let u = min_jerk((t - t0) / dur);
                let jiggle = UnitQuaternion::from_scaled_axis(
                    Vector3::new((37.0 * t).sin(), (53.0 * t).cos(), (29.0 * t).sin())
                        * (0.08 * (PI * u).sin()),
                );
                m = from.slerp(to, u) * jiggle;
            }
        }
        m
    }

    /// Sensor pose (position m, orientation sensor → world), the obliquity the
    /// pelvis has (°), and the impact in g.
    fn pose(&mut self, t: f64) -> (Vector3<f64>, Rotation3<f64>, f64, f64) {
        let j = self.joints(t);
        let fs = self.fs;
        let y = Vector3::y();
        let heading = rot(Vector3::z(), j.psi);
        let posture = match self.exercise {
            Exercise::SideLyingAbduction => rot(y, -fs * 90.0),
            _ => Rotation3::identity(),
        };
        let lean = rot(y, -fs * j.lambda);
        let tilt = rot(y, -fs * j.phi);
        let pelvis = heading * posture * lean * tilt;
        let (stance_hip, leg_rot, thigh) = match self.exercise {
            Exercise::SeatedMachineAbduction => (
                heading * Vector3::new(-fs * 0.09, 0.0, 0.5),
                pelvis * rot(Vector3::z(), -fs * j.alpha) * rot(Vector3::x(), j.beta + j.gait),
                true,
            ),
            Exercise::SideLyingAbduction => (
                heading * posture * Vector3::new(-fs * 0.09, 0.0, 0.0)
                    + Vector3::new(0.0, 0.0, 0.2),
                pelvis * rot(y, -fs * j.alpha) * rot(Vector3::x(), j.beta + j.gait),
                false,
            ),
            _ => (
                heading * lean * Vector3::new(0.0, 0.0, 0.92 + j.bounce),
                pelvis * rot(y, -fs * j.alpha) * rot(Vector3::x(), j.beta + j.gait),
                false,
            ),
        };
        let fidget = if j.fidget.norm() > 0.0 {
            Rotation3::from_scaled_axis(j.fidget * (PI / 180.0))
        } else {
            Rotation3::identity()
        };
        let centre = stance_hip + pelvis * Vector3::new(fs * 0.09, 0.0, 0.0);
        let (pos, seg) = match self.placement {
            Placement::Pelvis => (
                centre + pelvis * Vector3::new(0.0, -0.1, 0.02),
                pelvis * fidget,
            ),
            Placement::Ankle => {
                let free_hip = centre + pelvis * Vector3::new(fs * 0.09, 0.0, 0.0);
                let seg = leg_rot * fidget;
                let ankle = if thigh {
                    let knee = free_hip
                        + pelvis * rot(Vector3::z(), -fs * j.alpha) * Vector3::new(0.0, 0.45, 0.0);
                    knee + seg * Vector3::new(fs * 0.04, 0.0, -0.4)
                } else {
                    free_hip + leg_rot * Vector3::new(fs * 0.04, 0.0, -0.85)
                };
                (ankle, seg)
            }
        };
        let orient = seg * self.mount(t).to_rotation_matrix();
        (pos, orient, j.phi + j.lambda, j.impact_g)
    }
}

/// A sensor's own clock against the body's: `sensor = body × (1 + drift) +
/// offset`, as two real links each keep their own time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SensorClock {
    /// Where the sensor's clock stood when the body's read 0 (s).
    pub offset_s: f64,
    /// How much faster the sensor's clock runs (parts per million).
    pub drift_ppm: f64,
}

impl SensorClock {
    /// The sensor's time at body time `body_s`.
    pub fn sensor_time(&self, body_s: f64) -> f64 {
        body_s * (1.0 + self.drift_ppm * 1e-6) + self.offset_s
    }

    /// The body's time at sensor time `sensor_s`.
    pub fn body_time(&self, sensor_s: f64) -> f64 {
        (sensor_s - self.offset_s) / (1.0 + self.drift_ppm * 1e-6)
    }
}

/// The clocks of a two-sensor session.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PairClocks {
    /// The ankle sensor's clock.
    pub ankle: SensorClock,
    /// The pelvis sensor's clock.
    pub pelvis: SensorClock,
}

impl PairClocks {
    /// What to add to a pelvis time to put it on the ankle's clock, at
    /// ankle time `ankle_s` (it moves with the drift).
    pub fn pelvis_to_ankle_s(&self, ankle_s: f64) -> f64 {
        ankle_s - self.pelvis.sensor_time(self.ankle.body_time(ankle_s))
    }
}

/// The truth of a two-sensor session: what the lifter did, on the ankle's
/// clock (peaks as the ankle sees them, every compensation either sensor
/// can see), and both sensors' clocks.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PairTruth {
    /// The sets, on the ankle's clock.
    #[serde(flatten)]
    pub truth: Truth,
    /// Each sensor's clock against the body's.
    pub clocks: PairClocks,
}

/// The exercises both sensors can follow: the leg abducts from a pelvis
/// that stands or lies still enough to be read. Not the hip hitch (the
/// working leg is the stance leg: an ankle strap on it stays put) nor the
/// seated machine (the pelvis sits on the seat).
pub fn two_sensor_exercise(exercise: Exercise) -> bool {
    matches!(
        exercise,
        Exercise::StandingCableAbduction | Exercise::SideLyingAbduction
    )
}

/// Opens a two-sensor session (`cfg.placement` is ignored): the ankle's and
/// the pelvis' sample streams from one simulated lifter, each with its own
/// clock (offsets up to ±0.5 s apart, drifts of up to ±40 ppm), noise, gyro
/// bias, dropped samples and gaps, and the truth they share. The standard
/// body model only.
pub fn open_pair(cfg: &SimConfig) -> Result<(Simulator, Simulator, PairTruth), String> {
    if cfg.model != SimModel::Standard {
        return Err(format!(
            "two sensors at once are simulated by the standard model only, not {}",
            cfg.model
        ));
    }
    if !two_sensor_exercise(cfg.exercise) {
        return Err(format!(
            "{} is followed by one sensor: two at once (ankle and pelvis) suit \
             standing-cable-abduction and side-lying-abduction",
            cfg.exercise
        ));
    }
    let Plan {
        bodies,
        mut truth,
        duration,
        ..
    } = plan(cfg, &[Placement::Ankle, Placement::Pelvis])?;
    // Drawn apart from the plan, so the plan is the same whatever the clocks.
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x636c_6f63_6b73_0002);
    let ankle = SensorClock {
        offset_s: rng.gen_range(0.0..0.5),
        drift_ppm: rng.gen_range(-40.0..40.0),
    };
    let pelvis = SensorClock {
        offset_s: ankle.offset_s + rng.gen_range(-0.5..0.5),
        drift_ppm: rng.gen_range(-40.0..40.0),
    };
    let mut sims = bodies
        .into_iter()
        .zip([ankle, pelvis])
        .enumerate()
        .map(|(i, (body, clock))| {
            let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ (0x7365_6e73_6f72_0000 + i as u64));
            let end = clock.sensor_time(duration);
            let n_gaps = (cfg.gaps_per_min * duration / 60.0).round() as usize;
            let mut gaps: Vec<f64> = (0..n_gaps).map(|_| rng.gen_range(0.0..end)).collect();
            gaps.sort_by(|a, b| a.total_cmp(b));
            let bias = Vector3::new(
                rng.gen_range(-1.0..=1.0),
                rng.gen_range(-1.0..=1.0),
                rng.gen_range(-1.0..=1.0),
            ) * cfg.gyro_bias_dps;
            Simulator {
                body,
                rng,
                rate: cfg.rate_hz,
                index: 0,
                count: (end.max(0.0) * cfg.rate_hz) as u64,
                bias,
                gyro_noise: 0.15 * cfg.noise,
                acc_noise: 0.03 * cfg.noise,
                drop_rate: cfg.drop_rate,
                gaps,
                gap_cursor: 0,
                clock,
            }
        });
    let (a, p) = (sims.next().expect("ankle"), sims.next().expect("pelvis"));
    let on_ankle = |t: f64| round3(ankle.sensor_time(t));
    for set in &mut truth.sets {
        set.start_s = on_ankle(set.start_s);
        set.end_s = on_ankle(set.end_s);
        for r in &mut set.reps {
            r.start_s = on_ankle(r.start_s);
            r.end_s = on_ankle(r.end_s);
        }
    }
    truth.duration_s = on_ankle(duration);
    Ok((
        a,
        p,
        PairTruth {
            truth,
            clocks: PairClocks { ankle, pelvis },
        },
    ))
}

/// A simulated session: an iterator of samples, and its ground truth.
pub struct Simulator {
    body: Body,
    rng: ChaCha8Rng,
    rate: f64,
    index: u64,
    count: u64,
    bias: Vector3<f64>,
    gyro_noise: f64,
    acc_noise: f64,
    drop_rate: f64,
    gaps: Vec<f64>,
    gap_cursor: usize,
    clock: SensorClock,
}

/// A planned session: one body per sensor (the same motions, each seen
/// from its own placement and mounting), the generator as planning left it,
/// and the truth in body time (peaks as the first sensor sees them).
struct Plan {
    bodies: Vec<Body>,
    rng: ChaCha8Rng,
    truth: Truth,
    duration: f64,
}

/// Plans a session for the sensors at `placements`: one (today's
/// single-sensor session, drawn exactly as it always was), or the ankle and
/// the pelvis of the same lifter (`pair`), whose compensations are those
/// either sensor can see.
fn plan(cfg: &SimConfig, placements: &[Placement]) -> Result<Plan, String> {
    let pair = placements.len() > 1;
    if pair {
        let mut c = cfg.clone();
        for p in placements {
            c.placement = *p;
            c.validate()?;
        }
    } else {
        cfg.validate()?;
    }
    {
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let fs = cfg.exercise.free_side(cfg.side).sign();
        let comps: Vec<FlagKind> = if pair {
            let mut c = cfg.clone();
            let mut all = Vec::new();
            for p in placements {
                c.placement = *p;
                all.extend(c.visible_compensations());
            }
            FlagKind::ALL
                .iter()
                .copied()
                .filter(|k| all.contains(k))
                .collect()
        } else {
            cfg.visible_compensations()
        };
        let mut motions: Vec<Motion> = Vec::new();
        let mut distractions = Vec::new();
        let mut plans: Vec<(Vec<usize>, f64)> = Vec::new();
        let standing = cfg.exercise != Exercise::SideLyingAbduction
            && cfg.exercise != Exercise::SeatedMachineAbduction;

        // Per-lifter traits.
        let coupling = match cfg.exercise {
            Exercise::SideLyingAbduction => rng.gen_range(0.8..2.5),
            _ => rng.gen_range(0.8..2.2),
        };
        let lean_coupling = if standing && cfg.exercise != Exercise::HipHitch {
            rng.gen_range(0.0..1.0)
        } else {
            0.0
        };
        let range = match cfg.exercise {
            Exercise::SeatedMachineAbduction => rng.gen_range(25.0..40.0),
            Exercise::HipHitch => rng.gen_range(6.0..11.0),
            _ => rng.gen_range(28.0..48.0),
        };

        // Drawn even when fixed, so a seed gives the same session either way.
        let drawn = rng.gen_range(0.5..3.0);
        let mut t = cfg.lead_in_s.unwrap_or(drawn);
        for set_i in 0..cfg.sets {
            if set_i > 0 {
                let rest = rng.gen_range(cfg.rest_min_s..=cfg.rest_max_s);
                let rest_start = t;
                let rest_end = t + rest;
                plan_rest(
                    &mut rng,
                    cfg,
                    rest_start,
                    rest_end,
                    &mut motions,
                    &mut distractions,
                    pair,
                );
                t = rest_end;
            }
            let n = rng.gen_range(cfg.reps_min..=cfg.reps_max);
            let mut idx = Vec::new();
            let set_range = range * rng.gen_range(0.92..1.08);
            for k in 0..n {
                let mut r = RepMotion {
                    t0: t,
                    tc: rng.gen_range(0.6..1.4),
                    tp: rng.gen_range(0.0..1.0),
                    te: rng.gen_range(0.9..2.5),
                    amp: set_range * rng.gen_range(0.94..1.06),
                    drift: rng.gen_range(-2.0..2.0),
                    obliquity: coupling * rng.gen_range(0.8..1.2),
                    lean: lean_coupling * rng.gen_range(0.8..1.2),
                    sway: 0.0,
                    overshoot: 0.0,
                    counted: true,
                    partial: false,
                };
                if cfg.exercise == Exercise::HipHitch {
                    r.obliquity = -r.amp;
                    r.amp = 0.0;
                    r.tc = rng.gen_range(0.8..1.6);
                    r.te = rng.gen_range(0.8..1.6);
                }
                if !comps.is_empty() && rng.gen_bool(cfg.compensation_rate) {
                    let kind = comps[rng.gen_range(0..comps.len())];
                    match kind {
                        FlagKind::Momentum if k >= 1 => {
                            r.tc = rng.gen_range(0.22..0.35);
                            r.tp = 0.0;
                            r.te = rng.gen_range(0.25..0.4);
                            r.amp *= rng.gen_range(1.0..1.1);
                        }
                        FlagKind::PartialRange if k >= 3 => {
                            r.partial = true;
                            r.amp *= rng.gen_range(0.35..0.6);
                            r.tc *= 0.7;
                            r.te *= 0.7;
                        }
                        FlagKind::HipFlexionDrift if k >= 3 => r.drift = rng.gen_range(12.0..25.0),
                        FlagKind::HipHike if cfg.exercise == Exercise::HipHitch => {
                            r.overshoot = rng.gen_range(6.5..10.0)
                        }
                        FlagKind::HipHike => r.obliquity = rng.gen_range(6.5..14.0),
                        FlagKind::PelvicDrop => r.obliquity = -rng.gen_range(6.5..12.0),
                        FlagKind::TrunkSway => {
                            r.sway = rng.gen_range(6.5..10.0);
                            r.tp = r.tp.max(0.3);
                        }
                        _ => {}
                    }
                }
                t += r.duration() + rng.gen_range(0.1..1.0);
                idx.push(motions.len());
                motions.push(Motion::Rep(r));
            }
            plans.push((idx, set_range));
        }
        let duration = t + rng.gen_range(1.0..6.0);

        // Postural sway: Ornstein-Uhlenbeck (σ ≈ 0.35° standing), on a 10 Hz grid.
        let (sway_sd, sway_tau) = match cfg.exercise {
            Exercise::SideLyingAbduction | Exercise::SeatedMachineAbduction => (0.1, 3.0),
            _ => (0.35, 3.0),
        };
        let n_grid = (duration * SWAY_GRID_HZ) as usize + 8;
        let mut sway = Vec::with_capacity(n_grid);
        let dtg = 1.0 / SWAY_GRID_HZ;
        let a = (-dtg / sway_tau).exp();
        let mut x: f64 = sway_sd * rng.sample::<f64, _>(StandardNormal);
        for _ in 0..n_grid {
            sway.push(x);
            x = a * x + sway_sd * (1.0 - a * a).sqrt() * rng.sample::<f64, _>(StandardNormal);
        }
        // The body is an inverted pendulum with inertia, not a random walk:
        // smooth the path (two first-order passes each way, τ = 0.3 s) so
        // quiet standing moves the pelvis by ~0.05 m/s², as measured, instead
        // of the ~1 m/s² a raw Ornstein-Uhlenbeck path would imply.
        let k = 1.0 - (-dtg / SWAY_SMOOTH_S).exp();
        for _ in 0..2 {
            for i in 1..sway.len() {
                sway[i] = sway[i - 1] + k * (sway[i] - sway[i - 1]);
            }
            for i in (0..sway.len() - 1).rev() {
                sway[i] = sway[i + 1] + k * (sway[i] - sway[i + 1]);
            }
        }

        // Mounting.
        let nominal_pelvis = UnitQuaternion::from_rotation_matrix(
            &Rotation3::from_matrix_unchecked(nalgebra::Matrix3::new(
                1.0, 0.0, 0.0, //
                0.0, 0.0, -1.0, //
                0.0, 1.0, 0.0,
            )),
        );
        let mut all_mounts = Vec::new();
        for &placement in placements {
            let mount0 = match placement {
                Placement::Ankle if cfg.random_mounting => random_rotation(&mut rng),
                Placement::Ankle => UnitQuaternion::identity(),
                Placement::Pelvis if cfg.random_mounting => {
                    let axis = random_unit(&mut rng);
                    nominal_pelvis
                        * UnitQuaternion::from_scaled_axis(
                            axis * rng.gen_range(0.0f64..15.0).to_radians(),
                        )
                }
                Placement::Pelvis => nominal_pelvis,
            };
            let mut mounts = vec![(0.0, 0.0, mount0, mount0)];
            for m in &motions {
                if let Motion::Fidget { t0, amp, only, .. } = m {
                    // Re-straps are fidgets with amp 0 and are planned here.
                    if *amp == 0.0 && only.is_none_or(|p| p == placement) {
                        let from = mounts.last().expect("one mount").3;
                        let to = match placement {
                            Placement::Ankle => {
                                from * UnitQuaternion::from_scaled_axis(
                                    random_unit(&mut rng)
                                        * rng.gen_range(30.0f64..120.0).to_radians(),
                                )
                            }
                            Placement::Pelvis => {
                                nominal_pelvis
                                    * UnitQuaternion::from_scaled_axis(
                                        random_unit(&mut rng)
                                            * rng.gen_range(0.0f64..12.0).to_radians(),
                                    )
                            }
                        };
                        mounts.push((*t0, 3.0, from, to));
                    }
                }
            }
            all_mounts.push(mounts);
        }
        motions.retain(|m| !matches!(m, Motion::Fidget { amp, .. } if *amp == 0.0));
        motions.sort_by(|a, b| a.span().0.total_cmp(&b.span().0));

        let heading0 = rng.gen_range(0.0..360.0);
        let mut bodies: Vec<Body> = placements
            .iter()
            .zip(all_mounts)
            .map(|(&placement, mounts)| Body {
                exercise: cfg.exercise,
                placement,
                fs,
                heading0,
                motions: motions.clone(),
                mounts,
                sway: sway.clone(),
                cursor: 0,
            })
            .collect();
        let body = &mut bodies[0];

        // Truth from the model itself.
        let mut sets = Vec::new();
        // Counted reps in time order (single swings are not), split back into their sets.
        let all_reps: Vec<RepMotion> = body
            .motions
            .iter()
            .filter_map(|m| match m {
                Motion::Rep(r) if r.counted => Some(r.clone()),
                _ => None,
            })
            .collect();
        let mut cursor = 0;
        for (idx, _) in &plans {
            let reps: Vec<RepMotion> = all_reps[cursor..cursor + idx.len()].to_vec();
            cursor += idx.len();
            let t_rest = reps[0].t0 - 0.05;
            let (_, r_rest, o_rest, _) = body_pose_fresh(body, t_rest);
            let mut truth_reps = Vec::new();
            for r in &reps {
                let end = r.t0 + r.duration();
                let mut peak: f64 = 0.0;
                let mut tt = r.t0;
                while tt <= end {
                    let (_, rs, o, _) = body_pose_fresh(body, tt);
                    let v = match placements[0] {
                        Placement::Ankle => (r_rest.inverse() * rs).angle().to_degrees(),
                        Placement::Pelvis => (o - o_rest).abs(),
                    };
                    peak = peak.max(v);
                    tt += 0.005;
                }
                let mut flags = Vec::new();
                let is_hitch = cfg.exercise == Exercise::HipHitch;
                if r.tc < 0.4 {
                    flags.push(TruthFlag {
                        kind: FlagKind::Momentum,
                        value_deg: peak,
                    });
                }
                // Cut to 35-60 % of the set's range: under the 70 % of the
                // working range that the default profiles call partial.
                if r.partial {
                    flags.push(TruthFlag {
                        kind: FlagKind::PartialRange,
                        value_deg: range - r.amp,
                    });
                }
                if r.drift > 6.0 {
                    flags.push(TruthFlag {
                        kind: FlagKind::HipFlexionDrift,
                        value_deg: r.drift,
                    });
                }
                if r.sway > 0.0 {
                    flags.push(TruthFlag {
                        kind: FlagKind::TrunkSway,
                        value_deg: r.sway,
                    });
                } else if is_hitch && r.overshoot > 0.0 {
                    flags.push(TruthFlag {
                        kind: FlagKind::HipHike,
                        value_deg: r.overshoot,
                    });
                } else if !is_hitch && r.obliquity > 5.0 {
                    flags.push(TruthFlag {
                        kind: FlagKind::HipHike,
                        value_deg: r.obliquity,
                    });
                } else if !is_hitch && r.obliquity < -5.0 {
                    flags.push(TruthFlag {
                        kind: FlagKind::PelvicDrop,
                        value_deg: -r.obliquity,
                    });
                }
                flags.retain(|f| comps.contains(&f.kind));
                truth_reps.push(TruthRep {
                    start_s: round3(r.t0),
                    end_s: round3(end),
                    peak_deg: (peak * 10.0).round() / 10.0,
                    flags,
                });
            }
            sets.push(TruthSet {
                start_s: truth_reps[0].start_s,
                end_s: truth_reps.last().expect("a set has reps").end_s,
                rep_count: truth_reps.len(),
                reps: truth_reps,
            });
        }
        body.cursor = 0;
        let mut config = cfg.clone();
        config.placement = placements[0];
        let truth = Truth {
            config,
            duration_s: round3(duration),
            distractions,
            sets,
        };
        Ok(Plan {
            bodies,
            rng,
            truth,
            duration,
        })
    }
}

impl Simulator {
    /// Plans a session. Returns the sample stream and the truth.
    pub fn new(cfg: &SimConfig) -> Result<(Simulator, Truth), String> {
        let Plan {
            mut bodies,
            mut rng,
            truth,
            duration,
        } = plan(cfg, &[cfg.placement])?;
        let body = bodies.remove(0);
        // Gaps of 200 ms, at random times.
        let n_gaps = (cfg.gaps_per_min * duration / 60.0).round() as usize;
        let mut gaps: Vec<f64> = (0..n_gaps).map(|_| rng.gen_range(0.0..duration)).collect();
        gaps.sort_by(|a, b| a.total_cmp(b));
        let bias = Vector3::new(
            rng.gen_range(-1.0..=1.0),
            rng.gen_range(-1.0..=1.0),
            rng.gen_range(-1.0..=1.0),
        ) * cfg.gyro_bias_dps;
        let sim = Simulator {
            body,
            rng,
            rate: cfg.rate_hz,
            index: 0,
            count: (duration * cfg.rate_hz) as u64,
            bias,
            gyro_noise: 0.15 * cfg.noise,
            acc_noise: 0.03 * cfg.noise,
            drop_rate: cfg.drop_rate,
            gaps,
            gap_cursor: 0,
            clock: SensorClock::default(),
        };
        Ok((sim, truth))
    }

    /// The pelvis' true obliquity at `t` (°, positive = free side up), for
    /// diagnostics: what the pipeline's pelvis signal tries to recover.
    pub fn true_obliquity(&mut self, t: f64) -> f64 {
        let cursor = self.body.cursor;
        let o = body_pose_fresh(&mut self.body, t).2;
        self.body.cursor = cursor;
        o
    }

    /// Samples the model at `t` (no noise, drops or bias).
    fn ideal(&mut self, t: f64) -> Sample {
        const H: f64 = 0.002;
        let (p0, r0, _, _) = self.body.pose(t - H);
        let (p1, r1, _, impact) = self.body.pose(t);
        let (p2, r2, _, _) = self.body.pose(t + H);
        let acc_world = (p2 - 2.0 * p1 + p0) / (H * H)
            + Vector3::new(0.0, 0.0, STANDARD_GRAVITY * (1.0 + impact));
        let acc = r1.inverse() * acc_world;
        // Through a quaternion: Rotation3's own log can return NaN next to identity.
        let w =
            UnitQuaternion::from_rotation_matrix(&(r0.inverse() * r2)).scaled_axis() / (2.0 * H);
        Sample {
            t,
            acc,
            gyr: w * (180.0 / PI),
        }
    }
}

fn body_pose_fresh(body: &mut Body, t: f64) -> (Vector3<f64>, Rotation3<f64>, f64, f64) {
    body.cursor = 0;
    body.pose(t)
}

fn random_unit(rng: &mut ChaCha8Rng) -> Vector3<f64> {
    loop {
        let v = Vector3::new(
            rng.sample::<f64, _>(StandardNormal),
            rng.sample::<f64, _>(StandardNormal),
            rng.sample::<f64, _>(StandardNormal),
        );
        if let Some(u) = v.try_normalize(1e-6) {
            return u;
        }
    }
}

fn random_rotation(rng: &mut ChaCha8Rng) -> UnitQuaternion<f64> {
    let q = nalgebra::Quaternion::new(
        rng.sample::<f64, _>(StandardNormal),
        rng.sample::<f64, _>(StandardNormal),
        rng.sample::<f64, _>(StandardNormal),
        rng.sample::<f64, _>(StandardNormal),
    );
    UnitQuaternion::new_normalize(q)
}

/// Fills a rest between sets with what lifters do there.
fn plan_rest(
    rng: &mut ChaCha8Rng,
    cfg: &SimConfig,
    start: f64,
    end: f64,
    motions: &mut Vec<Motion>,
    distractions: &mut Vec<String>,
    pair: bool,
) {
    // Stand still 2-4 s after the set; be still 1-3 s before the next.
    let free_from = start + rng.gen_range(2.0..4.0);
    let free_to = end - rng.gen_range(1.0..3.0);
    let walking = cfg.walking
        && matches!(
            cfg.exercise,
            Exercise::StandingCableAbduction | Exercise::HipHitch
        );
    let mut t = free_from;
    if walking && free_to - t > 12.0 {
        // Walk away from the stack and back: two turns and steps with foot strikes.
        let walk = rng.gen_range(4.0..8.0);
        let cadence = rng.gen_range(0.8..1.0);
        motions.push(Motion::Turn {
            t0: t,
            dur: 1.2,
            angle: 180.0,
        });
        motions.push(Motion::Walk {
            t0: t,
            t1: t + walk,
            cadence,
        });
        // One sensor feels what its placement feels; two feel both: the
        // ankle its own foot's strikes, the sacrum every step.
        let felt: &[(Placement, Option<Placement>)] = if pair {
            &[
                (Placement::Ankle, Some(Placement::Ankle)),
                (Placement::Pelvis, Some(Placement::Pelvis)),
            ]
        } else {
            &[(cfg.placement, None)]
        };
        for &(placement, only) in felt {
            let mut s = t + 0.4;
            while s < t + walk - 0.4 {
                let g = match placement {
                    Placement::Ankle => rng.gen_range(2.0..4.0),
                    Placement::Pelvis => rng.gen_range(0.5..0.8),
                };
                motions.push(Motion::Impact { t0: s, g, only });
                s += match placement {
                    Placement::Ankle => 1.0 / cadence,
                    Placement::Pelvis => 0.5 / cadence,
                };
            }
        }
        motions.push(Motion::Turn {
            t0: t + walk - 1.2,
            dur: 1.2,
            angle: 180.0,
        });
        distractions.push(format!("walk {:.1}-{:.1} s", t, t + walk));
        t += walk + 1.0;
    }
    if !cfg.fidgets {
        return;
    }
    // A single swing, far enough from the sets that it cannot join one.
    if start + 11.0 < end - 14.0 && rng.gen_bool(0.4) {
        let t0 = rng.gen_range(start + 11.0..end - 11.0 - 3.0);
        if t0 > t || t0 + 3.5 < free_from {
            motions.push(Motion::Rep(RepMotion {
                t0,
                tc: rng.gen_range(0.6..1.0),
                tp: 0.0,
                te: rng.gen_range(0.8..1.5),
                amp: if cfg.exercise == Exercise::HipHitch {
                    0.0
                } else {
                    rng.gen_range(20.0..40.0)
                },
                drift: 0.0,
                obliquity: if cfg.exercise == Exercise::HipHitch {
                    -rng.gen_range(5.0..9.0)
                } else {
                    rng.gen_range(1.0..2.0)
                },
                lean: 0.0,
                sway: 0.0,
                overshoot: 0.0,
                counted: false,
                partial: false,
            }));
            distractions.push(format!("single swing at {t0:.1} s"));
        }
    }
    // Fidgets: quick foot shuffles or pelvis jiggles, sometimes with a foot strike.
    for _ in 0..rng.gen_range(0..3) {
        if free_to - t < 1.0 {
            break;
        }
        let t0 = rng.gen_range(t..free_to - 0.5);
        let only = pair.then(|| {
            *[Placement::Ankle, Placement::Pelvis]
                .choose(rng)
                .expect("two")
        });
        let (dur, amp) = match only.unwrap_or(cfg.placement) {
            Placement::Ankle => (rng.gen_range(0.15..0.35), rng.gen_range(3.0..12.0)),
            Placement::Pelvis => (rng.gen_range(0.2..0.4), rng.gen_range(1.0..3.0)),
        };
        motions.push(Motion::Fidget {
            t0,
            dur,
            axis: random_unit(rng),
            amp,
            only,
        });
        if rng.gen_bool(0.5) {
            motions.push(Motion::Impact {
                t0: t0 + dur,
                g: rng.gen_range(0.3..0.8),
                only,
            });
        }
        distractions.push(format!("fidget at {t0:.1} s"));
    }
    // Re-strapping (amp 0 marks it; the mount change is planned by the caller).
    if rng.gen_bool(0.3) && free_to - t > 16.0 {
        let t0 = rng.gen_range(t..free_to - 15.0);
        let only = pair.then(|| {
            *[Placement::Ankle, Placement::Pelvis]
                .choose(rng)
                .expect("two")
        });
        motions.push(Motion::Fidget {
            t0,
            dur: 3.0,
            axis: Vector3::x(),
            amp: 0.0,
            only,
        });
        distractions.push(format!("re-strap at {t0:.1} s"));
    }
}

/// Whether `t` falls in one of the 200 ms BLE gaps starting at `gaps`
/// (sorted, s), with `cursor` the first gap not yet over; every simulated
/// sensor loses its samples there.
pub(crate) fn in_ble_gap(gaps: &[f64], cursor: &mut usize, t: f64) -> bool {
    while *cursor < gaps.len() && gaps[*cursor] + 0.2 < t {
        *cursor += 1;
    }
    *cursor < gaps.len() && t >= gaps[*cursor]
}

impl Iterator for Simulator {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        loop {
            if self.index >= self.count {
                return None;
            }
            let i = self.index;
            self.index += 1;
            let t = i as f64 / self.rate;
            if in_ble_gap(&self.gaps, &mut self.gap_cursor, t) {
                continue;
            }
            if self.drop_rate > 0.0 && self.rng.gen_bool(self.drop_rate) {
                continue;
            }
            // The sensor samples on its own clock; the body moves on its own.
            let mut s = self.ideal(self.clock.body_time(t));
            s.t = t;
            let gn = Normal::new(0.0, self.gyro_noise.max(1e-12)).expect("finite sd");
            let an = Normal::new(0.0, self.acc_noise.max(1e-12)).expect("finite sd");
            for k in 0..3 {
                s.gyr[k] += self.bias[k] + gn.sample(&mut self.rng);
                s.acc[k] += an.sample(&mut self.rng);
            }
            return Some(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every body model: the same seed gives the same session, samples and
    /// truth; another seed another truth.
    #[test]
    fn every_model_gives_the_same_session_for_the_same_seed() {
        for &model in SimModel::ALL {
            let mut c = SimConfig::new(
                Exercise::StandingCableAbduction,
                Placement::Ankle,
                Side::Right,
            );
            (c.sets, c.reps_min, c.reps_max) = (1, 3, 4);
            (c.rest_min_s, c.rest_max_s) = (12.0, 12.0);
            (c.seed, c.model) = (7, model);
            let (a, ta) = open(&c).unwrap();
            let (b, tb) = open(&c).unwrap();
            assert_eq!(ta, tb, "{model:?}");
            assert!(a.zip(b).all(|(x, y)| x == y), "{model:?}");
            c.seed = 8;
            let (_, tc) = open(&c).unwrap();
            assert_ne!(ta, tc, "{model:?}");
        }
    }
}
