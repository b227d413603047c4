#!/usr/bin/env python3
"""Regenerate crates/core/tests/vectors/import-hashes.json: password cells of a bulk
import (Pangea `users/import`, spec pangea-authn.md §6.2 "Hash value formats") as other
systems hand them over, each with the `password_hash_params` and row salt to read it.
crates/core/src/import/hash.rs turns each into a stored form and checks that aegis's
Hasher verifies the password (and refuses a wrong one).

Nothing here is computed by aegis. Sources:
  BCRYPT        the `bcrypt` package (pyca, OpenBSD's code)
  ARGON2        `argon2-cffi` (the reference C implementation): `hash_secret_raw` for
                the raw base64 form, `PasswordHasher` for the PHC form
  SCRYPT        Python's `hashlib.scrypt` (OpenSSL) for the raw form; `passlib` for PHC
  PBKDF2        `hashlib.pbkdf2_hmac` (OpenSSL) for raw hex/base64; `passlib` for the
                passlib and Django forms
  MD5, SHA*     `hashlib`, the digest repeated `iterations` times on the raw digest
  FIREBASE      the published sample of github.com/firebase/scrypt README.md, split into
                its parameters, plus one computed exactly as that algorithm states
                (hashlib.scrypt, then AES-256-CTR from `cryptography`), checked first
                against the published sample
  AUTO          `passlib` sha512-crypt and md5-crypt strings

Raw-form salts are text; their UTF-8 bytes are the salt (Firebase's are base64, as
Firebase exports them).

How it was made (a throw-away venv; only PyPI is needed):
    python3 -m venv /tmp/imphash-venv
    /tmp/imphash-venv/bin/pip install bcrypt==5.0.0 passlib==1.7.4 \
        argon2-cffi==25.1.0 cryptography==50.0.2
    /tmp/imphash-venv/bin/python scripts/gen-import-vectors.py

Salts of the PHC/crypt forms are random, so every run writes different (equally
valid) strings.
"""
import base64
import hashlib
import json
import os
import platform
import sys
from importlib.metadata import version

import argon2
import bcrypt
from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from passlib import hash as ph

OUT = "crates/core/tests/vectors/import-hashes.json"
PW = "correct horse battery staple"
UPW = "pässwörd ünïcødé ✓ 鍵"  # NFKC-stable, so aegis's normalisation keeps it

vectors = []


def add(source, password, value, params, row_salt=None):
    v = {"source": source, "password": password, "value": value, "params": params}
    if row_salt is not None:
        v["row_salt"] = row_salt
    vectors.append(v)


def b64(raw, pad=True):
    s = base64.b64encode(raw).decode()
    return s if pad else s.rstrip("=")


# ---- BCRYPT ----
for prefix in (b"2a", b"2b"):
    for pw in (PW, UPW):
        add(f"bcrypt.hashpw gensalt(rounds=4, prefix={prefix.decode()})", pw,
            bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=4, prefix=prefix)).decode(),
            {"algorithm": "BCRYPT"})
add("bcrypt.hashpw rounds=4, relabelled $2y$ (PHP's name for $2b$)", PW,
    "$2y$" + bcrypt.hashpw(PW.encode(), bcrypt.gensalt(rounds=4))[4:].decode(),
    {"algorithm": "BCRYPT"})

# ---- ARGON2 ----
salt = "NaCl-import-01"
add("argon2-cffi hash_secret_raw argon2id m=256 t=2 p=1 len=32, padded base64, params.salt",
    PW, b64(hash_secret_raw(PW.encode(), salt.encode(), 2, 256, 1, 32, Type.ID)),
    {"algorithm": "ARGON2", "memory": 256, "iterations": 2, "parallelism": 1, "salt": salt})
salt = "sälz-✓-row-salt"
add("argon2-cffi hash_secret_raw argon2id m=512 t=1 p=2 len=16, unpadded base64, row salt",
    UPW, b64(hash_secret_raw(UPW.encode(), salt.encode(), 1, 512, 2, 16, Type.ID), pad=False),
    {"algorithm": "ARGON2", "memory": 512, "iterations": 1, "parallelism": 2, "key_length": 16},
    row_salt=salt)
