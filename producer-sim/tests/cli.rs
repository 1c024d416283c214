//! The binary refuses an invalid configuration at start with exit code 2 and a
//! message naming the key, and runs with none at all (every section is optional).

use std::process::Command;

fn check_config(sets: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_producer-sim"));
    for set in sets {
        cmd.args(["--set", set]);
    }
    cmd.arg("check-config").env_remove("PRODUCER_SIM_CONFIG").output().unwrap()
}

#[test]
fn misspelled_section_key_is_named() {
    let out = check_config(&["mysql.usr=root"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("`mysql.usr`"), "{stderr}");
}

#[test]
fn bad_glue_endpoint_is_named() {
    let out = check_config(&["glue.endpoint_url=localhost:5000"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("`glue.endpoint_url`"), "{stderr}");
}

#[test]
fn empty_configuration_is_valid() {
    let out = check_config(&[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn example_configs_are_valid() {
    // The local stack's example and the docker compose demo's.
    for path in [
        concat!(env!("CARGO_MANIFEST_DIR"), "/../config/producer-sim.local.toml"),
        concat!(env!("CARGO_MANIFEST_DIR"), "/../compose/config/producer-sim.toml"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_producer-sim"))
            .args(["--config", path, "check-config"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{path}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn clickstream_help_documents_every_option() {
    let out = Command::new(env!("CARGO_BIN_EXE_producer-sim"))
        .args(["clickstream", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for option in [
        "--topic", "--partitions", "--threads", "--users", "--events", "--duration", "--no-delay", "--think-time-ms",
        "--session-gap-ms", "--rate", "--seed", "--format", "--json-with-schema", "--registry", "--schema-name",
        "--no-auto-register", "--compatibility", "--frame-compression", "--globalseq-file", "--dry-run",
        "--bootstrap-servers", "--security-protocol", "--tls-ca", "--tls-cert", "--tls-key", "--sasl-mechanism",
        "--sasl-username", "--sasl-password", "--msk-iam-region", "--kafka-properties",
    ] {
        assert!(help.contains(option), "{option} not documented:\n{help}");
    }
}

#[test]
fn clickstream_without_a_cluster_names_the_key() {
    let out = Command::new(env!("CARGO_BIN_EXE_producer-sim"))
        .args(["clickstream", "--events", "1"])
        .env_remove("PRODUCER_SIM_CONFIG")
        .env_remove("PRODUCER_SIM_KAFKA__BOOTSTRAP_SERVERS")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("`kafka.bootstrap_servers`"), "{stderr}");
}
