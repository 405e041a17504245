//! The protocol's text encodings, with no IO: the `Content-Metadata` header list, path labels and
//! boolean headers.
//!
//! `Content-Metadata` carries a map as a Smithy list of strings in one header: elements `[key]:[value]`,
//! joined with commas (restJson1 list-in-header rules: optional whitespace around each comma, an element
//! holding a comma or a double quote is sent as a quoted string, and several header lines are one list).

use s3ec::StringMap;

/// Why a header or path could not be read; answered as the model's `GenericServerError`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError(pub String);

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Splits header lines into list elements: commas separate, whitespace around them is dropped, a quoted
/// element keeps its commas and loses its quotes and backslash escapes, empty elements are skipped.
pub fn split_list<'a>(lines: impl IntoIterator<Item = &'a str>) -> Result<Vec<String>, WireError> {
    let mut out = Vec::new();
    for line in lines {
        let mut chars = line.chars().peekable();
        loop {
            while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
            let Some(&first) = chars.peek() else { break };
            let mut element = String::new();
            if first == '"' {
                chars.next();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => match chars.next() {
                            Some(escaped) => element.push(escaped),
                            None => break,
                        },
                        '"' => {
                            closed = true;
                            break;
                        }
                        other => element.push(other),
                    }
                }
                if !closed {
                    return Err(WireError(format!(
                        "unterminated quoted list element in {line:?}"
                    )));
                }
                while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
                match chars.next() {
                    None | Some(',') => {}
                    Some(other) => {
                        return Err(WireError(format!(
                            "unexpected {other:?} after a quoted list element in {line:?}"
                        )))
                    }
                }
            } else {
                for c in chars.by_ref() {
                    if c == ',' {
                        break;
                    }
                    element.push(c);
                }
                let trimmed = element.trim_end_matches([' ', '\t']);
                if trimmed.is_empty() {
                    continue;
                }
                element.truncate(trimmed.len());
            }
            out.push(element);
        }
    }
    Ok(out)
}

/// Reads `[key]:[value]` elements into a map (a later duplicate key wins, as in the reference servers).
pub fn parse_metadata<'a>(
    lines: impl IntoIterator<Item = &'a str>,
) -> Result<StringMap, WireError> {
    let mut map = StringMap::new();
    for element in split_list(lines)? {
        let pair = element
            .strip_prefix('[')
            .and_then(|e| e.strip_suffix(']'))
            .and_then(|inner| {
                let mut parts = inner.split("]:[");
                match (parts.next(), parts.next(), parts.next()) {
                    (Some(k), Some(v), None) => Some((k, v)),
                    _ => None,
                }
            });
        match pair {
            Some((k, v)) => {
                map.insert(k.to_string(), v.to_string());
            }
            None => {
                return Err(WireError(format!(
                    "Malformed metadata list entry: {element:?} (expected [key]:[value])"
                )))
            }
        }
    }
    Ok(map)
}

/// Writes a map as one `Content-Metadata` value, quoting elements that hold a comma, a quote or a backslash.
pub fn format_metadata<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (k, v) in entries {
        if !out.is_empty() {
            out.push_str(", ");
        }
        let element = format!("[{k}]:[{v}]");
        if element.contains([',', '"', '\\']) || element.starts_with(' ') || element.ends_with(' ')
        {
            out.push('"');
            for c in element.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        } else {
            out.push_str(&element);
        }
    }
    out
}

/// Decodes one percent-encoded path label (`%2F` → `/`); a `+` stays a `+`.
pub fn decode_label(label: &str) -> Result<String, WireError> {
    let bytes = label.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(b) => out.push(b),
                None => {
                    return Err(WireError(format!(
                        "bad percent-encoding in path label {label:?}"
                    )))
                }
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| WireError(format!("path label {label:?} is not UTF-8")))
}

/// A Smithy boolean header: `true` or `false` (any case), absent is `None`.
pub fn parse_bool(name: &str, value: Option<&str>) -> Result<Option<bool>, WireError> {
    match value.map(str::trim) {
        None => Ok(None),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(v) => Err(WireError(format!(
            "header {name} must be true or false, not {v:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> StringMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn metadata_list_with_odd_spacing_and_several_lines() {
        let lines = ["[a]:[1],[b]:[2]", "  [c]:[3] ,\t[d]:[four words]  ", ""];
        assert_eq!(
            parse_metadata(lines).unwrap(),
            map(&[("a", "1"), ("b", "2"), ("c", "3"), ("d", "four words")])
        );
        assert_eq!(parse_metadata([" , ,"]).unwrap(), StringMap::new());
        assert_eq!(
            parse_metadata(std::iter::empty()).unwrap(),
            StringMap::new()
        );
    }

    #[test]
    fn quoted_elements_keep_commas_and_quotes() {
        let lines = [r#""[k,1]:[v, \"x\"]" , [plain]:[y]"#];
        assert_eq!(
            parse_metadata(lines).unwrap(),
            map(&[("k,1", "v, \"x\""), ("plain", "y")])
        );
        let written = format_metadata([("k,1", "v, \"x\""), ("plain", "y")]);
        assert_eq!(written, r#""[k,1]:[v, \"x\"]", [plain]:[y]"#);
        assert_eq!(
            parse_metadata([written.as_str()]).unwrap(),
            map(&[("k,1", "v, \"x\""), ("plain", "y")])
        );
    }

    #[test]
    fn empty_keys_and_values_are_kept() {
        assert_eq!(parse_metadata(["[]:[]"]).unwrap(), map(&[("", "")]));
    }

    #[test]
    fn malformed_elements_are_refused() {
        for bad in [
            "a:b",
            "[a]:b",
            "[a]=[b]",
            "[a]:[b]:[c]",
            "[a]",
            r#""[a]:[b]"#,
            r#""[a]:[b]" x"#,
        ] {
            assert!(parse_metadata([bad]).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn labels_and_booleans() {
        assert_eq!(decode_label("a%2Fb%20c+d").unwrap(), "a/b c+d");
        assert!(decode_label("bad%2").is_err());
        assert!(decode_label("bad%zz").is_err());
        assert!(decode_label("%ff").is_err());
        assert_eq!(parse_bool("E", Some("TRUE")).unwrap(), Some(true));
        assert_eq!(parse_bool("E", Some(" false")).unwrap(), Some(false));
        assert_eq!(parse_bool("E", None).unwrap(), None);
        assert!(parse_bool("E", Some("yes")).is_err());
    }
}
