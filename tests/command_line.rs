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
            &["import-log", "hevy", "x.csv"],
            &["invalid value 'hevy'", "strong"],
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
        err(&o).contains("[possible values: strong, hevy, json]"),
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
