//! The daemon's parts: the user's config, and the status/control socket.
//! The daemon itself is the session core (`src/session/`, a pure state
//! machine) and the thin shell of `medius run` (`src/cli/run.rs`) that ties
//! it to the sources, these parts and the logbook.

pub mod config;
pub mod status;

pub use config::{Config, ConfigError};
pub use status::{Status, StatusServer};

/// Civil date-time (UTC) for a Unix time: `YYYYmmdd-HHMMSS`, for file names.
pub fn stamp(unix_s: u64) -> String {
    i64::try_from(unix_s)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .strftime("%Y%m%d-%H%M%S")
        .to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn stamps() {
        assert_eq!(super::stamp(0), "19700101-000000");
        assert_eq!(super::stamp(1_795_392_000), "20261123-000000");
        assert_eq!(super::stamp(951_782_400 + 3661), "20000229-010101");
    }
}
