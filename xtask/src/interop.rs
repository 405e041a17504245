//! `cargo xtask interop [--peer P]... [--case TEXT]`: the live matrix against moto on 127.0.0.1 (`--case`: only
//! the objects whose case name contains TEXT).
//!
//! Every participant (the official clients of [`crate::peers::PEERS`] and, once its harness
//! builds, s3ec itself as the participant `s3ec`) writes each configuration it supports, and
//! every participant that supports reading that configuration reads it back; a cell passes when
//! the plaintext matches. A participant that cannot be installed fails every cell it is in:
//! nothing is skipped silently. Prints a writer-case x reader matrix and closes with
//! `N passed, M failed`.
//!
//! A writer that re-encrypts instruction files also re-wraps one AES instruction-file object of each
//! format to a new AES key (new material description); every reader then reads it with the new key only.
//! Readers that serve ranged gets also read a slice of every larger V2/V3 object stored in metadata
//! (cases `...+range`). The participant `s3ec-ts` is s3ec behind its test server (`crates/s3ec-test-server`),
//! driven over AWS's test-server protocol. The participant `s3ec-os` is s3ec's `object_store` adapter
//! (`EncryptedStore<AmazonS3>`); it also writes one Parquet file with the `parquet` crate (case `parquet`),
//! which every KMS reader and the s3ec CLI read back.

use std::collections::BTreeMap;
use std::fs;
use std::time::Instant;

use anyhow::{bail, Result};

use crate::peers::{self, Lab, Peer, PeerProcess, PEERS};

/// Sizes each configuration is written with (one short, one over a 4 KiB page).
const SIZES: [usize; 2] = [17, 4103];

/// s3ec's parallel upload (`Client::upload` of a body of known length: parts encrypted as segments on several
/// threads, the combined tag on the last part): object size and part size, two parts (S3's smallest part is
/// 5 MiB, which `Client::upload` enforces).
const PARALLEL: (usize, u64) = (5 * 1024 * 1024 + 4103, 5 * 1024 * 1024);

/// The part size `writer` puts an object of `size` bytes with through its parallel upload, if it does.
fn parallel_part(writer: &str, size: usize) -> Option<u64> {
    (writer == "s3ec" && size == PARALLEL.0).then_some(PARALLEL.1)
}

/// Objects the official clients write above s3ec's parallel-get threshold (16 MiB stored), which s3ec (the
/// only reader of these cells, to keep the matrix quick) reads with its parallel get into a file: one size,
/// V2 and V3, metadata and instruction file where the writer stores them, KMS (every writer has it).
const LARGE: usize = 17 * 1024 * 1024 + 5;

/// Part size of the large objects Java v4 and Python v4 also upload in parts: not the parallel get's
/// 8 MiB, so that s3ec's ranges follow the stored parts (6 MiB) only if it reads the layout.
const LARGE_PART: u64 = 6 * 1024 * 1024;

/// The large objects `writer` puts: (format, storage, multipart part size).
fn large(writer: &str) -> &'static [(&'static str, &'static str, Option<u64>)] {
    match writer {
        "java-v4" => &[
            ("v3", "instruction", None),
            ("v3", "metadata", Some(LARGE_PART)),
        ],
        "go-v4" => &[("v2", "metadata", None), ("v3", "metadata", None)],
        "python-v4" => &[
            ("v2", "metadata", Some(LARGE_PART)),
            ("v3", "metadata", None),
        ],
        "ruby" => &[("v2", "instruction", None)],
        _ => &[],
    }
}

/// Whether s3ec read a large object as a parallel get (some ranged GETs beside the first response) and, for
/// an object stored in parts of `part` bytes, along those parts: every range starts on a part boundary and
/// spans one part, but the last, which ends the object. `ranges` is the reader's `(first, last)` list.
fn parallel_split(ranges: &serde_json::Value, part: Option<u64>) -> Result<(), String> {
    let ranges: Vec<(u64, u64)> = serde_json::from_value(ranges.clone())
        .map_err(|e| format!("reader gave no range list: {e}"))?;
    let Some((_, end)) = ranges.iter().max_by_key(|r| r.1) else {
        return Err("no ranged GET: the object was not read in parallel".into());
    };
    let Some(part) = part else {
        return Ok(());
    };
    for &(first, last) in &ranges {
        let len = last + 1 - first;
        if first % part != 0 || (len != part && last != *end) || len > part {
            return Err(format!(
                "range {first}-{last} does not follow the stored parts of {part} bytes"
            ));
        }
    }
    Ok(())
}

