//! Issue 15: the command line people expect (errors, help, completions,
//! colour, tables, pipes), each item run through the binary.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A private home for one test: its logbook, config, socket, data.
struct Home(tempfile::TempDir);

impl Home {
    fn new() -> Home {
        Home(tempfile::tempdir().unwrap())
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let h = self.path();
        let mut c = Command::new(env!("CARGO_BIN_EXE_medius"));
        c.args(args)
            .env("MEDIUS_LOGBOOK", h.join("logbook.sqlite3"))
            .env("MEDIUS_CONFIG", h.join("config.toml"))
            .env("MEDIUS_SOCKET", h.join("medius.sock"))
            .env("XDG_DATA_HOME", h.join("data"))
            .env("XDG_CONFIG_HOME", h.join("config"))
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR_FORCE")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("medius runs")
    }

    /// A simulated recording in this home.
    fn recording(&self, name: &str, extra: &[&str]) -> PathBuf {
        let f = self.path().join(name);
        let mut a = vec!["simulate", "-o", f.to_str().unwrap(), "--rate", "50"];
        a.extend_from_slice(extra);
        let o = self.run(&a);
        assert!(o.status.success(), "{}", err(&o));
        f
    }
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn clap_errors_are_whole_with_tips_and_accepted_values() {
    let h = Home::new();
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["reveiw"],
            &["unrecognized subcommand 'reveiw'", "'review'", "Usage:"],
        ),
        (
            &["export", "--format", "csv"],
            &["invalid value 'csv'", "strong", "hevy", "json"],
        ),
        (
            &["import-log", "fitbit", "x.csv"],
            &["invalid value 'fitbit'", "strong", "hevy", "json"],
        ),
        (
            &["review", "36", "--reps", "-1"],
            &["invalid value '-1' for '--reps"],
        ),
        (
            &["run", "-e", "squat"],
            &["invalid value 'squat'", "side-lying-abduction", "hip-hitch"],
        ),
        (&["analyze", "x.csv", "-p", "knee"], &["ankle", "pelvis"]),
        (
            &["log", "add", "-e", "x", "--reps", "3", "-s", "up"],
            &["left", "right"],
        ),
        (
            &["completions", "tcsh"],
            &["bash", "zsh", "fish", "powershell"],
        ),
    ];
    for (args, needles) in cases {
        let o = h.run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", err(&o));
        assert!(o.stdout.is_empty(), "{args:?}");
        for n in *needles {
            assert!(err(&o).contains(n), "{args:?}: no {n:?} in {}", err(&o));
        }
    }
    // A bad value with an escape in it is shown, not obeyed.
    let o = h.run(&["export", "--format", "\u{1b}[2J"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!err(&o).contains('\u{1b}'), "{:?}", err(&o));
    assert!(
        err(&o).contains("[possible values: strong, hevy, json, fit]"),
        "{}",
        err(&o)
    );
}

