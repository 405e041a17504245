//! Client options and their validation (spec `client.md`).

use std::fmt;
use std::sync::Arc;

use aws_types::SdkConfig;
use s3ec_format::AlgorithmSuite;
use s3ec_materials::{CommitmentPolicy, CryptoMaterialsManager, DefaultCmm, Keyring};

use crate::client::Client;
use crate::error::ConfigError;
use crate::options::{
    MetadataOverflow, Options, ParallelGet, DEFAULT_BUFFER_POOL_SIZE, DEFAULT_BUFFER_SIZE,
    DEFAULT_CONCURRENCY, DEFAULT_PART_SIZE, MAX_PART_SIZE, MIN_BUFFER_SIZE, MIN_PART_SIZE,
};

pub(crate) fn check_part_size(size: u64) -> Result<(), ConfigError> {
    if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&size) || !size.is_multiple_of(16) {
        return Err(ConfigError::PartSize(size));
    }
    Ok(())
}

/// Builds a [`Client`]; every option is checked by [`ClientBuilder::build`].
///
/// ```no_run
/// # async fn f(sdk: aws_types::SdkConfig, keyring: s3ec_local::AesKeyring) -> Result<(), s3ec::Error> {
/// let client = s3ec::Client::builder()
///     .sdk_config(&sdk)
///     .keyring(keyring)
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Default)]
pub struct ClientBuilder {
    s3: Option<aws_sdk_s3::Client>,
    sdk_config: Option<SdkConfig>,
    keyring: Option<Arc<dyn Keyring>>,
    cmm: Option<Arc<dyn CryptoMaterialsManager>>,
    commitment_policy: Option<CommitmentPolicy>,
    encryption_algorithm: Option<AlgorithmSuite>,
    legacy_wrapping: bool,
    legacy_unauthenticated: bool,
    delayed_authentication: bool,
    buffer_size: Option<u64>,
    instruction_file_put: bool,
    metadata_overflow: MetadataOverflow,
    part_size: Option<u64>,
    concurrency: Option<usize>,
    parallel_get: Option<ParallelGet>,
    buffer_pool_size: Option<u64>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("has_s3_client", &self.s3.is_some())
            .field("has_sdk_config", &self.sdk_config.is_some())
            .field("has_keyring", &self.keyring.is_some())
            .field("has_cmm", &self.cmm.is_some())
            .field("commitment_policy", &self.commitment_policy)
            .field("encryption_algorithm", &self.encryption_algorithm)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A builder for the options of `client.md`.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }
}

impl ClientBuilder {
    /// Wraps this aws-sdk-s3 client (its retry, endpoint and credential settings are kept).
    pub fn s3_client(mut self, client: aws_sdk_s3::Client) -> Self {
        self.s3 = Some(client);
        self
    }

    /// Builds the wrapped aws-sdk-s3 client from this shared configuration.
    pub fn sdk_config(mut self, config: &SdkConfig) -> Self {
        self.sdk_config = Some(config.clone());
        self
    }

    /// The keyring; the client wraps it in a [`DefaultCmm`]. Exclusive with [`ClientBuilder::cmm`].
    pub fn keyring(mut self, keyring: impl Keyring + 'static) -> Self {
        self.keyring = Some(Arc::new(keyring));
        self
    }

    /// A shared keyring.
    pub fn shared_keyring(mut self, keyring: Arc<dyn Keyring>) -> Self {
        self.keyring = Some(keyring);
        self
    }

    /// A cryptographic materials manager. Exclusive with [`ClientBuilder::keyring`].
    pub fn cmm(mut self, cmm: impl CryptoMaterialsManager + 'static) -> Self {
        self.cmm = Some(Arc::new(cmm));
        self
    }

    /// The commitment policy (default `RequireEncryptRequireDecrypt`).
    pub fn commitment_policy(mut self, policy: CommitmentPolicy) -> Self {
        self.commitment_policy = Some(policy);
        self
    }

    /// The suite for new objects (default: the policy's, 0x0073 or 0x0072 for `ForbidEncryptAllowDecrypt`).
    pub fn encryption_algorithm(mut self, suite: AlgorithmSuite) -> Self {
        self.encryption_algorithm = Some(suite);
        self
    }

    /// Read objects whose data keys are wrapped with legacy algorithms (default off).
    pub fn enable_legacy_wrapping_algorithms(mut self, on: bool) -> Self {
        self.legacy_wrapping = on;
        self
    }

    /// Read legacy unauthenticated content (CBC) and allow ranged gets (default off).
    pub fn enable_legacy_unauthenticated_modes(mut self, on: bool) -> Self {
        self.legacy_unauthenticated = on;
        self
    }

    /// Release plaintext before the tag is verified (default off). A tag failure then ends the body stream with an
    /// error after plaintext was delivered: use only if the consumer can undo what it did with it.
    pub fn enable_delayed_authentication(mut self, on: bool) -> Self {
        self.delayed_authentication = on;
        self
    }

