//! The user's configuration: TOML in the XDG config dir.

use crate::{Exercise, Placement, Side};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The commented default `medius config init` writes.
pub const DEFAULT_TEXT: &str = include_str!("default-config.toml");

/// Bad configuration: names the file, line and key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// TOML syntax, an unknown key or a wrong type.
    #[error("{path}:{line}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// What is wrong (names the key).
        message: String,
    },
    /// A value out of its range.
    #[error("{path}: {key} = {value}: {expected}")]
    Invalid {
        /// The file.
        path: String,
        /// Dotted key.
        key: String,
        /// The value found.
        value: String,
        /// What is allowed.
        expected: String,
    },
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// `[session]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// Default exercise.
    pub exercise: Exercise,
    /// Default placement.
    pub placement: Placement,
    /// Default side.
    pub side: Side,
    /// kg or lb.
    pub load_unit: String,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            exercise: Exercise::StandingCableAbduction,
            placement: Placement::Ankle,
            side: Side::Right,
            load_unit: "kg".into(),
        }
    }
}

/// One `[[sensor]]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensorConfig {
    /// Bluetooth address.
    pub address: String,
    /// Where it is worn.
    #[serde(default)]
    pub placement: Option<Placement>,
    /// A label.
    #[serde(default)]
    pub name: Option<String>,
}

/// `[link]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinkSettings {
    /// Rate to ask for, Hz.
    pub rate_hz: u16,
    /// Seconds to look for the sensor.
    pub find_timeout_s: f64,
    /// Seconds to keep reconnecting.
    pub give_up_s: f64,
}

impl Default for LinkSettings {
    fn default() -> Self {
        LinkSettings {
            rate_hz: 100,
            find_timeout_s: 15.0,
            give_up_s: 120.0,
        }
    }
}

/// `[feedback]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeedbackConfig {
    /// Terminal bell on a flagged rep.
    pub bell: bool,
}

/// `[recording]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordingConfig {
    /// Keep raw recordings.
    pub keep: bool,
    /// Where.
    pub dir: Option<PathBuf>,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        RecordingConfig {
            keep: true,
            dir: None,
        }
    }
}

/// `[logbook]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogbookConfig {
    /// The file.
    pub path: Option<PathBuf>,
    /// How long `run` waits to save a set while another medius command
    /// writes to the logbook, s.
    pub wait_s: f64,
}

impl Default for LogbookConfig {
    fn default() -> Self {
        LogbookConfig {
            path: None,
            wait_s: crate::logbook::DEFAULT_BUSY_TIMEOUT.as_secs_f64(),
        }
    }
}

/// The whole file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Defaults for run.
    pub session: SessionConfig,
    /// Sensors (also the allow-list).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sensor: Vec<SensorConfig>,
    /// Link settings.
    pub link: LinkSettings,
    /// Feedback.
    pub feedback: FeedbackConfig,
    /// Raw recordings.
    pub recording: RecordingConfig,
    /// Logbook location.
    pub logbook: LogbookConfig,
    /// Profile files by "exercise.placement".
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub profiles: BTreeMap<String, PathBuf>,
}

/// `$XDG_CONFIG_HOME/medius/config.toml` (or `~/.config/…`); `MEDIUS_CONFIG` overrides.
pub fn default_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MEDIUS_CONFIG").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(p));
    }
    Some(crate::paths::config_dir()?.join("config.toml"))
}

