//! Reads the envelope of one stored object (what an S3 encryption client keeps beside it) with `s3ec-format`
//! alone: no AWS SDK, no crypto, no key. This is what an audit tool needs.
//!
//! ```sh
//! cargo run -p s3ec-format --example decode_envelope -- testdata/vectors/java-s3ec-4.0.1/v3-aes-instr-17
//! ```
//!
//! The folder holds `metadata.json` (the object's user metadata, keys without `x-amz-meta-`, as a JSON object) and,
//! when the envelope is split, `instruction.json` (the bytes of `KEY.instruction`): the layout of
//! `testdata/vectors/`. Against S3, the same two inputs come from HeadObject and a GetObject of `KEY.instruction`.

use std::error::Error;
use std::io::Write;
use std::path::{Path, PathBuf};

use s3ec_format::{decode_object, Envelope, Located, Metadata};

fn main() -> Result<(), Box<dyn Error>> {
    let dir = match std::env::args_os().nth(1) {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/vectors/java-s3ec-4.0.1/v3-aes-instr-17"),
    };
    run(&dir, &mut std::io::stdout().lock())
}

/// Decodes the object in `dir` and writes what its envelope says to `out`.
pub fn run(dir: &Path, out: &mut impl Write) -> Result<(), Box<dyn Error>> {
    let json = std::fs::read_to_string(dir.join("metadata.json"))?;
    let map: std::collections::BTreeMap<String, String> = serde_json::from_str(&json)?;
    let metadata: Metadata = map.into_iter().collect();
    let envelope = match decode_object(&metadata)? {
        Located::Complete(envelope) => envelope,
        // The decoder does no IO: it says which file it needs, and the caller fetches it.
        Located::NeedsInstructionFile(needed) => {
            let instruction = std::fs::read(dir.join("instruction.json"))?;
            needed.decode(&instruction)?
        }
    };
    describe(&envelope, out)?;
    Ok(())
}

fn describe(e: &Envelope, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "format:            {}", e.version)?;
    writeln!(
        out,
        "content algorithm: {} (0x{:04x}){}",
        e.suite.name(),
        e.suite.id(),
        if e.suite.is_committing() {
            ", key-committing"
        } else {
            ""
        }
    )?;
    writeln!(out, "key wrapping:      {}", e.wrap.as_str())?;
    writeln!(out, "stored in:         {}", e.storage)?;
    writeln!(
        out,
        "wrapped key:       {} bytes",
        e.encrypted_data_key.len()
    )?;
    for (k, v) in &e.context {
        writeln!(out, "context:           {k} = {v}")?;
    }
    let legacy = e.suite.is_legacy() || e.wrap.is_legacy();
    writeln!(
        out,
        "legacy:            {}",
        if legacy { "yes" } else { "no" }
    )
}
