//! The daemon's core: one training session as a pure state machine.
//!
//! `medius run` lives here and in the thin shell around it,
//! `src/cli/run.rs`. The split is rumqtt's `state.rs` / `eventloop.rs`: a
//! [`Session`] takes typed [`Input`]s (a sample from sensor N, a link event,
//! a key command, a tick carrying the shell's time, stop) and returns typed
//! [`Output`]s (feedback for the lifter, sets to save in the logbook, notes
//! for the recording) and a [`Snapshot`] for `medius status`. It does no I/O,
//! reads no clock and starts no thread: everything it knows came in as an
//! input, so its tests feed it vectors. The shell owns the rest: the source
//! and keyboard threads, pacing, the raw recording, the logbook (and its
//! retries), the terminal and the status socket.
//!
//! Crash recovery and `import` run recordings through the same core
//! ([`analyse`], and [`analyse_pair`] for the two recordings of a
//! two-sensor session); `calibrate` feeds a session live like `run` does.
//!
//! The analysis is an [`Analyser`]: one [`crate::motion::Pipeline`] today;
//! a fused two-sensor pipeline plugs in there. Samples carry a
//! [`SensorId`], and each sensor may have a role (where it is worn), so a
//! second sensor needs no new input.

mod analyser;
pub mod key;
pub mod sensor;

pub use analyser::Analyser;
pub use key::KeyCommand;
pub use sensor::{LinkChange, LinkState, SensorId, SensorKind, SensorSpec, SpecError};

use crate::logbook::Load;
use crate::motion::profile::ProfileError;
use crate::motion::{Event, Profile, Rep, Set};
use crate::{Exercise, Placement, Sample, Side};

/// What is trained now (the keyboard may change it between sets).
#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    /// The exercise.
    pub exercise: Exercise,
    /// Where the sensor is (the counting sensor, with two).
    pub placement: Placement,
    /// The working side.
    pub side: Side,
    /// The load, when given.
    pub load: Option<Load>,
}

impl Context {
    /// A change of exercise, placement or side needs a new analyser; a
    /// new load does not.
    fn needs_new_analyser(&self, other: &Context) -> bool {
        (self.exercise, self.placement, self.side) != (other.exercise, other.placement, other.side)
    }
}

/// Builds the analyser for a context (the shell's closure finds the
/// lifter's profile files; tests use the built-in profiles).
pub type Build = Box<dyn FnMut(&Context) -> Result<Analyser, ProfileError>>;

/// One sensor of the session, as the shell set it up.
#[derive(Debug, Clone, Default)]
pub struct SensorSetup {
    /// Where it is worn, when said; else the context's placement.
    pub role: Option<Placement>,
    /// Its raw recording's logbook id.
    pub recording: Option<i64>,
    /// It has a link that reports its state (Bluetooth): not connected
    /// until it says so. Sim and replay are always connected.
    pub linked: bool,
}

/// What the session is told.
#[derive(Debug, Clone)]
pub enum Input {
    /// A sample from one sensor.
    Sample {
        /// Which.
        sensor: SensorId,
        /// The sample (its time is the sensor's clock).
        sample: Sample,
    },
    /// A sensor's link changed.
    Link {
        /// Which.
        sensor: SensorId,
        /// What happened.
        change: LinkChange,
    },
    /// A typed command: applied after the set in progress.
    Key(KeyCommand),
    /// A context noted beside a recording when it was applied (recovery):
    /// applied at once.
    Context(Context),
    /// The shell's clock, s (refreshes the snapshot; nothing else waits
    /// for samples).
    Tick {
        /// Seconds on the shell's clock.
        now_s: f64,
    },
    /// Ctrl-C, SIGTERM, `medius stop`: what is open is judged and saved
    /// as interrupted.
    Stop,
    /// The sources are over (the end of a replay or simulation, a link
    /// that gave up): what is open is judged and saved.
    Ended,
}

