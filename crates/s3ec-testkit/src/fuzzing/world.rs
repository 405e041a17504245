//! The genuine objects the fuzz inputs start from, written once per process.

#[allow(clippy::wildcard_imports)]
use super::*;

/// The AES key of the Ruby V1 vectors (a test key, protects nothing); the genuine AES objects use it too, so
/// one keyring reads every AES object.
pub(crate) const AES_KEY_B64: &str = "3FzqnsuoEokzqSwRFJhfXSsVcKnWnX6xSm8o3pFvfKM=";
pub(crate) const RSA_PRIVATE_PEM: &str = include_str!("../../testdata/rsa2048-test-key.pem");
pub(crate) const RSA_PUBLIC_PEM: &str = include_str!("../../testdata/rsa2048-test-key.pub.pem");

macro_rules! vector {
    ($case:literal, $file:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../testdata/vectors/ruby-aws-sdk-s3-1.117.2/",
            $case,
            "/",
            $file
        ))
    };
}

/// One genuine object as the server stores it, and what it decrypts to.
pub(crate) struct Genuine {
    pub(crate) name: &'static str,
    pub(crate) body: Bytes,
    pub(crate) metadata: Vec<(String, String)>,
    /// The instruction file as key/value pairs (all the writers store a flat JSON map of strings).
    pub(crate) instruction: Option<Vec<(String, String)>>,
    pub(crate) plaintext: Vec<u8>,
    pub(crate) context: StringMap,
    /// Legacy unauthenticated content (CBC).
    pub(crate) cbc: bool,
    /// Needs a policy that reads non-committing objects.
    pub(crate) non_committing: bool,
}

impl fmt::Debug for Genuine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Genuine")
            .field("name", &self.name)
            .field("body_len", &self.body.len())
            .field("plaintext_len", &self.plaintext.len())
            .finish_non_exhaustive()
    }
}

pub(crate) struct World {
    pub(crate) objects: Vec<Genuine>,
    pub(crate) keyring: Arc<dyn Keyring>,
}

pub(crate) fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(build_world)
}

pub(crate) fn aes_key() -> AesWrappingKey {
    AesWrappingKey::from_base64(AES_KEY_B64).expect("fixed AES test key")
}

pub(crate) fn rsa_keyring() -> s3ec_local::RsaKeyring {
    s3ec_local::RsaKeyring::from_key_pair(
        RsaPublicKey::from_pem(RSA_PUBLIC_PEM).expect("fixed RSA public key"),
        RsaPrivateKey::from_pem(RSA_PRIVATE_PEM).expect("fixed RSA private key"),
    )
}

/// Deterministic plaintext of `len` bytes.
pub(crate) fn plaintext(len: usize, seed: u8) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ u64::from(seed);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub(crate) fn pairs_of_json(json: &[u8]) -> Vec<(String, String)> {
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(json).expect("vector JSON is a map");
    map.into_iter()
        .map(|(k, v)| {
            (
                k,
                v.as_str().expect("vector values are strings").to_string(),
            )
        })
        .collect()
}

#[derive(Clone, Copy)]
pub(crate) enum Ring {
    Aes,
    Rsa,
    Kms,
}

