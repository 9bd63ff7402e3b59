//! String formats kube-apiserver checks for CRDs (the `strfmt` registry less the formats
//! apiextensions strips). Unknown formats are accepted, as the API server does.

use base64::Engine;
use regex::Regex;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

/// Whether `value` is valid for string `format`; `None` when the format is not checked.
pub(crate) fn check(format: &str, value: &str) -> Option<bool> {
    // go-openapi normalizes format names by dropping dashes: "date-time" == "datetime".
    let normalized = format.replace('-', "").to_ascii_lowercase();
    let ok = match normalized.as_str() {
        "datetime" => is_date_time(value),
        "date" => chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok(),
        "uuid" => matches(&UUID, value),
        "uuid3" => matches(&UUID3, value),
        "uuid4" => matches(&UUID4, value),
        "uuid5" => matches(&UUID5, value),
        "byte" => base64::engine::general_purpose::STANDARD
            .decode(value)
            .is_ok(),
        "ipv4" => value.parse::<Ipv4Addr>().is_ok(),
        "ipv6" => value.parse::<Ipv6Addr>().is_ok(),
        "cidr" => is_cidr(value),
        "mac" => matches(&MAC, value),
        "hostname" => is_hostname(value),
        "email" => matches(&EMAIL, value),
        "uri" => url::Url::parse(value).is_ok(),
        "duration" => matches(&DURATION, value),
        "hexcolor" => matches(&HEX_COLOR, value),
        "rgbcolor" => matches(&RGB_COLOR, value),
        "bsonobjectid" => value.len() == 24 && value.chars().all(|c| c.is_ascii_hexdigit()),
        "password" => true,
        _ => return None,
    };
    Some(ok)
}

fn matches(re: &LazyLock<Regex>, value: &str) -> bool {
    re.is_match(value)
}

// The patterns follow go-openapi/strfmt.
static UUID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$")
        .expect("static regex")
});
static UUID3: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$")
        .expect("static regex")
});
static UUID4: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$")
        .expect("static regex")
});
static UUID5: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$")
        .expect("static regex")
});
static MAC: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$").expect("static regex"));
static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[^@\s]+@[^@\s]+\.[^@\s]+$").expect("static regex"));
static DURATION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)\s*(?:ns|us|µs|ms|s|m|h|d|w|nanoseconds?|microseconds?|milliseconds?|seconds?|minutes?|hours?|days?|weeks?)\s*)+$",
    )
    .expect("static regex")
});
static HEX_COLOR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$").expect("static regex"));
static RGB_COLOR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^rgb\(\s*\d{1,3}\s*,\s*\d{1,3}\s*,\s*\d{1,3}\s*\)$").expect("static regex")
});

/// RFC 3339 date-time as strfmt accepts it (also without seconds' fraction, with `Z` or offset).
fn is_date_time(value: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(value).is_ok()
        || chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
}

fn is_cidr(value: &str) -> bool {
    let Some((ip, bits)) = value.split_once('/') else {
        return false;
    };
    let Ok(bits) = bits.parse::<u8>() else {
        return false;
    };
    if let Ok(_v4) = ip.parse::<Ipv4Addr>() {
        bits <= 32
    } else if let Ok(_v6) = ip.parse::<Ipv6Addr>() {
        bits <= 128
    } else {
        false
    }
}

fn is_hostname(value: &str) -> bool {
    let host = value.strip_suffix('.').unwrap_or(value);
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn formats_accept_and_reject() {
        let cases = [
            ("date-time", "2024-01-31T10:00:00Z", true),
            ("date-time", "2024-01-31T10:00:00.123+02:00", true),
            ("date-time", "yesterday", false),
            ("date", "2024-02-29", true),
            ("date", "2023-02-29", false),
            ("uuid", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", true),
            ("uuid", "not-a-uuid", false),
            ("uuid4", "3f2504e0-4f89-41d3-9a0c-0305e82c3301", true),
            ("uuid4", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", false),
            ("byte", "aGVsbG8=", true),
            ("byte", "%%%", false),
            ("ipv4", "10.0.0.1", true),
            ("ipv4", "10.0.0.256", false),
            ("ipv6", "::1", true),
            ("cidr", "10.0.0.0/8", true),
            ("cidr", "10.0.0.0/33", false),
            ("hostname", "app.example.com", true),
            ("hostname", "-bad.example.com", false),
            ("email", "a@b.io", true),
            ("email", "nobody", false),
            ("uri", "https://example.com/x", true),
            ("uri", "no scheme", false),
            ("duration", "1h30m", true),
            ("duration", "soon", false),
            ("mac", "01:23:45:67:89:ab", true),
        ];
        for (format, value, ok) in cases {
            assert_eq!(check(format, value), Some(ok), "{format} {value}");
        }
        assert_eq!(check("int32", "x"), None);
        assert_eq!(check("something-else", "x"), None);
    }
}
