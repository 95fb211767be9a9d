//! The logbook: SQLite schema and migrations, sets from the pipeline, review,
//! auto-filled notes, progression targets, history, trends and exchange.
//!
//! All SQL of the project lives here. Migrations are numbered SQL files in
//! `migrations/`, applied in order by `PRAGMA user_version`; the database runs
//! in WAL mode with a busy timeout so the CLI can read while the daemon
//! writes; every set is written in one transaction.

mod exchange;
mod fit;
mod history;
mod load;
mod notes;
mod progress;
mod review;
pub mod time;
mod write;

pub use exchange::{App, ExportFormat, ImportSummary, StrongFile};
pub use history::{parse_since, LogEntry, LogFilter, TrendWeek};
pub use load::{Load, LoadUnit};
pub use progress::Target;
pub use review::{FlagRef, PendingFlag, PendingSet, ReviewActions, Verdict};
pub use write::{LinkedRecording, ManualSet, NewRecording, OpenRecording, SensorSet, Source};

use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The migrations, in order. Entry `i` brings the schema to version `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    include_str!("migrations/001_init.sql"),
    include_str!("migrations/002_recording_context.sql"),
    include_str!("migrations/003_count_doubts.sql"),
    include_str!("migrations/004_utc_and_sources.sql"),
    include_str!("migrations/005_set_recordings.sql"),
];

/// Schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The most reps in reserve a set can be logged with (RPE 0).
pub const MAX_RIR: u32 = 10;

/// How long a write waits for another medius writing to the same logbook
/// before it gives up with "database is locked".
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// What can go wrong with the logbook. The first variants are the user's to
/// fix (exit code 2); `Sqlite` and `Io` are faults.
#[derive(Debug, thiserror::Error)]
pub enum LogbookError {
    /// No set with this id.
    #[error("no set {0} in the logbook; `medius log --pending` lists the sets")]
    NoSuchSet(i64),
    /// Exercise id not in the catalog.
    #[error(
        "unknown exercise '{0}'; `medius exercises` lists them, `medius exercises add` adds one"
    )]
    UnknownExercise(String),
    /// A load that does not parse.
    #[error("load '{0}' not understood: write e.g. 12.5kg, 25lb, 'pin 7', 'band red', 'ankle 2kg' or bodyweight")]
    BadLoad(String),
    /// Anything else the user typed that makes no sense.
    #[error("{0}")]
    Invalid(String),
    /// The file is not a medius logbook, or is newer than this build.
    #[error("{path}: {why}")]
    NotALogbook {
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// This recording (same SHA-256) is in the logbook already.
    #[error("{path} is in the logbook already ({sets} set(s) from it); `medius import --again` brings it in once more")]
    AlreadyImported {
        /// The file.
        path: String,
        /// Sets that came from it.
        sets: i64,
    },
    /// Another `medius run` holds the logbook's session lock.
    #[error("another `medius run` is using the logbook {0}; stop it first (`medius stop`)")]
    InUse(String),
    /// SQLite failed.
    #[error("logbook: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Reading or writing a file failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl LogbookError {
    /// True when the user can fix it (exit code 2).
    pub fn is_user_error(&self) -> bool {
        !matches!(self, LogbookError::Sqlite(_) | LogbookError::Io(_))
    }
}

/// Result type of this module.
pub type Result<T, E = LogbookError> = std::result::Result<T, E>;

/// Where the logbook lives unless told otherwise:
/// `$XDG_DATA_HOME/medius/logbook.sqlite3`, else `~/.local/share/medius/…`.
pub fn default_path() -> Option<PathBuf> {
    Some(crate::paths::data_dir()?.join("logbook.sqlite3"))
}

/// An open logbook.
pub struct Logbook {
    conn: Connection,
    path: Option<PathBuf>,
}

impl Logbook {
    /// Opens (creating if needed) the logbook at `path` and brings its schema
    /// up to date, first copying an older logbook to a backup beside it.
    /// A new logbook and its folder are the user's alone (0600 and 0700).
    pub fn open(path: &Path) -> Result<Self> {
        check_not_a_folder(path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| {
                    LogbookError::Invalid(format!(
                        "cannot create the folder {} for the logbook: {e}",
                        dir.display()
                    ))
                })?;
        }
        create_private(path);
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| refused(path, e))?;
        // SQLite falls back to reading when the file or its disk is
        // read-only; the first write would then fail as a fault. Say it now.
        if conn.is_readonly(rusqlite::MAIN_DB)? {
            return Err(refused(
                path,
                rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_READONLY),
                    None,
                ),
            ));
        }
        let mut lb = Logbook {
            conn,
            path: Some(path.to_path_buf()),
        };
        // While another process creates the file or switches it to WAL,
        // SQLite can answer "locked" without calling the busy handler: try
        // again for as long as a write would wait.
        let started = std::time::Instant::now();
        let mut r = lb.setup();
        while matches!(&r, Err(LogbookError::Sqlite(rusqlite::Error::SqliteFailure(f, _)))
            if f.code == rusqlite::ErrorCode::DatabaseBusy)
            && started.elapsed() < DEFAULT_BUSY_TIMEOUT
        {
            std::thread::sleep(Duration::from_millis(10));
            r = lb.setup();
        }
        r.map_err(|e| match e {
            LogbookError::Sqlite(e) => refused(path, e),
            other => other,
        })?;
        Ok(lb)
    }

    /// Opens the logbook at `path` for reading only: nothing is created,
    /// migrated or switched to WAL. A missing file reads as a new, empty
    /// logbook; an older one is read through a migrated copy in memory.
    pub fn open_read_only(path: &Path) -> Result<Self> {
        check_not_a_folder(path)?;
        if std::fs::symlink_metadata(path).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
        {
            let mut lb = Logbook::open_in_memory()?;
            lb.path = Some(path.to_path_buf());
            return Ok(lb);
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| refused(path, e))?;
        let mut lb = Logbook {
            conn,
            path: Some(path.to_path_buf()),
        };
        // A WAL logbook on a read-only disk (or in a folder we may not
        // write) cannot get the -shm file SQLite reads through. No one can
        // be writing to it there, so it is read as it stands.
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        if lb.schema_version().is_err() && !Path::new(&wal).exists() {
            lb.conn = Connection::open_with_flags(
                immutable_uri(path),
                OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX
                    | OpenFlags::SQLITE_OPEN_URI,
            )
            .map_err(|e| refused(path, e))?;
        }
        let read = (|| -> Result<()> {
            lb.conn.busy_timeout(DEFAULT_BUSY_TIMEOUT)?;
            lb.refuse_foreign()?;
            if lb.schema_version()? < SCHEMA_VERSION {
                let mut copy = Connection::open_in_memory()?;
                rusqlite::backup::Backup::new(&lb.conn, &mut copy)?.run_to_completion(
                    256,
                    Duration::from_millis(5),
                    None,
                )?;
                lb.conn = copy;
                lb.conn.execute_batch("PRAGMA foreign_keys = ON;")?;
                // The copy is migrated, the file is not: no backup of it.
                let file = lb.path.take();
                let migrated = lb.migrate();
                lb.path = file;
                migrated?;
            }
            Ok(())
        })();
        read.map_err(|e| match e {
            LogbookError::Sqlite(e) => refused(path, e),
            other => other,
        })?;
        Ok(lb)
    }

    /// A logbook in memory (tests).
    pub fn open_in_memory() -> Result<Self> {
        let mut lb = Logbook {
            conn: Connection::open_in_memory()?,
            path: None,
        };
        lb.setup()?;
        Ok(lb)
    }

    /// The file, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn setup(&mut self) -> Result<()> {
        self.conn.busy_timeout(DEFAULT_BUSY_TIMEOUT)?;
        // Someone else's database is refused before anything is changed in
        // it (switching to WAL rewrites its header).
        self.refuse_foreign()?;
        // WAL lets `medius log` read while the daemon writes.
        let _mode: String = self
            .conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        // FULL: a commit is on the disk when it returns (WAL syncs once per
        // commit; a set is one commit), so a power cut loses no saved set.
        self.conn
            .execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;")?;
        self.migrate()
    }

    /// How long a write waits for another process writing to the same file
    /// (default [`DEFAULT_BUSY_TIMEOUT`]).
    pub fn set_busy_timeout(&mut self, wait: Duration) -> Result<()> {
        self.conn.busy_timeout(wait)?;
        Ok(())
    }

    /// A write transaction that takes the write lock at once (`BEGIN
    /// IMMEDIATE`), waiting out the busy timeout while another process
    /// writes. A deferred transaction that reads first cannot wait: SQLite
    /// answers "database is locked" at once when it tries to upgrade.
    pub(crate) fn write_tx(&mut self) -> Result<Transaction<'_>> {
        Ok(self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?)
    }

    /// Schema version of the open file.
    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    /// Refuses someone else's database before anything is changed in it.
    fn refuse_foreign(&self) -> Result<()> {
        // Version and tables read in one statement, one snapshot: another
        // process may create the logbook between two reads, and a version
        // read before with tables read after would look foreign.
        let (version, tables): (i64, i64) = self.conn.query_row(
            "SELECT (SELECT user_version FROM pragma_user_version),
                    (SELECT count(*) FROM sqlite_master WHERE type = 'table')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        foreign_by(version, tables, self.path.as_deref())
    }

    /// Brings the schema up to date. Two processes may open a new (or old)
    /// logbook at the same moment: the migrations run under the write lock,
    /// all in one transaction, and the version is read again once the lock
    /// is held, so the second process finds the work done. A logbook that
    /// holds data is first copied to `LOGBOOK.vN.backup` beside it (see
    /// [`Logbook::backup_before_migration`]).
    fn migrate(&mut self) -> Result<()> {
        let version = self.schema_version()?;
        if version == SCHEMA_VERSION {
            return Ok(());
        }
        if version > 0 {
            self.backup_before_migration(version)?;
        }
        let path = self.path.clone();
        // Version 4 rebuilds the sets table: with foreign keys on, dropping
        // the old one would delete every rep and flag through ON DELETE
        // CASCADE. SQLite only switches them outside a transaction; the
        // keys are checked before the commit instead.
        self.conn.execute_batch("PRAGMA foreign_keys = OFF;")?;
        let migrated = (|| -> Result<()> {
            let tx = self.write_tx()?;
            let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            if current != SCHEMA_VERSION {
                // Checked again under the lock: what another process created
                // meanwhile is a logbook, not a foreign file.
                foreign(&tx, current, path.as_deref())?;
                for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
                    tx.execute_batch(sql)?;
                    tx.pragma_update(None, "user_version", (i + 1) as i64)?;
                }
                let broken: i64 =
                    tx.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                        r.get(0)
                    })?;
                if broken > 0 {
                    return Err(LogbookError::Invalid(format!(
                        "the logbook could not be upgraded: {broken} rows would break its links; it is left as it was"
                    )));
                }
            }
            tx.commit()?;
            Ok(())
        })();
        self.conn.execute_batch("PRAGMA foreign_keys = ON;")?;
        migrated
    }

    /// Checks the file (`PRAGMA integrity_check` and foreign keys); returns
    /// the problems found, empty when all is well.
    pub fn check(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut st = self.conn.prepare("PRAGMA integrity_check")?;
        for r in st.query_map([], |r| r.get::<_, String>(0))? {
            let r = r?;
            if r != "ok" {
                out.push(r);
            }
        }
        let mut st = self.conn.prepare("PRAGMA foreign_key_check")?;
        let n = st.query_map([], |_| Ok(()))?.count();
        if n > 0 {
            out.push(format!("{n} rows break foreign keys"));
        }
        // A sensor set always has its reps: never half a set.
        let half: i64 = self.conn.query_row(
            "SELECT count(*) FROM sets s WHERE s.source IN ('sensor', 'sim', 'replay')
               AND (SELECT count(*) FROM reps r WHERE r.set_id = s.id) = 0",
            [],
            |r| r.get(0),
        )?;
        if half > 0 {
            out.push(format!("{half} sensor sets without reps"));
        }
        Ok(out)
    }

    /// Exercise catalog: (id, name, rep_min, rep_max, load step).
    pub fn exercises(&self) -> Result<Vec<ExerciseInfo>> {
        let mut st = self.conn.prepare(
            "SELECT id, name, counted_from, rep_min, rep_max, load_step, load_step_unit, builtin
               FROM exercises ORDER BY builtin DESC, id",
        )?;
        let rows = st.query_map([], ExerciseInfo::from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One exercise, or [`LogbookError::UnknownExercise`].
    pub fn exercise(&self, id: &str) -> Result<ExerciseInfo> {
        self.conn
            .query_row(
                "SELECT id, name, counted_from, rep_min, rep_max, load_step, load_step_unit, builtin
                   FROM exercises WHERE id = ?1",
                [id],
                ExerciseInfo::from_row,
            )
            .optional()?
            .ok_or_else(|| LogbookError::UnknownExercise(id.to_string()))
    }

    /// Adds an exercise to the catalog.
    pub fn add_exercise(&self, e: &ExerciseInfo) -> Result<()> {
        if e.id.is_empty()
            || !e
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(LogbookError::Invalid(format!(
                "exercise id '{}' must be lowercase letters, digits and dashes",
                e.id
            )));
        }
        if e.rep_min == 0 || e.rep_max < e.rep_min {
            return Err(LogbookError::Invalid(format!(
                "rep range {}-{} is empty",
                e.rep_min, e.rep_max
            )));
        }
        let n = self.conn.execute(
            "INSERT OR IGNORE INTO exercises (id, name, counted_from, rep_min, rep_max, load_step, load_step_unit)
             VALUES (?1, ?2, '', ?3, ?4, ?5, ?6)",
            rusqlite::params![
                e.id,
                e.name,
                e.rep_min,
                e.rep_max,
                e.load_step.as_ref().map(|l| l.value),
                e.load_step.as_ref().map(|l| l.unit.id()),
            ],
        )?;
        if n == 0 {
            return Err(LogbookError::Invalid(format!(
                "exercise '{}' is already in the catalog",
                e.id
            )));
        }
        Ok(())
    }

    /// Copies the whole logbook to `dest` with SQLite's online backup (safe
    /// while the daemon writes). `dest` must not exist; it is created
    /// readable by its owner only (0600). A copy that fails half-way is
    /// removed.
    pub fn backup(&self, dest: &Path) -> Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(dest);
        if let Err(e) = created {
            return Err(LogbookError::Invalid(match e.kind() {
                std::io::ErrorKind::AlreadyExists => format!(
                    "{} exists; give a new file name (backup never overwrites)",
                    dest.display()
                ),
                std::io::ErrorKind::NotFound => format!(
                    "cannot create {}: the folder {} does not exist",
                    dest.display(),
                    dest.parent()
                        .filter(|d| !d.as_os_str().is_empty())
                        .unwrap_or(Path::new("."))
                        .display()
                ),
                _ => format!("cannot create {}: {e}", dest.display()),
            }));
        }
        let copy = (|| -> Result<()> {
            let mut dst = Connection::open(dest)?;
            let b = rusqlite::backup::Backup::new(&self.conn, &mut dst)?;
            b.run_to_completion(256, Duration::from_millis(5), None)?;
            drop(b);
            dst.close().map_err(|(_, e)| e)?;
            std::fs::File::open(dest)?.sync_all()?;
            Ok(())
        })();
        if copy.is_err() {
            // Only the file this call created, never something else.
            let _ = std::fs::remove_file(dest);
        }
        copy
    }

    /// Before a migration changes an older logbook, a copy of it as it was:
    /// `LOGBOOK.vN.backup` (N the old schema version; `-2`, `-3`… when that
    /// name is taken), 0600. Without it a migration that goes wrong, or a
    /// newer medius given up for the old one, would leave no way back.
    fn backup_before_migration(&self, version: i64) -> Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        for n in 1..100 {
            let mut name = path.as_os_str().to_owned();
            name.push(if n == 1 {
                format!(".v{version}.backup")
            } else {
                format!(".v{version}-{n}.backup")
            });
            let dest = PathBuf::from(name);
            match self.backup(&dest) {
                Err(LogbookError::Invalid(_)) if dest.exists() => continue,
                other => return other,
            }
        }
        Err(LogbookError::Invalid(format!(
            "{}: too many backups from earlier versions beside it; move some away",
            path.display()
        )))
    }

    /// Takes the logbook's session lock: an advisory lock (`flock`) on
    /// `LOGBOOK.lock` beside the file, held until the returned guard is
    /// dropped or the process ends (even by kill -9). `run` holds it for the
    /// whole session, so a second `run` on the same logbook is refused
    /// whatever its status socket, and a `run` that holds it knows that
    /// every recording still marked open was left by a writer that is gone.
    /// The lock file is never removed (removing it would let two processes
    /// lock two different files).
    pub fn lock_session(&self) -> Result<SessionLock> {
        let Some(path) = &self.path else {
            return Ok(SessionLock { _file: None });
        };
        use std::os::unix::fs::OpenOptionsExt;
        use std::os::unix::io::AsRawFd;
        let mut name = path.as_os_str().to_owned();
        name.push(".lock");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(PathBuf::from(name))?;
        // SAFETY: flock on a descriptor this function owns; no memory is shared.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::WouldBlock {
                return Err(LogbookError::InUse(path.display().to_string()));
            }
            return Err(LogbookError::Io(e));
        }
        Ok(SessionLock { _file: Some(file) })
    }

    /// Now, as the logbook stores an instant (UTC).
    pub fn now(&self) -> Result<String> {
        Ok(time::Stamp::now().stored())
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }
}

