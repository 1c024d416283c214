//! `ingest-sink` command line.

use ingest_sink::config::{ENV_PREFIX, SinkConfig};
use clap::{Parser, Subcommand};
use shared::config::{ConfigArgs, load_or_exit, render};

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
    /// Validate the configuration and print it as the service would use it (secrets as ***).
    CheckConfig,
}

fn main() {
    let cli = Cli::parse();
    shared::telemetry::init_logging();
    let config: SinkConfig = load_or_exit("ingest-sink", ENV_PREFIX, &cli.config);
    match cli.command {
        Command::CheckConfig => print!("{}", render(&config)),
    }
}
