//! Outbound HTTP to the providers, through Spin's `wasi:http`, with the
//! whole call bounded in time and its response in size; and the host's
//! randomness for sealing.

/// The largest provider response read, in bytes: their answers are small
/// JSON documents, so anything larger is a fault, not data.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Spin's outbound HTTP, blocking, with the whole call (connect, request,
/// response head and every byte of its body) bounded by `timeout`, which is
/// at most half the job lease: a provider that hangs, or trickles its
/// answer a byte at a time, fails the call before the worker's claim runs
/// out, so no second worker runs the same job meanwhile. Each phase is
/// also bounded by it through the request options.
#[derive(Debug)]
pub struct SpinOutbound {
    /// The deadline of a whole call, from its start.
    pub timeout: std::time::Duration,
}

impl crate::saga::Outbound for SpinOutbound {
    /// Sends through `wasi:http/outgoing-handler` with request options: the
    /// SDK's `send` passes none, so a provider that accepts the connection
    /// and never answers would hold the job past its lease.
    fn send(&self, request: crate::saga::OutRequest) -> Result<crate::saga::OutResponse, String> {
        use spin_sdk::http::conversions::TryIntoOutgoingRequest;
        use spin_sdk::http::{Method, Request};
        use spin_sdk::wit::wasi::http0_2_0::{outgoing_handler, types};
        use wasi::io::streams::StreamError;

        let method = match request.method {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            other => return Err(format!("unsupported method {other}")),
        };
        let mut builder = Request::builder();
        builder.method(method).uri(request.url.as_str());
        for (name, value) in &request.headers {
            builder.header(name.as_str(), value.as_str());
        }
        let (outgoing, buffered) = builder
            .body(request.body)
            .build()
            .try_into_outgoing_request()
            .map_err(|e| format!("{e}"))?;
        let options = types::RequestOptions::new();
        let nanos = u64::try_from(self.timeout.as_nanos()).unwrap_or(u64::MAX);
        // A host that cannot bound a phase says so; the others still apply.
        let _ = options.set_connect_timeout(Some(nanos));
        let _ = options.set_first_byte_timeout(Some(nanos));
        let _ = options.set_between_bytes_timeout(Some(nanos));
        let deadline = wasi::clocks::monotonic_clock::now().saturating_add(nanos);
        let timer = wasi::clocks::monotonic_clock::subscribe_instant(deadline);
        let late = || format!("no complete answer within {:?} (the call's deadline)", self.timeout);
        let body = outgoing.body().map_err(|()| "request body already taken".to_owned())?;
        let future = outgoing_handler::handle(outgoing, Some(options)).map_err(|e| format!("{e:?}"))?;
        {
            let stream = body
                .write()
                .map_err(|()| "request body stream unavailable".to_owned())?;
            for chunk in buffered.unwrap_or_default().chunks(4096) {
                stream.blocking_write_and_flush(chunk).map_err(|e| format!("{e:?}"))?;
            }
        }
        types::OutgoingBody::finish(body, None).map_err(|e| format!("{e:?}"))?;
        {
            let answered = future.subscribe();
            wasi::io::poll::poll(&[&answered, &timer]);
            if !answered.ready() {
                return Err(late());
            }
        }
        let response = future
            .get()
            .ok_or_else(|| "no response".to_owned())?
            .map_err(|()| "response already taken".to_owned())?
            .map_err(|e| format!("{e:?}"))?;
        let status = response.status();
        let headers = response
            .headers()
            .entries()
            .into_iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), String::from_utf8_lossy(&value).into_owned()))
            .collect();
        let incoming = response
            .consume()
            .map_err(|()| "response body already taken".to_owned())?;
        let mut bytes = Vec::new();
        {
            let stream = incoming
                .stream()
                .map_err(|()| "response body stream unavailable".to_owned())?;
            // Declared after the stream, so dropped before it (WASI wants a
            // pollable gone before its parent).
            let readable = stream.subscribe();
            loop {
                wasi::io::poll::poll(&[&readable, &timer]);
                if !readable.ready() {
                    return Err(late());
                }
                match stream.read(64 * 1024) {
                    Ok(chunk) if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES => {
                        return Err(format!(
                            "the response passed {MAX_RESPONSE_BYTES} bytes; not read further"
                        ));
                    }
                    Ok(chunk) => bytes.extend_from_slice(&chunk),
                    Err(StreamError::Closed) => break,
                    Err(e) => return Err(format!("{e:?}")),
                }
            }
        }
        Ok(crate::saga::OutResponse {
            status,
            headers,
            body: bytes,
        })
    }
}

/// 24 random bytes from the host (WASI `random`).
pub(super) fn random_nonce() -> [u8; crate::saga::NONCE_LEN] {
    let mut nonce = [0u8; crate::saga::NONCE_LEN];
    // The host's random source does not fail; were it to, a zero nonce must
    // not be used, so abort the request rather than encrypt with it.
    getrandom::fill(&mut nonce).unwrap_or_else(|e| panic!("no randomness from the host: {e}"));
    nonce
}
