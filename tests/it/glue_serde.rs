//! The Glue serde against the real registry endpoint: frames are standard
//! (an independent Avro implementation reads them), every kind of bad input
//! is its own error, and schema evolution follows the compatibility rule.

use integration_tests::{Stack, TEST_REGISTRY, repo_root, unique_name};
use producer_sim::clickstream::model::{CLICK_EVENT_SCHEMA, ClickEvent, User};
use rand::SeedableRng;
use shared::glue::{
    CompatibilityMode, Compression, DecodeError, FrameError, GlueAvroDecoder, GlueAvroEncoder, GlueRegistry,
    GlueSchemaCache, RegisteredSchema, RegistrationOptions, RegistryError,
};
use std::process::Command;
use std::sync::Arc;

async fn registry(stack: &Stack) -> GlueRegistry {
    let registry = GlueRegistry::connect(&stack.glue_config(TEST_REGISTRY)).await;
    registry.ensure_registry().await.unwrap();
    registry
}

/// A fresh registry with the clickstream schema, and the third event of a
/// simulated session (a catalog page, so `product_type` is set).
async fn click_schema_and_event(stack: &Stack) -> (GlueRegistry, Arc<RegisteredSchema>, ClickEvent) {
    let registry = registry(stack).await;
    let registered = registry
        .register(&unique_name("clicks"), CLICK_EVENT_SCHEMA, &RegistrationOptions::default())
        .await
        .unwrap();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(5);
    let mut user = User::new(42, &mut rng);
    user.next_event(1, 1_700_000_000_000, &mut rng); // login
    user.next_event(2, 1_700_000_000_500, &mut rng); // home page
    let event = user.next_event(3, 1_700_000_001_000, &mut rng);
    (registry, Arc::new(registered), event)
}

fn decoder(registry: &GlueRegistry) -> GlueAvroDecoder {
    GlueAvroDecoder::new(Arc::new(GlueSchemaCache::new(registry.clone())))
}

