//! Delivery to the customer (issue 16): the tenant's delivery settings
//! (`GET`/`PUT /v1/tenant/delivery`), the address a new order delivers to,
//! and the delivery e-mail itself — to the order's own address, its access
//! details encrypted to the tenant's age key when it registered one.
//!
//! The rules (address syntax, masking, which address a new order takes, the
//! message text) are the core's; this module parses the wire, reads and
//! writes through the store, and encrypts, which needs randomness.

use std::io::Write;

use orderflow_core::{
    access_details_message, order_delivery_address, AccessMessage, EmailAddress, NoDeliveryAddress, Order, OrderItem,
    TenantId,
};
use orderflow_http::{decode_json, ApiError, FieldError, HttpResponse, RequestParts, Role, DEFAULT_BODY_LIMIT};
use orderflow_store::{Db, Store, StoreError, TenantDelivery};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::context::Ctx;
use crate::errors::from_store;
use crate::idempotent::{write_idempotently, Prepared};

/// What an address field accepts, for problem documents.
const ADDRESS_ACCEPTED: &str = "an e-mail address such as jane@example.com (at most 254 characters)";

/// Parses the e-mail address in `value` at JSON pointer `pointer`, or a 422
/// naming the field, the rule and what is accepted.
pub fn parse_address(value: &Value, pointer: &str) -> Result<EmailAddress, ApiError> {
    let Value::String(text) = value else {
        return Err(ApiError::validation(vec![FieldError::new(
            pointer,
            "type",
            format!("expected a string, got {value}"),
            json!(ADDRESS_ACCEPTED),
        )]));
    };
    EmailAddress::parse(text).map_err(|e| {
        ApiError::validation(vec![FieldError::new(
            pointer,
            e.rule(),
            e.to_string(),
            json!(ADDRESS_ACCEPTED),
        )])
    })
}

/// A tenant's public key for delivery e-mails: an age X25519 recipient.
#[derive(Debug, Clone)]
pub struct DeliveryKey(age::x25519::Recipient);

impl DeliveryKey {
    /// Parses `text` (`age1…`, Bech32).
    pub fn parse(text: &str) -> Result<DeliveryKey, &'static str> {
        text.parse().map(DeliveryKey)
    }

    /// Encrypts `plaintext` to this key, ASCII-armored (`-----BEGIN AGE
    /// ENCRYPTED FILE-----`). Each call uses a fresh file key.
    pub fn encrypt_armored(&self, plaintext: &[u8]) -> Result<String, std::io::Error> {
        let to_io = |e: &dyn std::fmt::Display| std::io::Error::other(e.to_string());
        let encryptor =
            age::Encryptor::with_recipients(std::iter::once(&self.0 as &dyn age::Recipient)).map_err(|e| to_io(&e))?;
        let mut out = Vec::new();
        let armor = age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)?;
        let mut writer = encryptor.wrap_output(armor)?;
        writer.write_all(plaintext)?;
        writer.finish()?.finish()?;
        String::from_utf8(out).map_err(|e| to_io(&e))
    }
}

/// The tenant's default delivery address, parsed.
fn tenant_default<D: Db>(store: &Store<D>, tenant: &TenantId) -> Result<Option<EmailAddress>, StoreError> {
    let settings = store.tenant_delivery(tenant)?;
    settings
        .default_email
        .map(|e| EmailAddress::parse(&e).map_err(|_| StoreError::Corrupt("tenant default delivery address".into())))
        .transpose()
}

/// The address a new order delivers to: `given` (the request's
/// `delivery_email`, already parsed), else the tenant's default; else a
/// 422 at `/delivery_email` saying how to get one.
pub fn new_order_address<D: Db>(ctx: &Ctx<D>, given: Option<EmailAddress>) -> Result<EmailAddress, ApiError> {
    let default = if given.is_some() {
        None
    } else {
        tenant_default(&ctx.store, &ctx.principal.tenant).map_err(|e| from_store(e, &ctx.correlation_id))?
    };
    order_delivery_address(given, default).map_err(|e: NoDeliveryAddress| {
        ApiError::validation(vec![FieldError::new(
            "/delivery_email",
            "required",
            e.to_string(),
            json!(format!("{ADDRESS_ACCEPTED}, or a tenant default set by an operator")),
        )])
    })
}

