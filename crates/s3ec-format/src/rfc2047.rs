//! Undoing S3's "double encoding" of non-ASCII user metadata.
//!
//! A writer sends raw UTF-8 bytes in an `x-amz-meta-*` header; S3 reads each byte as one Latin-1
//! character and returns the value as RFC 2047 encoded-words (`=?UTF-8?B?...?=`). Undoing it takes two
//! steps: decode the encoded-words, then turn every run of U+0080..=U+00FF characters back into the bytes
//! they stood for and read those as UTF-8.
//!
//! The decoder never fails: anything that is not a well-formed encoded-word, or a run that is not UTF-8,
//! is kept as it is (the spec's "return the metadata untouched"). It is applied only to the JSON of
//! `x-amz-matdesc`, `x-amz-m` and `x-amz-t` read from object metadata, never to instruction files.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;

use base64::Engine as _;

use crate::base64_engine::ENGINE as LENIENT_PADDING;

/// Decodes S3's double encoding of `value` (see the module docs); pure-ASCII values without
/// encoded-words come back borrowed and unchanged.
///
/// ```
/// use s3ec_format::decode_s3_double_encoding;
/// // "é" (C3 A9) sent raw, returned by S3 as Latin-1 "Ã©" in an encoded-word:
/// assert_eq!(decode_s3_double_encoding("=?UTF-8?B?w4PCqQ==?="), "é");
/// assert_eq!(decode_s3_double_encoding("{\"a\":\"b\"}"), "{\"a\":\"b\"}");
/// ```
pub fn decode_s3_double_encoding(value: &str) -> Cow<'_, str> {
    let words = decode_encoded_words(value);
    match latin1_runs_to_utf8(&words) {
        Cow::Borrowed(_) => words,
        Cow::Owned(s) => Cow::Owned(s),
    }
}

/// Step 1: RFC 2047 encoded-words, as JavaMail's strict `decodeText` reads them: an encoded-word is a
/// whole whitespace-delimited token, and whitespace between two decoded words is dropped.
pub(crate) fn decode_encoded_words(value: &str) -> Cow<'_, str> {
    if !value.contains("=?") {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len());
    let mut pending_space: &str = "";
    let mut last_was_word = false;
    let mut rest = value;
    while !rest.is_empty() {
        let ws_len = rest.len() - rest.trim_start_matches(is_lws).len();
        if ws_len > 0 {
            pending_space = &rest[..ws_len];
            rest = &rest[ws_len..];
            continue;
        }
        let tok_len = rest.find(is_lws).unwrap_or(rest.len());
        let token = &rest[..tok_len];
        rest = &rest[tok_len..];
        match decode_word(token) {
            Some(decoded) => {
                if !last_was_word {
                    out.push_str(pending_space);
                }
                out.push_str(&decoded);
                last_was_word = true;
            }
            None => {
                out.push_str(pending_space);
                out.push_str(token);
                last_was_word = false;
            }
        }
        pending_space = "";
    }
    out.push_str(pending_space);
    Cow::Owned(out)
}

fn is_lws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Decodes one `=?charset?B|Q?text?=` token, or `None` if it is not a well-formed encoded-word in a
/// charset we know (UTF-8, ISO-8859-1, US-ASCII).
fn decode_word(token: &str) -> Option<String> {
    let inner = token.strip_prefix("=?")?.strip_suffix("?=")?;
    let mut parts = inner.splitn(3, '?');
    let charset = parts.next()?;
    let encoding = parts.next()?;
    let text = parts.next()?;
    if text.contains('?') {
        return None;
    }
    // RFC 2231 allows a language suffix: `UTF-8*en`.
    let charset = charset.split('*').next()?;
    let bytes = match encoding {
        "B" | "b" => LENIENT_PADDING.decode(text).ok()?,
        "Q" | "q" => decode_q(text)?,
        _ => return None,
    };
    if charset.eq_ignore_ascii_case("UTF-8") || charset.eq_ignore_ascii_case("UTF8") {
        String::from_utf8(bytes).ok()
    } else if charset.eq_ignore_ascii_case("ISO-8859-1")
        || charset.eq_ignore_ascii_case("latin1")
        || charset.eq_ignore_ascii_case("ISO_8859-1")
    {
        Some(bytes.into_iter().map(char::from).collect())
    } else if charset.eq_ignore_ascii_case("US-ASCII") {
        bytes
            .iter()
            .all(u8::is_ascii)
            .then(|| bytes.into_iter().map(char::from).collect())
    } else {
        None
    }
}