salt = "default-parallelism"
add("argon2-cffi hash_secret_raw argon2id m=64 t=3 p=1 len=32 (parallelism left to its default)",
    PW, b64(hash_secret_raw(PW.encode(), salt.encode(), 3, 64, 1, 32, Type.ID)),
    {"algorithm": "ARGON2", "memory": 64, "iterations": 3}, row_salt=salt)
add("argon2-cffi PasswordHasher(t=1, m=256, p=1) PHC string", UPW,
    argon2.PasswordHasher(time_cost=1, memory_cost=256, parallelism=1).hash(UPW),
    {"algorithm": "ARGON2"})
add("argon2-cffi hash_secret type=argon2i PHC string", PW,
    argon2.low_level.hash_secret(PW.encode(), os.urandom(16), 2, 256, 1, 32, Type.I).decode(),
    {"algorithm": "ARGON2"})

# ---- SCRYPT ----
salt = "scrypt-row-salt"
add("hashlib.scrypt n=1024 r=8 p=1 dklen=32, row salt", PW,
    b64(hashlib.scrypt(PW.encode(), salt=salt.encode(), n=1024, r=8, p=1, dklen=32)),
    {"algorithm": "SCRYPT", "cost_factor": 1024, "block_size": 8, "parallelism": 1},
    row_salt=salt)
salt = "sälz-✓"
add("hashlib.scrypt n=256 r=4 p=2 dklen=24, params.salt, unpadded", UPW,
    b64(hashlib.scrypt(UPW.encode(), salt=salt.encode(), n=256, r=4, p=2, dklen=24), pad=False),
    {"algorithm": "SCRYPT", "cost_factor": 256, "block_size": 4, "parallelism": 2,
     "key_length": 24, "salt": salt})
salt = "defaults"
add("hashlib.scrypt n=16384 r=8 p=1 dklen=64 (the defaults)", PW,
    b64(hashlib.scrypt(PW.encode(), salt=salt.encode(), n=16384, r=8, p=1, dklen=64)),
    {"algorithm": "SCRYPT"}, row_salt=salt)
add("passlib.hash.scrypt ln=10 r=8 p=1 PHC string", UPW,
    ph.scrypt.using(rounds=10, block_size=8, parallelism=1).hash(UPW),
    {"algorithm": "SCRYPT"})

# ---- PBKDF2 ----
salt = "pbkdf2-static-salt"
add("hashlib.pbkdf2_hmac sha256 i=1000 l=32, hex, digest_algorithm left to its default", PW,
    hashlib.pbkdf2_hmac("sha256", PW.encode(), salt.encode(), 1000, 32).hex(),
    {"algorithm": "PBKDF2", "iterations": 1000, "salt": salt})
salt = "sälz-✓-pbkdf2"
add("hashlib.pbkdf2_hmac sha1 i=1200 l=20, padded base64, row salt", UPW,
    b64(hashlib.pbkdf2_hmac("sha1", UPW.encode(), salt.encode(), 1200, 20)),
    {"algorithm": "PBKDF2", "iterations": 1200, "digest_algorithm": "SHA1", "key_length": 20},
    row_salt=salt)
salt = "pbkdf2-512"
add("hashlib.pbkdf2_hmac sha512 i=500 l=64, upper-case hex", PW,
    hashlib.pbkdf2_hmac("sha512", PW.encode(), salt.encode(), 500, 64).hex().upper(),
    {"algorithm": "PBKDF2", "iterations": 500, "digest_algorithm": "SHA512", "key_length": 64},
    row_salt=salt)
add("passlib.hash.pbkdf2_sha256 rounds=1000 (passlib form)", PW,
    ph.pbkdf2_sha256.using(rounds=1000).hash(PW), {"algorithm": "PBKDF2"})
add("passlib.hash.django_pbkdf2_sha256 rounds=1000 (Django form)", UPW,
    ph.django_pbkdf2_sha256.using(rounds=1000).hash(UPW), {"algorithm": "PBKDF2"})


# ---- MD5, SHA1, SHA256, SHA512 ----
def digest(alg, data, iterations):
    d = hashlib.new(alg, data).digest()
    for _ in range(iterations - 1):
        d = hashlib.new(alg, d).digest()
    return d.hex()


add("hashlib.md5 unsalted", PW, digest("md5", PW.encode(), 1), {"algorithm": "MD5"})
salt = "md5-row-salt"
add("hashlib.md5 password||salt (suffix), row salt", UPW,
    digest("md5", UPW.encode() + salt.encode(), 1),
    {"algorithm": "MD5", "salt_order": "suffix"}, row_salt=salt)
