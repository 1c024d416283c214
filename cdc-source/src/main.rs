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
    #[command(flatten)]
    Reference(shared::config::reference::ReferenceCommand),
    /// Snapshot (per snapshot.mode) and stream the binlog until SIGTERM / Ctrl-C.
    Run,
    /// Snapshots of chosen tables while the source runs: commands sent through
    /// its signal table (capture.signal_table), and their progress.
    Snapshot {
        #[command(subcommand)]
        action: SnapshotAction,
    },
}

#[derive(Subcommand)]
enum SnapshotAction {
    /// Read tables again (Debezium's execute-snapshot signal): incrementally,
    /// in key chunks while the stream goes on (the default), or with
    /// --blocking in one pass after a truncate event while the stream waits.
    Start {
        /// Tables as db.table, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        tables: Vec<String>,
        /// One pass, after a truncate event (rows deleted meanwhile go too).
        #[arg(long)]
        blocking: bool,
        /// Only rows meeting an SQL condition: db.table=condition (repeatable).
        #[arg(long)]
        filter: Vec<String>,
    },
    /// Stop the incremental snapshot (of --tables, or of all tables).
    Stop {
        #[arg(long, value_delimiter = ',')]
        tables: Vec<String>,
    },
    /// Pause the incremental snapshot (the stream goes on).
    Pause,
    /// Resume a paused (or error-stopped) incremental snapshot.
    Resume,
    /// Print the incremental snapshot's progress, per table, as stored with the offsets.
    Status,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    shared::telemetry::init_logging();
    if let Command::Reference(command) = &cli.command {
        std::process::exit(command.run(&cdc_source::config::reference()));
    }
    let config: SourceConfig = load_or_exit("cdc-source", ENV_PREFIX, &cli.config);
    let result = match cli.command {
        Command::CheckConfig => {
            print!("{}", render(&config));
            Ok(())
        }
        Command::Reference(_) => unreachable!("handled before the configuration is loaded"),
        Command::Run => run(&config).await,
        Command::Snapshot { action } => snapshot(&config, action).await,
    };
    if let Err(e) = result {
        eprintln!("cdc-source: {e:#}");
        std::process::exit(1);
    }
}

async fn snapshot(config: &SourceConfig, action: SnapshotAction) -> anyhow::Result<()> {
    use cdc_source::signal;
    match action {
        SnapshotAction::Start { tables, blocking, filter } => signal::execute_snapshot(config, &tables, blocking, &filter).await,
        SnapshotAction::Stop { tables } => signal::control(config, "stop-snapshot", &tables).await,
        SnapshotAction::Pause => signal::control(config, "pause-snapshot", &[]).await,
        SnapshotAction::Resume => signal::control(config, "resume-snapshot", &[]).await,
        SnapshotAction::Status => {
            let stored = cdc_source::source::stored_offsets(config).await?;
            print!("{}", cdc_source::incremental::render_status(stored.as_ref().and_then(|o| o.incremental.as_deref())));
            Ok(())
        }
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
