//! The local stack as integration tests see it.
//!
//! [`Stack::get`] makes sure `scripts/stack up` has run (it is idempotent: it
//! starts only what is not already healthy) and returns the endpoints it
//! printed. Tests must isolate themselves by name ([`unique_name`]), never by
//! restarting shared services.

pub mod measure;
pub mod outage;

use anyhow::{Context, Result, bail};
use shared::config::{GlueConfig, MysqlConfig, MysqlTls, MysqlTlsMode};
use shared::mysql::MysqlConnector;
use shared::kafka::KafkaConfig;
use shared::secret::Secret;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The Glue registry the tests share. Glue (and moto) cap registries per
/// account at 10, so tests isolate themselves by schema name, not registry.
pub const TEST_REGISTRY: &str = "integration-tests";

/// The two source flavours every source capability is tested on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Oracle's MySQL server (9.x in the stack; TLS required).
    MySql,
    MariaDb,
}

impl Flavor {
    pub const ALL: [Flavor; 2] = [Flavor::MySql, Flavor::MariaDb];

    pub fn name(self) -> &'static str {
        match self {
            Flavor::MySql => "mysql",
            Flavor::MariaDb => "mariadb",
        }
    }
}

/// One database server of the stack.
#[derive(Debug, Clone)]
pub struct DbServer {
    pub flavor: Flavor,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    /// The CA of the server's own certificates (MySQL generates them), for `verify_ca`.
    pub ca_file: Option<PathBuf>,
}

impl DbServer {
    /// The `[mysql]` configuration the services use for this server: TLS
    /// verified against the server's CA where it has one.
    pub fn config(&self) -> MysqlConfig {
        MysqlConfig {
            host: self.host.clone(),
            port: self.port,
            user: self.user.clone(),
            password: Secret::new(&self.password),
            tls: MysqlTls {
                mode: if self.ca_file.is_some() { MysqlTlsMode::VerifyCa } else { MysqlTlsMode::Preferred },
                ca_file: self.ca_file.clone(),
                ..MysqlTls::default()
            },
        }
    }

    /// The same as TOML lines of a `[mysql]` section (after the header).
    pub fn toml(&self) -> String {
        let mut text = format!(
            "host = \"{}\"\nport = {}\nuser = \"{}\"\npassword = \"{}\"\n",
            self.host, self.port, self.user, self.password
        );
        if let Some(ca) = &self.ca_file {
            text.push_str(&format!("tls = {{ mode = \"verify_ca\", ca_file = \"{}\" }}\n", ca.display()));
        }
        text
    }

    pub fn connector(&self) -> MysqlConnector {
        MysqlConnector::new(&self.config()).expect("the stack's MySQL settings are valid")
    }

    /// A new connection (panics with the reason if there is none).
    pub async fn conn(&self) -> mysql_async::Conn {
        self.connector().connect().await.unwrap_or_else(|e| panic!("{e}"))
    }
}

/// Endpoints of the running local stack.
#[derive(Debug, Clone)]
pub struct Stack {
    /// Oracle's MySQL: the primary source.
    pub mysql: DbServer,
    pub mariadb: DbServer,
    pub kafka_bootstrap: String,
    pub redis_url: String,
    /// Redis's TLS listener (`rediss://`), for [`Stack::redis_tls_toml`].
    pub redis_tls_url: String,
    pub redis_tls_user: String,
    pub redis_tls_password: String,
    pub glue_endpoint: String,
    pub clickhouse_url: String,
    /// The ClickHouse front end's HTTPS listener.
    pub clickhouse_https_url: String,
    /// The stack's CA (it signed the Redis and ClickHouse server certificates) and a client certificate it signed.
    pub tls_ca: PathBuf,
    pub tls_client_cert: PathBuf,
    pub tls_client_key: PathBuf,
    /// The stack's Python (with fastavro), for cross-checks with independent implementations.
    pub python: PathBuf,
    pub aws_region: String,
}

