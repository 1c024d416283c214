//! Kafka client configuration shared by every service: typed `[kafka]`
//! settings (TLS, SASL/SCRAM, MSK IAM, compression, idempotence) turned into
//! librdkafka properties in one place ([`config`]), and the client context
//! that supplies MSK IAM tokens and routes logs ([`context`], [`msk_iam`]).

pub mod config;
pub mod context;
pub mod msk_iam;
pub mod topics;

pub use config::{ClientRole, KafkaCompression, KafkaConfig, SaslConfig, SaslMechanism, SecurityProtocol, TlsConfig};
pub use context::{DeliveryListener, KafkaContext};
pub use msk_iam::{MskIamError, MskIamTokenSource};
pub use topics::{DEFAULT_MAX_MESSAGE_BYTES, TopicError, TopicOutcome, broker_max_message_bytes, change_table, default_table, ensure_topic, ensure_topic_with, table_topic, topic_part};
