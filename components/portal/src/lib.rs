//! The portal component: the customer portal and operator console at `/`
//! and `/portal/...`. It serves one page, a style sheet and one script, all
//! embedded at build time; the script calls the public API (`/v1/...`) with
//! the credential the user pastes in, kept in the tab's `sessionStorage`.
//! No database, no variables, no network: nothing secret is ever served.

pub mod assets;
pub mod serve;

#[allow(unsafe_code)]
mod entry {
    use spin_sdk::http::{Request, Response};

    /// Spin's entry point: wiring only.
    #[spin_sdk::http_component]
    fn handle(request: Request) -> Response {
        let method = request.method().to_string();
        let if_none_match = request.header("if-none-match").and_then(|v| v.as_str());
        let reply = crate::serve::respond(&method, request.path(), if_none_match);
        let mut builder = Response::builder();
        builder.status(reply.status);
        for (name, value) in &reply.headers {
            builder.header(*name, value.as_str());
        }
        builder.body(reply.body).build()
    }
}