/// What the lifter is told.
#[derive(Debug, Clone, PartialEq)]
pub enum Feedback {
    /// The first sample is in: watching, in this context.
    Watching(Context),
    /// A rep is back at neutral, its flags still to come (pelvis).
    RepReturned {
        /// The set's number in this session.
        set: usize,
        /// The rep's number in its set.
        number: usize,
        /// When it left neutral (s).
        start_s: f64,
        /// When it came back (s).
        end_s: f64,
        /// Its size (°).
        peak_deg: f64,
        /// Counted at the pelvis.
        pelvis: bool,
    },
    /// A rep announced on its return turned out not to be one.
    RepWithdrawn {
        /// Its number.
        number: usize,
    },
    /// A rep, whole with its flags.
    Rep {
        /// The set's number in this session.
        set: usize,
        /// The rep.
        rep: Rep,
        /// Its count was announced already ([`Feedback::RepReturned`]):
        /// only its flags are news.
        announced: bool,
        /// Counted at the pelvis.
        pelvis: bool,
    },
    /// Movements at a set's edges (a shuffle, a swing) that were shown as
    /// reps and are not in the set.
    Dropped {
        /// How many.
        movements: usize,
    },
    /// A set is done.
    SetDone {
        /// Its number in this session.
        number: usize,
        /// The set.
        set: Set,
        /// Counted at the pelvis.
        pelvis: bool,
    },
    /// Rep-like movements that do not make a set.
    NotASet {
        /// Start (s).
        start_s: f64,
        /// End (s).
        end_s: f64,
        /// How many.
        reps: usize,
    },
    /// Commands typed during a set wait for its end.
    AfterThisSet,
    /// The context of the next sets.
    ContextChanged(Context),
    /// A command refused, or the help.
    Message(String),
    /// Stopped (during a set: its reps are judged and kept if they make
    /// a set).
    Stopped {
        /// A set was in progress.
        during_set: bool,
    },
}

/// A set for the logbook.
#[derive(Debug, Clone, PartialEq)]
pub struct SaveSet {
    /// The set.
    pub set: Set,
    /// The context it was done in.
    pub context: Context,
    /// Cut short by a stop.
    pub interrupted: bool,
    /// The raw recordings it was analysed from (logbook ids), each with
    /// where its sensor was worn; the counting one first.
    pub recordings: Vec<(i64, Placement)>,
}

/// What the session asks of the shell.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Tell the lifter.
    Feedback(Feedback),
    /// Save a set in the logbook.
    Save(SaveSet),
    /// Note the new context beside the recording, after the sample at
    /// `after_s` (so recovery applies it where the session did).
    Note {
        /// The last sample's time before the change.
        after_s: f64,
        /// The new context.
        context: Context,
    },
    /// The lifter ended the session (`q`): stop the sources.
    End,
}

/// The session now, for `medius status` and the live status line.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The context.
    pub context: Context,
    /// Samples in so far.
    pub samples: u64,
    /// The last sample's time (the sensor's clock), s.
    pub last_t: Option<f64>,
    /// The shell's clock at the last tick, s.
    pub now_s: f64,
    /// A set is in progress.
    pub set_open: bool,
    /// Reps counted in the set in progress (0 between sets).
    pub reps_in_set: usize,
    /// The number the set in progress has (set 1, set 2…).
    pub set_in_progress: usize,
    /// Reps shown for the set in progress (announced ones included).
    pub shown: usize,
    /// When the last rep of the set in progress came back (s).
    pub last_rep_end: Option<f64>,
    /// When the last set ended (s): the rest timer.
    pub rest_from: Option<f64>,
    /// The reps of the set in progress, with their flags.
    pub so_far: Vec<Rep>,
    /// Counting at the pelvis.
    pub pelvis: bool,
    /// Every sensor's link is up.
    pub connected: bool,
    /// Battery %, when known (the first sensor that says).
    pub battery: Option<u8>,
    /// Samples lost on the links.
    pub samples_lost: u64,
    /// Each sensor's link, in [`SensorId`] order, with where it is worn
    /// when said.
    pub links: Vec<(Option<Placement>, LinkState)>,
}

struct SensorEntry {
    role: Option<Placement>,
    recording: Option<i64>,
    link: LinkState,
}

/// One session: see the module doc.
pub struct Session {
    context: Context,
    analyser: Analyser,
    build: Build,
    sensors: Vec<SensorEntry>,
    events: Vec<Event>,
    /// Typed commands waiting for the set to end; true once told so.
    pending: Vec<(KeyCommand, bool)>,
    /// The sample count when "after this set" was last said.
    told_at: Option<u64>,
    samples: u64,
    last_t: Option<f64>,
    now_s: f64,
    reps_in_set: usize,
    sets: Vec<Set>,
    /// (pipeline set, rep) announced on its return, its flags to come.
    announced: Option<(usize, usize)>,
    shown: usize,
    rest_from: Option<f64>,
    last_rep_end: Option<f64>,
    so_far: Vec<Rep>,
    over: bool,
}

