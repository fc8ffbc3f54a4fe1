//! Mints a development bearer token: a standard JWT access token signed with
//! a private key this program reads from a file. Only the tests and
//! `scripts/dev` hold the development key (`tests/dev-tokens/`); the app
//! holds only its public half, in the `auth_jwks` variable. In a deployment
//! tokens come from the identity provider instead (README "Tokens").
//!
//! ```text
//! cargo run -p orderflow-http --bin mint-token -- --tenant acme --role customer \
//!     [--subject alice] [--scope "tick renew"] [--ttl-minutes 60] \
//!     [--key-file tests/dev-tokens/dev-signing-key.pem] [--kid dev1] \
//!     [--issuer orderflow-dev] [--audience orderflow]
//! ```

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use orderflow_core::TenantId;
use orderflow_http::{Role, TokenSigner, TokenSpec};

const USAGE: &str = "usage: mint-token --tenant <tenant> --role <customer|operator|service> \
[--subject <sub>] [--scope <space-separated scopes>] [--ttl-minutes <1-1440, default 60>] \
[--key-file <PEM, default tests/dev-tokens/dev-signing-key.pem>] [--kid <default dev1>] \
[--issuer <default orderflow-dev>] [--audience <default orderflow>]";

/// The development key's defaults, as `scripts/dev` and the tests configure the app.
const DEV_KEY_FILE: &str = "tests/dev-tokens/dev-signing-key.pem";
const DEV_KID: &str = "dev1";
const DEV_ISSUER: &str = "orderflow-dev";
const DEV_AUDIENCE: &str = "orderflow";

#[derive(Debug)]
struct Args {
    tenant: TenantId,
    role: Role,
    subject: Option<String>,
    scopes: Vec<String>,
    ttl_minutes: i64,
    key_file: String,
    kid: String,
    issuer: String,
    audience: String,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let (mut tenant, mut role, mut subject) = (None, None, None);
    let mut scopes = Vec::new();
    let mut ttl_minutes = 60;
    let (mut key_file, mut kid) = (DEV_KEY_FILE.to_owned(), DEV_KID.to_owned());
    let (mut issuer, mut audience) = (DEV_ISSUER.to_owned(), DEV_AUDIENCE.to_owned());
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Err(String::new());
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--tenant" => tenant = Some(value.parse::<TenantId>().map_err(|e| format!("--tenant: {e}"))?),
            "--role" => role = Some(value.parse::<Role>().map_err(|e| format!("--role: {e}"))?),
            "--subject" => subject = Some(value),
            "--scope" => scopes.extend(value.split_whitespace().map(str::to_owned)),
            "--ttl-minutes" => {
                ttl_minutes = value
                    .parse::<i64>()
                    .ok()
                    .filter(|m| (1..=24 * 60).contains(m))
                    .ok_or("--ttl-minutes must be a whole number of minutes from 1 to 1440")?;
            }
            "--key-file" => key_file = value,
            "--kid" => kid = value,
            "--issuer" => issuer = value,
            "--audience" => audience = value,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        tenant: tenant.ok_or("--tenant is required")?,
        role: role.ok_or("--role is required")?,
        subject,
        scopes,
        ttl_minutes,
        key_file,
        kid,
        issuer,
        audience,
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
    let signer = std::fs::read(&args.key_file)
        .map_err(|e| format!("{}: {e}", args.key_file))
        .and_then(|pem| TokenSigner::from_pem(&pem, &args.kid, &args.issuer, &args.audience));
    let signer = match signer {
        Ok(signer) => signer,
        Err(e) => {
            eprintln!("mint-token: {e}");
            return ExitCode::from(1);
        }
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let spec = TokenSpec {
        subject: args.subject.unwrap_or_else(|| format!("{}-{}", args.role, args.tenant)),
        tenant: args.tenant,
        role: args.role,
        scopes: args.scopes,
        lifetime_secs: args.ttl_minutes * 60,
    };
    println!("{}", signer.mint(&spec, now));
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Result<Args, String> {
        parse_args(line.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn tenant_and_role_are_required_and_the_rest_defaults_to_the_development_key() {
        let parsed = args("--tenant acme --role operator").unwrap();
        assert_eq!(parsed.tenant.as_str(), "acme");
        assert_eq!(parsed.role, Role::Operator);
        assert_eq!(parsed.ttl_minutes, 60);
        assert_eq!(parsed.key_file, DEV_KEY_FILE);
        assert_eq!(parsed.issuer, DEV_ISSUER);
        assert_eq!(args("--role operator").err().unwrap(), "--tenant is required");
    }

    #[test]
    fn a_bad_ttl_or_unknown_flag_is_rejected() {
        assert!(args("--tenant acme --role customer --ttl-minutes 0").is_err());
        assert!(args("--tenant acme --role customer --ttl-minutes 1441").is_err());
        assert!(args("--tenant acme --role customer --ttl-minutes").is_err());
        assert!(args("--tenant acme --role customer --colour red").is_err());
    }

    #[test]
    fn scopes_accumulate_across_flags() {
        let parsed = args("--tenant platform --role service --scope tick --scope renew").unwrap();
        assert_eq!(parsed.scopes, vec!["tick", "renew"]);
    }
}
