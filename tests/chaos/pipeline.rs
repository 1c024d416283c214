//! The whole pipeline on the local stack, as the crash suite drives it: MySQL
//! (`producer-sim mysql`'s schema) → `cdc-source` → Kafka → `ingest-sink` →
//! ClickHouse, plus a clickstream topic consumed by the same sink.
//!
//! The services run as the real binaries (built by this workspace), each
//! with its own log; the workloads and `verify` run in-process through the
//! `producer-sim` library, exactly as the CLI runs them.

use integration_tests::{DbServer, Stack, TEST_REGISTRY, kill, log_of, log_path, repo_root, tail, terminate, unique_name};
use producer_sim::mysql_load::schema::TABLES;
use shared::config::ClickHouseConfig;
use shared::mysql::MysqlConnector;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One pipeline's names, configuration files and running services.
pub struct Pipeline {
    pub name: String,
    /// The MySQL database (also the topic prefix).
    pub database: String,
    pub clicks_topic: String,
    pub clicks_table: String,
    source_config: PathBuf,
    sink_config: PathBuf,
    pub source: Option<Child>,
    pub sink: Option<Child>,
}

impl Pipeline {
    /// A pipeline that also captures `extra_tables`, its sink closing batches after `batch_wait_ms`.
    pub fn with_tables(stack: &Stack, prefix: &str, extra_tables: &[&str], batch_wait_ms: u64) -> Self {
        Self::on_server(stack, &stack.mysql, prefix, extra_tables, batch_wait_ms, "avro")
    }

    /// The same, capturing `server` (MySQL or MariaDB), the change topics in
    /// `format` (`avro`: Glue Avro; `json`: Kafka Connect JSON, read so by the sink too).
    pub fn on_server(stack: &Stack, server: &DbServer, prefix: &str, extra_tables: &[&str], batch_wait_ms: u64, format: &str) -> Self {
        let name = unique_name(prefix);
        let database = name.clone();
        let clicks_topic = format!("{name}_clicks");
        let clicks_table = format!("{name}_clicks");
        let mut topics: Vec<String> = TABLES
            .iter()
            .chain(extra_tables)
            .map(|t| format!("{:?}", shared::kafka::table_topic(&database, &database, t)))
            .collect();
        topics.push(format!("\"{database}\"")); // schema changes
        topics.push(format!("\"{clicks_topic}\""));
        let glue = format!(
            "[glue]\nregion = \"{}\"\nendpoint_url = \"{}\"\nregistry_name = \"{TEST_REGISTRY}\"\n\
             access_key_id = \"local-stack\"\nsecret_access_key = \"local-stack\"\n",
            stack.aws_region, stack.glue_endpoint
        );
        let source = format!(
            r#"
[mysql]
{mysql}
[kafka]
bootstrap_servers = "{kafka}"

{glue}
[capture]
topic_prefix = "{database}"
server_id = {server_id}
include_databases = ["{database}"]
topic_partitions = 2
heartbeat_interval_ms = 1000
format = "{format}"

[offsets]
flush_interval_ms = 200
# the local broker (tansu) reports wrong end offsets
readback_until = "quiet_period"

[metrics]
listen = "127.0.0.1:0"
"#,
            mysql = server.toml(),
            kafka = stack.kafka_bootstrap,
            server_id = 20_000 + std::process::id() % 10_000,
        );
        let sink = format!(
            r#"
[kafka]
bootstrap_servers = "{kafka}"
# A killed member is noticed in seconds, not the default 45 s.
properties = {{ "session.timeout.ms" = "6000", "heartbeat.interval.ms" = "500", "fetch.wait.max.ms" = "50" }}
# (tansu holds a fetch for the whole fetch.wait.max.ms even when data arrives: 500 ms by default)

{glue}
# ClickHouse over HTTPS and Redis over TLS (an ACL user, a client certificate), as in production.
{clickhouse_and_state}
[consumer]
group_id = "{name}"
topics = [{topics}]
batch_max_rows = 2000
batch_max_wait_ms = {batch_wait_ms}
format = "{format}"

[apply]
tables = {{ "{clicks_topic}" = "{clicks_table}" }}

[metrics]
listen = "127.0.0.1:0"
"#,
            kafka = stack.kafka_bootstrap,
            clickhouse_and_state = stack.sink_tls_toml("redis", ""),
            topics = topics.join(", "),
        );
        let dir = std::env::temp_dir();
        let (source_config, sink_config) = (dir.join(format!("{name}-source.toml")), dir.join(format!("{name}-sink.toml")));
        std::fs::write(&source_config, source).unwrap();
        std::fs::write(&sink_config, sink).unwrap();
        Self {
            name,
            database,
            clicks_topic,
            clicks_table,
            source_config,
            sink_config,
            source: None,
            sink: None,
        }
    }

