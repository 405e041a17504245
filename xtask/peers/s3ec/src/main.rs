//! s3ec as an interop participant: the uniform peer command line of `xtask/peers/README.md`
//! (`put|get|reencrypt ...` or `batch`), one JSON result line per command on stdout. Through `s3ec::Client`
//! (participant `s3ec`), or, after a first argument `object-store`, through `EncryptedStore<AmazonS3>`
//! (participant `s3ec-os`, [`store`]).

use std::io::BufRead;
use std::path::Path;
use std::sync::{Arc, Mutex};

use s3ec::aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
use s3ec::aws_sdk_s3::config::{
    BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents,
};
use s3ec::aws_sdk_s3::primitives::ByteStream;
use s3ec::aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use s3ec::{AlgorithmSuite, Client, CommitmentPolicy, Keyring, StringMap};
use serde_json::{json, Map, Value};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[path = "../../command_line.rs"]
mod command_line;
mod store;

use command_line::Command as Args;

/// `k=v` pairs as a map (a later pair for the same key wins).
fn map(pairs: &[(String, String)]) -> StringMap {
    pairs.iter().cloned().collect()
}

fn keyring(
    spec: &str,
    matdesc: &StringMap,
    kms: &aws_sdk_kms::Client,
) -> Result<Arc<dyn Keyring>, BoxError> {
    let (kind, rest) = spec
        .split_once(':')
        .ok_or_else(|| format!("bad keyring {spec}"))?;
    Ok(match kind {
        "aes" => Arc::new(
            s3ec_local::AesKeyring::new(s3ec_local::load_aes_key(rest)?)
                .with_material_description(matdesc.clone()),
        ),
        "rsa" => {
            let (private, public) = rest.split_once(':').unwrap_or((rest, ""));
            let ring = match (private.is_empty(), public.is_empty()) {
                (false, false) => s3ec_local::RsaKeyring::from_key_pair(
                    s3ec_local::load_rsa_public_key(public)?,
                    s3ec_local::load_rsa_private_key(private)?,
                ),
                (false, true) => {
                    s3ec_local::RsaKeyring::decrypt_only(s3ec_local::load_rsa_private_key(private)?)
                }
                (true, false) => {
                    s3ec_local::RsaKeyring::encrypt_only(s3ec_local::load_rsa_public_key(public)?)
                }
                (true, true) => return Err("rsa keyring needs a key".into()),
            };
            Arc::new(ring.with_material_description(matdesc.clone()))
        }
        "kms" => Arc::new(s3ec_kms::KmsKeyring::new(
            s3ec_kms::AwsKms::new(kms.clone()),
            rest,
        )),
        other => return Err(format!("unknown keyring kind {other}").into()),
    })
}

/// The `Range` of every ranged GET the client sends, as `(first, last)` byte offsets, so the harness can
/// check how a parallel get split the object (along the stored parts when it has them).
#[derive(Debug, Default, Clone)]
struct RangeLog(Arc<Mutex<Vec<(u64, u64)>>>);

impl RangeLog {
    fn ranges(&self) -> Vec<(u64, u64)> {
        let mut all = self.0.lock().map(|v| v.clone()).unwrap_or_default();
        all.sort_unstable();
        all
    }
}

impl Intercept for RangeLog {
    fn name(&self) -> &'static str {
        "RangeLog"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), s3ec::aws_sdk_s3::error::BoxError> {
        let request = context.request();
        if request.method() != "GET" {
            return Ok(());
        }
        let range = request
            .headers()
            .get("range")
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.split_once('-'))
            .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)));
        if let (Some(range), Ok(mut log)) = (range, self.0.lock()) {
            log.push(range);
        }
        Ok(())
    }
}

/// Which s3ec API a command goes through.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Via {
    /// `s3ec::Client` (participant `s3ec`).
    Client,
    /// `s3ec_object_store::EncryptedStore<AmazonS3>` (participant `s3ec-os`).
    ObjectStore,
}

