//! Two sensors at once: the ankle counts, the pelvis checks form.
//!
//! A [`FusedPipeline`] runs the ankle's and the pelvis' own [`Pipeline`]s
//! side by side and puts the pelvis on the ankle's clock ([`align`]). Reps,
//! ranges and the ankle's flags (momentum, partial range, drift) come from
//! the ankle; hip hike, pelvic drop and trunk sway are judged from the
//! pelvis' obliquity over each ankle rep's own window, with the same rule a
//! pelvis rep is judged by ([`flags::pelvic_flags`]). The pelvis' own reps
//! check the ankle's count: a rep-like movement of the pelvis between the
//! ankle's reps makes the set less sure.
//!
//! It speaks the single pipeline's [`Event`]s, so every consumer keeps
//! working: [`Event::RepReturned`] as soon as the ankle is back at neutral,
//! [`Event::Rep`] with the pelvic flags once the pelvis has covered the
//! rep's window (a fraction of a second later), [`Event::SetEnded`] with
//! the whole set. Set and rep numbers are the fused session's own.
//!
//! If a sensor goes quiet (no samples for [`SILENT_S`] while the other
//! streams, or [`FusedPipeline::link_lost`]) the session goes on with the
//! other: without the pelvis, reps are counted and their pelvic flags are
//! not judged (a [`DoubtKind::PelvisNotJudged`] doubt names them); without
//! the ankle, the pelvis' own reps are counted (a [`DoubtKind::PelvisOnly`]
//! doubt, and the set is not called sure). A sensor that comes back is
//! taken up again: the pelvis at once, the ankle from its first rep after
//! its return.
//!
//! Pure like the rest of `motion/`: time comes with the samples.

pub mod align;

use super::certainty::{Doubt, DoubtKind};
use super::flags::{self, FlagKind};
use super::profile::{FlagsConfig, Profile, ProfileError};
use super::reps::TracePoint;
use super::{Event, Pipeline, Rep, Set, Stats};
use crate::{Exercise, Placement, Sample, Side};
pub use align::{Aligner, Alignment};
use std::collections::VecDeque;

/// A sensor that sent nothing for this long while the other did is out (s).
pub const SILENT_S: f64 = 0.75;
/// The pelvis is judged from this long before an ankle rep leaves neutral (s).
const PRE_S: f64 = 0.1;
/// ... to this long after it is back (s).
const POST_S: f64 = 0.2;
/// Pelvis obliquity kept (s).
const KEEP_S: f64 = 30.0;
/// The pelvis' own reps kept for the rhythm check (s).
const KEEP_REPS_S: f64 = 120.0;
/// Longest the flags of a rep wait for the offset to be matched on it
/// (s after its return); then the offset known so far is used.
const MAX_WAIT_S: f64 = 0.7;
/// Fewest obliquity steps in a window for its flags to be judged.
const MIN_POINTS: usize = 5;
/// Confidence left when part of a set was counted from the pelvis alone.
const PELVIS_ONLY_CAP: f64 = 0.6;
/// Confidence left when the pelvis moved like a rep where the ankle counted none.
const PELVIS_SAW_CAP: f64 = 0.5;
/// A pelvis rep must lie this far inside the set to say the ankle missed one (s).
const INSIDE_S: f64 = 0.5;

/// The kinds of flag judged from the pelvis.
const PELVIC: [FlagKind; 3] = [FlagKind::HipHike, FlagKind::PelvicDrop, FlagKind::TrunkSway];

/// What one link has done, on the common (ankle) clock.
#[derive(Debug, Clone, Copy, Default)]
struct Link {
    /// Its last sample.
    last: Option<f64>,
    /// Said lost by the caller, or gone quiet: since when.
    out_since: Option<f64>,
    /// Told lost by the caller (not only quiet).
    told_lost: bool,
}

/// What waits to be passed on, in the order it happened.
#[derive(Debug, Clone)]
enum Waiting {
    Returned {
        start_s: f64,
        end_s: f64,
        peak_deg: f64,
    },
    AnkleRep(Rep),
    PelvisRep(Rep),
    PelvisReturned {
        start_s: f64,
        end_s: f64,
        peak_deg: f64,
    },
    AnkleSet(Set),
    PelvisSet(Set),
    NotASet {
        start_s: f64,
        end_s: f64,
        reps: usize,
        pelvis: bool,
    },
}

