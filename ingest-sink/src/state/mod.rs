//! Where the per-partition exactly-once state lives, behind one small trait.
//!
//! Guarantees every store gives: a fence taken by [`StateStore::acquire`] is
//! strictly greater than every earlier one for that partition; a
//! [`StateStore::store`] with a fence older than the newest is refused with
//! [`StateError::Fenced`] and changes nothing — so a consumer that lost its
//! partition in a rebalance (a zombie) cannot move the state backwards; a
//! store that answered `Ok` has the state durably (as durable as the backend).
//!
//! One file per store: [`redis`] (Lua compare-and-set), [`keepermap`]
//! (ClickHouse KeeperMap in strict mode), [`memory`] (tests only).

pub mod keepermap;
pub mod memory;
pub mod redis;

use crate::exactly_once::PartitionState;
use std::fmt;

/// A fencing token; see the module docs.
pub type Fence = u64;

/// One partition of one topic, as consumed by one consumer group.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionKey {
    pub topic: String,
    pub partition: i32,
}

impl PartitionKey {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        Self {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for PartitionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.topic, self.partition)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state write for {key} refused: fence {ours} is older than {current} (another consumer owns the partition now)")]
    Fenced { key: PartitionKey, ours: Fence, current: Fence },
    #[error("{store} state store unavailable: {reason}")]
    Unavailable { store: &'static str, reason: String },
    /// The store answered, and will answer the same again: credentials, TLS
    /// settings or certificates that do not fit (retrying cannot help).
    #[error("{store} state store refused the connection: {reason}")]
    Refused { store: &'static str, reason: String },
    #[error("state of {key} in the {store} store is unreadable ({reason}); inspect it with `ingest-sink state show` and fix or reset it")]
    Corrupt {
        store: &'static str,
        key: PartitionKey,
        reason: String,
    },
}

impl StateError {
    /// Worth retrying with backoff (the backend is down), as opposed to final.
    pub fn is_transient(&self) -> bool {
        matches!(self, StateError::Unavailable { .. })
    }
}

/// What `state show` prints for a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredState {
    pub key: PartitionKey,
    pub state: Option<PartitionState>,
    pub fence: Fence,
}

#[async_trait::async_trait]
pub trait StateStore: Send + Sync {
    /// `redis`, `keepermap` or `memory`.
    fn kind(&self) -> &'static str;

    /// Takes a new fence for `key`: greater than any fence taken before.
    async fn acquire(&self, key: &PartitionKey) -> Result<Fence, StateError>;

    /// The recorded state of `key`, if any.
    async fn load(&self, key: &PartitionKey) -> Result<Option<PartitionState>, StateError>;

    /// Records `state` for `key` unless a newer fence exists.
    async fn store(&self, key: &PartitionKey, fence: Fence, state: PartitionState) -> Result<(), StateError>;

    /// Every partition with state (for `state show`).
    async fn list(&self) -> Result<Vec<StoredState>, StateError>;

    /// Forgets the state of `key` (for `state reset`); true when there was some.
    async fn reset(&self, key: &PartitionKey) -> Result<bool, StateError>;
}

/// `BEFORE` / `AFTER`, as stores write them.
pub(crate) mod phase_text {
    use crate::exactly_once::Phase;

    pub fn to_text(phase: Phase) -> &'static str {
        match phase {
            Phase::Before => "BEFORE",
            Phase::After => "AFTER",
        }
    }

    pub fn from_text(text: &str) -> Option<Phase> {
        match text {
            "BEFORE" => Some(Phase::Before),
            "AFTER" => Some(Phase::After),
            _ => None,
        }
    }
}
