//! Field errors as kube-apiserver reports them (`k8s.io/apimachinery/pkg/util/validation/field`):
//! the kind maps to a `Status` cause `reason`, and `Display` prints the very line kubectl shows,
//! e.g. `spec.instances: Invalid value: 11: spec.instances in body should be less than or equal to 10`.

use serde_json::Value;
use std::fmt;

/// The kind of a field error; [`FieldErrorKind::reason`] is the `Status` cause `reason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldErrorKind {
    /// `FieldValueNotFound`.
    NotFound,
    /// `FieldValueRequired`: a required field is missing.
    Required,
    /// `FieldValueDuplicate`: a set item or map-list key appears twice.
    Duplicate,
    /// `FieldValueInvalid`: malformed value, failed pattern, bound, format or CEL rule.
    Invalid,
    /// `FieldValueTypeInvalid`: the value has the wrong JSON type.
    TypeInvalid,
    /// `FieldValueNotSupported`: not one of the enum values.
    NotSupported,
    /// `FieldValueForbidden`.
    Forbidden,
    /// `FieldValueTooLong`.
    TooLong,
    /// `FieldValueTooMany`: more items (or properties) than allowed.
    TooMany,
    /// `InternalError`.
    Internal,
}

impl FieldErrorKind {
    /// The `reason` of a `Status` cause (`metav1.CauseType`).
    pub fn reason(self) -> &'static str {
        match self {
            Self::NotFound => "FieldValueNotFound",
            Self::Required => "FieldValueRequired",
            Self::Duplicate => "FieldValueDuplicate",
            Self::Invalid => "FieldValueInvalid",
            Self::TypeInvalid => "FieldValueTypeInvalid",
            Self::NotSupported => "FieldValueNotSupported",
            Self::Forbidden => "FieldValueForbidden",
            Self::TooLong => "FieldValueTooLong",
            Self::TooMany => "FieldValueTooMany",
            Self::Internal => "InternalError",
        }
    }

    /// The words the API server prints for the kind (`field.ErrorType.String()`).
    pub fn words(self) -> &'static str {
        match self {
            Self::NotFound => "Not found",
            Self::Required => "Required value",
            Self::Duplicate => "Duplicate value",
            Self::Invalid | Self::TypeInvalid => "Invalid value",
            Self::NotSupported => "Unsupported value",
            Self::Forbidden => "Forbidden",
            Self::TooLong => "Too long",
            Self::TooMany => "Too many",
            Self::Internal => "Internal error",
        }
    }

    /// Kinds whose message never repeats the offending value.
    fn omits_value(self) -> bool {
        matches!(
            self,
            Self::Required | Self::Forbidden | Self::TooLong | Self::Internal
        )
    }
}

/// One violation of a schema, named by its field path (`spec.constants[0].name`).
#[derive(Clone, Debug, PartialEq)]
pub struct FieldError {
    /// Path of the field, e.g. `spec.instances`; empty for the object itself.
    pub field: String,
    /// What is wrong.
    pub kind: FieldErrorKind,
    /// The whole line as kube-apiserver prints it: `<field>: <body>`.
    pub message: String,
}

impl FieldError {
    /// Builds an error the way `field.Error.Error()` prints it. `value` is the offending value
    /// (`None` when the kind shows no value); `detail` is the explanation after it.
    pub fn new(
        field: impl Into<String>,
        kind: FieldErrorKind,
        value: Option<&Value>,
        detail: &str,
    ) -> Self {
        let field = field.into();
        let mut body = kind.words().to_string();
        if !kind.omits_value()
            && let Some(value) = value
        {
            body.push_str(": ");
            body.push_str(&go_value(value));
        }
        if !detail.is_empty() {
            body.push_str(": ");
            body.push_str(detail);
        }
        let message = format!("{}: {body}", display_field(&field));
        FieldError {
            field,
            kind,
            message,
        }
    }

    /// `field.Required(path, detail)`.
    pub fn required(field: impl Into<String>, detail: &str) -> Self {
        Self::new(field, FieldErrorKind::Required, None, detail)
    }

    /// `field.Invalid(path, value, detail)`.
    pub fn invalid(field: impl Into<String>, value: &Value, detail: &str) -> Self {
        Self::new(field, FieldErrorKind::Invalid, Some(value), detail)
    }

    /// `field.Forbidden(path, detail)`.
    pub fn forbidden(field: impl Into<String>, detail: &str) -> Self {
        Self::new(field, FieldErrorKind::Forbidden, None, detail)
    }

    /// `field.Duplicate(path, value)`.
    pub fn duplicate(field: impl Into<String>, value: &Value) -> Self {
        Self::new(field, FieldErrorKind::Duplicate, Some(value), "")
    }

    /// `field.NotSupported(path, value, supported)`: supported values are quoted, like Go's `%q`.
    pub fn not_supported(field: impl Into<String>, value: &Value, supported: &[String]) -> Self {
        let detail = if supported.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = supported.iter().map(|s| go_quote(s)).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        Self::new(field, FieldErrorKind::NotSupported, Some(value), &detail)
    }

    /// The message without the leading field name (`field.Error.ErrorBody()`): what a `Status`
    /// cause carries in `message`.
    pub fn body(&self) -> &str {
        let prefix_len = display_field(&self.field).len() + 2;
        self.message.get(prefix_len..).unwrap_or(&self.message)
    }

