//! The order use cases: create, read, list, edit, submit, cancel, restore,
//! the audit trail, and the operator's view and retry of the saga's jobs.

use orderflow_core::{
    check_quota, created_event, decide, parse_items, Command, ItemId, ItemSpec, Money, Order, OrderId, OrderState,
    Quota,
};
use orderflow_http::{
    check_if_match, decode_json, parse_query, ApiError, Cursor, FieldError, HttpResponse, Page, RequestParts, Role,
    DEFAULT_BODY_LIMIT, IF_MATCH_HEADER,
};
use orderflow_store::{Db, JobState, ListFilter};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::context::Ctx;
use crate::errors::{from_rejection, from_store, from_violations};
use crate::idempotent::{write_idempotently, Prepared};
use crate::router::Params;
use crate::views::{audit_for, order_view, Audience};

/// `PATCH /v1/orders/{id}` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemsBody {
    /// Parsed by the core, which reports every problem at once.
    items: Value,
}

/// `POST /v1/orders` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    /// Parsed by the core, which reports every problem at once.
    items: Value,
    /// Where the access details go; absent: the tenant's default.
    #[serde(default)]
    delivery_email: Option<Value>,
}

/// `PUT /v1/orders/{id}/delivery` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveryBody {
    /// The new address.
    email: Value,
}

/// `PUT /v1/orders/{id}/delivery`: send the order's access details (and
/// every re-delivery) to another address; audited, under `If-Match`.
pub fn change_delivery_address<D: Db>(ctx: &Ctx<D>, request: &RequestParts, params: &Params) -> HttpResponse {
    if let Err(e) = require_people(ctx) {
        return e.into();
    }
    act(ctx, request, params, |_| {
        let DeliveryBody { email } = body(request)?;
        let address = crate::delivery::parse_address(&email, "/email")?;
        Ok(Command::ChangeDeliveryAddress { address })
    })
}

/// `POST /v1/orders/{id}/submit` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmitBody {
    /// The total the client showed the customer.
    shown_total: WireMoney,
}

/// Money as a client sends it, before its amount is known to be a decimal
/// string: `Decimal`'s own deserializer also takes JSON numbers, which have
/// passed through a float on the client's side, so the amount is read here.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireMoney {
    amount: Value,
    currency: orderflow_core::Currency,
}

impl WireMoney {
    /// The money, or 400 naming the field when the amount is a JSON number
    /// (422 when it is a string that is not a decimal, or another type).
    fn parse(self, pointer: &str) -> Result<Money, ApiError> {
        let at = format!("{pointer}/amount");
        let amount = match self.amount {
            Value::String(text) => text.trim().parse::<rust_decimal::Decimal>().map_err(|_| {
                ApiError::validation(vec![FieldError::new(
                    at.clone(),
                    "decimal",
                    format!("`{text}` is not a decimal number"),
                    json!("a decimal string such as \"192.96\""),
                )])
            })?,
            Value::Number(number) => {
                return Err(ApiError::BadRequest {
                    problem: "amount-not-a-string",
                    detail: format!(
                        "{at} is the JSON number {number}; money amounts are decimal strings such as \"192.96\", \
                         never numbers, which a client may have rounded through a float"
                    ),
                    accepted: Some(json!({ "pointer": at, "example": "192.96" })),
                })
            }
            other => {
                return Err(ApiError::validation(vec![FieldError::new(
                    at,
                    "type",
                    format!("expected a decimal string, got {other}"),
                    json!("a decimal string such as \"192.96\""),
                )]))
            }
        };
        Ok(Money {
            amount,
            currency: self.currency,
        })
    }
}

/// `POST /v1/orders/{id}/cancel` body (optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReasonBody {
    #[serde(default)]
    reason: Option<String>,
}

fn body<T: serde::de::DeserializeOwned>(request: &RequestParts) -> Result<T, ApiError> {
    decode_json(request.header("content-type"), &request.body, DEFAULT_BODY_LIMIT)
}

/// An empty body means the defaults; anything else must be valid JSON.
fn optional_body<T: serde::de::DeserializeOwned + Default>(request: &RequestParts) -> Result<T, ApiError> {
    if request.body.is_empty() {
        Ok(T::default())
    } else {
        body(request)
    }
}

fn order_id(params: &Params) -> Result<OrderId, ApiError> {
    let raw = params.get("id").unwrap_or_default();
    raw.parse().map_err(|_| ApiError::not_found("order", raw))
}

