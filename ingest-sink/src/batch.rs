//! Per-partition batching: records of each topic-partition accumulate until
//! `batch_max_rows` records, `batch_max_bytes` of keys and values, or
//! `batch_max_wait` since the first one — so a batch's memory is bounded
//! however large the rows are.
//!
//! Guarantee for exactly-once: after an assignment whose state is `BEFORE
//! [min, max]` (an insert that may not have finished), the first batch of
//! that partition is re-formed with exactly the range `[min, max]` — it closes
//! when an offset ≥ `max` arrives, never on size or time — so it carries the
//! same deduplication token as the interrupted insert.

use crate::exactly_once::OffsetRange;
use crate::state::PartitionKey;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// A Kafka record, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    pub timestamp_ms: i64,
    /// The `cdc.version` header (change events from cdc-source).
    pub version: Option<u64>,
    /// A truncate event marked as a table drop (`cdc.table.dropped` header).
    pub dropped: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub key: PartitionKey,
    pub range: OffsetRange,
    pub records: Vec<Record>,
}

impl Record {
    /// Bytes it holds: key, value and a fixed allowance for the rest.
    pub fn size(&self) -> usize {
        64 + self.key.as_ref().map_or(0, Vec::len) + self.payload.as_ref().map_or(0, Vec::len)
    }
}

/// When a partition's batch closes: whichever limit is reached first.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    pub max_rows: usize,
    /// [`Record::size`] summed over the batch; a batch always takes its first record.
    pub max_bytes: usize,
    pub max_wait: Duration,
}

struct Pending {
    records: Vec<Record>,
    bytes: usize,
    first_at: Instant,
}

pub struct PartitionBatcher {
    limits: BatchLimits,
    pending: BTreeMap<PartitionKey, Pending>,
    reform: BTreeMap<PartitionKey, OffsetRange>,
}

impl PartitionBatcher {
    pub fn new(limits: BatchLimits) -> Self {
        Self {
            limits,
            pending: BTreeMap::new(),
            reform: BTreeMap::new(),
        }
    }

    /// The partition was (re)assigned; `reform` is the range of an unfinished insert.
    pub fn assign(&mut self, key: &PartitionKey, reform: Option<OffsetRange>) {
        self.pending.remove(key);
        match reform {
            Some(range) => self.reform.insert(key.clone(), range),
            None => self.reform.remove(key),
        };
    }

    /// The partition was revoked: whatever was pending is dropped (it was not applied).
    pub fn revoke(&mut self, key: &PartitionKey) {
        self.pending.remove(key);
        self.reform.remove(key);
    }

    /// Adds a record; returns the batches it closes (at most two when it ends a re-formed batch).
    pub fn push(&mut self, key: &PartitionKey, record: Record, now: Instant) -> Vec<Batch> {
        let mut closed = Vec::new();
        let mut record = Some(record);
        if let Some(target) = self.reform.get(key).copied() {
            let offset = record.as_ref().map_or(0, |r| r.offset);
            if offset <= target.max {
                let pending = self.pending_mut(key, now);
                pending.bytes += record.as_ref().map_or(0, Record::size);
                pending.records.extend(record.take());
                if offset < target.max {
                    return closed;
                }
            }
            // Offset `max` reached (or passed: records can be missing): the re-formed batch is complete.
            self.reform.remove(key);
            let records = self.pending.remove(key).map(|p| p.records).unwrap_or_default();
            closed.push(Batch {
                key: key.clone(),
                range: target,
                records,
            });
        }
        // What is left is a record past any re-formed range: it starts or joins a normal batch.
        let Some(record) = record else {
            return closed;
        };
        let limits = self.limits;
        let pending = self.pending_mut(key, now);
        pending.bytes += record.size();
        pending.records.push(record);
        if pending.records.len() >= limits.max_rows || pending.bytes >= limits.max_bytes {
            closed.extend(self.take(key));
        }
        closed
    }

    /// Batches whose first record has waited `max_wait` (re-formed batches excepted).
    pub fn due(&mut self, now: Instant) -> Vec<Batch> {
        let due: Vec<PartitionKey> = self
            .pending
            .iter()
            .filter(|(key, p)| !self.reform.contains_key(*key) && now.duration_since(p.first_at) >= self.limits.max_wait)
            .map(|(key, _)| key.clone())
            .collect();
        due.iter().filter_map(|key| self.take(key)).collect()
    }

    /// The time until the next batch is due, for the poll timeout.
    pub fn next_due(&self, now: Instant) -> Option<Duration> {
        self.pending
            .iter()
            .filter(|(key, _)| !self.reform.contains_key(*key))
            .map(|(_, p)| (p.first_at + self.limits.max_wait).saturating_duration_since(now))
            .min()
    }

    fn pending_mut(&mut self, key: &PartitionKey, now: Instant) -> &mut Pending {
        let capacity = self.limits.max_rows.min(1024);
        self.pending.entry(key.clone()).or_insert_with(|| Pending {
            records: Vec::with_capacity(capacity),
            bytes: 0,
            first_at: now,
        })
    }