impl Stack {
    /// The running stack, brought up on first use. Panics with the stack
    /// script's own message when a service cannot be started.
    pub fn get() -> &'static Stack {
        static STACK: OnceLock<Stack> = OnceLock::new();
        STACK.get_or_init(|| Stack::bring_up().unwrap_or_else(|e| panic!("local stack unavailable: {e:#}")))
    }

    fn bring_up() -> Result<Stack> {
        let script = repo_root().join("scripts/stack");
        let status = Command::new(&script)
            .arg("up")
            .status()
            .with_context(|| format!("running {}", script.display()))?;
        if !status.success() {
            bail!("`scripts/stack up` failed ({status}); its output above names the service");
        }
        let output = Command::new(&script).arg("env").output()?;
        Stack::from_exports(&String::from_utf8(output.stdout)?)
    }

    /// Parses the `export NAME=value` lines of `scripts/stack env`.
    pub fn from_exports(text: &str) -> Result<Stack> {
        let vars: HashMap<&str, String> = text
            .lines()
            .filter_map(|line| line.strip_prefix("export ")?.split_once('='))
            .map(|(k, v)| (k, v.trim_matches('\'').to_string()))
            .collect();
        let var = |name: &str| vars.get(name).cloned().with_context(|| format!("`scripts/stack env` lacks {name}"));
        let server = |flavor: Flavor, prefix: &str| -> Result<DbServer> {
            Ok(DbServer {
                flavor,
                host: var(&format!("{prefix}_HOST"))?,
                port: var(&format!("{prefix}_PORT"))?.parse()?,
                user: var(&format!("{prefix}_USER"))?,
                password: var(&format!("{prefix}_PASSWORD"))?,
                ca_file: vars.get(format!("{prefix}_CA").as_str()).map(PathBuf::from),
            })
        };
        Ok(Stack {
            mysql: server(Flavor::MySql, "STACK_MYSQL")?,
            mariadb: server(Flavor::MariaDb, "STACK_MARIADB")?,
            kafka_bootstrap: var("STACK_KAFKA_BOOTSTRAP")?,
            redis_url: var("STACK_REDIS_URL")?,
            redis_tls_url: var("STACK_REDIS_TLS_URL")?,
            redis_tls_user: var("STACK_REDIS_TLS_USER")?,
            redis_tls_password: var("STACK_REDIS_TLS_PASSWORD")?,
            glue_endpoint: var("STACK_GLUE_ENDPOINT")?,
            clickhouse_url: var("STACK_CLICKHOUSE_URL")?,
            clickhouse_https_url: var("STACK_CLICKHOUSE_HTTPS_URL")?,
            tls_ca: var("STACK_TLS_CA")?.into(),
            tls_client_cert: var("STACK_TLS_CLIENT_CERT")?.into(),
            tls_client_key: var("STACK_TLS_CLIENT_KEY")?.into(),
            python: var("STACK_PYTHON")?.into(),
            aws_region: var("AWS_REGION")?,
        })
    }

    /// A sink's `[clickhouse]` and `[state]` sections reaching ClickHouse
    /// (HTTPS) and Redis (TLS, an ACL user, a client certificate) encrypted,
    /// as production does; `state_table` names the state keys' KeeperMap table
    /// when `store` is `keepermap`.
    pub fn sink_tls_toml(&self, store: &str, state_table: &str) -> String {
        let state = match store {
            "redis" => format!("store = \"redis\"\nredis = {{ {} }}", self.redis_tls_toml()),
            "keepermap" => format!("store = \"keepermap\"\nkeepermap_table = \"{state_table}\""),
            other => format!("store = \"{other}\""),
        };
        format!(
            "[clickhouse]\nurl = \"{}\"\ntls = {{ ca_file = {:?} }}\n\n[state]\n{state}\n",
            self.clickhouse_https_url, self.tls_ca
        )
    }

    /// Redis over TLS: the ACL user, the stack's CA and client certificate.
    pub fn redis_tls_config(&self) -> shared::config::RedisConfig {
        shared::config::RedisConfig {
            url: self.redis_tls_url.clone(),
            username: Some(self.redis_tls_user.clone()),
            password: Some(Secret::new(self.redis_tls_password.clone())),
            tls: shared::tls::TlsFiles {
                ca_file: Some(self.tls_ca.clone()),
                cert_file: Some(self.tls_client_cert.clone()),
                key_file: Some(self.tls_client_key.clone()),
            },
        }
    }

    /// ClickHouse over HTTPS, trusting the stack's CA.
    pub fn clickhouse_tls_config(&self) -> shared::config::ClickHouseConfig {
        shared::config::ClickHouseConfig {
            url: self.clickhouse_https_url.clone(),
            tls: shared::tls::TlsFiles { ca_file: Some(self.tls_ca.clone()), ..Default::default() },
            ..Default::default()
        }
    }

    /// The inline table of `[state] redis` for the TLS listener.
    pub fn redis_tls_toml(&self) -> String {
        format!(
            "url = \"{}\", username = \"{}\", password = \"{}\", tls = {{ ca_file = {:?}, cert_file = {:?}, key_file = {:?} }}",
            self.redis_tls_url, self.redis_tls_user, self.redis_tls_password, self.tls_ca, self.tls_client_cert, self.tls_client_key
        )
    }

    /// Plaintext Kafka settings for the stack's broker.
    pub fn kafka_config(&self) -> KafkaConfig {
        KafkaConfig::plaintext(&self.kafka_bootstrap)
    }

    /// Glue settings for the stack's registry endpoint, using `registry`.
    pub fn glue_config(&self, registry: &str) -> GlueConfig {
        GlueConfig {
            region: self.aws_region.clone(),
            endpoint_url: Some(self.glue_endpoint.clone()),
            registry_name: registry.to_string(),
            access_key_id: Some("local-stack".into()),
            secret_access_key: Some(Secret::new("local-stack")),
        }
    }

    /// The shared test registry ([`TEST_REGISTRY`]), created if the stack
    /// has none yet (a fresh stack has none: a benchmark may run first).
    pub async fn test_registry(&self) -> shared::glue::GlueRegistry {
        let registry = shared::glue::GlueRegistry::connect(&self.glue_config(TEST_REGISTRY)).await;
        registry.ensure_registry().await.unwrap_or_else(|e| panic!("creating the test registry: {e}"));
        registry
    }

    /// A raw `aws-sdk-glue` client on the stack's registry, for assertions
    /// about what the registry holds.
    pub async fn glue_client(&self) -> aws_sdk_glue::Client {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(self.aws_region.clone()))
            .endpoint_url(&self.glue_endpoint)
            .credentials_provider(aws_sdk_glue::config::Credentials::new(
                "local-stack",
                "local-stack",
                None,
                None,
                "static",
            ))
            .load()
            .await;
        aws_sdk_glue::Client::new(&config)
    }

    /// The server of `flavor`.
    pub fn server(&self, flavor: Flavor) -> &DbServer {
        match flavor {
            Flavor::MySql => &self.mysql,
            Flavor::MariaDb => &self.mariadb,
        }
    }
}

