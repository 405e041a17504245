//! A put body in `aws-chunked` encoding with its checksum as a trailer, laid out by the encrypting body itself.
//!
//! Why not the SDK's own encoding: it re-cuts the body into 64 KiB chunks and copies each one into a fresh
//! buffer to put its length line in front, then runs the checksum over the copy, a second pass over memory
//! (about a fifth of the CPU time of an in-memory put; `cargo xtask bench client pipeline`). Here each frame of
//! ciphertext is written with room for its length line in front, the checksum reads it while it is still in
//! cache, and nothing is copied.
//!
//! The wire format is the SDK's for an unsigned streamed payload with a trailer, byte for byte: chunks of
//! `<HEX length>\r\n<data>\r\n`, then `0\r\n`, the trailer line `<name>:<base64 value>\r\n`, and `\r\n`. The
//! request says so with `Content-Encoding: aws-chunked`, `x-amz-decoded-content-length`, `x-amz-trailer` and
//! `x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER` ([`OwnTrailer`] sets them before signing).

use aws_runtime::auth::PayloadSigningOverride;
use aws_smithy_checksums::http::HttpChecksum;
use aws_smithy_checksums::ChecksumAlgorithm;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::config_bag::ConfigBag;

/// Bytes kept free at the front of every frame for its chunk's length line (`<hex>\r\n`). A chunk holds at
/// most a frame of ciphertext and the tag (under 2^24 bytes: six hex digits).
pub(crate) const HEADER_ROOM: usize = 8;

const CRLF: &[u8] = b"\r\n";

/// The checksum of one put's ciphertext, sent as the body's trailer.
pub(crate) struct Trailer {
    checksum: Box<dyn HttpChecksum>,
}

impl Trailer {
    /// A trailer of `algorithm` over nothing yet.
    pub(crate) fn new(algorithm: ChecksumAlgorithm) -> Self {
        Self {
            checksum: algorithm.into_impl(),
        }
    }

    /// The trailer's header name (`x-amz-checksum-crc32`, ...).
    pub(crate) fn name(&self) -> &'static str {
        self.checksum.header_name()
    }

    /// Length of the trailer line without its line end: `name:value`.
    fn line_len(&self) -> u64 {
        HttpChecksum::size(self.checksum.as_ref())
    }

    /// Adds the content of a chunk to the checksum.
    pub(crate) fn update(&mut self, content: &[u8]) {
        self.checksum.update(content);
    }

    /// Appends the end of the body: the zero-length chunk, the trailer line and the empty line.
    pub(crate) fn write_end(self, out: &mut Vec<u8>) {
        let name = self.checksum.header_name();
        let value = self.checksum.header_value();
        out.extend_from_slice(b"0\r\n");
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(CRLF);
        out.extend_from_slice(CRLF);
    }
}

impl std::fmt::Debug for Trailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trailer")
            .field("name", &self.name())
            .finish()
    }
}

/// Writes the length line of a chunk of `content_len` bytes into the end of `room` (the frame's first
/// [`HEADER_ROOM`] bytes) and returns where the chunk starts.
pub(crate) fn write_length_line(room: &mut [u8; HEADER_ROOM], content_len: usize) -> usize {
    let mut digits = [0u8; HEADER_ROOM];
    let mut n = content_len;
    let mut len = 0;
    loop {
        digits[len] = b"0123456789ABCDEF"[n % 16];
        len += 1;
        n /= 16;
        if n == 0 {
            break;
        }
    }
    let start = HEADER_ROOM - 2 - len;
    for (slot, digit) in room[start..HEADER_ROOM - 2]
        .iter_mut()
        .zip(digits[..len].iter().rev())
    {
        *slot = *digit;
    }
    room[HEADER_ROOM - 2..].copy_from_slice(CRLF);
    start
}

/// Length of a chunk of `content` bytes on the wire.
fn chunk_len(content: u64) -> u64 {
    let digits = (64 - content.max(1).leading_zeros()).div_ceil(4) as u64;
    digits + 2 + content + 2
}

/// The encoded length of a body of `full` chunks of `frame` bytes, then a last chunk of `last` bytes
/// (`last > 0`), then the end with `trailer`'s line.
pub(crate) fn encoded_len(full: u64, frame: u64, last: u64, trailer: &Trailer) -> u64 {
    full * chunk_len(frame) + chunk_len(last) + 3 + trailer.line_len() + 2 + 2
}

/// The headers of an aws-chunked body with a trailer, and its signing as `STREAMING-UNSIGNED-PAYLOAD-TRAILER`.
/// Applied before signing; the body is the caller's, and the SDK's own checksum must be off for the request
/// (it would wrap the body a second time).
#[derive(Debug)]
pub(crate) struct OwnTrailer {
    /// The trailer's header name (`x-amz-checksum-crc32`, ...).
    pub(crate) name: &'static str,
    /// The algorithm's name as S3 spells it in `x-amz-sdk-checksum-algorithm` (`CRC32`, ...).
    pub(crate) algorithm: &'static str,
    /// Length of the content (the ciphertext and tag).
    pub(crate) decoded_len: u64,
    /// Length of the body on the wire.
    pub(crate) encoded_len: u64,
}

impl OwnTrailer {
    /// Sets the request's headers and signing mode.
    pub(crate) fn apply(&self, request: &mut HttpRequest, cfg: &mut ConfigBag) {
        let headers = request.headers_mut();
        // A Content-Encoding the caller set (gzip, ...) stays, after ours.
        let encoding = match headers.get("content-encoding") {
            Some(theirs) if !theirs.is_empty() => format!("aws-chunked,{theirs}"),
            _ => "aws-chunked".to_string(),
        };
        headers.insert("content-encoding", encoding);
        headers.insert("content-length", self.encoded_len.to_string());
        headers.insert("x-amz-decoded-content-length", self.decoded_len.to_string());
        headers.insert("x-amz-trailer", self.name);
        headers.insert("x-amz-sdk-checksum-algorithm", self.algorithm);
        headers.remove("transfer-encoding");
        cfg.interceptor_state()
            .store_put(PayloadSigningOverride::StreamingUnsignedPayloadTrailer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_lines_are_upper_hex_right_aligned_in_the_room() {
        for (n, text) in [
            (0usize, "0"),
            (16, "10"),
            (0x40000, "40000"),
            (0x40010, "40010"),
            (0xABCDEF, "ABCDEF"),
        ] {
            let mut room = [b'?'; HEADER_ROOM];
            let start = write_length_line(&mut room, n);
            assert_eq!(&room[start..], format!("{text}\r\n").as_bytes());
            assert_eq!(chunk_len(n as u64), (room.len() - start + n + 2) as u64);
        }
    }

    #[test]
    fn the_end_is_the_zero_chunk_the_trailer_line_and_an_empty_line() {
        let mut trailer = Trailer::new(ChecksumAlgorithm::Crc32);
        trailer.update(b"hello");
        let len = trailer.line_len();
        let mut out = Vec::new();
        trailer.write_end(&mut out);
        // CRC32("hello") = 0x3610a686.
        assert_eq!(out, b"0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n");
        assert_eq!(out.len() as u64, 3 + len + 2 + 2);
    }
}
