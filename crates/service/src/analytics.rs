//! `GET /v1/analytics`: a tenant's order figures, cached for five minutes.
//!
//! The figures, computed from the store's counts and paid orders (all
//! times UTC, all money exact decimals):
//!
//! - orders created today (since 00:00 UTC), this week (since Monday 00:00
//!   UTC, ISO weeks) and this month (since the 1st, 00:00 UTC), up to the
//!   time of computation; every order counts, drafts and cancelled ones too;
//! - how many orders are in each of the nine states (cancelled included);
//! - the average order value: the mean total of the orders with a confirmed
//!   payment on record, before refunds, rounded to cents (half away from
//!   zero); `null` when none was paid;
//! - total revenue: confirmed payments minus the refunds the payment
//!   provider confirmed for them; refunds still pending are shown apart;
//! - conversion: of the orders ever submitted, the share now fulfilled or
//!   partially fulfilled (ratio to four places, `null` before any
//!   submission), with its numerator and denominator.
//!
//! The cache is per tenant, keyed only by the verified caller's tenant
//! (`analytics:v1:<tenant>`); an entry also names its tenant and is ignored
//! unless that matches, and is served for [`CACHE_TTL_SECS`] of the
//! application's clock after it was computed.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveTime, Utc};
use orderflow_core::{Currency, Money, MoneyError, OrderState, TenantId};
use orderflow_http::{ApiError, HttpResponse, Role};
use orderflow_store::{AnalyticsRows, Db};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::context::Ctx;
use crate::errors::from_store;

/// How long computed figures are served from the cache.
pub const CACHE_TTL_SECS: i64 = 300;

/// Decimal places of the conversion ratio.
const RATIO_PLACES: u32 = 4;

/// The starts of the periods that contain an instant, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Periods {
    /// 00:00 of the day.
    pub today: DateTime<Utc>,
    /// 00:00 of the Monday that starts the ISO week.
    pub this_week: DateTime<Utc>,
    /// 00:00 of the first of the month.
    pub this_month: DateTime<Utc>,
}

impl Periods {
    /// The periods `now` falls in.
    pub fn containing(now: DateTime<Utc>) -> Periods {
        let date = now.date_naive();
        let midnight = |d: chrono::NaiveDate| d.and_time(NaiveTime::MIN).and_utc();
        let monday = date - Duration::days(i64::from(date.weekday().num_days_from_monday()));
        Periods {
            today: midnight(date),
            this_week: midnight(monday),
            this_month: midnight(date.with_day(1).unwrap_or(date)),
        }
    }
}

/// Orders created in one period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodCount {
    /// Created at or after `since`, up to the time of computation.
    pub count: u64,
    /// The period's start (UTC).
    pub since: DateTime<Utc>,
}

/// Orders created today, this week and this month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Created {
    /// Since 00:00 UTC.
    pub today: PeriodCount,
    /// Since Monday 00:00 UTC.
    pub this_week: PeriodCount,
    /// Since the first of the month, 00:00 UTC.
    pub this_month: PeriodCount,
}

/// The mean total of the paid orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AverageOrderValue {
    /// Rounded to cents; `None` when no order was paid.
    pub amount: Option<Money>,
    /// How many paid orders it is the mean of.
    pub orders: u64,
}

/// Money taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revenue {
    /// `paid - refunded`.
    pub amount: Money,
    /// Confirmed payments on record.
    pub paid: Money,
    /// Refunds of them the payment provider confirmed.
    pub refunded: Money,
    /// Refunds of them requested and not yet confirmed by the provider
    /// (shown apart: not yet subtracted).
    #[serde(default = "zero_eur")]
    pub refunds_pending: Money,
}

fn zero_eur() -> Money {
    Money::zero(Currency::Eur)
}

/// Submitted orders that were fulfilled, wholly or in part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversion {
    /// Orders ever submitted (the denominator).
    pub submitted: u64,
    /// Of those, fulfilled or partially fulfilled now (the numerator).
    pub fulfilled: u64,
    /// `fulfilled / submitted` to four places; `None` before any submission.
    pub rate: Option<Decimal>,
}

/// A tenant's figures at one instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figures {
    /// Orders created per period.
    pub orders_created: Created,
    /// Orders per state, every one of the nine states present.
    pub by_status: BTreeMap<String, u64>,
    /// The mean paid order.
    pub average_order_value: AverageOrderValue,
    /// Payments minus refunds.
    pub total_revenue: Revenue,
    /// Submitted → fulfilled.
    pub conversion: Conversion,
}

