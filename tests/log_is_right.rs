//! Issue 14, "the log must be right": sessions by the time sets were done
//! (midnight, DST, back-filled sets), simulated sets kept apart, lossless
//! round trips through Strong, Hevy and JSON, the FIT export decoded back
//! by an independent reader, and the schema 3 → 4 migration row by row.

use std::process::{Command, Output};

#[path = "support/home.rs"]
mod home;
use home::Home;

impl Home {
    /// medius on `book` in time zone `tz`.
    fn on(&self, book: &str, tz: &str, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_medius"))
            .args(args)
            .env("MEDIUS_LOGBOOK", self.path(book))
            .env("MEDIUS_SOCKET", self.path("medius.sock"))
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_DATA_HOME", self.path("data"))
            .env("TZ", tz)
            .env_remove("MEDIUS_CONFIG")
            .output()
            .unwrap()
    }
    fn ok(&self, book: &str, tz: &str, args: &[&str]) -> String {
        let o = self.on(book, tz, args);
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }
    fn json(&self, book: &str, tz: &str, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.ok(book, tz, args)).unwrap()
    }
}

const BERLIN: &str = "Europe/Berlin";

fn add(h: &Home, tz: &str, args: &[&str]) {
    let mut a = vec!["log", "add"];
    a.extend_from_slice(args);
    h.ok("log.sqlite3", tz, &a);
}

fn sessions(log: &serde_json::Value) -> Vec<i64> {
    let mut s: Vec<i64> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["session"].as_i64().unwrap())
        .collect();
    s.sort_unstable();
    s.dedup();
    s
}

/// A set typed in afterwards for earlier that evening belongs to that
/// evening's session (it used to start a session of its own, so the other
/// side's set was not its partner and the evening was two workouts).
#[test]
fn a_backfilled_set_joins_the_session_it_was_done_in() {
    let h = Home::new();
    let ex = ["-e", "hip-hitch", "--reps", "12", "--load", "4kg"];
    add(
        &h,
        "UTC",
        &[&ex[..], &["-s", "left", "--date", "2026-11-20 18:30"]].concat(),
    );
    add(
        &h,
        "UTC",
        &[&ex[..], &["-s", "right", "--date", "2026-11-20 18:00"]].concat(),
    );
    // Two days later, another session.
    add(
        &h,
        "UTC",
        &[&ex[..], &["-s", "left", "--date", "2026-11-22 18:00"]].concat(),
    );
    let log = h.json("log.sqlite3", "UTC", &["log", "--json"]);
    let by_day = |day: &str| -> Vec<i64> {
        log.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["performed_at"].as_str().unwrap().starts_with(day))
            .map(|e| e["session"].as_i64().unwrap())
            .collect()
    };
    let evening = by_day("2026-11-20");
    assert_eq!(evening.len(), 2);
    assert_eq!(evening[0], evening[1], "one evening, one session: {log}");
    assert_ne!(by_day("2026-11-22")[0], evening[0]);
    // A set between two sessions that bridges them joins them.
    add(
        &h,
        "UTC",
        &[&ex[..], &["-s", "left", "--date", "2026-11-20 20:45"]].concat(),
    );
    add(
        &h,
        "UTC",
        &[&ex[..], &["-s", "left", "--date", "2026-11-20 23:30"]].concat(),
    );
    let log = h.json(
        "log.sqlite3",
        "UTC",
        &["log", "--json", "--since", "2026-11-20"],
    );
    assert_eq!(sessions(&log).len(), 2, "{log}");
}

