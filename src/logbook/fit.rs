//! Garmin FIT export: one strength-training activity per session, a `set`
//! message per set (repetitions, weight in kg with the unit it was lifted
//! in, start time, duration, exercise category and name where the FIT
//! profile has them), so Garmin Connect shows the session. Several
//! sessions are chained in one file, as the FIT protocol allows.
//!
//! The encoding (header, definitions, CRC) is rustyfit's; the tests decode
//! the file back with an independent reader (fitparser).

use super::exchange::Row;
use super::{LoadUnit, LogbookError, Result};
use jiff::Timestamp;
use rustyfit::profile::mesgdef;
use rustyfit::profile::typedef::{
    Activity, DateTime, Event, EventType, ExerciseCategory, File, FitBaseUnit,
    HipStabilityExerciseName, LocalDateTime, Manufacturer, MessageIndex, SetType, Sport, SubSport,
};
use rustyfit::proto::{FileHeader, Message, FIT};
use std::io::Write;

/// FIT's exercise category and name of a medius exercise: the hip
/// stability category for the hip exercises medius knows, with a name
/// where FIT has one; nothing for other exercises (never "unknown").
pub(crate) fn exercise(id: &str, weighted: bool) -> Option<(ExerciseCategory, Option<u16>)> {
    let name = match id {
        "standing-cable-abduction" => Some(HipStabilityExerciseName::STANDING_CABLE_HIP_ABDUCTION),
        "side-lying-abduction" if weighted => {
            Some(HipStabilityExerciseName::WEIGHTED_SIDE_LYING_LEG_RAISE)
        }
        "side-lying-abduction" => Some(HipStabilityExerciseName::SIDE_LYING_LEG_RAISE),
        "seated-machine-abduction"
        | "hip-hitch"
        | "lateral-step-up"
        | "single-leg-bridge"
        | "clamshell"
        | "band-walk" => None,
        _ => return None,
    };
    Some((ExerciseCategory::HIP_STABILITY, name.map(|n| n.0)))
}

fn fit_time(at: Timestamp) -> DateTime {
    DateTime::from_unix_timestamp(at.as_second())
}

fn ms(seconds: f64) -> u32 {
    (seconds.max(0.0) * 1000.0)
        .round()
        .min(f64::from(u32::MAX - 1)) as u32
}

/// Writes `rows` (oldest first, as [`super::Logbook::export_rows`] gives
/// them) as FIT: one activity file per session, chained.
pub(crate) fn write(rows: &[Row], out: &mut dyn Write) -> Result<()> {
    let mut i = 0;
    while i < rows.len() {
        let session = rows[i].entry.session;
        let n = rows[i..]
            .iter()
            .take_while(|r| r.entry.session == session)
            .count();
        out.write_all(&activity(&rows[i..i + n])?)?;
        i += n;
    }
    out.flush()?;
    Ok(())
}

/// One session as a FIT activity file.
fn activity(rows: &[Row]) -> Result<Vec<u8>> {
    let first = &rows[0];
    let start = first.start.at;
    let mut end = first.end.max(start);
    let mut messages: Vec<Message> = Vec::new();

    let mut file_id = mesgdef::FileId::new();
    file_id.r#type = File::ACTIVITY;
    file_id.manufacturer = Manufacturer::DEVELOPMENT;
    file_id.product = 1;
    file_id.serial_number = 1;
    file_id.time_created = fit_time(start);
    file_id.product_name = "medius".into();
    messages.push(file_id.into());

    let mut ev = mesgdef::Event::new();
    ev.timestamp = fit_time(start);
    ev.event = Event::TIMER;
    ev.event_type = EventType::START;
    messages.push(ev.into());

    for (index, r) in rows.iter().enumerate() {
        let e = &r.entry;
        let at = super::time::from_stored(&e.at).unwrap_or(start);
        let held = e.duration_s.or(e.span_s);
        let set_end = super::time::plus_seconds(at, held.unwrap_or(0.0).round() as i64);
        end = end.max(set_end);
        let mut set = mesgdef::Set::new();
        set.timestamp = fit_time(set_end);
        set.start_time = fit_time(at);
        if let Some(h) = held {
            set.duration = ms(h);
        }
        set.repetitions = e.reps.min(u32::from(u16::MAX - 1)) as u16;
        set.set_type = SetType::ACTIVE;
        set.message_index = MessageIndex(index as u16);
        if let Some(l) = &e.load {
            if let Some(kg) = l.kg() {
                set.weight = (kg * 16.0).round().clamp(0.0, f64::from(u16::MAX - 1)) as u16;
            }
            set.weight_display_unit = match l.unit {
                LoadUnit::Lb => FitBaseUnit::POUND,
                LoadUnit::Kg | LoadUnit::AnkleKg => FitBaseUnit::KILOGRAM,
                _ => FitBaseUnit(u16::MAX),
            };
        }
        let weighted = e
            .load
            .as_ref()
            .is_some_and(|l| l.unit != LoadUnit::Bodyweight);
        if let Some((category, name)) = exercise(&e.exercise, weighted) {
            set.category = Box::new([category]);
            if let Some(n) = name {
                set.category_subtype = Box::new([n]);
            }
        }
        messages.push(set.into());
    }

    let elapsed = ms((end.as_second() - start.as_second()) as f64);
    let mut ev = mesgdef::Event::new();
    ev.timestamp = fit_time(end);
    ev.event = Event::TIMER;
    ev.event_type = EventType::STOP_ALL;
    messages.push(ev.into());

    let mut lap = mesgdef::Lap::new();
    lap.message_index = MessageIndex(0);
    lap.timestamp = fit_time(end);
    lap.start_time = fit_time(start);
    lap.total_elapsed_time = elapsed;
    lap.total_timer_time = elapsed;
    lap.event = Event::LAP;
    lap.event_type = EventType::STOP;
    lap.sport = Sport::TRAINING;
    lap.sub_sport = SubSport::STRENGTH_TRAINING;
    messages.push(lap.into());

    let mut session = mesgdef::Session::new();
    session.message_index = MessageIndex(0);
    session.timestamp = fit_time(end);
    session.start_time = fit_time(start);
    session.total_elapsed_time = elapsed;
    session.total_timer_time = elapsed;
    session.event = Event::SESSION;
    session.event_type = EventType::STOP;
    session.sport = Sport::TRAINING;
    session.sub_sport = SubSport::STRENGTH_TRAINING;
    session.first_lap_index = 0;
    session.num_laps = 1;
    messages.push(session.into());

    let mut act = mesgdef::Activity::new();
    act.timestamp = fit_time(end);
    act.total_timer_time = elapsed;
    act.num_sessions = 1;
    act.r#type = Activity::MANUAL;
    act.event = Event::ACTIVITY;
    act.event_type = EventType::STOP;
    act.local_timestamp = LocalDateTime(fit_time(end).0.wrapping_add_signed(first.start.offset_s));
    messages.push(act.into());

    let mut fit = FIT {
        file_header: FileHeader::default(),
        messages,
        crc: 0,
    };
    let mut cursor = embedded_io_adapters::std::FromStd::new(std::io::Cursor::new(Vec::new()));
    rustyfit::Encoder::new()
        .encode(&mut cursor, &mut fit)
        .map_err(|e| LogbookError::Io(std::io::Error::other(format!("FIT: {e}"))))?;
    Ok(cursor.into_inner().into_inner())
}