#[test]
fn each_cause_is_said_once() {
    let h = Home::new();
    let o = h.run(&["analyze", "/nonexistent/x.csv"]);
    assert_eq!(o.status.code(), Some(2));
    let e = err(&o);
    assert_eq!(e.matches("No such file or directory").count(), 1, "{e}");
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");
    // backup's three layers of the same io error.
    let log = h.run(&["log", "add", "-e", "clamshell", "--reps", "20"]);
    assert!(log.status.success(), "{}", err(&log));
    let o = h.run(&["backup", "/nonexistent/dir/x"]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    let e = err(&o);
    assert!(e.contains("/nonexistent/dir does not exist"), "{e}");
    assert!(e.matches("No such file").count() <= 1, "{e}");
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");
}

#[test]
fn a_binary_file_is_not_echoed() {
    let h = Home::new();
    let bin = h.path().join("firmware.bin");
    let mut bytes = b"\x7fELF\x02\x01\x01\0\0\0\x1b[2J\x1b]52;c;aGk=\x07".to_vec();
    bytes.extend((0..=255u8).cycle().take(4000));
    std::fs::write(&bin, &bytes).unwrap();
    for args in [
        vec!["analyze", bin.to_str().unwrap()],
        vec!["import", bin.to_str().unwrap()],
    ] {
        let o = h.run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let e = err(&o);
        assert!(e.contains("not a CSV recording"), "{e}");
        assert!(!e.contains("ELF"), "{e}");
        assert!(!e.contains("\\u{"), "{e}");
        assert_eq!(e.trim_end().lines().count(), 1, "{e}");
    }
    // Binary in a sample row: the row is named, its bytes are not shown.
    let rec = h.path().join("bad.csv");
    let mut f = std::fs::File::create(&rec).unwrap();
    f.write_all(b"time_s,acc_x_mps2,acc_y_mps2,acc_z_mps2,gyr_x_dps,gyr_y_dps,gyr_z_dps\n0,0,9.8,0,0,0,0\n\x01\x02\xff\x1b[31m,0,0,0,0,0,0\n").unwrap();
    drop(f);
    let o = h.run(&["analyze", rec.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("bad.csv:3"), "{}", err(&o));
    assert!(err(&o).contains("binary data"), "{}", err(&o));
    assert!(!err(&o).contains('\u{1b}'), "{}", err(&o));
}

#[test]
fn every_help_has_an_example_and_the_top_one_the_exit_codes() {
    let h = Home::new();
    let top = h.run(&["--help"]);
    assert!(top.status.success());
    let text = out(&top);
    assert!(text.contains("Exit codes:"), "{text}");
    for code in ["0  ", "1  ", "2  ", "3  "] {
        assert!(text.contains(code), "{text}");
    }
    let commands = [
        vec!["run"],
        vec!["scan"],
        vec!["status"],
        vec!["stop"],
        vec!["config"],
        vec!["config", "init"],
        vec!["config", "show"],
        vec!["config", "path"],
        vec!["calibrate"],
        vec!["analyze"],
        vec!["simulate"],
        vec!["accuracy"],
        vec!["profile"],
        vec!["import"],
        vec!["review"],
        vec!["log"],
        vec!["log", "add"],
        vec!["next"],
        vec!["trend"],
        vec!["export"],
        vec!["import-log"],
        vec!["backup"],
        vec!["exercises"],
        vec!["exercises", "add"],
        vec!["completions"],
        vec!["man"],
    ];
    for cmd in commands {
        let mut args = cmd.clone();
        args.push("--help");
        let o = h.run(&args);
        assert!(o.status.success(), "{cmd:?}");
        let text = out(&o);
        let examples = text
            .split("Examples:\n")
            .nth(1)
            .unwrap_or_else(|| panic!("{cmd:?}: no examples in\n{text}"));
        assert!(
            examples.contains(&format!("medius {}", cmd[0])),
            "{cmd:?}: the examples do not run it:\n{text}"
        );
    }
    // Every subcommand is in that list (a new one must bring an example).
    let listed = text
        .split("Commands:\n")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .count();
    assert_eq!(listed, 21, "{text}");
}

/// Lines of a piped `run`: no escape sequences, no carriage returns.
fn plain(o: &Output) -> String {
    let text = out(o);
    assert!(!text.contains('\u{1b}'), "colour in a pipe: {text:?}");
    assert!(!text.contains('\r'), "a redrawn line in a pipe: {text:?}");
    text
}

#[test]
fn live_sets_are_numbered_once_and_flags_carry_their_units() {
    let h = Home::new();
    // Two sets typed by hand first: logbook ids and the session's set
    // numbers then differ, and each is labelled as what it is.
    for _ in 0..2 {
        let o = h.run(&["log", "add", "-e", "clamshell", "--reps", "20"]);
        assert!(o.status.success(), "{}", err(&o));
    }
    let o = h.run(&[
        "run",
        "--sensor",
        "sim",
        "--speed",
        "0",
        "--sets",
        "2",
        "--seed",
        "7",
        "--no-record",
    ]);
    assert!(o.status.success(), "{}", err(&o));
    let text = plain(&o);
    for want in [
        "set 1 · rep  1 ",
        "set 1 done: ",
        "saved in the logbook as #3 (pending) — medius review 3",
        "set 2 · rep  1 ",
        "set 2 done: ",
        "saved in the logbook as #4 (pending)",
        "session: 2 sets, ",
        "pending sets #3, #4",
    ] {
        assert!(text.contains(want), "no {want:?} in\n{text}");
    }
    assert!(!text.contains("set 3"), "{text}");
    assert!(!text.contains("set 4"), "{text}");
    // Momentum in °/s on the rep line and in the summary; a partial rep
    // says how short of the working range it fell.
    let momentum: Vec<&str> = text.lines().filter(|l| l.contains("momentum")).collect();
    assert!(momentum.len() >= 2, "seed 7 has momentum reps:\n{text}");
    for l in momentum {
        assert!(l.contains("°/s"), "{l}");
    }
    let partial: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("partial range"))
        .collect();
    assert!(!partial.is_empty(), "seed 7 has a partial rep:\n{text}");
    for l in partial {
        assert!(l.contains("° short"), "{l}");
    }
    assert!(
        text.lines().any(|l| l.contains("° short of your ")),
        "{text}"
    );
    // Plurals.
    for wrong in ["(s)", " 1 reps", " 1 sets", "\n1 reps"] {
        assert!(!text.contains(wrong), "{wrong:?} in\n{text}");
    }
}

#[test]
fn pelvic_movement_is_not_called_range() {
    let h = Home::new();
    let o = h.run(&[
        "run",
        "--sensor",
        "sim",
        "--speed",
        "0",
        "--sets",
        "1",
        "-e",
        "hip-hitch",
        "-p",
        "pelvis",
        "--no-record",
        "--no-log",
    ]);
    assert!(o.status.success(), "{}", err(&o));
    let text = plain(&o);
    let done = text.lines().find(|l| l.starts_with("set 1 done")).unwrap();
    assert!(done.contains("pelvis moved "), "{done}");
    assert!(!text.contains("range"), "{text}");
}

#[test]
fn quiet_prints_errors_only() {
    let h = Home::new();
    let o = h.run(&[
        "-q", "run", "--sensor", "sim", "--speed", "0", "--sets", "1",
    ]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(out(&o), "");
    assert_eq!(err(&o), "");
    // A set was still saved (as simulated: shown with --include-sim).
    let o = h.run(&["log", "--pending", "--include-sim", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    // Errors still show.
    let o = h.run(&["-q", "analyze", "/nonexistent.csv"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("cannot read"), "{}", err(&o));
}

#[test]
fn speed_defaults_to_real_time() {
    let h = Home::new();
    let o = h.run(&["run", "-h"]);
    let text = out(&o);
    let line = text.lines().find(|l| l.contains("--speed")).unwrap();
    assert!(line.contains("[default: 1]"), "{line}");
    // The long help says it too, under the option.
    let o = h.run(&["run", "--help"]);
    let text = out(&o);
    let after: String = text
        .lines()
        .skip_while(|l| !l.contains("--speed"))
        .take(4)
        .collect();
    assert!(after.contains("[default: 1]"), "{after}");
}

#[test]
fn nothing_success_looking_before_a_bluetooth_error() {
    let h = Home::new();
    for args in [
        &["run", "--sensor", "AA:BB:CC:DD:EE:FF", "--no-record"][..],
        &["calibrate", "-p", "ankle", "--sensor", "AA:BB:CC:DD:EE:FF"][..],
    ] {
        let o = h
            .cmd(args)
            .env("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/bus")
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", err(&o));
        let e = err(&o);
        assert!(e.contains("Bluetooth"), "{e}");
        for wrong in ["watching", "step 1", "step 2"] {
            assert!(
                !e.contains(wrong),
                "{args:?}: {wrong:?} before the error:\n{e}"
            );
        }
    }
}

/// Waits for a line holding `needle` on the child's stdout; returns all
/// lines read so far, and the reader for the rest.
fn read_until(
    lines: &std::sync::mpsc::Receiver<String>,
    needle: &str,
    seen: &mut Vec<String>,
) -> bool {
    while let Ok(l) = lines.recv_timeout(std::time::Duration::from_secs(60)) {
        let hit = l.contains(needle);
        seen.push(l);
        if hit {
            return true;
        }
    }
    false
}

fn spawn_lines(c: &mut Command) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead as _;
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(stdout).lines() {
            let _ = tx.send(l.unwrap_or_default());
        }
    });
    (child, rx)
}

#[test]
fn ctrl_c_says_what_was_kept() {
    // Stopped after three reps: they are a set, saved as interrupted.
    let h = Home::new();
    let (mut child, lines) = spawn_lines(&mut h.cmd(&[
        "run",
        "--sensor",
        "sim",
        "--speed",
        "2",
        "--sets",
        "1",
        "--no-record",
    ]));
    let mut seen = Vec::new();
    assert!(read_until(&lines, "rep  3 ", &mut seen), "{seen:?}");
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert!(status.success());
    while let Ok(l) = lines.recv_timeout(std::time::Duration::from_secs(5)) {
        seen.push(l);
    }
    let text = seen.join("\n");
    let mut e = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut e).unwrap();
    assert!(e.contains("stopped during a set"), "{e}");
    assert!(
        text.contains("saved in the logbook as #1 (pending, interrupted)"),
        "{text}"
    );
    assert!(text.contains("pending set #1"), "{text}");
    assert!(!text.contains("no set saved"), "{text}");
    assert!(!e.contains("saving the set in progress"), "{e}");
}

#[test]
fn keyboard_moves_the_sensor_to_the_pelvis_between_sets() {
    let h = Home::new();
    let mut c = h.cmd(&[
        "run",
        "--sensor",
        "sim",
        "--speed",
        "20",
        "--sets",
        "1",
        "--no-record",
        "--keys",
        "--lead-in",
        "10",
    ]);
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"e hip-hitch\np pelvis\ne hip-hitch pelvis\np ankle\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", err(&o));
    let text = out(&o);
    // At the ankle, hip-hitch says how to get there.
    assert!(
        text.contains("hip-hitch is counted with the sensor on the pelvis, not the ankle: move the sensor, then type `e hip-hitch pelvis`"),
        "{text}"
    );
    // Standing cable abduction is counted at the pelvis too: `p pelvis` alone works.
    assert!(
        text.contains("next sets: standing-cable-abduction · sensor on the pelvis"),
        "{text}"
    );
    assert!(
        text.contains("next sets: hip-hitch · sensor on the pelvis"),
        "{text}"
    );
    assert!(
        text.contains("hip-hitch is not counted with the sensor on the ankle"),
        "{text}"
    );
}

