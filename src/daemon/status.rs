//! The status and control socket: newline-delimited JSON on a Unix socket in
//! `$XDG_RUNTIME_DIR` (mode 0600). `{"cmd":"status"}` answers with the
//! daemon's state; `{"cmd":"stop"}` ends the session cleanly.

use serde::Serialize;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What `medius status` shows.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    /// Process id.
    pub pid: u32,
    /// Sensor: sim, replay:…, an address.
    pub sensor: String,
    /// Link up (always for sim and replay).
    pub connected: bool,
    /// Battery %, when known.
    pub battery: Option<u8>,
    /// Samples received.
    pub samples: u64,
    /// Samples lost on the link.
    pub samples_lost: u64,
    /// Current exercise.
    pub exercise: String,
    /// Current side.
    pub side: String,
    /// Placement.
    pub placement: String,
    /// Current load.
    pub load: Option<String>,
    /// A set is in progress.
    pub set_open: bool,
    /// Reps so far in the set in progress.
    pub reps_in_set: usize,
    /// Sets saved this session (logbook ids).
    pub sets_saved: Vec<i64>,
    /// The raw recording.
    pub recording: Option<String>,
    /// With two sensors, each one's link, ankle first (empty with one).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<LinkStatus>,
}

/// One sensor's link, as `medius status` shows it with two sensors.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LinkStatus {
    /// Where it is worn: ankle or pelvis.
    pub placement: String,
    /// Link up.
    pub connected: bool,
    /// Battery %, when known.
    pub battery: Option<u8>,
    /// Samples lost on this link.
    pub samples_lost: u64,
}

/// The socket path: `$XDG_RUNTIME_DIR/medius.sock`, else
/// `/tmp/medius-UID/medius.sock` in a folder medius creates 0700 and checks
/// before each use (see [`private_folder`]); `MEDIUS_SOCKET` overrides.
pub fn socket_path() -> PathBuf {
    if let Some(p) = std::env::var_os("MEDIUS_SOCKET").filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir).join("medius.sock");
    }
    fallback_folder().join("medius.sock")
}

/// Where the socket goes without `XDG_RUNTIME_DIR`: `/tmp/medius-UID`.
fn fallback_folder() -> PathBuf {
    std::env::temp_dir().join(format!("medius-{}", my_uid()))
}

/// The effective user id of this process.
fn my_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Longest request line the daemon reads; a client that sends more without
/// a newline is answered with an error and dropped (512 MiB without a
/// newline took the daemon from 8 MB to 533 MB).
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// How long one client may take in all, from connecting to its last
/// request; one that dawdles is dropped, and never holds up another.
pub const CLIENT_DEADLINE: Duration = Duration::from_secs(5);

/// Clients served at once; more are turned away until one is done.
pub const MAX_CLIENTS: usize = 16;

/// Why the server could not start, or a client could not ask.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// Another `medius run` owns the socket.
    #[error("medius is already running (socket {0}); stop it with `medius stop`")]
    AlreadyRunning(String),
    /// Something that is not this user's socket sits at the path.
    #[error("{0} is not a medius socket of yours; medius leaves it alone: remove it yourself or set MEDIUS_SOCKET to another path")]
    NotOurs(String),
    /// The folder for the socket is not private to this user.
    #[error("{0} is not a private folder of yours (it must be a folder, not a link, owned by you, mode 0700); medius leaves it alone: remove it yourself or set XDG_RUNTIME_DIR or MEDIUS_SOCKET")]
    FolderNotOurs(String),
    /// The process answering at the socket runs as another user.
    #[error("{path} is served by another user (uid {uid}); medius does not talk to it: set MEDIUS_SOCKET to your own socket")]
    OtherUser {
        /// The socket.
        path: String,
        /// The server's user id.
        uid: u32,
    },
    /// Binding, connecting or talking failed.
    #[error("status socket {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

impl StatusError {
    /// True when the user can fix it (exit code 2).
    pub fn is_user_error(&self) -> bool {
        !matches!(self, StatusError::Io { .. })
    }
}

/// Checks (and with `create`, first makes) the fallback folder for the
/// socket: lstat'ed, it must be a real folder (not a symlink), owned by
/// this user, with no access for group or others. In a shared `/tmp`
/// another user could otherwise have made it, or put a link there.
/// Other paths (`$XDG_RUNTIME_DIR`, `MEDIUS_SOCKET`) are the user's own
/// choice and are not checked.
pub fn private_folder(socket: &Path, create: bool) -> Result<(), StatusError> {
    let Some(dir) = socket.parent() else {
        return Ok(());
    };
    if dir != fallback_folder() {
        return Ok(());
    }
    let shown = || dir.display().to_string();
    if create {
        use std::os::unix::fs::DirBuilderExt;
        match std::fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(source) => {
                return Err(StatusError::Io {
                    path: shown(),
                    source,
                })
            }
        }
    }
    use std::os::unix::fs::MetadataExt;
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_dir() && m.uid() == my_uid() && m.mode() & 0o077 == 0 => Ok(()),
        Ok(_) => Err(StatusError::FolderNotOurs(shown())),
        // Nothing there yet: nobody is running (the client's case).
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !create => Ok(()),
        Err(source) => Err(StatusError::Io {
            path: shown(),
            source,
        }),
    }
}

