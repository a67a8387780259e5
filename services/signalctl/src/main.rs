use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = signalops_signalctl::Cli::parse();
    signalops_platform::service::exit_code("signalctl", signalops_signalctl::run(cli).await)
}