#[test]
fn a_terminal_gets_a_redrawn_status_line() {
    // script(1) gives medius a pseudo-terminal for stdout.
    let h = Home::new();
    let bin = env!("CARGO_BIN_EXE_medius");
    let cmd = format!("{bin} run --sensor sim --speed 20 --sets 2 --no-record --no-log");
    let mut c = Command::new("script");
    c.args(["-qec", &cmd, "/dev/null"])
        .env("MEDIUS_LOGBOOK", h.path().join("logbook.sqlite3"))
        .env("MEDIUS_SOCKET", h.path().join("medius.sock"))
        .env("XDG_DATA_HOME", h.path().join("data"))
        .env("MEDIUS_CONFIG", h.path().join("config.toml"))
        .env_remove("NO_COLOR")
        .stdin(Stdio::null());
    let o = c.output().expect("script(1) is installed (util-linux)");
    assert!(o.status.success(), "{}", err(&o));
    let text = out(&o);
    // The live count during a set, the rest timer between sets, each
    // redrawn over itself; the rep count in bold.
    assert!(text.contains("\r\u{1b}[2K▶ set 1 · "), "{text:?}");
    assert!(text.contains("\r\u{1b}[2Krest "), "{text:?}");
    // The rest timer starts once the last rep is back, before the set
    // is closed and summed up.
    let resting = text
        .find(" reps\u{1b}[0m · rest 0:0")
        .or_else(|| text.find(" reps · rest 0:0"));
    let done = text.find("set 1 done").unwrap();
    assert!(resting.is_some_and(|r| r < done), "{text:?}");
    // Resting, the line carries the set so far (range and flags, or
    // "clean"): the summary within a second of the last rep, not only
    // when the set closes after its 10 s gap.
    let summary = text[..done].match_indices("· rest 0:0").any(|(i, m)| {
        text[i + m.len()..]
            .chars()
            .skip(1)
            .collect::<String>()
            .starts_with(" · range ")
    });
    assert!(summary, "{text:?}");
    assert!(text.contains("next: set 2"), "{text:?}");
    assert!(text.contains("\u{1b}[1mrep  1"), "{text:?}");
    // NO_COLOR: the status line stays (it is not colour), the bold goes.
    let o = c.env("NO_COLOR", "1").output().unwrap();
    let text = out(&o);
    assert!(text.contains("▶ set 1 · "), "{text:?}");
    assert!(!text.contains("\u{1b}[1m"), "{text:?}");
}