/// A session that runs past midnight, or over the night the clocks
/// change, is one session: one workout in the exports, one "last
/// session" for `next`.
#[test]
fn a_session_across_midnight_or_a_dst_change_stays_one() {
    let h = Home::new();
    // 29 March 2026, Berlin: 02:00 CET becomes 03:00 CEST. From 00:50 to
    // 04:20 on the clock is 2 h 30 min.
    for (at, reps) in [
        ("2026-03-29 00:50", "12"),
        ("2026-03-29 01:40", "13"),
        ("2026-03-29 03:10", "14"),
        ("2026-03-29 04:20", "15"),
    ] {
        add(
            &h,
            BERLIN,
            &[
                "-e",
                "clamshell",
                "--reps",
                reps,
                "--load",
                "band red",
                "--date",
                at,
            ],
        );
    }
    let log = h.json("log.sqlite3", BERLIN, &["log", "--json"]);
    assert_eq!(sessions(&log).len(), 1, "{log}");
    let first = &log.as_array().unwrap()[3];
    assert_eq!(first["performed_at"], "2026-03-29 00:50:00");
    assert_eq!(first["at"], "2026-03-29T00:50:00+01:00");
    assert_eq!(log[0]["at"], "2026-03-29T04:20:00+02:00");
    let strong = h.ok("log.sqlite3", BERLIN, &["export", "--format", "strong"]);
    let rows: Vec<&str> = strong.lines().skip(1).collect();
    assert_eq!(rows.len(), 4);
    for r in &rows {
        assert!(
            r.starts_with("2026-03-29 00:50:00;medius;"),
            "one start: {r}"
        );
        assert!(r.ends_with(";2h 30m"), "one duration: {r}");
    }
    let hevy = h.ok("log.sqlite3", BERLIN, &["export", "--format", "hevy"]);
    for r in hevy.lines().skip(1) {
        assert!(
            r.starts_with("medius,\"29 Mar 2026, 00:50\",\"29 Mar 2026, 04:20\","),
            "{r}"
        );
    }

    // Across midnight: the best set of the session was before midnight.
    let h = Home::new();
    let sc = [
        "-e",
        "standing-cable-abduction",
        "-s",
        "left",
        "--load",
        "12.5kg",
    ];
    add(
        &h,
        BERLIN,
        &[&sc[..], &["--reps", "20", "--date", "2026-11-20 23:30"]].concat(),
    );
    add(
        &h,
        BERLIN,
        &[&sc[..], &["--reps", "12", "--date", "2026-11-21 00:20"]].concat(),
    );
    let lb = medius::logbook::Logbook::open_read_only(&h.path("log.sqlite3")).unwrap();
    let t = lb
        .target_for("standing-cable-abduction", Some("left"), false)
        .unwrap();
    assert_eq!(t.last_reps, 20, "{t:?}");
    let log = h.json("log.sqlite3", BERLIN, &["log", "--json"]);
    assert_eq!(sessions(&log).len(), 1, "{log}");
}

/// Instants are kept with the offset they were recorded at and shown in
/// the local zone of whoever looks.
#[test]
fn times_are_instants_shown_in_the_local_zone() {
    let h = Home::new();
    add(
        &h,
        "America/New_York",
        &[
            "-e",
            "clamshell",
            "--reps",
            "20",
            "--date",
            "2026-11-20 18:00",
        ],
    );
    let ny = h.json("log.sqlite3", "America/New_York", &["log", "--json"]);
    assert_eq!(ny[0]["performed_at"], "2026-11-20 18:00:00");
    assert_eq!(ny[0]["at"], "2026-11-20T18:00:00-05:00");
    let berlin = h.json("log.sqlite3", BERLIN, &["log", "--json"]);
    assert_eq!(berlin[0]["performed_at"], "2026-11-21 00:00:00");
    assert_eq!(berlin[0]["at"], "2026-11-20T18:00:00-05:00");
    let table = h.ok("log.sqlite3", BERLIN, &["log"]);
    assert!(table.contains("2026-11-21 00:00"), "{table}");
    // --since is local too: midnight in Berlin is after 18:00 in New York.
    let since = h.json(
        "log.sqlite3",
        BERLIN,
        &["log", "--json", "--since", "2026-11-21"],
    );
    assert_eq!(since.as_array().unwrap().len(), 1);
    let since = h.json(
        "log.sqlite3",
        "America/New_York",
        &["log", "--json", "--since", "2026-11-21"],
    );
    assert_eq!(since.as_array().unwrap().len(), 0);
}