/// What a participant can read: (format flag the object was written with, keyring, storage).
fn reads(reader: &str, format: &str, keyring: &str, storage: &str) -> bool {
    match reader {
        "java-v4" | "s3ec" | "s3ec-ts" | "s3ec-os" => true,
        // Go v4 4.0.0 loads instruction files through a default-config S3 client of its own, not
        // the wrapped one, so it cannot read them from a test endpoint (its harness refuses).
        "go-v4" => keyring == "kms" && (format == "v2" || format == "v3") && storage == "metadata",
        "python-v4" => keyring == "kms" && (format == "v2" || format == "v3"),
        "ruby" => format == "v1" || format == "v2",
        "go-v1" => keyring == "kms" && (format == "v1" || format == "v2"),
        _ => false,
    }
}

/// Pairs of official clients that do not read each other, with the reason; s3ec is never in here.
/// Their cells print `known` and count neither as passed nor as failed.
fn known_incompatible(writer: &str, storage: &str, reader: &str) -> Option<&'static str> {
    match (writer, storage, reader) {
        ("go-v1", "instruction", "python-v4") => Some(
            "Python v4 4.0.0 rejects instruction files holding x-amz-unencrypted-content-length, which s3crypto writes",
        ),
        _ => None,
    }
}

struct Cell {
    writer: String,
    case: String,
    reader: String,
    ok: bool,
    known: Option<&'static str>,
    detail: String,
}

