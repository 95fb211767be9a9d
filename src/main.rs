//! The `medius` binary: parse the command line, run it, map errors to exit codes.

use clap::Parser as _;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match medius::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion)
                || e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            {
                e.exit();
            }
            // One line, like every other user error: what, and where to
            // look. Clap's first paragraph, its lines joined (a list of
            // missing arguments, or a bad value with a line break in it).
            let text = e.render().to_string();
            let what: Vec<&str> = text
                .split("\n\n")
                .find(|p| !p.trim().is_empty())
                .unwrap_or("bad arguments")
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            let what = what.join(" ");
            let what = what.trim_start_matches("error: ");
            // A bad value with a carriage return or an escape in it is
            // shown, not obeyed.
            let what = medius::terminal::printable(what);
            eprintln!("medius: {what} (see --help)");
            return ExitCode::from(2);
        }
    };
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => tracing::Level::ERROR,
        (false, 0) => tracing::Level::WARN,
        (false, 1) => tracing::Level::INFO,
        _ => tracing::Level::DEBUG,
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .without_time()
        .init();
    match medius::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(nr) = e.downcast_ref::<medius::cli::daemon::NotRunning>() {
                eprintln!("medius: {}", medius::terminal::printable(&nr.to_string()));
                return ExitCode::from(3);
            }
            let user = medius::cli::is_user_error(&e);
            // One line: the outermost message and its causes, joined; a
            // bad field's CR, LF or escape sequence shown as an escape.
            let msg: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            eprintln!("medius: {}", medius::terminal::printable(&msg.join(": ")));
            ExitCode::from(if user { 2 } else { 1 })
        }
    }
}
