//! Key selection by material description.

use s3ec_format::StringMap;
use s3ec_materials::{EncryptRequest, Error};

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

    /// The material description to store for `request`: its per-request description when it has one, else
    /// the keyring's own. A per-request description registered for one of the extra decryption keys is refused:
    /// reading the object back would select that key, not the one that wrapped the data key.
    pub(crate) fn description_for(&self, request: &EncryptRequest) -> Result<StringMap, Error> {
        match request.material_description() {
            None => Ok(self.description.clone()),
            Some(wanted) if *wanted == self.description => Ok(wanted.clone()),
            Some(wanted) if self.extra.iter().any(|(d, _)| d == wanted) => {
                Err(Error::MaterialDescriptionRefused(
                    "it is registered for another decryption key of this keyring, which reading the object back would select",
                ))
            }
            Some(wanted) => Ok(wanted.clone()),
        }
    }
}
