//! Request body decoding: media type, size limit, syntax, then shape.
//!
//! Each failure gets the status that tells the client what to fix: 415 for
//! the wrong media type, 413 above the size limit, 400 when the bytes are not
//! JSON (with line and column), 422 when the JSON has the wrong shape (with a
//! JSON pointer to the field, the rule, and what would be accepted). Whether
//! unknown fields are rejected is the target type's choice
//! (`#[serde(deny_unknown_fields)]`).

use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::problem::{escape_pointer_segment, pointer, FieldError};

/// The media type request bodies must have.
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// The default body size limit: 64 KiB, far above any order we accept.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// `Ok` when `content_type` is `application/json`, with no parameter other
/// than `charset=utf-8` (JSON is UTF-8 by RFC 8259); 415 naming it otherwise.
pub fn check_content_type(content_type: Option<&str>) -> Result<(), ApiError> {
    let unsupported = || ApiError::UnsupportedMediaType {
        received: content_type.map(str::to_owned),
        accepted: vec![JSON_CONTENT_TYPE],
    };
    let value = content_type.ok_or_else(unsupported)?;
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case(JSON_CONTENT_TYPE) {
        return Err(unsupported());
    }
    for parameter in parts {
        let (name, val) = parameter.split_once('=').ok_or_else(unsupported)?;
        let val = val.trim().trim_matches('"');
        if !(name.trim().eq_ignore_ascii_case("charset") && val.eq_ignore_ascii_case("utf-8")) {
            return Err(unsupported());
        }
    }
    Ok(())
}

/// Decodes a JSON request body into `T`.
///
/// Errors: 415 ([`check_content_type`]); 413 when `body.len() > limit_bytes`
/// (exactly `limit_bytes` is accepted); 400 [`ApiError::MalformedJson`] for a
/// syntax error, truncation or trailing data; 422 with one [`FieldError`] for
/// a wrong type, an unknown field, a missing field or a bad value.
pub fn decode_json<T: DeserializeOwned>(
    content_type: Option<&str>,
    body: &[u8],
    limit_bytes: usize,
) -> Result<T, ApiError> {
    check_content_type(content_type)?;
    if body.len() > limit_bytes {
        return Err(ApiError::PayloadTooLarge {
            limit_bytes,
            received_bytes: body.len(),
        });
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = json_pointer(e.path());
        from_serde_error(e.inner(), path)
    })?;
    // Trailing bytes after the value are a syntax error, not something to ignore.
    de.end().map_err(|e| from_serde_error(&e, String::new()))?;
    Ok(value)
}

/// Converts a serde path (`items[0].config`) to an RFC 6901 pointer
/// (`/items/0/config`). Stops at the first segment serde could not name
/// (inside untagged or internally tagged enums), so the pointer names the
/// nearest field that is known, never a wrong one.
pub fn json_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let segments = path.iter().map_while(|segment| match segment {
        Segment::Seq { index } => Some(index.to_string()),
        Segment::Map { key } => Some(key.clone()),
        Segment::Enum { variant } => Some(variant.clone()),
        Segment::Unknown => None,
    });
    pointer(segments)
}

fn from_serde_error(error: &serde_json::Error, at: String) -> ApiError {
    use serde_json::error::Category;
    let message = message_without_position(error);
    match error.classify() {
        Category::Syntax | Category::Eof | Category::Io => ApiError::MalformedJson {
            line: error.line(),
            column: error.column(),
            message,
        },
        Category::Data => ApiError::validation(vec![field_error(&message, at)]),
    }
}

/// serde_json appends " at line L column C" to its messages; the field error
/// has a pointer instead, so the position is noise there.
fn message_without_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rsplit_once(" at line ") {
        Some((message, position)) if position.contains(" column ") => message.to_owned(),
        _ => text,
    }
}

