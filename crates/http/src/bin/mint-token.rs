//! Mints a bearer token for local use and tests.
//!
//! ```text
//! cargo run -p orderflow-http --bin mint-token -- --tenant acme --role customer \
//!     [--subject alice] [--ttl-hours 24] [--keyring-env SPIN_VARIABLE_AUTH_KEYS]
//! ```
//!
//! The keyring comes from the named environment variable (default
//! `SPIN_VARIABLE_AUTH_KEYS`, the variable Spin reads for `auth_keys`); when
//! it is unset, from the development-only `DEV_KEYRING`, with a warning.

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use orderflow_core::TenantId;
use orderflow_http::{Keyring, Role, DEV_KEYRING};

const USAGE: &str = "usage: mint-token --tenant <tenant> --role <customer|operator|service> \
[--subject <sub>] [--ttl-hours <hours, default 24>] [--keyring-env <VAR, default SPIN_VARIABLE_AUTH_KEYS>]";

struct Args {
    tenant: TenantId,
    role: Role,
    subject: Option<String>,
    ttl_hours: i64,
    keyring_env: String,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let (mut tenant, mut role, mut subject) = (None, None, None);
    let mut ttl_hours = 24;
    let mut keyring_env = "SPIN_VARIABLE_AUTH_KEYS".to_owned();
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Err(String::new());
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--tenant" => tenant = Some(value.parse::<TenantId>().map_err(|e| format!("--tenant: {e}"))?),
            "--role" => role = Some(value.parse::<Role>().map_err(|e| format!("--role: {e}"))?),
            "--subject" => subject = Some(value),
            "--ttl-hours" => {
                ttl_hours = value
                    .parse::<i64>()
                    .ok()
                    .filter(|h| (1..=24 * 366).contains(h))
                    .ok_or("--ttl-hours must be a whole number of hours from 1 to 8784")?;
            }
            "--keyring-env" => keyring_env = value,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        tenant: tenant.ok_or("--tenant is required")?,
        role: role.ok_or("--role is required")?,
        subject,
        ttl_hours,
        keyring_env,
    })
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("mint-token: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let keyring_text = std::env::var(&args.keyring_env).unwrap_or_else(|_| {
        eprintln!(
            "mint-token: {} is not set; using the DEVELOPMENT-ONLY keyring (tokens work only against a local app)",
            args.keyring_env
        );
        DEV_KEYRING.to_owned()
    });
    let keyring: Keyring = match keyring_text.parse() {
        Ok(keyring) => keyring,
        Err(e) => {
            eprintln!("mint-token: {}: {e}", args.keyring_env);
            return ExitCode::from(1);
        }
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let subject = args.subject.unwrap_or_else(|| format!("{}-{}", args.role, args.tenant));
    let token = keyring.mint(&subject, &args.tenant, args.role, now, now + args.ttl_hours * 3600);
    println!("{token}");
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Result<Args, String> {
        parse_args(line.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn tenant_and_role_are_required_and_the_rest_defaults() {
        let parsed = args("--tenant acme --role operator").unwrap();
        assert_eq!(parsed.tenant.as_str(), "acme");
        assert_eq!(parsed.role, Role::Operator);
        assert_eq!(parsed.ttl_hours, 24);
        assert_eq!(parsed.keyring_env, "SPIN_VARIABLE_AUTH_KEYS");
        assert_eq!(args("--role operator").err().unwrap(), "--tenant is required");
    }

    #[test]
    fn a_bad_ttl_or_unknown_flag_is_rejected() {
        assert!(args("--tenant acme --role customer --ttl-hours 0").is_err());
        assert!(args("--tenant acme --role customer --ttl-hours").is_err());
        assert!(args("--tenant acme --role customer --colour red").is_err());
    }
}
