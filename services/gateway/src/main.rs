use std::process::ExitCode;

// Many small short-lived allocations per request (headers, JSON, envelopes),
// from several worker threads: allocation is a large share of the ingest
// path's CPU, and mimalloc spends less on it than glibc malloc
// (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    signalops_platform::service::exit_code("gateway", signalops_gateway::run().await)
}
