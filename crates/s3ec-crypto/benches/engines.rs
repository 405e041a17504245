//! Throughput of the streaming engines on a 64 MiB object fed in 1 MiB chunks.
//!
//! Buffers are allocated and touched once (first touch of fresh memory costs more than the
//! cipher). Decryption benches alternate between the ciphertext and its "re-encryption" so each
//! iteration verifies a real tag: CTR maps ct -> pt -> ct with the same key stream, and the tag
//! of decrypting `pt` is the tag an encryption of `ct` yields.
//! `cargo xtask bench crypto` compares the same engines with one-shot aws-lc-rs GCM.
#![allow(missing_docs)] // criterion's macros generate undocumented items

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use s3ec_crypto::{testing, CbcDecryptor, ContentDecryptor, CtrRangeDecryptor, DataKey};
use s3ec_format::{AlgorithmSuite, ContentNonce};

const SIZE: usize = 64 << 20;
const CHUNK: usize = 1 << 20;

fn nonce_for(suite: AlgorithmSuite, key: &DataKey) -> ContentNonce {
    match suite {
        AlgorithmSuite::AesGcm => ContentNonce::Iv(vec![0x5A; 12]),
        _ => {
            let message_id = [0x3C; 28];
            ContentNonce::Committed {
                message_id,
                commitment: s3ec_crypto::commitment::derive_commitment(key, &message_id).unwrap(),
            }
        }
    }
}

fn encrypt(suite: AlgorithmSuite, key: &DataKey, nonce: &ContentNonce, buf: &mut [u8]) -> [u8; 16] {
    let mut enc = testing::encryptor_with_nonce(suite, key, nonce).unwrap();
    for chunk in buf.chunks_mut(CHUNK) {
        enc.encrypt_in_place(chunk).unwrap();
    }
    enc.finish().unwrap()
}

fn engines(c: &mut Criterion) {
    let key = DataKey::from_slice(&[0x11; 32]).unwrap();
    let mut group = c.benchmark_group(format!("s3ec-crypto/{}", s3ec_crypto::BACKEND_NAME));
    group.throughput(Throughput::Bytes(SIZE as u64));
    group.sample_size(10);
    let mut buf: Vec<u8> = (0..SIZE).map(|i| (i * 7) as u8).collect();

    for (suite, enc_name, dec_name) in [
        (AlgorithmSuite::AesGcm, "gcm-encrypt", "gcm-decrypt"),
        (
            AlgorithmSuite::AesGcmCommitKey,
            "commit-encrypt",
            "commit-decrypt",
        ),
    ] {
        let nonce = nonce_for(suite, &key);
        group.bench_function(enc_name, |b| {
            b.iter(|| encrypt(suite, &key, &nonce, &mut buf))
        });
        let t1 = encrypt(suite, &key, &nonce, &mut buf);
        let mut other = buf.clone();
        let t2 = encrypt(suite, &key, &nonce, &mut other);
        drop(other);
        let mut turn = 0;
        group.bench_function(dec_name, |b| {
            b.iter(|| {
                let mut dec = ContentDecryptor::new(suite, &key, &nonce).unwrap();
                for chunk in buf.chunks_mut(CHUNK) {
                    dec.decrypt_in_place_unverified(chunk).unwrap();
                }
                dec.finish(if turn == 0 { &t1 } else { &t2 }).unwrap();
                turn ^= 1;
            })
        });
    }

    let nonce = nonce_for(AlgorithmSuite::AesGcm, &key);
    group.bench_function("ctr-decrypt", |b| {
        b.iter(|| {
            let mut ctr = CtrRangeDecryptor::new(AlgorithmSuite::AesCtr, &key, &nonce, 0).unwrap();
            for chunk in buf.chunks_mut(CHUNK) {
                ctr.apply(chunk).unwrap();
            }
        })
    });
    group.bench_function("cbc-decrypt", |b| {
        b.iter(|| {
            let mut cbc = CbcDecryptor::new(&key, &[7; 16]).unwrap();
            for chunk in buf.chunks_mut(CHUNK) {
                cbc.decrypt_blocks_in_place(chunk).unwrap();
            }
        })
    });
    group.finish();
}

criterion_group!(benches, engines);
criterion_main!(benches);
