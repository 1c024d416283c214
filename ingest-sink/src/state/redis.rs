//! State in Redis: one hash per partition, `ingest-sink/<group>/<topic>/<partition>`
//! with fields `min`, `max`, `phase`, `fence`. The fence check and the write
//! happen in one Lua script, so they are atomic on the server. Durability is
//! Redis's: run it with `appendonly yes` and `appendfsync always` (or
//! `everysec`, accepting a second of state loss — which the ClickHouse
//! deduplication token then covers).

use super::phase_text::{from_text, to_text};
use super::{Fence, PartitionKey, StateError, StateStore, StoredState};
use crate::exactly_once::{OffsetRange, PartitionState};
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use shared::config::RedisConfig;
use std::collections::HashMap;

const STORE: &str = "redis";

/// `KEYS[1]` hash; `ARGV`: fence, min, max, phase. Returns -1 when written,
/// else the newer fence that refused the write.
const STORE_SCRIPT: &str = r"
local current = tonumber(redis.call('HGET', KEYS[1], 'fence') or '0')
local ours = tonumber(ARGV[1])
if current > ours then return current end
redis.call('HSET', KEYS[1], 'fence', ARGV[1], 'min', ARGV[2], 'max', ARGV[3], 'phase', ARGV[4])
return -1
";

pub struct RedisStateStore {
    conn: ConnectionManager,
    prefix: String,
    store_script: redis::Script,
}

/// The client for `config`; its TLS files were checked at start (`Validate`).
fn client(config: &RedisConfig) -> Result<redis::Client, StateError> {
    use redis::IntoConnectionInfo;
    let info = config.url.as_str().into_connection_info().map_err(unavailable)?;
    let mut settings = info.redis_settings().clone();
    if let Some(user) = &config.username {
        settings = settings.set_username(user);
    }
    if let Some(password) = &config.password {
        settings = settings.set_password(password.expose());
    }
    let info = info.set_redis_settings(settings);
    if !config.url.starts_with("rediss://") {
        return redis::Client::open(info).map_err(unavailable);
    }
    let files = &config.tls;
    let refused = |e: shared::config::ConfigError| StateError::Refused { store: STORE, reason: e.to_string() };
    let client_tls = match (&files.cert_file, &files.key_file) {
        (Some(cert), Some(key)) => {
            let (client_cert, client_key) = shared::tls::pem_identity(cert, key, "state.redis.tls").map_err(refused)?;
            Some(redis::ClientTlsConfig { client_cert, client_key })
        }
        _ => None,
    };
    let root_cert = shared::tls::ca_pem(files, "state.redis.tls").map_err(refused)?;
    redis::Client::build_with_tls(info, redis::TlsCertificates { client_tls, root_cert }).map_err(unavailable)
}

/// A failed connection: final when retrying cannot help (credentials, certificates), with the fix.
fn connect_error(e: redis::RedisError) -> StateError {
    let text = e.to_string();
    let fix = if e.kind() == redis::ErrorKind::AuthenticationFailed || text.contains("WRONGPASS") || text.contains("NOAUTH") {
        "check state.redis.username and state.redis.password"
    } else if text.contains("certificate") {
        "the TLS handshake failed: set state.redis.tls.ca_file to the CA that signed the server's certificate (and make sure it names the url's host), \
         or give the client certificate the server requires in state.redis.tls.cert_file and key_file"
    } else {
        return unavailable(e);
    };
    StateError::Refused { store: STORE, reason: format!("{text}; {fix}") }
}

fn unavailable(e: impl std::fmt::Display) -> StateError {
    StateError::Unavailable {
        store: STORE,
        reason: e.to_string(),
    }
}

impl RedisStateStore {
    /// Connects (and reconnects on its own later) as `[state.redis]` says —
    /// over TLS for a `rediss://` url, with the CA and client certificate of
    /// its `tls` table; `group` namespaces the keys.
    pub async fn connect(config: &RedisConfig, group: &str) -> Result<Self, StateError> {
        let conn = ConnectionManager::new(client(config)?).await.map_err(connect_error)?;
        Ok(Self {
            conn,
            prefix: format!("ingest-sink/{group}/"),
            store_script: redis::Script::new(STORE_SCRIPT),
        })
    }

