//! Thin entry points for the fuzz targets in `fuzz/` (`unwrap_keys`, `content_engines`). Not part of
//! the API: hidden, and free to change.
//!
//! Each function takes arbitrary bytes, runs the public engines on them and asserts the invariants
//! that must hold for any input: no panic, the same answer for every chunking of the same bytes, and
//! no plaintext left in the caller's buffer when authenticated decryption fails. GCM runs on every
//! kernel this CPU has ([`GcmKernel::available`]), each compared with the library's.

use s3ec_format::{AlgorithmSuite, ContentNonce};

use crate::commitment::{COMMITMENT_LEN, MESSAGE_ID_LEN};
use crate::wrap::{self, AesWrappingKey, RsaPrivateKey};
use crate::{
    CbcDecryptor, ContentDecryptor, ContentEncryptor, CtrRangeDecryptor, DataKey, GcmKernel,
    BLOCK_LEN, TAG_LEN,
};

/// The fixed AES wrapping key of the `unwrap_keys` target (test data, not a secret).
const FUZZ_AES_KEY: [u8; 32] = [0x5a; 32];
/// The fixed data key of the `content_engines` target (test data, not a secret).
const FUZZ_DATA_KEY: [u8; 32] = [0x3c; 32];

fn suite_of(selector: u8) -> AlgorithmSuite {
    AlgorithmSuite::ALL[usize::from(selector) % AlgorithmSuite::ALL.len()]
}

/// Runs every key unwrap of [`crate::wrap`] on `data[1..]` (`data[0]` picks the suite the
/// suite-bound unwraps check). Each must return a typed result; the V1 RSA unwrap, which answers
/// a synthetic key instead of an error on bad padding, must at least be deterministic.
pub fn unwrap_keys(rsa: &RsaPrivateKey, data: &[u8]) {
    let Some((&selector, wrapped)) = data.split_first() else {
        return;
    };
    let suite = suite_of(selector);
    let aes = AesWrappingKey::from_raw(&FUZZ_AES_KEY).expect("a 32-byte AES key is valid");
    let _ = wrap::aes_gcm_unwrap(&aes, wrapped, suite);
    let _ = wrap::aes_wrap_unwrap(&aes, wrapped);
    let _ = wrap::aes_v1_unwrap(&aes, wrapped);
    let _ = wrap::rsa_oaep_sha1_unwrap(rsa, wrapped, suite);
    let _ = wrap::rsa_oaep_sha256_unwrap(rsa, wrapped);
    let first = wrap::rsa_v1_unwrap(rsa, wrapped).map(|k| *k.expose_secret());
    let second = wrap::rsa_v1_unwrap(rsa, wrapped).map(|k| *k.expose_secret());
    assert_eq!(
        first.is_ok(),
        second.is_ok(),
        "V1 RSA unwrap is not deterministic"
    );
    if let (Ok(a), Ok(b)) = (first, second) {
        assert!(a == b, "V1 RSA unwrap is not deterministic");
    }
}

/// A cursor over the fuzz input that never fails: it yields zeros once the input runs out.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else {
            return 0;
        };
        self.0 = rest;
        b
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for b in &mut out {
            *b = self.byte();
        }
        out
    }
}

/// Splits `len` bytes into chunk lengths drawn from `sizes` (cycled; a zero size is an empty
/// chunk, which the engines must accept too).
fn chunks(len: usize, sizes: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut left = len;
    let mut i = 0;
    while left > 0 {
        let size = sizes.get(i % sizes.len().max(1)).copied().unwrap_or(0);
        let size = usize::from(size).min(left);
        if size == 0 && out.len() > 2 * len + 8 {
            // A run of zero sizes: finish in one chunk rather than loop.
            out.push(left);
            break;
        }
        out.push(size);
        left -= size;
        i += 1;
    }
    out
}

