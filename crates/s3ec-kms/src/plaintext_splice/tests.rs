//! The Encrypt call through the real SDK pipeline (serializer, retries, signer) over a recording connector.

use std::cell::Cell;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_kms::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_runtime_api::client::http::{
    http_client_fn, HttpConnector, HttpConnectorFuture, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::http::{Response, StatusCode};

use super::*;
use crate::{AwsKms, KmsClient};

thread_local! {
    /// Spliced bodies alive on this thread (the tests run the SDK on a current-thread runtime).
    pub(super) static LIVE: Cell<isize> = const { Cell::new(0) };
}

#[derive(Default)]
struct Seen {
    /// What the SDK serialized (before any interceptor could change it).
    serialized: Vec<Vec<u8>>,
    /// The body the signer hashes (read just before signing, after every `modify_before_signing`).
    signed: Vec<Vec<u8>>,
    /// Each body that reached the connector, with the number of spliced bodies alive at that moment.
    transmitted: Vec<(Vec<u8>, isize)>,
}

#[derive(Clone, Debug)]
struct Recorder {
    seen: Arc<Mutex<Seen>>,
    fail_first: bool,
}

impl std::fmt::Debug for Seen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Seen").finish_non_exhaustive()
    }
}

impl HttpConnector for Recorder {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let body = request.body().bytes().expect("in memory").to_vec();
        let live = LIVE.with(Cell::get);
        let attempt = {
            let mut seen = self.seen.lock().unwrap();
            seen.transmitted.push((body, live));
            seen.transmitted.len()
        };
        let (status, json) = if self.fail_first && attempt == 1 {
            (
                500,
                r#"{"__type":"KMSInternalException","message":"try again"}"#,
            )
        } else {
            (200, r#"{"CiphertextBlob":"AQID","KeyId":"k"}"#)
        };
        let response = Response::new(StatusCode::try_from(status).unwrap(), SdkBody::from(json));
        HttpConnectorFuture::ready(Ok(response))
    }
}

impl Recorder {
    fn record(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        into: fn(&mut Seen) -> &mut Vec<Vec<u8>>,
    ) -> Result<(), BoxError> {
        let body = context.request().body().bytes().expect("in memory");
        into(&mut self.seen.lock().unwrap()).push(body.to_vec());
        Ok(())
    }
}

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "test:Recorder"
    }

    fn read_after_serialization(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.record(context, |seen| &mut seen.serialized)
    }

    fn read_before_signing(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.record(context, |seen| &mut seen.signed)
    }
}

fn kms(fail_first: bool) -> (AwsKms, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let recorder = Recorder {
        seen: seen.clone(),
        fail_first,
    };
    let connector = SharedHttpConnector::new(recorder.clone());
    let conf = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("id", "secret", None, None, "test"))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(2)
                .with_initial_backoff(Duration::from_millis(1)),
        )
        .http_client(http_client_fn(move |_, _| connector.clone()))
        .interceptor(recorder)
        .build();
    (AwsKms::new(aws_sdk_kms::Client::from_conf(conf)), seen)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn encrypt_and_check(fail_first: bool) {
    let key = DataKey::generate().unwrap();
    let key_b64 = STANDARD.encode(key.expose_secret());
    let sent_field = format!(r#""Plaintext":"{key_b64}""#);
    let (kms, seen) = kms(fail_first);
    let context = [("Plaintext".to_string(), "AAAA".to_string())]
        .into_iter()
        .collect();

    let blob = kms.encrypt("k", &key, &context).await.unwrap();
    assert_eq!(blob, [1, 2, 3]);

    let seen = seen.lock().unwrap();
    assert_eq!(
        seen.serialized.len(),
        1,
        "one serialization, rewound per retry"
    );
    let serialized = &seen.serialized[0];
    assert!(
        !contains(serialized, key_b64.as_bytes()),
        "the SDK serialized the data key itself: {}",
        String::from_utf8_lossy(serialized)
    );
    assert_eq!(seen.transmitted.len(), if fail_first { 2 } else { 1 });
    assert_eq!(seen.signed.len(), seen.transmitted.len());
    for body in &seen.signed {
        assert!(
            contains(body, sent_field.as_bytes()),
            "SigV4 must hash the body that is sent"
        );
    }
    for (body, live) in &seen.transmitted {
        assert!(
            contains(body, sent_field.as_bytes()),
            "KMS must get the key"
        );
        assert_eq!(
            body.len(),
            serialized.len(),
            "same length: Content-Length holds"
        );
        assert_eq!(
            *live, 1,
            "the body sent is the spliced, wiped-on-drop buffer"
        );
    }
    assert_eq!(
        LIVE.with(Cell::get),
        0,
        "every spliced body is dropped (and wiped) when the call returns"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn encrypt_sends_the_key_only_from_a_wiped_buffer() {
    encrypt_and_check(false).await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_retried_encrypt_splices_again_from_the_stand_in() {
    encrypt_and_check(true).await;
}

#[test]
fn the_stand_in_must_occur_exactly_once() {
    let key = DataKey::generate().unwrap();
    let (splice, blob) = PlaintextSplice::new(&key).unwrap();
    let stand_in = STANDARD.encode(blob.as_ref());
    let once = format!(r#"{{"Plaintext":"{stand_in}"}}"#);
    let spliced = splice.splice(once.as_bytes()).unwrap();
    assert_eq!(
        spliced.as_ref(),
        format!(
            r#"{{"Plaintext":"{}"}}"#,
            STANDARD.encode(key.expose_secret())
        )
        .as_bytes()
    );
    drop(spliced);
    let twice = format!(r#"{{"Plaintext":"{stand_in}","EncryptionContext":{{"a":"{stand_in}"}}}}"#);
    assert!(splice.splice(twice.as_bytes()).is_err());
    assert!(splice.splice(b"{}").is_err());
    assert!(!format!("{splice:?}").contains(&STANDARD.encode(key.expose_secret())));
}
