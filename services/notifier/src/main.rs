//! The notifier service (consumer group `signalops-notifier`). Until its own logic
//! lands it starts like every service: config, telemetry, the database
//! safety check, a broker check and `/livez` `/readyz` `/metrics`.

use std::process::ExitCode;

use signalops_platform::service::{self, WorkerSpec};

const SPEC: WorkerSpec = WorkerSpec { name: "notifier", default_group: "signalops-notifier", default_port: 9103 };

#[tokio::main]
async fn main() -> ExitCode {
    service::exit_code(SPEC.name, service::run_idle_worker(&SPEC).await)
}
