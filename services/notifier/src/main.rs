use std::process::ExitCode;

// Many short-lived buffers from several threads: mimalloc keeps the resident
// set far below glibc malloc's per-thread arenas.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    signalops_platform::service::exit_code(signalops_notifier::SPEC.name, signalops_notifier::run().await)
}
