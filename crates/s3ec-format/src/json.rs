//! Flat JSON objects: a strict reader (duplicate names rejected, value kinds kept) and a writer whose
//! output matches Java's (Jackson: compact, `\uXXXX` in upper-case hex, non-ASCII written raw).

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::error::JsonProblem;

/// The value of one member of a flat object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scalar {
    /// A JSON string.
    Str(String),
    /// A JSON integer in `0..=u64::MAX`.
    UInt(u64),
    /// Anything else (negative or fractional number, bool, null, array, object).
    Other,
}

/// Parses `bytes` as one JSON object and returns its members in document order.
///
/// Duplicate member names are an error: with last-wins parsing an attacker could hide a second value
/// from one reader and show it to another.
pub(crate) fn parse_flat_object(bytes: &[u8]) -> Result<Vec<(String, Scalar)>, JsonProblem> {
    let text = core::str::from_utf8(bytes).map_err(|_| JsonProblem::NotUtf8)?;
    let mut de = serde_json::Deserializer::from_str(text);
    let top = TopLevel
        .deserialize(&mut de)
        .map_err(|e| syntax_problem(&e))?;
    de.end().map_err(|e| syntax_problem(&e))?;
    let members = top.ok_or(JsonProblem::NotAnObject)?;
    let mut names: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(JsonProblem::DuplicateName {
            name: w[0].to_string(),
        });
    }
    Ok(members)
}

/// Parses a JSON object whose values must all be strings (material description, encryption context).
pub(crate) fn parse_string_map(text: &str) -> Result<crate::StringMap, JsonProblem> {
    let members = parse_flat_object(text.as_bytes())?;
    let mut map = crate::StringMap::new();
    for (name, value) in members {
        match value {
            Scalar::Str(s) => {
                map.insert(name, s);
            }
            _ => return Err(JsonProblem::NotAString { name }),
        }
    }
    Ok(map)
}

fn syntax_problem(e: &serde_json::Error) -> JsonProblem {
    JsonProblem::Syntax {
        line: e.line(),
        column: e.column(),
    }
}

/// Accepts any JSON value; `Some(members)` for an object, `None` for anything else.
struct TopLevel;

impl<'de> DeserializeSeed<'de> for TopLevel {
    type Value = Option<Vec<(String, Scalar)>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(TopVisitor)
    }
}

struct TopVisitor;

macro_rules! not_an_object {
    ($($name:ident: $ty:ty),*) => {$(
        fn $name<E: de::Error>(self, _: $ty) -> Result<Self::Value, E> { Ok(None) }
    )*};
}

impl<'de> Visitor<'de> for TopVisitor {
    type Value = Option<Vec<(String, Scalar)>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    not_an_object!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64, visit_str: &str);
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::new();
        while let Some(name) = map.next_key::<String>()? {
            let value = map.next_value_seed(ScalarSeed)?;
            members.push((name, value));
        }
        Ok(Some(members))
    }
}

struct ScalarSeed;

impl<'de> DeserializeSeed<'de> for ScalarSeed {
    type Value = Scalar;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Scalar, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

macro_rules! other_scalar {
    ($($name:ident: $ty:ty),*) => {$(
        fn $name<E: de::Error>(self, _: $ty) -> Result<Scalar, E> { Ok(Scalar::Other) }
    )*};
}

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    other_scalar!(visit_bool: bool, visit_i64: i64, visit_f64: f64);
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar::UInt(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
        Ok(Scalar::Str(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
}

/// Writes `{"k":"v",...}` with Jackson's escaping, in the order given.
pub(crate) fn write_flat_object<'a>(
    members: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(&mut out, k);
        out.push(':');
        write_string(&mut out, v);
    }
    out.push('}');
    out
}

/// Appends `s` as a JSON string the way Java's SDK `JsonWriter` (Jackson) does: `"` and `\` escaped,
/// control characters as `\b \t \n \f \r` or `\u00XX`, characters outside the BMP as an escaped
/// surrogate pair (`\uD83D\uDE00`), hex in upper case, everything else (DEL, U+2028, é) verbatim.
/// Checked against Java v4's output in `tests/java_encodings.rs`.
pub(crate) fn write_string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{0c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || (c as u32) > 0xffff => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str("\\u");
                    for shift in [12, 8, 4, 0] {
                        out.push(HEX[usize::from((*unit >> shift) & 0xf)] as char);
                    }
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Java's `String.hashCode` (over UTF-16 code units).
fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, u| h.wrapping_mul(31).wrapping_add(i32::from(u)))
}