    fn take(&mut self, key: &PartitionKey) -> Option<Batch> {
        let pending = self.pending.remove(key)?;
        let first = pending.records.first()?.offset;
        let last = pending.records.last()?.offset;
        Some(Batch {
            key: key.clone(),
            range: OffsetRange::new(first, last),
            records: pending.records,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(offset: i64) -> Record {
        Record {
            version: None,
            dropped: false,
            offset,
            key: None,
            payload: Some(vec![offset as u8]),
            timestamp_ms: 0,
        }
    }

    fn limits(max_rows: usize, max_wait: Duration) -> BatchLimits {
        BatchLimits { max_rows, max_bytes: usize::MAX, max_wait }
    }

    fn offsets(batch: &Batch) -> Vec<i64> {
        batch.records.iter().map(|r| r.offset).collect()
    }

    #[test]
    fn closes_on_size_and_on_time() {
        let key = PartitionKey::new("t", 0);
        let t0 = Instant::now();
        let mut b = PartitionBatcher::new(limits(3, Duration::from_millis(100)));
        assert!(b.push(&key, rec(0), t0).is_empty());
        assert!(b.push(&key, rec(1), t0).is_empty());
        let closed = b.push(&key, rec(2), t0);
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].range, OffsetRange::new(0, 2));
        assert!(b.push(&key, rec(3), t0).is_empty());
        assert!(b.due(t0 + Duration::from_millis(99)).is_empty());
        assert_eq!(b.next_due(t0 + Duration::from_millis(40)), Some(Duration::from_millis(60)));
        let due = b.due(t0 + Duration::from_millis(100));
        assert_eq!(offsets(&due[0]), [3]);
        assert_eq!(b.next_due(t0), None);
    }

    #[test]
    fn closes_on_bytes_and_always_takes_one_record() {
        let key = PartitionKey::new("t", 4);
        let t0 = Instant::now();
        let mut b = PartitionBatcher::new(BatchLimits { max_rows: 1000, max_bytes: 1000, max_wait: Duration::from_secs(1) });
        let big = |offset: i64, len: usize| Record { payload: Some(vec![0; len]), ..rec(offset) };
        assert!(b.push(&key, big(0, 400), t0).is_empty());
        assert!(b.push(&key, big(1, 400), t0).is_empty()); // 928 bytes with the allowance
        assert_eq!(offsets(&b.push(&key, big(2, 100), t0)[0]), [0, 1, 2]);
        // A record larger than the limit makes a batch of its own.
        assert_eq!(offsets(&b.push(&key, big(3, 5000), t0)[0]), [3]);
    }

    #[test]
    fn re_formed_batch_has_exactly_the_recorded_range() {
        let key = PartitionKey::new("t", 1);
        let t0 = Instant::now();
        // Configured size 2, but the unfinished insert covered 10..=14.
        let mut b = PartitionBatcher::new(limits(2, Duration::from_millis(1)));
        b.assign(&key, Some(OffsetRange::new(10, 14)));
        for offset in 10..14 {
            assert!(b.push(&key, rec(offset), t0).is_empty());
            assert!(b.due(t0 + Duration::from_secs(60)).is_empty(), "never closed on time");
        }
        let closed = b.push(&key, rec(14), t0);
        assert_eq!(closed.len(), 1);
        assert_eq!((closed[0].range, offsets(&closed[0])), (OffsetRange::new(10, 14), vec![10, 11, 12, 13, 14]));
        // Back to normal batching afterwards.
        assert!(b.push(&key, rec(15), t0).is_empty());
        assert_eq!(b.push(&key, rec(16), t0)[0].range, OffsetRange::new(15, 16));
    }

    #[test]
    fn re_formed_batch_closes_when_its_last_offset_is_missing() {
        let key = PartitionKey::new("t", 2);
        let t0 = Instant::now();
        let mut b = PartitionBatcher::new(limits(100, Duration::from_secs(1)));
        b.assign(&key, Some(OffsetRange::new(10, 14)));
        b.push(&key, rec(10), t0);
        let closed = b.push(&key, rec(20), t0); // 11..=14 gone (retention, compaction)
        assert_eq!(closed.len(), 1);
        assert_eq!((closed[0].range, offsets(&closed[0])), (OffsetRange::new(10, 14), vec![10]));
        assert_eq!(b.due(t0 + Duration::from_secs(1))[0].range, OffsetRange::new(20, 20));
    }

    #[test]
    fn revoke_drops_pending_records() {
        let key = PartitionKey::new("t", 3);
        let t0 = Instant::now();
        let mut b = PartitionBatcher::new(limits(100, Duration::from_millis(1)));
        b.push(&key, rec(0), t0);
        b.revoke(&key);
        assert!(b.due(t0 + Duration::from_secs(1)).is_empty());
    }
}
