//! State in a ClickHouse `KeeperMap` table (in ClickHouse Keeper or
//! ZooKeeper), as the ClickHouse Kafka connector keeps it — plus a fence.
//!
//! One row per partition: `key = <group>/<topic>/<partition>`, `min`, `max`,
//! `phase` (`BEFORE`, `AFTER`, or `NONE` after a reset), `fence`, and `owner`
//! (a random id per acquisition). Every write runs with
//! `keeper_map_strict_mode = 1`, so a row changed between a write's read and
//! its commit makes the write fail instead of overwriting; fence checks are
//! conditions of the same write (`WHERE fence <= ours`) and are confirmed by
//! reading the row back.

use super::phase_text::{from_text, to_text};
use super::{Fence, PartitionKey, StateError, StateStore, StoredState};
use crate::exactly_once::{OffsetRange, PartitionState};
use clickhouse::{Client, Row};
use serde::Deserialize;

const STORE: &str = "keepermap";
const STRICT: &str = "keeper_map_strict_mode = 1";
/// Concurrent acquisitions of one partition retry this often before giving up.
const ACQUIRE_ATTEMPTS: usize = 20;

pub struct KeeperMapStateStore {
    client: Client,
    table: String,
    prefix: String,
}

#[derive(Debug, Row, Deserialize)]
struct StateRow {
    key: String,
    min: i64,
    max: i64,
    phase: String,
    fence: u64,
    owner: String,
}

/// A failed ClickHouse call: final when TLS refused the connection (with the fix), else worth a retry.
fn client_error(e: clickhouse::error::Error) -> StateError {
    match crate::clickhouse::table::tls_refusal(&e) {
        Some(reason) => StateError::Refused { store: STORE, reason },
        None => unavailable(crate::clickhouse::table::error_chain(&e)),
    }
}

fn unavailable(e: impl std::fmt::Display) -> StateError {
    StateError::Unavailable {
        store: STORE,
        reason: e.to_string(),
    }
}

use shared::sql::clickhouse_identifier as quote_ident;

impl KeeperMapStateStore {
    /// Uses (creating if missing) the KeeperMap table `table`; `group` namespaces the keys.
    pub async fn open(client: Client, table: &str, group: &str) -> Result<Self, StateError> {
        let store = Self {
            client,
            table: quote_ident(table),
            prefix: format!("{group}/"),
        };
        let ddl = format!(
            "CREATE TABLE IF NOT EXISTS {} (key String, min Int64, max Int64, phase String, fence UInt64, owner String) \
             ENGINE = KeeperMap(?) PRIMARY KEY key",
            store.table
        );
        store
            .client
            .query(&ddl)
            .bind(format!("/ingest_sink_state/{table}"))
            .execute()
            .await
            .map_err(client_error)?;
        Ok(store)
    }

    fn row_key(&self, key: &PartitionKey) -> String {
        format!("{}{}/{}", self.prefix, key.topic, key.partition)
    }

    async fn read(&self, key: &PartitionKey) -> Result<Option<StateRow>, StateError> {
        self.client
            .query(&format!("SELECT ?fields FROM {} WHERE key = ?", self.table))
            .bind(self.row_key(key))
            .fetch_optional::<StateRow>()
            .await
            .map_err(client_error)
    }

    fn parse(key: &PartitionKey, row: &StateRow) -> Result<Option<PartitionState>, StateError> {
        if row.phase == "NONE" {
            return Ok(None);
        }
        let phase = from_text(&row.phase).ok_or_else(|| StateError::Corrupt {
            store: STORE,
            key: key.clone(),
            reason: format!("phase `{}`", row.phase),
        })?;
        Ok(Some(PartitionState {
            range: OffsetRange::new(row.min, row.max),
            phase,
        }))
    }
}