/// A rep passed on in the open set.
#[derive(Debug, Clone)]
struct Passed {
    rep: Rep,
    pelvis_only: bool,
    judged: bool,
}

/// What the two pipelines saw, each on its own.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FusedStats {
    /// The ankle's pipeline.
    pub ankle: Stats,
    /// The pelvis' pipeline.
    pub pelvis: Stats,
    /// Reps whose pelvic flags were judged from the pelvis.
    pub reps_judged: u64,
    /// Reps counted at the ankle whose pelvic flags could not be judged.
    pub reps_not_judged: u64,
    /// Reps counted from the pelvis alone (the ankle was out).
    pub reps_pelvis_only: u64,
}

/// The ankle and the pelvis of one lifter, fused (see the module docs).
pub struct FusedPipeline {
    ankle: Pipeline,
    pelvis: Pipeline,
    pelvic: FlagsConfig,
    /// The ankle's share of the working range below which a rep is partial.
    partial_fraction: f64,
    align: Aligner,
    /// The pelvis' obliquity per step, on its own clock (t, °).
    obliquity: VecDeque<(f64, f64)>,
    waiting: VecDeque<Waiting>,
    ankle_link: Link,
    pelvis_link: Link,
    /// The first sample of either (common clock).
    began: Option<f64>,
    /// The latest sample of either (common clock).
    now: f64,
    /// When the ankle came back after being out, until its first rep.
    ankle_back: Option<f64>,
    /// Where the current ankle outage began (common clock), while it lasts.
    ankle_out_from: Option<f64>,
    open: Vec<Passed>,
    /// A set the ankle closed while it was out, that the pelvis carried on:
    /// joined to the ankle's next set if that comes within the set gap.
    held: Option<Set>,
    /// The ankle profile's longest gap within a set (s).
    set_gap_s: f64,
    sets_done: usize,
    pelvis_reps: VecDeque<Rep>,
    scratch: Vec<Event>,
    judged: u64,
    not_judged: u64,
    pelvis_only: u64,
}

impl FusedPipeline {
    /// Fuses an ankle profile and a pelvis profile of the same exercise.
    pub fn new(ankle: Profile, pelvis: Profile, side: Side) -> Result<Self, ProfileError> {
        if ankle.placement != Placement::Ankle
            || pelvis.placement != Placement::Pelvis
            || ankle.exercise != pelvis.exercise
        {
            return Err(ProfileError::Mismatch {
                path: "given for two sensors".into(),
                found: format!(
                    "{} at the {} and {} at the {}",
                    ankle.exercise, ankle.placement, pelvis.exercise, pelvis.placement
                ),
                wanted: "one exercise at the ankle and at the pelvis".into(),
            });
        }
        let pelvic = pelvis.flags.clone();
        let partial_fraction = ankle.flags.partial_range.fraction;
        let set_gap_s = ankle.sets.gap_s;
        let mut pelvis = Pipeline::new(pelvis, side);
        // The obliquity each step is read from the pelvis' probe.
        pelvis.probe();
        Ok(FusedPipeline {
            ankle: Pipeline::new(ankle, side),
            pelvis,
            pelvic,
            partial_fraction,
            align: Aligner::new(0.0),
            obliquity: VecDeque::new(),
            waiting: VecDeque::new(),
            ankle_link: Link::default(),
            pelvis_link: Link::default(),
            began: None,
            now: f64::NEG_INFINITY,
            ankle_back: None,
            ankle_out_from: None,
            open: Vec::new(),
            held: None,
            set_gap_s,
            sets_done: 0,
            pelvis_reps: VecDeque::new(),
            scratch: Vec::new(),
            judged: 0,
            not_judged: 0,
            pelvis_only: 0,
        })
    }