/// Input layout: selector byte (engine and suite), chunk-size count `n` and `n` chunk sizes,
/// an IV length byte and IV, a 28-byte message id, a 28-byte commitment, an 8-byte first block,
/// then the ciphertext (for GCM, the body followed by the tag).
pub fn content_engines(data: &[u8]) {
    let mut input = Input(data);
    let selector = input.byte();
    let n = usize::from(input.byte() % 16);
    let sizes: Vec<u8> = (0..n).map(|_| input.byte()).collect();
    let iv_len = usize::from(input.byte() % 33);
    let iv: Vec<u8> = (0..iv_len).map(|_| input.byte()).collect();
    let message_id = input.array::<MESSAGE_ID_LEN>();
    let commitment = input.array::<COMMITMENT_LEN>();
    let first_block = u64::from_be_bytes(input.array::<8>());
    let ciphertext = input.0;

    let key = DataKey::from_slice(&FUZZ_DATA_KEY).expect("a 32-byte data key is valid");
    let suite = suite_of(selector >> 2);
    let nonce = if selector & 0x80 == 0 {
        ContentNonce::Iv(iv.clone())
    } else {
        ContentNonce::Committed {
            message_id,
            commitment,
        }
    };
    match selector & 3 {
        0 => gcm(suite, &key, &nonce, ciphertext, &sizes),
        1 => ctr(suite, &key, &nonce, first_block, ciphertext, &sizes),
        2 => cbc(&key, &iv, ciphertext, &sizes),
        _ => round_trip(suite, &key, first_block, ciphertext, &sizes),
    }
}

/// GCM on arbitrary bytes: the streaming and one-shot paths agree for any chunking, and a failed
/// one-shot open leaves no plaintext behind.
fn gcm(suite: AlgorithmSuite, key: &DataKey, nonce: &ContentNonce, ct: &[u8], sizes: &[u8]) {
    let mut whole = ct.to_vec();
    let one_shot = GcmKernel::Library
        .forced(|| {
            ContentDecryptor::open_in_place(suite, key, nonce, &mut whole).map(|p| p.to_vec())
        })
        .expect("the library's GCM always runs");
    if one_shot.is_err() {
        // Either refused before decrypting (buffer untouched) or wiped.
        assert!(
            whole.iter().all(|&b| b == 0) || whole == ct,
            "failed GCM open left decrypted bytes in the buffer"
        );
    }
    // Every kernel, chunked, must agree with the library's one-shot result.
    for kernel in GcmKernel::available() {
        let streamed = kernel
            .forced(|| gcm_chunked(suite, key, nonce, ct, sizes))
            .expect("an available kernel runs");
        assert_eq!(
            one_shot.as_ref().ok(),
            streamed.as_ref().ok(),
            "chunked GCM on {kernel:?} disagrees with the library's one-shot"
        );
    }
}

fn gcm_chunked(
    suite: AlgorithmSuite,
    key: &DataKey,
    nonce: &ContentNonce,
    ct: &[u8],
    sizes: &[u8],
) -> Result<Vec<u8>, ()> {
    (|| {
        let body_len = ct.len().checked_sub(TAG_LEN).ok_or(())?;
        let mut dec = ContentDecryptor::new(suite, key, nonce).map_err(|_| ())?;
        let mut body = ct[..body_len].to_vec();
        let mut at = 0;
        for len in chunks(body_len, sizes) {
            dec.decrypt_in_place_unverified(&mut body[at..at + len])
                .map_err(|_| ())?;
            at += len;
        }
        dec.finish(&ct[body_len..]).map_err(|_| ())?;
        Ok::<_, ()>(body)
    })()
}

/// CTR range decryption: any chunking gives the same bytes as one call.
fn ctr(
    suite: AlgorithmSuite,
    key: &DataKey,
    nonce: &ContentNonce,
    first_block: u64,
    ct: &[u8],
    sizes: &[u8],
) {
    let Ok(mut one) = CtrRangeDecryptor::new(suite, key, nonce, first_block) else {
        return;
    };
    let mut whole = ct.to_vec();
    let one_shot = one.apply(&mut whole).map(|()| whole);
    let mut dec = CtrRangeDecryptor::new(suite, key, nonce, first_block)
        .expect("the same parameters were accepted a moment ago");
    let mut buf = ct.to_vec();
    let mut at = 0;
    let mut chunked = Ok(());
    for len in chunks(buf.len(), sizes) {
        chunked = chunked.and_then(|()| dec.apply(&mut buf[at..at + len]));
        at += len;
    }
    assert_eq!(
        one_shot.ok(),
        chunked.ok().map(|()| buf),
        "chunked CTR disagrees with one-shot"
    );
}

