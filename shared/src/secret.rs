//! Secrets (passwords, SASL credentials, AWS keys) that can be configured but
//! never appear in logs, `Debug` output or a printed configuration.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A configuration value that must not leak: `Debug`, `Display` and
/// serialization all print `"***"`. Use [`Secret::expose`] at the one place
/// that hands the value to a client library.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The real value, for the client library that needs it. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

const REDACTED: &str = "***";

/// A URL with its password (`scheme://user:password@host…`) replaced by `***`:
/// the one rule every configuration printer uses for URLs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let (authority, tail) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split_once(':').map_or(credentials, |(user, _)| user);
            let hidden = if credentials.contains(':') { format!("{user}:{REDACTED}") } else { user.to_string() };
            format!("{scheme}://{hidden}@{host}{tail}")
        }
        None => url.to_string(),
    }
}

/// Whether a free-form setting (a librdkafka property) holds a secret:
/// passwords, secrets, tokens, credentials and private key material.
pub fn is_sensitive_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "secret", "token", "credential", "jaas", "private", "key.pem", "keystore"]
        .iter()
        .any(|word| key.contains(word))
        || key.ends_with(".key")
}

/// Serializes a URL with [`redact_url`] (for `#[serde(serialize_with)]`).
pub fn serialize_redacted_url<S: Serializer>(url: &str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&redact_url(url))
}

/// Serializes free-form properties with sensitive values as `***` (for `#[serde(serialize_with)]`).
pub fn serialize_redacted_properties<S: Serializer>(properties: &std::collections::BTreeMap<String, String>, serializer: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = serializer.serialize_map(Some(properties.len()))?;
    for (key, value) in properties {
        map.serialize_entry(key, if is_sensitive_key(key) { REDACTED } else { value })?;
    }
    map.end()
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    /// `"***"`; an empty secret as `""` (that nothing is set is no secret).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(if self.0.is_empty() { "" } else { REDACTED })
    }
}

impl schemars::JsonSchema for Secret {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Secret".into()
    }

    /// A string the reference shows as `secret` (never printed).
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "format": "secret" })
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "*** ***");
        assert_eq!(redact_url("redis://app:hunter2@cache:6379/0"), "redis://app:***@cache:6379/0");
        assert_eq!(redact_url("rediss://:hunter2@cache"), "rediss://:***@cache");
        assert_eq!(redact_url("https://host:8443/path?x=1"), "https://host:8443/path?x=1");
        assert!(is_sensitive_key("sasl.password") && is_sensitive_key("ssl.key.password") && is_sensitive_key("sasl.oauthbearer.client.secret"));
        assert!(is_sensitive_key("ssl.key.pem") && is_sensitive_key("ssl.keystore.location"));
        assert!(!is_sensitive_key("linger.ms") && !is_sensitive_key("partition.assignment.strategy"));
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"***\"");
        assert_eq!(s.expose(), "hunter2");
        assert_eq!(serde_json::to_string(&Secret::default()).unwrap(), "\"\"");
    }
}
