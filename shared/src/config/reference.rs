//! The configuration reference (Markdown tables) and a complete example
//! configuration (commented TOML), both generated from a binary's config types.
//!
//! Guarantee: the doc comments, serde attributes and defaults of the config
//! structs are the one source. The reference lists every key the binary
//! accepts — its type, default, environment variable and meaning — and the
//! example every key with its default (or an example value where a key is
//! required), so neither can drift from the types: each binary's tests fail
//! when `docs/CONFIGURATION.md` differs from what its types generate, when a
//! key has no doc comment, or when its example does not pass `check-config`.
//!
//! The types derive `schemars::JsonSchema`; this module reads the JSON schema
//! (draft 2020-12: `$ref`s into `$defs`, `anyOf` with `null` for options,
//! `oneOf` of `const`s for documented enums).

use schemars::JsonSchema;
use serde_json::{Map, Value};
use std::fmt::Write as _;

/// One binary's configuration: its name, environment prefix and schema.
pub struct Reference {
    binary: &'static str,
    env_prefix: &'static str,
    root: Value,
}

/// One key of a section (nested tables flattened into dotted paths).
#[derive(Debug)]
pub struct KeyDoc {
    /// Dotted path from the root, e.g. `["mysql", "tls", "mode"]`.
    pub path: Vec<String>,
    /// The type as people read it: `string`, `integer`, `` `a` \| `b` ``, `list of string`.
    pub kind: String,
    /// The default value, `None` when the key is required or optional without one.
    pub default: Option<Value>,
    pub required: bool,
    /// The doc comment of the field (or of its type), variant meanings appended.
    pub text: String,
    /// An example value (`#[schemars(example = …)]`), for required keys.
    pub example: Option<Value>,
}

/// A top-level table (`[mysql]`) and its keys.
#[derive(Debug)]
pub struct SectionDoc {
    pub name: String,
    /// The doc comment of the section's struct.
    pub text: String,
    /// The section may be left out entirely (an `Option` or a section with defaults).
    pub optional: bool,
    pub keys: Vec<KeyDoc>,
}

impl Reference {
    pub fn new<T: JsonSchema>(binary: &'static str, env_prefix: &'static str) -> Self {
        let root = serde_json::to_value(schemars::schema_for!(T)).expect("a JSON schema is JSON");
        Self { binary, env_prefix, root }
    }

    /// The binary's sections in declaration order.
    pub fn sections(&self) -> Vec<SectionDoc> {
        let required = required_names(&self.root);
        let mut sections = Vec::new();
        for (name, field) in properties(&self.root) {
            let (schema, optional_type) = self.unwrap_option(field);
            let text = described(field).or_else(|| described(schema)).unwrap_or_default();
            let mut keys = Vec::new();
            self.collect_keys(schema, &mut vec![name.clone()], field.get("default"), &mut keys);
            sections.push(SectionDoc {
                name: name.clone(),
                text,
                optional: optional_type || !required.contains(name),
                keys,
            });
        }
        sections
    }

    /// The leaf keys under `schema`. `inherited` is the value the enclosing
    /// table takes by default (a section's `#[serde(default = …)]`) or in its
    /// example: its entries are the defaults of keys that have none of their own.
    fn collect_keys(&self, schema: &Value, path: &mut Vec<String>, inherited: Option<&Value>, out: &mut Vec<KeyDoc>) {
        let required = required_names(schema);
        for (name, field) in properties(schema) {
            path.push(name.clone());
            let (inner, _) = self.unwrap_option(field);
            let default = field.get("default").filter(|d| !d.is_null()).or_else(|| inherited.and_then(|i| i.get(name)).filter(|d| !d.is_null()));
            let example = field.get("examples").and_then(|e| e.get(0));
            if is_struct(inner) {
                // A nested table (`[mysql.tls]`, or an optional one like `[kafka.sasl]`).
                self.collect_keys(inner, path, default.or(example), out);
            } else {
                let mut text = described(field).or_else(|| described(inner)).unwrap_or_default();
                let variants: Vec<String> =
                    self.variant_texts(inner).into_iter().filter(|(_, t)| !t.is_empty()).map(|(v, t)| format!("`{v}`: {t}")).collect();
                if !variants.is_empty() {
                    text = format!("{text} {}", variants.join(" ")).trim().to_string();
                }
                out.push(KeyDoc {
                    path: path.clone(),
                    kind: self.kind(field),
                    default: default.cloned(),
                    required: required.contains(name) && default.is_none(),
                    text,
                    example: example.cloned(),
                });
            }
            path.pop();
        }
    }

