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
