//! `medius config`, `medius status`, `medius stop`.

use super::user_error;
use crate::daemon::config::{self, Config, DEFAULT_TEXT};
use crate::daemon::status;
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// The config file: `config init` writes the commented default,
/// `config show` prints what medius makes of it, `config path` where it is.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  medius config init\n  medius config show")]
pub struct ConfigArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: ConfigAction,
    /// The config file [default: ~/.config/medius/config.toml; MEDIUS_CONFIG].
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Write the commented default config (never overwrites).
    #[command(
        after_help = "Examples:\n  medius config init\n  medius config init --config ./medius.toml"
    )]
    Init,
    /// Print the config as medius reads it (defaults filled in).
    #[command(
        after_help = "Examples:\n  medius config show\n  medius config show | grep -A3 '\\[logbook\\]'"
    )]
    Show,
    /// Print where the config file is.
    #[command(after_help = "Examples:\n  medius config path\n  $EDITOR \"$(medius config path)\"")]
    Path,
}

/// Runs `config`.
pub fn config(a: ConfigArgs) -> anyhow::Result<()> {
    let path = a
        .config
        .or_else(config::default_path)
        .ok_or_else(|| user_error("no home directory: give --config FILE or set MEDIUS_CONFIG"))?;
    match a.action {
        ConfigAction::Path => say!("{}", path.display()),
        ConfigAction::Init => {
            if path.exists() {
                return Err(user_error(format!(
                    "{} exists; edit it, or remove it first to start over",
                    path.display()
                )));
            }
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| user_error(format!("cannot create {}: {e}", dir.display())))?;
            }
            std::fs::write(&path, DEFAULT_TEXT)
                .map_err(|e| user_error(format!("cannot write {}: {e}", path.display())))?;
            say!("wrote {}", path.display());
        }
        ConfigAction::Show => {
            let cfg = Config::load(&path)?;
            if !path.exists() {
                esay!("{} does not exist: these are the defaults (`medius config init` writes the file)", path.display());
            }
            show!("{}", toml::to_string_pretty(&cfg)?);
        }
    }
    Ok(())
}

/// What a running `medius run` is doing: sensor, link, battery, samples
/// lost, the set in progress. Exit code 3 when none is running.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  medius status\n  medius status --json        # {\"running\": false} and exit 3 when none runs"
)]
pub struct StatusArgs {
    /// JSON instead of words.
    #[arg(long)]
    pub json: bool,
}

/// Asks the daemon; a socket that is not this user's is the user's to fix.
fn ask(path: &std::path::Path, cmd: &str) -> anyhow::Result<Option<serde_json::Value>> {
    status::request(path, cmd).map_err(|e| {
        if e.is_user_error() {
            user_error(e.to_string())
        } else {
            anyhow::Error::new(e)
        }
    })
}

/// Not running: exit code 3 (as `systemctl status` does).
#[derive(Debug, thiserror::Error)]
#[error("not running (no socket at {0})")]
pub struct NotRunning(pub String);

/// Runs `status`.
pub fn status(a: StatusArgs) -> anyhow::Result<()> {
    let path = status::socket_path();
    let Some(reply) = ask(&path, "status")? else {
        if a.json {
            // Scripts get a document either way; the exit code says the rest.
            say!("{}", serde_json::json!({ "running": false }));
        }
        return Err(NotRunning(path.display().to_string()).into());
    };
    let s = &reply["status"];
    if a.json {
        say!("{s}");
        return Ok(());
    }
    let load = s["load"]
        .as_str()
        .map(|l| format!(" · {l}"))
        .unwrap_or_default();
    say!(
        "running (pid {}) · sensor {} · {}{}",
        s["pid"],
        crate::terminal::printable(s["sensor"].as_str().unwrap_or("?")),
        if s["connected"].as_bool() == Some(true) {
            "connected"
        } else {
            "not connected"
        },
        s["battery"]
            .as_u64()
            .map(|b| format!(" · battery {b}%"))
            .unwrap_or_default()
    );
    // Two sensors: each link on its own line.
    for l in s["links"].as_array().into_iter().flatten() {
        say!(
            "  {} sensor · {}{} · {} lost",
            l["placement"].as_str().unwrap_or("?"),
            if l["connected"].as_bool() == Some(true) {
                "connected"
            } else {
                "not connected"
            },
            l["battery"]
                .as_u64()
                .map(|b| format!(" · battery {b}%"))
                .unwrap_or_default(),
            l["samples_lost"]
        );
    }
    say!(
        "{} · {} · {} side{load}",
        s["exercise"].as_str().unwrap_or("?"),
        s["placement"].as_str().unwrap_or("?"),
        s["side"].as_str().unwrap_or("?")
    );
    say!(
        "{} samples, {} lost · {} · {} saved",
        s["samples"],
        s["samples_lost"],
        if s["set_open"].as_bool() == Some(true) {
            format!(
                "set in progress, {}",
                plural(s["reps_in_set"].as_i64().unwrap_or(0), "rep", "reps")
            )
        } else {
            "between sets".to_string()
        },
        plural(
            s["sets_saved"].as_array().map_or(0, |v| v.len() as i64),
            "set",
            "sets"
        )
    );
    Ok(())
}

/// Ends a running session cleanly: the reps of the set in progress are
/// saved as an interrupted set.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  medius stop\n  medius stop || echo 'nothing was running'   # exit 3 when none runs"
)]
pub struct StopArgs {}

fn plural(n: i64, one: &str, many: &str) -> String {
    crate::terminal::plural(n, one, many)
}

/// Runs `stop`.
pub fn stop(_a: StopArgs) -> anyhow::Result<()> {
    let path = status::socket_path();
    match ask(&path, "stop")? {
        Some(_) => {
            say!("stopping: the set in progress is saved");
            Ok(())
        }
        None => Err(NotRunning(path.display().to_string()).into()),
    }
}
