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
os.makedirs(out_meta, exist_ok=True)
os.makedirs(out_2047, exist_ok=True)

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
        for k in ("x-amz-matdesc", "x-amz-m", "x-amz-t"):
            if k in md:
                write(out_2047, md[k].encode())
                latin1 = md[k].encode("utf-8").decode("latin-1")
                write(out_2047, ("=?UTF-8?B?" + base64.b64encode(latin1.encode()).decode() + "?=").encode())
if count == 0:
    sys.exit(f"no vector cases under {roots}")
print(f"{count} decode_metadata seeds in {out_meta}")
