//! The broker speaks the Kafka protocol to `rdkafka`: a 3-partition topic is
//! created through the admin API, keyed records go in, and a consumer group
//! reads every record back exactly once, each key on one partition, in order.

use integration_tests::{Stack, unique_name};
use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const KEYS: usize = 12;
const RECORDS: usize = 600;

#[tokio::test]
async fn keyed_records_round_trip_through_a_three_partition_topic() {
    let stack = Stack::get();
    let topic = unique_name("smoke");

    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &stack.kafka_bootstrap)
        .create()
        .unwrap();
    let created = admin
        .create_topics(&[NewTopic::new(&topic, 3, TopicReplication::Fixed(1))], &AdminOptions::new())
        .await
        .unwrap();
    assert!(created.iter().all(|r| r.is_ok()), "create topic: {created:?}");

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &stack.kafka_bootstrap)
        .set("enable.idempotence", "true")
        .set("compression.type", "lz4")
        .create()
        .unwrap();
    let mut sent = Vec::new();
    for i in 0..RECORDS {
        let key = format!("user-{}", i % KEYS);
        let payload = format!("{i}");
        let delivery = producer
            .send(FutureRecord::to(&topic).key(&key).payload(&payload), Duration::from_secs(10))
            .await;
        let (partition, _offset) = match delivery {
            Ok(delivered) => (delivered.partition, delivered.offset),
            Err((err, _)) => panic!("record {i} not delivered: {err}"),
        };
        sent.push((key, i, partition));
    }

    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &stack.kafka_bootstrap)
        .set("group.id", unique_name("smoke_group"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[&topic]).unwrap();

    let mut by_key: BTreeMap<String, Vec<(usize, i32)>> = BTreeMap::new();
    let mut received = 0;
    while received < RECORDS {
        let message = integration_tests::next_record(&consumer, Duration::from_secs(30))
            .await
            .unwrap_or_else(|| panic!("only {received} of {RECORDS} records read back within 30 s"));
        let key = String::from_utf8(message.key().unwrap().to_vec()).unwrap();
        let value: usize = std::str::from_utf8(message.payload().unwrap()).unwrap().parse().unwrap();
        by_key.entry(key).or_default().push((value, message.partition()));
        received += 1;
    }
    // Nothing more: exactly RECORDS records.
    let extra = integration_tests::next_record(&consumer, Duration::from_secs(2)).await;
    assert!(extra.is_none(), "more records than were produced");

    assert_eq!(by_key.len(), KEYS);
    let mut partitions_used = BTreeSet::new();
    for (key, records) in &by_key {
        let values: Vec<usize> = records.iter().map(|(v, _)| *v).collect();
        let expected: Vec<usize> = sent.iter().filter(|(k, _, _)| k == key).map(|(_, v, _)| *v).collect();
        assert_eq!(values, expected, "{key}: every record once, in production order");
        let partitions: BTreeSet<i32> = records.iter().map(|(_, p)| *p).collect();
        assert_eq!(partitions.len(), 1, "{key} spread over partitions {partitions:?}");
        partitions_used.extend(partitions);
    }
    assert_eq!(partitions_used.len(), 3, "12 keys should hash onto all 3 partitions");
}
