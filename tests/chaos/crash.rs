//! The crash suite: the MySQL workload and the clickstream simulator run
//! together while a chaos driver, at seeded random moments, kill -9s (and
//! restarts) the source and the sink, and restarts Redis, the ClickHouse
//! front end and MySQL — at least 20 kills per run. Then `verify` must find
//! every MySQL table equal to its ClickHouse table and the clickstream without
//! gaps or duplicates. Beside the workload, table operations run (primary-key
//! updates, savepoints, TRUNCATE, RENAME, a column widened: see
//! [`crate::operations`]) and their tables must be equal too.
//! `CHAOS_SEED=<n>` replays a run's schedule.
//! A sink may be killed at any moment, also while its restart is still
//! joining the group (the local broker's old stuck-group fault is gone:
//! `broker_faults` in the `it` tests probes it).

use crate::pipeline::Pipeline;
use clap::Parser;
use integration_tests::{Stack, log_of, repo_root, tail};
use producer_sim::clickstream::{self, options::ClickstreamArgs};
use producer_sim::mysql_load::{self, MysqlLoadArgs};
use producer_sim::verify::{self, VerifyArgs};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use shared::kafka::{KafkaContext, ensure_topic};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

const MIN_KILLS: usize = 20;
const WORKLOAD_SECONDS: u64 = 40;
const CLICK_EVENTS: u64 = 20_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Action {
    KillSource,
    KillSink,
    RestartRedis,
    RestartClickHouse,
    RestartMysql,
}

impl Action {
    /// Every run does each restart twice and MIN_KILLS kills, in a seeded
    /// random order; more random actions follow while the workloads run.
    fn schedule(rng: &mut SmallRng) -> Vec<Action> {
        use rand::seq::SliceRandom;
        let mut plan = vec![Action::RestartRedis, Action::RestartClickHouse, Action::RestartMysql];
        plan.extend_from_within(..);
        plan.extend((0..MIN_KILLS).map(|i| if i % 2 == 0 { Action::KillSource } else { Action::KillSink }));
        plan.shuffle(rng);
        plan.reverse(); // popped from the end
        plan
    }

    fn pick(rng: &mut SmallRng) -> Action {
        match rng.random_range(0..100) {
            0..35 => Action::KillSource,
            35..70 => Action::KillSink,
            70..80 => Action::RestartRedis,
            80..90 => Action::RestartClickHouse,
            _ => Action::RestartMysql,
        }
    }
}

#[derive(Parser)]
struct ClickCli {
    #[command(flatten)]
    args: ClickstreamArgs,
}