/// A folder where the logbook file should be is the user's to fix; SQLite
/// only says "unable to open database file".
fn check_not_a_folder(path: &Path) -> Result<()> {
    if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
        return Err(not_a_logbook(
            Some(path),
            "is a folder, not a logbook file; give the file's path (e.g. FOLDER/logbook.sqlite3)",
        ));
    }
    Ok(())
}

/// `file:PATH?immutable=1`, the path escaped as a URI needs.
fn immutable_uri(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut uri = String::from("file:");
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            uri.push(b as char);
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push_str("?immutable=1");
    uri
}

/// Creates a new logbook file readable by its owner only; SQLite gives its
/// -wal and -shm files the same mode. An existing file is left as it is.
fn create_private(path: &Path) {
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
}

/// SQLite's answers that mean the user must fix the path (not a database,
/// read-only, cannot be opened) as one clear line; other failures as they are.
fn refused(path: &Path, e: rusqlite::Error) -> LogbookError {
    use rusqlite::ErrorCode;
    let why = match &e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            ErrorCode::NotADatabase => "not a SQLite database; give another --logbook path",
            ErrorCode::ReadOnly => {
                "cannot be written (a read-only file, folder or disk); check its permissions or give another --logbook path"
            }
            ErrorCode::CannotOpen | ErrorCode::PermissionDenied => {
                "cannot be opened; check that its folder exists and is yours, or give another --logbook path"
            }
            _ => return LogbookError::Sqlite(e),
        },
        _ => return LogbookError::Sqlite(e),
    };
    not_a_logbook(Some(path), why)
}

