//! The ClickHouse endpoint is a real ClickHouse engine behind the HTTP
//! interface the `clickhouse` crate speaks: ReplacingMergeTree with
//! `_version`/`_is_deleted` collapses under FINAL, an insert retried with the
//! same `insert_deduplication_token` is dropped even when its bytes differ,
//! and KeeperMap tables work (strict mode refuses to overwrite a key).

use clickhouse::{Client, Row};
use integration_tests::{Stack, unique_name};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
struct Item {
    id: u64,
    name: String,
    _version: u64,
    _is_deleted: u8,
}

fn item(id: u64, name: &str, version: u64, deleted: bool) -> Item {
    Item {
        id,
        name: name.to_string(),
        _version: version,
        _is_deleted: deleted as u8,
    }
}

async fn client_with_database(stack: &Stack) -> (Client, String) {
    let db = unique_name("smoke");
    let client = Client::default().with_url(&stack.clickhouse_url);
    client.query(&format!("CREATE DATABASE `{db}`")).execute().await.unwrap();
    (client.with_database(&db), db)
}

async fn count(client: &Client, sql: &str) -> u64 {
    client.query(sql).fetch_one::<u64>().await.unwrap()
}

#[tokio::test]
async fn replacing_merge_tree_inserter_and_final() {
    let stack = Stack::get();
    let (client, db) = client_with_database(stack).await;
    client
        .query(
            "CREATE TABLE items (id UInt64, name String, _version UInt64, _is_deleted UInt8) \
             ENGINE = ReplacingMergeTree(_version, _is_deleted) ORDER BY id \
             SETTINGS non_replicated_deduplication_window = 1000",
        )
        .execute()
        .await
        .unwrap();

    let mut inserter = client.inserter::<Item>("items");
    for id in 1..=100 {
        inserter.write(&item(id, &format!("v1-{id}"), 1, false)).await.unwrap();
    }
    inserter.force_commit().await.unwrap(); // first INSERT: one part
    for id in 1..=10 {
        inserter.write(&item(id, "updated", 2, false)).await.unwrap();
    }
    for id in 11..=20 {
        inserter.write(&item(id, "", 2, true)).await.unwrap();
    }
    // An older version arriving late must not win.
    inserter.write(&item(1, "stale", 0, false)).await.unwrap();
    let last = inserter.end().await.unwrap(); // second INSERT: another part, collapsed only by FINAL
    assert_eq!(last.rows, 21);

    // Without FINAL both versions of ids 1..=20 may still be visible (parts not merged yet).
    assert!(count(&client, "SELECT count() FROM items").await >= 100);
    // FINAL keeps the highest _version per key and drops keys whose winner has _is_deleted = 1.
    assert_eq!(count(&client, "SELECT count() FROM items FINAL").await, 90);
    let live: Vec<Item> = client
        .query("SELECT ?fields FROM items FINAL WHERE _is_deleted = 0 ORDER BY id")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(live.len(), 90);
    assert_eq!(live[0], item(1, "updated", 2, false));
    assert_eq!(live[9], item(10, "updated", 2, false));
    assert_eq!(live[10], item(21, "v1-21", 1, false));
    assert!(live.iter().all(|i| !(11..=20).contains(&i.id)), "deleted ids must not be live");

    client.query(&format!("DROP DATABASE `{db}`")).execute().await.unwrap();
}

#[tokio::test]
async fn retried_insert_with_same_dedup_token_is_dropped() {
    let stack = Stack::get();
    let (client, db) = client_with_database(stack).await;
    client
        .query(
            "CREATE TABLE events (id UInt64, name String, _version UInt64, _is_deleted UInt8) \
             ENGINE = MergeTree ORDER BY id SETTINGS non_replicated_deduplication_window = 1000",
        )
        .execute()
        .await
        .unwrap();

    async fn insert_with_token(client: &Client, token: &str, rows: &[Item]) {
        let mut insert = client
            .insert::<Item>("events")
            .await
            .unwrap()
            .with_setting("insert_deduplication_token", token);
        for row in rows {
            insert.write(row).await.unwrap();
        }
        insert.end().await.unwrap();
    }

    let first = [item(1, "a", 1, false), item(2, "b", 1, false)];
    insert_with_token(&client, "events:0:0:1", &first).await;
    // A retry of the same range whose bytes differ (e.g. re-encoded): still dropped.
    insert_with_token(&client, "events:0:0:1", &[item(1, "a-again", 1, false), item(2, "b", 1, false)]).await;
    insert_with_token(&client, "events:0:2:2", &[item(3, "c", 1, false)]).await;

    let rows: Vec<Item> = client.query("SELECT ?fields FROM events ORDER BY id").fetch_all().await.unwrap();
    assert_eq!(rows, vec![first[0].clone(), first[1].clone(), item(3, "c", 1, false)]);

    client.query(&format!("DROP DATABASE `{db}`")).execute().await.unwrap();
}

#[tokio::test]
async fn keeper_map_round_trip_and_strict_mode() {
    let stack = Stack::get();
    let (client, db) = client_with_database(stack).await;
    client
        .query(&format!(
            "CREATE TABLE state (key String, value UInt64) ENGINE = KeeperMap('/{db}/state') PRIMARY KEY key"
        ))
        .execute()
        .await
        .unwrap();
    client.query("INSERT INTO state VALUES ('a', 1), ('b', 2)").execute().await.unwrap();
    // Non-strict insert overwrites.
    client.query("INSERT INTO state VALUES ('a', 10)").execute().await.unwrap();
    // Strict mode refuses to overwrite an existing key: the basis of compare-and-set.
    let strict = client
        .query("INSERT INTO state SETTINGS keeper_map_strict_mode = 1 VALUES ('b', 20)")
        .execute()
        .await;
    assert!(strict.is_err(), "strict mode must refuse to overwrite key 'b'");

    let rows: Vec<(String, u64)> = client.query("SELECT key, value FROM state ORDER BY key").fetch_all().await.unwrap();
    assert_eq!(rows, vec![("a".to_string(), 10), ("b".to_string(), 2)]);

    client.query(&format!("DROP DATABASE `{db}`")).execute().await.unwrap();
}
