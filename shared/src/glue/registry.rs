//! The AWS Glue Schema Registry through `aws-sdk-glue`: registries, schemas
//! and schema versions.
//!
//! Guarantees: [`GlueRegistry::register`] returns the id of a version whose
//! definition is exactly the one given — found by definition first, created
//! only when absent, auto-registration allows it, and the schema's
//! compatibility rule (checked here, client-side) passes. Every error names
//! the schema and the registry; registry outages are [`RegistryError::Unavailable`]
//! (retry), everything else is final.

use super::compat::{self, CompatibilityMode, Incompatible};
use crate::config::GlueConfig;
use apache_avro::Schema;
use aws_sdk_glue::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_glue::types::{DataFormat, RegistryId, SchemaId, SchemaVersionNumber, SchemaVersionStatus};
use std::time::Duration;
use uuid::Uuid;

/// A schema version known to the registry, parsed.
#[derive(Debug, Clone)]
pub struct RegisteredSchema {
    pub version_id: Uuid,
    pub definition: String,
    pub schema: Schema,
}

/// How [`GlueRegistry::register`] may change the registry.
#[derive(Debug, Clone)]
pub struct RegistrationOptions {
    /// Create the schema / a new version when the definition is not registered yet.
    pub auto_register: bool,
    /// The rule for a schema created by us; an existing schema keeps its own rule.
    pub compatibility: CompatibilityMode,
}

impl Default for RegistrationOptions {
    fn default() -> Self {
        Self {
            auto_register: true,
            compatibility: CompatibilityMode::Backward,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("schema registry unavailable ({operation} on registry `{registry}`): {reason}; will retry")]
    Unavailable {
        operation: &'static str,
        registry: String,
        reason: String,
    },
    #[error("schema `{schema}` in registry `{registry}` has no version with this definition and auto-registration is off; register it, or enable auto-registration")]
    NotRegistered { schema: String, registry: String },
    #[error("schema `{schema}` in registry `{registry}`: new version refused, {source}")]
    Incompatible {
        schema: String,
        registry: String,
        #[source]
        source: Incompatible,
    },
    #[error("schema version {0} is not in the registry (deleted, or written against another registry)")]
    UnknownVersion(Uuid),
    #[error("schema `{schema}`: not a valid Avro schema: {reason}")]
    InvalidSchema { schema: String, reason: String },
    #[error("schema registry refused {operation} for schema `{schema}` in registry `{registry}`: {reason}")]
    Rejected {
        operation: &'static str,
        schema: String,
        registry: String,
        reason: String,
    },
}

impl RegistryError {
    /// Worth retrying later (the registry or the network failed, not the request).
    pub fn is_transient(&self) -> bool {
        matches!(self, RegistryError::Unavailable { .. })
    }
}

/// A client of one registry.
#[derive(Clone)]
pub struct GlueRegistry {
    client: aws_sdk_glue::Client,
    registry: String,
}

/// How an SDK call failed, as far as our logic cares.
enum Failure {
    NotFound,
    AlreadyExists,
    Service(String),
    Transport(String),
}

fn classify<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(err: SdkError<E, R>) -> Failure {
    match &err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let code = e.code().unwrap_or("");
            let message = format!("{code}: {}", e.message().unwrap_or("(no message)"));
            match code {
                "EntityNotFoundException" => Failure::NotFound,
                "AlreadyExistsException" => Failure::AlreadyExists,
                "ThrottlingException" | "InternalServiceException" | "ConcurrentModificationException" => {
                    Failure::Transport(message)
                }
                _ => Failure::Service(message),
            }
        }
        _ => Failure::Transport(aws_sdk_glue::error::DisplayErrorContext(&err).to_string()),
    }
}

