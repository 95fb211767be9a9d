//! The command line end to end, as a user runs it.

use std::path::Path;
use std::process::{Command, Output};

fn medius(args: &[&str]) -> Output {
    // Never touch the real logbook, config, recordings or socket of whoever
    // runs the tests; each call gets its own.
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let home = std::env::temp_dir().join(format!("medius-cli-test-{}-{n}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_medius"))
        .args(args)
        .env("MEDIUS_LOGBOOK", home.join("logbook.sqlite3"))
        .env("MEDIUS_CONFIG", home.join("config.toml"))
        .env("MEDIUS_SOCKET", home.join("medius.sock"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .output()
        .expect("medius runs");
    let _ = std::fs::remove_dir_all(&home);
    out
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn simulate(dir: &Path, args: &[&str]) -> std::path::PathBuf {
    let out = dir.join("rec.csv");
    let mut a = vec!["simulate", "-o", out.to_str().unwrap()];
    a.extend_from_slice(args);
    let o = medius(&a);
    assert!(o.status.success(), "{}", stderr(&o));
    out
}

#[test]
fn simulate_with_the_chain_model_writes_a_recording_and_its_truth() {
    // Only written and read here: the chain model is the hold-out, so no
    // test runs the counter on it.
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "-e",
        "hip-hitch",
        "-p",
        "pelvis",
        "-s",
        "left",
        "--sets",
        "2",
        "--seed",
        "4",
        "--rate",
        "50",
    ];
    let mut with_model = args.to_vec();
    with_model.extend_from_slice(&["--model", "chain"]);
    let csv = simulate(dir.path(), &with_model);
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("time_s,acc_x_mps2,acc_y_mps2,acc_z_mps2,gyr_x_dps,gyr_y_dps,gyr_z_dps")
    );
    let times: Vec<f64> = lines
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert!(times.len() > 1000, "{} samples", times.len());
    assert!(times.windows(2).all(|w| w[1] >= w[0]));
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("rec.truth.json")).unwrap())
            .unwrap();
    assert_eq!(truth["config"]["model"], "chain");
    assert_eq!(truth["sets"].as_array().unwrap().len(), 2);
    assert!(truth["sets"][0]["rep_count"].as_u64().unwrap() >= 10);
    // It is another body than the standard one with the same seed.
    let other = tempfile::tempdir().unwrap();
    let standard = simulate(other.path(), &args);
    assert_ne!(std::fs::read_to_string(standard).unwrap(), text);
    let o = medius(&["simulate", "--model", "nope", "-o", "x.csv"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("chain"), "{}", stderr(&o));
}

