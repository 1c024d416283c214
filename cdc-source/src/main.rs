//! `cdc-source` command line.

use cdc_source::config::{ENV_PREFIX, SourceConfig};
use clap::{Parser, Subcommand};
use shared::config::{ConfigArgs, load_or_exit, render};

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
}

fn main() {
    let cli = Cli::parse();
    shared::telemetry::init_logging();
    let config: SourceConfig = load_or_exit("cdc-source", ENV_PREFIX, &cli.config);
    match cli.command {
        Command::CheckConfig => print!("{}", render(&config)),
    }
}
