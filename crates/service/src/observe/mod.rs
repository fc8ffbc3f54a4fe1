//! Operations: one JSON log line per request a component serves (a saga
//! step is one such request, so it gets its own line with the job, its kind
//! and its outcome); the Prometheus text of `GET /v1/internal/metrics` is
//! [`prometheus`]'s.
//!
//! A line is written by the component itself, to its stdout, which is where
//! Spin (and SpinKube's containerd shim) sends a component's output:
//!
//! ```text
//! {"ts":"2026-11-29T16:02:03.120Z","level":"info","component":"orders","method":"POST",
//!  "route":"/v1/orders/:id/submit","status":200,"duration_us":8123,"tenant":"acme",
//!  "order":"0193…","correlation_id":"0193…"}
//! ```
//!
//! What goes in is a closed list of fields, each from a known place: the
//! route *template* (never the raw path or query), the status, the tenant
//! of a *verified* credential, the order id from the route or the job, the
//! job id and kind. Headers, bodies, tokens, keys, provider answers and
//! error texts never do, so no secret or credential can reach a log line.
//!
//! The correlation id names one piece of work across components: a request
//! that carries `x-correlation-id` (a UUID-like token of at most 64
//! characters from `[0-9A-Za-z-]`) keeps it, any other gets a fresh UUIDv7;
//! requests chained to other components ([`crate::spin::chain`]) pass it on,
//! and every response carries it back in `x-correlation-id`.
//!
//! Spin instantiates a component per request, so the request's log context
//! is per instance (a thread-local, as the clock's offset is a static).

use std::cell::RefCell;
use std::time::Instant;

use orderflow_core::{JobKind, OrderId, TenantId};
use orderflow_http::{HttpResponse, RequestParts};

use crate::router::{matched, Route};

pub mod prometheus;
pub use prometheus::prometheus_text;

/// The header that carries a correlation id between components and back to
/// the caller.
pub const CORRELATION_HEADER: &str = "x-correlation-id";

/// What this request's log line will say beyond the request itself.
#[derive(Debug, Default, Clone)]
struct Context {
    correlation_id: String,
    tenant: Option<String>,
    order: Option<String>,
    job: Option<String>,
    step: Option<&'static str>,
    outcome: Option<&'static str>,
    /// More jobs this request ran after the one it was handed (a step
    /// component carrying its order on): each gets its own line.
    more_jobs: Vec<JobRun>,
}

/// One more saga job a step request ran.
#[derive(Debug, Clone)]
struct JobRun {
    job: String,
    tenant: String,
    order: String,
    step: &'static str,
    outcome: &'static str,
    duration_us: u64,
}

thread_local! {
    static CONTEXT: RefCell<Context> = RefCell::new(Context::default());
}

/// A correlation id taken from a request header, if it is well-formed.
pub fn accepted_correlation_id(raw: Option<&str>) -> Option<String> {
    let raw = raw?.trim();
    let ok = !raw.is_empty() && raw.len() <= 64 && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    ok.then(|| raw.to_owned())
}

/// Starts a request: takes its correlation id (or makes one) and clears
/// what an earlier request on this instance noted. Returns when it started.
pub fn begin(request: &RequestParts) -> Instant {
    let correlation_id =
        accepted_correlation_id(request.header(CORRELATION_HEADER)).unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    CONTEXT.with(|c| {
        *c.borrow_mut() = Context {
            correlation_id,
            ..Context::default()
        }
    });
    Instant::now()
}

/// This request's correlation id (a fresh one outside a request).
pub fn correlation_id() -> String {
    let current = CONTEXT.with(|c| c.borrow().correlation_id.clone());
    if current.is_empty() {
        let fresh = uuid::Uuid::now_v7().to_string();
        CONTEXT.with(|c| c.borrow_mut().correlation_id = fresh.clone());
        fresh
    } else {
        current
    }
}

/// Records the tenant of the request's verified credential.
pub fn note_tenant(tenant: &TenantId) {
    CONTEXT.with(|c| c.borrow_mut().tenant = Some(tenant.as_str().to_owned()));
}

/// Records the saga job this request runs (a step component).
pub fn note_job(id: &str, tenant: &TenantId, order: OrderId, kind: JobKind) {
    CONTEXT.with(|c| {
        let mut c = c.borrow_mut();
        c.job = Some(id.to_owned());
        c.tenant = Some(tenant.as_str().to_owned());
        c.order = Some(order.to_string());
        c.step = Some(kind.as_str());
    });
}

/// Records how the saga step ended: `succeeded`, `failed` (recorded for a
/// retry or compensation) or `skipped` (not this worker's any more).
pub fn note_outcome(ran: Option<bool>) {
    let outcome = outcome_name(ran);
    CONTEXT.with(|c| c.borrow_mut().outcome = Some(outcome));
}

/// Records one more saga job this request ran after the one it was handed,
/// and how it ended (see [`note_outcome`]): it gets a log line of its own.
pub fn note_more_job(
    id: &str,
    tenant: &TenantId,
    order: OrderId,
    kind: JobKind,
    ran: Option<bool>,
    took: std::time::Duration,
) {
    let run = JobRun {
        job: id.to_owned(),
        tenant: tenant.as_str().to_owned(),
        order: order.to_string(),
        step: kind.as_str(),
        outcome: outcome_name(ran),
        duration_us: u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
    };
    CONTEXT.with(|c| c.borrow_mut().more_jobs.push(run));
}

