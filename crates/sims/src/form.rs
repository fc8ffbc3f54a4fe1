//! Stripe's request encoding, parsed strictly: an
//! `application/x-www-form-urlencoded` body (or a GET's query) whose keys
//! nest with brackets (`metadata[order_id]=…`, `line_items[0][quantity]=1`,
//! `expand[]=…`), read into typed values by [`Params`], which answers
//! Stripe's own 400 error objects: `parameter_unknown` for a key nobody
//! read, `parameter_missing`, `parameter_invalid_integer`, and so on.

use serde_json::{Map, Value};

use crate::server::{Request, Response};

/// The parameters of one request, as a tree with text leaves.
#[derive(Debug)]
pub(crate) struct Params {
    /// Where these parameters sit (`""` at the top, `line_items[0]` below).
    prefix: String,
    fields: Map<String, Value>,
}

fn invalid(param: &str, code: &str, message: String) -> Response {
    Response::error(400, "invalid_request_error", message)
        .with_error_field("code", code)
        .with_error_field("param", param)
}

/// Splits `a[b][c]` into `["a", "b", "c"]`; `None` when the brackets are unbalanced.
fn key_path(key: &str) -> Option<Vec<String>> {
    let (head, mut rest) = match key.find('[') {
        Some(i) => (&key[..i], &key[i..]),
        None => (key, ""),
    };
    if head.is_empty() {
        return None;
    }
    let mut path = vec![head.to_owned()];
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[')?;
        let end = inner.find(']')?;
        path.push(inner[..end].to_owned());
        rest = &inner[end + 1..];
    }
    Some(path)
}

fn insert(tree: &mut Map<String, Value>, path: &[String], value: String, key: &str) -> Result<(), Response> {
    let conflict = || {
        invalid(
            key,
            "parameter_invalid",
            format!("Invalid parameter structure at {key}."),
        )
    };
    let (first, rest) = path.split_first().ok_or_else(conflict)?;
    // `expand[]=a&expand[]=b`: each empty index appends.
    let name = if first.is_empty() {
        tree.len().to_string()
    } else {
        first.clone()
    };
    if rest.is_empty() {
        if tree.contains_key(&name) {
            return Err(conflict());
        }
        tree.insert(name, Value::String(value));
        return Ok(());
    }
    let child = tree.entry(name).or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(child) = child else {
        return Err(conflict());
    };
    insert(child, rest, value, key)
}

impl Params {
    /// Parses a form-encoded body (or query string).
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, Response> {
        let mut fields = Map::new();
        for (key, value) in form_urlencoded::parse(bytes) {
            let path = key_path(&key)
                .ok_or_else(|| invalid(&key, "parameter_invalid", format!("Invalid parameter name: {key}.")))?;
            insert(&mut fields, &path, value.into_owned(), &key)?;
        }
        Ok(Self {
            prefix: String::new(),
            fields,
        })
    }

    /// A request's parameters: the form body of a POST (refusing any other
    /// media type), the query of any other method.
    pub(crate) fn of(req: &Request) -> Result<Self, Response> {
        if req.method == hyper::Method::POST {
            let form = req.header("content-type").is_some_and(|ct| {
                ct.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
            });
            if !form && !req.body.is_empty() {
                return Err(Response::error(
                    400,
                    "invalid_request_error",
                    "Request bodies must be application/x-www-form-urlencoded, with nested keys in brackets (metadata[key]=value).",
                ));
            }
            Self::parse(&req.body)
        } else {
            Self::parse(req.query.as_bytes())
        }
    }

    /// The whole tree, for comparing the parameters of two requests.
    pub(crate) fn to_value(&self) -> Value {
        Value::Object(self.fields.clone())
    }