    /// The `Status` cause for this error: `{"reason", "message", "field"}` (the field of an
    /// error about the whole object is `<nil>`, as the API server sends it).
    pub fn to_cause(&self) -> Value {
        serde_json::json!({
            "reason": self.kind.reason(),
            "message": self.body(),
            "field": display_field(&self.field),
        })
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FieldError {}

/// The message of a 422 `Invalid` Status as kube-apiserver words it:
/// `MendixEnvironment.mendixops.io "prod" is invalid: [a, b]` (no brackets for a single error).
pub fn invalid_status_message(
    kind: &str,
    group: &str,
    name: &str,
    errors: &[FieldError],
) -> String {
    let qualified = if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    };
    let lines: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    let list = match lines.as_slice() {
        [] => String::new(),
        [one] => (*one).to_string(),
        many => format!("[{}]", many.join(", ")),
    };
    format!("{qualified} {} is invalid: {list}", go_quote(name))
}

/// Go's `field.Path.String()` of the root is `<nil>`; everything else prints as is.
fn display_field(field: &str) -> &str {
    if field.is_empty() { "<nil>" } else { field }
}

/// A value as `field.Error` prints it: numbers and booleans bare, strings quoted (`%q`),
/// null as `"null"`, objects and arrays as Go's `%#v` of `map[string]interface {}` / `[]interface {}`.
pub fn go_value(value: &Value) -> String {
    match value {
        Value::Null => "\"null\"".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_number(n),
        Value::String(s) => go_quote(s),
        Value::Array(_) | Value::Object(_) => go_sharp_v(value),
    }
}

fn go_sharp_v(value: &Value) -> String {
    match value {
        Value::Null => "interface {}(nil)".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_number(n),
        Value::String(s) => go_quote(s),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(go_sharp_v).collect();
            format!("[]interface {{}}{{{}}}", inner.join(", "))
        }
        Value::Object(map) => {
            // Go prints map keys sorted; serde_json's map is sorted too unless preserve_order.
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let inner: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", go_quote(k), go_sharp_v(&map[k])))
                .collect();
            format!("map[string]interface {{}}{{{}}}", inner.join(", "))
        }
    }
}

/// Integers as they are; floats as Go's `%v` of a float64 (`2`, `1.5`, `1e+06`).
fn go_number(n: &serde_json::Number) -> String {
    match n.as_f64() {
        Some(f) if !n.is_i64() && !n.is_u64() => super::validate::go_float(f),
        _ => n.to_string(),
    }
}

/// Go's `%q`/`strconv.Quote`: double quotes, backslash escapes, printable Unicode kept.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => {
                if (c as u32) <= 0xffff {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn invalid_value_prints_like_the_api_server() {
        let e = FieldError::invalid(
            "spec.instances",
            &json!(11),
            "spec.instances in body should be less than or equal to 10",
        );
        assert_eq!(
            e.to_string(),
            "spec.instances: Invalid value: 11: spec.instances in body should be less than or equal to 10"
        );
        assert_eq!(
            e.body(),
            "Invalid value: 11: spec.instances in body should be less than or equal to 10"
        );
        assert_eq!(e.to_cause()["reason"], "FieldValueInvalid");
        assert_eq!(e.to_cause()["field"], "spec.instances");
    }

    #[test]
    fn unsupported_value_lists_quoted_values() {
        let e = FieldError::not_supported(
            "spec.runState",
            &json!("Paused"),
            &["Running".into(), "Stopped".into()],
        );
        assert_eq!(
            e.message,
            r#"spec.runState: Unsupported value: "Paused": supported values: "Running", "Stopped""#
        );
        assert_eq!(e.kind.reason(), "FieldValueNotSupported");
    }

    #[test]
    fn required_and_forbidden_omit_the_value() {
        assert_eq!(
            FieldError::required("spec.target", "").message,
            "spec.target: Required value"
        );
        assert_eq!(
            FieldError::forbidden("spec", "no").message,
            "spec: Forbidden: no"
        );
    }

    #[test]
    fn values_print_like_go() {
        assert_eq!(go_value(&json!(null)), "\"null\"");
        assert_eq!(go_value(&json!("a\"b\n")), r#""a\"b\n""#);
        assert_eq!(go_value(&json!(true)), "true");
        assert_eq!(go_value(&json!(1.5)), "1.5");
        assert_eq!(
            go_value(&json!({"name": "x"})),
            r#"map[string]interface {}{"name":"x"}"#
        );
        assert_eq!(go_value(&json!([1, "a"])), r#"[]interface {}{1, "a"}"#);
    }

    #[test]
    fn status_message_lists_every_error() {
        let errors = vec![
            FieldError::required("spec.target", ""),
            FieldError::invalid("spec.instances", &json!(11), "too big"),
        ];
        assert_eq!(
            invalid_status_message("MendixEnvironment", "mendixops.io", "prod", &errors),
            r#"MendixEnvironment.mendixops.io "prod" is invalid: [spec.target: Required value, spec.instances: Invalid value: 11: too big]"#
        );
        assert_eq!(
            invalid_status_message("Secret", "", "s", &errors[..1]),
            r#"Secret "s" is invalid: spec.target: Required value"#
        );
    }
}
