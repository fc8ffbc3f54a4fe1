//! What the portal answers, as a pure function of method, path and
//! `If-None-Match`, so every header it sets is tested natively.
//!
//! Every path under `/portal` that is not an asset serves the same page:
//! the page's script reads the path and shows the matching view, so links
//! to an order (`/portal/orders/<id>`) work when opened directly.

use crate::assets::{self, Asset};

/// Scripts and styles from our own origin only, no inline code, API calls
/// to our own origin only; the page cannot be framed. Navigation to the
/// payment provider's checkout page is a plain link, which CSP leaves alone.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// A response: status, headers, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Headers, lower-case names.
    pub headers: Vec<(&'static str, String)>,
    /// The body (empty for `HEAD` and 304).
    pub body: Vec<u8>,
}

impl Reply {
    /// The value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }
}

/// The portal's answer to `method path` with the client's `If-None-Match`.
pub fn respond(method: &str, path: &str, if_none_match: Option<&str>) -> Reply {
    let head = method == "HEAD";
    if method != "GET" && !head {
        return plain(405, "Only GET and HEAD are served here.\n").with("allow", "GET, HEAD".into());
    }
    let (content_type, body, cache, etag) = if let Some(file) = path.strip_prefix("/portal/assets/") {
        match assets::by_versioned_name(file) {
            Some(Asset {
                content_type,
                bytes,
                hash,
                ..
            }) => (
                *content_type,
                bytes.to_vec(),
                // The URL changes with the content: keep it for a year.
                "public, max-age=31536000, immutable",
                format!("\"{hash}\""),
            ),
            None => return plain(404, "No such file (an old version? reload the page).\n"),
        }
    } else if path == "/" || path == "/portal" || path.starts_with("/portal/") {
        let page = assets::page();
        let etag = format!(
            "\"{}\"",
            std::str::from_utf8(&assets::hex16(assets::fnv1a64(page.as_bytes()))).unwrap_or("0")
        );
        // Always revalidated, so a new build's page (with new asset URLs) is seen at once.
        ("text/html; charset=utf-8", page.into_bytes(), "no-cache", etag)
    } else {
        return plain(404, "Not found.\n");
    };
    let not_modified = if_none_match.is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let reply = Reply {
        status: if not_modified { 304 } else { 200 },
        headers: Vec::new(),
        body: if not_modified || head { Vec::new() } else { body },
    };
    secured(reply)
        .with("content-type", content_type.into())
        .with("cache-control", cache.into())
        .with("etag", etag)
}

impl Reply {
    fn with(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }
}

fn plain(status: u16, text: &str) -> Reply {
    secured(Reply {
        status,
        headers: vec![("content-type", "text/plain; charset=utf-8".into())],
        body: text.as_bytes().to_vec(),
    })
    .with("cache-control", "no-store".into())
}

/// The headers every answer carries.
fn secured(reply: Reply) -> Reply {
    reply
        .with("content-security-policy", CONTENT_SECURITY_POLICY.into())
        .with("x-content-type-options", "nosniff".into())
        .with("referrer-policy", "no-referrer".into())
        .with("x-frame-options", "DENY".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assets::ASSETS;

    #[test]
    fn every_portal_path_serves_the_page_with_a_strict_policy() {
        for path in [
            "/",
            "/portal",
            "/portal/",
            "/portal/orders/0190f5c4-0000-7000-8000-000000000000",
        ] {
            let r = respond("GET", path, None);
            assert_eq!(r.status, 200, "{path}");
            assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
            assert_eq!(r.header("cache-control"), Some("no-cache"));
            assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
            let csp = r.header("content-security-policy").unwrap_or_default();
            assert!(
                csp.contains("script-src 'self';") && !csp.contains("unsafe-inline"),
                "{csp}"
            );
            assert!(String::from_utf8_lossy(&r.body).contains("<main"));
        }
    }

    #[test]
    fn assets_are_immutable_under_their_versioned_url_and_revalidate_by_etag() {
        for a in ASSETS {
            let r = respond("GET", &a.url(), None);
            assert_eq!(r.status, 200);
            assert_eq!(r.header("content-type"), Some(a.content_type));
            assert_eq!(r.header("cache-control"), Some("public, max-age=31536000, immutable"));
            assert_eq!(r.body, a.bytes);
            let etag = r.header("etag").unwrap_or_default().to_owned();
            let again = respond("GET", &a.url(), Some(&etag));
            assert_eq!((again.status, again.body.len()), (304, 0));
        }
        assert_eq!(respond("GET", "/portal/assets/app.js", None).status, 404);
    }

    #[test]
    fn head_has_no_body_and_writes_are_refused() {
        let r = respond("HEAD", "/", None);
        assert_eq!((r.status, r.body.len()), (200, 0));
        let r = respond("POST", "/portal/orders", None);
        assert_eq!(r.status, 405);
        assert_eq!(r.header("allow"), Some("GET, HEAD"));
    }

    #[test]
    fn other_paths_are_not_ours() {
        assert_eq!(respond("GET", "/portalx", None).status, 404);
    }
}
