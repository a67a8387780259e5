//! Generates the envelope types with prost. `protox` compiles the .proto files
//! in pure Rust, so neither developers nor CI need a `protoc` binary.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = "../../proto";
    let files = [
        format!("{proto_root}/signalops/v1/event.proto"),
        format!("{proto_root}/signalops/v1/notification.proto"),
        format!("{proto_root}/signalops/v1/delivery.proto"),
    ];
    for file in &files {
        println!("cargo:rerun-if-changed={file}");
    }
    let descriptors = protox::compile(&files, [proto_root])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
