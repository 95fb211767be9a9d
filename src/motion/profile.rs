//! Threshold profiles: every detector parameter, one profile per exercise ×
//! placement. The defaults live in `calibration/*.toml` and are embedded in the
//! binary; `--profile FILE` replaces one. `calibration/CALIBRATION.md` says
//! what each number means and where it comes from.

use crate::{Exercise, Placement};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// What went wrong loading a profile.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The file could not be read.
    #[error("cannot read profile {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML did not parse or had unknown keys.
    #[error("profile {path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What the TOML parser said (names the key and line).
        message: String,
    },
    /// A value is out of its range.
    #[error("profile {path}: {key} = {value} is out of range ({expected})")]
    Invalid {
        /// The file.
        path: String,
        /// The dotted key.
        key: &'static str,
        /// The value found.
        value: f64,
        /// What is allowed.
        expected: &'static str,
    },
    /// No counting profile exists for this pair.
    #[error("{exercise} is not counted from the {placement} (counted: {supported}); pass --profile FILE to supply one")]
    Unsupported {
        /// The exercise.
        exercise: Exercise,
        /// The placement.
        placement: Placement,
        /// The pairs that are supported.
        supported: String,
    },
    /// The profile file is for another exercise or placement.
    #[error("profile {path} is for {found}, not {wanted}")]
    Mismatch {
        /// The file.
        path: String,
        /// What it says it is for.
        found: String,
        /// What was asked for.
        wanted: String,
    },
}

/// Which signal a rep is counted from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RepSignal {
    /// Total rotation of the sensor from its neutral orientation (ankle).
    Rotation,
    /// Pelvic obliquity from neutral, free side up positive (pelvis).
    Obliquity,
}

/// Which way the counted signal moves in a rep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RepDirection {
    /// The signal rises (rotation, free side up).
    Up,
    /// The signal falls (hip hitch: free side drops).
    Down,
    /// Either way; the sign is fixed by the first excursion of each rep.
    Either,
}

/// Stillness detection: what "not moving" means for this placement.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StillConfig {
    /// Largest bias-corrected angular rate (°/s) that still counts as still.
    pub gyro_abs_dps: f64,
    /// Largest deviation of |acc| from gravity, and of acc from its recent mean (m/s²), that still counts as still.
    pub acc_dev_mps2: f64,
    /// How long the sensor must be still before it is called still (s).
    pub min_s: f64,
    /// Once the gyro bias has been learned from `BIAS_SETTLED_S` of rest, the
    /// largest bias-corrected rate that still counts as still (°/s; 0: keep
    /// `gyro_abs_dps`). Lets a pelvis sensor tell a slow 3 °/s rep from rest,
    /// and a seated ankle a slow 7 °/s turn about the vertical, without
    /// refusing to rest before it knows a 2 °/s bias.
    #[serde(default)]
    pub gyro_settled_dps: f64,
    /// Integral gain (1/s²) with which gravity corrects the gyro bias about
    /// the horizontal axes while moving (0: off, the bias is learned at rest
    /// only). Lets a pelvis sensor that starts a set without a long rest stop
    /// drifting within ~10 s.
    #[serde(default)]
    pub bias_ki: f64,
    /// Until a rest has taught the gyro bias, how fast (1/s) gravity pulls
    /// the tilt estimate back while the sensor moves slowly with |acc| near
    /// g (0: 0.3 throughout). A pelvis tilts slowly and hardly accelerates:
    /// before the bias is known the accelerometer is the better judge of
    /// its tilt, and a recording that starts mid-set does not drift its
    /// obliquity 20° on an unlearned bias. Once the bias is learned the
    /// gyro is trusted again (a fidget's sway would read as tilt).
    #[serde(default)]
    pub tilt_gain: f64,
    /// Once 1.5 s of unbroken rest have taught the gyro bias, each later
    /// rest moves it as a running mean that starts with the old bias worth
    /// this many seconds of rest (0: 0.5 s). A lifter standing on one leg
    /// sways at 2-6 °/s between reps; a short rest then teaches sway, not
    /// bias. Profiles with `gyro_settled_dps` learn their own way.
    #[serde(default)]
    pub bias_memory_s: f64,
    /// With no neutral to measure from for this long (s), a rest may be
    /// judged on the 0.1 s averaged reading even once the bias is settled,
    /// against the whole still rate rather than half of it (0: never). A
    /// leg that never quite stops after a walk (soft tissue wobbling at the
    /// strap, a foot that wanders a few °/s) would otherwise find no neutral
    /// and every rep until it did would be lost.
    #[serde(default)]
    pub lenient_after_s: f64,
}

