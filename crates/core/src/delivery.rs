//! Where an order's access details go (issue 16): the e-mail address an
//! order carries, parsed once at the edge, how it is shown masked, and which
//! address a delivery uses.
//!
//! An order's address is given when it is created, else it is the tenant's
//! default delivery address at that moment; it is stored with the order, so
//! a later change of the tenant's default never redirects an order's
//! credentials. Only an audited, version-checked write changes it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::order::{Order, OrderItem};

/// The shortest time between two re-deliveries of one item's credentials:
/// each sends a secret by e-mail again, so a caller may not do it in a loop.
pub const REDELIVERY_INTERVAL_SECS: i64 = 300;

/// `None` when an item whose latest re-delivery was queued at `last` may be
/// re-delivered at `now`; otherwise the whole seconds until it may.
pub fn redelivery_wait(last: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<u32> {
    let next = last? + chrono::Duration::seconds(REDELIVERY_INTERVAL_SECS);
    let wait = (next - now).num_seconds();
    (wait > 0).then(|| u32::try_from(wait).unwrap_or(u32::MAX))
}

/// Longest address accepted (RFC 5321's path limit less the brackets).
pub const MAX_EMAIL_LEN: usize = 254;
/// Longest local part (RFC 5321 §4.5.3.1.1).
pub const MAX_LOCAL_LEN: usize = 64;

/// An e-mail address in the plain `local@domain` form: the domain is
/// lower-cased, nothing else is changed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct EmailAddress(String);

/// Why a text is not an address we deliver to. Each names the rule broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Empty, or only spaces.
    #[error("the address is empty")]
    Empty,
    /// Longer than [`MAX_EMAIL_LEN`].
    #[error("the address is longer than {MAX_EMAIL_LEN} characters")]
    TooLong,
    /// Not exactly one `@` between a local part and a domain.
    #[error("the address must have exactly one `@` between a name and a domain")]
    Shape,
    /// The local part has a character outside the plain set, a dot at an
    /// end or two dots in a row, or is longer than [`MAX_LOCAL_LEN`].
    #[error(
        "the part before `@` must be 1-{MAX_LOCAL_LEN} of letters, digits and !#$%&'*+-/=?^_`{{|}}~. \
         without a leading, trailing or doubled dot"
    )]
    LocalPart,
    /// The domain is not dot-separated labels of letters, digits and
    /// inner hyphens with at least two labels.
    #[error("the domain must be at least two dot-separated labels of letters, digits and inner hyphens, such as example.com")]
    Domain,
}

impl EmailError {
    /// A short rule name for problem documents.
    pub fn rule(&self) -> &'static str {
        match self {
            EmailError::Empty => "required",
            EmailError::TooLong => "max_length",
            EmailError::Shape => "email",
            EmailError::LocalPart => "email_local_part",
            EmailError::Domain => "email_domain",
        }
    }
}

impl EmailAddress {
    /// Parses `text` (surrounding spaces are an error, not trimmed: what
    /// the client sent is what would be stored).
    pub fn parse(text: &str) -> Result<EmailAddress, EmailError> {
        if text.trim().is_empty() {
            return Err(EmailError::Empty);
        }
        if text.chars().count() > MAX_EMAIL_LEN {
            return Err(EmailError::TooLong);
        }
        let mut parts = text.split('@');
        let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(EmailError::Shape);
        };
        if local.is_empty() || domain.is_empty() {
            return Err(EmailError::Shape);
        }
        let local_ok = local.len() <= MAX_LOCAL_LEN
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        if !local_ok {
            return Err(EmailError::LocalPart);
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !domain_ok {
            return Err(EmailError::Domain);
        }
        Ok(EmailAddress(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address as shown in the portal, the API and events: the first
    /// character of the local part, `***`, and the domain
    /// (`jane@example.com` → `j***@example.com`).
    pub fn masked(&self) -> String {
        let (local, domain) = self.0.split_once('@').unwrap_or((&self.0, ""));
        let first: String = local.chars().take(1).collect();
        format!("{first}***@{domain}")
    }
}

impl std::fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for EmailAddress {
    type Err = EmailError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EmailAddress::parse(s)
    }
}

impl<'de> Deserialize<'de> for EmailAddress {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        EmailAddress::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// No address to deliver to: the order named none and its tenant has no
/// default delivery address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the order names no `delivery_email` and the tenant has no default delivery address: send `delivery_email`, \
     or have an operator set one with PUT /v1/tenant/delivery"
)]
pub struct NoDeliveryAddress;

/// The address a new order's access details go to: the one it was given,
/// else the tenant's default.
pub fn order_delivery_address(
    given: Option<EmailAddress>,
    tenant_default: Option<EmailAddress>,
) -> Result<EmailAddress, NoDeliveryAddress> {
    given.or(tenant_default).ok_or(NoDeliveryAddress)
}

/// A delivery e-mail, before it is (optionally) encrypted and sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessMessage {
    /// The subject: names the product, never a credential.
    pub subject: String,
    /// The part that carries the access details: what is encrypted when
    /// the tenant registered a key.
    pub secret_part: String,
}

