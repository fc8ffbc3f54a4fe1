//! The simulators over real loopback HTTP: one test binary, one module per
//! provider. Each test starts its own simulators on 127.0.0.1:0.

mod cloud;
mod email;
mod hetzner;
mod payments;
mod program;
mod resend;
mod support;