/// The rep detector: a Schmitt trigger on the counted signal plus shape checks.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepConfig {
    /// The counted signal.
    pub signal: RepSignal,
    /// Which way it moves.
    pub direction: RepDirection,
    /// A rep starts when the signal rises this far above its resting level (°).
    pub enter_deg: f64,
    /// A rep returns when the signal falls below this (°) ...
    pub exit_deg: f64,
    /// ... or below this fraction of the rep's peak, whichever is higher.
    pub return_fraction: f64,
    /// Smallest peak that is a rep (°).
    pub min_peak_deg: f64,
    /// With `direction = "either"`: smallest peak of a rep that goes down (°).
    /// Abduction counted from the pelvis rises a little in a clean rep; a rep
    /// that goes down is a pelvic drop, which is large, while postural sway
    /// below neutral is small.
    pub down_min_peak_deg: f64,
    /// Largest peak that is a rep; beyond it is turning round or re-strapping (°).
    pub max_peak_deg: f64,
    /// Shortest rep (s): fidgets are quicker.
    pub min_duration_s: f64,
    /// Longest rep, hold at the top included (s).
    pub max_duration_s: f64,
    /// After the return, how long the signal must stay within `settle_deg` before
    /// the rep is closed (s). 0 closes it at once. Lets the pelvis flags see a
    /// sway that swings past neutral to the other side.
    pub settle_s: f64,
    /// Band around the resting level that counts as settled (°).
    pub settle_deg: f64,
    /// |acc| jumping this many g above its recent mean is a foot strike: walking, not a rep.
    pub impact_g: f64,
    /// Time constant of the resting-level tracker (s); 0 = measure from neutral only.
    pub baseline_tau_s: f64,
    /// The same when the level moves the way reps go (0: `baseline_tau_s`):
    /// slower, so a slow rep is not taken for a new resting level.
    #[serde(default)]
    pub baseline_rep_tau_s: f64,
    /// A rep that falls by this fraction of its rise and then rises again by
    /// `enter_deg` has ended at the valley, even short of the return level
    /// (pelvis: the resting level drifts by a few tenths of a degree during a
    /// rep of one degree). 0: off.
    #[serde(default)]
    pub valley_fraction: f64,
    /// Once a set has 3 reps, `min_peak_deg` (and `enter_deg`, `exit_deg`
    /// with it) drop to this fraction of the set's median rep size, down to
    /// half their value (0: fixed). A lifter whose pelvis moves 1° a rep gets
    /// thresholds that fit.
    #[serde(default)]
    pub adaptive_fraction: f64,
    /// Once a set has 3 reps, a movement at least this fraction of their
    /// median peak is a rep even if quicker than `min_duration_s`, down to
    /// [`crate::motion::reps::QUICK_REP_LENGTH`] of it: a quick rep among
    /// slow ones (0: off).
    #[serde(default)]
    pub quick_size_fraction: f64,
    /// A movement whose sensor rests below this fraction of its peak (above
    /// where it rose from) is back down: its rep has returned.
    #[serde(default = "default_rest_fraction")]
    pub rest_fraction: f64,
    /// After a rep came to rest short of its start, a movement that begins
    /// within this long is measured from where that rep began (s): a lifter
    /// who lowers only half-way between two slow reps still did two reps.
    #[serde(default = "default_floor_hold_s")]
    pub floor_hold_s: f64,
    /// A movement that runs past `max_duration_s` without coming back is
    /// two reps, not none, if the leg rested part-way down after falling
    /// this share of its rise (and `exit_deg`): it is split there (0: off,
    /// the movement is thrown out).
    #[serde(default = "default_split_fraction")]
    pub split_fraction: f64,
    /// Ankle: above this angular rate (°/s) a jump in |acc| is the swing
    /// itself, not a foot strike (a 50° rep in 0.25 s loads the ankle with
    /// ~5 g).
    #[serde(default = "default_impact_max_rate_dps")]
    pub impact_max_rate_dps: f64,
    /// A jolt during a rep throws it out only while the signal is below
    /// this share of the rep's size so far (1: always): in practice on the
    /// way back down, near the bottom. Lying or seated the foot is off the
    /// ground: a jolt while the leg rises (a hard start) or at the top (a
    /// hard stop) is the leg's own acceleration.
    #[serde(default = "default_impact_top_fraction")]
    pub impact_top_fraction: f64,
    /// Pelvis: after a foot strike no rep starts for this long (s); steps
    /// come every 0.5-0.7 s while walking.
    #[serde(default = "default_impact_holdoff_s")]
    pub impact_holdoff_s: f64,
    /// Pelvis: turning faster than this (°/s) is being handled (re-strapped,
    /// bumped) or turning round; no rep moves the pelvis half as fast.
    #[serde(default = "default_handling_dps")]
    pub handling_dps: f64,
    /// Ankle: a movement with less than this share of its rotation along the
    /// set's axis (more than ~60° off it at 0.5) is not a rep of the set.
    #[serde(default = "default_off_axis_fraction")]
    pub off_axis_fraction: f64,
    /// Ankle, an exercise whose reps turn the shank about the vertical (the
    /// seated machine: the knees pushed apart): a movement with less than
    /// this share of its rotation about the vertical (its axis more than
    /// ~66° from it at 0.4; feet on a fixed footrest tilt the shank out as
    /// the knee goes out, so a rep leans up to ~65°) is not a rep, from the
    /// first rep of a set on (a step of a walk, standing up, swinging the
    /// lower leg). 0: off.
    #[serde(default)]
    pub vertical_axis_min: f64,
    /// Ankle: a movement that comes to rest farther than this from the
    /// neutral (°) has not reached the top of a rep but a new posture
    /// (lying down on the mat, getting up): it is not a rep, and the rest
    /// there is the new neutral. 0: off.
    #[serde(default)]
    pub rest_max_deg: f64,
    /// Ankle, an exercise done standing whose reps turn the shank about a
    /// level axis: a movement begun with no set open that comes to rest
    /// turned about the vertical is the lifter turning in place (to face
    /// the stack), and the rest there the new neutral. Off where the rep
    /// itself turns about the vertical (the seated machine) and lying down
    /// (side-lying, where a turn about the vertical is the leg swung
    /// forward, and a rep held there).
    #[serde(default)]
    pub level_axis: bool,
    /// Pelvis: a movement resting this long without coming back is a new
    /// stance, not a rep (s).
    #[serde(default = "default_stale_rest_s")]
    pub stale_rest_s: f64,
    /// Pelvis: a resting level within this many `enter_deg` of the signal
    /// follows it; farther, it waits.
    #[serde(default = "default_level_gate")]
    pub level_gate: f64,
    /// Pelvis: resting this long away from the resting level re-takes the
    /// level (s).
    #[serde(default = "default_off_level_s")]
    pub off_level_s: f64,
    /// Ankle: once a set has 2 reps, a movement that starts within
    /// `rebound_s` of the last rep's end, lasts less than that and is
    /// smaller than this share of the set's median rep is the leg bouncing
    /// back off the bottom of that rep (a momentum rep let go on the way
    /// down), not a rep (0: off).
    #[serde(default)]
    pub rebound_fraction: f64,
    /// See `rebound_fraction` (s).
    #[serde(default = "default_rebound_s")]
    pub rebound_s: f64,
    /// Ankle: once a set has 3 reps, a movement smaller than this share of
    /// the set's median rep and shorter than `aborted_length` of its median
    /// duration is a rep begun and given up (the leg goes part-way and
    /// straight back), not a rep (0: off). A partial rep that lasts at least
    /// `aborted_length` of the set's median rep is kept. Pelvis profiles
    /// ignore it.
    #[serde(default)]
    pub aborted_fraction: f64,
    /// See `aborted_fraction` (a share of the set's median rep duration).
    #[serde(default = "default_aborted_length")]
    pub aborted_length: f64,
}

