//! Writes that fail (issue 16): a read-only disk is the user's to fix
//! (exit 2), a full one is a fault (exit 1); either way the error is one
//! line and the logbook is left whole, holding what it held.
//!
//! The disks are small tmpfs mounts, which needs root; where mounting is
//! not allowed the tests say so and pass without checking.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A tmpfs mounted for one test; unmounted when dropped.
struct Disk {
    dir: tempfile::TempDir,
}

impl Disk {
    fn mount(size: &str) -> Option<Disk> {
        let dir = tempfile::tempdir().ok()?;
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output()
            .ok()?
            .status
            .success();
        if !ok {
            eprintln!("skipped: cannot mount a tmpfs here (not root, or not allowed)");
            return None;
        }
        Some(Disk { dir })
    }
    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    fn read_only(&self) {
        let o = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(self.dir.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    /// Writes a file until the disk says it is full.
    fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.path("filler")).unwrap();
        let block = vec![0u8; 4096];
        while f.write_all(&block).and_then(|_| f.sync_all()).is_ok() {}
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).output();
    }
}

fn medius(book: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_medius"))
        .args(args)
        .env("MEDIUS_LOGBOOK", book)
        .env("MEDIUS_CONFIG", "/nonexistent/medius.toml")
        .output()
        .expect("medius runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The sets in the logbook, and whether SQLite finds it whole.
fn sets_and_check(conn: &rusqlite::Connection) -> (i64, String) {
    let n = conn
        .query_row("SELECT count(*) FROM sets", [], |r| r.get(0))
        .unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    (n, check)
}

#[test]
fn a_read_only_logbook_is_refused_in_one_line_and_still_read() {
    let Some(disk) = Disk::mount("1m") else {
        return;
    };
    let book = disk.path("log.sqlite3");
    let o = medius(&book, &["log", "add", "-e", "clamshell", "--reps", "20"]);
    assert!(o.status.success(), "{}", stderr(&o));
    disk.read_only();
    for args in [
        &["log", "add", "-e", "clamshell", "--reps", "5"][..],
        &["exercises", "add", "kickback", "--name", "Kickback"],
    ] {
        let o = medius(&book, args);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {e}");
        assert_eq!(e.trim_end().lines().count(), 1, "{e}");
        assert!(e.contains("cannot be written"), "{e}");
    }
    // Reading needs no writing.
    let o = medius(&book, &["log", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
}

#[test]
fn a_full_disk_leaves_the_logbook_whole_and_says_so_in_one_line() {
    let Some(disk) = Disk::mount("512k") else {
        return;
    };
    let book = disk.path("log.sqlite3");
    let o = medius(&book, &["log", "add", "-e", "clamshell", "--reps", "20"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // A recording to import, kept off the small disk.
    let elsewhere = tempfile::tempdir().unwrap();
    let rec = elsewhere.path().join("rec.csv");
    let o = Command::new(env!("CARGO_BIN_EXE_medius"))
        .args(["simulate", "--sets", "3", "--seed", "5", "-o"])
        .arg(&rec)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    // A reader that stays open keeps the -shm and -wal files there, so the
    // commands below get as far as writing (without it, a full disk already
    // stops them opening the logbook).
    let watcher = rusqlite::Connection::open(&book).unwrap();
    watcher
        .busy_timeout(std::time::Duration::from_secs(10))
        .unwrap();
    assert_eq!(sets_and_check(&watcher), (1, "ok".into()));
    disk.fill();
    let backup = disk.path("copy.sqlite3");
    let mut failed = 0;
    for args in [
        vec![
            "log",
            "add",
            "-e",
            "clamshell",
            "--reps",
            "5",
            "--notes",
            &"x".repeat(100_000),
        ],
        vec!["import", rec.to_str().unwrap()],
        vec!["backup", backup.to_str().unwrap()],
    ] {
        let before = sets_and_check(&watcher);
        let o = medius(&book, &args);
        let e = stderr(&o);
        if o.status.success() {
            // SQLite found room in pages it had: nothing to check here.
            continue;
        }
        failed += 1;
        assert_eq!(
            sets_and_check(&watcher),
            before,
            "{:?} changed the logbook",
            &args[..2]
        );
        assert_eq!(o.status.code(), Some(1), "{:?}: {e}", &args[..2]);
        assert_eq!(e.trim_end().lines().count(), 1, "{e}");
        assert!(e.contains("full") || e.contains("No space"), "{e}");
    }
    assert!(failed >= 2, "the full disk refused almost nothing");
    assert!(!backup.exists(), "a half backup was left behind");
    let (sets, check) = sets_and_check(&watcher);
    assert_eq!(check, "ok");
    // Room again: everything works, nothing was lost.
    std::fs::remove_file(disk.path("filler")).unwrap();
    let o = medius(&book, &["log", "add", "-e", "clamshell", "--reps", "5"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(sets_and_check(&watcher), (sets + 1, "ok".into()));
}