impl Via {
    fn peer(self) -> &'static str {
        match self {
            Via::Client => "s3ec",
            Via::ObjectStore => "s3ec-os",
        }
    }
}

async fn run(a: &Args, via: Via) -> Result<Map<String, Value>, BoxError> {
    let region = Region::new(a.get("region").unwrap_or("us-west-2").to_string());
    let creds = Credentials::new("testing", "testing", None, None, "s3ec-peer");
    let endpoint = a.need("endpoint")?;
    let range_log = RangeLog::default();
    let s3 = s3ec::aws_sdk_s3::Client::from_conf(
        s3ec::aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(region.clone())
            .credentials_provider(creds.clone())
            .endpoint_url(endpoint)
            .force_path_style(true)
            .interceptor(range_log.clone())
            .build(),
    );
    let kms = aws_sdk_kms::Client::from_conf(
        aws_sdk_kms::Config::builder()
            .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
            .region(aws_sdk_kms::config::Region::new(
                region.as_ref().to_string(),
            ))
            .credentials_provider(aws_sdk_kms::config::Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "s3ec-peer",
            ))
            .endpoint_url(a.get("kms-endpoint").unwrap_or(endpoint))
            .build(),
    );
    let writes = a.op == "put" || a.op == "reencrypt";
    let policy = match a.get("policy") {
        Some("forbid") => CommitmentPolicy::ForbidEncryptAllowDecrypt,
        Some("require-require") => CommitmentPolicy::RequireEncryptRequireDecrypt,
        Some("require-allow") => CommitmentPolicy::RequireEncryptAllowDecrypt,
        Some(other) => return Err(format!("unknown policy {other}").into()),
        None if writes && a.get("format") == Some("v2") => {
            CommitmentPolicy::ForbidEncryptAllowDecrypt
        }
        None if writes => CommitmentPolicy::RequireEncryptRequireDecrypt,
        None => CommitmentPolicy::RequireEncryptAllowDecrypt,
    };
    let suite = if policy == CommitmentPolicy::ForbidEncryptAllowDecrypt {
        AlgorithmSuite::AesGcm
    } else {
        AlgorithmSuite::AesGcmCommitKey
    };
    let main_keyring = keyring(a.need("keyring")?, &map(&a.matdesc), &kms)?;
    if via == Via::ObjectStore {
        let setup = store::Setup {
            keyring: main_keyring,
            policy,
            suite,
            region: region.as_ref(),
            endpoint,
        };
        return store::run(a, &setup).await;
    }
    let client: Client = Client::builder()
        .s3_client(s3)
        .shared_keyring(main_keyring)
        .commitment_policy(policy)
        .encryption_algorithm(suite)
        .enable_legacy_wrapping_algorithms(a.legacy)
        .enable_legacy_unauthenticated_modes(a.legacy || a.get("range").is_some())
        .enable_instruction_file_put(a.get("storage") == Some("instruction") || a.op == "reencrypt")
        .build()?;
    let (bucket, key) = (a.need("bucket")?, a.need("key")?);
    let mut out = Map::new();
    match a.op.as_str() {
        "put" => {
            let body = std::fs::read(a.need("in")?)?;
            if let Some(part) = a.get("parallel") {
                // s3ec's parallel upload: parts encrypted as segments of one GCM stream on several threads.
                client
                    .upload()
                    .bucket(bucket)
                    .key(key)
                    .body(ByteStream::from(body))
                    .part_size(part.parse()?)
                    .parallel_threshold(0)
                    .encryption_context(map(&a.context))
                    .send()
                    .await?;
            } else if let Some(part) = a.get("multipart") {
                let part: usize = part.parse()?;
                let up = client
                    .create_multipart_upload()
                    .bucket(bucket)
                    .key(key)
                    .encryption_context(map(&a.context))
                    .send()
                    .await?;
                let id = up.upload_id().ok_or("no upload id")?.to_string();
                let chunks: Vec<&[u8]> = if body.is_empty() {
                    vec![&body[..]]
                } else {
                    body.chunks(part).collect()
                };
                let mut parts = Vec::new();
                for (i, chunk) in chunks.iter().enumerate() {
                    let n = i32::try_from(i + 1)?;
                    let r = client
                        .upload_part()
                        .bucket(bucket)
                        .key(key)
                        .upload_id(&id)
                        .part_number(n)
                        .body(ByteStream::from(chunk.to_vec()))
                        .is_last_part(i + 1 == chunks.len())
                        .send()
                        .await?;
                    parts.push(
                        CompletedPart::builder()
                            .part_number(n)
                            .set_e_tag(r.e_tag().map(str::to_string))
                            .build(),
                    );
                }
                client
                    .complete_multipart_upload()
                    .bucket(bucket)
                    .key(key)
                    .upload_id(&id)
                    .multipart_upload(
                        CompletedMultipartUpload::builder()
                            .set_parts(Some(parts))
                            .build(),
                    )
                    .send()
                    .await?;
            } else {
                client
                    .put_object()
                    .bucket(bucket)
                    .key(key)
                    .body(ByteStream::from(body))
                    .encryption_context(map(&a.context))
                    .send()
                    .await?;
            }
        }
        "get" => {
            let mut get = client
                .get_object()
                .bucket(bucket)
                .key(key)
                .encryption_context(map(&a.context));
            if let Some(r) = a.get("range") {
                get = get.range(r);
            }
            if let Some(s) = a.get("suffix") {
                get = get.instruction_file_suffix(s);
            }
            // To a file as the CLI does: the file appears once authenticated (large objects: parallel gets).
            let len = match a.get("out") {
                Some(path) => get.send_to_path(Path::new(path)).await?.content_length,
                None => {
                    let body = get.send().await?.body.collect().await?.into_bytes();
                    Some(body.len() as i64)
                }
            };
            out.insert("len".into(), json!(len));
            out.insert("ranges".into(), json!(range_log.ranges()));
        }
        "reencrypt" => {
            let new = keyring(a.need("new-keyring")?, &map(&a.new_matdesc), &kms)?;
            let mut re = client
                .re_encrypt_instruction_file()
                .bucket(bucket)
                .key(key)
                .new_keyring(new);
            if let Some(s) = a.get("suffix") {
                re = re.instruction_file_suffix(s);
            }
            re.send().await?;
        }
        other => return Err(format!("unknown operation {other}").into()),
    }
    Ok(out)
}

