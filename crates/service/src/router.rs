//! A small router: a component's routes as a table of data, so the table can
//! be compared with the OpenAPI document, and unknown paths and methods get
//! problem+json answers like everything else.

use orderflow_http::{ApiError, HttpResponse, RequestParts};

/// Path parameters by name (`:id` → `params.get("id")`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(&'static str, String)>);

impl Params {
    /// The value of `:name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }
}

/// One route: a method, a path template with `:name` segments, a handler.
pub struct Route<S: ?Sized> {
    /// HTTP method, upper case.
    pub method: &'static str,
    /// Template such as `/v1/orders/:id/submit`.
    pub path: &'static str,
    /// The handler.
    pub handler: fn(&S, &RequestParts, &Params) -> Result<HttpResponse, ApiError>,
}

impl<S: ?Sized> std::fmt::Debug for Route<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

fn matches(template: &'static str, path: &str) -> Option<Params> {
    let mut params = Vec::new();
    let mut want = template.trim_matches('/').split('/');
    let mut have = path.trim_end_matches('/').trim_start_matches('/').split('/');
    loop {
        match (want.next(), have.next()) {
            (None, None) => return Some(Params(params)),
            (Some(w), Some(h)) if w.starts_with(':') && !h.is_empty() => params.push((&w[1..], h.to_owned())),
            (Some(w), Some(h)) if w == h => {}
            _ => return None,
        }
    }
}

/// The template of the route `request` matches (its method's, else the
/// first with that path) and its parameters, for logging.
pub fn matched<S: ?Sized>(routes: &[Route<S>], request: &RequestParts) -> Option<(&'static str, Params)> {
    let mut by_path = None;
    for route in routes {
        if let Some(params) = matches(route.path, &request.path) {
            if route.method == request.method {
                return Some((route.path, params));
            }
            by_path.get_or_insert((route.path, params));
        }
    }
    by_path
}

/// Finds the route for `request` and runs it: 404 when no path matches, 405
/// (with `Allow`) when the path matches under other methods only.
pub fn dispatch<S: ?Sized>(routes: &[Route<S>], state: &S, request: &RequestParts) -> HttpResponse {
    let mut allowed = Vec::new();
    for route in routes {
        if let Some(params) = matches(route.path, &request.path) {
            if route.method == request.method {
                return (route.handler)(state, request, &params).unwrap_or_else(HttpResponse::from);
            }
            allowed.push(route.method);
        }
    }
    if allowed.is_empty() {
        ApiError::not_found("route", format!("{} {}", request.method, request.path)).into()
    } else {
        ApiError::MethodNotAllowed { allowed }.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(_: &(), _: &RequestParts, p: &Params) -> Result<HttpResponse, ApiError> {
        Ok(HttpResponse::json(200, &p.get("id")))
    }

    const ROUTES: &[Route<()>] = &[
        Route {
            method: "GET",
            path: "/v1/orders",
            handler: ok,
        },
        Route {
            method: "GET",
            path: "/v1/orders/:id",
            handler: ok,
        },
        Route {
            method: "POST",
            path: "/v1/orders/:id/submit",
            handler: ok,
        },
    ];

    #[test]
    fn parameters_are_captured_by_name() {
        let r = dispatch(ROUTES, &(), &RequestParts::new("GET", "/v1/orders/abc"));
        assert_eq!((r.status, r.body.as_slice()), (200, &b"\"abc\""[..]));
    }

    #[test]
    fn a_known_path_with_another_method_is_405_with_allow() {
        let r = dispatch(ROUTES, &(), &RequestParts::new("DELETE", "/v1/orders/abc"));
        assert_eq!(r.status, 405);
        assert_eq!(r.header("allow"), Some("GET"));
    }

    #[test]
    fn an_unknown_path_is_a_problem_404() {
        let r = dispatch(ROUTES, &(), &RequestParts::new("GET", "/v1/orders/abc/def"));
        assert_eq!(r.status, 404);
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
        let r = dispatch(ROUTES, &(), &RequestParts::new("GET", "/v1/orders//submit"));
        assert_eq!(r.status, 404);
    }
}