fn load<D: Db>(ctx: &Ctx<D>, id: OrderId) -> Result<Order, ApiError> {
    let order = ctx
        .store
        .order(&ctx.principal.tenant, id)
        .map_err(|e| from_store(e, &ctx.correlation_id))?;
    match order {
        // Operators see hidden orders; customers do not.
        Some(o) if o.deleted_at.is_none() || ctx.principal.role == Role::Operator => Ok(o),
        _ => Err(ApiError::not_found("order", id.to_string())),
    }
}

fn order_response(order: &Order, status: u16) -> HttpResponse {
    HttpResponse::json(status, &order_view(order)).with_etag(order.version)
}

fn quota_problems<D: Db>(ctx: &Ctx<D>, specs: &[ItemSpec]) -> Result<(), ApiError> {
    let tenant = &ctx.principal.tenant;
    let limit = ctx
        .store
        .tenant_quota(tenant)
        .map_err(|e| from_store(e, &ctx.correlation_id))?;
    let limit = limit.unwrap_or(ctx.catalog.default_quota);
    let live = ctx
        .store
        .live_item_specs(tenant)
        .map_err(|e| from_store(e, &ctx.correlation_id))?;
    let in_use = live
        .iter()
        .fold(Quota::default(), |acc, s| add(acc, orderflow_core::demand(&s.config)));
    let problems = check_quota(&limit, &in_use, specs);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(from_violations(problems))
    }
}

fn add(a: Quota, b: Quota) -> Quota {
    Quota {
        vps_instances: a.vps_instances.saturating_add(b.vps_instances),
        kubernetes_workers: a.kubernetes_workers.saturating_add(b.kubernetes_workers),
        databases: a.databases.saturating_add(b.databases),
        gpu_nodes: a.gpu_nodes.saturating_add(b.gpu_nodes),
        private_cloud_nodes: a.private_cloud_nodes.saturating_add(b.private_cloud_nodes),
        object_storage_tb: a.object_storage_tb.saturating_add(b.object_storage_tb),
    }
}

/// One 422 with the field errors of both, when both are field errors.
fn both(first: ApiError, second: ApiError) -> ApiError {
    match (first, second) {
        (ApiError::Unprocessable { errors: mut a, .. }, ApiError::Unprocessable { errors: b, .. }) => {
            a.extend(b);
            ApiError::validation(a)
        }
        (first, _) => first,
    }
}

fn require_people<D: Db>(ctx: &Ctx<D>) -> Result<(), ApiError> {
    ctx.principal.require_role(&[Role::Customer, Role::Operator])
}

/// `POST /v1/orders`: a draft with priced, snapshotted items.
pub fn create_order<D: Db>(ctx: &Ctx<D>, request: &RequestParts) -> HttpResponse {
    if let Err(e) = require_people(ctx) {
        return e.into();
    }
    write_idempotently(ctx, request, || {
        let CreateBody { items, delivery_email } = body(request)?;
        let given = delivery_email
            .filter(|v| !v.is_null())
            .map(|v| crate::delivery::parse_address(&v, "/delivery_email"))
            .transpose();
        // Every problem at once: the items' and the address's.
        let (specs, given) = match (parse_items(&ctx.catalog, &items), given) {
            (Ok(specs), Ok(given)) => (specs, given),
            (Err(violations), Ok(_)) => return Err(from_violations(violations)),
            (Ok(_), Err(e)) => return Err(e),
            (Err(violations), Err(e)) => return Err(both(from_violations(violations), e)),
        };
        quota_problems(ctx, &specs)?;
        let address = crate::delivery::new_order_address(ctx, given)?;
        let items = specs.into_iter().map(|s| (ItemId::from_uuid(ctx.id()), s)).collect();
        let order = Order::draft(
            &ctx.catalog,
            OrderId::from_uuid(ctx.id()),
            ctx.principal.tenant.clone(),
            items,
            ctx.now,
        )
        .map_err(|e| ApiError::internal(&ctx.correlation_id, &e))?
        .delivering_to(address);
        let created = created_event(&order);
        let response = order_response(&order, 201).with_location(&format!("/v1/orders/{}", order.id));
        let (actor, subject) = (ctx.actor(), ctx.principal.subject.clone());
        Ok(Prepared {
            response,
            commit: Box::new(move |s| s.insert_order(&order, &created, actor, &subject)),
        })
    })
}

