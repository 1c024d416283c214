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
    let store = RedisStateStore::connect(&stack.redis_url, &unique_name("group")).await.unwrap();
    contract(&store).await;
}

#[tokio::test]
async fn keepermap_store_keeps_the_contract() {
    let stack = Stack::get();
    let client = clickhouse::Client::default().with_url(&stack.clickhouse_url);
    let store = KeeperMapStateStore::open(client, &unique_name("sink_state"), &unique_name("group")).await.unwrap();
    contract(&store).await;
}

#[tokio::test]
async fn memory_store_keeps_the_contract() {
    contract(&MemoryStateStore::new()).await;
}
