//! Arbitrary `Range` / `Content-Range` strings and object sizes into the client's sans-IO range
//! parser and planner. Input layout: see `s3ec::fuzzing::range_header`.
//!
//! The two modules are compiled here from the `s3ec` sources rather than through a dependency on
//! `s3ec`, which would build the whole AWS SDK with sanitizers for a pure string/arithmetic target.
#![no_main]

#[allow(dead_code, unreachable_pub)]
#[path = "../../crates/s3ec/src/range.rs"]
mod range;

#[allow(dead_code, unreachable_pub)]
#[path = "../../crates/s3ec/src/fuzzing.rs"]
mod fuzzing;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fuzzing::range_header(data);
});
