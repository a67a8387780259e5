use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    signalops_platform::service::exit_code("gateway", signalops_gateway::run().await)
}
