//! What turns a session's samples into reps and sets. Today one
//! [`Pipeline`] fed by one sensor; a fused two-sensor pipeline (the ankle
//! counts, the pelvis judges) goes in as another variant with the same
//! `push(role, sample)` / `finish` shape and the same [`Event`]s, and the
//! session around it does not change.

use crate::motion::profile::RepSignal;
use crate::motion::{Event, Pipeline, Profile};
use crate::{Placement, Sample};

/// The session's analysis.
pub enum Analyser {
    /// One sensor, one pipeline: every sample goes in, whatever its role.
    One(Pipeline),
}

impl Analyser {
    /// One sensor's pipeline.
    pub fn one(pipeline: Pipeline) -> Self {
        Analyser::One(pipeline)
    }

    /// Takes one sample from the sensor worn at `role`.
    pub fn push(&mut self, role: Placement, s: &Sample, out: &mut Vec<Event>) {
        let _ = role;
        match self {
            Analyser::One(p) => p.push(s, out),
        }
    }

    /// Ends what is open (the session stops, or the context changes).
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        match self {
            Analyser::One(p) => p.finish(out),
        }
    }

    /// A set is in progress.
    pub fn set_open(&self) -> bool {
        match self {
            Analyser::One(p) => p.set_open(),
        }
    }

    /// The profile that counts.
    pub fn profile(&self) -> &Profile {
        match self {
            Analyser::One(p) => p.profile(),
        }
    }

    /// Counting from the pelvis (the summary says how far it moved, not a
    /// range).
    pub fn counts_pelvis(&self) -> bool {
        self.profile().reps.signal == RepSignal::Obliquity
    }
}