/// `GET /v1/orders/{id}`: the order with each item's progress (attempts,
/// next retry, last error), the payment intent to pay and, given the
/// deployment's `checkout` URL template (`…/{intent}`), where to pay it.
pub fn get_order<D: Db>(ctx: &Ctx<D>, params: &Params, checkout: Option<&str>) -> Result<HttpResponse, ApiError> {
    let order = load(ctx, order_id(params)?)?;
    let tenant = &ctx.principal.tenant;
    let jobs = ctx
        .store
        .jobs_of(tenant, order.id)
        .map_err(|e| from_store(e, &ctx.correlation_id))?;
    let intent = ctx
        .store
        .payment_intent_of(tenant, order.id)
        .map_err(|e| from_store(e, &ctx.correlation_id))?;
    let refunds = ctx
        .store
        .refunds_of(tenant, order.id)
        .map_err(|e| from_store(e, &ctx.correlation_id))?;
    let view = order_view(&order)
        .with_progress(&jobs, Audience::of(ctx.principal.role))
        .with_refunds(&refunds, Audience::of(ctx.principal.role))
        .with_payment_intent(intent)
        .with_checkout_url(checkout);
    Ok(HttpResponse::json(200, &view).with_etag(order.version))
}

/// `GET /v1/orders?status=&limit=&cursor=&include_deleted=&needs_operator=`: newest first.
pub fn list_orders<D: Db>(ctx: &Ctx<D>, request: &RequestParts) -> Result<HttpResponse, ApiError> {
    let query = parse_query(
        &request.query,
        &["status", "limit", "cursor", "include_deleted", "needs_operator"],
    )?;
    let page = Page::from_query(&query)?;
    let state = match query.get("status") {
        None => None,
        Some(s) => Some(s.parse::<OrderState>().map_err(|_| ApiError::BadRequest {
            problem: "invalid-query",
            detail: format!("unknown status `{s}`"),
            accepted: Some(json!(OrderState::names())),
        })?),
    };
    let include_deleted = operator_switch(ctx, &query, "include_deleted")?;
    let needs_operator = operator_switch(ctx, &query, "needs_operator")?;
    let filter = ListFilter {
        state,
        include_deleted,
        needs_operator,
        after: page.after.map(|c| (c.created_at, OrderId::from_uuid(c.id))),
        limit: page.limit,
    };
    let orders = ctx
        .store
        .list_orders(&ctx.principal.tenant, &filter)
        .map_err(|e| from_store(e, &ctx.correlation_id))?;
    let next_cursor = (orders.len() == page.limit as usize)
        .then(|| {
            orders.last().map(|o| {
                Cursor {
                    created_at: o.created_at,
                    id: *o.id.as_uuid(),
                }
                .encode()
            })
        })
        .flatten();
    let items: Vec<_> = orders.iter().map(order_view).collect();
    Ok(HttpResponse::json(
        200,
        &json!({ "items": items, "next_cursor": next_cursor }),
    ))
}

/// A `true`/`false` query switch that only operators may turn on.
fn operator_switch<D: Db>(
    ctx: &Ctx<D>,
    query: &std::collections::BTreeMap<String, String>,
    name: &str,
) -> Result<bool, ApiError> {
    match query.get(name).map(String::as_str) {
        None | Some("false") => Ok(false),
        Some("true") => {
            ctx.principal.require_role(&[Role::Operator])?;
            Ok(true)
        }
        Some(other) => Err(ApiError::BadRequest {
            problem: "invalid-query",
            detail: format!("{name} must be true or false, not `{other}`"),
            accepted: Some(json!(["true", "false"])),
        }),
    }
}

/// Applies a command to a stored order under `If-Match`, idempotently.
fn act<D: Db>(
    ctx: &Ctx<D>,
    request: &RequestParts,
    params: &Params,
    command: impl FnOnce(&Order) -> Result<Command, ApiError>,
) -> HttpResponse {
    write_idempotently(ctx, request, || {
        let order = load(ctx, order_id(params)?)?;
        check_if_match(request.header(IF_MATCH_HEADER), order.version)?;
        let command = command(&order)?;
        let decision = decide(&order, command, ctx.actor(), &ctx.catalog, ctx.now)
            .map_err(|r| from_rejection(r, ctx.principal.role, &ctx.correlation_id))?;
        let response = order_response(&decision.order, 200);
        let (expected, subject) = (order.version, ctx.principal.subject.clone());
        Ok(Prepared {
            response,
            commit: Box::new(move |s| s.apply(expected, &decision, &subject)),
        })
    })
}

/// `PATCH /v1/orders/{id}`: replace a draft's items.
pub fn edit_order<D: Db>(ctx: &Ctx<D>, request: &RequestParts, params: &Params) -> HttpResponse {
    if let Err(e) = require_people(ctx) {
        return e.into();
    }
    act(ctx, request, params, |_| {
        let ItemsBody { items } = body(request)?;
        let specs = parse_items(&ctx.catalog, &items).map_err(from_violations)?;
        quota_problems(ctx, &specs)?;
        Ok(Command::ReplaceItems {
            items: specs.into_iter().map(|s| (ItemId::from_uuid(ctx.id()), s)).collect(),
        })
    })
}

