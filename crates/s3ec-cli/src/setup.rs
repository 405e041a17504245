//! From global options to SDK configuration, keyrings and encryption clients.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;

use aws_config::meta::region::RegionProviderChain;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use indicatif::{ProgressBar, ProgressStyle};
use s3ec::{Keyring, StringMap};
use s3ec_crypto::wrap::RsaPublicKey;
use zeroize::Zeroizing;

use crate::cli::GlobalOpts;
use crate::error::CliError;

/// Where S3 and KMS calls go and how they are signed, plus the options every command shares.
#[derive(Debug, Clone)]
pub struct Env {
    /// Global options.
    pub global: GlobalOpts,
    /// The shared AWS configuration (region, credentials, endpoint).
    pub sdk: SdkConfig,
    /// A plain S3 client (path-style when an endpoint is given).
    pub s3: aws_sdk_s3::Client,
}

impl Env {
    /// Loads the AWS configuration the way the AWS CLI does, with the overrides of `global`.
    pub async fn load(global: &GlobalOpts) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(profile) = &global.profile {
            loader = loader.profile_name(profile);
        }
        let region = match (&global.region, &global.endpoint_url) {
            (Some(r), _) => RegionProviderChain::first_try(Region::new(r.clone())),
            // Local S3-compatible servers accept any region; do not fail for want of one.
            (None, Some(_)) => {
                RegionProviderChain::default_provider().or_else(Region::from_static("us-east-1"))
            }
            (None, None) => RegionProviderChain::default_provider(),
        };
        loader = loader.region(region);
        if let Some(url) = &global.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let sdk = loader.load().await;
        Self::from_sdk(global, sdk)
    }

    /// Fails with the ways to set a region when none was found: the SDK would refuse every request before
    /// sending it, which reads like an unreachable endpoint.
    pub fn require_region(&self) -> Result<(), CliError> {
        match self.sdk.region() {
            Some(_) => Ok(()),
            None => Err(CliError::Usage(
                "no AWS region: pass --region, set AWS_REGION or a region in your AWS profile; for a local \
                 server such as `s3ec serve`, pass --endpoint-url (or set AWS_ENDPOINT_URL) and any region \
                 is accepted"
                    .into(),
            )),
        }
    }

    /// Uses an already built AWS configuration (the demo's).
    pub fn from_sdk(global: &GlobalOpts, sdk: SdkConfig) -> Self {
        let path_style = global.endpoint_url.is_some() || sdk.endpoint_url().is_some();
        let conf = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(path_style)
            .build();
        Self {
            global: global.clone(),
            sdk,
            s3: aws_sdk_s3::Client::from_conf(conf),
        }
    }

    /// The `--context` entries as a map.
    pub fn context(&self) -> StringMap {
        self.global.context.iter().cloned().collect()
    }

    /// The keyring of the global key options; [`CliError::NoKey`] when none was given.
    pub fn keyring(&self) -> Result<Arc<dyn Keyring>, CliError> {
        let g = &self.global;
        let given = usize::from(g.kms_key_id.is_some())
            + usize::from(g.aes_key.is_some())
            + usize::from(g.rsa_key.is_some());
        if given > 1 {
            return Err(CliError::TooManyKeys);
        }
        // Only KMS binds an encryption context; AES and RSA keyrings would silently ignore it.
        if !g.context.is_empty() && g.kms_key_id.is_none() && given == 1 {
            return Err(CliError::Usage(
                "--context applies to KMS keys only (AES and RSA keys bind no encryption context); remove it"
                    .into(),
            ));
        }
        if let Some(id) = &g.kms_key_id {
            return Ok(self.kms_keyring(id));
        }
        if let Some(path) = &g.aes_key {
            return aes_keyring(path);
        }
        if let Some(path) = &g.rsa_key {
            return rsa_keyring(path);
        }
        Err(CliError::NoKey)
    }

    /// A KMS keyring for `key_id` over this configuration.
    pub fn kms_keyring(&self, key_id: &str) -> Arc<dyn Keyring> {
        let kms = aws_sdk_kms::Client::new(&self.sdk);
        Arc::new(s3ec_kms::KmsKeyring::new(
            s3ec_kms::AwsKms::new(kms),
            key_id,
        ))
    }

    /// An encryption client with the global options' keyring and policies.
    pub fn client(&self, tweak: ClientTweak) -> Result<s3ec::Client, CliError> {
        let keyring = self.keyring()?;
        self.client_with(keyring, tweak)
    }

    /// An encryption client with `keyring`.
    pub fn client_with(
        &self,
        keyring: Arc<dyn Keyring>,
        tweak: ClientTweak,
    ) -> Result<s3ec::Client, CliError> {
        let g = &self.global;
        let policy = tweak.policy.unwrap_or_else(|| g.commitment_policy.into());
        let client = s3ec::Client::builder()
            .s3_client(self.s3.clone())
            .shared_keyring(keyring)
            .commitment_policy(policy)
            .enable_legacy_wrapping_algorithms(g.legacy || tweak.legacy)
            .enable_legacy_unauthenticated_modes(
                g.legacy || tweak.legacy || tweak.unauthenticated_ranges,
            )
            .enable_instruction_file_put(tweak.instruction_file)
            .metadata_overflow(s3ec::MetadataOverflow::InstructionFile)
            .build()
            .map_err(|e| CliError::Client(e.into()))?;
        Ok(client)
    }

    /// A progress bar on stderr for `len` units (bytes when `bytes`), hidden unless stderr is a terminal.
    pub fn progress(&self, len: Option<u64>, bytes: bool, what: &str) -> ProgressBar {
        if self.global.no_progress || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let bar = match len {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::new_spinner(),
        };
        let template = match (len.is_some(), bytes) {
            (true, true) => "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            (true, false) => "{msg} [{bar:30}] {pos}/{len} {eta}",
            (false, true) => "{spinner} {msg} {bytes} {bytes_per_sec}",
            (false, false) => "{spinner} {msg} {pos}",
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what.to_string());
        bar
    }
}

