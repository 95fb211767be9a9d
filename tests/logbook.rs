//! The logbook: migrations, whole sets or nothing under kill -9, reading
//! while writing, review, notes, progression, exchange, bad input.

use medius::logbook::{
    self, FlagRef, Load, LogFilter, Logbook, LogbookError, ManualSet, NewRecording, ReviewActions,
    SensorSet, Verdict, MIGRATIONS, SCHEMA_VERSION,
};
use medius::motion::{Flag, FlagKind, Rep, Set};
use medius::{Placement, Side};
use std::path::Path;
use std::process::{Command, Output};

fn medius(book: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_medius"))
        .args(args)
        .env("MEDIUS_LOGBOOK", book)
        .env("MEDIUS_CONFIG", book.with_extension("toml"))
        .output()
        .expect("medius runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn rep(n: usize, peak: f64, flags: &[(FlagKind, f64)]) -> Rep {
    Rep {
        number: n,
        start_s: n as f64 * 3.0,
        end_s: n as f64 * 3.0 + 2.5,
        peak_deg: peak,
        concentric_s: 0.9,
        pause_s: 0.4,
        eccentric_s: 1.2,
        flags: flags
            .iter()
            .map(|&(kind, v)| Flag {
                kind,
                value_deg: v,
                rate_dps: None,
            })
            .collect(),
    }
}

fn set(reps: usize, flagged: &[(usize, FlagKind, f64)]) -> Set {
    Set {
        start_s: 3.0,
        end_s: reps as f64 * 3.0 + 2.5,
        reps: (1..=reps)
            .map(|n| {
                let f: Vec<(FlagKind, f64)> = flagged
                    .iter()
                    .filter(|x| x.0 == n)
                    .map(|x| (x.1, x.2))
                    .collect();
                rep(n, 35.0 + n as f64 * 0.1, &f)
            })
            .collect(),
        confidence: 0.95,
        doubts: Vec::new(),
    }
}

fn write(lb: &mut Logbook, s: &Set, side: Side, load: &str, at: &str) -> i64 {
    lb.write_sensor_set(
        &SensorSet {
            exercise: "standing-cable-abduction",
            side,
            placement: Placement::Pelvis,
            load: Some(Load::parse(load).unwrap()),
            set: s,
            interrupted: false,
            performed_at: Some(at.into()),
            source: medius::logbook::Source::Sensor,
        },
        None,
    )
    .unwrap()
}

fn verify(lb: &mut Logbook, id: i64, confirm: &str) {
    lb.review(
        id,
        &ReviewActions {
            confirm: FlagRef::parse_list(confirm).unwrap(),
            dismiss: vec![FlagRef::All],
            verdict: Some(Verdict::Verify),
            ..Default::default()
        },
    )
    .unwrap();
}

#[test]
fn migrates_from_empty_and_from_every_earlier_version() {
    let dir = tempfile::tempdir().unwrap();
    for from in 0..MIGRATIONS.len() {
        let path = dir.path().join(format!("v{from}.sqlite3"));
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            for sql in &MIGRATIONS[..from] {
                conn.execute_batch(sql).unwrap();
            }
            conn.pragma_update(None, "user_version", from as i64)
                .unwrap();
            if from >= 1 {
                // Data written by that version survives the upgrade.
                conn.execute_batch(
                    "INSERT INTO recordings (path, sensor) VALUES ('/r.csv', 'sim');
                     INSERT INTO sessions (started_at) VALUES ('2026-11-01 10:00:00');
                     INSERT INTO sets (session_id, exercise_id, side, reps, source, state, recording_id, performed_at, created_at)
                     VALUES (1, 'hip-hitch', 'left', 12, 'manual', 'verified', 1, '2026-11-01 10:00:00', '2026-11-01 10:00:00');",
                )
                .unwrap();
            }
        }
        // Read only: the old file is read through a migrated copy and left
        // as it was (it used to be migrated by `log`).
        let version = |p: &Path| -> i64 {
            rusqlite::Connection::open(p)
                .unwrap()
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .unwrap()
        };
        {
            let ro = Logbook::open_read_only(&path).unwrap();
            assert!(ro.exercises().unwrap().len() >= 8);
            if from >= 1 {
                assert_eq!(ro.log(&LogFilter::default()).unwrap()[0].reps, 12);
            }
        }
        assert_eq!(version(&path), from as i64, "read-only open migrated");
        let lb = Logbook::open(&path).unwrap();
        assert_eq!(lb.schema_version().unwrap(), SCHEMA_VERSION);
        if from >= 1 {
            // The file as it was before the migration, beside it.
            let backup = dir.path().join(format!("v{from}.sqlite3.v{from}.backup"));
            assert_eq!(version(&backup), from as i64);
            let mode = std::os::unix::fs::PermissionsExt::mode(
                &std::fs::metadata(&backup).unwrap().permissions(),
            );
            assert_eq!(mode & 0o777, 0o600);
            assert_eq!(lb.log(&LogFilter::default()).unwrap()[0].reps, 12);
            assert!(
                lb.open_recordings().unwrap().is_empty(),
                "old recordings count as closed"
            );
            // Schema 5: the set is linked to the recording it came from.
            let linked = lb.set_recordings(1).unwrap();
            assert_eq!(linked.len(), 1, "{linked:?}");
            assert_eq!(linked[0].path, "/r.csv");
        }
        assert!(lb.exercises().unwrap().len() >= 8);
        assert!(lb.check().unwrap().is_empty());
        drop(lb);
        // Opening again changes nothing, and makes no second backup.
        let lb = Logbook::open(&path).unwrap();
        assert_eq!(lb.schema_version().unwrap(), SCHEMA_VERSION);
        let backups = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(&format!("v{from}.sqlite3.v"))
            })
            .count();
        assert_eq!(backups, usize::from(from >= 1));
    }
}

