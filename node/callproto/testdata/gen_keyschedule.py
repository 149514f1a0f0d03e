#!/usr/bin/env python3
"""Independent implementation of the Parley call key schedule, used to make
keyschedule.json. It shares no code with the Go package: X25519 and ML-KEM-768
come from pyca/cryptography (OpenSSL), HKDF, HMAC and SHA-256 from Python's
standard library.

pyca/cryptography has no derandomised ML-KEM encapsulation, so the
ciphertexts are produced by Go's crypto/mlkem/mlkemtest.Encapsulate768 (FIPS
203 ML-KEM.Encaps_internal) from each vector's callee_mlkem_random and passed
as arguments, one per vector in order. This script checks each by
decapsulating it with its own key: a ciphertext that was not made for that key
would give an unrelated shared secret (implicit rejection), and the Go test
compares that secret with the one Go's encapsulation returned.

Usage: gen_keyschedule.py CIPHERTEXT_HEX... > keyschedule.json
"""

import hashlib
import hmac
import json
import sys

from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from cryptography.hazmat.primitives import serialization

RAW = serialization.Encoding.Raw
RAW_PUB = serialization.PublicFormat.Raw


def sha(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


VECTORS = [
    {
        "name": "rfc7748-x25519-keys",
        # RFC 7748 §6.1 Alice (caller) and Bob (callee).
        "caller_x25519_private": "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
        "callee_x25519_private": "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
        "caller_mlkem_seed": bytes(range(0, 64)).hex(),
        "callee_mlkem_random": bytes(range(64, 96)).hex(),
        "sas_nonce": bytes(range(96, 128)).hex(),
        "signed_offer": b"offer".hex(),
        "signed_answer": b"answer".hex(),
    },
    {
        "name": "hashed-inputs",
        "caller_x25519_private": sha("parley kat caller x25519").hex(),
        "callee_x25519_private": sha("parley kat callee x25519").hex(),
        "caller_mlkem_seed": (sha("parley kat mlkem d") + sha("parley kat mlkem z")).hex(),
        "callee_mlkem_random": sha("parley kat mlkem m").hex(),
        "sas_nonce": sha("parley kat sas nonce").hex(),
        "signed_offer": bytes(range(200)).hex(),
        "signed_answer": "",
    },
]


def hkdf_extract(salt: bytes, ikm: bytes) -> bytes:
    return hmac.new(salt, ikm, hashlib.sha256).digest()


def hkdf_expand(prk: bytes, info: bytes, n: int) -> bytes:
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:n]


def transcript(offer: bytes, answer: bytes) -> bytes:
    h = hashlib.sha256()
    for m in (offer, answer):
        h.update(len(m).to_bytes(8, "big"))
        h.update(m)
    return h.digest()


def vector(v: dict, ct_hex: str) -> dict:
    a = x25519.X25519PrivateKey.from_private_bytes(bytes.fromhex(v["caller_x25519_private"]))
    b = x25519.X25519PrivateKey.from_private_bytes(bytes.fromhex(v["callee_x25519_private"]))
    xs = a.exchange(b.public_key())
    assert xs == b.exchange(a.public_key())
    dk = mlkem.MLKEM768PrivateKey.from_seed_bytes(bytes.fromhex(v["caller_mlkem_seed"]))
    ct = bytes.fromhex(ct_hex)
    ks = dk.decapsulate(ct)
    t = transcript(bytes.fromhex(v["signed_offer"]), bytes.fromhex(v["signed_answer"]))
    prk = hkdf_extract(t, xs + ks)
    c2e = hkdf_expand(prk, b"parley call v1 caller->callee srtp", 28)
    e2c = hkdf_expand(prk, b"parley call v1 callee->caller srtp", 28)
    sas_key = hkdf_expand(prk, b"parley call v1 sas", 32)
    nonce = bytes.fromhex(v["sas_nonce"])
    mac = hmac.new(sas_key, nonce, hashlib.sha256).digest()
    n = int.from_bytes(mac[:8], "big") % 1_000_000
    return {
        "name": v["name"],
        "inputs": {k: v[k] for k in v if k != "name"},
        "expected": {
            "caller_x25519_public": a.public_key().public_bytes(RAW, RAW_PUB).hex(),
            "callee_x25519_public": b.public_key().public_bytes(RAW, RAW_PUB).hex(),
            "x25519_shared": xs.hex(),
            "mlkem_encap_key": dk.public_key().public_bytes(RAW, RAW_PUB).hex(),
            "mlkem_ciphertext": ct.hex(),
            "mlkem_shared": ks.hex(),
            "transcript": t.hex(),
            "prk": prk.hex(),
            "caller_to_callee_key": c2e[:16].hex(),
            "caller_to_callee_salt": c2e[16:].hex(),
            "callee_to_caller_key": e2c[:16].hex(),
            "callee_to_caller_salt": e2c[16:].hex(),
            "sas_key": sas_key.hex(),
            "sas_commit": hashlib.sha256(b"parley call v1 sas commit" + nonce).hexdigest(),
            "sas": "%03d %03d" % (n // 1000, n % 1000),
        },
    }


def main() -> None:
    cts = sys.argv[1:]
    if len(cts) != len(VECTORS):
        sys.exit("want one ciphertext per vector (%d)" % len(VECTORS))
    out = {
        "comment": "Parley call key schedule (docs/calls-protocol.md), made by gen_keyschedule.py",
        "vectors": [vector(v, ct) for v, ct in zip(VECTORS, cts)],
    }
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