/// The e-mail for `item` of `order` whose access details are `access_json`
/// (a JSON object of strings; anything else is sent as it is).
pub fn access_details_message(order: &Order, item: &OrderItem, access_json: &str) -> AccessMessage {
    let details = match serde_json::from_str::<Value>(access_json) {
        Ok(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| format!("  {k}: {}", v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => access_json.to_owned(),
    };
    AccessMessage {
        subject: format!("Your {} is ready", item.product.product),
        secret_part: format!(
            "{}\n\nOrder {}, item {}.\n\nAccess details:\n{details}\n\nKeep this message safe; you can ask for it again from your portal.",
            item.product.summary, order.id, item.id
        ),
    }
}

impl AccessMessage {
    /// The body of the encrypted form: a plain note naming the order and
    /// item, then `armored`, the secret part encrypted to the tenant's key.
    pub fn encrypted_body(order: &Order, item: &OrderItem, armored: &str) -> String {
        format!(
            "Order {}, item {}: the access details are encrypted to your organisation's registered age key.\n\
             Decrypt this message with its identity, e.g. `age --decrypt -i key.txt`.\n\n{armored}",
            order.id, item.id
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(s: &str) -> EmailAddress {
        EmailAddress::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn plain_addresses_are_accepted_and_their_domain_lower_cased() {
        assert_eq!(
            email("jane.doe+orders@Example.COM").as_str(),
            "jane.doe+orders@example.com"
        );
        assert_eq!(email("a@b.io").as_str(), "a@b.io");
        assert_eq!(
            email("ops-team@mail.acme-corp.example").as_str(),
            "ops-team@mail.acme-corp.example"
        );
    }

    #[test]
    fn each_malformed_address_names_the_rule_it_breaks() {
        for (text, rule) in [
            ("", "required"),
            ("   ", "required"),
            ("jane", "email"),
            ("jane@", "email"),
            ("@example.com", "email"),
            ("a@b@example.com", "email"),
            (" jane@example.com", "email_local_part"),
            ("jane doe@example.com", "email_local_part"),
            (".jane@example.com", "email_local_part"),
            ("ja..ne@example.com", "email_local_part"),
            ("jane@localhost", "email_domain"),
            ("jane@example..com", "email_domain"),
            ("jane@-example.com", "email_domain"),
            ("jane@exa_mple.com", "email_domain"),
            ("jane@example.com\n", "email_domain"),
        ] {
            let error = EmailAddress::parse(text).expect_err(text);
            assert_eq!(error.rule(), rule, "{text:?}: {error}");
        }
        let long = format!("{}@example.com", "a".repeat(65));
        assert_eq!(
            EmailAddress::parse(&long).expect_err("long local").rule(),
            "email_local_part"
        );
        let longer = format!("a@{}.com", "b".repeat(260));
        assert_eq!(EmailAddress::parse(&longer).expect_err("too long").rule(), "max_length");
    }

    #[test]
    fn a_masked_address_keeps_the_first_letter_and_the_domain() {
        assert_eq!(email("jane@example.com").masked(), "j***@example.com");
        assert_eq!(email("j@example.com").masked(), "j***@example.com");
        assert!(!email("jane.doe@example.com").masked().contains("jane"));
    }

    #[test]
    fn an_order_takes_its_own_address_else_the_tenants_default_else_none() {
        let own = email("buyer@example.com");
        let default = email("ops@tenant.example");
        assert_eq!(
            order_delivery_address(Some(own.clone()), Some(default.clone())),
            Ok(own)
        );
        assert_eq!(order_delivery_address(None, Some(default.clone())), Ok(default));
        assert_eq!(order_delivery_address(None, None), Err(NoDeliveryAddress));
    }

    #[test]
    fn addresses_round_trip_through_json_and_refuse_bad_ones() {
        let parsed: EmailAddress = serde_json::from_str("\"jane@example.com\"").expect("valid");
        assert_eq!(serde_json::to_string(&parsed).expect("json"), "\"jane@example.com\"");
        assert!(serde_json::from_str::<EmailAddress>("\"not an address\"").is_err());
    }
}

#[cfg(test)]
mod message_tests {
    use chrono::{TimeZone, Utc};
    use serde_json::json;
    use uuid::Uuid;

    use super::*;
    use crate::{parse_items, Catalog, ItemId, OrderId};

    fn order() -> Order {
        let catalog = Catalog::standard();
        let specs = parse_items(
            &catalog,
            &json!([{"product":"vps","billing_cycle":"monthly","config":{"region":"lj-1","plan":"core","os_image":"ubuntu-24.04"}}]),
        )
        .expect("a valid item");
        let items = specs
            .into_iter()
            .map(|s| (ItemId::from_uuid(Uuid::from_u128(2)), s))
            .collect();
        let at = Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).single().expect("a time");
        Order::draft(
            &catalog,
            OrderId::from_uuid(Uuid::from_u128(1)),
            "acme".parse().expect("tenant"),
            items,
            at,
        )
        .expect("a draft")
    }

    #[test]
    fn the_message_lists_each_access_detail_and_the_subject_none() {
        let order = order();
        let item = &order.items[0];
        let message = access_details_message(&order, item, r#"{"ip":"10.0.0.7","password":"s3cret"}"#);
        assert_eq!(message.subject, "Your vps is ready");
        assert!(
            message.secret_part.contains("  ip: 10.0.0.7"),
            "{}",
            message.secret_part
        );
        assert!(message.secret_part.contains("  password: s3cret"));
        assert!(message.secret_part.contains(&order.id.to_string()));
        assert!(!message.subject.contains("s3cret"));
    }

    #[test]
    fn the_encrypted_body_names_the_order_and_carries_only_the_armor() {
        let order = order();
        let body = AccessMessage::encrypted_body(&order, &order.items[0], "-----BEGIN AGE ENCRYPTED FILE-----\nx\n");
        assert!(body.contains(&order.id.to_string()));
        assert!(body.ends_with("-----BEGIN AGE ENCRYPTED FILE-----\nx\n"));
    }

    #[test]
    fn changing_the_address_is_a_versioned_decision_with_a_masked_event_and_audit() {
        use crate::{decide, Actor, Command, EventType, Rejection};
        let before = order().delivering_to(EmailAddress::parse("old@example.com").expect("valid"));
        let at = before.created_at;
        let new = EmailAddress::parse("new.buyer@example.org").expect("valid");
        let command = || Command::ChangeDeliveryAddress { address: new.clone() };
        let d = decide(&before, command(), Actor::Customer, &Catalog::standard(), at).expect("allowed");
        assert_eq!(d.order.version, before.version + 1);
        assert_eq!(d.order.delivery_email.as_ref(), Some(&new));
        assert_eq!(d.order.state, before.state);
        assert_eq!(d.events.len(), 1);
        assert_eq!(d.events[0].event_type, EventType::OrderDeliveryAddressChanged);
        assert_eq!(
            d.events[0].data,
            json!({ "from": "o***@example.com", "to": "n***@example.org" })
        );
        assert_eq!(d.audit.reason, "delivery address set to n***@example.org");
        assert!(!d.audit.reason.contains("new.buyer"));
        assert!(matches!(
            decide(&before, command(), Actor::System, &Catalog::standard(), at),
            Err(Rejection::NotAllowed { .. })
        ));
    }
}

#[cfg(test)]
mod redelivery_tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    #[test]
    fn an_item_never_redelivered_may_be_redelivered_at_once() {
        let now = Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, 0).unwrap();
        assert_eq!(redelivery_wait(None, now), None);
    }

    #[test]
    fn a_second_redelivery_waits_out_the_interval_to_the_second() {
        let last = Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, 0).unwrap();
        let at = |secs: i64| last + chrono::Duration::seconds(secs);
        assert_eq!(redelivery_wait(Some(last), last), Some(300));
        assert_eq!(redelivery_wait(Some(last), at(299)), Some(1));
        assert_eq!(redelivery_wait(Some(last), at(REDELIVERY_INTERVAL_SECS)), None);
    }
}
