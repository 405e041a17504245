"""Peer harness: drives the Amazon S3 Encryption Client for Python v4 (PyPI 4.0.0) with the uniform
command line of xtask/peers/README.md and prints one JSON result line per command on stdout."""

import json
import sys
import traceback

import boto3
from botocore.config import Config

from s3_encryption import S3EncryptionClient, S3EncryptionClientConfig
from s3_encryption.materials.kms_keyring import KmsKeyring
from s3_encryption.materials.materials import AlgorithmSuite, CommitmentPolicy

POLICIES = {
    "forbid": CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT,
    "require-allow": CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT,
    "require-require": CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT,
}


def parse(argv):
    if not argv:
        raise ValueError("usage: put|get --endpoint URL ...")
    a = {"op": argv[0], "region": "us-west-2", "format": "v3", "storage": "metadata",
         "context": {}, "matdesc": {}, "legacy": False, "multipart": 0}
    i = 1
    while i < len(argv):
        f = argv[i]
        if f == "--legacy":
            a["legacy"] = True
            i += 1
            continue
        if i + 1 >= len(argv):
            raise ValueError(f"missing value for {f}")
        v = argv[i + 1]
        i += 2
        if f in ("--context", "--matdesc"):
            k, sep, val = v.partition("=")
            if not sep:
                raise ValueError(f"expected k=v, got {v}")
            a[f[2:]][k] = val
        elif f == "--multipart":
            a["multipart"] = int(v)
        elif f in ("--endpoint", "--kms-endpoint", "--region", "--bucket", "--key", "--keyring",
                   "--format", "--storage", "--policy", "--in", "--out", "--range", "--suffix"):
            a[f[2:].replace("-", "_")] = v
        else:
            raise ValueError(f"unknown flag {f}")
    a.setdefault("kms_endpoint", a.get("endpoint"))
    return a


def run(a):
    cfg = Config(region_name=a["region"], retries={"max_attempts": 1})
    common = dict(region_name=a["region"], aws_access_key_id="testing",
                  aws_secret_access_key="testing", config=cfg)
    s3 = boto3.client("s3", endpoint_url=a["endpoint"],
                      **dict(common, config=cfg.merge(Config(s3={"addressing_style": "path"}))))
    kms = boto3.client("kms", endpoint_url=a["kms_endpoint"], **common)
    keyring = a.get("keyring", "")
    if not keyring.startswith("kms:"):
        raise ValueError(f"the Python v4 client has only a KMS keyring, not {keyring!r}")
    if a["matdesc"]:
        raise ValueError("the Python v4 KMS keyring takes no material description")
    if a["op"] == "put" and a["storage"] == "instruction":
        raise ValueError("the Python v4 client does not write instruction files")
    if "policy" in a:
        policy = POLICIES[a["policy"]]
    elif a["op"] == "put":
        policy = POLICIES["forbid" if a["format"] == "v2" else "require-require"]
    else:
        policy = POLICIES["require-allow"]
    suite = (AlgorithmSuite.ALG_AES_256_GCM_IV12_TAG16_NO_KDF
             if policy == CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT
             else AlgorithmSuite.ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY)
    ring = KmsKeyring(kms_client=kms, kms_key_id=keyring[4:],
                      enable_legacy_wrapping_algorithms=a["legacy"])
    client = S3EncryptionClient(
        wrapped_s3_client=s3,
        config=S3EncryptionClientConfig(
            keyring=ring, encryption_algorithm=suite, commitment_policy=policy,
            enable_legacy_unauthenticated_modes=a["legacy"] or "range" in a))
    extra = {}
    if a["context"]:
        extra["EncryptionContext"] = a["context"]
    if a["op"] == "put":
        with open(a["in"], "rb") as fh:
            body = fh.read()
        if a["multipart"]:
            up = client.create_multipart_upload(Bucket=a["bucket"], Key=a["key"], **extra)
            uid, parts, n, off = up["UploadId"], [], 1, 0
            while True:
                chunk = body[off:off + a["multipart"]]
                off += len(chunk)
                last = off >= len(body)
                r = client.upload_part(Bucket=a["bucket"], Key=a["key"], UploadId=uid, PartNumber=n,
                                       Body=chunk, IsLastPart=last)
                parts.append({"PartNumber": n, "ETag": r["ETag"]})
                n += 1
                if last:
                    break
            client.complete_multipart_upload(Bucket=a["bucket"], Key=a["key"], UploadId=uid,
                                             MultipartUpload={"Parts": parts})
            return {"parts": len(parts)}
        client.put_object(Bucket=a["bucket"], Key=a["key"], Body=body, **extra)
        return {}
    if a["op"] == "get":
        if "range" in a:
            extra["Range"] = a["range"]
        if "suffix" in a:
            extra["InstructionFileSuffix"] = a["suffix"]
        r = client.get_object(Bucket=a["bucket"], Key=a["key"], **extra)
        pt = r["Body"].read()
        if a.get("out"):
            with open(a["out"], "wb") as fh:
                fh.write(pt)
        return {"len": len(pt)}
    raise ValueError(f"unknown or unsupported operation {a['op']}")


def once(argv):
    res = {"peer": "python-v4"}
    try:
        a = parse(argv)
        res["op"] = a["op"]
        res.update(run(a))
        res["ok"] = True
    except Exception as e:  # every failure becomes a result line
        res["ok"] = False
        res["error_class"] = f"{type(e).__module__}.{type(e).__name__}"
        res["error"] = str(e)
        cause = e.__cause__ or e.__context__
        res["cause"] = f"{type(cause).__name__}: {cause}" if cause else ""
        traceback.print_exc(file=sys.stderr)
    return json.dumps(res)


def main():
    if sys.argv[1:] == ["batch"]:
        for line in sys.stdin:
            line = line.rstrip("\n")
            if line:
                print(once(line.split("\t")), flush=True)
        return 0
    out = once(sys.argv[1:])
    print(out, flush=True)
    return 0 if json.loads(out)["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
