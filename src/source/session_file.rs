//! The session file: ties the raw CSVs of one session's sensors together.
//!
//! Each sensor keeps its own raw CSV (the contract in docs/formats.md,
//! unchanged); a small JSON document beside them says which file is which
//! sensor, what was trained, and how the sensors' clocks stood against
//! each other when the session began:
//!
//! ```json
//! {"medius_session": 1, "exercise": "standing-cable-abduction", "side": "right",
//!  "sensors": [
//!   {"role": "ankle", "file": "rec.ankle.csv", "sensor": "sim"},
//!   {"role": "pelvis", "file": "rec.pelvis.csv", "sensor": "sim", "offset_s": -0.212}]}
//! ```
//!
//! File paths are relative to the session file. `offset_s` (default 0) is
//! added to that file's times to put them on the session's clock, as far as
//! the recorder knew (arrival times); `analyze` refines it from the motion.
//! Unknown fields are ignored, so later versions can add some; a newer
//! `medius_session` version is refused.

use crate::{Exercise, Placement, Side};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The version this medius writes and reads.
pub const VERSION: u32 = 1;

/// Why a session file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SessionFileError {
    /// It could not be read.
    #[error("cannot read session file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// It could not be written.
    #[error("cannot write session file {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// It is not a session file, or a field is wrong.
    #[error("{path}: not a medius session file ({message}); see docs/formats.md")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong, with line and column.
        message: String,
    },
    /// A newer medius wrote it.
    #[error("{path} is a version {found} session file; this medius reads version {VERSION}: update medius")]
    Version {
        /// The file.
        path: String,
        /// The version it says.
        found: u32,
    },
    /// The sensors listed do not make a session.
    #[error("{path}: {message}")]
    Sensors {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// One sensor's recording in a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SensorFile {
    /// Where it was worn.
    pub role: Placement,
    /// Its raw CSV, relative to the session file.
    pub file: String,
    /// Which sensor it was (`sim`, an address, a name).
    pub sensor: String,
    /// Added to the file's times to put them on the session's clock (s).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub offset_s: f64,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

/// A session of one or more sensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionFile {
    /// The format's version ([`VERSION`]).
    pub medius_session: u32,
    /// What was trained.
    pub exercise: Exercise,
    /// The working side.
    pub side: Side,
    /// The sensors, one per role.
    pub sensors: Vec<SensorFile>,
}

impl SessionFile {
    /// A session of these sensors.
    pub fn new(exercise: Exercise, side: Side, sensors: Vec<SensorFile>) -> Self {
        SessionFile {
            medius_session: VERSION,
            exercise,
            side,
            sensors,
        }
    }

    /// Reads and checks a session file.
    pub fn read(path: &Path) -> Result<SessionFile, SessionFileError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SessionFileError::Read {
            path: shown.clone(),
            source,
        })?;
        SessionFile::parse(&text, &shown)
    }

    /// Parses and checks the text of a session file; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<SessionFile, SessionFileError> {
        #[derive(Deserialize)]
        struct Version {
            medius_session: u32,
        }
        let parse = |message: String| SessionFileError::Parse {
            path: path.to_string(),
            message,
        };
        let v: Version = serde_json::from_str(text).map_err(|e| parse(e.to_string()))?;
        if v.medius_session > VERSION || v.medius_session == 0 {
            return Err(SessionFileError::Version {
                path: path.to_string(),
                found: v.medius_session,
            });
        }
        let s: SessionFile = serde_json::from_str(text).map_err(|e| parse(e.to_string()))?;
        let bad = |message: String| SessionFileError::Sensors {
            path: path.to_string(),
            message,
        };
        if s.sensors.is_empty() {
            return Err(bad("no sensors listed".into()));
        }
        for (i, a) in s.sensors.iter().enumerate() {
            if s.sensors[..i].iter().any(|b| b.role == a.role) {
                return Err(bad(format!(
                    "two sensors at the {}: one file per role",
                    a.role
                )));
            }
            let p = Path::new(&a.file);
            if a.file.is_empty() || p.is_absolute() {
                return Err(bad(format!(
                    "the {} file `{}` must be a path relative to the session file",
                    a.role, a.file
                )));
            }
            if !a.offset_s.is_finite() || a.offset_s.abs() > 3600.0 {
                return Err(bad(format!(
                    "the {} offset_s {} is not within ±3600 s",
                    a.role, a.offset_s
                )));
            }
        }
        Ok(s)
    }

    /// Writes it (pretty JSON, a line break at the end).
    pub fn write(&self, path: &Path) -> Result<(), SessionFileError> {
        let text = serde_json::to_string_pretty(self).expect("a session file serialises") + "\n";
        std::fs::write(path, text).map_err(|source| SessionFileError::Write {
            path: path.display().to_string(),
            source,
        })
    }

    /// The sensor worn at `role`, if any.
    pub fn sensor(&self, role: Placement) -> Option<&SensorFile> {
        self.sensors.iter().find(|s| s.role == role)
    }

    /// Where the file of the sensor at `role` is, for a session file at `session_path`.
    pub fn file_path(&self, session_path: &Path, role: Placement) -> Option<PathBuf> {
        let dir = session_path.parent().unwrap_or(Path::new(""));
        self.sensor(role).map(|s| dir.join(&s.file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> SessionFile {
        SessionFile::new(
            Exercise::SideLyingAbduction,
            Side::Left,
            vec![
                SensorFile {
                    role: Placement::Ankle,
                    file: "s.ankle.csv".into(),
                    sensor: "sim".into(),
                    offset_s: 0.0,
                },
                SensorFile {
                    role: Placement::Pelvis,
                    file: "s.pelvis.csv".into(),
                    sensor: "C0:FF:EE:00:00:01".into(),
                    offset_s: -0.25,
                },
            ],
        )
    }

    #[test]
    fn what_is_written_reads_back_and_paths_are_relative_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.session.json");
        pair().write(&path).unwrap();
        let back = SessionFile::read(&path).unwrap();
        assert_eq!(back, pair());
        assert_eq!(
            back.file_path(&path, Placement::Pelvis).unwrap(),
            dir.path().join("s.pelvis.csv")
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"medius_session\": 1"), "{text}");
    }

    #[test]
    fn a_newer_version_a_repeated_role_and_an_absolute_path_are_refused() {
        let json = serde_json::to_string(&pair()).unwrap();
        let newer = json.replace("\"medius_session\":1", "\"medius_session\":2");
        assert!(matches!(
            SessionFile::parse(&newer, "x"),
            Err(SessionFileError::Version { found: 2, .. })
        ));
        let twice = json.replace("\"role\":\"pelvis\"", "\"role\":\"ankle\"");
        let e = SessionFile::parse(&twice, "x").unwrap_err().to_string();
        assert!(e.contains("two sensors at the ankle"), "{e}");
        let absolute = json.replace("s.pelvis.csv", "/tmp/p.csv");
        let e = SessionFile::parse(&absolute, "x").unwrap_err().to_string();
        assert!(e.contains("relative"), "{e}");
        let e = SessionFile::parse("[1, 2]", "x").unwrap_err().to_string();
        assert!(e.contains("not a medius session file"), "{e}");
        // Fields a later version adds are ignored.
        let more = json.replace("\"side\"", "\"started_at\":\"later\",\"side\"");
        assert_eq!(SessionFile::parse(&more, "x").unwrap(), pair());
    }
}