#[test]
fn refuses_files_that_are_not_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let newer = dir.path().join("newer.sqlite3");
    {
        let c = rusqlite::Connection::open(&newer).unwrap();
        c.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
    }
    let e = Logbook::open(&newer).err().unwrap();
    assert!(e.is_user_error() && e.to_string().contains("newer"), "{e}");
    let foreign = dir.path().join("foreign.sqlite3");
    rusqlite::Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE t (x)")
        .unwrap();
    let e = Logbook::open(&foreign).err().unwrap();
    assert!(e.to_string().contains("not a medius logbook"), "{e}");
    let junk = dir.path().join("junk.sqlite3");
    std::fs::write(&junk, vec![b'x'; 4096]).unwrap();
    let o = medius(&junk, &["log"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    assert_eq!(
        std::fs::read(&junk).unwrap(),
        vec![b'x'; 4096],
        "left untouched"
    );
}

#[test]
fn review_confirms_dismisses_verifies_and_fills_notes() {
    let mut lb = Logbook::open_in_memory().unwrap();
    let right = set(
        12,
        &[
            (9, FlagKind::HipHike, 8.0),
            (10, FlagKind::HipHike, 11.2),
            (11, FlagKind::HipHike, 9.5),
            (12, FlagKind::HipHike, 7.0),
            (3, FlagKind::TrunkSway, 6.0),
        ],
    );
    let left = set(14, &[]);
    let r = write(&mut lb, &right, Side::Right, "12.5kg", "2026-11-02 18:00");
    let l = write(&mut lb, &left, Side::Left, "12.5kg", "2026-11-02 18:05");
    assert_eq!(lb.pending_sets().unwrap().len(), 2);
    assert!(
        lb.log(&LogFilter::default()).unwrap().is_empty(),
        "pending is not the log"
    );

    // Verifying with open flags is refused and changes nothing.
    let e = lb
        .review(
            r,
            &ReviewActions {
                confirm: FlagRef::parse_list("9,10").unwrap(),
                verdict: Some(Verdict::Verify),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(
        e.to_string().contains("open flags on reps 3, 11, 12"),
        "{e}"
    );
    assert!(lb.set(r).unwrap().flags.iter().all(|f| f.review == "open"));

    let after = lb
        .review(
            r,
            &ReviewActions {
                confirm: FlagRef::parse_list("9,10,11,12").unwrap(),
                dismiss: FlagRef::parse_list("3:trunk_sway").unwrap(),
                load: Some(Load::parse("15kg").unwrap()),
                verdict: Some(Verdict::Verify),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(after.state, "verified");
    assert_eq!(after.technique_notes, "hip hike on reps 9–12, up to 11°");
    assert_eq!(after.load.unwrap().to_string(), "15kg");
    verify(&mut lb, l, "");
    let left_now = lb.set(l).unwrap();
    assert_eq!(
        left_now.side_notes,
        "left: 14 reps 36°, right: 12 reps 36°, right hikes"
    );
    assert_eq!(lb.set(r).unwrap().side_notes, left_now.side_notes);

    // The lifter's own words are kept when flags change later.
    lb.review(
        r,
        &ReviewActions {
            technique_notes: Some("felt the TFL".into()),
            ..Default::default()
        },
    )
    .unwrap();
    lb.review(
        r,
        &ReviewActions {
            dismiss: FlagRef::parse_list("12").unwrap(),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(lb.set(r).unwrap().technique_notes, "felt the TFL");

    // Bad references name what exists.
    let e = lb
        .review(
            r,
            &ReviewActions {
                confirm: FlagRef::parse_list("5").unwrap(),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(
        e.to_string().contains("flagged reps: 3, 9, 10, 11, 12"),
        "{e}"
    );
    assert!(matches!(lb.set(999), Err(LogbookError::NoSuchSet(999))));
    assert_eq!(lb.log(&LogFilter::default()).unwrap().len(), 2);
}

fn manual(lb: &mut Logbook, side: Side, load: &str, reps: u32, at: &str) -> i64 {
    lb.write_manual_set(&ManualSet {
        exercise: "standing-cable-abduction".into(),
        side: Some(side),
        load: Some(Load::parse(load).unwrap()),
        reps,
        rir: None,
        tempo: None,
        variation: String::new(),
        notes: String::new(),
        performed_at: Some(at.into()),
        ..ManualSet::default()
    })
    .unwrap()
    .unwrap()
}

fn today(lb: &Logbook, days_ago: u32) -> String {
    logbook::parse_since(lb, &format!("{days_ago}d")).unwrap()
}

/// `next` advises from the last session by date, not by when it was typed
/// in: back-filling an older set must not turn the clock back (issue 14).
#[test]
fn next_follows_the_last_session_by_date() {
    let mut lb = Logbook::open_in_memory().unwrap();
    let recent = today(&lb, 1);
    manual(&mut lb, Side::Left, "12.5kg", 14, &recent);
    let before = lb
        .target_for("standing-cable-abduction", Some("left"), false)
        .unwrap();
    // An older set, entered afterwards.
    let older = today(&lb, 10);
    manual(&mut lb, Side::Left, "10kg", 12, &older);
    let after = lb
        .target_for("standing-cable-abduction", Some("left"), false)
        .unwrap();
    assert_eq!(after.target, before.target, "{after:?}");
    assert_eq!(after.load.unwrap().to_string(), "12.5kg");
}

#[test]
fn progression_follows_the_rules() {
    let mut lb = Logbook::open_in_memory().unwrap();
    // Clean, mid-range: add a rep.
    let at = today(&lb, 3);
    manual(&mut lb, Side::Left, "20kg", 14, &at);
    let t = lb
        .target_for("standing-cable-abduction", Some("left"), false)
        .unwrap();
    assert_eq!(t.target, "20kg for 15+ reps", "{t:?}");
    // Top of the range, step small against the load (2.5 of 20 kg): add it.
    let at = today(&lb, 1);
    manual(&mut lb, Side::Left, "20kg", 20, &at);
    let t = lb
        .target_for("standing-cable-abduction", Some("left"), false)
        .unwrap();
    assert_eq!(t.load.as_ref().unwrap().to_string(), "22.5kg", "{t:?}");
    // Top of the range but 2.5 kg is 25 % of 10 kg: make the reps harder first…
    let at = today(&lb, 8);
    manual(&mut lb, Side::Right, "10kg", 20, &at);
    let t = lb
        .target_for("standing-cable-abduction", Some("right"), false)
        .unwrap();
    assert!(t.target.contains("pause"), "{t:?}");
    assert_eq!(t.load.unwrap().to_string(), "10kg");
    // …and after a second session at the top, take the step.
    let at = today(&lb, 4);
    manual(&mut lb, Side::Right, "10kg", 20, &at);
    let t = lb
        .target_for("standing-cable-abduction", Some("right"), false)
        .unwrap();
    assert_eq!(t.load.as_ref().unwrap().to_string(), "12.5kg", "{t:?}");

    // Confirmed compensation: hold the load; again next session: reduce it.
    let mut lb = Logbook::open_in_memory().unwrap();
    let at = today(&lb, 5);
    let a = write(
        &mut lb,
        &set(
            16,
            &[(15, FlagKind::HipHike, 9.0), (16, FlagKind::HipHike, 10.0)],
        ),
        Side::Right,
        "15kg",
        &at,
    );
    verify(&mut lb, a, "15,16");
    let t = lb
        .target_for("standing-cable-abduction", Some("right"), false)
        .unwrap();
    assert_eq!(t.load.as_ref().unwrap().to_string(), "15kg");
    assert!(t.why.contains("hold the load"), "{t:?}");
    let at = today(&lb, 1);
    let b = write(
        &mut lb,
        &set(15, &[(14, FlagKind::HipHike, 9.0)]),
        Side::Right,
        "15kg",
        &at,
    );
    verify(&mut lb, b, "14");
    let t = lb
        .target_for("standing-cable-abduction", Some("right"), false)
        .unwrap();
    assert_eq!(t.load.as_ref().unwrap().to_string(), "12.5kg", "{t:?}");
    assert_eq!(lb.targets(false).unwrap().len(), 1);
}

/// Issue 14, item 1: the other side's set done earlier the same evening,
/// typed in afterwards, is in the same session, so the side-to-side notes
/// pair them (it used to start a session of its own).
#[test]
fn side_notes_pair_a_backfilled_set_with_its_session() {
    let mut lb = Logbook::open_in_memory().unwrap();
    let l = write(
        &mut lb,
        &set(14, &[]),
        Side::Left,
        "12.5kg",
        "2026-11-02 18:30",
    );
    verify(&mut lb, l, "");
    let r = write(
        &mut lb,
        &set(12, &[]),
        Side::Right,
        "12.5kg",
        "2026-11-02 18:00",
    );
    verify(&mut lb, r, "");
    let notes = lb.set(l).unwrap().side_notes;
    assert_eq!(notes, "left: 14 reps 36°, right: 12 reps 36°");
    assert_eq!(lb.set(r).unwrap().side_notes, notes);
}

/// The trend is the same whatever order the sets were typed in.
#[test]
fn trend_is_by_date_not_by_the_order_sets_were_logged() {
    let sets = [
        (20, Side::Left, "12.5kg", 12),
        (20, Side::Right, "12.5kg", 10),
        (13, Side::Left, "15kg", 9),
        (6, Side::Left, "12.5kg", 15),
        (6, Side::Right, "12.5kg", 13),
    ];
    let trend = |order: &mut dyn Iterator<Item = &(u32, Side, &str, u32)>| {
        let mut lb = Logbook::open_in_memory().unwrap();
        for (days, side, load, reps) in order {
            let at = today(&lb, *days);
            manual(&mut lb, *side, load, *reps, &at);
        }
        serde_json::to_value(lb.trend("standing-cable-abduction", 6, false).unwrap()).unwrap()
    };
    let forward = trend(&mut sets.iter());
    assert_eq!(forward.as_array().unwrap().len(), 5, "{forward}");
    assert_eq!(trend(&mut sets.iter().rev()), forward);
}

#[test]
fn trend_by_week_and_side() {
    let mut lb = Logbook::open_in_memory().unwrap();
    for (days, side, reps) in [
        (20, Side::Left, 12),
        (20, Side::Right, 10),
        (13, Side::Left, 14),
        (6, Side::Left, 15),
        (6, Side::Right, 13),
    ] {
        let at = today(&lb, days);
        manual(&mut lb, side, "12.5kg", reps, &at);
    }
    let old = today(&lb, 60);
    manual(&mut lb, Side::Left, "12.5kg", 1, &old);
    let weeks = lb.trend("standing-cable-abduction", 6, false).unwrap();
    let left: Vec<u32> = weeks
        .iter()
        .filter(|w| w.side.as_deref() == Some("left"))
        .filter_map(|w| w.reps_at_ref_load)
        .collect();
    assert_eq!(left, [12, 14, 15]);
    let diffs: Vec<i64> = weeks
        .iter()
        .filter(|w| w.side.as_deref() == Some("left"))
        .filter_map(|w| w.side_difference)
        .collect();
    assert_eq!(diffs, [2, 2]);
    assert!(matches!(
        lb.trend("deadlift", 6, false),
        Err(LogbookError::UnknownExercise(_))
    ));
}

/// Child half of the kill test: writes big sets forever (each one
/// transaction of thousands of rows, so a kill often lands inside one).
#[test]
fn kill_test_child_writer() {
    let Some(book) = std::env::var_os("MEDIUS_KILL_TEST_BOOK") else {
        return;
    };
    let mut lb = Logbook::open(Path::new(&book)).unwrap();
    let flagged: Vec<(usize, FlagKind, f64)> = (1..=1500)
        .step_by(3)
        .map(|n| (n, FlagKind::Momentum, 40.0))
        .collect();
    let big = set(1500, &flagged);
    println!("ready");
    loop {
        write(&mut lb, &big, Side::Left, "10kg", "2026-11-02 18:00");
    }
}

#[test]
fn writer_killed_at_any_point_never_leaves_half_a_set() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let book = dir.path().join("log.sqlite3");
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    // This very test binary, run again as the child writer. On Linux through
    // /proc/self/exe, which the kernel keeps pointing at the running file even
    // if its path has gone or been replaced (a fresh-clone run once failed to
    // spawn the path current_exe() gave, NotFound); elsewhere that path.
    let me = if cfg!(target_os = "linux") {
        std::path::PathBuf::from("/proc/self/exe")
    } else {
        std::env::current_exe().unwrap()
    };
    let mut before = 0usize;
    let mut grew = 0;
    for _ in 0..20 {
        let mut child = Command::new(&me)
            .args([
                "--exact",
                "kill_test_child_writer",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env("MEDIUS_KILL_TEST_BOOK", &book)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Wait until it writes, then kill it at a random moment.
        let mut line = String::new();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        while !line.contains("ready") {
            line.clear();
            if out.read_line(&mut line).unwrap() == 0 {
                break;
            }
        }
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(std::time::Duration::from_millis(rng % 300));
        child.kill().unwrap(); // SIGKILL: no destructor, no rollback
        let _ = child.wait();
        let lb = Logbook::open(&book).unwrap();
        assert_eq!(lb.check().unwrap(), Vec::<String>::new());
        let sets = lb.pending_sets().unwrap();
        let conn = rusqlite::Connection::open(&book).unwrap();
        for s in &sets {
            let n: i64 = conn
                .query_row("SELECT count(*) FROM reps WHERE set_id = ?1", [s.id], |r| {
                    r.get(0)
                })
                .unwrap();
            let f: i64 = conn
                .query_row("SELECT count(*) FROM flags f JOIN reps r ON r.id = f.rep_id WHERE r.set_id = ?1", [s.id], |r| r.get(0))
                .unwrap();
            assert_eq!((n, f), (1500, 500), "set {} is half written", s.id);
        }
        if sets.len() > before {
            grew += 1;
        }
        before = sets.len();
    }
    assert!(
        grew > 0,
        "the child never got a set written: the test tests nothing"
    );
}

#[test]
fn the_cli_reads_while_another_process_writes() {
    let dir = tempfile::tempdir().unwrap();
    let book = dir.path().join("log.sqlite3");
    let mut lb = Logbook::open(&book).unwrap();
    let at = today(&lb, 1);
    manual(&mut lb, Side::Left, "10kg", 12, &at);
    // A writer holds a write transaction open (as the daemon does mid-set).
    let writer = rusqlite::Connection::open(&book).unwrap();
    writer
        .execute_batch(
            "BEGIN IMMEDIATE; INSERT INTO sessions (started_at) VALUES ('2026-01-01 00:00:00');",
        )
        .unwrap();
    let o = medius(&book, &["log", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    writer.execute_batch("COMMIT").unwrap();
}

#[test]
fn bad_input_is_one_line_exit_2_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let book = dir.path().join("log.sqlite3");
    let ok = medius(
        &book,
        &[
            "log",
            "add",
            "-e",
            "clamshell",
            "--reps",
            "20",
            "--load",
            "band red",
        ],
    );
    assert!(ok.status.success(), "{}", stderr(&ok));
    let bad_strong = dir.path().join("strong.csv");
    std::fs::write(&bad_strong, "Date,Workout Name,Exercise Name,Set Order,Weight,Reps\n2026-01-01 10:00:00,A,Squat,1,100,5\n2026-01-01 10:00:00,A,Squat,2,heavy,5\n").unwrap();
    // A Strong file with an unterminated quote on line 3: the rows after it
    // used to vanish into one 5 000-character note.
    let open_quote = dir.path().join("open_quote.csv");
    let mut text = String::from("Date,Workout Name,Exercise Name,Set Order,Weight,Reps,Notes\n");
    text.push_str("2026-01-01 10:00:00,A,Squat,1,100,5,fine\n");
    text.push_str("2026-01-01 10:00:00,A,Squat,2,100,5,\"felt heavy\n");
    for n in 3..100 {
        text.push_str(&format!("2026-01-01 10:00:00,A,Squat,{n},100,5,\n"));
    }
    std::fs::write(&open_quote, text).unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["log", "add", "-e", "deadlift", "--reps", "5"],
            "unknown exercise 'deadlift'",
        ),
        (
            vec![
                "log",
                "add",
                "-e",
                "clamshell",
                "--reps",
                "5",
                "--load",
                "12,5kgs",
            ],
            "12,5kgs",
        ),
        (vec!["review", "42", "--verify"], "no set 42"),
        (vec!["review", "1", "--confirm", "x"], "not a rep number"),
        (vec!["log", "--since", "last tuesday"], "--since"),
        (
            vec![
                "log",
                "add",
                "-e",
                "clamshell",
                "--reps",
                "5",
                "--date",
                "yesterday",
            ],
            "date 'yesterday'",
        ),
        (
            vec!["import-log", "strong", bad_strong.to_str().unwrap()],
            "strong.csv:3: Weight 'heavy'",
        ),
        (vec!["trend", "-e", "squat"], "unknown exercise"),
        (
            vec!["import-log", "strong", open_quote.to_str().unwrap()],
            "open_quote.csv:3: a quote opens here and never closes",
        ),
    ];
    for (args, want) in cases {
        let o = medius(&book, &args);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {e}");
        // clap's own errors are whole (issue 15): the line, its tip, usage.
        if !e.starts_with("error: ") {
            assert_eq!(e.trim_end().lines().count(), 1, "{args:?}: {e}");
        }
        assert!(e.contains(want), "{args:?}: {e}");
    }
    let lb = Logbook::open(&book).unwrap();
    assert_eq!(
        lb.log(&LogFilter::default()).unwrap().len(),
        1,
        "nothing was added"
    );
    assert!(
        lb.exercise("squat").is_err(),
        "the failed import added no exercise"
    );
}

#[test]
fn export_import_and_backup() {
    let dir = tempfile::tempdir().unwrap();
    let book = dir.path().join("log.sqlite3");
    let o = medius(
        &book,
        &[
            "log",
            "add",
            "-e",
            "hip-hitch",
            "-s",
            "left",
            "--reps",
            "15",
            "--load",
            "4kg",
            "--rir",
            "2",
            "--notes",
            "=HYPERLINK(\"http://x\")",
            "--date",
            "2026-11-02 18:00",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = medius(&book, &["export", "--format", "strong"]);
    let text = String::from_utf8(o.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), "Date;Workout Name;Exercise Name;Set Order;Weight;Weight Unit;Reps;RPE;Distance;Distance Unit;Seconds;Notes;Workout Notes;Workout Duration");
    let row = lines.next().unwrap();
    assert!(
        row.starts_with("2026-11-02 18:00:00;medius;Hip hitch (left);1;4;kg;15;8;"),
        "RPE from RIR: {row}"
    );
    assert!(row.contains("'=HYPERLINK"), "formula defused: {row}");
    let o = medius(&book, &["export", "--format", "hevy"]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.starts_with("title,start_time,end_time,description,exercise_title,superset_id,exercise_notes,set_index,set_type,weight_kg,reps,distance_km,duration_seconds,rpe\n"));
    assert!(text.contains("\"02 Nov 2026, 18:00\""), "{text}");

    // Our Strong export comes back in as the same sets, once.
    let exported = dir.path().join("strong.csv");
    let o = medius(
        &book,
        &[
            "export",
            "--format",
            "strong",
            "-o",
            exported.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let other = dir.path().join("other.sqlite3");
    let o = medius(
        &other,
        &["import-log", "strong", exported.to_str().unwrap()],
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("1 set added"),
        "{}",
        stderr(&o)
    );
    let o = medius(
        &other,
        &["import-log", "strong", exported.to_str().unwrap()],
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("0 sets added, 1 already"),
        "{:?}",
        o
    );
    let lb = Logbook::open(&other).unwrap();
    let rows = lb.log(&LogFilter::default()).unwrap();
    assert_eq!(
        (
            rows[0].exercise.as_str(),
            rows[0].reps,
            rows[0].side.as_deref()
        ),
        ("hip-hitch", 15, Some("left"))
    );
    assert_eq!(rows[0].rir, Some(2));

    let copy = dir.path().join("copy.sqlite3");
    let o = medius(&book, &["backup", copy.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        Logbook::open(&copy)
            .unwrap()
            .log(&LogFilter::default())
            .unwrap()
            .len(),
        1
    );
    let o = medius(&book, &["backup", copy.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "never overwrites");
}

/// `review --interactive` on `book`, answering with `input`.
fn review_interactively(book: &Path, input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_medius"))
        .args(["review", "--interactive"])
        .env("MEDIUS_LOGBOOK", book)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn interactive_review_walks_the_pending_sets() {
    let dir = tempfile::tempdir().unwrap();
    let book = dir.path().join("log.sqlite3");
    {
        let mut lb = Logbook::open(&book).unwrap();
        write(
            &mut lb,
            &set(
                12,
                &[(4, FlagKind::HipHike, 9.0), (7, FlagKind::PelvicDrop, 6.0)],
            ),
            Side::Right,
            "10kg",
            "2026-11-02 18:00",
        );
        write(
            &mut lb,
            &set(3, &[]),
            Side::Right,
            "10kg",
            "2026-11-02 18:10",
        );
    }
    // Set 1: confirm rep 4, dismiss rep 7, keep 12 reps, load 12.5kg, no
    // RIR, verify. Set 2: no flags; count 3 is wrong (it was a warm-up):
    // discard.
    let o = review_interactively(&book, b"c\nd\n\n12.5kg\n\nv\n\n\n\nd\n");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{text}");
    assert!(text.contains("(1/2)") && text.contains("(2/2)"), "{text}");
    let lb = Logbook::open(&book).unwrap();
    let s1 = lb.set(1).unwrap();
    assert_eq!(s1.state, "verified");
    assert_eq!(s1.load.unwrap().to_string(), "12.5kg");
    assert_eq!(s1.technique_notes, "hip hike on rep 4, up to 9°");
    assert_eq!(lb.set(2).unwrap().state, "discarded");
}

/// A count medius is not sure of is saved with its reasons; `review` shows
/// them and, interactively, asks for the count before the flags.
#[test]
fn an_unsure_count_says_why_and_is_asked_first() {
    use medius::motion::{Doubt, DoubtKind};
    let dir = tempfile::tempdir().unwrap();
    let book = dir.path().join("log.sqlite3");
    let mut s = set(8, &[(5, FlagKind::HipHike, 9.0)]);
    s.confidence = 0.3;
    s.doubts = vec![Doubt {
        kind: DoubtKind::RhythmGap,
        from_s: 14.6,
        to_s: 19.7,
        reps: 2,
        message: "the rhythm suggests 2 reps were missed between 14.6 s and 19.7 s".into(),
    }];
    {
        let mut lb = Logbook::open(&book).unwrap();
        let id = write(&mut lb, &s, Side::Right, "10kg", "2026-11-02 18:00");
        assert_eq!(lb.set(id).unwrap().doubts, s.doubts, "saved and read back");
    }
    let o = medius(&book, &["review", "1"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("count unsure")
            && text.contains("check: the rhythm suggests 2 reps were missed between 14.6 s"),
        "{text}"
    );
    // The count first (10: the two missed reps), then the flag, the load, verify.
    let o = review_interactively(&book, b"10\nc\n\n\nv\n");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{text}");
    let count_at = text
        .find("the count may be off")
        .expect("asked for the count");
    let flag_at = text.find("hip hike 9.0°").expect("asked about the flag");
    assert!(count_at < flag_at, "{text}");
    let lb = Logbook::open(&book).unwrap();
    let after = lb.set(1).unwrap();
    assert_eq!((after.reps, after.state.as_str()), (10, "verified"));
}

/// `import` brings a recording in whole or not at all, and once: the same
/// file again is refused (exit 2) unless `--again`; a bad `--date` leaves
/// no trace (it used to leave an orphan recording entry).
fn recording(path: &str, sha: &str) -> NewRecording {
    NewRecording {
        path: path.into(),
        sha256: Some(sha.into()),
        sensor: "sim".into(),
        ..Default::default()
    }
}

#[test]
fn a_set_from_two_sensors_is_linked_to_both_recordings() {
    let dir = tempfile::tempdir().unwrap();
    let book = dir.path().join("log.sqlite3");
    let mut lb = Logbook::open(&book).unwrap();
    let ankle = lb
        .add_recording(&recording("/s/a.ankle.csv", "aa"))
        .unwrap();
    let pelvis = lb
        .add_recording(&recording("/s/a.pelvis.csv", "bb"))
        .unwrap();
    let s = set(10, &[(3, FlagKind::HipHike, 4.0)]);
    let sensor_set = SensorSet {
        exercise: "standing-cable-abduction",
        side: Side::Right,
        placement: Placement::Ankle,
        load: Some(Load::parse("15kg").unwrap()),
        set: &s,
        interrupted: false,
        performed_at: Some("2026-11-20 18:00".into()),
        source: medius::logbook::Source::Sensor,
    };
    let id = lb
        .write_linked_set(
            &sensor_set,
            &[(ankle, Placement::Ankle), (pelvis, Placement::Pelvis)],
        )
        .unwrap();
    let linked = lb.set_recordings(id).unwrap();
    let got: Vec<(Placement, &str)> = linked
        .iter()
        .map(|r| (r.placement, r.path.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (Placement::Ankle, "/s/a.ankle.csv"),
            (Placement::Pelvis, "/s/a.pelvis.csv")
        ],
        "the counting recording first"
    );
    // A recording a set is linked to is never forgotten, not even the
    // pelvis one the set was not counted from.
    lb.forget_recording(pelvis).unwrap();
    assert_eq!(lb.set_recordings(id).unwrap().len(), 2);
    // Review names both files.
    drop(lb);
    let o = medius(&book, &["review", &id.to_string()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("recordings: ankle /s/a.ankle.csv · pelvis /s/a.pelvis.csv"),
        "{text}"
    );

    // A pair imported at once: every set linked to both, and a second
    // import of either file refused with nothing added.
    let mut lb = Logbook::open(&book).unwrap();
    let pair = [
        (recording("/t/b.ankle.csv", "cc"), Placement::Ankle),
        (recording("/t/b.pelvis.csv", "dd"), Placement::Pelvis),
    ];
    let ids = lb
        .import_recordings(&pair, &[sensor_set.clone(), sensor_set.clone()], false)
        .unwrap();
    assert_eq!(ids.len(), 2);
    for id in &ids {
        assert_eq!(lb.set_recordings(*id).unwrap().len(), 2);
    }
    let again = [(recording("/u/c.pelvis.csv", "dd"), Placement::Pelvis)];
    let e = lb
        .import_recordings(&again, std::slice::from_ref(&sensor_set), false)
        .unwrap_err();
    assert!(
        matches!(e, LogbookError::AlreadyImported { sets: 2, .. }),
        "{e}"
    );
    let sets: i64 = rusqlite::Connection::open(&book)
        .unwrap()
        .query_row("SELECT count(*) FROM sets", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sets, 3);
}

#[test]
fn import_is_whole_and_once() {
    let dir = tempfile::tempdir().unwrap();
    let book = dir.path().join("log.sqlite3");
    let rec = dir.path().join("rec.csv");
    let o = medius(
        &book,
        &[
            "simulate",
            "--sets",
            "2",
            "--seed",
            "3",
            "-o",
            rec.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let import = |extra: &[&str]| {
        let mut a = vec![
            "import",
            rec.to_str().unwrap(),
            "-e",
            "standing-cable-abduction",
            "-p",
            "ankle",
            "-s",
            "right",
        ];
        a.extend_from_slice(extra);
        medius(&book, &a)
    };
    let counts = || {
        let c = rusqlite::Connection::open(&book).unwrap();
        let sets: i64 = c
            .query_row("SELECT count(*) FROM sets", [], |r| r.get(0))
            .unwrap();
        let recs: i64 = c
            .query_row("SELECT count(*) FROM recordings", [], |r| r.get(0))
            .unwrap();
        (sets, recs)
    };
    let o = import(&["--date", "not a date"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(stderr(&o).trim_end().lines().count(), 1, "{}", stderr(&o));
    assert_eq!(counts(), (0, 0), "a refused import leaves nothing");
    let o = import(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(counts(), (2, 1));
    let o = import(&[]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");
    assert!(
        e.contains("in the logbook already (2 set(s) from it)"),
        "{e}"
    );
    assert!(e.contains("--again"), "{e}");
    assert_eq!(counts(), (2, 1), "the second import added nothing");
    let o = import(&["--again"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(counts(), (4, 2));
}

/// `import NAME.session.json` brings in a two-sensor session: the fused
/// sets (`analyze` on the same file, the truth's count, with pelvic flags),
/// both recordings with their SHA-256, each set linked to both (review
/// names both files), in one go and once; a bad session file is one line,
/// exit 2, and leaves the logbook as it was.
#[test]
fn a_session_file_imports_the_pair_once_linked_to_both() {
    let dir = tempfile::tempdir().unwrap();
    let book = dir.path().join("log.sqlite3");
    let name = dir.path().join("pair");
    let o = medius(
        &book,
        &[
            "simulate",
            "-e",
            "side-lying-abduction",
            "-p",
            "both",
            "-s",
            "left",
            "--sets",
            "2",
            "--rate",
            "50",
            "--compensation-rate",
            "0.5",
            "--seed",
            "11",
            "-o",
            name.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let session = dir.path().join("pair.session.json");
    let session_s = session.to_str().unwrap();
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("pair.truth.json")).unwrap())
            .unwrap();
    let truth_counts: Vec<i64> = truth["sets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["rep_count"].as_i64().unwrap())
        .collect();
    let o = medius(&book, &["analyze", session_s, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let analysed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let pelvic = ["hip_hike", "pelvic_drop", "trunk_sway"];
    // Per set: (reps, pelvic flags) as `analyze` finds them.
    let wanted: Vec<(i64, i64)> = analysed["sets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let flags = s["reps"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|r| r["flags"].as_array().unwrap())
                .filter(|f| pelvic.contains(&f["kind"].as_str().unwrap()))
                .count();
            (s["rep_count"].as_i64().unwrap(), flags as i64)
        })
        .collect();
    assert_eq!(wanted.iter().map(|w| w.0).collect::<Vec<_>>(), truth_counts);
    assert!(wanted.iter().map(|w| w.1).sum::<i64>() > 0, "{wanted:?}");

    let o = medius(&book, &["import", session_s, "--load", "2kg", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let ids: Vec<i64> = doc["set_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), truth_counts.len());
    let conn = rusqlite::Connection::open(&book).unwrap();
    let got: Vec<(i64, i64)> = ids
        .iter()
        .map(|id| {
            conn.query_row(
                "SELECT s.reps, (SELECT count(*) FROM flags f JOIN reps r ON r.id = f.rep_id
                   WHERE r.set_id = s.id AND f.kind IN ('hip_hike', 'pelvic_drop', 'trunk_sway'))
                   FROM sets s WHERE s.id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
        })
        .collect();
    assert_eq!(got, wanted, "the fused sets, as analyze gives them");
    // Both recordings, each with its file's SHA-256, linked to every set.
    let recs: Vec<(String, String)> = conn
        .prepare("SELECT path, sha256 FROM recordings ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(recs.len(), 2, "{recs:?}");
    for ((path, sha), file) in recs.iter().zip(["pair.ankle.csv", "pair.pelvis.csv"]) {
        assert!(path.ends_with(file), "{path}");
        let real = medius::cli::logbook::sha256_file(&dir.path().join(file)).unwrap();
        assert_eq!(sha, &real);
    }
    drop(conn);
    let lb = Logbook::open(&book).unwrap();
    for id in &ids {
        let linked: Vec<Placement> = lb
            .set_recordings(*id)
            .unwrap()
            .iter()
            .map(|r| r.placement)
            .collect();
        assert_eq!(linked, [Placement::Ankle, Placement::Pelvis]);
    }
    drop(lb);
    let o = medius(&book, &["review", &ids[0].to_string()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("recordings: ankle ")
            && text.contains("pair.ankle.csv · pelvis ")
            && text.contains("pair.pelvis.csv"),
        "{text}"
    );

    // Again: refused, nothing added.
    let before = contents(&book);
    let o = medius(&book, &["import", session_s]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");
    assert!(
        e.contains("in the logbook already") && e.contains("--again"),
        "{e}"
    );
    assert_eq!(contents(&book), before);

    // Bad session files: one line, exit 2, nothing written.
    let write = |file: &str, text: &str| {
        let p = dir.path().join(file);
        std::fs::write(&p, text).unwrap();
        p
    };
    let good = std::fs::read_to_string(&session).unwrap();
    let mut bad_csv = std::fs::read_to_string(dir.path().join("pair.pelvis.csv")).unwrap();
    bad_csv.push_str("12.0,not,a,number,0,0,0\n");
    write("badline.pelvis.csv", &bad_csv);
    let cases = [
        (
            write(
                "gone.session.json",
                &good.replace("pair.pelvis.csv", "gone.csv"),
            ),
            "gone.csv",
        ),
        (write("list.json", "[1, 2]"), "not a medius session file"),
        (
            write(
                "newer.session.json",
                &good.replace("\"medius_session\": 1", "\"medius_session\": 2"),
            ),
            "update medius",
        ),
        (
            write(
                "badline.session.json",
                &good.replace("pair.pelvis.csv", "badline.pelvis.csv"),
            ),
            "badline.pelvis.csv",
        ),
    ];
    for (file, says) in &cases {
        let o = medius(&book, &["import", file.to_str().unwrap(), "--again"]);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{file:?}: {e}");
        assert_eq!(e.trim_end().lines().count(), 1, "{e}");
        assert!(e.contains(says), "{file:?}: {e}");
        assert_eq!(contents(&book), before, "{file:?} wrote something");
    }

    // --again brings the pair in once more.
    let o = medius(&book, &["import", session_s, "--again"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let conn = rusqlite::Connection::open(&book).unwrap();
    let n = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(n("SELECT count(*) FROM sets"), 2 * ids.len() as i64);
    assert_eq!(n("SELECT count(*) FROM recordings"), 4);
    drop(conn);

    // A session file listing one sensor is that CSV alone, as `analyze`
    // reads it: the ankle's sets, linked to its recording only.
    let one = serde_json::json!({
        "medius_session": 1,
        "exercise": "side-lying-abduction",
        "side": "left",
        "sensors": [{"role": "ankle", "file": "pair.ankle.csv", "sensor": "sim"}],
    });
    let one = write("one.session.json", &one.to_string());
    let o = medius(&book, &["analyze", one.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let alone: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let o = medius(
        &book,
        &["import", one.to_str().unwrap(), "--again", "--json"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let one_ids = doc["set_ids"].as_array().unwrap();
    assert_eq!(one_ids.len(), alone["sets"].as_array().unwrap().len());
    let lb = Logbook::open(&book).unwrap();
    for id in one_ids {
        let linked = lb.set_recordings(id.as_i64().unwrap()).unwrap();
        assert_eq!(linked.len(), 1);
        assert_eq!(linked[0].placement, Placement::Ankle);
        assert!(linked[0].path.ends_with("pair.ankle.csv"));
    }
}

/// Every table's rows, in order: what "nothing changed" compares.
fn contents(book: &Path) -> String {
    let conn =
        rusqlite::Connection::open_with_flags(book, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut out = String::new();
    for table in [
        "sessions",
        "recordings",
        "sets",
        "reps",
        "flags",
        "exercises",
    ] {
        let mut st = conn
            .prepare(&format!("SELECT * FROM {table} ORDER BY rowid"))
            .unwrap();
        let n = st.column_count();
        let rows = st
            .query_map([], |r| {
                let mut line = String::new();
                for i in 0..n {
                    line.push_str(&format!("{:?}|", r.get_ref(i)?));
                }
                Ok(line)
            })
            .unwrap();
        for row in rows {
            out.push_str(&format!("{table}: {}\n", row.unwrap()));
        }
    }
    out
}

/// The files in a folder, by name.
fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Issue 16's bad-input catalogue: each is refused with exit 2 and one line
/// (no raw CR, LF or escape echoed from the bad field), and the logbook and
/// its folder are as they were.
#[test]
fn bad_input_catalogue_is_one_line_exit_2_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let book = dir.path().join("log.sqlite3");
    let ok = medius(
        &book,
        &[
            "log",
            "add",
            "-e",
            "clamshell",
            "--reps",
            "20",
            "--load",
            "band red",
        ],
    );
    assert!(ok.status.success(), "{}", stderr(&ok));
    let inputs = tempfile::tempdir().unwrap();
    let heavy = inputs.path().join("heavy.csv");
    std::fs::write(
        &heavy,
        "Date,Workout Name,Exercise Name,Set Order,Weight,Reps\n2026-01-01 10:00:00,A,Squat,1,1e300,5\n",
    )
    .unwrap();
    let feb30 = inputs.path().join("feb30.csv");
    std::fs::write(
        &feb30,
        "Date,Workout Name,Exercise Name,Set Order,Weight,Reps\n2026-02-30 10:00:00,A,Squat,1,100,5\n",
    )
    .unwrap();
    let folder = dir.path().join("a-folder");
    std::fs::create_dir(&folder).unwrap();
    let nodir = dir.path().join("nodir").join("x.sqlite3");
    let before = contents(&book);
    let files = files_in(dir.path());
    let add = |extra: &[&'static str]| -> Vec<String> {
        let mut v: Vec<String> = ["log", "add", "-e", "clamshell", "--reps", "5"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let s = |v: &[&str]| -> Vec<String> { v.iter().map(|x| x.to_string()).collect() };
    let cases: Vec<(Vec<String>, &str)> = vec![
        // Item 12: these panicked (exit 101).
        (s(&["log", "--since", "é"]), "--since 'é' not understood"),
        (
            s(&["run", "--sensor", "sim", "--speed", "1e-300", "--no-record"]),
            "--speed 1e-300 must be 0",
        ),
        // Item 13: a line without end is refused before it fills the memory.
        (s(&["analyze", "/dev/zero"]), "a line longer than 1024 KiB"),
        (s(&["import", "/dev/zero"]), "a line longer than 1024 KiB"),
        (
            s(&["import-log", "strong", "/dev/zero"]),
            "larger than 64 MiB; not a Strong export",
        ),
        // Item 15: silently accepted nonsense.
        (
            add(&["--date", "2026-02-30"]),
            "date '2026-02-30' not understood",
        ),
        (
            s(&["import-log", "strong", feb30.to_str().unwrap()]),
            "date '2026-02-30 10:00:00' not understood",
        ),
        (
            s(&["log", "--since", "613566757w"]),
            "further back than medius looks",
        ),
        (s(&["log", "--since", "2026-02-30"]), "--since '2026-02-30'"),
        (add(&["--rir", "4294967295"]), "4294967295 reps in reserve"),
        (add(&["--rir", "11"]), "11 reps in reserve"),
        (
            s(&["review", "1", "--rir", "4294967295"]),
            "reps in reserve",
        ),
        (
            s(&["import-log", "strong", heavy.to_str().unwrap()]),
            "heavy.csv:2: Weight '1e300' is not a number from 0 to",
        ),
        // Item 15: exit 1 where it is the user's to fix.
        (
            s(&[
                "log",
                "add",
                "--logbook",
                folder.to_str().unwrap(),
                "-e",
                "clamshell",
                "--reps",
                "5",
            ]),
            "is a folder, not a logbook file",
        ),
        (
            s(&["log", "--logbook", folder.to_str().unwrap()]),
            "is a folder, not a logbook file",
        ),
        (s(&["backup", nodir.to_str().unwrap()]), "does not exist"),
        // Item 10: a bad field's CR, LF and escapes are shown, not obeyed.
        (
            add(&["--date", "2026-01-01\r\n\u{1b}[2Jx"]),
            "date '2026-01-01\\r\\n\\u{1b}[2Jx'",
        ),
        (
            add(&["--load", "1\r\n2kg"]),
            "2kg' not understood: write e.g. 12.5kg",
        ),
        (
            s(&["log", "--since", "\u{1b}]52;c;x\u{7}"]),
            "--since '\\u{1b}]52;c;x\\u{7}'",
        ),
    ];
    for (args, want) in &cases {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = medius(&book, &a);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {e}");
        // clap's own errors are whole (issue 15), the value on one line.
        if e.starts_with("error: ") {
            assert!(
                e.lines().next().unwrap().contains("invalid value"),
                "{args:?}: {e:?}"
            );
        } else {
            assert_eq!(e.trim_end().lines().count(), 1, "{args:?}: {e:?}");
        }
        assert!(
            !e.trim_end().contains(['\r', '\u{1b}', '\u{7}']),
            "{args:?}: raw control characters in {e:?}"
        );
        assert!(e.contains(want), "{args:?}: {e}");
    }
    assert_eq!(contents(&book), before, "the logbook changed");
    assert_eq!(files_in(dir.path()), files, "files appeared or went");
    assert!(!nodir.parent().unwrap().exists());
}

/// Item 14: a command that only reads never creates or migrates a logbook.
#[test]
fn reading_commands_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let book = dir.path().join("sub").join("log.sqlite3");
    for args in [
        &["log"][..],
        &["log", "--pending", "--json"],
        &["next"],
        &["trend", "-e", "hip-hitch"],
        &["export", "--format", "strong"],
        &["exercises"],
        &["review"],
        &["review", "--json"],
    ] {
        let o = medius(&book, args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        assert!(
            !dir.path().join("sub").exists(),
            "{args:?} created the logbook"
        );
    }
    let o = medius(&book, &["backup", dir.path().join("b").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("nothing to back up"), "{}", stderr(&o));
    // A file import-log refuses is refused before the logbook is made.
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "Date,Workout Name,Exercise Name,Set Order,Weight,Reps\n2026-02-30 10:00:00,A,Squat,1,100,5\n",
    )
    .unwrap();
    for file in [bad.to_str().unwrap(), "/dev/zero"] {
        let o = medius(&book, &["import-log", "strong", file]);
        assert_eq!(o.status.code(), Some(2), "{file}: {}", stderr(&o));
    }
    assert!(!dir.path().join("sub").exists());
}

/// Item 11: the logbook, its folder and backups are the user's alone.
#[test]
fn logbook_folder_and_backups_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let book = dir.path().join("new").join("log.sqlite3");
    let o = medius(&book, &["log", "add", "-e", "clamshell", "--reps", "20"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.path().join("new")), 0o700);
    assert_eq!(mode(&book), 0o600);
    for side in ["-wal", "-shm"] {
        let p = dir.path().join("new").join(format!("log.sqlite3{side}"));
        if p.exists() {
            assert_eq!(mode(&p), 0o600, "{side}");
        }
    }
    let copy = dir.path().join("copy.sqlite3");
    let o = medius(&book, &["backup", copy.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(mode(&copy), 0o600);
}

/// Item 10: notes with escape sequences are shown, never obeyed, by `log`
/// and `review`; formula leaders spreadsheets still see are defused.
#[test]
fn notes_never_reach_the_terminal_or_a_spreadsheet_raw() {
    let dir = tempfile::tempdir().unwrap();
    let book = dir.path().join("log.sqlite3");
    let evil = "\u{1b}]52;c;cm0gLXJmIH4=\u{7}\u{1b}[2J\r\nfine";
    for (notes, day) in [
        (evil, "2026-11-02 18:00"),
        (" =1+1", "2026-11-02 18:01"),
        ("\n=1+1", "2026-11-02 18:02"),
        ("＝1+1", "2026-11-02 18:03"),
    ] {
        let o = medius(
            &book,
            &[
                "log",
                "add",
                "-e",
                "clamshell",
                "--reps",
                "20",
                "--notes",
                notes,
                "--date",
                day,
            ],
        );
        assert!(o.status.success(), "{}", stderr(&o));
    }
    for args in [&["log"][..], &["review", "1"]] {
        let o = medius(&book, args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        let out = String::from_utf8(o.stdout).unwrap();
        assert!(
            !out.contains(['\u{1b}', '\u{7}', '\r']),
            "{args:?}: {out:?}"
        );
        assert!(
            out.contains("\\u{1b}]52;c;cm0gLXJmIH4=\\u{7}\\u{1b}[2J\\r\\nfine"),
            "{args:?}: {out}"
        );
    }
    let o = medius(&book, &["export", "--format", "strong"]);
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_reader(&o.stdout[..]);
    let notes: Vec<String> = rdr
        .records()
        .map(|r| r.unwrap().get(11).unwrap().to_string())
        .collect();
    assert_eq!(notes.len(), 4);
    for n in &notes[1..] {
        assert!(n.starts_with('\''), "not defused: {n:?}");
    }
}

/// Item 15: `export -o X.csv` writes beside it in a file of its own; an
/// unrelated X.part is left alone (it used to be truncated and removed).
#[test]
fn export_leaves_an_unrelated_part_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    let book = dir.path().join("log.sqlite3");
    let o = medius(&book, &["log", "add", "-e", "clamshell", "--reps", "20"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let part = dir.path().join("X.part");
    std::fs::write(&part, "half a download\n").unwrap();
    let out = dir.path().join("X.csv");
    let o = medius(
        &book,
        &["export", "--format", "strong", "-o", out.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&part).unwrap(), "half a download\n");
    assert!(std::fs::read_to_string(&out).unwrap().contains("Clamshell"));
    assert_eq!(
        files_in(dir.path())
            .iter()
            .filter(|f| f.ends_with(".part"))
            .count(),
        1
    );
}
