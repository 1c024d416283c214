//! The binary refuses an invalid configuration at start with exit code 2 and a
//! message naming the key, and accepts a valid one.

use std::process::{Command, Output};

const VALID: &str = r#"
[kafka]
bootstrap_servers = "127.0.0.1:9092"

[clickhouse]
url = "http://127.0.0.1:8123"
password = "ch-secret"

[state]
store = "redis"
redis = { url = "redis://127.0.0.1:6379" }

[consumer]
topics = ["clickstream"]
"#;

fn check_config(config: &str, sets: &[&str]) -> Output {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("ingest-sink-cli-{}-{n}.toml", std::process::id()));
    std::fs::write(&path, config).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ingest-sink"));
    cmd.arg("--config").arg(&path);
    for set in sets {
        cmd.args(["--set", set]);
    }
    let out = cmd.arg("check-config").output().unwrap();
    let _ = std::fs::remove_file(path);
    out
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn redis_store_without_redis_url_is_refused() {
    let out = check_config(&VALID.replace("redis = { url = \"redis://127.0.0.1:6379\" }", ""), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("`state.redis.url`"), "{}", stderr(&out));
}

#[test]
fn unknown_store_and_bad_batch_size_are_named() {
    let out = check_config(VALID, &["state.store=etcd"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("`state.store`"), "{}", stderr(&out));
    let out = check_config(VALID, &["consumer.batch_max_rows=0", "state.store=memory"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("`consumer.batch_max_rows`"), "{}", stderr(&out));
}

#[test]
fn valid_config_passes() {
    let out = check_config(VALID, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("store = \"redis\"") && !stdout.contains("ch-secret"), "{stdout}");
}

#[test]
fn example_configs_are_valid() {
    // The local stack's example and the docker compose demo's.
    for path in [
        concat!(env!("CARGO_MANIFEST_DIR"), "/../config/ingest-sink.local.toml"),
        concat!(env!("CARGO_MANIFEST_DIR"), "/../compose/config/ingest-sink.toml"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_ingest-sink"))
            .args(["--config", path, "check-config"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{path}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn check_config_prints_no_secret() {
    let config = VALID
        .replace("redis://127.0.0.1:6379", "redis://app:redis-secret@127.0.0.1:6379/0")
        .replace(
            "bootstrap_servers = \"127.0.0.1:9092\"",
            "bootstrap_servers = \"127.0.0.1:9092\"\nproperties = { \"sasl.password\" = \"kafka-secret\", \"ssl.key.password\" = \"key-secret\", \"linger.ms\" = \"5\" }",
        );
    let out = check_config(&config, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = String::from_utf8_lossy(&out.stdout);
    for secret in ["redis-secret", "kafka-secret", "key-secret", "ch-secret"] {
        assert!(!printed.contains(secret), "{secret} printed:\n{printed}");
    }
    assert!(printed.contains("redis://app:***@127.0.0.1:6379/0") && printed.contains("linger.ms"), "{printed}");
}

/// A file in the test's temporary directory, holding `text`.
fn temp_file(name: &str, text: &str) -> String {
    let path = std::env::temp_dir().join(format!("ingest-sink-cli-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn assert_refused(out: &Output, key: &str, hint: &str) {
    assert_eq!(out.status.code(), Some(2), "{}", stderr(out));
    assert!(stderr(out).contains(&format!("`{key}`")) && stderr(out).contains(hint), "{key} / {hint} not in: {}", stderr(out));
}

/// TLS settings the sink could not honour stop it at start, naming the key:
/// files for a plain-text url, half a client certificate, a file that is not
/// PEM, a password given twice.
#[test]
fn tls_settings_that_cannot_work_are_refused_at_start() {
    let not_pem = temp_file("not.pem", "this is not a certificate\n");
    let https = VALID.replace("http://127.0.0.1:8123", "https://127.0.0.1:8443");
    let rediss = VALID.replace("redis://127.0.0.1:6379", "rediss://127.0.0.1:6380");

    let out = check_config(VALID, &[&format!("clickhouse.tls.ca_file={not_pem}")]);
    assert_refused(&out, "clickhouse.tls.ca_file", "https://");
    let out = check_config(&https, &[&format!("clickhouse.tls.ca_file={not_pem}")]);
    assert_refused(&out, "clickhouse.tls.ca_file", "certificate");
    let out = check_config(&https, &[&format!("clickhouse.tls.cert_file={not_pem}")]);
    assert_refused(&out, "clickhouse.tls.key_file", "set both");
    let out = check_config(&https, &["clickhouse.tls.ca_file=/nonexistent/ca.pem"]);
    assert_refused(&out, "clickhouse.tls.ca_file", "not a readable file");

    let out = check_config(VALID, &[&format!("state.redis.tls.ca_file={not_pem}")]);
    assert_refused(&out, "state.redis.tls.ca_file", "rediss://");
    let out = check_config(&rediss, &[&format!("state.redis.tls.ca_file={not_pem}")]);
    assert_refused(&out, "state.redis.tls.ca_file", "certificate");
    let twice = rediss.replace("rediss://127.0.0.1:6380", "rediss://app:pw@127.0.0.1:6380");
    let out = check_config(&twice, &["state.redis.password=other"]);
    assert_refused(&out, "state.redis.password", "keep one");
    let out = check_config(&rediss, &["state.redis.username=sink"]);
    assert_refused(&out, "state.redis.username", "needs password");
}

/// A `rediss://` Redis with an ACL user and its password in a key of its own
/// passes, and the password is never printed.
#[test]
fn redis_password_key_is_accepted_and_never_printed() {
    let rediss = VALID.replace("redis = { url = \"redis://127.0.0.1:6379\" }", "redis = { url = \"rediss://127.0.0.1:6380\", username = \"sink\", password = \"redis-key-secret\" }");
    let out = check_config(&rediss, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(!printed.contains("redis-key-secret") && printed.contains("password = \"***\""), "{printed}");
}
