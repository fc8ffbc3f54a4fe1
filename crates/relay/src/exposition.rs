//! `--metrics-listen ADDR`: the relay's metrics over HTTP for Prometheus.
//! A deliberately small HTTP/1.1 responder on a std listener (one thread,
//! one request per connection): `GET /metrics` answers the text exposition
//! of [`Metrics::prometheus`], anything else 404. Scrapes are rare and tiny;
//! this keeps an HTTP server stack out of the relay.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::metrics::Metrics;

/// Serves `metrics` on `listener` until the process ends (run it on its own thread).
pub fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                if let Err(e) = answer(stream, &metrics) {
                    eprintln!("relay: metrics request: {e}");
                }
            }
            Err(e) => eprintln!("relay: metrics listener: {e}"),
        }
    }
}

fn answer(stream: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Read the headers to their end; the request has no body we need.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, content_type, body) = match (method, path) {
        ("GET", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            metrics.prometheus(Utc::now()),
        ),
        _ => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "not found: GET /metrics\n".to_owned(),
        ),
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

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

        let response = fetch(addr, "GET /metrics HTTP/1.1\r\nhost: relay\r\n\r\n");
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(
            response.contains("content-type: text/plain; version=0.0.4"),
            "{response}"
        );
        assert!(response.contains("\norderflow_relay_published_total 3\n"), "{response}");

        let missing = fetch(addr, "GET /other HTTP/1.1\r\n\r\n");
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    }
}
