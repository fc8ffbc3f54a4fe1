//! The payment provider's customer-facing checkout page, as a hosted
//! checkout would be: `GET /checkout/{intent}` shows the amount with "Pay"
//! and "Decline" buttons; `POST /checkout/{intent}` (a plain HTML form)
//! performs the customer's action exactly like `/_sim/payment_intents/
//! {intent}/{succeed|fail}` — the signed webhook goes to the app — and then
//! sends the browser back to `return_to`.
//!
//! `return_to` must be a loopback `http://` URL: the simulator is no open
//! redirect, and the apps it serves run on loopback.

/// What the customer chose on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Choice {
    /// "Pay": the intent succeeds.
    Pay,
    /// "Decline": the card is declined.
    Decline,
}

/// The form posted by the checkout page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Form {
    /// What to do.
    pub choice: Choice,
    /// Where to send the browser afterwards, if allowed.
    pub return_to: Option<String>,
}

/// Parses the page's `application/x-www-form-urlencoded` body.
pub(crate) fn parse_form(body: &[u8]) -> Result<Form, String> {
    let mut choice = None;
    let mut return_to = None;
    for (name, value) in form_urlencoded::parse(body) {
        match name.as_ref() {
            "choice" => {
                choice = Some(match value.as_ref() {
                    "pay" => Choice::Pay,
                    "decline" => Choice::Decline,
                    other => return Err(format!("unknown choice {other:?}: pay or decline")),
                });
            }
            "return_to" => return_to = allowed_return(&value),
            _ => {}
        }
    }
    Ok(Form {
        choice: choice.ok_or("the form has no choice: pay or decline")?,
        return_to,
    })
}

/// `return_to` from a query string, if present and allowed.
pub(crate) fn return_to_in(query: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "return_to")
        .and_then(|(_, value)| allowed_return(&value))
}

/// Only loopback `http://` URLs: the browser goes back to a local app.
pub(crate) fn allowed_return(url: &str) -> Option<String> {
    let rest = url.strip_prefix("http://")?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    matches!(host, "127.0.0.1" | "localhost" | "[::1]").then(|| url.to_owned())
}

/// What the page shows of an intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Shown<'a> {
    /// The intent (or session) id.
    pub id: &'a str,
    /// Where the page's form posts.
    pub action: &'a str,
    /// Minor units.
    pub amount: i64,
    /// Lower-case ISO code.
    pub currency: &'a str,
    /// `requires_payment_method`, `succeeded` or `canceled`.
    pub status: &'a str,
    /// The last decline message, if any.
    pub declined: Option<&'a str>,
}

/// `12345, "eur"` → `€123.45`.
pub(crate) fn amount_text(amount: i64, currency: &str) -> String {
    let sign = if amount < 0 { "-" } else { "" };
    let (units, cents) = (amount.abs() / 100, amount.abs() % 100);
    match currency {
        "eur" => format!("{sign}€{units}.{cents:02}"),
        other => format!("{sign}{units}.{cents:02} {}", other.to_ascii_uppercase()),
    }
}

/// The checkout page for `intent`.
pub(crate) fn page(intent: &Shown<'_>, return_to: Option<&str>) -> String {
    let amount = amount_text(intent.amount, intent.currency);
    let id = escape(intent.id);
    let action = escape(intent.action);
    let back = return_to.map(|url| format!(r#"<p><a href="{0}">Back to the shop</a></p>"#, escape(url)));
    let body = match intent.status {
        "requires_payment_method" => {
            let hidden = return_to.map_or(String::new(), |url| {
                format!(r#"<input type="hidden" name="return_to" value="{}">"#, escape(url))
            });
            let declined = intent.declined.map_or(String::new(), |m| {
                format!(r#"<p role="alert" class="declined">{}</p>"#, escape(m))
            });
            format!(
                r#"<p>Amount due: <strong id="amount">{amount}</strong></p>
{declined}<form method="post" action="{action}">
{hidden}<button type="submit" name="choice" value="pay" id="pay">Pay {amount}</button>
<button type="submit" name="choice" value="decline" id="decline">Decline the card</button>
</form>"#
            )
        }
        "succeeded" => format!(
            r#"<p id="outcome">Paid {amount}. Thank you.</p>{}"#,
            back.unwrap_or_default()
        ),
        _ => format!(
            r#"<p id="outcome">This payment was cancelled.</p>{}"#,
            back.unwrap_or_default()
        ),
    };
    format!(
        r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Simulated checkout</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem}}
button{{font:inherit;padding:.5rem 1rem;margin:.25rem .5rem .25rem 0}}.declined{{color:#a00}}</style></head>
<body><main><h1>Simulated checkout</h1>
<p>Payment <code>{id}</code> — a test provider; no money moves.</p>
{body}
</main></body></html>"#
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_names_the_choice_and_a_loopback_return_address() {
        let form = parse_form(b"choice=pay&return_to=http%3A%2F%2F127.0.0.1%3A3000%2Fportal%2Forders%2Fx").unwrap();
        assert_eq!(form.choice, Choice::Pay);
        assert_eq!(form.return_to.as_deref(), Some("http://127.0.0.1:3000/portal/orders/x"));
        assert_eq!(parse_form(b"choice=decline").unwrap().choice, Choice::Decline);
        assert!(parse_form(b"choice=steal").is_err());
        assert!(parse_form(b"").is_err());
    }

    #[test]
    fn only_loopback_return_addresses_are_followed() {
        assert!(return_to_in("return_to=http://localhost:3000/portal").is_some());
        assert!(return_to_in("return_to=http://127.0.0.1/x").is_some());
        assert_eq!(return_to_in("return_to=https://evil.example/"), None);
        assert_eq!(return_to_in("return_to=http://evil.example/127.0.0.1:3/"), None);
        assert_eq!(return_to_in("return_to=http://127.0.0.1.evil.example/"), None);
        assert_eq!(return_to_in(""), None);
    }

    #[test]
    fn the_page_escapes_what_it_shows_and_offers_pay_while_unpaid() {
        let shown = Shown {
            id: "pi_1",
            action: "/checkout/pi_1",
            amount: 57_898,
            currency: "eur",
            status: "requires_payment_method",
            declined: Some("<b>declined</b>"),
        };
        let html = page(&shown, Some("http://127.0.0.1:3000/?a=\"b\""));
        assert!(html.contains("Pay €578.98"), "{html}");
        assert!(html.contains("&lt;b&gt;declined"), "{html}");
        assert!(
            html.contains("value=\"http://127.0.0.1:3000/?a=&quot;b&quot;\""),
            "{html}"
        );
        let paid = page(
            &Shown {
                status: "succeeded",
                ..shown
            },
            None,
        );
        assert!(!paid.contains("<form"), "{paid}");
    }
}
