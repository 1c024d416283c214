//! The exactly-once decision for one batch of one topic-partition — the
//! design of ClickHouse's Kafka connector, as a pure function.
//!
//! Per topic-partition the state store holds the offset range of the last
//! batch and whether its insert finished: `{min, max, BEFORE|AFTER}`. A sink
//! writes `BEFORE`, inserts (with `insert_deduplication_token =
//! topic:partition:min:max`), writes `AFTER`, then commits the Kafka offset.
//! After any crash, the next batch of the partition is classified against
//! that state and [`plan`] says what to do with each part of it:
//!
//! | batch vs state | AFTER (insert done) | BEFORE (insert may be partial) |
//! |---|---|---|
//! | entirely older (`max < state.min`) | skip | skip |
//! | starts before `state.min` | skip the old prefix, classify the rest | same |
//! | same range | skip | insert again: ClickHouse drops it if it had landed |
//! | inside the range, not the same | skip | dead-letter: the recorded batch cannot be re-formed |
//! | starts at `state.min`, goes beyond | skip the seen part, insert the tail | insert the recorded range again, then the tail |
//! | starts inside, goes beyond | skip the seen part, insert the tail | dead-letter the seen part, insert the tail |
//! | entirely newer (`min > state.max`) | insert | insert |
//!
//! Guarantee: every offset of the batch is in exactly one step, in order;
//! offsets already applied are never inserted under a new token, so ClickHouse
//! never keeps a record twice. Invalid input (a batch or state whose min
//! exceeds its max, negative offsets) is an error naming the offsets; the
//! caller stops the partition.

use std::fmt;

/// An inclusive range of Kafka offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetRange {
    pub min: i64,
    pub max: i64,
}

impl OffsetRange {
    pub fn new(min: i64, max: i64) -> Self {
        Self { min, max }
    }

    pub fn len(&self) -> u64 {
        (self.max - self.min + 1) as u64
    }

    pub fn is_empty(&self) -> bool {
        self.max < self.min
    }

    pub fn contains(&self, offset: i64) -> bool {
        self.min <= offset && offset <= self.max
    }
}

impl fmt::Display for OffsetRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}..={}]", self.min, self.max)
    }
}

/// Whether the insert of the recorded range finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Before,
    After,
}

/// What the state store records for one topic-partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionState {
    pub range: OffsetRange,
    pub phase: Phase,
}

/// One part of a batch and what to do with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Already in ClickHouse: do nothing (the offset may be committed).
    Skip { range: OffsetRange, why: Classification },
    /// Set BEFORE for `range`, insert its records with the range's token, set AFTER.
    Insert { range: OffsetRange, why: Classification },
    /// Send these records to the dead-letter queue with `reason`, then treat as done.
    DeadLetter { range: OffsetRange, reason: String },
}

/// The connector's names for how a batch relates to the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Classification {
    /// No state yet for this partition.
    Fresh,
    New,
    Same,
    Contains,
    Overlap,
    /// Entirely before the recorded range.
    Previous,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidBatch {
    #[error("invalid batch offsets {0}: min is greater than max")]
    Batch(OffsetRange),
    #[error("invalid stored state {0}: min is greater than max or negative; inspect it with `ingest-sink state show`")]
    State(OffsetRange),
    #[error("invalid batch offsets {0}: negative offset")]
    Negative(OffsetRange),
}

