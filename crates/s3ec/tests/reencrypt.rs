//! ReEncryptInstructionFile: rotate the wrapping key of an object without touching the object.

mod common;

use std::sync::Arc;

use common::{KeyringKind, Opts, Server};
use s3ec::{DecryptFailure, ObjectError, UsageError};
use s3ec::{Error, ReEncryptError, StringMap};
use s3ec_crypto::wrap::{AesWrappingKey, RsaPrivateKey, RsaPublicKey};
use s3ec_local::{AesKeyring, RsaKeyring};

fn desc(v: &str) -> StringMap {
    StringMap::from([("version".to_string(), v.to_string())])
}

async fn rotate(server: &Server) {
    let keys = common::keys(server).await;
    let old_key = [1u8; 32];
    let new_key = [2u8; 32];
    let old = || {
        AesKeyring::new(AesWrappingKey::from_raw(&old_key).unwrap())
            .with_material_description(desc("1"))
    };
    let new = || {
        AesKeyring::new(AesWrappingKey::from_raw(&new_key).unwrap())
            .with_material_description(desc("2"))
    };
    let o = Opts {
        instruction_file: true,
        ..Opts::default()
    };
    let writer = common::client(server, Arc::new(old()), o);
    let key = common::unique_key("rotate");
    let plain = common::data(1000, 77);
    common::put_bytes(&writer, server, &key, &plain)
        .await
        .unwrap();
    let object_before = common::raw(server, &key).await;

    // Same material description as stored: refused.
    let same = writer
        .re_encrypt_instruction_file()
        .bucket(&server.bucket)
        .key(&key)
        .new_keyring(old())
        .send()
        .await;
    assert!(
        matches!(
            same,
            Err(Error::Usage(UsageError::ReEncrypt(
                ReEncryptError::SameMaterialDescription
            )))
        ),
        "{same:?}"
    );

    // A custom suffix is only for sharing with an RSA key holder (reference rule): refused for an AES keyring,
    // before anything is written.
    let aes_custom = writer
        .re_encrypt_instruction_file()
        .bucket(&server.bucket)
        .key(&key)
        .new_keyring(new())
        .instruction_file_suffix("custom")
        .send()
        .await;
    assert!(
        matches!(
            &aes_custom,
            Err(Error::Usage(UsageError::ReEncrypt(ReEncryptError::CustomSuffixNeedsRsa { suffix, wrap })))
                if suffix == ".custom" && *wrap == "AES/GCM"
        ),
        "{aes_custom:?}"
    );
    let written = server
        .s3
        .head_object()
        .bucket(&server.bucket)
        .key(format!("{key}.custom"))
        .send()
        .await;
    assert!(
        written.is_err(),
        "no `.custom` instruction file was written"
    );
    // The default suffix spelled out is the same as none.
    let spelled = writer
        .re_encrypt_instruction_file()
        .bucket(&server.bucket)
        .key(&key)
        .new_keyring(old())
        .instruction_file_suffix(".instruction")
        .send()
        .await;
    assert!(
        matches!(
            spelled,
            Err(Error::Usage(UsageError::ReEncrypt(
                ReEncryptError::SameMaterialDescription
            )))
        ),
        "{spelled:?}"
    );

    writer
        .re_encrypt_instruction_file()
        .bucket(&server.bucket)
        .key(&key)
        .new_keyring(new())
        .enforce_rotation(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        common::raw(server, &key).await,
        object_before,
        "object bytes untouched"
    );
    let reader = common::client(server, Arc::new(new()), o);
    assert!(
        common::get_bytes(&reader, server, &key).await.unwrap() == plain,
        "new key reads"
    );
    let stale = common::get_bytes(&writer, server, &key).await;
    assert!(
        matches!(
            stale,
            Err(Error::Keyring(_)
                | Error::Decrypt(DecryptFailure::Unwrap)
                | Error::Object(
                    ObjectError::CekAlgMismatch { .. }
                        | ObjectError::ContextMismatch
                        | ObjectError::ContextOnLegacyKms
                )
                | Error::Service(_))
        ),
        "old key no longer reads: {stale:?}"
    );

    // enforce_rotation refuses a rotation the current keyring can still unwrap (a keyring holding both keys).
    let both = AesKeyring::new(AesWrappingKey::from_raw(&new_key).unwrap())
        .with_material_description(desc("2"))
        .with_decryption_key(desc("3"), AesWrappingKey::from_raw(&old_key).unwrap());
    let both_client = common::client(server, Arc::new(both), o);
    let again = AesKeyring::new(AesWrappingKey::from_raw(&old_key).unwrap())
        .with_material_description(desc("3"));
    let refused = both_client
        .re_encrypt_instruction_file()
        .bucket(&server.bucket)
        .key(&key)
        .new_keyring(again)
        .enforce_rotation(true)
        .send()
        .await;
    assert!(
        matches!(
            refused,
            Err(Error::Usage(UsageError::ReEncrypt(
                ReEncryptError::RotationNotEnforced
            )))
        ),
        "{refused:?}"
    );

    // Share with an RSA key holder under a custom suffix; the default instruction file stays as it was.
    let public = RsaPublicKey::from_der(&keys.rsa_public_der).unwrap();
    let partner = RsaKeyring::encrypt_only(public).with_material_description(desc("partner"));
    reader
        .re_encrypt_instruction_file()
        .bucket(&server.bucket)
        .key(&key)
        .new_keyring(partner)
        .instruction_file_suffix(".partner")
        .send()
        .await
        .unwrap();
    let partner_reader = common::client(
        server,
        Arc::new(RsaKeyring::from_key_pair(
            RsaPublicKey::from_der(&keys.rsa_public_der).unwrap(),
            RsaPrivateKey::from_der(&keys.rsa_private_der).unwrap(),
        )),
        o,
    );
    let out = partner_reader
        .get_object()
        .bucket(&server.bucket)
        .key(&key)
        .instruction_file_suffix(".partner")
        .send()
        .await
        .unwrap();
    assert!(
        out.body.collect().await.unwrap().to_vec() == plain,
        "partner reads through its own instruction file"
    );
    assert!(
        common::get_bytes(&reader, server, &key).await.unwrap() == plain,
        "default file unchanged"
    );

    // Objects whose envelope is in the metadata cannot be re-encrypted.
    let meta_client = common::client(
        server,
        common::keyring(server, &keys, KeyringKind::Aes),
        Opts {
            instruction_file: false,
            ..Opts::default()
        },
    );
    let key2 = common::unique_key("rotate-meta");
    common::put_bytes(&meta_client, server, &key2, b"x")
        .await
        .unwrap();
    let r = writer
        .re_encrypt_instruction_file()
        .bucket(&server.bucket)
        .key(&key2)
        .new_keyring(new())
        .send()
        .await;
    assert!(
        matches!(
            r,
            Err(Error::Usage(UsageError::ReEncrypt(
                ReEncryptError::EnvelopeInObjectMetadata
            )))
        ),
        "{r:?}"
    );

    // A client without instruction-file writes cannot re-encrypt.
    let r = meta_client
        .re_encrypt_instruction_file()
        .bucket(&server.bucket)
        .key(&key)
        .new_keyring(new())
        .send()
        .await;
    assert!(
        matches!(
            r,
            Err(Error::Usage(UsageError::ReEncrypt(
                ReEncryptError::InstructionFilePutDisabled
            )))
        ),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_on_moto() {
    rotate(&common::moto().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_on_garage() {
    rotate(&common::garage().await).await;
}

/// Beyond the reference (which takes only raw keyrings), a KMS keyring may rotate the default instruction file;
/// the reference's suffix rule still holds: a custom suffix is refused for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_keyring_with_custom_suffix_is_refused_on_moto() {
    let server = common::moto().await;
    let keys = common::keys(&server).await;
    let o = Opts {
        instruction_file: true,
        ..Opts::default()
    };
    let writer = common::client(
        &server,
        common::keyring(&server, &keys, KeyringKind::Aes),
        o,
    );
    let key = common::unique_key("rotate-kms");
    common::put_bytes(&writer, &server, &key, b"kms share")
        .await
        .unwrap();
    let kms = common::keyring(&server, &keys, KeyringKind::Kms);
    let r = writer
        .re_encrypt_instruction_file()
        .bucket(&server.bucket)
        .key(&key)
        .new_keyring(kms.clone())
        .instruction_file_suffix("partner")
        .send()
        .await;
    assert!(
        matches!(
            &r,
            Err(Error::Usage(UsageError::ReEncrypt(ReEncryptError::CustomSuffixNeedsRsa { wrap, .. }))) if *wrap == "kms+context"
        ),
        "{r:?}"
    );
    writer
        .re_encrypt_instruction_file()
        .bucket(&server.bucket)
        .key(&key)
        .new_keyring(kms.clone())
        .send()
        .await
        .unwrap();
    let reader = common::client(&server, kms, o);
    assert_eq!(
        common::get_bytes(&reader, &server, &key).await.unwrap(),
        b"kms share"
    );
}
