//! Poison records: a bad header byte, an unknown schema version, a truncated
//! datum, and a record whose type does not fit the table. With
//! `errors_tolerance = "all"` each goes to the dead-letter topic with its raw
//! bytes and headers naming the error and origin, and every good row lands;
//! with `"none"` the partition stops at the first one, loudly.

mod common;

use apache_avro::types::Value;
use common::*;
use integration_tests::{Stack, TEST_REGISTRY, unique_name};
use producer_sim::clickstream::model::{CLICK_EVENT_SCHEMA, User};
use rand::SeedableRng;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use shared::glue::{Compression, GlueAvroEncoder, GlueRegistry, RegistrationOptions};
use shared::kafka::ClientRole;
use std::collections::BTreeMap;
use std::time::Duration;

const GOOD: u64 = 3_000;
const MISMATCH: &str = r#"{"type":"record","name":"ClickEvent","namespace":"samples.clickstream.avro","fields":[{"name":"userid","type":"string"},{"name":"globalseq","type":"long"}]}"#;

/// The four poison records, appended to partition 0. Returns them with their offsets.
async fn poison(stack: &Stack, topic: &str) -> Vec<(i64, Vec<u8>)> {
    let registry = GlueRegistry::connect(&stack.glue_config(TEST_REGISTRY)).await;
    let clicks = registry.register(topic, CLICK_EVENT_SCHEMA, &RegistrationOptions::default()).await.unwrap();
    let mismatch = registry.register(&format!("{topic}-mismatch"), MISMATCH, &RegistrationOptions::default()).await.unwrap();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
    let event = User::new(1, &mut rng).next_event(999_999, 0, &mut rng);
    let mut valid = Vec::new();
    GlueAvroEncoder::new(&clicks, Compression::None).unwrap().encode(&event, &mut valid).unwrap();
    let mut unknown = valid.clone();
    unknown[2..18].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    let mut wrong_type = Vec::new();
    let record = Value::Record(vec![("userid".into(), Value::String("not-a-number".into())), ("globalseq".into(), Value::Long(999_998))]);
    GlueAvroEncoder::new(&mismatch, Compression::None).unwrap().encode_value(&record, &mut wrong_type).unwrap();
    let payloads = vec![vec![0u8, 1, 2, 3], unknown, valid[..valid.len() - 3].to_vec(), wrong_type];

    let producer: FutureProducer = stack.kafka_config().client_config(ClientRole::Producer).unwrap().create().unwrap();
    let mut out = Vec::new();
    for payload in payloads {
        let delivered = producer
            .send(FutureRecord::to(topic).partition(0).key("poison").payload(&payload), Duration::from_secs(10))
            .await
            .unwrap();
        out.push((delivered.offset, payload));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_records_go_to_the_dlq_or_stop_the_partition() {
    let stack = Stack::get();
    let topic = unique_name("poison");
    produce(stack, &topic, TEST_REGISTRY, GOOD).await;
    let poisoned = poison(stack, &topic).await;

    // errors_tolerance = none: partition 0 stops at the batch holding the first poison
    // record; nothing of that batch or after it is applied, everything before it is.
    let mut strict = SinkSetup::new(&topic, TEST_REGISTRY, "redis");
    strict.metadata_columns = true;
    let log = format!("{}-strict", strict.group);
    let mut sink = start_sink(&strict.config_file(stack), None, &log);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !log_of(&log).contains("errors_tolerance = none") {
        assert!(std::time::Instant::now() < deadline, "no stop reported:\n{}", log_of(&log));
        assert!(sink.try_wait().unwrap().is_none(), "the sink must keep running:\n{}", log_of(&log));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let stop_line = log_of(&log).lines().find(|l| l.contains("stopped at offsets")).unwrap_or_default().to_string();
    assert!(stop_line.contains(&format!("{topic}[0]")) && stop_line.contains(&format!("offset {}", poisoned[0].0)), "{stop_line}");
    let batch_start: i64 = stop_line.split("stopped at offsets [").nth(1).and_then(|r| r.split("..").next()).unwrap().parse().unwrap();
    let good_in_p0 = poisoned[0].0; // the poison follows p0's good records
    let expected = GOOD - (good_in_p0 - batch_start) as u64;
    let totals_strict = wait_for_rows(stack, &strict.table, expected, Some(&mut sink), Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (p0_rows, p0_max): (u64, i64) = clickhouse(stack)
        .query(&format!("SELECT count(), max(_offset) FROM `{}` WHERE _partition = 0", strict.table))
        .fetch_one()
        .await
        .unwrap();
    stop_sink(sink);
    assert_eq!(totals_strict.0, expected, "p1 and p2 complete, p0 up to its stopped batch");
    assert_eq!(totals_strict.0, totals_strict.1, "no duplicates");
    assert_eq!((p0_rows, p0_max), (batch_start as u64, batch_start - 1));

    // errors_tolerance = all: the four go to the DLQ with their reasons; the good rows all land.
    let dlq_topic = unique_name("dlq");
    let mut lenient = SinkSetup::new(&topic, TEST_REGISTRY, "keepermap");
    lenient.extra = format!("errors_tolerance = \"all\"\ndlq_topic = \"{dlq_topic}\"");
    let log = format!("{}-lenient", lenient.group);
    let mut sink = start_sink(&lenient.config_file(stack), None, &log);
    let totals_lenient = wait_for_rows(stack, &lenient.table, GOOD, Some(&mut sink), Duration::from_secs(60)).await;

    let consumer: StreamConsumer = stack
        .kafka_config()
        .client_config(ClientRole::Consumer { group_id: &unique_name("dlq_reader") })
        .unwrap()
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[&dlq_topic]).unwrap();
    let mut letters = BTreeMap::new();
    while letters.len() < poisoned.len() {
        let message = integration_tests::next_record(&consumer, Duration::from_secs(60))
            .await
            .unwrap_or_else(|| panic!("only {} dead letters:\n{}", letters.len(), log_of(&log)));
        let headers: BTreeMap<String, String> = message
            .headers()
            .unwrap()
            .iter()
            .map(|h| (h.key.to_string(), String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned()))
            .collect();
        let offset: i64 = headers["ingest.source.offset"].parse().unwrap();
        assert_eq!(headers["ingest.source.topic"], topic);
        assert_eq!(headers["ingest.source.partition"], "0");
        letters.insert(offset, (headers, message.payload().unwrap_or_default().to_vec()));
    }
    stop_sink(sink);
    assert_eq!(totals_lenient, (GOOD, GOOD, 1, GOOD as i64), "only good rows, all of them");
    let expected = [("decode", "header version byte is 0"), ("decode", "unknown schema version"), ("decode", "does not match schema version"), ("convert", "column `userid`")];
    for ((offset, payload), (kind, reason)) in poisoned.iter().zip(expected) {
        let (headers, raw) = &letters[offset];
        assert_eq!(headers["ingest.error.kind"], kind, "offset {offset}: {headers:?}");
        assert!(headers["ingest.error.reason"].contains(reason), "offset {offset}: {headers:?}");
        assert_eq!(raw, payload, "the raw bytes are kept");
    }
}