/// `run --sensor sim` (the README's first command) and a replay save sets
/// marked as such; they stay out of log, next, trend and export unless
/// --include-sim; `run` with no sensor configured says it simulates.
#[test]
fn simulated_sets_are_marked_and_kept_out_of_the_log() {
    let h = Home::new();
    let o = h.on(
        "log.sqlite3",
        "UTC",
        &["run", "--speed", "0", "--sets", "1", "--no-record"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("SIMULATING"), "{err}");
    let pending = h.json(
        "log.sqlite3",
        "UTC",
        &["log", "--pending", "--json", "--include-sim"],
    );
    let set = &pending[0];
    assert_eq!(set["source"], "sim", "{pending}");
    let id = set["id"].as_i64().unwrap().to_string();
    let hidden = h.json("log.sqlite3", "UTC", &["log", "--pending", "--json"]);
    assert_eq!(hidden.as_array().unwrap().len(), 0);
    h.ok(
        "log.sqlite3",
        "UTC",
        &["review", &id, "--dismiss", "all", "--verify"],
    );
    let log = h.json("log.sqlite3", "UTC", &["log", "--json"]);
    assert_eq!(log.as_array().unwrap().len(), 0, "{log}");
    let log = h.json("log.sqlite3", "UTC", &["log", "--json", "--include-sim"]);
    assert_eq!(log.as_array().unwrap().len(), 1, "{log}");
    let next = h.json("log.sqlite3", "UTC", &["next", "--json"]);
    assert_eq!(next.as_array().unwrap().len(), 0, "{next}");
    let next = h.json("log.sqlite3", "UTC", &["next", "--json", "--include-sim"]);
    assert_eq!(next.as_array().unwrap().len(), 1, "{next}");
    let ex = log[0]["exercise"].as_str().unwrap().to_string();
    let trend = h.json("log.sqlite3", "UTC", &["trend", "-e", &ex, "--json"]);
    assert_eq!(trend.as_array().unwrap().len(), 0);
    let trend = h.json(
        "log.sqlite3",
        "UTC",
        &["trend", "-e", &ex, "--json", "--include-sim"],
    );
    assert_eq!(trend.as_array().unwrap().len(), 1);
    let csv = h.ok("log.sqlite3", "UTC", &["export", "--format", "strong"]);
    assert_eq!(csv.lines().count(), 1, "header only: {csv}");
    let csv = h.ok(
        "log.sqlite3",
        "UTC",
        &["export", "--format", "strong", "--include-sim"],
    );
    assert_eq!(csv.lines().count(), 2);

    // A replayed recording is a replay.
    let rec = h.path("rec.csv");
    h.ok(
        "log.sqlite3",
        "UTC",
        &[
            "simulate",
            "-e",
            "side-lying-abduction",
            "-p",
            "ankle",
            "-s",
            "left",
            "--sets",
            "1",
            "-o",
            rec.to_str().unwrap(),
        ],
    );
    let replay = format!("replay:{}", rec.display());
    let o = h.on(
        "log.sqlite3",
        "UTC",
        &[
            "run",
            "--sensor",
            &replay,
            "--speed",
            "0",
            "-e",
            "side-lying-abduction",
            "-p",
            "ankle",
            "--no-record",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!String::from_utf8_lossy(&o.stderr).contains("SIMULATING"));
    let pending = h.json(
        "log.sqlite3",
        "UTC",
        &["log", "--pending", "--json", "--include-sim"],
    );
    assert!(
        pending
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["source"] == "replay"),
        "{pending}"
    );
}

/// A logbook with one set in each kind of load, a timed set, notes, a
/// tempo and RIR, a sensor set with reps and flags, over two sessions.
fn varied_logbook(h: &Home) {
    for args in [
        &[
            "-e",
            "standing-cable-abduction",
            "-s",
            "left",
            "--reps",
            "12",
            "--load",
            "12.5kg",
            "--rir",
            "2",
            "--date",
            "2026-11-02 18:00",
        ][..],
        &[
            "-e",
            "standing-cable-abduction",
            "-s",
            "right",
            "--reps",
            "11",
            "--load",
            "25lb",
            "--notes",
            "right hikes",
            "--date",
            "2026-11-02 18:05",
        ],
        &[
            "-e",
            "seated-machine-abduction",
            "--reps",
            "15",
            "--load",
            "pin 7",
            "--tempo",
            "2-1-3",
            "--date",
            "2026-11-02 18:12",
        ],
        &[
            "-e",
            "clamshell",
            "-s",
            "left",
            "--reps",
            "20",
            "--load",
            "band red",
            "--date",
            "2026-11-02 18:20",
        ],
        &[
            "-e",
            "side-lying-abduction",
            "-s",
            "left",
            "--reps",
            "14",
            "--load",
            "ankle 2kg",
            "--date",
            "2026-11-04 07:30",
        ],
        &[
            "-e",
            "hip-hitch",
            "-s",
            "right",
            "--reps",
            "16",
            "--load",
            "bodyweight",
            "--notes",
            "=1+1 no formula",
            "--date",
            "2026-11-04 07:35",
        ],
        &[
            "-e",
            "hip-hitch",
            "-s",
            "right",
            "--reps",
            "10",
            "--date",
            "2026-11-04 07:40",
        ],
    ] {
        add(h, BERLIN, args);
    }
    h.ok(
        "log.sqlite3",
        BERLIN,
        &[
            "exercises",
            "add",
            "side-plank",
            "--name",
            "Side plank",
            "--reps",
            "1-3",
        ],
    );
    add(
        h,
        BERLIN,
        &[
            "-e",
            "side-plank",
            "-s",
            "left",
            "--seconds",
            "45",
            "--date",
            "2026-11-04 07:45",
        ],
    );
    // A sensor set with its reps and flags.
    let rec = h.path("rec.csv");
    h.ok(
        "log.sqlite3",
        BERLIN,
        &[
            "simulate",
            "-e",
            "standing-cable-abduction",
            "-p",
            "pelvis",
            "-s",
            "left",
            "--sets",
            "1",
            "--seed",
            "3",
            "-o",
            rec.to_str().unwrap(),
        ],
    );
    let ids = h.json(
        "log.sqlite3",
        BERLIN,
        &[
            "import",
            rec.to_str().unwrap(),
            "-e",
            "standing-cable-abduction",
            "-p",
            "pelvis",
            "-s",
            "left",
            "--load",
            "15kg",
            "--date",
            "2026-11-06 19:00",
            "--json",
        ],
    );
    let id = ids["set_ids"][0].as_i64().unwrap().to_string();
    h.ok(
        "log.sqlite3",
        BERLIN,
        &["review", &id, "--confirm", "all", "--verify"],
    );
}

/// Export → import into an empty logbook → export gives the same bytes,
/// for Strong, Hevy and JSON, with every kind of load; importing an
/// export into the logbook it came from adds nothing.
#[test]
fn round_trips_are_byte_identical_and_idempotent() {
    let h = Home::new();
    varied_logbook(&h);
    for (format, app) in [("strong", "strong"), ("hevy", "hevy"), ("json", "json")] {
        let first = h.path(&format!("first.{format}"));
        let second = h.path(&format!("second.{format}"));
        let book = format!("{format}.sqlite3");
        h.ok(
            "log.sqlite3",
            BERLIN,
            &["export", "--format", format, "-o", first.to_str().unwrap()],
        );
        let out = h.ok(&book, BERLIN, &["import-log", app, first.to_str().unwrap()]);
        assert!(
            out.starts_with("9 sets added (1 timed), 0 already"),
            "{format}: {out}"
        );
        h.ok(
            &book,
            BERLIN,
            &["export", "--format", format, "-o", second.to_str().unwrap()],
        );
        let (a, b) = (
            std::fs::read(&first).unwrap(),
            std::fs::read(&second).unwrap(),
        );
        assert!(
            a == b,
            "{format} round trip differs:\n{}\n---\n{}",
            String::from_utf8_lossy(&a),
            String::from_utf8_lossy(&b)
        );
        // Into the logbook it came from, and a second time into the copy.
        for book in ["log.sqlite3", book.as_str()] {
            let out = h.ok(book, BERLIN, &["import-log", app, first.to_str().unwrap()]);
            assert!(
                out.starts_with("0 sets added, 9 already"),
                "{format} into {book}: {out}"
            );
        }
    }
    // Part of the log (whole sessions since a day) is known too.
    let part = h.path("part.csv");
    h.ok(
        "log.sqlite3",
        BERLIN,
        &[
            "export",
            "--format",
            "strong",
            "--since",
            "2026-11-04",
            "-o",
            part.to_str().unwrap(),
        ],
    );
    assert_eq!(std::fs::read_to_string(&part).unwrap().lines().count(), 6);
    let out = h.ok(
        "log.sqlite3",
        BERLIN,
        &["import-log", "strong", part.to_str().unwrap()],
    );
    assert!(out.starts_with("0 sets added, 5 already"), "{out}");
    // The loads came back as they were lifted (JSON keeps everything, the
    // CSVs too, through their notes).
    for book in ["strong.sqlite3", "hevy.sqlite3", "json.sqlite3"] {
        let log = h.json(book, BERLIN, &["log", "--json"]);
        let mut loads: Vec<String> = log
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let l = &e["load"];
                if l.is_null() {
                    "-".into()
                } else {
                    format!("{} {} {}", l["value"], l["unit"], l["label"])
                }
            })
            .collect();
        loads.sort();
        assert_eq!(
            loads,
            [
                "-",
                "-",
                "0.0 \"bodyweight\" null",
                "12.5 \"kg\" null",
                "15.0 \"kg\" null",
                "2.0 \"ankle-kg\" null",
                "2.0 \"band\" \"red\"",
                "25.0 \"lb\" null",
                "7.0 \"pin\" null"
            ],
            "{book}"
        );
    }
    let json = h.json("json.sqlite3", BERLIN, &["log", "--json"]);
    let sensor = json
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["source"] == "sensor")
        .expect("the sensor set keeps its source");
    assert!(sensor["median_peak_deg"].as_f64().is_some());
}

