//! The two pieces every component repeats, written once: the Spin entry
//! point (its export glue is generated `unsafe` code, so the workspace's
//! `unsafe_code` lint is relaxed for that module alone) and the test that
//! its route table and the OpenAPI document agree.

/// Declares a component's Spin entry point and its route-document test.
///
/// `spin_component!("orders", ROUTES, |request| make_state(&request))`:
/// `make_state` turns the request into the handlers' state or an
/// `ApiError` response; the request then goes through [`crate::dispatch`].
/// The response is sent before the invocation ends; then the work handlers
/// queued with `spin::after_response` runs.
#[macro_export]
macro_rules! spin_component {
    ($name:literal, $routes:path, $state:expr) => {
        #[allow(unsafe_code)]
        mod entry {
            use super::*;

            /// Takes Spin's response outparam, so work a handler queued with
            /// `spin::after_response` runs after the response is sent.
            #[spin_sdk::http_component]
            async fn handle(incoming: spin_sdk::http::IncomingRequest, out: spin_sdk::http::ResponseOutparam) {
                let request = match $crate::spin::entry::read_request(incoming).await {
                    Ok(request) => request,
                    Err(response) => return $crate::spin::entry::send_response(out, response).await,
                };
                let started = $crate::observe::begin(&request);
                let make = $state;
                let response: orderflow_http::HttpResponse = match make(&request) {
                    Ok(state) => $crate::dispatch($routes, &state, &request),
                    Err(error) => error.into(),
                };
                let response = $crate::observe::finish($name, $routes, &request, started, response);
                $crate::spin::entry::send_response(out, response).await;
                $crate::spin::entry::run_after_response();
            }
        }

        #[cfg(test)]
        mod route_document {
            #[test]
            fn every_route_is_documented_and_every_documented_route_is_served() {
                let routes: Vec<(&str, &str)> = super::ROUTES.iter().map(|r| (r.method, r.path)).collect();
                let (undocumented, unserved) = $crate::route_drift($name, &routes);
                assert!(
                    undocumented.is_empty(),
                    "routes missing from openapi.json: {undocumented:?}"
                );
                assert!(unserved.is_empty(), "documented but not served: {unserved:?}");
            }
        }
    };
}

/// Declares a saga step component: one private route,
/// `POST /v1/internal/jobs/<segment>/{id}`, that runs the job the retry
/// component hands over, with only the providers and keys in `needs`.
#[macro_export]
macro_rules! saga_step_component {
    ($name:literal, $segment:literal, $needs:expr) => {
        /// Per request: a correlation id for logs.
        #[derive(Debug)]
        pub struct App {
            correlation_id: String,
        }

        /// Every route this component serves; `/v1/openapi.json` documents exactly these.
        pub const ROUTES: &[$crate::Route<App>] = &[$crate::Route {
            method: "POST",
            path: concat!("/v1/internal/jobs/", $segment, "/:id"),
            handler: |app, req, params| {
                $crate::spin::run_handed_job(
                    req,
                    params.get("id").unwrap_or_default(),
                    $needs,
                    &app.correlation_id,
                )
            },
        }];

        $crate::spin_component!($name, ROUTES, |_: &orderflow_http::RequestParts| {
            Ok::<_, orderflow_http::ApiError>(App {
                correlation_id: $crate::spin::correlation_id(),
            })
        });
    };
}
