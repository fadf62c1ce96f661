//! The `oracle` binary: parses the command line and runs it.

use clap::Parser;
use verdict_oracle::{run_model_command, serve, Cli, Command};

/// Logs to stderr, `info` unless `VERDICT_LOG` says otherwise.
fn logging() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("VERDICT_LOG").unwrap_or_else(|_| "info".into()))
        .init();
}

fn main() -> std::process::ExitCode {
    let result = (|| -> anyhow::Result<Option<String>> {
        let cli = Cli::parse_from(serve::expand_config(std::env::args().collect())?);
        match cli.command {
            Command::Model(command) => Ok(Some(run_model_command(&command)?)),
            Command::Serve(args) => {
                // The service writes nothing to stdout (its logs go to stderr): fd 1 goes to
                // /dev/null, where halo2curves' debug lines on loading keys belong.
                drop(verdict_runtime::claim_stdout()?);
                logging();
                let runtime = verdict_runtime::service_runtime()?;
                runtime.block_on(serve::serve(*args))?;
                Ok(None)
            }
        }
    })();
    match result {
        Ok(out) => {
            // A closed pipe (`oracle model run … | head`) is not an error of ours.
            if let Some(out) = out {
                use std::io::Write;
                let _ = writeln!(std::io::stdout(), "{out}");
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            std::process::ExitCode::FAILURE
        }
    }
}
