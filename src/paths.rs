//! Where medius keeps things: the XDG base directories, with the usual
//! fallbacks under $HOME.

use std::path::PathBuf;

fn base(var: &str, fallback: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(fallback))
        })
}

/// `$XDG_DATA_HOME/medius` (else `~/.local/share/medius`): logbook, recordings.
pub fn data_dir() -> Option<PathBuf> {
    Some(base("XDG_DATA_HOME", ".local/share")?.join("medius"))
}

/// `$XDG_CONFIG_HOME/medius` (else `~/.config/medius`): config, own profiles.
pub fn config_dir() -> Option<PathBuf> {
    Some(base("XDG_CONFIG_HOME", ".config")?.join("medius"))
}
