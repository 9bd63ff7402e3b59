//! `kubectl-mendix`: on PATH beside kubectl it becomes `kubectl mendix`.

use std::process::ExitCode;

use clap::Parser;
use kubectl_mendix::{Cli, execute};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match execute(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
