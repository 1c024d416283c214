//! Per-partition apply workers: the consumer loop hands each assigned
//! partition's batches to that partition's own task and goes back to polling.
//!
//! Guarantees: a partition's batches are applied one after another, in
//! offset order, by one task with the partition's fence — the exactly-once
//! plan per partition is exactly the single loop's. Partitions never wait on
//! each other: one that retries (ClickHouse refusing a table's inserts for a
//! while) or stops holds up only itself. A partition's queue holds at most
//! [`QUEUE`] batches; more wait in its backlog, and once [`BACKLOG`] wait
//! there the partition is paused in the consumer until the worker catches up
//! (backpressure that never blocks the poll loop). A worker decodes its next
//! batch while the one before is being inserted (decoding has no effects, so
//! the order of effects is unchanged); memory per partition is at most
//! `QUEUE + BACKLOG + 2` batches of `consumer.batch_max_bytes` (the queue,
//! the backlog, the batch being decoded and the one being applied; a decoded
//! batch holds its values beside its bytes). An outcome from a worker the
//! partition no longer has (revoked, re-assigned) is recognised by its
//! generation and ignored.

use crate::apply::{ApplyError, BatchApplier, DecodedBatch};
use crate::batch::Batch;
use crate::exactly_once::OffsetRange;
use crate::state::{Fence, PartitionKey};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Batches queued for a worker beyond the one it is applying.
pub const QUEUE: usize = 2;

/// Batches waiting in a partition's backlog before it is paused. Pausing
/// discards what the consumer had prefetched for the partition (librdkafka
/// fetches it again on resume), so it is kept for a worker really behind.
pub const BACKLOG: usize = 4;

/// How a worker's batch ended.
#[derive(Debug)]
pub enum Outcome {
    /// Applied (state `AFTER` stored): its offsets may be committed.
    Applied(OffsetRange),
    /// Another consumer owns the partition now; the worker has ended.
    Fenced(String),
    /// The partition cannot continue (the reason says why and what to do); the worker has ended.
    Stopped(String),
    /// Shutdown came while the batch waited on a dependency; nothing was marked done.
    Shutdown,
}

/// A worker's report of one batch.
#[derive(Debug)]
pub struct Finished {
    pub key: PartitionKey,
    generation: u64,
    pub outcome: Outcome,
}

/// Where a handed-over batch went.
#[derive(Debug, PartialEq, Eq)]
pub enum Dispatch {
    Queued,
    /// The partition's queue is full: the batch waits in its backlog.
    Backlogged,
    /// The backlog is full as well: pause the partition.
    Full,
    /// The partition has no worker (not owned, or stopped): the batch is dropped.
    NoWorker,
}

struct Worker {
    queue: mpsc::Sender<Batch>,
    backlog: VecDeque<Batch>,
    generation: u64,
    task: JoinHandle<()>,
}

pub struct Workers {
    applier: Arc<BatchApplier>,
    report: mpsc::UnboundedSender<Finished>,
    /// What the workers report, for the consumer loop.
    pub finished: mpsc::UnboundedReceiver<Finished>,
    by_key: HashMap<PartitionKey, Worker>,
    generations: u64,
    /// Workers that were stopped but may still be finishing a batch.
    ending: Vec<JoinHandle<()>>,
}

impl Workers {
    pub fn new(applier: Arc<BatchApplier>) -> Self {
        let (report, finished) = mpsc::unbounded_channel();
        Self { applier, report, finished, by_key: HashMap::new(), generations: 0, ending: Vec::new() }
    }

    /// Starts the worker of a partition just assigned (with its new fence),
    /// ending any earlier one.
    pub fn start(&mut self, key: PartitionKey, fence: Fence) {
        self.stop(&key);
        self.generations += 1;
        let generation = self.generations;
        let (queue, batches) = mpsc::channel(QUEUE);
        let task = tokio::spawn(run(self.applier.clone(), key.clone(), fence, generation, batches, self.report.clone()));
        self.by_key.insert(key, Worker { queue, backlog: VecDeque::new(), generation, task });
    }