impl GlueRegistry {
    /// A client for `config.registry_name`, using the endpoint override and
    /// static credentials when configured, else AWS's defaults.
    pub async fn connect(config: &GlueConfig) -> Self {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(config.region.clone()));
        if let Some(endpoint) = &config.endpoint_url {
            loader = loader.endpoint_url(endpoint);
        }
        if let (Some(key), Some(secret)) = (&config.access_key_id, &config.secret_access_key) {
            loader = loader.credentials_provider(aws_sdk_glue::config::Credentials::new(
                key.clone(),
                secret.expose().to_string(),
                None,
                None,
                "glue-config",
            ));
        }
        let sdk = loader.load().await;
        Self {
            client: aws_sdk_glue::Client::new(&sdk),
            registry: config.registry_name.clone(),
        }
    }

    pub fn registry_name(&self) -> &str {
        &self.registry
    }

    fn unavailable(&self, operation: &'static str, reason: String) -> RegistryError {
        RegistryError::Unavailable {
            operation,
            registry: self.registry.clone(),
            reason,
        }
    }

    fn rejected(&self, operation: &'static str, schema: &str, reason: String) -> RegistryError {
        RegistryError::Rejected {
            operation,
            schema: schema.to_string(),
            registry: self.registry.clone(),
            reason,
        }
    }

    /// The version id a registry call returned, or an error naming the call.
    fn version_id(&self, operation: &'static str, schema: &str, id: Option<&str>) -> Result<Uuid, RegistryError> {
        let id = id.unwrap_or_default();
        Uuid::parse_str(id).map_err(|_| self.rejected(operation, schema, format!("invalid version id `{id}`")))
    }

    fn fail(&self, operation: &'static str, schema: &str, failure: Failure) -> RegistryError {
        match failure {
            Failure::Transport(reason) => self.unavailable(operation, reason),
            Failure::NotFound => self.rejected(operation, schema, "not found".into()),
            Failure::AlreadyExists => self.rejected(operation, schema, "already exists".into()),
            Failure::Service(reason) => self.rejected(operation, schema, reason),
        }
    }

    fn schema_id(&self, schema_name: &str) -> SchemaId {
        SchemaId::builder()
            .registry_name(&self.registry)
            .schema_name(schema_name)
            .build()
    }

    /// Creates the registry unless it exists.
    pub async fn ensure_registry(&self) -> Result<(), RegistryError> {
        let id = RegistryId::builder().registry_name(&self.registry).build();
        match self.client.get_registry().registry_id(id).send().await {
            Ok(_) => return Ok(()),
            Err(e) => match classify(e) {
                Failure::NotFound => {}
                other => return Err(self.fail("GetRegistry", "", other)),
            },
        }
        match self.client.create_registry().registry_name(&self.registry).send().await {
            Ok(_) => Ok(()),
            Err(e) => match classify(e) {
                Failure::AlreadyExists => Ok(()),
                other => Err(self.fail("CreateRegistry", "", other)),
            },
        }
    }

    /// The version of `schema_name` whose definition is `definition`, if any.
    pub async fn version_by_definition(&self, schema_name: &str, definition: &str) -> Result<Option<Uuid>, RegistryError> {
        let result = self
            .client
            .get_schema_by_definition()
            .schema_id(self.schema_id(schema_name))
            .schema_definition(definition)
            .send()
            .await;
        match result {
            Ok(found) => {
                if found.status() == Some(&SchemaVersionStatus::Failure) {
                    return Err(self.rejected("GetSchemaByDefinition", schema_name, "the version's status is FAILURE".into()));
                }
                self.version_id("GetSchemaByDefinition", schema_name, found.schema_version_id()).map(Some)
            }
            Err(e) => match classify(e) {
                Failure::NotFound => Ok(None),
                other => Err(self.fail("GetSchemaByDefinition", schema_name, other)),
            },
        }
    }

    /// The schema version with this id.
    pub async fn version_by_id(&self, version_id: Uuid) -> Result<RegisteredSchema, RegistryError> {
        let result = self
            .client
            .get_schema_version()
            .schema_version_id(version_id.to_string())
            .send()
            .await;
        let found = match result {
            Ok(found) => found,
            Err(e) => {
                return match classify(e) {
                    Failure::NotFound => Err(RegistryError::UnknownVersion(version_id)),
                    other => Err(self.fail("GetSchemaVersion", &version_id.to_string(), other)),
                };
            }
        };
        let definition = found.schema_definition().unwrap_or_default().to_string();
        let schema = parse_schema(&version_id.to_string(), &definition)?;
        Ok(RegisteredSchema {
            version_id,
            definition,
            schema,
        })
    }

    /// Finds or creates the version of `schema_name` with this definition; see the module docs.
    pub async fn register(
        &self,
        schema_name: &str,
        definition: &str,
        options: &RegistrationOptions,
    ) -> Result<RegisteredSchema, RegistryError> {
        let schema = parse_schema(schema_name, definition)?;
        let registered = |version_id| RegisteredSchema {
            version_id,
            definition: definition.to_string(),
            schema: schema.clone(),
        };
        if let Some(id) = self.version_by_definition(schema_name, definition).await? {
            return Ok(registered(id));
        }
        if !options.auto_register {
            return Err(RegistryError::NotRegistered {
                schema: schema_name.to_string(),
                registry: self.registry.clone(),
            });
        }
        let existing = self.client.get_schema().schema_id(self.schema_id(schema_name)).send().await;
        let version_id = match existing {
            Err(e) => match classify(e) {
                Failure::NotFound => self.create_schema(schema_name, definition, options).await?,
                other => return Err(self.fail("GetSchema", schema_name, other)),
            },
            Ok(found) => {
                let mode = found
                    .compatibility()
                    .and_then(|c| CompatibilityMode::from_glue(c.as_str()))
                    .unwrap_or(options.compatibility);
                let latest = found.latest_schema_version().unwrap_or(0);
                let versions = self.versions_for(schema_name, mode, latest).await?;
                compat::check(mode, &schema, &versions).map_err(|source| RegistryError::Incompatible {
                    schema: schema_name.to_string(),
                    registry: self.registry.clone(),
                    source,
                })?;
                self.register_version(schema_name, definition).await?
            }
        };
        self.await_available(schema_name, version_id).await?;
        Ok(registered(version_id))
    }

    async fn create_schema(&self, schema_name: &str, definition: &str, options: &RegistrationOptions) -> Result<Uuid, RegistryError> {
        let result = self
            .client
            .create_schema()
            .registry_id(RegistryId::builder().registry_name(&self.registry).build())
            .schema_name(schema_name)
            .data_format(DataFormat::Avro)
            .compatibility(options.compatibility.as_glue().into())
            .schema_definition(definition)
            .send()
            .await;
        match result {
            Ok(created) => self.version_id("CreateSchema", schema_name, created.schema_version_id()),
            // Another producer created it meanwhile: register our definition as a version.
            Err(e) => match classify(e) {
                Failure::AlreadyExists => self.register_version(schema_name, definition).await,
                other => Err(self.fail("CreateSchema", schema_name, other)),
            },
        }
    }

    async fn register_version(&self, schema_name: &str, definition: &str) -> Result<Uuid, RegistryError> {
        let result = self
            .client
            .register_schema_version()
            .schema_id(self.schema_id(schema_name))
            .schema_definition(definition)
            .send()
            .await;
        match result {
            Ok(out) => self.version_id("RegisterSchemaVersion", schema_name, out.schema_version_id()),
            Err(e) => Err(self.fail("RegisterSchemaVersion", schema_name, classify(e))),
        }
    }

    /// The versions a compatibility mode must be checked against.
    async fn versions_for(&self, schema_name: &str, mode: CompatibilityMode, latest: i64) -> Result<Vec<(i64, Schema)>, RegistryError> {
        if latest == 0 || mode == CompatibilityMode::None {
            return Ok(Vec::new());
        }
        let first = if mode.checks_all_versions() { 1 } else { latest };
        let mut versions = Vec::new();
        for number in first..=latest {
            let result = self
                .client
                .get_schema_version()
                .schema_id(self.schema_id(schema_name))
                .schema_version_number(SchemaVersionNumber::builder().version_number(number).build())
                .send()
                .await;
            match result {
                Ok(found) => {
                    let definition = found.schema_definition().unwrap_or_default();
                    versions.push((number, parse_schema(schema_name, definition)?));
                }
                Err(e) => match classify(e) {
                    Failure::NotFound => continue, // a deleted version no longer constrains
                    other => return Err(self.fail("GetSchemaVersion", schema_name, other)),
                },
            }
        }
        Ok(versions)
    }

    /// Real Glue registers asynchronously (PENDING → AVAILABLE | FAILURE).
    async fn await_available(&self, schema_name: &str, version_id: Uuid) -> Result<(), RegistryError> {
        for _ in 0..50 {
            let found = self
                .client
                .get_schema_version()
                .schema_version_id(version_id.to_string())
                .send()
                .await
                .map_err(|e| self.fail("GetSchemaVersion", schema_name, classify(e)))?;
            match found.status() {
                Some(SchemaVersionStatus::Available) | None => return Ok(()),
                Some(SchemaVersionStatus::Failure) | Some(SchemaVersionStatus::Deleting) => {
                    return Err(self.rejected(
                        "RegisterSchemaVersion",
                        schema_name,
                        format!("version {version_id} ended in status {:?}", found.status()),
                    ));
                }
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
        Err(self.unavailable("RegisterSchemaVersion", format!("version {version_id} still PENDING after 10 s")))
    }
}

fn parse_schema(schema_name: &str, definition: &str) -> Result<Schema, RegistryError> {
    Schema::parse_str(definition).map_err(|e| RegistryError::InvalidSchema {
        schema: schema_name.to_string(),
        reason: e.to_string(),
    })
}
