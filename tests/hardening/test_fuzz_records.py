"""Fuzzing the signed-record reader: store lines (DSSE envelopes and certificate bundles, mutated, truncated,
nested) go through the one verifying module; nothing raises, and nothing altered ever counts."""

from __future__ import annotations

import datetime
import functools
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from hypothesis import given
from hypothesis import strategies as st
from securesystemslib.signer import CryptoSigner

from hardening.fuzzing import EDITS, apply_edits, bounded
from weightgate.evidence.dsse import TrustedSigner, sign_statement
from weightgate.evidence.reviews import Decision, Review, review_statement
from weightgate.evidence.store import check_lines

pytestmark = pytest.mark.fuzz

KEY = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER = ec.derive_private_key(123456789, ec.SECP256R1())
SIGNERS = [TrustedSigner("appsec@example.com", key=KEY.public_key())]
TIME = datetime.datetime(2026, 10, 21, 9, 30, tzinfo=datetime.timezone.utc)


@functools.cache
def _seeds() -> list[bytes]:
    statement = review_statement("a", "ab" * 32, Review("security", Decision.APPROVED, "a@example.com", TIME,
                                                        "SEC-1", "why", ("production",)))
    good = sign_statement(statement, CryptoSigner(KEY))
    other = sign_statement(statement, CryptoSigner(OTHER))
    bundle = {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {"x509CertificateChain": {"certificates": [{"rawBytes": "MAA="}]}},
        "dsseEnvelope": good}
    return [json.dumps(x).encode() for x in (good, other, bundle, statement)]


SEEDS = st.integers(0, 3).map(lambda i: _seeds()[i])
LINES = st.one_of(
    st.tuples(SEEDS, EDITS).map(lambda pair: apply_edits(*pair)),
    st.binary(max_size=300),
    st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20)),
                 lambda inner: st.one_of(st.lists(inner, max_size=4),
                                         st.dictionaries(st.sampled_from(
                                             ["payload", "payloadType", "signatures", "sig", "keyid",
                                              "dsseEnvelope", "verificationMaterial", "mediaType", "tlogEntries",
                                              "publicKey", "x509CertificateChain", "certificates", "rawBytes"]),
                                             inner, max_size=5)), max_leaves=20).map(lambda v: json.dumps(v).encode()),
)


@given(lines=st.lists(LINES, min_size=1, max_size=4))
def test_store_lines_never_raise_and_altered_records_never_count(lines: list[bytes]) -> None:
    with bounded():
        checked = check_lines(list(enumerate(lines, 1)), SIGNERS, None)
    seeds = _seeds()
    for line, record in zip(lines, checked, strict=True):
        assert record.verified is None or line.strip() == seeds[0] or json.loads(line) == json.loads(seeds[0]), \
            "an altered record verified"
        assert record.verified is not None or record.reason
