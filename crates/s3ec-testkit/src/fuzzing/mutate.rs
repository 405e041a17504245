//! Reading the input and applying its mutations to what the server answers.

#[allow(clippy::wildcard_imports)]
use super::*;

/// Envelope keys the mutations pick from (metadata and instruction-file names of V1, V2 and V3).
pub(crate) const ENVELOPE_KEYS: &[&str] = &[
    "x-amz-key",
    "x-amz-key-v2",
    "x-amz-iv",
    "x-amz-matdesc",
    "x-amz-cek-alg",
    "x-amz-wrap-alg",
    "x-amz-tag-len",
    "x-amz-unencrypted-content-length",
    "x-amz-3",
    "x-amz-c",
    "x-amz-d",
    "x-amz-i",
    "x-amz-w",
    "x-amz-t",
    "x-amz-m",
    "x-amz-crypto-instr-file",
];

/// Values worth planting as they are.
pub(crate) const INTERESTING_VALUES: &[&str] = &[
    "",
    "AES/GCM/NoPadding",
    "AES/CBC/PKCS5Padding",
    "AES/CTR/NoPadding",
    "115",
    "114",
    "112",
    "128",
    "96",
    "0",
    "kms+context",
    "kms",
    "AES/GCM",
    "AESWrap",
    "RSA-OAEP-SHA1",
    "02",
    "12",
    "{}",
    "{\"aws:x-amz-cek-alg\":\"AES/GCM/NoPadding\"}",
    "=?UTF-8?B?QUVTL0dDTS9Ob1BhZGRpbmc=?=",
    "AAAAAAAAAAAAAAAA",
    "AAAAAAAAAAAAAAAAAAAAAA==",
];

/// Reads the input; every read returns zeros once it is exhausted.
pub(crate) struct Input<'a>(pub(crate) Unstructured<'a>);

impl Input<'_> {
    pub(crate) fn byte(&mut self) -> u8 {
        self.0.arbitrary::<u8>().unwrap_or(0)
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            usize::from(self.byte()) % n
        }
    }
    pub(crate) fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }
    pub(crate) fn bytes(&mut self) -> Vec<u8> {
        let n = usize::from(self.byte());
        self.0.bytes(n.min(self.0.len())).unwrap_or(&[]).to_vec()
    }
    pub(crate) fn string(&mut self) -> String {
        String::from_utf8_lossy(&self.bytes()).into_owned()
    }
    pub(crate) fn done(&self) -> bool {
        self.0.is_empty()
    }
}

/// The server's view of the object after the mutations.
#[derive(Debug)]
pub(crate) struct Served {
    pub(crate) body: Vec<u8>,
    pub(crate) metadata: Vec<(String, String)>,
    pub(crate) instruction: Option<Vec<(String, String)>>,
    pub(crate) instruction_raw: Option<Vec<u8>>,
    pub(crate) instruction_status: Option<u16>,
    pub(crate) status: Option<u16>,
    pub(crate) content_range: Option<Option<String>>,
    pub(crate) content_length: Option<Option<String>>,
    pub(crate) chunk: Option<usize>,
    pub(crate) fail_after: Option<usize>,
    /// Response bytes or headers of the object were changed.
    pub(crate) body_tampered: bool,
    /// Metadata or the instruction file were changed.
    pub(crate) envelope_tampered: bool,
}

pub(crate) fn pick_key(inp: &mut Input<'_>) -> String {
    let i = inp.byte();
    match ENVELOPE_KEYS.get(usize::from(i) % 20) {
        Some(k) if i < 200 => (*k).to_string(),
        _ if i >= 250 => format!("X-Amz-{}", inp.string()),
        _ => inp.string().to_ascii_lowercase(),
    }
}

