//! A built-in scheduler for periodic work.
//!
//! Spin's cron trigger is a plugin; our components expose an HTTP tick route
//! instead, which any scheduler can drive. `--schedule 1s=/v1/internal/tick`
//! makes the runner `POST` that route in process, through the normal router,
//! every interval; the next tick waits for the previous one to complete.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;

use crate::app::App;
use crate::outbound_http::CHAINED_CLIENT_ADDR;

/// Errors parsing `--schedule` and `--schedule-header`.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// Not `<interval>=<route>`.
    #[error("schedule '{0}' must have the form <interval>=<route>, e.g. 1s=/v1/internal/tick")]
    Format(String),
    /// The interval is not a positive number followed by ms, s, m or h.
    #[error("invalid interval '{0}': use e.g. 500ms, 1s, 5m or 1h")]
    Interval(String),
    /// The route does not start with `/`.
    #[error("schedule route '{0}' must start with '/'")]
    Route(String),
    /// A header is not `name: value`.
    #[error("schedule header '{0}' must have the form 'name: value'")]
    Header(String),
}

/// One periodic request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Time between the end of one tick and the start of the next at most.
    pub interval: Duration,
    /// The route to `POST`.
    pub route: String,
}

impl std::str::FromStr for Schedule {
    type Err = ScheduleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (interval, route) = s.split_once('=').ok_or_else(|| ScheduleError::Format(s.to_owned()))?;
        if !route.starts_with('/') {
            return Err(ScheduleError::Route(route.to_owned()));
        }
        Ok(Self {
            interval: parse_interval(interval)?,
            route: route.to_owned(),
        })
    }
}

/// Parses `500ms`, `1s`, `5m`, `1h`.
pub fn parse_interval(s: &str) -> Result<Duration, ScheduleError> {
    let bad = || ScheduleError::Interval(s.to_owned());
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return Err(bad()),
    };
    if d.is_zero() {
        return Err(bad());
    }
    Ok(d)
}

/// Parses a `name: value` header.
pub fn parse_header(s: &str) -> Result<(http::HeaderName, http::HeaderValue), ScheduleError> {
    let bad = || ScheduleError::Header(s.to_owned());
    let (name, value) = s.split_once(':').ok_or_else(bad)?;
    Ok((
        name.trim().parse().map_err(|_| bad())?,
        value.trim().parse().map_err(|_| bad())?,
    ))
}

/// Starts one task per schedule; they run until the runtime shuts down.
pub fn spawn(app: &Arc<App>, schedules: &[Schedule], headers: &[(http::HeaderName, http::HeaderValue)]) {
    for schedule in schedules {
        let app = app.clone();
        let schedule = schedule.clone();
        let headers = headers.to_vec();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(schedule.interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await; // The first tick completes immediately.
            loop {
                ticker.tick().await;
                let mut request = http::Request::new(Empty::<Bytes>::new());
                *request.method_mut() = http::Method::POST;
                *request.uri_mut() = match schedule.route.parse() {
                    Ok(uri) => uri,
                    Err(e) => {
                        eprintln!("spin-local: schedule route {}: {e}", schedule.route);
                        return;
                    }
                };
                for (name, value) in &headers {
                    request.headers_mut().append(name.clone(), value.clone());
                }
                // Wait for the whole response so ticks never overlap.
                let (response, _) = app.dispatch(request, CHAINED_CLIENT_ADDR).await;
                let _ = http_body_util::BodyExt::collect(response.into_body()).await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_and_headers_parse() {
        let s: Schedule = "1s=/v1/internal/tick".parse().expect("parses");
        assert_eq!(s.interval, Duration::from_secs(1));
        assert_eq!(s.route, "/v1/internal/tick");
        assert_eq!(parse_interval("250ms").expect("ms"), Duration::from_millis(250));
        assert!("1s/tick".parse::<Schedule>().is_err());
        assert!("0s=/tick".parse::<Schedule>().is_err());
        assert!("1x=/tick".parse::<Schedule>().is_err());
        let (n, v) = parse_header("Authorization: Bearer abc").expect("header");
        assert_eq!(n.as_str(), "authorization");
        assert_eq!(v.to_str().expect("ascii"), "Bearer abc");
    }
}
