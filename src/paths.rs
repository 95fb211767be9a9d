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

/// Reads a small text file (a config, a profile) whole, refusing one larger
/// than `max_bytes` instead of reading until the memory runs out (a wrong
/// path such as /dev/zero). `what` names the kind of file in the error.
pub fn read_small_text(
    path: &std::path::Path,
    max_bytes: u64,
    what: &str,
) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(max_bytes + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > max_bytes {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {} MiB: not a medius {what}", max_bytes >> 20),
        ));
    }
    Ok(text)
}