    /// The built-in profiles of `exercise` at the ankle and the pelvis.
    pub fn builtin(exercise: Exercise, side: Side) -> Result<Self, ProfileError> {
        FusedPipeline::new(
            Profile::builtin(exercise, Placement::Ankle)?,
            Profile::builtin(exercise, Placement::Pelvis)?,
            side,
        )
    }

    /// Starts from a known offset between the clocks (`ankle time = pelvis
    /// time + offset_s`: from the arrival times, or a session file), which
    /// the reps then refine.
    pub fn with_offset(mut self, offset_s: f64) -> Self {
        self.align = Aligner::new(offset_s);
        self
    }

    /// Where the offset between the clocks stands.
    pub fn alignment(&self) -> Alignment {
        self.align.alignment()
    }

    /// The offset to add to a pelvis time to put it on the session's
    /// (ankle's) clock, as known now.
    pub fn offset_s(&self) -> f64 {
        self.align.offset_s()
    }

    /// What each pipeline saw.
    pub fn stats(&self) -> FusedStats {
        FusedStats {
            ankle: self.ankle.stats().clone(),
            pelvis: self.pelvis.stats().clone(),
            reps_judged: self.judged,
            reps_not_judged: self.not_judged,
            reps_pelvis_only: self.pelvis_only,
        }
    }

    /// The latest sample time, on the session's clock.
    pub fn now(&self) -> f64 {
        self.now
    }

    /// True while a set is open.
    pub fn set_open(&self) -> bool {
        self.ankle.set_open() || !self.open.is_empty()
    }

    /// Feeds one sample from the sensor at `role` (its own clock); events go to `out`.
    pub fn push(&mut self, role: Placement, s: &Sample, out: &mut Vec<Event>) {
        let mut events = std::mem::take(&mut self.scratch);
        match role {
            Placement::Ankle => {
                self.align.push_ankle(s.t, &s.gyr);
                self.heard(Placement::Ankle, s.t);
                self.ankle.push(s, &mut events);
                for e in events.drain(..) {
                    self.heard_from_ankle(e);
                }
            }
            Placement::Pelvis => {
                self.align.push_pelvis(s.t, &s.gyr);
                let offset = self.align.offset_s();
                self.heard(Placement::Pelvis, s.t + offset);
                self.pelvis.push(s, &mut events);
                let p = self.pelvis.probe();
                if self.obliquity.back().is_none_or(|&(t, _)| p.t > t) && p.t > 0.0 {
                    self.obliquity.push_back((p.t, p.angle));
                    while self
                        .obliquity
                        .front()
                        .is_some_and(|&(t, _)| t < p.t - KEEP_S)
                    {
                        self.obliquity.pop_front();
                    }
                }
                for e in events.drain(..) {
                    self.heard_from_pelvis(e, offset);
                }
            }
        }
        self.scratch = events;
        self.watch_links();
        self.release(out, false);
    }

    /// The ankle's profile (the one that counts).
    pub fn ankle_profile(&self) -> &Profile {
        self.ankle.profile()
    }

    /// The caller knows a link is gone (the daemon sees a disconnect before
    /// samples stop): the other sensor carries on from now.
    pub fn link_lost(&mut self, role: Placement, out: &mut Vec<Event>) {
        let now = self.now;
        let link = self.link_mut(role);
        link.told_lost = true;
        link.out_since.get_or_insert(now);
        if role == Placement::Ankle {
            self.ankle_out_from.get_or_insert(now);
        } else {
            self.align.give_up();
        }
        self.release(out, false);
    }

    /// The link is back; its samples are taken up as they come.
    pub fn link_back(&mut self, role: Placement) {
        self.link_mut(role).told_lost = false;
    }