pub(crate) fn pick_value(inp: &mut Input<'_>, g: &Genuine, key: &str, s: &Served) -> String {
    let current = s
        .metadata
        .iter()
        .chain(s.instruction.iter().flatten())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone());
    match inp.byte() % 7 {
        0 => INTERESTING_VALUES[inp.below(INTERESTING_VALUES.len())].to_string(),
        1 => {
            let all: Vec<&String> = g
                .metadata
                .iter()
                .chain(g.instruction.iter().flatten())
                .map(|(_, v)| v)
                .collect();
            all.get(inp.below(all.len()))
                .map_or_else(String::new, |v| (*v).clone())
        }
        2 => inp.string(),
        3 => {
            // One character of the current value changed: a near miss of a valid value.
            let mut v = current.unwrap_or_default().into_bytes();
            if !v.is_empty() {
                let at = inp.below(v.len());
                v[at] = b"AZaz09+/=-{}\":,"[inp.below(15)];
            }
            String::from_utf8_lossy(&v).into_owned()
        }
        4 => {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(inp.bytes())
        }
        5 => inp.u16().to_string(),
        _ => {
            // The value of the same key in another genuine object (cut and paste between objects).
            let w = world();
            let other = &w.objects[inp.below(w.objects.len())];
            other
                .metadata
                .iter()
                .chain(other.instruction.iter().flatten())
                .find(|(k, _)| k == key)
                .map_or_else(String::new, |(_, v)| v.clone())
        }
    }
}

pub(crate) fn set(pairs: &mut Vec<(String, String)>, key: String, value: String) {
    match pairs.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1 = value,
        None => pairs.push((key, value)),
    }
}

pub(crate) fn take(pairs: &mut Vec<(String, String)>, key: &str) -> Option<String> {
    let at = pairs.iter().position(|(k, _)| k == key)?;
    Some(pairs.remove(at).1)
}

pub(crate) const STATUSES: &[u16] = &[200, 206, 204, 304, 400, 403, 404, 412, 416, 500, 503];

pub(crate) fn mutate(inp: &mut Input<'_>, g: &Genuine, s: &mut Served) {
    match inp.byte() % 21 {
        0 => {
            let k = pick_key(inp);
            let v = pick_value(inp, g, &k, s);
            set(&mut s.metadata, k, v);
            s.envelope_tampered = true;
        }
        1 => {
            let k = pick_key(inp);
            take(&mut s.metadata, &k);
            s.envelope_tampered = true;
        }
        2 => {
            let k = pick_key(inp);
            let v = pick_value(inp, g, &k, s);
            set(s.instruction.get_or_insert_with(Vec::new), k, v);
            s.envelope_tampered = true;
        }
        3 => {
            let k = pick_key(inp);
            if let Some(i) = &mut s.instruction {
                take(i, &k);
            }
            s.envelope_tampered = true;
        }
        4 => {
            let k = pick_key(inp);
            if let Some(v) = take(&mut s.metadata, &k) {
                set(s.instruction.get_or_insert_with(Vec::new), k, v);
            }
            s.envelope_tampered = true;
        }
        5 => {
            let k = pick_key(inp);
            if let Some(v) = s.instruction.as_mut().and_then(|i| take(i, &k)) {
                set(&mut s.metadata, k, v);
            }
            s.envelope_tampered = true;
        }
        6 => {
            // A second header of the same name (S3 never sends one; a proxy might).
            let k = pick_key(inp);
            let v = pick_value(inp, g, &k, s);
            s.metadata.push((k, v));
            s.envelope_tampered = true;
        }
        7 => {
            if !s.body.is_empty() {
                let at = usize::from(inp.u16()) % s.body.len();
                s.body[at] ^= inp.byte().max(1);
            }
            s.body_tampered = true;
        }
        8 => {
            let n = usize::from(inp.u16()) % (s.body.len() + 1);
            s.body.truncate(n);
            s.body_tampered = true;
        }
        9 => {
            let extra = inp.bytes();
            s.body.extend_from_slice(&extra);
            s.body_tampered = true;
        }
        10 => {
            let i = inp.byte();
            s.status = Some(match STATUSES.get(usize::from(i)) {
                Some(&c) => c,
                None => 100 + inp.u16() % 500,
            });
            s.body_tampered = true;
        }
        11 => {
            s.content_range = Some(match inp.byte() % 4 {
                0 => None,
                1 => Some(inp.string()),
                _ => Some(format!(
                    "bytes {}-{}/{}",
                    inp.byte(),
                    inp.byte(),
                    inp.byte()
                )),
            });
            s.body_tampered = true;
        }
        12 => {
            let len = s.body.len() as i64;
            s.content_length = Some(match inp.byte() % 4 {
                0 => None,
                1 => Some(inp.string()),
                _ => Some((len + i64::from(inp.byte() as i8)).to_string()),
            });
            s.body_tampered = true;
        }
        13 => {
            s.instruction_raw = Some(inp.bytes());
            s.envelope_tampered = true;
        }
        14 => {
            s.instruction_status = Some(STATUSES[inp.below(STATUSES.len())]);
            s.envelope_tampered = true;
        }
        15 => s.chunk = Some(1 + inp.below(40)),
        16 => s.fail_after = Some(usize::from(inp.byte())),
        17 => {
            s.instruction = None;
            s.instruction_raw = None;
            s.envelope_tampered = true;
        }
        18 => {
            let w = world();
            s.body = w.objects[inp.below(w.objects.len())].body.to_vec();
            s.body_tampered = true;
        }
        19 => {
            // Another object's whole envelope (metadata and instruction file) over this body.
            let w = world();
            let other = &w.objects[inp.below(w.objects.len())];
            s.metadata = other.metadata.clone();
            s.instruction = other.instruction.clone();
            s.envelope_tampered = true;
        }
        _ => {
            let k = pick_key(inp);
            let v = pick_value(inp, g, &k, s);
            s.metadata.insert(0, (k, v));
            s.envelope_tampered = true;
        }
    }
}

