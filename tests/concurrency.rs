//! Nothing lost: `run` beside other medius commands writing to the same
//! logbook, several processes opening a new logbook at once, and a set the
//! logbook refuses for longer than `run` waits.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One simulated set as fast as it goes, without a raw recording: what the
/// tests run to make `run` recover what an earlier one left open.
const ONE_SIM_SET: &[&str] = &[
    "run",
    "--sensor",
    "sim",
    "--speed",
    "0",
    "--sets",
    "1",
    "--no-record",
];

#[path = "support/home.rs"]
mod home;
use home::Home;

impl Home {
    fn book(&self) -> PathBuf {
        self.path("logbook.sqlite3")
    }
    fn cmd(&self, args: &[&str]) -> Command {
        cmd_in(self.dir.path(), args)
    }
    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }
    fn spawn(&self, args: &[&str]) -> Child {
        self.cmd(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
    fn count(&self, sql: &str) -> i64 {
        let conn = rusqlite::Connection::open(self.book()).unwrap();
        conn.busy_timeout(Duration::from_secs(10)).unwrap();
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }
}

fn cmd_in(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_medius"));
    c.args(args)
        .current_dir(dir)
        .env("MEDIUS_LOGBOOK", dir.join("logbook.sqlite3"))
        .env("MEDIUS_SOCKET", dir.join("medius.sock"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_RUNTIME_DIR", dir.join("runtime"))
        .env_remove("MEDIUS_CONFIG");
    c
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A simulated recording: `sets` short sets, short rests, 50 Hz.
fn simulate(h: &Home, name: &str, sets: usize, seed: u64) -> PathBuf {
    let out = h.path(name);
    let o = h.run(&[
        "simulate",
        "--sets",
        &sets.to_string(),
        "--reps",
        "3..4",
        "--rest",
        "12..13",
        "--rate",
        "50",
        "--compensation-rate",
        "0",
        "--seed",
        &seed.to_string(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", err(&o));
    out
}

/// Runs `args` (with `{n}` replaced by a counter) in a loop until `stop`;
/// returns (runs, failures as text).
fn keep_running(
    dir: PathBuf,
    args: Vec<String>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<(usize, Vec<String>)> {
    std::thread::spawn(move || {
        let mut n = 0;
        let mut failures = Vec::new();
        while !stop.load(Ordering::SeqCst) {
            n += 1;
            let a: Vec<String> = args
                .iter()
                .map(|x| x.replace("{n}", &n.to_string()))
                .collect();
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            let o = cmd_in(&dir, &a).output().unwrap();
            if !o.status.success() || err(&o).contains("locked") {
                failures.push(format!("{a:?}: {:?} {}", o.status.code(), err(&o)));
            }
        }
        (n, failures)
    })
}

/// The stress test: `run` replays 80 sets as fast as it can while
/// `import`, `log add`, `review` and `backup` loop beside it. Every set is
/// saved, nobody sees "database is locked", every exit code is 0.
#[test]
fn run_saves_every_set_while_other_commands_write() {
    let h = Home::new();
    let session = simulate(&h, "session.csv", 80, 3);
    let small = simulate(&h, "small.csv", 1, 5);
    // Something to review in the loop, and a logbook that exists.
    let o = h.run(&["log", "add", "-e", "hip-hitch", "--reps", "10"]);
    assert!(o.status.success(), "{}", err(&o));
    std::fs::create_dir(h.path("backups")).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let loops = vec![
        keep_running(
            h.dir.path().to_path_buf(),
            s(&[
                "import",
                small.to_str().unwrap(),
                "-e",
                "standing-cable-abduction",
                "-p",
                "ankle",
                "-s",
                "right",
                "--again",
            ]),
            stop.clone(),
        ),
        keep_running(
            h.dir.path().to_path_buf(),
            s(&["log", "add", "-e", "hip-hitch", "--reps", "{n}"]),
            stop.clone(),
        ),
        keep_running(
            h.dir.path().to_path_buf(),
            s(&["review", "1", "--rir", "2"]),
            stop.clone(),
        ),
        keep_running(
            h.dir.path().to_path_buf(),
            s(&["backup", "backups/b{n}.sqlite3"]),
            stop.clone(),
        ),
    ];
    // Let the loops get going, then run twice beside them.
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    let mut outs = Vec::new();
    for _ in 0..2 {
        let o = h
            .spawn(&[
                "run",
                "--sensor",
                &format!("replay:{}", session.display()),
                "--speed",
                "0",
                "--no-record",
            ])
            .wait_with_output()
            .unwrap();
        outs.push(o);
    }
    let took = t.elapsed();
    stop.store(true, Ordering::SeqCst);
    let mut runs = 0;
    for l in loops {
        let (n, failures) = l.join().unwrap();
        runs += n;
        assert!(failures.is_empty(), "{failures:#?}");
    }
    for o in &outs {
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{}", err(o));
        assert!(!err(o).contains("locked"), "{}", err(o));
        assert!(!err(o).contains("not saved"), "{}", err(o));
        assert_eq!(
            text.matches("saved in the logbook as #").count(),
            80,
            "{text}"
        );
    }
    assert_eq!(
        h.count(
            "SELECT count(*) FROM sets WHERE source <> 'manual' AND recording_id IS NULL AND state = 'pending'"
        ),
        160
    );
    assert!(runs >= 8, "the loops ran {runs} commands in {took:?}");
}

/// Several processes opening the same new logbook at once: one creates it,
/// the others find it made ("table exercises already exists" before).
#[test]
fn many_first_opens_of_a_new_logbook_all_succeed() {
    for round in 0..4 {
        let h = Home::new();
        let kids: Vec<Child> = (0..8)
            .map(|i| {
                if i % 2 == 0 {
                    h.spawn(&["log", "add", "-e", "hip-hitch", "--reps", "10"])
                } else {
                    h.spawn(&["exercises"])
                }
            })
            .collect();
        for k in kids {
            let o = k.wait_with_output().unwrap();
            assert!(o.status.success(), "round {round}: {}", err(&o));
        }
        assert_eq!(h.count("SELECT count(*) FROM sets"), 4);
        assert_eq!(
            h.count("PRAGMA user_version"),
            medius::logbook::SCHEMA_VERSION
        );
    }
}

/// A set the logbook refuses for longer than `run` waits is kept, tried
/// again, and when it still cannot be saved `run` says so and fails, and
/// leaves the recording open so that the next `run` saves the sets.
#[test]
fn a_set_that_cannot_be_saved_is_kept_and_never_lost() {
    let h = Home::new();
    let session = simulate(&h, "session.csv", 3, 9);
    std::fs::create_dir_all(h.path("config/medius")).unwrap();
    std::fs::write(
        h.path("config/medius/config.toml"),
        "[logbook]\nwait_s = 0.2\n",
    )
    .unwrap();
    let o = h.run(&["log", "add", "-e", "hip-hitch", "--reps", "10"]);
    assert!(o.status.success(), "{}", err(&o));
    let rec = h.path("rec.csv");
    // Start, and once run has its recording in the logbook, take the write
    // lock and keep it until run has ended.
    let child = h
        .cmd(&[
            "run",
            "--sensor",
            &format!("replay:{}", session.display()),
            "--speed",
            "40",
            "--record",
            rec.to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let conn = rusqlite::Connection::open(h.book()).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    let t = Instant::now();
    loop {
        let n: i64 = conn
            .query_row("SELECT count(*) FROM recordings", [], |r| r.get(0))
            .unwrap();
        if n > 0 {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "run never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    let o = child.wait_with_output().unwrap();
    conn.execute_batch("COMMIT").unwrap();
    let e = err(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("3 sets could not be saved"), "{e}");
    assert!(e.contains("next `medius run` saves them"), "{e}");
    assert_eq!(
        h.count("SELECT count(*) FROM sets WHERE source <> 'manual'"),
        0
    );
    assert_eq!(
        h.count("SELECT count(*) FROM recordings WHERE closed = 0"),
        1,
        "the recording stays open"
    );
    // The next run saves them from the recording.
    let o = h.run(ONE_SIM_SET);
    assert!(o.status.success(), "{}", err(&o));
    assert!(err(&o).contains("recovered logbook set"), "{}", err(&o));
    assert_eq!(
        h.count("SELECT count(*) FROM sets WHERE source <> 'manual' AND recording_id IS NOT NULL"),
        3
    );
}

/// `--record` never writes over a file: not the logbook, not the file being
/// replayed. Two sessions started within the same second get two
/// recordings.
#[test]
fn recordings_never_overwrite_a_file() {
    let h = Home::new();
    let session = simulate(&h, "session.csv", 2, 4);
    let replay = format!("replay:{}", session.display());
    let o = h.run(&["run", "--sensor", &replay, "--speed", "0", "--no-record"]);
    assert!(o.status.success(), "{}", err(&o));
    let book_before = std::fs::read(h.book()).unwrap();
    let session_before = std::fs::read(&session).unwrap();
    for target in [h.book(), session.clone()] {
        let o = h.run(&[
            "run",
            "--sensor",
            &replay,
            "--speed",
            "0",
            "--record",
            target.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(2), "{}", err(&o));
        let e = err(&o);
        let errors: Vec<&str> = e.lines().filter(|l| l.starts_with("medius:")).collect();
        assert!(errors.len() == 1 && errors[0].contains("exists"), "{e}");
    }
    assert_eq!(std::fs::read(&session).unwrap(), session_before);
    assert_eq!(std::fs::read(h.book()).unwrap(), book_before);
    assert_eq!(h.count("SELECT count(*) FROM sets"), 2);
    // Default names: back to back, within a second.
    for _ in 0..3 {
        let o = h.run(&["run", "--sensor", &replay, "--speed", "0"]);
        assert!(o.status.success(), "{}", err(&o));
    }
    let dir = h.path("data/medius/recordings");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 3);
    assert_eq!(
        h.count("SELECT count(DISTINCT path) FROM recordings WHERE closed = 1 AND sensor LIKE 'replay:%'"),
        3
    );
    use std::os::unix::fs::PermissionsExt;
    for f in std::fs::read_dir(&dir).unwrap() {
        let mode = f.unwrap().metadata().unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "a recording is its owner's alone");
    }
    assert_eq!(
        std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
}

/// A child's stdout, line by line; read to the end as a terminal would.
fn lines(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines() {
            let _ = tx.send(line.unwrap_or_default());
        }
    });
    rx
}

/// Waits for a line containing `needle`.
fn wait_for(rx: &std::sync::mpsc::Receiver<String>, needle: &str, limit: Duration) {
    let t = Instant::now();
    let mut seen = Vec::new();
    while t.elapsed() < limit {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(50)) {
            let hit = l.contains(needle);
            seen.push(l);
            if hit {
                return;
            }
        }
    }
    panic!("'{needle}' not seen in {limit:?}: {seen:?}");
}

/// A second `run` on the same logbook is refused even with another status
/// socket (another runtime dir), and does not "recover" the recording the
/// first is still writing.
#[test]
fn the_logbook_is_locked_by_the_running_session() {
    let h = Home::new();
    let mut first = h
        .cmd(&["run", "--sensor", "sim", "--speed", "2", "--sets", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = lines(&mut first);
    wait_for(&out, "rep  3", Duration::from_secs(60));
    let o = h
        .cmd(ONE_SIM_SET)
        .env("MEDIUS_SOCKET", h.path("other.sock"))
        .output()
        .unwrap();
    let e = err(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(
        e.contains("another `medius run` is using the logbook"),
        "{e}"
    );
    assert!(!e.contains("recovered"), "{e}");
    assert_eq!(
        h.count("SELECT count(*) FROM recordings WHERE closed = 0"),
        1
    );
    assert_eq!(h.count("SELECT count(*) FROM sets"), 0);
    let o = h.run(&["stop"]);
    assert!(o.status.success(), "{}", err(&o));
    let o = first.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(
        h.count("SELECT count(*) FROM sets"),
        1,
        "saved once, by its own run"
    );
}

/// After `s` and `l 20kg` between sets and a kill -9 during the next set,
/// the recovered set is saved with the side and load the lifter had set.
#[test]
fn recovery_replays_the_context_changes() {
    use std::io::Write;
    let h = Home::new();
    let session = h.path("session.csv");
    let o = h.run(&[
        "simulate",
        "--sets",
        "2",
        "--reps",
        "10",
        "--rest",
        "15..16",
        "--rate",
        "50",
        "--compensation-rate",
        "0",
        "--seed",
        "6",
        "-o",
        session.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", err(&o));
    let mut child = h
        .cmd(&[
            "run",
            "--sensor",
            &format!("replay:{}", session.display()),
            "--speed",
            "8",
            "--keys",
            "--load",
            "10kg",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut keys = child.stdin.take().unwrap();
    let out = lines(&mut child);
    wait_for(&out, "set 1 done", Duration::from_secs(60));
    keys.write_all(b"s\nl 20kg\n").unwrap();
    keys.flush().unwrap();
    wait_for(&out, "left side · 20kg", Duration::from_secs(20));
    // Let set 2 get going and the once-a-second sync catch up, then die hard.
    wait_for(&out, "rep  3", Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(1300));
    child.kill().unwrap();
    let _ = child.wait();
    let sets = h.count("SELECT count(*) FROM sets");
    assert_eq!(sets, 1, "set 2 was still open");
    let o = h.run(ONE_SIM_SET);
    assert!(o.status.success(), "{}", err(&o));
    assert!(err(&o).contains("recovered logbook set #2"), "{}", err(&o));
    let conn = rusqlite::Connection::open(h.book()).unwrap();
    let (side, load, reps): (String, f64, i64) = conn
        .query_row(
            "SELECT side, load_value, reps FROM sets WHERE id = 2",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((side.as_str(), load), ("left", 20.0));
    assert!(reps >= 3, "{reps} reps");
    let first: (String, f64) = conn
        .query_row("SELECT side, load_value FROM sets WHERE id = 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((first.0.as_str(), first.1), ("right", 10.0));
}

/// A two-sensor `run` killed outright during a set: the next `run` finds
/// the session file beside the ankle's recording and recovers the set from
/// both files, with the pelvic flags the fused analysis of those files
/// gives (the ankle's file alone has none), links it to both recordings and
/// closes both entries.
#[test]
fn a_killed_two_sensor_run_is_recovered_with_its_pelvic_flags_and_both_links() {
    use medius::motion::fuse::{analyze_pair, FusedPipeline};
    use medius::source::csv::RawReader;
    let h = Home::new();
    let pair = h.path("pair");
    // Every rep hikes or sways: the set open at the kill has pelvic flags.
    let o = h.run(&[
        "simulate",
        "-e",
        "side-lying-abduction",
        "-p",
        "both",
        "-s",
        "left",
        "--sets",
        "2",
        "--reps",
        "10",
        "--rest",
        "15..16",
        "--rate",
        "50",
        "--compensations",
        "hip-hike,trunk-sway",
        "--compensation-rate",
        "1",
        "--seed",
        "6",
        "-o",
        pair.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", err(&o));
    let (a, p) = (h.path("pair.ankle.csv"), h.path("pair.pelvis.csv"));
    let record = h.path("run");
    let mut child = h
        .cmd(&[
            "run",
            "--sensor",
            &format!("ankle=replay:{}", a.display()),
            "--sensor",
            &format!("pelvis=replay:{}", p.display()),
            "-e",
            "side-lying-abduction",
            "-s",
            "left",
            "--speed",
            "8",
            "--record",
            record.to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = lines(&mut child);
    wait_for(&out, "set 1 done", Duration::from_secs(60));
    // Let set 2 get going and the once-a-second sync catch up, then die hard.
    wait_for(&out, "set 2 · rep  3", Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(1300));
    child.kill().unwrap();
    let _ = child.wait();
    assert_eq!(h.count("SELECT count(*) FROM sets"), 1, "set 2 was open");
    assert_eq!(
        h.count("SELECT count(*) FROM recordings WHERE closed = 0"),
        2,
        "the ankle's and the pelvis' recordings were left open"
    );
    // What the two files as the kill left them hold, fused (a cut last
    // line ends each, as in recovery).
    let (ra, rp) = (h.path("run.ankle.csv"), h.path("run.pelvis.csv"));
    assert!(h.path("run.session.json").exists());
    let read = |f: &Path| RawReader::open(f).unwrap().map_while(Result::ok);
    let (sets, _) = analyze_pair(
        FusedPipeline::builtin(medius::Exercise::SideLyingAbduction, medius::Side::Left).unwrap(),
        read(&ra),
        read(&rp),
    );
    assert_eq!(sets.len(), 2, "{sets:?}");
    let open_set = &sets[1];
    let pelvic = ["hip_hike", "pelvic_drop", "trunk_sway"];
    let mut wanted: Vec<(i64, String)> = open_set
        .reps
        .iter()
        .flat_map(|r| {
            r.flags
                .iter()
                .map(|f| f.kind.id())
                .filter(|k| pelvic.contains(k))
                .map(|k| (r.number as i64, k.to_string()))
        })
        .collect();
    wanted.sort();
    assert!(
        !wanted.is_empty(),
        "the open set has pelvic flags: {open_set:?}"
    );

    let o = h.run(ONE_SIM_SET);
    assert!(o.status.success(), "{}", err(&o));
    assert!(err(&o).contains("recovered logbook set #2"), "{}", err(&o));
    assert!(!err(&o).contains("recovered logbook set #3"), "{}", err(&o));
    let conn = rusqlite::Connection::open(h.book()).unwrap();
    let (reps, interrupted): (i64, bool) = conn
        .query_row("SELECT reps, interrupted FROM sets WHERE id = 2", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(reps, open_set.rep_count() as i64);
    assert!(interrupted);
    let mut got: Vec<(i64, String)> = conn
        .prepare(
            "SELECT r.number, f.kind FROM reps r JOIN flags f ON f.rep_id = r.id
              WHERE r.set_id = 2 AND f.kind IN ('hip_hike', 'pelvic_drop', 'trunk_sway')",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    got.sort();
    assert_eq!(got, wanted, "the pelvic flags of the recovered set");
    // Linked to both recordings, the ankle's first; both closed, hashed.
    let links: Vec<(String, String)> = conn
        .prepare(
            "SELECT r.path, l.placement FROM set_recordings l JOIN recordings r ON r.id = l.recording_id
              WHERE l.set_id = 2 ORDER BY r.id",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(links.len(), 2, "{links:?}");
    assert!(
        links[0].0.ends_with("run.ankle.csv") && links[0].1 == "ankle",
        "{links:?}"
    );
    assert!(
        links[1].0.ends_with("run.pelvis.csv") && links[1].1 == "pelvis",
        "{links:?}"
    );
    assert_eq!(
        h.count("SELECT count(*) FROM recordings WHERE closed = 0 OR sha256 IS NULL"),
        0,
        "both entries closed"
    );
    let o = h.run(&["review", "2"]);
    assert!(o.status.success(), "{}", err(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("recordings: ankle ") && text.contains("run.ankle.csv · pelvis "),
        "{text}"
    );
    // Recovered once: the next run finds nothing open.
    let o = h.run(ONE_SIM_SET);
    assert!(o.status.success(), "{}", err(&o));
    assert!(!err(&o).contains("recovered"), "{}", err(&o));
}

/// A second sensor's recording left open (no context: its sets are counted
/// from the ankle's) whose ankle entry is not open any more has nothing to
/// recover from it alone: the next `run` closes it, with its samples and
/// SHA-256, rather than leaving it open for ever.
#[test]
fn a_pelvis_recording_left_open_alone_is_closed_by_the_next_run() {
    let h = Home::new();
    let csv = simulate(&h, "pelvis.csv", 1, 4);
    let lines = std::fs::read_to_string(&csv).unwrap().lines().count() as i64 - 1;
    {
        let mut lb = medius::logbook::Logbook::open(&h.book()).unwrap();
        lb.add_recording(&medius::logbook::NewRecording {
            path: csv.display().to_string(),
            sensor: "sim".into(),
            context: None,
            open: true,
            ..Default::default()
        })
        .unwrap();
    }
    assert_eq!(
        h.count("SELECT count(*) FROM recordings WHERE closed = 0"),
        1
    );
    let o = h.run(ONE_SIM_SET);
    assert!(o.status.success(), "{}", err(&o));
    assert!(!err(&o).contains("recovered"), "{}", err(&o));
    assert_eq!(
        h.count("SELECT count(*) FROM recordings WHERE closed = 0"),
        0
    );
    assert_eq!(
        h.count("SELECT samples FROM recordings WHERE sha256 IS NOT NULL"),
        lines
    );
    // Nothing was counted from it: only the simulated set of the run.
    assert_eq!(h.count("SELECT count(*) FROM sets"), 1);
}

/// Whatever sits at the socket path and is not our socket (a file, a
/// symlink) is refused with exit 2 and left as it was; it used to be
/// deleted.
#[test]
fn what_is_not_our_socket_is_never_deleted() {
    let h = Home::new();
    let notes = h.path("notes.txt");
    std::fs::write(&notes, "my notes\n").unwrap();
    let link = h.path("link.sock");
    std::os::unix::fs::symlink(&notes, &link).unwrap();
    for at in [&notes, &link] {
        let o = h
            .cmd(ONE_SIM_SET)
            .env("MEDIUS_SOCKET", at)
            .output()
            .unwrap();
        let e = err(&o);
        assert_eq!(o.status.code(), Some(2), "{e}");
        assert!(e.contains("is not a medius socket of yours"), "{e}");
        assert!(
            std::fs::symlink_metadata(at).is_ok(),
            "{} still there",
            at.display()
        );
    }
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "my notes\n");
}

/// Killed anywhere (kill -9 at a random moment of a replay), then recovered
/// by the next `run`: the logbook holds the sets an uninterrupted analysis
/// of the same samples finds, up to the last second before the kill. No set
/// is lost, none is doubled, the open one comes back with the reps done.
#[test]
fn killed_anywhere_then_recovered_the_log_matches_an_uninterrupted_run() {
    // Deterministic "random" kill points over the whole replay (2.5 s of
    // wall time at --speed 40 for ~100 s of samples).
    let kill_after_ms = [350u64, 900, 1400, 1800, 2300];
    let h = Home::new();
    let session = h.path("session.csv");
    let o = h.run(&[
        "simulate",
        "--sets",
        "3",
        "--reps",
        "8",
        "--rest",
        "12..13",
        "--rate",
        "50",
        "--seed",
        "21",
        "-o",
        session.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", err(&o));
    let o = h.run(&[
        "analyze",
        session.to_str().unwrap(),
        "-e",
        "standing-cable-abduction",
        "-p",
        "ankle",
        "-s",
        "right",
        "--json",
    ]);
    assert!(o.status.success(), "{}", err(&o));
    let whole: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let whole: Vec<(f64, f64, i64)> = whole["sets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let f = |k: &str| s[k].as_f64().unwrap();
            (f("start_s"), f("end_s"), s["rep_count"].as_i64().unwrap())
        })
        .collect();
    assert_eq!(whole.len(), 3, "{whole:?}");
    let (mut rounds, mut whole_sets, mut open_sets) = (0, 0, 0);
    for (round, ms) in kill_after_ms.into_iter().enumerate() {
        let h = Home::new();
        let mut child = h
            .cmd(&[
                "run",
                "--sensor",
                &format!("replay:{}", session.display()),
                "--speed",
                "40",
                "-e",
                "standing-cable-abduction",
                "-p",
                "ankle",
                "-s",
                "right",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(ms));
        child.kill().unwrap();
        let _ = child.wait();
        // The recording as the crash left it: its last sample is as far as
        // anything can be recovered.
        let dir = h.path("data/medius/recordings");
        let recording = std::fs::read_dir(&dir)
            .map(|d| {
                d.map(|e| e.unwrap().path())
                    .find(|p| p.extension().is_some_and(|x| x == "csv"))
            })
            .ok()
            .flatten();
        let Some(recording) = recording else {
            continue; // killed before the recording was made: nothing to lose
        };
        let text = std::fs::read_to_string(&recording).unwrap();
        let last_t: f64 = text
            .lines()
            .rev()
            .find_map(|l| l.split(',').next()?.parse().ok())
            .unwrap_or(0.0);
        let o = h.run(ONE_SIM_SET);
        assert!(o.status.success(), "round {round}: {}", err(&o));
        let conn = rusqlite::Connection::open(h.book()).unwrap();
        let mut st = conn
            .prepare(
                "SELECT s.start_s, s.end_s, s.reps FROM sets s JOIN recordings r ON r.id = s.recording_id
                  WHERE r.path = ?1 ORDER BY s.start_s",
            )
            .unwrap();
        let logged: Vec<(f64, f64, i64)> = st
            .query_map([recording.to_str().unwrap()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        // Every set that ended a second before the last sample is there, once,
        // whole; a set open at the kill is there with no more reps than it had.
        println!("round {round}: killed at {last_t:.1} s of samples: {logged:?}");
        rounds += 1;
        for (start, end, reps) in &whole {
            let found: Vec<_> = logged
                .iter()
                .filter(|l| (l.0 - start).abs() < 0.05)
                .collect();
            if *end < last_t - 1.0 && last_t - end > 6.0 {
                assert_eq!(
                    found.len(),
                    1,
                    "round {round} (t {last_t}): {whole:?} vs {logged:?}"
                );
                assert_eq!(found[0].2, *reps, "round {round}: {whole:?} vs {logged:?}");
                whole_sets += 1;
            } else {
                open_sets += found.len();
                assert!(found.len() <= 1, "round {round}: doubled: {logged:?}");
                assert!(
                    found.iter().all(|l| l.2 <= *reps),
                    "round {round}: {logged:?}"
                );
            }
        }
        assert!(
            logged
                .iter()
                .all(|l| whole.iter().any(|w| (w.0 - l.0).abs() < 0.05)),
            "round {round}: a set no uninterrupted run has: {whole:?} vs {logged:?}"
        );
    }
    // The kill points reach every stage: sets done, a set open. (Loose
    // enough for a loaded machine, where the replay starts later.)
    assert!(
        rounds >= 3 && whole_sets >= 2 && open_sets >= 1,
        "{rounds} rounds, {whole_sets} whole sets, {open_sets} open"
    );
}

/// A recording left open by a killed run whose profile has gone bad since
/// (the config names a broken file) is not closed empty-handed: the next
/// run says why it cannot recover it and leaves it open for a run that can.
#[test]
fn a_recording_that_cannot_be_analysed_is_left_open_and_said() {
    let h = Home::new();
    let rec = simulate(&h, "crashed.csv", 1, 21);
    {
        let mut lb = medius::logbook::Logbook::open(&h.book()).unwrap();
        lb.add_recording(&medius::logbook::NewRecording {
            path: rec.display().to_string(),
            sensor: "sim".into(),
            context: Some((
                "side-lying-abduction".into(),
                medius::Placement::Ankle,
                medius::Side::Right,
                None,
            )),
            open: true,
            ..Default::default()
        })
        .unwrap();
    }
    std::fs::create_dir_all(h.path("config/medius")).unwrap();
    std::fs::write(h.path("bad.toml"), "not a profile").unwrap();
    std::fs::write(
        h.path("config/medius/config.toml"),
        format!(
            "[profiles]\n\"side-lying-abduction.ankle\" = \"{}\"\n",
            h.path("bad.toml").display()
        ),
    )
    .unwrap();
    let o = h.run(&[
        "run",
        "--sensor",
        "sim",
        "-e",
        "standing-cable-abduction",
        "--speed",
        "0",
        "--sets",
        "1",
        "--no-record",
    ]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        err(&o).contains("could not analyse") && err(&o).contains("tries again"),
        "{}",
        err(&o)
    );
    assert_eq!(
        h.count("SELECT count(*) FROM recordings WHERE closed = 0"),
        1,
        "left open for the next run"
    );
}
