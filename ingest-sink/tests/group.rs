//! Sinks in one consumer group: rebalances mid-stream (a second instance
//! joins, the first is killed -9, a third joins) keep exactly-once; and a
//! frozen instance whose partitions moved on (a zombie) is refused when it
//! wakes up and writes.
//!
//! They use the sink's default assignor, cooperative-sticky (the local
//! broker's old fault of losing partitions in cooperative rebalances is gone:
//! `broker_faults` in the `it` tests probes it).

mod common;

use common::*;
use integration_tests::{Stack, TEST_REGISTRY, unique_name};
use std::process::Command;
use std::time::{Duration, Instant};

const EVENTS: u64 = 30_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebalance_with_a_second_instance_then_a_kill() {
    let stack = Stack::get();
    let topic = unique_name("rebalance");
    produce(stack, &topic, TEST_REGISTRY, EVENTS).await;
    let mut setup = SinkSetup::new(&topic, TEST_REGISTRY, "redis");
    setup.batch_max_rows = 500;
    let config = setup.config_file(stack);

    let log_a = format!("{}-a", setup.group);
    let mut a = start_sink(&config, None, &log_a);
    wait_for_rows(stack, &setup.table, 3_000, Some(&mut a), Duration::from_secs(60)).await;
    let log_b = format!("{}-b", setup.group);
    let mut b = start_sink(&config, None, &log_b);
    // Until B has taken partitions from A (cooperative rebalance), then A dies.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !log_of(&log_b).contains("partition assigned") {
        assert!(Instant::now() < deadline, "B never got a partition:\n{}", log_of(&log_b));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    a.kill().unwrap(); // SIGKILL, mid-stream
    a.wait().unwrap();
    let log_c = format!("{}-c", setup.group);
    let mut c = start_sink(&config, None, &log_c);

    let result = wait_for_rows(stack, &setup.table, EVENTS, Some(&mut b), Duration::from_secs(120)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let settled = totals(stack, &setup.table).await;
    assert!(c.try_wait().unwrap().is_none(), "C exited:\n{}", log_of(&log_c));
    stop_sink(b);
    stop_sink(c);
    assert_eq!(result, (EVENTS, EVENTS, 1, EVENTS as i64), "A:\n{}\nB:\n{}", log_of(&log_a), log_of(&log_b));
    assert_eq!(settled, result);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_instance_is_fenced_when_it_wakes_up() {
    let stack = Stack::get();
    let topic = unique_name("zombie");
    produce(stack, &topic, TEST_REGISTRY, EVENTS).await;
    let mut setup = SinkSetup::new(&topic, TEST_REGISTRY, "redis");
    setup.batch_max_rows = 500;
    let config = setup.config_file(stack);

    // A freezes right after storing BEFORE for its 3rd batch, holding partitions.
    let log_a = format!("{}-zombie", setup.group);
    let mut a = start_sink(&config, Some("after_before:3:stop"), &log_a);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !log_of(&log_a).contains("stopping (SIGSTOP)") {
        assert!(Instant::now() < deadline, "A never froze:\n{}", log_of(&log_a));
        assert!(a.try_wait().unwrap().is_none(), "A exited:\n{}", log_of(&log_a));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // B takes over once A's session times out, and applies everything.
    let log_b = format!("{}-owner", setup.group);
    let mut b = start_sink(&config, None, &log_b);
    let result = wait_for_rows(stack, &setup.table, EVENTS, Some(&mut b), Duration::from_secs(120)).await;
    assert_eq!(result, (EVENTS, EVENTS, 1, EVENTS as i64), "B:\n{}", log_of(&log_b));

    // A wakes up mid-batch: its insert carries the same token as B's re-formed batch
    // (dropped by ClickHouse), and its state write is refused.
    Command::new("kill").args(["-CONT", &a.id().to_string()]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !log_of(&log_a).contains("refused") {
        assert!(Instant::now() < deadline, "the zombie's write was not refused:\n{}", log_of(&log_a));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let settled = totals(stack, &setup.table).await;
    stop_sink(a);
    stop_sink(b);
    assert_eq!(settled, (EVENTS, EVENTS, 1, EVENTS as i64), "the zombie added rows:\n{}", log_of(&log_a));
}