#[test]
fn simulate_with_the_models_built_apart_writes_a_recording_and_its_truth() {
    // Only written and read here: the counter is never run on a model in a
    // test, so none is tuned on one by accident.
    for (model, exercise, placement, seed) in [
        ("balance", "side-lying-abduction", "ankle", "9"),
        ("muscle", "standing-cable-abduction", "pelvis", "13"),
        ("gym", "hip-hitch", "pelvis", "5"),
        ("gym", "seated-machine-abduction", "ankle", "6"),
        ("clinic", "side-lying-abduction", "pelvis", "7"),
        ("clinic", "standing-cable-abduction", "ankle", "8"),
        ("athlete", "standing-cable-abduction", "ankle", "10"),
        ("athlete", "hip-hitch", "pelvis", "11"),
        ("class", "side-lying-abduction", "ankle", "12"),
        ("class", "standing-cable-abduction", "pelvis", "13"),
        ("team", "standing-cable-abduction", "ankle", "14"),
        ("team", "hip-hitch", "pelvis", "15"),
        ("wear", "side-lying-abduction", "ankle", "16"),
        ("wear", "standing-cable-abduction", "pelvis", "17"),
        ("circuit", "side-lying-abduction", "ankle", "18"),
        ("circuit", "standing-cable-abduction", "pelvis", "19"),
        ("home", "hip-hitch", "pelvis", "20"),
        ("home", "seated-machine-abduction", "ankle", "21"),
        ("studio", "side-lying-abduction", "pelvis", "22"),
        ("studio", "standing-cable-abduction", "ankle", "23"),
        ("fatigue", "standing-cable-abduction", "pelvis", "24"),
        ("fatigue", "side-lying-abduction", "ankle", "25"),
        ("hill", "hip-hitch", "pelvis", "26"),
        ("hill", "seated-machine-abduction", "ankle", "27"),
        ("rhythm", "hip-hitch", "pelvis", "28"),
        ("rhythm", "side-lying-abduction", "ankle", "29"),
        ("primitive", "standing-cable-abduction", "pelvis", "30"),
        ("primitive", "seated-machine-abduction", "ankle", "31"),
        ("reach", "hip-hitch", "pelvis", "32"),
        ("reach", "standing-cable-abduction", "ankle", "33"),
        ("lognormal", "side-lying-abduction", "pelvis", "34"),
        ("lognormal", "seated-machine-abduction", "ankle", "35"),
        ("syllable", "standing-cable-abduction", "pelvis", "36"),
        ("syllable", "hip-hitch", "pelvis", "37"),
        ("langevin", "standing-cable-abduction", "pelvis", "38"),
        ("langevin", "hip-hitch", "pelvis", "39"),
        ("pendulum", "standing-cable-abduction", "pelvis", "40"),
        ("pendulum", "hip-hitch", "pelvis", "41"),
        ("neuro", "standing-cable-abduction", "pelvis", "42"),
        ("neuro", "side-lying-abduction", "ankle", "43"),
        ("mocap", "standing-cable-abduction", "pelvis", "44"),
        ("mocap", "side-lying-abduction", "ankle", "45"),
        ("planner", "standing-cable-abduction", "pelvis", "46"),
        ("planner", "side-lying-abduction", "ankle", "47"),
        ("effort", "standing-cable-abduction", "pelvis", "48"),
        ("effort", "side-lying-abduction", "ankle", "49"),
        ("elastic", "standing-cable-abduction", "pelvis", "50"),
        ("elastic", "side-lying-abduction", "ankle", "51"),
        ("units", "hip-hitch", "pelvis", "54"),
        ("units", "seated-machine-abduction", "ankle", "55"),
        ("infer", "hip-hitch", "pelvis", "56"),
        ("infer", "side-lying-abduction", "ankle", "57"),
        ("cortex", "hip-hitch", "pelvis", "58"),
        ("cortex", "side-lying-abduction", "ankle", "59"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let args = [
            "-e", exercise, "-p", placement, "-s", "right", "--sets", "2", "--seed", seed,
            "--rate", "25", "--model", model,
        ];
        let csv = simulate(dir.path(), &args);
        let text = std::fs::read_to_string(&csv).unwrap();
        assert!(
            text.starts_with(
                "time_s,acc_x_mps2,acc_y_mps2,acc_z_mps2,gyr_x_dps,gyr_y_dps,gyr_z_dps\n"
            ),
            "{model}"
        );
        let truth: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("rec.truth.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(truth["config"]["model"], model);
        assert_eq!(truth["sets"].as_array().unwrap().len(), 2, "{model}");
        // The same seed writes the same bytes.
        let again = tempfile::tempdir().unwrap();
        assert_eq!(
            std::fs::read_to_string(simulate(again.path(), &args)).unwrap(),
            text,
            "{model}"
        );
        let o = medius(&["simulate", "--model", "nope", "-o", "x.csv"]);
        assert_eq!(o.status.code(), Some(2));
        assert!(stderr(&o).contains(model), "{}", stderr(&o));
    }
}

#[test]
fn simulate_then_analyze_matches_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    let csv = simulate(
        dir.path(),
        &[
            "-e",
            "side-lying-abduction",
            "-p",
            "ankle",
            "-s",
            "left",
            "--seed",
            "11",
            "--rate",
            "50",
        ],
    );
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("rec.truth.json")).unwrap())
            .unwrap();
    let o = medius(&[
        "analyze",
        csv.to_str().unwrap(),
        "-e",
        "side-lying-abduction",
        "-p",
        "ankle",
        "-s",
        "left",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let got: serde_json::Value =
        serde_json::from_slice(&o.stdout).expect("exactly one JSON document");
    let counts = |v: &serde_json::Value| -> Vec<u64> {
        v["sets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["rep_count"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(counts(&got), counts(&truth));
    // The contract's fields are all there.
    let rep = &got["sets"][0]["reps"][0];
    for key in ["start_s", "end_s", "peak_deg", "flags"] {
        assert!(rep.get(key).is_some(), "rep lacks {key}");
    }
    for key in ["start_s", "end_s", "rep_count", "reps"] {
        assert!(got["sets"][0].get(key).is_some(), "set lacks {key}");
    }
}

#[test]
fn table_output_is_readable() {
    let dir = tempfile::tempdir().unwrap();
    let csv = simulate(dir.path(), &["--sets", "1", "--reps", "6", "--seed", "3"]);
    let o = medius(&["analyze", csv.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("set 1"), "{text}");
    assert!(text.contains("6 reps"), "{text}");
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "time_s,acc_x_mps2,acc_y_mps2,acc_z_mps2,gyr_x_dps,gyr_y_dps,gyr_z_dps\n0,0,9.8,0,0,0,0\n0.01,0,x,0,0,0,0\n",
    )
    .unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["analyze", bad.to_str().unwrap()],
            "bad.csv:3: column 3 (acc_y_mps2) is `x`, not a number",
        ),
        (vec!["analyze", "/nonexistent/x.csv"], "cannot read"),
        (
            vec![
                "analyze",
                bad.to_str().unwrap(),
                "-e",
                "hip-hitch",
                "-p",
                "ankle",
            ],
            "is not counted from the ankle",
        ),
        // Issue 15: an action without a set id was silently ignored.
        (vec!["review", "--verify"], "act on one set: give its id"),
        // A profile is read whole, but not /dev/zero until memory runs out.
        (
            vec!["analyze", bad.to_str().unwrap(), "--profile", "/dev/zero"],
            "larger than 1 MiB: not a medius profile",
        ),
        // Issue 16, item 12: these two panicked (exit 101).
        (vec!["log", "--since", "é"], "--since 'é' not understood"),
        (
            vec!["run", "--sensor", "sim", "--speed", "1e-300"],
            "--speed 1e-300 must be 0",
        ),
        (
            vec![
                "calibrate",
                "-p",
                "ankle",
                "--sensor",
                "sim",
                "--speed",
                "1e-300",
            ],
            "--speed 1e-300 must be 0",
        ),
        (
            vec![
                "run",
                "--sensor",
                "AA:BB:CC:DD:EE:FF",
                "--find-timeout",
                "1e300",
            ],
            "must be a number of seconds",
        ),
    ];
    for (args, needle) in cases {
        let o = medius(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        // clap's own errors are whole (issue 15): the line, its tip, usage.
        if !err.starts_with("error: ") {
            assert_eq!(
                err.trim_end().lines().count(),
                1,
                "{args:?}: not one line: {err}"
            );
        }
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn unknown_exercise_is_a_usage_error() {
    // Issue 15: clap's whole error, with the exercises it accepts.
    let o = medius(&["analyze", "x.csv", "-e", "squat"]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("invalid value 'squat' for '--exercise"), "{e}");
    assert!(e.contains("side-lying-abduction"), "{e}");
    assert!(e.contains("hip-hitch"), "{e}");
}

#[test]
fn profile_override_is_used_and_validated() {
    let dir = tempfile::tempdir().unwrap();
    let csv = simulate(dir.path(), &["--sets", "1", "--reps", "8", "--seed", "5"]);
    let o = medius(&["profile"]);
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    // A profile that needs 100 reps for a set finds none.
    let strict = dir.path().join("strict.toml");
    std::fs::write(&strict, text.replace("min_reps = 2", "min_reps = 100")).unwrap();
    let o = medius(&[
        "analyze",
        csv.to_str().unwrap(),
        "--profile",
        strict.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let got: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(got["sets"].as_array().unwrap().len(), 0);
    // Out of range, or an unknown key: the key is named, exit 2.
    let bad = dir.path().join("bad.toml");
    for (profile, named) in [
        (
            text.replace("enter_deg = 4.0", "enter_deg = -1.0"),
            "reps.enter_deg",
        ),
        (
            text.replace("[sets]", "[sets]\ngap_seconds = 3"),
            "gap_seconds",
        ),
    ] {
        std::fs::write(&bad, profile).unwrap();
        let o = medius(&[
            "analyze",
            csv.to_str().unwrap(),
            "--profile",
            bad.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(2));
        assert!(stderr(&o).contains(named), "{}", stderr(&o));
    }
}

#[test]
fn run_on_the_simulated_sensor_prints_reps_and_sets() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("live.csv");
    let book = dir.path().join("log.sqlite3");
    let o = medius(&[
        "run",
        "--logbook",
        book.to_str().unwrap(),
        "--sensor",
        "sim",
        "--speed",
        "0",
        "--sets",
        "1",
        "--record",
        rec.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("set 1 · rep  1"), "{text}");
    assert!(text.contains("set 1 done:"), "{text}");
    // What was shown live is what analyze finds in the recording.
    let live_reps = text
        .lines()
        .filter(|l| l.starts_with("set 1 · rep"))
        .count();
    let o = medius(&["analyze", rec.to_str().unwrap(), "--json"]);
    let got: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        got["sets"][0]["rep_count"].as_u64().unwrap() as usize,
        live_reps
    );
    // And the set is in the logbook, pending, with the same count.
    assert!(
        text.contains("saved in the logbook as #1 (pending)"),
        "{text}"
    );
    let o = medius(&[
        "log",
        "--pending",
        "--json",
        "--include-sim",
        "--logbook",
        book.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let log: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(log[0]["reps"].as_u64().unwrap() as usize, live_reps);
    assert_eq!(log[0]["state"], "pending");
    assert_eq!(log[0]["source"], "sim");
}

#[test]
fn pelvis_reps_are_announced_once_and_flagged_when_known() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("live.csv");
    let o = medius(&[
        "run",
        "--sensor",
        "sim",
        "--speed",
        "0",
        "-e",
        "hip-hitch",
        "-p",
        "pelvis",
        "-s",
        "left",
        "--seed",
        "5",
        "--no-log",
        "--record",
        rec.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    let o = medius(&[
        "analyze",
        rec.to_str().unwrap(),
        "-e",
        "hip-hitch",
        "-p",
        "pelvis",
        "-s",
        "left",
        "--json",
    ]);
    let got: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for (i, set) in got["sets"].as_array().unwrap().iter().enumerate() {
        let prefix = format!("set {} · rep", i + 1);
        let lines = text.lines().filter(|l| l.starts_with(&prefix)).count();
        assert_eq!(lines, set["rep_count"].as_u64().unwrap() as usize, "{text}");
    }
    let flagged: usize = got["sets"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["reps"].as_array().unwrap().iter())
        .filter(|r| !r["flags"].as_array().unwrap().is_empty())
        .count();
    assert_eq!(
        text.lines().filter(|l| l.contains("⚑")).count(),
        flagged,
        "{text}"
    );
    assert!(!text.contains("withdrawn"), "{text}");
}

/// Two sensors end to end: `simulate --placement both` writes both CSVs,
/// the truth and a session file; `analyze` reads the session file (or the
/// two CSVs) and counts every set of the truth, with the pelvis' offset.
#[test]
fn two_sensors_simulate_then_analyze_matches_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    let name = dir.path().join("pair");
    let name_s = name.to_str().unwrap();
    let args = [
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
        "--seed",
        "11",
        "-o",
        name_s,
    ];
    let o = medius(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in ["ankle.csv", "pelvis.csv", "truth.json", "session.json"] {
        assert!(dir.path().join(format!("pair.{f}")).exists(), "{f}");
    }
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("pair.truth.json")).unwrap())
            .unwrap();
    let counts: Vec<u64> = truth["sets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["rep_count"].as_u64().unwrap())
        .collect();
    assert!(truth["clocks"]["pelvis"]["drift_ppm"].is_number());
    let session = dir.path().join("pair.session.json");
    let o = medius(&["analyze", session.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let found: Vec<u64> = doc["sets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["rep_count"].as_u64().unwrap())
        .collect();
    assert_eq!(found, counts);
    assert_eq!(doc["exercise"], "side-lying-abduction");
    assert_eq!(
        doc["sensors"]["placements"],
        serde_json::json!(["ankle", "pelvis"])
    );
    assert_eq!(doc["sensors"]["offset_known"], true);
    assert!(doc["offset_ms"].is_number());
    // The same from the two CSVs, without the session file's offset.
    let (a, p) = (
        dir.path().join("pair.ankle.csv"),
        dir.path().join("pair.pelvis.csv"),
    );
    let o = medius(&[
        "analyze",
        "--ankle",
        a.to_str().unwrap(),
        "--pelvis",
        p.to_str().unwrap(),
        "-e",
        "side-lying-abduction",
        "-s",
        "left",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        table.contains("sensors on the ankle (counts) and the pelvis (form)"),
        "{table}"
    );
    assert!(table.contains("pelvis clock"), "{table}");
    // Written again: refused, nothing changed.
    let before = std::fs::read(&session).unwrap();
    let o = medius(&args);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("exists"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&session).unwrap(), before);
}

#[test]
fn two_sensors_bad_input_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    // An exercise one sensor follows.
    let o = medius(&[
        "simulate",
        "-e",
        "hip-hitch",
        "-p",
        "both",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("hip-hitch is followed by one sensor"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.path().join("x.ankle.csv").exists());
    // A session file from a newer medius.
    let newer = dir.path().join("newer.session.json");
    std::fs::write(
        &newer,
        r#"{"medius_session": 2, "exercise": "side-lying-abduction", "side": "left", "sensors": []}"#,
    )
    .unwrap();
    let o = medius(&["analyze", newer.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("version 2") && e.contains("update medius"),
        "{e}"
    );
    assert_eq!(e.trim().lines().count(), 1, "{e}");
    // A session file naming a file that is not there.
    let missing = dir.path().join("m.session.json");
    std::fs::write(
        &missing,
        r#"{"medius_session": 1, "exercise": "side-lying-abduction", "side": "left",
            "sensors": [{"role": "ankle", "file": "a.csv", "sensor": "sim"},
                        {"role": "pelvis", "file": "p.csv", "sensor": "sim"}]}"#,
    )
    .unwrap();
    let o = medius(&["analyze", missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("a.csv"), "{}", stderr(&o));
    // --ankle without --pelvis.
    let o = medius(&["analyze", "--ankle", "a.csv"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--pelvis"), "{}", stderr(&o));
}