salt = "sha1-salt"
add("hashlib.sha1 salt||password (prefix), row salt", PW,
    digest("sha1", salt.encode() + PW.encode(), 1),
    {"algorithm": "SHA1", "salt_order": "prefix"}, row_salt=salt)
salt = "sälz-✓-sha256"
add("hashlib.sha256 password||salt (suffix) iterations=5, params.salt, upper-case hex", UPW,
    digest("sha256", UPW.encode() + salt.encode(), 5).upper(),
    {"algorithm": "SHA256", "salt_order": "suffix", "iterations": 5, "salt": salt})
salt = "sha512-salt"
add("hashlib.sha512 salt||password (prefix) iterations=1000, row salt", PW,
    digest("sha512", salt.encode() + PW.encode(), 1000),
    {"algorithm": "SHA512", "salt_order": "prefix", "iterations": 1000}, row_salt=salt)
add("hashlib.sha256 unsalted", UPW, digest("sha256", UPW.encode(), 1), {"algorithm": "SHA256"})


# ---- FIREBASE-SCRYPT ----
def firebase(pw, salt, sep, key, rounds, mem_cost):
    """github.com/firebase/scrypt: scrypt(password, salt || separator, N=2^mem_cost,
    r=rounds, p=1) keys AES-256-CTR (all-zero IV), which encrypts the signer key."""
    dk = hashlib.scrypt(pw.encode(), salt=salt + sep, n=2**mem_cost, r=rounds, p=1,
                        dklen=32, maxmem=256 * 1024 * 1024)
    enc = Cipher(algorithms.AES(dk), modes.CTR(b"\0" * 16)).encryptor()
    return enc.update(key) + enc.finalize()


# The published sample (firebase/scrypt README.md, "Password Hashing").
README = {
    "key": "jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==",
    "sep": "Bw==", "salt": "42xEC+ixf3L2lw==", "rounds": 8, "mem_cost": 14,
    "password": "user1password",
    "hash": "lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==",
}
d = base64.b64decode
got = firebase(README["password"], d(README["salt"]), d(README["sep"]), d(README["key"]),
               README["rounds"], README["mem_cost"])
if got != d(README["hash"]):
    sys.exit("the Firebase algorithm as written does not reproduce the README vector")
add("firebase/scrypt README.md sample, salt from the row", README["password"], README["hash"],
    {"algorithm": "FIREBASE-SCRYPT", "signer_key": README["key"], "salt_separator": README["sep"],
     "iterations": README["rounds"], "memory": README["mem_cost"]},
    row_salt=README["salt"])
salt, sep, key = os.urandom(12), os.urandom(1), os.urandom(64)
add("hashlib.scrypt + cryptography AES-256-CTR, rounds=4 mem_cost=10, params.salt", UPW,
    b64(firebase(UPW, salt, sep, key, 4, 10)),
    {"algorithm": "FIREBASE-SCRYPT", "signer_key": b64(key), "salt_separator": b64(sep),
     "iterations": 4, "memory": 10, "salt": b64(salt)})

# ---- AUTO ----
add("passlib.hash.sha512_crypt rounds=5000", PW, ph.sha512_crypt.using(rounds=5000).hash(PW),
    {"algorithm": "AUTO"})
add("passlib.hash.md5_crypt", UPW, ph.md5_crypt.hash(UPW), {"algorithm": "AUTO"})
add("bcrypt.hashpw rounds=4", PW, bcrypt.hashpw(PW.encode(), bcrypt.gensalt(rounds=4)).decode(),
    {"algorithm": "AUTO"})

doc = {
    "comment": "Generated by scripts/gen-import-vectors.py from reference implementations; "
               "do not edit by hand. Checked by crates/core/src/import/hash.rs tests.",
    "generator": {
        "python": platform.python_version(),
        **{p: version(p) for p in ("bcrypt", "passlib", "argon2-cffi", "cryptography")},
    },
    "vectors": vectors,
}
with open(OUT, "w", encoding="utf-8") as f:
    json.dump(doc, f, ensure_ascii=False, indent=1)
    f.write("\n")
print(f"wrote {len(vectors)} vectors to {OUT}")
