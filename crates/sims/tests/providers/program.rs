//! The `sims` binary: start-up lines and signal handling.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use hyper::Method;
use orderflow_sims::client;

#[tokio::test]
async fn the_program_prints_its_four_addresses_and_exits_cleanly_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sims"))
        .args(["--webhook-secret", "whsec_x", "--cloud-latency-ms", "5"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start sims: {e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    // Reading blocks until the lines are printed: they are the readiness signal.
    let lines: Vec<String> = BufReader::new(stdout).lines().take(4).map_while(Result::ok).collect();

    let names: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.split_once(' ').map(|(name, _)| name))
        .collect();
    assert_eq!(names, ["payments", "cloud", "email", "hetzner"], "{lines:?}");
    for line in &lines {
        let url = line.split_once(' ').map(|(_, url)| url).unwrap_or_default();
        assert!(url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"), "{line}");
        let response = client::request(
            Method::GET,
            &format!("{url}/_sim/nothing"),
            &[],
            "",
            Duration::from_secs(10),
        )
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(response.status, 404);
        assert!(response.json()["error"]["type"].is_string());
    }

    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    assert!(killed.is_ok_and(|s| s.success()));
    let status = child.wait().unwrap_or_else(|e| panic!("wait: {e}"));
    assert!(status.success(), "{status}");
}

#[test]
fn the_program_refuses_to_listen_beyond_loopback() {
    let output = Command::new(env!("CARGO_BIN_EXE_sims"))
        .args(["--listen-cloud", "0.0.0.0:0"])
        .output()
        .unwrap_or_else(|e| panic!("cannot start sims: {e}"));
    assert_eq!(output.status.code(), Some(2));
}
