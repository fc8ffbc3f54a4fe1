//! Outbound HTTP from guests (`wasi:http/outgoing-handler`).
//!
//! Every request is first checked against the component's
//! `allowed_outbound_hosts`; a refused request fails with
//! `HttpRequestDenied` and a line on stderr, as in Spin. Then:
//!
//! - `http://<component-id>.spin.internal/...` is service chaining: the target
//!   component is invoked in process with Spin's synthetic `/...` match (so
//!   private components are reachable), client address `0.0.0.0:0`;
//! - `http://self/...` and `http://self.alt/...` go through the application's
//!   router in process (public routes only, like a request from outside);
//! - other `http://` URLs are sent with hyper over plain TCP;
//! - `https://` is refused with a clear error: this runner is built without a
//!   TLS stack (Wasmtime's `default-send-request` would pull in rustls).
//!
//! Relative URLs (`/path`) are rejected by wasmtime-wasi-http before they
//! reach this hook; use `http://self.alt/path` for self-requests.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::app::{App, Grants};
use crate::outbound::Destination;
use crate::routes::RouteMatch;

/// The client address Spin reports for chained requests.
pub const CHAINED_CLIENT_ADDR: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0);

/// Default connect timeout when the guest sets none.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

type ResponseFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), Error>> + Send>,
                ),
                Error,
            >,
        > + Send,
>;

/// The wasi-http hooks of one request's store.
pub struct OutboundHooks {
    app: Arc<App>,
    grants: Arc<Grants>,
}

impl std::fmt::Debug for OutboundHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundHooks")
            .field("component", &self.grants.id)
            .finish_non_exhaustive()
    }
}

impl OutboundHooks {
    /// Hooks for a request handled by the component described by `grants`.
    pub fn new(app: Arc<App>, grants: Arc<Grants>) -> Self {
        Self { app, grants }
    }
}

/// Where an allowed outbound request goes.
enum Target {
    Chained(String),
    SelfApp,
    Network { host: String, port: u16 },
}

impl WasiHttpHooks for OutboundHooks {
    fn default_scheme(&mut self) -> Option<http::uri::Scheme> {
        Some(http::uri::Scheme::HTTP)
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> ResponseFuture {
        let app = self.app.clone();
        let grants = self.grants.clone();
        Box::new(async move {
            let target = classify(&grants, request.uri())?;
            let response = match target {
                Target::Chained(component) => {
                    let mut request = request;
                    request.headers_mut().remove(http::header::HOST);
                    let route = RouteMatch::synthetic(&component, request.uri().path());
                    app.invoke(request, route, CHAINED_CLIENT_ADDR).await
                }
                Target::SelfApp => app.dispatch(request, CHAINED_CLIENT_ADDR).await.0,
                Target::Network { host, port } => send_over_tcp(request, &host, port, options).await?,
            };
            Ok((
                response,
                Box::new(async { Ok(()) }) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

fn classify(grants: &Grants, uri: &http::Uri) -> Result<Target, Error> {
    let scheme = uri.scheme_str().unwrap_or("http").to_ascii_lowercase();
    let host = uri.host().unwrap_or("").to_ascii_lowercase();
    let dest = Destination {
        scheme: &scheme,
        host: &host,
        port: uri.port_u16(),
    };
    if !grants.allowed_hosts.allows(&dest) {
        eprintln!(
            "spin-local: component '{}' tried to send a request to {scheme}://{host}{}, which is not in allowed_outbound_hosts",
            grants.id,
            uri.port_u16().map(|p| format!(":{p}")).unwrap_or_default()
        );
        return Err(Error::HttpRequestDenied);
    }
    if let Some(component) = host.strip_suffix(".spin.internal") {
        return Ok(Target::Chained(component.to_owned()));
    }
    if host == "self" || host == "self.alt" {
        return Ok(Target::SelfApp);
    }
    if scheme != "http" {
        return Err(Error::InternalError(Some(format!(
            "spin-local does not support outbound {scheme}:// requests (no TLS stack); only http:// and service chaining"
        ))));
    }
    Ok(Target::Network {
        port: uri.port_u16().unwrap_or(80),
        host,
    })
}

async fn send_over_tcp(
    mut request: http::Request<WasiBody>,
    host: &str,
    port: u16,
    options: Option<RequestOptions>,
) -> Result<http::Response<WasiBody>, Error> {
    let connect_timeout = options
        .as_ref()
        .and_then(|o| o.connect_timeout)
        .unwrap_or(CONNECT_TIMEOUT);
    let stream = tokio::time::timeout(connect_timeout, tokio::net::TcpStream::connect((host, port)))
        .await
        .map_err(|_| Error::ConnectionTimeout)?
        .map_err(|_| Error::ConnectionRefused)?;
    stream.set_nodelay(true).map_err(Error::Connect)?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(Error::from)?;
    tokio::spawn(async move {
        // Ends when the response body is consumed or dropped.
        let _ = connection.await;
    });
    // HTTP/1 origin servers expect origin-form request targets.
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    *request.uri_mut() = path.parse().map_err(|_| Error::HttpRequestUriInvalid)?;
    let first_byte = options
        .as_ref()
        .and_then(|o| o.first_byte_timeout)
        .unwrap_or(Duration::from_secs(600));
    let response = tokio::time::timeout(first_byte, sender.send_request(request))
        .await
        .map_err(|_| Error::ConnectionReadTimeout)?
        .map_err(Error::from)?;
    Ok(response.map(|body| body.map_err(Error::from).boxed_unsync()))
}