    /// `$ref` resolved; `Option<T>` (`anyOf [T, null]`) unwrapped, with whether it was one.
    fn unwrap_option<'a>(&'a self, schema: &'a Value) -> (&'a Value, bool) {
        let schema = self.resolve(schema);
        if let Some(any) = schema.get("anyOf").and_then(Value::as_array)
            && any.len() == 2
            && let Some(inner) = any.iter().find(|s| s.get("type") != Some(&Value::from("null")))
            && any.iter().any(|s| s.get("type") == Some(&Value::from("null")))
        {
            return (self.resolve(inner), true);
        }
        if let Some(types) = schema.get("type").and_then(Value::as_array)
            && types.contains(&Value::from("null"))
        {
            return (schema, true);
        }
        (schema, false)
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let name = reference.rsplit('/').next().unwrap_or_default();
                self.resolve(&self.root["$defs"][name])
            }
            None => schema,
        }
    }

    /// The type as the reference prints it.
    fn kind(&self, schema: &Value) -> String {
        let (schema, _) = self.unwrap_option(schema);
        let values = self.enum_values(schema);
        if !values.is_empty() {
            return values.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(" \\| ");
        }
        if schema.get("format").and_then(Value::as_str) == Some("secret") {
            return "secret".into();
        }
        let ty = match schema.get("type") {
            Some(Value::Array(types)) => types.iter().find(|t| *t != "null").and_then(Value::as_str).unwrap_or("value"),
            Some(Value::String(ty)) => ty,
            _ => "value",
        };
        match ty {
            "boolean" => "bool".into(),
            "array" => format!("list of {}", schema.get("items").map(|i| self.kind(i)).unwrap_or_else(|| "value".into())),
            "object" => format!(
                "table of {}",
                schema.get("additionalProperties").map(|i| self.kind(i)).unwrap_or_else(|| "value".into())
            ),
            other => other.into(),
        }
    }

    /// The values of a string enum (`enum`, or `oneOf` of `const`s).
    fn enum_values(&self, schema: &Value) -> Vec<String> {
        let schema = self.resolve(schema);
        if let Some(values) = schema.get("enum").and_then(Value::as_array) {
            return values.iter().filter_map(Value::as_str).map(String::from).collect();
        }
        self.variant_texts(schema).into_iter().map(|(v, _)| v).collect()
    }

    /// A documented enum's variants and their doc comments.
    fn variant_texts(&self, schema: &Value) -> Vec<(String, String)> {
        let schema = self.resolve(schema);
        let Some(variants) = schema.get("oneOf").and_then(Value::as_array) else { return Vec::new() };
        let mut out = Vec::new();
        for variant in variants {
            let variant = self.resolve(variant);
            let names: Vec<&str> = match (variant.get("const"), variant.get("enum")) {
                (Some(Value::String(c)), _) => vec![c],
                (_, Some(Value::Array(values))) => values.iter().filter_map(Value::as_str).collect(),
                _ => return Vec::new(), // not a string enum
            };
            let text = described(variant).unwrap_or_default();
            out.extend(names.into_iter().map(|n| (n.to_string(), text.clone())));
        }
        out
    }

    /// The environment variable of a key: `<PREFIX><SECTION>__<KEY>`.
    pub fn env_var(&self, path: &[String]) -> String {
        format!("{}{}", self.env_prefix, path.join("__").to_uppercase())
    }

    /// The Markdown reference: a table per section, between markers that
    /// [`splice`] finds again.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        writeln!(out, "{}", self.begin_marker()).unwrap();
        for section in self.sections() {
            let optional = if section.optional { " (optional)" } else { "" };
            writeln!(out, "\n### `{}` `[{}]`{optional}\n", self.binary, section.name).unwrap();
            if !section.text.is_empty() {
                writeln!(out, "{}\n", section.text).unwrap();
            }
            writeln!(out, "| key | type | default | environment variable | meaning |").unwrap();
            writeln!(out, "|---|---|---|---|---|").unwrap();
            for key in &section.keys {
                let default = match (&key.default, key.required) {
                    (Some(d), _) => format!("`{}`", toml_literal(d)),
                    (None, true) => "required".into(),
                    (None, false) => "none".into(),
                };
                writeln!(
                    out,
                    "| `{}` | {} | {} | `{}` | {} |",
                    key.path[1..].join("."),
                    key.kind,
                    default,
                    self.env_var(&key.path),
                    key.text.replace('|', "\\|")
                )
                .unwrap();
            }
        }
        writeln!(out, "\n{}", self.end_marker()).unwrap();
        out
    }

    /// For a binary's tests: panics unless every key has a doc comment and
    /// `document`'s generated block is what the types generate now.
    pub fn assert_current(&self, document: &str) {
        let undocumented = self.undocumented();
        assert!(undocumented.is_empty(), "{}: keys without a doc comment: {undocumented:?}", self.binary);
        let spliced = self.splice(document).unwrap_or_else(|| panic!("docs/CONFIGURATION.md has no block {:?}", self.begin_marker()));
        if spliced != document {
            let first = spliced.lines().zip(document.lines()).position(|(a, b)| a != b).unwrap_or(0);
            panic!(
                "docs/CONFIGURATION.md is out of date with the config types of {}: run scripts/config-docs.\n\
                 First difference at line {}:\n  generated: {}\n  file:      {}",
                self.binary,
                first + 1,
                spliced.lines().nth(first).unwrap_or(""),
                document.lines().nth(first).unwrap_or("")
            );
        }
    }

    /// For a binary's tests: the example configuration, loaded and validated as the binary would.
    pub fn load_example<T: serde::de::DeserializeOwned + super::Validate>(&self) -> Result<T, super::ConfigError> {
        let path = std::env::temp_dir().join(format!("{}-config-example-{}.toml", self.binary, std::process::id()));
        std::fs::write(&path, self.example_toml()).expect("the temporary directory is writable");
        let args = super::ConfigArgs { config: Some(path.clone()), overrides: Vec::new() };
        // An environment prefix nothing sets: the file alone decides.
        let loaded = super::load("CONFIG_EXAMPLE_CHECK_", &args);
        let _ = std::fs::remove_file(path);
        loaded
    }

    fn begin_marker(&self) -> String {
        format!(
            "<!-- BEGIN generated by `{} config-docs` from the doc comments of its config types: edit those, then run scripts/config-docs -->",
            self.binary
        )
    }

    fn end_marker(&self) -> String {
        format!("<!-- END generated by `{} config-docs` -->", self.binary)
    }

    /// `document` with this binary's generated block replaced by [`Self::markdown`];
    /// `None` when the document has no such block.
    pub fn splice(&self, document: &str) -> Option<String> {
        let begin = document.find(&self.begin_marker())?;
        let end_marker = self.end_marker();
        let end = document[begin..].find(&end_marker)? + begin + end_marker.len();
        let end = if document[end..].starts_with('\n') { end + 1 } else { end };
        Some(format!("{}{}{}", &document[..begin], self.markdown(), &document[end..]))
    }

    /// Keys without a doc comment (the reference would say nothing about them).
    pub fn undocumented(&self) -> Vec<String> {
        self.sections()
            .iter()
            .flat_map(|s| s.keys.iter())
            .filter(|k| k.text.trim().is_empty())
            .map(|k| k.path.join("."))
            .collect()
    }

    /// A complete configuration as commented TOML: every key with its default;
    /// required keys with their example value; optional keys without a
    /// default, and optional tables without an example, commented out.
    pub fn example_toml(&self) -> String {
        let mut out = String::new();
        writeln!(out, "# {} configuration: every key, with its default (`{} config-example`).", self.binary, self.binary).unwrap();
        writeln!(out, "# Keys marked \"required\" must be set; commented-out keys are optional and have no default.").unwrap();
        writeln!(out, "# Environment variables override the file: {}<SECTION>__<KEY>.", self.env_prefix).unwrap();
        for section in self.sections() {
            let mut tables: Vec<(Vec<String>, Vec<&KeyDoc>)> = Vec::new();
            for key in &section.keys {
                let table = key.path[..key.path.len() - 1].to_vec();
                match tables.iter_mut().find(|(t, _)| *t == table) {
                    Some((_, keys)) => keys.push(key),
                    None => tables.push((table, vec![key])),
                }
            }
            for (i, (table, keys)) in tables.iter().enumerate() {
                let commented = !self.table_present(table);
                let hash = if commented { "# " } else { "" };
                writeln!(out).unwrap();
                if i == 0 && !section.text.is_empty() {
                    comment(&mut out, &section.text);
                }
                writeln!(out, "{hash}[{}]", table.iter().map(|p| toml_key(p)).collect::<Vec<_>>().join(".")).unwrap();
                for key in keys {
                    comment(&mut out, &format!("{}{}", if key.required { "Required. " } else { "" }, key.text));
                    let name = toml_key(key.path.last().expect("a key has a name"));
                    match key.default.as_ref().or(key.example.as_ref()) {
                        Some(value) if !commented => writeln!(out, "{name} = {}", toml_literal(value)).unwrap(),
                        Some(value) => writeln!(out, "# {name} = {}", toml_literal(value)).unwrap(),
                        None => writeln!(out, "# {name} = <{}>", key.kind.replace('`', "").replace(" \\| ", " | ")).unwrap(),
                    }
                }
            }
        }
        out
    }

    /// Whether the example sets the table at `path`: every table on the way
    /// is required, has defaults, or carries an example.
    fn table_present(&self, path: &[String]) -> bool {
        let mut schema = &self.root;
        for name in path {
            let Some(field) = properties(schema).find(|(n, _)| *n == name).map(|(_, f)| f) else { return false };
            let (inner, optional_type) = self.unwrap_option(field);
            let has_default = field.get("default").is_some_and(|d| !d.is_null());
            if optional_type && !has_default && field.get("examples").is_none() {
                return false;
            }
            schema = inner;
        }
        true
    }
}

