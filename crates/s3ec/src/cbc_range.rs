//! Ranged gets of legacy AES-CBC objects (suite 0x0070): unauthenticated, behind the legacy-unauthenticated
//! option, as in the reference client.
//!
//! [`crate::range::plan_cbc`] decides which bytes to release. When that depends on the plaintext length (the
//! range reaches into the last block, or is a suffix or open-ended range), the length is read from the padding
//! of the last block with a second, 32-byte GetObject of the last two blocks, pinned to the first response's
//! ETag, *before* any byte is released. That was chosen over widening the first fetch to the end of the object:
//! a widened `a-` or `0-b` window can be arbitrarily large, and holding it until the padding was checked would
//! need memory (or a spool) of its size, while the small extra request keeps memory bounded, reports an exact
//! `Content-Length` and `Content-Range`, and releases nothing from an object whose padding is bad (the error is
//! then the one opaque CBC error of a whole-object get, so no padding oracle is added).

use aws_sdk_s3::operation::get_object::builders::GetObjectFluentBuilder;
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use bytes::BytesMut;
use s3ec_crypto::{CbcDecryptor, CryptoError, DataKey};
use s3ec_format::{ContentNonce, Envelope, StringMap};
use zeroize::Zeroize;

use crate::body::channel;
use crate::client::Client;
use crate::error::{Error, ObjectError};
use crate::output::{clear_checksums, drain_into};
use crate::parallel_get::window;
use crate::range::{plan_cbc, CbcPlan, CbcStep, ContentRange, RangeError, RangeSpec, BLOCK};
use crate::read_plan::Fetch;

const B: usize = BLOCK as usize;

/// Everything a partial CBC range needs from `GetObject::fetch`.
pub(crate) struct CbcRange<'a> {
    pub client: &'a Client,
    pub envelope: &'a Envelope,
    pub context: &'a StringMap,
    pub spec: RangeSpec,
    pub fetched: ContentRange,
    /// The plan's step (`None`: the stored body is not whole blocks).
    pub step: Option<CbcStep>,
    /// How the window of the first response is read (`parallel_get::window`).
    pub fetch: Fetch,
    /// The request as sent, to repeat for the last two blocks.
    pub request: GetObjectFluentBuilder,
    pub out: GetObjectOutput,
    pub into: Option<&'a mut Vec<u8>>,
}

/// Serves a ranged get of a CBC object that [`plan_cbc`] did not plan as [`CbcStep::Whole`].
pub(crate) async fn serve(r: CbcRange<'_>) -> Result<GetObjectOutput, Error> {
    let CbcRange {
        client,
        envelope,
        context,
        spec,
        fetched,
        step,
        fetch,
        request,
        mut out,
        into,
    } = r;
    // A body that is not whole blocks is reported after the policy gates, as the one CBC error, exactly as the
    // whole-object path reports it (the unauthenticated-range gate ran in `read_plan`).
    // The policy gates (legacy content, legacy wrapping, commitment policy) run here, before any key is used.
    let materials = client.open_ranged(envelope, context).await?;
    let Some(step) = step else {
        return Err(CryptoError::LegacyDecrypt.into());
    };
    // After the policy gates: a refused range costs no further request.
    out.body = window(
        std::mem::take(&mut out.body),
        fetch,
        &request,
        out.e_tag.as_deref(),
        fetched,
    );
    let key = materials.data_key();
    let ContentNonce::Iv(iv) = &envelope.nonce else {
        return Err(ObjectError::Malformed("CBC object without an IV").into());
    };
    let plan = match step {
        CbcStep::Partial(p) => p,
        CbcStep::NeedsLength => {
            let len = plaintext_len(request, &out, fetched.total, key, iv).await?;
            match plan_cbc(&spec, fetched, Some(len))? {
                CbcStep::Partial(p) => p,
                _ => return Err(Error::internal("CBC range plan without a length")),
            }
        }
        CbcStep::Whole => return Err(Error::internal("whole CBC object on the ranged path")),
    };
    let body = std::mem::take(&mut out.body);
    let plain = stream(body, key, iv, plan).await?;
    match into {
        Some(buf) => {
            drain_into(plain, buf).await?;
            out.content_length = Some(buf.len() as i64);
        }
        None => {
            out.body = plain;
            out.content_length = Some(plan.emit as i64);
        }
    }
    out.content_range = Some(plan.content_range());
    clear_checksums(&mut out);
    Ok(out)
}

