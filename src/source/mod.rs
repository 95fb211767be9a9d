//! Where samples come from: raw CSV recordings and the simulators. (The BLE
//! transport joins here behind the same `Sample` stream.)

/// A ninth body model, built apart and read in session 12: trained
/// athletes at a serious gym.
///
/// Sprinters, powerlifters, physique competitors and coached classes doing
/// prescribed tempos (explosive, slow eccentrics, squeezes, long holds,
/// clusters, pump sets, burnout partials); each rep one cycle of a
/// stochastic phase oscillator; a cable cuff that rolls on the shank, stack
/// buzz and clunks, a lifting belt; warm-up swings, the other leg's set,
/// pin changes and re-straps between sets; a higher-end sensor with scale
/// errors and Bluetooth disconnects. Built without reading the counter or
/// the other models.
pub mod athlete;
/// A fifth body model, built apart: a body held up by a delayed balance
/// loop, doing rep shapes taken from real recordings.
///
/// An inverted pendulum over the stance foot under a PD controller with a
/// reflex delay and a noise torque, the working leg's mass pulling it, a
/// pelvis that counter-rolls per lifter; reps whose speed profiles, holds
/// and tremor follow the real UCI side-lying reps, time-warped per lifter
/// and slowed by fatigue; walks, turns, sitting, re-straps and shakes
/// between sets; a full sensor error model. Built after the other four
/// without reading the counter; a hold-out until it was first scored, then
/// read for rules (session 8).
pub mod balance;
pub mod ble;
/// A fourth body model, built apart: a segment chain.
///
/// Pelvis, trunk lean and the working leg as a chain of rigid segments moved
/// by minimum-jerk joint tracks, per-lifter builds, tempos and balance
/// strategies, a sensor strapped any way that slips and wobbles, and a full
/// error model. Built from the exercise notes and real recordings alone; a
/// hold-out until session 8 read it for rules.
pub mod chain;
/// A thirteenth body model, built apart and read in session 16: a whole
/// lower-body workout with the sensor left on.
///
/// The lifter wears the sensor through the whole glute session: squats,
/// split squats and lunges, band walks, clamshells, fire hydrants, bridges
/// and hip thrusts, step-ups, hinges, calf raises, kickbacks, walking and
/// sitting between the abduction sets, supersets done back to back with a
/// set and a fast finisher to failure. Every joint of a lower-body skeleton
/// (stance foot, shank, thigh, pelvis, posture) follows a keyframe track
/// interpolated by Kochanek–Bartels splines in the lifter's own style
/// (range, tempo, asymmetry, holds, smoothness); the sensor's pose comes
/// from forward kinematics, differentiated at a high internal rate, then
/// gets a full error model. Built after all twelve without reading the
/// counter or the other models; read in session 16, once home stood ready
/// and was scored.
pub mod circuit;
/// A tenth body model, built apart and read in session 13: group exercise classes and home workout videos.
///
/// Ordinary people (beginners and regulars, older adults holding a chair,
/// heavier bodies, rushing teenagers) doing the exercises to music: each
/// rep is timed by the beat through a phase-correcting timekeeper and
/// shaped by a Gaussian process conditioned on via-points (neutral, top,
/// holds, pulses); mini-bands, soft mats, a waistband clip, soft tissue
/// that wobbles; the instructor's other moves, side switches and drinks
/// between sets; the sensors people own with a warming accelerometer,
/// timestamp jitter and stream drops. Built without reading the counter or
/// the other models; read for rules in session 13.
pub mod class;
/// An eighth body model, the hold-out: a physiotherapy clinic and home population.
///
/// Older adults, patients after surgery, with low-back pain or returning
/// from injury, doing the exercises with guarded, variable range, holding on
/// to a chair or rail, against bands, ankle weights, a cable or a machine.
/// Each rep is an intention followed by a saturating controller through the
/// leg's dynamics (pain revises the goal, weakness slows it, a let-go
/// descent snaps back); therapist's cues, abandoned reps, sitting, walking
/// with a stick and table changes between sets; a cheap consumer IMU with
/// batched BLE stamps, low full-scale ranges, a warming gyro, a loose strap
/// or a waistband clip. Built without reading the counter or the other
/// models: never tuned on.
pub mod clinic;
pub mod csv;
pub mod decode;
/// A twenty-eighth body model, the new hold-out: movement made by optimal
/// control on a floating-base rigid-body model with contact, intents from a
/// model of the lifter's mind, and a sensor whose failures come from physics
/// and firmware.
///
/// The body is sixteen links from de Leva's tables (a floating pelvis, a
/// trunk on a three-axis lumbar joint, both legs as thigh, shank and foot)
/// solved by Featherstone's articulated-body algorithm at 500 Hz with
/// implicit joint impedance, touching the floor, a step, a bed or mat, a
/// seat and a back pad through penalty contacts with stiction and a Coulomb
/// limit (a stance foot rolls onto its edge, a lying body rolls on the bed).
/// Every rep's joint torque is planned by a few iterations of iLQR on a
/// reduced model worked out from the body at its neutral posture: effort,
/// torque change (Uno–Kawato), the endpoint variance of signal-dependent
/// noise (Harris–Wolpert), the intended tempo followed loosely and the top
/// and rest tightly, with per-lifter weights; when the torque the lifter has
/// left cannot reach the top (as often as `compensation_rate` says, more
/// later in the set) the plan recruits the pelvis (hike), hip flexion (TFL),
/// a rock of the whole body (sway), goes ballistic (momentum), stops short
/// (partial range) or the stance hip lets go (pelvic drop); flags are
/// measured on the joints against DOMAIN's lines. The stance hip levels the
/// pelvis, the ankles keep the centre of mass over the foot, a hand holds the
/// machine. The mind keeps a rep count that slips, ends sets by perceived
/// exertion (reps in reserve, failure with a failed attempt that is not a
/// rep), paces reps by breathing, lapses, and fills rests with standing,
/// walking, re-strapping, swings, shifting weight, setting the machine,
/// glances, the other leg's set, lying down and getting up (moved by a
/// residual wrench on the pelvis). Loads are forces: a stretching cable and
/// a weight stack on bumpers, bands, ankle weights, the machine's pads on an
/// arm with a cam. The sensor rides soft tissue, warms on the skin (bias and
/// its drift from a thermal model), has g-sensitivity, scale and cross-axis
/// error, bias instability, a treadmill's and dropped weights' floor
/// vibration aliased when it has no anti-alias filter, an off-nominal data
/// rate, BLE connection-event batches lost whole, host or device time
/// stamps, and the owned sensors' ranges. Built after all twenty-seven
/// without reading the counter or the other models: the hold-out through
/// session 30, read from session 31.
pub mod effort;
/// A twenty-ninth body model: movement as functional data,
/// every rep's joint curves drawn from a hierarchical functional model with
/// elastic time warping.
///
/// Each joint the exercise moves (working hip abduction, flexion and
/// rotation, knee, pelvic obliquity, tilt and rotation, whole-body lean) is
/// a curve on normalised rep time: a per-lifter mean function (a rise, an
/// optional hold, an asymmetric lowering) plus six eigenfunctions
/// (amplitude, early or late peak, hold, asymmetry, a bounce at the top, a
/// hitch on the rise) written as clamped cubic B-splines, with scores
/// correlated across joints through a per-lifter factor covariance (more
/// abduction with more hike and a longer rep, a fast rise with a late hip
/// flexion). Each rep is composed with a random warping function (the
/// normalised cumulative of exp of a random cosine series) so phase varies
/// apart from amplitude; the duration is a score of its own. Population
/// (gym-goers, rehab patients, older adults, athletes, beginners), lifter,
/// session, set and rep random effects, AR(1) from rep to rep, fatigue as
/// a trend. Compensations are shifts along their own directions in the
/// score space (hike, drop, sway, flexion drift, partial range) or the warp
/// (momentum), rising through a set and measured on the curves against
/// DOMAIN's lines, so some land just under one. Pauses come from a
/// per-lifter renewal process; fidgets, swings, given-up starts,
/// re-strapping, shuffles, walks and turns, lying down, getting up and
/// sitting into the machine are functional classes of their own in a
/// semi-Markov rest. A kinematic skeleton from Winter's tables turns the
/// curves into segment poses; the sensor rides soft tissue (offset linear
/// in the joint angles, damped wobbles after impacts) and carries the
/// owned sensors' ranges, quantisation, bias, scale, cross-axis error and
/// noise, an off-nominal crystal, device or host time stamps with BLE
/// batches, drops and gaps. Built after all twenty-eight without reading
/// the counter or the other models: the hold-out through session 31, read
/// from session 32.
pub mod elastic;
/// A sixteenth body model, the hold-out: sets taken close to failure, and
/// the motor control behind them.
///
/// Recreational and serious lifters following a program app: each rep is
/// a second-order joint driven toward via-targets by a stochastic optimal
/// feedback controller with signal-dependent motor noise (Harris–Wolpert),
/// whose torque capacity, gains and intended range fade with a per-rep
/// fatigue integrator that recovers between sets; grinding concentrics,
/// partial last reps, failed reps, rest-pause, drop sets, tempo schemes,
/// 8–12 Hz tremor and compensations (hip hike, lean, momentum, flexion
/// drift, pelvic drop) growing through the set; rests standing, on a bench,
/// at the water fountain, adjusting the stack, re-strapping, drinking and
/// on the phone; the sensors people own with bias, scale errors,
/// quantisation, clock drift, stamp jitter and drops. Built without
/// reading the counter or the other models: never tuned on.
pub mod fatigue;
/// A seventh body model, the hold-out: a lifter's behaviour and a wobbling sensor.
///
/// What the lifter does is a semi-Markov grammar (bracing, concentric, top
/// holds with sag and tremor, eccentrics slow or dropped, touch-and-go or
/// breathing pauses, aborted reps, two-push reps, re-sets, phone glances,
/// fatigue); the sensor sits on soft tissue behind a spring–damper and a
/// strap that slips and is re-tightened; a full sensor error model. Built
/// from the exercise notes and real recordings without reading the counter
/// or the other models: never tuned on.
pub mod gym;
/// A seventeenth body model, the hold-out: a muscle-driven body.
///
/// Each working-hip degree of freedom (abduction, flexion, rotation) and
/// the pelvis (obliquity, tilt, twist, the lean over the stance foot) is
/// moved by an antagonist pair of Hill-type actuators: excitation, first
/// order activation dynamics, force–length and force–velocity curves, a
/// series elastic tendon, passive joint elasticity and damping near the
/// range limits, against limb inertia from anthropometric tables, gravity
/// and the cable, pads or ankle weight. Reps are planned minimum-jerk
/// targets tracked by a muscle-level controller with co-contraction, so
/// their shapes come out of the dynamics; tremor, holds, hesitations and
/// abandoned reps; the sensor on a soft-tissue spring–damper with bias,
/// drift, scale, cross-axis, noise, quantisation and saturation. Truth is
/// measured on the simulated motion. Built without reading the counter or
/// the other models: never tuned on.
pub mod hill;
/// A fourteenth body model, built apart and read in session 16: people training at home, and a
/// body whose motion comes from physics.
///
/// A floating-base rigid multibody (pelvis, trunk, thighs, shanks, feet)
/// integrated at 1 kHz, feet and body on the floor, a sofa, a bed, a mat, a
/// chair or a stair step through stiff or sinking contact springs with
/// friction, joints driven by torque-limited PD controllers and a balance
/// loop tracking a per-lifter motor plan against gravity, bands tied to a
/// table leg (that slip), loop bands and ankle weights; compensations arise
/// from the controller's choices. Home exercisers with pauses, abandoned
/// reps, interruptions, lost counts and the other leg's sets; walking,
/// stairs, the sofa, picking up, a laundry basket, stretching and the
/// sensor laid on a table between sets; the sensors people own with
/// temperature-driven bias, scale and cross-axis errors, clipping,
/// quantisation, clock drift, drops, strap slip and soft-tissue wobble.
/// Built without reading the counter or the other models; read in session
/// 16, once studio stood ready and was scored.
pub mod home;
/// A thirty-first body model, built apart after all thirty: movement made
/// by active inference (Friston et al. 2010; Adams, Shipp & Friston 2013).
///
/// The lifter sends no motor commands. Their brain holds a generative
/// model of the body and the task: the rep's phases (rest, rise, top,
/// lowering) and the set's reps are the winner of a stable heteroclinic
/// channel (Lotka–Volterra winnerless competition with asymmetric
/// inhibition, Rabinovich et al. 2008) perturbed by noise, so the pause
/// at each saddle scales with the log of the noise and a strong kick
/// skips or repeats a phase. The channel's state sets a desired hip and
/// pelvis configuration that the beliefs follow in generalised
/// coordinates (position, velocity, acceleration), corrected by
/// precision-weighted prediction errors of proprioception, vision of the
/// limb and the vestibular sense of the trunk. Delayed (25–60 ms) reflex
/// arcs with their own noise move a rigid body (leg, pelvis obliquity,
/// whole-body lean, yaw) from anthropometric tables against gravity, the
/// cable stack with pulley friction, the band, the ankle weight, the
/// pads or body weight, and the floor, bed, seat or step, to cancel the
/// proprioceptive error. Precision is the knob: low proprioceptive
/// precision gives sluggish, undershooting reps, over-confident priors
/// jerky corrections, a wrong belief about the load a first rep that is
/// off and learnt away. Compensations arise where a fatigued prime mover
/// leaves a task error that other joints cancel (hip hike, TFL flexion,
/// swings, pelvic drop, trunk rocking, partial range), measured on the
/// resulting curves. Populations (gym-goers, rehab patients, older
/// adults, athletes, beginners, poor proprioception), a programme of
/// warm-up, working, back-off and drop sets with the other leg's sets and
/// non-rep movements between them, and a sensor on soft tissue with the
/// owned sensors' MEMS errors, stamps, BLE batches, drops and gaps. Built
/// after all thirty without reading the counter or the other models:
/// never tuned on or read.
pub mod infer;
/// A twenty-third body model, the hold-out through session 25 (read from
/// session 26): movement as Langevin
/// dynamics in a landscape the lifter reshapes, a pelvis and trunk set by
/// quasi-static whole-body balance, a sensor on soft tissue that wobbles.
///
/// The working joint (hip abduction; in a hip hitch the pelvis' drop) is a
/// particle, `m x'' = -c x' - dU(x, t)/dx + sigma xi(t)` with coloured
/// motor noise and tremor, in a potential with a neutral well and, while
/// the lifter means to raise, a well at that rep's top (drawn per rep) that
/// deepens as the intent grows while the neutral well shallows and the
/// landscape tilts toward the top: a rep is an escape over the barrier and
/// back; noise makes some escapes early, weak intents fail (an abandoned
/// attempt), long intents hold the top, a shallow middle well catches some
/// lowerings that then rise again. Flexion and rotation are particles in
/// wells that follow the leg. Intents come from a self-exciting Hawkes
/// process per lifter (each release raises the rate of the next intent
/// after a refractory time; a set ends at the lifter's target or, within
/// the range, when the excitation dies); fatigue lowers the top wells and
/// raises friction and noise. Compensations are shapes of the landscape
/// (momentum: a deep, steep top well reached with little friction; partial
/// range: a top well short of the range; flexion drift: a flexion well that
/// moves forward) or of the balance cost (hip hike, pelvic drop, trunk
/// sway), some just over DOMAIN's lines and some just under. Every few
/// internal steps a weighted least-squares problem (nalgebra) sets the
/// pelvis' obliquity, tilt, turn, sideways shift and the trunk lean that
/// keep the whole-body centre of mass over the support (the stance foot,
/// the bed, the seat, the step) with per-lifter weights and targets,
/// followed through a per-lifter lag, plus postural sway and breathing.
/// Walking, turning, sitting, pin changes, re-straps, drinks, the phone,
/// the other leg's set, fidgets and single swings between sets; rehab, gym,
/// athlete and video populations. The sensor's segment motion is
/// differentiated at a high internal rate, passed through a soft-tissue
/// mass (a damped second-order system per axis, 8–20 Hz) and averaged to
/// the sensor's own sample times, with a mounting per session,
/// temperature-driven bias, scale, cross-axis, noise, quantisation,
/// saturation, a crystal a little off, drops and gaps. Truth is measured
/// on the simulated joints. Built after all twenty-two without reading the
/// counter or the other models; the hold-out through session 25, read from
/// session 26.
pub mod langevin;
/// A twenty-first body model, the hold-out through session 23 (read from
/// session 24): movement from the Kinematic
/// Theory of rapid human movements under intermittent control, with
/// whole-body reaction dynamics.
///
/// Every voluntary motion is a sum of overlapping lognormal velocity
/// impulses (Plamondon's sigma-lognormal model, each with its own onset,
/// log-time delay, log-response time and amplitude): a half-rep is a
/// primary impulse and corrective submovements launched after a refractory
/// delay while the remaining error exceeds the lifter's tolerance (one or
/// two for the skilled, several with stalls and second pushes for rehab,
/// fatigued or distracted lifters); holds, pauses, partial reps, abandoned
/// attempts and compensations (obliquity, a whole-body rock with yaw, hip
/// flexion, an over-fast primary with a rebound, a short amplitude) are
/// impulses too. The pelvis, the whole body's shift over its support and
/// the trunk react to the working leg through a linearised Newton–Euler
/// coupling resisted by per-lifter postural stiffness, damping and a delayed
/// reflex, with their own support standing, lying, seated or on a step.
/// Walking (lognormal strides), turns, sitting, pin changes, re-straps,
/// drinks, the phone, the other leg's set and fidgets between sets; rehab,
/// gym, athlete and video populations; a sensor on soft tissue with its own
/// crystal and a full error model. Truth is measured on the simulated
/// joints. Built after all twenty without reading the counter or the other
/// models; the hold-out through session 23, read from session 24.
pub mod lognormal;
/// A twenty-sixth body model, the hold-out through session 28 (read from
/// session 29): movement assembled the way
/// a game engine animates a character from motion capture, a pelvis and
/// trunk from a double inverted pendulum switching between an ankle and a
/// hip strategy, lifters from anthropometric tables who learn over a block
/// of sessions, and a consumer wearable.
///
/// The leg (in a hip hitch the pelvis about the stance hip) moves by clips
/// from a library made procedurally per exercise, as if captured: raise,
/// hold, lower, idle, fidget, weight shift, step, sit down, stand up, lie
/// down, get up, re-strap, walk, turn, pick up a bottle, stretch, adjust the
/// cable, a single swing, the other leg's rep, an abandoned attempt; each
/// clip several takes with a timing of their own, a wobble and a little
/// tremor, some with a capture glitch smoothed over, and swing takes with a
/// fast start and an overshoot. A motion graph says which clip may follow
/// which (a bridging clip is inserted when the wanted one may not); the
/// controller picks the take by motion matching (start level and speed
/// against the current pose and speed, the wanted action, Gumbel noise whose
/// size falls with skill), time-warps it along the dynamic-time-warping path
/// that aligns the take's speed profile with the lifter's own tempo
/// template (non-uniform), scales it to the wanted range and cross-fades
/// into it over 0.1–0.4 s from wherever the last clip is, so a transition
/// can cut a movement short, merge two or leave a bump. Inverse kinematics
/// keeps the working foot on the floor when the free side of the pelvis
/// sinks (the knee and hip flex), the top leg on the bottom one when lying,
/// and the feet on the machine's footrests (the shank tilts as the knees go
/// apart). Compensations come from clip choice and blending: a swing take
/// (momentum), a raise blended out early into the lowering (partial
/// range), a hip-flexion layer (drift), hike, drop and rocking-lean layers
/// on the pelvis and trunk; the truth lists what the motion did, measured.
/// The pelvis and trunk are a linearised frontal-plane double inverted
/// pendulum (legs-pelvis and head-arms-trunk, masses and lengths from the
/// lifter) over the stance foot, the bed, the seat or the step, disturbed by
/// the working leg's weight and swing, the cable's pull and the other leg,
/// balanced by a delayed (50–160 ms) controller that leans toward the
/// stance side in anticipation and blends an ankle strategy with a hip
/// strategy (counter-rotating trunk and pelvis) as the disturbance grows;
/// the pelvis rolls with the clip's coupling, the stance hip's adduction as
/// the hips shift and the hip strategy, so clean reps move a sacral sensor
/// from well under a degree to a few degrees, one way or the other. Lifters
/// from 13 to 85 years with heights, masses and segment shares from
/// anthropometric tables (de Leva 1996), a session within a block whose
/// skill sets the spread of tempo and range, the fidgets and the re-starts,
/// a tempo, range, pauses at the top or bottom and counting aloud of their
/// own; straight, cluster (12–20 s pauses, so separate sets in the truth),
/// drop (a pin change under 10 s inside the set, then a faster tempo) and
/// unilateral supersets (the other leg's set between sets); walks, turns,
/// standing up and getting back down, re-straps, a bottle, stretches, the
/// cable, single swings and fidgets between sets; some sessions start at
/// once, some end walking off. The sensor: a consumer wearable computing
/// specific force and angular rate at twice the output rate or more, its
/// fusion's prefilter, a bias estimator that learns the gyro bias while the
/// device is still, a gyro bias and accelerometer scale that move as the
/// device warms on the skin over minutes, a crystal with a per-device ppm
/// offset and a warm-up drift (the truth is on the device's clock), i16
/// packing, a ±500 to ±2000 °/s gyro that clips in fast swings, noise,
/// floor vibration from dropped weights, several samples per BLE
/// notification, whole notifications lost in bad connection events and
/// 200 ms gaps, a per-session mounting and a strap that creeps about the
/// shank. Truth is measured on the simulated joints. Built after all
/// twenty-five without reading the counter or the other models; the
/// hold-out through session 28, read from session 29.
pub mod mocap;
/// A sixth body model: a lifter moved by muscles.
///
/// Rigid degrees of freedom driven by Hill-type muscles with activation
/// dynamics, force–length, force–velocity and fatigue, against gravity and
/// the load (a cable stack with inertia and friction, an ankle weight,
/// machine pads with their own stiffness); each rep a motor program with
/// delayed feedback, compensations as other activation strategies, a full
/// sensor error model. Built after the other five without reading the
/// counter; the hold-out until session 9 read it for two rules.
pub mod muscle;
/// A twenty-fifth body model, the hold-out through session 27 (read from
/// session 28): movement made by a delayed
/// sensorimotor loop with a forward model that may be wrong, released by a
/// basal-ganglia-like gate, a pelvis held by the stance hip's abductors,
/// lifters with and without neurological or orthopaedic conditions, and a
/// low-power sensor with its own firmware habits.
///
/// The working joint (hip abduction; the seated machine's rotation about
/// the vertical; in a hip hitch the pelvis' drop about the stance hip) is a
/// plant with the segment's inertia, gravity, passive stiffness and damping,
/// an end of range and its load (a cable to a stack with friction, an ankle
/// weight and the bottom leg as a contact, the machine's cam and stops, body
/// weight about the stance hip). A computed-torque controller with a
/// feedforward from the lifter's internal model acts on a state sensed
/// 60–150 ms late (per lifter) and brought up to date by a Smith predictor
/// (the forward model driven by the efference copy, re-anchored slowly on
/// the senses). Its inertia, load and delay are nearly right for healthy
/// lifters and wrong for others (ataxia, multiple sclerosis), more so with
/// fatigue: overshoot or undershoot of the intended top, corrective
/// sub-movements, and near the target a 3–6 Hz intention tremor whose size
/// follows the mismatch and grows as the limb slows. Spastic lifters (after
/// a stroke, some with MS) have a delayed velocity-dependent stretch reflex
/// against fast lowering that may catch the limb for 0.1–0.3 s and then let
/// it go. A drift-diffusion go signal with a threshold and noise releases
/// every raise, hold and lowering: prompt when healthy; for Parkinson's,
/// bradykinesia with the sequence effect (reps shrinking and slowing in a
/// set, recovering after a pause), freezing part way for 0.3–3 s then going
/// on or giving up, festination (hurried, shrinking reps), rest tremor and,
/// for some, choreic or dyskinetic wriggles of the leg and trunk (small in
/// a set, some large between sets). Flexor synergy (abduction with flexion
/// and external rotation) after a stroke and tensor fasciae latae drift
/// with weak abductors and fatigue; pain-limited range and abandoned
/// attempts for osteoarthritis, a guarded range after a hip replacement.
/// Compensations when asked: a ballistic release with the brakes off
/// (momentum), a short goal (partial range), a flexion goal, a hike of the
/// free side, the stance abductors letting go, a rocking lean; what the
/// truth lists is what the motion did, measured. The pelvis: at every step
/// the frontal-plane moment balance about the stance hip (the rest of the
/// body and the swing leg's weight on their lever arms and the cable's
/// moment against the abductors' available moment, per-lifter strength
/// falling with fatigue) gives the obliquity: a fraction of a degree of
/// compliance for a strong lifter, a Trendelenburg drop when the demand
/// exceeds the capacity, a Duchenne trunk lean over the stance hip that
/// cuts the demand, or a hike; the whole body leans and shifts toward the
/// stance side and turns a little with the leg; all through a delayed
/// second-order lag (per-lifter stiffness, damping and delay) with
/// postural sway. Between sets: walking with the lifter's own gait
/// (normal, shuffling, hemiparetic circumduction, antalgic, with a cane),
/// turning, sitting and standing up slowly, sitting up and lying down on
/// the bed, a rest on the back, re-strapping with or without help, shaking
/// the leg out, the other leg's set; the session may end mid-stride. The
/// sensor: specific force and angular rate from the segment's motion at
/// 500 Hz, an on-chip two-pole low-pass, an output data rate ±1.5% off
/// nominal, the accelerometer sampled 0.5–3 ms after the gyro, a FIFO read
/// in bursts whose stamps the host reconstructs from the arrival (jitter,
/// occasional late bursts, overflows that lose a run of samples), a gyro
/// bias that walks and steps after a gap, scale and cross-axis errors,
/// white noise, quantisation and saturation (±1000 or ±2000 °/s, ±8 or ±16
/// g), a mounting per session (any orientation on the ankle, the lateral
/// malleolus or the shin; a belt clip within 15° on the sacrum), drops and
/// gaps. Truth is measured on the simulated joints. Built after all
/// twenty-four without reading the counter or the other models; the
/// hold-out through session 27, read from session 28.
pub mod neuro;
/// A twenty-fourth body model, the hold-out through session 26 (read from
/// session 27): the working segment a
/// pumped physical pendulum driven by brief impulses, a pelvis and trunk
/// from a linear inverted pendulum under capture-point control that
/// sometimes has to step, intents from cues with human reaction times, a
/// MEMS sensor specified by its Allan variance.
///
/// The working leg (in a hip hitch the pelvis about the stance hip) is a
/// compound pendulum with its own mass, length and inertia per lifter,
/// under gravity and its load: a cable to a weight stack that is a mass of
/// its own on a stiff one-sided cable, with friction, lifting off its rest
/// and clacking down on it; a band or an ankle weight; a machine's cam,
/// arms and pads; the stance hip's postural stiffness. The lifter does not
/// track a curve: a tone that carries part of the static load, plus brief
/// bursts of torque (tens to hundreds of ms) sized by the lifter's own,
/// slightly wrong model of the load and fired by the pendulum's phase: a
/// concentric push (sometimes split in two) on the intent, pumps when the
/// leg slows short of the target, an antagonist check near the top, a
/// holding burst at the top, eccentric braking pulses whenever the descent
/// outruns the lifter's trigger speed (some missed, more with fatigue), a
/// landing brake. Momentum (a strong push, brakes missed, the stack
/// clacks), short reps, holds, dropped lowerings and lowerings caught and
/// pumped up again come out of the physics; fatigue weakens the bursts
/// over a set; bigger reps get longer bursts. Flexion and rotation are
/// second-order modes coupled to abduction that drift over a set. Intents
/// come from a coach's count, an app's metronome or the lifter's breathing
/// with ex-Gaussian reaction times, lapses (a missed cue, then two reps
/// hurried) and anticipation, or with no cue from a gamma or Weibull
/// renewal process; a small workout grammar gives warm-up, working, drop,
/// light and abandoned sets and supersets with the other leg. The pelvis
/// and trunk are a frontal and sagittal linear inverted pendulum over the
/// stance foot (the bed or the seat as a stable support; the step in a hip
/// hitch) whose centre of mass is moved by the leg, balanced by a delayed
/// capture-point controller with an ankle strategy (the centre of pressure
/// within the foot), a hip strategy (trunk lean and pelvic obliquity,
/// per-lifter: some hike, some drop, some sway) and a recovery hop when the
/// capture point leaves the foot (listed among the distractions; the set
/// goes on). Walking, turns, sitting, lying down and standing up, pin
/// changes, re-straps, drinks, the phone, the other leg's set, weight
/// shifts, shakes and single swings between sets; rehab, gym, athlete,
/// home-video and older populations. The sensor: specific force and angular
/// rate of the segment at an internal rate of at least 250 Hz, the
/// device's own two-pole low-pass, sampled on a crystal a little off with
/// timestamp jitter, then white noise (angle and velocity random walk),
/// bias instability as three Gauss–Markov processes (5 s to 2000 s), rate
/// random walk, turn-on bias and a warm-up drift, scale and cross-axis
/// errors, quantisation and saturation (±500 to ±2000 °/s, ±4 to ±16 g),
/// a mounting per session, drops and gaps. Truth is measured on the
/// simulated joints. Built after all twenty-three without reading the
/// counter or the other models; the hold-out through session 26, read from
/// session 27.
pub mod pendulum;
/// A second, held-out body model for the simulator.
///
/// The whole body pivots as an inverted pendulum over the stance foot, leans
/// and shifts its hips toward the stance side as the leg goes out, sways at
/// several incommensurate frequencies, and does reps of many shapes drawn per
/// lifter. It exists as a test corpus that the rep counter is never tuned on:
/// the counter was tuned on [`sim`]'s body model, and a counter that only
/// works on the model it was tuned on will fail on real people.
pub mod pivot;
/// A twenty-seventh body model, the hold-out through session 29, read from
/// session 30: movement made the way an industrial robot controller makes
/// it, timed by a human timing model, a pelvis and trunk as a lumped
/// mass–spring–damper network, the session as a discrete-event simulation
/// of a busy gym, and a sensor read through a phone-class OS sensor stack.
///
/// Every rep is a program of via points for the working coordinate (hip
/// abduction; the knees apart on the machine; in a hip hitch the pelvis'
/// drop about the stance hip), followed by an online trajectory generator
/// that re-plans every 2 ms from the current position, velocity and
/// acceleration under per-lifter, per-phase limits on velocity,
/// acceleration and jerk (seven-segment S-curves with velocity plateaus,
/// sharp changes of acceleration, a faster raise than lowering, a pause at
/// the top, a slow eccentric through a fly-by via point blended
/// parabolically). The lifter changes targets mid-motion: goes higher,
/// stops short, freezes and goes on, sinks part way and pumps up again,
/// abandons an attempt, turns round on the way down into the next rep; the
/// planner re-plans from where the leg is, so these overshoot, stall and
/// turn. Knee, hip flexion and rotation are planned coordinates too. A PD
/// servo with feedforward and per-lifter gains (2–4 Hz, damping 0.35–1)
/// follows the plan against gravity and the cable, band, pads or ankle
/// weight, partly compensated, with tremor: fast lifters overshoot and
/// ring, weak or tired ones lag and sag. Rep onsets come from a
/// Wing–Kristofferson model (an internal clock with its own variance and a
/// slow drift plus a motor delay with its own variance) with linear phase
/// correction to a metronome for some lifters, self-paced for others,
/// tempo slowing with fatigue and extra pauses every few reps.
/// Compensations are planner behaviour: momentum a raise with high
/// acceleration and jerk limits and an uncontrolled return, partial range
/// a top re-planned lower mid-raise, flexion drift a flexion coordinate
/// that creeps, hip hike, pelvic drop and trunk sway set points of the
/// pelvis network (some just under DOMAIN's lines). The pelvis and trunk
/// are a lumped network (the stance leg a tilting spring-damper column
/// with a vertical spring, pelvic obliquity, tilt and turn, a trunk lean)
/// driven by the leg's lean of the centre of mass and its reaction to the
/// leg's acceleration, with a delayed (80–180 ms) low-gain PID on the lean
/// and the obliquity, postural sway and breathing; heel strikes ring it.
/// The session is a discrete-event simulation of a busy gym: members
/// arrive and take the station while the lifter is away (a wait, then a
/// hurried set), come over to talk; the lifter checks the phone, walks to
/// the water fountain, re-racks, changes the load or the attachment,
/// re-straps, swings a leg, shifts weight, does the other leg's set, rests
/// by a timer or by feel; sessions start almost at once or after a few
/// seconds and some end walking away. Lifters (teenagers to the elderly,
/// novices to athletes) get segment masses and lengths from de Leva and
/// Winter by sex, height and mass. The sensor sits on soft tissue (a
/// wobbling mass per site, 8–20 Hz, and a skin rotation growing with the
/// joint angle and the contraction) and is read through a phone-class OS
/// stack: a device crystal off by up to ±150 ppm, a sensor hub handing
/// over batches the host stamps on arrival and spreads back by the nominal
/// period (non-uniform, strictly increasing stamps), occasional duplicated
/// samples, a busy OS halving the rate for a few seconds, random drops and
/// 200 ms gaps, bias with instability, scale and cross-axis errors,
/// on-chip low-pass, 16-bit quantisation, a ±500–2000 °/s gyro that clips
/// and a ±4–16 g accelerometer that saturates at heel strikes, a mounting
/// per session. Truth is measured on the simulated joints. Built after all
/// twenty-six without reading the counter or the other models; the
/// hold-out through session 29, read from session 30.
pub mod planner;
/// A nineteenth body model, the hold-out: movement as discrete motor
/// primitives chosen by a stochastic grammar.
///
/// Every half-rep is a Dynamic Movement Primitive (a critically damped point
/// attractor with a canonical phase and a forcing term of Gaussian basis
/// functions carrying the lifter's own style, jittered per rep), goals that
/// drift over a set, tempo with serial correlation, primitives that blend,
/// phase stopping when a perturbation holds the limb back; a weighted
/// grammar expands the session (warm-ups, set-ups, practice swings and
/// false starts, abandoned or dropped last reps, fading reps, and the
/// actions of a rest: walking with gait cycles, turning, sitting, lying,
/// shaking out, re-strapping, drinking, the phone, stretching, the other
/// leg's set) over a mixture of populations (rehab, gym, athletes, people
/// following a video); a kinematic chain with anticipatory postural
/// adjustments and sway; a sensor with its own crystal, bias drift, scale,
/// cross-axis, noise, quantisation, saturation, drops and gaps. Truth is
/// measured on the simulated motion. Built after all eighteen without
/// reading the counter or the other models: never tuned on.
pub mod primitive;
/// A twentieth body model, the hold-out through session 22 (read from
/// session 23): the foot moved in task space, the
/// joints from inverse kinematics with redundancy.
///
/// Each rep is a task-space path for the end effector (the working foot on
/// the cable's arc or a band's line, the foot's height above the bed, the
/// free hip's height in a hip hitch, the knee against the machine's pad),
/// travelled with a per-lifter speed profile (bell-shaped, front- or
/// back-loaded, dwells at the top) to a height that drifts over a set. A
/// leg chain (pelvis 6-dof over the stance foot, bed or seat, hip 3-dof,
/// knee, ankle 2-dof, trunk lean) is solved every internal step by
/// weighted damped least squares with per-lifter joint weights and soft
/// limits, so a stiff hip or a weak abductor recruits the pelvis and hip
/// flexion from the null space, where a lagging balance task keeps the
/// body over its support; the joints follow the solution through a
/// second-order lag. An agenda per session (warm-up, working sets, the
/// other leg's set, supersets, walks, the bench and the phone, stretches,
/// alternating legs, a chair or wall to hold, counting aloud); rehab,
/// gym, athlete and video populations; a sensor on soft tissue with a
/// creeping strap, its own crystal and a full error model. Truth is
/// measured on the simulated joints. Built after all nineteen without
/// reading the counter or the other models; read from session 23.
pub mod reach;
/// An eighteenth body model, the hold-out: reps that emerge from a
/// dynamical system.
///
/// The working joint is driven by a Hopf oscillator (a central pattern
/// generator) whose amplitude and frequency are slow state variables: a set
/// starts when its bifurcation parameter is ramped up and ends when it is
/// ramped down; phase diffusion, amplitude wander, pauses, holds and
/// hesitations as phase resets, metronome entrainment with lost beats,
/// asymmetric rep shapes from the oscillator's nonlinearity. A kinematic
/// chain (stance foot, whole-body lean, pelvis, working hip and knee)
/// answers the leg through a balance coupling and sways at several time
/// scales; compensations perturb the oscillator or the body; a semi-Markov
/// chain of behaviours fills the rests (walking, turning, swings, shakes,
/// re-straps, sitting, lying, stretching); a full sensor error model. Truth
/// is measured on the simulated motion. Built after all seventeen without
/// reading the counter or the other models: never tuned on.
pub mod rhythm;
pub mod session_file;
pub mod sim;
/// A fifteenth body model, built apart and read in session 17 once fatigue
/// was scored: Pilates, barre and yoga studios,
/// and motion written directly as orientations.
///
/// Every segment (pelvis, working thigh and shank, the sensor on its strap)
/// turns along a curve in SO(3): quintic Hermite splines in the log map
/// between quaternion keyframes for what the lifter means to do, cumulative
/// cubic B-splines on the unit quaternions driven by Ornstein–Uhlenbeck
/// control points for sway, breathing and tremor; the angular rate is the
/// curves' analytic derivative, positions come from a segment chain. A
/// semi-Markov intention (rise, hold, pulse, lower, rest) paced by breath
/// and an instructor times slow controlled reps, long holds and pulses at
/// the top, on a mat, a reformer carriage or box, at the barre, with a ring
/// between the knees, from beginners' small ranges to dancers' large ones;
/// the other side's sets, leg circles, roll-downs, cat-cow, lunges, the
/// reformer and walks across the studio between sets; the sensors people
/// own with bias, drift, scale and cross-axis errors, quantisation,
/// clipping, clock drift, drops, creeping straps on leggings and sweat.
/// Built without reading the counter or the other models.
pub mod studio;
/// A twenty-second body model, the hold-out through session 24 (read from
/// session 25): movement as a switching
/// linear dynamical system (an autoregressive hidden Markov model, the
/// "behavioural syllables" of MoSeq).
///
/// The whole-body state (working-hip abduction, flexion and rotation, knee,
/// the pelvis' obliquity, tilt and turn, trunk lean, the hips' shift and
/// height, heading, body roll, walking speed, the other leg) evolves as
/// `x[k+1] = A_s x[k] + b_s + w_s[k]` under a discrete syllable `s` (rest,
/// raise, hold, lower, settle, fidget, shift on the bench, stride, turn, sit,
/// lie, pin change, re-strap, drink, phone, swing, the other leg's rep):
/// each syllable its own stable dynamics (a command state and a
/// second-order joint per degree of freedom, couplings between joints), its
/// own fixed point (the raise's target is the lifter's top for that rep,
/// drawn per rep and lowered by fatigue) and its own coloured process noise.
/// A per-lifter transition table with log-normal and negative-binomial
/// durations and state-dependent exits (a raise ends near its target or
/// gives up when the lifter is tired; a lower may stop short and raise
/// again) makes the reps, holds, pauses, abandoned attempts and reps that
/// never return to neutral; compensations are syllable targets and coupled
/// modes (obliquity during the raise, a lean mode with yaw and shift, an
/// over-fast underdamped raise with a rebound, a flexion target, a short
/// target), some just over DOMAIN's lines and some just under. The pelvis
/// and trunk answer the leg through per-lifter random stable linear filters
/// (second or third order, resonant or not, some with a non-minimum-phase
/// zero, gains that differ per lifter and per side), standing, side-lying,
/// seated or on a step, plus their own sway; rehab, gym, athlete and video
/// populations; a strap that slips in sudden small steps and creeps; specific
/// force and angular rate from the segment motion at a high internal rate,
/// averaged to the sensor's sample times, with temperature-driven bias,
/// scale, cross-axis, noise, quantisation, saturation, a crystal a little
/// off, drops and gaps. Truth is measured on the simulated joints. Built
/// after all twenty-one without reading the counter or the other models;
/// the hold-out through session 24, read from session 25.
pub mod syllable;
/// An eleventh body model, built apart and read in session 14: team-sport injury-prevention
/// work on the pitch and in the club gym.
///
/// Youth and adult amateur players, goalkeepers, forwards and a player back
/// from a groin or ankle injury, doing the exercises to a squad's shared
/// count, against a partner's hands, loop bands or ankle weights; each rep a
/// random Fourier series bounded by a soft joint limit and placed on a
/// planted body; jogging, shuffles, jumps and landings, kicks, sprints and
/// cuts, getting down on the grass, the other leg's set between sets; a
/// shin-guard or sock-taped sensor that shifts, a sacral belt clip, the
/// sensors people own and team trackers that saturate on landings, BLE drops
/// on the touchline. Built without reading the counter or the other models;
/// read in session 14, once wear stood ready and was scored.
pub mod team;
/// A third, held-out body model driven by torques.
///
/// The working leg, the pelvis and the whole body are rigid bodies moved by
/// muscle torques from lagging, noisy controllers, gravity and the cable's
/// weight stack, integrated at a millisecond step; the sensor has its own
/// error model. Written without reading the counter or the other body
/// models; since read for rules.
pub mod torque;
/// A thirtieth body model, the new hold-out: movement made by motor units.
///
/// Every muscle group that matters (working-side gluteus medius/minimus and
/// TFL, adductors, iliopsoas, hip extensors, the stance-side abductors,
/// quadratus lumborum and obliques on each side) is a pool of 100–200
/// motor units after Fuglevand, Winter & Patla (1993): exponentially
/// distributed recruitment thresholds and twitch amplitudes, contraction
/// times inverse to size, onion-skin rate coding from a minimum to a peak
/// rate, discharge variability, the twitch-summation sigmoid, and per-unit
/// fatigue after Potvin & Fuglevand (2017) (force falling and contraction
/// time lengthening with the work done, recovering at rest). Physiological
/// tremor and force unsteadiness are not added: they come from the unfused
/// twitches, larger at low forces and with fatigue. Muscle forces act
/// through angle-dependent moment arms with force–length and
/// force–velocity scaling on a segment model from Winter's tables (working
/// hip abduction and flexion, pelvic obliquity about the stance hip,
/// whole-body lean over the stance foot, trunk lean, pelvic yaw), against
/// gravity, a cable stack with pulley friction, a band, an ankle weight,
/// the machine's pads or the body's weight on a step, with the bed, seat
/// and bottom leg as stiff springs. The drive is a feedforward command
/// from each rep's plan through the lifter's internal model, plus short-
/// and long-latency stretch reflexes and a slow postural loop; the
/// feedforward gain and timing are adapted rep to rep by a two-rate
/// state-space learner (Smith, Ghazizadeh & Shadmehr 2006), so the first
/// reps of a set or a new load are off, and a drop set leaves
/// after-effects. Co-contraction rises with load and uncertainty. As fast
/// units fade the learner pushes harder and nearby muscles are recruited:
/// hip hike, trunk lean and sway, flexion drift, momentum, pelvic drop and
/// partial range, measured on the curves against DOMAIN's lines. Lifters
/// are gym-goers, rehab patients, older adults, athletes and beginners,
/// each with their own pools. A programme (warm-up, working, back-off and
/// drop sets, the other leg's set) with loose rests, pauses and holds, and
/// non-rep movements (fidgets, re-strapping, steps, walks, sitting, lying
/// down, getting up, given-up starts) made by the same muscles. The sensor
/// rides soft tissue excited by impacts and the mechanomyogram, with the
/// owned sensors' ranges, quantisation, bias, scale, noise, stamps, BLE
/// batches, drops and gaps. Built after all twenty-nine without reading
/// the counter or the other models: the hold-out through session 32, read
/// from session 33.
pub mod units;
/// A twelfth body model, built apart and read in session 15: the
/// wearables people really use and how they sit on the body.
///
/// Foot pods on the laces, smartwatch-class ankle bands, thigh straps, a
/// phone in a sock or a trouser pocket, a sacral or hip-belt clip, a
/// waistband clip: each with its own mounting, its own fabric or soft-tissue
/// suspension (a pocket phone swings, a strap slips and is re-tightened),
/// its own error model (temperature-driven bias, scale and cross-axis
/// errors, saturation, quantisation, timing jitter, drops). The body is a
/// kinematic chain whose joints follow an equilibrium point through a
/// spring–damper with signal-dependent noise, reps as state-driven
/// via-point programs with per-lifter tempo, holds, dropped eccentrics and
/// fatigue. Built after all eleven without reading the counter or the
/// other models; read in session 15, once circuit stood ready and was
/// scored.
pub mod wear;