/// CBC: a failed open wipes the buffer; whole-block chunking agrees with the one-shot open.
fn cbc(key: &DataKey, iv: &[u8], ct: &[u8], sizes: &[u8]) {
    let mut whole = ct.to_vec();
    let one_shot = CbcDecryptor::open_in_place(key, iv, &mut whole).map(|p| p.to_vec());
    if one_shot.is_err() {
        assert!(
            whole.iter().all(|&b| b == 0),
            "failed CBC open left bytes in the buffer"
        );
    }
    let streamed = (|| {
        let mut dec = CbcDecryptor::new(key, iv).map_err(|_| ())?;
        let last_start = ct.len().checked_sub(BLOCK_LEN).ok_or(())?;
        let mut buf = ct.to_vec();
        let mut at = 0;
        for len in chunks(last_start / BLOCK_LEN, sizes) {
            let span = len * BLOCK_LEN;
            dec.decrypt_blocks_in_place(&mut buf[at..at + span])
                .map_err(|_| ())?;
            at += span;
        }
        let (head, last) = buf.split_at_mut(at);
        let kept = dec.finish(last).map_err(|_| ())?;
        let mut out = head.to_vec();
        out.extend_from_slice(&last[..kept]);
        Ok::<_, ()>(out)
    })();
    assert_eq!(
        one_shot.ok(),
        streamed.ok(),
        "chunked CBC disagrees with one-shot"
    );
}

/// Encrypts `plaintext` (GCM suites), decrypts it back in arbitrary chunks, checks that a flipped
/// tag bit is refused with a wiped buffer, and that CTR from `first_block` matches the GCM body.
fn round_trip(
    suite: AlgorithmSuite,
    key: &DataKey,
    first_block: u64,
    plaintext: &[u8],
    sizes: &[u8],
) {
    let kernels = GcmKernel::available();
    let kernel = kernels[(first_block % kernels.len() as u64) as usize];
    let Some(Ok((mut enc, nonce))) = kernel.forced(|| ContentEncryptor::new(suite, key)) else {
        return;
    };
    let mut sealed = plaintext.to_vec();
    let mut at = 0;
    for len in chunks(sealed.len(), sizes) {
        enc.encrypt_in_place(&mut sealed[at..at + len])
            .expect("encryption of a small buffer succeeds");
        at += len;
    }
    sealed.extend_from_slice(&enc.finish().expect("finishing GCM succeeds"));
    let ct_body = sealed[..plaintext.len()].to_vec();

    let mut opened = sealed.clone();
    let got = ContentDecryptor::open_in_place(suite, key, &nonce, &mut opened)
        .expect("own ciphertext must decrypt");
    assert_eq!(got, plaintext, "round trip changed the plaintext");
    gcm(suite, key, &nonce, &sealed, sizes);

    let mut forged = sealed.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1 << (first_block % 8);
    assert!(
        ContentDecryptor::open_in_place(suite, key, &nonce, &mut forged).is_err(),
        "a forged tag was accepted"
    );
    assert!(
        forged.iter().all(|&b| b == 0),
        "forged open left bytes in the buffer"
    );

    let blocks = plaintext.len().div_ceil(BLOCK_LEN) as u64;
    let start = if blocks == 0 { 0 } else { first_block % blocks };
    let from = (start as usize * BLOCK_LEN).min(plaintext.len());
    if let Ok(mut range) = CtrRangeDecryptor::new(suite, key, &nonce, start) {
        let mut window = ct_body[from..].to_vec();
        range
            .apply(&mut window)
            .expect("a short range is in bounds");
        assert_eq!(window, &plaintext[from..], "CTR range disagrees with GCM");
    }
}

