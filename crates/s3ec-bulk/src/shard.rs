//! `--shard I/N`: which objects this machine takes when N machines split one bucket with no coordination.
//!
//! An object belongs to shard `I` of `N` when the first 8 bytes of the SHA-256 of its key (UTF-8 bytes, no
//! bucket), read as a big-endian `u64`, are `I` modulo `N`. SHA-256 is fixed by FIPS 180-4, so the split is the
//! same on every machine, platform and s3ec version (a test pins values); it depends on the key only, so a
//! prefix listing and an inventory manifest of the same bucket split the same way.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::digest;

/// Shard `index` of `count` (`index < count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: u64,
    count: u64,
}

/// A `--shard` value that is not `I/N` with `0 <= I < N`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--shard takes I/N with 0 <= I < N (e.g. 0/4 ... 3/4), got `{0}`")]
pub struct ShardParseError(String);

impl Shard {
    /// Shard `index` of `count`, or `None` unless `index < count`.
    pub fn new(index: u64, count: u64) -> Option<Self> {
        (index < count).then_some(Self { index, count })
    }

    /// The shard `key` falls in, for `count` shards.
    pub fn of_key(key: &str, count: u64) -> u64 {
        let d = digest::digest(&digest::SHA256, key.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&d.as_ref()[..8]);
        u64::from_be_bytes(first) % count.max(1)
    }

    /// Whether this shard takes `key`.
    pub fn takes(&self, key: &str) -> bool {
        Self::of_key(key, self.count) == self.index
    }
}

impl FromStr for Shard {
    type Err = ShardParseError;

    /// Parses `I/N`.
    ///
    /// ```
    /// let s: s3ec_bulk::Shard = "1/4".parse().unwrap();
    /// assert!("4/4".parse::<s3ec_bulk::Shard>().is_err());
    /// # let _ = s;
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ShardParseError(s.to_string());
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (i, n) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        Shard::new(i, n).ok_or_else(bad)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_pinned() {
        // SHA-256("a") = ca978112ca1bbdca...; 0xca978112ca1bbdca = 14598278634844962250.
        assert_eq!(Shard::of_key("a", 7), 4);
        assert_eq!(Shard::of_key("a", 4), 2);
        // SHA-256("") = e3b0c44298fc1c14... = 16406829232824261652.
        assert_eq!(Shard::of_key("", 1000), 652);
        assert_eq!(Shard::of_key("", 4), 0);
    }

    #[test]
    fn n_shards_cover_every_key_exactly_once() {
        for n in [1u64, 2, 3, 7, 16] {
            let shards: Vec<Shard> = (0..n).map(|i| Shard::new(i, n).unwrap()).collect();
            let mut per_shard = vec![0usize; n as usize];
            for k in 0..2000 {
                let key = format!("dir/{k}/object-{}.bin", k * 31);
                let takers: Vec<usize> = shards
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.takes(&key))
                    .map(|(i, _)| i)
                    .collect();
                assert_eq!(takers.len(), 1, "{key} in {n} shards: {takers:?}");
                per_shard[takers[0]] += 1;
            }
            // A usable split: no shard empty, none with more than twice its share.
            for c in &per_shard {
                assert!(*c > 0 && *c < 2 * 2000 / n as usize + 10, "{per_shard:?}");
            }
        }
    }

    #[test]
    fn parsing() {
        assert_eq!("0/1".parse::<Shard>().unwrap(), Shard::new(0, 1).unwrap());
        assert_eq!(" 3 / 8 ".parse::<Shard>().unwrap().to_string(), "3/8");
        for bad in ["1/1", "0/0", "x/2", "1", "-1/2", "1/2/3"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
