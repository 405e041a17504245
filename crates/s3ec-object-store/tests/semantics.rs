//! The semantics an encrypting store settles on its own, and the equivalents of the conformance assertions that
//! cannot hold for it. All over `InMemory` (fast; no server).

use std::error::Error as _;

use bytes::Bytes;
use futures_util::TryStreamExt;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    Attribute, Attributes, GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload,
    WriteMultipart,
};
use s3ec_crypto::wrap::AesWrappingKey;
use s3ec_local::AesKeyring;
use s3ec_object_store::{
    CommitmentPolicy, ConfigError, EncryptedStore, Error, RangePolicy, STORE_NAME,
};

fn keyring() -> AesKeyring {
    AesKeyring::new(AesWrappingKey::from_raw(&[7; 32]).unwrap())
}

fn store() -> EncryptedStore<InMemory> {
    EncryptedStore::builder(InMemory::new())
        .keyring(keyring())
        .build()
        .unwrap()
}

/// A second store over the same inner store (`InMemory` clones share their data).
fn reader(inner: &InMemory, policy: RangePolicy) -> EncryptedStore<InMemory> {
    EncryptedStore::builder(inner.clone())
        .keyring(keyring())
        .enable_legacy_unauthenticated_modes(policy == RangePolicy::UnauthenticatedCtr)
        .range_policy(policy)
        .build()
        .unwrap()
}

/// This crate's error inside an `object_store::Error`.
fn ours(e: &object_store::Error) -> &Error {
    match e {
        object_store::Error::Generic { store, source } if *store == STORE_NAME => source
            .downcast_ref::<Error>()
            .expect("an s3ec_object_store::Error"),
        other => panic!("not an S3EC error: {other}"),
    }
}

fn data(len: usize) -> Bytes {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

async fn stored(store: &EncryptedStore<InMemory>, path: &Path) -> object_store::GetResult {
    store.inner().get(path).await.unwrap()
}

#[tokio::test]
async fn the_inner_store_holds_ciphertext_and_a_v3_envelope() {
    let s = store();
    let path = Path::from("a/b");
    let plain = data(1000);
    s.put(&path, plain.clone().into()).await.unwrap();
    let raw = stored(&s, &path).await;
    let attrs = raw.attributes.clone();
    let raw = raw.bytes().await.unwrap();
    assert_eq!(raw.len(), plain.len() + 16, "ciphertext plus the GCM tag");
    assert_ne!(&raw[..plain.len()], &plain[..]);
    for key in ["x-amz-c", "x-amz-3", "x-amz-w", "x-amz-d", "x-amz-i"] {
        assert!(
            attrs.get(&Attribute::Metadata(key.into())).is_some(),
            "{key} in the object metadata"
        );
    }
    assert_eq!(
        attrs
            .get(&Attribute::Metadata("x-amz-c".into()))
            .unwrap()
            .as_ref(),
        "115"
    );
    // The reader sees none of it.
    let r = s.get(&path).await.unwrap();
    assert!(r.attributes.is_empty(), "{:?}", r.attributes);
    assert_eq!(r.meta.size, 1000);
    assert_eq!(r.bytes().await.unwrap(), plain);
    assert_eq!(s.head(&path).await.unwrap().size, 1000);
    let listed: Vec<_> = s.list(None).try_collect().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].size, 1000);
}

#[tokio::test]
async fn envelope_keys_are_reserved() {
    let s = store();
    for key in ["x-amz-c", "X-Amz-Key-V2", "x-amz-crypto-instr-file"] {
        let attributes = Attributes::from_iter([(Attribute::Metadata(key.into()), "1")]);
        let err = s
            .put_opts(&Path::from("r"), "x".into(), attributes.clone().into())
            .await
            .unwrap_err();
        assert!(
            matches!(ours(&err), Error::ReservedMetadataKey(k) if k == key),
            "{err}"
        );
        let err = s
            .put_multipart_opts(&Path::from("r"), attributes.into())
            .await
            .unwrap_err();
        assert!(matches!(ours(&err), Error::ReservedMetadataKey(_)), "{err}");
    }
    assert!(
        s.inner().head(&Path::from("r")).await.is_err(),
        "nothing written"
    );
}

#[tokio::test]
async fn tampering_is_detected_and_nothing_is_released() {
    let s = store();
    let path = Path::from("t");
    s.put(&path, data(100).into()).await.unwrap();
    let raw = stored(&s, &path).await;
    let attrs = raw.attributes.clone();
    let mut raw = raw.bytes().await.unwrap().to_vec();
    raw[5] ^= 1;
    s.inner()
        .put_opts(&path, raw.into(), attrs.into())
        .await
        .unwrap();
    let err = s.get(&path).await.unwrap_err();
    assert!(matches!(ours(&err), Error::Crypto(_)), "{err}");
    // A range under the default policy authenticates the whole object first.
    let err = s.get_range(&path, 50..60).await.unwrap_err();
    assert!(matches!(ours(&err), Error::Crypto(_)), "{err}");
    // The legacy CTR policy fetches only the range's blocks and cannot see the flipped bit elsewhere.
    let ctr = reader(s.inner(), RangePolicy::UnauthenticatedCtr);
    assert_eq!(
        ctr.get_range(&path, 50..60).await.unwrap(),
        data(100).slice(50..60)
    );
}