fn restart_service(service: &str) {
    let output = Command::new(repo_root().join("scripts/stack")).args(["restart", service]).output().unwrap();
    assert!(
        output.status.success(),
        "`scripts/stack restart {service}` failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crashes_everywhere_lose_and_duplicate_nothing() {
    let _serial = crate::SERIAL.lock().await;
    let stack = Stack::get();
    let seed: u64 = std::env::var("CHAOS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    println!("chaos seed {seed} (replay with CHAOS_SEED={seed})");
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut pipeline = Pipeline::with_tables(stack, "chaos", &crate::operations::TABLES, 200);
    let mysql = Pipeline::mysql(stack);

    // Rows that exist before the source starts arrive through the snapshot.
    let mut load = MysqlLoadArgs {
        database: pipeline.database.clone(),
        transactions: Some(300),
        duration: None,
        rate: 0,
        connections: 2,
        seed: Some(seed),
        ddl_after: None,
        initial_rows: 200,
    };
    mysql_load::run(&load, mysql.clone(), Arc::new(AtomicBool::new(false))).await.unwrap();
    crate::operations::create(&mysql, &pipeline.database).await;
    let kafka = stack.kafka_config();
    ensure_topic(&kafka, KafkaContext::for_config(&kafka).await.unwrap(), &pipeline.clicks_topic, 3, 1).await.unwrap();
    pipeline.start_source();
    pipeline.wait_for_source_log("snapshot complete", Duration::from_secs(90));
    pipeline.start_sink();

    // The workloads, in the background.
    load.transactions = None;
    load.duration = Some(WORKLOAD_SECONDS);
    load.rate = 150;
    // Early enough that a slow run (a busy machine: 40 transactions/s) has it mid-chaos.
    load.ddl_after = Some(500);
    load.seed = Some(seed.wrapping_add(1));
    let mysql_opts = mysql.clone();
    let mysql_task = tokio::spawn(async move { mysql_load::run(&load, mysql_opts, Arc::new(AtomicBool::new(false))).await });
    let ops_task = tokio::spawn(crate::operations::run(mysql.clone(), pipeline.database.clone(), WORKLOAD_SECONDS, seed.wrapping_add(2)));
    let events = CLICK_EVENTS.to_string();
    let rate = (CLICK_EVENTS / WORKLOAD_SECONDS).to_string();
    let click_args = ClickCli::parse_from([
        "clickstream", "--topic", &pipeline.clicks_topic, "--events", &events, "--no-delay", "--rate", &rate, "--users", "300",
    ])
    .args;
    let glue = stack.glue_config(integration_tests::TEST_REGISTRY);
    let kafka_for_clicks = kafka.clone();
    let click_task = tokio::spawn(async move { clickstream::run(&click_args, &kafka_for_clicks, &glue, Arc::new(AtomicBool::new(false))).await });

    // The chaos driver: until the workloads are done and at least MIN_KILLS kills happened.
    let mut done: Vec<(Action, Duration)> = Vec::new();
    let started = Instant::now();
    let kills = |done: &[(Action, Duration)]| done.iter().filter(|(a, _)| matches!(a, Action::KillSource | Action::KillSink)).count();
    let mut plan = Action::schedule(&mut rng);
    while !(mysql_task.is_finished() && click_task.is_finished() && ops_task.is_finished() && plan.is_empty()) {
        tokio::time::sleep(Duration::from_millis(rng.random_range(600..2_400))).await;
        pipeline.assert_running();
        let action = plan.pop().unwrap_or_else(|| Action::pick(&mut rng));
        match action {
            Action::KillSource => {
                pipeline.kill_source();
                tokio::time::sleep(Duration::from_millis(rng.random_range(0..800))).await;
                pipeline.start_source();
            }
            Action::KillSink => {
                pipeline.kill_sink();
                tokio::time::sleep(Duration::from_millis(rng.random_range(0..800))).await;
                pipeline.start_sink();
            }
            Action::RestartRedis => tokio::task::spawn_blocking(|| restart_service("redis")).await.unwrap(),
            Action::RestartClickHouse => tokio::task::spawn_blocking(|| restart_service("clickhouse")).await.unwrap(),
            Action::RestartMysql => tokio::task::spawn_blocking(|| restart_service("mysql")).await.unwrap(),
        }
        println!("chaos {:>6.1} s: {action:?}", started.elapsed().as_secs_f64());
        done.push((action, started.elapsed()));
        assert!(started.elapsed() < Duration::from_secs(600), "the chaos run did not end within 10 minutes");
    }
    let mysql_summary = mysql_task.await.unwrap().expect("the MySQL workload survives every restart");
    let click_summary = click_task.await.unwrap().unwrap();
    let ops = ops_task.await.unwrap();
    println!("table operations: {ops:?}");
    assert!(ops.widened && ops.truncates > 0 && ops.renames > 0, "every kind of table operation ran: {ops:?}");
    assert_eq!(click_summary.failed, 0, "the simulator delivered every event");
    println!("{}", mysql_summary.render());
    let mut counts = std::collections::BTreeMap::new();
    for (action, _) in &done {
        *counts.entry(format!("{action:?}")).or_insert(0) += 1;
    }
    println!("chaos actions: {counts:?} in {:.0} s", started.elapsed().as_secs_f64());
    assert!(kills(&done) >= MIN_KILLS);
    assert!(mysql_summary.transactions > 1_000, "the workload made progress under chaos");

    pipeline.assert_running();
    let verify_args = VerifyArgs {
        database: pipeline.database.clone(),
        topic_prefix: pipeline.database.clone(),
        tables: Vec::new(),
        clickstream_table: Some(pipeline.clicks_table.clone()),
        clickstream_events: Some(click_summary.highest_globalseq),
        timeout: 300,
        examples: 5,
    };
    let report = verify::run(&verify_args, &mysql, &Pipeline::clickhouse(stack)).await.unwrap();
    println!("{}", report.render());
    if report.differences() != 0 {
        println!("sink log tail:\n{}", tail(&log_of(&pipeline.sink_log()), 60));
        println!("source log tail:\n{}", tail(&log_of(&pipeline.source_log()), 40));
    }
    assert_eq!(report.differences(), 0, "seed {seed}: MySQL and ClickHouse differ after the crash run");
    assert_eq!(report.tables.len(), 6, "the workload's four tables, ops_items and the rotating table under its last name");
    assert!(report.tables.iter().filter(|t| !t.table.ends_with("ops_items")).all(|t| t.mysql_rows > 0));
    assert_eq!(report.clickstream.as_ref().unwrap().rows, CLICK_EVENTS);

    // The mid-run DDL arrived as a column and as a recorded schema-change event.
    let ch = Pipeline::clickhouse(stack);
    let ddl_rows: u64 = ch
        .query(&format!("SELECT count() FROM `{}` WHERE ddl LIKE '%ADD COLUMN%coupon%'", shared::kafka::default_table(&pipeline.database)))
        .fetch_one()
        .await
        .unwrap();
    assert!(mysql_summary.ddl_done);
    assert!(ddl_rows >= 1, "the schema-change event of the mid-run DDL is recorded in ClickHouse");
    pipeline.stop();
}
