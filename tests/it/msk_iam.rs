//! MSK IAM tokens: ours, signed with static credentials, are identical —
//! signature included — to what AWS's own Python signer makes for the same
//! credentials at the same instant, and expire 15 minutes out.

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use integration_tests::{Stack, repo_root};
use shared::kafka::MskIamTokenSource;
use std::process::Command;

#[tokio::test]
async fn token_matches_aws_reference_signer() {
    let stack = Stack::get();
    let (key, secret, region) = ("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "eu-west-1");
    let source = MskIamTokenSource::with_credentials(
        region,
        SharedCredentialsProvider::new(Credentials::new(key, secret, None, None, "test")),
    );
    let (token, expiry_ms) = source.token().await.unwrap();
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    assert!((expiry_ms - now_ms - 900_000).abs() < 60_000, "expires in ~15 min: {expiry_ms} vs now {now_ms}");
    assert!(!token.contains(['=', '+', '/']), "base64url without padding");

    // The blocking variant (used from librdkafka's callback) makes the same kind of token.
    let (blocking_token, _) = source.token_blocking().unwrap();
    assert!(!blocking_token.is_empty());

    let out = Command::new(&stack.python)
        .arg(repo_root().join("tests/it/reference/msk_iam_token.py"))
        .args([&token, region, key, secret])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "token differs from AWS's signer:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["endpoint"], "https://kafka.eu-west-1.amazonaws.com/");
    let params: Vec<&str> = report["params"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    for expected in ["Action", "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-Signature", "X-Amz-SignedHeaders"] {
        assert!(params.contains(&expected), "{expected} missing: {params:?}");
    }
}