/// `POST /v1/orders/{id}/submit`: draft → pending payment at the server's price.
pub fn submit_order<D: Db>(ctx: &Ctx<D>, request: &RequestParts, params: &Params) -> HttpResponse {
    if let Err(e) = require_people(ctx) {
        return e.into();
    }
    act(ctx, request, params, |_| {
        let SubmitBody { shown_total } = body(request)?;
        let shown_total = shown_total.parse("/shown_total")?;
        Ok(Command::Submit { shown_total })
    })
}

/// `POST /v1/orders/{id}/cancel`.
pub fn cancel_order<D: Db>(ctx: &Ctx<D>, request: &RequestParts, params: &Params) -> HttpResponse {
    if let Err(e) = require_people(ctx) {
        return e.into();
    }
    act(ctx, request, params, |_| {
        let ReasonBody { reason } = optional_body(request)?;
        Ok(Command::Cancel {
            reason: reason.unwrap_or_default(),
        })
    })
}

/// `POST /v1/orders/{id}/restore`: operators bring a cancelled order back into view.
pub fn restore_order<D: Db>(ctx: &Ctx<D>, request: &RequestParts, params: &Params) -> HttpResponse {
    if let Err(e) = ctx.principal.require_role(&[Role::Operator]) {
        return e.into();
    }
    act(ctx, request, params, |_| {
        let ReasonBody { .. } = optional_body(request)?;
        Ok(Command::Restore)
    })
}

/// `GET /v1/orders/{id}/audit`: every change, oldest first.
pub fn audit_trail<D: Db>(ctx: &Ctx<D>, params: &Params) -> Result<HttpResponse, ApiError> {
    let order = load(ctx, order_id(params)?)?;
    let records = ctx
        .store
        .audit(&ctx.principal.tenant, order.id)
        .map_err(|e| from_store(e, &ctx.correlation_id))?;
    let audience = Audience::of(ctx.principal.role);
    let records: Vec<_> = records.into_iter().map(|r| audit_for(r, audience)).collect();
    Ok(HttpResponse::json(200, &json!({ "items": records })))
}

/// `POST /v1/orders/{id}/payment/revert`: operators undo a confirmed payment
/// before provisioning starts.
pub fn revert_payment<D: Db>(ctx: &Ctx<D>, request: &RequestParts, params: &Params) -> HttpResponse {
    if let Err(e) = ctx.principal.require_role(&[Role::Operator]) {
        return e.into();
    }
    act(ctx, request, params, |_| {
        let ReasonBody { reason } = optional_body(request)?;
        Ok(Command::RevertPayment {
            reason: reason.unwrap_or_default(),
        })
    })
}

/// `POST /v1/orders/{id}/items/{item}/redeliver`: e-mail an item's
/// credentials again. Queues a delivery job; the response never carries them.
pub fn redeliver_item<D: Db>(ctx: &Ctx<D>, request: &RequestParts, params: &Params) -> HttpResponse {
    if let Err(e) = require_people(ctx) {
        return e.into();
    }
    write_idempotently(ctx, request, || {
        let order = load(ctx, order_id(params)?)?;
        let raw = params.get("item").unwrap_or_default();
        let item_id: ItemId = raw.parse().map_err(|_| ApiError::not_found("item", raw))?;
        let item = order.item(item_id).ok_or_else(|| ApiError::not_found("item", raw))?;
        if !item.state.is_live() {
            return Err(ApiError::Conflict(orderflow_http::Conflict::Other {
                detail: format!(
                    "item {item_id} is {}; only active or delivered items have credentials to send",
                    item.state
                ),
            }));
        }
        let job = orderflow_core::saga::redelivery_job(order.id, item_id, &ctx.id().to_string());
        let response = HttpResponse::json(
            202,
            &json!({ "order_id": order.id, "item_id": item_id, "delivery": "queued" }),
        );
        let (tenant, now) = (ctx.principal.tenant.clone(), ctx.now);
        Ok(Prepared {
            response,
            commit: Box::new(move |s| s.insert_jobs(&tenant, std::slice::from_ref(&job), now)),
        })
    })
}

