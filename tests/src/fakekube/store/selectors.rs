//! Label and field selectors, as the API server parses and applies them.

use serde_json::Value;

use super::*;

/// A parsed `labelSelector` or `fieldSelector` requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Requirement {
    /// `key=value` or `key==value`.
    Equals(String, String),
    /// `key!=value`.
    NotEquals(String, String),
    /// `key` (labels only).
    Exists(String),
    /// `!key` (labels only).
    NotExists(String),
}

/// The filters of a LIST request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Selectors {
    labels: Vec<Requirement>,
    fields: Vec<Requirement>,
}

impl Selectors {
    /// Parses the `labelSelector` and `fieldSelector` parameters for a list of `kind`.
    pub(crate) fn parse(
        kind: Kind,
        label_selector: Option<&str>,
        field_selector: Option<&str>,
    ) -> Result<Self, ApiError> {
        let labels = match label_selector {
            Some(s) => parse_requirements(s, true)?,
            None => Vec::new(),
        };
        let fields = match field_selector {
            Some(s) => parse_requirements(s, false)?,
            None => Vec::new(),
        };
        for requirement in &fields {
            let (Requirement::Equals(field, _) | Requirement::NotEquals(field, _)) = requirement
            else {
                return Err(ApiError::bad_request(format!(
                    "invalid field selector: {requirement:?}"
                )));
            };
            if !kind.supports_field(field) {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {field}"
                )));
            }
        }
        Ok(Self { labels, fields })
    }

    pub(super) fn matches(&self, object: &Value) -> bool {
        let labels = object.pointer("/metadata/labels");
        let label = |key: &str| labels.and_then(|l| l.get(key)).and_then(Value::as_str);
        let labels_match = self.labels.iter().all(|r| match r {
            Requirement::Equals(k, v) => label(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => label(k) != Some(v.as_str()),
            Requirement::Exists(k) => label(k).is_some(),
            Requirement::NotExists(k) => label(k).is_none(),
        });
        let field = |path: &str| field_value(object, path);
        let fields_match = self.fields.iter().all(|r| match r {
            Requirement::Equals(k, v) => field(k) == *v,
            Requirement::NotEquals(k, v) => field(k) != *v,
            Requirement::Exists(_) | Requirement::NotExists(_) => false,
        });
        labels_match && fields_match
    }
}

/// A field's value as a field selector sees it: missing fields are the empty string.
pub(super) fn field_value(object: &Value, path: &str) -> String {
    let pointer = format!("/{}", path.replace('.', "/"));
    match object.pointer(&pointer) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// Parses a comma-separated selector. Set-based label requirements (`in`, `notin`) are not
/// supported by the fake and are refused rather than misread.
pub(super) fn parse_requirements(
    selector: &str,
    labels: bool,
) -> Result<Vec<Requirement>, ApiError> {
    let mut requirements = Vec::new();
    for term in selector.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let requirement = if let Some((k, v)) = term.split_once("!=") {
            Requirement::NotEquals(k.trim().to_owned(), v.trim().to_owned())
        } else if let Some((k, v)) = term.split_once("==") {
            Requirement::Equals(k.trim().to_owned(), v.trim().to_owned())
        } else if let Some((k, v)) = term.split_once('=') {
            Requirement::Equals(k.trim().to_owned(), v.trim().to_owned())
        } else if labels && term.contains(['(', ' ']) {
            return Err(ApiError::bad_request(format!(
                "unable to parse requirement: set-based selector {term:?} is not supported by the fake API server"
            )));
        } else if let Some(k) = term.strip_prefix('!').filter(|_| labels) {
            Requirement::NotExists(k.trim().to_owned())
        } else if labels {
            Requirement::Exists(term.to_owned())
        } else {
            return Err(ApiError::bad_request(format!(
                "invalid selector: '{selector}'; can't understand '{term}'"
            )));
        };
        requirements.push(requirement);
    }
    Ok(requirements)
}
