#!/usr/bin/env python3
"""Writes the test fixtures of s3ec-local with an independent implementation (pyca/cryptography).

Run from this folder: python3 gen_fixtures.py. Outputs are test-only keys; never use them for data.
"""
import base64, json, os
from cryptography.hazmat.primitives import hashes, keywrap, serialization, padding as sympad
from cryptography.hazmat.primitives.asymmetric import rsa, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

b64 = lambda b: base64.b64encode(b).decode()


def rsa_pair(name):
    priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pub = priv.public_key()
    enc = serialization.NoEncryption()
    open(f"{name}_private.pem", "wb").write(priv.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc))
    open(f"{name}_private_pkcs1.pem", "wb").write(priv.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, enc))
    open(f"{name}_private.der", "wb").write(priv.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, enc))
    open(f"{name}_public.pem", "wb").write(pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    open(f"{name}_public.der", "wb").write(pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))
    return pub


aes_key = os.urandom(32)
open("aes.raw", "wb").write(aes_key)
open("aes.b64", "w").write(b64(aes_key) + "\n")
open("aes.der", "wb").write(b"\x04\x20" + aes_key)
open("aes.pem", "w").write("-----BEGIN AES KEY-----\n" + b64(aes_key) + "\n-----END AES KEY-----\n")
aes_key_2 = os.urandom(32)
open("aes2.raw", "wb").write(aes_key_2)
pub = rsa_pair("rsa")
rsa_pair("rsa2")

data_key = os.urandom(32)
edks = {}
for ident in ["115", "AES/GCM/NoPadding"]:
    iv = os.urandom(12)
    edks["AES/GCM|" + ident] = b64(iv + AESGCM(aes_key).encrypt(iv, data_key, ident.encode()))
    pseudo = bytes([32]) + data_key + ident.encode()
    oaep1 = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    edks["RSA-OAEP-SHA1|" + ident] = b64(pub.encrypt(pseudo, oaep1))
edks["AESWrap"] = b64(keywrap.aes_key_wrap(aes_key, data_key))
padder = sympad.PKCS7(128).padder()
ecb = Cipher(algorithms.AES(aes_key), modes.ECB()).encryptor()
edks["AES"] = b64(ecb.update(padder.update(data_key) + padder.finalize()) + ecb.finalize())
edks["RSA"] = b64(pub.encrypt(data_key, padding.PKCS1v15()))
# SunJCE's "RSA/ECB/OAEPWithSHA-256AndMGF1Padding": SHA-256 digest, MGF1 with SHA-1.
oaep256 = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA256(), label=None)
edks["RSA/ECB/OAEPWithSHA-256AndMGF1Padding"] = b64(pub.encrypt(data_key, oaep256))
json.dump({"data_key_b64": b64(data_key), "edks": edks}, open("wrapped_keys.json", "w"), indent=1, sort_keys=True)
