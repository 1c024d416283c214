//! One worker thread: simulates its share of the users, numbers each event
//! from the shared sequence, encodes it and hands it to the producer.
//!
//! Guarantees: every `globalseq` a worker takes from the shared counter is
//! sent (the counter is only advanced after the stop flag was checked), so a
//! run's events are exactly 1..=highest with no gap; a user's events are
//! generated, numbered and sent by one thread in order, keyed by `userid`.

use super::delivery::Counters;
use super::model::{ClickEvent, User, users_of_worker};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, ThreadedProducer};
use shared::connect_json::ConnectJsonWriter;
use shared::glue::GlueAvroEncoder;
use shared::kafka::KafkaContext;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How events become bytes.
pub enum RecordEncoder<'s> {
    Avro(GlueAvroEncoder<'s>),
    Json(ConnectJsonWriter),
}

impl RecordEncoder<'_> {
    pub fn encode(&self, event: &ClickEvent, out: &mut Vec<u8>) -> Result<(), String> {
        match self {
            RecordEncoder::Avro(encoder) => encoder.encode(event, out).map_err(|e| e.to_string()),
            RecordEncoder::Json(writer) => writer.write(event, out).map_err(|e| e.to_string()),
        }
    }
}

/// Where encoded events go.
pub enum Output<'a> {
    Kafka {
        producer: &'a ThreadedProducer<KafkaContext>,
        topic: &'a str,
    },
    /// `--dry-run`: measure generation and encoding only.
    Discard,
}

#[derive(Debug, Clone, Copy)]
pub enum Pacing {
    NoDelay,
    Realistic { think: Duration, session_gap: Duration },
}

pub struct Worker<'a> {
    pub index: usize,
    pub workers: usize,
    pub users: u32,
    pub seed: u64,
    pub pacing: Pacing,
    /// Events per second for this worker; 0 = unlimited.
    pub rate: f64,
    pub max_events: Option<u64>,
    pub sequence: &'a AtomicU64,
    pub stop: &'a AtomicBool,
    pub counters: &'a Counters,
}

impl Worker<'_> {
    pub fn run(&self, encoder: &RecordEncoder<'_>, output: &Output<'_>) {
        let mut users = users_of_worker(self.index, self.workers, self.users, self.seed);
        if users.is_empty() {
            return;
        }
        let mut rng = SmallRng::seed_from_u64(self.seed.wrapping_add(self.index as u64 + 1));
        let start = Instant::now();
        let mut due: BinaryHeap<Reverse<(Instant, usize)>> = users
            .iter()
            .enumerate()
            .map(|(i, _)| Reverse((start + self.first_delay(&mut rng), i)))
            .collect();
        let mut next_user = 0;
        let mut sent: u64 = 0;
        let mut buf = Vec::with_capacity(256);
        while !self.stop.load(Ordering::Relaxed) {
            let user = match self.pacing {
                Pacing::NoDelay => {
                    next_user = (next_user + 1) % users.len();
                    next_user
                }
                Pacing::Realistic { .. } => {
                    let Reverse((when, i)) = *due.peek().expect("every user is scheduled");
                    let now = Instant::now();
                    if when > now {
                        std::thread::sleep((when - now).min(Duration::from_millis(50)));
                        continue;
                    }
                    due.pop();
                    i
                }
            };
            self.keep_rate(start, sent);
            let globalseq = self.sequence.fetch_add(1, Ordering::SeqCst) + 1;
            if self.max_events.is_some_and(|max| globalseq > max) {
                break;
            }
            let event = users[user].next_event(globalseq as i64, now_millis(), &mut rng);
            if let Pacing::Realistic { .. } = self.pacing {
                due.push(Reverse((Instant::now() + self.pause_after(&users[user], &mut rng), user)));
            }
            buf.clear();
            if let Err(reason) = encoder.encode(&event, &mut buf) {
                // The schema and the model are compiled together: this is a bug, not bad input.
                Counters::add(&self.counters.encode_errors, 1);
                self.counters.record_failure(format!("globalseq {globalseq} could not be encoded: {reason}"));
                self.stop.store(true, Ordering::Relaxed);
                break;
            }
            if send(output, users[user].userid, &buf, globalseq, self.counters) {
                Counters::add(&self.counters.sent, 1);
            }
            sent += 1;
        }
    }

    fn first_delay(&self, rng: &mut SmallRng) -> Duration {
        match self.pacing {
            Pacing::NoDelay => Duration::ZERO,
            Pacing::Realistic { think, .. } => think.mul_f64(rng.random::<f64>()),
        }
    }

    fn pause_after(&self, user: &User, rng: &mut SmallRng) -> Duration {
        let Pacing::Realistic { think, session_gap } = self.pacing else {
            return Duration::ZERO;
        };
        let mean = if user.between_sessions() { session_gap } else { think };
        // Exponentially distributed pauses: most short, some long.
        mean.mul_f64(-(1.0 - rng.random::<f64>()).ln())
    }

    fn keep_rate(&self, start: Instant, sent: u64) {
        if self.rate <= 0.0 {
            return;
        }
        let due = start + Duration::from_secs_f64(sent as f64 / self.rate);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
    }
}

/// Queues one record; false when it could not be queued (counted as failed).
fn send(output: &Output<'_>, userid: i32, payload: &[u8], globalseq: u64, counters: &Counters) -> bool {
    let Output::Kafka { producer, topic } = output else {
        return true;
    };
    let key = userid.to_string();
    let mut record = BaseRecord::with_opaque_to(topic, globalseq as usize).key(key.as_bytes()).payload(payload);
    loop {
        match producer.send(record) {
            Ok(()) => return true,
            // The local queue is full: the background thread is draining it.
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                record = returned;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err((error, _)) => {
                counters.record_failure(format!("globalseq {globalseq} could not be queued: {error}"));
                return false;
            }
        }
    }
}

fn now_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