impl Session {
    /// A session in `context` over `sensors` (at least one).
    pub fn new(
        context: Context,
        sensors: Vec<SensorSetup>,
        mut build: Build,
    ) -> Result<Session, ProfileError> {
        let analyser = build(&context)?;
        Ok(Session::starting_with(context, sensors, analyser, build))
    }

    /// The same with the first analyser built already (`build` makes the
    /// next ones, when the context changes).
    pub fn starting_with(
        context: Context,
        sensors: Vec<SensorSetup>,
        analyser: Analyser,
        build: Build,
    ) -> Session {
        let sensors = if sensors.is_empty() {
            vec![SensorSetup::default()]
        } else {
            sensors
        };
        Session {
            context,
            analyser,
            build,
            sensors: sensors
                .into_iter()
                .map(|s| SensorEntry {
                    role: s.role,
                    recording: s.recording,
                    link: LinkState {
                        connected: !s.linked,
                        ..LinkState::default()
                    },
                })
                .collect(),
            events: Vec::new(),
            pending: Vec::new(),
            told_at: None,
            samples: 0,
            last_t: None,
            now_s: 0.0,
            reps_in_set: 0,
            sets: Vec::new(),
            announced: None,
            shown: 0,
            rest_from: None,
            last_rep_end: None,
            so_far: Vec::new(),
            over: false,
        }
    }

    /// Takes one input; what it asks of the shell is appended to `out`.
    /// Fails only when the analyser for a new context cannot be built (a
    /// profile file gone bad).
    pub fn handle(&mut self, input: Input, out: &mut Vec<Output>) -> Result<(), ProfileError> {
        match input {
            Input::Sample { sensor, sample } => {
                if self.over {
                    return Ok(());
                }
                if self.samples == 0 {
                    out.push(Output::Feedback(Feedback::Watching(self.context.clone())));
                }
                self.samples += 1;
                self.last_t = Some(sample.t);
                let role = self
                    .sensors
                    .get(sensor.0)
                    .and_then(|s| s.role)
                    .unwrap_or(self.context.placement);
                self.analyser.push(role, &sample, &mut self.events);
                self.take_events(false, out);
                self.apply_pending(out)?;
            }
            Input::Link { sensor, change } => {
                if let Some(s) = self.sensors.get_mut(sensor.0) {
                    s.link.apply(&change);
                    // With two sensors the other carries on at once: its
                    // reps are not held back waiting for the lost one.
                    let role = s.role.unwrap_or(self.context.placement);
                    match change {
                        LinkChange::Lost | LinkChange::GaveUp => {
                            self.analyser.link_lost(role, &mut self.events);
                            self.take_events(false, out);
                        }
                        LinkChange::Back { .. } => self.analyser.link_back(role),
                        _ => {}
                    }
                }
            }
            Input::Key(KeyCommand::Help) => {
                out.push(Output::Feedback(Feedback::Message(key::HELP.into())));
            }
            Input::Key(cmd) => {
                if !self.over {
                    self.pending.push((cmd, false));
                    self.apply_pending(out)?;
                }
            }
            Input::Context(context) => self.set_context(context)?,
            Input::Tick { now_s } => self.now_s = now_s,
            Input::Stop => {
                if !self.over {
                    out.push(Output::Feedback(Feedback::Stopped {
                        during_set: self.analyser.set_open(),
                    }));
                    self.finish(true, out);
                }
            }
            Input::Ended => {
                if !self.over {
                    self.finish(false, out);
                }
            }
        }
        Ok(())
    }

    /// The session now.
    pub fn snapshot(&self) -> Snapshot {
        let set_open = self.analyser.set_open();
        Snapshot {
            context: self.context.clone(),
            samples: self.samples,
            last_t: self.last_t,
            now_s: self.now_s,
            set_open,
            reps_in_set: if set_open { self.reps_in_set } else { 0 },
            set_in_progress: self.sets.len() + 1,
            shown: self.shown,
            last_rep_end: self.last_rep_end,
            rest_from: self.rest_from,
            so_far: self.so_far.clone(),
            pelvis: self.analyser.counts_pelvis(),
            connected: self.sensors.iter().all(|s| s.link.connected),
            battery: self.sensors.iter().find_map(|s| s.link.battery),
            samples_lost: self.sensors.iter().map(|s| s.link.samples_lost).sum(),
            links: self
                .sensors
                .iter()
                .map(|s| (s.role, s.link.clone()))
                .collect(),
        }
    }