/// Strong's other layout (semicolons, a Weight Unit column) is read, and
/// a timed exercise comes in as a timed set, counted as added.
#[test]
fn strong_semicolon_layout_and_timed_sets() {
    let h = Home::new();
    let file = h.path("strong.csv");
    std::fs::write(
        &file,
        "Date;Workout Name;Exercise Name;Set Order;Weight;Weight Unit;Reps;RPE;Distance;Distance Unit;Seconds;Notes;Workout Notes;Workout Duration\n\
         2026-10-05 18:01:00;\"Legs\";\"Hip Abduction (Machine)\";1;90;lbs;12;8;;;0;\"\";\"\";50m\n\
         2026-10-05 18:01:00;\"Legs\";\"Hip Abduction (Machine)\";2;40;kg;10;;;;0;;;50m\n\
         2026-10-05 18:01:00;\"Legs\";\"Plank\";1;0;kg;0;;;;60;;;50m\n\
         2026-10-05 18:01:00;\"Legs\";\"Rest Timer\";1;;;;;;;0;;;50m\n\
         2026-10-05 18:01:00;\"Legs\";\"Running\";1;;;;;3;km;900;;;50m\n",
    )
    .unwrap();
    let out = h.ok(
        "log.sqlite3",
        "UTC",
        &["import-log", "strong", file.to_str().unwrap()],
    );
    assert!(
        out.starts_with("3 sets added (1 timed), 0 already in the log, 2 rows skipped"),
        "{out}"
    );
    let log = h.json("log.sqlite3", "UTC", &["log", "--json"]);
    let rows = log.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(sessions(&log).len(), 1);
    let plank = rows.iter().find(|e| e["exercise"] == "plank").unwrap();
    assert_eq!(
        (plank["reps"].as_u64(), plank["duration_s"].as_f64()),
        (Some(0), Some(60.0))
    );
    let lb: Vec<String> = rows
        .iter()
        .filter(|e| e["exercise"] == "hip-abduction-machine")
        .map(|e| format!("{}{}", e["load"]["value"], e["load"]["unit"]))
        .collect();
    assert_eq!(lb.len(), 2);
    assert!(lb.contains(&"90.0\"lb\"".to_string()), "{lb:?}");
    assert!(lb.contains(&"40.0\"kg\"".to_string()), "{lb:?}");
    let table = h.ok("log.sqlite3", "UTC", &["log"]);
    assert!(table.contains("60s"), "{table}");
    // The workout's duration came with it.
    let strong = h.ok("log.sqlite3", "UTC", &["export", "--format", "strong"]);
    assert!(strong.lines().nth(1).unwrap().ends_with(";50m"), "{strong}");
}

