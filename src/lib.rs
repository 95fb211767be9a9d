//! medius: counts gluteus medius reps and flags compensation from one motion
//! sensor strapped to the ankle or clipped over the sacrum.
//!
//! The library is the product; `main.rs` only wires the command line to it.
//! Data flows `source` → [`motion::Pipeline`] → events (reps, sets) → sinks
//! (terminal, JSON, the logbook once it exists). The same pipeline serves a
//! replayed CSV, the simulator and, later, a live BLE sensor, so what the
//! lifter sees live and what `analyze` prints for the same samples agree.
#![warn(missing_docs)]

pub mod accuracy;
pub mod cli;
pub mod daemon;
pub mod exercise;
pub mod logbook;
pub mod motion;
pub mod paths;
pub mod report;
pub mod sample;
pub mod session;
pub mod source;
pub mod terminal;

pub use exercise::{Exercise, Placement, Side};
pub use sample::Sample;
