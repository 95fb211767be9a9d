//! The `medius` binary: parse the command line, run it, map errors to exit codes.

use clap::Parser as _;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Colour is decided before clap speaks, so its errors and help obey
    // `--color` too; `auto` honours NO_COLOR and never colours a pipe.
    medius::cli::color_choice(std::env::args_os()).write_global();
    let cli = match medius::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            // Clap's whole error: the "did you mean" tip, the accepted
            // values, the usage line. A user error: exit 2 (help and
            // version exit 0). A bad value is shown by clap as typed;
            // `printable` keeps a carriage return or an escape in it inert.
            let code = match e.kind() {
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
                _ => 2,
            };
            let args: Vec<String> = std::env::args_os()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            let text = if args.iter().any(|a| medius::terminal::printable(a) != *a) {
                // A value with a line break or an escape in it: parsed
                // again with it escaped, so clap quotes it inert, on one line.
                let shown = args
                    .iter()
                    .map(|a| medius::terminal::printable(a).into_owned());
                match medius::cli::Cli::try_parse_from(shown) {
                    Err(again) if again.kind() == e.kind() => again.render().ansi().to_string(),
                    _ => medius::terminal::printable(&e.render().to_string()).into_owned() + "\n",
                }
            } else {
                e.render().ansi().to_string()
            };
            medius::cli::write_err(&text);
            return ExitCode::from(code);
        }
    };
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => tracing::Level::ERROR,
        (false, 0) => tracing::Level::WARN,
        (false, 1) => tracing::Level::INFO,
        _ => tracing::Level::DEBUG,
    };
    medius::cli::set_quiet(cli.quiet);
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(medius::cli::colour_on_stderr())
        .without_time()
        .init();
    match medius::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The reader of a pipe quit (`medius export | head -1`): what
            // it wanted it had; not an error, as for ripgrep.
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            if let Some(nr) = e.downcast_ref::<medius::cli::daemon::NotRunning>() {
                medius::cli::report_error(&nr.to_string());
                return ExitCode::from(3);
            }
            let user = medius::cli::is_user_error(&e);
            medius::cli::report_error(&medius::cli::error_line(&e));
            ExitCode::from(if user { 2 } else { 1 })
        }
    }
}
