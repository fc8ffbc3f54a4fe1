//! `application/x-www-form-urlencoded` bodies in Stripe's style: nested
//! objects as bracketed keys (`metadata[order_id]=…`), lists as indexed
//! keys (`expand[0]=…`).

/// One parameter value: text, or a nested object of parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param {
    /// A leaf value.
    Text(String),
    /// Nested parameters, in order.
    Object(Vec<(String, Param)>),
    /// A list.
    List(Vec<Param>),
}

impl From<&str> for Param {
    fn from(s: &str) -> Self {
        Param::Text(s.to_owned())
    }
}

impl From<String> for Param {
    fn from(s: String) -> Self {
        Param::Text(s)
    }
}

impl From<i64> for Param {
    fn from(n: i64) -> Self {
        Param::Text(n.to_string())
    }
}

impl From<bool> for Param {
    fn from(b: bool) -> Self {
        Param::Text(b.to_string())
    }
}

/// Encodes `params` as a form body with bracketed keys.
pub fn encode(params: &[(&str, Param)]) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (name, value) in params {
        flatten(&mut out, (*name).to_owned(), value);
    }
    out.finish()
}

fn flatten(out: &mut form_urlencoded::Serializer<'_, String>, key: String, value: &Param) {
    match value {
        Param::Text(text) => {
            out.append_pair(&key, text);
        }
        Param::Object(fields) => {
            for (name, inner) in fields {
                flatten(out, format!("{key}[{name}]"), inner);
            }
        }
        Param::List(items) => {
            for (i, inner) in items.iter().enumerate() {
                flatten(out, format!("{key}[{i}]"), inner);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_objects_and_lists_become_bracketed_keys() {
        let body = encode(&[
            ("amount", 19296.into()),
            ("currency", "eur".into()),
            (
                "metadata",
                Param::Object(vec![
                    ("order_id".into(), "o 1&2".into()),
                    ("tenant".into(), "acme".into()),
                ]),
            ),
            ("expand", Param::List(vec!["latest_charge".into()])),
        ]);
        assert_eq!(
            body,
            "amount=19296&currency=eur&metadata%5Border_id%5D=o+1%262&metadata%5Btenant%5D=acme&expand%5B0%5D=latest_charge"
        );
    }
}
