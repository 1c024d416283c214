//! Counts of what a run sent and what the broker acknowledged. Shared by the
//! workers (sent), the producer's delivery callback (delivered / failed) and
//! the progress line.

use rdkafka::message::Message;
use rdkafka::producer::DeliveryResult;
use shared::kafka::DeliveryListener;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Counters {
    pub sent: AtomicU64,
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
    pub encode_errors: AtomicU64,
    first_failure: Mutex<Option<String>>,
}

impl Counters {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn first_failure(&self) -> Option<String> {
        self.first_failure.lock().expect("lock").clone()
    }

    pub fn record_failure(&self, reason: String) {
        Self::add(&self.failed, 1);
        let mut first = self.first_failure.lock().expect("lock");
        if first.is_none() {
            tracing::error!("event not delivered: {reason}");
            *first = Some(reason);
        }
    }
}

impl DeliveryListener for Counters {
    fn on_delivery(&self, result: &DeliveryResult<'_>, globalseq: usize) {
        match result {
            Ok(_) => Self::add(&self.delivered, 1),
            Err((error, message)) => self.record_failure(format!(
                "globalseq {globalseq} to {}[{}]: {error}",
                message.topic(),
                message.partition()
            )),
        }
    }
}
