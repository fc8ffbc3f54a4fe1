//! `--metrics-listen ADDR`: the relay's metrics over HTTP for Prometheus,
//! served by `tiny_http` (one thread, requests one after another):
//! `GET /metrics` answers the text exposition of [`Metrics::prometheus`],
//! anything else 404. Scrapes are rare and tiny.

use std::net::TcpListener;
use std::sync::Arc;

use chrono::Utc;
use tiny_http::{Header, Method, Response, Server};

use crate::metrics::{Metrics, CONTENT_TYPE};

/// Serves `metrics` on `listener` until the process ends (run it on its own thread).
pub fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    let server = match Server::from_listener(listener, None) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("relay: metrics listener: {e}");
            return;
        }
    };
    for request in server.incoming_requests() {
        let path = request.url().split('?').next().unwrap_or("").to_owned();
        let (status, content_type, body) = match (request.method(), path.as_str()) {
            (Method::Get, "/metrics") => (200, CONTENT_TYPE, metrics.prometheus(Utc::now())),
            _ => (404, "text/plain; charset=utf-8", "not found: GET /metrics\n".to_owned()),
        };
        let header = Header::from_bytes(&b"content-type"[..], content_type.as_bytes());
        let mut response = Response::from_string(body).with_status_code(status);
        if let Ok(header) = header {
            response = response.with_header(header);
        }
        if let Err(e) = request.respond(response) {
            eprintln!("relay: metrics request: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};
    use std::net::TcpStream;

    use super::*;

    fn fetch(addr: std::net::SocketAddr, request: &str) -> String {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    }

    #[test]
    fn a_scrape_over_loopback_gets_the_text_exposition_and_other_paths_404() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let metrics = Arc::new(Metrics::default());
        metrics.published(3);
        let served = metrics.clone();
        std::thread::spawn(move || serve(listener, served));

        let response = fetch(
            addr,
            "GET /metrics HTTP/1.1\r\nhost: relay\r\nconnection: close\r\n\r\n",
        );
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(
            response
                .to_ascii_lowercase()
                .contains(&format!("content-type: {CONTENT_TYPE}")),
            "{response}"
        );
        assert!(response.contains("\norderflow_relay_published_total 3\n"), "{response}");

        let missing = fetch(addr, "GET /other HTTP/1.1\r\nconnection: close\r\n\r\n");
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    }
}
