use std::process::ExitCode;

// Many small short-lived allocations per request (headers, JSON, envelopes):
// mimalloc measured markedly cheaper than glibc malloc on the ingest path.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    signalops_platform::service::exit_code("gateway", signalops_gateway::run().await)
}