    /// Ends the session: closes what is open in both pipelines.
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        let mut events = std::mem::take(&mut self.scratch);
        self.ankle.finish(&mut events);
        for e in events.drain(..) {
            self.heard_from_ankle(e);
        }
        let offset = self.align.offset_s();
        self.pelvis.finish(&mut events);
        for e in events.drain(..) {
            self.heard_from_pelvis(e, offset);
        }
        self.scratch = events;
        self.release(out, true);
    }

    fn link_mut(&mut self, role: Placement) -> &mut Link {
        match role {
            Placement::Ankle => &mut self.ankle_link,
            Placement::Pelvis => &mut self.pelvis_link,
        }
    }

    /// A sample from `role` at common time `t`.
    fn heard(&mut self, role: Placement, t: f64) {
        self.began.get_or_insert(t);
        self.now = self.now.max(t);
        let link = self.link_mut(role);
        link.last = Some(t);
        if link.out_since.is_some() && !link.told_lost {
            link.out_since = None;
            if role == Placement::Ankle {
                self.ankle_back = Some(t);
            }
        }
    }

    /// Marks a link out once it has been quiet for [`SILENT_S`].
    fn watch_links(&mut self) {
        let (now, began) = (self.now, self.began.unwrap_or(self.now));
        for role in [Placement::Ankle, Placement::Pelvis] {
            let link = self.link_mut(role);
            let last = link.last.unwrap_or(began);
            if link.out_since.is_none() && now - last > SILENT_S {
                link.out_since = Some(last);
                if role == Placement::Ankle {
                    self.ankle_back = None;
                    self.ankle_out_from.get_or_insert(last);
                } else {
                    self.align.give_up();
                }
            }
        }
    }

    /// True while the ankle is out, or back but not yet counting again.
    fn ankle_missing(&self) -> bool {
        self.ankle_out_from.is_some()
    }

    fn heard_from_ankle(&mut self, e: Event) {
        match e {
            Event::RepReturned {
                start_s,
                end_s,
                peak_deg,
                ..
            } => {
                self.align.rep(start_s, end_s);
                self.waiting.push_back(Waiting::Returned {
                    start_s,
                    end_s,
                    peak_deg,
                });
            }
            Event::Rep { rep, .. } => {
                if !self.waiting.iter().any(
                    |w| matches!(w, Waiting::Returned { start_s, .. } if *start_s == rep.start_s),
                ) && !self.open.iter().any(|p| p.rep.start_s == rep.start_s)
                {
                    // The ankle closes a rep as it comes back (no settling):
                    // announce it now, its pelvic flags follow.
                    self.align.rep(rep.start_s, rep.end_s);
                    self.waiting.push_back(Waiting::Returned {
                        start_s: rep.start_s,
                        end_s: rep.end_s,
                        peak_deg: rep.peak_deg,
                    });
                }
                if self.ankle_out_from.is_some()
                    && self.ankle_link.out_since.is_none()
                    && self.ankle_back.is_some_and(|b| rep.start_s >= b)
                {
                    // Counting again: the outage ends where this rep begins.
                    self.ankle_out_from = None;
                    self.ankle_back = None;
                }
                self.waiting.push_back(Waiting::AnkleRep(rep));
            }
            Event::SetEnded(set) => self.waiting.push_back(Waiting::AnkleSet(set)),
            Event::NotASet {
                start_s,
                end_s,
                reps,
            } => self.waiting.push_back(Waiting::NotASet {
                start_s,
                end_s,
                reps,
                pelvis: false,
            }),
        }
    }

    fn heard_from_pelvis(&mut self, e: Event, offset: f64) {
        let missing = self.ankle_missing();
        match e {
            Event::Rep { mut rep, .. } => {
                rep.start_s += offset;
                rep.end_s += offset;
                self.pelvis_reps.push_back(rep.clone());
                while self
                    .pelvis_reps
                    .front()
                    .is_some_and(|r| r.end_s < rep.end_s - KEEP_REPS_S)
                {
                    self.pelvis_reps.pop_front();
                }
                let from = self.ankle_out_from.unwrap_or(f64::INFINITY);
                if missing && rep.end_s > from {
                    self.waiting.push_back(Waiting::PelvisRep(rep));
                }
            }
            Event::RepReturned {
                start_s,
                end_s,
                peak_deg,
                ..
            } => {
                let from = self.ankle_out_from.unwrap_or(f64::INFINITY);
                if missing && end_s + offset > from {
                    self.waiting.push_back(Waiting::PelvisReturned {
                        start_s: start_s + offset,
                        end_s: end_s + offset,
                        peak_deg,
                    });
                }
            }
            Event::SetEnded(mut set) => {
                let ankle_pending = self.ankle.set_open()
                    || self.waiting.iter().any(|w| {
                        matches!(
                            w,
                            Waiting::AnkleRep(_) | Waiting::AnkleSet(_) | Waiting::Returned { .. }
                        )
                    })
                    || self.open.iter().any(|p| !p.pelvis_only);
                let counted = self.open.iter().any(|p| p.pelvis_only)
                    || self
                        .waiting
                        .iter()
                        .any(|w| matches!(w, Waiting::PelvisRep(_)));
                if missing && !ankle_pending && counted {
                    set.start_s += offset;
                    set.end_s += offset;
                    for r in &mut set.reps {
                        r.start_s += offset;
                        r.end_s += offset;
                    }
                    for d in &mut set.doubts {
                        d.from_s += offset;
                        d.to_s += offset;
                    }
                    self.waiting.push_back(Waiting::PelvisSet(set));
                }
            }
            Event::NotASet {
                start_s,
                end_s,
                reps,
            } => {
                if missing {
                    self.waiting.push_back(Waiting::NotASet {
                        start_s: start_s + offset,
                        end_s: end_s + offset,
                        reps,
                        pelvis: true,
                    });
                }
            }
        }
    }

    /// The pelvis' last sample on the common clock, and whether it is out.
    fn pelvis_state(&self) -> (f64, bool) {
        let covered = self.pelvis_link.last.unwrap_or(f64::NEG_INFINITY);
        (covered, self.pelvis_link.out_since.is_some())
    }

    /// Passes on, in order, everything whose turn has come.
    fn release(&mut self, out: &mut Vec<Event>, finishing: bool) {
        self.release_waiting(out, finishing);
        if let Some(held) = &self.held {
            let last = self
                .open
                .iter()
                .map(|p| p.rep.end_s)
                .fold(held.end_s, f64::max);
            if finishing || (self.now > last + self.set_gap_s && !self.ankle.set_open()) {
                let set = self.held.take().expect("held");
                self.sets_done += 1;
                self.open.clear();
                out.push(Event::SetEnded(set));
            }
        }
    }

    fn release_waiting(&mut self, out: &mut Vec<Event>, finishing: bool) {
        while let Some(front) = self.waiting.front() {
            match front {
                Waiting::AnkleRep(rep) => {
                    let (covered, pelvis_out) = self.pelvis_state();
                    let need = rep.end_s + POST_S;
                    let aligned = self.align.settled_until(rep.end_s);
                    let judge = covered >= need
                        && (aligned
                            || pelvis_out
                            || finishing
                            || covered >= rep.end_s + MAX_WAIT_S);
                    if !(judge || pelvis_out || finishing) {
                        return;
                    }
                    let Some(Waiting::AnkleRep(mut rep)) = self.waiting.pop_front() else {
                        unreachable!("front was an ankle rep")
                    };
                    let judged = self.judge_pelvis(&mut rep);
                    if judged {
                        self.judged += 1;
                    } else {
                        self.not_judged += 1;
                    }
                    self.pass(rep, false, judged, out);
                }
                _ => {
                    let w = self.waiting.pop_front().expect("there was a front");
                    self.release_one(w, out);
                }
            }
        }
    }

    fn release_one(&mut self, w: Waiting, out: &mut Vec<Event>) {
        match w {
            Waiting::AnkleRep(_) => unreachable!("handled by release"),
            Waiting::Returned {
                start_s,
                end_s,
                peak_deg,
            }
            | Waiting::PelvisReturned {
                start_s,
                end_s,
                peak_deg,
            } => out.push(Event::RepReturned {
                set_number: self.sets_done + 1,
                number: self.open.len() + 1,
                start_s,
                end_s,
                peak_deg,
            }),
            Waiting::PelvisRep(rep) => {
                self.pelvis_only += 1;
                self.pass(rep, true, true, out);
            }
            Waiting::AnkleSet(set) => {
                let end = set.end_s;
                let mut set = self.fuse_set(set);
                if let Some(held) = self.held.take() {
                    set = join(held, set);
                }
                let carried_on = self.ankle_missing()
                    && self
                        .open
                        .iter()
                        .any(|p| p.pelvis_only && p.rep.start_s > end);
                if carried_on {
                    // The ankle closed its set while out, but the pelvis
                    // counted on: the set goes on.
                    self.held = Some(set);
                    return;
                }
                self.sets_done += 1;
                self.open.clear();
                out.push(Event::SetEnded(set));
            }
            Waiting::PelvisSet(mut set) => {
                let mine: Vec<Rep> = self
                    .open
                    .iter()
                    .filter(|p| p.pelvis_only)
                    .map(|p| p.rep.clone())
                    .collect();
                if !mine.is_empty() {
                    set.reps = mine;
                }
                for (i, r) in set.reps.iter_mut().enumerate() {
                    r.number = i + 1;
                }
                set.start_s = set.reps[0].start_s;
                set.end_s = set.reps[set.reps.len() - 1].end_s;
                let n = set.reps.len();
                set.doubts.push(pelvis_only_doubt(&set.reps, 1, n));
                set.confidence = set.confidence.min(PELVIS_ONLY_CAP);
                self.sets_done += 1;
                self.open.clear();
                out.push(Event::SetEnded(set));
            }
            Waiting::NotASet {
                start_s,
                end_s,
                reps,
                pelvis,
            } => {
                self.open
                    .retain(|p| p.pelvis_only != pelvis || p.rep.end_s < start_s - 1e-9);
                out.push(Event::NotASet {
                    start_s,
                    end_s,
                    reps,
                });
            }
        }
    }

    fn pass(&mut self, mut rep: Rep, pelvis_only: bool, judged: bool, out: &mut Vec<Event>) {
        rep.number = self.open.len() + 1;
        self.open.push(Passed {
            rep: rep.clone(),
            pelvis_only,
            judged,
        });
        out.push(Event::Rep {
            set_number: self.sets_done + 1,
            rep,
        });
    }

    /// Judges hike, drop and sway from the pelvis over the rep's window;
    /// false when the pelvis did not cover it.
    fn judge_pelvis(&self, rep: &mut Rep) -> bool {
        let offset = self.align.offset_s();
        let (from, to) = (rep.start_s - PRE_S - offset, rep.end_s + POST_S - offset);
        let trace: Vec<TracePoint> = self
            .obliquity
            .iter()
            .filter(|&&(t, _)| t >= from && t <= to)
            .map(|&(t, angle)| {
                let mut p = TracePoint::at(t);
                p.angle = angle;
                p
            })
            .collect();
        let span = trace.last().map_or(0.0, |p| p.t) - trace.first().map_or(0.0, |p| p.t);
        if trace.len() < MIN_POINTS || span < 0.8 * (to - from) {
            return false;
        }
        rep.flags.retain(|f| !PELVIC.contains(&f.kind));
        flags::pelvic_flags(&self.pelvic, &trace, &mut rep.flags);
        // A pelvis that drops takes the leg down with it: the ankle sees a
        // rep short by the drop even when the hip moved its full range.
        // Such a rep is a drop, not a partial one, unless the hip's own
        // range (the ankle's plus the drop) still falls short.
        let drop = rep
            .flags
            .iter()
            .find(|f| f.kind == FlagKind::PelvicDrop)
            .map(|f| f.value_deg);
        if let Some(drop) = drop {
            let peak = rep.peak_deg;
            let fraction = self.partial_fraction;
            rep.flags.retain(|f| {
                f.kind != FlagKind::PartialRange || peak + drop < fraction * (peak + f.value_deg)
            });
        }
        true
    }

    /// The ankle's set with the reps as passed on (pelvic flags, reps
    /// counted from the pelvis while the ankle was out) and the pelvis'
    /// word on the count.
    fn fuse_set(&self, mut set: Set) -> Set {
        let ankle_reps = std::mem::take(&mut set.reps);
        let mut reps: Vec<(Rep, bool, bool)> = ankle_reps
            .into_iter()
            .map(|r| {
                match self
                    .open
                    .iter()
                    .find(|p| !p.pelvis_only && p.rep.start_s == r.start_s)
                {
                    Some(p) => (p.rep.clone(), false, p.judged),
                    None => (r, false, false),
                }
            })
            .collect();
        for p in self.open.iter().filter(|p| p.pelvis_only) {
            let overlaps = reps
                .iter()
                .any(|(r, _, _)| r.start_s < p.rep.end_s && p.rep.start_s < r.end_s);
            if !overlaps {
                reps.push((p.rep.clone(), true, true));
            }
        }
        reps.sort_by(|a, b| a.0.start_s.total_cmp(&b.0.start_s));
        for (i, (r, _, _)) in reps.iter_mut().enumerate() {
            r.number = i + 1;
        }
        let pelvis_counted: Vec<usize> = reps
            .iter()
            .filter(|(_, p, _)| *p)
            .map(|(r, _, _)| r.number)
            .collect();
        let not_judged: Vec<usize> = reps
            .iter()
            .filter(|(_, p, j)| !*p && !*j)
            .map(|(r, _, _)| r.number)
            .collect();
        set.reps = reps.into_iter().map(|(r, _, _)| r).collect();
        set.start_s = set.reps[0].start_s;
        set.end_s = set.reps[set.reps.len() - 1].end_s;
        if !pelvis_counted.is_empty() {
            // The pelvis' reps fill the rhythm gap the outage left.
            let filled = |d: &Doubt| {
                d.kind == DoubtKind::RhythmGap
                    && set
                        .reps
                        .iter()
                        .filter(|r| pelvis_counted.contains(&r.number))
                        .any(|r| r.start_s >= d.from_s - 1e-9 && r.end_s <= d.to_s + 1e-9)
            };
            let before = set.doubts.len();
            set.doubts.retain(|d| !filled(d));
            if set.doubts.len() < before && set.doubts.is_empty() {
                set.confidence = PELVIS_ONLY_CAP;
            } else {
                set.confidence = set.confidence.min(PELVIS_ONLY_CAP);
            }
            let (a, b) = (pelvis_counted[0], pelvis_counted[pelvis_counted.len() - 1]);
            set.doubts.push(pelvis_only_doubt(&set.reps, a, b));
        }
        if !not_judged.is_empty() {
            let r0 = &set.reps[not_judged[0] - 1];
            let r1 = &set.reps[not_judged[not_judged.len() - 1] - 1];
            set.doubts.push(Doubt {
                kind: DoubtKind::PelvisNotJudged,
                from_s: r0.start_s,
                to_s: r1.end_s,
                reps: 0,
                message: format!(
                    "hip hike, pelvic drop and trunk sway were not judged on {}: the pelvis \
                     sensor was out",
                    rep_list(&not_judged)
                ),
            });
        }
        // The pelvis' own rhythm: a rep-like movement of the pelvis well
        // inside the set where the ankle counted nothing.
        let (first, last) = (set.start_s, set.end_s);
        for p in &self.pelvis_reps {
            let inside = p.start_s > first + INSIDE_S && p.end_s < last - INSIDE_S;
            let alone = !set
                .reps
                .iter()
                .any(|r| r.start_s < p.end_s && p.start_s < r.end_s);
            if inside && alone {
                set.doubts.push(Doubt {
                    kind: DoubtKind::PelvisSawMore,
                    from_s: p.start_s,
                    to_s: p.end_s,
                    reps: 1,
                    message: format!(
                        "the pelvis moved like a rep at {:.1}-{:.1} s where the ankle counted \
                         none: the count may be one short",
                        p.start_s, p.end_s
                    ),
                });
                set.confidence = set.confidence.min(PELVIS_SAW_CAP);
            }
        }
        set
    }
}

