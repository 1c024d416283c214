//! Producing change records, in binlog order, and knowing how far the broker
//! has acknowledged them.
//!
//! Guarantees: records go out through one idempotent producer, so each
//! partition receives a gap-free prefix of what was sent to it, in order;
//! every record carries its source position in the `cdc.position` header
//! (`file:pos:row`, `:t` for a tombstone) and its row version in
//! `cdc.version`; [`Publisher::acknowledged`] only moves past a commit mark
//! once every record before the mark is acknowledged, so an offset stored
//! from it never skips an unacknowledged event. A failed delivery stops the
//! source (it restarts from the stored offset and skips what Kafka already has).

use crate::position::BinlogPosition;
use anyhow::{Result, bail};
use futures_util::FutureExt;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use shared::kafka::KafkaContext;
use std::collections::VecDeque;
use std::time::Duration;

/// Header names on every record.
pub const POSITION_HEADER: &str = "cdc.position";
pub const VERSION_HEADER: &str = "cdc.version";

/// Records waiting for acknowledgement before the source blocks.
const MAX_IN_FLIGHT: usize = 200_000;

/// Where a record came from: its header value and its place in the total order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordOrder {
    pub version: u64,
    pub tombstone: bool,
}

pub struct OutgoingRecord<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub position: &'a str,
    pub version: i64,
}

enum Pending {
    Record(DeliveryFuture),
    /// Everything before this entry is part of transactions that ended before `next`.
    Mark { next: BinlogPosition, gtid: Option<String> },
}

pub struct Publisher {
    producer: FutureProducer<KafkaContext>,
    pending: VecDeque<Pending>,
    acknowledged: Option<(BinlogPosition, Option<String>)>,
    sent: u64,
}

impl Publisher {
    pub fn new(producer: FutureProducer<KafkaContext>) -> Self {
        Self {
            producer,
            pending: VecDeque::new(),
            acknowledged: None,
            sent: 0,
        }
    }

    pub async fn send(&mut self, record: OutgoingRecord<'_>) -> Result<()> {
        let version = record.version.to_string();
        let headers = OwnedHeaders::new_with_capacity(2)
            .insert(Header {
                key: POSITION_HEADER,
                value: Some(record.position),
            })
            .insert(Header {
                key: VERSION_HEADER,
                value: Some(&version),
            });
        let mut future_record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(record.topic).partition(record.partition).headers(headers);
        if let Some(key) = record.key {
            future_record = future_record.key(key);
        }
        if let Some(value) = record.value {
            future_record = future_record.payload(value);
        }
        let mut future_record = future_record;
        loop {
            match self.producer.send_result(future_record) {
                Ok(delivery) => {
                    self.pending.push_back(Pending::Record(delivery));
                    self.sent += 1;
                    break;
                }
                Err((e, returned)) => {
                    if !matches!(e.rdkafka_error_code(), Some(rdkafka::types::RDKafkaErrorCode::QueueFull)) {
                        bail!("cannot queue a record for {}: {e}", record.topic);
                    }
                    future_record = returned;
                    self.settle(true).await?;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
        if self.pending.len() >= MAX_IN_FLIGHT {
            self.settle(true).await?;
        }
        Ok(())
    }

    /// A transaction ended: once all records so far are acknowledged, `next` is safe to resume from.
    pub fn mark(&mut self, next: BinlogPosition, gtid: Option<String>) {
        self.pending.push_back(Pending::Mark { next, gtid });
    }

    /// Takes acknowledgements off the front; with `wait`, waits for at least the first one.
    pub async fn settle(&mut self, wait: bool) -> Result<()> {
        let mut waited = !wait;
        while let Some(front) = self.pending.front_mut() {
            match front {
                Pending::Mark { .. } => {
                    if let Some(Pending::Mark { next, gtid }) = self.pending.pop_front() {
                        self.acknowledged = Some((next, gtid));
                    }
                }
                Pending::Record(delivery) => {
                    let outcome = if waited {
                        match delivery.now_or_never() {
                            Some(outcome) => outcome,
                            None => return Ok(()),
                        }
                    } else {
                        waited = true;
                        delivery.await
                    };
                    match outcome {
                        Ok(Ok(_)) => {
                            self.pending.pop_front();
                        }
                        Ok(Err((e, _))) => bail!("the broker refused a change record: {e}; the source stops and will resume from its last stored offset"),
                        Err(_) => bail!("the producer was dropped before a delivery report arrived"),
                    }
                }
            }
        }
        Ok(())
    }

    /// Waits until everything sent is acknowledged (or `timeout`).
    pub async fn flush(&mut self, timeout: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.pending.is_empty() {
            if tokio::time::Instant::now() > deadline {
                bail!("{} records still unacknowledged after {timeout:?}", self.pending.len());
            }
            self.settle(true).await?;
        }
        let _ = self.producer.flush(Duration::from_secs(1));
        Ok(())
    }

    /// The latest position before which every record is acknowledged.
    pub fn acknowledged(&self) -> Option<&(BinlogPosition, Option<String>)> {
        self.acknowledged.as_ref()
    }

    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    pub fn sent(&self) -> u64 {
        self.sent
    }
}

/// Kafka's default partitioner for keyed records (Java client's `murmur2`), so
/// the source knows which partition each key lands in.
pub fn partition_for(key: &[u8], partitions: i32) -> i32 {
    ((murmur2(key) & 0x7fff_ffff) % partitions as u32) as i32
}

fn murmur2(data: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h = SEED ^ data.len() as u32;
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for chunk in chunks {
        let mut k = u32::from_le_bytes(chunk.try_into().expect("4 bytes"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    match tail.len() {
        3 => {
            h ^= u32::from(tail[2]) << 16;
            h ^= u32::from(tail[1]) << 8;
            h ^= u32::from(tail[0]);
            h = h.wrapping_mul(M);
        }
        2 => {
            h ^= u32::from(tail[1]) << 8;
            h ^= u32::from(tail[0]);
            h = h.wrapping_mul(M);
        }
        1 => {
            h ^= u32::from(tail[0]);
            h = h.wrapping_mul(M);
        }
        _ => {}
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

/// `cdc.position` header text → its order (`None`: not ours).
pub fn parse_position(text: &str) -> Option<RecordOrder> {
    let (text, tombstone) = match text.strip_suffix(":t") {
        Some(t) => (t, true),
        None => (text, false),
    };
    let (rest, row) = text.rsplit_once(':')?;
    let (file, pos) = rest.rsplit_once(':')?;
    let version = crate::position::RowVersion::of(file, pos.parse().ok()?, row.parse().ok()?).ok()?;
    Some(RecordOrder {
        version: version.0,
        tombstone,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafkas_java_client() {
        // Vectors from Kafka's UtilsTest.
        assert_eq!(murmur2(b"21") as i32, -973_932_308);
        assert_eq!(murmur2(b"foobar") as i32, -790_332_482);
        assert_eq!(murmur2(b"a-little-bit-long-string") as i32, -985_981_536);
        assert_eq!(murmur2(b"a-little-bit-longer-string") as i32, -1_486_304_829);
        assert_eq!(murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") as i32, -58_897_971);
        assert_eq!(murmur2(b"abc") as i32, 479_470_107);
    }

    #[test]
    fn positions_parse_in_order() {
        let a = parse_position("bin.000001:400:0").unwrap();
        let b = parse_position("bin.000001:400:0:t").unwrap();
        let c = parse_position("bin.000001:400:1").unwrap();
        assert!(a < b && b < c);
        assert_eq!(parse_position("nonsense"), None);
    }
}
