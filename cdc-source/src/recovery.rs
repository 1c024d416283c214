//! Reading back what the source already wrote, so a restart neither loses nor
//! repeats a record.
//!
//! For each partition of each topic the source writes, [`last_written`] finds
//! the highest [`RecordOrder`] among its records (from the `cdc.position`
//! header). Because the idempotent producer leaves each partition holding a
//! gap-free prefix of what was sent to it, a record whose order is at or below
//! that partition's mark is already in Kafka and is skipped; everything above
//! it is not, and is sent.
//!
//! It starts each partition at `high watermark - 1` — reading the last record
//! on Kafka and MSK — and reads on until the partition has been quiet for a
//! while, which stays correct on brokers whose watermarks are wrong (tansu 0.6
//! answers 1: it then reads the whole partition).

use crate::publisher::{POSITION_HEADER, RecordOrder, parse_position};
use anyhow::{Context, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use shared::kafka::{ClientRole, KafkaConfig, KafkaContext};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long a partition must stay silent to count as read to its end.
const QUIET: Duration = Duration::from_millis(1500);

pub type Marks = HashMap<(String, i32), RecordOrder>;

/// The highest order written to each partition of `topics` that exist (others are absent).
pub async fn last_written(config: &KafkaConfig, context: KafkaContext, topics: Vec<String>) -> Result<Marks> {
    let config = config.clone();
    tokio::task::spawn_blocking(move || read_tails(&config, context, &topics)).await.context("read-back task")?
}

/// The value of the last record keyed `key` in `topic` (the offsets topic,
/// which sources with different keys may share), if any.
pub async fn last_value(config: &KafkaConfig, context: KafkaContext, topic: String, key: String) -> Result<Option<Vec<u8>>> {
    let config = config.clone();
    tokio::task::spawn_blocking(move || {
        let mut last = None;
        scan(&config, context, &[topic], |_, _, message| {
            if message.key() == Some(key.as_bytes()) {
                last = message.payload().map(<[u8]>::to_vec);
            }
        })?;
        Ok(last)
    })
    .await
    .context("read-back task")?
}

fn read_tails(config: &KafkaConfig, context: KafkaContext, topics: &[String]) -> Result<Marks> {
    let mut marks = Marks::new();
    scan(config, context, topics, |topic, partition, message| {
        let order = message
            .headers()
            .and_then(|h| h.iter().find(|h| h.key == POSITION_HEADER).and_then(|h| h.value))
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(parse_position);
        if let Some(order) = order {
            let mark = marks.entry((topic.to_string(), partition)).or_insert(order);
            *mark = (*mark).max(order);
        }
    })?;
    Ok(marks)
}

fn scan(
    config: &KafkaConfig,
    context: KafkaContext,
    topics: &[String],
    mut each: impl FnMut(&str, i32, &rdkafka::message::BorrowedMessage<'_>),
) -> Result<()> {
    let group = format!("cdc-source-readback-{}", std::process::id());
    let mut client = config.client_config(ClientRole::Consumer { group_id: &group })?;
    // Whole record batches per fetch: a fetch cut short inside a batch makes
    // some brokers (tansu 0.6) skip the rest of it.
    client
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("max.partition.fetch.bytes", "16777216");
    let consumer: BaseConsumer<KafkaContext> = client.create_with_context(context).context("creating the read-back consumer")?;
    let metadata = consumer.fetch_metadata(None, Duration::from_secs(30)).context("reading topic metadata")?;
    let mut assignment = TopicPartitionList::new();
    for topic in metadata.topics().iter().filter(|t| topics.iter().any(|w| w == t.name())) {
        for partition in topic.partitions() {
            let (_, high) = consumer
                .fetch_watermarks(topic.name(), partition.id(), Duration::from_secs(30))
                .with_context(|| format!("reading the end of {}[{}]", topic.name(), partition.id()))?;
            assignment.add_partition_offset(topic.name(), partition.id(), Offset::Offset((high - 1).max(0)))?;
        }
    }
    if assignment.count() == 0 {
        return Ok(());
    }
    consumer.assign(&assignment).context("assigning partitions for read-back")?;
    let mut last_seen = Instant::now();
    while last_seen.elapsed() < QUIET {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                last_seen = Instant::now();
                each(message.topic(), message.partition(), &message);
            }
            Some(Err(e)) => tracing::warn!("read-back: {e}"),
            None => {}
        }
    }
    drop(assignment);
    Ok(())
}
