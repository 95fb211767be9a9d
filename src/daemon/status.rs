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
}

/// The socket path: `$XDG_RUNTIME_DIR/medius.sock`, else `/tmp/medius-UID.sock`;
/// `MEDIUS_SOCKET` overrides.
pub fn socket_path() -> PathBuf {
    if let Some(p) = std::env::var_os("MEDIUS_SOCKET").filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir).join("medius.sock");
    }
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(0);
    std::env::temp_dir().join(format!("medius-{uid}.sock"))
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// Another `medius run` owns the socket.
    #[error("medius is already running (socket {0}); stop it with `medius stop`")]
    AlreadyRunning(String),
    /// Something that is not this user's socket sits at the path.
    #[error("{0} is not a medius socket of yours; medius leaves it alone: remove it yourself or set MEDIUS_SOCKET to another path")]
    NotOurs(String),
    /// Binding failed.
    #[error("cannot open the status socket {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// The running server; removes the socket when dropped.
pub struct StatusServer {
    path: PathBuf,
    /// (device, inode) of the socket bound: only that is removed.
    id: Option<(u64, u64)>,
    shutdown: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
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
        // lstat: a symlink is judged itself, never followed.
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            use std::os::unix::fs::{FileTypeExt, MetadataExt};
            let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
            if !meta.file_type().is_socket() || Some(meta.uid()) != uid {
                // Not a socket of ours: never deleted, never trusted.
                return Err(StatusError::NotOurs(path.display().to_string()));
            }
            if UnixStream::connect(path).is_ok() {
                return Err(StatusError::AlreadyRunning(path.display().to_string()));
            }
            // Our socket, left by a crash: nobody listens on it.
            std::fs::remove_file(path).map_err(io)?;
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let listener = UnixListener::bind(path).map_err(io)?;
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
        let thread = std::thread::Builder::new()
            .name("medius-status".into())
            .spawn(move || {
                while !sd.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let _ = answer(stream, &state, &stop);
                        }
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

fn answer(stream: UnixStream, state: &Mutex<Status>, stop: &AtomicBool) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    let mut line = String::new();
    while reader.read_line(&mut line)? > 0 {
        let reply = match serde_json::from_str::<serde_json::Value>(&line) {
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
                    serde_json::json!({ "ok": false, "error": format!("unknown command '{other}' (status, stop)") })
                }
                None => serde_json::json!({ "ok": false, "error": "no \"cmd\"" }),
            },
            Err(e) => serde_json::json!({ "ok": false, "error": format!("not JSON: {e}") }),
        };
        writeln!(out, "{reply}")?;
        line.clear();
    }
    Ok(())
}

/// Sends one command to a running daemon; `None` when none runs.
pub fn request(path: &Path, cmd: &str) -> std::io::Result<Option<serde_json::Value>> {
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
        Err(e) => return Err(e),
    };
    stream.set_read_timeout(Some(Duration::from_secs(3)))?;
    let mut w = stream.try_clone()?;
    writeln!(w, "{}", serde_json::json!({ "cmd": cmd }))?;
    w.shutdown(std::net::Shutdown::Write)?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line)?;
    Ok(serde_json::from_str(&line).ok())
}