/// The user id of the process at the other end of a Unix socket
/// (SO_PEERCRED: what the kernel saw when it connected, not what the peer
/// says).
fn peer_uid(stream: &UnixStream) -> std::io::Result<u32> {
    use std::os::unix::io::AsRawFd;
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes of the sizes given; the
    // descriptor belongs to `stream`, alive for the call.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(cred.uid)
}

/// The running server; removes the socket when dropped.
pub struct StatusServer {
    path: PathBuf,
    /// (device, inode) of the socket bound: only that is removed.
    id: Option<(u64, u64)>,
    shutdown: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The flock on `SOCKET.lock`, held while the server runs.
    _lock: std::fs::File,
}

/// Takes the lock beside the socket (`SOCKET.lock`, flock): of two `run`s
/// started at the same moment one gets it and the other is told medius is
/// running, and the check for a stale socket, its removal and the bind
/// happen under it, so no `run` removes a socket another has just bound.
fn lock_beside(path: &Path) -> Result<std::fs::File, StatusError> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    use std::os::unix::io::AsRawFd;
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = PathBuf::from(name);
    let shown = lock_path.display().to_string();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        // A symlink planted there is not followed.
        .custom_flags(libc::O_NOFOLLOW)
        .open(&lock_path)
        .map_err(|source| match source.raw_os_error() {
            Some(libc::ELOOP) => StatusError::NotOurs(shown.clone()),
            _ => StatusError::Io {
                path: shown.clone(),
                source,
            },
        })?;
    let meta = file.metadata().map_err(|source| StatusError::Io {
        path: shown.clone(),
        source,
    })?;
    if !meta.file_type().is_file() || meta.uid() != my_uid() {
        return Err(StatusError::NotOurs(shown));
    }
    // SAFETY: flock on a descriptor this function owns; no memory is shared.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() == std::io::ErrorKind::WouldBlock {
            return Err(StatusError::AlreadyRunning(path.display().to_string()));
        }
        return Err(StatusError::Io {
            path: shown,
            source: e,
        });
    }
    Ok(file)
}

/// What sits at the socket path, judged without following a link: `Ok(None)`
/// nothing, `Ok(Some(()))` a socket of ours, `Err` anything else.
fn our_socket_at(path: &Path) -> Result<Option<()>, StatusError> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() && meta.uid() == my_uid() => Ok(Some(())),
        // Not a socket of ours: never deleted, never trusted.
        Ok(_) => Err(StatusError::NotOurs(path.display().to_string())),
        Err(_) => Ok(None),
    }
}

impl StatusServer {
    /// Binds the socket and answers in a background thread. `stop` is set
    /// when a client sends `stop`.
    pub fn start(
        path: &Path,
        state: Arc<Mutex<Status>>,
        stop: Arc<AtomicBool>,
    ) -> Result<Self, StatusError> {
        let io = |source| StatusError::Io {
            path: path.display().to_string(),
            source,
        };
        private_folder(path, true)?;
        // Refused before anything is created beside it.
        our_socket_at(path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let lock = lock_beside(path)?;
        // Under the lock: looked at again, as it may have changed.
        if our_socket_at(path)?.is_some() {
            if UnixStream::connect(path).is_ok() {
                return Err(StatusError::AlreadyRunning(path.display().to_string()));
            }
            // Our socket, left by a crash: nobody listens on it.
            std::fs::remove_file(path).map_err(io)?;
        }
        let listener = UnixListener::bind(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::AddrInUse => {
                StatusError::AlreadyRunning(path.display().to_string())
            }
            _ => io(e),
        })?;
        let id = {
            use std::os::unix::fs::MetadataExt;
            std::fs::symlink_metadata(path)
                .ok()
                .map(|m| (m.dev(), m.ino()))
        };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        listener.set_nonblocking(true).map_err(io)?;
        let shutdown = Arc::new(AtomicBool::new(false));
        let sd = shutdown.clone();
        let busy = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let thread = std::thread::Builder::new()
            .name("medius-status".into())
            .spawn(move || {
                while !sd.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => serve(stream, &state, &stop, &busy),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(50)),
                    }
                }
            })
            .map_err(io)?;
        Ok(StatusServer {
            path: path.to_path_buf(),
            id,
            shutdown,
            thread: Some(thread),
            _lock: lock,
        })
    }
}

