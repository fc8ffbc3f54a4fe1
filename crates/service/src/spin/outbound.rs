//! Outbound HTTP to the providers, through Spin's `wasi:http`, with every
//! phase of a call bounded; and the host's randomness for sealing.

/// Spin's outbound HTTP, blocking, with every phase of a call bounded by
/// `timeout` (connect, first byte, between bytes), which is kept below the
/// job lease: a provider that hangs fails the call, it does not outlive the
/// worker's claim.
#[derive(Debug)]
pub struct SpinOutbound {
    /// The bound on each phase of a call.
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
        let nanos = Some(u64::try_from(self.timeout.as_nanos()).unwrap_or(u64::MAX));
        // A host that cannot bound a phase says so; the others still apply.
        let _ = options.set_connect_timeout(nanos);
        let _ = options.set_first_byte_timeout(nanos);
        let _ = options.set_between_bytes_timeout(nanos);
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
        future.subscribe().block();
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
            loop {
                match stream.blocking_read(64 * 1024) {
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
