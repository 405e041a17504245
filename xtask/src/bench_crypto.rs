//! `cargo xtask bench crypto`: throughput of the s3ec-crypto engines against the fastest one-shot
//! AES-256-GCM on the machine, all on the same 64 MiB buffer in the same run.
//!
//! References (one-shot seal and open, each printed): aws-lc-rs, ring 0.17 (BoringSSL's VAES/AVX2
//! GCM, which aws-lc lacks) and RustCrypto `aes-gcm` (AES-NI/VAES and CLMUL picked at run time by
//! the `aes` and `polyval` crates; no cfg or target feature needed). The limit is the best of them.
//! Engines, each as `<name> <GB/s> GB/s <ratio>x limit`: streaming GCM and committing GCM (1 MiB
//! chunks), the segment engine on one core (one segment, GHASH combined and tag checked) and on two
//! cores (two segments of the object on two threads; also shown against the one-core figure). CTR
//! and CBC are shown against the open limit for scale only (they are not GCM). The machine is
//! shared and noisy, so every measurement is interleaved with the others over many rounds and the
//! best round counts (the capability of the code, not the load of the neighbours).
//!
//! `OPENSSL_ia32cap=":~0x10000"` hides AVX-512 from AWS-LC (not from ring or RustCrypto): on an
//! AVX-512 machine that reproduces an AVX2-only CPU (Zen 2/3 class) for the comparison.
//!
//! xtask runs in the dev profile; timing needs optimised code, so a debug build re-runs itself
//! through `cargo run --release` (no `target-cpu=native`: AWS-LC picks AES-NI/VAES at run time).

use std::hint::black_box;
use std::process::Command;
use std::time::Instant;

use aes_gcm::aead::{AeadInOut, KeyInit};
use anyhow::{bail, Context, Result};
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use s3ec_crypto::segment::GcmObject;
use s3ec_crypto::{testing, CbcDecryptor, ContentDecryptor, CtrRangeDecryptor, DataKey, GcmKernel};
use s3ec_format::{AlgorithmSuite, ContentNonce};

/// Chunk size the streaming engines are fed with (what an S3 body stream delivers at most).
const CHUNK: usize = 1 << 20;
const DEFAULT_ROUNDS: usize = 40;
/// The buffer size (`--mib`, default 64). A small buffer stays in the caches, so the code's speed
/// shows without the memory bandwidth that neighbours share, and one measurement is short enough
/// to run between two preemptions on a loaded machine (use more rounds).
static SIZE_CELL: std::sync::OnceLock<usize> = std::sync::OnceLock::new();

fn size() -> usize {
    *SIZE_CELL.get().unwrap_or(&(64 << 20))
}

