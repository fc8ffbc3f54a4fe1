//! The loaded application: compiled, pre-instantiated components, the router
//! and the shared services (databases, variables, commit counter), plus the
//! request path that runs one component instance per request.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Engine, Store};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::{WasiBody, WasiHttpView};

use crate::bindings;
use crate::crash::CommitCounter;
use crate::database::Database;
use crate::host::key_value::KeyValueStore;
use crate::host::redis_kv::RedisStore;
use crate::manifest::{Manifest, Route};
use crate::outbound::AllowedHosts;
use crate::routes::{RouteMatch, Router};
use crate::runtime_config::{KeyValueBackend, RuntimeConfig};
use crate::state::RequestState;
use crate::variables::ResolvedVariables;

/// What one component may use.
#[derive(Debug)]
pub struct Grants {
    /// The component id.
    pub id: String,
    /// Parsed `allowed_outbound_hosts`.
    pub allowed_hosts: AllowedHosts,
    /// Granted SQLite labels.
    pub sqlite_databases: Vec<String>,
    /// Granted key-value labels.
    pub key_value_stores: Vec<String>,
}

/// Services shared by all requests.
#[derive(Debug)]
pub struct Services {
    /// SQLite databases by label.
    pub sqlite: BTreeMap<String, Arc<Database>>,
    /// Key-value stores (SQLite files or Redis servers) by label.
    pub key_value: BTreeMap<String, Arc<KeyValueStore>>,
    /// Resolved component variables.
    pub variables: ResolvedVariables,
    /// Commit counter for crash injection.
    pub commits: CommitCounter,
    /// Outbound PostgreSQL connections, pooled as Spin pools them.
    pub pg_pool: crate::host::pg_pool::PgPool,
    /// What a PostgreSQL `query` without result rows does.
    pub pg_empty_query: crate::host::postgres::EmptyQuery,
    /// What becomes of a guest still running once its response is sent.
    pub after_response: AfterResponse,
    /// Component instances run since start (every request a component
    /// handles: from outside, by service chaining, or by the scheduler).
    /// Counted by the host only; what a component sees is unchanged.
    pub invocations: std::sync::atomic::AtomicU64,
}

struct PreparedComponent {
    pre: ProxyPre<RequestState>,
    grants: Arc<Grants>,
}

/// What becomes of a guest that runs on after its response was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum AfterResponse {
    /// Spin 3.x: the guest keeps its instance and runs until it
    /// returns (`crates/trigger-http/src/wasi.rs`: the handler's task is
    /// left running once the response is out).
    Run,
    /// Spin's main branch after pull request 3541 (`AbortOnDropBody`): the
    /// guest's task is aborted when hyper drops the response body, which
    /// it does as soon as the body has been sent; the guest stops at its
    /// next wait on the host, and its outbound requests are dropped. The
    /// default: a guest must never count on what may be cut short.
    #[default]
    Abort,
}

/// Options for [`App::load`].
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The `spin.toml` path.
    pub manifest: PathBuf,
    /// Where default databases live (Spin's `.spin`).
    pub state_dir: PathBuf,
    /// Optional Spin runtime config file.
    pub runtime_config: Option<PathBuf>,
    /// Where compiled components are cached (`None`: no cache).
    pub cache_dir: Option<PathBuf>,
    /// What a PostgreSQL `query` without result rows does (default: fail,
    /// as it would hang on Spin 4.0.0-4.0.2).
    pub pg_empty_query: crate::host::postgres::EmptyQuery,
    /// What becomes of a guest still running once its response is sent.
    pub after_response: AfterResponse,
    /// How many runner instances serve this application together (1: this
    /// one alone). Above 1, a local key-value file is refused and a local
    /// SQLite database is warned about: each instance would have its own.
    pub instances: u32,
}

/// A loaded application, ready to serve.
pub struct App {
    engine: Engine,
    components: BTreeMap<String, PreparedComponent>,
    router: Router,
    /// Shared services (public to the host implementations).
    pub services: Services,
    /// The bound address, used as `Host` when a request has none.
    listen_addr: OnceLock<SocketAddr>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("components", &self.components.keys().collect::<Vec<_>>())
            .field("router", &self.router)
            .finish_non_exhaustive()
    }
}