    /// Ends a partition's worker (revoked, fenced, stopped): batches not yet
    /// applied are dropped — whoever owns the partition next reads them again
    /// from the state store's position; a batch being applied finishes (or
    /// is refused by its fence).
    pub fn stop(&mut self, key: &PartitionKey) {
        if let Some(worker) = self.by_key.remove(key) {
            drop(worker.queue);
            self.ending.push(worker.task);
        }
        self.ending.retain(|task| !task.is_finished());
    }

    /// Hands a batch to its partition's worker.
    pub fn dispatch(&mut self, batch: Batch) -> Dispatch {
        let Some(worker) = self.by_key.get_mut(&batch.key) else { return Dispatch::NoWorker };
        let batch = if worker.backlog.is_empty() {
            match worker.queue.try_send(batch) {
                Ok(()) => return Dispatch::Queued,
                Err(mpsc::error::TrySendError::Full(batch)) => batch,
                Err(mpsc::error::TrySendError::Closed(_)) => return Dispatch::NoWorker,
            }
        } else {
            batch
        };
        worker.backlog.push_back(batch);
        if worker.backlog.len() >= BACKLOG { Dispatch::Full } else { Dispatch::Backlogged }
    }

    /// Whether `finished` comes from the partition's current worker.
    pub fn is_current(&self, finished: &Finished) -> bool {
        self.by_key.get(&finished.key).is_some_and(|w| w.generation == finished.generation)
    }

    /// Moves what the partition's queue has room for from its backlog;
    /// `true` when the backlog is empty (a paused partition may resume).
    pub fn refill(&mut self, key: &PartitionKey) -> bool {
        let Some(worker) = self.by_key.get_mut(key) else { return true };
        while let Some(batch) = worker.backlog.pop_front() {
            if let Err(e) = worker.queue.try_send(batch) {
                let batch = match e {
                    mpsc::error::TrySendError::Full(batch) | mpsc::error::TrySendError::Closed(batch) => batch,
                };
                worker.backlog.push_front(batch);
                return false;
            }
        }
        true
    }

    /// Batches waiting in backlogs, all partitions.
    pub fn backlog(&self) -> usize {
        self.by_key.values().map(|w| w.backlog.len()).sum()
    }

    /// Ends every worker and waits for them: each finishes (or abandons at a
    /// safe point, shutdown being set) the batch in hand.
    pub async fn shutdown(mut self) {
        let keys: Vec<PartitionKey> = self.by_key.keys().cloned().collect();
        for key in keys {
            self.stop(&key);
        }
        for task in self.ending.drain(..) {
            let _ = task.await;
        }
    }
}

async fn run(
    applier: Arc<BatchApplier>,
    key: PartitionKey,
    fence: Fence,
    generation: u64,
    batches: mpsc::Receiver<Batch>,
    report: mpsc::UnboundedSender<Finished>,
) {
    // Decoding runs a batch ahead of applying, on its own task (another core).
    let (decoded_tx, mut decoded) = mpsc::channel(1);
    let decoding = tokio::spawn(decode(applier.clone(), batches, decoded_tx));
    while let Some(next) = decoded.recv().await {
        let outcome = match next {
            Ok(mut batch) => match applier.apply(&mut batch, fence).await {
                Ok(()) => Outcome::Applied(batch.batch.range),
                Err(e) => failed(e),
            },
            Err(e) => failed(e),
        };
        let last = !matches!(outcome, Outcome::Applied(_));
        if report.send(Finished { key: key.clone(), generation, outcome }).is_err() || last {
            break;
        }
    }
    // A batch decoded ahead has had no effect: nothing is lost by dropping it.
    decoding.abort();
}

/// Decodes the partition's batches in order until the queue or the applier's end closes.
async fn decode(applier: Arc<BatchApplier>, mut batches: mpsc::Receiver<Batch>, decoded: mpsc::Sender<Result<DecodedBatch, ApplyError>>) {
    while let Some(batch) = batches.recv().await {
        let next = applier.decode(batch).await;
        let last = next.is_err();
        if decoded.send(next).await.is_err() || last {
            return;
        }
    }
}

fn failed(e: ApplyError) -> Outcome {
    match e {
        ApplyError::Fenced(e) => Outcome::Fenced(e.to_string()),
        e @ ApplyError::Stop { .. } => Outcome::Stopped(e.to_string()),
        ApplyError::Shutdown(_) => Outcome::Shutdown,
    }
}
