//! The `medius` binary: parse the command line, run it, map errors to exit codes.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = medius::cli::Cli::parse();
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
            let user = medius::cli::is_user_error(&e);
            // One line: the outermost message and its causes, joined.
            let msg: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            eprintln!("medius: {}", msg.join(": "));
            ExitCode::from(if user { 2 } else { 1 })
        }
    }
}
