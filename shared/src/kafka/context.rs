//! `KafkaContext`: the librdkafka client context every service uses. It routes
//! librdkafka's logs and errors to `tracing`, supplies MSK IAM tokens when the
//! configuration asks for them, and hands producer delivery reports to an
//! optional [`DeliveryListener`].

use super::config::KafkaConfig;
use super::msk_iam::{MskIamError, MskIamTokenSource};
use rdkafka::client::{ClientContext, OAuthToken};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;
use rdkafka::producer::{DeliveryResult, ProducerContext};
use std::error::Error;
use std::sync::Arc;

/// Receives every delivery report of a producer; `opaque` is the value passed
/// with the record (`BaseRecord::delivery_opaque`).
pub trait DeliveryListener: Send + Sync {
    fn on_delivery(&self, result: &DeliveryResult<'_>, opaque: usize);
}

#[derive(Clone, Default)]
pub struct KafkaContext {
    iam: Option<MskIamTokenSource>,
    delivery: Option<Arc<dyn DeliveryListener>>,
}

impl KafkaContext {
    /// The context `config` needs: with an MSK IAM token source when
    /// `[kafka.sasl] mechanism = "aws-msk-iam"` (credentials from the default chain).
    pub async fn for_config(config: &KafkaConfig) -> Result<Self, MskIamError> {
        let iam = match config.msk_iam_region() {
            Some(region) => Some(MskIamTokenSource::from_default_chain(region).await?),
            None => None,
        };
        Ok(Self { iam, delivery: None })
    }

    pub fn with_delivery_listener(mut self, listener: Arc<dyn DeliveryListener>) -> Self {
        self.delivery = Some(listener);
        self
    }
}

impl ClientContext for KafkaContext {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical | RDKafkaLogLevel::Error => {
                tracing::error!(target: "librdkafka", facility, "{message}")
            }
            RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", facility, "{message}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => tracing::info!(target: "librdkafka", facility, "{message}"),
            RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", facility, "{message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(target: "librdkafka", %error, "Kafka client error: {reason}");
    }

    fn generate_oauth_token(&self, _config: Option<&str>) -> Result<OAuthToken, Box<dyn Error>> {
        let source = self
            .iam
            .as_ref()
            .ok_or("an OAUTHBEARER token was requested but [kafka.sasl] mechanism is not aws-msk-iam")?;
        let (token, lifetime_ms) = source.token_blocking()?;
        Ok(OAuthToken {
            token,
            principal_name: String::new(),
            lifetime_ms,
        })
    }
}

impl ConsumerContext for KafkaContext {}

impl ProducerContext for KafkaContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: usize) {
        if let Some(listener) = &self.delivery {
            listener.on_delivery(result, opaque);
        }
    }
}