impl App {
    /// Loads the manifest, resolves configuration and compiles every component
    /// (in parallel, through the on-disk cache).
    pub fn load(opts: &LoadOptions) -> anyhow::Result<Arc<Self>> {
        let manifest = Manifest::load(&opts.manifest)?;
        let runtime = RuntimeConfig::load(opts.runtime_config.as_deref(), &opts.state_dir)?;
        let variables = ResolvedVariables::resolve(&manifest, |k| std::env::var(k).ok())?;
        let commits = CommitCounter::from_env()?;

        let mut sqlite = BTreeMap::new();
        let mut key_value = BTreeMap::new();
        let mut grants = BTreeMap::new();
        for (id, c) in &manifest.components {
            runtime.check_component(id, &c.sqlite_databases, &c.key_value_stores)?;
            for label in &c.sqlite_databases {
                if let Some(path) = runtime.sqlite_path(label) {
                    sqlite
                        .entry(label.clone())
                        .or_insert_with(|| Arc::new(Database::new(path)));
                }
            }
            for label in &c.key_value_stores {
                if let Some(backend) = runtime.key_value(label) {
                    key_value.entry(label.clone()).or_insert_with(|| {
                        Arc::new(match backend {
                            KeyValueBackend::Sqlite(path) => KeyValueStore::Sqlite(Database::new(path)),
                            KeyValueBackend::Redis(url) => KeyValueStore::Redis(RedisStore::new(url.clone())),
                        })
                    });
                }
            }
            let entries = c
                .allowed_outbound_hosts
                .iter()
                .map(|entry| variables.expand_allowed_host(id, entry))
                .collect::<Result<Vec<_>, _>>()?;
            let allowed_hosts = AllowedHosts::parse(&entries).with_context(|| format!("component '{id}'"))?;
            grants.insert(
                id.clone(),
                Arc::new(Grants {
                    id: id.clone(),
                    allowed_hosts,
                    sqlite_databases: c.sqlite_databases.clone(),
                    key_value_stores: c.key_value_stores.clone(),
                }),
            );
        }

        crate::fleet::check(opts.instances, &manifest, &runtime)?;

        let router = Router::build(manifest.http_triggers.iter().filter_map(|t| match &t.route {
            Route::Path(p) => Some((p.as_str(), t.component.as_str())),
            Route::Private => None,
        }))?;

        let engine = crate::engine::build_engine()?;
        let linker = build_linker(&engine)?;
        let components = compile_all(&engine, &linker, &manifest, opts.cache_dir.as_deref())?
            .into_iter()
            .map(|(id, pre)| {
                let grants = grants[&id].clone();
                (id, PreparedComponent { pre, grants })
            })
            .collect();

        Ok(Arc::new(Self {
            engine,
            components,
            router,
            services: Services {
                sqlite,
                key_value,
                variables,
                commits,
                pg_pool: crate::host::pg_pool::PgPool::default(),
                pg_empty_query: opts.pg_empty_query,
                after_response: opts.after_response,
                invocations: std::sync::atomic::AtomicU64::new(0),
            },
            listen_addr: OnceLock::new(),
        }))
    }

    /// The router (for printing routes).
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// Records the bound address once the listener is up.
    pub fn set_listen_addr(&self, addr: SocketAddr) {
        // Only the first call matters: the address never changes.
        let _ = self.listen_addr.set(addr);
    }

