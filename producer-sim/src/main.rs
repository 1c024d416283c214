//! `producer-sim` command line.

use producer_sim::config::{ENV_PREFIX, SimConfig};
use clap::{Parser, Subcommand};
use shared::config::{ConfigArgs, load_or_exit, render};

#[derive(Parser)]
#[command(name = "producer-sim", version, about = "Load generator and end-to-end verifier for the CDC pipeline")]
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
    let config: SimConfig = load_or_exit("producer-sim", ENV_PREFIX, &cli.config);
    match cli.command {
        Command::CheckConfig => print!("{}", render(&config)),
    }
}
