//! `producer-sim` command line.

use clap::{Parser, Subcommand};
use producer_sim::clickstream::{self, options::ClickstreamArgs};
use producer_sim::config::{ENV_PREFIX, SimConfig};
use producer_sim::mysql_load::{self, MysqlLoadArgs};
use producer_sim::verify::{self, VerifyArgs};
use shared::config::{ConfigArgs, EXIT_CODE, load_or_exit, render};
use shared::mysql::MysqlConnector;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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
    /// Validate the configuration and print it as the tool would use it (secrets as ***).
    CheckConfig,
    #[command(flatten)]
    Reference(shared::config::reference::ReferenceCommand),
    /// Simulate shoppers' clicks into a Kafka topic (Avro via Glue, or JSON).
    Clickstream(Box<ClickstreamArgs>),
    /// Run an OLTP workload (orders, customers, products) against MySQL/MariaDB (`[mysql]`).
    Mysql(MysqlLoadArgs),
    /// Compare MySQL tables with their ClickHouse tables (and the clickstream); exit 1 on any difference.
    Verify(VerifyArgs),
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    shared::telemetry::init_logging();
    if let Command::Reference(command) = &cli.command {
        std::process::exit(command.run(&producer_sim::config::reference()));
    }
    let config: SimConfig = load_or_exit("producer-sim", ENV_PREFIX, &cli.config);
    let code = match cli.command {
        Command::CheckConfig => {
            print!("{}", render(&config));
            0
        }
        Command::Reference(_) => unreachable!("handled before the configuration is loaded"),
        Command::Clickstream(args) => clickstream_command(&args, &config).await,
        Command::Mysql(args) => mysql_command(&args, &config).await,
        Command::Verify(args) => verify_command(&args, &config).await,
    };
    std::process::exit(code);
}

async fn clickstream_command(args: &ClickstreamArgs, config: &SimConfig) -> i32 {
    let kafka = match args.kafka.apply(config.kafka.as_ref()) {
        Ok(kafka) => kafka,
        Err(err) => {
            eprintln!("producer-sim: {err}");
            return EXIT_CODE;
        }
    };
    let stop = stop_on_ctrl_c("flushing events in flight");
    match clickstream::run(args, &kafka, &config.glue, stop).await {
        Ok(summary) => {
            print!("{}", summary.render());
            if summary.failed > 0 {
                eprintln!(
                    "producer-sim: {} events were not delivered; the topic has gaps in globalseq",
                    summary.failed
                );
                1
            } else {
                0
            }
        }
        Err(err) => {
            eprintln!("producer-sim: clickstream failed: {err:#}");
            1
        }
    }
}

async fn mysql_command(args: &MysqlLoadArgs, config: &SimConfig) -> i32 {
    let Some(mysql) = &config.mysql else {
        eprintln!("producer-sim: `mysql` needs a [mysql] section in the configuration (host, port, user, password)");
        return EXIT_CODE;
    };
    let Some(connector) = connector(mysql) else { return EXIT_CODE };
    let stop = stop_on_ctrl_c("finishing the transactions in progress");
    match mysql_load::run(args, connector, stop).await {
        Ok(summary) => {
            print!("{}", summary.render());
            0
        }
        Err(err) => {
            eprintln!("producer-sim: mysql workload failed: {err:#}");
            1
        }
    }
}

async fn verify_command(args: &VerifyArgs, config: &SimConfig) -> i32 {
    let (Some(mysql), Some(clickhouse)) = (&config.mysql, &config.clickhouse) else {
        eprintln!("producer-sim: `verify` needs [mysql] and [clickhouse] sections in the configuration");
        return EXIT_CODE;
    };
    let Some(connector) = connector(mysql) else { return EXIT_CODE };
    let client = match clickhouse.client() {
        Ok(client) => client,
        Err(e) => {
            eprintln!("producer-sim: {e}");
            return EXIT_CODE;
        }
    };
    match verify::run(args, &connector, &client).await {
        Ok(report) => {
            print!("{}", report.render());
            if report.differences() == 0 { 0 } else { 1 }
        }
        Err(err) => {
            eprintln!("producer-sim: verify failed: {err:#}");
            1
        }
    }
}

/// A flag set by the first Ctrl-C (the run winds down, saying `doing`); a
/// second Ctrl-C exits at once.
fn stop_on_ctrl_c(doing: &'static str) -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let on_signal = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\nproducer-sim: stopping: {doing} (Ctrl-C again to abort)");
            on_signal.store(true, Ordering::Relaxed);
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    stop
}

/// The MySQL connector of the configuration, or `None` after saying why not.
fn connector(mysql: &shared::config::MysqlConfig) -> Option<MysqlConnector> {
    MysqlConnector::new(mysql).map_err(|err| eprintln!("producer-sim: {err}")).ok()
}
