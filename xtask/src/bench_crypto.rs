//! `cargo xtask bench crypto`: throughput of the s3ec-crypto streaming engines against the
//! one-shot AES-256-GCM of aws-lc-rs on the same 64 MiB buffer, measured in the same run.
//!
//! Prints one line per engine: `gcm-encrypt <GB/s> GB/s <ratio>x limit`. Encrypt engines are
//! compared with the one-shot seal, decrypt engines with the one-shot open; the committing
//! engines with the one-shot call that has their 2-byte AAD (`limit-*-aad`). CTR and CBC are
//! shown against the open limit for scale only (they are not GCM). The machine is
//! shared and noisy, so every measurement is interleaved with the others over many rounds and the
//! best round counts (the capability of the code, not the load of the neighbours).
//!
//! xtask runs in the dev profile; timing needs optimised code, so a debug build re-runs itself
//! through `cargo run --release` (no `target-cpu=native`: AWS-LC picks AES-NI/VAES at run time).

use std::hint::black_box;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use s3ec_crypto::{testing, CbcDecryptor, ContentDecryptor, CtrRangeDecryptor, DataKey};
use s3ec_format::{AlgorithmSuite, ContentNonce};

const SIZE: usize = 64 << 20;
/// Chunk size the streaming engines are fed with (what an S3 body stream delivers at most).
const CHUNK: usize = 1 << 20;
const DEFAULT_ROUNDS: usize = 100;

pub fn run(args: &[String]) -> Result<()> {
    let mut rounds = DEFAULT_ROUNDS;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "crypto" => {}
            "--rounds" => {
                rounds = it
                    .next()
                    .context("--rounds needs a number")?
                    .parse()
                    .context("--rounds needs a number")?
            }
            other => bail!("usage: cargo xtask bench crypto [--rounds N] (got `{other}`)"),
        }
    }
    if cfg!(debug_assertions) && std::env::var_os("S3EC_BENCH_IN_DEBUG").is_none() {
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([
                "run",
                "--quiet",
                "--release",
                "--package",
                "xtask",
                "--",
                "bench",
                "crypto",
            ])
            .args(["--rounds", &rounds.to_string()])
            .status()
            .context("re-running xtask in release mode")?;
        if !status.success() {
            bail!("release run failed: {status}");
        }
        return Ok(());
    }
    measure(rounds)
}