#[tokio::test]
async fn an_object_without_envelope_is_never_returned_as_plaintext() {
    let s = store();
    let path = Path::from("plain");
    s.inner().put(&path, "not encrypted".into()).await.unwrap();
    let err = s.get(&path).await.unwrap_err();
    assert!(matches!(ours(&err), Error::InstructionFile { .. }), "{err}");
}

#[tokio::test]
async fn ranges_agree_under_both_policies() {
    let s = store();
    let path = Path::from("r");
    let plain = data(1000);
    s.put(&path, plain.clone().into()).await.unwrap();
    for policy in [
        RangePolicy::VerifyWholeObject,
        RangePolicy::UnauthenticatedCtr,
    ] {
        let r = reader(s.inner(), policy);
        for (a, b) in [
            (0, 1),
            (15, 17),
            (16, 32),
            (999, 1000),
            (0, 1000),
            (500, 2000),
        ] {
            let got = r.get_range(&path, a..b).await.unwrap();
            assert_eq!(
                got,
                plain.slice(a as usize..b.min(1000) as usize),
                "{policy:?} {a}..{b}"
            );
        }
        for n in [1u64, 15, 16, 17, 999, 1000, 5000] {
            let got = r
                .get_opts(
                    &path,
                    GetOptions::new().with_range(Some(GetRange::Suffix(n))),
                )
                .await
                .unwrap();
            assert_eq!(got.meta.size, 1000);
            let start = 1000 - n.min(1000) as usize;
            assert_eq!(got.range, start as u64..1000);
            assert_eq!(
                got.bytes().await.unwrap(),
                plain.slice(start..),
                "{policy:?} suffix {n}"
            );
        }
        let got = r.get_ranges(&path, &[0..3, 990..1000, 7..9]).await.unwrap();
        assert_eq!(
            got,
            vec![plain.slice(0..3), plain.slice(990..1000), plain.slice(7..9)]
        );
        let err = r.get_range(&path, 1000..1001).await.unwrap_err();
        assert!(
            matches!(ours(&err), Error::InvalidRange { .. }),
            "{policy:?}: {err}"
        );
    }
}

#[tokio::test]
async fn the_cache_revalidates_by_etag() {
    let s = store();
    let path = Path::from("c");
    s.put(&path, "first version".into()).await.unwrap();
    assert_eq!(s.get_range(&path, 0..5).await.unwrap(), "first");
    // Replaced behind the store's back (another writer): the cached plaintext must not be served.
    let other = reader(s.inner(), RangePolicy::VerifyWholeObject);
    other.put(&path, "second version".into()).await.unwrap();
    assert_eq!(s.get_range(&path, 0..6).await.unwrap(), "second");
    assert_eq!(s.get_range(&path, 7..14).await.unwrap(), "version");
}

#[tokio::test]
async fn objects_larger_than_the_buffer_go_through_a_temporary_file() {
    let s = EncryptedStore::builder(InMemory::new())
        .keyring(keyring())
        .buffer_size(1024)
        .build()
        .unwrap();
    let path = Path::from("big");
    // 3 MiB + 5: several 1 MiB chunks of the spool, and a partial block at the end.
    let plain = data((3 << 20) + 5);
    s.put(&path, plain.clone().into()).await.unwrap();
    let r = s.get(&path).await.unwrap();
    assert_eq!(r.meta.size, plain.len() as u64);
    assert!(r.bytes().await.unwrap() == plain);
    let (a, b) = ((1u64 << 20) - 3, (2u64 << 20) + 7);
    let window = plain.slice(a as usize..b as usize);
    assert!(s.get_range(&path, a..b).await.unwrap() == window);
    let end = plain.len() as u64;
    let got = s
        .get_ranges(&path, &[0..1, a..b, 3 << 20..end])
        .await
        .unwrap();
    assert!(got[1] == window);
    assert_eq!(got[2], plain.slice(3 << 20..));
    // A flipped bit in the last chunk: the get fails before returning a stream, so nothing is released.
    let raw = stored(&s, &path).await;
    let attrs = raw.attributes.clone();
    let mut raw = raw.bytes().await.unwrap().to_vec();
    raw[(3 << 20) + 1] ^= 1;
    s.inner()
        .put_opts(&path, raw.into(), attrs.into())
        .await
        .unwrap();
    let err = s.get(&path).await.unwrap_err();
    assert!(matches!(ours(&err), Error::Crypto(_)), "{err}");
    let err = s.get_range(&path, 0..10).await.unwrap_err();
    assert!(matches!(ours(&err), Error::Crypto(_)), "{err}");
}

