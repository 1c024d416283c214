//! `cdc-source` command line.

use cdc_source::config::{ENV_PREFIX, SourceConfig};
use cdc_source::metrics::SourceMetrics;
use clap::{Parser, Subcommand};
use shared::config::{ConfigArgs, load_or_exit, render};
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "cdc-source", version, about = "MySQL/MariaDB binlog → Debezium change events on Kafka")]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate the configuration and print it as the service would use it (secrets as ***).
    CheckConfig,
    /// Snapshot (per snapshot.mode) and stream the binlog until SIGTERM / Ctrl-C.
    Run,
    /// Commands to a running source, sent through its signal table (capture.signal_table).
    Snapshot {
        #[command(subcommand)]
        action: SnapshotAction,
    },
}

#[derive(Subcommand)]
enum SnapshotAction {
    /// Re-read tables (Debezium's execute-snapshot signal): their rows are sent again
    /// as they are now, after a truncate event, while the stream waits.
    Start {
        /// Tables as db.table, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        tables: Vec<String>,
    },
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    shared::telemetry::init_logging();
    let config: SourceConfig = load_or_exit("cdc-source", ENV_PREFIX, &cli.config);
    let result = match cli.command {
        Command::CheckConfig => {
            print!("{}", render(&config));
            Ok(())
        }
        Command::Run => run(&config).await,
        Command::Snapshot { action: SnapshotAction::Start { tables } } => cdc_source::signal::execute_snapshot(&config, &tables).await,
    };
    if let Err(e) = result {
        eprintln!("cdc-source: {e:#}");
        std::process::exit(1);
    }
}

async fn run(config: &SourceConfig) -> anyhow::Result<()> {
    let shutdown = shared::telemetry::shutdown_flag("waiting for the broker to acknowledge what was sent");
    let metrics = Arc::new(SourceMetrics::default());
    let health = metrics.clone();
    let stall = Duration::from_millis(config.capture.heartbeat_interval_ms.max(config.offsets.flush_interval_ms) * 6);
    shared::telemetry::serve(config.metrics.listen, metrics.registry.clone(), Arc::new(move || health.health(stall)))
        .await
        .map_err(|e| anyhow::anyhow!("cannot serve metrics on {} (metrics.listen): {e}", config.metrics.listen))?;
    cdc_source::source::run(config, shutdown, metrics).await
}