#[test]
fn tables_fit_80_columns_and_show_rir_and_flags() {
    let h = Home::new();
    let rec = h.recording(
        "rec.csv",
        &["--sets", "1", "--seed", "7", "--compensation-rate", "0.4"],
    );
    let o = h.run(&["import", rec.to_str().unwrap(), "--load", "12.5kg"]);
    assert!(o.status.success(), "{}", err(&o));
    let o = h.run(&["review", "1", "--confirm", "all", "--rir", "2", "--verify"]);
    assert!(o.status.success(), "{}", err(&o));
    let o = h.run(&[
        "log", "add", "-e", "clamshell", "--reps", "20", "--notes",
        "a long note about how the band felt today and what to change next time, and more words still",
    ]);
    assert!(o.status.success(), "{}", err(&o));
    let narrow = |args: &[&str]| {
        let o = h.cmd(args).env("COLUMNS", "80").output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", err(&o));
        let text = out(&o);
        for l in text.lines() {
            assert!(
                l.chars().count() <= 80,
                "{args:?}: {} columns: {l}",
                l.chars().count()
            );
        }
        text
    };
    let log = narrow(&["log"]);
    let header = log.lines().next().unwrap();
    for col in ["RIR", "flags", "peak", "load"] {
        assert!(header.contains(col), "{header}");
    }
    let row = log.lines().find(|l| l.contains("standing-cable")).unwrap();
    // The RIR given at review, the flagged reps counted, the load, the peak in degrees.
    assert!(row.contains(" 2 "), "{row}");
    assert!(row.contains("12.5kg"), "{row}");
    assert!(row.contains('°'), "{row}");
    assert!(log.contains("a long note"), "{log}");
    // A missing value is a dash.
    let hand = log.lines().find(|l| l.contains("clamshell")).unwrap();
    assert!(hand.contains('–'), "{hand}");
    narrow(&["exercises"]);
    narrow(&["trend", "-e", "standing-cable-abduction"]);
    narrow(&["analyze", rec.to_str().unwrap()]);
    // Piped without COLUMNS: one line per set, notes included.
    let o = h.run(&["log"]);
    let text = out(&o);
    assert!(
        text.lines()
            .any(|l| l.contains("clamshell") && l.contains("a long note")),
        "{text}"
    );
}

