//! Topic creation, and the ClickHouse table a topic goes to by default. Some
//! brokers (and many production clusters) do not auto-create topics, so
//! services create the ones they write, explicitly.

use super::config::{ClientRole, KafkaConfig};
use super::context::KafkaContext;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::types::RDKafkaErrorCode;
use std::time::Duration;

/// The table `ingest-sink` writes `topic` to unless `[apply] tables` says
/// otherwise (and where `producer-sim verify` looks): `.` and `-` become `_`,
/// so `cdc.shop.orders` → `cdc_shop_orders`.
pub fn default_table(topic: &str) -> String {
    topic.replace(['.', '-'], "_")
}

/// A database or table name as part of a topic name, as Debezium's topic
/// naming makes it: every character a Kafka topic cannot hold (anything but
/// ASCII letters, digits, `.`, `_` and `-`) becomes `_`.
pub fn topic_part(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect()
}

/// The topic of a captured table: `<prefix>.<database>.<table>` (see [`topic_part`]).
pub fn table_topic(prefix: &str, database: &str, table: &str) -> String {
    format!("{prefix}.{}.{}", topic_part(database), topic_part(table))
}

/// The table `ingest-sink` writes the change events of source table
/// `database.table`, consumed from `topic`, to by default:
/// `<prefix>_<database>_<table>`, the prefix made like [`default_table`] and
/// the source names kept exactly (`cdc.shop.my table` → `cdc_shop_my table`).
/// A topic not named like [`table_topic`] (routed elsewhere) gives [`default_table`].
pub fn change_table(topic: &str, database: &str, table: &str) -> String {
    let suffix = format!(".{}.{}", topic_part(database), topic_part(table));
    match topic.strip_suffix(&suffix) {
        Some(prefix) if !prefix.is_empty() => format!("{}_{database}_{table}", default_table(prefix)),
        _ => default_table(topic),
    }
}

#[cfg(test)]
mod naming_tests {
    use super::*;

    #[test]
    fn tables_keep_exact_names_and_topics_only_valid_characters() {
        assert_eq!(table_topic("cdc", "shop", "orders"), "cdc.shop.orders");
        assert_eq!(change_table("cdc.shop.orders", "shop", "orders"), "cdc_shop_orders");
        assert_eq!(table_topic("cdc", "shop", "ünïcode tablé"), "cdc.shop._n_code_tabl_");
        assert_eq!(change_table("cdc.shop._n_code_tabl_", "shop", "ünïcode tablé"), "cdc_shop_ünïcode tablé");
        assert_eq!(table_topic("my-cdc.v1", "a.b", "we`ird"), "my-cdc.v1.a.b.we_ird");
        assert_eq!(change_table("my-cdc.v1.a.b.we_ird", "a.b", "we`ird"), "my_cdc_v1_a.b_we`ird");
        assert_eq!(change_table("routed.elsewhere", "shop", "orders"), "routed_elsewhere");
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicOutcome {
    Created,
    AlreadyExisted,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot create topic `{topic}`: {reason}")]
pub struct TopicError {
    pub topic: String,
    pub reason: String,
}

/// Creates `topic` with `partitions` partitions unless it exists (its
/// partition count is then left as it is).
pub async fn ensure_topic(
    config: &KafkaConfig,
    context: KafkaContext,
    topic: &str,
    partitions: i32,
    replication: i32,
) -> Result<TopicOutcome, TopicError> {
    ensure_topic_with(config, context, topic, partitions, replication, &[]).await
}

/// Kafka's default `message.max.bytes`: the largest record batch a broker takes.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1_048_588;

/// The broker's `message.max.bytes` (broker `broker_id`), or `None` when it
/// does not say (no DescribeConfigs permission, a broker without the API).
pub async fn broker_max_message_bytes(config: &KafkaConfig, context: KafkaContext, broker_id: i32) -> Option<usize> {
    use rdkafka::admin::ResourceSpecifier;
    let admin: AdminClient<KafkaContext> = config.client_config(ClientRole::Admin).ok()?.create_with_context(context).ok()?;
    let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(10)));
    let results = admin.describe_configs(&[ResourceSpecifier::Broker(broker_id)], &options).await.ok()?;
    let resource = results.into_iter().next()?.ok()?;
    resource.get("message.max.bytes")?.value.as_deref()?.parse().ok()
}

/// [`ensure_topic`] with topic-level settings for a topic it creates (e.g. `cleanup.policy = compact`).
pub async fn ensure_topic_with(
    config: &KafkaConfig,
    context: KafkaContext,
    topic: &str,
    partitions: i32,
    replication: i32,
    settings: &[(&str, &str)],
) -> Result<TopicOutcome, TopicError> {
    let error = |reason: String| TopicError {
        topic: topic.to_string(),
        reason,
    };
    let admin: AdminClient<KafkaContext> = config
        .client_config(ClientRole::Admin)
        .map_err(|e| error(e.to_string()))?
        .create_with_context(context)
        .map_err(|e| error(e.to_string()))?;
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let mut new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(replication));
    for (key, value) in settings {
        new_topic = new_topic.set(key, value);
    }
    let results = admin
        .create_topics(&[new_topic], &options)
        .await
        .map_err(|e| error(e.to_string()))?;
    match results.into_iter().next() {
        Some(Ok(_)) => Ok(TopicOutcome::Created),
        Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) => Ok(TopicOutcome::AlreadyExisted),
        Some(Err((_, code))) => Err(error(code.to_string())),
        None => Err(error("the broker returned no result".into())),
    }
}