/// One draw from the standard normal distribution: every body model's noise.
pub(crate) fn gauss(rng: &mut rand_chacha::ChaCha8Rng) -> f64 {
    use rand::Rng;
    rng.sample::<f64, _>(rand_distr::StandardNormal)
}

/// One draw, uniform in `[lo, hi)`: every body model's spread.
pub(crate) fn uni(rng: &mut rand_chacha::ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    use rand::Rng;
    lo + (hi - lo) * rng.gen::<f64>()
}

/// The cubic smoothstep: 0 below 0, 1 above 1, `3x² − 2x³` between (a
/// ramp with no jump in speed at either end).
pub(crate) fn smoothstep(x: f64) -> f64 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

/// `x` rounded to 3 decimals (the truth's times and sizes).
pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// A turn of `a` radians about x, y or z.
pub(crate) fn rx(a: f64) -> nalgebra::UnitQuaternion<f64> {
    nalgebra::UnitQuaternion::from_axis_angle(&nalgebra::Vector3::x_axis(), a)
}

/// See [`rx`].
pub(crate) fn ry(a: f64) -> nalgebra::UnitQuaternion<f64> {
    nalgebra::UnitQuaternion::from_axis_angle(&nalgebra::Vector3::y_axis(), a)
}

/// See [`rx`].
pub(crate) fn rz(a: f64) -> nalgebra::UnitQuaternion<f64> {
    nalgebra::UnitQuaternion::from_axis_angle(&nalgebra::Vector3::z_axis(), a)
}
