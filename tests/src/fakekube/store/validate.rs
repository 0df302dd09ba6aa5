//! The API server's validation of label keys and values and object names.

use std::collections::BTreeMap;

use super::*;

/// Rejects labels a real API server rejects (DESIGN.md §6 rules, written independently of the
/// production validator so that the fake can catch its mistakes).
pub(super) fn validate_labels(
    kind: Kind,
    name: &str,
    labels: Option<&BTreeMap<String, String>>,
) -> Result<(), ApiError> {
    let Some(labels) = labels else {
        return Ok(());
    };
    for (key, value) in labels {
        if !valid_label_key(key) {
            return Err(ApiError::invalid(
                kind,
                name,
                format!("metadata.labels: Invalid value: \"{key}\": invalid label key"),
            ));
        }
        if !(value.is_empty() || valid_label_name(value)) {
            return Err(ApiError::invalid(
                kind,
                name,
                format!("metadata.labels: Invalid value: \"{value}\": invalid label value"),
            ));
        }
    }
    Ok(())
}

/// `[prefix/]name`: prefix a DNS-1123 subdomain of at most 253 characters, name a label name.
pub(super) fn valid_label_key(key: &str) -> bool {
    match key.split_once('/') {
        Some((prefix, name)) => valid_dns_subdomain(prefix) && valid_label_name(name),
        None => valid_label_name(key),
    }
}

/// At most 63 characters of `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`.
pub(super) fn valid_label_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Lower-case DNS labels joined by dots, at most 253 characters.
pub(super) fn valid_dns_subdomain(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            let bytes = label.as_bytes();
            !bytes.is_empty()
                && bytes.len() <= 63
                && bytes
                    .first()
                    .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                && bytes
                    .last()
                    .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        })
}
