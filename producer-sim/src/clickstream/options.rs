//! `producer-sim clickstream` options.

use crate::kafka_args::KafkaArgs;
use shared::glue::{CompatibilityMode, Compression};
use std::path::PathBuf;

/// Record encoding on the topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Avro in AWS Glue Schema Registry frames (schema registered in Glue).
    Avro,
    /// JSON in the Kafka Connect JsonConverter shape (see --json-with-schema).
    Json,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ClickstreamArgs {
    /// Topic to write to; created with --partitions if it does not exist.
    #[arg(long, default_value = "clickstream")]
    pub topic: String,
    /// Partitions of the topic when this run creates it.
    #[arg(long, default_value_t = 3)]
    pub partitions: i32,
    /// Worker threads generating and sending events (each simulates a share of the users).
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Simulated users (userid 1..=N); a user's events share a key and so a partition.
    #[arg(long, default_value_t = 1000)]
    pub users: u32,
    /// Stop after exactly this many events (globalseq 1..=N).
    #[arg(long)]
    pub events: Option<u64>,
    /// Stop after this many seconds (whichever limit comes first; Ctrl-C also stops cleanly).
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<u64>,
    /// No think time: every user clicks again at once (load testing). Default: realistic pacing.
    #[arg(long)]
    pub no_delay: bool,
    /// Realistic pacing: mean pause between a user's clicks.
    #[arg(long, value_name = "MS", default_value_t = 2_000)]
    pub think_time_ms: u64,
    /// Realistic pacing: mean pause between a user's sessions.
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    pub session_gap_ms: u64,
    /// Cap on events per second over all threads (0: no cap).
    #[arg(long, value_name = "EVENTS_PER_SEC", default_value_t = 0)]
    pub rate: u64,
    /// Seed of the simulation (printed at start, so a run can be repeated).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Record encoding.
    #[arg(long, value_enum, default_value_t = Format::Avro)]
    pub format: Format,
    /// JSON only: wrap each record as {"schema": ..., "payload": ...} (schemas.enable=true).
    #[arg(long)]
    pub json_with_schema: bool,
    /// Glue registry name (overrides [glue] registry_name).
    #[arg(long, help_heading = "Schema registry")]
    pub registry: Option<String>,
    /// Glue schema name (default: the topic name).
    #[arg(long, help_heading = "Schema registry")]
    pub schema_name: Option<String>,
    /// Never create the schema or a new version: fail unless this definition is registered.
    #[arg(long, help_heading = "Schema registry")]
    pub no_auto_register: bool,
    /// Compatibility rule of the schema when this run creates it.
    #[arg(long, value_enum, default_value_t = CompatibilityMode::Backward, help_heading = "Schema registry")]
    pub compatibility: CompatibilityMode,
    /// Glue frame compression of each record.
    #[arg(long, value_enum, default_value_t = Compression::None, help_heading = "Schema registry")]
    pub frame_compression: Compression,
    /// When done, write the highest globalseq sent to this file (for `verify`).
    #[arg(long, value_name = "FILE")]
    pub globalseq_file: Option<PathBuf>,
    /// Generate and encode but send nothing: measures the simulator without a broker.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub kafka: KafkaArgs,
}
