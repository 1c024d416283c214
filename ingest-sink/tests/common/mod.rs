//! Running the real `ingest-sink` binary against the local stack.

#![allow(dead_code)] // each test file uses its own subset

use clap::Parser;
use integration_tests::{Stack, unique_name};
use producer_sim::clickstream::{self, Summary, options::ClickstreamArgs};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: ClickstreamArgs,
}

/// Produces `events` clickstream events (Avro, registry `registry`) to a new 3-partition topic.
pub async fn produce(stack: &Stack, topic: &str, registry: &str, events: u64) -> Summary {
    produce_with(stack, topic, registry, events, &[]).await
}

/// [`produce`] with more `producer-sim clickstream` flags.
pub async fn produce_with(stack: &Stack, topic: &str, registry: &str, events: u64, more: &[&str]) -> Summary {
    let events = events.to_string();
    let mut flags = vec!["clickstream", "--topic", topic, "--events", &events, "--no-delay", "--users", "200", "--partitions", "3"];
    flags.extend_from_slice(more);
    let args = Cli::parse_from(flags).args;
    let summary = clickstream::run(&args, &stack.kafka_config(), &stack.glue_config(registry), Arc::new(AtomicBool::new(false)))
        .await
        .unwrap();
    assert_eq!(summary.delivered, summary.sent);
    summary
}

/// A sink configuration for one test.
pub struct SinkSetup {
    pub group: String,
    pub topic: String,
    pub table: String,
    pub registry: String,
    pub store: &'static str,
    pub batch_max_rows: usize,
    pub metadata_columns: bool,
    /// Lines added to `[consumer]`.
    pub extra: String,
    /// Overrides of the stack's ClickHouse and Redis URLs (e.g. through an outage proxy).
    pub clickhouse_url: Option<String>,
    pub redis_url: Option<String>,
}

impl SinkSetup {
    pub fn new(topic: &str, registry: &str, store: &'static str) -> Self {
        Self {
            group: unique_name("sink"),
            topic: topic.to_string(),
            table: unique_name("clicks"),
            registry: registry.to_string(),
            store,
            batch_max_rows: 1000,
            metadata_columns: false,
            extra: String::new(),
            clickhouse_url: None,
            redis_url: None,
        }
    }

    pub fn config_file(&self, stack: &Stack) -> PathBuf {
        let state = match self.store {
            "redis" => format!("store = \"redis\"\nredis = {{ url = \"{}\" }}", self.redis_url.as_ref().unwrap_or(&stack.redis_url)),
            "keepermap" => format!("store = \"keepermap\"\nkeepermap_table = \"{}\"", unique_name("sink_state")),
            other => format!("store = \"{other}\""),
        };
        let text = format!(
            r#"
[kafka]
bootstrap_servers = "{kafka}"
# A killed member is noticed in seconds, not the default 45 s.
properties = {{ "session.timeout.ms" = "6000", "heartbeat.interval.ms" = "500" }}

[glue]
region = "{region}"
endpoint_url = "{glue}"
registry_name = "{registry}"
access_key_id = "local-stack"
secret_access_key = "local-stack"

[clickhouse]
url = "{clickhouse}"

[state]
{state}

[consumer]
group_id = "{group}"
topics = ["{topic}"]
batch_max_rows = {rows}
batch_max_wait_ms = 200
{extra}

[apply]
tables = {{ "{topic}" = "{table}" }}
metadata_columns = {metadata}

[metrics]
listen = "127.0.0.1:0"
"#,
            kafka = stack.kafka_bootstrap,
            region = stack.aws_region,
            glue = stack.glue_endpoint,
            registry = self.registry,
            clickhouse = self.clickhouse_url.as_ref().unwrap_or(&stack.clickhouse_url),
            group = self.group,
            topic = self.topic,
            rows = self.batch_max_rows,
            extra = self.extra,
            table = self.table,
            metadata = self.metadata_columns,
        );
        let path = std::env::temp_dir().join(format!("{}.toml", self.group));
        std::fs::write(&path, text).unwrap();
        path
    }
}

/// Starts `ingest-sink run`; `fault` arms a fault point (`point:n`). The
/// sink is killed when the thread that started it (the test's) ends, so a
/// failing test never leaves it running.
pub fn start_sink(config: &std::path::Path, fault: Option<&str>, log_name: &str) -> Child {
    use std::os::unix::process::CommandExt;
    let log = std::fs::File::create(integration_tests::log_path(log_name)).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_ingest-sink"));
    command
        .args(["--config", config.to_str().unwrap(), "run"])
        .env("RUST_LOG", "info,ingest_sink=debug,librdkafka=warn")
        .stdout(Stdio::null())
        .stderr(log);
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    match fault {
        Some(f) => command.env("INGEST_FAULT", f),
        None => command.env_remove("INGEST_FAULT"),
    };
    command.spawn().unwrap()
}

pub use integration_tests::log_of;

/// Stops a sink politely (SIGTERM) and waits for it.
pub fn stop_sink(child: Child) {
    integration_tests::terminate(child, "ingest-sink", Duration::from_secs(30));
}

pub fn clickhouse(stack: &Stack) -> clickhouse::Client {
    clickhouse::Client::default().with_url(&stack.clickhouse_url)
}

/// (count, distinct globalseq, min, max) of the table, or zeros while it does not exist.
pub async fn totals(stack: &Stack, table: &str) -> (u64, u64, i64, i64) {
    clickhouse(stack)
        .query(&format!("SELECT count(), uniqExact(globalseq), min(globalseq), max(globalseq) FROM `{table}`"))
        .fetch_one()
        .await
        .unwrap_or((0, 0, 0, 0))
}

/// Waits until the table holds `expected` rows (or the sink dies, or `timeout`).
pub async fn wait_for_rows(stack: &Stack, table: &str, expected: u64, sink: Option<&mut Child>, timeout: Duration) -> (u64, u64, i64, i64) {
    let deadline = Instant::now() + timeout;
    let mut sink = sink;
    loop {
        let t = totals(stack, table).await;
        if t.0 >= expected || Instant::now() > deadline {
            return t;
        }
        if let Some(child) = sink.as_deref_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            panic!("ingest-sink exited early with {status}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `GET path` on the sink's metrics endpoint (its address is in the sink's log).
pub fn http_get(log_name: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let log = log_of(log_name);
    let address = log
        .lines()
        .find_map(|l| l.split("bound=").nth(1))
        .map(|rest| rest.split_whitespace().next().unwrap_or_default().to_string())
        .expect("the sink logs the metrics address");
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}