    /// The sets done so far.
    pub fn sets(&self) -> &[Set] {
        &self.sets
    }

    /// Samples in so far.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Stopped or ended: further samples are ignored.
    pub fn is_over(&self) -> bool {
        self.over
    }

    /// A sensor's link as last reported.
    pub fn link(&self, sensor: SensorId) -> Option<&LinkState> {
        self.sensors.get(sensor.0).map(|s| &s.link)
    }

    fn finish(&mut self, interrupted: bool, out: &mut Vec<Output>) {
        self.over = true;
        self.analyser.finish(&mut self.events);
        self.take_events(interrupted, out);
    }

    /// Applies the commands typed, unless a set is in progress (then says
    /// once that they wait) or no sample is in yet.
    fn apply_pending(&mut self, out: &mut Vec<Output>) -> Result<(), ProfileError> {
        if self.pending.is_empty() || self.samples == 0 {
            return Ok(());
        }
        if self.analyser.set_open() {
            // Once for the commands typed together (before the next sample).
            if self.pending.iter().any(|(_, told)| !told) {
                if self.told_at != Some(self.samples) {
                    out.push(Output::Feedback(Feedback::AfterThisSet));
                    self.told_at = Some(self.samples);
                }
                self.pending.iter_mut().for_each(|(_, told)| *told = true);
            }
            return Ok(());
        }
        for (cmd, _) in std::mem::take(&mut self.pending) {
            self.apply(cmd, out)?;
        }
        Ok(())
    }

    fn apply(&mut self, cmd: KeyCommand, out: &mut Vec<Output>) -> Result<(), ProfileError> {
        let mut next = self.context.clone();
        let pair = self.analyser.is_fused();
        match cmd {
            // Two sensors: the ankle counts and the pelvis judges, whatever
            // the exercise; where a sensor sits does not change.
            KeyCommand::Exercise {
                placement: Some(_), ..
            }
            | KeyCommand::Placement(_)
                if pair =>
            {
                out.push(Output::Feedback(Feedback::Message(
                    "two sensors are worn: the ankle counts and the pelvis judges; give the exercise alone (`e side-lying-abduction`)".into(),
                )));
                return Ok(());
            }
            KeyCommand::Exercise {
                exercise,
                placement: None,
            } if pair => next.exercise = exercise,
            KeyCommand::Exercise {
                exercise,
                placement,
            } => {
                let placement = placement.unwrap_or(next.placement);
                if Profile::builtin(exercise, placement).is_err() {
                    let other = other_placement(placement);
                    let msg = if Profile::builtin(exercise, other).is_ok() {
                        format!(
                            "{exercise} is counted with the sensor on the {other}, not the {placement}: move the sensor, then type `e {exercise} {other}`"
                        )
                    } else {
                        format!(
                            "{exercise} is not counted by the sensor (log it with `medius log add`)"
                        )
                    };
                    out.push(Output::Feedback(Feedback::Message(msg)));
                    return Ok(());
                }
                next.exercise = exercise;
                next.placement = placement;
            }
            KeyCommand::Placement(p) => {
                if Profile::builtin(next.exercise, p).is_err() {
                    out.push(Output::Feedback(Feedback::Message(format!(
                        "{} is not counted with the sensor on the {p}: give the exercise too, e.g. `e hip-hitch {p}`",
                        next.exercise
                    ))));
                    return Ok(());
                }
                next.placement = p;
            }
            KeyCommand::Side(side) => next.side = side.unwrap_or(next.side.other()),
            KeyCommand::Load(load) => next.load = Some(load),
            KeyCommand::Quit => {
                out.push(Output::End);
                return Ok(());
            }
            KeyCommand::Help => {
                out.push(Output::Feedback(Feedback::Message(key::HELP.into())));
                return Ok(());
            }
        }
        // A context whose analyser cannot be built (an exercise two
        // sensors do not follow, a profile file gone bad) is refused with
        // its reason: the session goes on as it was.
        let fresh = if next.needs_new_analyser(&self.context) {
            match (self.build)(&next) {
                Ok(a) => Some(a),
                Err(e) => {
                    out.push(Output::Feedback(Feedback::Message(format!(
                        "{e}; the next sets stay {}",
                        self.context.exercise
                    ))));
                    return Ok(());
                }
            }
        } else {
            None
        };
        out.push(Output::Note {
            after_s: self.last_t.unwrap_or(0.0),
            context: next.clone(),
        });
        if let Some(fresh) = fresh {
            self.install(fresh);
        }
        self.context = next.clone();
        out.push(Output::Feedback(Feedback::ContextChanged(next)));
        Ok(())
    }