#[test]
fn simulate_refuses_to_overwrite_without_force() {
    let h = Home::new();
    let rec = h.recording("rec.csv", &["--sets", "1", "--reps", "3"]);
    let before = std::fs::read(&rec).unwrap();
    let o = h.run(&[
        "simulate",
        "-o",
        rec.to_str().unwrap(),
        "--sets",
        "2",
        "--seed",
        "9",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).contains("exists; give another file name, or --force"),
        "{}",
        err(&o)
    );
    assert_eq!(
        std::fs::read(&rec).unwrap(),
        before,
        "the file is untouched"
    );
    let o = h.run(&[
        "simulate",
        "-o",
        rec.to_str().unwrap(),
        "--sets",
        "2",
        "--seed",
        "9",
        "--force",
    ]);
    assert!(o.status.success(), "{}", err(&o));
    assert_ne!(std::fs::read(&rec).unwrap(), before);
}

#[test]
fn backup_into_a_folder() {
    let h = Home::new();
    let o = h.run(&["log", "add", "-e", "clamshell", "--reps", "20"]);
    assert!(o.status.success());
    let dir = h.path().join("backups");
    std::fs::create_dir(&dir).unwrap();
    let with_slash = format!("{}/", dir.display());
    let o = h.run(&["backup", &with_slash]);
    assert!(o.status.success(), "{}", err(&o));
    let made: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(made.len(), 1);
    let name = made[0].as_ref().unwrap().file_name();
    let name = name.to_string_lossy();
    assert!(
        name.starts_with("medius-") && name.ends_with(".sqlite3"),
        "{name}"
    );
    assert!(out(&o).contains(name.as_ref()), "{}", out(&o));
    // A folder that does not exist: one line, exit 2, nothing made.
    let o = h.run(&["backup", &format!("{}/nope/", h.path().display())]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("does not exist"), "{}", err(&o));
    assert!(!h.path().join("nope").exists());
}

