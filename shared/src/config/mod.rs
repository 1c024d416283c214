//! Layered service configuration with start-up validation.
//!
//! Guarantee: a service either starts with a configuration in which every key
//! is known and every value valid, or it stops before doing anything with a
//! message naming the offending key and where it came from, and exit code
//! [`EXIT_CODE`] (2).
//!
//! Layers, later wins: the TOML file (`--config FILE` or `<PREFIX>CONFIG`),
//! environment variables `<PREFIX><SECTION>__<KEY>` (e.g.
//! `INGEST_SINK_KAFKA__BOOTSTRAP_SERVERS`), then `--set section.key=value` flags.

pub mod reference;
mod sections;

pub use crate::kafka::KafkaConfig;
pub use sections::{ClickHouseConfig, GlueConfig, MetricsConfig, MysqlConfig, MysqlTls, MysqlTlsMode, RedisConfig};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// Exit code of a service stopped by an invalid configuration.
pub const EXIT_CODE: i32 = 2;

/// The configuration flags every binary accepts.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConfigArgs {
    /// Configuration file (TOML). Defaults to the `<PREFIX>CONFIG` environment variable.
    #[arg(long, short = 'c', value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Override one key, e.g. `--set kafka.bootstrap_servers=127.0.0.1:9092`.
    /// Repeatable; wins over the file and the environment.
    #[arg(long = "set", value_name = "KEY=VALUE", global = true)]
    pub overrides: Vec<String>,
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {}: {reason}", path.display())]
    File { path: PathBuf, reason: String },
    #[error("invalid configuration key `{key}`: {reason}{}", origin.as_deref().map(|o| format!(" (set in {o})")).unwrap_or_default())]
    Key {
        key: String,
        reason: String,
        origin: Option<String>,
    },
    #[error("invalid flag `--set {arg}`: expected KEY=VALUE with KEY like `section.key`")]
    Override { arg: String },
}

impl ConfigError {
    /// The configuration key at fault, when there is one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Key { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// Builds the error for a key whose value is not acceptable.
pub fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Key {
        key: key.into(),
        reason: reason.into(),
        origin: None,
    }
}

/// Joins a section path and a field name into a dotted key.
pub fn key(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_string()
    } else {
        format!("{prefix}.{field}")
    }
}

/// Checks that go beyond types (ranges, formats, cross-field rules).
pub trait Validate {
    /// `prefix` is the dotted key of this section (empty for the root).
    fn validate(&self, prefix: &str) -> Result<(), ConfigError>;
}

/// Loads, merges and validates the configuration of one service.
///
/// `env_prefix` is the service's environment prefix, e.g. `"CDC_SOURCE_"`.
pub fn load<T: DeserializeOwned + Validate>(env_prefix: &str, args: &ConfigArgs) -> Result<T, ConfigError> {
    let mut figment = Figment::new();
    let file = args
        .config
        .clone()
        .or_else(|| std::env::var_os(format!("{env_prefix}CONFIG")).map(PathBuf::from));
    if let Some(path) = &file {
        figment = figment.merge(Named::new(Toml::string(&read_file(path)?), format!("file {}", path.display())));
    }
    figment = figment.merge(Env::prefixed(env_prefix).split("__").ignore(&["config"]));
    for arg in &args.overrides {
        figment = figment.merge(Named::new(Toml::string(&override_as_toml(arg)?), format!("--set {arg}")));
    }
    let config: T = figment.extract().map_err(|e| from_figment(e, env_prefix))?;
    config.validate("")?;
    Ok(config)
}

/// Loads the configuration or stops the process with exit code 2 and a
/// message naming the key. For use at the very start of `main`.
pub fn load_or_exit<T: DeserializeOwned + Validate>(service: &str, env_prefix: &str, args: &ConfigArgs) -> T {
    match load(env_prefix, args) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("{service}: {err}");
            eprintln!("{service}: refusing to start; fix the configuration (see docs/CONFIGURATION.md)");
            std::process::exit(EXIT_CODE);
        }
    }
}

/// The effective configuration as TOML, secrets shown as `***`.
pub fn render<T: Serialize>(config: &T) -> String {
    toml::to_string_pretty(config).unwrap_or_else(|e| format!("# cannot render configuration: {e}\n"))
}

