//! What turns a session's samples into reps and sets: one [`Pipeline`] fed
//! by one sensor, or a [`FusedPipeline`] fed by two (the ankle counts, the
//! pelvis judges hike, drop and sway over each ankle rep). Both take
//! `push(role, sample)` / `finish` and give the same [`Event`]s, so the
//! session around them does not change.

use crate::motion::fuse::FusedPipeline;
use crate::motion::profile::RepSignal;
use crate::motion::{Event, Pipeline, Profile};
use crate::{Placement, Sample};

/// The session's analysis.
pub enum Analyser {
    /// One sensor, one pipeline: every sample goes in, whatever its role.
    One(Box<Pipeline>),
    /// Two sensors: each sample goes to its role's pipeline.
    Fused(Box<FusedPipeline>),
}

impl Analyser {
    /// One sensor's pipeline.
    pub fn one(pipeline: Pipeline) -> Self {
        Analyser::One(Box::new(pipeline))
    }

    /// Two sensors' pipeline.
    pub fn fused(pipeline: FusedPipeline) -> Self {
        Analyser::Fused(Box::new(pipeline))
    }

    /// Two sensors: starts from a known offset between the clocks (`ankle
    /// time = pelvis time + offset_s`, a session file's), which the reps
    /// then refine. One sensor: unchanged.
    pub fn with_offset(self, offset_s: f64) -> Self {
        match self {
            Analyser::Fused(p) => Analyser::fused((*p).with_offset(offset_s)),
            one => one,
        }
    }

    /// Takes one sample from the sensor worn at `role`.
    pub fn push(&mut self, role: Placement, s: &Sample, out: &mut Vec<Event>) {
        match self {
            Analyser::One(p) => p.push(s, out),
            Analyser::Fused(p) => p.push(role, s, out),
        }
    }

    /// The link of the sensor at `role` is down: with two sensors the other
    /// carries on at once rather than waiting for its samples.
    pub fn link_lost(&mut self, role: Placement, out: &mut Vec<Event>) {
        if let Analyser::Fused(p) = self {
            p.link_lost(role, out);
        }
    }

    /// The link of the sensor at `role` is back.
    pub fn link_back(&mut self, role: Placement) {
        if let Analyser::Fused(p) = self {
            p.link_back(role);
        }
    }

    /// Ends what is open (the session stops, or the context changes).
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        match self {
            Analyser::One(p) => p.finish(out),
            Analyser::Fused(p) => p.finish(out),
        }
    }

    /// A set is in progress.
    pub fn set_open(&self) -> bool {
        match self {
            Analyser::One(p) => p.set_open(),
            Analyser::Fused(p) => p.set_open(),
        }
    }

    /// The profile that counts.
    pub fn profile(&self) -> &Profile {
        match self {
            Analyser::One(p) => p.profile(),
            Analyser::Fused(p) => p.ankle_profile(),
        }
    }

    /// Counting from the pelvis (the summary says how far it moved, not a
    /// range).
    pub fn counts_pelvis(&self) -> bool {
        self.profile().reps.signal == RepSignal::Obliquity
    }

    /// Two sensors.
    pub fn is_fused(&self) -> bool {
        matches!(self, Analyser::Fused(_))
    }
}
