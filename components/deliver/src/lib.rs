//! The deliver component: opens an item's sealed access details and e-mails them
//! to the customer, for the first delivery and every re-delivery.
//! It runs saga jobs handed over by the retry component through service
//! chaining (a private route), with only the variables and outbound hosts
//! its jobs need.

use orderflow_service::spin::Needs;

orderflow_service::saga_step_component!(
    "deliver",
    "deliver",
    Needs {
        payments: false,
        cloud: false,
        email: true,
        vault: true,
    }
);