fn once(rt: &tokio::runtime::Runtime, via: Via, argv: &[String]) -> String {
    let mut res = Map::new();
    res.insert("peer".into(), json!(via.peer()));
    let result = Args::parse(argv).map_err(BoxError::from).and_then(|a| {
        res.insert("op".into(), json!(a.op));
        rt.block_on(run(&a, via))
    });
    match result {
        Ok(extra) => {
            res.insert("ok".into(), json!(true));
            res.extend(extra);
        }
        Err(e) => {
            res.insert("ok".into(), json!(false));
            res.insert("error_class".into(), json!("s3ec"));
            res.insert("error".into(), json!(e.to_string()));
            let mut causes = Vec::new();
            let mut src = e.source();
            while let Some(s) = src {
                causes.push(s.to_string());
                src = s.source();
            }
            res.insert("cause".into(), json!(causes.join(" <- ")));
        }
    }
    Value::Object(res).to_string()
}

fn main() {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            println!(
                "{}",
                json!({"ok": false, "peer": "s3ec", "error": format!("no runtime: {e}")})
            );
            std::process::exit(1);
        }
    };
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    // `s3ec-peer object-store ...` is the participant `s3ec-os`.
    let via = if args.first().map(String::as_str) == Some("object-store") {
        args.remove(0);
        Via::ObjectStore
    } else {
        Via::Client
    };
    if args == ["batch"] {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if !line.is_empty() {
                let argv: Vec<String> = line.split('\t').map(str::to_string).collect();
                println!("{}", once(&rt, via, &argv));
            }
        }
        return;
    }
    let line = once(&rt, via, &args);
    println!("{line}");
    if !line.contains("\"ok\":true") {
        std::process::exit(1);
    }
}
