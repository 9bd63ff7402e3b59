//! The error mapping held to the docs: every error code in the error tables of the Mendix Cloud
//! v1 docs is known to the client, with a class that fits its status.

use mendix_client::ErrorClass;
use mendix_client::error::{classify, documented_v1_code};
use reqwest::StatusCode;

/// `(status, code)` of every row of the docs' error tables: a line that starts with a 4xx/5xx
/// status followed by an upper-case code (`NOT ALLOWED` and friends have a space).
fn documented_codes(text: &str) -> Vec<(u16, String)> {
    let mut rows = Vec::new();
    for line in text.lines() {
        let tokens: Vec<&str> = line
            .split(|c: char| c.is_whitespace() || c == '|')
            .filter(|t| !t.is_empty())
            .collect();
        let Some(status) = tokens.first().and_then(|t| t.parse::<u16>().ok()) else {
            continue;
        };
        if !(400..600).contains(&status) {
            continue;
        }
        let code: Vec<&str> = tokens[1..]
            .iter()
            .take_while(|t| t.len() >= 2 && t.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
            .copied()
            .collect();
        if !code.is_empty() {
            rows.push((status, code.join(" ")));
        }
    }
    rows
}

#[test]
fn every_documented_v1_error_code_is_mapped() {
    let mut rows = Vec::new();
    for file in [
        "mendix-cloud-build-api-v1.txt",
        "mendix-cloud-deploy-api-v1.txt",
    ] {
        let path = format!(
            "{}/../../../shared/mendix-docs/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        rows.extend(documented_codes(&std::fs::read_to_string(path).unwrap()));
    }
    let unique: std::collections::BTreeSet<_> = rows.iter().map(|(_, c)| c.as_str()).collect();
    assert!(
        unique.len() >= 46,
        "all the docs' tables were read: {unique:?}"
    );
    for (status, code) in &rows {
        assert!(
            documented_v1_code(code).is_some(),
            "{status} {code} from the docs is not mapped"
        );
        let class = classify(StatusCode::from_u16(*status).unwrap(), Some(code));
        if *status == 503 {
            assert_eq!(class, ErrorClass::Transient, "{status} {code}");
        }
        if (400..500).contains(status) {
            assert_ne!(
                class,
                ErrorClass::Transient,
                "{status} {code} is not a retry case"
            );
        }
    }
    for expected in [
        "APP_IS_RUNNING",
        "NOT ALLOWED",
        "SERVICE UNAVAILABLE",
        "MISSING_CONSTANT",
    ] {
        assert!(
            rows.iter().any(|(_, c)| c == expected),
            "{expected} read from the docs"
        );
    }
}

#[test]
fn documented_v4_statuses_are_classified() {
    // privatecloud-*-v4.yaml document 400, 401, 403 and 404 answers.
    for status in [400, 401, 403, 404] {
        assert_eq!(
            classify(StatusCode::from_u16(status).unwrap(), None),
            ErrorClass::Terminal
        );
    }
    for status in [429, 500, 502, 503, 504] {
        assert_eq!(
            classify(StatusCode::from_u16(status).unwrap(), None),
            ErrorClass::Transient
        );
    }
}
