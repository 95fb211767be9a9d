//! The daemon's parts: the user's config, and the status/control socket.
//! `medius run` (src/cli/run.rs) is the supervisor that ties them to the
//! sources, the pipeline and the logbook.

pub mod config;
pub mod status;

pub use config::{Config, ConfigError};
pub use status::{Status, StatusServer};

/// Civil date-time (UTC) for a Unix time: `YYYYmmdd-HHMMSS`, for file names.
pub fn stamp(unix_s: u64) -> String {
    let days = (unix_s / 86_400) as i64;
    let secs = unix_s % 86_400;
    // Howard Hinnant's days-from-civil, inverted.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
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