pub fn run(args: &[String]) -> Result<()> {
    let mut rounds = DEFAULT_ROUNDS;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "crypto" => {}
            "--mib" => {
                let mib: usize = it
                    .next()
                    .context("--mib needs a number")?
                    .parse()
                    .context("--mib needs a number")?;
                if mib == 0 || mib > 1024 {
                    bail!("--mib must be 1..=1024");
                }
                let _ = SIZE_CELL.set(mib << 20);
            }
            "--rounds" => {
                rounds = it
                    .next()
                    .context("--rounds needs a number")?
                    .parse()
                    .context("--rounds needs a number")?
            }
            other => {
                bail!("usage: cargo xtask bench crypto [--rounds N] [--mib N] (got `{other}`)")
            }
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
            .args(["--mib", &(size() >> 20).to_string()])
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
struct Best(Vec<(String, f64)>);

impl Best {
    fn record(&mut self, name: &str, secs: f64) {
        let gbps = size() as f64 / secs / 1e9;
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some((_, best)) => *best = best.max(gbps),
            None => self.0.push((name.to_string(), gbps)),
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

/// The three one-shot AES-256-GCM references.
struct References {
    aws_lc: LessSafeKey,
    ring: ring::aead::LessSafeKey,
    rust_crypto: aes_gcm::Aes256Gcm,
    iv: [u8; 12],
}

/// A reference library.
#[derive(Clone, Copy)]
enum Lib {
    AwsLc,
    Ring,
    RustCrypto,
}

impl Lib {
    const ALL: [Lib; 3] = [Lib::AwsLc, Lib::Ring, Lib::RustCrypto];

    fn seal_name(self) -> &'static str {
        match self {
            Lib::AwsLc => "aws-lc-rs-seal",
            Lib::Ring => "ring-seal",
            Lib::RustCrypto => "rustcrypto-seal",
        }
    }

    fn open_name(self) -> &'static str {
        match self {
            Lib::AwsLc => "aws-lc-rs-open",
            Lib::Ring => "ring-open",
            Lib::RustCrypto => "rustcrypto-open",
        }
    }
}

impl References {
    fn new(key: &DataKey, iv: [u8; 12]) -> Result<Self> {
        let k = key.expose_secret();
        Ok(Self {
            aws_lc: LessSafeKey::new(
                UnboundKey::new(&AES_256_GCM, k).map_err(|_| anyhow::anyhow!("aws-lc key"))?,
            ),
            ring: ring::aead::LessSafeKey::new(
                ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, k)
                    .map_err(|_| anyhow::anyhow!("ring key"))?,
            ),
            rust_crypto: aes_gcm::Aes256Gcm::new_from_slice(k)
                .map_err(|_| anyhow::anyhow!("aes-gcm key"))?,
            iv,
        })
    }

    fn seal(&self, lib: Lib, buf: &mut [u8]) -> Result<[u8; 16]> {
        let mut tag = [0u8; 16];
        match lib {
            Lib::AwsLc => tag.copy_from_slice(
                self.aws_lc
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key(self.iv),
                        Aad::empty(),
                        buf,
                    )
                    .map_err(|_| anyhow::anyhow!("aws-lc seal"))?
                    .as_ref(),
            ),
            Lib::Ring => tag.copy_from_slice(
                self.ring
                    .seal_in_place_separate_tag(
                        ring::aead::Nonce::assume_unique_for_key(self.iv),
                        ring::aead::Aad::empty(),
                        buf,
                    )
                    .map_err(|_| anyhow::anyhow!("ring seal"))?
                    .as_ref(),
            ),
            Lib::RustCrypto => {
                let nonce = aes_gcm::Nonce::try_from(&self.iv[..])?;
                tag.copy_from_slice(
                    &self
                        .rust_crypto
                        .encrypt_inout_detached(&nonce, b"", buf.into())
                        .map_err(|_| anyhow::anyhow!("aes-gcm seal"))?,
                );
            }
        }
        Ok(tag)
    }

    /// Opens `buf` (ciphertext followed by its tag) in place.
    fn open(&self, lib: Lib, buf: &mut [u8]) -> Result<()> {
        let fail = || anyhow::anyhow!("one-shot open failed");
        match lib {
            Lib::AwsLc => {
                self.aws_lc
                    .open_in_place(Nonce::assume_unique_for_key(self.iv), Aad::empty(), buf)
                    .map_err(|_| fail())?;
            }
            Lib::Ring => {
                self.ring
                    .open_in_place(
                        ring::aead::Nonce::assume_unique_for_key(self.iv),
                        ring::aead::Aad::empty(),
                        buf,
                    )
                    .map_err(|_| fail())?;
            }
            Lib::RustCrypto => {
                let nonce = aes_gcm::Nonce::try_from(&self.iv[..])?;
                let (body, tag) = buf.split_at_mut(size());
                let tag = aes_gcm::Tag::try_from(&tag[..])?;
                self.rust_crypto
                    .decrypt_inout_detached(&nonce, b"", body.into(), &tag)
                    .map_err(|_| fail())?;
            }
        }
        Ok(())
    }
}

/// Runs `work` on the two halves of `buf` on two threads, each half as one segment starting at its
/// offset, and returns both segments' GHASH values.
fn two_cores(
    buf: &mut [u8],
    work: impl Fn(u64, &mut [u8]) -> Result<s3ec_crypto::segment::SegmentGhash> + Sync,
) -> Result<Vec<s3ec_crypto::segment::SegmentGhash>> {
    let half = buf.len() / 2;
    let (a, b) = buf.split_at_mut(half);
    std::thread::scope(|s| {
        let first = s.spawn(|| work(0, a));
        let second = work(half as u64, b)?;
        let first = first
            .join()
            .map_err(|_| anyhow::anyhow!("segment thread panicked"))??;
        Ok(vec![first, second])
    })
}