fn default_rest_fraction() -> f64 {
    0.5
}
fn default_floor_hold_s() -> f64 {
    1.5
}
fn default_split_fraction() -> f64 {
    0.0
}
fn default_impact_max_rate_dps() -> f64 {
    150.0
}
fn default_impact_top_fraction() -> f64 {
    1.0
}
fn default_impact_holdoff_s() -> f64 {
    1.5
}
fn default_handling_dps() -> f64 {
    120.0
}
fn default_off_axis_fraction() -> f64 {
    0.5
}
fn default_stale_rest_s() -> f64 {
    6.0
}
fn default_level_gate() -> f64 {
    1.5
}
fn default_off_level_s() -> f64 {
    1.0
}
fn default_rebound_s() -> f64 {
    0.6
}
fn default_aborted_length() -> f64 {
    0.5
}

/// Set segmentation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetConfig {
    /// A gap between reps longer than this ends the set (s).
    pub gap_s: f64,
    /// Fewer reps than this is not a set (a single swing, a fidget).
    pub min_reps: usize,
    /// While a set has fewer than 3 reps, a gap longer than this ends it
    /// (0: `gap_s`). Real reps come every 2-5 s.
    #[serde(default)]
    pub start_gap_s: f64,
    /// Once a set has 3 reps: a rep starting later than this many times the
    /// set's median rep-to-rep interval after the last one ends the set
    /// (0: off).
    #[serde(default)]
    pub cadence_factor: f64,
    /// A movement opening or closing a set that is smaller than this share
    /// of the set's median rep is a shuffle before the set (settling on the
    /// bench, finding the stance) or a readjustment after it, not a rep.
    /// Partial reps reach 40 % or more.
    #[serde(default = "default_unlike_edge_fraction")]
    pub unlike_edge_fraction: f64,
    /// A set of two movements both smaller than this share of the lifter's
    /// last set is shifting about between sets, not a set.
    #[serde(default = "default_unlike_pair_fraction")]
    pub unlike_pair_fraction: f64,
    /// A movement ending a set after a break in its rhythm is not a rep if
    /// it is smaller than this share of the set's median rep …
    #[serde(default = "default_unlike_tail_size")]
    pub unlike_tail_size: f64,
    /// … or shorter than this share of its median length.
    #[serde(default = "default_unlike_tail_length")]
    pub unlike_tail_length: f64,
    /// A movement inside a set, between two reps of at least
    /// `unlike_tail_size` of its median, is not a rep if it is smaller than
    /// `unlike_edge_fraction` of that median and shorter than this share of
    /// its median length: the leg swinging back after a lowering (0: off).
    /// A partial rep is as slow as the reps around it.
    #[serde(default = "default_unlike_inside_length")]
    pub unlike_inside_length: f64,
    /// A set whose median rep is smaller than this (°) is never marked
    /// sure: its reps move the sensor no more than breathing and settling
    /// do (0: off).
    #[serde(default)]
    pub sure_min_peak_deg: f64,
    /// Pelvis: a set's first movement smaller than this share of its reps,
    /// followed by a pause more than twice the set's usual one, is no rep
    /// (stepping onto the box, shifting the weight before the first
    /// hitch; 0: off).
    #[serde(default)]
    pub apart_lead_size: f64,
    /// Pelvis: a set whose reps shake the sensor more than this (the
    /// median over its reps of the root mean square departure of |acc|
    /// from 1 g during each, m/s²) is another exercise: squats, lunges,
    /// bridges and walking move the pelvis bodily, a hitch or an abduction
    /// only tilts it (0: off).
    #[serde(default)]
    pub shake_max_mps2: f64,
    /// Steps, not reps: a run of at least `step_run` movements (0: off),
    /// each shorter than `step_max_s` and starting less than
    /// `step_interval_s` after the one before, is walking. A rep takes
    /// 2-4 s; a stride about 1 s.
    #[serde(default = "default_step_run")]
    pub step_run: usize,
    /// See `step_run` (s).
    #[serde(default = "default_step_max_s")]
    pub step_max_s: f64,
    /// See `step_run` (s).
    #[serde(default = "default_step_interval_s")]
    pub step_interval_s: f64,
    /// Ankle: where the exercise puts the pivot of the reps (the hip), as
    /// the elevation at rest of the lever from it to the sensor (°: 0 the
    /// leg lies level out from the hip, −90 it hangs below it; unset: not
    /// judged). A set whose fitted lever lies more than `pivot_off_deg`
    /// from it is not sure: another exercise turns the leg about another
    /// point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pivot_elevation_deg: Option<f64>,
    /// See `pivot_elevation_deg` (°).
    #[serde(default = "default_pivot_off_deg")]
    pub pivot_off_deg: f64,
}

