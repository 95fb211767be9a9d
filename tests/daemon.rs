//! The daemon: config, status socket, stop, SIGTERM mid-set, keyboard
//! commands between sets, and run → review → log end to end.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// One simulated set as fast as it goes, without a raw recording.
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
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_medius"));
        c.args(args)
            .env("MEDIUS_LOGBOOK", self.path("logbook.sqlite3"))
            .env("MEDIUS_SOCKET", self.path("medius.sock"))
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_DATA_HOME", self.path("data"))
            .env_remove("MEDIUS_CONFIG");
        c
    }
    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }
    /// [`ONE_SIM_SET`], then `extra`.
    fn one_sim_set(&self, extra: &[&str]) -> Output {
        self.run(&[ONE_SIM_SET, extra].concat())
    }
    fn spawn(&self, args: &[&str]) -> Child {
        self.cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
    /// `log --json`, with the simulated and replayed sets these tests make.
    fn log(&self, extra: &[&str]) -> serde_json::Value {
        let mut a = vec!["log", "--json", "--include-sim"];
        a.extend_from_slice(extra);
        let o = self.run(&a);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    }
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn config_init_show_and_bad_keys() {
    let h = Home::new();
    let o = h.run(&["config", "init"]);
    assert!(o.status.success(), "{}", err(&o));
    let file = h.path("config/medius/config.toml");
    assert!(std::fs::read_to_string(&file).unwrap().contains("[link]"));
    let o = h.run(&["config", "init"]);
    assert_eq!(o.status.code(), Some(2), "never overwrites");
    let o = h.run(&["config", "show"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("rate_hz = 100"));
    std::fs::write(
        &file,
        "[session]\nside = \"left\"\n\n[feedback]\nbel = true\n",
    )
    .unwrap();
    for args in [
        &["config", "show"][..],
        &["run", "--sensor", "sim", "--speed", "0"][..],
    ] {
        let o = h.run(args);
        assert_eq!(o.status.code(), Some(2), "{}", err(&o));
        let e = err(&o);
        assert!(e.contains("config.toml:5:") && e.contains("bel"), "{e}");
        assert_eq!(e.trim_end().lines().count(), 1, "{e}");
    }
    // A good config sets run's defaults.
    std::fs::write(
        &file,
        "[session]\nside = \"left\"\n\n[recording]\nkeep = false\n",
    )
    .unwrap();
    let o = h.run(&["run", "--sensor", "sim", "--speed", "0", "--sets", "1"]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(h.log(&["--pending"])[0]["side"], "left");
    assert!(
        !h.path("data/medius/recordings").exists(),
        "recording.keep = false"
    );
}

#[test]
fn status_and_stop_through_the_socket() {
    let h = Home::new();
    let o = h.run(&["status"]);
    assert_eq!(o.status.code(), Some(3), "{}", err(&o));
    // A script asking for JSON gets JSON when nothing runs too (issue 15).
    let o = h.run(&["status", "--json"]);
    assert_eq!(o.status.code(), Some(3), "{}", err(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON on stdout");
    assert_eq!(v["running"], false);
    let child = h.spawn(&["run", "--sensor", "sim", "--speed", "2", "--load", "10kg"]);
    let sock = h.path("medius.sock");
    let t = Instant::now();
    let status = loop {
        let o = h.run(&["status", "--json"]);
        if o.status.success() {
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            if v["samples"].as_u64().unwrap_or(0) > 0 {
                break v;
            }
        }
        assert!(t.elapsed() < Duration::from_secs(15), "no status");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status["sensor"], "sim");
    assert_eq!(status["connected"], true);
    assert_eq!(status["load"], "10kg");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // A second run is refused while this one owns the socket.
    let o = h.run(&["run", "--sensor", "sim", "--no-record"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("already running"), "{}", err(&o));
    let o = h.run(&["stop"]);
    assert!(o.status.success(), "{}", err(&o));
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(!sock.exists(), "the socket is removed on the way out");
}

/// Reads stdout lines until one contains `needle`.
fn wait_for(child: &mut Child, needle: &str, limit: Duration) -> Vec<String> {
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // Keep reading to the end, as a terminal would: medius must not see a
    // closed stdout just because the test stopped looking.
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let _ = tx.send(line.unwrap_or_default());
        }
    });
    let t = Instant::now();
    let mut seen = Vec::new();
    while t.elapsed() < limit {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
            let hit = l.contains(needle);
            seen.push(l);
            if hit {
                return seen;
            }
        }
    }
    panic!("'{needle}' not seen in {limit:?}: {seen:?}");
}

#[test]
fn sigterm_mid_set_saves_the_set_as_pending_and_interrupted() {
    let h = Home::new();
    let mut child = h.spawn(&["run", "--sensor", "sim", "--speed", "4", "--seed", "11"]);
    wait_for(&mut child, "set 1 · rep  3", Duration::from_secs(60));
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", err(&o));
    let pending = h.log(&["--pending"]);
    let sets = pending.as_array().unwrap();
    assert_eq!(sets.len(), 1, "{pending}");
    assert!(sets[0]["reps"].as_u64().unwrap() >= 3, "{pending}");
    // The set is whole: its reps are rows.
    let conn = rusqlite::Connection::open(h.path("logbook.sqlite3")).unwrap();
    let (interrupted, rows, rec): (bool, i64, String) = conn
        .query_row(
            "SELECT s.interrupted, (SELECT count(*) FROM reps r WHERE r.set_id = s.id), rc.path
               FROM sets s JOIN recordings rc ON rc.id = s.recording_id",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert!(interrupted);
    assert_eq!(rows as u64, sets[0]["reps"].as_u64().unwrap());
    // The raw recording has the samples up to the stop.
    let text = std::fs::read_to_string(Path::new(&rec)).unwrap();
    assert!(text.lines().count() > 500, "{} lines", text.lines().count());
    // The socket is gone: the next run starts.
    assert!(!h.path("medius.sock").exists());
}

#[test]
fn keyboard_changes_load_and_side_between_sets() {
    let h = Home::new();
    // At --speed 0 the first rep could come before the keys are read:
    // 10 s of simulated stillness at ×20 leaves half a second to type.
    let args: Vec<&str> = ONE_SIM_SET
        .iter()
        .map(|a| if *a == "0" { "20" } else { a })
        .chain(["--keys", "--lead-in", "10"])
        .collect();
    let mut child = h.spawn(&args);
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"l 15kg\ns\nbogus\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", err(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("'bogus': not a command"), "{text}");
    let sets = h.log(&["--pending"]);
    // Typed before the first rep: the set carries the new context.
    assert_eq!(
        sets[0]["load"]["value"].as_f64(),
        Some(15.0),
        "{sets}\n{text}"
    );
    assert_eq!(sets[0]["side"], "left");
}

#[test]
fn replay_then_review_then_log() {
    let h = Home::new();
    let csv = h.path("session.csv");
    let o = h.run(&[
        "simulate",
        "-o",
        csv.to_str().unwrap(),
        "--sets",
        "1",
        "--reps",
        "12",
        "--compensations",
        "momentum",
        "--compensation-rate",
        "0.3",
        "--seed",
        "4",
    ]);
    assert!(o.status.success(), "{}", err(&o));
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(h.path("session.truth.json")).unwrap())
            .unwrap();
    let want = truth["sets"][0]["rep_count"].as_u64().unwrap();
    let replay = format!("replay:{}", csv.display());
    let o = h.run(&[
        "run", "--sensor", &replay, "--speed", "0", "--load", "pin 6",
    ]);
    assert!(o.status.success(), "{}", err(&o));
    let pending = h.log(&["--pending"]);
    let id = pending[0]["id"].as_i64().unwrap().to_string();
    let o = h.run(&["review", &id, "--json"]);
    let set: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let flagged: Vec<String> = set["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rep"].to_string())
        .collect();
    assert!(
        !flagged.is_empty(),
        "the simulated momentum reps are flagged: {set}"
    );
    let o = h.run(&["review", &id, "--confirm", &flagged.join(","), "--verify"]);
    assert!(o.status.success(), "{}", err(&o));
    let log = h.log(&[]);
    assert_eq!(log[0]["reps"].as_u64(), Some(want));
    assert_eq!(log[0]["source"], "replay");
    assert!(
        log[0]["technique_notes"]
            .as_str()
            .unwrap()
            .starts_with("momentum on rep"),
        "{log}"
    );
    assert_eq!(log[0]["load"]["unit"], "pin");
}

#[test]
fn after_kill_9_the_next_run_recovers_the_open_set() {
    let h = Home::new();
    let mut child = h.spawn(&[
        "run", "--sensor", "sim", "--speed", "4", "--seed", "11", "--load", "10kg",
    ]);
    wait_for(&mut child, "set 1 · rep  5", Duration::from_secs(60));
    // Let the once-a-second flush catch up with rep 5, then die hard.
    std::thread::sleep(Duration::from_millis(1300));
    child.kill().unwrap();
    let _ = child.wait();
    assert!(
        h.log(&["--pending"]).as_array().unwrap().is_empty(),
        "nothing saved yet: the set was open"
    );
    // The socket was left behind by the crash; the next run starts anyway.
    let o = h.one_sim_set(&["--seed", "3"]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(err(&o).contains("recovered logbook set #1"), "{}", err(&o));
    let pending = h.log(&["--pending"]);
    let recovered = pending
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == 1)
        .unwrap_or_else(|| panic!("{pending}"));
    assert!(recovered["reps"].as_u64().unwrap() >= 5, "{recovered}");
    assert_eq!(recovered["load"]["value"].as_f64(), Some(10.0));
    // Recovered once only.
    let o = h.one_sim_set(&[]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(!err(&o).contains("recovered"), "{}", err(&o));
}

#[test]
fn calibrate_writes_a_profile_that_run_then_uses() {
    let h = Home::new();
    let o = h.run(&["calibrate", "--placement", "ankle", "--speed", "0"]);
    assert!(o.status.success(), "{}", err(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("changed: reps.min_peak_deg 5.0 →"), "{text}");
    let file = h.path("config/medius/profiles/standing-cable-abduction.ankle.toml");
    let profile = std::fs::read_to_string(&file).unwrap();
    assert!(profile.starts_with("# Your own profile"), "{profile}");
    let o = h.one_sim_set(&["--no-log"]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        err(&o).contains("using your calibrated profile"),
        "{}",
        err(&o)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("set 1 done"));
    // Not enough movement: a clear failure and no profile.
    let o = h.run(&[
        "calibrate",
        "--placement",
        "pelvis",
        "-e",
        "standing-cable-abduction",
        "--speed",
        "0",
        "--timeout",
        "20",
    ]);
    if !o.status.success() {
        assert_eq!(o.status.code(), Some(2));
        assert!(err(&o).contains("need 3"), "{}", err(&o));
        assert!(!h
            .path("config/medius/profiles/standing-cable-abduction.pelvis.toml")
            .exists());
    }
}