fn properties(schema: &Value) -> impl Iterator<Item = (&String, &Value)> {
    schema.get("properties").and_then(Value::as_object).into_iter().flat_map(Map::iter)
}

fn required_names(schema: &Value) -> Vec<String> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).map(String::from).collect())
        .unwrap_or_default()
}

fn is_struct(schema: &Value) -> bool {
    schema.get("properties").is_some()
}

/// A schema's doc comment: schemars splits a first paragraph into `title`.
fn described(schema: &Value) -> Option<String> {
    let parts: Vec<&str> = ["title", "description"].iter().filter_map(|k| schema.get(*k).and_then(Value::as_str)).collect();
    let text = parts.join(" ").split_whitespace().collect::<Vec<_>>().join(" ");
    (!text.is_empty()).then_some(text)
}

/// A JSON value as a TOML literal (tables inline).
fn toml_literal(value: &Value) -> String {
    match value {
        Value::Null => "\"\"".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => toml::Value::String(s.clone()).to_string(),
        Value::Array(items) => format!("[{}]", items.iter().map(toml_literal).collect::<Vec<_>>().join(", ")),
        Value::Object(map) => {
            if map.is_empty() {
                "{}".into()
            } else {
                format!("{{ {} }}", map.iter().map(|(k, v)| format!("{} = {}", toml_key(k), toml_literal(v))).collect::<Vec<_>>().join(", "))
            }
        }
    }
}