/// Computes the figures from the store's rows; `periods` are the starts the
/// rows' `created_since` were counted from (today, this week, this month).
///
/// # Errors
/// When the amounts mix currencies or overflow a decimal.
pub fn figures(periods: Periods, rows: &AnalyticsRows) -> Result<Figures, MoneyError> {
    let created = |i: usize, since: DateTime<Utc>| PeriodCount {
        count: rows.created_since.get(i).copied().unwrap_or(0),
        since,
    };
    let mut by_status: BTreeMap<String, u64> = OrderState::ALL.iter().map(|s| (s.as_str().to_owned(), 0)).collect();
    for (state, n) in &rows.by_state {
        *by_status.entry(state.as_str().to_owned()).or_default() += n;
    }

    let currency = Currency::Eur;
    let paid = Money::sum(currency, rows.paid.iter().map(|p| p.paid))?;
    let refunded = Money::sum(currency, rows.paid.iter().map(|p| p.refunded))?;
    let pending = Money::sum(currency, rows.paid.iter().map(|p| p.refund_pending))?;
    let orders = rows.paid.len() as u64;
    let average = if orders == 0 {
        None
    } else {
        let mean = paid
            .amount
            .checked_div(Decimal::from(orders))
            .ok_or(MoneyError::Overflow)?;
        Some(Money { amount: mean, currency }.round_to_cents())
    };

    let rate = (rows.submitted > 0).then(|| {
        let mut rate = (Decimal::from(rows.converted) / Decimal::from(rows.submitted))
            .round_dp_with_strategy(RATIO_PLACES, RoundingStrategy::MidpointAwayFromZero);
        // Always four places ("0.4000"), like amounts always carry cents.
        rate.rescale(RATIO_PLACES);
        rate
    });

    Ok(Figures {
        orders_created: Created {
            today: created(0, periods.today),
            this_week: created(1, periods.this_week),
            this_month: created(2, periods.this_month),
        },
        by_status,
        average_order_value: AverageOrderValue {
            amount: average,
            orders,
        },
        total_revenue: Revenue {
            amount: paid.checked_sub(refunded)?.round_to_cents(),
            paid: paid.round_to_cents(),
            refunded: refunded.round_to_cents(),
            refunds_pending: pending.round_to_cents(),
        },
        conversion: Conversion {
            submitted: rows.submitted,
            fulfilled: rows.converted,
            rate,
        },
    })
}

/// A cache of computed figures (Spin's key-value store in components).
pub trait FigureCache {
    /// The bytes under `key`, if any.
    ///
    /// # Errors
    /// When the store cannot be read; the caller then computes afresh.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String>;

    /// Stores `value` under `key`.
    ///
    /// # Errors
    /// When the store cannot be written; the caller still answers.
    fn set(&self, key: &str, value: &[u8]) -> Result<(), String>;
}

/// The cache key of a tenant's figures: derived from the tenant alone, and
/// tenant ids (`a-z0-9-_`) cannot contain the separator.
pub fn cache_key(tenant: &TenantId) -> String {
    format!("analytics:v1:{}", tenant.as_str())
}

/// What the cache holds for a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheEntry {
    /// Whose figures these are; checked again on every read.
    pub tenant: String,
    /// When they were computed (application clock).
    pub computed_at: DateTime<Utc>,
    /// The figures.
    pub figures: Figures,
}

impl CacheEntry {
    /// The entry's age at `now` in whole seconds, when it may still be
    /// served to `tenant`: its own, younger than the TTL, and not from the
    /// future (a clock set back makes it stale rather than immortal).
    pub fn fresh_age(&self, tenant: &TenantId, now: DateTime<Utc>) -> Option<i64> {
        let age = now - self.computed_at;
        (self.tenant == tenant.as_str() && age >= Duration::zero() && age < Duration::seconds(CACHE_TTL_SECS))
            .then(|| age.num_seconds())
    }
}

/// The response body.
#[derive(Debug, Serialize)]
struct AnalyticsView<'a> {
    tenant: &'a str,
    computed_at: DateTime<Utc>,
    cached: bool,
    cache_age_secs: i64,
    cache_ttl_secs: i64,
    #[serde(flatten)]
    figures: &'a Figures,
}

/// `GET /v1/analytics`: the caller's tenant's figures, from the cache while
/// they are younger than five minutes, else computed and cached. Customers
/// and operators of the tenant only.
pub fn get_analytics<D: Db>(ctx: &Ctx<D>, cache: &dyn FigureCache) -> Result<HttpResponse, ApiError> {
    ctx.principal.require_role(&[Role::Customer, Role::Operator])?;
    let tenant = &ctx.principal.tenant;
    let key = cache_key(tenant);
    let cached = match cache.get(&key) {
        Ok(bytes) => bytes.and_then(|b| serde_json::from_slice::<CacheEntry>(&b).ok()),
        Err(e) => {
            eprintln!(
                "analytics: cache read failed, computing afresh [correlation_id={}]: {e}",
                ctx.correlation_id
            );
            None
        }
    };
    if let Some(entry) = cached {
        if let Some(age) = entry.fresh_age(tenant, ctx.now) {
            return Ok(render(&entry, true, age));
        }
    }

    let periods = Periods::containing(ctx.now);
    let rows = ctx
        .store
        .analytics_rows(tenant, &[periods.today, periods.this_week, periods.this_month], ctx.now)
        .map_err(|e| from_store(e, &ctx.correlation_id))?;
    let figures = figures(periods, &rows).map_err(|e| ApiError::internal(ctx.correlation_id.as_str(), &e))?;
    let entry = CacheEntry {
        tenant: tenant.as_str().to_owned(),
        computed_at: ctx.now,
        figures,
    };
    let stored = serde_json::to_vec(&entry)
        .map_err(|e| e.to_string())
        .and_then(|bytes| cache.set(&key, &bytes));
    if let Err(e) = stored {
        eprintln!(
            "analytics: cache write failed [correlation_id={}]: {e}",
            ctx.correlation_id
        );
    }
    Ok(render(&entry, false, 0))
}

fn render(entry: &CacheEntry, cached: bool, age: i64) -> HttpResponse {
    HttpResponse::json(
        200,
        &AnalyticsView {
            tenant: &entry.tenant,
            computed_at: entry.computed_at,
            cached,
            cache_age_secs: age,
            cache_ttl_secs: CACHE_TTL_SECS,
            figures: &entry.figures,
        },
    )
    .with_header("cache-control", "private, no-store")
}

#[cfg(test)]
#[path = "analytics_tests.rs"]
mod tests;