/// Entry point.
pub fn run(args: &[String]) -> Result<()> {
    let mut chosen: Vec<&'static Peer> = Vec::new();
    let mut only: Option<String> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--peer" => match it.next() {
                Some(n) => chosen.push(peers::peer(n)?),
                None => bail!("--peer needs a name"),
            },
            "--case" => match it.next() {
                Some(t) => only = Some(t.clone()),
                None => bail!("--case needs a text"),
            },
            other => bail!("unknown flag {other} (interop [--peer P]... [--case TEXT])"),
        }
    }
    if chosen.is_empty() {
        chosen = PEERS.iter().collect();
    }
    let started = Instant::now();
    let work = std::env::temp_dir().join(format!("s3ec-interop-{}", std::process::id()));
    let lab = Lab::start(&work)?;
    let mut procs: BTreeMap<&'static str, PeerProcess> = BTreeMap::new();
    let mut broken: BTreeMap<&'static str, String> = BTreeMap::new();
    for p in &chosen {
        let started = peers::install(p)
            .and_then(|()| PeerProcess::start(p, &work.join(format!("{}.log", p.name))));
        match started {
            Ok(proc) => {
                procs.insert(p.name, proc);
            }
            Err(e) => {
                println!("{}: cannot be installed or started: {e:#}", p.name);
                broken.insert(p.name, format!("{e:#}"));
            }
        }
    }
    let mut cells = Vec::new();
    let mut large_time = std::time::Duration::ZERO;
    for writer in &chosen {
        let writer_started = Instant::now();
        let before = cells.len();
        for (case, format, keyring, storage, size, ctx, reencrypt, multipart) in configs(writer) {
            if only.as_deref().is_some_and(|t| !case.contains(t)) {
                continue;
            }
            let case_started = Instant::now();
            // The key that reads the object: the re-encrypted ones are read with the new key only.
            let read_keyring = if reencrypt { "aes-new" } else { keyring };
            let key = format!("interop/{}/{case}", writer.name);
            let pt = peers::plaintext(size);
            let pt_path = work.join(format!("pt-{size}"));
            fs::write(&pt_path, &pt)?;
            let mut put = lab.base_args("put", &key);
            put.extend([
                "--keyring".into(),
                lab.keyring_arg(keyring),
                "--format".into(),
                format.into(),
            ]);
            put.extend([
                "--storage".into(),
                storage.into(),
                "--in".into(),
                pt_path.display().to_string(),
            ]);
            if ctx {
                put.extend(["--context".into(), "tenant=acme-42".into()]);
            }
            if let Some(part) = parallel_part(writer.name, size) {
                put.extend(["--parallel".into(), part.to_string()]);
            }
            if let Some(part) = multipart {
                put.extend(["--multipart".into(), part.to_string()]);
            }
            let written = match procs.get_mut(writer.name) {
                Some(proc) => {
                    let put_done = match proc.call(&put) {
                        Ok(v) if v["ok"].as_bool() == Some(true) => Ok(()),
                        Ok(v) => Err(format!("put: {}", v["error"].as_str().unwrap_or("?"))),
                        Err(e) => Err(format!("put: {e:#}")),
                    };
                    if reencrypt && put_done.is_ok() {
                        let mut re = lab.base_args("reencrypt", &key);
                        re.extend([
                            "--keyring".into(),
                            lab.keyring_arg(keyring),
                            "--format".into(),
                            format.into(),
                            "--new-keyring".into(),
                            lab.keyring_arg(read_keyring),
                            "--new-matdesc".into(),
                            "rotated=yes".into(),
                        ]);
                        match proc.call(&re) {
                            Ok(v) if v["ok"].as_bool() == Some(true) => Ok(()),
                            Ok(v) => {
                                Err(format!("reencrypt: {}", v["error"].as_str().unwrap_or("?")))
                            }
                            Err(e) => Err(format!("reencrypt: {e:#}")),
                        }
                    } else {
                        put_done
                    }
                }
                None => Err(format!(
                    "writer not installed: {}",
                    broken.get(writer.name).cloned().unwrap_or_default()
                )),
            };
            for reader in &chosen {
                if !reads(reader.name, format, keyring, storage)
                    || (size == LARGE && reader.name != "s3ec")
                {
                    continue;
                }
                let known = known_incompatible(writer.name, storage, reader.name);
                let cell = |ok: bool, detail: String| Cell {
                    writer: writer.name.into(),
                    case: case.clone(),
                    reader: reader.name.into(),
                    ok,
                    known,
                    detail,
                };
                if let Err(e) = &written {
                    cells.push(cell(false, e.clone()));
                    continue;
                }
                let Some(proc) = procs.get_mut(reader.name) else {
                    cells.push(cell(
                        false,
                        format!(
                            "reader not installed: {}",
                            broken.get(reader.name).cloned().unwrap_or_default()
                        ),
                    ));
                    continue;
                };
                let out = work.join("out.bin");
                let _ = fs::remove_file(&out);
                let mut get = lab.base_args("get", &key);
                get.extend([
                    "--keyring".into(),
                    lab.keyring_arg(read_keyring),
                    "--out".into(),
                    out.display().to_string(),
                ]);
                if format == "v1" {
                    get.push("--legacy".into());
                }
                if ctx {
                    get.extend(["--context".into(), "tenant=acme-42".into()]);
                }
                let mut c = match proc.call(&get) {
                    Ok(v) if v["ok"].as_bool() == Some(true) => {
                        let split = if size == LARGE {
                            parallel_split(&v["ranges"], multipart)
                        } else {
                            Ok(())
                        };
                        if fs::read(&out).ok().as_deref() != Some(&pt[..]) {
                            cell(false, "plaintext differs".into())
                        } else if let Err(why) = split {
                            cell(false, why)
                        } else {
                            cell(true, String::new())
                        }
                    }
                    Ok(v) => cell(
                        false,
                        format!(
                            "{}: {}",
                            v["error_class"].as_str().unwrap_or(""),
                            v["error"].as_str().unwrap_or("?")
                        ),
                    ),
                    Err(e) => cell(false, format!("{e:#}")),
                };
                if c.ok && c.known.is_some() {
                    // A known incompatibility that went away is news, not a pass to hide.
                    c.detail =
                        "listed as a known incompatibility but passed: update known_incompatible"
                            .into();
                    c.ok = false;
                    c.known = None;
                }
                cells.push(c);
                if let Some((first, last)) = ranged_read(reader, format, storage, size, reencrypt) {
                    cells.push(ranged_cell(
                        proc,
                        &lab,
                        &key,
                        lab.keyring_arg(read_keyring),
                        ctx,
                        &pt[first..=last],
                        (first, last),
                        &out,
                        Cell {
                            writer: writer.name.into(),
                            case: format!("{case}+range"),
                            reader: reader.name.into(),
                            ok: false,
                            known: None,
                            detail: String::new(),
                        },
                    ));
                }
            }
            if size == LARGE {
                large_time += case_started.elapsed();
            }
        }
        // Progress, so a long run is not silent until the matrix.
        println!(
            "{}: wrote its objects, {} reads in {:.0} s",
            writer.name,
            cells.len() - before,
            writer_started.elapsed().as_secs_f64()
        );
    }
    if only.as_deref().is_none_or(|t| "parquet-v3-kms".contains(t))
        && chosen.iter().any(|p| p.name == "s3ec-os")
    {
        let parquet_started = Instant::now();
        parquet_cells(&chosen, &mut procs, &broken, &lab, &mut cells)?;
        println!(
            "parquet: written by s3ec-os, read in {:.0} s",
            parquet_started.elapsed().as_secs_f64()
        );
    }
    print_matrix(&chosen, &cells);
    println!(
        "objects above the parallel-get threshold ({LARGE} bytes): {:.0} s of puts and reads",
        large_time.as_secs_f64()
    );
    let passed = cells.iter().filter(|c| c.ok).count();
    let known = cells.iter().filter(|c| c.known.is_some()).count();
    let failed = cells.len() - passed - known;
    println!("interop took {:.0} s", started.elapsed().as_secs_f64());
    if known > 0 {
        println!("{known} cell(s) between two official clients marked known (not counted; s3ec is in none)");
    }
    println!("{passed} passed, {failed} failed");
    drop(procs);
    let _ = fs::remove_dir_all(&work);
    if failed > 0 || !broken.is_empty() {
        bail!("{failed} interop cell(s) failed");
    }
    Ok(())
}

