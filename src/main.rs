//! The `romm-server` binary: parse the configuration, set up logging, run the subcommand.

use clap::Parser;
use romm_server::config::Cli;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    romm_server::telemetry::init(&cli.config.log_format);
    match romm_server::cli::run(cli.config, cli.command).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("romm-server: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