fn read_file(path: &Path) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    // Syntax errors are reported here, with the file's own line and column.
    toml::from_str::<toml::Table>(&text).map_err(|e| ConfigError::File {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok(text)
}

fn override_as_toml(arg: &str) -> Result<String, ConfigError> {
    let bad = || ConfigError::Override { arg: arg.to_string() };
    let (key, value) = arg.split_once('=').ok_or_else(bad)?;
    let key = key.trim();
    let well_formed = !key.is_empty()
        && key
            .split('.')
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    if !well_formed {
        return Err(bad());
    }
    // A value that is valid TOML (number, bool, array, quoted string) keeps its type;
    // anything else is taken as a plain string.
    let literal = if toml::from_str::<toml::Table>(&format!("v = {value}")).is_ok() {
        value.to_string()
    } else {
        toml::Value::String(value.to_string()).to_string()
    };
    Ok(format!("{key} = {literal}"))
}

fn from_figment(err: figment::Error, env_prefix: &str) -> ConfigError {
    use figment::error::Kind;
    let err = err.into_iter().next().expect("figment errors are never empty");
    let path = err.path.join(".");
    // figment puts the offending field at the end of the path for some kinds, not for others.
    let with_field = |field: &str| {
        if err.path.last().map(String::as_str) == Some(field) { path.clone() } else { key(&path, field) }
    };
    let (key, reason) = match &err.kind {
        Kind::UnknownField(field, expected) => (
            with_field(field),
            format!(
                "unknown key; expected one of: {}",
                expected.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ")
            ),
        ),
        Kind::MissingField(field) => (with_field(field), "required key is missing".to_string()),
        other => (if path.is_empty() { "<root>".into() } else { path }, other.to_string()),
    };
    let origin = err.metadata.as_ref().map(|m| {
        if m.name.contains("environment") {
            let var: Vec<String> = err.path.iter().map(|p| p.to_uppercase()).collect();
            format!("environment variable {env_prefix}{}", var.join("__"))
        } else {
            m.name.to_string()
        }
    });
    ConfigError::Key { key, reason, origin }
}

/// A provider reported under a name of our choosing (the file path, the flag),
/// so that errors say where a bad value came from.
struct Named<P> {
    inner: P,
    name: String,
}

impl<P> Named<P> {
    fn new(inner: P, name: String) -> Self {
        Self { inner, name }
    }
}

impl<P: figment::Provider> figment::Provider for Named<P> {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named(self.name.clone())
    }

    fn data(&self) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        self.inner.data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    struct Root {
        kafka: KafkaConfig,
        #[serde(default)]
        limit: u32,
    }

    impl Validate for Root {
        fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
            self.kafka.validate(&key(prefix, "kafka"))?;
            if self.limit > 10 {
                return Err(invalid(key(prefix, "limit"), "must be at most 10"));
            }
            Ok(())
        }
    }

    fn args(file: Option<&str>, sets: &[&str]) -> ConfigArgs {
        let config = file.map(|text| {
            let path = std::env::temp_dir().join(format!("cfg-{}-{}.toml", std::process::id(), rand_suffix()));
            std::fs::write(&path, text).unwrap();
            path
        });
        ConfigArgs {
            config,
            overrides: sets.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn rand_suffix() -> u128 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    }

    #[test]
    fn layers_merge_and_flags_win() {
        let cfg: Root = load(
            "CFGTEST_A_",
            &args(Some("[kafka]\nbootstrap_servers = \"a:1\"\n"), &["limit=3", "kafka.bootstrap_servers=b:2"]),
        )
        .unwrap();
        assert_eq!(cfg.kafka.bootstrap_servers, "b:2");
        assert_eq!(cfg.limit, 3);
    }

    #[test]
    fn unknown_key_is_named() {
        let err = load::<Root>("CFGTEST_B_", &args(Some("[kafka]\nbootstrap_servers = \"a:1\"\nbootstrap = 1\n"), &[]))
            .unwrap_err();
        assert_eq!(err.key(), Some("kafka.bootstrap"));
        assert!(err.to_string().contains("`bootstrap_servers`"), "{err}");
    }

    #[test]
    fn wrong_type_and_missing_key_are_named() {
        let err = load::<Root>("CFGTEST_C_", &args(Some("limit = \"many\"\n[kafka]\nbootstrap_servers = \"a:1\"\n"), &[]))
            .unwrap_err();
        assert_eq!(err.key(), Some("limit"));
        let err = load::<Root>("CFGTEST_D_", &args(None, &["limit=1"])).unwrap_err();
        assert_eq!(err.key(), Some("kafka"), "{err}");
    }

    #[test]
    fn semantic_check_names_key() {
        let err = load::<Root>("CFGTEST_E_", &args(None, &["kafka.bootstrap_servers=a:1", "limit=11"])).unwrap_err();
        assert_eq!(err.key(), Some("limit"));
        let err = load::<Root>("CFGTEST_F_", &args(None, &["kafka.bootstrap_servers=nohost"])).unwrap_err();
        assert_eq!(err.key(), Some("kafka.bootstrap_servers"));
    }

    #[test]
    fn bad_flag_and_missing_file_are_reported() {
        assert!(matches!(
            load::<Root>("CFGTEST_G_", &args(None, &["novalue"])),
            Err(ConfigError::Override { .. })
        ));
        let missing = ConfigArgs {
            config: Some("/nonexistent/x.toml".into()),
            overrides: vec![],
        };
        assert!(matches!(load::<Root>("CFGTEST_H_", &missing), Err(ConfigError::File { .. })));
        let err = load::<Root>("CFGTEST_I_", &args(Some("[kafka\n"), &[])).unwrap_err();
        assert!(matches!(err, ConfigError::File { .. }), "{err}");
    }

    #[test]
    fn environment_layer_applies() {
        // SAFETY: the variable name is unique to this test.
        unsafe { std::env::set_var("CFGTEST_J_KAFKA__BOOTSTRAP_SERVERS", "env:9") };
        let cfg: Root = load("CFGTEST_J_", &args(None, &[])).unwrap();
        assert_eq!(cfg.kafka.bootstrap_servers, "env:9");
    }
}