/// Where raw recordings go by default.
pub fn default_recordings_dir() -> Option<PathBuf> {
    Some(crate::paths::data_dir()?.join("recordings"))
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn is_address(a: &str) -> bool {
    let parts: Vec<&str> = a.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

impl Config {
    /// Parses and validates config text; `name` is used in messages.
    pub fn parse(text: &str, name: &str) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: name.to_string(),
            line: e.span().map(|s| line_of(text, s.start)).unwrap_or(1),
            message: e.message().trim().replace('\n', " "),
        })?;
        let bad = |key: &str, value: String, expected: &str| ConfigError::Invalid {
            path: name.to_string(),
            key: key.to_string(),
            value,
            expected: expected.to_string(),
        };
        if !(25..=400).contains(&cfg.link.rate_hz) {
            return Err(bad(
                "link.rate_hz",
                cfg.link.rate_hz.to_string(),
                "between 25 and 400",
            ));
        }
        if !(cfg.link.find_timeout_s.is_finite()
            && (0.5..=600.0).contains(&cfg.link.find_timeout_s))
        {
            return Err(bad(
                "link.find_timeout_s",
                cfg.link.find_timeout_s.to_string(),
                "between 0.5 and 600",
            ));
        }
        if !(cfg.link.give_up_s.is_finite() && (0.0..=86_400.0).contains(&cfg.link.give_up_s)) {
            return Err(bad(
                "link.give_up_s",
                cfg.link.give_up_s.to_string(),
                "between 0 and 86400",
            ));
        }
        if !(cfg.logbook.wait_s.is_finite() && (0.1..=600.0).contains(&cfg.logbook.wait_s)) {
            return Err(bad(
                "logbook.wait_s",
                cfg.logbook.wait_s.to_string(),
                "between 0.1 and 600",
            ));
        }
        if !["kg", "lb"].contains(&cfg.session.load_unit.as_str()) {
            return Err(bad(
                "session.load_unit",
                format!("\"{}\"", cfg.session.load_unit),
                "kg or lb",
            ));
        }
        for (i, s) in cfg.sensor.iter().enumerate() {
            if !is_address(&s.address) {
                return Err(bad(
                    &format!("sensor[{i}].address"),
                    format!("\"{}\"", s.address),
                    "a Bluetooth address like C0:FF:EE:00:00:01 (`medius scan` shows them)",
                ));
            }
        }
        for key in cfg.profiles.keys() {
            let ok = key.split_once('.').is_some_and(|(e, p)| {
                e.parse::<Exercise>().is_ok() && p.parse::<Placement>().is_ok()
            });
            if !ok {
                return Err(bad(
                    &format!("profiles.\"{key}\""),
                    String::new(),
                    "keys are \"<exercise>.<placement>\", e.g. \"hip-hitch.pelvis\"",
                ));
            }
        }
        Ok(cfg)
    }

    /// Loads the file, or the defaults when it does not exist.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        // A config is a few KiB: a wrong path (/dev/zero) is not read until
        // the memory runs out.
        let read = crate::paths::read_small_text(path, 1 << 20, "config");
        match read {
            Ok(text) => Config::parse(&text, &path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(ConfigError::Io {
                path: path.display().to_string(),
                source: e,
            }),
        }
    }

    /// The allow-list: configured sensor addresses.
    pub fn allowed(&self) -> Vec<String> {
        self.sensor.iter().map(|s| s.address.clone()).collect()
    }

    /// The profile file configured for a pair, if any.
    pub fn profile_for(&self, exercise: Exercise, placement: Placement) -> Option<&PathBuf> {
        self.profiles.get(&format!("{exercise}.{placement}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_text_parses_to_the_defaults() {
        let c = Config::parse(DEFAULT_TEXT, "default").unwrap();
        assert_eq!(c.link.rate_hz, 100);
        assert!(c.recording.keep);
        assert!(c.sensor.is_empty());
    }

    #[test]
    fn errors_name_the_key_and_line() {
        let e = Config::parse("[link]\nrate_hz = 100\nspeed = 3\n", "c.toml").unwrap_err();
        assert!(e.to_string().starts_with("c.toml:3:"), "{e}");
        assert!(e.to_string().contains("speed"), "{e}");
        let e = Config::parse("[link]\nrate_hz = 1000\n", "c.toml").unwrap_err();
        assert!(e.to_string().contains("link.rate_hz = 1000"), "{e}");
        let e = Config::parse("[[sensor]]\naddress = \"nope\"\n", "c.toml").unwrap_err();
        assert!(e.to_string().contains("sensor[0].address"), "{e}");
        let e = Config::parse("[session]\nexercise = \"squat\"\n", "c.toml").unwrap_err();
        assert!(e.to_string().starts_with("c.toml:2:"), "{e}");
    }
}
