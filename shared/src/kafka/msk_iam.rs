//! Amazon MSK IAM authentication: the SASL/OAUTHBEARER token MSK expects is a
//! base64url SigV4-presigned `kafka-cluster:Connect` request, signed with AWS
//! credentials (the default chain, or any provider), valid for 15 minutes.
//! librdkafka asks for a new one at 80% of its lifetime, so tokens are always
//! refreshed before they expire.

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_types::region::Region;

/// Makes MSK IAM tokens for one region.
#[derive(Clone)]
pub struct MskIamTokenSource {
    region: Region,
    credentials: SharedCredentialsProvider,
}

#[derive(Debug, thiserror::Error)]
pub enum MskIamError {
    #[error("MSK IAM: no AWS credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile, or an instance/task role)")]
    NoCredentials,
    #[error("MSK IAM: cannot sign the authentication token: {0}")]
    Signing(String),
}

impl MskIamTokenSource {
    /// Credentials from the default AWS chain (environment, profile, SSO, instance/task role).
    pub async fn from_default_chain(region: &str) -> Result<Self, MskIamError> {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .load()
            .await;
        let credentials = sdk.credentials_provider().ok_or(MskIamError::NoCredentials)?;
        Ok(Self::with_credentials(region, credentials))
    }

    pub fn with_credentials(region: &str, credentials: SharedCredentialsProvider) -> Self {
        Self {
            region: Region::new(region.to_string()),
            credentials,
        }
    }

    /// A fresh token and its expiry (milliseconds since the Unix epoch).
    pub async fn token(&self) -> Result<(String, i64), MskIamError> {
        aws_msk_iam_sasl_signer::generate_auth_token_from_credentials_provider(
            self.region.clone(),
            self.credentials.clone(),
        )
        .await
        .map_err(|e| MskIamError::Signing(e.to_string()))
    }

    /// [`Self::token`] from a synchronous callback (librdkafka's thread, or
    /// inside a Tokio worker): runs on its own thread with its own runtime.
    pub fn token_blocking(&self) -> Result<(String, i64), MskIamError> {
        let source = self.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| MskIamError::Signing(e.to_string()))?;
            runtime.block_on(source.token())
        })
        .join()
        .unwrap_or_else(|_| Err(MskIamError::Signing("token thread panicked".into())))
    }
}
