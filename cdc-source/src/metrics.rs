//! The source's Prometheus metrics (served with `/healthz` by
//! `shared::telemetry::serve`): rows by op, how far behind the server the
//! source is, the binlog position, snapshot progress, reconnects, records
//! skipped on resume. Healthy while the stream loop keeps turning.

use crate::position::{BinlogPosition, file_sequence};
use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

pub struct SourceMetrics {
    pub registry: Registry,
    pub rows: IntCounterVec,
    pub lag_ms: IntGauge,
    pub binlog_file: IntGauge,
    pub binlog_pos: IntGauge,
    pub snapshot_rows: IntGaugeVec,
    pub snapshot_estimate: IntGaugeVec,
    /// Incremental snapshots: chunks sent, tables left, this run's rows/s, seconds left (-1: unknown).
    pub snapshot_chunks: IntCounter,
    pub snapshot_tables_remaining: IntGauge,
    pub snapshot_rows_per_second: IntGauge,
    pub snapshot_seconds_remaining: IntGauge,
    pub reconnects: IntCounter,
    pub skipped: IntCounter,
    pub ddl: IntCounter,
    /// Retries of transient failures (registry, catalog connections).
    pub retries: IntCounter,
    /// 1 for each table in quarantine (its changes skipped until re-read).
    pub quarantined: IntGaugeVec,
    last_turn_ms: AtomicI64,
}

impl Default for SourceMetrics {
    fn default() -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("valid metric");
            registry.register(Box::new(c.clone())).expect("unique metric");
            c
        };
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            registry.register(Box::new(g.clone())).expect("unique metric");
            g
        };
        let gauge_vec = |name: &str, help: &str| {
            let g = IntGaugeVec::new(Opts::new(name, help), &["table"]).expect("valid metric");
            registry.register(Box::new(g.clone())).expect("unique metric");
            g
        };
        let rows = IntCounterVec::new(Opts::new("cdc_source_rows_total", "Row change events published, by op (c, u, d, r)"), &["op"]).expect("valid metric");
        registry.register(Box::new(rows.clone())).expect("unique metric");
        Self {
            rows,
            lag_ms: gauge("cdc_source_millis_behind_source", "Now minus the binlog timestamp of the last row event"),
            binlog_file: gauge("cdc_source_binlog_file_sequence", "Sequence number of the binlog file being read"),
            binlog_pos: gauge("cdc_source_binlog_position", "Position after the last complete transaction"),
            snapshot_rows: gauge_vec("cdc_source_snapshot_rows", "Rows read by the snapshot, per table"),
            snapshot_estimate: gauge_vec("cdc_source_snapshot_rows_estimated", "The server's row estimate per table"),
            snapshot_chunks: counter("cdc_source_snapshot_chunks_total", "Incremental snapshot chunks sent"),
            snapshot_tables_remaining: gauge("cdc_source_snapshot_tables_remaining", "Tables the incremental snapshot has still to read"),
            snapshot_rows_per_second: gauge("cdc_source_snapshot_rows_per_second", "Rows the incremental snapshot sent per second in this run"),
            snapshot_seconds_remaining: gauge("cdc_source_snapshot_seconds_remaining", "Estimated seconds until the incremental snapshot is done (-1: unknown)"),
            reconnects: counter("cdc_source_reconnects_total", "Reconnections to the MySQL server"),
            skipped: counter("cdc_source_records_skipped_total", "Records not sent again because their partition already had them"),
            ddl: counter("cdc_source_ddl_total", "DDL statements seen"),
            retries: counter("cdc_source_retries_total", "Retries of transient failures (Glue registry, catalog connections)"),
            quarantined: gauge_vec("cdc_source_quarantined", "1 for a table whose changes are skipped until it is re-read (a record above the broker's size limit)"),
            registry,
            last_turn_ms: AtomicI64::new(crate::envelope::now_ms()),
        }
    }
}

impl SourceMetrics {
    pub fn position(&self, position: &BinlogPosition) {
        self.binlog_file.set(file_sequence(&position.file).unwrap_or(0) as i64);
        self.binlog_pos.set(position.pos as i64);
    }

    pub fn turned(&self) {
        self.last_turn_ms.store(crate::envelope::now_ms(), Ordering::Relaxed);
    }

    /// Unhealthy when the stream loop stalls; healthy otherwise, naming the
    /// tables in quarantine (the source goes on with the others, so a restart
    /// would not help until their cause is fixed).
    pub fn health(&self, stall: Duration) -> Result<String, String> {
        let idle = crate::envelope::now_ms() - self.last_turn_ms.load(Ordering::Relaxed);
        if idle > stall.as_millis() as i64 {
            return Err(format!("the stream loop has not turned for {idle} ms"));
        }
        let quarantined: Vec<String> = prometheus::core::Collector::collect(&self.quarantined)
            .iter()
            .flat_map(|family| family.get_metric())
            .filter(|m| m.get_gauge().get_value() > 0.0)
            .filter_map(|m| m.get_label().first().map(|label| label.value().to_string()))
            .collect();
        Ok(match quarantined.is_empty() {
            true => String::new(),
            false => format!("in quarantine, changes skipped until re-read (see the log): {}", quarantined.join(", ")),
        })
    }
}