#[async_trait::async_trait]
impl StateStore for KeeperMapStateStore {
    fn kind(&self) -> &'static str {
        STORE
    }

    async fn acquire(&self, key: &PartitionKey) -> Result<Fence, StateError> {
        let owner = uuid::Uuid::new_v4().to_string();
        for _ in 0..ACQUIRE_ATTEMPTS {
            // A failed write below means another instance changed the row meanwhile: read again.
            let written = match self.read(key).await? {
                None => self
                    .client
                    .query(&format!("INSERT INTO {} SETTINGS {STRICT} VALUES (?, -1, -1, 'NONE', 1, ?)", self.table))
                    .bind(self.row_key(key))
                    .bind(&owner)
                    .execute()
                    .await
                    .map(|()| 1),
                Some(row) => self
                    .client
                    .query(&format!(
                        "ALTER TABLE {} UPDATE fence = ?, owner = ? WHERE key = ? AND fence = ? SETTINGS {STRICT}",
                        self.table
                    ))
                    .bind(row.fence + 1)
                    .bind(&owner)
                    .bind(self.row_key(key))
                    .bind(row.fence)
                    .execute()
                    .await
                    .map(|()| row.fence + 1),
            };
            let Ok(fence) = written else { continue };
            if let Some(row) = self.read(key).await?
                && row.fence == fence
                && row.owner == owner
            {
                return Ok(fence);
            }
        }
        Err(unavailable(format!(
            "could not take a fence for {key} in {ACQUIRE_ATTEMPTS} attempts (constant concurrent writers?)"
        )))
    }

    async fn load(&self, key: &PartitionKey) -> Result<Option<PartitionState>, StateError> {
        match self.read(key).await? {
            Some(row) => Self::parse(key, &row),
            None => Ok(None),
        }
    }

    async fn store(&self, key: &PartitionKey, fence: Fence, state: PartitionState) -> Result<(), StateError> {
        let update = self
            .client
            .query(&format!(
                "ALTER TABLE {} UPDATE min = ?, max = ?, phase = ? WHERE key = ? AND fence <= ? SETTINGS {STRICT}",
                self.table
            ))
            .bind(state.range.min)
            .bind(state.range.max)
            .bind(to_text(state.phase))
            .bind(self.row_key(key))
            .bind(fence)
            .execute()
            .await;
        let row = self.read(key).await?;
        let current = row.as_ref().map_or(0, |r| r.fence);
        match (update, row) {
            (_, Some(row)) if row.fence > fence => Err(StateError::Fenced {
                key: key.clone(),
                ours: fence,
                current,
            }),
            (Ok(()), Some(row)) if Self::parse(key, &row)? == Some(state) => Ok(()),
            (Err(e), _) => Err(client_error(e)),
            (Ok(()), _) => Err(unavailable(format!(
                "state of {key} did not take the write (no row: was the fence acquired?)"
            ))),
        }
    }

    async fn list(&self) -> Result<Vec<StoredState>, StateError> {
        let rows = self
            .client
            .query(&format!("SELECT ?fields FROM {} WHERE startsWith(key, ?) ORDER BY key", self.table))
            .bind(&self.prefix)
            .fetch_all::<StateRow>()
            .await
            .map_err(client_error)?;
        let mut out = Vec::new();
        for row in rows {
            let Some((topic, partition)) = row.key[self.prefix.len()..].rsplit_once('/') else { continue };
            let Ok(partition) = partition.parse() else { continue };
            let key = PartitionKey::new(topic, partition);
            let state = Self::parse(&key, &row)?;
            out.push(StoredState {
                key,
                state,
                fence: row.fence,
            });
        }
        Ok(out)
    }

    async fn reset(&self, key: &PartitionKey) -> Result<bool, StateError> {
        let had_state = self.load(key).await?.is_some();
        // The fence stays: a zombie must not be able to write after a reset either.
        self.client
            .query(&format!("ALTER TABLE {} UPDATE phase = 'NONE' WHERE key = ? SETTINGS {STRICT}", self.table))
            .bind(self.row_key(key))
            .execute()
            .await
            .map_err(client_error)?;
        Ok(had_state)
    }
}
