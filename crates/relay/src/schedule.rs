//! `relay schedule`: drives the application's periodic routes from inside a
//! cluster — `POST /v1/internal/tick` every second (the saga's retries back
//! off from 2 s, so a coarser tick would stretch them) and `POST
//! /v1/internal/renew` every ten — with a service token minted for each
//! request, valid for one minute and scoped `tick renew` (it can do nothing
//! else), signed with the scheduler's own private key
//! (`ORDERFLOW_SCHEDULER_KEY`), whose public half the app's JWKS lists. The
//! app's components hold no signing key; the scheduler holds only its own.
//!
//! Each route has its own thread; a route's next request starts one
//! interval after the previous one *started*, or at once if it took longer:
//! requests to one route never overlap. Several schedulers may run (the
//! tick claims jobs under a lease, renewals per period are unique in the
//! database), so a rolling update that briefly runs two is harmless.
//!
//! One JSON line per request on stdout, like the components' own:
//! `{"ts":…,"level":…,"component":"scheduler","route":…,"status":…,"duration_us":…,"correlation_id":…}`;
//! the token is never printed.

use std::time::{Duration, Instant};

use chrono::Utc;
use orderflow_core::TenantId;
use orderflow_http::{Role, TokenSigner, TokenSpec};

/// One periodic route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Every {
    /// Time between the starts of two requests.
    pub interval: Duration,
    /// The route to `POST`, e.g. `/v1/internal/tick`.
    pub route: String,
}

impl std::str::FromStr for Every {
    type Err = String;

    /// `1s=/v1/internal/tick`, `500ms=/x`, `10s=/v1/internal/renew`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (interval, route) = s
            .split_once('=')
            .ok_or_else(|| format!("`{s}`: expected INTERVAL=ROUTE, e.g. 1s=/v1/internal/tick"))?;
        let (digits, unit) = interval.split_at(interval.find(|c: char| !c.is_ascii_digit()).unwrap_or(interval.len()));
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("`{interval}`: expected a whole number and ms, s or m"))?;
        let interval = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n * 60),
            _ => return Err(format!("`{interval}`: the unit must be ms, s or m")),
        };
        if interval.is_zero() {
            return Err(format!("`{s}`: the interval must be positive"));
        }
        if !route.starts_with('/') {
            return Err(format!("`{route}`: the route must start with /"));
        }
        Ok(Every {
            interval,
            route: route.to_owned(),
        })
    }
}

/// Where and as whom to call.
#[derive(Debug)]
pub struct Target {
    /// `host:port` of the application (an `http://` base URL without a path).
    pub authority: String,
    /// The tenant the service tokens name (any; the tick and renewals work
    /// across tenants).
    pub tenant: TenantId,
    /// The scheduler's signing key, issuer and audience.
    pub signer: TokenSigner,
    /// The HTTP client (`ureq`): every status is an answer, not an error;
    /// a call may take a minute; no connection is kept between calls.
    agent: ureq::Agent,
}