#[tokio::test]
async fn multipart_is_one_gcm_stream_with_the_tag_at_the_end() {
    let s = store();
    let path = Path::from("mp");
    let parts = [data(7), data(5 << 20), data(1), data(3 << 20)];
    let upload = s.put_multipart(&path).await.unwrap();
    let mut w = WriteMultipart::new_with_chunk_size(upload, 1 << 20);
    for p in &parts {
        w.write(p);
    }
    w.finish().await.unwrap();
    let all: Vec<u8> = parts.concat();
    assert_eq!(
        s.inner().head(&path).await.unwrap().size,
        all.len() as u64 + 16
    );
    assert_eq!(s.get(&path).await.unwrap().bytes().await.unwrap(), all);
    // An empty upload is a valid empty object.
    let mut upload = s.put_multipart(&path).await.unwrap();
    upload.complete().await.unwrap();
    assert_eq!(s.get(&path).await.unwrap().bytes().await.unwrap().len(), 0);
    // No part after completion.
    let err = upload
        .put_part(PutPayload::from_static(b"x"))
        .await
        .unwrap_err();
    assert!(matches!(ours(&err), Error::UploadFinished), "{err}");
}

#[tokio::test]
async fn instruction_files_are_hidden_carried_and_deleted() {
    let s = EncryptedStore::builder(InMemory::new())
        .keyring(keyring())
        .enable_instruction_file_put(true)
        .build()
        .unwrap();
    let (a, b) = (Path::from("d/a"), Path::from("d/b"));
    s.put(&a, "payload".into()).await.unwrap();
    let instruction = Path::from("d/a.instruction");
    let marker = s.inner().get(&instruction).await.unwrap().attributes;
    assert_eq!(
        marker
            .get(&Attribute::Metadata("x-amz-crypto-instr-file".into()))
            .map(|v| v.as_ref()),
        Some("")
    );
    let listed: Vec<_> = s.list(None).try_collect().await.unwrap();
    let names: Vec<Path> = listed.iter().map(|m| m.location.clone()).collect();
    assert_eq!(names, std::slice::from_ref(&a));
    assert_eq!(
        s.list_with_delimiter(Some(&Path::from("d")))
            .await
            .unwrap()
            .objects
            .len(),
        1
    );
    s.copy(&a, &b).await.unwrap();
    assert!(s.inner().head(&Path::from("d/b.instruction")).await.is_ok());
    assert_eq!(s.get(&b).await.unwrap().bytes().await.unwrap(), "payload");
    s.delete(&a).await.unwrap();
    assert!(
        s.inner().head(&instruction).await.is_err(),
        "instruction file deleted"
    );
    // Copying a metadata-envelope object over `b` removes b's stale instruction file.
    let meta_store = reader(s.inner(), RangePolicy::VerifyWholeObject);
    meta_store.put(&a, "inline".into()).await.unwrap();
    meta_store.copy(&a, &b).await.unwrap();
    assert!(s
        .inner()
        .head(&Path::from("d/b.instruction"))
        .await
        .is_err());
    assert_eq!(s.get(&b).await.unwrap().bytes().await.unwrap(), "inline");
    s.rename(&b, &Path::from("d/c")).await.unwrap();
    assert_eq!(
        s.get(&Path::from("d/c"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
        "inline"
    );
}

#[tokio::test]
async fn the_commitment_policy_gates_reads() {
    let inner = InMemory::new();
    let v2 = EncryptedStore::builder(inner.clone())
        .keyring(keyring())
        .commitment_policy(CommitmentPolicy::ForbidEncryptAllowDecrypt)
        .build()
        .unwrap();
    let path = Path::from("v2");
    v2.put(&path, "old".into()).await.unwrap();
    let strict = reader(&inner, RangePolicy::VerifyWholeObject);
    let err = strict.get(&path).await.unwrap_err();
    assert!(matches!(ours(&err), Error::Policy(_)), "{err}");
    assert!(err.source().is_some());
    assert_eq!(v2.get(&path).await.unwrap().bytes().await.unwrap(), "old");
}

#[test]
fn the_builder_refuses_inconsistent_options() {
    let e = EncryptedStore::builder(InMemory::new())
        .keyring(keyring())
        .range_policy(RangePolicy::UnauthenticatedCtr)
        .build()
        .unwrap_err();
    assert_eq!(e, ConfigError::UnauthenticatedRangesNotEnabled);
    let e = EncryptedStore::builder(InMemory::new())
        .keyring(keyring())
        .inner_keeps_metadata(false)
        .enable_instruction_file_put(true)
        .build()
        .unwrap_err();
    assert_eq!(e, ConfigError::MetadataUnsupported);
    let e = EncryptedStore::builder(InMemory::new())
        .build()
        .unwrap_err();
    assert_eq!(e, ConfigError::NoMaterials);
    let e = EncryptedStore::builder(InMemory::new())
        .keyring(keyring())
        .buffer_size(15)
        .build()
        .unwrap_err();
    assert_eq!(e, ConfigError::BufferSize(15));
}
