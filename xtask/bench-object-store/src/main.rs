//! `cargo xtask bench object-store`: puts and gets of 256 MiB through `EncryptedStore<AmazonS3>` beside plain
//! `AmazonS3`, on the loopback Garage of `cargo xtask servers` (its `S3EC_TEST_GARAGE_*` variables).
//!
//! Each of `--rounds N` (default 3) rounds runs the plain and the encrypted operation back to back, alternating
//! which goes first, and the report gives the median of the per-round time ratios (encrypted / plain) and each
//! side's median client CPU time (the process CPU clock; a busy server does not blur it). Every put sends new
//! bytes (Garage deduplicates blocks it holds). Figures are only meaningful on a quiet machine; the load average
//! is printed with them. `--rounds 0` skips this part.
//!
//! Then `--parquet MIB` (default 1024, 0 skips it): see [`parquet_read`].

use std::time::Instant;

use anyhow::{Context, Result};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use s3ec_object_store::EncryptedStore;

mod parquet_read;

const SIZE: usize = 256 * 1024 * 1024;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rounds: usize = match args.iter().position(|a| a == "--rounds") {
        Some(i) => args.get(i + 1).context("--rounds N")?.parse()?,
        None => 3,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let parquet_mib: u64 = match args.iter().position(|a| a == "--parquet") {
        Some(i) => args.get(i + 1).context("--parquet MIB")?.parse()?,
        None => 1024,
    };
    rt.block_on(async {
        if rounds > 0 {
            measure(rounds).await?;
        }
        if parquet_mib > 0 {
            parquet_read::measure(garage()?, parquet_mib).await?;
        }
        Ok(())
    })
}

fn env(name: &str) -> Result<String> {
    std::env::var(name).with_context(|| {
        format!("{name} is not set: start `cargo xtask servers` and source the file it writes")
    })
}

fn garage() -> Result<AmazonS3> {
    Ok(AmazonS3Builder::new()
        .with_endpoint(env("S3EC_TEST_GARAGE_ENDPOINT")?)
        .with_allow_http(true)
        .with_region(env("S3EC_TEST_GARAGE_REGION")?)
        .with_bucket_name(env("S3EC_TEST_GARAGE_BUCKET")?)
        .with_access_key_id(env("S3EC_TEST_GARAGE_ACCESS_KEY_ID")?)
        .with_secret_access_key(env("S3EC_TEST_GARAGE_SECRET_ACCESS_KEY")?)
        .with_virtual_hosted_style_request(false)
        .build()?)
}

fn cpu_ns() -> u64 {
    use nix::time::{clock_gettime, ClockId};
    clock_gettime(ClockId::CLOCK_PROCESS_CPUTIME_ID)
        .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or(0)
}

/// Fresh pseudo-random bytes for each put (xorshift, seeded per call).
fn data(seed: u64) -> PutPayload {
    let mut out = vec![0u8; SIZE];
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ seed.wrapping_mul(0x2545_F491_4F6C_DD1D);
    for chunk in out.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    out.into()
}

/// Wall seconds and CPU seconds of one operation.
async fn timed<F: std::future::Future<Output = Result<()>>>(f: F) -> Result<(f64, f64)> {
    let (t, c) = (Instant::now(), cpu_ns());
    f.await?;
    Ok((t.elapsed().as_secs_f64(), (cpu_ns() - c) as f64 / 1e9))
}

type Series = (&'static str, Vec<f64>, Vec<f64>, Vec<f64>);

fn record(series: &mut Series, round: usize, plain: (f64, f64), encrypted: (f64, f64)) {
    println!(
        "  round {round} {}: plain {:.2}s wall {:.2}s CPU, encrypted {:.2}s wall {:.2}s CPU",
        series.0, plain.0, plain.1, encrypted.0, encrypted.1
    );
    series.1.push(encrypted.0 / plain.0);
    series.2.push(plain.1);
    series.3.push(encrypted.1);
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn put(store: &dyn ObjectStore, path: &Path, seed: u64) -> Result<(f64, f64)> {
    let payload = data(seed);
    timed(async {
        store.put(path, payload).await?;
        Ok(())
    })
    .await
}

async fn get(store: &dyn ObjectStore, path: &Path) -> Result<(f64, f64)> {
    timed(async {
        let bytes = store.get(path).await?.bytes().await?;
        anyhow::ensure!(bytes.len() == SIZE, "short read");
        Ok(())
    })
    .await
}

async fn measure(rounds: usize) -> Result<()> {
    let plain = garage()?;
    let keyring = s3ec_local::AesKeyring::new(s3ec_crypto::wrap::AesWrappingKey::generate()?);
    let encrypted = EncryptedStore::builder(garage()?)
        .keyring(keyring)
        .buffer_size(2 * SIZE as u64)
        .build()?;
    let (pp, ep) = (
        Path::from("bench-object-store/plain"),
        Path::from("bench-object-store/encrypted"),
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "object-store on Garage: 256 MiB, {rounds} interleaved rounds, load average {}",
        load.trim()
    );
    let mut results: Vec<Series> = vec![
        ("put", vec![], vec![], vec![]),
        ("get", vec![], vec![], vec![]),
    ];
    for round in 0..rounds {
        let seed = round as u64 * 2;
        let plain_first = round % 2 == 0;
        let (p, e) = if plain_first {
            let p = put(&plain, &pp, seed).await?;
            (p, put(&encrypted, &ep, seed + 1).await?)
        } else {
            let e = put(&encrypted, &ep, seed + 1).await?;
            (put(&plain, &pp, seed).await?, e)
        };
        record(&mut results[0], round, p, e);
        let (p, e) = if plain_first {
            let p = get(&plain, &pp).await?;
            (p, get(&encrypted, &ep).await?)
        } else {
            let e = get(&encrypted, &ep).await?;
            (get(&plain, &pp).await?, e)
        };
        record(&mut results[1], round, p, e);
    }
    for (op, ratios, plain_cpu, enc_cpu) in results {
        println!(
            "{op}: time ratio encrypted/plain median {:.3} (per round: {}); client CPU plain {:.2}s, encrypted {:.2}s",
            median(ratios.clone()),
            ratios.iter().map(|r| format!("{r:.3}")).collect::<Vec<_>>().join(" "),
            median(plain_cpu),
            median(enc_cpu)
        );
    }
    plain.delete(&pp).await?;
    encrypted.delete(&ep).await?;
    Ok(())
}