/// One set from two the ankle split while it was out.
fn join(first: Set, second: Set) -> Set {
    let mut reps = first.reps;
    for r in second.reps {
        if !reps.iter().any(|q| q.start_s == r.start_s) {
            reps.push(r);
        }
    }
    reps.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
    for (i, r) in reps.iter_mut().enumerate() {
        r.number = i + 1;
    }
    let mut doubts = first.doubts;
    for d in second.doubts {
        if !doubts
            .iter()
            .any(|e| e.kind == d.kind && e.from_s == d.from_s)
        {
            doubts.push(d);
        }
    }
    // Too few reps in either half to judge the rhythm says nothing of the whole.
    if reps.len() >= super::certainty::MIN_REPS_FOR_NORM {
        doubts.retain(|d| d.kind != DoubtKind::ShortSet);
    }
    Set {
        start_s: reps[0].start_s,
        end_s: reps[reps.len() - 1].end_s,
        reps,
        confidence: first.confidence.min(second.confidence).min(PELVIS_ONLY_CAP),
        doubts,
    }
}

fn pelvis_only_doubt(reps: &[Rep], a: usize, b: usize) -> Doubt {
    let which = if a == 1 && b == reps.len() {
        "the set was".to_string()
    } else {
        format!("{} {}", rep_list(&(a..=b).collect::<Vec<_>>()), "were")
    };
    Doubt {
        kind: DoubtKind::PelvisOnly,
        from_s: reps[a - 1].start_s,
        to_s: reps[b - 1].end_s,
        reps: 0,
        message: format!(
            "{which} counted from the pelvis alone (the ankle sensor was out): clean reps \
             may move it too little to be seen, so the count may be short"
        ),
    }
}