/// `PUT /v1/tenant/delivery` body: the whole settings (absent = none).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsBody {
    #[serde(default)]
    default_email: Option<Value>,
    #[serde(default)]
    public_key: Option<Value>,
}

fn settings_view(settings: &TenantDelivery, role: Role) -> Value {
    let email = settings.default_email.as_deref().map(|e| match role {
        Role::Operator => e.to_owned(),
        _ => EmailAddress::parse(e).map_or_else(|_| "***".to_owned(), |a| a.masked()),
    });
    json!({
        "default_email": email,
        "public_key": settings.key,
        "encrypted": settings.key.is_some(),
    })
}

/// `GET /v1/tenant/delivery`: the caller's tenant's delivery settings
/// (customers see the default address masked).
pub fn get_tenant_delivery<D: Db>(ctx: &Ctx<D>) -> Result<HttpResponse, ApiError> {
    ctx.principal.require_role(&[Role::Customer, Role::Operator])?;
    let settings = ctx
        .store
        .tenant_delivery(&ctx.principal.tenant)
        .map_err(|e| from_store(e, &ctx.correlation_id))?;
    Ok(HttpResponse::json(200, &settings_view(&settings, ctx.principal.role)))
}

/// `PUT /v1/tenant/delivery` (operators): replaces the tenant's default
/// delivery address and public key. Orders keep the address they have.
pub fn put_tenant_delivery<D: Db>(ctx: &Ctx<D>, request: &RequestParts) -> HttpResponse {
    if let Err(e) = ctx.principal.require_role(&[Role::Operator]) {
        return e.into();
    }
    write_idempotently(ctx, request, || {
        let body: SettingsBody = decode_json(request.header("content-type"), &request.body, DEFAULT_BODY_LIMIT)?;
        let default_email = match body.default_email {
            None | Some(Value::Null) => None,
            Some(v) => Some(parse_address(&v, "/default_email")?),
        };
        let key = match body.public_key {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => {
                DeliveryKey::parse(&text).map_err(|e| {
                    ApiError::validation(vec![FieldError::new(
                        "/public_key",
                        "age_recipient",
                        format!("not an age X25519 recipient: {e}"),
                        json!("an age public key: `age1` and 58 Bech32 characters, as `age-keygen` prints it"),
                    )])
                })?;
                Some(text)
            }
            Some(other) => {
                return Err(ApiError::validation(vec![FieldError::new(
                    "/public_key",
                    "type",
                    format!("expected a string or null, got {other}"),
                    json!("an age public key (`age1…`) or null"),
                )]))
            }
        };
        let settings = TenantDelivery {
            default_email: default_email.map(|e| e.as_str().to_owned()),
            key,
        };
        let response = HttpResponse::json(200, &settings_view(&settings, Role::Operator));
        let (tenant, now) = (ctx.principal.tenant.clone(), ctx.now);
        let subject = ctx.principal.subject.clone();
        Ok(Prepared {
            response,
            // Read, write and record in one transaction, so the record says
            // what this write replaced.
            commit: Box::new(move |s| {
                let change = settings_change(&s.tenant_delivery(&tenant)?, &settings);
                s.set_tenant_delivery(&tenant, &settings, now)?;
                s.insert_tenant_audit(&tenant, Role::Operator.as_str(), &subject, "delivery", &change, now)
            }),
        })
    })
}

/// What a settings write changes, for the tenant's audit log: each field
/// with its old and new value (a public key is public; the default address
/// is the tenant's own contact, which its operators read anyway).
fn settings_change(before: &TenantDelivery, after: &TenantDelivery) -> Value {
    let mut change = serde_json::Map::new();
    for (field, old, new) in [
        ("default_email", &before.default_email, &after.default_email),
        ("public_key", &before.key, &after.key),
    ] {
        if old != new {
            change.insert(field.to_owned(), json!({ "from": old, "to": new }));
        }
    }
    Value::Object(change)
}