    /// Closes what the old analyser had open (between sets nothing is but
    /// a lone movement or two, which are not a set: left unsaid, as they
    /// always were) and starts the new one.
    fn install(&mut self, fresh: Analyser) {
        self.analyser.finish(&mut self.events);
        self.events.clear();
        self.analyser = fresh;
    }

    /// Takes a new context; a new exercise, placement or side closes what
    /// the old analyser had open and starts a new one.
    fn set_context(&mut self, next: Context) -> Result<(), ProfileError> {
        if next.needs_new_analyser(&self.context) {
            let fresh = (self.build)(&next)?;
            self.install(fresh);
        }
        self.context = next;
        Ok(())
    }

    fn withdraw(&mut self, out: &mut Vec<Output>) {
        if let Some((_, number)) = self.announced.take() {
            out.push(Output::Feedback(Feedback::RepWithdrawn { number }));
        }
    }

    /// Turns the analyser's events into feedback and sets to save.
    fn take_events(&mut self, interrupted: bool, out: &mut Vec<Output>) {
        let pelvis = self.analyser.counts_pelvis();
        let mut events = std::mem::take(&mut self.events);
        for e in events.drain(..) {
            match e {
                Event::RepReturned {
                    set_number,
                    number,
                    start_s,
                    end_s,
                    peak_deg,
                } => {
                    if self.announced == Some((set_number, number)) {
                        self.withdraw(out);
                    }
                    self.shown = self.shown.max(number);
                    self.last_rep_end = Some(end_s);
                    out.push(Output::Feedback(Feedback::RepReturned {
                        set: self.sets.len() + 1,
                        number,
                        start_s,
                        end_s,
                        peak_deg,
                        pelvis,
                    }));
                    self.announced = Some((set_number, number));
                }
                Event::Rep { set_number, rep } => {
                    self.reps_in_set += 1;
                    self.shown = self.shown.max(rep.number);
                    self.last_rep_end = Some(rep.end_s);
                    self.so_far.push(rep.clone());
                    let announced = self.announced == Some((set_number, rep.number));
                    if announced {
                        self.announced = None;
                    } else {
                        self.withdraw(out);
                    }
                    out.push(Output::Feedback(Feedback::Rep {
                        set: self.sets.len() + 1,
                        rep,
                        announced,
                        pelvis,
                    }));
                }
                Event::SetEnded(set) => {
                    self.reps_in_set = 0;
                    if self.announced.is_some_and(|(_, n)| n > set.rep_count()) {
                        self.withdraw(out);
                    }
                    self.announced = None;
                    let dropped = std::mem::take(&mut self.shown).saturating_sub(set.rep_count());
                    if dropped > 0 {
                        out.push(Output::Feedback(Feedback::Dropped { movements: dropped }));
                    }
                    self.sets.push(set.clone());
                    self.rest_from = Some(set.end_s);
                    self.last_rep_end = None;
                    self.so_far.clear();
                    out.push(Output::Feedback(Feedback::SetDone {
                        number: self.sets.len(),
                        set: set.clone(),
                        pelvis,
                    }));
                    out.push(Output::Save(SaveSet {
                        set,
                        context: self.context.clone(),
                        interrupted,
                        recordings: self
                            .sensors
                            .iter()
                            .filter_map(|s| {
                                s.recording
                                    .map(|r| (r, s.role.unwrap_or(self.context.placement)))
                            })
                            .collect(),
                    }));
                }
                Event::NotASet {
                    start_s,
                    end_s,
                    reps,
                } => {
                    self.reps_in_set = 0;
                    self.announced = None;
                    self.shown = 0;
                    self.rest_from = Some(end_s);
                    self.last_rep_end = None;
                    self.so_far.clear();
                    out.push(Output::Feedback(Feedback::NotASet {
                        start_s,
                        end_s,
                        reps,
                    }));
                }
            }
        }
        self.events = events;
    }
}

