//! The status socket trusts no one (issue 16, items 8 and 9) and a session
//! is not ended by what should not end it (item 15): the fallback folder is
//! private and checked, the peer's uid is checked on both sides, requests
//! are bounded and clients served at once, SIGHUP is ignored, and the loser
//! of two simultaneous `run`s is told so with exit 2.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

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
            .env_remove("MEDIUS_CONFIG")
            .stdin(Stdio::null());
        c
    }
    /// Without MEDIUS_SOCKET and XDG_RUNTIME_DIR: the fallback folder, in
    /// this home's own temp folder.
    fn cmd_fallback(&self, args: &[&str]) -> Command {
        let mut c = self.cmd(args);
        c.env_remove("MEDIUS_SOCKET")
            .env_remove("XDG_RUNTIME_DIR")
            .env("TMPDIR", self.path("tmp"));
        c
    }
    fn spawn(mut c: Command) -> Child {
        c.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn uid() -> u32 {
    unsafe { libc::geteuid() }
}

/// A session that runs until stopped (a long simulated lead-in).
const LONG_RUN: &[&str] = &[
    "run",
    "--sensor",
    "sim",
    "--speed",
    "1",
    "--sets",
    "1",
    "--no-record",
    "--no-log",
];

/// Waits until `status` answers through `c()`.
fn wait_running(c: impl Fn() -> Command) {
    let t = Instant::now();
    loop {
        let o = c().output().unwrap();
        if o.status.success() {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "never answered: {}",
            err(&o)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stop_and_wait(c: Command, child: Child) -> Output {
    let mut c = c;
    let o = c.output().unwrap();
    assert!(o.status.success(), "stop: {}", err(&o));
    child.wait_with_output().unwrap()
}

/// Item 8: without XDG_RUNTIME_DIR the socket is in a 0700 folder medius
/// makes; a folder there that is not private, or a link, is refused by
/// `run` and `status` alike, and left alone.
#[test]
fn the_fallback_folder_is_private_and_checked() {
    use std::os::unix::fs::PermissionsExt;
    let h = Home::new();
    std::fs::create_dir(h.path("tmp")).unwrap();
    let folder = h.path("tmp").join(format!("medius-{}", uid()));
    let child = Home::spawn(h.cmd_fallback(LONG_RUN));
    wait_running(|| h.cmd_fallback(&["status"]));
    let meta = std::fs::symlink_metadata(&folder).unwrap();
    assert!(meta.is_dir());
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);
    assert!(folder.join("medius.sock").exists());
    let o = stop_and_wait(h.cmd_fallback(&["stop"]), child);
    assert!(o.status.success(), "{}", err(&o));

    // Someone made it open to others: refused, not repaired, not removed.
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755)).unwrap();
    for args in [&["status"][..], LONG_RUN] {
        let o = h.cmd_fallback(args).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", err(&o));
        assert!(
            err(&o).contains("is not a private folder of yours"),
            "{}",
            err(&o)
        );
        assert_eq!(err(&o).trim_end().lines().count(), 1);
    }
    assert_eq!(
        std::fs::metadata(&folder).unwrap().permissions().mode() & 0o777,
        0o755
    );
    // A link in its place, to a folder that would pass: refused too.
    std::fs::remove_dir_all(&folder).unwrap();
    let elsewhere = h.path("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &folder).unwrap();
    let o = h.cmd_fallback(LONG_RUN).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(std::fs::symlink_metadata(&folder)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(std::fs::read_dir(&elsewhere).unwrap().next().is_none());
}

/// Runs `args` as user `nobody` (65534) when this is root and setpriv is
/// there; `None` otherwise (the test then skips that part).
fn as_nobody(program: &str, args: &[&str]) -> Option<Command> {
    if uid() != 0 {
        return None;
    }
    let probe = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "true"])
        .output()
        .ok()?;
    if !probe.status.success() {
        return None;
    }
    let mut c = Command::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups", program])
        .args(args);
    Some(c)
}

/// Item 8: the client refuses a server of another user, and the daemon
/// answers nobody but its own user (SO_PEERCRED on both sides).
#[test]
fn the_peer_must_be_the_same_user() {
    use std::os::unix::fs::PermissionsExt;
    let h = Home::new();
    // A folder everyone may use, so that another user can get at the socket.
    let shared = h.path("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::set_permissions(h.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let sock = shared.join("medius.sock");

    // Our daemon, its socket opened to all by a careless chmod: a client of
    // another user connects but is not answered, and cannot stop it.
    let mut c = h.cmd(LONG_RUN);
    c.env("MEDIUS_SOCKET", &sock);
    let child = Home::spawn(c);
    let status = || {
        let mut c = h.cmd(&["status"]);
        c.env("MEDIUS_SOCKET", &sock);
        c
    };
    wait_running(status);
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    let script = format!(
        "import socket; s = socket.socket(socket.AF_UNIX); s.settimeout(3); s.connect({:?}); \
         s.sendall(b'{{\"cmd\":\"stop\"}}\\n')\n\
         try: r = s.recv(100)\n\
         except ConnectionResetError: r = b''\n\
         print(repr(r))",
        sock.display().to_string()
    );
    if let Some(mut c) = as_nobody("/usr/bin/python3", &["-c", &script]) {
        let o = c.output().unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{}", err(&o));
        assert_eq!(out.trim(), "b''", "another user was answered");
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            status().output().unwrap().status.success(),
            "stopped by another user"
        );
    } else {
        eprintln!("skipped: cannot run as another user here");
    }
    let mut stop = h.cmd(&["stop"]);
    stop.env("MEDIUS_SOCKET", &sock);
    let o = stop_and_wait(stop, child);
    assert!(o.status.success(), "{}", err(&o));

    // A daemon of another user at the path: `status` and `stop` refuse it
    // (exit 2) instead of showing what it says or claiming it stopped.
    let bin = env!("CARGO_BIN_EXE_medius");
    let Some(mut c) = as_nobody(bin, LONG_RUN) else {
        eprintln!("skipped: cannot run as another user here");
        return;
    };
    c.env("MEDIUS_SOCKET", &sock)
        .env("MEDIUS_LOGBOOK", shared.join("other.sqlite3"))
        .env("XDG_CONFIG_HOME", shared.join("config"))
        .env("XDG_DATA_HOME", shared.join("data"))
        .env_remove("MEDIUS_CONFIG")
        .stdin(Stdio::null());
    // Our lock file beside the socket is ours: the other user's daemon
    // could not open it.
    std::fs::remove_file(shared.join("medius.sock.lock")).unwrap();
    let mut other = Home::spawn(c);
    let t = Instant::now();
    while !sock.exists() {
        if other.try_wait().unwrap().is_some() {
            let o = other.wait_with_output().unwrap();
            panic!("the other daemon did not start: {}", err(&o));
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the other daemon never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Root may connect to anyone's socket; an ordinary user would be
    // stopped by its mode already. Either way: refused, exit 2.
    for args in [&["status"][..], &["stop"]] {
        let mut c = h.cmd(args);
        c.env("MEDIUS_SOCKET", &sock);
        let o = c.output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", err(&o));
        assert!(
            err(&o).contains("is served by another user (uid 65534)"),
            "{}",
            err(&o)
        );
    }
    assert!(
        other.try_wait().unwrap().is_none(),
        "the other user's daemon was stopped"
    );
    unsafe {
        libc::kill(other.id() as i32, libc::SIGTERM);
    }
    let _ = other.wait();
}

/// Item 9: a client that sends a huge line, or nothing at all, neither
/// bloats the daemon nor holds up `status` and `stop`.
#[test]
fn one_client_cannot_stall_or_bloat_the_daemon() {
    let h = Home::new();
    let child = Home::spawn(h.cmd(LONG_RUN));
    wait_running(|| h.cmd(&["status"]));
    let sock = h.path("medius.sock");
    // Three that say nothing and hold on.
    let idle: Vec<UnixStream> = (0..3)
        .map(|_| UnixStream::connect(&sock).unwrap())
        .collect();
    // One that sends 8 MiB without a newline: answered with an error and
    // dropped after 64 KiB.
    let mut big = UnixStream::connect(&sock).unwrap();
    big.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    let chunk = vec![b'x'; 1 << 20];
    let mut sent = 0;
    for _ in 0..8 {
        match big.write_all(&chunk) {
            Ok(()) => sent += chunk.len(),
            Err(_) => break,
        }
    }
    assert!(sent < 8 << 20, "the daemon read 8 MiB of one request");
    let mut reply = String::new();
    big.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let _ = BufReader::new(&big).read_line(&mut reply);
    assert!(reply.contains("request longer than 64 KiB"), "{reply:?}");
    // Meanwhile `status` answers at once.
    let t = Instant::now();
    let o = h.cmd(&["status"]).output().unwrap();
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "status took {:?}",
        t.elapsed()
    );
    // The idle ones are dropped once their time is up.
    std::thread::sleep(Duration::from_millis(5500));
    let mut first = &idle[0];
    first
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(
        first.read(&mut buf).unwrap_or(0),
        0,
        "an idle client was kept"
    );
    let o = stop_and_wait(h.cmd(&["stop"]), child);
    assert!(o.status.success(), "{}", err(&o));
}

/// Item 15: a closed terminal (SIGHUP) does not end a session.
#[test]
fn sighup_does_not_end_a_session() {
    let h = Home::new();
    let child = Home::spawn(h.cmd(LONG_RUN));
    wait_running(|| h.cmd(&["status"]));
    unsafe {
        libc::kill(child.id() as i32, libc::SIGHUP);
    }
    std::thread::sleep(Duration::from_millis(500));
    let o = h.cmd(&["status"]).output().unwrap();
    assert!(o.status.success(), "SIGHUP ended the session: {}", err(&o));
    let o = stop_and_wait(h.cmd(&["stop"]), child);
    assert!(o.status.success(), "{}", err(&o));
}

/// Item 15: of two `run`s started at the same moment, one runs and the
/// other is refused with exit 2 and one line (it was exit 1).
#[test]
fn the_loser_of_two_simultaneous_runs_exits_2() {
    for round in 0..5 {
        let h = Home::new();
        let a = Home::spawn(h.cmd(LONG_RUN));
        let b = Home::spawn(h.cmd(LONG_RUN));
        wait_running(|| h.cmd(&["status"]));
        // One of them gives up at once; the other runs until stopped.
        let t = Instant::now();
        let (mut loser, mut winner) = (None, None);
        let mut pair = vec![a, b];
        while loser.is_none() {
            for i in 0..pair.len() {
                if pair[i].try_wait().unwrap().is_some() {
                    loser = Some(pair.remove(i));
                    break;
                }
            }
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "round {round}: both still run"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        winner = winner.or(pair.pop());
        let lost = loser.unwrap().wait_with_output().unwrap();
        let e = err(&lost);
        assert_eq!(lost.status.code(), Some(2), "round {round}: {e}");
        assert!(e.contains("already running"), "round {round}: {e}");
        assert_eq!(e.trim_end().lines().count(), 1, "round {round}: {e}");
        let o = stop_and_wait(h.cmd(&["stop"]), winner.unwrap());
        assert!(o.status.success(), "round {round}: {}", err(&o));
        assert!(!Path::new(&h.path("medius.sock")).exists());
    }
}
