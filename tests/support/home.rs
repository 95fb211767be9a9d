//! A throwaway home for one test: logbook, socket, config and data all
//! inside one temporary folder. Each test file adds the methods it needs
//! (`impl Home { … }` in that file) for the way it runs medius.

use std::path::PathBuf;

/// A temporary folder standing in for the lifter's home.
pub struct Home {
    /// The folder (removed when dropped).
    pub dir: tempfile::TempDir,
}

impl Home {
    /// A new, empty home.
    pub fn new() -> Home {
        Home {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// `p` inside it.
    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
}
