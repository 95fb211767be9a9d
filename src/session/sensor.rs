//! Sensors as the session sees them: which one a sample came from, what
//! its link did, and the `--sensor` text parsed once into a [`SensorSpec`].

use crate::Placement;
use std::fmt;
use std::path::PathBuf;

/// Which sensor of the session a sample or link event is from: its index
/// in the order the sensors were given (`--sensor`, `[[sensor]]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SensorId(pub usize);

/// Where a sensor streams from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SensorKind {
    /// The built-in simulated lifter.
    Sim,
    /// A raw recording played back.
    Replay(PathBuf),
    /// A Bluetooth sensor by address (`C0:FF:EE:00:00:01`).
    Address(String),
    /// A Bluetooth sensor by advertised name (`WT901BLE68`).
    Name(String),
}

/// One `--sensor` (or `[[sensor]]`): where it streams from and, when given
/// (`ankle=ADDR`, `pelvis=ADDR`, a config entry's `placement`), where it
/// is worn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SensorSpec {
    /// Where it is worn, when said.
    pub role: Option<Placement>,
    /// Where it streams from.
    pub kind: SensorKind,
}

/// A `--sensor` that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// Nothing given.
    #[error("no sensor given: give sim, replay:FILE.csv, or a sensor's address or name")]
    Empty,
    /// `replay:` without a file.
    #[error("replay: needs a file: replay:FILE.csv")]
    NoReplayFile,
    /// `knee=…`.
    #[error("{0}: '{1}' is not a placement; write ankle=ADDR or pelvis=ADDR")]
    BadRole(String, String),
    /// Looks like an address but is not one.
    #[error("{0} is not a Bluetooth address (six hex pairs like C0:FF:EE:00:00:01); `medius scan` lists the sensors nearby")]
    BadAddress(String),
}

/// True for `AA:BB:CC:DD:EE:FF`.
pub fn is_address(text: &str) -> bool {
    let parts: Vec<&str> = text.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

impl SensorSpec {
    /// The simulator, worn wherever the session says.
    pub const SIM: SensorSpec = SensorSpec {
        role: None,
        kind: SensorKind::Sim,
    };

    /// Parses `sim`, `replay:FILE`, an address or a name, each with an
    /// optional `ankle=` / `pelvis=` in front.
    pub fn parse(text: &str) -> Result<SensorSpec, SpecError> {
        let whole = text.trim();
        if whole.is_empty() {
            return Err(SpecError::Empty);
        }
        let (role, rest) = match whole.split_once('=') {
            Some((r, rest)) => {
                let role = r
                    .trim()
                    .parse::<Placement>()
                    .map_err(|_| SpecError::BadRole(whole.to_string(), r.trim().to_string()))?;
                (Some(role), rest.trim())
            }
            None => (None, whole),
        };
        let kind = if rest.is_empty() {
            return Err(SpecError::Empty);
        } else if rest == "sim" {
            SensorKind::Sim
        } else if let Some(path) = rest.strip_prefix("replay:") {
            if path.is_empty() {
                return Err(SpecError::NoReplayFile);
            }
            SensorKind::Replay(PathBuf::from(path))
        } else if is_address(rest) {
            SensorKind::Address(rest.to_string())
        } else if rest.chars().filter(|c| *c == ':').count() == 5 {
            // Five colons is an address with a typo, not a name.
            return Err(SpecError::BadAddress(rest.to_string()));
        } else {
            SensorKind::Name(rest.to_string())
        };
        Ok(SensorSpec { role, kind })
    }

    /// A Bluetooth sensor (address or name).
    pub fn is_bluetooth(&self) -> bool {
        matches!(self.kind, SensorKind::Address(_) | SensorKind::Name(_))
    }
}

impl std::str::FromStr for SensorSpec {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SensorSpec::parse(s)
    }
}

