//! Property tests: encode then decode is the identity for every valid envelope, V1/V2/V3, to object
//! metadata and to an instruction file; arbitrary metadata never panics the decoder.

use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use s3ec_format::*;

fn context(ascii_only: bool) -> impl Strategy<Value = StringMap> {
    let s = if ascii_only {
        "[ -~]{0,12}"
    } else {
        "\\PC{0,12}"
    };
    btree_map(s, s, 0..5)
}

fn nonzero(len: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), len).prop_filter("not all zero", |v| v.iter().any(|&b| b != 0))
}

fn v2() -> impl Strategy<Value = Envelope> {
    (
        prop_oneof![Just(AlgorithmSuite::AesGcm), Just(AlgorithmSuite::AesCbc)],
        prop_oneof![
            Just(WrapAlgorithm::AesGcm),
            Just(WrapAlgorithm::AesWrap),
            Just(WrapAlgorithm::RsaOaepSha1),
            Just(WrapAlgorithm::RsaOaepSha256),
            Just(WrapAlgorithm::Kms),
            Just(WrapAlgorithm::KmsContext),
        ],
        vec(any::<u8>(), 1..300),
        any::<bool>(),
        option::of(any::<u64>()),
    )
        .prop_flat_map(|(suite, wrap, edk, ascii, len)| {
            (nonzero(suite.iv_len()), context(ascii)).prop_map(move |(iv, ctx)| Envelope {
                version: FormatVersion::V2,
                suite,
                wrap,
                encrypted_data_key: edk.clone(),
                nonce: ContentNonce::Iv(iv),
                context: ctx,
                unencrypted_content_length: len,
                storage: Storage::ObjectMetadata,
            })
        })
}

fn v1() -> impl Strategy<Value = Envelope> {
    (
        vec(any::<u8>(), 1..300),
        nonzero(16),
        context(true),
        option::of(any::<u64>()),
    )
        .prop_map(|(edk, iv, ctx, len)| Envelope {
            version: FormatVersion::V1,
            suite: AlgorithmSuite::AesCbc,
            wrap: if edk.len() > 48 {
                WrapAlgorithm::RsaV1
            } else {
                WrapAlgorithm::AesV1
            },
            encrypted_data_key: edk,
            nonce: ContentNonce::Iv(iv),
            context: ctx,
            unencrypted_content_length: len,
            storage: Storage::ObjectMetadata,
        })
}

fn v3() -> impl Strategy<Value = Envelope> {
    (
        prop_oneof![
            Just(WrapAlgorithm::AesGcm),
            Just(WrapAlgorithm::RsaOaepSha1),
            Just(WrapAlgorithm::KmsContext)
        ],
        vec(any::<u8>(), 1..300),
        nonzero(28),
        any::<[u8; 28]>(),
        any::<bool>(),
        option::of(any::<u64>()),
    )
        .prop_flat_map(|(wrap, edk, mid, commitment, ascii, len)| {
            context(ascii).prop_map(move |ctx| Envelope {
                version: FormatVersion::V3,
                suite: AlgorithmSuite::AesGcmCommitKey,
                wrap,
                encrypted_data_key: edk.clone(),
                nonce: ContentNonce::Committed {
                    message_id: mid.clone().try_into().unwrap(),
                    commitment,
                },
                context: ctx,
                unencrypted_content_length: len,
                storage: Storage::ObjectMetadata,
            })
        })
}

fn round_trip(env: &Envelope, storage: Storage) -> Result<Envelope, FormatError> {
    let enc = encode(env, storage)?;
    match decode_object(&enc.object_metadata)? {
        Located::Complete(e) => {
            assert_eq!(enc.instruction_file, None);
            Ok(e)
        }
        Located::NeedsInstructionFile(need) => {
            need.decode(enc.instruction_file.as_ref().expect("file"))
        }
    }
}

fn check(env: Envelope) -> Result<(), TestCaseError> {
    for storage in [Storage::ObjectMetadata, Storage::InstructionFile] {
        let expected = Envelope {
            storage,
            ..env.clone()
        };
        match round_trip(&env, storage) {
            Ok(got) => prop_assert_eq!(got, expected),
            Err(FormatError::UnstorableInMetadata { .. }) => {
                prop_assert_eq!(storage, Storage::ObjectMetadata);
                prop_assert!(env.context.iter().any(|(k, v)| !k.is_ascii()
                    || !v.is_ascii()
                    || k.contains("=?")
                    || v.contains("=?")));
            }
            Err(e) => prop_assert!(false, "{e}"),
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn v1_round_trips(env in v1()) { check(env)?; }

    #[test]
    fn v2_round_trips(env in v2()) { check(env)?; }

    #[test]
    fn v3_round_trips(env in v3()) { check(env)?; }

    #[test]
    fn ascii_contexts_always_fit_object_metadata(env in v3().prop_filter("ascii", |e| e.context.iter().all(|(k, v)| k.is_ascii() && v.is_ascii() && !k.contains("=?") && !v.contains("=?")))) {
        prop_assert!(encode(&env, Storage::ObjectMetadata).is_ok());
    }

    #[test]
    fn keys_in_any_case_decode_the_same(env in v3(), upper in vec(any::<bool>(), 8)) {
        // Contexts S3 would alter cannot be in object metadata; the others must decode in any key case.
        if let Ok(enc) = encode(&env, Storage::ObjectMetadata) {
            let object: Metadata = enc
                .object_metadata
                .iter()
                .enumerate()
                .map(|(i, (k, v))| (if upper[i % 8] { k.to_ascii_uppercase() } else { k.to_owned() }, v))
                .collect();
            prop_assert_eq!(decode_object(&object).unwrap(), Located::Complete(env));
        }
    }

    #[test]
    fn arbitrary_metadata_never_panics(pairs in vec((prop_oneof![
            Just("x-amz-key".to_owned()), Just("x-amz-key-v2".to_owned()), Just("x-amz-iv".to_owned()),
            Just("x-amz-matdesc".to_owned()), Just("x-amz-cek-alg".to_owned()), Just("x-amz-tag-len".to_owned()),
            Just("x-amz-wrap-alg".to_owned()), Just("x-amz-c".to_owned()), Just("x-amz-3".to_owned()),
            Just("x-amz-w".to_owned()), Just("x-amz-d".to_owned()), Just("x-amz-i".to_owned()),
            Just("x-amz-m".to_owned()), Just("x-amz-t".to_owned()), "[a-zA-Z-]{0,16}"
        ], "\\PC{0,40}"), 0..10), file in option::of(vec(any::<u8>(), 0..200))) {
        s3ec_format::fuzzing::decode_metadata(&pairs, file.as_deref());
    }

    #[test]
    fn instruction_file_prefixes_fail(env in v2()) {
        let enc = encode(&env, Storage::InstructionFile).unwrap();
        let file = enc.instruction_file.unwrap();
        for n in (0..file.len()).step_by(7) {
            prop_assert!(decode_with_instruction_file(&enc.object_metadata, &file[..n]).is_err());
        }
    }

    #[test]
    fn double_encoding_decoder_never_panics(s in "\\PC{0,60}") {
        s3ec_format::fuzzing::rfc2047(&s);
    }
}
