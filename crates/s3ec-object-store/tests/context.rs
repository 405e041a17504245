//! Per-request encryption context ([`EncryptionContext`] in the request's extensions) with a KMS keyring over
//! an in-memory KMS that binds the context as KMS does: what is written carries it, and a read asserting
//! another context (or none) is refused, under both range policies and from the verified-plaintext cache.

use bytes::Bytes;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutMultipartOptions, PutOptions,
    WriteMultipart,
};
use s3ec_kms::KmsKeyring;
use s3ec_object_store::{EncryptedStore, EncryptionContext, Error, RangePolicy, STORE_NAME};
use s3ec_testkit::{MemKms, MEM_KMS_KEY_ID};

fn store(inner: &InMemory, kms: &MemKms, policy: RangePolicy) -> EncryptedStore<InMemory> {
    EncryptedStore::builder(inner.clone())
        .keyring(KmsKeyring::new(kms.clone(), MEM_KMS_KEY_ID))
        .enable_legacy_unauthenticated_modes(policy == RangePolicy::UnauthenticatedCtr)
        .range_policy(policy)
        .build()
        .unwrap()
}

fn acme() -> EncryptionContext {
    EncryptionContext::from_iter([("tenant", "acme-42")])
}

fn get_with(context: Option<EncryptionContext>, range: Option<GetRange>) -> GetOptions {
    let mut options = GetOptions {
        range,
        ..Default::default()
    };
    if let Some(c) = context {
        options.extensions.insert(c);
    }
    options
}

fn is_context_mismatch(e: &object_store::Error) -> bool {
    matches!(
        e,
        object_store::Error::Generic { store, source } if *store == STORE_NAME && matches!(
            source.downcast_ref::<Error>(),
            Some(Error::Materials(s3ec_materials::Error::ContextMismatch))
        )
    )
}

fn data() -> Bytes {
    (0..40_000u32).map(|i| (i % 251) as u8).collect()
}

/// The bytes a read with `context` (and `range`) returns.
async fn read(
    store: &EncryptedStore<InMemory>,
    path: &Path,
    context: EncryptionContext,
    range: Option<GetRange>,
) -> Bytes {
    let r = store.get_opts(path, get_with(Some(context), range)).await;
    r.unwrap().bytes().await.unwrap()
}

async fn put_with_context(store: &EncryptedStore<InMemory>, path: &Path) {
    let mut put = PutOptions::default();
    put.extensions.insert(acme());
    store.put_opts(path, data().into(), put).await.unwrap();
}

#[tokio::test]
async fn the_context_is_stored_and_a_matching_read_succeeds() {
    let (inner, kms) = (InMemory::new(), MemKms::new());
    let s = store(&inner, &kms, RangePolicy::VerifyWholeObject);
    let path = Path::from("ctx/object");
    put_with_context(&s, &path).await;
    let stored = inner.get(&path).await.unwrap();
    let envelope = stored
        .attributes
        .iter()
        .find(|(k, _)| matches!(k, object_store::Attribute::Metadata(n) if n == "x-amz-t"))
        .map(|(_, v)| v.to_string())
        .expect("a V3 envelope stores the KMS context in x-amz-t");
    assert!(envelope.contains("acme-42"), "{envelope}");
    let got = read(&s, &path, acme(), None).await;
    assert_eq!(got, data());
}

#[tokio::test]
async fn a_read_with_another_context_or_none_is_refused() {
    for policy in [
        RangePolicy::VerifyWholeObject,
        RangePolicy::UnauthenticatedCtr,
    ] {
        let (inner, kms) = (InMemory::new(), MemKms::new());
        let s = store(&inner, &kms, policy);
        let path = Path::from("ctx/object");
        put_with_context(&s, &path).await;
        let other = EncryptionContext::from_iter([("tenant", "evil")]);
        for (context, range) in [
            (None, None),
            (Some(other.clone()), None),
            (None, Some(GetRange::Bounded(100..200))),
            (Some(other), Some(GetRange::Bounded(100..200))),
        ] {
            let e = s
                .get_opts(&path, get_with(context.clone(), range.clone()))
                .await
                .err()
                .unwrap_or_else(|| panic!("{policy:?} {context:?} {range:?} was read"));
            assert!(is_context_mismatch(&e), "{policy:?}: {e}");
        }
        // The calls without options assert the empty context.
        assert!(is_context_mismatch(
            &s.get_range(&path, 0..10).await.unwrap_err()
        ));
        let ranged = read(&s, &path, acme(), Some(GetRange::Bounded(100..200))).await;
        assert_eq!(ranged, data().slice(100..200), "{policy:?}");
    }
}

#[tokio::test]
async fn the_cache_serves_only_reads_asserting_the_same_context() {
    let (inner, kms) = (InMemory::new(), MemKms::new());
    let s = store(&inner, &kms, RangePolicy::VerifyWholeObject);
    let path = Path::from("ctx/cached");
    put_with_context(&s, &path).await;
    // A ranged read with the right context fills the cache...
    let first = read(&s, &path, acme(), Some(GetRange::Bounded(0..10))).await;
    assert_eq!(first, data().slice(0..10));
    // ...which must not answer a read asserting another context.
    let other = EncryptionContext::from_iter([("tenant", "evil")]);
    let e = s
        .get_opts(&path, get_with(Some(other), Some(GetRange::Bounded(0..10))))
        .await
        .unwrap_err();
    assert!(is_context_mismatch(&e), "{e}");
    assert!(is_context_mismatch(
        &s.get_ranges(&path, &[0..10, 20..30]).await.unwrap_err()
    ));
}

#[tokio::test]
async fn multipart_uploads_carry_the_context() {
    let (inner, kms) = (InMemory::new(), MemKms::new());
    let s = store(&inner, &kms, RangePolicy::VerifyWholeObject);
    let path = Path::from("ctx/multipart");
    let mut opts = PutMultipartOptions::default();
    opts.extensions.insert(acme());
    let upload = s.put_multipart_opts(&path, opts).await.unwrap();
    let mut w = WriteMultipart::new_with_chunk_size(upload, 16_000);
    w.write(&data());
    w.finish().await.unwrap();
    assert!(is_context_mismatch(&s.get(&path).await.unwrap_err()));
    let got = read(&s, &path, acme(), None).await;
    assert_eq!(got, data());
}