/// Orders keys as a `java.util.HashMap` of default capacity 16 iterates them, given the order they were
/// put in. Valid while the map holds at most 12 entries (no resize), which the fixed instruction-file
/// key sets satisfy; Java writes instruction files by iterating such a map.
pub(crate) fn java_hashmap_order<'a>(keys_in_put_order: &[&'a str]) -> Vec<&'a str> {
    debug_assert!(keys_in_put_order.len() <= 12);
    let bucket = |k: &str| {
        let h = java_string_hash(k) as u32;
        ((h ^ (h >> 16)) & 15) as usize
    };
    let mut indexed: Vec<(usize, usize, &'a str)> = keys_in_put_order
        .iter()
        .enumerate()
        .map(|(i, k)| (bucket(k), i, *k))
        .collect();
    indexed.sort_unstable();
    indexed.into_iter().map(|(_, _, k)| k).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn java_hash_matches_known_values() {
        // Values of "".hashCode(), "a".hashCode(), "hello".hashCode() in Java.
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        assert_eq!(java_string_hash("hello"), 99_162_322);
        // Overflowing example: "polygenelubricants".hashCode() == Integer.MIN_VALUE.
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
    }

    #[test]
    fn writer_escapes_like_jackson() {
        let s = write_flat_object([("a\"b", "c\\d\n\u{1}\u{7f}é\u{1F600}")]);
        assert_eq!(s, "{\"a\\\"b\":\"c\\\\d\\n\\u0001\u{7f}é\\uD83D\\uDE00\"}");
        assert_eq!(write_flat_object([]), "{}");
    }

    #[test]
    fn writer_output_parses_back() {
        let pairs = [("k\u{1f}", "v\u{0}\u{8}\u{c}\r\t/"), ("x", "")];
        let text = write_flat_object(pairs.iter().copied());
        let map = parse_string_map(&text).unwrap();
        assert_eq!(map.len(), 2);
        assert_eq!(map["k\u{1f}"], "v\u{0}\u{8}\u{c}\r\t/");
    }

    #[test]
    fn duplicate_names_rejected() {
        assert_eq!(
            parse_flat_object(br#"{"a":"1","a":"2"}"#),
            Err(JsonProblem::DuplicateName { name: "a".into() })
        );
    }

    #[test]
    fn non_objects_rejected() {
        for doc in [&b"[]"[..], b"1", b"\"x\"", b"null", b"true"] {
            assert_eq!(parse_flat_object(doc), Err(JsonProblem::NotAnObject));
        }
    }

    #[test]
    fn trailing_input_and_bad_utf8_rejected() {
        assert!(matches!(
            parse_flat_object(b"{} {}"),
            Err(JsonProblem::Syntax { .. })
        ));
        assert_eq!(
            parse_flat_object(b"{\"\xff\":1}"),
            Err(JsonProblem::NotUtf8)
        );
    }

    #[test]
    fn scalar_kinds_kept() {
        let m =
            parse_flat_object(br#"{"a":128,"b":-1,"c":1.5,"d":[1],"e":{"x":1},"f":null,"g":"s"}"#)
                .unwrap();
        let kinds: Vec<Scalar> = m.into_iter().map(|(_, v)| v).collect();
        assert_eq!(
            kinds,
            vec![
                Scalar::UInt(128),
                Scalar::Other,
                Scalar::Other,
                Scalar::Other,
                Scalar::Other,
                Scalar::Other,
                Scalar::Str("s".into())
            ]
        );
    }

    #[test]
    fn string_map_rejects_non_strings() {
        assert_eq!(
            parse_string_map(r#"{"a":1}"#),
            Err(JsonProblem::NotAString { name: "a".into() })
        );
    }
}