/// Input layout: selector byte (bit 0: suite 0x0072 or 0x0073; bits 1-7 modulo 6: the tampering;
/// bits 4-6: the kernel; bit 7: segments encrypted in place or appended to buffers of their own), a cut
/// count `n` and `n` two-byte cut points, a two-byte tamper position, then the plaintext.
///
/// The plaintext is encrypted by the segments the cuts make (processed last first), which must give
/// the sequential engine's bytes and tag; decrypted by the same segments (first first), which must
/// verify and give the plaintext back; then tampered with (a bit flip in the ciphertext or tag, a
/// part dropped, duplicated or cut short, or the object truncated), which must fail to verify.
pub fn gcm_segments(data: &[u8]) {
    use crate::segment::{GcmObject, SegmentGhash};

    let mut input = Input(data);
    let selector = input.byte();
    let n = usize::from(input.byte() % 12);
    let cuts: Vec<usize> = (0..n)
        .map(|_| usize::from(u16::from_be_bytes(input.array::<2>())))
        .collect();
    let tamper = usize::from(u16::from_be_bytes(input.array::<2>()));
    let plaintext = input.0;
    let len = plaintext.len();

    let suite = if selector & 1 == 0 {
        AlgorithmSuite::AesGcm
    } else {
        AlgorithmSuite::AesGcmCommitKey
    };
    let key = DataKey::from_slice(&FUZZ_DATA_KEY).expect("a 32-byte data key is valid");
    // The library's sequential engine is the reference; the segments run on a kernel the input
    // picks.
    let kernels = GcmKernel::available();
    let kernel = kernels[usize::from((selector >> 4) & 7) % kernels.len()];
    let (mut enc, nonce) = GcmKernel::Library
        .forced(|| ContentEncryptor::new(suite, &key))
        .expect("the library's GCM always runs")
        .expect("GCM suites encrypt");
    let mut expected = plaintext.to_vec();
    enc.encrypt_in_place(&mut expected)
        .expect("encryption of a small buffer succeeds");
    let expected_tag = enc.finish().expect("finishing GCM succeeds");

    let mut points: Vec<usize> = cuts.iter().map(|c| c % (len + 1)).collect();
    points.extend([0, len]);
    points.sort_unstable();
    points.dedup();
    let segs: Vec<(usize, usize)> = points.windows(2).map(|w| (w[0], w[1])).collect();

    let object = kernel
        .forced(|| crate::testing::gcm_object_with_nonce(suite, &key, &nonce))
        .expect("an available kernel runs")
        .expect("the nonce was just made for this key");
    let mut buf = plaintext.to_vec();
    let mut parts: Vec<SegmentGhash> = Vec::new();
    // Bit 7 of the selector: each segment encrypted onto the end of a buffer of its own instead of
    // in place (the same bytes must come out).
    let appended = selector & 0x80 != 0;
    for &(a, b) in segs.iter().rev() {
        let mut seg = object.segment_encryptor(a as u64).expect("offset in range");
        if appended {
            let mut out = Vec::with_capacity(b - a);
            seg.encrypt_append(&buf[a..b], &mut out)
                .expect("a small segment encrypts");
            buf[a..b].copy_from_slice(&out);
        } else {
            seg.encrypt_in_place(&mut buf[a..b])
                .expect("a small segment encrypts");
        }
        parts.push(seg.finish().expect("segment finishes"));
    }
    assert!(
        buf == expected,
        "segment ciphertext differs from the sequential engine"
    );
    let tag = object
        .tag(parts, len as u64)
        .expect("parts tile the object");
    assert_eq!(
        tag, expected_tag,
        "segment tag differs from the sequential engine"
    );

    let object = kernel
        .forced(|| GcmObject::for_decrypt(suite, &key, &nonce))
        .expect("an available kernel runs")
        .expect("own nonce is accepted");
    let decrypt = |buf: &mut [u8], a: usize, b: usize| {
        let mut seg = object.segment_decryptor(a as u64).expect("offset in range");
        seg.decrypt_in_place_unverified(&mut buf[a..b])
            .expect("a small segment decrypts");
        seg.finish().expect("segment finishes")
    };
    let mut parts: Vec<SegmentGhash> = segs.iter().map(|&(a, b)| decrypt(&mut buf, a, b)).collect();
    assert!(
        object.verify(parts.clone(), len as u64, &tag).is_ok(),
        "own segments do not verify"
    );
    assert!(buf == plaintext, "segment decryption changed the plaintext");

    let mut total = len;
    let mut tag = tag;
    match (selector >> 1) % 6 {
        0 if len > 0 => {
            let i = tamper % len;
            let mut body = expected.clone();
            body[i] ^= 1 << (selector >> 5);
            let (a, b) = *segs
                .iter()
                .find(|(a, b)| (*a..*b).contains(&i))
                .expect("tiled");
            let mut bad = body;
            parts.retain(|p| p.offset() != a as u64);
            parts.push(decrypt(&mut bad, a, b));
        }
        1 if !parts.is_empty() => {
            parts.remove(tamper % parts.len());
        }
        2 if !parts.is_empty() => {
            let p = parts[tamper % parts.len()].clone();
            parts.push(p);
        }
        3 if len > 0 => {
            let i = tamper % parts.len();
            let (a, b) = segs[i];
            let mut scratch = expected.clone();
            parts[i] = decrypt(&mut scratch, a, b - 1);
        }
        4 if len > 0 => {
            let (a, _) = segs[segs.len() - 1];
            let mut scratch = expected.clone();
            parts.pop();
            if a < len - 1 {
                parts.push(decrypt(&mut scratch, a, len - 1));
            }
            total = len - 1;
        }
        _ => tag[tamper % TAG_LEN] ^= 1 << (selector >> 5),
    }
    assert!(
        object.verify(parts, total as u64, &tag).is_err(),
        "tampered segments verified"
    );
}