pub(crate) fn build_world() -> World {
    let kms = MemKms::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let specs: &[(&'static str, Ring, Option<AlgorithmSuite>, bool, usize)] = &[
        ("aes-0073-meta-33", Ring::Aes, None, false, 33),
        ("aes-0073-instr-17", Ring::Aes, None, true, 17),
        (
            "aes-0072-meta-40",
            Ring::Aes,
            Some(AlgorithmSuite::AesGcm),
            false,
            40,
        ),
        (
            "aes-0072-instr-1",
            Ring::Aes,
            Some(AlgorithmSuite::AesGcm),
            true,
            1,
        ),
        ("aes-0073-meta-0", Ring::Aes, None, false, 0),
        ("rsa-0073-meta-20", Ring::Rsa, None, false, 20),
        (
            "rsa-0072-instr-16",
            Ring::Rsa,
            Some(AlgorithmSuite::AesGcm),
            true,
            16,
        ),
        ("kms-0073-meta-48", Ring::Kms, None, false, 48),
        (
            "kms-0072-instr-5",
            Ring::Kms,
            Some(AlgorithmSuite::AesGcm),
            true,
            5,
        ),
    ];
    let mut objects = Vec::new();
    for (i, &(name, ring, suite, instr, len)) in specs.iter().enumerate() {
        let s3 = MemS3::new();
        let builder = s3ec::Client::builder().s3_client(s3.client());
        let builder = match ring {
            Ring::Aes => builder.keyring(s3ec_local::AesKeyring::new(aes_key())),
            Ring::Rsa => builder.keyring(rsa_keyring()),
            Ring::Kms => builder.keyring(s3ec_kms::KmsKeyring::new(kms.clone(), MEM_KMS_KEY_ID)),
        };
        let builder = match suite {
            Some(s) => builder
                .commitment_policy(CommitmentPolicy::ForbidEncryptAllowDecrypt)
                .encryption_algorithm(s),
            None => builder,
        };
        let client = builder
            .enable_instruction_file_put(instr)
            .build()
            .expect("writer client");
        let context: StringMap = match ring {
            Ring::Kms => [("purpose".to_string(), "fuzz".to_string())].into(),
            _ => StringMap::new(),
        };
        let plain = plaintext(len, i as u8);
        rt.block_on(async {
            let mut put = client
                .put_object()
                .bucket(BUCKET)
                .key(KEY)
                .body(ByteStream::from(plain.clone()));
            if !context.is_empty() {
                put = put.encryption_context(context.clone());
            }
            put.send().await.expect("genuine put");
        });
        let object = s3.object(BUCKET, KEY).expect("stored object");
        let instruction = s3
            .object(BUCKET, INSTRUCTION_KEY)
            .map(|o| pairs_of_json(&o.body));
        assert_eq!(instruction.is_some(), instr, "{name}: instruction file");
        objects.push(Genuine {
            name,
            body: object.body,
            metadata: object.metadata.into_iter().collect(),
            instruction,
            plaintext: plain,
            context,
            cbc: false,
            non_committing: suite.is_some(),
        });
    }
    objects.push(Genuine {
        name: "ruby-v1-aes-cbc-meta-17",
        body: Bytes::from_static(vector!("v1-aes-meta-17", "ciphertext.bin")),
        metadata: pairs_of_json(vector!("v1-aes-meta-17", "metadata.json")),
        instruction: None,
        plaintext: vector!("v1-aes-meta-17", "plaintext.bin").to_vec(),
        context: StringMap::new(),
        cbc: true,
        non_committing: true,
    });
    objects.push(Genuine {
        name: "ruby-v1-aes-cbc-instr-17",
        body: Bytes::from_static(vector!("v1-aes-instr-17", "ciphertext.bin")),
        metadata: pairs_of_json(vector!("v1-aes-instr-17", "metadata.json")),
        instruction: Some(pairs_of_json(vector!(
            "v1-aes-instr-17",
            "instruction.json"
        ))),
        plaintext: vector!("v1-aes-instr-17", "plaintext.bin").to_vec(),
        context: StringMap::new(),
        cbc: true,
        non_committing: true,
    });
    let keyring = MultiKeyring::new(s3ec_local::AesKeyring::new(aes_key()))
        .with_child(rsa_keyring())
        .with_child(s3ec_kms::KmsKeyring::new(kms, MEM_KMS_KEY_ID));
    World {
        objects,
        keyring: Arc::new(keyring),
    }
}

/// Names of the genuine objects, in input-index order (for seed generation and reports).
pub fn object_names() -> Vec<&'static str> {
    world().objects.iter().map(|o| o.name).collect()
}
