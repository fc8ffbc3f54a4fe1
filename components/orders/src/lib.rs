//! The orders component: create, read, list, edit, submit, cancel and
//! restore orders, revert payments, re-deliver credentials, change an
//! order's delivery address, and read the audit trail; read and set the
//! tenant's delivery settings; list subscriptions and cancel them at period end. Wiring
//! only: Spin request → context → use case → Spin response.

use orderflow_http::HttpResponse;
use orderflow_service::{
    audit_trail, cancel_order, create_order, edit_order, get_order, list_orders, order_jobs, redeliver_item,
    restore_order, retry_parked_job, revert_payment, spin as host, submit_order, Ctx, Params, Route,
};
use orderflow_store::SpinDb;

type App = Ctx<SpinDb>;

/// After a write that queued saga work, runs it now: claims the order's due
/// jobs here and hands each to its owner (the payment intent to `pay`).
fn kicked(app: &App, params: &Params, response: HttpResponse) -> HttpResponse {
    if response.status < 300 {
        if let Some(order) = params.get("id").and_then(|id| id.parse().ok()) {
            host::drive_order(&app.principal.tenant, order, &app.correlation_id);
        }
    }
    response
}

/// Every route this component serves; `/v1/openapi.json` documents exactly these.
pub const ROUTES: &[Route<App>] = &[
    Route {
        method: "POST",
        path: "/v1/orders",
        handler: |app, req, _| Ok(create_order(app, req)),
    },
    Route {
        method: "GET",
        path: "/v1/orders",
        handler: |app, req, _| list_orders(app, req),
    },
    Route {
        method: "GET",
        path: "/v1/orders/:id",
        handler: |app, _, params| {
            // Optional: a deployment without a checkout page leaves it unset.
            let checkout = spin_sdk::variables::get("payment_checkout_url").ok();
            get_order(app, params, checkout.as_deref())
        },
    },
    Route {
        method: "PATCH",
        path: "/v1/orders/:id",
        handler: |app, req, params| Ok(edit_order(app, req, params)),
    },
    Route {
        method: "POST",
        path: "/v1/orders/:id/submit",
        handler: |app, req, params| Ok(kicked(app, params, submit_order(app, req, params))),
    },
    Route {
        method: "POST",
        path: "/v1/orders/:id/cancel",
        handler: |app, req, params| Ok(kicked(app, params, cancel_order(app, req, params))),
    },
    Route {
        method: "POST",
        path: "/v1/orders/:id/restore",
        handler: |app, req, params| Ok(restore_order(app, req, params)),
    },
    Route {
        method: "POST",
        path: "/v1/orders/:id/payment/revert",
        handler: |app, req, params| Ok(revert_payment(app, req, params)),
    },
    Route {
        method: "GET",
        path: "/v1/orders/:id/jobs",
        handler: |app, _, params| order_jobs(app, params),
    },
    Route {
        method: "POST",
        path: "/v1/orders/:id/jobs/:job/retry",
        handler: |app, req, params| Ok(kicked(app, params, retry_parked_job(app, req, params))),
    },
    Route {
        method: "POST",
        path: "/v1/orders/:id/items/:item/redeliver",
        handler: |app, req, params| Ok(kicked(app, params, redeliver_item(app, req, params))),
    },
    Route {
        method: "PUT",
        path: "/v1/orders/:id/delivery",
        handler: |app, req, params| Ok(orderflow_service::change_delivery_address(app, req, params)),
    },
    Route {
        method: "GET",
        path: "/v1/tenant/delivery",
        handler: |app, _, _| orderflow_service::get_tenant_delivery(app),
    },
    Route {
        method: "PUT",
        path: "/v1/tenant/delivery",
        handler: |app, req, _| Ok(orderflow_service::put_tenant_delivery(app, req)),
    },
    Route {
        method: "GET",
        path: "/v1/orders/:id/audit",
        handler: |app, _, params| audit_trail(app, params),
    },
    Route {
        method: "GET",
        path: "/v1/subscriptions",
        handler: |app, req, _| orderflow_service::list_subscriptions(app, req),
    },
    Route {
        method: "POST",
        path: "/v1/subscriptions/:id/cancel",
        handler: |app, req, params| Ok(orderflow_service::cancel_subscription(app, req, params)),
    },
];

orderflow_service::spin_component!("orders", ROUTES, host::context);