fn default_pivot_off_deg() -> f64 {
    45.0
}

fn default_unlike_edge_fraction() -> f64 {
    0.3
}
fn default_unlike_pair_fraction() -> f64 {
    0.3
}
fn default_unlike_tail_size() -> f64 {
    0.5
}
fn default_unlike_tail_length() -> f64 {
    0.4
}
fn default_unlike_inside_length() -> f64 {
    0.7
}
fn default_step_run() -> usize {
    3
}
fn default_step_max_s() -> f64 {
    0.7
}
fn default_step_interval_s() -> f64 {
    1.4
}

/// A one-sided pelvic flag (hip hike, pelvic drop): persistence + hysteresis.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PelvicFlagConfig {
    /// Off for exercises where it does not apply (a hip hitch drops on purpose).
    pub enabled: bool,
    /// Obliquity beyond neutral that raises the flag (°).
    pub threshold_deg: f64,
    /// How long it must stay beyond (s).
    pub hold_s: f64,
    /// The signal must fall this far back below the threshold to leave the flagged state (°).
    pub hysteresis_deg: f64,
}

/// Momentum: the foot flies.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MomentumConfig {
    /// On or off.
    pub enabled: bool,
    /// Peak angular rate divided by the rep's peak angle (1/s) above which a phase
    /// is too fast (π/(2·T) for a smooth phase of T seconds: 3.5 ≈ 0.45 s).
    pub rate_per_range: f64,
    /// Once the set has `min_reference_reps` clean reps, the rep's peak rate
    /// must also exceed this many times their median (0: not checked). A
    /// partial rep at the set's own speed is quick for its small range but
    /// is not momentum.
    #[serde(default)]
    pub speed_factor: f64,
    /// Clean reps needed before `speed_factor` applies.
    #[serde(default = "default_momentum_reference_reps")]
    pub min_reference_reps: usize,
}

