//! The validate component: re-checks a paid order against today's catalog and
//! the tenant's quota, then starts provisioning or fails the order (which
//! requests its refund). It talks to no provider.
//! It runs saga jobs handed over by the retry component through service
//! chaining (a private route), with only the variables and outbound hosts
//! its jobs need.

use orderflow_service::spin::Needs;

orderflow_service::saga_step_component!(
    "validate",
    "validate",
    Needs {
        payments: false,
        cloud: false,
        email: false,
        vault: false,
    }
);