/// "rep 4", "reps 4-6", "reps 2, 5-6".
fn rep_list(numbers: &[usize]) -> String {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for &n in numbers {
        match runs.last_mut() {
            Some((_, b)) if *b + 1 == n => *b = n,
            _ => runs.push((n, n)),
        }
    }
    let parts: Vec<String> = runs
        .iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect();
    format!(
        "{} {}",
        if numbers.len() == 1 { "rep" } else { "reps" },
        parts.join(", ")
    )
}

/// The two streams in the order their samples happened: the pelvis' times
/// moved by `offset_s` (`ankle time = pelvis time + offset_s`) to decide
/// the order, each sample handed on with its own time.
pub fn merge_by_time<A, P>(ankle: A, pelvis: P, offset_s: f64) -> MergeByTime<A, P>
where
    A: Iterator<Item = Sample>,
    P: Iterator<Item = Sample>,
{
    MergeByTime {
        ankle: ankle.peekable(),
        pelvis: pelvis.peekable(),
        offset_s,
    }
}

/// See [`merge_by_time`].
pub struct MergeByTime<A: Iterator<Item = Sample>, P: Iterator<Item = Sample>> {
    ankle: std::iter::Peekable<A>,
    pelvis: std::iter::Peekable<P>,
    offset_s: f64,
}