    /// The largest ciphertext a get holds in memory (default 64 MiB); larger objects are spooled to a temporary
    /// file and released once authenticated.
    pub fn buffer_size(mut self, bytes: u64) -> Self {
        self.buffer_size = Some(bytes);
        self
    }

    /// Write envelopes to `<key>.instruction` instead of object metadata (default off).
    pub fn enable_instruction_file_put(mut self, on: bool) -> Self {
        self.instruction_file_put = on;
        self
    }

    /// What to do when the metadata would exceed S3's 2 KB limit (default: error).
    pub fn metadata_overflow(mut self, overflow: MetadataOverflow) -> Self {
        self.metadata_overflow = overflow;
        self
    }

    /// Default part size for [`Client::upload`] (default 8 MiB).
    pub fn part_size(mut self, bytes: u64) -> Self {
        self.part_size = Some(bytes);
        self
    }

    /// Default number of parts in flight for [`Client::upload`] (default 8).
    pub fn upload_concurrency(mut self, parts: usize) -> Self {
        self.concurrency = Some(parts);
        self
    }

    /// How gets of large GCM objects are split into concurrent ranged GETs (see [`ParallelGet`]; default
    /// 8 MiB parts, 8 at a time, above 16 MiB). [`ParallelGet::OFF`] reads every object with one stream.
    pub fn parallel_get(mut self, parallel: ParallelGet) -> Self {
        self.parallel_get = Some(parallel);
        self
    }

    /// How many bytes of ciphertext buffers the client keeps between requests (default 64 MiB, the buffers of
    /// eight default parts; 0 keeps none). Uploads encrypt their parts, and puts of unknown length their spool,
    /// into buffers the client's earlier requests used, instead of into fresh memory, whose first touch costs a
    /// page fault and the kernel's zeroing of each page. The memory stays with the client while it lives; only
    /// ciphertext is kept, never plaintext.
    ///
    /// ```
    /// let s3 = aws_sdk_s3::Client::from_conf(
    ///     aws_sdk_s3::Config::builder()
    ///         .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
    ///         .region(aws_sdk_s3::config::Region::new("us-west-2"))
    ///         .build(),
    /// );
    /// let key = s3ec_crypto::wrap::AesWrappingKey::generate().unwrap();
    /// // A service that uploads rarely and would rather give the memory back.
    /// let client = s3ec::Client::builder()
    ///     .s3_client(s3)
    ///     .keyring(s3ec_local::AesKeyring::new(key))
    ///     .buffer_pool_size(0)
    ///     .build()?;
    /// assert_eq!(client.options().buffer_pool_size, 0);
    /// # Ok::<(), s3ec::ConfigError>(())
    /// ```
    pub fn buffer_pool_size(mut self, bytes: u64) -> Self {
        self.buffer_pool_size = Some(bytes);
        self
    }

