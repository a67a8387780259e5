use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    signalops_platform::service::exit_code(signalops_projector::SPEC.name, signalops_projector::run().await)
}
