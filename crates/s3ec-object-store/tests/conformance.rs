//! `object_store`'s own conformance suite against `EncryptedStore` over `InMemory` and `LocalFileSystem`.
//!
//! Every function the inner store's own tests run is run here, except those that need `MultipartStore` (not
//! implemented: a part's GCM counter depends on the sizes of the parts before it, which an out-of-order
//! `put_part(part_idx)` does not know) and `list_paginated`; `tests/semantics.rs` has our equivalents.

use object_store::integration as oi;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use s3ec_crypto::wrap::AesWrappingKey;
use s3ec_local::AesKeyring;
use s3ec_object_store::{CommitmentPolicy, EncryptedStore, RangePolicy};

fn keyring() -> AesKeyring {
    AesKeyring::new(AesWrappingKey::from_raw(&[7; 32]).unwrap())
}

/// Envelope in object metadata, committing suite (V3), whole-object verified ranges.
fn memory() -> EncryptedStore<InMemory> {
    EncryptedStore::builder(InMemory::new())
        .keyring(keyring())
        .build()
        .unwrap()
}

/// As `memory`, ranges through unauthenticated CTR.
fn memory_ctr() -> EncryptedStore<InMemory> {
    EncryptedStore::builder(InMemory::new())
        .keyring(keyring())
        .enable_legacy_unauthenticated_modes(true)
        .range_policy(RangePolicy::UnauthenticatedCtr)
        .build()
        .unwrap()
}

/// Envelope in instruction files (V3: the message id and commitment stay in the object metadata).
fn memory_instruction() -> EncryptedStore<InMemory> {
    EncryptedStore::builder(InMemory::new())
        .keyring(keyring())
        .enable_instruction_file_put(true)
        .build()
        .unwrap()
}

/// `LocalFileSystem` keeps no user metadata: V2 envelopes in instruction files.
fn local() -> (EncryptedStore<LocalFileSystem>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = EncryptedStore::builder(LocalFileSystem::new_with_prefix(dir.path()).unwrap())
        .keyring(keyring())
        .commitment_policy(CommitmentPolicy::ForbidEncryptAllowDecrypt)
        .enable_instruction_file_put(true)
        .inner_keeps_metadata(false)
        .build()
        .unwrap();
    (store, dir)
}

macro_rules! conformance {
    ($store:ident: $($name:ident => |$s:ident| $call:expr;)*) => {
        mod $store {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let ($s, _dir) = wrap(super::$store());
                    $call.await;
                }
            )*
        }
    };
}

trait Wrap {
    type Store;
    fn wrap(self) -> (Self::Store, Option<tempfile::TempDir>);
}

impl Wrap for EncryptedStore<InMemory> {
    type Store = Self;
    fn wrap(self) -> (Self, Option<tempfile::TempDir>) {
        (self, None)
    }
}

impl Wrap for (EncryptedStore<LocalFileSystem>, tempfile::TempDir) {
    type Store = EncryptedStore<LocalFileSystem>;
    fn wrap(self) -> (Self::Store, Option<tempfile::TempDir>) {
        (self.0, Some(self.1))
    }
}

fn wrap<W: Wrap>(w: W) -> (W::Store, Option<tempfile::TempDir>) {
    w.wrap()
}

conformance! { memory:
    put_get_delete_list => |s| oi::put_get_delete_list(&s);
    list_with_offset_exclusivity => |s| oi::list_with_offset_exclusivity(&s);
    get_opts => |s| oi::get_opts(&s);
    list_uses_directories_correctly => |s| oi::list_uses_directories_correctly(&s);
    list_with_delimiter => |s| oi::list_with_delimiter(&s);
    rename_and_copy => |s| oi::rename_and_copy(&s);
    copy_if_not_exists => |s| oi::copy_if_not_exists(&s);
    copy_rename_nonexistent_object => |s| oi::copy_rename_nonexistent_object(&s);
    stream_get => |s| oi::stream_get(&s);
    put_opts => |s| oi::put_opts(&s, true);
    put_get_attributes => |s| oi::put_get_attributes(&s);
    multipart_out_of_order => |s| oi::multipart_out_of_order(&s);
}

conformance! { memory_ctr:
    put_get_delete_list => |s| oi::put_get_delete_list(&s);
}

conformance! { memory_instruction:
    put_get_delete_list => |s| oi::put_get_delete_list(&s);
    list_with_delimiter => |s| oi::list_with_delimiter(&s);
    rename_and_copy => |s| oi::rename_and_copy(&s);
    copy_if_not_exists => |s| oi::copy_if_not_exists(&s);
    stream_get => |s| oi::stream_get(&s);
}

conformance! { local:
    put_get_delete_list => |s| oi::put_get_delete_list(&s);
    list_with_offset_exclusivity => |s| oi::list_with_offset_exclusivity(&s);
    get_opts => |s| oi::get_opts(&s);
    list_uses_directories_correctly => |s| oi::list_uses_directories_correctly(&s);
    list_with_delimiter => |s| oi::list_with_delimiter(&s);
    rename_and_copy => |s| oi::rename_and_copy(&s);
    copy_if_not_exists => |s| oi::copy_if_not_exists(&s);
    copy_rename_nonexistent_object => |s| oi::copy_rename_nonexistent_object(&s);
    stream_get => |s| oi::stream_get(&s);
    put_opts => |s| oi::put_opts(&s, false);
    multipart_out_of_order => |s| oi::multipart_out_of_order(&s);
}