fn toml_key(key: &str) -> String {
    if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        key.to_string()
    } else {
        toml::Value::String(key.to_string()).to_string()
    }
}

/// `text` as `#` comment lines of at most about 100 characters.
fn comment(out: &mut String, text: &str) {
    let mut line = String::from("#");
    for word in text.split_whitespace() {
        if line.len() + word.len() > 100 && line.len() > 1 {
            writeln!(out, "{line}").unwrap();
            line = String::from("#");
        }
        line.push(' ');
        line.push_str(word);
    }
    if line.len() > 1 {
        writeln!(out, "{line}").unwrap();
    }
}

/// The two commands every binary has: `config-docs` and `config-example`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ReferenceCommand {
    /// Print the configuration reference (Markdown tables of every key), generated from the config types.
    ConfigDocs {
        /// Replace this binary's generated block in FILE (docs/CONFIGURATION.md) instead of printing.
        #[arg(long, value_name = "FILE")]
        update: Option<std::path::PathBuf>,
    },
    /// Print a complete example configuration (TOML): every key with its default, commented.
    ConfigExample,
}

impl ReferenceCommand {
    /// Runs the command; the process's exit code.
    pub fn run(&self, reference: &Reference) -> i32 {
        match self {
            Self::ConfigExample => {
                print!("{}", reference.example_toml());
                0
            }
            Self::ConfigDocs { update: None } => {
                print!("{}", reference.markdown());
                0
            }
            Self::ConfigDocs { update: Some(path) } => {
                let updated = std::fs::read_to_string(path).map_err(|e| e.to_string()).and_then(|text| {
                    reference.splice(&text).ok_or_else(|| format!("no block starting with {:?}", reference.begin_marker()))
                });
                match updated.and_then(|text| std::fs::write(path, text).map_err(|e| e.to_string())) {
                    Ok(()) => 0,
                    Err(e) => {
                        eprintln!("{}: cannot update {}: {e}", reference.binary, path.display());
                        1
                    }
                }
            }
        }
    }
}