fn default_momentum_reference_reps() -> usize {
    2
}

/// Partial range: a rep well short of the set's working range.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartialRangeConfig {
    /// On or off.
    pub enabled: bool,
    /// A rep whose peak is below this fraction of the working range is partial.
    pub fraction: f64,
    /// Reps needed before the working range is known.
    pub min_reference_reps: usize,
}

/// Hip-flexion drift: the leg leaves the plane of the set's abduction.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriftConfig {
    /// On or off.
    pub enabled: bool,
    /// Rotation out of the set's plane of motion that raises the flag (°).
    pub threshold_deg: f64,
    /// Reps needed before the set's plane is known.
    pub min_reference_reps: usize,
}

/// All flag settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagsConfig {
    /// Pelvis: seconds after a rep's return that its flags still look at (a
    /// hip-hitch hike overshoots level just after the drop comes back).
    #[serde(default)]
    pub tail_s: f64,
    /// Hip hike (pelvis).
    pub hip_hike: PelvicFlagConfig,
    /// Pelvic drop (pelvis).
    pub pelvic_drop: PelvicFlagConfig,
    /// Trunk sway (pelvis): beyond ± threshold on both sides within one rep.
    pub trunk_sway: PelvicFlagConfig,
    /// Momentum (ankle).
    pub momentum: MomentumConfig,
    /// Partial range (ankle).
    pub partial_range: PartialRangeConfig,
    /// Hip-flexion drift (ankle).
    pub hip_flexion_drift: DriftConfig,
}

/// Every parameter of the motion pipeline for one exercise × placement.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The exercise this profile is for.
    pub exercise: Exercise,
    /// The placement this profile is for.
    pub placement: Placement,
    /// Stillness.
    pub still: StillConfig,
    /// Reps.
    pub reps: RepConfig,
    /// Sets.
    pub sets: SetConfig,
    /// Flags.
    pub flags: FlagsConfig,
}

const EMBEDDED: &[(Exercise, Placement, &str)] = &[
    (
        Exercise::StandingCableAbduction,
        Placement::Ankle,
        include_str!("../../calibration/standing-cable-abduction.ankle.toml"),
    ),
    (
        Exercise::SideLyingAbduction,
        Placement::Ankle,
        include_str!("../../calibration/side-lying-abduction.ankle.toml"),
    ),
    (
        Exercise::SeatedMachineAbduction,
        Placement::Ankle,
        include_str!("../../calibration/seated-machine-abduction.ankle.toml"),
    ),
    (
        Exercise::StandingCableAbduction,
        Placement::Pelvis,
        include_str!("../../calibration/standing-cable-abduction.pelvis.toml"),
    ),
    (
        Exercise::SideLyingAbduction,
        Placement::Pelvis,
        include_str!("../../calibration/side-lying-abduction.pelvis.toml"),
    ),
    (
        Exercise::HipHitch,
        Placement::Pelvis,
        include_str!("../../calibration/hip-hitch.pelvis.toml"),
    ),
];

impl Profile {
    /// The exercise × placement pairs that have a built-in counting profile.
    pub fn supported() -> impl Iterator<Item = (Exercise, Placement)> {
        EMBEDDED.iter().map(|(e, p, _)| (*e, *p))
    }

