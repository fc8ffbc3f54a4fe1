//! End-to-end tests: one test binary, one module per feature.
//! Each test starts its own `spin-local` on 127.0.0.1:0 with a fresh state dir.

mod analytics;
mod api;
mod clock;
mod crash;
mod delivery;
mod fastpath;
mod fleet;
mod hardening;
mod operations;
mod orders;
mod portal;
mod postgres;
mod providers;
mod redis_kv;
mod refunds;
mod runner;
mod saga;
mod stripe;
mod subscription_end;
mod subscriptions;
mod tokens;
