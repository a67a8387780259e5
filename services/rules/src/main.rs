//! The rules service (consumer group `signalops-rules`). Until its own logic
//! lands it starts like every service: config, telemetry, the database
//! safety check, a broker check and `/livez` `/readyz` `/metrics`.

use std::process::ExitCode;

use signalops_platform::service::{self, WorkerSpec};

const SPEC: WorkerSpec = WorkerSpec { name: "rules", default_group: "signalops-rules", default_port: 9102 };

#[tokio::main]
async fn main() -> ExitCode {
    service::exit_code(SPEC.name, service::run_idle_worker(&SPEC).await)
}
