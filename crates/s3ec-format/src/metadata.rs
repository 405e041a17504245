//! The user-metadata map, with S3-compatible case-insensitive lookups.

use alloc::collections::BTreeMap;
use alloc::string::String;

/// A map of strings, ordered by key (material descriptions, encryption contexts, metadata).
pub type StringMap = BTreeMap<String, String>;

/// An object's user metadata, keys without the `x-amz-meta-` prefix.
///
/// S3 returns keys in lower case but S3-compatible stores may not (`X-Amz-Meta-X-Amz-Iv`), so lookups
/// ignore ASCII case. Keys are stored as given; two keys that differ only in case are kept both, and the
/// decoder reports them as ambiguous when they are S3EC keys.
///
/// ```
/// use s3ec_format::Metadata;
/// let mut m = Metadata::new();
/// m.insert("X-Amz-Iv", "AAAA");
/// assert_eq!(m.get("x-amz-iv"), Some("AAAA"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metadata {
    entries: StringMap,
}

impl Metadata {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of `key`, matched ignoring ASCII case (the first match in key order if several).
    pub fn get(&self, key: &str) -> Option<&str> {
        if let Some(v) = self.entries.get(key) {
            return Some(v);
        }
        self.entries
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// Every value whose key equals `key` ignoring ASCII case.
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.entries
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// `true` if some key equals `key` ignoring ASCII case.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Sets `key` to `value`, replacing an entry whose key differs only in case; returns the old value.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) -> Option<String> {
        let key = key.into();
        let old = self.remove(&key);
        self.entries.insert(key, value.into());
        old
    }

    /// Removes every entry whose key equals `key` ignoring ASCII case; returns one removed value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let mut removed = None;
        self.entries.retain(|k, v| {
            if k.eq_ignore_ascii_case(key) {
                removed = Some(core::mem::take(v));
                false
            } else {
                true
            }
        });
        removed
    }

    /// The entries in key order, keys as stored.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` if there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The underlying map, keys as stored.
    pub fn as_map(&self) -> &StringMap {
        &self.entries
    }

    /// The underlying map, keys as stored.
    pub fn into_map(self) -> StringMap {
        self.entries
    }

    /// Adds every entry of `other` (replacing case-insensitively equal keys).
    pub fn merge(&mut self, other: Metadata) {
        for (k, v) in other.entries {
            self.insert(k, v);
        }
    }
}

impl From<StringMap> for Metadata {
    fn from(entries: StringMap) -> Self {
        Metadata { entries }
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Metadata {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Metadata {
            entries: iter
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}

impl<K: Into<String>, V: Into<String>> Extend<(K, V)> for Metadata {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl<'a> IntoIterator for &'a Metadata {
    type Item = (&'a String, &'a String);
    type IntoIter = alloc::collections::btree_map::Iter<'a, String, String>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}