/// Turns serde's data-error message into a field error. The messages are
/// serde's stable `de::Error` texts ("unknown field `x`, expected one of `a`,
/// `b`", "missing field `x`", "invalid type: ..., expected ..."); anything
/// else (a type's own `custom` error) becomes rule `invalid`.
fn field_error(message: &str, at: String) -> FieldError {
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let (name, expected) = split_name_and_expected(rest);
        // serde_path_to_error records the offending key itself, so `at` names the field.
        return FieldError::new(
            at,
            "unknown_field",
            format!("{name} is not a known field"),
            json!(expected),
        );
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        let (name, expected) = split_name_and_expected(rest);
        return FieldError::new(
            at,
            "one_of",
            format!("{name} is not one of the accepted values"),
            json!(expected),
        );
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        let name = rest.trim_matches('`').to_owned();
        // A missing field is noticed at the end of its object, so `at` names the object.
        let pointer = format!("{at}/{}", escape_pointer_segment(&name));
        return FieldError::new(pointer, "required", format!("{name} is required"), Value::Null);
    }
    for prefix in ["invalid type: ", "invalid value: ", "invalid length "] {
        if message.starts_with(prefix) {
            let accepted = message
                .rsplit_once(", expected ")
                .map_or(Value::Null, |(_, expected)| Value::String(expected.to_owned()));
            return FieldError::new(at, "type", message.to_owned(), accepted);
        }
    }
    FieldError::new(at, "invalid", message.to_owned(), Value::Null)
}

