//! Thin entry points for the fuzz targets in `fuzz/`. Not part of the API.

use alloc::string::String;

use crate::{
    decode_object, decode_with_instruction_file, encode, Envelope, FormatError, Located, Metadata,
    Storage,
};

/// Decodes `pairs` (plus `instruction` when given) and, on success, asserts that re-encoding to each
/// storage decodes back to the same envelope.
pub fn decode_metadata(pairs: &[(String, String)], instruction: Option<&[u8]>) {
    let metadata: Metadata = pairs.iter().cloned().collect();
    let decoded = match decode_object(&metadata) {
        Ok(Located::Complete(env)) => Some(env),
        Ok(Located::NeedsInstructionFile(need)) => instruction.and_then(|bytes| {
            let direct = decode_with_instruction_file(&metadata, bytes);
            let via_need = need.decode(bytes);
            assert_eq!(direct, via_need, "the two instruction-file paths disagree");
            direct.ok()
        }),
        Err(_) => None,
    };
    if let Some(env) = decoded {
        assert_round_trip(&env);
    }
}

/// Asserts `decode(encode(env, s)) == env` for both storages (object metadata may refuse a context
/// S3 would alter, with [`FormatError::UnstorableInMetadata`]).
pub fn assert_round_trip(env: &Envelope) {
    for storage in [Storage::ObjectMetadata, Storage::InstructionFile] {
        let encoded = match encode(env, storage) {
            Ok(e) => e,
            Err(FormatError::UnstorableInMetadata { .. }) if storage == Storage::ObjectMetadata => {
                continue
            }
            Err(e) => panic!("a decoded envelope failed to encode for {storage}: {e}"),
        };
        let expected = Envelope {
            storage,
            ..env.clone()
        };
        let again = match (
            decode_object(&encoded.object_metadata),
            &encoded.instruction_file,
        ) {
            (Ok(Located::Complete(e)), None) => e,
            (Ok(Located::NeedsInstructionFile(need)), Some(file)) => need
                .decode(file)
                .unwrap_or_else(|e| panic!("re-encoded instruction file failed: {e}")),
            (other, file) => panic!("re-encoded envelope did not decode: {other:?} file={file:?}"),
        };
        assert_eq!(again, expected, "round trip changed the envelope");
    }
}

/// Runs the double-encoding decoder and checks the invariants that must hold for any input.
pub fn rfc2047(input: &str) {
    let out = crate::decode_s3_double_encoding(input);
    if input.is_ascii() && !input.contains("=?") {
        assert_eq!(out, input, "plain ASCII must pass through");
    }
    let words = crate::rfc2047::decode_encoded_words(input);
    if !input.contains("=?") {
        assert_eq!(words, input);
    }
}

/// Splits a fuzz input into metadata pairs and optional instruction-file bytes, then runs
/// [`decode_metadata`].
///
/// Layout (chosen so seeds can be written from real envelopes): the bytes before the first `0xFF`
/// are the metadata, one `key<TAB>value` pair per line (lossy UTF-8); the bytes after it, if there
/// is one, are the instruction file.
pub fn decode_metadata_input(data: &[u8]) {
    let (meta, instruction) = match data.iter().position(|&b| b == 0xff) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let text = String::from_utf8_lossy(meta);
    let pairs: alloc::vec::Vec<(String, String)> = text
        .split('\n')
        .filter(|l| !l.is_empty())
        .map(|line| match line.split_once('\t') {
            Some((k, v)) => (String::from(k), String::from(v)),
            None => (String::from(line), String::new()),
        })
        .collect();
    decode_metadata(&pairs, instruction);
}

/// Builds an envelope from arbitrary bytes and, whenever [`encode`] accepts it for a storage,
/// asserts that decoding the result gives the envelope back (encode first, unlike
/// [`decode_metadata`], which starts from bytes).
///
/// Layout: a selector byte (version, suite, wrap), a length-prefixed wrapped key, a
/// length-prefixed IV, 28 bytes of message id, 28 of commitment, an optional-length flag and 8
/// bytes of length, then `key<TAB>value` context lines (lossy UTF-8).
pub fn encode_roundtrip(data: &[u8]) {
    use crate::{
        AlgorithmSuite, ContentNonce, FormatVersion, StringMap, WrapAlgorithm, COMMITMENT_LEN,
        MESSAGE_ID_LEN,
    };
    let mut rest = data;
    let mut take = |n: usize| {
        let n = n.min(rest.len());
        let (head, tail) = rest.split_at(n);
        rest = tail;
        head
    };
    let Some(&[selector, wrap_sel]) = take(2).first_chunk::<2>() else {
        return;
    };
    let version =
        [FormatVersion::V1, FormatVersion::V2, FormatVersion::V3][usize::from(selector % 3)];
    let suite = AlgorithmSuite::ALL[usize::from(selector / 3) % AlgorithmSuite::ALL.len()];
    let wrap = WrapAlgorithm::ALL[usize::from(wrap_sel) % WrapAlgorithm::ALL.len()];
    let key_len = take(1).first().copied().unwrap_or(0);
    let encrypted_data_key = take(usize::from(key_len)).to_vec();
    let iv_len = take(1).first().copied().unwrap_or(0) % 33;
    let iv = take(usize::from(iv_len)).to_vec();
    let mut message_id = [0u8; MESSAGE_ID_LEN];
    let id = take(MESSAGE_ID_LEN);
    message_id[..id.len()].copy_from_slice(id);
    let mut commitment = [0u8; COMMITMENT_LEN];
    let c = take(COMMITMENT_LEN);
    commitment[..c.len()].copy_from_slice(c);
    let has_len = take(1).first().is_some_and(|b| b & 1 == 1);
    let len_bytes = take(8);
    let mut len = [0u8; 8];
    len[..len_bytes.len()].copy_from_slice(len_bytes);
    let text = String::from_utf8_lossy(rest);
    let context: StringMap = text
        .split('\n')
        .filter(|l| !l.is_empty())
        .map(|line| match line.split_once('\t') {
            Some((k, v)) => (String::from(k), String::from(v)),
            None => (String::from(line), String::new()),
        })
        .collect();
    let env = Envelope {
        version,
        suite,
        wrap,
        encrypted_data_key,
        nonce: if version == FormatVersion::V3 {
            ContentNonce::Committed {
                message_id,
                commitment,
            }
        } else {
            ContentNonce::Iv(iv)
        },
        context,
        unencrypted_content_length: has_len.then_some(u64::from_be_bytes(len)),
        storage: Storage::ObjectMetadata,
    };
    for storage in [Storage::ObjectMetadata, Storage::InstructionFile] {
        let Ok(encoded) = encode(&env, storage) else {
            continue;
        };
        let expected = Envelope {
            storage,
            ..env.clone()
        };
        let again = match (
            decode_object(&encoded.object_metadata),
            &encoded.instruction_file,
        ) {
            (Ok(Located::Complete(e)), None) => Ok(e),
            (Ok(Located::NeedsInstructionFile(need)), Some(file)) => need.decode(file),
            (Ok(other), file) => {
                panic!("encoded {storage} envelope located as {other:?}, file {file:?}")
            }
            (Err(e), _) => Err(e),
        };
        match again {
            Ok(e) => assert_eq!(e, expected, "encode then decode changed the envelope"),
            Err(e) => {
                panic!("encode accepted an envelope that decode refuses ({storage}): {e}\n{env:?}")
            }
        }
    }
}
