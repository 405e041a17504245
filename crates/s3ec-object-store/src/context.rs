//! The encryption context of one request, carried through `object_store`'s per-request extensions.

use object_store::Extensions;
use s3ec_format::StringMap;

/// The encryption context of one request: put it in the `extensions` of [`PutOptions`],
/// [`PutMultipartOptions`] or [`GetOptions`].
///
/// A KMS keyring binds it to the data key when writing (it is stored in the envelope, `x-amz-matdesc` or
/// `x-amz-t`) and, on a read, refuses an object whose stored context differs from the one given (an absent
/// extension asserts the empty context). Raw AES and RSA keyrings ignore it, as in `s3ec::Client`.
///
/// Calls that take no options (`get_range`, `get_ranges`, `head`) assert the empty context; read an object
/// with a context through `get_opts` (with `GetOptions::range` for a range).
///
/// ```
/// use object_store::{GetOptions, PutOptions};
/// use s3ec_object_store::EncryptionContext;
///
/// let context = EncryptionContext::from_iter([("tenant", "acme-42")]);
/// let mut put = PutOptions::default();
/// put.extensions.insert(context.clone());
/// let mut get = GetOptions::default();
/// get.extensions.insert(context);
/// ```
///
/// [`PutOptions`]: object_store::PutOptions
/// [`PutMultipartOptions`]: object_store::PutMultipartOptions
/// [`GetOptions`]: object_store::GetOptions
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncryptionContext(pub StringMap);

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for EncryptionContext {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

/// Takes the request's context out of `extensions` (the inner store has no use for it, and it should not
/// travel further than the keyring), empty when none was given.
pub(crate) fn take(extensions: &mut Extensions) -> StringMap {
    extensions
        .remove::<EncryptionContext>()
        .map(|c| c.0)
        .unwrap_or_default()
}