/// Fetches the last two blocks of the `total`-byte object (the same version, by ETag) and returns the plaintext
/// length their padding gives.
async fn plaintext_len(
    request: GetObjectFluentBuilder,
    first: &GetObjectOutput,
    total: u64,
    key: &DataKey,
    iv: &[u8],
) -> Result<u64, Error> {
    let mut request = request.range(CbcPlan::tail_request(total));
    if let Some(etag) = &first.e_tag {
        request = request.if_match(etag);
    }
    if request.get_version_id().is_none() {
        if let Some(v) = &first.version_id {
            request = request.version_id(v);
        }
    }
    let resp = request
        .send()
        .await
        .map_err(|e| Error::s3("GetObject", e))?;
    let want = ContentRange {
        first: total.saturating_sub(2 * BLOCK),
        last: total - 1,
        total,
    };
    let got: ContentRange = resp
        .content_range
        .as_deref()
        .ok_or(RangeError::BadContentRange(String::new()))?
        .parse()?;
    if got != want {
        return Err(RangeError::ShortResponse {
            first: got.first,
            last: got.last,
        }
        .into());
    }
    // At most the two blocks asked for: a server's longer answer is refused as it arrives, not collected.
    let mut body = resp.body;
    let mut tail = Vec::with_capacity(2 * B);
    while let Some(chunk) = body.try_next().await.map_err(Error::io)? {
        if tail.len() + chunk.len() > 2 * B {
            return Err(RangeError::ShortResponse {
                first: got.first,
                last: got.last,
            }
            .into());
        }
        tail.extend_from_slice(&chunk);
    }
    length_from_tail(key, iv, &tail, total)
}

/// The plaintext length of a `total`-byte CBC object from its last two ciphertext blocks (its only block when
/// `total` is 16, chained from the metadata IV). A bad padding is the one opaque CBC error.
pub(crate) fn length_from_tail(
    key: &DataKey,
    iv: &[u8],
    tail: &[u8],
    total: u64,
) -> Result<u64, Error> {
    let expected = total.min(2 * BLOCK);
    if tail.len() as u64 != expected || !total.is_multiple_of(BLOCK) || total == 0 {
        return Err(RangeError::ShortResponse {
            first: total.saturating_sub(tail.len() as u64),
            last: total.saturating_sub(1),
        }
        .into());
    }
    let (chain, last) = tail.split_at(tail.len() - B);
    let chain = if chain.is_empty() { iv } else { chain };
    let mut block = [0u8; B];
    block.copy_from_slice(last);
    let kept = CbcDecryptor::new(key, chain)?.finish(&mut block);
    block.zeroize();
    Ok(total - BLOCK + kept? as u64)
}

