//! Crash tests: the sink is killed at each named fault point (and, in a loop,
//! at random moments), restarted, and ClickHouse must still hold every
//! `globalseq` exactly once.

mod common;

use common::*;
use integration_tests::{Stack, TEST_REGISTRY, unique_name};
use rand::{Rng, SeedableRng};
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

const EVENTS: u64 = 6_000;

/// Kills the sink at the 3rd hit of `point`, restarts it, and checks exactly-once.
async fn crash_at(point: &str, store: &'static str) {
    let stack = Stack::get();
    let topic = unique_name("crash");
    produce(stack, &topic, TEST_REGISTRY, EVENTS).await;
    let mut setup = SinkSetup::new(&topic, TEST_REGISTRY, store);
    setup.batch_max_rows = 500;
    let config = setup.config_file(stack);

    let log = format!("{}-{point}", setup.group);
    let mut crashing = start_sink(&config, Some(&format!("{point}:3")), &log);
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = crashing.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the sink never reached fault point {point}:\n{}", log_of(&log));
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status.signal(), Some(6), "expected an abort at {point}, got {status}:\n{}", log_of(&log));
    assert!(log_of(&log).contains(&format!("fault point `{point}` reached")));
    let before_restart = totals(stack, &setup.table).await.0;
    assert!(before_restart < EVENTS, "the crash happened before all rows were in");

    let log = format!("{}-{point}-restart", setup.group);
    let mut sink = start_sink(&config, None, &log);
    let result = wait_for_rows(stack, &setup.table, EVENTS, Some(&mut sink), Duration::from_secs(120)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let settled = totals(stack, &setup.table).await;
    stop_sink(sink);
    assert_eq!(result, (EVENTS, EVENTS, 1, EVENTS as i64), "after a crash at {point}:\n{}", log_of(&log));
    assert_eq!(settled, result, "late duplicates after a crash at {point}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_reading_a_batch() {
    crash_at("after_read", "redis").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_before_is_stored() {
    crash_at("after_before", "redis").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_in_the_middle_of_an_insert() {
    crash_at("mid_insert", "keepermap").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_insert_before_after_is_stored() {
    crash_at("after_insert", "redis").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_after_before_the_offset_commit() {
    crash_at("after_after", "keepermap").await;
}

/// kill -9 at random moments during a 200k-event run; seeded, the seed printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_minus_nine_loop_during_a_large_run() {
    const LARGE: u64 = 200_000;
    let stack = Stack::get();
    let seed: u64 = std::env::var("CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    println!("kill loop seed: {seed} (rerun with CRASH_SEED={seed})");
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let topic = unique_name("kill_loop");
    produce(stack, &topic, TEST_REGISTRY, LARGE).await;
    let mut setup = SinkSetup::new(&topic, TEST_REGISTRY, "redis");
    setup.batch_max_rows = 5_000;
    setup.metadata_columns = true;
    let config = setup.config_file(stack);

    let mut kills = 0;
    for round in 0..8 {
        let log = format!("{}-round{round}", setup.group);
        let mut sink = start_sink(&config, None, &log);
        tokio::time::sleep(Duration::from_millis(rng.random_range(800..3000))).await;
        if sink.try_wait().unwrap().is_some() {
            panic!("sink exited by itself in round {round}:\n{}", log_of(&log));
        }
        sink.kill().unwrap(); // SIGKILL
        sink.wait().unwrap();
        kills += 1;
        if totals(stack, &setup.table).await.0 >= LARGE {
            break;
        }
    }
    let log = format!("{}-final", setup.group);
    let mut sink = start_sink(&config, None, &log);
    let result = wait_for_rows(stack, &setup.table, LARGE, Some(&mut sink), Duration::from_secs(300)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let settled = totals(stack, &setup.table).await;
    stop_sink(sink);
    println!("{kills} kills; final totals {settled:?}");
    assert_eq!(result, (LARGE, LARGE, 1, LARGE as i64), "seed {seed}:\n{}", log_of(&log));
    assert_eq!(settled, result, "seed {seed}: late duplicates");
}
