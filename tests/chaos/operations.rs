//! What applications and DBAs do to tables besides the workload's
//! transactions, run beside it in the crash suite: primary-key updates,
//! savepoints rolled back, `TRUNCATE`, `RENAME TABLE` back and forth and a
//! column widened mid-run. A statement cut by a MySQL restart is simply not
//! retried (whether it landed or not, `verify` compares the end state).

use mysql_async::prelude::Queryable;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use shared::mysql::MysqlConnector;
use std::time::{Duration, Instant};

/// The tables the operations use; `rot_a` and `rot_b` are one table under its two names.
pub const TABLES: [&str; 3] = ["ops_items", "ops_rot_a", "ops_rot_b"];

/// Creates the tables, with rows for the snapshot.
pub async fn create(mysql: &MysqlConnector, db: &str) {
    let mut conn = mysql.connect().await.unwrap();
    conn.query_drop(format!("CREATE TABLE `{db}`.ops_items (id INT PRIMARY KEY, v INT NOT NULL, note VARCHAR(20))")).await.unwrap();
    conn.query_drop(format!("CREATE TABLE `{db}`.ops_rot_a (id INT PRIMARY KEY, v INT NOT NULL)")).await.unwrap();
    let rows: Vec<String> = (1..=50).map(|i| format!("({i}, {i}, 'seed')")).collect();
    conn.query_drop(format!("INSERT INTO `{db}`.ops_items VALUES {}", rows.join(", "))).await.unwrap();
    let rows: Vec<String> = (1..=50).map(|i| format!("({i}, {i})")).collect();
    conn.query_drop(format!("INSERT INTO `{db}`.ops_rot_a VALUES {}", rows.join(", "))).await.unwrap();
}

/// What ran.
#[derive(Debug, Default)]
pub struct Done {
    pub statements: u64,
    pub failed: u64,
    pub truncates: u64,
    pub renames: u64,
    pub widened: bool,
}

/// Runs operations for `seconds`, about ten a second.
pub async fn run(mysql: MysqlConnector, db: String, seconds: u64, seed: u64) -> Done {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut done = Done::default();
    let started = Instant::now();
    let mut next_id = 10_000;
    let mut rotated = false; // the rotating table is now ops_rot_b
    let mut conn = None;
    while started.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_millis(rng.random_range(50..150))).await;
        if conn.is_none() {
            // (Re)connected: which name the rotating table has (a RENAME cut by a restart may or may not have landed).
            let Ok(mut c) = mysql.connect().await else { continue };
            let names: Result<Vec<String>, _> = c
                .exec(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = ? AND table_name IN ('ops_rot_a', 'ops_rot_b')",
                    (&db,),
                )
                .await;
            match names.as_deref() {
                Ok([name]) => rotated = name == "ops_rot_b",
                _ => continue,
            }
            conn = Some(c);
        }
        let Some(c) = conn.as_mut() else { continue };
        let rot = if rotated { "ops_rot_b" } else { "ops_rot_a" };
        next_id += 1;
        let statements: Vec<String> = match rng.random_range(0..100) {
            0..30 => vec![format!("INSERT INTO `{db}`.ops_items VALUES ({next_id}, {next_id}, 'new')")],
            30..45 => vec![format!("UPDATE `{db}`.ops_items SET id = id + 1000000 ORDER BY id LIMIT 1")],
            45..55 => vec![
                "BEGIN".into(),
                format!("INSERT INTO `{db}`.ops_items VALUES ({next_id}, 1, 'kept')"),
                "SAVEPOINT s".into(),
                format!("UPDATE `{db}`.ops_items SET note = 'rolled back' WHERE id = {next_id}"),
                format!("DELETE FROM `{db}`.ops_items ORDER BY id LIMIT 3"),
                "ROLLBACK TO SAVEPOINT s".into(),
                format!("UPDATE `{db}`.ops_items SET v = v + 1 WHERE id = {next_id}"),
                "COMMIT".into(),
            ],
            55..60 if !done.widened && started.elapsed() > Duration::from_secs(seconds / 3) => {
                done.widened = true;
                vec![format!("ALTER TABLE `{db}`.ops_items MODIFY v BIGINT NOT NULL")]
            }
            60..62 => {
                done.truncates += 1;
                vec![format!("TRUNCATE TABLE `{db}`.ops_items")]
            }
            62..67 => {
                done.renames += 1;
                let other = if rotated { "ops_rot_a" } else { "ops_rot_b" };
                rotated = !rotated;
                vec![format!("RENAME TABLE `{db}`.{rot} TO `{db}`.{other}")]
            }
            67..85 => vec![format!("INSERT INTO `{db}`.{rot} VALUES ({next_id}, {next_id})")],
            _ => vec![format!("UPDATE `{db}`.{rot} SET v = v + 1 ORDER BY id DESC LIMIT 2")],
        };
        for sql in statements {
            done.statements += 1;
            if let Err(e) = c.query_drop(&sql).await {
                done.failed += 1;
                println!("operations: {sql}: {e}");
                conn = None;
                break;
            }
        }
    }
    done
}