fn decode_q(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'_' => out.push(b' '),
            b'=' => {
                let hi = hex_val(bytes.next()?)?;
                let lo = hex_val(bytes.next()?)?;
                out.push(hi << 4 | lo);
            }
            b'!'..=b'~' => out.push(b),
            _ => return None,
        }
    }
    Some(out)
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Step 2: each maximal run of U+0080..=U+00FF characters is read as bytes; a run that is valid UTF-8
/// is replaced by its decoding, any other run is kept.
pub(crate) fn latin1_runs_to_utf8(value: &str) -> Cow<'_, str> {
    if value.is_ascii() {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len());
    let mut run: Vec<u8> = Vec::new();
    let mut changed = false;
    let flush = |run: &mut Vec<u8>, out: &mut String, changed: &mut bool| {
        if run.is_empty() {
            return;
        }
        match core::str::from_utf8(run) {
            Ok(s) => {
                out.push_str(s);
                *changed = true;
            }
            Err(_) => out.extend(run.iter().map(|&b| char::from(b))),
        }
        run.clear();
    };
    for c in value.chars() {
        let cp = c as u32;
        if (0x80..=0xff).contains(&cp) {
            // `cp` fits a byte by the range check above.
            run.push(cp as u8);
        } else {
            flush(&mut run, &mut out, &mut changed);
            out.push(c);
        }
    }
    flush(&mut run, &mut out, &mut changed);
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_passes_through_borrowed() {
        assert!(matches!(
            decode_s3_double_encoding("{\"k\":\"v\"}"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn b_word_with_double_encoding() {
        // JSON {"a":"é"} sent raw; S3 saw bytes 7B 22 61 22 3A 22 C3 A9 22 7D as Latin-1 and
        // returned them as UTF-8 of those characters, base64 in a B-word.
        let latin1: String = "{\"a\":\"é\"}".bytes().map(char::from).collect();
        let word = alloc::format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(latin1.as_bytes())
        );
        assert_eq!(decode_s3_double_encoding(&word), "{\"a\":\"é\"}");
    }

    #[test]
    fn q_word_decodes() {
        assert_eq!(decode_encoded_words("=?UTF-8?Q?a_b=C3=A9?="), "a bé");
        assert_eq!(decode_encoded_words("=?iso-8859-1?q?=E9?="), "é");
    }

    #[test]
    fn whitespace_between_words_dropped_but_not_around_text() {
        assert_eq!(
            decode_encoded_words("x =?UTF-8?Q?a?= =?UTF-8?Q?b?= y"),
            "x ab y"
        );
    }

    #[test]
    fn malformed_words_kept() {
        for s in [
            "=?UTF-8?X?abc?=",
            "=?UTF-8?B?!!!?=",
            "=?UTF-8?Q?=ZZ?=",
            "=?unknown?B?YQ==?=",
            "=?UTF-8?B?/w==?=",
            "=?US-ASCII?Q?=FF?=",
            "=?UTF-8?Q?a?b?=",
            "=?",
            "{\"a\":\"=?UTF-8?Q?x?=\"}",
        ] {
            assert_eq!(decode_encoded_words(s), s, "{s}");
        }
    }

    #[test]
    fn invalid_utf8_runs_are_kept() {
        // A lone é (as a store that returns raw UTF-8 would) is not a valid one-byte UTF-8 run.
        assert_eq!(latin1_runs_to_utf8("café"), "café");
        assert_eq!(latin1_runs_to_utf8("cafÃ©"), "café");
        // Characters above U+00FF never stood for a byte.
        assert_eq!(latin1_runs_to_utf8("€Ã©"), "€é");
    }

    #[test]
    fn charset_language_suffix_accepted() {
        assert_eq!(decode_encoded_words("=?UTF-8*en?Q?hi?="), "hi");
    }
}