fn other_placement(p: Placement) -> Placement {
    match p {
        Placement::Ankle => Placement::Pelvis,
        Placement::Pelvis => Placement::Ankle,
    }
}

/// A recording analysed: each set with the context it was done in.
#[derive(Debug, Clone, Default)]
pub struct Analysed {
    /// The sets, in order, each with its context.
    pub sets: Vec<(Set, Context)>,
    /// Samples read.
    pub samples: u64,
    /// Samples read from each sensor, in [`SensorId`] order (one entry for
    /// one recording; the ankle's, then the pelvis', for a pair).
    pub per_sensor: Vec<u64>,
}

/// Runs a recording through a session as `run` did live: each noted
/// change (`changes`: after which sample time, the new context) applies
/// after its sample. The one "analyse, then write the sets" path of crash
/// recovery and `import`.
pub fn analyse(
    context: Context,
    changes: &[(f64, Context)],
    samples: impl IntoIterator<Item = Sample>,
    mut build: Build,
) -> Result<Analysed, ProfileError> {
    let first = build(&context)?;
    analyse_with(first, context, changes, samples, build)
}

/// [`analyse`] with the first analyser built already (`import --profile`).
pub fn analyse_with(
    first: Analyser,
    context: Context,
    changes: &[(f64, Context)],
    samples: impl IntoIterator<Item = Sample>,
    build: Build,
) -> Result<Analysed, ProfileError> {
    let session = Session::starting_with(context, vec![SensorSetup::default()], first, build);
    drive(
        session,
        changes,
        samples.into_iter().map(|s| (SensorId(0), s)),
    )
}

/// Two recordings of one session (the ankle's and the pelvis'), as `run`
/// with two sensors saw them: merged by time (the pelvis' times moved by
/// `offset_s` to decide the order, `ankle time = pelvis time + offset_s`)
/// into a session of two sensors, the ankle first. `first` is the fused
/// analyser (see [`Analyser::with_offset`]); `build` makes the next ones
/// when a noted change asks. The path of `import NAME.session.json` and of
/// the crash recovery of a two-sensor `run`.
pub fn analyse_pair(
    first: Analyser,
    context: Context,
    changes: &[(f64, Context)],
    ankle: impl IntoIterator<Item = Sample>,
    pelvis: impl IntoIterator<Item = Sample>,
    offset_s: f64,
    build: Build,
) -> Result<Analysed, ProfileError> {
    let sensors = [Placement::Ankle, Placement::Pelvis]
        .into_iter()
        .map(|role| SensorSetup {
            role: Some(role),
            ..SensorSetup::default()
        })
        .collect();
    let session = Session::starting_with(context, sensors, first, build);
    let merged =
        crate::motion::fuse::merge_by_time(ankle.into_iter(), pelvis.into_iter(), offset_s).map(
            |(role, s)| {
                let id = match role {
                    Placement::Ankle => SensorId(0),
                    Placement::Pelvis => SensorId(1),
                };
                (id, s)
            },
        );
    drive(session, changes, merged)
}

/// Feeds a session every sample, each noted change after its sample, then
/// the end; keeps the sets it saves.
fn drive(
    mut session: Session,
    changes: &[(f64, Context)],
    samples: impl Iterator<Item = (SensorId, Sample)>,
) -> Result<Analysed, ProfileError> {
    let mut out = Vec::new();
    let mut sets = Vec::new();
    let mut per_sensor = vec![0u64; session.sensors.len()];
    let mut next = 0;
    let mut keep = |out: &mut Vec<Output>| {
        for o in out.drain(..) {
            if let Output::Save(s) = o {
                sets.push((s.set, s.context));
            }
        }
    };
    for (sensor, sample) in samples {
        while next < changes.len() && sample.t > changes[next].0 {
            session.handle(Input::Context(changes[next].1.clone()), &mut out)?;
            next += 1;
        }
        if let Some(n) = per_sensor.get_mut(sensor.0) {
            *n += 1;
        }
        session.handle(Input::Sample { sensor, sample }, &mut out)?;
        keep(&mut out);
    }
    session.handle(Input::Ended, &mut out)?;
    keep(&mut out);
    Ok(Analysed {
        sets,
        samples: session.samples(),
        per_sensor,
    })
}

#[cfg(test)]
mod tests;