#[tokio::test]
async fn an_independent_avro_implementation_reads_our_frames() {
    let stack = Stack::get();
    let (_registry, registered, event) = click_schema_and_event(stack).await;
    let mut frame = Vec::new();
    GlueAvroEncoder::new(&registered, Compression::None).unwrap().encode(&event, &mut frame).unwrap();

    let dir = std::env::temp_dir().join(unique_name("fastavro"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("frame.bin"), &frame).unwrap();
    std::fs::write(dir.join("schema.json"), CLICK_EVENT_SCHEMA).unwrap();
    let out = Command::new(&stack.python)
        .arg(repo_root().join("tests/it/reference/fastavro_decode.py"))
        .arg(dir.join("frame.bin"))
        .arg(dir.join("schema.json"))
        .output()
        .unwrap();
    assert!(out.status.success(), "fastavro: {}", String::from_utf8_lossy(&out.stderr));
    let decoded: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(decoded["schema_version_id"], registered.version_id.to_string());
    assert_eq!(decoded["record"], serde_json::to_value(&event).unwrap());
    assert!(decoded["record"]["product_type"].is_string());
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn each_kind_of_bad_input_is_a_distinct_error() {
    let stack = Stack::get();
    let (registry, registered, event) = click_schema_and_event(stack).await;
    let mut good = Vec::new();
    GlueAvroEncoder::new(&registered, Compression::Zlib).unwrap().encode(&event, &mut good).unwrap();
    let decoder = decoder(&registry);
    assert_eq!(decoder.decode(&good).await.unwrap().schema.version_id, registered.version_id);

    let mut bad_header = good.clone();
    bad_header[0] = 0; // a Confluent-framed record, say
    assert!(matches!(decoder.decode(&bad_header).await, Err(DecodeError::Frame(FrameError::UnknownHeaderVersion(0)))));

    assert!(matches!(decoder.decode(&good[..9]).await, Err(DecodeError::Frame(FrameError::Truncated { len: 9 }))));

    let mut bad_compression = good.clone();
    bad_compression[1] = 7;
    assert!(matches!(decoder.decode(&bad_compression).await, Err(DecodeError::Frame(FrameError::UnknownCompression(7)))));

    let unknown = uuid::Uuid::new_v4();
    let mut unknown_id = good.clone();
    unknown_id[2..18].copy_from_slice(unknown.as_bytes());
    match decoder.decode(&unknown_id).await {
        Err(err @ DecodeError::UnknownSchemaVersion(id)) => {
            assert_eq!(id, unknown);
            assert!(!err.is_transient(), "an unknown id will not appear by retrying");
        }
        other => panic!("expected UnknownSchemaVersion, got {other:?}"),
    }

    let mut plain = Vec::new();
    GlueAvroEncoder::new(&registered, Compression::None).unwrap().encode(&event, &mut plain).unwrap();
    for cut in [plain.len() - 1, 19] {
        match decoder.decode(&plain[..cut]).await {
            Err(DecodeError::Undecodable { version_id, .. }) => assert_eq!(version_id, registered.version_id),
            other => panic!("truncated datum ({cut} bytes): expected Undecodable, got {other:?}"),
        }
    }
    let mut garbage = plain[..18].to_vec();
    garbage.extend_from_slice(&[0xFF; 12]);
    assert!(matches!(decoder.decode(&garbage).await, Err(DecodeError::Undecodable { .. })));
}

const V1: &str = r#"{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"total","type":"double"}]}"#;
const V2_INCOMPATIBLE: &str = r#"{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"total","type":"double"},{"name":"currency","type":"string"}]}"#;
const V2_COMPATIBLE: &str = r#"{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"total","type":"double"},{"name":"currency","type":["null","string"],"default":null}]}"#;

#[tokio::test]
async fn schema_evolution_follows_the_compatibility_rule() {
    use apache_avro::types::Value;
    let stack = Stack::get();
    let registry = registry(stack).await;
    let name = unique_name("orders");
    let options = RegistrationOptions {
        auto_register: true,
        compatibility: CompatibilityMode::Backward,
    };
    let v1 = registry.register(&name, V1, &options).await.unwrap();
    let old_record = Value::Record(vec![("id".into(), Value::Long(7)), ("total".into(), Value::Double(9.5))]);
    let mut old_frame = Vec::new();
    GlueAvroEncoder::new(&v1, Compression::None).unwrap().encode_value(&old_record, &mut old_frame).unwrap();

    let refused = registry.register(&name, V2_INCOMPATIBLE, &options).await.unwrap_err();
    let message = refused.to_string();
    assert!(matches!(refused, RegistryError::Incompatible { .. }), "{message}");
    for needle in [name.as_str(), registry.registry_name(), "BACKWARD", "version 1", "currency"] {
        assert!(message.contains(needle), "`{needle}` missing from: {message}");
    }

    let v2 = registry.register(&name, V2_COMPATIBLE, &options).await.unwrap();
    assert_ne!(v2.version_id, v1.version_id);
    let again = registry.register(&name, V2_COMPATIBLE, &options).await.unwrap();
    assert_eq!(again.version_id, v2.version_id, "a known definition is not registered twice");
    let schema = stack
        .glue_client()
        .await
        .get_schema()
        .schema_id(aws_sdk_glue::types::SchemaId::builder().registry_name(registry.registry_name()).schema_name(&name).build())
        .send()
        .await
        .unwrap();
    assert_eq!(schema.latest_schema_version(), Some(2));

    // Old data still decodes: by its own version id, and read with the new schema.
    let decoded = decoder(&registry).decode(&old_frame).await.unwrap();
    assert_eq!(decoded.schema.version_id, v1.version_id);
    assert_eq!(decoded.value, old_record);
    let reader = apache_avro::reader::datum::GenericDatumReader::builder(&v1.schema)
        .reader_schema(&v2.schema)
        .build()
        .unwrap();
    let resolved = reader.read_value(&mut &old_frame[18..]).unwrap();
    assert_eq!(
        resolved,
        Value::Record(vec![
            ("id".into(), Value::Long(7)),
            ("total".into(), Value::Double(9.5)),
            ("currency".into(), Value::Union(0, Box::new(Value::Null))),
        ])
    );

    let no_auto = RegistrationOptions {
        auto_register: false,
        ..options
    };
    let unregistered = registry.register(&name, V2_INCOMPATIBLE.replace("currency", "channel").as_str(), &no_auto).await;
    assert!(matches!(unregistered, Err(RegistryError::NotRegistered { .. })), "{unregistered:?}");
}