/// From "`x`, expected one of `a`, `b`" returns ("x", ["a", "b"]); also
/// handles "expected `a`", "expected `a` or `b`" and "there are no fields".
fn split_name_and_expected(rest: &str) -> (String, Vec<String>) {
    let (name_part, expected_part) = rest.split_once(", ").unwrap_or((rest, ""));
    let name = name_part.trim_matches('`').to_owned();
    let expected = if expected_part.starts_with("expected") {
        expected_part.split('`').skip(1).step_by(2).map(str::to_owned).collect()
    } else {
        Vec::new()
    };
    (name, expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Order {
        items: Vec<Item>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Item {
        product: Product,
        config: Config,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum Product {
        Vps,
        Kubernetes,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Config {
        region: String,
        workers: u32,
    }

    const CT: Option<&str> = Some("application/json");

    fn decode(body: &str) -> Result<Order, ApiError> {
        decode_json(CT, body.as_bytes(), DEFAULT_BODY_LIMIT)
    }

    fn only_field_error(err: ApiError) -> FieldError {
        match err {
            ApiError::Unprocessable { mut errors, .. } if errors.len() == 1 => errors.remove(0),
            other => panic!("expected one field error, got {other:?}"),
        }
    }

    const VALID: &str = r#"{"items":[{"product":"vps","config":{"region":"lj-1","workers":3}}]}"#;

    #[test]
    fn a_valid_body_decodes() {
        let order = decode(VALID).unwrap();
        assert_eq!(order.items[0].config.workers, 3);
    }

    #[test]
    fn a_wrong_content_type_is_415_naming_what_is_accepted() {
        let err = decode_json::<Order>(Some("text/plain"), VALID.as_bytes(), DEFAULT_BODY_LIMIT).unwrap_err();
        assert_eq!(err.status(), 415);
        assert_eq!(err.to_problem().extensions["accepted"], json!(["application/json"]));
        let missing = decode_json::<Order>(None, VALID.as_bytes(), DEFAULT_BODY_LIMIT).unwrap_err();
        assert_eq!(missing.status(), 415);
    }

    #[test]
    fn json_with_a_utf8_charset_and_any_case_is_accepted() {
        assert!(check_content_type(Some("Application/JSON; charset=UTF-8")).is_ok());
        assert!(check_content_type(Some("application/json;charset=\"utf-8\"")).is_ok());
        assert!(check_content_type(Some("application/json; charset=latin1")).is_err());
        assert!(check_content_type(Some("application/jsonp")).is_err());
    }

    #[test]
    fn a_body_exactly_at_the_limit_is_accepted_and_one_byte_more_is_413() {
        // given a valid body padded with whitespace to exactly the limit
        let limit = 200;
        let at_limit = format!("{VALID:<limit$}");
        assert_eq!(at_limit.len(), limit);
        // then it decodes
        assert!(decode_json::<Order>(CT, at_limit.as_bytes(), limit).is_ok());
        // and one byte more is too large, naming the limit
        let over = format!("{at_limit} ");
        let err = decode_json::<Order>(CT, over.as_bytes(), limit).unwrap_err();
        assert_eq!(
            err,
            ApiError::PayloadTooLarge {
                limit_bytes: 200,
                received_bytes: 201
            }
        );
        assert!(err.to_problem().detail.contains("the limit is 200 bytes"));
    }

    #[test]
    fn malformed_json_is_400_with_line_and_column() {
        let err = decode("{\n  \"items\": [\n    }").unwrap_err();
        match err {
            ApiError::MalformedJson { line, column, .. } => assert_eq!((line, column), (3, 5)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_empty_or_truncated_body_or_trailing_data_is_malformed() {
        for body in ["", "{\"items\":[", &format!("{VALID} x")] {
            assert_eq!(decode(body).unwrap_err().status(), 400, "{body:?}");
        }
    }

    #[test]
    fn a_wrong_type_is_422_pointing_at_the_field() {
        let err = decode(r#"{"items":[{"product":"vps","config":{"region":"lj-1","workers":"three"}}]}"#).unwrap_err();
        let field = only_field_error(err);
        assert_eq!(field.pointer, "/items/0/config/workers");
        assert_eq!(field.rule, "type");
        assert_eq!(field.accepted, json!("u32"));
    }

    #[test]
    fn an_unknown_field_is_422_listing_the_accepted_names() {
        let err = decode(r#"{"items":[{"product":"vps","config":{"region":"lj-1","workers":3,"colour":"red"}}]}"#)
            .unwrap_err();
        let field = only_field_error(err);
        assert_eq!(field.pointer, "/items/0/config/colour");
        assert_eq!(field.rule, "unknown_field");
        assert_eq!(field.accepted, json!(["region", "workers"]));
    }

    #[test]
    fn an_unknown_field_inside_an_object_of_the_same_name_points_below_it() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Outer {
            colour: Inner,
        }
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Inner {}
        let err = decode_json::<Outer>(CT, br#"{"colour":{"colour":1}}"#, DEFAULT_BODY_LIMIT).unwrap_err();
        assert_eq!(only_field_error(err).pointer, "/colour/colour");
    }

    #[test]
    fn a_missing_field_is_422_required_at_its_own_pointer() {
        let err = decode(r#"{"items":[{"product":"vps","config":{"region":"lj-1"}}]}"#).unwrap_err();
        let field = only_field_error(err);
        assert_eq!(field.pointer, "/items/0/config/workers");
        assert_eq!(field.rule, "required");
    }

    #[test]
    fn an_unknown_enum_value_is_one_of_the_variants() {
        let err = decode(r#"{"items":[{"product":"gpu","config":{"region":"lj-1","workers":3}}]}"#).unwrap_err();
        let field = only_field_error(err);
        assert_eq!(field.pointer, "/items/0/product");
        assert_eq!(field.rule, "one_of");
        assert_eq!(field.accepted, json!(["vps", "kubernetes"]));
    }

    #[test]
    fn serde_expected_lists_of_every_shape_are_parsed() {
        assert_eq!(
            split_name_and_expected("`x`, expected `a`"),
            ("x".to_owned(), vec!["a".to_owned()])
        );
        assert_eq!(
            split_name_and_expected("`x`, expected `a` or `b`"),
            ("x".to_owned(), vec!["a".to_owned(), "b".to_owned()])
        );
        assert_eq!(
            split_name_and_expected("`x`, there are no fields"),
            ("x".to_owned(), vec![])
        );
    }

    #[test]
    fn a_key_with_a_slash_is_escaped_in_the_pointer() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Tags {
            tags: std::collections::BTreeMap<String, u8>,
        }
        let err = decode_json::<Tags>(CT, br#"{"tags":{"a/b~c":"x"}}"#, DEFAULT_BODY_LIMIT).unwrap_err();
        assert_eq!(only_field_error(err).pointer, "/tags/a~1b~0c");
    }
}
