//! Client-side schema compatibility, with the Glue Schema Registry's rules.
//!
//! The real registry enforces these on `RegisterSchemaVersion`; Glue-compatible
//! test registries (moto) accept anything, so we check before registering and
//! refuse with a message that names the rule, the version it was checked
//! against and why it failed. Only full compatibility counts: apache-avro's
//! "partial" (an enum symbol or union branch the reader lacks) is refused,
//! because such data can fail to decode later.

use apache_avro::Schema;
use apache_avro::schema_compatibility::{Compatibility as Resolution, SchemaCompatibility};
use serde::{Deserialize, Serialize};

/// Glue's compatibility modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CompatibilityMode {
    /// No checks.
    None,
    /// No new versions at all.
    Disabled,
    /// The new schema reads data written with the latest version.
    #[default]
    Backward,
    /// ... with every earlier version.
    BackwardAll,
    /// The latest version reads data written with the new schema.
    Forward,
    /// Every earlier version reads data written with the new schema.
    ForwardAll,
    /// Backward and forward against the latest version.
    Full,
    /// Backward and forward against every version.
    FullAll,
}

impl CompatibilityMode {
    /// The name Glue uses (`BACKWARD_ALL`, ...).
    pub fn as_glue(self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::Disabled => "DISABLED",
            Self::Backward => "BACKWARD",
            Self::BackwardAll => "BACKWARD_ALL",
            Self::Forward => "FORWARD",
            Self::ForwardAll => "FORWARD_ALL",
            Self::Full => "FULL",
            Self::FullAll => "FULL_ALL",
        }
    }

    pub fn from_glue(name: &str) -> Option<Self> {
        [
            Self::None,
            Self::Disabled,
            Self::Backward,
            Self::BackwardAll,
            Self::Forward,
            Self::ForwardAll,
            Self::Full,
            Self::FullAll,
        ]
        .into_iter()
        .find(|m| m.as_glue() == name)
    }

    /// Whether the rule looks at every earlier version (else: only the latest).
    pub fn checks_all_versions(self) -> bool {
        matches!(self, Self::BackwardAll | Self::ForwardAll | Self::FullAll)
    }

    fn backward(self) -> bool {
        matches!(self, Self::Backward | Self::BackwardAll | Self::Full | Self::FullAll)
    }

    fn forward(self) -> bool {
        matches!(self, Self::Forward | Self::ForwardAll | Self::Full | Self::FullAll)
    }
}

/// Why a new schema was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{rule} check failed against version {version}: {reason}")]
pub struct Incompatible {
    pub rule: &'static str,
    pub version: i64,
    pub reason: String,
}

/// Checks `new` against `existing` (version number, schema) pairs under `mode`.
/// `existing` must hold the versions the mode needs: the latest one, or all of
/// them for the `_ALL` modes (extra ones are ignored for the others).
pub fn check(mode: CompatibilityMode, new: &Schema, existing: &[(i64, Schema)]) -> Result<(), Incompatible> {
    if mode == CompatibilityMode::None || existing.is_empty() {
        return Ok(());
    }
    let latest = existing.iter().map(|(v, _)| *v).max().unwrap_or(0);
    if mode == CompatibilityMode::Disabled {
        return Err(Incompatible {
            rule: mode.as_glue(),
            version: latest,
            reason: "the schema's compatibility is DISABLED: no new versions may be registered".into(),
        });
    }
    for (version, old) in existing {
        if !mode.checks_all_versions() && *version != latest {
            continue;
        }
        if mode.backward() {
            readable(old, new).map_err(|reason| Incompatible {
                rule: mode.as_glue(),
                version: *version,
                reason: format!("the new schema cannot read data written with version {version}: {reason}"),
            })?;
        }
        if mode.forward() {
            readable(new, old).map_err(|reason| Incompatible {
                rule: mode.as_glue(),
                version: *version,
                reason: format!("version {version} cannot read data written with the new schema: {reason}"),
            })?;
        }
    }
    Ok(())
}

fn readable(writer: &Schema, reader: &Schema) -> Result<(), String> {
    match SchemaCompatibility::can_read(writer, reader) {
        Ok(Resolution::Full) => Ok(()),
        Ok(Resolution::Partial) => Err("only partially compatible (an enum symbol or union branch is missing)".into()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(fields: &str) -> Schema {
        Schema::parse_str(&format!(r#"{{"type":"record","name":"R","fields":[{fields}]}}"#)).unwrap()
    }

    fn v1() -> Schema {
        schema(r#"{"name":"a","type":"long"}"#)
    }
    fn with_optional_b() -> Schema {
        schema(r#"{"name":"a","type":"long"},{"name":"b","type":["null","string"],"default":null}"#)
    }
    fn with_required_b() -> Schema {
        schema(r#"{"name":"a","type":"long"},{"name":"b","type":"string"}"#)
    }
    fn a_as_string() -> Schema {
        schema(r#"{"name":"a","type":"string"}"#)
    }

    #[test]
    fn backward_allows_adding_an_optional_field_and_refuses_a_required_one() {
        use CompatibilityMode::*;
        assert_eq!(check(Backward, &with_optional_b(), &[(1, v1())]), Ok(()));
        let err = check(Backward, &with_required_b(), &[(1, v1())]).unwrap_err();
        assert_eq!((err.rule, err.version), ("BACKWARD", 1));
        assert!(err.reason.contains("cannot read data written with version 1"), "{err}");
    }

    #[test]
    fn forward_refuses_removing_a_field_without_default() {
        use CompatibilityMode::*;
        // v2 drops the required `b`: old readers need `b`, so FORWARD fails, BACKWARD passes.
        assert_eq!(check(Backward, &v1(), &[(1, with_required_b())]), Ok(()));
        assert!(check(Forward, &v1(), &[(1, with_required_b())]).is_err());
        assert!(check(Full, &v1(), &[(1, with_required_b())]).is_err());
        assert_eq!(check(Full, &with_optional_b(), &[(1, v1())]), Ok(()));
    }

    #[test]
    fn all_variants_check_every_version_others_only_the_latest() {
        use CompatibilityMode::*;
        // Version 1 had `a` as a string; version 2 (latest) as long.
        let existing = [(1, a_as_string()), (2, v1())];
        assert_eq!(check(Backward, &with_optional_b(), &existing), Ok(()));
        let err = check(BackwardAll, &with_optional_b(), &existing).unwrap_err();
        assert_eq!(err.version, 1);
        assert!(check(ForwardAll, &with_optional_b(), &existing).is_err());
        assert!(check(FullAll, &with_optional_b(), &existing).is_err());
    }

    #[test]
    fn none_allows_anything_disabled_nothing() {
        use CompatibilityMode::*;
        assert_eq!(check(None, &a_as_string(), &[(1, v1())]), Ok(()));
        assert!(check(Disabled, &v1(), &[(1, v1())]).is_err());
        assert_eq!(check(Disabled, &v1(), &[]), Ok(()), "the first version is always allowed");
    }

    #[test]
    fn glue_names_round_trip() {
        for name in ["NONE", "DISABLED", "BACKWARD", "BACKWARD_ALL", "FORWARD", "FORWARD_ALL", "FULL", "FULL_ALL"] {
            assert_eq!(CompatibilityMode::from_glue(name).unwrap().as_glue(), name);
        }
        assert_eq!(CompatibilityMode::from_glue("backward"), None);
    }
}
