//! The whole get path of `s3ec::Client` against an in-memory S3 and KMS that answer with arbitrary metadata,
//! bodies, statuses, `Content-Range`/`Content-Length` headers and instruction files. The logic and the oracle
//! live in `s3ec_testkit::fuzzing::get_path` (also run as a unit test on stable).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    s3ec_testkit::fuzzing::get_path(data);
});