    fn redis_key(&self, key: &PartitionKey) -> String {
        format!("{}{}/{}", self.prefix, key.topic, key.partition)
    }

    fn parse(key: &PartitionKey, fields: &HashMap<String, String>) -> Result<(Option<PartitionState>, Fence), StateError> {
        let corrupt = |reason: String| StateError::Corrupt {
            store: STORE,
            key: key.clone(),
            reason,
        };
        let fence = fields.get("fence").map_or(Ok(0), |f| f.parse()).map_err(|e| corrupt(format!("fence: {e}")))?;
        let Some(phase) = fields.get("phase") else {
            return Ok((None, fence));
        };
        let phase = from_text(phase).ok_or_else(|| corrupt(format!("phase `{phase}`")))?;
        let number = |name: &str| -> Result<i64, StateError> {
            fields
                .get(name)
                .ok_or_else(|| corrupt(format!("{name} missing")))?
                .parse()
                .map_err(|e| corrupt(format!("{name}: {e}")))
        };
        let range = OffsetRange::new(number("min")?, number("max")?);
        Ok((Some(PartitionState { range, phase }), fence))
    }
}

#[async_trait::async_trait]
impl StateStore for RedisStateStore {
    fn kind(&self) -> &'static str {
        STORE
    }

    async fn acquire(&self, key: &PartitionKey) -> Result<Fence, StateError> {
        let mut conn = self.conn.clone();
        conn.hincr(self.redis_key(key), "fence", 1u64).await.map_err(unavailable)
    }

    async fn load(&self, key: &PartitionKey) -> Result<Option<PartitionState>, StateError> {
        let mut conn = self.conn.clone();
        let fields: HashMap<String, String> = conn.hgetall(self.redis_key(key)).await.map_err(unavailable)?;
        Ok(Self::parse(key, &fields)?.0)
    }

    async fn store(&self, key: &PartitionKey, fence: Fence, state: PartitionState) -> Result<(), StateError> {
        let mut conn = self.conn.clone();
        let result: i64 = self
            .store_script
            .key(self.redis_key(key))
            .arg(fence)
            .arg(state.range.min)
            .arg(state.range.max)
            .arg(to_text(state.phase))
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        if result >= 0 {
            return Err(StateError::Fenced {
                key: key.clone(),
                ours: fence,
                current: result as Fence,
            });
        }
        Ok(())
    }

    async fn list(&self) -> Result<Vec<StoredState>, StateError> {
        let mut conn = self.conn.clone();
        let pattern = format!("{}*", self.prefix);
        let mut names: Vec<String> = Vec::new();
        let mut iter: redis::AsyncIter<String> = conn.scan_match(&pattern).await.map_err(unavailable)?;
        while let Some(name) = futures_util::StreamExt::next(&mut iter).await {
            names.push(name.map_err(unavailable)?);
        }
        drop(iter);
        let mut out = Vec::new();
        for name in names {
            let Some((topic, partition)) = name[self.prefix.len()..].rsplit_once('/') else { continue };
            let Ok(partition) = partition.parse() else { continue };
            let key = PartitionKey::new(topic, partition);
            let fields: HashMap<String, String> = conn.hgetall(&name).await.map_err(unavailable)?;
            let (state, fence) = Self::parse(&key, &fields)?;
            out.push(StoredState { key, state, fence });
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn reset(&self, key: &PartitionKey) -> Result<bool, StateError> {
        let mut conn = self.conn.clone();
        // The fence stays: a zombie must not be able to write after a reset either.
        let removed: u32 = conn.hdel(self.redis_key(key), &["min", "max", "phase"]).await.map_err(unavailable)?;
        Ok(removed > 0)
    }
}