    /// Routes a request through the public router and invokes the component;
    /// 404 when no route matches. Returns the matched route too.
    pub async fn dispatch<B>(
        self: &Arc<Self>,
        request: http::Request<B>,
        client: SocketAddr,
    ) -> (http::Response<WasiBody>, Option<RouteMatch>)
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let started = Instant::now();
        match self.router.route(request.uri().path()) {
            Some(route) => {
                let response = self.invoke(request, route.clone(), client).await;
                (response, Some(route))
            }
            None => {
                log_request(&request, None, 404, started);
                (text_response(404, "Not Found"), None)
            }
        }
    }

    /// Runs `route.component` on `request` in a fresh instance. A trap or a
    /// handler that never responds gives 500; the runner keeps serving.
    pub async fn invoke<B>(
        self: &Arc<Self>,
        request: http::Request<B>,
        route: RouteMatch,
        client: SocketAddr,
    ) -> http::Response<WasiBody>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let started = Instant::now();
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let response = if let Some(name) = non_utf8_header(&request) {
            // Spin's `prepare_request_headers` (crates/trigger-http/src/headers.rs)
            // reads every header value as UTF-8 and fails the request before
            // the component runs: an empty 500.
            eprintln!("spin-local: header '{name}' is not valid UTF-8; Spin answers 500 without running the component");
            empty_response(500)
        } else {
            match self.try_invoke(request, &route, client).await {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("spin-local: component '{}' failed: {e:#}", route.component);
                    text_response(500, "Internal Server Error")
                }
            }
        };
        eprintln!(
            "{method} {path} route={} component={} status={} {}",
            route.raw_route,
            route.component,
            response.status().as_u16(),
            millis(started)
        );
        response
    }

    async fn try_invoke<B>(
        self: &Arc<Self>,
        mut request: http::Request<B>,
        route: &RouteMatch,
        client: SocketAddr,
    ) -> anyhow::Result<http::Response<WasiBody>>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let Some(component) = self.components.get(&route.component) else {
            return Ok(text_response(404, "Not Found"));
        };
        self.set_spin_headers(&mut request, route, client)?;
        self.services
            .invocations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);

        let mut store = Store::new(&self.engine, RequestState::new(self.clone(), component.grants.clone()));
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let req = store.data_mut().http().new_incoming_request(Scheme::Http, request)?;
        let out = store.data_mut().http().new_response_outparam(sender)?;
        let pre = component.pre.clone();
        let mut handler = Box::pin(async move {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, req, out)
                .await
        });
        let mut receiver = receiver;
        // Run the handler in this task until it sets the response (saves a
        // cross-thread hop per request); if it keeps running after that (to
        // stream the body), it continues in its own task.
        tokio::select! {
            biased;
            response = &mut receiver => {
                // Typically the handler only has a small body left to write:
                // one more poll finishes it here; otherwise it continues in
                // its own task while hyper streams the body.
                let mut abort = None;
                match futures::poll!(&mut handler) {
                    std::task::Poll::Ready(Err(e)) => {
                        eprintln!("spin-local: handler failed after responding: {e:#}");
                    }
                    std::task::Poll::Ready(Ok(())) => {}
                    std::task::Poll::Pending => {
                        let task = tokio::spawn(async move {
                            if let Err(e) = handler.await {
                                eprintln!("spin-local: handler failed after responding: {e:#}");
                            }
                        });
                        if self.services.after_response == AfterResponse::Abort {
                            abort = Some(task.abort_handle());
                        }
                    }
                }
                match response {
                    Ok(Ok(response)) => Ok(match abort {
                        Some(handle) => response.map(|body| AbortOnDropBody { body, handle }.boxed_unsync()),
                        None => response,
                    }),
                    Ok(Err(code)) => Err(anyhow::anyhow!("handler returned error code {code:?}")),
                    Err(_) => Err(anyhow::anyhow!("handler dropped the response")),
                }
            }
            finished = &mut handler => match receiver.await {
                Ok(Ok(response)) => Ok(response),
                Ok(Err(code)) => Err(anyhow::anyhow!("handler returned error code {code:?}")),
                Err(_) => match finished {
                    Ok(()) => Err(anyhow::anyhow!("handler did not set a response")),
                    Err(e) => Err(e.into()),
                },
            },
        }
    }

    fn set_spin_headers<B>(
        &self,
        request: &mut http::Request<B>,
        route: &RouteMatch,
        client: SocketAddr,
    ) -> anyhow::Result<()> {
        use http::header::{HeaderName, HeaderValue};
        let host = match request.headers().get(http::header::HOST) {
            Some(h) => h.to_str()?.to_owned(),
            None => match request.uri().authority() {
                Some(a) => a.to_string(),
                None => self
                    .listen_addr
                    .get()
                    .map(ToString::to_string)
                    .unwrap_or_else(|| "localhost".to_owned()),
            },
        };
        let path_and_query = request
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".to_owned());
        let scheme = request.uri().scheme_str().unwrap_or("http").to_owned();
        let full_url = format!("{scheme}://{host}{path_and_query}");
        // wasmtime-wasi-http needs an authority: give the URI one.
        *request.uri_mut() = full_url.parse()?;
        let headers = request.headers_mut();
        let mut set = |name: &str, value: &str| -> anyhow::Result<()> {
            headers.insert(HeaderName::from_bytes(name.as_bytes())?, HeaderValue::from_str(value)?);
            Ok(())
        };
        set("spin-full-url", &full_url)?;
        set("spin-path-info", &route.path_info)?;
        set("spin-matched-route", &route.raw_route)?;
        set("spin-base-path", "/")?;
        set("spin-raw-component-route", &route.raw_route)?;
        set("spin-component-route", &route.component_route)?;
        set("spin-client-addr", &client.to_string())?;
        for (name, value) in &route.params {
            set(&format!("spin-path-match-{}", name.to_ascii_lowercase()), value)?;
        }
        Ok(())
    }
}

