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
fn local_example_config_is_valid() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/producer-sim.local.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_producer-sim"))
        .args(["--config", path, "check-config"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{path}: {}", String::from_utf8_lossy(&out.stderr));
}
