//! Thin entry point for the `range_header` fuzz target in `fuzz/`. Not part of the API: hidden,
//! and free to change.
//!
//! It uses nothing but [`crate::range`], so the fuzz target can compile this file beside
//! `range.rs` without building the AWS SDK.

use crate::range::{
    plan, plan_cbc, CbcStep, ContentRange, DecodePlan, RangeError, RangeSpec, BLOCK,
};

/// Input layout: 8 bytes of plaintext size (big endian), one byte choosing the tag length (0 or
/// 16), then text: the first line is a `Range` value, the second a `Content-Range` value.
///
/// Checks, for any input: parsing never panics and what parses prints back to itself; planning
/// against a server that honours the ciphertext request always covers the requested bytes and never
/// releases a tag byte; planning against an arbitrary `Content-Range` either refuses or releases
/// only bytes the response holds. The same request over a legacy CBC object of that plaintext size
/// (whole blocks, 1 to 16 bytes of padding) must plan to exactly the bytes S3 would select from the
/// plaintext, with or without the length known up front.
pub fn range_header(data: &[u8]) {
    if data.len() < 9 {
        return;
    }
    let size = u64::from_be_bytes(data[..8].try_into().expect("eight bytes"));
    let tag_len = if data[8] & 1 == 0 { 16 } else { 0 };
    let text = String::from_utf8_lossy(&data[9..]);
    let mut lines = text.splitn(2, '\n');
    let range = lines.next().unwrap_or("");
    let content_range = lines.next().unwrap_or("");

    let spec = range.parse::<RangeSpec>();
    if let Ok(spec) = spec {
        assert_eq!(
            spec.to_string().parse::<RangeSpec>(),
            Ok(spec),
            "Range does not print back"
        );
    }
    let fetched = content_range.parse::<ContentRange>();
    if let Ok(cr) = fetched {
        assert_eq!(
            cr.to_string().parse::<ContentRange>(),
            Ok(cr),
            "Content-Range does not print back"
        );
    }
    let Ok(spec) = spec else {
        return;
    };
    if let Ok(cr) = fetched {
        if let Ok(p) = plan(&spec, cr, tag_len) {
            check_plan(&spec, cr, tag_len, p);
        }
    }
    let Some(total) = size.checked_add(tag_len) else {
        return;
    };
    let request = spec.ciphertext_request();
    let served = serve(&request, total);
    match (spec.resolve(size), served) {
        (Ok(_), None) => panic!("{request} is refused by the server but {spec} is satisfiable"),
        (Ok(_), Some(cr)) => {
            let p = plan(&spec, cr, tag_len)
                .unwrap_or_else(|e| panic!("{request} served as {cr} does not plan: {e}"));
            check_plan(&spec, cr, tag_len, p);
        }
        (Err(e), _) => assert!(matches!(e, RangeError::Unsatisfiable { .. }), "{e}"),
    }
    check_cbc(&spec, size);
}

/// [`plan_cbc`] over a CBC object holding `size` plaintext bytes, served as an RFC 9110 server would.
fn check_cbc(spec: &RangeSpec, size: u64) {
    let Some(stored) = (size / BLOCK)
        .checked_add(1)
        .and_then(|b| b.checked_mul(BLOCK))
    else {
        return;
    };
    let wanted = spec.resolve(size);
    let Some(fetched) = serve(&spec.ciphertext_request(), stored) else {
        assert!(
            wanted.is_err(),
            "{spec} is refused by the server but satisfiable"
        );
        return;
    };
    for known in [None, Some(size)] {
        match plan_cbc(spec, fetched, known) {
            Ok(CbcStep::Whole) => {
                assert_eq!(wanted, Ok((0, size - 1)), "{spec} planned whole");
                assert_eq!((fetched.first, fetched.last), (0, stored - 1));
            }
            Ok(CbcStep::NeedsLength) => {
                assert!(known.is_none(), "{spec}: length given, still needed")
            }
            Ok(CbcStep::Partial(p)) => {
                let (start, end) = wanted
                    .clone()
                    .unwrap_or_else(|e| panic!("{spec} planned but unsatisfiable: {e}"));
                assert_eq!(
                    (p.first, p.last),
                    (start, end),
                    "{spec}: other bytes planned"
                );
                assert_eq!(p.emit, end - start + 1);
                let chaining = if p.first_block > 0 { BLOCK } else { 0 };
                assert_eq!(
                    fetched.first + p.skip + chaining,
                    p.first_block * BLOCK,
                    "{spec}: the window misses the chaining block"
                );
                assert_eq!(p.first_block * BLOCK + p.discard, start);
                assert!(
                    fetched.first + p.skip + chaining + p.decrypt_len() - 1 <= fetched.last,
                    "{spec}: decrypts bytes not fetched"
                );
            }
            Err(RangeError::Unsatisfiable { .. }) => {
                assert!(wanted.is_err(), "{spec}: 416 for a satisfiable range");
            }
            Err(e) => panic!("{spec} over {fetched}: {e}"),
        }
    }
}

/// What an RFC 9110 server answers to `request` (always one of the three forms s3ec writes) over
/// `total` stored bytes; `None` is a 416.
fn serve(request: &str, total: u64) -> Option<ContentRange> {
    let (a, b) = request.strip_prefix("bytes=")?.split_once('-')?;
    let last_byte = total.checked_sub(1)?;
    let (first, last) = match (a.parse::<u64>().ok(), b.parse::<u64>().ok()) {
        (None, Some(n)) if n > 0 => (total - n.min(total), last_byte),
        (Some(a), None) => (a, last_byte),
        (Some(a), Some(b)) => (a, b.min(last_byte)),
        _ => return None,
    };
    (first <= last).then_some(ContentRange { first, last, total })
}

/// The invariants of a successful [`plan`]: the plaintext range it reports is the one `spec`
/// selects, every byte released lies inside the response, and no tag byte is released.
fn check_plan(spec: &RangeSpec, fetched: ContentRange, tag_len: u64, p: DecodePlan) {
    let size = fetched.total - tag_len;
    let (start, end) = spec.resolve(size).expect("a planned range is satisfiable");
    assert!(end < size, "the range reaches into the tag");
    match p {
        DecodePlan::Whole { size: whole } => {
            assert_eq!(whole, size);
            assert_eq!((start, end), (0, size - 1));
            assert_eq!((fetched.first, fetched.last), (0, fetched.total - 1));
        }
        DecodePlan::Partial(p) => {
            let aligned = p.first_block * BLOCK;
            assert_eq!(
                fetched.first + p.skip,
                aligned,
                "skip misses the first block"
            );
            assert_eq!(aligned + p.discard, start, "discard misses the first byte");
            assert_eq!(p.emit, end - start + 1, "emit is not the range length");
            assert!(p.discard < BLOCK, "more than a block discarded");
            assert!(
                aligned + p.discard + p.emit - 1 <= fetched.last,
                "released bytes not fetched"
            );
            assert!(
                p.discard + p.emit <= p.decrypt_len(),
                "released bytes not decrypted"
            );
            assert_eq!(
                p.content_range,
                ContentRange {
                    first: start,
                    last: end,
                    total: size
                }
            );
        }
    }
}
