//! A loopback TCP relay in its own process: tests point a client at it and
//! SIGSTOP it, so that to the client the server behind it stops answering
//! exactly as a stopped server would (connections open, no bytes back),
//! without stopping the server other tests share. SIGCONT resumes it.

use clap::Parser;
use tokio::net::{TcpListener, TcpStream};

#[derive(Parser)]
struct Args {
    /// Where to relay to, `host:port` (loopback).
    #[arg(long)]
    target: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    // The test reads the port from the first line.
    println!("{}", listener.local_addr()?.port());
    loop {
        let (mut inbound, _) = listener.accept().await?;
        let target = args.target.clone();
        tokio::spawn(async move {
            if let Ok(mut outbound) = TcpStream::connect(&target).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}