    /// Adds `line` (TOML) to the source's `[capture]` section. Call before starting the source.
    pub fn capture_setting(&self, line: &str) {
        let text = std::fs::read_to_string(&self.source_config).unwrap();
        std::fs::write(&self.source_config, text.replacen("[capture]\n", &format!("[capture]\n{line}\n"), 1)).unwrap();
    }

    /// Appends a section (TOML) to the source's configuration. Call before starting the source.
    pub fn source_section(&self, toml: &str) {
        let text = std::fs::read_to_string(&self.source_config).unwrap();
        std::fs::write(&self.source_config, format!("{text}\n{toml}\n")).unwrap();
    }

    /// Replaces `from` with `to` in the source's configuration (for its next start).
    pub fn edit_source_config(&self, from: &str, to: &str) {
        let text = std::fs::read_to_string(&self.source_config).unwrap();
        assert!(text.contains(from), "the source config has no {from:?}");
        std::fs::write(&self.source_config, text.replacen(from, to, 1)).unwrap();
    }

    /// Makes the sink subscribe to the source's table topics by pattern
    /// (`^<prefix>\..*`, plus the clickstream topic) instead of by name, so
    /// tables created later are consumed too. Call before starting the sink.
    pub fn subscribe_by_pattern(&self) {
        let text = std::fs::read_to_string(&self.sink_config).unwrap();
        let pattern = format!("^{}\\..*", self.database);
        let topics = format!("topics = [{:?}, {:?}]", pattern, self.clicks_topic);
        let text: Vec<String> = text.lines().map(|l| if l.starts_with("topics = ") { topics.clone() } else { l.to_string() }).collect();
        std::fs::write(&self.sink_config, text.join("\n")).unwrap();
    }

    pub fn source_log(&self) -> String {
        format!("{}-source", self.name)
    }

    pub fn sink_log(&self) -> String {
        format!("{}-sink", self.name)
    }

    pub fn start_source(&mut self) {
        assert!(self.source.is_none());
        self.source = Some(spawn("cdc-source", &self.source_config, &self.source_log()));
    }

