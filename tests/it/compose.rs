//! The docker compose demo cannot run on these machines (no Docker), so its
//! wiring is checked here: the YAML parses, every service a `depends_on`
//! names exists, every file it mounts or configures is in the repository,
//! and every pipeline service runs one of our binaries with a config file
//! that exists (the config files themselves are checked by each binary's
//! `check-config` in its CLI tests).

use integration_tests::{Stack, repo_root};
use std::process::Command;

const CHECK: &str = r#"
import os, sys, yaml
compose_dir = sys.argv[1]
doc = yaml.safe_load(open(os.path.join(compose_dir, "docker-compose.yml")))
services = doc["services"]
problems = []
binaries = {"cdc-source", "ingest-sink", "producer-sim"}
for name, svc in services.items():
    for dep in (svc.get("depends_on") or {}):
        if dep not in services:
            problems.append(f"{name}: depends on unknown service {dep}")
    for volume in svc.get("volumes") or []:
        src = volume.split(":")[0]
        if src.startswith("."):
            if not os.path.exists(os.path.join(compose_dir, src)):
                problems.append(f"{name}: mounts missing file {src}")
        elif src not in (doc.get("volumes") or {}):
            problems.append(f"{name}: unknown named volume {src}")
    if svc.get("image") == "cdc-pipeline:local":
        command = svc["command"]
        text = " ".join(command)
        if not any(text.startswith(b) or f" {b} " in f" {text} " for b in binaries):
            problems.append(f"{name}: runs none of our binaries: {text}")
        for word in text.split():
            if word.startswith("/etc/cdc/"):
                config = os.path.join(compose_dir, "config", word[len("/etc/cdc/"):])
                if not os.path.exists(config):
                    problems.append(f"{name}: config {word} not in compose/config/")
        build = svc.get("build") or {}
        if not os.path.exists(os.path.join(compose_dir, build.get("context", "."), build.get("dockerfile", "Dockerfile"))):
            problems.append(f"{name}: Dockerfile missing")
for needed in ["mysql", "kafka", "clickhouse", "redis", "moto", "cdc-source", "ingest-sink", "verify"]:
    if needed not in services:
        problems.append(f"service {needed} missing")
print("\n".join(problems) if problems else "ok")
sys.exit(1 if problems else 0)
"#;

#[test]
fn compose_demo_is_wired_to_files_that_exist() {
    let stack = Stack::get();
    let compose = repo_root().join("compose");
    let out = Command::new(&stack.python).args(["-c", CHECK, compose.to_str().unwrap()]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "compose/docker-compose.yml: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.trim(), "ok");
    let dockerfile = std::fs::read_to_string(repo_root().join("Dockerfile")).unwrap();
    assert!(dockerfile.contains("USER cdc"), "the image runs as a non-root user");
    assert!(dockerfile.matches("FROM ").count() >= 2, "multi-stage build");
}