    fn full(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}[{name}]", self.prefix)
        }
    }

    fn text(&mut self, name: &str) -> Result<Option<String>, Response> {
        match self.fields.remove(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(invalid(
                &self.full(name),
                "parameter_invalid_string",
                format!("Invalid string: {{...}} for {}.", self.full(name)),
            )),
        }
    }

    /// An optional text parameter.
    pub(crate) fn string(&mut self, name: &str) -> Result<Option<String>, Response> {
        self.text(name)
    }

    /// A required text parameter.
    pub(crate) fn required_string(&mut self, name: &str) -> Result<String, Response> {
        self.text(name)?.ok_or_else(|| self.missing(name))
    }

    fn missing(&self, name: &str) -> Response {
        let full = self.full(name);
        invalid(&full, "parameter_missing", format!("Missing required param: {full}."))
    }

    /// An optional integer parameter.
    pub(crate) fn integer(&mut self, name: &str) -> Result<Option<i64>, Response> {
        match self.text(name)? {
            None => Ok(None),
            Some(raw) => raw.parse().map(Some).map_err(|_| {
                invalid(
                    &self.full(name),
                    "parameter_invalid_integer",
                    format!("Invalid integer: {raw}"),
                )
            }),
        }
    }

    /// A required integer parameter.
    pub(crate) fn required_integer(&mut self, name: &str) -> Result<i64, Response> {
        self.integer(name)?.ok_or_else(|| self.missing(name))
    }

    /// An optional boolean parameter (`true` or `false`).
    pub(crate) fn boolean(&mut self, name: &str) -> Result<Option<bool>, Response> {
        match self.text(name)?.as_deref() {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(raw) => Err(invalid(
                &self.full(name),
                "parameter_invalid_boolean",
                format!("Invalid boolean: {raw}"),
            )),
        }
    }

    /// An optional text parameter that must be one of `allowed`.
    pub(crate) fn one_of(&mut self, name: &str, allowed: &[&str]) -> Result<Option<String>, Response> {
        match self.text(name)? {
            Some(v) if !allowed.contains(&v.as_str()) => Err(invalid(
                &self.full(name),
                "parameter_invalid",
                format!("Invalid {}: must be one of {}", self.full(name), allowed.join(", ")),
            )),
            other => Ok(other),
        }
    }

    /// A nested object of parameters, if given.
    pub(crate) fn object(&mut self, name: &str) -> Result<Option<Params>, Response> {
        match self.fields.remove(name) {
            None => Ok(None),
            Some(Value::Object(fields)) => Ok(Some(Params {
                prefix: self.full(name),
                fields,
            })),
            Some(_) => Err(invalid(
                &self.full(name),
                "parameter_invalid",
                format!(
                    "Invalid object: {} must be a hash (use {0}[key]=value).",
                    self.full(name)
                ),
            )),
        }
    }

    /// A list of objects (`name[0][…]`, `name[1][…]`), in index order;
    /// indexes must be 0, 1, 2, …
    pub(crate) fn list(&mut self, name: &str) -> Result<Vec<Params>, Response> {
        let Some(mut outer) = self.object(name)? else {
            return Ok(Vec::new());
        };
        let mut items = Vec::new();
        for i in 0.. {
            let index = i.to_string();
            if outer.fields.is_empty() {
                break;
            }
            match outer.object(&index)? {
                Some(item) => items.push(item),
                None => {
                    return Err(invalid(
                        &outer.prefix,
                        "parameter_invalid",
                        format!("Invalid array: {} must be indexed 0, 1, 2, …", outer.prefix),
                    ))
                }
            }
        }
        Ok(items)
    }

    /// A list of strings (`expand[]=a&expand[]=b` or `expand[0]=a`).
    pub(crate) fn strings(&mut self, name: &str) -> Result<Vec<String>, Response> {
        let Some(mut outer) = self.object(name)? else {
            return Ok(Vec::new());
        };
        let mut items = Vec::new();
        for i in 0..outer.fields.len() {
            items.push(outer.required_string(&i.to_string())?);
        }
        outer.finish()?;
        Ok(items)
    }

    /// `metadata`: string keys to string values (at most 50, as Stripe allows).
    pub(crate) fn metadata(&mut self, name: &str) -> Result<Map<String, Value>, Response> {
        let Some(mut outer) = self.object(name)? else {
            return Ok(Map::new());
        };
        if outer.fields.len() > 50 {
            return Err(invalid(
                name,
                "parameter_invalid",
                "Metadata can have at most 50 keys.".into(),
            ));
        }
        let keys: Vec<String> = outer.fields.keys().cloned().collect();
        let mut out = Map::new();
        for key in keys {
            let value = outer.required_string(&key)?;
            out.insert(key, Value::String(value));
        }
        Ok(out)
    }

    /// Refuses whatever nobody read, as Stripe does.
    pub(crate) fn finish(self) -> Result<(), Response> {
        match self.fields.keys().next() {
            None => Ok(()),
            Some(name) => {
                let full = self.full(name);
                Err(invalid(
                    &full,
                    "parameter_unknown",
                    format!("Received unknown parameter: {full}"),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(r: &Response) -> (&str, &str) {
        (
            r.body["error"]["code"].as_str().unwrap_or_default(),
            r.body["error"]["param"].as_str().unwrap_or_default(),
        )
    }

    #[test]
    fn bracketed_keys_nest_and_everything_read_is_accepted() {
        let mut p = Params::parse(
            b"amount=100&metadata[order_id]=o1&line_items[0][quantity]=2&line_items[1][quantity]=3&expand[]=a&expand[]=b",
        )
        .unwrap();
        assert_eq!(p.required_integer("amount").unwrap(), 100);
        assert_eq!(p.metadata("metadata").unwrap()["order_id"], "o1");
        let items = p.list("line_items").unwrap();
        let quantities: Vec<i64> = items
            .into_iter()
            .map(|mut i| i.required_integer("quantity").unwrap())
            .collect();
        assert_eq!(quantities, [2, 3]);
        assert_eq!(p.strings("expand").unwrap(), ["a", "b"]);
        assert!(p.finish().is_ok());
    }

    #[test]
    fn unknown_missing_and_malformed_parameters_get_stripes_error_codes() {
        let mut p = Params::parse(b"amount=12.5&colour=red").unwrap();
        assert_eq!(
            error(&p.integer("amount").unwrap_err()),
            ("parameter_invalid_integer", "amount")
        );
        assert_eq!(
            error(&p.required_string("currency").unwrap_err()),
            ("parameter_missing", "currency")
        );
        assert_eq!(error(&p.finish().unwrap_err()), ("parameter_unknown", "colour"));
        let mut nested = Params::parse(b"payment_intent_data[colour]=red").unwrap();
        let inner = nested.object("payment_intent_data").unwrap().unwrap();
        assert_eq!(
            error(&inner.finish().unwrap_err()),
            ("parameter_unknown", "payment_intent_data[colour]")
        );
        assert!(Params::parse(b"a[b=1").is_err());
        assert!(Params::parse(b"a=1&a[b]=2").is_err());
        assert!(Params::parse(b"a=1&a=2").is_err());
    }
}
