//! The Resend adapter against the e-mail simulator's Resend API over real
//! HTTP on loopback: one e-mail per delivery key however often it is
//! retried, an age-encrypted text that differs on a retry counts as the
//! delivery already made, a rate limit retries, a wrong key is permanent;
//! and our own API stays selectable by `email_provider`.

use std::time::Duration;

use orderflow_service::saga::mailers::Mailer;
use orderflow_service::saga::{CallError, Endpoint, MailCalls, OutRequest, OutResponse, Outbound};
use orderflow_sims::{client, Config, Running};
use serde_json::{json, Value};

struct Http(tokio::runtime::Runtime);

impl Outbound for Http {
    fn send(&self, r: OutRequest) -> Result<OutResponse, String> {
        let method: hyper::Method = r.method.parse().map_err(|e| format!("{e}"))?;
        let headers: Vec<(&str, &str)> = r.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let response = self.0.block_on(client::request(
            method,
            &r.url,
            &headers,
            r.body,
            Duration::from_secs(10),
        ))?;
        Ok(OutResponse {
            status: response.status,
            headers: response
                .headers
                .iter()
                .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
                .collect(),
            body: response.body.to_vec(),
        })
    }
}

fn start() -> (Http, Running) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let sims = rt.block_on(orderflow_sims::start(Config::default())).unwrap();
    (Http(rt), sims)
}

fn mailer(sims: &Running, provider: &str, key: &str) -> Mailer {
    let endpoint = Endpoint {
        url: sims.email_url(),
        key: key.into(),
    };
    Mailer::from_config(provider, endpoint, "Orderflow <access@orderflow.example>").unwrap()
}

fn sim(http: &Http, sims: &Running, method: hyper::Method, path: &str, body: Option<Value>) -> Value {
    let url = format!("{}{path}", sims.email_url());
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let r = http
        .0
        .block_on(client::request(
            method,
            &url,
            &[("content-type", "application/json")],
            body,
            Duration::from_secs(10),
        ))
        .unwrap();
    r.json()
}

fn messages(http: &Http, sims: &Running) -> Vec<Value> {
    sim(http, sims, hyper::Method::GET, "/_sim/messages", None)["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_delivery_goes_through_resend_once_however_often_it_is_retried() {
    let (http, sims) = start();
    let resend = mailer(&sims, "resend", "re_live_key");
    let to = "buyer@acme.example";
    resend
        .send_email(
            &http,
            to,
            "Your vps is ready",
            "-----BEGIN AGE ENCRYPTED FILE-----\nA",
            "deliver-1",
        )
        .unwrap();
    resend
        .send_email(
            &http,
            to,
            "Your vps is ready",
            "-----BEGIN AGE ENCRYPTED FILE-----\nA",
            "deliver-1",
        )
        .unwrap();
    // A retry re-encrypts: another text under the same key is the same delivery.
    resend
        .send_email(
            &http,
            to,
            "Your vps is ready",
            "-----BEGIN AGE ENCRYPTED FILE-----\nB",
            "deliver-1",
        )
        .unwrap();
    let sent = messages(&http, &sims);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["api"], "resend");
    assert_eq!(sent[0]["to"], to);
    assert_eq!(sent[0]["from"], "Orderflow <access@orderflow.example>");
    assert_eq!(sent[0]["idempotency_key"], "deliver-1");
}

#[test]
fn rate_limits_retry_and_a_refused_key_does_not() {
    let (http, sims) = start();
    sim(
        &http,
        &sims,
        hyper::Method::POST,
        "/_sim/faults",
        Some(json!({"rate_limit_next": 1})),
    );
    let resend = mailer(&sims, "resend", "re_live_key");
    let limited = resend.send_email(&http, "a@b.example", "s", "t", "k1").unwrap_err();
    assert!(
        matches!(&limited, CallError::Retryable(m) if m.contains("rate_limit_exceeded") && m.contains("retry after 1")),
        "{limited:?}"
    );
    resend.send_email(&http, "a@b.example", "s", "t", "k1").unwrap();

    let wrong = mailer(&sims, "resend", "sk_not_resend");
    let refused = wrong.send_email(&http, "a@b.example", "s", "t", "k2").unwrap_err();
    assert!(
        matches!(&refused, CallError::Permanent(m) if m.contains("invalid_api_key")),
        "{refused:?}"
    );
    assert_eq!(messages(&http, &sims).len(), 1);
}

#[test]
fn our_own_email_api_stays_selectable() {
    let (http, sims) = start();
    let ours = mailer(&sims, "orderflow", "ek_key");
    ours.send_email(&http, "a@b.example", "s", "t", "k").unwrap();
    ours.send_email(&http, "a@b.example", "s", "t", "k").unwrap();
    let sent = messages(&http, &sims);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0]["api"].is_null(), "came through /v1/messages: {sent:?}");
}
