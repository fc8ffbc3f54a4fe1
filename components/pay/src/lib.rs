//! The pay component: everything that talks to the payment provider. The
//! provider's signed webhook (a verified, first-seen event becomes a decision
//! on its order and is answered at once; then the same invocation asks the
//! saga to carry on, or first, with `webhook_saga = "before_response"`), and the saga's
//! payment jobs (creating and voiding payment intents), handed over by the
//! retry component through service chaining.

use orderflow_core::Catalog;
use orderflow_http::{ApiError, RequestParts};
use orderflow_service::clock;
use orderflow_service::saga::{handle_payment_webhook, WebhookOutcome};
use orderflow_service::spin::{self as host, Needs};
use orderflow_service::Route;

/// Per request: a correlation id for logs.
#[derive(Debug)]
pub struct App {
    correlation_id: String,
}

/// What the payment jobs talk to.
const NEEDS: Needs = Needs {
    payments: true,
    cloud: false,
    email: false,
    vault: false,
};

/// Every route this component serves; `/v1/openapi.json` documents exactly these.
pub const ROUTES: &[Route<App>] = &[
    Route {
        method: "POST",
        path: "/v1/internal/jobs/payment/:id",
        handler: |app, req, params| {
            host::run_handed_job(req, params.get("id").unwrap_or_default(), NEEDS, &app.correlation_id)
        },
    },
    Route {
        method: "POST",
        path: "/v1/webhooks/payments/:provider",
        handler: |app, req, params| {
            let id = &app.correlation_id;
            let provider = params.get("provider").unwrap_or_default();
            let configured = host::payment_provider(id)?;
            if provider != configured.name() {
                return Err(ApiError::not_found("payment provider", provider));
            }
            let secrets = host::webhook_secrets(id)?;
            host::sync_clock(id)?;
            let now = clock::now();
            let store = host::open_store(now, id)?;
            let scale = host::variables(id)?.retry_delay_scale;
            let (response, outcome) =
                handle_payment_webhook(&store, &Catalog::standard(), &configured, &secrets, req, now, scale, id)?;
            if let WebhookOutcome::Applied(tenant, order) = outcome {
                // The decision and its jobs are committed: carry the saga on
                // in this invocation, after answering the provider (or
                // before, where `webhook_saga` says so); the scheduled tick
                // runs the jobs if it is cut short.
                match host::variables(id)?.webhook_saga {
                    host::WebhookSaga::BeforeResponse => host::kick(&tenant, order, id),
                    host::WebhookSaga::AfterResponse => {
                        let id = id.clone();
                        host::after_response(move || host::kick(&tenant, order, &id));
                    }
                }
            }
            Ok(response)
        },
    },
];

orderflow_service::spin_component!("pay", ROUTES, |_: &RequestParts| {
    Ok::<_, ApiError>(App {
        correlation_id: host::correlation_id(),
    })
});
