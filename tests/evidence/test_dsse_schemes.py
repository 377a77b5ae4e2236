"""Every signature scheme a record may carry verifies with the key that made it, and with nothing else: Ed25519,
ECDSA on each supported curve with that curve's hash, RSA-PSS and RSA PKCS#1 v1.5 (both with SHA-256)."""

from __future__ import annotations

import threading

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, padding, rsa

from weightgate.evidence.dsse import _signature_verifies

DATA = b"DSSEv1 28 application/vnd.in-toto+json 2 {}"
CURVE_HASH = {ec.SECP256R1: hashes.SHA256, ec.SECP384R1: hashes.SHA384, ec.SECP521R1: hashes.SHA512}


def _ec(curve):
    def sign(key, data):
        return key.sign(data, ec.ECDSA(CURVE_HASH[curve]()))
    return (lambda: ec.generate_private_key(curve())), sign


def _rsa(scheme):
    def sign(key, data):
        return key.sign(data, scheme(), hashes.SHA256())
    return (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)), sign


SCHEMES = {
    "ed25519": (ed25519.Ed25519PrivateKey.generate, lambda key, data: key.sign(data)),
    "p256": _ec(ec.SECP256R1), "p384": _ec(ec.SECP384R1), "p521": _ec(ec.SECP521R1),
    # PSS with any salt length: securesystemslib signs with the digest's length, other signers with the longest.
    "rsa-pss-digest-salt": _rsa(lambda: padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                                    salt_length=padding.PSS.DIGEST_LENGTH)),
    "rsa-pss-max-salt": _rsa(lambda: padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                                 salt_length=padding.PSS.MAX_LENGTH)),
    "rsa-pkcs1v15": _rsa(padding.PKCS1v15),
}


@pytest.mark.parametrize("name", SCHEMES)
def test_a_signature_verifies_with_its_key_only_and_over_its_data_only(name):
    generate, sign = SCHEMES[name]
    key, other = generate(), generate()
    signature = sign(key, DATA)
    assert _signature_verifies(key.public_key(), signature, DATA)
    assert not _signature_verifies(key.public_key(), signature, DATA + b" ")
    assert not _signature_verifies(other.public_key(), signature, DATA)
    assert not _signature_verifies(key.public_key(), signature[:-1] + bytes([signature[-1] ^ 1]), DATA)


def test_a_curve_with_another_hash_or_a_key_of_another_kind_is_refused():
    key = ec.generate_private_key(ec.SECP384R1())
    assert not _signature_verifies(key.public_key(), key.sign(DATA, ec.ECDSA(hashes.SHA256())), DATA)
    dsa_key = dsa.generate_private_key(key_size=2048)
    assert not _signature_verifies(dsa_key.public_key(), dsa_key.sign(DATA, hashes.SHA256()), DATA)


def test_the_shared_schemes_verify_from_many_threads():
    """The schemes are built once and shared by the threads that verify a trail's records."""
    generate, sign = SCHEMES["p256"]
    key = generate()
    signature = sign(key, DATA)
    verdicts: list[bool] = []

    def check() -> None:
        verdicts.extend(_signature_verifies(key.public_key(), signature, DATA) for _ in range(50))

    threads = [threading.Thread(target=check) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert verdicts == [True] * 200
