//! What the benchmarks measure besides time: a process's CPU seconds and
//! peak RSS (from /proc), and the local ClickHouse front end's own raw insert
//! rate, the ceiling a sink's rate is compared with.

use std::sync::Arc;
use std::time::Instant;

/// CPU seconds (user + system) and peak RSS (MiB) of a live process.
pub fn cpu_and_peak_rss(pid: u32) -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let hwm_kb: f64 = status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some((ticks / 100.0, hwm_kb / 1024.0))
}

/// Peak RSS (KiB) of a live process; 0 once it is gone.
pub fn peak_rss_kib(pid: u32) -> u64 {
    cpu_and_peak_rss(pid).map_or(0, |(_, mib)| (mib * 1024.0) as u64)
}

/// Resets a process's peak RSS to its current RSS (`clear_refs` 5, proc(5)),
/// so the next reading is the peak of what came after. Best effort: a
/// process of another user keeps its lifetime peak.
pub fn reset_peak_rss(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

/// The front end's insert rate (rows/s) for `table`'s rows: read back as
/// RowBinary batches of 10,000 rows (in `order_by` order), then inserted
/// into a fresh copy of the table by `clients` concurrent clients — no
/// Kafka, no decoding, no state. Asserts the copy holds every row.
pub async fn clickhouse_raw_insert_rate(client: &clickhouse::Client, table: &str, order_by: &str, clients: usize) -> f64 {
    let copy = crate::unique_name("raw_insert_copy");
    client.query(&format!("CREATE TABLE `{copy}` AS `{table}`")).execute().await.unwrap();
    let rows: u64 = client.query(&format!("SELECT count() FROM `{table}`")).fetch_one().await.unwrap();
    let mut batches = Vec::new();
    for offset in (0..rows).step_by(10_000) {
        let mut cursor = client
            .query(&format!("SELECT * FROM `{table}` ORDER BY {order_by} LIMIT 10000 OFFSET {offset}"))
            .fetch_bytes("RowBinary")
            .unwrap();
        batches.push(cursor.collect().await.unwrap());
    }
    let batches = Arc::new(std::sync::Mutex::new(batches));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (batches, client, copy) = (batches.clone(), client.clone(), copy.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let Some(batch) = batches.lock().unwrap().pop() else { return };
                let mut insert = client.insert_formatted_with(format!("INSERT INTO `{copy}` FORMAT RowBinary"));
                insert.send(batch).await.unwrap();
                insert.end().await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let rate = rows as f64 / started.elapsed().as_secs_f64();
    let copied: u64 = client.query(&format!("SELECT count() FROM `{copy}`")).fetch_one().await.unwrap();
    assert_eq!(copied, rows, "the raw inserts stored every row");
    rate
}

/// The process id of one of the local stack's services (`mysql`, `kafka`,
/// `clickhouse`, …) from its PID file in the run directory (`STACK_DIR`).
pub fn stack_service_pid(service: &str) -> Option<u32> {
    let dir = std::env::var("STACK_DIR").map(std::path::PathBuf::from).unwrap_or_else(|_| crate::repo_root().join(".stack"));
    std::fs::read_to_string(dir.join(service).join(format!("{service}.pid"))).ok()?.trim().parse().ok()
}
