//! The uniform peer command line of `xtask/peers/README.md`, parsed in one place for the two participants built
//! from this tree: the `s3ec-peer` binary (`xtask/peers/s3ec`) and xtask's `s3ec-ts` driver
//! (`xtask/src/peers/test_server.rs`). Both include this file with `#[path]`: they are separate crates, and a
//! library crate for one function would be heavier than the duplication it removes. Std only, so it compiles in
//! both.

use std::collections::BTreeMap;
use std::fmt;

/// What is wrong with a command line (a message for the harness's log).
#[derive(Debug)]
pub struct UsageError(String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// One peer command: `OP [--NAME VALUE]... [--legacy]`. `--context`, `--matdesc` and `--new-matdesc` take `k=v`
/// and may repeat (kept in order; a later pair for the same key wins wherever they become a map).
#[derive(Debug, Default)]
pub struct Command {
    /// `put`, `get`, `reencrypt`, ...
    pub op: String,
    /// Every other `--NAME VALUE`, by name (without the dashes).
    pub flags: BTreeMap<String, String>,
    /// `--context k=v` pairs.
    pub context: Vec<(String, String)>,
    /// `--matdesc k=v` pairs.
    pub matdesc: Vec<(String, String)>,
    /// `--new-matdesc k=v` pairs.
    pub new_matdesc: Vec<(String, String)>,
    /// `--legacy` (the one flag without a value).
    pub legacy: bool,
}

impl Command {
    /// Parses `argv` (the operation first, without the program name).
    pub fn parse(argv: &[String]) -> Result<Self, UsageError> {
        let (op, rest) = argv
            .split_first()
            .ok_or_else(|| UsageError("usage: put|get|reencrypt --endpoint URL ...".into()))?;
        let mut c = Self {
            op: op.clone(),
            ..Self::default()
        };
        let mut it = rest.iter();
        while let Some(flag) = it.next() {
            if flag == "--legacy" {
                c.legacy = true;
                continue;
            }
            let name = flag
                .strip_prefix("--")
                .ok_or_else(|| UsageError(format!("unexpected argument {flag}")))?;
            let value = it
                .next()
                .ok_or_else(|| UsageError(format!("missing value for {flag}")))?;
            let pairs = match name {
                "context" => &mut c.context,
                "matdesc" => &mut c.matdesc,
                "new-matdesc" => &mut c.new_matdesc,
                _ => {
                    c.flags.insert(name.to_string(), value.clone());
                    continue;
                }
            };
            let (k, v) = value
                .split_once('=')
                .ok_or_else(|| UsageError(format!("expected k=v, got {value}")))?;
            pairs.push((k.to_string(), v.to_string()));
        }
        Ok(c)
    }

    /// The value of `--name`, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.flags.get(name).map(String::as_str)
    }

    /// The value of `--name`, or an error naming it.
    pub fn need(&self, name: &str) -> Result<&str, UsageError> {
        self.get(name)
            .ok_or_else(|| UsageError(format!("missing --{name}")))
    }
}