/// The FIT export, decoded back by fitparser: one activity per session,
/// strength training, a set message per set with its reps, weight and unit,
/// start time and exercise category and name.
#[test]
fn fit_export_decodes_back_to_the_same_sets() {
    use fitparser::profile::MesgNum;
    use fitparser::Value;
    let h = Home::new();
    varied_logbook(&h);
    let o = h.on("log.sqlite3", BERLIN, &["export", "--format", "fit"]);
    assert_eq!(o.status.code(), Some(2), "FIT needs a file");
    let file = h.path("medius.fit");
    h.ok(
        "log.sqlite3",
        BERLIN,
        &["export", "--format", "fit", "-o", file.to_str().unwrap()],
    );
    let bytes = std::fs::read(&file).unwrap();
    let records = fitparser::from_bytes(&bytes).expect("a valid FIT file (CRCs checked)");
    // A one-element array field reads back as its element.
    let field = |r: &fitparser::FitDataRecord, name: &str| -> Option<Value> {
        r.fields()
            .iter()
            .find(|f| f.name() == name)
            .map(|f| match f.value() {
                Value::Array(v) if v.len() == 1 => v[0].clone(),
                v => v.clone(),
            })
    };
    let sessions: Vec<_> = records
        .iter()
        .filter(|r| r.kind() == MesgNum::Session)
        .collect();
    assert_eq!(sessions.len(), 3, "three sessions, three activities");
    for s in &sessions {
        assert_eq!(field(s, "sport"), Some(Value::String("training".into())));
        assert_eq!(
            field(s, "sub_sport"),
            Some(Value::String("strength_training".into()))
        );
    }
    // The last session alone, for Garmin Connect.
    let last = h.path("last.fit");
    h.ok(
        "log.sqlite3",
        BERLIN,
        &[
            "export",
            "--format",
            "fit",
            "--since",
            "2026-11-06",
            "-o",
            last.to_str().unwrap(),
        ],
    );
    let only = fitparser::from_bytes(&std::fs::read(&last).unwrap()).unwrap();
    assert_eq!(
        only.iter().filter(|r| r.kind() == MesgNum::Session).count(),
        1
    );
    assert_eq!(only.iter().filter(|r| r.kind() == MesgNum::Set).count(), 1);
    let sets: Vec<_> = records
        .iter()
        .filter(|r| r.kind() == MesgNum::Set)
        .collect();
    let log = h.json("log.sqlite3", BERLIN, &["log", "--json"]);
    let mut log: Vec<&serde_json::Value> = log.as_array().unwrap().iter().collect();
    log.reverse();
    assert_eq!(sets.len(), log.len());
    for (s, e) in sets.iter().zip(&log) {
        let reps = match field(s, "repetitions") {
            Some(Value::UInt16(n)) => n as u64,
            other => panic!("repetitions: {other:?}"),
        };
        assert_eq!(reps, e["reps"].as_u64().unwrap(), "{e}");
        let kg = match field(s, "weight") {
            Some(Value::Float64(w)) => Some(w),
            None => None,
            other => panic!("weight: {other:?}"),
        };
        let unit = field(s, "weight_display_unit");
        match (e["load"]["unit"].as_str(), e["load"]["value"].as_f64()) {
            (Some("kg" | "ankle-kg"), Some(v)) => {
                assert!((kg.unwrap() - v).abs() < 1.0 / 16.0, "{e} {kg:?}");
                assert_eq!(unit, Some(Value::String("kilogram".into())));
            }
            (Some("lb"), Some(v)) => {
                assert!((kg.unwrap() - v * 0.453_592_37).abs() < 1.0 / 16.0);
                assert_eq!(unit, Some(Value::String("pound".into())));
            }
            (Some("bodyweight"), _) => assert_eq!(kg, Some(0.0)),
            _ => assert_eq!(kg, None, "pin, band, none: no weight"),
        }
        let start = match field(s, "start_time") {
            Some(Value::Timestamp(t)) => t.timestamp(),
            other => panic!("start_time: {other:?}"),
        };
        let at: jiff::Timestamp = e["at"].as_str().unwrap().parse().unwrap();
        assert_eq!(start, at.as_second());
        let category = field(s, "category");
        let name = field(s, "category_subtype");
        match e["exercise"].as_str().unwrap() {
            "standing-cable-abduction" => {
                assert_eq!(category, Some(Value::String("hip_stability".into())));
                assert_eq!(name, Some(Value::UInt16(27)));
            }
            "side-lying-abduction" => {
                assert_eq!(name, Some(Value::UInt16(22)), "weighted: an ankle weight");
            }
            "side-plank" => assert_eq!(category, None, "no category rather than unknown"),
            _ => assert_eq!(category, Some(Value::String("hip_stability".into()))),
        }
    }
}

