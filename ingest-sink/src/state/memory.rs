//! An in-process state store, for unit tests only: it forgets everything when
//! the process ends, so it gives no exactly-once guarantee across restarts,
//! and says so in the log when created.

use super::{Fence, PartitionKey, StateError, StateStore, StoredState};
use crate::exactly_once::PartitionState;
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct MemoryStateStore {
    entries: Mutex<BTreeMap<PartitionKey, (Option<PartitionState>, Fence)>>,
}

impl MemoryStateStore {
    pub fn new() -> Self {
        tracing::warn!(
            "state store `memory`: state is lost when the process exits; NO exactly-once guarantee across restarts (tests only)"
        );
        Self::default()
    }
}

#[async_trait::async_trait]
impl StateStore for MemoryStateStore {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn acquire(&self, key: &PartitionKey) -> Result<Fence, StateError> {
        let mut entries = self.entries.lock().expect("lock");
        let entry = entries.entry(key.clone()).or_insert((None, 0));
        entry.1 += 1;
        Ok(entry.1)
    }

    async fn load(&self, key: &PartitionKey) -> Result<Option<PartitionState>, StateError> {
        Ok(self.entries.lock().expect("lock").get(key).and_then(|e| e.0))
    }

    async fn store(&self, key: &PartitionKey, fence: Fence, state: PartitionState) -> Result<(), StateError> {
        let mut entries = self.entries.lock().expect("lock");
        let entry = entries.entry(key.clone()).or_insert((None, 0));
        if entry.1 > fence {
            return Err(StateError::Fenced {
                key: key.clone(),
                ours: fence,
                current: entry.1,
            });
        }
        *entry = (Some(state), fence);
        Ok(())
    }

    async fn list(&self) -> Result<Vec<StoredState>, StateError> {
        Ok(self
            .entries
            .lock()
            .expect("lock")
            .iter()
            .map(|(key, (state, fence))| StoredState {
                key: key.clone(),
                state: *state,
                fence: *fence,
            })
            .collect())
    }

    async fn reset(&self, key: &PartitionKey) -> Result<bool, StateError> {
        // The fence stays: a zombie must not be able to write after a reset either.
        Ok(self.entries.lock().expect("lock").get_mut(key).and_then(|e| e.0.take()).is_some())
    }
}