/// Per-command departures from the global options.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientTweak {
    /// Override `--commitment-policy`.
    pub policy: Option<s3ec::CommitmentPolicy>,
    /// Read legacy objects whatever `--legacy` says (migrate).
    pub legacy: bool,
    /// Allow ranged (unauthenticated) reads: `get --range` asks for them explicitly.
    pub unauthenticated_ranges: bool,
    /// Write envelopes to instruction files.
    pub instruction_file: bool,
}

/// An AES keyring from a key file.
pub fn aes_keyring(path: &Path) -> Result<Arc<dyn Keyring>, CliError> {
    aes_keyring_described(path, StringMap::new())
}

/// An AES keyring from a key file that stores `description` as the material description of what it wraps.
pub fn aes_keyring_described(
    path: &Path,
    description: StringMap,
) -> Result<Arc<dyn Keyring>, CliError> {
    let key = s3ec_local::load_aes_key(path)?;
    Ok(Arc::new(
        s3ec_local::AesKeyring::new(key).with_material_description(description),
    ))
}

/// An RSA keyring from a private key file (encrypts and decrypts) or a public key file (encrypts only).
pub fn rsa_keyring(path: &Path) -> Result<Arc<dyn Keyring>, CliError> {
    rsa_keyring_described(path, StringMap::new())
}

/// An RSA keyring (as [`rsa_keyring`]) that stores `description` as the material description of what it wraps.
pub fn rsa_keyring_described(
    path: &Path,
    description: StringMap,
) -> Result<Arc<dyn Keyring>, CliError> {
    let keyring = match s3ec_local::load_rsa_private_key(path) {
        Ok(private) => {
            let public = public_of(path)?;
            s3ec_local::RsaKeyring::from_key_pair(public, private)
        }
        Err(private_err) => match s3ec_local::load_rsa_public_key(path) {
            Ok(public) => s3ec_local::RsaKeyring::encrypt_only(public),
            Err(_) => return Err(private_err.into()),
        },
    };
    Ok(Arc::new(keyring.with_material_description(description)))
}

/// The public half of the RSA private key in `path`, derived with aws-lc-rs (the s3ec key types do not export
/// key bytes).
fn public_of(path: &Path) -> Result<RsaPublicKey, CliError> {
    let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| CliError::io(path, e))?);
    let der = match std::str::from_utf8(&bytes) {
        Ok(text) if text.trim_start().starts_with("-----BEGIN ") => {
            pem_body(text).ok_or_else(|| bad_key(path))?
        }
        _ => bytes.clone(),
    };
    let pair = aws_lc_rs::rsa::KeyPair::from_pkcs8(&der)
        .or_else(|_| aws_lc_rs::rsa::KeyPair::from_der(&der))
        .map_err(|_| bad_key(path))?;
    let spki = public_spki_der(&pair).map_err(|_| bad_key(path))?;
    RsaPublicKey::from_der(&spki).map_err(|_| bad_key(path))
}

/// The SubjectPublicKeyInfo DER of an aws-lc-rs key pair.
pub(crate) fn public_spki_der(
    pair: &aws_lc_rs::rsa::KeyPair,
) -> Result<Vec<u8>, aws_lc_rs::error::Unspecified> {
    use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
    use aws_lc_rs::signature::KeyPair as _;
    let der: PublicKeyX509Der<'static> = pair.public_key().as_der()?;
    Ok(der.as_ref().to_vec())
}

fn bad_key(path: &Path) -> CliError {
    CliError::Key(format!(
        "{} is not a readable RSA private key",
        path.display()
    ))
}

/// The base64 body of the first PEM block.
fn pem_body(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    let mut lines = text.lines().map(str::trim);
    lines.find(|l| l.starts_with("-----BEGIN "))?;
    let body: Zeroizing<String> =
        Zeroizing::new(lines.take_while(|l| !l.starts_with("-----END ")).collect());
    STANDARD.decode(body.as_bytes()).ok().map(Zeroizing::new)
}
