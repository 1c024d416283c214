//! `ingest-sink` command line.
// The service future nests deeply (consumer → applier → retries → the HTTP client).
#![recursion_limit = "256"]

use clap::{Parser, Subcommand};
use ingest_sink::metrics::SinkMetrics;
use ingest_sink::config::{ENV_PREFIX, SinkConfig};
use ingest_sink::consumer;
use shared::retry::RetryPolicy;
use ingest_sink::state::PartitionKey;
use rdkafka::consumer::{BaseConsumer, Consumer};
use shared::config::{ConfigArgs, load_or_exit, render};
use shared::kafka::ClientRole;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "ingest-sink", version, about = "Kafka → ClickHouse, exactly once")]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Consume the configured topics and apply them to ClickHouse (until SIGTERM / Ctrl-C).
    Run,
    /// Validate the configuration and print it as the service would use it (secrets as ***).
    CheckConfig,
    #[command(flatten)]
    Reference(shared::config::reference::ReferenceCommand),
    /// Inspect or reset the per-partition exactly-once state.
    #[command(subcommand)]
    State(StateCommand),
}

#[derive(Subcommand)]
enum StateCommand {
    /// Print the state of every partition of this consumer group.
    Show,
    /// Forget one partition's state, so it is consumed again from the committed
    /// offset (or `auto_offset_reset`). Refused while the group has live members.
    Reset {
        #[arg(long)]
        topic: String,
        #[arg(long)]
        partition: i32,
    },
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    shared::telemetry::init_logging();
    if let Command::Reference(command) = &cli.command {
        std::process::exit(command.run(&ingest_sink::config::reference()));
    }
    let config: SinkConfig = load_or_exit("ingest-sink", ENV_PREFIX, &cli.config);
    let result = match cli.command {
        Command::CheckConfig => {
            print!("{}", render(&config));
            Ok(())
        }
        Command::Reference(_) => unreachable!("handled before the configuration is loaded"),
        Command::Run => run(&config).await,
        Command::State(StateCommand::Show) => state_show(&config).await,
        Command::State(StateCommand::Reset { topic, partition }) => state_reset(&config, PartitionKey::new(topic, partition)).await,
    };
    if let Err(e) = result {
        eprintln!("ingest-sink: {e:#}");
        std::process::exit(1);
    }
}

async fn run(config: &SinkConfig) -> anyhow::Result<()> {
    let shutdown = shared::telemetry::shutdown_flag("finishing the batch in hand");
    let metrics = Arc::new(SinkMetrics::default());
    let health_source = metrics.clone();
    shared::telemetry::serve(
        config.metrics.listen,
        metrics.registry.clone(),
        Arc::new(move || health_source.health(Duration::from_secs(60))),
    )
    .await
    .map_err(|e| anyhow::anyhow!("cannot serve metrics on {} (metrics.listen): {e}", config.metrics.listen))?;
    consumer::run(config, shutdown, metrics).await
}

async fn state_show(config: &SinkConfig) -> anyhow::Result<()> {
    let store = consumer::open_store(config, &RetryPolicy::default()).await?;
    let states = store.list().await?;
    println!("state store: {} (group {})", store.kind(), config.consumer.group_id);
    println!("{:<40} {:>9} {:>14} {:>14} {:>7} {:>6}", "topic", "partition", "min offset", "max offset", "phase", "fence");
    for s in states {
        let (min, max, phase) = match s.state {
            Some(st) => (st.range.min.to_string(), st.range.max.to_string(), format!("{:?}", st.phase).to_uppercase()),
            None => ("-".into(), "-".into(), "NONE".into()),
        };
        println!("{:<40} {:>9} {:>14} {:>14} {:>7} {:>6}", s.key.topic, s.key.partition, min, max, phase, s.fence);
    }
    Ok(())
}

async fn state_reset(config: &SinkConfig, key: PartitionKey) -> anyhow::Result<()> {
    let group = &config.consumer.group_id;
    let consumer: BaseConsumer = config.kafka.client_config(ClientRole::Consumer { group_id: group })?.create()?;
    let groups = tokio::task::spawn_blocking(move || {
        let list = consumer.fetch_group_list(None, Duration::from_secs(10));
        list.map(|l| l.groups().iter().map(|g| (g.name().to_string(), g.members().len())).collect::<Vec<_>>())
    })
    .await??;
    if let Some((_, members)) = groups.iter().find(|(name, members)| name == group && *members > 0) {
        anyhow::bail!(
            "consumer group `{group}` has {members} live member(s): stop every ingest-sink of the group before resetting {key}, \
             or the running sink would keep writing the state you reset"
        );
    }
    let store = consumer::open_store(config, &RetryPolicy::default()).await?;
    if store.reset(&key).await? {
        println!("state of {key} reset: it will be consumed from its committed offset (or auto_offset_reset)");
    } else {
        println!("{key} had no state; nothing to reset");
    }
    Ok(())
}
