//! The clickstream simulator against the real broker and registry: every
//! event arrives exactly once, decodes through the registry (schema fetched
//! by its version id), each user's events sit on one partition in order,
//! and the schema is registered once.

use clap::Parser;
use integration_tests::{Stack, TEST_REGISTRY, unique_name};
use producer_sim::clickstream::model::ClickEvent;
use producer_sim::clickstream::{self, options::ClickstreamArgs};
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use shared::glue::{GlueAvroDecoder, GlueRegistry, GlueSchemaCache};
use shared::kafka::ClientRole;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: ClickstreamArgs,
}

pub fn clickstream_args(flags: &[&str]) -> ClickstreamArgs {
    Cli::parse_from(std::iter::once("clickstream").chain(flags.iter().copied())).args
}

/// Every record of `topic` (expected: `count`), as (partition, offset, key, value bytes).
pub async fn read_all(stack: &Stack, topic: &str, count: usize) -> Vec<(i32, i64, String, Vec<u8>)> {
    let consumer: StreamConsumer = stack
        .kafka_config()
        .client_config(ClientRole::Consumer { group_id: &unique_name("reader") })
        .unwrap()
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut records = Vec::with_capacity(count);
    while records.len() < count {
        let message = integration_tests::next_record(&consumer, Duration::from_secs(60))
            .await
            .unwrap_or_else(|| panic!("only {} of {count} records arrived within 60 s", records.len()));
        records.push((
            message.partition(),
            message.offset(),
            String::from_utf8(message.key().unwrap_or_default().to_vec()).unwrap(),
            message.payload().unwrap_or_default().to_vec(),
        ));
    }
    let extra = integration_tests::next_record(&consumer, Duration::from_secs(2)).await;
    assert!(extra.is_none(), "more records than the simulator reported");
    records
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_arrives_once_decodes_and_keeps_user_order() {
    const EVENTS: usize = 20_000;
    let stack = Stack::get();
    let topic = unique_name("clicks");
    let registry = TEST_REGISTRY;
    let args = clickstream_args(&[
        "--topic", &topic, "--events", "20000", "--no-delay", "--users", "300", "--threads", "2", "--partitions", "3",
    ]);
    let summary = clickstream::run(&args, &stack.kafka_config(), &stack.glue_config(registry), Arc::new(AtomicBool::new(false)))
        .await
        .unwrap();
    assert_eq!((summary.sent, summary.delivered, summary.failed), (EVENTS as u64, EVENTS as u64, 0), "{}", summary.render());
    assert_eq!(summary.highest_globalseq, EVENTS as u64);

    let records = read_all(stack, &topic, EVENTS).await;
    let decoder = GlueAvroDecoder::new(Arc::new(GlueSchemaCache::new(
        GlueRegistry::connect(&stack.glue_config(registry)).await,
    )));
    let mut seqs = BTreeSet::new();
    let mut by_user: BTreeMap<i32, Vec<(i32, i64, ClickEvent)>> = BTreeMap::new();
    for (partition, offset, key, bytes) in &records {
        let decoded = decoder.decode(bytes).await.unwrap();
        assert_eq!(Some(decoded.schema.version_id), summary.schema_version_id);
        let event: ClickEvent = apache_avro::from_value(&decoded.value).unwrap();
        assert_eq!(key, &event.userid.to_string(), "key = userid");
        assert!(seqs.insert(event.globalseq), "globalseq {} twice", event.globalseq);
        by_user.entry(event.userid).or_default().push((*partition, *offset, event));
    }
    assert_eq!(seqs, (1..=EVENTS as i64).collect(), "globalseq 1..=N, no gap");
    assert_eq!(decoder.cache().registry_calls(), 1, "the schema is fetched by id once");

    assert_eq!(by_user.len(), 300);
    let mut partitions_used = BTreeSet::new();
    for (user, events) in &mut by_user {
        let partitions: BTreeSet<i32> = events.iter().map(|(p, _, _)| *p).collect();
        assert_eq!(partitions.len(), 1, "user {user} on partitions {partitions:?}");
        partitions_used.extend(partitions);
        events.sort_by_key(|(_, offset, _)| *offset);
        let mut previous = 0;
        for (_, _, event) in events.iter() {
            assert_eq!(event.prevglobalseq, previous, "user {user}: events out of order or missing");
            assert!(event.globalseq > previous);
            previous = event.globalseq;
        }
    }
    assert_eq!(partitions_used.len(), 3);

    let schema = stack
        .glue_client()
        .await
        .get_schema()
        .schema_id(aws_sdk_glue::types::SchemaId::builder().registry_name(registry).schema_name(&topic).build())
        .send()
        .await
        .unwrap();
    assert_eq!(schema.latest_schema_version(), Some(1), "registered exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_format_and_globalseq_file() {
    let stack = Stack::get();
    let topic = unique_name("clicks_json");
    let file = std::env::temp_dir().join(format!("{topic}.globalseq"));
    let args = clickstream_args(&[
        "--topic", &topic, "--events", "500", "--no-delay", "--format", "json", "--json-with-schema",
        "--globalseq-file", file.to_str().unwrap(),
    ]);
    let summary = clickstream::run(&args, &stack.kafka_config(), &stack.glue_config("unused"), Arc::new(AtomicBool::new(false)))
        .await
        .unwrap();
    assert_eq!(summary.delivered, 500);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "500\n");
    let records = read_all(stack, &topic, 500).await;
    let mut seqs = BTreeSet::new();
    for (_, _, _, bytes) in records {
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json["schema"]["name"], "samples.clickstream.avro.ClickEvent");
        seqs.insert(json["payload"]["globalseq"].as_i64().unwrap());
    }
    assert_eq!(seqs, (1..=500).collect());
}