/// Rows of the Parquet file `s3ec-os` writes (about 4 MB; one object, V3, KMS, so every KMS reader reads it).
const PARQUET_ROWS: usize = 200_000;

/// The Parquet case: `s3ec-os` writes a file through the `parquet` crate's async writer, reads it back through
/// `ParquetObjectReader` under both range policies, and hands over the bytes it stored; every other participant
/// that reads V3 KMS objects, and the s3ec CLI (reader `s3ec-cli`), must read exactly those bytes.
fn parquet_cells(
    chosen: &[&'static Peer],
    procs: &mut BTreeMap<&'static str, PeerProcess>,
    broken: &BTreeMap<&'static str, String>,
    lab: &Lab,
    cells: &mut Vec<Cell>,
) -> Result<()> {
    let key = "interop/s3ec-os/parquet-v3-kms";
    let expected = lab.work.join("parquet.expected");
    let cell = |reader: &str, ok: bool, detail: String| Cell {
        writer: "s3ec-os".into(),
        case: "parquet-v3-kms".into(),
        reader: reader.into(),
        ok,
        known: None,
        detail,
    };
    let mut put = lab.base_args("put", key);
    put.extend(
        [
            "--keyring",
            &lab.keyring_arg("kms"),
            "--format",
            "v3",
            "--storage",
            "metadata",
            "--parquet",
            &PARQUET_ROWS.to_string(),
            "--out",
            &expected.display().to_string(),
        ]
        .map(String::from),
    );
    let written = match procs.get_mut("s3ec-os") {
        Some(proc) => match proc.call(&put) {
            Ok(v) if v["ok"].as_bool() == Some(true) => Ok(fs::read(&expected)?),
            Ok(v) => Err(format!(
                "parquet put: {}",
                v["error"].as_str().unwrap_or("?")
            )),
            Err(e) => Err(format!("parquet put: {e:#}")),
        },
        None => Err(format!(
            "writer not installed: {}",
            broken.get("s3ec-os").cloned().unwrap_or_default()
        )),
    };
    let want = match written {
        Ok(w) if w.starts_with(b"PAR1") && w.ends_with(b"PAR1") => w,
        Ok(_) => {
            cells.push(cell("s3ec-os", false, "not a Parquet file".into()));
            return Ok(());
        }
        Err(e) => {
            cells.push(cell("s3ec-os", false, e));
            return Ok(());
        }
    };
    cells.push(cell("s3ec-os", true, String::new()));
    let out = lab.work.join("parquet.out");
    // The cell of a reader that reported success: whether it wrote the bytes s3ec-os stored.
    let compared = |reader: &str| {
        let same = fs::read(&out).ok().as_deref() == Some(&want[..]);
        let detail = if same { "" } else { "plaintext differs" };
        cell(reader, same, detail.into())
    };
    for reader in chosen {
        if reader.name == "s3ec-os" || !reads(reader.name, "v3", "kms", "metadata") {
            continue;
        }
        let _ = fs::remove_file(&out);
        let Some(proc) = procs.get_mut(reader.name) else {
            cells.push(cell(reader.name, false, "reader not installed".into()));
            continue;
        };
        let mut get = lab.base_args("get", key);
        get.extend([
            "--keyring".into(),
            lab.keyring_arg("kms"),
            "--out".into(),
            out.display().to_string(),
        ]);
        cells.push(match proc.call(&get) {
            Ok(v) if v["ok"].as_bool() == Some(true) => compared(reader.name),
            Ok(v) => cell(
                reader.name,
                false,
                v["error"].as_str().unwrap_or("?").into(),
            ),
            Err(e) => cell(reader.name, false, format!("{e:#}")),
        });
    }
    let _ = fs::remove_file(&out);
    let (global, url) = lab.cli_args(key);
    let cli = peers::cargo_target_dir().join("debug/s3ec");
    let status = std::process::Command::new(&cli)
        .args(&global)
        .args(["get", &url])
        .arg(&out)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(std::process::Stdio::null())
        .output();
    cells.push(match status {
        Ok(o) if o.status.success() => compared("s3ec-cli"),
        Ok(o) => cell(
            "s3ec-cli",
            false,
            String::from_utf8_lossy(&o.stderr).trim().into(),
        ),
        Err(e) => cell(
            "s3ec-cli",
            false,
            format!("cannot run {}: {e}", cli.display()),
        ),
    });
    Ok(())
}

/// The inclusive byte range a reader also reads of an object, if any: readers that serve ranged gets read a
/// slice that starts and ends inside AES blocks of the larger GCM objects (stored in metadata).
fn ranged_read(
    reader: &Peer,
    format: &str,
    storage: &str,
    size: usize,
    reencrypt: bool,
) -> Option<(usize, usize)> {
    let gcm = format == "v2" || format == "v3";
    (reader.caps.ranged_get && gcm && storage == "metadata" && size == 4103 && !reencrypt)
        .then_some((100, 2000))
}

/// Reads `range` of `key` through `proc` and fills in `cell`.
#[allow(clippy::too_many_arguments)]
fn ranged_cell(
    proc: &mut PeerProcess,
    lab: &Lab,
    key: &str,
    keyring: String,
    ctx: bool,
    want: &[u8],
    (first, last): (usize, usize),
    out: &std::path::Path,
    mut cell: Cell,
) -> Cell {
    let _ = fs::remove_file(out);
    let mut get = lab.base_args("get", key);
    get.extend([
        "--keyring".into(),
        keyring,
        "--range".into(),
        format!("bytes={first}-{last}"),
        "--out".into(),
        out.display().to_string(),
    ]);
    if ctx {
        get.extend(["--context".into(), "tenant=acme-42".into()]);
    }
    match proc.call(&get) {
        Ok(v) if v["ok"].as_bool() == Some(true) => {
            cell.ok = fs::read(out).ok().as_deref() == Some(want);
            if !cell.ok {
                cell.detail = "ranged plaintext differs".into();
            }
        }
        Ok(v) => cell.detail = format!("range: {}", v["error"].as_str().unwrap_or("?")),
        Err(e) => cell.detail = format!("range: {e:#}"),
    }
    cell
}

/// One object a writer puts: (case name, format flag, keyring, storage, size, with context, re-encrypted
/// by the writer to the `aes-new` key after the put, multipart part size).
type Config = (
    String,
    &'static str,
    &'static str,
    &'static str,
    usize,
    bool,
    bool,
    Option<u64>,
);

/// Every object `writer` puts.
fn configs(writer: &Peer) -> Vec<Config> {
    let mut out = Vec::new();
    for &format in writer.caps.formats {
        for &keyring in writer.caps.keyrings {
            let mut storages = vec!["metadata"];
            if writer.caps.instruction_put {
                storages.push("instruction");
            }
            for storage in storages {
                let st = if storage == "metadata" {
                    "meta"
                } else {
                    "instr"
                };
                for size in SIZES {
                    out.push((
                        format!("{format}-{keyring}-{st}-{size}"),
                        format,
                        keyring,
                        storage,
                        size,
                        false,
                        false,
                        None,
                    ));
                }
                // s3crypto v1 (V1 client) and Ruby's V1 client carry no encryption context.
                if keyring == "kms" && format != "v1" {
                    out.push((
                        format!("{format}-{keyring}-{st}-ctx-17"),
                        format,
                        keyring,
                        storage,
                        17,
                        true,
                        false,
                        None,
                    ));
                }
            }
        }
        // Objects s3ec writes with its parallel upload, in the configurations every reader reads (KMS).
        if parallel_part(writer.name, PARALLEL.0).is_some() && format != "v1" {
            for (storage, st) in [("metadata", "meta"), ("instruction", "instr")] {
                out.push((
                    format!("{format}-kms-{st}-parallel-{}", PARALLEL.0),
                    format,
                    "kms",
                    storage,
                    PARALLEL.0,
                    false,
                    false,
                    None,
                ));
            }
        }
        if writer.caps.reencrypt
            && writer.caps.instruction_put
            && writer.caps.keyrings.contains(&"aes")
        {
            out.push((
                format!("{format}-aes-instr-reencrypt-aes-17"),
                format,
                "aes",
                "instruction",
                17,
                false,
                true,
                None,
            ));
        }
    }
    for &(format, storage, multipart) in large(writer.name) {
        let st = if storage == "metadata" {
            "meta"
        } else {
            "instr"
        };
        let mp = multipart.map_or(String::new(), |p| format!("-mp{}m", p >> 20));
        out.push((
            format!("{format}-kms-{st}{mp}-{LARGE}"),
            format,
            "kms",
            storage,
            LARGE,
            false,
            false,
            multipart,
        ));
    }
    out
}

fn print_matrix(chosen: &[&'static Peer], cells: &[Cell]) {
    let mut readers: Vec<&str> = chosen.iter().map(|p| p.name).collect();
    // Readers that are no participant (the s3ec CLI of the Parquet case) get a column too.
    for c in cells {
        if !readers.contains(&c.reader.as_str()) {
            readers.push(&c.reader);
        }
    }
    let mut rows: Vec<(String, String)> = Vec::new();
    for c in cells {
        let row = (c.writer.clone(), c.case.clone());
        if !rows.contains(&row) {
            rows.push(row);
        }
    }
    let width = rows.iter().map(|(_, c)| c.len()).max().unwrap_or(0).max(24);
    print!("{:<10} {:<width$}", "writer", "case");
    for r in &readers {
        print!(" {r:>10}");
    }
    println!();
    for (w, case) in &rows {
        print!("{w:<10} {case:<width$}");
        for r in &readers {
            let mark = cells
                .iter()
                .find(|c| &c.writer == w && &c.case == case && &c.reader == r)
                .map_or("-", |c| match (c.ok, c.known) {
                    (true, _) => "ok",
                    (false, Some(_)) => "known",
                    (false, None) => "FAIL",
                });
            print!(" {mark:>10}");
        }
        println!();
    }
    for c in cells.iter().filter(|c| !c.ok) {
        match c.known {
            Some(why) => println!("known {} {} -> {}: {why}", c.writer, c.case, c.reader),
            None => println!("FAIL {} {} -> {}: {}", c.writer, c.case, c.reader, c.detail),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_support_follows_what_each_client_implements() {
        assert!(reads("java-v4", "v3", "rsa", "instruction"));
        assert!(
            !reads("go-v4", "v3", "aes", "metadata"),
            "Go v4 has only a KMS keyring"
        );
        assert!(!reads("ruby", "v3", "kms", "metadata"), "Ruby predates V3");
        assert!(reads("go-v1", "v1", "kms", "metadata"));
        assert!(!reads("go-v1", "v2", "rsa", "metadata"));
        assert!(!reads("go-v4", "v2", "kms", "instruction"));
    }

    #[test]
    fn s3ec_writes_two_part_parallel_objects_that_every_kms_reader_reads() {
        let s3ec = peers::peer("s3ec").unwrap();
        let parallel: Vec<_> = configs(s3ec)
            .into_iter()
            .filter(|c| parallel_part(s3ec.name, c.4).is_some())
            .collect();
        assert_eq!(
            parallel.len(),
            4,
            "v2 and v3, metadata and instruction file"
        );
        assert!(PARALLEL.0 as u64 > PARALLEL.1, "at least two parts");
        for peer in ["java-v4", "go-v4", "python-v4", "s3ec-ts"] {
            assert!(
                parallel.iter().any(|c| reads(peer, c.1, c.2, c.3)),
                "{peer}"
            );
        }
        let java = peers::peer("java-v4").unwrap();
        assert!(configs(java)
            .iter()
            .all(|c| parallel_part(java.name, c.4).is_none()));
    }

    #[test]
    fn ranged_reads_only_where_the_reader_serves_them() {
        let java = peers::peer("java-v4").unwrap();
        let go = peers::peer("go-v4").unwrap();
        assert_eq!(
            ranged_read(java, "v3", "metadata", 4103, false),
            Some((100, 2000))
        );
        assert_eq!(ranged_read(go, "v3", "metadata", 4103, false), None);
        assert_eq!(ranged_read(java, "v1", "metadata", 4103, false), None);
        assert_eq!(ranged_read(java, "v2", "instruction", 4103, false), None);
        assert_eq!(ranged_read(java, "v2", "metadata", 17, false), None);
    }

    #[test]
    fn a_parallel_read_must_follow_the_stored_parts() {
        let mib = 1 << 20;
        let part = 6 * mib;
        let ranges = |r: &[(u64, u64)]| serde_json::json!(r);
        // 17 MiB + 21 stored bytes in 6 MiB parts: the first part from the first response, then two ranges.
        let aligned = ranges(&[(part, 2 * part - 1), (2 * part, 17 * mib + 20)]);
        assert_eq!(parallel_split(&aligned, Some(part)), Ok(()));
        assert_eq!(parallel_split(&aligned, None), Ok(()));
        // The configured 8 MiB split instead of the stored parts.
        let configured = ranges(&[(8 * mib, 16 * mib - 1), (16 * mib, 17 * mib + 20)]);
        assert!(parallel_split(&configured, Some(part)).is_err());
        assert_eq!(parallel_split(&configured, None), Ok(()));
        // Aligned starts but a short range before the end.
        let short = ranges(&[(part, part + 10), (2 * part, 17 * mib + 20)]);
        assert!(parallel_split(&short, Some(part)).is_err());
        // A single stream: no ranged GET at all.
        assert!(parallel_split(&ranges(&[]), None).is_err());
        assert!(parallel_split(&serde_json::Value::Null, None).is_err());
    }

    #[test]
    fn large_objects_of_each_official_writer_are_read_by_s3ec_in_parallel() {
        let stored = LARGE as u64 + 16;
        assert!(
            stored > s3ec::DEFAULT_GET_THRESHOLD,
            "above the parallel threshold"
        );
        assert!(
            stored.div_ceil(LARGE_PART) >= 2 && LARGE_PART != s3ec::DEFAULT_GET_PART_SIZE,
            "several stored parts, not the default split"
        );
        let mut seen = std::collections::BTreeSet::new();
        for w in ["java-v4", "go-v4", "python-v4", "ruby"] {
            let peer = peers::peer(w).unwrap();
            let large: Vec<Config> = configs(peer).into_iter().filter(|c| c.4 == LARGE).collect();
            assert!(!large.is_empty(), "{w}");
            for c in &large {
                assert!(peer.caps.formats.contains(&c.1), "{w} writes {}", c.1);
                assert!(c.3 == "metadata" || peer.caps.instruction_put, "{w}");
                assert!(c.7.is_none() || peer.caps.multipart.is_some(), "{w}");
                assert!(reads("s3ec", c.1, c.2, c.3));
                seen.insert((c.1, c.3, c.7.is_some()));
            }
        }
        for want in [
            ("v2", "metadata", false),
            ("v3", "metadata", false),
            ("v2", "instruction", false),
            ("v3", "instruction", false),
            ("v3", "metadata", true),
            ("v2", "metadata", true),
        ] {
            assert!(seen.contains(&want), "{want:?}");
        }
    }

    #[test]
    fn s3ec_is_never_excused() {
        for w in PEERS {
            for r in PEERS {
                for st in ["metadata", "instruction"] {
                    if w.name.starts_with("s3ec") || r.name.starts_with("s3ec") {
                        assert_eq!(known_incompatible(w.name, st, r.name), None);
                    }
                }
            }
        }
    }

    #[test]
    fn every_writer_config_has_a_reader_besides_itself() {
        for w in PEERS {
            for (case, format, keyring, storage, _, _, _, _) in configs(w) {
                let others = PEERS
                    .iter()
                    .filter(|r| r.name != w.name && reads(r.name, format, keyring, storage))
                    .count();
                assert!(others > 0, "{} {case} has no other reader", w.name);
            }
        }
    }
}
