//! The binary refuses an invalid configuration at start with exit code 2 and a
//! message naming the key, from each layer (file, environment, flag), and
//! prints a valid one with its secrets redacted.

use std::process::{Command, Output};

const VALID: &str = r#"
[mysql]
host = "127.0.0.1"
port = 3306
user = "cdc"
password = "s3cret-pw"

[kafka]
bootstrap_servers = "127.0.0.1:9092"

[capture]
topic_prefix = "shop"
server_id = 5401
"#;

fn run(config: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("cdc-source-cli-{}-{n}.toml", std::process::id()));
    std::fs::write(&path, config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cdc-source"))
        .arg("--config")
        .arg(&path)
        .args(args)
        .arg("check-config")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let _ = std::fs::remove_file(path);
    out
}

fn assert_refused(out: &Output, key: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains(&format!("`{key}`")), "key {key} not named in: {stderr}");
}

#[test]
fn unknown_key_in_file_is_named() {
    let out = run(&VALID.replace("topic_prefix", "topic_prefx"), &[], &[]);
    assert_refused(&out, "capture.topic_prefx");
}

#[test]
fn invalid_value_from_flag_is_named() {
    assert_refused(&run(VALID, &["--set", "capture.server_id=0"], &[]), "capture.server_id");
}

#[test]
fn invalid_value_from_environment_is_named() {
    let out = run(VALID, &["--set", "mysql.port=3307"], &[("CDC_SOURCE_KAFKA__BOOTSTRAP_SERVERS", "no-port")]);
    assert_refused(&out, "kafka.bootstrap_servers");
}

#[test]
fn valid_config_is_printed_without_secrets() {
    let out = run(VALID, &[], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("topic_prefix = \"shop\""), "{stdout}");
    assert!(stdout.contains("password = \"***\""), "{stdout}");
    assert!(!stdout.contains("s3cret-pw"), "{stdout}");
}

#[test]
fn example_configs_are_valid() {
    // The local stack's example and the docker compose demo's.
    for path in [
        concat!(env!("CARGO_MANIFEST_DIR"), "/../config/cdc-source.local.toml"),
        concat!(env!("CARGO_MANIFEST_DIR"), "/../compose/config/cdc-source.toml"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_cdc-source"))
            .args(["--config", path, "check-config"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{path}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn filters_and_partitions_are_checked() {
    assert_refused(&run(VALID, &["--set", "capture.include_tables=[\"orders\"]"], &[]), "capture.include_tables");
    assert_refused(&run(VALID, &["--set", "capture.exclude_columns=[\"shop.orders\"]"], &[]), "capture.exclude_columns");
    assert_refused(&run(VALID, &["--set", "capture.topic_partitions=0"], &[]), "capture.topic_partitions");
    assert_refused(&run(VALID, &["--set", "snapshot.chunk_rows=0"], &[]), "snapshot.chunk_rows");
    assert_refused(&run(VALID, &["--set", "snapshot.mode=\"sometimes\""], &[]), "snapshot.mode");
}