/// Declares each `async fn(Flavor)` case as two tests, `<case>::mysql` and
/// `<case>::mariadb`: every source capability is proven on both servers.
#[macro_export]
macro_rules! on_both_flavors {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mysql() {
                super::$case($crate::Flavor::MySql).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mariadb() {
                super::$case($crate::Flavor::MariaDb).await
            }
        }
    )*};
}

/// Where a test keeps the log (stderr) of a service process it starts.
pub fn log_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("{name}.log"))
}

/// That log's text so far (empty if none).
pub fn log_of(name: &str) -> String {
    std::fs::read_to_string(log_path(name)).unwrap_or_default()
}

/// Stops a service process we started: SIGTERM, then waits up to `within`;
/// panics (after SIGKILL) if it does not stop, or if it had already exited.
pub fn terminate(mut child: std::process::Child, what: &str, within: std::time::Duration) {
    if let Ok(Some(status)) = child.try_wait() {
        panic!("{what} had already exited ({status}) before it was asked to stop");
    }
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let deadline = std::time::Instant::now() + within;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("{what} did not stop within {within:?} of SIGTERM");
}

/// SIGKILL, as a crash: nothing is flushed. Panics, with the tail of the
/// service's log `log_name`, if the process had already exited by itself.
pub fn kill(mut child: std::process::Child, what: &str, log_name: &str) {
    if let Ok(Some(status)) = child.try_wait() {
        panic!("{what} exited by itself ({status}) before it was killed; log tail:\n{}", tail(&log_of(log_name), 40));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The next record `consumer` delivers within `within` (`None`: none came).
/// Errors librdkafka recovers from by itself are skipped: a broker
/// connection dropped and re-opened is reported as `AllBrokersDown` first.
pub async fn next_record<'a, C>(consumer: &'a rdkafka::consumer::StreamConsumer<C>, within: std::time::Duration) -> Option<rdkafka::message::BorrowedMessage<'a>>
where
    C: rdkafka::consumer::ConsumerContext + 'static,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Err(_) => return None,
            Ok(Ok(message)) => return Some(message),
            Ok(Err(e)) => eprintln!("test consumer: {e} (librdkafka retries by itself)"),
        }
    }
}