    /// Checks the options and builds the client.
    pub fn build(self) -> Result<Client, ConfigError> {
        let s3 = match (self.s3, self.sdk_config) {
            (Some(_), Some(_)) => return Err(ConfigError::BothS3ClientAndSdkConfig),
            (Some(c), None) => c,
            (None, Some(cfg)) => aws_sdk_s3::Client::new(&cfg),
            (None, None) => return Err(ConfigError::NoS3Client),
        };
        let cmm: Arc<dyn CryptoMaterialsManager> = match (self.keyring, self.cmm) {
            (Some(_), Some(_)) => return Err(ConfigError::BothKeyringAndCmm),
            (Some(k), None) => Arc::new(DefaultCmm::from_arc(k)),
            (None, Some(c)) => c,
            (None, None) => return Err(ConfigError::NoMaterials),
        };
        let policy = self.commitment_policy.unwrap_or_default();
        let suite = self
            .encryption_algorithm
            .unwrap_or_else(|| policy.default_suite());
        if suite.is_legacy() {
            return Err(ConfigError::LegacySuite(suite.id()));
        }
        if policy.check_encrypt_suite(suite).is_err() {
            return Err(ConfigError::SuitePolicyMismatch {
                suite: suite.id(),
                policy,
            });
        }
        if self.delayed_authentication && self.buffer_size.is_some() {
            return Err(ConfigError::BufferSizeWithDelayedAuthentication);
        }
        let buffer_size = self.buffer_size.unwrap_or(DEFAULT_BUFFER_SIZE);
        let max = AlgorithmSuite::AesGcm
            .max_plaintext_len()
            .unwrap_or(u64::MAX);
        if !(MIN_BUFFER_SIZE..=max).contains(&buffer_size) {
            return Err(ConfigError::BufferSize(buffer_size));
        }
        let part_size = self.part_size.unwrap_or(DEFAULT_PART_SIZE);
        check_part_size(part_size)?;
        let upload_concurrency = self.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
        if upload_concurrency == 0 {
            return Err(ConfigError::Concurrency);
        }
        let parallel_get = self.parallel_get.unwrap_or_default();
        parallel_get.check().map_err(ConfigError::ParallelGet)?;
        let options = Options {
            commitment_policy: policy,
            encryption_algorithm: suite,
            legacy_wrapping_algorithms: self.legacy_wrapping,
            legacy_unauthenticated_modes: self.legacy_unauthenticated,
            delayed_authentication: self.delayed_authentication,
            buffer_size,
            instruction_file_put: self.instruction_file_put,
            metadata_overflow: self.metadata_overflow,
            part_size,
            upload_concurrency,
            parallel_get,
            buffer_pool_size: self.buffer_pool_size.unwrap_or(DEFAULT_BUFFER_POOL_SIZE),
        };
        Ok(Client::from_parts(s3, cmm, options))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3ec_crypto::wrap::AesWrappingKey;
    use s3ec_local::AesKeyring;

    fn s3() -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-west-2"))
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    fn keyring() -> AesKeyring {
        AesKeyring::new(AesWrappingKey::generate().unwrap())
    }

    fn base() -> ClientBuilder {
        Client::builder().s3_client(s3()).keyring(keyring())
    }

    #[test]
    fn defaults_follow_the_reference_clients() {
        let c = base().build().unwrap();
        let o = c.options();
        assert_eq!(
            o.commitment_policy,
            CommitmentPolicy::RequireEncryptRequireDecrypt
        );
        assert_eq!(o.encryption_algorithm, AlgorithmSuite::AesGcmCommitKey);
        assert!(
            !o.legacy_wrapping_algorithms
                && !o.legacy_unauthenticated_modes
                && !o.delayed_authentication
        );
        assert!(!o.instruction_file_put);
        assert_eq!(o.buffer_size, 64 * 1024 * 1024);
        let forbid = base()
            .commitment_policy(CommitmentPolicy::ForbidEncryptAllowDecrypt)
            .build()
            .unwrap();
        assert_eq!(
            forbid.options().encryption_algorithm,
            AlgorithmSuite::AesGcm
        );
    }

    #[test]
    fn invalid_combinations_are_refused() {
        let cmm = DefaultCmm::new(keyring());
        assert_eq!(
            base().cmm(cmm).build().unwrap_err(),
            ConfigError::BothKeyringAndCmm
        );
        assert_eq!(
            Client::builder().s3_client(s3()).build().unwrap_err(),
            ConfigError::NoMaterials
        );
        assert_eq!(
            Client::builder().keyring(keyring()).build().unwrap_err(),
            ConfigError::NoS3Client
        );
        let sdk = SdkConfig::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .build();
        assert_eq!(
            base().sdk_config(&sdk).build().unwrap_err(),
            ConfigError::BothS3ClientAndSdkConfig
        );
        for legacy in [
            AlgorithmSuite::AesCbc,
            AlgorithmSuite::AesCtr,
            AlgorithmSuite::AesCtrCommitKey,
        ] {
            assert_eq!(
                base().encryption_algorithm(legacy).build().unwrap_err(),
                ConfigError::LegacySuite(legacy.id())
            );
        }
        assert!(matches!(
            base()
                .encryption_algorithm(AlgorithmSuite::AesGcm)
                .build()
                .unwrap_err(),
            ConfigError::SuitePolicyMismatch { suite: 0x72, .. }
        ));
        assert!(matches!(
            base()
                .commitment_policy(CommitmentPolicy::ForbidEncryptAllowDecrypt)
                .encryption_algorithm(AlgorithmSuite::AesGcmCommitKey)
                .build()
                .unwrap_err(),
            ConfigError::SuitePolicyMismatch { suite: 0x73, .. }
        ));
        assert_eq!(
            base()
                .enable_delayed_authentication(true)
                .buffer_size(1 << 20)
                .build()
                .unwrap_err(),
            ConfigError::BufferSizeWithDelayedAuthentication
        );
        assert_eq!(
            base().buffer_size(15).build().unwrap_err(),
            ConfigError::BufferSize(15)
        );
        assert_eq!(
            base().part_size(5 * 1024 * 1024 + 1).build().unwrap_err(),
            ConfigError::PartSize(5 * 1024 * 1024 + 1)
        );
        assert_eq!(
            base().part_size(1024).build().unwrap_err(),
            ConfigError::PartSize(1024)
        );
        assert_eq!(
            base().upload_concurrency(0).build().unwrap_err(),
            ConfigError::Concurrency
        );
        assert!(base().enable_delayed_authentication(true).build().is_ok());
    }

    #[test]
    fn sdk_config_builds_a_client() {
        let sdk = SdkConfig::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_types::region::Region::new("eu-west-1"))
            .build();
        let c = Client::builder()
            .sdk_config(&sdk)
            .keyring(keyring())
            .build()
            .unwrap();
        assert_eq!(
            c.inner().config().region().map(|r| r.as_ref()),
            Some("eu-west-1")
        );
    }

    #[test]
    fn debug_output_names_no_secret() {
        let text = format!("{:?}", base());
        assert!(text.contains("has_keyring: true"), "{text}");
    }
}