impl fmt::Display for SensorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SensorKind::Sim => f.write_str("sim"),
            SensorKind::Replay(p) => write!(f, "replay:{}", p.display()),
            SensorKind::Address(a) => f.write_str(a),
            SensorKind::Name(n) => f.write_str(n),
        }
    }
}

/// The sensor as `status` and the logbook name it: `sim`, `replay:FILE`,
/// the address or name (without the role).
impl fmt::Display for SensorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.kind.fmt(f)
    }
}

/// What a sensor's link did, as the shell reports it to the session.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkChange {
    /// Connected the first time.
    Connected {
        /// Battery %, when readable.
        battery: Option<u8>,
    },
    /// The link dropped; samples stop until it is back.
    Lost,
    /// Trying to reconnect (links that say so).
    Reconnecting,
    /// Connected again after a drop-out.
    Back {
        /// Battery %, when readable.
        battery: Option<u8>,
    },
    /// No link for too long: this sensor is done.
    GaveUp,
    /// Samples lost on the link (sequence gaps), this many more.
    SamplesLost(u64),
}

/// One sensor's link as last reported.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinkState {
    /// The link is up (sim and replay always are).
    pub connected: bool,
    /// Battery %, when known.
    pub battery: Option<u8>,
    /// Samples lost on the link so far.
    pub samples_lost: u64,
    /// Drop-outs so far.
    pub dropouts: u32,
    /// The link gave up.
    pub gave_up: bool,
}

impl LinkState {
    /// Takes one change in.
    pub fn apply(&mut self, change: &LinkChange) {
        match change {
            LinkChange::Connected { battery } | LinkChange::Back { battery } => {
                self.connected = true;
                if battery.is_some() {
                    self.battery = *battery;
                }
            }
            LinkChange::Lost => {
                self.connected = false;
                self.dropouts += 1;
            }
            LinkChange::Reconnecting => self.connected = false,
            LinkChange::GaveUp => {
                self.connected = false;
                self.gave_up = true;
            }
            LinkChange::SamplesLost(n) => self.samples_lost += n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_once_with_their_role() {
        assert_eq!(SensorSpec::parse("sim").unwrap().kind, SensorKind::Sim);
        assert_eq!(
            SensorSpec::parse("replay:a.csv").unwrap().kind,
            SensorKind::Replay("a.csv".into())
        );
        let s = SensorSpec::parse("ankle=C0:FF:EE:00:00:01").unwrap();
        assert_eq!(s.role, Some(Placement::Ankle));
        assert_eq!(s.kind, SensorKind::Address("C0:FF:EE:00:00:01".into()));
        let s = SensorSpec::parse("pelvis=WT901BLE68").unwrap();
        assert_eq!(s.role, Some(Placement::Pelvis));
        assert_eq!(s.kind, SensorKind::Name("WT901BLE68".into()));
        assert_eq!(s.to_string(), "WT901BLE68");
        assert!(s.is_bluetooth());
        assert_eq!(SensorSpec::parse("  "), Err(SpecError::Empty));
        assert_eq!(SensorSpec::parse("ankle="), Err(SpecError::Empty));
        assert_eq!(SensorSpec::parse("replay:"), Err(SpecError::NoReplayFile));
        assert!(matches!(
            SensorSpec::parse("knee=C0:FF:EE:00:00:01"),
            Err(SpecError::BadRole(_, r)) if r == "knee"
        ));
        assert!(matches!(
            SensorSpec::parse("C0:FF:EE:00:00:0G"),
            Err(SpecError::BadAddress(_))
        ));
    }

    #[test]
    fn a_link_is_down_from_lost_to_back() {
        let mut l = LinkState::default();
        l.apply(&LinkChange::Connected { battery: Some(80) });
        assert!(l.connected);
        l.apply(&LinkChange::Lost);
        l.apply(&LinkChange::SamplesLost(12));
        assert!(!l.connected);
        l.apply(&LinkChange::Back { battery: None });
        assert!(l.connected);
        assert_eq!((l.battery, l.samples_lost, l.dropouts), (Some(80), 12, 1));
    }
}