pub(crate) fn json(pairs: &[(String, String)]) -> Vec<u8> {
    let mut out = String::from("{");
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::Value::from(k.as_str()).to_string());
        out.push(':');
        out.push_str(&serde_json::Value::from(v.as_str()).to_string());
    }
    out.push('}');
    out.into_bytes()
}

/// A range request and, when it is well formed, the plaintext slice `[start, end)` it selects (`None`:
/// unsatisfiable).
#[derive(Debug)]
pub(crate) struct RangeReq {
    pub(crate) header: String,
    pub(crate) slice: Option<Option<(usize, usize)>>,
}

pub(crate) fn pick_range(inp: &mut Input<'_>, len: usize) -> Option<RangeReq> {
    let kind = inp.byte() % 8;
    let (a, b) = (usize::from(inp.byte()), usize::from(inp.byte()));
    let (header, slice) = match kind {
        0..=3 => return None,
        4 => {
            let (a, b) = (a.min(b), a.max(b));
            let slice = (a < len).then(|| (a, (b + 1).min(len)));
            (format!("bytes={a}-{b}"), Some(slice))
        }
        5 => (format!("bytes={a}-"), Some((a < len).then_some((a, len)))),
        6 => (
            format!("bytes=-{a}"),
            Some((a > 0 && len > 0).then(|| (len - a.min(len), len))),
        ),
        _ => (inp.string(), None),
    };
    Some(RangeReq { header, slice })
}

pub(crate) fn respond(s: &Served, key: &str, stored: MemResponse) -> MemResponse {
    if key == INSTRUCTION_KEY {
        let mut r = stored;
        if let Some(code) = s.instruction_status {
            r.status = code;
        }
        r.chunk_size = s.chunk;
        return r;
    }
    let mut r = stored;
    // Duplicate metadata keys: the store kept the last; send every pair as its own header.
    r.headers
        .retain(|(k, _)| !k.starts_with(crate::META_PREFIX));
    for (k, v) in &s.metadata {
        r.headers
            .push((format!("{}{k}", crate::META_PREFIX), v.clone()));
    }
    if let Some(code) = s.status {
        r.status = code;
    }
    match &s.content_range {
        Some(Some(v)) => r.set_header("content-range", v.clone()),
        Some(None) => r.remove_header("content-range"),
        None => {}
    }
    match &s.content_length {
        Some(Some(v)) => r.set_header("content-length", v.clone()),
        Some(None) => r.remove_header("content-length"),
        None => {}
    }
    r.chunk_size = s.chunk;
    r.fail_after = s.fail_after;
    r
}