fn outcome_name(ran: Option<bool>) -> &'static str {
    match ran {
        Some(true) => "succeeded",
        Some(false) => "failed",
        None => "skipped",
    }
}

/// One log line's fields.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LogLine<'a> {
    /// When the request finished (system time, RFC 3339, milliseconds, UTC).
    pub ts: String,
    /// `info` below 400, `warn` for 4xx, `error` for 5xx.
    pub level: &'static str,
    /// The component's id.
    pub component: &'a str,
    /// The request method.
    pub method: &'a str,
    /// The matched route template (`/v1/orders/:id`); `null` when none matched.
    pub route: Option<&'static str>,
    /// The response status.
    pub status: u16,
    /// How long the component took, in microseconds.
    pub duration_us: u64,
    /// The verified caller's tenant, or the job's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The order the request or job is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// The saga job a step ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// The saga step's kind (`provision`, `deliver`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<&'static str>,
    /// How the step ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<&'static str>,
    /// Ties this line to the caller's and to the chained components' lines.
    pub correlation_id: String,
}

/// The level a status is logged at.
pub fn level(status: u16) -> &'static str {
    match status {
        500.. => "error",
        400..=499 => "warn",
        _ => "info",
    }
}

/// Ends a request: writes its log line to stdout and returns `response`
/// with the correlation id header.
pub fn finish<S: ?Sized>(
    component: &str,
    routes: &[Route<S>],
    request: &RequestParts,
    started: Instant,
    response: HttpResponse,
) -> HttpResponse {
    let context = CONTEXT.with(|c| c.borrow().clone());
    let route = matched(routes, request);
    // An order id from the route, only when it parses as one.
    let from_route = route
        .as_ref()
        .filter(|(template, _)| template.starts_with("/v1/orders/"))
        .and_then(|(_, params)| params.get("id"))
        .and_then(|id| id.parse::<OrderId>().ok())
        .map(|id| id.to_string());
    let line = LogLine {
        ts: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        level: level(response.status),
        component,
        method: &request.method,
        route: route.as_ref().map(|(template, _)| *template),
        status: response.status,
        duration_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        tenant: context.tenant,
        order: context.order.or(from_route),
        job: context.job,
        step: context.step,
        outcome: context.outcome,
        correlation_id: context.correlation_id.clone(),
    };
    if let Ok(text) = serde_json::to_string(&line) {
        println!("{text}");
    }
    for run in &context.more_jobs {
        let more = LogLine {
            duration_us: run.duration_us,
            tenant: Some(run.tenant.clone()),
            order: Some(run.order.clone()),
            job: Some(run.job.clone()),
            step: Some(run.step),
            outcome: Some(run.outcome),
            ..line.clone()
        };
        if let Ok(text) = serde_json::to_string(&more) {
            println!("{text}");
        }
    }
    if response.header(CORRELATION_HEADER).is_some() || context.correlation_id.is_empty() {
        response
    } else {
        response.with_header(CORRELATION_HEADER, &context.correlation_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_correlation_id_is_kept_only_when_it_is_a_short_plain_token() {
        assert_eq!(
            accepted_correlation_id(Some("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")).as_deref(),
            Some("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")
        );
        assert_eq!(accepted_correlation_id(Some("")), None);
        assert_eq!(accepted_correlation_id(Some("a\"}{\"level\":\"x")), None);
        assert_eq!(accepted_correlation_id(Some(&"a".repeat(65))), None);
        assert_eq!(accepted_correlation_id(None), None);
    }

    #[test]
    fn levels_follow_the_status_class() {
        assert_eq!(
            (level(200), level(404), level(422), level(500), level(503)),
            ("info", "warn", "warn", "error", "error")
        );
    }

    #[test]
    fn a_request_line_names_the_route_template_and_the_order_but_nothing_from_headers_or_body() {
        fn ok(_: &(), _: &RequestParts, _: &crate::Params) -> Result<HttpResponse, orderflow_http::ApiError> {
            Ok(HttpResponse::json(200, &"ok"))
        }
        const ROUTES: &[Route<()>] = &[Route {
            method: "POST",
            path: "/v1/orders/:id/submit",
            handler: ok,
        }];
        let order = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
        let mut request = RequestParts::new("POST", &format!("/v1/orders/{order}/submit?secret=s3cr3t"));
        request
            .headers
            .push(("authorization".into(), "Bearer ofw1.top-secret".into()));
        request.headers.push((CORRELATION_HEADER.into(), "corr-1".into()));
        request.body = b"{\"card\":\"4242\"}".to_vec();
        let started = begin(&request);
        note_tenant(&"acme".parse().unwrap());
        let response = finish("orders", ROUTES, &request, started, HttpResponse::json(200, &"ok"));
        assert_eq!(response.header(CORRELATION_HEADER), Some("corr-1"));
        assert_eq!(correlation_id(), "corr-1");
        // The line itself, rebuilt from the same context.
        let line = LogLine {
            ts: "t".into(),
            level: level(200),
            component: "orders",
            method: "POST",
            route: matched(ROUTES, &request).map(|(t, _)| t),
            status: 200,
            duration_us: 1,
            tenant: Some("acme".into()),
            order: Some(order.into()),
            job: None,
            step: None,
            outcome: None,
            correlation_id: correlation_id(),
        };
        let text = serde_json::to_string(&line).unwrap();
        assert!(text.contains(r#""route":"/v1/orders/:id/submit""#), "{text}");
        for secret in ["s3cr3t", "top-secret", "4242"] {
            assert!(!text.contains(secret), "{text}");
        }
    }
}
