//! The Glue-compatible registry answers `aws-sdk-glue`: a registry and an Avro
//! schema are created, and the version is read back by id and by definition.

use aws_sdk_glue::types::{Compatibility, DataFormat, RegistryId, SchemaId};
use integration_tests::{Stack, unique_name};

const DEFINITION: &str = r#"{"type":"record","name":"Click","namespace":"smoke","fields":[{"name":"userid","type":"long"},{"name":"page","type":"string"}]}"#;

#[tokio::test]
async fn registry_schema_and_version_round_trip() {
    let stack = Stack::get();
    let glue = stack.glue_client().await;

    let registry = unique_name("smoke-registry");
    glue.create_registry().registry_name(&registry).send().await.unwrap();

    let schema_name = unique_name("smoke-click");
    let created = glue
        .create_schema()
        .registry_id(RegistryId::builder().registry_name(&registry).build())
        .schema_name(&schema_name)
        .data_format(DataFormat::Avro)
        .compatibility(Compatibility::Backward)
        .schema_definition(DEFINITION)
        .send()
        .await
        .unwrap();
    let version_id = created.schema_version_id().expect("CreateSchema returns the first version's id").to_string();
    assert_eq!(created.data_format(), Some(&DataFormat::Avro));
    assert_eq!(version_id.len(), 36, "a UUID: {version_id}");

    let by_id = glue.get_schema_version().schema_version_id(&version_id).send().await.unwrap();
    assert_eq!(by_id.schema_definition(), Some(DEFINITION));
    assert_eq!(by_id.version_number(), Some(1));

    let by_definition = glue
        .get_schema_by_definition()
        .schema_id(SchemaId::builder().registry_name(&registry).schema_name(&schema_name).build())
        .schema_definition(DEFINITION)
        .send()
        .await
        .unwrap();
    assert_eq!(by_definition.schema_version_id(), Some(version_id.as_str()));

    // Registries are capped at 10 per account: leave none behind.
    glue.delete_registry().registry_id(RegistryId::builder().registry_name(&registry).build()).send().await.unwrap();
}