#[test]
fn piped_into_head_every_command_exits_0() {
    let h = Home::new();
    let rec = h.recording("rec.csv", &["--sets", "2"]);
    for _ in 0..3 {
        let o = h.run(&["log", "add", "-e", "clamshell", "--reps", "20"]);
        assert!(o.status.success());
    }
    let r = rec.to_str().unwrap();
    let replay = format!("replay:{r}");
    let commands: Vec<Vec<&str>> = vec![
        vec!["--help"],
        vec!["run", "--help"],
        vec!["analyze", r],
        vec!["analyze", r, "--json"],
        vec!["log"],
        vec!["exercises"],
        vec!["profile"],
        vec!["config", "show"],
        vec!["completions", "bash"],
        vec!["man"],
        vec!["export", "--format", "json"],
        vec![
            "run",
            "--sensor",
            &replay,
            "--speed",
            "0",
            "--no-log",
            "--no-record",
        ],
    ];
    for args in commands {
        // `sh -c 'medius … | head -1'` with the status of medius itself.
        let mut child = h
            .cmd(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut first = String::new();
        {
            use std::io::BufRead as _;
            let mut r = std::io::BufReader::new(child.stdout.take().unwrap());
            r.read_line(&mut first).unwrap();
            // head closes the pipe after its line.
        }
        let status = child.wait().unwrap();
        assert_eq!(
            status.code(),
            Some(0),
            "{args:?} after its first line {first:?}"
        );
    }
}

#[test]
fn completions_and_man_page() {
    let h = Home::new();
    for (shell, needle) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef medius"),
        ("fish", "complete -c medius"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let o = h.run(&["completions", shell]);
        assert!(o.status.success(), "{shell}");
        let text = out(&o);
        assert!(text.contains(needle), "{shell}: {text}");
        // The accepted values are in the script.
        if shell != "powershell" {
            assert!(text.contains("side-lying-abduction"), "{shell}");
        }
    }
    let o = h.run(&["man"]);
    assert!(o.status.success());
    let text = out(&o);
    assert!(
        text.starts_with(".ie") || text.contains(".TH medius"),
        "{}",
        &text[..200.min(text.len())]
    );
    assert!(text.contains("review"), "{text}");
    let dir = h.path().join("man1");
    std::fs::create_dir(&dir).unwrap();
    let o = h.run(&["man", "--dir", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(dir.join("medius.1").exists());
    assert!(dir.join("medius-review.1").exists());
    let o = h.run(&["man", "--dir", "/nonexistent/man1"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn colour_obeys_color_and_no_color() {
    let h = Home::new();
    let rec = h.recording("rec.csv", &["--sets", "1", "--seed", "7"]);
    let args = [
        "run",
        "--sensor",
        &format!("replay:{}", rec.display()),
        "--speed",
        "0",
        "--no-log",
        "--no-record",
    ];
    // Piped: no colour, unless asked for.
    let o = h.run(&args);
    assert!(!out(&o).contains('\u{1b}'));
    let mut always = vec!["--color", "always"];
    always.extend_from_slice(&args);
    let o = h.run(&always);
    let text = out(&o);
    assert!(
        text.contains("\u{1b}[1mrep  1"),
        "the rep count in bold: {text}"
    );
    assert!(
        text.contains("\u{1b}[33m") || text.contains("\u{1b}[1m\u{1b}[33m"),
        "flags in colour: {text}"
    );
    // never wins over a terminal; NO_COLOR over auto.
    let o = h.cmd(&always).env("NO_COLOR", "1").output().unwrap();
    assert!(out(&o).contains('\u{1b}'), "--color always beats NO_COLOR");
    let mut never = vec!["--color=never"];
    never.extend_from_slice(&args);
    assert!(!out(&h.run(&never)).contains('\u{1b}'));
    // clap's errors obey it too.
    let o = h.run(&["--color", "always", "reveiw"]);
    assert!(err(&o).contains('\u{1b}'), "{}", err(&o));
    let o = h.run(&["--color", "never", "reveiw"]);
    assert!(!err(&o).contains('\u{1b}'));
    assert_eq!(o.status.code(), Some(2));
}

/// `review --interactive` fed on stdin; the pending set comes from a
/// simulated recording with compensations.
fn review_with(h: &Home, input: &str) -> Output {
    let mut child = h
        .cmd(&["review", "--interactive"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn pending_with_flags(h: &Home) -> serde_json::Value {
    let rec = h.recording(
        "rec.csv",
        &[
            "--sets",
            "1",
            "--seed",
            "7",
            "--compensation-rate",
            "0.4",
            "--compensations",
            "momentum,partial-range",
        ],
    );
    let o = h.run(&["import", rec.to_str().unwrap(), "--load", "10kg"]);
    assert!(o.status.success(), "{}", err(&o));
    let o = h.run(&["review", "1", "--json"]);
    let set: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(!set["flags"].as_array().unwrap().is_empty(), "{set}");
    set
}

#[test]
fn interactive_review_reprompts_and_asks_rir() {
    let h = Home::new();
    let set = pending_with_flags(&h);
    let flags = set["flags"].as_array().unwrap().len();
    let reps = set["reps"].as_u64().unwrap();
    let mut input = String::new();
    // A bad answer to a flag, then confirm each; a bad count, then the
    // default; a bad load (12,5kg) then a good one; a bad RIR, then 2; verify.
    input.push_str("x\n");
    input.push_str(&"c\n".repeat(flags));
    input.push_str("-3\n\n12,5kg\n12.5kg\n11\n2\nv\n");
    let o = review_with(&h, &input);
    assert!(o.status.success(), "{}", err(&o));
    let text = out(&o);
    assert!(
        text.contains("'x': answer c (confirm), d (dismiss), s (skip) or q (quit)"),
        "{text}"
    );
    assert!(
        text.contains(&format!("reps [{reps}]")),
        "the default in brackets: {text}"
    );
    assert!(text.contains("'-3' is not a rep count"), "{text}");
    assert!(text.contains("write e.g. 12.5kg"), "{text}");
    assert!(text.contains("load [10kg]"), "{text}");
    assert!(text.contains("reps in reserve are 0 to 10"), "{text}");
    assert!(text.contains("→ set 1 verified"), "{text}");
    // Flags are read as words.
    assert!(
        !text.contains("partial_range") && !text.contains(" momentum_"),
        "{text}"
    );
    let o = h.run(&["log", "--json"]);
    let log: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(log[0]["load"]["value"].as_f64(), Some(12.5), "{log}");
    assert_eq!(log[0]["rir"].as_u64(), Some(2), "{log}");
    assert_eq!(log[0]["reps"].as_u64(), Some(reps), "{log}");
}

#[test]
fn interactive_review_asks_again_for_a_skipped_flag_at_verify() {
    let h = Home::new();
    let set = pending_with_flags(&h);
    let flags = set["flags"].as_array().unwrap().len();
    // Skip every flag, keep count, load and RIR, verify: each skipped
    // flag is asked again (a bad answer too), then dismissed.
    let mut input = "s\n".repeat(flags);
    input.push_str("\n\n\nv\n");
    input.push_str("s\n");
    input.push_str(&"d\n".repeat(flags));
    let o = review_with(&h, &input);
    assert!(o.status.success(), "{}", err(&o));
    let text = out(&o);
    assert!(text.contains("to verify, rep "), "{text}");
    assert!(
        text.contains("answer c (confirm) or d (dismiss) to verify"),
        "{text}"
    );
    assert!(text.contains("→ set 1 verified"), "{text}");
    assert!(!text.contains("not saved"), "{text}");
}

#[test]
fn q_stops_the_review_at_any_question() {
    for at in 0..4 {
        let h = Home::new();
        let set = pending_with_flags(&h);
        let flags = set["flags"].as_array().unwrap().len();
        // The answers up to question `at` (flags, count, load, RIR), then q.
        let mut answers = vec!["c".to_string(); flags];
        answers.extend(["".to_string(), "".to_string(), "".to_string()]);
        let cut = match at {
            0 => 0,
            n => flags + n - 1,
        };
        let mut input: String = answers[..cut].iter().map(|a| format!("{a}\n")).collect();
        input.push_str("q\nv\n");
        let o = review_with(&h, &input);
        assert!(o.status.success(), "at {at}: {}", err(&o));
        let text = out(&o);
        assert!(text.contains("→ set 1 pending"), "at {at}: {text}");
        assert!(text.contains("stopped"), "at {at}: {text}");
        let o = h.run(&["log", "--json"]);
        let log: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(
            log.as_array().unwrap().len(),
            0,
            "at {at}: nothing verified: {log}"
        );
    }
}

/// Every file the README (and the docs it links) points to is in the repo.
#[test]
fn the_docs_point_only_to_files_that_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for doc in [
        "README.md",
        "docs/formats.md",
        "docs/training.md",
        "docs/sensors.md",
        "calibration/CALIBRATION.md",
    ] {
        let text = std::fs::read_to_string(root.join(doc)).unwrap();
        let base = root.join(doc).parent().unwrap().to_path_buf();
        assert!(
            !text.contains("DESIGN.md") && !text.contains("DOMAIN.md"),
            "{doc}"
        );
        // Markdown links and `path/like.this` mentions of files.
        let mut targets: Vec<String> = Vec::new();
        for part in text.split("](").skip(1) {
            let t = part.split(')').next().unwrap();
            if !t.starts_with("http") && !t.starts_with('#') {
                targets.push(t.split('#').next().unwrap().to_string());
            }
        }
        for part in text.split('`').skip(1).step_by(2) {
            let looks_like_file = (part.contains('/') || part.ends_with(".md"))
                && !part.contains(' ')
                && !part.contains('~')
                && !part.contains('$')
                && !part.contains('*')
                && !part.starts_with('/')
                && !part.starts_with("replay:")
                && (part.ends_with(".md")
                    || part.ends_with(".rs")
                    || part.ends_with(".service")
                    || part.ends_with(".toml")
                    || part.ends_with('/'));
            if looks_like_file {
                targets.push(part.to_string());
            }
        }
        for t in targets {
            let from_doc = base.join(&t);
            let from_root = root.join(&t);
            assert!(
                from_doc.exists() || from_root.exists(),
                "{doc} points to {t}, which is not in the repo"
            );
            checked += 1;
        }
    }
    assert!(checked > 10, "{checked}");
}

#[test]
fn the_service_unit_installs_and_does_not_loop_on_a_bad_config() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let unit = std::fs::read_to_string(root.join("contrib/medius.service")).unwrap();
    let lines: Vec<&str> = unit
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    assert!(
        !lines.iter().any(|l| l.contains("bluetooth.target")),
        "a user unit cannot order itself after a system target"
    );
    assert!(lines.contains(&"RestartPreventExitStatus=2"), "{unit}");
    assert!(
        lines.contains(&"ExecStart=%h/.cargo/bin/medius run"),
        "{unit}"
    );
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let readme = readme.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        readme.contains("cargo install --path ."),
        "the README says how to install the binary"
    );
    assert!(readme.contains("systemctl --user enable --now medius"));
    // Exit 2 is what a bad config gives.
    let h = Home::new();
    std::fs::write(h.path().join("config.toml"), "[link]\nrate_hz = \"fast\"\n").unwrap();
    let o = h.run(&["run", "--sensor", "sim", "--speed", "0"]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
}

#[test]
fn review_shows_flag_kinds_as_words_in_their_units() {
    let h = Home::new();
    let rec = h.recording(
        "pelvis.csv",
        &[
            "--sets",
            "1",
            "-e",
            "hip-hitch",
            "-p",
            "pelvis",
            "--compensation-rate",
            "0.5",
            "--compensations",
            "hip-hike",
        ],
    );
    let o = h.run(&[
        "import",
        rec.to_str().unwrap(),
        "-e",
        "hip-hitch",
        "-p",
        "pelvis",
    ]);
    assert!(o.status.success(), "{}", err(&o));
    let rec = h.recording(
        "ankle.csv",
        &[
            "--sets",
            "1",
            "--seed",
            "7",
            "--compensation-rate",
            "0.4",
            "--compensations",
            "momentum",
        ],
    );
    let o = h.run(&["import", rec.to_str().unwrap()]);
    assert!(o.status.success(), "{}", err(&o));
    let o = h.run(&["review"]);
    let text = out(&o);
    assert!(text.contains("hip hike"), "{text}");
    assert!(!text.contains("hip_hike"), "{text}");
    let momentum = text
        .lines()
        .find(|l| l.contains("momentum"))
        .expect("a momentum flag");
    assert!(momentum.contains("°/s"), "{momentum}");
    // Typed with a dash, it is the same kind.
    let set: serde_json::Value =
        serde_json::from_slice(&h.run(&["review", "1", "--json"]).stdout).unwrap();
    let rep = set["flags"][0]["rep"].as_u64().unwrap();
    let o = h.run(&["review", "1", "--confirm", &format!("{rep}:hip-hike")]);
    assert!(o.status.success(), "{}", err(&o));
    let set: serde_json::Value =
        serde_json::from_slice(&h.run(&["review", "1", "--json"]).stdout).unwrap();
    assert_eq!(set["flags"][0]["review"], "confirmed", "{set}");
}

#[test]
fn a_wrong_pair_of_sensors_and_a_bad_sensor_are_one_line() {
    let h = Home::new();
    // Two sensors that do not say where each is worn.
    let two = [
        "run",
        "--sensor",
        "C0:FF:EE:00:00:01",
        "--sensor",
        "C0:FF:EE:00:00:02",
        "--no-record",
    ];
    let o = h.run(&two);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    let e = err(&o);
    assert!(e.contains("one at the ankle and one at the pelvis"), "{e}");
    assert!(e.contains("C0:FF:EE:00:00:01, C0:FF:EE:00:00:02"), "{e}");
    assert_eq!(e.trim().lines().count(), 1, "{e}");
    assert!(!e.contains("looking for"), "nothing opened first: {e}");
    // One replayed and one live: no shared clock.
    let o = h.run(&[
        "run",
        "--sensor",
        "ankle=replay:/nonexistent.csv",
        "--sensor",
        "pelvis=C0:FF:EE:00:00:02",
        "--no-record",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("cannot share a clock"), "{}", err(&o));
    // A pair that never gets a sample leaves none of its three files.
    let stem = h.path().join("pair");
    let o = h
        .cmd(&[
            "run",
            "--sensor",
            "ankle=C0:FF:EE:00:00:01",
            "--sensor",
            "pelvis=C0:FF:EE:00:00:02",
            "--record",
            stem.to_str().unwrap(),
        ])
        .env("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/bus")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    let left: Vec<String> = std::fs::read_dir(h.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("pair"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    // A pair on an exercise one sensor follows.
    let o = h.run(&[
        "run",
        "--sensor",
        "sim",
        "-p",
        "both",
        "-e",
        "hip-hitch",
        "--no-record",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("two sensors at once suit"), "{}", err(&o));
    assert_eq!(err(&o).trim().lines().count(), 1, "{}", err(&o));
    // A sensor that is none: said by clap with what would work, exit 2.
    for (bad, want) in [
        ("knee=sim", "'knee' is not a placement"),
        ("replay:", "replay: needs a file"),
        ("C0:FF:EE:00:00:0G", "is not a Bluetooth address"),
        ("", "no sensor given"),
    ] {
        let o = h.run(&["run", "--sensor", bad, "--no-record"]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", err(&o));
        assert!(err(&o).contains(want), "{bad}: {}", err(&o));
    }
    // A role and a --placement that disagree.
    let o = h.run(&[
        "run",
        "--sensor",
        "pelvis=sim",
        "-p",
        "ankle",
        "--no-record",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("say one place"), "{}", err(&o));
}

#[test]
fn a_role_on_the_sensor_sets_where_it_is_worn() {
    let h = Home::new();
    let o = h.run(&[
        "run",
        "--sensor",
        "pelvis=sim",
        "-e",
        "hip-hitch",
        "--speed",
        "0",
        "--sets",
        "1",
        "--no-record",
        "--no-log",
    ]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        err(&o).contains("hip-hitch · sensor on the pelvis"),
        "{}",
        err(&o)
    );
    assert!(out(&o).contains("set 1 done"), "{}", out(&o));
}
