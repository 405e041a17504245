//! Key selection by material description.

use s3ec_format::StringMap;

/// The keyring's own key and description, plus extra decryption keys looked up by description.
pub(crate) struct KeySet<K> {
    pub(crate) own: K,
    pub(crate) description: StringMap,
    pub(crate) extra: Vec<(StringMap, K)>,
}

impl<K> KeySet<K> {
    pub(crate) fn new(own: K) -> Self {
        Self {
            own,
            description: StringMap::new(),
            extra: Vec::new(),
        }
    }

    /// The key registered for exactly `stored` (FORMAT-NOTES 1.6: exact map equality), else the keyring's
    /// own key. The stored description is unauthenticated, so this only chooses which key to try.
    pub(crate) fn select(&self, stored: &StringMap) -> &K {
        if *stored == self.description {
            return &self.own;
        }
        self.extra
            .iter()
            .find(|(description, _)| description == stored)
            .map_or(&self.own, |(_, key)| key)
    }
}
