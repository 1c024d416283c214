//! The sink's Prometheus metrics (served with `/healthz` by
//! `shared::telemetry::serve`), and its health: healthy while the consumer
//! loop keeps turning and no partition is stopped.

use prometheus::core::Collector;
use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub struct SinkMetrics {
    pub registry: Registry,
    pub rows_inserted: IntCounterVec,
    pub batches_inserted: IntCounterVec,
    /// Exactly-once plan steps by classification (`fresh`, `new`, `same`, `contains`, `overlap`, `previous`, `dead_letter`).
    pub outcomes: IntCounterVec,
    pub dead_letters: IntCounterVec,
    pub retries: IntCounter,
    pub insert_seconds: Histogram,
    /// Records behind the partition's high watermark (from librdkafka statistics).
    pub lag: IntGaugeVec,
    /// 1 while a partition is stopped (`errors_tolerance = none`, unusable table).
    pub stopped: IntGaugeVec,
    /// Records the broker delivered twice (dropped) and offset jumps seen.
    pub redelivered: IntCounter,
    pub offset_gaps: IntCounter,
    /// Batches waiting for a busy partition worker (those partitions are paused meanwhile).
    pub backlog: IntGauge,
    last_turn_ms: AtomicU64,
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry.register(Box::new(c.clone())).expect("unique metric");
    c
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).expect("valid metric");
    registry.register(Box::new(c.clone())).expect("unique metric");
    c
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry.register(Box::new(g.clone())).expect("unique metric");
    g
}

impl Default for SinkMetrics {
    fn default() -> Self {
        let registry = Registry::new();
        let insert_seconds = Histogram::with_opts(
            HistogramOpts::new("ingest_sink_insert_seconds", "Duration of one ClickHouse INSERT (one batch)")
                .buckets(vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
        )
        .expect("valid metric");
        registry.register(Box::new(insert_seconds.clone())).expect("unique metric");
        Self {
            rows_inserted: counter_vec(&registry, "ingest_sink_rows_inserted_total", "Rows inserted into ClickHouse", &["topic"]),
            batches_inserted: counter_vec(&registry, "ingest_sink_batches_inserted_total", "Batches inserted", &["topic"]),
            outcomes: counter_vec(&registry, "ingest_sink_batch_outcomes_total", "Exactly-once plan steps by classification", &["outcome"]),
            dead_letters: counter_vec(&registry, "ingest_sink_dead_letters_total", "Records sent to the dead-letter queue", &["topic", "kind"]),
            retries: counter(&registry, "ingest_sink_retries_total", "Retries after a transient failure (ClickHouse, state store, registry, broker)"),
            insert_seconds,
            lag: gauge_vec(&registry, "ingest_sink_partition_lag", "Records behind the high watermark", &["topic", "partition"]),
            stopped: gauge_vec(&registry, "ingest_sink_partition_stopped", "1 while a partition is stopped", &["topic", "partition"]),
            redelivered: counter(&registry, "ingest_sink_redelivered_records_total", "Records the broker delivered twice (dropped)"),
            offset_gaps: counter(&registry, "ingest_sink_offset_gaps_total", "Offset jumps seen while consuming"),
            backlog: {
                let g = IntGauge::new("ingest_sink_backlog_batches", "Batches waiting for a busy partition worker").expect("valid metric");
                registry.register(Box::new(g.clone())).expect("unique metric");
                g
            },
            last_turn_ms: AtomicU64::new(now_ms()),
            registry,
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl SinkMetrics {
    /// The consumer loop calls this every turn.
    pub fn turned(&self) {
        self.last_turn_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// Healthy while the loop turned recently and no partition is stopped.
    pub fn health(&self, stall: Duration) -> Result<String, String> {
        let idle = Duration::from_millis(now_ms().saturating_sub(self.last_turn_ms.load(Ordering::Relaxed)));
        if idle > stall {
            return Err(format!("the consumer loop has not turned for {idle:?} (blocked on a dependency? see the log)"));
        }
        let stopped: i64 = Collector::collect(&self.stopped)
            .iter()
            .flat_map(|f| f.get_metric())
            .map(|m| m.get_gauge().get_value() as i64)
            .sum();
        if stopped > 0 {
            return Err(format!("{stopped} partition(s) stopped; see the log for the offsets and the reason"));
        }
        Ok(String::new())
    }
}
