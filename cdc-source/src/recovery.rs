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
//! It starts each partition at `high watermark - 1` — the last record on Kafka
//! and MSK — and stops when every partition has been read up to its high
//! watermark ([`ReadbackUntil::EndOffset`]). For test brokers whose watermarks
//! are wrong (the local stack's tansu answers the base offset of a partition's
//! last record batch, plus one) the configured fallback,
//! [`ReadbackUntil::QuietPeriod`], reads on from there until the partitions
//! have been silent for a while. A failed
//! poll fails the read-back: starting on a partial picture would resend.

use crate::config::ReadbackUntil;
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
pub async fn last_written(config: &KafkaConfig, context: KafkaContext, topics: Vec<String>, until: ReadbackUntil) -> Result<Marks> {
    let config = config.clone();
    tokio::task::spawn_blocking(move || read_tails(&config, context, &topics, until)).await.context("read-back task")?
}

/// The value of the last record keyed `key` in `topic` (the offsets topic,
/// which sources with different keys may share), if any.
pub async fn last_value(config: &KafkaConfig, context: KafkaContext, topic: String, key: String, until: ReadbackUntil) -> Result<Option<Vec<u8>>> {
    let config = config.clone();
    tokio::task::spawn_blocking(move || {
        let mut last = None;
        scan(&config, context, &[topic], until, |_, _, message| {
            if message.key() == Some(key.as_bytes()) {
                last = message.payload().map(<[u8]>::to_vec);
            }
        })?;
        Ok(last)
    })
    .await
    .context("read-back task")?
}

fn read_tails(config: &KafkaConfig, context: KafkaContext, topics: &[String], until: ReadbackUntil) -> Result<Marks> {
    let mut marks = Marks::new();
    scan(config, context, topics, until, |topic, partition, message| {
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
    until: ReadbackUntil,
    mut each: impl FnMut(&str, i32, &rdkafka::message::BorrowedMessage<'_>),
) -> Result<()> {
    let group = format!("cdc-source-readback-{}", std::process::id());
    let mut client = config.client_config(ClientRole::Consumer { group_id: &group })?;
    client.set("enable.auto.commit", "false").set("enable.partition.eof", "false");
    let consumer: BaseConsumer<KafkaContext> = client.create_with_context(context).context("creating the read-back consumer")?;
    let metadata = consumer.fetch_metadata(None, Duration::from_secs(30)).context("reading topic metadata")?;
    let mut assignment = TopicPartitionList::new();
    let mut remaining = Remaining::default();
    for topic in metadata.topics().iter().filter(|t| topics.iter().any(|w| w == t.name())) {
        for partition in topic.partitions() {
            let (low, high) = consumer
                .fetch_watermarks(topic.name(), partition.id(), Duration::from_secs(30))
                .with_context(|| format!("reading the end of {}[{}]", topic.name(), partition.id()))?;
            if until == ReadbackUntil::EndOffset && high <= low {
                continue; // empty: nothing to read
            }
            assignment.add_partition_offset(topic.name(), partition.id(), Offset::Offset((high - 1).max(0)))?;
            remaining.expect(topic.name(), partition.id(), high);
        }
    }
    if assignment.count() == 0 {
        return Ok(());
    }
    consumer.assign(&assignment).context("assigning partitions for read-back")?;
    let mut last_seen = Instant::now();
    let deadline = Instant::now() + READBACK_LIMIT;
    loop {
        let done = match until {
            ReadbackUntil::EndOffset => remaining.is_empty(),
            ReadbackUntil::QuietPeriod => last_seen.elapsed() >= QUIET,
        };
        if done {
            break;
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "read-back of the source's topics did not reach the end of {} within {READBACK_LIMIT:?} \
                 (if the broker reports wrong end offsets, set offsets.readback_until = \"quiet_period\")",
                remaining.describe()
            );
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                last_seen = Instant::now();
                if until == ReadbackUntil::EndOffset {
                    remaining.read(message.topic(), message.partition(), message.offset());
                }
                each(message.topic(), message.partition(), &message);
            }
            Some(Err(e)) => return Err(anyhow::anyhow!("read-back of the source's topics failed: {e}")),
            None => {}
        }
    }
    drop(assignment);
    Ok(())
}

/// Longest a read-back may take before the source gives up and says why.
const READBACK_LIMIT: Duration = Duration::from_secs(300);

/// Partitions not yet read up to their end offset (exclusive).
#[derive(Default)]
struct Remaining(HashMap<(String, i32), i64>);

impl Remaining {
    fn expect(&mut self, topic: &str, partition: i32, end: i64) {
        self.0.insert((topic.to_string(), partition), end);
    }

    fn read(&mut self, topic: &str, partition: i32, offset: i64) {
        let key = (topic.to_string(), partition);
        if self.0.get(&key).is_some_and(|end| offset + 1 >= *end) {
            self.0.remove(&key);
        }
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn describe(&self) -> String {
        let mut names: Vec<String> = self.0.keys().map(|(t, p)| format!("{t}[{p}]")).collect();
        names.sort();
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_is_done_when_its_last_offset_is_read() {
        let mut remaining = Remaining::default();
        remaining.expect("t", 0, 10);
        remaining.expect("t", 1, 1);
        remaining.read("t", 0, 8);
        assert!(!remaining.is_empty());
        assert_eq!(remaining.describe(), "t[0], t[1]");
        remaining.read("t", 1, 0);
        remaining.read("t", 0, 9);
        assert!(remaining.is_empty());
    }
}
