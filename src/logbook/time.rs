//! When a set was done. An instant is stored in UTC
//! (`2026-11-20T17:00:00Z`, so the text sorts as time does, across midnight,
//! DST changes and travel) beside the offset from UTC it was recorded at;
//! it is shown, and typed, in the local time zone (`TZ`, else the system's).

use jiff::civil::DateTime;
use jiff::tz::{Offset, TimeZone};
use jiff::{SignedDuration, Timestamp};

/// An instant and the offset from UTC where it was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// The instant, to the second.
    pub at: Timestamp,
    /// Seconds east of UTC where (and when) it was recorded.
    pub offset_s: i32,
}

impl Stamp {
    /// An instant recorded here: the offset is the local zone's at that instant.
    pub fn here(at: Timestamp) -> Stamp {
        let at = whole_seconds(at);
        Stamp {
            at,
            offset_s: TimeZone::system().to_offset(at).seconds(),
        }
    }

    /// Now, here.
    pub fn now() -> Stamp {
        Stamp::here(Timestamp::now())
    }

    /// As stored: UTC, `YYYY-MM-DDTHH:MM:SSZ`.
    pub fn stored(&self) -> String {
        stored(self.at)
    }

    /// As it read on the clock where it was recorded, with that offset:
    /// `2026-11-20T18:00:00+01:00`.
    pub fn rfc3339(&self) -> String {
        let off = Offset::from_seconds(self.offset_s).unwrap_or(Offset::UTC);
        format!(
            "{}{}",
            self.at
                .to_zoned_datetime(TimeZone::fixed(off))
                .strftime("%Y-%m-%dT%H:%M:%S"),
            offset_text(self.offset_s)
        )
    }
}

fn whole_seconds(at: Timestamp) -> Timestamp {
    Timestamp::from_second(at.as_second()).unwrap_or(at)
}

/// An instant as stored: UTC, `YYYY-MM-DDTHH:MM:SSZ`.
pub fn stored(at: Timestamp) -> String {
    whole_seconds(at).strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Reads a stored instant (or any RFC 3339 time with an offset).
pub fn from_stored(text: &str) -> Option<Timestamp> {
    text.trim().parse::<Timestamp>().ok()
}

/// `+01:00`, `-05:00`, `+05:45`.
pub fn offset_text(offset_s: i32) -> String {
    let sign = if offset_s < 0 { '-' } else { '+' };
    let m = offset_s.unsigned_abs() / 60;
    format!("{sign}{:02}:{:02}", m / 60, m % 60)
}

/// The local date and time of an instant.
pub fn local(at: Timestamp) -> DateTime {
    at.to_zoned_datetime(TimeZone::system()).datetime()
}

/// A stored instant shown in the local zone, `YYYY-MM-DD HH:MM:SS`; text
/// that is not a stored instant is shown as it is.
pub fn local_text(stored: &str) -> String {
    match from_stored(stored) {
        Some(at) => local(at).strftime("%Y-%m-%d %H:%M:%S").to_string(),
        None => stored.to_string(),
    }
}

/// The instant of a local date and time. A time that a DST change skips or
/// repeats is read as the clocks most likely showed (jiff's "compatible":
/// the later reading in a gap, the earlier in a fold).
pub fn from_local(dt: DateTime) -> Option<Timestamp> {
    TimeZone::system()
        .to_ambiguous_timestamp(dt)
        .compatible()
        .ok()
}

/// What a lifter types as a time: 'YYYY-MM-DD', 'YYYY-MM-DD HH:MM[:SS]'
/// (local time; `time` fills in a date alone) or an RFC 3339 time with its
/// offset ('2026-11-20T18:00:00+01:00', '…Z'). Only days that exist.
pub fn parse_user(text: &str, time: &str) -> Option<Stamp> {
    let t = text.trim();
    if let Some(at) = from_stored(t) {
        let offset_s = offset_suffix(t)?;
        return Some(Stamp {
            at: whole_seconds(at),
            offset_s,
        });
    }
    let civil = super::write::civil_time(t, time)?;
    let dt: DateTime = civil.replace(' ', "T").parse().ok()?;
    Some(Stamp::here(from_local(dt)?))
}

/// The offset at the end of an RFC 3339 time, in seconds.
fn offset_suffix(t: &str) -> Option<i32> {
    if t.ends_with(['Z', 'z']) {
        return Some(0);
    }
    let tail = t.get(t.len().checked_sub(6)?..)?;
    let sign = match tail.as_bytes()[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let h: i32 = tail.get(1..3)?.parse().ok()?;
    let m: i32 = tail.get(4..6)?.parse().ok()?;
    Some(sign * (h * 3600 + m * 60))
}

/// `at` moved by whole seconds.
pub fn plus_seconds(at: Timestamp, s: i64) -> Timestamp {
    at.checked_add(SignedDuration::from_secs(s)).unwrap_or(at)
}

/// Now minus `days` calendar days in the local zone, stored.
pub fn days_ago(days: u32) -> String {
    let now = Timestamp::now().to_zoned_datetime(TimeZone::system());
    let then = now
        .checked_sub(jiff::Span::new().days(i64::from(days)))
        .map(|z| z.timestamp())
        .unwrap_or_else(|_| now.timestamp());
    stored(then)
}

/// The Monday (local date) of the week a stored instant falls in.
pub fn week_of(stored: &str) -> String {
    let Some(at) = from_stored(stored) else {
        return stored.get(..10).unwrap_or(stored).to_string();
    };
    let d = local(at).date();
    let monday = d
        .checked_sub(jiff::Span::new().days(i64::from(d.weekday().to_monday_zero_offset())))
        .unwrap_or(d);
    monday.strftime("%Y-%m-%d").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_and_stored_text() {
        assert_eq!(offset_text(3600), "+01:00");
        assert_eq!(offset_text(-5 * 3600), "-05:00");
        assert_eq!(offset_text(5 * 3600 + 45 * 60), "+05:45");
        let s = parse_user("2026-11-20T18:00:00+01:00", "12:00:00").unwrap();
        assert_eq!(s.stored(), "2026-11-20T17:00:00Z");
        assert_eq!(s.offset_s, 3600);
        assert_eq!(s.rfc3339(), "2026-11-20T18:00:00+01:00");
        let z = parse_user("2026-03-29T00:30:00Z", "12:00:00").unwrap();
        assert_eq!(z.offset_s, 0);
        assert_eq!(from_stored(&z.stored()), Some(z.at));
        assert!(parse_user("2026-02-30", "12:00:00").is_none());
        assert!(parse_user("yesterday", "12:00:00").is_none());
    }
}