impl<A: Iterator<Item = Sample>, P: Iterator<Item = Sample>> Iterator for MergeByTime<A, P> {
    type Item = (Placement, Sample);

    fn next(&mut self) -> Option<(Placement, Sample)> {
        let take_ankle = match (self.ankle.peek(), self.pelvis.peek()) {
            (Some(a), Some(p)) => a.t <= p.t + self.offset_s,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return None,
        };
        if take_ankle {
            self.ankle.next().map(|s| (Placement::Ankle, s))
        } else {
            self.pelvis.next().map(|s| (Placement::Pelvis, s))
        }
    }
}

/// Runs two whole streams through a fused pipeline (for files and tests):
/// the sets, on the ankle's clock.
pub fn analyze_pair<A, P>(
    mut fused: FusedPipeline,
    ankle: A,
    pelvis: P,
) -> (Vec<Set>, FusedPipeline)
where
    A: IntoIterator<Item = Sample>,
    P: IntoIterator<Item = Sample>,
{
    let offset = fused.offset_s();
    let mut events = Vec::new();
    let mut sets = Vec::new();
    for (role, s) in merge_by_time(ankle.into_iter(), pelvis.into_iter(), offset) {
        fused.push(role, &s, &mut events);
        for e in events.drain(..) {
            if let Event::SetEnded(set) = e {
                sets.push(set);
            }
        }
    }
    fused.finish(&mut events);
    for e in events.drain(..) {
        if let Event::SetEnded(set) = e {
            sets.push(set);
        }
    }
    (sets, fused)
}

#[cfg(test)]
mod tests;