/// A response body that aborts the guest's task when hyper drops it: after
/// the body was sent, or when the client went away (Spin's main branch,
/// `AbortOnDropBody` in `crates/trigger-http/src/wasi.rs`).
struct AbortOnDropBody {
    body: WasiBody,
    handle: tokio::task::AbortHandle,
}

impl Drop for AbortOnDropBody {
    fn drop(&mut self) {
        if !self.handle.is_finished() {
            eprintln!("spin-local: the response was sent; the guest still running after it is aborted (--after-response abort)");
        }
        self.handle.abort();
    }
}

impl http_body::Body for AbortOnDropBody {
    type Data = Bytes;
    type Error = <WasiBody as http_body::Body>::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The name of the first header whose value is not valid UTF-8, if any.
fn non_utf8_header<B>(request: &http::Request<B>) -> Option<String> {
    request
        .headers()
        .iter()
        .find(|(_, value)| std::str::from_utf8(value.as_bytes()).is_err())
        .map(|(name, _)| name.as_str().to_owned())
}

/// A response with a status and no body.
fn empty_response(status: u16) -> http::Response<WasiBody> {
    let mut response = http::Response::new(Full::new(Bytes::new()).map_err(|never| match never {}).boxed_unsync());
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response
}

/// A small plain-text response.
pub fn text_response(status: u16, text: &'static str) -> http::Response<WasiBody> {
    let mut response = http::Response::new(
        Full::new(Bytes::from_static(text.as_bytes()))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response
}

fn log_request<B>(request: &http::Request<B>, route: Option<&RouteMatch>, status: u16, started: Instant) {
    eprintln!(
        "{} {} route={} component={} status={status} {}",
        request.method(),
        request.uri().path(),
        route.map_or("-", |r| r.raw_route.as_str()),
        route.map_or("-", |r| r.component.as_str()),
        millis(started)
    );
}

/// Elapsed time as `1.234ms`, in integer arithmetic.
fn millis(started: Instant) -> String {
    let micros = started.elapsed().as_micros();
    format!("{}.{:03}ms", micros / 1000, micros % 1000)
}

fn build_linker(engine: &Engine) -> anyhow::Result<Linker<RequestState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    type Me = HasSelf<RequestState>;
    bindings::sqlite2::add_to_linker::<_, Me>(&mut linker, |s| s)?;
    bindings::sqlite3::add_to_linker::<_, Me>(&mut linker, |s| s)?;
    bindings::key_value::add_to_linker::<_, Me>(&mut linker, |s| s)?;
    bindings::variables::add_to_linker::<_, Me>(&mut linker, |s| s)?;
    bindings::postgres::add_to_linker::<_, Me>(&mut linker, |s| s)?;
    Ok(linker)
}

/// Compiles (or loads from cache) and pre-instantiates every component, one
/// thread per component.
fn compile_all(
    engine: &Engine,
    linker: &Linker<RequestState>,
    manifest: &Manifest,
    cache_dir: Option<&Path>,
) -> anyhow::Result<BTreeMap<String, ProxyPre<RequestState>>> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = manifest
            .components
            .values()
            .map(|c| {
                let handle = scope.spawn(move || -> anyhow::Result<ProxyPre<RequestState>> {
                    let started = Instant::now();
                    let (component, cached) = crate::engine::load_component(engine, &c.source, cache_dir)?;
                    let pre = linker
                        .instantiate_pre(&component)
                        .map_err(anyhow::Error::from)
                        .with_context(|| format!("linking component '{}'", c.id))?;
                    let pre = ProxyPre::new(pre)
                        .map_err(anyhow::Error::from)
                        .with_context(|| format!("component '{}' does not export wasi:http/incoming-handler", c.id))?;
                    eprintln!(
                        "spin-local: component '{}' {} in {:.0?}",
                        c.id,
                        if cached { "loaded from cache" } else { "compiled" },
                        started.elapsed()
                    );
                    Ok(pre)
                });
                (c.id.clone(), handle)
            })
            .collect();
        handles
            .into_iter()
            .map(|(id, h)| {
                let pre = h.join().map_err(|_| anyhow::anyhow!("compiling '{id}' panicked"))??;
                Ok((id, pre))
            })
            .collect()
    })
}
