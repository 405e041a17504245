#!/usr/bin/env python3
"""Writes seed corpora for the fuzz targets from the vector sets (not committed: corpus/ is ignored).

Usage: python3 make_corpus.py [vectors-dir ...]
Default: ../testdata/vectors and, when present, ../../shared/vectors.
Each vector case becomes one decode_metadata input: `key<TAB>value` lines, then 0xFF and the
instruction file when the case has one. Context values also seed the rfc2047 target, plain and
S3-double-encoded.
"""
import base64, hashlib, json, os, sys

here = os.path.dirname(os.path.abspath(__file__))
roots = sys.argv[1:] or [
    p for p in (os.path.join(here, "..", "testdata", "vectors"), os.path.join(here, "..", "..", "shared", "vectors"))
    if os.path.isdir(p)
]
out_meta = os.path.join(here, "corpus", "decode_metadata")
out_2047 = os.path.join(here, "corpus", "rfc2047")
out_unwrap = os.path.join(here, "corpus", "unwrap_keys")
out_engines = os.path.join(here, "corpus", "content_engines")
out_range = os.path.join(here, "corpus", "range_header")
for d in (out_meta, out_2047, out_unwrap, out_engines, out_range):
    os.makedirs(d, exist_ok=True)

def write(folder, data):
    with open(os.path.join(folder, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)

count = 0
for vectors, producer in sorted((r, p) for r in roots for p in os.listdir(r)):
    manifest = os.path.join(vectors, producer, "manifest.json")
    if not os.path.isfile(manifest):
        continue
    for case in json.load(open(manifest))["cases"]:
        d = os.path.join(vectors, producer, case["dir"])
        md = json.load(open(os.path.join(d, "metadata.json")))
        data = "".join(f"{k}\t{v}\n" for k, v in md.items()).encode()
        instr = os.path.join(d, "instruction.json")
        if os.path.exists(instr):
            data += b"\xff" + open(instr, "rb").read()
        write(out_meta, data)
        count += 1
        # unwrap_keys: a suite selector byte, then the real wrapped data key of the case.
        for k in ("x-amz-key-v2", "x-amz-key", "x-amz-3"):
            if k in md:
                try:
                    wrapped = base64.b64decode(md[k])
                except ValueError:
                    continue
                for selector in range(5):
                    write(out_unwrap, bytes([selector]) + wrapped)
        for k in ("x-amz-matdesc", "x-amz-m", "x-amz-t"):
            if k in md:
                write(out_2047, md[k].encode())
                latin1 = md[k].encode("utf-8").decode("latin-1")
                write(out_2047, ("=?UTF-8?B?" + base64.b64encode(latin1.encode()).decode() + "?=").encode())
# content_engines: selector (engine in bits 0-1, suite in 2-6, committed nonce in bit 7), chunk
# sizes, IV, message id, commitment, first block, then ciphertext. See s3ec_crypto::fuzzing.
for selector in (0x00, 0x01, 0x02, 0x03, 0x08, 0x09, 0x0B, 0x8C, 0x8D, 0x8F, 0x0F):
    for body in (b"", b"A" * 16, bytes(range(64)), bytes(range(200))):
        sizes = bytes([3, 1, 16, 7])
        iv = bytes(12) if selector & 3 != 2 else bytes(16)
        data = bytes([selector, len(sizes)]) + sizes + bytes([len(iv)]) + iv + bytes(28) + bytes(28)
        write(out_engines, data + (2).to_bytes(8, "big") + body)

# range_header: plaintext size (8 bytes), tag selector, `Range` line, `Content-Range` line.
for size in (0, 1, 15, 16, 17, 100, 4096, 2**40, 2**64 - 17):
    for tag in (0, 1):
        for rng, cr in (("bytes=0-0", "bytes 0-47/116"), ("bytes=10-", "bytes 0-115/116"),
                        ("bytes=-5", "bytes 64-115/116"), ("bytes=17-40", "bytes 0-63/116"),
                        ("bytes=0-", "bytes 0-15/16")):
            write(out_range, size.to_bytes(8, "big") + bytes([tag]) + f"{rng}\n{cr}".encode())

# get_path: object index, option flags (policy in bits 0-1, legacy wrapping 4, legacy unauthenticated 8,
# delayed authentication 16), buffer choice, context choice, range kind and two operands, then mutations
# (opcode, operands). Mirrors s3ec_testkit::fuzzing::seeds(); see that module for the layout.
out_get = os.path.join(here, "corpus", "get_path")
os.makedirs(out_get, exist_ok=True)
LEGACY = 2 | 4 | 8
for obj in range(11):
    for flags in (0, LEGACY, 16, LEGACY | 16):
        for buffer in (0, 1):
            write(out_get, bytes([obj, flags, buffer, 0, 0, 0, 0]))
    for seed in ([LEGACY, 0, 0, 4, 3, 9], [2, 0, 0, 5, 0, 0], [LEGACY, 0, 0, 6, 5, 0],
                 [LEGACY, 0, 0, 0, 0, 0, 7, 0, 3, 1], [LEGACY | 16, 2, 0, 0, 0, 0, 8, 0, 10],
                 [LEGACY, 0, 0, 0, 0, 0, 4, 9], [LEGACY, 0, 0, 0, 0, 0, 1, 6],
                 [LEGACY | 16, 0, 0, 0, 0, 0, 15, 3, 16, 20]):
        write(out_get, bytes([obj] + seed))

if count == 0:
    sys.exit(f"no vector cases under {roots}")
print(f"{count} decode_metadata seeds in {out_meta}")
