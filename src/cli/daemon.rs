//! `medius config`, `medius status`, `medius stop`.

use super::user_error;
use crate::daemon::config::{self, Config, DEFAULT_TEXT};
use crate::daemon::status;
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// The config file: `config init` writes the commented default,
/// `config show` prints what medius makes of it, `config path` where it is.
///
///   medius config init
///   medius config show
#[derive(Debug, Args)]
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
    Init,
    /// Print the config as medius reads it (defaults filled in).
    Show,
    /// Print where the config file is.
    Path,
}

/// Runs `config`.
pub fn config(a: ConfigArgs) -> anyhow::Result<()> {
    let path = a
        .config
        .or_else(config::default_path)
        .ok_or_else(|| user_error("no home directory: give --config FILE or set MEDIUS_CONFIG"))?;
    match a.action {
        ConfigAction::Path => println!("{}", path.display()),
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
            println!("wrote {}", path.display());
        }
        ConfigAction::Show => {
            let cfg = Config::load(&path)?;
            if !path.exists() {
                eprintln!("{} does not exist: these are the defaults (`medius config init` writes the file)", path.display());
            }
            print!("{}", toml::to_string_pretty(&cfg)?);
        }
    }
    Ok(())
}

/// What a running `medius run` is doing: sensor, link, battery, samples
/// lost, the set in progress. Exit code 3 when none is running.
#[derive(Debug, Args)]
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
            println!("{}", serde_json::json!({ "running": false }));
        }
        return Err(NotRunning(path.display().to_string()).into());
    };
    let s = &reply["status"];
    if a.json {
        println!("{s}");
        return Ok(());
    }
    let load = s["load"]
        .as_str()
        .map(|l| format!(" · {l}"))
        .unwrap_or_default();
    println!(
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
    println!(
        "{} · {} · {} side{load}",
        s["exercise"].as_str().unwrap_or("?"),
        s["placement"].as_str().unwrap_or("?"),
        s["side"].as_str().unwrap_or("?")
    );
    println!(
        "{} samples, {} lost · {} · {} set(s) saved",
        s["samples"],
        s["samples_lost"],
        if s["set_open"].as_bool() == Some(true) {
            format!("set in progress, {} reps", s["reps_in_set"])
        } else {
            "between sets".to_string()
        },
        s["sets_saved"].as_array().map(|v| v.len()).unwrap_or(0)
    );
    Ok(())
}

/// Ends a running session cleanly (the set in progress is saved).
#[derive(Debug, Args)]
pub struct StopArgs {}

/// Runs `stop`.
pub fn stop(_a: StopArgs) -> anyhow::Result<()> {
    let path = status::socket_path();
    match ask(&path, "stop")? {
        Some(_) => {
            println!("stopping: the set in progress is saved");
            Ok(())
        }
        None => Err(NotRunning(path.display().to_string()).into()),
    }
}
