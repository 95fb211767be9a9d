//! Shell integration: completion scripts (clap_complete) and the man page
//! (clap_mangen), both generated from the same clap definition as `--help`,
//! so they list the same commands, options and accepted values.

use super::{user_error, Cli};
use clap::{Args, CommandFactory as _};
use std::path::PathBuf;

/// `medius completions SHELL`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  medius completions bash > ~/.local/share/bash-completion/completions/medius
  medius completions zsh > ~/.zfunc/_medius        # with fpath+=~/.zfunc in ~/.zshrc
  medius completions fish > ~/.config/fish/completions/medius.fish")]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `medius man`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  medius man | man -l -                        # read it now
  medius man --dir ~/.local/share/man/man1     # medius.1 and one page per command")]
pub struct ManArgs {
    /// Write medius.1 and medius-COMMAND.1 pages into this folder (it must
    /// exist) instead of printing medius.1.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Prints the completion script.
pub fn completions(a: CompletionsArgs) -> anyhow::Result<()> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "medius", &mut out);
    write_stdout(&out);
    Ok(())
}

/// Prints the man page, or writes every page into a folder.
pub fn man(a: ManArgs) -> anyhow::Result<()> {
    let cmd = Cli::command();
    match a.dir {
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut out)?;
            write_stdout(&out);
        }
        Some(dir) => {
            if !dir.is_dir() {
                return Err(user_error(format!(
                    "man --dir {}: not a folder; make it first (mkdir -p)",
                    dir.display()
                )));
            }
            clap_mangen::generate_to(cmd, &dir).map_err(|e| {
                anyhow::anyhow!("cannot write the man pages into {}: {e}", dir.display())
            })?;
            tell!("man pages written to {}", dir.display());
        }
    }
    Ok(())
}

/// Raw bytes to stdout; a reader that quit early (`| head`) is not an error.
fn write_stdout(bytes: &[u8]) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(bytes).and_then(|()| out.flush());
}