/// The steps for `batch` given the partition's stored `state`.
pub fn plan(state: Option<PartitionState>, batch: OffsetRange) -> Result<Vec<Step>, InvalidBatch> {
    if batch.min < 0 {
        return Err(InvalidBatch::Negative(batch));
    }
    if batch.is_empty() {
        return Err(InvalidBatch::Batch(batch));
    }
    let Some(state) = state else {
        return Ok(vec![Step::Insert {
            range: batch,
            why: Classification::Fresh,
        }]);
    };
    let s = state.range;
    if s.is_empty() || s.min < 0 {
        return Err(InvalidBatch::State(s));
    }
    let mut steps = Vec::new();
    let mut rest = batch;

    // Older than anything recorded: applied long ago.
    if rest.max < s.min {
        return Ok(vec![Step::Skip {
            range: rest,
            why: Classification::Previous,
        }]);
    }
    if rest.min < s.min {
        steps.push(Step::Skip {
            range: OffsetRange::new(rest.min, s.min - 1),
            why: Classification::Previous,
        });
        rest.min = s.min;
    }
    if rest.min > s.max {
        steps.push(Step::Insert {
            range: rest,
            why: Classification::New,
        });
        return Ok(steps);
    }

    // From here `rest` starts inside the recorded range.
    let seen = OffsetRange::new(rest.min, rest.max.min(s.max));
    let why = if seen == s && rest.max == s.max {
        Classification::Same
    } else if rest.max <= s.max {
        Classification::Contains
    } else {
        Classification::Overlap
    };
    match state.phase {
        Phase::After => steps.push(Step::Skip { range: seen, why }),
        Phase::Before if seen == s => steps.push(Step::Insert { range: s, why }),
        Phase::Before => steps.push(Step::DeadLetter {
            range: seen,
            reason: format!(
                "offsets {seen} lie inside the batch {s} whose insert may not have finished (state BEFORE), \
                 but that batch cannot be re-formed exactly (records missing from the topic?); \
                 re-inserting them under another deduplication token could duplicate rows"
            ),
        }),
    }
    if rest.max > s.max {
        steps.push(Step::Insert {
            range: OffsetRange::new(s.max + 1, rest.max),
            why: Classification::New,
        });
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Classification::*;

    fn r(min: i64, max: i64) -> OffsetRange {
        OffsetRange::new(min, max)
    }
    fn st(min: i64, max: i64, phase: Phase) -> Option<PartitionState> {
        Some(PartitionState { range: r(min, max), phase })
    }
    fn insert(min: i64, max: i64, why: Classification) -> Step {
        Step::Insert { range: r(min, max), why }
    }
    fn skip(min: i64, max: i64, why: Classification) -> Step {
        Step::Skip { range: r(min, max), why }
    }

    #[test]
    fn no_state_inserts_everything() {
        assert_eq!(plan(None, r(0, 99)), Ok(vec![insert(0, 99, Fresh)]));
    }

    #[test]
    fn new_batch_after_the_recorded_one_is_inserted_in_either_phase() {
        for phase in [Phase::After, Phase::Before] {
            assert_eq!(plan(st(0, 99, phase), r(100, 199)), Ok(vec![insert(100, 199, New)]));
            // A gap (compaction, transaction markers) is still new.
            assert_eq!(plan(st(0, 99, phase), r(150, 199)), Ok(vec![insert(150, 199, New)]));
        }
    }

    #[test]
    fn same_batch_is_skipped_after_and_reinserted_before() {
        assert_eq!(plan(st(100, 199, Phase::After), r(100, 199)), Ok(vec![skip(100, 199, Same)]));
        assert_eq!(plan(st(100, 199, Phase::Before), r(100, 199)), Ok(vec![insert(100, 199, Same)]));
    }

    #[test]
    fn contained_batch_is_skipped_after_and_dead_lettered_before() {
        assert_eq!(plan(st(100, 199, Phase::After), r(120, 150)), Ok(vec![skip(120, 150, Contains)]));
        assert_eq!(plan(st(100, 199, Phase::After), r(100, 150)), Ok(vec![skip(100, 150, Contains)]));
        let steps = plan(st(100, 199, Phase::Before), r(120, 150)).unwrap();
        match &steps[..] {
            [Step::DeadLetter { range, reason }] => {
                assert_eq!(*range, r(120, 150));
                assert!(reason.contains("[100..=199]") && reason.contains("BEFORE"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn overlap_splits_into_seen_part_and_new_tail() {
        assert_eq!(
            plan(st(100, 199, Phase::After), r(150, 249)),
            Ok(vec![skip(150, 199, Overlap), insert(200, 249, New)])
        );
        assert_eq!(
            plan(st(100, 199, Phase::After), r(100, 249)),
            Ok(vec![skip(100, 199, Overlap), insert(200, 249, New)])
        );
        // BEFORE and the batch starts at the recorded min: finish the recorded range first.
        assert_eq!(
            plan(st(100, 199, Phase::Before), r(100, 249)),
            Ok(vec![insert(100, 199, Overlap), insert(200, 249, New)])
        );
        let steps = plan(st(100, 199, Phase::Before), r(150, 249)).unwrap();
        assert!(matches!(&steps[0], Step::DeadLetter { range, .. } if *range == r(150, 199)));
        assert_eq!(steps[1], insert(200, 249, New));
    }

    #[test]
    fn older_records_are_dropped_and_the_rest_classified() {
        assert_eq!(plan(st(100, 199, Phase::After), r(0, 50)), Ok(vec![skip(0, 50, Previous)]));
        assert_eq!(plan(st(100, 199, Phase::Before), r(0, 99)), Ok(vec![skip(0, 99, Previous)]));
        assert_eq!(
            plan(st(100, 199, Phase::After), r(50, 249)),
            Ok(vec![skip(50, 99, Previous), skip(100, 199, Overlap), insert(200, 249, New)])
        );
        assert_eq!(
            plan(st(100, 199, Phase::Before), r(50, 199)),
            Ok(vec![skip(50, 99, Previous), insert(100, 199, Same)])
        );
        assert_eq!(
            plan(st(100, 199, Phase::After), r(50, 300)).unwrap().last(),
            Some(&insert(200, 300, New))
        );
    }

    #[test]
    fn invalid_input_names_the_offsets() {
        assert_eq!(plan(None, r(5, 4)), Err(InvalidBatch::Batch(r(5, 4))));
        assert_eq!(plan(None, r(-1, 4)), Err(InvalidBatch::Negative(r(-1, 4))));
        let err = plan(st(9, 3, Phase::After), r(10, 20)).unwrap_err();
        assert_eq!(err, InvalidBatch::State(r(9, 3)));
        assert!(err.to_string().contains("[9..=3]"));
    }

    /// Exhaustively over small ranges: the steps tile the batch in order, and
    /// nothing already applied (AFTER) is inserted again.
    #[test]
    fn steps_cover_the_batch_exactly_and_never_reinsert_applied_offsets() {
        for s_min in 0..6 {
            for s_max in s_min..6 {
                for phase in [Phase::Before, Phase::After] {
                    for b_min in 0..8 {
                        for b_max in b_min..8 {
                            let steps = plan(st(s_min, s_max, phase), r(b_min, b_max)).unwrap();
                            let mut next = b_min;
                            for step in &steps {
                                let (range, inserted) = match step {
                                    Step::Skip { range, .. } | Step::DeadLetter { range, .. } => (*range, false),
                                    Step::Insert { range, .. } => (*range, true),
                                };
                                if inserted && range.min < b_min {
                                    // Only a BEFORE re-insert of the recorded range may start before the batch.
                                    assert_eq!((phase, range), (Phase::Before, r(s_min, s_max)));
                                    next = range.max + 1;
                                    continue;
                                }
                                assert_eq!(range.min, next, "gap or overlap in {steps:?}");
                                next = range.max + 1;
                                if inserted && phase == Phase::After {
                                    assert!(range.min > s_max || range.max < s_min, "re-insert of applied {range}");
                                }
                            }
                            assert_eq!(next, b_max + 1, "batch not covered: {steps:?}");
                        }
                    }
                }
            }
        }
    }
}
