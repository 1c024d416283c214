//! Redis answers the `redis` crate: SET, GET, and a Lua script (the state
//! store's compare-and-set mechanism) run against the real server.

use integration_tests::{Stack, unique_name};
use redis::AsyncCommands;

#[tokio::test]
async fn set_get_and_script() {
    let stack = Stack::get();
    let client = redis::Client::open(stack.redis_url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let key = unique_name("smoke");

    let () = conn.set(&key, "v1").await.unwrap();
    let value: String = conn.get(&key).await.unwrap();
    assert_eq!(value, "v1");

    let cas = redis::Script::new(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) return 1 else return 0 end",
    );
    let swapped: i32 = cas.key(&key).arg("v1").arg("v2").invoke_async(&mut conn).await.unwrap();
    let refused: i32 = cas.key(&key).arg("v1").arg("v3").invoke_async(&mut conn).await.unwrap();
    assert_eq!((swapped, refused), (1, 0));
    let value: String = conn.get(&key).await.unwrap();
    assert_eq!(value, "v2");

    let _: () = conn.del(&key).await.unwrap();
}
