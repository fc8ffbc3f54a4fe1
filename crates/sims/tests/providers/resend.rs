//! Resend's wire format on the e-mail simulator, proven by an independent
//! client: the official `resend` Python library (PyPI, installed by
//! scripts/install-test-deps) sends under an idempotency key (once), reads
//! the e-mail back, and meets the errors as the library classifies them
//! (a reused key with another payload, a rate limit with its headers, a
//! missing or wrong key, an invalid recipient). The script is
//! tests/resend/resend_client.py.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::support::start;

#[tokio::test]
async fn the_official_resend_library_drives_the_email_simulator() {
    let sims = start().await;
    let base = sims.email_url();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/resend/resend_client.py");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .args([
                "drive",
                "--api-url",
                &base,
                "--api-key",
                "re_test_123",
                "--control",
                &base,
            ])
            .output()
            .expect("python3 with the resend library (scripts/install-test-deps)")
    })
    .await
    .expect("the script's thread");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "resend_client.py failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let names: Vec<String> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|c| c["check"].as_str().map(str::to_owned))
        .collect();
    for expected in [
        "send, and again under its key: one e-mail",
        "read back by id",
        "the same key with another payload is invalid_idempotent_request",
        "a rate limit raises RateLimitError with its headers",
        "a missing or wrong key is refused",
        "an invalid recipient is a validation_error",
        "done",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "missing check {expected:?} in {names:?}"
        );
    }
}
