//! The sink's state stores against the real Redis and ClickHouse KeeperMap:
//! the same contract for each — fences strictly increase (also under
//! concurrent acquisition), a zombie's write is refused and changes nothing,
//! reset forgets the state but not the fence.

use futures_util::future::join_all;
use ingest_sink::exactly_once::{OffsetRange, PartitionState, Phase};
use ingest_sink::state::keepermap::KeeperMapStateStore;
use ingest_sink::state::memory::MemoryStateStore;
use ingest_sink::state::redis::RedisStateStore;
use ingest_sink::state::{PartitionKey, StateError, StateStore};
use integration_tests::{Stack, unique_name};
use std::collections::BTreeSet;

fn state(min: i64, max: i64, phase: Phase) -> PartitionState {
    PartitionState {
        range: OffsetRange::new(min, max),
        phase,
    }
}

async fn contract(store: &dyn StateStore) {
    let key = PartitionKey::new(unique_name("topic"), 2);
    let other = PartitionKey::new(key.topic.clone(), 3);
    assert_eq!(store.load(&key).await.unwrap(), None);

    let first = store.acquire(&key).await.unwrap();
    store.store(&key, first, state(0, 9, Phase::Before)).await.unwrap();
    assert_eq!(store.load(&key).await.unwrap(), Some(state(0, 9, Phase::Before)));
    store.store(&key, first, state(0, 9, Phase::After)).await.unwrap();

    // A rebalance: the partition's new owner takes a newer fence ...
    let second = store.acquire(&key).await.unwrap();
    assert!(second > first);
    // ... and the old owner, now a zombie, cannot write.
    match store.store(&key, first, state(10, 19, Phase::Before)).await {
        Err(StateError::Fenced { ours, current, .. }) => assert_eq!((ours, current), (first, second)),
        other => panic!("{}: zombie write not refused: {other:?}", store.kind()),
    }
    assert_eq!(store.load(&key).await.unwrap(), Some(state(0, 9, Phase::After)), "unchanged");
    store.store(&key, second, state(10, 19, Phase::Before)).await.unwrap();

    // Other partitions are independent.
    let other_fence = store.acquire(&other).await.unwrap();
    store.store(&other, other_fence, state(5, 6, Phase::After)).await.unwrap();

    let listed: Vec<_> = store.list().await.unwrap().into_iter().filter(|s| s.key.topic == key.topic).collect();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!((listed[0].state, listed[0].fence), (Some(state(10, 19, Phase::Before)), second));
    assert_eq!(listed[1].state, Some(state(5, 6, Phase::After)));

    assert!(store.reset(&key).await.unwrap());
    assert_eq!(store.load(&key).await.unwrap(), None);
    assert!(!store.reset(&key).await.unwrap(), "nothing left to reset");
    assert!(
        matches!(store.store(&key, first, state(0, 0, Phase::After)).await, Err(StateError::Fenced { .. })),
        "{}: a reset must not let a zombie write",
        store.kind()
    );

    // Concurrent acquisitions (a rebalance storm) each get their own, newer fence.
    let fences: Vec<u64> = join_all((0..6).map(|_| store.acquire(&key))).await.into_iter().map(Result::unwrap).collect();
    let distinct: BTreeSet<u64> = fences.iter().copied().collect();
    assert_eq!(distinct.len(), fences.len(), "{}: duplicate fences {fences:?}", store.kind());
    assert!(distinct.iter().all(|f| *f > second));
}

#[tokio::test]
async fn redis_store_keeps_the_contract() {
    let stack = Stack::get();
    let store = RedisStateStore::connect(&shared::config::RedisConfig::at(&stack.redis_url), &unique_name("group")).await.unwrap();
    contract(&store).await;
}

/// Over TLS (`rediss://`), as an ACL user whose password is a key of its
/// own, presenting a client certificate.
#[tokio::test]
async fn redis_store_over_tls_keeps_the_contract() {
    let stack = Stack::get();
    let store = RedisStateStore::connect(&stack.redis_tls_config(), &unique_name("group")).await.unwrap();
    contract(&store).await;
}

/// What cannot work over TLS is refused with the fix, not retried: a CA
/// that did not sign the server's certificate, a wrong password.
#[tokio::test]
async fn redis_tls_refusals_name_the_fix() {
    let stack = Stack::get();
    let mut wrong_ca = stack.redis_tls_config();
    wrong_ca.tls.ca_file = stack.mysql.ca_file.clone(); // MySQL's own CA: valid PEM, another issuer
    assert!(wrong_ca.tls.ca_file.is_some(), "the stack names MySQL's CA");
    match RedisStateStore::connect(&wrong_ca, "g").await {
        Err(e @ StateError::Refused { .. }) => {
            assert!(!e.is_transient());
            assert!(e.to_string().contains("state.redis.tls.ca_file"), "{e}");
        }
        Err(other) => panic!("a certificate from another CA must be refused for good: {other:?}"),
        Ok(_) => panic!("connected with a CA that did not sign the server's certificate"),
    }
    let mut wrong_password = stack.redis_tls_config();
    wrong_password.password = Some(shared::secret::Secret::new("not-the-password"));
    match RedisStateStore::connect(&wrong_password, "g").await {
        Err(e @ StateError::Refused { .. }) => {
            assert!(e.to_string().contains("state.redis.password"), "{e}");
            assert!(!e.to_string().contains("not-the-password"), "the password leaked into the error: {e}");
        }
        Err(other) => panic!("a wrong password must be refused for good: {other:?}"),
        Ok(_) => panic!("connected with a wrong password"),
    }
}

#[tokio::test]
async fn keepermap_store_keeps_the_contract() {
    let stack = Stack::get();
    let client = clickhouse::Client::default().with_url(&stack.clickhouse_url);
    let store = KeeperMapStateStore::open(client, &unique_name("sink_state"), &unique_name("group")).await.unwrap();
    contract(&store).await;
}

/// The KeeperMap store over HTTPS (the client every ClickHouse user of the
/// sink and `verify` builds from `[clickhouse]`).
#[tokio::test]
async fn keepermap_store_over_https_keeps_the_contract() {
    let stack = Stack::get();
    let client = stack.clickhouse_tls_config().client().unwrap();
    let store = KeeperMapStateStore::open(client, &unique_name("sink_state"), &unique_name("group")).await.unwrap();
    contract(&store).await;
}

/// HTTPS against a CA that did not sign the server's certificate is refused
/// for good, with the fix.
#[tokio::test]
async fn clickhouse_tls_refusal_names_the_fix() {
    let stack = Stack::get();
    let mut config = stack.clickhouse_tls_config();
    config.tls.ca_file = stack.mysql.ca_file.clone();
    let client = config.client().unwrap();
    match KeeperMapStateStore::open(client, &unique_name("sink_state"), "g").await {
        Err(e @ StateError::Refused { .. }) => assert!(e.to_string().contains("clickhouse.tls.ca_file"), "{e}"),
        Err(other) => panic!("a certificate from another CA must be refused for good: {other:?}"),
        Ok(_) => panic!("connected with a CA that did not sign the server's certificate"),
    }
}

#[tokio::test]
async fn memory_store_keeps_the_contract() {
    contract(&MemoryStateStore::new()).await;
}
