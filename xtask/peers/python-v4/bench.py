"""Child of `cargo xtask bench transfer`: the Python v4 client's get and boto3's plain `download_file`
(s3transfer: concurrent ranged GETs) on the endpoints it is given, timed in this process, so that the
interpreter's start-up is not counted: wall time and the process CPU clock (every thread) around the call.

Reads one JSON command per stdin line and answers one JSON line on stdout:
  {"op": "setup", "endpoints": {NAME: URL}, "region", "access_key", "secret_key", "bucket", "key", "size",
   "kms_endpoint"}   creates a KMS key on moto and puts `size` random bytes under `key` with the Python v4
                     client (V3, KMS), through the first endpoint;
  {"op": "get", "side": NAME}        the Python v4 client's get_object of that object, body read whole;
  {"op": "download", "side": NAME, "key", "part_size", "concurrency"}
                                     boto3 download_file of a plain object into a file in /dev/shm
                                     (memory, as s3ec's send_into), removed after.
Answers {"ok": true, "wall": s, "cpu": s, "len": n} or {"ok": false, "error": ...}.
"""

import hashlib
import json
import os
import sys
import tempfile
import time

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from s3_encryption import S3EncryptionClient, S3EncryptionClientConfig
from s3_encryption.materials.kms_keyring import KmsKeyring
from s3_encryption.materials.materials import AlgorithmSuite, CommitmentPolicy

state = {}


def s3_client(url, c):
    cfg = Config(region_name=c["region"], retries={"max_attempts": 1},
                 s3={"addressing_style": "path"}, max_pool_connections=64,
                 request_checksum_calculation="when_required",
                 response_checksum_validation="when_required")
    return boto3.client("s3", endpoint_url=url, aws_access_key_id=c["access_key"],
                        aws_secret_access_key=c["secret_key"], config=cfg)


def setup(c):
    kms = boto3.client("kms", endpoint_url=c["kms_endpoint"], region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    state.update(bucket=c["bucket"], key=c["key"], size=c["size"], plain={}, ec={})
    for name, url in c["endpoints"].items():
        # Two clients: the encryption client hooks the events of the one it wraps.
        state["plain"][name] = s3_client(url, c)
        state["ec"][name] = S3EncryptionClient(
            wrapped_s3_client=s3_client(url, c),
            config=S3EncryptionClientConfig(
                keyring=KmsKeyring(kms_client=kms, kms_key_id=key_id),
                encryption_algorithm=AlgorithmSuite.ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
                commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT))
    body = os.urandom(c["size"])
    state["digest"] = hashlib.sha256(body).digest()
    first = next(iter(c["endpoints"]))
    state["ec"][first].put_object(Bucket=c["bucket"], Key=c["key"], Body=body)
    return {}


def timed(f):
    wall, cpu = time.perf_counter(), time.process_time()
    n = f()
    return {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu, "len": n}


def get(c):
    ec = state["ec"][c["side"]]
    out = {}

    def run():
        body = ec.get_object(Bucket=state["bucket"], Key=state["key"])["Body"].read()
        out["digest"] = hashlib.sha256(body).digest() if c.get("check") else None
        return len(body)

    res = timed(run)
    if c.get("check") and out["digest"] != state["digest"]:
        raise ValueError("the Python v4 get returned other bytes than were put")
    return res


def download(c):
    s3 = state["plain"][c["side"]]
    cfg = TransferConfig(multipart_threshold=c["part_size"], multipart_chunksize=c["part_size"],
                         max_concurrency=c["concurrency"], use_threads=True)
    folder = "/dev/shm" if os.path.isdir("/dev/shm") else None
    fd, path = tempfile.mkstemp(dir=folder, prefix="s3ec-bench-")
    os.close(fd)
    try:
        return timed(lambda: (s3.download_file(state["bucket"], c["key"], path, Config=cfg),
                              os.path.getsize(path))[1])
    finally:
        os.remove(path)


def main():
    ops = {"setup": setup, "get": get, "download": download}
    for line in sys.stdin:
        try:
            c = json.loads(line)
            res = ops[c["op"]](c)
            res["ok"] = True
        except Exception as e:  # every failure becomes an answer
            res = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