/// `GET /v1/orders/{id}/jobs` (operators): the order's saga jobs, oldest
/// first: what each does, where it is, its attempts and its last error,
/// which for a parked job is why it stopped. With
/// `GET /v1/orders?needs_operator=true` (the orders waiting for a person),
/// what an operator needs to act on a dead end.
pub fn order_jobs<D: Db>(ctx: &Ctx<D>, params: &Params) -> Result<HttpResponse, ApiError> {
    ctx.principal.require_role(&[Role::Operator])?;
    let order = load(ctx, order_id(params)?)?;
    let jobs = ctx
        .store
        .jobs_of(&ctx.principal.tenant, order.id)
        .map_err(|e| from_store(e, &ctx.correlation_id))?;
    let items: Vec<Value> = jobs
        .iter()
        .map(|j| {
            json!({
                "id": j.id,
                "kind": j.kind,
                "item_id": j.item,
                "state": job_state_name(j.state),
                "attempts": j.attempts,
                "next_attempt_at": j.next_attempt_at,
                "last_error": j.last_error,
            })
        })
        .collect();
    Ok(HttpResponse::json(200, &json!({ "items": items })))
}

fn job_state_name(state: JobState) -> &'static str {
    match state {
        JobState::Pending => "pending",
        JobState::Running => "running",
        JobState::Done => "done",
        JobState::Parked => "parked",
    }
}

/// `POST /v1/orders/{id}/jobs/{job}/retry` (operators; `If-Match` the
/// order's version, `Idempotency-Key`): sends a parked job back to work,
/// due at once with its attempts counted afresh, and audits it; the order
/// no longer waits for an operator unless another of its jobs stays parked.
/// A job that is not parked is a 409, and nothing changes.
pub fn retry_parked_job<D: Db>(ctx: &Ctx<D>, request: &RequestParts, params: &Params) -> HttpResponse {
    if let Err(e) = ctx.principal.require_role(&[Role::Operator]) {
        return e.into();
    }
    write_idempotently(ctx, request, || {
        let order = load(ctx, order_id(params)?)?;
        check_if_match(request.header(IF_MATCH_HEADER), order.version)?;
        let ReasonBody { reason } = optional_body(request)?;
        let job_id = params.get("job").unwrap_or_default().to_owned();
        let jobs = ctx
            .store
            .jobs_of(&ctx.principal.tenant, order.id)
            .map_err(|e| from_store(e, &ctx.correlation_id))?;
        let job = jobs
            .iter()
            .find(|j| j.id == job_id)
            .ok_or_else(|| ApiError::not_found("job", &job_id))?;
        if job.state != JobState::Parked {
            return Err(ApiError::Conflict(orderflow_http::Conflict::Other {
                detail: format!(
                    "job {job_id} is {}; only a parked job can be retried",
                    job_state_name(job.state)
                ),
            }));
        }
        let others_parked = jobs.iter().any(|j| j.id != job_id && j.state == JobState::Parked);
        let command = Command::RetryParkedJob {
            job: job_id.clone(),
            others_parked,
            reason: reason.unwrap_or_default(),
        };
        let decision = decide(&order, command, ctx.actor(), &ctx.catalog, ctx.now)
            .map_err(|r| from_rejection(r, ctx.principal.role, &ctx.correlation_id))?;
        let response = order_response(&decision.order, 200);
        let (expected, subject) = (order.version, ctx.principal.subject.clone());
        let (tenant, now) = (ctx.principal.tenant.clone(), ctx.now);
        Ok(Prepared {
            response,
            commit: Box::new(move |s| {
                // Retried meanwhile by someone else: the order changed too.
                if !s.unpark_job(&tenant, &job_id, now)? {
                    return Err(orderflow_store::StoreError::VersionConflict { expected });
                }
                s.apply(expected, &decision, &subject)
            }),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(amount: Value) -> WireMoney {
        serde_json::from_value(json!({ "amount": amount, "currency": "EUR" })).expect("wire money")
    }

    #[test]
    fn an_amount_sent_as_a_json_number_is_a_400_naming_the_field() {
        let error = wire(json!(192.96)).parse("/shown_total").expect_err("a number");
        assert_eq!(error.status(), 400);
        let problem = error.to_problem();
        assert!(problem.detail.contains("/shown_total/amount"), "{}", problem.detail);
        assert_eq!(problem.extensions["accepted"]["pointer"], "/shown_total/amount");
    }

    #[test]
    fn an_amount_sent_as_a_decimal_string_is_money() {
        let money = wire(json!("192.96")).parse("/shown_total").expect("a decimal string");
        assert_eq!(money, Money::eur(rust_decimal_macros::dec!(192.96)));
    }

    #[test]
    fn an_amount_that_is_no_decimal_is_a_422_at_the_field() {
        let error = wire(json!("a lot")).parse("/shown_total").expect_err("not a decimal");
        assert_eq!(error.status(), 422);
        assert_eq!(error.to_problem().errors[0].pointer, "/shown_total/amount");
    }
}
