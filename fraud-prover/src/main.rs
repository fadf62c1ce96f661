//! The `fraud-prover` binary: parses the command line and runs it.

use std::io::Write;

use clap::Parser;
use verdict_fraud_prover::{run, Cli};

fn main() -> std::process::ExitCode {
    // Parse first: --help and --version print to the real stdout.
    let cli = Cli::parse();
    let mut stdout = match verdict_runtime::claim_stdout() {
        Ok(stdout) => stdout,
        Err(e) => {
            eprintln!("error: cannot redirect stdout: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("VERDICT_LOG").unwrap_or_else(|_| "warn".into()))
        .init();
    use verdict_fraud_prover::Command;
    if matches!(cli.command, Command::Watch(_) | Command::Worker(_)) {
        let result = verdict_runtime::service_runtime().map_err(anyhow::Error::from).and_then(|rt| {
            rt.block_on(async move {
                match cli.command {
                    Command::Watch(args) => verdict_fraud_prover::watch::watch(*args).await,
                    Command::Worker(args) => verdict_fraud_prover::worker::work(*args).await,
                    _ => Ok(()),
                }
            })
            .map_err(anyhow::Error::from)
        });
        return match result {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
                std::process::ExitCode::FAILURE
            }
        };
    }
    match run(&cli) {
        Ok(out) => {
            let _ = writeln!(stdout, "{out}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            std::process::ExitCode::FAILURE
        }
    }
}
