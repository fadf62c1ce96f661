//! The `fraud-prover` binary: parses the command line and runs it.

use std::io::Write;

use clap::Parser;
use verdict_fraud_prover::{run, Cli};

/// The real stdout, with file descriptor 1 pointed at /dev/null: halo2curves 0.9 prints a line
/// of debug output to stdout for each bit of the curve parameter on every BN254 G2 subgroup check
/// (loading keys), which would corrupt our output. Nothing of ours writes to fd 1 directly.
fn claim_stdout() -> std::fs::File {
    use std::os::fd::{AsRawFd, FromRawFd};
    let null = std::fs::OpenOptions::new().write(true).open("/dev/null");
    // SAFETY: dup/dup2 on the process's own standard descriptors; the duplicate is owned by the
    // returned File and nothing else closes it.
    unsafe {
        let saved = libc::dup(1);
        let redirected = null.as_ref().map(|n| libc::dup2(n.as_raw_fd(), 1) >= 0).unwrap_or(false);
        if saved < 0 || !redirected {
            eprintln!("error: cannot redirect stdout");
            std::process::exit(1);
        }
        std::fs::File::from_raw_fd(saved)
    }
}

fn main() -> std::process::ExitCode {
    // Parse first: --help and --version print to the real stdout.
    let cli = Cli::parse();
    let mut stdout = claim_stdout();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("VERDICT_LOG").unwrap_or_else(|_| "warn".into()))
        .init();
    if let verdict_fraud_prover::Command::Watch(args) = cli.command {
        let result = tokio::runtime::Runtime::new()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(verdict_fraud_prover::watch::watch(*args)).map_err(anyhow::Error::from));
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