/// The repository root (this crate lives in `<root>/tests`).
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent")
}

/// A name no other test (or earlier run against the same stack) uses:
/// `<prefix>_<pid>_<counter>_<nanos>`, valid as a SQL identifier and a topic name.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}_{}_{n}_{nanos}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stack_env_output() {
        let text = "export STACK_DIR='/x'\nexport STACK_MYSQL_HOST=127.0.0.1\nexport STACK_MYSQL_PORT=13306\n\
            export STACK_MYSQL_USER=cdc\nexport STACK_MYSQL_PASSWORD=pw\nexport STACK_MYSQL_CA='/ca.pem'\n\
            export STACK_MARIADB_HOST=127.0.0.1\nexport STACK_MARIADB_PORT=13316\n\
            export STACK_MARIADB_USER=cdc\nexport STACK_MARIADB_PASSWORD=pw\nexport STACK_KAFKA_BOOTSTRAP=127.0.0.1:1\n\
            export STACK_REDIS_URL=redis://h:2\nexport STACK_GLUE_ENDPOINT=http://h:3\n\
            export STACK_REDIS_TLS_URL=rediss://h:5\nexport STACK_REDIS_TLS_USER=sink\nexport STACK_REDIS_TLS_PASSWORD=pw\n\
            export STACK_CLICKHOUSE_HTTPS_URL=https://h:6\nexport STACK_TLS_CA='/tls/ca.pem'\n\
            export STACK_TLS_CLIENT_CERT='/tls/client.pem'\nexport STACK_TLS_CLIENT_KEY='/tls/client.key'\n\
            export STACK_CLICKHOUSE_URL=http://h:4\nexport STACK_PYTHON='/v/bin/python'\nexport AWS_REGION=us-east-1\n";
        let stack = Stack::from_exports(text).unwrap();
        assert_eq!(stack.mysql.port, 13306);
        assert_eq!(stack.mariadb.port, 13316);
        assert_eq!(stack.mysql.ca_file, Some(PathBuf::from("/ca.pem")));
        assert_eq!(stack.mariadb.ca_file, None);
        assert_eq!(stack.python, PathBuf::from("/v/bin/python"));
        assert_eq!((stack.redis_tls_url.as_str(), stack.tls_ca.as_path()), ("rediss://h:5", Path::new("/tls/ca.pem")));
        assert_eq!(stack.mysql.config().tls.mode, MysqlTlsMode::VerifyCa);
        assert!(Stack::from_exports("export STACK_MYSQL_HOST=x\n").is_err());
    }

    #[test]
    fn unique_names_differ_and_are_identifiers() {
        let (a, b) = (unique_name("t"), unique_name("t"));
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    }
}
