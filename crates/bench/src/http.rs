//! The HTTP side: one POST helper shared by every HTTP scenario, and the
//! trivial actix server that is the HTTP ceiling.

use std::net::SocketAddr;
use std::sync::mpsc;

use actix_web::{App, HttpResponse, HttpServer, web};

use crate::load::Attempt;

pub fn client(concurrency: usize) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder().pool_max_idle_per_host(concurrency).build()?)
}

/// Posts a JSON body; `events` count as accepted on any 2xx. The answer is
/// read to the end so the connection goes back to the pool.
pub async fn post(client: reqwest::Client, url: String, api_key: Option<String>, body: String, events: u64) -> Attempt {
    let mut request = client.post(url).header("content-type", "application/json").body(body);
    if let Some(key) = api_key {
        request = request.header("x-api-key", key);
    }
    let response = request.send().await.map_err(|e| format!("request failed: {e}"))?;
    let status = response.status();
    let answer = response.bytes().await.map_err(|e| format!("reading the answer failed: {e}"))?;
    if status.is_success() {
        Ok(events)
    } else {
        let answer = String::from_utf8_lossy(&answer[..answer.len().min(300)]).into_owned();
        Err(format!("{status}: {answer}"))
    }
}

/// Reads the whole body like the gateway must, then answers 202 with a
/// receipt of similar size: the cost of actix + HTTP/1.1 on loopback and
/// nothing else.
async fn accept(body: web::Bytes) -> HttpResponse {
    let receipt = format!(r#"{{"status":"accepted","bytes":{},"partition":0,"offset":0}}"#, body.len());
    HttpResponse::Accepted().content_type("application/json").body(receipt)
}

/// Starts the ceiling server on its own actix system thread (actix needs
/// its own runtime) on 127.0.0.1:0 and returns the bound address. It lives
/// until the process exits.
pub fn start_ceiling_server(workers: usize) -> anyhow::Result<SocketAddr> {
    let (bound, address) = mpsc::channel();
    std::thread::spawn(move || {
        let system = actix_web::rt::System::new();
        let result: std::io::Result<()> = system.block_on(async move {
            let server = HttpServer::new(|| {
                App::new().app_data(web::PayloadConfig::new(16 * 1024 * 1024)).route("/v1/events", web::post().to(accept))
            })
            .workers(workers)
            .bind(("127.0.0.1", 0))?;
            let _ = bound.send(server.addrs().first().copied());
            server.run().await
        });
        if let Err(error) = result {
            eprintln!("bench: ceiling server failed: {error}");
        }
    });
    address.recv()?.ok_or_else(|| anyhow::anyhow!("the ceiling server did not bind"))
}