/// The schema 3 → 4 migration, row by row: a logbook as today's medius
/// writes it (local times, sim and replay sets marked 'sensor'), with data
/// in every table, opened by this medius in Berlin.
#[test]
fn migration_from_schema_3_keeps_and_fixes_every_row() {
    use rusqlite::Connection;
    let h = Home::new();
    let path = h.path("log.sqlite3");
    {
        let c = Connection::open(&path).unwrap();
        for sql in &medius::logbook::MIGRATIONS[..3] {
            c.execute_batch(sql).unwrap();
        }
        c.execute_batch(
            "PRAGMA user_version = 3;
             INSERT INTO exercises (id, name, rep_min, rep_max, load_step, load_step_unit)
                 VALUES ('plank', 'Plank', 1, 3, NULL, NULL);
             INSERT INTO sessions (id, started_at, notes) VALUES
                 (1, '2026-11-20 18:00:00', ''), (2, '2026-07-01 09:00:00', 'summer');
             INSERT INTO recordings (id, path, sha256, sensor, samples, exercise_id, placement, side, started_at, closed) VALUES
                 (1, '/r/a-sim.csv', 'aa', 'sim', 100, 'hip-hitch', 'pelvis', 'left', '2026-11-20 18:00:00', 1),
                 (2, '/r/b.csv', 'bb', 'replay:/r/old.csv', 100, 'hip-hitch', 'pelvis', 'left', '2026-11-20 18:05:00', 1),
                 (3, '/r/c.csv', 'cc', 'C0:FF:EE:00:00:01', 100, 'hip-hitch', 'pelvis', 'left', '2026-07-01 09:00:00', 1),
                 (4, '/r/d.csv', 'dd', 'import', 100, NULL, NULL, NULL, '2026-07-01 09:10:00', 1);
             INSERT INTO sets (id, session_id, exercise_id, side, placement, load_value, load_unit, load_label, reps,
                               rir, technique_notes, source, state, recording_id, start_s, end_s, confidence,
                               performed_at, created_at, verified_at, import_key, doubts) VALUES
                 (1, 1, 'hip-hitch', 'left', 'pelvis', 4, 'kg', NULL, 12, NULL, '', 'sensor', 'verified', 1, 3.0, 40.0, 0.9,
                  '2026-11-20 18:00:00', '2026-11-20 18:00:41', '2026-11-20 19:00:00', NULL, '[]'),
                 (2, 1, 'hip-hitch', 'right', 'pelvis', 4, 'kg', NULL, 11, 2, 'hike', 'sensor', 'pending', 2, 5.0, 45.0, 0.7,
                  '2026-11-20 18:05:00', '2026-11-20 18:05:46', NULL, NULL, NULL),
                 (3, 2, 'hip-hitch', 'left', 'pelvis', NULL, NULL, NULL, 14, NULL, '', 'sensor', 'verified', 3, 1.0, 50.0, 1.0,
                  '2026-07-01 09:00:00', '2026-07-01 09:00:51', '2026-07-01 10:00:00', NULL, NULL),
                 (4, 2, 'hip-hitch', 'right', 'pelvis', NULL, NULL, NULL, 9, NULL, '', 'sensor', 'discarded', 4, 1.0, 20.0, 0.5,
                  '2026-07-01 09:10:00', '2026-07-01 09:10:21', NULL, NULL, NULL),
                 (5, 2, 'clamshell', 'left', NULL, 2, 'band', 'red', 20, 1, 'slow', 'manual', 'verified', NULL, NULL, NULL, NULL,
                  '2026-07-01 09:20:00', '2026-07-01 09:20:00', '2026-07-01 09:20:00', 'strong|x|Clamshell|1', NULL),
                 (6, 2, 'plank', NULL, NULL, NULL, NULL, NULL, 0, NULL, '', 'manual', 'verified', NULL, NULL, NULL, NULL,
                  '2026-07-01 09:25:00', '2026-07-01 09:25:00', '2026-07-01 09:25:00', NULL, NULL);
             INSERT INTO reps (id, set_id, number, start_s, end_s, peak_deg, concentric_s, pause_s, eccentric_s, counted) VALUES
                 (1, 1, 1, 3.0, 6.0, 5.5, 1.0, 0.5, 1.5, 1), (2, 2, 1, 5.0, 8.0, 6.0, 1.0, 0.5, 1.5, 1),
                 (3, 3, 1, 1.0, 4.0, 7.0, 1.0, 0.5, 1.5, 1), (4, 4, 1, 1.0, 4.0, 3.0, 1.0, 0.5, 1.5, 0);
             INSERT INTO flags (id, rep_id, kind, value_deg, rate_dps, review) VALUES
                 (1, 2, 'hip_hike', 9.5, NULL, 'confirmed'), (2, 3, 'trunk_sway', 4.0, NULL, 'open');",
        )
        .unwrap();
    }
    let dump = |c: &Connection, sql: &str| -> Vec<Vec<String>> {
        let mut st = c.prepare(sql).unwrap();
        let n = st.column_count();
        st.query_map([], |r| {
            Ok((0..n)
                .map(|i| match r.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Null => "NULL".to_string(),
                    rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                    rusqlite::types::ValueRef::Real(v) => v.to_string(),
                    rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                    rusqlite::types::ValueRef::Blob(_) => "blob".into(),
                })
                .collect())
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    };
    let unchanged = [
        "SELECT * FROM exercises ORDER BY id",
        "SELECT * FROM reps ORDER BY id",
        "SELECT * FROM flags ORDER BY id",
        "SELECT id, path, sha256, sensor, sample_rate_hz, samples, samples_lost, exercise_id, placement, side,
                load_value, load_unit, load_label, closed FROM recordings ORDER BY id",
        "SELECT id, session_id, exercise_id, variation, side, placement, load_value, load_unit, load_label, reps, rir,
                tempo, technique_notes, side_notes, notes_edited, state, interrupted, recording_id, start_s, end_s,
                confidence, import_key, doubts FROM sets ORDER BY id",
        "SELECT id, notes FROM sessions ORDER BY id",
    ];
    let before: Vec<_> = {
        let c = Connection::open(&path).unwrap();
        unchanged.iter().map(|q| dump(&c, q)).collect()
    };
    // Reading migrates a copy in memory and leaves the file alone.
    let log = h.json("log.sqlite3", BERLIN, &["log", "--json", "--include-sim"]);
    assert_eq!(log.as_array().unwrap().len(), 4, "{log}");
    let real = h.json("log.sqlite3", BERLIN, &["log", "--json"]);
    assert_eq!(
        real.as_array().unwrap().len(),
        3,
        "the simulated set is kept out: {real}"
    );
    assert_eq!(
        Connection::open(&path)
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
            .unwrap(),
        3
    );
    // A write migrates the file (after a backup of it as it was).
    add(
        &h,
        BERLIN,
        &[
            "-e",
            "clamshell",
            "--reps",
            "1",
            "--date",
            "2027-01-01 10:00",
        ],
    );
    assert!(h.path("log.sqlite3.v3.backup").exists());
    let c = Connection::open(&path).unwrap();
    assert_eq!(
        c.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
            .unwrap(),
        medius::logbook::SCHEMA_VERSION
    );
    let after: Vec<_> = unchanged
        .iter()
        .map(|q| {
            let mut rows = dump(&c, q);
            if q.contains("FROM sets") {
                rows.retain(|r| r[0] != "7");
            }
            if q.contains("FROM sessions") {
                rows.retain(|r| r[0] == "1" || r[0] == "2");
            }
            if q.contains("FROM exercises") {
                return rows;
            }
            rows
        })
        .collect();
    assert_eq!(before, after, "every other column of every row as it was");
    // Times: UTC with the offset of their own day (CET in November, CEST in July).
    let sets = dump(
        &c,
        "SELECT id, source, performed_at, utc_offset_s, created_at, coalesce(verified_at, '-'), coalesce(duration_s, '-')
           FROM sets WHERE id <= 6 ORDER BY id",
    );
    let expect = [
        [
            "1",
            "sim",
            "2026-11-20T17:00:00Z",
            "3600",
            "2026-11-20T17:00:41Z",
            "2026-11-20T18:00:00Z",
            "-",
        ],
        [
            "2",
            "replay",
            "2026-11-20T17:05:00Z",
            "3600",
            "2026-11-20T17:05:46Z",
            "-",
            "-",
        ],
        [
            "3",
            "sensor",
            "2026-07-01T07:00:00Z",
            "7200",
            "2026-07-01T07:00:51Z",
            "2026-07-01T08:00:00Z",
            "-",
        ],
        [
            "4",
            "sensor",
            "2026-07-01T07:10:00Z",
            "7200",
            "2026-07-01T07:10:21Z",
            "-",
            "-",
        ],
        [
            "5",
            "manual",
            "2026-07-01T07:20:00Z",
            "7200",
            "2026-07-01T07:20:00Z",
            "2026-07-01T07:20:00Z",
            "-",
        ],
        [
            "6",
            "manual",
            "2026-07-01T07:25:00Z",
            "7200",
            "2026-07-01T07:25:00Z",
            "2026-07-01T07:25:00Z",
            "-",
        ],
    ];
    assert_eq!(sets, expect.map(|r| r.map(String::from).to_vec()).to_vec());
    let sessions = dump(
        &c,
        "SELECT id, started_at, utc_offset_s, ended_at FROM sessions WHERE id <= 2 ORDER BY id",
    );
    assert_eq!(
        sessions,
        vec![
            vec!["1", "2026-11-20T17:00:00Z", "3600", "2026-11-20T17:05:40Z"],
            vec!["2", "2026-07-01T07:00:00Z", "7200", "2026-07-01T07:25:00Z"],
        ]
        .into_iter()
        .map(|r| r.into_iter().map(String::from).collect::<Vec<_>>())
        .collect::<Vec<_>>()
    );
    let recs = dump(&c, "SELECT id, started_at FROM recordings ORDER BY id");
    assert_eq!(recs[0][1], "2026-11-20T17:00:00Z");
    assert_eq!(recs[2][1], "2026-07-01T07:00:00Z");
    let problems = medius::logbook::Logbook::open(&path)
        .unwrap()
        .check()
        .unwrap();
    assert!(problems.is_empty(), "{problems:?}");
}

/// A bad history file is one line naming the file, exit 2, and nothing
/// saved (the logbook is not even created).
#[test]
fn a_bad_history_file_is_one_line_and_changes_nothing() {
    let h = Home::new();
    let cases: [(&str, &str, &str); 4] = [
        (
            "json",
            "bad.json",
            r#"{"medius_log":1,"exercises":[],"sets":[{"session_start":"2026-11-02T18:00:00+01:00","session_end":"2026-11-02T18:30:00+01:00","at":"2026-11-02T18:00:00+01:00","exercise":"clamshell","side":null,"placement":null,"load":{"value":1e300,"unit":"kg"},"reps":3,"duration_s":null,"rir":null,"tempo":null,"variation":"","technique_notes":"","side_notes":"","source":"manual","confidence":null,"start_s":null,"end_s":null,"rep_records":[]}]}"#,
        ),
        ("json", "notjson.json", "Date,Exercise Name\n"),
        (
            "hevy",
            "bad-hevy.csv",
            "title,start_time,end_time,exercise_title,set_index,weight_kg,reps\nx,\"31 Feb 2026, 18:00\",\"31 Feb 2026, 19:00\",Clamshell,0,,12\n",
        ),
        (
            "strong",
            "bad-unit.csv",
            "Date;Exercise Name;Set Order;Weight;Weight Unit;Reps\n2026-11-02 18:00:00;Clamshell;1;20;stone;12\n",
        ),
    ];
    for (app, name, text) in cases {
        let file = h.path(name);
        std::fs::write(&file, text).unwrap();
        let o = h.on(
            "log.sqlite3",
            "UTC",
            &["import-log", app, file.to_str().unwrap()],
        );
        assert_eq!(o.status.code(), Some(2), "{name}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{name}: {err}");
        assert!(err.contains(name), "{name}: {err}");
        assert!(!h.path("log.sqlite3").exists(), "{name}: nothing created");
    }
}