/// Best throughput (GB/s, 10^9 bytes per second) of each named measurement.
struct Best(Vec<(&'static str, f64)>);

impl Best {
    fn record(&mut self, name: &'static str, secs: f64) {
        let gbps = SIZE as f64 / secs / 1e9;
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some((_, best)) => *best = best.max(gbps),
            None => self.0.push((name, gbps)),
        }
    }
    fn get(&self, name: &str) -> f64 {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(0.0, |(_, v)| *v)
    }
}

fn time(f: impl FnOnce() -> Result<()>) -> Result<f64> {
    let start = Instant::now();
    f()?;
    Ok(start.elapsed().as_secs_f64())
}

fn stream(buf: &mut [u8], mut f: impl FnMut(&mut [u8]) -> Result<()>) -> Result<()> {
    for chunk in buf.chunks_mut(CHUNK) {
        f(chunk)?;
    }
    Ok(())
}

/// Tags that let a buffer be decrypted again and again in place: decrypting `ct` (tag `t1`)
/// yields `pt`; decrypting `pt` with the same key stream yields `ct` again, and its tag `t2` is
/// the tag an encryption of `ct` produces. So every timed decryption verifies its tag.
struct Alternating {
    tags: [[u8; 16]; 2],
    turn: usize,
}

fn alternating(
    suite: AlgorithmSuite,
    key: &DataKey,
    nonce: &ContentNonce,
    ct: &mut [u8],
) -> Result<Alternating> {
    let mut enc = testing::encryptor_with_nonce(suite, key, nonce)?;
    enc.encrypt_in_place(ct)?;
    let t1 = enc.finish()?;
    let mut scratch = ct.to_vec();
    let mut enc = testing::encryptor_with_nonce(suite, key, nonce)?;
    enc.encrypt_in_place(&mut scratch)?;
    let t2 = enc.finish()?;
    Ok(Alternating {
        tags: [t1, t2],
        turn: 0,
    })
}

impl Alternating {
    fn next(&mut self) -> [u8; 16] {
        let t = self.tags[self.turn];
        self.turn ^= 1;
        t
    }
}

fn measure(rounds: usize) -> Result<()> {
    let key = DataKey::generate()?;
    let iv = [0x5Au8; 12];
    let gcm_nonce = ContentNonce::Iv(iv.to_vec());
    let message_id = [0x3Cu8; 28];
    let commit_nonce = ContentNonce::Committed {
        message_id,
        commitment: s3ec_crypto::commitment::derive_commitment(&key, &message_id)?,
    };

    // Buffers are allocated and touched once; every measurement reuses them.
    let pattern = |i: usize| (i.wrapping_mul(2_654_435_761) >> 7) as u8;
    let mut plain: Vec<u8> = (0..SIZE).map(pattern).collect();
    let mut gcm_ct: Vec<u8> = plain.clone();
    let mut commit_ct: Vec<u8> = plain.clone();
    let mut gcm_alt = alternating(AlgorithmSuite::AesGcm, &key, &gcm_nonce, &mut gcm_ct)?;
    let mut commit_alt = alternating(
        AlgorithmSuite::AesGcmCommitKey,
        &key,
        &commit_nonce,
        &mut commit_ct,
    )?;
    let mut limit_ct: Vec<u8> = plain.clone();
    limit_ct.extend_from_slice(&[0; 16]);
    let limit_key = LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, key.expose_secret()).map_err(|_| anyhow::anyhow!("key"))?,
    );
    let limit_tags = {
        let mut a = plain.clone();
        let t1 = limit_key
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(iv), Aad::empty(), &mut a)
            .map_err(|_| anyhow::anyhow!("seal"))?;
        limit_ct[..SIZE].copy_from_slice(&a);
        let t2 = limit_key
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(iv), Aad::empty(), &mut a)
            .map_err(|_| anyhow::anyhow!("seal"))?;
        let mut tags = [[0u8; 16]; 2];
        tags[0].copy_from_slice(t1.as_ref());
        tags[1].copy_from_slice(t2.as_ref());
        tags
    };
    let mut limit_turn = 0;
    // The committing suite's GCM call carries a 2-byte AAD; its limit is the one-shot seal/open
    // with that AAD (same key length, same buffer).
    let commit_aad = AlgorithmSuite::AesGcmCommitKey.id_bytes();
    let mut limit_aad_ct: Vec<u8> = plain.clone();
    limit_aad_ct.extend_from_slice(&[0; 16]);
    let limit_aad_tags = {
        let mut a = plain.clone();
        let mut tags = [[0u8; 16]; 2];
        for (i, tag) in tags.iter_mut().enumerate() {
            let t = limit_key
                .seal_in_place_separate_tag(
                    Nonce::assume_unique_for_key([1; 12]),
                    Aad::from(commit_aad),
                    &mut a,
                )
                .map_err(|_| anyhow::anyhow!("seal"))?;
            if i == 0 {
                limit_aad_ct[..SIZE].copy_from_slice(&a);
            }
            tag.copy_from_slice(t.as_ref());
        }
        tags
    };
    let mut limit_aad_turn = 0;
    let mut cbc_buf = plain.clone();

    let mut best = Best(Vec::new());
    for _ in 0..rounds {
        best.record(
            "limit-seal",
            time(|| {
                let tag = limit_key
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key(iv),
                        Aad::empty(),
                        &mut plain,
                    )
                    .map_err(|_| anyhow::anyhow!("seal"))?;
                let _ = black_box(tag);
                Ok(())
            })?,
        );
        best.record(
            "gcm-encrypt",
            time(|| {
                let mut enc =
                    testing::encryptor_with_nonce(AlgorithmSuite::AesGcm, &key, &gcm_nonce)?;
                stream(&mut plain, |c| Ok(enc.encrypt_in_place(c)?))?;
                black_box(enc.finish()?);
                Ok(())
            })?,
        );
        best.record(
            "limit-seal-aad",
            time(|| {
                let tag = limit_key
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key([1; 12]),
                        Aad::from(commit_aad),
                        &mut plain,
                    )
                    .map_err(|_| anyhow::anyhow!("seal"))?;
                let _ = black_box(tag);
                Ok(())
            })?,
        );
        best.record(
            "commit-encrypt",
            time(|| {
                let mut enc = testing::encryptor_with_nonce(
                    AlgorithmSuite::AesGcmCommitKey,
                    &key,
                    &commit_nonce,
                )?;
                stream(&mut plain, |c| Ok(enc.encrypt_in_place(c)?))?;
                black_box(enc.finish()?);
                Ok(())
            })?,
        );
        best.record(
            "limit-open",
            time(|| {
                limit_ct[SIZE..].copy_from_slice(&limit_tags[limit_turn]);
                limit_turn ^= 1;
                limit_key
                    .open_in_place(
                        Nonce::assume_unique_for_key(iv),
                        Aad::empty(),
                        &mut limit_ct,
                    )
                    .map_err(|_| anyhow::anyhow!("one-shot open failed"))?;
                Ok(())
            })?,
        );
        best.record(
            "gcm-decrypt",
            time(|| {
                let mut dec = ContentDecryptor::new(AlgorithmSuite::AesGcm, &key, &gcm_nonce)?;
                stream(&mut gcm_ct, |c| Ok(dec.decrypt_in_place_unverified(c)?))?;
                dec.finish(&gcm_alt.next())?;
                Ok(())
            })?,
        );
        best.record(
            "limit-open-aad",
            time(|| {
                limit_aad_ct[SIZE..].copy_from_slice(&limit_aad_tags[limit_aad_turn]);
                limit_aad_turn ^= 1;
                limit_key
                    .open_in_place(
                        Nonce::assume_unique_for_key([1; 12]),
                        Aad::from(commit_aad),
                        &mut limit_aad_ct,
                    )
                    .map_err(|_| anyhow::anyhow!("one-shot open failed"))?;
                Ok(())
            })?,
        );
        best.record(
            "commit-decrypt",
            time(|| {
                let mut dec =
                    ContentDecryptor::new(AlgorithmSuite::AesGcmCommitKey, &key, &commit_nonce)?;
                stream(&mut commit_ct, |c| Ok(dec.decrypt_in_place_unverified(c)?))?;
                dec.finish(&commit_alt.next())?;
                Ok(())
            })?,
        );
        best.record(
            "ctr-decrypt",
            time(|| {
                let mut ctr = CtrRangeDecryptor::new(AlgorithmSuite::AesCtr, &key, &gcm_nonce, 0)?;
                stream(&mut gcm_ct, |c| Ok(ctr.apply(c)?))?;
                Ok(())
            })?,
        );
        best.record(
            "cbc-decrypt",
            time(|| {
                let mut cbc = CbcDecryptor::new(&key, &[7; 16])?;
                stream(&mut cbc_buf, |c| Ok(cbc.decrypt_blocks_in_place(c)?))?;
                Ok(())
            })?,
        );
        // Undo the unauthenticated CTR pass so the next round's GCM decryption sees its input.
        let mut ctr = CtrRangeDecryptor::new(AlgorithmSuite::AesCtr, &key, &gcm_nonce, 0)?;
        ctr.apply(&mut gcm_ct)?;
    }

    let seal = best.get("limit-seal");
    let open = best.get("limit-open");
    println!(
        "# s3ec-crypto backend {}, 64 MiB buffer, {} KiB chunks, best of {rounds} rounds",
        s3ec_crypto::BACKEND_NAME,
        CHUNK >> 10
    );
    println!("limit-seal {seal:.2} GB/s (aws-lc-rs one-shot)");
    println!("limit-open {open:.2} GB/s (aws-lc-rs one-shot)");
    let seal_aad = best.get("limit-seal-aad");
    let open_aad = best.get("limit-open-aad");
    println!("limit-seal-aad {seal_aad:.2} GB/s (aws-lc-rs one-shot, 2-byte AAD)");
    println!("limit-open-aad {open_aad:.2} GB/s (aws-lc-rs one-shot, 2-byte AAD)");
    for (name, limit) in [
        ("gcm-encrypt", seal),
        ("gcm-decrypt", open),
        ("commit-encrypt", seal_aad),
        ("commit-decrypt", open_aad),
        ("ctr-decrypt", open),
        ("cbc-decrypt", open),
    ] {
        let v = best.get(name);
        println!("{name} {v:.2} GB/s {:.2}x limit", v / limit);
    }
    Ok(())
}