/// Decrypts the planned blocks of the fetched window and releases exactly the planned bytes.
///
/// The chaining block (or the metadata IV for block 0) is read before this returns, so the decryptor is ready
/// when the producer task starts; bytes past the last planned block (the extra block of the widened request, the
/// padding) are never decrypted.
pub(crate) async fn stream(
    mut body: ByteStream,
    key: &DataKey,
    meta_iv: &[u8],
    plan: CbcPlan,
) -> Result<ByteStream, Error> {
    let short = || Error::from(RangeError::ShortResponse { first: 0, last: 0 });
    let mut skip = plan.skip;
    let chained = plan.first_block > 0;
    let mut chain = BytesMut::new();
    let mut held = BytesMut::new();
    while skip > 0 || (chained && chain.len() < B) {
        let chunk = body
            .try_next()
            .await
            .map_err(Error::io)?
            .ok_or_else(short)?;
        let d = skip.min(chunk.len() as u64) as usize;
        skip -= d as u64;
        let rest = &chunk[d..];
        let t = if chained {
            (B - chain.len()).min(rest.len())
        } else {
            0
        };
        chain.extend_from_slice(&rest[..t]);
        held.extend_from_slice(&rest[t..]);
    }
    let dec = CbcDecryptor::new(key, if chained { &chain[..] } else { meta_iv })?;
    let (sink, out) = channel(Some(plan.emit));
    tokio::spawn(async move {
        let mut dec = dec;
        let mut want = plan.decrypt_len();
        let mut discard = plan.discard;
        let mut emit = plan.emit;
        loop {
            held.truncate(held.len().min(want as usize));
            let ready = held.len() / B * B;
            if ready > 0 {
                let mut blocks = held.split_to(ready);
                want -= ready as u64;
                if let Err(e) = dec.decrypt_blocks_in_place(&mut blocks) {
                    let _ = sink.send(Err(e.into())).await;
                    return;
                }
                let d = discard.min(ready as u64) as usize;
                discard -= d as u64;
                // Plaintext outside the range (before it, and padding after it) is wiped, not released.
                blocks[..d].zeroize();
                let mut part = blocks.split_off(d);
                let keep = emit.min(part.len() as u64) as usize;
                part[keep..].zeroize();
                part.truncate(keep);
                emit -= part.len() as u64;
                if !part.is_empty() && sink.send(Ok(part.freeze())).await.is_err() {
                    return;
                }
            }
            if emit == 0 {
                return;
            }
            match body.try_next().await {
                Ok(Some(chunk)) => held.extend_from_slice(&chunk),
                Ok(None) => {
                    let _ = sink.send(Err(short())).await;
                    return;
                }
                Err(e) => {
                    let _ = sink.send(Err(Error::io(e))).await;
                    return;
                }
            }
        }
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use aws_lc_rs::cipher::{
        EncryptionContext, PaddedBlockEncryptingKey, UnboundCipherKey, AES_256,
    };
    use aws_smithy_types::body::SdkBody;
    use bytes::Bytes;
    use http_body::Frame;
    use proptest::prelude::*;

    use super::*;

    const KEY: [u8; 32] = [0x5A; 32];
    const IV: [u8; 16] = [0xC3; 16];

    /// CBC/PKCS#7 by aws-lc-rs directly: the reference encryptor, independent of the code under test.
    fn encrypt(plain: &[u8]) -> Vec<u8> {
        let key =
            PaddedBlockEncryptingKey::cbc_pkcs7(UnboundCipherKey::new(&AES_256, &KEY).unwrap())
                .unwrap();
        let mut buf = plain.to_vec();
        key.less_safe_encrypt(&mut buf, EncryptionContext::Iv128(IV.into()))
            .unwrap();
        assert_eq!(buf.len(), (plain.len() / 16 + 1) * 16);
        buf
    }

    fn plaintext(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 + 7) as u8).collect()
    }

    /// What an S3 server answers to a `Range` header over `total` bytes (RFC 9110): `None` is a 416.
    fn server(header: &str, total: u64) -> Option<ContentRange> {
        let (a, b) = header.strip_prefix("bytes=")?.split_once('-')?;
        let last_byte = total.checked_sub(1)?;
        let (first, last) = match (a.parse::<u64>().ok(), b.parse::<u64>().ok()) {
            (None, Some(n)) if n > 0 => (total.saturating_sub(n), last_byte),
            (Some(a), None) => (a, last_byte),
            (Some(a), Some(b)) => (a, b.min(last_byte)),
            _ => return None,
        };
        (first <= last && first < total).then_some(ContentRange { first, last, total })
    }

    /// The bytes a range selects from `pt`, from the RFC text: `None` is a 416.
    fn reference(spec: RangeSpec, pt: &[u8]) -> Option<Vec<u8>> {
        let n = pt.len() as u64;
        let (first, last) = match spec {
            RangeSpec::FromTo { first, last } => (first, last.min(n.checked_sub(1)?)),
            RangeSpec::From { first } => (first, n.checked_sub(1)?),
            RangeSpec::Suffix { len } if len > 0 => (n.saturating_sub(len), n.checked_sub(1)?),
            RangeSpec::Suffix { .. } => return None,
        };
        (first <= last).then(|| pt[first as usize..=last as usize].to_vec())
    }

    /// A body yielding the given chunks.
    struct Chunks(VecDeque<Bytes>);

    impl http_body::Body for Chunks {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            Poll::Ready(self.0.pop_front().map(|c| Ok(Frame::data(c))))
        }
    }

    fn body(bytes: &[u8], chunk: usize) -> ByteStream {
        let chunks = bytes
            .chunks(chunk.max(1))
            .map(Bytes::copy_from_slice)
            .collect();
        ByteStream::new(SdkBody::from_body_1_x(Chunks(chunks)))
    }

    async fn collect(s: ByteStream) -> Result<Vec<u8>, String> {
        s.collect()
            .await
            .map(|b| b.to_vec())
            .map_err(|e| format!("{e:?}"))
    }

    #[derive(Debug)]
    enum Outcome {
        Whole,
        Bytes(Vec<u8>, String),
        Unsatisfiable,
    }

    /// Runs a CBC ranged get of `pt` end to end over an in-memory "server": widened request, plan, the tail
    /// read when the plan asks for it, the decrypting stream.
    async fn run(spec: RangeSpec, ct: &[u8], chunk: usize) -> Result<Outcome, Error> {
        let key = DataKey::from_slice(&KEY).unwrap();
        let total = ct.len() as u64;
        let Some(fetched) = server(&spec.ciphertext_request(), total) else {
            return Ok(Outcome::Unsatisfiable);
        };
        let plan = match plan_cbc(&spec, fetched, None) {
            Ok(CbcStep::Whole) => return Ok(Outcome::Whole),
            Ok(CbcStep::Partial(p)) => p,
            Ok(CbcStep::NeedsLength) => {
                let tail = server(&CbcPlan::tail_request(total), total).unwrap();
                let tail = &ct[tail.first as usize..=tail.last as usize];
                let len = length_from_tail(&key, &IV, tail, total)?;
                match plan_cbc(&spec, fetched, Some(len)) {
                    Ok(CbcStep::Partial(p)) => p,
                    Err(RangeError::Unsatisfiable { .. }) => return Ok(Outcome::Unsatisfiable),
                    other => panic!("{spec}: second plan {other:?}"),
                }
            }
            Err(RangeError::Unsatisfiable { .. }) => return Ok(Outcome::Unsatisfiable),
            Err(e) => return Err(e.into()),
        };
        let window = &ct[fetched.first as usize..=fetched.last as usize];
        let out = stream(body(window, chunk), &key, &IV, plan).await?;
        let got = collect(out)
            .await
            .map_err(|e| Error::io(std::io::Error::other(e)))?;
        assert_eq!(got.len() as u64, plan.emit, "{spec}: emitted length");
        Ok(Outcome::Bytes(got, plan.content_range()))
    }

    async fn check(spec: RangeSpec, len: usize, chunk: usize) {
        let pt = plaintext(len);
        let ct = encrypt(&pt);
        let got = run(spec, &ct, chunk).await;
        match (reference(spec, &pt), got) {
            (Some(want), Ok(Outcome::Bytes(got, cr))) => {
                assert_eq!(got, want, "{spec} over {len} (chunk {chunk})");
                let first = match spec {
                    RangeSpec::Suffix { len: n } => (len as u64).saturating_sub(n),
                    RangeSpec::FromTo { first, .. } | RangeSpec::From { first } => first,
                };
                let last = first + want.len() as u64 - 1;
                assert!(
                    cr == format!("bytes {first}-{last}/{len}")
                        || cr == format!("bytes {first}-{last}/*"),
                    "{spec} over {len}: {cr}"
                );
                // The length is only unknown when the range ended before the last (padding) block.
                if cr.ends_with('*') {
                    assert!(last + 16 < ct.len() as u64, "{spec} over {len}: {cr}");
                }
            }
            (Some(want), Ok(Outcome::Whole)) => {
                assert_eq!(
                    want, pt,
                    "{spec} over {len}: planned whole but selects a part"
                );
            }
            (None, Ok(Outcome::Unsatisfiable)) => {}
            (want, got) => panic!("{spec} over {len}: want {want:?}, got {got:?}"),
        }
    }

    fn edges(n: u64) -> Vec<u64> {
        let mut v = vec![0, 1, 15, 16, 17, 31, 32, 33, 47, 48, 49];
        for d in [0u64, 1, 15, 16, 17, 32] {
            v.push(n.saturating_sub(d));
            v.push(n + d);
        }
        v.sort_unstable();
        v.dedup();
        v
    }

    #[tokio::test]
    async fn every_block_edge_over_lengths_0_to_70_matches_the_reference() {
        for len in 0..=70usize {
            let e = edges(len as u64);
            for &a in &e {
                check(RangeSpec::From { first: a }, len, 16).await;
                check(RangeSpec::Suffix { len: a }, len, 7).await;
                for &b in &e {
                    if a <= b {
                        check(RangeSpec::FromTo { first: a, last: b }, len, 5).await;
                    }
                }
            }
        }
    }

    #[tokio::test]
    async fn any_chunking_gives_the_same_bytes() {
        let spec = RangeSpec::FromTo {
            first: 37,
            last: 170,
        };
        for chunk in [1, 3, 15, 16, 17, 64, 1000] {
            check(spec, 200, chunk).await;
            check(RangeSpec::Suffix { len: 50 }, 200, chunk).await;
            check(RangeSpec::From { first: 190 }, 200, chunk).await;
        }
    }

    /// A range that ends before the last block never reads the padding (as Java never strips it there), and
    /// reports `*` as the complete length.
    #[tokio::test]
    async fn ranges_before_the_last_block_need_no_length() {
        let pt = plaintext(100); // 112 ciphertext bytes: the last block starts at 96
        let ct = encrypt(&pt);
        let spec = RangeSpec::FromTo {
            first: 20,
            last: 79,
        };
        let fetched = server(&spec.ciphertext_request(), 112).unwrap();
        let Ok(CbcStep::Partial(p)) = plan_cbc(&spec, fetched, None) else {
            panic!("a range ending at 79 < 96 is planned at once");
        };
        assert_eq!(p.content_range(), "bytes 20-79/*");
        assert_eq!((p.first_block, p.discard, p.emit), (1, 4, 60));
        // Window 0..=112 widened by the reference formula; the chaining block is block 0 at offset 0.
        assert_eq!((fetched.first, p.skip), (0, 0));
        let key = DataKey::from_slice(&KEY).unwrap();
        let window = &ct[fetched.first as usize..=fetched.last as usize];
        let got = collect(stream(body(window, 9), &key, &IV, p).await.unwrap())
            .await
            .unwrap();
        assert_eq!(got, &pt[20..80]);
        for spec in [
            RangeSpec::FromTo {
                first: 20,
                last: 96,
            },
            RangeSpec::From { first: 20 },
            RangeSpec::Suffix { len: 5 },
        ] {
            let fetched = server(&spec.ciphertext_request(), 112).unwrap();
            assert_eq!(plan_cbc(&spec, fetched, None), Ok(CbcStep::NeedsLength));
        }
    }

    /// The last block's plaintext byte (its pad value, 16 - len % 16) turned to 0 through the chaining block:
    /// an invalid padding whatever the key.
    fn tamper_padding(ct: &mut [u8], len: usize) {
        let pad = (16 - len % 16) as u8;
        let n = ct.len();
        if n >= 32 {
            ct[n - 17] ^= pad;
        }
    }

    #[tokio::test]
    async fn a_bad_padding_is_the_one_cbc_error_and_releases_nothing() {
        for len in [16usize, 17, 31, 40, 70] {
            let pt = plaintext(len);
            let mut ct = encrypt(&pt);
            tamper_padding(&mut ct, len);
            // The whole-object path's error for the same object.
            let key = DataKey::from_slice(&KEY).unwrap();
            let mut whole = ct.clone();
            let whole_err =
                Error::from(CbcDecryptor::open_in_place(&key, &IV, &mut whole).unwrap_err());
            assert!(matches!(
                whole_err,
                Error::Decrypt(crate::DecryptFailure::Authentication)
            ));
            for spec in [
                RangeSpec::From { first: 1 },
                RangeSpec::Suffix { len: 3 },
                RangeSpec::FromTo {
                    first: len as u64 - 1,
                    last: len as u64 + 40,
                },
            ] {
                match run(spec, &ct, 16).await {
                    Err(Error::Decrypt(crate::DecryptFailure::Authentication)) => {}
                    other => panic!("{spec} over tampered {len}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn a_malformed_tail_is_refused() {
        let key = DataKey::from_slice(&KEY).unwrap();
        let ct = encrypt(&plaintext(40));
        assert!(length_from_tail(&key, &IV, &ct[16..], 48).is_ok());
        assert!(matches!(
            length_from_tail(&key, &IV, &ct[20..], 48),
            Err(Error::Object(ObjectError::Range(
                RangeError::ShortResponse { .. }
            )))
        ));
        assert!(matches!(
            length_from_tail(&key, &IV, &ct[..17], 17),
            Err(Error::Object(ObjectError::Range(
                RangeError::ShortResponse { .. }
            )))
        ));
    }

    #[tokio::test]
    async fn a_short_body_ends_in_an_error() {
        let pt = plaintext(100);
        let ct = encrypt(&pt);
        let spec = RangeSpec::FromTo {
            first: 40,
            last: 60,
        };
        let fetched = server(&spec.ciphertext_request(), 112).unwrap();
        let Ok(CbcStep::Partial(p)) = plan_cbc(&spec, fetched, None) else {
            panic!("partial");
        };
        let key = DataKey::from_slice(&KEY).unwrap();
        // Cut inside the blocks to decrypt.
        let window = &ct[fetched.first as usize..50];
        let got = collect(stream(body(window, 8), &key, &IV, p).await.unwrap()).await;
        assert!(got.is_err());
    }

    fn whole(total: u64) -> ContentRange {
        ContentRange {
            first: 0,
            last: total - 1,
            total,
        }
    }

    #[test]
    fn cbc_whole_object_ranges_need_no_length() {
        for spec in [
            RangeSpec::From { first: 0 },
            RangeSpec::FromTo { first: 0, last: 63 },
            RangeSpec::FromTo {
                first: 0,
                last: 1000,
            },
            RangeSpec::Suffix { len: 63 },
            RangeSpec::Suffix { len: 64 },
        ] {
            assert_eq!(
                plan_cbc(&spec, whole(64), None),
                Ok(CbcStep::Whole),
                "{spec}"
            );
        }
        // Bounds inside the last block: the padding decides whether they cover the object.
        for spec in [
            RangeSpec::FromTo { first: 0, last: 48 },
            RangeSpec::FromTo { first: 0, last: 62 },
            RangeSpec::Suffix { len: 62 },
        ] {
            assert_eq!(
                plan_cbc(&spec, whole(64), None),
                Ok(CbcStep::NeedsLength),
                "{spec}"
            );
        }
        // With the length known, such a range is served by the ranged path, padding never emitted.
        let Ok(CbcStep::Partial(p)) = plan_cbc(
            &RangeSpec::FromTo { first: 0, last: 62 },
            whole(64),
            Some(50),
        ) else {
            panic!("partial with a length");
        };
        assert_eq!((p.first, p.last, p.emit, p.total), (0, 49, 50, Some(50)));
        assert_eq!(p.content_range(), "bytes 0-49/50");
        // A one-block object may be empty: never Whole without its length.
        assert_eq!(
            plan_cbc(&RangeSpec::From { first: 0 }, whole(16), None),
            Ok(CbcStep::NeedsLength)
        );
        assert_eq!(
            plan_cbc(&RangeSpec::From { first: 0 }, whole(16), Some(0)),
            Err(RangeError::Unsatisfiable { object_size: 0 })
        );
    }

    #[test]
    fn cbc_plans_refuse_bad_lengths_and_short_windows() {
        for total in [15, 17, 33] {
            assert_eq!(
                plan_cbc(&RangeSpec::From { first: 1 }, whole(total), None),
                Err(RangeError::NotWholeBlocks { total })
            );
        }
        assert_eq!(
            plan_cbc(&RangeSpec::From { first: 1 }, whole(32), Some(40)),
            Err(RangeError::NotWholeBlocks { total: 32 })
        );
        // Past the ciphertext: a 416 without reading the padding.
        let past = ContentRange {
            first: 48,
            last: 63,
            total: 64,
        };
        assert_eq!(
            plan_cbc(&RangeSpec::From { first: 64 }, past, None),
            Err(RangeError::Unsatisfiable { object_size: 0 })
        );
        assert_eq!(
            plan_cbc(&RangeSpec::Suffix { len: 0 }, whole(64), None),
            Err(RangeError::Unsatisfiable { object_size: 0 })
        );
        // The chaining block (block 1 for a range from byte 40) must be in the window.
        let spec = RangeSpec::FromTo {
            first: 40,
            last: 45,
        };
        let window = ContentRange {
            first: 32,
            last: 63,
            total: 128,
        };
        assert!(matches!(
            plan_cbc(&spec, window, None),
            Err(RangeError::ShortResponse { .. })
        ));
        let window = ContentRange {
            first: 16,
            last: 40,
            total: 128,
        };
        assert!(matches!(
            plan_cbc(&spec, window, None),
            Err(RangeError::ShortResponse { .. })
        ));
        let window = ContentRange {
            first: 16,
            last: 47,
            total: 128,
        };
        assert_eq!(
            plan_cbc(&spec, window, None),
            Ok(CbcStep::Partial(CbcPlan {
                skip: 0,
                first_block: 2,
                discard: 8,
                emit: 6,
                first: 40,
                last: 45,
                total: None,
            }))
        );
    }

    proptest! {
        #[test]
        fn cbc_planning_never_panics(first in any::<u64>(), last in any::<u64>(), blocks in 1u64..=u64::MAX / 16,
                                     a in any::<u64>(), b in any::<u64>(), len in proptest::option::of(any::<u64>()), form in 0u8..3) {
            let spec = match form {
                0 => RangeSpec::FromTo { first: a.min(b), last: a.max(b) },
                1 => RangeSpec::From { first: a },
                _ => RangeSpec::Suffix { len: a },
            };
            // Whole blocks (anything else is refused first), and what a parsed Content-Range guarantees:
            // first <= last < total.
            let total = blocks * 16;
            let (first, last) = (first.min(last) % total, first.max(last) % total);
            let fetched = ContentRange { first: first.min(last), last: first.max(last), total };
            if let Ok(CbcStep::Partial(p)) = plan_cbc(&spec, fetched, len) {
                prop_assert!(p.decrypt_len() >= p.discard + p.emit);
                prop_assert!(p.discard < BLOCK && p.emit > 0);
            }
        }

    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn any_range_matches_the_reference(len in 0usize..300, a in 0u64..330, b in 0u64..330, form in 0u8..3, chunk in 1usize..70) {
            let spec = match form {
                0 => RangeSpec::FromTo { first: a.min(b), last: a.max(b) },
                1 => RangeSpec::From { first: a },
                _ => RangeSpec::Suffix { len: a },
            };
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            rt.block_on(check(spec, len, chunk));
        }
    }
}