fn encrypt_segment(
    obj: &GcmObject,
    offset: u64,
    buf: &mut [u8],
) -> Result<s3ec_crypto::segment::SegmentGhash> {
    let mut seg = obj.segment_encryptor(offset)?;
    stream(buf, |c| Ok(seg.encrypt_in_place(c)?))?;
    Ok(seg.finish()?)
}

fn decrypt_segment(
    obj: &GcmObject,
    offset: u64,
    buf: &mut [u8],
) -> Result<s3ec_crypto::segment::SegmentGhash> {
    let mut seg = obj.segment_decryptor(offset)?;
    stream(buf, |c| Ok(seg.decrypt_in_place_unverified(c)?))?;
    Ok(seg.finish()?)
}

/// The CPU features that decide which AES-GCM code runs, as the standard library detects them.
fn cpu_flags() -> String {
    let mut flags = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        for (name, on) in [
            ("aes", std::is_x86_feature_detected!("aes")),
            ("pclmulqdq", std::is_x86_feature_detected!("pclmulqdq")),
            ("avx2", std::is_x86_feature_detected!("avx2")),
            ("vaes", std::is_x86_feature_detected!("vaes")),
            ("vpclmulqdq", std::is_x86_feature_detected!("vpclmulqdq")),
            ("avx512f", std::is_x86_feature_detected!("avx512f")),
        ] {
            if on {
                flags.push(name);
            }
        }
    }
    flags.join(" ")
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
    let mut plain: Vec<u8> = (0..size()).map(pattern).collect();
    let mut gcm_ct: Vec<u8> = plain.clone();
    let mut commit_ct: Vec<u8> = plain.clone();
    let mut gcm_alt = alternating(AlgorithmSuite::AesGcm, &key, &gcm_nonce, &mut gcm_ct)?;
    let mut commit_alt = alternating(
        AlgorithmSuite::AesGcmCommitKey,
        &key,
        &commit_nonce,
        &mut commit_ct,
    )?;
    let refs = References::new(&key, iv)?;
    // One ciphertext-and-tag buffer shared by the references' opens: every library maps it to the
    // same bytes, so the alternating tags stay valid whichever opened it last.
    let mut ref_ct: Vec<u8> = plain.clone();
    let ref_tags = {
        let t1 = refs.seal(Lib::AwsLc, &mut ref_ct)?;
        let mut again = ref_ct.clone();
        let t2 = refs.seal(Lib::AwsLc, &mut again)?;
        [t1, t2]
    };
    ref_ct.extend_from_slice(&ref_tags[0]);
    let mut ref_turn = 0;
    let mut cbc_buf = plain.clone();
    // Every GCM kernel this CPU runs, each with a segment-engine object bound to it.
    let kernels = GcmKernel::available()
        .into_iter()
        .map(|k| {
            let object = testing::with_gcm_kernel(k, || {
                testing::gcm_object_with_nonce(AlgorithmSuite::AesGcm, &key, &gcm_nonce)
            })??;
            Ok((k, object))
        })
        .collect::<Result<Vec<_>>>()?;

    let mut best = Best(Vec::new());
    for _ in 0..rounds {
        for lib in Lib::ALL {
            best.record(
                lib.seal_name(),
                time(|| {
                    black_box(refs.seal(lib, &mut plain)?);
                    Ok(())
                })?,
            );
            best.record(
                lib.open_name(),
                time(|| {
                    ref_ct[size()..].copy_from_slice(&ref_tags[ref_turn]);
                    ref_turn ^= 1;
                    refs.open(lib, &mut ref_ct)
                })?,
            );
        }
        for (kernel, gcm_object) in &kernels {
            let name = |what: &str| format!("{what}@{}", kernel.name());
            let k = *kernel;
            let forced = |f: &mut dyn FnMut() -> Result<()>| -> Result<f64> {
                testing::with_gcm_kernel(k, || time(f))?
            };
            best.record(
                &name("gcm-encrypt"),
                forced(&mut || {
                    let mut enc =
                        testing::encryptor_with_nonce(AlgorithmSuite::AesGcm, &key, &gcm_nonce)?;
                    stream(&mut plain, |c| Ok(enc.encrypt_in_place(c)?))?;
                    black_box(enc.finish()?);
                    Ok(())
                })?,
            );
            best.record(
                &name("commit-encrypt"),
                forced(&mut || {
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
                &name("gcm-decrypt"),
                forced(&mut || {
                    let mut dec = ContentDecryptor::new(AlgorithmSuite::AesGcm, &key, &gcm_nonce)?;
                    stream(&mut gcm_ct, |c| Ok(dec.decrypt_in_place_unverified(c)?))?;
                    dec.finish(&gcm_alt.next())?;
                    Ok(())
                })?,
            );
            best.record(
                &name("commit-decrypt"),
                forced(&mut || {
                    let mut dec = ContentDecryptor::new(
                        AlgorithmSuite::AesGcmCommitKey,
                        &key,
                        &commit_nonce,
                    )?;
                    stream(&mut commit_ct, |c| Ok(dec.decrypt_in_place_unverified(c)?))?;
                    dec.finish(&commit_alt.next())?;
                    Ok(())
                })?,
            );
            best.record(
                &name("segment-encrypt"),
                forced(&mut || {
                    let part = encrypt_segment(gcm_object, 0, &mut plain)?;
                    black_box(gcm_object.tag(vec![part], size() as u64)?);
                    Ok(())
                })?,
            );
            best.record(
                &name("segment-decrypt"),
                forced(&mut || {
                    let part = decrypt_segment(gcm_object, 0, &mut gcm_ct)?;
                    let _verified =
                        gcm_object.verify(vec![part], size() as u64, &gcm_alt.next())?;
                    Ok(())
                })?,
            );
            best.record(
                &name("segment-encrypt-2cores"),
                forced(&mut || {
                    let parts = two_cores(&mut plain, |o, b| encrypt_segment(gcm_object, o, b))?;
                    black_box(gcm_object.tag(parts, size() as u64)?);
                    Ok(())
                })?,
            );
            best.record(
                &name("segment-decrypt-2cores"),
                forced(&mut || {
                    let parts = two_cores(&mut gcm_ct, |o, b| decrypt_segment(gcm_object, o, b))?;
                    let _verified = gcm_object.verify(parts, size() as u64, &gcm_alt.next())?;
                    Ok(())
                })?,
            );
        }
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

    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "# s3ec-crypto backend {}, {} MiB buffer, {} KiB chunks, best of {rounds} interleaved rounds",
        s3ec_crypto::BACKEND_NAME,
        size() >> 20,
        CHUNK >> 10
    );
    println!(
        "# CPU flags: {}; OPENSSL_ia32cap={}; load average {}",
        cpu_flags(),
        std::env::var("OPENSSL_ia32cap").unwrap_or_else(|_| "(unset)".into()),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut seal = (0.0, "");
    let mut open = (0.0, "");
    for lib in Lib::ALL {
        let (s, o) = (best.get(lib.seal_name()), best.get(lib.open_name()));
        println!("{} {s:.2} GB/s", lib.seal_name());
        println!("{} {o:.2} GB/s", lib.open_name());
        if s > seal.0 {
            seal = (s, lib.seal_name());
        }
        if o > open.0 {
            open = (o, lib.open_name());
        }
    }
    println!("limit-seal {:.2} GB/s ({})", seal.0, seal.1);
    println!("limit-open {:.2} GB/s ({})", open.0, open.1);
    let selected = GcmKernel::selected();
    println!("# GCM kernel chosen at run time: {}", selected.name());
    for (kernel, _) in &kernels {
        let k = kernel.name();
        for (name, limit) in [
            ("gcm-encrypt", seal.0),
            ("gcm-decrypt", open.0),
            ("commit-encrypt", seal.0),
            ("commit-decrypt", open.0),
            ("segment-encrypt", seal.0),
            ("segment-decrypt", open.0),
            ("segment-encrypt-2cores", seal.0),
            ("segment-decrypt-2cores", open.0),
        ] {
            let v = best.get(&format!("{name}@{k}"));
            let one_core = match name.strip_suffix("-2cores") {
                Some(single) => {
                    let single = best.get(&format!("{single}@{k}"));
                    format!(" {:.2}x one core", v / single)
                }
                None => String::new(),
            };
            println!("{name}@{k} {v:.2} GB/s {:.2}x limit{one_core}", v / limit);
        }
    }
    for (name, limit) in [("ctr-decrypt", open.0), ("cbc-decrypt", open.0)] {
        let v = best.get(name);
        println!("{name} {v:.2} GB/s {:.2}x limit", v / limit);
    }
    Ok(())
}