    /// The built-in profile for this pair.
    pub fn builtin(exercise: Exercise, placement: Placement) -> Result<Profile, ProfileError> {
        let (_, _, text) = EMBEDDED
            .iter()
            .find(|(e, p, _)| *e == exercise && *p == placement)
            .ok_or_else(|| ProfileError::Unsupported {
                exercise,
                placement,
                supported: EMBEDDED
                    .iter()
                    .map(|(e, p, _)| format!("{e}/{p}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let name = format!("calibration/{exercise}.{placement}.toml (built in)");
        Profile::parse(text, &name)
    }

    /// Reads a profile file and checks it is for this exercise and placement.
    pub fn load(
        path: &Path,
        exercise: Exercise,
        placement: Placement,
    ) -> Result<Profile, ProfileError> {
        let name = path.display().to_string();
        // A profile is a few KiB: `--profile /dev/zero` is refused, not
        // read until the memory runs out.
        let text = crate::paths::read_small_text(path, 1 << 20, "profile").map_err(|source| {
            ProfileError::Read {
                path: name.clone(),
                source,
            }
        })?;
        let profile = Profile::parse(&text, &name)?;
        if profile.exercise != exercise || profile.placement != placement {
            return Err(ProfileError::Mismatch {
                path: name,
                found: format!("{}/{}", profile.exercise, profile.placement),
                wanted: format!("{exercise}/{placement}"),
            });
        }
        Ok(profile)
    }

    /// Parses and validates profile TOML; `name` is used in error messages.
    pub fn parse(text: &str, name: &str) -> Result<Profile, ProfileError> {
        let profile: Profile = toml::from_str(text).map_err(|e| ProfileError::Parse {
            path: name.to_string(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        profile.validate(name)?;
        Ok(profile)
    }

    /// Checks every value is in a range the detectors can work with.
    pub fn validate(&self, name: &str) -> Result<(), ProfileError> {
        let r = &self.reps;
        let f = &self.flags;
        let checks: &[(&'static str, f64, f64, f64, &'static str)] = &[
            (
                "still.gyro_abs_dps",
                self.still.gyro_abs_dps,
                0.1,
                200.0,
                "0.1..200",
            ),
            (
                "still.acc_dev_mps2",
                self.still.acc_dev_mps2,
                0.01,
                10.0,
                "0.01..10",
            ),
            ("still.min_s", self.still.min_s, 0.0, 10.0, "0..10"),
            (
                "still.gyro_settled_dps",
                self.still.gyro_settled_dps,
                0.0,
                self.still.gyro_abs_dps,
                "0..gyro_abs_dps",
            ),
            ("still.bias_ki", self.still.bias_ki, 0.0, 1.0, "0..1"),
            ("still.tilt_gain", self.still.tilt_gain, 0.0, 10.0, "0..10"),
            (
                "still.bias_memory_s",
                self.still.bias_memory_s,
                0.0,
                // Unused once `gyro_settled_dps` is set: say so, not ignore it.
                if self.still.gyro_settled_dps > 0.0 {
                    0.0
                } else {
                    60.0
                },
                if self.still.gyro_settled_dps > 0.0 {
                    "0 while still.gyro_settled_dps is set: that one decides how the bias is learned"
                } else {
                    "0..60"
                },
            ),
            (
                "still.lenient_after_s",
                self.still.lenient_after_s,
                0.0,
                60.0,
                "0..60",
            ),
            ("reps.enter_deg", r.enter_deg, 0.05, 90.0, "0.05..90"),
            (
                "reps.exit_deg",
                r.exit_deg,
                0.0,
                r.enter_deg,
                "0..enter_deg",
            ),
            (
                "reps.return_fraction",
                r.return_fraction,
                0.0,
                0.95,
                "0..0.95",
            ),
            (
                "reps.min_peak_deg",
                r.min_peak_deg,
                r.enter_deg,
                180.0,
                "enter_deg..180",
            ),
            (
                "reps.down_min_peak_deg",
                r.down_min_peak_deg,
                r.min_peak_deg,
                180.0,
                "min_peak_deg..180",
            ),
            (
                "reps.max_peak_deg",
                r.max_peak_deg,
                r.min_peak_deg,
                360.0,
                "min_peak_deg..360",
            ),
            ("reps.min_duration_s", r.min_duration_s, 0.0, 30.0, "0..30"),
            (
                "reps.max_duration_s",
                r.max_duration_s,
                r.min_duration_s,
                120.0,
                "min_duration_s..120",
            ),
            ("reps.settle_s", r.settle_s, 0.0, 5.0, "0..5"),
            ("reps.settle_deg", r.settle_deg, 0.0, 90.0, "0..90"),
            ("reps.impact_g", r.impact_g, 0.05, 100.0, "0.05..100"),
            (
                "reps.impact_top_fraction",
                r.impact_top_fraction,
                0.0,
                1.0,
                "0..1",
            ),
            (
                "reps.baseline_tau_s",
                r.baseline_tau_s,
                0.0,
                600.0,
                "0..600",
            ),
            ("reps.valley_fraction", r.valley_fraction, 0.0, 1.0, "0..1"),
            (
                "reps.rest_fraction",
                r.rest_fraction,
                0.05,
                0.95,
                "0.05..0.95",
            ),
            ("reps.floor_hold_s", r.floor_hold_s, 0.0, 30.0, "0..30"),
            ("reps.split_fraction", r.split_fraction, 0.0, 1.0, "0..1"),
            (
                "reps.impact_max_rate_dps",
                r.impact_max_rate_dps,
                1.0,
                5000.0,
                "1..5000",
            ),
            (
                "reps.impact_holdoff_s",
                r.impact_holdoff_s,
                0.0,
                30.0,
                "0..30",
            ),
            ("reps.handling_dps", r.handling_dps, 1.0, 5000.0, "1..5000"),
            (
                "reps.off_axis_fraction",
                r.off_axis_fraction,
                0.0,
                1.0,
                "0..1",
            ),
            (
                "reps.vertical_axis_min",
                r.vertical_axis_min,
                0.0,
                1.0,
                "0..1",
            ),
            ("reps.rest_max_deg", r.rest_max_deg, 0.0, 180.0, "0..180"),
            ("reps.stale_rest_s", r.stale_rest_s, 0.1, 600.0, "0.1..600"),
            ("reps.level_gate", r.level_gate, 0.1, 100.0, "0.1..100"),
            ("reps.off_level_s", r.off_level_s, 0.0, 60.0, "0..60"),
            (
                "reps.rebound_fraction",
                r.rebound_fraction,
                0.0,
                1.0,
                "0..1",
            ),
            ("reps.rebound_s", r.rebound_s, 0.0, 10.0, "0..10"),
            (
                "reps.aborted_fraction",
                r.aborted_fraction,
                0.0,
                1.0,
                "0..1",
            ),
            ("reps.aborted_length", r.aborted_length, 0.0, 1.0, "0..1"),
            (
                "sets.unlike_edge_fraction",
                self.sets.unlike_edge_fraction,
                0.0,
                1.0,
                "0..1",
            ),
            (
                "sets.unlike_pair_fraction",
                self.sets.unlike_pair_fraction,
                0.0,
                1.0,
                "0..1",
            ),
            (
                "sets.unlike_tail_size",
                self.sets.unlike_tail_size,
                0.0,
                1.0,
                "0..1",
            ),
            (
                "sets.unlike_tail_length",
                self.sets.unlike_tail_length,
                0.0,
                1.0,
                "0..1",
            ),
            (
                "sets.unlike_inside_length",
                self.sets.unlike_inside_length,
                0.0,
                1.0,
                "0..1",
            ),
            (
                "sets.sure_min_peak_deg",
                self.sets.sure_min_peak_deg,
                0.0,
                90.0,
                "0..90",
            ),
            (
                "sets.pivot_elevation_deg",
                self.sets.pivot_elevation_deg.unwrap_or(0.0),
                -90.0,
                90.0,
                "-90..90",
            ),
            (
                "sets.pivot_off_deg",
                self.sets.pivot_off_deg,
                0.0,
                180.0,
                "0..180",
            ),
            (
                "sets.apart_lead_size",
                self.sets.apart_lead_size,
                0.0,
                1.0,
                "0..1",
            ),
            (
                "sets.shake_max_mps2",
                self.sets.shake_max_mps2,
                0.0,
                10.0,
                "0..10",
            ),
            ("sets.step_max_s", self.sets.step_max_s, 0.0, 10.0, "0..10"),
            (
                "sets.step_interval_s",
                self.sets.step_interval_s,
                0.0,
                10.0,
                "0..10",
            ),
            (
                "sets.step_run",
                self.sets.step_run as f64,
                0.0,
                1000.0,
                "0..1000",
            ),
            ("sets.gap_s", self.sets.gap_s, 0.5, 600.0, "0.5..600"),
            (
                "sets.min_reps",
                self.sets.min_reps as f64,
                1.0,
                1000.0,
                "1..1000",
            ),
            (
                "flags.hip_hike.threshold_deg",
                f.hip_hike.threshold_deg,
                0.1,
                90.0,
                "0.1..90",
            ),
            (
                "flags.hip_hike.hold_s",
                f.hip_hike.hold_s,
                0.0,
                10.0,
                "0..10",
            ),
            (
                "flags.hip_hike.hysteresis_deg",
                f.hip_hike.hysteresis_deg,
                0.0,
                f.hip_hike.threshold_deg,
                "0..threshold_deg",
            ),
            (
                "flags.pelvic_drop.threshold_deg",
                f.pelvic_drop.threshold_deg,
                0.1,
                90.0,
                "0.1..90",
            ),
            (
                "flags.pelvic_drop.hold_s",
                f.pelvic_drop.hold_s,
                0.0,
                10.0,
                "0..10",
            ),
            (
                "flags.pelvic_drop.hysteresis_deg",
                f.pelvic_drop.hysteresis_deg,
                0.0,
                f.pelvic_drop.threshold_deg,
                "0..threshold_deg",
            ),
            (
                "flags.trunk_sway.threshold_deg",
                f.trunk_sway.threshold_deg,
                0.1,
                90.0,
                "0.1..90",
            ),
            (
                "flags.trunk_sway.hold_s",
                f.trunk_sway.hold_s,
                0.0,
                10.0,
                "0..10",
            ),
            (
                "flags.trunk_sway.hysteresis_deg",
                f.trunk_sway.hysteresis_deg,
                0.0,
                f.trunk_sway.threshold_deg,
                "0..threshold_deg",
            ),
            (
                "flags.momentum.rate_per_range",
                f.momentum.rate_per_range,
                0.1,
                100.0,
                "0.1..100",
            ),
            (
                "flags.momentum.speed_factor",
                f.momentum.speed_factor,
                0.0,
                20.0,
                "0..20",
            ),
            (
                "flags.partial_range.fraction",
                f.partial_range.fraction,
                0.05,
                1.0,
                "0.05..1",
            ),
            (
                "flags.partial_range.min_reference_reps",
                f.partial_range.min_reference_reps as f64,
                1.0,
                100.0,
                "1..100",
            ),
            ("flags.tail_s", f.tail_s, 0.0, 3.0, "0..3"),
            (
                "sets.start_gap_s",
                self.sets.start_gap_s,
                0.0,
                60.0,
                "0..60",
            ),
            (
                "sets.cadence_factor",
                self.sets.cadence_factor,
                0.0,
                10.0,
                "0..10",
            ),
            (
                "flags.hip_flexion_drift.threshold_deg",
                f.hip_flexion_drift.threshold_deg,
                0.1,
                90.0,
                "0.1..90",
            ),
            (
                "flags.hip_flexion_drift.min_reference_reps",
                f.hip_flexion_drift.min_reference_reps as f64,
                1.0,
                100.0,
                "1..100",
            ),
        ];
        for &(key, value, lo, hi, expected) in checks {
            if !(value.is_finite() && value >= lo && value <= hi) {
                return Err(ProfileError::Invalid {
                    path: name.to_string(),
                    key,
                    value,
                    expected,
                });
            }
        }
        Ok(())
    }
}

/// The embedded TOML of a built-in profile, comments included.
pub fn builtin_text(exercise: Exercise, placement: Placement) -> Option<&'static str> {
    EMBEDDED
        .iter()
        .find(|(e, p, _)| *e == exercise && *p == placement)
        .map(|(_, _, t)| *t)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys that moved out of the code keep their old values in every
    /// built-in profile, a profile written before them still loads with
    /// those values, and each is range-checked.
    #[test]
    fn the_rules_moved_out_of_the_code_are_keys_with_their_old_values() {
        for (e, p) in Profile::supported() {
            let text = builtin_text(e, p).unwrap();
            let built = Profile::builtin(e, p).unwrap();
            // Without the new keys, as a profile from `calibrate` before them.
            let old: String = text
                .lines()
                .filter(|l| {
                    ![
                        "rest_fraction",
                        "floor_hold_s",
                        "impact_max_rate_dps",
                        "impact_holdoff_s",
                        "handling_dps",
                        "off_axis_fraction",
                        "stale_rest_s",
                        "level_gate",
                        "off_level_s",
                        "unlike_",
                    ]
                    .iter()
                    .any(|k| l.starts_with(k))
                })
                .map(|l| format!("{l}\n"))
                .collect();
            assert_ne!(old.len(), text.len(), "{e} {p} carries the keys");
            let parsed = Profile::parse(&old, "old.toml").unwrap();
            let (a, b) = (&built.reps, &parsed.reps);
            assert_eq!(
                (a.rest_fraction, a.floor_hold_s, a.impact_max_rate_dps),
                (b.rest_fraction, b.floor_hold_s, b.impact_max_rate_dps)
            );
            assert_eq!(
                (a.impact_holdoff_s, a.handling_dps, a.off_axis_fraction),
                (b.impact_holdoff_s, b.handling_dps, b.off_axis_fraction)
            );
            assert_eq!(
                (a.stale_rest_s, a.level_gate, a.off_level_s),
                (b.stale_rest_s, b.level_gate, b.off_level_s)
            );
            assert_eq!(a.impact_top_fraction, b.impact_top_fraction);
            let (a, b) = (&built.sets, &parsed.sets);
            assert_eq!(
                (a.unlike_edge_fraction, a.unlike_pair_fraction),
                (b.unlike_edge_fraction, b.unlike_pair_fraction)
            );
            assert_eq!(
                (a.unlike_tail_size, a.unlike_tail_length),
                (b.unlike_tail_size, b.unlike_tail_length)
            );
            assert_eq!(a.unlike_inside_length, b.unlike_inside_length);
            assert_eq!(
                (a.step_run, a.step_max_s, a.step_interval_s),
                (b.step_run, b.step_max_s, b.step_interval_s)
            );
            assert_eq!(a.sure_min_peak_deg, b.sure_min_peak_deg);
        }
        let text = builtin_text(Exercise::StandingCableAbduction, Placement::Ankle).unwrap();
        let bad = text.replace("rest_fraction = 0.5", "rest_fraction = 1.5");
        let e = Profile::parse(&bad, "bad.toml").unwrap_err().to_string();
        assert!(
            e.contains("reps.rest_fraction = 1.5 is out of range"),
            "{e}"
        );
    }
}