impl Target {
    /// Parses `http://host[:port]` (port 80 when omitted).
    ///
    /// # Errors
    /// Another scheme, a path, or an empty host.
    pub fn new(app_url: &str, tenant: TenantId, signer: TokenSigner) -> Result<Self, String> {
        let rest = app_url
            .strip_prefix("http://")
            .ok_or_else(|| format!("`{app_url}`: expected http://host[:port] (in-cluster, plain HTTP)"))?
            .trim_end_matches('/');
        if rest.is_empty() || rest.contains('/') {
            return Err(format!("`{app_url}`: expected http://host[:port] without a path"));
        }
        let authority = if rest.contains(':') {
            rest.to_owned()
        } else {
            format!("{rest}:80")
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .max_idle_connections(0)
            .build()
            .into();
        Ok(Self {
            authority,
            tenant,
            signer,
            agent,
        })
    }

    /// The scopes of the scheduler's tokens: the two routes it drives.
    pub const SCOPES: [&'static str; 2] = ["tick", "renew"];

    /// `POST route` with a fresh one-minute service token; the status code.
    ///
    /// # Errors
    /// When the app cannot be reached or answers something that is not HTTP.
    pub fn post(&self, route: &str, correlation_id: &str) -> Result<u16, String> {
        let spec = TokenSpec {
            subject: "scheduler".to_owned(),
            tenant: self.tenant.clone(),
            role: Role::Service,
            scopes: Self::SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            lifetime_secs: 60,
        };
        let token = self.signer.mint(&spec, Utc::now().timestamp());
        let url = format!("http://{}{route}", self.authority);
        self.agent
            .post(&url)
            .header("authorization", &format!("Bearer {token}"))
            .header("x-correlation-id", correlation_id)
            .send_empty()
            .map(|response| response.status().as_u16())
            .map_err(|e| format!("POST {url}: {e}"))
    }
}

/// Runs every schedule until the process ends (or, with `rounds`, until each
/// route has been called that many times: tests).
pub fn run(target: &Target, schedules: &[Every], rounds: Option<u64>) {
    std::thread::scope(|scope| {
        for every in schedules {
            scope.spawn(move || {
                let mut done = 0;
                while rounds.is_none_or(|r| done < r) {
                    let started = Instant::now();
                    let correlation_id = uuid::Uuid::new_v4().to_string();
                    let result = target.post(&every.route, &correlation_id);
                    log(&every.route, &result, started, &correlation_id);
                    done += 1;
                    // Pace: the next start is one interval after this one.
                    if let Some(rest) = every.interval.checked_sub(started.elapsed()) {
                        std::thread::sleep(rest);
                    }
                }
            });
        }
    });
}

fn log(route: &str, result: &Result<u16, String>, started: Instant, correlation_id: &str) {
    let (level, status, error) = match result {
        Ok(status) if *status < 400 => ("info", Some(*status), None),
        Ok(status) if *status < 500 => ("warn", Some(*status), None),
        Ok(status) => ("error", Some(*status), None),
        Err(e) => ("error", None, Some(e.as_str())),
    };
    let line = serde_json::json!({
        "ts": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "level": level,
        "component": "scheduler",
        "method": "POST",
        "route": route,
        "status": status,
        "duration_us": u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "error": error,
        "correlation_id": correlation_id,
    });
    println!("{line}");
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead as _, BufReader, Write as _};
    use std::net::TcpListener;

    use super::*;

    #[test]
    fn schedules_parse_with_their_units_and_refuse_nonsense() {
        assert_eq!(
            "1s=/v1/internal/tick".parse::<Every>().unwrap(),
            Every {
                interval: Duration::from_secs(1),
                route: "/v1/internal/tick".into()
            }
        );
        assert_eq!(
            "500ms=/x".parse::<Every>().unwrap().interval,
            Duration::from_millis(500)
        );
        assert_eq!("2m=/x".parse::<Every>().unwrap().interval, Duration::from_secs(120));
        for bad in ["1s", "0s=/x", "1h=/x", "1s=x", "s=/x"] {
            assert!(bad.parse::<Every>().is_err(), "{bad}");
        }
    }

    // A test-only key: the one orderflow-http's own tests use.
    const KEY: &str = include_str!("../../http/testdata/ed25519-a.pem");

    fn dev() -> TokenSigner {
        TokenSigner::from_pem(KEY.as_bytes(), "scheduler", "https://id.test", "orderflow").unwrap()
    }

    #[test]
    fn the_app_url_must_be_plain_http_without_a_path() {
        let tenant: TenantId = "platform".parse().unwrap();
        assert_eq!(
            Target::new("http://orderflow", tenant.clone(), dev())
                .unwrap()
                .authority,
            "orderflow:80"
        );
        assert_eq!(
            Target::new("http://orderflow.shop.svc:8080/", tenant.clone(), dev())
                .unwrap()
                .authority,
            "orderflow.shop.svc:8080"
        );
        assert!(Target::new("https://orderflow", tenant.clone(), dev()).is_err());
        assert!(Target::new("http://orderflow/v1", tenant, dev()).is_err());
    }

    #[test]
    fn each_request_carries_a_fresh_service_token_the_app_accepts() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let jwks = serde_json::json!({ "keys": [dev().public_jwk()] }).to_string();
        let verifier =
            orderflow_http::TokenVerifier::new(&jwks, orderflow_http::TokenPolicy::new("https://id.test", "orderflow"))
                .unwrap();
        let target = Target::new(&format!("http://{addr}"), "platform".parse().unwrap(), dev()).unwrap();
        let server = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for _ in 0..2 {
                let (stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut lines = Vec::new();
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if line == "\r\n" || line.is_empty() {
                        break;
                    }
                    lines.push(line.trim_end().to_owned());
                }
                let mut stream = stream;
                stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                    .unwrap();
                seen.push(lines);
            }
            seen
        });
        let every = "10ms=/v1/internal/tick".parse::<Every>().unwrap();
        run(&target, &[every], Some(2));
        let seen = server.join().unwrap();
        let tokens: Vec<String> = seen
            .iter()
            .map(|lines| {
                assert_eq!(lines[0], "POST /v1/internal/tick HTTP/1.1");
                let auth = lines.iter().find(|l| l.starts_with("authorization: ")).unwrap();
                let principal = orderflow_http::authenticate(
                    Some(auth.trim_start_matches("authorization: ")),
                    &verifier,
                    Utc::now().timestamp(),
                )
                .expect("a verifier with the scheduler's public key accepts the token");
                assert_eq!((principal.role, principal.tenant.as_str()), (Role::Service, "platform"));
                assert_eq!(principal.scopes, vec!["tick", "renew"]);
                auth.clone()
            })
            .collect();
        assert_eq!(tokens.len(), 2);
    }
}