impl Drop for StatusServer {
    fn drop(&mut self) {
        self.shutdown.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        // Only the socket this server bound: not a file put there since.
        use std::os::unix::fs::MetadataExt;
        let same = std::fs::symlink_metadata(&self.path)
            .ok()
            .map(|m| (m.dev(), m.ino()));
        if same.is_some() && same == self.id {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Hands a new client to a thread of its own, so a slow one never holds up
/// `status` or `stop`; a client of another user is dropped unanswered.
fn serve(
    stream: UnixStream,
    state: &Arc<Mutex<Status>>,
    stop: &Arc<AtomicBool>,
    busy: &Arc<std::sync::atomic::AtomicUsize>,
) {
    if peer_uid(&stream).ok() != Some(my_uid()) {
        return;
    }
    if busy.fetch_add(1, Ordering::SeqCst) >= MAX_CLIENTS {
        busy.fetch_sub(1, Ordering::SeqCst);
        return;
    }
    let (state, stop, count) = (state.clone(), stop.clone(), busy.clone());
    let spawned = std::thread::Builder::new()
        .name("medius-client".into())
        .spawn(move || {
            let _ = answer(stream, &state, &stop);
            count.fetch_sub(1, Ordering::SeqCst);
        });
    if spawned.is_err() {
        // The thread never ran to give its place back.
        busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Reads one request line of at most [`MAX_REQUEST_BYTES`]: `Ok(None)` at
/// the end, `Err(InvalidData)` for a longer one.
fn read_request(reader: &mut impl BufRead, line: &mut Vec<u8>) -> std::io::Result<Option<()>> {
    use std::io::Read;
    line.clear();
    let n = reader
        .take(MAX_REQUEST_BYTES as u64 + 1)
        .read_until(b'\n', line)?;
    if n == 0 {
        return Ok(None);
    }
    if line.len() > MAX_REQUEST_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("request longer than {} KiB", MAX_REQUEST_BYTES / 1024),
        ));
    }
    Ok(Some(()))
}

fn answer(stream: UnixStream, state: &Mutex<Status>, stop: &AtomicBool) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    let deadline = std::time::Instant::now() + CLIENT_DEADLINE;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    let mut line = Vec::new();
    loop {
        // Whatever is left of the client's time, for each read.
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        out.set_read_timeout(Some(left))?;
        match read_request(&mut reader, &mut line) {
            Ok(Some(())) => {}
            Ok(None) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                let reply = serde_json::json!({ "ok": false, "error": e.to_string() });
                writeln!(out, "{reply}")?;
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        let reply = match serde_json::from_slice::<serde_json::Value>(&line) {
            Ok(v) => match v.get("cmd").and_then(|c| c.as_str()) {
                Some("status") => {
                    let s = state.lock().map(|s| s.clone()).unwrap_or_default();
                    serde_json::json!({ "ok": true, "status": s })
                }
                Some("stop") => {
                    stop.store(true, Ordering::SeqCst);
                    serde_json::json!({ "ok": true, "stopping": true })
                }
                Some(other) => {
                    let other: String = other.chars().take(40).collect();
                    serde_json::json!({ "ok": false, "error": format!("unknown command '{other}' (status, stop)") })
                }
                None => serde_json::json!({ "ok": false, "error": "no \"cmd\"" }),
            },
            Err(e) => serde_json::json!({ "ok": false, "error": format!("not JSON: {e}") }),
        };
        writeln!(out, "{reply}")?;
    }
}

/// Sends one command to a running daemon; `None` when none runs. The
/// daemon must run as this user: one of another user at the path is
/// refused, whatever it would answer.
pub fn request(path: &Path, cmd: &str) -> Result<Option<serde_json::Value>, StatusError> {
    let io = |source| StatusError::Io {
        path: path.display().to_string(),
        source,
    };
    private_folder(path, false)?;
    let stream = match UnixStream::connect(path) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(io(e)),
    };
    let uid = peer_uid(&stream).map_err(io)?;
    if uid != my_uid() {
        return Err(StatusError::OtherUser {
            path: path.display().to_string(),
            uid,
        });
    }
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .map_err(io)?;
    let mut w = stream.try_clone().map_err(io)?;
    writeln!(w, "{}", serde_json::json!({ "cmd": cmd })).map_err(io)?;
    w.shutdown(std::net::Shutdown::Write).map_err(io)?;
    let mut line = Vec::new();
    use std::io::Read;
    BufReader::new(stream)
        .take(1 << 20)
        .read_until(b'\n', &mut line)
        .map_err(io)?;
    Ok(serde_json::from_slice(&line).ok())
}