/// The tests every binary's config module runs, for its root config type
/// (with a `reference()` function beside it): docs/CONFIGURATION.md's block
/// is current (edit a field or its doc comment, then run scripts/config-docs)
/// and `config-example` prints a configuration the binary accepts as it is.
#[macro_export]
macro_rules! config_reference_tests {
    ($root:ident) => {
        #[cfg(test)]
        mod reference_tests {
            #[test]
            fn configuration_reference_is_current() {
                let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/CONFIGURATION.md");
                super::reference().assert_current(&std::fs::read_to_string(path).unwrap());
            }

            #[test]
            fn config_example_is_valid() {
                if let Err(e) = super::reference().load_example::<super::$root>() {
                    panic!("config-example is refused: {e}\n{}", super::reference().example_toml());
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    /// A root with a required section, a defaulted one, an optional one and nested tables.
    #[derive(Serialize, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Root {
        server: Server,
        #[serde(default = "default_limits")]
        limits: Limits,
        /// Only when wanted.
        #[serde(default)]
        extra: Option<Limits>,
    }

    /// Where to connect.
    #[derive(Serialize, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Server {
        /// The host | name.
        #[schemars(example = &"db.example")]
        host: String,
        /// How to talk.
        #[serde(default)]
        mode: Mode,
        /// A file.
        #[serde(default)]
        ca: Option<String>,
    }

    #[derive(Default, Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "snake_case")]
    enum Mode {
        /// In clear.
        #[default]
        Plain,
        /// Encrypted.
        Tls,
    }

    /// Limits.
    #[derive(Serialize, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Limits {
        /// Rows at most.
        rows: u32,
    }

    fn default_limits() -> Limits {
        Limits { rows: 7 }
    }

    impl super::super::Validate for Root {
        fn validate(&self, _: &str) -> Result<(), super::super::ConfigError> {
            Ok(())
        }
    }

    fn reference() -> Reference {
        Reference::new::<Root>("demo", "DEMO_")
    }

    #[test]
    fn sections_keys_defaults_and_variants() {
        let sections = reference().sections();
        let names: Vec<&str> = sections.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["server", "limits", "extra"]);
        assert_eq!((sections[0].optional, sections[1].optional, sections[2].optional), (false, true, true));
        let host = &sections[0].keys[0];
        assert!(host.required && host.default.is_none() && host.example == Some(Value::from("db.example")));
        let mode = &sections[0].keys[1];
        assert_eq!(mode.kind, "`plain` \\| `tls`");
        assert_eq!(mode.text, "How to talk. `plain`: In clear. `tls`: Encrypted.");
        // A key of a section with a default takes its default from the section's.
        let rows = &sections[1].keys[0];
        assert_eq!((rows.default.clone(), rows.required), (Some(Value::from(7)), false));
        assert_eq!(reference().env_var(&rows.path), "DEMO_LIMITS__ROWS");
        assert!(reference().undocumented().is_empty());
    }

    #[test]
    fn markdown_escapes_and_splices() {
        let md = reference().markdown();
        assert!(md.contains("| `host` | string | required | `DEMO_SERVER__HOST` | The host \\| name. |"), "{md}");
        assert!(md.contains("| `ca` | string | none |"), "{md}");
        let document = format!("intro\n{}{}outro\n", reference().begin_marker(), format!("\nold\n{}\n", reference().end_marker()));
        assert_eq!(reference().splice(&document).unwrap(), format!("intro\n{md}outro\n"));
        assert!(reference().splice("no block").is_none());
    }

    #[test]
    fn example_sets_what_it_must_and_loads() {
        let example = reference().example_toml();
        assert!(example.contains("[server]\n"), "{example}");
        assert!(example.contains("host = \"db.example\"\n"), "{example}");
        assert!(example.contains("# ca = <string>\n"), "{example}");
        assert!(example.contains("# [extra]\n"), "{example}");
        assert!(example.contains("[limits]\n# Rows at most.\nrows = 7\n"), "{example}");
        reference().load_example::<Root>().unwrap();
    }
}