/// The error for a file that is not (or not yet) this medius' logbook.
fn not_a_logbook(path: Option<&Path>, why: impl Into<String>) -> LogbookError {
    LogbookError::NotALogbook {
        path: path.map(|p| p.display().to_string()).unwrap_or_default(),
        why: why.into(),
    }
}

/// A file with tables but no version is someone else's database; a version
/// above ours is a newer medius'.
fn foreign(conn: &Connection, version: i64, path: Option<&Path>) -> Result<()> {
    let tables: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
        [],
        |r| r.get(0),
    )?;
    foreign_by(version, tables, path)
}

fn foreign_by(version: i64, tables: i64, path: Option<&Path>) -> Result<()> {
    if version > SCHEMA_VERSION {
        return Err(not_a_logbook(
            path,
            format!(
                "schema version {version} is newer than this medius understands ({SCHEMA_VERSION}); upgrade medius"
            ),
        ));
    }
    if version == 0 && tables > 0 {
        return Err(not_a_logbook(
            path,
            "a SQLite database that is not a medius logbook; give another --logbook path",
        ));
    }
    Ok(())
}

/// The logbook's session lock (see [`Logbook::lock_session`]); released
/// when dropped.
pub struct SessionLock {
    _file: Option<std::fs::File>,
}

/// An exercise in the catalog.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExerciseInfo {
    /// Id used on the command line.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Where it is counted from ('' = logged by hand).
    pub counted_from: String,
    /// Bottom of the rep range.
    pub rep_min: u32,
    /// Top of the rep range.
    pub rep_max: u32,
    /// Smallest load increase.
    pub load_step: Option<Load>,
    /// Shipped with medius.
    pub builtin: bool,
}

impl ExerciseInfo {
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        let step: Option<f64> = r.get(5)?;
        let unit: Option<String> = r.get(6)?;
        Ok(ExerciseInfo {
            id: r.get(0)?,
            name: r.get(1)?,
            counted_from: r.get(2)?,
            rep_min: r.get(3)?,
            rep_max: r.get(4)?,
            load_step: match (step, unit.as_deref().and_then(LoadUnit::from_id)) {
                (Some(v), Some(u)) => Some(Load {
                    value: v,
                    unit: u,
                    label: None,
                }),
                _ => None,
            },
            builtin: r.get(7)?,
        })
    }
}
