//! `GlueSchemaCache`: schema versions by id and registrations by definition,
//! each fetched from the registry at most once per process.
//!
//! Guarantee: concurrent lookups of the same id share one registry call; a
//! failed call is not cached (the next lookup tries again), a successful one is
//! kept for the life of the cache (schema versions are immutable).

use super::registry::{GlueRegistry, RegisteredSchema, RegistrationOptions, RegistryError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;
use uuid::Uuid;

type Slot = Arc<OnceCell<Arc<RegisteredSchema>>>;

pub struct GlueSchemaCache {
    registry: GlueRegistry,
    by_id: Mutex<HashMap<Uuid, Slot>>,
    by_definition: Mutex<HashMap<(String, String), Slot>>,
    registry_calls: AtomicU64,
}

impl GlueSchemaCache {
    pub fn new(registry: GlueRegistry) -> Self {
        Self {
            registry,
            by_id: Mutex::default(),
            by_definition: Mutex::default(),
            registry_calls: AtomicU64::new(0),
        }
    }

    pub fn registry(&self) -> &GlueRegistry {
        &self.registry
    }

    /// The schema version `id`, from the registry the first time.
    pub async fn by_id(&self, id: Uuid) -> Result<Arc<RegisteredSchema>, RegistryError> {
        let slot = self.by_id.lock().expect("cache lock").entry(id).or_default().clone();
        slot.get_or_try_init(|| async {
            self.registry_calls.fetch_add(1, Ordering::Relaxed);
            self.registry.version_by_id(id).await.map(Arc::new)
        })
        .await
        .cloned()
    }

    /// The registered version of `schema_name` with this definition (registering
    /// it if `options` allow), from the registry the first time.
    pub async fn register(
        &self,
        schema_name: &str,
        definition: &str,
        options: &RegistrationOptions,
    ) -> Result<Arc<RegisteredSchema>, RegistryError> {
        let key = (schema_name.to_string(), definition.to_string());
        let slot = self.by_definition.lock().expect("cache lock").entry(key).or_default().clone();
        let registered = slot
            .get_or_try_init(|| async {
                self.registry_calls.fetch_add(1, Ordering::Relaxed);
                self.registry.register(schema_name, definition, options).await.map(Arc::new)
            })
            .await?
            .clone();
        // A producer that registered a version can decode it without asking again.
        let by_id = self.by_id.lock().expect("cache lock").entry(registered.version_id).or_default().clone();
        let _ = by_id.set(registered.clone());
        Ok(registered)
    }

    /// How many lookups went to the registry (for tests and metrics).
    pub fn registry_calls(&self) -> u64 {
        self.registry_calls.load(Ordering::Relaxed)
    }
}