    /// Runs `cdc-source --config <the source's config> <args>` to its end; panics unless it succeeds.
    pub fn source_command(&self, args: &[&str]) -> String {
        let output = Command::new(binary("cdc-source")).arg("--config").arg(&self.source_config).args(args).output().unwrap();
        assert!(output.status.success(), "cdc-source {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    pub fn start_sink(&mut self) {
        assert!(self.sink.is_none());
        self.sink = Some(spawn("ingest-sink", &self.sink_config, &self.sink_log()));
    }

    /// Starts the sink and waits until the group has given it its partitions:
    /// on the local broker a sink stopped (SIGTERM, so it leaves the group)
    /// before its join completes leaves the group stuck for the next one
    /// (`broker_faults::a_member_leaving_mid_join_sticks_the_group`). Kills
    /// need no such wait.
    pub fn start_sink_assigned(&mut self, timeout: Duration) {
        let before = log_of(&self.sink_log()).len();
        self.start_sink();
        let deadline = Instant::now() + timeout;
        while !log_of(&self.sink_log()).get(before..).is_some_and(|new| new.contains("partition assigned")) {
            self.assert_running();
            assert!(
                Instant::now() < deadline,
                "the restarted sink got no partitions within {timeout:?} (broker group coordination):\n{}",
                tail(&log_of(&self.sink_log()), 30)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn kill_source(&mut self) {
        kill(self.source.take().expect("source running"), "cdc-source", &self.source_log());
    }

    pub fn kill_sink(&mut self) {
        kill(self.sink.take().expect("sink running"), "ingest-sink", &self.sink_log());
    }

    /// Panics with the log's tail if a service has exited by itself.
    pub fn assert_running(&mut self) {
        let (source_log, sink_log) = (self.source_log(), self.sink_log());
        for (child, what, log) in [(&mut self.source, "cdc-source", source_log), (&mut self.sink, "ingest-sink", sink_log)] {
            if let Some(Ok(Some(status))) = child.as_mut().map(Child::try_wait) {
                panic!("{what} exited by itself ({status}); log tail:\n{}", tail(&log_of(&log), 40));
            }
        }
    }

    /// Process ids of the running source and sink (for the benchmark).
    #[allow(dead_code)]
    pub fn pids(&self) -> (Option<u32>, Option<u32>) {
        (self.source.as_ref().map(Child::id), self.sink.as_ref().map(Child::id))
    }

    pub fn stop(&mut self) {
        if let Some(sink) = self.sink.take() {
            terminate(sink, "ingest-sink", Duration::from_secs(60));
        }
        if let Some(source) = self.source.take() {
            terminate(source, "cdc-source", Duration::from_secs(60));
        }
    }

    /// The workload's and verify's connections to the captured server (MySQL).
    pub fn mysql(stack: &Stack) -> MysqlConnector {
        stack.mysql.connector()
    }

    /// `verify` of `table` (captured from `server`) against its ClickHouse
    /// table, re-compared for up to 90 s until equal.
    pub async fn verify_table(&self, stack: &Stack, server: &DbServer, table: &str) -> producer_sim::verify::Report {
        let args = producer_sim::verify::VerifyArgs {
            database: self.database.clone(),
            topic_prefix: self.database.clone(),
            tables: vec![table.to_string()],
            clickstream_table: None,
            clickstream_events: None,
            timeout: 90,
            examples: 5,
        };
        producer_sim::verify::run(&args, &server.connector(), &Self::clickhouse(stack)).await.unwrap()
    }

    pub fn clickhouse(stack: &Stack) -> clickhouse::Client {
        ClickHouseConfig {
            url: stack.clickhouse_url.clone(),
            ..Default::default()
        }
        .client()
        .unwrap()
    }

    /// Waits until the source's log contains `needle`.
    pub fn wait_for_source_log(&mut self, needle: &str, timeout: Duration) {
        self.wait_for_source_log_count(needle, 1, timeout);
    }

    /// Waits until the source's log (all its runs) contains `needle` `count` times.
    pub fn wait_for_source_log_count(&mut self, needle: &str, count: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while log_of(&self.source_log()).matches(needle).count() < count {
            self.assert_running();
            assert!(Instant::now() < deadline, "cdc-source did not log {needle:?} within {timeout:?}:\n{}", tail(&log_of(&self.source_log()), 40));
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        // A failed test must not leave services behind (only ours, by PID).
        for child in [self.sink.take(), self.source.take()].into_iter().flatten() {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The workspace binary `name`, next to this test's own binary (built by
/// `cargo test --workspace`; built here if missing).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>/deps/<test>");
    let path = dir.join(name);
    if !path.exists() {
        let mut build = Command::new(env!("CARGO"));
        build.args(["build", "--bin", name]).current_dir(repo_root());
        if !cfg!(debug_assertions) {
            build.arg("--release");
        }
        let status = build.status().unwrap();
        assert!(status.success(), "building {name} failed");
    }
    path
}

fn spawn(binary_name: &str, config: &std::path::Path, log_name: &str) -> Child {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log_path(log_name)).unwrap();
    Command::new(binary(binary_name))
        .args(["--config", config.to_str().unwrap(), "run"])
        .env("RUST_LOG", "info,librdkafka=warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

