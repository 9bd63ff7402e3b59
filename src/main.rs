use std::process::ExitCode;

use clap::Parser;
use mendix_operator::cli::{Cli, execute};

fn main() -> ExitCode {
    // Before tokio starts its threads (see runtime::allocator).
    mendix_operator::runtime::allocator::one_arena();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let cli = Cli::parse();
    match runtime.block_on(execute(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