/// `GET /v1/tenant/delivery/audit` (operators): who changed the tenant's
/// delivery settings, what, and when, oldest first.
pub fn tenant_delivery_audit<D: Db>(ctx: &Ctx<D>) -> Result<HttpResponse, ApiError> {
    ctx.principal.require_role(&[Role::Operator])?;
    let records = ctx
        .store
        .tenant_audit(&ctx.principal.tenant)
        .map_err(|e| from_store(e, &ctx.correlation_id))?;
    Ok(HttpResponse::json(200, &json!({ "entries": records })))
}

/// A delivery e-mail ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryMail {
    /// The order's own address.
    pub to: String,
    /// The subject (no credential in it).
    pub subject: String,
    /// The body: the access details in plain text, or encrypted to the
    /// tenant's key.
    pub text: String,
}

/// Why a delivery e-mail cannot be built. Retrying changes nothing.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// An order created before addresses were stored, and no tenant default.
    #[error(
        "the order has no delivery address and its tenant no default; set one with PUT /v1/orders/{{id}}/delivery"
    )]
    NoAddress,
    /// The stored key does not parse.
    #[error("the tenant's delivery key is not an age recipient")]
    BadKey,
    /// Encryption failed.
    #[error("encrypting the delivery e-mail failed: {0}")]
    Encrypt(std::io::Error),
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The e-mail delivering `item` of `order` (access details `access_json`):
/// to the order's own address (an order from before addresses were stored
/// falls back to its tenant's default), encrypted when the tenant
/// registered a key.
pub fn delivery_mail<D: Db>(
    store: &Store<D>,
    order: &Order,
    item: &OrderItem,
    access_json: &str,
) -> Result<DeliveryMail, MailError> {
    let settings = store.tenant_delivery(&order.tenant)?;
    let to = match &order.delivery_email {
        Some(address) => address.clone(),
        None => settings
            .default_email
            .as_deref()
            .and_then(|e| EmailAddress::parse(e).ok())
            .ok_or(MailError::NoAddress)?,
    };
    let message = access_details_message(order, item, access_json);
    let text = match settings.key.as_deref() {
        None => message.secret_part,
        Some(key) => {
            let key = DeliveryKey::parse(key).map_err(|_| MailError::BadKey)?;
            let armored = key
                .encrypt_armored(message.secret_part.as_bytes())
                .map_err(MailError::Encrypt)?;
            AccessMessage::encrypted_body(order, item, &armored)
        }
    };
    Ok(DeliveryMail {
        to: to.as_str().to_owned(),
        subject: message.subject,
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_that_is_not_an_age_recipient_is_refused() {
        assert!(DeliveryKey::parse("age1notakey").is_err());
        assert!(DeliveryKey::parse("ssh-ed25519 AAAA").is_err());
    }

    #[test]
    fn what_is_encrypted_to_a_key_opens_with_its_identity_only() {
        use std::io::Read;
        let identity = age::x25519::Identity::generate();
        let key = DeliveryKey::parse(&identity.to_public().to_string()).expect("a recipient");
        let armored = key.encrypt_armored(b"password: s3cret").expect("encrypts");
        assert!(armored.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"), "{armored}");
        assert!(!armored.contains("s3cret"));
        let open = |identity: &age::x25519::Identity| -> Option<String> {
            let reader = age::armor::ArmoredReader::new(armored.as_bytes());
            let decryptor = age::Decryptor::new(reader).ok()?;
            let mut plain = String::new();
            decryptor
                .decrypt(std::iter::once(identity as &dyn age::Identity))
                .ok()?
                .read_to_string(&mut plain)
                .ok()?;
            Some(plain)
        };
        assert_eq!(open(&identity).as_deref(), Some("password: s3cret"));
        assert_eq!(open(&age::x25519::Identity::generate()), None);
    }

    #[test]
    fn a_bad_address_is_a_422_naming_the_field_and_rule() {
        let error = parse_address(&json!("jane@localhost"), "/delivery_email").expect_err("no dot in the domain");
        assert_eq!(error.status(), 422);
        let problem = error.to_problem();
        assert_eq!(problem.errors[0].pointer, "/delivery_email");
        assert_eq!(problem.errors[0].rule, "email_domain");
        let error = parse_address(&json!(7), "/delivery_email").expect_err("a number");
        assert_eq!(error.to_problem().errors[0].rule, "type");
    }
}
