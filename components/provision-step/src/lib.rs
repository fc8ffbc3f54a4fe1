//! The provision-step component: creates each item at the cloud provider, polls until
//! it runs, seals its access details, and deprovisions failed or cancelled
//! items (the compensation).
//! It runs saga jobs handed over by the retry component through service
//! chaining (a private route), with only the variables and outbound hosts
//! its jobs need.

use orderflow_service::spin::Needs;

orderflow_service::saga_step_component!(
    "provision-step",
    "provision",
    Needs {
        payments: false,
        cloud: true,
        email: false,
        vault: true,
    }
);
